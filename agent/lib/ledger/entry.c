// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Canonical encoding of ledger entries (docs/ledger.md, "Encoding").
 *
 * One encoding only: little-endian integers, fixed offsets, explicit
 * lengths, no padding. The decoder is strict so that exactly one byte string
 * stands for an entry: two encodings of "the same" entry would hash
 * differently and look like a fork.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "ledger.h"
#include "ledger_int.h"

static const char *const reason_str[__LEDGER_E_MAX] = {
	[LEDGER_OK]		= "ok",
	[LEDGER_E_TRUNCATED]	= "truncated",
	[LEDGER_E_TRAILING]	= "trailing bytes",
	[LEDGER_E_OVERSIZED]	= "oversized",
	[LEDGER_E_VERSION]	= "unsupported format version",
	[LEDGER_E_TYPE]		= "unknown type",
	[LEDGER_E_RESERVED]	= "reserved field not zero",
	[LEDGER_E_BODY]		= "malformed body",
	[LEDGER_E_SIGNATURE]	= "bad signature",
	[LEDGER_E_COUNTERSIG]	= "bad transfer signature",
	[LEDGER_E_SEQ_GAP]	= "sequence gap",
	[LEDGER_E_BACKLINK]	= "back-link mismatch",
	[LEDGER_E_TIME]		= "timestamp went backwards",
	[LEDGER_E_LIMIT]	= "transfer exceeds credit limit",
	[LEDGER_E_DOUBLE_SPEND]	= "double spend: prev hash not the party's head at that seq",
	[LEDGER_E_REPLAY]	= "replay",
	[LEDGER_E_NOT_PARTY]	= "author is not a party to the transfer",
	[LEDGER_E_FORK]		= "fork: another entry has this author and sequence",
	[LEDGER_E_BAD_PROOF]	= "invalid fork proof",
	[LEDGER_E_KEYTEXT]	= "malformed key (prefix, length, character or checksum)",
	[LEDGER_E_NOT_MEMBER]	= "not a member of the community",
	[LEDGER_E_FUTURE]	= "timestamp in the future: held until the clock catches up",
	[LEDGER_E_FORK_KNOWN]	= "fork evidence for this author already kept",
};

const char *ledger_strerror(int err)
{
	if (err < 0)
		return strerror(-err);
	if (err < __LEDGER_E_MAX && reason_str[err])
		return reason_str[err];
	return "unknown error";
}

const char *ledger_type_name(unsigned int type)
{
	switch (type) {
	case LEDGER_T_METER:	return "meter";
	case LEDGER_T_TRANSFER:	return "transfer";
	case LEDGER_T_LIMIT:	return "limit";
	case LEDGER_T_ROTATE:	return "rotate";
	case LEDGER_T_FORK:	return "fork-proof";
	case LEDGER_T_ENROL:	return "enrol";
	}
	return "unknown";
}

static void put_u16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put_u32(uint8_t *p, uint32_t v) { put_u16(p, v); put_u16(p + 2, v >> 16); }
static void put_u64(uint8_t *p, uint64_t v) { put_u32(p, v); put_u32(p + 4, v >> 32); }
static uint16_t get_u16(const uint8_t *p) { return p[0] | (uint16_t)p[1] << 8; }
static uint32_t get_u32(const uint8_t *p) { return get_u16(p) | (uint32_t)get_u16(p + 2) << 16; }
static uint64_t get_u64(const uint8_t *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static size_t body_len_of(const struct ledger_entry *e)
{
	switch (e->type) {
	case LEDGER_T_METER:	return e->body.meter.clean_known ? BODY_METER_CLEAN : BODY_METER;
	case LEDGER_T_TRANSFER:	return BODY_TRANSFER;
	case LEDGER_T_LIMIT:	return BODY_LIMIT;
	case LEDGER_T_ROTATE:	return BODY_ROTATE;
	case LEDGER_T_ENROL:	return BODY_ENROL;
	case LEDGER_T_FORK:	return 8 + (size_t)e->body.fork.a_len + e->body.fork.b_len;
	}
	return 0;
}

static void encode_transfer_core(const struct ledger_transfer *t, uint8_t *p)
{
	memcpy(p, t->debtor, 32);
	memcpy(p + 32, t->creditor, 32);
	put_u64(p + 64, t->amount_wh);
	put_u64(p + 72, t->interval_start);
	put_u64(p + 80, t->debtor_seq);
	memcpy(p + 88, t->debtor_prev, 32);
	put_u64(p + 120, t->creditor_seq);
	memcpy(p + 128, t->creditor_prev, 32);
}

/* Header and body: the bytes the author signs. Returns their length. */
static size_t encode_signed(const struct ledger_entry *e, uint8_t *p)
{
	size_t blen = body_len_of(e);
	uint8_t *b = p + LEDGER_HEADER_BYTES;

	p[0] = e->version;
	p[1] = e->type;
	put_u16(p + 2, 0);
	memcpy(p + 4, e->author, 32);
	put_u64(p + 36, e->seq);
	memcpy(p + 44, e->prev, 32);
	put_u64(p + 76, e->timestamp_ms);
	put_u32(p + 84, blen);

	switch (e->type) {
	case LEDGER_T_METER:
		put_u64(b, e->body.meter.interval_start);
		put_u32(b + 8, e->body.meter.interval_len);
		put_u64(b + 12, e->body.meter.wh_import);
		put_u64(b + 20, e->body.meter.wh_export);
		put_u32(b + 28, e->body.meter.channels);
		if (e->body.meter.clean_known)
			put_u64(b + 32, e->body.meter.wh_clean);
		break;
	case LEDGER_T_TRANSFER:
		encode_transfer_core(&e->body.transfer, b);
		memcpy(b + 160, e->body.transfer.debtor_sig, 64);
		memcpy(b + 224, e->body.transfer.creditor_sig, 64);
		break;
	case LEDGER_T_LIMIT:
		put_u64(b, e->body.limit.limit_wh);
		break;
	case LEDGER_T_ROTATE:
		memcpy(b, e->body.rotate.new_key, 32);
		memcpy(b + 32, e->body.rotate.new_key_sig, 64);
		break;
	case LEDGER_T_ENROL:
		memcpy(b, e->body.enrol.owner, 32);
		memcpy(b + 32, e->body.enrol.owner_sig, 64);
		break;
	case LEDGER_T_FORK:
		put_u32(b, e->body.fork.a_len);
		memcpy(b + 4, e->body.fork.a, e->body.fork.a_len);
		b += 4 + e->body.fork.a_len;
		put_u32(b, e->body.fork.b_len);
		memcpy(b + 4, e->body.fork.b, e->body.fork.b_len);
		break;
	}
	return LEDGER_HEADER_BYTES + blen;
}

int ledger_entry_encode(const struct ledger_entry *e, uint8_t *buf, size_t cap, size_t *len)
{
	uint8_t tmp[LEDGER_ENTRY_MAX];
	size_t n;

	if (e->type < LEDGER_T_METER || e->type > LEDGER_T_ENROL)
		return LEDGER_E_TYPE;
	if (e->type == LEDGER_T_FORK &&
	    (e->body.fork.a_len > LEDGER_NESTED_MAX || e->body.fork.b_len > LEDGER_NESTED_MAX))
		return LEDGER_E_OVERSIZED;
	n = encode_signed(e, tmp);
	if (n + LEDGER_SIG_BYTES > cap)
		return -ENOSPC;
	memcpy(buf, tmp, n);
	memcpy(buf + n, e->sig, LEDGER_SIG_BYTES);
	*len = n + LEDGER_SIG_BYTES;
	return 0;
}

int ledger_entry_peek_len(const uint8_t *buf, size_t avail, size_t *len)
{
	uint32_t blen;

	if (avail < LEDGER_HEADER_BYTES)
		return LEDGER_E_TRUNCATED;
	blen = get_u32(buf + 84);
	if (blen > LEDGER_ENTRY_MAX - LEDGER_HEADER_BYTES - LEDGER_SIG_BYTES)
		return LEDGER_E_OVERSIZED;
	*len = LEDGER_HEADER_BYTES + blen + LEDGER_SIG_BYTES;
	return 0;
}

static int decode_transfer(const uint8_t *b, struct ledger_transfer *t)
{
	memcpy(t->debtor, b, 32);
	memcpy(t->creditor, b + 32, 32);
	t->amount_wh = get_u64(b + 64);
	t->interval_start = get_u64(b + 72);
	t->debtor_seq = get_u64(b + 80);
	memcpy(t->debtor_prev, b + 88, 32);
	t->creditor_seq = get_u64(b + 120);
	memcpy(t->creditor_prev, b + 128, 32);
	memcpy(t->debtor_sig, b + 160, 64);
	memcpy(t->creditor_sig, b + 224, 64);
	if (!t->amount_wh || t->amount_wh > LEDGER_AMOUNT_MAX ||
	    !t->debtor_seq || !t->creditor_seq || !memcmp(t->debtor, t->creditor, 32))
		return LEDGER_E_BODY;
	/* A first slot has no previous entry: its prev is zero (body rule). */
	if ((t->debtor_seq == 1 && !sodium_is_zero(t->debtor_prev, 32)) ||
	    (t->creditor_seq == 1 && !sodium_is_zero(t->creditor_prev, 32)))
		return LEDGER_E_BODY;
	return 0;
}

static int decode_nested(const uint8_t *p, uint32_t n, uint8_t *dst)
{
	struct ledger_entry inner;
	int ret;

	if (n > LEDGER_NESTED_MAX)
		return LEDGER_E_OVERSIZED;
	ret = ledger_entry_decode(p, n, &inner);
	if (ret)
		return ret;
	/* Proofs do not nest: that bounds the size and the work to check one. */
	if (inner.type == LEDGER_T_FORK)
		return LEDGER_E_BODY;
	memcpy(dst, p, n);
	return 0;
}

static int decode_fork(const uint8_t *b, uint32_t blen, struct ledger_fork *f)
{
	struct ledger_entry ea, eb;
	uint32_t rest;
	int ret;

	if (blen < 8)
		return LEDGER_E_BODY;
	f->a_len = get_u32(b);
	if (f->a_len > blen - 8)
		return LEDGER_E_BODY;
	rest = blen - 8 - f->a_len;
	f->b_len = get_u32(b + 4 + f->a_len);
	if (f->b_len != rest)
		return LEDGER_E_BODY;
	ret = decode_nested(b + 4, f->a_len, f->a);
	if (!ret)
		ret = decode_nested(b + 8 + f->a_len, f->b_len, f->b);
	/* Whatever is wrong inside a nested entry, the proof's body is
	 * malformed (docs/ledger.md, type 5), oversized included. */
	if (ret)
		return LEDGER_E_BODY;
	ledger_entry_decode(f->a, f->a_len, &ea);
	ledger_entry_decode(f->b, f->b_len, &eb);
	/* Canonical order (a < b bytewise) so one fork has one proof. */
	if (memcmp(ea.author, eb.author, 32) || ea.seq != eb.seq ||
	    (f->a_len == f->b_len && !memcmp(f->a, f->b, f->a_len)))
		return LEDGER_E_BAD_PROOF;
	if (bytes_cmp(f->a, f->a_len, f->b, f->b_len) >= 0)
		return LEDGER_E_BODY;
	return 0;
}

int ledger_entry_decode(const uint8_t *buf, size_t len, struct ledger_entry *e)
{
	const uint8_t *b = buf + LEDGER_HEADER_BYTES;
	uint32_t blen;
	size_t want;

	if (len > LEDGER_ENTRY_MAX)
		return LEDGER_E_OVERSIZED;
	if (len < LEDGER_HEADER_BYTES)
		return LEDGER_E_TRUNCATED;
	memset(e, 0, sizeof(*e) - sizeof(e->body) - sizeof(e->sig));
	e->version = buf[0];
	e->type = buf[1];
	if (e->version != LEDGER_FORMAT_VERSION)
		return LEDGER_E_VERSION;
	if (get_u16(buf + 2))
		return LEDGER_E_RESERVED;
	if (e->type < LEDGER_T_METER || e->type > LEDGER_T_ENROL)
		return LEDGER_E_TYPE;
	memcpy(e->author, buf + 4, 32);
	e->seq = get_u64(buf + 36);
	memcpy(e->prev, buf + 44, 32);
	e->timestamp_ms = get_u64(buf + 76);
	blen = get_u32(buf + 84);
	if (blen > LEDGER_ENTRY_MAX - LEDGER_HEADER_BYTES - LEDGER_SIG_BYTES)
		return LEDGER_E_OVERSIZED;
	want = LEDGER_HEADER_BYTES + (size_t)blen + LEDGER_SIG_BYTES;
	if (len < want)
		return LEDGER_E_TRUNCATED;
	if (len > want)
		return LEDGER_E_TRAILING;
	/* Sequence numbers start at 1; 0 is how the API says "no entry". */
	if (e->seq == 0)
		return LEDGER_E_BODY;
	memcpy(e->sig, buf + want - LEDGER_SIG_BYTES, LEDGER_SIG_BYTES);

	switch (e->type) {
	case LEDGER_T_METER: {
		struct ledger_meter *m = &e->body.meter;

		/* two forms, each with one encoding: the body length says
		 * whether the clean part is there (0 clean is not "unknown") */
		if (blen != BODY_METER && blen != BODY_METER_CLEAN)
			return LEDGER_E_BODY;
		m->interval_start = get_u64(b);
		m->interval_len = get_u32(b + 8);
		m->wh_import = get_u64(b + 12);
		m->wh_export = get_u64(b + 20);
		m->channels = get_u32(b + 28);
		m->clean_known = blen == BODY_METER_CLEAN;
		m->wh_clean = m->clean_known ? get_u64(b + 32) : 0;
		if (!m->interval_len || m->wh_import > LEDGER_AMOUNT_MAX ||
		    m->wh_export > LEDGER_AMOUNT_MAX || m->wh_clean > m->wh_export)
			return LEDGER_E_BODY;
		return 0;
	}
	case LEDGER_T_TRANSFER:
		if (blen != BODY_TRANSFER)
			return LEDGER_E_BODY;
		return decode_transfer(b, &e->body.transfer);
	case LEDGER_T_LIMIT:
		if (blen != BODY_LIMIT)
			return LEDGER_E_BODY;
		e->body.limit.limit_wh = get_u64(b);
		return e->body.limit.limit_wh > LEDGER_AMOUNT_MAX ? LEDGER_E_BODY : 0;
	case LEDGER_T_ROTATE:
		if (blen != BODY_ROTATE)
			return LEDGER_E_BODY;
		memcpy(e->body.rotate.new_key, b, 32);
		memcpy(e->body.rotate.new_key_sig, b + 32, 64);
		return 0;
	case LEDGER_T_ENROL:
		if (blen != BODY_ENROL)
			return LEDGER_E_BODY;
		memcpy(e->body.enrol.owner, b, 32);
		memcpy(e->body.enrol.owner_sig, b + 32, 64);
		return 0;
	case LEDGER_T_FORK:
		return decode_fork(b, blen, &e->body.fork);
	}
	return LEDGER_E_TYPE;
}

void ledger_transfer_encode(const struct ledger_transfer *t, uint8_t buf[LEDGER_TRANSFER_BYTES])
{
	encode_transfer_core(t, buf);
	memcpy(buf + 160, t->debtor_sig, 64);
	memcpy(buf + 224, t->creditor_sig, 64);
}

int ledger_transfer_decode(const uint8_t *buf, size_t len, struct ledger_transfer *t)
{
	if (len < BODY_TRANSFER)
		return LEDGER_E_TRUNCATED;
	if (len > BODY_TRANSFER)
		return LEDGER_E_TRAILING;
	return decode_transfer(buf, t);
}

void ledger_hash(const uint8_t *buf, size_t len, uint8_t out[LEDGER_HASH_BYTES])
{
	crypto_generichash(out, LEDGER_HASH_BYTES, buf, len, NULL, 0);
}

int ledger_entry_sign(struct ledger_entry *e, const struct ledger_identity *id)
{
	uint8_t tmp[LEDGER_ENTRY_MAX];
	size_t n;

	if (body_len_of(e) + LEDGER_HEADER_BYTES + LEDGER_SIG_BYTES > LEDGER_ENTRY_MAX)
		return LEDGER_E_OVERSIZED;
	n = encode_signed(e, tmp);
	crypto_sign_detached(e->sig, NULL, tmp, n, id->sk);
	return 0;
}

int ledger_entry_verify(const struct ledger_entry *e, const uint8_t key[LEDGER_KEY_BYTES])
{
	uint8_t tmp[LEDGER_ENTRY_MAX];
	size_t n = encode_signed(e, tmp);

	return crypto_sign_verify_detached(e->sig, tmp, n, key) ? LEDGER_E_SIGNATURE : 0;
}

static size_t transfer_msg(const struct ledger_transfer *t, uint8_t *msg)
{
	memcpy(msg, DOMAIN_TRANSFER, 8);
	encode_transfer_core(t, msg + 8);
	return 8 + TRANSFER_CORE;
}

void ledger_transfer_id(const struct ledger_transfer *t, uint8_t out[LEDGER_HASH_BYTES])
{
	uint8_t msg[8 + TRANSFER_CORE];

	ledger_hash(msg, transfer_msg(t, msg), out);
}

int ledger_transfer_sign(struct ledger_transfer *t, const uint8_t key[LEDGER_KEY_BYTES],
			 const struct ledger_identity *id)
{
	uint8_t msg[8 + TRANSFER_CORE];
	size_t n = transfer_msg(t, msg);

	if (!memcmp(key, t->debtor, 32))
		crypto_sign_detached(t->debtor_sig, NULL, msg, n, id->sk);
	else if (!memcmp(key, t->creditor, 32))
		crypto_sign_detached(t->creditor_sig, NULL, msg, n, id->sk);
	else
		return LEDGER_E_NOT_PARTY;
	return 0;
}

int ledger_transfer_verify_party(const struct ledger_transfer *t, bool creditor,
				 const uint8_t signer[LEDGER_KEY_BYTES])
{
	uint8_t msg[8 + TRANSFER_CORE];
	size_t n = transfer_msg(t, msg);

	return crypto_sign_verify_detached(creditor ? t->creditor_sig : t->debtor_sig,
					   msg, n, signer) ? LEDGER_E_COUNTERSIG : 0;
}

static size_t rotate_msg(const struct ledger_entry *e, uint8_t *msg)
{
	memcpy(msg, DOMAIN_ROTATE, 8);
	memcpy(msg + 8, e->author, 32);
	memcpy(msg + 40, e->body.rotate.new_key, 32);
	return 72;
}

int ledger_rotate_prepare(struct ledger_entry *e, const struct ledger_identity *next)
{
	uint8_t msg[72];

	e->type = LEDGER_T_ROTATE;
	memcpy(e->body.rotate.new_key, next->pk, 32);
	crypto_sign_detached(e->body.rotate.new_key_sig, NULL, msg, rotate_msg(e, msg), next->sk);
	return 0;
}

int ledger_rotate_check(const struct ledger_entry *e)
{
	uint8_t msg[72];
	size_t n = rotate_msg(e, msg);

	return crypto_sign_verify_detached(e->body.rotate.new_key_sig, msg, n,
					   e->body.rotate.new_key) ? LEDGER_E_SIGNATURE : 0;
}

static size_t enrol_msg(const struct ledger_entry *e, uint8_t *msg)
{
	memcpy(msg, DOMAIN_ENROL, 8);
	memcpy(msg + 8, e->author, 32);
	return 40;
}

int ledger_enrol_prepare(struct ledger_entry *e, const struct ledger_identity *owner)
{
	uint8_t msg[40];

	e->type = LEDGER_T_ENROL;
	memcpy(e->body.enrol.owner, owner->pk, 32);
	crypto_sign_detached(e->body.enrol.owner_sig, NULL, msg, enrol_msg(e, msg), owner->sk);
	return 0;
}

int ledger_enrol_check(const struct ledger_entry *e)
{
	uint8_t msg[40];
	size_t n = enrol_msg(e, msg);

	return crypto_sign_verify_detached(e->body.enrol.owner_sig, msg, n,
					   e->body.enrol.owner) ? LEDGER_E_SIGNATURE : 0;
}

int bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}
