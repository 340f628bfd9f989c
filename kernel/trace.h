/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloem tracepoints: where every microsecond of a shed goes.
 *
 * System "phloem" (tracefs events/phloem/, perf phloem:*, BPF raw_tp). Every
 * tracepoint is a static key, so a disabled one costs a patched-out jump;
 * the extra clock reads that only a tracer needs (per channel, around the
 * decision, around each GPIO write) are taken under trace_*_enabled(), so
 * they cost nothing either when nobody listens.
 *
 * The prototypes carry scalars and the UAPI event record only, never a
 * pointer to driver state: a BPF program attached as raw_tp reads them
 * without BTF of the module (agent/trace/, docs/trace.md).
 *
 * The decision unit (shed.c) is pure and has no tracepoint of its own: the
 * glue fires them around its calls and from the events it emits.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM phloem

#if !defined(_PHLOEM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _PHLOEM_TRACE_H

#include <linux/tracepoint.h>
#include <linux/phloem.h>

#define phloem_show_kind(k)						\
	__print_symbolic(k,						\
		{ PHLOEM_EV_OVERLOAD,		"overload" },		\
		{ PHLOEM_EV_SHED,		"shed" },		\
		{ PHLOEM_EV_RESTORE,		"restore" },		\
		{ PHLOEM_EV_FAILSAFE_ENTER,	"failsafe_enter" },	\
		{ PHLOEM_EV_FAILSAFE_LEAVE,	"failsafe_leave" },	\
		{ PHLOEM_EV_LEASE_EXPIRED,	"lease_expired" },	\
		{ PHLOEM_EV_ADC_FAULT,		"adc_fault" },		\
		{ PHLOEM_EV_OVERRIDE,		"override" },		\
		{ PHLOEM_EV_CONFIG,		"config" },		\
		{ PHLOEM_EV_HOLD,		"hold" },		\
		{ PHLOEM_EV_FREQ,		"freq" },		\
		{ PHLOEM_EV_SIGNAL,		"signal" },		\
		{ PHLOEM_EV_MAINS,		"mains" },		\
		{ PHLOEM_EV_VOLTAGE,		"voltage" })

#define phloem_show_cause(c)						\
	__print_symbolic(c,						\
		{ PHLOEM_CAUSE_NONE,		"none" },		\
		{ PHLOEM_CAUSE_INSTANT,		"instant" },		\
		{ PHLOEM_CAUSE_THERMAL,		"thermal" },		\
		{ PHLOEM_CAUSE_SITE_IMPORT,	"site_import" },	\
		{ PHLOEM_CAUSE_MANUAL,		"manual" },		\
		{ PHLOEM_CAUSE_LEASE,		"lease" },		\
		{ PHLOEM_CAUSE_ADC,		"adc" },		\
		{ PHLOEM_CAUSE_STALE,		"stale" },		\
		{ PHLOEM_CAUSE_UNLOAD,		"unload" },		\
		{ PHLOEM_CAUSE_HEADROOM,	"headroom" },		\
		{ PHLOEM_CAUSE_HOLD,		"hold" },		\
		{ PHLOEM_CAUSE_UNDER_FREQ,	"under_freq" },		\
		{ PHLOEM_CAUSE_OVER_FREQ,	"over_freq" },		\
		{ PHLOEM_CAUSE_FREQ_OK,		"freq_ok" },		\
		{ PHLOEM_CAUSE_GRID_SIGNAL,	"grid_signal" },	\
		{ PHLOEM_CAUSE_PHASE,		"phase" },		\
		{ PHLOEM_CAUSE_IMBALANCE,	"imbalance" },		\
		{ PHLOEM_CAUSE_IMBALANCE_VA,	"imbalance_va" },	\
		{ PHLOEM_CAUSE_OUTAGE,		"outage" },		\
		{ PHLOEM_CAUSE_MAINS_BACK,	"mains_back" },		\
		{ PHLOEM_CAUSE_UNDER_VOLTAGE,	"under_voltage" },	\
		{ PHLOEM_CAUSE_OVER_VOLTAGE,	"over_voltage" },	\
		{ PHLOEM_CAUSE_VOLTAGE_OK,	"voltage_ok" })

/*
 * phloem_sample - a sample set was taken (all channels read)
 * @dev: N of phloemN
 * @expires_ns: the period boundary the thread slept until (CLOCK_MONOTONIC)
 * @t0_ns: when it started reading (the set's time, the trigger time of any
 *         event it causes); t0 - expires is the timer wake-up lateness
 * @done_ns: when the last read returned
 * @failed: bitmap of the channels whose read failed (the set is not used)
 */
TRACE_EVENT(phloem_sample,
	TP_PROTO(int dev, u64 expires_ns, u64 t0_ns, u64 done_ns, u32 failed),
	TP_ARGS(dev, expires_ns, t0_ns, done_ns, failed),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(u32, failed)
		__field(u64, expires_ns)
		__field(u64, t0_ns)
		__field(u64, done_ns)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->failed = failed;
		__entry->expires_ns = expires_ns;
		__entry->t0_ns = t0_ns;
		__entry->done_ns = done_ns;
	),
	TP_printk("dev=%d t0=%llu late_ns=%lld read_ns=%llu failed=0x%x",
		  __entry->dev, __entry->t0_ns,
		  (s64)(__entry->t0_ns - __entry->expires_ns),
		  __entry->done_ns - __entry->t0_ns, __entry->failed)
);

/*
 * phloem_adc_read - one channel read (iio_read_channel_raw)
 * @ret: 0 or the negative errno of the read; @val is 0 when it failed
 */
TRACE_EVENT(phloem_adc_read,
	TP_PROTO(int dev, u32 channel, int val, int ret, u64 start_ns,
		 u64 dur_ns),
	TP_ARGS(dev, channel, val, ret, start_ns, dur_ns),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(u32, channel)
		__field(int, val)
		__field(int, ret)
		__field(u64, start_ns)
		__field(u64, dur_ns)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->channel = channel;
		__entry->val = val;
		__entry->ret = ret;
		__entry->start_ns = start_ns;
		__entry->dur_ns = dur_ns;
	),
	TP_printk("dev=%d channel=%u val=%d ret=%d dur_ns=%llu",
		  __entry->dev, __entry->channel, __entry->val, __entry->ret,
		  __entry->dur_ns)
);

/*
 * phloem_decide - the unit took a sample set (phloem_shed_sample())
 * @t0_ns: the set's time (as phloem_sample)
 * @start_ns, @dur_ns: from the last read's return (its stamp, so a round
 *           reads the clock once less) to the decision's end: the unit's
 *           lock taken, the grid-operator lines passed to it (when the
 *           HAT has them), phloem_shed_sample()
 * @changed: relays to drive or events queued: phloem_relays_apply() follows
 */
TRACE_EVENT(phloem_decide,
	TP_PROTO(int dev, u64 t0_ns, u64 start_ns, u64 dur_ns, bool changed),
	TP_ARGS(dev, t0_ns, start_ns, dur_ns, changed),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(bool, changed)
		__field(u64, t0_ns)
		__field(u64, start_ns)
		__field(u64, dur_ns)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->changed = changed;
		__entry->t0_ns = t0_ns;
		__entry->start_ns = start_ns;
		__entry->dur_ns = dur_ns;
	),
	TP_printk("dev=%d t0=%llu dur_ns=%llu changed=%d", __entry->dev,
		  __entry->t0_ns, __entry->dur_ns, __entry->changed)
);

/*
 * phloem_round - one round of the sampling thread, in one event: what the
 * per-set histograms need, so a tracer attaches one program per sample set
 * instead of one per channel read plus the set and the decision (each is
 * still there on its own for ftrace users)
 * @period_ns: the sampling period in force (the next boundary is
 *             @expires_ns + @period_ns unless this round overruns it)
 * @expires_ns, @t0_ns, @failed: as phloem_sample
 * @done_ns: when the last read returned
 * @nchannels: entries of @read_ns used
 * @read_ns: each channel's read time, from consecutive clock reads (the
 *           first from @t0_ns): a read's time includes the loop's few
 *           instructions around it, not a failed read's error report
 * @read_log2: the same times as log2 buckets, floor(log2(ns)) (0 for 0) in
 *           byte i for channel i: what a histogram adds to, found by one
 *           fls() here, where a BPF program has no bit scan and would copy
 *           @read_ns in and search each (not recorded: @read_ns says it)
 * @decide_start_ns, @decide_ns: as phloem_decide (@decide_start_ns is
 *           @done_ns); 0 when a failed read kept the set from the unit
 * @changed: as phloem_decide
 */
TRACE_EVENT(phloem_round,
	TP_PROTO(int dev, u64 period_ns, u64 expires_ns, u64 t0_ns,
		 u64 done_ns, u32 failed, u32 nchannels, const u32 *read_ns,
		 u64 read_log2, u64 decide_start_ns, u64 decide_ns,
		 bool changed),
	TP_ARGS(dev, period_ns, expires_ns, t0_ns, done_ns, failed, nchannels,
		read_ns, read_log2, decide_start_ns, decide_ns, changed),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(u32, failed)
		__field(u32, nchannels)
		__field(bool, changed)
		__field(u64, period_ns)
		__field(u64, expires_ns)
		__field(u64, t0_ns)
		__field(u64, done_ns)
		__field(u64, decide_start_ns)
		__field(u64, decide_ns)
		__array(u32, read_ns, PHLOEM_MAX_CHANNELS)
	),
	TP_fast_assign(
		u32 n = min_t(u32, nchannels, PHLOEM_MAX_CHANNELS);

		__entry->dev = dev;
		__entry->failed = failed;
		__entry->nchannels = n;
		__entry->changed = changed;
		__entry->period_ns = period_ns;
		__entry->expires_ns = expires_ns;
		__entry->t0_ns = t0_ns;
		__entry->done_ns = done_ns;
		__entry->decide_start_ns = decide_start_ns;
		__entry->decide_ns = decide_ns;
		memset(__entry->read_ns, 0, sizeof(__entry->read_ns));
		memcpy(__entry->read_ns, read_ns, n * sizeof(u32));
	),
	TP_printk("dev=%d t0=%llu late_ns=%lld read_ns=%s decide_ns=%llu failed=0x%x changed=%d",
		  __entry->dev, __entry->t0_ns,
		  (s64)(__entry->t0_ns - __entry->expires_ns),
		  __print_array(__entry->read_ns, __entry->nchannels,
				sizeof(u32)),
		  __entry->decide_ns, __entry->failed, __entry->changed)
);

/*
 * phloem_relay_write - one relay GPIO driven (gpiod_set_value_cansleep)
 */
TRACE_EVENT(phloem_relay_write,
	TP_PROTO(int dev, u32 relay, bool on, u64 start_ns, u64 dur_ns),
	TP_ARGS(dev, relay, on, start_ns, dur_ns),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(u32, relay)
		__field(bool, on)
		__field(u64, start_ns)
		__field(u64, dur_ns)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->relay = relay;
		__entry->on = on;
		__entry->start_ns = start_ns;
		__entry->dur_ns = dur_ns;
	),
	TP_printk("dev=%d relay=%u on=%d dur_ns=%llu", __entry->dev,
		  __entry->relay, __entry->on, __entry->dur_ns)
);

/*
 * Every event the unit emitted, as published, after the GPIO writes that
 * carry it out (so a shed's latency_ns is filled: the very value the
 * driver's latency histogram counts). phloem_failsafe and
 * phloem_lease_expired are the same record, filtered by kind at the
 * tracepoint, for tracers that want only those.
 */
DECLARE_EVENT_CLASS(phloem_event_class,
	TP_PROTO(int dev, const struct phloem_rec_event *ev, u64 time_ns),
	TP_ARGS(dev, ev, time_ns),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(u16, kind)
		__field(u16, cause)
		__field(u8, relay)
		__field(u8, circuit)
		__field(u8, channel)
		__field(u8, backoff)
		__field(u32, value)
		__field(u32, limit)
		__field(u64, time_ns)
		__field(u64, trigger_ns)
		__field(u64, latency_ns)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->kind = ev->kind;
		__entry->cause = ev->cause;
		__entry->relay = ev->relay;
		__entry->circuit = ev->circuit;
		__entry->channel = ev->channel;
		__entry->backoff = ev->backoff;
		__entry->value = ev->value;
		__entry->limit = ev->limit;
		__entry->time_ns = time_ns;
		__entry->trigger_ns = ev->trigger_ns;
		__entry->latency_ns = ev->latency_ns;
	),
	TP_printk("dev=%d %s rule=%s relay=%u circuit=%u channel=%u value=%u limit=%u backoff=%u trigger=%llu latency_ns=%llu",
		  __entry->dev, phloem_show_kind(__entry->kind),
		  phloem_show_cause(__entry->cause), __entry->relay,
		  __entry->circuit, __entry->channel, __entry->value,
		  __entry->limit, __entry->backoff, __entry->trigger_ns,
		  __entry->latency_ns)
);

DEFINE_EVENT(phloem_event_class, phloem_event,
	TP_PROTO(int dev, const struct phloem_rec_event *ev, u64 time_ns),
	TP_ARGS(dev, ev, time_ns));

DEFINE_EVENT_CONDITION(phloem_event_class, phloem_failsafe,
	TP_PROTO(int dev, const struct phloem_rec_event *ev, u64 time_ns),
	TP_ARGS(dev, ev, time_ns),
	TP_CONDITION(ev->kind == PHLOEM_EV_FAILSAFE_ENTER ||
		     ev->kind == PHLOEM_EV_FAILSAFE_LEAVE));

DEFINE_EVENT_CONDITION(phloem_event_class, phloem_lease_expired,
	TP_PROTO(int dev, const struct phloem_rec_event *ev, u64 time_ns),
	TP_ARGS(dev, ev, time_ns),
	TP_CONDITION(ev->kind == PHLOEM_EV_LEASE_EXPIRED));

/*
 * phloem_lease - the agent renewed (@timeout_ms > 0) or released (0) the
 * lease, through netlink or the ioctl
 * @ret: what the unit answered (0 or -EINVAL)
 */
TRACE_EVENT(phloem_lease,
	TP_PROTO(int dev, u32 timeout_ms, int ret),
	TP_ARGS(dev, timeout_ms, ret),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(u32, timeout_ms)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->timeout_ms = timeout_ms;
		__entry->ret = ret;
	),
	TP_printk("dev=%d timeout_ms=%u ret=%d", __entry->dev,
		  __entry->timeout_ms, __entry->ret)
);

/*
 * phloem_trace_event() fires all three event tracepoints for one record:
 * each is a static key, the two filtered ones test the kind only when on.
 * Defined once: define_trace.h reads this header again.
 */
#ifndef _PHLOEM_TRACE_HELPERS
#define _PHLOEM_TRACE_HELPERS
static inline void phloem_trace_event(int dev,
				      const struct phloem_rec_event *ev,
				      u64 time_ns)
{
	trace_phloem_event(dev, ev, time_ns);
	trace_phloem_failsafe(dev, ev, time_ns);
	trace_phloem_lease_expired(dev, ev, time_ns);
}
#endif

#endif /* _PHLOEM_TRACE_H */

/* Out of tree: define_trace.h finds this file through -I$(src) (Kbuild) */
#undef TRACE_INCLUDE_PATH
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_PATH .
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
