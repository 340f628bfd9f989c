// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd: the site's own metered intervals on its ledger chain (meter.h).
 *
 * One timerfd, CLOCK_REALTIME, absolute, armed at the next interval
 * boundary (start = k * settle_interval_s Unix seconds, the clock
 * settlement uses), with TFD_TIMER_CANCEL_ON_SET so a clock step wakes us
 * to re-arm. At each wake-up the backend's energy counters of the site
 * channel are read and fed to the accumulator (meter_acc.c); an interval
 * that ended is queued and appended to our chain as a LEDGER_T_METER entry.
 * The boundary reading is late only by the wake-up latency (ms): that
 * energy lands in the next interval, nothing is lost.
 *
 * Appending waits (retried every 100 ms) while a settlement proposal of
 * ours is in flight, since our chain's next position is promised to it,
 * and an interval that already has an entry of ours on the chain (a
 * restart, a clock step back) is never appended twice.
 *
 * The clean part of the export (docs/settlement.md, "Clean energy"): every
 * kernel sample (a site subscription) adds min(export, PV production) over
 * the time since the previous sample, with the PV the site's devices
 * reported last (pd_site_pv_mw()). The entry carries it (the 40-byte form)
 * only when a device told the PV production during the interval.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ledger/ledger.h"
#include "daemon.h"
#include "meter.h"

#define METER_RETRY_MS	100
/* Closed intervals waiting to be appended: a settlement in flight holds
 * them for seconds; 64 covers 16 h of 900 s intervals. */
#define METER_PENDING	64
/* A gap between kernel samples longer than this (the backend failed, the
 * loop stalled) counts only this long: clean energy is never made up. */
#define METER_CLEAN_GAP_MS	5000

/**
 * struct pd_meter - the meter in the daemon
 * @w: the boundary timer in the epoll set
 * @acc: the open interval (meter_acc.c)
 * @chan: device channel of the site current transformer
 * @pending: closed intervals not yet on the chain, oldest first
 * @last: the last interval appended (@have_last), and @last_seq its seq
 * @held: appending is held by a settlement in flight (logged once per hold)
 * @failing: the backend's status failed at the last reading (logged once)
 */
struct pd_meter {
	struct pd_watch w;	/* first: on_timer() gets this pointer */
	struct phloemd *d;
	struct pd_meter_acc acc;
	uint32_t chan;
	int npending;
	struct pd_meter_interval pending[METER_PENDING];
	bool have_last;
	struct pd_meter_interval last;
	uint64_t last_seq;
	uint64_t appended, duplicates, dropped, refused;
	bool held;
	bool failing;
	int sub;
	uint64_t last_sample_ms;
};

#define mlog(...) pd_log("meter", __VA_ARGS__)

static uint64_t real_ms(void)
{
	return pd_realtime_ms();
}

static void arm(struct pd_meter *m, uint64_t at_ms)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = (time_t)(at_ms / 1000);
	its.it_value.tv_nsec = (long)(at_ms % 1000) * 1000000L;
	if (timerfd_settime(m->w.fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL))
		mlog("cannot arm the boundary timer: %s", strerror(errno));
}

static void queue(struct pd_meter *m, const struct pd_meter_interval *iv)
{
	if (m->npending == METER_PENDING) {
		mlog("interval %" PRIu64 " dropped: %d intervals already wait to be appended",
		     m->pending[0].start, METER_PENDING);
		memmove(&m->pending[0], &m->pending[1], sizeof(m->pending[0]) * (METER_PENDING - 1));
		m->npending--;
		m->dropped++;
	}
	m->pending[m->npending++] = *iv;
}

/* Read the counters now and feed them; false when the backend failed. */
static bool reading(struct phloemd *d, struct pd_meter *m)
{
	const struct phloem_status *st = &d->site.kernel.st;
	struct pd_meter_interval iv;
	unsigned int r;
	/* a fresh sample: the reading belongs to this boundary */
	int err = pd_site_sample(&d->site);

	if (err) {
		if (!m->failing)
			mlog("cannot read the energy counters: %s (retried)", strerror(-err));
		m->failing = true;
		return false;
	}
	m->failing = false;
	r = pd_meter_feed(&m->acc, real_ms(), st->energy[m->chan].import_mwh,
			  st->energy[m->chan].export_mwh, &iv);
	if (r & PD_METER_BACKWARDS)
		mlog("energy counters of %s went backwards (device probed again?): new baseline, interval %" PRIu64 " under-reported",
		     d->info.chan[m->chan].name, m->acc.start);
	if (r & PD_METER_CLOSED)
		queue(m, &iv);
	return true;
}

struct own_walk {
	const uint8_t *key;
	bool found;
};

static int own_meter(const uint8_t author[LEDGER_KEY_BYTES], const struct ledger_meter *mt,
		     void *arg)
{
	struct own_walk *w = arg;

	if (memcmp(author, w->key, LEDGER_KEY_BYTES))
		return 0;
	w->found = true;
	return 1;
}

/*
 * Append the oldest pending interval. Returns 1 when it left the queue
 * (appended, already there, or refused for good), 0 to try again later.
 */
static int append_one(struct phloemd *d, struct pd_meter *m)
{
	struct ledger *l = pd_peers_ledger(d);
	const struct ledger_identity *id = pd_peers_identity(d);
	const struct pd_meter_interval *iv = &m->pending[0];
	struct own_walk w = { .key = id->pk };
	struct ledger_entry e;
	char clean[48];
	int ret;

	ret = ledger_foreach_meter(l, iv->start, own_meter, &w);
	if (ret < 0) {
		mlog("interval %" PRIu64 ": reading the ledger: %s (retried)", iv->start,
		     strerror(-ret));
		return 0;
	}
	if (w.found) {
		/* a restart or a clock step back: the chain has it, and a
		 * second entry would make settlement refuse the interval */
		mlog("interval %" PRIu64 " is already on our chain: not appended again", iv->start);
		m->duplicates++;
		return 1;
	}
	memset(&e, 0, sizeof(e));
	e.type = LEDGER_T_METER;
	e.body.meter.interval_start = iv->start;
	e.body.meter.interval_len = iv->len;
	e.body.meter.wh_import = iv->wh_import;
	e.body.meter.wh_export = iv->wh_export;
	e.body.meter.channels = 1u << m->chan;
	e.body.meter.clean_known = iv->clean_known;
	e.body.meter.wh_clean = iv->wh_clean;
	ret = ledger_append(l, id->pk, id, &e, NULL);
	if (ret < 0 || ret == LEDGER_E_DOUBLE_SPEND) {
		/* storage trouble, or a transfer we did not propose holds our
		 * next position (a creditor's copy): both pass */
		mlog("interval %" PRIu64 ": %s (retried)", iv->start,
		     ret < 0 ? strerror(-ret) : ledger_strerror(ret));
		return 0;
	}
	if (ret) {
		mlog("interval %" PRIu64 " refused by the ledger: %s", iv->start,
		     ledger_strerror(ret));
		m->refused++;
		return 1;
	}
	snprintf(clean, sizeof(clean), " (%" PRIu64 " Wh clean)", iv->wh_clean);
	mlog("interval %" PRIu64 "+%" PRIu32 " s: import %" PRIu64 " Wh, export %" PRIu64
	     " Wh%s, seq %" PRIu64 "%s", iv->start, iv->len, iv->wh_import,
	     iv->wh_export, iv->clean_known ? clean : "", e.seq,
	     iv->partial ? " (partial: metered from phloemd's start or a counter reset)" : "");
	m->have_last = true;
	m->last = *iv;
	m->last_seq = e.seq;
	m->appended++;
	return 1;
}

static void flush(struct phloemd *d, struct pd_meter *m)
{
	while (m->npending) {
		if (!pd_peers_may_append(d)) {
			if (!m->held)
				mlog("a settlement proposal of ours holds the chain's next position: interval %" PRIu64 " waits",
				     m->pending[0].start);
			m->held = true;
			return;
		}
		m->held = false;
		if (!append_one(d, m))
			return;
		m->npending--;
		memmove(&m->pending[0], &m->pending[1], sizeof(m->pending[0]) * (size_t)m->npending);
	}
}

static void on_timer(struct pd_watch *w, uint32_t events)
{
	/* @w is the first member of struct pd_meter */
	struct pd_meter *m = (struct pd_meter *)w;
	struct phloemd *d = m->d;
	uint32_t len = d->cfg.peer_settle_interval_s;
	uint64_t n, now, next;
	bool ok;

	(void)events;
	/* ECANCELED: the clock was set; the re-arm below follows it */
	if (read(w->fd, &n, sizeof(n)) < 0 && errno != ECANCELED && errno != EAGAIN)
		mlog("boundary timer: %s", strerror(errno));
	if (len != m->acc.len) {
		/* a reload changed the interval: the open one no longer
		 * matches what settlement will ask for */
		mlog("settle_interval_s %" PRIu32 " -> %" PRIu32 " s: the open interval is not metered",
		     m->acc.len, len);
		pd_meter_init(&m->acc, len);
	}
	ok = reading(d, m);
	flush(d, m);
	now = real_ms();
	next = pd_meter_next_boundary(len, now / 1000) * 1000;
	/* a failed reading or a held append looks again soon; the boundary
	 * itself is never passed by */
	if ((!ok || m->npending) && now + METER_RETRY_MS < next)
		next = now + METER_RETRY_MS;
	arm(m, next);
}

/* PD_SITE_KERNEL: this sample's share of the open interval's clean export */
static void on_sample(void *ctx, struct pd_site *s, uint32_t changed,
		      const struct pd_event_row *ev)
{
	struct pd_meter *m = ctx;
	uint64_t t = s->kernel.time_ms, dt;
	bool known;
	int64_t pv;

	(void)changed;
	(void)ev;
	if (!s->kernel.valid || t <= m->last_sample_ms)
		return;
	dt = m->last_sample_ms ? t - m->last_sample_ms : 0;
	m->last_sample_ms = t;
	if (dt > METER_CLEAN_GAP_MS)
		dt = METER_CLEAN_GAP_MS;
	pv = pd_site_pv_mw(s, &known);
	pd_meter_clean(&m->acc, dt, s->kernel.st.site_p_mw, pv, known);
}

int pd_meter_open(struct phloemd *d)
{
	struct pd_meter *m;
	int dc;

	if (!pd_peers_ledger(d) || !pd_peers_identity(d))
		return 0;
	dc = d->circ_map[0];
	if (dc < 0 || (uint32_t)dc >= d->info.ncircuits ||
	    d->info.circuit[dc].channel >= d->info.nchannels ||
	    d->info.chan[d->info.circuit[dc].channel].kind != PHLOEM_CHAN_CURRENT) {
		mlog("the site circuit has no current channel on device %s: not metering",
		     d->info.name);
		return 0;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->d = d;
	m->chan = d->info.circuit[dc].channel;
	pd_meter_init(&m->acc, d->cfg.peer_settle_interval_s);
	m->w.fn = on_timer;
	m->w.fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (m->w.fd < 0 || pd_watch_add(d, &m->w, EPOLLIN)) {
		int err = -errno;

		if (m->w.fd >= 0)
			close(m->w.fd);
		free(m);
		return err;
	}
	m->sub = pd_site_subscribe(&d->site, PD_SITE_KERNEL, on_sample, m);
	if (m->sub < 0)
		mlog("no room to follow the kernel's samples: no clean part in our entries");
	d->meter = m;
	/* the baseline: what the counters held before now is not ours to
	 * put in this interval (a restart under-reports it, see meter.h) */
	on_timer(&m->w, 0);
	mlog("site channel %s into our chain every %" PRIu32 " s", d->info.chan[m->chan].name,
	     m->acc.len);
	return 0;
}

void pd_meter_close(struct phloemd *d)
{
	struct pd_meter *m = d->meter;

	if (!m)
		return;
	if (m->npending)
		mlog("stopping with %d intervals not appended (from %" PRIu64 ")", m->npending,
		     m->pending[0].start);
	if (m->sub >= 0)
		pd_site_unsubscribe(&d->site, m->sub);
	pd_watch_del(d, &m->w);
	close(m->w.fd);
	free(m);
	d->meter = NULL;
}

#define ADD(o, k, v) json_object_object_add((o), (k), (v))

struct json_object *pd_meter_json(struct phloemd *d)
{
	struct pd_meter *m = d->meter;
	struct json_object *o;

	if (!m)
		return NULL;
	o = json_object_new_object();
	ADD(o, "interval_s", json_object_new_int64(m->acc.len));
	ADD(o, "channel", json_object_new_string(d->info.chan[m->chan].name));
	ADD(o, "appended", json_object_new_int64((int64_t)m->appended));
	ADD(o, "pending", json_object_new_int(m->npending));
	ADD(o, "duplicates_skipped", json_object_new_int64((int64_t)m->duplicates));
	ADD(o, "dropped", json_object_new_int64((int64_t)m->dropped));
	ADD(o, "refused", json_object_new_int64((int64_t)m->refused));
	if (m->have_last) {
		struct json_object *l = json_object_new_object();

		ADD(l, "start", json_object_new_int64((int64_t)m->last.start));
		ADD(l, "len", json_object_new_int64(m->last.len));
		ADD(l, "wh_import", json_object_new_int64((int64_t)m->last.wh_import));
		ADD(l, "wh_export", json_object_new_int64((int64_t)m->last.wh_export));
		if (m->last.clean_known)
			ADD(l, "wh_clean", json_object_new_int64((int64_t)m->last.wh_clean));
		ADD(l, "partial", json_object_new_boolean(m->last.partial));
		ADD(l, "seq", json_object_new_int64((int64_t)m->last_seq));
		ADD(o, "last", l);
	}
	return o;
}
