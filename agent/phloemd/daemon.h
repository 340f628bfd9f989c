/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemd: state of the running daemon. Single-threaded (a Modbus bus has
 * its own thread, which touches nothing here: see modbus.c).
 *
 * Each subsystem is a module with open/close and its own fds (struct
 * pd_watch in the one epoll set). What they share about the site, they
 * share through @site (site.h): producers commit changes, consumers
 * subscribe, the loop dispatches. Commands (the control socket's overrides)
 * go to the policy's functions below.
 */
#ifndef PHLOEMD_DAEMON_H
#define PHLOEMD_DAEMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend.h"
#include "history.h"
#include "phloemd.h"
#include "site.h"

struct pd_control;
struct pd_meter;
struct pd_peers;
struct pd_devices;
struct pd_mbserver_state;
struct pd_mqtt;
struct pd_web;
struct json_object;

/** struct pd_watch - an fd in the epoll set; data.ptr points here */
struct pd_watch {
	int fd;
	void (*fn)(struct pd_watch *w, uint32_t events);
};

/**
 * struct pd_chan_acc - energy accounting of one current channel
 * @base_*: counters at the last poll (the backend's are monotonic since
 *          probe; a drop means a new probe and counting restarts from 0)
 * @acc_*: energy of the current minute not yet written to history
 */
struct pd_chan_acc {
	bool current;
	char name[PD_NAME_LEN];
	char circuit[PD_NAME_LEN];
	uint64_t base_imp, base_exp;
	uint64_t acc_imp, acc_exp;
	uint32_t peak_ma;
	uint32_t sheds;
};

/**
 * struct phloemd - the daemon
 * @cfg: configuration in force (replaced whole by a good reload)
 * @circ_map: config circuit -> device circuit index
 * @relay_map: config relay -> device relay index
 * @applied: policy targets last pushed, to push only changes
 * @applied_boot: the device reported its boot-time limits in force right
 *                after our last push: ours equal them, so that state at a
 *                poll is no sign of a lapsed lease
 * @held: config relays phloemd holds off for a [tou] shed= window
 * @manual: config relays with an operator override (policy leaves them)
 * @op_site_mw: operator's site limit (UINT32_MAX: none, policy decides)
 * @op_circuit_ma: operator's circuit limits (0: none)
 * @prio: relay priorities in force (config, or operator's)
 * @site: the site state (site.h); @site.kernel.info is @info
 */
struct phloemd {
	struct pd_config cfg;
	struct pd_backend be;
	struct phloem_info info;
	struct pd_history *hist;
	struct pd_control *ctl;
	int epfd;
	int64_t time_offset;
	int circ_map[PHLOEM_MAX_CIRCUITS];
	int relay_map[PHLOEM_MAX_RELAYS];
	struct pd_targets applied;
	bool applied_boot;
	bool dirty;
	uint32_t held;
	uint32_t manual;
	uint32_t op_site_mw;
	uint32_t op_circuit_ma[PHLOEM_MAX_CIRCUITS];
	uint32_t prio[PHLOEM_MAX_RELAYS];
	int64_t cur_minute;
	unsigned polls;
	struct pd_chan_acc ch[PHLOEM_MAX_CHANNELS];
	/* devices' AC energy of the minute (history rows "dev:NAME"):
	 * integrated from their power at each of their updates */
	struct {
		uint64_t last_ms;
		int64_t last_mw;
		bool known;
		uint64_t acc_out_uwh, acc_in_uwh;	/* µWh: + into the site, - */
	} dev_acc[PD_SITE_MAX_DEVICES];
	uint64_t events, errors;
	gid_t read_gid;
	bool quit;
	struct pd_peers *peers;		/* NULL: [peers] not configured */
	struct pd_meter *meter;		/* NULL: no [peers] ledger=, not metering */
	struct pd_devices *devices;	/* NULL: no [device] sections */
	struct pd_mbserver_state *mbserver; /* NULL: no [modbus_server] */
	struct pd_site site;
	struct pd_mqtt *mqtt;		/* mqtt/web hook: NULL when off */
	struct pd_web *web;
};

/* main.c: actions for control.c; return 0 or -errno with @err filled */
time_t pd_now(const struct phloemd *d);
int pd_relay_override(struct phloemd *d, int relay, uint32_t mode,
		      uint32_t for_ms, char *err, size_t errlen);
int pd_relay_priority(struct phloemd *d, int relay, uint32_t prio,
		      char *err, size_t errlen);
int pd_limits_override(struct phloemd *d, int circuit, uint32_t value,
		       char *err, size_t errlen);
int pd_limits_reset(struct phloemd *d, char *err, size_t errlen);
int pd_watch_add(struct phloemd *d, struct pd_watch *w, uint32_t events);
int pd_watch_mod(struct phloemd *d, struct pd_watch *w, uint32_t events);
void pd_watch_del(struct phloemd *d, struct pd_watch *w);

/* control.c */
int pd_control_open(struct phloemd *d, const char *path, char *err,
		    size_t errlen);
void pd_control_close(struct phloemd *d);
/** Free clients dropped during the last epoll batch (see control.c). */
void pd_control_reap(struct phloemd *d);
/**
 * pd_control_call() - one control request, as a socket client with read
 * rights (and write rights when @can_write) would send it; for mqtt.c and
 * web.c, so their reads and changes are the socket's. Caller owns the reply.
 */
struct json_object *pd_control_call(struct phloemd *d, struct json_object *req,
				    bool can_write);

/* main.c: one log line "phloemd: WHO: ..." on stderr (the journal); WHO may be NULL */
void pd_vlog(const char *who, const char *fmt, va_list ap);
/** pd_log() - pd_vlog() with the arguments inline */
void pd_log(const char *who, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** pd_realtime_ms() - wall-clock ms since 1970 (the ledger's and peers' time) */
uint64_t pd_realtime_ms(void);

/* peers.c: the peer protocol (docs/protocol.md) */
int pd_peers_open(struct phloemd *d, char *err, size_t errlen);
void pd_peers_close(struct phloemd *d);
struct json_object *pd_peers_json(struct phloemd *d);
struct json_object *pd_community_json(struct phloemd *d);
int pd_peers_invite(struct phloemd *d, const char *key, char *token, size_t cap,
		    char *err, size_t errlen);
int pd_peers_join(struct phloemd *d, const char *token, char *err, size_t errlen);
int pd_peers_remove(struct phloemd *d, const char *key, char *err, size_t errlen);
int pd_peers_settle(struct phloemd *d, uint64_t start, uint32_t len, char *err,
		    size_t errlen);
/**
 * pd_peers_may_append() - may our own chain take a new entry now?
 * False while its next position is promised to a settlement proposal that
 * its creditor may still sign (struct pd_owed in peers.c).
 */
bool pd_peers_may_append(struct phloemd *d);

#endif /* PHLOEMD_DAEMON_H */
