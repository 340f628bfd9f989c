// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Gossip of measurements: each member signs its own latest measurement
 * (production, consumption, net power, ledger chain head) and every member
 * relays the latest it holds of everyone, piggy-backed on SWIM traffic.
 * Because each is signed by its author, a relay cannot alter one, only
 * withhold it; the newest timestamp wins. Every member then computes the
 * community's net power itself from the live members' latest values.
 */
#include <errno.h>
#include <string.h>

#include "peer.h"

static int find(const struct peer_gossip *g, const uint8_t key[32])
{
	for (int i = 0; i < g->n; i++)
		if (!memcmp(g->m[i].key, key, 32))
			return i;
	return -1;
}

int peer_gossip_take(struct peer_gossip *g, const struct peer_measure *m)
{
	int i = find(g, m->key);

	if (i >= 0 && g->m[i].time_ms >= m->time_ms)
		return 0;
	if (peer_measure_verify(m))
		return -PEER_E_FORGED;
	if (i < 0) {
		if (g->n == PEER_MAX_MEMBERS)
			return -ENOSPC;
		i = g->n++;
	}
	g->m[i] = *m;
	return 1;
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
		/* a clock ahead of ours is fine; a stale value is not */
		if (g->max_age_ms && m->time_ms + g->max_age_ms < now_ms)
			continue;
		sum += m->net_w;
		n++;
	}
	if (counted)
		*counted = n;
	return sum;
}
