// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd web dashboard: libmicrohttpd in our epoll loop (MHD_USE_EPOLL:
 * its epoll fd sits in ours, MHD_run() when it is readable and on a timer).
 * Routes and rules: docs/web.md.
 *
 * Reads are open on the listening address: the page (embedded at build time
 * from agent/phloemd/web/), /api/<read> (the control socket's requests,
 * through pd_control_call(), so the JSON is phloemctl --json's), /api/live
 * (server-sent events: figures every push_ms, events at once) and /metrics.
 * Changes are POSTs of JSON with "Authorization: Bearer <token>", the token
 * read from [web] token_file. A browser never sends that header by itself
 * and a cross-site page cannot add it without a CORS preflight we never
 * grant, so there is no ambient credential to forge (CSRF); an Origin that
 * is not ours is refused too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "ctljson.h"
#include "daemon.h"
#include "dynlib/dynlib.h"
#include "mqtt.h"
#include "web.h"

/* the library, loaded when the section is configured (dynlib.h) */
#ifndef PD_LIBMICROHTTPD
#define PD_LIBMICROHTTPD "libmicrohttpd.so.12"
#endif
#define MHD_FUNCS(X) \
	X(MHD_add_response_header) \
	X(MHD_create_response_from_buffer) \
	X(MHD_create_response_from_callback) \
	X(MHD_destroy_response) \
	X(MHD_get_connection_info) \
	X(MHD_get_daemon_info) \
	X(MHD_lookup_connection_value) \
	X(MHD_queue_response) \
	X(MHD_resume_connection) \
	X(MHD_run) \
	X(MHD_start_daemon) \
	X(MHD_stop_daemon) \
	X(MHD_suspend_connection)
static struct {
	MHD_FUNCS(PD_DYN_FIELD)
} mhd;
static const char *const mhd_names[] = { MHD_FUNCS(PD_DYN_NAME) };

#define WEB_BODY_MAX	4096
#define WEB_SSE_MAX	8		/* live views at once */
#define WEB_SSE_BUF_MAX	(256u << 10)	/* a view this far behind is dropped */
#define WEB_CONN_MAX	32

/*
 * Wrong tokens, per client address (an IPv6 client by its /64): the first
 * WEB_AUTH_FREE in a row are answered 401 at once; each one after blocks
 * the address for 1, 2, 4 ... up to WEB_AUTH_MAX_S seconds, during which
 * every change from it gets 429 with Retry-After, the right token or not.
 * A right token clears the address; WEB_AUTH_FORGET_S without a failure
 * does too. The table is fixed: when full, the entry idle longest goes.
 */
#define WEB_AUTH_FREE		5
#define WEB_AUTH_MAX_S		300
#define WEB_AUTH_FORGET_S	600
#define WEB_AUTH_SLOTS		64

struct auth_slot {
	uint8_t addr[16];	/* IPv4 as ::ffff:a.b.c.d, IPv6 its /64 */
	uint32_t fails;
	int64_t last_ms;	/* latest failure, monotonic */
	int64_t until_ms;	/* blocked until */
};

/* the page, embedded by the assembler (no generator, no network) */
#define ASSET(sym, file)						\
	__asm__(".section .rodata\n.balign 16\n.global " #sym "\n" #sym ":\n" \
		".incbin \"" PD_WEB_DIR "/" file "\"\n.global " #sym "_end\n"	\
		#sym "_end:\n.byte 0\n.previous\n");				\
	extern const char sym[], sym##_end[]
ASSET(pd_web_index, "index.html");
ASSET(pd_web_js, "app.js");
ASSET(pd_web_css, "style.css");

static const struct asset {
	const char *path, *type;
	const char *start, *end;
} assets[] = {
	{ "/", "text/html; charset=utf-8", pd_web_index, pd_web_index_end },
	{ "/app.js", "text/javascript; charset=utf-8", pd_web_js, pd_web_js_end },
	{ "/style.css", "text/css; charset=utf-8", pd_web_css, pd_web_css_end },
};

/* GET /api/NAME -> control request {"cmd": NAME} */
static const char *const reads[] = {
	"status", "channels", "relays", "limits", "peers", "community",
};

struct sse {
	struct pd_web *web;
	struct MHD_Connection *conn;
	struct sse *next;
	char *buf;
	size_t len, off;
	bool suspended;
	bool closing;
};

struct req {
	bool sse;
	size_t len;
	bool too_big;
	char body[WEB_BODY_MAX + 1];
};

/**
 * struct pd_web - the dashboard
 * @w_mhd: MHD's own epoll fd, in ours
 * @w_tick: push_ms timer: live figures, MHD's timeouts
 * @w_kick: eventfd: views resumed, run MHD from the loop (not from inside
 *          one of its callbacks, where a change from the page comes from)
 * @views: live views (server-sent event streams)
 */
struct pd_web {
	struct pd_watch w_mhd;
	struct pd_watch w_tick;
	struct pd_watch w_kick;
	struct phloemd *d;
	int sub;
	struct MHD_Daemon *mhd;
	char token[128];
	struct sse *views;
	unsigned nviews;
	uint16_t port;
	uint64_t requests, refused, pushes, throttled;
	struct auth_slot auth[WEB_AUTH_SLOTS];
};

#define wlog(...) pd_log("web", __VA_ARGS__)

/* ---- responses ---- */

/* @retry_s: a Retry-After header when not 0 */
static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned code, const char *type,
				const void *data, size_t len, enum MHD_ResponseMemoryMode mode,
				unsigned retry_s)
{
	struct MHD_Response *r = mhd.MHD_create_response_from_buffer(len, (void *)data, mode);
	enum MHD_Result rc;
	char ra[16];

	if (!r)
		return MHD_NO;
	if (retry_s) {
		snprintf(ra, sizeof(ra), "%u", retry_s);
		mhd.MHD_add_response_header(r, "Retry-After", ra);
	}
	mhd.MHD_add_response_header(r, "Content-Type", type);
	mhd.MHD_add_response_header(r, "Cache-Control", "no-store");
	mhd.MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	mhd.MHD_add_response_header(r, "X-Frame-Options", "DENY");
	mhd.MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	mhd.MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
	rc = mhd.MHD_queue_response(c, code, r);
	mhd.MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result send_json_retry(struct MHD_Connection *c, unsigned code,
				       struct json_object *o, unsigned retry_s)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	enum MHD_Result rc = send_buf(c, code, "application/json", s, strlen(s),
				      MHD_RESPMEM_MUST_COPY, retry_s);

	json_object_put(o);
	return rc;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned code, struct json_object *o)
{
	return send_json_retry(c, code, o, 0);
}

static enum MHD_Result send_error_retry(struct pd_web *web, struct MHD_Connection *c,
					unsigned code, const char *msg, unsigned retry_s)
{
	struct json_object *o = json_object_new_object();

	web->refused++;
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	if (retry_s)
		json_object_object_add(o, "retry_after_s", json_object_new_int((int)retry_s));
	return send_json_retry(c, code, o, retry_s);
}

static enum MHD_Result send_error(struct pd_web *web, struct MHD_Connection *c,
				  unsigned code, const char *msg)
{
	return send_error_retry(web, c, code, msg, 0);
}

/* ---- live view: server-sent events ---- */

static void sse_push(struct pd_web *web, const char *event, struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	/* "event: " E "\ndata: " S "\n\n" and snprintf's NUL */
	size_t need = 7 + strlen(event) + 7 + strlen(s) + 2 + 1;
	bool kick = false;

	for (struct sse *v = web->views; v; v = v->next) {
		char *nb;

		if (v->closing)
			continue;
		if (v->off == v->len)
			v->off = v->len = 0;
		if (v->len + need > WEB_SSE_BUF_MAX || !(nb = realloc(v->buf, v->len + need))) {
			v->closing = true;	/* too far behind: the browser reconnects */
		} else {
			v->buf = nb;
			snprintf(v->buf + v->len, need, "event: %s\ndata: %s\n\n", event, s);
			v->len += need - 1;	/* not the NUL */
		}
		if (v->suspended) {
			v->suspended = false;
			mhd.MHD_resume_connection(v->conn);
			kick = true;
		}
	}
	if (kick && eventfd_write(web->w_kick.fd, 1))
		wlog("kick: %s", strerror(errno));
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *v = cls;
	size_t n = v->len - v->off;

	(void)pos;
	if (!n) {
		if (v->closing)
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* nothing to say: sleep until sse_push() wakes us */
		v->suspended = true;
		mhd.MHD_suspend_connection(v->conn);
		return 0;
	}
	if (n > max)
		n = max;
	memcpy(buf, v->buf + v->off, n);
	v->off += n;
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	struct sse *v = cls;
	struct pd_web *web = v->web;

	for (struct sse **pp = &web->views; *pp; pp = &(*pp)->next) {
		if (*pp == v) {
			*pp = v->next;
			break;
		}
	}
	web->nviews--;
	free(v->buf);
	free(v);
}

static struct json_object *val(struct pd_val v, double scale)
{
	return v.known ? json_object_new_double(v.milli / scale) : json_object_new_null();
}

/* PV, battery, devices, community and ledger from the site state */
static struct json_object *site_json(const struct pd_site *site)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();
	bool known;
	int64_t mw;

	mw = pd_site_pv_mw(site, &known);
	json_object_object_add(o, "pv_w", known ? json_object_new_double(mw / 1000.0) : NULL);
	mw = pd_site_battery_mw(site, &known);
	json_object_object_add(o, "battery_w", known ? json_object_new_double(mw / 1000.0) : NULL);
	for (int i = 0; i < site->ndevices; i++) {
		const struct pd_site_device *dv = &site->dev[i];
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(dv->name));
		json_object_object_add(e, "kind", json_object_new_string(pd_dev_kind_name(dv->kind)));
		json_object_object_add(e, "state", json_object_new_string(pd_dev_state_name(dv->state)));
		json_object_object_add(e, "ac_w", val(dv->ac_mw, 1000));
		json_object_object_add(e, "soc_pct", val(dv->soc_mpct, 1000));
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "devices", a);
	if (site->community.valid) {
		json_object_object_add(o, "community_net_w", json_object_new_int64(site->community.net_mw / 1000));
		json_object_object_add(o, "community_counted", json_object_new_int(site->community.counted));
	}
	if (site->ledger.valid) {
		json_object_object_add(o, "ledger_balance_wh",
				       json_object_new_double(site->ledger.balance_mwh / 1000.0));
		json_object_object_add(o, "ledger_entries", json_object_new_int64((int64_t)site->ledger.head_seq));
	}
	return o;
}

static struct json_object *live_state(struct pd_web *web)
{
	struct json_object *o = json_object_new_object();
	static const char *const parts[] = { "status", "relays", "channels", "limits" };

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		json_object_object_add(o, parts[i], pd_control_read(web->d, parts[i]));
	if (web->d->peers)
		json_object_object_add(o, "peers", pd_peers_json(web->d));
	json_object_object_add(o, "site", site_json(&web->d->site));
	json_object_object_add(o, "mqtt", pd_mqtt_json(web->d));
	return o;
}

static void push_state(struct pd_web *web)
{
	struct json_object *o;

	if (!web->views)
		return;
	o = live_state(web);
	sse_push(web, "state", o);
	json_object_put(o);
	web->pushes++;
}

static enum MHD_Result open_live(struct pd_web *web, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	struct sse *v;
	struct json_object *o;
	enum MHD_Result rc;

	if (web->nviews >= WEB_SSE_MAX)
		return send_error(web, c, 503, "too many live views open");
	v = calloc(1, sizeof(*v));
	if (!v)
		return MHD_NO;
	v->web = web;
	v->conn = c;
	r = mhd.MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, v, sse_free);
	if (!r) {
		free(v);
		return MHD_NO;
	}
	v->next = web->views;
	web->views = v;
	web->nviews++;
	mhd.MHD_add_response_header(r, "Content-Type", "text/event-stream");
	mhd.MHD_add_response_header(r, "Cache-Control", "no-store");
	mhd.MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	rc = mhd.MHD_queue_response(c, 200, r);
	mhd.MHD_destroy_response(r);
	/* the first figures at once, not after a period */
	o = live_state(web);
	{
		struct sse *next = v->next;

		/* to this view only */
		web->views = v;
		v->next = NULL;
		sse_push(web, "state", o);
		v->next = next;
	}
	json_object_put(o);
	return rc;
}

/* a site subscriber: events go to the live views at once */
static void on_site(void *ctx, struct pd_site *site, uint32_t changed,
		    const struct pd_event_row *e)
{
	struct pd_web *web = ctx;
	struct phloemd *d = web->d;
	struct json_object *o;

	(void)site;
	if (!(changed & PD_SITE_EVENT) || !e || !web->views)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "seq", json_object_new_int64((int64_t)d->events));
	json_object_object_add(o, "ts_ms", json_object_new_int64(e->ts_ms));
	json_object_object_add(o, "kind", json_object_new_string(e->kind));
	json_object_object_add(o, "cause", json_object_new_string(e->cause));
	json_object_object_add(o, "relay", json_object_new_string(e->relay ? e->relay : ""));
	json_object_object_add(o, "circuit", json_object_new_string(e->circuit ? e->circuit : ""));
	json_object_object_add(o, "value", json_object_new_int64(e->value));
	json_object_object_add(o, "limit", json_object_new_int64(e->limit));
	sse_push(web, "event", o);
	json_object_put(o);
	/* the relays as they are now, with the event that changed them. No
	 * MHD_run() here: this may run inside one of MHD's callbacks (a change
	 * from the page makes an event); resuming a view wakes MHD's epoll fd,
	 * which is in ours, so the loop runs MHD at once. */
	push_state(web);
}

/* ---- /metrics (Prometheus text format 0.0.4) ---- */

struct mbuf {
	char *s;
	size_t len, cap;
};

static void mprintf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mprintf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = (b->cap + (size_t)n + 1) * 2;
			char *ns = realloc(b->s, cap);

			if (!ns)
				return;
			b->s = ns;
			b->cap = cap;
		}
	}
}

static void mhead(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static double jd(struct json_object *o, const char *k)
{
	return json_object_get_double(pd_json_get(o, k));
}

static const char *js(struct json_object *o, const char *k)
{
	const char *s = json_object_get_string(pd_json_get(o, k));

	return s ? s : "";
}

/*
 * One metric over the entries of @a that have a non-empty @filter member:
 * labelled by their @lkey members (as label @lname, and "circuit" when
 * @circ), the value @vkey times @scale.
 */
static void per_entry(struct mbuf *b, struct json_object *a, const char *name,
		      const char *type, const char *help, const char *filter,
		      const char *lname, const char *lkey, bool circ,
		      const char *vkey, double scale)
{
	size_t n = json_object_array_length(a);

	mhead(b, name, type, help);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		struct json_object *v = pd_json_get(e, vkey);

		if (!*js(e, filter))
			continue;
		mprintf(b, "%s{%s=\"%s\"%s%s%s} %g\n", name, lname, js(e, lkey),
			circ ? ",circuit=\"" : "", circ ? js(e, "circuit") : "", circ ? "\"" : "",
			json_object_is_type(v, json_type_boolean) ? (double)json_object_get_boolean(v) :
			json_object_get_double(v) * scale);
	}
}

static char *metrics(struct pd_web *web, size_t *len)
{
	static const struct {
		const char *name, *type, *key, *help;
	} site[] = {
		{ "phloem_site_power_watts", "gauge", "site_p_w", "Site real power, positive when importing" },
		{ "phloem_mains_voltage_volts", "gauge", "vrms_v", "Mains RMS voltage" },
		{ "phloem_mains_frequency_hertz", "gauge", "freq_hz", "Mains frequency" },
		{ "phloem_site_import_limit_watts", "gauge", "site_import_limit_w", "Site import limit in force (0: none)" },
		{ "phloem_events_total", "counter", "events_seen", "Device events seen by phloemd" },
		{ "phloem_errors_total", "counter", "errors", "Errors counted by phloemd" },
	};
	struct phloemd *d = web->d;
	struct json_object *st = pd_control_read(d, "status"), *ch = pd_control_read(d, "channels");
	struct json_object *rl = pd_control_read(d, "relays"), *mq = pd_mqtt_json(d);
	struct json_object *chans = pd_json_get(ch, "channels"), *relays = pd_json_get(rl, "relays");
	struct mbuf b = { 0 };

	for (size_t i = 0; i < sizeof(site) / sizeof(site[0]); i++) {
		mhead(&b, site[i].name, site[i].type, site[i].help);
		mprintf(&b, "%s %g\n", site[i].name, jd(st, site[i].key));
	}
	per_entry(&b, chans, "phloem_circuit_current_amperes", "gauge", "Circuit RMS current",
		  "circuit", "circuit", "circuit", false, "irms_ma", 0.001);
	per_entry(&b, chans, "phloem_circuit_limit_amperes", "gauge", "Circuit current limit in force",
		  "circuit", "circuit", "circuit", false, "limit_ma", 0.001);
	per_entry(&b, chans, "phloem_energy_imported_watthours_total", "counter",
		  "Energy imported through a channel since its probe", "circuit", "channel", "name",
		  true, "import_wh", 1);
	per_entry(&b, chans, "phloem_energy_exported_watthours_total", "counter",
		  "Energy exported through a channel since its probe", "circuit", "channel", "name",
		  true, "export_wh", 1);
	per_entry(&b, relays, "phloem_relay_on", "gauge", "1 when the relay is energised",
		  "name", "relay", "name", true, "on", 1);
	per_entry(&b, relays, "phloem_relay_sheds_total", "counter",
		  "Times the relay was shed since probe", "name", "relay", "name", false, "shed_count", 1);
	if (d->peers) {
		struct json_object *p = pd_peers_json(d);

		mhead(&b, "phloem_community_net_power_watts", "gauge",
		      "Community net power, as gossiped by the members");
		mprintf(&b, "phloem_community_net_power_watts %g\n", jd(p, "community_net_w"));
		json_object_put(p);
	}
	if (json_object_get_boolean(pd_json_get(mq, "enabled"))) {
		mhead(&b, "phloem_mqtt_connected", "gauge", "1 while connected to the MQTT broker");
		mprintf(&b, "phloem_mqtt_connected %d\n", json_object_get_boolean(pd_json_get(mq, "connected")));
		mhead(&b, "phloem_mqtt_published_total", "counter", "MQTT messages handed to the broker");
		mprintf(&b, "phloem_mqtt_published_total %g\n", jd(mq, "published"));
		mhead(&b, "phloem_mqtt_queued", "gauge", "Messages waiting for the broker's acknowledgement");
		mprintf(&b, "phloem_mqtt_queued %g\n", jd(mq, "queued"));
		mhead(&b, "phloem_mqtt_dropped_total", "counter", "Queued messages dropped, queue full");
		mprintf(&b, "phloem_mqtt_dropped_total %g\n", jd(mq, "dropped"));
	}
	mhead(&b, "phloem_web_requests_total", "counter", "HTTP requests served");
	mprintf(&b, "phloem_web_requests_total %llu\n", (unsigned long long)web->requests);
	mhead(&b, "phloem_web_refused_total", "counter", "HTTP requests refused (4xx, 5xx)");
	mprintf(&b, "phloem_web_refused_total %llu\n", (unsigned long long)web->refused);
	mhead(&b, "phloem_web_throttled_total", "counter",
	      "Changes refused 429: too many wrong tokens from the address");
	mprintf(&b, "phloem_web_throttled_total %llu\n", (unsigned long long)web->throttled);
	json_object_put(st);
	json_object_put(ch);
	json_object_put(rl);
	json_object_put(mq);
	*len = b.len;
	return b.s;
}

/* ---- changes ---- */

static bool token_ok(const struct pd_web *web, const char *auth)
{
	size_t n = strlen(web->token), m;
	unsigned char diff = 0;

	if (!auth || strncmp(auth, "Bearer ", 7))
		return false;
	auth += 7;
	m = strlen(auth);
	/* compare in time independent of where they differ */
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)web->token[i] ^ (unsigned char)(i < m ? auth[i] : 0);
	return n && m == n && !diff;
}

/* Origin, when the browser sends one, must be the host it asked */
static bool origin_ok(struct MHD_Connection *c)
{
	const char *origin = mhd.MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	const char *host = mhd.MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
	const char *o;

	if (!origin)
		return true;
	if (!host)
		return false;
	o = !strncmp(origin, "http://", 7) ? origin + 7 : !strncmp(origin, "https://", 8) ?
	    origin + 8 : NULL;
	return o && !strcmp(o, host);
}

/* ---- wrong tokens: a delay per client address ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* the client's key: IPv4 mapped into IPv6, IPv6 cut to its /64 */
static bool client_key(struct MHD_Connection *c, uint8_t key[16])
{
	const union MHD_ConnectionInfo *ci =
		mhd.MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	memset(key, 0, 16);
	if (sa && sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa && sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		/* a mapped IPv4 address is that address, all of it */
		memcpy(key, a, IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a) ? 16 : 8);
		return true;
	}
	return false;
}

/* @key's slot, or NULL; with @make, a new one (the slot idle longest) */
static struct auth_slot *auth_slot(struct pd_web *web, const uint8_t key[16], bool make,
				   int64_t now)
{
	struct auth_slot *old = &web->auth[0];

	for (int i = 0; i < WEB_AUTH_SLOTS; i++) {
		struct auth_slot *a = &web->auth[i];

		if (a->fails && now - a->last_ms > WEB_AUTH_FORGET_S * 1000 && now >= a->until_ms)
			memset(a, 0, sizeof(*a));	/* forgiven */
		if (a->fails && !memcmp(a->addr, key, 16))
			return a;
		if (!a->fails ? old->fails : old->fails && a->last_ms < old->last_ms)
			old = a;
	}
	if (!make)
		return NULL;
	memset(old, 0, sizeof(*old));
	memcpy(old->addr, key, 16);
	return old;
}

/* seconds the client must still wait (0: may try) */
static unsigned auth_wait_s(struct pd_web *web, const uint8_t key[16])
{
	int64_t now = mono_ms();
	struct auth_slot *a = auth_slot(web, key, false, now);

	return a && a->until_ms > now ? (unsigned)((a->until_ms - now + 999) / 1000) : 0;
}

static void auth_failed(struct pd_web *web, const uint8_t key[16])
{
	int64_t now = mono_ms();
	struct auth_slot *a = auth_slot(web, key, true, now);
	char who[INET6_ADDRSTRLEN];

	a->fails++;
	a->last_ms = now;
	if (a->fails > WEB_AUTH_FREE) {
		unsigned n = a->fails - WEB_AUTH_FREE - 1;
		unsigned s = n >= 9 ? WEB_AUTH_MAX_S : 1u << n;

		if (s > WEB_AUTH_MAX_S)
			s = WEB_AUTH_MAX_S;
		a->until_ms = now + (int64_t)s * 1000;
		inet_ntop(AF_INET6, key, who, sizeof(who));
		wlog("%u wrong tokens from %s: changes from it refused for %u s", a->fails, who, s);
	}
}

static void auth_ok(struct pd_web *web, const uint8_t key[16])
{
	struct auth_slot *a = auth_slot(web, key, false, mono_ms());

	if (a)
		memset(a, 0, sizeof(*a));
}

/* POST body -> control request; NULL with @why when refused */
static struct json_object *change_request(const char *route, const char *body, const char **why)
{
	struct json_object *in = json_tokener_parse(body), *req;
	bool relay = !strcmp(route, "relay");

	if (!in || !json_object_is_type(in, json_type_object)) {
		json_object_put(in);
		*why = "body must be a JSON object";
		return NULL;
	}
	req = json_object_new_object();
	json_object_object_foreach(in, k, v) {
		bool known = relay ? !strcmp(k, "name") || !strcmp(k, "mode") || !strcmp(k, "for_s") :
			     !strcmp(k, "circuit") || !strcmp(k, "limit_a") || !strcmp(k, "site_w") ||
			     !strcmp(k, "reset");

		if (!known) {
			*why = relay ? "unknown key (name, mode, for_s)" :
			       "unknown key (circuit, limit_a, site_w, reset)";
			goto bad;
		}
		if (!strcmp(k, "for_s") || !strcmp(k, "limit_a")) {
			double x = json_object_get_double(v);

			if (!json_object_is_type(v, json_type_int) &&
			    !json_object_is_type(v, json_type_double)) {
				*why = "for_s and limit_a are numbers";
				goto bad;
			}
			if (k[0] == 'f' && (x < 1 || x > 86400)) {
				*why = "for_s must be 1..86400";
				goto bad;
			}
			if (k[0] == 'l' && (x <= 0 || x > 4000000)) {
				*why = "limit_a must be above 0";
				goto bad;
			}
			json_object_object_add(req, k[0] == 'f' ? "for_ms" : "limit_ma",
					       json_object_new_int64((int64_t)(x * 1000 + 0.5)));
		} else if (!strcmp(k, "reset")) {
			if (!json_object_is_type(v, json_type_boolean) || !json_object_get_boolean(v) ||
			    json_object_object_length(in) != 1) {
				*why = "reset must be true and alone";
				goto bad;
			}
		} else {
			json_object_object_add(req, k, json_object_get(v));
		}
	}
	json_object_object_add(req, "cmd", json_object_new_string(
		relay ? "relay" : pd_json_get(in, "reset") ? "limits-reset" : "limits-set"));
	json_object_put(in);
	return req;
bad:
	json_object_put(in);
	json_object_put(req);
	return NULL;
}

static enum MHD_Result do_change(struct pd_web *web, struct MHD_Connection *c,
				 const char *route, struct req *rq)
{
	const char *ctype = mhd.MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	const char *auth = mhd.MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	const char *why = NULL;
	struct json_object *req, *rep;
	uint8_t key[16];
	bool keyed, ok;
	unsigned wait_s;

	if (!web->token[0])
		return send_error(web, c, 403, "read-only dashboard: no [web] token_file");
	if (!origin_ok(c))
		return send_error(web, c, 403, "cross-origin request refused");
	keyed = client_key(c, key);
	if (keyed && (wait_s = auth_wait_s(web, key))) {
		web->throttled++;
		return send_error_retry(web, c, 429, "too many wrong tokens from this address",
					wait_s);
	}
	if (!token_ok(web, auth)) {
		/* a token given and wrong counts; none at all (a click before
		 * typing it) does not */
		if (keyed && auth)
			auth_failed(web, key);
		return send_error(web, c, 401, "changes need \"Authorization: Bearer <token>\"");
	}
	if (keyed)
		auth_ok(web, key);
	if (!ctype || strncmp(ctype, "application/json", 16))
		return send_error(web, c, 415, "body must be application/json");
	if (rq->too_big)
		return send_error(web, c, 413, "body too large");
	req = change_request(route, rq->body, &why);
	if (!req)
		return send_error(web, c, 400, why);
	rep = pd_control_call(web->d, req, true);
	json_object_put(req);
	ok = json_object_get_boolean(pd_json_get(rep, "ok"));
	if (!ok) {
		int64_t e = json_object_get_int64(pd_json_get(rep, "errno"));

		web->refused++;
		wlog("change refused: %s", js(rep, "error"));
		return send_json(c, e == ENOENT ? 404 : e == EINVAL ? 400 : 409, rep);
	}
	push_state(web);
	return send_json(c, 200, rep);
}

/* ---- routing ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_size, void **con_cls)
{
	struct pd_web *web = cls;
	struct req *rq = *con_cls;

	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		web->requests++;
		return MHD_YES;
	}
	if (*upload_size) {
		if (rq->len + *upload_size > WEB_BODY_MAX)
			rq->too_big = true;
		else
			memcpy(rq->body + rq->len, upload, *upload_size);
		if (!rq->too_big)
			rq->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	rq->body[rq->len] = 0;
	if (!strcmp(method, "POST")) {
		if (!strcmp(url, "/api/relay"))
			return do_change(web, c, "relay", rq);
		if (!strcmp(url, "/api/limits"))
			return do_change(web, c, "limits", rq);
		return send_error(web, c, 404, "no such change (POST /api/relay, /api/limits)");
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return send_error(web, c, 405, "method not allowed");
	if (rq->len)
		return send_error(web, c, 400, "a GET has no body");
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
		if (!strcmp(url, assets[i].path) ||
		    (i == 0 && !strcmp(url, "/index.html")))
			return send_buf(c, 200, assets[i].type, assets[i].start,
					(size_t)(assets[i].end - assets[i].start),
					MHD_RESPMEM_PERSISTENT, 0);
	if (!strcmp(url, "/metrics")) {
		size_t len;
		char *s = metrics(web, &len);

		if (!s)
			return send_error(web, c, 500, "out of memory");
		return send_buf(c, 200, "text/plain; version=0.0.4; charset=utf-8", s, len,
				MHD_RESPMEM_MUST_FREE, 0);
	}
	if (!strcmp(url, "/api/live")) {
		rq->sse = true;
		return open_live(web, c);
	}
	if (!strcmp(url, "/api/mqtt"))
		return send_json(c, 200, pd_mqtt_json(web->d));
	if (!strcmp(url, "/api/events") || !strcmp(url, "/api/history")) {
		bool ev = url[5] == 'e';
		const char *k1 = ev ? "since_ms" : "since", *k2 = ev ? "limit" : "channel";
		const char *v1 = mhd.MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k1);
		const char *v2 = mhd.MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k2);
		struct json_object *req = json_object_new_object(), *rep;
		char *end;
		long long x;

		json_object_object_add(req, "cmd", json_object_new_string(ev ? "events" : "history"));
		if (v1) {
			x = strtoll(v1, &end, 10);
			if (!*v1 || *end) {
				json_object_put(req);
				return send_error(web, c, 400, ev ? "since_ms: an integer" :
						  "since: an integer");
			}
			json_object_object_add(req, k1, json_object_new_int64(x));
		}
		if (v2 && ev) {
			x = strtoll(v2, &end, 10);
			if (!*v2 || *end) {
				json_object_put(req);
				return send_error(web, c, 400, "limit: an integer");
			}
			json_object_object_add(req, k2, json_object_new_int64(x));
		} else if (v2) {
			json_object_object_add(req, k2, json_object_new_string(v2));
		}
		rep = pd_control_call(web->d, req, false);
		json_object_put(req);
		return send_json(c, json_object_get_boolean(pd_json_get(rep, "ok")) ? 200 : 400, rep);
	}
	if (!strncmp(url, "/api/", 5))
		for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
			if (!strcmp(url + 5, reads[i]))
				return send_json(c, 200, pd_control_read(web->d, reads[i]));
	return send_error(web, c, 404, "not found");
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

/* ---- loop ---- */

static void on_mhd(struct pd_watch *w, uint32_t events)
{
	struct pd_web *web = (struct pd_web *)((char *)w - offsetof(struct pd_web, w_mhd));

	(void)events;
	mhd.MHD_run(web->mhd);
}

static void on_kick(struct pd_watch *w, uint32_t events)
{
	struct pd_web *web = (struct pd_web *)((char *)w - offsetof(struct pd_web, w_kick));
	eventfd_t n;

	(void)events;
	if (eventfd_read(w->fd, &n))
		return;
	/* the first run takes the resumed views back, the second writes */
	mhd.MHD_run(web->mhd);
	mhd.MHD_run(web->mhd);
}

static void on_tick(struct pd_watch *w, uint32_t events)
{
	struct pd_web *web = (struct pd_web *)((char *)w - offsetof(struct pd_web, w_tick));
	uint64_t n;

	(void)events;
	if (read(w->fd, &n, sizeof(n)) < 0)
		return;
	push_state(web);
	mhd.MHD_run(web->mhd);
}

static int read_token(struct pd_web *web, const char *path, char *err, size_t errlen)
{
	FILE *f;
	size_t n;

	if (!path[0])
		return 0;
	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "web: token_file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!fgets(web->token, sizeof(web->token), f))
		web->token[0] = 0;
	fclose(f);
	n = strcspn(web->token, "\r\n");
	web->token[n] = 0;
	if (n && n < 16) {
		snprintf(err, errlen, "web: token_file %s: the token is shorter than 16 characters", path);
		memset(web->token, 0, sizeof(web->token));
		return -EINVAL;
	}
	return 0;
}

int pd_web_open(struct phloemd *d, char *err, size_t errlen)
{
	const struct pd_web_conf *c = &d->cfg.web;
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
	uint64_t ns = (uint64_t)c->push_ms * 1000000ull;
	struct itimerspec its = {
		{ (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) },
		{ (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) },
	};
	const union MHD_DaemonInfo *info;
	struct pd_web *web;
	int rc;

	if (!c->enabled)
		return 0;
	_Static_assert(sizeof(mhd) == sizeof(mhd_names) / sizeof(mhd_names[0]) * sizeof(void *),
		       "one pointer per name");
	if (!mhd.MHD_run) {
		char e[PD_ERR_LEN];

		if (pd_dynlib_load(PD_LIBMICROHTTPD, mhd_names, &mhd,
				   sizeof(mhd_names) / sizeof(mhd_names[0]), e, sizeof(e))) {
			snprintf(err, errlen, "web: %s", e);
			return -ENOENT;
		}
	}
	if (inet_pton(AF_INET, c->listen, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)c->port);
	} else if (inet_pton(AF_INET6, c->listen, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)c->port);
		flags |= MHD_USE_IPv6;
	} else {
		snprintf(err, errlen, "web: listen = %s: not an IPv4 or IPv6 address", c->listen);
		return -EINVAL;
	}
	web = calloc(1, sizeof(*web));
	if (!web) {
		snprintf(err, errlen, "web: out of memory");
		return -ENOMEM;
	}
	web->d = d;
	web->w_mhd.fn = on_mhd;
	web->w_tick.fn = on_tick;
	web->w_tick.fd = -1;
	web->w_kick.fn = on_kick;
	web->w_kick.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	rc = read_token(web, c->token_file, err, errlen);
	if (rc)
		goto fail;
	web->mhd = mhd.MHD_start_daemon(flags, 0, NULL, NULL, on_request, web,
				    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				    MHD_OPTION_NOTIFY_COMPLETED, on_done, web,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned)WEB_CONN_MAX,
				    MHD_OPTION_CONNECTION_TIMEOUT, 60u,
				    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
				    MHD_OPTION_END);
	if (!web->mhd) {
		rc = -EADDRNOTAVAIL;
		snprintf(err, errlen, "web: cannot listen on %s port %u", c->listen, c->port);
		goto fail;
	}
	info = mhd.MHD_get_daemon_info(web->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	web->w_mhd.fd = info ? info->epoll_fd : -1;
	info = mhd.MHD_get_daemon_info(web->mhd, MHD_DAEMON_INFO_BIND_PORT);
	web->port = info ? info->port : (uint16_t)c->port;
	web->w_tick.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (web->w_mhd.fd < 0 || pd_watch_add(d, &web->w_mhd, EPOLLIN) ||
	    web->w_tick.fd < 0 || timerfd_settime(web->w_tick.fd, 0, &its, NULL) ||
	    pd_watch_add(d, &web->w_tick, EPOLLIN) ||
	    web->w_kick.fd < 0 || pd_watch_add(d, &web->w_kick, EPOLLIN)) {
		rc = -errno;
		snprintf(err, errlen, "web: event loop: %s", strerror(errno));
		goto fail;
	}
	web->sub = pd_site_subscribe(&d->site, PD_SITE_EVENT, on_site, web);
	if (web->sub < 0) {
		rc = -ENOSPC;
		snprintf(err, errlen, "web: no room for another site subscriber");
		pd_watch_del(d, &web->w_mhd);
		pd_watch_del(d, &web->w_tick);
		pd_watch_del(d, &web->w_kick);
		goto fail;
	}
	d->web = web;
	wlog("dashboard on http://%s%s%s:%u/ (%s)", ss.ss_family == AF_INET6 ? "[" : "",
	     c->listen, ss.ss_family == AF_INET6 ? "]" : "", web->port,
	     web->token[0] ? "changes with the token" : "read-only: no token_file");
	return 0;
fail:
	if (web->w_tick.fd >= 0)
		close(web->w_tick.fd);
	if (web->w_kick.fd >= 0)
		close(web->w_kick.fd);
	if (web->mhd)
		mhd.MHD_stop_daemon(web->mhd);
	free(web);
	return rc;
}

void pd_web_close(struct phloemd *d)
{
	struct pd_web *web = d->web;

	if (!web)
		return;
	pd_site_unsubscribe(&d->site, web->sub);
	/* MHD wants every suspended connection resumed before it stops */
	for (struct sse *v = web->views; v; v = v->next) {
		v->closing = true;
		if (v->suspended) {
			v->suspended = false;
			mhd.MHD_resume_connection(v->conn);
		}
	}
	mhd.MHD_run(web->mhd);
	pd_watch_del(d, &web->w_mhd);
	pd_watch_del(d, &web->w_tick);
	pd_watch_del(d, &web->w_kick);
	close(web->w_tick.fd);
	close(web->w_kick.fd);
	mhd.MHD_stop_daemon(web->mhd);
	explicit_bzero(web->token, sizeof(web->token));
	free(web);
	d->web = NULL;
}
