// SPDX-License-Identifier: GPL-2.0
/*
 * phloem-trace: where every microsecond of a shed goes, from inside the
 * kernel. Attaches phloem_trace.bpf.c (a CO-RE object embedded through
 * its bpftool skeleton) to phloem.ko's tracepoints and to the scheduler
 * and interrupt tracepoints, and prints:
 *   - every shed as it happens, broken down sample -> decision -> relay
 *     write (the same latency the driver puts in its histogram);
 *   - every sampler wake-up later than --late-us, with the tasks and
 *     interrupts that ran on its CPU between the timer's expiry and the
 *     wake-up;
 *   - at each --interval and at the end: histograms of the timer wake-up
 *     lateness, the ADC read time per channel, the decision's cost and the
 *     relay GPIO write time, and the shed latency in the driver's own
 *     buckets beside the driver's histogram over the same time.
 * Aligned tables for people, --json (one object a line) for machines.
 * docs/trace.md has the details.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/phloem.h>

#include <bpf/libbpf.h>

#include "phloem_trace.h"
#include "phloem_trace.skel.h"

_Static_assert(PT_LAT_BUCKETS == PHLOEM_LAT_BUCKETS, "driver buckets");
_Static_assert(PT_CHANNELS == PHLOEM_MAX_CHANNELS, "channels");
_Static_assert(PT_KINDS > __PHLOEM_EV_MAX, "event kinds");

#define BTF_SYSFS	"/sys/kernel/btf/vmlinux"

static struct {
	int dev;
	unsigned int duration_s;
	unsigned int interval_s;
	unsigned long late_us;
	bool json;
	bool quiet;
	bool verbose;
	const char *btf;
} opt = { .late_us = 1000 };

static volatile sig_atomic_t stop, toggle;
static struct phloem_info info;
static struct phloem_stats st0;
static int devfd = -1;
static bool shed_header;

static const char *const kind_name[] = {
	[PHLOEM_EV_OVERLOAD] = "overload", [PHLOEM_EV_SHED] = "shed",
	[PHLOEM_EV_RESTORE] = "restore", [PHLOEM_EV_FAILSAFE_ENTER] = "failsafe_enter",
	[PHLOEM_EV_FAILSAFE_LEAVE] = "failsafe_leave",
	[PHLOEM_EV_LEASE_EXPIRED] = "lease_expired", [PHLOEM_EV_ADC_FAULT] = "adc_fault",
	[PHLOEM_EV_OVERRIDE] = "override", [PHLOEM_EV_CONFIG] = "config",
	[PHLOEM_EV_HOLD] = "hold", [PHLOEM_EV_FREQ] = "freq",
	[PHLOEM_EV_SIGNAL] = "signal", [PHLOEM_EV_MAINS] = "mains",
	[PHLOEM_EV_VOLTAGE] = "voltage",
};

static const char *const cause_name[] = {
	[PHLOEM_CAUSE_NONE] = "none", [PHLOEM_CAUSE_INSTANT] = "instant",
	[PHLOEM_CAUSE_THERMAL] = "thermal", [PHLOEM_CAUSE_SITE_IMPORT] = "site_import",
	[PHLOEM_CAUSE_MANUAL] = "manual", [PHLOEM_CAUSE_LEASE] = "lease",
	[PHLOEM_CAUSE_ADC] = "adc", [PHLOEM_CAUSE_STALE] = "stale",
	[PHLOEM_CAUSE_UNLOAD] = "unload", [PHLOEM_CAUSE_HEADROOM] = "headroom",
	[PHLOEM_CAUSE_HOLD] = "hold", [PHLOEM_CAUSE_UNDER_FREQ] = "under_freq",
	[PHLOEM_CAUSE_OVER_FREQ] = "over_freq", [PHLOEM_CAUSE_FREQ_OK] = "freq_ok",
	[PHLOEM_CAUSE_GRID_SIGNAL] = "grid_signal",
	[PHLOEM_CAUSE_PHASE] = "phase",
	[PHLOEM_CAUSE_IMBALANCE] = "imbalance",
	[PHLOEM_CAUSE_IMBALANCE_VA] = "imbalance_va",
	[PHLOEM_CAUSE_OUTAGE] = "outage",
	[PHLOEM_CAUSE_MAINS_BACK] = "mains_back",
	[PHLOEM_CAUSE_UNDER_VOLTAGE] = "under_voltage",
	[PHLOEM_CAUSE_OVER_VOLTAGE] = "over_voltage",
	[PHLOEM_CAUSE_VOLTAGE_OK] = "voltage_ok",
};

static const char *const softirq_name[] = {
	"hi", "timer", "net_tx", "net_rx", "block", "irq_poll", "tasklet",
	"sched", "hrtimer", "rcu",
};

static const char *cause_str(unsigned int c)
{
	return c < sizeof(cause_name) / sizeof(cause_name[0]) && cause_name[c] ?
	       cause_name[c] : "?";
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: phloem-trace [-d N] [-D SEC] [-i SEC] [-l US] [--json] [-q] [--btf FILE] [-v]\n"
		"Trace phloem.ko's sampler, decisions and relay writes with BPF.\n\n"
		"  -d, --device N     trace /dev/phloemN (default 0)\n"
		"  -D, --duration SEC stop after SEC seconds (default: at Ctrl-C)\n"
		"  -i, --interval SEC print the histograms every SEC seconds too\n"
		"  -l, --late-us US   report wake-ups later than US (default 1000)\n"
		"  -j, --json         one JSON object a line instead of tables\n"
		"  -q, --quiet        no line per shed or late wake-up, totals only\n"
		"  -b, --btf FILE     the kernel's BTF from FILE (a vmlinux or raw BTF)\n"
		"                     when it has no " BTF_SYSFS "\n"
		"  -v, --verbose      libbpf's messages (the verifier's log on failure)\n\n"
		"Needs root (or CAP_BPF, CAP_PERFMON and access to /dev/phloemN), a\n"
		"kernel with BTF (CONFIG_DEBUG_INFO_BTF=y) and phloem.ko loaded.\n");
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		toggle = 1;
	else
		stop = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	/* Our own refusals say more than libbpf's lines: those with -v */
	if (!opt.verbose || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int refuse(const char *what)
{
	fprintf(stderr, "phloem-trace: %s\n", what);
	return 1;
}

/* CAP_BPF and CAP_PERFMON (Linux >= 5.8), or CAP_SYS_ADMIN, effective */
static bool have_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return false;
#define CAP_EFF(c) (d[(c) / 32].effective & (1U << ((c) % 32)))
	return CAP_EFF(CAP_SYS_ADMIN) ||
	       (CAP_EFF(CAP_BPF) && CAP_EFF(CAP_PERFMON));
#undef CAP_EFF
}

/* Why it cannot run, said before anything is loaded */
static int preflight(void)
{
	char path[64];
	const char *btf = opt.btf ? opt.btf : BTF_SYSFS;

	if (access(btf, R_OK)) {
		if (opt.btf)
			fprintf(stderr, "phloem-trace: --btf %s: %s\n", btf, strerror(errno));
		else
			fprintf(stderr,
				"phloem-trace: this kernel has no BTF (%s: %s): it must be built with "
				"CONFIG_DEBUG_INFO_BTF=y (and CONFIG_BPF_SYSCALL=y), or give its BTF "
				"with --btf FILE\n", btf, strerror(errno));
		return 1;
	}
	if (!have_caps())
		return refuse("permission denied: needs root, or CAP_BPF and CAP_PERFMON");
	if (access("/sys/module/phloem", F_OK))
		return refuse("phloem.ko is not loaded (no /sys/module/phloem)");
	snprintf(path, sizeof(path), "/dev/phloem%d", opt.dev);
	devfd = open(path, O_RDONLY | O_CLOEXEC);
	if (devfd < 0) {
		fprintf(stderr, "phloem-trace: %s: %s\n", path, strerror(errno));
		return 1;
	}
	info.size = sizeof(info);
	if (ioctl(devfd, PHLOEM_IOC_INFO, &info)) {
		fprintf(stderr, "phloem-trace: %s: PHLOEM_IOC_INFO: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

static int get_stats(struct phloem_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	if (ioctl(devfd, PHLOEM_IOC_GET_STATS, st)) {
		fprintf(stderr, "phloem-trace: PHLOEM_IOC_GET_STATS: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

/* b - a when both steps were seen, else -1 ("-" in the table) */
static double span_us(uint64_t a, uint64_t b)
{
	return a && b && b >= a ? us(b - a) : -1.0;
}

static void print_span(double v)
{
	if (v < 0)
		printf(" %9s", "-");
	else
		printf(" %9.1f", v);
}

static void json_span(const char *name, double v)
{
	if (v < 0)
		printf(",\"%s\":null", name);
	else
		printf(",\"%s\":%.3f", name, v);
}

static int on_shed(const struct pt_shed *s)
{
	const struct pt_round *r = &s->round;
	uint64_t done = s->trigger_ns + s->latency_ns;
	double late = -1, reads = -1, decide = -1, wait = -1, write = -1, rest = -1;

	if (s->matched) {
		late = span_us(r->expires, r->t0);
		reads = span_us(r->t0, r->reads_done);
		decide = span_us(r->reads_done, r->dec_end);
		wait = span_us(r->dec_end, r->w_start ? r->w_start : done);
		write = span_us(r->w_start, r->w_end);
		rest = span_us(r->w_end ? r->w_end : r->dec_end, done);
	}
	if (opt.json) {
		printf("{\"type\":\"shed\",\"device\":%d,\"relay\":%u,\"circuit\":%u,"
		       "\"rule\":\"%s\",\"value\":%u,\"limit\":%u,\"trigger_ns\":%" PRIu64
		       ",\"latency_ns\":%" PRIu64 ",\"matched\":%s",
		       opt.dev, s->relay, s->circuit, cause_str(s->cause), s->value,
		       s->limit, (uint64_t)s->trigger_ns, (uint64_t)s->latency_ns,
		       s->matched ? "true" : "false");
		json_span("late_us", late);
		json_span("reads_us", reads);
		json_span("decide_us", decide);
		json_span("wait_us", wait);
		json_span("write_us", write);
		json_span("rest_us", rest);
		printf("}\n");
		fflush(stdout);
		return 0;
	}
	if (!shed_header) {
		printf("%-12s %5s %7s %-11s %8s %8s %9s %9s %9s %9s %9s %9s %9s\n",
		       "SHED", "RELAY", "CIRCUIT", "RULE", "VALUE", "LIMIT", "LATE_us",
		       "READS_us", "DECIDE_us", "WAIT_us", "WRITE_us", "REST_us",
		       "TOTAL_us");
		shed_header = true;
	}
	printf("%-12.6f %5u %7u %-11s %8u %8u", (double)s->trigger_ns / 1e9,
	       s->relay, s->circuit, cause_str(s->cause), s->value, s->limit);
	print_span(late);
	print_span(reads);
	print_span(decide);
	print_span(wait);
	print_span(write);
	print_span(rest);
	printf(" %9.1f%s\n", us(s->latency_ns), s->matched ? "" : "  (decided off the sampler)");
	fflush(stdout);
	return 0;
}

static void run_name(const struct pt_run *r, char *buf, size_t len)
{
	switch (r->kind) {
	case PT_RUN_TASK:
		snprintf(buf, len, "task %.16s/%u", r->name, r->id);
		break;
	case PT_RUN_IRQ:
		snprintf(buf, len, "irq %u %.16s", r->id, r->name);
		break;
	default:
		snprintf(buf, len, "softirq %s",
			 r->id < sizeof(softirq_name) / sizeof(softirq_name[0]) ?
			 softirq_name[r->id] : "?");
	}
}

/* The part of a run inside the late window [expires, t0) */
static uint64_t overlap(const struct pt_late *l, const struct pt_run *r)
{
	uint64_t a = r->start > l->expires ? r->start : l->expires;
	uint64_t b = r->end < l->t0 ? r->end : l->t0;

	return b > a ? b - a : 0;
}

static const struct pt_late *sort_late;

static int by_overlap(const void *a, const void *b)
{
	uint64_t x = overlap(sort_late, a), y = overlap(sort_late, b);

	return x < y ? 1 : x > y ? -1 : 0;
}

/* The runs of a late wake-up or a preemption, the longest first; the BPF side kept the
 * longest PT_CPULOG of the window, the tables show PT_RUNS */
static int on_late(const struct pt_late *l)
{
	struct pt_run runs[PT_CPULOG];
	char name[64];
	unsigned int i, n = l->nruns < PT_CPULOG ? l->nruns : PT_CPULOG;
	uint64_t rest = 0;

	memcpy(runs, l->runs, n * sizeof(runs[0]));
	sort_late = l;
	qsort(runs, n, sizeof(runs[0]), by_overlap);
	if (opt.json) {
		printf("{\"type\":\"late\",\"device\":%d,\"cpu\":%u,\"expires_ns\":%" PRIu64
		       ",\"late_us\":%.3f,\"preempted\":%s,\"runs_seen\":%u,\"truncated\":%s,\"ran\":[",
		       opt.dev, l->cpu, (uint64_t)l->expires, us(l->t0 - l->expires),
		       l->preempted ? "true" : "false", l->seen,
		       l->seen > PT_CPULOG ? "true" : "false");
		for (i = 0; i < n; i++) {
			run_name(&runs[i], name, sizeof(name));
			printf("%s{\"what\":\"%s\",\"us\":%.3f}", i ? "," : "", name,
			       us(overlap(l, &runs[i])));
		}
		printf("]}\n");
		fflush(stdout);
		return 0;
	}
	printf("LATE cpu %u: %s %.1f us; ran meanwhile on that CPU:%s\n",
	       l->cpu, l->preempted ? "preempted mid-round for" : "woke after the timer by",
	       us(l->t0 - l->expires), n ? "" : " nothing traced");
	for (i = 0; i < n; i++) {
		if (i >= PT_RUNS) {
			rest += overlap(l, &runs[i]);
			continue;
		}
		run_name(&runs[i], name, sizeof(name));
		printf("    %-32s %9.1f us\n", name, us(overlap(l, &runs[i])));
	}
	if (n > PT_RUNS)
		printf("    (and %u shorter runs, %.1f us in all)\n", n - PT_RUNS, us(rest));
	if (l->seen > PT_CPULOG)
		printf("    (%u runs in that window: the %d longest were kept)\n", l->seen,
		       PT_CPULOG);
	fflush(stdout);
	return 0;
}

static int on_record(void *ctx, void *data, size_t len)
{
	const uint32_t *type = data;

	(void)ctx;
	if (opt.quiet)
		return 0;
	if (*type == PT_REC_SHED && len >= sizeof(struct pt_shed))
		return on_shed(data);
	if (*type == PT_REC_LATE && len >= sizeof(struct pt_late))
		return on_late(data);
	return 0;
}

static uint64_t sum(const __u64 *h, unsigned int n)
{
	uint64_t t = 0;

	for (unsigned int i = 0; i < n; i++)
		t += h[i];
	return t;
}

/* A log2 histogram, bcc style: only the rows from the first to the last used */
static void print_log2(const char *title, const __u64 *h)
{
	unsigned int i, lo = PT_LOG2, hi = 0;
	uint64_t max = 0, total = sum(h, PT_LOG2);

	printf("\n%s: %" PRIu64 "\n", title, total);
	if (!total)
		return;
	for (i = 0; i < PT_LOG2; i++) {
		if (!h[i])
			continue;
		lo = i < lo ? i : lo;
		hi = i;
		max = h[i] > max ? h[i] : max;
	}
	printf("  %23s %10s  distribution\n", "us", "count");
	for (i = lo; i <= hi; i++) {
		char bar[41];
		unsigned int w = (unsigned int)(h[i] * 40 / max);
		double a = i ? (double)(1ULL << i) / 1000.0 : 0.0;

		memset(bar, '*', w);
		bar[w] = 0;
		if (i == PT_LOG2 - 1)
			printf("  %10.3f -> %-10s %10" PRIu64 "  |%-40s|\n", a, "...",
			       (uint64_t)h[i], bar);
		else
			printf("  %10.3f -> %-10.3f %10" PRIu64 "  |%-40s|\n", a,
			       (double)(2ULL << i) / 1000.0, (uint64_t)h[i], bar);
	}
}

static void json_log2(const char *name, const __u64 *h)
{
	bool first = true;

	printf("\"%s\":[", name);
	for (unsigned int i = 0; i < PT_LOG2; i++) {
		if (!h[i])
			continue;
		printf("%s[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]", first ? "" : ",",
		       (uint64_t)(i ? 1ULL << i : 0),
		       i == PT_LOG2 - 1 ? UINT64_MAX : (uint64_t)2 << i, (uint64_t)h[i]);
		first = false;
	}
	printf("]");
}

static void summary(const struct pt_hists *hs, const struct phloem_stats *st1,
		    double elapsed)
{
	uint64_t drv[PT_LAT_BUCKETS], dcount = st1->lat_count - st0.lat_count;
	uint64_t tcount = sum(hs->shed_lat, PT_LAT_BUCKETS);
	unsigned int i, c;
	bool agree = true;

	for (i = 0; i < PT_LAT_BUCKETS; i++) {
		drv[i] = st1->lat_hist[i] - st0.lat_hist[i];
		agree &= drv[i] == hs->shed_lat[i];
	}
	if (opt.json) {
		printf("{\"type\":\"summary\",\"device\":%d,\"elapsed_s\":%.3f,\"samples\":%" PRIu64
		       ",\"late_samples\":%" PRIu64 ",\"preempted\":%" PRIu64
		       ",\"late_threshold_us\":%lu,\"leases\":%" PRIu64
		       ",\"records_lost\":%" PRIu64 ",\"events\":{",
		       opt.dev, elapsed, (uint64_t)hs->samples, (uint64_t)hs->late_samples,
		       (uint64_t)hs->preempted, opt.late_us, (uint64_t)hs->leases,
		       (uint64_t)hs->ring_lost);
		for (i = 1, c = 0; i < __PHLOEM_EV_MAX; i++)
			printf("%s\"%s\":%" PRIu64, c++ ? "," : "", kind_name[i],
			       (uint64_t)hs->events[i]);
		printf("},\"hist_ns\":{");
		json_log2("late", hs->late);
		printf(",");
		json_log2("decide", hs->decide);
		printf(",");
		json_log2("relay_write", hs->write);
		printf(",\"adc\":{");
		for (c = 0; c < info.nchannels && c < PT_CHANNELS; c++) {
			printf("%s", c ? "," : "");
			json_log2(info.chan[c].name, hs->adc[c]);
		}
		printf("}},\"adc_errors\":[");
		for (c = 0; c < info.nchannels && c < PT_CHANNELS; c++)
			printf("%s%" PRIu64, c ? "," : "", (uint64_t)hs->adc_errors[c]);
		printf("],\"shed_latency\":{\"bounds_ns\":[");
		for (i = 0; i < PT_LAT_BUCKETS; i++) {
			if (st1->lat_bound_ns[i] == UINT64_MAX)
				printf("%snull", i ? "," : "");
			else
				printf("%s%" PRIu64, i ? "," : "", (uint64_t)st1->lat_bound_ns[i]);
		}
		printf("],\"tool\":[");
		for (i = 0; i < PT_LAT_BUCKETS; i++)
			printf("%s%" PRIu64, i ? "," : "", (uint64_t)hs->shed_lat[i]);
		printf("],\"driver\":[");
		for (i = 0; i < PT_LAT_BUCKETS; i++)
			printf("%s%" PRIu64, i ? "," : "", drv[i]);
		printf("],\"tool_count\":%" PRIu64 ",\"driver_count\":%" PRIu64
		       ",\"tool_sum_ns\":%" PRIu64 ",\"driver_sum_ns\":%" PRIu64
		       ",\"agree\":%s}}\n", tcount, dcount, (uint64_t)hs->shed_lat_sum,
		       (uint64_t)(st1->lat_sum_ns - st0.lat_sum_ns),
		       agree && hs->shed_lat_sum == st1->lat_sum_ns - st0.lat_sum_ns ?
		       "true" : "false");
		fflush(stdout);
		return;
	}

	printf("\n%s (/dev/phloem%d), %.1f s: %" PRIu64 " samples, %" PRIu64
	       " woke >= %lu us late, %" PRIu64 " preempted that long mid-round, %" PRIu64
	       " lease renewals, %" PRIu64 " records lost\n",
	       info.name, opt.dev, elapsed, (uint64_t)hs->samples,
	       (uint64_t)hs->late_samples, opt.late_us, (uint64_t)hs->preempted,
	       (uint64_t)hs->leases, (uint64_t)hs->ring_lost);
	printf("%-16s %10s\n", "EVENT", "COUNT");
	for (i = 1; i < __PHLOEM_EV_MAX; i++)
		printf("%-16s %10" PRIu64 "\n", kind_name[i], (uint64_t)hs->events[i]);
	print_log2("timer wake-up lateness (sample sets)", hs->late);
	for (c = 0; c < info.nchannels && c < PT_CHANNELS; c++) {
		char t[96];

		snprintf(t, sizeof(t), "ADC read, channel %u %.16s (%" PRIu64 " failed)",
			 c, info.chan[c].name, (uint64_t)hs->adc_errors[c]);
		print_log2(t, hs->adc[c]);
	}
	print_log2("decision (phloem_shed_sample, from the last read: the unit's lock taken)", hs->decide);
	print_log2("relay GPIO write", hs->write);

	printf("\nshed latency, sample to relay write, in the driver's buckets\n");
	printf("  %23s %10s %10s\n", "us", "traced", "driver");
	for (i = 0; i < PT_LAT_BUCKETS; i++) {
		double a = i ? us(st1->lat_bound_ns[i - 1]) : 0.0;

		if (!hs->shed_lat[i] && !drv[i])
			continue;
		if (st1->lat_bound_ns[i] == UINT64_MAX)
			printf("  %10.1f -> %-10s", a, "...");
		else
			printf("  %10.1f -> %-10.1f", a, us(st1->lat_bound_ns[i]));
		printf(" %10" PRIu64 " %10" PRIu64 "%s\n", (uint64_t)hs->shed_lat[i], drv[i],
		       hs->shed_lat[i] == drv[i] ? "" : "  differs");
	}
	printf("  %23s %10" PRIu64 " %10" PRIu64 "%s\n", "total", tcount, dcount,
	       agree ? "" : "  (sheds in flight at the start or end differ)");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "duration", required_argument, NULL, 'D' },
		{ "interval", required_argument, NULL, 'i' },
		{ "late-us", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "btf", required_argument, NULL, 'b' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	LIBBPF_OPTS(bpf_object_open_opts, oopts);
	struct phloem_trace *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct phloem_stats st1;
	struct pt_hists snap;
	uint64_t t_start, t_next;
	char *end;
	int c, err, ret = 1;
	bool attached = true;

	while ((c = getopt_long(argc, argv, "d:D:i:l:jqb:vh", longopts, NULL)) != -1) {
		unsigned long v = 0;

		if (optarg && strchr("dDil", c)) {
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v > 1000000) {
				fprintf(stderr, "phloem-trace: -%c: not a number in range: %s\n",
					c, optarg);
				return 2;
			}
		}
		switch (c) {
		case 'd': if (v >= 16) { fprintf(stderr, "phloem-trace: -d: 0..15\n"); return 2; }
			  opt.dev = (int)v; break;
		case 'D': opt.duration_s = (unsigned int)v; break;
		case 'i': opt.interval_s = (unsigned int)v; break;
		case 'l': opt.late_us = v; break;
		case 'j': opt.json = true; break;
		case 'q': opt.quiet = true; break;
		case 'b': opt.btf = optarg; break;
		case 'v': opt.verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (preflight())
		return 1;
	if (get_stats(&st0))
		goto out;

	libbpf_set_print(libbpf_print);
	oopts.btf_custom_path = opt.btf;
	skel = phloem_trace__open_opts(&oopts);
	if (!skel) {
		fprintf(stderr, "phloem-trace: cannot open the BPF object: %s\n", strerror(errno));
		goto out;
	}
	skel->rodata->targ_dev = opt.dev;
	skel->rodata->late_ns = (uint64_t)opt.late_us * 1000;
	memcpy((void *)skel->rodata->lat_bound, st0.lat_bound_ns, sizeof(st0.lat_bound_ns));
	err = phloem_trace__load(skel);
	if (err) {
		/* Privileges were checked: EACCES is the verifier, EPERM lockdown */
		if (err == -EPERM || err == -EACCES)
			fprintf(stderr, "phloem-trace: the kernel refused the BPF programs: %s "
				"(%s)\n", strerror(-err), err == -EPERM ?
				"kernel lockdown, or a security module" :
				"the verifier rejected one: -v shows its log");
		else
			fprintf(stderr, "phloem-trace: cannot load the BPF programs: %s%s\n",
				strerror(-err), opt.verbose ? "" : " (-v shows libbpf's log)");
		goto out;
	}
	err = phloem_trace__attach(skel);
	if (err) {
		fprintf(stderr, "phloem-trace: cannot attach: %s%s\n", strerror(-err),
			err == -ENOENT ? " (a phloem.ko without tracepoints? see docs/trace.md)" : "");
		goto out;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.records), on_record, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "phloem-trace: ring buffer: %s\n", strerror(errno));
		goto out;
	}
	/* The driver's baseline once armed: the two count the same sheds */
	skel->bss->armed = 1;
	if (get_stats(&st0))
		goto out;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
	fprintf(stderr, "phloem-trace: tracing %s (/dev/phloem%d); Ctrl-C to end\n",
		info.name, opt.dev);
	t_start = now_ns();
	t_next = t_start + (uint64_t)opt.interval_s * 1000000000ULL;
	while (!stop) {
		uint64_t t;

		err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "phloem-trace: ring buffer: %s\n", strerror(-err));
			goto out;
		}
		if (toggle) {
			/*
			 * SIGUSR1: every program detached, or attached again
			 * (the programs stay loaded): what make bench-vm-trace
			 * compares, without a load per window
			 */
			toggle = 0;
			if (attached) {
				phloem_trace__detach(skel);
			} else if ((err = phloem_trace__attach(skel))) {
				fprintf(stderr, "phloem-trace: cannot attach again: %s\n",
					strerror(-err));
				goto out;
			}
			attached = !attached;
			/* A preemption seen half is no preemption */
			skel->data->watch.preempted = 0;
			fprintf(stderr, "phloem-trace: %s\n", attached ? "attached" : "detached");
		}
		t = now_ns();
		if (opt.duration_s && t - t_start >= (uint64_t)opt.duration_s * 1000000000ULL)
			break;
		if (opt.interval_s && t >= t_next) {
			memcpy(&snap, &skel->bss->hists, sizeof(snap));
			if (get_stats(&st1))
				goto out;
			summary(&snap, &st1, (double)(t - t_start) / 1e9);
			t_next += (uint64_t)opt.interval_s * 1000000000ULL;
		}
	}
	if (get_stats(&st1))
		goto out;
	skel->bss->armed = 0;
	skel->data->watch.due = ~0ULL;
	skel->data->watch.preempted = 0;
	ring_buffer__consume(rb);
	memcpy(&snap, &skel->bss->hists, sizeof(snap));
	summary(&snap, &st1, (double)(now_ns() - t_start) / 1e9);
	ret = 0;
out:
	ring_buffer__free(rb);
	phloem_trace__destroy(skel);
	if (devfd >= 0)
		close(devfd);
	return ret;
}
