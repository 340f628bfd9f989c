// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd policy: time-of-use windows and the peak-shaving target turned
 * into the limits that should be in force at a given local time.
 *
 * Pure functions of (configuration, time): the event loop calls them at
 * every minute boundary (windows are minute-granular), so a window that
 * opens or closes reaches the backend within the minute tick that crosses
 * it, and the tests can move the clock with --time-offset.
 *
 * Site import limit in force, the tightest of:
 *   [site] import_limit_w            the hard cap (0: none)
 *   [site] peak_shaving_target_w     the everyday target (0: none)
 *   site_import_limit_w of every open [tou] window
 * Relays listed in shed= of an open window are held off for its duration.
 */
#include <string.h>

#include "phloemd.h"

static uint32_t tighter(uint32_t a, uint32_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

/*
 * A window belongs to the day it opens: "Fri 22:00-06:00" is open from Friday
 * 22:00 to Saturday 06:00, and not on Saturday night unless Sat is listed.
 */
static bool window_open(const struct pd_tou *t, int wday_mon0, uint32_t min)
{
	int yday = (wday_mon0 + 6) % 7;

	if (t->start_min < t->end_min)
		return (t->days & (1u << wday_mon0)) &&
		       min >= t->start_min && min < t->end_min;
	/* wraps past midnight */
	if ((t->days & (1u << wday_mon0)) && min >= t->start_min)
		return true;
	return (t->days & (1u << yday)) && min < t->end_min;
}

static void local_parts(time_t now, int *wday_mon0, uint32_t *min)
{
	struct tm tm;

	localtime_r(&now, &tm);
	*wday_mon0 = (tm.tm_wday + 6) % 7;
	*min = (uint32_t)(tm.tm_hour * 60 + tm.tm_min);
}

void pd_policy_eval(const struct pd_config *c, time_t now,
		    struct pd_targets *t)
{
	int wday;
	uint32_t min;

	memset(t, 0, sizeof(*t));
	local_parts(now, &wday, &min);
	t->site_import_limit_mw = tighter(c->site_import_limit_mw,
					  c->peak_target_mw);
	for (int i = 0; i < c->ncircuits; i++)
		t->circuit_ma[i] = c->circuit[i].limit_ma;
	for (int i = 0; i < c->ntou; i++) {
		const struct pd_tou *w = &c->tou[i];

		if (!window_open(w, wday, min))
			continue;
		t->active |= 1u << i;
		t->site_import_limit_mw = tighter(t->site_import_limit_mw,
						  w->site_import_limit_mw);
		t->shed |= w->shed;
	}
}

/*
 * How long the relay stays in a shed= window from @now: used as the expiry
 * of the override that holds it off, so that if phloemd dies the kernel lets
 * the relay go back to automatic by itself at the window's end at the latest.
 */
uint32_t pd_policy_shed_left_s(const struct pd_config *c, time_t now,
			       uint32_t relay_bit)
{
	struct pd_targets t;
	time_t m = now - now % 60;
	uint32_t n;

	/* walk forward minute by minute (windows are at most a day long,
	 * chained ones at most a week) */
	for (n = 0; n < 8 * 1440; n++) {
		pd_policy_eval(c, m + (time_t)n * 60 + 1, &t);
		if (!(t.shed & relay_bit))
			break;
	}
	if (n == 0)
		return 0;
	return (uint32_t)(m + (time_t)n * 60 - now);
}
