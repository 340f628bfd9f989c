// SPDX-License-Identifier: GPL-2.0
/*
 * phloem_watch: live readings of /dev/phloemN for a person watching.
 *
 *   phloem_watch [-d DEV] [-e CYCLES] [-t SECONDS]
 *   phloem_watch [-d DEV] -S
 *
 * Prints one aligned line every CYCLES mains cycles (default 25, half a
 * second): time, then the mean over those cycles of voltage, frequency,
 * current and real power of every circuit, and the relays (capital initial: on, '.': off, lower-case: shed
 * by a rule). Every event is printed as it arrives, a shed with its
 * sample-to-relay latency. Stops after SECONDS (default: never).
 * -S prints the driver's counters (PHLOEM_IOC_GET_STATS) and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/phloem.h>

static const char *const ev_name[__PHLOEM_EV_MAX] = {
	"?", "OVERLOAD", "SHED", "RESTORE", "FAILSAFE", "FAILSAFE END",
	"LEASE EXPIRED", "ADC FAULT", "OVERRIDE", "CONFIG",
};

static const char *const cause_name[__PHLOEM_CAUSE_MAX] = {
	"", "instantaneous", "thermal", "site import", "manual", "lease",
	"ADC error", "stale samples", "unload", "headroom",
};

static void die(const char *what)
{
	fprintf(stderr, "phloem_watch: %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct phloem_info info;
static uint64_t t_start;

static double secs(uint64_t t)
{
	return (t - t_start) / 1e9;
}

static void header(void)
{
	unsigned int c;

	printf("%8s %7s %7s", "t/s", "V", "Hz");
	for (c = 0; c < info.ncircuits; c++)
		printf(" %9s A/kW   ", info.circuit[c].name);
	printf(" relays\n");
}

static void relays(uint32_t on, uint32_t shed, char *out)
{
	unsigned int r;

	for (r = 0; r < info.nrelays; r++) {
		char ch = info.relay[r].name[0];

		if (shed & (1u << r))
			out[r] = ch | 0x20;		/* lower case: shed */
		else if (on & (1u << r))
			out[r] = ch & ~0x20;		/* capital: on */
		else
			out[r] = '.';
	}
	out[r] = 0;
}

/*
 * Sums over the cycles of one printed line: a single cycle measured under
 * emulation is noisy (few, unevenly spaced samples), the mean over the
 * line's cycles is what a meter display would show.
 */
static struct {
	unsigned int n, nf;
	double v, f, i[PHLOEM_MAX_CIRCUITS], p[PHLOEM_MAX_CIRCUITS];
} acc;

static void accumulate(const struct phloem_rec_cycle *c)
{
	unsigned int i;

	acc.n++;
	acc.v += c->chan[0].rms;
	if (!(c->state & PHLOEM_STATE_F_NO_MAINS) && c->freq_mhz) {
		acc.f += c->freq_mhz;
		acc.nf++;
	}
	for (i = 0; i < info.ncircuits; i++) {
		const struct phloem_chan_cycle *ch = &c->chan[info.circuit[i].channel];

		acc.i[i] += ch->rms;
		acc.p[i] += ch->p_mw;
	}
}

static void cycle_line(const struct phloem_record *r)
{
	const struct phloem_rec_cycle *c = &r->cycle;
	char rl[PHLOEM_MAX_RELAYS + 1];
	unsigned int i;

	printf("%8.2f %7.1f %7.3f", secs(r->hdr.time_ns), acc.v / acc.n / 1000.0,
	       acc.nf ? acc.f / acc.nf / 1000.0 : 0.0);
	for (i = 0; i < info.ncircuits; i++)
		printf(" %6.1f A %5.2f kW", acc.i[i] / acc.n / 1000.0,
		       acc.p[i] / acc.n / 1e6);
	memset(&acc, 0, sizeof(acc));
	relays(c->relays_on, c->relays_shed, rl);
	printf("  %s%s\n", rl, c->state & PHLOEM_STATE_F_FAILSAFE ? " FAILSAFE" : "");
}

static void event_line(const struct phloem_record *r)
{
	const struct phloem_rec_event *e = &r->event;
	const char *kind = e->kind < __PHLOEM_EV_MAX ? ev_name[e->kind] : "?";
	const char *cause = e->cause < __PHLOEM_CAUSE_MAX ? cause_name[e->cause] : "?";

	printf("%8.2f  >>> %-13s", secs(r->hdr.time_ns), kind);
	if (e->relay != PHLOEM_NONE && e->relay < info.nrelays)
		printf(" %-14s", info.relay[e->relay].name);
	if (e->circuit != PHLOEM_NONE && e->circuit < info.ncircuits)
		printf(" on %-8s", info.circuit[e->circuit].name);
	if (*cause)
		printf(" (%s)", cause);
	if (e->kind == PHLOEM_EV_OVERLOAD || e->kind == PHLOEM_EV_SHED) {
		if (e->cause == PHLOEM_CAUSE_SITE_IMPORT)
			printf(" %.2f kW > %.2f kW", e->value / 1e6, e->limit / 1e6);
		else
			printf(" %.1f A > %.1f A", e->value / 1000.0, e->limit / 1000.0);
	}
	if (e->kind == PHLOEM_EV_SHED)
		printf(", relay open %.3f ms after the sample", e->latency_ns / 1e6);
	if (e->kind == PHLOEM_EV_SHED && e->backoff)
		printf(", backoff %u", e->backoff);
	printf("\n");
}

static int print_stats(int fd)
{
	struct phloem_stats s = { .size = sizeof(s) };

	if (ioctl(fd, PHLOEM_IOC_GET_STATS, &s))
		die("PHLOEM_IOC_GET_STATS");
	printf("  samples %llu, cycles %llu, overruns %llu, ADC errors %llu\n",
	       (unsigned long long)s.samples, (unsigned long long)s.cycles,
	       (unsigned long long)s.overruns, (unsigned long long)s.adc_errors);
	printf("  sheds %llu, restores %llu, failsafes %llu, lease expiries %llu\n",
	       (unsigned long long)s.sheds, (unsigned long long)s.restores,
	       (unsigned long long)s.failsafes, (unsigned long long)s.lease_expiries);
	if (s.lat_count)
		printf("  sample-to-relay latency: min %.3f ms, mean %.3f ms, max %.3f ms over %llu sheds\n",
		       s.lat_min_ns / 1e6, s.lat_sum_ns / 1e6 / s.lat_count,
		       s.lat_max_ns / 1e6, (unsigned long long)s.lat_count);
	return 0;
}

int main(int argc, char **argv)
{
	int stats = 0;
	const char *dev = "/dev/phloem0";
	unsigned int every = 25, n = 0;
	double limit_s = 0;
	struct pollfd p;
	int fd, opt;

	while ((opt = getopt(argc, argv, "d:e:t:Sh")) != -1) {
		switch (opt) {
		case 'S': stats = 1; break;
		case 'd': dev = optarg; break;
		case 'e': every = (unsigned int)atoi(optarg); break;
		case 't': limit_s = atof(optarg); break;
		default:
			fprintf(stderr, "usage: phloem_watch [-d DEV] [-e CYCLES] [-t SECONDS] | -S\n");
			return 2;
		}
	}
	if (!every)
		every = 1;
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(dev);
	info.size = sizeof(info);
	if (ioctl(fd, PHLOEM_IOC_INFO, &info))
		die("PHLOEM_IOC_INFO");
	if (stats)
		return print_stats(fd);
	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t_start = (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	header();
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	for (;;) {
		struct phloem_record r;
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (limit_s > 0 && ts.tv_sec + ts.tv_nsec / 1e9 - t_start / 1e9 >= limit_s)
			break;
		if (poll(&p, 1, 100) <= 0)
			continue;
		if (read(fd, &r, sizeof(r)) != sizeof(r)) {
			if (errno == EINTR)
				continue;
			die("read");
		}
		switch (r.hdr.type) {
		case PHLOEM_REC_CYCLE:
			accumulate(&r.cycle);
			if (++n % every == 0)
				cycle_line(&r);
			break;
		case PHLOEM_REC_EVENT:
			if (r.event.kind != PHLOEM_EV_CONFIG)
				event_line(&r);
			break;
		case PHLOEM_REC_OVERFLOW:
			printf("%8s  (%llu records lost: reader too slow)\n", "",
			       (unsigned long long)r.overflow.lost);
			break;
		}
	}
	return 0;
}
