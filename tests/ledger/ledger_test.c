// SPDX-License-Identifier: GPL-2.0
/*
 * Ledger unit tests: encoding and its test vectors, every validation reason
 * (with the stored data checked untouched afterwards), forks, double
 * spends, credit limits, balances over many random transfers, and the real
 * `phloemctl ledger verify` on a real SQLite file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "kselftest_harness.h"
#include "ledger.h"
#include "vectors.h"

/* ---- helpers ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (s[0] && s[1] && n < cap) {
		int hi = hexval(s[0]), lo = hexval(s[1]);

		if (hi < 0 || lo < 0)
			break;
		out[n++] = hi << 4 | lo;
		s += 2;
	}
	return n;
}

/* Digest of everything a caller can observe in the store. */
struct digest_ctx { crypto_generichash_state st; };

static int dig_entry(const uint8_t *raw, size_t len, const struct ledger_entry *e,
		     const uint8_t hash[32], void *arg)
{
	crypto_generichash_update(&((struct digest_ctx *)arg)->st, raw, len);
	return 0;
}

static int dig_member(const struct ledger_member *m, void *arg)
{
	crypto_generichash_update(&((struct digest_ctx *)arg)->st, (const void *)m, sizeof(*m));
	return 0;
}

static int dig_fork(const uint8_t author[32], uint64_t seq, const uint8_t *a, size_t al,
		    const uint8_t *b, size_t bl, void *arg)
{
	struct digest_ctx *d = arg;

	crypto_generichash_update(&d->st, author, 32);
	crypto_generichash_update(&d->st, a, al);
	crypto_generichash_update(&d->st, b, bl);
	return 0;
}

static void digest(struct ledger *l, uint8_t out[32])
{
	struct digest_ctx d;

	crypto_generichash_init(&d.st, NULL, 0, 32);
	ledger_foreach_entry(l, NULL, dig_entry, &d);
	ledger_foreach_member(l, dig_member, &d);
	ledger_foreach_fork(l, dig_fork, &d);
	crypto_generichash_final(&d.st, out, 32);
}

static int ingest1(struct ledger *l, const uint8_t *raw, size_t len)
{
	struct ledger_blob b = { raw, len, -1 };
	int ret = ledger_ingest(l, &b, 1);

	return ret < 0 ? ret : b.status;
}

/* Build and sign (but do not store) the next entry of @id's own chain. */
static void next_entry(struct ledger *l, const struct ledger_identity *id, struct ledger_entry *e,
		       unsigned int type, uint8_t *raw, size_t *len)
{
	struct ledger_head h;

	ledger_get_head(l, id->pk, &h);
	e->version = LEDGER_FORMAT_VERSION;
	e->type = type;
	memcpy(e->author, id->pk, 32);
	e->seq = h.seq + 1;
	memcpy(e->prev, h.hash, 32);
	if (!e->timestamp_ms)
		e->timestamp_ms = h.timestamp_ms + 1000;
	ledger_entry_sign(e, id);
	ledger_entry_encode(e, raw, LEDGER_ENTRY_MAX, len);
}

static int append_meter(struct ledger *l, const struct ledger_identity *id, uint64_t start)
{
	struct ledger_entry e = { .type = LEDGER_T_METER };

	e.body.meter = (struct ledger_meter){ start, 900, 100, 50, 1 };
	return ledger_append(l, id->pk, id, &e, NULL);
}

static int set_limit(struct ledger *l, const struct ledger_identity *id, uint64_t wh)
{
	struct ledger_entry e = { .type = LEDGER_T_LIMIT };

	e.body.limit.limit_wh = wh;
	return ledger_append(l, id->pk, id, &e, NULL);
}

/* A transfer both parties signed, pinned to each one's next slot. */
static void make_transfer(struct ledger *l, const struct ledger_identity *d,
			  const struct ledger_identity *c, uint64_t wh, struct ledger_transfer *t)
{
	struct ledger_head hd, hc;

	ledger_get_head(l, d->pk, &hd);
	ledger_get_head(l, c->pk, &hc);
	memset(t, 0, sizeof(*t));
	memcpy(t->debtor, d->pk, 32);
	memcpy(t->creditor, c->pk, 32);
	t->amount_wh = wh;
	t->interval_start = 1700000000;
	t->debtor_seq = hd.seq + 1;
	memcpy(t->debtor_prev, hd.hash, 32);
	t->creditor_seq = hc.seq + 1;
	memcpy(t->creditor_prev, hc.hash, 32);
	ledger_transfer_sign(t, d->pk, d);
	ledger_transfer_sign(t, c->pk, c);
}

static int append_transfer(struct ledger *l, const struct ledger_identity *who,
			   const struct ledger_transfer *t)
{
	struct ledger_entry e = { .type = LEDGER_T_TRANSFER };

	e.body.transfer = *t;
	return ledger_append(l, who->pk, who, &e, NULL);
}

/* Both copies; returns the first failure. */
static int transfer(struct ledger *l, const struct ledger_identity *d,
		    const struct ledger_identity *c, uint64_t wh)
{
	struct ledger_transfer t;
	int ret;

	make_transfer(l, d, c, wh, &t);
	ret = append_transfer(l, d, &t);
	return ret ? ret : append_transfer(l, c, &t);
}

static struct ledger_identity *ident(uint8_t first)
{
	uint8_t seed[32];

	vec_seed(seed, first);
	return ledger_identity_from_seed(seed);
}

static int64_t balance(struct ledger *l, const uint8_t *key)
{
	struct ledger_member m;

	ledger_get_member(l, key, &m);
	return m.balance_wh;
}

static int sum_cb(const struct ledger_member *m, void *arg)
{
	*(int64_t *)arg += m->balance_wh;
	return 0;
}

static int count_fork(const uint8_t au[32], uint64_t seq, const uint8_t *a, size_t al,
		      const uint8_t *b, size_t bl, void *arg)
{
	(*(int *)arg)++;
	return (seq == 1 && al > 0 && bl > 0) ? 0 : -EINVAL;
}

static bool bytes_lt(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c ? c < 0 : al < bl;
}

/* ---- key text ---- */

TEST(keytext)
{
	struct ledger_identity *id = ident(7);
	char text[LEDGER_KEYTEXT_SIZE], bad[LEDGER_KEYTEXT_SIZE];
	uint8_t k[32];
	size_t i;

	ASSERT_NE(NULL, id);
	ledger_key_to_text(id->pk, text);
	ASSERT_EQ(LEDGER_KEYTEXT_LEN, strlen(text));
	ASSERT_EQ(0, strncmp(text, "phl1", 4));
	ASSERT_EQ(0, ledger_key_from_text(text, k));
	ASSERT_EQ(0, memcmp(k, id->pk, 32));
	/* Any single mistyped character is caught by the checksum. */
	for (i = 4; i < LEDGER_KEYTEXT_LEN; i++) {
		strcpy(bad, text);
		bad[i] = bad[i] == 'a' ? 'b' : 'a';
		EXPECT_EQ(LEDGER_E_KEYTEXT, ledger_key_from_text(bad, k)) TH_LOG("pos %zu", i);
	}
	/* Swapped neighbours, too. */
	strcpy(bad, text);
	for (i = 10; i < 20 && bad[i] == bad[i + 1]; i++)
		;
	bad[i] = text[i + 1];
	bad[i + 1] = text[i];
	EXPECT_EQ(LEDGER_E_KEYTEXT, ledger_key_from_text(bad, k));
	EXPECT_EQ(LEDGER_E_KEYTEXT, ledger_key_from_text("phl1abc", k));
	strcpy(bad, text);
	bad[0] = 'x';
	EXPECT_EQ(LEDGER_E_KEYTEXT, ledger_key_from_text(bad, k));
	for (i = 0; text[i]; i++)
		bad[i] = text[i] >= 'a' && text[i] <= 'z' ? text[i] - 32 : text[i];
	bad[i] = '\0';
	EXPECT_EQ(0, ledger_key_from_text(bad, k));
	ledger_identity_free(id);
}

/* ---- test vectors ---- */

TEST(vectors_match_document)
{
	static struct vector v[NVEC];
	struct vector_keys k;
	char line[8192], tag[16], name[64], val[8000];
	uint8_t buf[LEDGER_ENTRY_MAX], pk[32] = { 0 };
	FILE *f = fopen(VECTORS_FILE, "r");
	int checked = 0, i;

	ASSERT_NE(NULL, f) TH_LOG("%s: %s", VECTORS_FILE, strerror(errno));
	ASSERT_EQ(0, vec_keys(&k));
	ASSERT_EQ(0, vec_build(&k, v));
	while (fgets(line, sizeof(line), f)) {
		size_t n;

		if (line[0] == '#' || sscanf(line, "%15s %63s %7999s", tag, name, val) != 3)
			continue;
		if (!strcmp(tag, "keytext")) {
			uint8_t key[32];

			ASSERT_EQ(0, ledger_key_from_text(val, key));
			if (!strcmp(name, "alice"))
				EXPECT_EQ(0, memcmp(key, k.alice->pk, 32));
			checked++;
			continue;
		}
		n = unhex(val, buf, sizeof(buf));
		if (!strcmp(tag, "pk") && !strcmp(name, "alice")) {
			EXPECT_EQ(0, memcmp(buf, k.alice->pk, 32));
			memcpy(pk, buf, 32);
		}
		for (i = 0; i < NVEC; i++) {
			if (strcmp(name, v[i].name))
				continue;
			if (!strcmp(tag, "entry")) {
				ASSERT_EQ(v[i].len, n) TH_LOG("%s", name);
				EXPECT_EQ(0, memcmp(v[i].raw, buf, n)) TH_LOG("%s differs", name);
			} else if (!strcmp(tag, "hash")) {
				uint8_t h[32];

				/* The hash is plain BLAKE2b-256 of the bytes, by libsodium directly. */
				crypto_generichash(h, 32, v[i].raw, v[i].len, NULL, 0);
				EXPECT_EQ(0, memcmp(h, buf, 32)) TH_LOG("%s hash", name);
			} else if (!strcmp(tag, "sig")) {
				EXPECT_EQ(0, memcmp(v[i].raw + v[i].len - 64, buf, 64));
			}
			checked++;
		}
	}
	fclose(f);
	EXPECT_EQ(4 + 3 * NVEC, checked);
	/* Raw Ed25519 over header+body, as docs/ledger.md says. */
	EXPECT_EQ(0, crypto_sign_verify_detached(v[0].raw + v[0].len - 64, v[0].raw,
						 v[0].len - 64, pk));
	/* Spot-check offsets the document gives for alice-1-meter. */
	EXPECT_EQ(1, v[0].raw[0]);
	EXPECT_EQ(LEDGER_T_METER, v[0].raw[1]);
	EXPECT_EQ(1, v[0].raw[36]);
	EXPECT_EQ(32, v[0].raw[84]);
	EXPECT_EQ(88 + 32 + 64, v[0].len);
	vec_free_keys(&k);
}

/* The annotated entry in docs/ledger.md is the first vector, byte for byte. */
TEST(document_annotated_vector)
{
	static struct vector v[NVEC];
	struct vector_keys k;
	char line[512], hex[2 * LEDGER_ENTRY_MAX + 1] = "";
	uint8_t buf[LEDGER_ENTRY_MAX];
	FILE *f = fopen(DOC_FILE, "r");
	int state = 0;

	ASSERT_NE(NULL, f) TH_LOG("%s: %s", DOC_FILE, strerror(errno));
	while (fgets(line, sizeof(line), f) && state < 3) {
		char tok[256];

		if (state == 0 && strstr(line, "The first vector, annotated"))
			state = 1;
		else if (state >= 1 && !strncmp(line, "```", 3))
			state++;
		else if (state == 2 && sscanf(line, "%255s", tok) == 1 &&
			 strlen(hex) + strlen(tok) < sizeof(hex))
			strcat(hex, tok);
	}
	fclose(f);
	ASSERT_EQ(3, state);
	ASSERT_EQ(0, vec_keys(&k));
	ASSERT_EQ(0, vec_build(&k, v));
	ASSERT_EQ(v[0].len, unhex(hex, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, v[0].raw, v[0].len));
	vec_free_keys(&k);
}

TEST(roundtrip)
{
	static struct vector v[NVEC];
	struct vector_keys k;
	struct ledger_entry e;
	uint8_t buf[LEDGER_ENTRY_MAX];
	size_t len, peek;
	int i;

	ASSERT_EQ(0, vec_keys(&k));
	ASSERT_EQ(0, vec_build(&k, v));
	for (i = 0; i < NVEC; i++) {
		ASSERT_EQ(0, ledger_entry_decode(v[i].raw, v[i].len, &e)) TH_LOG("%s", v[i].name);
		ASSERT_EQ(0, ledger_entry_encode(&e, buf, sizeof(buf), &len));
		ASSERT_EQ(v[i].len, len);
		EXPECT_EQ(0, memcmp(buf, v[i].raw, len)) TH_LOG("%s", v[i].name);
		ASSERT_EQ(0, ledger_entry_peek_len(v[i].raw, v[i].len, &peek));
		EXPECT_EQ(v[i].len, peek);
	}
	vec_free_keys(&k);
}

TEST(decoder_is_strict)
{
	static struct vector v[NVEC];
	struct vector_keys k;
	struct ledger_entry e;
	uint8_t buf[LEDGER_ENTRY_MAX + 16];
	size_t n, i;

	ASSERT_EQ(0, vec_keys(&k));
	ASSERT_EQ(0, vec_build(&k, v));
	for (i = 0; i < NVEC; i++) {
		for (n = 0; n < v[i].len; n++)
			ASSERT_EQ(LEDGER_E_TRUNCATED, ledger_entry_decode(v[i].raw, n, &e))
				TH_LOG("%s at %zu", v[i].name, n);
		memcpy(buf, v[i].raw, v[i].len);
		buf[v[i].len] = 0;
		EXPECT_EQ(LEDGER_E_TRAILING, ledger_entry_decode(buf, v[i].len + 1, &e));
	}
	memcpy(buf, v[0].raw, v[0].len);
	EXPECT_EQ(LEDGER_E_OVERSIZED, ledger_entry_decode(buf, LEDGER_ENTRY_MAX + 1, &e));
	buf[0] = 2;
	EXPECT_EQ(LEDGER_E_VERSION, ledger_entry_decode(buf, v[0].len, &e));
	buf[0] = 1;
	buf[1] = 99;
	EXPECT_EQ(LEDGER_E_TYPE, ledger_entry_decode(buf, v[0].len, &e));
	buf[1] = 0;
	EXPECT_EQ(LEDGER_E_TYPE, ledger_entry_decode(buf, v[0].len, &e));
	buf[1] = LEDGER_T_METER;
	buf[3] = 1;
	EXPECT_EQ(LEDGER_E_RESERVED, ledger_entry_decode(buf, v[0].len, &e));
	buf[3] = 0;
	buf[84] = 0xff; buf[85] = 0xff;		/* body length 65535 */
	EXPECT_EQ(LEDGER_E_OVERSIZED, ledger_entry_decode(buf, v[0].len, &e));
	buf[84] = 32; buf[85] = 0;
	buf[1] = LEDGER_T_LIMIT;		/* a 32-byte limit body */
	EXPECT_EQ(LEDGER_E_BODY, ledger_entry_decode(buf, v[0].len, &e));
	buf[1] = LEDGER_T_METER;
	memset(buf + 88 + 8, 0, 4);		/* interval length 0 */
	EXPECT_EQ(LEDGER_E_BODY, ledger_entry_decode(buf, v[0].len, &e));
	memcpy(buf, v[0].raw, v[0].len);
	memset(buf + 36, 0, 8);			/* sequence 0 */
	EXPECT_EQ(LEDGER_E_BODY, ledger_entry_decode(buf, v[0].len, &e));
	vec_free_keys(&k);
}

/* ---- a ledger on disk ---- */

FIXTURE(ledger) {
	char dir[64], path[128];
	struct ledger *l;
	struct ledger_identity *a, *b, *c;
};

FIXTURE_SETUP(ledger)
{
	strcpy(self->dir, "/tmp/ledger-test-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->path, sizeof(self->path), "%s/ledger.db", self->dir);
	ASSERT_EQ(0, ledger_open(self->path, LEDGER_O_CREATE, &self->l));
	self->a = ident(0x00);
	self->b = ident(0x20);
	self->c = ident(0x80);
	ASSERT_EQ(0, append_meter(self->l, self->a, 1700000000));
	ASSERT_EQ(0, append_meter(self->l, self->b, 1700000000));
	ASSERT_EQ(0, set_limit(self->l, self->a, 1000));
}

FIXTURE_TEARDOWN(ledger)
{
	char cmd[160];

	ledger_close(self->l);
	ledger_identity_free(self->a);
	ledger_identity_free(self->b);
	ledger_identity_free(self->c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
	if (system(cmd))
		TH_LOG("cleanup of %s failed", self->dir);
}

/* Feed @raw, expect @reason, and check that nothing observable changed. */
#define EXPECT_REFUSED(reason, raw, len) do { \
	uint8_t _before[32], _after[32]; \
	digest(self->l, _before); \
	EXPECT_EQ(reason, ingest1(self->l, raw, len)) \
		TH_LOG("got \"%s\"", ledger_strerror(ingest1(self->l, raw, len))); \
	digest(self->l, _after); \
	EXPECT_EQ(0, memcmp(_before, _after, 32)) TH_LOG("store changed"); \
	EXPECT_EQ(0, ledger_verify(self->l, NULL, NULL)); \
} while (0)

TEST_F(ledger, vectors_ingest_in_order)
{
	static struct vector v[NVEC];
	struct ledger *l;
	struct vector_keys k;
	struct ledger_member m;
	char p[160];
	int i;

	snprintf(p, sizeof(p), "%s/vec.db", self->dir);
	ASSERT_EQ(0, ledger_open(p, LEDGER_O_CREATE, &l));
	ASSERT_EQ(0, vec_keys(&k));
	ASSERT_EQ(0, vec_build(&k, v));
	for (i = 0; i < NVEC; i++) {
		EXPECT_EQ(i == 7 ? LEDGER_E_FORK : 0, ingest1(l, v[i].raw, v[i].len))
			TH_LOG("%s", v[i].name);
	}
	EXPECT_EQ(-700, balance(l, k.alice->pk));
	EXPECT_EQ(700, balance(l, k.bob->pk));
	ledger_get_member(l, k.bob->pk, &m);
	EXPECT_TRUE(m.flagged);
	ledger_get_member(l, k.alice->pk, &m);
	EXPECT_FALSE(m.flagged);
	EXPECT_EQ(5000, m.limit_wh);
	EXPECT_EQ(5, m.head_seq);
	EXPECT_EQ(0, ledger_verify(l, NULL, NULL));
	ledger_close(l);
	vec_free_keys(&k);
}

TEST_F(ledger, refuses_forged_and_malformed)
{
	uint8_t raw[LEDGER_ENTRY_MAX + 8], good[LEDGER_ENTRY_MAX];
	struct ledger_entry e = { 0 };
	size_t len, glen;

	e.body.meter = (struct ledger_meter){ 1700000900, 900, 1, 2, 0 };
	next_entry(self->l, self->a, &e, LEDGER_T_METER, good, &glen);

	memcpy(raw, good, glen);
	raw[glen - 1] ^= 1;				/* forged signature */
	EXPECT_REFUSED(LEDGER_E_SIGNATURE, raw, glen);
	memcpy(raw, good, glen);
	raw[100] ^= 1;					/* body altered after signing */
	EXPECT_REFUSED(LEDGER_E_SIGNATURE, raw, glen);
	EXPECT_REFUSED(LEDGER_E_TRUNCATED, good, glen - 1);
	EXPECT_REFUSED(LEDGER_E_TRUNCATED, good, 20);
	memcpy(raw, good, glen);
	raw[glen] = 0;
	EXPECT_REFUSED(LEDGER_E_TRAILING, raw, glen + 1);
	memset(raw + glen, 0, sizeof(raw) - glen);
	EXPECT_REFUSED(LEDGER_E_OVERSIZED, raw, LEDGER_ENTRY_MAX + 1);
	memcpy(raw, good, glen);
	raw[1] = 42;
	EXPECT_REFUSED(LEDGER_E_TYPE, raw, glen);
	memcpy(raw, good, glen);
	raw[0] = 2;
	EXPECT_REFUSED(LEDGER_E_VERSION, raw, glen);
	memcpy(raw, good, glen);
	raw[2] = 1;
	EXPECT_REFUSED(LEDGER_E_RESERVED, raw, glen);
	memcpy(raw, good, glen);
	memset(raw + 88 + 8, 0, 4);			/* interval length 0 */
	EXPECT_REFUSED(LEDGER_E_BODY, raw, glen);

	/* Signed by someone else's key: a forgery in A's name. */
	memset(&e, 0, sizeof(e));
	e.body.meter = (struct ledger_meter){ 1700000900, 900, 1, 2, 0 };
	next_entry(self->l, self->a, &e, LEDGER_T_METER, raw, &len);
	ledger_entry_sign(&e, self->c);
	ledger_entry_encode(&e, raw, sizeof(raw), &len);
	EXPECT_REFUSED(LEDGER_E_SIGNATURE, raw, len);

	/* The good one still goes in, once; a second time it is a replay. */
	EXPECT_EQ(0, ingest1(self->l, good, glen));
	EXPECT_REFUSED(LEDGER_E_REPLAY, good, glen);
}

TEST_F(ledger, refuses_chain_breaks)
{
	uint8_t e2[LEDGER_ENTRY_MAX], e3[LEDGER_ENTRY_MAX], raw[LEDGER_ENTRY_MAX];
	struct ledger_entry e = { 0 }, x;
	struct ledger_head h;
	size_t l2, l3, len;

	/* C's chain: 1 and 2 built, 2 fed first (reordered) is a gap. */
	e.body.meter = (struct ledger_meter){ 1700000000, 900, 5, 0, 0 };
	e.timestamp_ms = 1700000000000ULL;
	next_entry(self->l, self->c, &e, LEDGER_T_METER, raw, &len);
	memset(&x, 0, sizeof(x));
	x = e;
	x.seq = 2;
	ledger_hash(raw, len, x.prev);
	x.timestamp_ms += 1000;
	ledger_entry_sign(&x, self->c);
	ledger_entry_encode(&x, e2, sizeof(e2), &l2);
	EXPECT_REFUSED(LEDGER_E_SEQ_GAP, e2, l2);
	EXPECT_EQ(0, ingest1(self->l, raw, len));
	/* A chain that skips a number. */
	x.seq = 3;
	ledger_entry_sign(&x, self->c);
	ledger_entry_encode(&x, e3, sizeof(e3), &l3);
	EXPECT_REFUSED(LEDGER_E_SEQ_GAP, e3, l3);
	/* Right number, wrong back-link. */
	x.seq = 2;
	x.prev[0] ^= 1;
	ledger_entry_sign(&x, self->c);
	ledger_entry_encode(&x, e3, sizeof(e3), &l3);
	EXPECT_REFUSED(LEDGER_E_BACKLINK, e3, l3);
	/* Back in time. */
	ledger_hash(raw, len, x.prev);
	x.timestamp_ms = e.timestamp_ms - 1;
	ledger_entry_sign(&x, self->c);
	ledger_entry_encode(&x, e3, sizeof(e3), &l3);
	EXPECT_REFUSED(LEDGER_E_TIME, e3, l3);
	EXPECT_EQ(0, ingest1(self->l, e2, l2));
	ledger_get_head(self->l, self->c->pk, &h);
	EXPECT_EQ(2, h.seq);
	/* A first entry that does not start from the zero hash. */
	memset(&e, 0, sizeof(e));
	e.body.limit.limit_wh = 1;
	e.version = 1; e.type = LEDGER_T_LIMIT; e.seq = 1; e.timestamp_ms = 1;
	{
		struct ledger_identity *d = ident(0xa0);

		memcpy(e.author, d->pk, 32);
		e.prev[5] = 1;
		ledger_entry_sign(&e, d);
		ledger_entry_encode(&e, raw, sizeof(raw), &len);
		EXPECT_REFUSED(LEDGER_E_BACKLINK, raw, len);
		ledger_identity_free(d);
	}
}

TEST_F(ledger, fork_kept_as_evidence)
{
	uint8_t raw[LEDGER_ENTRY_MAX], got_a[LEDGER_ENTRY_MAX], stored[LEDGER_ENTRY_MAX];
	struct ledger_entry e = { 0 };
	struct ledger_member m;
	size_t len, slen;
	int forks = 0;

	ASSERT_EQ(0, ledger_get_entry(self->l, self->b->pk, 1, stored, &slen));
	/* B signs a different entry 1. */
	e.version = 1; e.type = LEDGER_T_METER; e.seq = 1; e.timestamp_ms = 5;
	memcpy(e.author, self->b->pk, 32);
	e.body.meter = (struct ledger_meter){ 1700000000, 900, 0, 99999, 0 };
	ledger_entry_sign(&e, self->b);
	ledger_entry_encode(&e, raw, sizeof(raw), &len);

	/* Unsigned "evidence" flags nobody. */
	raw[len - 3] ^= 0x40;
	EXPECT_REFUSED(LEDGER_E_SIGNATURE, raw, len);
	ledger_get_member(self->l, self->b->pk, &m);
	EXPECT_FALSE(m.flagged);
	raw[len - 3] ^= 0x40;

	EXPECT_EQ(LEDGER_E_FORK, ingest1(self->l, raw, len));
	ledger_get_member(self->l, self->b->pk, &m);
	EXPECT_TRUE(m.flagged);
	EXPECT_EQ(1, m.head_seq);	/* the chain itself is unchanged */
	ASSERT_EQ(0, ledger_get_entry(self->l, self->b->pk, 1, got_a, &len));
	EXPECT_EQ(0, memcmp(got_a, stored, slen));
	EXPECT_EQ(0, ledger_foreach_fork(self->l, count_fork, &forks));
	EXPECT_EQ(1, forks);
	/* The same evidence again changes nothing. */
	EXPECT_REFUSED(LEDGER_E_FORK_KNOWN, raw, len);
	forks = 0;
	EXPECT_EQ(0, ledger_verify(self->l, NULL, NULL));
}

TEST_F(ledger, bad_fork_proof)
{
	uint8_t raw[LEDGER_ENTRY_MAX], s1[LEDGER_ENTRY_MAX], s2[LEDGER_ENTRY_MAX];
	struct ledger_entry e = { 0 }, f = { 0 };
	size_t len, l1, l2;

	ASSERT_EQ(0, ledger_get_entry(self->l, self->b->pk, 1, s1, &l1));
	e.version = 1; e.type = LEDGER_T_METER; e.seq = 1; e.timestamp_ms = 5;
	memcpy(e.author, self->b->pk, 32);
	e.body.meter = (struct ledger_meter){ 1700000000, 900, 0, 99999, 0 };
	ledger_entry_sign(&e, self->c);		/* not B's signature */
	ledger_entry_encode(&e, s2, sizeof(s2), &l2);
	f.body.fork.a_len = bytes_lt(s1, l1, s2, l2) ? l1 : l2;
	memcpy(f.body.fork.a, bytes_lt(s1, l1, s2, l2) ? s1 : s2, f.body.fork.a_len);
	f.body.fork.b_len = bytes_lt(s1, l1, s2, l2) ? l2 : l1;
	memcpy(f.body.fork.b, bytes_lt(s1, l1, s2, l2) ? s2 : s1, f.body.fork.b_len);
	next_entry(self->l, self->a, &f, LEDGER_T_FORK, raw, &len);
	EXPECT_REFUSED(LEDGER_E_BAD_PROOF, raw, len);
}

TEST_F(ledger, credit_limit)
{
	struct ledger_transfer t;

	/* A's limit is 1000: 600 + 400 fit, one more Wh does not. */
	EXPECT_EQ(0, transfer(self->l, self->a, self->b, 600));
	EXPECT_EQ(0, transfer(self->l, self->a, self->b, 400));
	make_transfer(self->l, self->a, self->b, 1, &t);
	{
		uint8_t raw[LEDGER_ENTRY_MAX];
		size_t len;
		struct ledger_entry e = { 0 };

		e.body.transfer = t;
		next_entry(self->l, self->a, &e, LEDGER_T_TRANSFER, raw, &len);
		EXPECT_REFUSED(LEDGER_E_LIMIT, raw, len);
	}
	/* B has declared no limit: it may not go below zero at all. */
	EXPECT_EQ(LEDGER_E_LIMIT, transfer(self->l, self->b, self->c, 1001));
	EXPECT_EQ(0, transfer(self->l, self->b, self->c, 1000));
	EXPECT_EQ(-1000, balance(self->l, self->a->pk));
	EXPECT_EQ(0, balance(self->l, self->b->pk));
	EXPECT_EQ(1000, balance(self->l, self->c->pk));
	/* Raising the limit is an entry on A's own chain, before the spend. */
	EXPECT_EQ(0, set_limit(self->l, self->a, 2000));
	EXPECT_EQ(0, transfer(self->l, self->a, self->c, 1000));
	EXPECT_EQ(0, ledger_verify(self->l, NULL, NULL));
}

TEST_F(ledger, double_spend)
{
	struct ledger_transfer t1, t2;
	struct ledger_entry e = { 0 };
	uint8_t raw[LEDGER_ENTRY_MAX];
	size_t len;

	/* A signs two transfers for the same slot of its chain. */
	make_transfer(self->l, self->a, self->b, 100, &t1);
	make_transfer(self->l, self->a, self->c, 100, &t2);
	ASSERT_EQ(0, append_transfer(self->l, self->b, &t1));	/* B's copy first */
	/* C's copy of t2 claims A's slot already promised to t1. */
	e.body.transfer = t2;
	next_entry(self->l, self->c, &e, LEDGER_T_TRANSFER, raw, &len);
	EXPECT_REFUSED(LEDGER_E_DOUBLE_SPEND, raw, len);
	/* A's own chain cannot take t2 either, nor any other entry there. */
	memset(&e, 0, sizeof(e));
	e.body.transfer = t2;
	next_entry(self->l, self->a, &e, LEDGER_T_TRANSFER, raw, &len);
	EXPECT_REFUSED(LEDGER_E_DOUBLE_SPEND, raw, len);
	memset(&e, 0, sizeof(e));
	e.body.meter = (struct ledger_meter){ 1700000900, 900, 1, 1, 0 };
	next_entry(self->l, self->a, &e, LEDGER_T_METER, raw, &len);
	EXPECT_REFUSED(LEDGER_E_DOUBLE_SPEND, raw, len);
	/* The promised transfer goes in. */
	EXPECT_EQ(0, append_transfer(self->l, self->a, &t1));
	EXPECT_EQ(-100, balance(self->l, self->a->pk));
	EXPECT_EQ(100, balance(self->l, self->b->pk));

	/* A transfer naming a stale head of the debtor. */
	make_transfer(self->l, self->a, self->b, 10, &t1);
	t1.debtor_prev[0] ^= 1;
	ledger_transfer_sign(&t1, self->a->pk, self->a);
	ledger_transfer_sign(&t1, self->b->pk, self->b);
	memset(&e, 0, sizeof(e));
	e.body.transfer = t1;
	next_entry(self->l, self->b, &e, LEDGER_T_TRANSFER, raw, &len);
	EXPECT_REFUSED(LEDGER_E_DOUBLE_SPEND, raw, len);
}

TEST_F(ledger, transfer_signatures_and_parties)
{
	struct ledger_transfer t;
	struct ledger_entry e = { 0 };
	uint8_t raw[LEDGER_ENTRY_MAX];
	size_t len;

	make_transfer(self->l, self->a, self->b, 10, &t);
	t.creditor_sig[0] ^= 1;			/* B never agreed */
	e.body.transfer = t;
	next_entry(self->l, self->a, &e, LEDGER_T_TRANSFER, raw, &len);
	EXPECT_REFUSED(LEDGER_E_COUNTERSIG, raw, len);
	make_transfer(self->l, self->a, self->b, 10, &t);
	t.amount_wh = 11;			/* altered after both signed */
	memset(&e, 0, sizeof(e));
	e.body.transfer = t;
	next_entry(self->l, self->a, &e, LEDGER_T_TRANSFER, raw, &len);
	EXPECT_REFUSED(LEDGER_E_COUNTERSIG, raw, len);
	make_transfer(self->l, self->a, self->b, 10, &t);
	memset(&e, 0, sizeof(e));
	e.body.transfer = t;
	next_entry(self->l, self->c, &e, LEDGER_T_TRANSFER, raw, &len);
	EXPECT_REFUSED(LEDGER_E_NOT_PARTY, raw, len);
}

TEST_F(ledger, key_rotation)
{
	struct ledger_identity *a2 = ident(0x40);
	struct ledger_entry e = { 0 };
	struct ledger_transfer t;
	struct ledger_head h;

	memcpy(e.author, self->a->pk, 32);
	ledger_rotate_prepare(&e, a2);
	ASSERT_EQ(0, ledger_append(self->l, self->a->pk, self->a, &e, NULL));
	ledger_get_head(self->l, self->a->pk, &h);
	EXPECT_EQ(0, memcmp(h.key, a2->pk, 32));
	/* The old key no longer signs for the chain; the new one does. */
	memset(&e, 0, sizeof(e));
	e.type = LEDGER_T_LIMIT;
	EXPECT_EQ(LEDGER_E_SIGNATURE, ledger_append(self->l, self->a->pk, self->a, &e, NULL));
	memset(&e, 0, sizeof(e));
	e.type = LEDGER_T_LIMIT;
	e.body.limit.limit_wh = 3000;
	EXPECT_EQ(0, ledger_append(self->l, self->a->pk, a2, &e, NULL));
	/* A rotation whose new key did not sign is refused. */
	memset(&e, 0, sizeof(e));
	memcpy(e.author, self->a->pk, 32);
	ledger_rotate_prepare(&e, self->c);
	e.body.rotate.new_key_sig[3] ^= 1;
	EXPECT_EQ(LEDGER_E_SIGNATURE, ledger_append(self->l, self->a->pk, a2, &e, NULL));
	/* Transfers to the rotated chain take the new key's signature. */
	make_transfer(self->l, self->b, self->a, 5, &t);
	ledger_transfer_sign(&t, self->a->pk, a2);
	EXPECT_EQ(LEDGER_E_LIMIT, append_transfer(self->l, self->b, &t));
	make_transfer(self->l, self->a, self->b, 5, &t);
	ledger_transfer_sign(&t, self->a->pk, a2);
	EXPECT_EQ(0, append_transfer(self->l, self->b, &t));
	EXPECT_EQ(0, ledger_append(self->l, self->a->pk, a2,
		  &(struct ledger_entry){ .type = LEDGER_T_TRANSFER, .body.transfer = t }, NULL));
	/* Zero credit is no transfer: the strict decoder refuses the body. */
	make_transfer(self->l, self->a, self->b, 0, &t);
	EXPECT_EQ(LEDGER_E_BODY, append_transfer(self->l, self->b, &t));
	EXPECT_EQ(0, ledger_verify(self->l, NULL, NULL));
	ledger_identity_free(a2);
}

TEST_F(ledger, enrolment)
{
	struct ledger_identity *owner = ident(0x60);
	struct ledger_entry e = { 0 };

	ledger_enrol_prepare(&e, owner);
	memcpy(e.author, self->b->pk, 32);
	ledger_enrol_prepare(&e, owner);
	EXPECT_EQ(0, ledger_append(self->l, self->b->pk, self->b, &e, NULL));
	memset(&e, 0, sizeof(e));
	memcpy(e.author, self->c->pk, 32);	/* signed for C, appended to B */
	ledger_enrol_prepare(&e, owner);
	EXPECT_EQ(LEDGER_E_SIGNATURE, ledger_append(self->l, self->b->pk, self->b, &e, NULL));
	ledger_identity_free(owner);
}

/* Many random transfers: the ledger agrees with a model and sums to zero. */
TEST_F(ledger, random_transfers_sum_to_zero)
{
	enum { N = 8, ROUNDS = 1500 };
	struct ledger_identity *m[N];
	int64_t model[N] = { 0 }, sum = 0;
	uint64_t limit[N];
	int i, refused = 0, ok = 0;

	srandom(4242);
	for (i = 0; i < N; i++) {
		m[i] = ident(0xb0 + i);
		limit[i] = 500 + 250 * i;
		ASSERT_EQ(0, set_limit(self->l, m[i], limit[i]));
	}
	/* 3000 durable commits would test the disk, not the ledger. */
	ledger_close(self->l);
	ASSERT_EQ(0, ledger_open(self->path, LEDGER_O_NOSYNC, &self->l));
	for (i = 0; i < ROUNDS; i++) {
		int d = random() % N, c = (d + 1 + random() % (N - 1)) % N;
		uint64_t wh = 1 + random() % 400;
		bool fits = model[d] - (int64_t)wh >= -(int64_t)limit[d];
		int ret = transfer(self->l, m[d], m[c], wh);

		ASSERT_EQ(fits ? 0 : LEDGER_E_LIMIT, ret) TH_LOG("round %d", i);
		if (fits) {
			model[d] -= wh;
			model[c] += wh;
			ok++;
		} else {
			refused++;
		}
	}
	for (i = 0; i < N; i++)
		EXPECT_EQ(model[i], balance(self->l, m[i]->pk));
	ASSERT_EQ(0, ledger_foreach_member(self->l, sum_cb, &sum));
	EXPECT_EQ(0, sum);
	EXPECT_GT(ok, 100);
	EXPECT_GT(refused, 10);
	EXPECT_EQ(0, ledger_verify(self->l, NULL, NULL));
	TH_LOG("%d transfers stored, %d refused over the limit", ok, refused);
	for (i = 0; i < N; i++)
		ledger_identity_free(m[i]);
}

/* ---- a hostile member (issue 11) ---- */

static void log_problem(const uint8_t *author, uint64_t seq, const char *what, void *arg)
{
	struct __test_metadata *_metadata = arg;

	TH_LOG("verify: seq %llu: %s", (unsigned long long)seq, what);
}

/* Raw copy of @who's stored entry at @seq. */
static size_t stored(struct ledger *l, const uint8_t *who, uint64_t seq, uint8_t *raw)
{
	size_t len = 0;

	if (ledger_get_entry(l, who, seq, raw, &len))
		return 0;
	return len;
}

/* A transfer signed by both, with the slots given (not read from a ledger). */
static void signed_transfer(const struct ledger_identity *d, uint64_t dseq, const uint8_t *dprev,
			    const struct ledger_identity *c, uint64_t cseq, const uint8_t *cprev,
			    uint64_t wh, struct ledger_transfer *t)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->debtor, d->pk, 32);
	memcpy(t->creditor, c->pk, 32);
	t->amount_wh = wh;
	t->interval_start = 1700000100;
	t->debtor_seq = dseq;
	memcpy(t->debtor_prev, dprev, 32);
	t->creditor_seq = cseq;
	memcpy(t->creditor_prev, cprev, 32);
	ledger_transfer_sign(t, d->pk, d);
	ledger_transfer_sign(t, c->pk, c);
}

static int count_pending(const struct ledger_transfer *t, bool counted, void *arg)
{
	(*(int *)arg) += !counted;
	return 0;
}

/*
 * Item 1: a member makes a throwaway debtor key, signs a transfer from it at
 * debtor_seq 2 after a random prev, countersigns and appends its own copy.
 * The debtor's chain never appears: the credit must never count.
 */
TEST_F(ledger, throwaway_debtor_mints_nothing)
{
	struct ledger_identity *x = ident(0xe0);
	struct ledger_transfer t;
	struct ledger_head hc;
	uint8_t junk[32];
	int64_t sum = 0;

	randombytes_buf(junk, sizeof(junk));
	ledger_get_head(self->l, self->c->pk, &hc);
	signed_transfer(x, 2, junk, self->c, hc.seq + 1, hc.hash, 1000000000000ULL, &t);
	/* stored: it is a validly signed entry of C's chain ... */
	EXPECT_EQ(0, append_transfer(self->l, self->c, &t));
	/* ... but it moves nothing until X's chain holds it within X's limit */
	EXPECT_EQ(0, balance(self->l, self->c->pk));
	EXPECT_EQ(0, balance(self->l, x->pk));
	ASSERT_EQ(0, ledger_foreach_member(self->l, sum_cb, &sum));
	EXPECT_EQ(0, sum);
	EXPECT_EQ(0, ledger_verify(self->l, log_problem, _metadata));
	/* and C cannot spend it: its own append is judged on counted credit */
	EXPECT_EQ(LEDGER_E_LIMIT, transfer(self->l, self->c, self->b, 1));
	ledger_identity_free(x);
}

/*
 * Item 1 with a colluding member X who never publishes its copy: D spends
 * the "credit" with an honest B. Nothing counts until X's copy is held and
 * within X's limit; then both count, in a chain reaction.
 */
TEST_F(ledger, spent_credit_counts_only_when_its_debtor_pays)
{
	struct ledger_identity *x = ident(0xe0), *d = ident(0xd0);
	uint8_t raw[LEDGER_ENTRY_MAX], xfer_x[LEDGER_ENTRY_MAX], d3[LEDGER_ENTRY_MAX];
	struct ledger_head hx, hd, hb;
	struct ledger_transfer t1, t2;
	struct ledger_entry e = { 0 };
	struct ledger *src;
	size_t len, xlen, l3;
	char p[160];
	int pending = 0;

	/* the chains, built in a scratch ledger of their authors */
	snprintf(p, sizeof(p), "%s/src.db", self->dir);
	ASSERT_EQ(0, ledger_open(p, LEDGER_O_CREATE | LEDGER_O_NOSYNC, &src));
	ASSERT_EQ(0, set_limit(src, x, 5000));			/* X 1 */
	ASSERT_EQ(0, append_meter(src, d, 1700000100));		/* D 1 */
	ledger_get_head(src, x->pk, &hx);
	ledger_get_head(src, d->pk, &hd);
	signed_transfer(x, 2, hx.hash, d, 2, hd.hash, 1000, &t1);
	ASSERT_EQ(0, append_transfer(src, d, &t1));		/* D 2: X's "credit" */
	e.body.transfer = t1;
	next_entry(src, x, &e, LEDGER_T_TRANSFER, xfer_x, &xlen);	/* X 2, withheld */

	/* D spends it with B (B's chain is at 1 on our ledger) */
	ledger_get_head(self->l, self->b->pk, &hb);
	ledger_get_head(src, d->pk, &hd);
	signed_transfer(d, 3, hd.hash, self->b, hb.seq + 1, hb.hash, 1000, &t2);
	/* D's own ledger does not let D spend uncounted credit */
	EXPECT_EQ(LEDGER_E_LIMIT, append_transfer(src, d, &t2));
	memset(&e, 0, sizeof(e));
	e.body.transfer = t2;
	next_entry(src, d, &e, LEDGER_T_TRANSFER, d3, &l3);	/* D 3, signed anyway */

	/* we receive X 1, D 1..3 (D's chain alone allows the spend) and B's copy */
	len = stored(src, x->pk, 1, raw);
	EXPECT_EQ(0, ingest1(self->l, raw, len));
	len = stored(src, d->pk, 1, raw);
	EXPECT_EQ(0, ingest1(self->l, raw, len));
	len = stored(src, d->pk, 2, raw);
	EXPECT_EQ(0, ingest1(self->l, raw, len));
	EXPECT_EQ(0, ingest1(self->l, d3, l3));
	EXPECT_EQ(0, append_transfer(self->l, self->b, &t2));
	/* B was promised 1000 Wh that D never had: nothing counts yet */
	EXPECT_EQ(0, balance(self->l, self->b->pk));
	EXPECT_EQ(0, balance(self->l, d->pk));
	EXPECT_EQ(0, balance(self->l, x->pk));
	EXPECT_EQ(0, ledger_foreach_transfer(self->l, true, count_pending, &pending));
	EXPECT_EQ(2, pending);
	EXPECT_EQ(0, ledger_verify(self->l, NULL, NULL));
	/* X's copy arrives, within X's limit: X pays D, so D pays B */
	EXPECT_EQ(0, ingest1(self->l, xfer_x, xlen));
	EXPECT_EQ(-1000, balance(self->l, x->pk));
	EXPECT_EQ(0, balance(self->l, d->pk));
	EXPECT_EQ(1000, balance(self->l, self->b->pk));
	EXPECT_EQ(0, ledger_verify(self->l, NULL, NULL));
	ledger_close(src);
	ledger_identity_free(x);
	ledger_identity_free(d);
}

struct snapshot {
	struct ledger_head head_a, head_b;
	int64_t bal_a, bal_b;
};

static void snap(struct ledger *l, const struct ledger_identity *a,
		 const struct ledger_identity *b, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	ledger_get_head(l, a->pk, &s->head_a);
	ledger_get_head(l, b->pk, &s->head_b);
	s->bal_a = balance(l, a->pk);
	s->bal_b = balance(l, b->pk);
}

/*
 * Item 2: an over-limit transfer's creditor copy, fed to one ledger after
 * the debtor's chain and to another before it. The verdict must not depend
 * on that order: same heads, same balances, both clean.
 */
TEST_F(ledger, verdict_independent_of_arrival_order)
{
	uint8_t r[5][LEDGER_ENTRY_MAX];
	size_t n[5];
	struct ledger_transfer t;
	struct ledger_entry e = { 0 };
	struct ledger *l1, *l2;
	struct snapshot s1, s2;
	char p[160];
	static const int order1[] = { 0, 1, 2, 3 }, order2[] = { 2, 3, 0, 1 };

	/* our fixture ledger: A 1 meter, A 2 limit 1000; B 1 meter */
	n[0] = stored(self->l, self->a->pk, 1, r[0]);
	n[1] = stored(self->l, self->a->pk, 2, r[1]);
	n[2] = stored(self->l, self->b->pk, 1, r[2]);
	make_transfer(self->l, self->a, self->b, 5000, &t);	/* 4000 over */
	e.body.transfer = t;
	next_entry(self->l, self->b, &e, LEDGER_T_TRANSFER, r[3], &n[3]);

	snprintf(p, sizeof(p), "%s/l1.db", self->dir);
	ASSERT_EQ(0, ledger_open(p, LEDGER_O_CREATE | LEDGER_O_NOSYNC, &l1));
	snprintf(p, sizeof(p), "%s/l2.db", self->dir);
	ASSERT_EQ(0, ledger_open(p, LEDGER_O_CREATE | LEDGER_O_NOSYNC, &l2));
	for (int i = 0; i < 4; i++) {
		ingest1(l1, r[order1[i]], n[order1[i]]);
		ingest1(l2, r[order2[i]], n[order2[i]]);
	}
	snap(l1, self->a, self->b, &s1);
	snap(l2, self->a, self->b, &s2);
	EXPECT_EQ(2, s1.head_b.seq);		/* B's chain goes on in both */
	EXPECT_EQ(0, memcmp(&s1, &s2, sizeof(s1))) TH_LOG("balances B %lld vs %lld",
		(long long)s1.bal_b, (long long)s2.bal_b);
	EXPECT_EQ(0, s1.bal_b);			/* A never paid: nothing moved */
	EXPECT_EQ(0, ledger_verify(l1, NULL, NULL));
	EXPECT_EQ(0, ledger_verify(l2, NULL, NULL));
	/* A cannot append it: its own copy is over its limit, everywhere */
	memset(&e, 0, sizeof(e));
	e.body.transfer = t;
	next_entry(self->l, self->a, &e, LEDGER_T_TRANSFER, r[4], &n[4]);
	EXPECT_EQ(LEDGER_E_LIMIT, ingest1(l1, r[4], n[4]));
	EXPECT_EQ(LEDGER_E_LIMIT, ingest1(l2, r[4], n[4]));
	ledger_close(l1);
	ledger_close(l2);
}

struct meter_seen { int n; uint8_t who[8][32]; };

static int meter_seen_cb(const uint8_t author[32], const struct ledger_meter *m, void *arg)
{
	struct meter_seen *s = arg;

	if (s->n < 8)
		memcpy(s->who[s->n], author, 32);
	s->n++;
	return 0;
}

/* Item 3: chains of non-members are refused, and not settled with. */
TEST_F(ledger, non_members_refused)
{
	uint8_t raw[LEDGER_ENTRY_MAX], keys[2][32], cm[LEDGER_ENTRY_MAX];
	struct ledger_entry e = { 0 };
	struct ledger_transfer t;
	struct meter_seen seen = { 0 };
	size_t len, cmlen;

	/* C metered before the member set was known: stored, but not settled */
	ASSERT_EQ(0, append_meter(self->l, self->c, 1700000000));
	memcpy(keys[0], self->a->pk, 32);
	memcpy(keys[1], self->b->pk, 32);
	ASSERT_EQ(0, ledger_set_members(self->l, (const uint8_t (*)[32])keys, 2));
	EXPECT_TRUE(ledger_is_member(self->l, self->a->pk));
	EXPECT_FALSE(ledger_is_member(self->l, self->c->pk));
	ASSERT_EQ(0, ledger_foreach_meter(self->l, 1700000000, meter_seen_cb, &seen));
	EXPECT_EQ(2, seen.n);
	/* a stranger's chain pushed unasked */
	e.body.meter = (struct ledger_meter){ 1700000900, 900, 1, 2, 0 };
	next_entry(self->l, self->c, &e, LEDGER_T_METER, cm, &cmlen);
	EXPECT_REFUSED(LEDGER_E_NOT_MEMBER, cm, cmlen);
	/* a member's transfer to a stranger */
	make_transfer(self->l, self->a, self->c, 10, &t);
	memset(&e, 0, sizeof(e));
	e.body.transfer = t;
	next_entry(self->l, self->a, &e, LEDGER_T_TRANSFER, raw, &len);
	EXPECT_REFUSED(LEDGER_E_NOT_MEMBER, raw, len);
	EXPECT_EQ(LEDGER_E_NOT_MEMBER, append_transfer(self->l, self->a, &t));
	/* members still trade */
	EXPECT_EQ(0, transfer(self->l, self->a, self->b, 10));
	EXPECT_EQ(10, balance(self->l, self->b->pk));
	/* no set: everyone (tools, imports) */
	ASSERT_EQ(0, ledger_set_members(self->l, NULL, 0));
	EXPECT_EQ(0, ingest1(self->l, cm, cmlen));
}

/* Item 8: one author cannot fill our disk with variants of one slot. */
TEST_F(ledger, fork_evidence_bounded)
{
	uint8_t raw[LEDGER_ENTRY_MAX];
	struct ledger_entry e = { 0 };
	size_t len;
	int forks = 0, first, kept = 0;

	for (int i = 0; i < 40; i++) {
		memset(&e, 0, sizeof(e));
		e.version = 1; e.type = LEDGER_T_METER; e.seq = 1; e.timestamp_ms = 5 + i;
		memcpy(e.author, self->b->pk, 32);
		e.body.meter = (struct ledger_meter){ 1700000000, 900, 0, 1000 + i, 0 };
		ledger_entry_sign(&e, self->b);
		ledger_entry_encode(&e, raw, sizeof(raw), &len);
		first = ingest1(self->l, raw, len);
		if (i == 0) {
			EXPECT_EQ(LEDGER_E_FORK, first);
		} else {
			EXPECT_NE(LEDGER_E_FORK, first);
		}
		kept += first == LEDGER_E_FORK;
	}
	EXPECT_EQ(0, ledger_foreach_fork(self->l, count_fork, &forks));
	EXPECT_EQ(1, forks);
	EXPECT_EQ(1, kept);
	EXPECT_EQ(0, ledger_verify(self->l, NULL, NULL));
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Item 11: an entry from the future is held, not stored, and judged later. */
TEST_F(ledger, future_entries_held)
{
	uint8_t raw[LEDGER_ENTRY_MAX], later[LEDGER_ENTRY_MAX];
	struct ledger_entry e = { 0 };
	struct ledger_head h;
	uint64_t now = wall_ms();
	size_t len, llen;

	e.timestamp_ms = now + 3600 * 1000;	/* an hour ahead */
	e.body.meter = (struct ledger_meter){ 1700000900, 900, 1, 2, 0 };
	next_entry(self->l, self->c, &e, LEDGER_T_METER, raw, &len);
	EXPECT_NE(0, ingest1(self->l, raw, len));
	ledger_get_head(self->l, self->c->pk, &h);
	EXPECT_EQ(0, h.seq);			/* not in the chain */
	EXPECT_EQ(0, ledger_verify(self->l, NULL, NULL));
	/* within the skew allowance: taken */
	memset(&e, 0, sizeof(e));
	e.timestamp_ms = now + LEDGER_SKEW_MS / 2;
	e.body.meter = (struct ledger_meter){ 1700000900, 900, 1, 2, 0 };
	next_entry(self->l, self->b, &e, LEDGER_T_METER, later, &llen);
	EXPECT_EQ(0, ingest1(self->l, later, llen));
	EXPECT_EQ(1, ledger_held_count(self->l, NULL));
	/* a pile of future entries is bounded */
	for (int i = 0; i < 10; i++) {
		memset(&e, 0, sizeof(e));
		e.timestamp_ms = now + 3600 * 1000 + i;
		e.body.meter = (struct ledger_meter){ 1700000900, 900, 1, 2 + i, 0 };
		next_entry(self->l, self->c, &e, LEDGER_T_METER, later, &llen);
		EXPECT_EQ(LEDGER_E_FUTURE, ingest1(self->l, later, llen));
	}
	EXPECT_EQ(LEDGER_HELD_MAX, ledger_held_count(self->l, self->c->pk));
	/* the clock catches up: the next ingest judges the held entry */
	ledger_set_time(self->l, now + 3600 * 1000);
	EXPECT_EQ(0, ledger_ingest(self->l, NULL, 0));
	ledger_get_head(self->l, self->c->pk, &h);
	EXPECT_EQ(1, h.seq);
	EXPECT_EQ(0, ledger_held_count(self->l, NULL));
	EXPECT_EQ(0, ledger_verify(self->l, NULL, NULL));
}

/* Item 15: the reasons the spec gives, for nested proofs and first slots. */
TEST(spec_reasons)
{
	struct ledger_identity *a = ident(0x00), *b = ident(0x20);
	uint8_t raw[LEDGER_ENTRY_MAX], zero[32] = { 0 }, one[32] = { 1 };
	struct ledger_entry e = { 0 }, d;
	struct ledger_transfer t;
	size_t len;

	/* a fork proof whose nested a is 500 bytes (> 440): malformed body */
	e.version = 1; e.type = LEDGER_T_FORK; e.seq = 1; e.timestamp_ms = 1;
	memcpy(e.author, a->pk, 32);
	ledger_entry_sign(&e, a);
	ledger_entry_encode(&e, raw, sizeof(raw), &len);	/* 8-byte body */
	{
		uint8_t big[LEDGER_ENTRY_MAX] = { 0 };
		uint32_t alen = 500, blen = 0, body = 8 + 500;

		memcpy(big, raw, 88);
		memcpy(big + 84, &body, 4);
		memcpy(big + 88, &alen, 4);
		memcpy(big + 88 + 4 + 500, &blen, 4);
		EXPECT_EQ(LEDGER_E_BODY, ledger_entry_decode(big, 88 + body + 64, &d));
	}
	/* a transfer at a party's slot 1 must name the zero hash */
	signed_transfer(a, 1, one, b, 1, zero, 5, &t);
	memset(&e, 0, sizeof(e));
	e.version = 1; e.type = LEDGER_T_TRANSFER; e.seq = 1; e.timestamp_ms = 1;
	memcpy(e.author, b->pk, 32);
	e.body.transfer = t;
	ledger_entry_sign(&e, b);
	ledger_entry_encode(&e, raw, sizeof(raw), &len);
	EXPECT_EQ(LEDGER_E_BODY, ledger_entry_decode(raw, len, &d));
	ledger_identity_free(a);
	ledger_identity_free(b);
}

/*
 * Item 15: the Ed25519 rules docs/ledger.md states (libsodium's
 * crypto_sign_verify_detached): another implementation must split forks
 * the same way, so it must refuse exactly these too.
 */
TEST(ed25519_rules)
{
	/* L, the group order, little-endian */
	static const uint8_t L[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2,
		0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10 };
	struct ledger_identity *a = ident(0x00);
	uint8_t msg[] = "phloem", sig[64], bad[64], pk0[32] = { 1 }, sig0[64] = { 1 };
	unsigned int carry = 0;

	ASSERT_EQ(0, crypto_sign_detached(sig, NULL, msg, sizeof(msg), a->sk));
	EXPECT_EQ(0, crypto_sign_verify_detached(sig, msg, sizeof(msg), a->pk));
	/* S + L satisfies the same equation: refused (S must be < L) */
	memcpy(bad, sig, 64);
	for (int i = 0; i < 32; i++) {
		carry += bad[32 + i] + L[i];
		bad[32 + i] = carry & 0xff;
		carry >>= 8;
	}
	ASSERT_EQ(0, carry);
	EXPECT_NE(0, crypto_sign_verify_detached(bad, msg, sizeof(msg), a->pk));
	/* the identity as public key, R the identity, S 0: "valid" for every
	 * message under the bare equation; refused (small-order key and R) */
	EXPECT_NE(0, crypto_sign_verify_detached(sig0, msg, sizeof(msg), pk0));
	ledger_identity_free(a);
}

/*
 * Signatures of a batch are checked ahead on two cores: a rotation inside
 * the batch (later entries under the new key), a forgery and a replay in
 * it must get exactly the verdicts of one-by-one ingest.
 */
TEST_F(ledger, batch_checked_ahead_same_verdicts)
{
	enum { N = 24 };
	struct ledger_identity *a2 = ident(0x40);
	static uint8_t raw[N + 2][LEDGER_ENTRY_MAX];
	struct ledger_blob bl[N + 2];
	struct ledger *src, *dst;
	struct ledger_head h;
	char p[160];
	int i;

	snprintf(p, sizeof(p), "%s/src.db", self->dir);
	ASSERT_EQ(0, ledger_open(p, LEDGER_O_CREATE | LEDGER_O_NOSYNC, &src));
	for (i = 0; i < N; i++) {
		struct ledger_entry e = { .type = LEDGER_T_METER };

		if (i == 6) {
			memcpy(e.author, self->c->pk, 32);
			ASSERT_EQ(0, ledger_rotate_prepare(&e, a2));
			e.type = LEDGER_T_ROTATE;
		} else {
			e.body.meter = (struct ledger_meter){ 1700000100 + 900 * i, 900, i, 0, 1 };
		}
		ASSERT_EQ(0, ledger_append(src, self->c->pk, i > 6 ? a2 : self->c, &e, NULL));
	}
	for (i = 0; i < N; i++) {
		size_t len;

		ASSERT_EQ(0, ledger_get_entry(src, self->c->pk, i + 1, raw[i], &len));
		bl[i] = (struct ledger_blob){ raw[i], len, -1 };
	}
	/* a forged copy of entry 10 in place of 11, and entry 3 again */
	memcpy(raw[N], raw[10], bl[10].len);
	raw[N][bl[10].len - 5] ^= 1;
	bl[N] = (struct ledger_blob){ raw[N], bl[10].len, -1 };
	bl[N + 1] = bl[3];
	snprintf(p, sizeof(p), "%s/dst.db", self->dir);
	ASSERT_EQ(0, ledger_open(p, LEDGER_O_CREATE | LEDGER_O_NOSYNC, &dst));
	EXPECT_EQ(N, ledger_ingest(dst, bl, N + 2));
	for (i = 0; i < N; i++)
		EXPECT_EQ(0, bl[i].status) TH_LOG("entry %d: %s", i + 1, ledger_strerror(bl[i].status));
	EXPECT_EQ(LEDGER_E_SIGNATURE, bl[N].status);
	EXPECT_EQ(LEDGER_E_REPLAY, bl[N + 1].status);
	ledger_get_head(dst, self->c->pk, &h);
	EXPECT_EQ(N, h.seq);
	EXPECT_EQ(0, memcmp(h.key, a2->pk, 32));
	EXPECT_EQ(0, ledger_verify(dst, NULL, NULL));
	ledger_close(src);
	ledger_close(dst);
	ledger_identity_free(a2);
}

/* A schema 1 database (as 776df8d wrote it) is replayed under today's rules. */
TEST_F(ledger, schema1_upgraded)
{
	static const char v1[] =
		"CREATE TABLE entries (id INTEGER PRIMARY KEY, author BLOB NOT NULL,"
		" seq INTEGER NOT NULL, hash BLOB NOT NULL UNIQUE, type INTEGER NOT NULL,"
		" ts INTEGER NOT NULL, signer BLOB NOT NULL, raw BLOB NOT NULL, UNIQUE (author, seq));"
		"CREATE TABLE chains (author BLOB PRIMARY KEY, head_seq INTEGER NOT NULL,"
		" head_hash BLOB NOT NULL, head_ts INTEGER NOT NULL, key BLOB NOT NULL,"
		" limit_wh INTEGER NOT NULL, flagged INTEGER NOT NULL, claim_max INTEGER NOT NULL)"
		" WITHOUT ROWID;"
		"CREATE TABLE meters (interval_start INTEGER NOT NULL, author BLOB NOT NULL,"
		" seq INTEGER NOT NULL, interval_len INTEGER NOT NULL, wh_import INTEGER NOT NULL,"
		" wh_export INTEGER NOT NULL, channels INTEGER NOT NULL,"
		" PRIMARY KEY (interval_start, author, seq)) WITHOUT ROWID;"
		"CREATE TABLE transfers (id BLOB PRIMARY KEY, debtor BLOB NOT NULL,"
		" creditor BLOB NOT NULL, amount INTEGER NOT NULL, interval_start INTEGER NOT NULL,"
		" debtor_seq INTEGER NOT NULL, debtor_prev BLOB NOT NULL,"
		" creditor_seq INTEGER NOT NULL, creditor_prev BLOB NOT NULL);"
		"CREATE TABLE balances (key BLOB PRIMARY KEY, balance INTEGER NOT NULL) WITHOUT ROWID;"
		"CREATE TABLE forks (author BLOB NOT NULL, seq INTEGER NOT NULL, a BLOB NOT NULL,"
		" b BLOB NOT NULL, PRIMARY KEY (author, seq, a, b));"
		"PRAGMA user_version = 1;";
	static struct vector v[NVEC];
	struct vector_keys k;
	struct ledger_member m;
	struct ledger *l;
	sqlite3_stmt *st;
	sqlite3 *db;
	char p[160];
	int forks = 0;

	ASSERT_EQ(0, vec_keys(&k));
	ASSERT_EQ(0, vec_build(&k, v));
	snprintf(p, sizeof(p), "%s/v1.db", self->dir);
	ASSERT_EQ(SQLITE_OK, sqlite3_open(p, &db));
	ASSERT_EQ(SQLITE_OK, sqlite3_exec(db, v1, NULL, NULL, NULL));
	ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(db, "INSERT INTO entries (author, seq, hash,"
		  " type, ts, signer, raw) VALUES (?1, ?2, ?3, ?4, 0, ?1, ?5)", -1, &st, NULL));
	for (int i = 0; i < NVEC; i++) {
		struct ledger_entry e;
		uint8_t h[32];

		if (i == 7)
			continue;	/* the conflict: evidence, not chain */
		ASSERT_EQ(0, ledger_entry_decode(v[i].raw, v[i].len, &e));
		ledger_hash(v[i].raw, v[i].len, h);
		sqlite3_bind_blob(st, 1, e.author, 32, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, e.seq);
		sqlite3_bind_blob(st, 3, h, 32, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, e.type);
		sqlite3_bind_blob(st, 5, v[i].raw, v[i].len, SQLITE_STATIC);
		ASSERT_EQ(SQLITE_DONE, sqlite3_step(st));
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(db, "INSERT INTO forks VALUES (?1, 1, ?2, ?3)",
						-1, &st, NULL));
	sqlite3_bind_blob(st, 1, k.bob->pk, 32, SQLITE_STATIC);
	if (bytes_lt(v[2].raw, v[2].len, v[7].raw, v[7].len)) {
		sqlite3_bind_blob(st, 2, v[2].raw, v[2].len, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, v[7].raw, v[7].len, SQLITE_STATIC);
	} else {
		sqlite3_bind_blob(st, 2, v[7].raw, v[7].len, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, v[2].raw, v[2].len, SQLITE_STATIC);
	}
	ASSERT_EQ(SQLITE_DONE, sqlite3_step(st));
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* read-only: refused until upgraded */
	EXPECT_EQ(-EPROTO, ledger_open(p, LEDGER_O_RDONLY, &l));
	ASSERT_EQ(0, ledger_open(p, 0, &l));
	EXPECT_EQ(-700, balance(l, k.alice->pk));
	EXPECT_EQ(700, balance(l, k.bob->pk));
	ledger_get_member(l, k.bob->pk, &m);
	EXPECT_TRUE(m.flagged);
	ledger_get_member(l, k.alice->pk, &m);
	EXPECT_EQ(5, m.head_seq);
	EXPECT_EQ(5000, m.limit_wh);
	EXPECT_EQ(0, ledger_foreach_fork(l, count_fork, &forks));
	EXPECT_EQ(1, forks);
	EXPECT_EQ(0, ledger_verify(l, NULL, NULL));
	ledger_close(l);
	/* and again: nothing left to upgrade */
	ASSERT_EQ(0, ledger_open(p, LEDGER_O_RDONLY, &l));
	EXPECT_EQ(-700, balance(l, k.alice->pk));
	ledger_close(l);
	vec_free_keys(&k);
}

/* The metered interval's clean part: its own body form, kept and read back. */
struct clean_seen { int n; bool known[4]; uint64_t clean[4]; };

static int clean_seen_cb(const uint8_t author[32], const struct ledger_meter *m, void *arg)
{
	struct clean_seen *s = arg;

	(void)author;
	if (s->n < 4) {
		s->known[s->n] = m->clean_known;
		s->clean[s->n] = m->wh_clean;
	}
	s->n++;
	return 0;
}

TEST_F(ledger, meter_clean_part)
{
	uint8_t raw[LEDGER_ENTRY_MAX], buf[LEDGER_ENTRY_MAX];
	struct ledger_entry e = { 0 }, d;
	struct clean_seen seen = { 0 };
	size_t len, len2;
	sqlite3 *db;

	/* the fixture's file as schema 2 wrote it (no wh_clean column): it
	 * is upgraded in place, its 32-byte meters attribute nothing */
	ledger_close(self->l);
	self->l = NULL;
	ASSERT_EQ(SQLITE_OK, sqlite3_open(self->path, &db));
	ASSERT_EQ(SQLITE_OK, sqlite3_exec(db, "ALTER TABLE meters DROP COLUMN wh_clean;"
				      "PRAGMA user_version = 2;", NULL, NULL, NULL));
	sqlite3_close(db);
	ASSERT_EQ(0, ledger_open(self->path, LEDGER_O_CREATE, &self->l));
	ASSERT_EQ(0, ledger_foreach_meter(self->l, 1700000000, clean_seen_cb, &seen));
	ASSERT_EQ(2, seen.n);
	EXPECT_FALSE(seen.known[0]);
	EXPECT_FALSE(seen.known[1]);
	EXPECT_EQ(0, ledger_verify(self->l, NULL, NULL));

	/* the 40-byte form: one encoding, read back from the store */
	e.body.meter = (struct ledger_meter){ 1700000900, 900, 10, 700, 1, true, 450 };
	next_entry(self->l, self->a, &e, LEDGER_T_METER, raw, &len);
	EXPECT_EQ(LEDGER_HEADER_BYTES + 40 + LEDGER_SIG_BYTES, len);
	ASSERT_EQ(0, ledger_entry_decode(raw, len, &d));
	EXPECT_TRUE(d.body.meter.clean_known);
	EXPECT_EQ(450u, d.body.meter.wh_clean);
	ASSERT_EQ(0, ledger_entry_encode(&d, buf, sizeof(buf), &len2));
	ASSERT_EQ(len, len2);
	EXPECT_EQ(0, memcmp(raw, buf, len));
	/* clean beyond the export: malformed */
	memcpy(buf, raw, len);
	buf[88 + 32] = 0xbd; buf[88 + 33] = 0x02;	/* 701 > 700 */
	EXPECT_EQ(LEDGER_E_BODY, ledger_entry_decode(buf, len, &d));
	/* any other body length is neither form */
	memcpy(buf, raw, len);
	buf[84] = 36;
	EXPECT_EQ(LEDGER_E_BODY, ledger_entry_decode(buf, len - 4, &d));
	EXPECT_EQ(0, ingest1(self->l, raw, len));
	/* B: the 32-byte form, an old gateway's */
	memset(&e, 0, sizeof(e));
	e.body.meter = (struct ledger_meter){ 1700000900, 900, 0, 300, 1 };
	next_entry(self->l, self->b, &e, LEDGER_T_METER, raw, &len);
	EXPECT_EQ(LEDGER_HEADER_BYTES + 32 + LEDGER_SIG_BYTES, len);
	EXPECT_EQ(0, ingest1(self->l, raw, len));
	memset(&seen, 0, sizeof(seen));
	ASSERT_EQ(0, ledger_foreach_meter(self->l, 1700000900, clean_seen_cb, &seen));
	ASSERT_EQ(2, seen.n);
	EXPECT_EQ(1, (int)seen.known[0] + (int)seen.known[1]);
	EXPECT_EQ(450u, seen.clean[0] + seen.clean[1]);
	EXPECT_EQ(0, ledger_verify(self->l, NULL, NULL));
}

/* ---- the real phloemctl on a real file ---- */

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

TEST_F(ledger, phloemctl_verify)
{
	const char *ctl = getenv("PHLOEMCTL");
	char dir2[160];
	sqlite3 *db;

	if (!ctl)
		SKIP(return, "PHLOEMCTL not set");
	ASSERT_EQ(0, transfer(self->l, self->a, self->b, 300));
	ledger_close(self->l);
	self->l = NULL;
	EXPECT_EQ(0, run("%s --dir %s ledger verify >/dev/null", ctl, self->dir));
	EXPECT_EQ(0, run("%s --dir %s ledger balance --json | grep -q '\"sum_wh\":0}'", ctl,
			 self->dir));
	/* Export, import into another gateway's ledger, same result. */
	snprintf(dir2, sizeof(dir2), "%s/other", self->dir);
	EXPECT_EQ(0, run("mkdir -p %s && %s --dir %s ledger export --format raw --output %s/x.bin "
			 "2>/dev/null && %s --dir %s ledger import %s/x.bin >/dev/null",
			 dir2, ctl, self->dir, self->dir, ctl, dir2, self->dir));
	EXPECT_EQ(0, run("%s --dir %s ledger verify >/dev/null", ctl, dir2));
	EXPECT_EQ(0, run("test \"$(%s --dir %s ledger balance --json)\" = "
			 "\"$(%s --dir %s ledger balance --json)\"", ctl, self->dir, ctl, dir2));
	/* Importing it again: every entry a replay, reported, nothing stored. */
	EXPECT_EQ(0, run("%s --dir %s ledger import --verbose %s/x.bin | grep -q "
			 "'entry 0: replay (already stored)'", ctl, dir2, self->dir));
	EXPECT_EQ(0, run("%s --dir %s ledger import %s/x.bin | grep -q '^0 stored'", ctl, dir2,
			 self->dir));
	/* One flipped bit in the file: refused with its reason, exit 1, nothing stored. */
	EXPECT_EQ(0, run("cd %s && cp x.bin y.bin && printf '\\x55' | "
			 "dd of=y.bin bs=1 seek=150 conv=notrunc 2>/dev/null && mkdir -p third", self->dir));
	EXPECT_EQ(1, run("%s --dir %s/third ledger import %s/y.bin | grep -q 'bad signature'; "
			 "%s --dir %s/third ledger import %s/y.bin >/dev/null", ctl, self->dir,
			 self->dir, ctl, self->dir, self->dir));
	/* Tamper with one stored entry behind the library's back. */
	ASSERT_EQ(SQLITE_OK, sqlite3_open(self->path, &db));
	ASSERT_EQ(SQLITE_OK, sqlite3_exec(db, "UPDATE entries SET raw = "
		"substr(raw, 1, 100) || x'ff' || substr(raw, 102) WHERE seq = 1 AND type = 1 "
		"AND id = (SELECT MIN(id) FROM entries)", NULL, NULL, NULL));
	sqlite3_close(db);
	EXPECT_EQ(1, run("%s --dir %s ledger verify | grep -q 'PROBLEM'; "
			 "%s --dir %s ledger verify >/dev/null", ctl, self->dir, ctl, self->dir));
	/* Balances edited directly are caught too. */
	ASSERT_EQ(SQLITE_OK, sqlite3_open(self->path, &db));
	ASSERT_EQ(SQLITE_OK, sqlite3_exec(db, "UPDATE balances SET balance = balance + 1",
					  NULL, NULL, NULL));
	sqlite3_close(db);
	EXPECT_EQ(1, run("%s --dir %s ledger verify >/dev/null", ctl, dir2) + 1);
	EXPECT_EQ(1, run("%s --dir %s ledger verify >/dev/null", ctl, self->dir));
}

/* JSON output stays valid whatever bytes a path holds. */
TEST(phloemctl_json_escaping)
{
	const char *ctl = getenv("PHLOEMCTL");
	char base[] = "/tmp/ledger-json-XXXXXX", dir[128];

	if (!ctl)
		SKIP(return, "PHLOEMCTL not set");
	if (run("python3 -c pass 2>/dev/null"))
		SKIP(return, "python3 (the JSON parser used to check) is missing");
	ASSERT_NE(NULL, mkdtemp(base));
	snprintf(dir, sizeof(dir), "%s/q\"uote\\back\nnew\ttab\x01", base);
	ASSERT_EQ(0, mkdir(dir, 0700));
	/* Through the environment: no shell quoting between us and the tool. */
	setenv("PHLOEM_DIR", dir, 1);
	setenv("CTL", ctl, 1);
	EXPECT_EQ(0, run("\"$CTL\" identity init >/dev/null && "
			 "\"$CTL\" ledger append-meter --start 1 --length 60 --import 1 --export 0 "
			 ">/dev/null && \"$CTL\" identity show --json | python3 -c 'import json, os, sys; "
			 "d = json.load(sys.stdin); "
			 "sys.exit(d[\"key_file\"] != os.environ[\"PHLOEM_DIR\"] + \"/identity.key\")'"));
	EXPECT_EQ(0, run("\"$CTL\" ledger export --format json | python3 -c 'import json, sys; "
			 "d = json.load(sys.stdin); sys.exit(len(d[\"entries\"]) != 1)'"));
	unsetenv("PHLOEM_DIR");
	run("rm -rf %s", base);
}

/* Two gateways agree a transfer through files, as an operator would. */
TEST(phloemctl_transfer_flow)
{
	const char *ctl = getenv("PHLOEMCTL");
	char t[] = "/tmp/ledger-xfer-XXXXXX", script[64];
	const char *sh =
		"set -e; C=$1; T=$2; cd $T\n"
		"KA=$($C -d a identity init); KB=$($C -d b identity init)\n"
		"$C -d a ledger set-limit 1000 >/dev/null\n"
		"$C -d b ledger append-meter --start 1700000000 --length 900 --import 0 --export 500 >/dev/null\n"
		"$C -d b ledger export --format raw -o b.bin 2>/dev/null; $C -d a ledger import b.bin >/dev/null\n"
		"$C -d a ledger offer --pay $KB --amount 400 --interval 1700000000 -o offer\n"
		"$C -d b ledger accept offer -o accepted 2>/dev/null\n"
		"$C -d a ledger complete accepted 2>/dev/null\n"
		"! $C -d b ledger accept offer 2>/dev/null\n"	/* once only */
		"$C -d b ledger export --format raw -o b.bin 2>/dev/null; $C -d a ledger import b.bin >/dev/null\n"
		"$C -d a ledger export --format raw -o a.bin 2>/dev/null; $C -d b ledger import a.bin >/dev/null\n"
		"for g in a b; do $C -d $g ledger verify >/dev/null\n"
		"  $C -d $g ledger balance --json | grep -q \"\\\"key\\\":\\\"$KA\\\",\\\"balance_wh\\\":-400\"\n"
		"  $C -d $g ledger balance --json | grep -q '\"sum_wh\":0}'; done\n"
		/* 700 more would take A to -1100, past its limit of 1000. */
		"$C -d a ledger offer --pay $KB --amount 700 --interval 1700000900 -o offer2\n"
		"! $C -d b ledger accept offer2 -o acc2 2>/dev/null\n"
		"! $C -d a ledger complete offer2 2>/dev/null\n";
	FILE *f;

	if (!ctl)
		SKIP(return, "PHLOEMCTL not set");
	ASSERT_NE(NULL, mkdtemp(t));
	snprintf(script, sizeof(script), "%s/flow.sh", t);
	f = fopen(script, "w");
	ASSERT_NE(NULL, f);
	fputs(sh, f);
	fclose(f);
	EXPECT_EQ(0, run("bash -x %s \"$(realpath %s)\" %s 2>%s/trace || { tail -5 %s/trace; false; }",
			 script, ctl, t, t, t));
	run("rm -rf %s", t);
}

/* A fork seen by one gateway reaches another only through its proof entry. */
TEST(phloemctl_fork_published)
{
	const char *ctl = getenv("PHLOEMCTL");
	char t[] = "/tmp/ledger-fork-XXXXXX", script[64];
	const char *sh =
		"set -e; C=$1; T=$2; cd $T\n"
		/* X's key in two places: two different entries 1, a fork. */
		"KX=$($C -d x identity init); mkdir x2; cp -p x/identity.key x2/\n"
		"$C -d x ledger append-meter --start 1 --length 60 --import 1 --export 0 >/dev/null\n"
		"$C -d x2 ledger append-meter --start 1 --length 60 --import 99 --export 0 >/dev/null\n"
		"$C -d x ledger export --format raw -o x.bin 2>/dev/null\n"
		"$C -d x2 ledger export --format raw -o x2.bin 2>/dev/null\n"
		"$C -d w identity init >/dev/null\n"
		"$C -d w ledger import x.bin >/dev/null\n"
		"$C -d w ledger import x2.bin | grep -q '(1 as fork evidence)'\n"
		"$C -d w ledger balance | grep \"^$KX\" | grep -q FORKED\n"
		"$C -d w ledger publish-forks | grep -q '^1 published'\n"
		"$C -d w ledger publish-forks | grep -q '^0 published'\n"	/* once */
		"$C -d w ledger export --format raw -o w.bin 2>/dev/null\n"
		/* V has only X's first entry and W's chain. */
		"$C -d v ledger import x.bin >/dev/null\n"
		"! $C -d v ledger balance | grep \"^$KX\" | grep -q FORKED\n"
		"$C -d v ledger import w.bin >/dev/null\n"
		"$C -d v ledger balance | grep \"^$KX\" | grep -q FORKED\n"
		"$C -d v ledger forks --json | grep -q \"$KX\"\n"
		"$C -d v ledger verify >/dev/null; $C -d w ledger verify >/dev/null\n";
	FILE *f;

	if (!ctl)
		SKIP(return, "PHLOEMCTL not set");
	ASSERT_NE(NULL, mkdtemp(t));
	snprintf(script, sizeof(script), "%s/flow.sh", t);
	f = fopen(script, "w");
	ASSERT_NE(NULL, f);
	fputs(sh, f);
	fclose(f);
	EXPECT_EQ(0, run("bash -x %s \"$(realpath %s)\" %s 2>%s/trace || { tail -5 %s/trace; false; }",
			 script, ctl, t, t, t));
	run("rm -rf %s", t);
}

TEST_HARNESS_MAIN
