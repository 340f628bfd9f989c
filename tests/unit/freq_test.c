// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Host unit tests of the frequency rule of the shedding unit: the filtered
 * frequency (accuracy on clean, harmonic and noisy mains, one bad crossing),
 * under-frequency stages on steps and ramps of 0.1 to 2 Hz/s, an off-grid
 * inverter's frequency shift, release through the restore path, the
 * over-frequency report and the configuration check. Driven through the
 * closed-loop simulated HAT (shed_sim.c), as shed_test.c.
 *
 * Relays (shed_sim.c): ev(10) heater(20) dryer(30) fridge(critical)
 * pump(50) oven(40). Stages below: A sheds 0..20 (ev, heater), B 21..40
 * (dryer, oven), C 41..255 (pump).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "shed_sim.h"

#define MS	1000000ULL
#define ALL_RELAYS	((1U << SIM_NRELAYS) - 1)
#define BIT(r)	(1U << (r))

/* EN 50160 voltage harmonics at their limits: 3rd 5 %, 5th 6 %: THD 7.8 % */
#define EN50160_H3	0.05
#define EN50160_H5	0.06

static void stage(struct sim *m, int k, uint32_t thr, uint32_t delay_ms,
		  uint32_t hyst, uint32_t restore_ms, uint8_t lo, uint8_t hi)
{
	struct phloem_freq_stage *fc = &m->cfg.freq_stage[k];

	fc->threshold_mhz = thr;
	fc->delay_ms = delay_ms;
	fc->hyst_mhz = (uint16_t)hyst;
	fc->restore_ms = restore_ms;
	fc->prio_min = lo;
	fc->prio_max = hi;
}

/* the three stages of the file's header, at 49.0, 48.7 and 48.4 Hz */
static void three_stages(struct sim *m, uint32_t delay_ms)
{
	stage(m, 0, 49000, delay_ms, 200, 2000, 0, 20);
	stage(m, 1, 48700, delay_ms, 200, 2000, 21, 40);
	stage(m, 2, 48400, delay_ms, 200, 2000, 41, 255);
}

static uint32_t est(const struct sim *m)
{
	struct phloem_status st;

	sim_status(m, &st);
	return st.freq_est_mhz;
}

/* relays shed by the frequency rule since event @from, as a bitmap */
static uint32_t freq_shed(const struct sim *m, int from)
{
	uint32_t b = 0;
	int i;

	for (i = from; (i = sim_find_cause(m, i, PHLOEM_EV_SHED,
				       PHLOEM_CAUSE_UNDER_FREQ)) >= 0; i++)
		b |= BIT(m->ev[i].ev.relay);
	return b;
}

/*
 * Run @ms and return the worst |filtered - true| frequency in mHz, taken
 * at each closed cycle once the filter is full (the true frequency is
 * constant here, so its group delay plays no part).
 */
static double worst_err(struct sim *m, uint64_t ms, double *median)
{
	static double errs[4096];
	uint64_t end = m->ns + ms * MS, ncyc = m->ncyc;
	double worst = 0;
	int n = 0, i, j;

	while (m->ns < end) {
		sim_step(m);
		if (m->ncyc != ncyc && n < 4096) {
			double e = fabs(est(m) - m->freq * 1000);

			ncyc = m->ncyc;
			errs[n++] = e;
			if (e > worst)
				worst = e;
		}
	}
	for (i = 1; i < n; i++)		/* insertion sort: a few hundred */
		for (j = i; j > 0 && errs[j - 1] > errs[j]; j--) {
			double t = errs[j];

			errs[j] = errs[j - 1];
			errs[j - 1] = t;
		}
	if (median)
		*median = n ? errs[n / 2] : -1;
	return worst;
}

/* ------------------------------------------------------------------ */
/* The filtered frequency                                              */
/* ------------------------------------------------------------------ */

struct acc_case {
	uint32_t hz;
	double f, h3, h5, noise_v, limit_mhz;
};

static void check_accuracy(struct __test_metadata *_metadata,
			   const struct acc_case *c)
{
	struct sim *m = sim_new(c->hz, 4000);
	double worst, med;

	m->freq = c->f;
	m->h3 = c->h3;
	m->h5 = c->h5;
	m->noise_v = c->noise_v;
	three_stages(m, 0);		/* the most sensitive: no delay */
	if (c->hz == 60) {
		stage(m, 0, 59000, 0, 200, 2000, 0, 20);
		stage(m, 1, 58700, 0, 200, 2000, 21, 40);
		stage(m, 2, 58400, 0, 200, 2000, 41, 255);
	}
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	worst = worst_err(m, 5000, &med);
	TH_LOG("%.3f Hz h3 %.2f h5 %.2f noise %.1f V: error median %.1f worst %.1f mHz",
	       c->f, c->h3, c->h5, c->noise_v, med, worst);
	EXPECT_LE(worst, c->limit_mhz);
	EXPECT_GT(est(m), 0);
	/* nothing near a threshold: no stage, no shed */
	EXPECT_EQ(-1, sim_find(m, 0, PHLOEM_EV_FREQ));
	EXPECT_EQ(0, freq_shed(m, 0));
	EXPECT_EQ(ALL_RELAYS, phloem_shed_relays(m->s));
	sim_del(m);
}

TEST(accuracy_clean_50hz)
{
	static const double fs[] = { 50.0, 49.5, 49.123, 50.4, 49.25 };
	unsigned int i;

	for (i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
		struct acc_case c = { 50, fs[i], 0, 0, 0, 10 };

		check_accuracy(_metadata, &c);
	}
}

TEST(accuracy_clean_60hz)
{
	struct acc_case c = { 60, 59.87, 0, 0, 0, 10 };

	check_accuracy(_metadata, &c);
}

TEST(accuracy_harmonics_en50160)
{
	struct acc_case c = { 50, 49.95, EN50160_H3, EN50160_H5, 0, 10 };

	check_accuracy(_metadata, &c);
	c.h3 = -EN50160_H3;		/* the other phase of the 3rd */
	check_accuracy(_metadata, &c);
}

TEST(accuracy_noise)
{
	/* 5 V peak of uniform noise on 230 V, harmonics too: no false stage */
	struct acc_case c = { 50, 49.95, EN50160_H3, EN50160_H5, 5.0, 30 };

	check_accuracy(_metadata, &c);
}

/* one sample spiked anywhere in a cycle: no stage with no delay at 49.9 Hz */
TEST(one_bad_crossing)
{
	static const double volts[] = { -400, 400, -150, 150 };
	unsigned int k, v;

	for (v = 0; v < sizeof(volts) / sizeof(volts[0]); v++) {
		struct sim *m = sim_new(50, 4000);
		uint32_t lo = UINT32_MAX, hi = 0;

		stage(m, 0, 49900, 0, 0, 1000, 0, 255);
		sim_start(m);
		ASSERT_TRUE(sim_settle(m));
		sim_run_ms(m, 300);
		for (k = 0; k < 16; k++) {
			uint64_t end;

			/* 16 phases over a cycle, one spike per 200 ms */
			m->spike_v = volts[v];
			m->spike_ns = m->ns + (20 * MS) * k / 16;
			end = m->ns + 200 * MS;
			while (m->ns < end) {
				uint32_t f;

				sim_step(m);
				f = est(m);
				if (f < lo)
					lo = f;
				if (f > hi)
					hi = f;
			}
		}
		TH_LOG("spike %.0f V: filtered %u..%u mHz", volts[v], lo, hi);
		EXPECT_GE(lo, 49990);
		EXPECT_LE(hi, 50010);
		EXPECT_EQ(-1, sim_find(m, 0, PHLOEM_EV_FREQ));
		EXPECT_EQ(ALL_RELAYS, phloem_shed_relays(m->s));
		sim_del(m);
	}
}

/*
 * Reads stamped up to 2 ms before they were taken (5 % of the sets, a
 * preempted sampling thread): each such set near a zero crossing moves
 * that crossing by up to 2 ms. A grid-code stage at 49.5 Hz, 100 ms, must
 * not operate on a 50 Hz grid, and the frequency stays known and within
 * 200 mHz.
 */
TEST(misstamped_reads_no_false_stage)
{
	struct sim *m = sim_new(50, 4000);
	uint32_t lo = UINT32_MAX, hi = 0, f, unknown = 0;
	uint64_t end;

	stage(m, 0, 49500, 100, 200, 1000, 0, 255);
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	m->misstamp_pct = 5;
	m->misstamp_ns = 2 * MS;
	end = m->ns + 20000 * MS;
	while (m->ns < end) {
		sim_step(m);
		f = est(m);
		if (!f) {
			unknown++;
			continue;
		}
		if (f < lo)
			lo = f;
		if (f > hi)
			hi = f;
	}
	TH_LOG("filtered %u..%u mHz, unknown at %u of the sets", lo, hi, unknown);
	EXPECT_EQ(-1, sim_find(m, 0, PHLOEM_EV_FREQ));
	EXPECT_EQ(ALL_RELAYS, phloem_shed_relays(m->s));
	EXPECT_GE(lo, 49800);
	EXPECT_LE(hi, 50200);
	EXPECT_EQ(0, unknown);
	sim_del(m);
}

/* ------------------------------------------------------------------ */
/* Stages                                                              */
/* ------------------------------------------------------------------ */

/* a step to 48.8 Hz operates stage A only, after its delay; B stays idle */
TEST(step_operates_one_stage)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	uint64_t t0;
	int i0, e;

	three_stages(m, 200);
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	i0 = m->nev;
	sim_freq_track(m);
	t0 = m->ns;
	m->freq = 48.8;
	sim_run_ms(m, 1000);
	e = sim_find_cause(m, i0, PHLOEM_EV_FREQ, PHLOEM_CAUSE_UNDER_FREQ);
	ASSERT_GE(e, 0);
	EXPECT_EQ(0, m->ev[e].ev.backoff);		/* stage A */
	EXPECT_EQ(49000, m->ev[e].ev.limit);
	TH_LOG("stage A operated %.1f ms after the step (delay 200)",
	       (m->ev[e].t - t0) / 1e6);
	EXPECT_GE(m->ev[e].t - t0, 200 * MS);
	EXPECT_LE(m->ev[e].t - t0, 320 * MS);	/* the filter: < 6 cycles */
	EXPECT_EQ(BIT(SIM_EV) | BIT(SIM_HEATER), freq_shed(m, i0));
	EXPECT_EQ(ALL_RELAYS & ~(BIT(SIM_EV) | BIT(SIM_HEATER)),
		  phloem_shed_relays(m->s));
	EXPECT_EQ(1, sim_count(m, i0, PHLOEM_EV_FREQ));
	sim_status(m, &st);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_UNDER_FREQ);
	EXPECT_EQ(PHLOEM_FREQ_OPERATED, st.freq_stage[0]);
	EXPECT_EQ(PHLOEM_FREQ_IDLE, st.freq_stage[1]);
	EXPECT_EQ(PHLOEM_FREQ_OFF, st.freq_stage[3]);
	EXPECT_LT(fabs(st.freq_est_mhz - 48800.0), 10);
	sim_del(m);
}

/*
 * A relay shed by a stage is held (PHLOEM_HOLD_FREQ) while the stage is
 * operated, although its circuit has room; back above threshold +
 * hysteresis for restore_ms the stage releases, and the restore path
 * brings the relays back one by one.
 */
TEST(held_then_restored)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	uint64_t t_back;
	int i0, e, r1, r2;

	three_stages(m, 100);
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_freq_track(m);
	i0 = m->nev;
	m->freq = 48.9;
	sim_run_ms(m, 10000);	/* far past min_off and restore_delay */
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_HOLD_FREQ, st.hold[SIM_EV]);
	EXPECT_EQ(PHLOEM_HOLD_FREQ, st.hold[SIM_HEATER]);
	EXPECT_EQ(-1, sim_find(m, i0, PHLOEM_EV_RESTORE));
	/* above 49.0 but under 49.2: still operated */
	m->freq = 49.1;
	sim_run_ms(m, 5000);
	EXPECT_EQ(-1, sim_find(m, i0, PHLOEM_EV_RESTORE));
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_FREQ_OPERATED, st.freq_stage[0]);
	m->freq = 49.95;
	t_back = m->ns;
	sim_run_ms(m, 1000);
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_FREQ_RECOVERING, st.freq_stage[0]);
	EXPECT_GT(st.freq_left_ms[0], 500);
	EXPECT_LE(st.freq_left_ms[0], 2000);
	/* a dip under 49.2 during the restore time starts it again */
	m->freq = 49.15;
	sim_run_ms(m, 300);
	m->freq = 49.95;
	t_back = m->ns;
	sim_run_ms(m, 6000);
	e = sim_find_cause(m, i0, PHLOEM_EV_FREQ, PHLOEM_CAUSE_FREQ_OK);
	ASSERT_GE(e, 0);
	TH_LOG("released %.0f ms after the frequency came back (restore 2000)",
	       (m->ev[e].t - t_back) / 1e6);
	EXPECT_GE(m->ev[e].t - t_back, 2000 * MS);
	EXPECT_LE(m->ev[e].t - t_back, 2200 * MS);
	r1 = sim_find(m, e, PHLOEM_EV_RESTORE);
	ASSERT_GE(r1, 0);
	r2 = sim_find(m, r1 + 1, PHLOEM_EV_RESTORE);
	ASSERT_GE(r2, 0);
	/* staggered by restore_delay_ms (1 s) */
	EXPECT_GE(m->ev[r2].t - m->ev[r1].t, 1000 * MS);
	EXPECT_EQ(ALL_RELAYS, phloem_shed_relays(m->s));
	sim_status(m, &st);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_UNDER_FREQ);
	EXPECT_EQ(PHLOEM_FREQ_IDLE, st.freq_stage[0]);
	sim_del(m);
}

/*
 * Ramps down at 0.1 to 2 Hz/s: every stage operates in order, each within
 * 100 ms of its true threshold crossing plus its delay; the critical
 * fridge stays on.
 */
struct ramp_case {
	double rate;
};

static void check_ramp(struct __test_metadata *_metadata, double rate,
		       double *worst_ms)
{
	static const uint32_t thr[3] = { 49000, 48700, 48400 };
	static const uint32_t bits[3] = {
		BIT(SIM_EV) | BIT(SIM_HEATER), BIT(SIM_DRYER) | BIT(SIM_OVEN),
		BIT(SIM_PUMP) };
	struct sim *m = sim_new(50, 4000);
	uint64_t t0;
	int i0, k, from;

	three_stages(m, 150);
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_freq_ramp(m, -rate, 48.0);
	i0 = m->nev;
	t0 = m->ns;
	sim_run_ms(m, (uint64_t)(2000 / rate) + 1000);
	*worst_ms = 0;
	from = i0;
	for (k = 0; k < 3; k++) {
		double cross = t0 + (50.0 - thr[k] / 1000.0) / rate * 1e9;
		int e = sim_find_cause(m, from, PHLOEM_EV_FREQ,
				   PHLOEM_CAUSE_UNDER_FREQ);
		double late;
		uint32_t shed = 0;
		int j;

		ASSERT_GE(e, 0);
		EXPECT_EQ(k, m->ev[e].ev.backoff);
		late = (m->ev[e].t - cross) / 1e6 - 150;
		if (late > *worst_ms)
			*worst_ms = late;
		TH_LOG("%.1f Hz/s: stage %d operated %.1f ms after crossing + delay",
		       rate, k, late);
		EXPECT_GE(late, 0);
		EXPECT_LE(late, 100);
		for (j = e + 1; j < m->nev && m->ev[j].ev.kind == PHLOEM_EV_SHED;
		     j++)
			shed |= BIT(m->ev[j].ev.relay);
		EXPECT_EQ(bits[k], shed);
		from = e + 1;
	}
	EXPECT_TRUE(phloem_shed_relays(m->s) & BIT(SIM_FRIDGE));
	EXPECT_EQ(BIT(SIM_FRIDGE), phloem_shed_relays(m->s));
	sim_del(m);
}

TEST(ramps_0_1_to_2_hz_s)
{
	static const double rates[] = { 0.1, 0.5, 1.0, 2.0 };
	unsigned int i;

	for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		double w;

		check_ramp(_metadata, rates[i], &w);
	}
}

/* a ramp with harmonics and noise that stops 200 mHz above a stage */
TEST(ramp_stops_short_no_false_stage)
{
	struct sim *m = sim_new(50, 4000);

	m->h3 = EN50160_H3;
	m->h5 = EN50160_H5;
	m->noise_v = 5;
	three_stages(m, 0);
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_freq_ramp(m, -1.0, 49.2);
	sim_run_ms(m, 6000);
	EXPECT_EQ(-1, sim_find(m, 0, PHLOEM_EV_FREQ));
	EXPECT_EQ(ALL_RELAYS, phloem_shed_relays(m->s));
	sim_del(m);
}

/*
 * An off-grid island inverter (frequency-shift power control): it lowers
 * the frequency to 49.3 Hz at 0.5 Hz/s for a low battery, which sheds the
 * low priorities; later, with the battery full, it raises it to 51.5 Hz,
 * which is reported as over-frequency and sheds nothing.
 */
TEST(offgrid_inverter_shift)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	int i0, e;

	stage(m, 0, 49500, 500, 300, 3000, 0, 20);
	m->cfg.over_freq_mhz = 51000;
	m->cfg.over_freq_ms = 200;
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	i0 = m->nev;
	sim_freq_ramp(m, -0.5, 49.3);
	sim_run_ms(m, 3000);
	EXPECT_EQ(BIT(SIM_EV) | BIT(SIM_HEATER), freq_shed(m, i0));
	/* battery recovered: back to 50 Hz, relays come back */
	sim_freq_ramp(m, 0.5, 50.0);
	sim_run_ms(m, 10000);
	EXPECT_GE(sim_find_cause(m, i0, PHLOEM_EV_FREQ, PHLOEM_CAUSE_FREQ_OK), 0);
	EXPECT_EQ(ALL_RELAYS, phloem_shed_relays(m->s));
	/* battery full: the inverter shifts up to curtail PV */
	i0 = m->nev;
	sim_freq_ramp(m, 1.0, 51.5);
	sim_run_ms(m, 3000);
	e = sim_find_cause(m, i0, PHLOEM_EV_FREQ, PHLOEM_CAUSE_OVER_FREQ);
	ASSERT_GE(e, 0);
	EXPECT_EQ(PHLOEM_FREQ_STAGES, m->ev[e].ev.backoff);
	EXPECT_EQ(51000, m->ev[e].ev.limit);
	EXPECT_EQ(1, sim_count(m, i0, PHLOEM_EV_FREQ));
	EXPECT_EQ(-1, sim_find(m, i0, PHLOEM_EV_SHED));
	sim_status(m, &st);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_OVER_FREQ);
	EXPECT_EQ(ALL_RELAYS, phloem_shed_relays(m->s));
	sim_freq_ramp(m, -1.0, 50.0);
	sim_run_ms(m, 3000);
	EXPECT_GE(sim_find_cause(m, e + 1, PHLOEM_EV_FREQ, PHLOEM_CAUSE_FREQ_OK), 0);
	sim_status(m, &st);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_OVER_FREQ);
	sim_del(m);
}

/* off by default: a 47 Hz grid sheds nothing without stages */
TEST(default_off)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_freq_track(m);
	m->freq = 47.0;
	sim_run_ms(m, 3000);
	EXPECT_EQ(-1, sim_find(m, 0, PHLOEM_EV_FREQ));
	EXPECT_EQ(ALL_RELAYS, phloem_shed_relays(m->s));
	sim_status(m, &st);
	EXPECT_LT(fabs(st.freq_est_mhz - 47000.0), 10);
	EXPECT_EQ(PHLOEM_FREQ_OFF, st.freq_stage[0]);
	sim_del(m);
}

/* a critical relay in a stage's range is never shed */
TEST(critical_never_shed)
{
	struct sim *m = sim_new(50, 4000);

	stage(m, 0, 49500, 0, 0, 1000, 0, 255);
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_freq_track(m);
	m->freq = 48.0;
	sim_run_ms(m, 2000);
	EXPECT_EQ(BIT(SIM_FRIDGE), phloem_shed_relays(m->s));
	sim_del(m);
}

/* the limits phloem_shed_check_config() enforces, and nothing changes */
TEST(config_check)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_config c, got;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	c = m->cfg;
	stage(m, 0, 49000, 100, 200, 1000, 0, 20);
	ASSERT_EQ(0, phloem_shed_check_config(&m->info, &m->cfg));
#define BAD(stmt) do { \
		struct phloem_config b = m->cfg; \
		struct phloem_freq_stage *s0 = &b.freq_stage[0]; \
		(void)s0; stmt; \
		EXPECT_EQ(PHLOEM_SHED_EINVAL, \
			  phloem_shed_check_config(&m->info, &b)) TH_LOG(#stmt); \
		EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_set_config(m->s, &b, m->ns)); \
		phloem_shed_get_config(m->s, &got); \
		EXPECT_EQ(0, memcmp(&got, &c, sizeof(c))); \
	} while (0)
	BAD(s0->threshold_mhz = 44999);
	BAD(s0->threshold_mhz = 50001);
	BAD(s0->threshold_mhz = 49900);		/* + 200 hyst: inside the band */
	BAD(s0->hyst_mhz = 2001);
	BAD(s0->delay_ms = 60001);
	BAD(s0->restore_ms = 3600001);
	BAD((s0->prio_min = 30, s0->prio_max = 20));
	BAD(b.freq_stage[1].delay_ms = 5);	/* an off stage is all zero */
	BAD(b.over_freq_mhz = 50049);
	BAD(b.over_freq_mhz = 55001);
	BAD(b.over_freq_ms = 100);		/* without over_freq_mhz */
	BAD((b.over_freq_mhz = 51000, b.over_freq_ms = 60001));
#undef BAD
	m->cfg.over_freq_mhz = 55000;
	m->cfg.over_freq_ms = 60000;
	stage(m, 3, 45000, 60000, 2000, 3600000, 255, 255);
	EXPECT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	phloem_shed_get_config(m->s, &got);
	EXPECT_EQ(0, memcmp(&got, &m->cfg, sizeof(got)));
	sim_del(m);
}

/* switching a stage off by configuration releases its relays */
TEST(config_off_releases)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	int i0;

	stage(m, 0, 49000, 0, 200, 1000, 0, 20);
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_freq_track(m);
	m->freq = 48.5;
	sim_run_ms(m, 5000);
	EXPECT_EQ(ALL_RELAYS & ~(BIT(SIM_EV) | BIT(SIM_HEATER)),
		  phloem_shed_relays(m->s));
	i0 = m->nev;
	memset(&m->cfg.freq_stage[0], 0, sizeof(m->cfg.freq_stage[0]));
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	sim_run_ms(m, 4000);
	EXPECT_EQ(2, sim_count(m, i0, PHLOEM_EV_RESTORE));
	EXPECT_EQ(ALL_RELAYS, phloem_shed_relays(m->s));
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_FREQ_OFF, st.freq_stage[0]);
	sim_del(m);
}

/* mains lost: the filtered frequency becomes unknown, no stage operates */
TEST(no_mains_no_stage)
{
	struct sim *m = sim_new(50, 4000);

	three_stages(m, 0);
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	m->mains = false;
	sim_run_ms(m, 1000);
	EXPECT_EQ(0, est(m));
	EXPECT_EQ(-1, sim_find(m, 0, PHLOEM_EV_FREQ));
	m->mains = true;
	sim_run_ms(m, 1000);
	EXPECT_LT(fabs(est(m) - 50000.0), 10);
	EXPECT_EQ(-1, sim_find(m, 0, PHLOEM_EV_FREQ));
	sim_del(m);
}

TEST_HARNESS_MAIN
