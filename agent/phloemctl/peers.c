// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl peers: the gateways this one hears, their liveness and power,
 * the community's net power and the peer protocol's counters (drops by
 * reason, bytes). From phloemd's control socket ("peers" command).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pdclient.h"

int peers_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct json_object *rep, *a, *dr;
	bool json = false;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'h':
			printf("Usage: phloemctl peers [--json]\n");
			return 0;
		default: return 2;
		}
	}
	if (optind != argc)
		return usage_error("peers: unexpected argument \"%s\"", argv[optind]);
	err = pdc_call(pdc_req("peers"), &rep, NULL);
	if (err < 0)
		return pdc_fail(err, "connecting to phloemd at %s", pdc_socket());
	if (err)
		return 1;
	if (json) {
		pdc_print_json(rep);
		json_object_put(rep);
		return 0;
	}
	if (!pdc_bool(rep, "enabled")) {
		printf("peers: not enabled (no [peers] community= in phloemd's configuration)\n");
		json_object_put(rep);
		return 0;
	}
	printf("key:            %s\n", pdc_str(rep, "key"));
	printf("community:      %s (%" PRId64 " members)\n", pdc_str(rep, "community"),
	       pdc_int(rep, "members"));
	printf("net power:      %" PRId64 " W here, %" PRId64 " W community (%" PRId64 " counted)\n",
	       pdc_int(rep, "net_w"), pdc_int(rep, "community_net_w"),
	       pdc_int(rep, "community_counted"));
	printf("traffic:        %" PRId64 " B in, %" PRId64 " B out\n",
	       pdc_int(rep, "rx_bytes"), pdc_int(rep, "tx_bytes"));
	dr = pdc_get(rep, "drops");
	printf("dropped:       ");
	json_object_object_foreach(dr, k, v)
		printf(" %s %" PRId64, k, json_object_get_int64(v));
	printf("\n\n%-64s %-9s %-24s %8s\n", "KEY", "STATE", "ADDRESS", "NET W");
	a = pdc_get(rep, "peers");
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *p = json_object_array_get_idx(a, i);
		char net[24] = "-";

		if (pdc_get(p, "net_w"))
			snprintf(net, sizeof(net), "%" PRId64, pdc_int(p, "net_w"));
		printf("%-64s %-9s %-24s %8s\n", pdc_str(p, "key"), pdc_str(p, "state"),
		       pdc_str(p, "addr"), net);
	}
	json_object_put(rep);
	return 0;
}
