// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl events: shedding and safety events recorded by phloemd.
 *
 *   phloemctl events [--since DUR] [-n N] [--follow] [--json]
 *
 * --follow keeps printing new events as phloemd receives them. --json
 * prints the events as one JSON array; with --follow, one JSON object per
 * event and line (JSON Lines), so a follower can feed a line-based tool.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pdclient.h"

/*
 * One line an operator reads: time, kind, cause ("-" for none), where, and
 * the measurement with its units ("40.3 A > 40.0 A", "6.20 kW > 6.00 kW");
 * --json keeps the raw integers (mA or mW) for machines.
 */
static void print_event(struct json_object *e, bool json)
{
	const char *cause = pdc_str(e, "cause");
	char t[40], m[80];

	if (json) {
		puts(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
		fflush(stdout);
		return;
	}
	pdc_format_time(pdc_int(e, "ts_ms"), true, t, sizeof(t));
	printf("%s  %-14s %s", t, pdc_str(e, "kind"), strcmp(cause, "none") ? cause : "-");
	if (*pdc_str(e, "relay"))
		printf(" relay=%s", pdc_str(e, "relay"));
	if (*pdc_str(e, "circuit"))
		printf(" circuit=%s", pdc_str(e, "circuit"));
	/* the mains rules: the phase judged (phloemd names it L1..L3) */
	if ((!strcmp(pdc_str(e, "kind"), "mains") || !strcmp(pdc_str(e, "kind"), "voltage")) &&
	    *pdc_str(e, "channel"))
		printf(" %s", pdc_str(e, "channel"));
	phloem_nl_fmt_measure(cause, (uint32_t)pdc_int(e, "value"), (uint32_t)pdc_int(e, "limit"),
			      m, sizeof(m));
	if (*m)
		printf("  %s", m);
	/* a grid-operator line: which, its new state, the import cap after */
	if (!strcmp(pdc_str(e, "kind"), "grid-signal")) {
		char cap[32];

		printf(" line=%s %s", pdc_str(e, "channel"),
		       pdc_int(e, "value") ? "active" : "inactive");
		if (pdc_int(e, "limit"))
			printf("  import cap %s",
			       phloem_nl_fmt_power(pdc_int(e, "limit"), cap, sizeof(cap)));
	}
	/* why the relay is held now, and when its next attempt comes */
	if (!strcmp(pdc_str(e, "kind"), "hold"))
		printf("  held=%s next=%.1fs",
		       phloem_nl_hold_name((uint32_t)pdc_int(e, "value")),
		       pdc_int(e, "limit") / 1000.0);
	if (pdc_int(e, "backoff"))
		printf("  backoff=%" PRId64, pdc_int(e, "backoff"));
	putchar('\n');
	fflush(stdout);
}

int events_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "follow", no_argument, NULL, 'f' },
		{ "since", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct json_object *req, *rep, *a;
	bool json = false, follow = false;
	int64_t since = 0, n = 50;
	int opt, err, fd = -1;

	while ((opt = getopt_long(argc, argv, "jfs:n:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'f': follow = true; break;
		case 's':
			if (pdc_parse_duration(optarg, &since))
				return usage_error("events: --since: expected a duration (90s, 15m, 2h, 1d)");
			break;
		case 'n': {
			char *end;

			n = strtoll(optarg, &end, 10);
			if (*end || n < 0 || n > 100000)
				return usage_error("events: -n: expected 0..100000");
			break;
		}
		case 'h':
			printf("Usage: phloemctl events [--since DUR] [-n N] [--follow] [--json]\n");
			return 0;
		default: return 2;
		}
	}
	if (optind != argc)
		return usage_error("events: unexpected argument \"%s\"", argv[optind]);
	req = pdc_req("events");
	/* negative: relative to phloemd's clock */
	if (since)
		json_object_object_add(req, "since_ms", json_object_new_int64(-since * 1000));
	json_object_object_add(req, "limit", json_object_new_int64(n));
	if (follow)
		json_object_object_add(req, "follow", json_object_new_boolean(1));
	err = pdc_call(req, &rep, follow ? &fd : NULL);
	if (pdc_unreachable(err))
		return pdc_fail(err, "phloemd is not running at %s (events are recorded by it)", pdc_socket());
	if (err < 0)
		return pdc_fail(err, "connecting to phloemd at %s", pdc_socket());
	if (err)
		return 1;
	a = pdc_get(rep, "events");
	if (json && !follow)
		puts(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	else
		for (size_t i = 0; a && i < json_object_array_length(a); i++)
			print_event(json_object_array_get_idx(a, i), json);
	json_object_put(rep);
	while (follow) {
		struct json_object *line = pdc_read_line(fd);
		struct json_object *e;

		if (!line) {
			fprintf(stderr, "phloemctl: phloemd closed the event stream\n");
			close(fd);
			return 1;
		}
		e = pdc_get(line, "event");
		if (e)
			print_event(e, json);
		json_object_put(line);
	}
	return 0;
}
