// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "phloem" in a real kernel: phloem.ko bound to
 * phloem_sim.ko, spoken to with raw NETLINK_GENERIC sockets (no library in
 * between, so what is checked is the kernel's side of the wire).
 *
 * Every op with valid input; invalid input (unknown attribute, wrong type,
 * out-of-range and above-rating limits, missing and bad device index,
 * unknown flag bit, reply-only attribute, half-valid request) gets an error
 * with an extack message and changes nothing; without CAP_NET_ADMIN the
 * mutations get EPERM while GETs work; events reach the "events" group for
 * an overload scripted through the simulator and match the stream; the
 * family works from a new network namespace, events included.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "kselftest_harness.h"
#include "phloem_util.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

#define NL_BUF		65536
#define SLACK_MS	3000	/* TCG: wake-ups can be late by this much */

/* ------------------------------------------------------------------ */
/* A minimal generic netlink client                                    */
/* ------------------------------------------------------------------ */

struct nl {
	int fd;
	uint16_t family;
	uint32_t grp_events;
	uint32_t seq;
};

struct msg {
	union {
		struct nlmsghdr nlh;
		char buf[4096];
	};
	struct nlattr *nest[8];
	int depth;
};

/* What a request got back: errno, extack message, the reply payload. */
struct reply {
	int err;			/* 0 or -errno from NLMSG_ERROR */
	char ext[256];			/* extack message, "" when none */
	int nmsg;			/* data messages received */
	char data[NL_BUF];		/* the first data message */
	int len;
};

static void msg_init(struct msg *m, uint16_t type, uint8_t cmd, uint16_t flags)
{
	struct genlmsghdr *g;

	memset(m, 0, sizeof(*m));
	m->nlh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	m->nlh.nlmsg_type = type;
	m->nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	g = NLMSG_DATA(&m->nlh);
	g->cmd = cmd;
	g->version = PHLOEM_GENL_VERSION;
}

static void msg_put(struct msg *m, uint16_t type, const void *data, int len)
{
	struct nlattr *a = (void *)(m->buf + NLMSG_ALIGN(m->nlh.nlmsg_len));

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy((char *)a + NLA_HDRLEN, data, len);
	m->nlh.nlmsg_len = NLMSG_ALIGN(m->nlh.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static void msg_u32(struct msg *m, uint16_t type, uint32_t v)
{
	msg_put(m, type, &v, sizeof(v));
}

static void msg_str(struct msg *m, uint16_t type, const char *s)
{
	msg_put(m, type, s, strlen(s) + 1);
}

static void nest_start(struct msg *m, uint16_t type)
{
	m->nest[m->depth++] = (void *)(m->buf + NLMSG_ALIGN(m->nlh.nlmsg_len));
	msg_put(m, type | NLA_F_NESTED, NULL, 0);
}

static void nest_end(struct msg *m)
{
	struct nlattr *a = m->nest[--m->depth];

	a->nla_len = m->buf + m->nlh.nlmsg_len - (char *)a;
}

static int nl_open(struct nl *nl)
{
	int one = 1;

	memset(nl, 0, sizeof(*nl));
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (nl->fd < 0)
		return -errno;
	if (setsockopt(nl->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)))
		return -errno;
	return 0;
}

/* Walk the attributes of [p, p+len) into tb[0..max]. */
static void attrs_parse(const void *p, int len, const struct nlattr **tb,
			int max)
{
	const struct nlattr *a = p;

	memset(tb, 0, sizeof(*tb) * (max + 1));
	while (len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
	       a->nla_len <= len) {
		int t = a->nla_type & NLA_TYPE_MASK;

		if (t <= max)
			tb[t] = a;
		len -= NLA_ALIGN(a->nla_len);
		a = (const void *)((const char *)a + NLA_ALIGN(a->nla_len));
	}
}

static const void *nla_data(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}

static int nla_len(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

static uint32_t nla_u32(const struct nlattr *a)
{
	return a ? *(const uint32_t *)nla_data(a) : 0xdeadbeef;
}

static uint64_t nla_u64(const struct nlattr *a)
{
	uint64_t v;

	if (!a)
		return ~0ULL;
	memcpy(&v, nla_data(a), sizeof(v));
	return v;
}

/* Attributes of the message in @r->data (after the genl header). */
static void reply_attrs(const struct reply *r, const struct nlattr **tb,
			int max)
{
	const struct nlmsghdr *h = (const void *)r->data;

	attrs_parse((const char *)NLMSG_DATA(h) + GENL_HDRLEN,
		    h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN), tb, max);
}

/* Items of a list nest: calls @fn on each item's attributes. */
static int list_count(const struct nlattr *list)
{
	const struct nlattr *a;
	int len, n = 0;

	if (!list)
		return -1;
	a = nla_data(list);
	len = nla_len(list);
	while (len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN) {
		n++;
		len -= NLA_ALIGN(a->nla_len);
		a = (const void *)((const char *)a + NLA_ALIGN(a->nla_len));
	}
	return n;
}

/* The @i-th item of a list nest, parsed into tb[0..max]; false if none. */
static bool list_item(const struct nlattr *list, int i,
		      const struct nlattr **tb, int max)
{
	const struct nlattr *a = nla_data(list);
	int len = nla_len(list);

	while (len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN) {
		if (!i--) {
			attrs_parse(nla_data(a), nla_len(a), tb, max);
			return true;
		}
		len -= NLA_ALIGN(a->nla_len);
		a = (const void *)((const char *)a + NLA_ALIGN(a->nla_len));
	}
	return false;
}

/* Send @m, read until the ACK/error or the end of a dump. */
static int nl_call(struct nl *nl, struct msg *m, struct reply *r)
{
	static char buf[NL_BUF];
	bool done = false;

	memset(r, 0, offsetof(struct reply, data));
	m->nlh.nlmsg_seq = ++nl->seq;
	if (send(nl->fd, m->buf, m->nlh.nlmsg_len, 0) < 0)
		return -errno;

	while (!done) {
		ssize_t n = recv(nl->fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n < 0)
			return -errno;
		for (h = (void *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != nl->seq)
				continue;	/* a stray multicast or old reply */
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
				int off = sizeof(*e);

				r->err = e->error;
				if (!(h->nlmsg_flags & NLM_F_CAPPED))
					off += e->msg.nlmsg_len - NLMSG_HDRLEN;
				if (h->nlmsg_flags & NLM_F_ACK_TLVS) {
					attrs_parse((char *)e + off,
						    h->nlmsg_len - NLMSG_HDRLEN - off,
						    tb, NLMSGERR_ATTR_MAX);
					if (tb[NLMSGERR_ATTR_MSG])
						snprintf(r->ext, sizeof(r->ext), "%s",
							 (const char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
				}
				done = true;
				break;
			}
			if (!r->nmsg++) {
				memcpy(r->data, h, h->nlmsg_len);
				r->len = h->nlmsg_len;
			}
		}
	}
	return 0;
}

/* Family id and the events group id from the controller. */
static int nl_resolve(struct nl *nl)
{
	const struct nlattr *tb[CTRL_ATTR_MAX + 1], *g[CTRL_ATTR_MCAST_GRP_MAX + 1];
	struct reply *r = malloc(sizeof(*r));
	struct msg m;
	int i, err;

	if (!r)
		return -ENOMEM;
	msg_init(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0);
	((struct genlmsghdr *)NLMSG_DATA(&m.nlh))->version = 2;
	msg_str(&m, CTRL_ATTR_FAMILY_NAME, PHLOEM_GENL_NAME);
	err = nl_call(nl, &m, r);
	if (!err)
		err = r->err;
	if (!err && !r->nmsg)
		err = -ENOENT;
	if (err)
		goto out;
	reply_attrs(r, tb, CTRL_ATTR_MAX);
	nl->family = *(const uint16_t *)nla_data(tb[CTRL_ATTR_FAMILY_ID]);
	for (i = 0; tb[CTRL_ATTR_MCAST_GROUPS] &&
		    list_item(tb[CTRL_ATTR_MCAST_GROUPS], i, g,
			      CTRL_ATTR_MCAST_GRP_MAX); i++)
		if (g[CTRL_ATTR_MCAST_GRP_NAME] &&
		    !strcmp(nla_data(g[CTRL_ATTR_MCAST_GRP_NAME]),
			    PHLOEM_GENL_MCGRP_EVENTS))
			nl->grp_events = nla_u32(g[CTRL_ATTR_MCAST_GRP_ID]);
	if (!nl->grp_events)
		err = -ENOENT;
out:
	free(r);
	return err;
}

static int nl_subscribe(struct nl *nl)
{
	if (setsockopt(nl->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP,
		       &nl->grp_events, sizeof(nl->grp_events)))
		return -errno;
	return 0;
}

/*
 * Next PHLOEM_CMD_EVENT on a subscribed socket within @timeout_ms.
 * Return: 1 with @kind/@relay/@trigger filled, 0 on timeout, -errno.
 */
static int nl_next_event(struct nl *nl, int timeout_ms, uint32_t *dev,
			 uint32_t *kind, uint32_t *relay, uint64_t *trigger)
{
	static char buf[NL_BUF];
	static int have, off;
	uint64_t end = ph_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;

	for (;;) {
		while (have > 0) {
			struct nlmsghdr *h = (void *)(buf + off);
			const struct nlattr *tb[PHLOEM_A_MAX + 1];
			const struct nlattr *ev[PHLOEM_A_EV_MAX + 1];
			struct genlmsghdr *g = NLMSG_DATA(h);

			if (!NLMSG_OK(h, have)) {
				have = 0;
				break;
			}
			off += NLMSG_ALIGN(h->nlmsg_len);
			have -= NLMSG_ALIGN(h->nlmsg_len);
			if (h->nlmsg_type != nl->family ||
			    g->cmd != PHLOEM_CMD_EVENT)
				continue;
			attrs_parse((char *)g + GENL_HDRLEN,
				    h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN),
				    tb, PHLOEM_A_MAX);
			if (!tb[PHLOEM_A_EVENT])
				return -EPROTO;
			attrs_parse(nla_data(tb[PHLOEM_A_EVENT]),
				    nla_len(tb[PHLOEM_A_EVENT]), ev,
				    PHLOEM_A_EV_MAX);
			*dev = nla_u32(tb[PHLOEM_A_DEV_INDEX]);
			*kind = nla_u32(ev[PHLOEM_A_EV_KIND]);
			*relay = ev[PHLOEM_A_EV_RELAY] ?
				 nla_u32(ev[PHLOEM_A_EV_RELAY]) : PHLOEM_NONE;
			*trigger = nla_u64(ev[PHLOEM_A_EV_TRIGGER_NS]);
			return 1;
		}
		int left = (int)((int64_t)(end - ph_now_ns()) / 1000000);
		struct pollfd p = { .fd = nl->fd, .events = POLLIN };
		ssize_t n;

		if (left <= 0)
			return 0;
		if (poll(&p, 1, left) <= 0)
			continue;
		n = recv(nl->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		have = n;
		off = 0;
	}
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static int get_device(struct nl *nl, uint32_t dev, struct reply *r)
{
	struct msg m;

	msg_init(&m, nl->family, PHLOEM_CMD_GET_DEVICE, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, dev);
	return nl_call(nl, &m, r) ?: r->err;
}

/* What a mutation may change: the config in force, the relays' overrides */
struct state {
	struct phloem_config cfg;
	uint8_t override[PHLOEM_MAX_RELAYS];
	uint32_t leased;
};

static int state_get(int fd, struct state *s)
{
	struct phloem_status st;
	unsigned int i;
	int err;

	memset(s, 0, sizeof(*s));
	err = ph_get_config(fd, &s->cfg) ?: ph_status(fd, &st);
	if (err)
		return err;
	for (i = 0; i < PHLOEM_MAX_RELAYS; i++)
		s->override[i] = st.relay[i].override;
	s->leased = st.state & PHLOEM_STATE_F_LEASED;
	return 0;
}

FIXTURE(nl) {
	bool ok;
	int fd;
	struct nl nl;
	struct phloem_info info;
	struct phloem_config boot;
	struct reply *r;
};

FIXTURE_SETUP(nl)
{
	self->fd = -1;
	self->r = calloc(1, sizeof(*self->r));
	ASSERT_NE(NULL, self->r);
	if (!ph_present())
		SKIP(return, "%s absent (phloem.ko + phloem_sim.ko not loaded)", PH_DEV);
	ASSERT_EQ(0, sim_reset());
	ASSERT_EQ(0, ph_rebind_fresh(5000));
	self->fd = ph_open(O_RDWR);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ph_info(self->fd, &self->info));
	ASSERT_EQ(0, ph_settle(self->fd, 10000));
	ASSERT_EQ(0, ph_tolerate_tcg(self->fd, &self->boot));
	ASSERT_EQ(0, nl_open(&self->nl));
	ASSERT_EQ(0, nl_resolve(&self->nl)) TH_LOG("family \"%s\" not registered", PHLOEM_GENL_NAME);
	self->ok = true;
}

FIXTURE_TEARDOWN(nl)
{
	if (self->nl.fd > 0)
		close(self->nl.fd);
	if (self->fd >= 0)
		close(self->fd);
	if (self->ok) {
		sim_reset();
		ph_rebind_fresh(5000);
	}
	free(self->r);
}

#define NEED_DEV() do { if (!self->ok) SKIP(return, "%s absent", PH_DEV); } while (0)

TEST_F(nl, get_device_doit)
{
	const struct nlattr *tb[PHLOEM_A_MAX + 1], *it[PHLOEM_A_RELAY_MAX + 1];
	struct phloem_status st;
	unsigned int i;

	NEED_DEV();
	ASSERT_EQ(0, get_device(&self->nl, 0, self->r)) TH_LOG("%s", self->r->ext);
	ASSERT_EQ(1, self->r->nmsg);
	reply_attrs(self->r, tb, PHLOEM_A_MAX);
	ASSERT_EQ(0, nla_u32(tb[PHLOEM_A_DEV_INDEX]));
	ASSERT_NE(NULL, tb[PHLOEM_A_DEV_NAME]);
	ASSERT_STREQ(self->info.name, nla_data(tb[PHLOEM_A_DEV_NAME]));
	ASSERT_EQ(self->info.mains_hz, nla_u32(tb[PHLOEM_A_DEV_MAINS_HZ]));
	ASSERT_EQ(self->boot.sample_rate_hz, nla_u32(tb[PHLOEM_A_DEV_SAMPLE_RATE_HZ]));
	ASSERT_EQ(self->boot.site_import_limit_mw,
		  nla_u32(tb[PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW]));
	ASSERT_EQ(self->info.nchannels, list_count(tb[PHLOEM_A_DEV_CHANNELS]));
	ASSERT_EQ(self->info.ncircuits, list_count(tb[PHLOEM_A_DEV_CIRCUITS]));
	ASSERT_EQ(self->info.nrelays, list_count(tb[PHLOEM_A_DEV_RELAYS]));
	/* Live values: mains is there (settled), so the voltage is too */
	ASSERT_GT(nla_u32(tb[PHLOEM_A_DEV_VRMS_MV]), 100000);
	ASSERT_GT(nla_u32(tb[PHLOEM_A_DEV_FREQ_MHZ]), 40000);

	for (i = 0; i < self->info.nrelays; i++) {
		ASSERT_TRUE(list_item(tb[PHLOEM_A_DEV_RELAYS], i, it, PHLOEM_A_RELAY_MAX));
		EXPECT_EQ(i, nla_u32(it[PHLOEM_A_RELAY_INDEX]));
		EXPECT_STREQ(self->info.relay[i].name, nla_data(it[PHLOEM_A_RELAY_NAME]));
		EXPECT_EQ(self->boot.relay[i].priority, nla_u32(it[PHLOEM_A_RELAY_PRIORITY]));
		EXPECT_EQ(self->boot.relay[i].min_off_ms, nla_u32(it[PHLOEM_A_RELAY_MIN_OFF_MS]));
		EXPECT_EQ(self->info.relay[i].safe_state, nla_u32(it[PHLOEM_A_RELAY_SAFE_STATE]));
		EXPECT_EQ(1, nla_u32(it[PHLOEM_A_RELAY_ON]));	/* settled */
	}
	for (i = 0; i < self->info.ncircuits; i++) {
		const struct nlattr *c[PHLOEM_A_CIRCUIT_MAX + 1];

		ASSERT_TRUE(list_item(tb[PHLOEM_A_DEV_CIRCUITS], i, c, PHLOEM_A_CIRCUIT_MAX));
		EXPECT_STREQ(self->info.circuit[i].name, nla_data(c[PHLOEM_A_CIRCUIT_NAME]));
		EXPECT_EQ(self->info.circuit[i].rating_ma, nla_u32(c[PHLOEM_A_CIRCUIT_RATING_MA]));
		EXPECT_EQ(self->boot.circuit[i].limit_ma, nla_u32(c[PHLOEM_A_CIRCUIT_LIMIT_MA]));
	}
	/* Energy and RMS agree with the ioctl (same counters, later read) */
	ASSERT_EQ(0, ph_status(self->fd, &st));
	for (i = 0; i < self->info.nchannels; i++) {
		const struct nlattr *c[PHLOEM_A_CHAN_MAX + 1];

		ASSERT_TRUE(list_item(tb[PHLOEM_A_DEV_CHANNELS], i, c, PHLOEM_A_CHAN_MAX));
		EXPECT_STREQ(self->info.chan[i].name, nla_data(c[PHLOEM_A_CHAN_NAME]));
		EXPECT_LE(nla_u64(c[PHLOEM_A_CHAN_IMPORT_MWH]), st.energy[i].import_mwh);
		if (self->info.chan[i].kind == PHLOEM_CHAN_VOLTAGE)
			EXPECT_GT(nla_u32(c[PHLOEM_A_CHAN_RMS]), 100000);
	}
}

TEST_F(nl, get_device_dump)
{
	const struct nlattr *tb[PHLOEM_A_MAX + 1];
	struct msg m;

	NEED_DEV();
	msg_init(&m, self->nl.family, PHLOEM_CMD_GET_DEVICE, NLM_F_DUMP);
	ASSERT_EQ(0, nl_call(&self->nl, &m, self->r));
	ASSERT_EQ(0, self->r->err) TH_LOG("%s", self->r->ext);
	/* The simulator binds one HAT unless told otherwise */
	ASSERT_LE(1, self->r->nmsg);
	reply_attrs(self->r, tb, PHLOEM_A_MAX);
	ASSERT_EQ(0, nla_u32(tb[PHLOEM_A_DEV_INDEX]));
	ASSERT_EQ(self->info.nrelays, list_count(tb[PHLOEM_A_DEV_RELAYS]));
}

TEST_F(nl, get_stats)
{
	const struct nlattr *tb[PHLOEM_A_MAX + 1], *s[PHLOEM_A_STATS_MAX + 1];
	const struct nlattr *b[PHLOEM_A_BUCKET_MAX + 1];
	struct phloem_stats st;
	uint64_t sum = 0;
	struct msg m;
	int i;

	NEED_DEV();
	msg_init(&m, self->nl.family, PHLOEM_CMD_GET_STATS, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	ASSERT_EQ(0, nl_call(&self->nl, &m, self->r));
	ASSERT_EQ(0, self->r->err) TH_LOG("%s", self->r->ext);
	ASSERT_EQ(0, ph_stats(self->fd, &st));
	reply_attrs(self->r, tb, PHLOEM_A_MAX);
	ASSERT_NE(NULL, tb[PHLOEM_A_STATS]);
	attrs_parse(nla_data(tb[PHLOEM_A_STATS]), nla_len(tb[PHLOEM_A_STATS]), s,
		    PHLOEM_A_STATS_MAX);
	ASSERT_GT(nla_u64(s[PHLOEM_A_STATS_SAMPLES]), 0);
	ASSERT_LE(nla_u64(s[PHLOEM_A_STATS_SAMPLES]), st.samples);
	ASSERT_LE(nla_u64(s[PHLOEM_A_STATS_CYCLES]), st.cycles);
	ASSERT_NE(NULL, s[PHLOEM_A_STATS_LAT_HIST]);
	/* One bucket nest per non-empty bucket, counts summing to lat_count */
	for (i = 0; list_item(s[PHLOEM_A_STATS_LAT_HIST], i, b, PHLOEM_A_BUCKET_MAX); i++) {
		ASSERT_GT(nla_u64(b[PHLOEM_A_BUCKET_COUNT]), 0);
		ASSERT_GT(nla_u64(b[PHLOEM_A_BUCKET_BOUND_NS]), 0);
		sum += nla_u64(b[PHLOEM_A_BUCKET_COUNT]);
	}
	ASSERT_EQ(nla_u64(s[PHLOEM_A_STATS_LAT_COUNT]), sum);
}

TEST_F(nl, set_limits)
{
	const struct nlattr *tb[PHLOEM_A_MAX + 1], *c[PHLOEM_A_CIRCUIT_MAX + 1];
	struct phloem_config cfg;
	uint32_t lim = self->info.circuit[CIR_GARAGE].rating_ma - 1000;
	struct msg m;

	NEED_DEV();
	msg_init(&m, self->nl.family, PHLOEM_CMD_SET_LIMITS, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	msg_u32(&m, PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW, 9000000);
	nest_start(&m, PHLOEM_A_DEV_CIRCUITS);
	nest_start(&m, PHLOEM_A_LIST_CIRCUIT);
	msg_u32(&m, PHLOEM_A_CIRCUIT_INDEX, CIR_GARAGE);
	msg_u32(&m, PHLOEM_A_CIRCUIT_LIMIT_MA, lim);
	msg_u32(&m, PHLOEM_A_CIRCUIT_MAX_HOLD_S, 120);
	nest_end(&m);
	nest_end(&m);
	ASSERT_EQ(0, nl_call(&self->nl, &m, self->r));
	ASSERT_EQ(0, self->r->err) TH_LOG("%s", self->r->ext);

	ASSERT_EQ(0, ph_get_config(self->fd, &cfg));
	ASSERT_EQ(9000000, cfg.site_import_limit_mw);
	ASSERT_EQ(lim, cfg.circuit[CIR_GARAGE].limit_ma);
	ASSERT_EQ(120, cfg.circuit[CIR_GARAGE].max_hold_s);
	ASSERT_EQ(self->boot.circuit[CIR_KITCHEN].limit_ma, cfg.circuit[CIR_KITCHEN].limit_ma);
	ASSERT_EQ(0, get_device(&self->nl, 0, self->r));
	reply_attrs(self->r, tb, PHLOEM_A_MAX);
	ASSERT_EQ(9000000, nla_u32(tb[PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW]));
	ASSERT_TRUE(list_item(tb[PHLOEM_A_DEV_CIRCUITS], CIR_GARAGE, c, PHLOEM_A_CIRCUIT_MAX));
	ASSERT_EQ(lim, nla_u32(c[PHLOEM_A_CIRCUIT_LIMIT_MA]));
	ASSERT_EQ(120, nla_u32(c[PHLOEM_A_CIRCUIT_MAX_HOLD_S]));
	ASSERT_EQ(self->boot.circuit[CIR_GARAGE].limit_ma,
		  nla_u32(c[PHLOEM_A_CIRCUIT_BOOT_LIMIT_MA]));
}

/* one under-frequency stage in a SET_LIMITS request */
static void freq_stage_item(struct msg *m, uint32_t k, uint32_t thr,
			    uint32_t lo, uint32_t hi)
{
	nest_start(m, PHLOEM_A_LIST_STAGE);
	msg_u32(m, PHLOEM_A_STAGE_INDEX, k);
	msg_u32(m, PHLOEM_A_STAGE_THRESHOLD_MHZ, thr);
	msg_u32(m, PHLOEM_A_STAGE_DELAY_MS, 150);
	msg_u32(m, PHLOEM_A_STAGE_HYST_MHZ, 200);
	msg_u32(m, PHLOEM_A_STAGE_RESTORE_MS, 30000);
	msg_u32(m, PHLOEM_A_STAGE_PRIO_MIN, lo);
	msg_u32(m, PHLOEM_A_STAGE_PRIO_MAX, hi);
	nest_end(m);
}

/*
 * The frequency rule over netlink: SET_LIMITS with PHLOEM_A_DEV_FREQ
 * (over-frequency and two stages) lands in the configuration, GET_DEVICE
 * reports it back with the filtered frequency and each stage's state; an
 * entry with the index alone switches a stage off.
 */
TEST_F(nl, set_freq)
{
	const struct nlattr *tb[PHLOEM_A_MAX + 1], *f[PHLOEM_A_FREQ_MAX + 1];
	const struct nlattr *st[PHLOEM_A_STAGE_MAX + 1];
	struct phloem_config cfg;
	struct msg m;

	NEED_DEV();
	msg_init(&m, self->nl.family, PHLOEM_CMD_SET_LIMITS, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(&m, PHLOEM_A_DEV_FREQ);
	msg_u32(&m, PHLOEM_A_FREQ_OVER_MHZ, 51500);
	msg_u32(&m, PHLOEM_A_FREQ_OVER_MS, 400);
	nest_start(&m, PHLOEM_A_FREQ_STAGES);
	freq_stage_item(&m, 0, 49000, 0, 20);
	freq_stage_item(&m, 2, 48400, 0, 99);
	nest_end(&m);
	nest_end(&m);
	ASSERT_EQ(0, nl_call(&self->nl, &m, self->r));
	ASSERT_EQ(0, self->r->err) TH_LOG("%s", self->r->ext);

	ASSERT_EQ(0, ph_get_config(self->fd, &cfg));
	EXPECT_EQ(51500, cfg.over_freq_mhz);
	EXPECT_EQ(400, cfg.over_freq_ms);
	EXPECT_EQ(49000, cfg.freq_stage[0].threshold_mhz);
	EXPECT_EQ(150, cfg.freq_stage[0].delay_ms);
	EXPECT_EQ(200, cfg.freq_stage[0].hyst_mhz);
	EXPECT_EQ(30000, cfg.freq_stage[0].restore_ms);
	EXPECT_EQ(20, cfg.freq_stage[0].prio_max);
	EXPECT_EQ(0, cfg.freq_stage[1].threshold_mhz);
	EXPECT_EQ(48400, cfg.freq_stage[2].threshold_mhz);
	EXPECT_EQ(99, cfg.freq_stage[2].prio_max);

	ASSERT_EQ(0, get_device(&self->nl, 0, self->r));
	reply_attrs(self->r, tb, PHLOEM_A_MAX);
	ASSERT_NE(NULL, tb[PHLOEM_A_DEV_FREQ]);
	attrs_parse(nla_data(tb[PHLOEM_A_DEV_FREQ]), nla_len(tb[PHLOEM_A_DEV_FREQ]),
		    f, PHLOEM_A_FREQ_MAX);
	ASSERT_NE(NULL, f[PHLOEM_A_FREQ_EST_MHZ]);
	/*
	 * 0 (unknown) while TCG stalls leave too few good periods. The
	 * attribute is what is tested here: the filter's accuracy (10 mHz)
	 * is judged on the host (freq_test, bench-shed), where no emulator
	 * moves the sets; in this VM on a host at load 6 it read 50314 mHz
	 * once, so within 1 Hz of the simulator's 50 Hz.
	 */
	TH_LOG("filtered frequency %u mHz", nla_u32(f[PHLOEM_A_FREQ_EST_MHZ]));
	if (nla_u32(f[PHLOEM_A_FREQ_EST_MHZ]))
		EXPECT_LE(abs((int)nla_u32(f[PHLOEM_A_FREQ_EST_MHZ]) - 50000), 1000);
	EXPECT_EQ(51500, nla_u32(f[PHLOEM_A_FREQ_OVER_MHZ]));
	EXPECT_EQ(400, nla_u32(f[PHLOEM_A_FREQ_OVER_MS]));
	/* configured stages only, in index order */
	ASSERT_EQ(2, list_count(f[PHLOEM_A_FREQ_STAGES]));
	ASSERT_TRUE(list_item(f[PHLOEM_A_FREQ_STAGES], 1, st, PHLOEM_A_STAGE_MAX));
	EXPECT_EQ(2, nla_u32(st[PHLOEM_A_STAGE_INDEX]));
	EXPECT_EQ(48400, nla_u32(st[PHLOEM_A_STAGE_THRESHOLD_MHZ]));
	EXPECT_EQ(PHLOEM_FREQ_IDLE, nla_u32(st[PHLOEM_A_STAGE_STATE]));

	/* the index alone: stage 0 off, the rest as it was */
	msg_init(&m, self->nl.family, PHLOEM_CMD_SET_LIMITS, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(&m, PHLOEM_A_DEV_FREQ);
	nest_start(&m, PHLOEM_A_FREQ_STAGES);
	nest_start(&m, PHLOEM_A_LIST_STAGE);
	msg_u32(&m, PHLOEM_A_STAGE_INDEX, 0);
	nest_end(&m);
	nest_end(&m);
	nest_end(&m);
	ASSERT_EQ(0, nl_call(&self->nl, &m, self->r));
	ASSERT_EQ(0, self->r->err) TH_LOG("%s", self->r->ext);
	ASSERT_EQ(0, ph_get_config(self->fd, &cfg));
	EXPECT_EQ(0, cfg.freq_stage[0].threshold_mhz);
	EXPECT_EQ(0, cfg.freq_stage[0].prio_max);
	EXPECT_EQ(48400, cfg.freq_stage[2].threshold_mhz);
	EXPECT_EQ(51500, cfg.over_freq_mhz);
}

/*
 * The mains rules over netlink: every field of PHLOEM_A_DEV_MAINS lands in
 * struct phloem_config, GET_DEVICE reports it back with the outage state
 * and the voltage phase of the single-phase house; a second request that
 * names one field leaves the others as they are.
 */
TEST_F(nl, set_mains)
{
	const struct nlattr *tb[PHLOEM_A_MAX + 1], *mn[PHLOEM_A_MAINS_MAX + 1];
	const struct nlattr *v[PHLOEM_A_VOLT_MAX + 1];
	struct phloem_config cfg;
	struct msg m;

	NEED_DEV();
	msg_init(&m, self->nl.family, PHLOEM_CMD_SET_LIMITS, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(&m, PHLOEM_A_DEV_MAINS);
	msg_u32(&m, PHLOEM_A_MAINS_NOMINAL_MV, 230000);
	msg_u32(&m, PHLOEM_A_MAINS_OUTAGE_PCT, 50);
	msg_u32(&m, PHLOEM_A_MAINS_OUTAGE_CYCLES, 3);
	msg_u32(&m, PHLOEM_A_MAINS_OUTAGE_RELAYS, 1u << R_FRIDGE);
	msg_u32(&m, PHLOEM_A_MAINS_RETURN_MS, 30000);
	msg_u32(&m, PHLOEM_A_MAINS_RETURN_STAGGER_MS, 2000);
	msg_u32(&m, PHLOEM_A_MAINS_VOLT_BAND_PCT, 15);
	msg_u32(&m, PHLOEM_A_MAINS_VOLT_DELAY_MS, 1000);
	msg_u32(&m, PHLOEM_A_MAINS_UV_SHED_PCT, 70);
	msg_u32(&m, PHLOEM_A_MAINS_UV_SHED_MS, 5000);
	nest_end(&m);
	ASSERT_EQ(0, nl_call(&self->nl, &m, self->r));
	ASSERT_EQ(0, self->r->err) TH_LOG("%s", self->r->ext);

	ASSERT_EQ(0, ph_get_config(self->fd, &cfg));
	EXPECT_EQ(230000, cfg.nominal_mv);
	EXPECT_EQ(50, cfg.outage_pct);
	EXPECT_EQ(3, cfg.outage_cycles);
	EXPECT_EQ(1u << R_FRIDGE, cfg.outage_relays);
	EXPECT_EQ(30000, cfg.return_ms);
	EXPECT_EQ(2000, cfg.return_stagger_ms);
	EXPECT_EQ(15, cfg.volt_band_pct);
	EXPECT_EQ(1000, cfg.volt_delay_ms);
	EXPECT_EQ(70, cfg.uv_shed_pct);
	EXPECT_EQ(5000, cfg.uv_shed_ms);
	EXPECT_EQ(self->boot.site_import_limit_mw, cfg.site_import_limit_mw);

	ASSERT_EQ(0, get_device(&self->nl, 0, self->r));
	reply_attrs(self->r, tb, PHLOEM_A_MAX);
	ASSERT_NE(NULL, tb[PHLOEM_A_DEV_MAINS]);
	attrs_parse(nla_data(tb[PHLOEM_A_DEV_MAINS]), nla_len(tb[PHLOEM_A_DEV_MAINS]),
		    mn, PHLOEM_A_MAINS_MAX);
	ASSERT_NE(NULL, mn[PHLOEM_A_MAINS_UV_SHED_MS]);
	EXPECT_EQ(230000, nla_u32(mn[PHLOEM_A_MAINS_NOMINAL_MV]));
	EXPECT_EQ(50, nla_u32(mn[PHLOEM_A_MAINS_OUTAGE_PCT]));
	EXPECT_EQ(1u << R_FRIDGE, nla_u32(mn[PHLOEM_A_MAINS_OUTAGE_RELAYS]));
	EXPECT_EQ(2000, nla_u32(mn[PHLOEM_A_MAINS_RETURN_STAGGER_MS]));
	EXPECT_EQ(5000, nla_u32(mn[PHLOEM_A_MAINS_UV_SHED_MS]));
	/* the simulator's mains is steady at 230 V: never an island here */
	ASSERT_NE(NULL, mn[PHLOEM_A_MAINS_STATE]);
	EXPECT_NE(PHLOEM_MAINS_OUTAGE, nla_u32(mn[PHLOEM_A_MAINS_STATE]));
	EXPECT_NE(PHLOEM_MAINS_NONE, nla_u32(mn[PHLOEM_A_MAINS_STATE]));
	ASSERT_NE(NULL, mn[PHLOEM_A_MAINS_RETURN_LEFT_MS]);
	/* one voltage channel: L1 on v0 */
	ASSERT_EQ(1, list_count(mn[PHLOEM_A_MAINS_PHASES]));
	ASSERT_TRUE(list_item(mn[PHLOEM_A_MAINS_PHASES], 0, v, PHLOEM_A_VOLT_MAX));
	EXPECT_EQ(0, nla_u32(v[PHLOEM_A_VOLT_PHASE]));
	EXPECT_EQ(CH_V0, nla_u32(v[PHLOEM_A_VOLT_CHANNEL]));
	TH_LOG("L1 %u mV, state %u", nla_u32(v[PHLOEM_A_VOLT_RMS_MV]),
	       nla_u32(v[PHLOEM_A_VOLT_STATE]));
	EXPECT_NE(PHLOEM_VOLT_UNDER, nla_u32(v[PHLOEM_A_VOLT_STATE]));
	EXPECT_NE(PHLOEM_VOLT_OVER, nla_u32(v[PHLOEM_A_VOLT_STATE]));

	/* one field: the rest stays; 0 switches the outage rule off */
	msg_init(&m, self->nl.family, PHLOEM_CMD_SET_LIMITS, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(&m, PHLOEM_A_DEV_MAINS);
	msg_u32(&m, PHLOEM_A_MAINS_OUTAGE_PCT, 0);
	nest_end(&m);
	ASSERT_EQ(0, nl_call(&self->nl, &m, self->r));
	ASSERT_EQ(0, self->r->err) TH_LOG("%s", self->r->ext);
	ASSERT_EQ(0, ph_get_config(self->fd, &cfg));
	EXPECT_EQ(0, cfg.outage_pct);
	EXPECT_EQ(30000, cfg.return_ms);
	EXPECT_EQ(70, cfg.uv_shed_pct);
}

TEST_F(nl, set_relay_and_override)
{
	const struct nlattr *tb[PHLOEM_A_MAX + 1], *it[PHLOEM_A_RELAY_MAX + 1];
	struct phloem_config cfg;
	struct phloem_status st;
	struct msg m;

	NEED_DEV();
	msg_init(&m, self->nl.family, PHLOEM_CMD_SET_RELAY, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(&m, PHLOEM_A_RELAY);
	msg_u32(&m, PHLOEM_A_RELAY_INDEX, R_OVEN);
	msg_u32(&m, PHLOEM_A_RELAY_PRIORITY, 7);
	msg_u32(&m, PHLOEM_A_RELAY_FLAGS, PHLOEM_RELAY_F_CRITICAL);
	msg_u32(&m, PHLOEM_A_RELAY_MIN_OFF_MS, 1234);
	msg_u32(&m, PHLOEM_A_RELAY_OVERRIDE, PHLOEM_OVERRIDE_OFF);
	msg_u32(&m, PHLOEM_A_RELAY_OVERRIDE_MS, 60000);
	nest_end(&m);
	ASSERT_EQ(0, nl_call(&self->nl, &m, self->r));
	ASSERT_EQ(0, self->r->err) TH_LOG("%s", self->r->ext);

	ASSERT_EQ(0, ph_get_config(self->fd, &cfg));
	ASSERT_EQ(7, cfg.relay[R_OVEN].priority);
	ASSERT_EQ(PHLOEM_RELAY_F_CRITICAL, cfg.relay[R_OVEN].flags);
	ASSERT_EQ(1234, cfg.relay[R_OVEN].min_off_ms);
	ASSERT_EQ(0, ph_status(self->fd, &st));
	ASSERT_EQ(PHLOEM_OVERRIDE_OFF, st.relay[R_OVEN].override);
	ASSERT_EQ(0, st.relay[R_OVEN].on);

	ASSERT_EQ(0, get_device(&self->nl, 0, self->r));
	reply_attrs(self->r, tb, PHLOEM_A_MAX);
	ASSERT_TRUE(list_item(tb[PHLOEM_A_DEV_RELAYS], R_OVEN, it, PHLOEM_A_RELAY_MAX));
	ASSERT_EQ(7, nla_u32(it[PHLOEM_A_RELAY_PRIORITY]));
	ASSERT_EQ(PHLOEM_OVERRIDE_OFF, nla_u32(it[PHLOEM_A_RELAY_OVERRIDE]));
	ASSERT_EQ(PHLOEM_RELAY_MANUAL, nla_u32(it[PHLOEM_A_RELAY_REASON]));
	ASSERT_GT(nla_u32(it[PHLOEM_A_RELAY_LEFT_MS]), 0);

	/* Back to automatic: the override alone, no expiry needed */
	msg_init(&m, self->nl.family, PHLOEM_CMD_SET_RELAY, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(&m, PHLOEM_A_RELAY);
	msg_u32(&m, PHLOEM_A_RELAY_INDEX, R_OVEN);
	msg_u32(&m, PHLOEM_A_RELAY_OVERRIDE, PHLOEM_OVERRIDE_AUTO);
	nest_end(&m);
	ASSERT_EQ(0, nl_call(&self->nl, &m, self->r));
	ASSERT_EQ(0, self->r->err) TH_LOG("%s", self->r->ext);
	ASSERT_EQ(0, ph_status(self->fd, &st));
	ASSERT_EQ(PHLOEM_OVERRIDE_AUTO, st.relay[R_OVEN].override);
}

TEST_F(nl, lease)
{
	const struct nlattr *tb[PHLOEM_A_MAX + 1];
	struct msg m;

	NEED_DEV();
	msg_init(&m, self->nl.family, PHLOEM_CMD_LEASE, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	msg_u32(&m, PHLOEM_A_LEASE_TIMEOUT_MS, 30000);
	ASSERT_EQ(0, nl_call(&self->nl, &m, self->r));
	ASSERT_EQ(0, self->r->err) TH_LOG("%s", self->r->ext);
	ASSERT_EQ(0, get_device(&self->nl, 0, self->r));
	reply_attrs(self->r, tb, PHLOEM_A_MAX);
	ASSERT_TRUE(nla_u32(tb[PHLOEM_A_DEV_STATE]) & PHLOEM_STATE_F_LEASED);
	ASSERT_GT(nla_u32(tb[PHLOEM_A_DEV_LEASE_LEFT_MS]), 0);
	ASSERT_LE(nla_u32(tb[PHLOEM_A_DEV_LEASE_LEFT_MS]), 30000);

	msg_init(&m, self->nl.family, PHLOEM_CMD_LEASE, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	msg_u32(&m, PHLOEM_A_LEASE_TIMEOUT_MS, 0);
	ASSERT_EQ(0, nl_call(&self->nl, &m, self->r));
	ASSERT_EQ(0, self->r->err) TH_LOG("%s", self->r->ext);
	ASSERT_EQ(0, get_device(&self->nl, 0, self->r));
	reply_attrs(self->r, tb, PHLOEM_A_MAX);
	ASSERT_FALSE(nla_u32(tb[PHLOEM_A_DEV_STATE]) & PHLOEM_STATE_F_LEASED);
}

/* ------------------------------------------------------------------ */
/* Invalid requests: an error, a message, and nothing changed          */
/* ------------------------------------------------------------------ */

FIXTURE_VARIANT(nl_bad) {
	uint8_t cmd;
	int err;
	void (*build)(struct msg *m, const struct phloem_info *info);
};

FIXTURE(nl_bad) {
	bool ok;
	int fd;
	struct nl nl;
	struct phloem_info info;
	struct phloem_config boot;
	struct reply *r;
};

FIXTURE_SETUP(nl_bad)
{
	/* No rebind per variant: nothing is meant to change */
	self->fd = -1;
	self->r = calloc(1, sizeof(*self->r));
	ASSERT_NE(NULL, self->r);
	if (!ph_present())
		SKIP(return, "%s absent", PH_DEV);
	self->fd = ph_open(O_RDWR);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ph_info(self->fd, &self->info));
	ASSERT_EQ(0, ph_tolerate_tcg(self->fd, &self->boot));
	ASSERT_EQ(0, nl_open(&self->nl));
	ASSERT_EQ(0, nl_resolve(&self->nl));
	self->ok = true;
}

FIXTURE_TEARDOWN(nl_bad)
{
	if (self->nl.fd > 0)
		close(self->nl.fd);
	if (self->fd >= 0)
		close(self->fd);
	free(self->r);
}

static void circuit_item(struct msg *m, uint32_t c, uint32_t ma)
{
	nest_start(m, PHLOEM_A_LIST_CIRCUIT);
	msg_u32(m, PHLOEM_A_CIRCUIT_INDEX, c);
	msg_u32(m, PHLOEM_A_CIRCUIT_LIMIT_MA, ma);
	nest_end(m);
}

static void b_unknown_attr(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	msg_u32(m, PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW, 1000);
	msg_u32(m, PHLOEM_A_MAX + 1, 1);
}

static void b_wrong_type(struct msg *m, const struct phloem_info *info)
{
	uint8_t idx = 0;

	msg_put(m, PHLOEM_A_DEV_INDEX, &idx, 1);	/* u8 for a u32 */
	msg_u32(m, PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW, 1000);
}

static void b_limit_zero(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_CIRCUITS);
	circuit_item(m, CIR_KITCHEN, 0);
	nest_end(m);
}

static void b_limit_above_rating(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_CIRCUITS);
	circuit_item(m, CIR_KITCHEN, info->circuit[CIR_KITCHEN].rating_ma + 1);
	nest_end(m);
}

/* A valid site limit and a good circuit, then one bad circuit: all refused */
static void b_half_valid(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	msg_u32(m, PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW, 1234567);
	nest_start(m, PHLOEM_A_DEV_CIRCUITS);
	circuit_item(m, CIR_GARAGE, 1000);
	circuit_item(m, SIM_NCIRCUITS, 1000);	/* no such circuit */
	nest_end(m);
}

static void b_missing_index(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW, 1000);
}

static void b_bad_index(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 9);
	msg_u32(m, PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW, 1000);
}

static void b_relay_flag(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_RELAY);
	msg_u32(m, PHLOEM_A_RELAY_INDEX, R_OVEN);
	msg_u32(m, PHLOEM_A_RELAY_PRIORITY, 3);
	msg_u32(m, PHLOEM_A_RELAY_FLAGS, 0x2);
	nest_end(m);
}

static void b_relay_reply_only(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_RELAY);
	msg_u32(m, PHLOEM_A_RELAY_INDEX, R_OVEN);
	msg_u32(m, PHLOEM_A_RELAY_ON, 0);
	nest_end(m);
}

static void b_relay_no_such(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_RELAY);
	msg_u32(m, PHLOEM_A_RELAY_INDEX, SIM_NRELAYS);
	msg_u32(m, PHLOEM_A_RELAY_PRIORITY, 3);
	nest_end(m);
}

/* Priority in range but the override has no expiry: neither goes in */
static void b_override_no_expiry(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_RELAY);
	msg_u32(m, PHLOEM_A_RELAY_INDEX, R_OVEN);
	msg_u32(m, PHLOEM_A_RELAY_PRIORITY, 3);
	msg_u32(m, PHLOEM_A_RELAY_OVERRIDE, PHLOEM_OVERRIDE_OFF);
	nest_end(m);
}

static void b_priority_range(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_RELAY);
	msg_u32(m, PHLOEM_A_RELAY_INDEX, R_OVEN);
	msg_u32(m, PHLOEM_A_RELAY_PRIORITY, 256);
	nest_end(m);
}

/* a max hold past PHLOEM_MAX_HOLD_MAX_S: the range policy refuses it */
static void b_max_hold_range(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_CIRCUITS);
	nest_start(m, PHLOEM_A_LIST_CIRCUIT);
	msg_u32(m, PHLOEM_A_CIRCUIT_INDEX, CIR_GARAGE);
	msg_u32(m, PHLOEM_A_CIRCUIT_MAX_HOLD_S, PHLOEM_MAX_HOLD_MAX_S + 1);
	nest_end(m);
	nest_end(m);
}

/* a stage whose threshold + hysteresis reaches the normal band */
static void b_freq_in_band(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_FREQ);
	nest_start(m, PHLOEM_A_FREQ_STAGES);
	freq_stage_item(m, 0, 49900, 0, 20);
	nest_end(m);
	nest_end(m);
}

static void b_freq_stage_index(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_FREQ);
	nest_start(m, PHLOEM_A_FREQ_STAGES);
	freq_stage_item(m, PHLOEM_FREQ_STAGES, 49000, 0, 20);
	nest_end(m);
	nest_end(m);
}

/* over-frequency without its delay: both or neither */
static void b_freq_over_alone(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_FREQ);
	msg_u32(m, PHLOEM_A_FREQ_OVER_MHZ, 51000);
	nest_end(m);
}

/* a stage's state is reported, never set */
static void b_freq_reply_only(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_FREQ);
	nest_start(m, PHLOEM_A_FREQ_STAGES);
	nest_start(m, PHLOEM_A_LIST_STAGE);
	msg_u32(m, PHLOEM_A_STAGE_INDEX, 0);
	msg_u32(m, PHLOEM_A_STAGE_STATE, PHLOEM_FREQ_OPERATED);
	nest_end(m);
	nest_end(m);
	nest_end(m);
}

static void b_lease_short(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	msg_u32(m, PHLOEM_A_LEASE_TIMEOUT_MS, 50);
}

static void b_lease_long(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	msg_u32(m, PHLOEM_A_LEASE_TIMEOUT_MS, 600001);
}

static void b_get_extra(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	msg_u32(m, PHLOEM_A_LEASE_TIMEOUT_MS, 1000);
}

/*
 * The phase rules (item 4): the single-phase house has one site CT, on L1.
 * A limit on L2 (no CT there) and an imbalance (one measured phase) are
 * refused by the unit's whole-configuration check.
 */
static void ph_item(struct msg *m, uint32_t p, uint32_t ma)
{
	nest_start(m, PHLOEM_A_LIST_PHASE);
	msg_u32(m, PHLOEM_A_PH_INDEX, p);
	msg_u32(m, PHLOEM_A_PH_LIMIT_MA, ma);
	nest_end(m);
}

static void b_phase_unmeasured(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_PHASE);
	nest_start(m, PHLOEM_A_PHASE_LIST);
	ph_item(m, 1, 10000);
	nest_end(m);
	nest_end(m);
}

static void b_phase_index(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_PHASE);
	nest_start(m, PHLOEM_A_PHASE_LIST);
	ph_item(m, PHLOEM_MAX_PHASES, 10000);
	nest_end(m);
	nest_end(m);
}

static void b_phase_twice(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_PHASE);
	nest_start(m, PHLOEM_A_PHASE_LIST);
	ph_item(m, 0, 10000);
	ph_item(m, 0, 12000);
	nest_end(m);
	nest_end(m);
}

/* a limit above the site breaker's rating */
static void b_phase_above_rating(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_PHASE);
	nest_start(m, PHLOEM_A_PHASE_LIST);
	ph_item(m, 0, info->circuit[CIR_SITE].rating_ma + 1);
	nest_end(m);
	nest_end(m);
}

static void b_phase_no_limit(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_PHASE);
	nest_start(m, PHLOEM_A_PHASE_LIST);
	nest_start(m, PHLOEM_A_LIST_PHASE);
	msg_u32(m, PHLOEM_A_PH_INDEX, 0);
	nest_end(m);
	nest_end(m);
	nest_end(m);
}

static void b_phase_imbalance(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_PHASE);
	msg_u32(m, PHLOEM_A_PHASE_IMBALANCE_MA, 20000);
	nest_end(m);
}

static void b_phase_grace(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_PHASE);
	msg_u32(m, PHLOEM_A_PHASE_GRACE_MS, PHLOEM_PHASE_GRACE_MAX_MS + 1);
	nest_end(m);
}

static void b_phase_reply_only(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_PHASE);
	msg_u32(m, PHLOEM_A_PHASE_SPREAD_MA, 1);
	nest_end(m);
}

static void b_phase_empty(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_PHASE);
	nest_end(m);
}

/* the mains rules: one bad field refuses the whole request */
static void mains_one(struct msg *m, uint16_t a, uint32_t v)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_MAINS);
	msg_u32(m, PHLOEM_A_MAINS_RETURN_MS, 20000);	/* valid alone */
	msg_u32(m, a, v);
	nest_end(m);
}

static void b_mains_nominal(struct msg *m, const struct phloem_info *info)
{
	mains_one(m, PHLOEM_A_MAINS_NOMINAL_MV, PHLOEM_NOMINAL_MV_MIN - 1);
}

static void b_mains_outage_pct(struct msg *m, const struct phloem_info *info)
{
	mains_one(m, PHLOEM_A_MAINS_OUTAGE_PCT, PHLOEM_OUTAGE_MAX_PCT + 1);
}

static void b_mains_cycles(struct msg *m, const struct phloem_info *info)
{
	mains_one(m, PHLOEM_A_MAINS_OUTAGE_CYCLES, PHLOEM_OUTAGE_CYCLES_MAX + 1);
}

static void b_mains_relays(struct msg *m, const struct phloem_info *info)
{
	mains_one(m, PHLOEM_A_MAINS_OUTAGE_RELAYS, 1u << PHLOEM_MAX_RELAYS);
}

static void b_mains_return(struct msg *m, const struct phloem_info *info)
{
	mains_one(m, PHLOEM_A_MAINS_RETURN_STAGGER_MS,
		  PHLOEM_RETURN_STAGGER_MS_MAX + 1);
}

static void b_mains_band(struct msg *m, const struct phloem_info *info)
{
	mains_one(m, PHLOEM_A_MAINS_VOLT_BAND_PCT, PHLOEM_VOLT_BAND_MAX_PCT + 1);
}

static void b_mains_uv_pct(struct msg *m, const struct phloem_info *info)
{
	mains_one(m, PHLOEM_A_MAINS_UV_SHED_PCT, PHLOEM_UV_SHED_MIN_PCT - 1);
}

static void b_mains_uv_ms(struct msg *m, const struct phloem_info *info)
{
	mains_one(m, PHLOEM_A_MAINS_UV_SHED_MS, PHLOEM_UV_SHED_MAX_MS + 1);
}

static void b_mains_reply_only(struct msg *m, const struct phloem_info *info)
{
	mains_one(m, PHLOEM_A_MAINS_STATE, PHLOEM_MAINS_OUTAGE);
}

static void b_mains_empty(struct msg *m, const struct phloem_info *info)
{
	msg_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(m, PHLOEM_A_DEV_MAINS);
	nest_end(m);
}

/* a GET carries no settings */
static void b_mains_get(struct msg *m, const struct phloem_info *info)
{
	mains_one(m, PHLOEM_A_MAINS_OUTAGE_PCT, 50);
}

/* Policy range checks answer ERANGE ("integer out of range"), the rest EINVAL */
#define BAD(name, c, e) \
	FIXTURE_VARIANT_ADD(nl_bad, name) { .cmd = c, .err = e, .build = b_##name }

BAD(unknown_attr, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(wrong_type, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(limit_zero, PHLOEM_CMD_SET_LIMITS, -ERANGE);
BAD(limit_above_rating, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(half_valid, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(missing_index, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(bad_index, PHLOEM_CMD_SET_LIMITS, -ENODEV);
BAD(relay_flag, PHLOEM_CMD_SET_RELAY, -EINVAL);
BAD(relay_reply_only, PHLOEM_CMD_SET_RELAY, -EINVAL);
BAD(relay_no_such, PHLOEM_CMD_SET_RELAY, -EINVAL);
BAD(override_no_expiry, PHLOEM_CMD_SET_RELAY, -EINVAL);
BAD(priority_range, PHLOEM_CMD_SET_RELAY, -ERANGE);
BAD(max_hold_range, PHLOEM_CMD_SET_LIMITS, -ERANGE);
BAD(lease_short, PHLOEM_CMD_LEASE, -EINVAL);
BAD(lease_long, PHLOEM_CMD_LEASE, -ERANGE);
BAD(get_extra, PHLOEM_CMD_GET_DEVICE, -EINVAL);
BAD(freq_in_band, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(freq_stage_index, PHLOEM_CMD_SET_LIMITS, -ERANGE);
BAD(freq_over_alone, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(freq_reply_only, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(phase_unmeasured, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(phase_index, PHLOEM_CMD_SET_LIMITS, -ERANGE);
BAD(phase_twice, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(phase_above_rating, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(phase_no_limit, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(phase_imbalance, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(phase_grace, PHLOEM_CMD_SET_LIMITS, -ERANGE);
BAD(phase_reply_only, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(phase_empty, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(mains_nominal, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(mains_outage_pct, PHLOEM_CMD_SET_LIMITS, -ERANGE);
BAD(mains_cycles, PHLOEM_CMD_SET_LIMITS, -ERANGE);
BAD(mains_relays, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(mains_return, PHLOEM_CMD_SET_LIMITS, -ERANGE);
BAD(mains_band, PHLOEM_CMD_SET_LIMITS, -ERANGE);
BAD(mains_uv_pct, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(mains_uv_ms, PHLOEM_CMD_SET_LIMITS, -ERANGE);
BAD(mains_reply_only, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(mains_empty, PHLOEM_CMD_SET_LIMITS, -EINVAL);
BAD(mains_get, PHLOEM_CMD_GET_DEVICE, -EINVAL);

TEST_F(nl_bad, refused_and_unchanged)
{
	struct state before, after;
	struct msg m;

	NEED_DEV();
	ASSERT_EQ(0, state_get(self->fd, &before));
	msg_init(&m, self->nl.family, variant->cmd, 0);
	variant->build(&m, &self->info);
	ASSERT_EQ(0, nl_call(&self->nl, &m, self->r));
	ASSERT_EQ(variant->err, self->r->err);
	TH_LOG("extack: \"%s\"", self->r->ext);
	ASSERT_NE(0, self->r->ext[0]) TH_LOG("no extack message");
	ASSERT_EQ(0, self->r->nmsg);
	ASSERT_EQ(0, state_get(self->fd, &after));
	ASSERT_EQ(0, memcmp(&before, &after, sizeof(before)));
}

/* ------------------------------------------------------------------ */
/* Privilege, events, namespaces                                       */
/* ------------------------------------------------------------------ */

/*
 * In a child that gave up CAP_NET_ADMIN (and every other capability, by
 * becoming nobody): the GETs still work, every mutation gets EPERM.
 */
static int unprivileged_child(void)
{
	struct reply *r = calloc(1, sizeof(*r));
	struct nl nl;
	struct msg m;
	int fails = 0;

	if (!r || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
		return 100;
	if (nl_open(&nl) || nl_resolve(&nl))
		return 101;
	if (get_device(&nl, 0, r) || r->nmsg != 1) {
		fprintf(stderr, "# unprivileged GET_DEVICE: %d %s\n", r->err, r->ext);
		fails++;
	}
	msg_init(&m, nl.family, PHLOEM_CMD_GET_STATS, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	if (nl_call(&nl, &m, r) || r->err || r->nmsg != 1)
		fails++;

	msg_init(&m, nl.family, PHLOEM_CMD_SET_LIMITS, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	msg_u32(&m, PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW, 1000);
	if (nl_call(&nl, &m, r) || r->err != -EPERM)
		fails++;
	msg_init(&m, nl.family, PHLOEM_CMD_SET_RELAY, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(&m, PHLOEM_A_RELAY);
	msg_u32(&m, PHLOEM_A_RELAY_INDEX, 0);
	msg_u32(&m, PHLOEM_A_RELAY_PRIORITY, 1);
	nest_end(&m);
	if (nl_call(&nl, &m, r) || r->err != -EPERM)
		fails++;
	msg_init(&m, nl.family, PHLOEM_CMD_LEASE, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	msg_u32(&m, PHLOEM_A_LEASE_TIMEOUT_MS, 1000);
	if (nl_call(&nl, &m, r) || r->err != -EPERM)
		fails++;
	return fails;
}

TEST_F(nl, unprivileged)
{
	struct state before, after;
	int status;
	pid_t pid;

	NEED_DEV();
	ASSERT_EQ(0, state_get(self->fd, &before));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(unprivileged_child());
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(0, state_get(self->fd, &after));
	ASSERT_EQ(0, memcmp(&before, &after, sizeof(before)));
}

/*
 * An overload scripted through the simulator: the garage limit is lowered
 * over netlink, then the garage heater steps up so EV + heater exceed it
 * (the instantaneous rule). The SHED on the group must be the one on the
 * stream: same relay, same trigger sample.
 */
TEST_F_TIMEOUT(nl, events_on_overload, 120)
{
	static const unsigned int quiet[] = {
		R_DISHWASHER, R_OVEN, R_HEATPUMP, R_WATER_HEATER,
	};
	struct phloem_record rec;
	uint32_t dev, kind, relay;
	uint64_t trig;
	unsigned int i, got_shed = 0, n = 0;
	struct nl ev;
	struct msg m;
	int ret;

	NEED_DEV();
	/* Its own socket: requests' replies and events do not mix */
	ASSERT_EQ(0, nl_open(&ev));
	ASSERT_EQ(0, nl_resolve(&ev));
	for (i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		ASSERT_EQ(0, sim_set(0, "relay%u/load_ma", quiet[i]));
	ASSERT_EQ(0, sim_set(3000, "relay%u/load_ma", R_EV));
	ASSERT_EQ(0, sim_set(1000, "relay%u/load_ma", R_GARAGE_HEATER));
	ASSERT_EQ(0, nl_subscribe(&ev));

	msg_init(&m, self->nl.family, PHLOEM_CMD_SET_LIMITS, 0);
	msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
	nest_start(&m, PHLOEM_A_DEV_CIRCUITS);
	circuit_item(&m, CIR_GARAGE, 5000);
	nest_end(&m);
	ASSERT_EQ(0, nl_call(&self->nl, &m, self->r));
	ASSERT_EQ(0, self->r->err) TH_LOG("%s", self->r->ext);

	/* The configuration change itself is an event */
	do {
		ret = nl_next_event(&ev, SLACK_MS, &dev, &kind, &relay, &trig);
		ASSERT_EQ(1, ret) TH_LOG("no PHLOEM_EV_CONFIG on the group");
	} while (kind != PHLOEM_EV_CONFIG);
	ASSERT_EQ(0, dev);

	ASSERT_EQ(0, sim_set(4000, "relay%u/load_ma", R_GARAGE_HEATER));
	while (!got_shed) {
		ret = nl_next_event(&ev, 5000 + SLACK_MS, &dev, &kind, &relay, &trig);
		ASSERT_EQ(1, ret) TH_LOG("no PHLOEM_EV_SHED on the group after %u events", n);
		n++;
		if (kind == PHLOEM_EV_SHED)
			got_shed = 1;
	}
	ASSERT_EQ(R_EV, relay);

	/* The same event on the stream */
	do {
		ret = ph_read_rec(self->fd, &rec, SLACK_MS);
		ASSERT_EQ(1, ret) TH_LOG("the stream has no matching SHED");
	} while (rec.hdr.type != PHLOEM_REC_EVENT || rec.event.kind != PHLOEM_EV_SHED);
	ASSERT_EQ(relay, rec.event.relay);
	ASSERT_EQ(trig, rec.event.trigger_ns);
	close(ev.fd);
}

/* The whole family from a fresh network namespace, events included */
static int netns_child(int go_fd, int ready_fd)
{
	struct reply *r = calloc(1, sizeof(*r));
	const struct nlattr *tb[PHLOEM_A_MAX + 1];
	uint32_t dev, kind, relay;
	uint64_t trig;
	struct nl nl;
	char c = 1;
	int ret;

	if (!r || unshare(CLONE_NEWNET))
		return 100;
	if (nl_open(&nl) || nl_resolve(&nl))
		return 101;
	if (get_device(&nl, 0, r) || r->nmsg != 1)
		return 102;
	reply_attrs(r, tb, PHLOEM_A_MAX);
	if (!tb[PHLOEM_A_DEV_NAME] || strcmp(nla_data(tb[PHLOEM_A_DEV_NAME]), "phloem0"))
		return 103;
	if (nl_subscribe(&nl))
		return 104;
	if (write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1)
		return 105;
	do {
		ret = nl_next_event(&nl, 5000 + SLACK_MS, &dev, &kind, &relay, &trig);
		if (ret != 1)
			return 106;
	} while (kind != PHLOEM_EV_OVERRIDE);
	return relay == R_OVEN ? 0 : 107;
}

TEST_F(nl, netns)
{
	int go[2], ready[2], status;
	struct msg m;
	pid_t pid;
	char c = 1;

	NEED_DEV();
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(netns_child(go[0], ready[1]));
	/* The child subscribed in its namespace: make an event in ours */
	if (read(ready[0], &c, 1) == 1) {
		msg_init(&m, self->nl.family, PHLOEM_CMD_SET_RELAY, 0);
		msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
		nest_start(&m, PHLOEM_A_RELAY);
		msg_u32(&m, PHLOEM_A_RELAY_INDEX, R_OVEN);
		msg_u32(&m, PHLOEM_A_RELAY_OVERRIDE, PHLOEM_OVERRIDE_ON);
		msg_u32(&m, PHLOEM_A_RELAY_OVERRIDE_MS, 60000);
		nest_end(&m);
		EXPECT_EQ(0, nl_call(&self->nl, &m, self->r));
		EXPECT_EQ(0, self->r->err) TH_LOG("%s", self->r->ext);
		EXPECT_EQ(1, write(go[1], &c, 1));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("child step %d failed", WEXITSTATUS(status));
}

/*
 * Ops racing unbind and bind: a child hammers doits and dumps while the
 * driver is unbound and bound again. Each answer is either good or ENODEV
 * (the device is not there at that moment), never anything else; the VM
 * runner fails the run on any oops or splat in the kernel log.
 */
static int race_child(int stop_fd, unsigned long *res)
{
	struct reply *r = calloc(1, sizeof(*r));
	struct pollfd p = { .fd = stop_fd, .events = POLLIN };
	unsigned long ok = 0, gone = 0;
	struct nl nl;
	struct msg m;
	int k = 0, err;

	if (!r || nl_open(&nl) || nl_resolve(&nl))
		return 100;
	while (poll(&p, 1, 0) == 0) {
		switch (k++ % 4) {
		case 0:
			msg_init(&m, nl.family, PHLOEM_CMD_GET_DEVICE, 0);
			msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
			break;
		case 1:
			msg_init(&m, nl.family, PHLOEM_CMD_SET_RELAY, 0);
			msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
			nest_start(&m, PHLOEM_A_RELAY);
			msg_u32(&m, PHLOEM_A_RELAY_INDEX, R_OVEN);
			msg_u32(&m, PHLOEM_A_RELAY_PRIORITY, k & 0xff);
			nest_end(&m);
			break;
		case 2:
			msg_init(&m, nl.family, PHLOEM_CMD_GET_STATS, 0);
			msg_u32(&m, PHLOEM_A_DEV_INDEX, 0);
			break;
		default:
			msg_init(&m, nl.family, PHLOEM_CMD_GET_DEVICE, NLM_F_DUMP);
			break;
		}
		err = nl_call(&nl, &m, r);
		if (err)
			return 101;
		if (!r->err)
			ok++;
		else if (r->err == -ENODEV)
			gone++;
		else {
			fprintf(stderr, "# op %d: %s (%s)\n", (k - 1) % 4,
				strerror(-r->err), r->ext);
			return 102;
		}
	}
	res[0] = ok;
	res[1] = gone;
	return 0;
}

TEST_F_TIMEOUT(nl, ops_race_unbind, 120)
{
	unsigned long *res;
	int stop[2], status, i;
	pid_t pid;

	NEED_DEV();
	/*
	 * An open file keeps the unbound device's struct and its index:
	 * closed, so the rebound device is phloem0 again.
	 */
	close(self->fd);
	self->fd = -1;
	res = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	ASSERT_EQ(0, pipe(stop));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(race_child(stop[0], res));
	for (i = 0; i < 3; i++) {
		ph_sleep_ms(300);
		ASSERT_EQ(0, ph_unbind());
		ph_sleep_ms(200);
		ASSERT_EQ(0, ph_bind());
	}
	ph_sleep_ms(300);
	ASSERT_EQ(1, write(stop[1], "x", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	TH_LOG("%lu answered, %lu ENODEV while unbound", res[0], res[1]);
	ASSERT_GT(res[0], 0);
	munmap(res, 4096);
}

/*
 * A dump of several devices that does not fit one message buffer: four
 * simulated HATs, read with an 8 KiB buffer so the kernel has to stop and
 * resume (cb->args) at least once. Every device comes exactly once, whole,
 * in index order. Last in the file: it reloads the simulator, and puts it
 * back to one HAT afterwards.
 */
static int sim_hats(unsigned int hats, unsigned int timeout_ms)
{
	char params[16], node[32];
	uint64_t end = ph_now_ns() + timeout_ms * NSEC_PER_MSEC;
	int err;

	snprintf(params, sizeof(params), "hats=%u", hats);
	err = sim_reload(params, 0);
	if (err)
		return err;
	snprintf(node, sizeof(node), "/dev/phloem%u", hats - 1);
	while (access(node, F_OK)) {
		if (ph_now_ns() > end)
			return -ETIMEDOUT;
		ph_sleep_ms(50);
	}
	return 0;
}

FIXTURE(multi) {
	int unused;
};
FIXTURE_SETUP(multi) { }
FIXTURE_TEARDOWN(multi) { }

TEST_F_TIMEOUT(multi, dump_resumes, 120)
{
	static char buf[8192];
	const struct nlattr *tb[PHLOEM_A_MAX + 1];
	unsigned int parts = 0, ndev = 0, idx[8];
	bool done = false;
	struct nl nl, ctl;
	struct msg m;
	int err;

	if (!ph_present())
		SKIP(return, "%s absent", PH_DEV);
	ASSERT_EQ(0, sim_hats(4, 10000)) TH_LOG("cannot reload phloem_sim with hats=4");
	ASSERT_EQ(0, nl_open(&ctl));
	ASSERT_EQ(0, nl_resolve(&ctl));
	/*
	 * A socket that never read with a big buffer: the kernel sizes dump
	 * parts by the largest read a socket has made (up to 32 KiB), and
	 * nl_resolve() reads with 64 KiB.
	 */
	ASSERT_EQ(0, nl_open(&nl));
	nl.family = ctl.family;

	msg_init(&m, nl.family, PHLOEM_CMD_GET_DEVICE, NLM_F_DUMP);
	m.nlh.nlmsg_seq = 4242;
	ASSERT_LT(0, send(nl.fd, m.buf, m.nlh.nlmsg_len, 0));
	while (!done) {
		ssize_t n = recv(nl.fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		ASSERT_LT(0, n) TH_LOG("recv: %s", strerror(errno));
		parts++;
		for (h = (void *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			ASSERT_NE(NLMSG_ERROR, h->nlmsg_type);
			ASSERT_EQ(nl.family, h->nlmsg_type);
			ASSERT_EQ(0, h->nlmsg_flags & NLM_F_DUMP_INTR);
			attrs_parse((char *)NLMSG_DATA(h) + GENL_HDRLEN,
				    h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN), tb, PHLOEM_A_MAX);
			ASSERT_LT(ndev, 8);
			idx[ndev++] = nla_u32(tb[PHLOEM_A_DEV_INDEX]);
			ASSERT_EQ(SIM_NRELAYS, list_count(tb[PHLOEM_A_DEV_RELAYS]));
			ASSERT_EQ(SIM_NCIRCUITS, list_count(tb[PHLOEM_A_DEV_CIRCUITS]));
		}
	}
	TH_LOG("%u devices in %u reads", ndev, parts);
	ASSERT_EQ(4, ndev);
	for (unsigned int i = 0; i < ndev; i++)
		ASSERT_EQ(i, idx[i]);
	ASSERT_LE(3, parts);	/* at least two data parts, then DONE */

	/* Every one of them answers a doit too */
	for (unsigned int i = 0; i < ndev; i++) {
		struct reply *r = calloc(1, sizeof(*r));

		ASSERT_NE(NULL, r);
		err = get_device(&nl, i, r);
		ASSERT_EQ(0, err) TH_LOG("device %u: %s", i, r->ext);
		free(r);
	}
	close(nl.fd);
	close(ctl.fd);
	ASSERT_EQ(0, sim_hats(1, 10000));
}

TEST_HARNESS_MAIN
