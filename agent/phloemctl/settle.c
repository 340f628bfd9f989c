// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl settle: dry-run the settlement of one interval and show the
 * transfers it would produce. Nothing is signed or written: the ledger is
 * opened read-only. The rule itself is agent/lib/settle (docs/settlement.md).
 *
 *   phloemctl settle --interval START[/LEN] [--terms FILE] [--json|--canonical]
 *   phloemctl settle --input FILE [--terms FILE] [--json|--canonical]
 *
 * With --interval the meters are the metered-interval entries of that
 * interval in the local ledger, balances and declared credit limits come
 * from the ledger, and the terms file adds community terms and member
 * preferences. With --input a hand-written scenario (meters included)
 * replaces the ledger, which is how docs examples and golden files run.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "phloemctl.h"
#include "settle/scenario.h"
#include "settle/settle.h"

static void settle_usage(FILE *f)
{
	fprintf(f,
		"Usage: phloemctl settle --interval START[/LEN] [--terms FILE] [--json | --canonical]\n"
		"       phloemctl settle --input FILE [--terms FILE] [--json | --canonical]\n"
		"\n"
		"Dry-run the settlement of one interval: who would owe whom how many Wh.\n"
		"  --interval START[/LEN]  Unix seconds or YYYY-MM-DDTHH:MM[:SS]Z; LEN in\n"
		"                          seconds (or with s, m, h); default: the meters' own\n"
		"  --input FILE            a scenario (INI with meters) instead of the ledger\n"
		"  --terms FILE            community and member terms (INI, see docs/settlement.md)\n"
		"  --json                  machine-readable output\n"
		"  --canonical             the canonical text (what golden files hold)\n"
		"  --dir DIR               ledger directory (as `phloemctl --dir')\n");
}

/* Unix seconds, or an ISO 8601 UTC time: the two forms people paste. */
static int parse_time(const char *s, uint64_t *out)
{
	struct tm tm;
	const char *end;

	if (!parse_u64(s, out))
		return 0;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%dT%H:%MZ", &tm);
	}
	if (!end || *end)
		return -1;
	*out = (uint64_t)timegm(&tm);
	return 0;
}

static int parse_len(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;
	unsigned mult = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	if (*end == 'm')
		mult = 60;
	else if (*end == 'h')
		mult = 3600;
	else if (*end && *end != 's')
		return -1;
	if (*end && end[1])
		return -1;
	if (!v || v > UINT32_MAX / mult)
		return -1;
	*out = (uint32_t)(v * mult);
	return 0;
}

static int parse_interval(const char *arg, uint64_t *start, uint32_t *len)
{
	char buf[64], *slash;

	if (snprintf(buf, sizeof(buf), "%s", arg) >= (int)sizeof(buf))
		return -1;
	slash = strchr(buf, '/');
	*len = 0;
	if (slash) {
		*slash = '\0';
		if (parse_len(slash + 1, len))
			return -1;
	}
	return parse_time(buf, start);
}

/* The scenario parser accepts the ledger's "phl1..." key text too. */
static int keytext_parse(const char *text, uint8_t key[SETTLE_KEY_LEN])
{
	return ledger_key_from_text(text, key) ? -1 : 0;
}

struct meter_ctx {
	struct settle_scenario *sc;
	uint32_t len;		/* wanted length; 0: take the first seen */
	size_t other_len;	/* meters of another length, skipped */
	size_t dups;		/* later entries of one author for the interval */
	int err;
	char errkey[LEDGER_KEYTEXT_SIZE];
};

static int meter_cb(const uint8_t author[LEDGER_KEY_BYTES],
		    const struct ledger_meter *m, void *arg)
{
	struct meter_ctx *c = arg;
	struct settle_member *x;
	size_t before = c->sc->n;

	if (c->len && m->interval_len != c->len) {
		c->other_len++;
		return 0;
	}
	c->len = m->interval_len;
	ledger_key_to_text(author, c->errkey);
	if (m->wh_import > (uint64_t)SETTLE_WH_MAX ||
	    m->wh_export > (uint64_t)SETTLE_WH_MAX || m->wh_clean > m->wh_export) {
		c->err = SETTLE_E_RANGE;
		return 1;
	}
	x = settle_scenario_member(c->sc, author);
	if (!x) {
		c->err = SETTLE_E_NOMEM;
		return 1;
	}
	if (c->sc->n == before) {
		/* a second entry of one author for one interval: the first
		 * (lowest seq, they come in chain order) counts, as in phloemd */
		c->dups++;
		return 0;
	}
	x->import_wh = (int64_t)m->wh_import;
	x->export_wh = (int64_t)m->wh_export;
	/* the author's signed clean part (40-byte form); 0 when absent */
	x->clean_export_wh = (int64_t)m->wh_clean;
	return 0;
}

/*
 * Meters, balances and declared limits from the ledger. A terms file may
 * lower a member's credit limit (the community's cap) but never raise it
 * above what the member itself declared in its chain.
 */
static int from_ledger(struct settle_scenario *sc, uint64_t start,
		       uint32_t len, const char *terms)
{
	struct meter_ctx mc = { .sc = sc, .len = len };
	struct ledger *l;
	size_t i;
	int err;

	err = open_ledger(LEDGER_O_RDONLY, &l);
	if (err)
		return 1;	/* open_ledger() has said why */
	err = ledger_foreach_meter(l, start, meter_cb, &mc);
	if (err < 0) {
		ledger_close(l);
		return fail(err, "reading the metered intervals at %" PRIu64, start);
	}
	if (mc.err) {
		ledger_close(l);
		fprintf(stderr, "phloemctl: metered interval of %s: %s\n",
			mc.errkey, mc.err == SETTLE_E_DUPLICATE ?
			"two entries for one interval" : settle_strerror(mc.err));
		return 1;
	}
	if (!sc->n)
		fprintf(stderr, "phloemctl: note: no metered-interval entries start at %" PRIu64 "\n",
			start);
	if (mc.dups)
		fprintf(stderr, "phloemctl: note: %zu later metered entries of an author "
			"for the same interval are left out (the first counts)\n", mc.dups);
	if (mc.other_len)
		fprintf(stderr, "phloemctl: note: %zu metered entries at %" PRIu64
			" have another length than %" PRIu32 " s and are left out\n",
			mc.other_len, start, mc.len);
	sc->terms.interval_start = start;
	sc->terms.interval_len_s = mc.len;

	if (terms) {
		if (settle_scenario_load(sc, terms)) {
			ledger_close(l);
			fprintf(stderr, "phloemctl: %s\n", sc->err);
			return 1;
		}
		if (sc->community_set & (SETTLE_SET_START | SETTLE_SET_LEN)) {
			ledger_close(l);
			fprintf(stderr, "phloemctl: %s: the interval comes from --interval, not the terms file\n",
				terms);
			return 1;
		}
		for (i = 0; i < sc->n; i++) {
			if (sc->set[i] & (SETTLE_SET_IMPORT | SETTLE_SET_EXPORT |
					  SETTLE_SET_BALANCE)) {
				ledger_close(l);
				fprintf(stderr, "phloemctl: %s: [member %s]: meters and balances come from the ledger, not the terms file\n",
					terms, sc->names[i]);
				return 1;
			}
		}
		sc->terms.interval_start = start;
		sc->terms.interval_len_s = mc.len;
	}
	/* the operator receives fees: it needs a balance like anyone */
	if (sc->terms.fee_ppm && !settle_scenario_member(sc, sc->terms.operator_key)) {
		ledger_close(l);
		return fail(-ENOMEM, "adding the operator");
	}
	for (i = 0; i < sc->n; i++) {
		struct settle_member *x = &sc->members[i];
		struct ledger_member lm;
		char kt[LEDGER_KEYTEXT_SIZE];
		int64_t limit;

		err = ledger_get_member(l, x->key, &lm);
		if (err) {
			ledger_close(l);
			return fail(err, "reading the balance of a member");
		}
		ledger_key_to_text(x->key, kt);
		if (lm.flagged)
			fprintf(stderr, "phloemctl: warning: %s has fork evidence against it\n", kt);
		limit = lm.limit_wh > (uint64_t)SETTLE_BALANCE_MAX ?
			SETTLE_BALANCE_MAX : (int64_t)lm.limit_wh;
		if (!(sc->set[i] & SETTLE_SET_LIMIT) || x->credit_limit_wh > limit)
			x->credit_limit_wh = limit;
		x->balance_wh = lm.balance_wh;
	}
	ledger_close(l);
	return 0;
}

/* A short label for tables: the scenario's name, else the key's text start. */
static void label(const struct settle_scenario *sc, const uint8_t *key,
		  char *out, size_t size)
{
	const char *name = settle_scenario_name(sc, key);
	char kt[LEDGER_KEYTEXT_SIZE];

	if (name) {
		snprintf(out, size, "%s", name);
		return;
	}
	ledger_key_to_text(key, kt);
	snprintf(out, size, "%.14s...", kt);
}

static const char *flag_words(uint32_t f)
{
	switch (f & (SETTLE_F_CLEAN | SETTLE_F_CLEAN_ONLY)) {
	case SETTLE_F_CLEAN:
		return "clean";
	case SETTLE_F_CLEAN_ONLY:
		return "clean-only";
	case SETTLE_F_CLEAN | SETTLE_F_CLEAN_ONLY:
		return "clean,clean-only";
	}
	return "-";
}

static void print_table(const struct settle_scenario *sc,
			const struct settle_result *r)
{
	const struct settle_terms *t = &r->terms;
	char a[40], b[40], when[64];
	int w = (int)strlen("CREDITOR");
	int64_t gi = 0, ge = 0;
	time_t ts = (time_t)t->interval_start;
	struct tm tm;
	size_t i;

	for (i = 0; i < r->n_members; i++) {
		label(sc, r->members[i].key, a, sizeof(a));
		if ((int)strlen(a) > w)
			w = (int)strlen(a);
		gi += r->members[i].grid_import_wh;
		ge += r->members[i].grid_export_wh;
	}
	if (gmtime_r(&ts, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	else
		snprintf(when, sizeof(when), "%" PRIu64, t->interval_start);
	printf("interval %s + %" PRIu32 " s   loss %" PRIu32 ".%04" PRIu32
	       " %%   fee %" PRIu32 ".%04" PRIu32 " %%", when, t->interval_len_s,
	       t->loss_ppm / 10000, t->loss_ppm % 10000,
	       t->fee_ppm / 10000, t->fee_ppm % 10000);
	if (t->fee_ppm) {
		label(sc, t->operator_key, a, sizeof(a));
		printf(" to %s", a);
	}
	printf("\n\n%-*s  %-*s  %-6s  %12s\n", w, "DEBTOR", w, "CREDITOR",
	       "KIND", "WH");
	for (i = 0; i < r->n_transfers; i++) {
		const struct settle_transfer *x = &r->transfers[i];

		label(sc, x->debtor, a, sizeof(a));
		label(sc, x->creditor, b, sizeof(b));
		printf("%-*s  %-*s  %-6s  %12" PRId64 "\n", w, a, w, b,
		       x->kind == SETTLE_FEE ? "fee" : "energy", x->amount_wh);
	}
	if (!r->n_transfers)
		printf("(no transfers: nothing could be matched locally)\n");

	printf("\n%-*s  %10s %10s %10s %10s %10s %10s %8s %12s %12s  %s\n", w,
	       "MEMBER", "IMPORT", "EXPORT", "BOUGHT", "SOLD", "GRID_IN",
	       "GRID_OUT", "FEE", "BALANCE", "AFTER", "TERMS");
	for (i = 0; i < r->n_members; i++) {
		const struct settle_summary *s = &r->members[i];

		label(sc, s->key, a, sizeof(a));
		printf("%-*s  %10" PRId64 " %10" PRId64 " %10" PRId64 " %10" PRId64
		       " %10" PRId64 " %10" PRId64 " %8" PRId64 " %12" PRId64
		       " %12" PRId64 "  %s\n", w, a, s->import_wh, s->export_wh,
		       s->matched_import_wh, s->matched_export_wh,
		       s->grid_import_wh, s->grid_export_wh,
		       s->fee_paid_wh - s->fee_received_wh,
		       s->balance_before_wh, s->balance_after_wh,
		       flag_words(s->flags));
	}
	printf("\nmatched %" PRId64 " Wh in %zu transfers, fees %" PRId64
	       " Wh; grid import %" PRId64 " Wh, grid export %" PRId64 " Wh\n",
	       r->matched_wh, r->n_transfers, r->fees_wh, gi, ge);
}

static void print_json(const struct settle_scenario *sc,
		       const struct settle_result *r)
{
	const struct settle_terms *t = &r->terms;
	struct json j;
	size_t i;

	json_begin(&j, stdout);
	json_obj(&j, NULL);
	json_u64(&j, "interval_start", t->interval_start);
	json_u64(&j, "interval_len", t->interval_len_s);
	json_u64(&j, "loss_ppm", t->loss_ppm);
	json_u64(&j, "fee_ppm", t->fee_ppm);
	json_keytext(&j, "operator", t->operator_key);
	json_i64(&j, "matched_wh", r->matched_wh);
	json_i64(&j, "fees_wh", r->fees_wh);
	json_arr(&j, "transfers");
	for (i = 0; i < r->n_transfers; i++) {
		const struct settle_transfer *x = &r->transfers[i];

		json_obj(&j, NULL);
		json_keytext(&j, "debtor", x->debtor);
		json_keytext(&j, "creditor", x->creditor);
		json_str(&j, "kind", x->kind == SETTLE_FEE ? "fee" : "energy");
		json_i64(&j, "amount_wh", x->amount_wh);
		json_close_obj(&j);
	}
	json_close_arr(&j);
	json_arr(&j, "members");
	for (i = 0; i < r->n_members; i++) {
		const struct settle_summary *s = &r->members[i];
		const char *name = settle_scenario_name(sc, s->key);

		json_obj(&j, NULL);
		json_keytext(&j, "key", s->key);
		if (name)
			json_str(&j, "name", name);
		json_bool(&j, "clean", s->flags & SETTLE_F_CLEAN);
		json_bool(&j, "clean_only", s->flags & SETTLE_F_CLEAN_ONLY);
		json_i64(&j, "import_wh", s->import_wh);
		json_i64(&j, "export_wh", s->export_wh);
		json_i64(&j, "self_wh", s->self_wh);
		json_i64(&j, "reserve_wh", s->reserve_wh);
		json_i64(&j, "loss_wh", s->loss_wh);
		json_i64(&j, "matched_import_wh", s->matched_import_wh);
		json_i64(&j, "matched_export_wh", s->matched_export_wh);
		json_i64(&j, "grid_import_wh", s->grid_import_wh);
		json_i64(&j, "grid_export_wh", s->grid_export_wh);
		json_i64(&j, "fee_paid_wh", s->fee_paid_wh);
		json_i64(&j, "fee_received_wh", s->fee_received_wh);
		json_i64(&j, "credit_limit_wh", s->credit_limit_wh);
		json_i64(&j, "balance_before_wh", s->balance_before_wh);
		json_i64(&j, "balance_after_wh", s->balance_after_wh);
		json_close_obj(&j);
	}
	json_close_arr(&j);
	json_close_obj(&j);
	json_end(&j);
}

int settle_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "input", required_argument, NULL, 'I' },
		{ "terms", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "canonical", no_argument, NULL, 'c' },
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *interval = NULL, *input = NULL, *terms = NULL;
	bool json = false, canonical = false;
	struct settle_scenario sc;
	struct settle_result r;
	uint64_t start = 0;
	uint32_t len = 0;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			interval = optarg;
			break;
		case 'I':
			input = optarg;
			break;
		case 't':
			terms = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'c':
			canonical = true;
			break;
		case 'd':
			phloem_dir_opt = optarg;
			break;
		case 'h':
			settle_usage(stdout);
			return 0;
		default:
			settle_usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		return usage_error("settle: unexpected argument `%s'", argv[optind]);
	if (!interval == !input)
		return usage_error("settle: give exactly one of --interval START[/LEN] and --input FILE");
	if (json && canonical)
		return usage_error("settle: --json and --canonical exclude each other");
	if (interval && parse_interval(interval, &start, &len))
		return usage_error("settle: --interval `%s': want START[/LEN], START in Unix seconds or YYYY-MM-DDTHH:MM[:SS]Z, LEN > 0",
				   interval);

	settle_scenario_init(&sc);
	sc.key_parse = keytext_parse;
	if (input) {
		rc = settle_scenario_load(&sc, input) ||
		     (terms && settle_scenario_load(&sc, terms));
		if (rc) {
			fprintf(stderr, "phloemctl: %s\n", sc.err);
			settle_scenario_free(&sc);
			return 1;
		}
	} else {
		rc = from_ledger(&sc, start, len, terms);
		if (rc) {
			settle_scenario_free(&sc);
			return rc;
		}
	}

	rc = settle_run(&sc.terms, sc.members, sc.n, &r);
	if (rc) {
		char kt[LEDGER_KEYTEXT_SIZE];
		const char *name = settle_scenario_name(&sc, r.err_key);

		ledger_key_to_text(r.err_key, kt);
		if (rc == SETTLE_E_INVAL || rc == SETTLE_E_TERMS || rc == SETTLE_E_NOMEM)
			fprintf(stderr, "phloemctl: settle: %s\n", settle_strerror(rc));
		else
			fprintf(stderr, "phloemctl: settle: %s: %s%s%s%s\n",
				settle_strerror(rc), kt, name ? " (" : "",
				name ? name : "", name ? ")" : "");
		settle_scenario_free(&sc);
		return 1;
	}

	if (canonical) {
		size_t need = settle_format(&r, NULL, 0);
		char *buf = malloc(need + 1);

		if (!buf) {
			settle_result_free(&r);
			settle_scenario_free(&sc);
			return fail(-ENOMEM, "formatting the settlement");
		}
		settle_format(&r, buf, need + 1);
		fwrite(buf, 1, need, stdout);
		free(buf);
	} else if (json) {
		print_json(&sc, &r);
	} else {
		print_table(&sc, &r);
	}
	settle_result_free(&r);
	settle_scenario_free(&sc);
	if (fflush(stdout) || ferror(stdout))
		return fail(-errno, "writing the output");
	return 0;
}
