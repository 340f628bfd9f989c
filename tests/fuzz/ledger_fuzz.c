// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the ledger's entry decoder and chain validator, built
 * from the real sources (mk/agent.mk compiles every agent/lib/ledger source in).
 *
 * Each input is either one entry or (first byte odd) a stream of entries
 * split the way `phloemctl ledger import` splits a file. Everything is fed
 * to a ledger that already holds the docs/ledger.md test-vector chains, so
 * mutated transfers, rotations and fork proofs meet real state. Properties
 * checked beyond "no crash, no sanitizer report":
 *  - a decoded entry re-encodes to exactly the input bytes (one encoding);
 *  - a refused entry leaves the ledger unchanged;
 *  - the ledger always re-verifies from scratch.
 * Each input runs in a transaction that is rolled back, so inputs are
 * independent and the corpus replays deterministically.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ledger.h"
#include "ledger_int.h"
#include "../ledger/vectors.h"

static struct ledger *l;
static bool stored;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct vector v[NVEC];
	struct vector_keys k;
	struct ledger_blob b[NVEC];
	int i;

	if (sodium_init() < 0 || vec_keys(&k) || vec_build(&k, v) ||
	    ledger_open(":memory:", LEDGER_O_CREATE | LEDGER_O_NOSYNC, &l))
		abort();
	/* Everything but the last two: Bob's fork and the proof stay to be found. */
	for (i = 0; i < NVEC - 2; i++)
		b[i] = (struct ledger_blob){ v[i].raw, v[i].len, 0 };
	if (ledger_ingest(l, b, NVEC - 2) != NVEC - 2)
		abort();
	vec_free_keys(&k);
	return 0;
}

static int count_entries(const uint8_t *raw, size_t len, const struct ledger_entry *e,
			 const uint8_t hash[32], void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void feed(const uint8_t *p, size_t n)
{
	uint8_t again[LEDGER_ENTRY_MAX];
	struct ledger_entry e;
	struct ledger_blob b = { p, n, -1 };
	size_t len;
	int before = 0, after = 0, ret;

	if (ledger_entry_decode(p, n, &e) == 0) {
		if (ledger_entry_encode(&e, again, sizeof(again), &len) || len != n ||
		    memcmp(again, p, n))
			abort();	/* two encodings of one entry */
	}
	ledger_foreach_entry(l, NULL, count_entries, &before);
	ret = ledger_ingest(l, &b, 1);
	if (ret < 0)
		abort();
	ledger_foreach_entry(l, NULL, count_entries, &after);
	if (b.status && b.status != LEDGER_E_FORK && after != before)
		abort();	/* a refused entry changed the chains */
	if (!b.status && after != before + 1)
		abort();
	if (!b.status || b.status == LEDGER_E_FORK)
		stored = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (store_exec(l, "BEGIN"))
		abort();
	stored = false;
	if (size && (data[0] & 1)) {
		size_t off = 1, len;

		while (off < size && !ledger_entry_peek_len(data + off, size - off, &len) &&
		       len <= size - off) {
			feed(data + off, len);
			off += len;
		}
	} else {
		feed(data, size);
	}
	/* Replaying from scratch is slow: only when something went in. */
	if (stored && ledger_verify(l, NULL, NULL) != 0)
		abort();
	store_exec(l, "ROLLBACK");
	return 0;
}
