// SPDX-License-Identifier: GPL-2.0
/*
 * phloem_nl_bench: the generic netlink family's costs, in the VM.
 *
 *   1. round trips per second of a GET_DEVICE doit (the biggest reply: a
 *      whole device with its channels, circuits and relays) and of
 *      GET_STATS, against CTRL_CMD_GETFAMILY (the controller's own trivial
 *      doit) as the baseline of what a genl round trip costs at all;
 *   2. the event path: SET_RELAY override ON/OFF as fast as one thread can
 *      issue them, each producing a PHLOEM_EV_OVERRIDE, first with nobody
 *      on the "events" group (the publish path must then cost nothing),
 *      then with a listener thread counting what it receives;
 *   3. the event path alone in the kernel (function_graph on
 *      phloem_nl_multicast_event), with and without a listener.
 *
 * Run as root with phloem.ko bound to phloem_sim.ko (make bench-netlink).
 * Under QEMU TCG the figures are emulated, not a Raspberry Pi's: compare
 * the rows with each other, not with hardware.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/phloem.h>

#define RUN_S		1	/* seconds per round-trip measurement */
#define STORM_S		2	/* seconds per storm */
#define RELAY		3	/* the simulated board's oven */

struct req {
	union {
		struct nlmsghdr nlh;
		char buf[512];
	};
};

static int sock_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	int big = 1 << 20;

	if (fd < 0) {
		perror("phloem_nl_bench: socket");
		exit(1);
	}
	/* Room for a storm's backlog; counted drops are reported anyway */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	return fd;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void req_init(struct req *r, uint16_t type, uint8_t cmd, uint8_t ver,
		     uint16_t flags)
{
	struct genlmsghdr *g;

	memset(r, 0, sizeof(*r));
	r->nlh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	r->nlh.nlmsg_type = type;
	r->nlh.nlmsg_flags = NLM_F_REQUEST | flags;
	g = NLMSG_DATA(&r->nlh);
	g->cmd = cmd;
	g->version = ver;
}

static struct nlattr *req_put(struct req *r, uint16_t type, const void *d,
			      int len)
{
	struct nlattr *a = (void *)(r->buf + NLMSG_ALIGN(r->nlh.nlmsg_len));

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy((char *)a + NLA_HDRLEN, d, len);
	r->nlh.nlmsg_len = NLMSG_ALIGN(r->nlh.nlmsg_len) + NLA_ALIGN(a->nla_len);
	return a;
}

static void req_u32(struct req *r, uint16_t type, uint32_t v)
{
	req_put(r, type, &v, sizeof(v));
}

/*
 * Send @r and read until its answer: a data message (a doit without ACK)
 * or an error/ACK. Return: 0, or the negative errno the kernel sent.
 */
static int call(int fd, struct req *r, char *buf, size_t bufsz)
{
	static uint32_t seq;
	int ret = 1;

	r->nlh.nlmsg_seq = ++seq;
	if (send(fd, r->buf, r->nlh.nlmsg_len, 0) < 0)
		return -errno;
	while (ret > 0) {
		ssize_t n = recv(fd, buf, bufsz, 0);
		struct nlmsghdr *h;

		if (n < 0)
			return -errno;
		for (h = (void *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR)
				ret = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
			else
				ret = 0;
			break;
		}
	}
	return ret;
}

/* NLA_OK with a signed remaining length */
static inline bool NLA_OK_(const struct nlattr *a, int len)
{
	return len >= (int)NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
	       a->nla_len <= len;
}

static uint16_t family;
static uint32_t grp_events;

static void resolve(int fd)
{
	static char buf[16384];
	struct nlmsghdr *h = (void *)buf;
	struct nlattr *a, *g, *ga;
	struct req r;
	int len, glen, galen;

	req_init(&r, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 2, 0);
	req_put(&r, CTRL_ATTR_FAMILY_NAME, PHLOEM_GENL_NAME,
		sizeof(PHLOEM_GENL_NAME));
	if (call(fd, &r, buf, sizeof(buf)) || h->nlmsg_type == NLMSG_ERROR) {
		fprintf(stderr, "phloem_nl_bench: family \"%s\" not found\n",
			PHLOEM_GENL_NAME);
		exit(1);
	}
	len = h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
	for (a = (void *)((char *)NLMSG_DATA(h) + GENL_HDRLEN); NLA_OK_(a, len);
	     len -= NLA_ALIGN(a->nla_len), a = (void *)((char *)a + NLA_ALIGN(a->nla_len))) {
		if (a->nla_type == CTRL_ATTR_FAMILY_ID)
			family = *(uint16_t *)((char *)a + NLA_HDRLEN);
		if ((a->nla_type & NLA_TYPE_MASK) != CTRL_ATTR_MCAST_GROUPS)
			continue;
		glen = a->nla_len - NLA_HDRLEN;
		for (g = (void *)((char *)a + NLA_HDRLEN); NLA_OK_(g, glen);
		     glen -= NLA_ALIGN(g->nla_len), g = (void *)((char *)g + NLA_ALIGN(g->nla_len))) {
			uint32_t id = 0;
			bool ours = false;

			galen = g->nla_len - NLA_HDRLEN;
			for (ga = (void *)((char *)g + NLA_HDRLEN); NLA_OK_(ga, galen);
			     galen -= NLA_ALIGN(ga->nla_len), ga = (void *)((char *)ga + NLA_ALIGN(ga->nla_len))) {
				if (ga->nla_type == CTRL_ATTR_MCAST_GRP_ID)
					id = *(uint32_t *)((char *)ga + NLA_HDRLEN);
				if (ga->nla_type == CTRL_ATTR_MCAST_GRP_NAME &&
				    !strcmp((char *)ga + NLA_HDRLEN, PHLOEM_GENL_MCGRP_EVENTS))
					ours = true;
			}
			if (ours)
				grp_events = id;
		}
	}
	if (!family || !grp_events) {
		fprintf(stderr, "phloem_nl_bench: family or events group missing\n");
		exit(1);
	}
}

#define ROUNDS		3	/* interleaved rounds; the median is shown */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median, lowest and highest of ROUNDS rates */
static void row(const char *what, double *rate, const char *unit)
{
	qsort(rate, ROUNDS, sizeof(*rate), cmp_double);
	printf("%-40s %9.0f %-14s %8.1f us  (%.0f..%.0f)\n", what,
	       rate[ROUNDS / 2], unit, 1e6 / rate[ROUNDS / 2], rate[0],
	       rate[ROUNDS - 1]);
}

/*
 * In-kernel cost of the event path per event, from function_graph on
 * phloem_nl_multicast_event() (listener check, allocation, formatting,
 * multicast): on its own, without the request and relay work around it.
 * Tracing adds its own overhead to each figure. Optional: skipped when
 * tracefs is not there.
 */
#define TRACING		"/sys/kernel/debug/tracing"
#define TRACED_FN	"phloem_nl_multicast_event"
#define TRACE_MAX	(1 << 16)	/* calls kept per storm */

static bool trace_write(const char *file, const char *val)
{
	char path[128];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), TRACING "/%s", file);
	f = fopen(path, "w");
	if (!f)
		return false;
	ok = fputs(val, f) >= 0;
	return fclose(f) == 0 && ok;
}

static bool trace_start(void)
{
	return trace_write("tracing_on", "0") &&
	       trace_write("current_tracer", "nop") &&
	       trace_write("set_ftrace_filter", TRACED_FN) &&
	       trace_write("current_tracer", "function_graph") &&
	       trace_write("trace", "") &&
	       trace_write("tracing_on", "1");
}

/* Durations (us) of the traced calls since trace_start(); then stops */
static unsigned long trace_collect(double *us, unsigned long max)
{
	char line[512];
	unsigned long n = 0;
	FILE *f;

	trace_write("tracing_on", "0");
	f = fopen(TRACING "/trace", "r");
	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		char *bar = strchr(line, '|'), *u, *p;

		if (!bar || !strstr(bar, TRACED_FN))
			continue;
		*bar = 0;
		u = strstr(line, " us");
		if (!u)
			continue;
		for (p = u; p > line && (p[-1] == '.' || (p[-1] >= '0' && p[-1] <= '9')); p--)
			;
		us[n++] = strtod(p, NULL);
	}
	fclose(f);
	trace_write("current_tracer", "nop");
	trace_write("set_ftrace_filter", "");
	return n;
}

static void trace_row(const char *what, double *us, unsigned long n)
{
	if (!n) {
		printf("%-40s (no calls traced)\n", what);
		return;
	}
	qsort(us, n, sizeof(*us), cmp_double);
	printf("%-40s %9.1f us median, %.1f us p99, %.1f us max (%lu calls)\n",
	       what, us[n / 2], us[n * 99 / 100], us[n - 1], n);
}

/* Requests per second of @r, answered one at a time, for @secs */
static double round_trips(int fd, const char *what, struct req *r,
			  double secs)
{
	static char buf[65536];
	double t0 = now_s(), t;
	unsigned long n = 0;
	int err;

	do {
		err = call(fd, r, buf, sizeof(buf));
		if (err) {
			fprintf(stderr, "phloem_nl_bench: %s: %s\n", what,
				strerror(-err));
			exit(1);
		}
		n++;
		t = now_s();
	} while (t - t0 < secs);
	return n / (t - t0);
}

static void override_req(struct req *r, uint32_t mode)
{
	struct nlattr *nest;

	req_init(r, family, PHLOEM_CMD_SET_RELAY, PHLOEM_GENL_VERSION,
		 NLM_F_ACK);
	req_u32(r, PHLOEM_A_DEV_INDEX, 0);
	nest = req_put(r, PHLOEM_A_RELAY | NLA_F_NESTED, NULL, 0);
	req_u32(r, PHLOEM_A_RELAY_INDEX, RELAY);
	req_u32(r, PHLOEM_A_RELAY_OVERRIDE, mode);
	req_u32(r, PHLOEM_A_RELAY_OVERRIDE_MS, 60000);
	nest->nla_len = r->buf + r->nlh.nlmsg_len - (char *)nest;
}

struct listener {
	int fd;
	volatile bool stop;
	volatile unsigned long events, overrides, drops;
};

static void *listen_fn(void *arg)
{
	static char buf[1 << 16];
	struct listener *l = arg;
	struct pollfd p = { .fd = l->fd, .events = POLLIN };

	while (!l->stop) {
		ssize_t n;
		struct nlmsghdr *h;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(l->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ENOBUFS)
				l->drops++;
			continue;
		}
		for (h = (void *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			struct genlmsghdr *g = NLMSG_DATA(h);
			struct nlattr *a = (void *)((char *)g + GENL_HDRLEN);
			int len = h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);

			if (h->nlmsg_type != family || g->cmd != PHLOEM_CMD_EVENT)
				continue;
			l->events++;
			for (; NLA_OK_(a, len); len -= NLA_ALIGN(a->nla_len),
			     a = (void *)((char *)a + NLA_ALIGN(a->nla_len))) {
				struct nlattr *e = (void *)((char *)a + NLA_HDRLEN);
				int elen = a->nla_len - NLA_HDRLEN;

				if ((a->nla_type & NLA_TYPE_MASK) != PHLOEM_A_EVENT)
					continue;
				for (; NLA_OK_(e, elen); elen -= NLA_ALIGN(e->nla_len),
				     e = (void *)((char *)e + NLA_ALIGN(e->nla_len)))
					if (e->nla_type == PHLOEM_A_EV_KIND &&
					    *(uint32_t *)((char *)e + NLA_HDRLEN) ==
					    PHLOEM_EV_OVERRIDE)
						l->overrides++;
			}
		}
	}
	return NULL;
}

/* Override ON/OFF as fast as answered, for @secs; requests per second */
static double storm(int fd, struct req *on, struct req *off, double secs,
		    unsigned long *count)
{
	static char buf[8192];
	unsigned long n = 0;
	double t0 = now_s(), t;
	int err;

	do {
		err = call(fd, n & 1 ? off : on, buf, sizeof(buf));
		if (err) {
			fprintf(stderr, "phloem_nl_bench: SET_RELAY: %s\n",
				strerror(-err));
			exit(1);
		}
		n++;
		t = now_s();
	} while (t - t0 < secs);
	*count += n;
	return n / (t - t0);
}

static void membership(int fd, int opt)
{
	if (setsockopt(fd, SOL_NETLINK, opt, &grp_events, sizeof(grp_events))) {
		perror("phloem_nl_bench: group membership");
		exit(1);
	}
}

int main(void)
{
	static char buf[8192];
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	double getfam[ROUNDS], getdev[ROUNDS], getstats[ROUNDS];
	double quiet[ROUNDS], heard[ROUNDS], evrate[ROUNDS];
	unsigned long total = 0, ev0, nquiet = 0, nheard = 0, events;
	static double us_quiet[TRACE_MAX], us_heard[TRACE_MAX];
	unsigned long traced_quiet = 0, traced_heard = 0;
	bool traced = false;
	struct listener l = { 0 };
	struct req fam, dev, stats, on, off, r;
	pthread_t th;
	int fd = sock_open();
	int i;

	resolve(fd);
	req_init(&fam, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 2, 0);
	req_put(&fam, CTRL_ATTR_FAMILY_NAME, PHLOEM_GENL_NAME,
		sizeof(PHLOEM_GENL_NAME));
	req_init(&dev, family, PHLOEM_CMD_GET_DEVICE, PHLOEM_GENL_VERSION, 0);
	req_u32(&dev, PHLOEM_A_DEV_INDEX, 0);
	req_init(&stats, family, PHLOEM_CMD_GET_STATS, PHLOEM_GENL_VERSION, 0);
	req_u32(&stats, PHLOEM_A_DEV_INDEX, 0);
	override_req(&on, PHLOEM_OVERRIDE_ON);
	override_req(&off, PHLOEM_OVERRIDE_OFF);

	/*
	 * The listener is bound, so it has a port id: the kernel multicasts
	 * with port id 0 as the sender, and a socket still at 0 would be
	 * skipped as if it were the sender itself. It stays up throughout;
	 * only its membership of the group is switched, so the "no listener"
	 * and "listener" storms differ in nothing else.
	 */
	l.fd = sock_open();
	if (bind(l.fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("phloem_nl_bench: bind");
		return 1;
	}
	if (pthread_create(&th, NULL, listen_fn, &l)) {
		fprintf(stderr, "phloem_nl_bench: cannot start the listener\n");
		return 1;
	}

	/* Interleaved rounds: a stall of the emulator hits one round of one row */
	for (i = 0; i < ROUNDS; i++) {
		getfam[i] = round_trips(fd, "GETFAMILY", &fam, RUN_S);
		getdev[i] = round_trips(fd, "GET_DEVICE", &dev, RUN_S);
		getstats[i] = round_trips(fd, "GET_STATS", &stats, RUN_S);

		quiet[i] = storm(fd, &on, &off, STORM_S, &nquiet);
		membership(l.fd, NETLINK_ADD_MEMBERSHIP);
		ev0 = l.overrides;
		heard[i] = storm(fd, &on, &off, STORM_S, &nheard);
		usleep(300000);		/* let the listener drain */
		membership(l.fd, NETLINK_DROP_MEMBERSHIP);
		evrate[i] = (l.overrides - ev0) / (double)STORM_S;
		total += l.overrides - ev0;
	}

	events = l.events;

	/* The event path alone, traced: nobody listening, then one listener */
	if (trace_start()) {
		unsigned long dummy = 0;

		storm(fd, &on, &off, STORM_S, &dummy);
		traced_quiet = trace_collect(us_quiet, TRACE_MAX);
		membership(l.fd, NETLINK_ADD_MEMBERSHIP);
		traced = trace_start();
		storm(fd, &on, &off, STORM_S, &dummy);
		usleep(300000);
		membership(l.fd, NETLINK_DROP_MEMBERSHIP);
		traced_heard = trace_collect(us_heard, TRACE_MAX);
	}
	l.stop = true;
	pthread_join(th, NULL);

	printf("phloem generic netlink: emulated (QEMU TCG) figures, compare rows with each other, not with hardware\n");
	printf("%-40s %9s %-14s %11s  %s\n", "operation", "median", "", "per op",
	       "(min..max)");
	row("CTRL_CMD_GETFAMILY doit (baseline)", getfam, "round trips/s");
	row("PHLOEM_CMD_GET_DEVICE doit", getdev, "round trips/s");
	row("PHLOEM_CMD_GET_STATS doit", getstats, "round trips/s");
	row("SET_RELAY override, nobody listening", quiet, "requests/s");
	row("SET_RELAY override, 1 listener", heard, "requests/s");
	row("  EV_OVERRIDE delivered to it", evrate, "events/s");
	printf("  listener storms: %lu requests, %lu EV_OVERRIDE received (%lu events in all), %lu ENOBUFS\n",
	       nheard, total, events, l.drops);
	printf("  quiet storms: %lu requests, nothing formatted or sent (no listener)\n",
	       nquiet);

	if (traced) {
		printf("event path per event (function_graph on %s, tracing overhead included):\n",
		       TRACED_FN);
		trace_row("  nobody listening", us_quiet, traced_quiet);
		trace_row("  1 listener (GFP_ATOMIC, multicast)", us_heard, traced_heard);
	} else {
		printf("event path per event: not measured (no tracefs at %s)\n",
		       TRACING);
	}

	/* Leave the relay to policy */
	override_req(&r, PHLOEM_OVERRIDE_AUTO);
	return call(fd, &r, buf, sizeof(buf)) ? 1 : 0;
}
