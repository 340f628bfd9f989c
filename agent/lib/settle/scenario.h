/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scenario.h - settlement inputs from INI text: community terms, member
 * terms and (for dry runs and golden tests) member meters.
 *
 *   [community]
 *   interval_start = 1700000000   ; Unix seconds
 *   interval_len   = 900          ; seconds
 *   loss_ppm       = 20000
 *   fee_ppm        = 10000
 *   operator       = <key: 64 hex digits or 44-char base64>
 *
 *   [member alice]                ; a short name, for people
 *   key = <key>                   ; required: the identity
 *   import_wh = 0                 ; meters: --input files only
 *   export_wh = 0
 *   balance_wh = 0
 *   credit_limit_wh = 0
 *   reserve_wh = 0
 *   clean = 0|1
 *   clean_only = 0|1
 *   clean_export_wh = <Wh of export_wh its own PV produced>
 *
 * The key is a name=value line rather than part of the section header
 * because libinih truncates section names at 50 characters and a key is
 * 64 hex digits (or 62 characters in the ledger's text form).
 *
 * Several files may be loaded into one scenario (a terms file on top of
 * meters from the ledger): a later file overrides fields, but one file
 * may not set the same field twice (a duplicated member is a mistake, not
 * an override). Unknown sections and names are errors, so a typo never
 * silently settles with a default.
 */
#ifndef PHLOEM_SETTLE_SCENARIO_H
#define PHLOEM_SETTLE_SCENARIO_H

#include "settle.h"

#define SETTLE_NAME_MAX	32	/* member section names, NUL included */

struct settle_pending;

/* Which fields the loaded files gave (struct settle_scenario @set). */
enum settle_set {
	SETTLE_SET_IMPORT	= 1u << 0,
	SETTLE_SET_EXPORT	= 1u << 1,
	SETTLE_SET_BALANCE	= 1u << 2,
	SETTLE_SET_LIMIT	= 1u << 3,
	SETTLE_SET_RESERVE	= 1u << 4,
	SETTLE_SET_CLEAN	= 1u << 5,
	SETTLE_SET_CLEAN_ONLY	= 1u << 6,
	SETTLE_SET_START	= 1u << 7,	/* [community] names from here */
	SETTLE_SET_LEN		= 1u << 8,
	SETTLE_SET_LOSS		= 1u << 9,
	SETTLE_SET_FEE		= 1u << 10,
	SETTLE_SET_OPERATOR	= 1u << 11,
	SETTLE_SET_KEY		= 1u << 12,
	SETTLE_SET_CLEAN_EXPORT	= 1u << 13,
};

/**
 * struct settle_scenario - inputs being assembled.
 * @terms:   community terms.
 * @members: @n members in the order first seen (settle_run() sorts);
 *           owned, grown by settle_scenario_member().
 * @names:   @n names (the section name that gave each member, "" if none).
 * @set:     @n masks of enum settle_set: the fields any file gave a member
 *           (0 for members added by settle_scenario_member()).
 * @community_set: the same for [community].
 * @err:     after a failed load, "FILE:LINE: what is wrong".
 */
struct settle_scenario {
	struct settle_terms terms;
	struct settle_member *members;
	char (*names)[SETTLE_NAME_MAX];
	uint32_t *set;
	uint32_t community_set;
	size_t n;
	/*
	 * Optional extra key text form (the ledger's "phl1..." form), tried
	 * before hex and base64; set by tools that link the ledger library,
	 * so this parser does not depend on it.
	 */
	int (*key_parse)(const char *text, uint8_t key[SETTLE_KEY_LEN]);
	/* private */
	size_t cap;
	struct settle_pending *pend;	/* member sections of the current file */
	size_t npend, pcap;
	uint32_t community_seen;
	char err[160];
};

void settle_scenario_init(struct settle_scenario *sc);
void settle_scenario_free(struct settle_scenario *sc);

/*
 * settle_scenario_load() - merge an INI file (@path, "-" for stdin) or
 * settle_scenario_parse() - an INI string. Return 0, or -1 with @sc->err
 * set; on error @sc may hold part of the file (callers give up on it).
 */
int settle_scenario_load(struct settle_scenario *sc, const char *path);
int settle_scenario_parse(struct settle_scenario *sc, const char *text);

/*
 * settle_scenario_member() - the member with @key, added with zero meters
 * and terms when absent. NULL on allocation failure. The pointer is valid
 * until the next call that may add a member.
 */
struct settle_member *settle_scenario_member(struct settle_scenario *sc,
					     const uint8_t key[SETTLE_KEY_LEN]);

/* settle_scenario_name() - the name given to @key, or NULL. */
const char *settle_scenario_name(const struct settle_scenario *sc,
				 const uint8_t key[SETTLE_KEY_LEN]);

#endif /* PHLOEM_SETTLE_SCENARIO_H */
