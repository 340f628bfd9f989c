// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of the simulated HAT's analog model: kernel/sim/sim_wave.c
 * itself, compiled against tests/sim/shim (a few kernel types and helpers),
 * checked against floating-point and 128-bit references. The VM test
 * (sim-vm.sh) sees the same code only through a shell, 80 samples at a time;
 * here every phase and extreme uptimes are covered.
 */
#include "kselftest_harness.h"

#include <math.h>

#include "../../kernel/sim/sim_wave.c"

#define TURN		4294967296.0	/* 2^32: one mains cycle */
#define MS		1000000ULL

/* round(32767 * sin(2 pi p / 2^32)) */
static int ref_sin(u32 p)
{
	return (int)lround(32767.0 * sin(2.0 * M_PI * (double)p / TURN));
}

/* Angle after dt_ns at f_mhz, 2^32 per turn, exactly (128-bit). */
static u32 ref_advance(u64 dt_ns, u32 f_mhz)
{
	unsigned __int128 x = (unsigned __int128)dt_ns * f_mhz;

	return (u32)((x << 32) / 1000000000000ULL);
}

static int angle_err(u32 a, u32 b)
{
	return abs((int)(s32)(a - b));
}

TEST(sine_matches_libm_everywhere)
{
	int worst = 0;
	u64 p;

	/* Every 2^12th angle: 2^20 points, all four quadrants. */
	for (p = 0; p < (1ULL << 32); p += 1 << 12) {
		int e = abs(phloem_sim_sin_q15((u32)p) - ref_sin((u32)p));

		if (e > worst)
			worst = e;
	}
	TH_LOG("worst error %d / 32767", worst);
	ASSERT_LE(worst, 2);
	ASSERT_EQ(phloem_sim_sin_q15(0), 0);
	ASSERT_EQ(phloem_sim_sin_q15(1U << 30), 32767);
	ASSERT_EQ(phloem_sim_sin_q15(1U << 31), 0);
	ASSERT_EQ(phloem_sim_sin_q15(3U << 30), -32767);
}

TEST(sine_is_odd_and_half_wave_symmetric)
{
	u64 p;

	for (p = 0; p < (1ULL << 32); p += 65537) {
		ASSERT_EQ(phloem_sim_sin_q15((u32)p + (1U << 31)),
			  -phloem_sim_sin_q15((u32)p));
		ASSERT_EQ(phloem_sim_sin_q15(-(u32)p), -phloem_sim_sin_q15((u32)p));
	}
}

TEST(advance_exact_cases)
{
	ASSERT_EQ(phloem_sim_advance(1000 * MS, 50000), 0U);	/* 50 turns */
	ASSERT_EQ(phloem_sim_advance(10 * MS, 50000), 1U << 31);	/* half */
	ASSERT_EQ(phloem_sim_advance(5 * MS, 50000), 1U << 30);	/* quarter */
	ASSERT_EQ(phloem_sim_advance(0, 50000), 0U);
	/* 31 years of uptime, then a quarter cycle: no overflow. */
	ASSERT_EQ(phloem_sim_advance(1000000000000000000ULL + 5 * MS, 50000),
		  1U << 30);
	/* 1 s at 50.001 Hz is 0.001 turn. */
	ASSERT_LE(angle_err(phloem_sim_advance(1000 * MS, 50001), 4294967), 1);
}

TEST(advance_matches_128bit_reference)
{
	u64 seed = 0x9e3779b97f4a7c15ULL;
	int i, worst = 0;

	for (i = 0; i < 200000; i++) {
		u64 dt;
		u32 f;
		int e;

		seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
		dt = seed >> (seed & 63);	/* all magnitudes */
		f = PHLOEM_SIM_FREQ_MIN_MHZ +
		    (u32)(seed % (PHLOEM_SIM_FREQ_MAX_MHZ - PHLOEM_SIM_FREQ_MIN_MHZ + 1));
		e = angle_err(phloem_sim_advance(dt, f), ref_advance(dt, f));
		if (e > worst)
			worst = e;
	}
	TH_LOG("worst error %d / 2^32 turn", worst);
	ASSERT_LE(worst, 2);
}

FIXTURE(hat) {
	struct phloem_sim_hat hat;
};

/* The small house of sim_main.c, angle 0 at t = 0, all relays open. */
FIXTURE_SETUP(hat)
{
	static const u32 scale[PHLOEM_SIM_CHANNELS] = {
		200000, 170000, 70000, 140000, 90000,
	};
	static const unsigned int relay_chan[PHLOEM_SIM_RELAYS] = {
		3, 3, 2, 2, 2, 4, 4, 2,
	};
	struct phloem_sim_hat *h = &self->hat;
	unsigned int i;

	memset(h, 0, sizeof(*h));
	h->nchan = PHLOEM_SIM_CHANNELS_1PH;	/* the single-phase house */
	for (i = 0; i < PHLOEM_SIM_CHANNELS_1PH; i++) {
		h->chan[i].hat = h;
		h->chan[i].index = i;
		h->chan[i].scale_micro = scale[i];
	}
	h->chan[0].rms = 230000;
	for (i = 0; i < PHLOEM_SIM_RELAYS; i++) {
		h->relay[i].hat = h;
		h->relay[i].index = i;
		h->relay[i].chan = relay_chan[i];
	}
	phloem_sim_wave_init(h, 0);
}

FIXTURE_TEARDOWN(hat) {}

#define AT(ms_x10) ((u64)(ms_x10) * MS / 10)	/* tenths of ms */

TEST_F(hat, voltage_peaks_and_crossings)
{
	struct phloem_sim_hat *h = &self->hat;

	/* 230 V * sqrt(2) / 0.2 V = 1626.3 LSB */
	ASSERT_EQ(phloem_sim_wave_sample(h, 0, AT(0)), 2048);
	ASSERT_EQ(phloem_sim_wave_sample(h, 0, AT(50)), 2048 + 1626);
	ASSERT_EQ(phloem_sim_wave_sample(h, 0, AT(100)), 2048);
	ASSERT_EQ(phloem_sim_wave_sample(h, 0, AT(150)), 2048 - 1626);
	ASSERT_EQ(phloem_sim_wave_sample(h, 0, AT(250)), 2048 + 1626);
}

TEST_F(hat, idle_and_unwired_inputs_read_the_bias)
{
	unsigned int c;

	for (c = 1; c < PHLOEM_SIM_ADC_INPUTS; c++)
		ASSERT_EQ(phloem_sim_wave_sample(&self->hat, c, AT(50)), 2048);
}

TEST_F(hat, relay_load_flows_only_while_on_and_sums_at_the_site)
{
	struct phloem_sim_hat *h = &self->hat;

	h->relay[3].load_ma = 5000;	/* oven, kitchen */
	ASSERT_EQ(phloem_sim_wave_sample(h, 2, AT(50)), 2048);
	h->lines = (1UL << 3);
	/* 5 A * sqrt(2) / 70 mA = 101.0; / 170 mA = 41.6 */
	ASSERT_EQ(phloem_sim_wave_sample(h, 2, AT(50)), 2048 + 101);
	ASSERT_EQ(phloem_sim_wave_sample(h, 1, AT(50)), 2048 + 42);
	ASSERT_EQ(phloem_sim_wave_sample(h, 3, AT(50)), 2048);
	/* Garage base 8 A adds at the site: (5 + 8) A * sqrt(2) / 170 mA */
	h->chan[3].rms = 8000;
	ASSERT_EQ(phloem_sim_wave_sample(h, 1, AT(50)), 2048 + 108);
	ASSERT_EQ(phloem_sim_wave_sample(h, 3, AT(50)), 2048 + 81);
}

TEST_F(hat, phase_lags_the_voltage)
{
	struct phloem_sim_hat *h = &self->hat;

	h->chan[2].rms = 10000;
	h->chan[2].phase_mdeg = 90000;	/* lags by 5 ms at 50 Hz */
	ASSERT_EQ(phloem_sim_wave_sample(h, 2, AT(50)), 2048);
	ASSERT_EQ(phloem_sim_wave_sample(h, 2, AT(100)), 2048 + 202);
	h->chan[2].phase_mdeg = -90000;	/* leads */
	ASSERT_EQ(phloem_sim_wave_sample(h, 2, AT(0)), 2048 + 202);
}

TEST_F(hat, harmonics)
{
	struct phloem_sim_hat *h = &self->hat;

	h->chan[2].rms = 10000;
	h->chan[2].h3_pct = 100;	/* sin x + sin 3x: 0 at the crest */
	ASSERT_EQ(phloem_sim_wave_sample(h, 2, AT(50)), 2048);
	h->chan[2].h3_pct = 0;
	h->chan[2].h5_pct = 50;		/* sin x + sin 5x / 2 at 90 deg */
	ASSERT_EQ(phloem_sim_wave_sample(h, 2, AT(50)), 2048 + 303);
}

TEST_F(hat, clips_at_the_rails)
{
	struct phloem_sim_hat *h = &self->hat;

	h->chan[2].rms = 400000;
	ASSERT_EQ(phloem_sim_wave_sample(h, 2, AT(50)), 4095);
	ASSERT_EQ(phloem_sim_wave_sample(h, 2, AT(150)), 0);
}

TEST_F(hat, fault_fails_only_its_input)
{
	struct phloem_sim_hat *h = &self->hat;

	h->chan[3].fault = true;
	ASSERT_EQ(phloem_sim_wave_sample(h, 3, AT(50)), -EIO);
	ASSERT_EQ(phloem_sim_wave_sample(h, 0, AT(50)), 2048 + 1626);
}

TEST_F(hat, step_applies_from_its_instant)
{
	struct phloem_sim_hat *h = &self->hat;

	h->chan[2].step.value = 10000;
	h->chan[2].step.at_ns = AT(249);
	h->chan[2].step.armed = true;
	ASSERT_EQ(phloem_sim_wave_sample(h, 2, AT(50)), 2048);
	ASSERT_TRUE(h->chan[2].step.armed);
	ASSERT_EQ(phloem_sim_wave_sample(h, 2, AT(250)), 2048 + 202);
	ASSERT_FALSE(h->chan[2].step.armed);
	ASSERT_EQ(h->chan[2].rms, 10000U);

	h->lines = (1UL << 0);		/* ev, garage */
	h->relay[0].step.value = 7000;
	h->relay[0].step.at_ns = AT(300);
	h->relay[0].step.armed = true;
	phloem_sim_wave_apply_steps(h, AT(299));
	ASSERT_EQ(h->relay[0].load_ma, 0U);
	ASSERT_EQ(phloem_sim_wave_sample(h, 3, AT(450)), 2048 + 71);
	ASSERT_EQ(phloem_sim_wave_sample(h, 3, AT(350)), 2048 - 71);
}

TEST_F(hat, frequency_change_keeps_the_angle)
{
	struct phloem_sim_hat *h = &self->hat;
	int before = phloem_sim_wave_sample(h, 0, AT(33));

	phloem_sim_wave_set_freq(h, 60000, AT(33));
	ASSERT_EQ(phloem_sim_wave_sample(h, 0, AT(33)), before);
	/* A 60 Hz cycle later, the same value again. */
	ASSERT_LE(abs(phloem_sim_wave_sample(h, 0, AT(33) + 50000000 / 3) - before), 1);
	/* Half a 60 Hz cycle later, the opposite. */
	ASSERT_LE(abs(phloem_sim_wave_sample(h, 0, AT(33) + 25000000 / 3) -
		      (4096 - before)), 1);
}

/* A ramp as sim_debugfs.c starts one: from the frequency now, at a rate */
static void start_ramp(struct phloem_sim_hat *h, s32 mhz_s, u32 to, u64 now)
{
	h->ramp_to_mhz = to;
	h->ramp_from_mhz = h->freq_mhz;
	h->ramp_ns = now;
	h->ramp_mhz_s = mhz_s;
}

TEST_F(hat, ramp_follows_its_rate_and_stops_at_its_target)
{
	struct phloem_sim_hat *h = &self->hat;

	ASSERT_EQ(h->freq_mhz, 50000U);
	start_ramp(h, -1000, 49500, 0);		/* 1 Hz/s down to 49.5 Hz */
	phloem_sim_wave_apply_steps(h, 100 * MS);
	ASSERT_EQ(h->freq_mhz, 49900U);
	phloem_sim_wave_apply_steps(h, 250 * MS);
	ASSERT_EQ(h->freq_mhz, 49750U);
	ASSERT_EQ(h->ramp_mhz_s, -1000);
	phloem_sim_wave_apply_steps(h, 500 * MS);
	ASSERT_EQ(h->freq_mhz, 49500U);
	ASSERT_EQ(h->ramp_mhz_s, 0);		/* arrived: reads 0 */
	phloem_sim_wave_apply_steps(h, 900 * MS);
	ASSERT_EQ(h->freq_mhz, 49500U);		/* and stays */

	start_ramp(h, 2500, 50000, 1000 * MS);	/* back up at 2.5 Hz/s */
	phloem_sim_wave_apply_steps(h, 1100 * MS);
	ASSERT_EQ(h->freq_mhz, 49750U);
	phloem_sim_wave_apply_steps(h, 5000 * MS);	/* overshoot in time */
	ASSERT_EQ(h->freq_mhz, 50000U);
	ASSERT_EQ(h->ramp_mhz_s, 0);
}

TEST_F(hat, ramp_keeps_the_waveform_continuous)
{
	struct phloem_sim_hat *h = &self->hat;
	u64 t;
	int prev = phloem_sim_wave_sample(h, 0, 0), worst = 0;

	start_ramp(h, -5000, 47000, 0);
	/* 4 kHz for 1 s: no jump bigger than 250 us of a 50 Hz sine allows */
	for (t = 250000; t <= 1000 * MS; t += 250000) {
		int v = phloem_sim_wave_sample(h, 0, t);

		if (abs(v - prev) > worst)
			worst = abs(v - prev);
		prev = v;
	}
	/* 325 V peak, 2 pi 50 Hz * 250 us = 0.0785 rad: <= 25.5 V = 128 LSB */
	ASSERT_LE(worst, 130);
	ASSERT_EQ(h->freq_mhz, 47000U);
}

TEST_F(hat, noise_stays_within_its_bound_on_the_voltage_only)
{
	struct phloem_sim_hat *h = &self->hat;
	int i, lo = 0, hi = 0;

	h->noise_lsb = 3;
	for (i = 0; i < 2000; i++) {
		/* at a zero crossing of the voltage (angle 0, t = k * 20 ms) */
		int d = phloem_sim_wave_sample(h, 0, (u64)i * 20 * MS) - 2048;

		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	ASSERT_GE(lo, -3);
	ASSERT_LE(hi, 3);
	ASSERT_LT(lo, 0);	/* both signs seen: it is noise, not an offset */
	ASSERT_GT(hi, 0);
	/* the current inputs are not noised: an idle one reads the bias */
	ASSERT_EQ(phloem_sim_wave_sample(h, 2, 5 * MS), 2048);
}

TEST_HARNESS_MAIN
