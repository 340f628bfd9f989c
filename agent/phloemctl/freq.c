// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl freq: the kernel's frequency rule (docs/shedding.md,
 * "Under-frequency load shedding"), read from phloem.ko over netlink.
 *
 *   phloemctl freq [show] [--device N] [--json]
 *
 * The filtered frequency the rule judges, the over-frequency report and
 * every configured stage: its threshold, delay, restore hysteresis and
 * time, the priorities it sheds, its state and the time left of its
 * delay (pending) or of its restore time (recovering). The stages are
 * set by phloemd's policy ([freq] keys, docs/phloemd.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdclient.h"

static void freq_json(const struct phloem_nl_device *d)
{
	const struct phloem_nl_freq *f = &d->freq;
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array();

	json_object_object_add(o, "device", json_object_new_string(d->name));
	json_object_object_add(o, "mains_hz", json_object_new_int64(d->mains_hz));
	/* unknown (no mains, filter not yet full): null, not a number */
	json_object_object_add(o, "freq_hz", f->est_mhz ?
			       json_object_new_double(f->est_mhz / 1000.0) : NULL);
	json_object_object_add(o, "cycle_freq_hz", json_object_new_double(d->freq_mhz / 1000.0));
	json_object_object_add(o, "under_freq",
			       json_object_new_boolean(d->state & PHLOEM_STATE_F_UNDER_FREQ));
	json_object_object_add(o, "over_freq",
			       json_object_new_boolean(d->state & PHLOEM_STATE_F_OVER_FREQ));
	json_object_object_add(o, "over_freq_hz", f->over_mhz ?
			       json_object_new_double(f->over_mhz / 1000.0) : NULL);
	json_object_object_add(o, "over_freq_ms", json_object_new_int64(f->over_ms));
	for (uint32_t k = 0; k < PHLOEM_FREQ_STAGES; k++) {
		const struct phloem_freq_stage *fc = &f->stage[k];
		struct json_object *s;

		if (!fc->threshold_mhz)
			continue;
		s = json_object_new_object();
		json_object_object_add(s, "stage", json_object_new_int64(k));
		json_object_object_add(s, "threshold_hz", json_object_new_double(fc->threshold_mhz / 1000.0));
		json_object_object_add(s, "delay_ms", json_object_new_int64(fc->delay_ms));
		json_object_object_add(s, "hysteresis_hz", json_object_new_double(fc->hyst_mhz / 1000.0));
		json_object_object_add(s, "restore_ms", json_object_new_int64(fc->restore_ms));
		json_object_object_add(s, "priority_min", json_object_new_int64(fc->prio_min));
		json_object_object_add(s, "priority_max", json_object_new_int64(fc->prio_max));
		json_object_object_add(s, "state",
				       json_object_new_string(phloem_nl_freq_state_name(f->state[k])));
		json_object_object_add(s, "left_ms", json_object_new_int64(f->left_ms[k]));
		json_object_array_add(a, s);
	}
	json_object_object_add(o, "stages", a);
	pdc_print_json(o);
	json_object_put(o);
}

static void freq_table(const struct phloem_nl_device *d)
{
	const struct phloem_nl_freq *f = &d->freq;
	int n = 0;

	if (f->est_mhz)
		printf("frequency:      %.3f Hz (filtered; last cycle %.3f Hz, nominal %u Hz)\n",
		       f->est_mhz / 1000.0, d->freq_mhz / 1000.0, d->mains_hz);
	else
		printf("frequency:      unknown (no mains, or the filter is not full yet)\n");
	if (f->over_mhz)
		printf("over-frequency: above %.3f Hz for %u ms%s\n", f->over_mhz / 1000.0,
		       f->over_ms, d->state & PHLOEM_STATE_F_OVER_FREQ ? ": NOW" : "");
	else
		printf("over-frequency: off\n");
	for (uint32_t k = 0; k < PHLOEM_FREQ_STAGES; k++)
		n += f->stage[k].threshold_mhz != 0;
	if (!n) {
		printf("stages:         none (under-frequency shedding off)\n");
		return;
	}
	printf("\n%-5s %10s %8s %9s %9s %9s %-11s %8s\n", "STAGE", "BELOW", "DELAY",
	       "RESTORE>", "FOR", "PRIO", "STATE", "LEFT");
	for (uint32_t k = 0; k < PHLOEM_FREQ_STAGES; k++) {
		const struct phloem_freq_stage *fc = &f->stage[k];
		char prio[16], left[16] = "-";

		if (!fc->threshold_mhz)
			continue;
		snprintf(prio, sizeof(prio), "%u-%u", fc->prio_min, fc->prio_max);
		if (f->left_ms[k])
			snprintf(left, sizeof(left), "%.1f s", f->left_ms[k] / 1000.0);
		printf("%-5u %7.3f Hz %5u ms %6.3f Hz %7.1f s %9s %-11s %8s\n", k,
		       fc->threshold_mhz / 1000.0, fc->delay_ms,
		       (fc->threshold_mhz + fc->hyst_mhz) / 1000.0, fc->restore_ms / 1000.0,
		       prio, phloem_nl_freq_state_name(f->state[k]), left);
	}
}

int freq_main(int argc, char **argv)
{
	static const struct pdc_view view = {
		.name = "freq",
		.what = "frequency rule",
		.help = "The kernel's frequency rule: filtered frequency, over-frequency\n"
		       "report and under-frequency stages (set by phloemd's [freq] policy).\n",
		.json = freq_json,
		.table = freq_table,
	};

	return pdc_device_view(&view, argc, argv);
}
