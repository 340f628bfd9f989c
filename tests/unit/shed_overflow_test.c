// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Arithmetic limits of the shedding unit (kernel/shed.c) at the edges of
 * what phloem_shed_check_config() accepts. Built with UBSan and
 * -fno-sanitize-recover: a signed overflow aborts the test.
 *
 *  - calibration: a 24-bit channel at scale_uunit 100000000 (100 V or A per
 *    step, both accepted) read at full scale; the calibrated product
 *    (r - off) * gain needs 2^24 * 2^40.6 and wrapped a signed 64-bit
 *    multiply;
 *  - power sum: a cycle held open by crossings that each land just past
 *    the cycle deadline summed full-scale v*i products for ever and wrapped
 *    the signed per-cycle power sum (and the unsigned square sums).
 *
 * Topology: v0 (voltage), i0 (site current, circuit 0), no relays.
 */
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "kernel/shed.h"

#define MS	1000000ULL
#define T0	1000000000ULL
/* the calibrated clamp, in mV or mA: (2^26 - 1) / 16, rounded */
#define XMAX_MILLI	4194304U

static struct phloem_shed *unit_new(uint32_t bits, uint32_t scale,
				    uint32_t off)
{
	struct phloem_info info;
	struct phloem_config cfg;
	struct phloem_shed *s;
	uint32_t i;

	memset(&info, 0, sizeof(info));
	memset(&cfg, 0, sizeof(cfg));
	info.nchannels = 2;
	info.ncircuits = 1;
	info.nrelays = 0;
	info.mains_hz = 50;
	info.chan[0].kind = PHLOEM_CHAN_VOLTAGE;
	info.chan[0].phase = 0;
	info.chan[0].circuit = PHLOEM_NONE;
	info.chan[1].kind = PHLOEM_CHAN_CURRENT;
	info.chan[1].phase = 0;
	info.chan[1].circuit = 0;
	info.circuit[0].channel = 1;
	info.circuit[0].curve = PHLOEM_CURVE_D;
	info.circuit[0].rating_ma = 4000000000U;
	for (i = 0; i < 2; i++) {
		info.chan[i].bits = (uint8_t)bits;
		cfg.cal[i].scale_uunit = scale;
		cfg.cal[i].offset_lsb = off;
	}
	cfg.size = sizeof(cfg);
	cfg.sample_rate_hz = 1000;
	cfg.stale_ms = 10000;
	cfg.nchannels = 2;
	cfg.ncircuits = 1;
	cfg.circuit[0].limit_ma = 4000000000U;
	cfg.circuit[0].inst_pct = 1000;
	cfg.circuit[0].thermal_pct = 90;
	cfg.circuit[0].restore_pct = 80;
	if (phloem_shed_check_config(&info, &cfg))
		return NULL;
	s = calloc(1, phloem_shed_size());
	phloem_shed_init(s, &info, &cfg, T0);
	return s;
}

/*
 * 24 bits, 100 V (A) per step, offset 0: full scale is 1.6 GV, far past the
 * clamp; a 50 Hz square wave between code 0 and the top code reads as
 * +-4194.304 V and A, and the cycle records say so.
 */
TEST(calibration_24bit_full_scale)
{
	struct phloem_shed *s = unit_new(24, 100000000, 1U << 23);
	struct phloem_rec_cycle c;
	uint64_t t, tc;
	uint32_t n = 0;

	ASSERT_NE(NULL, s);
	for (t = 0; t < 300 * MS; t += MS) {
		int32_t hi = (t / MS) % 20 < 10;
		int32_t raw[2];

		raw[0] = hi ? (1 << 24) - 1 : 0;
		raw[1] = raw[0];
		phloem_shed_sample(s, raw, T0 + t);
		if (phloem_shed_pop_cycle(s, &c, &tc) && c.freq_mhz) {
			if (!n++)
				TH_LOG("cycle %u: v %u mV i %u mA p %d mW f %u mHz", n,
				       c.chan[0].rms, c.chan[1].rms,
				       c.chan[1].p_mw, c.freq_mhz);
			EXPECT_EQ(XMAX_MILLI, c.chan[0].rms);
			EXPECT_EQ(XMAX_MILLI, c.chan[1].rms);
			/* 17.6 MW: saturated at the record's int32 */
			EXPECT_EQ(0x7fffffff, c.chan[1].p_mw);
			EXPECT_EQ(50000, c.freq_mhz);
		}
	}
	EXPECT_GE(n, 10);
	free(s);
}

/* feed one set and take the cycle it closed, if any */
struct held {
	uint32_t n, longest, bad_p;
	uint64_t last;
};

static void feed(struct phloem_shed *s, const int32_t *raw, uint64_t t,
		 struct held *h)
{
	struct phloem_rec_cycle c;
	uint64_t tc;

	phloem_shed_sample(s, raw, t);
	if (!phloem_shed_pop_cycle(s, &c, &tc))
		return;
	h->n++;
	if (tc - h->last > h->longest)
		h->longest = (uint32_t)(tc - h->last);
	h->last = tc;
	if (c.chan[1].p_mw <= 0)
		h->bad_p++;
}

/*
 * 16 bits, 128 mV (mA) per step around mid-scale: 32767 steps reach the
 * clamp. v and i are the same full-scale signal, so every product is the
 * largest positive one. The voltage dips below zero once per cycle, just
 * before the cycle's deadline, and comes back just after it: every crossing
 * is 1.5 periods and a little from the previous one, too late to close the
 * cycle and early enough to push the deadline on.
 */
TEST(power_sum_cycle_held_open)
{
	struct phloem_shed *s = unit_new(16, 128000, 32768);
	uint64_t t = T0, deadline, end = T0 + 2000 * MS;
	int32_t top[2] = { 65535, 65535 }, bot[2] = { 0, 0 };
	struct held h = { .last = T0 };

	ASSERT_NE(NULL, s);
	/* the first crossing: dip, then back up */
	feed(s, top, t, &h);
	t += MS;
	feed(s, bot, t, &h);
	t += MS;
	feed(s, top, t, &h);
	/* interpolated halfway between the two sets */
	deadline = t - MS / 2 + 30 * MS;
	while (t < end) {
		/* full-scale product every ms up to just before the deadline */
		while (t + MS < deadline - MS / 5) {
			t += MS;
			feed(s, top, t, &h);
		}
		t = deadline - MS / 5;
		feed(s, bot, t, &h);
		t += MS;
		feed(s, top, t, &h);
		/* crossing halfway, 0.3 ms past the deadline */
		deadline = t - MS / 2 + 30 * MS;
	}
	TH_LOG("%u cycles closed in 2 s, longest %u us", h.n, h.longest / 1000);
	/* the first cycle is partial: from init; then none past 2 periods */
	EXPECT_GE(h.n, 2000 / 40);
	EXPECT_LE(h.longest, 40 * MS + MS);
	EXPECT_EQ(0, h.bad_p);
	free(s);
}

/* The bounds of phloem_shed_check_config() that these tests sit on. */
TEST(limits_accepted)
{
	struct phloem_shed *s = unit_new(24, 100000000, (1U << 24) - 1);

	ASSERT_NE(NULL, s);
	free(s);
	EXPECT_EQ(NULL, unit_new(24, 100000001, 0));
	EXPECT_EQ(NULL, unit_new(24, 1, 1U << 24));
}

TEST_HARNESS_MAIN
