// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl ledger <cmd>: read, verify, export and feed the mutual-credit
 * ledger in <dir>/ledger.db.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "phloemctl.h"

static const char usage[] =
	"Usage: phloemctl ledger <cmd> [options]\n"
	"  balance [--json]                  balances, credit limits and flags of all members\n"
	"  history [--author KEY] [--json]   entries in storage order (or one chain)\n"
	"  show (HASH | --author KEY SEQ) [--json]  one entry, every field\n"
	"  verify                            re-verify everything from scratch\n"
	"  export --format json|csv|raw [--author KEY] [--output FILE]\n"
	"  import FILE|- [--verbose]         ingest encoded entries (as written by export --format raw)\n"
	"  forks [--json]                    fork evidence kept\n"
	"  publish-forks                     append a fork-proof entry for each fork not yet published\n"
	"  append-meter --start T --length S --import WH --export WH [--channels MASK] [--time MS]\n"
	"  set-limit WH                      declare this gateway's credit limit\n"
	"  offer (--pay KEY | --charge KEY) --amount WH --interval START [--output FILE]\n"
	"                                    sign our half of a transfer, for the peer\n"
	"  accept FILE|- [--output FILE]     countersign a peer's offer, append it to our chain\n"
	"  complete FILE|-                   append a transfer the peer has accepted\n"
	"Common: -d, --dir DIR  data directory (default $PHLOEM_DIR or " PHLOEM_DEFAULT_DIR ")\n";

struct opts {
	bool json, have_author, have_start, have_len, have_imp, have_exp;
	bool have_peer, paying, have_interval, verbose;
	uint8_t peer[32];
	uint64_t amount, interval;
	const char *format, *output;
	uint8_t author[32];
	struct ledger_meter m;
	uint64_t time_ms;
	int argc;
	char **argv;	/* positional arguments after the command */
};

static int short_key(const uint8_t k[32], char *out)
{
	char text[LEDGER_KEYTEXT_SIZE];

	ledger_key_to_text(k, text);
	/* Prefix + 12 characters: unambiguous in any community, fits a table. */
	snprintf(out, 20, "%.16s", text);
	return 0;
}

/* ---- balance ---- */

struct balance_ctx {
	struct json *j;
	int64_t sum;
	int n;
};

static int balance_row(const struct ledger_member *m, void *arg)
{
	struct balance_ctx *b = arg;
	char text[LEDGER_KEYTEXT_SIZE];

	b->sum += m->balance_wh;
	b->n++;
	if (b->j) {
		json_obj(b->j, NULL);
		json_keytext(b->j, "key", m->key);
		json_i64(b->j, "balance_wh", m->balance_wh);
		json_u64(b->j, "limit_wh", m->limit_wh);
		json_u64(b->j, "head_seq", m->head_seq);
		json_bool(b->j, "flagged", m->flagged);
		json_close_obj(b->j);
	} else {
		ledger_key_to_text(m->key, text);
		printf("%-62s %14" PRId64 " %12" PRIu64 " %8" PRIu64 "  %s\n", text,
		       m->balance_wh, m->limit_wh, m->head_seq, m->flagged ? "FORKED" : "");
	}
	return 0;
}

static int cmd_balance(struct ledger *l, struct opts *o)
{
	struct balance_ctx b = { 0 };
	struct json j;
	int ret;

	if (o->json) {
		json_begin(&j, stdout);
		json_obj(&j, NULL);
		json_arr(&j, "members");
		b.j = &j;
	} else {
		printf("%-62s %14s %12s %8s  %s\n", "MEMBER", "BALANCE_WH", "LIMIT_WH", "HEAD", "FLAGS");
	}
	ret = ledger_foreach_member(l, balance_row, &b);
	if (ret)
		return fail(ret, "cannot read balances");
	if (o->json) {
		json_close_arr(&j);
		json_i64(&j, "sum_wh", b.sum);
		json_close_obj(&j);
		json_end(&j);
	} else {
		printf("%d members, balances sum to %" PRId64 " Wh\n", b.n, b.sum);
	}
	return 0;
}

/* ---- entries: one-line summary, JSON object, CSV row ---- */

static void summary(const struct ledger_entry *e, char *buf, size_t size)
{
	char a[20], b[20];

	switch (e->type) {
	case LEDGER_T_METER:
		snprintf(buf, size, "interval %" PRIu64 "+%us import %" PRIu64 " Wh export %" PRIu64
			 " Wh channels 0x%x", e->body.meter.interval_start, e->body.meter.interval_len,
			 e->body.meter.wh_import, e->body.meter.wh_export, e->body.meter.channels);
		break;
	case LEDGER_T_TRANSFER:
		short_key(e->body.transfer.debtor, a);
		short_key(e->body.transfer.creditor, b);
		snprintf(buf, size, "%" PRIu64 " Wh %s.. -> %s.. interval %" PRIu64,
			 e->body.transfer.amount_wh, a, b, e->body.transfer.interval_start);
		break;
	case LEDGER_T_LIMIT:
		snprintf(buf, size, "credit limit %" PRIu64 " Wh", e->body.limit.limit_wh);
		break;
	case LEDGER_T_ROTATE:
		short_key(e->body.rotate.new_key, a);
		snprintf(buf, size, "new key %s..", a);
		break;
	case LEDGER_T_ENROL:
		short_key(e->body.enrol.owner, a);
		snprintf(buf, size, "enrolled by owner %s..", a);
		break;
	case LEDGER_T_FORK: {
		struct ledger_entry x;

		ledger_entry_decode(e->body.fork.a, e->body.fork.a_len, &x);
		short_key(x.author, a);
		snprintf(buf, size, "fork proof: %s.. seq %" PRIu64, a, x.seq);
		break;
	}
	default:
		snprintf(buf, size, "?");
	}
}

static void entry_json(struct json *j, const uint8_t *raw, size_t len,
		       const struct ledger_entry *e, const uint8_t hash[32], bool with_raw)
{
	json_obj(j, NULL);
	json_hex(j, "hash", hash, 32);
	json_keytext(j, "author", e->author);
	json_u64(j, "seq", e->seq);
	json_hex(j, "prev", e->prev, 32);
	json_u64(j, "timestamp_ms", e->timestamp_ms);
	json_str(j, "type", ledger_type_name(e->type));
	switch (e->type) {
	case LEDGER_T_METER:
		json_u64(j, "interval_start", e->body.meter.interval_start);
		json_u64(j, "interval_len", e->body.meter.interval_len);
		json_u64(j, "wh_import", e->body.meter.wh_import);
		json_u64(j, "wh_export", e->body.meter.wh_export);
		json_u64(j, "channels", e->body.meter.channels);
		if (e->body.meter.clean_known)
			json_u64(j, "wh_clean", e->body.meter.wh_clean);
		break;
	case LEDGER_T_TRANSFER: {
		const struct ledger_transfer *t = &e->body.transfer;
		uint8_t id[32];

		ledger_transfer_id(t, id);
		json_hex(j, "transfer_id", id, 32);
		json_keytext(j, "debtor", t->debtor);
		json_keytext(j, "creditor", t->creditor);
		json_u64(j, "amount_wh", t->amount_wh);
		json_u64(j, "interval_start", t->interval_start);
		json_u64(j, "debtor_seq", t->debtor_seq);
		json_hex(j, "debtor_prev", t->debtor_prev, 32);
		json_u64(j, "creditor_seq", t->creditor_seq);
		json_hex(j, "creditor_prev", t->creditor_prev, 32);
		json_hex(j, "debtor_sig", t->debtor_sig, 64);
		json_hex(j, "creditor_sig", t->creditor_sig, 64);
		break;
	}
	case LEDGER_T_LIMIT:
		json_u64(j, "limit_wh", e->body.limit.limit_wh);
		break;
	case LEDGER_T_ROTATE:
		json_keytext(j, "new_key", e->body.rotate.new_key);
		json_hex(j, "new_key_sig", e->body.rotate.new_key_sig, 64);
		break;
	case LEDGER_T_ENROL:
		json_keytext(j, "owner", e->body.enrol.owner);
		json_hex(j, "owner_sig", e->body.enrol.owner_sig, 64);
		break;
	case LEDGER_T_FORK:
		json_hex(j, "entry_a", e->body.fork.a, e->body.fork.a_len);
		json_hex(j, "entry_b", e->body.fork.b, e->body.fork.b_len);
		break;
	}
	json_hex(j, "sig", e->sig, 64);
	if (with_raw)
		json_hex(j, "raw", raw, len);
	json_close_obj(j);
}

static const char csv_header[] =
	"hash,author,seq,prev,timestamp_ms,type,interval_start,interval_len,wh_import,"
	"wh_export,channels,debtor,creditor,amount_wh,limit_wh,new_key,owner\n";

static void entry_csv(FILE *f, const struct ledger_entry *e, const uint8_t hash[32])
{
	char h[65], p[65], a[LEDGER_KEYTEXT_SIZE], k1[LEDGER_KEYTEXT_SIZE] = "",
	     k2[LEDGER_KEYTEXT_SIZE] = "", k3[LEDGER_KEYTEXT_SIZE] = "", k4[LEDGER_KEYTEXT_SIZE] = "";
	char m[128] = ",,,,", amount[24] = "", limit[24] = "";

	/* Every field is hex, a number or a base32 key: nothing needs quoting. */
	hex_encode(hash, 32, h);
	hex_encode(e->prev, 32, p);
	ledger_key_to_text(e->author, a);
	switch (e->type) {
	case LEDGER_T_METER:
		snprintf(m, sizeof(m), "%" PRIu64 ",%u,%" PRIu64 ",%" PRIu64 ",%u",
			 e->body.meter.interval_start, e->body.meter.interval_len,
			 e->body.meter.wh_import, e->body.meter.wh_export, e->body.meter.channels);
		break;
	case LEDGER_T_TRANSFER:
		snprintf(m, sizeof(m), "%" PRIu64 ",,,,", e->body.transfer.interval_start);
		ledger_key_to_text(e->body.transfer.debtor, k1);
		ledger_key_to_text(e->body.transfer.creditor, k2);
		snprintf(amount, sizeof(amount), "%" PRIu64, e->body.transfer.amount_wh);
		break;
	case LEDGER_T_LIMIT:
		snprintf(limit, sizeof(limit), "%" PRIu64, e->body.limit.limit_wh);
		break;
	case LEDGER_T_ROTATE:
		ledger_key_to_text(e->body.rotate.new_key, k3);
		break;
	case LEDGER_T_ENROL:
		ledger_key_to_text(e->body.enrol.owner, k4);
		break;
	}
	fprintf(f, "%s,%s,%" PRIu64 ",%s,%" PRIu64 ",%s,%s,%s,%s,%s,%s,%s,%s\n", h, a, e->seq, p,
		e->timestamp_ms, ledger_type_name(e->type), m, k1, k2, amount, limit, k3, k4);
}

/* ---- history / export ---- */

struct walk {
	struct json *j;
	FILE *f;
	const char *format;	/* NULL: the history table */
	uint64_t n;
};

static int walk_row(const uint8_t *raw, size_t len, const struct ledger_entry *e,
		    const uint8_t hash[32], void *arg)
{
	struct walk *w = arg;
	char when[32], who[20], what[160], h[65];

	w->n++;
	if (w->j) {
		entry_json(w->j, raw, len, e, hash, w->format != NULL);
		return 0;
	}
	if (w->format && !strcmp(w->format, "csv")) {
		entry_csv(w->f, e, hash);
		return 0;
	}
	if (w->format) {	/* raw */
		return fwrite(raw, 1, len, w->f) == len ? 0 : -EIO;
	}
	format_time_ms(e->timestamp_ms, when, sizeof(when));
	short_key(e->author, who);
	summary(e, what, sizeof(what));
	hex_encode(hash, 32, h);
	h[16] = '\0';
	printf("%-18s %6" PRIu64 "  %-20s  %-10s  %-16s  %s\n", who, e->seq, when,
	       ledger_type_name(e->type), h, what);
	return 0;
}

static int cmd_history(struct ledger *l, struct opts *o)
{
	struct walk w = { .f = stdout };
	struct json j;
	int ret;

	if (o->json) {
		json_begin(&j, stdout);
		json_arr(&j, NULL);
		w.j = &j;
	} else {
		printf("%-18s %6s  %-20s  %-10s  %-16s  %s\n", "AUTHOR", "SEQ", "TIME (UTC)", "TYPE",
		       "HASH", "SUMMARY");
	}
	ret = ledger_foreach_entry(l, o->have_author ? o->author : NULL, walk_row, &w);
	if (ret)
		return fail(ret, "cannot read the ledger");
	if (o->json) {
		json_close_arr(&j);
		json_end(&j);
	}
	return 0;
}

static int cmd_export(struct ledger *l, struct opts *o)
{
	struct walk w = { .format = o->format };
	struct json j;
	int ret;

	if (!o->format || (strcmp(o->format, "json") && strcmp(o->format, "csv") &&
			   strcmp(o->format, "raw")))
		return usage_error("ledger export: --format json|csv|raw is required");
	w.f = o->output ? fopen(o->output, "we") : stdout;
	if (!w.f)
		return fail(-errno, "cannot create %s", o->output);
	if (!strcmp(o->format, "json")) {
		json_begin(&j, w.f);
		json_obj(&j, NULL);
		json_u64(&j, "format_version", LEDGER_FORMAT_VERSION);
		json_arr(&j, "entries");
		w.j = &j;
	} else if (!strcmp(o->format, "csv")) {
		fputs(csv_header, w.f);
	}
	ret = ledger_foreach_entry(l, o->have_author ? o->author : NULL, walk_row, &w);
	if (!ret && w.j) {
		json_close_arr(&j);
		json_close_obj(&j);
		json_end(&j);
	}
	if ((fflush(w.f) || ferror(w.f)) && !ret)
		ret = -EIO;
	if (o->output && fclose(w.f) && !ret)
		ret = -errno;
	if (ret)
		return fail(ret, "cannot export the ledger");
	if (o->output)
		fprintf(stderr, "exported %" PRIu64 " entries to %s\n", w.n, o->output);
	return 0;
}

/* ---- show ---- */

static int cmd_show(struct ledger *l, struct opts *o)
{
	uint8_t raw[LEDGER_ENTRY_MAX], hash[32];
	struct ledger_entry e;
	struct json j;
	uint64_t seq;
	size_t len;
	int ret;

	if (o->argc != 1)
		return usage_error("ledger show: give a HASH, or --author KEY and a SEQ");
	if (o->have_author) {
		if (parse_u64(o->argv[0], &seq))
			return usage_error("ledger show: bad sequence number `%s'", o->argv[0]);
		ret = ledger_get_entry(l, o->author, seq, raw, &len);
	} else {
		if (hex_decode(o->argv[0], hash, 32))
			return usage_error("ledger show: `%s' is not a 64-digit hex hash", o->argv[0]);
		ret = ledger_get_by_hash(l, hash, raw, &len);
	}
	if (ret)
		return fail(ret, "no such entry");
	ret = ledger_entry_decode(raw, len, &e);
	if (ret)
		return fail(ret, "stored entry is damaged");
	ledger_hash(raw, len, hash);
	json_begin(&j, stdout);
	/* One entry has too many fields for a table; JSON reads fine for both. */
	entry_json(&j, raw, len, &e, hash, true);
	json_end(&j);
	(void)o->json;
	return 0;
}

/* ---- verify ---- */

static void verify_problem(const uint8_t *author, uint64_t seq, const char *what, void *arg)
{
	char text[LEDGER_KEYTEXT_SIZE];

	if (author) {
		ledger_key_to_text(author, text);
		printf("PROBLEM %s seq %" PRIu64 ": %s\n", text, seq, what);
	} else {
		printf("PROBLEM: %s\n", what);
	}
}

static int count_entry(const uint8_t *raw, size_t len, const struct ledger_entry *e,
		       const uint8_t hash[32], void *arg)
{
	(*(uint64_t *)arg)++;
	return 0;
}

static int cmd_verify(struct ledger *l, struct opts *o)
{
	uint64_t n = 0;
	int ret;

	ret = ledger_verify(l, verify_problem, NULL);
	if (ret < 0)
		return fail(ret, "cannot verify the ledger");
	if (ret > 0) {
		printf("FAILED: %d problem%s\n", ret, ret == 1 ? "" : "s");
		return 1;
	}
	ledger_foreach_entry(l, NULL, count_entry, &n);
	printf("ok: %" PRIu64 " entries verified\n", n);
	return 0;
}

/* ---- forks ---- */

static int fork_row(const uint8_t author[32], uint64_t seq, const uint8_t *a, size_t a_len,
		    const uint8_t *b, size_t b_len, void *arg)
{
	struct json *j = arg;
	uint8_t ha[32], hb[32];
	char text[LEDGER_KEYTEXT_SIZE], xa[65], xb[65];

	ledger_hash(a, a_len, ha);
	ledger_hash(b, b_len, hb);
	if (j) {
		json_obj(j, NULL);
		json_keytext(j, "author", author);
		json_u64(j, "seq", seq);
		json_hex(j, "hash_a", ha, 32);
		json_hex(j, "hash_b", hb, 32);
		json_hex(j, "entry_a", a, a_len);
		json_hex(j, "entry_b", b, b_len);
		json_close_obj(j);
		return 0;
	}
	ledger_key_to_text(author, text);
	hex_encode(ha, 32, xa);
	hex_encode(hb, 32, xb);
	printf("%-62s %6" PRIu64 "  %.16s  %.16s\n", text, seq, xa, xb);
	return 0;
}

static int cmd_forks(struct ledger *l, struct opts *o)
{
	struct json j;
	int ret;

	if (o->json) {
		json_begin(&j, stdout);
		json_arr(&j, NULL);
	} else {
		printf("%-62s %6s  %-16s  %-16s\n", "AUTHOR", "SEQ", "HASH A", "HASH B");
	}
	ret = ledger_foreach_fork(l, fork_row, o->json ? &j : NULL);
	if (ret)
		return fail(ret, "cannot read fork evidence");
	if (o->json) {
		json_close_arr(&j);
		json_end(&j);
	}
	return 0;
}

/* ---- import ---- */

#define IMPORT_MAX	(256u << 20)
#define IMPORT_BATCH	4096

static int read_all(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	size_t cap = 1 << 16, n = 0, r;
	uint8_t *buf;

	if (!f)
		return -errno;
	buf = malloc(cap);
	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			uint8_t *nb = cap < IMPORT_MAX ? realloc(buf, cap * 2) : NULL;

			if (!nb) {
				free(buf);
				buf = NULL;
				errno = cap < IMPORT_MAX ? ENOMEM : EFBIG;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (f != stdin)
		fclose(f);
	if (!buf)
		return errno ? -errno : -ENOMEM;
	*out = buf;
	*len = n;
	return 0;
}

static int cmd_import(struct ledger *l, struct opts *o)
{
	struct ledger_blob *blobs;
	size_t len = 0, off = 0, n = 0, i, cap = IMPORT_BATCH;
	uint64_t index = 0, stored = 0, refused = 0, forks = 0, known = 0;
	uint8_t *buf = NULL;
	int ret;

	if (o->argc != 1)
		return usage_error("ledger import: give one FILE (or - for stdin)");
	ret = read_all(o->argv[0], &buf, &len);
	if (ret)
		return fail(ret, "cannot read %s", o->argv[0]);
	blobs = calloc(cap, sizeof(*blobs));
	if (!blobs) {
		free(buf);
		return fail(-ENOMEM, "cannot import");
	}
	while (off < len || n) {
		size_t elen = 0;
		int peek = off < len ? ledger_entry_peek_len(buf + off, len - off, &elen) : 0;

		/* A stream we cannot split any further ends the import. */
		if (off < len && !peek && elen > len - off)
			peek = LEDGER_E_TRUNCATED;
		if (peek) {
			printf("entry %" PRIu64 " (offset %zu): %s; %zu bytes not imported\n",
			       index + n, off, ledger_strerror(peek), len - off);
			refused++;
			off = len;
		} else if (off < len) {
			blobs[n].buf = buf + off;
			blobs[n].len = elen;
			n++;
			off += elen;
		}
		if (n == cap || (off >= len && n)) {
			ret = ledger_ingest(l, blobs, n);
			if (ret < 0)
				break;
			for (i = 0; i < n; i++) {
				if (blobs[i].status == LEDGER_E_FORK)
					forks++;
				if (!blobs[i].status || blobs[i].status == LEDGER_E_FORK)
					continue;
				/* Syncing a peer's whole export again is normal: say so, go on. */
				if (blobs[i].status == LEDGER_E_REPLAY) {
					known++;
					if (o->verbose)
						printf("entry %" PRIu64 ": %s (already stored)\n",
						       index + i, ledger_strerror(blobs[i].status));
					continue;
				}
				refused++;
				printf("entry %" PRIu64 ": %s\n", index + i,
				       ledger_strerror(blobs[i].status));
			}
			stored += ret;
			index += n;
			n = 0;
		}
	}
	free(blobs);
	free(buf);
	if (ret < 0)
		return fail(ret, "cannot import %s", o->argv[0]);
	printf("%" PRIu64 " stored (%" PRIu64 " as fork evidence), %" PRIu64 " already present "
	       "(replay), %" PRIu64 " refused\n", stored, forks, known, refused);
	return refused ? 1 : 0;
}

/* ---- local appends ---- */

/* This gateway's identity and chain id (which "chain.id" keeps after a rotation). */
static int load_self(struct ledger_identity **id, uint8_t cid[32])
{
	char text[LEDGER_KEYTEXT_SIZE + 2];
	FILE *f;

	if (load_identity(id))
		return 1;
	memcpy(cid, (*id)->pk, 32);
	f = fopen(phloem_path("chain.id"), "re");
	if (f) {
		bool bad = !fgets(text, sizeof(text), f);

		fclose(f);
		text[strcspn(text, "\n")] = '\0';
		if (bad || ledger_key_from_text(text, cid)) {
			ledger_identity_free(*id);
			return fail(-EINVAL, "bad %s", phloem_path("chain.id"));
		}
	}
	return 0;
}

static int append_local(struct ledger *l, struct ledger_entry *e)
{
	struct ledger_identity *id;
	uint8_t cid[32], hash[32];
	char h[65];
	int ret;

	if (load_self(&id, cid))
		return 1;
	ret = ledger_append(l, cid, id, e, hash);
	ledger_identity_free(id);
	if (ret)
		return fail(ret, "cannot append %s entry", ledger_type_name(e->type));
	hex_encode(hash, 32, h);
	printf("%" PRIu64 " %s\n", e->seq, h);
	return 0;
}

static int cmd_append_meter(struct ledger *l, struct opts *o)
{
	struct ledger_entry e = { .type = LEDGER_T_METER, .timestamp_ms = o->time_ms };

	if (!o->have_start || !o->have_len || !o->have_imp || !o->have_exp)
		return usage_error("ledger append-meter: --start, --length, --import and --export "
				   "are required");
	e.body.meter = o->m;
	return append_local(l, &e);
}

static int cmd_set_limit(struct ledger *l, struct opts *o)
{
	struct ledger_entry e = { .type = LEDGER_T_LIMIT, .timestamp_ms = o->time_ms };

	if (o->argc != 1 || parse_u64(o->argv[0], &e.body.limit.limit_wh))
		return usage_error("ledger set-limit: give the limit in Wh");
	return append_local(l, &e);
}

/* ---- transfers: offer, accept, complete ---- */

/*
 * A transfer travels between the two parties as one line of text:
 * "phlxfer1:" and the 288-byte body in hex, first with one signature, then
 * with both. Each party appends the same body to its own chain.
 */
#define XFER_PREFIX	"phlxfer1:"

static int write_transfer(const struct ledger_transfer *t, const char *path)
{
	uint8_t body[LEDGER_TRANSFER_BYTES];
	char hex[2 * LEDGER_TRANSFER_BYTES + 1];
	FILE *f = path ? fopen(path, "we") : stdout;

	if (!f)
		return fail(-errno, "cannot create %s", path);
	ledger_transfer_encode(t, body);
	hex_encode(body, sizeof(body), hex);
	fprintf(f, "%s%s\n", XFER_PREFIX, hex);
	if ((path && fclose(f)) || (!path && fflush(f)))
		return fail(-errno, "cannot write the transfer");
	return 0;
}

static int read_transfer(const char *path, struct ledger_transfer *t)
{
	char line[2 * LEDGER_TRANSFER_BYTES + 64];
	uint8_t body[LEDGER_TRANSFER_BYTES];
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	int ret;

	if (!f)
		return fail(-errno, "cannot read %s", path);
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	if (f != stdin)
		fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, XFER_PREFIX, strlen(XFER_PREFIX)) ||
	    hex_decode(line + strlen(XFER_PREFIX), body, sizeof(body)))
		return usage_error("%s: not a transfer (" XFER_PREFIX "<576 hex digits>)", path);
	ret = ledger_transfer_decode(body, sizeof(body), t);
	return ret ? fail(ret, "%s", path) : 0;
}

static int cmd_offer(struct ledger *l, struct opts *o)
{
	struct ledger_identity *id;
	struct ledger_transfer t = { 0 };
	struct ledger_head mine, theirs;
	uint8_t cid[32];
	int ret;

	if (!o->have_peer || !o->amount || !o->have_interval)
		return usage_error("ledger offer: --pay KEY or --charge KEY, --amount WH and "
				   "--interval START are required");
	if (load_self(&id, cid))
		return 1;
	ret = ledger_get_head(l, cid, &mine);
	if (!ret)
		ret = ledger_get_head(l, o->peer, &theirs);
	if (ret) {
		ledger_identity_free(id);
		return fail(ret, "cannot read the chain heads");
	}
	/* Each side's next slot, as this ledger knows the peer's chain. */
	memcpy(o->paying ? t.debtor : t.creditor, cid, 32);
	memcpy(o->paying ? t.creditor : t.debtor, o->peer, 32);
	t.amount_wh = o->amount;
	t.interval_start = o->interval;
	if (o->paying) {
		t.debtor_seq = mine.seq + 1;
		memcpy(t.debtor_prev, mine.hash, 32);
		t.creditor_seq = theirs.seq + 1;
		memcpy(t.creditor_prev, theirs.hash, 32);
	} else {
		t.creditor_seq = mine.seq + 1;
		memcpy(t.creditor_prev, mine.hash, 32);
		t.debtor_seq = theirs.seq + 1;
		memcpy(t.debtor_prev, theirs.hash, 32);
	}
	ret = ledger_transfer_sign(&t, cid, id);
	ledger_identity_free(id);
	if (ret)
		return fail(ret, "cannot sign the offer");
	return write_transfer(&t, o->output);
}

/* Append our copy of a transfer the other party has signed. */
static int append_transfer(struct ledger *l, struct ledger_transfer *t, bool sign,
			   const char *output)
{
	struct ledger_entry e = { .type = LEDGER_T_TRANSFER };
	struct ledger_identity *id;
	struct ledger_head peer;
	uint8_t cid[32], hash[32];
	char h[65];
	bool creditor;
	int ret;

	if (load_self(&id, cid))
		return 1;
	creditor = !memcmp(t->creditor, cid, 32);
	if (!creditor && memcmp(t->debtor, cid, 32)) {
		ledger_identity_free(id);
		return fail(LEDGER_E_NOT_PARTY, "transfer");
	}
	/* Check the other side's signature before adding ours to it. */
	ret = ledger_get_head(l, creditor ? t->debtor : t->creditor, &peer);
	if (!ret && ledger_transfer_verify_party(t, !creditor, peer.key))
		ret = LEDGER_E_COUNTERSIG;
	if (!ret && sign)
		ret = ledger_transfer_sign(t, cid, id);
	if (!ret) {
		e.body.transfer = *t;
		ret = ledger_append(l, cid, id, &e, hash);
	}
	ledger_identity_free(id);
	if (ret == LEDGER_E_DOUBLE_SPEND)
		return fail(ret, "transfer does not fit this chain (it moved on since the offer)");
	if (ret)
		return fail(ret, "cannot append the transfer");
	hex_encode(hash, 32, h);
	fprintf(stderr, "appended as entry %llu %s\n", (unsigned long long)e.seq, h);
	return sign ? write_transfer(t, output) : 0;
}

static int cmd_accept(struct ledger *l, struct opts *o)
{
	struct ledger_transfer t;

	if (o->argc != 1)
		return usage_error("ledger accept: give the offer FILE (or -)");
	if (read_transfer(o->argv[0], &t))
		return 1;
	return append_transfer(l, &t, true, o->output);
}

static int cmd_complete(struct ledger *l, struct opts *o)
{
	struct ledger_transfer t;

	if (o->argc != 1)
		return usage_error("ledger complete: give the accepted transfer FILE (or -)");
	if (read_transfer(o->argv[0], &t))
		return 1;
	return append_transfer(l, &t, false, NULL);
}

/* ---- publishing fork evidence ---- */

struct publish_ctx {
	struct ledger *l;
	struct ledger_identity *id;
	uint8_t cid[32];
	int published, skipped, ret;
};

/* Has our own chain already published this pair? */
static int find_proof(const uint8_t *raw, size_t len, const struct ledger_entry *e,
		      const uint8_t hash[32], void *arg)
{
	const struct ledger_fork *want = arg;

	return e->type == LEDGER_T_FORK && e->body.fork.a_len == want->a_len &&
	       e->body.fork.b_len == want->b_len &&
	       !memcmp(e->body.fork.a, want->a, want->a_len) &&
	       !memcmp(e->body.fork.b, want->b, want->b_len);
}

static int publish_one(const uint8_t author[32], uint64_t seq, const uint8_t *a, size_t a_len,
		       const uint8_t *b, size_t b_len, void *arg)
{
	struct publish_ctx *p = arg;
	struct ledger_entry e = { .type = LEDGER_T_FORK }, x;
	struct ledger_fork *f = &e.body.fork;
	char text[LEDGER_KEYTEXT_SIZE];
	int ret;

	/* Proofs nest no proofs and no more than LEDGER_NESTED_MAX bytes. */
	if (a_len > LEDGER_NESTED_MAX || b_len > LEDGER_NESTED_MAX ||
	    ledger_entry_decode(a, a_len, &x) || x.type == LEDGER_T_FORK ||
	    ledger_entry_decode(b, b_len, &x) || x.type == LEDGER_T_FORK) {
		p->skipped++;
		return 0;
	}
	f->a_len = a_len;
	memcpy(f->a, a, a_len);
	f->b_len = b_len;
	memcpy(f->b, b, b_len);
	ret = ledger_foreach_entry(p->l, p->cid, find_proof, f);
	if (ret < 0) {
		p->ret = ret;
		return ret;
	}
	if (ret)
		return 0;
	ret = ledger_append(p->l, p->cid, p->id, &e, NULL);
	ledger_key_to_text(author, text);
	if (ret) {
		p->ret = ret;
		return fail(ret, "cannot publish the fork of %s seq %llu", text,
			    (unsigned long long)seq) ? -EIO : 0;
	}
	printf("published fork of %s seq %llu as entry %llu\n", text, (unsigned long long)seq,
	       (unsigned long long)e.seq);
	p->published++;
	return 0;
}

/* Append a fork-proof entry for every fork seen and not yet published by us. */
static int cmd_publish_forks(struct ledger *l, struct opts *o)
{
	struct publish_ctx p = { .l = l };
	int ret;

	if (load_self(&p.id, p.cid))
		return 1;
	ret = ledger_foreach_fork(l, publish_one, &p);
	ledger_identity_free(p.id);
	if (p.ret)
		return 1;
	if (ret)
		return fail(ret, "cannot read fork evidence");
	printf("%d published, %d not publishable (a side is itself a proof)\n", p.published,
	       p.skipped);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct ledger *, struct opts *);
	bool writes;
} cmds[] = {
	{ "balance", cmd_balance, false },
	{ "history", cmd_history, false },
	{ "show", cmd_show, false },
	{ "verify", cmd_verify, false },
	{ "export", cmd_export, false },
	{ "forks", cmd_forks, false },
	{ "import", cmd_import, true },
	{ "append-meter", cmd_append_meter, true },
	{ "set-limit", cmd_set_limit, true },
	{ "offer", cmd_offer, true },
	{ "accept", cmd_accept, true },
	{ "complete", cmd_complete, true },
	{ "publish-forks", cmd_publish_forks, true },
};

static int parse_u32_opt(const char *name, const char *s, uint32_t *v)
{
	uint64_t x;

	if (parse_u64(s, &x) || x > UINT32_MAX)
		return usage_error("ledger: bad --%s `%s'", name, s);
	*v = x;
	return 0;
}

static int parse_u64_opt(const char *name, const char *s, uint64_t *v)
{
	return parse_u64(s, v) ? usage_error("ledger: bad --%s `%s'", name, s) : 0;
}

int ledger_main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "author", required_argument, NULL, 'a' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "start", required_argument, NULL, 's' },
		{ "length", required_argument, NULL, 'l' },
		{ "import", required_argument, NULL, 'i' },
		{ "export", required_argument, NULL, 'e' },
		{ "channels", required_argument, NULL, 'c' },
		{ "time", required_argument, NULL, 't' },
		{ "pay", required_argument, NULL, 'P' },
		{ "charge", required_argument, NULL, 'C' },
		{ "amount", required_argument, NULL, 'A' },
		{ "interval", required_argument, NULL, 'I' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct opts o = { 0 };
	struct ledger *l;
	const char *cmd;
	size_t i;
	int c, ret;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "d:ja:f:o:s:l:i:e:c:t:P:C:A:I:vh", lopts, NULL)) != -1) {
		switch (c) {
		case 'd': phloem_dir_opt = optarg; break;
		case 'j': o.json = true; break;
		case 'a':
			if (ledger_key_from_text(optarg, o.author))
				return usage_error("ledger: bad key `%s': %s", optarg,
						   ledger_strerror(LEDGER_E_KEYTEXT));
			o.have_author = true;
			break;
		case 'f': o.format = optarg; break;
		case 'o': o.output = optarg; break;
		case 's':
			if ((ret = parse_u64_opt("start", optarg, &o.m.interval_start)))
				return ret;
			o.have_start = true;
			break;
		case 'l':
			if ((ret = parse_u32_opt("length", optarg, &o.m.interval_len)))
				return ret;
			o.have_len = true;
			break;
		case 'i':
			if ((ret = parse_u64_opt("import", optarg, &o.m.wh_import)))
				return ret;
			o.have_imp = true;
			break;
		case 'e':
			if ((ret = parse_u64_opt("export", optarg, &o.m.wh_export)))
				return ret;
			o.have_exp = true;
			break;
		case 'c':
			if ((ret = parse_u32_opt("channels", optarg, &o.m.channels)))
				return ret;
			break;
		case 't':
			if ((ret = parse_u64_opt("time", optarg, &o.time_ms)))
				return ret;
			break;
		case 'P':
		case 'C':
			if (ledger_key_from_text(optarg, o.peer))
				return usage_error("ledger: bad key `%s': %s", optarg,
						   ledger_strerror(LEDGER_E_KEYTEXT));
			o.have_peer = true;
			o.paying = c == 'P';
			break;
		case 'A':
			if ((ret = parse_u64_opt("amount", optarg, &o.amount)))
				return ret;
			break;
		case 'I':
			if ((ret = parse_u64_opt("interval", optarg, &o.interval)))
				return ret;
			o.have_interval = true;
			break;
		case 'v': o.verbose = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	o.argc = argc - optind;
	o.argv = argv + optind;
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmd, cmds[i].name))
			continue;
		if (!cmds[i].writes && access(phloem_path("ledger.db"), F_OK))
			return fail(-errno, "cannot open ledger %s", phloem_path("ledger.db"));
		if (open_ledger(cmds[i].writes ? LEDGER_O_CREATE : LEDGER_O_RDONLY, &l))
			return 1;
		ret = cmds[i].fn(l, &o);
		ledger_close(l);
		return ret;
	}
	return usage_error("ledger: unknown command `%s' (try --help)", cmd);
}
