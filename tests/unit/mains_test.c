// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Host unit tests of the mains rules (docs/shedding.md "Mains"): the
 * outage and its island, the staggered return after stable mains, the
 * under- and over-voltage events and the sustained under-voltage rule,
 * through the closed-loop simulated HAT of shed_sim.c (its mains can be
 * cut, m->mains, and its voltage set, m->vrms).
 *
 * The house is shed_sim's default: 230 V 50 Hz on v0; the kitchen (ev
 * priority 10, heater 20, dryer 30, fridge critical) and the garage (oven
 * 40, pump 50, safe state on).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "shed_sim.h"

#define MS		1000000ULL
#define PERIOD_MS	20U
#define RETURN_MS	5000U
#define STAGGER_MS	2000U

static struct sim *house(void)
{
	struct sim *m = sim_new(50, 4000);
	sim_start(m);
	return m;
}

/* the outage rule on (50 % for the default 2 cycles), a short return */
static int outage_on(struct sim *m, uint32_t outage_relays)
{
	m->cfg.outage_pct = 50;
	m->cfg.outage_relays = outage_relays;
	m->cfg.return_ms = RETURN_MS;
	m->cfg.return_stagger_ms = STAGGER_MS;
	return phloem_shed_set_config(m->s, &m->cfg, m->ns);
}

/* run sample by sample until the event, at most @ms; its index or -1 */
static int run_until(struct sim *m, int from, uint32_t kind, uint32_t cause,
		     uint64_t ms)
{
	uint64_t end = m->ns + ms * MS;
	int e;

	while (m->ns < end) {
		sim_step(m);
		e = sim_find_cause(m, from, kind, cause);
		if (e >= 0)
			return e;
	}
	return -1;
}

TEST(off_by_default)
{
	struct sim *m = house();
	struct phloem_status st;
	int i0;

	ASSERT_TRUE(sim_settle(m));
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_MAINS_NONE, st.mains_state);
	EXPECT_EQ(PHLOEM_VOLT_NONE, st.volt_state[0]);
	EXPECT_LE(abs((int)st.phase_vrms_mv[0] - 230000), 3000);
	EXPECT_EQ(0, st.phase_vrms_mv[1]);
	EXPECT_EQ(0, st.return_left_ms);
	i0 = m->nev;
	/* a cut, sags and swells: nothing from the mains rules */
	m->mains = false;
	sim_run_ms(m, 200);
	m->mains = true;
	sim_run_ms(m, 2000);
	m->vrms = 150;
	sim_run_ms(m, 2000);
	m->vrms = 270;
	sim_run_ms(m, 2000);
	m->vrms = 230;
	sim_run_ms(m, 2000);
	EXPECT_EQ(0, sim_count(m, i0, PHLOEM_EV_MAINS));
	EXPECT_EQ(0, sim_count(m, i0, PHLOEM_EV_VOLTAGE));
	EXPECT_EQ(0, sim_count_cause(m, i0, PHLOEM_EV_SHED, PHLOEM_CAUSE_OUTAGE));
	EXPECT_EQ(0, sim_count_cause(m, i0, PHLOEM_EV_SHED,
				 PHLOEM_CAUSE_UNDER_VOLTAGE));
	sim_status(m, &st);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_ISLAND);
	sim_del(m);
}

TEST(check_config_mains_fields)
{
	struct sim *m = house();
	struct phloem_config c = m->cfg, got;
	static const struct {
		size_t off;
		uint32_t bad;
	} bad[] = {
#define F(f) __builtin_offsetof(struct phloem_config, f)
		{ F(nominal_mv), PHLOEM_NOMINAL_MV_MIN - 1 },
		{ F(nominal_mv), PHLOEM_NOMINAL_MV_MAX + 1 },
		{ F(outage_pct), PHLOEM_OUTAGE_MAX_PCT + 1 },
		{ F(outage_cycles), PHLOEM_OUTAGE_CYCLES_MAX + 1 },
		{ F(outage_relays), 1U << SIM_NRELAYS },
		{ F(return_ms), PHLOEM_RETURN_MS_MAX + 1 },
		{ F(return_stagger_ms), PHLOEM_RETURN_STAGGER_MS_MAX + 1 },
		{ F(volt_band_pct), PHLOEM_VOLT_BAND_MAX_PCT + 1 },
		{ F(volt_delay_ms), PHLOEM_VOLT_DELAY_MAX_MS + 1 },
		{ F(uv_shed_pct), PHLOEM_UV_SHED_MIN_PCT - 1 },
		{ F(uv_shed_pct), PHLOEM_UV_SHED_MAX_PCT + 1 },
		{ F(uv_shed_ms), PHLOEM_UV_SHED_MAX_MS + 1 },
#undef F
	};
	size_t i;

	/* every field at its limit is accepted */
	c.nominal_mv = PHLOEM_NOMINAL_MV_MAX;
	c.outage_pct = PHLOEM_OUTAGE_MAX_PCT;
	c.outage_cycles = PHLOEM_OUTAGE_CYCLES_MAX;
	c.outage_relays = (1U << SIM_NRELAYS) - 1;
	c.return_ms = PHLOEM_RETURN_MS_MAX;
	c.return_stagger_ms = PHLOEM_RETURN_STAGGER_MS_MAX;
	c.volt_band_pct = PHLOEM_VOLT_BAND_MAX_PCT;
	c.volt_delay_ms = PHLOEM_VOLT_DELAY_MAX_MS;
	c.uv_shed_pct = PHLOEM_UV_SHED_MAX_PCT;
	c.uv_shed_ms = PHLOEM_UV_SHED_MAX_MS;
	EXPECT_EQ(0, phloem_shed_check_config(&m->info, &c));
	c.nominal_mv = PHLOEM_NOMINAL_MV_MIN;
	c.uv_shed_pct = PHLOEM_UV_SHED_MIN_PCT;
	EXPECT_EQ(0, phloem_shed_check_config(&m->info, &c));
	/* one past: refused, and nothing in force changes */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = m->cfg;
		memcpy((char *)&c + bad[i].off, &bad[i].bad, 4);
		EXPECT_EQ(PHLOEM_SHED_EINVAL,
			  phloem_shed_check_config(&m->info, &c)) {
			TH_LOG("field at %zu = %u", bad[i].off, bad[i].bad);
		}
		EXPECT_EQ(PHLOEM_SHED_EINVAL,
			  phloem_shed_set_config(m->s, &c, m->ns));
		phloem_shed_get_config(m->s, &got);
		EXPECT_EQ(0, memcmp(&got, &m->cfg, sizeof(got)));
	}
	sim_del(m);
}

/*
 * Mains cut: the island within outage_cycles (<= 2 cycles); the critical
 * fridge and the outage set's pump stay on, everything else is shed and
 * held.
 */
TEST(outage_enters_island)
{
	struct sim *m = house();
	struct phloem_status st;
	uint64_t t0;
	int i0, e, r;

	ASSERT_TRUE(sim_settle(m));
	ASSERT_EQ(0, outage_on(m, 1U << SIM_PUMP));
	sim_run_ms(m, 1000);
	i0 = m->nev;
	t0 = m->ns;
	m->mains = false;
	e = run_until(m, i0, PHLOEM_EV_MAINS, PHLOEM_CAUSE_OUTAGE, 1000);
	ASSERT_GE(e, 0);
	TH_LOG("outage detected %.1f ms after the cut",
	       (m->ev[e].t - t0) / 1e6);
	EXPECT_LE(m->ev[e].t - t0, 2 * PERIOD_MS * MS);
	EXPECT_EQ(SIM_V0, m->ev[e].ev.channel);
	EXPECT_EQ(115000, m->ev[e].ev.limit);
	EXPECT_LT(m->ev[e].ev.value, 115000);
	/* every other relay shed at once, with the cause */
	EXPECT_EQ(4, sim_count_cause(m, i0, PHLOEM_EV_SHED, PHLOEM_CAUSE_OUTAGE));
	EXPECT_EQ((1U << SIM_FRIDGE) | (1U << SIM_PUMP),
		  phloem_shed_relays(m->s));
	sim_run_ms(m, 10000);
	sim_status(m, &st);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_ISLAND);
	EXPECT_EQ(PHLOEM_MAINS_OUTAGE, st.mains_state);
	EXPECT_EQ(RETURN_MS, st.return_left_ms);
	/* the outage's length so far: from its first low window */
	EXPECT_LE(st.outage_ms, (m->ns - t0) / MS);
	EXPECT_GE(st.outage_ms, (m->ns - t0) / MS - PERIOD_MS);
	EXPECT_EQ((1U << SIM_FRIDGE) | (1U << SIM_PUMP),
		  phloem_shed_relays(m->s));
	for (r = 0; r < SIM_NRELAYS; r++)
		if (r != SIM_FRIDGE && r != SIM_PUMP)
			EXPECT_EQ(PHLOEM_HOLD_OUTAGE, st.hold[r]);
	EXPECT_EQ(1, sim_count(m, i0, PHLOEM_EV_MAINS));
	EXPECT_EQ(0, sim_count(m, i0, PHLOEM_EV_RESTORE));
	sim_del(m);
}

/* a cut or a deep sag shorter than outage_cycles is not an outage */
TEST(short_sag_no_island)
{
	struct sim *m = house();
	int i0;

	ASSERT_TRUE(sim_settle(m));
	ASSERT_EQ(0, outage_on(m, 0));
	sim_run_ms(m, 1000);
	i0 = m->nev;
	m->mains = false;
	sim_run_ms(m, PERIOD_MS);
	m->mains = true;
	sim_run_ms(m, 1000);
	m->vrms = 60;
	sim_run_ms(m, PERIOD_MS + PERIOD_MS / 2);
	m->vrms = 230;
	sim_run_ms(m, 1000);
	EXPECT_EQ(0, sim_count(m, i0, PHLOEM_EV_MAINS));
	EXPECT_EQ(0, sim_count(m, i0, PHLOEM_EV_SHED));
	EXPECT_EQ((1U << SIM_NRELAYS) - 1, phloem_shed_relays(m->s));
	/* a sag under outage_pct for longer is one */
	m->vrms = 60;
	sim_run_ms(m, 3 * PERIOD_MS);
	EXPECT_EQ(1, sim_count_cause(m, i0, PHLOEM_EV_MAINS, PHLOEM_CAUSE_OUTAGE));
	sim_del(m);
}

/*
 * Mains back: nothing returns before return_ms of stable mains; then one
 * relay at a time, at least return_stagger_ms apart, by priority, through
 * the restore gate; a dip in the wait starts it again.
 */
TEST(return_after_stable_mains_staggered)
{
	struct sim *m = house();
	struct phloem_status st;
	uint64_t tc, t1, t2, last = 0;
	int i0, b, e, n = 0;

	ASSERT_TRUE(sim_settle(m));
	ASSERT_EQ(0, outage_on(m, 0));
	sim_run_ms(m, 1000);
	tc = m->ns;
	m->mains = false;
	sim_run_ms(m, 3000);
	i0 = m->nev;
	m->mains = true;
	t1 = m->ns;
	sim_run_ms(m, 3000);
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_MAINS_OUTAGE, st.mains_state);
	EXPECT_LE(st.return_left_ms, RETURN_MS - 2500);
	EXPECT_GE(st.return_left_ms, RETURN_MS - 3000);
	/* the outage lasts until stable mains ends it */
	EXPECT_LE(st.outage_ms, (m->ns - tc) / MS);
	EXPECT_GE(st.outage_ms, (m->ns - tc) / MS - PERIOD_MS);
	/* a dip out of the band restarts the wait */
	m->vrms = 190;
	sim_run_ms(m, 100);
	m->vrms = 230;
	t2 = m->ns;
	sim_run_ms(m, 200);
	sim_status(m, &st);
	EXPECT_GE(st.return_left_ms, RETURN_MS - 300);
	EXPECT_EQ(1U << SIM_FRIDGE, phloem_shed_relays(m->s));
	b = run_until(m, i0, PHLOEM_EV_MAINS, PHLOEM_CAUSE_MAINS_BACK,
		      RETURN_MS + 1000);
	ASSERT_GE(b, 0);
	TH_LOG("mains back %.1f ms after the dip",
	       (m->ev[b].t - t2) / 1e6);
	EXPECT_GE(m->ev[b].t - t2, RETURN_MS * MS);
	EXPECT_LE(m->ev[b].t - t2, (RETURN_MS + 200) * MS);
	EXPECT_GT(m->ev[b].t - t1, (RETURN_MS + 3000) * MS);
	/* in the return: how long it lasted, up to the stable mains */
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_MAINS_RETURN, st.mains_state);
	TH_LOG("outage of %u ms reported, %.1f ms from the cut to the dip's end",
	       st.outage_ms, (t2 - tc) / 1e6);
	EXPECT_LE(st.outage_ms, (m->ev[b].t - tc) / MS - RETURN_MS);
	EXPECT_GE(st.outage_ms, (t2 - tc) / MS - PERIOD_MS);
	/* nothing came back before (the first comes back with it) */
	e = sim_find(m, i0, PHLOEM_EV_RESTORE);
	EXPECT_TRUE(e < 0 || e > b);
	sim_run_ms(m, 6 * STAGGER_MS);
	for (e = sim_find(m, b, PHLOEM_EV_RESTORE); e >= 0;
	     e = sim_find(m, e + 1, PHLOEM_EV_RESTORE)) {
		if (n)
			EXPECT_GE(m->ev[e].t - last, STAGGER_MS * MS);
		last = m->ev[e].t;
		/* the pump (50) first, the ev (10) last */
		if (n == 0)
			EXPECT_EQ(SIM_PUMP, m->ev[e].ev.relay);
		n++;
	}
	EXPECT_EQ(5, n);
	EXPECT_EQ((1U << SIM_NRELAYS) - 1, phloem_shed_relays(m->s));
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_MAINS_OK, st.mains_state);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_ISLAND);
	EXPECT_EQ(0, st.outage_ms);
	sim_del(m);
}

/* an operator's override ON does not energise a load into the island */
TEST(override_on_stays_off_in_island)
{
	struct sim *m = house();

	ASSERT_TRUE(sim_settle(m));
	ASSERT_EQ(0, outage_on(m, 0));
	m->mains = false;
	sim_run_ms(m, 200);
	ASSERT_EQ(1U << SIM_FRIDGE, phloem_shed_relays(m->s));
	ASSERT_EQ(0, phloem_shed_override(m->s, SIM_HEATER,
					  PHLOEM_OVERRIDE_ON, 600000, m->ns));
	sim_run_ms(m, 1000);
	EXPECT_EQ(1U << SIM_FRIDGE, phloem_shed_relays(m->s));
	/* it comes back in the return like the others */
	m->mains = true;
	sim_run_ms(m, RETURN_MS + 6 * STAGGER_MS);
	EXPECT_EQ((1U << SIM_NRELAYS) - 1, phloem_shed_relays(m->s));
	sim_del(m);
}

/* failsafe in the island: the pump's safe state (on) does not override it */
TEST(failsafe_in_island)
{
	struct sim *m = house();
	struct phloem_status st;

	ASSERT_TRUE(sim_settle(m));
	ASSERT_EQ(0, outage_on(m, 0));
	m->mains = false;
	sim_run_ms(m, 200);
	phloem_shed_fault(m->s, SIM_ISITE, PHLOEM_CAUSE_ADC, m->ns);
	sim_status(m, &st);
	ASSERT_TRUE(st.state & PHLOEM_STATE_F_FAILSAFE);
	EXPECT_EQ(1U << SIM_FRIDGE, phloem_shed_relays(m->s));
	sim_run_ms(m, 1000);
	EXPECT_EQ(1U << SIM_FRIDGE, phloem_shed_relays(m->s));
	m->mains = true;
	sim_run_ms(m, RETURN_MS + 6 * STAGGER_MS);
	EXPECT_EQ((1U << SIM_NRELAYS) - 1, phloem_shed_relays(m->s));
	sim_del(m);
}

/* the rule switched off in the island ends it by the staggered return */
TEST(rule_off_in_island_returns_staggered)
{
	struct sim *m = house();
	int i0, e, n = 0;
	uint64_t last = 0;

	ASSERT_TRUE(sim_settle(m));
	ASSERT_EQ(0, outage_on(m, 0));
	m->mains = false;
	sim_run_ms(m, 200);
	m->mains = true;
	i0 = m->nev;
	m->cfg.outage_pct = 0;
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	sim_run_ms(m, 6 * STAGGER_MS);
	for (e = sim_find(m, i0, PHLOEM_EV_RESTORE); e >= 0;
	     e = sim_find(m, e + 1, PHLOEM_EV_RESTORE)) {
		if (n++)
			EXPECT_GE(m->ev[e].t - last, STAGGER_MS * MS);
		last = m->ev[e].t;
	}
	EXPECT_EQ(5, n);
	EXPECT_EQ((1U << SIM_NRELAYS) - 1, phloem_shed_relays(m->s));
	sim_del(m);
}

/* under- and over-voltage events after volt_delay_ms, and back */
TEST(voltage_events)
{
	struct sim *m = house();
	struct phloem_status st;
	int i0, e;
	uint64_t t;

	ASSERT_TRUE(sim_settle(m));
	m->cfg.volt_band_pct = 10;
	m->cfg.volt_delay_ms = 500;
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	sim_run_ms(m, 1000);
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_VOLT_OK, st.volt_state[0]);
	i0 = m->nev;
	EXPECT_EQ(0, sim_count(m, 0, PHLOEM_EV_VOLTAGE));
	/* shorter than the delay: nothing */
	m->vrms = 200;
	sim_run_ms(m, 300);
	m->vrms = 230;
	sim_run_ms(m, 1000);
	EXPECT_EQ(0, sim_count(m, i0, PHLOEM_EV_VOLTAGE));
	/* 200 V < 207 V for the delay */
	t = m->ns;
	m->vrms = 200;
	e = run_until(m, i0, PHLOEM_EV_VOLTAGE, PHLOEM_CAUSE_UNDER_VOLTAGE,
		      2000);
	ASSERT_GE(e, 0);
	EXPECT_GE(m->ev[e].t - t, 500 * MS);
	EXPECT_LE(m->ev[e].t - t, (500 + 3 * PERIOD_MS) * MS);
	EXPECT_EQ(207000, m->ev[e].ev.limit);
	EXPECT_LE(abs((int)m->ev[e].ev.value - 200000), 3000);
	EXPECT_EQ(SIM_V0, m->ev[e].ev.channel);
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_VOLT_UNDER, st.volt_state[0]);
	m->vrms = 230;
	e = run_until(m, i0, PHLOEM_EV_VOLTAGE, PHLOEM_CAUSE_VOLTAGE_OK, 2000);
	ASSERT_GE(e, 0);
	EXPECT_EQ(207000, m->ev[e].ev.limit);
	/* 260 V > 253 V */
	m->vrms = 260;
	e = run_until(m, i0, PHLOEM_EV_VOLTAGE, PHLOEM_CAUSE_OVER_VOLTAGE,
		      2000);
	ASSERT_GE(e, 0);
	EXPECT_EQ(253000, m->ev[e].ev.limit);
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_VOLT_OVER, st.volt_state[0]);
	m->vrms = 230;
	sim_run_ms(m, 1000);
	EXPECT_EQ(2, sim_count_cause(m, i0, PHLOEM_EV_VOLTAGE,
				 PHLOEM_CAUSE_VOLTAGE_OK));
	/* no relay moved for any of it */
	EXPECT_EQ(0, sim_count(m, i0, PHLOEM_EV_SHED));
	sim_del(m);
}

/* sustained under-voltage sheds by priority, and releases when back */
TEST(under_voltage_rule)
{
	struct sim *m = house();
	struct phloem_status st;
	int i0, e;
	uint64_t t;

	ASSERT_TRUE(sim_settle(m));
	m->cfg.uv_shed_pct = 85;	/* 195.5 V, back at 200.1 V */
	m->cfg.uv_shed_ms = 1000;
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	sim_run_ms(m, 1000);
	i0 = m->nev;
	t = m->ns;
	m->vrms = 190;
	e = run_until(m, i0, PHLOEM_EV_SHED, PHLOEM_CAUSE_UNDER_VOLTAGE, 2000);
	ASSERT_GE(e, 0);
	EXPECT_EQ(SIM_EV, m->ev[e].ev.relay);
	EXPECT_GE(m->ev[e].t - t, 1000 * MS);
	EXPECT_LE(m->ev[e].t - t, (1000 + 3 * PERIOD_MS) * MS);
	EXPECT_EQ(195500, m->ev[e].ev.limit);
	sim_run_ms(m, 1100);
	EXPECT_EQ(2, sim_count_cause(m, i0, PHLOEM_EV_SHED,
				 PHLOEM_CAUSE_UNDER_VOLTAGE));
	sim_status(m, &st);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_UNDER_VOLTAGE);
	EXPECT_EQ(PHLOEM_HOLD_VOLTAGE, st.hold[SIM_EV]);
	EXPECT_EQ(PHLOEM_HOLD_VOLTAGE, st.hold[SIM_HEATER]);
	EXPECT_TRUE(phloem_shed_relays(m->s) & (1U << SIM_FRIDGE));
	/* between the threshold and its hysteresis: no more, still held */
	m->vrms = 198;
	i0 = m->nev;
	sim_run_ms(m, 3000);
	EXPECT_EQ(0, sim_count(m, i0, PHLOEM_EV_SHED));
	EXPECT_EQ(0, sim_count(m, i0, PHLOEM_EV_RESTORE));
	m->vrms = 230;
	sim_run_ms(m, 10000);
	EXPECT_EQ(2, sim_count(m, i0, PHLOEM_EV_RESTORE));
	sim_status(m, &st);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_UNDER_VOLTAGE);
	EXPECT_EQ((1U << SIM_NRELAYS) - 1, phloem_shed_relays(m->s));
	sim_del(m);
}

/*
 * A sag is not a sampler that missed the peaks (issue 17): at 80 % of
 * nominal the voltage's mean square is 0.64 of what it was, and a coverage
 * judged on the voltage's amplitude read every current 1.56x high, so the
 * kitchen's 15 A (20 A instantaneous threshold) was shed INSTANT as soon
 * as the sag began. Coverage is judged on each set's phase in the wave,
 * which no amplitude changes: nothing is shed, with a steady sampler or
 * one stalled near the 10 ms period of i^2 (the case the coverage is for).
 */
static void sag_no_false_instant(struct __test_metadata *_metadata,
				 uint64_t stall_every_ms, uint64_t stall_us)
{
	static const double depth[] = { 0.9, 0.8, 0.7, 0.6 };
	struct sim *m = sim_new(50, 4000);
	unsigned int k;
	int i0;

	m->stall_every_ns = stall_every_ms * MS;
	m->stall_ns = stall_us * 1000;
	m->cfg.stale_ms = 1000;
	m->relay_a[SIM_EV] = 9.5;	/* the kitchen: 15 A of 20 A */
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	for (k = 0; k < sizeof(depth) / sizeof(depth[0]); k++) {
		i0 = m->nev;
		m->vrms = 230 * depth[k];
		sim_run_ms(m, 400);
		m->vrms = 230;
		sim_run_ms(m, 400);
		EXPECT_EQ(0, sim_count(m, i0, PHLOEM_EV_OVERLOAD))
			TH_LOG("sag to %.0f %%", depth[k] * 100);
		EXPECT_EQ(0, sim_count(m, i0, PHLOEM_EV_SHED))
			TH_LOG("sag to %.0f %%", depth[k] * 100);
	}
	EXPECT_EQ((1U << SIM_NRELAYS) - 1, phloem_shed_relays(m->s));
	sim_del(m);
}

TEST(sag_is_not_missed_peaks)
{
	sag_no_false_instant(_metadata, 0, 0);
}

TEST(sag_is_not_missed_peaks_stalled)
{
	sag_no_false_instant(_metadata, 10, 3000);
}

TEST_HARNESS_MAIN
