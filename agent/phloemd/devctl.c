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
	int bi = -1, pi = -1;
	char wbuf[32];

	if (!s->kernel.valid || s->kernel.seq == c->last_kernel_seq)
		return;
	c->last_kernel_seq = s->kernel.seq;
	/* one decision covers battery and PV together: none until the
	 * meter can have seen the last one */
	for (int i = 0; i < PD_SITE_MAX_DEVICES; i++)
		if (ms < c->hold_until_ms[i])
			return;
	for (int i = 0; i < cfg->ntou; i++)
		if ((s->limits.windows & (1u << i)) && cfg->tou[i].discharge)
			in.discharge_window = true;
	/* the first controllable battery and PV inverter that are online */
	for (int i = 0; i < s->ndevices && i < cfg->ndevices; i++) {
		const struct pd_site_device *d = &s->dev[i];

		if (!cfg->dev[i].control || d->state != PD_DEV_S_ONLINE)
			continue;
		if (d->kind == PD_DEV_BATTERY && bi < 0 && d->soc_mpct.known &&
		    d->max_charge_mw.known) {
			bi = i;
			in.batt = true;
			in.batt_ref_mw = ref(d->setpoint_mw, d->ac_mw);
			in.soc_mpct = d->soc_mpct.milli;
			in.reserve_mpct = d->reserve_mpct.known ? d->reserve_mpct.milli : 0;
			in.max_charge_mw = d->max_charge_mw.milli;
			in.max_discharge_mw = d->max_discharge_mw.known ? d->max_discharge_mw.milli :
					      d->max_charge_mw.milli;
		} else if (d->kind == PD_DEV_INVERTER && pi < 0 && d->ac_mw.known &&
			   d->rating_mw.known && d->pv_limit_mpct.known) {
			pi = i;
			in.pv = true;
			in.pv_mw = d->ac_mw.milli;
			in.pv_rating_mw = d->rating_mw.milli;
			in.pv_ref_mpct = d->pv_limit_mpct.milli;
		}
	}
	if (!in.batt && !in.pv)
		return;
	pd_devctl_plan(&in, &out);
	hold = 3ull * cfg->sample_ms > 300 ? 3ull * cfg->sample_ms : 300;
	if (out.batt_write || out.pv_write)
		ctl_log("grid %" PRId64 " W: %s%s%s", in.grid_mw / 1000, out.why,
			out.batt_write ? ", battery setpoint " : "",
			out.batt_write ? fmt_w(out.batt_mw, wbuf, sizeof(wbuf)) : "");
	if (out.batt_write && !pd_devices_post(mod, bi, true, out.batt_mw, false, 0)) {
		c->hold_until_ms[bi] = ms + hold;
		c->writes++;
	}
	if (out.pv_write && !pd_devices_post(mod, pi, false, 0, true, out.pv_mpct)) {
		c->hold_until_ms[pi] = ms + hold;
		c->writes++;
	}
	(void)now;
}
#endif /* PD_DEVCTL_PURE */
