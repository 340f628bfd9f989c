// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl limits: the limits in force and where they come from.
 *
 *   phloemctl limits [show] [--json]
 *   phloemctl limits set site WATTS      site import limit (0 disables)
 *   phloemctl limits set CIRCUIT AMPS    a circuit's operating limit
 *   phloemctl limits reset               back to the policy of the file
 *
 * Operator limits replace the policy's until `reset`, a reload or a
 * restart of phloemd. Needs phloemd: the policy lives there.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdclient.h"

static void print_table(struct json_object *rep)
{
	struct json_object *a = pdc_get(rep, "circuits");

	char lim[32], pol[32];

	printf("site import limit: %s (%s; policy %s)\n\n",
	       pdc_import_limit(pdc_int(rep, "site_import_limit_w"), lim, sizeof(lim)),
	       pdc_bool(rep, "site_operator") ? "set by operator" : "from policy",
	       pdc_import_limit(pdc_int(rep, "site_policy_w"), pol, sizeof(pol)));
	printf("%-14s %10s %10s %10s %5s  %-8s %s\n", "CIRCUIT", "LIMIT", "POLICY", "RATING", "CURVE",
	       "SOURCE", "MAX HOLD");
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *c = json_object_array_get_idx(a, i);
		struct json_object *h;
		char hold[32] = "?";

		if (json_object_object_get_ex(c, "max_hold_s", &h))
			snprintf(hold, sizeof(hold), "%d s%s", json_object_get_int(h),
				 pdc_bool(c, "max_hold_default") ? " (default)" : "");
		printf("%-14s %8.2f A %8.2f A %8.2f A %5s  %-8s %s\n", pdc_str(c, "name"),
		       pdc_int(c, "limit_ma") / 1000.0, pdc_int(c, "policy_ma") / 1000.0,
		       pdc_int(c, "rating_ma") / 1000.0, pdc_str(c, "curve"),
		       pdc_bool(c, "operator") ? "operator" : "policy", hold);
	}
}

int limits_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct json_object *req, *rep;
	const char *verb = "show";
	bool json = false;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'h':
			printf("Usage: phloemctl limits [show] [--json]\n"
			       "       phloemctl limits set site WATTS\n"
			       "       phloemctl limits set CIRCUIT AMPS\n"
			       "       phloemctl limits reset\n");
			return 0;
		default: return 2;
		}
	}
	if (optind < argc)
		verb = argv[optind++];
	if (!strcmp(verb, "show")) {
		if (optind != argc)
			return usage_error("limits show: unexpected argument");
		req = pdc_req("limits");
	} else if (!strcmp(verb, "reset")) {
		if (optind != argc)
			return usage_error("limits reset: unexpected argument");
		req = pdc_req("limits-reset");
	} else if (!strcmp(verb, "set")) {
		char *end;
		double v;

		if (optind + 2 != argc)
			return usage_error("limits set: expected \"site WATTS\" or \"CIRCUIT AMPS\"");
		v = strtod(argv[optind + 1], &end);
		if (*end || end == argv[optind + 1] || !isfinite(v) || v < 0)
			return usage_error("limits set: \"%s\" is not a number", argv[optind + 1]);
		req = pdc_req("limits-set");
		if (!strcmp(argv[optind], "site")) {
			if (v > 4000000 || v != floor(v))
				return usage_error("limits set site: whole watts 0..4000000");
			json_object_object_add(req, "site_w", json_object_new_int64((int64_t)v));
		} else {
			if (v <= 0 || v > 1000)
				return usage_error("limits set %s: amperes above 0, at most 1000", argv[optind]);
			json_object_object_add(req, "circuit", json_object_new_string(argv[optind]));
			json_object_object_add(req, "limit_ma", json_object_new_int64((int64_t)llround(v * 1000)));
		}
	} else {
		return usage_error("limits: unknown action \"%s\" (show, set, reset)", verb);
	}
	err = pdc_call(req, &rep, NULL);
	if (pdc_unreachable(err))
		return pdc_fail(err, "phloemd is not running (limits are its policy; see `phloemctl status`)");
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
