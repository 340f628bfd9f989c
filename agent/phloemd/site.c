// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd: the site state and its subscribers (site.h says what and why).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "phloemd.h"
#include "site.h"

void pd_site_init(struct pd_site *s)
{
	pd_zero(s, sizeof(*s));	/* in .bss (phloemd.h) */
}

int pd_site_subscribe(struct pd_site *s, uint32_t mask, pd_site_fn fn,
		      void *ctx)
{
	for (int i = 0; i < PD_SITE_MAX_SUBS; i++)
		if (!s->sub[i].fn) {
			s->sub[i].mask = mask;
			s->sub[i].fn = fn;
			s->sub[i].ctx = ctx;
			return i;
		}
	return -ENOSPC;
}

void pd_site_unsubscribe(struct pd_site *s, int handle)
{
	if (handle < 0 || handle >= PD_SITE_MAX_SUBS)
		return;
	s->sub[handle].fn = NULL;
	s->sub[handle].mask = 0;
}

void pd_site_commit(struct pd_site *s, uint32_t what)
{
	s->pending |= what & PD_SITE_ALL & ~PD_SITE_EVENT;
}

static const char *copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
	return dst;
}

void pd_site_event(struct pd_site *s, const struct pd_event_row *e)
{
	struct pd_site_evq_entry *q;

	if (s->evq_len == PD_SITE_EVQ) {
		s->evq_head = (s->evq_head + 1) % PD_SITE_EVQ;
		s->evq_len--;
		s->events_dropped++;
	}
	q = &s->evq[(s->evq_head + s->evq_len++) % PD_SITE_EVQ];
	q->row = *e;
	q->row.kind = copy(q->kind, sizeof(q->kind), e->kind);
	q->row.cause = copy(q->cause, sizeof(q->cause), e->cause);
	q->row.relay = copy(q->relay, sizeof(q->relay), e->relay);
	q->row.circuit = copy(q->circuit, sizeof(q->circuit), e->circuit);
	q->row.channel = copy(q->channel, sizeof(q->channel), e->channel);
}

bool pd_site_dispatch(struct pd_site *s)
{
	/* a subscriber that posts from its callback is dispatched in the
	 * next round, not recursively */
	if (s->dispatching)
		return true;
	s->dispatching = true;
	for (int round = 0; round < PD_SITE_ROUNDS; round++) {
		uint32_t changed = s->pending;
		unsigned nev = s->evq_len;

		if (!changed && !nev)
			break;
		s->pending = 0;
		/* events first, in order: a consumer of state sees the event
		 * that explains a change before the change */
		while (nev--) {
			struct pd_site_evq_entry q = s->evq[s->evq_head];

			q.row.kind = q.kind;
			q.row.cause = q.cause;
			q.row.relay = q.relay;
			q.row.circuit = q.circuit;
			q.row.channel = q.channel;
			s->evq_head = (s->evq_head + 1) % PD_SITE_EVQ;
			s->evq_len--;
			for (int i = 0; i < PD_SITE_MAX_SUBS; i++)
				if (s->sub[i].fn && (s->sub[i].mask & PD_SITE_EVENT))
					s->sub[i].fn(s->sub[i].ctx, s, PD_SITE_EVENT, &q.row);
		}
		if (!changed)
			continue;
		for (int i = 0; i < PD_SITE_MAX_SUBS; i++)
			if (s->sub[i].fn && (s->sub[i].mask & changed))
				s->sub[i].fn(s->sub[i].ctx, s, s->sub[i].mask & changed, NULL);
	}
	s->dispatching = false;
	return s->pending || s->evq_len;
}

void pd_site_set_sampler(struct pd_site *s, pd_site_sample_fn fn, void *ctx)
{
	s->sample_fn = fn;
	s->sample_ctx = ctx;
}

int pd_site_sample(struct pd_site *s)
{
	if (!s->sample_fn)
		return -ENODEV;
	return s->sample_fn(s->sample_ctx, s);
}

void pd_site_device_forget(struct pd_site *s, int i)
{
	struct pd_site_device *d = &s->dev[i];

	d->ac_mw = d->pv_mw = d->soc_mpct = d->reserve_mpct = pd_val_unknown();
	d->capacity_mwh = d->max_charge_mw = d->max_discharge_mw = pd_val_unknown();
	d->setpoint_mw = d->pv_limit_mpct = d->rating_mw = pd_val_unknown();
	d->meter_mw = d->import_mwh = d->export_mwh = pd_val_unknown();
	d->vrms_mv = d->freq_mhz = pd_val_unknown();
}

int pd_site_device_add(struct pd_site *s, const char *name,
		       enum pd_dev_kind kind)
{
	struct pd_site_device *d;

	if (s->ndevices >= PD_SITE_MAX_DEVICES)
		return -ENOSPC;
	d = &s->dev[s->ndevices];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->kind = kind;
	d->state = PD_DEV_S_INIT;
	pd_site_device_forget(s, s->ndevices);
	s->pending |= PD_SITE_DEVICES;
	return s->ndevices++;
}

int pd_site_device_find(const struct pd_site *s, const char *name)
{
	for (int i = 0; i < s->ndevices; i++)
		if (!strcmp(s->dev[i].name, name))
			return i;
	return -1;
}

const char *pd_dev_kind_name(enum pd_dev_kind k)
{
	static const char *const n[] = {
		[PD_DEV_UNKNOWN] = "unknown", [PD_DEV_INVERTER] = "inverter",
		[PD_DEV_BATTERY] = "battery", [PD_DEV_METER] = "meter",
	};

	return (unsigned)k < sizeof(n) / sizeof(n[0]) ? n[k] : "unknown";
}

const char *pd_dev_state_name(enum pd_dev_state st)
{
	static const char *const n[] = {
		[PD_DEV_S_INIT] = "init", [PD_DEV_S_DISCOVER] = "discovering",
		[PD_DEV_S_ONLINE] = "online", [PD_DEV_S_OFFLINE] = "offline",
		[PD_DEV_S_ERROR] = "error",
	};

	return (unsigned)st < sizeof(n) / sizeof(n[0]) ? n[st] : "unknown";
}

static int64_t sum_kind(const struct pd_site *s, enum pd_dev_kind kind,
			bool *known)
{
	int64_t sum = 0;

	*known = false;
	for (int i = 0; i < s->ndevices; i++) {
		const struct pd_site_device *d = &s->dev[i];

		if (d->kind != kind || d->state != PD_DEV_S_ONLINE || !d->ac_mw.known)
			continue;
		sum += d->ac_mw.milli;
		*known = true;
	}
	return sum;
}

int64_t pd_site_pv_mw(const struct pd_site *s, bool *known)
{
	bool k1;
	int64_t pv = sum_kind(s, PD_DEV_INVERTER, &k1);

	*known = k1;
	/* a hybrid (storage with a PV input) tells its PV side apart */
	for (int i = 0; i < s->ndevices; i++) {
		const struct pd_site_device *d = &s->dev[i];

		if (d->kind == PD_DEV_BATTERY && d->state == PD_DEV_S_ONLINE && d->pv_mw.known) {
			pv += d->pv_mw.milli;
			*known = true;
		}
	}
	return pv;
}

int64_t pd_site_battery_mw(const struct pd_site *s, bool *known)
{
	return sum_kind(s, PD_DEV_BATTERY, known);
}
