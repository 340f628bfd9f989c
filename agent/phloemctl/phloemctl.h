/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemctl: subcommand entry points and the helpers they share.
 * Each subcommand lives in its own file as <name>_main(argc, argv), with
 * argv[0] the subcommand name; main.c's table dispatches to it.
 */
#ifndef PHLOEMCTL_H
#define PHLOEMCTL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ledger.h"

#define PHLOEM_DEFAULT_DIR	"/var/lib/phloem"

int identity_main(int argc, char **argv);
int ledger_main(int argc, char **argv);
int settle_main(int argc, char **argv);
int status_main(int argc, char **argv);
int channels_main(int argc, char **argv);
int relays_main(int argc, char **argv);
int limits_main(int argc, char **argv);
int freq_main(int argc, char **argv);
int phase_main(int argc, char **argv);
int mains_main(int argc, char **argv);
int events_main(int argc, char **argv);
int history_main(int argc, char **argv);
int config_main(int argc, char **argv);
int peers_main(int argc, char **argv);
int community_main(int argc, char **argv);

/* util.c */
extern const char *phloem_dir_opt;	/* --dir given before the subcommand */
const char *phloem_dir(void);
/* "<dir>/<name>" into a static buffer (one at a time is enough here). */
const char *phloem_path(const char *name);
/* Print "phloemctl: <what>: <reason>" and return 1 (the exit status). */
int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "phloemctl: <what>" (usage errors) and return 2. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int open_ledger(unsigned int flags, struct ledger **l);
int load_identity(struct ledger_identity **id);
int parse_u64(const char *s, uint64_t *v);
void hex_encode(const uint8_t *p, size_t n, char *out);
int hex_decode(const char *s, uint8_t *out, size_t n);
void format_time_ms(uint64_t ms, char *buf, size_t size);

/*
 * A small JSON writer: it tracks nesting so commas are always right and
 * escapes every string (quote, backslash, control characters as \u00XX).
 */
struct json {
	FILE *f;
	int depth;
	bool need_comma[32];
};
void json_begin(struct json *j, FILE *f);
void json_end(struct json *j);		/* newline after the top value */
void json_obj(struct json *j, const char *key);	/* key NULL in arrays/top */
void json_arr(struct json *j, const char *key);
void json_close_obj(struct json *j);
void json_close_arr(struct json *j);
void json_str(struct json *j, const char *key, const char *v);
void json_i64(struct json *j, const char *key, int64_t v);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_bool(struct json *j, const char *key, bool v);
void json_hex(struct json *j, const char *key, const uint8_t *p, size_t n);
void json_keytext(struct json *j, const char *key, const uint8_t k[32]);

#endif /* PHLOEMCTL_H */
