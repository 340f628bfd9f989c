// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * format.c - the canonical text of a settlement and the key text forms.
 *
 * The canonical text is what golden files compare byte for byte and what
 * two gateways can hash to agree they settled alike: fixed field order,
 * decimal integers, full hex keys, '\n' line ends, nothing locale- or
 * platform-dependent (no floating point, PRId64 for every int64).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "settle.h"

struct out {
	char *buf;
	size_t cap, len;
};

/* Append like snprintf, counting what would have been written. */
__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->len < o->cap ? o->buf + o->len : NULL,
		      o->len < o->cap ? o->cap - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

void settle_key_hex(const uint8_t key[SETTLE_KEY_LEN], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < SETTLE_KEY_LEN; i++) {
		out[2 * i] = hex[key[i] >> 4];
		out[2 * i + 1] = hex[key[i] & 15];
	}
	out[64] = '\0';
}

static const char *flags_text(uint32_t f)
{
	switch (f & (SETTLE_F_CLEAN | SETTLE_F_CLEAN_ONLY)) {
	case SETTLE_F_CLEAN:
		return "clean";
	case SETTLE_F_CLEAN_ONLY:
		return "clean_only";
	case SETTLE_F_CLEAN | SETTLE_F_CLEAN_ONLY:
		return "clean,clean_only";
	}
	return "-";
}

size_t settle_format(const struct settle_result *r, char *buf, size_t cap)
{
	struct out o = { .buf = buf, .cap = cap };
	char a[65], b[65];
	size_t i;

	if (cap)
		buf[0] = '\0';
	settle_key_hex(r->terms.operator_key, a);
	put(&o, "phloem-settlement 1\n");
	put(&o, "interval %" PRIu64 " %" PRIu32 "\n", r->terms.interval_start,
	    r->terms.interval_len_s);
	put(&o, "terms loss_ppm=%" PRIu32 " fee_ppm=%" PRIu32 " operator=%s\n",
	    r->terms.loss_ppm, r->terms.fee_ppm, a);
	put(&o, "totals members=%zu transfers=%zu matched_wh=%" PRId64
	    " fees_wh=%" PRId64 "\n", r->n_members, r->n_transfers,
	    r->matched_wh, r->fees_wh);
	for (i = 0; i < r->n_transfers; i++) {
		const struct settle_transfer *t = &r->transfers[i];

		settle_key_hex(t->debtor, a);
		settle_key_hex(t->creditor, b);
		put(&o, "transfer %s %s %s %" PRId64 "\n", a, b,
		    t->kind == SETTLE_FEE ? "fee" : "energy", t->amount_wh);
	}
	for (i = 0; i < r->n_members; i++) {
		const struct settle_summary *s = &r->members[i];

		settle_key_hex(s->key, a);
		put(&o, "member %s flags=%s import=%" PRId64 " export=%" PRId64
		    " self=%" PRId64 " reserve=%" PRId64 " loss=%" PRId64
		    " matched_import=%" PRId64 " matched_export=%" PRId64
		    " grid_import=%" PRId64 " grid_export=%" PRId64
		    " fee_paid=%" PRId64 " fee_received=%" PRId64
		    " limit=%" PRId64 " balance=%" PRId64 "->%" PRId64 "\n",
		    a, flags_text(s->flags), s->import_wh, s->export_wh,
		    s->self_wh, s->reserve_wh, s->loss_wh,
		    s->matched_import_wh, s->matched_export_wh,
		    s->grid_import_wh, s->grid_export_wh, s->fee_paid_wh,
		    s->fee_received_wh, s->credit_limit_wh,
		    s->balance_before_wh, s->balance_after_wh);
		/* only where measured PV made part of an export clean: the
		 * text of a settlement without any stays what it was */
		if (s->clean_export_wh && !(s->flags & SETTLE_F_CLEAN))
			put(&o, "clean %s export=%" PRId64 " available=%" PRId64 "\n",
			    a, s->clean_export_wh, s->clean_avail_wh);
	}
	return o.len;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int settle_key_parse(const char *text, uint8_t key[SETTLE_KEY_LEN])
{
	size_t len = text ? strlen(text) : 0;
	uint8_t k[SETTLE_KEY_LEN];
	int i;

	if (len == 2 * SETTLE_KEY_LEN) {
		for (i = 0; i < SETTLE_KEY_LEN; i++) {
			int h = hexval(text[2 * i]), l = hexval(text[2 * i + 1]);

			if (h < 0 || l < 0)
				return -1;
			k[i] = (uint8_t)(h << 4 | l);
		}
	} else if (len == 44 && text[43] == '=') {
		/* 43 symbols carry 258 bits; the last 2 must be zero */
		uint32_t acc = 0;
		int bits = 0, o = 0;

		for (i = 0; i < 43; i++) {
			int v = b64val(text[i]);

			if (v < 0)
				return -1;
			acc = acc << 6 | (uint32_t)v;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				k[o++] = (uint8_t)(acc >> bits);
				acc &= (1u << bits) - 1;
			}
		}
		if (acc)
			return -1;
	} else {
		return -1;
	}
	memcpy(key, k, SETTLE_KEY_LEN);
	return 0;
}
