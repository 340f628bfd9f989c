// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Sessions between two members. There is no handshake round trip: both
 * sides already know each other's Ed25519 key (membership), so each
 * converts both keys to X25519 and runs crypto_kx, the smaller public key
 * taking the client role. The per-direction keys are then bound to both
 * sides' epochs (start times, carried in announcements and in every sealed
 * header):
 *
 *   key = BLAKE2b-256(key = kx key, "phloem-session-v1" || sender epoch ||
 *                     receiver epoch)
 *
 * so a datagram recorded before either side restarted never opens again,
 * and the 64-bit counter (the XChaCha20 nonce) can restart at 1 with each
 * epoch without ever reusing a (key, nonce) pair. Within an epoch a
 * WireGuard-style 64-message window refuses replays.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "le.h"
#include "peer.h"

static const char DOM_SESS[] = "phloem-session-v1";


static void derive(uint8_t out[32], const uint8_t kx[32], uint64_t from_epoch,
		   uint64_t to_epoch)
{
	uint8_t m[sizeof(DOM_SESS) - 1 + 16];

	memcpy(m, DOM_SESS, sizeof(DOM_SESS) - 1);
	put64(m + sizeof(DOM_SESS) - 1, from_epoch);
	put64(m + sizeof(DOM_SESS) - 1 + 8, to_epoch);
	crypto_generichash(out, 32, m, sizeof(m), kx, 32);
}

static void rekey(struct peer_session *s)
{
	derive(s->tx_key, s->kx_tx, s->my_epoch, s->peer_epoch);
	derive(s->rx_key, s->kx_rx, s->peer_epoch, s->my_epoch);
}

int peer_session_init(struct peer_session *s, const uint8_t my_pk[32],
		      const uint8_t my_sk[64], const uint8_t peer_pk[32],
		      uint64_t my_epoch)
{
	uint8_t xpk[32], xsk[32], ppk[32];
	int ret;

	memset(s, 0, sizeof(*s));
	memcpy(s->peer, peer_pk, 32);
	if (!memcmp(my_pk, peer_pk, 32))
		return -EINVAL;
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, my_pk) ||
	    crypto_sign_ed25519_sk_to_curve25519(xsk, my_sk) ||
	    crypto_sign_ed25519_pk_to_curve25519(ppk, peer_pk))
		return -PEER_E_MALFORMED;	/* not a valid curve point */
	if (memcmp(my_pk, peer_pk, 32) < 0)
		ret = crypto_kx_client_session_keys(s->kx_rx, s->kx_tx, xpk, xsk, ppk);
	else
		ret = crypto_kx_server_session_keys(s->kx_rx, s->kx_tx, xpk, xsk, ppk);
	sodium_memzero(xsk, sizeof(xsk));
	if (ret)
		return -PEER_E_MALFORMED;	/* low-order point */
	s->my_epoch = my_epoch;
	s->tx_counter = 0;
	rekey(s);
	s->ready = true;
	return 0;
}

bool peer_session_peer_epoch(struct peer_session *s, uint64_t epoch)
{
	if (epoch <= s->peer_epoch)
		return false;
	s->peer_epoch = epoch;
	s->rx_top = 0;
	s->rx_bits = 0;
	/* our sending keys change too: restart our counter under them */
	s->tx_counter = 0;
	rekey(s);
	return true;
}

int peer_session_seal(struct peer_session *s, const uint8_t my_pk[32],
		      const uint8_t *pt, size_t pt_len, uint8_t *out, size_t cap)
{
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = { 0 };
	unsigned long long clen;

	if (!s->ready)
		return -ENOTCONN;
	if (cap < PEER_SEALED_HDR + pt_len + PEER_TAG_BYTES ||
	    PEER_SEALED_HDR + pt_len + PEER_TAG_BYTES > PEER_MTU)
		return -EMSGSIZE;
	s->tx_counter++;
	out[0] = PEER_VERSION;
	out[1] = PEER_D_SEALED;
	out[2] = out[3] = 0;
	memcpy(out + 4, my_pk, 32);
	memcpy(out + 36, s->peer, 32);
	put64(out + 68, s->my_epoch);
	put64(out + 76, s->peer_epoch);
	put64(out + 84, s->tx_counter);
	put64(nonce, s->tx_counter);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + PEER_SEALED_HDR, &clen,
						   pt, pt_len, out, PEER_SEALED_HDR,
						   NULL, nonce, s->tx_key);
	return (int)(PEER_SEALED_HDR + clen);
}

static bool replay_seen(const struct peer_session *s, uint64_t c)
{
	if (c > s->rx_top)
		return false;
	if (s->rx_top - c >= PEER_REPLAY_WINDOW)
		return true;
	return s->rx_bits >> (s->rx_top - c) & 1;
}

static void replay_mark(struct peer_session *s, uint64_t c)
{
	if (c > s->rx_top) {
		uint64_t sh = c - s->rx_top;

		s->rx_bits = sh >= 64 ? 0 : s->rx_bits << sh;
		s->rx_top = c;
	}
	s->rx_bits |= 1ull << (s->rx_top - c);
}

int peer_session_open(struct peer_session *s, const struct peer_sealed *m,
		      uint8_t *pt, size_t cap)
{
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = { 0 };
	uint8_t key[32];
	unsigned long long plen;
	bool new_epoch = false;

	if (!s->ready)
		return -ENOTCONN;
	if (m->ct_len < PEER_TAG_BYTES)
		return -PEER_E_TRUNCATED;
	if (cap < m->ct_len - PEER_TAG_BYTES)
		return -EMSGSIZE;
	/* sent to an earlier run of ours, or from an earlier run of theirs */
	if (m->peer_epoch != s->my_epoch || m->epoch < s->peer_epoch)
		return -PEER_E_REPLAYED;
	if (m->counter == 0)
		return -PEER_E_MALFORMED;
	if (m->epoch > s->peer_epoch) {
		/* candidate key; adopted only once the tag verifies */
		derive(key, s->kx_rx, m->epoch, s->my_epoch);
		new_epoch = true;
	} else {
		if (replay_seen(s, m->counter))
			return -PEER_E_REPLAYED;
		memcpy(key, s->rx_key, 32);
	}
	put64(nonce, m->counter);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &plen, NULL, m->ct,
						       m->ct_len, m->hdr,
						       PEER_SEALED_HDR, nonce, key))
		return -PEER_E_FORGED;
	if (new_epoch)
		peer_session_peer_epoch(s, m->epoch);
	replay_mark(s, m->counter);
	return (int)plen;
}
