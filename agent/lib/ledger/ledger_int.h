/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internals shared by the ledger's source files; not installed. */
#ifndef PHLOEM_LEDGER_INT_H
#define PHLOEM_LEDGER_INT_H

#include <sqlite3.h>

#include "ledger.h"

#define BODY_METER	32
#define BODY_METER_CLEAN	40	/* with wh_clean */
#define BODY_TRANSFER	288
#define BODY_LIMIT	8
#define BODY_ROTATE	96
#define BODY_ENROL	96
#define TRANSFER_CORE	160
/*
 * 10^12 Wh: far beyond any neighbourhood, small enough that no sum of
 * amounts over the life of a ledger can overflow int64.
 */
#define LEDGER_AMOUNT_MAX	1000000000000ULL

/* Signature domains: a signature made for one purpose is never valid for another. */
#define DOMAIN_TRANSFER	"PHLXFER1"
#define DOMAIN_ROTATE	"PHLROT01"
#define DOMAIN_ENROL	"PHLENRL1"

int bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
int ledger_rotate_check(const struct ledger_entry *e);
int ledger_enrol_check(const struct ledger_entry *e);

enum {
	ST_HEAD,
	ST_ENTRY_AT,
	ST_CLAIMS,
	ST_BALANCE_BEFORE,
	ST_INS_ENTRY,
	ST_UPSERT_CHAIN,
	ST_INS_METER,
	ST_INS_TRANSFER,
	ST_ADD_BALANCE,
	ST_INS_FORK,
	ST_FLAG,
	ST_BY_HASH,
	ST_ANY_CLAIM,
	ST_XFER_GET,
	ST_XFER_COUNT,
	ST_XFER_WAITING,
	ST_LIMIT_AT,
	ST_INS_LIMIT,
	ST_FORK_COUNT,
	ST_HELD_PUT,
	ST_HELD_COUNT,
	ST_HELD_DUE,
	__ST_MAX,
};

/*
 * A foreign entry's signature, checked ahead of the sequential rules (on
 * both cores, see ledger_ingest()) against the key its chain had in force
 * when the batch began. Used only when validation asks for that very key.
 */
struct preverify {
	const uint8_t *raw;
	size_t len;
	uint8_t key[LEDGER_KEY_BYTES];
	int ok;			/* 1 valid, 0 not, -1 not checked */
};

/* What validation needs to know about one chain (a row of "chains"). */
struct chain_state {
	uint64_t head_seq;
	uint8_t head_hash[LEDGER_HASH_BYTES];
	uint64_t head_ts;
	uint8_t key[LEDGER_KEY_BYTES];
	uint64_t limit_wh;
	bool flagged;
	uint64_t claim_max;	/* highest slot of this chain a stored transfer claims */
};

#define CHAIN_CACHE_SLOTS	64
struct chain_cache {
	bool valid;
	bool dirty;		/* newer than the row in "chains" */
	uint8_t author[LEDGER_KEY_BYTES];
	struct chain_state c;
};

/*
 * struct ledger - an open ledger database and its prepared statements.
 * @cache: chain rows of the current write transaction (see store.c);
 * @snap: @cache as it was at the open savepoint, restored by ROLLBACK TO.
 */
struct ledger {
	sqlite3 *db;
	sqlite3_stmt *st[__ST_MAX];
	bool rdonly;
	struct chain_cache cache[CHAIN_CACHE_SLOTS];
	struct chain_cache snap[CHAIN_CACHE_SLOTS];
	/* the member set (sorted), see ledger_set_members() */
	bool members_set;
	size_t nmembers;
	uint8_t (*members)[LEDGER_KEY_BYTES];
	bool local;		/* validating our own append, not a foreign entry */
	const struct preverify *pre;	/* the entry being ingested, checked ahead */
	uint64_t fixed_now_ms;	/* 0: CLOCK_REALTIME */
};

/* store.c: reads and writes of one table row each; no policy. */
int store_err(struct ledger *l, int rc);
/* chain.c: replay the entries of a schema 1 database kept aside by migrate(). */
int chain_upgrade(struct ledger *l);
int store_exec(struct ledger *l, const char *sql);
void store_cache_clear(struct ledger *l);
int store_chain(struct ledger *l, const uint8_t author[32], struct chain_state *c);
int store_entry_at(struct ledger *l, const uint8_t author[32], uint64_t seq,
		   uint8_t *raw, size_t *len, uint8_t hash[32], uint8_t signer[32]);
/* A transfer other than @except_id that claims slot (@party, @seq); fills its prev. */
int store_claim(struct ledger *l, const uint8_t party[32], uint64_t seq,
		const uint8_t *except_id, uint8_t prev_out[32], bool *found);
/* Does any transfer claim slot @seq or @seq + 1 of @party? */
int store_any_claim(struct ledger *l, const uint8_t party[32], uint64_t seq, bool *found);
/*
 * @party's balance from the transfers at its slots below @seq: all of them
 * (@all: the debtor's chain alone), or the debits and only counted credits.
 */
int store_balance_before(struct ledger *l, const uint8_t party[32], uint64_t seq, bool all,
			 int64_t *bal);
/* Limit in force at slot @seq of @author: its last limit entry before it (0: none). */
int store_limit_at(struct ledger *l, const uint8_t author[32], uint64_t seq, uint64_t *limit);
int store_put_limit(struct ledger *l, const uint8_t author[32], uint64_t seq, uint64_t limit);
/* Fork rows of @author: in total, and at @seq. */
int store_fork_count(struct ledger *l, const uint8_t author[32], uint64_t seq, int *total,
		     int *at_seq);
int store_held_put(struct ledger *l, const struct ledger_entry *e, const uint8_t *raw,
		   size_t len, const uint8_t hash[32]);
int store_held_count(struct ledger *l, const uint8_t author[32], int *n);
/* Are entries held with a timestamp up to @ts? */
int store_held_due(struct ledger *l, uint64_t ts, bool *due);
int store_flag(struct ledger *l, const uint8_t author[32]);
int store_exec_rows(struct ledger *l, const char *sql, int64_t num,
		    int (*row)(sqlite3_stmt *, void *), void *arg);
int store_put_entry(struct ledger *l, const struct ledger_entry *e, const uint8_t *raw, size_t len,
		    const uint8_t hash[32], const uint8_t signer[32]);
int store_put_chain(struct ledger *l, const uint8_t author[32], const struct chain_state *c);
int store_put_meter(struct ledger *l, const struct ledger_entry *e);
/* A transfers row, as counting needs it. */
struct xfer_row {
	uint8_t debtor[32], creditor[32];
	uint64_t amount, debtor_seq, creditor_seq;
	int held;		/* bit 0: debtor's copy stored, bit 1: creditor's */
	bool counted;
};
int store_xfer_get(struct ledger *l, const uint8_t id[32], struct xfer_row *r);
/* Mark @id counted and move its credit. */
int store_xfer_count(struct ledger *l, const uint8_t id[32], const struct xfer_row *r);
/* Ids of @debtor's transfers past slot @after, its copy held, not counted (malloc'd). */
int store_xfer_waiting(struct ledger *l, const uint8_t debtor[32], uint64_t after,
		       uint8_t (**ids)[32], size_t *n);
/* One copy (@creditor_copy or the debtor's) of transfer @id is stored; counts it when due. */
int store_put_transfer(struct ledger *l, const struct ledger_transfer *t, const uint8_t id[32],
		       bool creditor_copy);
int store_put_fork(struct ledger *l, const uint8_t author[32], uint64_t seq,
		   const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

#endif /* PHLOEM_LEDGER_INT_H */
