// SPDX-License-Identifier: GPL-2.0
/*
 * libphloem sim: the waveform model around kernel/shed.c. The model must
 * produce cycles the unit measures back (RMS within a few percent), count
 * energy in both directions (a negative base current exports), and an
 * overload must shed the lowest-priority relay within one
 * mains cycle of the step, as the kernel does on hardware.
 */
#include <string.h>

#include "kselftest_harness.h"
#include "shed.h"
#include "sim/phloem_sim.h"

#define MS 1000000ull

static void topology(struct phloem_info *in, struct phloem_config *c)
{
	memset(in, 0, sizeof(*in));
	in->size = sizeof(*in);
	in->abi_version = PHLOEM_ABI_VERSION;
	strcpy(in->name, "simtest");
	in->nchannels = 3;
	in->ncircuits = 2;
	in->nrelays = 2;
	in->mains_hz = 50;
	in->record_size = PHLOEM_RECORD_SIZE;
	in->ring_records = PHLOEM_RING_RECORDS;
	strcpy(in->chan[0].name, "v0");
	in->chan[0].kind = PHLOEM_CHAN_VOLTAGE;
	in->chan[0].circuit = PHLOEM_NONE;
	in->chan[0].bits = 12;
	for (int i = 1; i < 3; i++) {
		snprintf(in->chan[i].name, PHLOEM_NAME_LEN, "i%d", i - 1);
		in->chan[i].kind = PHLOEM_CHAN_CURRENT;
		in->chan[i].circuit = (uint8_t)(i - 1);
		in->chan[i].bits = 12;
		in->circuit[i - 1].channel = (uint8_t)i;
	}
	strcpy(in->circuit[0].name, "site");
	in->circuit[0].rating_ma = 40000;
	strcpy(in->circuit[1].name, "garage");
	in->circuit[1].rating_ma = 32000;
	strcpy(in->relay[0].name, "ev");
	strcpy(in->relay[1].name, "heater");

	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->sample_rate_hz = 2000;
	c->site_import_grace_ms = 5000;
	c->restore_delay_ms = 1000;
	c->retrip_window_ms = 300000;
	c->backoff_max = 6;
	c->stale_ms = 1000;
	c->nchannels = 3;
	c->ncircuits = 2;
	c->nrelays = 2;
	phloem_sim_default_cal(in, 230000, c->cal);
	for (int i = 0; i < 2; i++) {
		c->circuit[i].limit_ma = in->circuit[i].rating_ma;
		c->circuit[i].inst_pct = 125;
		c->circuit[i].thermal_pct = 40;
		c->circuit[i].restore_pct = 80;
		c->relay[i].circuit = 1;
		c->relay[i].priority = (uint8_t)(10 + 10 * i);
	}
	c->circuit[1].limit_ma = 20000;
}

/* Advance in 100 ms steps, as the daemon's timer does (the model skips
 * ahead after gaps longer than a second). */
static void run_until(struct phloem_sim *sim, uint64_t *now, uint64_t to)
{
	while (*now < to) {
		*now += 100 * MS;
		if (*now > to)
			*now = to;
		phloem_sim_advance(sim, *now);
	}
}

FIXTURE(sim) {
	uint64_t now;
	struct phloem_sim *sim;
	struct phloem_info in;
	struct phloem_config cfg;
};

FIXTURE_SETUP(sim)
{
	topology(&self->in, &self->cfg);
	self->sim = phloem_sim_new(&self->in, &self->cfg, 230000, 0);
	ASSERT_NE(NULL, self->sim);
	phloem_sim_set_base(self->sim, 0, 1000);
	phloem_sim_set_base(self->sim, 1, 2000);
	phloem_sim_set_load(self->sim, 0, 10000);
	phloem_sim_set_load(self->sim, 1, 4000);
}

FIXTURE_TEARDOWN(sim)
{
	phloem_sim_free(self->sim);
}

TEST_F(sim, measures_what_it_makes)
{
	static struct phloem_status st;

	/* out of failsafe, both relays restored (1 s spacing) */
	run_until(self->sim, &self->now, 3000 * MS);
	phloem_shed_status(phloem_sim_shed(self->sim), &st, 3000 * MS);
	EXPECT_EQ(0x3u, phloem_shed_relays(phloem_sim_shed(self->sim)));
	/* 230 V within 2 % */
	EXPECT_LT(225400u, st.vrms_mv);
	EXPECT_GT(234600u, st.vrms_mv);
	/* garage 2 + 10 + 4 = 16 A; site carries it plus its own 1 A */
	EXPECT_LT(15500u, st.circuit[1].irms_ma);
	EXPECT_GT(16500u, st.circuit[1].irms_ma);
	EXPECT_LT(16500u, st.circuit[0].irms_ma);
	EXPECT_GT(17500u, st.circuit[0].irms_ma);
	EXPECT_LT(0u, (unsigned)st.energy[2].import_mwh);
	EXPECT_LT(16000u, phloem_sim_peak(self->sim, 1));
}

TEST_F(sim, overload_sheds_lowest_priority_within_a_cycle)
{
	struct phloem_shed *s = phloem_sim_shed(self->sim);
	struct phloem_rec_event ev;
	uint64_t t, step = 3000 * MS;
	bool shed = false;

	run_until(self->sim, &self->now, step);
	while (phloem_shed_pop_event(s, &ev, &t))
		;
	ASSERT_EQ(0x3u, phloem_shed_relays(s));
	/* garage: 15 + 10 + 4 = 29 A against 20 A * 125 % = 25 A */
	phloem_sim_set_base(self->sim, 1, 15000);
	run_until(self->sim, &self->now, step + 20 * MS);
	while (phloem_shed_pop_event(s, &ev, &t)) {
		if (ev.kind != PHLOEM_EV_SHED)
			continue;
		shed = true;
		EXPECT_EQ(0, ev.relay);			/* ev: priority 10 */
		EXPECT_EQ(PHLOEM_CAUSE_INSTANT, ev.cause);
		EXPECT_LE(t, step + 20 * MS);
	}
	EXPECT_TRUE(shed);
	EXPECT_EQ(0x2u, phloem_shed_relays(s));
}

/* A PV site: 10 A in antiphase on the incomer, nothing else drawing. */
TEST_F(sim, negative_base_exports)
{
	static struct phloem_status st;
	uint64_t exp1, exp2;

	phloem_sim_set_base(self->sim, 0, -10000);
	phloem_sim_set_base(self->sim, 1, 0);
	phloem_sim_set_load(self->sim, 0, 0);
	phloem_sim_set_load(self->sim, 1, 0);
	run_until(self->sim, &self->now, 3000 * MS);
	phloem_shed_status(phloem_sim_shed(self->sim), &st, self->now);
	/* 230 V x -10 A = -2300 W, within 3 % */
	EXPECT_GT(-2231000, st.site_p_mw);
	EXPECT_LT(-2369000, st.site_p_mw);
	EXPECT_LT(9700u, st.circuit[0].irms_ma);	/* RMS is a magnitude */
	EXPECT_EQ(0u, st.energy[1].import_mwh);
	exp1 = st.energy[1].export_mwh;
	EXPECT_LT(0u, exp1);
	run_until(self->sim, &self->now, 6000 * MS);
	phloem_shed_status(phloem_sim_shed(self->sim), &st, self->now);
	exp2 = st.energy[1].export_mwh;
	EXPECT_EQ(0u, st.energy[1].import_mwh);
	/* 3 s at 2300 W = 1916.7 mWh, within 3 % */
	EXPECT_LT(1859u, exp2 - exp1);
	EXPECT_GT(1975u, exp2 - exp1);
	/* the site nets a final circuit's import against its own export */
	phloem_sim_set_base(self->sim, 1, 4000);
	run_until(self->sim, &self->now, 7000 * MS);
	phloem_shed_status(phloem_sim_shed(self->sim), &st, self->now);
	EXPECT_GT(-1300000, st.site_p_mw);	/* -6 A: -1380 W */
	EXPECT_LT(-1460000, st.site_p_mw);
	EXPECT_LT(0u, st.energy[2].import_mwh);	/* the garage imports */
}

TEST(refuses_bad_config)
{
	struct phloem_info in;
	struct phloem_config c;

	topology(&in, &c);
	c.circuit[1].limit_ma = 33000;	/* above the 32 A breaker */
	EXPECT_EQ(NULL, phloem_sim_new(&in, &c, 230000, 0));
}

TEST_HARNESS_MAIN
