// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libphloem sim: waveform model around the kernel's pure shedding unit.
 * See phloem_sim.h.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shed.h"
#include "phloem_sim.h"

#define SIM_BITS	12
#define SIM_MID		(1 << (SIM_BITS - 1))
#define SIM_MAX_CATCHUP_NS	1000000000ull

/**
 * struct phloem_sim - one simulated HAT
 * @shed: the decision unit (phloem_shed_size() bytes, 8-aligned)
 * @info: topology
 * @cal: calibration the samples are produced with (the unit's own config may
 *       be replaced later through phloem_shed_set_config(); the model keeps
 *       producing raw values with the calibration it started with, as real
 *       hardware would)
 * @base_ma: per circuit load without relays; negative: exports (antiphase)
 * @load_ma: per relay load when on
 * @t0_ns: start, phase reference of the waveforms
 * @next_ns: time of the next sample to produce
 * @period_ns: sample spacing
 * @peak: per channel largest cycle RMS since last read
 */
struct phloem_sim {
	struct phloem_shed *shed;
	struct phloem_info info;
	struct phloem_chan_cal cal[PHLOEM_MAX_CHANNELS];
	uint32_t vrms_mv;
	int32_t base_ma[PHLOEM_MAX_CIRCUITS];
	uint32_t load_ma[PHLOEM_MAX_RELAYS];
	uint64_t t0_ns;
	uint64_t next_ns;
	uint64_t period_ns;
	uint64_t samples;
	uint32_t peak[PHLOEM_MAX_CHANNELS];
};

void phloem_sim_default_cal(const struct phloem_info *info, uint32_t vrms_mv,
			    struct phloem_chan_cal *cal)
{
	double full = (double)(SIM_MID - 1);

	memset(cal, 0, sizeof(*cal) * PHLOEM_MAX_CHANNELS);
	for (uint32_t ch = 0; ch < info->nchannels; ch++) {
		double range_u = 0;

		if (info->chan[ch].kind == PHLOEM_CHAN_VOLTAGE) {
			range_u = vrms_mv * 1000.0 * M_SQRT2 * 1.5;
		} else {
			uint32_t rating = 0;

			for (uint32_t c = 0; c < info->ncircuits; c++)
				if (info->circuit[c].channel == ch)
					rating = info->circuit[c].rating_ma;
			if (!rating)
				rating = 100000;
			range_u = rating * 1000.0 * M_SQRT2 * 4.0;
		}
		cal[ch].scale_uunit = (uint32_t)ceil(range_u / full);
		cal[ch].offset_lsb = SIM_MID;
	}
}

struct phloem_sim *phloem_sim_new(const struct phloem_info *info,
				  const struct phloem_config *boot,
				  uint32_t vrms_mv, uint64_t now_ns)
{
	struct phloem_sim *sim;

	if (info->nchannels < 1 || info->nchannels > PHLOEM_MAX_CHANNELS ||
	    info->chan[0].kind != PHLOEM_CHAN_VOLTAGE ||
	    phloem_shed_check_config(info, boot)) {
		errno = EINVAL;
		return NULL;
	}
	sim = calloc(1, sizeof(*sim));
	if (!sim)
		return NULL;
	sim->shed = aligned_alloc(8, (phloem_shed_size() + 7) & ~7u);
	if (!sim->shed) {
		free(sim);
		errno = ENOMEM;
		return NULL;
	}
	memset(sim->shed, 0, phloem_shed_size());
	sim->info = *info;
	memcpy(sim->cal, boot->cal, sizeof(sim->cal));
	sim->vrms_mv = vrms_mv;
	sim->t0_ns = now_ns;
	sim->next_ns = now_ns;
	sim->period_ns = 1000000000ull / boot->sample_rate_hz;
	phloem_shed_init(sim->shed, info, boot, now_ns);
	return sim;
}

void phloem_sim_free(struct phloem_sim *sim)
{
	if (!sim)
		return;
	free(sim->shed);
	free(sim);
}

void phloem_sim_set_base(struct phloem_sim *sim, uint32_t circuit, int32_t ma)
{
	if (circuit < PHLOEM_MAX_CIRCUITS)
		sim->base_ma[circuit] = ma;
}

void phloem_sim_set_load(struct phloem_sim *sim, uint32_t relay, uint32_t ma)
{
	if (relay < PHLOEM_MAX_RELAYS)
		sim->load_ma[relay] = ma;
}

struct phloem_shed *phloem_sim_shed(struct phloem_sim *sim)
{
	return sim->shed;
}

/* Signed RMS current of every circuit for the relay bitmap in force: the
 * sign is the phase (negative: antiphase, exporting), so the site's sum
 * nets export against import as the incomer's CT sees it. */
static void circuit_rms(const struct phloem_sim *sim, uint32_t relays,
			const struct phloem_config *cfg, double *ma)
{
	const struct phloem_info *in = &sim->info;

	for (uint32_t c = 0; c < in->ncircuits; c++)
		ma[c] = sim->base_ma[c];
	for (uint32_t r = 0; r < in->nrelays; r++)
		if (relays & (1u << r))
			ma[cfg->relay[r].circuit] += sim->load_ma[r];
	/* the site incomer carries every final circuit */
	for (uint32_t c = 1; c < in->ncircuits; c++)
		ma[0] += ma[c];
}

static int32_t to_raw(double value_u, const struct phloem_chan_cal *cal)
{
	double raw = cal->offset_lsb + value_u / cal->scale_uunit;

	if (raw < 0)
		return 0;
	if (raw > (1 << SIM_BITS) - 1)
		return (1 << SIM_BITS) - 1;
	return (int32_t)(raw + 0.5);	/* lround() of a value >= 0 */
}

/*
 * sin(2 pi @turn), @turn in [0, 1), without libm: the sample loop runs a
 * thousand times a second in phloemd, and calling libm's sin() (and
 * lround()) kept about 0.3 MiB of libm resident there for good: the code
 * its IFUNC resolver picks, the tables that code reads, and their
 * neighbours that fault-around maps with them. A 12-bit ADC needs nothing
 * like that accuracy: the angle is brought to within pi/4 of a quarter turn
 * and the Taylor series to the 11th/12th power are within 1e-11 there.
 */
static double sin_turn(double turn)
{
	double x = turn * 4;		/* quarter turns, [0, 4) */
	int q = (int)(x + 0.5);		/* the nearest, 0..4 */
	double r = (x - q) * (M_PI / 2), r2 = r * r;	/* |r| <= pi/4 */
	double s = r * (1 - r2 / 6 * (1 - r2 / 20 * (1 - r2 / 42 * (1 - r2 / 72 *
				(1 - r2 / 110)))));
	double c = 1 - r2 / 2 * (1 - r2 / 12 * (1 - r2 / 30 * (1 - r2 / 56 *
				(1 - r2 / 90 * (1 - r2 / 132)))));

	switch (q & 3) {
	case 0: return s;
	case 1: return c;
	case 2: return -s;
	default: return -c;
	}
}

bool phloem_sim_advance(struct phloem_sim *sim, uint64_t now_ns)
{
	const struct phloem_info *in = &sim->info;
	struct phloem_config cfg;
	double ma[PHLOEM_MAX_CIRCUITS];
	int32_t raw[PHLOEM_MAX_CHANNELS];
	uint32_t relays = UINT32_MAX;
	bool any = false;

	if (now_ns > sim->next_ns + SIM_MAX_CATCHUP_NS)
		sim->next_ns = now_ns - SIM_MAX_CATCHUP_NS;
	phloem_shed_get_config(sim->shed, &cfg);
	for (; sim->next_ns <= now_ns; sim->next_ns += sim->period_ns) {
		/* the turns since t0 are whole in every whole second: only the
		 * fraction of a second counts, exact whatever the uptime */
		uint64_t ns = (sim->next_ns - sim->t0_ns) % 1000000000ull;
		double s = sin_turn((double)(ns * in->mains_hz % 1000000000ull) * 1e-9);
		uint32_t want = phloem_shed_relays(sim->shed);
		struct phloem_rec_cycle cy;
		uint64_t cy_ns;

		if (want != relays) {
			relays = want;
			circuit_rms(sim, relays, &cfg, ma);
		}
		memset(raw, 0, sizeof(raw));
		for (uint32_t ch = 0; ch < in->nchannels; ch++) {
			if (in->chan[ch].kind == PHLOEM_CHAN_VOLTAGE)
				raw[ch] = to_raw(sim->vrms_mv * 1000.0 * M_SQRT2 * s,
						 &sim->cal[ch]);
			else if (in->chan[ch].circuit < in->ncircuits)
				raw[ch] = to_raw(ma[in->chan[ch].circuit] * 1000.0 *
						 M_SQRT2 * s, &sim->cal[ch]);
			else
				raw[ch] = (int32_t)sim->cal[ch].offset_lsb;
		}
		any |= phloem_shed_sample(sim->shed, raw, sim->next_ns);
		sim->samples++;
		while (phloem_shed_pop_cycle(sim->shed, &cy, &cy_ns))
			for (uint32_t ch = 0; ch < cy.nchannels && ch < PHLOEM_MAX_CHANNELS; ch++)
				if (cy.chan[ch].rms > sim->peak[ch])
					sim->peak[ch] = cy.chan[ch].rms;
	}
	any |= phloem_shed_tick(sim->shed, now_ns);
	return any;
}

uint32_t phloem_sim_peak(struct phloem_sim *sim, uint32_t chan)
{
	uint32_t p;

	if (chan >= PHLOEM_MAX_CHANNELS)
		return 0;
	p = sim->peak[chan];
	sim->peak[chan] = 0;
	return p;
}

void phloem_sim_stats(const struct phloem_sim *sim, struct phloem_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	phloem_shed_counters(sim->shed, st);
	st->samples = sim->samples;
}
