// SPDX-License-Identifier: GPL-2.0
/*
 * hub: tests/netns/hub.py in C, same command line and stats file. A lossy,
 * reordering Ethernet switch between interfaces for kernels without
 * sch_netem: a frame for a learnt unicast MAC goes to that port, any other
 * to every other port; each copy is dropped with probability LOSS/100 and
 * otherwise sent after a uniform random delay in [0, DELAY_MS), so frames
 * sent close together overtake each other. UDP checksums are completed
 * (a veth hands AF_PACKET its frames before checksum offload fills them in).
 *
 * Why C: at 50 gateways the Python hub, on a loaded 2-core machine, queued
 * frames for hundreds of milliseconds, and its delays, not the loss being
 * measured, made SWIM suspect members (bench-netns at 10% loss).
 *
 * hub [--loss PCT] [--delay-ms MS] [--stats FILE] PORT...
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXP	128
#define MAXQ	65536
#define MAXMAC	512

struct qf { double due; uint64_t seq; int port; uint16_t len; uint8_t *buf; };
static struct qf q[MAXQ];
static int nq;
/* kdrp: the kernel's, our receive queue full; txf: sends that failed */
static uint64_t fwd, drp, qseq, kdrp, txf;

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int before(const struct qf *a, const struct qf *b)
{
	return a->due != b->due ? a->due < b->due : a->seq < b->seq;
}

static void qpush(struct qf f)
{
	int i;

	for (i = nq++; i > 0 && before(&f, &q[(i - 1) / 2]); i = (i - 1) / 2)
		q[i] = q[(i - 1) / 2];
	q[i] = f;
}

static struct qf qpop(void)
{
	struct qf top = q[0], last = q[--nq];
	int i = 0;

	for (;;) {
		int c = 2 * i + 1;

		if (c >= nq)
			break;
		if (c + 1 < nq && before(&q[c + 1], &q[c]))
			c++;
		if (!before(&q[c], &last))
			break;
		q[i] = q[c];
		i = c;
	}
	if (nq)
		q[i] = last;
	return top;
}

static uint16_t csum(const uint8_t *p, size_t n, uint32_t s)
{
	for (; n > 1; p += 2, n -= 2)
		s += (uint32_t)p[0] << 8 | p[1];
	if (n)
		s += (uint32_t)p[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* RFC 768 / RFC 8200 8.1, as hub.py's fix_udp() */
static void fix_udp(uint8_t *f, size_t len)
{
	size_t u, ulen;
	uint32_t s = 0;
	uint16_t c;

	if (len < 14)
		return;
	if (f[12] == 0x08 && f[13] == 0x00 && len >= 34 && f[23] == 17) {
		u = 14 + (f[14] & 15) * 4;
		if (u + 8 > len)
			return;
		ulen = (size_t)f[u + 4] << 8 | f[u + 5];
		if (ulen < 8 || u + ulen > len)
			return;
		for (int i = 26; i < 34; i += 2)
			s += (uint32_t)f[i] << 8 | f[i + 1];
	} else if (f[12] == 0x86 && f[13] == 0xdd && len >= 62 && f[20] == 17) {
		u = 54;
		ulen = (size_t)f[u + 4] << 8 | f[u + 5];
		if (ulen < 8 || u + ulen > len)
			return;
		for (int i = 22; i < 54; i += 2)
			s += (uint32_t)f[i] << 8 | f[i + 1];
	} else {
		return;
	}
	s += 17 + (uint32_t)ulen;
	f[u + 6] = f[u + 7] = 0;
	c = csum(f + u, ulen, s);
	if (!c)
		c = 0xffff;
	f[u + 6] = c >> 8;
	f[u + 7] = c & 0xff;
}

static void stats(const char *path, const struct pollfd *pfd, int np)
{
	char tmp[4096];
	FILE *f;

	/* frames the kernel dropped before we read them: lost to the hub's
	 * own slowness, not to the loss being simulated (read and reset) */
	for (int p = 0; p < np; p++) {
		struct tpacket_stats ts;
		socklen_t l = sizeof(ts);

		if (!getsockopt(pfd[p].fd, SOL_PACKET, PACKET_STATISTICS, &ts, &l))
			kdrp += ts.tp_drops;
	}
	if (!path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "forwarded %llu\ndropped %llu\nqueued %d\nrx_overflow %llu\ntx_failed %llu\n",
		(unsigned long long)fwd, (unsigned long long)drp, nq,
		(unsigned long long)kdrp, (unsigned long long)txf);
	fclose(f);
	rename(tmp, path);
}

int main(int argc, char **argv)
{
	double loss = 0, delay = 0, last_stats = 0;
	const char *stats_path = NULL;
	struct pollfd pfd[MAXP];
	struct { uint8_t mac[6]; int port; } macs[MAXMAC];
	int np = 0, nmac = 0, i;
	uint8_t buf[65536];

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--loss") && i + 1 < argc)
			loss = atof(argv[++i]);
		else if (!strcmp(argv[i], "--delay-ms") && i + 1 < argc)
			delay = atof(argv[++i]);
		else if (!strcmp(argv[i], "--stats") && i + 1 < argc)
			stats_path = argv[++i];
		else
			break;
	}
	if (loss < 0 || loss > 100 || delay < 0 || i == argc || argc - i > MAXP) {
		fprintf(stderr, "usage: hub [--loss 0..100] [--delay-ms MS] [--stats FILE] PORT... (at most %d)\n", MAXP);
		return 2;
	}
	srand48((long)time(NULL) ^ getpid());
	for (; i < argc; i++, np++) {
		struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
		int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));

		sll.sll_ifindex = (int)if_nametoindex(argv[i]);
		if (fd < 0 || !sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
			fprintf(stderr, "hub: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		pfd[np].fd = fd;
		pfd[np].events = POLLIN;
	}
	stats(stats_path, pfd, np);
	for (;;) {
		double now = mono();
		int timeout = 1000;

		while (nq && q[0].due <= now) {
			struct qf f = qpop();

			/* a port torn down or its queue full: the frame is lost */
			if (send(pfd[f.port].fd, f.buf, f.len, 0) != f.len)
				txf++;
			free(f.buf);
		}
		if (nq)
			timeout = (int)((q[0].due - now) * 1000) + 1;
		if (poll(pfd, (nfds_t)np, timeout) < 0 && errno != EINTR)
			return 1;
		for (int p = 0; p < np; p++) {
			if (!(pfd[p].revents & POLLIN))
				continue;
			for (;;) {
				struct sockaddr_ll from;
				socklen_t fl = sizeof(from);
				ssize_t n = recvfrom(pfd[p].fd, buf, sizeof(buf), 0,
						     (struct sockaddr *)&from, &fl);
				int dst = -1, m;

				if (n < 0)
					break;
				/* our own transmissions come back as outgoing */
				if (from.sll_pkttype == PACKET_OUTGOING || n < 14)
					continue;
				if (!(buf[6] & 1)) {
					for (m = 0; m < nmac && memcmp(macs[m].mac, buf + 6, 6); m++)
						;
					if (m == nmac && nmac < MAXMAC)
						nmac++;
					if (m < MAXMAC) {
						memcpy(macs[m].mac, buf + 6, 6);
						macs[m].port = p;
					}
				}
				if (!(buf[0] & 1))
					for (m = 0; m < nmac; m++)
						if (!memcmp(macs[m].mac, buf, 6))
							dst = macs[m].port;
				fix_udp(buf, (size_t)n);
				now = mono();
				for (int o = 0; o < np; o++) {
					struct qf f;

					if (o == p || (dst >= 0 && o != dst))
						continue;
					if (drand48() * 100 < loss) {
						drp++;
						continue;
					}
					if (nq == MAXQ) {
						drp++;
						continue;
					}
					f.buf = malloc((size_t)n);
					if (!f.buf)
						return 1;
					memcpy(f.buf, buf, (size_t)n);
					f.len = (uint16_t)n;
					f.port = o;
					f.due = now + drand48() * delay / 1000;
					f.seq = qseq++;
					fwd++;
					qpush(f);
				}
			}
		}
		if (mono() - last_stats >= 1) {
			last_stats = mono();
			stats(stats_path, pfd, np);
		}
	}
}
