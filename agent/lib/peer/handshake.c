// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The session handshake: Noise_KK_25519_ChaChaPoly_BLAKE2b (the Noise
 * Protocol Framework, revision 34), built on libsodium's primitives.
 *
 *   KK:
 *     -> s
 *     <- s
 *     ...
 *     -> e, es, ss        initiation (type 3): payload = initiator's index
 *     <- e, ee, se        response   (type 4): payload = responder's index
 *
 * Why KK and not IK or XX: every member already knows every other member's
 * static key (membership records), so nothing needs to travel or be
 * hidden (announcements name every key in clear anyway). KK lets the
 * initiation carry the sender's key in clear, so a responder refuses a
 * stranger with a table lookup before any Diffie-Hellman, and it is one
 * AEAD block shorter than IK. The prologue binds the handshake to the
 * community: "phloem-noise-v1" || community id.
 *
 * Both ephemeral keys are fresh for every handshake, so every session has
 * keys of its own: its transport nonces start at 0 and can never repeat a
 * (key, nonce) pair of another session, whatever the clock or a restart
 * did. A recorded session stays closed to whoever later steals a static
 * key (forward secrecy: ee and se need an ephemeral secret, wiped once the
 * handshake is done).
 *
 * Replayed initiations: a responder's keys stay unconfirmed (@next) until
 * the initiator's first transport message opens under them, so a replay
 * (which nobody can complete: that needs the initiator's ephemeral secret)
 * never replaces a working session; the last PEER_SEEN_INITS ephemeral keys
 * taken are refused before any Diffie-Hellman, and peer_ratelimit bounds
 * the rest per source address. No clock, no persisted counter: a gateway
 * without a real-time clock, or whose clock stepped back, is never refused.
 *
 * HASH is BLAKE2b-512 (crypto_generichash, 64 bytes), HMAC per RFC 2104
 * over it (block 128), HKDF as the Noise specification's section 4.3,
 * ENCRYPT is ChaCha20-Poly1305-IETF with nonce 4 zero bytes || le64(n).
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "le.h"
#include "peer.h"

static const char PROTOCOL[] = "Noise_KK_25519_ChaChaPoly_BLAKE2b";
static const char PROLOGUE[] = "phloem-noise-v1";

#define HASHLEN	64
#define BLOCKLEN 128

/** struct noise - the Noise SymmetricState and its CipherState */
struct noise {
	uint8_t h[HASHLEN], ck[HASHLEN];
	uint8_t k[32];
	uint64_t n;
};

static void hmac(uint8_t out[HASHLEN], const uint8_t key[HASHLEN],
		 const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	crypto_generichash_state st;
	uint8_t pad[BLOCKLEN], inner[HASHLEN];
	int i;

	/* keys are HASHLEN bytes, shorter than a block: zero-padded */
	for (i = 0; i < BLOCKLEN; i++)
		pad[i] = (i < HASHLEN ? key[i] : 0) ^ 0x36;
	crypto_generichash_init(&st, NULL, 0, HASHLEN);
	crypto_generichash_update(&st, pad, BLOCKLEN);
	crypto_generichash_update(&st, a, alen);
	if (blen)
		crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, inner, HASHLEN);
	for (i = 0; i < BLOCKLEN; i++)
		pad[i] = (i < HASHLEN ? key[i] : 0) ^ 0x5c;
	crypto_generichash_init(&st, NULL, 0, HASHLEN);
	crypto_generichash_update(&st, pad, BLOCKLEN);
	crypto_generichash_update(&st, inner, HASHLEN);
	crypto_generichash_final(&st, out, HASHLEN);
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
	sodium_memzero(&st, sizeof(st));
}

/* HKDF(chaining_key, input_key_material, 2) */
static void hkdf2(const uint8_t ck[HASHLEN], const uint8_t *ikm, size_t ikm_len,
		  uint8_t out1[HASHLEN], uint8_t out2[HASHLEN])
{
	static const uint8_t one = 1, two = 2;
	uint8_t tk[HASHLEN], o1[HASHLEN];

	hmac(tk, ck, ikm, ikm_len, NULL, 0);
	hmac(o1, tk, &one, 1, NULL, 0);
	hmac(out2, tk, o1, HASHLEN, &two, 1);
	memcpy(out1, o1, HASHLEN);
	sodium_memzero(tk, sizeof(tk));
	sodium_memzero(o1, sizeof(o1));
}

static void mix_hash(struct noise *ns, const uint8_t *d, size_t len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, HASHLEN);
	crypto_generichash_update(&st, ns->h, HASHLEN);
	crypto_generichash_update(&st, d, len);
	crypto_generichash_final(&st, ns->h, HASHLEN);
}

static void mix_key(struct noise *ns, const uint8_t ikm[32])
{
	uint8_t tk[HASHLEN];

	hkdf2(ns->ck, ikm, 32, ns->ck, tk);
	memcpy(ns->k, tk, 32);		/* HASHLEN 64: truncated to 32 */
	ns->n = 0;
	sodium_memzero(tk, sizeof(tk));
}

static void nonce12(uint8_t nonce[12], uint64_t n)
{
	memset(nonce, 0, 4);
	put64(nonce + 4, n);
}

static void encrypt_and_hash(struct noise *ns, const uint8_t *pt, size_t len,
			     uint8_t *out)
{
	uint8_t nonce[12];

	nonce12(nonce, ns->n++);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, len, ns->h,
						  HASHLEN, NULL, nonce, ns->k);
	mix_hash(ns, out, len + PEER_TAG_BYTES);
}

static int decrypt_and_hash(struct noise *ns, const uint8_t *ct, size_t len,
			    uint8_t *pt)
{
	uint8_t nonce[12];

	nonce12(nonce, ns->n++);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, len,
						      ns->h, HASHLEN, nonce, ns->k))
		return -PEER_E_FORGED;
	mix_hash(ns, ct, len);
	return 0;
}

/* Split(): the initiator sends with the first key, receives with the second */
static void split(const struct noise *ns, uint8_t k1[32], uint8_t k2[32])
{
	static const uint8_t zero;
	uint8_t t1[HASHLEN], t2[HASHLEN];

	hkdf2(ns->ck, &zero, 0, t1, t2);
	memcpy(k1, t1, 32);
	memcpy(k2, t2, 32);
	sodium_memzero(t1, sizeof(t1));
	sodium_memzero(t2, sizeof(t2));
}

/* Initialize(KK, prologue, pre-messages: the initiator's s, the responder's s) */
static void noise_start(struct noise *ns, const uint8_t community[32],
			const uint8_t init_s[32], const uint8_t resp_s[32])
{
	uint8_t pro[sizeof(PROLOGUE) - 1 + 32];

	memset(ns, 0, sizeof(*ns));
	memcpy(ns->h, PROTOCOL, sizeof(PROTOCOL) - 1);	/* <= HASHLEN: padded */
	memcpy(ns->ck, ns->h, HASHLEN);
	memcpy(pro, PROLOGUE, sizeof(PROLOGUE) - 1);
	memcpy(pro + sizeof(PROLOGUE) - 1, community, 32);
	mix_hash(ns, pro, sizeof(pro));
	mix_hash(ns, init_s, 32);
	mix_hash(ns, resp_s, 32);
}

/* DH(); a low-order point gives all zeros, which libsodium refuses */
static int dh_mix(struct noise *ns, const uint8_t sk[32], const uint8_t pk[32])
{
	uint8_t shared[32];
	int ret = crypto_scalarmult(shared, sk, pk) ? -PEER_E_MALFORMED : 0;

	if (!ret)
		mix_key(ns, shared);
	sodium_memzero(shared, sizeof(shared));
	return ret;
}

static uint32_t new_index(void)
{
	uint32_t i;

	do
		i = randombytes_random();
	while (!i);			/* 0 marks "none" */
	return i;
}

int peer_local_init(struct peer_local *l, const uint8_t pk[32],
		    const uint8_t sk[64], const uint8_t community[32])
{
	memset(l, 0, sizeof(*l));
	memcpy(l->pk, pk, 32);
	memcpy(l->community, community, 32);
	if (crypto_sign_ed25519_pk_to_curve25519(l->xpk, pk) ||
	    crypto_sign_ed25519_sk_to_curve25519(l->xsk, sk))
		return -PEER_E_MALFORMED;
	return 0;
}

void peer_local_wipe(struct peer_local *l)
{
	sodium_memzero(l, sizeof(*l));
}

static void hdr(uint8_t *out, uint8_t type)
{
	out[0] = PEER_VERSION;
	out[1] = type;
	out[2] = out[3] = 0;
}

/*
 * How long initiation number @tries (1: the first) waits for its answer:
 * PEER_REKEY_TIMEOUT_MS doubling up to PEER_REKEY_BACKOFF_MS, plus up to a
 * quarter of that at random, so that the 2 x 1225 initiations of a street
 * restarting at once neither retry in step nor wait seconds for one lost
 * datagram: a loss costs 250 ms the first time, and a peer that is gone
 * costs one initiation every 8 to 10 s.
 */
uint32_t peer_hs_wait(uint32_t tries)
{
	return peer_hs_wait_from(0, tries);
}

uint32_t peer_hs_backoff(uint32_t base_ms, uint32_t tries)
{
	uint32_t w = base_ms ? base_ms : PEER_REKEY_TIMEOUT_MS;

	for (uint32_t i = 1; i < tries && w < PEER_REKEY_BACKOFF_MS; i++)
		w *= 2;
	return w > PEER_REKEY_BACKOFF_MS ? PEER_REKEY_BACKOFF_MS : w;
}

uint32_t peer_hs_wait_from(uint32_t base_ms, uint32_t tries)
{
	uint32_t w = peer_hs_backoff(base_ms, tries);

	return w + randombytes_uniform(w / 4 + 1);
}

uint32_t peer_hs_base(uint32_t *srtt_ms, uint32_t sample_ms)
{
	uint32_t b;

	if (sample_ms)
		*srtt_ms = *srtt_ms ? (7 * *srtt_ms + sample_ms) / 8 : sample_ms;
	b = 2 * *srtt_ms;
	if (b < PEER_REKEY_TIMEOUT_MS)
		b = PEER_REKEY_TIMEOUT_MS;
	return b > PEER_HS_BASE_MAX_MS ? PEER_HS_BASE_MAX_MS : b;
}

int peer_session_initiate(struct peer_session *s, const struct peer_local *me,
			  uint64_t now_ms, uint8_t *out, size_t cap)
{
	struct noise ns;
	uint8_t idx[4];
	int ret;

	if (!s->ready)
		return -ENOTCONN;
	if (cap < PEER_HS_INIT_BYTES)
		return -EMSGSIZE;
	noise_start(&ns, me->community, me->xpk, s->peer_x);
	/* a retry: the answer to the one before may still come */
	if (s->hs_pending) {
		s->hs_old.index = s->hs_index;
		memcpy(s->hs_old.esk, s->hs_esk, 32);
		memcpy(s->hs_old.h, s->hs_h, HASHLEN);
		memcpy(s->hs_old.ck, s->hs_ck, HASHLEN);
		s->hs_old.sent_ms = s->hs_sent_ms;
	}
	hdr(out, PEER_D_HS_INIT);
	memcpy(out + 4, me->pk, 32);
	memcpy(out + 36, s->peer, 32);
	/* e */
	randombytes_buf(s->hs_esk, 32);
	crypto_scalarmult_base(out + 68, s->hs_esk);
	mix_hash(&ns, out + 68, 32);
	/* es, ss */
	ret = dh_mix(&ns, s->hs_esk, s->peer_x);
	if (ret)
		goto out;
	mix_key(&ns, s->ss);
	s->hs_index = new_index();
	put32(idx, s->hs_index);
	encrypt_and_hash(&ns, idx, 4, out + 100);
	memcpy(s->hs_h, ns.h, HASHLEN);
	memcpy(s->hs_ck, ns.ck, HASHLEN);
	s->hs_pending = true;
	s->hs_sent_ms = now_ms;
	s->hs_tries++;
	s->hs_wait_ms = peer_hs_wait_from(s->hs_base_ms, s->hs_tries);
	ret = PEER_HS_INIT_BYTES;
out:
	sodium_memzero(&ns, sizeof(ns));
	return ret;
}

bool peer_session_awaits(const struct peer_session *s, uint32_t index)
{
	return s->ready && s->hs_pending && index &&
	       (index == s->hs_index || index == s->hs_old.index);
}

/* nothing in flight any more: forget the ephemeral secrets */
static void initiation_wipe(struct peer_session *s)
{
	s->hs_pending = false;
	s->hs_index = 0;
	sodium_memzero(s->hs_esk, 32);
	sodium_memzero(s->hs_h, HASHLEN);
	sodium_memzero(s->hs_ck, HASHLEN);
	sodium_memzero(&s->hs_old, sizeof(s->hs_old));
}

static void keypair_wipe(struct peer_keypair *kp)
{
	sodium_memzero(kp, sizeof(*kp));
}

static bool seen_before(const struct peer_session *s, const uint8_t eph[32])
{
	for (unsigned i = 0; i < PEER_SEEN_INITS && i < s->nseen; i++)
		if (!sodium_memcmp(s->seen[i], eph, 32))
			return true;
	return false;
}

int peer_session_respond(struct peer_session *s, const struct peer_local *me,
			 const struct peer_hs_init *m, uint64_t now_ms,
			 uint8_t *out, size_t cap)
{
	struct noise ns;
	struct peer_keypair kp = { 0 };
	uint8_t idx[4], esk[32], k1[32], k2[32];
	int ret;

	if (!s->ready)
		return -ENOTCONN;
	if (cap < PEER_HS_RESP_BYTES)
		return -EMSGSIZE;
	if (memcmp(m->sender, s->peer, 32))
		return -PEER_E_UNTRUSTED;
	if (memcmp(m->receiver, me->pk, 32))
		return -PEER_E_FOREIGN;
	/* a copy of an initiation taken already: refused before any DH */
	if (seen_before(s, m->eph))
		return -PEER_E_REPLAYED;
	/*
	 * Both initiated at once: the smaller key's initiation wins, so both
	 * end with the same one session. The larger key answers (below, and
	 * drops its own); the smaller ignores this one while its own is in
	 * flight, however late: it retries its own, which the larger always
	 * answers. (Ignored only while fresh, as it was, a host too slow to
	 * retry on time answered as well: both sides dropped their own
	 * initiation, the answers to them found nothing in flight, and both
	 * initiated again.)
	 */
	if (s->hs_pending && memcmp(me->pk, s->peer, 32) < 0)
		return 0;

	noise_start(&ns, me->community, s->peer_x, me->xpk);
	/* e, es, ss */
	mix_hash(&ns, m->eph, 32);
	ret = dh_mix(&ns, me->xsk, m->eph);
	if (ret)
		goto out;
	mix_key(&ns, s->ss);
	ret = decrypt_and_hash(&ns, m->ct, 4 + PEER_TAG_BYTES, idx);
	if (ret)
		goto out;
	kp.remote_index = get32(idx);
	if (!kp.remote_index) {
		ret = -PEER_E_MALFORMED;
		goto out;
	}
	memcpy(s->seen[s->nseen++ % PEER_SEEN_INITS], m->eph, 32);

	/* e, ee, se */
	hdr(out, PEER_D_HS_RESP);
	put32(out + 4, kp.remote_index);
	randombytes_buf(esk, 32);
	crypto_scalarmult_base(out + 8, esk);
	mix_hash(&ns, out + 8, 32);
	ret = dh_mix(&ns, esk, m->eph);
	if (!ret)
		ret = dh_mix(&ns, esk, s->peer_x);
	if (ret)
		goto out;
	kp.local_index = new_index();
	put32(idx, kp.local_index);
	encrypt_and_hash(&ns, idx, 4, out + 40);
	split(&ns, k1, k2);
	memcpy(kp.rx, k1, 32);
	memcpy(kp.tx, k2, 32);
	kp.valid = true;
	kp.born_ms = now_ms;
	keypair_wipe(&s->next_old);
	s->next_old = s->next;
	s->next = kp;
	/* ours, if any, lost (or is stale): the peer answers this one's */
	if (s->hs_pending)
		initiation_wipe(s);
	s->hs_tries = 0;
	ret = PEER_HS_RESP_BYTES;
out:
	sodium_memzero(&ns, sizeof(ns));
	sodium_memzero(&kp, sizeof(kp));
	sodium_memzero(esk, sizeof(esk));
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	return ret;
}

int peer_session_complete(struct peer_session *s, const struct peer_local *me,
			  const struct peer_hs_resp *m, uint64_t now_ms)
{
	struct noise ns;
	struct peer_keypair kp = { 0 };
	uint8_t idx[4], k1[32], k2[32];
	const uint8_t *esk;
	uint64_t sent;
	int ret;

	if (!peer_session_awaits(s, m->receiver_index))
		return -PEER_E_REPLAYED;
	memset(&ns, 0, sizeof(ns));
	if (m->receiver_index == s->hs_index) {
		memcpy(ns.h, s->hs_h, HASHLEN);
		memcpy(ns.ck, s->hs_ck, HASHLEN);
		esk = s->hs_esk;
		sent = s->hs_sent_ms;
	} else {
		memcpy(ns.h, s->hs_old.h, HASHLEN);
		memcpy(ns.ck, s->hs_old.ck, HASHLEN);
		esk = s->hs_old.esk;
		sent = s->hs_old.sent_ms;
	}
	/* e, ee, se */
	mix_hash(&ns, m->eph, 32);
	ret = dh_mix(&ns, esk, m->eph);
	if (!ret)
		ret = dh_mix(&ns, me->xsk, m->eph);
	if (ret)
		goto out;
	/* a forged response leaves the initiation in flight */
	ret = decrypt_and_hash(&ns, m->ct, 4 + PEER_TAG_BYTES, idx);
	if (ret)
		goto out;
	kp.remote_index = get32(idx);
	if (!kp.remote_index) {
		ret = -PEER_E_MALFORMED;
		goto out;
	}
	split(&ns, k1, k2);
	memcpy(kp.tx, k1, 32);
	memcpy(kp.rx, k2, 32);
	kp.valid = kp.initiator = kp.confirmed = true;
	kp.local_index = m->receiver_index;
	kp.born_ms = now_ms;
	keypair_wipe(&s->prev);
	s->prev = s->cur;
	s->cur = kp;
	initiation_wipe(s);
	s->hs_tries = 0;
	s->renew = false;
	s->handshakes++;
	s->hs_rtt_ms = now_ms > sent ? (uint32_t)(now_ms - sent) : 1;
	ret = 0;
out:
	sodium_memzero(&ns, sizeof(ns));
	sodium_memzero(&kp, sizeof(kp));
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	return ret;
}

/* ---- how many initiations a node sends ---- */

/*
 * A token bucket counted in thousandths of a token (@milli, refilled at
 * @at_ms): @per_s tokens a second, at most @burst. Both the pace of our
 * own initiations and the rate limit per source address below.
 */
static void milli_refill(uint32_t *milli, uint64_t *at_ms, uint32_t per_s,
			 uint32_t burst, uint64_t now_ms)
{
	uint64_t t;

	if (now_ms <= *at_ms)
		return;
	t = *milli + (now_ms - *at_ms) * per_s;
	*milli = t > burst * 1000 ? burst * 1000 : (uint32_t)t;
	*at_ms = now_ms;
}

bool peer_hs_pace_allow(struct peer_hs_pace *pc, const struct peer_session *s,
			bool backlog, uint64_t now_ms)
{
	bool first = !s->handshakes;
	uint32_t need;

	/*
	 * A retry while datagrams wait unread in our socket: its answer may
	 * be one of them. The host is slow, not the link lossy, and one more
	 * initiation is three more X25519 for a responder as busy as we are.
	 * Not for ever: past PEER_HS_BASE_MAX_MS, a flood that keeps our
	 * queue full does not keep a member without a session.
	 */
	if (backlog && s->hs_pending && now_ms - s->hs_sent_ms < PEER_HS_BASE_MAX_MS)
		return false;
	if (!pc->primed) {
		pc->primed = true;
		pc->at_ms = now_ms;
		pc->milli = PEER_HS_PACE_BURST * 1000;
	} else {
		milli_refill(&pc->milli, &pc->at_ms, PEER_HS_PACE_PER_S,
			     PEER_HS_PACE_BURST, now_ms);
	}
	/* the last PEER_HS_PACE_RESERVE are for members never reached */
	need = (first ? 1 : 1 + PEER_HS_PACE_RESERVE) * 1000;
	if (pc->milli < need)
		return false;
	/*
	 * Retries have a budget of their own: at 10% loss a street of 50
	 * needs about ten in its first second; a host too slow to answer
	 * within the retry time (no round trip measured yet) would otherwise
	 * redo every initiation of its first burst, several times over.
	 */
	if (s->hs_pending &&
	    !peer_budget_take(&pc->retries, 1000 / PEER_HS_RETRY_PER_S, PEER_HS_RETRY_PER_S, now_ms))
		return false;
	pc->milli -= 1000;
	return true;
}

/* ---- rate limit of initiations per source address ---- */

void peer_ratelimit_init(struct peer_ratelimit *rl)
{
	memset(rl, 0, sizeof(*rl));
	randombytes_buf(rl->key, sizeof(rl->key));
}

bool peer_ratelimit_allow(struct peer_ratelimit *rl, const void *addr,
			  size_t len, uint64_t now_ms)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t tag;
	int i, free_i = -1, old_i = 0;

	crypto_shorthash(h, addr, len, rl->key);
	tag = get64(h) | 1;		/* never 0, the free mark */
	for (i = 0; i < PEER_RL_SLOTS; i++) {
		if (rl->slot[i].tag == tag)
			break;
		if (!rl->slot[i].tag && free_i < 0)
			free_i = i;
		if (rl->slot[i].at_ms < rl->slot[old_i].at_ms)
			old_i = i;
	}
	if (i == PEER_RL_SLOTS) {
		/* new address: a full bucket, in a free slot or the oldest */
		i = free_i >= 0 ? free_i : old_i;
		rl->slot[i].tag = tag;
		rl->slot[i].at_ms = now_ms;
		rl->slot[i].milli = PEER_RL_BURST * 1000;
	} else {
		milli_refill(&rl->slot[i].milli, &rl->slot[i].at_ms, PEER_RL_RATE,
			     PEER_RL_BURST, now_ms);
	}
	if (rl->slot[i].milli < 1000)
		return false;
	rl->slot[i].milli -= 1000;
	return true;
}
