/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * settle.h - deterministic settlement of one interval of shared energy.
 *
 * Given every member's metered energy for one interval, its balance and its
 * terms, and the community's terms, settle_run() decides who owes whom how
 * many Wh of mutual credit. The function is pure: no I/O, no clock, no
 * floating point, no global state; the result depends only on the *set* of
 * inputs, never on their order (everything is decided in key byte order),
 * so every gateway that holds the same signed entries computes the same
 * transfers, byte for byte, and each can counter-sign them.
 *
 * The rule, step by step (docs/settlement.md has it with worked examples):
 *  1. Self-supply: a member's import and export in the interval are netted;
 *     each member is then an importer, an exporter, or neither.
 *  2. Offer: an exporter keeps reserve_wh of its net export out of the
 *     pool; the rest is its offer. Loss: offer * loss_ppm / 1e6 (rounded up)
 *     is lost on the local lines; what is left is the exporter's available
 *     energy. Loss rounds up: nobody is credited for energy that may have
 *     been lost.
 *  3. Headroom: an importer may take at most the matched energy m such that
 *     m + fee(m) <= balance + credit_limit (0 if already past the limit).
 *  4. Clean pool first: clean-only importers share the available energy of
 *     clean exporters (all of it for SETTLE_F_CLEAN, else the share
 *     clean_export_wh / export_wh of it, rounded down); matched = min(pool, capped demand), shared pro-rata to
 *     demand, capped by headroom (a capped member's surplus goes to the
 *     others until nothing changes), rounded down with the remainder handed
 *     out one Wh at a time by largest remainder, ties by key order.
 *  5. Open pool: all other importers share what is left of every exporter's
 *     available energy, by the same rule.
 *  6. Each exporter is credited, per pool, pro-rata to what it had available
 *     in that pool for exactly the energy delivered (same rounding).
 *  7. Pairing: in each pool, importers (key order) are filled from exporters
 *     (key order), north-west corner: at most I + E - 1 bilateral transfers,
 *     each counter-signable by exactly its two parties.
 *  8. Fee: each importer pays fee(m) = m * fee_ppm / 1e6 (rounded down) to
 *     the operator as its own transfer; the operator pays no fee to itself.
 *  9. What is not matched is grid import/export and earns no credit.
 *
 * Guarantees (tested over thousands of generated communities): balance
 * changes sum to zero exactly; no exporter is credited more than its
 * available energy (hence never more than it exported); no importer is
 * debited more than it imported plus the fee on that; no transfer takes a
 * member below -credit_limit (or further below, if it was already there);
 * output sorted canonically and byte-identical under any input permutation.
 */
#ifndef PHLOEM_SETTLE_H
#define PHLOEM_SETTLE_H

#include <stddef.h>
#include <stdint.h>

#define SETTLE_KEY_LEN		32	/* Ed25519 public key */
#define SETTLE_PPM		1000000u
/*
 * Bounds that keep every intermediate product inside 128 bits and every sum
 * inside int64: 2^40 Wh is about a TWh per member and interval, and a
 * million members is far beyond any neighbourhood.
 */
#define SETTLE_WH_MAX		((int64_t)1 << 40)
#define SETTLE_MEMBERS_MAX	(1u << 20)
/* Balances and credit limits accumulate over many intervals: more room. */
#define SETTLE_BALANCE_MAX	((int64_t)1 << 50)

/* Errors: negative return values of settle_run(); see settle_strerror(). */
enum settle_err {
	SETTLE_OK		= 0,
	SETTLE_E_INVAL		= -1,	/* NULL pointer or n > SETTLE_MEMBERS_MAX */
	SETTLE_E_TERMS		= -2,	/* loss_ppm or fee_ppm > 1e6 */
	SETTLE_E_DUPLICATE	= -3,	/* the same key appears twice */
	SETTLE_E_RANGE		= -4,	/* a Wh value < 0 or > SETTLE_WH_MAX,
					 * or clean_export_wh > export_wh */
	SETTLE_E_BALANCE	= -5,	/* |balance| or limit > SETTLE_BALANCE_MAX */
	SETTLE_E_FLAGS		= -6,	/* unknown member flag bits */
	SETTLE_E_OPERATOR	= -7,	/* fee_ppm > 0 but operator is not a member */
	SETTLE_E_NOMEM		= -8,
};

/* Member flags; unknown bits are an error. */
enum settle_member_flags {
	SETTLE_F_CLEAN		= 1u << 0,	/* its export is clean (e.g. PV) */
	SETTLE_F_CLEAN_ONLY	= 1u << 1,	/* it buys only clean export */
	__SETTLE_F_ALL		= (1u << 2) - 1,
};

/**
 * struct settle_member - one member's input for the interval.
 * @key:             Ed25519 public key; the only identity and the sort key.
 * @import_wh:       metered energy drawn at its connection (>= 0).
 * @export_wh:       metered energy fed in at its connection (>= 0).
 * @balance_wh:      mutual-credit balance before this interval (ledger).
 * @credit_limit_wh: the balance may not go below -credit_limit_wh (>= 0,
 *                   <= SETTLE_BALANCE_MAX).
 * @reserve_wh:      net export kept out of the community pool (it goes to
 *                   the grid, e.g. under a supplier contract); >= 0.
 * @flags:           SETTLE_F_*.
 * @clean_export_wh: of @export_wh, the Wh its own measured PV produced
 *                   (0 .. export_wh; the signed meter entry's wh_clean).
 *                   That share of its available energy may go to the clean
 *                   pool; with SETTLE_F_CLEAN all of it may and this is
 *                   not used. 0: none.
 */
struct settle_member {
	uint8_t key[SETTLE_KEY_LEN];
	int64_t import_wh;
	int64_t export_wh;
	int64_t balance_wh;
	int64_t credit_limit_wh;
	int64_t reserve_wh;
	uint32_t flags;
	int64_t clean_export_wh;
};

/**
 * struct settle_terms - the community's terms and the interval.
 * @interval_start: start of the interval (Unix seconds), copied to transfers.
 * @interval_len_s: its length in seconds, copied to transfers.
 * @loss_ppm:       share of offered energy lost on the local lines.
 * @fee_ppm:        network-operator fee, share of each importer's match.
 * @operator_key:   who receives fees; must be a member when fee_ppm > 0.
 */
struct settle_terms {
	uint64_t interval_start;
	uint32_t interval_len_s;
	uint32_t loss_ppm;
	uint32_t fee_ppm;
	uint8_t operator_key[SETTLE_KEY_LEN];
};

enum settle_kind {
	SETTLE_ENERGY	= 0,	/* energy delivered: importer -> exporter */
	SETTLE_FEE	= 1,	/* network fee: importer -> operator */
};

/**
 * struct settle_transfer - one bilateral transfer of credit.
 * @debtor:   whose balance goes down by @amount_wh.
 * @creditor: whose balance goes up by @amount_wh.
 * @amount_wh: always > 0.
 * @kind:     SETTLE_ENERGY or SETTLE_FEE.
 *
 * Transfers are sorted by (debtor, creditor, kind); that triple is unique.
 */
struct settle_transfer {
	uint8_t debtor[SETTLE_KEY_LEN];
	uint8_t creditor[SETTLE_KEY_LEN];
	int64_t amount_wh;
	uint64_t interval_start;
	uint32_t interval_len_s;
	uint32_t kind;
};

/**
 * struct settle_summary - what happened to one member (sorted by key).
 * @self_wh:           min(import, export): supplied by itself.
 * @net_import_wh:     import - self_wh.
 * @net_export_wh:     export - self_wh.
 * @reserve_wh:        part of the net export kept out of the pool.
 * @loss_wh:           part of the offer lost on the local lines.
 * @matched_import_wh: energy bought from other members.
 * @matched_export_wh: energy sold to other members (credited).
 * @grid_import_wh:    net import not matched (no credit involved).
 * @grid_export_wh:    net export not credited (reserve, loss, unsold).
 * @fee_paid_wh:       fee paid to the operator.
 * @fee_received_wh:   fees received (operator only).
 * @clean_export_wh:   input copy.
 * @clean_avail_wh:    what it could sell in the clean pool.
 * @balance_before_wh: input balance.
 * @balance_after_wh:  balance after every transfer of this interval.
 */
struct settle_summary {
	uint8_t key[SETTLE_KEY_LEN];
	uint32_t flags;
	int64_t import_wh;
	int64_t export_wh;
	int64_t self_wh;
	int64_t net_import_wh;
	int64_t net_export_wh;
	int64_t reserve_wh;
	int64_t loss_wh;
	int64_t matched_import_wh;
	int64_t matched_export_wh;
	int64_t grid_import_wh;
	int64_t grid_export_wh;
	int64_t fee_paid_wh;
	int64_t fee_received_wh;
	int64_t clean_export_wh;
	int64_t clean_avail_wh;
	int64_t credit_limit_wh;
	int64_t balance_before_wh;
	int64_t balance_after_wh;
};

/**
 * struct settle_result - everything settle_run() decided.
 * @terms:        copy of the terms used.
 * @transfers:    @n_transfers transfers, canonical order (owned).
 * @members:      @n_members summaries, key order (owned).
 * @matched_wh:   energy matched locally (sum over importers).
 * @fees_wh:      sum of fees.
 * @err_key:      on SETTLE_E_DUPLICATE/RANGE/BALANCE/FLAGS, the offending
 *                member's key (so a tool can name it).
 */
struct settle_result {
	struct settle_terms terms;
	struct settle_transfer *transfers;
	size_t n_transfers;
	struct settle_summary *members;
	size_t n_members;
	int64_t matched_wh;
	int64_t fees_wh;
	uint8_t err_key[SETTLE_KEY_LEN];
};

/**
 * settle_run() - settle one interval.
 * @terms:   community terms (read only).
 * @members: @n member inputs, any order (read only; not kept).
 * @n:       0 .. SETTLE_MEMBERS_MAX.
 * @res:     filled on success; on error only @err_key is meaningful and
 *           nothing is left allocated.
 *
 * Allocates exactly two arrays, sized from @n alone (n summaries, at most
 * 3n transfers, plus O(n) scratch freed before returning); free them with
 * settle_result_free(). Return: SETTLE_OK or a negative enum settle_err.
 */
int settle_run(const struct settle_terms *terms,
	       const struct settle_member *members, size_t n,
	       struct settle_result *res);

/* settle_result_free() - free what settle_run() allocated; NULL-safe. */
void settle_result_free(struct settle_result *res);

/* settle_strerror() - a sentence for an enum settle_err value. */
const char *settle_strerror(int err);

/*
 * settle_format() - the canonical text of a result, byte for byte what
 * the golden files under tests/settle/golden/ hold. Writes at most @cap
 * bytes including the NUL; returns the length it needs (excluding the
 * NUL), as snprintf() does, so a caller may size a buffer with a first call.
 */
size_t settle_format(const struct settle_result *res, char *buf, size_t cap);

/* Keys as text: 64 lowercase hex digits (no NUL added by _hex). */
void settle_key_hex(const uint8_t key[SETTLE_KEY_LEN], char out[65]);
/*
 * settle_key_parse() - accept 64 hex digits or 44-character standard
 * base64 (the WireGuard form). Returns 0 or -1.
 */
int settle_key_parse(const char *text, uint8_t key[SETTLE_KEY_LEN]);

#endif /* PHLOEM_SETTLE_H */
