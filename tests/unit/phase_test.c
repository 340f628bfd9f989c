// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Host unit tests of the phase rules (docs/shedding.md "Phases"): a
 * phase's current above its limit, and the phases' imbalance, through the
 * closed-loop simulated HAT of shed_sim.c wired as a three-phase house.
 *
 * The house: L1..L3 on v0..v2, one site CT per phase at the incomer
 * (i0 on L1 is circuit 0's own channel; i3 on L2 and i4 on L3 are circuit
 * 0's extra CTs). The kitchen (ev 4 A priority 10, heater 4 A 20, dryer
 * 3 A 30, fridge 1 A critical) is on L1, the garage (oven 6 A 40, pump 1 A
 * 50) on L2; 1 A of unswitched load on each phase, 0.5 A on each circuit:
 * L1 13.5 A, L2 8.5 A, L3 1 A.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "shed_sim.h"

#define MS		1000000ULL
#define GRACE_MS	2000U

/* shed_sim's three-phase house, with the phase rules' grace of the tests */
static struct sim *house3(void)
{
	struct sim *m = sim_new(50, 4000);

	sim_three_phase(m);
	m->cfg.phase_grace_ms = GRACE_MS;
	return m;
}

TEST(single_phase_unchanged)
{
	struct sim *m = sim_new(50, 4000);
	struct phloem_status st;
	struct phloem_config c;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_status(m, &st);
	/* the site CT is L1's; L2 and L3 have none */
	EXPECT_EQ(PHLOEM_PHASE_OK, st.phase_state[0]);
	EXPECT_EQ(PHLOEM_PHASE_NONE, st.phase_state[1]);
	EXPECT_EQ(PHLOEM_PHASE_NONE, st.phase_state[2]);
	EXPECT_EQ(st.circuit[0].irms_ma, st.phase_ma[0]);
	EXPECT_EQ(0, st.phase_ma[1]);
	EXPECT_EQ(0, st.imbalance_ma);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_PHASE);
	/* a limit only where there is a CT; no imbalance with one phase */
	c = m->cfg;
	c.phase_limit_ma[0] = 20000;
	EXPECT_EQ(0, phloem_shed_check_config(&m->info, &c));
	c.phase_limit_ma[1] = 20000;
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_check_config(&m->info, &c));
	c = m->cfg;
	c.imbalance_ma = 20000;
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_check_config(&m->info, &c));
	c = m->cfg;
	c.imbalance_mva = 4600000;
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_check_config(&m->info, &c));
	sim_del(m);
}

TEST(check_config_phase_fields)
{
	struct sim *m = house3();
	struct phloem_config c = m->cfg;

	c.phase_limit_ma[0] = c.phase_limit_ma[1] = c.phase_limit_ma[2] = 63000;
	c.imbalance_ma = 20000;
	c.imbalance_mva = 4600000;
	c.phase_grace_ms = PHLOEM_PHASE_GRACE_MAX_MS;
	EXPECT_EQ(0, phloem_shed_check_config(&m->info, &c));
	c.phase_limit_ma[2] = 63001;	/* above the site's rating */
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_check_config(&m->info, &c));
	c.phase_limit_ma[2] = 63000;
	c.imbalance_ma = 63001;
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_check_config(&m->info, &c));
	c.imbalance_ma = 20000;
	c.phase_grace_ms = PHLOEM_PHASE_GRACE_MAX_MS + 1;
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_check_config(&m->info, &c));
	/* L3's CT gone: no limit on it, the imbalance still has two */
	c.phase_grace_ms = 0;
	m->info.chan[SIM3_ISITE3].circuit = PHLOEM_NONE;
	EXPECT_EQ(PHLOEM_SHED_EINVAL, phloem_shed_check_config(&m->info, &c));
	c.phase_limit_ma[2] = 0;
	EXPECT_EQ(0, phloem_shed_check_config(&m->info, &c));
	sim_del(m);
}

TEST(off_by_default_status_measures)
{
	struct sim *m = house3();
	struct phloem_status st;
	uint32_t p;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_run_ms(m, 10000);
	EXPECT_EQ(0, sim_count(m, 0, PHLOEM_EV_SHED));
	sim_status(m, &st);
	for (p = 0; p < 3; p++) {
		double a = sim_phase_a(m, p);

		EXPECT_EQ(PHLOEM_PHASE_OK, st.phase_state[p]);
		EXPECT_LE(fabs(st.phase_ma[p] / 1000.0 - a), 0.05 * a + 0.05);
		/* unity power factor: S = V I */
		EXPECT_LE(fabs(st.phase_mva[p] / 1e6 - 0.230 * a),
			  0.05 * 0.230 * a + 0.02);
		TH_LOG("L%u: %u mA (%.2f A), %u mVA", p + 1, st.phase_ma[p], a,
		       st.phase_mva[p]);
	}
	EXPECT_EQ(st.phase_ma[0] - st.phase_ma[2], st.imbalance_ma);
	EXPECT_EQ(st.phase_mva[0] - st.phase_mva[2], st.imbalance_mva);
	EXPECT_LE(abs((int)st.imbalance_ma - 12500), 600);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_PHASE);
	sim_del(m);
}

/*
 * The site's net power on a three-phase site is every phase's CT, not L1's
 * alone: 13.5 + 8.5 + 1 A at 230 V is 5.29 kW, L1 3.1 kW. Up to d7dffb1
 * the site import rule and site_p_mw read L1 only, and a 4 kW import
 * limit never shed.
 */
TEST(site_import_sums_the_phases)
{
	struct sim *m = house3();
	struct phloem_status st;
	double want = 0;
	int i0, e;
	uint32_t p;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	for (p = 0; p < 3; p++)
		want += sim_phase_a(m, p) * m->vrms;
	sim_run_ms(m, 100);
	sim_status(m, &st);
	EXPECT_LE(fabs(st.site_p_mw / 1000.0 - want), 0.03 * want)
		TH_LOG("site %d mW, want %.0f W", st.site_p_mw, want);
	m->cfg.site_import_limit_mw = 4000000;
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	i0 = m->nev;
	sim_run_ms(m, m->cfg.site_import_grace_ms + 500);
	e = sim_find_cause(m, i0, PHLOEM_EV_SHED, PHLOEM_CAUSE_SITE_IMPORT);
	ASSERT_GE(e, 0);
	EXPECT_EQ(4000000, m->ev[e].ev.limit);
	EXPECT_GT(m->ev[e].ev.value, 4000000);
	/* the ev first (priority 10) */
	EXPECT_EQ(SIM_EV, m->ev[e].ev.relay);
	sim_del(m);
}

/*
 * Circuit 0's thermal rule heats by its most loaded phase, and sheds that
 * phase's relays: L2 at 73.5 A on the 63 A incomer (L1 13.5 A). Up to
 * d7dffb1 it heated by L1's CT alone and stayed cold.
 */
TEST(site_thermal_hot_phase)
{
	struct sim *m = house3();
	struct phloem_status st;
	int i0, e;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	i0 = m->nev;
	m->phase_a[1] = 66;
	sim_run_ms(m, 10000);
	sim_status(m, &st);
	/* x^2 - 1 = 0.36: 10 s is 6 % of the 60 s budget */
	EXPECT_GE(st.circuit[0].heat_permille, 45);
	EXPECT_LE(st.circuit[0].heat_permille, 75);
	e = -1;
	while (e < 0 && sim_now_ms(m) < 200000) {
		sim_run_ms(m, 1000);
		e = sim_find_cause(m, i0, PHLOEM_EV_SHED, PHLOEM_CAUSE_THERMAL);
	}
	ASSERT_GE(e, 0);
	EXPECT_EQ(0, m->ev[e].ev.circuit);
	EXPECT_EQ(SIM3_ISITE2, m->ev[e].ev.channel);
	/* L2's relays by priority: the oven (40), not L1's ev (10) */
	EXPECT_EQ(SIM_OVEN, m->ev[e].ev.relay);
	EXPECT_GT(m->ev[e].ev.value, 63000);
	sim_del(m);
}

/* L2 over its limit: its relays by priority, never L1's lower ones */
TEST(phase_limit_sheds_its_phase)
{
	struct sim *m = house3();
	struct phloem_status st;
	int i0, o, e;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	m->cfg.phase_limit_ma[1] = 7000;	/* L2 draws 8.5 A */
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	i0 = m->nev;
	sim_run_ms(m, 100);
	o = sim_find_cause(m, i0, PHLOEM_EV_OVERLOAD, PHLOEM_CAUSE_PHASE);
	ASSERT_GE(o, 0);
	EXPECT_EQ(SIM3_ISITE2, m->ev[o].ev.channel);
	EXPECT_EQ(7000, m->ev[o].ev.limit);
	EXPECT_GT(m->ev[o].ev.value, 7000);
	sim_run_ms(m, GRACE_MS + 500);
	e = sim_find_cause(m, i0, PHLOEM_EV_SHED, PHLOEM_CAUSE_PHASE);
	ASSERT_GE(e, 0);
	/* the oven (40) before the pump (50); the ev (10) is on L1 */
	EXPECT_EQ(SIM_OVEN, m->ev[e].ev.relay);
	EXPECT_EQ(SIM3_ISITE2, m->ev[e].ev.channel);
	EXPECT_GE(m->ev[e].t - m->ev[o].t, GRACE_MS * MS);
	EXPECT_LE(m->ev[e].t - m->ev[o].t, GRACE_MS * MS + 25 * MS);
	sim_run_ms(m, 5000);
	EXPECT_EQ(1, sim_count_cause(m, i0, PHLOEM_EV_SHED, PHLOEM_CAUSE_PHASE));
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_RELAY_SHED, st.relay[SIM_OVEN].reason);
	EXPECT_TRUE(st.relay[SIM_EV].on);
	EXPECT_EQ(PHLOEM_PHASE_OK, st.phase_state[1]);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_PHASE);
	/* 2.5 A + 6 A is above 80 % of 7 A: held by its phase */
	EXPECT_EQ(PHLOEM_HOLD_PHASE, st.hold[SIM_OVEN]);
	sim_del(m);
}

/*
 * A relay shed by a phase rule stays off while its phase would be above
 * the restore threshold with it, and comes back once there is room.
 */
TEST(phase_restore_waits_for_its_phase)
{
	struct sim *m = house3();
	struct phloem_status st;
	int r0;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	m->cfg.phase_limit_ma[1] = 7000;
	m->cfg.circuit[2].max_hold_s = 30;
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	sim_run_ms(m, GRACE_MS + 500);
	sim_status(m, &st);
	ASSERT_EQ(PHLOEM_RELAY_SHED, st.relay[SIM_OVEN].reason);
	/* the garage's base load goes: L2 2 A + 6 A is still above 5.6 A */
	m->base_a[2] = 0;
	sim_run_ms(m, 10000);
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_RELAY_SHED, st.relay[SIM_OVEN].reason);
	EXPECT_EQ(PHLOEM_HOLD_PHASE, st.hold[SIM_OVEN]);
	EXPECT_EQ(0, sim_count(m, 0, PHLOEM_EV_RESTORE) -
		     sim_count_cause(m, 0, PHLOEM_EV_RESTORE, PHLOEM_CAUSE_NONE));
	/*
	 * The oven draws 3.5 A now: its estimate (6 A) still does not fit,
	 * its attempt at the end of the garage's max hold does, and it stays
	 * (2 A + 3.5 A is under 7 A).
	 */
	m->relay_a[SIM_OVEN] = 3.5;
	r0 = m->nev;
	sim_run_ms(m, 60000);
	EXPECT_GE(sim_find_cause(m, r0, PHLOEM_EV_RESTORE, PHLOEM_CAUSE_HOLD), 0);
	EXPECT_EQ(-1, sim_find_cause(m, r0, PHLOEM_EV_SHED, PHLOEM_CAUSE_PHASE));
	sim_status(m, &st);
	EXPECT_TRUE(st.relay[SIM_OVEN].on);
	sim_del(m);
}

/*
 * L1 13.5 A, L3 1 A: 12.5 A apart, above 8 A. The rule sheds from L1, by
 * priority: the ev (10) first, though the oven on L2 is made the lowest
 * priority of all, and never the oven.
 */
TEST(imbalance_sheds_most_loaded_phase)
{
	struct sim *m = house3();
	struct phloem_status st;
	int o, e, n = 0;
	uint64_t prev = 0;

	m->cfg.imbalance_ma = 8000;
	m->cfg.relay[SIM_OVEN].priority = 5;
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	o = sim_find_cause(m, 0, PHLOEM_EV_OVERLOAD, PHLOEM_CAUSE_IMBALANCE);
	ASSERT_GE(o, 0);
	EXPECT_EQ(SIM3_ISITE1, m->ev[o].ev.channel);
	EXPECT_EQ(8000, m->ev[o].ev.limit);
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_PHASE_HEAVY, st.phase_state[0]);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_PHASE);
	sim_run_ms(m, 3 * GRACE_MS + 500);
	for (e = sim_find_cause(m, 0, PHLOEM_EV_SHED, PHLOEM_CAUSE_IMBALANCE);
	     e >= 0; e = sim_find_cause(m, e + 1, PHLOEM_EV_SHED,
				    PHLOEM_CAUSE_IMBALANCE), n++) {
		EXPECT_NE(SIM_OVEN, m->ev[e].ev.relay);
		EXPECT_NE(SIM_PUMP, m->ev[e].ev.relay);
		EXPECT_EQ(SIM3_ISITE1, m->ev[e].ev.channel);
		if (prev)
			EXPECT_GE(m->ev[e].t - prev, GRACE_MS * MS);
		prev = m->ev[e].t;
	}
	/* ev off: 9.5 A against 1 A, still over; heater off: 5.5 A */
	EXPECT_EQ(2, n);
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_RELAY_SHED, st.relay[SIM_EV].reason);
	EXPECT_EQ(PHLOEM_RELAY_SHED, st.relay[SIM_HEATER].reason);
	EXPECT_TRUE(st.relay[SIM_OVEN].on);
	EXPECT_LE(st.imbalance_ma, 8000);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_PHASE);
	sim_del(m);
}

/*
 * A phase without a site CT has no phase rule: the garage moved to L3,
 * whose incomer CT is not fitted. L1 13.5 A against L2 1 A: the imbalance
 * sheds from L1 only, never the garage's oven (made the lowest priority),
 * and L3 is reported unmeasured.
 */
TEST(unmeasured_phase_untouched)
{
	struct sim *m = house3();
	struct phloem_status st;
	int e;

	m->info.chan[SIM3_ISITE3].circuit = PHLOEM_NONE;
	m->info.chan[SIM3_IGARAGE].phase = SIM3_V3;
	m->cfg.imbalance_ma = 8000;
	m->cfg.relay[SIM_OVEN].priority = 5;
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_run_ms(m, 3 * GRACE_MS + 500);
	for (e = sim_find_cause(m, 0, PHLOEM_EV_SHED, PHLOEM_CAUSE_IMBALANCE);
	     e >= 0; e = sim_find_cause(m, e + 1, PHLOEM_EV_SHED,
				    PHLOEM_CAUSE_IMBALANCE))
		EXPECT_EQ(1, m->cfg.relay[m->ev[e].ev.relay].circuit);
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_PHASE_NONE, st.phase_state[2]);
	EXPECT_TRUE(st.relay[SIM_OVEN].on);
	EXPECT_EQ(PHLOEM_RELAY_SHED, st.relay[SIM_EV].reason);
	sim_del(m);
}

/* the same in apparent power only: 4.6 kVA at 230 V is 20 A */
TEST(imbalance_va)
{
	struct sim *m = house3();
	int e;

	m->cfg.imbalance_mva = 2000000;	/* 2 kVA: 8.7 A at 230 V */
	m->cfg.relay[SIM_OVEN].priority = 5;
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_run_ms(m, GRACE_MS + 500);
	e = sim_find_cause(m, 0, PHLOEM_EV_SHED, PHLOEM_CAUSE_IMBALANCE_VA);
	ASSERT_GE(e, 0);
	EXPECT_EQ(SIM_EV, m->ev[e].ev.relay);
	EXPECT_EQ(2000000, m->ev[e].ev.limit);
	EXPECT_GT(m->ev[e].ev.value, 2000000);
	EXPECT_EQ(-1, sim_find_cause(m, 0, PHLOEM_EV_SHED, PHLOEM_CAUSE_IMBALANCE));
	sim_del(m);
}

/*
 * Restores respect the imbalance: a relay of the heavy phase comes back
 * only when its phase, with its load, stays within the restore threshold
 * (80 % of 8 A) of the lightest phase; held with PHLOEM_HOLD_PHASE until.
 */
TEST(imbalance_restore_waits_for_the_light_phase)
{
	struct sim *m = house3();
	struct phloem_status st;
	int r0;

	m->cfg.imbalance_ma = 8000;
	m->cfg.restore_delay_ms = 500;
	m->relay_a[SIM_HEATER] = 2;	/* L1 11.5 A: one shed is enough */
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_run_ms(m, GRACE_MS + 500);
	sim_status(m, &st);
	ASSERT_EQ(PHLOEM_RELAY_SHED, st.relay[SIM_EV].reason);
	ASSERT_EQ(1, sim_count_cause(m, 0, PHLOEM_EV_SHED, PHLOEM_CAUSE_IMBALANCE));
	/* 7.5 A on L1 against 1 A: no room for 4 A more */
	r0 = m->nev;
	sim_run_ms(m, 20000);
	sim_status(m, &st);
	EXPECT_EQ(PHLOEM_RELAY_SHED, st.relay[SIM_EV].reason);
	EXPECT_EQ(PHLOEM_HOLD_PHASE, st.hold[SIM_EV]);
	EXPECT_EQ(-1, sim_find_cause(m, r0, PHLOEM_EV_RESTORE,
				 PHLOEM_CAUSE_HEADROOM));
	EXPECT_EQ(PHLOEM_PHASE_FULL, st.phase_state[0]);
	/* L3 takes 6 A: 7.5 + 4 A against 7 A is within 6.4 A */
	m->phase_a[2] = 7;
	sim_run_ms(m, 5000);
	sim_status(m, &st);
	EXPECT_TRUE(st.relay[SIM_EV].on);
	EXPECT_GE(sim_find_cause(m, r0, PHLOEM_EV_RESTORE, PHLOEM_CAUSE_HEADROOM),
		  0);
	EXPECT_EQ(PHLOEM_PHASE_OK, st.phase_state[0]);
	sim_del(m);
}

/* a failsafe ends the episodes; they open again from the measurements */
TEST(failsafe_ends_episodes)
{
	struct sim *m = house3();
	struct phloem_status st;

	m->cfg.imbalance_ma = 8000;
	m->cfg.phase_grace_ms = 60000;
	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	sim_status(m, &st);
	ASSERT_TRUE(st.state & PHLOEM_STATE_F_PHASE);
	phloem_shed_fault(m->s, SIM3_ISITE2, PHLOEM_CAUSE_ADC, m->ns);
	sim_status(m, &st);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_PHASE);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_FAILSAFE);
	ASSERT_TRUE(sim_settle(m));
	sim_status(m, &st);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_PHASE);
	sim_del(m);
}

/* a new configuration turns the rule on and off */
TEST(config_on_and_off)
{
	struct sim *m = house3();
	struct phloem_config got;
	struct phloem_status st;

	sim_start(m);
	ASSERT_TRUE(sim_settle(m));
	m->cfg.imbalance_ma = 8000;
	m->cfg.phase_grace_ms = 0;
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	phloem_shed_get_config(m->s, &got);
	EXPECT_EQ(0, memcmp(&got, &m->cfg, sizeof(got)));
	sim_run_ms(m, 100);
	/* no grace: a step per measured cycle, 25 ms apart at least */
	EXPECT_EQ(2, sim_count_cause(m, 0, PHLOEM_EV_SHED, PHLOEM_CAUSE_IMBALANCE));
	m->cfg.imbalance_ma = 0;
	ASSERT_EQ(0, phloem_shed_set_config(m->s, &m->cfg, m->ns));
	sim_run_ms(m, 100);
	sim_status(m, &st);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_PHASE);
	sim_del(m);
}

TEST_HARNESS_MAIN
