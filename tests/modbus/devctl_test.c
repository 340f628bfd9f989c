// SPDX-License-Identifier: GPL-2.0
/*
 * The control rules of agent/phloemd/devctl.c (docs/modbus.md, "Control"):
 * surplus into the battery, peak shaving, the reserve, a full battery,
 * clamping to the rates, the deadband, and PV curtailed to the export limit
 * only for what the battery cannot take.
 */
#include "kselftest_harness.h"
#include "devices.h"

static struct pd_devctl_in batt(int64_t grid_w, int64_t ref_w, int64_t soc_pct)
{
	return (struct pd_devctl_in){
		.grid_mw = grid_w * 1000, .batt = true, .batt_ref_mw = ref_w * 1000,
		.soc_mpct = soc_pct * 1000, .reserve_mpct = 20000,
		.max_charge_mw = 3000000, .max_discharge_mw = 3000000,
	};
}

TEST(surplus_charges_the_battery)
{
	struct pd_devctl_in in = batt(-1500, 0, 50);
	struct pd_devctl_out out;

	pd_devctl_plan(&in, &out);
	ASSERT_TRUE(out.batt_write);
	EXPECT_EQ(-1500000, out.batt_mw);
	/* already charging at 1000 W and still 500 W export: 1500 W */
	in = batt(-500, -1000, 50);
	pd_devctl_plan(&in, &out);
	EXPECT_EQ(-1500000, out.batt_mw);
}

TEST(no_discharge_without_a_reason)
{
	struct pd_devctl_in in = batt(800, 0, 90);
	struct pd_devctl_out out;

	pd_devctl_plan(&in, &out);
	EXPECT_FALSE(out.batt_write);
}

TEST(peak_shaving_worked_example)
{
	/* docs/modbus.md: load 4.2 kW, peak target 2.5 kW, battery at
	 * 600 W already: grid reads 3.6 kW; target 1.7 kW */
	struct pd_devctl_in in = batt(3600, 600, 60);
	struct pd_devctl_out out;

	in.peak_mw = 2500000;
	pd_devctl_plan(&in, &out);
	ASSERT_TRUE(out.batt_write);
	EXPECT_EQ(1700000, out.batt_mw);
	/* next sample: grid at 2.5 kW, battery at 1.7 kW: nothing to do */
	in = batt(2500, 1700, 60);
	in.peak_mw = 2500000;
	pd_devctl_plan(&in, &out);
	EXPECT_FALSE(out.batt_write);
}

TEST(reserve_is_kept)
{
	struct pd_devctl_in in = batt(4000, 0, 20);
	struct pd_devctl_out out;

	in.peak_mw = 1000000;
	pd_devctl_plan(&in, &out);
	EXPECT_FALSE(out.batt_write);
	/* discharging when it reaches the reserve: stopped */
	in = batt(1000, 2000, 19);
	in.peak_mw = 1000000;
	pd_devctl_plan(&in, &out);
	ASSERT_TRUE(out.batt_write);
	EXPECT_EQ(0, out.batt_mw);
	/* charging at the reserve is fine */
	in = batt(-700, 0, 10);
	pd_devctl_plan(&in, &out);
	EXPECT_EQ(-700000, out.batt_mw);
}

TEST(full_battery_takes_no_charge_and_rates_clamp)
{
	struct pd_devctl_in in = batt(-2000, 0, 100);
	struct pd_devctl_out out;

	pd_devctl_plan(&in, &out);
	EXPECT_FALSE(out.batt_write);
	in = batt(-9000, 0, 50);
	pd_devctl_plan(&in, &out);
	EXPECT_EQ(-3000000, out.batt_mw);
	in = batt(9000, 0, 50);
	in.discharge_window = true;
	pd_devctl_plan(&in, &out);
	EXPECT_EQ(3000000, out.batt_mw);
}

TEST(deadband)
{
	struct pd_devctl_in in = batt(-30, -1000, 50);
	struct pd_devctl_out out;

	pd_devctl_plan(&in, &out);
	EXPECT_FALSE(out.batt_write);
}

TEST(pv_curtailed_only_past_the_battery)
{
	struct pd_devctl_in in = {
		.grid_mw = -3000000, .export_limit_mw = 1000000,
		.pv = true, .pv_mw = 4000000, .pv_rating_mw = 5000000, .pv_ref_mpct = 100000,
	};
	struct pd_devctl_out out;

	/* no battery: 3 kW export, 1 kW allowed: PV to 2 kW = 40 % */
	pd_devctl_plan(&in, &out);
	ASSERT_TRUE(out.pv_write);
	EXPECT_EQ(40000, out.pv_mpct);
	/* with a battery taking 1.5 kW (of 3 kW possible): PV to 3.5 kW */
	in.batt = true;
	in.soc_mpct = 50000;
	in.max_charge_mw = in.max_discharge_mw = 1500000;
	pd_devctl_plan(&in, &out);
	EXPECT_EQ(-1500000, out.batt_mw);
	EXPECT_EQ(70000, out.pv_mpct);
	/* curtailed at 40 %, the load rises: release */
	in = (struct pd_devctl_in){
		.grid_mw = 2000000, .export_limit_mw = 1000000,
		.pv = true, .pv_mw = 2000000, .pv_rating_mw = 5000000, .pv_ref_mpct = 40000,
	};
	pd_devctl_plan(&in, &out);
	ASSERT_TRUE(out.pv_write);
	EXPECT_EQ(100000, out.pv_mpct);
	/* under the limit and not curtailed: nothing */
	in.pv_ref_mpct = 100000;
	in.grid_mw = -500000;
	pd_devctl_plan(&in, &out);
	EXPECT_FALSE(out.pv_write);
}

/* ---- several batteries ---- */

/* docs/modbus.md's worked example: A 10 kWh at 80 % (reserve 20 %),
 * B 5 kWh at 50 % (reserve 20 %), C 5 kWh at 20 % (at its reserve). */
static void three(struct pd_devctl_batt b[3])
{
	b[0] = (struct pd_devctl_batt){ 80000, 20000, 10000000, 3000000, 3000000, 0 };
	b[1] = (struct pd_devctl_batt){ 50000, 20000, 5000000, 2000000, 2000000, 0 };
	b[2] = (struct pd_devctl_batt){ 20000, 20000, 5000000, 2000000, 2000000, 0 };
}

TEST(split_discharge_by_energy_above_reserve)
{
	struct pd_devctl_batt b[3];
	int64_t out[3];

	three(b);
	/* above reserve: A 6000 Wh, B 1500 Wh, C none. 2500 W: 2000 / 500 */
	pd_devctl_split(b, 3, 2500000, out);
	EXPECT_EQ(0, out[2]);
	EXPECT_EQ(2500000, out[0] + out[1]);
	EXPECT_LT(llabs(out[0] - 2000000), 1000);
	EXPECT_LT(llabs(out[1] - 500000), 1000);
	/* 4500 W: A's share 3600 W is over its 3000 W rate: A 3000, B the rest */
	pd_devctl_split(b, 3, 4500000, out);
	EXPECT_EQ(3000000, out[0]);
	EXPECT_EQ(1500000, out[1]);
	EXPECT_EQ(0, out[2]);
	/* more than A and B can give: both at their rates, C still nothing */
	pd_devctl_split(b, 3, 9000000, out);
	EXPECT_EQ(3000000, out[0]);
	EXPECT_EQ(2000000, out[1]);
	EXPECT_EQ(0, out[2]);
}

TEST(split_charge_by_room_below_full)
{
	struct pd_devctl_batt b[3];
	int64_t out[3];

	three(b);
	b[0].soc_mpct = 100000;		/* A full */
	/* room: B 2500 Wh, C 4000 Wh: 1300 W charge -> 500 / 800 */
	pd_devctl_split(b, 3, -1300000, out);
	EXPECT_EQ(0, out[0]);
	EXPECT_EQ(-1300000, out[1] + out[2]);
	EXPECT_LT(llabs(out[1] + 500000), 1000);
	EXPECT_LT(llabs(out[2] + 800000), 1000);
	/* zero: everyone zero */
	pd_devctl_split(b, 3, 0, out);
	EXPECT_EQ(0, out[0] | out[1] | out[2]);
}

TEST(several_batteries_as_one)
{
	struct pd_devctl_batt b[3];
	struct pd_devctl_in in = { .grid_mw = 3000000, .peak_mw = 1000000 };
	struct pd_devctl_out out;

	three(b);
	pd_devctl_batteries(b, 3, &in);
	/* C is at its reserve: only A and B may discharge */
	EXPECT_EQ(5000000, in.max_discharge_mw);
	EXPECT_EQ(7000000, in.max_charge_mw);
	pd_devctl_plan(&in, &out);
	ASSERT_TRUE(out.batt_write);
	EXPECT_EQ(2000000, out.batt_mw);	/* 3 kW to a 1 kW peak */
	/* every one at its reserve: no discharge, and the rule says why */
	for (int i = 0; i < 3; i++)
		b[i].soc_mpct = b[i].reserve_mpct;
	pd_devctl_batteries(b, 3, &in);
	pd_devctl_plan(&in, &out);
	EXPECT_FALSE(out.batt_write && out.batt_mw > 0);
	EXPECT_STREQ("at reserve: no discharge", out.why);
	/* all full: no charge from a surplus */
	for (int i = 0; i < 3; i++)
		b[i].soc_mpct = 100000;
	in.grid_mw = -2000000;
	pd_devctl_batteries(b, 3, &in);
	pd_devctl_plan(&in, &out);
	EXPECT_FALSE(out.batt_write);
	/* one battery is itself */
	three(b);
	pd_devctl_batteries(b, 1, &in);
	EXPECT_EQ(80000, in.soc_mpct);
	EXPECT_EQ(20000, in.reserve_mpct);
	EXPECT_EQ(3000000, in.max_discharge_mw);
}

TEST_HARNESS_MAIN
