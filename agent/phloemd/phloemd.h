/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemd: the policy agent. Shared types of the daemon's files.
 *
 * One file per concern: main.c (event loop, signals, privileges), config.c
 * (INI parsing and validation), policy.c (time-of-use windows -> targets),
 * history.c (SQLite), control.c (UNIX socket), backend_*.c (kernel, sim).
 * Everything runs on one thread; nothing here is locked.
 */
#ifndef PHLOEMD_H
#define PHLOEMD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <linux/phloem.h>

#include "mqtt.h"	/* mqtt/web hook: their config sections */
#include "web.h"

#define PD_MAX_TOU	16
#define PD_MAX_STEPS	16
#define PD_MAX_DEVICES	8	/* = PD_SITE_MAX_DEVICES */
#define PD_MAX_COUPLE	4
#define PD_NAME_LEN	PHLOEM_NAME_LEN
#define PD_ERR_LEN	(PATH_MAX + 160)
#define PD_SOCK_LEN	108	/* sun_path */

#define PD_DEFAULT_CONF	"/etc/phloem/phloemd.conf"

/*
 * pd_zero() - memset(@p, 0, @n) that writes only the bytes not zero yet.
 * The daemon's state, struct phloemd, is 88 KiB of .bss, and its pages
 * are the kernel's shared zero page until written: a plain memset at
 * start would make every one of them private memory, where the
 * configuration and the site leave most of theirs (path buffers, device,
 * step and coupling tables) zero. Reading a zero page costs nothing.
 */
static inline void pd_zero(void *p, size_t n)
{
	unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			b[i] = 0;
}

enum pd_backend_kind {
	PD_BACKEND_KERNEL,
	PD_BACKEND_SIM,
};

/**
 * struct pd_circuit - a [circuit NAME] section
 * @name: circuit name; "site" is circuit 0 and must exist
 * @channel: io-channel name of its current transformer ("i0".."i7")
 * @breaker_ma: breaker rating In
 * @curve: enum phloem_curve
 * @limit_ma: operating limit (default: the rating)
 * @line: line of the section header, for messages about the section
 * @max_hold_s: longest a shed relay of the circuit is held (s, 0: the
 *              unit's default), UINT32_MAX when the file does not say
 */
struct pd_circuit {
	char name[PD_NAME_LEN];
	char channel[PD_NAME_LEN];
	uint32_t breaker_ma;
	uint32_t curve;
	uint32_t limit_ma;
	int line;
	uint32_t max_hold_s;
};

/**
 * struct pd_relay - a [relay NAME] section
 * @circuit: index into struct pd_config.circuit
 * @priority: 0 (shed first) .. 255 (shed last)
 * @critical: never shed by policy (PHLOEM_RELAY_F_CRITICAL)
 * @min_off_ms: minimum off time after a shed
 * @sim_load_ma: current the load draws when on (sim backend only)
 */
struct pd_relay {
	char name[PD_NAME_LEN];
	int circuit;
	uint32_t priority;
	bool critical;
	uint32_t min_off_ms;
	uint32_t sim_load_ma;
	int line;
};

/**
 * struct pd_tou - a [tou NAME] time-of-use window
 * @days: bit 0 Monday .. bit 6 Sunday, local time
 * @start_min: minute of the day the window opens
 * @end_min: minute of the day it closes (exclusive); below @start_min the
 *           window runs past midnight and belongs to the day it opened
 * @site_import_limit_mw: site import limit in the window, 0 when not set
 * @shed: relays held off during the window (bit n: relay n)
 * @discharge: batteries discharge to cover the site's import (expensive
 *             tariff), down to their reserve
 */
struct pd_tou {
	char name[32];
	uint8_t days;
	uint32_t start_min;
	uint32_t end_min;
	uint32_t site_import_limit_mw;
	uint32_t shed;
	bool discharge;
	int line;
};

/**
 * struct pd_device - a [device NAME] section: a Modbus/SunSpec device
 * @url: "tcp://HOST:PORT" or "rtu:/dev/PATH"
 * @baud: RTU speed; @parity 'N', 'E' or 'O'
 * @unit: Modbus unit (slave) id
 * @base: SunSpec base address, or -1 to look at 0, 40000 and 50000
 * @poll_ms: read period
 * @timeout_ms: one request's response timeout
 * @control: phloem may write its setpoints (battery power, PV limit)
 * @reserve_pct: battery: state of charge kept for outages (never discharged
 *               below), overriding the device's own MinRsvPct when higher
 * @rating_w: inverter: AC rating for curtailment, 0 from model 120 WRtg
 */
struct pd_device {
	char name[32];
	char url[128];
	uint32_t baud;
	char parity;
	uint32_t unit;
	int32_t base;
	uint32_t poll_ms;
	uint32_t timeout_ms;
	bool control;
	uint32_t reserve_pct;
	uint32_t rating_w;
	int line;
};

/**
 * struct pd_mbserver - [modbus_server]: phloem's meter served as SunSpec
 * @enabled: the section is present
 * @listen: address to bind ("0.0.0.0", "127.0.0.1", "::")
 * @port: TCP port
 * @unit: unit id answered (0 and 255 are always answered)
 * @model: 201 (single phase) or 203
 * @base: register address of the SunS marker
 * @writable: allow writes (to the common model's DA only); default refuse
 * @max_clients: connections at once; more are closed at accept
 */
struct pd_mbserver {
	bool enabled;
	char listen[64];
	uint32_t port;
	uint32_t unit;
	uint32_t model;
	uint32_t base;
	bool writable;
	uint32_t max_clients;
};

/**
 * struct pd_sim_step - at @at_ms after start, circuit @circuit draws @ma
 * @ma: signed like real power: negative is a current in antiphase with the
 *      voltage (the circuit exports, as a PV inverter does)
 */
struct pd_sim_step {
	uint32_t at_ms;
	int circuit;
	int32_t ma;
};

/** struct pd_freq_stage - one [freq_stage NAME] section */
struct pd_freq_stage {
	char name[PD_NAME_LEN];
	int line;
	bool seen_below, seen_prio;
	struct phloem_freq_stage st;
};

/**
 * struct pd_config - the whole configuration, as parsed and validated
 *
 * Plain data with no pointers: a reload parses into a fresh copy and only
 * replaces the running one when the new file is valid as a whole.
 */
struct pd_config {
	char path[PATH_MAX];
	uint32_t site_import_limit_mw;
	uint32_t peak_target_mw;	/* 0: no peak shaving */
	uint32_t export_limit_mw;	/* 0: none; PV curtailed to keep it */
	int ncircuits;
	struct pd_circuit circuit[PHLOEM_MAX_CIRCUITS];
	int nrelays;
	struct pd_relay relay[PHLOEM_MAX_RELAYS];
	int ntou;
	struct pd_tou tou[PD_MAX_TOU];
	/*
	 * [grid_signal K1..K4]: the grid-operator lines' actions, pushed to
	 * the device (docs/phloemd.md); sig_set bit n: [grid_signal K(n+1)]
	 * is in the file. sig_shed holds config relay indexes.
	 */
	uint32_t sig_set;
	uint32_t sig_cap_mw[PHLOEM_MAX_SIGNALS];
	uint32_t sig_shed[PHLOEM_MAX_SIGNALS];
	uint32_t sig_debounce_us;	/* UINT32_MAX: leave the device's */
	/*
	 * [site] phase_limit_a, phase_imbalance_a, phase_imbalance_va,
	 * phase_grace_s: the kernel's phase rules (docs/phloemd.md), pushed
	 * with the relay policies; UINT32_MAX leaves the device's value.
	 * ph_limit_all: phase_limit_a gave one value, for every phase the
	 * site measures.
	 */
	uint32_t ph_limit_ma[PHLOEM_MAX_PHASES];
	bool ph_limit_all;
	uint32_t ph_imb_ma, ph_imb_mva, ph_grace_ms;
	/*
	 * [site] volt_nominal_v, outage_*, return_*, volt_band_pct,
	 * volt_delay_ms, volt_shed_*: the kernel's mains rules
	 * (docs/phloemd.md), in struct phloem_config's units, pushed with the
	 * relay policies; UINT32_MAX leaves the device's value. mn_keep:
	 * outage_keep's relays (config relay indexes), when mn_keep_set.
	 */
	uint32_t mn_nominal_mv, mn_outage_pct, mn_outage_cycles;
	uint32_t mn_return_ms, mn_stagger_ms, mn_band_pct, mn_delay_ms;
	uint32_t mn_uv_pct, mn_uv_ms;
	uint32_t mn_keep;
	bool mn_keep_set;
	char db[PATH_MAX];
	uint32_t retention_days;
	enum pd_backend_kind backend;
	char socket[PD_SOCK_LEN];
	uint32_t lease_s;
	uint32_t sample_ms;	/* kernel measurement into the site state */
	char user[32];		/* empty: do not drop privileges */
	char group[32];		/* group allowed to read over the socket */
	uint32_t device;	/* PHLOEM_A_DEV_INDEX */
	/* [sim] */
	uint32_t sim_vrms_mv;
	uint32_t sim_mains_hz;
	uint32_t sim_rate_hz;
	uint32_t sim_restore_delay_ms;
	int32_t sim_base_ma[PHLOEM_MAX_CIRCUITS];	/* < 0: exports */
	int nsteps;
	struct pd_sim_step step[PD_MAX_STEPS];
	/* [sim] device_power = CIRCUIT FILE: a device simulator's AC power */
	int ncouple;
	int couple_circuit[PD_MAX_COUPLE];
	char couple_file[PD_MAX_COUPLE][PATH_MAX];
	int ndevices;
	struct pd_device dev[PD_MAX_DEVICES];
	struct pd_mbserver mbserver;
	/* [peers]: empty community disables the peer protocol */
	char peer_community[64];
	char peer_interfaces[256];
	char peer_static[1024];
	char peer_identity[PATH_MAX];
	char peer_state[PATH_MAX];
	char peer_ledger[PATH_MAX];	/* empty: no ledger anti-entropy */
	uint32_t peer_port;
	uint32_t peer_announce_ms;
	uint32_t peer_settle_interval_s;
	struct pd_mqtt_conf mqtt;	/* mqtt/web hook: [mqtt], [web] */
	struct pd_web_conf web;
	/*
	 * [freq] and [freq_stage NAME]: the kernel's frequency rule (over-
	 * frequency report, under-frequency stages; docs/phloemd.md). Stage k
	 * of the kernel is the k-th [freq_stage] of the file.
	 */
	uint32_t over_freq_mhz, over_freq_ms;
	int nfreq;
	struct pd_freq_stage freq[PHLOEM_FREQ_STAGES];
};

/* config.c */
void pd_config_defaults(struct pd_config *c);
/**
 * pd_config_load() - parse and validate @path into @c
 * @err: on failure "file:line: reason" (line omitted when the file could not
 *       be opened)
 * Return: 0, or -1 with @c in an unspecified state (use a scratch copy).
 */
int pd_config_load(struct pd_config *c, const char *path, char *err,
		   size_t errlen);
int pd_config_relay_index(const struct pd_config *c, const char *name);
int pd_config_circuit_index(const struct pd_config *c, const char *name);

/* policy.c */
/**
 * struct pd_targets - what the policy wants in force at one time
 * @site_import_limit_mw: 0 disables the site rule
 * @circuit_ma: per config circuit
 * @shed: relays held off (bit n: config relay n)
 * @active: windows open (bit n: config tou n)
 */
struct pd_targets {
	uint32_t site_import_limit_mw;
	uint32_t circuit_ma[PHLOEM_MAX_CIRCUITS];
	uint32_t shed;
	uint32_t active;
};
void pd_policy_eval(const struct pd_config *c, time_t now,
		    struct pd_targets *t);
/** Seconds until the window containing @now for relay shedding ends. */
uint32_t pd_policy_shed_left_s(const struct pd_config *c, time_t now,
			       uint32_t relay_bit);
int pd_parse_days(const char *s, uint8_t *days);
const char *pd_days_str(uint8_t days, char *buf, size_t len);

#endif /* PHLOEMD_H */
