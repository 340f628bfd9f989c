// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd history: SQLite storage. See history.h for the schema.
 *
 * Statements are prepared once at open. Nothing here blocks for long: a
 * commit is one WAL append and fsync, done at most every few seconds and
 * at each event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "history.h"

struct pd_history {
	sqlite3 *db;
	sqlite3_stmt *add_minute, *set_meter, *get_meter, *add_event;
	sqlite3_stmt *prune_min, *prune_ev, *q_min_all, *q_min_chan, *q_ev;
	int in_tx;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS minute("
	" ts INTEGER NOT NULL, channel TEXT NOT NULL, circuit TEXT NOT NULL,"
	" import_mwh INTEGER NOT NULL DEFAULT 0,"
	" export_mwh INTEGER NOT NULL DEFAULT 0,"
	" peak_ma INTEGER NOT NULL DEFAULT 0,"
	" shed_events INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (ts, channel)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS event("
	" id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, kind TEXT NOT NULL,"
	" cause TEXT NOT NULL, relay TEXT, circuit TEXT, channel TEXT,"
	" value INTEGER NOT NULL, lim INTEGER NOT NULL, backoff INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS event_ts ON event(ts_ms);"
	"CREATE TABLE IF NOT EXISTS meter("
	" channel TEXT PRIMARY KEY, import_mwh INTEGER NOT NULL,"
	" export_mwh INTEGER NOT NULL);"
	"PRAGMA user_version = 1;";

static int prep(struct pd_history *h, sqlite3_stmt **st, const char *sql)
{
	return sqlite3_prepare_v3(h->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

const char *pd_history_error(struct pd_history *h)
{
	return sqlite3_errmsg(h->db);
}

int pd_history_open(struct pd_history **out, const char *path, char *err,
		    size_t errlen)
{
	struct pd_history *h = calloc(1, sizeof(*h));
	int ver = 0;
	sqlite3_stmt *st;

	if (!h) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if (sqlite3_open_v2(path, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	/* another process (a backup, sqlite3 CLI) may hold the lock briefly */
	sqlite3_busy_timeout(h->db, 2000);
	/* cache_size: 256 KiB, not SQLite's 2 MiB. A commit touches a few
	 * pages (the last leaves of minute and event, meter's); a chart
	 * query that reads more rereads them from the kernel's page cache.
	 * The default would let a daemon meant to stay under 8 MiB grow by
	 * 2 MiB as the file does. */
	if (sqlite3_exec(h->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			 " PRAGMA cache_size=-256;",
			 NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (prep(h, &st, "PRAGMA user_version") == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			ver = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	if (ver > 1) {
		snprintf(err, errlen, "%s: schema version %d is newer than this phloemd (1)",
			 path, ver);
		sqlite3_close(h->db);
		free(h);
		return -1;
	}
	if (sqlite3_exec(h->db, schema, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (prep(h, &h->add_minute,
		 "INSERT INTO minute(ts, channel, circuit, import_mwh, export_mwh, peak_ma, shed_events)"
		 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(ts, channel) DO UPDATE SET"
		 " import_mwh = import_mwh + excluded.import_mwh,"
		 " export_mwh = export_mwh + excluded.export_mwh,"
		 " peak_ma = max(peak_ma, excluded.peak_ma),"
		 " shed_events = shed_events + excluded.shed_events") ||
	    prep(h, &h->set_meter,
		 "INSERT OR REPLACE INTO meter(channel, import_mwh, export_mwh) VALUES (?1, ?2, ?3)") ||
	    prep(h, &h->get_meter, "SELECT import_mwh, export_mwh FROM meter WHERE channel = ?1") ||
	    prep(h, &h->add_event,
		 "INSERT INTO event(ts_ms, kind, cause, relay, circuit, channel, value, lim, backoff)"
		 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)") ||
	    prep(h, &h->prune_min, "DELETE FROM minute WHERE ts < ?1") ||
	    prep(h, &h->prune_ev, "DELETE FROM event WHERE ts_ms < ?1 * 1000") ||
	    prep(h, &h->q_min_all,
		 "SELECT ts, channel, circuit, import_mwh, export_mwh, peak_ma, shed_events"
		 " FROM minute WHERE ts >= ?1 ORDER BY ts, channel") ||
	    prep(h, &h->q_min_chan,
		 "SELECT ts, channel, circuit, import_mwh, export_mwh, peak_ma, shed_events"
		 " FROM minute WHERE ts >= ?1 AND (channel = ?2 OR circuit = ?2) ORDER BY ts") ||
	    prep(h, &h->q_ev,
		 "SELECT * FROM (SELECT id, ts_ms, kind, cause, relay, circuit, channel, value, lim, backoff"
		 " FROM event WHERE ts_ms >= ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id"))
		goto fail;
	*out = h;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", path, h->db ? sqlite3_errmsg(h->db) : "cannot open");
	pd_history_close(h);
	return -1;
}

void pd_history_close(struct pd_history *h)
{
	if (!h)
		return;
	sqlite3_finalize(h->add_minute);
	sqlite3_finalize(h->set_meter);
	sqlite3_finalize(h->get_meter);
	sqlite3_finalize(h->add_event);
	sqlite3_finalize(h->prune_min);
	sqlite3_finalize(h->prune_ev);
	sqlite3_finalize(h->q_min_all);
	sqlite3_finalize(h->q_min_chan);
	sqlite3_finalize(h->q_ev);
	sqlite3_close(h->db);
	free(h);
}

int pd_history_begin(struct pd_history *h)
{
	if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	h->in_tx = 1;
	return 0;
}

int pd_history_commit(struct pd_history *h)
{
	h->in_tx = 0;
	if (sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

void pd_history_rollback(struct pd_history *h)
{
	h->in_tx = 0;
	sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
}

static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int pd_history_add_minute(struct pd_history *h, const struct pd_minute_row *r)
{
	sqlite3_stmt *st = h->add_minute;

	sqlite3_bind_int64(st, 1, r->ts);
	sqlite3_bind_text(st, 2, r->channel, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, r->circuit, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, r->import_mwh);
	sqlite3_bind_int64(st, 5, r->export_mwh);
	sqlite3_bind_int64(st, 6, r->peak_ma);
	sqlite3_bind_int64(st, 7, r->shed_events);
	return run(st);
}

int pd_history_set_meter(struct pd_history *h, const char *channel,
			 uint64_t import_mwh, uint64_t export_mwh)
{
	sqlite3_bind_text(h->set_meter, 1, channel, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(h->set_meter, 2, (int64_t)import_mwh);
	sqlite3_bind_int64(h->set_meter, 3, (int64_t)export_mwh);
	return run(h->set_meter);
}

int pd_history_get_meter(struct pd_history *h, const char *channel,
			 uint64_t *import_mwh, uint64_t *export_mwh)
{
	sqlite3_stmt *st = h->get_meter;
	int rc;

	sqlite3_bind_text(st, 1, channel, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*import_mwh = (uint64_t)sqlite3_column_int64(st, 0);
		*export_mwh = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s && *s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

int pd_history_add_event(struct pd_history *h, const struct pd_event_row *e)
{
	sqlite3_stmt *st = h->add_event;

	sqlite3_bind_int64(st, 1, e->ts_ms);
	sqlite3_bind_text(st, 2, e->kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, e->cause, -1, SQLITE_TRANSIENT);
	bind_text_or_null(st, 4, e->relay);
	bind_text_or_null(st, 5, e->circuit);
	bind_text_or_null(st, 6, e->channel);
	sqlite3_bind_int64(st, 7, e->value);
	sqlite3_bind_int64(st, 8, e->limit);
	sqlite3_bind_int64(st, 9, e->backoff);
	return run(st);
}

int pd_history_prune(struct pd_history *h, int64_t before)
{
	sqlite3_bind_int64(h->prune_min, 1, before);
	sqlite3_bind_int64(h->prune_ev, 1, before);
	return run(h->prune_min) || run(h->prune_ev) ? -1 : 0;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

int pd_history_minutes(struct pd_history *h, int64_t since,
		       const char *channel, pd_minute_fn fn, void *ctx)
{
	sqlite3_stmt *st = channel ? h->q_min_chan : h->q_min_all;
	int rc, err = 0;

	sqlite3_bind_int64(st, 1, since);
	if (channel)
		sqlite3_bind_text(st, 2, channel, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && !err) {
		struct pd_minute_row r = {
			.ts = sqlite3_column_int64(st, 0),
			.channel = col_text(st, 1),
			.circuit = col_text(st, 2),
			.import_mwh = sqlite3_column_int64(st, 3),
			.export_mwh = sqlite3_column_int64(st, 4),
			.peak_ma = (uint32_t)sqlite3_column_int64(st, 5),
			.shed_events = (uint32_t)sqlite3_column_int64(st, 6),
		};

		err = fn(&r, ctx);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return err ? err : (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : -1;
}

int pd_history_events(struct pd_history *h, int64_t since_ms, uint32_t limit,
		      pd_event_fn_row fn, void *ctx)
{
	sqlite3_stmt *st = h->q_ev;
	int rc, err = 0;

	sqlite3_bind_int64(st, 1, since_ms);
	sqlite3_bind_int64(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && !err) {
		struct pd_event_row e = {
			.id = sqlite3_column_int64(st, 0),
			.ts_ms = sqlite3_column_int64(st, 1),
			.kind = col_text(st, 2),
			.cause = col_text(st, 3),
			.relay = col_text(st, 4),
			.circuit = col_text(st, 5),
			.channel = col_text(st, 6),
			.value = (uint32_t)sqlite3_column_int64(st, 7),
			.limit = (uint32_t)sqlite3_column_int64(st, 8),
			.backoff = (uint32_t)sqlite3_column_int64(st, 9),
		};

		err = fn(&e, ctx);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return err ? err : (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : -1;
}
