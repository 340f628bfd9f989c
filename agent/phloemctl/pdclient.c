// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl: talking to phloemd (UNIX socket, JSON lines via json-c) and,
 * when it is not running, straight to phloem.ko over netlink.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pdclient.h"

const char *pdc_socket(void)
{
	const char *s = getenv("PHLOEMD_SOCKET");

	return s && *s ? s : PHLOEMD_SOCKET_DEFAULT;
}

struct json_object *pdc_req(const char *cmd)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "cmd", json_object_new_string(cmd));
	return o;
}

int pdc_fail(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("phloemctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err < 0 ? -err : err));
	fputc('\n', stderr);
	return 1;
}

int pdc_parse_device(const char *arg, uint32_t *dev)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v > UINT32_MAX)
		return usage_error("--device: \"%s\" is not a device number", arg);
	*dev = (uint32_t)v;
	return 0;
}

bool pdc_unreachable(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED;
}

/* One line, unbounded: replies (history) can be large. */
struct json_object *pdc_read(int fd)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL;
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		char *nl;

		if (n <= 0)
			break;
		nl = memchr(buf, '\n', (size_t)n);
		o = json_tokener_parse_ex(tok, buf, nl ? (int)(nl - buf) : (int)n);
		if (json_tokener_get_error(tok) == json_tokener_continue && !nl)
			continue;
		/* one request, one reply line: nothing follows it */
		break;
	}
	json_tokener_free(tok);
	return o;
}

/* Stream lines arrive one per write; read byte-wise up to '\n' so that no
 * second line is ever swallowed. Used for `events --follow`. */
struct json_object *pdc_read_line(int fd)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	struct json_object *o = NULL;

	while (buf) {
		char ch;
		ssize_t n = read(fd, &ch, 1);

		if (n <= 0)
			break;
		if (ch == '\n') {
			buf[len] = 0;
			o = json_tokener_parse(buf);
			break;
		}
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		buf[len++] = ch;
	}
	free(buf);
	return o;
}

int pdc_call(struct json_object *req, struct json_object **rep, int *fd_out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *s;
	int fd, err;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", pdc_socket());
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		json_object_put(req);
		return -errno;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(fd);
		json_object_put(req);
		return err;
	}
	s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (write(fd, s, strlen(s)) < 0 || write(fd, "\n", 1) < 0) {
		err = -errno;
		close(fd);
		json_object_put(req);
		return err;
	}
	json_object_put(req);
	*rep = fd_out ? pdc_read_line(fd) : pdc_read(fd);
	if (!*rep) {
		close(fd);
		return -EPROTO;
	}
	if (!pdc_bool(*rep, "ok")) {
		const char *e = pdc_str(*rep, "error");

		fprintf(stderr, "phloemctl: phloemd: %s\n", e ? e : "request refused");
		json_object_put(*rep);
		*rep = NULL;
		close(fd);
		return 1;
	}
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return 0;
}

struct json_object *pdc_get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

int64_t pdc_int(struct json_object *o, const char *key)
{
	return json_object_get_int64(pdc_get(o, key));
}

double pdc_double(struct json_object *o, const char *key)
{
	return json_object_get_double(pdc_get(o, key));
}

const char *pdc_str(struct json_object *o, const char *key)
{
	struct json_object *v = pdc_get(o, key);

	return v ? json_object_get_string(v) : NULL;
}

bool pdc_bool(struct json_object *o, const char *key)
{
	return json_object_get_boolean(pdc_get(o, key));
}

void pdc_print_json(struct json_object *o)
{
	/* "ok" is protocol, not data */
	json_object_object_del(o, "ok");
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_SPACED));
}

int pdc_nl_device(uint32_t dev, struct phloem_nl **nl, struct phloem_nl_device *d)
{
	int err = phloem_nl_open(nl);

	if (err)
		return err;
	err = phloem_nl_get_device(*nl, dev, d);
	if (err) {
		phloem_nl_close(*nl);
		*nl = NULL;
	}
	return err;
}

struct json_object *pdc_phase_json(struct json_object *arr, uint32_t p, uint32_t channel)
{
	struct json_object *s = json_object_new_object();
	char name[12];

	snprintf(name, sizeof(name), "L%u", p + 1);
	json_object_object_add(s, "phase", json_object_new_string(name));
	json_object_object_add(s, "channel", json_object_new_int64(channel));
	json_object_array_add(arr, s);
	return s;
}

int pdc_device_view(const struct pdc_view *v, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct phloem_nl_device *d;
	struct phloem_nl *nl = NULL;
	uint32_t dev = 0;
	bool json = false;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "d:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			if (pdc_parse_device(optarg, &dev))
				return 2;
			break;
		case 'j': json = true; break;
		case 'h':
			printf("Usage: phloemctl %s [show] [--device N] [--json]\n%s",
			       v->name, v->help);
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc && strcmp(argv[optind], "show"))
		return usage_error("%s: unknown verb \"%s\" (show)", v->name,
				   argv[optind]);
	if (optind + 1 < argc)
		return usage_error("%s: unexpected argument \"%s\"", v->name,
				   argv[optind + 1]);
	d = calloc(1, sizeof(*d));
	if (!d)
		return pdc_fail(-ENOMEM, "%s", v->name);
	err = pdc_nl_device(dev, &nl, d);
	if (err) {
		free(d);
		if (err == -ENOENT)
			return pdc_fail(0, "phloem.ko is not loaded (no \"phloem\" netlink family)");
		return pdc_fail(err, "%s of device %u over netlink", v->what, dev);
	}
	if (json)
		v->json(d);
	else
		v->table(d);
	phloem_nl_close(nl);
	free(d);
	return 0;
}

int pdc_parse_duration(const char *s, int64_t *sec)
{
	char *end;
	long long v;
	int64_t mul = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return -1;
	if (*end) {
		switch (*end) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		default: return -1;
		}
		if (end[1])
			return -1;
	}
	*sec = (int64_t)v * mul;
	return 0;
}

void pdc_format_time(int64_t ts, bool ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms ? ts / 1000 : ts);
	struct tm tm;
	size_t n;

	localtime_r(&t, &tm);
	n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	if (ms && n + 5 <= len)
		snprintf(buf + n, len - n, ".%03d", (int)(ts % 1000));
}

char *pdc_import_limit(int64_t w, char *buf, size_t len)
{
	if (w <= 0)
		snprintf(buf, len, "none");
	else
		phloem_nl_fmt_power(w * 1000, buf, len);
	return buf;
}
