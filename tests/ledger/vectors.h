/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The test-vector entries of docs/ledger.md, built from fixed seeds with the
 * library. vectors_gen writes them to vectors.txt; ledger_test rebuilds them
 * and compares byte for byte, so a change of encoding cannot go unnoticed.
 *
 * Alice (seed 00..1f) and Bob (seed 20..3f) each meter an interval, Alice
 * declares a credit limit and pays Bob 700 Wh (both copies), Alice rotates
 * to a new key (seed 40..5f), Bob's owner (seed 60..7f) enrols Bob, Bob
 * signs a second entry 1 (a fork) and Alice, with her new key, publishes
 * the fork proof.
 */
#ifndef LEDGER_VECTORS_H
#define LEDGER_VECTORS_H

#include <string.h>

#include "ledger.h"

#define NVEC 9
struct vector {
	const char *name;
	uint8_t raw[LEDGER_ENTRY_MAX];
	size_t len;
	uint8_t hash[32];
};

struct vector_keys {
	struct ledger_identity *alice, *bob, *alice2, *owner;
};

static inline void vec_seed(uint8_t seed[32], uint8_t first)
{
	for (int i = 0; i < 32; i++)
		seed[i] = first + i;
}

static inline int vec_keys(struct vector_keys *k)
{
	uint8_t s[32];

	vec_seed(s, 0x00); k->alice = ledger_identity_from_seed(s);
	vec_seed(s, 0x20); k->bob = ledger_identity_from_seed(s);
	vec_seed(s, 0x40); k->alice2 = ledger_identity_from_seed(s);
	vec_seed(s, 0x60); k->owner = ledger_identity_from_seed(s);
	return k->alice && k->bob && k->alice2 && k->owner ? 0 : -1;
}

static inline void vec_free_keys(struct vector_keys *k)
{
	ledger_identity_free(k->alice);
	ledger_identity_free(k->bob);
	ledger_identity_free(k->alice2);
	ledger_identity_free(k->owner);
}

static inline int vec_finish(struct vector *v, const char *name, struct ledger_entry *e,
			     const struct ledger_identity *signer)
{
	int ret = ledger_entry_sign(e, signer);

	if (!ret)
		ret = ledger_entry_encode(e, v->raw, sizeof(v->raw), &v->len);
	if (!ret)
		ledger_hash(v->raw, v->len, v->hash);
	v->name = name;
	return ret;
}

static inline void vec_header(struct ledger_entry *e, unsigned int type, const uint8_t *author,
			      uint64_t seq, const uint8_t *prev, uint64_t ts)
{
	memset(e, 0, sizeof(*e));
	e->version = LEDGER_FORMAT_VERSION;
	e->type = type;
	memcpy(e->author, author, 32);
	e->seq = seq;
	if (prev)
		memcpy(e->prev, prev, 32);
	e->timestamp_ms = ts;
}

/* Build all vectors into @v (NVEC of them), in chain order. */
static inline int vec_build(const struct vector_keys *k, struct vector *v)
{
	const uint8_t *A = k->alice->pk, *B = k->bob->pk;
	struct ledger_entry e;
	struct ledger_transfer t;
	int ret = 0;

	vec_header(&e, LEDGER_T_METER, A, 1, NULL, 1700000000000ULL);
	e.body.meter = (struct ledger_meter){ 1700000000, 900, 1200, 350, 0x5 };
	ret |= vec_finish(&v[0], "alice-1-meter", &e, k->alice);

	vec_header(&e, LEDGER_T_LIMIT, A, 2, v[0].hash, 1700000001000ULL);
	e.body.limit.limit_wh = 5000;
	ret |= vec_finish(&v[1], "alice-2-limit", &e, k->alice);

	vec_header(&e, LEDGER_T_METER, B, 1, NULL, 1700000000500ULL);
	e.body.meter = (struct ledger_meter){ 1700000000, 900, 0, 900, 0x3 };
	ret |= vec_finish(&v[2], "bob-1-meter", &e, k->bob);

	memset(&t, 0, sizeof(t));
	memcpy(t.debtor, A, 32);
	memcpy(t.creditor, B, 32);
	t.amount_wh = 700;
	t.interval_start = 1700000000;
	t.debtor_seq = 3;
	memcpy(t.debtor_prev, v[1].hash, 32);
	t.creditor_seq = 2;
	memcpy(t.creditor_prev, v[2].hash, 32);
	ret |= ledger_transfer_sign(&t, A, k->alice);
	ret |= ledger_transfer_sign(&t, B, k->bob);

	vec_header(&e, LEDGER_T_TRANSFER, A, 3, v[1].hash, 1700000002000ULL);
	e.body.transfer = t;
	ret |= vec_finish(&v[3], "alice-3-transfer", &e, k->alice);

	vec_header(&e, LEDGER_T_TRANSFER, B, 2, v[2].hash, 1700000002500ULL);
	e.body.transfer = t;
	ret |= vec_finish(&v[4], "bob-2-transfer", &e, k->bob);

	vec_header(&e, LEDGER_T_ROTATE, A, 4, v[3].hash, 1700000003000ULL);
	ret |= ledger_rotate_prepare(&e, k->alice2);
	ret |= vec_finish(&v[5], "alice-4-rotate", &e, k->alice);

	vec_header(&e, LEDGER_T_ENROL, B, 3, v[4].hash, 1700000003500ULL);
	ret |= ledger_enrol_prepare(&e, k->owner);
	ret |= vec_finish(&v[6], "bob-3-enrol", &e, k->bob);

	/* Bob's second, conflicting entry 1: not part of any chain. */
	vec_header(&e, LEDGER_T_METER, B, 1, NULL, 1700000000600ULL);
	e.body.meter = (struct ledger_meter){ 1700000000, 900, 0, 9000, 0x3 };
	ret |= vec_finish(&v[7], "bob-1-conflict", &e, k->bob);

	vec_header(&e, LEDGER_T_FORK, A, 5, v[5].hash, 1700000004000ULL);
	{
		/* The proof lists the two entries in bytewise order. */
		int lo = memcmp(v[2].raw, v[7].raw, v[2].len < v[7].len ? v[2].len : v[7].len) < 0 ? 2 : 7;
		int hi = lo == 2 ? 7 : 2;

		e.body.fork.a_len = v[lo].len;
		memcpy(e.body.fork.a, v[lo].raw, v[lo].len);
		e.body.fork.b_len = v[hi].len;
		memcpy(e.body.fork.b, v[hi].raw, v[hi].len);
	}
	ret |= vec_finish(&v[8], "alice-5-fork-proof", &e, k->alice2);
	return ret;
}

#endif /* LEDGER_VECTORS_H */
