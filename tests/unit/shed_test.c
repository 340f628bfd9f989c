// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Host unit tests of the shedding unit (kernel/shed.c), driven through the
 * closed-loop simulated HAT in shed_sim.c: real waveforms in, relay bitmap
 * out, and the simulated loads follow the relays.
 *
 * Topology (shed_sim.c): v0; i0 = site (63 A C); i1 = kitchen (16 A B) with
 * ev(10) heater(20) dryer(30) fridge(critical, safe on); i2 = garage (20 A B)
 * with pump(50, safe on) oven(40). Limits = ratings, inst 125 %, thermal
 * 40 %, restore 80 %, min_off 2 s, restore_delay 1 s, 4 kHz.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "shed_sim.h"

#define MS	1000000ULL
#define ALL_RELAYS	((1U << SIM_NRELAYS) - 1)

static double rel_err(double got, double want)
{
	return fabs(got - want) / fabs(want);
}

/* ------------------------------------------------------------------ */
/* Metering                                                            */
/* ------------------------------------------------------------------ */

struct meter_case {
	uint32_t hz;
	double freq, vrms, h3, h5, phi_deg;
};

static void check_meter(struct __test_metadata *_metadata,
			const struct meter_case *mc)
{
	struct sim *m = sim_new(mc->hz, 4000);
	double vr = mc->vrms * sqrt(1 + mc->h3 * mc->h3 + mc->h5 * mc->h5);
	double i1, isite, p1;
	uint32_t r, c;

	m->freq = mc->freq;
	m->vrms = mc->vrms;
	m->h3 = mc->h3;
	m->h5 = mc->h5;
	for (r = 0; r < SIM_NRELAYS; r++)
		m->relay_phi[r] = mc->phi_deg * M_PI / 180;
	for (c = 0; c < 3; c++)
		m->base_phi[c] = mc->phi_deg * M_PI / 180;
	m->relay_a[SIM_HEATER] = 6;
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_run_ms(m, 500);
	i1 = sim_circuit_a(m, 1);
	isite = sim_circuit_a(m, 0);
	/* harmonics are in the voltage only: P uses the fundamental */
	p1 = mc->vrms * i1 * cos(mc->phi_deg * M_PI / 180);
	TH_LOG("V %u mV I1 %u mA P1 %d mW PF %d f %u mHz", m->cyc.chan[SIM_V0].rms,
	       m->cyc.chan[SIM_I1].rms, m->cyc.chan[SIM_I1].p_mw,
	       m->cyc.chan[SIM_I1].pf_milli, m->cyc.freq_mhz);
	EXPECT_LT(rel_err(m->cyc.chan[SIM_V0].rms, vr * 1000), 0.005);
	EXPECT_LT(rel_err(m->cyc.chan[SIM_I1].rms, i1 * 1000), 0.01);
	EXPECT_LT(rel_err(m->cyc.chan[SIM_ISITE].rms, isite * 1000), 0.01);
	EXPECT_LT(rel_err(m->cyc.chan[SIM_I1].p_mw, p1 * 1000), 0.015);
	EXPECT_LT(rel_err(m->cyc.chan[SIM_I1].s_mva, vr * i1 * 1000), 0.015);
	EXPECT_LT(fabs(m->cyc.chan[SIM_I1].pf_milli -
		       1000 * p1 / (vr * i1)), 12);
	/* one cycle's crossings, 12-bit ADC: a few ppm per cycle */
	EXPECT_LT(fabs(m->cyc.freq_mhz - mc->freq * 1000), 30);
	EXPECT_EQ(0, m->cyc.state & PHLOEM_STATE_F_NO_MAINS);
	EXPECT_EQ(0, m->cyc.chan[SIM_V0].flags);
	/* one record per mains cycle */
	EXPECT_LT(fabs((double)(m->cyc_t - m->prev_cyc_t) - 1e9 / mc->freq),
		  1e9 / 4000 / 4);
	sim_del(m);
}

TEST(meter_sine_50hz)
{
	const struct meter_case mc = { 50, 50.0, 230, 0, 0, 0 };

	check_meter(_metadata, &mc);
}

TEST(meter_phase_shift_60hz)
{
	const struct meter_case mc = { 60, 60.0, 120, 0, 0, 30 };

	check_meter(_metadata, &mc);
}

TEST(meter_harmonics)
{
	const struct meter_case mc = { 50, 50.0, 230, 0.10, 0.05, 20 };

	check_meter(_metadata, &mc);
}

TEST(meter_off_nominal_49_5hz)
{
	const struct meter_case mc = { 50, 49.5, 230, 0, 0, 0 };

	check_meter(_metadata, &mc);
}

TEST(meter_leading_pf_60hz_off_nominal)
{
	const struct meter_case mc = { 60, 60.4, 120, 0.03, 0, -25 };

	check_meter(_metadata, &mc);
}

/* A CT with a phase error, corrected by cal.phase_mdeg (both signs). */
TEST(meter_phase_correction)
{
	static const double err_deg[] = { -12.5, 8.0 };
	unsigned int k;

	for (k = 0; k < 2; k++) {
		struct sim *m = sim_new(50, 4000);
		int pf_raw, pf_cor;

		m->ct_lag_deg[SIM_I1] = err_deg[k];
		m->relay_a[SIM_HEATER] = 8;
		sim_start(m);
		ASSERT_TRUE(sim_settle(m));
		pf_raw = m->cyc.chan[SIM_I1].pf_milli;
		/*
		 * A positive correction delays the voltage: it aligns a current
		 * that lags; a negative one aligns a current that leads.
		 */
		m->cfg.cal[SIM_I1].phase_mdeg = (int32_t)lround(err_deg[k] * 1000);
		ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
		sim_run_ms(m, 200);
		pf_cor = m->cyc.chan[SIM_I1].pf_milli;
		TH_LOG("err %.1f deg: pf %d -> %d", err_deg[k], pf_raw, pf_cor);
		EXPECT_LT(abs(pf_raw - (int)(1000 * cos(err_deg[k] * M_PI / 180))), 5);
		EXPECT_GE(pf_cor, 997);
		sim_del(m);
	}
}

/* ------------------------------------------------------------------ */
/* Energy                                                              */
/* ------------------------------------------------------------------ */

static void expect_energy(struct __test_metadata *_metadata, struct sim *m)
{
	struct phloem_status st;
	uint32_t ch;

	sim_status(m, &st);
	for (ch = 0; ch < SIM_NCH; ch++) {
		uint64_t imp = (uint64_t)(m->pdt[ch] / 3600000000000ULL);
		uint64_t exp = (uint64_t)(m->pdt_neg[ch] / 3600000000000ULL);

		EXPECT_EQ(imp, st.energy[ch].import_mwh);
		EXPECT_EQ(exp, st.energy[ch].export_mwh);
	}
}

TEST(energy_import_export_exact)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status a, b;

	/* the garage has a PV inverter: it exports */
	m->base_a[2] = 20;
	m->base_phi[2] = M_PI;
	m->base_a[0] = 2;
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_run_ms(m, 30000);
	expect_energy(_metadata, m);
	sim_status(m, &a);
	EXPECT_GT(a.energy[SIM_ISITE].export_mwh, 0);
	EXPECT_GT(a.energy[SIM_I1].import_mwh, 0);
	EXPECT_GT(a.energy[SIM_I2].export_mwh, 25000);	/* ~4.6 kW, 30 s */
	EXPECT_EQ(0, a.energy[SIM_V0].import_mwh + a.energy[SIM_V0].export_mwh);

	/* reconfiguration never resets the counters */
	m->cfg.circuit[1].limit_ma = 12000;
	m->cfg.sample_rate_hz = 5000;
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	sim_status(m, &b);
	EXPECT_EQ(0, memcmp(a.energy, b.energy, sizeof(a.energy)));
	sim_run_ms(m, 5000);
	expect_energy(_metadata, m);
	sim_status(m, &b);
	EXPECT_GT(b.energy[SIM_I2].export_mwh, a.energy[SIM_I2].export_mwh);
	sim_del(m);
}

/* ------------------------------------------------------------------ */
/* Zero crossings and no mains                                         */
/* ------------------------------------------------------------------ */

TEST(zero_crossing_noise_harmonics)
{
	struct sim *m = sim_new(50, 8000);
	uint64_t n0, bad = 0, ns0;

	m->noise_v = 12;	/* +-12 V of noise */
	m->h3 = 0.12;
	m->h5 = 0.08;
	m->vphase = 1.0;
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	n0 = m->ncyc;
	ns0 = m->ns;
	while (m->ns - ns0 < 2000 * MS) {
		uint64_t c = m->ncyc;

		sim_step(m);
		if (m->ncyc != c && (fabs(m->cyc.freq_mhz - 50000.0) > 300 ||
				     m->cyc.state & PHLOEM_STATE_F_NO_MAINS))
			bad++;
	}
	EXPECT_EQ(0, bad);
	EXPECT_LE(labs((long)(m->ncyc - n0) - 100), 1);
	sim_del(m);
}

TEST(no_mains_fallback)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	uint64_t step;
	int i0, shed;

	m->mains = false;
	m->noise_v = 3;
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	EXPECT_TRUE(m->cyc.state & PHLOEM_STATE_F_NO_MAINS);
	EXPECT_EQ(0, m->cyc.freq_mhz);
	/* cycles still close at the nominal period */
	EXPECT_LT(fabs((double)(m->cyc_t - m->prev_cyc_t) - 20e6), 300e3);
	sim_status(m, &st);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_NO_MAINS);

	/* and the currents are still protected */
	i0 = m->nev;
	step = m->ns;
	m->relay_a[SIM_EV] = 40;
	sim_run_ms(m, 300);
	shed = sim_find(m, i0, PHLOEM_EV_SHED);
	ASSERT_GE(shed, 0);
	EXPECT_EQ(SIM_EV, m->ev[shed].ev.relay);
	EXPECT_LE(m->ev[shed].ev.trigger_ns - step, 20 * MS);

	/* mains back: crossings take over again */
	m->mains = true;
	sim_run_ms(m, 200);
	EXPECT_FALSE(m->cyc.state & PHLOEM_STATE_F_NO_MAINS);
	EXPECT_LT(fabs(m->cyc.freq_mhz - 50000.0), 150);	/* 3 V noise */
	sim_del(m);
}

/* ------------------------------------------------------------------ */
/* Overload steps                                                      */
/* ------------------------------------------------------------------ */

FIXTURE(step) {
	struct sim *m;
};

FIXTURE_VARIANT(step) {
	double mult;
	bool ev_on_override;
};

FIXTURE_VARIANT_ADD(step, x1_2) { .mult = 1.2 };
FIXTURE_VARIANT_ADD(step, x1_5) { .mult = 1.5 };
FIXTURE_VARIANT_ADD(step, x2) { .mult = 2.0 };
FIXTURE_VARIANT_ADD(step, x6) { .mult = 6.0 };
FIXTURE_VARIANT_ADD(step, x6_override_on) { .mult = 6.0,
					      .ev_on_override = true };
FIXTURE_VARIANT_ADD(step, x2_override_on) { .mult = 2.0,
					      .ev_on_override = true };

FIXTURE_SETUP(step)
{
	self->m = sim_new(50, 4000);
	sim_start(self->m);
	ASSERT_TRUE(sim_settle(self->m));
}

FIXTURE_TEARDOWN(step)
{
	sim_del(self->m);
}

/*
 * The kitchen steps to mult x its 16 A limit: the three sheddable loads
 * share the step 45/30/25 %, the fridge (critical) draws 1 A, 0.5 A is
 * unswitched. The unit must shed in priority order (ev, heater, dryer; an
 * ON-overridden relay last), exactly as many relays as it takes to get
 * under the limit, never the fridge, and detect within 20 ms from 1.5x and
 * within half the breaker's modelled trip time always.
 */
TEST_F(step, sheds_in_priority_order)
{
	struct sim *m = self->m;
	const double lim = 16.0, fixed = 1.5;
	double step_a = variant->mult * lim - fixed, i;
	uint32_t order[3], want_n = 0, k, n = 0;
	uint32_t trip = phloem_shed_trip_ms(PHLOEM_CURVE_B,
					    (uint32_t)lround(variant->mult * 1000));
	uint64_t t_step;
	int i0, e, last;

	if (variant->ev_on_override) {
		ASSERT_EQ(0, phloem_shed_override(m->s, SIM_EV, PHLOEM_OVERRIDE_ON,
						  3600000, m->ns));
		order[0] = SIM_HEATER, order[1] = SIM_DRYER, order[2] = SIM_EV;
	} else {
		order[0] = SIM_EV, order[1] = SIM_HEATER, order[2] = SIM_DRYER;
	}
	m->base_a[1] = 0.5;
	m->relay_a[SIM_FRIDGE] = 1.0;
	m->relay_a[SIM_EV] = 0.45 * step_a;
	m->relay_a[SIM_HEATER] = 0.30 * step_a;
	m->relay_a[SIM_DRYER] = 0.25 * step_a;
	/* how many must go for the circuit to get under its limit */
	for (i = variant->mult * lim; i > lim && want_n < 3; want_n++)
		i -= m->relay_a[order[want_n]];

	i0 = m->nev;
	t_step = m->ns;
	sim_run_ms(m, 150000);

	/*
	 * A restore on an estimate taken mid-step may re-trip later (and back
	 * off): the shedding sequence is what ends at the first restore.
	 */
	last = sim_find(m, i0, PHLOEM_EV_RESTORE);
	if (last < 0)
		last = m->nev;
	for (e = sim_find(m, i0, PHLOEM_EV_SHED); e >= 0 && e < last;
	     e = sim_find(m, e + 1, PHLOEM_EV_SHED), n++) {
		const struct phloem_rec_event *ev = &m->ev[e].ev;

		TH_LOG("shed %u cause %u at +%llu ms (trigger +%llu ms) value %u",
		       ev->relay, ev->cause,
		       (unsigned long long)((m->ev[e].t - t_step) / MS),
		       (unsigned long long)((ev->trigger_ns - t_step) / MS),
		       ev->value);
		ASSERT_LT(n, 3);
		EXPECT_EQ(order[n], ev->relay);
		EXPECT_EQ(1, ev->circuit);
		/* the value that crossed, against the threshold it crossed */
		EXPECT_GT(ev->value, ev->limit);
		EXPECT_EQ(ev->cause == PHLOEM_CAUSE_INSTANT ? 20000 : 16000,
			  ev->limit);
		if (n == 0) {
			uint64_t lat = ev->trigger_ns - t_step;

			EXPECT_LE(lat, (uint64_t)trip * MS / 2);
			if (variant->mult >= 1.5) {
				EXPECT_LE(lat, 20 * MS);
				EXPECT_EQ(PHLOEM_CAUSE_INSTANT, ev->cause);
			} else {
				EXPECT_EQ(PHLOEM_CAUSE_THERMAL, ev->cause);
			}
		}
	}
	EXPECT_EQ(want_n, n);
	if (last == m->nev)
		EXPECT_LE(sim_circuit_a(m, 1), lim);
	/* the fridge was never shed, not even later */
	for (e = sim_find(m, i0, PHLOEM_EV_SHED); e >= 0;
	     e = sim_find(m, e + 1, PHLOEM_EV_SHED))
		EXPECT_NE(SIM_FRIDGE, m->ev[e].ev.relay);
	EXPECT_TRUE(phloem_shed_relays(m->s) & (1U << SIM_FRIDGE));
	/* an overload episode is announced before its sheds */
	e = sim_find(m, i0, PHLOEM_EV_OVERLOAD);
	ASSERT_GE(e, 0);
	EXPECT_LT(e, sim_find(m, i0, PHLOEM_EV_SHED));
	EXPECT_EQ(1, m->ev[e].ev.circuit);
	/* the garage was never touched */
	k = (1U << SIM_PUMP) | (1U << SIM_OVEN);
	EXPECT_EQ(k, phloem_shed_relays(m->s) & k);
}

TEST(critical_never_shed)
{
	struct sim *m = sim_new(50, 4000);
	int e;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	/* only the fridge is left to carry an overload: nothing to shed */
	m->relay_a[SIM_FRIDGE] = 30;
	sim_run_ms(m, 60000);
	for (e = sim_find(m, 0, PHLOEM_EV_SHED); e >= 0;
	     e = sim_find(m, e + 1, PHLOEM_EV_SHED))
		EXPECT_NE(SIM_FRIDGE, m->ev[e].ev.relay);
	EXPECT_TRUE(phloem_shed_relays(m->s) & (1U << SIM_FRIDGE));
	/* the operator may still switch it off */
	ASSERT_EQ(0, phloem_shed_override(m->s, SIM_FRIDGE, PHLOEM_OVERRIDE_OFF,
					  1000, m->ns));
	EXPECT_FALSE(phloem_shed_relays(m->s) & (1U << SIM_FRIDGE));
	sim_run_ms(m, 1100);
	EXPECT_TRUE(phloem_shed_relays(m->s) & (1U << SIM_FRIDGE));
	EXPECT_EQ(2, sim_count(m, 0, PHLOEM_EV_OVERRIDE));
	sim_del(m);
}

/*
 * A step that takes a final circuit and the site over their instantaneous
 * thresholds at the same sample: one shed relieves both, so only one relay
 * goes (the second rule must not shed for load that is already gone). The
 * site limit is swept so that, for some of the runs, both windows cross on
 * the very same sample.
 */
TEST(one_step_two_rules_one_shed)
{
	uint32_t limit;

	for (limit = 19300; limit <= 19800; limit += 20) {
		struct sim *m = sim_new(50, 4000);
		int e0, e;

		m->cfg.circuit[0].limit_ma = limit;
		sim_start(m);
		ASSERT_TRUE(sim_settle(m));
		e0 = m->nev;
		m->relay_a[SIM_EV] = 16;
		sim_run_ms(m, 200);
		EXPECT_EQ(1, sim_count(m, e0, PHLOEM_EV_SHED))
			TH_LOG("site limit %u mA", limit);
		e = sim_find(m, e0, PHLOEM_EV_SHED);
		ASSERT_GE(e, 0);
		EXPECT_EQ(SIM_EV, m->ev[e].ev.relay);
		sim_del(m);
	}
}

TEST(site_import_rule)
{
	struct sim *m = sim_new(50, 4000);
	uint64_t prev = 0;
	int e, n = 0;

	m->cfg.site_import_limit_mw = 3000000;	/* 3 kW */
	m->cfg.site_import_grace_ms = 2000;
	m->relay_a[SIM_OVEN] = 6;
	m->relay_a[SIM_PUMP] = 4;
	sim_start(m);
	ASSERT_TRUE(sim_settle(m) || phloem_shed_relays(m->s));
	sim_run_ms(m, 30000);
	for (e = sim_find(m, 0, PHLOEM_EV_SHED); e >= 0;
	     e = sim_find(m, e + 1, PHLOEM_EV_SHED), n++) {
		if (m->ev[e].ev.cause != PHLOEM_CAUSE_SITE_IMPORT)
			continue;
		EXPECT_EQ(0, m->ev[e].ev.circuit);
		EXPECT_NE(SIM_FRIDGE, m->ev[e].ev.relay);
		if (prev)
			EXPECT_GE(m->ev[e].t - prev, 2000 * MS);
		prev = m->ev[e].t;
	}
	EXPECT_GE(n, 1);
	EXPECT_LE(m->cyc.chan[SIM_ISITE].p_mw, 3000000);
	sim_del(m);
}

/* ------------------------------------------------------------------ */
/* Restore and backoff                                                 */
/* ------------------------------------------------------------------ */

/*
 * The kitchen at 21.5 A (1.34x): heater 8, dryer 6, ev 6, fridge 1, 0.5 A
 * unswitched. The ev (lowest priority) goes within the step's first half
 * cycle: no steady cycle ever had it at 6 A, so it has no estimate (0,
 * never one made of the step's transient), and the heater must stop before
 * the circuit is back under 80 % (12.8 A).
 */
static int shed_ev_now(struct __test_metadata *_metadata, struct sim *m)
{
	int i0 = m->nev, e;

	m->relay_a[SIM_HEATER] = 8;
	m->relay_a[SIM_DRYER] = 6;
	m->relay_a[SIM_EV] = 6;
	sim_run_ms(m, 100);
	e = sim_find(m, i0, PHLOEM_EV_SHED);
	if (e >= 0) {
		EXPECT_EQ(SIM_EV, m->ev[e].ev.relay);
		EXPECT_EQ(PHLOEM_CAUSE_INSTANT, m->ev[e].ev.cause);
	}
	return e;
}

TEST(restore_after_headroom_delay)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	uint64_t t_head;
	int e, r;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	e = shed_ev_now(_metadata, m);
	ASSERT_GE(e, 0);
	/* no headroom: 15.5 A + the estimate > 12.8 A */
	sim_run_ms(m, 8000);
	EXPECT_EQ(-1, sim_find(m, e, PHLOEM_EV_RESTORE));
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_RELAY_SHED, st.relay[SIM_EV].reason);
	EXPECT_EQ(0, st.relay[SIM_EV].restore_in_ms);
	/*
	 * steady before the step: 6.5 A; steady after the shed: 14.5 A: no
	 * drop (shed within the step); the estimate is the load it drew when
	 * it came back after boot (2 A; 0 on the branch before, unknown)
	 */
	EXPECT_GE(st.relay[SIM_EV].load_ma, 1800);
	EXPECT_LE(st.relay[SIM_EV].load_ma, 2200);
	EXPECT_EQ(PHLOEM_HOLD_CIRCUIT, st.hold[SIM_EV]);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_SHEDDING);
	EXPECT_EQ(1U << SIM_EV, m->cyc.relays_shed);

	/* the heater finishes: headroom from now, held for restore_delay */
	m->relay_a[SIM_HEATER] = 0;
	t_head = m->ns;
	sim_run_ms(m, 3000);
	r = sim_find(m, e, PHLOEM_EV_RESTORE);
	ASSERT_GE(r, 0);
	EXPECT_EQ(SIM_EV, m->ev[r].ev.relay);
	EXPECT_EQ(PHLOEM_CAUSE_HEADROOM, m->ev[r].ev.cause);
	EXPECT_GE(m->ev[r].t - t_head, 1000 * MS);
	EXPECT_LE(m->ev[r].t - t_head, 1060 * MS);
	/* and it stays on: the estimate was good enough */
	EXPECT_EQ(1, sim_count(m, e, PHLOEM_EV_SHED));
	EXPECT_EQ(1, sim_count(m, e, PHLOEM_EV_RESTORE));
	sim_status(m, &st);
	EXPECT_EQ(0, st.state & PHLOEM_STATE_F_SHEDDING);
	sim_del(m);
}

TEST(restore_not_before_min_off)
{
	struct sim *m = sim_new(50, 4000);
	int e, r;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	e = shed_ev_now(_metadata, m);
	ASSERT_GE(e, 0);
	m->relay_a[SIM_HEATER] = 0;	/* headroom at once */
	sim_run_ms(m, 6000);
	r = sim_find(m, e, PHLOEM_EV_RESTORE);
	ASSERT_GE(r, 0);
	/* min_off 2 s, then headroom held for restore_delay 1 s */
	EXPECT_GE(m->ev[r].t - m->ev[e].t, 3000 * MS);
	EXPECT_LE(m->ev[r].t - m->ev[e].t, 3060 * MS);
	sim_del(m);
}

/*
 * phloem_bench's garage on the kitchen circuit: a 5 A limit, the EV at 3 A
 * and nothing else drawing, quick restores (min_off 50 ms, 40 ms apart)
 */
static void bench_garage(struct sim *m)
{
	m->cfg.circuit[1].limit_ma = 5000;
	m->cfg.relay[SIM_EV].min_off_ms = 50;
	m->cfg.restore_delay_ms = 40;
	m->cfg.retrip_window_ms = 0;
	m->base_a[1] = 0;
	m->relay_a[SIM_FRIDGE] = 0;
	m->relay_a[SIM_DRYER] = 0;
	m->relay_a[SIM_HEATER] = 0;
	m->relay_a[SIM_EV] = 3;
}

/*
 * make bench-vm's round (issue 10): 3 A steady, a 4 A step on a 5 A limit
 * (instantaneous rule at 6.25 A) sheds the 3 A relay; the step load then
 * leaves before the first full cycle after the shed has closed (a sampler
 * that ran late, or a load that simply stopped). The estimate is then the
 * whole pre-shed current, more than the restore threshold on its own: the
 * relay must still come back (it used to stay off for good, and every
 * later overload had nothing left to shed).
 */
TEST(restore_when_load_left_before_estimate)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	int e, r, round;

	bench_garage(m);
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	for (round = 0; round < 20; round++) {
		int i0 = m->nev;

		m->relay_a[SIM_HEATER] = 4;
		while (sim_find(m, i0, PHLOEM_EV_SHED) < 0 &&
		       sim_now_ms(m) < 1000000)
			sim_step(m);
		e = sim_find(m, i0, PHLOEM_EV_SHED);
		ASSERT_GE(e, 0);
		ASSERT_EQ(SIM_EV, m->ev[e].ev.relay);
		/* gone before the first full cycle after the shed */
		sim_run_ms(m, 1 + round % 10);
		m->relay_a[SIM_HEATER] = 0;
		sim_run_ms(m, 5000);
		r = sim_find(m, e, PHLOEM_EV_RESTORE);
		ASSERT_GE(r, 0) TH_LOG("round %d: EV never restored", round);
		EXPECT_EQ(SIM_EV, m->ev[r].ev.relay);
		EXPECT_EQ(PHLOEM_CAUSE_HEADROOM, m->ev[r].ev.cause);
		/* min_off 50 ms, estimate halved once (50 ms), delay 40 ms */
		EXPECT_LE(m->ev[r].t - m->ev[e].t, 400 * MS);
		EXPECT_TRUE(phloem_shed_relays(m->s) & (1U << SIM_EV));
		/* and it stays on: 3 A fits */
		EXPECT_EQ(1, sim_count(m, e, PHLOEM_EV_SHED));
	}
	sim_status(m, &st);
	EXPECT_EQ(20, st.relay[SIM_EV].shed_count);
	sim_del(m);
}

/*
 * As above, but the step load leaves a few cycles after the shed, as in
 * phloem_bench (-w 60: 60 ms after): the EV's estimate must be the EV's
 * (its drop at the switching), not the EV and the step together, which
 * never fits the 4 A restore threshold and held the EV 16 s in a
 * clean-clone check-vm-trace of the merged issue 17 branch.
 */
TEST(restore_when_load_leaves_cycles_after_the_shed)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	int e, r, round;

	bench_garage(m);
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	for (round = 0; round < 20; round++) {
		int i0 = m->nev;

		sim_run_ms(m, 7 + round % 13);	/* another phase of the wave */
		m->relay_a[SIM_HEATER] = 4;
		while (sim_find(m, i0, PHLOEM_EV_SHED) < 0 &&
		       sim_now_ms(m) < 1000000)
			sim_step(m);
		e = sim_find(m, i0, PHLOEM_EV_SHED);
		ASSERT_GE(e, 0);
		ASSERT_EQ(SIM_EV, m->ev[e].ev.relay);
		sim_run_ms(m, 20 + 10 * (round % 9));	/* 20 to 100 ms */
		m->relay_a[SIM_HEATER] = 0;
		sim_run_ms(m, 5000);
		sim_status(m, &st);
		r = sim_find(m, e, PHLOEM_EV_RESTORE);
		ASSERT_GE(r, 0) TH_LOG("round %d (step gone %d ms after the shed): EV not back in 5 s, estimate %u mA, hold %u, restore in %u ms",
				       round, 20 + 10 * (round % 9), st.relay[SIM_EV].load_ma,
				       st.hold[SIM_EV], st.relay[SIM_EV].restore_in_ms);
		EXPECT_EQ(SIM_EV, m->ev[r].ev.relay);
		EXPECT_TRUE(phloem_shed_relays(m->s) & (1U << SIM_EV));
	}
	sim_del(m);
}

/*
 * A shed relay that the operator holds OFF gets no headroom restore: it
 * would report a relay back on that the override keeps off (issue 10,
 * item 5). When the override ends it comes back on headroom as usual.
 */
TEST(no_headroom_restore_under_override_off)
{
	struct sim *m = sim_new(50, 4000);
	int e, r;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	e = shed_ev_now(_metadata, m);
	ASSERT_GE(e, 0);
	ASSERT_EQ(0, phloem_shed_override(m->s, SIM_EV, PHLOEM_OVERRIDE_OFF,
					  8000, m->ns));
	m->relay_a[SIM_HEATER] = 0;	/* headroom at once */
	sim_run_ms(m, 7000);
	for (r = e; r < m->nev; r++)
		if (m->ev[r].ev.kind == PHLOEM_EV_RESTORE)
			EXPECT_NE(SIM_EV, m->ev[r].ev.relay);
	EXPECT_FALSE(phloem_shed_relays(m->s) & (1U << SIM_EV));
	/* the override lapses at 8 s: then min_off is long over, delay 1 s */
	sim_run_ms(m, 3000);
	r = sim_find(m, e, PHLOEM_EV_RESTORE);
	ASSERT_GE(r, 0);
	EXPECT_EQ(SIM_EV, m->ev[r].ev.relay);
	EXPECT_EQ(PHLOEM_CAUSE_HEADROOM, m->ev[r].ev.cause);
	EXPECT_TRUE(phloem_shed_relays(m->s) & (1U << SIM_EV));
	sim_del(m);
}

TEST(retrip_backoff_doubles_and_decays)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	int e1, r1, e2, r2;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	e1 = shed_ev_now(_metadata, m);
	ASSERT_GE(e1, 0);
	EXPECT_EQ(0, m->ev[e1].ev.backoff);
	m->relay_a[SIM_HEATER] = 0;
	sim_run_ms(m, 4000);
	r1 = sim_find(m, e1, PHLOEM_EV_RESTORE);
	ASSERT_GE(r1, 0);

	/* it trips again within the retrip window: backoff 1 */
	e2 = shed_ev_now(_metadata, m);
	ASSERT_GE(e2, 0);
	EXPECT_EQ(1, m->ev[e2].ev.backoff);
	sim_status(m, &st);
	EXPECT_EQ(1, st.relay[SIM_EV].backoff);
	EXPECT_GT(st.relay[SIM_EV].restore_in_ms, 3800);
	EXPECT_LE(st.relay[SIM_EV].restore_in_ms, 4000);
	/*
	 * its estimate is now the 6 A it drew after its restore (shed within
	 * the step again): headroom for it needs the dryer down to 4 A too
	 */
	EXPECT_GE(st.relay[SIM_EV].load_ma, 5700);
	EXPECT_LE(st.relay[SIM_EV].load_ma, 6300);
	m->relay_a[SIM_HEATER] = 0;
	m->relay_a[SIM_DRYER] = 4;
	sim_run_ms(m, 8000);
	r2 = sim_find(m, e2, PHLOEM_EV_RESTORE);
	ASSERT_GE(r2, 0);
	/* off time doubled: 2 s << 1, then the 1 s headroom delay */
	EXPECT_GE(m->ev[r2].t - m->ev[e2].t, 5000 * MS);
	EXPECT_LE(m->ev[r2].t - m->ev[e2].t, 5060 * MS);

	/* on for a whole retrip window (60 s) after the restore: back to 0 */
	while (m->ns < m->ev[r2].t + 59900 * MS)
		sim_step(m);
	sim_status(m, &st);
	EXPECT_EQ(1, st.relay[SIM_EV].backoff);
	sim_run_ms(m, 200);
	sim_status(m, &st);
	EXPECT_EQ(0, st.relay[SIM_EV].backoff);
	EXPECT_EQ(2, st.relay[SIM_EV].shed_count);
	sim_del(m);
}

/* ------------------------------------------------------------------ */
/* A shed relay always comes back (issue 17, item 5)                   */
/* ------------------------------------------------------------------ */

/*
 * The kitchen as a 32 A EV circuit: the EV charger draws 29 A, everything
 * else is off but a 0.5 A base. Restore at 80 % is 25.6 A: the charger's
 * own load never fits under it.
 */
static void ev_circuit(struct sim *m)
{
	m->info.circuit[1].rating_ma = 32000;
	m->cfg.circuit[1].limit_ma = 32000;
	m->base_a[1] = 0.5;
	m->relay_a[SIM_EV] = 29;
	m->relay_a[SIM_HEATER] = 0;
	m->relay_a[SIM_DRYER] = 0;
	m->relay_a[SIM_FRIDGE] = 0;
}

/* start, settle and run half a second of steady cycles before a test */
static bool ev_start(struct sim *m)
{
	sim_start(m);
	if (!sim_settle(m))
		return false;
	sim_run_ms(m, 500);
	return true;
}

/* run until the next event of @kind from @from, at most @ms; its index */
static int run_until(struct sim *m, int from, uint32_t kind, uint64_t ms)
{
	uint64_t end = m->ns + ms * MS;

	while (sim_find(m, from, kind) < 0 && m->ns < end)
		sim_step(m);
	return sim_find(m, from, kind);
}

/*
 * The charger is shed by the thermal rule while a 9 A heater shares the
 * circuit (38.5 A on 32 A); the heater then stops. The estimate (29 A)
 * alone is above 25.6 A: on 3fe07bf the relay stayed off for good. It is
 * held with reason NO_FIT and gets its first attempt restore_delay after
 * its minimum off time, since the circuit measures 0.5 A, and stays on.
 */
/* the charger shed by the thermal rule beside a 9 A heater; its event */
static int ev_shed_beside_heater(struct sim *m)
{
	int i0, e;

	ev_circuit(m);
	if (!ev_start(m))
		return -1;
	i0 = m->nev;
	m->relay_a[SIM_HEATER] = 9;
	e = run_until(m, i0, PHLOEM_EV_SHED, 60000);
	/* then steady cycles for its estimate (29 A) */
	if (e >= 0)
		sim_run_ms(m, 500);
	return e;
}

TEST(ev_charger_comes_back)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	int e, h, r;

	e = ev_shed_beside_heater(m);
	ASSERT_GE(e, 0);
	ASSERT_EQ(SIM_EV, m->ev[e].ev.relay);
	EXPECT_EQ(PHLOEM_CAUSE_THERMAL, m->ev[e].ev.cause);
	/* the heater stops later: its drop is not in the estimate */
	m->relay_a[SIM_HEATER] = 0;

	/* min_off 2 s: then held, because 29 A never fits 25.6 A */
	while (m->ns < m->ev[e].t + 2500 * MS)
		sim_step(m);
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_RELAY_SHED, st.relay[SIM_EV].reason);
	EXPECT_EQ(PHLOEM_HOLD_NO_FIT, st.hold[SIM_EV]);
	EXPECT_GE(st.relay[SIM_EV].load_ma, 28000);
	EXPECT_LE(st.relay[SIM_EV].load_ma, 30000);
	/* next attempt: min_off + restore_delay (1 s) after the shed */
	EXPECT_GE(st.relay[SIM_EV].restore_in_ms, 400);
	EXPECT_LE(st.relay[SIM_EV].restore_in_ms, 520);
	h = sim_find(m, e, PHLOEM_EV_HOLD);
	EXPECT_GE(h, 0);
	if (h >= 0) {
		EXPECT_EQ(SIM_EV, m->ev[h].ev.relay);
		EXPECT_EQ(PHLOEM_HOLD_NO_FIT, m->ev[h].ev.value);
	}

	r = run_until(m, e, PHLOEM_EV_RESTORE, 10000);
	ASSERT_GE(r, 0) TH_LOG("the EV charger never came back");
	EXPECT_EQ(SIM_EV, m->ev[r].ev.relay);
	EXPECT_EQ(PHLOEM_CAUSE_HOLD, m->ev[r].ev.cause);
	EXPECT_GE(m->ev[r].t - m->ev[e].t, 3000 * MS);
	EXPECT_LE(m->ev[r].t - m->ev[e].t, 3060 * MS);
	/* 29.5 A on 32 A: it stays on */
	sim_run_ms(m, 20000);
	EXPECT_EQ(1, sim_count(m, e, PHLOEM_EV_SHED));
	EXPECT_TRUE(phloem_shed_relays(m->s) & (1U << SIM_EV));
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_HOLD_NONE, st.hold[SIM_EV]);
	sim_del(m);
}

/*
 * A 4 ms spike of 60 A on the heater's relay (an inrush) makes the
 * instantaneous rule shed the charger. On 3fe07bf the estimate was the
 * half-cycle RMS at the shed (inflated by the spike) minus the current
 * after it. It is the steady cycles before minus the steady cycles after.
 */
TEST(estimate_not_from_a_spike)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	uint64_t end;
	int e, i0;

	ev_circuit(m);
	ASSERT_TRUE(ev_start(m));
	i0 = m->nev;
	m->relay_a[SIM_HEATER] = 60;
	end = m->ns + 4 * MS;
	while (m->ns < end)
		sim_step(m);
	m->relay_a[SIM_HEATER] = 0;
	e = sim_find(m, i0, PHLOEM_EV_SHED);
	ASSERT_GE(e, 0);
	ASSERT_EQ(SIM_EV, m->ev[e].ev.relay);
	EXPECT_EQ(PHLOEM_CAUSE_INSTANT, m->ev[e].ev.cause);
	/* the rule saw the spike */
	EXPECT_GT(m->ev[e].ev.value, 40000);
	sim_run_ms(m, 300);
	sim_status(m, &st);
	EXPECT_GE(st.relay[SIM_EV].load_ma, 28000);
	EXPECT_LE(st.relay[SIM_EV].load_ma, 30000);
	/* and it comes back: at its first attempt (29 A never fits 25.6 A) */
	sim_run_ms(m, 3500);
	EXPECT_TRUE(phloem_shed_relays(m->s) & (1U << SIM_EV));
	EXPECT_EQ(1, sim_count(m, i0, PHLOEM_EV_SHED));
	EXPECT_EQ(1, sim_count(m, e, PHLOEM_EV_RESTORE));
	sim_del(m);
}

/*
 * A load that really does not fit (29 A on a circuit limited to 24 A) is
 * tried again and again, each attempt restore_delay << attempts after its
 * off time, and never while the circuit is in overload.
 */
TEST(no_fit_attempts_back_off)
{
	struct sim *m = sim_new(50, 4000);
	uint64_t gap[3];
	int e, r, k;

	ev_circuit(m);
	m->cfg.circuit[1].limit_ma = 24000;
	m->cfg.circuit[1].thermal_pct = 5;
	m->cfg.relay[SIM_EV].min_off_ms = 500;
	m->cfg.backoff_max = 0;		/* the attempts' backoff alone */
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	e = run_until(m, 0, PHLOEM_EV_SHED, 60000);
	ASSERT_GE(e, 0);
	for (k = 0; k < 3; k++) {
		r = run_until(m, e, PHLOEM_EV_RESTORE, 60000);
		ASSERT_GE(r, 0) TH_LOG("attempt %d never came", k);
		EXPECT_EQ(PHLOEM_CAUSE_HOLD, m->ev[r].ev.cause);
		gap[k] = m->ev[r].t - m->ev[e].t;
		e = run_until(m, r, PHLOEM_EV_SHED, 60000);
		ASSERT_GE(e, 0);
		EXPECT_EQ(SIM_EV, m->ev[e].ev.relay);
	}
	/* min_off 0.5 s, then 1 s, 2 s, 4 s */
	EXPECT_GE(gap[0], 1500 * MS);
	EXPECT_LE(gap[0], 1560 * MS);
	EXPECT_GE(gap[1], 2500 * MS);
	EXPECT_LE(gap[1], 2560 * MS);
	EXPECT_GE(gap[2], 4500 * MS);
	EXPECT_LE(gap[2], 4560 * MS);
	sim_del(m);
}

/*
 * A load whose estimate fits an emptier circuit but not this one (10 A
 * beside 16.5 A of others, restore at 25.6 A) is held while they draw;
 * after its circuit's max hold (5 s here) it gets its attempt anyway,
 * since the circuit measures under its restore threshold; but never while
 * the circuit is above it.
 */
TEST(max_hold_then_attempt)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	uint64_t t_room;
	int e, r, i0;

	ev_circuit(m);
	m->relay_a[SIM_EV] = 10;
	m->cfg.circuit[1].max_hold_s = 5;
	ASSERT_TRUE(ev_start(m));
	i0 = m->nev;
	m->relay_a[SIM_HEATER] = 29;	/* 39.5 A: thermal, in 46 s */
	e = run_until(m, i0, PHLOEM_EV_SHED, 60000);
	ASSERT_GE(e, 0);
	ASSERT_EQ(SIM_EV, m->ev[e].ev.relay);
	/* 27 A stays over the 25.6 A threshold: held whatever the hold */
	m->relay_a[SIM_HEATER] = 26.5;
	sim_run_ms(m, 9000);
	EXPECT_EQ(-1, sim_find(m, e, PHLOEM_EV_RESTORE));
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_HOLD_CIRCUIT, st.hold[SIM_EV]);
	/*
	 * 16.5 A: room, but not for 10 A more (26.5 A > 25.6 A: on 3fe07bf
	 * held for as long as the heater runs); the max hold is long over
	 */
	m->relay_a[SIM_HEATER] = 16;
	t_room = m->ns;
	r = run_until(m, e, PHLOEM_EV_RESTORE, 1500);
	ASSERT_GE(r, 0);
	EXPECT_EQ(SIM_EV, m->ev[r].ev.relay);
	EXPECT_EQ(PHLOEM_CAUSE_HOLD, m->ev[r].ev.cause);
	EXPECT_LE(m->ev[r].t - m->ev[e].t, 10500 * MS);
	/* the attempt, too, waits for restore_delay (1 s) of room */
	EXPECT_GE(m->ev[r].t - t_room, 1000 * MS);
	sim_del(m);
}

/*
 * Issue 17: never restore into a measured overload. The charger's 29 A
 * never fits (restore at 25.6 A), so it gets attempts; its circuit hovers
 * at the threshold (24.5 A and 27.5 A, 200 ms each), as the VM's garage
 * did (its 4.5 A heater read 3.6..4.3 A against 4 A). On the branch
 * before, one cycle under the threshold let the attempt switch the
 * charger back into 53 A; an attempt needs restore_delay_ms of continuous
 * room, like a restore on headroom.
 */
TEST(no_attempt_on_one_cycle_of_room)
{
	struct sim *m = sim_new(50, 4000);
	uint64_t end, t_room;
	int e, r, k;

	e = ev_shed_beside_heater(m);
	ASSERT_GE(e, 0);
	ASSERT_EQ(SIM_EV, m->ev[e].ev.relay);
	/* its attempt is due 3 s after the shed: hover for 8 s */
	end = m->ns + 8000 * MS;
	for (k = 0; m->ns < end; k++) {
		m->relay_a[SIM_HEATER] = k & 1 ? 27 : 24;
		sim_run_ms(m, 200);
	}
	r = sim_find(m, e, PHLOEM_EV_RESTORE);
	EXPECT_EQ(-1, r) TH_LOG("restored %.1f s after the shed into %.1f A",
				(m->ev[r].t - m->ev[e].t) / 1e9,
				sim_circuit_a(m, 1));
	EXPECT_EQ(1, sim_count(m, e, PHLOEM_EV_SHED));
	/* room for good: the attempt, restore_delay later */
	m->relay_a[SIM_HEATER] = 0;
	t_room = m->ns;
	r = run_until(m, e, PHLOEM_EV_RESTORE, 3000);
	ASSERT_GE(r, 0);
	EXPECT_EQ(PHLOEM_CAUSE_HOLD, m->ev[r].ev.cause);
	EXPECT_GE(m->ev[r].t - t_room, 1000 * MS);
	EXPECT_LE(m->ev[r].t - t_room, 1100 * MS);
	sim_del(m);
}

/* ------------------------------------------------------------------ */
/* Lease                                                               */
/* ------------------------------------------------------------------ */

TEST(lease_expiry_reverts_limits)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_config got;
	struct phloem_status st;
	struct phloem_stats cnt = { 0 };
	int e;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_status(m, &st);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_BOOT_LIMITS);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_LEASED);
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_lease(m->s, 99, m->ns));
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_lease(m->s, 600001, m->ns));
	ASSERT_EQ(0, phloem_shed_lease(m->s, 1000, m->ns));
	m->cfg.circuit[1].limit_ma = 10000;
	m->cfg.site_import_limit_mw = 9000000;
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	sim_status(m, &st);
	EXPECT_EQ(10000, st.circuit[1].limit_ma);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_LEASED);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_BOOT_LIMITS);
	EXPECT_GT(st.lease_left_ms, 990);

	/* renewed in time: holds */
	sim_run_ms(m, 800);
	ASSERT_EQ(0, phloem_shed_lease(m->s, 1000, m->ns));
	sim_run_ms(m, 800);
	EXPECT_EQ(-1, sim_find(m, 0, PHLOEM_EV_LEASE_EXPIRED));
	/* not renewed: lapses, boot limits return */
	sim_run_ms(m, 300);
	e = sim_find(m, 0, PHLOEM_EV_LEASE_EXPIRED);
	ASSERT_GE(e, 0);
	EXPECT_EQ(PHLOEM_CAUSE_LEASE, m->ev[e].ev.cause);
	sim_status(m, &st);
	EXPECT_EQ(16000, st.circuit[1].limit_ma);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_LEASED);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_BOOT_LIMITS);
	EXPECT_EQ(0, st.lease_left_ms);
	phloem_shed_get_config(m->s, &got);
	EXPECT_EQ(0, got.site_import_limit_mw);
	phloem_shed_counters(m->s, &cnt);
	EXPECT_EQ(1, cnt.lease_expiries);
	EXPECT_EQ(1, sim_count(m, 0, PHLOEM_EV_LEASE_EXPIRED));

	/* without a lease the operator's limits stick; flag by comparison */
	m->cfg.circuit[1].limit_ma = 12000;
	m->cfg.site_import_limit_mw = 0;
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	sim_run_ms(m, 2000);
	sim_status(m, &st);
	EXPECT_EQ(12000, st.circuit[1].limit_ma);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_BOOT_LIMITS);
	m->cfg.circuit[1].limit_ma = 16000;
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	sim_status(m, &st);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_BOOT_LIMITS);

	/* release: boot limits at once */
	ASSERT_EQ(0, phloem_shed_lease(m->s, 5000, m->ns));
	m->cfg.circuit[1].limit_ma = 9000;
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	ASSERT_EQ(0, phloem_shed_lease(m->s, 0, m->ns));
	sim_status(m, &st);
	EXPECT_EQ(16000, st.circuit[1].limit_ma);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_LEASED);
	phloem_shed_counters(m->s, &cnt);
	EXPECT_EQ(1, cnt.lease_expiries);
	sim_del(m);
}

/* ------------------------------------------------------------------ */
/* Failsafe                                                            */
/* ------------------------------------------------------------------ */

static const uint32_t safe_bitmap = (1U << SIM_FRIDGE) | (1U << SIM_PUMP);

static void expect_leave_staggered(struct __test_metadata *_metadata,
				   struct sim *m, int from)
{
	uint64_t prev = 0;
	int e, n = 0;

	sim_run_ms(m, 60);
	e = sim_find(m, from, PHLOEM_EV_FAILSAFE_LEAVE);
	ASSERT_GE(e, 0);
	sim_run_ms(m, 5000);
	EXPECT_EQ(ALL_RELAYS, phloem_shed_relays(m->s));
	/* ev, heater, dryer, oven come back one by one, oven (40) first */
	for (e = sim_find(m, e, PHLOEM_EV_RESTORE); e >= 0;
	     e = sim_find(m, e + 1, PHLOEM_EV_RESTORE), n++) {
		if (n == 0)
			EXPECT_EQ(SIM_OVEN, m->ev[e].ev.relay);
		if (prev)
			EXPECT_GE(m->ev[e].t - prev, 1000 * MS);
		prev = m->ev[e].t;
	}
	EXPECT_EQ(4, n);
}

TEST(adc_fault_failsafe)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_stats cnt = { 0 };
	struct phloem_status st;
	int i0, e;

	sim_start(m);
	/* boot: failsafe until the first full cycle */
	EXPECT_EQ(safe_bitmap, phloem_shed_relays(m->s));
	ASSERT_TRUE(sim_settle(m));
	i0 = m->nev;
	ASSERT_TRUE(phloem_shed_fault(m->s, SIM_I2, PHLOEM_CAUSE_ADC, m->ns));
	EXPECT_EQ(safe_bitmap, phloem_shed_relays(m->s));
	sim_run_ms(m, 10);
	EXPECT_EQ(safe_bitmap, phloem_shed_relays(m->s));
	sim_status(m, &st);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_FAILSAFE);
	EXPECT_EQ(PHLOEM_RELAY_SAFE, st.relay[SIM_EV].reason);
	e = sim_find(m, i0, PHLOEM_EV_ADC_FAULT);
	ASSERT_GE(e, 0);
	EXPECT_EQ(SIM_I2, m->ev[e].ev.channel);
	e = sim_find(m, i0, PHLOEM_EV_FAILSAFE_ENTER);
	ASSERT_GE(e, 0);
	EXPECT_EQ(PHLOEM_CAUSE_ADC, m->ev[e].ev.cause);
	phloem_shed_counters(m->s, &cnt);
	EXPECT_EQ(1, cnt.failsafes);
	/* the faulty cycle carries the flag */
	sim_run_ms(m, 25);
	EXPECT_TRUE(m->cyc.chan[SIM_I2].flags & PHLOEM_CHAN_F_FAULT);
	EXPECT_EQ(safe_bitmap, phloem_shed_relays(m->s));
	expect_leave_staggered(_metadata, m, i0);
	sim_del(m);
}

TEST(bad_raw_is_adc_fault)
{
	struct sim *m = sim_new(50, 4000);
	int32_t raw[SIM_NCH] = { 2048, 2048, 5000, 2048 };

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	ASSERT_TRUE(phloem_shed_sample(m->s, raw, m->ns));
	EXPECT_EQ(safe_bitmap, phloem_shed_relays(m->s));
	sim_run_ms(m, 1);
	EXPECT_GE(sim_find(m, 0, PHLOEM_EV_ADC_FAULT), 0);
	sim_del(m);
}

TEST(stale_samples_failsafe)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_stats cnt = { 0 };
	int i0, e;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	i0 = m->nev;
	/* the sampler stops; only the watchdog ticks */
	EXPECT_FALSE(phloem_shed_tick(m->s, m->ns + 99 * MS));
	EXPECT_EQ(ALL_RELAYS, phloem_shed_relays(m->s));
	EXPECT_TRUE(phloem_shed_tick(m->s, m->ns + 100 * MS));
	EXPECT_EQ(safe_bitmap, phloem_shed_relays(m->s));
	m->ns += 150 * MS;
	sim_step(m);
	e = sim_find(m, i0, PHLOEM_EV_FAILSAFE_ENTER);
	ASSERT_GE(e, 0);
	EXPECT_EQ(PHLOEM_CAUSE_STALE, m->ev[e].ev.cause);
	EXPECT_EQ(-1, sim_find(m, i0, PHLOEM_EV_ADC_FAULT));
	phloem_shed_counters(m->s, &cnt);
	EXPECT_EQ(1, cnt.failsafes);
	expect_leave_staggered(_metadata, m, i0);
	sim_del(m);
}

/*
 * Issue 17: never restore into a measured overload, failsafe or not. The
 * EV is shed with the kitchen at 15.5 A without it (restore at 12.8 A:
 * held CIRCUIT); then the sampler stalls for 150 ms (failsafe STALE, as in
 * a loaded VM). On 455807c the failsafe forgot the shed and its staggered
 * return switched the EV back into the overload (21.5 A, shed again by
 * the instantaneous rule: kselftest house.restore_and_backoff once saw
 * it restored at 4.5 A against 4 A). It stays shed and comes back on
 * headroom once the heater stops.
 */
TEST(failsafe_keeps_a_shed_relay_shed)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	int e, i0, r;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	e = shed_ev_now(_metadata, m);
	ASSERT_GE(e, 0);
	sim_run_ms(m, 3000);
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_HOLD_CIRCUIT, st.hold[SIM_EV]);
	/* the sampler stops; only the watchdog ticks */
	i0 = m->nev;
	EXPECT_TRUE(phloem_shed_tick(m->s, m->ns + 100 * MS));
	m->ns += 150 * MS;
	sim_step(m);
	ASSERT_GE(sim_find(m, i0, PHLOEM_EV_FAILSAFE_ENTER), 0);
	sim_run_ms(m, 6000);
	ASSERT_GE(sim_find(m, i0, PHLOEM_EV_FAILSAFE_LEAVE), 0);
	/* the others came back, the EV did not: 15.5 A > 12.8 A */
	EXPECT_EQ(ALL_RELAYS & ~(1U << SIM_EV), phloem_shed_relays(m->s));
	for (r = sim_find(m, i0, PHLOEM_EV_RESTORE); r >= 0;
	     r = sim_find(m, r + 1, PHLOEM_EV_RESTORE))
		EXPECT_NE(SIM_EV, m->ev[r].ev.relay)
			TH_LOG("the EV restored into %.1f A", sim_circuit_a(m, 1));
	EXPECT_EQ(1, sim_count(m, e, PHLOEM_EV_SHED));
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_RELAY_SHED, st.relay[SIM_EV].reason);
	EXPECT_EQ(PHLOEM_HOLD_CIRCUIT, st.hold[SIM_EV]);
	/* the heater stops: the EV comes back on headroom */
	i0 = m->nev;
	m->relay_a[SIM_HEATER] = 0;
	r = run_until(m, i0, PHLOEM_EV_RESTORE, 3000);
	ASSERT_GE(r, 0);
	EXPECT_EQ(SIM_EV, m->ev[r].ev.relay);
	EXPECT_EQ(PHLOEM_CAUSE_HEADROOM, m->ev[r].ev.cause);
	sim_del(m);
}

/* ------------------------------------------------------------------ */
/* Configuration checks                                                */
/* ------------------------------------------------------------------ */

#define MUT(n, stmt) \
	static void mut_##n(struct phloem_info *i, struct phloem_config *c) \
	{ (void)i; (void)c; stmt; }

MUT(flags, c->flags = 1)
MUT(rate_low, c->sample_rate_hz = PHLOEM_RATE_MIN_HZ - 1)
MUT(rate_high, c->sample_rate_hz = PHLOEM_RATE_MAX_HZ + 1)
MUT(grace, c->site_import_grace_ms = 600001)
MUT(restore_delay, c->restore_delay_ms = 3600001)
MUT(retrip, c->retrip_window_ms = 86400001)
MUT(backoff_max, c->backoff_max = 11)
MUT(stale_zero, c->stale_ms = 0)
MUT(stale_high, c->stale_ms = 10001)
MUT(nchannels, c->nchannels = 3)
MUT(ncircuits, c->ncircuits = 2)
MUT(nrelays, c->nrelays = 5)
MUT(reserved0, c->reserved[0] = 1)
MUT(reserved3, c->reserved[3] = 1)
MUT(scale_zero, c->cal[1].scale_uunit = 0)
MUT(scale_high, c->cal[1].scale_uunit = 100000001)
MUT(offset, c->cal[2].offset_lsb = 4096)
MUT(phase_low, c->cal[2].phase_mdeg = -20001)
MUT(phase_high, c->cal[2].phase_mdeg = 20001)
MUT(cal_reserved, c->cal[3].reserved = 1)
MUT(limit_zero, c->circuit[1].limit_ma = 0)
MUT(limit_over_rating, c->circuit[1].limit_ma = 16001)
MUT(inst_low, c->circuit[0].inst_pct = 104)
MUT(inst_high, c->circuit[2].inst_pct = 1001)
MUT(thermal_low, c->circuit[1].thermal_pct = 4)
MUT(thermal_high, c->circuit[1].thermal_pct = 91)
MUT(restore_low, c->circuit[1].restore_pct = 9)
MUT(restore_high, c->circuit[1].restore_pct = 101)
MUT(max_hold_high, c->circuit[2].max_hold_s = PHLOEM_MAX_HOLD_MAX_S + 1)
MUT(relay_circuit, c->relay[0].circuit = 3)
MUT(relay_on_site, c->relay[0].circuit = 0)
MUT(relay_flags, c->relay[1].flags = 2)
MUT(relay_reserved, c->relay[1].reserved = 1)
MUT(min_off, c->relay[5].min_off_ms = 3600001)
MUT(info_mains, i->mains_hz = 55)
MUT(info_bits, i->chan[1].bits = 25)
MUT(info_phase, i->chan[2].phase = 1)
MUT(info_circuit_chan, i->circuit[1].channel = 0)
MUT(info_curve, i->circuit[1].curve = __PHLOEM_CURVE_MAX)
MUT(info_safe, i->relay[0].safe_state = 2)

static const struct {
	const char *name;
	void (*fn)(struct phloem_info *, struct phloem_config *);
} bad_cfg[] = {
#define B(n) { #n, mut_##n }
	B(flags), B(rate_low), B(rate_high), B(grace), B(restore_delay),
	B(retrip), B(backoff_max), B(stale_zero), B(stale_high),
	B(nchannels), B(ncircuits), B(nrelays), B(reserved0), B(reserved3),
	B(scale_zero), B(scale_high), B(offset), B(phase_low), B(phase_high),
	B(cal_reserved), B(limit_zero), B(limit_over_rating), B(inst_low),
	B(inst_high), B(thermal_low), B(thermal_high), B(restore_low),
	B(restore_high), B(max_hold_high), B(relay_circuit), B(relay_on_site),
	B(relay_flags), B(relay_reserved), B(min_off), B(info_mains),
	B(info_bits), B(info_phase), B(info_circuit_chan), B(info_curve),
	B(info_safe),
#undef B
};

MUT(ok_edges_low, c->sample_rate_hz = 1000; c->stale_ms = 1;
    c->circuit[1].limit_ma = 1; c->circuit[1].inst_pct = 105;
    c->circuit[1].thermal_pct = 5; c->circuit[1].restore_pct = 10;
    c->cal[1].scale_uunit = 1; c->cal[1].offset_lsb = 0;
    c->cal[2].phase_mdeg = -20000)
MUT(ok_edges_high, c->sample_rate_hz = 20000; c->stale_ms = 10000;
    c->site_import_grace_ms = 600000; c->restore_delay_ms = 3600000;
    c->retrip_window_ms = 86400000; c->backoff_max = 10;
    c->circuit[1].inst_pct = 1000; c->circuit[1].thermal_pct = 90;
    c->circuit[1].restore_pct = 100; c->cal[1].scale_uunit = 100000000;
    c->cal[1].offset_lsb = 4095; c->cal[2].phase_mdeg = 20000;
    c->relay[0].min_off_ms = 3600000; c->site_import_limit_mw = ~0U)

static void expect_edges_ok(struct __test_metadata *_metadata, struct sim *m,
			    int e0);

TEST(check_config_rejects_every_bad_field)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_config before, after;
	unsigned int k;
	int e0;

	ASSERT_EQ(0, phloem_shed_check_config(&m->info, &m->cfg));
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	phloem_shed_get_config(m->s, &before);
	e0 = m->nev;
	for (k = 0; k < sizeof(bad_cfg) / sizeof(bad_cfg[0]); k++) {
		struct phloem_info info = m->info;
		struct phloem_config cfg = m->cfg;

		bad_cfg[k].fn(&info, &cfg);
		EXPECT_EQ(PHLOEM_SHED_EINVAL,
			  phloem_shed_check_config(&info, &cfg))
			TH_LOG("%s accepted", bad_cfg[k].name);
		/* the unit checks against its own topology */
		if (!memcmp(&info, &m->info, sizeof(info)))
			EXPECT_EQ(PHLOEM_SHED_EINVAL,
				  phloem_shed_set_config(m->s, &cfg, m->ns))
				TH_LOG("%s set", bad_cfg[k].name);
	}
	phloem_shed_get_config(m->s, &after);
	EXPECT_EQ(0, memcmp(&before, &after, sizeof(before)));
	sim_run_ms(m, 1);
	EXPECT_EQ(-1, sim_find(m, e0, PHLOEM_EV_CONFIG));
	expect_edges_ok(_metadata, m, e0);
	sim_del(m);
}

/* every range's ends are accepted */
static void expect_edges_ok(struct __test_metadata *_metadata, struct sim *m,
			    int e0)
{
	{
		struct phloem_info info = m->info;
		struct phloem_config cfg = m->cfg;

		mut_ok_edges_low(&info, &cfg);
		EXPECT_EQ(0, phloem_shed_check_config(&info, &cfg));
		cfg = m->cfg;
		mut_ok_edges_high(&info, &cfg);
		EXPECT_EQ(0, phloem_shed_check_config(&info, &cfg));
		/* a bad override or lease changes nothing either */
		EXPECT_EQ(PHLOEM_SHED_EINVAL,
			  phloem_shed_override(m->s, SIM_NRELAYS, 1, 10, m->ns));
		EXPECT_EQ(PHLOEM_SHED_EINVAL,
			  phloem_shed_override(m->s, 0, 3, 10, m->ns));
		EXPECT_EQ(PHLOEM_SHED_EINVAL,
			  phloem_shed_override(m->s, 0, 1, 0, m->ns));
		EXPECT_EQ(PHLOEM_SHED_EINVAL,
			  phloem_shed_override(m->s, 0, 2, 86400001, m->ns));
		EXPECT_EQ(ALL_RELAYS, phloem_shed_relays(m->s));
		ASSERT_EQ(0, phloem_shed_set_config(m->s, &cfg, m->ns));
		sim_run_ms(m, 1);
		EXPECT_GE(sim_find(m, e0, PHLOEM_EV_CONFIG), 0);
	}
}

/* ------------------------------------------------------------------ */
/* Events, model                                                       */
/* ------------------------------------------------------------------ */

TEST(event_queue_overflow_counts)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_rec_event ev;
	uint64_t t;
	int k, n = 0;

	sim_start(m);
	while (phloem_shed_pop_event(m->s, &ev, &t))
		;
	for (k = 0; k < 100; k++)
		ASSERT_EQ(0, phloem_shed_override(m->s, k % SIM_NRELAYS,
						  PHLOEM_OVERRIDE_ON, 1000 + k,
						  m->ns + k));
	EXPECT_EQ(100 - PHLOEM_SHED_EVQ, phloem_shed_events_lost(m->s));
	while (phloem_shed_pop_event(m->s, &ev, &t)) {
		/* oldest dropped: the first kept is override number 36 */
		if (n == 0) {
			EXPECT_EQ((100 - PHLOEM_SHED_EVQ) % SIM_NRELAYS, ev.relay);
			EXPECT_EQ(m->ns + 100 - PHLOEM_SHED_EVQ, t);
		}
		EXPECT_EQ(PHLOEM_EV_OVERRIDE, ev.kind);
		n++;
	}
	EXPECT_EQ(PHLOEM_SHED_EVQ, n);
	EXPECT_EQ(99 % SIM_NRELAYS, ev.relay);
	sim_del(m);
}

TEST(trip_model)
{
	EXPECT_EQ(UINT32_MAX, phloem_shed_trip_ms(PHLOEM_CURVE_B, 1000));
	EXPECT_EQ(UINT32_MAX, phloem_shed_trip_ms(PHLOEM_CURVE_B, 1130));
	EXPECT_EQ(136363, phloem_shed_trip_ms(PHLOEM_CURVE_B, 1200));
	EXPECT_EQ(48000, phloem_shed_trip_ms(PHLOEM_CURVE_C, 1500));
	EXPECT_EQ(20000, phloem_shed_trip_ms(PHLOEM_CURVE_D, 2000));
	EXPECT_EQ(100, phloem_shed_trip_ms(PHLOEM_CURVE_B, 3000));
	EXPECT_EQ(7500, phloem_shed_trip_ms(PHLOEM_CURVE_C, 3000));
	EXPECT_EQ(100, phloem_shed_trip_ms(PHLOEM_CURVE_C, 6000));
	EXPECT_EQ(1714, phloem_shed_trip_ms(PHLOEM_CURVE_D, 6000));
	EXPECT_EQ(100, phloem_shed_trip_ms(PHLOEM_CURVE_D, 10000));
	EXPECT_EQ(UINT32_MAX, phloem_shed_trip_ms(__PHLOEM_CURVE_MAX, 5000));
}

TEST(thermal_heat_rises_and_cools)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	uint32_t h1;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	/* 18 A on 16 A: x^2 - 1 = 0.27, 10 s -> 4.5 % of the budget */
	m->relay_a[SIM_EV] = 18 - 0.5 - 2 - 2 - 1;
	sim_run_ms(m, 10000);
	sim_status(m, &st);
	h1 = st.circuit[1].heat_permille;
	EXPECT_GE(h1, 40);
	EXPECT_LE(h1, 50);
	m->relay_a[SIM_EV] = 1;
	sim_run_ms(m, 3000);
	sim_status(m, &st);
	EXPECT_LT(st.circuit[1].heat_permille, h1);
	sim_run_ms(m, 20000);
	sim_status(m, &st);
	EXPECT_EQ(0, st.circuit[1].heat_permille);
	sim_del(m);
}

/*
 * A starved sampler (issue 10): sets that come late, in bursts, with
 * jitter, or around a competing periodic task, at 4 kHz and at the lowest
 * rate. The rules weight each sample by the time it stands for, so the
 * half-cycle and cycle RMS stay the RMS of the signal: no false shed at
 * 0.92x the instantaneous threshold, the cycle record within 3 %, and a
 * step shed within one mains cycle of signal time from 1.5x the limit
 * (within two from 1.3x).
 */
FIXTURE(starve) {
	struct sim *m;
};

FIXTURE_VARIANT(starve) {
	uint32_t rate, late_pct, late_max;
	double jitter;
	uint64_t stall_every_ms, stall_us, busy_us, busy_jitter_us;
	double tol;	/* mean cycle RMS error allowed */
};

/*
 * Random lateness averages out (1 %); a stall locked to the mains phase
 * always hides the same part of the wave, which no weighting can see
 * (5 % on the cycle record; the instantaneous rule still holds).
 */
FIXTURE_VARIANT_ADD(starve, late_bursts) { .rate = 4000, .late_pct = 13, .late_max = 8, .tol = 0.01 };
FIXTURE_VARIANT_ADD(starve, jitter) { .rate = 4000, .jitter = 0.95, .tol = 0.01 };
FIXTURE_VARIANT_ADD(starve, stall_10ms) { .rate = 4000, .stall_every_ms = 10, .stall_us = 3000, .tol = 0.05 };
FIXTURE_VARIANT_ADD(starve, stall_20ms) { .rate = 4000, .stall_every_ms = 20, .stall_us = 6000, .tol = 0.05 };
FIXTURE_VARIANT_ADD(starve, rate_1k_jitter) { .rate = 1000, .jitter = 0.9, .late_pct = 10, .late_max = 2, .tol = 0.01 };
FIXTURE_VARIANT_ADD(starve, rate_1k_stall) { .rate = 1000, .stall_every_ms = 10, .stall_us = 1500, .tol = 0.05 };
/*
 * check-starve's slow-ADC phase: every round of conversions takes 3.8 to
 * 4.6 ms, the 4 kHz sampler delivers about 230 sets a second, 2 or 3 a
 * half cycle: the window is a whole cycle.
 */
FIXTURE_VARIANT_ADD(starve, slow_adc_230) { .rate = 4000, .busy_us = 3800, .busy_jitter_us = 800, .tol = 0.03 };

FIXTURE_SETUP(starve)
{
	self->m = sim_new(50, variant->rate);
	self->m->late_pct = variant->late_pct;
	self->m->late_max = variant->late_max;
	self->m->jitter = variant->jitter;
	self->m->stall_every_ns = variant->stall_every_ms * MS;
	self->m->stall_ns = variant->stall_us * 1000;
	self->m->busy_ns = variant->busy_us * 1000;
	self->m->busy_jitter_ns = variant->busy_jitter_us * 1000;
	self->m->cfg.stale_ms = 1000;
	self->m->base_a[1] = 0;
	self->m->relay_a[SIM_FRIDGE] = 0;
	self->m->relay_a[SIM_HEATER] = 0;
	self->m->relay_a[SIM_DRYER] = 0;
	self->m->relay_a[SIM_EV] = 1;
	self->m->cfg.relay[SIM_EV].min_off_ms = 200;
	self->m->cfg.restore_delay_ms = 100;
	self->m->cfg.retrip_window_ms = 0;
	sim_start(self->m);
	ASSERT_TRUE(sim_settle(self->m));
}

FIXTURE_TEARDOWN(starve)
{
	sim_del(self->m);
}

TEST_F(starve, same_rms_and_sheds_in_time)
{
	static const double mults[] = { 1.3, 1.5, 2.0, 6.0 };
	struct sim *m = self->m;
	const double lim = 16.0, thr = 20.0, want = 0.92 * thr;
	double worst = 0, sum = 0, mean;
	uint64_t ncyc, t0, n = 0;
	unsigned int k, rep;
	int i0;

	/* the EV carries everything: 0.92x the threshold, steady */
	m->relay_a[SIM_EV] = want;
	i0 = m->nev;
	t0 = sim_now_ms(m);
	sim_run_ms(m, 200);
	ncyc = m->ncyc;
	while (sim_now_ms(m) < t0 + 5200) {
		sim_step(m);
		if (m->ncyc != ncyc) {
			double e = m->cyc.chan[SIM_I1].rms / 1000.0 / want - 1;

			ncyc = m->ncyc;
			if (!m->cyc.freq_mhz)
				continue;
			sum += e;
			n++;
			if (fabs(e) > worst)
				worst = fabs(e);
		}
	}
	mean = n ? sum / n : 1;
	TH_LOG("cycle RMS: mean error %+.2f %%, worst %.2f %% over %llu cycles",
	       mean * 100, worst * 100, (unsigned long long)n);
	EXPECT_GE(n, 240);
	EXPECT_LE(fabs(mean), variant->tol);
	EXPECT_LE(worst, 0.10);
	EXPECT_EQ(-1, sim_find(m, i0, PHLOEM_EV_SHED));
	EXPECT_EQ(-1, sim_find(m, i0, PHLOEM_EV_FAILSAFE_ENTER));

	for (rep = 0; rep < 12; rep++) {
		for (k = 0; k < sizeof(mults) / sizeof(mults[0]); k++) {
			uint64_t t_step, lat, bound;
			int e;

			/* back to 1 A and on, then a step at another phase */
			m->relay_a[SIM_EV] = 1;
			sim_run_ms(m, 100 + rep * 7 + k);
			for (e = 0; e < 100 && phloem_shed_relays(m->s) != ALL_RELAYS; e++)
				sim_run_ms(m, 50);
			ASSERT_EQ(ALL_RELAYS, phloem_shed_relays(m->s))
				TH_LOG("%.1fx: the EV did not come back", mults[k]);
			i0 = m->nev;
			m->relay_a[SIM_EV] = mults[k] * lim;
			t_step = m->ns;
			sim_run_ms(m, 60);
			e = sim_find(m, i0, PHLOEM_EV_SHED);
			ASSERT_GE(e, 0) TH_LOG("%.1fx: not shed", mults[k]);
			EXPECT_EQ(SIM_EV, m->ev[e].ev.relay);
			EXPECT_EQ(PHLOEM_CAUSE_INSTANT, m->ev[e].ev.cause);
			lat = m->ev[e].ev.trigger_ns - t_step;
			bound = mults[k] >= 1.5 ? 20 * MS : 40 * MS;
			EXPECT_LE(lat, bound)
				TH_LOG("%.1fx: shed %.1f ms after the step",
				       mults[k], lat / 1e6);
			/* one relay carried it: one shed */
			EXPECT_EQ(1, sim_count(m, i0, PHLOEM_EV_SHED));
			EXPECT_EQ(-1, sim_find(m, i0, PHLOEM_EV_FAILSAFE_ENTER));
		}
	}
}

/*
 * check-starve's slow-ADC phase as the bench runs it (issue 10): every
 * round of conversions takes 3.8..4.6 ms, so the 4 kHz sampler delivers
 * about 230 sets a second, 2 or 3 a half cycle; stale_ms 10. On 3fe07bf
 * no half-cycle window ever held 4 sets, last_good never moved, and the
 * unit left failsafe at every cycle only to go stale again at the next
 * set: the oven came back, then everything went safe again, for ever.
 */
static struct sim *slow_adc_new(uint64_t busy_us)
{
	struct sim *m = sim_new(50, 4000);

	m->busy_ns = busy_us * 1000;
	m->busy_jitter_ns = 800 * 1000;
	bench_garage(m);
	/* as check-starve runs it */
	m->cfg.stale_ms = 10;
	m->cfg.relay[SIM_HEATER].min_off_ms = 50;
	m->cfg.circuit[1].inst_pct = 110;
	sim_start(m);
	return m;
}

/* run until every relay is on and the unit out of failsafe */
static bool sim_all_on(struct sim *m, uint64_t ms)
{
	uint64_t end = m->ns + ms * MS;
	struct phloem_status st;

	for (;;) {
		sim_status(m, &st);
		if (!(st.state & PHLOEM_STATE_F_FAILSAFE) &&
		    phloem_shed_relays(m->s) == ALL_RELAYS)
			return true;
		if (m->ns >= end)
			return false;
		sim_step(m);
	}
}

/*
 * What phloem_bench met in check-vm-trace: at boot the simulated HAT's EV
 * (3 A) and heater (4 A) came back 40 ms apart (staggered return), and the
 * unit "learned" the EV's load from the first steady cycles after its
 * switching, which held the heater too: 7.0 A. The bench then zeroes the
 * heater and steps it to 4 A; the EV, shed within that step, shows no drop
 * at its own switching (3 A off, 4 A on, still on for the first steady
 * cycles after the shed), so the learned 7.0 A became its
 * estimate, which never fits the 4 A restore threshold: the EV was held
 * for seconds from the first round. A load is learned only from cycles
 * before any other switching of its circuit, and an estimate taken from
 * the learned load is never more than the circuit carried before the shed.
 */
TEST(estimate_not_across_the_staggered_return)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	int round, e;

	bench_garage(m);
	/* the boot configuration: the circuit's own 16 A rating */
	m->cfg.circuit[1].limit_ma = 16000;
	m->relay_a[SIM_HEATER] = 4;
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	ASSERT_TRUE(sim_all_on(m, 2000));
	sim_run_ms(m, 500);
	/* phloem_bench: a quiet house, then its 5 A limit */
	m->relay_a[SIM_HEATER] = 0;
	sim_run_ms(m, 200);
	m->cfg.circuit[1].limit_ma = 5000;
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	sim_run_ms(m, 200);
	for (round = 0; round < 5; round++) {
		int i0 = m->nev;
		uint64_t t = m->ns;

		m->relay_a[SIM_HEATER] = 4;
		while (sim_find(m, i0, PHLOEM_EV_SHED) < 0 && m->ns < t + 1000 * MS)
			sim_step(m);
		e = sim_find(m, i0, PHLOEM_EV_SHED);
		ASSERT_GE(e, 0);
		ASSERT_EQ(SIM_EV, m->ev[e].ev.relay);
		/* the step stays for the first steady cycles after the shed */
		sim_run_ms(m, 150);
		m->relay_a[SIM_HEATER] = 0;
		ASSERT_TRUE(sim_all_on(m, 1000));
		sim_status(m, &st);
		EXPECT_LE(st.relay[SIM_EV].load_ma, 3500)
			TH_LOG("round %d: the EV (3 A) estimated at %u mA", round,
			       st.relay[SIM_EV].load_ma);
		sim_run_ms(m, 300);
	}
	sim_del(m);
}

/* shed the EV with a 4 A step held @hold_ms, then wait until it is back */
static int ev_shed_and_back(struct sim *m, uint64_t hold_ms)
{
	int i0 = m->nev, e;
	uint64_t t = m->ns;

	m->relay_a[SIM_HEATER] = 4;
	while (sim_find(m, i0, PHLOEM_EV_SHED) < 0 && m->ns < t + 1000 * MS)
		sim_step(m);
	e = sim_find(m, i0, PHLOEM_EV_SHED);
	if (e < 0)
		return -1;
	sim_run_ms(m, hold_ms);
	m->relay_a[SIM_HEATER] = 0;
	t = m->ns;
	while (sim_find(m, e, PHLOEM_EV_RESTORE) < 0 && m->ns < t + 5000 * MS)
		sim_step(m);
	return sim_find(m, e, PHLOEM_EV_RESTORE);
}

/*
 * A load learned wrong at one switching on must not stand for later ones.
 * The EV (3 A) is restored and 2.5 A step on within the cycle after it
 * (5.5 A, under the instantaneous threshold): the first steady cycles
 * after the switching hold both, and 5.5 A is "learned". In the VM a
 * sampler stalled by a SCHED_FIFO hog did the same (7.2 A). Each later
 * round restores the EV and steps at once, so its shed has no steady
 * cycles before it and no drop, and its learning is cut short by the
 * shed: the 5.5 A learned long before became the estimate of every round,
 * which never fits the 4 A restore threshold. What was learned is
 * forgotten at each switching on.
 */
TEST(stale_learned_load_forgotten_at_switching_on)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	int round;

	bench_garage(m);
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	ASSERT_TRUE(sim_all_on(m, 2000));
	sim_run_ms(m, 300);
	ASSERT_GE(ev_shed_and_back(m, 60), 0);
	m->relay_a[SIM_HEATER] = 2.5;		/* the learning's step */
	sim_run_ms(m, 300);
	m->relay_a[SIM_HEATER] = 0;
	sim_run_ms(m, 300);
	for (round = 0; round < 3; round++) {
		/* the step as soon as the EV is back, held past the estimate */
		ASSERT_GE(ev_shed_and_back(m, round ? 150 : 60), 0)
			TH_LOG("round %d: the EV not back in 5 s", round);
		sim_status(m, &st);
		EXPECT_LE(st.relay[SIM_EV].load_ma, 3500)
			TH_LOG("round %d: the EV (3 A) estimated at %u mA", round,
			       st.relay[SIM_EV].load_ma);
	}
	sim_del(m);
}

/*
 * phloem_bench's rounds as they run: the next overload comes as soon as
 * the EV is seen back on (wait_ev_on() polls every 5 ms), so the step
 * lands 0 to 60 ms after the restore's switching, before the circuit has
 * had three steady cycles of the EV alone. What the unit learns of the EV
 * at that switching must not be the EV and the step together (6.7 A on a
 * 4 A restore threshold): with that, the next shed within a step took it
 * as the EV's estimate, which "never fits", and the EV was held 16 s (the
 * clean-clone check-vm-trace of the merged issue 17 branch).
 */
static void rounds_at_once(struct __test_metadata *_metadata, struct sim *m,
			   int rounds)
{
	/*
	 * phloem_bench's multiples of the 5 A limit, less the EV's 3 A
	 * (1.3, not 1.25: the ideal model's 6.25 A is exactly the
	 * instantaneous threshold, which the VM's noise crosses)
	 */
	static const double mult[] = { 1.3, 1.5, 2, 3, 4, 6 };
	struct phloem_status st;
	int e, round, i0, nofit;
	uint64_t t;

	ASSERT_TRUE(sim_all_on(m, 2000));
	i0 = m->nev;
	for (round = 0; round < rounds; round++) {
		m->relay_a[SIM_HEATER] = mult[round % 6] * 5 - 3;
		t = m->ns;
		while (sim_find(m, i0, PHLOEM_EV_SHED) < 0 &&
		       m->ns < t + 5000 * MS)
			sim_step(m);
		e = sim_find(m, i0, PHLOEM_EV_SHED);
		ASSERT_GE(e, 0) TH_LOG("round %d: nothing shed", round);
		sim_run_ms(m, 60);		/* phloem_bench -w 60 */
		m->relay_a[SIM_HEATER] = 0;
		/*
		 * Back, in 5 s or later while the breaker model cools
		 * (rounds 100 ms apart heat it), but never held as a load
		 * that does not fit.
		 */
		nofit = 0;
		while (!(phloem_shed_relays(m->s) & (1U << SIM_EV)) &&
		       m->ns < m->ev[e].t + 60000 * MS) {
			sim_step(m);
			sim_status(m, &st);
			nofit |= st.hold[SIM_EV] == PHLOEM_HOLD_NO_FIT;
		}
		sim_status(m, &st);
		ASSERT_TRUE(phloem_shed_relays(m->s) & (1U << SIM_EV))
			TH_LOG("round %d (x%.2f): EV not back, estimate %u mA, hold %u, restore in %u ms; circuit %u mA, heat %u permille; heater on %u hold %u estimate %u mA",
			       round, mult[round % 6], st.relay[SIM_EV].load_ma,
			       st.hold[SIM_EV], st.relay[SIM_EV].restore_in_ms,
			       st.circuit[1].irms_ma, st.circuit[1].heat_permille,
			       st.relay[SIM_HEATER].on, st.hold[SIM_HEATER],
			       st.relay[SIM_HEATER].load_ma);
		EXPECT_FALSE(nofit)
			TH_LOG("round %d (x%.2f): the EV held as not fitting",
			       round, mult[round % 6]);
		EXPECT_LE(st.relay[SIM_EV].load_ma, 4000)
			TH_LOG("round %d: the EV's estimate %u mA", round,
			       st.relay[SIM_EV].load_ma);
		/*
		 * The heater, shed too from 2x with the step as its estimate,
		 * is held beside the EV: the EV pauses, as in phloem_bench's
		 * wait_ev_on(), until the heater is back.
		 */
		if (!sim_all_on(m, 300)) {
			m->relay_a[SIM_EV] = 0;
			ASSERT_TRUE(sim_all_on(m, 60000));
			m->relay_a[SIM_EV] = 3;
			sim_run_ms(m, 100);
		}
		/* the next round's step: 0, 5, ..., 60 ms after that */
		sim_run_ms(m, 5 * (round % 13));
		i0 = m->nev;
	}
}

TEST(restore_then_next_step_at_once)
{
	struct sim *m = sim_new(50, 4000);

	bench_garage(m);
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	rounds_at_once(_metadata, m, 60);
	sim_del(m);
}

FIXTURE(slow_adc) {
	struct sim *m;
};

/*
 * Rounds of 3.8, 2.6 and 1.9 ms (+ up to 0.8): about 230, 320 and 410 sets
 * a second; the last puts about 4 sets in half a cycle, where the window
 * moves between half a cycle and a whole one.
 */
FIXTURE_VARIANT(slow_adc) {
	uint64_t busy_us;
};
FIXTURE_VARIANT_ADD(slow_adc, sets_230) { .busy_us = 3800 };
FIXTURE_VARIANT_ADD(slow_adc, sets_320) { .busy_us = 2600 };
FIXTURE_VARIANT_ADD(slow_adc, sets_410) { .busy_us = 1900 };

FIXTURE_SETUP(slow_adc)
{
	self->m = slow_adc_new(variant->busy_us);
}

FIXTURE_TEARDOWN(slow_adc)
{
	sim_del(self->m);
}

TEST_F(slow_adc, bench_rounds)
{
	static const double mults[] = { 1.25, 1.5, 2, 3, 4, 6 };
	struct sim *m = self->m;
	struct phloem_stats cnt = { 0 };
	double worst[6] = { 0 };
	uint64_t s0, t0;
	unsigned int round, k;

	ASSERT_TRUE(sim_all_on(m, 2000))
		TH_LOG("the unit never stays out of failsafe (%d events)", m->nev);
	s0 = m->nsamples;
	t0 = m->ns;
	for (round = 0; round < 60; round++) {
		double mult = mults[round % 6], lat;
		uint64_t t_step;
		int i0, e;

		ASSERT_TRUE(sim_all_on(m, 2000))
			TH_LOG("round %u: the EV is not back", round);
		sim_run_ms(m, 20 + round % 9);	/* another phase of the wave */
		/*
		 * The step is a load behind no relay, gone as soon as the EV
		 * is shed: this is about seeing the step, not about restoring
		 * relays whose load changed while they were off.
		 */
		i0 = m->nev;
		m->base_a[1] = mult * 5 - 3;
		t_step = m->ns;
		while (sim_find(m, i0, PHLOEM_EV_SHED) < 0 &&
		       m->ns < t_step + 200 * MS)
			sim_step(m);
		m->base_a[1] = 0;
		e = sim_find(m, i0, PHLOEM_EV_SHED);
		ASSERT_GE(e, 0) TH_LOG("%.2fx: not shed", mult);
		EXPECT_EQ(SIM_EV, m->ev[e].ev.relay);
		EXPECT_EQ(PHLOEM_CAUSE_INSTANT, m->ev[e].ev.cause);
		lat = (m->ev[e].ev.trigger_ns - t_step) / 1e6;
		/* one mains cycle of signal time from 1.5x, two below */
		EXPECT_LE(lat, mult >= 1.5 ? 20 : 40)
			TH_LOG("%.2fx: shed %.1f ms after the step", mult, lat);
		if (lat > worst[round % 6])
			worst[round % 6] = lat;
		EXPECT_EQ(1, sim_count(m, i0, PHLOEM_EV_SHED));
	}
	ASSERT_TRUE(sim_all_on(m, 2000));
	phloem_shed_counters(m->s, &cnt);
	for (k = 0; k < 6; k++)
		TH_LOG("%.2fx: worst %.1f ms from the step to the shed",
		       mults[k], worst[k]);
	TH_LOG("%.0f sets a second", (m->nsamples - s0) / ((m->ns - t0) / 1e9));
	EXPECT_EQ(0, cnt.failsafes);
}

/*
 * Late sheds under phase-locked stalls (issue 10, docs/shedding.md): the
 * slow converter (2.6 ms + up to 0.8 ms a round, about 300 sets a second)
 * is also stalled now and then for up to 9 ms (10 % of rounds late by up
 * to 36 periods, under the 10 ms stale limit). Two or three gaps after a
 * step then come 5.5 to 9.2 ms apart, near the 10 ms period of i^2: the
 * sets land at nearly one phase of the wave, and a whole-cycle window of
 * 4 to 7 sets at two or three phases read a 1.5x step (56 A^2) as 19 to
 * 24 A^2 for 20 ms and more, under the 30.25 A^2 threshold. On e412cd8
 * 5 of these 3,000 steps were shed later than a mains cycle (worst
 * 28.8 ms). Each must be shed within a cycle, or the unit go to failsafe
 * (relays safe, and reported: the stale rule, 10 ms after the last window
 * it could judge).
 */
TEST(phase_locked_stalls_shed_within_a_cycle)
{
	struct sim *m = slow_adc_new(2600);
	struct phloem_status st;
	int round, late = 0, failsafe = 0, shed = 0, notrun = 0;
	double worst = 0, worst_fs = 0;

	m->late_pct = 10;
	m->late_max = 36;
	for (round = 0; round < 3000; round++) {
		uint64_t t_step;
		int i0, e, f;
		double lat;

		ASSERT_TRUE(sim_all_on(m, 5000))
			TH_LOG("round %d: the EV is not back", round);
		m->nev = 0;	/* the rounds' events would fill the log */
		sim_run_ms(m, 20 + round % 9);
		/* a failsafe in the meantime (stale at 10 ms) took the EV */
		sim_status(m, &st);
		if (phloem_shed_relays(m->s) != ALL_RELAYS ||
		    st.state & PHLOEM_STATE_F_FAILSAFE) {
			notrun++;
			continue;
		}
		i0 = m->nev;
		m->base_a[1] = 1.5 * 5 - 3;
		t_step = m->ns;
		while (sim_find(m, i0, PHLOEM_EV_SHED) < 0 &&
		       sim_find(m, i0, PHLOEM_EV_FAILSAFE_ENTER) < 0 &&
		       m->ns < t_step + 200 * MS)
			sim_step(m);
		m->base_a[1] = 0;
		e = sim_find(m, i0, PHLOEM_EV_SHED);
		f = sim_find(m, i0, PHLOEM_EV_FAILSAFE_ENTER);
		if (f >= 0 && (e < 0 || m->ev[f].t <= m->ev[e].ev.trigger_ns)) {
			failsafe++;
			lat = (m->ev[f].t - t_step) / 1e6;
			if (lat > worst_fs)
				worst_fs = lat;
			continue;
		}
		ASSERT_GE(e, 0) TH_LOG("round %d: neither shed nor failsafe", round);
		shed++;
		lat = (m->ev[e].ev.trigger_ns - t_step) / 1e6;
		if (lat > worst)
			worst = lat;
		if (lat > 20) {
			late++;
			TH_LOG("round %d: shed %.1f ms after the step (%u mA)",
			       round, lat, m->ev[e].ev.value);
		}
	}
	TH_LOG("%d rounds: %d shed, %d later than 20 ms (worst %.1f ms); %d failsafe first (worst %.1f ms); %d not run (a failsafe before the step)",
	       round, shed, late, worst, failsafe, worst_fs, notrun);
	EXPECT_EQ(0, late);
	EXPECT_LE(notrun, round / 10);
	sim_del(m);
}

/*
 * restore_when_load_leaves_cycles_after_the_shed on a slow, jittery
 * sampler (TCG-like): the step load leaves 20 to 100 ms after the shed;
 * the EV must be back within 5 s each round.
 */
TEST_F(slow_adc, ev_back_when_the_step_leaves_after_the_shed)
{
	struct sim *m = self->m;
	struct phloem_status st;
	int round;

	ASSERT_TRUE(sim_all_on(m, 2000));
	for (round = 0; round < 20; round++) {
		int i0 = m->nev, e;
		uint64_t t_step;

		sim_run_ms(m, 20 + round % 9);
		m->relay_a[SIM_HEATER] = 4;
		t_step = m->ns;
		while (sim_find(m, i0, PHLOEM_EV_SHED) < 0 &&
		       m->ns < t_step + 200 * MS)
			sim_step(m);
		e = sim_find(m, i0, PHLOEM_EV_SHED);
		ASSERT_GE(e, 0);
		sim_run_ms(m, 20 + 10 * (round % 9));
		m->relay_a[SIM_HEATER] = 0;
		sim_status(m, &st);
		EXPECT_TRUE(sim_all_on(m, 5000))
			TH_LOG("round %d (step gone %d ms after the shed): EV not back in 5 s, estimate %u mA, hold %u, restore in %u ms",
			       round, 20 + 10 * (round % 9), st.relay[SIM_EV].load_ma,
			       st.hold[SIM_EV], st.relay[SIM_EV].restore_in_ms);
	}
}

/* restore_then_next_step_at_once on a slow, jittery sampler */
TEST_F(slow_adc, restore_then_next_step_at_once)
{
	rounds_at_once(_metadata, self->m, 60);
}

/*
 * A sampler too slow even for a cycle's window (about 100 sets a second,
 * 2 a cycle) cannot protect: the unit goes to failsafe once, stays there
 * with every relay safe, and says so once. On 3fe07bf it left failsafe at
 * every cycle close and re-entered at the next set (a FAILSAFE_ENTER and
 * LEAVE every cycle, the first staggered relay switched on each time).
 * When the sampler recovers the unit leaves, and every relay comes back.
 */
TEST(too_slow_sampler_stays_in_failsafe)
{
	struct sim *m = slow_adc_new(0);
	struct phloem_stats cnt = { 0 };
	struct phloem_status st;
	uint64_t end;
	int i0;

	ASSERT_TRUE(sim_all_on(m, 2000));
	i0 = m->nev;
	m->busy_ns = 9000 * 1000;
	sim_run_ms(m, 30);
	for (end = m->ns + 3000 * MS; m->ns < end;) {
		sim_step(m);
		sim_status(m, &st);
		ASSERT_TRUE(st.state & PHLOEM_STATE_F_FAILSAFE)
			TH_LOG("left failsafe at %llu ms",
			       (unsigned long long)sim_now_ms(m));
		ASSERT_EQ(safe_bitmap, phloem_shed_relays(m->s));
	}
	phloem_shed_counters(m->s, &cnt);
	EXPECT_EQ(1, cnt.failsafes);
	EXPECT_EQ(1, sim_count(m, i0, PHLOEM_EV_FAILSAFE_ENTER));
	EXPECT_EQ(PHLOEM_CAUSE_STALE,
		  m->ev[sim_find(m, i0, PHLOEM_EV_FAILSAFE_ENTER)].ev.cause);
	EXPECT_EQ(0, sim_count(m, i0, PHLOEM_EV_FAILSAFE_LEAVE));
	/* the sampler recovers: one leave, and the staggered return */
	m->busy_ns = 0;
	m->busy_jitter_ns = 0;
	ASSERT_TRUE(sim_all_on(m, 2000));
	EXPECT_EQ(1, sim_count(m, i0, PHLOEM_EV_FAILSAFE_LEAVE));
	phloem_shed_counters(m->s, &cnt);
	EXPECT_EQ(1, cnt.failsafes);
	sim_del(m);
}

TEST_HARNESS_MAIN
