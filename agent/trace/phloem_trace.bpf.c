// SPDX-License-Identifier: GPL-2.0
/*
 * phloem-trace, kernel side. Compiled once with clang -target bpf against
 * a vmlinux.h (CO-RE: field offsets of task_struct and irqaction are
 * relocated by libbpf at load time to the running kernel's BTF).
 *
 * phloem.ko's own tracepoints are taken as raw_tp: their prototypes carry
 * scalars and the UAPI event record only, so the module needs no BTF of
 * its own (Debian's out-of-tree builds have none). The scheduler and
 * interrupt tracepoints are tp_btf, typed by vmlinux BTF.
 *
 * Everything is filtered to one device (targ_dev), whose sampling thread
 * is one kthread: the round state and the per-set histograms below have
 * one writer, so they are added to plainly; the rest atomically.
 *
 * The cost per sample set is what the tool is judged on (make
 * bench-vm-trace): one phloem program (phloem_round carries the set's
 * lateness, every channel's read time, as a log2 bucket too, and the
 * decision), and the
 * scheduler and interrupt programs return after a CPU id and a clock read
 * unless they run on the sampler's CPU after its next wake-up was due, or
 * while it is preempted there, the only times what they see can be
 * reported.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/* The UAPI header, with vmlinux.h's types instead of <linux/types.h> */
#define _LINUX_TYPES_H
#define _LINUX_IOCTL_H
#include <linux/phloem.h>

#include "phloem_trace.h"

char LICENSE[] SEC("license") = "GPL";

const volatile int targ_dev;
const volatile __u64 late_ns = 1000000;
/* The driver's histogram bounds, from PHLOEM_IOC_GET_STATS */
const volatile __u64 lat_bound[PT_LAT_BUCKETS];

struct pt_hists hists;
/*
 * Set by the tool once every program is attached, cleared before it reads
 * the totals: libbpf attaches one program after the other (milliseconds
 * apart under emulation), and every phloem program must count the same
 * sample sets.
 */
int armed;
struct pt_round cur;		/* the sampling thread's last round */

/*
 * When the sampler's next wake-up is due, and on which CPU (the one its
 * last round ran on): the scheduler and interrupt programs log only what
 * runs there after that time, until the sampler runs. Never before the
 * first round; the tool sets @due back to "never" when it disarms.
 * @preempted: the sampler was switched away from, runnable, then (and
 * there, @preempted_cpu); 0 once it runs again or the tool detaches.
 */
struct pt_watch watch = { .due = ~0ULL };

/* What ran on one CPU since the sampler's wake-up was due, or it was preempted */
struct cpu_log {
	__u64 last_switch;	/* a switch after @window: when it was */
	__u64 irq_start;	/* the last hard interrupt began */
	__u64 softirq_start;
	__u64 window;		/* the due (or preemption) time the runs are for */
	__u32 seen;		/* runs logged in the window, kept or not */
	__u32 pad;
	struct pt_run runs[PT_CPULOG];	/* the longest of them, in no order */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_log);
} cpu_logs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} records SEC(".maps");

/* floor(log2(v)), 0 for 0: the bit scan of a de Bruijn multiplication */
static const __u8 debruijn64[64] = {
	 0, 47,  1, 56, 48, 27,  2, 60, 57, 49, 41, 37, 28, 16,  3, 61,
	54, 58, 35, 52, 50, 42, 21, 44, 38, 32, 29, 23, 17, 11,  4, 62,
	46, 55, 26, 59, 40, 36, 15, 53, 34, 51, 20, 43, 31, 22, 10, 45,
	25, 39, 14, 33, 19, 30,  9, 24, 13, 18,  8, 12,  7,  6,  5, 63,
};

/*
 * Without a branch: two of these a sample set (the lateness, the
 * decision; the reads come bucketed), and under emulation (make
 * bench-vm-trace) every branch ends a translated block, where the binary
 * search it replaced took six
 */
static __always_inline __u32 log2_u64(__u64 v)
{
	v |= v >> 1;
	v |= v >> 2;
	v |= v >> 4;
	v |= v >> 8;
	v |= v >> 16;
	v |= v >> 32;
	return debruijn64[(v * 0x03f79d71b4cb0a89ULL) >> 58];
}

/*
 * Every index below is masked to a power-of-two array size: the 6.1
 * verifier loses a bound checked in one register when the compiler
 * indexes with a copy of it.
 */
static __always_inline void hist_add(__u64 *h, __u64 ns)
{
	__sync_fetch_and_add(&h[log2_u64(ns) & (PT_LOG2 - 1)], 1);
}

/* The same, for the histograms only the sampling thread adds to */
static __always_inline void hist_inc(__u64 *h, __u64 ns)
{
	h[log2_u64(ns) & (PT_LOG2 - 1)]++;
}

static __always_inline struct cpu_log *this_log(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cpu_logs, &zero);
}

/*
 * Past the sampler's due time on its CPU, or past its preemption there if
 * that came first (after the round's tracepoint: the next due time is
 * ahead): the clock, and in @from that time (the window's key), else 0.
 * The cheap test every scheduler and interrupt program starts with.
 */
static __always_inline __u64 late_now(__u64 *from)
{
	__u64 now, due, pre;

	if (bpf_get_smp_processor_id() != watch.cpu)
		return 0;
	now = bpf_ktime_get_ns();
	due = watch.due;
	pre = watch.preempted;
	if (pre && pre < due)
		due = pre;
	*from = due;
	return now > due ? now : 0;
}

/*
 * One run [start, end) in the log of the window @due: the first PT_CPULOG
 * of a window fill the slots, a later one replaces the shortest kept if it
 * is longer, so a report holds the longest runs, not the newest.
 */
static __always_inline void log_run(struct cpu_log *l, __u64 due, __u32 kind,
				    __u32 id, __u64 start, __u64 end,
				    const char *name)
{
	struct pt_run *r;
	__u32 i, slot;

	if (l->window != due) {
		l->window = due;
		l->seen = 0;
	}
	if (start < due)
		start = due;
	if (l->seen < PT_CPULOG) {
		slot = l->seen;
	} else {
		__u64 min = ~0ULL;

		slot = 0;
		for (i = 0; i < PT_CPULOG; i++) {
			r = &l->runs[i];
			if (r->end - r->start < min) {
				min = r->end - r->start;
				slot = i;
			}
		}
		if (end - start <= min) {
			l->seen++;
			return;
		}
	}
	r = &l->runs[slot & (PT_CPULOG - 1)];
	r->start = start;
	r->end = end;
	r->id = id;
	r->kind = kind;
	__builtin_memcpy(r->name, name, PT_COMM);
	l->seen++;
}

static __always_inline void report_late(__u64 expires, __u64 t0, __u64 due,
					__u32 preempted);

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	/* tp_btf: the tasks are read directly (CO-RE offsets), no helper */
	pid_t pid = prev->pid;
	struct cpu_log *l;
	char comm[PT_COMM];
	__u64 now, from, pre;

	/*
	 * The sampler's own switches, first and without a helper: going to
	 * sleep it delays nobody, and the stale last_switch left then is
	 * clamped to the due time by log_run(); the idle task handing over
	 * to it means nothing ran. On a sampler's CPU that keeps up, these
	 * are the only switches.
	 *
	 * Preempted (by a task of higher priority on its CPU) it is as late
	 * as one that wakes late, but no wake-up shows it: timed from the
	 * switch away to the switch back, what runs meanwhile logged from
	 * the switch away.
	 */
	if (pid == watch.tid) {
		if (preempt && pid && armed) {
			now = bpf_ktime_get_ns();
			watch.preempted = now;
			watch.preempted_cpu = bpf_get_smp_processor_id();
			watch.cpu = watch.preempted_cpu;
			l = this_log();
			if (l)
				l->last_switch = now;
		}
		return 0;
	}
	if (!pid && next->pid == watch.tid)
		return 0;
	now = late_now(&from);
	if (!now)
		return 0;
	l = this_log();
	if (!l)
		return 0;
	/* The idle task delays nobody */
	if (pid) {
		__builtin_memcpy(comm, prev->comm, PT_COMM);
		log_run(l, from, PT_RUN_TASK, pid,
			l->last_switch > from ? l->last_switch : from, now, comm);
	}
	l->last_switch = now;
	/* Back to the sampler after a preemption on this CPU */
	pre = watch.preempted;
	if (pre && next->pid == watch.tid) {
		watch.preempted = 0;
		if (bpf_get_smp_processor_id() == watch.preempted_cpu &&
		    now - pre >= late_ns) {
			__sync_fetch_and_add(&hists.preempted, 1);
			report_late(pre, now, from, 1);
		}
	}
	return 0;
}

SEC("tp_btf/irq_handler_entry")
int BPF_PROG(on_irq_entry, int irq, struct irqaction *action)
{
	__u64 from, now = late_now(&from);
	struct cpu_log *l;

	if (!now)
		return 0;
	l = this_log();
	if (l)
		l->irq_start = now;
	return 0;
}

/*
 * Hard interrupts do not nest: an exit whose entry was not logged (it came
 * before the due time) began before it, and log_run() clamps it there
 */
SEC("tp_btf/irq_handler_exit")
int BPF_PROG(on_irq_exit, int irq, struct irqaction *action, int ret)
{
	__u64 from, now = late_now(&from);
	struct cpu_log *l;
	char name[PT_COMM];

	if (!now)
		return 0;
	l = this_log();
	if (!l)
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(action, name));
	log_run(l, from, PT_RUN_IRQ, irq, l->irq_start, now, name);
	return 0;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(on_softirq_entry, unsigned int vec)
{
	__u64 from, now = late_now(&from);
	struct cpu_log *l;

	if (!now)
		return 0;
	l = this_log();
	if (l)
		l->softirq_start = now;
	return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(on_softirq_exit, unsigned int vec)
{
	__u64 from, now = late_now(&from);
	char none[PT_COMM] = {};
	struct cpu_log *l;

	if (!now)
		return 0;
	l = this_log();
	if (l)
		log_run(l, from, PT_RUN_SOFTIRQ, vec, l->softirq_start,
			now, none);
	return 0;
}

/*
 * What ran on this CPU between the timer's expiry and the wake-up, or
 * between the sampler's preemption and its return (@preempted): the runs
 * of the window @due that overlap [@expires, @t0)
 */
static __always_inline void report_late(__u64 expires, __u64 t0, __u64 due,
					__u32 preempted)
{
	struct cpu_log *l = this_log();
	struct pt_late *rec;
	__u32 i, n = 0;

	if (!l)
		return;
	rec = bpf_ringbuf_reserve(&records, sizeof(*rec), 0);
	if (!rec) {
		__sync_fetch_and_add(&hists.ring_lost, 1);
		return;
	}
	rec->type = PT_REC_LATE;
	rec->cpu = bpf_get_smp_processor_id();
	rec->expires = expires;
	rec->t0 = t0;
	rec->seen = l->window == due ? l->seen : 0;
	rec->preempted = preempted;
	rec->pad = 0;
	for (i = 0; i < PT_CPULOG; i++) {
		struct pt_run *r = &l->runs[i];

		/*
		 * A run that ended after t0 took the CPU from the sampler
		 * mid-round (delaying the round's end, not the wake-up: that
		 * is reported as a preemption): its start may be clamped to
		 * the due time, as the sampler's switches to sleep are not
		 * timed, so it is told by its end
		 */
		if (i >= rec->seen || r->end <= expires || r->end > t0)
			continue;
		rec->runs[n & (PT_CPULOG - 1)] = *r;
		n++;
	}
	rec->nruns = n;
	bpf_ringbuf_submit(rec, 0);
}

SEC("raw_tp/phloem_round")
int BPF_PROG(on_round, int dev, __u64 period, __u64 expires, __u64 t0,
	     __u64 done, __u32 failed, __u32 nchan, const __u32 *read_ns,
	     __u64 read_log2, __u64 dec_start, __u64 dec_ns, bool changed)
{
	__u32 c, tid, cpu;
	__u64 late, due;

	if (!armed || dev != targ_dev)
		return 0;
	tid = (__u32)bpf_get_current_pid_tgid();
	cpu = bpf_get_smp_processor_id();
	late = t0 > expires ? t0 - expires : 0;
	hist_inc(hists.late, late);
	hists.samples++;
	/*
	 * Each read's bucket is a byte of @read_log2 (the sampler's fls()):
	 * no copy of @read_ns, no bit scan. Unrolled, so each channel's
	 * histogram is at a constant offset; a failed read, rare, costs a
	 * healthy set one test a channel.
	 */
#pragma unroll
	for (c = 0; c < PT_CHANNELS; c++) {
		if (c < nchan) {
			if (failed & (1U << c))
				hists.adc_errors[c]++;
			else
				hists.adc[c][(read_log2 >> (8 * c)) & 31]++;
		}
	}
	if (dec_start)
		hist_inc(hists.decide, dec_ns);

	/*
	 * Kept for a shed's breakdown: a round sheds only when it changed
	 * something (phloem_relays_apply() follows in this thread, and its
	 * writes and events find this round here), so the other rounds,
	 * nearly all, skip the stores. A shed popped later by another
	 * context has another trigger_ns than a stale round's t0.
	 */
	if (changed) {
		cur.expires = expires;
		cur.t0 = t0;
		cur.reads_done = done;
		cur.dec_start = dec_start;
		cur.dec_end = dec_start ? dec_start + dec_ns : 0;
		cur.w_start = 0;
		cur.w_end = 0;
		cur.tid = tid;
		cur.cpu = cpu;
	}

	/* The window that this wake-up ended, then the next one */
	due = watch.due;
	if (late >= late_ns) {
		hists.late_samples++;
		report_late(expires, t0, due, 0);
	}
	/*
	 * The next boundary, as phloem_sampler_wait() will find it: a round
	 * that overran its period skips to the first boundary still ahead
	 */
	due = expires + period;
	if (period) {
		/* The round's last stamp stands for now: no clock read */
		__u64 now = dec_start ? dec_start + dec_ns : done;

		if (now > due)
			due += ((now - due) / period + 1) * period;
	}
	watch.tid = tid;
	watch.cpu = cpu;
	watch.due = due;
	/* Running: preempted no longer (a switch back elsewhere is not seen) */
	watch.preempted = 0;
	return 0;
}

SEC("raw_tp/phloem_relay_write")
int BPF_PROG(on_relay_write, int dev, __u32 relay, bool on, __u64 start,
	     __u64 dur)
{
	if (!armed || dev != targ_dev)
		return 0;
	hist_add(hists.write, dur);
	/* Only the sampling thread's own writes belong to its round */
	if ((__u32)bpf_get_current_pid_tgid() == cur.tid) {
		if (!cur.w_start)
			cur.w_start = start;
		cur.w_end = start + dur;
	}
	return 0;
}

static __always_inline __u32 lat_bucket(__u64 ns)
{
	__u32 i;

	for (i = 0; i < PT_LAT_BUCKETS - 1; i++)
		if (ns < lat_bound[i])
			break;
	return i;
}

SEC("raw_tp/phloem_event")
int BPF_PROG(on_event, int dev, const struct phloem_rec_event *kev,
	     __u64 time_ns)
{
	struct phloem_rec_event ev;
	struct pt_shed *rec;
	__u32 b;

	if (!armed || dev != targ_dev)
		return 0;
	if (bpf_probe_read_kernel(&ev, sizeof(ev), kev))
		return 0;
	__sync_fetch_and_add(&hists.events[ev.kind & (PT_KINDS - 1)], 1);
	if (ev.kind != PHLOEM_EV_SHED)
		return 0;

	b = lat_bucket(ev.latency_ns);
	__sync_fetch_and_add(&hists.shed_lat[b & 63], 1);
	__sync_fetch_and_add(&hists.shed_lat_sum, ev.latency_ns);

	rec = bpf_ringbuf_reserve(&records, sizeof(*rec), 0);
	if (!rec) {
		__sync_fetch_and_add(&hists.ring_lost, 1);
		return 0;
	}
	rec->type = PT_REC_SHED;
	rec->cause = ev.cause;
	rec->relay = ev.relay;
	rec->circuit = ev.circuit;
	rec->value = ev.value;
	rec->limit = ev.limit;
	rec->trigger_ns = ev.trigger_ns;
	rec->latency_ns = ev.latency_ns;
	rec->time_ns = time_ns;
	rec->round = cur;
	rec->matched = cur.t0 == ev.trigger_ns;
	bpf_ringbuf_submit(rec, 0);
	return 0;
}

SEC("raw_tp/phloem_lease")
int BPF_PROG(on_lease, int dev, __u32 timeout_ms, int ret)
{
	if (armed && dev == targ_dev)
		__sync_fetch_and_add(&hists.leases, 1);
	return 0;
}
