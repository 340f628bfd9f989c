// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl phase: the kernel's phase rules (docs/shedding.md, "Phases"),
 * read from phloem.ko over netlink.
 *
 *   phloemctl phase [show] [--device N] [--json]
 *
 * Every phase the site measures (a CT per phase at the incomer): its
 * current and apparent power, its limit and state; the spread between the
 * most and the least loaded phase against the imbalance limits, and the
 * grace. The limits are set by phloemd's policy ([site] phase_* keys,
 * docs/phloemd.md) or by firmware.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdclient.h"

static void phase_json(const struct phloem_nl_device *d)
{
	const struct phloem_nl_phase *f = &d->phase;
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array();

	json_object_object_add(o, "device", json_object_new_string(d->name));
	json_object_object_add(o, "shedding",
			       json_object_new_boolean(d->state & PHLOEM_STATE_F_PHASE));
	json_object_object_add(o, "imbalance_limit_ma", json_object_new_int64(f->imbalance_ma));
	json_object_object_add(o, "imbalance_limit_mva", json_object_new_int64(f->imbalance_mva));
	json_object_object_add(o, "grace_ms", json_object_new_int64(f->grace_ms));
	json_object_object_add(o, "imbalance_ma", json_object_new_int64(f->spread_ma));
	json_object_object_add(o, "imbalance_mva", json_object_new_int64(f->spread_mva));
	for (uint32_t p = 0; p < PHLOEM_MAX_PHASES; p++) {
		struct json_object *s;

		if (!(f->measured & (1U << p)))
			continue;
		s = pdc_phase_json(a, p, f->channel[p]);
		json_object_object_add(s, "irms_ma", json_object_new_int64(f->irms_ma[p]));
		json_object_object_add(s, "s_mva", json_object_new_int64(f->s_mva[p]));
		json_object_object_add(s, "limit_ma", json_object_new_int64(f->limit_ma[p]));
		json_object_object_add(s, "state",
				       json_object_new_string(phloem_nl_phase_state_name(f->state[p])));
	}
	json_object_object_add(o, "phases", a);
	pdc_print_json(o);
	json_object_put(o);
}

static void phase_table(const struct phloem_nl_device *d)
{
	const struct phloem_nl_phase *f = &d->phase;
	char a[32], l[32];

	if (!f->measured) {
		printf("phases:    none measured (a kernel without the phase rules?)\n");
		return;
	}
	printf("%-5s %-8s %10s %10s %10s %-6s\n", "PHASE", "CT", "CURRENT",
	       "APPARENT", "LIMIT", "STATE");
	for (uint32_t p = 0; p < PHLOEM_MAX_PHASES; p++) {
		const char *ct = "-";

		if (!(f->measured & (1U << p))) {
			printf("L%-4u %-8s %10s %10s %10s %-6s\n", p + 1, "-", "-",
			       "-", "-", "none");
			continue;
		}
		if (f->channel[p] < d->nchannels)
			ct = d->chan[f->channel[p]].name;
		snprintf(l, sizeof(l), "-");
		if (f->limit_ma[p])
			phloem_nl_fmt_current(f->limit_ma[p], l, sizeof(l));
		printf("L%-4u %-8s %10s %7.2f kVA %10s %-6s\n", p + 1, ct,
		       phloem_nl_fmt_current(f->irms_ma[p], a, sizeof(a)),
		       f->s_mva[p] / 1e6, l,
		       phloem_nl_phase_state_name(f->state[p]));
	}
	printf("\nimbalance: %s, %.2f kVA (highest minus lowest phase)",
	       phloem_nl_fmt_current(f->spread_ma, a, sizeof(a)),
	       f->spread_mva / 1e6);
	if (f->imbalance_ma || f->imbalance_mva) {
		printf("; limit");
		if (f->imbalance_ma)
			printf(" %s", phloem_nl_fmt_current(f->imbalance_ma, l, sizeof(l)));
		if (f->imbalance_mva)
			printf("%s %.2f kVA", f->imbalance_ma ? " /" : "",
			       f->imbalance_mva / 1e6);
	} else {
		printf("; limit off");
	}
	printf("\ngrace:     %.1f s%s\n", f->grace_ms / 1000.0,
	       d->state & PHLOEM_STATE_F_PHASE ? " (a phase rule is shedding NOW)" : "");
}

int phase_main(int argc, char **argv)
{
	static const struct pdc_view view = {
		.name = "phase",
		.what = "phase rules",
		.help = "The kernel's phase rules: per-phase current, limits and state,\n"
		       "and the imbalance (set by phloemd's [site] phase_* policy).\n",
		.json = phase_json,
		.table = phase_table,
	};

	return pdc_device_view(&view, argc, argv);
}
