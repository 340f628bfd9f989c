/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemd history: the SQLite file of per-minute energy per channel and the
 * event log. Also the metered input of settlement.
 *
 * Schema (PRAGMA user_version = 1):
 *   minute(ts, channel, circuit, import_mwh, export_mwh, peak_ma,
 *          shed_events)       one row per channel per minute; ts is the
 *                             unix time of the minute's start (agent clock)
 *   event(id, ts_ms, kind, cause, relay, circuit, channel, value, lim,
 *         backoff)            every event the backend reported
 *   meter(channel, import_mwh, export_mwh)
 *                             last energy counters seen, so a restarted
 *                             daemon counts from where the last one stopped
 *
 * WAL journal with synchronous=FULL: a commit is on disk when it returns,
 * so a SIGKILL or power cut loses nothing that was committed.
 */
#ifndef PHLOEMD_HISTORY_H
#define PHLOEMD_HISTORY_H

#include <stddef.h>
#include <stdint.h>

struct pd_history;

struct pd_minute_row {
	int64_t ts;
	const char *channel;
	const char *circuit;
	int64_t import_mwh;
	int64_t export_mwh;
	uint32_t peak_ma;
	uint32_t shed_events;
};

struct pd_event_row {
	int64_t id;
	int64_t ts_ms;
	const char *kind;
	const char *cause;
	const char *relay;
	const char *circuit;
	const char *channel;
	uint32_t value;
	uint32_t limit;
	uint32_t backoff;
};

int pd_history_open(struct pd_history **h, const char *path, char *err,
		    size_t errlen);
void pd_history_close(struct pd_history *h);
const char *pd_history_error(struct pd_history *h);

int pd_history_begin(struct pd_history *h);
int pd_history_commit(struct pd_history *h);
void pd_history_rollback(struct pd_history *h);

/** Add to a minute row (created at zero when absent); peak is a max. */
int pd_history_add_minute(struct pd_history *h, const struct pd_minute_row *r);
int pd_history_set_meter(struct pd_history *h, const char *channel,
			 uint64_t import_mwh, uint64_t export_mwh);
/** Return: 0, 1 when the channel has no stored counters, -1 on error. */
int pd_history_get_meter(struct pd_history *h, const char *channel,
			 uint64_t *import_mwh, uint64_t *export_mwh);
/** Insert an event; its own transaction unless one is open. */
int pd_history_add_event(struct pd_history *h, const struct pd_event_row *e);
/** Drop minute rows and events older than @before (unix seconds). */
int pd_history_prune(struct pd_history *h, int64_t before);

typedef int (*pd_minute_fn)(const struct pd_minute_row *r, void *ctx);
typedef int (*pd_event_fn_row)(const struct pd_event_row *e, void *ctx);
/** Rows from @since on, oldest first; @channel NULL for every channel. */
int pd_history_minutes(struct pd_history *h, int64_t since,
		       const char *channel, pd_minute_fn fn, void *ctx);
/** The @limit most recent events at or after @since_ms, oldest first. */
int pd_history_events(struct pd_history *h, int64_t since_ms, uint32_t limit,
		      pd_event_fn_row fn, void *ctx);

#endif /* PHLOEMD_HISTORY_H */
