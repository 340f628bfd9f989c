// SPDX-License-Identifier: GPL-2.0
/* Helpers shared by phloemctl's subcommands: paths, errors, JSON, hex. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "phloemctl.h"

const char *phloem_dir_opt;

const char *phloem_dir(void)
{
	const char *d = phloem_dir_opt;

	if (!d)
		d = getenv("PHLOEM_DIR");
	return d && *d ? d : PHLOEM_DEFAULT_DIR;
}

const char *phloem_path(const char *name)
{
	static char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/%s", phloem_dir(), name);
	return buf;
}

int fail(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("phloemctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", ledger_strerror(err));
	return 1;
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("phloemctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

int open_ledger(unsigned int flags, struct ledger **l)
{
	const char *path;
	int ret;

	/* A gateway that only collects its neighbours' chains has no identity yet. */
	if ((flags & LEDGER_O_CREATE) && mkdir(phloem_dir(), 0700) && errno != EEXIST)
		return fail(-errno, "cannot create %s", phloem_dir()) ? -errno : 0;
	path = phloem_path("ledger.db");
	ret = ledger_open(path, flags, l);

	if (ret)
		fail(ret, "cannot open ledger %s", path);
	return ret;
}

int load_identity(struct ledger_identity **id)
{
	const char *path = phloem_path("identity.key");
	int ret = ledger_identity_load(path, id);

	if (ret == -EPERM)
		fprintf(stderr, "phloemctl: refusing key file %s: group or others have access "
			"(chmod 600 it)\n", path);
	else if (ret)
		fail(ret, "cannot load identity %s", path);
	return ret;
}

int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || *end ? -EINVAL : 0;
}

void hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *s, uint8_t *out, size_t n)
{
	size_t i;

	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = hi << 4 | lo;
	}
	return 0;
}

void format_time_ms(uint64_t ms, char *buf, size_t size)
{
	time_t t = ms / 1000;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "%" PRIu64, ms);
}

/* ---- JSON ---- */

void json_begin(struct json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

void json_end(struct json *j)
{
	fputc('\n', j->f);
}

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_key(struct json *j, const char *key)
{
	if (j->need_comma[j->depth])
		fputc(',', j->f);
	j->need_comma[j->depth] = true;
	if (key) {
		put_string(j->f, key);
		fputc(':', j->f);
	}
}

static void json_open(struct json *j, const char *key, char c)
{
	json_key(j, key);
	fputc(c, j->f);
	if (j->depth < (int)(sizeof(j->need_comma) - 1))
		j->depth++;
	j->need_comma[j->depth] = false;
}

void json_obj(struct json *j, const char *key) { json_open(j, key, '{'); }
void json_arr(struct json *j, const char *key) { json_open(j, key, '['); }

static void json_close(struct json *j, char c)
{
	fputc(c, j->f);
	if (j->depth > 0)
		j->depth--;
}

void json_close_obj(struct json *j) { json_close(j, '}'); }
void json_close_arr(struct json *j) { json_close(j, ']'); }

void json_str(struct json *j, const char *key, const char *v)
{
	json_key(j, key);
	put_string(j->f, v);
}

void json_i64(struct json *j, const char *key, int64_t v)
{
	json_key(j, key);
	fprintf(j->f, "%" PRId64, v);
}

void json_u64(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void json_bool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	fputs(v ? "true" : "false", j->f);
}

void json_hex(struct json *j, const char *key, const uint8_t *p, size_t n)
{
	char buf[2 * LEDGER_ENTRY_MAX + 1];

	hex_encode(p, n < LEDGER_ENTRY_MAX ? n : LEDGER_ENTRY_MAX, buf);
	json_str(j, key, buf);
}

void json_keytext(struct json *j, const char *key, const uint8_t k[32])
{
	char buf[LEDGER_KEYTEXT_SIZE];

	ledger_key_to_text(k, buf);
	json_str(j, key, buf);
}
