// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd: battery setpoints and PV curtailment, a closed loop on the
 * kernel's measurement (docs/modbus.md, "Control").
 *
 * Every kernel sample (PD_SITE_KERNEL, [agent] sample_ms) is one decision.
 * The decision is made on the site's load without the battery, L = grid +
 * battery, so it does not depend on what it decided last time and cannot
 * oscillate between two rules: the battery's target follows from L alone,
 * the PV limit from what the grid would be once the battery is there.
 * A posted setpoint holds further decisions for that device until the
 * meter can have seen it (3 samples, at least 300 ms).
 *
 * Several batteries are decided as one (pd_devctl_batteries()) and the
 * setpoint split among them (pd_devctl_split()); several PV inverters as
 * one of their summed rating, each limited to the same share of its own.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "devices.h"

#define DEADBAND_MW	50000	/* 50 W */
#define PV_STEP_MPCT	1000	/* 1 % of the rating */

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void pd_devctl_plan(const struct pd_devctl_in *in, struct pd_devctl_out *out)
{
	int64_t grid_after = in->grid_mw;

	*out = (struct pd_devctl_out){ .why = "" };
	if (in->batt) {
		int64_t load = in->grid_mw + in->batt_ref_mw, t, band;

		if (in->discharge_window) {
			t = load;			/* cover the whole import */
			out->why = "expensive window: discharge to zero import";
		} else if (in->peak_mw && load > in->peak_mw) {
			t = load - in->peak_mw;		/* shave the peak */
			out->why = "peak shaving";
		} else if (load < 0) {
			t = load;			/* store the surplus */
			out->why = "charge from surplus";
		} else {
			t = 0;
			out->why = "hold";
		}
		t = clamp(t, -in->max_charge_mw, in->max_discharge_mw);
		if (t > 0 && in->soc_mpct <= in->reserve_mpct) {
			t = 0;
			out->why = "at reserve: no discharge";
		}
		if (t < 0 && in->soc_mpct >= 100000) {
			t = 0;
			out->why = "full: no charge";
		}
		band = in->max_charge_mw / 100 > DEADBAND_MW ? in->max_charge_mw / 100 : DEADBAND_MW;
		if (llabs(t - in->batt_ref_mw) > band || (t == 0 && in->batt_ref_mw != 0)) {
			out->batt_write = true;
			out->batt_mw = t;
		}
		grid_after = load - t;
	}
	if (in->pv && in->export_limit_mw && in->pv_rating_mw > 0) {
		/* the PV may produce what keeps the export at the limit */
		int64_t allowed = grid_after + in->pv_mw + in->export_limit_mw, pct;

		pct = allowed >= in->pv_rating_mw ? 100000 :
		      clamp(allowed * 100000 / in->pv_rating_mw, 0, 100000);
		if (in->pv_ref_mpct >= 100000 && grid_after >= -in->export_limit_mw)
			pct = 100000;	/* not curtailed, and no need */
		/* curtailed, but producing well below its limit (the sun
		 * went): the limit holds nothing back, let it go */
		if (in->pv_ref_mpct < 100000 && grid_after >= -in->export_limit_mw &&
		    in->pv_mw * 100000 < (in->pv_ref_mpct - 2 * PV_STEP_MPCT) * in->pv_rating_mw)
			pct = 100000;
		if ((pct >= 100000) != (in->pv_ref_mpct >= 100000) ||
		    llabs(pct - in->pv_ref_mpct) > PV_STEP_MPCT) {
			out->pv_write = true;
			out->pv_mpct = pct;
			if (!*out->why || !out->batt_write)
				out->why = pct >= 100000 ? "export limit: release PV" :
					   "export limit: curtail PV";
		}
	}
}

void pd_devctl_batteries(const struct pd_devctl_batt *b, int n, struct pd_devctl_in *in)
{
	int64_t ch = 0, dis = 0, ch_all = 0, dis_all = 0;
	bool above = false, full = true;

	in->batt = n > 0;
	in->batt_ref_mw = 0;
	for (int i = 0; i < n; i++) {
		bool a = b[i].soc_mpct > b[i].reserve_mpct, f = b[i].soc_mpct >= 100000;

		in->batt_ref_mw += b[i].ref_mw;
		ch_all += b[i].max_charge_mw;
		dis_all += b[i].max_discharge_mw;
		if (a)
			dis += b[i].max_discharge_mw;
		if (!f)
			ch += b[i].max_charge_mw;
		above |= a;
		full &= f;
	}
	/* one battery: itself; several: the rules see "some may discharge"
	 * (50 %, reserve 0), "none may" (at reserve) or "all are full" */
	if (n == 1) {
		in->soc_mpct = b[0].soc_mpct;
		in->reserve_mpct = b[0].reserve_mpct;
	} else {
		in->soc_mpct = full ? 100000 : above ? 50000 : 0;
		in->reserve_mpct = 0;
	}
	in->max_charge_mw = full ? ch_all : ch;
	in->max_discharge_mw = above ? dis : dis_all;
}

/* weight of battery @b for a share of sign @dis: its energy that way, Wh */
static int64_t split_weight(const struct pd_devctl_batt *b, bool dis)
{
	int64_t rate = dis ? b->max_discharge_mw : b->max_charge_mw;
	int64_t cap = b->capacity_mwh > 0 ? b->capacity_mwh : rate;	/* 1 h */
	int64_t pct = dis ? b->soc_mpct - b->reserve_mpct : 100000 - b->soc_mpct;

	if (pct <= 0 || rate <= 0)
		return 0;
	/* Wh (+1: a battery just above its reserve still takes a share);
	 * times a power in mW it stays far inside int64 for any real site */
	return cap / 1000 * pct / 100000 + 1;
}

void pd_devctl_split(const struct pd_devctl_batt *b, int n, int64_t total_mw, int64_t *out)
{
	bool dis = total_mw > 0, done[PD_SITE_MAX_DEVICES] = { false };
	int64_t left = dis ? total_mw : -total_mw;

	for (int i = 0; i < n; i++)
		out[i] = 0;
	if (!left || n <= 0 || n > PD_SITE_MAX_DEVICES)
		return;
	/*
	 * Water filling: share what is left among the batteries not yet at
	 * their rate, in proportion to their weight; a battery whose share
	 * reaches its rate gets its rate and leaves. At most n rounds.
	 */
	for (int round = 0; round < n && left > 0; round++) {
		int64_t wsum = 0, given = 0;
		bool capped = false;

		for (int i = 0; i < n; i++)
			if (!done[i])
				wsum += split_weight(&b[i], dis);
		if (!wsum)
			break;
		for (int i = 0; i < n; i++) {
			int64_t w = done[i] ? 0 : split_weight(&b[i], dis);
			int64_t rate = dis ? b[i].max_discharge_mw : b[i].max_charge_mw;

			if (!w)
				continue;
			if (left * w / wsum >= rate - out[i]) {
				given += rate - out[i];
				out[i] = rate;
				done[i] = true;
				capped = true;
			}
		}
		left -= given;
		if (capped)
			continue;
		given = 0;
		for (int i = 0; i < n; i++) {
			int64_t w = done[i] ? 0 : split_weight(&b[i], dis), x;

			if (!w)
				continue;
			x = left * w / wsum;
			out[i] += x;
			given += x;
		}
		/* the rounding remainder, first battery first, within rates */
		for (int i = 0; i < n && given < left; i++) {
			int64_t rate = dis ? b[i].max_discharge_mw : b[i].max_charge_mw;
			int64_t room = done[i] || !split_weight(&b[i], dis) ? 0 : rate - out[i];
			int64_t x = room < left - given ? room : left - given;

			out[i] += x;
			given += x;
		}
		left -= given;
		break;
	}
	if (!dis)
		for (int i = 0; i < n; i++)
			out[i] = -out[i];
}

/* ---- in the daemon (devctl_test builds the rules above alone) ---- */
#ifndef PD_DEVCTL_PURE
#define ctl_log(...) pd_log("control", __VA_ARGS__)

static const char *fmt_w(int64_t mw, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRId64 " W", mw / 1000);
	return buf;
}

void pd_devctl_init(struct pd_devctl *c)
{
	*c = (struct pd_devctl){ 0 };
}

/* an inverter's PV limit in force, m%: above 100 % it does not limit */
static int64_t pv_limit(const struct pd_site_device *d)
{
	return d->pv_limit_mpct.milli > 100000 ? 100000 : d->pv_limit_mpct.milli;
}

static int64_t ref(struct pd_val set, struct pd_val ac)
{
	return set.known ? set.milli : ac.known ? ac.milli : 0;
}

void pd_devctl_run(struct pd_devctl *c, struct pd_devices *mod,
		   const struct pd_config *cfg, const struct pd_site *s, time_t now)
{
	uint64_t ms = pd_devices_mono_ns() / 1000000, hold;
	struct pd_devctl_in in = {
		.grid_mw = s->kernel.st.site_p_mw,
		.export_limit_mw = cfg->export_limit_mw,
		.peak_mw = cfg->peak_target_mw,
	};
	struct pd_devctl_out out;
	struct pd_devctl_batt b[PD_SITE_MAX_DEVICES];
	int bi[PD_SITE_MAX_DEVICES], pi[PD_SITE_MAX_DEVICES], nb = 0, np = 0;
	int64_t share[PD_SITE_MAX_DEVICES], rating = 0, limit_w = 0;
	char wbuf[32];

	if (!s->kernel.valid || s->kernel.seq == c->last_kernel_seq)
		return;
	c->last_kernel_seq = s->kernel.seq;
	/* one decision covers batteries and PV together: none until the
	 * meter can have seen the last one */
	for (int i = 0; i < PD_SITE_MAX_DEVICES; i++)
		if (ms < c->hold_until_ms[i])
			return;
	for (int i = 0; i < cfg->ntou; i++)
		if ((s->limits.windows & (1u << i)) && cfg->tou[i].discharge)
			in.discharge_window = true;
	/* every controllable battery and PV inverter that is online */
	for (int i = 0; i < s->ndevices && i < cfg->ndevices; i++) {
		const struct pd_site_device *d = &s->dev[i];

		if (!cfg->dev[i].control || d->state != PD_DEV_S_ONLINE)
			continue;
		if (d->kind == PD_DEV_BATTERY && d->soc_mpct.known && d->max_charge_mw.known &&
		    d->max_charge_mw.milli > 0) {
			b[nb] = (struct pd_devctl_batt){
				.soc_mpct = d->soc_mpct.milli,
				.reserve_mpct = d->reserve_mpct.known ? d->reserve_mpct.milli : 0,
				.capacity_mwh = d->capacity_mwh.known ? d->capacity_mwh.milli : 0,
				.max_charge_mw = d->max_charge_mw.milli,
				.max_discharge_mw = d->max_discharge_mw.known ?
						    d->max_discharge_mw.milli : d->max_charge_mw.milli,
				.ref_mw = ref(d->setpoint_mw, d->ac_mw),
			};
			bi[nb++] = i;
		} else if (d->kind == PD_DEV_INVERTER && d->ac_mw.known && d->rating_mw.known &&
			   d->rating_mw.milli > 0 && d->pv_limit_mpct.known) {
			/* several inverters are one: the same share of each
			 * one's rating, so the limit in force is the
			 * rating-weighted mean of theirs */
			in.pv = true;
			in.pv_mw += d->ac_mw.milli;
			rating += d->rating_mw.milli;
			limit_w += d->rating_mw.milli / 1000 * pv_limit(d);
			pi[np++] = i;
		}
	}
	if (nb)
		pd_devctl_batteries(b, nb, &in);
	if (np) {
		in.pv_rating_mw = rating;
		in.pv_ref_mpct = rating / 1000 ? limit_w / (rating / 1000) : 100000;
	}
	if (!in.batt && !in.pv)
		return;
	pd_devctl_plan(&in, &out);
	hold = 3ull * cfg->sample_ms > 300 ? 3ull * cfg->sample_ms : 300;
	/*
	 * Several batteries: the total may be right but its split not (one
	 * came online after the others took it all, SoCs drifted apart):
	 * the same total, split again, when a share is off by the deadband.
	 */
	if (!out.batt_write && nb > 1) {
		pd_devctl_split(b, nb, in.batt_ref_mw, share);
		for (int k = 0; k < nb; k++)
			if (llabs(share[k] - b[k].ref_mw) > DEADBAND_MW) {
				out.batt_write = true;
				out.batt_mw = in.batt_ref_mw;
				out.why = "several batteries: split again";
			}
	}
	/* several inverters at different limits: all to the mean in force */
	if (!out.pv_write && np > 1) {
		for (int k = 0; k < np; k++) {
			if (llabs(pv_limit(&s->dev[pi[k]]) - in.pv_ref_mpct) > PV_STEP_MPCT) {
				out.pv_write = true;
				out.pv_mpct = in.pv_ref_mpct;
				if (!out.batt_write)
					out.why = "several inverters: one limit";
			}
		}
	}
	if (out.batt_write || out.pv_write)
		ctl_log("grid %" PRId64 " W: %s%s%s", in.grid_mw / 1000, out.why,
			out.batt_write ? ", battery setpoint " : "",
			out.batt_write ? fmt_w(out.batt_mw, wbuf, sizeof(wbuf)) : "");
	if (out.batt_write) {
		pd_devctl_split(b, nb, out.batt_mw, share);
		for (int k = 0; k < nb; k++) {
			/* a battery whose share did not move is left alone */
			if (nb > 1 && share[k] == b[k].ref_mw)
				continue;
			if (nb > 1)
				ctl_log("  %s: %s", s->dev[bi[k]].name,
					fmt_w(share[k], wbuf, sizeof(wbuf)));
			if (!pd_devices_post(mod, bi[k], true, share[k], false, 0)) {
				c->hold_until_ms[bi[k]] = ms + hold;
				c->writes++;
			}
		}
	}
	if (out.pv_write) {
		for (int k = 0; k < np; k++) {
			if (!pd_devices_post(mod, pi[k], false, 0, true, out.pv_mpct)) {
				c->hold_until_ms[pi[k]] = ms + hold;
				c->writes++;
			}
		}
	}
	(void)now;
}
#endif /* PD_DEVCTL_PURE */
