// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target over every decoder of the peer wire format
 * (agent/lib/peer/peer.h, docs/protocol.md): what anyone on the link can
 * make phloemd parse. The first byte chooses the decoder, the rest is its
 * input, so one corpus covers all of them:
 *
 *   0  peer_wire_decode()        a whole datagram (announce or sealed)
 *   1  peer_wire_decode_inner()  the plaintext records of a sealed message
 *   2  peer_record_decode()      a membership record
 *   3  peer_invite_parse()       an invite token as an operator pastes it
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

	/* a sealed envelope: header, then ciphertext with its tag */
	memset(buf, 0, sizeof(buf));
	buf[0] = PEER_VERSION;
	buf[1] = PEER_D_SEALED;
	memcpy(buf + 4, pk, 32);
	memcpy(buf + 36, pk2, 32);
	buf[84] = 1;
	seed(dir, "sealed", 0, buf, PEER_SEALED_HDR + PEER_TAG_BYTES + 24);

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
	if (!peer_invite_make(&c, pk, sk, pk2, 1700000001, tok, sizeof(tok)))
		seed(dir, "invite", 3, tok, strlen(tok));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("PEER_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	if (dir)
		write_seeds(dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 3) {
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
	}
	return 0;
}
