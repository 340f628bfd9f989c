// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SQLite storage of the ledger.
 *
 * "entries" holds the chains and is the only source of truth; every other
 * table is derived from it (and rebuilt by ledger_verify() to check it).
 * Derived rows are written in the same transaction as the entry they come
 * from, so they can never disagree with the chain after a crash.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ledger.h"
#include "ledger_int.h"

#define SCHEMA_VERSION	3

static const char schema[] =
	"CREATE TABLE entries ("
	"  id INTEGER PRIMARY KEY,"	/* storage order: a valid replay order */
	"  author BLOB NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL UNIQUE,"
	"  type INTEGER NOT NULL, ts INTEGER NOT NULL, signer BLOB NOT NULL,"
	"  raw BLOB NOT NULL, UNIQUE (author, seq));"
	/* WITHOUT ROWID: one b-tree per derived table, not a table plus an index. */
	"CREATE TABLE chains ("
	"  author BLOB PRIMARY KEY, head_seq INTEGER NOT NULL, head_hash BLOB NOT NULL,"
	"  head_ts INTEGER NOT NULL, key BLOB NOT NULL, limit_wh INTEGER NOT NULL,"
	"  flagged INTEGER NOT NULL, claim_max INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE meters ("
	"  interval_start INTEGER NOT NULL, author BLOB NOT NULL, seq INTEGER NOT NULL,"
	"  interval_len INTEGER NOT NULL, wh_import INTEGER NOT NULL,"
	"  wh_export INTEGER NOT NULL, channels INTEGER NOT NULL,"
	"  wh_clean INTEGER,"	/* NULL: the 32-byte form, nothing attributed */
	"  PRIMARY KEY (interval_start, author, seq)) WITHOUT ROWID;"
	/* held: bit 0 the debtor's copy is stored, bit 1 the creditor's;
	 * counted: the transfer moves credit (docs/ledger.md, Balances). */
	"CREATE TABLE transfers ("
	"  id BLOB PRIMARY KEY, debtor BLOB NOT NULL, creditor BLOB NOT NULL,"
	"  amount INTEGER NOT NULL, interval_start INTEGER NOT NULL,"
	"  debtor_seq INTEGER NOT NULL, debtor_prev BLOB NOT NULL,"
	"  creditor_seq INTEGER NOT NULL, creditor_prev BLOB NOT NULL,"
	"  held INTEGER NOT NULL, counted INTEGER NOT NULL);"
	/* every credit-limit entry: the limit in force at a slot */
	"CREATE TABLE limits (author BLOB NOT NULL, seq INTEGER NOT NULL,"
	"  limit_wh INTEGER NOT NULL, PRIMARY KEY (author, seq)) WITHOUT ROWID;"
	/* entries from the future, waiting for our clock (not part of any chain) */
	"CREATE TABLE held (hash BLOB PRIMARY KEY, author BLOB NOT NULL,"
	"  seq INTEGER NOT NULL, ts INTEGER NOT NULL, raw BLOB NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX transfers_debtor ON transfers (debtor, debtor_seq);"
	"CREATE INDEX transfers_creditor ON transfers (creditor, creditor_seq);"
	"CREATE TABLE balances (key BLOB PRIMARY KEY, balance INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE forks ("
	"  author BLOB NOT NULL, seq INTEGER NOT NULL, a BLOB NOT NULL, b BLOB NOT NULL,"
	"  PRIMARY KEY (author, seq, a, b));";

static const char *const stmt_sql[__ST_MAX] = {
	[ST_HEAD] = "SELECT head_seq, head_hash, head_ts, key, limit_wh, flagged, claim_max "
		    "FROM chains WHERE author = ?1",
	[ST_ENTRY_AT] = "SELECT raw, hash, signer FROM entries WHERE author = ?1 AND seq = ?2",
	[ST_CLAIMS] = "SELECT id, debtor_prev FROM transfers WHERE debtor = ?1 AND debtor_seq = ?2 "
		      "UNION ALL "
		      "SELECT id, creditor_prev FROM transfers WHERE creditor = ?1 AND creditor_seq = ?2",
	[ST_BALANCE_BEFORE] =
		"SELECT (SELECT COALESCE(SUM(amount), 0) FROM transfers "
		"        WHERE creditor = ?1 AND creditor_seq < ?2 AND (counted OR ?3)) - "
		"       (SELECT COALESCE(SUM(amount), 0) FROM transfers "
		"        WHERE debtor = ?1 AND debtor_seq < ?2)",
	[ST_INS_ENTRY] = "INSERT INTO entries (author, seq, hash, type, ts, signer, raw) "
			 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_UPSERT_CHAIN] =
		"INSERT INTO chains (author, head_seq, head_hash, head_ts, key, limit_wh, flagged, "
		"claim_max) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (author) DO UPDATE SET "
		"head_seq = excluded.head_seq, head_hash = excluded.head_hash, "
		"head_ts = excluded.head_ts, key = excluded.key, limit_wh = excluded.limit_wh, "
		"flagged = excluded.flagged, claim_max = excluded.claim_max",
	[ST_INS_METER] = "INSERT INTO meters (author, seq, interval_start, interval_len, "
			 "wh_import, wh_export, channels, wh_clean) "
			 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_INS_TRANSFER] =
		"INSERT INTO transfers (id, debtor, creditor, amount, interval_start, "
		"debtor_seq, debtor_prev, creditor_seq, creditor_prev, held, counted) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0) "
		"ON CONFLICT (id) DO UPDATE SET held = held | excluded.held",
	[ST_ADD_BALANCE] = "INSERT INTO balances (key, balance) VALUES (?1, ?2) "
			   "ON CONFLICT (key) DO UPDATE SET balance = balance + excluded.balance",
	[ST_INS_FORK] = "INSERT OR IGNORE INTO forks (author, seq, a, b) VALUES (?1, ?2, ?3, ?4)",
	[ST_FLAG] = "INSERT INTO chains (author, head_seq, head_hash, head_ts, key, limit_wh, "
		    "flagged, claim_max) VALUES (?1, 0, zeroblob(32), 0, ?1, 0, 1, 0) "
		    "ON CONFLICT (author) DO UPDATE SET flagged = 1",
	[ST_BY_HASH] = "SELECT raw FROM entries WHERE hash = ?1",
	[ST_XFER_GET] = "SELECT debtor, creditor, amount, debtor_seq, creditor_seq, held, counted "
			"FROM transfers WHERE id = ?1",
	[ST_XFER_COUNT] = "UPDATE transfers SET counted = 1 WHERE id = ?1",
	[ST_XFER_WAITING] = "SELECT id FROM transfers WHERE debtor = ?1 AND debtor_seq > ?2 "
			    "AND held & 1 AND NOT counted ORDER BY debtor_seq",
	[ST_LIMIT_AT] = "SELECT limit_wh FROM limits WHERE author = ?1 AND seq < ?2 "
			"ORDER BY seq DESC LIMIT 1",
	[ST_INS_LIMIT] = "INSERT INTO limits (author, seq, limit_wh) VALUES (?1, ?2, ?3)",
	[ST_FORK_COUNT] = "SELECT COUNT(*), COALESCE(SUM(seq = ?2), 0) FROM forks WHERE author = ?1",
	[ST_HELD_PUT] = "INSERT OR IGNORE INTO held (hash, author, seq, ts, raw) "
			"VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_HELD_COUNT] = "SELECT COUNT(*) FROM held WHERE author = ?1",
	[ST_HELD_DUE] = "SELECT EXISTS (SELECT 1 FROM held WHERE ts <= ?1)",
	[ST_ANY_CLAIM] = "SELECT EXISTS (SELECT 1 FROM transfers WHERE debtor = ?1 "
			 "AND debtor_seq BETWEEN ?2 AND ?2 + 1) OR EXISTS (SELECT 1 FROM transfers "
			 "WHERE creditor = ?1 AND creditor_seq BETWEEN ?2 AND ?2 + 1)",
};

int store_err(struct ledger *l, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY: case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CORRUPT: case SQLITE_NOTADB:
		return -EBADMSG;
	}
	return -EIO;
}

static int store_flush(struct ledger *l);

/*
 * Every transaction statement goes through here, so the chain cache follows
 * it: dirty rows are written before a commit or a savepoint, a savepoint's
 * view is kept for its ROLLBACK TO, and a rollback or a new transaction
 * drops what no longer holds.
 */
int store_exec(struct ledger *l, const char *sql)
{
	bool commit = !strncmp(sql, "COMMIT", 6), savepoint = !strncmp(sql, "SAVEPOINT", 9);
	int ret;

	if (commit || savepoint) {
		ret = store_flush(l);
		if (ret)
			return ret;
	}
	if (savepoint)
		memcpy(l->snap, l->cache, sizeof(l->snap));
	ret = store_err(l, sqlite3_exec(l->db, sql, NULL, NULL, NULL));
	if (!strncmp(sql, "ROLLBACK TO", 11))
		memcpy(l->cache, l->snap, sizeof(l->cache));
	else if (commit || !strncmp(sql, "BEGIN", 5) || !strncmp(sql, "ROLLBACK", 8) ||
		 sqlite3_get_autocommit(l->db))
		store_cache_clear(l);
	return ret;
}

/*
 * Schema 1 had no limits, held or counted state: its derived tables are
 * dropped and the entries (and fork evidence) kept aside, to be replayed
 * under today's rules by chain_upgrade() once the statements are ready.
 */
static const char upgrade_v1[] =
	"ALTER TABLE entries RENAME TO entries_v1;"
	"ALTER TABLE forks RENAME TO forks_v1;"
	"DROP TABLE chains; DROP TABLE meters; DROP TABLE transfers; DROP TABLE balances;";

/*
 * Schema 2 had no clean part of a metered export. Every entry stored then
 * is of the 32-byte form (the 40-byte one did not decode yet), so NULL is
 * exactly what replaying them would give.
 */
static const char upgrade_v2[] = "ALTER TABLE meters ADD COLUMN wh_clean INTEGER;";

static int migrate(struct ledger *l)
{
	sqlite3_stmt *st;
	int ver, ret;

	ret = store_err(l, sqlite3_prepare_v2(l->db, "PRAGMA user_version", -1, &st, NULL));
	if (ret)
		return ret;
	sqlite3_step(st);
	ver = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (ver == SCHEMA_VERSION)
		return 0;
	/* A newer schema may mean entries this code cannot judge: refuse. */
	if (ver > SCHEMA_VERSION || ver < 0 || l->rdonly)
		return -EPROTO;
	ret = store_exec(l, "BEGIN IMMEDIATE");
	if (ret)
		return ret;
	if (ver == 2) {
		ret = store_exec(l, upgrade_v2);
	} else {
		if (ver == 1)
			ret = store_exec(l, upgrade_v1);
		if (!ret)
			ret = store_exec(l, schema);
	}
	if (!ret)
		ret = store_exec(l, "PRAGMA user_version = 3");
	if (!ret)
		return store_exec(l, "COMMIT");
	store_exec(l, "ROLLBACK");
	return ret;
}

int ledger_open(const char *path, unsigned int flags, struct ledger **out)
{
	struct ledger *l;
	int oflags, ret, i;

	if (sodium_init() < 0)
		return -EIO;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->rdonly = flags & LEDGER_O_RDONLY;
	oflags = l->rdonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	if ((flags & LEDGER_O_CREATE) && !l->rdonly)
		oflags |= SQLITE_OPEN_CREATE;
	ret = sqlite3_open_v2(path, &l->db, oflags | SQLITE_OPEN_NOMUTEX, NULL);
	if (ret != SQLITE_OK) {
		ret = store_err(l, ret);
		goto err;
	}
	sqlite3_extended_result_codes(l->db, 1);
	sqlite3_busy_timeout(l->db, 5000);
	/*
	 * WAL keeps readers (phloemctl) off the writer's back; FULL syncs the
	 * WAL on every commit, so an acknowledged append survives power loss.
	 */
	if (!l->rdonly) {
		ret = store_exec(l, "PRAGMA journal_mode = WAL");
		/* 16 MiB of page cache: a batch's index pages stay in memory. */
		if (!ret)
			ret = store_exec(l, "PRAGMA cache_size = -16384");
		if (!ret)
			ret = store_exec(l, flags & LEDGER_O_NOSYNC ? "PRAGMA synchronous = OFF"
							     : "PRAGMA synchronous = FULL");
		if (ret)
			goto err;
	}
	ret = migrate(l);
	if (ret)
		goto err;
	for (i = 0; i < __ST_MAX; i++) {
		ret = sqlite3_prepare_v3(l->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					 &l->st[i], NULL);
		if (ret != SQLITE_OK) {
			ret = store_err(l, ret);
			goto err;
		}
	}
	if (!l->rdonly)
		ret = chain_upgrade(l);
	if (ret)
		goto err;
	*out = l;
	return 0;
err:
	ledger_close(l);
	return ret;
}

void ledger_close(struct ledger *l)
{
	int i;

	if (!l)
		return;
	for (i = 0; i < __ST_MAX; i++)
		sqlite3_finalize(l->st[i]);
	sqlite3_close(l->db);
	free(l->members);
	free(l);
}

/* Reset and bind the statement @i; callers step it and reset it again. */
static sqlite3_stmt *stmt(struct ledger *l, int i)
{
	sqlite3_stmt *st = l->st[i];

	/* Every caller binds every parameter: no need to clear bindings. */
	sqlite3_reset(st);
	return st;
}

static void col_blob(sqlite3_stmt *st, int col, uint8_t *dst, size_t n)
{
	const void *p = sqlite3_column_blob(st, col);

	if (p && (size_t)sqlite3_column_bytes(st, col) == n)
		memcpy(dst, p, n);
	else
		memset(dst, 0, n);
}

static int step_done(struct ledger *l, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_err(l, rc);
}

/*
 * One-row query of integers (a count, a sum, a limit): its first @n columns
 * into @v, or zeros when it returns no row.
 */
static int step_ints(struct ledger *l, sqlite3_stmt *st, int64_t *v, int n)
{
	int rc = sqlite3_step(st);

	for (int i = 0; i < n; i++)
		v[i] = rc == SQLITE_ROW ? sqlite3_column_int64(st, i) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_err(l, rc);
}

/*
 * Chain states read or written inside the current write transaction. Only
 * used while one is open (we hold the write lock, nobody else can change
 * them). A write only marks the cached row dirty: a batch of entries from
 * one author rewrites its "chains" row once, at the next commit, savepoint,
 * query or eviction, instead of once per entry.
 */
static struct chain_cache *cache_slot(struct ledger *l, const uint8_t author[32])
{
	return &l->cache[(author[0] | author[1] << 8) % CHAIN_CACHE_SLOTS];
}

void store_cache_clear(struct ledger *l)
{
	memset(l->cache, 0, sizeof(l->cache));
}

static int write_chain(struct ledger *l, const uint8_t author[32], const struct chain_state *c)
{
	sqlite3_stmt *st = stmt(l, ST_UPSERT_CHAIN);

	sqlite3_bind_blob(st, 1, author, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->head_seq);
	sqlite3_bind_blob(st, 3, c->head_hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, c->head_ts);
	sqlite3_bind_blob(st, 5, c->key, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, c->limit_wh);
	sqlite3_bind_int(st, 7, c->flagged);
	sqlite3_bind_int64(st, 8, c->claim_max);
	return step_done(l, st);
}

static int flush_slot(struct ledger *l, struct chain_cache *slot)
{
	int ret;

	if (!slot->valid || !slot->dirty)
		return 0;
	ret = write_chain(l, slot->author, &slot->c);
	if (!ret)
		slot->dirty = false;
	return ret;
}

static int store_flush(struct ledger *l)
{
	int i, ret;

	for (i = 0; i < CHAIN_CACHE_SLOTS; i++) {
		ret = flush_slot(l, &l->cache[i]);
		if (ret)
			return ret;
	}
	return 0;
}

static int cache_put(struct ledger *l, const uint8_t author[32], const struct chain_state *c,
		     bool dirty)
{
	struct chain_cache *slot = cache_slot(l, author);
	bool same = slot->valid && !memcmp(slot->author, author, 32);
	int ret;

	if (sqlite3_get_autocommit(l->db))
		return dirty ? write_chain(l, author, c) : 0;
	if (slot->valid && !same) {
		ret = flush_slot(l, slot);	/* evicting another author's row */
		if (ret)
			return ret;
	}
	memcpy(slot->author, author, 32);
	slot->c = *c;
	slot->dirty = dirty || (same && slot->dirty);
	slot->valid = true;
	return 0;
}

int store_chain(struct ledger *l, const uint8_t author[32], struct chain_state *c)
{
	struct chain_cache *slot = cache_slot(l, author);
	sqlite3_stmt *st;
	int rc;

	if (slot->valid && !memcmp(slot->author, author, 32) && !sqlite3_get_autocommit(l->db)) {
		*c = slot->c;
		return 0;
	}
	st = stmt(l, ST_HEAD);

	sqlite3_bind_blob(st, 1, author, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	memset(c, 0, sizeof(*c));
	memcpy(c->key, author, 32);
	if (rc == SQLITE_ROW) {
		c->head_seq = sqlite3_column_int64(st, 0);
		col_blob(st, 1, c->head_hash, 32);
		c->head_ts = sqlite3_column_int64(st, 2);
		col_blob(st, 3, c->key, 32);
		c->limit_wh = sqlite3_column_int64(st, 4);
		c->flagged = sqlite3_column_int(st, 5);
		c->claim_max = sqlite3_column_int64(st, 6);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_err(l, rc);
	return cache_put(l, author, c, false);
}

int store_entry_at(struct ledger *l, const uint8_t author[32], uint64_t seq,
		   uint8_t *raw, size_t *len, uint8_t hash[32], uint8_t signer[32])
{
	sqlite3_stmt *st = stmt(l, ST_ENTRY_AT);
	int rc, n;

	sqlite3_bind_blob(st, 1, author, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? -ENOENT : store_err(l, rc);
	}
	n = sqlite3_column_bytes(st, 0);
	if (raw) {
		if (n > LEDGER_ENTRY_MAX) {
			sqlite3_reset(st);
			return -EBADMSG;
		}
		memcpy(raw, sqlite3_column_blob(st, 0), n);
		*len = n;
	}
	if (hash)
		col_blob(st, 1, hash, 32);
	if (signer)
		col_blob(st, 2, signer, 32);
	sqlite3_reset(st);
	return 0;
}

int store_claim(struct ledger *l, const uint8_t party[32], uint64_t seq,
		const uint8_t *except_id, uint8_t prev_out[32], bool *found)
{
	sqlite3_stmt *st = stmt(l, ST_CLAIMS);
	int rc;

	*found = false;
	sqlite3_bind_blob(st, 1, party, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *id = sqlite3_column_blob(st, 0);

		if (except_id && id && sqlite3_column_bytes(st, 0) == 32 && !memcmp(id, except_id, 32))
			continue;
		*found = true;
		col_blob(st, 1, prev_out, 32);
		rc = SQLITE_DONE;
		break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_err(l, rc);
}

int store_any_claim(struct ledger *l, const uint8_t party[32], uint64_t seq, bool *found)
{
	sqlite3_stmt *st = stmt(l, ST_ANY_CLAIM);
	int64_t v;
	int rc;

	sqlite3_bind_blob(st, 1, party, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	rc = step_ints(l, st, &v, 1);
	*found = v != 0;
	return rc;
}

int store_balance_before(struct ledger *l, const uint8_t party[32], uint64_t seq, bool all,
			 int64_t *bal)
{
	sqlite3_stmt *st = stmt(l, ST_BALANCE_BEFORE);

	sqlite3_bind_blob(st, 1, party, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int(st, 3, all);
	return step_ints(l, st, bal, 1);
}

int store_limit_at(struct ledger *l, const uint8_t author[32], uint64_t seq, uint64_t *limit)
{
	sqlite3_stmt *st = stmt(l, ST_LIMIT_AT);
	int64_t v;
	int rc;

	sqlite3_bind_blob(st, 1, author, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	rc = step_ints(l, st, &v, 1);
	*limit = v;
	return rc;
}

int store_put_limit(struct ledger *l, const uint8_t author[32], uint64_t seq, uint64_t limit)
{
	sqlite3_stmt *st = stmt(l, ST_INS_LIMIT);

	sqlite3_bind_blob(st, 1, author, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int64(st, 3, limit);
	return step_done(l, st);
}

int store_fork_count(struct ledger *l, const uint8_t author[32], uint64_t seq, int *total,
		     int *at_seq)
{
	sqlite3_stmt *st = stmt(l, ST_FORK_COUNT);
	int64_t v[2];
	int rc;

	sqlite3_bind_blob(st, 1, author, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	rc = step_ints(l, st, v, 2);
	*total = v[0];
	*at_seq = v[1];
	return rc;
}

int store_held_put(struct ledger *l, const struct ledger_entry *e, const uint8_t *raw,
		   size_t len, const uint8_t hash[32])
{
	sqlite3_stmt *st = stmt(l, ST_HELD_PUT);

	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, e->author, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, e->seq);
	sqlite3_bind_int64(st, 4, e->timestamp_ms);
	sqlite3_bind_blob(st, 5, raw, len, SQLITE_STATIC);
	return step_done(l, st);
}

int store_held_count(struct ledger *l, const uint8_t author[32], int *n)
{
	sqlite3_stmt *st = stmt(l, ST_HELD_COUNT);
	int64_t v;
	int rc;

	sqlite3_bind_blob(st, 1, author, 32, SQLITE_STATIC);
	rc = step_ints(l, st, &v, 1);
	*n = v;
	return rc;
}

int store_held_due(struct ledger *l, uint64_t ts, bool *due)
{
	sqlite3_stmt *st = stmt(l, ST_HELD_DUE);
	int64_t v;
	int rc;

	sqlite3_bind_int64(st, 1, (int64_t)ts);
	rc = step_ints(l, st, &v, 1);
	*due = v != 0;
	return rc;
}

int store_xfer_get(struct ledger *l, const uint8_t id[32], struct xfer_row *r)
{
	sqlite3_stmt *st = stmt(l, ST_XFER_GET);
	int rc;

	sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? -ENOENT : store_err(l, rc);
	}
	col_blob(st, 0, r->debtor, 32);
	col_blob(st, 1, r->creditor, 32);
	r->amount = sqlite3_column_int64(st, 2);
	r->debtor_seq = sqlite3_column_int64(st, 3);
	r->creditor_seq = sqlite3_column_int64(st, 4);
	r->held = sqlite3_column_int(st, 5);
	r->counted = sqlite3_column_int(st, 6);
	sqlite3_reset(st);
	return 0;
}

int store_xfer_waiting(struct ledger *l, const uint8_t debtor[32], uint64_t after,
		       uint8_t (**ids)[32], size_t *n)
{
	sqlite3_stmt *st = stmt(l, ST_XFER_WAITING);
	uint8_t (*v)[32] = NULL;
	size_t cap = 0;
	int rc;

	*n = 0;
	sqlite3_bind_blob(st, 1, debtor, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, after);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			uint8_t (*nv)[32] = realloc(v, (cap ? 2 * cap : 8) * 32);

			if (!nv) {
				sqlite3_reset(st);
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = cap ? 2 * cap : 8;
		}
		col_blob(st, 0, v[(*n)++], 32);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(v);
		return store_err(l, rc);
	}
	*ids = v;
	return 0;
}

int store_put_entry(struct ledger *l, const struct ledger_entry *e, const uint8_t *raw, size_t len,
		    const uint8_t hash[32], const uint8_t signer[32])
{
	sqlite3_stmt *st = stmt(l, ST_INS_ENTRY);

	sqlite3_bind_blob(st, 1, e->author, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, e->seq);
	sqlite3_bind_blob(st, 3, hash, 32, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, e->type);
	sqlite3_bind_int64(st, 5, e->timestamp_ms);
	sqlite3_bind_blob(st, 6, signer, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, raw, len, SQLITE_STATIC);
	return step_done(l, st);
}

int store_put_chain(struct ledger *l, const uint8_t author[32], const struct chain_state *c)
{
	return cache_put(l, author, c, true);
}

int store_put_meter(struct ledger *l, const struct ledger_entry *e)
{
	sqlite3_stmt *st = stmt(l, ST_INS_METER);
	const struct ledger_meter *m = &e->body.meter;

	sqlite3_bind_blob(st, 1, e->author, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, e->seq);
	sqlite3_bind_int64(st, 3, m->interval_start);
	sqlite3_bind_int64(st, 4, m->interval_len);
	sqlite3_bind_int64(st, 5, m->wh_import);
	sqlite3_bind_int64(st, 6, m->wh_export);
	sqlite3_bind_int64(st, 7, m->channels);
	if (m->clean_known)
		sqlite3_bind_int64(st, 8, (int64_t)m->wh_clean);
	else
		sqlite3_bind_null(st, 8);
	return step_done(l, st);
}

static int add_balance(struct ledger *l, const uint8_t key[32], int64_t delta)
{
	sqlite3_stmt *st = stmt(l, ST_ADD_BALANCE);

	sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, delta);
	return step_done(l, st);
}

/*
 * Remember the highest slot of @party's chain that a transfer claims, so
 * that the common entry, far beyond every claim, needs no claim lookup.
 */
static int raise_claim_max(struct ledger *l, const uint8_t party[32], uint64_t seq)
{
	struct chain_state c;
	int ret = store_chain(l, party, &c);

	if (ret || c.claim_max >= seq)
		return ret;
	c.claim_max = seq;
	return store_put_chain(l, party, &c);
}

int store_put_transfer(struct ledger *l, const struct ledger_transfer *t, const uint8_t id[32],
		       bool creditor_copy)
{
	sqlite3_stmt *st;
	struct xfer_row r;
	bool fresh;
	int ret;

	ret = store_xfer_get(l, id, &r);
	if (ret && ret != -ENOENT)
		return ret;
	fresh = ret == -ENOENT;
	st = stmt(l, ST_INS_TRANSFER);
	sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, t->debtor, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, t->creditor, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, t->amount_wh);
	sqlite3_bind_int64(st, 5, t->interval_start);
	sqlite3_bind_int64(st, 6, t->debtor_seq);
	sqlite3_bind_blob(st, 7, t->debtor_prev, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, t->creditor_seq);
	sqlite3_bind_blob(st, 9, t->creditor_prev, 32, SQLITE_STATIC);
	sqlite3_bind_int(st, 10, creditor_copy ? 2 : 1);
	ret = step_done(l, st);
	/* The first copy promises both slots; the second adds nothing to that. */
	if (ret || !fresh)
		return ret;
	ret = raise_claim_max(l, t->debtor, t->debtor_seq);
	return ret ? ret : raise_claim_max(l, t->creditor, t->creditor_seq);
}

int store_xfer_count(struct ledger *l, const uint8_t id[32], const struct xfer_row *r)
{
	sqlite3_stmt *st = stmt(l, ST_XFER_COUNT);
	int ret;

	sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC);
	ret = step_done(l, st);
	if (!ret)
		ret = add_balance(l, r->debtor, -(int64_t)r->amount);
	return ret ? ret : add_balance(l, r->creditor, (int64_t)r->amount);
}

int store_put_fork(struct ledger *l, const uint8_t author[32], uint64_t seq,
		   const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	sqlite3_stmt *st = stmt(l, ST_INS_FORK);
	int ret;

	/* One fork, one row: keep the pair in canonical (bytewise) order. */
	if (bytes_cmp(a, alen, b, blen) > 0) {
		const uint8_t *t = a; size_t tl = alen;

		a = b; alen = blen; b = t; blen = tl;
	}
	sqlite3_bind_blob(st, 1, author, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_blob(st, 3, a, alen, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, b, blen, SQLITE_STATIC);
	ret = step_done(l, st);
	return ret ? ret : store_flag(l, author);
}

int store_flag(struct ledger *l, const uint8_t author[32])
{
	sqlite3_stmt *st;
	int ret;

	/* The flag is set in SQL: write our newer row first, then forget it. */
	ret = flush_slot(l, cache_slot(l, author));
	if (ret)
		return ret;
	cache_slot(l, author)->valid = false;
	st = stmt(l, ST_FLAG);
	sqlite3_bind_blob(st, 1, author, 32, SQLITE_STATIC);
	return step_done(l, st);
}

/* ---- read API ---- */

int ledger_get_head(struct ledger *l, const uint8_t author[LEDGER_KEY_BYTES], struct ledger_head *h)
{
	struct chain_state c;
	int ret = store_chain(l, author, &c);

	if (ret)
		return ret;
	h->seq = c.head_seq;
	memcpy(h->hash, c.head_hash, 32);
	h->timestamp_ms = c.head_ts;
	memcpy(h->key, c.key, 32);
	return 0;
}

int ledger_get_entry(struct ledger *l, const uint8_t author[LEDGER_KEY_BYTES], uint64_t seq,
		     uint8_t *buf, size_t *len)
{
	return store_entry_at(l, author, seq, buf, len, NULL, NULL);
}

int ledger_get_by_hash(struct ledger *l, const uint8_t hash[LEDGER_HASH_BYTES],
		       uint8_t *buf, size_t *len)
{
	sqlite3_stmt *st = stmt(l, ST_BY_HASH);
	int rc, n;

	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? -ENOENT : store_err(l, rc);
	}
	n = sqlite3_column_bytes(st, 0);
	if (n > LEDGER_ENTRY_MAX) {
		sqlite3_reset(st);
		return -EBADMSG;
	}
	memcpy(buf, sqlite3_column_blob(st, 0), n);
	*len = n;
	sqlite3_reset(st);
	return 0;
}

/* Run a one-off query; @row is called for each row until it returns non-zero. */
static int query(struct ledger *l, const char *sql, const uint8_t *key, int64_t num,
		 int (*row)(sqlite3_stmt *, void *), void *arg)
{
	sqlite3_stmt *st;
	int rc, ret;

	/* SQL reads "chains" directly: it must see what the cache holds. */
	ret = store_flush(l);
	if (ret)
		return ret;
	rc = sqlite3_prepare_v2(l->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_err(l, rc);
	if (key)
		sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, num);
	else if (!key && sqlite3_bind_parameter_count(st) == 1)
		sqlite3_bind_int64(st, 1, num);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ret = row(st, arg);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = store_err(l, rc);
	sqlite3_finalize(st);
	return ret;
}

int store_exec_rows(struct ledger *l, const char *sql, int64_t num,
		    int (*row)(sqlite3_stmt *, void *), void *arg)
{
	return query(l, sql, NULL, num, row, arg);
}

struct entry_walk {
	ledger_entry_cb cb;
	void *arg;
};

static int entry_row(sqlite3_stmt *st, void *arg)
{
	struct entry_walk *w = arg;
	const uint8_t *raw = sqlite3_column_blob(st, 0);
	size_t len = sqlite3_column_bytes(st, 0);
	uint8_t hash[32];
	struct ledger_entry e;
	int ret;

	/* Stored entries were valid when stored; a failure here is damage. */
	ret = raw ? ledger_entry_decode(raw, len, &e) : LEDGER_E_TRUNCATED;
	if (ret)
		return -EBADMSG;
	ledger_hash(raw, len, hash);
	return w->cb(raw, len, &e, hash, w->arg);
}

int ledger_foreach_entry(struct ledger *l, const uint8_t *author, ledger_entry_cb cb, void *arg)
{
	struct entry_walk w = { cb, arg };

	if (author)
		return query(l, "SELECT raw FROM entries WHERE author = ?1 ORDER BY seq",
			     author, 0, entry_row, &w);
	return query(l, "SELECT raw FROM entries ORDER BY id", NULL, 0, entry_row, &w);
}

struct meter_walk {
	struct ledger *l;
	ledger_meter_cb cb;
	void *arg;
};

static int meter_row(sqlite3_stmt *st, void *arg)
{
	struct meter_walk *w = arg;
	struct ledger_meter m;
	uint8_t author[32];

	col_blob(st, 0, author, 32);
	/* Settlement reads this: the metering of non-members does not count. */
	if (!ledger_is_member(w->l, author))
		return 0;
	m.interval_start = sqlite3_column_int64(st, 1);
	m.interval_len = sqlite3_column_int64(st, 2);
	m.wh_import = sqlite3_column_int64(st, 3);
	m.wh_export = sqlite3_column_int64(st, 4);
	m.channels = sqlite3_column_int64(st, 5);
	m.clean_known = sqlite3_column_type(st, 6) != SQLITE_NULL;
	m.wh_clean = m.clean_known ? (uint64_t)sqlite3_column_int64(st, 6) : 0;
	return w->cb(author, &m, w->arg);
}

int ledger_foreach_meter(struct ledger *l, uint64_t interval_start, ledger_meter_cb cb, void *arg)
{
	struct meter_walk w = { l, cb, arg };

	/* Ordered by author so every member iterates identically: settlement
	 * must be a deterministic function of the ledger. */
	return query(l, "SELECT author, interval_start, interval_len, wh_import, wh_export, "
		     "channels, wh_clean FROM meters WHERE interval_start = ?1 ORDER BY author, seq",
		     NULL, (int64_t)interval_start, meter_row, &w);
}

struct member_walk {
	ledger_member_cb cb;
	void *arg;
};

static int member_row(sqlite3_stmt *st, void *arg)
{
	struct member_walk *w = arg;
	struct ledger_member m;

	col_blob(st, 0, m.key, 32);
	m.head_seq = sqlite3_column_int64(st, 1);
	m.balance_wh = sqlite3_column_int64(st, 2);
	m.limit_wh = sqlite3_column_int64(st, 3);
	m.flagged = sqlite3_column_int(st, 4);
	return w->cb(&m, w->arg);
}

#define MEMBER_SQL \
	"SELECT k.key, COALESCE(c.head_seq, 0), COALESCE(b.balance, 0), " \
	"COALESCE(c.limit_wh, 0), COALESCE(c.flagged, 0) FROM " \
	"(SELECT author AS key FROM chains UNION SELECT key FROM balances) k " \
	"LEFT JOIN chains c ON c.author = k.key LEFT JOIN balances b ON b.key = k.key "

int ledger_foreach_member(struct ledger *l, ledger_member_cb cb, void *arg)
{
	struct member_walk w = { cb, arg };

	return query(l, MEMBER_SQL "ORDER BY k.key", NULL, 0, member_row, &w);
}

static int copy_member(const struct ledger_member *m, void *arg)
{
	*(struct ledger_member *)arg = *m;
	return 1;
}

int ledger_get_member(struct ledger *l, const uint8_t key[LEDGER_KEY_BYTES], struct ledger_member *m)
{
	struct member_walk w = { copy_member, m };
	int ret;

	memset(m, 0, sizeof(*m));
	memcpy(m->key, key, 32);
	ret = query(l, MEMBER_SQL "WHERE k.key = ?1", key, 0, member_row, &w);
	return ret < 0 ? ret : 0;
}

struct fork_walk {
	ledger_fork_cb cb;
	void *arg;
};

static int fork_row(sqlite3_stmt *st, void *arg)
{
	struct fork_walk *w = arg;
	uint8_t author[32];

	col_blob(st, 0, author, 32);
	return w->cb(author, sqlite3_column_int64(st, 1),
		     sqlite3_column_blob(st, 2), sqlite3_column_bytes(st, 2),
		     sqlite3_column_blob(st, 3), sqlite3_column_bytes(st, 3), w->arg);
}

int ledger_foreach_fork(struct ledger *l, ledger_fork_cb cb, void *arg)
{
	struct fork_walk w = { cb, arg };

	return query(l, "SELECT author, seq, a, b FROM forks ORDER BY author, seq, a, b",
		     NULL, 0, fork_row, &w);
}

struct transfer_walk {
	ledger_transfer_cb cb;
	void *arg;
};

static int transfer_row(sqlite3_stmt *st, void *arg)
{
	struct transfer_walk *w = arg;
	struct ledger_transfer t;

	memset(&t, 0, sizeof(t));
	col_blob(st, 0, t.debtor, 32);
	col_blob(st, 1, t.creditor, 32);
	t.amount_wh = sqlite3_column_int64(st, 2);
	t.interval_start = sqlite3_column_int64(st, 3);
	t.debtor_seq = sqlite3_column_int64(st, 4);
	col_blob(st, 5, t.debtor_prev, 32);
	t.creditor_seq = sqlite3_column_int64(st, 6);
	col_blob(st, 7, t.creditor_prev, 32);
	return w->cb(&t, sqlite3_column_int(st, 8), w->arg);
}

int ledger_foreach_transfer(struct ledger *l, bool pending_only, ledger_transfer_cb cb, void *arg)
{
	struct transfer_walk w = { cb, arg };

	return query(l, "SELECT debtor, creditor, amount, interval_start, debtor_seq, debtor_prev, "
		     "creditor_seq, creditor_prev, counted FROM transfers "
		     "WHERE NOT counted OR NOT ?1 ORDER BY debtor, debtor_seq, id",
		     NULL, pending_only, transfer_row, &w);
}

static int count_row(sqlite3_stmt *st, void *arg)
{
	*(int *)arg = sqlite3_column_int(st, 0);
	return 0;
}

int ledger_held_count(struct ledger *l, const uint8_t *author)
{
	int n = 0, ret;

	if (author)
		ret = query(l, "SELECT COUNT(*) FROM held WHERE author = ?1", author, 0, count_row, &n);
	else
		ret = query(l, "SELECT COUNT(*) FROM held", NULL, 0, count_row, &n);
	return ret ? ret : n;
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, LEDGER_KEY_BYTES);
}

int ledger_set_members(struct ledger *l, const uint8_t (*keys)[LEDGER_KEY_BYTES], size_t n)
{
	uint8_t (*m)[LEDGER_KEY_BYTES] = NULL;

	if (keys && n) {
		m = malloc(n * LEDGER_KEY_BYTES);
		if (!m)
			return -ENOMEM;
		memcpy(m, keys, n * LEDGER_KEY_BYTES);
		qsort(m, n, LEDGER_KEY_BYTES, key_cmp);
	}
	free(l->members);
	l->members = m;
	l->nmembers = keys ? n : 0;
	l->members_set = keys != NULL;
	return 0;
}

bool ledger_is_member(const struct ledger *l, const uint8_t key[LEDGER_KEY_BYTES])
{
	if (!l->members_set)
		return true;
	return l->nmembers && bsearch(key, l->members, l->nmembers, LEDGER_KEY_BYTES, key_cmp);
}

void ledger_set_time(struct ledger *l, uint64_t now_ms)
{
	l->fixed_now_ms = now_ms;
}
