// SPDX-License-Identifier: GPL-2.0
/*
 * settle_test.c - tests of the settlement rule (agent/lib/settle).
 *
 *  - golden: every tests/settle/golden/NAME.in settles to exactly the bytes
 *    of NAME.out (hand-worked in docs/settlement.md);
 *  - properties over thousands of generated communities: permutation
 *    invariance (byte-identical canonical text), conservation, exporters
 *    never credited beyond what they had available, importers never past
 *    their credit limit, clean-only respected, the local match maximal and
 *    pro-rata within rounding, the transfer count bounded;
 *  - bad input refused with the right code and nothing allocated.
 *
 * Built twice by mk/settle.mk: with the compiler's 128-bit integers and
 * with -DSETTLE_PORTABLE_MATH (the 32-bit board path); both must pass and
 * give the same golden bytes.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"

#include "agent/lib/settle/settle.h"
#include "agent/lib/settle/scenario.h"

#ifndef GOLDEN_DIR
#define GOLDEN_DIR "tests/settle/golden"
#endif

/* ---- helpers ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)len + 1);
		if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
			free(buf);
			buf = NULL;
		} else if (buf) {
			buf[len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

static char *format(const struct settle_result *r)
{
	size_t len = settle_format(r, NULL, 0);
	char *buf = malloc(len + 1);

	if (buf)
		settle_format(r, buf, len + 1);
	return buf;
}

/* splitmix64: tiny, seeded, identical everywhere */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int64_t rng_range(uint64_t *s, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

static void shuffle(struct settle_member *m, size_t n, uint64_t *s)
{
	size_t i;

	for (i = n; i > 1; i--) {
		size_t j = (size_t)(rng_next(s) % i);
		struct settle_member t = m[i - 1];

		m[i - 1] = m[j];
		m[j] = t;
	}
}

/*
 * A random community. Sizes, meters and terms vary over orders of
 * magnitude so that every branch is hit: pools short and long, members
 * already past their limit, members with zero headroom, fees that round
 * to zero, huge values near the documented bounds.
 */
static size_t gen_community(uint64_t *s, struct settle_terms *t,
			    struct settle_member *m, size_t max)
{
	size_t n = (size_t)rng_range(s, 1, (int64_t)max), i, op;
	unsigned k;
	int64_t scale = (int64_t[]){ 10, 1000, 100000, SETTLE_WH_MAX }[rng_next(s) % 4];

	memset(t, 0, sizeof(*t));
	t->interval_start = 1700000000 + 900 * (uint64_t)rng_range(s, 0, 1000);
	t->interval_len_s = 900;
	t->loss_ppm = (uint32_t)(rng_next(s) % 3 == 0 ? 0 : rng_range(s, 0, 200000));
	if (rng_next(s) % 50 == 0)
		t->loss_ppm = SETTLE_PPM;
	t->fee_ppm = (uint32_t)(rng_next(s) % 3 == 0 ? 0 : rng_range(s, 0, 100000));
	for (i = 0; i < n; i++) {
		struct settle_member *x = &m[i];
		int role = (int)(rng_next(s) % 4);

		memset(x, 0, sizeof(*x));
		for (k = 0; k < SETTLE_KEY_LEN; k++)
			x->key[k] = (uint8_t)rng_next(s);
		/* some keys share long prefixes: memcmp must look deep */
		if (i && rng_next(s) % 8 == 0) {
			memcpy(x->key, m[i - 1].key, SETTLE_KEY_LEN - 1);
			x->key[SETTLE_KEY_LEN - 1] ^= (uint8_t)(1 + rng_next(s) % 255);
		}
		if (role == 0 || role == 2)
			x->import_wh = rng_range(s, 0, scale);
		if (role == 1 || role == 2)
			x->export_wh = rng_range(s, 0, scale);
		if (rng_next(s) % 4 == 0)
			x->reserve_wh = rng_range(s, 0, scale);
		x->credit_limit_wh = rng_range(s, 0, 2 * scale);
		x->balance_wh = rng_range(s, -3 * scale, 3 * scale);
		if (rng_next(s) % 2)
			x->flags |= SETTLE_F_CLEAN;
		if (rng_next(s) % 4 == 0)
			x->flags |= SETTLE_F_CLEAN_ONLY;
		/* measured PV: part of an export clean (docs/settlement.md) */
		if (!(x->flags & SETTLE_F_CLEAN) && x->export_wh && rng_next(s) % 2)
			x->clean_export_wh = rng_range(s, 0, x->export_wh);
	}
	/* the shared-prefix trick can repeat a key: give such a one a fresh key */
	for (i = 1; i < n; i++) {
		size_t j;

		for (j = 0; j < i; j++) {
			if (memcmp(m[i].key, m[j].key, SETTLE_KEY_LEN))
				continue;
			for (k = 0; k < SETTLE_KEY_LEN; k++)
				m[i].key[k] = (uint8_t)rng_next(s);
			j = (size_t)-1;	/* check again from the start */
		}
	}
	/* the operator is sometimes an importer or exporter itself */
	op = (size_t)(rng_next(s) % n);
	memcpy(t->operator_key, m[op].key, SETTLE_KEY_LEN);
	return n;
}

static const struct settle_summary *find(const struct settle_result *r,
					 const uint8_t *key)
{
	size_t lo = 0, hi = r->n_members;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = memcmp(r->members[mid].key, key, SETTLE_KEY_LEN);

		if (!c)
			return &r->members[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int64_t loss_of(int64_t offer, uint32_t ppm)
{
	/* ceil(offer * ppm / 1e6) in 128 bits, independently of settle.c */
	unsigned __int128 p = (unsigned __int128)offer * ppm;

	return (int64_t)((p + SETTLE_PPM - 1) / SETTLE_PPM);
}

/*
 * Every invariant the settlement promises, checked from the outside:
 * balances are recomputed from the transfers alone.
 */
static const char *check_invariants(const struct settle_terms *t,
				    const struct settle_member *in, size_t n,
				    const struct settle_result *r)
{
	int64_t *delta, sum = 0, mi = 0, me = 0, fees = 0;
	int64_t demand[2] = { 0, 0 }, offer[2] = { 0, 0 }, got[2] = { 0, 0 };
	size_t i, n_imp = 0, n_exp = 0, n_energy = 0;
	const char *bad = NULL;

	if (r->n_members != n)
		return "member count";
	delta = calloc(n ? n : 1, sizeof(*delta));
	for (i = 0; i < r->n_transfers && !bad; i++) {
		const struct settle_transfer *x = &r->transfers[i];
		const struct settle_summary *d = find(r, x->debtor);
		const struct settle_summary *c = find(r, x->creditor);

		if (!d || !c)
			bad = "transfer party not a member";
		else if (x->amount_wh <= 0)
			bad = "transfer amount not positive";
		else if (!memcmp(x->debtor, x->creditor, SETTLE_KEY_LEN))
			bad = "self transfer";
		else if (x->interval_start != t->interval_start ||
			 x->interval_len_s != t->interval_len_s)
			bad = "transfer interval";
		else if (i && memcmp(&r->transfers[i - 1], x, 64) >= 0 &&
			 !(memcmp(&r->transfers[i - 1], x, 64) == 0 &&
			   r->transfers[i - 1].kind < x->kind))
			bad = "transfers not in canonical order";
		else if (x->kind == SETTLE_FEE &&
			 memcmp(x->creditor, t->operator_key, SETTLE_KEY_LEN))
			bad = "fee not paid to the operator";
		else if (x->kind == SETTLE_ENERGY &&
			 (d->flags & SETTLE_F_CLEAN_ONLY) &&
			 c->clean_avail_wh <= 0)
			bad = "clean-only member bought unclean energy";
		if (bad)
			break;
		delta[d - r->members] -= x->amount_wh;
		delta[c - r->members] += x->amount_wh;
		n_energy += x->kind == SETTLE_ENERGY;
	}
	for (i = 0; i < n && !bad; i++) {
		const struct settle_summary *s = &r->members[i];
		int64_t offer_i = s->net_export_wh - s->reserve_wh;
		int64_t avail = offer_i - loss_of(offer_i, t->loss_ppm);
		int64_t headroom = s->balance_before_wh + s->credit_limit_wh;
		bool op = !memcmp(s->key, t->operator_key, SETTLE_KEY_LEN);
		int pool = (s->flags & SETTLE_F_CLEAN_ONLY) ? 0 : 1;

		if (i && memcmp(r->members[i - 1].key, s->key, SETTLE_KEY_LEN) >= 0)
			bad = "members not in key order";
		else if (s->balance_after_wh - s->balance_before_wh != delta[i])
			bad = "summary balance differs from the transfers";
		else if (s->net_import_wh && s->net_export_wh)
			bad = "member both importer and exporter after netting";
		else if (s->matched_export_wh < 0 || s->matched_export_wh > avail ||
			 avail > s->export_wh)
			bad = "exporter credited beyond its available export";
		else if (s->matched_import_wh < 0 ||
			 s->matched_import_wh > s->net_import_wh)
			bad = "importer matched beyond its import";
		else if (s->grid_import_wh + s->matched_import_wh != s->net_import_wh ||
			 s->grid_export_wh + s->matched_export_wh != s->net_export_wh ||
			 s->self_wh + s->net_import_wh != s->import_wh ||
			 s->self_wh + s->net_export_wh != s->export_wh)
			bad = "energy not conserved per member";
		else if (s->balance_after_wh < s->balance_before_wh &&
			 s->balance_after_wh < -s->credit_limit_wh)
			bad = "member pushed past its credit limit";
		else if (!op && s->fee_paid_wh !=
			 (int64_t)((unsigned __int128)s->matched_import_wh *
				   t->fee_ppm / SETTLE_PPM))
			bad = "fee is not floor(matched * fee_ppm / 1e6)";
		else if (op && s->fee_paid_wh)
			bad = "operator paid itself a fee";
		if (bad)
			break;
		sum += delta[i];
		mi += s->matched_import_wh;
		me += s->matched_export_wh;
		fees += s->fee_paid_wh;
		if (s->net_import_wh) {
			int64_t cap = headroom > 0 ? headroom : 0;
			int64_t f = op ? 0 : (int64_t)t->fee_ppm;

			/* largest m with m + fee(m) <= headroom, by search */
			{
				int64_t lo = 0, hi = s->net_import_wh;

				while (lo < hi) {
					int64_t m = lo + (hi - lo + 1) / 2;
					int64_t fm = (int64_t)((unsigned __int128)m * f / SETTLE_PPM);

					if (m + fm <= cap)
						lo = m;
					else
						hi = m - 1;
				}
				cap = lo;
			}
			n_imp++;
			demand[pool] += cap;
			got[pool] += s->matched_import_wh;
			if (s->matched_import_wh > cap)
				bad = "importer matched beyond its headroom";
		}
		if (avail > 0) {
			/* the clean part, recomputed: all of it, or the
			 * export's clean share, rounded down */
			int64_t ca = s->flags & SETTLE_F_CLEAN ? avail :
				     s->export_wh ? (int64_t)((unsigned __int128)avail *
							      s->clean_export_wh / s->export_wh) : 0;

			if (ca != s->clean_avail_wh)
				bad = "clean part of the available export";
			n_exp++;
			offer[0] += ca;
			offer[1] += avail;
		}
	}
	if (!bad && sum != 0)
		bad = "balance changes do not sum to zero";
	if (!bad && (mi != me || mi != r->matched_wh))
		bad = "matched import and export differ";
	if (!bad && fees != r->fees_wh)
		bad = "fee total";
	/*
	 * Maximal local match: the clean pool serves min(clean offer,
	 * clean-only demand); the open pool whatever is left.
	 */
	if (!bad) {
		int64_t m0 = demand[0] < offer[0] ? demand[0] : offer[0];
		int64_t left = offer[1] - m0;
		int64_t m1 = demand[1] < left ? demand[1] : left;

		if (got[0] != m0 || got[1] != m1)
			bad = "local match not maximal";
	}
	if (!bad && n_energy && n_energy > n_imp + 2 * n_exp - 1)
		bad = "more energy transfers than the north-west corner allows";
	free(delta);
	return bad;
}

/* ---- golden files ---- */

static int golden_filter(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return len > 3 && !strcmp(d->d_name + len - 3, ".in");
}

TEST(golden)
{
	const char *update = getenv("SETTLE_GOLDEN_UPDATE");
	struct dirent **list;
	int n, i;

	n = scandir(GOLDEN_DIR, &list, golden_filter, alphasort);
	ASSERT_GT(n, 0) TH_LOG("no golden inputs in %s", GOLDEN_DIR);
	for (i = 0; i < n; i++) {
		char in[512], outp[512];
		struct settle_scenario sc;
		struct settle_result r;
		char *want, *got;
		int rc;

		snprintf(in, sizeof(in), "%s/%s", GOLDEN_DIR, list[i]->d_name);
		snprintf(outp, sizeof(outp), "%.*s.out", (int)strlen(in) - 3, in);
		settle_scenario_init(&sc);
		ASSERT_EQ(0, settle_scenario_load(&sc, in)) TH_LOG("%s", sc.err);
		rc = settle_run(&sc.terms, sc.members, sc.n, &r);
		ASSERT_EQ(SETTLE_OK, rc) TH_LOG("%s: %s", in, settle_strerror(rc));
		EXPECT_EQ(NULL, check_invariants(&sc.terms, sc.members, sc.n, &r));
		got = format(&r);
		ASSERT_NE(NULL, got);
		if (update && !strcmp(update, "1")) {
			FILE *f = fopen(outp, "w");

			ASSERT_NE(NULL, f);
			fputs(got, f);
			fclose(f);
		}
		want = slurp(outp);
		ASSERT_NE(NULL, want) TH_LOG("missing %s", outp);
		EXPECT_STREQ(want, got) TH_LOG("%s differs from its golden output", in);
		free(want);
		free(got);
		settle_result_free(&r);
		settle_scenario_free(&sc);
		free(list[i]);
	}
	free(list);
}

/* ---- properties ---- */

#define COMMUNITIES	2000
#define MAX_MEMBERS	200

TEST(properties_and_permutations)
{
	static struct settle_member m[MAX_MEMBERS], p[MAX_MEMBERS];
	uint64_t seed = 0x5e771e0f00dull;
	unsigned long transfers = 0, matched_some = 0;
	int c, k;

	for (c = 0; c < COMMUNITIES; c++) {
		struct settle_terms t;
		struct settle_result r, q;
		const char *bad;
		char *a, *b;
		size_t n = gen_community(&seed, &t, m, MAX_MEMBERS);

		ASSERT_EQ(SETTLE_OK, settle_run(&t, m, n, &r)) TH_LOG("community %d", c);
		bad = check_invariants(&t, m, n, &r);
		ASSERT_EQ(NULL, bad) TH_LOG("community %d (n=%zu): %s", c, n, bad);
		transfers += r.n_transfers;
		matched_some += r.matched_wh > 0;
		a = format(&r);
		memcpy(p, m, n * sizeof(*m));
		for (k = 0; k < 3; k++) {
			shuffle(p, n, &seed);
			ASSERT_EQ(SETTLE_OK, settle_run(&t, p, n, &q));
			b = format(&q);
			ASSERT_STREQ(a, b) TH_LOG("community %d: order changed the result", c);
			ASSERT_EQ(r.n_transfers, q.n_transfers);
			ASSERT_EQ(0, memcmp(r.transfers, q.transfers,
					    r.n_transfers * sizeof(*r.transfers)));
			free(b);
			settle_result_free(&q);
		}
		free(a);
		settle_result_free(&r);
	}
	/* the generator must actually exercise matching, not just grids */
	EXPECT_GT(matched_some, (unsigned long)COMMUNITIES / 2);
	TH_LOG("%d communities, %lu transfers, %lu with local matches",
	       COMMUNITIES, transfers, matched_some);
}

/*
 * Pro-rata within rounding: two importers of the same pool that were not
 * capped by headroom got shares within one Wh of demand * lambda, so
 * |got_i * d_j - got_j * d_i| <= d_i + d_j.
 */
TEST(pro_rata_within_rounding)
{
	static struct settle_member m[MAX_MEMBERS];
	uint64_t seed = 42;
	int c;

	for (c = 0; c < 500; c++) {
		struct settle_terms t;
		struct settle_result r;
		size_t n = gen_community(&seed, &t, m, 60), i, j;

		t.fee_ppm = 0;	/* headroom then equals the cap exactly */
		ASSERT_EQ(SETTLE_OK, settle_run(&t, m, n, &r));
		for (i = 0; i < n; i++) {
			const struct settle_summary *x = &r.members[i];

			for (j = i + 1; j < n; j++) {
				const struct settle_summary *y = &r.members[j];
				__int128 lhs;

				if (!x->net_import_wh || !y->net_import_wh ||
				    (x->flags ^ y->flags) & SETTLE_F_CLEAN_ONLY ||
				    x->matched_import_wh >= x->balance_before_wh + x->credit_limit_wh ||
				    y->matched_import_wh >= y->balance_before_wh + y->credit_limit_wh ||
				    x->grid_import_wh == 0 || y->grid_import_wh == 0)
					continue;
				lhs = (__int128)x->matched_import_wh * y->net_import_wh -
				      (__int128)y->matched_import_wh * x->net_import_wh;
				if (lhs < 0)
					lhs = -lhs;
				ASSERT_TRUE(lhs <= (__int128)x->net_import_wh + y->net_import_wh)
					TH_LOG("community %d: %zu and %zu not pro-rata", c, i, j);
			}
		}
		settle_result_free(&r);
	}
}

TEST(empty_community)
{
	struct settle_terms t = { .interval_start = 1, .interval_len_s = 900 };
	struct settle_result r;

	ASSERT_EQ(SETTLE_OK, settle_run(&t, NULL, 0, &r));
	EXPECT_EQ(0u, r.n_transfers);
	EXPECT_EQ(0u, r.n_members);
	settle_result_free(&r);
}

/* ---- bad input ---- */

static void two_members(struct settle_terms *t, struct settle_member m[2])
{
	memset(t, 0, sizeof(*t));
	memset(m, 0, 2 * sizeof(*m));
	memset(m[0].key, 0xaa, SETTLE_KEY_LEN);
	memset(m[1].key, 0xbb, SETTLE_KEY_LEN);
	m[0].export_wh = 100;
	m[1].import_wh = 100;
	m[1].credit_limit_wh = 1000;
}

TEST(bad_input_refused)
{
	struct settle_member m[2];
	struct settle_terms t;
	struct settle_result r;

	two_members(&t, m);
	memset(m[1].key, 0xaa, SETTLE_KEY_LEN);
	EXPECT_EQ(SETTLE_E_DUPLICATE, settle_run(&t, m, 2, &r));
	EXPECT_EQ(0xaa, r.err_key[0]);
	EXPECT_EQ(NULL, r.transfers);
	EXPECT_EQ(NULL, r.members);

	two_members(&t, m);
	m[1].import_wh = -1;
	EXPECT_EQ(SETTLE_E_RANGE, settle_run(&t, m, 2, &r));
	EXPECT_EQ(0xbb, r.err_key[0]);
	m[1].import_wh = SETTLE_WH_MAX + 1;
	EXPECT_EQ(SETTLE_E_RANGE, settle_run(&t, m, 2, &r));

	two_members(&t, m);
	m[0].reserve_wh = -5;
	EXPECT_EQ(SETTLE_E_RANGE, settle_run(&t, m, 2, &r));

	/* measured clean export beyond the export */
	two_members(&t, m);
	m[0].clean_export_wh = m[0].export_wh + 1;
	EXPECT_EQ(SETTLE_E_RANGE, settle_run(&t, m, 2, &r));
	EXPECT_EQ(NULL, r.members);
	m[0].clean_export_wh = -1;
	EXPECT_EQ(SETTLE_E_RANGE, settle_run(&t, m, 2, &r));

	two_members(&t, m);
	m[1].credit_limit_wh = -1;
	EXPECT_EQ(SETTLE_E_BALANCE, settle_run(&t, m, 2, &r));
	m[1].credit_limit_wh = 0;
	m[1].balance_wh = -SETTLE_BALANCE_MAX - 1;
	EXPECT_EQ(SETTLE_E_BALANCE, settle_run(&t, m, 2, &r));

	two_members(&t, m);
	m[0].flags = 1u << 7;
	EXPECT_EQ(SETTLE_E_FLAGS, settle_run(&t, m, 2, &r));

	two_members(&t, m);
	t.loss_ppm = SETTLE_PPM + 1;
	EXPECT_EQ(SETTLE_E_TERMS, settle_run(&t, m, 2, &r));

	two_members(&t, m);
	t.fee_ppm = 10000;
	memset(t.operator_key, 0xcc, SETTLE_KEY_LEN);
	EXPECT_EQ(SETTLE_E_OPERATOR, settle_run(&t, m, 2, &r));
	EXPECT_EQ(0xcc, r.err_key[0]);
	memset(t.operator_key, 0xaa, SETTLE_KEY_LEN);
	EXPECT_EQ(SETTLE_OK, settle_run(&t, m, 2, &r));
	EXPECT_EQ(1, r.fees_wh);	/* 100 Wh at 1 % */
	settle_result_free(&r);

	EXPECT_EQ(SETTLE_E_INVAL, settle_run(&t, m, SETTLE_MEMBERS_MAX + 1, &r));
	EXPECT_EQ(SETTLE_E_INVAL, settle_run(NULL, m, 2, &r));
	EXPECT_EQ(SETTLE_E_INVAL, settle_run(&t, NULL, 2, &r));
	EXPECT_STRNE("unknown settlement error", settle_strerror(SETTLE_E_DUPLICATE));
}

/* The largest values the header allows settle without overflow. */
TEST(bounds)
{
	static struct settle_member m[64];
	struct settle_terms t = { .loss_ppm = 1, .fee_ppm = 999999 };
	struct settle_result r;
	size_t i;

	for (i = 0; i < 64; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		m[i].key[0] = (uint8_t)i;
		m[i].key[31] = 1;
		if (i % 2)
			m[i].export_wh = SETTLE_WH_MAX;
		else
			m[i].import_wh = SETTLE_WH_MAX - (int64_t)i;
		m[i].balance_wh = SETTLE_BALANCE_MAX;
		m[i].credit_limit_wh = SETTLE_BALANCE_MAX;
	}
	memcpy(t.operator_key, m[0].key, SETTLE_KEY_LEN);
	ASSERT_EQ(SETTLE_OK, settle_run(&t, m, 64, &r));
	ASSERT_EQ(NULL, check_invariants(&t, m, 64, &r));
	settle_result_free(&r);
}

/* ---- scenario parser ---- */

#define KEY_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_A64 "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo="

TEST(scenario_errors)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "[community]\nloss_ppm = 1000001\n", "loss_ppm" },
		{ "[community]\nfee_ppm = 12abc\n", "fee_ppm" },
		{ "[community]\nloss = 5\n", "unknown name" },
		{ "[community]\nfee_ppm = 1\nfee_ppm = 2\n", "set twice" },
		{ "[community]\noperator = nope\n", "not a key" },
		{ "[members]\nx = 1\n", "unknown section" },
		{ "[member al]\nkey = 1234\n", "not a key" },
		{ "[member al]\nimport_wh = 3\n", "no key" },
		{ "[member al]\nkey = " KEY_A "\nimport_wh = -3\n", "import_wh" },
		{ "[member al]\nkey = " KEY_A "\nimport_wh = 3\n"
		  "[member al2]\nkey = " KEY_A64 "\nimport_wh = 4\n", "same key" },
		{ "[member al]\nkey = " KEY_A "\nimport_wh = 3\n"
		  "[member al]\nimport_wh = 4\n", "set twice" },
		{ "[member al]\nkey = " KEY_A "\nclean = 2\n", "clean" },
		{ "[member al]\nkey = " KEY_A "\nflavour = 2\n", "unknown name" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct settle_scenario sc;

		settle_scenario_init(&sc);
		EXPECT_EQ(-1, settle_scenario_parse(&sc, cases[i].text))
			TH_LOG("case %zu accepted", i);
		EXPECT_NE(NULL, strstr(sc.err, cases[i].want))
			TH_LOG("case %zu: '%s' lacks '%s'", i, sc.err, cases[i].want);
		settle_scenario_free(&sc);
	}
}

TEST(scenario_override_and_keys)
{
	struct settle_scenario sc;
	uint8_t k[SETTLE_KEY_LEN], k2[SETTLE_KEY_LEN];
	char hex[65];

	settle_scenario_init(&sc);
	ASSERT_EQ(0, settle_scenario_parse(&sc,
		"[member alice]\nkey = " KEY_A64 "\n"
		"import_wh = 10\nclean_only = 1\n")) TH_LOG("%s", sc.err);
	/* a second file overrides the first (terms over meters) */
	ASSERT_EQ(0, settle_scenario_parse(&sc,
		"[member al]\nkey = " KEY_A "\n"
		"clean_only = 0\ncredit_limit_wh = 7\n")) TH_LOG("%s", sc.err);
	ASSERT_EQ(1u, sc.n);
	EXPECT_EQ(10, sc.members[0].import_wh);
	EXPECT_EQ(7, sc.members[0].credit_limit_wh);
	EXPECT_EQ(0u, sc.members[0].flags);
	EXPECT_STREQ("al", settle_scenario_name(&sc, sc.members[0].key));
	settle_scenario_free(&sc);

	/* base64 and hex forms of one key agree; bad padding bits refused */
	ASSERT_EQ(0, settle_key_parse(KEY_A64, k));
	settle_key_hex(k, hex);
	EXPECT_STREQ(KEY_A, hex);
	ASSERT_EQ(0, settle_key_parse(hex, k2));
	EXPECT_EQ(0, memcmp(k, k2, SETTLE_KEY_LEN));
	EXPECT_EQ(-1, settle_key_parse("qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqr=", k));
	EXPECT_EQ(-1, settle_key_parse("", k));
}

TEST_HARNESS_MAIN
