// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The community: a name and a set of member keys, each admitted by a
 * signed INVITE record of an existing member (the founder signs its own).
 * Records travel: in the invite token, in the member's announcements, and
 * relayed between members over sessions, so every member converges on the
 * same set without a coordinator. A REMOVE record, signed by any member,
 * removes for good: the removed key is never admitted again by this
 * community (it would need a new community).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "peer.h"

static const char DOM_COMM[] = "phloem-community-v1";
static const char TOKEN_PREFIX[] = "phlinv1-";

void peer_community_id(const char *name, uint8_t id[PEER_HASH_BYTES])
{
	crypto_generichash(id, PEER_HASH_BYTES, (const uint8_t *)name, strlen(name),
			   (const uint8_t *)DOM_COMM, sizeof(DOM_COMM) - 1);
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, PEER_KEY_BYTES);
}

/* Sorted, so that the order records arrived in does not matter. */
static void hash_keys(crypto_generichash_state *st, const struct peer_record *r, int n)
{
	uint8_t k[PEER_MAX_MEMBERS > PEER_MAX_REMOVED ? PEER_MAX_MEMBERS : PEER_MAX_REMOVED]
		 [PEER_KEY_BYTES];
	uint8_t count = (uint8_t)n;

	for (int i = 0; i < n; i++)
		memcpy(k[i], r[i].subject, PEER_KEY_BYTES);
	qsort(k, (size_t)n, PEER_KEY_BYTES, key_cmp);
	crypto_generichash_update(st, &count, 1);
	crypto_generichash_update(st, &k[0][0], (size_t)n * PEER_KEY_BYTES);
}

void peer_community_digest(const struct peer_community *c, uint8_t out[8])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 8);
	hash_keys(&st, c->member, c->nmembers);
	hash_keys(&st, c->removed, c->nremoved);
	crypto_generichash_final(&st, out, 8);
}

static bool name_ok(const char *name)
{
	size_t l = strlen(name);

	if (!l || l > PEER_NAME_MAX)
		return false;
	for (size_t i = 0; i < l; i++)
		if (name[i] <= ' ' || name[i] > '~')
			return false;
	return true;
}

int peer_community_found(struct peer_community *c, const char *name,
			 const uint8_t pk[32], const uint8_t sk[64], uint64_t now)
{
	struct peer_record *r;

	if (!name_ok(name))
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	strcpy(c->name, name);
	peer_community_id(name, c->id);
	r = &c->member[c->nmembers++];
	r->kind = PEER_REC_INVITE;
	memcpy(r->community, c->id, 32);
	memcpy(r->subject, pk, 32);
	memcpy(r->signer, pk, 32);
	r->time = now;
	peer_record_sign(r, sk);
	return 0;
}

static int find(const struct peer_community *c, const uint8_t key[32])
{
	for (int i = 0; i < c->nmembers; i++)
		if (!memcmp(c->member[i].subject, key, 32))
			return i;
	return -1;
}

static bool removed(const struct peer_community *c, const uint8_t key[32])
{
	for (int i = 0; i < c->nremoved; i++)
		if (!memcmp(c->removed[i].subject, key, 32))
			return true;
	return false;
}

bool peer_community_is_member(const struct peer_community *c, const uint8_t key[32])
{
	if (c->has_anchor && !memcmp(c->anchor, key, 32) && !removed(c, key))
		return true;
	return find(c, key) >= 0;
}

int peer_community_join(struct peer_community *c, const char *name,
			const struct peer_record *r)
{
	if (!name_ok(name))
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	strcpy(c->name, name);
	peer_community_id(name, c->id);
	if (r->kind != PEER_REC_INVITE || memcmp(r->community, c->id, 32))
		return -PEER_E_FOREIGN;
	if (peer_record_verify(r))
		return -PEER_E_FORGED;
	c->has_anchor = true;
	memcpy(c->anchor, r->signer, 32);
	c->member[c->nmembers++] = *r;
	return 0;
}

const struct peer_record *peer_community_record(const struct peer_community *c,
						const uint8_t key[32])
{
	int i = find(c, key);

	return i < 0 ? NULL : &c->member[i];
}

int peer_community_apply(struct peer_community *c, const struct peer_record *r,
			 bool vouched)
{
	bool self_signed = !memcmp(r->signer, r->subject, 32);
	int i;

	if (memcmp(r->community, c->id, 32))
		return -PEER_E_FOREIGN;
	if (peer_record_verify(r))
		return -PEER_E_FORGED;
	if (r->kind == PEER_REC_REMOVE) {
		if (!peer_community_is_member(c, r->signer))
			return -PEER_E_UNTRUSTED;
		if (removed(c, r->subject))
			return 0;
		if (c->nremoved == PEER_MAX_REMOVED)
			return -ENOSPC;
		c->removed[c->nremoved++] = *r;
		i = find(c, r->subject);
		/* keep admission order: a reload re-applies records in it */
		if (i >= 0)
			memmove(&c->member[i], &c->member[i + 1],
				(--c->nmembers - i) * sizeof(c->member[0]));
		return 1;
	}
	if (removed(c, r->subject))
		return -PEER_E_UNTRUSTED;
	if (find(c, r->subject) >= 0)
		return 0;
	if (!(self_signed ? vouched : peer_community_is_member(c, r->signer)) &&
	    !(c->has_anchor && !memcmp(c->anchor, r->subject, 32)))
		return -PEER_E_UNTRUSTED;
	if (c->nmembers == PEER_MAX_MEMBERS)
		return -ENOSPC;
	c->member[c->nmembers++] = *r;
	return 1;
}

int peer_invite_make(const struct peer_community *c, const uint8_t pk[32],
		     const uint8_t sk[64], const uint8_t invitee[32],
		     uint64_t now, char *token, size_t cap)
{
	struct peer_record r = { .kind = PEER_REC_INVITE, .time = now };
	uint8_t b[PEER_RECORD_BYTES];
	size_t pl = sizeof(TOKEN_PREFIX) - 1;

	if (!peer_community_is_member(c, pk))
		return -EPERM;
	if (removed(c, invitee))
		return -EPERM;
	if (cap < pl + sodium_base64_ENCODED_LEN(PEER_RECORD_BYTES,
			sodium_base64_VARIANT_URLSAFE_NO_PADDING) + 1 + PEER_NAME_MAX)
		return -ENOSPC;
	memcpy(r.community, c->id, 32);
	memcpy(r.subject, invitee, 32);
	memcpy(r.signer, pk, 32);
	peer_record_sign(&r, sk);
	peer_record_encode(&r, b);
	/* the name travels in clear before the record: the joiner needs it to
	 * recompute and check the community id */
	snprintf(token, cap, "%s%s.", TOKEN_PREFIX, c->name);
	sodium_bin2base64(token + strlen(token), cap - strlen(token), b, sizeof(b),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return 0;
}

/*
 * Token: "phlinv1-" NAME "." base64url(record). The name is checked
 * against the record's community id by the caller (peer_community_join
 * flow in phloemd); here only the syntax and the signature.
 */
int peer_invite_parse(const char *token, struct peer_record *r)
{
	uint8_t b[PEER_RECORD_BYTES + 4];
	size_t bl, pl = sizeof(TOKEN_PREFIX) - 1;
	const char *dot;
	char name[PEER_NAME_MAX + 1];
	uint8_t id[32];
	int ret;

	if (strncmp(token, TOKEN_PREFIX, pl))
		return -PEER_E_MALFORMED;
	dot = strchr(token + pl, '.');
	if (!dot || dot - (token + pl) > PEER_NAME_MAX || dot == token + pl)
		return -PEER_E_MALFORMED;
	memcpy(name, token + pl, dot - (token + pl));
	name[dot - (token + pl)] = 0;
	if (sodium_base642bin(b, sizeof(b), dot + 1, strlen(dot + 1), NULL, &bl,
			      NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
		return -PEER_E_MALFORMED;
	ret = peer_record_decode(b, bl, r);
	if (ret)
		return ret;
	peer_community_id(name, id);
	if (r->kind != PEER_REC_INVITE || memcmp(id, r->community, 32))
		return -PEER_E_MALFORMED;
	return peer_record_verify(r);
}

int peer_remove_make(struct peer_community *c, const uint8_t pk[32],
		     const uint8_t sk[64], const uint8_t subject[32],
		     uint64_t now, struct peer_record *out)
{
	struct peer_record r = { .kind = PEER_REC_REMOVE, .time = now };
	int ret;

	if (!peer_community_is_member(c, pk) || !peer_community_is_member(c, subject))
		return -ENOENT;
	memcpy(r.community, c->id, 32);
	memcpy(r.subject, subject, 32);
	memcpy(r.signer, pk, 32);
	peer_record_sign(&r, sk);
	ret = peer_community_apply(c, &r, false);
	if (ret < 0)
		return ret;
	*out = r;
	return 0;
}

int peer_community_save(const struct peer_community *c, const char *path)
{
	char tmp[4096], hex[PEER_RECORD_BYTES * 2 + 1];
	uint8_t b[PEER_RECORD_BYTES];
	FILE *f;
	int ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "name %s\n", c->name);
	if (c->has_anchor) {
		sodium_bin2hex(hex, sizeof(hex), c->anchor, 32);
		fprintf(f, "anchor %s\n", hex);
	}
	for (int i = 0; i < c->nmembers; i++) {
		peer_record_encode(&c->member[i], b);
		sodium_bin2hex(hex, sizeof(hex), b, sizeof(b));
		fprintf(f, "rec %s\n", hex);
	}
	for (int i = 0; i < c->nremoved; i++) {
		peer_record_encode(&c->removed[i], b);
		sodium_bin2hex(hex, sizeof(hex), b, sizeof(b));
		fprintf(f, "rec %s\n", hex);
	}
	ok = !ferror(f) && !fflush(f) && !fsync(fileno(f));
	if (fclose(f) || !ok || rename(tmp, path)) {
		int e = errno;

		unlink(tmp);
		return -e;
	}
	return 0;
}

/*
 * Reload what we saved: founders and records were checked when they came
 * in, but the file is re-verified record by record (a corrupted line is
 * refused rather than trusted). Records are applied in file order, which
 * is the order they were admitted, so each signer is already a member.
 */
int peer_community_load(struct peer_community *c, const char *path)
{
	char line[1024];
	FILE *f = fopen(path, "re");
	int ret = 0;

	if (!f)
		return -errno;
	memset(c, 0, sizeof(*c));
	while (fgets(line, sizeof(line), f)) {
		struct peer_record r;
		uint8_t b[PEER_RECORD_BYTES];
		size_t bl;

		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "name ", 5)) {
			if (!name_ok(line + 5)) {
				ret = -PEER_E_MALFORMED;
				break;
			}
			strcpy(c->name, line + 5);
			peer_community_id(c->name, c->id);
		} else if (!strncmp(line, "anchor ", 7) && c->name[0]) {
			if (sodium_hex2bin(c->anchor, 32, line + 7, strlen(line + 7),
					   NULL, &bl, NULL) || bl != 32) {
				ret = -PEER_E_MALFORMED;
				break;
			}
			c->has_anchor = true;
		} else if (!strncmp(line, "rec ", 4) && c->name[0]) {
			if (sodium_hex2bin(b, sizeof(b), line + 4, strlen(line + 4),
					   NULL, &bl, NULL) || bl != sizeof(b) ||
			    peer_record_decode(b, bl, &r)) {
				ret = -PEER_E_MALFORMED;
				break;
			}
			/* vouched: we admitted it ourselves before saving */
			ret = peer_community_apply(c, &r, true);
			if (ret < 0)
				break;
			ret = 0;
		} else if (line[0]) {
			ret = -PEER_E_MALFORMED;
			break;
		}
	}
	fclose(f);
	if (!ret && !c->name[0])
		ret = -PEER_E_MALFORMED;
	return ret;
}
