// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Host unit tests of the grid-operator input lines (phloem_shed_signal(),
 * docs/shedding.md "Grid-operator input"), through the closed-loop
 * simulated HAT of shed_sim.c with two lines: K1 caps the site import,
 * K2 sheds relays.
 *
 * The house (shed_sim.c): kitchen ev 4 A (priority 10), heater 4 A (20),
 * dryer 3 A (30), fridge 1 A (critical); garage oven 6 A (40), pump 1 A
 * (50, safe on); 1 A on the site and 0.5 A on each circuit unswitched:
 * 21 A, about 4.8 kW at 230 V.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "shed_sim.h"

#define MS		1000000ULL
#define CAP_MW		4200000U	/* §14a EnWG: 4.2 kW */
#define DEBOUNCE_US	4000U
#define K1		(1U << 0)
#define K2		(1U << 1)

static struct sim *house(void)
{
	struct sim *m = sim_new(50, 4000);
	m->info.nsignals = 2;
	m->cfg.signal_debounce_us = DEBOUNCE_US;
	m->cfg.signal[0].import_cap_mw = CAP_MW;
	m->cfg.signal[1].shed_relays = 1U << SIM_OVEN | 1U << SIM_PUMP |
				       1U << SIM_FRIDGE;
	m->relay_a[SIM_EV] = 4;
	m->relay_a[SIM_HEATER] = 4;
	m->relay_a[SIM_DRYER] = 3;
	m->relay_a[SIM_OVEN] = 6;
	sim_start(m);
	return m;
}

/* the true import of the simulated house now, mW (unity power factor) */
static double import_mw(const struct sim *m)
{
	return sim_circuit_a(m, 0) * m->vrms * 1000;
}

TEST(cap_sheds_within_one_cycle)
{
	struct sim *m = house();
	struct phloem_status st;
	uint64_t t0;
	int i0, e, s;

	ASSERT_TRUE(sim_settle(m));
	sim_run_ms(m, 200);
	ASSERT_GT(import_mw(m), CAP_MW);
	ASSERT_GT(m->cyc.chan[SIM_ISITE].p_mw, (int32_t)CAP_MW);
	i0 = m->nev;
	m->lines = K1;
	t0 = m->ns;		/* the next set is the first to see it */
	sim_run_ms(m, 25);
	e = sim_find(m, i0, PHLOEM_EV_SIGNAL);
	ASSERT_GE(e, 0);
	EXPECT_EQ(0, m->ev[e].ev.channel);
	EXPECT_EQ(1, m->ev[e].ev.value);
	EXPECT_EQ(CAP_MW, m->ev[e].ev.limit);
	EXPECT_EQ(t0, m->ev[e].ev.trigger_ns);
	EXPECT_GE(m->ev[e].t - t0, DEBOUNCE_US * 1000ULL);
	s = sim_find_cause(m, i0, PHLOEM_EV_SHED, PHLOEM_CAUSE_GRID_SIGNAL);
	ASSERT_GE(s, 0);
	/* the lowest priority first, within one mains cycle of the contact */
	EXPECT_EQ(SIM_EV, m->ev[s].ev.relay);
	EXPECT_LE(m->ev[s].t - t0, 20 * MS);
	EXPECT_EQ(t0, m->ev[s].ev.trigger_ns);
	EXPECT_LE(import_mw(m), CAP_MW);
	/* one relay was enough: no second step */
	sim_run_ms(m, 500);
	EXPECT_EQ(1, sim_count(m, i0, PHLOEM_EV_SHED));
	EXPECT_LE(m->cyc.chan[SIM_ISITE].p_mw, (int32_t)CAP_MW);
	sim_status(m, &st);
	EXPECT_EQ(K1, st.signal_state);
	EXPECT_EQ(CAP_MW, st.import_cap_mw);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_GRID_SIGNAL);
	sim_del(m);
}

TEST(cap_steps_until_under)
{
	struct sim *m = house();
	uint64_t prev = 0, t0;
	int i0, e, n = 0;

	m->relay_a[SIM_EV] = 2;
	m->relay_a[SIM_HEATER] = 5;
	m->relay_a[SIM_DRYER] = 5;
	m->relay_a[SIM_OVEN] = 8;
	ASSERT_TRUE(sim_settle(m));
	sim_run_ms(m, 200);
	/* 26.5 A, 6.1 kW: the ev's estimate (the kitchen, 12.5 A) misleads */
	i0 = m->nev;
	m->lines = K1;
	t0 = m->ns;
	sim_run_ms(m, 300);
	for (e = sim_find(m, i0, PHLOEM_EV_SHED); e >= 0;
	     e = sim_find(m, e + 1, PHLOEM_EV_SHED), n++) {
		EXPECT_EQ(PHLOEM_CAUSE_GRID_SIGNAL, m->ev[e].ev.cause);
		EXPECT_NE(SIM_FRIDGE, m->ev[e].ev.relay);
		/* a step only on a whole cycle measured after the last */
		if (prev)
			EXPECT_GE(m->ev[e].t - prev, 20 * MS);
		prev = m->ev[e].t;
	}
	TH_LOG("%d steps, the last %llu ms after the contact", n,
	       (unsigned long long)((prev - t0) / MS));
	EXPECT_GE(n, 2);
	EXPECT_LE(prev - t0, 100 * MS);
	EXPECT_LE(import_mw(m), CAP_MW);
	EXPECT_LE(m->cyc.chan[SIM_ISITE].p_mw, (int32_t)CAP_MW);
	sim_del(m);
}

TEST(bounce_does_not_flap)
{
	struct sim *m = house();
	int i0, k;

	ASSERT_TRUE(sim_settle(m));
	i0 = m->nev;
	/* a contact that bounces 1 ms at a time, shorter than the debounce */
	for (k = 0; k < 20; k++) {
		m->lines = k & 1 ? 0 : K2;
		sim_run_ms(m, 1);
	}
	m->lines = 0;
	sim_run_ms(m, 100);
	EXPECT_EQ(-1, sim_find(m, i0, PHLOEM_EV_SIGNAL));
	EXPECT_EQ(-1, sim_find(m, i0, PHLOEM_EV_SHED));
	/* a bounce that settles counts once */
	for (k = 0; k < 3; k++) {
		m->lines = k & 1 ? 0 : K2;
		sim_run_ms(m, 1);
	}
	m->lines = K2;
	sim_run_ms(m, 100);
	EXPECT_EQ(1, sim_count(m, i0, PHLOEM_EV_SIGNAL));
	sim_del(m);
}

TEST(relays_shed_never_critical_back_by_restore)
{
	struct sim *m = house();
	struct phloem_status st;
	uint64_t t0, t_off, prev = 0;
	int i0, i1, e, n = 0;

	ASSERT_TRUE(sim_settle(m));
	i0 = m->nev;
	m->lines = K2;
	t0 = m->ns;
	sim_run_ms(m, 10);
	/* oven and pump shed at once, the fridge (critical) never */
	EXPECT_EQ(2, sim_count(m, i0, PHLOEM_EV_SHED));
	for (e = sim_find(m, i0, PHLOEM_EV_SHED); e >= 0;
	     e = sim_find(m, e + 1, PHLOEM_EV_SHED)) {
		EXPECT_EQ(PHLOEM_CAUSE_GRID_SIGNAL, m->ev[e].ev.cause);
		EXPECT_LE(m->ev[e].t - t0, (DEBOUNCE_US + 500) * 1000ULL);
	}
	EXPECT_EQ(0, phloem_shed_relays(m->s) & (1U << SIM_OVEN | 1U << SIM_PUMP));
	EXPECT_TRUE(phloem_shed_relays(m->s) & 1U << SIM_FRIDGE);
	/* held while the line is active, far past min_off and the delay */
	sim_run_ms(m, 5000);
	EXPECT_EQ(-1, sim_find(m, i0, PHLOEM_EV_RESTORE));
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_HOLD_SIGNAL, st.hold[SIM_OVEN]);
	EXPECT_EQ(PHLOEM_HOLD_SIGNAL, st.hold[SIM_PUMP]);
	EXPECT_EQ(PHLOEM_RELAY_SHED, st.relay[SIM_OVEN].reason);
	/* the contact opens: back through the restore rules, one at a time */
	i1 = m->nev;
	m->lines = 0;
	t_off = m->ns;
	sim_run_ms(m, 4000);
	e = sim_find(m, i1, PHLOEM_EV_SIGNAL);
	ASSERT_GE(e, 0);
	EXPECT_EQ(0, m->ev[e].ev.value);
	for (e = sim_find(m, i1, PHLOEM_EV_RESTORE); e >= 0;
	     e = sim_find(m, e + 1, PHLOEM_EV_RESTORE), n++) {
		EXPECT_GE(m->ev[e].t - t_off, 1000 * MS);	/* restore delay */
		if (prev)
			EXPECT_GE(m->ev[e].t - prev, 1000 * MS);
		prev = m->ev[e].t;
	}
	EXPECT_EQ(2, n);
	EXPECT_EQ((1U << SIM_NRELAYS) - 1, phloem_shed_relays(m->s));
	sim_del(m);
}

TEST(failsafe_return_keeps_line_relays_off)
{
	struct sim *m = house();
	int i0;

	ASSERT_TRUE(sim_settle(m));
	m->lines = K2;
	sim_run_ms(m, 20);
	i0 = m->nev;
	ASSERT_TRUE(phloem_shed_fault(m->s, SIM_I2, PHLOEM_CAUSE_ADC, m->ns));
	/* the pump's safe state is on: failsafe decides while it lasts */
	EXPECT_TRUE(phloem_shed_relays(m->s) & 1U << SIM_PUMP);
	sim_run_ms(m, 6000);
	ASSERT_GE(sim_find(m, i0, PHLOEM_EV_FAILSAFE_LEAVE), 0);
	/* out of failsafe the line's relays are off again, and stay */
	EXPECT_EQ(0, phloem_shed_relays(m->s) & (1U << SIM_OVEN | 1U << SIM_PUMP));
	EXPECT_EQ((1U << SIM_NRELAYS) - 1 - (1U << SIM_OVEN | 1U << SIM_PUMP),
		  phloem_shed_relays(m->s));
	sim_del(m);
}

TEST(tick_ends_the_debounce)
{
	struct sim *m = house();
	struct phloem_rec_event ev;
	uint64_t t, t0 = m->ns;
	bool got = false;

	/* no samples at all: the lines still count (the watchdog's tick) */
	EXPECT_FALSE(phloem_shed_signal(m->s, K2 | 1U << 3, t0));
	EXPECT_FALSE(phloem_shed_tick(m->s, t0 + DEBOUNCE_US * 1000ULL - 1));
	EXPECT_TRUE(phloem_shed_tick(m->s, t0 + DEBOUNCE_US * 1000ULL));
	while (phloem_shed_pop_event(m->s, &ev, &t))
		if (ev.kind == PHLOEM_EV_SIGNAL) {
			EXPECT_EQ(1, ev.channel);	/* line 3 does not exist */
			EXPECT_EQ(t0, ev.trigger_ns);
			got = true;
		}
	EXPECT_TRUE(got);
	/* unchanged lines: nothing to do */
	EXPECT_FALSE(phloem_shed_signal(m->s, K2, t0 + 10 * MS));
	sim_del(m);
}

TEST(policy_limit_lower_than_cap_wins)
{
	struct sim *m = house();
	struct phloem_status st;

	m->cfg.site_import_limit_mw = 3000000;
	phloem_shed_set_config(m->s, &m->cfg, m->ns);
	m->lines = K1;
	sim_run_ms(m, 10);
	sim_status(m, &st);
	EXPECT_EQ(3000000, st.import_cap_mw);
	/* a policy limit above the cap: the cap is in force */
	m->cfg.site_import_limit_mw = 6000000;
	phloem_shed_set_config(m->s, &m->cfg, m->ns);
	sim_run_ms(m, 10);
	sim_status(m, &st);
	EXPECT_EQ(CAP_MW, st.import_cap_mw);
	m->lines = 0;
	m->cfg.site_import_limit_mw = 0;
	phloem_shed_set_config(m->s, &m->cfg, m->ns);
	sim_run_ms(m, 10);
	sim_status(m, &st);
	EXPECT_EQ(0, st.import_cap_mw);
	EXPECT_EQ(0, st.signal_state);
	sim_del(m);
}

TEST(check_config_signal_fields)
{
	struct sim *m = house();
	struct phloem_config c;

	EXPECT_EQ(0, phloem_shed_check_config(&m->info, &m->cfg));
	c = m->cfg;
	c.signal_debounce_us = PHLOEM_SIGNAL_DEBOUNCE_MAX_US;
	EXPECT_EQ(0, phloem_shed_check_config(&m->info, &c));
	c.signal_debounce_us = PHLOEM_SIGNAL_DEBOUNCE_MAX_US + 1;
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_check_config(&m->info, &c));
	c = m->cfg;
	c.signal_reserved = 1;
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_check_config(&m->info, &c));
	c = m->cfg;
	c.signal[2].import_cap_mw = 1;	/* the house has two lines */
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_check_config(&m->info, &c));
	c = m->cfg;
	c.signal[2].shed_relays = 1;
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_check_config(&m->info, &c));
	c = m->cfg;
	c.signal[0].shed_relays = 1U << SIM_NRELAYS;
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_check_config(&m->info, &c));
	c = m->cfg;
	m->info.nsignals = PHLOEM_MAX_SIGNALS + 1;
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_check_config(&m->info, &c));
	sim_del(m);
}

TEST_HARNESS_MAIN
