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
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ledger.h"
#include "ledger_int.h"

static const uint8_t zero_hash[LEDGER_HASH_BYTES];

static uint64_t now_ms(const struct ledger *l)
{
	struct timespec ts;

	if (l->fixed_now_ms)
		return l->fixed_now_ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The entry signature under @key: checked ahead if it was, else now. */
static bool sig_ok(const struct ledger *l, const struct ledger_entry *e, const uint8_t *raw,
		   size_t len, const uint8_t key[32])
{
	const struct preverify *p = l->pre;

	if (p && p->raw == raw && p->len == len && p->ok >= 0 && !memcmp(p->key, key, 32))
		return p->ok;
	return !crypto_sign_verify_detached(e->sig, raw, len - 64, key);
}

/*
 * An entry from the future (beyond LEDGER_SKEW_MS of our clock) is not
 * judged yet: it would be valid here and invalid on a member whose clock is
 * behind. It waits in "held" (a few per author, so nobody fills our disk)
 * and ledger_ingest() offers it again once our clock has caught up. Our
 * own appends are never held: ledger_append() stamps them with our clock.
 */
static int hold(struct ledger *l, const struct ledger_entry *e, const uint8_t *raw, size_t len,
		const uint8_t hash[32])
{
	int n, ret;

	if (l->local)
		return LEDGER_E_FUTURE;
	ret = store_held_count(l, e->author, &n);
	if (!ret && n < LEDGER_HELD_MAX)
		ret = store_held_put(l, e, raw, len, hash);
	return ret ? ret : LEDGER_E_FUTURE;
}

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
	int64_t bal;
	int ret;

	if (!author_debtor && !author_creditor)
		return LEDGER_E_NOT_PARTY;
	/* Credit moves between members only (the author was checked already). */
	if (!ledger_is_member(l, author_debtor ? t->creditor : t->debtor))
		return LEDGER_E_NOT_MEMBER;
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
	 * The debtor's own copy: its chain is held up to debtor_seq - 1 (the
	 * sequence rule), so its limit is judged on that chain alone (every
	 * transfer on it, credits included, and its latest limit entry): the
	 * same verdict on every member, in whatever order the chains came.
	 * The creditor's copy is never judged on the limit here: whether it
	 * moves credit is decided by count_due() once the debtor's copy is held,
	 * from the chains only. Our own appends are judged more strictly, on
	 * the credit already counted: we sign nothing that would not count.
	 */
	if (!author_debtor)
		return 0;
	ret = store_balance_before(l, t->debtor, t->debtor_seq, !l->local, &bal);
	if (ret)
		return ret;
	if (bal - (int64_t)t->amount_wh < -(int64_t)c->limit_wh)
		return LEDGER_E_LIMIT;
	return 0;
}

/*
 * A transfer moves credit ("is counted") once the debtor's copy is held
 * (its chain up to debtor_seq: the debtor committed, in chain order) and the
 * debtor's balance before its slot, counting every debit on the debtor's
 * chain but only counted credits, stays within the limit in force there.
 * Counting a transfer can only raise its creditor's counted credit, so the
 * creditor's waiting transfers (as debtor, at later slots) are tried again:
 * the counted set grows to the least fixed point of that rule, which
 * depends on the set of chains held and not on the order they arrived in.
 */
static int count_due(struct ledger *l, const uint8_t first[32])
{
	uint8_t (*work)[32], (*more)[32] = NULL;
	size_t n = 1, cap = 16, k;
	struct xfer_row r;
	uint64_t limit;
	int64_t bal;
	int ret = 0;

	work = malloc(cap * 32);
	if (!work)
		return -ENOMEM;
	memcpy(work[0], first, 32);
	while (n) {
		uint8_t id[32];

		memcpy(id, work[--n], 32);
		ret = store_xfer_get(l, id, &r);
		if (ret)
			break;
		if (!(r.held & 1) || r.counted)
			continue;
		ret = store_limit_at(l, r.debtor, r.debtor_seq, &limit);
		if (!ret)
			ret = store_balance_before(l, r.debtor, r.debtor_seq, false, &bal);
		if (ret)
			break;
		if (bal - (int64_t)r.amount < -(int64_t)limit)
			continue;	/* pending: a later credit may count it */
		ret = store_xfer_count(l, id, &r);
		if (!ret)
			ret = store_xfer_waiting(l, r.creditor, r.creditor_seq, &more, &k);
		if (ret)
			break;
		if (n + k > cap) {
			uint8_t (*nw)[32] = realloc(work, (n + k) * 2 * 32);

			if (!nw) {
				free(more);
				ret = -ENOMEM;
				break;
			}
			work = nw;
			cap = (n + k) * 2;
		}
		if (k)
			memcpy(work[n], more, k * 32);
		n += k;
		free(more);
		more = NULL;
	}
	free(work);
	return ret;
}

/* Both entries of a fork proof must be signed by their author's key. */
static int check_fork_proof(struct ledger *l, const struct ledger_fork *f)
{
	struct ledger_entry a, b;
	uint8_t key[32];
	int ret;

	if (ledger_entry_decode(f->a, f->a_len, &a) || ledger_entry_decode(f->b, f->b_len, &b))
		return LEDGER_E_BAD_PROOF;
	if (!ledger_is_member(l, a.author))
		return LEDGER_E_NOT_MEMBER;
	ret = key_at(l, a.author, a.seq, key);
	if (ret)
		return ret;
	if (crypto_sign_verify_detached(a.sig, f->a, f->a_len - 64, key) ||
	    crypto_sign_verify_detached(b.sig, f->b, f->b_len - 64, key))
		return LEDGER_E_BAD_PROOF;
	return 0;
}

/* Room for fork evidence of (@author, @seq)? 0, LEDGER_E_FORK_KNOWN or -errno. */
static int fork_room(struct ledger *l, const uint8_t author[32], uint64_t seq)
{
	int total, at_seq, ret;

	ret = store_fork_count(l, author, seq, &total, &at_seq);
	if (ret)
		return ret;
	return at_seq || total >= LEDGER_FORKS_MAX ? LEDGER_E_FORK_KNOWN : 0;
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
	 * shows the author signed two histories. One pair per slot, and a
	 * few per author, prove it as well as a thousand: the rest is
	 * refused, or one key could fill our disk with variants.
	 */
	ret = fork_room(l, e->author, e->seq);
	if (ret)
		return ret;
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

	/* Strangers' chains are not ours to keep (nor to settle with). */
	if (!l->local && !ledger_is_member(l, e->author))
		return LEDGER_E_NOT_MEMBER;
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
	if (!sig_ok(l, e, raw, len, signer))
		return LEDGER_E_SIGNATURE;
	if (e->timestamp_ms > now_ms(l) + LEDGER_SKEW_MS)
		return hold(l, e, raw, len, hash);

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
		const struct ledger_transfer *t = &e->body.transfer;
		uint8_t id[32];

		ledger_transfer_id(t, id);
		ret = store_put_transfer(l, t, id, !memcmp(e->author, t->creditor, 32));
		if (!ret)
			ret = count_due(l, id);
		/* Our row is written last, from @c: keep the claim just made
		 * (and whatever counting did to it meanwhile: nothing but the
		 * claims of the other chains). */
		if (c.claim_max < e->seq)
			c.claim_max = e->seq;
		break;
	}
	case LEDGER_T_LIMIT:
		c.limit_wh = e->body.limit.limit_wh;
		ret = store_put_limit(l, e->author, e->seq, c.limit_wh);
		break;
	case LEDGER_T_ROTATE:
		memcpy(c.key, e->body.rotate.new_key, 32);
		break;
	case LEDGER_T_FORK: {
		const struct ledger_fork *f = &e->body.fork;
		struct ledger_entry a;

		ledger_entry_decode(f->a, f->a_len, &a);
		/* The proof entry is stored; its evidence only while there is
		 * room (the author is flagged either way). */
		ret = fork_room(l, a.author, a.seq);
		if (ret == LEDGER_E_FORK_KNOWN)
			ret = store_flag(l, a.author);
		else if (!ret)
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

struct held_list {
	size_t n, cap;
	uint8_t (*hash)[32];
	uint8_t (*raw)[LEDGER_ENTRY_MAX];
	size_t *len;
};

static int held_row(sqlite3_stmt *st, void *arg)
{
	struct held_list *h = arg;
	size_t len = sqlite3_column_bytes(st, 1);

	if (h->n == h->cap || sqlite3_column_bytes(st, 0) != 32 || len > LEDGER_ENTRY_MAX)
		return 0;
	memcpy(h->hash[h->n], sqlite3_column_blob(st, 0), 32);
	memcpy(h->raw[h->n], sqlite3_column_blob(st, 1), len);
	h->len[h->n++] = len;
	return 0;
}

/* Held entries whose time has come: out of "held", through the rules again. */
static int held_retry(struct ledger *l)
{
	struct held_list h = { .cap = 16 };
	bool due;
	int ret;

	ret = store_held_due(l, now_ms(l) + LEDGER_SKEW_MS, &due);
	if (ret || !due)
		return ret;
	h.hash = malloc(h.cap * sizeof(*h.hash));
	h.raw = malloc(h.cap * sizeof(*h.raw));
	h.len = malloc(h.cap * sizeof(*h.len));
	ret = h.hash && h.raw && h.len ? 0 : -ENOMEM;
	if (!ret)
		ret = store_exec_rows(l, "SELECT hash, raw FROM held WHERE ts <= ?1 "
				      "ORDER BY author, seq, hash",
				      (int64_t)(now_ms(l) + LEDGER_SKEW_MS), held_row, &h);
	for (size_t i = 0; !ret && i < h.n; i++) {
		sqlite3_stmt *st;

		ret = store_err(l, sqlite3_prepare_v2(l->db, "DELETE FROM held WHERE hash = ?1",
						      -1, &st, NULL));
		if (ret)
			break;
		sqlite3_bind_blob(st, 1, h.hash[i], 32, SQLITE_STATIC);
		ret = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
		sqlite3_finalize(st);
		if (!ret)
			ret = ingest_one(l, h.raw[i], h.len[i]);
		if (ret > 0)
			ret = 0;	/* judged now like any entry: refused is refused */
	}
	free(h.hash);
	free(h.raw);
	free(h.len);
	return ret;
}

struct pre_range {
	struct preverify *p;
	size_t from, to;
};

static void *pre_check(void *arg)
{
	struct pre_range *r = arg;

	for (size_t i = r->from; i < r->to; i++) {
		struct preverify *p = &r->p[i];

		if (p->ok < 0)
			p->ok = !crypto_sign_verify_detached(p->raw + p->len - 64, p->raw,
							     p->len - 64, p->key);
	}
	return NULL;
}

/*
 * Signatures are most of the cost of taking in a batch, and independent of
 * one another: check them on two cores before the rules run in order.
 * Each is checked against the key its chain has in force now; validation
 * uses the answer only if it wants that very key (a rotation earlier in
 * the batch, a replay or a fork: it checks again itself). Nothing here
 * decides anything, so the verdicts are those of the sequential rules.
 */
#define PRE_MIN	16
static struct preverify *preverify(struct ledger *l, const struct ledger_blob *blobs, size_t n)
{
	struct pre_range a, b;
	struct preverify *p;
	pthread_t th;
	bool threaded;

	if (n < PRE_MIN || !(p = calloc(n, sizeof(*p))))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct chain_state c;

		p[i].raw = blobs[i].buf;
		p[i].len = blobs[i].len;
		p[i].ok = 0;
		/* only what decodes far enough to name its author and signature */
		if (blobs[i].len < LEDGER_HEADER_BYTES + LEDGER_SIG_BYTES ||
		    blobs[i].len > LEDGER_ENTRY_MAX || store_chain(l, blobs[i].buf + 4, &c))
			continue;
		memcpy(p[i].key, c.key, 32);
		p[i].ok = -1;
	}
	a = (struct pre_range){ p, 0, n / 2 };
	b = (struct pre_range){ p, n / 2, n };
	threaded = !pthread_create(&th, NULL, pre_check, &b);
	pre_check(&a);
	if (threaded)
		pthread_join(th, NULL);
	else
		pre_check(&b);
	return p;
}

int ledger_ingest(struct ledger *l, struct ledger_blob *blobs, size_t n)
{
	struct preverify *pre;
	int ret, stored = 0;
	bool own;
	size_t i;

	if (l->rdonly)
		return -EROFS;
	ret = tx_begin(l, &own);
	if (ret)
		return ret;
	ret = held_retry(l);
	if (ret < 0) {
		tx_end(l, own, ret);
		return ret;
	}
	pre = preverify(l, blobs, n);
	for (i = 0; i < n; i++) {
		l->pre = pre ? &pre[i] : NULL;
		ret = ingest_one(l, blobs[i].buf, blobs[i].len);
		l->pre = NULL;
		if (ret < 0)
			break;
		blobs[i].status = ret;
		if (ret == 0 || ret == LEDGER_E_FORK)
			stored++;
	}
	free(pre);
	ret = tx_end(l, own, ret < 0 ? ret : 0);
	return ret ? ret : stored;
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
		e->timestamp_ms = now_ms(l);
		/* A clock stepped back must not make our own chain invalid. */
		if (e->timestamp_ms < c.head_ts)
			e->timestamp_ms = c.head_ts;
	}
	ret = ledger_entry_sign(e, id);
	if (!ret)
		ret = ledger_entry_encode(e, raw, sizeof(raw), &len);
	/* Our own entries pass the checks a peer will apply (and, for a
	 * transfer we owe, the stricter limit of check_transfer()). */
	if (!ret) {
		l->local = true;
		ret = ingest_one(l, raw, len);
		l->local = false;
	}
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
		/* a party known only from a pending transfer's claim: nothing to miss */
		if (!m->head_seq && !m->balance_wh && !m->limit_wh && !m->flagged)
			return 0;
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
	/* Stored entries were judged once: no member set, no clock, here. */
	ledger_set_time(v.fresh, UINT64_MAX / 2);
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

/* ---- schema 1 databases ---- */

static int upgrade_entry(sqlite3_stmt *st, void *arg)
{
	struct ledger *l = arg;
	const uint8_t *raw = sqlite3_column_blob(st, 0);
	size_t len = sqlite3_column_bytes(st, 0);
	int ret;

	if (!raw || len > LEDGER_ENTRY_MAX)
		return 0;
	ret = ingest_one(l, raw, len);
	return ret < 0 ? ret : 0;	/* refused under today's rules: left out */
}

static int upgrade_fork(sqlite3_stmt *st, void *arg)
{
	struct ledger *l = arg;
	uint8_t author[32];
	uint64_t seq = sqlite3_column_int64(st, 1);
	int ret;

	if (sqlite3_column_bytes(st, 0) != 32)
		return 0;
	memcpy(author, sqlite3_column_blob(st, 0), 32);
	ret = fork_room(l, author, seq);
	if (ret)
		return ret < 0 ? ret : 0;
	return store_put_fork(l, author, seq, sqlite3_column_blob(st, 2),
			      sqlite3_column_bytes(st, 2), sqlite3_column_blob(st, 3),
			      sqlite3_column_bytes(st, 3));
}

static int exists_row(sqlite3_stmt *st, void *arg)
{
	*(bool *)arg = sqlite3_column_int(st, 0);
	return 0;
}

/*
 * migrate() kept a schema 1 database's entries and fork evidence aside;
 * replay them, in their storage order, through today's rules (no member
 * set, no clock: they were accepted once), in one transaction, so that a
 * crash half-way leaves it to the next open.
 */
int chain_upgrade(struct ledger *l)
{
	uint64_t saved = l->fixed_now_ms;
	bool v1 = false;
	int ret;

	ret = store_exec_rows(l, "SELECT EXISTS (SELECT 1 FROM sqlite_master "
			      "WHERE name = 'entries_v1')", 0, exists_row, &v1);
	if (ret || !v1)
		return ret;
	ret = store_exec(l, "BEGIN IMMEDIATE");
	if (ret)
		return ret;
	l->fixed_now_ms = UINT64_MAX / 2;
	ret = store_exec_rows(l, "SELECT raw FROM entries_v1 ORDER BY id", 0, upgrade_entry, l);
	if (!ret)
		ret = store_exec_rows(l, "SELECT author, seq, a, b FROM forks_v1 "
				      "ORDER BY author, seq, a, b", 0, upgrade_fork, l);
	l->fixed_now_ms = saved;
	if (!ret)
		ret = store_exec(l, "DROP TABLE entries_v1; DROP TABLE forks_v1");
	if (!ret)
		return store_exec(l, "COMMIT");
	store_exec(l, "ROLLBACK");
	return ret;
}
