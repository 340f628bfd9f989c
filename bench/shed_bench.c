// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * shed_bench: the shedding unit's cost and detection latency.
 *
 *   shed_bench cost NCH NSETS shed|base
 *       feeds NSETS precomputed sample sets of NCH channels (v0 + currents)
 *       to phloem_shed_sample() ("shed") or to a bare calibrate-and-square
 *       loop over the same samples ("base"); run under callgrind with
 *       --toggle-collect on the function (bench/shed_bench.sh does), the
 *       warm-up (initial failsafe, first cycles) is excluded with
 *       CALLGRIND_ZERO_STATS.
 *   shed_bench latency
 *       steps a 16 A B-curve circuit to 1.2, 1.5, 2 and 6 times its limit
 *       at several phases of the mains cycle, in the closed-loop simulated
 *       HAT, and prints the worst time from the step to the sample that
 *       triggered the shed, beside the breaker model's trip time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_ZERO_STATS
#endif

#include "shed_sim.h"

#define MS	1000000ULL

/* ------------------------------------------------------------------ */
/* cost                                                                */
/* ------------------------------------------------------------------ */

static void cost_topology(uint32_t nch, struct phloem_info *info,
			  struct phloem_config *cfg)
{
	uint32_t i, ncirc = nch - 1, nrel = 0;

	memset(info, 0, sizeof(*info));
	memset(cfg, 0, sizeof(*cfg));
	info->nchannels = nch;
	info->ncircuits = ncirc;
	info->mains_hz = 50;
	for (i = 0; i < nch; i++) {
		info->chan[i].kind = i ? PHLOEM_CHAN_CURRENT : PHLOEM_CHAN_VOLTAGE;
		info->chan[i].circuit = i ? i - 1 : PHLOEM_NONE;
		info->chan[i].bits = 12;
		cfg->cal[i].scale_uunit = i ? 50000 : 250000;
		cfg->cal[i].offset_lsb = 2048;
		cfg->cal[i].phase_mdeg = i ? 1500 : 0;
	}
	for (i = 0; i < ncirc; i++) {
		info->circuit[i].channel = i + 1;
		info->circuit[i].rating_ma = i ? 16000 : 63000;
		cfg->circuit[i].limit_ma = info->circuit[i].rating_ma;
		cfg->circuit[i].inst_pct = 125;
		cfg->circuit[i].thermal_pct = 40;
		cfg->circuit[i].restore_pct = 80;
	}
	/* two relays per final circuit */
	for (i = 1; i < ncirc && nrel + 2 <= PHLOEM_MAX_RELAYS; i++) {
		cfg->relay[nrel].circuit = i;
		cfg->relay[nrel++].priority = 10;
		cfg->relay[nrel].circuit = i;
		cfg->relay[nrel++].priority = 20;
	}
	if (ncirc == 1)
		cfg->relay[nrel++].circuit = 0;
	info->nrelays = nrel;
	cfg->nrelays = nrel;
	cfg->nchannels = nch;
	cfg->ncircuits = ncirc;
	cfg->sample_rate_hz = 4000;
	cfg->restore_delay_ms = 0;	/* all relays back within the warm-up */
	cfg->retrip_window_ms = 60000;
	cfg->backoff_max = 6;
	cfg->stale_ms = 100;
}

/* the baseline: calibrate and square every sample, nothing else */
__attribute__((noinline)) uint64_t bench_baseline(const int32_t *raw,
						 uint32_t nch, uint64_t *acc)
{
	uint32_t i;

	for (i = 0; i < nch; i++) {
		int64_t x = ((int64_t)(raw[i] - 2048) * 838861) >> 16;

		acc[i] += (uint64_t)(x * x);
	}
	return acc[0];
}

static int cost(uint32_t nch, uint32_t nsets, const char *which)
{
	struct phloem_info info;
	struct phloem_config cfg;
	struct phloem_shed *s;
	uint64_t acc[PHLOEM_MAX_CHANNELS] = { 0 }, t = 1000000000ULL;
	uint32_t warm = 4000, n, i;
	int32_t *raw;

	if (nch < 2 || nch > PHLOEM_MAX_CHANNELS)
		return 2;
	cost_topology(nch, &info, &cfg);
	if (phloem_shed_check_config(&info, &cfg)) {
		fprintf(stderr, "shed_bench: bad topology\n");
		return 1;
	}
	raw = calloc((size_t)(nsets + warm) * nch, sizeof(*raw));
	s = calloc(1, phloem_shed_size());
	if (!raw || !s)
		return 1;
	/* 230 V and 2..9 A loads with some phase, 12-bit, a little noise */
	for (n = 0; n < nsets + warm; n++) {
		double wt = 2 * M_PI * 50 * n / 4000.0;

		for (i = 0; i < nch; i++) {
			double x = i ? (2 + i) * M_SQRT2 * sin(wt - 0.3) / 0.05 :
				       230 * M_SQRT2 * sin(wt) / 0.25;

			raw[n * nch + i] = 2048 + (int32_t)lround(x) +
					   (int32_t)(n * 7 + i) % 3 - 1;
		}
	}
	phloem_shed_init(s, &info, &cfg, t);
	for (n = 0; n < warm; n++, t += 250000) {
		if (!strcmp(which, "shed"))
			phloem_shed_sample(s, raw + n * nch, t);
		else
			bench_baseline(raw + n * nch, nch, acc);
	}
	CALLGRIND_ZERO_STATS;
	for (; n < nsets + warm; n++, t += 250000) {
		if (!strcmp(which, "shed"))
			phloem_shed_sample(s, raw + n * nch, t);
		else
			bench_baseline(raw + n * nch, nch, acc);
	}
	/* the workload must be the steady state: no relay left failsafe */
	if (!strcmp(which, "shed") &&
	    phloem_shed_relays(s) != (1U << info.nrelays) - 1) {
		fprintf(stderr, "shed_bench: relays %#x not all on\n",
			phloem_shed_relays(s));
		return 1;
	}
	printf("%s %u %u %llu\n", which, nch, nsets,
	       (unsigned long long)acc[0]);
	free(raw);
	free(s);
	return 0;
}

/* ------------------------------------------------------------------ */
/* latency                                                             */
/* ------------------------------------------------------------------ */

/* time from the step to the sample that triggered the first shed, ns */
static uint64_t step_latency(double mult, double phase_deg, uint32_t *cause)
{
	struct sim *m = calloc(1, sizeof(*m));
	uint64_t t_step, lat = UINT64_MAX, end;
	double period;
	int i0, e;

	sim_default(m, 50, 4000);
	sim_start(m);
	if (!sim_settle(m))
		goto out;
	/* start the step at the wanted phase of v0 */
	period = 1e9 / m->freq;
	while (fmod((double)(m->ns - 1000000000ULL), period) / period * 360 <
	       phase_deg - 360.0 / 80)
		sim_step(m);
	while (fmod((double)(m->ns - 1000000000ULL), period) / period * 360 <
	       phase_deg)
		sim_step(m);
	m->relay_a[SIM_EV] = mult * 16 - (0.5 + 2 + 2 + 1);
	i0 = m->nev;
	t_step = m->ns;
	end = t_step + 200000 * MS;
	while (m->ns < end) {
		sim_step(m);
		e = sim_find(m, i0, PHLOEM_EV_SHED);
		if (e >= 0) {
			lat = m->ev[e].ev.trigger_ns - t_step;
			*cause = m->ev[e].ev.cause;
			break;
		}
		i0 = m->nev;
	}
out:
	sim_free(m);
	free(m);
	return lat;
}

static int latency(void)
{
	static const double mults[] = { 1.2, 1.5, 2.0, 6.0 };
	static const double phases[] = { 0, 45, 90, 135, 180, 270 };
	static const char *cname[] = { [PHLOEM_CAUSE_INSTANT] = "instant",
				       [PHLOEM_CAUSE_THERMAL] = "thermal" };
	unsigned int k, p;
	int fail = 0;

	printf("\nDetection latency: 16 A B-curve circuit, limit = rating, "
	       "inst 125 %%, thermal 40 %%, 4 kHz, 50 Hz\n");
	printf("(worst of %zu step phases; time from the step to the sample "
	       "that triggered the shed)\n\n", sizeof(phases) / sizeof(phases[0]));
	printf("%-6s %-8s %12s %12s %12s %12s %-6s\n", "step", "rule",
	       "latency_ms", "trip_ms", "trip/2_ms", "target_ms", "result");
	for (k = 0; k < sizeof(mults) / sizeof(mults[0]); k++) {
		uint32_t trip = phloem_shed_trip_ms(PHLOEM_CURVE_B,
						    (uint32_t)lround(mults[k] * 1000));
		uint64_t worst = 0, target;
		uint32_t cause = 0;
		char name[16];

		for (p = 0; p < sizeof(phases) / sizeof(phases[0]); p++) {
			uint64_t l = step_latency(mults[k], phases[p], &cause);

			if (l > worst)
				worst = l;
		}
		target = (uint64_t)trip * MS / 2;
		if (mults[k] >= 1.5 && target > 20 * MS)
			target = 20 * MS;
		fail |= worst > target;
		snprintf(name, sizeof(name), "%.1fx", mults[k]);
		printf("%-6s %-8s %12.1f %12u %12.1f %12.1f %-6s\n", name,
		       cause < sizeof(cname) / sizeof(cname[0]) && cname[cause] ?
		       cname[cause] : "-",
		       worst == UINT64_MAX ? -1.0 : worst / 1e6, trip, trip / 2.0,
		       target / 1e6, worst <= target ? "PASS" : "FAIL");
	}
	return fail;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "cost"))
		return cost((uint32_t)atoi(argv[2]), (uint32_t)atoi(argv[3]),
			    argv[4]);
	if (argc == 2 && !strcmp(argv[1], "latency"))
		return latency();
	fprintf(stderr, "usage: shed_bench cost NCH NSETS shed|base | "
		"shed_bench latency\n");
	return 2;
}
