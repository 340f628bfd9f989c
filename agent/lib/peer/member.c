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
#include <fcntl.h>
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

static void recompute(struct peer_community *c);

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
	r = &c->rec[c->nrecs++];
	r->kind = PEER_REC_INVITE;
	memcpy(r->community, c->id, 32);
	memcpy(r->subject, pk, 32);
	memcpy(r->signer, pk, 32);
	r->time = now;
	peer_record_sign(r, sk);
	c->has_owner = true;
	memcpy(c->owner, pk, 32);
	recompute(c);
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

static bool is_owner(const struct peer_community *c, const uint8_t key[32])
{
	return c->has_owner && !memcmp(c->owner, key, 32);
}

bool peer_community_is_member(const struct peer_community *c, const uint8_t key[32])
{
	if (c->has_anchor && !memcmp(c->anchor, key, 32) && !removed(c, key))
		return true;
	return find(c, key) >= 0;
}

/*
 * Membership is a function of the set of records held, whatever order
 * they came in (docs/protocol.md, Community):
 *
 *   removed = subjects of the REMOVEs signed by the owner;
 *   members = the owner and the anchor (unless removed), then, to a fixed
 *             point, the subject of every INVITE whose signer is a member
 *             and whose subject is not removed.
 *
 * Records are kept sorted by signature, so that even the PEER_MAX_MEMBERS
 * cap cuts the same members everywhere. An INVITE by a member removed
 * since does not count: the owner re-invites the members a removal would
 * orphan (peer_remove_make()), so a removed key's holder cannot admit
 * anyone by backdating an invite.
 */
static void recompute(struct peer_community *c)
{
	bool grew = true;

	c->nmembers = 0;
	c->nremoved = 0;
	for (int i = 0; i < c->nrecs; i++) {
		const struct peer_record *r = &c->rec[i];

		if (r->kind == PEER_REC_REMOVE && is_owner(c, r->signer) &&
		    !is_owner(c, r->subject) && !removed(c, r->subject) &&
		    c->nremoved < PEER_MAX_REMOVED)
			c->removed[c->nremoved++] = *r;
	}
	/* the owner's own record roots the set */
	for (int i = 0; i < c->nrecs; i++) {
		const struct peer_record *r = &c->rec[i];

		if (r->kind == PEER_REC_INVITE && is_owner(c, r->subject) &&
		    !memcmp(r->signer, r->subject, 32)) {
			c->member[c->nmembers++] = *r;
			break;
		}
	}
	while (grew && c->nmembers < PEER_MAX_MEMBERS) {
		grew = false;
		for (int i = 0; i < c->nrecs && c->nmembers < PEER_MAX_MEMBERS; i++) {
			const struct peer_record *r = &c->rec[i];

			if (r->kind != PEER_REC_INVITE || removed(c, r->subject) ||
			    find(c, r->subject) >= 0 ||
			    !memcmp(r->signer, r->subject, 32) ||
			    !peer_community_is_member(c, r->signer))
				continue;
			c->member[c->nmembers++] = *r;
			grew = true;
		}
	}
}

/* Does @r count, or would it once held? Only those are kept: a record
 * that can never count would only fill the table. */
static int admissible(const struct peer_community *c, const struct peer_record *r,
		      bool vouched)
{
	bool self_signed = !memcmp(r->signer, r->subject, 32);

	if (r->kind == PEER_REC_REMOVE) {
		if (!is_owner(c, r->signer) || self_signed)
			return -PEER_E_UNTRUSTED;
		return 0;
	}
	if (removed(c, r->subject))
		return -PEER_E_UNTRUSTED;
	if (self_signed) {
		/*
		 * A self-signed INVITE is a founder's. Ours is the owner's
		 * (pinned when we founded, or taken once from our anchor, or
		 * the anchor's own): any other member could make one for a key
		 * of its own, so no other is ever taken.
		 */
		if (is_owner(c, r->subject))
			return 0;
		if (!c->has_owner && (vouched || (c->has_anchor &&
						  !memcmp(c->anchor, r->subject, 32))))
			return 0;
		return -PEER_E_UNTRUSTED;
	}
	return peer_community_is_member(c, r->signer) ? 0 : -PEER_E_UNTRUSTED;
}

/* Into the sorted table; 1 added, 0 held already, -ENOSPC. */
static int store(struct peer_community *c, const struct peer_record *r)
{
	int i = 0;

	while (i < c->nrecs) {
		int d = memcmp(c->rec[i].sig, r->sig, PEER_SIG_BYTES);

		if (!d)
			return 0;
		if (d > 0)
			break;
		i++;
	}
	if (c->nrecs == PEER_MAX_RECORDS)
		return -ENOSPC;
	memmove(&c->rec[i + 1], &c->rec[i], (size_t)(c->nrecs - i) * sizeof(c->rec[0]));
	c->rec[i] = *r;
	c->nrecs++;
	return 1;
}

static bool held(const struct peer_community *c, const struct peer_record *r)
{
	for (int i = 0; i < c->nrecs; i++)
		if (!memcmp(c->rec[i].sig, r->sig, PEER_SIG_BYTES))
			return true;
	return false;
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
	store(c, r);
	recompute(c);
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
	uint8_t before[8], after[8];
	int ret;

	if (memcmp(r->community, c->id, 32))
		return -PEER_E_FOREIGN;
	if (held(c, r))
		return r->kind == PEER_REC_INVITE && removed(c, r->subject) ?
		       -PEER_E_UNTRUSTED : 0;
	if (peer_record_verify(r))
		return -PEER_E_FORGED;
	ret = admissible(c, r, vouched);
	if (ret)
		return ret;
	if (r->kind == PEER_REC_INVITE && !memcmp(r->signer, r->subject, 32) &&
	    !c->has_owner) {
		c->has_owner = true;
		memcpy(c->owner, r->subject, 32);
	}
	peer_community_digest(c, before);
	ret = store(c, r);
	if (ret <= 0)
		return ret;
	recompute(c);
	peer_community_digest(c, after);
	return memcmp(before, after, 8) ? 1 : 0;
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

/*
 * Only the owner removes (docs/protocol.md: one member's word must not
 * remove another, and a quorum could be outvoted by keys any member can
 * invite). The members the removed one had admitted, directly or down a
 * chain, would fall with it: the owner invites each of them itself, in
 * the same step, so that they stay.
 */
int peer_remove_make(struct peer_community *c, const uint8_t pk[32],
		     const uint8_t sk[64], const uint8_t subject[32],
		     uint64_t now, struct peer_record *out)
{
	struct peer_record r = { .kind = PEER_REC_REMOVE, .time = now };
	uint8_t was[PEER_MAX_MEMBERS][PEER_KEY_BYTES];
	int nwas = c->nmembers, ret;

	if (!peer_community_is_member(c, pk) || !peer_community_is_member(c, subject))
		return -ENOENT;
	if (!is_owner(c, pk) || is_owner(c, subject))
		return -EPERM;
	for (int i = 0; i < nwas; i++)
		memcpy(was[i], c->member[i].subject, 32);
	memcpy(r.community, c->id, 32);
	memcpy(r.subject, subject, 32);
	memcpy(r.signer, pk, 32);
	peer_record_sign(&r, sk);
	if (c->nrecs + nwas >= PEER_MAX_RECORDS)
		return -ENOSPC;
	ret = store(c, &r);
	if (ret < 0)
		return ret;
	recompute(c);
	for (int i = 0; i < nwas; i++) {
		struct peer_record inv = { .kind = PEER_REC_INVITE, .time = now };

		if (!memcmp(was[i], subject, 32) || find(c, was[i]) >= 0)
			continue;
		memcpy(inv.community, c->id, 32);
		memcpy(inv.subject, was[i], 32);
		memcpy(inv.signer, pk, 32);
		peer_record_sign(&inv, sk);
		store(c, &inv);
	}
	recompute(c);
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
	if (c->has_owner) {
		sodium_bin2hex(hex, sizeof(hex), c->owner, 32);
		fprintf(f, "owner %s\n", hex);
	}
	if (c->has_anchor) {
		sodium_bin2hex(hex, sizeof(hex), c->anchor, 32);
		fprintf(f, "anchor %s\n", hex);
	}
	for (int i = 0; i < c->nrecs; i++) {
		peer_record_encode(&c->rec[i], b);
		sodium_bin2hex(hex, sizeof(hex), b, sizeof(b));
		fprintf(f, "rec %s\n", hex);
	}
	ok = !ferror(f) && !fflush(f) && !fsync(fileno(f));
	if (fclose(f) || !ok || rename(tmp, path)) {
		int e = errno;

		unlink(tmp);
		return -e;
	}
	return peer_fsync_dir(path);
}

int peer_fsync_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd, ret = 0;

	/* the rename is durable once the directory entry is */
	if (!slash)
		strcpy(dir, ".");
	else if (slash == path)
		strcpy(dir, "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		return -ENAMETOOLONG;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * Reload what we saved. Each record is verified again (a corrupted line is
 * refused rather than trusted), then membership is computed from the whole
 * set, as for records from the network: the order of the lines does not
 * matter, and a removal of a member who invited others (or of anyone)
 * never makes the file unloadable. Files written before the "owner" line
 * existed name the owner by its self-signed record.
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
		} else if ((!strncmp(line, "anchor ", 7) || !strncmp(line, "owner ", 6)) &&
			   c->name[0]) {
			bool anchor = line[0] == 'a';
			const char *h = line + (anchor ? 7 : 6);

			if (sodium_hex2bin(anchor ? c->anchor : c->owner, 32, h, strlen(h),
					   NULL, &bl, NULL) || bl != 32) {
				ret = -PEER_E_MALFORMED;
				break;
			}
			if (anchor)
				c->has_anchor = true;
			else
				c->has_owner = true;
		} else if (!strncmp(line, "rec ", 4) && c->name[0]) {
			if (sodium_hex2bin(b, sizeof(b), line + 4, strlen(line + 4),
					   NULL, &bl, NULL) || bl != sizeof(b) ||
			    peer_record_decode(b, bl, &r)) {
				ret = -PEER_E_MALFORMED;
				break;
			}
			if (memcmp(r.community, c->id, 32)) {
				ret = -PEER_E_FOREIGN;
				break;
			}
			if (peer_record_verify(&r)) {
				ret = -PEER_E_FORGED;
				break;
			}
			if (!c->has_owner && r.kind == PEER_REC_INVITE &&
			    !memcmp(r.signer, r.subject, 32)) {
				c->has_owner = true;
				memcpy(c->owner, r.subject, 32);
			}
			ret = store(c, &r);
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
	if (!ret)
		recompute(c);
	return ret;
}
