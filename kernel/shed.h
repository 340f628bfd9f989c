/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * phloem shedding unit: metering and the shed/restore decision, in pure C.
 *
 * This one implementation is compiled into phloem.ko, into the host unit
 * tests, into a libFuzzer target and into the benchmark. It uses fixed-point
 * integer arithmetic only (no floating point), no allocation, no locking, no
 * clock of its own (every call is given the time) and no header beyond the
 * fixed-width types and the UAPI contract. The caller serialises all calls
 * on one struct phloem_shed.
 *
 * Data flow, per sample set (one raw reading of every channel):
 *   phloem_shed_sample() calibrates, accumulates cycle sums, tracks the phase-0
 *   voltage zero crossings, keeps a sliding half-cycle window of i^2 per
 *   current channel (instantaneous rule), and at each cycle end computes the
 *   cycle record, energy, the I2t breaker model (thermal rule), the site
 *   import rule and restores. Decisions change the desired relay bitmap and
 *   queue events; the caller then drives the GPIOs to phloem_shed_relays().
 *
 * The semantics (rules, relay choice, restore, backoff, lease, failsafe,
 * events) are documented in docs/shedding.md.
 */
#ifndef _PHLOEM_SHED_H
#define _PHLOEM_SHED_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdbool.h>
#include <stdint.h>
#endif

#include <linux/phloem.h>

#define PHLOEM_SHED_EVQ		64	/* pending events (power of two) */
#define PHLOEM_SHED_WIN_MAX	256	/* half-cycle window, in samples */

/*
 * Return codes of the validating calls (negated errno values, so the kernel
 * can return them as they are; defined here to stay free of errno.h).
 */
#define PHLOEM_SHED_EINVAL	(-22)

/**
 * phloem_shed_size() - bytes the caller must provide for the state
 *
 * The state struct is private to shed.c; callers allocate this many bytes,
 * aligned to 8 (kzalloc/calloc/aligned static storage).
 */
uint32_t phloem_shed_size(void);

struct phloem_shed;

/**
 * phloem_shed_check_config() - validate a configuration against a topology
 * @info: topology (from firmware)
 * @cfg: candidate configuration
 *
 * Pure check of every field range documented in uapi/linux/phloem.h,
 * including limits not above breaker ratings, relay circuits that exist,
 * reserved fields zero and unknown flag bits clear.
 *
 * Return: 0 or PHLOEM_SHED_EINVAL.
 */
int phloem_shed_check_config(const struct phloem_info *info,
			     const struct phloem_config *cfg);

/**
 * phloem_shed_init() - set up the state for a device
 * @s: phloem_shed_size() zeroed bytes
 * @info: topology; copied
 * @boot: boot-time configuration, already checked; copied, and kept as the
 *        fallback when a lease lapses
 * @now_ns: current time
 *
 * All relays start in automatic mode and on, except that the state starts in
 * failsafe (relays in safe state) until the first full cycle of good samples
 * has been seen: the unit never trusts measurements it has not made.
 */
void phloem_shed_init(struct phloem_shed *s, const struct phloem_info *info,
		      const struct phloem_config *boot, uint64_t now_ns);

/**
 * phloem_shed_set_config() - replace the configuration in force
 * @s: state
 * @cfg: new configuration; checked as phloem_shed_check_config(), copied
 * @now_ns: current time
 *
 * Return: 0, or PHLOEM_SHED_EINVAL (nothing changed). Energy counters,
 * relay states, backoff and the I2t state are kept. On success a
 * PHLOEM_EV_CONFIG event is queued; a shed relay made critical is restored
 * at once (PHLOEM_EV_RESTORE, cause MANUAL).
 */
int phloem_shed_set_config(struct phloem_shed *s,
			   const struct phloem_config *cfg, uint64_t now_ns);

/**
 * phloem_shed_get_config() - the configuration in force (limits included)
 * @s: state
 * @cfg: filled, every field
 */
void phloem_shed_get_config(const struct phloem_shed *s,
			    struct phloem_config *cfg);

/**
 * phloem_shed_lease() - renew (timeout_ms > 0) or release (0) the lease
 * @s: state
 * @timeout_ms: 100..600000: the lease lapses this long from @now_ns unless
 *              renewed; 0: release now (boot-time limits come back)
 * @now_ns: current time
 *
 * Return: 0 or PHLOEM_SHED_EINVAL for an out-of-range timeout.
 */
int phloem_shed_lease(struct phloem_shed *s, uint32_t timeout_ms,
		      uint64_t now_ns);

/**
 * phloem_shed_override() - manual relay override
 * @s: state
 * @relay: relay index, < nrelays
 * @mode: enum phloem_override_mode
 * @expiry_ms: 1..86400000: the override ends by itself this long from
 *             @now_ns (ignored for PHLOEM_OVERRIDE_AUTO)
 * @now_ns: current time
 *
 * Return: 0 or PHLOEM_SHED_EINVAL.
 */
int phloem_shed_override(struct phloem_shed *s, uint32_t relay, uint32_t mode,
			 uint32_t expiry_ms, uint64_t now_ns);

/**
 * phloem_shed_sample() - feed one sample set
 * @s: state
 * @raw: nchannels raw ADC readings, in struct phloem_info.chan order
 * @now_ns: time the set was taken (time of its first read)
 *
 * A reading outside 0 .. 2^bits - 1 cannot come from the ADC: it is
 * treated as a failed read of that channel (as phloem_shed_fault() with
 * PHLOEM_CAUSE_ADC) and the set is not used. A time earlier than one the
 * unit has already seen is taken as that latest time.
 *
 * Return: true when the desired relay bitmap changed (the caller should
 * drive the GPIOs now) or events were queued.
 */
bool phloem_shed_sample(struct phloem_shed *s, const int32_t *raw,
			uint64_t now_ns);

/**
 * phloem_shed_fault() - a channel read failed at @now_ns
 * @s: state
 * @channel: the channel index
 * @cause: PHLOEM_CAUSE_ADC or PHLOEM_CAUSE_STALE
 * @now_ns: time of the failed read
 *
 * Enters failsafe: every relay goes to its safe state. The unit leaves
 * failsafe by itself after a full mains cycle of good samples.
 * Return: as phloem_shed_sample().
 */
bool phloem_shed_fault(struct phloem_shed *s, uint32_t channel,
		       uint32_t cause, uint64_t now_ns);

/**
 * phloem_shed_tick() - advance timers without a sample
 * @s: state
 * @now_ns: current time
 *
 * Handles lease expiry, override expiry and stale samples (no good sample
 * for stale_ms). Called from a watchdog that runs even when the sampling
 * thread is stuck in a read, and may be called at any time.
 * Return: as phloem_shed_sample().
 */
bool phloem_shed_tick(struct phloem_shed *s, uint64_t now_ns);

/**
 * phloem_shed_signal() - the grid-operator input lines' levels
 * @s: state
 * @lines: bit n set while line n is active (its contact at its active
 *         level); bits at and above info.nsignals are ignored
 * @now_ns: time the lines were read
 *
 * Called with every sample set (or on an edge). A line that holds a new
 * level for signal_debounce_us counts: its action (an import cap, relays
 * shed) is in force from then on, or ends, and a PHLOEM_EV_SIGNAL is
 * queued; the shedding it demands happens within this call.
 * phloem_shed_tick() also ends a debounce. Unchanged lines cost two
 * compares.
 * Return: as phloem_shed_sample().
 */
bool phloem_shed_signal(struct phloem_shed *s, uint32_t lines,
			uint64_t now_ns);

/** phloem_shed_relays() - desired relay bitmap (bit n: relay n on) */
uint32_t phloem_shed_relays(const struct phloem_shed *s);

/**
 * phloem_shed_pop_event() - take the oldest queued event
 * @s: state
 * @ev: filled with the event body (latency_ns left 0: the caller measures it)
 * @time_ns: filled with the event time
 * Return: false when the queue is empty. When the queue overflows the
 * oldest events are dropped and counted in phloem_shed_events_lost().
 */
bool phloem_shed_pop_event(struct phloem_shed *s, struct phloem_rec_event *ev,
			   uint64_t *time_ns);

/** phloem_shed_events_lost() - events dropped from a full queue, ever */
uint64_t phloem_shed_events_lost(const struct phloem_shed *s);

/**
 * phloem_shed_pop_cycle() - take the cycle record closed by the last sample
 * @s: state
 * @c: filled with the record (state bits as of this call)
 * @time_ns: filled with the end of the cycle
 *
 * Return: false when no cycle closed since the last call.
 */
bool phloem_shed_pop_cycle(struct phloem_shed *s, struct phloem_rec_cycle *c,
			   uint64_t *time_ns);

/**
 * phloem_shed_status() - live state snapshot
 * @s: state
 * @st: filled, everything except @st->size
 * @now_ns: time of the snapshot (remaining times are counted from it)
 */
void phloem_shed_status(const struct phloem_shed *s, struct phloem_status *st,
			uint64_t now_ns);

/**
 * phloem_shed_counters() - counters kept by the unit
 * @s: state
 * @st: receives cycles, sheds, restores, failsafes and lease_expiries;
 *      the caller owns samples, adc_errors, overruns and the latency
 *      histogram, which are left alone
 */
void phloem_shed_counters(const struct phloem_shed *s,
			  struct phloem_stats *st);

/**
 * phloem_shed_trip_ms() - modelled breaker trip time
 * @curve: enum phloem_curve
 * @mult_milli: current as thousandths of the breaker rating (1500 = 1.5 In)
 *
 * The model used by the thermal and instantaneous rules, exposed for the
 * benchmark and the docs. Return: ms, or UINT32_MAX when it never trips.
 */
uint32_t phloem_shed_trip_ms(uint32_t curve, uint32_t mult_milli);

#endif /* _PHLOEM_SHED_H */
