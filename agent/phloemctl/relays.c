// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl relays: list relays, override them, change their priority.
 *
 *   phloemctl relays [list] [--json]
 *   phloemctl relays on|off NAME [--for DUR]   (default 1h, at most 24h)
 *   phloemctl relays auto NAME
 *   phloemctl relays priority NAME N
 *
 * Through phloemd when it runs (it then also stops applying its own
 * time-of-use hold to that relay); straight to phloem.ko over netlink when
 * it does not, so the operator is never locked out.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdclient.h"

static void print_table(struct json_object *rep)
{
	struct json_object *a = pdc_get(rep, "relays");

	printf("%-14s %-12s %4s %-4s %-7s %-8s %-8s %9s %6s %8s\n", "RELAY", "CIRCUIT",
	       "PRIO", "ON", "REASON", "HELD", "OVERRIDE", "LEFT", "SHEDS", "LOAD");
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *r = json_object_array_get_idx(a, i);
		char prio[16], left[16], load[16];

		if (pdc_bool(r, "critical"))
			snprintf(prio, sizeof(prio), "crit");
		else
			snprintf(prio, sizeof(prio), "%" PRId64, pdc_int(r, "priority"));
		if (pdc_int(r, "left_ms"))
			snprintf(left, sizeof(left), "%.1fs", pdc_int(r, "left_ms") / 1000.0);
		else
			snprintf(left, sizeof(left), "-");
		/* the kernel learns a load when it sheds it: 0 mA is "unknown" */
		if (pdc_int(r, "load_ma"))
			snprintf(load, sizeof(load), "%.1f A", pdc_int(r, "load_ma") / 1000.0);
		else
			snprintf(load, sizeof(load), "unknown");
		printf("%-14s %-12s %4s %-4s %-7s %-8s %-8s %9s %6" PRId64 " %8s\n",
		       pdc_str(r, "name"), pdc_str(r, "circuit"), prio,
		       pdc_bool(r, "on") ? "on" : "off", pdc_str(r, "reason"),
		       *pdc_str(r, "hold") ? pdc_str(r, "hold") : "-",
		       pdc_bool(r, "held_by_window") ? "window" : pdc_str(r, "override"),
		       left, pdc_int(r, "shed_count"), load);
	}
}

/* Relay list from the kernel, in phloemd's reply shape. */
static struct json_object *nl_list(const struct phloem_nl_device *d)
{
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array();

	for (uint32_t i = 0; i < d->nrelays; i++) {
		const struct phloem_nl_relay *r = &d->relay[i];
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "index", json_object_new_int64(i));
		json_object_object_add(e, "name", json_object_new_string(r->name));
		json_object_object_add(e, "circuit", json_object_new_string(
			r->circuit < d->ncircuits ? d->circuit[r->circuit].name : ""));
		json_object_object_add(e, "priority", json_object_new_int64(r->priority));
		json_object_object_add(e, "critical", json_object_new_boolean(r->flags & PHLOEM_RELAY_F_CRITICAL));
		json_object_object_add(e, "on", json_object_new_boolean(r->on));
		json_object_object_add(e, "reason", json_object_new_string(phloem_nl_reason_name(r->reason)));
		json_object_object_add(e, "hold", json_object_new_string(phloem_nl_hold_name(r->hold)));
		json_object_object_add(e, "override", json_object_new_string(phloem_nl_override_name(r->override)));
		json_object_object_add(e, "held_by_window", json_object_new_boolean(0));
		json_object_object_add(e, "left_ms", json_object_new_int64(r->left_ms));
		json_object_object_add(e, "backoff", json_object_new_int64(r->backoff));
		json_object_object_add(e, "shed_count", json_object_new_int64(r->shed_count));
		json_object_object_add(e, "load_ma", json_object_new_int64(r->load_ma));
		json_object_object_add(e, "load_known", json_object_new_boolean(r->load_ma != 0));
		json_object_object_add(e, "min_off_s", json_object_new_int64(r->min_off_ms / 1000));
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "relays", a);
	return o;
}

/* The netlink path: @mode < 0 lists, else override/priority. */
static int relays_nl(uint32_t dev, bool json, const char *name, int mode,
		     uint32_t for_ms, int prio)
{
	struct phloem_nl *nl = NULL;
	struct phloem_nl_device *d = calloc(1, sizeof(*d));
	struct phloem_nl_relay_set rs = { 0 };
	int err, idx = -1;

	if (!d)
		return pdc_fail(-ENOMEM, "relays");
	err = pdc_nl_device(dev, &nl, d);
	if (err) {
		free(d);
		if (err == -ENOENT)
			return pdc_fail(0, "phloemd is not running and phloem.ko is not loaded");
		return pdc_fail(err, "device %u over netlink", dev);
	}
	if (!name) {
		struct json_object *o = nl_list(d);

		if (json)
			pdc_print_json(o);
		else
			print_table(o);
		json_object_put(o);
		goto out;
	}
	for (uint32_t i = 0; i < d->nrelays; i++)
		if (!strcmp(d->relay[i].name, name))
			idx = (int)i;
	if (idx < 0) {
		err = pdc_fail(0, "no relay \"%s\" on device %s", name, d->name);
		goto out;
	}
	rs.index = (uint32_t)idx;
	if (prio >= 0) {
		rs.set_priority = true;
		rs.priority = (uint32_t)prio;
	} else {
		rs.set_override = true;
		rs.override = (uint32_t)mode;
		rs.override_ms = mode == PHLOEM_OVERRIDE_AUTO ? 0 : for_ms;
	}
	err = phloem_nl_set_relay(nl, dev, &rs);
	if (err)
		err = pdc_fail(err, "relay %s%s%s", name, *phloem_nl_error(nl) ? ": " : "",
			       phloem_nl_error(nl));
	else
		fprintf(stderr, "phloemctl: phloemd is not running: set directly in phloem.ko\n");
out:
	phloem_nl_close(nl);
	free(d);
	return err;
}

int relays_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "for", required_argument, NULL, 'f' },
		{ "device", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct json_object *req, *rep;
	const char *verb = "list", *name = NULL;
	bool json = false;
	int64_t for_s = 3600;
	uint32_t dev = 0;
	int opt, err, mode = -1, prio = -1;

	while ((opt = getopt_long(argc, argv, "jf:d:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'f':
			if (pdc_parse_duration(optarg, &for_s) || for_s < 1 || for_s > 86400)
				return usage_error("relays: --for: expected a duration 1s..24h (90s, 15m, 2h)");
			break;
		case 'd':
			if (pdc_parse_device(optarg, &dev))
				return 2;
			break;
		case 'h':
			printf("Usage: phloemctl relays [list] [--json]\n"
			       "       phloemctl relays on|off NAME [--for DUR]\n"
			       "       phloemctl relays auto NAME\n"
			       "       phloemctl relays priority NAME N\n");
			return 0;
		default: return 2;
		}
	}
	if (optind < argc)
		verb = argv[optind++];
	if (!strcmp(verb, "list")) {
		if (optind != argc)
			return usage_error("relays list: unexpected argument");
	} else if (!strcmp(verb, "on") || !strcmp(verb, "off") || !strcmp(verb, "auto")) {
		if (optind + 1 != argc)
			return usage_error("relays %s: expected one relay name", verb);
		name = argv[optind];
		mode = !strcmp(verb, "on") ? PHLOEM_OVERRIDE_ON :
		       !strcmp(verb, "off") ? PHLOEM_OVERRIDE_OFF : PHLOEM_OVERRIDE_AUTO;
	} else if (!strcmp(verb, "priority")) {
		char *end;
		long p;

		if (optind + 2 != argc)
			return usage_error("relays priority: expected NAME and N");
		name = argv[optind];
		p = strtol(argv[optind + 1], &end, 10);
		if (*end || end == argv[optind + 1] || p < 0 || p > 255)
			return usage_error("relays priority: N must be 0 (shed first) .. 255 (shed last)");
		prio = (int)p;
	} else {
		return usage_error("relays: unknown action \"%s\" (list, on, off, auto, priority)", verb);
	}

	if (!name) {
		req = pdc_req("relays");
	} else if (prio >= 0) {
		req = pdc_req("priority");
		json_object_object_add(req, "name", json_object_new_string(name));
		json_object_object_add(req, "priority", json_object_new_int(prio));
	} else {
		req = pdc_req("relay");
		json_object_object_add(req, "name", json_object_new_string(name));
		json_object_object_add(req, "mode", json_object_new_string(verb));
		json_object_object_add(req, "for_ms", json_object_new_int64(for_s * 1000));
	}
	err = pdc_call(req, &rep, NULL);
	if (pdc_unreachable(err))
		return relays_nl(dev, json, name, mode, (uint32_t)(for_s * 1000), prio);
	if (err < 0)
		return pdc_fail(err, "connecting to phloemd at %s", pdc_socket());
	if (err)
		return 1;
	if (!name) {
		if (json)
			pdc_print_json(rep);
		else
			print_table(rep);
	}
	json_object_put(rep);
	return 0;
}
