// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd: the [mqtt] and [web] sections of the configuration. Pure (no
 * library of theirs), so config.c and its unit test link it alone. Keys and
 * defaults: docs/mqtt.md, docs/web.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mqtt.h"
#include "web.h"

static int bad(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s", what);
	return -1;
}

static bool get_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long long u;

	if (!*v || *v == '-')
		return false;
	errno = 0;
	u = strtoull(v, &end, 10);
	if (errno || *end || u < lo || u > hi)
		return false;
	*out = (uint32_t)u;
	return true;
}

static bool get_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return false;
	return true;
}

/* a topic level we build topics from: no wildcards, separators or spaces */
static bool topic_word(const char *v, size_t cap)
{
	size_t n = strlen(v);

	if (!n || n >= cap)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(v[i] >= 'a' && v[i] <= 'z') && !(v[i] >= 'A' && v[i] <= 'Z') &&
		    !(v[i] >= '0' && v[i] <= '9') && v[i] != '_' && v[i] != '-')
			return false;
	return true;
}

static bool copy(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap)
		return false;
	memcpy(dst, v, strlen(v) + 1);
	return true;
}

void pd_mqtt_conf_defaults(struct pd_mqtt_conf *m)
{
	memset(m, 0, sizeof(*m));
	m->port = 1883;
	snprintf(m->node_id, sizeof(m->node_id), "phloem");
	snprintf(m->base, sizeof(m->base), "phloem");
	snprintf(m->discovery, sizeof(m->discovery), "homeassistant");
	m->keepalive_s = 30;
	m->interval_s = 10;
	m->queue = PD_MQTT_QUEUE_DEFAULT;
}

int pd_mqtt_conf_key(struct pd_mqtt_conf *m, const char *key, const char *v,
		     char *err, size_t errlen)
{
#define STR(k, f) if (!strcmp(key, k)) return copy(m->f, sizeof(m->f), v) ? 0 : \
	bad(err, errlen, "too long")
	STR("host", host);
	STR("client_id", client_id);
	STR("username", username);
	STR("password", password);
	STR("cafile", cafile);
	STR("certfile", certfile);
	STR("keyfile", keyfile);
	STR("allow", allow);
#undef STR
	if (!strcmp(key, "port"))
		return get_u32(v, 1, 65535, &m->port) ? 0 : bad(err, errlen, "expected a port 1..65535");
	if (!strcmp(key, "node_id") || !strcmp(key, "base"))
		return topic_word(v, sizeof(m->base)) ?
		       (copy(key[0] == 'n' ? m->node_id : m->base, sizeof(m->base), v), 0) :
		       bad(err, errlen, "expected letters, digits, _ and - (at most 63)");
	if (!strcmp(key, "discovery"))
		return !*v || topic_word(v, sizeof(m->discovery)) ?
		       (copy(m->discovery, sizeof(m->discovery), v), 0) :
		       bad(err, errlen, "expected a topic level (empty: no discovery)");
	if (!strcmp(key, "keepalive_s"))
		return get_u32(v, 5, 3600, &m->keepalive_s) ? 0 : bad(err, errlen, "expected seconds 5..3600");
	if (!strcmp(key, "interval_s"))
		return get_u32(v, 1, 3600, &m->interval_s) ? 0 : bad(err, errlen, "expected seconds 1..3600");
	if (!strcmp(key, "queue"))
		return get_u32(v, 16, 1000000, &m->queue) ? 0 : bad(err, errlen, "expected messages 16..1000000");
	if (!strcmp(key, "tls"))
		return get_bool(v, &m->tls) ? 0 : bad(err, errlen, "expected yes or no");
	if (!strcmp(key, "commands"))
		return get_bool(v, &m->commands) ? 0 : bad(err, errlen, "expected yes or no");
	return bad(err, errlen, "unknown key (host, port, node_id, base, discovery, client_id, username, password, tls, cafile, certfile, keyfile, keepalive_s, interval_s, queue, commands, allow)");
}

int pd_mqtt_conf_check(const struct pd_mqtt_conf *m, char *err, size_t errlen)
{
	if (!m->host[0])
		return 0;
	if (m->commands && (!m->username[0] || !m->allow[0]))
		return bad(err, errlen, "commands = yes needs username (the broker must authenticate) and allow (what commands may touch)");
	if (m->tls && !m->cafile[0])
		return bad(err, errlen, "tls = yes needs cafile");
	if (!m->tls && (m->cafile[0] || m->certfile[0] || m->keyfile[0]))
		return bad(err, errlen, "cafile, certfile and keyfile need tls = yes");
	if (!m->certfile[0] != !m->keyfile[0])
		return bad(err, errlen, "certfile and keyfile go together");
	if (m->password[0] && !m->username[0])
		return bad(err, errlen, "password without username");
	return 0;
}

bool pd_mqtt_allowed(const struct pd_mqtt_conf *m, const char *what)
{
	size_t n = strlen(what);

	for (const char *p = m->allow; *p;) {
		size_t w;

		while (*p == ' ' || *p == ',')
			p++;
		w = strcspn(p, " ,");
		if (w && w == n && !strncmp(p, what, n))
			return true;
		p += w;
	}
	return false;
}

void pd_web_conf_defaults(struct pd_web_conf *w)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->listen, sizeof(w->listen), "127.0.0.1");
	w->port = 8080;
	w->push_ms = 1000;
}

int pd_web_conf_key(struct pd_web_conf *w, const char *key, const char *v,
		    char *err, size_t errlen)
{
	if (!strcmp(key, "enable"))
		return get_bool(v, &w->enabled) ? 0 : bad(err, errlen, "expected yes or no");
	if (!strcmp(key, "listen"))
		return *v && copy(w->listen, sizeof(w->listen), v) ? 0 :
		       bad(err, errlen, "expected an IPv4 or IPv6 address");
	if (!strcmp(key, "port"))
		return get_u32(v, 0, 65535, &w->port) ? 0 : bad(err, errlen, "expected a port 0..65535");
	if (!strcmp(key, "token_file"))
		return copy(w->token_file, sizeof(w->token_file), v) ? 0 : bad(err, errlen, "too long");
	if (!strcmp(key, "push_ms"))
		return get_u32(v, 100, 60000, &w->push_ms) ? 0 : bad(err, errlen, "expected ms 100..60000");
	return bad(err, errlen, "unknown key (enable, listen, port, token_file, push_ms)");
}
