/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemd backends: where limits go and events come from.
 *
 * "kernel" talks to phloem.ko through the generic netlink family (libphloem
 * nl); "sim" runs the same shedding unit in-process on a waveform model
 * (libphloem sim). Both speak in the UAPI structures, so the rest of the
 * daemon does not know which one it has.
 *
 * Every call returns 0 or a negative errno. Calls never block for long: the
 * kernel backend's requests are netlink round trips to a local module.
 */
#ifndef PHLOEMD_BACKEND_H
#define PHLOEMD_BACKEND_H

#include <stdint.h>

#include <linux/phloem.h>

#include "lib/nl/phloem_nl.h"
#include "phloemd.h"

struct pd_backend;

/** struct pd_relay_policy - one relay's policy in a whole-policy push */
struct pd_relay_policy {
	uint32_t relay, priority, flags, min_off_ms;
};

/** Called for every event the backend reports; @time_ns is CLOCK_MONOTONIC. */
typedef void (*pd_event_fn)(void *ctx, const struct phloem_rec_event *ev,
			    uint64_t time_ns);

/**
 * struct pd_backend_ops - one backend
 * @open: connect, using @cfg for what the backend needs (sim: topology and
 *        waveform; kernel: the device index)
 * @fd: file descriptor the event loop polls for input (events, sim ticks)
 * @dispatch: @fd is readable: consume it and report events
 * @info: topology
 * @status: live state
 * @limits: replace the site import limit (mW, 0 disables) and the circuit
 *          limits (mA, index as in @info) as one unit
 * @policy: @limits, the circuits' max holds (as @max_hold, may be NULL)
 *          and @n relay policies as one configuration change (one CONFIG
 *          event, none when nothing differs; all or nothing)
 * @relay_policy: priority/critical/min-off of one relay
 * @override: manual override of one relay (enum phloem_override_mode)
 * @freq: the frequency rule: over-frequency report (@over_mhz 0: off) and
 *        all PHLOEM_FREQ_STAGES stages (threshold 0: off), as one
 *        configuration change; NULL when the backend has none
 * @lease: renew (ms > 0) or release (0) the agent lease
 * @peak: largest RMS seen on a channel since the last call, 0 when the
 *        backend cannot tell (the daemon then uses its own polls)
 * @stats: counters
 * @close: release everything
 * @max_hold: set the circuits' max holds (s, index as in @info; UINT32_MAX
 *            leaves a circuit's in force; 0 is the unit's default), all or
 *            nothing
 * @max_holds: the max holds in force (s, 0: the default) into @max_hold_s
 */
struct pd_backend_ops {
	const char *name;
	int (*open)(struct pd_backend *b, const struct pd_config *cfg);
	int (*fd)(struct pd_backend *b);
	int (*dispatch)(struct pd_backend *b);
	int (*info)(struct pd_backend *b, struct phloem_info *info);
	int (*status)(struct pd_backend *b, struct phloem_status *st);
	int (*limits)(struct pd_backend *b, uint32_t site_mw,
		      const uint32_t *circuit_ma);
	int (*policy)(struct pd_backend *b, uint32_t site_mw,
		      const uint32_t *circuit_ma, const uint32_t *max_hold_s,
		      const struct pd_relay_policy *rp, uint32_t n);
	int (*relay_policy)(struct pd_backend *b, uint32_t relay,
			    uint32_t priority, uint32_t flags,
			    uint32_t min_off_ms);
	int (*override)(struct pd_backend *b, uint32_t relay, uint32_t mode,
			uint32_t expiry_ms);
	int (*freq)(struct pd_backend *b, uint32_t over_mhz, uint32_t over_ms,
		    const struct phloem_freq_stage *stages);
	int (*lease)(struct pd_backend *b, uint32_t timeout_ms);
	/*
	 * The grid-operator lines' actions (optional): @debounce_us or
	 * UINT32_MAX, and per line an import cap and a relay mask in device
	 * relay indexes, UINT32_MAX where the file says nothing.
	 */
	int (*signals)(struct pd_backend *b, uint32_t debounce_us,
		       const uint32_t *cap_mw, const uint32_t *shed, uint32_t n);
	/*
	 * The phase rules (optional): per phase a limit (mA, 0 off), the
	 * imbalance limits (mA, mVA) and the grace (ms); UINT32_MAX leaves
	 * one as it is. One configuration change, all or nothing.
	 */
	int (*phase)(struct pd_backend *b, const uint32_t *limit_ma,
		     uint32_t imb_ma, uint32_t imb_mva, uint32_t grace_ms);
	/*
	 * The mains rules (optional): struct phloem_config's fields
	 * nominal_mv .. uv_shed_ms, each UINT32_MAX to leave it as it is
	 * (outage_relays in device relay indexes). All or nothing.
	 */
	int (*mains)(struct pd_backend *b, const struct phloem_nl_mains_cfg *m);
	uint32_t (*peak)(struct pd_backend *b, uint32_t chan);
	int (*stats)(struct pd_backend *b, struct phloem_stats *st);
	void (*close)(struct pd_backend *b);
	int (*max_hold)(struct pd_backend *b, const uint32_t *max_hold_s);
	int (*max_holds)(struct pd_backend *b, uint32_t *max_hold_s);
};

/** struct pd_backend - an open backend; @priv belongs to the backend */
struct pd_backend {
	const struct pd_backend_ops *ops;
	pd_event_fn on_event;
	void *ctx;
	void *priv;
};

extern const struct pd_backend_ops pd_backend_kernel;
extern const struct pd_backend_ops pd_backend_sim;

#endif /* PHLOEMD_BACKEND_H */
