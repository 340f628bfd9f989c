/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libphloem ledger: the signed, hash-chained mutual-credit ledger.
 *
 * Every gateway keeps its own chain of entries (a "source chain"): each
 * entry names its author (an Ed25519 public key), a sequence number that
 * grows by exactly one, the BLAKE2b-256 hash of the previous entry and a
 * timestamp, and carries a typed body (metered interval, transfer, credit
 * limit, key rotation, fork proof, enrolment). docs/ledger.md specifies the
 * byte layout; this header is the C interface to it.
 *
 * Conventions:
 *  - Functions return 0 on success, a negative errno for system failures
 *    (I/O, memory, SQLite) and a positive enum ledger_reason when input was
 *    refused. ledger_strerror() names either kind.
 *  - Keys, hashes and signatures are fixed-size byte arrays owned by the
 *    caller; the library never keeps a pointer to caller memory after a call
 *    returns, and pointers handed to callbacks are valid only during the
 *    callback.
 *  - Objects returned by *_new/_open/_load are owned by the caller and freed
 *    with the matching *_free/_close.
 *
 * Thread-safety: a struct ledger is not thread-safe; use one per thread.
 */
#ifndef PHLOEM_LEDGER_H
#define PHLOEM_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEDGER_FORMAT_VERSION	1
#define LEDGER_KEY_BYTES	32
#define LEDGER_HASH_BYTES	32
#define LEDGER_SIG_BYTES	64
#define LEDGER_SEED_BYTES	32
#define LEDGER_HEADER_BYTES	88
/* Largest entry the decoder accepts; anything longer is "oversized". */
#define LEDGER_ENTRY_MAX	2048
/* Largest entry that may be nested in a fork proof (any non-fork entry). */
#define LEDGER_NESTED_MAX	(LEDGER_HEADER_BYTES + 288 + LEDGER_SIG_BYTES)
/* "phl1" + 58 base32 characters + NUL. */
#define LEDGER_KEYTEXT_LEN	62
#define LEDGER_KEYTEXT_SIZE	(LEDGER_KEYTEXT_LEN + 1)

enum ledger_type {
	LEDGER_T_METER		= 1,
	LEDGER_T_TRANSFER	= 2,
	LEDGER_T_LIMIT		= 3,
	LEDGER_T_ROTATE		= 4,
	LEDGER_T_FORK		= 5,
	LEDGER_T_ENROL		= 6,
};

/* Why an entry was refused. Stable numbers: they appear in tool output. */
enum ledger_reason {
	LEDGER_OK = 0,
	LEDGER_E_TRUNCATED,
	LEDGER_E_TRAILING,
	LEDGER_E_OVERSIZED,
	LEDGER_E_VERSION,
	LEDGER_E_TYPE,
	LEDGER_E_RESERVED,
	LEDGER_E_BODY,
	LEDGER_E_SIGNATURE,
	LEDGER_E_COUNTERSIG,
	LEDGER_E_SEQ_GAP,
	LEDGER_E_BACKLINK,
	LEDGER_E_TIME,
	LEDGER_E_LIMIT,
	LEDGER_E_DOUBLE_SPEND,
	LEDGER_E_REPLAY,
	LEDGER_E_NOT_PARTY,
	LEDGER_E_FORK,
	LEDGER_E_BAD_PROOF,
	LEDGER_E_KEYTEXT,
	LEDGER_E_NOT_MEMBER,	/* author or counterparty outside the member set */
	LEDGER_E_FUTURE,	/* timestamp ahead of our clock: held, not stored */
	LEDGER_E_FORK_KNOWN,	/* fork evidence for that slot already kept */
	__LEDGER_E_MAX,
};

/*
 * Metered interval: what this site imported and exported, in Wh. With
 * @clean_known the body carries the clean part of the export too (the
 * 40-byte form, docs/ledger.md): @wh_clean <= @wh_export is the export
 * covered by the site's own measured PV production. Without it (the 32-byte
 * form, and every entry written before the field existed) nothing of the
 * export is attributed clean.
 */
struct ledger_meter {
	uint64_t interval_start;	/* Unix seconds */
	uint32_t interval_len;		/* seconds, > 0 */
	uint64_t wh_import;
	uint64_t wh_export;
	uint32_t channels;		/* bit n: HAT channel n contributed */
	bool clean_known;		/* the body has wh_clean (40 bytes) */
	uint64_t wh_clean;		/* <= wh_export; 0 unless clean_known */
};

/*
 * Transfer of amount_wh of credit from debtor to creditor. Both parties sign
 * the transfer core (everything but the two signatures) and each appends the
 * same transfer to its own chain at exactly the sequence number and after
 * exactly the previous-entry hash named here: that pins the credit to one
 * position of each chain, so it cannot be spent twice.
 */
struct ledger_transfer {
	uint8_t debtor[LEDGER_KEY_BYTES];
	uint8_t creditor[LEDGER_KEY_BYTES];
	uint64_t amount_wh;		/* > 0 */
	uint64_t interval_start;	/* the settled interval, Unix seconds */
	uint64_t debtor_seq;
	uint8_t debtor_prev[LEDGER_HASH_BYTES];
	uint64_t creditor_seq;
	uint8_t creditor_prev[LEDGER_HASH_BYTES];
	uint8_t debtor_sig[LEDGER_SIG_BYTES];
	uint8_t creditor_sig[LEDGER_SIG_BYTES];
};

/* The author declares how far below zero its own balance may go. */
struct ledger_limit {
	uint64_t limit_wh;
};

/* The author hands its chain to a new key; the new key proves possession. */
struct ledger_rotate {
	uint8_t new_key[LEDGER_KEY_BYTES];
	uint8_t new_key_sig[LEDGER_SIG_BYTES];
};

/* Two different, validly signed entries of one author with one sequence. */
struct ledger_fork {
	uint32_t a_len, b_len;
	uint8_t a[LEDGER_NESTED_MAX];
	uint8_t b[LEDGER_NESTED_MAX];
};

/* An owner key vouches for the gateway key that authors this chain. */
struct ledger_enrol {
	uint8_t owner[LEDGER_KEY_BYTES];
	uint8_t owner_sig[LEDGER_SIG_BYTES];
};

struct ledger_entry {
	uint8_t version;
	uint8_t type;			/* enum ledger_type */
	uint8_t author[LEDGER_KEY_BYTES];	/* chain id: the first key */
	uint64_t seq;			/* 1 for the first entry */
	uint8_t prev[LEDGER_HASH_BYTES];	/* zero for seq 1 */
	uint64_t timestamp_ms;		/* Unix milliseconds */
	union {
		struct ledger_meter meter;
		struct ledger_transfer transfer;
		struct ledger_limit limit;
		struct ledger_rotate rotate;
		struct ledger_fork fork;
		struct ledger_enrol enrol;
	} body;
	uint8_t sig[LEDGER_SIG_BYTES];	/* by the author's current key */
};

const char *ledger_strerror(int err);
const char *ledger_type_name(unsigned int type);

/* ---- identity.c: keys and their text form ---- */

/*
 * An Ed25519 key pair. The secret half lives in sodium_malloc()ed memory
 * (guard pages, mlocked, wiped on free); never print or log it.
 */
struct ledger_identity {
	uint8_t pk[LEDGER_KEY_BYTES];
	uint8_t sk[64];
};

/* Fresh random identity. NULL on failure (errno set). */
struct ledger_identity *ledger_identity_new(void);
/* Deterministic identity from a 32-byte seed (test vectors). */
struct ledger_identity *ledger_identity_from_seed(const uint8_t seed[LEDGER_SEED_BYTES]);
void ledger_identity_free(struct ledger_identity *id);
/*
 * Write the seed to @path atomically (temporary file created O_EXCL 0600,
 * fsync, rename, fsync of the directory). Fails with -EEXIST if @path
 * exists, so an identity is never overwritten by accident, unless
 * @replace is set (key rotation).
 */
int ledger_identity_save(const struct ledger_identity *id, const char *path, bool replace);
/*
 * Load a key file. Refuses (-EPERM) a file that group or others may read or
 * write, and (-EINVAL) one of the wrong size. *out is owned by the caller.
 */
int ledger_identity_load(const char *path, struct ledger_identity **out);

/* "phl1" + base32(key || 4-byte BLAKE2b checksum); @out has LEDGER_KEYTEXT_SIZE. */
void ledger_key_to_text(const uint8_t key[LEDGER_KEY_BYTES], char *out);
/* Parse a text key; LEDGER_E_KEYTEXT for a wrong prefix, length, character or checksum. */
int ledger_key_from_text(const char *text, uint8_t key[LEDGER_KEY_BYTES]);

/* ---- entry.c: canonical encoding ---- */

/* Encode @e (including its signature) into @buf; -ENOSPC if @cap is short. */
int ledger_entry_encode(const struct ledger_entry *e, uint8_t *buf, size_t cap, size_t *len);
/*
 * Strictly decode one entry occupying exactly @len bytes: returns a reason
 * (truncated, trailing bytes, oversized, version, type, reserved, body) or 0.
 * Does not check signatures.
 */
int ledger_entry_decode(const uint8_t *buf, size_t len, struct ledger_entry *e);
/* Size of the entry that starts at @buf, from its header: for splitting a stream. */
int ledger_entry_peek_len(const uint8_t *buf, size_t avail, size_t *len);
/* BLAKE2b-256 of the whole encoded entry (header, body and signature). */
void ledger_hash(const uint8_t *buf, size_t len, uint8_t out[LEDGER_HASH_BYTES]);
/* Sign header+body with @id, filling e->sig. e->author is not changed. */
int ledger_entry_sign(struct ledger_entry *e, const struct ledger_identity *id);
/* Check e->sig against @key (the author's key in force at e->seq). */
int ledger_entry_verify(const struct ledger_entry *e, const uint8_t key[LEDGER_KEY_BYTES]);
/*
 * A transfer body on its own (288 bytes, the layout of docs/ledger.md), as
 * the two parties pass it between them while collecting signatures.
 * Decoding applies the body rules of the entry decoder.
 */
#define LEDGER_TRANSFER_BYTES	288
void ledger_transfer_encode(const struct ledger_transfer *t, uint8_t buf[LEDGER_TRANSFER_BYTES]);
int ledger_transfer_decode(const uint8_t *buf, size_t len, struct ledger_transfer *t);
/* Identity of a transfer: BLAKE2b-256 of its signed core. */
void ledger_transfer_id(const struct ledger_transfer *t, uint8_t out[LEDGER_HASH_BYTES]);
/*
 * Add @id's signature to @t as debtor or creditor (whichever @id is;
 * LEDGER_E_NOT_PARTY if neither). @key is the party's chain id, which
 * differs from id->pk after a rotation.
 */
int ledger_transfer_sign(struct ledger_transfer *t, const uint8_t key[LEDGER_KEY_BYTES],
			 const struct ledger_identity *id);
/* Check one party's signature under @signer (that party's key in force). */
int ledger_transfer_verify_party(const struct ledger_transfer *t, bool creditor,
				 const uint8_t signer[LEDGER_KEY_BYTES]);
/* Fill the rotation body: @next signs e->author (set it first: the chain id) and its own key. */
int ledger_rotate_prepare(struct ledger_entry *e, const struct ledger_identity *next);
/* Fill the enrolment body: @owner signs e->author (set it first: the chain id). */
int ledger_enrol_prepare(struct ledger_entry *e, const struct ledger_identity *owner);

/* ---- store.c / chain.c: the ledger database ---- */

struct ledger;

#define LEDGER_O_CREATE		0x1	/* create the database if missing */
#define LEDGER_O_RDONLY		0x2
/*
 * Commits are not synced (synchronous=OFF): only for throwaway ledgers such
 * as scratch copies and tests; a crash may lose acknowledged appends.
 */
#define LEDGER_O_NOSYNC		0x4

/* Open (and migrate) a ledger database. "memory" paths (":memory:") work. */
int ledger_open(const char *path, unsigned int flags, struct ledger **out);
void ledger_close(struct ledger *l);

/*
 * Append a local entry authored by chain @author (usually id->pk; after a
 * rotation, the original key). The caller fills e->type and e->body; the
 * library fills version, author, seq, prev, timestamp (if 0: now, but never
 * earlier than the head), signs with @id, validates it like any foreign
 * entry and commits durably before returning (inside ledger_begin(): at
 * ledger_commit()). Returns a reason if the entry breaks a rule (a
 * transfer past the credit limit, a rotated-away key...), storing nothing.
 * On success @hash (may be NULL) receives the entry hash and @e holds the
 * full entry.
 */
int ledger_append(struct ledger *l, const uint8_t author[LEDGER_KEY_BYTES],
		  const struct ledger_identity *id, struct ledger_entry *e,
		  uint8_t hash[LEDGER_HASH_BYTES]);

/* One encoded entry to ingest, and the outcome for it. */
struct ledger_blob {
	const uint8_t *buf;		/* borrowed for the duration of the call */
	size_t len;
	int status;			/* out: 0, LEDGER_E_FORK (kept as proof) or a reason */
};

/*
 * Validate and store foreign entries, in order, in one transaction (or a
 * savepoint of the caller's, see ledger_begin()). A refused entry changes
 * nothing (every rule is checked before anything is written) and does not
 * stop the batch; its reason is left in its status. A fork is kept as
 * evidence and its author flagged (status LEDGER_E_FORK). Returns the
 * number stored (forks included), or -errno after a storage failure, in
 * which case the whole batch is rolled back. Entries held from the future
 * whose time has come are taken in first. From 16 entries on, the
 * signatures are checked ahead on a second, short-lived thread (libsodium
 * only; the ledger itself is touched by the calling thread alone). With a
 * member set, entries of non-members are refused (LEDGER_E_NOT_MEMBER).
 */
int ledger_ingest(struct ledger *l, struct ledger_blob *blobs, size_t n);

/*
 * Group several ledger_append()/ledger_ingest() calls into one durable
 * commit (each call then runs in a savepoint of it: a refused entry still
 * changes nothing). ledger_rollback() drops everything since ledger_begin().
 */
int ledger_begin(struct ledger *l);
int ledger_commit(struct ledger *l);
void ledger_rollback(struct ledger *l);

struct ledger_head {
	uint64_t seq;			/* 0: no entry yet */
	uint8_t hash[LEDGER_HASH_BYTES];
	uint64_t timestamp_ms;
	uint8_t key[LEDGER_KEY_BYTES];	/* key in force for seq + 1 */
};
/* Head of @author's chain; a chain not yet seen has seq 0 and key = author. */
int ledger_get_head(struct ledger *l, const uint8_t author[LEDGER_KEY_BYTES], struct ledger_head *h);

/* Raw entry of @author at @seq into @buf (LEDGER_ENTRY_MAX bytes); -ENOENT if absent. */
int ledger_get_entry(struct ledger *l, const uint8_t author[LEDGER_KEY_BYTES], uint64_t seq,
		     uint8_t *buf, size_t *len);
/* Raw entry with hash @hash; -ENOENT if absent. */
int ledger_get_by_hash(struct ledger *l, const uint8_t hash[LEDGER_HASH_BYTES],
		       uint8_t *buf, size_t *len);

/*
 * Walk stored entries in storage order (@author NULL: every chain, else one
 * chain in sequence order). @raw/@e are valid during the callback only. A
 * non-zero return from @cb stops the walk and is returned.
 */
typedef int (*ledger_entry_cb)(const uint8_t *raw, size_t len, const struct ledger_entry *e,
			       const uint8_t hash[LEDGER_HASH_BYTES], void *arg);
int ledger_foreach_entry(struct ledger *l, const uint8_t *author, ledger_entry_cb cb, void *arg);

/* Every metered interval (of any author) that starts at @interval_start. */
typedef int (*ledger_meter_cb)(const uint8_t author[LEDGER_KEY_BYTES],
			       const struct ledger_meter *m, void *arg);
int ledger_foreach_meter(struct ledger *l, uint64_t interval_start, ledger_meter_cb cb, void *arg);

/* What the ledger derives about one member (an author or transfer party). */
struct ledger_member {
	uint8_t key[LEDGER_KEY_BYTES];	/* chain id */
	uint64_t head_seq;		/* 0: known only from others' transfers */
	int64_t balance_wh;		/* credit received minus credit spent, counting
					 * only counted transfers (docs/ledger.md) */
	uint64_t limit_wh;		/* balance may not go below -limit_wh */
	bool flagged;			/* a fork of this author was seen */
};
typedef int (*ledger_member_cb)(const struct ledger_member *m, void *arg);
int ledger_foreach_member(struct ledger *l, ledger_member_cb cb, void *arg);
/* One member; an unknown key gets zero balance and limit. */
int ledger_get_member(struct ledger *l, const uint8_t key[LEDGER_KEY_BYTES], struct ledger_member *m);

/*
 * The community's member set. Once set, ledger_ingest() refuses
 * (LEDGER_E_NOT_MEMBER) every entry whose author is not in it, transfers
 * whose other party is not, and fork proofs about non-members, and
 * ledger_foreach_meter() reports members only. @keys (chain ids, @n of
 * them, any order, copied) replace the previous set; @keys NULL clears it
 * (every author accepted: tools, imports, tests). Local appends
 * (ledger_append()) check only the other party of a transfer. Returns 0 or
 * -ENOMEM.
 */
int ledger_set_members(struct ledger *l, const uint8_t (*keys)[LEDGER_KEY_BYTES], size_t n);
/* Is @key in the member set (always true while no set is given)? */
bool ledger_is_member(const struct ledger *l, const uint8_t key[LEDGER_KEY_BYTES]);

/*
 * Clock. An entry whose timestamp is more than LEDGER_SKEW_MS ahead of
 * the clock is not stored: it is held (at most LEDGER_HELD_MAX per
 * author, status LEDGER_E_FUTURE) and taken in again by a later
 * ledger_ingest() once the clock has caught up. @now_ms 0: the real clock
 * (CLOCK_REALTIME); anything else fixes the clock (tests, replays).
 */
#define LEDGER_SKEW_MS		(10 * 60 * 1000)
#define LEDGER_HELD_MAX		4
void ledger_set_time(struct ledger *l, uint64_t now_ms);
/* Held entries (from the future) still waiting, for @author or all (NULL). */
int ledger_held_count(struct ledger *l, const uint8_t *author);

/*
 * Transfers stored but not counted in balances ("pending", see
 * docs/ledger.md, Balances): the debtor's copy missing, or over the
 * debtor's limit once only counted credit is taken into account. @cb gets each one.
 */
typedef int (*ledger_transfer_cb)(const struct ledger_transfer *t, bool counted, void *arg);
int ledger_foreach_transfer(struct ledger *l, bool pending_only, ledger_transfer_cb cb, void *arg);

/* Fork evidence kept per author: at most one pair per sequence number and
 * LEDGER_FORKS_MAX pairs per author; more is refused (LEDGER_E_FORK_KNOWN). */
#define LEDGER_FORKS_MAX	8
/* Fork evidence: two entries of @author with the same @seq. */
typedef int (*ledger_fork_cb)(const uint8_t author[LEDGER_KEY_BYTES], uint64_t seq,
			      const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
			      void *arg);
int ledger_foreach_fork(struct ledger *l, ledger_fork_cb cb, void *arg);

/*
 * Re-verify everything from scratch: every stored entry is decoded, its
 * signature checked and the chains replayed into a fresh in-memory ledger;
 * fork evidence is re-checked; derived balances are recomputed and compared
 * with the stored ones. @cb (may be NULL) hears each problem; returns the
 * number of problems (0: all good) or -errno.
 */
typedef void (*ledger_problem_cb)(const uint8_t *author, uint64_t seq, const char *what, void *arg);
int ledger_verify(struct ledger *l, ledger_problem_cb cb, void *arg);

#endif /* PHLOEM_LEDGER_H */
