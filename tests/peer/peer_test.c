// SPDX-License-Identifier: GPL-2.0
/*
 * Peer library unit tests (kselftest harness): wire round trips and strict
 * decoding (every truncation and every flipped byte of a real datagram),
 * sessions (Noise_KK handshake, both sides at once, replayed initiations
 * and transport messages, restarts without nonce reuse, tampering,
 * strangers and other communities, rekey and expiry, rate limit),
 * membership (founder, invite chain, token, removal, save/load), SWIM
 * (ping, ping-req, suspect, dead, refutation) and gossip (newest wins,
 * forgeries refused, net over live members) and ledger anti-entropy (a
 * chain pulled through SYNC_REQ/ENTRY records, bad entries refused, a fork
 * found).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "kselftest_harness.h"
#include "ledger/ledger.h"
#include "settle/settle.h"
#include "peer/peer.h"

struct kp {
	uint8_t pk[32], sk[64];
};

static void kp_seed(struct kp *k, uint8_t n)
{
	uint8_t seed[32];

	memset(seed, n, sizeof(seed));
	crypto_sign_ed25519_seed_keypair(k->pk, k->sk, seed);
}

/* ---- wire ---- */

/* the founder of "street" (key seed 1), announcing with its INVITE */
static int founder_announce(struct kp *a, struct peer_community *c, struct peer_announce *an)
{
	*an = (struct peer_announce){ .epoch = 1000, .time_ms = 2000, .port = 7068 };
	if (sodium_init() < 0)
		return -1;
	kp_seed(a, 1);
	if (peer_community_found(c, "street", a->pk, a->sk, 5))
		return -1;
	memcpy(an->community, c->id, 32);
	memcpy(an->key, a->pk, 32);
	an->has_record = true;
	an->record = c->member[0];
	return 0;
}

TEST(announce_round_trip_and_strict)
{
	struct kp a;
	struct peer_community c;
	struct peer_announce an;
	uint8_t buf[PEER_MTU], bad[PEER_MTU];
	struct peer_msg m;
	int n;

	ASSERT_EQ(0, founder_announce(&a, &c, &an));
	n = peer_announce_encode(&an, a.sk, buf, sizeof(buf));
	ASSERT_EQ(PEER_ANNOUNCE_FIXED + PEER_RECORD_BYTES + PEER_SIG_BYTES, n);
	ASSERT_EQ(0, peer_wire_decode(buf, n, &m));
	ASSERT_EQ(PEER_D_ANNOUNCE, m.type);
	ASSERT_EQ(1000, m.ann.epoch);
	ASSERT_EQ(7068, m.ann.port);
	ASSERT_TRUE(m.ann.has_record);
	ASSERT_EQ(0, memcmp(m.ann.key, a.pk, 32));
	ASSERT_EQ(0, peer_announce_verify(&m.ann, buf, n));

	/* every prefix is refused as truncated (or malformed: the flag says
	 * a record follows, a shorter one cannot be a valid announcement) */
	for (int l = 0; l < n; l++) {
		int r = peer_wire_decode(buf, l, &m);

		ASSERT_TRUE(r == -PEER_E_TRUNCATED || r == -PEER_E_MALFORMED)
			TH_LOG("prefix %d: %d", l, r);
		if (l < PEER_ANNOUNCE_FIXED + PEER_SIG_BYTES)
			ASSERT_EQ(-PEER_E_TRUNCATED, r);
	}
	/* one trailing byte */
	memcpy(bad, buf, n);
	bad[n] = 0;
	ASSERT_EQ(-PEER_E_MALFORMED, peer_wire_decode(bad, n + 1, &m));
	/* every single flipped byte is refused by the decoder or the signature */
	for (int i = 0; i < n; i++) {
		memcpy(bad, buf, n);
		bad[i] ^= 0x01;
		if (peer_wire_decode(bad, n, &m) == 0) {
			ASSERT_NE(0, peer_announce_verify(&m.ann, bad, n)) TH_LOG("byte %d", i);
		}
	}
}

/*
 * A member's announcement carries its INVITE every time: a record equal to
 * the one held (verified when stored) is not verified again, any other
 * still is, and the announcement's own signature always is.
 */
TEST(announce_held_record_not_verified_again)
{
	struct kp a;
	struct peer_community c;
	struct peer_announce an;
	struct peer_record held, other;
	uint8_t buf[PEER_MTU];
	struct peer_msg m;
	int n;

	ASSERT_EQ(0, founder_announce(&a, &c, &an));
	held = c.member[0];
	n = peer_announce_encode(&an, a.sk, buf, sizeof(buf));
	ASSERT_EQ(0, peer_wire_decode(buf, n, &m));
	ASSERT_TRUE(peer_record_same(&m.ann.record, &held));
	ASSERT_EQ(0, peer_announce_verify_held(&m.ann, buf, n, &held));
	ASSERT_EQ(0, peer_announce_verify_held(&m.ann, buf, n, NULL));

	/* a record whose own signature is bad, in a well-signed announcement:
	 * refused unless it is byte for byte the one the caller holds */
	an.record.sig[5] ^= 1;
	other = an.record;
	n = peer_announce_encode(&an, a.sk, buf, sizeof(buf));
	ASSERT_EQ(0, peer_wire_decode(buf, n, &m));
	ASSERT_FALSE(peer_record_same(&m.ann.record, &held));
	ASSERT_EQ(-PEER_E_FORGED, peer_announce_verify_held(&m.ann, buf, n, &held));
	ASSERT_EQ(-PEER_E_FORGED, peer_announce_verify_held(&m.ann, buf, n, NULL));
	ASSERT_EQ(-PEER_E_FORGED, peer_announce_verify(&m.ann, buf, n));
	ASSERT_EQ(0, peer_announce_verify_held(&m.ann, buf, n, &other));

	/* the announcement's own signature is checked whatever is held */
	buf[70] ^= 1;		/* in the run id */
	ASSERT_EQ(0, peer_wire_decode(buf, n, &m));
	ASSERT_EQ(-PEER_E_FORGED, peer_announce_verify_held(&m.ann, buf, n, &other));
}

TEST(inner_records_round_trip)
{
	struct kp a;
	uint8_t buf[PEER_MTU];
	struct peer_builder b;
	struct peer_inner in;
	struct peer_rec_any r = { .type = PEER_R_PING, .ping.seq = 7 };

	kp_seed(&a, 2);
	peer_builder_init(&b, buf, sizeof(buf));
	ASSERT_EQ(0, peer_builder_add(&b, &r));
	r.type = PEER_R_PING_REQ;
	r.ping_req.seq = 9;
	memset(r.ping_req.target, 0xab, 32);
	ASSERT_EQ(0, peer_builder_add(&b, &r));
	r.type = PEER_R_STATE;
	memcpy(r.state.key, a.pk, 32);
	r.state.state = PEER_SUSPECT;
	r.state.inc = 42;
	ASSERT_EQ(0, peer_builder_add(&b, &r));
	memset(&r, 0, sizeof(r));
	r.type = PEER_R_MEASURE;
	memcpy(r.measure.key, a.pk, 32);
	r.measure.time_ms = 123456;
	r.measure.net_w = -1500;
	r.measure.production_w = 1500;
	peer_measure_sign(&r.measure, a.sk);
	ASSERT_EQ(0, peer_builder_add(&b, &r));
	ASSERT_EQ(0, peer_wire_decode_inner(buf, b.len, &in));
	ASSERT_EQ(4, in.nrecs);
	ASSERT_EQ(7, in.rec[0].ping.seq);
	ASSERT_EQ(9, in.rec[1].ping_req.seq);
	ASSERT_EQ(42, in.rec[2].state.inc);
	ASSERT_EQ(PEER_SUSPECT, in.rec[2].state.state);
	ASSERT_EQ(-1500, in.rec[3].measure.net_w);
	ASSERT_EQ(0, peer_measure_verify(&in.rec[3].measure));
	/* a prefix is good exactly at record boundaries */
	for (size_t l = 1; l < b.len; l++) {
		int ret = peer_wire_decode_inner(buf, l, &in);

		if (l == 7 || l == 7 + 39 || l == 7 + 39 + 44) {
			ASSERT_EQ(0, ret);
		} else {
			ASSERT_NE(0, ret) TH_LOG("prefix %zu accepted", l);
		}
	}
	/* a bad state value, an unknown type, a wrong length */
	buf[3 + 4 + 3 + 36 + 3 + 32] = 3;
	ASSERT_EQ(-PEER_E_MALFORMED, peer_wire_decode_inner(buf, b.len, &in));
	buf[0] = 99;
	ASSERT_EQ(-PEER_E_MALFORMED, peer_wire_decode_inner(buf, b.len, &in));
	buf[0] = PEER_R_PING;
	buf[1] = 5;
	ASSERT_NE(0, peer_wire_decode_inner(buf, b.len, &in));
	/* an ENTRY record longer than PEER_ENTRY_MAX (found by peer_fuzz) */
	{
		static uint8_t big[3 + PEER_ENTRY_MAX + 1] = { PEER_R_ENTRY };

		big[1] = (PEER_ENTRY_MAX + 1) & 0xff;
		big[2] = (PEER_ENTRY_MAX + 1) >> 8;
		ASSERT_EQ(-PEER_E_MALFORMED,
			  peer_wire_decode_inner(big, sizeof(big), &in));
	}
	/* altered measurement no longer verifies */
	in.rec[0].type = 0;
	r.measure.net_w = 1500;
	ASSERT_EQ(-PEER_E_FORGED, peer_measure_verify(&r.measure));
}

/*
 * Issue 11, item 13: 16 PINGs in one sealed message were answered with 16
 * ACKs (and 16 PING_REQs relayed 16 pings): an amplifier in the hands of
 * any member. Records that ask for an answer come once per message.
 */
TEST(inner_one_reply_per_message)
{
	static const uint8_t once[] = { PEER_R_PING, PEER_R_ACK, PEER_R_PING_REQ,
					PEER_R_SYNC_REQ, PEER_R_PROPOSE, PEER_R_ACCEPT };
	uint8_t buf[PEER_MTU];
	struct peer_inner in;

	for (size_t t = 0; t < sizeof(once); t++) {
		struct peer_rec_any r = { .type = once[t] };
		size_t l, off = 0;

		/* hand-made, as a hostile sender would: 2 records of the type */
		r.sync_req.count = 1;
		r.sync_req.from = 1;
		{
			struct peer_builder b;

			peer_builder_init(&b, buf, sizeof(buf));
			ASSERT_EQ(0, peer_builder_add(&b, &r));
			l = b.len;
			/* and the builder refuses to write the second one */
			ASSERT_EQ(-EINVAL, peer_builder_add(&b, &r));
		}
		ASSERT_EQ(0, peer_wire_decode_inner(buf, l, &in));
		for (int k = 1; k < 16; k++)
			memcpy(buf + k * l, buf, l);
		off = 16 * l;
		if (off > sizeof(buf))
			off = (sizeof(buf) / l) * l;
		ASSERT_EQ(-PEER_E_MALFORMED, peer_wire_decode_inner(buf, off, &in))
			TH_LOG("type %u repeated accepted", once[t]);
		ASSERT_EQ(-PEER_E_MALFORMED, peer_wire_decode_inner(buf, 2 * l, &in));
	}
	/* 16 STATEs (news about 16 members) are fine */
	{
		struct peer_builder b;
		struct peer_rec_any r = { .type = PEER_R_STATE };

		peer_builder_init(&b, buf, sizeof(buf));
		for (int k = 0; k < 16; k++) {
			memset(r.state.key, k, 32);
			ASSERT_EQ(0, peer_builder_add(&b, &r));
		}
		ASSERT_EQ(0, peer_wire_decode_inner(buf, b.len, &in));
		ASSERT_EQ(16, in.nrecs);
	}
}

/* ---- sessions: Noise_KK handshake, transport ---- */

FIXTURE(sess) {
	struct kp a, b;
	struct peer_local la, lb;
	struct peer_session sa, sb;	/* a's session with b, b's with a */
	uint64_t now;
};

static void community_of(const char *name, uint8_t id[32])
{
	peer_community_id(name, id);
}

FIXTURE_SETUP(sess)
{
	uint8_t cid[32];

	community_of("street", cid);
	kp_seed(&self->a, 3);
	kp_seed(&self->b, 4);
	ASSERT_EQ(0, peer_local_init(&self->la, self->a.pk, self->a.sk, cid));
	ASSERT_EQ(0, peer_local_init(&self->lb, self->b.pk, self->b.sk, cid));
	ASSERT_EQ(0, peer_session_init(&self->sa, &self->la, self->b.pk));
	ASSERT_EQ(0, peer_session_init(&self->sb, &self->lb, self->a.pk));
	self->now = 5000;
}

FIXTURE_TEARDOWN(sess) {}

static int seal(struct peer_session *s, uint64_t now, const char *txt, uint8_t *out)
{
	return peer_session_seal(s, now, (const uint8_t *)txt, strlen(txt), out, PEER_MTU);
}

static int open_dg(struct peer_session *s, uint64_t now, const uint8_t *dg, int n,
		   uint8_t *pt)
{
	struct peer_msg m;
	int r = peer_wire_decode(dg, n, &m);

	if (r)
		return r;
	if (m.type != PEER_D_SEALED)
		return -PEER_E_MALFORMED;
	return peer_session_open(s, &m.sealed, now, pt, PEER_MTU);
}

static int respond_dg(struct peer_session *s, const struct peer_local *me, uint64_t now,
		      const uint8_t *dg, int n, uint8_t *out)
{
	struct peer_msg m;
	int r = peer_wire_decode(dg, n, &m);

	if (r)
		return r;
	if (m.type != PEER_D_HS_INIT)
		return -PEER_E_MALFORMED;
	return peer_session_respond(s, me, &m.init, now, out, PEER_MTU);
}

static int complete_dg(struct peer_session *s, const struct peer_local *me, uint64_t now,
		       const uint8_t *dg, int n)
{
	struct peer_msg m;
	int r = peer_wire_decode(dg, n, &m);

	if (r)
		return r;
	if (m.type != PEER_D_HS_RESP)
		return -PEER_E_MALFORMED;
	return peer_session_complete(s, me, &m.resp, now);
}

/* x initiates to y; y's keys are confirmed by x's first message */
static int shake(struct peer_session *x, const struct peer_local *lx,
		 struct peer_session *y, const struct peer_local *ly, uint64_t now)
{
	uint8_t init[PEER_MTU], resp[PEER_MTU], dg[PEER_MTU], pt[PEER_MTU];
	int n, r;

	n = peer_session_initiate(x, lx, now, init, sizeof(init));
	if (n != PEER_HS_INIT_BYTES)
		return -1000 + n;
	r = respond_dg(y, ly, now, init, n, resp);
	if (r != PEER_HS_RESP_BYTES)
		return -2000 + r;
	r = complete_dg(x, lx, now, resp, r);
	if (r)
		return -3000 + r;
	n = seal(x, now, "hi", dg);
	return open_dg(y, now, dg, n, pt) == 2 ? 0 : -4000;
}

/* the retry schedule: 250 ms doubling to 8 s, jitter within a quarter */
TEST(hs_retry_schedule)
{
	static const uint32_t base[] = { 250, 500, 1000, 2000, 4000, 8000, 8000, 8000 };

	for (int k = 0; k < 200; k++)
		for (uint32_t t = 1; t <= 8; t++) {
			uint32_t w = peer_hs_wait(t);

			ASSERT_GE(w, base[t - 1]);
			ASSERT_LE(w, base[t - 1] + base[t - 1] / 4);
		}
}

/*
 * The first retry time follows the round trips handshakes really take:
 * 250 ms on a LAN, twice a slow round trip (a loaded responder), at most
 * PEER_HS_BASE_MAX_MS; the doubling schedule runs from there.
 */
TEST(hs_retry_from_round_trips)
{
	uint32_t srtt = 0, b;

	ASSERT_EQ(PEER_REKEY_TIMEOUT_MS, peer_hs_base(&srtt, 0));
	ASSERT_EQ(PEER_REKEY_TIMEOUT_MS, peer_hs_base(&srtt, 5));	/* a LAN */
	ASSERT_EQ(5, srtt);
	srtt = 0;
	b = peer_hs_base(&srtt, 900);		/* answers after 0.9 s */
	ASSERT_EQ(1800, b);
	for (int i = 0; i < 50; i++)
		b = peer_hs_base(&srtt, 5000);
	ASSERT_EQ(PEER_HS_BASE_MAX_MS, b);
	for (int i = 0; i < 100; i++)
		b = peer_hs_base(&srtt, 10);	/* and back when it is fast again */
	ASSERT_EQ(PEER_REKEY_TIMEOUT_MS, b);
	for (int k = 0; k < 100; k++) {
		uint32_t w1 = peer_hs_wait_from(1000, 1), w3 = peer_hs_wait_from(1000, 3);

		ASSERT_GE(w1, 1000);
		ASSERT_LE(w1, 1250);
		ASSERT_GE(w3, 4000);
		ASSERT_LE(w3, 5000);
	}
}

/*
 * An initiation in flight waits for the retry time the round trips call
 * for now, not only the one drawn when it was sent: answers that began to
 * come late (a loaded host: queued, not lost) hold back every pending
 * retry, not only those sent after.
 */
TEST_F(sess, retry_waits_for_round_trips_seen_since)
{
	uint8_t init[PEER_MTU];
	uint64_t t = self->now;

	self->sa.hs_base_ms = 0;		/* 250 ms: nothing measured yet */
	ASSERT_EQ(PEER_HS_INIT_BYTES, peer_session_initiate(&self->sa, &self->la, t, init,
							    sizeof(init)));
	ASSERT_TRUE(peer_session_want_handshake(&self->sa, t + 250 + 250 / 4));
	/* an answer of another session took 1 s: 2 s is the base now */
	self->sa.hs_base_ms = peer_hs_backoff(2000, 1);
	ASSERT_EQ(2000, self->sa.hs_base_ms);
	ASSERT_FALSE(peer_session_want_handshake(&self->sa, t + 250 + 250 / 4));
	ASSERT_FALSE(peer_session_want_handshake(&self->sa, t + 1999));
	ASSERT_TRUE(peer_session_want_handshake(&self->sa, t + 2000));
	/* the second waits twice that */
	ASSERT_EQ(PEER_HS_INIT_BYTES, peer_session_initiate(&self->sa, &self->la, t + 2000, init,
							    sizeof(init)));
	ASSERT_FALSE(peer_session_want_handshake(&self->sa, t + 2000 + 3999));
	ASSERT_TRUE(peer_session_want_handshake(&self->sa, t + 2000 + 4000 + 1000));
	ASSERT_EQ(8000, peer_hs_backoff(2000, 9));
	ASSERT_EQ(250, peer_hs_backoff(0, 1));
}

/*
 * A node's initiations, all peers together: a street's worth at once, then
 * PEER_HS_PACE_PER_S a second, the last PEER_HS_PACE_RESERVE tokens for
 * members never reached; and no retry while our socket holds unread
 * datagrams (its answer may be one), for at most PEER_HS_BASE_MAX_MS.
 */
TEST(hs_pace_bounds_initiations)
{
	struct peer_hs_pace pc = { 0 };
	struct peer_session first = { 0 }, renew = { 0 }, retry = { 0 };
	uint64_t t = 10000;
	int n = 0;

	renew.handshakes = 1;
	retry.hs_pending = true;
	retry.hs_sent_ms = t;
	/* a burst of PEER_HS_PACE_BURST: the reserve is kept from renewals */
	while (peer_hs_pace_allow(&pc, &renew, false, t))
		n++;
	ASSERT_EQ(PEER_HS_PACE_BURST - PEER_HS_PACE_RESERVE, n);
	while (peer_hs_pace_allow(&pc, &first, false, t))
		n++;
	ASSERT_EQ(PEER_HS_PACE_BURST, n);
	ASSERT_FALSE(peer_hs_pace_allow(&pc, &first, false, t));
	/* then PEER_HS_PACE_PER_S a second, to the never reached first */
	n = 0;
	for (uint64_t ms = 1; ms <= 1000; ms++)
		n += peer_hs_pace_allow(&pc, &first, false, t + ms);
	ASSERT_EQ(PEER_HS_PACE_PER_S, n);
	/* renewals wait until the reserve is back (half a second) */
	for (uint64_t ms = 1001; ms <= 1000 + 1000 * PEER_HS_PACE_RESERVE / PEER_HS_PACE_PER_S; ms++)
		ASSERT_FALSE(peer_hs_pace_allow(&pc, &renew, false, t + ms));
	/* full again after a while: renewals go */
	t += 100000;
	ASSERT_TRUE(peer_hs_pace_allow(&pc, &renew, false, t));
	/* a backlog holds retries back, not first contacts */
	retry.hs_sent_ms = t;
	ASSERT_FALSE(peer_hs_pace_allow(&pc, &retry, true, t + 500));
	ASSERT_TRUE(peer_hs_pace_allow(&pc, &first, true, t + 500));
	ASSERT_TRUE(peer_hs_pace_allow(&pc, &retry, false, t + 500));
	ASSERT_FALSE(peer_hs_pace_allow(&pc, &retry, true, t + PEER_HS_BASE_MAX_MS - 1));
	ASSERT_TRUE(peer_hs_pace_allow(&pc, &retry, true, t + PEER_HS_BASE_MAX_MS));
}

/* what a node answers for others: one every @every_ms, bursts of @burst */
TEST(budget_bounds_answers)
{
	struct peer_budget b = { 0 };
	uint64_t t = 50000;
	int n = 0;

	ASSERT_TRUE(peer_budget_take(&b, 3000, 2, t));
	ASSERT_TRUE(peer_budget_take(&b, 3000, 2, t));
	ASSERT_FALSE(peer_budget_take(&b, 3000, 2, t));
	ASSERT_FALSE(peer_budget_take(&b, 3000, 2, t + 2999));
	ASSERT_TRUE(peer_budget_take(&b, 3000, 2, t + 3000));
	/* asked every 100 ms for a minute: 20 answers */
	t += 3000;
	for (int i = 1; i <= 600; i++)
		n += peer_budget_take(&b, 3000, 2, t + 100 * (uint64_t)i);
	ASSERT_EQ(20, n);
	/* a clock that went back refills it rather than stalling it */
	ASSERT_TRUE(peer_budget_take(&b, 3000, 2, 1000));
}

TEST_F(sess, handshake_then_both_ways)
{
	uint8_t init[PEER_MTU], resp[PEER_MTU], dg[PEER_MTU], pt[PEER_MTU];
	int n, r;

	ASSERT_FALSE(peer_session_ready(&self->sa, self->now));
	ASSERT_TRUE(peer_session_want_handshake(&self->sa, self->now));
	ASSERT_EQ(-ENOTCONN, seal(&self->sa, self->now, "x", dg));
	n = peer_session_initiate(&self->sa, &self->la, self->now, init, sizeof(init));
	ASSERT_EQ(PEER_HS_INIT_BYTES, n);
	ASSERT_EQ(120, n);
	/* in flight: no second initiation before the retry time */
	ASSERT_FALSE(peer_session_want_handshake(&self->sa, self->now + PEER_REKEY_TIMEOUT_MS - 1));
	r = respond_dg(&self->sb, &self->lb, self->now, init, n, resp);
	ASSERT_EQ(PEER_HS_RESP_BYTES, r);
	ASSERT_EQ(60, r);
	/* the responder sends nothing until the initiator proves its keys */
	ASSERT_FALSE(peer_session_ready(&self->sb, self->now));
	ASSERT_EQ(0, complete_dg(&self->sa, &self->la, self->now, resp, r));
	ASSERT_TRUE(peer_session_ready(&self->sa, self->now));
	ASSERT_FALSE(peer_session_want_handshake(&self->sa, self->now));
	/* same keys, crossed */
	ASSERT_EQ(0, memcmp(self->sa.cur.tx, self->sb.next.rx, 32));
	ASSERT_EQ(0, memcmp(self->sa.cur.rx, self->sb.next.tx, 32));
	ASSERT_NE(0, memcmp(self->sa.cur.tx, self->sa.cur.rx, 32));
	n = seal(&self->sa, self->now, "hello", dg);
	ASSERT_EQ(PEER_SEALED_HDR + 5 + PEER_TAG_BYTES, n);
	ASSERT_EQ(5, open_dg(&self->sb, self->now, dg, n, pt));
	ASSERT_EQ(0, memcmp(pt, "hello", 5));
	ASSERT_TRUE(peer_session_ready(&self->sb, self->now));
	n = seal(&self->sb, self->now, "world!", dg);
	ASSERT_EQ(6, open_dg(&self->sa, self->now, dg, n, pt));
	ASSERT_EQ(0, memcmp(pt, "world!", 6));
	ASSERT_EQ(1, self->sa.handshakes);
	ASSERT_EQ(1, self->sb.handshakes);
	/* a replayed response finds nothing in flight */
	ASSERT_EQ(-PEER_E_REPLAYED, complete_dg(&self->sa, &self->la, self->now, resp, r));
}

/*
 * Both ends initiated at once: which session, keys and initiation is the
 * smaller key's (whose initiation wins) and which the larger's.
 */
struct sides {
	struct peer_session *small, *large;
	const struct peer_local *lsmall, *llarge;
	uint8_t *ismall, *ilarge;
};

static void by_key(FIXTURE_DATA(sess) *self, uint8_t *ia, uint8_t *ib,
		   struct sides *d)
{
	bool a_small = memcmp(self->a.pk, self->b.pk, 32) < 0;

	d->small = a_small ? &self->sa : &self->sb;
	d->lsmall = a_small ? &self->la : &self->lb;
	d->ismall = a_small ? ia : ib;
	d->large = a_small ? &self->sb : &self->sa;
	d->llarge = a_small ? &self->lb : &self->la;
	d->ilarge = a_small ? ib : ia;
}

TEST_F(sess, both_initiate_at_once)
{
	uint8_t ia[PEER_MTU], ib[PEER_MTU], ra[PEER_MTU], rb[PEER_MTU];
	uint8_t dg[PEER_MTU], pt[PEER_MTU];
	struct sides d;
	int na, nb, r1, r2, n;

	na = peer_session_initiate(&self->sa, &self->la, self->now, ia, sizeof(ia));
	nb = peer_session_initiate(&self->sb, &self->lb, self->now, ib, sizeof(ib));
	ASSERT_EQ(PEER_HS_INIT_BYTES, na);
	ASSERT_EQ(PEER_HS_INIT_BYTES, nb);
	by_key(self, ia, ib, &d);
	/* both initiations cross on the wire */
	r1 = respond_dg(d.small, d.lsmall, self->now, d.ilarge, PEER_HS_INIT_BYTES, ra);
	r2 = respond_dg(d.large, d.llarge, self->now, d.ismall, PEER_HS_INIT_BYTES, rb);
	ASSERT_EQ(0, r1);		/* the smaller key's own wins */
	ASSERT_EQ(PEER_HS_RESP_BYTES, r2);
	ASSERT_FALSE(d.large->hs_pending);	/* the larger dropped its own */
	ASSERT_EQ(0, complete_dg(d.small, d.lsmall, self->now, rb, r2));
	n = seal(d.small, self->now, "one", dg);
	ASSERT_EQ(3, open_dg(d.large, self->now, dg, n, pt));
	/* one session, the same at both ends */
	ASSERT_EQ(0, memcmp(d.small->cur.tx, d.large->cur.rx, 32));
	ASSERT_EQ(0, memcmp(d.small->cur.rx, d.large->cur.tx, 32));
	n = seal(d.large, self->now, "two", dg);
	ASSERT_EQ(3, open_dg(d.small, self->now, dg, n, pt));
	ASSERT_FALSE(peer_session_want_handshake(&self->sa, self->now + 1));
	ASSERT_FALSE(peer_session_want_handshake(&self->sb, self->now + 1));
}

/*
 * The same, on a host too slow to retry on time: the smaller key's
 * initiation is long overdue when the larger's arrives. It is still
 * ignored (the smaller retries its own); answered, both sides would drop
 * their own initiation and the answers would find nothing in flight.
 */
TEST_F(sess, both_initiate_slow_host)
{
	uint8_t ia[PEER_MTU], ib[PEER_MTU], out[PEER_MTU];
	struct sides d;
	uint64_t t = self->now;

	peer_session_initiate(&self->sa, &self->la, t, ia, sizeof(ia));
	peer_session_initiate(&self->sb, &self->lb, t, ib, sizeof(ib));
	by_key(self, ia, ib, &d);
	ASSERT_EQ(0, respond_dg(d.small, d.lsmall, t + 5000, d.ilarge, PEER_HS_INIT_BYTES, out));
	ASSERT_TRUE(d.small->hs_pending);
	ASSERT_EQ(PEER_HS_RESP_BYTES, respond_dg(d.large, d.llarge, t + 5000, d.ismall,
						 PEER_HS_INIT_BYTES, out));
	ASSERT_EQ(0, complete_dg(d.small, d.lsmall, t + 5000, out, PEER_HS_RESP_BYTES));
}

/*
 * Keys we answered wait for the initiator's first message twice the
 * first retry time before we initiate ourselves: the initiator retries a
 * lost answer itself, and a confirmation that is late (a loaded host) is
 * not worth a second handshake.
 */
TEST_F(sess, responder_waits_for_confirmation)
{
	uint8_t init[PEER_MTU], resp[PEER_MTU];
	uint64_t t = self->now;
	int n;

	n = peer_session_initiate(&self->sa, &self->la, t, init, sizeof(init));
	ASSERT_EQ(PEER_HS_RESP_BYTES, respond_dg(&self->sb, &self->lb, t, init, n, resp));
	ASSERT_FALSE(peer_session_want_handshake(&self->sb, t + PEER_REKEY_TIMEOUT_MS));
	ASSERT_FALSE(peer_session_want_handshake(&self->sb, t + 2 * PEER_REKEY_TIMEOUT_MS - 1));
	ASSERT_TRUE(peer_session_want_handshake(&self->sb, t + 2 * PEER_REKEY_TIMEOUT_MS));
	/* and twice the measured one */
	self->sb.hs_base_ms = 1000;
	ASSERT_FALSE(peer_session_want_handshake(&self->sb, t + 1999));
	ASSERT_TRUE(peer_session_want_handshake(&self->sb, t + 2000));
}

TEST_F(sess, replayed_initiation_changes_nothing)
{
	uint8_t first[PEER_MTU], resp[PEER_MTU], dg[PEER_MTU], pt[PEER_MTU];
	uint8_t tx[32];
	uint32_t idx;
	int n, r;

	/* record a's first initiation, complete it */
	n = peer_session_initiate(&self->sa, &self->la, self->now, first, sizeof(first));
	r = respond_dg(&self->sb, &self->lb, self->now, first, n, resp);
	ASSERT_EQ(0, complete_dg(&self->sa, &self->la, self->now, resp, r));
	r = seal(&self->sa, self->now, "a", dg);
	ASSERT_EQ(1, open_dg(&self->sb, self->now, dg, r, pt));
	/* replayed as is: refused before any Diffie-Hellman */
	ASSERT_EQ(-PEER_E_REPLAYED, respond_dg(&self->sb, &self->lb, self->now + 10, first, n, resp));
	/* after enough newer handshakes b no longer remembers it ... */
	for (int i = 0; i < PEER_SEEN_INITS; i++) {
		ASSERT_EQ(0, shake(&self->sa, &self->la, &self->sb, &self->lb, self->now + i));
	}
	memcpy(tx, self->sb.cur.tx, 32);
	idx = self->sb.cur.remote_index;
	/* ... so it answers the replay, but its session stays the one in use */
	r = respond_dg(&self->sb, &self->lb, self->now + 20, first, n, resp);
	ASSERT_EQ(PEER_HS_RESP_BYTES, r);
	ASSERT_TRUE(self->sb.next.valid);
	ASSERT_EQ(0, memcmp(tx, self->sb.cur.tx, 32));
	r = seal(&self->sb, self->now + 20, "still", dg);
	ASSERT_EQ(idx, self->sb.cur.remote_index);
	ASSERT_EQ(5, open_dg(&self->sa, self->now + 20, dg, r, pt));
	r = seal(&self->sa, self->now + 20, "both", dg);
	ASSERT_EQ(4, open_dg(&self->sb, self->now + 20, dg, r, pt));
	/* nobody can complete it: a has nothing in flight */
	ASSERT_EQ(-PEER_E_REPLAYED, complete_dg(&self->sa, &self->la, self->now + 20, resp,
						PEER_HS_RESP_BYTES));
}

/*
 * Replayed initiations that reach b between a genuine response and a's
 * first message push the genuine keys out of b's @next and @next_old: a
 * then sends with keys b no longer holds. a notices that b still sends with
 * the keys before, and makes another session.
 */
TEST_F(sess, displaced_confirmation_renews)
{
	uint8_t old_init[2][PEER_MTU], init[PEER_MTU], resp[PEER_MTU], junk[PEER_MTU];
	uint8_t dg[PEER_MTU], pt[PEER_MTU];
	uint64_t t = self->now;
	int on, n, r;

	for (int i = 0; i < 2; i++) {
		on = peer_session_initiate(&self->sa, &self->la, t, old_init[i], PEER_MTU);
		r = respond_dg(&self->sb, &self->lb, t, old_init[i], on, resp);
		ASSERT_EQ(0, complete_dg(&self->sa, &self->la, t, resp, r));
		n = seal(&self->sa, t, "c", dg);
		ASSERT_EQ(1, open_dg(&self->sb, t, dg, n, pt));
	}
	/* push old_init out of b's memory of initiations */
	for (int i = 0; i < PEER_SEEN_INITS; i++) {
		ASSERT_EQ(0, shake(&self->sa, &self->la, &self->sb, &self->lb, t));
	}
	/* a renews; b answers; the replay lands before a's first message */
	t += PEER_REKEY_AFTER_MS;
	n = peer_session_initiate(&self->sa, &self->la, t, init, sizeof(init));
	r = respond_dg(&self->sb, &self->lb, t, init, n, resp);
	/* one replay leaves the genuine keys in @next_old; a second pushes
	 * them out */
	ASSERT_EQ(PEER_HS_RESP_BYTES, respond_dg(&self->sb, &self->lb, t, old_init[0], on, junk));
	ASSERT_EQ(PEER_HS_RESP_BYTES, respond_dg(&self->sb, &self->lb, t, old_init[1], on, junk));
	ASSERT_EQ(0, complete_dg(&self->sa, &self->la, t, resp, r));
	n = seal(&self->sa, t, "lost", dg);
	ASSERT_EQ(-PEER_E_REPLAYED, open_dg(&self->sb, t, dg, n, pt));
	/* b goes on with the keys it has; a takes them (as @prev) ... */
	n = seal(&self->sb, t + 1000, "b", dg);
	ASSERT_EQ(1, open_dg(&self->sa, t + 1000, dg, n, pt));
	ASSERT_FALSE(peer_session_want_handshake(&self->sa, t + 1000));
	/* ... and once that lasts, it makes another session */
	n = seal(&self->sb, t + PEER_UNCONFIRMED_MS, "b", dg);
	ASSERT_EQ(1, open_dg(&self->sa, t + PEER_UNCONFIRMED_MS, dg, n, pt));
	ASSERT_TRUE(peer_session_want_handshake(&self->sa, t + PEER_UNCONFIRMED_MS));
	ASSERT_EQ(0, shake(&self->sa, &self->la, &self->sb, &self->lb, t + PEER_UNCONFIRMED_MS));
	n = seal(&self->sa, t + PEER_UNCONFIRMED_MS, "ok", dg);
	ASSERT_EQ(2, open_dg(&self->sb, t + PEER_UNCONFIRMED_MS, dg, n, pt));
	ASSERT_FALSE(peer_session_want_handshake(&self->sa, t + PEER_UNCONFIRMED_MS));
}

TEST_F(sess, replayed_and_reordered_transport)
{
	uint8_t dg[70][PEER_MTU], pt[PEER_MTU];
	int n[70];

	ASSERT_EQ(0, shake(&self->sa, &self->la, &self->sb, &self->lb, self->now));
	for (int i = 0; i < 70; i++)
		n[i] = seal(&self->sa, self->now, "m", dg[i]);
	ASSERT_EQ(1, open_dg(&self->sb, self->now, dg[5], n[5], pt));
	ASSERT_EQ(-PEER_E_REPLAYED, open_dg(&self->sb, self->now, dg[5], n[5], pt));
	/* newest first, then older ones within the window are still good */
	ASSERT_EQ(1, open_dg(&self->sb, self->now, dg[69], n[69], pt));
	for (int i = 68; i >= 69 - PEER_REPLAY_WINDOW + 1; i--) {
		ASSERT_EQ(1, open_dg(&self->sb, self->now, dg[i], n[i], pt)) TH_LOG("msg %d", i);
	}
	/* older than the window: refused even though never seen */
	ASSERT_EQ(-PEER_E_REPLAYED, open_dg(&self->sb, self->now, dg[0], n[0], pt));
	ASSERT_EQ(-PEER_E_REPLAYED, open_dg(&self->sb, self->now, dg[40], n[40], pt));
	/* a made-up receiver index: no such session */
	dg[69][4] ^= 1;
	ASSERT_EQ(-PEER_E_REPLAYED, open_dg(&self->sb, self->now, dg[69], n[69], pt));
}

/*
 * The bug of issue 11: a gateway without a real-time clock restarts "at the
 * same time". Here both runs of a start at the same now_ms and send the
 * same plaintext as their first message: the (key, nonce) pairs must
 * differ, else the two ciphertexts XOR to the XOR of the plaintexts.
 */
TEST_F(sess, restart_new_session_no_nonce_reuse)
{
	uint8_t d1[PEER_MTU], d2[PEER_MTU], d3[PEER_MTU], pt[PEER_MTU];
	uint8_t k1[32];
	uint64_t c1;
	int n1, n2, n3;

	ASSERT_EQ(0, shake(&self->sa, &self->la, &self->sb, &self->lb, self->now));
	c1 = self->sa.cur.tx_counter;
	memcpy(k1, self->sa.cur.tx, 32);
	n1 = seal(&self->sa, self->now, "meter 42 Wh", d1);
	ASSERT_EQ(11, open_dg(&self->sb, self->now, d1, n1, pt));
	/* a restarts: all state lost, same identity, same clock */
	ASSERT_EQ(0, peer_session_init(&self->sa, &self->la, self->b.pk));
	ASSERT_EQ(0, shake(&self->sa, &self->la, &self->sb, &self->lb, self->now));
	ASSERT_EQ(c1, self->sa.cur.tx_counter);	/* the nonce repeats ... */
	ASSERT_NE(0, memcmp(k1, self->sa.cur.tx, 32));	/* ... under another key */
	n2 = seal(&self->sa, self->now, "meter 42 Wh", d2);
	ASSERT_EQ(n1, n2);
	ASSERT_NE(0, memcmp(d1 + PEER_SEALED_HDR, d2 + PEER_SEALED_HDR, n1 - PEER_SEALED_HDR));
	ASSERT_EQ(11, open_dg(&self->sb, self->now, d2, n2, pt));
	/* what a's earlier run sent is not taken again */
	ASSERT_EQ(-PEER_E_REPLAYED, open_dg(&self->sb, self->now, d1, n1, pt));
	/* b restarts: what a sent to b's earlier run finds no session */
	n3 = seal(&self->sa, self->now, "late", d3);
	ASSERT_EQ(0, peer_session_init(&self->sb, &self->lb, self->a.pk));
	ASSERT_EQ(-PEER_E_REPLAYED, open_dg(&self->sb, self->now, d3, n3, pt));
	/* told (an announcement of another run), a renews at once */
	ASSERT_FALSE(peer_session_want_handshake(&self->sa, self->now + 1));
	peer_session_stale(&self->sa);
	ASSERT_TRUE(peer_session_want_handshake(&self->sa, self->now + 1));
	ASSERT_EQ(0, shake(&self->sa, &self->la, &self->sb, &self->lb, self->now + 1));
	ASSERT_FALSE(peer_session_want_handshake(&self->sa, self->now + 2));
	/* or b, restarted, initiates itself */
	ASSERT_EQ(0, peer_session_init(&self->sb, &self->lb, self->a.pk));
	ASSERT_EQ(0, shake(&self->sb, &self->lb, &self->sa, &self->la, self->now + 3));
	n3 = seal(&self->sa, self->now + 3, "again", d3);
	ASSERT_EQ(5, open_dg(&self->sb, self->now + 3, d3, n3, pt));
}

TEST_F(sess, tampered_handshake_refused)
{
	uint8_t init[PEER_MTU], resp[PEER_MTU], bad[PEER_MTU], out[PEER_MTU];
	int n, r;

	n = peer_session_initiate(&self->sa, &self->la, self->now, init, sizeof(init));
	/* every flipped byte of the initiation: refused, nothing kept */
	for (int i = 0; i < n; i++) {
		memcpy(bad, init, n);
		bad[i] ^= 0x01;
		r = respond_dg(&self->sb, &self->lb, self->now, bad, n, out);
		ASSERT_TRUE(r < 0) TH_LOG("byte %d: %d", i, r);
		ASSERT_FALSE(self->sb.next.valid);
		ASSERT_EQ(0, self->sb.nseen);
	}
	for (int l = 0; l < n; l++) {
		ASSERT_EQ(-PEER_E_TRUNCATED, respond_dg(&self->sb, &self->lb, self->now, init, l, out));
	}
	init[n] = 0;
	ASSERT_EQ(-PEER_E_MALFORMED, respond_dg(&self->sb, &self->lb, self->now, init, n + 1, out));
	r = respond_dg(&self->sb, &self->lb, self->now, init, n, resp);
	ASSERT_EQ(PEER_HS_RESP_BYTES, r);
	/* every flipped byte of the response: refused, ours stays in flight */
	for (int i = 0; i < r; i++) {
		memcpy(bad, resp, r);
		bad[i] ^= 0x01;
		ASSERT_TRUE(complete_dg(&self->sa, &self->la, self->now, bad, r) < 0)
			TH_LOG("byte %d", i);
		ASSERT_TRUE(self->sa.hs_pending);
		ASSERT_FALSE(self->sa.cur.valid);
	}
	for (int l = 0; l < r; l++) {
		ASSERT_EQ(-PEER_E_TRUNCATED, complete_dg(&self->sa, &self->la, self->now, resp, l));
	}
	ASSERT_EQ(0, complete_dg(&self->sa, &self->la, self->now, resp, r));
	/* every flipped byte of a transport message */
	n = seal(&self->sa, self->now, "pay 5", out);
	for (int i = 0; i < n; i++) {
		memcpy(bad, out, n);
		bad[i] ^= 0x80;
		r = open_dg(&self->sb, self->now, bad, n, init);
		ASSERT_TRUE(r == -PEER_E_FORGED || r == -PEER_E_REPLAYED ||
			    r == -PEER_E_MALFORMED) TH_LOG("byte %d: %d", i, r);
	}
	ASSERT_EQ(5, open_dg(&self->sb, self->now, out, n, init));
}

TEST_F(sess, strangers_and_other_communities_refused)
{
	struct kp c;
	struct peer_local lc, la2;
	struct peer_session sc, sa2, sb_c;
	uint8_t init[PEER_MTU], out[PEER_MTU], cid[32];
	int n;

	/* c, not a's key, initiates to b under its own name: b has no
	 * session with c (the daemon finds none: untrusted); through b's
	 * session with a, the sender does not match */
	kp_seed(&c, 5);
	community_of("street", cid);
	ASSERT_EQ(0, peer_local_init(&lc, c.pk, c.sk, cid));
	ASSERT_EQ(0, peer_session_init(&sc, &lc, self->b.pk));
	n = peer_session_initiate(&sc, &lc, self->now, init, sizeof(init));
	ASSERT_EQ(-PEER_E_UNTRUSTED, respond_dg(&self->sb, &self->lb, self->now, init, n, out));
	/* c claims to be a: without a's secret key, the tag does not verify */
	memcpy(init + 4, self->a.pk, 32);
	ASSERT_EQ(-PEER_E_FORGED, respond_dg(&self->sb, &self->lb, self->now, init, n, out));
	/* c's initiation for another gateway (b's key is not the receiver) */
	ASSERT_EQ(0, peer_session_init(&sb_c, &self->lb, c.pk));
	n = peer_session_initiate(&sc, &lc, self->now, init, sizeof(init));
	memcpy(init + 36, self->a.pk, 32);
	ASSERT_EQ(-PEER_E_FOREIGN, respond_dg(&sb_c, &self->lb, self->now, init, n, out));
	/* a of another community (the prologue differs): refused */
	community_of("other", cid);
	ASSERT_EQ(0, peer_local_init(&la2, self->a.pk, self->a.sk, cid));
	ASSERT_EQ(0, peer_session_init(&sa2, &la2, self->b.pk));
	n = peer_session_initiate(&sa2, &la2, self->now, init, sizeof(init));
	ASSERT_EQ(-PEER_E_FORGED, respond_dg(&self->sb, &self->lb, self->now, init, n, out));
	ASSERT_FALSE(self->sb.next.valid);
	/* a session with ourselves makes no sense */
	ASSERT_EQ(-EINVAL, peer_session_init(&sc, &lc, c.pk));
}

/* Under load an answer can take longer than the retry time */
TEST_F(sess, slow_answer_to_a_retry)
{
	uint8_t i1[PEER_MTU], i2[PEER_MTU], i3[PEER_MTU], r1[PEER_MTU], r2[PEER_MTU];
	uint8_t dg[PEER_MTU], pt[PEER_MTU];
	uint64_t t = self->now;
	int n, n1, n2;

	/* a's initiation, retried twice; b answers all three late */
	peer_session_initiate(&self->sa, &self->la, t, i1, sizeof(i1));
	peer_session_initiate(&self->sa, &self->la, t + 1000, i2, sizeof(i2));
	peer_session_initiate(&self->sa, &self->la, t + 3000, i3, sizeof(i3));
	n1 = respond_dg(&self->sb, &self->lb, t + 3000, i1, PEER_HS_INIT_BYTES, r1);
	n2 = respond_dg(&self->sb, &self->lb, t + 3000, i2, PEER_HS_INIT_BYTES, r2);
	/* the answer to two retries back is not taken, to the one before is */
	ASSERT_EQ(-PEER_E_REPLAYED, complete_dg(&self->sa, &self->la, t + 3000, r1, n1));
	ASSERT_EQ(0, complete_dg(&self->sa, &self->la, t + 3000, r2, n2));
	ASSERT_FALSE(self->sa.hs_pending);
	/* its round trip counts from the initiation it answers (i2's) */
	ASSERT_EQ(2000, self->sa.hs_rtt_ms);
	/* done: the third's answer finds nothing in flight */
	n = respond_dg(&self->sb, &self->lb, t + 3000, i3, PEER_HS_INIT_BYTES, r1);
	ASSERT_EQ(-PEER_E_REPLAYED, complete_dg(&self->sa, &self->la, t + 3000, r1, n));
	/* b answered i3 after i2: it still takes a's first message under
	 * the keys of i2 (@next_old), and uses them */
	n = seal(&self->sa, t + 3000, "i2", dg);
	ASSERT_EQ(2, open_dg(&self->sb, t + 3000, dg, n, pt));
	ASSERT_EQ(0, memcmp(self->sa.cur.tx, self->sb.cur.rx, 32));
	ASSERT_FALSE(self->sb.next.valid || self->sb.next_old.valid);
	n = seal(&self->sb, t + 3000, "b", dg);
	ASSERT_EQ(1, open_dg(&self->sa, t + 3000, dg, n, pt));
}

TEST_F(sess, rekey_retry_and_expiry)
{
	uint8_t old[PEER_MTU], dg[PEER_MTU], pt[PEER_MTU], k[32];
	uint64_t t = self->now;
	int on, n;

	ASSERT_EQ(0, shake(&self->sa, &self->la, &self->sb, &self->lb, t));
	memcpy(k, self->sa.cur.tx, 32);
	on = seal(&self->sa, t, "in flight", old);
	/* the initiator renews on time; the responder only later */
	ASSERT_FALSE(peer_session_want_handshake(&self->sa, t + PEER_REKEY_AFTER_MS - 1));
	ASSERT_TRUE(peer_session_want_handshake(&self->sa, t + PEER_REKEY_AFTER_MS));
	ASSERT_FALSE(peer_session_want_handshake(&self->sb, t + PEER_REKEY_AFTER_MS));
	ASSERT_TRUE(peer_session_want_handshake(&self->sb, t + PEER_REKEY_RESPONDER_MS));
	t += PEER_REKEY_AFTER_MS;
	/* unanswered initiations are redone after 250 ms, then doubling to
	 * 8 s, each wait plus up to a quarter at random */
	ASSERT_EQ(PEER_HS_INIT_BYTES, peer_session_initiate(&self->sa, &self->la, t, dg, sizeof(dg)));
	ASSERT_FALSE(peer_session_want_handshake(&self->sa, t + 249));
	ASSERT_TRUE(peer_session_want_handshake(&self->sa, t + 250 + 250 / 4));
	t += 250 + 250 / 4;
	ASSERT_EQ(PEER_HS_INIT_BYTES, peer_session_initiate(&self->sa, &self->la, t, dg, sizeof(dg)));
	ASSERT_FALSE(peer_session_want_handshake(&self->sa, t + 499));
	ASSERT_TRUE(peer_session_want_handshake(&self->sa, t + 500 + 500 / 4));
	/* the session in use goes on meanwhile */
	ASSERT_TRUE(peer_session_ready(&self->sa, t + 1000));
	t += 1000;
	ASSERT_EQ(0, shake(&self->sa, &self->la, &self->sb, &self->lb, t));
	ASSERT_NE(0, memcmp(k, self->sa.cur.tx, 32));
	/* a datagram of the earlier keys, still in flight, opens */
	ASSERT_EQ(9, open_dg(&self->sb, t, old, on, pt));
	/* keys are never used past PEER_REJECT_AFTER_MS */
	n = seal(&self->sa, t, "x", dg);
	ASSERT_EQ(-PEER_E_REPLAYED, open_dg(&self->sb, t + PEER_REJECT_AFTER_MS, dg, n, pt));
	ASSERT_FALSE(peer_session_ready(&self->sa, t + PEER_REJECT_AFTER_MS));
	ASSERT_EQ(-ENOTCONN, seal(&self->sa, t + PEER_REJECT_AFTER_MS, "x", dg));
	ASSERT_TRUE(peer_session_want_handshake(&self->sa, t + PEER_REJECT_AFTER_MS));
	/* trust withdrawn: every key gone, nothing opens */
	n = seal(&self->sa, t, "y", dg);
	peer_session_wipe(&self->sb);
	ASSERT_EQ(-ENOTCONN, open_dg(&self->sb, t, dg, n, pt));
	ASSERT_FALSE(peer_session_want_handshake(&self->sb, t));
}

TEST(handshake_ratelimit_per_address)
{
	struct peer_ratelimit rl;
	uint8_t a1[4] = { 10, 0, 0, 1 }, a2[4] = { 10, 0, 0, 2 };
	int ok = 0;

	peer_ratelimit_init(&rl);
	for (int i = 0; i < 100; i++)
		ok += peer_ratelimit_allow(&rl, a1, 4, 1000);
	ASSERT_EQ(PEER_RL_BURST, ok);
	/* another address is not held back */
	ASSERT_TRUE(peer_ratelimit_allow(&rl, a2, 4, 1000));
	/* tokens come back at PEER_RL_RATE a second */
	ASSERT_FALSE(peer_ratelimit_allow(&rl, a1, 4, 1000 + 1000 / PEER_RL_RATE - 1));
	ASSERT_TRUE(peer_ratelimit_allow(&rl, a1, 4, 1000 + 1000 / PEER_RL_RATE));
	ASSERT_FALSE(peer_ratelimit_allow(&rl, a1, 4, 1000 + 1000 / PEER_RL_RATE));
	ok = 0;
	for (int i = 0; i < 100; i++)
		ok += peer_ratelimit_allow(&rl, a1, 4, 60000);
	ASSERT_EQ(PEER_RL_BURST, ok);
}

/* ---- membership ---- */

TEST(community_invites_and_removal)
{
	struct kp a, b, c, x;
	struct peer_community ca, cb, cl;
	struct peer_record r, rm;
	char tok[PEER_TOKEN_SIZE], t2[PEER_TOKEN_SIZE], path[] = "/tmp/peer-test-XXXXXX";
	int fd;

	kp_seed(&a, 10);
	kp_seed(&b, 11);
	kp_seed(&c, 12);
	kp_seed(&x, 13);
	ASSERT_EQ(0, peer_community_found(&ca, "street", a.pk, a.sk, 1));
	ASSERT_TRUE(peer_community_is_member(&ca, a.pk));
	ASSERT_FALSE(peer_community_is_member(&ca, b.pk));
	/* a invites b; b joins with the token */
	ASSERT_EQ(0, peer_invite_make(&ca, a.pk, a.sk, b.pk, 2, tok, sizeof(tok)));
	ASSERT_EQ(0, strncmp(tok, "phlinv1-street.", 15));
	ASSERT_EQ(0, peer_invite_parse(tok, &r));
	ASSERT_EQ(0, memcmp(r.subject, b.pk, 32));
	ASSERT_EQ(1, peer_community_apply(&ca, &r, false));
	ASSERT_EQ(0, peer_community_apply(&ca, &r, false));
	ASSERT_EQ(0, peer_community_join(&cb, "street", &r));
	ASSERT_TRUE(peer_community_is_member(&cb, a.pk));	/* anchor */
	/* the anchor's own record is taken from it when it arrives */
	ASSERT_EQ(1, peer_community_apply(&cb, &ca.member[0], false));
	ASSERT_EQ(2, cb.nmembers);
	/* a token altered anywhere is refused */
	for (size_t i = 0; i < strlen(tok); i++) {
		strcpy(t2, tok);
		t2[i] = t2[i] == 'A' ? 'B' : 'A';
		ASSERT_NE(0, peer_invite_parse(t2, &r)) TH_LOG("char %zu", i);
	}
	/* a stranger cannot invite, nor self-admit without a member vouching */
	{
		struct peer_record s = { .kind = PEER_REC_INVITE, .time = 3 };

		memcpy(s.community, ca.id, 32);
		memcpy(s.subject, c.pk, 32);
		memcpy(s.signer, x.pk, 32);
		peer_record_sign(&s, x.sk);
		ASSERT_EQ(-PEER_E_UNTRUSTED, peer_community_apply(&ca, &s, false));
		memcpy(s.signer, c.pk, 32);
		peer_record_sign(&s, c.sk);
		ASSERT_EQ(-PEER_E_UNTRUSTED, peer_community_apply(&ca, &s, false));
		/* forged: signed by x, claims a */
		memcpy(s.signer, a.pk, 32);
		peer_record_sign(&s, x.sk);
		ASSERT_EQ(-PEER_E_FORGED, peer_community_apply(&ca, &s, false));
	}
	/* b (a member now) invites c, then a removes c for good */
	ASSERT_EQ(0, peer_invite_make(&ca, b.pk, b.sk, c.pk, 4, tok, sizeof(tok)));
	ASSERT_EQ(0, peer_invite_parse(tok, &r));
	ASSERT_EQ(1, peer_community_apply(&ca, &r, false));
	ASSERT_EQ(3, ca.nmembers);
	ASSERT_EQ(0, peer_remove_make(&ca, a.pk, a.sk, c.pk, 5, &rm));
	ASSERT_FALSE(peer_community_is_member(&ca, c.pk));
	ASSERT_EQ(-PEER_E_UNTRUSTED, peer_community_apply(&ca, &r, false));
	ASSERT_EQ(-EPERM, peer_invite_make(&ca, a.pk, a.sk, c.pk, 6, tok, sizeof(tok)));
	/* save and load give the same set */
	fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	close(fd);
	ASSERT_EQ(0, peer_community_save(&ca, path));
	ASSERT_EQ(0, peer_community_load(&cl, path));
	ASSERT_EQ(ca.nmembers, cl.nmembers);
	ASSERT_EQ(1, cl.nremoved);
	ASSERT_TRUE(peer_community_is_member(&cl, b.pk));
	ASSERT_FALSE(peer_community_is_member(&cl, c.pk));
	unlink(path);
}

/* ---- SWIM ---- */

/* a detector (key 1...) with two members heard at 0 (keys 2... and 3...) */
static void swim_three(struct peer_swim *s, uint8_t *self_k, uint8_t *b,
		       uint8_t *c)
{
	memset(self_k, 1, 32);
	memset(b, 2, 32);
	memset(c, 3, 32);
	peer_swim_init(s, self_k, 1000, 3000, 0);
	peer_swim_heard(s, b, 0);
	peer_swim_heard(s, c, 0);
}

TEST(swim_suspect_dead_and_refute)
{
	uint8_t self_k[32], b[32], c[32];
	struct peer_swim s;
	struct peer_swim_action act[8];
	struct peer_swim_member *m;
	int n;

	swim_three(&s, self_k, b, c);
	ASSERT_EQ(0, peer_swim_tick(&s, 500, act, 8));
	/* first period: ping one member, it answers */
	n = peer_swim_tick(&s, 1000, act, 8);
	ASSERT_EQ(1, n);
	ASSERT_EQ(PEER_SA_PING, act[0].kind);
	m = peer_swim_find(&s, act[0].to);
	peer_swim_ack(&s, act[0].seq, 1100);
	ASSERT_EQ(0, m->ping_seq);
	ASSERT_EQ(PEER_ALIVE, m->state);
	/* second period: the other one never answers */
	n = peer_swim_tick(&s, 2000, act, 8);
	ASSERT_EQ(1, n);
	m = peer_swim_find(&s, act[0].to);
	/* half a period later: the PING again, and a ping-req through the
	 * one live helper */
	n = peer_swim_tick(&s, 2500, act, 8);
	ASSERT_EQ(2, n);
	ASSERT_EQ(PEER_SA_PING, act[0].kind);
	ASSERT_EQ(0, memcmp(act[0].to, m->key, 32));
	ASSERT_EQ(PEER_SA_PING_REQ, act[1].kind);
	ASSERT_EQ(0, memcmp(act[1].target, m->key, 32));
	ASSERT_NE(0, memcmp(act[1].to, m->key, 32));
	/* a full period without ack: suspect; suspect_ms later: dead */
	peer_swim_tick(&s, 3000, act, 8);
	ASSERT_EQ(PEER_SUSPECT, m->state);
	peer_swim_tick(&s, 5999, act, 8);
	ASSERT_EQ(PEER_SUSPECT, m->state);
	peer_swim_tick(&s, 6000, act, 8);
	ASSERT_EQ(PEER_DEAD, m->state);
	/* precedence: higher incarnation wins, equal needs a worse state */
	ASSERT_TRUE(peer_swim_update(&s, m->key, PEER_ALIVE, 1, 6100));
	ASSERT_EQ(PEER_ALIVE, m->state);
	ASSERT_FALSE(peer_swim_update(&s, m->key, PEER_ALIVE, 0, 6100));
	ASSERT_TRUE(peer_swim_update(&s, m->key, PEER_SUSPECT, 1, 6100));
	ASSERT_FALSE(peer_swim_update(&s, m->key, PEER_ALIVE, 1, 6100));
	/* suspicion of ourselves is refuted with a higher incarnation */
	ASSERT_TRUE(peer_swim_update(&s, self_k, PEER_SUSPECT, 0, 6200));
	ASSERT_EQ(1, s.inc);
	ASSERT_FALSE(peer_swim_update(&s, self_k, PEER_SUSPECT, 0, 6200));
	/* out-of-range state from the wire is ignored */
	ASSERT_FALSE(peer_swim_update(&s, b, 7, 100, 6300));
}

/*
 * Issue 11, scale: a member we hold no session with yet (a handshake lost
 * at 10% loss) was pinged anyway: the ping was never sent, and a period
 * later the member was suspect, so a restarted street of 50 never saw
 * everyone alive. Now it is probed through helpers we can reach, and one
 * nobody can carry a probe to is not suspected while heard lately.
 */
static bool no_session_with_b(void *ctx, const uint8_t key[32])
{
	return key[0] != 2;
}

/*
 * Lifeguard's local health: ACKs that come only after the PING_REQ stage
 * (a host too slow to answer in half a period) stretch our probe period
 * and timeouts, so that answers merely queued cost no PING_REQs and no
 * suspicion; ACKs in time bring them back.
 */
TEST(swim_late_acks_slow_the_probes)
{
	uint8_t self_k[32], b[32], c[32];
	struct peer_swim s;
	struct peer_swim_action act[8];
	struct peer_swim_member *m;

	swim_three(&s, self_k, b, c);
	ASSERT_EQ(1, peer_swim_tick(&s, 1000, act, 8));
	ASSERT_EQ(2, peer_swim_tick(&s, 1500, act, 8));	/* PING again, PING_REQ */
	peer_swim_ack(&s, act[0].seq, 1600);		/* late, but it came */
	ASSERT_EQ(1, s.lhm);
	/* the next probe's PING_REQ stage comes after a period, not half */
	ASSERT_EQ(1, peer_swim_tick(&s, 2000, act, 8));
	m = peer_swim_find(&s, act[0].to);
	ASSERT_EQ(0, peer_swim_tick(&s, 2500, act, 8));
	ASSERT_EQ(0, peer_swim_tick(&s, 2999, act, 8));
	ASSERT_EQ(2, peer_swim_tick(&s, 3000, act, 8));
	/* and suspicion after two periods */
	peer_swim_tick(&s, 3999, act, 8);
	ASSERT_EQ(PEER_ALIVE, m->state);
	peer_swim_ack(&s, act[0].seq, 3100);
	ASSERT_EQ(2, s.lhm);
	/* the period itself stretched: the next probe at 2000 + 2 x 1000 */
	ASSERT_EQ(0, peer_swim_tick(&s, 3999, act, 8));
	ASSERT_EQ(1, peer_swim_tick(&s, 4000, act, 8));
	peer_swim_ack(&s, act[0].seq, 4100);		/* in time: better */
	ASSERT_EQ(1, s.lhm);
	ASSERT_EQ(0, peer_swim_tick(&s, 6999, act, 8));	/* 4000 + 3 x 1000 */
	ASSERT_EQ(1, peer_swim_tick(&s, 7000, act, 8));
	peer_swim_ack(&s, act[0].seq, 7050);
	ASSERT_EQ(0, s.lhm);
	/* refuting our own suspicion counts too, up to the bound */
	for (uint64_t i = 0; i < 10; i++)
		ASSERT_TRUE(peer_swim_update(&s, self_k, PEER_SUSPECT, s.inc, 8000));
	ASSERT_EQ(PEER_SWIM_LHM_MAX, s.lhm);
}

TEST(swim_no_session_probed_through_helpers)
{
	uint8_t self_k[32], b[32], c[32];
	struct peer_swim s;
	struct peer_swim_action act[8];
	struct peer_swim_member *mb;
	int n;

	memset(self_k, 1, 32);
	memset(b, 2, 32);
	memset(c, 3, 32);
	peer_swim_init(&s, self_k, 1000, 3000, 0);
	s.direct = no_session_with_b;
	mb = peer_swim_heard(&s, b, 0);
	/* alone with b: nobody carries a probe; b stays alive while heard */
	for (uint64_t t = 1000; t <= 2500; t += 100)
		peer_swim_tick(&s, t, act, 8);
	ASSERT_EQ(PEER_ALIVE, mb->state);
	peer_swim_heard(&s, c, 2500);
	peer_swim_heard(&s, b, 2500);
	/* b's turn: at once a PING_REQ to c, no PING to b */
	for (uint64_t t = 2600; t <= 6000; t += 100) {
		n = peer_swim_tick(&s, t, act, 8);
		for (int i = 0; i < n; i++) {
			ASSERT_NE(0, memcmp(act[i].to, b, 32));
			if (act[i].kind == PEER_SA_PING_REQ) {
				ASSERT_EQ(0, memcmp(act[i].to, c, 32));
				ASSERT_EQ(0, memcmp(act[i].target, b, 32));
				/* c relays b's ACK */
				peer_swim_ack(&s, act[i].seq, t + 50);
			} else if (!memcmp(act[i].to, c, 32)) {
				peer_swim_ack(&s, act[i].seq, t + 50);
			}
		}
		ASSERT_EQ(PEER_ALIVE, mb->state);
	}
	/* without c, a b not heard for 3 periods is probed and suspected */
	s.direct = NULL;
	peer_swim_forget(&s, c);
	s.direct = no_session_with_b;
	for (uint64_t t = 6100; t <= 12000; t += 100)
		peer_swim_tick(&s, t, act, 8);
	ASSERT_NE(PEER_ALIVE, mb->state);
}

/*
 * Issue 11, item 10: a hostile member gossips "dead at incarnation
 * UINT64_MAX". The victim's refutation used to wrap its incarnation to 0,
 * after which every member kept it dead for good.
 */
TEST(swim_incarnation_cannot_be_pinned_at_the_top)
{
	uint8_t self_k[32], v[32];
	struct peer_swim s, o;
	struct peer_swim_member *m;

	memset(self_k, 1, 32);
	memset(v, 2, 32);
	/* the victim's own detector */
	peer_swim_init(&s, self_k, 1000, 3000, 0);
	s.inc = 3;
	peer_swim_update(&s, self_k, PEER_DEAD, UINT64_MAX, 100);
	ASSERT_EQ(3, s.inc);
	peer_swim_update(&s, self_k, PEER_DEAD, UINT64_MAX - 1, 100);
	ASSERT_EQ(3, s.inc);
	/* a real suspicion at its incarnation is still refuted */
	ASSERT_TRUE(peer_swim_update(&s, self_k, PEER_SUSPECT, 3, 100));
	ASSERT_EQ(4, s.inc);
	/* another member's view of the victim: the forged top incarnation
	 * is ignored, so the victim's refutation (inc 4) makes it alive */
	peer_swim_init(&o, v, 1000, 3000, 0);
	peer_swim_heard(&o, self_k, 0);
	m = peer_swim_find(&o, self_k);
	ASSERT_FALSE(peer_swim_update(&o, self_k, PEER_DEAD, UINT64_MAX, 200));
	ASSERT_EQ(PEER_ALIVE, m->state);
	ASSERT_TRUE(peer_swim_update(&o, self_k, PEER_SUSPECT, 3, 200));
	ASSERT_TRUE(peer_swim_update(&o, self_k, PEER_ALIVE, 4, 300));
	ASSERT_EQ(PEER_ALIVE, m->state);
	ASSERT_EQ(4, m->inc);
	/* jumps up to the bound are honest history and are followed */
	ASSERT_TRUE(peer_swim_update(&o, self_k, PEER_ALIVE, 4 + PEER_SWIM_INC_JUMP, 400));
}

/* suspicion lasts longer in a larger group: 3 s x floor(log2(n + 1)) */
TEST(swim_suspicion_scales_with_group)
{
	uint8_t self_k[32], k[32];
	struct peer_swim s;
	struct peer_swim_action act[8];
	struct peer_swim_member *m;

	memset(self_k, 1, 32);
	peer_swim_init(&s, self_k, 1000, 3000, 0);
	for (int i = 0; i < 19; i++) {
		memset(k, 10 + i, 32);
		peer_swim_heard(&s, k, 0);
	}
	ASSERT_EQ(19, s.n);
	m = peer_swim_find(&s, k);
	ASSERT_TRUE(peer_swim_update(&s, k, PEER_SUSPECT, 0, 100));
	ASSERT_EQ(PEER_SUSPECT, m->state);
	/* keep the others answering: only the suspicion timer matters */
	for (uint64_t t = 100; t < 100 + 12000; t += 500) {
		peer_swim_tick(&s, t, act, 8);
		for (int i = 0; i < s.n; i++)
			if (s.m[i].ping_seq)
				peer_swim_ack(&s, s.m[i].ping_seq, t);
		ASSERT_NE(PEER_DEAD, m->state) TH_LOG("dead at %llu ms",
						      (unsigned long long)t);
	}
	peer_swim_tick(&s, 100 + 12000, act, 8);
	ASSERT_EQ(PEER_DEAD, m->state);
}

/* ---- gossip ---- */

static bool not_c(void *ctx, const uint8_t key[32])
{
	return memcmp(key, ctx, 32);
}

TEST(gossip_newest_signed_and_net)
{
	struct kp a, b, c;
	struct peer_gossip g = { .max_age_ms = 10000 };
	struct peer_measure m = { 0 };
	int counted;

	kp_seed(&a, 20);
	kp_seed(&b, 21);
	kp_seed(&c, 22);
	memcpy(m.key, a.pk, 32);
	m.time_ms = 100000;
	m.net_w = 1200;
	peer_measure_sign(&m, a.sk);
	ASSERT_EQ(2, peer_gossip_take(&g, &m));		/* first of a: news */
	ASSERT_EQ(0, peer_gossip_take(&g, &m));		/* not newer */
	m.time_ms = 101000;
	m.net_w = 5000;					/* not re-signed */
	ASSERT_EQ(-PEER_E_FORGED, peer_gossip_take(&g, &m));
	ASSERT_EQ(1200, peer_gossip_get(&g, a.pk)->net_w);
	memcpy(m.key, b.pk, 32);
	m.net_w = -3000;
	peer_measure_sign(&m, b.sk);
	ASSERT_EQ(2, peer_gossip_take(&g, &m));
	memcpy(m.key, c.pk, 32);
	m.net_w = 700;
	peer_measure_sign(&m, c.sk);
	ASSERT_EQ(2, peer_gossip_take(&g, &m));
	ASSERT_EQ(-1100, peer_gossip_net(&g, 105000, NULL, NULL, &counted));
	ASSERT_EQ(3, counted);
	/* c not live: not counted */
	ASSERT_EQ(-1800, peer_gossip_net(&g, 105000, not_c, c.pk, &counted));
	ASSERT_EQ(2, counted);
	/* a's measurement (t=100 s) is too old at 110.5 s */
	ASSERT_EQ(-2300, peer_gossip_net(&g, 110500, NULL, NULL, &counted));
	ASSERT_EQ(2, counted);
}

/*
 * Issue 11, item 11: a measurement signed a year ahead displaced the
 * honest one (the newest wins) and still counted a day later.
 */
TEST(gossip_refuses_the_future)
{
	struct kp a;
	struct peer_gossip g = { .max_age_ms = 120000 };
	struct peer_measure m = { 0 }, f;
	struct timespec ts;
	uint64_t now;
	int counted;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	kp_seed(&a, 24);
	memcpy(m.key, a.pk, 32);
	m.time_ms = now;
	m.net_w = 800;
	peer_measure_sign(&m, a.sk);
	ASSERT_EQ(2, peer_gossip_take(&g, &m));
	f = m;
	f.time_ms = now + 365ull * 86400 * 1000;
	f.net_w = -90000;
	peer_measure_sign(&f, a.sk);
	/* through the daemon's entry point (our real clock) */
	ASSERT_GT(0, peer_gossip_take(&g, &f));
	ASSERT_EQ(800, peer_gossip_get(&g, a.pk)->net_w);
	/* the honest author's next one is still taken */
	m.time_ms = now + 1000;
	m.net_w = 900;
	peer_measure_sign(&m, a.sk);
	ASSERT_EQ(2, peer_gossip_take(&g, &m));		/* +100 W: news */
	/* a clock a little ahead of ours is fine */
	m.time_ms = now + 30000;
	peer_measure_sign(&m, a.sk);
	ASSERT_EQ(1, peer_gossip_take(&g, &m));
	/* held while our clock was ahead, it does not count once it steps
	 * back (a day later, by the sum's clock, it would not either) */
	ASSERT_EQ(0, peer_gossip_net(&g, now - 3600 * 1000, NULL, NULL, &counted));
	ASSERT_EQ(0, counted);
	ASSERT_EQ(900, peer_gossip_net(&g, now + 30000, NULL, NULL, &counted));
	ASSERT_EQ(1, counted);
}

TEST(gossip_news_is_a_change_beyond_the_deadband)
{
	struct kp a;
	struct peer_gossip g = { 0 };
	struct peer_measure m = { 0 }, b;

	kp_seed(&a, 23);
	memcpy(m.key, a.pk, 32);
	m.time_ms = 1000;
	m.net_w = 4000;
	b = m;
	/* 2 % of 4000 W is 80 W: 80 is not news, 81 is; below 2.5 kW, 50 W */
	m.net_w = 4080;
	ASSERT_FALSE(peer_measure_news(&b, &m));
	m.net_w = 3919;
	ASSERT_TRUE(peer_measure_news(&b, &m));
	b.net_w = -100;
	m.net_w = -150;
	ASSERT_FALSE(peer_measure_news(&b, &m));
	m.net_w = -151;
	ASSERT_TRUE(peer_measure_news(&b, &m));
	m = b;
	m.head_seq = 1;				/* the chain moved */
	ASSERT_TRUE(peer_measure_news(&b, &m));
	m = b;
	m.head_hash[5] = 1;
	ASSERT_TRUE(peer_measure_news(&b, &m));
	/* through take: a refresh of the same value is kept but not news */
	m = b;
	peer_measure_sign(&m, a.sk);
	ASSERT_EQ(2, peer_gossip_take(&g, &m));
	m.time_ms += 30000;
	m.net_w += 10;
	peer_measure_sign(&m, a.sk);
	ASSERT_EQ(1, peer_gossip_take(&g, &m));
	m.time_ms += 100;
	m.net_w += 2000;
	peer_measure_sign(&m, a.sk);
	ASSERT_EQ(2, peer_gossip_take(&g, &m));
}

/* Two holders exchange digests: each learns exactly what it lacks. */
TEST(gossip_digest_push_pull)
{
	struct kp k[5];
	struct peer_gossip x = { 0 }, y = { 0 };
	uint8_t ent[PEER_MAX_MEMBERS * PEER_DIGEST_ENTRY], pt[PEER_MTU];
	const struct peer_measure *give[PEER_MAX_RECS];
	struct peer_digest d = { 0 };
	struct peer_builder bld;
	struct peer_inner in;
	struct peer_rec_any r = { .type = PEER_R_DIGEST };
	int n;

	for (int i = 0; i < 5; i++) {
		struct peer_measure m = { .time_ms = 5000, .net_w = 100 * i };

		kp_seed(&k[i], (uint8_t)(30 + i));
		memcpy(m.key, k[i].pk, 32);
		peer_measure_sign(&m, k[i].sk);
		/* x: 0..3, y: 1..4, and y holds a newer 2 */
		if (i < 4)
			ASSERT_EQ(2, peer_gossip_take(&x, &m));
		if (i == 2) {
			m.time_ms = 6000;
			peer_measure_sign(&m, k[i].sk);
		}
		if (i > 0)
			ASSERT_EQ(2, peer_gossip_take(&y, &m));
	}
	/* x's digest through the wire format, as y would receive it */
	r.digest.n = (uint8_t)peer_gossip_digest(&x, ent, PEER_MAX_MEMBERS);
	r.digest.ent = ent;
	r.digest.comm[0] = 7;
	ASSERT_EQ(4, r.digest.n);
	peer_builder_init(&bld, pt, sizeof(pt));
	ASSERT_EQ(0, peer_builder_add(&bld, &r));
	ASSERT_EQ(3 + PEER_DIGEST_FIXED + 4 * PEER_DIGEST_ENTRY, (int)bld.len);
	ASSERT_EQ(0, peer_wire_decode_inner(pt, bld.len, &in));
	ASSERT_EQ(PEER_R_DIGEST, in.rec[0].type);
	d = in.rec[0].digest;
	ASSERT_EQ(7, d.comm[0]);
	/* y gives 4 (unknown to x) first, then its newer 2; and x holds 0,
	 * which y lacks: y must answer with its own digest */
	ASSERT_TRUE(peer_gossip_diff(&y, &d, give, PEER_MAX_RECS, &n));
	ASSERT_EQ(2, n);
	ASSERT_EQ(0, memcmp(give[0]->key, k[4].pk, 32));
	ASSERT_EQ(0, memcmp(give[1]->key, k[2].pk, 32));
	ASSERT_EQ(6000, (int)give[1]->time_ms);
	for (int i = 0; i < n; i++)
		ASSERT_LE(1, peer_gossip_take(&x, give[i]));
	/* y's digest at x: x gives 0 and is behind in nothing */
	r.digest.n = (uint8_t)peer_gossip_digest(&y, ent, PEER_MAX_MEMBERS);
	ASSERT_FALSE(peer_gossip_diff(&x, &r.digest, give, PEER_MAX_RECS, &n));
	ASSERT_EQ(1, n);
	ASSERT_EQ(0, memcmp(give[0]->key, k[0].pk, 32));
	ASSERT_EQ(2, peer_gossip_take(&y, give[0]));
	/* now equal: nothing either way */
	r.digest.n = (uint8_t)peer_gossip_digest(&x, ent, PEER_MAX_MEMBERS);
	ASSERT_FALSE(peer_gossip_diff(&y, &r.digest, give, PEER_MAX_RECS, &n));
	ASSERT_EQ(0, n);
	/* bad digests: entries not whole, flags reserved, too many */
	pt[1] = (uint8_t)(PEER_DIGEST_FIXED + 5);
	pt[2] = 0;
	ASSERT_EQ(-PEER_E_MALFORMED, peer_wire_decode_inner(pt, 3 + PEER_DIGEST_FIXED + 5, &in));
	pt[1] = (uint8_t)PEER_DIGEST_FIXED;
	pt[3] = 0x80;
	ASSERT_EQ(-PEER_E_MALFORMED, peer_wire_decode_inner(pt, 3 + PEER_DIGEST_FIXED, &in));
	pt[3] = 0;
	ASSERT_EQ(-PEER_E_TRUNCATED, peer_wire_decode_inner(pt, 3 + 4, &in));
	r.digest.n = PEER_MAX_MEMBERS + 1;
	peer_builder_init(&bld, pt, sizeof(pt));
	ASSERT_EQ(-EINVAL, peer_builder_add(&bld, &r));
}

static void rec_make(struct peer_record *r, const struct peer_community *c, int kind,
		     const struct kp *signer, const uint8_t *subject, uint64_t t)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->time = t;
	memcpy(r->community, c->id, 32);
	memcpy(r->subject, subject, 32);
	memcpy(r->signer, signer->pk, 32);
	peer_record_sign(r, signer->sk);
}

static int save_load(struct peer_community *c, struct peer_community *out)
{
	char path[] = "/tmp/peer-test-XXXXXX";
	int fd = mkstemp(path), ret;

	if (fd < 0)
		return -errno;
	close(fd);
	ret = peer_community_save(c, path);
	if (!ret)
		ret = peer_community_load(out, path);
	unlink(path);
	return ret;
}

/*
 * Issue 11, item 5: removing a member who had invited others (or the
 * founder) left a state file whose reload checked each signer was still a
 * member: every daemon then refused to start.
 */
TEST(community_removing_an_inviter_reloads)
{
	struct kp a, b, c, d;
	struct peer_community ca, cl;
	struct peer_record r, rm;

	kp_seed(&a, 50);
	kp_seed(&b, 51);
	kp_seed(&c, 52);
	kp_seed(&d, 53);
	ASSERT_EQ(0, peer_community_found(&ca, "street", a.pk, a.sk, 100));
	rec_make(&r, &ca, PEER_REC_INVITE, &a, b.pk, 101);
	ASSERT_EQ(1, peer_community_apply(&ca, &r, false));
	rec_make(&r, &ca, PEER_REC_INVITE, &b, c.pk, 102);	/* b invites c */
	ASSERT_EQ(1, peer_community_apply(&ca, &r, false));
	rec_make(&r, &ca, PEER_REC_INVITE, &c, d.pk, 103);	/* c invites d */
	ASSERT_EQ(1, peer_community_apply(&ca, &r, false));
	ASSERT_EQ(4, ca.nmembers);
	/* the founder removes b: c and d, admitted down b's chain, stay */
	ASSERT_EQ(0, peer_remove_make(&ca, a.pk, a.sk, b.pk, 200, &rm));
	ASSERT_FALSE(peer_community_is_member(&ca, b.pk));
	ASSERT_TRUE(peer_community_is_member(&ca, c.pk));
	ASSERT_TRUE(peer_community_is_member(&ca, d.pk));
	/* and the state file loads again, to the same community */
	ASSERT_EQ(0, save_load(&ca, &cl));
	ASSERT_EQ(3, cl.nmembers);
	ASSERT_TRUE(peer_community_is_member(&cl, c.pk));
	ASSERT_TRUE(peer_community_is_member(&cl, d.pk));
	ASSERT_FALSE(peer_community_is_member(&cl, b.pk));
	/* b's key, removed, admits nobody any more, even backdated */
	{
		struct kp x;

		kp_seed(&x, 54);
		rec_make(&r, &ca, PEER_REC_INVITE, &b, x.pk, 150);
		ASSERT_EQ(-PEER_E_UNTRUSTED, peer_community_apply(&ca, &r, false));
		ASSERT_FALSE(peer_community_is_member(&ca, x.pk));
	}
	/* the founder is not removed by anyone (c tries; c's record of it
	 * is refused too), and the file still loads */
	ASSERT_EQ(-EPERM, peer_remove_make(&ca, c.pk, c.sk, a.pk, 300, &rm));
	rec_make(&r, &ca, PEER_REC_REMOVE, &c, a.pk, 300);
	ASSERT_EQ(-PEER_E_UNTRUSTED, peer_community_apply(&ca, &r, false));
	ASSERT_TRUE(peer_community_is_member(&ca, a.pk));
	ASSERT_EQ(0, save_load(&ca, &cl));
	ASSERT_TRUE(peer_community_is_member(&cl, a.pk));
}

/*
 * Issue 11, item 6: membership depended on the order records came in (two
 * members removing each other left members with different communities
 * and digests that never agreed), and any one member could remove all
 * the others. Now it is a function of the set, and only the owner removes.
 */
TEST(community_membership_is_a_function_of_the_records)
{
	struct kp a, b, c, d;
	struct peer_community base, c1, c2, cl;
	struct peer_record inv[3], rbc, rcb, rall[3], ra;
	uint8_t d1[8], d2[8];

	kp_seed(&a, 60);
	kp_seed(&b, 61);
	kp_seed(&c, 62);
	kp_seed(&d, 63);
	ASSERT_EQ(0, peer_community_found(&base, "street", a.pk, a.sk, 100));
	rec_make(&inv[0], &base, PEER_REC_INVITE, &a, b.pk, 101);
	rec_make(&inv[1], &base, PEER_REC_INVITE, &a, c.pk, 102);
	rec_make(&inv[2], &base, PEER_REC_INVITE, &b, d.pk, 103);
	rec_make(&rbc, &base, PEER_REC_REMOVE, &b, c.pk, 200);	/* b removes c */
	rec_make(&rcb, &base, PEER_REC_REMOVE, &c, b.pk, 200);	/* c removes b */
	/* one order, then the reverse */
	c1 = base;
	c2 = base;
	for (int i = 0; i < 3; i++)
		peer_community_apply(&c1, &inv[i], false);
	peer_community_apply(&c1, &rbc, false);
	peer_community_apply(&c1, &rcb, false);
	peer_community_apply(&c2, &rcb, false);
	peer_community_apply(&c2, &rbc, false);
	for (int i = 2; i >= 0; i--)
		peer_community_apply(&c2, &inv[i], false);
	/* d's invite came before its signer's: taken once b's arrives */
	peer_community_apply(&c2, &inv[2], false);
	peer_community_digest(&c1, d1);
	peer_community_digest(&c2, d2);
	ASSERT_EQ(0, memcmp(d1, d2, 8));
	ASSERT_EQ(c1.nmembers, c2.nmembers);
	ASSERT_EQ(4, c1.nmembers);
	/* neither member's word removed the other */
	ASSERT_TRUE(peer_community_is_member(&c1, b.pk));
	ASSERT_TRUE(peer_community_is_member(&c1, c.pk));
	ASSERT_TRUE(peer_community_is_member(&c2, b.pk));
	ASSERT_TRUE(peer_community_is_member(&c2, c.pk));
	/* one member signing removals of everyone else removes nobody */
	rec_make(&rall[0], &base, PEER_REC_REMOVE, &d, a.pk, 300);
	rec_make(&rall[1], &base, PEER_REC_REMOVE, &d, b.pk, 300);
	rec_make(&rall[2], &base, PEER_REC_REMOVE, &d, c.pk, 300);
	for (int i = 0; i < 3; i++)
		peer_community_apply(&c1, &rall[i], false);
	ASSERT_EQ(4, c1.nmembers);
	ASSERT_EQ(0, c1.nremoved);
	/* the owner's removal counts, whatever came before it */
	rec_make(&ra, &base, PEER_REC_REMOVE, &a, c.pk, 400);
	ASSERT_EQ(1, peer_community_apply(&c1, &ra, false));
	ASSERT_EQ(1, peer_community_apply(&c2, &ra, false));
	peer_community_digest(&c1, d1);
	peer_community_digest(&c2, d2);
	ASSERT_EQ(0, memcmp(d1, d2, 8));
	ASSERT_FALSE(peer_community_is_member(&c1, c.pk));
	/* and a reload gives the same digest */
	ASSERT_EQ(0, save_load(&c2, &cl));
	peer_community_digest(&cl, d2);
	ASSERT_EQ(0, memcmp(d1, d2, 8));
	/* a self-signed "founder" of another key, relayed by a member that is
	 * not our anchor, admits nobody: the owner is pinned */
	{
		struct kp x;
		struct peer_record s;

		kp_seed(&x, 64);
		rec_make(&s, &base, PEER_REC_INVITE, &x, x.pk, 1);
		ASSERT_EQ(-PEER_E_UNTRUSTED, peer_community_apply(&c1, &s, true));
		ASSERT_FALSE(peer_community_is_member(&c1, x.pk));
	}
}

TEST(community_digest_ignores_order)
{
	struct kp f, a, b;
	struct peer_community c1, c2;
	struct peer_record ra, rb;
	char tok[PEER_TOKEN_SIZE];
	uint8_t d1[8], d2[8];

	kp_seed(&f, 40);
	kp_seed(&a, 41);
	kp_seed(&b, 42);
	ASSERT_EQ(0, peer_community_found(&c1, "street", f.pk, f.sk, 1000));
	c2 = c1;
	ASSERT_EQ(0, peer_invite_make(&c1, f.pk, f.sk, a.pk, 1001, tok, sizeof(tok)));
	ASSERT_EQ(0, peer_invite_parse(tok, &ra));
	ASSERT_EQ(0, peer_invite_make(&c1, f.pk, f.sk, b.pk, 1002, tok, sizeof(tok)));
	ASSERT_EQ(0, peer_invite_parse(tok, &rb));
	peer_community_digest(&c1, d1);
	peer_community_digest(&c2, d2);
	ASSERT_EQ(0, memcmp(d1, d2, 8));
	ASSERT_EQ(1, peer_community_apply(&c1, &ra, false));
	ASSERT_EQ(1, peer_community_apply(&c1, &rb, false));
	peer_community_digest(&c1, d1);
	ASSERT_NE(0, memcmp(d1, d2, 8));
	ASSERT_EQ(1, peer_community_apply(&c2, &rb, false));
	ASSERT_EQ(1, peer_community_apply(&c2, &ra, false));
	peer_community_digest(&c2, d2);
	ASSERT_EQ(0, memcmp(d1, d2, 8));
}

/*
 * Issue 11, item 8: past 64 forks, the others were sent to every member
 * again at every scan (2 s) for ever. Fork evidence is spread once per
 * author, and nothing is spread again, however many forks there are.
 */
TEST(fork_evidence_spread_once)
{
	static struct peer_fork_log l;
	uint8_t k[32];
	int spread = 0;

	for (int scan = 0; scan < 5; scan++)		/* the daemon rescans */
		for (int a = 0; a < 200; a++)		/* 200 forking authors */
			for (int seq = 0; seq < 3; seq++) {	/* 3 forks each */
				memset(k, 0, 32);
				k[0] = (uint8_t)a;
				k[1] = (uint8_t)(a >> 8);
				spread += peer_fork_log_add(&l, k);
			}
	ASSERT_EQ(PEER_MAX_MEMBERS, spread);
	ASSERT_TRUE(l.full);
}

/* ---- anti-entropy ---- */

static void append_meters(struct ledger *l, const struct ledger_identity *id,
			  int n, uint64_t wh, struct __test_metadata *_metadata)
{
	for (int i = 1; i <= n; i++) {
		struct ledger_entry e = { .type = LEDGER_T_METER };

		e.body.meter.interval_start = 1700000000 + 900 * (uint64_t)i;
		e.body.meter.interval_len = 900;
		e.body.meter.wh_import = wh * (uint64_t)i;
		ASSERT_EQ(0, ledger_append(l, id->pk, id, &e, NULL));
	}
}

TEST(sync_pull_a_chain_and_find_a_fork)
{
	uint8_t seed[32];
	struct ledger_identity *id;
	struct ledger *a, *b, *f, *c;
	uint8_t one[LEDGER_ENTRY_MAX];
	size_t ol = sizeof(one);
	struct peer_measure m = { .time_ms = 1 };
	struct peer_rec_any req;
	struct ledger_head h;
	uint8_t pt[PEER_MTU], raw[LEDGER_ENTRY_MAX];
	size_t rl = sizeof(raw);
	struct peer_builder bl;
	struct peer_inner in;

	memset(seed, 30, sizeof(seed));
	id = ledger_identity_from_seed(seed);
	ASSERT_NE(NULL, id);
	ASSERT_EQ(0, ledger_open(":memory:", LEDGER_O_CREATE, &a));
	ASSERT_EQ(0, ledger_open(":memory:", LEDGER_O_CREATE, &b));
	ASSERT_EQ(0, ledger_open(":memory:", LEDGER_O_CREATE, &f));
	append_meters(a, id, 3, 100, _metadata);
	ASSERT_EQ(0, ledger_get_head(a, id->pk, &h));
	memcpy(m.key, id->pk, 32);
	m.head_seq = h.seq;

	/* b is behind: it asks for 1..3 */
	ASSERT_EQ(1, peer_sync_need(b, &m, &req));
	ASSERT_EQ(1, req.sync_req.from);
	ASSERT_EQ(3, req.sync_req.count);
	ASSERT_EQ(0, peer_sync_need(a, &m, &req));	/* a is not */
	/* a serves them, through the wire */
	peer_builder_init(&bl, pt, sizeof(pt));
	req.type = PEER_R_SYNC_REQ;
	req.sync_req.from = 1;
	req.sync_req.count = 3;
	ASSERT_EQ(3, peer_sync_serve(a, &req, &bl));
	ASSERT_EQ(0, peer_wire_decode_inner(pt, bl.len, &in));
	ASSERT_EQ(3, in.nrecs);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(PEER_R_ENTRY, in.rec[i].type);
		ASSERT_EQ(1, peer_sync_take(b, in.rec[i].entry.buf, in.rec[i].entry.len));
		/* the same again changes nothing */
		ASSERT_EQ(0, peer_sync_take(b, in.rec[i].entry.buf, in.rec[i].entry.len));
	}
	ASSERT_EQ(0, ledger_get_head(b, id->pk, &h));
	ASSERT_EQ(3, h.seq);
	ASSERT_EQ(0, peer_sync_need(b, &m, &req));

	/* an altered entry is refused by the ledger, stored nowhere */
	ASSERT_EQ(0, ledger_get_entry(a, id->pk, 2, raw, &rl));
	raw[rl - 1] ^= 1;
	ASSERT_EQ(0, ledger_open(":memory:", LEDGER_O_CREATE, &c));
	ASSERT_EQ(0, ledger_get_entry(b, id->pk, 1, one, &ol));
	ASSERT_EQ(1, peer_sync_take(c, one, ol));
	ASSERT_EQ(LEDGER_E_SIGNATURE, peer_sync_take(c, raw, rl));
	ASSERT_EQ(0, ledger_get_head(c, id->pk, &h));
	ASSERT_EQ(1, h.seq);
	ledger_close(c);
	/* a truncated one never reaches the ledger's rules */
	ASSERT_EQ(LEDGER_E_TRUNCATED, peer_sync_take(b, raw, 10));

	/* the same key signs another seq 1: b finds the fork */
	append_meters(f, id, 1, 7, _metadata);
	rl = sizeof(raw);
	ASSERT_EQ(0, ledger_get_entry(f, id->pk, 1, raw, &rl));
	ASSERT_EQ(LEDGER_E_FORK, peer_sync_take(b, raw, rl));
	ledger_close(a);
	ledger_close(b);
	ledger_close(f);
	ledger_identity_free(id);
}

/* ---- settlement ---- */

/* Copy @from's chain of @author into @to. */
static void copy_chain(struct ledger *from, struct ledger *to, const uint8_t *author,
		       struct __test_metadata *_metadata)
{
	uint8_t raw[LEDGER_ENTRY_MAX];

	for (uint64_t s = 1;; s++) {
		size_t rl = sizeof(raw);

		if (ledger_get_entry(from, author, s, raw, &rl))
			break;
		ASSERT_GE(peer_sync_take(to, raw, rl), 0);
	}
}

TEST(settle_propose_check_sign)
{
	uint8_t seed[32];
	struct ledger_identity *ex, *im;
	struct ledger *lx, *li;
	struct ledger_entry e = { .type = LEDGER_T_METER };
	struct settle_result rx, ri;
	const struct settle_transfer *st;
	struct ledger_transfer t, bad;
	struct ledger_member lm;
	char why[256];

	memset(seed, 40, 32);
	ex = ledger_identity_from_seed(seed);
	memset(seed, 41, 32);
	im = ledger_identity_from_seed(seed);
	ASSERT_EQ(0, ledger_open(":memory:", LEDGER_O_CREATE, &lx));
	ASSERT_EQ(0, ledger_open(":memory:", LEDGER_O_CREATE, &li));
	/* exporter 500 Wh, importer 300 Wh with a 1000 Wh limit */
	e.body.meter.interval_start = 1700009000;
	e.body.meter.interval_len = 900;
	e.body.meter.wh_export = 500;
	ASSERT_EQ(0, ledger_append(lx, ex->pk, ex, &e, NULL));
	memset(&e, 0, sizeof(e));
	e.type = LEDGER_T_LIMIT;
	e.body.limit.limit_wh = 1000;
	ASSERT_EQ(0, ledger_append(li, im->pk, im, &e, NULL));
	memset(&e, 0, sizeof(e));
	e.type = LEDGER_T_METER;
	e.body.meter.interval_start = 1700009000;
	e.body.meter.interval_len = 900;
	e.body.meter.wh_import = 300;
	ASSERT_EQ(0, ledger_append(li, im->pk, im, &e, NULL));
	copy_chain(lx, li, ex->pk, _metadata);
	copy_chain(li, lx, im->pk, _metadata);

	/* both compute the same: importer pays exporter 300 Wh */
	ASSERT_EQ(0, peer_settle_compute(lx, 1700009000, 900, &rx, why, sizeof(why)));
	ASSERT_EQ(0, peer_settle_compute(li, 1700009000, 0, &ri, why, sizeof(why)));
	st = peer_settle_find(&ri, im->pk, ex->pk);
	ASSERT_NE(NULL, st);
	ASSERT_EQ(300, st->amount_wh);
	ASSERT_NE(NULL, peer_settle_find(&rx, im->pk, ex->pk));
	ASSERT_EQ(NULL, peer_settle_find(&rx, ex->pk, im->pk));

	/* the importer offers; the exporter's check passes, then it signs */
	ASSERT_EQ(0, peer_settle_offer(li, im, st, &t));
	ASSERT_EQ(0, peer_settle_check(lx, &rx, ex->pk, &t));
	/* another amount: disagreement, never signed */
	bad = t;
	bad.amount_wh = 301;
	ASSERT_EQ(PEER_SETTLE_DISAGREE, peer_settle_check(lx, &rx, ex->pk, &bad));
	/* the right amount with a bad debtor signature: forged */
	bad = t;
	bad.debtor_sig[0] ^= 1;
	ASSERT_EQ(PEER_SETTLE_FORGED, peer_settle_check(lx, &rx, ex->pk, &bad));
	/* not ours to sign */
	ASSERT_EQ(PEER_SETTLE_NOT_MINE, peer_settle_check(li, &ri, im->pk, &t));
	/* a debtor position the exporter knows is taken (or not reached):
	 * the importer could not append it there, so it is not signed */
	bad = t;
	bad.debtor_seq = t.debtor_seq - 1;
	ASSERT_EQ(0, ledger_transfer_sign(&bad, im->pk, im));
	ASSERT_EQ(PEER_SETTLE_STALE, peer_settle_check(lx, &rx, ex->pk, &bad));
	bad = t;
	bad.debtor_prev[0] ^= 1;
	ASSERT_EQ(0, ledger_transfer_sign(&bad, im->pk, im));
	ASSERT_EQ(PEER_SETTLE_STALE, peer_settle_check(lx, &rx, ex->pk, &bad));
	/* signed by both, it goes into both chains */
	ASSERT_EQ(0, ledger_transfer_sign(&t, ex->pk, ex));
	ASSERT_EQ(0, peer_settle_find_transfer(lx, ex->pk, im->pk, ex->pk, 1700009000, &bad));
	memset(&e, 0, sizeof(e));
	e.type = LEDGER_T_TRANSFER;
	e.body.transfer = t;
	ASSERT_EQ(0, ledger_append(lx, ex->pk, ex, &e, NULL));
	/* the creditor's chain now holds it: found by (debtor, creditor,
	 * interval), as a debtor that lost the ACCEPT looks for it */
	ASSERT_EQ(1, peer_settle_find_transfer(lx, ex->pk, im->pk, ex->pk, 1700009000, &bad));
	ASSERT_EQ(0, memcmp(&bad, &t, sizeof(t)));
	ASSERT_EQ(0, peer_settle_find_transfer(lx, ex->pk, im->pk, ex->pk, 1700009900, &bad));
	ASSERT_EQ(0, peer_settle_find_transfer(lx, ex->pk, ex->pk, im->pk, 1700009000, &bad));
	memset(&e, 0, sizeof(e));
	e.type = LEDGER_T_TRANSFER;
	e.body.transfer = t;
	ASSERT_EQ(0, ledger_append(li, im->pk, im, &e, NULL));
	ASSERT_EQ(0, ledger_get_member(li, im->pk, &lm));
	ASSERT_EQ(-300, lm.balance_wh);
	/* the same proposal again: its slot in our chain is taken */
	ASSERT_EQ(PEER_SETTLE_STALE, peer_settle_check(lx, &rx, ex->pk, &t));
	/* deadlines: one interval after the end, at least 120 s after it */
	ASSERT_EQ(1700009000ull + 1800, peer_settle_deadline(1700009000, 900));
	ASSERT_EQ(1700009000ull + 10 + 120, peer_settle_deadline(1700009000, 10));
	ASSERT_EQ(1700009000ull + 120 + 120, peer_settle_deadline(1700009000, 120));
	settle_result_free(&rx);
	settle_result_free(&ri);
	ledger_close(lx);
	ledger_close(li);
	ledger_identity_free(ex);
	ledger_identity_free(im);
}

TEST_HARNESS_MAIN
