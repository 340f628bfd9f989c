// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Peer protocol wire format (docs/protocol.md). Every decoder checks each
 * length before reading and refuses reserved bits, unknown types and
 * trailing bytes: the input comes from anyone on the link.
 * Integers are little-endian, as in the ledger format.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "le.h"
#include "peer.h"

/* Domain separation: a signature over one kind of object never verifies as
 * another, whatever the byte lengths happen to be. */
static const char DOM_ANN[] = "phloem-announce-v1";
static const char DOM_REC[] = "phloem-record-v1";
static const char DOM_MEAS[] = "phloem-measure-v1";

static void sign_dom(const char *dom, const uint8_t *m, size_t len,
		     const uint8_t sk[64], uint8_t sig[64])
{
	uint8_t buf[PEER_MTU + 32];
	size_t dl = strlen(dom);

	memcpy(buf, dom, dl);
	memcpy(buf + dl, m, len);
	crypto_sign_ed25519_detached(sig, NULL, buf, dl + len, sk);
}

static int verify_dom(const char *dom, const uint8_t *m, size_t len,
		      const uint8_t pk[32], const uint8_t sig[64])
{
	uint8_t buf[PEER_MTU + 32];
	size_t dl = strlen(dom);

	if (len > PEER_MTU)
		return -PEER_E_TRUNCATED;
	memcpy(buf, dom, dl);
	memcpy(buf + dl, m, len);
	return crypto_sign_ed25519_verify_detached(sig, buf, dl + len, pk) ?
	       -PEER_E_FORGED : 0;
}

const char *peer_reason_name(int r)
{
	static const char *const n[__PEER_E_MAX] = {
		[PEER_OK] = "ok", [PEER_E_TRUNCATED] = "truncated",
		[PEER_E_MALFORMED] = "malformed", [PEER_E_FORGED] = "forged",
		[PEER_E_REPLAYED] = "replayed", [PEER_E_UNTRUSTED] = "untrusted",
		[PEER_E_FOREIGN] = "foreign", [PEER_E_SELF] = "self",
		[PEER_E_SKEWED] = "skewed",
	};

	return r >= 0 && r < __PEER_E_MAX ? n[r] : "unknown";
}

const char *peer_strerror(int err)
{
	if (err <= -1 && err > -__PEER_E_MAX)
		return peer_reason_name(-err);
	return strerror(-err);
}

/* ---- membership record ---- */

#define REC_SIGNED	(PEER_RECORD_BYTES - PEER_SIG_BYTES)

static void record_body(const struct peer_record *r, uint8_t *o)
{
	o[0] = PEER_VERSION;
	o[1] = r->kind;
	o[2] = o[3] = 0;
	memcpy(o + 4, r->community, 32);
	memcpy(o + 36, r->subject, 32);
	memcpy(o + 68, r->signer, 32);
	put64(o + 100, r->time);
}

void peer_record_encode(const struct peer_record *r, uint8_t out[PEER_RECORD_BYTES])
{
	record_body(r, out);
	memcpy(out + REC_SIGNED, r->sig, 64);
}

int peer_record_decode(const uint8_t *b, size_t len, struct peer_record *r)
{
	if (len < PEER_RECORD_BYTES)
		return -PEER_E_TRUNCATED;
	if (len > PEER_RECORD_BYTES)
		return -PEER_E_MALFORMED;
	if (b[0] != PEER_VERSION || b[2] || b[3] ||
	    (b[1] != PEER_REC_INVITE && b[1] != PEER_REC_REMOVE))
		return -PEER_E_MALFORMED;
	r->kind = b[1];
	memcpy(r->community, b + 4, 32);
	memcpy(r->subject, b + 36, 32);
	memcpy(r->signer, b + 68, 32);
	r->time = get64(b + 100);
	memcpy(r->sig, b + REC_SIGNED, 64);
	return 0;
}

void peer_record_sign(struct peer_record *r, const uint8_t sk[64])
{
	uint8_t b[PEER_RECORD_BYTES];

	record_body(r, b);
	sign_dom(DOM_REC, b, REC_SIGNED, sk, r->sig);
}

int peer_record_verify(const struct peer_record *r)
{
	uint8_t b[PEER_RECORD_BYTES];

	record_body(r, b);
	return verify_dom(DOM_REC, b, REC_SIGNED, r->signer, r->sig);
}

/* ---- measurement ---- */

#define MEAS_SIGNED	(PEER_MEASURE_BYTES - PEER_SIG_BYTES)

static void measure_body(const struct peer_measure *m, uint8_t *o)
{
	memcpy(o, m->key, 32);
	put64(o + 32, m->time_ms);
	put32(o + 40, m->production_w);
	put32(o + 44, m->consumption_w);
	put32(o + 48, (uint32_t)m->net_w);
	put64(o + 52, m->head_seq);
	memcpy(o + 60, m->head_hash, 32);
}

static void measure_decode(const uint8_t *b, struct peer_measure *m)
{
	memcpy(m->key, b, 32);
	m->time_ms = get64(b + 32);
	m->production_w = get32(b + 40);
	m->consumption_w = get32(b + 44);
	m->net_w = (int32_t)get32(b + 48);
	m->head_seq = get64(b + 52);
	memcpy(m->head_hash, b + 60, 32);
	memcpy(m->sig, b + MEAS_SIGNED, 64);
}

void peer_measure_sign(struct peer_measure *m, const uint8_t sk[64])
{
	uint8_t b[PEER_MEASURE_BYTES];

	measure_body(m, b);
	sign_dom(DOM_MEAS, b, MEAS_SIGNED, sk, m->sig);
}

int peer_measure_verify(const struct peer_measure *m)
{
	uint8_t b[PEER_MEASURE_BYTES];

	measure_body(m, b);
	return verify_dom(DOM_MEAS, b, MEAS_SIGNED, m->key, m->sig);
}

/* ---- announcement ---- */

int peer_announce_encode(struct peer_announce *a, const uint8_t sk[64],
			 uint8_t *buf, size_t cap)
{
	size_t n = PEER_ANNOUNCE_FIXED + (a->has_record ? PEER_RECORD_BYTES : 0);

	if (cap < n + PEER_SIG_BYTES)
		return -EMSGSIZE;
	buf[0] = PEER_VERSION;
	buf[1] = PEER_D_ANNOUNCE;
	buf[2] = a->has_record ? 1 : 0;
	buf[3] = 0;
	memcpy(buf + 4, a->community, 32);
	memcpy(buf + 36, a->key, 32);
	put64(buf + 68, a->epoch);
	put64(buf + 76, a->time_ms);
	put16(buf + 84, a->port);
	put16(buf + 86, 0);
	if (a->has_record)
		peer_record_encode(&a->record, buf + PEER_ANNOUNCE_FIXED);
	sign_dom(DOM_ANN, buf, n, sk, a->sig);
	memcpy(buf + n, a->sig, 64);
	return (int)(n + PEER_SIG_BYTES);
}

bool peer_record_same(const struct peer_record *a, const struct peer_record *b)
{
	uint8_t ea[PEER_RECORD_BYTES], eb[PEER_RECORD_BYTES];

	peer_record_encode(a, ea);
	peer_record_encode(b, eb);
	return !memcmp(ea, eb, sizeof(ea));
}

int peer_announce_verify_held(const struct peer_announce *a, const uint8_t *buf,
			      size_t len, const struct peer_record *held)
{
	int ret;

	if (len < PEER_SIG_BYTES)
		return -PEER_E_TRUNCATED;
	ret = verify_dom(DOM_ANN, buf, len - PEER_SIG_BYTES, a->key, a->sig);
	if (!ret && a->has_record && !(held && peer_record_same(&a->record, held)))
		ret = peer_record_verify(&a->record);
	return ret;
}

int peer_announce_verify(const struct peer_announce *a, const uint8_t *buf,
			 size_t len)
{
	return peer_announce_verify_held(a, buf, len, NULL);
}

int peer_announce_check(const struct peer_announce *a, const uint8_t community[32],
			uint64_t now_ms)
{
	if (memcmp(a->community, community, PEER_HASH_BYTES))
		return -PEER_E_FOREIGN;
	if (a->time_ms > now_ms + PEER_CLOCK_AHEAD_MS ||
	    a->time_ms + PEER_ANNOUNCE_FRESH_MS < now_ms)
		return -PEER_E_SKEWED;
	return 0;
}

bool peer_bucket_take(struct peer_bucket *b, uint32_t per_s, uint64_t now_ms)
{
	uint64_t add = (now_ms - b->at_ms) * per_s / 1000;

	if (now_ms < b->at_ms || add) {
		b->tokens = add > per_s || now_ms < b->at_ms ? per_s :
			    (uint32_t)(b->tokens + add > per_s ? per_s : b->tokens + add);
		b->at_ms = now_ms;
	}
	if (!b->tokens)
		return false;
	b->tokens--;
	return true;
}

bool peer_budget_take(struct peer_budget *b, uint32_t every_ms, uint32_t burst,
		      uint64_t now_ms)
{
	uint64_t full = (uint64_t)burst * every_ms;

	/* the bucket counts ms of credit: one event costs @every_ms of it */
	if (!b->primed || now_ms < b->at_ms) {
		b->primed = true;
		b->credit_ms = full;
	} else {
		b->credit_ms += now_ms - b->at_ms;
		if (b->credit_ms > full)
			b->credit_ms = full;
	}
	b->at_ms = now_ms;
	if (b->credit_ms < every_ms)
		return false;
	b->credit_ms -= every_ms;
	return true;
}

static int decode_announce(const uint8_t *b, size_t len, struct peer_announce *a)
{
	size_t need;
	int ret;

	if (len < PEER_ANNOUNCE_FIXED + PEER_SIG_BYTES)
		return -PEER_E_TRUNCATED;
	if (b[2] & ~1u || b[3] || get16(b + 86))
		return -PEER_E_MALFORMED;
	a->has_record = b[2] & 1;
	need = PEER_ANNOUNCE_FIXED + (a->has_record ? PEER_RECORD_BYTES : 0) +
	       PEER_SIG_BYTES;
	if (len < need)
		return -PEER_E_TRUNCATED;
	if (len > need)
		return -PEER_E_MALFORMED;
	memcpy(a->community, b + 4, 32);
	memcpy(a->key, b + 36, 32);
	a->epoch = get64(b + 68);
	a->time_ms = get64(b + 76);
	a->port = get16(b + 84);
	if (!a->port)
		return -PEER_E_MALFORMED;
	if (a->has_record) {
		ret = peer_record_decode(b + PEER_ANNOUNCE_FIXED, PEER_RECORD_BYTES,
					 &a->record);
		if (ret)
			return ret;
	}
	memcpy(a->sig, b + len - PEER_SIG_BYTES, 64);
	return 0;
}

/* ---- datagram ---- */

int peer_wire_decode(const uint8_t *b, size_t len, struct peer_msg *out)
{
	if (len < 4)
		return -PEER_E_TRUNCATED;
	if (len > PEER_MTU || b[0] != PEER_VERSION)
		return -PEER_E_MALFORMED;
	out->type = b[1];
	switch (b[1]) {
	case PEER_D_ANNOUNCE:
		return decode_announce(b, len, &out->ann);
	case PEER_D_HS_INIT:
		/* fixed length: the responder does Diffie-Hellman only on the
		 * exact shape, and only for a member (its key is in clear) */
		if (len < PEER_HS_INIT_BYTES)
			return -PEER_E_TRUNCATED;
		if (len > PEER_HS_INIT_BYTES || b[2] || b[3])
			return -PEER_E_MALFORMED;
		memcpy(out->init.sender, b + 4, 32);
		memcpy(out->init.receiver, b + 36, 32);
		memcpy(out->init.eph, b + 68, 32);
		out->init.ct = b + 100;
		return 0;
	case PEER_D_HS_RESP:
		if (len < PEER_HS_RESP_BYTES)
			return -PEER_E_TRUNCATED;
		if (len > PEER_HS_RESP_BYTES || b[2] || b[3])
			return -PEER_E_MALFORMED;
		out->resp.receiver_index = get32(b + 4);
		memcpy(out->resp.eph, b + 8, 32);
		out->resp.ct = b + 40;
		return 0;
	case PEER_D_SEALED:
		if (len < PEER_SEALED_HDR + PEER_TAG_BYTES)
			return -PEER_E_TRUNCATED;
		if (b[2] || b[3])
			return -PEER_E_MALFORMED;
		out->sealed.receiver_index = get32(b + 4);
		out->sealed.counter = get64(b + 8);
		out->sealed.hdr = b;
		out->sealed.ct = b + PEER_SEALED_HDR;
		out->sealed.ct_len = len - PEER_SEALED_HDR;
		return 0;
	default:
		return -PEER_E_MALFORMED;
	}
}

/* ---- records of a sealed message: type(1) len(2) value(len) ---- */

static size_t rec_len(uint8_t type)
{
	switch (type) {
	case PEER_R_PING:
	case PEER_R_ACK:	return 4;
	case PEER_R_PING_REQ:	return 4 + 32;
	case PEER_R_STATE:	return 32 + 1 + 8;
	case PEER_R_MEASURE:	return PEER_MEASURE_BYTES;
	case PEER_R_MEMBER:	return PEER_RECORD_BYTES;
	case PEER_R_SYNC_REQ:	return 32 + 8 + 2;
	case PEER_R_REFUSE:	return 32 + 1;
	case PEER_R_PROPOSE:
	case PEER_R_ACCEPT:	return PEER_XFER_BYTES;
	default:		return 0;
	}
}

/*
 * Records that make the receiver send something back (an ACK, a relayed
 * ping, entries, a digest, a refusal) come at most once per message: one
 * datagram of 16 PINGs would otherwise buy 16 replies, an amplifier for
 * anyone holding a membership. ACK and ACCEPT ride alone too, as senders
 * send them.
 */
#define ONCE_TYPES	(1u << PEER_R_PING | 1u << PEER_R_ACK | 1u << PEER_R_PING_REQ | \
			 1u << PEER_R_SYNC_REQ | 1u << PEER_R_DIGEST | \
			 1u << PEER_R_PROPOSE | 1u << PEER_R_ACCEPT)

static bool once_type(uint8_t type)
{
	return type < 32 && (ONCE_TYPES & (1u << type));
}

int peer_wire_decode_inner(const uint8_t *p, size_t len, struct peer_inner *out)
{
	size_t off = 0;
	uint32_t seen = 0;
	int ret;

	out->nrecs = 0;
	while (off < len) {
		struct peer_rec_any *r;
		size_t l, want;

		if (len - off < 3)
			return -PEER_E_TRUNCATED;
		if (out->nrecs == PEER_MAX_RECS)
			return -PEER_E_MALFORMED;
		r = &out->rec[out->nrecs];
		r->type = p[off];
		if (once_type(r->type)) {
			if (seen & (1u << r->type))
				return -PEER_E_MALFORMED;
			seen |= 1u << r->type;
		}
		l = get16(p + off + 1);
		want = r->type == PEER_R_ENTRY ? l : rec_len(r->type);
		if (r->type == PEER_R_DIGEST) {
			/* variable: the fixed part, then whole entries */
			if (l < PEER_DIGEST_FIXED)
				return -PEER_E_TRUNCATED;
			if ((l - PEER_DIGEST_FIXED) % PEER_DIGEST_ENTRY ||
			    (l - PEER_DIGEST_FIXED) / PEER_DIGEST_ENTRY > PEER_MAX_MEMBERS)
				return -PEER_E_MALFORMED;
			want = l;
		}
		if (!want)
			return r->type == PEER_R_ENTRY ? -PEER_E_TRUNCATED : -PEER_E_MALFORMED;
		/* what the encoder may send is what the decoder accepts */
		if (r->type == PEER_R_ENTRY && l > PEER_ENTRY_MAX)
			return -PEER_E_MALFORMED;
		if (len - off - 3 < l)
			return -PEER_E_TRUNCATED;
		if (l != want)
			return l < want ? -PEER_E_TRUNCATED : -PEER_E_MALFORMED;
		off += 3;
		switch (r->type) {
		case PEER_R_PING:
			r->ping.seq = get32(p + off);
			break;
		case PEER_R_ACK:
			r->ack.seq = get32(p + off);
			break;
		case PEER_R_PING_REQ:
			r->ping_req.seq = get32(p + off);
			memcpy(r->ping_req.target, p + off + 4, 32);
			break;
		case PEER_R_STATE:
			memcpy(r->state.key, p + off, 32);
			r->state.state = p[off + 32];
			if (r->state.state > PEER_DEAD)
				return -PEER_E_MALFORMED;
			r->state.inc = get64(p + off + 33);
			break;
		case PEER_R_MEASURE:
			measure_decode(p + off, &r->measure);
			break;
		case PEER_R_MEMBER:
			ret = peer_record_decode(p + off, l, &r->member);
			if (ret)
				return ret;
			break;
		case PEER_R_SYNC_REQ:
			memcpy(r->sync_req.author, p + off, 32);
			r->sync_req.from = get64(p + off + 32);
			r->sync_req.count = get16(p + off + 40);
			if (!r->sync_req.from || !r->sync_req.count ||
			    r->sync_req.count > PEER_SYNC_MAX)
				return -PEER_E_MALFORMED;
			break;
		case PEER_R_ENTRY:
			/* the ledger decoder checks the entry itself */
			r->entry.buf = p + off;
			r->entry.len = (uint16_t)l;
			break;
		case PEER_R_REFUSE:
			memcpy(r->refuse.id, p + off, 32);
			r->refuse.reason = p[off + 32];
			if (!r->refuse.reason || r->refuse.reason > PEER_SETTLE_LATE)
				return -PEER_E_MALFORMED;
			break;
		case PEER_R_PROPOSE:
		case PEER_R_ACCEPT:
			/* ledger_transfer_decode() checks the body itself */
			memcpy(r->xfer.body, p + off, l);
			break;
		case PEER_R_DIGEST:
			r->digest.flags = p[off];
			if (r->digest.flags & ~PEER_DIGEST_REPLY)
				return -PEER_E_MALFORMED;
			memcpy(r->digest.comm, p + off + 1, 8);
			r->digest.n = (uint8_t)((l - PEER_DIGEST_FIXED) / PEER_DIGEST_ENTRY);
			r->digest.ent = p + off + PEER_DIGEST_FIXED;
			break;
		}
		off += l;
		out->nrecs++;
	}
	return 0;
}

void peer_builder_init(struct peer_builder *b, uint8_t *buf, size_t cap)
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	b->nrecs = 0;
}

int peer_builder_add(struct peer_builder *b, const struct peer_rec_any *r)
{
	size_t l = r->type == PEER_R_ENTRY ? r->entry.len : rec_len(r->type);
	uint8_t *o;

	if (r->type == PEER_R_DIGEST) {
		if (r->digest.n > PEER_MAX_MEMBERS)
			return -EINVAL;
		l = PEER_DIGEST_FIXED + (size_t)r->digest.n * PEER_DIGEST_ENTRY;
	}

	if (!l || l > PEER_ENTRY_MAX)
		return -EINVAL;
	if (once_type(r->type))
		for (size_t off = 0; off + 3 <= b->len; off += 3 + get16(b->buf + off + 1))
			if (b->buf[off] == r->type)
				return -EINVAL;	/* the decoder refuses a second one */
	if (b->nrecs == PEER_MAX_RECS || b->cap - b->len < 3 + l)
		return -ENOSPC;
	o = b->buf + b->len;
	o[0] = r->type;
	put16(o + 1, (uint16_t)l);
	o += 3;
	switch (r->type) {
	case PEER_R_PING:
		put32(o, r->ping.seq);
		break;
	case PEER_R_ACK:
		put32(o, r->ack.seq);
		break;
	case PEER_R_PING_REQ:
		put32(o, r->ping_req.seq);
		memcpy(o + 4, r->ping_req.target, 32);
		break;
	case PEER_R_STATE:
		memcpy(o, r->state.key, 32);
		o[32] = r->state.state;
		put64(o + 33, r->state.inc);
		break;
	case PEER_R_MEASURE:
		measure_body(&r->measure, o);
		memcpy(o + MEAS_SIGNED, r->measure.sig, 64);
		break;
	case PEER_R_MEMBER:
		peer_record_encode(&r->member, o);
		break;
	case PEER_R_SYNC_REQ:
		memcpy(o, r->sync_req.author, 32);
		put64(o + 32, r->sync_req.from);
		put16(o + 40, r->sync_req.count);
		break;
	case PEER_R_ENTRY:
		memcpy(o, r->entry.buf, l);
		break;
	case PEER_R_REFUSE:
		memcpy(o, r->refuse.id, 32);
		o[32] = r->refuse.reason;
		break;
	case PEER_R_PROPOSE:
	case PEER_R_ACCEPT:
		memcpy(o, r->xfer.body, l);
		break;
	case PEER_R_DIGEST:
		o[0] = r->digest.flags;
		memcpy(o + 1, r->digest.comm, 8);
		if (r->digest.n)
			memcpy(o + PEER_DIGEST_FIXED, r->digest.ent,
			       (size_t)r->digest.n * PEER_DIGEST_ENTRY);
		break;
	}
	b->len += 3 + l;
	b->nrecs++;
	return 0;
}
