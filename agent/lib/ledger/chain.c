// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Chain validation: the rules of docs/ledger.md, "Validation", in the order
 * given there, and forks.
 *
 * Every rule reads state first and writes nothing until the entry has passed
 * them all, so a refused entry leaves the database exactly as it was and a
 * batch needs no savepoint per entry (the ingest benchmark measures
 * signature checks, not bookkeeping).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ledger.h"
#include "ledger_int.h"

static const uint8_t zero_hash[LEDGER_HASH_BYTES];

/* The key that signs for @party's entry at @seq, as far as this ledger knows. */
static int key_at(struct ledger *l, const uint8_t party[32], uint64_t seq, uint8_t key[32])
{
	struct chain_state c;
	int ret;

	ret = store_entry_at(l, party, seq, NULL, NULL, NULL, key);
	if (ret != -ENOENT)
		return ret;
	/* Not stored yet: the key in force after the head (later rotations,
	 * if any, are not known here and would make the check fail). */
	ret = store_chain(l, party, &c);
	if (!ret)
		memcpy(key, c.key, 32);
	return ret;
}

/*
 * Slot (@party, @seq) is promised to transfer @id (NULL: to the entry with
 * hash @hash): no other stored entry or transfer may hold it, and the
 * party's entry at @seq - 1, where known, must be @prev.
 */
static int check_slot(struct ledger *l, const uint8_t party[32], uint64_t seq,
		      const uint8_t prev[32], const uint8_t *id)
{
	uint8_t raw[LEDGER_ENTRY_MAX], hash[32], other_prev[32], other_id[32];
	struct ledger_entry e;
	size_t len;
	bool found;
	int ret;

	ret = store_claim(l, party, seq, id, other_prev, &found);
	if (ret)
		return ret;
	if (found)
		return LEDGER_E_DOUBLE_SPEND;
	ret = store_entry_at(l, party, seq, raw, &len, NULL, NULL);
	if (!ret) {
		if (ledger_entry_decode(raw, len, &e))
			return -EBADMSG;
		if (e.type != LEDGER_T_TRANSFER)
			return LEDGER_E_DOUBLE_SPEND;
		ledger_transfer_id(&e.body.transfer, other_id);
		if (memcmp(other_id, id, 32))
			return LEDGER_E_DOUBLE_SPEND;
	} else if (ret != -ENOENT) {
		return ret;
	}
	if (seq == 1)
		return memcmp(prev, zero_hash, 32) ? LEDGER_E_DOUBLE_SPEND : 0;
	ret = store_entry_at(l, party, seq - 1, NULL, NULL, hash, NULL);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	return memcmp(hash, prev, 32) ? LEDGER_E_DOUBLE_SPEND : 0;
}

static int check_transfer(struct ledger *l, const struct ledger_entry *e, const struct chain_state *c)
{
	const struct ledger_transfer *t = &e->body.transfer;
	bool author_debtor = !memcmp(e->author, t->debtor, 32);
	bool author_creditor = !memcmp(e->author, t->creditor, 32);
	uint8_t id[32], key[32];
	struct chain_state dc;
	int64_t bal;
	int ret;

	if (!author_debtor && !author_creditor)
		return LEDGER_E_NOT_PARTY;
	/* The author's own copy sits exactly where the author promised it. */
	if (author_debtor ? (e->seq != t->debtor_seq || memcmp(e->prev, t->debtor_prev, 32))
			  : (e->seq != t->creditor_seq || memcmp(e->prev, t->creditor_prev, 32)))
		return LEDGER_E_DOUBLE_SPEND;

	/* Both signatures; the author's key is the chain's key in force. */
	if (author_debtor)
		memcpy(key, c->key, 32);
	else if ((ret = key_at(l, t->debtor, t->debtor_seq, key)))
		return ret;
	if (ledger_transfer_verify_party(t, false, key))
		return LEDGER_E_COUNTERSIG;
	if (author_creditor)
		memcpy(key, c->key, 32);
	else if ((ret = key_at(l, t->creditor, t->creditor_seq, key)))
		return ret;
	if (ledger_transfer_verify_party(t, true, key))
		return LEDGER_E_COUNTERSIG;

	ledger_transfer_id(t, id);
	ret = check_slot(l, t->debtor, t->debtor_seq, t->debtor_prev, id);
	if (!ret)
		ret = check_slot(l, t->creditor, t->creditor_seq, t->creditor_prev, id);
	if (ret)
		return ret;

	/*
	 * The credit limit is judged on the debtor's chain alone (its earlier
	 * transfers and its latest limit entry), so every member reaches the
	 * same verdict whatever order it learnt the chains in. Checkable once
	 * the debtor's chain reaches the slot just before the transfer.
	 */
	if (author_debtor) {
		dc = *c;
	} else {
		ret = store_chain(l, t->debtor, &dc);
		if (ret)
			return ret;
		if (dc.head_seq + 1 != t->debtor_seq)
			return 0;
	}
	ret = store_balance_before(l, t->debtor, t->debtor_seq, &bal);
	if (ret)
		return ret;
	if (bal - (int64_t)t->amount_wh < -(int64_t)dc.limit_wh)
		return LEDGER_E_LIMIT;
	return 0;
}

/* Both entries of a fork proof must be signed by their author's key. */
static int check_fork_proof(struct ledger *l, const struct ledger_fork *f)
{
	struct ledger_entry a, b;
	uint8_t key[32];
	int ret;

	if (ledger_entry_decode(f->a, f->a_len, &a) || ledger_entry_decode(f->b, f->b_len, &b))
		return LEDGER_E_BAD_PROOF;
	ret = key_at(l, a.author, a.seq, key);
	if (ret)
		return ret;
	if (crypto_sign_verify_detached(a.sig, f->a, f->a_len - 64, key) ||
	    crypto_sign_verify_detached(b.sig, f->b, f->b_len - 64, key))
		return LEDGER_E_BAD_PROOF;
	return 0;
}

/*
 * An entry for a sequence number we already hold: the same entry again is
 * a replay; a different one, validly signed, is a fork and is kept as
 * evidence. An unsigned "conflict" proves nothing and is refused, or anyone
 * could get any member flagged.
 */
static int handle_old_seq(struct ledger *l, const struct ledger_entry *e, const uint8_t *raw,
			  size_t len, const uint8_t hash[32])
{
	uint8_t old[LEDGER_ENTRY_MAX], old_hash[32], signer[32];
	size_t old_len;
	int ret;

	ret = store_entry_at(l, e->author, e->seq, old, &old_len, old_hash, signer);
	if (ret)
		return ret == -ENOENT ? -EBADMSG : ret;
	if (!memcmp(old_hash, hash, 32))
		return LEDGER_E_REPLAY;
	if (crypto_sign_verify_detached(e->sig, raw, len - 64, signer))
		return LEDGER_E_SIGNATURE;
	/*
	 * Kept even when one side is itself a fork proof: such a pair cannot
	 * be republished as a proof entry (proofs do not nest), but it still
	 * shows the author signed two histories.
	 */
	ret = store_put_fork(l, e->author, e->seq, old, old_len, raw, len);
	return ret ? ret : LEDGER_E_FORK;
}

/* Validate one decoded entry and, if it passes, store it and what derives from it. */
static int accept(struct ledger *l, const struct ledger_entry *e, const uint8_t *raw, size_t len)
{
	uint8_t hash[32], claim_prev[32], signer[32];
	struct chain_state c;
	bool found;
	int ret;

	ledger_hash(raw, len, hash);
	ret = store_chain(l, e->author, &c);
	if (ret)
		return ret;
	if (e->seq <= c.head_seq)
		return handle_old_seq(l, e, raw, len, hash);
	if (e->seq != c.head_seq + 1)
		return LEDGER_E_SEQ_GAP;
	if (memcmp(e->prev, c.head_hash, 32))
		return LEDGER_E_BACKLINK;
	if (e->timestamp_ms < c.head_ts)
		return LEDGER_E_TIME;
	memcpy(signer, c.key, 32);
	if (crypto_sign_verify_detached(e->sig, raw, len - 64, signer))
		return LEDGER_E_SIGNATURE;

	switch (e->type) {
	case LEDGER_T_TRANSFER:
		ret = check_transfer(l, e, &c);
		break;
	case LEDGER_T_ROTATE:
		ret = ledger_rotate_check(e);
		break;
	case LEDGER_T_ENROL:
		ret = ledger_enrol_check(e);
		break;
	case LEDGER_T_FORK:
		ret = check_fork_proof(l, &e->body.fork);
		break;
	default:
		ret = 0;
	}
	if (ret)
		return ret;
	/*
	 * A transfer may have promised this slot, or the one after it (to
	 * follow this very entry). claim_max spares the lookup when no
	 * transfer reaches this far; else one index probe answers both.
	 */
	found = false;
	if (c.claim_max >= e->seq) {
		ret = store_any_claim(l, e->author, e->seq, &found);
		if (ret)
			return ret;
	}
	if (found && e->type != LEDGER_T_TRANSFER) {
		ret = store_claim(l, e->author, e->seq, NULL, claim_prev, &found);
		if (ret)
			return ret;
		if (found)
			return LEDGER_E_DOUBLE_SPEND;
	}
	if (found) {
		ret = store_claim(l, e->author, e->seq + 1, NULL, claim_prev, &found);
		if (ret)
			return ret;
		if (found && memcmp(claim_prev, hash, 32))
			return LEDGER_E_DOUBLE_SPEND;
	}

	/* Passed: from here on only writes, whose failure aborts the transaction. */
	ret = store_put_entry(l, e, raw, len, hash, signer);
	if (ret)
		return ret;
	c.head_seq = e->seq;
	memcpy(c.head_hash, hash, 32);
	c.head_ts = e->timestamp_ms;
	switch (e->type) {
	case LEDGER_T_METER:
		ret = store_put_meter(l, e);
		break;
	case LEDGER_T_TRANSFER: {
		uint8_t id[32];

		ledger_transfer_id(&e->body.transfer, id);
		ret = store_put_transfer(l, &e->body.transfer, id);
		/* Our row is written last, from @c: keep the claim just made. */
		if (c.claim_max < e->seq)
			c.claim_max = e->seq;
		break;
	}
	case LEDGER_T_LIMIT:
		c.limit_wh = e->body.limit.limit_wh;
		break;
	case LEDGER_T_ROTATE:
		memcpy(c.key, e->body.rotate.new_key, 32);
		break;
	case LEDGER_T_FORK: {
		const struct ledger_fork *f = &e->body.fork;
		struct ledger_entry a;

		ledger_entry_decode(f->a, f->a_len, &a);
		ret = store_put_fork(l, a.author, a.seq, f->a, f->a_len, f->b, f->b_len);
		/* The proof may be about the author itself. */
		if (!ret && !memcmp(a.author, e->author, 32))
			c.flagged = true;
		break;
	}
	}
	if (ret)
		return ret;
	return store_put_chain(l, e->author, &c);
}

/*
 * A write transaction of our own, or a savepoint inside the caller's. Ours
 * is BEGIN IMMEDIATE: taking the write lock up front means a concurrent
 * writer makes us wait (busy timeout) instead of failing halfway.
 */
static int tx_begin(struct ledger *l, bool *own)
{
	*own = sqlite3_get_autocommit(l->db);
	return store_exec(l, *own ? "BEGIN IMMEDIATE" : "SAVEPOINT ledger");
}

static int tx_end(struct ledger *l, bool own, int ret)
{
	if (ret >= 0 && !(ret = store_exec(l, own ? "COMMIT" : "RELEASE ledger")))
		return 0;
	if (own) {
		store_exec(l, "ROLLBACK");
	} else {
		store_exec(l, "ROLLBACK TO ledger");
		store_exec(l, "RELEASE ledger");
	}
	return ret;
}

int ledger_begin(struct ledger *l)
{
	return l->rdonly ? -EROFS : store_exec(l, "BEGIN IMMEDIATE");
}

int ledger_commit(struct ledger *l)
{
	int ret = store_exec(l, "COMMIT");

	if (ret)
		store_exec(l, "ROLLBACK");
	return ret;
}

void ledger_rollback(struct ledger *l)
{
	store_exec(l, "ROLLBACK");
}

static int ingest_one(struct ledger *l, const uint8_t *raw, size_t len)
{
	struct ledger_entry e;
	int ret;

	ret = ledger_entry_decode(raw, len, &e);
	return ret ? ret : accept(l, &e, raw, len);
}

int ledger_ingest(struct ledger *l, struct ledger_blob *blobs, size_t n)
{
	int ret, stored = 0;
	bool own;
	size_t i;

	if (l->rdonly)
		return -EROFS;
	ret = tx_begin(l, &own);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		ret = ingest_one(l, blobs[i].buf, blobs[i].len);
		if (ret < 0)
			break;
		blobs[i].status = ret;
		if (ret == 0 || ret == LEDGER_E_FORK)
			stored++;
	}
	ret = tx_end(l, own, ret < 0 ? ret : 0);
	return ret ? ret : stored;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ledger_append(struct ledger *l, const uint8_t author[LEDGER_KEY_BYTES],
		  const struct ledger_identity *id, struct ledger_entry *e,
		  uint8_t hash[LEDGER_HASH_BYTES])
{
	uint8_t raw[LEDGER_ENTRY_MAX];
	struct chain_state c;
	size_t len;
	bool own;
	int ret;

	if (l->rdonly)
		return -EROFS;
	ret = tx_begin(l, &own);
	if (ret)
		return ret;
	ret = store_chain(l, author, &c);
	if (ret)
		goto out;
	e->version = LEDGER_FORMAT_VERSION;
	memcpy(e->author, author, 32);
	e->seq = c.head_seq + 1;
	memcpy(e->prev, c.head_hash, 32);
	if (!e->timestamp_ms) {
		e->timestamp_ms = now_ms();
		/* A clock stepped back must not make our own chain invalid. */
		if (e->timestamp_ms < c.head_ts)
			e->timestamp_ms = c.head_ts;
	}
	ret = ledger_entry_sign(e, id);
	if (!ret)
		ret = ledger_entry_encode(e, raw, sizeof(raw), &len);
	/* Our own entries pass exactly the checks a peer will apply. */
	if (!ret)
		ret = ingest_one(l, raw, len);
out:
	/* A refused entry (ret > 0) is rolled back like a failure. */
	if (ret) {
		tx_end(l, own, -1);
		return ret;
	}
	ret = tx_end(l, own, 0);
	if (!ret && hash)
		ledger_hash(raw, len, hash);
	return ret;
}

/* ---- ledger_verify ---- */

struct verify_ctx {
	struct ledger *orig, *fresh;
	bool reverse;		/* walking fresh: report only what orig lacks */
	ledger_problem_cb cb;
	void *arg;
	int problems;
};

static void problem(struct verify_ctx *v, const uint8_t *author, uint64_t seq, const char *what)
{
	v->problems++;
	if (v->cb)
		v->cb(author, seq, what, v->arg);
}

static int verify_entry(const uint8_t *raw, size_t len, const struct ledger_entry *e,
			const uint8_t hash[32], void *arg)
{
	struct verify_ctx *v = arg;
	uint8_t stored_hash[32];
	int ret;

	ret = store_entry_at(v->orig, e->author, e->seq, NULL, NULL, stored_hash, NULL);
	if (ret)
		return ret;
	if (memcmp(stored_hash, hash, 32))
		problem(v, e->author, e->seq, "stored hash does not match the entry");
	ret = accept(v->fresh, e, raw, len);
	if (ret < 0)
		return ret;
	if (ret)
		problem(v, e->author, e->seq, ledger_strerror(ret));
	return 0;
}

static int verify_fork(const uint8_t author[32], uint64_t seq, const uint8_t *a, size_t a_len,
		       const uint8_t *b, size_t b_len, void *arg)
{
	struct verify_ctx *v = arg;
	struct ledger_entry ea, eb;
	uint8_t key[32];
	int ret;

	if (ledger_entry_decode(a, a_len, &ea) || ledger_entry_decode(b, b_len, &eb) ||
	    memcmp(ea.author, author, 32) || memcmp(eb.author, author, 32) ||
	    ea.seq != seq || eb.seq != seq || bytes_cmp(a, a_len, b, b_len) >= 0) {
		problem(v, author, seq, "malformed fork evidence");
		return 0;
	}
	ret = key_at(v->fresh, author, seq, key);
	if (ret)
		return ret;
	if (crypto_sign_verify_detached(ea.sig, a, a_len - 64, key) ||
	    crypto_sign_verify_detached(eb.sig, b, b_len - 64, key)) {
		problem(v, author, seq, "fork evidence not signed by the author");
		return 0;
	}
	return store_put_fork(v->fresh, author, seq, a, a_len, b, b_len);
}

static int compare_member(const struct ledger_member *m, void *arg)
{
	struct verify_ctx *v = arg;
	struct ledger_member f;
	struct chain_state oc, fc;
	int ret;

	ret = ledger_get_member(v->fresh, m->key, &f);
	if (!ret)
		ret = store_chain(v->orig, m->key, &oc);
	if (!ret)
		ret = store_chain(v->fresh, m->key, &fc);
	if (ret)
		return ret;
	if (v->reverse) {
		if (!f.head_seq && !f.balance_wh && !f.limit_wh && !f.flagged)
			problem(v, m->key, 0, "chain state missing from the store");
		return 0;
	}
	if (f.balance_wh != m->balance_wh)
		problem(v, m->key, 0, "stored balance differs from the transfers");
	if (f.limit_wh != m->limit_wh || f.flagged != m->flagged || oc.head_seq != fc.head_seq ||
	    memcmp(oc.head_hash, fc.head_hash, 32) || memcmp(oc.key, fc.key, 32))
		problem(v, m->key, 0, "stored chain state differs from the entries");
	return 0;
}

static int sum_member(const struct ledger_member *m, void *arg)
{
	*(int64_t *)arg += m->balance_wh;
	return 0;
}

int ledger_verify(struct ledger *l, ledger_problem_cb cb, void *arg)
{
	struct verify_ctx v = { .orig = l, .cb = cb, .arg = arg };
	int64_t sum = 0;
	int ret;

	ret = ledger_open(":memory:", LEDGER_O_CREATE, &v.fresh);
	if (ret)
		return ret;
	ret = store_exec(v.fresh, "BEGIN");
	if (!ret)
		ret = ledger_foreach_entry(l, NULL, verify_entry, &v);
	if (ret == -EBADMSG) {
		/* An entry that no longer decodes: report, and stop replaying. */
		problem(&v, NULL, 0, "a stored entry does not decode");
		ret = 0;
	}
	if (!ret)
		ret = ledger_foreach_fork(l, verify_fork, &v);
	if (!ret)
		ret = ledger_foreach_member(l, compare_member, &v);
	if (!ret) {
		/* The other direction: something derived that the store lacks. */
		struct verify_ctx w = v;

		w.orig = v.fresh;
		w.fresh = l;
		w.reverse = true;
		ret = ledger_foreach_member(v.fresh, compare_member, &w);
		v.problems = w.problems;
	}
	if (!ret)
		ret = ledger_foreach_member(l, sum_member, &sum);
	if (!ret && sum != 0)
		problem(&v, NULL, 0, "balances do not sum to zero");
	ledger_close(v.fresh);
	return ret ? ret : v.problems;
}
