// SPDX-License-Identifier: GPL-2.0
/*
 * The frequency rule in a real kernel: phloem.ko bound to phloem_sim.ko,
 * the grid's frequency ramped, stepped, distorted and made noisy through
 * the simulator's debugfs (freq_mhz, freq_ramp_to_mhz, freq_ramp_mhz_s,
 * ch0/h3_pct, ch0/h5_pct, noise_lsb), the stages configured with
 * PHLOEM_IOC_SET_CONFIG and the decisions read back from the stream
 * (PHLOEM_EV_FREQ, PHLOEM_EV_SHED), the status and the relay lines.
 *
 * Relay priorities of the simulated board (docs/sim.md): ev 10,
 * water-heater 15, dishwasher 20, garage-heater 30, heatpump 40, oven 60;
 * fridge and lights are critical. Under QEMU TCG wake-ups are late by up
 * to seconds, so time bounds are functional, not the host's figures (the
 * operate time is measured on the host, bench/shed_bench.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "phloem_util.h"

#define NEED_DEV() do { if (!self->ok) SKIP(return, "%s absent", PH_DEV); } while (0)
#define SLACK_MS	3000	/* TCG: wake-ups can be late by this much */
#define BIT(n)		(1u << (n))
#define STAGE_A_RELAYS	(BIT(R_EV) | BIT(R_WATER_HEATER) | BIT(R_DISHWASHER))

FIXTURE(freq) {
	bool ok;
	int fd;
	struct phloem_config boot;
	struct ph_evlog log;
};

/* back to a clean 50 Hz grid, the boot configuration, fresh driver state */
static void grid_reset(void)
{
	sim_write("noise_lsb", 0);
	sim_write("freq_mhz", 50000);	/* ends a ramp too */
	sim_reset();
}

FIXTURE_SETUP(freq)
{
	self->fd = -1;
	if (!ph_present())
		SKIP(return, "%s absent (phloem.ko + phloem_sim.ko not loaded)", PH_DEV);
	grid_reset();
	ASSERT_EQ(0, ph_rebind_fresh(20000));
	self->fd = ph_open(O_RDWR);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ph_settle(self->fd, 20000));
	ASSERT_EQ(0, ph_tolerate_tcg(self->fd, &self->boot));
	self->ok = true;
}

FIXTURE_TEARDOWN(freq)
{
	if (!_metadata->passed)
		ph_evlog_dump(&self->log, stderr);
	if (self->fd >= 0) {
		if (self->ok)
			ph_set_config(self->fd, &self->boot);
		close(self->fd);
	}
	if (self->ok) {
		grid_reset();
		ph_rebind_fresh(20000);
	}
}

/* stage @k: below @thr mHz for @delay ms sheds priorities @lo..@hi */
static void stage(struct phloem_config *c, int k, uint32_t thr, uint32_t delay,
		  uint16_t hyst, uint32_t restore, uint8_t lo, uint8_t hi)
{
	c->freq_stage[k] = (struct phloem_freq_stage){
		.threshold_mhz = thr, .delay_ms = delay, .restore_ms = restore,
		.hyst_mhz = hyst, .prio_min = lo, .prio_max = hi,
	};
}

/* quick restores, so a test sees its relays come back in seconds */
static void quick(struct phloem_config *c)
{
	unsigned int r;

	c->restore_delay_ms = 200;
	for (r = 0; r < c->nrelays; r++)
		c->relay[r].min_off_ms = 0;
}

/* relays the frequency rule shed, from the log */
static uint32_t freq_sheds(const struct ph_evlog *log)
{
	uint32_t b = 0;
	unsigned int i;

	for (i = 0; i < log->n; i++) {
		const struct phloem_rec_event *e = &log->rec[i].event;

		if (e->kind == PHLOEM_EV_SHED && e->cause == PHLOEM_CAUSE_UNDER_FREQ)
			b |= BIT(e->relay);
	}
	return b;
}

/*
 * A grid event: the frequency falls at 1 Hz/s from 50 to 48.8 Hz. Stage A
 * (49.0 Hz, 100 ms) operates about 1.1 s in and sheds priorities 0..20;
 * stage B (48.5 Hz) is never reached; the critical relays stay on. The
 * shed relays are held (PHLOEM_HOLD_FREQ) until the frequency has been
 * above 49.2 Hz for the restore time, then come back by the restore path.
 */
TEST_F_TIMEOUT(freq, ramp_1hz_s_sheds_then_restores, 120)
{
	struct phloem_config cfg = self->boot;
	struct phloem_record rec;
	struct phloem_status st;
	uint64_t t0;
	uint32_t lines;
	double late;

	NEED_DEV();
	quick(&cfg);
	stage(&cfg, 0, 49000, 100, 200, 500, 0, 20);
	stage(&cfg, 1, 48500, 100, 200, 500, 21, 255);
	ASSERT_EQ(0, ph_set_config(self->fd, &cfg));
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 500));
	self->log.n = 0;

	ASSERT_EQ(0, sim_write("freq_ramp_to_mhz", 48800));
	t0 = ph_now_ns();
	ASSERT_EQ(0, sim_write("freq_ramp_mhz_s", -1000));
	ASSERT_EQ(1, ph_wait_event(self->fd, &self->log, PHLOEM_EV_FREQ,
				   PHLOEM_NONE, 2000 + SLACK_MS, &rec));
	EXPECT_EQ(PHLOEM_CAUSE_UNDER_FREQ, rec.event.cause);
	EXPECT_EQ(0, rec.event.backoff);		/* stage A */
	EXPECT_EQ(49000, rec.event.limit);
	EXPECT_LT(rec.event.value, 49000);
	/* the true crossing is 1 s after t0 (or a little later: the write) */
	late = ((double)rec.hdr.time_ns - (double)t0 - 1e9) / 1e6 - 100;
	TH_LOG("stage A operated %.0f ms after the crossing + delay (TCG)", late);
	EXPECT_GE(late, 0);
	EXPECT_LE(late, SLACK_MS);
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 1500));
	EXPECT_EQ(STAGE_A_RELAYS, freq_sheds(&self->log));
	ASSERT_EQ(0, sim_relays(&lines));
	EXPECT_EQ(SIM_RELAYS_ALL & ~STAGE_A_RELAYS, lines);
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_UNDER_FREQ);
	EXPECT_EQ(PHLOEM_FREQ_OPERATED, st.freq_stage[0]);
	EXPECT_EQ(PHLOEM_FREQ_IDLE, st.freq_stage[1]);
	EXPECT_EQ(PHLOEM_FREQ_OFF, st.freq_stage[2]);
	TH_LOG("filtered %u mHz at 48800", st.freq_est_mhz);
	EXPECT_LE(abs((int)st.freq_est_mhz - 48800), 50);
	EXPECT_EQ(PHLOEM_HOLD_FREQ, st.hold[R_EV]);
	EXPECT_EQ(1, ph_evlog_count(&self->log, PHLOEM_EV_FREQ, PHLOEM_NONE));
	EXPECT_EQ(0, ph_evlog_count(&self->log, PHLOEM_EV_RESTORE, PHLOEM_NONE));

	/* the grid recovers at 2 Hz/s: released, then the relays return */
	ASSERT_EQ(0, sim_write("freq_ramp_to_mhz", 50000));
	ASSERT_EQ(0, sim_write("freq_ramp_mhz_s", 2000));
	ASSERT_EQ(1, ph_wait_event(self->fd, &self->log, PHLOEM_EV_FREQ,
				   PHLOEM_NONE, 2000 + SLACK_MS, &rec));
	EXPECT_EQ(PHLOEM_CAUSE_FREQ_OK, rec.event.cause);
	EXPECT_EQ(0, rec.event.backoff);
	EXPECT_EQ(49200, rec.event.limit);
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 1500 + SLACK_MS));
	ASSERT_EQ(0, sim_relays(&lines));
	EXPECT_EQ(SIM_RELAYS_ALL, lines);
	EXPECT_EQ(3, ph_evlog_count(&self->log, PHLOEM_EV_RESTORE, PHLOEM_NONE));
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_UNDER_FREQ);
	EXPECT_EQ(PHLOEM_FREQ_IDLE, st.freq_stage[0]);
}

/*
 * EN 50160 harmonics at their limits (3rd 5 %, 5th 6 %) and +-10 codes
 * (+-2 V) of noise on the mains voltage: a grid-code stage (49.0 Hz,
 * 100 ms) stays idle at 50 Hz; a step to 48.7 Hz then operates it (the
 * rule was live all along). Under TCG a read can be stamped milliseconds
 * before it is taken, which a stage without delay close to nominal would
 * not survive; the host tests (freq_test.c) hold that case.
 */
TEST_F_TIMEOUT(freq, harmonics_noise_no_false_stage, 90)
{
	struct phloem_config cfg = self->boot;
	struct phloem_record rec;
	struct phloem_status st;

	NEED_DEV();
	quick(&cfg);
	stage(&cfg, 0, 49000, 100, 200, 500, 0, 255);
	ASSERT_EQ(0, sim_set(5, "ch%u/h3_pct", 0));
	ASSERT_EQ(0, sim_set(6, "ch%u/h5_pct", 0));
	ASSERT_EQ(0, sim_write("noise_lsb", 10));
	ASSERT_EQ(0, ph_set_config(self->fd, &cfg));
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 4000));
	EXPECT_EQ(0, ph_evlog_count(&self->log, PHLOEM_EV_FREQ, PHLOEM_NONE));
	EXPECT_EQ(0, ph_evlog_count(&self->log, PHLOEM_EV_SHED, PHLOEM_NONE));
	ASSERT_EQ(0, ph_status(self->fd, &st));
	TH_LOG("filtered %u mHz at 50000 with harmonics and noise", st.freq_est_mhz);
	EXPECT_LE(abs((int)st.freq_est_mhz - 50000), 100);
	EXPECT_EQ(PHLOEM_FREQ_IDLE, st.freq_stage[0]);

	ASSERT_EQ(0, sim_write("freq_mhz", 48700));
	ASSERT_EQ(1, ph_wait_event(self->fd, &self->log, PHLOEM_EV_FREQ,
				   PHLOEM_NONE, 1000 + SLACK_MS, &rec));
	EXPECT_EQ(PHLOEM_CAUSE_UNDER_FREQ, rec.event.cause);
}

/*
 * An off-grid inverter shifts its frequency up to 51.5 Hz (battery full):
 * over-frequency is reported, nothing is shed; back at 50 Hz it ends.
 */
TEST_F_TIMEOUT(freq, offgrid_shift_over_freq_event, 90)
{
	struct phloem_config cfg = self->boot;
	struct phloem_record rec;
	struct phloem_status st;

	NEED_DEV();
	cfg.over_freq_mhz = 51000;
	cfg.over_freq_ms = 200;
	stage(&cfg, 0, 49000, 100, 200, 500, 0, 255);
	ASSERT_EQ(0, ph_set_config(self->fd, &cfg));
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 300));
	self->log.n = 0;
	ASSERT_EQ(0, sim_write("freq_ramp_to_mhz", 51500));
	ASSERT_EQ(0, sim_write("freq_ramp_mhz_s", 1000));
	ASSERT_EQ(1, ph_wait_event(self->fd, &self->log, PHLOEM_EV_FREQ,
				   PHLOEM_NONE, 2000 + SLACK_MS, &rec));
	EXPECT_EQ(PHLOEM_CAUSE_OVER_FREQ, rec.event.cause);
	EXPECT_EQ(PHLOEM_FREQ_STAGES, rec.event.backoff);
	EXPECT_EQ(51000, rec.event.limit);
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_OVER_FREQ);
	ASSERT_EQ(0, sim_write("freq_ramp_to_mhz", 50000));
	ASSERT_EQ(0, sim_write("freq_ramp_mhz_s", -2000));
	ASSERT_EQ(1, ph_wait_event(self->fd, &self->log, PHLOEM_EV_FREQ,
				   PHLOEM_NONE, 2000 + SLACK_MS, &rec));
	EXPECT_EQ(PHLOEM_CAUSE_FREQ_OK, rec.event.cause);
	EXPECT_EQ(PHLOEM_FREQ_STAGES, rec.event.backoff);
	EXPECT_EQ(0, ph_evlog_count(&self->log, PHLOEM_EV_SHED, PHLOEM_NONE));
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_OVER_FREQ);
}

/* out-of-range stages are refused whole: -EINVAL, nothing changes */
TEST_F(freq, bad_stage_refused)
{
	struct phloem_config cfg = self->boot, got;

	NEED_DEV();
	stage(&cfg, 0, 49980, 100, 200, 500, 0, 20);	/* + hyst: in the band */
	EXPECT_EQ(-EINVAL, ph_set_config(self->fd, &cfg));
	stage(&cfg, 0, 49000, 100, 200, 500, 30, 20);	/* empty range */
	EXPECT_EQ(-EINVAL, ph_set_config(self->fd, &cfg));
	ASSERT_EQ(0, ph_get_config(self->fd, &got));
	EXPECT_EQ(0, got.freq_stage[0].threshold_mhz);
}

TEST_HARNESS_MAIN
