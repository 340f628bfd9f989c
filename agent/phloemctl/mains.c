// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl mains: the kernel's mains rules (docs/shedding.md, "Mains"),
 * read from phloem.ko over netlink.
 *
 *   phloemctl mains [show] [--device N] [--json]
 *
 * Whether the house is islanded (mains lost) or on its staggered return,
 * the time left before stable mains ends the island, every voltage phase
 * against its band, and the settings in force: nominal voltage, outage
 * threshold, return and stagger times, voltage band and the under-voltage
 * rule. They are set by phloemd's policy ([site] outage_*, return_*,
 * volt_* and uv_shed_* keys, docs/phloemd.md) or by firmware.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pdclient.h"

/* a 0 in a field means its default (or off): what is in force */
static uint32_t or_default(uint32_t v, uint32_t dflt)
{
	return v ? v : dflt;
}

static void mains_json(const struct phloem_nl_device *d)
{
	const struct phloem_nl_mains *m = &d->mains;
	const struct phloem_nl_mains_cfg *c = &m->cfg;
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array();

#define ADD(k, v) json_object_object_add(o, k, v)
#define INT(v) json_object_new_int64(v)
	ADD("device", json_object_new_string(d->name));
	ADD("state", json_object_new_string(phloem_nl_mains_state_name(m->state)));
	ADD("islanded", json_object_new_boolean(d->state & PHLOEM_STATE_F_ISLAND));
	ADD("under_voltage_shedding",
	    json_object_new_boolean(d->state & PHLOEM_STATE_F_UNDER_VOLTAGE));
	ADD("return_left_ms", INT(m->return_left_ms));
	ADD("outage_ms", INT(m->outage_ms));
	ADD("nominal_mv", INT(or_default(c->nominal_mv, PHLOEM_NOMINAL_MV_DEFAULT)));
	ADD("outage_pct", INT(c->outage_pct));
	ADD("outage_cycles", INT(or_default(c->outage_cycles, PHLOEM_OUTAGE_CYCLES_DEFAULT)));
	ADD("outage_relays", INT(c->outage_relays));
	ADD("return_ms", INT(or_default(c->return_ms, PHLOEM_RETURN_MS_DEFAULT)));
	ADD("return_stagger_ms",
	    INT(or_default(c->return_stagger_ms, PHLOEM_RETURN_STAGGER_MS_DEFAULT)));
	ADD("volt_band_pct", INT(c->volt_band_pct));
	ADD("volt_delay_ms", INT(c->volt_delay_ms));
	ADD("uv_shed_pct", INT(c->uv_shed_pct));
	ADD("uv_shed_ms", INT(c->uv_shed_ms));
	for (uint32_t p = 0; p < PHLOEM_MAX_PHASES; p++) {
		struct json_object *s;

		if (!(m->phases & (1U << p)))
			continue;
		s = pdc_phase_json(a, p, m->channel[p]);
		json_object_object_add(s, "rms_mv", INT(m->rms_mv[p]));
		json_object_object_add(s, "state",
				       json_object_new_string(phloem_nl_volt_state_name(m->volt_state[p])));
	}
	ADD("phases", a);
#undef INT
#undef ADD
	pdc_print_json(o);
	json_object_put(o);
}

/* "12.0 s", or the word for a rule that is off */
static const char *secs(uint32_t ms, char *buf, size_t len)
{
	snprintf(buf, len, "%.1f s", ms / 1000.0);
	return buf;
}

/* an outage's length: "42.0 s", "3 min 12 s", "2 h 05 min" */
static const char *span(uint32_t ms, char *buf, size_t len)
{
	uint32_t s = ms / 1000;

	if (s < 60)
		return secs(ms, buf, len);
	if (s < 3600)
		snprintf(buf, len, "%u min %u s", s / 60, s % 60);
	else
		snprintf(buf, len, "%u h %02u min", s / 3600, s / 60 % 60);
	return buf;
}

static void mains_table(const struct phloem_nl_device *d)
{
	const struct phloem_nl_mains *m = &d->mains;
	const struct phloem_nl_mains_cfg *c = &m->cfg;
	uint32_t nom = or_default(c->nominal_mv, PHLOEM_NOMINAL_MV_DEFAULT);
	char a[32], b[32], o[32];

	if (!m->present) {
		printf("mains:     not reported (a kernel without the mains rules?)\n");
		return;
	}
	printf("%-5s %-8s %10s %-6s\n", "PHASE", "CHANNEL", "VOLTAGE", "STATE");
	for (uint32_t p = 0; p < PHLOEM_MAX_PHASES; p++) {
		const char *ch = "-";

		if (!(m->phases & (1U << p)))
			continue;
		if (m->channel[p] < d->nchannels)
			ch = d->chan[m->channel[p]].name;
		printf("L%-4u %-8s %8.1f V %-6s\n", p + 1, ch, m->rms_mv[p] / 1000.0,
		       phloem_nl_volt_state_name(m->volt_state[p]));
	}
	printf("\nmains:     %s", phloem_nl_mains_state_name(m->state));
	if (m->state == PHLOEM_MAINS_OUTAGE)
		printf(" (islanded for %s; back after %s more of stable mains)",
		       span(m->outage_ms, o, sizeof(o)),
		       secs(m->return_left_ms, a, sizeof(a)));
	else if (m->state == PHLOEM_MAINS_RETURN)
		printf(" (back after an outage of %s; relays coming back one every %s)",
		       span(m->outage_ms, o, sizeof(o)),
		       secs(or_default(c->return_stagger_ms, PHLOEM_RETURN_STAGGER_MS_DEFAULT),
			    a, sizeof(a)));
	printf("\nnominal:   %.1f V\n", nom / 1000.0);
	if (c->outage_pct)
		printf("outage:    under %u %% (%.1f V) for %u cycles; kept on: 0x%02x + critical\n",
		       c->outage_pct, nom / 1000.0 * c->outage_pct / 100,
		       or_default(c->outage_cycles, PHLOEM_OUTAGE_CYCLES_DEFAULT),
		       c->outage_relays);
	else
		printf("outage:    off\n");
	printf("return:    after %s of stable mains, relays %s apart\n",
	       secs(or_default(c->return_ms, PHLOEM_RETURN_MS_DEFAULT), a, sizeof(a)),
	       secs(or_default(c->return_stagger_ms, PHLOEM_RETURN_STAGGER_MS_DEFAULT),
		    b, sizeof(b)));
	if (c->volt_band_pct)
		printf("band:      %.1f .. %.1f V (-+%u %%) for %s\n",
		       nom / 1000.0 * (100 - c->volt_band_pct) / 100,
		       nom / 1000.0 * (100 + c->volt_band_pct) / 100,
		       c->volt_band_pct, secs(c->volt_delay_ms, a, sizeof(a)));
	else
		printf("band:      off\n");
	if (c->uv_shed_pct)
		printf("uv shed:   under %u %% (%.1f V) for %s%s\n", c->uv_shed_pct,
		       nom / 1000.0 * c->uv_shed_pct / 100,
		       secs(c->uv_shed_ms, a, sizeof(a)),
		       d->state & PHLOEM_STATE_F_UNDER_VOLTAGE ? " (shedding NOW)" : "");
	else
		printf("uv shed:   off\n");
}

int mains_main(int argc, char **argv)
{
	static const struct pdc_view view = {
		.name = "mains",
		.what = "mains rules",
		.help = "The kernel's mains rules: outage (island) and return, each phase's\n"
		       "voltage against its band, the under-voltage rule (set by phloemd's\n"
		       "[site] outage_*, return_*, volt_* and uv_shed_* policy).\n",
		.json = mains_json,
		.table = mains_table,
	};

	return pdc_device_view(&view, argc, argv);
}
