// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * shed_sim: closed-loop simulated metering HAT (see shed_sim.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shed_sim.h"


static const double sim_scale[SIM_NCH] = {
	250000,		/* v0: 250 mV per LSB: +-512 V */
	100000,		/* site CT: +-204 A peak */
	80000,		/* circuit 1: +-163 A peak */
	50000,		/* circuit 2: +-102 A peak */
};

void sim_default(struct sim *m, uint32_t mains_hz, uint32_t rate_hz)
{
	static const struct {
		const char *name;
		uint8_t circuit, prio, flags, safe;
	} relays[SIM_NRELAYS] = {
		[SIM_EV]     = { "ev",     1, 10, 0, 0 },
		[SIM_HEATER] = { "heater", 1, 20, 0, 0 },
		[SIM_DRYER]  = { "dryer",  1, 30, 0, 0 },
		[SIM_FRIDGE] = { "fridge", 1, 0, PHLOEM_RELAY_F_CRITICAL, 1 },
		[SIM_PUMP]   = { "pump",   2, 50, 0, 1 },
		[SIM_OVEN]   = { "oven",   2, 40, 0, 0 },
	};
	static const char *chn[SIM_NCH] = { "v0", "i0", "i1", "i2" };
	uint32_t i;

	memset(m, 0, sizeof(*m));
	m->info.size = sizeof(m->info);
	m->info.abi_version = PHLOEM_ABI_VERSION;
	strcpy(m->info.name, "phloem0");
	m->info.nchannels = SIM_NCH;
	m->info.ncircuits = 3;
	m->info.nrelays = SIM_NRELAYS;
	m->info.mains_hz = mains_hz;
	m->info.record_size = PHLOEM_RECORD_SIZE;
	m->info.ring_records = PHLOEM_RING_RECORDS;
	for (i = 0; i < SIM_NCH; i++) {
		strcpy(m->info.chan[i].name, chn[i]);
		m->info.chan[i].kind = i == SIM_V0 ? PHLOEM_CHAN_VOLTAGE :
						     PHLOEM_CHAN_CURRENT;
		m->info.chan[i].phase = 0;
		m->info.chan[i].circuit = i == SIM_V0 ? PHLOEM_NONE : i - 1;
		m->info.chan[i].bits = 12;
		m->cfg.cal[i].scale_uunit = (uint32_t)sim_scale[i];
		m->cfg.cal[i].offset_lsb = 2048;
	}
	strcpy(m->info.circuit[0].name, "site");
	m->info.circuit[0].channel = SIM_ISITE;
	m->info.circuit[0].curve = PHLOEM_CURVE_C;
	m->info.circuit[0].rating_ma = 63000;
	strcpy(m->info.circuit[1].name, "kitchen");
	m->info.circuit[1].channel = SIM_I1;
	m->info.circuit[1].curve = PHLOEM_CURVE_B;
	m->info.circuit[1].rating_ma = 16000;
	strcpy(m->info.circuit[2].name, "garage");
	m->info.circuit[2].channel = SIM_I2;
	m->info.circuit[2].curve = PHLOEM_CURVE_B;
	m->info.circuit[2].rating_ma = 20000;
	for (i = 0; i < SIM_NRELAYS; i++) {
		strcpy(m->info.relay[i].name, relays[i].name);
		m->info.relay[i].safe_state = relays[i].safe;
		m->cfg.relay[i].circuit = relays[i].circuit;
		m->cfg.relay[i].priority = relays[i].prio;
		m->cfg.relay[i].flags = relays[i].flags;
		m->cfg.relay[i].min_off_ms = 2000;
	}
	m->cfg.size = sizeof(m->cfg);
	m->cfg.sample_rate_hz = rate_hz;
	m->cfg.site_import_grace_ms = 5000;
	m->cfg.restore_delay_ms = 1000;
	m->cfg.retrip_window_ms = 60000;
	m->cfg.backoff_max = 6;
	m->cfg.stale_ms = 100;
	m->cfg.nchannels = SIM_NCH;
	m->cfg.ncircuits = 3;
	m->cfg.nrelays = SIM_NRELAYS;
	for (i = 0; i < 3; i++) {
		m->cfg.circuit[i].limit_ma = m->info.circuit[i].rating_ma;
		m->cfg.circuit[i].inst_pct = 125;
		m->cfg.circuit[i].thermal_pct = 40;
		m->cfg.circuit[i].restore_pct = 80;
	}
	m->freq = mains_hz;
	m->vrms = mains_hz == 60 ? 120 : 230;
	m->mains = true;
	m->rng = 0x9e3779b97f4a7c15ULL;
	m->tick_every = 40;
	/* a quiet evening: a few amps everywhere */
	m->base_a[0] = 1.0;
	m->base_a[1] = 0.5;
	m->base_a[2] = 0.5;
	m->relay_a[SIM_EV] = 2.0;
	m->relay_a[SIM_HEATER] = 2.0;
	m->relay_a[SIM_DRYER] = 2.0;
	m->relay_a[SIM_FRIDGE] = 1.0;
	m->relay_a[SIM_PUMP] = 1.0;
	m->relay_a[SIM_OVEN] = 2.0;
}

/*
 * The three-phase house of the phase tests: L1..L3 on v0..v2, one site CT
 * per phase at the incomer (i0 on L1 is circuit 0's own channel, i3 on L2
 * and i4 on L3 its extra CTs); the kitchen (ev 4 A, heater 4 A, dryer 3 A,
 * fridge 1 A) on L1, the garage (oven 6 A, pump 1 A) on L2; 1 A of
 * unswitched load on each phase, 0.5 A on each circuit: L1 13.5 A, L2
 * 8.5 A, L3 1 A. Call after sim_default(), before sim_start().
 */
void sim_three_phase(struct sim *m)
{
	static const struct {
		const char *name;
		uint8_t kind, phase, circuit;
		uint32_t scale;
	} ch[SIM3_NCH] = {
		[SIM3_V1] = { "v0", PHLOEM_CHAN_VOLTAGE, SIM3_V1, PHLOEM_NONE, 250000 },
		[SIM3_V2] = { "v1", PHLOEM_CHAN_VOLTAGE, SIM3_V2, PHLOEM_NONE, 250000 },
		[SIM3_V3] = { "v2", PHLOEM_CHAN_VOLTAGE, SIM3_V3, PHLOEM_NONE, 250000 },
		[SIM3_ISITE1] = { "i0", PHLOEM_CHAN_CURRENT, SIM3_V1, 0, 100000 },
		[SIM3_IKITCHEN] = { "i1", PHLOEM_CHAN_CURRENT, SIM3_V1, 1, 80000 },
		[SIM3_IGARAGE] = { "i2", PHLOEM_CHAN_CURRENT, SIM3_V2, 2, 50000 },
		[SIM3_ISITE2] = { "i3", PHLOEM_CHAN_CURRENT, SIM3_V2, 0, 100000 },
		[SIM3_ISITE3] = { "i4", PHLOEM_CHAN_CURRENT, SIM3_V3, 0, 100000 },
	};
	uint32_t i;

	m->info.nchannels = SIM3_NCH;
	m->cfg.nchannels = SIM3_NCH;
	for (i = 0; i < SIM3_NCH; i++) {
		strcpy(m->info.chan[i].name, ch[i].name);
		m->info.chan[i].kind = ch[i].kind;
		m->info.chan[i].phase = ch[i].phase;
		m->info.chan[i].circuit = ch[i].circuit;
		m->info.chan[i].bits = 12;
		m->cfg.cal[i].scale_uunit = ch[i].scale;
		m->cfg.cal[i].offset_lsb = 2048;
	}
	m->info.circuit[0].channel = SIM3_ISITE1;
	m->info.circuit[1].channel = SIM3_IKITCHEN;
	m->info.circuit[2].channel = SIM3_IGARAGE;
	m->three_phase = true;
	for (i = 0; i < 3; i++)
		m->phase_a[i] = 1;
	m->relay_a[SIM_EV] = 4;
	m->relay_a[SIM_HEATER] = 4;
	m->relay_a[SIM_DRYER] = 3;
	m->relay_a[SIM_OVEN] = 6;
}

void sim_start(struct sim *m)
{
	m->s = calloc(1, phloem_shed_size());
	m->ns = SIM_T0;
	m->grid = SIM_T0;
	m->ns_set = SIM_T0;
	phloem_shed_init(m->s, &m->info, &m->cfg, m->ns);
}

void sim_free(struct sim *m)
{
	free(m->s);
	m->s = NULL;
}

struct sim *sim_new(uint32_t mains_hz, uint32_t rate_hz)
{
	struct sim *m = calloc(1, sizeof(*m));

	if (m)
		sim_default(m, mains_hz, rate_hz);
	return m;
}

void sim_del(struct sim *m)
{
	sim_free(m);
	free(m);
}

/* uniform in [-1, 1), deterministic */
static double sim_rand(struct sim *m)
{
	m->rng = m->rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(m->rng >> 11) / (double)(1ULL << 52) - 1.0;
}

double sim_circuit_a(const struct sim *m, uint32_t c)
{
	uint32_t relays = phloem_shed_relays(m->s), r;
	double a = m->base_a[c];

	if (c == 0) {
		for (c = 1; c < m->info.ncircuits; c++)
			a += sim_circuit_a(m, c);
		return a;
	}
	for (r = 0; r < m->info.nrelays; r++)
		if (relays & (1U << r) && m->cfg.relay[r].circuit == c)
			a += m->relay_a[r];
	return a;
}

/* instantaneous current of circuit @c at phase angle @wt */
static double sim_circuit_i(const struct sim *m, uint32_t c, double wt,
			    uint32_t relays)
{
	double i = m->base_a[c] * sin(wt - m->base_phi[c]);
	uint32_t r;

	if (c == 0) {
		for (c = 1; c < m->info.ncircuits; c++)
			i += sim_circuit_i(m, c, wt, relays);
		return i;
	}
	for (r = 0; r < m->info.nrelays; r++)
		if (relays & (1U << r) && m->cfg.relay[r].circuit == c)
			i += m->relay_a[r] * sin(wt - m->relay_phi[r]);
	return i;
}

/* three_phase: the order of voltage channel @v among the voltages */
static uint32_t sim_phase_k(const struct sim *m, uint32_t v)
{
	uint32_t i, k = 0;

	for (i = 0; i < v && i < m->info.nchannels; i++)
		k += m->info.chan[i].kind == PHLOEM_CHAN_VOLTAGE;
	return k;
}

/* the circuits on voltage channel @v's phase, and its unswitched load */
static double sim_phase_i(const struct sim *m, uint32_t v, double wt,
			  uint32_t relays)
{
	double i = m->phase_a[sim_phase_k(m, v) % PHLOEM_MAX_PHASES] * sin(wt);
	uint32_t c;

	for (c = 1; c < m->info.ncircuits; c++)
		if (m->info.chan[m->info.circuit[c].channel].phase == v)
			i += sim_circuit_i(m, c, wt, relays);
	return i;
}

double sim_phase_a(const struct sim *m, uint32_t v)
{
	uint32_t relays = phloem_shed_relays(m->s), c, r;
	double a = m->phase_a[sim_phase_k(m, v) % PHLOEM_MAX_PHASES];

	for (c = 1; c < m->info.ncircuits; c++) {
		if (m->info.chan[m->info.circuit[c].channel].phase != v)
			continue;
		a += m->base_a[c];
		for (r = 0; r < m->info.nrelays; r++)
			if (relays & (1U << r) && m->cfg.relay[r].circuit == c)
				a += m->relay_a[r];
	}
	return a;
}

static int32_t sim_adc(const struct sim *m, uint32_t ch, double x)
{
	double lsb = x * 1e6 / m->cfg.cal[ch].scale_uunit;
	long r = lround(lsb) + (long)m->cfg.cal[ch].offset_lsb;
	long max = (1L << m->info.chan[ch].bits) - 1;

	return (int32_t)(r < 0 ? 0 : r > max ? max : r);
}

static void sim_drain(struct sim *m)
{
	struct phloem_rec_event ev;
	struct phloem_rec_cycle c;
	uint64_t t;
	uint32_t i;

	if (!m->no_pop) {
		while (phloem_shed_pop_event(m->s, &ev, &t)) {
			if (m->nev < SIM_EVMAX) {
				m->ev[m->nev].ev = ev;
				m->ev[m->nev].t = t;
				m->nev++;
			}
		}
	}
	if (!phloem_shed_pop_cycle(m->s, &c, &t))
		return;
	/* the energy the unit should have counted from its own records */
	for (i = 0; i < c.nchannels; i++) {
		uint64_t dt = m->ncyc ? t - m->cyc_t : 0;
		uint64_t cap = 2 * (1000000000ULL / m->info.mains_hz);

		if (m->ncyc == 0)
			dt = t - SIM_T0;
		if (dt > cap)
			dt = cap;
		if (c.chan[i].p_mw > 0)
			m->pdt[i] += (unsigned __int128)c.chan[i].p_mw * dt;
		else
			m->pdt_neg[i] += (unsigned __int128)(-(int64_t)c.chan[i].p_mw) * dt;
	}
	m->prev_cyc_t = m->cyc_t;
	m->cyc = c;
	m->cyc_t = t;
	m->ncyc++;
}

/* time of the next sample set: the period grid, bent by a starved sampler */
static void sim_next(struct sim *m)
{
	uint64_t period = 1000000000ULL / m->cfg.sample_rate_hz, t;

	/* a test moved the clock itself: the grid follows */
	if (m->ns != m->ns_set)
		m->grid = m->ns;
	m->grid += period;
	if (m->late_pct && (uint32_t)((sim_rand(m) + 1) * 50) < m->late_pct)
		m->grid += period * (1 + (uint64_t)((sim_rand(m) + 1) / 2 *
						    m->late_max));
	if (m->busy_ns) {
		uint64_t done = m->ns + m->busy_ns +
				(uint64_t)((sim_rand(m) + 1) / 2 * m->busy_jitter_ns);

		while (m->grid < done)
			m->grid += period;
	}
	t = m->grid;
	if (m->jitter > 0)
		t += (uint64_t)((sim_rand(m) + 1) / 2 * m->jitter * period);
	if (m->stall_every_ns) {
		uint64_t ph = (t - SIM_T0) % m->stall_every_ns;

		/* blocked: the set is taken at the first boundary after */
		while (ph < m->stall_ns) {
			m->grid += period;
			t += period;
			ph = (t - SIM_T0) % m->stall_every_ns;
		}
	}
	m->ns = t > m->ns ? t : m->ns + 1;
	m->ns_set = m->ns;
}

void sim_freq_track(struct sim *m)
{
	double t = (double)(m->ns - SIM_T0) * 1e-9;

	if (m->fm)
		return;
	m->ph = fmod(2 * M_PI * m->freq * t + m->vphase, 2 * M_PI);
	m->ph_ns = m->ns;
	m->fm = true;
}

void sim_freq_ramp(struct sim *m, double hz_s, double to)
{
	sim_freq_track(m);
	m->ramp_hz_s = hz_s;
	m->ramp_to = to;
}

/* the angle at m->ns: the integral of the (ramping) frequency */
static double sim_freq_angle(struct sim *m)
{
	double dt = (double)(m->ns - m->ph_ns) * 1e-9, f0 = m->freq, f1 = f0;

	if (m->ramp_hz_s != 0) {
		f1 = f0 + m->ramp_hz_s * dt;
		if ((m->ramp_hz_s > 0 && f1 >= m->ramp_to) ||
		    (m->ramp_hz_s < 0 && f1 <= m->ramp_to)) {
			f1 = m->ramp_to;
			m->ramp_hz_s = 0;
		}
	}
	m->ph = fmod(m->ph + M_PI * (f0 + f1) * dt, 2 * M_PI);
	m->ph_ns = m->ns;
	m->freq = f1;
	return m->ph;
}

bool sim_step(struct sim *m)
{
	double t = (double)(m->ns - SIM_T0) * 1e-9;
	double wt = m->fm ? sim_freq_angle(m) : 2 * M_PI * m->freq * t + m->vphase;
	uint32_t relays = phloem_shed_relays(m->s), ch;
	int32_t raw[PHLOEM_MAX_CHANNELS];
	uint64_t stamp;
	bool r;

	for (ch = 0; ch < m->info.nchannels; ch++) {
		double x, wp = wt;

		if (m->three_phase)
			wp -= 2 * M_PI / 3 * sim_phase_k(m, m->info.chan[ch].phase);
		if (m->info.chan[ch].kind == PHLOEM_CHAN_VOLTAGE) {
			x = m->mains ? M_SQRT2 * m->vrms *
				       (sin(wp) + m->h3 * sin(3 * wp) +
					m->h5 * sin(5 * wp)) : 0;
			x += m->noise_v * sim_rand(m);
			if (m->spike_v != 0 && m->ns >= m->spike_ns) {
				x += m->spike_v;
				m->spike_v = 0;
			}
		} else {
			double lag = m->ct_lag_deg[ch] * M_PI / 180;

			if (m->info.chan[ch].circuit >= m->info.ncircuits)
				x = 0;	/* a CT measuring nothing */
			else if (m->three_phase && m->info.chan[ch].circuit == 0)
				x = M_SQRT2 * sim_phase_i(m, m->info.chan[ch].phase,
							  wp - lag, relays);
			else
				x = M_SQRT2 * sim_circuit_i(m, m->info.chan[ch].circuit,
							    wp - lag, relays);
			x += m->noise_i * sim_rand(m);
		}
		raw[ch] = sim_adc(m, ch, x);
	}
	stamp = m->ns;
	if (m->misstamp_pct &&
	    (uint32_t)((sim_rand(m) + 1) * 50) < m->misstamp_pct)
		stamp -= (uint64_t)((sim_rand(m) + 1) / 2 * m->misstamp_ns);
	r = m->info.nsignals ? phloem_shed_signal(m->s, m->lines, stamp) : 0;
	r |= phloem_shed_sample(m->s, raw, stamp);
	m->nsamples++;
	if (m->tick_every && m->nsamples % m->tick_every == 0)
		r |= phloem_shed_tick(m->s, m->ns);
	sim_drain(m);
	sim_next(m);
	return r;
}

void sim_run_ms(struct sim *m, uint64_t ms)
{
	uint64_t end = m->ns + ms * 1000000ULL;

	while (m->ns < end)
		sim_step(m);
}

bool sim_settle(struct sim *m)
{
	uint64_t end = m->ns + 20000 * 1000000ULL;
	uint32_t all = (1U << m->info.nrelays) - 1;

	while (m->ns < end) {
		struct phloem_status st;

		sim_step(m);
		phloem_shed_status(m->s, &st, m->ns);
		if (!(st.state & PHLOEM_STATE_F_FAILSAFE) &&
		    phloem_shed_relays(m->s) == all) {
			sim_run_ms(m, 100);
			return true;
		}
	}
	return false;
}

int sim_find(const struct sim *m, int from, uint32_t kind)
{
	int i;

	for (i = from < 0 ? 0 : from; i < m->nev; i++)
		if (m->ev[i].ev.kind == kind)
			return i;
	return -1;
}

int sim_find_cause(const struct sim *m, int from, uint32_t kind,
		   uint32_t cause)
{
	int e;

	for (e = sim_find(m, from, kind); e >= 0; e = sim_find(m, e + 1, kind))
		if (m->ev[e].ev.cause == cause)
			return e;
	return -1;
}

int sim_count_cause(const struct sim *m, int from, uint32_t kind,
		    uint32_t cause)
{
	int e, n = 0;

	for (e = sim_find_cause(m, from, kind, cause); e >= 0;
	     e = sim_find_cause(m, e + 1, kind, cause))
		n++;
	return n;
}

int sim_count(const struct sim *m, int from, uint32_t kind)
{
	int i, n = 0;

	for (i = from < 0 ? 0 : from; i < m->nev; i++)
		n += m->ev[i].ev.kind == kind;
	return n;
}

uint64_t sim_now_ms(const struct sim *m)
{
	return (m->ns - SIM_T0) / 1000000ULL;
}

void sim_status(const struct sim *m, struct phloem_status *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	phloem_shed_status(m->s, st, m->ns);
}
