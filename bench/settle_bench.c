// SPDX-License-Identifier: GPL-2.0
/*
 * settle_bench.c - how long settling one interval takes for communities
 * of 100, 1,000 and 10,000 members.
 *
 * The machine running this is shared and noisy, so every size is run
 * several times and the median reported, next to a baseline measured in
 * the same run on the same input: sorting the members by key, which any
 * deterministic settlement must do. The ratio is what to compare between
 * machines and commits; the absolute times are for this box only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/lib/settle/settle.h"

static uint64_t rng(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int key_cmp(const void *a, const void *b)
{
	const struct settle_member *x = *(const struct settle_member *const *)a;
	const struct settle_member *y = *(const struct settle_member *const *)b;

	return memcmp(x->key, y->key, SETTLE_KEY_LEN);
}

/*
 * A plausible neighbourhood at noon: a third export PV (clean), half
 * import, a few do both within the interval, some buy clean only, a few
 * are near their credit limit; fee 1 %, loss 2 %.
 */
static void community(struct settle_member *m, size_t n,
		      struct settle_terms *t, uint64_t seed)
{
	size_t i, k;

	memset(t, 0, sizeof(*t));
	t->interval_start = 1700000100;
	t->interval_len_s = 900;
	t->loss_ppm = 20000;
	t->fee_ppm = 10000;
	for (i = 0; i < n; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		for (k = 0; k < SETTLE_KEY_LEN; k++)
			m[i].key[k] = (uint8_t)rng(&seed);
		switch (rng(&seed) % 6) {
		case 0:
		case 1:
			m[i].export_wh = 200 + (int64_t)(rng(&seed) % 1500);
			m[i].flags = SETTLE_F_CLEAN;
			break;
		case 2:
			m[i].import_wh = (int64_t)(rng(&seed) % 400);
			m[i].export_wh = (int64_t)(rng(&seed) % 400);
			break;
		default:
			m[i].import_wh = 100 + (int64_t)(rng(&seed) % 2000);
			if (rng(&seed) % 4 == 0)
				m[i].flags = SETTLE_F_CLEAN_ONLY;
		}
		m[i].credit_limit_wh = 20000;
		m[i].balance_wh = (int64_t)(rng(&seed) % 40000) - 20000;
		if (rng(&seed) % 10 == 0)
			m[i].reserve_wh = 100;
	}
	memcpy(t->operator_key, m[0].key, SETTLE_KEY_LEN);
}

int main(void)
{
	static const size_t sizes[] = { 100, 1000, 10000 };
	static const int runs[] = { 31, 15, 7 };
	size_t s;

	printf("settlement of one interval (median of N runs; baseline: sorting the members by key)\n\n");
	printf("%8s %4s %10s %12s %12s %8s %12s\n", "MEMBERS", "N", "TRANSFERS",
	       "SETTLE_US", "SORT_US", "RATIO", "MATCHED_WH");
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s], i;
		struct settle_member *m = calloc(n, sizeof(*m));
		const struct settle_member **p = calloc(n, sizeof(*p));
		uint64_t *ts = calloc((size_t)runs[s], sizeof(*ts));
		uint64_t *tb = calloc((size_t)runs[s], sizeof(*tb));
		struct settle_terms t;
		struct settle_result r;
		int k, rc;

		if (!m || !p || !ts || !tb) {
			fprintf(stderr, "settle_bench: out of memory\n");
			return 1;
		}
		community(m, n, &t, 0xbe9c4 + n);
		for (k = 0; k < runs[s]; k++) {
			uint64_t t0 = now_ns();

			for (i = 0; i < n; i++)
				p[i] = &m[i];
			qsort(p, n, sizeof(*p), key_cmp);
			tb[k] = now_ns() - t0;

			t0 = now_ns();
			rc = settle_run(&t, m, n, &r);
			ts[k] = now_ns() - t0;
			if (rc) {
				fprintf(stderr, "settle_bench: %s\n", settle_strerror(rc));
				return 1;
			}
			if (k + 1 < runs[s])
				settle_result_free(&r);
		}
		qsort(ts, (size_t)runs[s], sizeof(*ts), u64_cmp);
		qsort(tb, (size_t)runs[s], sizeof(*tb), u64_cmp);
		printf("%8zu %4d %10zu %12.1f %12.1f %8.1f %12lld\n", n, runs[s],
		       r.n_transfers, ts[runs[s] / 2] / 1e3, tb[runs[s] / 2] / 1e3,
		       (double)ts[runs[s] / 2] / (double)(tb[runs[s] / 2] ? tb[runs[s] / 2] : 1),
		       (long long)r.matched_wh);
		settle_result_free(&r);
		free(m);
		free(p);
		free(ts);
		free(tb);
	}
	return 0;
}
