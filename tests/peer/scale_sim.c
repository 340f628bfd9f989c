// SPDX-License-Identifier: GPL-2.0
/*
 * scale_sim: N gateways in one process, a simulated clock and an in-memory
 * lossy, reordering LAN, running the peer library itself (handshake.c,
 * session.c, swim.c, gossip.c, wire.c: real Noise_KK handshakes, sealed
 * frames, SWIM, signed measurements, digests). What phloemd's peers.c
 * decides (when to announce, handshake, push news, send digests) is
 * followed here with its constants; announcements are not signed (their
 * bytes are counted), membership is given.
 *
 * Each node starts at a random moment of the first 100 ms (a street
 * restarting after a power cut); every copy of a datagram is lost with
 * probability LOSS and delivered after 1..20 ms (so they reorder). libsodium's
 * random stream is a seeded one: a seed gives one run, byte for byte.
 *
 * Reports per run: discovery (every node has every other alive), net power
 * (node 0 changes its load at 20 s: until every node holds the new
 * measurement), and bytes a second per node from 40 to 70 s (with 42 bytes
 * of Ethernet/IPv4/UDP headers a datagram, as the link counters of
 * bench-netns count them), mean and worst.
 *
 * scale_sim [N LOSS_PERCENT SEED...]: one line per run (env SPREAD: the
 * nodes start within this many ms, default 100; LAG: ms every hop waits
 * besides the wire's 1..20, as answers of loaded daemons do). With no
 * arguments: TAP, the issue-11 targets asserted for 50 nodes at 0% and
 * 10% loss over fixed seeds, and the handshake retries of late answers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "peer/peer.h"

#define MAXN		PEER_MAX_MEMBERS
#define TICK_MS		100
#define SWIM_PERIOD_MS	1000
#define DIGEST_MS	4000
#define PUSH_FANOUT	3
#define NEWS_SENDS	(4 * PUSH_FANOUT)
#define ANN_BYTES	(PEER_ANNOUNCE_FIXED + PEER_RECORD_BYTES + PEER_SIG_BYTES)
#define WIRE_OVERHEAD	42
#define CHANGE_MS	20000
#define REST_FROM_MS	40000
#define REST_TO_MS	70000
#define MAX_HOT		(2 * MAXN)

/* ---- a seeded random stream for libsodium (test only, not secure) ---- */
static uint64_t rs;
static uint64_t next64(void)
{
	uint64_t z = (rs += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static const char *r_name(void) { return "scale_sim"; }
static uint32_t r_random(void) { return (uint32_t)next64(); }
static void r_buf(void *const buf, const size_t n)
{
	for (size_t i = 0; i < n; i++)
		((uint8_t *)buf)[i] = (uint8_t)next64();
}
static struct randombytes_implementation seeded = {
	.implementation_name = r_name, .random = r_random, .buf = r_buf,
};
static uint32_t uniform(uint32_t n) { return n ? (uint32_t)(next64() % n) : 0; }

/* ---- the network ---- */
struct dg {
	uint64_t at, seq;
	int from, to;
	size_t len;
	uint8_t buf[PEER_MTU];
	bool ann;
};
static struct dg **heap;
static int nheap, capheap;
static uint64_t dseq, now;
static double loss;
static uint32_t lag;		/* ms each hop waits besides the wire's 1..20 */
static uint32_t spread = 100;	/* nodes start within this many ms */
static bool popular;		/* every digest goes to node 0 (env POPULAR=1) */
static uint64_t inits;		/* initiations sent */

static bool dg_before(const struct dg *a, const struct dg *b)
{
	return a->at != b->at ? a->at < b->at : a->seq < b->seq;
}
static void push(struct dg *d)
{
	int i;

	if (nheap == capheap) {
		capheap = capheap ? 2 * capheap : 1024;
		heap = realloc(heap, (size_t)capheap * sizeof(*heap));
		if (!heap)
			abort();
	}
	for (i = nheap++; i > 0 && dg_before(d, heap[(i - 1) / 2]); i = (i - 1) / 2)
		heap[i] = heap[(i - 1) / 2];
	heap[i] = d;
}
static struct dg *pop(void)
{
	struct dg *top = heap[0], *last = heap[--nheap];
	int i = 0;

	for (;;) {
		int c = 2 * i + 1;

		if (c >= nheap)
			break;
		if (c + 1 < nheap && dg_before(heap[c + 1], heap[c]))
			c++;
		if (!dg_before(heap[c], last))
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (nheap)
		heap[i] = last;
	return top;
}

/* ---- a node ---- */
struct hot { uint8_t type; int key; int left, budget; };
struct node {
	int id;
	bool up;
	uint64_t start, next_tick, next_ann, ann_gap, next_digest;
	int ann_n;
	uint8_t pk[32], sk[64];
	struct peer_local me;
	struct peer_swim swim;
	struct peer_gossip gossip;
	bool known[MAXN], sealed_rx[MAXN];
	uint64_t ann_reply[MAXN];
	struct peer_session sess[MAXN];
	struct { uint32_t ours, theirs; int req; uint64_t at; } relay[16];
	uint32_t relay_seq;
	int nhot;
	struct hot hot[MAX_HOT];
	int32_t net_w;
	uint64_t tx, tx_rest, cat_rest[8];
	struct peer_budget answers;
	struct peer_hs_pace hs_pace;
	uint32_t hs_srtt, hs_base;	/* peers.c: peer_hs_base() */
};
static struct node *nd;
static int N;
static uint64_t t_disc, t_net, t_change;

static int key_index(const uint8_t k[32])
{
	for (int i = 0; i < N; i++)
		if (!memcmp(nd[i].pk, k, 32))
			return i;
	return -1;
}

/* peers.c's DIGEST_ANSWER_MS, DIGEST_ANSWER_BURST (env ANS_EVERY=0: none) */
static uint32_t ans_every = 3000, ans_burst = 2;
static int cat;		/* SIM_DEBUG: what is being sent */
static uint64_t cat_bytes[8];
static const char *const cat_name[8] = { "other (acks, digest answers)", "announcements",
	"handshakes", "swim", "pushes", "digests", "of which STATE records" };

/* a transmission of @n bytes by @a: counted once, however many copies */
static void count_tx(struct node *a, size_t n, int what)
{
	a->tx += n + WIRE_OVERHEAD;
	if (now >= REST_FROM_MS && now < REST_TO_MS) {
		a->tx_rest += n + WIRE_OVERHEAD;
		a->cat_rest[what] += n + WIRE_OVERHEAD;
		cat_bytes[what] += n + WIRE_OVERHEAD;
	}
}

/* one copy of a datagram onto the wire: lost, or delivered in 1..20 ms */
static void copy_dg(struct node *a, int to, const uint8_t *b, size_t n, bool ann)
{
	if (next64() % 1000000 < (uint64_t)(loss * 1e6))
		return;
	struct dg *d = malloc(sizeof(*d));

	if (!d)
		abort();
	d->at = now + 1 + uniform(20) + lag;
	d->seq = dseq++;
	d->from = a->id;
	d->to = to;
	d->len = n;
	d->ann = ann;
	memcpy(d->buf, b, n);
	push(d);
}

static void send_dg(struct node *a, int to, const uint8_t *b, size_t n, bool ann)
{
	count_tx(a, n, ann ? 1 : b[1] != PEER_D_SEALED ? 2 : cat);
	copy_dg(a, to, b, n, ann);
}

static bool sendable(struct node *a, int j)
{
	return a->known[j] && peer_session_ready(&a->sess[j], now);
}
static bool direct(void *ctx, const uint8_t key[32])
{
	int j = key_index(key);

	return j >= 0 && sendable(ctx, j);
}

static void hot_add(struct node *a, uint8_t type, int key)
{
	int k = 1, i;

	for (int v = a->swim.n + 1; v > 1; v >>= 1)
		k++;
	for (i = 0; i < a->nhot; i++)
		if (a->hot[i].type == type && a->hot[i].key == key)
			break;
	if (i == a->nhot) {
		if (a->nhot == MAX_HOT)
			return;
		a->nhot++;
	}
	a->hot[i] = (struct hot){ type, key, 0, 0 };
	a->hot[i].left = a->hot[i].budget = type == PEER_R_MEASURE ? NEWS_SENDS : 3 * k;
}

static void state_rec(struct node *a, int key, struct peer_rec_any *r)
{
	const struct peer_swim_member *m = key == a->id ? NULL : peer_swim_find(&a->swim, nd[key].pk);

	r->type = PEER_R_STATE;
	memcpy(r->state.key, nd[key].pk, 32);
	r->state.state = m ? m->state : PEER_ALIVE;
	r->state.inc = m ? m->inc : a->swim.inc;
}

/* peers.c send_with_news(): our STATE, then hot items, largest share left first */
static void send_sealed(struct node *a, int j, const struct peer_rec_any *first)
{
	uint8_t pt[PEER_MTU], out[PEER_MTU];
	struct peer_builder b;
	struct peer_rec_any r;
	int k = 0, n;

	if (!sendable(a, j))
		return;
	peer_builder_init(&b, pt, PEER_MTU - PEER_SEALED_HDR - PEER_TAG_BYTES);
	if (first)
		peer_builder_add(&b, first);
	state_rec(a, a->id, &r);
	peer_builder_add(&b, &r);
	for (int x = 1; x < a->nhot; x++) {
		struct hot t = a->hot[x];
		int y = x;

		for (; y > 0 && (int64_t)t.left * a->hot[y - 1].budget >
				(int64_t)a->hot[y - 1].left * t.budget; y--)
			a->hot[y] = a->hot[y - 1];
		a->hot[y] = t;
	}
	for (int i = 0; i < a->nhot; i++) {
		struct hot *h = &a->hot[i];

		if (h->type == PEER_R_MEASURE) {
			const struct peer_measure *m = peer_gossip_get(&a->gossip, nd[h->key].pk);

			if (h->key == j)
				continue;
			if (!m) {
				h->left = 0;
				continue;
			}
			r.type = PEER_R_MEASURE;
			r.measure = *m;
		} else {
			state_rec(a, h->key, &r);
		}
		if (peer_builder_add(&b, &r))
			break;
		if (h->type == PEER_R_STATE && now >= REST_FROM_MS && now < REST_TO_MS)
			cat_bytes[6] += 44;
		h->left--;
	}
	for (int i = 0; i < a->nhot; i++)
		if (a->hot[i].left > 0)
			a->hot[k++] = a->hot[i];
	a->nhot = k;
	n = peer_session_seal(&a->sess[j], now, b.buf, b.len, out, sizeof(out));
	if (n > 0)
		send_dg(a, j, out, (size_t)n, false);
}

static void send_simple(struct node *a, int j, uint8_t type, uint32_t seq, int target)
{
	struct peer_rec_any r = { .type = type };

	cat = 3;
	r.ping.seq = seq;
	if (type == PEER_R_PING_REQ) {
		r.ping_req.seq = seq;
		memcpy(r.ping_req.target, nd[target].pk, 32);
	}
	send_sealed(a, j, &r);
	cat = 0;
}

static void maybe_handshake(struct node *a, int j)
{
	uint8_t out[PEER_HS_INIT_BYTES];
	int n;

	a->sess[j].hs_base_ms = a->hs_base;
	if (!a->known[j] || !peer_session_want_handshake(&a->sess[j], now))
		return;
	/* peers.c: the node's pace (no receive queue here: no backlog) */
	if (!peer_hs_pace_allow(&a->hs_pace, &a->sess[j], false, now))
		return;
	n = peer_session_initiate(&a->sess[j], &a->me, now, out, sizeof(out));
	if (n > 0) {
		inits++;
		send_dg(a, j, out, (size_t)n, false);
	}
}

static void announce(struct node *a, int only)
{
	uint8_t b[ANN_BYTES];

	memset(b, 0, sizeof(b));
	if (only >= 0) {
		send_dg(a, only, b, sizeof(b), true);
		return;
	}
	/* multicast: one transmission, every copy lost on its own */
	for (int j = 0; j < N; j++)
		if (j != a->id)
			copy_dg(a, j, b, sizeof(b), true);
	count_tx(a, sizeof(b), 1);
}

static int pick_random(struct node *a, int *out, int max)
{
	int c[MAXN], n = 0;

	for (int j = 0; j < N; j++) {
		const struct peer_swim_member *m;

		if (j == a->id || !sendable(a, j))
			continue;
		m = peer_swim_find(&a->swim, nd[j].pk);
		if (m && m->state != PEER_DEAD)
			c[n++] = j;
	}
	for (int i = 0; i < max && i < n; i++) {
		int k = i + (int)uniform((uint32_t)(n - i)), t = c[i];

		c[i] = c[k];
		c[k] = t;
		out[i] = c[i];
	}
	return n < max ? n : max;
}

static void push_news(struct node *a)
{
	int to[PUSH_FANOUT], n;
	bool pushable = false;

	for (int i = 0; i < a->nhot; i++)
		pushable |= a->hot[i].type != PEER_R_STATE;
	if (!pushable)
		return;
	n = pick_random(a, to, PUSH_FANOUT);
	cat = 4;
	for (int i = 0; i < n; i++)
		send_sealed(a, to[i], NULL);
	cat = 0;
}

static void send_digest(struct node *a, int j, uint8_t flags)
{
	uint8_t ent[MAXN * PEER_DIGEST_ENTRY];
	struct peer_rec_any r = { .type = PEER_R_DIGEST };

	r.digest.flags = flags;
	r.digest.n = (uint8_t)peer_gossip_digest(&a->gossip, ent, MAXN);
	r.digest.ent = ent;
	cat = 5;
	send_sealed(a, j, &r);
	cat = 0;
}

static void measure(struct node *a)
{
	struct peer_measure m = { .time_ms = now, .net_w = a->net_w };
	const struct peer_measure *last = peer_gossip_get(&a->gossip, a->pk);
	bool news;

	memcpy(m.key, a->pk, 32);
	m.consumption_w = a->net_w > 0 ? (uint32_t)a->net_w : 0;
	news = !last || peer_measure_news(last, &m);
	if (!news && now - last->time_ms < PEER_REFRESH_MS)
		return;
	peer_measure_sign(&m, a->sk);
	peer_gossip_take_at(&a->gossip, &m, now);
	if (news)
		hot_add(a, PEER_R_MEASURE, a->id);
}

static void tick(struct node *a)
{
	struct peer_swim_action act[8];
	int na;

	measure(a);
	if (now >= a->next_ann) {
		announce(a, -1);
		a->ann_gap = a->ann_n++ < 4 ? 250 : 2 * a->ann_gap;
		if (a->ann_gap > 10000)
			a->ann_gap = 10000;
		a->next_ann = now + a->ann_gap;
	}
	/* peers.c: members never reached first */
	for (int pass = 0; pass < 2; pass++)
		for (int j = 0; j < N; j++)
			if (j != a->id && (a->sess[j].handshakes == 0) == (pass == 0))
				maybe_handshake(a, j);
	{
		uint8_t before[MAXN];

		for (int i = 0; i < a->swim.n; i++)
			before[i] = a->swim.m[i].state;
		na = peer_swim_tick(&a->swim, now, act, 8);
		for (int i = 0; i < a->swim.n; i++)
			if (a->swim.m[i].state != before[i] && a->swim.m[i].state != PEER_ALIVE)
				hot_add(a, PEER_R_STATE, key_index(a->swim.m[i].key));
	}
	for (int i = 0; i < na; i++)
		send_simple(a, key_index(act[i].to),
			    act[i].kind == PEER_SA_PING ? PEER_R_PING : PEER_R_PING_REQ,
			    act[i].seq, act[i].kind == PEER_SA_PING ? 0 : key_index(act[i].target));
	for (int i = 0; i < 16; i++)
		if (a->relay[i].ours && now - a->relay[i].at > SWIM_PERIOD_MS)
			a->relay[i].ours = 0;
	if (now >= a->next_digest) {
		int j;

		if (popular && a->id && sendable(a, 0))
			send_digest(a, 0, 0);
		else if (pick_random(a, &j, 1))
			send_digest(a, j, 0);
		a->next_digest = now + DIGEST_MS;
	}
	push_news(a);
}

static void on_sealed(struct node *a, int j, const struct peer_msg *m, size_t len)
{
	uint8_t pt[PEER_MTU];
	struct peer_inner in;
	int n;

	if (!peer_session_owns(&a->sess[j], m->sealed.receiver_index))
		return;
	n = peer_session_open(&a->sess[j], &m->sealed, now, pt, sizeof(pt));
	if (n < 0 || peer_wire_decode_inner(pt, (size_t)n, &in))
		return;
	a->known[j] = a->sealed_rx[j] = true;
	peer_swim_heard(&a->swim, nd[j].pk, now);
	for (int i = 0; i < in.nrecs; i++) {
		const struct peer_rec_any *r = &in.rec[i];
		int k;

		switch (r->type) {
		case PEER_R_PING:
			send_simple(a, j, PEER_R_ACK, r->ping.seq, 0);
			break;
		case PEER_R_ACK:
			if (!(r->ack.seq & 0x80000000u)) {
				peer_swim_ack(&a->swim, r->ack.seq, now);
				break;
			}
			for (k = 0; k < 16; k++)
				if (a->relay[k].ours == r->ack.seq) {
					send_simple(a, a->relay[k].req, PEER_R_ACK, a->relay[k].theirs, 0);
					a->relay[k].ours = 0;
				}
			break;
		case PEER_R_PING_REQ: {
			int s = 0, t = key_index(r->ping_req.target);

			if (t < 0)
				break;
			for (k = 0; k < 16; k++)
				if (!a->relay[k].ours || a->relay[k].at < a->relay[s].at) {
					s = k;
					if (!a->relay[k].ours)
						break;
				}
			if (++a->relay_seq < 0x80000000u)
				a->relay_seq = 0x80000000u;
			a->relay[s].ours = a->relay_seq;
			a->relay[s].theirs = r->ping_req.seq;
			a->relay[s].req = j;
			a->relay[s].at = now;
			send_simple(a, t, PEER_R_PING, a->relay_seq, 0);
			break;
		}
		case PEER_R_STATE:
			if (peer_swim_update(&a->swim, r->state.key, r->state.state, r->state.inc, now))
				hot_add(a, PEER_R_STATE, key_index(r->state.key));
			break;
		case PEER_R_MEASURE:
			k = key_index(r->measure.key);
			if (k < 0 || k == a->id)
				break;
			if (peer_gossip_take_at(&a->gossip, &r->measure, now) == 2)
				hot_add(a, PEER_R_MEASURE, k);
			break;
		case PEER_R_DIGEST: {
			const struct peer_measure *give[PEER_MAX_RECS];
			uint8_t p2[PEER_MTU], out[PEER_MTU];
			struct peer_builder b;
			struct peer_rec_any g = { .type = PEER_R_MEASURE };
			int ng, sn;
			bool behind = peer_gossip_diff(&a->gossip, &r->digest, give,
						       PEER_MAX_RECS, &ng);

			/* peers.c on_digest(): another's digest is answered
			 * within the budget (the reply to ours always) */
			if ((ng || behind) && !(r->digest.flags & PEER_DIGEST_REPLY) &&
			    ans_every && !peer_budget_take(&a->answers, ans_every, ans_burst, now))
				break;

			peer_builder_init(&b, p2, PEER_MTU - PEER_SEALED_HDR - PEER_TAG_BYTES);
			for (k = 0; k < ng; k++) {
				g.measure = *give[k];
				if (peer_builder_add(&b, &g))
					break;
			}
			if (b.nrecs && sendable(a, j)) {
				sn = peer_session_seal(&a->sess[j], now, b.buf, b.len, out, sizeof(out));
				if (sn > 0)
					send_dg(a, j, out, (size_t)sn, false);
			}
			if (behind && !(r->digest.flags & PEER_DIGEST_REPLY))
				send_digest(a, j, PEER_DIGEST_REPLY);
			break;
		}
		}
	}
	(void)len;
}

static void deliver(struct dg *d)
{
	struct node *a = &nd[d->to];
	int j = d->from;
	struct peer_msg m;

	if (!a->up)
		return;
	if (d->ann) {
		/* peers.c on_announce(): listed, alive, a handshake, a reply */
		a->known[j] = true;
		peer_swim_heard(&a->swim, nd[j].pk, now);
		maybe_handshake(a, j);
		if (!a->sealed_rx[j] && now - a->ann_reply[j] >= 1000) {
			a->ann_reply[j] = now;
			announce(a, j);
		}
		return;
	}
	if (peer_wire_decode(d->buf, d->len, &m))
		return;
	if (m.type == PEER_D_HS_INIT) {
		uint8_t out[PEER_HS_RESP_BYTES];
		int n = peer_session_respond(&a->sess[j], &a->me, &m.init, now, out, sizeof(out));

		/* listed, trusted, no address until its first transport message */
		if (!peer_swim_find(&a->swim, nd[j].pk))
			peer_swim_heard(&a->swim, nd[j].pk, now);
		if (n > 0)
			send_dg(a, j, out, (size_t)n, false);
	} else if (m.type == PEER_D_HS_RESP) {
		if (peer_session_awaits(&a->sess[j], m.resp.receiver_index) &&
		    !peer_session_complete(&a->sess[j], &a->me, &m.resp, now)) {
			a->hs_base = peer_hs_base(&a->hs_srtt, a->sess[j].hs_rtt_ms);
			send_sealed(a, j, NULL);
		}
	} else if (m.type == PEER_D_SEALED) {
		on_sealed(a, j, &m, d->len);
	}
}

static bool all_alive(void)
{
	for (int i = 0; i < N; i++) {
		int c = 0;

		for (int k = 0; k < nd[i].swim.n; k++)
			c += nd[i].swim.m[k].state == PEER_ALIVE;
		if (c != N - 1)
			return false;
	}
	return true;
}

static bool all_heard_change(void)
{
	for (int i = 1; i < N; i++) {
		const struct peer_measure *m = peer_gossip_get(&nd[i].gossip, nd[0].pk);

		if (!m || m->net_w != nd[0].net_w)
			return false;
	}
	return true;
}

struct result { double disc, net, mean, worst, first; uint64_t inits; };

static struct result run(int n, double loss_pct, uint64_t seed)
{
	struct result res = { -1, -1, 0, 0, 0, 0 };
	uint8_t comm[32], seedb[32];

	N = n;
	loss = loss_pct / 100;
	rs = seed * 0x100000001b3ull + 1;
	inits = 0;
	now = 0;
	dseq = 0;
	t_disc = t_net = t_change = 0;
	nd = calloc((size_t)N, sizeof(*nd));
	if (!nd)
		abort();
	peer_community_id("street", comm);
	for (int i = 0; i < N; i++) {
		struct node *a = &nd[i];

		a->id = i;
		r_buf(seedb, 32);
		crypto_sign_seed_keypair(a->pk, a->sk, seedb);
		if (peer_local_init(&a->me, a->pk, a->sk, comm))
			abort();
		a->start = uniform(spread);
		a->next_tick = a->start;
		a->net_w = 1000 + (int32_t)uniform(2000);
		a->gossip.max_age_ms = 60000;
	}
	for (int i = 0; i < N; i++) {
		struct node *a = &nd[i];

		peer_swim_init(&a->swim, a->pk, SWIM_PERIOD_MS, 3 * SWIM_PERIOD_MS, a->start);
		a->swim.direct = direct;
		a->swim.ctx = a;
		a->next_digest = a->start + DIGEST_MS;
		for (int j = 0; j < N; j++)
			if (j != i && peer_session_init(&a->sess[j], &a->me, nd[j].pk))
				abort();
	}
	while (now < REST_TO_MS) {
		uint64_t next = UINT64_MAX;
		int who = -1;

		for (int i = 0; i < N; i++)
			if (nd[i].next_tick < next) {
				next = nd[i].next_tick;
				who = i;
			}
		if (nheap && heap[0]->at <= next) {
			struct dg *d = pop();

			now = d->at;
			deliver(d);
			free(d);
		} else {
			now = next;
			nd[who].up = true;
			if (now >= CHANGE_MS && who == 0 && !t_change) {
				nd[0].net_w -= 1840;	/* the 8 A load of bench-netns */
				t_change = now;
			}
			tick(&nd[who]);
			nd[who].next_tick += TICK_MS;
		}
		if (!t_disc && all_alive())
			t_disc = now ? now : 1;
		if (getenv("SIM_DEBUG") && !t_disc && now % 250 == 0) {
			int unknown = 0, susp = 0, dead = 0, nosess = 0;

			for (int i = 0; i < N; i++)
				for (int j = 0; j < N; j++) {
					const struct peer_swim_member *m;

					if (i == j || !nd[i].up || !nd[j].up)
						continue;
					m = peer_swim_find(&nd[i].swim, nd[j].pk);
					unknown += !m;
					susp += m && m->state == PEER_SUSPECT;
					dead += m && m->state == PEER_DEAD;
					nosess += !sendable(&nd[i], j);
				}
			fprintf(stderr, "# %llu ms: pairs unknown %d suspect %d dead %d, no session %d\n",
				(unsigned long long)now, unknown, susp, dead, nosess);
		}
		if (t_change && !t_net && all_heard_change())
			t_net = now;
		/* SIM_DEBUG=1: how the news spreads, and what the bytes at rest are */
		if (getenv("SIM_DEBUG") && t_change && !t_net && now % 100 == 0) {
			int c = 0;

			for (int i = 1; i < N; i++) {
				const struct peer_measure *m = peer_gossip_get(&nd[i].gossip, nd[0].pk);

				c += m && m->net_w == nd[0].net_w;
			}
			fprintf(stderr, "# %llu ms: %d of %d hold the change\n",
				(unsigned long long)now, c, N - 1);
		}
	}
	if (t_disc)
		res.disc = (double)t_disc / 1000;
	if (t_net)
		res.net = (double)(t_net - t_change) / 1000;
	int wi = 0;

	for (int i = 0; i < N; i++) {
		double bps = (double)nd[i].tx_rest * 1000 / (REST_TO_MS - REST_FROM_MS);

		res.mean += bps / N;
		if (!i)
			res.first = bps;
		if (bps > res.worst) {
			res.worst = bps;
			wi = i;
		}
	}
	/* SIM_DEBUG: what the worst node sends, by kind */
	if (getenv("SIM_DEBUG"))
		for (int i = 0; i < 6; i++)
			fprintf(stderr, "# worst node %d: %s: %.0f B/s\n", wi, cat_name[i],
				(double)nd[wi].cat_rest[i] * 1000 / (REST_TO_MS - REST_FROM_MS));
	while (nheap)
		free(pop());
	for (int i = 0; i < N; i++)
		peer_local_wipe(&nd[i].me);
	free(nd);
	res.inits = inits;
	if (getenv("SIM_DEBUG"))
		for (int i = 0; i < 7; i++) {
			fprintf(stderr, "# %s: %.0f B/s a node\n", cat_name[i],
				(double)cat_bytes[i] * 1000 / (REST_TO_MS - REST_FROM_MS) / N);
			cat_bytes[i] = 0;
		}
	return res;
}

static void print(int n, double l, uint64_t seed, const struct result *r, const char *pre)
{
	printf("%s%d nodes %2.0f%% loss seed %-3llu: discovery %5.2f s  net power %5.2f s  "
	       "%5.0f B/s mean %5.0f worst  %llu initiations\n", pre, n, l, (unsigned long long)seed,
	       r->disc, r->net, r->mean, r->worst, (unsigned long long)r->inits);
}

int main(int argc, char **argv)
{
	randombytes_set_implementation(&seeded);
	if (sodium_init() < 0)
		return 1;
	if (getenv("SPREAD"))
		spread = (uint32_t)atoi(getenv("SPREAD"));
	if (getenv("ANS_EVERY"))
		ans_every = (uint32_t)atoi(getenv("ANS_EVERY"));
	popular = getenv("POPULAR") && atoi(getenv("POPULAR"));
	if (getenv("LAG"))
		lag = (uint32_t)atoi(getenv("LAG"));
	if (argc > 3) {
		int n = atoi(argv[1]);
		double l = atof(argv[2]);

		if (n < 2 || n > MAXN || l < 0 || l > 100) {
			fprintf(stderr, "scale_sim: N 2..%d, LOSS 0..100\n", MAXN);
			return 2;
		}
		for (int i = 3; i < argc; i++) {
			struct result r = run(n, l, strtoull(argv[i], NULL, 0));

			print(n, l, strtoull(argv[i], NULL, 0), &r, "");
		}
		return 0;
	}
	/* TAP: issue 11's targets for 50 gateways, fixed seeds */
	static const double losses[] = { 0, 10 };
	static const uint64_t seeds[] = { 1, 2, 3 };
	int t = 0, fail = 0;

	printf("TAP version 13\n1..%d\n", 3 * 2 * 3 + 2 * 3 + 2);
	for (int li = 0; li < 2; li++)
		for (int si = 0; si < 3; si++) {
			struct result r = run(50, losses[li], seeds[si]);
			char what[64];

			print(50, losses[li], seeds[si], &r, "# ");
			snprintf(what, sizeof(what), "50 nodes %.0f%% loss seed %llu", losses[li],
				 (unsigned long long)seeds[si]);
#define CHECK(c, fmt, ...) do { bool ok_ = (c); fail += !ok_; \
	printf("%sok %d - %s: " fmt "\n", ok_ ? "" : "not ", ++t, what, __VA_ARGS__); } while (0)
			CHECK(r.disc > 0 && r.disc <= 1.5, "discovery %.2f s <= 1.5 s", r.disc);
			CHECK(r.net > 0 && r.net <= 2.0, "net power %.2f s <= 2 s", r.net);
			CHECK(r.worst <= 2048, "at rest %.0f B/s worst node <= 2048", r.worst);
		}
	/*
	 * Real daemons on loaded cores answer late: 50 of them restarting on
	 * two cores took a second and more to answer an initiation, and
	 * every retry sent before the answer came was one more for a busy
	 * responder (bench-netns: 13 initiations a pair). Here each hop waits
	 * 150 ms more and the nodes start over 3 s: the retry time must
	 * follow the round trips seen (peer_hs_base()), at most 3
	 * initiations a pair (there were 4 with a fixed 250 ms).
	 */
	spread = 3000;
	lag = 150;
	for (int si = 0; si < 3; si++) {
		struct result r = run(50, 10, seeds[si]);
		char what[64];

		print(50, 10, seeds[si], &r, "# ");
		snprintf(what, sizeof(what), "50 nodes 10%% loss, 150 ms answers, seed %llu",
			 (unsigned long long)seeds[si]);
		CHECK(r.inits <= 3 * 50 * 49 / 2, "%llu initiations <= 3 a pair",
		      (unsigned long long)r.inits);
		/* late ACKs stretch SWIM's timeouts (local health) rather than
		 * set off PING_REQs and suspicions: 3.2 to 3.7 KB/s before */
		CHECK(r.worst <= 2048, "at rest %.0f B/s worst node <= 2048", r.worst);
	}
	/*
	 * What a node sends is bounded whatever its place: here every other
	 * member sends its digests to node 0 (as if it were the one everybody
	 * reaches first). It answers within its budget (peers.c,
	 * DIGEST_ANSWER_MS); unbounded it sent 16 KB/s. News still spreads.
	 */
	spread = 100;
	lag = 0;
	popular = true;
	{
		struct result r = run(50, 10, 1);
		const char *what = "50 nodes 10% loss, every digest to node 0";

		print(50, 10, 1, &r, "# ");
		CHECK(r.first <= 2048, "node 0 at rest %.0f B/s <= 2048", r.first);
		CHECK(r.net > 0 && r.net <= 2.0, "net power %.2f s <= 2 s", r.net);
	}
	popular = false;
	return fail ? 1 : 0;
}
