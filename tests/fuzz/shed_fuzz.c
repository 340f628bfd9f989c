// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libFuzzer target for the shedding unit (kernel/shed.c, linked as is).
 *
 * The input is a program: a configuration header, then operations (sample
 * bursts of synthetic mains waveforms or raw ADC words, set_config with a
 * field forced to an arbitrary value, lease, override, fault, tick, time
 * jumps forwards and backwards). After every operation the invariants the
 * kernel relies on are checked, and any failure aborts:
 *  - a critical relay is never shed and never off for a rule;
 *  - in failsafe every relay is in its safe state;
 *  - counters and energy counters never go down;
 *  - a rejected set_config changes nothing;
 *  - events and cycle records are well formed.
 * ASan and UBSan catch the rest (overflow, out-of-bounds, shifts).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/shed.h"

#define NCH	4
#define NREL	6

struct in {
	const uint8_t *p;
	size_t n;
};

static uint32_t take(struct in *in, unsigned int bytes)
{
	uint32_t v = 0;

	while (bytes--) {
		v <<= 8;
		if (in->n) {
			v |= *in->p++;
			in->n--;
		}
	}
	return v;
}

static int16_t sine[256];

static void topology(struct phloem_info *info, struct phloem_config *cfg,
		     struct in *in)
{
	static const uint8_t rcirc[NREL] = { 1, 1, 1, 1, 2, 2 };
	uint32_t i;

	memset(info, 0, sizeof(*info));
	memset(cfg, 0, sizeof(*cfg));
	info->nchannels = NCH;
	info->ncircuits = 3;
	info->nrelays = NREL;
	info->mains_hz = take(in, 1) & 1 ? 60 : 50;
	for (i = 0; i < NCH; i++) {
		info->chan[i].kind = i ? PHLOEM_CHAN_CURRENT : PHLOEM_CHAN_VOLTAGE;
		info->chan[i].phase = 0;
		info->chan[i].circuit = i ? i - 1 : PHLOEM_NONE;
		info->chan[i].bits = 12;
		cfg->cal[i].scale_uunit = i ? 20000 + take(in, 2) * 4 : 250000;
		cfg->cal[i].offset_lsb = 2048;
		cfg->cal[i].phase_mdeg = i ? (int16_t)take(in, 2) % 20001 : 0;
	}
	for (i = 0; i < 3; i++) {
		info->circuit[i].channel = i + 1;
		info->circuit[i].curve = take(in, 1) % __PHLOEM_CURVE_MAX;
		info->circuit[i].rating_ma = i ? 16000 : 63000;
		cfg->circuit[i].limit_ma = 1000 + take(in, 2) % info->circuit[i].rating_ma;
		if (cfg->circuit[i].limit_ma > info->circuit[i].rating_ma)
			cfg->circuit[i].limit_ma = info->circuit[i].rating_ma;
		cfg->circuit[i].inst_pct = 105 + take(in, 1) * 3;
		cfg->circuit[i].thermal_pct = 5 + take(in, 1) % 86;
		cfg->circuit[i].restore_pct = 10 + take(in, 1) % 91;
	}
	for (i = 0; i < NREL; i++) {
		uint8_t b = (uint8_t)take(in, 1);

		info->relay[i].safe_state = b & 1;
		cfg->relay[i].circuit = rcirc[i];
		cfg->relay[i].priority = (uint8_t)take(in, 1);
		cfg->relay[i].flags = b >> 1 & 1;
		cfg->relay[i].min_off_ms = take(in, 2);
	}
	cfg->sample_rate_hz = 1000 + take(in, 2) % 19001;
	cfg->site_import_limit_mw = take(in, 1) ? take(in, 4) : 0;
	cfg->site_import_grace_ms = take(in, 2);
	cfg->restore_delay_ms = take(in, 2);
	cfg->retrip_window_ms = take(in, 3);
	cfg->backoff_max = take(in, 1) % 11;
	cfg->stale_ms = 1 + take(in, 2) % 10000;
	cfg->nchannels = NCH;
	cfg->ncircuits = 3;
	cfg->nrelays = NREL;
}

/* arbitrary value into one field, so both checks and ranges get exercised */
static void mutate(struct phloem_config *c, struct in *in)
{
	uint32_t v = take(in, 4), f = take(in, 1), k = take(in, 1);

	switch (f % 16) {
	case 0: c->sample_rate_hz = v; break;
	case 1: c->site_import_limit_mw = v; break;
	case 2: c->site_import_grace_ms = v; break;
	case 3: c->restore_delay_ms = v; break;
	case 4: c->retrip_window_ms = v; break;
	case 5: c->backoff_max = v; break;
	case 6: c->stale_ms = v; break;
	case 7: c->cal[k % NCH].scale_uunit = v; break;
	case 8: c->cal[k % NCH].phase_mdeg = (int32_t)v; break;
	case 9: c->circuit[k % 3].limit_ma = v; break;
	case 10: c->circuit[k % 3].inst_pct = (uint16_t)v; break;
	case 11: c->circuit[k % 3].thermal_pct = (uint16_t)v; break;
	case 12: c->circuit[k % 3].restore_pct = (uint16_t)v; break;
	case 13: c->relay[k % NREL].flags = (uint8_t)v; break;
	case 14: c->relay[k % NREL].priority = (uint8_t)v; break;
	default: c->relay[k % NREL].min_off_ms = v; break;
	}
}

struct mono {
	struct phloem_stats cnt;
	struct phloem_chan_energy e[PHLOEM_MAX_CHANNELS];
	uint64_t lost;
};

static void invariants(struct phloem_shed *s, const struct phloem_info *info,
		       struct mono *m)
{
	struct phloem_status st;
	struct phloem_stats cnt;
	struct phloem_config cfg;
	uint32_t relays = phloem_shed_relays(s), i, safe = 0;

	memset(&st, 0, sizeof(st));
	memset(&cnt, 0, sizeof(cnt));
	phloem_shed_status(s, &st, 0);
	phloem_shed_counters(s, &cnt);
	phloem_shed_get_config(s, &cfg);
	if (relays >> NREL)
		abort();
	for (i = 0; i < NREL; i++) {
		safe |= (uint32_t)info->relay[i].safe_state << i;
		if (cfg.relay[i].flags & PHLOEM_RELAY_F_CRITICAL &&
		    st.relay[i].reason == PHLOEM_RELAY_SHED)
			abort();
		if (st.relay[i].on != !!(relays & (1U << i)))
			abort();
	}
	if (st.state & PHLOEM_STATE_F_FAILSAFE && relays != safe)
		abort();
	if (cnt.cycles < m->cnt.cycles || cnt.sheds < m->cnt.sheds ||
	    cnt.restores < m->cnt.restores ||
	    cnt.failsafes < m->cnt.failsafes ||
	    cnt.lease_expiries < m->cnt.lease_expiries ||
	    phloem_shed_events_lost(s) < m->lost)
		abort();
	for (i = 0; i < NCH; i++) {
		if (st.energy[i].import_mwh < m->e[i].import_mwh ||
		    st.energy[i].export_mwh < m->e[i].export_mwh)
			abort();
		m->e[i] = st.energy[i];
	}
	for (i = 0; i < 3; i++)
		if (st.circuit[i].heat_permille > 1000 ||
		    st.circuit[i].limit_ma > info->circuit[i].rating_ma)
			abort();
	m->cnt = cnt;
	m->lost = phloem_shed_events_lost(s);
}

static void drain(struct phloem_shed *s)
{
	struct phloem_rec_event ev;
	struct phloem_rec_cycle c;
	uint64_t t;

	while (phloem_shed_pop_event(s, &ev, &t))
		if (!ev.kind || ev.kind >= __PHLOEM_EV_MAX ||
		    ev.cause >= __PHLOEM_CAUSE_MAX ||
		    (ev.relay != PHLOEM_NONE && ev.relay >= NREL) ||
		    (ev.kind == PHLOEM_EV_SHED && ev.relay == PHLOEM_NONE))
			abort();
	if (!phloem_shed_pop_cycle(s, &c, &t))
		return;
	if (c.nchannels != NCH || c.relays_on >> NREL ||
	    c.relays_shed & c.relays_on)
		abort();
	for (int i = 0; i < NCH; i++)
		if (c.chan[i].pf_milli < -1000 || c.chan[i].pf_milli > 1000 ||
		    c.chan[i].flags & ~__PHLOEM_CHAN_F_ALL)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t mem[(1 << 16) / 8];
	struct phloem_shed *s = (struct phloem_shed *)mem;
	struct in in = { data, size };
	struct phloem_info info;
	struct phloem_config cfg;
	struct mono mono;
	uint64_t now = 1000000000ULL + take(&in, 4);
	uint32_t phase = 0, ops = 0, budget = 40000;
	int32_t amp[NCH] = { 1300, 0, 0, 0 };

	if (!sine[64])
		for (int i = 0; i < 256; i++)
			sine[i] = (int16_t)lround(32767 * sin(2 * M_PI * i / 256));
	if (phloem_shed_size() > sizeof(mem))
		abort();
	topology(&info, &cfg, &in);
	if (phloem_shed_check_config(&info, &cfg))
		return 0;
	memset(mem, 0, phloem_shed_size());
	memset(&mono, 0, sizeof(mono));
	phloem_shed_init(s, &info, &cfg, now);

	while (in.n && ops++ < 1000) {
		uint32_t op = take(&in, 1), i, n;

		switch (op % 9) {
		case 0:	/* a burst of synthetic mains: ~ one cycle per 64 steps */
		case 1: {
			uint32_t step = 1 + (op >> 4);
			uint64_t dt = 1000000000ULL / cfg.sample_rate_hz;

			n = take(&in, 1) * 8;
			/* bounded work per input keeps the run useful */
			if (n > budget)
				n = budget;
			budget -= n;
			for (i = 1; i < NCH; i++)
				amp[i] = (int32_t)(take(&in, 1) * 8);
			amp[0] = (int32_t)(take(&in, 1) * 6);
			for (i = 0; i < n; i++) {
				int32_t raw[NCH];
				uint32_t c;

				for (c = 0; c < NCH; c++)
					raw[c] = 2048 + amp[c] *
						 sine[(phase + c * 8) & 255] / 32767;
				for (c = 0; c < NCH; c++)
					raw[c] = raw[c] < 0 ? 0 :
						 raw[c] > 4095 ? 4095 : raw[c];
				phloem_shed_sample(s, raw, now);
				phase += step;
				now += dt;
			}
			break;
		}
		case 2: {	/* raw words, possibly out of range */
			int32_t raw[NCH];

			for (i = 0; i < NCH; i++)
				raw[i] = (int32_t)take(&in, 2) - 16;
			phloem_shed_sample(s, raw, now);
			now += take(&in, 2) * 1000ULL;
			break;
		}
		case 3: {
			struct phloem_config c2 = cfg, before, after;

			mutate(&c2, &in);
			phloem_shed_get_config(s, &before);
			if (phloem_shed_set_config(s, &c2, now)) {
				phloem_shed_get_config(s, &after);
				if (memcmp(&before, &after, sizeof(before)))
					abort();
			} else {
				cfg = c2;
			}
			break;
		}
		case 4:
			phloem_shed_lease(s, take(&in, 3) % 700000, now);
			break;
		case 5:
			phloem_shed_override(s, take(&in, 1) % (NREL + 1),
					     take(&in, 1) % 4, take(&in, 3), now);
			break;
		case 6:
			phloem_shed_fault(s, take(&in, 1) % (NCH + 1),
					  take(&in, 1) % __PHLOEM_CAUSE_MAX, now);
			break;
		case 7:
			now += take(&in, 3) * 1000ULL;
			phloem_shed_tick(s, now);
			break;
		default:	/* the caller's clock may step back */
			now -= take(&in, 1) * 1000ULL;
			break;
		}
		drain(s);
		invariants(s, &info, &mono);
	}
	return 0;
}
