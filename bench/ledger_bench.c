// SPDX-License-Identifier: GPL-2.0
/*
 * ledger_bench: how fast a gateway takes in its neighbours' chains.
 *
 *  - raw verify: crypto_sign_verify_detached() over the very messages the
 *    entries sign, measured in the same run, batch by batch interleaved
 *    with the ingest, so load from others on a shared machine hits both
 *    sides alike. Each run gives a ratio; the run with the median ratio of
 *    REPS is reported (the machine is shared: single runs swing);
 *  - verified ingest: the same entries through ledger_ingest() (decode,
 *    hash, chain rules, signature, SQLite writes) in batches of one
 *    transaction each, into a durable (synchronous=FULL) database.
 *    Target: at least 80% of the raw verify rate;
 *  - local appends with a durable commit each (an fsync per append).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ledger.h"

#define AUTHORS		20
#define PER_AUTHOR	500
#define N		(AUTHORS * PER_AUTHOR)
#define BATCH		5000
#define SLICE		50
#define APPENDS		200
#define REPS		5

struct blob {
	uint8_t raw[LEDGER_HASH_BYTES + 184];
	size_t len;
};

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* CPU time of this thread: blind to other processes taking the CPU. */
static double cpu(void)
{
	return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

/* Seconds (wall, and CPU into *@c) to verify entries [from, from + n) with libsodium alone. */
static double raw_verify(struct blob *b, int from, int n, struct ledger_identity **ids, double *c)
{
	double t0 = now(), c0 = cpu();
	int i, bad = 0;

	for (i = from; i < from + n; i++)
		bad += crypto_sign_verify_detached(b[i].raw + b[i].len - 64, b[i].raw,
						   b[i].len - 64, ids[i % AUTHORS]->pk) != 0;
	if (bad)
		abort();
	*c += cpu() - c0;
	return now() - t0;
}

int main(void)
{
	static struct blob b[N];
	static struct ledger_blob lb[N];
	struct ledger_identity *ids[AUTHORS], *me;
	uint8_t prev[AUTHORS][32] = { { 0 } };
	char dir[] = "/tmp/ledger-bench-XXXXXX", path[128], cmd[160];
	double raws[REPS], ingests[REPS], ratio[REPS], cpu_ratio[REPS], raw, ingest, appends, t0, c0;
	int order[REPS], med;
	struct ledger *l;
	int i, ret, stored = 0;

	if (sodium_init() < 0 || !mkdtemp(dir))
		return 1;
	for (i = 0; i < AUTHORS; i++)
		ids[i] = ledger_identity_new();
	/* Gossip order: the authors' chains interleaved, each in sequence. */
	for (i = 0; i < N; i++) {
		int a = i % AUTHORS;
		struct ledger_entry e = { .version = 1, .type = LEDGER_T_METER };

		memcpy(e.author, ids[a]->pk, 32);
		e.seq = i / AUTHORS + 1;
		memcpy(e.prev, prev[a], 32);
		e.timestamp_ms = 1700000000000ULL + 900000ULL * e.seq;
		e.body.meter = (struct ledger_meter){ 1700000000 + 900 * e.seq, 900,
						      i % 1000, i % 300, 3 };
		ledger_entry_sign(&e, ids[a]);
		ledger_entry_encode(&e, b[i].raw, sizeof(b[i].raw), &b[i].len);
		ledger_hash(b[i].raw, b[i].len, prev[a]);
		lb[i] = (struct ledger_blob){ b[i].raw, b[i].len, -1 };
	}

	for (int rep = 0; rep < REPS; rep++) {
		double t_raw = 0, t_ing = 0, c_raw = 0, c_ing = 0;

		snprintf(path, sizeof(path), "%s/ingest%d.db", dir, rep);
		if (ledger_open(path, LEDGER_O_CREATE, &l))
			return 1;
		stored = 0;
		/*
		 * One transaction per BATCH, fed in slices of SLICE so raw and
		 * ingest timings alternate every few milliseconds.
		 */
		for (i = 0; i < N; i += SLICE) {
			t_raw += raw_verify(b, i, SLICE, ids, &c_raw);
			t0 = now();
			c0 = cpu();
			if (i % BATCH == 0 && ledger_begin(l))
				return 1;
			ret = ledger_ingest(l, lb + i, SLICE);
			if (ret >= 0 && (i + SLICE) % BATCH == 0 && ledger_commit(l))
				ret = -EIO;
			t_ing += now() - t0;
			c_ing += cpu() - c0;
			if (ret < 0) {
				fprintf(stderr, "ingest: %s\n", ledger_strerror(ret));
				return 1;
			}
			stored += ret;
		}
		ingests[rep] = N / t_ing;
		raws[rep] = N / t_raw;
		ratio[rep] = ingests[rep] / raws[rep];
		cpu_ratio[rep] = c_raw / c_ing;
		if (stored != N || ledger_verify(l, NULL, NULL) != 0) {
			fprintf(stderr, "ingest stored %d of %d or did not verify\n", stored, N);
			return 1;
		}
		ledger_close(l);
	}

	/* The median run by ratio (insertion sort of REPS indices). */
	for (i = 0; i < REPS; i++) {
		int j = i;

		while (j > 0 && ratio[order[j - 1]] > ratio[i]) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	med = order[REPS / 2];
	raw = raws[med];
	ingest = ingests[med];

	snprintf(path, sizeof(path), "%s/local.db", dir);
	me = ledger_identity_new();
	if (ledger_open(path, LEDGER_O_CREATE, &l))
		return 1;
	t0 = now();
	for (i = 0; i < APPENDS; i++) {
		struct ledger_entry e = { .type = LEDGER_T_METER };

		e.body.meter = (struct ledger_meter){ 1700000000 + 900 * i, 900, i, 0, 1 };
		if (ledger_append(l, me->pk, me, &e, NULL))
			return 1;
	}
	appends = APPENDS / (now() - t0);
	ledger_close(l);

	printf("ledger benchmark (%d entries from %d authors, batches of %d, median of %d runs; "
	       "%d local appends)\n", N, AUTHORS, BATCH, REPS, APPENDS);
	printf("%-44s %12s\n", "measure", "per second");
	printf("%-44s %12.0f\n", "raw crypto_sign_verify_detached", raw);
	printf("%-44s %12.0f\n", "verified ingest of foreign entries", ingest);
	printf("%-44s %12.0f\n", "local appends, durable commit each", appends);
	printf("ratios of the %d runs:", REPS);
	for (i = 0; i < REPS; i++)
		printf(" %.1f%%", 100 * ratio[order[i]]);
	printf("\nsame ratio in thread CPU time (blind to other load), median run: %.1f%%\n",
	       100 * cpu_ratio[med]);
	printf("ingest / raw verify = %.1f%% (target >= 80%%): %s\n", 100 * ingest / raw,
	       ingest >= 0.8 * raw ? "PASS" : "FAIL");

	for (i = 0; i < AUTHORS; i++)
		ledger_identity_free(ids[i]);
	ledger_identity_free(me);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		return 1;
	return ingest >= 0.8 * raw ? 0 : 1;
}
