// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl channels: every ADC channel with what it measures now and its
 * energy counters. From phloemd, or from phloem.ko when phloemd is down.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "pdclient.h"

static void print_table(struct json_object *rep);

static int channels_nl(uint32_t dev, bool json)
{
	struct phloem_nl *nl = NULL;
	struct phloem_nl_device *d = calloc(1, sizeof(*d));
	struct json_object *o, *a;
	int err;

	if (!d)
		return pdc_fail(-ENOMEM, "channels");
	err = pdc_nl_device(dev, &nl, d);
	if (err) {
		free(d);
		if (err == -ENOENT)
			return pdc_fail(0, "phloemd is not running and phloem.ko is not loaded");
		return pdc_fail(err, "device %u over netlink", dev);
	}
	/* same shape as phloemd's reply, so one printer serves both */
	o = json_object_new_object();
	a = json_object_new_array();
	for (uint32_t i = 0; i < d->nchannels; i++) {
		const struct phloem_nl_chan *c = &d->chan[i];
		struct json_object *e = json_object_new_object();
		bool cur = c->kind == PHLOEM_CHAN_CURRENT;

		json_object_object_add(e, "index", json_object_new_int64(i));
		json_object_object_add(e, "name", json_object_new_string(c->name));
		json_object_object_add(e, "kind", json_object_new_string(cur ? "current" : "voltage"));
		json_object_object_add(e, "circuit", json_object_new_string(
			cur && c->circuit < d->ncircuits ? d->circuit[c->circuit].name : ""));
		if (cur && c->circuit < d->ncircuits) {
			json_object_object_add(e, "irms_ma", json_object_new_int64(d->circuit[c->circuit].irms_ma));
			json_object_object_add(e, "limit_ma", json_object_new_int64(d->circuit[c->circuit].limit_ma));
			json_object_object_add(e, "rating_ma", json_object_new_int64(d->circuit[c->circuit].rating_ma));
			json_object_object_add(e, "heat_permille",
					       json_object_new_int64(d->circuit[c->circuit].heat_permille));
		} else if (!cur) {
			json_object_object_add(e, "vrms_mv", json_object_new_int64(c->rms));
		}
		json_object_object_add(e, "import_wh", json_object_new_double(c->import_mwh / 1000.0));
		json_object_object_add(e, "export_wh", json_object_new_double(c->export_mwh / 1000.0));
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "channels", a);
	phloem_nl_close(nl);
	free(d);
	if (json)
		pdc_print_json(o);
	else
		print_table(o);
	json_object_put(o);
	return 0;
}

static void print_table(struct json_object *rep)
{
	struct json_object *a = pdc_get(rep, "channels");

	printf("%-8s %-8s %-14s %10s %10s %6s %12s %12s\n", "CHANNEL", "KIND", "CIRCUIT",
	       "NOW", "LIMIT", "HEAT", "IMPORT Wh", "EXPORT Wh");
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *c = json_object_array_get_idx(a, i);
		char now[24], lim[24], heat[12];

		if (pdc_get(c, "irms_ma")) {
			snprintf(now, sizeof(now), "%.2f A", pdc_int(c, "irms_ma") / 1000.0);
			snprintf(lim, sizeof(lim), "%.2f A", pdc_int(c, "limit_ma") / 1000.0);
			snprintf(heat, sizeof(heat), "%.1f%%", pdc_int(c, "heat_permille") / 10.0);
		} else {
			snprintf(now, sizeof(now), "%.1f V", pdc_int(c, "vrms_mv") / 1000.0);
			snprintf(lim, sizeof(lim), "-");
			snprintf(heat, sizeof(heat), "-");
		}
		printf("%-8s %-8s %-14s %10s %10s %6s %12.3f %12.3f\n", pdc_str(c, "name"),
		       pdc_str(c, "kind"), *pdc_str(c, "circuit") ? pdc_str(c, "circuit") : "-",
		       now, lim, heat, pdc_double(c, "import_wh"), pdc_double(c, "export_wh"));
	}
}

int channels_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "device", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct json_object *rep;
	bool json = false;
	uint32_t dev = 0;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "jd:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'd':
			if (pdc_parse_device(optarg, &dev))
				return 2;
			break;
		case 'h':
			printf("Usage: phloemctl channels [--json] [--device N]\n");
			return 0;
		default: return 2;
		}
	}
	if (optind != argc)
		return usage_error("channels: unexpected argument \"%s\"", argv[optind]);
	err = pdc_call(pdc_req("channels"), &rep, NULL);
	if (pdc_unreachable(err)) {
		return channels_nl(dev, json);
	}
	if (err < 0)
		return pdc_fail(err, "connecting to phloemd at %s", pdc_socket());
	if (err)
		return 1;
	if (json)
		pdc_print_json(rep);
	else
		print_table(rep);
	json_object_put(rep);
	return 0;
}
