// SPDX-License-Identifier: GPL-2.0
/*
 * Shedding in a real kernel: phloem.ko bound to phloem_sim.ko, loads
 * stepped through the simulator's debugfs, decisions read back from the
 * stream (EV_* records) and from the relay lines the simulator logs.
 *
 * Times: trigger_ns is the driver's timestamp of the sample that crossed a
 * limit and the simulator's step_at_ns is when the new current starts, both
 * CLOCK_MONOTONIC. Under QEMU TCG scheduling is coarse, so the bounds are
 * the functional ones (a half-cycle window plus one sample period for the
 * instantaneous rule, a fraction of the modelled trip time for the thermal
 * rule) and the slack on anything that involves a thread waking up is
 * generous (seconds, not milliseconds).
 */
/* the longest a sample set's reads take in the VM (see step_overload) */
#define SET_READS_NS	(2 * NSEC_PER_MSEC)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "phloem_util.h"

#define NEED_DEV() do { if (!self->ok) SKIP(return, "%s absent", PH_DEV); } while (0)
#define GARAGE_LIMIT	5000	/* mA: low, so 6x still fits the CT and site */
#define STEP_IN_MS	200
#define SLACK_MS	3000	/* TCG: wake-ups can be late by this much */
#define LEASE_MS	2000

/* Loads that would push the site over its own 40 A limit are silenced. */
static int quiet_house(void)
{
	static const unsigned int quiet[] = {
		R_DISHWASHER, R_OVEN, R_HEATPUMP, R_WATER_HEATER,
	};
	unsigned int i;
	int err = 0;

	for (i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		err = sim_set(0, "relay%u/load_ma", quiet[i]) ?: err;
	return err;
}

static int wait_relays(uint32_t want, int timeout_ms, uint32_t *got)
{
	uint64_t end = ph_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;
	int err;

	do {
		err = sim_relays(got);
		if (err || *got == want)
			return err;
		ph_sleep_ms(5);
	} while (ph_now_ns() < end);
	return -ETIMEDOUT;
}

/*
 * Wait until the driver's own reading of @circuit is within 15% of @ma:
 * on a busy host the sampler can lag the simulator by tens of ms, and a
 * limit lowered before it has seen the new steady loads would act on the
 * old ones.
 */
static int wait_irms(int fd, unsigned int circuit, unsigned int ma, int timeout_ms)
{
	uint64_t end = ph_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;
	struct phloem_status st;
	int err;

	do {
		err = ph_status(fd, &st);
		if (err)
			return err;
		if (st.circuit[circuit].irms_ma * 100 <= ma * 115 + 100000 &&
		    st.circuit[circuit].irms_ma * 100 + 100000 >= ma * 85)
			return 0;
		ph_sleep_ms(20);
	} while (ph_now_ns() < end);
	return -ETIMEDOUT;
}

/* Modelled trip time of uapi/shed.h: 60 s / (x^2 - 1), x = I / limit. */
static uint64_t trip_ms(uint64_t i_ma, uint64_t limit_ma)
{
	uint64_t x2m = i_ma * i_ma * 1000000 / (limit_ma * limit_ma);

	return 60000ULL * 1000000 / (x2m - 1000000);
}

FIXTURE(shed) {
	bool ok;
	int fd;
	struct phloem_info info;
	struct phloem_config boot;
	struct ph_evlog log;
};

FIXTURE_VARIANT(shed) {
	unsigned int circuit;
	unsigned int limit_ma;
	unsigned int thermal_pct;	/* 0: keep */
	unsigned int inst_pct;		/* 0: keep */
	int before[SIM_NRELAYS];	/* load while steady, -1: default */
	unsigned int step[SIM_NRELAYS];	/* load after the step, 0: none */
	unsigned int cause;
	unsigned int nshed;
	unsigned char shed[4];		/* expected order */
	unsigned int total_ma;		/* circuit current after the step */
};

#define KEEP	-1
/* inst_pct raised so that only the thermal rule can act at 1.2x */
FIXTURE_VARIANT_ADD(shed, garage_1_2x_thermal) {
	.circuit = CIR_GARAGE, .limit_ma = GARAGE_LIMIT, .thermal_pct = 5,
	.inst_pct = 200,
	.before = { 0, 2000, KEEP, KEEP, KEEP, KEEP, KEEP, KEEP },
	.step = { [R_EV] = 4000 },
	.cause = PHLOEM_CAUSE_THERMAL, .nshed = 1, .shed = { R_EV },
	.total_ma = 6000,
};
FIXTURE_VARIANT_ADD(shed, garage_2x) {
	.circuit = CIR_GARAGE, .limit_ma = GARAGE_LIMIT,
	.before = { 0, 2000, KEEP, KEEP, KEEP, KEEP, KEEP, KEEP },
	.step = { [R_EV] = 8000 },
	.cause = PHLOEM_CAUSE_INSTANT, .nshed = 1, .shed = { R_EV },
	.total_ma = 10000,
};
FIXTURE_VARIANT_ADD(shed, garage_6x) {
	.circuit = CIR_GARAGE, .limit_ma = GARAGE_LIMIT,
	.before = { 0, 2000, KEEP, KEEP, KEEP, KEEP, KEEP, KEEP },
	.step = { [R_EV] = 8000, [R_GARAGE_HEATER] = 22000 },
	.cause = PHLOEM_CAUSE_INSTANT, .nshed = 2,
	.shed = { R_EV, R_GARAGE_HEATER },
	.total_ma = 30000,
};
/* The fridge's own load overloads the kitchen: everything else goes, the
 * two critical relays (fridge, lights) never do. */
FIXTURE_VARIANT_ADD(shed, kitchen_3x_critical_kept) {
	.circuit = CIR_KITCHEN, .limit_ma = 5000,
	.before = { KEEP, KEEP, 1000, 1000, 500, KEEP, KEEP, 300 },
	.step = { [R_FRIDGE] = 13000 },
	.cause = PHLOEM_CAUSE_INSTANT, .nshed = 2,
	.shed = { R_DISHWASHER, R_OVEN },
	.total_ma = 15300,
};

/* Both fixtures start from a fresh probe on a default board. */
#define HOUSE_SETUP() do {						\
	self->fd = -1;							\
	if (!ph_present())						\
		SKIP(return, "%s absent (phloem.ko + phloem_sim.ko not loaded)", PH_DEV); \
	ASSERT_EQ(0, sim_reset());					\
	/* no backoff, no I2t heat, boot configuration */		\
	ASSERT_EQ(0, ph_rebind_fresh(20000));				\
	self->fd = ph_open(O_RDWR);					\
	ASSERT_LE(0, self->fd);						\
	ASSERT_EQ(0, ph_info(self->fd, &self->info));			\
	ASSERT_EQ(0, ph_get_config(self->fd, &self->boot));		\
	ASSERT_EQ(0, ph_settle(self->fd, 20000));			\
	ASSERT_EQ(0, ph_tolerate_tcg(self->fd, &self->boot));		\
	ASSERT_EQ(0, sim_relay_log_clear());				\
	self->ok = true;						\
} while (0)

#define HOUSE_TEARDOWN() do {						\
	if (!_metadata->passed)						\
		ph_evlog_dump(&self->log, stderr);			\
	if (self->fd >= 0)						\
		close(self->fd);					\
	if (self->ok) {							\
		sim_reset();						\
		ph_rebind_fresh(20000);					\
	}								\
} while (0)

FIXTURE_SETUP(shed) { HOUSE_SETUP(); }
FIXTURE_TEARDOWN(shed) { HOUSE_TEARDOWN(); }

FIXTURE(house) {
	bool ok;
	int fd;
	struct phloem_info info;
	struct phloem_config boot;
	struct ph_evlog log;
};
FIXTURE_SETUP(house) { HOUSE_SETUP(); }
FIXTURE_TEARDOWN(house) { HOUSE_TEARDOWN(); }

TEST_F_TIMEOUT(shed, step_overload, 120)
{
	const FIXTURE_VARIANT(shed) *v = variant;
	struct phloem_config cfg = self->boot;
	uint64_t period_ns;
	struct sim_relay_change rl[256];
	struct phloem_record ev[4];
	struct phloem_stats sx;
	struct phloem_status st;
	uint64_t t_step = UINT64_MAX, bound_ms, expect_ms = 0, t_prev;
	uint32_t relays, want;
	uint64_t t_rate, n_rate;
	double rate;
	long long at;
	unsigned int r, k;
	int n;

	NEED_DEV();
	period_ns = NSEC_PER_SEC / self->boot.sample_rate_hz;
	/* the steady loads first, the lower limit after (else the default
	 * loads would already be an overload) */
	ASSERT_EQ(0, quiet_house());
	for (r = 0; r < SIM_NRELAYS; r++) {
		if (v->before[r] != KEEP) {
			ASSERT_EQ(0, sim_set(v->before[r], "relay%u/load_ma", r));
		}
	}
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 100));
	for (r = 0, want = 0; r < SIM_NRELAYS; r++) {
		if (v->before[r] != KEEP && self->boot.relay[r].circuit == v->circuit)
			want += v->before[r];
	}
	ASSERT_EQ(0, wait_irms(self->fd, v->circuit, want, SLACK_MS))
		TH_LOG("circuit %u never read the steady %u mA", v->circuit, want);
	cfg.circuit[v->circuit].limit_ma = v->limit_ma;
	if (v->thermal_pct)
		cfg.circuit[v->circuit].thermal_pct = v->thermal_pct;
	if (v->inst_pct)
		cfg.circuit[v->circuit].inst_pct = v->inst_pct;
	ASSERT_EQ(0, ph_set_config(self->fd, &cfg));
	/* Steady state first: nothing may be shed before the step. */
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 400));
	ASSERT_EQ(0, ph_evlog_count(&self->log, PHLOEM_EV_SHED, PHLOEM_NONE))
		TH_LOG("shed before any overload");
	ASSERT_EQ(0, sim_relays(&relays));
	ASSERT_EQ(SIM_RELAYS_ALL, relays);
	ASSERT_EQ(0, sim_relay_log_clear());

	/* the sampling rate achieved around the step, for the bound below */
	ASSERT_EQ(0, ph_stats(self->fd, &sx));
	t_rate = ph_now_ns();
	n_rate = sx.samples;
	for (r = 0; r < SIM_NRELAYS; r++) {
		if (!v->step[r])
			continue;
		ASSERT_EQ(0, sim_set(v->step[r], "relay%u/step_load_ma", r));
		ASSERT_EQ(0, sim_set(STEP_IN_MS, "relay%u/step_in_ms", r));
		ASSERT_EQ(0, sim_read("step_at_ns", &at));
		if ((uint64_t)at < t_step)
			t_step = at;
	}

	if (v->cause == PHLOEM_CAUSE_THERMAL) {
		uint64_t trip = trip_ms(v->total_ma, v->limit_ma);


		expect_ms = trip * cfg.circuit[v->circuit].thermal_pct / 100;
		bound_ms = trip / 2;
		TH_LOG("modelled trip %llu ms, thermal rule due after %llu ms",
		       (unsigned long long)trip, (unsigned long long)expect_ms);
	} else {
		bound_ms = 20;	/* stretched below to the rate achieved */
	}

	for (k = 0; k < v->nshed; k++) {
		ASSERT_EQ(1, ph_wait_event(self->fd, &self->log, PHLOEM_EV_SHED,
					   PHLOEM_NONE, STEP_IN_MS + bound_ms * 8 + SLACK_MS,
					   &ev[k])) TH_LOG("shed #%u missing", k);
	}
	if (v->cause == PHLOEM_CAUSE_INSTANT) {
		/*
		 * A half-cycle window (10 ms) twice over, plus one period. The
		 * window is a number of samples at the configured rate: when
		 * the emulator cannot sample that fast, it spans more time, and
		 * the bound stretches with it (at most 8 times: a slower
		 * emulator than that fails the test rather than hide a bug).
		 */
		double stretch;

		ASSERT_EQ(0, ph_stats(self->fd, &sx));
		rate = (sx.samples - n_rate) / ((ph_now_ns() - t_rate) / 1e9);
		stretch = cfg.sample_rate_hz / (rate > 1 ? rate : 1);
		if (stretch > 8)
			stretch = 8;
		if (stretch > 1.0)
			bound_ms = (uint64_t)(20 * stretch + 0.5);
		TH_LOG("sampling at %.0f/s of %u/s: bound %llu ms", rate,
		       cfg.sample_rate_hz, (unsigned long long)bound_ms);
	}
	/* Under the limit now: a second look finds nothing more to shed. */
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 1000));
	EXPECT_EQ(v->nshed, ph_evlog_count(&self->log, PHLOEM_EV_SHED, PHLOEM_NONE));

	t_prev = t_step;
	for (k = 0; k < v->nshed; k++) {
		const struct phloem_rec_event *e = &ev[k].event;

		EXPECT_EQ(v->shed[k], e->relay) TH_LOG("shed #%u", k);
		EXPECT_EQ(v->cause, e->cause) TH_LOG("shed #%u", k);
		EXPECT_EQ(v->circuit, e->circuit) TH_LOG("shed #%u", k);
		/* compared against the rule's own threshold */
		if (v->cause == PHLOEM_CAUSE_INSTANT) {
			EXPECT_EQ(v->limit_ma * cfg.circuit[v->circuit].inst_pct / 100,
				  e->limit) TH_LOG("shed #%u", k);
		} else {
			EXPECT_EQ(v->limit_ma, e->limit) TH_LOG("shed #%u", k);
		}
		EXPECT_LT(e->limit, e->value) TH_LOG("shed #%u", k);
		EXPECT_LT(0, e->latency_ns) TH_LOG("shed #%u", k);
		EXPECT_GT(1000 * NSEC_PER_MSEC, e->latency_ns) TH_LOG("shed #%u", k);
		/*
		 * never before the overload exists: a set is stamped when its
		 * reads begin, and the step can land in a later channel's
		 * conversion of that same set (its reads take up to about a
		 * millisecond under TCG), so one set's reads earlier at most
		 */
		EXPECT_LE(t_step, e->trigger_ns + SET_READS_NS) TH_LOG("shed #%u", k);
		EXPECT_GE(t_prev + bound_ms * NSEC_PER_MSEC + period_ns, e->trigger_ns)
			TH_LOG("shed #%u: %.2f ms after the step/previous shed (bound %llu ms + 1 period)",
			       k, (e->trigger_ns - (double)t_prev) / 1e6,
			       (unsigned long long)bound_ms);
		if (v->cause == PHLOEM_CAUSE_THERMAL) {
			/* not early either: the model needs its share of the budget */
			EXPECT_LE(t_step + expect_ms / 2 * NSEC_PER_MSEC, e->trigger_ns)
				TH_LOG("thermal shed after %.0f ms, model wants ~%llu ms",
				       (e->trigger_ns - (double)t_step) / 1e6,
				       (unsigned long long)expect_ms);
		}
		TH_LOG("shed #%u relay %u cause %u at step+%.2f ms, latency %.3f ms",
		       k, e->relay, e->cause, (e->trigger_ns - (double)t_step) / 1e6,
		       e->latency_ns / 1e6);
		/*
		 * The next step of a relay-by-relay shed can only be decided
		 * once the half-cycle window no longer holds the current of
		 * the relay just shed: allow two cycles from that shed.
		 */
		t_prev = ev[k].hdr.time_ns;
		if (v->cause == PHLOEM_CAUSE_INSTANT)
			bound_ms *= 2;
	}

	/* The relay lines saw exactly these switch-offs, in this order. */
	n = sim_relay_log(rl, 256);
	ASSERT_LE(0, n);
	k = 0;
	for (int i = 0; i < n; i++) {
		EXPECT_FALSE((rl[i].line == R_FRIDGE || rl[i].line == R_LIGHTS) &&
			     !rl[i].value) TH_LOG("critical relay %u switched off", rl[i].line);
		if (rl[i].value)
			continue;
		ASSERT_GT(v->nshed, k) TH_LOG("unexpected switch-off of line %u", rl[i].line);
		EXPECT_EQ(v->shed[k], rl[i].line);
		EXPECT_LE(ev[k].event.trigger_ns, rl[i].t_ns);
		k++;
	}
	EXPECT_EQ(v->nshed, k);

	want = SIM_RELAYS_ALL;
	for (k = 0; k < v->nshed; k++)
		want &= ~(1u << v->shed[k]);
	ASSERT_EQ(0, sim_relays(&relays));
	EXPECT_EQ(want, relays);
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_SHEDDING);
	for (k = 0; k < v->nshed; k++) {
		EXPECT_EQ(PHLOEM_RELAY_SHED, st.relay[v->shed[k]].reason);
		EXPECT_EQ(1, st.relay[v->shed[k]].shed_count);
		EXPECT_EQ(0, st.relay[v->shed[k]].on);
	}
	EXPECT_EQ(1, st.relay[R_FRIDGE].on);
	EXPECT_EQ(1, st.relay[R_LIGHTS].on);
	ASSERT_EQ(0, ph_stats(self->fd, &sx));
	EXPECT_EQ(v->nshed, sx.sheds);
	EXPECT_EQ(v->nshed, sx.lat_count);
}

/*
 * Restore needs headroom (measured + the relay's estimated load under
 * restore_pct of the limit) for restore_delay, and never comes before
 * min_off << backoff; a relay shed again within the retrip window of its
 * restore has its backoff level raised, doubling the off time.
 */
TEST_F_TIMEOUT(house, restore_and_backoff, 120)
{
	const unsigned int min_off = 500, delay = 300;
	struct phloem_config cfg = self->boot;
	struct phloem_record shed, rest;
	struct phloem_status st;
	unsigned int k;

	NEED_DEV();
	ASSERT_EQ(0, quiet_house());
	ASSERT_EQ(0, sim_set(3000, "relay%u/load_ma", R_EV));
	ASSERT_EQ(0, sim_set(1000, "relay%u/load_ma", R_GARAGE_HEATER));
	ASSERT_EQ(0, wait_irms(self->fd, CIR_GARAGE, 4000, SLACK_MS));
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 100));
	cfg.circuit[CIR_GARAGE].limit_ma = GARAGE_LIMIT;	/* inst at 6.25 A */
	/*
	 * restore at 3 A: the simulated CT reads the 4.5 A heater at 3.6 to
	 * 4.3 A, which straddled the default 4 A (80 %): the EV, its estimate
	 * never fitting, had its attempt in the dips
	 */
	cfg.circuit[CIR_GARAGE].restore_pct = 60;
	cfg.relay[R_EV].min_off_ms = min_off;
	cfg.restore_delay_ms = delay;
	cfg.retrip_window_ms = 10000;
	ASSERT_EQ(0, ph_set_config(self->fd, &cfg));
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 300));
	ASSERT_EQ(0, ph_evlog_count(&self->log, PHLOEM_EV_SHED, PHLOEM_NONE));

	for (k = 0; k < 3; k++) {
		uint64_t off_ns = ((uint64_t)min_off << k) * NSEC_PER_MSEC, t_low;

		/* 3 A + 4.5 A = 7.5 A > 6.25 A: the EV goes first */
		ASSERT_EQ(0, sim_set(4500, "relay%u/load_ma", R_GARAGE_HEATER));
		ASSERT_EQ(1, ph_wait_event(self->fd, &self->log, PHLOEM_EV_SHED,
					   PHLOEM_NONE, SLACK_MS, &shed)) TH_LOG("round %u", k);
		EXPECT_EQ(R_EV, shed.event.relay);
		EXPECT_EQ(k, shed.event.backoff) TH_LOG("round %u", k);
		ASSERT_EQ(0, ph_status(self->fd, &st));
		EXPECT_EQ(k, st.relay[R_EV].backoff);
		EXPECT_EQ(PHLOEM_RELAY_SHED, st.relay[R_EV].reason);

		if (k == 0) {
			/* 4.5 A > 60% of 5 A: no restore, however long */
			ASSERT_EQ(0, ph_drain(self->fd, &self->log,
					      min_off + delay + 1200));
			ASSERT_EQ(0, ph_evlog_count(&self->log, PHLOEM_EV_RESTORE, R_EV))
				TH_LOG("restored without headroom");
			ASSERT_EQ(0, ph_status(self->fd, &st));
			EXPECT_EQ(0, st.relay[R_EV].on);
			TH_LOG("garage %u mA with the EV shed, its load estimated at %u mA",
			       st.circuit[CIR_GARAGE].irms_ma, st.relay[R_EV].load_ma);
			/*
			 * shed within the heater's step: its own switching
			 * shows no drop, so the estimate is the load the EV
			 * drew when it was last switched on (the fixture's
			 * staggered return), never the step's transient
			 * (issue 17); whatever it is, the garage is full
			 */
			EXPECT_EQ(PHLOEM_HOLD_CIRCUIT, st.hold[R_EV]);
		}

		/* the driver estimates the EV's load from the drop it caused:
		 * let it see a few cycles before changing anything else */
		ASSERT_EQ(0, ph_drain(self->fd, &self->log, 300));
		/* 0 A: room (its estimate may or may not fit 3 A) */
		ASSERT_EQ(0, sim_set(0, "relay%u/load_ma", R_GARAGE_HEATER));
		t_low = ph_now_ns();
		ASSERT_EQ(1, ph_wait_event(self->fd, &self->log, PHLOEM_EV_RESTORE,
					   R_EV, (min_off << k) + delay + SLACK_MS, &rest))
			TH_LOG("round %u: no restore", k);
		/*
		 * on headroom, or, when its estimate (learned when it was last
		 * switched on) never fits 4 A, at its attempt: either with room
		 */
		EXPECT_TRUE(rest.event.cause == PHLOEM_CAUSE_HEADROOM ||
			    rest.event.cause == PHLOEM_CAUSE_HOLD)
			TH_LOG("round %u: cause %u", k, rest.event.cause);
		EXPECT_LE(shed.hdr.time_ns + off_ns, rest.hdr.time_ns)
			TH_LOG("round %u: restored %.1f ms after the shed, min off %llu ms",
			       k, (rest.hdr.time_ns - (double)shed.hdr.time_ns) / 1e6,
			       (unsigned long long)(off_ns / NSEC_PER_MSEC));
		/* headroom must have lasted restore_delay (one cycle of grace) */
		EXPECT_LE(t_low + (delay - 20) * NSEC_PER_MSEC, rest.hdr.time_ns);
		TH_LOG("round %u: backoff %u, off for %.1f ms", k, shed.event.backoff,
		       (rest.hdr.time_ns - (double)shed.hdr.time_ns) / 1e6);
		ASSERT_EQ(0, ph_drain(self->fd, &self->log, 100));
	}
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_EQ(1, st.relay[R_EV].on);
	EXPECT_EQ(3, st.relay[R_EV].shed_count);
}

/*
 * Issue 17: a shed relay always comes back. The EV (3 A) and the heater
 * (2.5 A) overload the garage's 5 A limit until the thermal rule sheds the
 * EV; then the heater stops. Restore at 50 % is 2.5 A: the EV's estimate
 * (3 A, from the steady cycles around its shed) alone does not fit, and
 * restore_delay is 3 s, so its first attempt is due one max hold (2 s)
 * after its off time: it comes back then (cause HOLD), held NO_FIT until
 * then. On 3fe07bf it waited for its halved estimate and 3 s of headroom.
 * (restore_delay also spaces restores: the staggered return after the
 * fixture's fresh bind must be over, hence not more than a few seconds.)
 */
TEST_F_TIMEOUT(house, held_load_back_after_max_hold, 120)
{
	/* an attempt also needs restore_delay (3 s) of room: the heater
	 * stops at about 0.3 s, so the first attempt (restore_delay after
	 * the off time) finds it, within the max hold (4 s) */
	const unsigned int min_off = 500, hold_s = 4;
	struct phloem_config cfg = self->boot;
	struct phloem_record shed, rest;
	struct phloem_status st;
	uint64_t back_ms;

	NEED_DEV();
	ASSERT_EQ(0, quiet_house());
	ASSERT_EQ(0, sim_set(3000, "relay%u/load_ma", R_EV));
	ASSERT_EQ(0, sim_set(0, "relay%u/load_ma", R_GARAGE_HEATER));
	ASSERT_EQ(0, wait_irms(self->fd, CIR_GARAGE, 3000, SLACK_MS));
	cfg.circuit[CIR_GARAGE].limit_ma = GARAGE_LIMIT;
	cfg.circuit[CIR_GARAGE].inst_pct = 300;	/* the thermal rule acts */
	cfg.circuit[CIR_GARAGE].thermal_pct = 5;	/* about 15 s at 1.1x */
	cfg.circuit[CIR_GARAGE].restore_pct = 50;
	cfg.circuit[CIR_GARAGE].max_hold_s = hold_s;
	cfg.relay[R_EV].min_off_ms = min_off;
	cfg.restore_delay_ms = 3000;
	ASSERT_EQ(0, ph_set_config(self->fd, &cfg));
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 300));

	ASSERT_EQ(0, sim_set(2500, "relay%u/load_ma", R_GARAGE_HEATER));
	ASSERT_EQ(1, ph_wait_event(self->fd, &self->log, PHLOEM_EV_SHED,
				   PHLOEM_NONE, 60000, &shed));
	EXPECT_EQ(R_EV, shed.event.relay);
	EXPECT_EQ(PHLOEM_CAUSE_THERMAL, shed.event.cause);
	/* the heater stops once the estimate has its steady cycles */
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 300));
	ASSERT_EQ(0, sim_set(0, "relay%u/load_ma", R_GARAGE_HEATER));
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 800));
	ASSERT_EQ(0, ph_status(self->fd, &st));
	TH_LOG("EV held %u, load estimated at %u mA, garage %u mA",
	       st.hold[R_EV], st.relay[R_EV].load_ma,
	       st.circuit[CIR_GARAGE].irms_ma);
	EXPECT_EQ(PHLOEM_HOLD_NO_FIT, st.hold[R_EV]);
	/* 3 A, as the simulated CT reads it (3.16 and 3.52 A seen) */
	EXPECT_LT(2500, st.relay[R_EV].load_ma);
	EXPECT_GT(4000, st.relay[R_EV].load_ma);

	ASSERT_EQ(1, ph_wait_event(self->fd, &self->log, PHLOEM_EV_RESTORE,
				   R_EV, hold_s * 1000 + SLACK_MS, &rest))
		TH_LOG("the EV did not come back after its max hold");
	EXPECT_EQ(PHLOEM_CAUSE_HOLD, rest.event.cause);
	back_ms = (rest.hdr.time_ns - shed.hdr.time_ns) / NSEC_PER_MSEC;
	TH_LOG("EV back %llu ms after its shed (min off %u ms + max hold %u s)",
	       (unsigned long long)back_ms, min_off, hold_s);
	/*
	 * Its first attempt is due restore_delay after its off time (the
	 * backoff's first step), with restore_delay of room by then; the
	 * max hold is the latest it may come.
	 */
	EXPECT_LE(min_off + cfg.restore_delay_ms - 50, back_ms);
	EXPECT_GE(min_off + hold_s * 1000 + SLACK_MS, back_ms);
	/* the hold reason changed on the way: reported on the stream */
	EXPECT_LE(1, ph_evlog_count(&self->log, PHLOEM_EV_HOLD, R_EV));
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 500));
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_EQ(1, st.relay[R_EV].on);
	EXPECT_EQ(PHLOEM_HOLD_NONE, st.hold[R_EV]);
}

/*
 * A lease keeps an agent's limits in force; when it lapses the boot-time
 * limits come back by themselves.
 */
TEST_F_TIMEOUT(house, lease_expiry, 60)
{
	struct phloem_config cfg = self->boot, got;
	struct phloem_status st;
	struct phloem_stats before, after;
	struct phloem_record ev;
	uint64_t t_renew;
	int i;

	NEED_DEV();
	ASSERT_EQ(0, ph_stats(self->fd, &before));
	/* 2 s lease renewed every 200 ms: TCG hiccups of a few hundred ms
	 * must not look like a silent agent */
	ASSERT_EQ(0, ph_lease(self->fd, LEASE_MS));
	cfg.circuit[CIR_GARAGE].limit_ma = 20000;
	cfg.circuit[CIR_SITE].limit_ma = 35000;
	cfg.site_import_limit_mw = 9000000;
	ASSERT_EQ(0, ph_set_config(self->fd, &cfg));
	ASSERT_EQ(0, ph_get_config(self->fd, &got));
	EXPECT_EQ(20000, got.circuit[CIR_GARAGE].limit_ma);
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_LEASED);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_BOOT_LIMITS);
	EXPECT_EQ(20000, st.circuit[CIR_GARAGE].limit_ma);

	/* renewed in time: the lease holds */
	for (i = 0; i < 15; i++) {
		ASSERT_EQ(0, ph_drain(self->fd, &self->log, 200));
		/*
		 * Read before the call: the driver starts the lease inside
		 * it, so a clock read after it returns can be later than that
		 * by the call's return (1.4 ms once, on a loaded host)
		 */
		t_renew = ph_now_ns();
		ASSERT_EQ(0, ph_lease(self->fd, LEASE_MS));
	}
	EXPECT_EQ(0, ph_evlog_count(&self->log, PHLOEM_EV_LEASE_EXPIRED, PHLOEM_NONE));

	/* the agent goes quiet */
	ASSERT_EQ(1, ph_wait_event(self->fd, &self->log, PHLOEM_EV_LEASE_EXPIRED,
				   PHLOEM_NONE, LEASE_MS + SLACK_MS, &ev));
	EXPECT_EQ(PHLOEM_CAUSE_LEASE, ev.event.cause);
	EXPECT_LE(t_renew + LEASE_MS * NSEC_PER_MSEC, ev.hdr.time_ns + NSEC_PER_MSEC)
		TH_LOG("expired %.1f ms after the last renewal",
		       (ev.hdr.time_ns - (double)t_renew) / 1e6);
	ASSERT_EQ(0, ph_get_config(self->fd, &got));
	EXPECT_EQ(self->boot.circuit[CIR_GARAGE].limit_ma, got.circuit[CIR_GARAGE].limit_ma);
	EXPECT_EQ(self->boot.circuit[CIR_SITE].limit_ma, got.circuit[CIR_SITE].limit_ma);
	EXPECT_EQ(self->boot.site_import_limit_mw, got.site_import_limit_mw);
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_LEASED);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_BOOT_LIMITS);
	EXPECT_EQ(0, st.lease_left_ms);
	EXPECT_EQ(self->boot.circuit[CIR_GARAGE].limit_ma, st.circuit[CIR_GARAGE].limit_ma);
	ASSERT_EQ(0, ph_stats(self->fd, &after));
	EXPECT_EQ(before.lease_expiries + 1, after.lease_expiries);
}

static void check_failsafe(struct __test_metadata *_metadata,
			   FIXTURE_DATA(house) *self, const char *knob,
			   unsigned int cause, unsigned int stale_ms)
{
	struct phloem_record ev, leave;
	struct phloem_status st;
	uint32_t relays;
	uint64_t t0;

	struct phloem_config cfg = self->boot;

	/* the way back is one relay per restore_delay: keep it short */
	cfg.restore_delay_ms = 100;
	cfg.stale_ms = stale_ms;
	ASSERT_EQ(0, ph_set_config(self->fd, &cfg));
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 100));
	ASSERT_EQ(0, sim_relays(&relays));
	ASSERT_EQ(SIM_RELAYS_ALL, relays);
	t0 = ph_now_ns();
	ASSERT_EQ(0, sim_write(knob, 1));
	ASSERT_EQ(1, ph_wait_event(self->fd, &self->log, PHLOEM_EV_FAILSAFE_ENTER,
				   PHLOEM_NONE, SLACK_MS, &ev)) TH_LOG("%s: no failsafe", knob);
	EXPECT_EQ(cause, ev.event.cause);
	if (cause == PHLOEM_CAUSE_STALE) {
		/* not before the samples are stale_ms old */
		EXPECT_LE(t0 + (cfg.stale_ms - 5) * NSEC_PER_MSEC, ev.hdr.time_ns);
	} else {
		EXPECT_LE(1, ph_evlog_count(&self->log, PHLOEM_EV_ADC_FAULT, PHLOEM_NONE));
	}
	TH_LOG("%s: failsafe %.1f ms after the fault", knob,
	       (ev.hdr.time_ns - (double)t0) / 1e6);
	ASSERT_EQ(0, wait_relays(SIM_RELAYS_SAFE, SLACK_MS, &relays))
		TH_LOG("relays 0x%x, want safe 0x%x", relays, SIM_RELAYS_SAFE);
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_FAILSAFE);
	EXPECT_EQ(PHLOEM_RELAY_SAFE, st.relay[R_EV].reason);
	/* it holds while the fault lasts */
	ph_sleep_ms(300);
	ASSERT_EQ(0, sim_relays(&relays));
	EXPECT_EQ(SIM_RELAYS_SAFE, relays);

	ASSERT_EQ(0, sim_write(knob, 0));
	ASSERT_EQ(1, ph_wait_event(self->fd, &self->log, PHLOEM_EV_FAILSAFE_LEAVE,
				   PHLOEM_NONE, SLACK_MS, &leave)) TH_LOG("%s: no recovery", knob);
	ASSERT_EQ(0, wait_relays(SIM_RELAYS_ALL, SIM_NRELAYS * 100 + SLACK_MS, &relays))
		TH_LOG("relays 0x%x after recovery", relays);
	/*
	 * Staggered: the critical ones never left, the six others come back
	 * one by one (each RESTORE its own event). With stale_ms at 300 a
	 * stalled emulator may add a spurious round: at least six, then.
	 */
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 200));
	EXPECT_LE(SIM_NRELAYS - 2, ph_evlog_count(&self->log, PHLOEM_EV_RESTORE, PHLOEM_NONE));
	for (unsigned int i = 0; i < self->log.n; i++) {
		const struct phloem_rec_event *e = &self->log.rec[i].event;

		if (e->kind == PHLOEM_EV_RESTORE) {
			EXPECT_NE(R_FRIDGE, e->relay);
			EXPECT_NE(R_LIGHTS, e->relay);
		}
	}
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_FAILSAFE);
}

TEST_F(house, adc_fault_failsafe)
{
	struct phloem_stats sx;
	unsigned int i;

	NEED_DEV();
	check_failsafe(_metadata, self, "ch3/fault", PHLOEM_CAUSE_ADC, PH_TCG_STALE_MS);
	for (i = 0; i < self->log.n; i++) {
		const struct phloem_rec_event *e = &self->log.rec[i].event;

		if (e->kind == PHLOEM_EV_ADC_FAULT) {
			EXPECT_EQ(CH_GARAGE, e->channel);
			EXPECT_EQ(PHLOEM_CAUSE_ADC, e->cause);
		}
	}
	ASSERT_EQ(0, ph_stats(self->fd, &sx));
	EXPECT_LT(0, sx.adc_errors);
	EXPECT_LE(1, sx.failsafes);
}

TEST_F(house, stale_samples_failsafe)
{
	NEED_DEV();
	check_failsafe(_metadata, self, "stall", PHLOEM_CAUSE_STALE, 300);
}

TEST_HARNESS_MAIN
