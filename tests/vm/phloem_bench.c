// SPDX-License-Identifier: GPL-2.0
/*
 * phloem_bench: sample-to-relay shed latency of phloem.ko on the simulated
 * HAT, run inside the test VM (make bench-vm).
 *
 * It repeats a garage overload many times: the EV charger (3 A) stays on,
 * the garage heater steps from 0 to 4 A so the circuit (limit lowered to
 * 5 A, instantaneous rule at 6.25 A) is overloaded and the EV is shed; the
 * heater then drops back and the EV is restored after a short min-off. The
 * figures come from the kernel: its latency histogram (PHLOEM_IOC_GET_STATS)
 * and each EV_SHED record's latency_ns; the detection delay is the time from
 * the simulator's step instant to the sample that crossed the limit.
 *
 * Under QEMU TCG these are functional figures, not hardware timings.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/phloem.h>

#define SIM	"/sys/kernel/debug/phloem_sim/hat0/"
#define R_EV	0
#define R_HEATER 1
#define GARAGE	2

static void die(const char *what)
{
	fprintf(stderr, "phloem_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void sim_set(const char *attr, long long v)
{
	char path[128], buf[32];
	int fd, n;

	snprintf(path, sizeof(path), SIM "%s", attr);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		die(path);
	n = snprintf(buf, sizeof(buf), "%lld\n", v);
	if (write(fd, buf, n) != n)
		die(path);
	close(fd);
}

static long long sim_get(const char *attr)
{
	char path[128], buf[32] = "";
	int fd;

	snprintf(path, sizeof(path), SIM "%s", attr);
	fd = open(path, O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0)
		die(path);
	close(fd);
	return atoll(buf);
}

static void xioctl(int fd, unsigned long cmd, void *arg, const char *what)
{
	if (ioctl(fd, cmd, arg))
		die(what);
}

/* Next event of @kind for @relay within @ms; 0 on timeout. */
static int wait_event(int fd, unsigned int kind, unsigned int relay, int ms,
		      struct phloem_record *out)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct phloem_record r;

	while (now_ns() < end) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		if (read(fd, &r, sizeof(r)) != sizeof(r))
			die("read");
		if (r.hdr.type == PHLOEM_REC_EVENT && r.event.kind == kind &&
		    r.event.relay == relay) {
			*out = r;
			return 1;
		}
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Upper bound of the histogram bucket holding the @pct percentile. */
static uint64_t hist_pct(const struct phloem_stats *s, const uint64_t *base,
			 double pct)
{
	uint64_t total = 0, want, acc = 0;
	int i;

	for (i = 0; i < PHLOEM_LAT_BUCKETS; i++)
		total += s->lat_hist[i] - base[i];
	if (!total)
		return 0;
	want = (uint64_t)(pct / 100.0 * total + 0.999999);
	for (i = 0; i < PHLOEM_LAT_BUCKETS; i++) {
		acc += s->lat_hist[i] - base[i];
		if (acc >= want)
			return s->lat_bound_ns[i];
	}
	return ~0ULL;
}

static void row(const char *name, const uint64_t *v, size_t n)
{
	printf("  %-34s %10.3f %10.3f %10.3f\n", name, v[n / 2] / 1e6,
	       v[(size_t)((n - 1) * 0.99)] / 1e6, v[n - 1] / 1e6);
}

int main(int argc, char **argv)
{
	unsigned int rounds = argc > 1 ? (unsigned int)atoi(argv[1]) : 200;
	struct phloem_config boot, cfg;
	struct phloem_stats s0, s1;
	struct phloem_record shed, rest;
	uint64_t *lat, *det, t0, t1, base[PHLOEM_LAT_BUCKETS];
	unsigned int i, n = 0, missed = 0, no_restore = 0;
	int fd;

	fd = open("/dev/phloem0", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("/dev/phloem0 (load phloem.ko and phloem_sim.ko)");
	lat = calloc(rounds, sizeof(*lat));
	det = calloc(rounds, sizeof(*det));
	if (!lat || !det)
		die("calloc");

	memset(&boot, 0, sizeof(boot));
	boot.size = sizeof(boot);
	xioctl(fd, PHLOEM_IOC_GET_CONFIG, &boot, "GET_CONFIG");

	/* a quiet house: only the garage moves */
	sim_set("relay2/load_ma", 0);
	sim_set("relay3/load_ma", 0);
	sim_set("relay5/load_ma", 0);
	sim_set("relay6/load_ma", 0);
	sim_set("relay0/load_ma", 3000);
	sim_set("relay1/load_ma", 0);
	usleep(200000);

	cfg = boot;
	cfg.circuit[GARAGE].limit_ma = 5000;
	cfg.relay[R_EV].min_off_ms = 50;
	cfg.restore_delay_ms = 40;
	cfg.retrip_window_ms = 0;	/* every round starts at backoff 0 */
	cfg.stale_ms = 2000;		/* TCG hiccups are not what we measure */
	xioctl(fd, PHLOEM_IOC_SET_CONFIG, &cfg, "SET_CONFIG");
	usleep(300000);

	memset(&s0, 0, sizeof(s0));
	s0.size = sizeof(s0);
	xioctl(fd, PHLOEM_IOC_GET_STATS, &s0, "GET_STATS");
	memcpy(base, s0.lat_hist, sizeof(base));
	t0 = now_ns();
	for (i = 0; i < rounds; i++) {
		long long at;

		/* 3 A + 4 A = 7 A > 6.25 A */
		sim_set("relay1/step_load_ma", 4000);
		sim_set("relay1/step_in_ms", 0);
		at = sim_get("step_at_ns");
		if (!wait_event(fd, PHLOEM_EV_SHED, R_EV, 5000, &shed)) {
			missed++;
			sim_set("relay1/load_ma", 0);
			usleep(200000);
			continue;
		}
		lat[n] = shed.event.latency_ns;
		det[n] = shed.event.trigger_ns > (uint64_t)at ?
			 shed.event.trigger_ns - at : 0;
		n++;
		/* the load estimate needs the first full cycle after the shed */
		usleep(60000);
		sim_set("relay1/load_ma", 0);
		if (!wait_event(fd, PHLOEM_EV_RESTORE, R_EV, 5000, &rest))
			no_restore++;
	}
	t1 = now_ns();
	memset(&s1, 0, sizeof(s1));
	s1.size = sizeof(s1);
	xioctl(fd, PHLOEM_IOC_GET_STATS, &s1, "GET_STATS");
	xioctl(fd, PHLOEM_IOC_SET_CONFIG, &boot, "SET_CONFIG (restore)");
	if (!n) {
		fprintf(stderr, "phloem_bench: no shed observed\n");
		return 1;
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	qsort(det, n, sizeof(*det), cmp_u64);

	printf("\nphloem shed latency, %u overloads shed (%u not shed, %u not restored within 5 s) in %.1f s\n",
	       n, missed, no_restore, (t1 - t0) / 1e9);
	printf("emulated (QEMU TCG, no KVM): functional figure, not a hardware timing\n\n");
	printf("  %-34s %10s %10s %10s\n", "ms", "p50", "p99", "max");
	row("sample -> relay (EV_SHED records)", lat, n);
	printf("  %-34s %10.3f %10.3f %10.3f\n", "sample -> relay (kernel histogram)*",
	       hist_pct(&s1, base, 50) / 1e6, hist_pct(&s1, base, 99) / 1e6,
	       s1.lat_max_ns / 1e6);
	row("load step -> trigger sample", det, n);
	printf("  * upper bound of the histogram bucket; max is lat_max_ns "
	       "(since probe)\n\n");
	printf("  %-34s %10.0f (configured %u)\n", "samples/s per channel",
	       (s1.samples - s0.samples) / ((t1 - t0) / 1e9), boot.sample_rate_hz);
	printf("  %-34s %10.1f (mains 50 Hz)\n", "cycles/s",
	       (s1.cycles - s0.cycles) / ((t1 - t0) / 1e9));
	printf("  %-34s %10llu\n", "overruns",
	       (unsigned long long)(s1.overruns - s0.overruns));
	printf("  %-34s %10llu\n", "ADC errors",
	       (unsigned long long)(s1.adc_errors - s0.adc_errors));
	printf("  %-34s %10llu / %llu\n", "sheds / restores",
	       (unsigned long long)(s1.sheds - s0.sheds),
	       (unsigned long long)(s1.restores - s0.restores));
	return missed > n / 10;
}
