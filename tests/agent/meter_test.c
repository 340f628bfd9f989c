// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd's metering arithmetic (agent/phloemd/meter_acc.c): aligned
 * intervals, whole Wh per entry with the remainder carried so that nothing
 * is lost over a run, a start in the middle of an interval metered from the
 * start only, counters that go backwards, late readings and clock steps.
 */
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "meter.h"

#define T0	1794999600ull	/* a multiple of 900 s (and of 10 s) */

TEST(steady_intervals_carry_the_remainder)
{
	struct pd_meter_acc a;
	struct pd_meter_interval out;

	ASSERT_EQ(0, pd_meter_init(&a, 10));
	/* started exactly on a boundary: not partial */
	EXPECT_EQ(0u, pd_meter_feed(&a, T0 * 1000, 5000, 100, &out));
	EXPECT_FALSE(a.partial);
	EXPECT_EQ(0u, pd_meter_feed(&a, T0 * 1000 + 5000, 10500, 100, &out));
	/* the boundary read 40 ms late */
	ASSERT_EQ(PD_METER_CLOSED, pd_meter_feed(&a, (T0 + 10) * 1000 + 40, 11750, 1299, &out));
	EXPECT_EQ(T0, out.start);
	EXPECT_EQ(10u, out.len);
	EXPECT_EQ(6u, out.wh_import);		/* 6750 mWh */
	EXPECT_EQ(1u, out.wh_export);		/* 1199 mWh */
	EXPECT_FALSE(out.partial);
	EXPECT_EQ(750u, a.acc_imp);
	EXPECT_EQ(199u, a.acc_exp);
	/* 250 more mWh: with the 750 carried, exactly 1 Wh */
	ASSERT_EQ(PD_METER_CLOSED, pd_meter_feed(&a, (T0 + 20) * 1000, 12000, 1299, &out));
	EXPECT_EQ(T0 + 10, out.start);
	EXPECT_EQ(1u, out.wh_import);
	EXPECT_EQ(0u, out.wh_export);
	EXPECT_EQ(0u, a.acc_imp);
	EXPECT_EQ(199u, a.acc_exp);
}

TEST(start_mid_interval_is_partial)
{
	struct pd_meter_acc a;
	struct pd_meter_interval out;

	ASSERT_EQ(0, pd_meter_init(&a, 900));
	/* a restart 300.5 s into the interval: the counters already hold
	 * energy from before, none of it is ours to claim */
	EXPECT_EQ(0u, pd_meter_feed(&a, (T0 + 300) * 1000 + 500, 123456789, 42, &out));
	EXPECT_TRUE(a.partial);
	EXPECT_EQ(T0, a.start);
	ASSERT_EQ(PD_METER_CLOSED, pd_meter_feed(&a, (T0 + 900) * 1000 + 5, 123456789 + 2500, 42, &out));
	EXPECT_EQ(T0, out.start);		/* still the aligned interval */
	EXPECT_EQ(900u, out.len);
	EXPECT_EQ(2u, out.wh_import);
	EXPECT_TRUE(out.partial);
	/* the next one is whole */
	ASSERT_EQ(PD_METER_CLOSED, pd_meter_feed(&a, (T0 + 1800) * 1000, 123456789 + 5000, 42, &out));
	EXPECT_FALSE(out.partial);
	EXPECT_EQ(3u, out.wh_import);		/* 2500 + 500 carried */
}

TEST(counter_backwards_restarts_the_baseline)
{
	struct pd_meter_acc a;
	struct pd_meter_interval out;

	ASSERT_EQ(0, pd_meter_init(&a, 10));
	pd_meter_feed(&a, T0 * 1000, 50000, 7000, &out);
	pd_meter_feed(&a, T0 * 1000 + 3000, 52000, 7000, &out);
	/* module reloaded: counters from zero */
	EXPECT_EQ(PD_METER_BACKWARDS, pd_meter_feed(&a, T0 * 1000 + 6000, 300, 0, &out));
	EXPECT_TRUE(a.partial);
	EXPECT_EQ(2000u, a.acc_imp);		/* kept; nothing invented */
	EXPECT_EQ(PD_METER_CLOSED, pd_meter_feed(&a, (T0 + 10) * 1000, 1300, 0, &out));
	EXPECT_EQ(3u, out.wh_import);
	EXPECT_TRUE(out.partial);
	/* only the export counter going back is enough */
	pd_meter_feed(&a, (T0 + 12) * 1000, 1400, 5, &out);
	EXPECT_EQ(PD_METER_BACKWARDS, pd_meter_feed(&a, (T0 + 14) * 1000, 1500, 1, &out));
}

TEST(late_reading_and_clock_steps)
{
	struct pd_meter_acc a;
	struct pd_meter_interval out;

	ASSERT_EQ(0, pd_meter_init(&a, 10));
	pd_meter_feed(&a, T0 * 1000, 0, 0, &out);
	/* stopped for 35 s: the gap's energy goes to the interval that was
	 * open, the ones in between get no entry */
	ASSERT_EQ(PD_METER_CLOSED, pd_meter_feed(&a, (T0 + 35) * 1000, 35000, 0, &out));
	EXPECT_EQ(T0, out.start);
	EXPECT_EQ(35u, out.wh_import);
	EXPECT_EQ(T0 + 30, a.start);
	/* the clock steps back 20 s: nothing closes, energy still counts */
	EXPECT_EQ(0u, pd_meter_feed(&a, (T0 + 15) * 1000, 36000, 0, &out));
	EXPECT_EQ(0u, pd_meter_feed(&a, (T0 + 39) * 1000, 37000, 0, &out));
	ASSERT_EQ(PD_METER_CLOSED, pd_meter_feed(&a, (T0 + 40) * 1000, 37000, 0, &out));
	EXPECT_EQ(T0 + 30, out.start);
	EXPECT_EQ(2u, out.wh_import);
	EXPECT_EQ(-1, pd_meter_init(&a, 0));
	EXPECT_EQ(T0 + 10, pd_meter_next_boundary(10, T0));
	EXPECT_EQ(T0 + 10, pd_meter_next_boundary(10, T0 + 9));
}

/* The clean part of the export: min(export, PV) integrated, floored,
 * never above the export, unknown without a PV reading. */
TEST(clean_export_from_pv)
{
	struct pd_meter_acc a;
	struct pd_meter_interval out;

	ASSERT_EQ(0, pd_meter_init(&a, 10));
	pd_meter_clean(&a, 1000, -3000000, 5000000, true);	/* not started: nothing */
	EXPECT_FALSE(a.clean_known);
	pd_meter_feed(&a, T0 * 1000, 0, 0, &out);
	/* 3 kW export, 2 kW PV for 3.6 s: 2 Wh clean; then import: none */
	pd_meter_clean(&a, 3600, -3000000, 2000000, true);
	pd_meter_clean(&a, 3600, 500000, 2000000, true);
	/* 1 kW export, 4 kW PV for 3.6 s: the export, 1 Wh */
	pd_meter_clean(&a, 3600, -1000000, 4000000, true);
	/* PV unknown (device offline): adds nothing */
	pd_meter_clean(&a, 3600, -9000000, 0, false);
	ASSERT_EQ(PD_METER_CLOSED, pd_meter_feed(&a, (T0 + 10) * 1000, 0, 5000, &out));
	EXPECT_TRUE(out.clean_known);
	EXPECT_EQ(5u, out.wh_export);
	EXPECT_EQ(3u, out.wh_clean);
	/* the next interval starts over; without PV its clean part is unknown */
	ASSERT_EQ(PD_METER_CLOSED, pd_meter_feed(&a, (T0 + 20) * 1000, 0, 9000, &out));
	EXPECT_FALSE(out.clean_known);
	EXPECT_EQ(0u, out.wh_clean);
	/* clean never beyond the export that goes on the chain */
	pd_meter_clean(&a, 7200, -2000000, 2000000, true);	/* 4 Wh */
	ASSERT_EQ(PD_METER_CLOSED, pd_meter_feed(&a, (T0 + 30) * 1000, 0, 11500, &out));
	EXPECT_EQ(2u, out.wh_export);		/* 2500 mWh: 2 Wh, 500 carried */
	EXPECT_EQ(2u, out.wh_clean);
}

/* Over a long run with readings at random moments, every mWh counted is in
 * some entry or in the remainder: rounding never loses energy. */
TEST(nothing_lost_over_a_run)
{
	struct pd_meter_acc a;
	struct pd_meter_interval out;
	uint64_t t = T0 * 1000 + 1234, imp = 999, exp = 17, wh_i = 0, wh_e = 0;
	uint64_t imp0 = imp, exp0 = exp, last = 0;
	int closed = 0;

	srand(7);
	ASSERT_EQ(0, pd_meter_init(&a, 10));
	pd_meter_feed(&a, t, imp, exp, &out);
	for (int i = 0; i < 20000; i++) {
		t += 1 + (uint64_t)(rand() % 3000);
		imp += (uint64_t)(rand() % 2000);
		exp += (uint64_t)(rand() % 700);
		if (pd_meter_feed(&a, t, imp, exp, &out) & PD_METER_CLOSED) {
			wh_i += out.wh_import;
			wh_e += out.wh_export;
			EXPECT_EQ(0u, out.start % 10);
			EXPECT_LT(last, out.start);	/* one entry per interval */
			last = out.start;
			closed++;
		}
	}
	EXPECT_LT(1000, closed);
	EXPECT_EQ(imp - imp0, wh_i * 1000 + a.acc_imp);
	EXPECT_EQ(exp - exp0, wh_e * 1000 + a.acc_exp);
}

TEST_HARNESS_MAIN
