// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd "sim" backend: the simulated HAT of libphloem sim, run in-process
 * from a timerfd. The topology comes from the configuration itself: channel
 * 0 is "v0", then the current channel of every [circuit] (in channel-name
 * order), and the relays in file order. [sim] gives the waveform: voltage,
 * per-circuit base loads (sim_base_a), per-relay loads (sim_load_a) and
 * timed steps, so tests can make a circuit overload at a known time.
 * [sim] device_power couples a device simulator (tests/modbus/) to the
 * model: the AC power it writes to a file flows on a circuit, so what the
 * daemon tells a battery or an inverter shows in the site's measurement,
 * as it would on real wires.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "shed.h"
#include "lib/sim/phloem_sim.h"
#include "backend.h"

/* The model produces samples in batches: 20 ms keeps the decision delay at
 * one mains cycle while the idle cost stays at 50 wake-ups a second. */
#define SIM_TICK_NS	20000000L

struct sim_priv {
	struct phloem_sim *sim;
	struct phloem_info info;
	int tfd;
	uint64_t t0_ns;
	int nsteps;
	struct pd_sim_step step[PD_MAX_STEPS];
	uint32_t step_done;
	int32_t base_ma[PHLOEM_MAX_CIRCUITS];	/* own load, config or step */
	int32_t dev_ma[PHLOEM_MAX_CIRCUITS];	/* coupled devices' current */
	int32_t vrms_mv;
	int ncouple;
	int couple_circuit[PD_MAX_COUPLE];
	char couple_file[PD_MAX_COUPLE][PATH_MAX];
	uint64_t next_couple_ns;
};

/* The coupled devices' power, read at most every 50 ms: W into the site is
 * a current in antiphase (negative), as a circuit's export. */
static void couple(struct sim_priv *p, uint64_t now)
{
	int32_t ma[PHLOEM_MAX_CIRCUITS] = { 0 };

	if (!p->ncouple || now < p->next_couple_ns)
		return;
	p->next_couple_ns = now + 50000000ull;
	for (int i = 0; i < p->ncouple; i++) {
		FILE *f = fopen(p->couple_file[i], "re");
		long w = 0;

		if (!f)
			continue;
		if (fscanf(f, "%ld", &w) != 1)
			w = 0;
		fclose(f);
		if (w > 4000000 || w < -4000000)
			continue;
		ma[p->couple_circuit[i]] -= (int32_t)(w * 1000000 / p->vrms_mv);
	}
	for (int c = 0; c < PHLOEM_MAX_CIRCUITS; c++)
		if (ma[c] != p->dev_ma[c]) {
			p->dev_ma[c] = ma[c];
			phloem_sim_set_base(p->sim, (uint32_t)c, p->base_ma[c] + ma[c]);
		}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void build_info(const struct pd_config *c, struct phloem_info *in)
{
	uint32_t ch = 1;

	memset(in, 0, sizeof(*in));
	in->size = sizeof(*in);
	in->abi_version = PHLOEM_ABI_VERSION;
	snprintf(in->name, sizeof(in->name), "phloemsim0");
	in->mains_hz = c->sim_mains_hz;
	in->record_size = PHLOEM_RECORD_SIZE;
	in->ring_records = PHLOEM_RING_RECORDS;
	snprintf(in->chan[0].name, PHLOEM_NAME_LEN, "v0");
	in->chan[0].kind = PHLOEM_CHAN_VOLTAGE;
	in->chan[0].circuit = PHLOEM_NONE;
	in->chan[0].bits = 12;
	/* current channels in name order, so "i0" always comes first */
	for (char n = '0'; n <= '7'; n++) {
		for (int i = 0; i < c->ncircuits; i++) {
			if (c->circuit[i].channel[1] != n)
				continue;
			snprintf(in->chan[ch].name, PHLOEM_NAME_LEN, "%s", c->circuit[i].channel);
			in->chan[ch].kind = PHLOEM_CHAN_CURRENT;
			in->chan[ch].phase = 0;
			in->chan[ch].circuit = (uint8_t)i;
			in->chan[ch].bits = 12;
			in->circuit[i].channel = (uint8_t)ch;
			ch++;
		}
	}
	in->nchannels = ch;
	in->ncircuits = (uint32_t)c->ncircuits;
	for (int i = 0; i < c->ncircuits; i++) {
		snprintf(in->circuit[i].name, PHLOEM_NAME_LEN, "%s", c->circuit[i].name);
		in->circuit[i].curve = (uint8_t)c->circuit[i].curve;
		in->circuit[i].rating_ma = c->circuit[i].breaker_ma;
	}
	in->nrelays = (uint32_t)c->nrelays;
	for (int i = 0; i < c->nrelays; i++) {
		snprintf(in->relay[i].name, PHLOEM_NAME_LEN, "%s", c->relay[i].name);
		in->relay[i].safe_state = c->relay[i].critical ? 1 : 0;
	}
}

/* Boot-time configuration: what firmware would give (see the binding's
 * defaults); the agent's limits replace it once it runs. */
static void build_boot(const struct pd_config *c, const struct phloem_info *in,
		       struct phloem_config *b)
{
	memset(b, 0, sizeof(*b));
	b->size = sizeof(*b);
	b->sample_rate_hz = c->sim_rate_hz;
	b->site_import_limit_mw = c->site_import_limit_mw;
	b->site_import_grace_ms = 5000;
	b->restore_delay_ms = c->sim_restore_delay_ms;
	b->retrip_window_ms = 300000;
	b->backoff_max = 6;
	/* samples arrive in SIM_TICK_NS batches, so "stale" must allow
	 * several ticks of scheduling delay on a busy test machine */
	b->stale_ms = 2000;
	b->nchannels = in->nchannels;
	b->ncircuits = in->ncircuits;
	b->nrelays = in->nrelays;
	phloem_sim_default_cal(in, c->sim_vrms_mv, b->cal);
	for (uint32_t i = 0; i < in->ncircuits; i++) {
		b->circuit[i].limit_ma = in->circuit[i].rating_ma;
		b->circuit[i].inst_pct = 125;
		b->circuit[i].thermal_pct = 40;
		b->circuit[i].restore_pct = 80;
	}
	for (uint32_t i = 0; i < in->nrelays; i++) {
		b->relay[i].circuit = (uint8_t)c->relay[i].circuit;
		b->relay[i].priority = (uint8_t)c->relay[i].priority;
		b->relay[i].flags = c->relay[i].critical ? PHLOEM_RELAY_F_CRITICAL : 0;
		b->relay[i].min_off_ms = c->relay[i].min_off_ms;
	}
}

static void drain_events(struct pd_backend *b)
{
	struct sim_priv *p = b->priv;
	struct phloem_rec_event ev;
	uint64_t t;

	while (phloem_shed_pop_event(phloem_sim_shed(p->sim), &ev, &t))
		if (b->on_event)
			b->on_event(b->ctx, &ev, t);
}

/* Bring the model up to now before anything reads or changes it, so every
 * call into the unit sees time move forward only. */
static uint64_t catch_up(struct pd_backend *b)
{
	struct sim_priv *p = b->priv;
	uint64_t now = mono_ns();

	for (int i = 0; i < p->nsteps; i++) {
		if ((p->step_done & (1u << i)) ||
		    now - p->t0_ns < (uint64_t)p->step[i].at_ms * 1000000ull)
			continue;
		/* produce the samples before the step with the old load */
		phloem_sim_advance(p->sim, p->t0_ns + (uint64_t)p->step[i].at_ms * 1000000ull);
		p->base_ma[p->step[i].circuit] = p->step[i].ma;
		phloem_sim_set_base(p->sim, (uint32_t)p->step[i].circuit,
				    p->step[i].ma + p->dev_ma[p->step[i].circuit]);
		p->step_done |= 1u << i;
	}
	phloem_sim_advance(p->sim, now);
	couple(p, now);
	drain_events(b);
	return now;
}

static int sim_open(struct pd_backend *b, const struct pd_config *c)
{
	struct itimerspec its = {
		.it_interval = { 0, SIM_TICK_NS },
		.it_value = { 0, SIM_TICK_NS },
	};
	struct phloem_config boot;
	struct sim_priv *p;
	int err;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	build_info(c, &p->info);
	build_boot(c, &p->info, &boot);
	p->t0_ns = mono_ns();
	p->sim = phloem_sim_new(&p->info, &boot, c->sim_vrms_mv, p->t0_ns);
	if (!p->sim) {
		err = -errno;
		free(p);
		return err;
	}
	for (int i = 0; i < c->ncircuits; i++) {
		p->base_ma[i] = c->sim_base_ma[i];
		phloem_sim_set_base(p->sim, (uint32_t)i, c->sim_base_ma[i]);
	}
	p->vrms_mv = (int32_t)c->sim_vrms_mv;
	p->ncouple = c->ncouple;
	memcpy(p->couple_circuit, c->couple_circuit, sizeof(p->couple_circuit));
	memcpy(p->couple_file, c->couple_file, sizeof(p->couple_file));
	for (int i = 0; i < c->nrelays; i++)
		phloem_sim_set_load(p->sim, (uint32_t)i, c->relay[i].sim_load_ma);
	p->nsteps = c->nsteps;
	memcpy(p->step, c->step, sizeof(p->step));
	p->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (p->tfd < 0 || timerfd_settime(p->tfd, 0, &its, NULL) < 0) {
		err = -errno;
		if (p->tfd >= 0)
			close(p->tfd);
		phloem_sim_free(p->sim);
		free(p);
		return err;
	}
	b->priv = p;
	return 0;
}

static int sim_fd(struct pd_backend *b)
{
	return ((struct sim_priv *)b->priv)->tfd;
}

static int sim_dispatch(struct pd_backend *b)
{
	struct sim_priv *p = b->priv;
	uint64_t n;

	if (read(p->tfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -errno;
	catch_up(b);
	return 0;
}

static int sim_info(struct pd_backend *b, struct phloem_info *info)
{
	*info = ((struct sim_priv *)b->priv)->info;
	return 0;
}

static int sim_status(struct pd_backend *b, struct phloem_status *st)
{
	struct sim_priv *p = b->priv;
	uint64_t now = catch_up(b);

	memset(st, 0, sizeof(*st));
	phloem_shed_status(phloem_sim_shed(p->sim), st, now);
	st->size = sizeof(*st);
	return 0;
}

static int sim_set_config(struct pd_backend *b, const struct phloem_config *cfg,
			  uint64_t now)
{
	struct sim_priv *p = b->priv;
	struct phloem_config cur;

	if (phloem_shed_check_config(&p->info, cfg))
		return -EINVAL;
	/* as phloem.ko's netlink: no change, no CONFIG event */
	phloem_shed_get_config(phloem_sim_shed(p->sim), &cur);
	cur.size = cfg->size;
	if (!memcmp(&cur, cfg, sizeof(cur)))
		return 0;
	if (phloem_shed_set_config(phloem_sim_shed(p->sim), cfg, now))
		return -EINVAL;
	drain_events(b);
	return 0;
}

static int sim_limits(struct pd_backend *b, uint32_t site_mw,
		      const uint32_t *circuit_ma)
{
	struct sim_priv *p = b->priv;
	uint64_t now = catch_up(b);
	struct phloem_config cfg;

	phloem_shed_get_config(phloem_sim_shed(p->sim), &cfg);
	cfg.size = sizeof(cfg);
	cfg.site_import_limit_mw = site_mw;
	for (uint32_t i = 0; i < p->info.ncircuits; i++)
		cfg.circuit[i].limit_ma = circuit_ma[i];
	return sim_set_config(b, &cfg, now);
}

static int sim_max_hold(struct pd_backend *b, const uint32_t *max_hold_s)
{
	struct sim_priv *p = b->priv;
	uint64_t now = catch_up(b);
	struct phloem_config cfg;

	phloem_shed_get_config(phloem_sim_shed(p->sim), &cfg);
	cfg.size = sizeof(cfg);
	for (uint32_t i = 0; i < p->info.ncircuits; i++) {
		if (max_hold_s[i] == UINT32_MAX)
			continue;
		if (max_hold_s[i] > PHLOEM_MAX_HOLD_MAX_S)
			return -EINVAL;
		cfg.circuit[i].max_hold_s = (uint16_t)max_hold_s[i];
	}
	return sim_set_config(b, &cfg, now);
}

static int sim_max_holds(struct pd_backend *b, uint32_t *max_hold_s)
{
	struct sim_priv *p = b->priv;
	struct phloem_config cfg;

	phloem_shed_get_config(phloem_sim_shed(p->sim), &cfg);
	for (uint32_t i = 0; i < p->info.ncircuits; i++)
		max_hold_s[i] = cfg.circuit[i].max_hold_s;
	return 0;
}

static int sim_signals(struct pd_backend *b, uint32_t debounce_us,
		       const uint32_t *cap_mw, const uint32_t *shed, uint32_t n)
{
	struct sim_priv *p = b->priv;
	uint64_t now = catch_up(b);
	struct phloem_config cfg;

	phloem_shed_get_config(phloem_sim_shed(p->sim), &cfg);
	cfg.size = sizeof(cfg);
	if (debounce_us != UINT32_MAX)
		cfg.signal_debounce_us = debounce_us;
	for (uint32_t i = 0; i < n && i < PHLOEM_MAX_SIGNALS; i++) {
		if (cap_mw[i] != UINT32_MAX)
			cfg.signal[i].import_cap_mw = cap_mw[i];
		if (shed[i] != UINT32_MAX)
			cfg.signal[i].shed_relays = shed[i];
	}
	return sim_set_config(b, &cfg, now);
}

static int sim_phase(struct pd_backend *b, const uint32_t *limit_ma,
		     uint32_t imb_ma, uint32_t imb_mva, uint32_t grace_ms)
{
	struct sim_priv *p = b->priv;
	uint64_t now = catch_up(b);
	struct phloem_config cfg;

	phloem_shed_get_config(phloem_sim_shed(p->sim), &cfg);
	cfg.size = sizeof(cfg);
	for (uint32_t i = 0; i < PHLOEM_MAX_PHASES; i++)
		if (limit_ma[i] != UINT32_MAX)
			cfg.phase_limit_ma[i] = limit_ma[i];
	if (imb_ma != UINT32_MAX)
		cfg.imbalance_ma = imb_ma;
	if (imb_mva != UINT32_MAX)
		cfg.imbalance_mva = imb_mva;
	if (grace_ms != UINT32_MAX)
		cfg.phase_grace_ms = grace_ms;
	return sim_set_config(b, &cfg, now);
}

static int sim_mains(struct pd_backend *b, const struct phloem_nl_mains_cfg *m)
{
	struct sim_priv *p = b->priv;
	uint64_t now = catch_up(b);
	struct phloem_config cfg;

	phloem_shed_get_config(phloem_sim_shed(p->sim), &cfg);
	cfg.size = sizeof(cfg);
#define SET(f) do { if (m->f != UINT32_MAX) cfg.f = m->f; } while (0)
	SET(nominal_mv);
	SET(outage_pct);
	SET(outage_cycles);
	SET(outage_relays);
	SET(return_ms);
	SET(return_stagger_ms);
	SET(volt_band_pct);
	SET(volt_delay_ms);
	SET(uv_shed_pct);
	SET(uv_shed_ms);
#undef SET
	return sim_set_config(b, &cfg, now);
}

static int sim_policy(struct pd_backend *b, uint32_t site_mw, const uint32_t *circuit_ma,
		      const uint32_t *max_hold_s, const struct pd_relay_policy *rp, uint32_t n)
{
	struct sim_priv *p = b->priv;
	uint64_t now = catch_up(b);
	struct phloem_config cfg;

	phloem_shed_get_config(phloem_sim_shed(p->sim), &cfg);
	cfg.size = sizeof(cfg);
	cfg.site_import_limit_mw = site_mw;
	for (uint32_t i = 0; i < p->info.ncircuits; i++) {
		cfg.circuit[i].limit_ma = circuit_ma[i];
		if (!max_hold_s || max_hold_s[i] == UINT32_MAX)
			continue;
		if (max_hold_s[i] > PHLOEM_MAX_HOLD_MAX_S)
			return -EINVAL;
		cfg.circuit[i].max_hold_s = (uint16_t)max_hold_s[i];
	}
	for (uint32_t i = 0; i < n; i++) {
		if (rp[i].relay >= p->info.nrelays || rp[i].priority > 255 || rp[i].flags > 255)
			return -EINVAL;
		cfg.relay[rp[i].relay].priority = (uint8_t)rp[i].priority;
		cfg.relay[rp[i].relay].flags = (uint8_t)rp[i].flags;
		cfg.relay[rp[i].relay].min_off_ms = rp[i].min_off_ms;
	}
	return sim_set_config(b, &cfg, now);
}

static int sim_relay_policy(struct pd_backend *b, uint32_t relay,
			    uint32_t priority, uint32_t flags,
			    uint32_t min_off_ms)
{
	struct sim_priv *p = b->priv;
	uint64_t now = catch_up(b);
	struct phloem_config cfg;

	if (relay >= p->info.nrelays || priority > 255)
		return -EINVAL;
	phloem_shed_get_config(phloem_sim_shed(p->sim), &cfg);
	cfg.size = sizeof(cfg);
	cfg.relay[relay].priority = (uint8_t)priority;
	cfg.relay[relay].flags = (uint8_t)flags;
	cfg.relay[relay].min_off_ms = min_off_ms;
	return sim_set_config(b, &cfg, now);
}

static int sim_freq(struct pd_backend *b, uint32_t over_mhz, uint32_t over_ms,
		    const struct phloem_freq_stage *stages)
{
	struct sim_priv *p = b->priv;
	uint64_t now = catch_up(b);
	struct phloem_config cfg;

	phloem_shed_get_config(phloem_sim_shed(p->sim), &cfg);
	cfg.size = sizeof(cfg);
	cfg.over_freq_mhz = over_mhz;
	cfg.over_freq_ms = over_ms;
	memcpy(cfg.freq_stage, stages, sizeof(cfg.freq_stage));
	return sim_set_config(b, &cfg, now);
}

static int sim_override(struct pd_backend *b, uint32_t relay, uint32_t mode,
			uint32_t expiry_ms)
{
	struct sim_priv *p = b->priv;
	uint64_t now = catch_up(b);
	int err;

	err = phloem_shed_override(phloem_sim_shed(p->sim), relay, mode,
				   expiry_ms, now);
	drain_events(b);
	return err ? -EINVAL : 0;
}

static int sim_lease(struct pd_backend *b, uint32_t timeout_ms)
{
	struct sim_priv *p = b->priv;
	uint64_t now = catch_up(b);
	int err;

	err = phloem_shed_lease(phloem_sim_shed(p->sim), timeout_ms, now);
	drain_events(b);
	return err ? -EINVAL : 0;
}

static uint32_t sim_peak(struct pd_backend *b, uint32_t chan)
{
	struct sim_priv *p = b->priv;

	catch_up(b);
	return phloem_sim_peak(p->sim, chan);
}

static int sim_stats(struct pd_backend *b, struct phloem_stats *st)
{
	struct sim_priv *p = b->priv;

	catch_up(b);
	phloem_sim_stats(p->sim, st);
	return 0;
}

static void sim_close(struct pd_backend *b)
{
	struct sim_priv *p = b->priv;

	if (!p)
		return;
	close(p->tfd);
	phloem_sim_free(p->sim);
	free(p);
	b->priv = NULL;
}

const struct pd_backend_ops pd_backend_sim = {
	.name = "sim",
	.open = sim_open,
	.fd = sim_fd,
	.dispatch = sim_dispatch,
	.info = sim_info,
	.status = sim_status,
	.limits = sim_limits,
	.policy = sim_policy,
	.relay_policy = sim_relay_policy,
	.override = sim_override,
	.freq = sim_freq,
	.lease = sim_lease,
	.signals = sim_signals,
	.phase = sim_phase,
	.mains = sim_mains,
	.peak = sim_peak,
	.stats = sim_stats,
	.close = sim_close,
	.max_hold = sim_max_hold,
	.max_holds = sim_max_holds,
};
