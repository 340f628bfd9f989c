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
 * is one kthread: the round state below has one writer.
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
/* When and where the sampling thread was preempted mid-round; 0 otherwise */
__u64 preempted_at;
__u32 preempted_cpu;

struct cpu_log {
	__u64 last_switch;	/* when the current task was switched in */
	__u64 irq_start;
	__u64 softirq_start;
	__u32 head;		/* next slot of runs[] */
	__u32 irq;
	struct pt_run runs[PT_CPULOG];
	char irq_name[PT_COMM];
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

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) r += 1;
	return r;
}

static __always_inline void hist_add(__u64 *h, __u64 ns)
{
	/*
	 * Every index below is masked to a power-of-two array size: the 6.1
	 * verifier loses a bound checked in one register when the compiler
	 * indexes with a copy of it.
	 */
	__sync_fetch_and_add(&h[log2_u64(ns) & (PT_LOG2 - 1)], 1);
}

static __always_inline struct cpu_log *this_log(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cpu_logs, &zero);
}

static __always_inline void log_run(struct cpu_log *l, __u32 kind, __u32 id,
				    __u64 start, __u64 end, const char *name)
{
	struct pt_run *r = &l->runs[l->head & (PT_CPULOG - 1)];

	r->start = start;
	r->end = end;
	r->id = id;
	r->kind = kind;
	__builtin_memcpy(r->name, name, PT_COMM);
	l->head++;
}

static __always_inline void report_late(__u64 expires, __u64 t0, __u32 tid,
					__u32 preempted);

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	struct cpu_log *l = this_log();
	__u64 now = bpf_ktime_get_ns();
	char comm[PT_COMM];
	pid_t pid;

	if (!l)
		return 0;
	pid = BPF_CORE_READ(prev, pid);
	/* The idle task delays nobody: not logged */
	if (l->last_switch && pid) {
		BPF_CORE_READ_STR_INTO(&comm, prev, comm);
		log_run(l, PT_RUN_TASK, pid, l->last_switch, now, comm);
	}
	l->last_switch = now;
	/*
	 * The sampler preempted mid-round (by a task of higher priority on
	 * its CPU) is as late as one that wakes late, but no wake-up shows
	 * it: timed from the switch away to the switch back here.
	 */
	if (armed && cur.tid) {
		__u32 cpu = bpf_get_smp_processor_id();

		if (preempt && pid == cur.tid) {
			preempted_at = now;
			preempted_cpu = cpu;
		} else if (preempted_at && BPF_CORE_READ(next, pid) == cur.tid) {
			if (cpu == preempted_cpu && now - preempted_at >= late_ns) {
				__sync_fetch_and_add(&hists.preempted, 1);
				report_late(preempted_at, now, cur.tid, 1);
			}
			preempted_at = 0;
		}
	}
	return 0;
}

SEC("tp_btf/irq_handler_entry")
int BPF_PROG(on_irq_entry, int irq, struct irqaction *action)
{
	struct cpu_log *l = this_log();

	if (!l)
		return 0;
	l->irq_start = bpf_ktime_get_ns();
	l->irq = irq;
	bpf_probe_read_kernel_str(l->irq_name, sizeof(l->irq_name),
				  BPF_CORE_READ(action, name));
	return 0;
}

SEC("tp_btf/irq_handler_exit")
int BPF_PROG(on_irq_exit, int irq, struct irqaction *action, int ret)
{
	struct cpu_log *l = this_log();

	if (!l || !l->irq_start)
		return 0;
	log_run(l, PT_RUN_IRQ, irq, l->irq_start, bpf_ktime_get_ns(),
		l->irq_name);
	l->irq_start = 0;
	return 0;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(on_softirq_entry, unsigned int vec)
{
	struct cpu_log *l = this_log();

	if (l)
		l->softirq_start = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(on_softirq_exit, unsigned int vec)
{
	struct cpu_log *l = this_log();
	char none[PT_COMM] = {};

	if (!l || !l->softirq_start)
		return 0;
	log_run(l, PT_RUN_SOFTIRQ, vec, l->softirq_start, bpf_ktime_get_ns(),
		none);
	l->softirq_start = 0;
	return 0;
}

/* What ran on this CPU between the timer's expiry and the wake-up */
static __always_inline void report_late(__u64 expires, __u64 t0, __u32 tid,
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
	rec->truncated = 0;
	rec->preempted = preempted;
	rec->pad = 0;
	for (i = 0; i < PT_CPULOG; i++) {
		/* newest first */
		struct pt_run *r = &l->runs[(l->head - 1 - i) & (PT_CPULOG - 1)];

		if (!r->end || r->end <= expires)
			continue;
		if (r->start >= t0 || (r->kind == PT_RUN_TASK && r->id == tid))
			continue;
		if (n >= PT_RUNS) {
			rec->truncated = 1;
			break;
		}
		rec->runs[n & (PT_RUNS - 1)] = *r;
		n++;
	}
	/* Every slot overlapped: older runs may have been overwritten */
	if (i == PT_CPULOG && n == PT_CPULOG)
		rec->truncated = 1;
	rec->nruns = n;
	bpf_ringbuf_submit(rec, 0);
}

SEC("raw_tp/phloem_sample")
int BPF_PROG(on_sample, int dev, __u64 expires, __u64 t0, __u64 done,
	     __u32 failed)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 late;

	if (!armed || dev != targ_dev)
		return 0;
	late = t0 > expires ? t0 - expires : 0;
	hist_add(hists.late, late);
	__sync_fetch_and_add(&hists.samples, 1);
	cur.expires = expires;
	cur.t0 = t0;
	cur.reads_done = done;
	cur.dec_start = 0;
	cur.dec_end = 0;
	cur.w_start = 0;
	cur.w_end = 0;
	cur.tid = tid;
	cur.cpu = bpf_get_smp_processor_id();
	if (late >= late_ns) {
		__sync_fetch_and_add(&hists.late_samples, 1);
		report_late(expires, t0, tid, 0);
	}
	return 0;
}

SEC("raw_tp/phloem_adc_read")
int BPF_PROG(on_adc_read, int dev, __u32 channel, int val, int ret,
	     __u64 start, __u64 dur)
{
	if (!armed || dev != targ_dev || channel >= PT_CHANNELS)
		return 0;
	barrier_var(channel);	/* keep the mask: the check above is not enough */
	channel &= PT_CHANNELS - 1;
	if (ret < 0)
		__sync_fetch_and_add(&hists.adc_errors[channel], 1);
	else
		hist_add(hists.adc[channel], dur);
	return 0;
}

SEC("raw_tp/phloem_decide")
int BPF_PROG(on_decide, int dev, __u64 t0, __u64 start, __u64 dur,
	     bool changed)
{
	if (!armed || dev != targ_dev)
		return 0;
	hist_add(hists.decide, dur);
	if (t0 == cur.t0) {
		cur.dec_start = start;
		cur.dec_end = start + dur;
	}
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
