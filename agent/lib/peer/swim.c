// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SWIM failure detector (Das, Gupta, Motivala 2002), pure: the caller
 * passes the time and sends what peer_swim_tick() asks for, so the tests
 * drive it deterministically.
 *
 * Every period one member (round robin, so each is probed within n
 * periods) gets a PING. No ACK within half a period: the PING again, and
 * PEER_SWIM_K other live members are asked to ping it for us (PING_REQ;
 * they relay the ACK).
 * No ACK within the period: SUSPECT. Suspect for suspect_ms times
 * floor(log2(n + 1)): DEAD (as Lifeguard does, the suspicion must outlast
 * the time a refutation takes to spread, which grows with the group; a
 * fixed 3 s made lossy 20-member groups declare live members dead). States
 * spread by gossip (STATE records piggy-backed on every message) with
 * incarnation numbers; a member hearing itself suspected at its current
 * incarnation increments it, and the higher incarnation's ALIVE wins.
 * Lifeguard's local health multiplier (@lhm) stretches the period and the
 * probe timeouts while our ACKs come late: on a starved host they are
 * queued, not lost, and PING_REQs and suspicions for them only add load.
 */
#include <string.h>

#include "peer.h"

const char *peer_swim_state_name(int st)
{
	switch (st) {
	case PEER_ALIVE:	return "alive";
	case PEER_SUSPECT:	return "suspect";
	case PEER_DEAD:		return "dead";
	default:		return "unknown";
	}
}

void peer_swim_init(struct peer_swim *s, const uint8_t self[32],
		    uint32_t period_ms, uint32_t suspect_ms, uint64_t now_ms)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->self, self, 32);
	s->period_ms = period_ms ? period_ms : 1000;
	s->suspect_ms = suspect_ms ? suspect_ms : 3 * s->period_ms;
	s->next_probe_ms = now_ms + s->period_ms;
}

struct peer_swim_member *peer_swim_find(struct peer_swim *s, const uint8_t key[32])
{
	for (int i = 0; i < s->n; i++)
		if (!memcmp(s->m[i].key, key, 32))
			return &s->m[i];
	return NULL;
}

static void set_state(struct peer_swim_member *m, uint8_t st, uint64_t now)
{
	if (m->state != st)
		m->since_ms = now;
	m->state = st;
}

struct peer_swim_member *peer_swim_heard(struct peer_swim *s, const uint8_t key[32],
					 uint64_t now_ms)
{
	struct peer_swim_member *m;

	if (!memcmp(key, s->self, 32))
		return NULL;
	m = peer_swim_find(s, key);
	if (!m) {
		if (s->n == PEER_MAX_MEMBERS)
			return NULL;
		m = &s->m[s->n++];
		memset(m, 0, sizeof(*m));
		memcpy(m->key, key, 32);
		m->since_ms = m->heard_ms = now_ms;
		return m;
	}
	/* an authenticated datagram from it is first-hand proof of life */
	set_state(m, PEER_ALIVE, now_ms);
	m->heard_ms = now_ms;
	return m;
}

void peer_swim_forget(struct peer_swim *s, const uint8_t key[32])
{
	struct peer_swim_member *m = peer_swim_find(s, key);

	if (m)
		*m = s->m[--s->n];
}

/* a direct path to @key: a session with it, or no @direct hook to ask */
static bool has_direct(const struct peer_swim *s, const uint8_t key[32])
{
	return !s->direct || s->direct(s->ctx, key);
}

/* a PING of @m's current probe into @a */
static void add_ping(struct peer_swim_action *a, const struct peer_swim_member *m)
{
	a->kind = PEER_SA_PING;
	memcpy(a->to, m->key, 32);
	a->seq = m->ping_seq;
}

static int live_helpers(struct peer_swim *s, const struct peer_swim_member *t,
			struct peer_swim_action *act, int max)
{
	int n = 0;

	for (int i = 0; i < s->n && n < PEER_SWIM_K && n < max; i++) {
		struct peer_swim_member *h = &s->m[(s->rr + i) % s->n];

		if (h == t || h->state != PEER_ALIVE || !has_direct(s, h->key))
			continue;
		act[n].kind = PEER_SA_PING_REQ;
		memcpy(act[n].to, h->key, 32);
		memcpy(act[n].target, t->key, 32);
		act[n].seq = t->ping_seq;
		n++;
	}
	return n;
}

/* Lifeguard's local health: @v scaled by the multiplier */
static uint64_t scaled(const struct peer_swim *s, uint64_t v)
{
	return v * (s->lhm + 1);
}

static void health_worse(struct peer_swim *s)
{
	if (s->lhm < PEER_SWIM_LHM_MAX)
		s->lhm++;
}

/* suspect_ms scaled by floor(log2(n + 1)), at least once */
static uint64_t suspect_timeout(const struct peer_swim *s)
{
	uint64_t k = 0;

	for (uint32_t v = (uint32_t)s->n + 1; v > 1; v >>= 1)
		k++;
	return (uint64_t)s->suspect_ms * (k ? k : 1);
}

int peer_swim_tick(struct peer_swim *s, uint64_t now_ms,
		   struct peer_swim_action *act, int max)
{
	int n = 0;

	for (int i = 0; i < s->n; i++) {
		struct peer_swim_member *m = &s->m[i];

		if (m->ping_seq) {
			uint64_t age = now_ms - m->ping_at_ms;

			if (age >= scaled(s, s->period_ms)) {
				m->ping_seq = 0;
				if (m->state == PEER_ALIVE)
					set_state(m, PEER_SUSPECT, now_ms);
				health_worse(s);
			} else if (age >= scaled(s, s->period_ms / 2) && !m->req_sent) {
				m->req_sent = true;
				/* the PING once more, besides the helpers: at 10%
				 * loss a direct round trip fails 19% of the time, and
				 * every false suspicion costs a wave of STATEs
				 * through the whole community, then its refutation */
				if (n < max && has_direct(s, m->key))
					add_ping(&act[n++], m);
				n += live_helpers(s, m, act + n, max - n);
			}
		}
		if (m->state == PEER_SUSPECT &&
		    now_ms - m->since_ms >= suspect_timeout(s))
			set_state(m, PEER_DEAD, now_ms);
	}
	if (now_ms >= s->next_probe_ms && s->n && n < max) {
		s->next_probe_ms = now_ms + scaled(s, s->period_ms);
		/*
		 * Dead members are probed too: one that comes back answers and
		 * is alive again without waiting for its next announcement.
		 */
		for (int i = 0; i < s->n; i++) {
			struct peer_swim_member *m = &s->m[s->rr++ % s->n];
			int k;

			if (m->ping_seq)
				continue;
			/* 1 .. 2^31 - 1: the upper half is for relayed pings
			 * (docs/protocol.md, Liveness) */
			s->seq = (s->seq + 1) & 0x7fffffffu;
			if (!s->seq)
				s->seq = 1;
			m->ping_seq = s->seq;
			m->ping_at_ms = now_ms;
			m->req_sent = false;
			if (has_direct(s, m->key)) {
				add_ping(&act[n++], m);
				break;
			}
			/* no session with it (yet): through helpers at once */
			m->req_sent = true;
			k = live_helpers(s, m, act + n, max - n);
			n += k;
			/* nobody to carry the probe: not a failure of the
			 * member's while it was heard lately */
			if (!k && now_ms - m->heard_ms < 3ull * s->period_ms)
				m->ping_seq = 0;
			break;
		}
	}
	return n;
}

void peer_swim_ack(struct peer_swim *s, uint32_t seq, uint64_t now_ms)
{
	if (!seq)
		return;
	for (int i = 0; i < s->n; i++) {
		struct peer_swim_member *m = &s->m[i];

		if (m->ping_seq == seq) {
			uint64_t age = now_ms - m->ping_at_ms;

			/* late (after the PING_REQ stage's unscaled time), or
			 * clearly in time: our health either way */
			if (age >= s->period_ms / 2)
				health_worse(s);
			else if (age < s->period_ms / 4 && s->lhm)
				s->lhm--;
			m->ping_seq = 0;
			set_state(m, PEER_ALIVE, now_ms);
		}
	}
}

bool peer_swim_update(struct peer_swim *s, const uint8_t key[32], uint8_t state,
		      uint64_t inc, uint64_t now_ms)
{
	struct peer_swim_member *m;

	if (state > PEER_DEAD)
		return false;
	if (!memcmp(key, s->self, 32)) {
		/* refute: only we may raise our incarnation. A claim far
		 * above it is no real suspicion (nobody but us raises it):
		 * following it would let one member push us to the top of
		 * the range, where the next refutation wraps to 0 and we
		 * stay dead for good */
		if (state != PEER_ALIVE && inc >= s->inc &&
		    inc - s->inc <= PEER_SWIM_INC_JUMP) {
			s->inc = inc + 1;
			/* others did not hear from us in time */
			health_worse(s);
			return true;
		}
		return false;
	}
	m = peer_swim_find(s, key);
	if (!m)
		return false;
	/* the same bound for others: a STATE is not signed by its subject,
	 * so any member could otherwise pin a victim at UINT64_MAX */
	if (inc > m->inc && inc - m->inc > PEER_SWIM_INC_JUMP)
		return false;
	if (inc > m->inc || (inc == m->inc && state > m->state)) {
		m->inc = inc;
		set_state(m, state, now_ms);
		return true;
	}
	return false;
}
