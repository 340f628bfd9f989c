/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * phloem-trace: what the BPF side (phloem_trace.bpf.c) hands to the tool
 * (phloem_trace.c): histograms in global data, shed breakdowns and late
 * wake-ups through a ring buffer. Shared by both, so only fixed-width
 * types that vmlinux.h and <linux/types.h> both define.
 */
#ifndef PHLOEM_TRACE_H
#define PHLOEM_TRACE_H

#define PT_LOG2		64	/* log2 histogram: [2^i, 2^(i+1)) ns */
#define PT_LAT_BUCKETS	48	/* = PHLOEM_LAT_BUCKETS, the driver's histogram */
#define PT_CHANNELS	8	/* = PHLOEM_MAX_CHANNELS */
#define PT_KINDS	16	/* > __PHLOEM_EV_MAX */
#define PT_CPULOG	16	/* runs kept per late window: the longest (power of two) */
#define PT_RUNS		8	/* runs printed per late wake-up: the longest */
#define PT_COMM		16

enum pt_rec_type {
	PT_REC_SHED = 1,
	PT_REC_LATE,
};

enum pt_run_kind {
	PT_RUN_TASK = 1,	/* a task ran (sched_switch away from it) */
	PT_RUN_IRQ,		/* a hard interrupt handler */
	PT_RUN_SOFTIRQ,		/* a softirq vector */
};

/**
 * struct pt_round - the sampling thread's last round, as its tracepoints
 * saw it (CLOCK_MONOTONIC ns; 0 where the step did not happen)
 * @expires: the period boundary it slept until
 * @t0: reads began (the set's time; a shed's trigger_ns)
 * @reads_done: the last read returned
 * @dec_start, @dec_end: phloem_shed_sample() under the unit's lock
 * @w_start: first relay GPIO write of this thread began
 * @w_end: last one returned
 * @tid: the sampling thread
 */
struct pt_round {
	__u64 expires;
	__u64 t0;
	__u64 reads_done;
	__u64 dec_start;
	__u64 dec_end;
	__u64 w_start;
	__u64 w_end;
	__u32 tid;
	__u32 cpu;
};

/**
 * struct pt_shed - one PHLOEM_EV_SHED, with the round that caused it
 * @round.t0 == @trigger_ns when the shed came from the round traced (the
 * usual case: the instantaneous rule decides on the sample that crossed);
 * otherwise @matched is 0 and only the totals are meaningful
 */
struct pt_shed {
	__u32 type;		/* PT_REC_SHED */
	__u16 cause;
	__u16 matched;
	__u32 relay;
	__u32 circuit;
	__u32 value;		/* mA, or mW for the site rule */
	__u32 limit;
	__u64 trigger_ns;
	__u64 latency_ns;
	__u64 time_ns;
	struct pt_round round;
};

/**
 * struct pt_watch - when the sampler's next wake-up is due (CLOCK_MONOTONIC
 * ns; ~0: never), on which CPU, and its thread: what the scheduler and
 * interrupt programs test before anything else; and when it was preempted,
 * if it is off its CPU that way now (the tool clears that when it detaches)
 */
struct pt_watch {
	__u64 due;
	__u32 cpu;
	__u32 tid;
	__u64 preempted;	/* the sampler preempted then (ns), 0 otherwise */
	__u32 preempted_cpu;
	__u32 pad;
};

struct pt_run {
	__u64 start;
	__u64 end;
	__u32 id;		/* pid, irq number or softirq vector */
	__u32 kind;		/* enum pt_run_kind */
	char name[PT_COMM];	/* comm or irq handler name */
};

/**
 * struct pt_late - the sampler kept from its CPU for at least the
 * threshold, and what ran on that CPU meanwhile: either a wake-up later
 * than the threshold (from the timer's expiry, @expires, to the round's
 * start, @t0), or a preemption (@preempted: from the switch away,
 * @expires, to the switch back, @t0). A task of higher priority that
 * lands while the sampler sleeps makes the first; one that lands while it
 * reads or decides, the second.
 * @nruns: entries of @runs, in no order (the tool sorts them)
 * @seen: runs logged in that window; above PT_CPULOG only the longest
 *        PT_CPULOG were kept
 */
struct pt_late {
	__u32 type;		/* PT_REC_LATE */
	__u32 cpu;
	__u64 expires;
	__u64 t0;
	__u32 nruns;
	__u32 seen;
	__u32 preempted;
	__u32 pad;
	struct pt_run runs[PT_CPULOG];
};

/**
 * struct pt_hists - everything counted, in the BPF program's .bss
 * (read by the tool through the skeleton's mmap; added to atomically)
 */
struct pt_hists {
	__u64 late[PT_LOG2];
	__u64 adc[PT_CHANNELS][PT_LOG2];
	__u64 adc_errors[PT_CHANNELS];
	__u64 decide[PT_LOG2];
	__u64 write[PT_LOG2];
	__u64 shed_lat[64];	/* PT_LAT_BUCKETS used; 64 for a mask index */
	__u64 shed_lat_sum;
	__u64 events[PT_KINDS];
	__u64 samples;
	__u64 late_samples;
	__u64 preempted;	/* preemptions mid-round >= the threshold */
	__u64 leases;
	__u64 ring_lost;
};

#endif /* PHLOEM_TRACE_H */
