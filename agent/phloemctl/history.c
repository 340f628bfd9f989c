// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl history: per-minute energy per channel from phloemd's
 * history, one block per channel with an ASCII bar of the energy imported
 * in each minute (scaled to the channel's largest minute).
 *
 *   phloemctl history [--since DUR] [--channel NAME] [--json]
 *
 * NAME is a channel ("i1") or a circuit ("garage").
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pdclient.h"

#define BAR_WIDTH 32

static void print_channel(struct json_object *rows, const char *chan)
{
	int64_t max = 0, imp = 0, exp = 0, sheds = 0, peak = 0;
	bool header = false;

	for (size_t i = 0; i < json_object_array_length(rows); i++) {
		struct json_object *r = json_object_array_get_idx(rows, i);

		if (strcmp(pdc_str(r, "channel"), chan))
			continue;
		if (pdc_int(r, "import_mwh") > max)
			max = pdc_int(r, "import_mwh");
	}
	for (size_t i = 0; i < json_object_array_length(rows); i++) {
		struct json_object *r = json_object_array_get_idx(rows, i);
		char bar[BAR_WIDTH + 1], tbuf[8];
		time_t ts;
		struct tm tm;
		int64_t v;
		int w;

		if (strcmp(pdc_str(r, "channel"), chan))
			continue;
		if (!header) {
			printf("%s (%s)\n  %-5s %11s %11s %8s %5s  %s\n", chan, pdc_str(r, "circuit"),
			       "TIME", "IMPORT Wh", "EXPORT Wh", "PEAK A", "SHEDS", "IMPORT");
			header = true;
		}
		v = pdc_int(r, "import_mwh");
		w = max ? (int)((v * BAR_WIDTH + max / 2) / max) : 0;
		if (v > 0 && w == 0)
			w = 1;	/* any energy at all shows */
		memset(bar, '#', (size_t)w);
		bar[w] = 0;
		ts = (time_t)pdc_int(r, "ts");
		localtime_r(&ts, &tm);
		strftime(tbuf, sizeof(tbuf), "%H:%M", &tm);
		printf("  %-5s %11.3f %11.3f %8.2f %5" PRId64 "  |%-*s|\n", tbuf, v / 1000.0,
		       pdc_int(r, "export_mwh") / 1000.0, pdc_int(r, "peak_ma") / 1000.0,
		       pdc_int(r, "shed_events"), BAR_WIDTH, bar);
		imp += v;
		exp += pdc_int(r, "export_mwh");
		sheds += pdc_int(r, "shed_events");
		if (pdc_int(r, "peak_ma") > peak)
			peak = pdc_int(r, "peak_ma");
	}
	printf("  %-5s %11.3f %11.3f %8.2f %5" PRId64 "\n\n", "total", imp / 1000.0, exp / 1000.0,
	       peak / 1000.0, sheds);
}

int history_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "since", required_argument, NULL, 's' },
		{ "channel", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct json_object *req, *rep, *rows;
	const char *chan = NULL;
	const char *seen[64];
	size_t nseen = 0;
	bool json = false;
	int64_t since = 3600;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "js:c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 's':
			if (pdc_parse_duration(optarg, &since) || since < 1)
				return usage_error("history: --since: expected a duration (90s, 15m, 2h, 1d)");
			break;
		case 'c': chan = optarg; break;
		case 'h':
			printf("Usage: phloemctl history [--since DUR] [--channel NAME] [--json]\n");
			return 0;
		default: return 2;
		}
	}
	if (optind != argc)
		return usage_error("history: unexpected argument \"%s\"", argv[optind]);
	req = pdc_req("history");
	json_object_object_add(req, "since", json_object_new_int64(-since));
	if (chan)
		json_object_object_add(req, "channel", json_object_new_string(chan));
	err = pdc_call(req, &rep, NULL);
	if (pdc_unreachable(err))
		return pdc_fail(err, "phloemd is not running at %s (it keeps the history)", pdc_socket());
	if (err < 0)
		return pdc_fail(err, "connecting to phloemd at %s", pdc_socket());
	if (err)
		return 1;
	if (json) {
		pdc_print_json(rep);
		json_object_put(rep);
		return 0;
	}
	rows = pdc_get(rep, "rows");
	if (pdc_bool(rep, "truncated"))
		fprintf(stderr, "phloemctl: history: reply cut at %zu rows; use a shorter --since or --channel\n",
			json_object_array_length(rows));
	if (!rows || !json_object_array_length(rows))
		printf("no history in the last %" PRId64 " s\n", since);
	for (size_t i = 0; rows && i < json_object_array_length(rows); i++) {
		const char *c = pdc_str(json_object_array_get_idx(rows, i), "channel");
		bool dup = false;

		for (size_t k = 0; k < nseen; k++)
			dup |= !strcmp(seen[k], c);
		if (dup || nseen == 64)
			continue;
		seen[nseen++] = c;
		print_channel(rows, c);
	}
	json_object_put(rep);
	return 0;
}
