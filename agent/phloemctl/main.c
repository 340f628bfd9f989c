// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl: inspect and operate a phloem energy gateway.
 *
 * As in WireGuard's wg(8), a static table names every subcommand, its entry
 * point and a one-line description; dispatch and --help both come from it.
 */
#include <stdio.h>
#include <string.h>

#include "phloemctl.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} subcommands[] = {
	{ "identity", identity_main, "Show or create this gateway's signing identity" },
	{ "ledger", ledger_main, "Inspect, verify, export and feed the mutual-credit ledger" },
	{ "settle", settle_main, "Dry-run the settlement of an interval: the transfers it would make" },
	{ "status", status_main, "Show the gateway's state (phloemd, or phloem.ko when phloemd is down)" },
	{ "channels", channels_main, "Show every ADC channel: current, limit, energy" },
	{ "relays", relays_main, "List relays; switch one on/off/auto (--for DUR); set its priority" },
	{ "limits", limits_main, "Show the limits in force; set or reset operator limits" },
	{ "freq", freq_main, "Show the frequency rule: filtered frequency, under-frequency stages" },
	{ "phase", phase_main, "Show the phase rules: per-phase current and limits, the imbalance" },
	{ "mains", mains_main, "Show the mains rules: outage (island) and return, voltage per phase" },
	{ "events", events_main, "Show shedding and safety events (--follow to stream them)" },
	{ "history", history_main, "Per-minute energy per channel, with a bar per minute" },
	{ "peers", peers_main, "Gateways heard, their liveness and power; community net power; counters" },
	{ "community", community_main, "Show the community; invite, join or remove a gateway" },
	{ "config", config_main, "Check a phloemd configuration file (config check FILE)" },
};

static void show_usage(FILE *f, const char *prog)
{
	size_t i;

	fprintf(f, "Usage: %s [--dir DIR] <cmd> [<args>]\n\n", prog);
	fprintf(f, "Available subcommands:\n");
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].help);
	fprintf(f, "\nDIR holds the identity and the ledger (default $PHLOEM_DIR or %s).\n"
		"Use `%s <cmd> --help' for help on a subcommand.\n", PHLOEM_DEFAULT_DIR, prog);
}

int main(int argc, char **argv)
{
	const char *prog = "phloemctl";
	size_t i;

	argv++, argc--;
	while (argc > 0 && argv[0][0] == '-') {
		if ((!strcmp(argv[0], "--dir") || !strcmp(argv[0], "-d")) && argc > 1) {
			phloem_dir_opt = argv[1];
			argv += 2, argc -= 2;
		} else if (!strncmp(argv[0], "--dir=", 6)) {
			phloem_dir_opt = argv[0] + 6;
			argv++, argc--;
		} else if (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) {
			show_usage(stdout, prog);
			return 0;
		} else if (!strcmp(argv[0], "--version")) {
			printf("phloemctl (phloem) ledger format %d\n", LEDGER_FORMAT_VERSION);
			return 0;
		} else {
			show_usage(stderr, prog);
			return 2;
		}
	}
	if (argc == 0) {
		show_usage(stderr, prog);
		return 2;
	}
	if (!strcmp(argv[0], "help")) {
		show_usage(stdout, prog);
		return 0;
	}
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[0], subcommands[i].name))
			return subcommands[i].fn(argc, argv);
	fprintf(stderr, "phloemctl: invalid subcommand: `%s'\n", argv[0]);
	show_usage(stderr, prog);
	return 2;
}
