/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libphloem peer: how gateways of one community find each other, prove who
 * they are, keep each other's liveness and share their net power.
 * docs/protocol.md gives every message byte by byte; this header is the C
 * interface. One file per concern:
 *
 *   wire.c       datagram and record encode/decode (strict, bounded)
 *   handshake.c  Noise_KK handshake (X25519, ChaCha20-Poly1305, BLAKE2b)
 *   session.c    per-peer sessions: keys, rekey, transport AEAD, replay
 *   member.c     the community: member keys, invites, removals
 *   swim.c       SWIM failure detector (ping, ping-req, suspect, dead)
 *   gossip.c     latest signed measurement of every member, community net
 *   discovery.c  UDP sockets, multicast groups, rtnetlink (libnl-route)
 *
 * Conventions: functions return 0 or a negative errno (system failure) or a
 * negative PEER_E_* (refused input; peer_strerror() names both). Nothing
 * here keeps pointers to caller memory. Not thread-safe.
 *
 * Fuzz entry points (pure, no state, no allocation): peer_wire_decode()
 * for a whole datagram, peer_wire_decode_inner() for the plaintext of a
 * sealed message, peer_record_decode() for a membership record; and with
 * a session, peer_session_respond(), _complete() and _open() for what a
 * datagram of type 3, 4 or 5 carries (tests/fuzz/peer_fuzz.c).
 */
#ifndef PHLOEM_PEER_H
#define PHLOEM_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PEER_VERSION		1
#define PEER_KEY_BYTES		32
#define PEER_SIG_BYTES		64
#define PEER_HASH_BYTES		32
#define PEER_TAG_BYTES		16
#define PEER_MTU		1200	/* no datagram is larger: no fragments */
#define PEER_DEFAULT_PORT	7068
#define PEER_GROUP6		"ff02::7068"
#define PEER_GROUP4		"239.255.70.68"
#define PEER_NAME_MAX		63	/* community name, bytes */
#define PEER_MAX_MEMBERS	64
#define PEER_MAX_REMOVED	64
#define PEER_REPLAY_WINDOW	64

/* Datagram types (byte 1 of every datagram). 2 was the sealed message
 * bound to start-time epochs; it is refused now. */
enum peer_dgram {
	PEER_D_ANNOUNCE	= 1,	/* cleartext, signed */
	PEER_D_HS_INIT	= 3,	/* handshake initiation */
	PEER_D_HS_RESP	= 4,	/* handshake response */
	PEER_D_SEALED	= 5,	/* transport: AEAD under a session's keys */
};

/* Record types inside a sealed message. */
enum peer_rec {
	PEER_R_PING	= 1,
	PEER_R_ACK	= 2,
	PEER_R_PING_REQ	= 3,
	PEER_R_STATE	= 4,	/* SWIM membership update */
	PEER_R_MEASURE	= 5,	/* signed measurement (gossip) */
	PEER_R_MEMBER	= 6,	/* signed membership record */
	PEER_R_SYNC_REQ	= 7,	/* anti-entropy: send me author's seq range */
	PEER_R_ENTRY	= 8,	/* one encoded ledger entry */
	PEER_R_REFUSE	= 9,	/* settlement: a proposal not signed, and why */
	PEER_R_PROPOSE	= 10,	/* settlement: transfer signed by the debtor */
	PEER_R_ACCEPT	= 11,	/* settlement: ... and by the creditor */
	PEER_R_DIGEST	= 12,	/* anti-entropy: the measurements we hold */
	__PEER_R_MAX,
};

/* Why input was refused: the drop counters are indexed by these. */
enum peer_reason {
	PEER_OK = 0,
	PEER_E_TRUNCATED,	/* shorter than its fields, or bad lengths */
	PEER_E_MALFORMED,	/* version, type, reserved bits, ranges */
	PEER_E_FORGED,		/* signature or AEAD tag does not verify */
	PEER_E_REPLAYED,	/* counter seen, too old, or no such session */
	PEER_E_UNTRUSTED,	/* sender not a member of our community */
	PEER_E_FOREIGN,		/* another community's traffic */
	PEER_E_SELF,		/* our own multicast looped back */
	PEER_E_SKEWED,		/* signed time too far ahead of our clock, or too
				 * old for an announcement */
	__PEER_E_MAX,
};
const char *peer_strerror(int err);
const char *peer_reason_name(int reason);	/* "forged", ... */

/* ---- wire.c ---- */

#define PEER_ANNOUNCE_FIXED	(4 + 32 + 32 + 8 + 8 + 2 + 2)
#define PEER_SEALED_HDR		(4 + 4 + 8)
#define PEER_RECORD_BYTES	(1 + 1 + 2 + 32 + 32 + 32 + 8 + 64)
#define PEER_MEASURE_BYTES	(32 + 8 + 4 + 4 + 4 + 8 + 32 + 64)

/**
 * struct peer_record - a membership record: @signer admits (INVITE) or
 * removes (REMOVE) @subject from community @community. A founder's record
 * is an INVITE with signer == subject. Signed over its first 142 bytes.
 */
enum peer_record_kind { PEER_REC_INVITE = 1, PEER_REC_REMOVE = 2 };
struct peer_record {
	uint8_t kind;
	uint8_t community[PEER_HASH_BYTES];
	uint8_t subject[PEER_KEY_BYTES];
	uint8_t signer[PEER_KEY_BYTES];
	uint64_t time;			/* Unix seconds when signed */
	uint8_t sig[PEER_SIG_BYTES];
};

/**
 * struct peer_announce - "I am here": sent to the multicast groups and to
 * static peers every announce_ms and when an interface or address appears.
 * @epoch: the sender's run id, random at every start: another one than
 *         known means the sender restarted (and lost its sessions)
 * @has_record: the sender's own INVITE, so that members who never saw it
 *              can admit it
 */
struct peer_announce {
	uint8_t community[PEER_HASH_BYTES];
	uint8_t key[PEER_KEY_BYTES];
	uint64_t epoch;
	uint64_t time_ms;
	uint16_t port;
	bool has_record;
	struct peer_record record;
	uint8_t sig[PEER_SIG_BYTES];
};

/** struct peer_sealed - envelope of a transport message (points into the buffer) */
struct peer_sealed {
	uint32_t receiver_index;	/* the receiver's index of the session */
	uint64_t counter;		/* the nonce */
	const uint8_t *hdr;		/* additional data: PEER_SEALED_HDR bytes */
	const uint8_t *ct;		/* ciphertext including the tag */
	size_t ct_len;
};

#define PEER_HS_INIT_BYTES	(4 + 32 + 32 + 32 + 4 + PEER_TAG_BYTES)
#define PEER_HS_RESP_BYTES	(4 + 4 + 32 + 4 + PEER_TAG_BYTES)

/** struct peer_hs_init - handshake initiation (type 3, KK "e, es, ss") */
struct peer_hs_init {
	uint8_t sender[PEER_KEY_BYTES];		/* initiator's Ed25519 key */
	uint8_t receiver[PEER_KEY_BYTES];	/* responder's */
	uint8_t eph[32];			/* initiator's ephemeral X25519 */
	const uint8_t *ct;			/* sealed sender index: 4 + tag */
};

/** struct peer_hs_resp - handshake response (type 4, KK "e, ee, se") */
struct peer_hs_resp {
	uint32_t receiver_index;		/* the initiator's */
	uint8_t eph[32];			/* responder's ephemeral X25519 */
	const uint8_t *ct;			/* sealed sender index: 4 + tag */
};

struct peer_msg {
	uint8_t type;			/* enum peer_dgram */
	union {
		struct peer_announce ann;
		struct peer_sealed sealed;
		struct peer_hs_init init;
		struct peer_hs_resp resp;
	};
};

/**
 * struct peer_measure - one member's signed measurement (gossip)
 * @net_w: consumption - production, + imports (W)
 * @head_seq, @head_hash: the member's ledger chain head (0 / zeros: none)
 */
struct peer_measure {
	uint8_t key[PEER_KEY_BYTES];
	uint64_t time_ms;
	uint32_t production_w;
	uint32_t consumption_w;
	int32_t net_w;
	uint64_t head_seq;
	uint8_t head_hash[PEER_HASH_BYTES];
	uint8_t sig[PEER_SIG_BYTES];
};

enum peer_swim_state { PEER_ALIVE = 0, PEER_SUSPECT = 1, PEER_DEAD = 2 };

#define PEER_XFER_BYTES	288	/* LEDGER_TRANSFER_BYTES */

/*
 * A digest: what its sender holds, so that the receiver can send back only
 * what the sender lacks (push-pull anti-entropy, docs/protocol.md). One
 * entry per measurement: the first PEER_DIGEST_PREFIX bytes of the author's
 * key and the low 32 bits of the measurement's time in ms, compared in
 * serial-number arithmetic (RFC 1982): 8 bytes a member, so that a digest
 * of 50 is 400 bytes. @comm: the first bytes of the sender's
 * peer_community_digest(), so that a differing member set shows too.
 */
#define PEER_DIGEST_PREFIX	4
#define PEER_DIGEST_ENTRY	(PEER_DIGEST_PREFIX + 4)
#define PEER_DIGEST_FIXED	(1 + 8)
#define PEER_DIGEST_REPLY	0x01	/* flags: an answer; do not answer it */
struct peer_digest {
	uint8_t flags;
	uint8_t comm[8];
	uint8_t n;
	const uint8_t *ent;		/* n x PEER_DIGEST_ENTRY bytes */
};

/** struct peer_rec_any - one decoded record of a sealed message */
struct peer_rec_any {
	uint8_t type;			/* enum peer_rec */
	union {
		struct { uint32_t seq; } ping, ack;
		struct { uint32_t seq; uint8_t target[PEER_KEY_BYTES]; } ping_req;
		struct { uint8_t key[PEER_KEY_BYTES]; uint8_t state; uint64_t inc; } state;
		struct peer_measure measure;
		struct peer_record member;
		struct { uint8_t author[PEER_KEY_BYTES]; uint64_t from; uint16_t count; } sync_req;
		struct { const uint8_t *buf; uint16_t len; } entry;	/* into the plaintext */
		struct { uint8_t body[PEER_XFER_BYTES]; } xfer;	/* PROPOSE, ACCEPT */
		struct { uint8_t id[PEER_HASH_BYTES]; uint8_t reason; } refuse;
		struct peer_digest digest;		/* entries point into the plaintext */
	};
};

/* Largest ledger entry carried in an ENTRY record: what fitted one datagram
 * under the 92-byte sealed header of the first sessions (kept so that
 * encoders and decoders of both agree). */
#define PEER_ENTRY_MAX	1089
#define PEER_SYNC_MAX	8	/* entries asked for in one SYNC_REQ */

#define PEER_MAX_RECS	16
struct peer_inner {
	int nrecs;
	struct peer_rec_any rec[PEER_MAX_RECS];
};

/**
 * peer_wire_decode() - decode one datagram's outer layer
 * Checks lengths, version, type and reserved bytes; does not verify the
 * signature (peer_announce_verify()) or open the AEAD (peer_session_open()).
 * Return: 0, or -PEER_E_TRUNCATED / -PEER_E_MALFORMED. @out is only valid
 * on 0; for a sealed message it points into @buf.
 */
int peer_wire_decode(const uint8_t *buf, size_t len, struct peer_msg *out);
/** peer_wire_decode_inner() - decode the plaintext of a sealed message */
int peer_wire_decode_inner(const uint8_t *pt, size_t len, struct peer_inner *out);
/** peer_record_decode() - decode PEER_RECORD_BYTES of a record */
int peer_record_decode(const uint8_t *buf, size_t len, struct peer_record *out);
void peer_record_encode(const struct peer_record *r, uint8_t out[PEER_RECORD_BYTES]);

/** Encode, sign with @sk (Ed25519, 64 bytes): bytes written or -errno. */
int peer_announce_encode(struct peer_announce *a, const uint8_t sk[64],
			 uint8_t *buf, size_t cap);
/** Signature check of a decoded announcement (and of its record). */
int peer_announce_verify(const struct peer_announce *a, const uint8_t *buf,
			 size_t len);
/**
 * peer_announce_verify_held() - peer_announce_verify(), but a record equal
 * to @held (one the caller verified when it stored it; may be NULL) is not
 * verified again: a member's announcements carry its INVITE every time, and
 * at a street's restart two Ed25519 verifications per announcement were
 * most of the CPU of 50 daemons on two cores.
 */
int peer_announce_verify_held(const struct peer_announce *a, const uint8_t *buf,
			      size_t len, const struct peer_record *held);
/** Is @a the same record as @b (every field, the signature included)? */
bool peer_record_same(const struct peer_record *a, const struct peer_record *b);
/*
 * An announcement is taken only while fresh: signed less than this long ago
 * by our clock (and not more than PEER_CLOCK_AHEAD_MS ahead). Announcements
 * are not sealed; freshness bounds how long a recorded one can be replayed.
 */
#define PEER_ANNOUNCE_FRESH_MS	60000
/**
 * peer_announce_check() - the checks that cost nothing, made before the
 * signature's: our community (else -PEER_E_FOREIGN), and a signed time
 * within the clock bounds above (else -PEER_E_SKEWED); the epoch is a random
 * run id, not a time, so it has no bound. A stranger's
 * datagram of another community costs no Ed25519 verification.
 */
int peer_announce_check(const struct peer_announce *a, const uint8_t community[32],
			uint64_t now_ms);

/**
 * struct peer_bucket - a token bucket: at most @per_s events a second
 * (bursts of @per_s). Zero-initialised it starts empty and fills at once.
 */
struct peer_bucket {
	uint64_t at_ms;
	uint32_t tokens;
};
bool peer_bucket_take(struct peer_bucket *b, uint32_t per_s, uint64_t now_ms);
/**
 * struct peer_budget - a token bucket for rare events: one every @every_ms
 * on average, bursts of @burst (peer_budget_take()'s arguments). Zero-
 * initialised it starts full; a clock that went back fills it.
 */
struct peer_budget {
	bool primed;
	uint64_t at_ms;
	uint64_t credit_ms;
};
bool peer_budget_take(struct peer_budget *b, uint32_t every_ms, uint32_t burst,
		      uint64_t now_ms);

/** Inner plaintext builder: append one record; -ENOSPC when it does not fit. */
struct peer_builder {
	uint8_t *buf;
	size_t cap, len;
	int nrecs;
};
void peer_builder_init(struct peer_builder *b, uint8_t *buf, size_t cap);
int peer_builder_add(struct peer_builder *b, const struct peer_rec_any *r);

void peer_measure_sign(struct peer_measure *m, const uint8_t sk[64]);
int peer_measure_verify(const struct peer_measure *m);
void peer_record_sign(struct peer_record *r, const uint8_t sk[64]);
int peer_record_verify(const struct peer_record *r);

/* ---- session.c, handshake.c ---- */

/*
 * Sessions are Noise_KK_25519_ChaChaPoly_BLAKE2b handshakes (docs/protocol.md,
 * "Sessions"): both sides already know each other's static key (membership),
 * each handshake brings fresh ephemeral keys from both, so every session
 * has keys of its own and its nonces start at 0 without ever repeating a
 * (key, nonce) pair, whatever the clocks say and across restarts. Nothing
 * here reads a clock or touches a socket: time comes in as @now_ms (any
 * monotonic ms), datagrams go in and out as bytes.
 */
#define PEER_REKEY_AFTER_MS	120000	/* the initiator of a session renews it */
#define PEER_REKEY_RESPONDER_MS	150000	/* ... or else its responder does */
#define PEER_REJECT_AFTER_MS	180000	/* a session is never used after this */
#define PEER_REKEY_AFTER_MSGS	(1ull << 60)
#define PEER_REKEY_TIMEOUT_MS	250	/* an unanswered initiation is redone */
#define PEER_REKEY_BACKOFF_MS	8000	/* ... doubling up to this, each wait
					 * plus up to a quarter of it at random
					 * (docs/protocol.md, Retries) */
#define PEER_SEEN_INITS		8	/* initiations remembered against replays */
#define PEER_UNCONFIRMED_MS	5000	/* the peer still sends on the keys before
					 * the ones we initiated: they never
					 * reached it; a new handshake */

/**
 * struct peer_local - our side of every session: the Ed25519 identity as
 * X25519 static key pair, and the community the handshakes are bound to
 * (the Noise prologue). Holds a secret: peer_local_wipe() it.
 */
struct peer_local {
	uint8_t pk[PEER_KEY_BYTES];
	uint8_t xpk[32], xsk[32];
	uint8_t community[PEER_HASH_BYTES];
};
int peer_local_init(struct peer_local *l, const uint8_t pk[32],
		    const uint8_t sk[64], const uint8_t community[32]);
void peer_local_wipe(struct peer_local *l);

/**
 * struct peer_keypair - the transport keys of one completed handshake
 * @local_index: ours, random; the peer puts it in every transport header
 * @remote_index: the peer's, which we put in ours
 * @confirmed: the peer proved it holds the keys (a response, or a
 *             transport message under them): only then do we send
 */
struct peer_keypair {
	bool valid, initiator, confirmed;
	uint32_t local_index, remote_index;
	uint8_t tx[32], rx[32];
	uint64_t born_ms;
	uint64_t tx_counter;		/* next nonce */
	uint64_t rx_top, rx_bits;	/* replay window (counter + 1) */
};

/**
 * struct peer_session - everything between us and one member
 * @cur: the keys we send with; @prev: the ones before a rekey (still
 *       received for a while); @next: a responder's keys, unconfirmed,
 *       and @next_old the ones answered before (a retry crossed a slow
 *       answer: the initiator may complete either)
 * @hs_*: our initiation in flight (ephemeral secret, Noise state); a
 *        retry keeps the one before (@hs_old), so that a slow answer
 *        still completes
 * @seen: ephemeral keys of the last initiations taken: a replay of one is
 *        refused before any Diffie-Hellman
 * @hs_base_ms: the caller's first retry time (0: PEER_REKEY_TIMEOUT_MS),
 *        from peer_hs_base(): the round trips handshakes really take
 * @hs_rtt_ms: set when an answer completes our initiation: how long after
 *        that initiation it came (the sample for peer_hs_base())
 */
struct peer_session {
	uint8_t peer[PEER_KEY_BYTES];
	uint8_t peer_x[32];		/* its X25519 static */
	uint8_t ss[32];			/* DH(our static, its static) */
	bool ready;			/* peer_session_init() succeeded */
	struct peer_keypair cur, prev, next, next_old;
	bool hs_pending;
	uint32_t hs_index;
	uint8_t hs_esk[32];
	uint8_t hs_h[64], hs_ck[64];
	uint64_t hs_sent_ms;
	uint32_t hs_wait_ms;		/* its retry time, drawn when sent */
	uint32_t hs_base_ms, hs_rtt_ms;
	struct {			/* the one before: its answer is taken too */
		uint32_t index;		/* 0: none */
		uint8_t esk[32], h[64], ck[64];
		uint64_t sent_ms;
	} hs_old;
	uint32_t hs_tries;		/* unanswered initiations in a row */
	bool renew;			/* peer_session_stale() */
	uint8_t seen[PEER_SEEN_INITS][32];
	unsigned nseen;
	uint64_t handshakes;		/* completed, either role */
};

/**
 * peer_session_init() - a session with member @peer_pk, no keys yet
 * Wipes whatever @s held (a member evicted and trusted again starts from
 * nothing: its next handshake brings new keys).
 * Return: 0, -EINVAL (our own key), -PEER_E_MALFORMED (not a curve point).
 */
int peer_session_init(struct peer_session *s, const struct peer_local *me,
		      const uint8_t peer_pk[32]);
/** peer_session_wipe() - forget every key (an evicted member) */
void peer_session_wipe(struct peer_session *s);
/** A confirmed, unexpired session to send with. */
bool peer_session_ready(const struct peer_session *s, uint64_t now_ms);
/**
 * peer_session_want_handshake() - should we initiate now? No session, one
 * due for renewal (age, messages), or one peer_session_stale() marked;
 * never while an initiation of ours is younger than its retry time
 * (PEER_REKEY_TIMEOUT_MS, doubling with every unanswered one up to
 * PEER_REKEY_BACKOFF_MS), or than the one @hs_base_ms calls for now if it
 * rose since (peer_hs_backoff()), nor while keys we answered wait for
 * their confirmation.
 */
bool peer_session_want_handshake(const struct peer_session *s, uint64_t now_ms);
/**
 * peer_session_stale() - the peer may have lost our session (it announced
 * another run): renew it at the next peer_session_want_handshake(). The
 * session in use stays until the new one is made.
 */
void peer_session_stale(struct peer_session *s);
/** The retry time of initiation number @tries (1: first), jitter included. */
uint32_t peer_hs_wait(uint32_t tries);
/** The same from a first retry time of @base_ms (0: PEER_REKEY_TIMEOUT_MS). */
uint32_t peer_hs_wait_from(uint32_t base_ms, uint32_t tries);
/** peer_hs_wait_from() without its jitter: the least it waits. */
uint32_t peer_hs_backoff(uint32_t base_ms, uint32_t tries);
/**
 * peer_hs_base() - the first retry time that the handshakes seen so far call
 * for: twice their smoothed round trip (@srtt_ms, kept by the caller over
 * all its sessions, updated with @sample_ms when not 0), at least
 * PEER_REKEY_TIMEOUT_MS and at most PEER_HS_BASE_MAX_MS. On a LAN a round
 * trip is milliseconds and retries stay at 250 ms; 50 daemons restarting
 * on two loaded cores answered after a second or more, every retry before
 * that was one more initiation for a busy responder (three X25519 each),
 * and the answers to all but the last two were thrown away.
 */
uint32_t peer_hs_base(uint32_t *srtt_ms, uint32_t sample_ms);
#define PEER_HS_BASE_MAX_MS	2000
/**
 * struct peer_hs_pace - the initiations one node sends, all peers together:
 * a token bucket of PEER_HS_PACE_PER_S a second, bursts of
 * PEER_HS_PACE_BURST (a whole street restarting is met at once), whose
 * last PEER_HS_PACE_RESERVE tokens only members never reached this run
 * (no handshake completed, either role) may take; retries (an initiation
 * to the same peer unanswered) at most PEER_HS_RETRY_PER_S a second
 * besides. Zero-initialised it starts full.
 */
#define PEER_HS_PACE_PER_S	16
#define PEER_HS_PACE_BURST	PEER_MAX_MEMBERS
#define PEER_HS_PACE_RESERVE	8
#define PEER_HS_RETRY_PER_S	8	/* of which retries (bursts of as many) */
struct peer_hs_pace {
	bool primed;
	uint64_t at_ms;
	uint32_t milli;			/* tokens x 1000 */
	struct peer_budget retries;
};
/**
 * peer_hs_pace_allow() - may we send the initiation that
 * peer_session_want_handshake() asks for on @s now? Takes a token when so.
 * @backlog: datagrams wait unread in our sockets; a retry (an initiation
 * of ours in flight) then waits, up to PEER_HS_BASE_MAX_MS after it: its
 * answer may be among them (docs/protocol.md, Retries). Callers offer the
 * members never reached first.
 */
bool peer_hs_pace_allow(struct peer_hs_pace *pc, const struct peer_session *s,
			bool backlog, uint64_t now_ms);
/**
 * peer_session_initiate() - write an initiation (PEER_HS_INIT_BYTES) to @out
 * with a fresh ephemeral key; it replaces any earlier one in flight.
 * Return: datagram length, -EMSGSIZE, -ENOTCONN (no peer_session_init()).
 */
int peer_session_initiate(struct peer_session *s, const struct peer_local *me,
			  uint64_t now_ms, uint8_t *out, size_t cap);
/**
 * peer_session_respond() - take an initiation addressed to us from this
 * session's peer and write the response (PEER_HS_RESP_BYTES) to @out.
 * The new keys wait in @next until the initiator's first transport message
 * proves it holds them, so a replayed initiation never replaces a working
 * session. When both sides initiate at once, the initiation of the smaller
 * key wins: the smaller key ignores the other's while its own is in flight.
 * Return: response length; 0 when ignored (both initiated at once and
 * ours wins); -PEER_E_FORGED, -PEER_E_REPLAYED (an initiation taken
 * before), -PEER_E_UNTRUSTED (another sender than this session's peer),
 * -PEER_E_FOREIGN (for another receiver), -PEER_E_MALFORMED, -EMSGSIZE.
 */
int peer_session_respond(struct peer_session *s, const struct peer_local *me,
			 const struct peer_hs_init *m, uint64_t now_ms,
			 uint8_t *out, size_t cap);
/**
 * peer_session_complete() - take the response to our initiation in flight:
 * its keys become @cur (the former @cur becomes @prev).
 * Return: 0, -PEER_E_REPLAYED (nothing in flight with that index),
 * -PEER_E_FORGED, -PEER_E_MALFORMED.
 */
int peer_session_complete(struct peer_session *s, const struct peer_local *me,
			  const struct peer_hs_resp *m, uint64_t now_ms);
/** Is @index the one of an initiation of ours in flight (a response's)? */
bool peer_session_awaits(const struct peer_session *s, uint32_t index);
/** Does a transport message with receiver index @index belong here? */
bool peer_session_owns(const struct peer_session *s, uint32_t index);
/**
 * peer_session_seal() - one transport datagram carrying @pt under @cur
 * Return: datagram length, -ENOTCONN (no usable session: handshake first),
 * -EMSGSIZE.
 */
int peer_session_seal(struct peer_session *s, uint64_t now_ms,
		      const uint8_t *pt, size_t pt_len, uint8_t *out, size_t cap);
/**
 * peer_session_open() - authenticate and decrypt @m into @pt
 * The first message that opens under @next confirms it: it becomes @cur.
 * One that opens under @prev PEER_UNCONFIRMED_MS after we initiated @cur
 * marks the session for renewal (the peer never confirmed @cur).
 * Return: plaintext length, -PEER_E_REPLAYED (counter seen or below the
 * window, unknown or expired index), -PEER_E_FORGED, -PEER_E_TRUNCATED,
 * -EMSGSIZE.
 */
int peer_session_open(struct peer_session *s, const struct peer_sealed *m,
		      uint64_t now_ms, uint8_t *pt, size_t cap);

/**
 * struct peer_ratelimit - handshake initiations taken per source address:
 * a token bucket of PEER_RL_RATE a second (burst PEER_RL_BURST) for each
 * of the PEER_RL_SLOTS addresses heard last. Strangers cost a table
 * lookup; this bounds what replayed or forged initiations from one
 * address cost in Diffie-Hellman.
 */
#define PEER_RL_SLOTS	64
#define PEER_RL_RATE	10
#define PEER_RL_BURST	10
struct peer_ratelimit {
	uint8_t key[16];		/* SipHash key: addresses do not collide on purpose */
	struct {
		uint64_t tag;		/* 0: free */
		uint64_t at_ms;
		uint32_t milli;		/* tokens x 1000 */
	} slot[PEER_RL_SLOTS];
};
void peer_ratelimit_init(struct peer_ratelimit *rl);
bool peer_ratelimit_allow(struct peer_ratelimit *rl, const void *addr,
			  size_t len, uint64_t now_ms);

/* ---- member.c ---- */

#define PEER_MAX_RECORDS	256	/* membership records held */

/**
 * struct peer_community - who is in, and the records that say so
 * @rec: every record held that counts or may count, sorted by signature:
 *       the input. Membership is a function of this set alone, whatever
 *       order the records came in (docs/protocol.md, Community).
 * @member, @removed: derived from @rec: the INVITE that admits each member
 *       (the owner's own first), the owner's REMOVE of each removed key
 * @owner: the founder, the only key whose REMOVE counts; pinned when we
 *       found the community, else taken from our anchor
 */
struct peer_community {
	char name[PEER_NAME_MAX + 1];
	uint8_t id[PEER_HASH_BYTES];
	int nrecs;
	struct peer_record rec[PEER_MAX_RECORDS];
	int nmembers;
	struct peer_record member[PEER_MAX_MEMBERS];	/* their INVITEs */
	int nremoved;
	struct peer_record removed[PEER_MAX_REMOVED];	/* REMOVEs */
	bool has_owner;
	uint8_t owner[PEER_KEY_BYTES];
	bool has_anchor;		/* joined: our inviter, trusted by the */
	uint8_t anchor[PEER_KEY_BYTES];	/* operator before its record arrives */
};

void peer_community_id(const char *name, uint8_t id[PEER_HASH_BYTES]);
/** A fresh community with @pk as founder (self-signed INVITE). */
int peer_community_found(struct peer_community *c, const char *name,
			 const uint8_t pk[32], const uint8_t sk[64], uint64_t now);
bool peer_community_is_member(const struct peer_community *c, const uint8_t key[32]);
const struct peer_record *peer_community_record(const struct peer_community *c,
						const uint8_t key[32]);
/**
 * peer_community_apply() - take in a membership record
 * Kept when the signature verifies, the community matches and it counts:
 * INVITE: its signer is a member and its subject not removed; a
 * self-signed one only as the owner's (when no owner is known yet: with
 * @vouched, i.e. relayed by our anchor, or the anchor's own). REMOVE:
 * signed by the owner; the subject leaves for good, and the invites it
 * signed stop counting. Membership is then recomputed from all records
 * held.
 * Return: 1 membership changed, 0 known or kept without effect, -ENOSPC,
 * or -PEER_E_*.
 */
int peer_community_apply(struct peer_community *c, const struct peer_record *r,
			 bool vouched);
/**
 * peer_community_join() - a fresh community @name in which @invite (for us)
 * admits us and its signer is the anchor: a member by the operator's word
 * until its own record arrives (which it then needs no other signer for).
 */
int peer_community_join(struct peer_community *c, const char *name,
			const struct peer_record *invite);
/** Text form of an INVITE: "phlinv1-" + base64url. */
#define PEER_TOKEN_SIZE	320
int peer_invite_make(const struct peer_community *c, const uint8_t pk[32],
		     const uint8_t sk[64], const uint8_t invitee[32],
		     uint64_t now, char *token, size_t cap);
int peer_invite_parse(const char *token, struct peer_record *r);
/**
 * peer_remove_make() - the owner removes @subject (signs, applies, @out)
 * Members admitted only through @subject are invited again by the owner in
 * the same step (those INVITEs are in @c, signed at @now).
 * Return: 0, -ENOENT (not members), -EPERM (we are not the owner, or
 * @subject is), -ENOSPC.
 */
int peer_remove_make(struct peer_community *c, const uint8_t pk[32],
		     const uint8_t sk[64], const uint8_t subject[32],
		     uint64_t now, struct peer_record *out);
/** fsync the directory holding @path (after a rename into it). */
int peer_fsync_dir(const char *path);
/**
 * peer_community_digest() - 8 bytes that differ when two members' views of
 * the community differ: a hash of the sorted member and removed keys.
 */
void peer_community_digest(const struct peer_community *c, uint8_t out[8]);
/** Persist/restore: one line per record ("name NAME", "rec HEX"). */
int peer_community_save(const struct peer_community *c, const char *path);
int peer_community_load(struct peer_community *c, const char *path);

/* ---- swim.c ---- */

#define PEER_SWIM_K		3	/* ping-req helpers: at 10% loss a path of four
					 * datagrams fails a third of the time, and a
					 * false suspicion costs a wave of gossip */

/*
 * The most an incarnation may rise in one STATE record, over the one we
 * hold (docs/protocol.md, Liveness). A member raises its own by one per
 * refutation, so no honest jump comes near; with the bound, a hostile
 * member needs 2^44 rounds of refutations to bring anybody near the top of
 * the 64-bit range (where a refutation would wrap around to 0).
 */
#define PEER_SWIM_INC_JUMP	(1u << 20)
#define PEER_SWIM_LHM_MAX	4

struct peer_swim_member {
	uint8_t key[PEER_KEY_BYTES];
	uint8_t state;			/* enum peer_swim_state */
	uint64_t inc;
	uint64_t since_ms;		/* state entered */
	uint64_t heard_ms;		/* last first-hand sign of life */
	uint32_t ping_seq;		/* outstanding direct ping, 0: none */
	uint64_t ping_at_ms;
	bool req_sent;
};

/**
 * struct peer_swim - failure detector state (pure: time is passed in)
 * @period_ms: protocol period; a direct ping unanswered for @period_ms/2
 *             triggers ping-req, unanswered for a period makes the member
 *             suspect; suspect for @suspect_ms times floor(log2(n + 1))
 *             (n members known) makes it dead
 */
struct peer_swim {
	uint8_t self[PEER_KEY_BYTES];
	uint64_t inc;
	uint32_t period_ms, suspect_ms;
	/*
	 * @lhm: Lifeguard's local health multiplier, 0..PEER_SWIM_LHM_MAX:
	 * the probe period and both probe timeouts are (@lhm + 1) times
	 * theirs. Up on an ACK that came only after the PING_REQ stage (late:
	 * the host is slow, or a datagram was lost), on a probe that timed
	 * out, on a refutation of our own suspicion; down on an ACK within a
	 * quarter period. A starved host probes less and waits longer
	 * instead of sending PING_REQs and suspicions for answers that are
	 * merely queued (docs/protocol.md, Liveness).
	 */
	uint32_t lhm;
	uint64_t next_probe_ms;
	uint32_t seq;
	int rr;				/* round-robin probe position */
	int n;
	struct peer_swim_member m[PEER_MAX_MEMBERS];
	/*
	 * @direct: can we send to @key ourselves (a session with it)? NULL:
	 * always. A member we cannot reach directly yet is probed through
	 * PEER_SWIM_K helpers at once (PING_REQ), helpers are only members we
	 * reach, and one nobody can carry a probe to is not suspected while
	 * it was heard less than 3 periods ago: no suspicion for want of a
	 * session (a handshake still on its way after a restart).
	 */
	bool (*direct)(void *ctx, const uint8_t key[32]);
	void *ctx;
};

/** What swim_tick asks the caller to send. */
struct peer_swim_action {
	enum { PEER_SA_PING, PEER_SA_PING_REQ } kind;
	uint8_t to[PEER_KEY_BYTES];
	uint8_t target[PEER_KEY_BYTES];
	uint32_t seq;
};

void peer_swim_init(struct peer_swim *s, const uint8_t self[32],
		    uint32_t period_ms, uint32_t suspect_ms, uint64_t now_ms);
struct peer_swim_member *peer_swim_find(struct peer_swim *s, const uint8_t key[32]);
/** Add (ALIVE) if unknown; heard directly from @key: it is alive. */
struct peer_swim_member *peer_swim_heard(struct peer_swim *s, const uint8_t key[32],
					 uint64_t now_ms);
void peer_swim_forget(struct peer_swim *s, const uint8_t key[32]);
/** Advance timers; fills up to @max actions, returns how many. */
int peer_swim_tick(struct peer_swim *s, uint64_t now_ms,
		   struct peer_swim_action *act, int max);
/** An ACK for @seq arrived (directly or relayed). */
void peer_swim_ack(struct peer_swim *s, uint32_t seq, uint64_t now_ms);
/**
 * peer_swim_update() - gossiped state of @key at incarnation @inc
 * Usual SWIM precedence: a higher incarnation wins; at equal incarnation
 * DEAD > SUSPECT > ALIVE. About ourselves: a SUSPECT/DEAD at our
 * incarnation is refuted by incrementing it. An incarnation more than
 * PEER_SWIM_INC_JUMP above the one held is ignored. Return: true when it
 * changed.
 */
bool peer_swim_update(struct peer_swim *s, const uint8_t key[32], uint8_t state,
		      uint64_t inc, uint64_t now_ms);
const char *peer_swim_state_name(int state);

/* ---- gossip.c ---- */

/*
 * When is a measurement news? A member signs one every tick it changes by
 * more than PEER_NEWS_MIN_W or PEER_NEWS_PERMILLE of its last published
 * value, or its chain head moves; otherwise only every PEER_REFRESH_MS. News
 * is pushed at once (rumour), a refresh travels by digest exchange only.
 */
#define PEER_NEWS_MIN_W		50
#define PEER_NEWS_PERMILLE	20
#define PEER_REFRESH_MS		30000

/** struct peer_gossip - every member's latest signed measurement */
struct peer_gossip {
	int n;
	struct peer_measure m[PEER_MAX_MEMBERS];
	uint32_t max_age_ms;		/* older measurements do not count */
};

/*
 * Signed times (measurements, announcements) may run ahead of our clock by
 * this much (clocks of two gateways differ); further ahead is refused
 * (-PEER_E_SKEWED): the newest wins, so a time from the future would
 * displace every honest value and stay "fresh" for as long.
 */
#define PEER_CLOCK_AHEAD_MS	60000
/** The realtime clock, ms since 1970. */
uint64_t peer_clock_ms(void);

/**
 * peer_gossip_take_at() - keep @m if it verifies and is newer than ours
 * @now_ms: our clock; @m more than PEER_CLOCK_AHEAD_MS ahead is refused
 * Return: 2 kept and news (peer_measure_news() against what we had, or
 * the first of its author), 1 kept, 0 not newer, -PEER_E_SKEWED or
 * -PEER_E_FORGED.
 */
int peer_gossip_take_at(struct peer_gossip *g, const struct peer_measure *m,
			uint64_t now_ms);
/** peer_gossip_take() - peer_gossip_take_at() with peer_clock_ms() */
int peer_gossip_take(struct peer_gossip *g, const struct peer_measure *m);
/** Does @now differ from @before enough to be pushed (see PEER_NEWS_*)? */
bool peer_measure_news(const struct peer_measure *before, const struct peer_measure *now);
/**
 * peer_gossip_digest() - our digest entries, at most @max (in g->m order)
 * Return: entries written to @out (@max x PEER_DIGEST_ENTRY bytes).
 */
int peer_gossip_digest(const struct peer_gossip *g, uint8_t *out, int max);
/**
 * peer_gossip_diff() - compare a received digest with what we hold
 * @give: filled with up to @max measurements the digest's sender lacks
 *        (absent from it, or older there), oldest-known first
 * @ngive: how many
 * Return: true when the digest holds something we lack (a newer time, or
 * an author we have nothing of), i.e. we should send our own digest.
 */
bool peer_gossip_diff(const struct peer_gossip *g, const struct peer_digest *d,
		      const struct peer_measure **give, int max, int *ngive);
const struct peer_measure *peer_gossip_get(const struct peer_gossip *g,
					   const uint8_t key[32]);
void peer_gossip_forget(struct peer_gossip *g, const uint8_t key[32]);
/**
 * peer_gossip_net() - community net power (W): the sum of the latest
 * measurement of every member @live() says is alive, not older than
 * max_age_ms nor further ahead of @now_ms than PEER_CLOCK_AHEAD_MS.
 * @counted gets how many were summed.
 */
int64_t peer_gossip_net(const struct peer_gossip *g, uint64_t now_ms,
			bool (*live)(void *ctx, const uint8_t key[32]), void *ctx,
			int *counted);

/**
 * struct peer_fork_log - authors whose fork evidence we spread this run
 * One fork proves its author cheated: each member's ledger keeps it as
 * evidence once it holds both entries. So a fork is spread once per
 * author, and an author that forks at every position (or a flood of forks
 * beyond the table) costs one spreading each, never one every scan.
 */
struct peer_fork_log {
	int n;
	bool full;			/* an author did not fit: logged once */
	uint8_t author[PEER_MAX_MEMBERS][PEER_KEY_BYTES];
};
/** 1: a fork of @author not spread yet (now noted: spread it), 0: not. */
int peer_fork_log_add(struct peer_fork_log *l, const uint8_t author[32]);

/* ---- sync.c: anti-entropy of ledger chains ---- */

struct ledger;

/**
 * peer_sync_need() - are we behind @m's author's chain head?
 * Fills @req (a SYNC_REQ for the next entries, at most PEER_SYNC_MAX) and
 * returns 1 when the gossiped head is ahead of ours, 0 when not, -errno.
 */
int peer_sync_need(struct ledger *l, const struct peer_measure *m,
		   struct peer_rec_any *req);
/**
 * peer_sync_serve() - add ENTRY records for @req to @b, as many as fit
 * (consecutive from req->from; stops at the first missing one).
 * Return: entries added.
 */
int peer_sync_serve(struct ledger *l, const struct peer_rec_any *req,
		    struct peer_builder *b);
/**
 * peer_sync_take() - validate and store one received entry
 * Return: 1 stored, 0 already had it, LEDGER_E_FORK (positive: a fork,
 * kept as evidence; spread both entries), another positive ledger reason
 * (refused), or -errno.
 */
int peer_sync_take(struct ledger *l, const uint8_t *raw, size_t len);
/** Our stored entry of @author at @seq (for spreading a fork). */
int peer_sync_entry(struct ledger *l, const uint8_t author[32], uint64_t seq,
		    uint8_t *buf, size_t *len);

/* ---- settle_peer.c: counter-signed settlement ---- */

struct settle_result;
struct settle_transfer;
struct ledger_identity;
struct ledger_transfer;

#define PEER_SETTLE_MAX	128	/* members in one settlement */

/* Why a creditor does not sign (REFUSE reason byte; also returned). */
enum peer_settle_refusal {
	PEER_SETTLE_DISAGREE	= 1,	/* not in our own computation */
	PEER_SETTLE_STALE	= 2,	/* our chain moved: propose again */
	PEER_SETTLE_FORGED	= 3,	/* the debtor's signature is bad */
	PEER_SETTLE_NOT_MINE	= 4,	/* we are not its creditor */
	PEER_SETTLE_UNKNOWN	= 5,	/* no computation possible (inputs) */
	PEER_SETTLE_LATE	= 6,	/* past the interval's deadline */
};

/**
 * peer_settle_deadline() - the last second (Unix) at which a creditor signs
 * a transfer of the interval [start, start + len): one more interval after
 * its end, and at least PEER_SETTLE_WINDOW_MIN_S. Past it, a debtor whose
 * proposal was never answered knows it never will be.
 */
#define PEER_SETTLE_WINDOW_MIN_S	120
uint64_t peer_settle_deadline(uint64_t start, uint32_t len);
/**
 * peer_settle_find_transfer() - the transfer of @interval from @debtor to
 * @creditor in @author's chain as @l holds it
 * Return: 1 found (into @out), 0 none, or a ledger error.
 */
int peer_settle_find_transfer(struct ledger *l, const uint8_t author[32],
			      const uint8_t debtor[32], const uint8_t creditor[32],
			      uint64_t interval, struct ledger_transfer *out);
/**
 * peer_settle_compute() - settle [start, start+len) from @l
 * @len is the community's interval length: phloemd passes its own, never
 * one read from the entries (0, for tools only: the first length seen).
 * Members' metered entries of exactly that interval count, the first one
 * (lowest seq) per author; a balance beyond SETTLE_BALANCE_MAX is taken at
 * that bound.
 */
int peer_settle_compute(struct ledger *l, uint64_t start, uint32_t len,
			struct settle_result *res, char *why, size_t whylen);
/** The energy transfer @debtor -> @creditor in @res, or NULL. */
const struct settle_transfer *peer_settle_find(const struct settle_result *res,
					       const uint8_t debtor[32],
					       const uint8_t creditor[32]);
/** The inputs we hold for @start, one line, for a disagreement log. */
int peer_settle_describe(struct ledger *l, uint64_t start, uint32_t len, char *buf, size_t cap);
/** Our half of @st (we are its debtor), at both chains' next positions. */
int peer_settle_offer(struct ledger *l, const struct ledger_identity *id,
		      const struct settle_transfer *st, struct ledger_transfer *t);
/**
 * peer_settle_check() - may we (creditor @me) sign @t?
 * Return: 0, a PEER_SETTLE_* refusal, or -errno.
 */
int peer_settle_check(struct ledger *l, const struct settle_result *res,
		      const uint8_t me[32], const struct ledger_transfer *t);
/**
 * peer_settle_admit() - may a PROPOSE for interval @start be looked at, at
 * @now_s, in a community settling every @len seconds? Checked before any
 * computation, so a proposal never disturbs the settlement in progress.
 * Return: 0, PEER_SETTLE_LATE or PEER_SETTLE_UNKNOWN (not such an interval).
 */
int peer_settle_admit(uint64_t now_s, uint64_t start, uint32_t len);
/** Does a REFUSE of our proposal @proposed come from its creditor @sender? */
bool peer_settle_refusal_from(const struct ledger_transfer *proposed, const uint8_t sender[32]);

/* ---- discovery.c ---- */

#define PEER_MAX_IFACES	8
#define PEER_MAX_STATIC	16

/**
 * struct peer_disc - the UDP sockets and the interfaces they serve
 * @fd6: dual-stack UDP socket (IPv6 group, unicast v4 and v6)
 * @fd4: IPv4 socket for the 239.255 group (same port, SO_REUSEADDR)
 * @nlfd: libnl-route cache manager fd (-1 when no interfaces configured)
 */
struct peer_disc {
	int fd6, fd4, nlfd;
	uint16_t port;
	int nifaces;
	char ifname[PEER_MAX_IFACES][16];
	int ifindex[PEER_MAX_IFACES];	/* 0: not present */
	uint32_t ifaddrs[PEER_MAX_IFACES];	/* addresses seen, for changes */
	int nstatic;
	struct sockaddr_storage *statics;
	void *mngr;			/* struct nl_cache_mngr * */
	void *link_cache, *addr_cache;
	bool changed;			/* link/address appeared: announce now */
};

int peer_disc_open(struct peer_disc *d, uint16_t port, const char *ifaces,
		   const char *statics, char *err, size_t errlen);
void peer_disc_close(struct peer_disc *d);
/** The netlink fd is readable: update interfaces and group memberships. */
void peer_disc_netlink(struct peer_disc *d);
/** Send @buf to both groups on every present interface and to statics. */
int peer_disc_multicast(struct peer_disc *d, const uint8_t *buf, size_t len);

#endif /* PHLOEM_PEER_H */
