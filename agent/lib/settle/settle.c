// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * settle.c - the settlement rule itself (see settle.h and
 * docs/settlement.md). Pure integer arithmetic: every gateway in the
 * community must reach the same transfers from the same entries, so there
 * is no floating point, no clock, and no decision that depends on the order
 * the entries arrived in: members are sorted by key first and every
 * tie-break afterwards is by that order.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "settle.h"

/*
 * 64x64 -> 128-bit helpers. With the documented bounds a share is
 * total * weight / sum with total, sum <= 2^60 and weight <= 2^60, so the
 * product needs up to 120 bits while every quotient fits int64. Compilers
 * for 64-bit targets give us __int128; the portable path (also built by
 * the tests with -DSETTLE_PORTABLE_MATH) keeps 32-bit boards in step.
 */
#if defined(__SIZEOF_INT128__) && !defined(SETTLE_PORTABLE_MATH)
typedef unsigned __int128 u128;

/* floor(a * b / c) and the remainder; a, b >= 0, c > 0, quotient < 2^63. */
static int64_t mul_div(int64_t a, int64_t b, int64_t c, uint64_t *rem)
{
	u128 p = (u128)(uint64_t)a * (uint64_t)b;

	if (rem)
		*rem = (uint64_t)(p % (uint64_t)c);
	return (int64_t)(p / (uint64_t)c);
}

/* Compare a * b with c * d (all >= 0): -1, 0 or 1. */
static int mul_cmp(int64_t a, int64_t b, int64_t c, int64_t d)
{
	u128 l = (u128)(uint64_t)a * (uint64_t)b;
	u128 r = (u128)(uint64_t)c * (uint64_t)d;

	return l < r ? -1 : l > r;
}
#else
struct u128 {
	uint64_t hi, lo;
};

static struct u128 mul64(uint64_t a, uint64_t b)
{
	uint64_t al = a & 0xffffffffu, ah = a >> 32;
	uint64_t bl = b & 0xffffffffu, bh = b >> 32;
	uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
	uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
	struct u128 r;

	r.lo = (mid << 32) | (ll & 0xffffffffu);
	r.hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
	return r;
}

static int64_t mul_div(int64_t a, int64_t b, int64_t c, uint64_t *rem)
{
	struct u128 p = mul64((uint64_t)a, (uint64_t)b);
	uint64_t d = (uint64_t)c, q = 0, r = p.hi;
	int i;

	/*
	 * Long division one bit at a time. The quotient fits 64 bits, so
	 * p.hi < d and the running remainder r < d < 2^63 never overflows
	 * when shifted.
	 */
	for (i = 63; i >= 0; i--) {
		r = (r << 1) | ((p.lo >> i) & 1);
		q <<= 1;
		if (r >= d) {
			r -= d;
			q |= 1;
		}
	}
	if (rem)
		*rem = r;
	return (int64_t)q;
}

static int mul_cmp(int64_t a, int64_t b, int64_t c, int64_t d)
{
	struct u128 l = mul64((uint64_t)a, (uint64_t)b);
	struct u128 r = mul64((uint64_t)c, (uint64_t)d);

	if (l.hi != r.hi)
		return l.hi < r.hi ? -1 : 1;
	return l.lo < r.lo ? -1 : l.lo > r.lo;
}
#endif

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Per member working state, kept in key order. */
struct member_work {
	const struct settle_member *in;
	int64_t net_import, net_export;
	int64_t reserve, loss, avail;	/* avail = offer after loss */
	int64_t clean_avail;		/* of avail, what the clean pool may take */
	int64_t cap;			/* most it may be matched (headroom) */
	int64_t got[2];			/* matched import per pool */
	int64_t gave[2];		/* credited export per pool */
	int64_t fee;
};

/*
 * Scratch for share(), allocated once per run. Each sort entry carries the
 * values its comparison needs, so qsort() needs no context pointer and
 * settle_run() keeps no state outside its arguments (reentrant).
 */
struct share_scratch {
	struct ratio_ent {
		int64_t w, cap;
		size_t idx;
	} *order;		/* entries sorted by cap / w */
	struct rem_ent {
		uint64_t rem;
		size_t idx;
	} *rems;
};

/* Water-filling order: smallest cap relative to weight first. */
static int ratio_cmp(const void *a, const void *b)
{
	const struct ratio_ent *x = a, *y = b;
	int c = mul_cmp(x->cap, y->w, y->cap, x->w);

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int rem_cmp(const void *a, const void *b)
{
	const struct rem_ent *x = a, *y = b;

	if (x->rem != y->rem)
		return x->rem > y->rem ? -1 : 1;	/* largest first */
	return x->idx < y->idx ? -1 : x->idx > y->idx;	/* then key order */
}

/*
 * share() - split @total among @k entries pro-rata to @w, each at most
 * @cap, into @out. Requires total <= sum(min(w, cap)) and cap <= w.
 *
 * Water filling: with lambda = R / W (what is left over the weight of the
 * entries not yet capped), an entry whose cap is below lambda * w is
 * capped; capping one never lowers lambda, so walking the entries in
 * ascending cap/w order and stopping at the first that fits reaches the
 * same fixed point as "cap, redistribute, repeat". The rest get
 * floor(R * w / W), and the R - sum(floor) Wh left over (fewer than the
 * number of entries) go one each to the largest remainders, ties in key
 * order. Entries are in key order on entry, so index order is key order.
 */
static void share(int64_t total, const int64_t *w, const int64_t *cap,
		  int64_t *out, size_t k, struct share_scratch *s)
{
	int64_t R = total, W = 0, left;
	size_t i, nu = 0, first = 0, nr = 0;

	for (i = 0; i < k; i++) {
		out[i] = 0;
		if (w[i] > 0) {
			s->order[nu].w = w[i];
			s->order[nu].cap = cap[i];
			s->order[nu].idx = i;
			nu++;
			W += w[i];
		}
	}
	if (!R || !W)
		return;
	qsort(s->order, nu, sizeof(*s->order), ratio_cmp);
	for (first = 0; first < nu; first++) {
		i = s->order[first].idx;
		/* share R * w / W >= cap: capped (equality gives the same) */
		if (mul_cmp(R, w[i], cap[i], W) < 0)
			break;
		out[i] = cap[i];
		R -= cap[i];
		W -= w[i];
	}
	if (first == nu)
		return;	/* everyone capped: R is 0 by the precondition */
	left = R;
	for (; first < nu; first++) {
		uint64_t rem;

		i = s->order[first].idx;
		out[i] = mul_div(R, w[i], W, &rem);
		left -= out[i];
		s->rems[nr].rem = rem;
		s->rems[nr].idx = i;
		nr++;
	}
	qsort(s->rems, nr, sizeof(*s->rems), rem_cmp);
	for (i = 0; left > 0; i++, left--)
		out[s->rems[i].idx]++;
}

static int key_cmp(const void *a, const void *b)
{
	const struct settle_member *x = *(const struct settle_member *const *)a;
	const struct settle_member *y = *(const struct settle_member *const *)b;

	return memcmp(x->key, y->key, SETTLE_KEY_LEN);
}

static int transfer_cmp(const void *a, const void *b)
{
	const struct settle_transfer *x = a, *y = b;
	int c = memcmp(x->debtor, y->debtor, SETTLE_KEY_LEN);

	if (!c)
		c = memcmp(x->creditor, y->creditor, SETTLE_KEY_LEN);
	if (!c)
		c = (x->kind > y->kind) - (x->kind < y->kind);
	return c;
}

static int64_t fee_of(int64_t m, uint32_t fee_ppm)
{
	return mul_div(m, fee_ppm, SETTLE_PPM, NULL);
}

/* Largest m with m + fee(m) <= headroom (fee rounds down, so look up). */
static int64_t max_match(int64_t headroom, uint32_t fee_ppm)
{
	int64_t m;

	if (headroom <= 0)
		return 0;
	m = mul_div(headroom, SETTLE_PPM, (int64_t)SETTLE_PPM + fee_ppm, NULL);
	while (m + 1 + fee_of(m + 1, fee_ppm) <= headroom)
		m++;
	return m;
}

static int check_member(const struct settle_member *m)
{
	if (m->flags & ~(uint32_t)__SETTLE_F_ALL)
		return SETTLE_E_FLAGS;
	if (m->import_wh < 0 || m->import_wh > SETTLE_WH_MAX ||
	    m->export_wh < 0 || m->export_wh > SETTLE_WH_MAX ||
	    m->reserve_wh < 0 || m->reserve_wh > SETTLE_WH_MAX ||
	    m->clean_export_wh < 0 || m->clean_export_wh > m->export_wh)
		return SETTLE_E_RANGE;
	if (m->balance_wh < -SETTLE_BALANCE_MAX ||
	    m->balance_wh > SETTLE_BALANCE_MAX ||
	    m->credit_limit_wh < 0 || m->credit_limit_wh > SETTLE_BALANCE_MAX)
		return SETTLE_E_BALANCE;
	return SETTLE_OK;
}

/* Scratch arrays for one run; one allocation each, freed together. */
struct run {
	const struct settle_member **sorted;
	struct member_work *mw;
	int64_t *w, *cap, *out;
	size_t *idx;
	struct share_scratch s;
};

static void run_free(struct run *r)
{
	free(r->sorted);
	free(r->mw);
	free(r->w);
	free(r->cap);
	free(r->out);
	free(r->idx);
	free(r->s.order);
	free(r->s.rems);
}

static int run_alloc(struct run *r, size_t n)
{
	size_t k = n ? n : 1;

	memset(r, 0, sizeof(*r));
	r->sorted = calloc(k, sizeof(*r->sorted));
	r->mw = calloc(k, sizeof(*r->mw));
	r->w = calloc(k, sizeof(*r->w));
	r->cap = calloc(k, sizeof(*r->cap));
	r->out = calloc(k, sizeof(*r->out));
	r->idx = calloc(k, sizeof(*r->idx));
	r->s.order = calloc(k, sizeof(*r->s.order));
	r->s.rems = calloc(k, sizeof(*r->s.rems));
	if (!r->sorted || !r->mw || !r->w || !r->cap || !r->out || !r->idx ||
	    !r->s.order || !r->s.rems) {
		run_free(r);
		return SETTLE_E_NOMEM;
	}
	return SETTLE_OK;
}

/*
 * One pool: @pool 0 is clean-only importers against clean exporters, 1 is
 * everyone else against what is left. Fills got[pool] and gave[pool] and
 * appends the north-west-corner energy transfers.
 */
static void settle_pool(struct run *r, size_t n, int pool,
			const struct settle_terms *t, struct settle_transfer *tr,
			size_t *ntr)
{
	struct member_work *mw = r->mw;
	int64_t demand = 0, offer = 0, matched;
	size_t i, k, ni = 0, ne = 0, a, b;

	/* importers of this pool, key order */
	for (i = 0; i < n; i++) {
		bool clean_only = mw[i].in->flags & SETTLE_F_CLEAN_ONLY;

		if (!mw[i].net_import || clean_only != (pool == 0))
			continue;
		r->idx[ni] = i;
		r->w[ni] = mw[i].net_import;
		r->cap[ni] = mw[i].cap;
		demand += mw[i].cap;
		ni++;
	}
	/* exporters of this pool: what they still have available (the
	 * clean pool runs first, so there it is the clean part) */
	for (i = 0; i < n; i++) {
		int64_t left = pool == 0 ? mw[i].clean_avail : mw[i].avail - mw[i].gave[0];

		if (left > 0)
			offer += left;
	}
	matched = min64(demand, offer);
	if (!matched)
		return;

	share(matched, r->w, r->cap, r->out, ni, &r->s);
	for (k = 0; k < ni; k++)
		mw[r->idx[k]].got[pool] = r->out[k];

	for (i = 0; i < n; i++) {
		int64_t left = pool == 0 ? mw[i].clean_avail : mw[i].avail - mw[i].gave[0];

		if (left <= 0)
			continue;
		r->idx[ne] = i;
		r->w[ne] = left;
		r->cap[ne] = left;
		ne++;
	}
	/* matched <= offer, so no exporter reaches its cap: plain pro-rata */
	share(matched, r->w, r->cap, r->out, ne, &r->s);
	for (k = 0; k < ne; k++)
		mw[r->idx[k]].gave[pool] = r->out[k];

	/*
	 * North-west corner: walk importers and exporters in key order,
	 * each transfer exhausting one side. Both sides sum to @matched, so
	 * the walk ends together and gives at most I + E - 1 transfers.
	 * Importers and exporters are disjoint after netting, so no member
	 * ever pays itself.
	 */
	a = 0;
	b = 0;
	{
		int64_t need = 0, have = 0;

		while (1) {
			while (!need && a < n) {
				bool co = mw[a].in->flags & SETTLE_F_CLEAN_ONLY;

				if (mw[a].net_import && co == (pool == 0))
					need = mw[a].got[pool];
				if (!need)
					a++;
			}
			while (!have && b < n) {
				have = mw[b].gave[pool];
				if (!have)
					b++;
			}
			if (a >= n || b >= n)
				break;
			{
				int64_t x = min64(need, have);
				struct settle_transfer *o = &tr[(*ntr)++];

				memcpy(o->debtor, mw[a].in->key, SETTLE_KEY_LEN);
				memcpy(o->creditor, mw[b].in->key,
				       SETTLE_KEY_LEN);
				o->amount_wh = x;
				o->interval_start = t->interval_start;
				o->interval_len_s = t->interval_len_s;
				o->kind = SETTLE_ENERGY;
				need -= x;
				have -= x;
				if (!need)
					a++;
				if (!have)
					b++;
			}
		}
	}
}

int settle_run(const struct settle_terms *t,
	       const struct settle_member *members, size_t n,
	       struct settle_result *res)
{
	struct settle_transfer *tr = NULL;
	struct settle_summary *sum = NULL;
	struct member_work *mw;
	struct run r;
	size_t i, ntr = 0;
	size_t op = SIZE_MAX;	/* operator's index, if a member */
	int err;

	if (!res)
		return SETTLE_E_INVAL;
	memset(res, 0, sizeof(*res));
	if (!t || (n && !members) || n > SETTLE_MEMBERS_MAX)
		return SETTLE_E_INVAL;
	if (t->loss_ppm > SETTLE_PPM || t->fee_ppm > SETTLE_PPM)
		return SETTLE_E_TERMS;
	for (i = 0; i < n; i++) {
		err = check_member(&members[i]);
		if (err) {
			memcpy(res->err_key, members[i].key, SETTLE_KEY_LEN);
			return err;
		}
	}

	err = run_alloc(&r, n);
	if (err)
		return err;
	tr = calloc(3 * n + 1, sizeof(*tr));
	sum = calloc(n ? n : 1, sizeof(*sum));
	if (!tr || !sum) {
		err = SETTLE_E_NOMEM;
		goto err_free;
	}

	/* Key order is the only order: sort, then refuse duplicates. */
	for (i = 0; i < n; i++)
		r.sorted[i] = &members[i];
	qsort(r.sorted, n, sizeof(*r.sorted), key_cmp);
	for (i = 1; i < n; i++) {
		if (!memcmp(r.sorted[i - 1]->key, r.sorted[i]->key,
			    SETTLE_KEY_LEN)) {
			memcpy(res->err_key, r.sorted[i]->key, SETTLE_KEY_LEN);
			err = SETTLE_E_DUPLICATE;
			goto err_free;
		}
	}
	for (i = 0; i < n; i++)
		if (!memcmp(r.sorted[i]->key, t->operator_key, SETTLE_KEY_LEN))
			op = i;
	if (t->fee_ppm && op == SIZE_MAX) {
		memcpy(res->err_key, t->operator_key, SETTLE_KEY_LEN);
		err = SETTLE_E_OPERATOR;
		goto err_free;
	}

	/* Self-supply, reserve, loss and headroom per member. */
	mw = r.mw;
	for (i = 0; i < n; i++) {
		const struct settle_member *m = r.sorted[i];
		int64_t self = min64(m->import_wh, m->export_wh), offer;
		uint32_t fee_ppm = i == op ? 0 : t->fee_ppm;

		mw[i].in = m;
		mw[i].net_import = m->import_wh - self;
		mw[i].net_export = m->export_wh - self;
		mw[i].reserve = min64(m->reserve_wh, mw[i].net_export);
		offer = mw[i].net_export - mw[i].reserve;
		/* loss rounds up: never credit energy that may have been lost */
		mw[i].loss = offer - mul_div(offer, SETTLE_PPM - t->loss_ppm,
					     SETTLE_PPM, NULL);
		mw[i].avail = offer - mw[i].loss;
		/*
		 * The clean part: netting, reserve and loss take clean and
		 * other energy alike, so the clean share of what is left is
		 * the clean share of the export, rounded down (never credit
		 * as clean what may not have been).
		 */
		if (m->flags & SETTLE_F_CLEAN)
			mw[i].clean_avail = mw[i].avail;
		else if (m->clean_export_wh && m->export_wh)
			mw[i].clean_avail = mul_div(mw[i].avail, m->clean_export_wh,
						    m->export_wh, NULL);
		mw[i].cap = min64(mw[i].net_import,
				  max_match(m->balance_wh + m->credit_limit_wh,
					    fee_ppm));
	}

	settle_pool(&r, n, 0, t, tr, &ntr);
	settle_pool(&r, n, 1, t, tr, &ntr);

	for (i = 0; i < n; i++) {
		int64_t got = mw[i].got[0] + mw[i].got[1];

		res->matched_wh += got;
		if (i == op || !got)
			continue;
		mw[i].fee = fee_of(got, t->fee_ppm);
		if (!mw[i].fee)
			continue;
		memcpy(tr[ntr].debtor, mw[i].in->key, SETTLE_KEY_LEN);
		memcpy(tr[ntr].creditor, t->operator_key, SETTLE_KEY_LEN);
		tr[ntr].amount_wh = mw[i].fee;
		tr[ntr].interval_start = t->interval_start;
		tr[ntr].interval_len_s = t->interval_len_s;
		tr[ntr].kind = SETTLE_FEE;
		ntr++;
		res->fees_wh += mw[i].fee;
	}
	qsort(tr, ntr, sizeof(*tr), transfer_cmp);

	for (i = 0; i < n; i++) {
		const struct settle_member *m = mw[i].in;
		struct settle_summary *s = &sum[i];
		int64_t got = mw[i].got[0] + mw[i].got[1];
		int64_t gave = mw[i].gave[0] + mw[i].gave[1];

		memcpy(s->key, m->key, SETTLE_KEY_LEN);
		s->flags = m->flags;
		s->clean_export_wh = m->clean_export_wh;
		s->clean_avail_wh = mw[i].clean_avail;
		s->import_wh = m->import_wh;
		s->export_wh = m->export_wh;
		s->self_wh = m->import_wh - mw[i].net_import;
		s->net_import_wh = mw[i].net_import;
		s->net_export_wh = mw[i].net_export;
		s->reserve_wh = mw[i].reserve;
		s->loss_wh = mw[i].loss;
		s->matched_import_wh = got;
		s->matched_export_wh = gave;
		s->grid_import_wh = mw[i].net_import - got;
		s->grid_export_wh = mw[i].net_export - gave;
		s->fee_paid_wh = mw[i].fee;
		s->fee_received_wh = i == op ? res->fees_wh : 0;
		s->credit_limit_wh = m->credit_limit_wh;
		s->balance_before_wh = m->balance_wh;
		s->balance_after_wh = m->balance_wh + gave - got - mw[i].fee +
				      s->fee_received_wh;
	}

	res->terms = *t;
	res->transfers = tr;
	res->n_transfers = ntr;
	res->members = sum;
	res->n_members = n;
	run_free(&r);
	return SETTLE_OK;

err_free:
	free(tr);
	free(sum);
	run_free(&r);
	return err;
}

void settle_result_free(struct settle_result *res)
{
	if (!res)
		return;
	free(res->transfers);
	free(res->members);
	res->transfers = NULL;
	res->members = NULL;
	res->n_transfers = 0;
	res->n_members = 0;
}

const char *settle_strerror(int err)
{
	switch (err) {
	case SETTLE_OK:
		return "success";
	case SETTLE_E_INVAL:
		return "invalid arguments or too many members";
	case SETTLE_E_TERMS:
		return "loss_ppm and fee_ppm must be at most 1000000";
	case SETTLE_E_DUPLICATE:
		return "the same member appears twice";
	case SETTLE_E_RANGE:
		return "import, export and reserve must be 0 .. 2^40 Wh";
	case SETTLE_E_BALANCE:
		return "balance must be within +-2^50 Wh and credit limit 0 .. 2^50 Wh";
	case SETTLE_E_FLAGS:
		return "unknown member flags";
	case SETTLE_E_OPERATOR:
		return "a fee is set but the operator is not a member";
	case SETTLE_E_NOMEM:
		return "out of memory";
	}
	return "unknown settlement error";
}
