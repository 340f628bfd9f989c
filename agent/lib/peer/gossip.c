// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Gossip of measurements: each member signs its own latest measurement
 * (production, consumption, net power, ledger chain head) and every member
 * passes on what it holds of everyone. Because each is signed by its
 * author, a relay cannot alter one, only withhold it; the newest timestamp
 * wins. Every member then computes the community's net power itself from
 * the live members' latest values.
 *
 * Two paths carry them (docs/protocol.md, Gossip). News (a change beyond
 * PEER_NEWS_*) is pushed at once as a rumour, so that a load change is
 * known everywhere within a few hops; everything else, refreshes included,
 * goes by push-pull digest exchange with one member at a time, which sends
 * each member only what it lacks: that keeps a community at rest quiet.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "le.h"
#include "peer.h"

static int find_n(const struct peer_gossip *g, const uint8_t *key, size_t n)
{
	for (int i = 0; i < g->n; i++)
		if (!memcmp(g->m[i].key, key, n))
			return i;
	return -1;
}

static int find(const struct peer_gossip *g, const uint8_t key[32])
{
	return find_n(g, key, 32);
}

/* ours of the author whose key starts like a digest entry's */
static int find_prefix(const struct peer_gossip *g, const uint8_t *prefix)
{
	return find_n(g, prefix, PEER_DIGEST_PREFIX);
}

bool peer_measure_news(const struct peer_measure *before, const struct peer_measure *now)
{
	int64_t d = (int64_t)now->net_w - before->net_w;
	int64_t base = before->net_w < 0 ? -(int64_t)before->net_w : before->net_w;
	int64_t lim = base * PEER_NEWS_PERMILLE / 1000;

	if (lim < PEER_NEWS_MIN_W)
		lim = PEER_NEWS_MIN_W;
	if (d < 0)
		d = -d;
	return d > lim || now->head_seq != before->head_seq ||
	       memcmp(now->head_hash, before->head_hash, 32);
}

uint64_t peer_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int peer_gossip_take(struct peer_gossip *g, const struct peer_measure *m)
{
	return peer_gossip_take_at(g, m, peer_clock_ms());
}

int peer_gossip_take_at(struct peer_gossip *g, const struct peer_measure *m,
			uint64_t now_ms)
{
	int i = find(g, m->key);
	bool news;

	/*
	 * The newest wins, so a time from the future would displace every
	 * honest measurement of its author until that time came (and count
	 * as fresh all along): refused, beyond the clock skew we allow.
	 */
	if (m->time_ms > now_ms + PEER_CLOCK_AHEAD_MS)
		return -PEER_E_SKEWED;
	if (i >= 0 && g->m[i].time_ms >= m->time_ms)
		return 0;
	if (peer_measure_verify(m))
		return -PEER_E_FORGED;
	if (i < 0) {
		if (g->n == PEER_MAX_MEMBERS)
			return -ENOSPC;
		i = g->n++;
		news = true;
	} else {
		news = peer_measure_news(&g->m[i], m);
	}
	g->m[i] = *m;
	return news ? 2 : 1;
}

int peer_gossip_digest(const struct peer_gossip *g, uint8_t *out, int max)
{
	int n = 0;

	for (int i = 0; i < g->n && n < max; i++, n++) {
		memcpy(out + n * PEER_DIGEST_ENTRY, g->m[i].key, PEER_DIGEST_PREFIX);
		put32(out + n * PEER_DIGEST_ENTRY + PEER_DIGEST_PREFIX, (uint32_t)g->m[i].time_ms);
	}
	return n;
}

/* Is digest time @d (low 32 bits) newer than our @ms? Serial arithmetic:
 * right while the two are within 24 days, and measurements older than
 * max_age_ms do not count anyway. */
static bool newer(uint32_t d, uint64_t ms)
{
	return (int32_t)(d - (uint32_t)ms) > 0;
}

/* the digest's entry for @key, or NULL: not in it */
static const uint8_t *digest_entry(const struct peer_digest *d, const uint8_t *key)
{
	for (int j = 0; j < d->n; j++) {
		const uint8_t *e = d->ent + j * PEER_DIGEST_ENTRY;

		if (!memcmp(e, key, PEER_DIGEST_PREFIX))
			return e;
	}
	return NULL;
}

bool peer_gossip_diff(const struct peer_gossip *g, const struct peer_digest *d,
		      const struct peer_measure **give, int max, int *ngive)
{
	bool behind = false;

	*ngive = 0;
	/* what they lack: absent there first (a whole member), then older */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < g->n && *ngive < max; i++) {
			const uint8_t *e = digest_entry(d, g->m[i].key);
			uint32_t t = e ? get32(e + PEER_DIGEST_PREFIX) : 0;

			if (pass == 0 ? !e : (e && t != (uint32_t)g->m[i].time_ms &&
					      !newer(t, g->m[i].time_ms)))
				give[(*ngive)++] = &g->m[i];
		}
	/* what we lack: an entry newer than ours, or of an author unknown here */
	for (int j = 0; j < d->n && !behind; j++) {
		const uint8_t *e = d->ent + j * PEER_DIGEST_ENTRY;
		int i = find_prefix(g, e);

		behind = i < 0 || newer(get32(e + PEER_DIGEST_PREFIX), g->m[i].time_ms);
	}
	return behind;
}

const struct peer_measure *peer_gossip_get(const struct peer_gossip *g,
					   const uint8_t key[32])
{
	int i = find(g, key);

	return i < 0 ? NULL : &g->m[i];
}

void peer_gossip_forget(struct peer_gossip *g, const uint8_t key[32])
{
	int i = find(g, key);

	if (i >= 0)
		g->m[i] = g->m[--g->n];
}

int64_t peer_gossip_net(const struct peer_gossip *g, uint64_t now_ms,
			bool (*live)(void *ctx, const uint8_t key[32]), void *ctx,
			int *counted)
{
	int64_t sum = 0;
	int n = 0;

	for (int i = 0; i < g->n; i++) {
		const struct peer_measure *m = &g->m[i];

		if (live && !live(ctx, m->key))
			continue;
		/* a stale value does not count, nor one from further ahead
		 * than the skew allowed (taken before our clock stepped back) */
		if (g->max_age_ms && m->time_ms + g->max_age_ms < now_ms)
			continue;
		if (m->time_ms > now_ms + PEER_CLOCK_AHEAD_MS)
			continue;
		sum += m->net_w;
		n++;
	}
	if (counted)
		*counted = n;
	return sum;
}

int peer_fork_log_add(struct peer_fork_log *l, const uint8_t author[32])
{
	for (int i = 0; i < l->n; i++)
		if (!memcmp(l->author[i], author, 32))
			return 0;
	if (l->n == PEER_MAX_MEMBERS) {
		l->full = true;
		return 0;
	}
	memcpy(l->author[l->n++], author, 32);
	return 1;
}
