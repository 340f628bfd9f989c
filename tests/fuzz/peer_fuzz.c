// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target over every decoder of the peer wire format
 * (agent/lib/peer/peer.h, docs/protocol.md): what anyone on the link can
 * make phloemd parse. The first byte chooses the decoder, the rest is its
 * input, so one corpus covers all of them:
 *
 *   0  peer_wire_decode()        a whole datagram (any type)
 *   1  peer_wire_decode_inner()  the plaintext records of a sealed message
 *   2  peer_record_decode()      a membership record
 *   3  peer_invite_parse()       an invite token as an operator pastes it
 *   4  peer_session_respond()    a datagram as a handshake initiation from
 *                                member B to us (A)
 *   5  peer_session_complete()   ... as the response to A's initiation
 *   6  peer_session_open()       ... as B's first transport message under
 *                                keys A answered (confirmation, promotion)
 *   7  peer_session_open()       ... as a transport message of a session
 *                                A uses
 *
 * For 4..7 the keys are fixed and libsodium's random numbers come from a
 * deterministic stream restarted for every input, so that the seeds (a real
 * initiation, response and transport messages of B) authenticate in every
 * run and the fuzzer mutates from inside the Diffie-Hellman and AEAD paths.
 *
 * Besides "no crash, no sanitizer report", every decoder is strict (no
 * trailing bytes, no reserved bits, one encoding per value), so whatever it
 * accepts must encode back to the very same bytes: the target re-encodes
 * with the library's own encoders and aborts on any difference. Signature
 * checks run on accepted announcements so that the verify paths see
 * attacker-shaped lengths too (their result does not matter: nobody here
 * holds the key).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "peer.h"

/* a failed expectation names itself before libFuzzer keeps the input */
#define check(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "peer_fuzz: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

static void fuzz_datagram(const uint8_t *b, size_t len)
{
	struct peer_msg m;

	if (peer_wire_decode(b, len, &m))
		return;
	if (m.type == PEER_D_ANNOUNCE) {
		/* Re-encode the signed part (the signature itself is made with a
		 * throwaway key, so compare what precedes it). */
		static uint8_t pk[32], sk[64];
		static int have_key;
		uint8_t out[PEER_MTU];
		struct peer_announce a = m.ann;
		int n;

		if (!have_key) {
			crypto_sign_ed25519_keypair(pk, sk);
			have_key = 1;
		}
		peer_announce_verify(&m.ann, b, len);
		n = peer_announce_encode(&a, sk, out, sizeof(out));
		check(n == (int)len);
		check(!memcmp(out, b, len - PEER_SIG_BYTES));
	} else if (m.type == PEER_D_HS_INIT) {
		/* fixed layout: every field is where the decoder found it */
		check(len == PEER_HS_INIT_BYTES);
		check(!memcmp(m.init.sender, b + 4, 32));
		check(!memcmp(m.init.receiver, b + 36, 32));
		check(!memcmp(m.init.eph, b + 68, 32));
		check(m.init.ct == b + 100);
		check(!b[2] && !b[3]);
	} else if (m.type == PEER_D_HS_RESP) {
		check(len == PEER_HS_RESP_BYTES);
		check(m.resp.receiver_index == (uint32_t)(b[4] | b[5] << 8 | b[6] << 16 |
							  (uint32_t)b[7] << 24));
		check(!memcmp(m.resp.eph, b + 8, 32));
		check(m.resp.ct == b + 40);
		check(!b[2] && !b[3]);
	} else {
		check(m.type == PEER_D_SEALED);
		check(m.sealed.hdr == b);
		check(m.sealed.ct == b + PEER_SEALED_HDR);
		check(m.sealed.ct_len == len - PEER_SEALED_HDR);
		check(m.sealed.ct_len >= PEER_TAG_BYTES);
	}
}

static void fuzz_inner(const uint8_t *b, size_t len)
{
	struct peer_inner in;
	struct peer_builder bl;
	/* room for PEER_MAX_RECS of the largest record: the decoder takes
	 * any length, the datagram bounds it, not the decoder */
	static uint8_t out[PEER_MAX_RECS * (3 + PEER_RECORD_BYTES + PEER_MEASURE_BYTES)];

	if (peer_wire_decode_inner(b, len, &in))
		return;
	check(in.nrecs >= 0 && in.nrecs <= PEER_MAX_RECS);
	peer_builder_init(&bl, out, sizeof(out));
	for (int i = 0; i < in.nrecs; i++) {
		check(in.rec[i].type >= PEER_R_PING && in.rec[i].type < __PEER_R_MAX);
		check(!peer_builder_add(&bl, &in.rec[i]));
		if (in.rec[i].type == PEER_R_MEASURE)
			peer_measure_verify(&in.rec[i].measure);
		else if (in.rec[i].type == PEER_R_MEMBER)
			peer_record_verify(&in.rec[i].member);
	}
	check(bl.len == len);
	check(!memcmp(out, b, len));
}

static void fuzz_record(const uint8_t *b, size_t len)
{
	struct peer_record r;
	uint8_t out[PEER_RECORD_BYTES];

	if (peer_record_decode(b, len, &r))
		return;
	check(len == PEER_RECORD_BYTES);
	check(r.kind == PEER_REC_INVITE || r.kind == PEER_REC_REMOVE);
	peer_record_encode(&r, out);
	check(!memcmp(out, b, len));
}

static void fuzz_invite(const uint8_t *b, size_t len)
{
	struct peer_record r;
	char *tok;

	/* a token is text: the fuzzer's bytes up to the first NUL */
	tok = malloc(len + 1);
	if (!tok)
		return;
	memcpy(tok, b, len);
	tok[len] = 0;
	if (!peer_invite_parse(tok, &r))
		check(r.kind == PEER_REC_INVITE);
	free(tok);
}

/* ---- sessions: a deterministic random stream, fixed keys ---- */

static uint64_t rnd_ctr;

static void rnd_buf(void *const buf, const size_t size)
{
	uint8_t seed[randombytes_SEEDBYTES] = { 0 };

	memcpy(seed, &rnd_ctr, sizeof(rnd_ctr));
	rnd_ctr++;
	randombytes_buf_deterministic(buf, size, seed);
}

static uint32_t rnd_random(void)
{
	uint32_t v;

	rnd_buf(&v, sizeof(v));
	return v;
}

static const char *rnd_name(void)
{
	return "peer_fuzz-deterministic";
}

static randombytes_implementation rnd_impl = {
	.implementation_name = rnd_name,
	.random = rnd_random,
	.buf = rnd_buf,
};

static struct {
	uint8_t apk[32], ask[64], bpk[32], bsk[64];
	struct peer_local la, lb;
	struct peer_session fresh;	/* A's, with B: no keys yet */
	struct peer_session pending;	/* A's, its initiation in flight */
	struct peer_session answered;	/* A's, keys answered, unconfirmed */
	struct peer_session est;	/* A's, in use */
	uint8_t init[PEER_MTU], resp[PEER_MTU], first[PEER_MTU], later[PEER_MTU];
	int ninit, nresp, nfirst, nlater;
	bool ok;
} S;

/* Deterministic: the same states and seed datagrams in every process. */
static void sessions_setup(void)
{
	uint8_t cid[32], seed[32], out[PEER_MTU], pt[PEER_MTU];
	struct peer_session sb;
	struct peer_msg m;
	int n;

	rnd_ctr = 1;
	peer_community_id("street", cid);
	memset(seed, 0xa1, 32);
	crypto_sign_ed25519_seed_keypair(S.apk, S.ask, seed);
	memset(seed, 0xb2, 32);
	crypto_sign_ed25519_seed_keypair(S.bpk, S.bsk, seed);
	if (peer_local_init(&S.la, S.apk, S.ask, cid) ||
	    peer_local_init(&S.lb, S.bpk, S.bsk, cid) ||
	    peer_session_init(&S.fresh, &S.la, S.bpk))
		return;

	/* A initiates, B answers: the response seed */
	S.pending = S.fresh;
	if (peer_session_initiate(&S.pending, &S.la, 1000, out, sizeof(out)) <= 0 ||
	    peer_session_init(&sb, &S.lb, S.apk) || peer_wire_decode(out, PEER_HS_INIT_BYTES, &m))
		return;
	S.nresp = peer_session_respond(&sb, &S.lb, &m.init, 1000, S.resp, sizeof(S.resp));
	if (S.nresp != PEER_HS_RESP_BYTES)
		return;

	/* B initiates, A answers: the initiation seed; B's first message
	 * under those keys is the confirmation seed */
	if (peer_session_init(&sb, &S.lb, S.apk))
		return;
	S.ninit = peer_session_initiate(&sb, &S.lb, 1000, S.init, sizeof(S.init));
	S.answered = S.fresh;
	if (S.ninit != PEER_HS_INIT_BYTES || peer_wire_decode(S.init, S.ninit, &m) ||
	    peer_session_respond(&S.answered, &S.la, &m.init, 1000, out, sizeof(out)) !=
	    PEER_HS_RESP_BYTES || peer_wire_decode(out, PEER_HS_RESP_BYTES, &m) ||
	    peer_session_complete(&sb, &S.lb, &m.resp, 1000))
		return;
	S.nfirst = peer_session_seal(&sb, 1000, (const uint8_t *)"\x01\x04\x00seq!", 7,
				     S.first, sizeof(S.first));
	/* ... A takes it: a session in use, and B's later message */
	S.est = S.answered;
	if (S.nfirst <= 0 || peer_wire_decode(S.first, S.nfirst, &m) ||
	    peer_session_open(&S.est, &m.sealed, 1000, pt, sizeof(pt)) != 7)
		return;
	n = peer_session_seal(&sb, 1000, (const uint8_t *)"\x02\x04\x00seq!", 7,
			      S.later, sizeof(S.later));
	S.nlater = n;
	peer_session_wipe(&sb);
	S.ok = n > 0;
}

static void fuzz_session(int sel, const uint8_t *b, size_t len)
{
	static struct peer_session s;
	uint8_t out[PEER_MTU], pt[PEER_MTU];
	struct peer_msg m;
	int ret;

	if (!S.ok || peer_wire_decode(b, len, &m))
		return;
	rnd_ctr = 1u << 20;		/* the same stream for every input */
	switch (sel) {
	case 4:
		if (m.type != PEER_D_HS_INIT)
			return;
		s = S.fresh;
		ret = peer_session_respond(&s, &S.la, &m.init, 2000, out, sizeof(out));
		check(ret <= 0 || ret == PEER_HS_RESP_BYTES);
		if (ret > 0) {
			struct peer_msg r;

			/* taken: what it wrote is a response, its keys wait */
			check(!peer_wire_decode(out, (size_t)ret, &r) &&
			      r.type == PEER_D_HS_RESP);
			check(s.next.valid && !s.next.confirmed && !s.cur.valid);
			/* and the very same initiation is refused the second time */
			check(peer_session_respond(&s, &S.la, &m.init, 2000, out,
						   sizeof(out)) == -PEER_E_REPLAYED);
		} else {
			check(!s.next.valid);
		}
		break;
	case 5:
		if (m.type != PEER_D_HS_RESP)
			return;
		s = S.pending;
		ret = peer_session_complete(&s, &S.la, &m.resp, 2000);
		check(ret <= 0);
		check(ret ? s.hs_pending && !s.cur.valid :
			    !s.hs_pending && s.cur.valid && s.cur.confirmed);
		break;
	case 6:
	case 7:
		if (m.type != PEER_D_SEALED)
			return;
		s = sel == 6 ? S.answered : S.est;
		ret = peer_session_open(&s, &m.sealed, 2000, pt, sizeof(pt));
		check(ret < 0 || (size_t)ret == m.sealed.ct_len - PEER_TAG_BYTES);
		if (ret >= 0) {
			struct peer_inner in;

			check(s.cur.valid && s.cur.confirmed);
			peer_wire_decode_inner(pt, (size_t)ret, &in);
			/* a second time it is a replay */
			check(peer_session_open(&s, &m.sealed, 2000, pt, sizeof(pt)) ==
			      -PEER_E_REPLAYED);
		}
		break;
	}
}

/*
 * Seeds, made by the library's own encoders so that the fuzzer starts from
 * inputs every decoder accepts: with PEER_FUZZ_SEEDS=DIR set, write them
 * there (mk/netns.mk does, before the timed run).
 */
static void seed(const char *dir, const char *name, uint8_t sel,
		 const void *b, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return;
	fputc(sel, f);
	fwrite(b, 1, len, f);
	fclose(f);
}

static void write_seeds(const char *dir)
{
	static struct peer_community c;
	uint8_t pk[32], sk[64], pk2[32], sk2[64], buf[PEER_MTU];
	char tok[PEER_TOKEN_SIZE];
	struct peer_announce a = { 0 };
	struct peer_builder b;
	struct peer_rec_any r;
	int n;

	crypto_sign_ed25519_keypair(pk, sk);
	crypto_sign_ed25519_keypair(pk2, sk2);
	if (peer_community_found(&c, "street", pk, sk, 1700000000))
		return;

	memcpy(a.community, c.id, 32);
	memcpy(a.key, pk, 32);
	a.epoch = 1700000000123ull;
	a.time_ms = 1700000000456ull;
	a.port = PEER_DEFAULT_PORT;
	n = peer_announce_encode(&a, sk, buf, sizeof(buf));
	if (n > 0)
		seed(dir, "announce", 0, buf, n);
	a.has_record = true;
	a.record = c.member[0];
	n = peer_announce_encode(&a, sk, buf, sizeof(buf));
	if (n > 0)
		seed(dir, "announce-record", 0, buf, n);

	/* the handshake and transport messages of the session setup */
	seed(dir, "hs-init", 0, S.init, S.ninit);
	seed(dir, "hs-resp", 0, S.resp, S.nresp);
	seed(dir, "sealed", 0, S.later, S.nlater);

	/* one plaintext with a record of every type */
	peer_builder_init(&b, buf, sizeof(buf));
	memset(&r, 0, sizeof(r));
	r.type = PEER_R_PING; r.ping.seq = 7; peer_builder_add(&b, &r);
	r.type = PEER_R_ACK; r.ack.seq = 7; peer_builder_add(&b, &r);
	r.type = PEER_R_PING_REQ; r.ping_req.seq = 8;
	memcpy(r.ping_req.target, pk2, 32); peer_builder_add(&b, &r);
	r.type = PEER_R_STATE; memcpy(r.state.key, pk2, 32);
	r.state.state = PEER_SUSPECT; r.state.inc = 3; peer_builder_add(&b, &r);
	memset(&r, 0, sizeof(r));
	r.type = PEER_R_MEASURE; memcpy(r.measure.key, pk, 32);
	r.measure.time_ms = 1700000000789ull; r.measure.consumption_w = 2300;
	r.measure.net_w = 2300; peer_measure_sign(&r.measure, sk);
	peer_builder_add(&b, &r);
	r.type = PEER_R_MEMBER; r.member = c.member[0]; peer_builder_add(&b, &r);
	seed(dir, "inner", 1, buf, b.len);

	peer_record_encode(&c.member[0], buf);
	seed(dir, "record", 2, buf, PEER_RECORD_BYTES);
	if (S.ok) {
		seed(dir, "hs-init-respond", 4, S.init, S.ninit);
		seed(dir, "hs-resp-complete", 5, S.resp, S.nresp);
		seed(dir, "transport-first", 6, S.first, S.nfirst);
		seed(dir, "transport-later", 7, S.later, S.nlater);
	}
	if (!peer_invite_make(&c, pk, sk, pk2, 1700000001, tok, sizeof(tok)))
		seed(dir, "invite", 3, tok, strlen(tok));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("PEER_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	if (randombytes_set_implementation(&rnd_impl) || sodium_init() < 0)
		abort();
	sessions_setup();
	if (!S.ok) {
		fprintf(stderr, "peer_fuzz: session setup failed\n");
		abort();
	}
	if (dir)
		write_seeds(dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 7) {
	case 0:
		fuzz_datagram(data + 1, size - 1);
		break;
	case 1:
		fuzz_inner(data + 1, size - 1);
		break;
	case 2:
		fuzz_record(data + 1, size - 1);
		break;
	case 3:
		fuzz_invite(data + 1, size - 1);
		break;
	default:
		fuzz_session(data[0] & 7, data + 1, size - 1);
		break;
	}
	return 0;
}
