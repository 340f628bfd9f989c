// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * scenario.c - settlement inputs from INI (format in scenario.h), parsed
 * with libinih. Kept apart from settle.c, which does no I/O at all.
 */
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

/* Short names for the enum settle_set bits used below. */
enum {
	F_IMPORT	= SETTLE_SET_IMPORT,
	F_EXPORT	= SETTLE_SET_EXPORT,
	F_BALANCE	= SETTLE_SET_BALANCE,
	F_LIMIT		= SETTLE_SET_LIMIT,
	F_RESERVE	= SETTLE_SET_RESERVE,
	F_CLEAN		= SETTLE_SET_CLEAN,
	F_CLEAN_ONLY	= SETTLE_SET_CLEAN_ONLY,
	F_START		= SETTLE_SET_START,
	F_LEN		= SETTLE_SET_LEN,
	F_LOSS		= SETTLE_SET_LOSS,
	F_FEE		= SETTLE_SET_FEE,
	F_OPERATOR	= SETTLE_SET_OPERATOR,
	F_KEY		= SETTLE_SET_KEY,
	F_CLEAN_EXPORT	= SETTLE_SET_CLEAN_EXPORT,
};

/* One [member NAME] section of the file being read, merged at its end. */
struct settle_pending {
	char name[SETTLE_NAME_MAX];
	struct settle_member v;
	uint32_t seen;		/* F_* fields set in this file */
};

void settle_scenario_init(struct settle_scenario *sc)
{
	memset(sc, 0, sizeof(*sc));
}

void settle_scenario_free(struct settle_scenario *sc)
{
	free(sc->members);
	free(sc->names);
	free(sc->set);
	free(sc->pend);
	sc->members = NULL;
	sc->names = NULL;
	sc->set = NULL;
	sc->pend = NULL;
	sc->n = sc->cap = sc->npend = sc->pcap = 0;
}

static struct settle_member *find_or_add(struct settle_scenario *sc,
					 const uint8_t key[SETTLE_KEY_LEN],
					 size_t *idx)
{
	size_t i;

	for (i = 0; i < sc->n; i++) {
		if (!memcmp(sc->members[i].key, key, SETTLE_KEY_LEN)) {
			*idx = i;
			return &sc->members[i];
		}
	}
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? 2 * sc->cap : 16;
		struct settle_member *m;
		char (*names)[SETTLE_NAME_MAX];
		uint32_t *set;

		m = realloc(sc->members, cap * sizeof(*m));
		if (!m)
			return NULL;
		sc->members = m;
		names = realloc(sc->names, cap * sizeof(*names));
		if (!names)
			return NULL;
		sc->names = names;
		set = realloc(sc->set, cap * sizeof(*set));
		if (!set)
			return NULL;
		sc->set = set;
		sc->cap = cap;
	}
	memset(&sc->members[sc->n], 0, sizeof(sc->members[sc->n]));
	memcpy(sc->members[sc->n].key, key, SETTLE_KEY_LEN);
	sc->names[sc->n][0] = '\0';
	sc->set[sc->n] = 0;
	*idx = sc->n;
	return &sc->members[sc->n++];
}

struct settle_member *settle_scenario_member(struct settle_scenario *sc,
					     const uint8_t key[SETTLE_KEY_LEN])
{
	size_t idx;

	return find_or_add(sc, key, &idx);
}

const char *settle_scenario_name(const struct settle_scenario *sc,
				 const uint8_t key[SETTLE_KEY_LEN])
{
	size_t i;

	for (i = 0; i < sc->n; i++)
		if (!memcmp(sc->members[i].key, key, SETTLE_KEY_LEN))
			return sc->names[i][0] ? sc->names[i] : NULL;
	return NULL;
}

static struct settle_pending *pending(struct settle_scenario *sc,
				      const char *name)
{
	size_t i;

	for (i = 0; i < sc->npend; i++)
		if (!strcmp(sc->pend[i].name, name))
			return &sc->pend[i];
	if (sc->npend == sc->pcap) {
		size_t cap = sc->pcap ? 2 * sc->pcap : 16;
		struct settle_pending *p = realloc(sc->pend, cap * sizeof(*p));

		if (!p)
			return NULL;
		sc->pend = p;
		sc->pcap = cap;
	}
	memset(&sc->pend[sc->npend], 0, sizeof(sc->pend[sc->npend]));
	snprintf(sc->pend[sc->npend].name, SETTLE_NAME_MAX, "%s", name);
	return &sc->pend[sc->npend++];
}

/* A whole decimal integer in [lo, hi]; anything else is refused. */
static int parse_i64(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno || end == v || *end || x < lo || x > hi)
		return -1;
	*out = x;
	return 0;
}

static int fail(struct settle_scenario *sc, const char *fmt, const char *a,
		const char *b)
{
	if (!sc->err[0])
		snprintf(sc->err, sizeof(sc->err), fmt, a, b);
	return 0;
}

static int parse_key(struct settle_scenario *sc, const char *text,
		     uint8_t key[SETTLE_KEY_LEN])
{
	if (sc->key_parse && !sc->key_parse(text, key))
		return 0;
	return settle_key_parse(text, key);
}

static int community(struct settle_scenario *sc, const char *name,
		     const char *v)
{
	struct settle_terms *t = &sc->terms;
	uint32_t bit;
	int64_t x;

	if (!strcmp(name, "operator")) {
		bit = F_OPERATOR;
		if (parse_key(sc, v, t->operator_key))
			return fail(sc, "operator: '%s' is not a key (64 hex digits or base64)%s",
				    v, "");
	} else if (!strcmp(name, "interval_start")) {
		bit = F_START;
		if (parse_i64(v, 0, INT64_MAX, &x))
			return fail(sc, "%s: '%s' is not a time in Unix seconds",
				    name, v);
		t->interval_start = (uint64_t)x;
	} else if (!strcmp(name, "interval_len")) {
		bit = F_LEN;
		if (parse_i64(v, 0, UINT32_MAX, &x))
			return fail(sc, "%s: '%s' is not a length in seconds",
				    name, v);
		t->interval_len_s = (uint32_t)x;
	} else if (!strcmp(name, "loss_ppm") || !strcmp(name, "fee_ppm")) {
		bit = name[0] == 'l' ? F_LOSS : F_FEE;
		if (parse_i64(v, 0, SETTLE_PPM, &x))
			return fail(sc, "%s: '%s' is not 0 .. 1000000",
				    name, v);
		if (bit == F_LOSS)
			t->loss_ppm = (uint32_t)x;
		else
			t->fee_ppm = (uint32_t)x;
	} else {
		return fail(sc, "[community]: unknown name '%s'%s", name, "");
	}
	if (sc->community_seen & bit)
		return fail(sc, "[community]: '%s' set twice%s", name, "");
	sc->community_seen |= bit;
	sc->community_set |= bit;
	return 1;
}

static int member(struct settle_scenario *sc, const char *name,
		  const char *field, const char *v)
{
	static const struct {
		const char *name;
		uint32_t bit;
		int64_t lo, hi;
	} fields[] = {
		{ "import_wh", F_IMPORT, 0, SETTLE_WH_MAX },
		{ "export_wh", F_EXPORT, 0, SETTLE_WH_MAX },
		{ "balance_wh", F_BALANCE, -SETTLE_BALANCE_MAX, SETTLE_BALANCE_MAX },
		{ "credit_limit_wh", F_LIMIT, 0, SETTLE_BALANCE_MAX },
		{ "reserve_wh", F_RESERVE, 0, SETTLE_WH_MAX },
		{ "clean", F_CLEAN, 0, 1 },
		{ "clean_only", F_CLEAN_ONLY, 0, 1 },
		{ "clean_export_wh", F_CLEAN_EXPORT, 0, SETTLE_WH_MAX },
	};
	struct settle_member *m;
	struct settle_pending *p;
	uint32_t bit;
	size_t i;
	int64_t x = 0;

	if (!name[0] || strlen(name) >= SETTLE_NAME_MAX)
		return fail(sc, "[member %s]: a name of 1 .. 31 characters is needed%s",
			    name, "");
	p = pending(sc, name);
	if (!p)
		return fail(sc, "out of memory%s%s", "", "");
	m = &p->v;
	if (!strcmp(field, "key")) {
		bit = F_KEY;
		if (parse_key(sc, v, m->key))
			return fail(sc, "[member %s]: key '%.70s' is not a key (64 hex digits, base64 or phl1...)",
				    name, v);
	} else {
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (!strcmp(field, fields[i].name))
				break;
		if (i == sizeof(fields) / sizeof(fields[0]))
			return fail(sc, "[member %s]: unknown name '%s'", name,
				    field);
		if (parse_i64(v, fields[i].lo, fields[i].hi, &x))
			return fail(sc, "%s: '%s' is not a number in range",
				    field, v);
		bit = fields[i].bit;
	}
	if (p->seen & bit)
		return fail(sc, "[member %s]: '%s' set twice (duplicate member?)",
			    name, field);
	p->seen |= bit;
	switch (bit) {
	case F_IMPORT:
		m->import_wh = x;
		break;
	case F_EXPORT:
		m->export_wh = x;
		break;
	case F_BALANCE:
		m->balance_wh = x;
		break;
	case F_LIMIT:
		m->credit_limit_wh = x;
		break;
	case F_RESERVE:
		m->reserve_wh = x;
		break;
	case F_CLEAN:
		m->flags |= x ? SETTLE_F_CLEAN : 0;
		break;
	case F_CLEAN_ONLY:
		m->flags |= x ? SETTLE_F_CLEAN_ONLY : 0;
		break;
	case F_CLEAN_EXPORT:
		m->clean_export_wh = x;
		break;
	}
	return 1;
}

/*
 * End of a file: every section needs a key, no two sections may share
 * one, and only the fields the file set override what earlier files said.
 */
static int merge_pending(struct settle_scenario *sc)
{
	size_t i, j, idx;

	for (i = 0; i < sc->npend; i++) {
		struct settle_pending *p = &sc->pend[i];

		if (!(p->seen & F_KEY)) {
			fail(sc, "[member %s]: no key%s", p->name, "");
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (!memcmp(sc->pend[j].v.key, p->v.key, SETTLE_KEY_LEN)) {
				fail(sc, "[member %s] and [member %s] have the same key",
				     sc->pend[j].name, p->name);
				return -1;
			}
		}
	}
	for (i = 0; i < sc->npend; i++) {
		struct settle_pending *p = &sc->pend[i];
		struct settle_member *m = find_or_add(sc, p->v.key, &idx);

		if (!m) {
			fail(sc, "out of memory%s%s", "", "");
			return -1;
		}
		snprintf(sc->names[idx], SETTLE_NAME_MAX, "%s", p->name);
		sc->set[idx] |= p->seen;
		if (p->seen & F_IMPORT)
			m->import_wh = p->v.import_wh;
		if (p->seen & F_EXPORT)
			m->export_wh = p->v.export_wh;
		if (p->seen & F_BALANCE)
			m->balance_wh = p->v.balance_wh;
		if (p->seen & F_LIMIT)
			m->credit_limit_wh = p->v.credit_limit_wh;
		if (p->seen & F_RESERVE)
			m->reserve_wh = p->v.reserve_wh;
		if (p->seen & F_CLEAN)
			m->flags = (m->flags & ~(uint32_t)SETTLE_F_CLEAN) |
				   (p->v.flags & SETTLE_F_CLEAN);
		if (p->seen & F_CLEAN_ONLY)
			m->flags = (m->flags & ~(uint32_t)SETTLE_F_CLEAN_ONLY) |
				   (p->v.flags & SETTLE_F_CLEAN_ONLY);
		if (p->seen & F_CLEAN_EXPORT)
			m->clean_export_wh = p->v.clean_export_wh;
	}
	return 0;
}

static int handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct settle_scenario *sc = user;

	if (sc->err[0])
		return 0;	/* report the first problem only */
	if (!strcmp(section, "community"))
		return community(sc, name, value);
	if (!strncmp(section, "member ", 7))
		return member(sc, section + 7, name, value);
	return fail(sc, "unknown section [%s]%s", section, "");
}

/* Forget which fields the previous file set: a new file may override. */
static void start_file(struct settle_scenario *sc)
{
	sc->community_seen = 0;
	sc->npend = 0;
	sc->err[0] = '\0';
}

static int finish(struct settle_scenario *sc, int rc, const char *what)
{
	char msg[sizeof(sc->err)];

	if (rc == 0) {
		if (!merge_pending(sc))
			return 0;
		snprintf(msg, sizeof(msg), "%s", sc->err);
		snprintf(sc->err, sizeof(sc->err), "%s: %.120s", what, msg);
		return -1;
	}
	if (rc == -1) {
		snprintf(sc->err, sizeof(sc->err), "%s: %s", what,
			 strerror(errno));
	} else if (rc == -2) {
		snprintf(sc->err, sizeof(sc->err), "%s: out of memory", what);
	} else {
		snprintf(msg, sizeof(msg), "%s", sc->err[0] ? sc->err :
			 "syntax error");
		snprintf(sc->err, sizeof(sc->err), "%s:%d: %.120s", what, rc, msg);
	}
	return -1;
}

int settle_scenario_load(struct settle_scenario *sc, const char *path)
{
	FILE *f;
	int rc;

	start_file(sc);
	f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f)
		return finish(sc, -1, path);
	rc = ini_parse_file(f, handler, sc);
	if (f != stdin)
		fclose(f);
	return finish(sc, rc, path);
}

int settle_scenario_parse(struct settle_scenario *sc, const char *text)
{
	start_file(sc);
	return finish(sc, ini_parse_string(text, handler, sc), "<string>");
}
