// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd: metering arithmetic, pure (see meter.h). The daemon side is
 * meter.c; tests/agent/meter_test.c drives this file alone.
 */
#include <string.h>

#include "meter.h"

int pd_meter_init(struct pd_meter_acc *a, uint32_t len)
{
	memset(a, 0, sizeof(*a));
	if (!len)
		return -1;
	a->len = len;
	return 0;
}

uint64_t pd_meter_next_boundary(uint32_t len, uint64_t now_s)
{
	return now_s - now_s % len + len;
}

unsigned int pd_meter_feed(struct pd_meter_acc *a, uint64_t now_ms,
			   uint64_t imp_mwh, uint64_t exp_mwh,
			   struct pd_meter_interval *out)
{
	uint64_t now_s = now_ms / 1000, cur = now_s - now_s % a->len;
	unsigned int ret = 0;

	if (!a->started) {
		/* we do not know what the counters said at the interval's
		 * start: meter from now, and say so */
		a->started = true;
		a->start = cur;
		a->partial = now_ms > cur * 1000;
		a->base_imp = imp_mwh;
		a->base_exp = exp_mwh;
		return 0;
	}
	if (imp_mwh < a->base_imp || exp_mwh < a->base_exp) {
		/* the device was probed again (module reloaded): its counters
		 * restarted from zero at some moment since the last reading,
		 * and what it counted before that moment is gone */
		a->base_imp = imp_mwh;
		a->base_exp = exp_mwh;
		a->partial = true;
		ret |= PD_METER_BACKWARDS;
	}
	a->acc_imp += imp_mwh - a->base_imp;
	a->acc_exp += exp_mwh - a->base_exp;
	a->base_imp = imp_mwh;
	a->base_exp = exp_mwh;
	if (cur <= a->start)
		return ret;
	out->start = a->start;
	out->len = a->len;
	out->wh_import = a->acc_imp / 1000;
	out->wh_export = a->acc_exp / 1000;
	out->partial = a->partial;
	/* floored, so never more than measured; and within the export,
	 * whose remainder carries (the decoder refuses clean > export) */
	out->clean_known = a->clean_known;
	out->wh_clean = a->acc_clean / 3600000000u;
	if (out->wh_clean > out->wh_export)
		out->wh_clean = out->wh_export;
	a->clean_known = false;
	a->acc_clean = 0;
	/* whole Wh go on the chain; the rest is the next interval's, so
	 * rounding never loses energy over a run */
	a->acc_imp %= 1000;
	a->acc_exp %= 1000;
	a->start = cur;
	a->partial = false;
	return ret | PD_METER_CLOSED;
}

void pd_meter_clean(struct pd_meter_acc *a, uint64_t dt_ms, int64_t site_p_mw,
		    int64_t pv_mw, bool pv_known)
{
	int64_t exp = site_p_mw < 0 ? -site_p_mw : 0;

	if (!a->started || !pv_known)
		return;
	a->clean_known = true;
	if (pv_mw <= 0 || !exp)
		return;
	a->acc_clean += (uint64_t)(exp < pv_mw ? exp : pv_mw) * dt_ms;
}
