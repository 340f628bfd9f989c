// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl community [show|invite KEY|join TOKEN|remove KEY]: who is in
 * this gateway's community. An invite is a token signed by this gateway
 * (a member) for the new gateway's key (`phloemctl identity`); the new
 * gateway's operator joins with it. Only the owner (the founder) removes:
 * its removal is signed and spreads to every member, a removed key cannot
 * be invited again, and members the removed one had invited stay (the
 * owner invites them itself).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pdclient.h"

static const char usage[] =
	"Usage: phloemctl community [show] [--json]\n"
	"       phloemctl community invite KEY\n"
	"       phloemctl community join TOKEN\n"
	"       phloemctl community remove KEY\n";

static int show(struct json_object *rep, bool json)
{
	struct json_object *a;

	if (json) {
		pdc_print_json(rep);
		return 0;
	}
	if (!pdc_str(rep, "community")) {
		printf("community: not enabled (no [peers] community= in phloemd's configuration)\n");
		return 0;
	}
	printf("community: %s\nthis key:  %s\nowner:     %s\n\n%-64s %s\n",
	       pdc_str(rep, "community"), pdc_str(rep, "key"),
	       pdc_str(rep, "owner") ? pdc_str(rep, "owner") : "(not known yet)",
	       "MEMBER", "INVITED BY");
	a = pdc_get(rep, "members");
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *m = json_object_array_get_idx(a, i);
		const char *by = pdc_str(m, "invited_by");

		printf("%-64s %s\n", pdc_str(m, "key"),
		       by && !strcmp(by, pdc_str(m, "key")) ? "(founder)" : by);
	}
	a = pdc_get(rep, "removed");
	for (size_t i = 0; a && i < json_object_array_length(a); i++)
		printf("%-64s removed\n", json_object_get_string(json_object_array_get_idx(a, i)));
	return 0;
}

int community_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct json_object *req, *rep;
	const char *verb = "show";
	bool json = false;
	int opt, err, ret = 0;

	while ((opt = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: return 2;
		}
	}
	if (optind < argc)
		verb = argv[optind++];
	if (!strcmp(verb, "show")) {
		if (optind != argc)
			return usage_error("community show: unexpected argument \"%s\"", argv[optind]);
		req = pdc_req("community");
	} else if (!strcmp(verb, "invite") || !strcmp(verb, "join") || !strcmp(verb, "remove")) {
		char cmd[32];

		if (argc - optind != 1)
			return usage_error("community %s: expected one %s", verb,
					 verb[0] == 'j' ? "TOKEN" : "KEY");
		snprintf(cmd, sizeof(cmd), "community-%s", verb);
		req = pdc_req(cmd);
		json_object_object_add(req, verb[0] == 'j' ? "token" : "key",
				       json_object_new_string(argv[optind]));
	} else {
		fputs(usage, stderr);
		return 2;
	}
	err = pdc_call(req, &rep, NULL);
	if (err < 0)
		return pdc_fail(err, "connecting to phloemd at %s", pdc_socket());
	if (err)
		return 1;
	if (!strcmp(verb, "invite"))
		printf("%s\n", pdc_str(rep, "token"));
	else
		ret = show(rep, json);
	json_object_put(rep);
	return ret;
}
