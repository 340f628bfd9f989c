// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Settlement between members. Every member computes the settlement of an
 * interval itself, with settle_run(), from the signed metered entries that
 * anti-entropy brought into its ledger and the balances and declared
 * limits the ledger derives; settle_run() is deterministic over the set of
 * inputs, so members holding the same entries compute the same transfers.
 * The debtor of each transfer proposes it (its half signed, pinned to both
 * chains' next positions); the creditor signs only a transfer its own
 * computation contains, and logs the inputs it used when it does not.
 *
 * The computation of an interval is made once, at its first use, and kept
 * by the caller: balances move as the interval's own transfers are
 * appended, and a later recomputation would no longer be the same one.
 * Terms: no line loss, no operator fee (version 1 has no way to agree on
 * community terms; both are zero for every member).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"
#include "settle/settle.h"
#include "peer.h"

struct gather {
	struct settle_member *m;
	size_t n, cap;
	uint32_t len;
	int err;
};

/*
 * Metered entries of the interval, in (author, seq) order: the community's
 * interval length only (an entry of another length is not this
 * settlement), and an author's first entry only. A second entry for the
 * same interval is the author's mistake or fraud; it must not let one
 * member veto the interval for everyone.
 */
static int meter_cb(const uint8_t author[LEDGER_KEY_BYTES],
		    const struct ledger_meter *mt, void *arg)
{
	struct gather *g = arg;
	struct settle_member *x;

	if (g->len && mt->interval_len != g->len)
		return 0;
	g->len = mt->interval_len;	/* len 0 (tools): the first length seen */
	if (g->n && !memcmp(g->m[g->n - 1].key, author, 32))
		return 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		struct settle_member *m;

		if (cap > SETTLE_MEMBERS_MAX || !(m = realloc(g->m, cap * sizeof(*m)))) {
			g->err = SETTLE_E_NOMEM;
			return 1;
		}
		g->m = m;
		g->cap = cap;
	}
	x = &g->m[g->n++];
	memset(x, 0, sizeof(*x));
	memcpy(x->key, author, 32);
	x->import_wh = mt->wh_import > (uint64_t)SETTLE_WH_MAX ? SETTLE_WH_MAX : (int64_t)mt->wh_import;
	x->export_wh = mt->wh_export > (uint64_t)SETTLE_WH_MAX ? SETTLE_WH_MAX : (int64_t)mt->wh_export;
	/*
	 * The clean part the author signed (docs/settlement.md, "Clean
	 * energy"): the decoder keeps it <= wh_export; clamped with it. An
	 * entry without it (32-byte form) attributes nothing clean.
	 */
	x->clean_export_wh = mt->wh_clean < (uint64_t)x->export_wh ? (int64_t)mt->wh_clean :
			     x->export_wh;
	return 0;
}

static int gather(struct ledger *l, uint64_t start, uint32_t len, struct gather *g)
{
	memset(g, 0, sizeof(*g));
	g->len = len;
	return ledger_foreach_meter(l, start, meter_cb, g);
}

static int64_t clamp_balance(int64_t b)
{
	if (b > SETTLE_BALANCE_MAX)
		return SETTLE_BALANCE_MAX;
	return b < -SETTLE_BALANCE_MAX ? -SETTLE_BALANCE_MAX : b;
}

int peer_settle_compute(struct ledger *l, uint64_t start, uint32_t len,
			struct settle_result *res, char *why, size_t whylen)
{
	struct settle_terms t = { .interval_start = start, .interval_len_s = len };
	struct gather g;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = gather(l, start, len, &g);
	if (ret < 0 || g.err) {
		snprintf(why, whylen, "metered entries at %" PRIu64 ": %s", start,
			 ret < 0 ? strerror(-ret) : settle_strerror(g.err));
		free(g.m);
		return ret < 0 ? ret : -EINVAL;
	}
	for (size_t i = 0; i < g.n; i++) {
		struct ledger_member lm;

		ret = ledger_get_member(l, g.m[i].key, &lm);
		if (ret) {
			snprintf(why, whylen, "balance: %s", ledger_strerror(ret));
			free(g.m);
			return ret < 0 ? ret : -EIO;
		}
		/* beyond the bound the rule cannot tell the difference, and one
		 * member's huge balance must not fail the interval for all */
		g.m[i].balance_wh = clamp_balance(lm.balance_wh);
		g.m[i].credit_limit_wh = lm.limit_wh > (uint64_t)SETTLE_BALANCE_MAX ?
					 SETTLE_BALANCE_MAX : (int64_t)lm.limit_wh;
	}
	t.interval_len_s = g.len;
	ret = settle_run(&t, g.m, g.n, res);
	free(g.m);
	if (ret) {
		snprintf(why, whylen, "settlement: %s", settle_strerror(ret));
		return -EINVAL;
	}
	return 0;
}

const struct settle_transfer *peer_settle_find(const struct settle_result *res,
					       const uint8_t debtor[32],
					       const uint8_t creditor[32])
{
	for (size_t i = 0; i < res->n_transfers; i++) {
		const struct settle_transfer *t = &res->transfers[i];

		if (t->kind == SETTLE_ENERGY && !memcmp(t->debtor, debtor, 32) &&
		    !memcmp(t->creditor, creditor, 32))
			return t;
	}
	return NULL;
}

int peer_settle_describe(struct ledger *l, uint64_t start, uint32_t len, char *buf, size_t cap)
{
	struct gather g;
	size_t o = 0;

	buf[0] = 0;
	if (gather(l, start, len, &g) < 0) {
		free(g.m);
		return -EIO;
	}
	for (size_t i = 0; i < g.n && o < cap; i++) {
		char kt[LEDGER_KEYTEXT_SIZE];
		struct ledger_member lm = { 0 };

		ledger_get_member(l, g.m[i].key, &lm);
		ledger_key_to_text(g.m[i].key, kt);
		o += (size_t)snprintf(buf + o, cap - o, "%s%.16s import %" PRId64 " export %" PRId64
				      " balance %" PRId64 " limit %" PRIu64,
				      i ? "; " : "", kt, g.m[i].import_wh, g.m[i].export_wh,
				      lm.balance_wh, lm.limit_wh);
	}
	free(g.m);
	return 0;
}

int peer_settle_offer(struct ledger *l, const struct ledger_identity *id,
		      const struct settle_transfer *st, struct ledger_transfer *t)
{
	struct ledger_head mine, theirs;
	int ret;

	memset(t, 0, sizeof(*t));
	ret = ledger_get_head(l, id->pk, &mine);
	if (!ret)
		ret = ledger_get_head(l, st->creditor, &theirs);
	if (ret)
		return ret;
	memcpy(t->debtor, id->pk, 32);
	memcpy(t->creditor, st->creditor, 32);
	t->amount_wh = (uint64_t)st->amount_wh;
	t->interval_start = st->interval_start;
	t->debtor_seq = mine.seq + 1;
	memcpy(t->debtor_prev, mine.hash, 32);
	t->creditor_seq = theirs.seq + 1;
	memcpy(t->creditor_prev, theirs.hash, 32);
	return ledger_transfer_sign(t, id->pk, id);
}

int peer_settle_check(struct ledger *l, const struct settle_result *res,
		      const uint8_t me[32], const struct ledger_transfer *t)
{
	const struct settle_transfer *st;
	struct ledger_head h;
	int ret;

	if (memcmp(t->creditor, me, 32))
		return PEER_SETTLE_NOT_MINE;
	st = peer_settle_find(res, t->debtor, t->creditor);
	if (!st || (uint64_t)st->amount_wh != t->amount_wh ||
	    st->interval_start != t->interval_start)
		return PEER_SETTLE_DISAGREE;
	ret = ledger_get_head(l, t->debtor, &h);
	if (ret)
		return ret < 0 ? ret : PEER_SETTLE_STALE;
	if (ledger_transfer_verify_party(t, false, h.key))
		return PEER_SETTLE_FORGED;
	/*
	 * The debtor's position too, as far as we know its chain: a debtor
	 * whose chain moved on cannot also append this transfer there, and
	 * we would hold a credit that nobody owes.
	 */
	if (t->debtor_seq != h.seq + 1 || memcmp(t->debtor_prev, h.hash, 32))
		return PEER_SETTLE_STALE;
	ret = ledger_get_head(l, me, &h);
	if (ret)
		return ret < 0 ? ret : PEER_SETTLE_STALE;
	if (t->creditor_seq != h.seq + 1 || memcmp(t->creditor_prev, h.hash, 32))
		return PEER_SETTLE_STALE;
	return 0;
}

uint64_t peer_settle_deadline(uint64_t start, uint32_t len)
{
	/* the interval's end, then one more interval, at least the minimum */
	return start + len + (len > PEER_SETTLE_WINDOW_MIN_S ? len : PEER_SETTLE_WINDOW_MIN_S);
}

int peer_settle_admit(uint64_t now_s, uint64_t start, uint32_t len)
{
	if (!len || start % len)
		return PEER_SETTLE_UNKNOWN;
	return now_s > peer_settle_deadline(start, len) ? PEER_SETTLE_LATE : 0;
}

bool peer_settle_refusal_from(const struct ledger_transfer *proposed, const uint8_t sender[32])
{
	/* sessions authenticate the sender; only the creditor may refuse */
	return !memcmp(proposed->creditor, sender, 32);
}

struct find_xfer {
	const uint8_t *debtor, *creditor;
	uint64_t interval;
	struct ledger_transfer *out;
};

static int find_xfer_cb(const uint8_t *raw, size_t len, const struct ledger_entry *e,
			const uint8_t hash[LEDGER_HASH_BYTES], void *arg)
{
	struct find_xfer *f = arg;
	const struct ledger_transfer *t = &e->body.transfer;

	(void)raw; (void)len; (void)hash;
	if (e->type != LEDGER_T_TRANSFER || t->interval_start != f->interval ||
	    memcmp(t->debtor, f->debtor, 32) || memcmp(t->creditor, f->creditor, 32))
		return 0;
	*f->out = *t;
	return 1;
}

int peer_settle_find_transfer(struct ledger *l, const uint8_t author[32],
			      const uint8_t debtor[32], const uint8_t creditor[32],
			      uint64_t interval, struct ledger_transfer *out)
{
	struct find_xfer f = { debtor, creditor, interval, out };

	return ledger_foreach_entry(l, author, find_xfer_cb, &f);
}
