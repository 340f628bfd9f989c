// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd: the peer protocol (docs/protocol.md) in the event loop.
 *
 * Four fds: the IPv6 and IPv4 UDP sockets, the rtnetlink cache manager and
 * a 100 ms tick timer. The tick drives the SWIM detector, signs this
 * gateway's measurement (the site state's: the kernel's site power, so a
 * sim load that changes changes the community's net power, and the PV and
 * battery power of the site's devices) and sends announcements every
 * announce_ms. It produces the site state's community net power and our
 * ledger balance. Everything a peer sends is decoded, authenticated and only
 * then acted on; anything refused is counted by reason and dropped.
 * Gateways that are not members are listed (untrusted) and sent nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "ledger/ledger.h"
#include "settle/settle.h"
#include "peer/peer.h"
#include "daemon.h"
#include "meter.h"
#include "sodiumlib.h"

#define TICK_MS		100
#define SWIM_PERIOD_MS	1000
#define DIGEST_MS	4000	/* one push-pull digest exchange this often */
#define PUSH_FANOUT	3	/* members one round of news goes to */
#define NEWS_SENDS	(4 * PUSH_FANOUT)	/* datagrams a piece of news rides */
#define ANNOUNCE_FIRST_MS 250	/* ANNOUNCE_FAST gaps of this, then doubling
				 * up to announce_ms */
#define ANNOUNCE_FAST	4
#define MAX_HOT		(2 * PEER_MAX_MEMBERS + 16)
#define MAX_PEERS	(PEER_MAX_MEMBERS * 2)
#define MAX_RELAYS	16
#define ANN_VERIFY_PER_S 32	/* strangers' announcements we verify, a second */
/*
 * What a node sends because others asked is bounded whatever its place:
 * answers to others' digests (what they lack, and our digest back) one
 * every DIGEST_ANSWER_MS on average, bursts of DIGEST_ANSWER_BURST. The
 * mean node gets a digest every DIGEST_MS; the one random choice picks
 * most answered the most and was a street's worst node (issue 11). A
 * digest left unanswered is answered by the next member its sender picks.
 * (SWIM's relays are not bounded so: a PING_REQ declined is a probe that
 * may fail, and a false suspicion costs a wave of STATE records, more
 * than the relay.)
 */
#define DIGEST_ANSWER_MS 3000
#define DIGEST_ANSWER_BURST 2
/*
 * Ledger entries served to one member: one SYNC_REQ answered every
 * SYNC_SERVE_MS on average, bursts of SYNC_SERVE_BURST. An answer is up to
 * a datagram of entries, read from SQLite, for a request of 42 bytes: a
 * member flooding requests (one a message, but as many messages as it
 * likes) would otherwise buy that much CPU and link, without bound. An
 * honest member asks at most once per author per 250 ms (maybe_sync()),
 * and catching up on a day's chains (tens of entries an author, eight an
 * answer) takes a few bursts. Per member, so one's flood does not delay
 * another's catching up; a request refused is asked again on the next
 * measurement that shows the gap.
 */
#define SYNC_SERVE_MS 50
#define SYNC_SERVE_BURST 40

/*
 * What a datagram we send is for: bytes and datagrams are counted per kind
 * (the "tx" object of the peers status), so that an operator, or a bench,
 * sees which duty makes one node send more than another. A sealed datagram
 * counts under the reason it was sent for; the STATE and hot records it
 * carries besides ride along.
 */
enum pd_tx {
	TX_ANNOUNCE,		/* multicast, and unicast replies to announcements */
	TX_HS_INIT,
	TX_HS_RESP,
	TX_PROBE,		/* SWIM: PING, PING_REQ, pings relayed for a PING_REQ */
	TX_ACK,			/* SWIM: ACKs, relayed ones included */
	TX_PUSH,		/* rumour rounds, and the first message of a session */
	TX_DIGEST,		/* our digests and digest replies */
	TX_GIVE,		/* measurements and records a digest showed missing */
	TX_SYNC,		/* ledger anti-entropy: SYNC_REQ, ENTRY, forks */
	TX_SETTLE,		/* PROPOSE, ACCEPT, REFUSE */
	__TX_MAX,
};
static const char *const tx_name[__TX_MAX] = {
	[TX_ANNOUNCE] = "announce", [TX_HS_INIT] = "hs_init", [TX_HS_RESP] = "hs_resp",
	[TX_PROBE] = "probe", [TX_ACK] = "ack", [TX_PUSH] = "push", [TX_DIGEST] = "digest",
	[TX_GIVE] = "give", [TX_SYNC] = "sync", [TX_SETTLE] = "settle",
};

/**
 * struct pd_peer - a gateway we heard from
 * @trusted: a member of our community (sessions, gossip); untrusted ones
 *           are only listed
 */
struct pd_peer {
	uint8_t key[PEER_KEY_BYTES];
	bool trusted;
	bool have_addr;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct peer_session sess;
	uint64_t last_rx_ms;
	uint64_t rx_bytes, tx_bytes, rx_msgs, tx_msgs;
	uint64_t sync_at_ms;		/* last SYNC_REQ for this author's chain */
	struct peer_budget sync_budget;	/* SYNC_REQs of its we serve */
	uint64_t ann_ms;		/* signed time of the announcement in use */
	bool sealed_rx;			/* a sealed datagram of its current run came:
					 * it has a session with us */
	bool sealed_addr;		/* @addr is where an authenticated sealed
					 * datagram came from */
	uint64_t ann_reply_ms;		/* our last unicast announcement to it */
	uint64_t run, run_ms;		/* its announced run id, and that announcement's time */
};

#define MAX_MINE	16	/* our transfers (as debtor) in one interval */
#define PROPOSE_MS	1000	/* a proposal unanswered is sent again */
/* Wait after an interval's end for its metered entries to spread; never
 * more than half an interval, so that a short one (10 s in tests) is still
 * settled while it is the previous interval. */
#define SETTLE_GRACE_MAX_S	30
#define SETTLE_GRACE_S(len)	((len) / 2 < SETTLE_GRACE_MAX_S ? (len) / 2 : SETTLE_GRACE_MAX_S)

enum { XF_PENDING, XF_PROPOSED, XF_DONE, XF_FAILED };

/**
 * struct pd_settle - the interval being settled
 * @res: our own computation, made once (see settle_peer.c)
 * @mine: the transfers of @res where we are the debtor, proposed one at a
 *        time (each takes the next position of our chain)
 */
struct pd_settle {
	bool have;
	uint64_t start;
	uint32_t len;
	struct settle_result res;
	int nmine;
	struct pd_mine {
		struct settle_transfer st;
		struct ledger_transfer lt;
		int state, tries;
		uint64_t sent_ms;
	} mine[MAX_MINE];
};

/**
 * struct pd_owed - the next position of our chain, promised
 * Once we sent a PROPOSE for (@creditor, @interval) at @dseq, the creditor
 * may sign it until the deadline (peer_settle_deadline()), and then both
 * chains must hold it at the positions it names. Until we know whether it
 * did, nothing else may take @dseq: not another creditor's transfer, not a
 * metered entry. Kept in "<ledger>.owed" so that a restart keeps the promise.
 * @max_cseq: the highest creditor position we offered; once the creditor's
 *            chain reaches it without our transfer, no offer can be signed
 */
struct pd_owed {
	bool have;
	uint8_t creditor[PEER_KEY_BYTES];
	uint64_t interval, dseq, max_cseq, deadline_s;
};
#define OWED_MARGIN_S	30	/* clocks of two members may differ this much */
#define OWED_CHECK_MS	500
#define FORK_SCAN_MS	2000

/*
 * struct pd_hot - something that changed, riding in our next datagrams
 * (SWIM's dissemination: each piggy-back counts, @left are still to go)
 * @type: PEER_R_MEASURE (news from @key), PEER_R_STATE (@key's liveness),
 *        PEER_R_MEMBER (the INVITE, or with @removal the REMOVE, of @key)
 * The record is built from the current state when sent, so a newer value
 * replaces an older one in flight.
 */
struct pd_hot {
	uint8_t type;
	bool removal;
	uint8_t key[PEER_KEY_BYTES];
	int left, budget;
};

/* A ping we send on behalf of a ping-req: forward the ACK to @requester. */
struct pd_relay_ping {
	uint32_t our_seq, their_seq;
	uint8_t requester[PEER_KEY_BYTES];
	uint64_t at_ms;
};

struct pd_peers {
	struct ledger_identity *id;
	struct peer_community comm;
	struct peer_swim swim;
	struct peer_gossip gossip;
	struct peer_disc disc;
	uint64_t epoch;			/* run id: random at every start */
	struct peer_local me;		/* our static keys for handshakes */
	struct peer_ratelimit rl;	/* initiations per source address */
	uint64_t hs_init_tx, hs_init_rx, hs_resp_tx, hs_resp_rx;
	uint64_t hs_ratelimited, hs_ignored, hs_paced;
	struct peer_hs_pace hs_pace;	/* our initiations, all peers together */
	struct peer_budget answer_budget;	/* on_digest() */
	uint64_t digests_unanswered;
	uint32_t hs_srtt_ms, hs_base_ms;	/* handshake round trips: peer_hs_base() */
	uint64_t next_announce_ms, announce_gap_ms, next_digest_ms;
	int announce_n;			/* since the start or link change */
	int nhot;
	struct pd_hot hot[MAX_HOT];
	bool push_due;			/* news arrived: a push round now */
	uint64_t news_tx, pushes, digests_tx, digests_rx, digest_gives;
	uint64_t rec_rx[__PEER_R_MAX];	/* records taken in, by type */
	int npeers;
	struct pd_peer peer[MAX_PEERS];
	struct pd_relay_ping relay[MAX_RELAYS];
	struct peer_bucket ann_bucket;	/* strangers' announcements verified */
	uint32_t relay_seq;
	unsigned rot;			/* piggy-back rotation */
	uint64_t drops[__PEER_E_MAX];
	uint64_t rx_bytes, rx_dgrams;
	/* sent, by what for (the totals are their sums) */
	uint64_t tx_kind_bytes[__TX_MAX], tx_kind_dgrams[__TX_MAX];
	uint64_t announces_tx, announces_rx, announces_known;
	/* anti-entropy */
	struct ledger *ledger;
	uint64_t sync_req_tx, sync_req_rx, sync_req_unserved;
	uint64_t entries_tx, entries_rx, entries_refused;
	uint64_t forks_seen, forks_spread, next_fork_scan_ms;
	struct peer_fork_log spread;
	/* settlement */
	struct pd_settle st;
	struct pd_owed owed;
	char owed_path[PATH_MAX];
	uint64_t next_owed_ms, xf_recovered, xf_expired;
	uint64_t next_settle_s;
	uint64_t xf_proposed, xf_completed, xf_accepted, xf_refused_rx, xf_refused_tx;
	uint64_t xf_disagree;
	struct pd_watch w6, w4, wnl, wtick;
	uint64_t next_balance_ms;	/* site_update() */
	struct phloemd *d;
};

#define plog(...) pd_log("peers", __VA_ARGS__)

static uint64_t now_ms(void)
{
	return pd_realtime_ms();
}

/* Session timers run on the monotonic clock: a wall clock that steps
 * (no RTC, NTP arriving late) neither ages nor revives a session. */
static uint64_t sess_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void keytext(const uint8_t *k, char *out)
{
	ledger_key_to_text(k, out);
}

static struct pd_peer *peer_find(struct pd_peers *p, const uint8_t key[32])
{
	for (int i = 0; i < p->npeers; i++)
		if (!memcmp(p->peer[i].key, key, 32))
			return &p->peer[i];
	return NULL;
}

/*
 * Anyone can make keys and sign announcements: when the table is full,
 * the untrusted gateway heard from least recently makes room, so a flood
 * of strangers never keeps a member out.
 */
static struct pd_peer *peer_get(struct pd_peers *p, const uint8_t key[32])
{
	struct pd_peer *e = peer_find(p, key);

	if (e)
		return e;
	if (p->npeers < MAX_PEERS) {
		e = &p->peer[p->npeers++];
	} else {
		for (int i = 0; i < p->npeers; i++)
			if (!p->peer[i].trusted &&
			    (!e || p->peer[i].last_rx_ms < e->last_rx_ms))
				e = &p->peer[i];
		if (!e)
			return NULL;
	}
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, 32);
	return e;
}

static void save_comm(struct pd_peers *p)
{
	int ret = peer_community_save(&p->comm, p->d->cfg.peer_state);

	if (ret)
		plog("cannot save %s: %s", p->d->cfg.peer_state, strerror(-ret));
}

/* Membership changed: sessions for new members, none for removed ones. */
static void sync_trust(struct pd_peers *p)
{
	for (int i = 0; i < p->npeers; i++) {
		struct pd_peer *e = &p->peer[i];
		bool m = peer_community_is_member(&p->comm, e->key);

		if (m && !e->trusted) {
			/*
			 * No keys until a handshake makes fresh ones: a member
			 * evicted and trusted again starts from nothing.
			 */
			if (peer_session_init(&e->sess, &p->me, e->key))
				continue;
			e->trusted = true;
			peer_swim_heard(&p->swim, e->key, now_ms());
		} else if (!m && e->trusted) {
			e->trusted = false;
			peer_session_wipe(&e->sess);
			peer_swim_forget(&p->swim, e->key);
			peer_gossip_forget(&p->gossip, e->key);
		}
	}
}

static void drop(struct pd_peers *p, int reason)
{
	if (reason < 0)
		reason = -reason;
	if (reason > 0 && reason < __PEER_E_MAX)
		p->drops[reason]++;
}

/* ---- sending ---- */

static void count_tx(struct pd_peers *p, struct pd_peer *e, enum pd_tx kind,
		     size_t n, unsigned copies)
{
	p->tx_kind_bytes[kind] += (uint64_t)n * copies;
	p->tx_kind_dgrams[kind] += copies;
	if (e) {
		e->tx_bytes += (uint64_t)n * copies;
		e->tx_msgs += copies;
	}
}

/* One datagram to @to (@e's address, or where its initiation came from) */
static bool send_addr(struct pd_peers *p, struct pd_peer *e, const struct sockaddr_storage *to,
		      socklen_t tolen, const uint8_t *b, size_t n, enum pd_tx kind)
{
	int fd = to->ss_family == AF_INET6 ? p->disc.fd6 : p->disc.fd4;

	if (sendto(fd, b, n, 0, (const struct sockaddr *)to, tolen) != (ssize_t)n)
		return false;
	count_tx(p, e, kind, n, 1);
	return true;
}

static void send_to(struct pd_peers *p, struct pd_peer *e, const uint8_t *b, size_t n,
		    enum pd_tx kind)
{
	send_addr(p, e, &e->addr, e->addrlen, b, n, kind);
}

/* A member with a session: we know its address and hold confirmed keys. */
static bool sendable(const struct pd_peer *e)
{
	return e->trusted && e->have_addr && peer_session_ready(&e->sess, sess_ms());
}

static void seal_send(struct pd_peers *p, struct pd_peer *e, const struct peer_builder *b,
		      enum pd_tx kind)
{
	uint8_t out[PEER_MTU];
	int n;

	if (!sendable(e) || !b->nrecs)
		return;
	n = peer_session_seal(&e->sess, sess_ms(), b->buf, b->len, out, sizeof(out));
	if (n > 0)
		send_to(p, e, out, (size_t)n, kind);
}

/* datagrams wait unread in our sockets (answers may be among them) */
static bool rx_backlog(const struct pd_peers *p)
{
	int fds[2] = { p->disc.fd6, p->disc.fd4 };

	for (int i = 0; i < 2; i++) {
		int q = 0;

		/* UDP: the size of the first datagram queued, 0 for none */
		if (fds[i] >= 0 && !ioctl(fds[i], FIONREAD, &q) && q > 0)
			return true;
	}
	return false;
}

/*
 * Handshakes (agent/lib/peer/handshake.c): a member we know the address of
 * and have no session with, or one due for renewal, gets an initiation;
 * the library says when (retries, back-off, renewal times), and paces
 * them (a retry waits while answers may be queued: rx_backlog(), looked
 * at only when an initiation is due).
 */
static void maybe_handshake(struct pd_peers *p, struct pd_peer *e)
{
	uint8_t out[PEER_HS_INIT_BYTES];
	int n;

	e->sess.hs_base_ms = p->hs_base_ms;
	if (!e->trusted || !e->have_addr ||
	    !peer_session_want_handshake(&e->sess, sess_ms()))
		return;
	if (!peer_hs_pace_allow(&p->hs_pace, &e->sess, rx_backlog(p), sess_ms())) {
		p->hs_paced++;
		return;
	}
	n = peer_session_initiate(&e->sess, &p->me, sess_ms(), out, sizeof(out));
	if (n > 0) {
		send_to(p, e, out, (size_t)n, TX_HS_INIT);
		p->hs_init_tx++;
	}
}

/* ---- dissemination: what changed rides in the next datagrams ---- */

/* SWIM's lambda * log(n): enough piggy-backs to reach every member whp */
static int hot_budget(const struct pd_peers *p, uint8_t type)
{
	int k = 1;

	if (type == PEER_R_MEASURE)
		return NEWS_SENDS;
	for (int v = p->swim.n + 1; v > 1; v >>= 1)
		k++;
	return 3 * k;
}

static void hot_add(struct pd_peers *p, uint8_t type, const uint8_t key[32], bool removal)
{
	struct pd_hot *h = NULL;

	for (int i = 0; i < p->nhot; i++)
		if (p->hot[i].type == type && p->hot[i].removal == removal &&
		    !memcmp(p->hot[i].key, key, 32)) {
			h = &p->hot[i];
			break;
		}
	if (!h && p->nhot < MAX_HOT) {
		h = &p->hot[p->nhot++];
	} else if (!h) {
		/* full: the item closest to done makes room */
		h = &p->hot[0];
		for (int i = 1; i < p->nhot; i++)
			if (p->hot[i].left < h->left)
				h = &p->hot[i];
	}
	h->type = type;
	h->removal = removal;
	memcpy(h->key, key, 32);
	h->left = h->budget = hot_budget(p, type);
	if (type != PEER_R_STATE)
		p->push_due = true;
}

/* A STATE record of @key (ourselves included) as we believe it now. */
static bool state_record(struct pd_peers *p, const uint8_t key[32], struct peer_rec_any *r)
{
	const struct peer_swim_member *m;

	r->type = PEER_R_STATE;
	memcpy(r->state.key, key, 32);
	if (!memcmp(key, p->swim.self, 32)) {
		r->state.state = PEER_ALIVE;
		r->state.inc = p->swim.inc;
		return true;
	}
	m = peer_swim_find(&p->swim, key);
	if (!m)
		return false;
	r->state.state = m->state;
	r->state.inc = m->inc;
	return true;
}

/* The record a hot item stands for, from what we hold now; false: gone. */
static bool hot_record(struct pd_peers *p, const struct pd_hot *h, struct peer_rec_any *r)
{
	r->type = h->type;
	switch (h->type) {
	case PEER_R_MEASURE: {
		const struct peer_measure *m = peer_gossip_get(&p->gossip, h->key);

		if (!m)
			return false;
		r->measure = *m;
		return true;
	}
	case PEER_R_STATE:
		return state_record(p, h->key, r);
	case PEER_R_MEMBER: {
		const struct peer_record *rec = h->removal ? p->comm.removed : p->comm.member;
		int n = h->removal ? p->comm.nremoved : p->comm.nmembers;

		for (int i = 0; i < n; i++)
			if (!memcmp(rec[i].subject, h->key, 32)) {
				r->member = rec[i];
				return true;
			}
		return false;
	}
	}
	return false;
}

/*
 * The largest share of its budget still to go first: the freshest news
 * leads, and a burst of liveness changes (their budgets are larger) does
 * not crowd a load change out of every datagram.
 */
static bool hot_before(const struct pd_hot *a, const struct pd_hot *b)
{
	return (int64_t)a->left * b->budget > (int64_t)b->left * a->budget;
}

static void hot_sort(struct pd_peers *p)
{
	for (int i = 1; i < p->nhot; i++) {
		struct pd_hot t = p->hot[i];
		int j = i;

		for (; j > 0 && hot_before(&t, &p->hot[j - 1]); j--)
			p->hot[j] = p->hot[j - 1];
		p->hot[j] = t;
	}
}

/* News to push: a hot MEASURE or MEMBER (STATEs only piggy-back). */
static bool hot_pushable(const struct pd_peers *p)
{
	for (int i = 0; i < p->nhot; i++)
		if (p->hot[i].type != PEER_R_STATE)
			return true;
	return false;
}

/*
 * Seal and send @b to @e after adding, as room allows, our own liveness
 * (it costs 44 bytes and refutes any suspicion at once) and the hot items
 * the receiver is not the subject of: that is the whole rumour transport.
 */
static void send_with_news(struct pd_peers *p, struct pd_peer *e, struct peer_builder *b,
			   enum pd_tx kind)
{
	struct peer_rec_any r;
	int k = 0;

	if (!sendable(e))
		return;
	state_record(p, p->swim.self, &r);
	peer_builder_add(b, &r);
	hot_sort(p);
	for (int i = 0; i < p->nhot; i++) {
		struct pd_hot *h = &p->hot[i];

		/* it knows its own measurement; a STATE about it must reach
		 * it, though: that is how a suspected member learns to refute */
		if (h->type == PEER_R_MEASURE && !memcmp(h->key, e->key, 32))
			continue;
		if (!hot_record(p, h, &r)) {
			h->left = 0;
			continue;
		}
		if (peer_builder_add(b, &r))
			break;
		h->left--;
		if (h->type == PEER_R_MEASURE)
			p->news_tx++;
	}
	for (int i = 0; i < p->nhot; i++)
		if (p->hot[i].left > 0)
			p->hot[k++] = p->hot[i];
	p->nhot = k;
	seal_send(p, e, b, kind);
}

static void builder_init(struct peer_builder *b, uint8_t *pt)
{
	peer_builder_init(b, pt, PEER_MTU - PEER_SEALED_HDR - PEER_TAG_BYTES);
}

static void send_sealed(struct pd_peers *p, struct pd_peer *e,
			const struct peer_rec_any *first, enum pd_tx kind)
{
	uint8_t pt[PEER_MTU];
	struct peer_builder b;

	builder_init(&b, pt);
	if (first)
		peer_builder_add(&b, first);
	send_with_news(p, e, &b, kind);
}

/* A member we can send to and do not hold dead. */
static bool reachable(struct pd_peers *p, const struct pd_peer *e)
{
	const struct peer_swim_member *m;

	if (!sendable(e))
		return false;
	m = peer_swim_find(&p->swim, e->key);
	return m && m->state != PEER_DEAD;
}

/*
 * Up to @max distinct random reachable members into @out, suspects
 * included: at 10% loss most suspicions are false, and a member left out
 * of every push while suspected missed the news for seconds (until a
 * digest), and heard of its suspicion (to refute it) only when probed.
 */
static int pick_random(struct pd_peers *p, struct pd_peer **out, int max)
{
	struct pd_peer *c[MAX_PEERS];
	int n = 0;

	for (int i = 0; i < p->npeers; i++)
		if (reachable(p, &p->peer[i]))
			c[n++] = &p->peer[i];
	for (int i = 0; i < max && i < n; i++) {
		int j = i + (int)randombytes_uniform((uint32_t)(n - i));
		struct pd_peer *t = c[i];

		c[i] = c[j];
		c[j] = t;
		out[i] = c[i];
	}
	return n < max ? n : max;
}

/*
 * A round of rumour mongering: news goes to PUSH_FANOUT random members now
 * rather than waiting for the next probe. Each item rides NEWS_SENDS
 * datagrams in all, so every holder of a piece of news pushes it for about
 * four rounds: at 10% loss a member misses it with probability ~e^-11.
 */
static void push_news(struct pd_peers *p)
{
	struct pd_peer *to[PUSH_FANOUT];
	int n;

	p->push_due = false;
	if (!hot_pushable(p))
		return;
	n = pick_random(p, to, PUSH_FANOUT);
	for (int i = 0; i < n; i++)
		send_sealed(p, to[i], NULL, TX_PUSH);
	p->pushes++;
}

/* ---- digests: push-pull anti-entropy of measurements and membership ---- */

static void digest_rec(struct pd_peers *p, struct peer_rec_any *r, uint8_t *ent, uint8_t flags)
{
	r->type = PEER_R_DIGEST;
	r->digest.flags = flags;
	peer_community_digest(&p->comm, r->digest.comm);
	r->digest.n = (uint8_t)peer_gossip_digest(&p->gossip, ent, PEER_MAX_MEMBERS);
	r->digest.ent = ent;
}

static void send_digest(struct pd_peers *p, struct pd_peer *e, uint8_t flags)
{
	uint8_t pt[PEER_MTU], ent[PEER_MAX_MEMBERS * PEER_DIGEST_ENTRY];
	struct peer_builder b;
	struct peer_rec_any r;

	builder_init(&b, pt);
	digest_rec(p, &r, ent, flags);
	if (peer_builder_add(&b, &r))
		return;
	p->digests_tx++;
	send_with_news(p, e, &b, TX_DIGEST);
}

/*
 * A digest came in: send back what its sender lacks (measurements, and
 * member records in rotation when the member sets differ), and when it
 * holds something we lack, our own digest so that it does the same.
 */
static void on_digest(struct pd_peers *p, struct pd_peer *e, const struct peer_digest *d)
{
	const struct peer_measure *give[PEER_MAX_RECS];
	uint8_t pt[PEER_MTU], comm[8];
	struct peer_builder b;
	struct peer_rec_any r;
	bool behind;
	int ngive;

	p->digests_rx++;
	behind = peer_gossip_diff(&p->gossip, d, give, PEER_MAX_RECS, &ngive);
	peer_community_digest(&p->comm, comm);
	/* the answer to a digest of ours always goes: it is our exchange */
	if ((ngive || behind || memcmp(comm, d->comm, 8)) && !(d->flags & PEER_DIGEST_REPLY) &&
	    !peer_budget_take(&p->answer_budget, DIGEST_ANSWER_MS, DIGEST_ANSWER_BURST,
			      sess_ms())) {
		p->digests_unanswered++;
		return;
	}
	builder_init(&b, pt);
	for (int i = 0; i < ngive; i++) {
		r.type = PEER_R_MEASURE;
		r.measure = *give[i];
		if (peer_builder_add(&b, &r))
			break;
		p->digest_gives++;
	}
	if (memcmp(comm, d->comm, 8)) {
		int n = p->comm.nmembers + p->comm.nremoved;

		for (int i = 0; i < n; i++) {
			int k = (int)((p->rot + (unsigned)i) % (unsigned)n);

			r.type = PEER_R_MEMBER;
			r.member = k < p->comm.nmembers ? p->comm.member[k] :
				   p->comm.removed[k - p->comm.nmembers];
			if (peer_builder_add(&b, &r)) {
				p->rot += (unsigned)i;
				break;
			}
		}
		behind = true;
	}
	if (b.nrecs)
		send_with_news(p, e, &b, TX_GIVE);
	if (behind && !(d->flags & PEER_DIGEST_REPLY))
		send_digest(p, e, PEER_DIGEST_REPLY);
}

static void send_simple(struct pd_peers *p, const uint8_t key[32], uint8_t type,
			uint32_t seq, const uint8_t *target)
{
	struct pd_peer *e = peer_find(p, key);
	struct peer_rec_any r = { .type = type };

	if (!e)
		return;
	if (type == PEER_R_PING_REQ) {
		r.ping_req.seq = seq;
		memcpy(r.ping_req.target, target, 32);
	} else {
		r.ping.seq = seq;
	}
	send_sealed(p, e, &r, type == PEER_R_ACK ? TX_ACK : TX_PROBE);
}

static int make_announce(struct pd_peers *p, uint8_t *buf, size_t cap)
{
	struct peer_announce a = { .epoch = p->epoch, .time_ms = now_ms(),
				   .port = p->disc.port };
	const struct peer_record *own = peer_community_record(&p->comm, p->id->pk);

	memcpy(a.community, p->comm.id, 32);
	memcpy(a.key, p->id->pk, 32);
	if (own) {
		a.has_record = true;
		a.record = *own;
	}
	return peer_announce_encode(&a, p->id->sk, buf, cap);
}

static void announce(struct pd_peers *p, struct pd_peer *only)
{
	uint8_t buf[PEER_MTU];
	int n = make_announce(p, buf, sizeof(buf));

	if (n < 0)
		return;
	if (only) {
		send_to(p, only, buf, (size_t)n, TX_ANNOUNCE);
	} else {
		int sent = peer_disc_multicast(&p->disc, buf, (size_t)n);

		if (sent > 0)
			count_tx(p, NULL, TX_ANNOUNCE, (size_t)n, (unsigned)sent);
	}
	p->announces_tx++;
}

/* ---- receiving ---- */

static void on_announce(struct pd_peers *p, const struct peer_announce *a,
			const uint8_t *buf, size_t len,
			const struct sockaddr_storage *from, socklen_t fl)
{
	struct pd_peer *e;
	int ret;

	uint64_t now = now_ms();
	bool newer;

	if (!memcmp(a->key, p->id->pk, 32))
		return drop(p, PEER_E_SELF);
	/* the checks that cost nothing first: another community's, or a
	 * stale (replayed) or future one, costs no signature check */
	ret = peer_announce_check(a, p->comm.id, now);
	if (ret)
		return drop(p, ret);
	/*
	 * A member's announcement of the run in use that is not newer than
	 * the one in use (a copy: the same announcement on the other address
	 * family, it goes to both groups; or a replay), or that comes while
	 * we hold a session of that run with it (sealed datagrams of it have
	 * come, from the address in use), would change nothing once verified:
	 * no address, run or record moves on it, and SWIM probes the member
	 * over the session. So it is not verified: at a street's restart
	 * every member got each announcement twice and its later ones too,
	 * two Ed25519 verifications each, a third of the CPU that 50
	 * daemons spent on two cores (issue 11, scale).
	 */
	e = peer_find(p, a->key);
	if (e && e->trusted && e->run && a->epoch == e->run &&
	    (a->time_ms <= e->ann_ms || (e->sealed_rx && e->sealed_addr)) &&
	    peer_community_record(&p->comm, a->key)) {
		p->announces_known++;
		return;
	}
	/*
	 * Anyone can make keys and sign announcements for our community (its
	 * id is the hash of its name): a stranger's are verified at most
	 * ANN_VERIFY_PER_S a second, so a flood of them costs bounded CPU.
	 * A member's, or a newly invited one's, are always checked; an
	 * invitee whose record we lack may wait for its next announcement.
	 */
	if (!peer_community_is_member(&p->comm, a->key) &&
	    !peer_bucket_take(&p->ann_bucket, ANN_VERIFY_PER_S, now))
		return drop(p, PEER_E_UNTRUSTED);
	/* its record, when we hold it already, was verified when stored */
	ret = peer_announce_verify_held(a, buf, len, peer_community_record(&p->comm, a->key));
	if (ret)
		return drop(p, ret);
	p->announces_rx++;
	/* also for our anchor, whose record we lack until it sends it */
	if (!peer_community_record(&p->comm, a->key) && a->has_record &&
	    !memcmp(a->record.subject, a->key, 32)) {
		/* vouched = false: a stranger's self-signed record admits nobody */
		ret = peer_community_apply(&p->comm, &a->record, false);
		if (ret > 0) {
			char kt[LEDGER_KEYTEXT_SIZE];

			keytext(a->key, kt);
			plog("member %s admitted (invited by a member)", kt);
			save_comm(p);
			hot_add(p, PEER_R_MEMBER, a->key, false);
		}
	}
	e = peer_get(p, a->key);
	if (!e)
		return;
	e->last_rx_ms = now_ms();
	e->rx_bytes += len;
	e->rx_msgs++;
	/*
	 * Announcements are signed but not sealed: anyone can replay one
	 * from elsewhere. Only a fresh one (peer_announce_check()) newer
	 * than the one in use (by its signed time) may move the peer's
	 * address, and an address a sealed datagram authenticated is moved
	 * by sealed datagrams only (on_sealed()): a replay cannot divert a
	 * member's traffic for longer than until its next datagram.
	 */
	newer = a->time_ms > e->ann_ms;
	if (newer)
		e->ann_ms = a->time_ms;
	if (e->sealed_addr && newer && e->run && a->epoch != e->run)
		e->sealed_addr = false;	/* it restarted, maybe elsewhere */
	if (!e->sealed_addr && (!e->have_addr || newer)) {
		e->addr = *from;
		e->addrlen = fl;
		/* reply to the announced port */
		if (from->ss_family == AF_INET6)
			((struct sockaddr_in6 *)&e->addr)->sin6_port = htons(a->port);
		else
			((struct sockaddr_in *)&e->addr)->sin_port = htons(a->port);
		e->have_addr = true;
	}
	sync_trust(p);
	if (!e->trusted)
		return drop(p, PEER_E_UNTRUSTED);
	/*
	 * Another run id: it restarted and lost its sessions, so ours is
	 * renewed at once rather than when it fails. Only from an announcement
	 * newer than the one that gave the run id in use, so that replays of
	 * old announcements cannot keep us shaking hands.
	 */
	if (a->epoch != e->run && (!e->run || a->time_ms > e->run_ms)) {
		if (e->run)
			peer_session_stale(&e->sess);
		e->run = a->epoch;
		e->run_ms = a->time_ms;
		e->sealed_rx = false;
		e->ann_reply_ms = 0;
	}
	/* a retry due here waits for a backlog as on_tick()'s do: this
	 * announcement may be one of many still queued */
	maybe_handshake(p, e);
	/*
	 * New to us, restarted, or not yet heard sealed from: it may not know
	 * our address (our multicast was lost, or it started after it), so let
	 * it learn it now rather than at our next announcement: at once for a
	 * new run, else at most once a second (a whole street starting at
	 * once would otherwise answer every announcement of every start).
	 */
	if (!e->sealed_rx && now_ms() - e->ann_reply_ms >= 1000) {
		e->ann_reply_ms = now_ms();
		announce(p, e);
	}
	/* a replay (not newer) is no sign of life */
	if (newer)
		peer_swim_heard(&p->swim, e->key, now_ms());
}

static void relay_ack(struct pd_peers *p, uint32_t seq)
{
	for (int i = 0; i < MAX_RELAYS; i++) {
		struct pd_relay_ping *r = &p->relay[i];

		if (r->our_seq && r->our_seq == seq) {
			send_simple(p, r->requester, PEER_R_ACK, r->their_seq, NULL);
			r->our_seq = 0;
		}
	}
}

static void on_ping_req(struct pd_peers *p, const uint8_t from[32], uint32_t seq,
			const uint8_t target[32])
{
	struct pd_relay_ping *slot = &p->relay[0];

	for (int i = 0; i < MAX_RELAYS; i++)
		if (!p->relay[i].our_seq || p->relay[i].at_ms < slot->at_ms) {
			slot = &p->relay[i];
			if (!slot->our_seq)
				break;
		}
	/* relayed pings count from the top half, so they never collide
	 * with the detector's own sequence numbers */
	if (++p->relay_seq == 0x80000000u || p->relay_seq < 0x80000000u)
		p->relay_seq = 0x80000000u;
	slot->our_seq = p->relay_seq;
	slot->their_seq = seq;
	slot->at_ms = now_ms();
	memcpy(slot->requester, from, 32);
	send_simple(p, target, PEER_R_PING, slot->our_seq, NULL);
}

/* ---- anti-entropy (sync.c) ---- */

/* @m (verified) says its author's chain reaches m->head_seq: catch up
 * from @from, who evidently has it, at most one request per 250 ms */
static void maybe_sync(struct pd_peers *p, struct pd_peer *from,
		       const struct peer_measure *m, bool force)
{
	struct pd_peer *author = peer_find(p, m->key);
	struct peer_rec_any req;
	uint8_t pt[PEER_MTU];
	struct peer_builder b;
	uint64_t now = now_ms();

	if (!p->ledger || !m || !memcmp(m->key, p->id->pk, 32))
		return;
	if (author && !force && now - author->sync_at_ms < 250)
		return;
	if (peer_sync_need(p->ledger, m, &req) != 1)
		return;
	if (author)
		author->sync_at_ms = now;
	builder_init(&b, pt);
	peer_builder_add(&b, &req);
	seal_send(p, from, &b, TX_SYNC);
	p->sync_req_tx++;
}

static void serve_sync(struct pd_peers *p, struct pd_peer *e, const struct peer_rec_any *r)
{
	uint8_t pt[PEER_MTU];
	struct peer_builder b;
	int n;

	p->sync_req_rx++;
	if (!peer_community_is_member(&p->comm, r->sync_req.author))
		return;		/* we keep and serve members' chains only */
	if (!peer_budget_take(&e->sync_budget, SYNC_SERVE_MS, SYNC_SERVE_BURST, sess_ms())) {
		p->sync_req_unserved++;
		return;
	}
	builder_init(&b, pt);
	n = peer_sync_serve(p->ledger, r, &b);
	if (n > 0) {
		seal_send(p, e, &b, TX_SYNC);
		p->entries_tx += (unsigned)n;
	}
}

/* One fork: both entries to every member, once per author and run
 * (struct peer_fork_log: the scan every 2 s finds every fork again). */
static int spread_fork(const uint8_t author[32], uint64_t seq, const uint8_t *a,
		       size_t a_len, const uint8_t *b2, size_t b_len, void *arg)
{
	struct pd_peers *p = arg;
	struct peer_rec_any r = { .type = PEER_R_ENTRY };
	uint8_t pt[PEER_MTU];
	struct peer_builder b;
	char kt[LEDGER_KEYTEXT_SIZE];

	bool full = p->spread.full;

	if (!peer_fork_log_add(&p->spread, author)) {
		if (p->spread.full && !full)
			plog("more forking authors than we track: the others are not spread");
		return 0;
	}
	keytext(author, kt);
	plog("fork of %s at seq %" PRIu64 ": sending both entries to every member", kt, seq);
	builder_init(&b, pt);
	r.entry.buf = a;
	r.entry.len = (uint16_t)a_len;
	if (a_len > PEER_ENTRY_MAX || peer_builder_add(&b, &r))
		return 0;
	r.entry.buf = b2;
	r.entry.len = (uint16_t)b_len;
	if (b_len > PEER_ENTRY_MAX || peer_builder_add(&b, &r))
		return 0;
	for (int i = 0; i < p->npeers; i++)
		seal_send(p, &p->peer[i], &b, TX_SYNC);
	p->forks_spread++;
	return 0;
}

/*
 * The ledger takes chains of members only, and settles with members only
 * (docs/ledger.md, Threat model): hand it the community as we know it now.
 * Members not yet known here are refused until they are, and pulled again.
 */
static void ledger_members(struct pd_peers *p)
{
	uint8_t keys[PEER_MAX_MEMBERS + 2][PEER_KEY_BYTES];
	size_t n = 0;

	for (int i = 0; i < p->comm.nmembers; i++)
		memcpy(keys[n++], p->comm.member[i].subject, PEER_KEY_BYTES);
	if (p->comm.has_anchor)
		memcpy(keys[n++], p->comm.anchor, PEER_KEY_BYTES);
	memcpy(keys[n++], p->id->pk, PEER_KEY_BYTES);
	if (ledger_set_members(p->ledger, (const uint8_t (*)[LEDGER_KEY_BYTES])keys, n))
		plog("ledger: cannot set the member set");
}

static void take_entry(struct pd_peers *p, struct pd_peer *from, const struct peer_rec_any *r)
{
	int ret;

	ledger_members(p);
	ret = peer_sync_take(p->ledger, r->entry.buf, r->entry.len);

	if (ret == 1) {
		p->entries_rx++;
	} else if (ret == LEDGER_E_FORK) {
		p->forks_seen++;
		p->next_fork_scan_ms = 0;	/* spread it at the next tick */
	} else if (ret) {
		p->entries_refused++;
	}
}

/* ---- settlement over sessions (settle_peer.c) ---- */

static int settle_compute(struct pd_peers *p, uint64_t start, uint32_t len)
{
	char why[256];
	int ret;

	if (p->st.have && p->st.start == start)
		return 0;
	if (p->st.have)
		settle_result_free(&p->st.res);
	memset(&p->st, 0, sizeof(p->st));
	ledger_members(p);
	ret = peer_settle_compute(p->ledger, start, len, &p->st.res, why, sizeof(why));
	if (ret) {
		plog("settlement of %" PRIu64 ": %s", start, why);
		return ret;
	}
	p->st.have = true;
	p->st.start = start;
	p->st.len = len;
	for (size_t i = 0; i < p->st.res.n_transfers && p->st.nmine < MAX_MINE; i++) {
		const struct settle_transfer *t = &p->st.res.transfers[i];

		if (t->kind == SETTLE_ENERGY && !memcmp(t->debtor, p->id->pk, 32))
			p->st.mine[p->st.nmine++].st = *t;
	}
	plog("settlement of %" PRIu64 ": %zu transfers, %d ours to propose",
	     start, p->st.res.n_transfers, p->st.nmine);
	return 0;
}

/* Transfers of ours still to propose or answered: the interval is in flight. */
static bool settle_busy(const struct pd_peers *p)
{
	for (int i = 0; i < p->st.nmine; i++)
		if (p->st.mine[i].state == XF_PENDING || p->st.mine[i].state == XF_PROPOSED)
			return true;
	return false;
}

int pd_peers_settle(struct phloemd *d, uint64_t start, uint32_t len, char *err,
		    size_t errlen)
{
	struct pd_peers *p = d->peers;

	if (!p || !p->ledger) {
		snprintf(err, errlen, "settlement needs [peers] community= and ledger=");
		return -ENOTCONN;
	}
	if (p->st.have && p->st.start == start) {
		snprintf(err, errlen, "interval %" PRIu64 " is already being settled", start);
		return -EALREADY;
	}
	if (settle_compute(p, start, len)) {
		snprintf(err, errlen, "cannot compute the settlement of %" PRIu64 " (see the log)",
			 start);
		return -EINVAL;
	}
	p->next_settle_s = 0;
	return 0;
}

static void send_xfer(struct pd_peers *p, struct pd_peer *e, uint8_t type,
		      const struct ledger_transfer *t)
{
	struct peer_rec_any r = { .type = type };
	uint8_t pt[PEER_MTU];
	struct peer_builder b;

	ledger_transfer_encode(t, r.xfer.body);
	builder_init(&b, pt);
	peer_builder_add(&b, &r);
	seal_send(p, e, &b, TX_SETTLE);
}

/* ---- the promised position (struct pd_owed) ---- */

static int owed_save(struct pd_peers *p)
{
	char tmp[PATH_MAX + 8], kt[LEDGER_KEYTEXT_SIZE];
	FILE *f;
	int ret = 0;

	if (!p->owed.have) {
		if (unlink(p->owed_path))
			ret = errno == ENOENT ? 0 : -errno;
		else
			ret = peer_fsync_dir(p->owed_path);
		goto out;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", p->owed_path) >= (int)sizeof(tmp)) {
		ret = -ENAMETOOLONG;
		goto out;
	}
	f = fopen(tmp, "w");
	if (!f) {
		ret = -errno;
		goto out;
	}
	keytext(p->owed.creditor, kt);
	fprintf(f, "owed1 %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", kt,
		p->owed.interval, p->owed.dseq, p->owed.max_cseq, p->owed.deadline_s);
	/* durable before the PROPOSE leaves: the promise must survive us */
	if (fflush(f) || fsync(fileno(f)))
		ret = -errno;
	if (fclose(f) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, p->owed_path))
		ret = -errno;
	/* the rename itself is durable only once the directory is */
	if (!ret)
		ret = peer_fsync_dir(p->owed_path);
out:
	if (ret)
		plog("cannot save %s: %s", p->owed_path, strerror(-ret));
	return ret;
}

static void owed_load(struct pd_peers *p)
{
	char kt[128];
	struct pd_owed o = { .have = true };
	FILE *f = fopen(p->owed_path, "r");

	if (!f)
		return;
	if (fscanf(f, "owed1 %127s %" SCNu64 " %" SCNu64
		   " %" SCNu64 " %" SCNu64, kt, &o.interval, &o.dseq, &o.max_cseq,
		   &o.deadline_s) != 5 || ledger_key_from_text(kt, o.creditor) || !o.dseq) {
		/* a promise we cannot read is still a promise: keep the
		 * file for the operator, and say so loudly */
		plog("%s is unreadable: settlement proposals stay off until it is fixed",
		     p->owed_path);
		o.dseq = 0;	/* have, dseq 0: nothing goes onto our chain */
	}
	fclose(f);
	p->owed = o;
	if (o.dseq)
		plog("resuming: our position %" PRIu64 " is promised to %.16s for interval %" PRIu64,
		     o.dseq, kt, o.interval);
}

static void owed_clear(struct pd_peers *p, const char *why)
{
	char kt[LEDGER_KEYTEXT_SIZE];

	keytext(p->owed.creditor, kt);
	plog("position %" PRIu64 " (interval %" PRIu64 ", to %.16s) released: %s",
	     p->owed.dseq, p->owed.interval, kt, why);
	memset(&p->owed, 0, sizeof(p->owed));
	owed_save(p);
}

/* Our half of a transfer, now signed by both: onto our chain. */
static int append_transfer(struct pd_peers *p, const struct ledger_transfer *t)
{
	struct ledger_entry en = { .type = LEDGER_T_TRANSFER };

	en.body.transfer = *t;
	return ledger_append(p->ledger, p->id->pk, p->id, &en, NULL);
}

static struct pd_mine *mine_for(struct pd_peers *p, const uint8_t creditor[32], uint64_t interval)
{
	if (!p->st.have || p->st.start != interval)
		return NULL;
	for (int i = 0; i < p->st.nmine; i++)
		if (!memcmp(p->st.mine[i].st.creditor, creditor, 32))
			return &p->st.mine[i];
	return NULL;
}

/*
 * Is the promise kept or void yet? Kept: the creditor's chain (as
 * anti-entropy brought it) holds the transfer, at our position: we append
 * it, even if its ACCEPT never reached us or we restarted since. Void: the
 * creditor's chain went past every position we offered without it, or the
 * deadline passed (with a margin for clocks).
 */
static void owed_check(struct pd_peers *p, uint64_t now)
{
	struct pd_owed *o = &p->owed;
	struct ledger_head mine, theirs;
	struct ledger_transfer t;
	struct pd_mine *x;
	int ret;

	if (!o->have || !o->dseq || !p->ledger || now < p->next_owed_ms)
		return;
	p->next_owed_ms = now + OWED_CHECK_MS;
	if (ledger_get_head(p->ledger, p->id->pk, &mine))
		return;
	x = mine_for(p, o->creditor, o->interval);
	if (mine.seq >= o->dseq) {
		owed_clear(p, "our chain holds the position");
		return;
	}
	ret = peer_settle_find_transfer(p->ledger, o->creditor, p->id->pk, o->creditor,
					o->interval, &t);
	if (ret == 1) {
		if (t.debtor_seq != mine.seq + 1 || memcmp(t.debtor_prev, mine.hash, 32)) {
			owed_clear(p, "the creditor signed a transfer at another position of ours "
				   "(kept in its chain only; see ledger verify)");
			return;
		}
		ret = append_transfer(p, &t);
		if (ret) {
			plog("settlement: cannot append the transfer the creditor signed: %s",
			     ledger_strerror(ret));
			return;		/* again at the next check */
		}
		p->xf_recovered++;
		if (x && x->state != XF_DONE) {
			x->state = XF_DONE;
			p->xf_completed++;
		}
		owed_clear(p, "the creditor's chain holds it signed: appended ours");
		return;
	}
	if (!ledger_get_head(p->ledger, o->creditor, &theirs) && theirs.seq >= o->max_cseq) {
		if (x && x->state == XF_PROPOSED)
			x->state = XF_PENDING;
		owed_clear(p, "the creditor's chain moved past every position offered");
		return;
	}
	if (now / 1000 > o->deadline_s + OWED_MARGIN_S) {
		if (x && x->state != XF_DONE)
			x->state = XF_FAILED;
		p->xf_expired++;
		owed_clear(p, "the creditor never answered before the deadline");
	}
}

bool pd_peers_may_append(struct phloemd *d)
{
	return !d->peers || !d->peers->owed.have;
}

/* Propose the first of our transfers not done yet: one at a time, since
 * each one takes the next position of our chain. */
static void settle_tick(struct pd_peers *p, uint64_t now)
{
	uint64_t deadline = peer_settle_deadline(p->st.start, p->st.len);
	struct pd_owed *o = &p->owed;

	owed_check(p, now);
	for (int i = 0; i < p->st.nmine; i++) {
		struct pd_mine *x = &p->st.mine[i];
		struct pd_peer *e;

		if (x->state == XF_DONE || x->state == XF_FAILED)
			continue;
		/* our position is promised to another creditor, or unreadable */
		if (o->have && (!o->dseq || memcmp(o->creditor, x->st.creditor, 32) ||
				o->interval != p->st.start))
			return;
		if (x->state == XF_PROPOSED && now - x->sent_ms < PROPOSE_MS)
			return;
		e = peer_find(p, x->st.creditor);
		if (!e || !e->trusted)
			return;
		if (now / 1000 > deadline || ++x->tries > 30) {
			/* no new offer; one made stays promised until resolved */
			x->state = XF_FAILED;
			continue;
		}
		/* positions from our ledger now: the creditor's may have moved */
		if (peer_settle_offer(p->ledger, p->id, &x->st, &x->lt))
			return;
		if (o->have && x->lt.debtor_seq != o->dseq)
			return;		/* cannot happen while the promise holds */
		if (!o->have || x->lt.creditor_seq > o->max_cseq) {
			o->have = true;
			memcpy(o->creditor, x->st.creditor, 32);
			o->interval = p->st.start;
			o->dseq = x->lt.debtor_seq;
			if (x->lt.creditor_seq > o->max_cseq)
				o->max_cseq = x->lt.creditor_seq;
			o->deadline_s = deadline;
			if (owed_save(p))
				return;	/* not durable: do not promise */
		}
		send_xfer(p, e, PEER_R_PROPOSE, &x->lt);
		x->state = XF_PROPOSED;
		x->sent_ms = now;
		p->xf_proposed++;
		return;
	}
}

static void refuse(struct pd_peers *p, struct pd_peer *e, const struct ledger_transfer *t,
		   int reason)
{
	struct peer_rec_any r = { .type = PEER_R_REFUSE };
	uint8_t pt[PEER_MTU];
	struct peer_builder b;

	ledger_transfer_id(t, r.refuse.id);
	r.refuse.reason = (uint8_t)reason;
	builder_init(&b, pt);
	peer_builder_add(&b, &r);
	seal_send(p, e, &b, TX_SETTLE);
	p->xf_refused_tx++;
}

/* We are the creditor: sign only what our own computation says, once. */
static void on_propose(struct pd_peers *p, struct pd_peer *e, const struct peer_rec_any *r)
{
	struct ledger_transfer t, have;
	struct settle_result other, *res;
	uint8_t id[32], hid[32];
	uint32_t len;
	int ret;

	if (!p->ledger || ledger_transfer_decode(r->xfer.body, PEER_XFER_BYTES, &t))
		return drop(p, PEER_E_MALFORMED);
	if (memcmp(t.debtor, e->key, 32))
		return refuse(p, e, &t, PEER_SETTLE_NOT_MINE);
	ledger_transfer_id(&t, id);
	/*
	 * Already in our chain (the ACCEPT was lost, or we restarted since):
	 * the same ACCEPT again, from the ledger, never a second signature.
	 */
	ret = peer_settle_find_transfer(p->ledger, p->id->pk, t.debtor, p->id->pk,
					t.interval_start, &have);
	if (ret == 1) {
		ledger_transfer_id(&have, hid);
		if (!memcmp(id, hid, 32))
			return send_xfer(p, e, PEER_R_ACCEPT, &have);
		return refuse(p, e, &t, PEER_SETTLE_STALE);
	}
	/*
	 * The interval length is ours (the settlement in progress, which our
	 * timer or operator started, else settle_interval_s), never the
	 * proposer's or a metered entry's; it and the deadline are checked
	 * before any computation. A proposal for the interval in progress
	 * uses its computation; with none in progress, it starts one (kept,
	 * see settle_peer.c); for another interval it gets a computation of
	 * its own, so that no proposal replaces the settlement in progress.
	 */
	len = p->st.have && p->st.start == t.interval_start ? p->st.len :
	      (uint32_t)p->d->cfg.peer_settle_interval_s;
	ret = peer_settle_admit(now_ms() / 1000, t.interval_start, len);
	if (ret)
		return refuse(p, e, &t, ret);
	if (p->st.have && p->st.start == t.interval_start) {
		res = &p->st.res;
	} else if (p->st.have) {
		char why[256];

		ledger_members(p);
		if (peer_settle_compute(p->ledger, t.interval_start, len, &other, why,
					sizeof(why))) {
			plog("settlement of %" PRIu64 ": %s", t.interval_start, why);
			return refuse(p, e, &t, PEER_SETTLE_UNKNOWN);
		}
		res = &other;
	} else {
		if (settle_compute(p, t.interval_start, len))
			return refuse(p, e, &t, PEER_SETTLE_UNKNOWN);
		res = &p->st.res;
	}
	ret = peer_settle_check(p->ledger, res, p->id->pk, &t);
	if (ret == PEER_SETTLE_DISAGREE) {
		char kt[LEDGER_KEYTEXT_SIZE], in[1024];
		const struct settle_transfer *mine = peer_settle_find(res, t.debtor, t.creditor);

		keytext(t.debtor, kt);
		peer_settle_describe(p->ledger, t.interval_start, len, in, sizeof(in));
		plog("settlement of %" PRIu64 ": %.16s proposes %" PRIu64 " Wh to us, our computation says %" PRId64
		     " Wh; not signed. Our inputs: %s", t.interval_start, kt, t.amount_wh,
		     mine ? mine->amount_wh : 0, in);
		p->xf_disagree++;
	}
	if (res == &other)
		settle_result_free(&other);
	if (ret)
		return refuse(p, e, &t, ret > 0 ? ret : PEER_SETTLE_UNKNOWN);
	ret = ledger_transfer_sign(&t, p->id->pk, p->id);
	if (!ret)
		ret = append_transfer(p, &t);
	if (ret) {
		plog("settlement: cannot append the transfer: %s", ledger_strerror(ret));
		return refuse(p, e, &t, PEER_SETTLE_STALE);
	}
	p->xf_accepted++;
	send_xfer(p, e, PEER_R_ACCEPT, &t);
}

/* We are the debtor: the creditor signed what we proposed; append ours. */
static void on_accept(struct pd_peers *p, struct pd_peer *e, const struct peer_rec_any *r)
{
	struct ledger_transfer t;
	struct ledger_head h;
	uint8_t a[32], b[32];
	int ret;

	if (!p->ledger || ledger_transfer_decode(r->xfer.body, PEER_XFER_BYTES, &t))
		return drop(p, PEER_E_MALFORMED);
	ledger_transfer_id(&t, a);
	for (int i = 0; i < p->st.nmine; i++) {
		struct pd_mine *x = &p->st.mine[i];

		if (x->state == XF_DONE)
			continue;
		ledger_transfer_id(&x->lt, b);
		if (memcmp(a, b, 32) || memcmp(t.creditor, e->key, 32))
			continue;
		if (ledger_get_head(p->ledger, t.creditor, &h) ||
		    ledger_transfer_verify_party(&t, true, h.key) ||
		    memcmp(t.debtor_sig, x->lt.debtor_sig, 64))
			return drop(p, PEER_E_FORGED);
		ret = append_transfer(p, &t);
		if (ret) {
			/* the promise kept our position: this is a real fault */
			plog("settlement: cannot append the accepted transfer: %s",
			     ledger_strerror(ret));
			return;
		}
		x->state = XF_DONE;
		p->xf_completed++;
		if (p->owed.have && p->owed.dseq == t.debtor_seq)
			owed_clear(p, "accepted and appended");
		return;
	}
}

static void on_refuse(struct pd_peers *p, struct pd_peer *e, const struct peer_rec_any *r)
{
	uint8_t id[32];

	for (int i = 0; i < p->st.nmine; i++) {
		struct pd_mine *x = &p->st.mine[i];

		if (x->state != XF_PROPOSED)
			continue;
		ledger_transfer_id(&x->lt, id);
		if (memcmp(id, r->refuse.id, 32))
			continue;
		/* anyone can name the id; only the creditor may refuse */
		if (!peer_settle_refusal_from(&x->lt, e->key))
			return drop(p, PEER_E_FORGED);
		/* stale: our view of its chain was behind; anti-entropy will
		 * catch up and the proposal goes again. Disagreement: again
		 * too (the inputs may still be arriving), up to the try limit.
		 * Late: never. The promise stands until owed_check() rules. */
		p->xf_refused_rx++;
		x->state = r->refuse.reason == PEER_SETTLE_LATE ? XF_FAILED : XF_PENDING;
		x->sent_ms = now_ms();
	}
}

static void on_sealed(struct pd_peers *p, const struct peer_sealed *s, size_t len,
		      const struct sockaddr_storage *from, socklen_t fl)
{
	uint8_t pt[PEER_MTU];
	struct peer_inner in;
	struct pd_peer *e;
	bool changed = false, synced = false;
	uint64_t now = now_ms();
	int n, ret;

	/* the receiver index names the session; one we do not hold is one
	 * of an earlier run of ours, expired, or made up */
	e = NULL;
	for (int i = 0; i < p->npeers && !e; i++)
		if (p->peer[i].trusted &&
		    peer_session_owns(&p->peer[i].sess, s->receiver_index))
			e = &p->peer[i];
	if (!e)
		return drop(p, PEER_E_REPLAYED);
	n = peer_session_open(&e->sess, s, sess_ms(), pt, sizeof(pt));
	if (n < 0)
		return drop(p, n);
	/* its first authenticated datagram tells where it is, if no
	 * announcement did (replays were refused above) */
	if (!e->have_addr && from->ss_family) {
		e->addr = *from;
		e->addrlen = fl;
		e->have_addr = true;
	}
	ret = peer_wire_decode_inner(pt, (size_t)n, &in);
	if (ret)
		return drop(p, ret);
	e->last_rx_ms = now;
	e->rx_bytes += len;
	e->rx_msgs++;
	e->sealed_rx = true;
	/* it authenticated: its source is where the member is (it sends from
	 * the port it listens on), whatever an announcement replayed from
	 * elsewhere said */
	if (fl && (!e->have_addr || e->addrlen != fl || memcmp(&e->addr, from, fl))) {
		e->addr = *from;
		e->addrlen = fl;
		e->have_addr = true;
	}
	e->sealed_addr = true;
	peer_swim_heard(&p->swim, e->key, now);
	for (int i = 0; i < in.nrecs; i++) {
		const struct peer_rec_any *r = &in.rec[i];

		if (r->type < __PEER_R_MAX)
			p->rec_rx[r->type]++;

		switch (r->type) {
		case PEER_R_PING:
			send_simple(p, e->key, PEER_R_ACK, r->ping.seq, NULL);
			break;
		case PEER_R_ACK:
			if (r->ack.seq & 0x80000000u)
				relay_ack(p, r->ack.seq);
			else
				peer_swim_ack(&p->swim, r->ack.seq, now);
			break;
		case PEER_R_PING_REQ:
			if (peer_community_is_member(&p->comm, r->ping_req.target))
				on_ping_req(p, e->key, r->ping_req.seq, r->ping_req.target);
			break;
		case PEER_R_STATE:
			if (!peer_swim_update(&p->swim, r->state.key, r->state.state,
					      r->state.inc, now))
				break;
			hot_add(p, PEER_R_STATE, r->state.key, false);
			if (!memcmp(r->state.key, p->id->pk, 32))
				plog("refuted suspicion: incarnation %" PRIu64, p->swim.inc);
			break;
		case PEER_R_MEASURE:
			if (!peer_community_is_member(&p->comm, r->measure.key) ||
			    !memcmp(r->measure.key, p->id->pk, 32))
				break;
			ret = peer_gossip_take_at(&p->gossip, &r->measure, now);
			if (ret < 0) {
				drop(p, ret);
				break;
			}
			if (ret == 2)	/* news: pass it on at once */
				hot_add(p, PEER_R_MEASURE, r->measure.key, false);
			/* the newest verified one we hold, not the unchecked copy */
			maybe_sync(p, e, peer_gossip_get(&p->gossip, r->measure.key), false);
			break;
		case PEER_R_SYNC_REQ:
			serve_sync(p, e, r);
			break;
		case PEER_R_ENTRY:
			take_entry(p, e, r);
			synced = true;
			break;
		case PEER_R_PROPOSE:
			on_propose(p, e, r);
			break;
		case PEER_R_ACCEPT:
			on_accept(p, e, r);
			break;
		case PEER_R_REFUSE:
			on_refuse(p, e, r);
			break;
		case PEER_R_MEMBER:
			/* vouched (a founder's record, before we know the owner):
			 * relayed by our anchor, whom our operator trusted; any
			 * other member could make one up for a key of its own */
			ret = peer_community_apply(&p->comm, &r->member,
						   p->comm.has_anchor &&
						   !memcmp(e->key, p->comm.anchor, 32));
			if (ret > 0) {
				changed = true;
				hot_add(p, PEER_R_MEMBER, r->member.subject,
					r->member.kind == PEER_REC_REMOVE);
			}
			break;
		case PEER_R_DIGEST:
			on_digest(p, e, &r->digest);
			break;
		}
	}
	if (changed) {
		save_comm(p);
		sync_trust(p);
	}
	/* entries came in: ask for the next ones at once */
	if (synced)
		for (int i = 0; i < p->gossip.n; i++)
			maybe_sync(p, e, &p->gossip.m[i], true);
}

/*
 * An initiation: everything that costs nothing comes first (addressed to
 * us, from a member: its key is in clear; its address not over its rate),
 * then the library's Diffie-Hellman. The response goes back where the
 * initiation came from; the address in use only moves on announcements.
 */
static void on_hs_init(struct pd_peers *p, const struct peer_hs_init *m,
		       const struct sockaddr_storage *from, socklen_t fl)
{
	uint8_t out[PEER_HS_RESP_BYTES];
	struct pd_peer *e;
	int n;

	if (!memcmp(m->sender, p->id->pk, 32))
		return drop(p, PEER_E_SELF);
	if (memcmp(m->receiver, p->id->pk, 32))
		return drop(p, PEER_E_FOREIGN);
	e = peer_find(p, m->sender);
	if (!e && peer_community_is_member(&p->comm, m->sender)) {
		/* a member whose announcements we missed: list it (trusted,
		 * no address until its first transport message) */
		e = peer_get(p, m->sender);
		if (e)
			sync_trust(p);
	}
	if (!e || !e->trusted)
		return drop(p, PEER_E_UNTRUSTED);
	if (from->ss_family == AF_INET6 ?
	    !peer_ratelimit_allow(&p->rl, &((const struct sockaddr_in6 *)from)->sin6_addr,
				  16, sess_ms()) :
	    !peer_ratelimit_allow(&p->rl, &((const struct sockaddr_in *)from)->sin_addr,
				  4, sess_ms())) {
		p->hs_ratelimited++;
		return;
	}
	n = peer_session_respond(&e->sess, &p->me, m, sess_ms(), out, sizeof(out));
	if (n < 0)
		return drop(p, n);
	p->hs_init_rx++;
	if (!n) {
		/* both initiated: ours wins (the smaller key), it answers it */
		p->hs_ignored++;
		return;
	}
	if (send_addr(p, e, from, fl, out, (size_t)n, TX_HS_RESP))
		p->hs_resp_tx++;
}

/* A response: the responder waits for our first transport message before
 * it uses the new keys, so one goes at once (our STATE and hot items). */
static void on_hs_resp(struct pd_peers *p, const struct peer_hs_resp *m)
{
	struct pd_peer *e = NULL;
	int ret;

	for (int i = 0; i < p->npeers && !e; i++)
		if (p->peer[i].trusted &&
		    peer_session_awaits(&p->peer[i].sess, m->receiver_index))
			e = &p->peer[i];
	if (!e)
		return drop(p, PEER_E_REPLAYED);
	ret = peer_session_complete(&e->sess, &p->me, m, sess_ms());
	if (ret)
		return drop(p, ret);
	p->hs_resp_rx++;
	/* how long answers really take here: the first retry time of every
	 * session's next initiations (peer_hs_base()) */
	p->hs_base_ms = peer_hs_base(&p->hs_srtt_ms, e->sess.hs_rtt_ms);
	e->sess.hs_rtt_ms = 0;
	send_sealed(p, e, NULL, TX_PUSH);
}

/* one daemon, one peer state: the watches find it here */
static struct pd_peers *P;

static void on_udp(struct pd_watch *w, uint32_t events)
{
	struct pd_peers *p = P;
	uint8_t buf[PEER_MTU + 1];
	struct sockaddr_storage from;
	struct peer_msg m;

	(void)events;
	for (int k = 0; k < 64; k++) {
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(w->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		int ret;

		if (n < 0)
			break;
		p->rx_bytes += (uint64_t)n;
		p->rx_dgrams++;
		ret = peer_wire_decode(buf, (size_t)n, &m);
		if (ret) {
			drop(p, ret);
			continue;
		}
		if (m.type == PEER_D_ANNOUNCE)
			on_announce(p, &m.ann, buf, (size_t)n, &from, fl);
		else if (m.type == PEER_D_HS_INIT)
			on_hs_init(p, &m.init, &from, fl);
		else if (m.type == PEER_D_HS_RESP)
			on_hs_resp(p, &m.resp);
		else
			on_sealed(p, &m.sealed, (size_t)n, &from, fl);
	}
	/* news in this batch: the first push round now, not at the next tick */
	if (p->push_due)
		push_news(p);
}

static void on_nl(struct pd_watch *w, uint32_t events)
{
	(void)w; (void)events;
	peer_disc_netlink(&P->disc);
}

/* SWIM's direct path (struct peer_swim @direct): a session with @key */
static bool swim_direct(void *ctx, const uint8_t key[32])
{
	const struct pd_peer *e = peer_find(ctx, key);

	return e && sendable(e);
}

static bool live(void *ctx, const uint8_t key[32])
{
	struct pd_peers *p = ctx;
	struct peer_swim_member *m;

	if (!memcmp(key, p->id->pk, 32))
		return true;
	if (!peer_community_is_member(&p->comm, key))
		return false;
	m = peer_swim_find(&p->swim, key);
	return m && m->state != PEER_DEAD;
}

/*
 * Our measurement, from the site state: the site meter's real power (the
 * net), and what the site's devices produce. Without devices one meter
 * gives the net only, so production and consumption are its two signs;
 * with PV or a battery that tells its power, production is the PV's plus
 * the battery's discharge, and consumption is the net plus production
 * (docs/protocol.md).
 */
static void measure(struct pd_peers *p, uint64_t now)
{
	const struct pd_site *s = &p->d->site;
	struct peer_measure m = { .time_ms = now };
	const struct peer_measure *last = peer_gossip_get(&p->gossip, p->id->pk);
	bool news, pv_known, batt_known;
	int64_t pv, batt, prod;
	int32_t net;

	if (!s->kernel.valid)
		return;
	net = s->kernel.st.site_p_mw / 1000;
	pv = pd_site_pv_mw(s, &pv_known);
	batt = pd_site_battery_mw(s, &batt_known);
	prod = (pv > 0 ? pv : 0) + (batt > 0 ? batt : 0);
	memcpy(m.key, p->id->pk, 32);
	if (p->ledger) {
		struct ledger_head h;

		if (!ledger_get_head(p->ledger, p->id->pk, &h)) {
			m.head_seq = h.seq;
			memcpy(m.head_hash, h.hash, 32);
		}
	}
	m.net_w = net;
	if (pv_known || batt_known) {
		int64_t cons = (int64_t)net + prod / 1000;

		m.production_w = (uint32_t)(prod / 1000);
		m.consumption_w = cons > 0 ? (uint32_t)cons : 0;
	} else {
		m.consumption_w = net > 0 ? (uint32_t)net : 0;
		m.production_w = net < 0 ? (uint32_t)-net : 0;
	}
	/*
	 * Read every tick, signed only when it is news or due for a refresh:
	 * a change is out within a tick, and a site at rest costs nothing.
	 */
	news = !last || peer_measure_news(last, &m);
	if (!news && now - last->time_ms < PEER_REFRESH_MS)
		return;
	peer_measure_sign(&m, p->id->sk);
	peer_gossip_take(&p->gossip, &m);
	if (news)
		hot_add(p, PEER_R_MEASURE, m.key, false);
}

/* The community's net power and our balance into the site state, when they
 * change (the balance is a ledger query: once a second). */
static void site_update(struct pd_peers *p, uint64_t now)
{
	struct pd_site *s = &p->d->site;
	struct pd_site_community c = { .valid = true, .members = p->comm.nmembers };

	c.net_mw = peer_gossip_net(&p->gossip, now, live, p, &c.counted) * 1000;
	if (!s->community.valid || c.net_mw != s->community.net_mw ||
	    c.counted != s->community.counted || c.members != s->community.members) {
		s->community = c;
		pd_site_commit(s, PD_SITE_COMMUNITY);
	}
	if (p->ledger && now >= p->next_balance_ms) {
		struct ledger_member lm;
		struct pd_site_ledger l = { .valid = true };

		p->next_balance_ms = now + 1000;
		if (!ledger_get_member(p->ledger, p->id->pk, &lm)) {
			l.balance_mwh = lm.balance_wh * 1000;
			l.head_seq = lm.head_seq;
		}
		if (!s->ledger.valid || l.balance_mwh != s->ledger.balance_mwh ||
		    l.head_seq != s->ledger.head_seq) {
			s->ledger = l;
			pd_site_commit(s, PD_SITE_LEDGER);
		}
	}
}

static void on_tick(struct pd_watch *w, uint32_t events)
{
	struct pd_peers *p = P;
	struct peer_swim_action act[8];
	uint64_t n, now = now_ms();
	int na;

	(void)events;
	if (read(w->fd, &n, sizeof(n)) < 0)
		return;
	measure(p, now);
	site_update(p, now);
	/*
	 * Announcements every 250 ms for the first second after a start or a
	 * link change, then at 1.5 s, 2.5 s, 4.5 s ... doubling up to
	 * announce_ms (a whole street rebooting after a power cut finds
	 * itself at once), then rarely: members' liveness is SWIM's. Five in
	 * the first second: at 10% loss per copy, one in 10^5 pairs of a
	 * street misses all of them (with three in the first 750 ms, two or
	 * three pairs of a street of 50 waited for the one at 1.75 s or 3.75 s).
	 */
	if (p->disc.changed) {
		p->disc.changed = false;
		p->next_announce_ms = 0;
		p->announce_gap_ms = 0;
		p->announce_n = 0;
	}
	if (now >= p->next_announce_ms) {
		announce(p, NULL);
		p->announce_gap_ms = p->announce_n++ < ANNOUNCE_FAST ? ANNOUNCE_FIRST_MS :
				     2 * p->announce_gap_ms;
		if (p->announce_gap_ms > p->d->cfg.peer_announce_ms)
			p->announce_gap_ms = p->d->cfg.peer_announce_ms;
		p->next_announce_ms = now + p->announce_gap_ms;
	}
	/* members never reached first: they have no session at all, the
	 * others one that still works or one being renewed */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < p->npeers; i++)
			if ((p->peer[i].sess.handshakes == 0) == (pass == 0))
				maybe_handshake(p, &p->peer[i]);
	if (p->ledger && now >= p->next_fork_scan_ms) {
		ledger_foreach_fork(p->ledger, spread_fork, p);
		p->next_fork_scan_ms = now + FORK_SCAN_MS;
	}
	if (p->ledger) {
		uint64_t len = p->d->cfg.peer_settle_interval_s, sec = now / 1000;

		/* the interval that ended, a grace period after its end so
		 * that its metered entries have spread */
		if (!p->next_settle_s)
			p->next_settle_s = sec - sec % len + len + SETTLE_GRACE_S(len);
		if (sec >= p->next_settle_s && settle_busy(p)) {
			/* finish the one in flight; a short interval
			 * looks again sooner, or the one due would be
			 * the previous interval no more */
			p->next_settle_s = sec + (len < 100 ? 1 : 10);
		} else if (sec >= p->next_settle_s) {
			settle_compute(p, sec - sec % len - len, (uint32_t)len);
			p->next_settle_s = sec - sec % len + len + SETTLE_GRACE_S(len);
		}
		settle_tick(p, now);
	}
	{
		/* what the detector decides locally is gossiped like the rest */
		uint8_t before[PEER_MAX_MEMBERS];

		for (int i = 0; i < p->swim.n; i++)
			before[i] = p->swim.m[i].state;
		na = peer_swim_tick(&p->swim, now, act, 8);
		for (int i = 0; i < p->swim.n; i++)
			if (p->swim.m[i].state != before[i] &&
			    p->swim.m[i].state != PEER_ALIVE)
				hot_add(p, PEER_R_STATE, p->swim.m[i].key, false);
	}
	for (int i = 0; i < na; i++) {
		if (act[i].kind == PEER_SA_PING)
			send_simple(p, act[i].to, PEER_R_PING, act[i].seq, NULL);
		else
			send_simple(p, act[i].to, PEER_R_PING_REQ, act[i].seq, act[i].target);
	}
	for (int i = 0; i < MAX_RELAYS; i++)
		if (p->relay[i].our_seq && now - p->relay[i].at_ms > SWIM_PERIOD_MS)
			p->relay[i].our_seq = 0;
	if (now >= p->next_digest_ms) {
		struct pd_peer *e;

		if (pick_random(p, &e, 1))
			send_digest(p, e, 0);
		p->next_digest_ms = now + DIGEST_MS;
	}
	/* news still owed its rounds: one per tick until spent */
	push_news(p);
}

/* ---- setup ---- */

static int load_identity(const char *path, struct ledger_identity **id)
{
	int ret = ledger_identity_load(path, id);

	if (ret != -ENOENT)
		return ret;
	*id = ledger_identity_new();
	if (!*id)
		return -errno;
	ret = ledger_identity_save(*id, path, false);
	if (ret) {
		ledger_identity_free(*id);
		*id = NULL;
	}
	return ret;
}

int pd_peers_open(struct phloemd *d, char *err, size_t errlen)
{
	const struct pd_config *c = &d->cfg;
	struct pd_peers *p;
	struct itimerspec its = { .it_interval.tv_nsec = TICK_MS * 1000000L,
				  .it_value.tv_nsec = TICK_MS * 1000000L };
	uint64_t now = now_ms();
	int ret;

	if (!c->peer_community[0])
		return 0;
	ret = pd_sodium_load(err, errlen);
	if (ret)
		return ret;
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium init failed");
		return -EIO;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->d = d;
	ret = load_identity(c->peer_identity, &p->id);
	if (ret) {
		snprintf(err, errlen, "identity %s: %s", c->peer_identity,
			 ret < 0 ? strerror(-ret) : ledger_strerror(ret));
		free(p);
		return ret < 0 ? ret : -EINVAL;
	}
	ret = peer_community_load(&p->comm, c->peer_state);
	if (ret == -ENOENT) {
		/* first start: found the community; joining one replaces it */
		ret = peer_community_found(&p->comm, c->peer_community, p->id->pk,
					   p->id->sk, now / 1000);
		if (!ret)
			ret = peer_community_save(&p->comm, c->peer_state);
	} else if (!ret && strcmp(p->comm.name, c->peer_community)) {
		snprintf(err, errlen, "%s is community \"%s\", configuration says \"%s\"",
			 c->peer_state, p->comm.name, c->peer_community);
		ret = -EINVAL;
		goto fail;
	}
	if (ret) {
		snprintf(err, errlen, "community %s: %s", c->peer_state, peer_strerror(ret));
		goto fail;
	}
	ret = peer_local_init(&p->me, p->id->pk, p->id->sk, p->comm.id);
	if (ret) {
		snprintf(err, errlen, "identity %s: not a usable key", c->peer_identity);
		goto fail;
	}
	peer_ratelimit_init(&p->rl);
	if (c->peer_ledger[0]) {
		ret = ledger_open(c->peer_ledger, LEDGER_O_CREATE, &p->ledger);
		if (ret) {
			snprintf(err, errlen, "ledger %s: %s", c->peer_ledger, ledger_strerror(ret));
			ret = ret < 0 ? ret : -EINVAL;
			goto fail;
		}
		if (snprintf(p->owed_path, sizeof(p->owed_path), "%s.owed",
			     c->peer_ledger) >= (int)sizeof(p->owed_path)) {
			snprintf(err, errlen, "ledger %s: path too long", c->peer_ledger);
			ret = -ENAMETOOLONG;
			goto fail;
		}
		owed_load(p);
	}
	ret = peer_disc_open(&p->disc, (uint16_t)c->peer_port, c->peer_interfaces,
			     c->peer_static, err, errlen);
	if (ret)
		goto fail;
	/*
	 * The run id tells members we restarted (and lost our sessions). It
	 * keys nothing: every session's keys come from its own handshake, so
	 * neither a clock that repeats nor one that steps back matters.
	 */
	do
		randombytes_buf(&p->epoch, sizeof(p->epoch));
	while (!(p->epoch &= INT64_MAX));
	peer_swim_init(&p->swim, p->id->pk, SWIM_PERIOD_MS, 3 * SWIM_PERIOD_MS, now);
	p->swim.direct = swim_direct;
	p->swim.ctx = p;
	/* refreshes travel by digest only: allow them a few rounds */
	p->gossip.max_age_ms = 4 * PEER_REFRESH_MS;
	P = p;
	d->peers = p;
	p->w6.fd = p->disc.fd6;
	p->w6.fn = on_udp;
	p->w4.fd = p->disc.fd4;
	p->w4.fn = on_udp;
	p->wnl.fd = p->disc.nlfd;
	p->wnl.fn = on_nl;
	p->wtick.fn = on_tick;
	p->wtick.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (p->wtick.fd < 0 || timerfd_settime(p->wtick.fd, 0, &its, NULL) ||
	    pd_watch_add(d, &p->w6, EPOLLIN) || pd_watch_add(d, &p->w4, EPOLLIN) ||
	    pd_watch_add(d, &p->wtick, EPOLLIN) ||
	    (p->wnl.fd >= 0 && pd_watch_add(d, &p->wnl, EPOLLIN))) {
		ret = -errno;
		snprintf(err, errlen, "peer event setup: %s", strerror(errno));
		pd_peers_close(d);
		return ret;
	}
	{
		char kt[LEDGER_KEYTEXT_SIZE];

		keytext(p->id->pk, kt);
		plog("key %s, community \"%s\" (%d members), port %u", kt,
		     p->comm.name, p->comm.nmembers, c->peer_port);
	}
	return 0;
fail:
	if (p->ledger)
		ledger_close(p->ledger);
	if (p->id)
		ledger_identity_free(p->id);
	peer_local_wipe(&p->me);
	free(p);
	return ret;
}

void pd_peers_close(struct phloemd *d)
{
	struct pd_peers *p = d->peers;

	if (!p)
		return;
	if (p->wtick.fd >= 0)
		close(p->wtick.fd);
	peer_disc_close(&p->disc);
	if (p->st.have)
		settle_result_free(&p->st.res);
	if (p->ledger)
		ledger_close(p->ledger);
	ledger_identity_free(p->id);
	for (int i = 0; i < p->npeers; i++)
		peer_session_wipe(&p->peer[i].sess);
	peer_local_wipe(&p->me);
	free(p);
	d->peers = NULL;
	P = NULL;
}

/* ---- control socket ---- */

#define ADD(o, k, v) json_object_object_add((o), (k), (v))

struct json_object *pd_peers_json(struct phloemd *d)
{
	struct pd_peers *p = d->peers;
	struct json_object *o = json_object_new_object(), *a, *dr;
	char kt[LEDGER_KEYTEXT_SIZE];
	uint64_t now = now_ms();
	int counted;
	int64_t net;

	ADD(o, "enabled", json_object_new_boolean(p != NULL));
	if (!p)
		return o;
	keytext(p->id->pk, kt);
	ADD(o, "key", json_object_new_string(kt));
	ADD(o, "community", json_object_new_string(p->comm.name));
	ADD(o, "members", json_object_new_int(p->comm.nmembers));
	ADD(o, "port", json_object_new_int(p->disc.port));
	ADD(o, "epoch", json_object_new_int64((int64_t)p->epoch));
	ADD(o, "incarnation", json_object_new_int64((int64_t)p->swim.inc));
	/* SWIM's local health: above 0, our ACKs came late (a slow host) */
	ADD(o, "local_health", json_object_new_int((int)p->swim.lhm));
	net = peer_gossip_net(&p->gossip, now, live, p, &counted);
	ADD(o, "community_net_w", json_object_new_int64(net));
	ADD(o, "community_counted", json_object_new_int(counted));
	{
		const struct peer_measure *m = peer_gossip_get(&p->gossip, p->id->pk);

		ADD(o, "net_w", json_object_new_int(m ? m->net_w : 0));
	}
	dr = json_object_new_object();
	for (int i = 1; i < __PEER_E_MAX; i++)
		ADD(dr, peer_reason_name(i), json_object_new_int64((int64_t)p->drops[i]));
	ADD(o, "drops", dr);
	{
		/* what the bytes sent went to: UDP payload, without headers */
		struct json_object *tx = json_object_new_object();
		uint64_t bytes = 0, dgrams = 0;

		for (int i = 0; i < __TX_MAX; i++) {
			struct json_object *k = json_object_new_object();

			ADD(k, "bytes", json_object_new_int64((int64_t)p->tx_kind_bytes[i]));
			ADD(k, "datagrams", json_object_new_int64((int64_t)p->tx_kind_dgrams[i]));
			ADD(tx, tx_name[i], k);
			bytes += p->tx_kind_bytes[i];
			dgrams += p->tx_kind_dgrams[i];
		}
		ADD(o, "rx_bytes", json_object_new_int64((int64_t)p->rx_bytes));
		ADD(o, "tx_bytes", json_object_new_int64((int64_t)bytes));
		ADD(o, "rx_datagrams", json_object_new_int64((int64_t)p->rx_dgrams));
		ADD(o, "tx_datagrams", json_object_new_int64((int64_t)dgrams));
		ADD(o, "tx", tx);
	}
	ADD(o, "announces_rx", json_object_new_int64((int64_t)p->announces_rx));
	ADD(o, "announces_tx", json_object_new_int64((int64_t)p->announces_tx));
	ADD(o, "announces_known", json_object_new_int64((int64_t)p->announces_known));
	{
		struct json_object *g = json_object_new_object();

		ADD(g, "news_tx", json_object_new_int64((int64_t)p->news_tx));
		ADD(g, "push_rounds", json_object_new_int64((int64_t)p->pushes));
		ADD(g, "digests_tx", json_object_new_int64((int64_t)p->digests_tx));
		ADD(g, "digests_rx", json_object_new_int64((int64_t)p->digests_rx));
		ADD(g, "digest_gives", json_object_new_int64((int64_t)p->digest_gives));
		ADD(g, "digests_unanswered", json_object_new_int64((int64_t)p->digests_unanswered));
		ADD(g, "hot", json_object_new_int(p->nhot));
		{
			static const char *const name[__PEER_R_MAX] = {
				[PEER_R_PING] = "ping", [PEER_R_ACK] = "ack",
				[PEER_R_PING_REQ] = "ping_req", [PEER_R_STATE] = "state",
				[PEER_R_MEASURE] = "measure", [PEER_R_MEMBER] = "member",
				[PEER_R_SYNC_REQ] = "sync_req", [PEER_R_ENTRY] = "entry",
				[PEER_R_REFUSE] = "refuse", [PEER_R_PROPOSE] = "propose",
				[PEER_R_ACCEPT] = "accept", [PEER_R_DIGEST] = "digest",
			};
			struct json_object *rr = json_object_new_object();

			for (int i = 1; i < __PEER_R_MAX; i++)
				ADD(rr, name[i], json_object_new_int64((int64_t)p->rec_rx[i]));
			ADD(g, "records_rx", rr);
		}
		ADD(o, "gossip", g);
	}
	{
		struct json_object *hs = json_object_new_object();
		uint64_t est = 0;
		int ready = 0;

		for (int i = 0; i < p->npeers; i++) {
			est += p->peer[i].sess.handshakes;
			ready += p->peer[i].trusted &&
				 peer_session_ready(&p->peer[i].sess, sess_ms());
		}
		ADD(hs, "ready", json_object_new_int(ready));
		ADD(hs, "established", json_object_new_int64((int64_t)est));
		ADD(hs, "initiations_tx", json_object_new_int64((int64_t)p->hs_init_tx));
		ADD(hs, "initiations_rx", json_object_new_int64((int64_t)p->hs_init_rx));
		ADD(hs, "responses_tx", json_object_new_int64((int64_t)p->hs_resp_tx));
		ADD(hs, "responses_rx", json_object_new_int64((int64_t)p->hs_resp_rx));
		ADD(hs, "ignored", json_object_new_int64((int64_t)p->hs_ignored));
		ADD(hs, "ratelimited", json_object_new_int64((int64_t)p->hs_ratelimited));
		ADD(hs, "paced", json_object_new_int64((int64_t)p->hs_paced));
		ADD(hs, "round_trip_ms", json_object_new_int64(p->hs_srtt_ms));
		ADD(hs, "retry_ms", json_object_new_int64(p->hs_base_ms));
		ADD(o, "sessions", hs);
	}
	{
		struct json_object *sy = json_object_new_object();

		ADD(sy, "ledger", json_object_new_boolean(p->ledger != NULL));
		ADD(sy, "requests_tx", json_object_new_int64((int64_t)p->sync_req_tx));
		ADD(sy, "requests_rx", json_object_new_int64((int64_t)p->sync_req_rx));
		ADD(sy, "requests_unserved", json_object_new_int64((int64_t)p->sync_req_unserved));
		ADD(sy, "entries_tx", json_object_new_int64((int64_t)p->entries_tx));
		ADD(sy, "entries_rx", json_object_new_int64((int64_t)p->entries_rx));
		ADD(sy, "entries_refused", json_object_new_int64((int64_t)p->entries_refused));
		ADD(sy, "forks_seen", json_object_new_int64((int64_t)p->forks_seen));
		ADD(sy, "forks_spread", json_object_new_int64((int64_t)p->forks_spread));
		ADD(o, "sync", sy);
		sy = json_object_new_object();
		ADD(sy, "interval", json_object_new_int64(p->st.have ? (int64_t)p->st.start : -1));
		ADD(sy, "transfers", json_object_new_int64(p->st.have ? (int64_t)p->st.res.n_transfers : 0));
		ADD(sy, "ours", json_object_new_int(p->st.nmine));
		ADD(sy, "proposed", json_object_new_int64((int64_t)p->xf_proposed));
		ADD(sy, "completed", json_object_new_int64((int64_t)p->xf_completed));
		ADD(sy, "accepted", json_object_new_int64((int64_t)p->xf_accepted));
		ADD(sy, "refused_rx", json_object_new_int64((int64_t)p->xf_refused_rx));
		ADD(sy, "refused_tx", json_object_new_int64((int64_t)p->xf_refused_tx));
		ADD(sy, "disagreements", json_object_new_int64((int64_t)p->xf_disagree));
		ADD(sy, "recovered", json_object_new_int64((int64_t)p->xf_recovered));
		ADD(sy, "expired", json_object_new_int64((int64_t)p->xf_expired));
		ADD(sy, "promised_seq", json_object_new_int64(p->owed.have ?
				(int64_t)p->owed.dseq : -1));
		ADD(o, "settle", sy);
	}
	a = json_object_new_array();
	for (int i = 0; i < p->npeers; i++) {
		struct pd_peer *e = &p->peer[i];
		struct json_object *q = json_object_new_object();
		struct peer_swim_member *sm = peer_swim_find(&p->swim, e->key);
		const struct peer_measure *m = peer_gossip_get(&p->gossip, e->key);
		char host[INET6_ADDRSTRLEN + 8] = "";

		keytext(e->key, kt);
		if (e->have_addr) {
			char ip[INET6_ADDRSTRLEN];

			if (e->addr.ss_family == AF_INET6) {
				struct sockaddr_in6 *s6 = (void *)&e->addr;

				inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
				snprintf(host, sizeof(host), "[%s]:%u", ip, ntohs(s6->sin6_port));
			} else {
				struct sockaddr_in *s4 = (void *)&e->addr;

				inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
				snprintf(host, sizeof(host), "%s:%u", ip, ntohs(s4->sin_port));
			}
		}
		ADD(q, "key", json_object_new_string(kt));
		ADD(q, "addr", json_object_new_string(host));
		ADD(q, "trusted", json_object_new_boolean(e->trusted));
		ADD(q, "state", json_object_new_string(e->trusted && sm ?
				peer_swim_state_name(sm->state) : "untrusted"));
		ADD(q, "incarnation", json_object_new_int64(sm ? (int64_t)sm->inc : 0));
		ADD(q, "last_rx_ms_ago", json_object_new_int64(e->last_rx_ms ?
				(int64_t)(now - e->last_rx_ms) : -1));
		ADD(q, "rx_bytes", json_object_new_int64((int64_t)e->rx_bytes));
		ADD(q, "tx_bytes", json_object_new_int64((int64_t)e->tx_bytes));
		if (m) {
			ADD(q, "head_seq", json_object_new_int64((int64_t)m->head_seq));
			ADD(q, "net_w", json_object_new_int(m->net_w));
			/* what its devices produce (PV, battery discharge) */
			ADD(q, "production_w", json_object_new_int64(m->production_w));
			ADD(q, "consumption_w", json_object_new_int64(m->consumption_w));
			ADD(q, "measure_age_ms", json_object_new_int64((int64_t)(now - m->time_ms)));
		}
		json_object_array_add(a, q);
	}
	ADD(o, "peers", a);
	return o;
}

struct json_object *pd_community_json(struct phloemd *d)
{
	struct pd_peers *p = d->peers;
	struct json_object *o = json_object_new_object(), *a;
	char kt[LEDGER_KEYTEXT_SIZE];

	if (!p)
		return o;
	ADD(o, "community", json_object_new_string(p->comm.name));
	keytext(p->id->pk, kt);
	ADD(o, "key", json_object_new_string(kt));
	if (p->comm.has_owner) {
		keytext(p->comm.owner, kt);
		ADD(o, "owner", json_object_new_string(kt));
	}
	ADD(o, "records", json_object_new_int(p->comm.nrecs));
	a = json_object_new_array();
	for (int i = 0; i < p->comm.nmembers; i++) {
		struct json_object *q = json_object_new_object();

		keytext(p->comm.member[i].subject, kt);
		ADD(q, "key", json_object_new_string(kt));
		keytext(p->comm.member[i].signer, kt);
		ADD(q, "invited_by", json_object_new_string(kt));
		ADD(q, "since", json_object_new_int64((int64_t)p->comm.member[i].time));
		json_object_array_add(a, q);
	}
	ADD(o, "members", a);
	a = json_object_new_array();
	for (int i = 0; i < p->comm.nremoved; i++) {
		keytext(p->comm.removed[i].subject, kt);
		json_object_array_add(a, json_object_new_string(kt));
	}
	ADD(o, "removed", a);
	return o;
}

int pd_peers_invite(struct phloemd *d, const char *key, char *token, size_t cap,
		    char *err, size_t errlen)
{
	struct pd_peers *p = d->peers;
	uint8_t k[32];
	int ret;

	if (!p) {
		snprintf(err, errlen, "peers are not enabled ([peers] community=)");
		return -ENOTCONN;
	}
	if (ledger_key_from_text(key, k)) {
		snprintf(err, errlen, "not a gateway key (phl1...)");
		return -EINVAL;
	}
	ret = peer_invite_make(&p->comm, p->id->pk, p->id->sk, k, now_ms() / 1000,
			       token, cap);
	if (ret)
		snprintf(err, errlen, "cannot invite: %s", peer_strerror(ret));
	return ret;
}

/*
 * Join: the operator pasted a token naming our key; the community is
 * replaced by one where we are admitted by that invite and the inviter is
 * trusted until its own record, and everyone else's, arrive from it.
 */
int pd_peers_join(struct phloemd *d, const char *token, char *err, size_t errlen)
{
	struct pd_peers *p = d->peers;
	struct peer_community nc;
	struct peer_record r;
	int ret;

	if (!p) {
		snprintf(err, errlen, "peers are not enabled ([peers] community=)");
		return -ENOTCONN;
	}
	ret = peer_invite_parse(token, &r);
	if (ret) {
		snprintf(err, errlen, "bad invite token: %s", peer_strerror(ret));
		return -EINVAL;
	}
	if (memcmp(r.subject, p->id->pk, 32)) {
		snprintf(err, errlen, "the invite is for another gateway's key");
		return -EINVAL;
	}
	if (memcmp(r.community, p->comm.id, 32)) {
		snprintf(err, errlen, "the invite is for another community than \"%s\"",
			 p->comm.name);
		return -EINVAL;
	}
	ret = peer_community_join(&nc, p->comm.name, &r);
	if (ret) {
		snprintf(err, errlen, "cannot join: %s", peer_strerror(ret));
		return ret;
	}
	p->comm = nc;
	save_comm(p);
	sync_trust(p);
	p->next_announce_ms = 0;
	p->announce_gap_ms = 0;
	p->announce_n = 0;
	return 0;
}

int pd_peers_remove(struct phloemd *d, const char *key, char *err, size_t errlen)
{
	struct pd_peers *p = d->peers;
	struct peer_record r;
	uint64_t now = now_ms() / 1000;
	uint8_t k[32];
	int ret;

	if (!p) {
		snprintf(err, errlen, "peers are not enabled ([peers] community=)");
		return -ENOTCONN;
	}
	if (ledger_key_from_text(key, k)) {
		snprintf(err, errlen, "not a gateway key (phl1...)");
		return -EINVAL;
	}
	if (!memcmp(k, p->id->pk, 32)) {
		snprintf(err, errlen, "a gateway cannot remove itself");
		return -EINVAL;
	}
	ret = peer_remove_make(&p->comm, p->id->pk, p->id->sk, k, now, &r);
	if (ret) {
		snprintf(err, errlen, "cannot remove: %s", ret == -ENOENT ? "not a member" :
			 ret == -EPERM ? "only the community's owner (its founder) removes, "
			 "and the owner cannot be removed" : peer_strerror(ret));
		return ret < 0 ? ret : -EINVAL;
	}
	save_comm(p);
	hot_add(p, PEER_R_MEMBER, k, true);
	/* the members it had admitted, invited by us now: those records too */
	for (int i = 0; i < p->comm.nmembers; i++) {
		const struct peer_record *m = &p->comm.member[i];

		if (m->time == now && !memcmp(m->signer, p->id->pk, 32) &&
		    memcmp(m->subject, p->id->pk, 32))
			hot_add(p, PEER_R_MEMBER, m->subject, false);
	}
	sync_trust(p);
	return 0;
}

/* ---- for the meter (meter.c) ---- */

struct ledger *pd_peers_ledger(struct phloemd *d)
{
	return d->peers ? d->peers->ledger : NULL;
}

const struct ledger_identity *pd_peers_identity(struct phloemd *d)
{
	return d->peers ? d->peers->id : NULL;
}
