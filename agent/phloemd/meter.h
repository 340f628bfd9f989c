/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemd: the gateway meters its own site into its ledger chain.
 *
 * At the end of every settlement interval (aligned: start = k *
 * settle_interval_s Unix seconds) phloemd appends one metered-interval entry
 * (LEDGER_T_METER) with what the site imported and exported during it, taken
 * from the device's monotonic energy counters of the site current channel.
 * Settlement (docs/settlement.md) reads exactly those entries.
 *
 * meter_acc.c is the arithmetic (boundaries, the sub-Wh remainder, a start
 * in the middle of an interval, counters that go backwards), pure and
 * tested on the host (tests/agent/meter_test.c); meter.c puts it in the
 * event loop: a CLOCK_REALTIME timer at each boundary, the backend's
 * counters, and the ledger that peers.c owns.
 */
#ifndef PHLOEMD_METER_H
#define PHLOEMD_METER_H

#include <stdbool.h>
#include <stdint.h>

struct phloemd;
struct ledger;
struct ledger_identity;
struct json_object;

/**
 * struct pd_meter_acc - energy of the interval being metered
 * @len: interval length, seconds (> 0)
 * @started: a first reading was taken (@start and the bases are valid)
 * @partial: the open interval is metered from later than its start (a start
 *           or restart of phloemd, or counters that went backwards): it
 *           will be under-reported, never made up
 * @start: aligned start of the open interval, Unix seconds
 * @base_imp: import counter at the last reading, mWh
 * @base_exp: export counter at the last reading, mWh
 * @acc_imp: import of the open interval so far, mWh, including the sub-Wh
 *           remainder carried from the interval before
 * @acc_exp: the same for export
 * @clean_known: the site's PV production was known during the open
 *               interval (a device read it): its entry carries wh_clean
 * @acc_clean: export covered by PV production in the open interval, mW*ms
 *
 * Plain data, no clock and no I/O: every function below is given the time
 * and the counters, so the tests drive it with any sequence.
 */
struct pd_meter_acc {
	uint32_t len;
	bool started;
	bool partial;
	uint64_t start;
	uint64_t base_imp, base_exp;
	uint64_t acc_imp, acc_exp;
	bool clean_known;
	uint64_t acc_clean;
};

/**
 * struct pd_meter_interval - a closed interval, what its ledger entry says
 * @start: aligned start, Unix seconds
 * @len: seconds
 * @wh_import: floor of the interval's imported mWh / 1000 (the remainder
 *             stays in the accumulator for the next interval)
 * @wh_export: the same for export
 * @partial: metered from later than @start (see struct pd_meter_acc)
 * @clean_known: @wh_clean is measured (the 40-byte entry, docs/ledger.md)
 * @wh_clean: of @wh_export, the Wh the site's own PV covered: the
 *            integral of min(export, PV production) over the interval's
 *            samples, floored, at most @wh_export
 */
struct pd_meter_interval {
	uint64_t start;
	uint32_t len;
	uint64_t wh_import, wh_export;
	bool partial;
	bool clean_known;
	uint64_t wh_clean;
};

/* pd_meter_feed() result bits */
#define PD_METER_CLOSED		0x1	/* *out holds an interval that ended */
#define PD_METER_BACKWARDS	0x2	/* a counter went back: new baseline */

/** pd_meter_init() - nothing read yet; -1 when @len is 0. */
int pd_meter_init(struct pd_meter_acc *a, uint32_t len);

/**
 * pd_meter_feed() - one reading of the counters at @now_ms (Unix ms)
 *
 * The energy since the previous reading belongs to the interval that was
 * open then: readings are taken at (just after) each boundary, so a reading
 * late by a few ms moves those few ms of energy across the boundary and
 * nothing is lost. When the reading finds a later interval open, the open
 * one is closed into @out; a reading late by more than a whole interval
 * (phloemd stopped, a forward clock step) closes only the interval that
 * was open, with all the energy of the gap, and the intervals in between
 * get no entry. A clock that went back closes nothing until it passes the
 * open interval's end again. The first reading sets the baseline and opens
 * the interval containing @now_ms, partial unless @now_ms is its start.
 *
 * Return: PD_METER_* bits.
 */
unsigned int pd_meter_feed(struct pd_meter_acc *a, uint64_t now_ms,
			   uint64_t imp_mwh, uint64_t exp_mwh,
			   struct pd_meter_interval *out);

/**
 * pd_meter_clean() - one kernel sample's share of clean export
 * @dt_ms: time the sample stands for (since the previous one)
 * @site_p_mw: the kernel's site power (+ import, - export)
 * @pv_mw: the site's PV production now (pd_site_pv_mw()), when @pv_known
 *
 * Export is clean up to the PV production measured at the same moment;
 * battery discharge is not counted clean (the battery may have been
 * charged from the grid: phloem does not track where its energy came
 * from). Without a known PV value the sample adds nothing and does not
 * make the interval's clean part known.
 */
void pd_meter_clean(struct pd_meter_acc *a, uint64_t dt_ms, int64_t site_p_mw,
		    int64_t pv_mw, bool pv_known);

/** pd_meter_next_boundary() - end of the interval containing @now_s. */
uint64_t pd_meter_next_boundary(uint32_t len, uint64_t now_s);

/* ---- meter.c: in the daemon ---- */

/**
 * pd_meter_open() - start metering into the ledger, when [peers] ledger= is
 * set (a no-op returning 0 otherwise). Call after pd_peers_open().
 */
int pd_meter_open(struct phloemd *d);
void pd_meter_close(struct phloemd *d);
/** pd_meter_json() - "meter" object for `status` (NULL when not metering). */
struct json_object *pd_meter_json(struct phloemd *d);

/* peers.c: what the meter needs from the peer protocol */
/* pd_peers_may_append(): daemon.h */
/** pd_peers_ledger() - the ledger peers.c opened ([peers] ledger=), or NULL */
struct ledger *pd_peers_ledger(struct phloemd *d);
/** pd_peers_identity() - this gateway's key (its chain id), or NULL */
const struct ledger_identity *pd_peers_identity(struct phloemd *d);

#endif /* PHLOEMD_METER_H */
