// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Sessions between two members: the keys of completed handshakes
 * (handshake.c) and the transport messages sealed under them.
 *
 * A session holds up to four key pairs, like WireGuard's three: @cur, which we
 * send with; @prev, the one before the last handshake, still opened for
 * datagrams in flight; @next, the keys a responder derived, used only
 * once the initiator's first transport message opens under them (key
 * confirmation: a replayed initiation never displaces a working session),
 * and @next_old, the ones answered before (an initiator's retry that
 * crossed a slow answer completes with either).
 * Every key pair comes from a handshake with fresh ephemeral keys on both
 * sides, so its counter (the nonce) starts at 0; it only grows, and a key
 * pair is dropped long before it could wrap (PEER_REJECT_AFTER_MS,
 * PEER_REKEY_AFTER_MSGS). Within a key pair a WireGuard-style 64-message
 * window refuses replays.
 *
 * Transport message: version, type 5, two zero bytes, the receiver's
 * index (4), the counter (8), then ChaCha20-Poly1305-IETF of the plaintext
 * with those 16 bytes as additional data and nonce 4 zero bytes || counter.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "le.h"
#include "peer.h"

/* a counter is never used past this (Noise reserves 2^64 - 1) */
#define REJECT_AFTER_MSGS	(UINT64_MAX - (1ull << 13))

int peer_session_init(struct peer_session *s, const struct peer_local *me,
		      const uint8_t peer_pk[32])
{
	int ret;

	peer_session_wipe(s);
	memcpy(s->peer, peer_pk, 32);
	if (!memcmp(me->pk, peer_pk, 32))
		return -EINVAL;
	if (crypto_sign_ed25519_pk_to_curve25519(s->peer_x, peer_pk))
		return -PEER_E_MALFORMED;	/* not a valid curve point */
	/* the static-static DH of every handshake with this peer, once */
	ret = crypto_scalarmult(s->ss, me->xsk, s->peer_x);
	if (ret)
		return -PEER_E_MALFORMED;	/* low-order point */
	s->ready = true;
	return 0;
}

void peer_session_wipe(struct peer_session *s)
{
	sodium_memzero(s, sizeof(*s));
}

static bool usable(const struct peer_keypair *kp, uint64_t now_ms)
{
	return kp->valid && kp->confirmed &&
	       now_ms - kp->born_ms < PEER_REJECT_AFTER_MS &&
	       kp->tx_counter < REJECT_AFTER_MSGS;
}

bool peer_session_ready(const struct peer_session *s, uint64_t now_ms)
{
	return s->ready && usable(&s->cur, now_ms);
}

void peer_session_stale(struct peer_session *s)
{
	s->renew = true;
}

bool peer_session_want_handshake(const struct peer_session *s, uint64_t now_ms)
{
	const struct peer_keypair *kp = &s->cur;

	if (!s->ready)
		return false;
	/*
	 * In flight: wait its retry time, drawn when it was sent, and at
	 * least the one the round trips measured since call for (@hs_base_ms
	 * rose: answers take longer than when it was sent, and this one's is
	 * likely on its way too).
	 */
	if (s->hs_pending &&
	    (now_ms - s->hs_sent_ms < s->hs_wait_ms ||
	     now_ms - s->hs_sent_ms < peer_hs_backoff(s->hs_base_ms, s->hs_tries)))
		return false;
	/*
	 * We answered an initiation: its first transport message is on its
	 * way. Waited for twice the first retry time: a lost answer the
	 * initiator retries itself, and a late confirmation (a loaded host)
	 * is not worth a second handshake; only a lost one is.
	 */
	if (s->next.valid && now_ms - s->next.born_ms < peer_hs_backoff(s->hs_base_ms, 2))
		return false;
	if (!usable(kp, now_ms) || s->renew)
		return true;
	/* only the initiator renews on time, unless it fails to: no two
	 * handshakes for one renewal */
	if (now_ms - kp->born_ms >= (kp->initiator ? PEER_REKEY_AFTER_MS :
					PEER_REKEY_RESPONDER_MS))
		return true;
	return kp->tx_counter >= PEER_REKEY_AFTER_MSGS;
}

static struct peer_keypair *find(struct peer_session *s, uint32_t index)
{
	if (!index)
		return NULL;
	if (s->cur.valid && s->cur.local_index == index)
		return &s->cur;
	if (s->next.valid && s->next.local_index == index)
		return &s->next;
	if (s->next_old.valid && s->next_old.local_index == index)
		return &s->next_old;
	if (s->prev.valid && s->prev.local_index == index)
		return &s->prev;
	return NULL;
}

bool peer_session_owns(const struct peer_session *s, uint32_t index)
{
	return s->ready && find((struct peer_session *)s, index);
}

static void nonce12(uint8_t nonce[12], uint64_t n)
{
	memset(nonce, 0, 4);
	put64(nonce + 4, n);
}

int peer_session_seal(struct peer_session *s, uint64_t now_ms,
		      const uint8_t *pt, size_t pt_len, uint8_t *out, size_t cap)
{
	struct peer_keypair *kp = &s->cur;
	uint8_t nonce[12];
	unsigned long long clen;

	if (!peer_session_ready(s, now_ms))
		return -ENOTCONN;
	if (cap < PEER_SEALED_HDR + pt_len + PEER_TAG_BYTES ||
	    PEER_SEALED_HDR + pt_len + PEER_TAG_BYTES > PEER_MTU)
		return -EMSGSIZE;
	out[0] = PEER_VERSION;
	out[1] = PEER_D_SEALED;
	out[2] = out[3] = 0;
	put32(out + 4, kp->remote_index);
	put64(out + 8, kp->tx_counter);
	nonce12(nonce, kp->tx_counter);
	kp->tx_counter++;
	crypto_aead_chacha20poly1305_ietf_encrypt(out + PEER_SEALED_HDR, &clen,
						  pt, pt_len, out, PEER_SEALED_HDR,
						  NULL, nonce, kp->tx);
	return (int)(PEER_SEALED_HDR + clen);
}

/* the window counts counter + 1, so that 0 (rx_top) means none yet */
static bool replay_seen(const struct peer_keypair *kp, uint64_t c)
{
	if (c > kp->rx_top)
		return false;
	if (kp->rx_top - c >= PEER_REPLAY_WINDOW)
		return true;
	return kp->rx_bits >> (kp->rx_top - c) & 1;
}

static void replay_mark(struct peer_keypair *kp, uint64_t c)
{
	if (c > kp->rx_top) {
		uint64_t sh = c - kp->rx_top;

		kp->rx_bits = sh >= 64 ? 0 : kp->rx_bits << sh;
		kp->rx_top = c;
	}
	kp->rx_bits |= 1ull << (kp->rx_top - c);
}

int peer_session_open(struct peer_session *s, const struct peer_sealed *m,
		      uint64_t now_ms, uint8_t *pt, size_t cap)
{
	struct peer_keypair *kp;
	uint8_t nonce[12];
	unsigned long long plen;

	if (!s->ready)
		return -ENOTCONN;
	if (m->ct_len < PEER_TAG_BYTES)
		return -PEER_E_TRUNCATED;
	if (cap < m->ct_len - PEER_TAG_BYTES)
		return -EMSGSIZE;
	/* a session we never had, or had before a restart or a rekey */
	kp = find(s, m->receiver_index);
	if (!kp || now_ms - kp->born_ms >= PEER_REJECT_AFTER_MS ||
	    m->counter >= REJECT_AFTER_MSGS)
		return -PEER_E_REPLAYED;
	if (replay_seen(kp, m->counter + 1))
		return -PEER_E_REPLAYED;
	nonce12(nonce, m->counter);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, &plen, NULL, m->ct,
						      m->ct_len, m->hdr,
						      PEER_SEALED_HDR, nonce, kp->rx))
		return -PEER_E_FORGED;
	replay_mark(kp, m->counter + 1);
	/*
	 * The peer still sends with the keys before our last handshake, long
	 * after it answered: our first message under the new ones never
	 * confirmed them there (lost, or a replayed initiation took their
	 * place in its @next). Make another session rather than send into
	 * the void until the renewal.
	 */
	if (kp == &s->prev && s->cur.initiator &&
	    now_ms - s->cur.born_ms >= PEER_UNCONFIRMED_MS)
		s->renew = true;
	if (kp == &s->next || kp == &s->next_old) {
		/* the initiator holds these keys: they become the ones we use,
		 * the other ones answered are for nobody */
		sodium_memzero(&s->prev, sizeof(s->prev));
		s->prev = s->cur;
		s->cur = *kp;
		s->cur.confirmed = true;
		sodium_memzero(&s->next, sizeof(s->next));
		sodium_memzero(&s->next_old, sizeof(s->next_old));
		s->renew = false;
		s->handshakes++;
	}
	return (int)plen;
}
