// SPDX-License-Identifier: GPL-2.0
/*
 * mkledger.c - build a real ledger from a settlement scenario, so that
 * `phloemctl settle --interval` can be checked against `--input`.
 *
 *   mkledger SCENARIO.in DIR
 *
 * Scenario keys (aa..aa and so on) are not Ed25519 public keys, so each
 * member gets the identity whose seed is its scenario key. Its chain holds
 * a credit-limit entry, then (for a non-zero balance) a transfer with a
 * "bank" member that has no meter, then the metered interval: the balance
 * and the limit the settlement sees are derived by the ledger library, not
 * copied. Writes DIR/ledger.db and, on stdout, the same scenario with the
 * real keys (DIR/translated.in) and the terms only (DIR/terms.ini).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "settle/scenario.h"

static int die(const char *what, int err)
{
	fprintf(stderr, "mkledger: %s: %s\n", what, ledger_strerror(err));
	exit(1);
}

/* Debtor pays creditor @amount, both sign, both append. */
static void transfer(struct ledger *l, struct ledger_identity *debtor,
		     struct ledger_identity *creditor, uint64_t amount,
		     uint64_t interval)
{
	struct ledger_entry e;
	struct ledger_head hd, hc;
	struct ledger_transfer *t = &e.body.transfer;
	int err;

	memset(&e, 0, sizeof(e));
	if ((err = ledger_get_head(l, debtor->pk, &hd)) ||
	    (err = ledger_get_head(l, creditor->pk, &hc)))
		die("head", err);
	e.type = LEDGER_T_TRANSFER;
	memcpy(t->debtor, debtor->pk, 32);
	memcpy(t->creditor, creditor->pk, 32);
	t->amount_wh = amount;
	t->interval_start = interval;
	t->debtor_seq = hd.seq + 1;
	memcpy(t->debtor_prev, hd.hash, 32);
	t->creditor_seq = hc.seq + 1;
	memcpy(t->creditor_prev, hc.hash, 32);
	if ((err = ledger_transfer_sign(t, debtor->pk, debtor)) ||
	    (err = ledger_transfer_sign(t, creditor->pk, creditor)))
		die("transfer signature", err);
	if ((err = ledger_append(l, debtor->pk, debtor, &e, NULL)))
		die("debtor's copy of the transfer", err);
	e.type = LEDGER_T_TRANSFER;
	e.timestamp_ms = 0;
	if ((err = ledger_append(l, creditor->pk, creditor, &e, NULL)))
		die("creditor's copy of the transfer", err);
}

static void limit(struct ledger *l, struct ledger_identity *id, uint64_t wh)
{
	struct ledger_entry e;
	int err;

	memset(&e, 0, sizeof(e));
	e.type = LEDGER_T_LIMIT;
	e.body.limit.limit_wh = wh;
	if ((err = ledger_append(l, id->pk, id, &e, NULL)))
		die("limit entry", err);
}

static void keyline(FILE *f, const uint8_t *k)
{
	char hex[65];

	settle_key_hex(k, hex);
	fprintf(f, "key = %s\n", hex);
}

int main(int argc, char **argv)
{
	struct settle_scenario sc;
	struct ledger_identity **ids, *bank, *op = NULL;
	struct ledger *l;
	uint8_t seed[32];
	char path[512];
	FILE *in, *terms;
	size_t i;
	int err;

	if (argc != 3) {
		fprintf(stderr, "usage: mkledger SCENARIO.in DIR\n");
		return 2;
	}
	settle_scenario_init(&sc);
	if (settle_scenario_load(&sc, argv[1])) {
		fprintf(stderr, "mkledger: %s\n", sc.err);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/ledger.db", argv[2]);
	if ((err = ledger_open(path, LEDGER_O_CREATE, &l)))
		die(path, err);
	memset(seed, 0xb4, sizeof(seed));
	bank = ledger_identity_from_seed(seed);
	ids = calloc(sc.n, sizeof(*ids));
	if (!bank || !ids)
		die("identities", -ENOMEM);
	limit(l, bank, 1000000000);	/* within the ledger's amount bound */

	for (i = 0; i < sc.n; i++) {
		const struct settle_member *m = &sc.members[i];

		ids[i] = ledger_identity_from_seed(m->key);
		if (!ids[i])
			die("identity", -ENOMEM);
		if (!memcmp(m->key, sc.terms.operator_key, 32))
			op = ids[i];
		if (m->credit_limit_wh)
			limit(l, ids[i], (uint64_t)m->credit_limit_wh);
		if (m->balance_wh < 0)
			transfer(l, ids[i], bank, (uint64_t)-m->balance_wh,
				 sc.terms.interval_start - 900);
		else if (m->balance_wh > 0)
			transfer(l, bank, ids[i], (uint64_t)m->balance_wh,
				 sc.terms.interval_start - 900);
	}
	for (i = 0; i < sc.n; i++) {
		const struct settle_member *m = &sc.members[i];
		struct ledger_entry e;

		memset(&e, 0, sizeof(e));
		e.type = LEDGER_T_METER;
		e.body.meter.interval_start = sc.terms.interval_start;
		e.body.meter.interval_len = sc.terms.interval_len_s;
		e.body.meter.wh_import = (uint64_t)m->import_wh;
		e.body.meter.wh_export = (uint64_t)m->export_wh;
		e.body.meter.channels = 1;
		/* measured PV: the 40-byte form carries the clean part */
		e.body.meter.clean_known = m->clean_export_wh > 0;
		e.body.meter.wh_clean = (uint64_t)m->clean_export_wh;
		if ((err = ledger_append(l, ids[i]->pk, ids[i], &e, NULL)))
			die("meter entry", err);
	}
	/* a meter of the next interval must not leak into this one */
	{
		struct ledger_entry e;

		memset(&e, 0, sizeof(e));
		e.type = LEDGER_T_METER;
		e.body.meter.interval_start = sc.terms.interval_start + 900;
		e.body.meter.interval_len = 900;
		e.body.meter.wh_import = 12345;
		if ((err = ledger_append(l, ids[0]->pk, ids[0], &e, NULL)))
			die("meter entry", err);
	}
	ledger_close(l);

	snprintf(path, sizeof(path), "%s/translated.in", argv[2]);
	in = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/terms.ini", argv[2]);
	terms = fopen(path, "w");
	if (!in || !terms)
		die(path, -errno);
	fprintf(in, "[community]\ninterval_start = %" PRIu64 "\ninterval_len = %" PRIu32 "\n",
		sc.terms.interval_start, sc.terms.interval_len_s);
	fprintf(terms, "[community]\n");
	for (i = 0; i < 2; i++) {
		FILE *f = i ? terms : in;
		char hex[65];

		settle_key_hex(op ? op->pk : sc.terms.operator_key, hex);
		fprintf(f, "loss_ppm = %" PRIu32 "\nfee_ppm = %" PRIu32 "\noperator = %s\n",
			sc.terms.loss_ppm, sc.terms.fee_ppm, hex);
	}
	for (i = 0; i < sc.n; i++) {
		const struct settle_member *m = &sc.members[i];

		fprintf(in, "\n[member %s]\n", sc.names[i]);
		keyline(in, ids[i]->pk);
		fprintf(in, "import_wh = %" PRId64 "\nexport_wh = %" PRId64
			"\nbalance_wh = %" PRId64 "\ncredit_limit_wh = %" PRId64
			"\nclean_export_wh = %" PRId64 "\n",
			m->import_wh, m->export_wh, m->balance_wh, m->credit_limit_wh,
			m->clean_export_wh);
		fprintf(terms, "\n[member %s]\n", sc.names[i]);
		keyline(terms, ids[i]->pk);
		for (int k = 0; k < 2; k++) {
			FILE *f = k ? terms : in;

			fprintf(f, "reserve_wh = %" PRId64 "\nclean = %d\nclean_only = %d\n",
				m->reserve_wh, !!(m->flags & SETTLE_F_CLEAN),
				!!(m->flags & SETTLE_F_CLEAN_ONLY));
		}
	}
	if (fclose(in) || fclose(terms))
		die("writing", -errno);
	for (i = 0; i < sc.n; i++)
		ledger_identity_free(ids[i]);
	ledger_identity_free(bank);
	free(ids);
	settle_scenario_free(&sc);
	return 0;
}
