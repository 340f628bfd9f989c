// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Frama-C harness of the shedding unit (kernel/shed.c, included as is).
 *
 * Under __FRAMAC__ only. main() builds an arbitrary topology and an
 * arbitrary configuration, each field anywhere in the range that
 * phloem_shed_check_config() documents (uapi/linux/phloem.h), initialises
 * the unit, then calls every public function of kernel/shed.h in any order,
 * any number of times, with arbitrary arguments: raw samples of any int32
 * value (out-of-range ones are ADC faults), any time (also backwards),
 * new configurations, leases, overrides of any relay and mode, faults of
 * any channel and cause. EVA then proves that no run of the unit can
 * overflow, divide by zero, shift out of range or read or write out of
 * bounds (make check-frama-eva). The relational constraints of the check
 * (a current's phase is a voltage channel, an offset is below 2^bits...)
 * are left to phloem_shed_check_config() itself: the harness only goes on
 * when it accepts, and the unit is analysed for every such configuration.
 */
#include <string.h>

#include "__fc_builtin.h"
/*
 * The one function the unit uses without a body, __builtin_clzll, is
 * specified by Frama-C's libc for the gcc_* machdeps (x != 0, result in
 * 0..63): EVA checks every call against that precondition.
 */
#include "kernel/shed.c"

static struct phloem_shed unit;
static struct phloem_info info;
static struct phloem_config cfg;

static uint64_t any_time(void)
{
	return Frama_C_unsigned_long_long_interval(0, SHED_U64_MAX);
}

static uint32_t any_u32(uint32_t lo, uint32_t hi)
{
	return Frama_C_unsigned_int_interval(lo, hi);
}

static void any_info(struct phloem_info *in)
{
	uint32_t i;

	memset(in, 0, sizeof(*in));
	in->nchannels = any_u32(1, PHLOEM_MAX_CHANNELS);
	in->ncircuits = any_u32(1, PHLOEM_MAX_CIRCUITS);
	in->nrelays = any_u32(0, PHLOEM_MAX_RELAYS);
	in->mains_hz = Frama_C_nondet(50, 60);
	in->nsignals = any_u32(0, PHLOEM_MAX_SIGNALS);
	for (i = 0; i < PHLOEM_MAX_CHANNELS; i++) {
		in->chan[i].kind = (uint8_t)Frama_C_nondet(PHLOEM_CHAN_VOLTAGE,
							  PHLOEM_CHAN_CURRENT);
		in->chan[i].phase = (uint8_t)any_u32(0, PHLOEM_MAX_CHANNELS - 1);
		in->chan[i].circuit = (uint8_t)any_u32(0, 255);
		in->chan[i].bits = (uint8_t)any_u32(8, 24);
	}
	for (i = 0; i < PHLOEM_MAX_CIRCUITS; i++) {
		in->circuit[i].channel = (uint8_t)any_u32(0,
						PHLOEM_MAX_CHANNELS - 1);
		in->circuit[i].curve = (uint8_t)any_u32(0, __PHLOEM_CURVE_MAX - 1);
		in->circuit[i].rating_ma = any_u32(1, SHED_U32_MAX);
	}
	for (i = 0; i < PHLOEM_MAX_RELAYS; i++)
		in->relay[i].safe_state = (uint8_t)any_u32(0, 1);
}

/* the frequency rule: any stage, on or off, over-frequency on or off */
static void any_freq(struct phloem_config *c)
{
	uint32_t k;

	c->over_freq_mhz = Frama_C_nondet(0, any_u32(50050, 66000));
	c->over_freq_ms = any_u32(0, PHLOEM_FREQ_DELAY_MAX_MS);
	for (k = 0; k < PHLOEM_FREQ_STAGES; k++) {
		struct phloem_freq_stage *fc = &c->freq_stage[k];

		fc->threshold_mhz = Frama_C_nondet(0, any_u32(45000, 60000));
		fc->delay_ms = any_u32(0, PHLOEM_FREQ_DELAY_MAX_MS);
		fc->restore_ms = any_u32(0, PHLOEM_FREQ_RESTORE_MAX_MS);
		fc->hyst_mhz = (uint16_t)any_u32(0, PHLOEM_FREQ_HYST_MAX_MHZ);
		fc->prio_min = (uint8_t)any_u32(0, 255);
		fc->prio_max = (uint8_t)any_u32(0, 255);
	}
}

/* the phase rules: any limit, on a measured phase or not, any grace */
static void any_phase(struct phloem_config *c)
{
	uint32_t p;

	for (p = 0; p < PHLOEM_MAX_PHASES; p++)
		c->phase_limit_ma[p] = any_u32(0, SHED_U32_MAX);
	c->imbalance_ma = any_u32(0, SHED_U32_MAX);
	c->imbalance_mva = any_u32(0, SHED_U32_MAX);
	c->phase_grace_ms = any_u32(0, PHLOEM_PHASE_GRACE_MAX_MS);
}

/* the mains rules: any of them on or off, any outage set */
static void any_mains(struct phloem_config *c)
{
	c->nominal_mv = Frama_C_nondet(0, any_u32(PHLOEM_NOMINAL_MV_MIN,
						  PHLOEM_NOMINAL_MV_MAX));
	c->outage_pct = any_u32(0, PHLOEM_OUTAGE_MAX_PCT);
	c->outage_cycles = any_u32(0, PHLOEM_OUTAGE_CYCLES_MAX);
	c->outage_relays = any_u32(0, SHED_U32_MAX);
	c->return_ms = any_u32(0, PHLOEM_RETURN_MS_MAX);
	c->return_stagger_ms = any_u32(0, PHLOEM_RETURN_STAGGER_MS_MAX);
	c->volt_band_pct = any_u32(0, PHLOEM_VOLT_BAND_MAX_PCT);
	c->volt_delay_ms = any_u32(0, PHLOEM_VOLT_DELAY_MAX_MS);
	c->uv_shed_pct = Frama_C_nondet(0, any_u32(PHLOEM_UV_SHED_MIN_PCT,
						   PHLOEM_UV_SHED_MAX_PCT));
	c->uv_shed_ms = any_u32(0, PHLOEM_UV_SHED_MAX_MS);
}

/* every field in its documented range; the check decides the rest */
static void any_config(struct phloem_config *c, const struct phloem_info *in)
{
	uint32_t i;

	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->sample_rate_hz = any_u32(PHLOEM_RATE_MIN_HZ, PHLOEM_RATE_MAX_HZ);
	c->site_import_limit_mw = any_u32(0, SHED_U32_MAX);
	c->site_import_grace_ms = any_u32(0, 600000);
	c->restore_delay_ms = any_u32(0, 3600000);
	c->retrip_window_ms = any_u32(0, 86400000);
	c->backoff_max = any_u32(0, 10);
	c->stale_ms = any_u32(1, 10000);
	c->nchannels = in->nchannels;
	c->ncircuits = in->ncircuits;
	c->nrelays = in->nrelays;
	for (i = 0; i < 4; i++)
		c->reserved[i] = 0;
	for (i = 0; i < PHLOEM_MAX_CHANNELS; i++) {
		c->cal[i].scale_uunit = any_u32(1, 100000000);
		c->cal[i].offset_lsb = any_u32(0, (1U << 24) - 1);
		c->cal[i].phase_mdeg = Frama_C_int_interval(-20000, 20000);
		c->cal[i].reserved = 0;
	}
	for (i = 0; i < PHLOEM_MAX_CIRCUITS; i++) {
		c->circuit[i].limit_ma = any_u32(1, SHED_U32_MAX);
		c->circuit[i].inst_pct = (uint16_t)any_u32(105, 1000);
		c->circuit[i].thermal_pct = (uint16_t)any_u32(5, 90);
		c->circuit[i].restore_pct = (uint16_t)any_u32(10, 100);
		c->circuit[i].max_hold_s = (uint16_t)any_u32(0, PHLOEM_MAX_HOLD_MAX_S);
	}
	for (i = 0; i < PHLOEM_MAX_RELAYS; i++) {
		c->relay[i].circuit = (uint8_t)any_u32(0,
						PHLOEM_MAX_CIRCUITS - 1);
		c->relay[i].priority = (uint8_t)any_u32(0, 255);
		c->relay[i].flags = (uint8_t)any_u32(0, __PHLOEM_RELAY_F_ALL);
		c->relay[i].reserved = 0;
		c->relay[i].min_off_ms = any_u32(0, 3600000);
	}
	any_freq(c);
	c->signal_debounce_us = any_u32(0, PHLOEM_SIGNAL_DEBOUNCE_MAX_US);
	c->signal_reserved = 0;
	for (i = 0; i < PHLOEM_MAX_SIGNALS; i++) {
		c->signal[i].import_cap_mw = any_u32(0, SHED_U32_MAX);
		c->signal[i].shed_relays = any_u32(0, SHED_U32_MAX);
	}
	any_phase(c);
	any_mains(c);
}

int main(void)
{
	struct phloem_shed *s = &unit;
	struct phloem_config nc, got;
	struct phloem_rec_event ev;
	struct phloem_rec_cycle cyc;
	struct phloem_status st;
	struct phloem_stats stats;
	int32_t raw[PHLOEM_MAX_CHANNELS];
	uint64_t t;
	uint32_t i;

	any_info(&info);
	any_config(&cfg, &info);
	if (phloem_shed_check_config(&info, &cfg))
		return 1;
	if (phloem_shed_size() != sizeof(unit))
		return 1;
	phloem_shed_init(s, &info, &cfg, any_time());
	/*
	 * Ring positions are masked on every write; tell the widening of
	 * this endless loop the bounds to try first (a hint, not a fact:
	 * EVA still checks every value against them).
	 */
	/*@ widen_hints global: 7, 8, 31, 63, 64, 255, 256,
	      4611686018427387904, -4611686018427387904; */
	while (Frama_C_nondet(0, 1)) {
		switch (Frama_C_interval(0, 16)) {
		case 0:
			/*@ loop unroll PHLOEM_MAX_CHANNELS; */
			for (i = 0; i < PHLOEM_MAX_CHANNELS; i++)
				raw[i] = Frama_C_int_interval(INT32_MIN,
							      INT32_MAX);
			phloem_shed_sample(s, raw, any_time());
			break;
		case 1:
			phloem_shed_fault(s, any_u32(0, SHED_U32_MAX),
					  any_u32(0, SHED_U32_MAX), any_time());
			break;
		case 2:
			phloem_shed_tick(s, any_time());
			break;
		case 3:
			any_config(&nc, &info);
			phloem_shed_set_config(s, &nc, any_time());
			break;
		case 4:
			phloem_shed_get_config(s, &got);
			break;
		case 5:
			phloem_shed_lease(s, any_u32(0, SHED_U32_MAX),
					  any_time());
			break;
		case 6:
			phloem_shed_override(s, any_u32(0, SHED_U32_MAX),
					     any_u32(0, SHED_U32_MAX),
					     any_u32(0, SHED_U32_MAX),
					     any_time());
			break;
		case 7:
			phloem_shed_pop_event(s, &ev, &t);
			break;
		case 8:
			phloem_shed_pop_cycle(s, &cyc, &t);
			break;
		case 9:
			phloem_shed_status(s, &st, any_time());
			break;
		case 10:
			phloem_shed_counters(s, &stats);
			break;
		case 11:
			phloem_shed_relays(s);
			break;
		case 12:
			phloem_shed_events_lost(s);
			break;
		case 13:
			phloem_shed_trip_ms(any_u32(0, SHED_U32_MAX),
					    any_u32(0, SHED_U32_MAX));
			break;
		case 14:
			phloem_shed_signal(s, any_u32(0, SHED_U32_MAX),
					   any_time());
			break;
		default:
			any_config(&nc, &info);
			phloem_shed_check_config(&info, &nc);
			break;
		}
	}
	return 0;
}
