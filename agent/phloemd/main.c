// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd: the phloem policy agent.
 *
 * One thread, one epoll loop. Everything that happens is an fd:
 *   signalfd   SIGHUP reloads the configuration, SIGTERM/SIGINT stop
 *   timerfd    minute boundaries (CLOCK_REALTIME, absolute): close the
 *              minute in history and re-evaluate the time-of-use policy
 *   timerfd    lease renewal, every lease_s / 3
 *   timerfd    meter poll, every 2 s: energy counters and peaks
 *   timerfd    site sample, every [agent] sample_ms: the kernel's
 *              measurement into the site state (site.h)
 *   timerfd    systemd watchdog, when WATCHDOG_USEC is set
 *   backend    netlink events (kernel) or the model's tick (sim)
 *   control    the UNIX socket and its clients
 *   peers      UDP sockets, rtnetlink and a 100 ms tick ([peers], peers.c)
 *   meter      settlement interval boundaries (CLOCK_REALTIME, absolute):
 *              the site's metered interval onto our chain (meter.c)
 *   devices    Modbus buses, each on its own thread (modbus.c)
 * Nothing polls in a loop; the daemon sleeps between those wake-ups.
 * After every batch of ready fds the site state's changes go to their
 * subscribers (pd_site_dispatch()): this file produces the kernel
 * measurement and events and consumes events (history); control.c,
 * peers.c and modbus.c subscribe to what they need.
 *
 * A bad input (a broken file on SIGHUP, a malformed request, a refused
 * backend call) is logged and refused; the daemon carries on with what it
 * had.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <linux/capability.h>
#include <sqlite3.h>

#include "lib/nl/phloem_nl.h"
#include "daemon.h"
#include "meter.h"
#include "devices.h"
#include "notify.h"

#define METER_POLL_S	2
#define FLUSH_EVERY	5	/* polls: partial minutes reach disk every 10 s */

static struct phloemd D;

void pd_vlog(const char *who, const char *fmt, va_list ap)
{
	fputs("phloemd: ", stderr);
	if (who)
		fprintf(stderr, "%s: ", who);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void pd_log(const char *who, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pd_vlog(who, fmt, ap);
	va_end(ap);
}

#define logmsg(...) pd_log(NULL, __VA_ARGS__)

uint64_t pd_realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

time_t pd_now(const struct phloemd *d)
{
	return time(NULL) + d->time_offset;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- epoll ---- */

int pd_watch_add(struct phloemd *d, struct pd_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, w->fd, &ev) ? -errno : 0;
}

int pd_watch_mod(struct phloemd *d, struct pd_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	return epoll_ctl(d->epfd, EPOLL_CTL_MOD, w->fd, &ev) ? -errno : 0;
}

void pd_watch_del(struct phloemd *d, struct pd_watch *w)
{
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

/* ---- topology mapping ---- */

/*
 * Config names -> device indices. The sim builds its device from the same
 * file so the map is the identity; with the kernel, firmware fixed the
 * topology and the file must use its names.
 */
static int build_maps(const struct pd_config *c, const struct phloem_info *in,
		      int *cmap, int *rmap, char *err, size_t errlen)
{
	for (int i = 0; i < c->ncircuits; i++) {
		cmap[i] = -1;
		for (uint32_t j = 0; j < in->ncircuits; j++)
			if (!strcmp(in->circuit[j].name, c->circuit[i].name))
				cmap[i] = (int)j;
		if (cmap[i] < 0) {
			snprintf(err, errlen, "%s:%d: circuit \"%s\" is not a circuit of device %s",
				 c->path, c->circuit[i].line, c->circuit[i].name, in->name);
			return -ENOENT;
		}
		if (c->circuit[i].limit_ma > in->circuit[cmap[i]].rating_ma) {
			snprintf(err, errlen, "%s:%d: circuit \"%s\": limit above the device's breaker rating (%u mA)",
				 c->path, c->circuit[i].line, c->circuit[i].name,
				 in->circuit[cmap[i]].rating_ma);
			return -EINVAL;
		}
	}
	for (int i = 0; i < c->nrelays; i++) {
		rmap[i] = -1;
		for (uint32_t j = 0; j < in->nrelays; j++)
			if (!strcmp(in->relay[j].name, c->relay[i].name))
				rmap[i] = (int)j;
		if (rmap[i] < 0) {
			snprintf(err, errlen, "%s:%d: relay \"%s\" is not a relay of device %s",
				 c->path, c->relay[i].line, c->relay[i].name, in->name);
			return -ENOENT;
		}
	}
	return 0;
}

/* ---- policy -> backend ---- */

/*
 * Every relay's policy goes to the backend with the next limits push, in
 * one request (relay_policies() at start and on reload, then
 * apply_policy(force)): one configuration change, one CONFIG event, where
 * there was one per relay and one for the limits.
 */
static bool relays_pending;

static bool holds_pending;

static void relay_policies(struct phloemd *d)
{
	struct phloem_freq_stage st[PHLOEM_FREQ_STAGES] = { 0 };
	int err;

	relays_pending = true;
	holds_pending = true;
	/*
	 * The frequency rule goes with them, whole, at start and on reload
	 * (stages the file no longer has are switched off). Its priorities
	 * are the relays' priorities in force in the kernel.
	 */
	if (!d->be.ops->freq)
		return;
	for (int i = 0; i < d->cfg.nfreq; i++)
		st[i] = d->cfg.freq[i].st;
	err = d->be.ops->freq(&d->be, d->cfg.over_freq_mhz, d->cfg.over_freq_ms, st);
	if (err) {
		logmsg("frequency rule refused by backend: %s", strerror(-err));
		d->errors++;
	} else if (d->cfg.nfreq || d->cfg.over_freq_mhz) {
		logmsg("frequency rule: %d under-frequency stage%s, over-frequency %s",
		       d->cfg.nfreq, d->cfg.nfreq == 1 ? "" : "s",
		       d->cfg.over_freq_mhz ? "reported" : "off");
	}
}

/*
 * The circuits' max holds the file names ([circuit] max_hold_s), at start
 * and on reload: one request, all or nothing; a circuit the file does not
 * name keeps the one in force.
 */
static bool max_holds(const struct phloemd *d, uint32_t *hs)
{
	bool any = false;

	for (uint32_t j = 0; j < PHLOEM_MAX_CIRCUITS; j++)
		hs[j] = UINT32_MAX;
	for (int i = 0; i < d->cfg.ncircuits; i++) {
		hs[d->circ_map[i]] = d->cfg.circuit[i].max_hold_s;
		any |= d->cfg.circuit[i].max_hold_s != UINT32_MAX;
	}
	return any;
}

static int push_max_holds(struct phloemd *d)
{
	uint32_t hs[PHLOEM_MAX_CIRCUITS];
	int err;

	if (!max_holds(d, hs))
		return 0;
	err = d->be.ops->max_hold ? d->be.ops->max_hold(&d->be, hs) : -EOPNOTSUPP;
	if (err) {
		logmsg("max holds refused by backend: %s", strerror(-err));
		d->errors++;
	}
	return err;
}

/* One relay at a time: a backend without ->policy, or one that refused the
 * whole (an older module): each relay then stands on its own. */
static void relay_policies_each(struct phloemd *d)
{
	for (int i = 0; i < d->cfg.nrelays; i++) {
		const struct pd_relay *r = &d->cfg.relay[i];
		int err = d->be.ops->relay_policy(&d->be, (uint32_t)d->relay_map[i],
						  d->prio[i],
						  r->critical ? PHLOEM_RELAY_F_CRITICAL : 0,
						  r->min_off_ms);
		if (err) {
			logmsg("relay %s: policy refused by backend: %s", r->name, strerror(-err));
			d->errors++;
		}
	}
}

/*
 * The grid-operator lines' actions of [grid_signal K*] and [site]
 * grid_signal_debounce_us, with the relay policies (at start and on a
 * reload): the kernel keeps them, and acts on the lines without us.
 */
static void push_signals(struct phloemd *d)
{
	uint32_t cap[PHLOEM_MAX_SIGNALS], shed[PHLOEM_MAX_SIGNALS];
	int err;

	if (!d->cfg.sig_set && d->cfg.sig_debounce_us == UINT32_MAX)
		return;
	for (int i = 0; i < PHLOEM_MAX_SIGNALS; i++) {
		cap[i] = shed[i] = UINT32_MAX;
		if (!(d->cfg.sig_set & (1u << i)))
			continue;
		cap[i] = d->cfg.sig_cap_mw[i];
		shed[i] = 0;
		for (int r = 0; r < d->cfg.nrelays; r++)
			if (d->cfg.sig_shed[i] & (1u << r))
				shed[i] |= 1u << d->relay_map[r];
	}
	err = d->be.ops->signals ?
	      d->be.ops->signals(&d->be, d->cfg.sig_debounce_us, cap, shed,
				 PHLOEM_MAX_SIGNALS) : -EOPNOTSUPP;
	if (err) {
		logmsg("grid-signal actions refused by backend: %s", strerror(-err));
		d->errors++;
	}
}

/*
 * The phase rules of [site] phase_* (at start and on a reload), with the
 * relay policies. phase_limit_a with one value goes to every phase the
 * site measures (a site CT on it: a current channel of circuit 0), and
 * leaves the others as they are.
 */
static void push_phase(struct phloemd *d)
{
	const struct pd_config *c = &d->cfg;
	uint32_t lim[PHLOEM_MAX_PHASES], measured = 0, k = 0;
	bool any = c->ph_imb_ma != UINT32_MAX || c->ph_imb_mva != UINT32_MAX ||
		   c->ph_grace_ms != UINT32_MAX;
	int err;

	for (uint32_t i = 0; i < d->info.nchannels && i < PHLOEM_MAX_CHANNELS; i++) {
		const struct phloem_chan_info *ch = &d->info.chan[i];

		if (ch->kind == PHLOEM_CHAN_VOLTAGE) {
			/* the k-th voltage is phase k: is there a site CT on it? */
			for (uint32_t j = 0; j < d->info.nchannels && j < PHLOEM_MAX_CHANNELS; j++)
				if (d->info.chan[j].kind == PHLOEM_CHAN_CURRENT &&
				    d->info.chan[j].circuit == 0 &&
				    d->info.chan[j].phase == i && k < PHLOEM_MAX_PHASES)
					measured |= 1u << k;
			k++;
		}
	}
	for (int p = 0; p < PHLOEM_MAX_PHASES; p++) {
		lim[p] = c->ph_limit_ma[p];
		if (c->ph_limit_all && !(measured & (1u << p)))
			lim[p] = UINT32_MAX;
		any |= lim[p] != UINT32_MAX;
	}
	if (!any)
		return;
	err = d->be.ops->phase ?
	      d->be.ops->phase(&d->be, lim, c->ph_imb_ma, c->ph_imb_mva,
			       c->ph_grace_ms) : -EOPNOTSUPP;
	if (err) {
		logmsg("phase rules refused by backend: %s", strerror(-err));
		d->errors++;
	}
}

/*
 * The mains rules of [site] volt_nominal_v, outage_*, return_*, volt_*
 * (at start and on a reload), with the relay policies. Keys the file does
 * not give leave the device's value: firmware (device tree) may have set
 * them for a house with no agent, and a file that says nothing about the
 * mains must not undo that.
 */
static void push_mains(struct phloemd *d)
{
	const struct pd_config *c = &d->cfg;
	struct phloem_nl_mains_cfg m = {
		.nominal_mv = c->mn_nominal_mv,
		.outage_pct = c->mn_outage_pct,
		.outage_cycles = c->mn_outage_cycles,
		.outage_relays = UINT32_MAX,
		.return_ms = c->mn_return_ms,
		.return_stagger_ms = c->mn_stagger_ms,
		.volt_band_pct = c->mn_band_pct,
		.volt_delay_ms = c->mn_delay_ms,
		.uv_shed_pct = c->mn_uv_pct,
		.uv_shed_ms = c->mn_uv_ms,
	};
	const uint32_t *f = &m.nominal_mv;
	bool any = false;
	int err;

	if (c->mn_keep_set) {
		m.outage_relays = 0;
		for (int r = 0; r < c->nrelays; r++)
			if (c->mn_keep & (1u << r))
				m.outage_relays |= 1u << d->relay_map[r];
	}
	for (size_t i = 0; i < sizeof(m) / sizeof(*f); i++)
		any |= f[i] != UINT32_MAX;
	if (!any)
		return;
	err = d->be.ops->mains ? d->be.ops->mains(&d->be, &m) : -EOPNOTSUPP;
	if (err) {
		logmsg("mains rules refused by backend: %s", strerror(-err));
		d->errors++;
	}
}

/* Push limits and windowed sheds when they differ from what is applied
 * (or always, after the backend lost them: d->dirty). Return: 0, or the
 * backend's -errno when it refused the limits (nothing else changed). */
static int apply_policy(struct phloemd *d, bool force)
{
	struct pd_targets t;
	struct phloem_status st;
	uint32_t dev_ma[PHLOEM_MAX_CIRCUITS];
	uint32_t site;
	time_t now = pd_now(d);
	int err;

	pd_policy_eval(&d->cfg, now, &t);
	site = d->op_site_mw != UINT32_MAX ? d->op_site_mw : t.site_import_limit_mw;
	err = d->be.ops->status(&d->be, &st);
	if (err) {
		d->errors++;
		return err;
	}
	/* circuits the file does not name keep their limit in force */
	for (uint32_t j = 0; j < d->info.ncircuits; j++)
		dev_ma[j] = st.circuit[j].limit_ma ? st.circuit[j].limit_ma
						   : d->info.circuit[j].rating_ma;
	for (int i = 0; i < d->cfg.ncircuits; i++) {
		t.circuit_ma[i] = d->op_circuit_ma[i] ? d->op_circuit_ma[i] : t.circuit_ma[i];
		dev_ma[d->circ_map[i]] = t.circuit_ma[i];
	}
	t.site_import_limit_mw = site;
	/* with the relays' policies when they go too (one CONFIG event) */
	if (holds_pending && !(relays_pending && d->be.ops->policy)) {
		holds_pending = false;
		push_max_holds(d);
	}
	if (force || d->dirty || relays_pending ||
	    memcmp(&t.circuit_ma, &d->applied.circuit_ma, sizeof(t.circuit_ma)) ||
	    t.site_import_limit_mw != d->applied.site_import_limit_mw) {
		err = -EOPNOTSUPP;
		if (relays_pending && d->be.ops->policy) {
			struct pd_relay_policy rp[PHLOEM_MAX_RELAYS];
			uint32_t hs[PHLOEM_MAX_CIRCUITS];
			bool h = holds_pending && max_holds(d, hs);

			for (int i = 0; i < d->cfg.nrelays; i++)
				rp[i] = (struct pd_relay_policy){
					.relay = (uint32_t)d->relay_map[i], .priority = d->prio[i],
					.flags = d->cfg.relay[i].critical ? PHLOEM_RELAY_F_CRITICAL : 0,
					.min_off_ms = d->cfg.relay[i].min_off_ms,
				};
			err = d->be.ops->policy(&d->be, site, dev_ma, h ? hs : NULL, rp,
						(uint32_t)d->cfg.nrelays);
			/* refused as a whole: the holds then go on their own */
			if (!err)
				holds_pending = false;
		}
		if (err && relays_pending)
			relay_policies_each(d);
		if (relays_pending) {
			push_signals(d);
			push_phase(d);
			push_mains(d);
		}
		relays_pending = false;
		if (holds_pending) {
			holds_pending = false;
			push_max_holds(d);
		}
		if (err)
			err = d->be.ops->limits(&d->be, site, dev_ma);
		if (err) {
			logmsg("limits refused by backend: %s", strerror(-err));
			d->errors++;
			return err;
		}
		if (site)
			logmsg("limits: site import %u W%s", site / 1000,
			       t.active ? " (time-of-use window open)" : "");
		else
			logmsg("limits: site import none%s",
			       t.active ? " (time-of-use window open)" : "");
		d->applied_boot = d->be.ops->status(&d->be, &st) == 0 &&
				  (st.state & PHLOEM_STATE_F_BOOT_LIMITS);
	}
	if (t.active != d->applied.active)
		for (int i = 0; i < d->cfg.ntou; i++)
			if ((t.active ^ d->applied.active) & (1u << i))
				logmsg("window %s %s", d->cfg.tou[i].name,
				       t.active & (1u << i) ? "opens" : "closes");
	/* windowed sheds: hold off with an override that expires at the
	 * window's end, so the kernel releases it even if we are gone */
	for (int i = 0; i < d->cfg.nrelays; i++) {
		uint32_t bit = 1u << i, ms;

		if (d->manual & bit)
			continue;
		if ((t.shed & bit) && (force || !(d->held & bit))) {
			ms = pd_policy_shed_left_s(&d->cfg, now, bit) * 1000;
			if (ms == 0 || ms > 86400000)
				ms = 86400000;
			err = d->be.ops->override(&d->be, (uint32_t)d->relay_map[i],
						  PHLOEM_OVERRIDE_OFF, ms);
			if (err) {
				logmsg("relay %s: hold off refused: %s", d->cfg.relay[i].name, strerror(-err));
				d->errors++;
				continue;
			}
			d->held |= bit;
			logmsg("relay %s held off for %u s by time-of-use", d->cfg.relay[i].name, ms / 1000);
		} else if (!(t.shed & bit) && (d->held & bit)) {
			err = d->be.ops->override(&d->be, (uint32_t)d->relay_map[i],
						  PHLOEM_OVERRIDE_AUTO, 0);
			if (err) {
				d->errors++;
				continue;
			}
			d->held &= ~bit;
			logmsg("relay %s released by time-of-use", d->cfg.relay[i].name);
		}
	}
	d->applied = t;
	d->dirty = false;
	if (d->site.limits.site_import_mw != site || d->site.limits.windows != t.active) {
		d->site.limits.site_import_mw = site;
		d->site.limits.windows = t.active;
		pd_site_commit(&d->site, PD_SITE_LIMITS);
	}
	return 0;
}

int pd_relay_override(struct phloemd *d, int relay, uint32_t mode,
		      uint32_t for_ms, char *err, size_t errlen)
{
	uint32_t bit = 1u << relay;
	int rc;

	if (mode != PHLOEM_OVERRIDE_AUTO && (for_ms < 1 || for_ms > 86400000)) {
		snprintf(err, errlen, "duration must be 1 ms .. 24 h");
		return -EINVAL;
	}
	rc = d->be.ops->override(&d->be, (uint32_t)d->relay_map[relay], mode, for_ms);
	if (rc) {
		snprintf(err, errlen, "backend refused the override: %s", strerror(-rc));
		return rc;
	}
	d->held &= ~bit;
	if (mode == PHLOEM_OVERRIDE_AUTO)
		d->manual &= ~bit;
	else
		d->manual |= bit;
	logmsg("relay %s: operator override %s%s", d->cfg.relay[relay].name,
	       phloem_nl_override_name(mode), mode ? "" : " (policy decides)");
	/* back to auto: a window may want it held off again at once */
	if (mode == PHLOEM_OVERRIDE_AUTO)
		apply_policy(d, false);
	return 0;
}

int pd_relay_priority(struct phloemd *d, int relay, uint32_t prio, char *err,
		      size_t errlen)
{
	const struct pd_relay *r = &d->cfg.relay[relay];
	int rc;

	rc = d->be.ops->relay_policy(&d->be, (uint32_t)d->relay_map[relay], prio,
				     r->critical ? PHLOEM_RELAY_F_CRITICAL : 0, r->min_off_ms);
	if (rc) {
		snprintf(err, errlen, "backend refused the priority: %s", strerror(-rc));
		return rc;
	}
	d->prio[relay] = prio;
	logmsg("relay %s: priority %u (until reload)", r->name, prio);
	return 0;
}

int pd_limits_override(struct phloemd *d, int circuit, uint32_t value,
		       char *err, size_t errlen)
{
	uint32_t old_site = d->op_site_mw, old_c = 0;
	int rc;

	if (circuit < 0) {
		d->op_site_mw = value;
	} else {
		if (value > d->info.circuit[d->circ_map[circuit]].rating_ma) {
			snprintf(err, errlen, "limit above the breaker rating (%u mA)",
				 d->info.circuit[d->circ_map[circuit]].rating_ma);
			return -EINVAL;
		}
		old_c = d->op_circuit_ma[circuit];
		d->op_circuit_ma[circuit] = value;
	}
	rc = apply_policy(d, true);
	if (rc) {
		/* refused: put the operator state back as it was */
		if (circuit < 0)
			d->op_site_mw = old_site;
		else
			d->op_circuit_ma[circuit] = old_c;
		apply_policy(d, true);
		snprintf(err, errlen, "backend refused the limit: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

int pd_limits_reset(struct phloemd *d, char *err, size_t errlen)
{
	int rc;

	d->op_site_mw = UINT32_MAX;
	memset(d->op_circuit_ma, 0, sizeof(d->op_circuit_ma));
	rc = apply_policy(d, true);
	if (rc)
		snprintf(err, errlen, "backend refused the policy's limits: %s", strerror(-rc));
	return rc;
}

/* ---- the kernel measurement into the site state ---- */

static int sample_kernel(void *ctx, struct pd_site *s)
{
	struct phloemd *d = ctx;
	int err = d->be.ops->status(&d->be, &s->kernel.st);

	if (err) {
		d->errors++;
		return err;
	}
	s->kernel.valid = true;
	s->kernel.time_ms = pd_realtime_ms();
	s->kernel.seq++;
	pd_site_commit(s, PD_SITE_KERNEL);
	return 0;
}

/* ---- history ---- */

static void init_channels(struct phloemd *d)
{
	memset(d->ch, 0, sizeof(d->ch));
	for (uint32_t i = 0; i < d->info.nchannels; i++) {
		struct pd_chan_acc *c = &d->ch[i];
		uint32_t ci = d->info.chan[i].circuit;

		if (d->info.chan[i].kind != PHLOEM_CHAN_CURRENT)
			continue;
		c->current = true;
		snprintf(c->name, sizeof(c->name), "%s", d->info.chan[i].name);
		snprintf(c->circuit, sizeof(c->circuit), "%s",
			 ci < d->info.ncircuits ? d->info.circuit[ci].name : "");
	}
}

/* Take the counters of the last daemon as the baseline, when the device
 * still counts from the same probe (counters did not go back). */
static void load_baseline(struct phloemd *d, const struct phloem_status *st)
{
	for (uint32_t i = 0; i < d->info.nchannels; i++) {
		struct pd_chan_acc *c = &d->ch[i];
		uint64_t imp, exp;

		if (!c->current)
			continue;
		if (pd_history_get_meter(d->hist, c->name, &imp, &exp) == 0 &&
		    imp <= st->energy[i].import_mwh && exp <= st->energy[i].export_mwh) {
			c->base_imp = imp;
			c->base_exp = exp;
		} else {
			c->base_imp = 0;
			c->base_exp = 0;
		}
	}
}

static void meter_poll(struct phloemd *d)
{
	const struct phloem_status *st = &d->site.kernel.st;

	if (pd_site_sample(&d->site))
		return;
	for (uint32_t i = 0; i < d->info.nchannels; i++) {
		struct pd_chan_acc *c = &d->ch[i];
		uint64_t imp = st->energy[i].import_mwh, exp = st->energy[i].export_mwh;
		uint32_t ci = d->info.chan[i].circuit, peak;

		if (!c->current)
			continue;
		/* counters only go back when the device was probed again */
		if (imp < c->base_imp || exp < c->base_exp)
			c->base_imp = c->base_exp = 0;
		c->acc_imp += imp - c->base_imp;
		c->acc_exp += exp - c->base_exp;
		c->base_imp = imp;
		c->base_exp = exp;
		peak = d->be.ops->peak ? d->be.ops->peak(&d->be, i) : 0;
		if (!peak && ci < d->info.ncircuits)
			peak = st->circuit[ci].irms_ma;
		if (peak > c->peak_ma)
			c->peak_ma = peak;
	}
	/* the device fell back to its boot-time limits (lease lapsed while
	 * we were stopped or slow): put ours back. Not when ours are the boot
	 * values: the state is then set for good, and a push every poll would
	 * fill the history with a config event every 2 s. */
	if ((st->state & PHLOEM_STATE_F_BOOT_LIMITS) && !d->applied_boot)
		d->dirty = true;
}

/* Write the current minute's partial sums; rows are additive, so a flush
 * every few seconds and one at the boundary add up to the whole minute. */
static void flush_minute(struct phloemd *d)
{
	if (pd_history_begin(d->hist)) {
		logmsg("history: %s", pd_history_error(d->hist));
		d->errors++;
		return;
	}
	for (uint32_t i = 0; i < d->info.nchannels; i++) {
		struct pd_chan_acc *c = &d->ch[i];
		struct pd_minute_row r = {
			.ts = d->cur_minute, .channel = c->name, .circuit = c->circuit,
			.import_mwh = (int64_t)c->acc_imp, .export_mwh = (int64_t)c->acc_exp,
			.peak_ma = c->peak_ma, .shed_events = c->sheds,
		};

		if (!c->current)
			continue;
		if (pd_history_add_minute(d->hist, &r) ||
		    pd_history_set_meter(d->hist, c->name, c->base_imp, c->base_exp))
			goto fail;
	}
	for (int i = 0; i < d->site.ndevices; i++) {
		char name[40];
		const struct pd_site_device *dv = &d->site.dev[i];
		struct pd_minute_row r = {
			.ts = d->cur_minute, .channel = name, .circuit = pd_dev_kind_name(dv->kind),
			.import_mwh = (int64_t)(d->dev_acc[i].acc_in_uwh / 1000),
			.export_mwh = (int64_t)(d->dev_acc[i].acc_out_uwh / 1000),
		};

		if (dv->kind == PD_DEV_METER || dv->kind == PD_DEV_UNKNOWN)
			continue;
		snprintf(name, sizeof(name), "dev:%s", dv->name);
		if (pd_history_add_minute(d->hist, &r))
			goto fail;
	}
	if (pd_history_commit(d->hist))
		goto fail_nort;
	for (int i = 0; i < d->site.ndevices; i++) {
		/* the sub-mWh remainder stays for the next flush */
		d->dev_acc[i].acc_in_uwh %= 1000;
		d->dev_acc[i].acc_out_uwh %= 1000;
	}
	for (uint32_t i = 0; i < d->info.nchannels; i++) {
		d->ch[i].acc_imp = d->ch[i].acc_exp = 0;
		d->ch[i].sheds = 0;
		/* the peak stays: it is a max over the minute, re-sent as is */
	}
	return;
fail:
	pd_history_rollback(d->hist);
fail_nort:
	logmsg("history: %s (kept in memory, retried)", pd_history_error(d->hist));
	d->errors++;
}

/* ---- events ---- */

static void on_event(void *ctx, const struct phloem_rec_event *ev, uint64_t t_ns)
{
	struct phloemd *d = ctx;
	struct timespec rt;
	int64_t ts_ms;
	const char *relay = "", *circuit = "", *chan = "";
	struct pd_event_row row;
	char m[80];

	clock_gettime(CLOCK_REALTIME, &rt);
	ts_ms = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000 + d->time_offset * 1000;
	ts_ms -= (int64_t)((mono_ns() - t_ns) / 1000000);
	if (ev->relay < d->info.nrelays)
		relay = d->info.relay[ev->relay].name;
	if (ev->circuit < d->info.ncircuits)
		circuit = d->info.circuit[ev->circuit].name;
	if (ev->kind == PHLOEM_EV_SIGNAL && ev->channel < PHLOEM_MAX_SIGNALS) {
		/* a grid-operator line: K1..K4, not an ADC channel */
		static const char *const line[PHLOEM_MAX_SIGNALS] = {
			"K1", "K2", "K3", "K4",
		};

		chan = line[ev->channel];
	} else if ((ev->kind == PHLOEM_EV_MAINS || ev->kind == PHLOEM_EV_VOLTAGE) &&
		   ev->channel < d->info.nchannels &&
		   d->info.chan[ev->channel].kind == PHLOEM_CHAN_VOLTAGE) {
		/* the mains rules judge phases: L1..L3, the k-th voltage */
		static const char *const phase[PHLOEM_MAX_PHASES] = {
			"L1", "L2", "L3",
		};
		uint32_t k = 0;

		for (uint32_t i = 0; i < ev->channel; i++)
			k += d->info.chan[i].kind == PHLOEM_CHAN_VOLTAGE;
		if (k < PHLOEM_MAX_PHASES)
			chan = phase[k];
	} else if (ev->channel < d->info.nchannels) {
		chan = d->info.chan[ev->channel].name;
	}
	row = (struct pd_event_row){
		.ts_ms = ts_ms,
		.kind = phloem_nl_event_name(ev->kind),
		.cause = phloem_nl_cause_name(ev->cause),
		.relay = relay, .circuit = circuit, .channel = chan,
		.value = ev->value, .limit = ev->limit, .backoff = ev->backoff,
	};
	if (ev->kind == PHLOEM_EV_SHED && ev->circuit < d->info.ncircuits) {
		uint32_t ch = d->info.circuit[ev->circuit].channel;

		if (ch < PHLOEM_MAX_CHANNELS)
			d->ch[ch].sheds++;
	}
	if (ev->kind == PHLOEM_EV_LEASE_EXPIRED)
		d->dirty = true;
	logmsg("event %s cause=%s%s%s%s%s%s%s%s%s", row.kind, row.cause,
	       *relay ? " relay=" : "", relay, *circuit ? " circuit=" : "", circuit,
	       (ev->kind == PHLOEM_EV_MAINS || ev->kind == PHLOEM_EV_VOLTAGE) &&
	       *chan ? " phase=" : "",
	       (ev->kind == PHLOEM_EV_MAINS || ev->kind == PHLOEM_EV_VOLTAGE) ? chan : "",
	       ev->value || ev->limit ? ": " : "",
	       phloem_nl_fmt_measure(row.cause, ev->value, ev->limit, m, sizeof(m)));
	pd_site_event(&d->site, &row);
}

/*
 * The devices' AC energy into the history's minute rows (channel
 * "dev:NAME", circuit its kind): each update's power held since the last
 * one; export_mwh is what it put into the site (PV production, battery
 * discharge), import_mwh what it took (battery charge). A device not
 * online counts nothing: its power is unknown.
 */
static void history_on_devices(void *ctx, struct pd_site *s, uint32_t changed,
			       const struct pd_event_row *e)
{
	struct phloemd *d = ctx;
	uint64_t now = pd_realtime_ms();

	for (int i = 0; i < s->ndevices; i++) {
		const struct pd_site_device *dv = &s->dev[i];
		__typeof__(d->dev_acc[0]) *a = &d->dev_acc[i];

		if (a->known && now > a->last_ms && now - a->last_ms < 60000) {
			uint64_t uwh = (uint64_t)llabs(a->last_mw) * (now - a->last_ms) / 3600;

			if (a->last_mw > 0)
				a->acc_out_uwh += uwh;
			else
				a->acc_in_uwh += uwh;
		}
		a->known = dv->state == PD_DEV_S_ONLINE && dv->ac_mw.known;
		a->last_mw = a->known ? dv->ac_mw.milli : 0;
		a->last_ms = now;
	}
}

/* Every event of the site (kernel's, devices') into the history. */
static void history_on_event(void *ctx, struct pd_site *s, uint32_t changed,
			     const struct pd_event_row *e)
{
	struct phloemd *d = ctx;

	d->events++;
	if (pd_history_add_event(d->hist, e)) {
		logmsg("history: event not recorded: %s", pd_history_error(d->hist));
		d->errors++;
	}
}

/* ---- timers ---- */

static struct pd_watch w_sig, w_minute, w_lease, w_meter, w_wd, w_backend, w_sample;

static int timer_periodic(struct pd_watch *w, uint64_t ns)
{
	struct itimerspec its = {
		.it_interval = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) },
		.it_value = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) },
	};

	w->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->fd < 0 || timerfd_settime(w->fd, 0, &its, NULL))
		return -errno;
	return pd_watch_add(&D, w, EPOLLIN);
}

/* Next minute boundary of the agent clock (real time + offset), in real
 * time, absolute. CANCEL_ON_SET: a clock step wakes us to re-arm. */
static void arm_minute(void)
{
	time_t now = time(NULL) + D.time_offset;
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = (now / 60 + 1) * 60 - D.time_offset;
	timerfd_settime(w_minute.fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL);
}

static void on_minute(struct pd_watch *w, uint32_t events)
{
	uint64_t n;
	time_t now;

	if (read(w->fd, &n, sizeof(n)) < 0 && errno != ECANCELED && errno != EAGAIN)
		logmsg("minute timer: %s", strerror(errno));
	now = pd_now(&D);
	/*
	 * The limits first: a window that opens now must not wait for the
	 * history's write (an fsync, and the meters' poll, can take seconds
	 * on a busy disk or a slow bus)
	 */
	apply_policy(&D, false);
	if (now - now % 60 != D.cur_minute) {
		meter_poll(&D);
		flush_minute(&D);
		for (int i = 0; i < PHLOEM_MAX_CHANNELS; i++)
			D.ch[i].peak_ma = 0;
		D.cur_minute = now - now % 60;
		if (D.cur_minute % 3600 == 0 &&
		    pd_history_prune(D.hist, now - (time_t)D.cfg.retention_days * 86400))
			logmsg("history: prune: %s", pd_history_error(D.hist));
	}
	arm_minute();
}

static void renew_lease(void)
{
	int err = D.be.ops->lease(&D.be, D.cfg.lease_s * 1000);

	if (err) {
		logmsg("lease renewal refused: %s", strerror(-err));
		D.errors++;
	}
}

static void on_lease(struct pd_watch *w, uint32_t events)
{
	uint64_t n;

	if (read(w->fd, &n, sizeof(n)) < 0)
		return;
	renew_lease();
	if (D.dirty)
		apply_policy(&D, true);
}

static void on_meter(struct pd_watch *w, uint32_t events)
{
	uint64_t n;

	if (read(w->fd, &n, sizeof(n)) < 0)
		return;
	meter_poll(&D);
	if (++D.polls % FLUSH_EVERY == 0)
		flush_minute(&D);
	if (D.dirty)
		apply_policy(&D, true);
}

static void on_sample(struct pd_watch *w, uint32_t events)
{
	uint64_t n;

	if (read(w->fd, &n, sizeof(n)) < 0)
		return;
	pd_site_sample(&D.site);
}

static void on_watchdog_cb(struct pd_watch *w, uint32_t events)
{
	uint64_t n;

	if (read(w->fd, &n, sizeof(n)) >= 0)
		pd_notify("WATCHDOG=1");
}

static void on_backend(struct pd_watch *w, uint32_t events)
{
	int err = D.be.ops->dispatch(&D.be);

	if (err) {
		logmsg("%s backend: receiving: %s", D.be.ops->name, strerror(-err));
		D.errors++;
	}
}

/* ---- reload ---- */

static void reload(void)
{
	struct pd_config *nc = malloc(sizeof(*nc));
	char err[PD_ERR_LEN];
	int cmap[PHLOEM_MAX_CIRCUITS], rmap[PHLOEM_MAX_RELAYS];

	if (!nc) {
		logmsg("reload: out of memory, configuration in force unchanged");
		return;
	}
	pd_notify("RELOADING=1");
	if (pd_config_load(nc, D.cfg.path, err, sizeof(err)) ||
	    build_maps(nc, &D.info, cmap, rmap, err, sizeof(err))) {
		logmsg("reload refused, configuration in force unchanged: %s", err);
		pd_notifyf("READY=1\nSTATUS=reload refused: %s", err);
		free(nc);
		return;
	}
	/* things bound at start stay until restart */
	if (nc->backend != D.cfg.backend || strcmp(nc->socket, D.cfg.socket) ||
	    strcmp(nc->db, D.cfg.db) || strcmp(nc->user, D.cfg.user) ||
	    nc->device != D.cfg.device)
		logmsg("reload: backend, socket, db, user and device take effect at restart");
	nc->backend = D.cfg.backend;
	memcpy(nc->socket, D.cfg.socket, sizeof(nc->socket));
	memcpy(nc->db, D.cfg.db, sizeof(nc->db));
	memcpy(nc->user, D.cfg.user, sizeof(nc->user));
	nc->mqtt = D.cfg.mqtt;	/* mqtt/web hook: bound at start too */
	nc->web = D.cfg.web;
	nc->device = D.cfg.device;
	/* the buses and the Modbus server run on what they started with */
	if (nc->ndevices != D.cfg.ndevices || memcmp(nc->dev, D.cfg.dev, sizeof(nc->dev)) ||
	    memcmp(&nc->mbserver, &D.cfg.mbserver, sizeof(nc->mbserver)))
		logmsg("reload: [device] and [modbus_server] take effect at restart");
	nc->ndevices = D.cfg.ndevices;
	memcpy(nc->dev, D.cfg.dev, sizeof(nc->dev));
	nc->mbserver = D.cfg.mbserver;
	/* release the windowed holds of the old file; the new one re-takes
	 * what it wants */
	for (int i = 0; i < D.cfg.nrelays; i++)
		if (D.held & (1u << i))
			D.be.ops->override(&D.be, (uint32_t)D.relay_map[i], PHLOEM_OVERRIDE_AUTO, 0);
	D.held = 0;
	D.manual = 0;
	D.cfg = *nc;
	free(nc);
	memcpy(D.circ_map, cmap, sizeof(cmap));
	memcpy(D.relay_map, rmap, sizeof(rmap));
	for (int i = 0; i < D.cfg.nrelays; i++)
		D.prio[i] = D.cfg.relay[i].priority;
	D.op_site_mw = UINT32_MAX;
	memset(D.op_circuit_ma, 0, sizeof(D.op_circuit_ma));
	relay_policies(&D);
	apply_policy(&D, true);
	{
		struct itimerspec its = { 0 };
		uint64_t ns = (uint64_t)D.cfg.lease_s * 1000000000ull / 3;

		its.it_interval.tv_sec = its.it_value.tv_sec = (time_t)(ns / 1000000000ull);
		its.it_interval.tv_nsec = its.it_value.tv_nsec = (long)(ns % 1000000000ull);
		timerfd_settime(w_lease.fd, 0, &its, NULL);
		ns = (uint64_t)D.cfg.sample_ms * 1000000ull;
		its.it_interval.tv_sec = its.it_value.tv_sec = (time_t)(ns / 1000000000ull);
		its.it_interval.tv_nsec = its.it_value.tv_nsec = (long)(ns % 1000000000ull);
		timerfd_settime(w_sample.fd, 0, &its, NULL);
	}
	renew_lease();
	logmsg("configuration reloaded from %s", D.cfg.path);
	pd_notify("READY=1\nSTATUS=running");
}

static void on_signal(struct pd_watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			reload();
		else
			D.quit = true;
	}
}

/* ---- privileges ---- */

static int keep_net_admin(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct c[2] = { { 0 } };

	c[0].effective = c[0].permitted = 1u << CAP_NET_ADMIN;
	return (int)syscall(SYS_capset, &h, c);
}

/*
 * Drop root once everything privileged is open: the socket is bound, the
 * database and its WAL exist. The kernel backend needs CAP_NET_ADMIN for
 * its admin commands, so that one capability is kept across setuid().
 */
/*
 * The directories systemd creates for us (StateDirectory=, RuntimeDirectory=
 * with mode 0750) belong to root. The history's directory must stay usable
 * by the user we become (SQLite creates and removes its -wal/-shm files
 * there), and the socket's directory must let the read group through to the
 * socket. Adjust only a root-owned, non-sticky directory that is not "/":
 * never a shared one such as /tmp.
 */
static void adopt_dir(const char *file, uid_t uid, gid_t gid, mode_t add)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", file);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = 0;
	if (stat(dir, &st) || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & S_ISVTX) || (st.st_gid != 0 && uid == (uid_t)-1))
		return;
	/* chmod while root still owns it: the unit's bounding set has
	 * CAP_CHOWN but not CAP_FOWNER */
	if ((add && chmod(dir, (st.st_mode & 07777) | add)) || chown(dir, uid, gid))
		logmsg("adjusting %s for user/group access: %s", dir, strerror(errno));
}

static int drop_privileges(const struct pd_config *c)
{
	struct passwd *pw;
	char path[PATH_MAX + 8];

	if (geteuid() != 0 || !c->user[0])
		return 0;
	pw = getpwnam(c->user);
	if (!pw) {
		logmsg("user \"%s\" does not exist (set [agent] user= to an existing user, or empty to stay root)",
		       c->user);
		return -1;
	}
	adopt_dir(c->db, pw->pw_uid, pw->pw_gid, 0);
	if (D.read_gid != (gid_t)-1)
		adopt_dir(c->socket, (uid_t)-1, D.read_gid, S_IXGRP);
	for (const char *sfx = ""; sfx; sfx = !*sfx ? "-wal" : !strcmp(sfx, "-wal") ? "-shm" : NULL) {
		snprintf(path, sizeof(path), "%s%s", c->db, sfx);
		if (chown(path, pw->pw_uid, pw->pw_gid) && errno != ENOENT) {
			logmsg("chown %s: %s", path, strerror(errno));
			return -1;
		}
	}
	if (prctl(PR_SET_KEEPCAPS, 1) || setgroups(0, NULL) ||
	    setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		logmsg("dropping to user %s: %s", c->user, strerror(errno));
		return -1;
	}
	if (c->backend == PD_BACKEND_KERNEL && keep_net_admin()) {
		logmsg("keeping CAP_NET_ADMIN: %s", strerror(errno));
		return -1;
	}
	prctl(PR_SET_KEEPCAPS, 0);
	logmsg("running as user %s", c->user);
	return 0;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: phloemd [OPTIONS]\n"
		"  -c, --config FILE     configuration (default " PD_DEFAULT_CONF ")\n"
		"  -b, --backend NAME    kernel or sim (overrides [agent] backend)\n"
		"  -t, --check           check the configuration and exit\n"
		"      --time-offset SEC add SEC to the clock the policy and history use\n"
		"                        (testing time-of-use windows)\n"
		"  -h, --help            this help\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "backend", required_argument, NULL, 'b' },
		{ "check", no_argument, NULL, 't' },
		{ "time-offset", required_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *path = PD_DEFAULT_CONF, *backend = NULL;
	bool check = false;
	char err[PD_ERR_LEN];
	sigset_t mask;
	uint64_t wd_usec = 0;
	struct group *gr;
	int opt, rc;

	setvbuf(stderr, NULL, _IOLBF, 0);
	while ((opt = getopt_long(argc, argv, "c:b:th", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 'b': backend = optarg; break;
		case 't': check = true; break;
		case 'O': {
			char *end;

			errno = 0;
			D.time_offset = strtoll(optarg, &end, 10);
			if (errno || *end || !*optarg) {
				fprintf(stderr, "phloemd: --time-offset: expected seconds\n");
				return 2;
			}
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/* SQLite: no bulk page-cache allocation per connection (20 pages,
	 * 88 KiB for the history's 4 KiB pages, all written at open): a
	 * page is allocated when first cached, up to each cache_size */
	sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
	if (pd_config_load(&D.cfg, path, err, sizeof(err))) {
		fprintf(stderr, "phloemd: %s\n", err);
		return 1;
	}
	if (check) {
		printf("%s: ok (%d circuits, %d relays, %d windows)\n", path,
		       D.cfg.ncircuits, D.cfg.nrelays, D.cfg.ntou);
		return 0;
	}
	if (backend) {
		if (!strcmp(backend, "sim"))
			D.cfg.backend = PD_BACKEND_SIM;
		else if (!strcmp(backend, "kernel"))
			D.cfg.backend = PD_BACKEND_KERNEL;
		else {
			fprintf(stderr, "phloemd: --backend: expected kernel or sim\n");
			return 2;
		}
	}
	D.op_site_mw = UINT32_MAX;
	for (int i = 0; i < D.cfg.nrelays; i++)
		D.prio[i] = D.cfg.relay[i].priority;
	gr = getgrnam(D.cfg.group);
	D.read_gid = gr ? gr->gr_gid : (gid_t)-1;
	if (!gr && D.cfg.group[0])
		logmsg("group \"%s\" does not exist: only root and phloemd's own user may read", D.cfg.group);

	D.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (D.epfd < 0) {
		logmsg("epoll: %s", strerror(errno));
		return 1;
	}
	/* the backend */
	D.be.ops = D.cfg.backend == PD_BACKEND_SIM ? &pd_backend_sim : &pd_backend_kernel;
	D.be.on_event = on_event;
	D.be.ctx = &D;
	rc = D.be.ops->open(&D.be, &D.cfg);
	if (rc) {
		if (rc == -ENOENT && D.cfg.backend == PD_BACKEND_KERNEL)
			logmsg("kernel backend: the \"%s\" generic netlink family is not registered: is phloem.ko loaded? (or use --backend sim)",
			       PHLOEM_GENL_NAME);
		else
			logmsg("%s backend: %s", D.be.ops->name, strerror(-rc));
		return 1;
	}
	if (D.be.ops->info(&D.be, &D.info)) {
		logmsg("%s backend: cannot read the device topology", D.be.ops->name);
		return 1;
	}
	if (build_maps(&D.cfg, &D.info, D.circ_map, D.relay_map, err, sizeof(err))) {
		logmsg("%s", err);
		return 1;
	}
	pd_site_init(&D.site);
	D.site.kernel.info = D.info;
	pd_site_set_sampler(&D.site, sample_kernel, &D);
	/* history */
	if (pd_history_open(&D.hist, D.cfg.db, err, sizeof(err))) {
		logmsg("history: %s", err);
		return 1;
	}
	init_channels(&D);
	if (pd_site_sample(&D.site)) {
		logmsg("%s backend: cannot read the device status", D.be.ops->name);
		return 1;
	}
	load_baseline(&D, &D.site.kernel.st);
	pd_site_subscribe(&D.site, PD_SITE_EVENT, history_on_event, &D);
	pd_site_subscribe(&D.site, PD_SITE_DEVICES, history_on_devices, &D);
	/* control socket */
	if (pd_control_open(&D, D.cfg.socket, err, sizeof(err))) {
		logmsg("control socket: %s", err);
		return 1;
	}
	if (drop_privileges(&D.cfg))
		return 1;

	/* signals and timers */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	w_sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	w_sig.fn = on_signal;
	w_minute.fn = on_minute;
	w_minute.fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	w_lease.fn = on_lease;
	w_meter.fn = on_meter;
	w_backend.fn = on_backend;
	w_sample.fn = on_sample;
	w_backend.fd = D.be.ops->fd(&D.be);
	if (w_sig.fd < 0 || w_minute.fd < 0 || pd_watch_add(&D, &w_sig, EPOLLIN) ||
	    pd_watch_add(&D, &w_minute, EPOLLIN) || pd_watch_add(&D, &w_backend, EPOLLIN) ||
	    timer_periodic(&w_lease, (uint64_t)D.cfg.lease_s * 1000000000ull / 3) ||
	    timer_periodic(&w_meter, METER_POLL_S * 1000000000ull) ||
	    timer_periodic(&w_sample, (uint64_t)D.cfg.sample_ms * 1000000ull)) {
		logmsg("event loop setup: %s", strerror(errno));
		return 1;
	}
	if ((wd_usec = pd_watchdog_usec())) {
		w_wd.fn = on_watchdog_cb;
		if (timer_periodic(&w_wd, wd_usec * 1000 / 2)) {
			logmsg("watchdog timer: %s", strerror(errno));
			return 1;
		}
	}

	{
		char perr[PD_ERR_LEN];

		if (pd_peers_open(&D, perr, sizeof(perr))) {
			logmsg("peers: %s", perr);
			return 1;
		}
	}
	rc = pd_meter_open(&D);
	if (rc) {
		logmsg("meter: %s", strerror(-rc));
		return 1;
	}
	{
		char derr[PD_ERR_LEN];

		if (pd_devices_open(&D, derr, sizeof(derr)) < 0) {
			logmsg("devices: %s", derr);
			return 1;
		}
		if (pd_mbserver_open(&D, derr, sizeof(derr)) < 0) {
			logmsg("modbus server: %s", derr);
			return 1;
		}
		/* site-state consumers */
		if (pd_mqtt_open(&D, derr, sizeof(derr)) || pd_web_open(&D, derr, sizeof(derr))) {
			logmsg("%s", derr);
			return 1;
		}
	}

	/* take over: lease first, so our limits are the ones that hold */
	renew_lease();
	relay_policies(&D);
	{
		time_t now = pd_now(&D);

		D.cur_minute = now - now % 60;
		pd_history_prune(D.hist, now - (time_t)D.cfg.retention_days * 86400);
	}
	apply_policy(&D, true);
	arm_minute();
	logmsg("running: backend %s, device %s, %u channels, %u circuits, %u relays, socket %s, history %s",
	       D.be.ops->name, D.info.name, D.info.nchannels, D.info.ncircuits,
	       D.info.nrelays, D.cfg.socket, D.cfg.db);
	pd_notify("READY=1\nSTATUS=running");
	pd_site_dispatch(&D.site);

	while (!D.quit) {
		struct epoll_event evs[16];
		int n = epoll_wait(D.epfd, evs, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			logmsg("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n && !D.quit; i++) {
			struct pd_watch *w = evs[i].data.ptr;

			w->fn(w, evs[i].events);
		}
		pd_site_dispatch(&D.site);
		pd_control_reap(&D);
	}

	pd_notify("STOPPING=1");
	logmsg("stopping: releasing the lease and the time-of-use holds");
	meter_poll(&D);
	flush_minute(&D);
	pd_site_dispatch(&D.site);	/* the last events into the history */
	for (int i = 0; i < D.cfg.nrelays; i++)
		if (D.held & (1u << i))
			D.be.ops->override(&D.be, (uint32_t)D.relay_map[i], PHLOEM_OVERRIDE_AUTO, 0);
	D.be.ops->lease(&D.be, 0);
	pd_web_close(&D);	/* mqtt/web hook */
	pd_mqtt_close(&D);
	pd_mbserver_close(&D);
	pd_devices_close(&D);
	pd_meter_close(&D);
	pd_peers_close(&D);
	pd_control_close(&D);
	pd_history_close(D.hist);
	D.be.ops->close(&D.be);
	return 0;
}
