/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * shed_sim: a closed-loop simulated metering HAT for the shedding unit.
 *
 * Generates mains voltage and load currents (sines with phase, harmonics,
 * noise), quantises them like a 12-bit ADC, feeds them to the real
 * phloem_shed_sample() and switches the simulated loads with the relay
 * bitmap it returns: a shed relay's load disappears from the next sample.
 * Used by the unit tests and by the benchmark; host only (libm).
 */
#ifndef _PHLOEM_SHED_SIM_H
#define _PHLOEM_SHED_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include "kernel/shed.h"

#define SIM_EVMAX	8192
/* the clock does not start at zero; v0 rises through zero at it */
#define SIM_T0		1000000000ULL

/* channels of the default topology */
enum { SIM_V0, SIM_ISITE, SIM_I1, SIM_I2, SIM_NCH };
/* channels of the three-phase house (sim_three_phase()) */
enum { SIM3_V1, SIM3_V2, SIM3_V3, SIM3_ISITE1, SIM3_IKITCHEN, SIM3_IGARAGE,
       SIM3_ISITE2, SIM3_ISITE3, SIM3_NCH };
/* relays of the default topology */
enum { SIM_EV, SIM_HEATER, SIM_DRYER, SIM_FRIDGE, SIM_PUMP, SIM_OVEN,
       SIM_NRELAYS };

struct sim_ev {
	struct phloem_rec_event ev;
	uint64_t t;
};

/**
 * struct sim - one simulated device
 * @base_a: per circuit RMS current not behind any relay (circuit 0: loads
 *          on the site that are not on a metered sub-circuit)
 * @relay_a: RMS current of each relay's load while the relay is on
 * @ct_lag_deg: phase error of each current channel's CT (the unit corrects
 *              it with cal.phase_mdeg)
 * @pdt: per channel sum of p_mw * cycle length (mW ns) over popped cycles
 * @pdt_neg: the same for negative power
 */
struct sim {
	struct phloem_info info;
	struct phloem_config cfg;
	struct phloem_shed *s;
	uint64_t ns;		/* time of the next sample */
	uint64_t nsamples;
	double freq, vrms, h3, h5, noise_v, noise_i, vphase;
	double base_a[PHLOEM_MAX_CIRCUITS], base_phi[PHLOEM_MAX_CIRCUITS];
	double relay_a[PHLOEM_MAX_RELAYS], relay_phi[PHLOEM_MAX_RELAYS];
	double ct_lag_deg[PHLOEM_MAX_CHANNELS];
	bool mains;
	uint64_t rng;
	uint32_t tick_every;	/* call phloem_shed_tick every N samples */

	struct sim_ev ev[SIM_EVMAX];
	int nev;
	struct phloem_rec_cycle cyc;	/* last popped */
	uint64_t cyc_t, prev_cyc_t;
	uint64_t ncyc;
	unsigned __int128 pdt[PHLOEM_MAX_CHANNELS], pdt_neg[PHLOEM_MAX_CHANNELS];
	bool no_pop;		/* leave events queued (overflow tests) */

	/*
	 * A sampler that falls behind, as a starved sampling thread does
	 * (all off by default: one set every period, on time):
	 * @late_pct: percent of rounds that overrun and skip 1..@late_max
	 *            whole periods
	 * @jitter: each set is taken up to this fraction of a period late
	 * @stall_every_ns, @stall_ns: every @stall_every_ns the sampler is
	 *            blocked for @stall_ns (a competing periodic task)
	 * @busy_ns, @busy_jitter_ns: a slow converter: every round takes
	 *            @busy_ns plus up to @busy_jitter_ns to read its channels,
	 *            and the next set starts at the first period boundary
	 *            after that (the driver's thread skips missed periods)
	 * Sets keep their true time stamps, as the driver's do.
	 */
	uint32_t late_pct, late_max;
	uint64_t busy_ns, busy_jitter_ns;
	double jitter;
	uint64_t stall_every_ns, stall_ns;
	uint64_t grid;		/* the last period boundary */
	uint32_t lines;		/* grid-operator lines active (bit n: line n),
				 * given with every set when info.nsignals */
	uint64_t ns_set;	/* @ns as sim_step() left it */

	/*
	 * A grid whose frequency moves (sim_freq_track() turns it on): the
	 * mains angle is integrated sample by sample, so a step or a ramp of
	 * @freq keeps the waveform continuous, as a real grid does.
	 * @ramp_hz_s: rate of change of @freq (Hz/s, signed) until it
	 *             reaches @ramp_to
	 * @spike_v, @spike_ns: one sample at or after @spike_ns gets
	 *             @spike_v added to v0 (one bad crossing), then it is off
	 */
	bool fm;
	double ph, ramp_hz_s, ramp_to, spike_v;
	uint64_t ph_ns, spike_ns;
	/*
	 * Mis-stamped reads, as a sampling thread preempted between taking
	 * the time and reading the ADC gives (and the VM's emulation, often):
	 * @misstamp_pct percent of the sets are stamped up to @misstamp_ns
	 * before the instant they were really taken.
	 */
	uint32_t misstamp_pct;
	uint64_t misstamp_ns;
	/*
	 * A three-phase house (off by default): the k-th voltage channel is
	 * phase L(k+1), 120 degrees behind the one before; a current channel
	 * is taken at its phase's angle, and one of circuit 0 (a site CT)
	 * measures @phase_a[k] of unswitched load on its phase plus every
	 * circuit whose channel is on that phase (base_a[0] is not used).
	 */
	bool three_phase;
	double phase_a[PHLOEM_MAX_PHASES];
};

void sim_default(struct sim *m, uint32_t mains_hz, uint32_t rate_hz);
/* rewire sim_default()'s house as three-phase (tests/unit/phase_test.c) */
void sim_three_phase(struct sim *m);
void sim_start(struct sim *m);
void sim_free(struct sim *m);
/* a heap simulation with sim_default()'s house (sim_start() not called) */
struct sim *sim_new(uint32_t mains_hz, uint32_t rate_hz);
/* sim_free() and the simulation itself */
void sim_del(struct sim *m);
/* one sample set; returns phloem_shed_sample()'s value */
bool sim_step(struct sim *m);
void sim_run_ms(struct sim *m, uint64_t ms);
/* run until the unit leaves the initial failsafe and every relay is back */
bool sim_settle(struct sim *m);
/* circuit RMS current the simulation draws now (closed loop) */
double sim_circuit_a(const struct sim *m, uint32_t c);
/* index of the first event of @kind at or after @from, or -1 */
int sim_find(const struct sim *m, int from, uint32_t kind);
int sim_count(const struct sim *m, int from, uint32_t kind);
/* the same for events of @kind with @cause */
int sim_find_cause(const struct sim *m, int from, uint32_t kind,
		   uint32_t cause);
int sim_count_cause(const struct sim *m, int from, uint32_t kind,
		    uint32_t cause);
uint64_t sim_now_ms(const struct sim *m);
/* integrate the mains angle from now on (frequency steps and ramps) */
void sim_freq_track(struct sim *m);
/* ramp @freq at @hz_s (Hz/s) to @to; a step is a write of m->freq */
void sim_freq_ramp(struct sim *m, double hz_s, double to);
void sim_status(const struct sim *m, struct phloem_status *st);
/* three_phase: the RMS current the site CT of voltage channel @v carries */
double sim_phase_a(const struct sim *m, uint32_t v);

#endif
