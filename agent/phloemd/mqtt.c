// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd MQTT: the site's figures, relays and events on a broker, with
 * Home Assistant discovery, through libmosquitto driven from our epoll loop
 * (mosquitto_socket + loop_read/loop_write, loop_misc from a 1 s timer).
 * Topics and payloads: docs/mqtt.md.
 *
 * Reads and changes go through pd_control_call(), the control socket's own
 * requests: the figures are those `phloemctl --json` prints and a command
 * from MQTT is checked exactly as one from phloemctl.
 *
 * What must not be lost (events, energy counters) goes through a bounded
 * queue: an entry leaves it when the broker acknowledges it (QoS 1,
 * on_publish). Entries not yet handed to libmosquitto wait for a
 * connection; entries handed over and not acknowledged are resent by
 * libmosquitto itself on reconnect (persistent session, same message id).
 * Energy is a counter, so a newer reading of a channel replaces one still
 * waiting. A full queue drops its oldest entry and counts it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <json-c/json.h>
#include <mosquitto.h>

#include "ctljson.h"
#include "daemon.h"
#include "dynlib/dynlib.h"
#include "mqtt.h"

/* the library, loaded when the section is configured (dynlib.h) */
#ifndef PD_LIBMOSQUITTO
#define PD_LIBMOSQUITTO "libmosquitto.so.1"
#endif
#define MOSQ_FUNCS(X) \
	X(mosquitto_connack_string) \
	X(mosquitto_connect_async) \
	X(mosquitto_connect_callback_set) \
	X(mosquitto_destroy) \
	X(mosquitto_disconnect) \
	X(mosquitto_disconnect_callback_set) \
	X(mosquitto_lib_cleanup) \
	X(mosquitto_lib_init) \
	X(mosquitto_loop_misc) \
	X(mosquitto_loop_read) \
	X(mosquitto_loop_write) \
	X(mosquitto_message_callback_set) \
	X(mosquitto_new) \
	X(mosquitto_publish) \
	X(mosquitto_publish_callback_set) \
	X(mosquitto_reconnect_async) \
	X(mosquitto_socket) \
	X(mosquitto_strerror) \
	X(mosquitto_subscribe) \
	X(mosquitto_tls_set) \
	X(mosquitto_username_pw_set) \
	X(mosquitto_want_write) \
	X(mosquitto_will_set)
static struct {
	MOSQ_FUNCS(PD_DYN_FIELD)
} mosq;
static const char *const mosq_names[] = { MOSQ_FUNCS(PD_DYN_NAME) };

#define MQTT_PAYLOAD_MAX	512	/* a command longer than this is refused */
#define MQTT_RETRY_MAX_S	30
#define JSON_PLAIN	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

struct qmsg {
	char *topic;
	char *payload;
	bool retain;
	bool acked;
	int mid;	/* 0: not handed to libmosquitto yet */
};

/**
 * struct pd_mqtt - the MQTT client of the daemon (one thread, no locks)
 * @w_sock: the broker socket; @sock_fd is what is in the epoll set (-1: none)
 * @w_tick: 1 s timer: keepalive, reconnect, state period
 * @base: "<base>/<node_id>", the prefix of every topic of ours
 * @q: ring of @qcap entries from @qhead, @qlen long; grown by doubling up
 *     to [mqtt] queue (@qmax), so that the bound is not allocated (and, as
 *     the ring turns, written) in full by a daemon that never needs it
 */
struct pd_mqtt {
	struct pd_watch w_sock;
	struct pd_watch w_tick;
	struct phloemd *d;
	struct mosquitto *m;
	int sock_fd;
	int sub;
	int announced;	/* site figures in the discovery sent */
	bool connected;
	unsigned retry_s, retry_in, ticks;
	char base[160];
	struct qmsg *q;
	unsigned qcap, qmax, qhead, qlen;
	uint64_t published, dropped, queued_total, acked;
	uint64_t cmd_ok, cmd_refused, connects;
};

#define mlog(...) pd_log("mqtt", __VA_ARGS__)

/* ---- the control socket's requests ---- */

static bool reply_ok(struct json_object *r)
{
	return json_object_get_boolean(pd_json_get(r, "ok"));
}

/* ---- socket and epoll ---- */

static void sock_sync(struct pd_mqtt *mq)
{
	int fd = mosq.mosquitto_socket(mq->m);
	uint32_t ev = EPOLLIN | (mosq.mosquitto_want_write(mq->m) ? EPOLLOUT : 0);

	/* a socket libmosquitto closed has left epoll by itself; the number
	 * may come back for the next connection, so modify-or-add each time */
	if (mq->sock_fd >= 0 && fd != mq->sock_fd)
		pd_watch_del(mq->d, &mq->w_sock);
	mq->sock_fd = -1;
	if (fd < 0)
		return;
	mq->w_sock.fd = fd;
	if (pd_watch_mod(mq->d, &mq->w_sock, ev) == 0 || pd_watch_add(mq->d, &mq->w_sock, ev) == 0)
		mq->sock_fd = fd;
}

static void lost(struct pd_mqtt *mq, int rc)
{
	if (mq->connected)
		mlog("broker connection lost: %s; retrying", mosq.mosquitto_strerror(rc));
	mq->connected = false;
	sock_sync(mq);
}

static void on_sock(struct pd_watch *w, uint32_t events)
{
	struct pd_mqtt *mq = (struct pd_mqtt *)((char *)w - offsetof(struct pd_mqtt, w_sock));
	int rc = MOSQ_ERR_SUCCESS;

	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		rc = mosq.mosquitto_loop_read(mq->m, 1);
	if (rc == MOSQ_ERR_SUCCESS && (events & EPOLLOUT))
		rc = mosq.mosquitto_loop_write(mq->m, 1);
	if (rc != MOSQ_ERR_SUCCESS)
		lost(mq, rc);
	else
		sock_sync(mq);
}

/* ---- publishing ---- */

static void pub_now(struct pd_mqtt *mq, const char *topic, const char *payload,
		    int qos, bool retain, int *mid)
{
	int rc;

	if (!mq->connected)
		return;
	rc = mosq.mosquitto_publish(mq->m, mid, topic, (int)strlen(payload), payload, qos, retain);
	if (rc == MOSQ_ERR_SUCCESS)
		mq->published++;
	else if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST)
		lost(mq, rc);
	else
		mlog("publish %s: %s", topic, mosq.mosquitto_strerror(rc));
}

static void pub_json(struct pd_mqtt *mq, const char *topic, struct json_object *o,
		     bool retain)
{
	pub_now(mq, topic, json_object_to_json_string_ext(o, JSON_PLAIN),
		0, retain, NULL);
}

static struct qmsg *qat(struct pd_mqtt *mq, unsigned i)
{
	return &mq->q[(mq->qhead + i) % mq->qcap];
}

static void qfree(struct qmsg *e)
{
	free(e->topic);
	free(e->payload);
	memset(e, 0, sizeof(*e));
}

/* double the ring, up to qmax; false: it stays as it is */
static bool qgrow(struct pd_mqtt *mq)
{
	unsigned n = mq->qcap * 2 < mq->qmax ? mq->qcap * 2 : mq->qmax;
	struct qmsg *q;

	if (mq->qcap == mq->qmax || !(q = calloc(n, sizeof(*q))))
		return false;
	for (unsigned i = 0; i < mq->qlen; i++)
		q[i] = *qat(mq, i);
	free(mq->q);
	mq->q = q;
	mq->qhead = 0;
	mq->qcap = n;
	return true;
}

/* drop acknowledged entries from the head */
static void qtrim(struct pd_mqtt *mq)
{
	while (mq->qlen && qat(mq, 0)->acked) {
		qfree(qat(mq, 0));
		mq->qhead = (mq->qhead + 1) % mq->qcap;
		mq->qlen--;
	}
}

static void qsend(struct pd_mqtt *mq, struct qmsg *e)
{
	int mid = 0;

	if (e->mid || e->acked || !mq->connected)
		return;
	pub_now(mq, e->topic, e->payload, 1, e->retain, &mid);
	if (mq->connected)
		e->mid = mid;
}

/*
 * Queue a message that must reach the broker. @coalesce: a waiting entry
 * of the same topic, not yet handed over, takes the new payload instead.
 */
static void qpush(struct pd_mqtt *mq, const char *topic, const char *payload,
		  bool retain, bool coalesce)
{
	struct qmsg *e;

	if (coalesce) {
		for (unsigned i = 0; i < mq->qlen; i++) {
			e = qat(mq, i);
			if (!e->mid && !e->acked && !strcmp(e->topic, topic)) {
				char *p = strdup(payload);

				if (p) {
					free(e->payload);
					e->payload = p;
				}
				return;
			}
		}
	}
	if (mq->qlen == mq->qcap && !qgrow(mq)) {
		qfree(qat(mq, 0));
		mq->qhead = (mq->qhead + 1) % mq->qcap;
		mq->qlen--;
		if (++mq->dropped == 1 || mq->dropped % 100 == 0)
			mlog("queue full (%u): oldest message dropped (%llu so far)",
			     mq->qcap, (unsigned long long)mq->dropped);
	}
	e = qat(mq, mq->qlen);
	e->topic = strdup(topic);
	e->payload = strdup(payload);
	e->retain = retain;
	if (!e->topic || !e->payload) {
		qfree(e);
		mq->dropped++;
		return;
	}
	mq->qlen++;
	mq->queued_total++;
	qsend(mq, e);
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
	struct pd_mqtt *mq = obj;

	(void)m;
	for (unsigned i = 0; i < mq->qlen; i++) {
		struct qmsg *e = qat(mq, i);

		if (e->mid == mid && !e->acked) {
			e->acked = true;
			mq->acked++;
			break;
		}
	}
	qtrim(mq);
}

/* a figure printed as people write it (json-c would print 19.983000000000001) */
static struct json_object *jfix(double x, int decimals)
{
	char b[40];

	snprintf(b, sizeof(b), "%.*f", decimals, x);
	return json_object_new_double_s(x, b);
}

/* PV, battery, community and ledger from the site state, when known */
static void site_figures(struct phloemd *d, struct json_object *o)
{
	const struct pd_site *site = &d->site;
	bool known;
	int64_t mw;

	mw = pd_site_pv_mw(site, &known);
	if (known)
		json_object_object_add(o, "pv_w", jfix(mw / 1000.0, 1));
	mw = pd_site_battery_mw(site, &known);
	if (known)
		json_object_object_add(o, "battery_w", jfix(mw / 1000.0, 1));
	for (int i = 0; i < site->ndevices; i++)
		if (site->dev[i].kind == PD_DEV_BATTERY && site->dev[i].soc_mpct.known) {
			json_object_object_add(o, "battery_soc_pct",
					       jfix(site->dev[i].soc_mpct.milli / 1000.0, 1));
			break;
		}
	if (site->community.valid)
		json_object_object_add(o, "community_net_w", jfix(site->community.net_mw / 1000.0, 0));
	if (site->ledger.valid)
		json_object_object_add(o, "ledger_balance_kwh",
				       jfix(site->ledger.balance_mwh / 1e6, 6));
}

/* ---- Home Assistant discovery ---- */

/* names allow '.', object ids and topic levels we build do not */
static void object_id(char *dst, size_t cap, const char *a, const char *b)
{
	size_t n;

	snprintf(dst, cap, "%s%s%s", a, b ? "_" : "", b ? b : "");
	n = strlen(dst);
	for (size_t i = 0; i < n; i++)
		if (dst[i] == '.')
			dst[i] = '_';
}

struct disc {
	const char *component;	/* sensor, switch, binary_sensor */
	const char *object;	/* unique within the node */
	const char *name;
	const char *state_topic;	/* relative to base */
	const char *template;
	const char *device_class;
	const char *unit;
	const char *state_class;
	const char *command_topic;
};

static void discover(struct pd_mqtt *mq, const struct disc *x)
{
	const struct pd_mqtt_conf *c = &mq->d->cfg.mqtt;
	struct json_object *o = json_object_new_object(), *dev, *ids, *org;
	char topic[512], uid[160], st[320];

	snprintf(uid, sizeof(uid), "%s_%s", c->node_id, x->object);
	json_object_object_add(o, "name", json_object_new_string(x->name));
	json_object_object_add(o, "unique_id", json_object_new_string(uid));
	snprintf(st, sizeof(st), "%s/%s", mq->base, x->state_topic);
	json_object_object_add(o, "state_topic", json_object_new_string(st));
	if (x->template)
		json_object_object_add(o, "value_template", json_object_new_string(x->template));
	if (x->device_class)
		json_object_object_add(o, "device_class", json_object_new_string(x->device_class));
	if (x->unit)
		json_object_object_add(o, "unit_of_measurement", json_object_new_string(x->unit));
	if (x->state_class)
		json_object_object_add(o, "state_class", json_object_new_string(x->state_class));
	if (x->command_topic) {
		snprintf(st, sizeof(st), "%s/%s", mq->base, x->command_topic);
		json_object_object_add(o, "command_topic", json_object_new_string(st));
	}
	if (!strcmp(x->component, "switch") || !strcmp(x->component, "binary_sensor")) {
		json_object_object_add(o, "payload_on", json_object_new_string("ON"));
		json_object_object_add(o, "payload_off", json_object_new_string("OFF"));
	}
	snprintf(st, sizeof(st), "%s/status", mq->base);
	json_object_object_add(o, "availability_topic", json_object_new_string(st));
	json_object_object_add(o, "payload_available", json_object_new_string("online"));
	json_object_object_add(o, "payload_not_available", json_object_new_string("offline"));
	dev = json_object_new_object();
	ids = json_object_new_array();
	json_object_array_add(ids, json_object_new_string(c->node_id));
	json_object_object_add(dev, "identifiers", ids);
	snprintf(st, sizeof(st), "phloem %s", c->node_id);
	json_object_object_add(dev, "name", json_object_new_string(st));
	json_object_object_add(dev, "manufacturer", json_object_new_string("phloem"));
	json_object_object_add(dev, "model", json_object_new_string(mq->d->info.name[0] ?
						mq->d->info.name : "gateway"));
	json_object_object_add(o, "device", dev);
	org = json_object_new_object();
	json_object_object_add(org, "name", json_object_new_string("phloemd"));
	json_object_object_add(o, "origin", org);
	snprintf(topic, sizeof(topic), "%s/%s/%s/%s/config", c->discovery, x->component,
		 c->node_id, x->object);
	pub_now(mq, topic, json_object_to_json_string_ext(o, JSON_PLAIN), 1,
		true, NULL);
	json_object_put(o);
}

static void discover_all(struct pd_mqtt *mq)
{
	struct phloemd *d = mq->d;
	const struct pd_mqtt_conf *c = &d->cfg.mqtt;
	char obj[128], name[128], topic[160], cmd[160];

	if (!c->discovery[0])
		return;
	discover(mq, &(struct disc){ "sensor", "site_power", "Site power", "state",
		 "{{ value_json.site_p_w }}", "power", "W", "measurement", NULL });
	discover(mq, &(struct disc){ "sensor", "voltage", "Mains voltage", "state",
		 "{{ value_json.vrms_v }}", "voltage", "V", "measurement", NULL });
	discover(mq, &(struct disc){ "sensor", "frequency", "Mains frequency", "state",
		 "{{ value_json.freq_hz }}", "frequency", "Hz", "measurement", NULL });
	discover(mq, &(struct disc){ "sensor", "last_event", "Last event", "event/last",
		 "{{ value_json.kind }} {{ value_json.cause }} {{ value_json.relay }}",
		 NULL, NULL, NULL, NULL });
	{
		struct json_object *o = json_object_new_object();

		/* what the site knows now: PV, battery, community, ledger */
		site_figures(d, o);
		if (pd_json_get(o, "pv_w"))
			discover(mq, &(struct disc){ "sensor", "pv_power", "PV power", "state",
				 "{{ value_json.pv_w }}", "power", "W", "measurement", NULL });
		if (pd_json_get(o, "battery_w"))
			discover(mq, &(struct disc){ "sensor", "battery_power", "Battery power (+ discharge)",
				 "state", "{{ value_json.battery_w }}", "power", "W", "measurement", NULL });
		if (pd_json_get(o, "battery_soc_pct"))
			discover(mq, &(struct disc){ "sensor", "battery_soc", "Battery charge", "state",
				 "{{ value_json.battery_soc_pct }}", "battery", "%", "measurement", NULL });
		if (pd_json_get(o, "community_net_w"))
			discover(mq, &(struct disc){ "sensor", "community_power", "Community net power",
				 "state", "{{ value_json.community_net_w }}", "power", "W",
				 "measurement", NULL });
		if (pd_json_get(o, "ledger_balance_kwh"))
			discover(mq, &(struct disc){ "sensor", "ledger_balance", "Ledger balance", "state",
				 "{{ value_json.ledger_balance_kwh }}", NULL, "kWh", "measurement", NULL });
		mq->announced = json_object_object_length(o);
		json_object_put(o);
	}
	for (int i = 0; i < d->cfg.ncircuits; i++) {
		const char *cn = d->cfg.circuit[i].name;
		const char *ch = d->cfg.circuit[i].channel;

		object_id(obj, sizeof(obj), "circuit", cn);
		snprintf(topic, sizeof(topic), "circuit/%s", cn);
		snprintf(name, sizeof(name), "%s current", cn);
		discover(mq, &(struct disc){ "sensor", obj, name, topic,
			 "{{ value_json.irms_a }}", "current", "A", "measurement", NULL });
		object_id(obj, sizeof(obj), "limit", cn);
		snprintf(name, sizeof(name), "%s limit", cn);
		discover(mq, &(struct disc){ "sensor", obj, name, topic,
			 "{{ value_json.limit_a }}", "current", "A", "measurement", NULL });
		snprintf(topic, sizeof(topic), "energy/%s", ch);
		object_id(obj, sizeof(obj), "import", cn);
		snprintf(name, sizeof(name), "%s energy imported", cn);
		discover(mq, &(struct disc){ "sensor", obj, name, topic,
			 "{{ value_json.import_kwh }}", "energy", "kWh", "total_increasing", NULL });
		object_id(obj, sizeof(obj), "export", cn);
		snprintf(name, sizeof(name), "%s energy exported", cn);
		discover(mq, &(struct disc){ "sensor", obj, name, topic,
			 "{{ value_json.export_kwh }}", "energy", "kWh", "total_increasing", NULL });
	}
	for (int i = 0; i < d->cfg.nrelays; i++) {
		const char *rn = d->cfg.relay[i].name;
		bool cmds = c->commands && pd_mqtt_allowed(c, rn);

		object_id(obj, sizeof(obj), "relay", rn);
		snprintf(topic, sizeof(topic), "relay/%s/state", rn);
		snprintf(cmd, sizeof(cmd), "relay/%s/set", rn);
		/* a switch needs a command topic; without commands, a sensor */
		discover(mq, &(struct disc){ cmds ? "switch" : "binary_sensor", obj, rn, topic,
			 NULL, cmds ? "outlet" : "power", NULL, NULL, cmds ? cmd : NULL });
	}
}

/* ---- state ---- */

static void topic_of(struct pd_mqtt *mq, char *dst, size_t cap, const char *a,
		     const char *b, const char *c)
{
	snprintf(dst, cap, "%s/%s%s%s%s%s", mq->base, a, b ? "/" : "", b ? b : "",
		 c ? "/" : "", c ? c : "");
}

static double num(struct json_object *o, const char *k)
{
	return json_object_get_double(pd_json_get(o, k));
}

static void publish_state(struct pd_mqtt *mq)
{
	struct phloemd *d = mq->d;
	struct json_object *st, *ch, *rl, *lim, *o;
	char topic[320];

	if (!mq->connected)
		return;
	st = pd_control_read(d, "status");
	if (reply_ok(st)) {
		o = json_object_new_object();
		json_object_object_add(o, "site_p_w", jfix(num(st, "site_p_w"), 1));
		json_object_object_add(o, "vrms_v", jfix(num(st, "vrms_v"), 2));
		json_object_object_add(o, "freq_hz", jfix(num(st, "freq_hz"), 3));
		json_object_object_add(o, "state", json_object_get(pd_json_get(st, "state")));
		json_object_object_add(o, "site_import_limit_w",
				       json_object_get(pd_json_get(st, "site_import_limit_w")));
		json_object_object_add(o, "time", json_object_get(pd_json_get(st, "time")));
		site_figures(d, o);
		topic_of(mq, topic, sizeof(topic), "state", NULL, NULL);
		pub_json(mq, topic, o, true);
		json_object_put(o);
	}
	json_object_put(st);
	ch = pd_control_read(d, "channels");
	lim = pd_control_read(d, "limits");
	for (size_t i = 0; reply_ok(ch) && i < json_object_array_length(pd_json_get(ch, "channels")); i++) {
		struct json_object *c = json_object_array_get_idx(pd_json_get(ch, "channels"), i);
		const char *circ = json_object_get_string(pd_json_get(c, "circuit"));

		if (strcmp(json_object_get_string(pd_json_get(c, "kind")), "current"))
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "import_kwh", jfix(num(c, "import_wh") / 1000, 6));
		json_object_object_add(o, "export_kwh", jfix(num(c, "export_wh") / 1000, 6));
		json_object_object_add(o, "import_wh", jfix(num(c, "import_wh"), 3));
		json_object_object_add(o, "export_wh", jfix(num(c, "export_wh"), 3));
		json_object_object_add(o, "circuit", json_object_new_string(circ));
		topic_of(mq, topic, sizeof(topic), "energy", json_object_get_string(pd_json_get(c, "name")), NULL);
		qpush(mq, topic, json_object_to_json_string_ext(o, JSON_PLAIN), true, true);
		json_object_put(o);
		if (!*circ)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "irms_a", jfix(num(c, "irms_ma") / 1000, 3));
		json_object_object_add(o, "limit_a", jfix(num(c, "limit_ma") / 1000, 3));
		json_object_object_add(o, "rating_a", jfix(num(c, "rating_ma") / 1000, 3));
		json_object_object_add(o, "heat_permille", json_object_get(pd_json_get(c, "heat_permille")));
		for (size_t j = 0; reply_ok(lim) && j < json_object_array_length(pd_json_get(lim, "circuits")); j++) {
			struct json_object *l = json_object_array_get_idx(pd_json_get(lim, "circuits"), j);

			if (!strcmp(json_object_get_string(pd_json_get(l, "name")), circ))
				json_object_object_add(o, "operator", json_object_get(pd_json_get(l, "operator")));
		}
		topic_of(mq, topic, sizeof(topic), "circuit", circ, NULL);
		pub_json(mq, topic, o, true);
		json_object_put(o);
	}
	json_object_put(ch);
	json_object_put(lim);
	rl = pd_control_read(d, "relays");
	for (size_t i = 0; reply_ok(rl) && i < json_object_array_length(pd_json_get(rl, "relays")); i++) {
		struct json_object *r = json_object_array_get_idx(pd_json_get(rl, "relays"), i);
		const char *name = json_object_get_string(pd_json_get(r, "name"));

		topic_of(mq, topic, sizeof(topic), "relay", name, "state");
		pub_now(mq, topic, json_object_get_boolean(pd_json_get(r, "on")) ? "ON" : "OFF", 0, true, NULL);
		topic_of(mq, topic, sizeof(topic), "relay", name, NULL);
		pub_json(mq, topic, r, true);
	}
	json_object_put(rl);
}

/* a site subscriber: events (queued, they must not be lost) */
static void on_site(void *ctx, struct pd_site *site, uint32_t changed,
		    const struct pd_event_row *e)
{
	struct pd_mqtt *mq = ctx;
	struct phloemd *d = mq->d;
	struct json_object *o;
	char topic[200];

	(void)site;
	if (!(changed & PD_SITE_EVENT) || !e)
		return;
	o = json_object_new_object();
	/* events seen since start: a reader spots a gap or a resent one */
	json_object_object_add(o, "seq", json_object_new_int64((int64_t)d->events));
	json_object_object_add(o, "ts_ms", json_object_new_int64(e->ts_ms));
	json_object_object_add(o, "kind", json_object_new_string(e->kind));
	json_object_object_add(o, "cause", json_object_new_string(e->cause));
	json_object_object_add(o, "relay", json_object_new_string(e->relay ? e->relay : ""));
	json_object_object_add(o, "circuit", json_object_new_string(e->circuit ? e->circuit : ""));
	json_object_object_add(o, "value", json_object_new_int64(e->value));
	json_object_object_add(o, "limit", json_object_new_int64(e->limit));
	topic_of(mq, topic, sizeof(topic), "event", NULL, NULL);
	qpush(mq, topic, json_object_to_json_string_ext(o, JSON_PLAIN), false, false);
	/* the latest one retained, for the "Last event" sensor */
	topic_of(mq, topic, sizeof(topic), "event", "last", NULL);
	pub_json(mq, topic, o, true);
	json_object_put(o);
	/* the relay's new state with it, not at the next period */
	publish_state(mq);
}

/* ---- commands ---- */

static void cmd_result(struct pd_mqtt *mq, const char *topic, bool ok, const char *msg)
{
	struct json_object *o = json_object_new_object();
	char t[200];

	if (ok)
		mq->cmd_ok++;
	else
		mq->cmd_refused++;
	if (!ok)
		mlog("command on %s refused: %s", topic, msg);
	json_object_object_add(o, "topic", json_object_new_string(topic));
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	if (!ok)
		json_object_object_add(o, "error", json_object_new_string(msg));
	topic_of(mq, t, sizeof(t), "command", "result", NULL);
	pub_now(mq, t, json_object_to_json_string_ext(o, JSON_PLAIN), 1, false, NULL);
	json_object_put(o);
}

/* Turn a relay or limits payload into a control request; NULL: refused. */
static struct json_object *cmd_request(const char *relay, const char *p, const char **why)
{
	struct json_object *req = NULL, *in = NULL;
	enum json_tokener_error jerr;

	if (!strcasecmp(p, "ON") || !strcasecmp(p, "OFF") || !strcasecmp(p, "AUTO")) {
		if (!relay)
			goto refuse_fmt;
		req = json_object_new_object();
		json_object_object_add(req, "mode", json_object_new_string(
			!strcasecmp(p, "ON") ? "on" : !strcasecmp(p, "OFF") ? "off" : "auto"));
	} else {
		in = json_tokener_parse_verbose(p, &jerr);
		if (!in || !json_object_is_type(in, json_type_object))
			goto refuse_fmt;
		req = json_object_new_object();
		json_object_object_foreach(in, k, val) {
			/* only the keys of the control request, no "cmd" or "name" */
			bool known = relay ? !strcmp(k, "mode") || !strcmp(k, "for_s") :
				     !strcmp(k, "circuit") || !strcmp(k, "limit_a") ||
				     !strcmp(k, "site_w") || !strcmp(k, "reset");

			if (!known) {
				*why = relay ? "unknown key (mode, for_s)" :
				       "unknown key (circuit, limit_a, site_w, reset)";
				goto refuse;
			}
			if (!strcmp(k, "for_s")) {
				if (!json_object_is_type(val, json_type_int) ||
				    json_object_get_int64(val) < 1 || json_object_get_int64(val) > 86400) {
					*why = "for_s must be an integer 1..86400";
					goto refuse;
				}
				json_object_object_add(req, "for_ms",
						       json_object_new_int64(json_object_get_int64(val) * 1000));
			} else if (!strcmp(k, "limit_a")) {
				if (!json_object_is_type(val, json_type_int) &&
				    !json_object_is_type(val, json_type_double)) {
					*why = "limit_a must be a number";
					goto refuse;
				}
				json_object_object_add(req, "limit_ma", json_object_new_int64(
					(int64_t)(json_object_get_double(val) * 1000 + 0.5)));
			} else {
				json_object_object_add(req, k, json_object_get(val));
			}
		}
		json_object_put(in);
		in = NULL;
	}
	if (relay) {
		json_object_object_add(req, "cmd", json_object_new_string("relay"));
		json_object_object_add(req, "name", json_object_new_string(relay));
		if (!pd_json_get(req, "mode")) {
			*why = "\"mode\" missing (on, off, auto)";
			goto refuse;
		}
	} else {
		bool reset = json_object_get_boolean(pd_json_get(req, "reset"));

		if (pd_json_get(req, "reset") && (!reset || pd_json_get(req, "circuit") || pd_json_get(req, "site_w") ||
					   pd_json_get(req, "limit_ma"))) {
			*why = "reset must be true and alone";
			goto refuse;
		}
		json_object_object_del(req, "reset");
		json_object_object_add(req, "cmd", json_object_new_string(reset ? "limits-reset" :
									   "limits-set"));
	}
	return req;
refuse_fmt:
	*why = relay ? "expected ON, OFF, AUTO or {\"mode\": \"on|off|auto\", \"for_s\": N}" :
	       "expected {\"circuit\": NAME, \"limit_a\": A}, {\"site_w\": W} or {\"reset\": true}";
refuse:
	json_object_put(in);
	json_object_put(req);
	return NULL;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	struct pd_mqtt *mq = obj;
	const struct pd_mqtt_conf *c = &mq->d->cfg.mqtt;
	char payload[MQTT_PAYLOAD_MAX + 1], relay[PD_NAME_LEN + 1];
	const char *rest, *why = NULL;
	struct json_object *req, *rep;
	size_t bl = strlen(mq->base);
	char disc_status[80];

	(void)m;
	snprintf(disc_status, sizeof(disc_status), "%s/status", c->discovery);
	if (c->discovery[0] && !strcmp(msg->topic, disc_status)) {
		/* Home Assistant restarted: it asks for discovery again */
		if (msg->payloadlen == 6 && !memcmp(msg->payload, "online", 6))
			discover_all(mq);
		return;
	}
	if (strncmp(msg->topic, mq->base, bl) || msg->topic[bl] != '/')
		return;
	rest = msg->topic + bl + 1;
	if (msg->payloadlen <= 0 || msg->payloadlen > MQTT_PAYLOAD_MAX ||
	    memchr(msg->payload, 0, (size_t)msg->payloadlen)) {
		cmd_result(mq, msg->topic, false, "payload empty, too long or not text");
		return;
	}
	memcpy(payload, msg->payload, (size_t)msg->payloadlen);
	payload[msg->payloadlen] = 0;
	if (!strcmp(rest, "limits/set")) {
		if (!pd_mqtt_allowed(c, "limits")) {
			cmd_result(mq, msg->topic, false, "limits not in [mqtt] allow");
			return;
		}
		req = cmd_request(NULL, payload, &why);
	} else if (!strncmp(rest, "relay/", 6) && strlen(rest) > 10 &&
		   !strcmp(rest + strlen(rest) - 4, "/set") && strlen(rest) - 10 < sizeof(relay)) {
		snprintf(relay, sizeof(relay), "%.*s", (int)(strlen(rest) - 10), rest + 6);
		if (!pd_mqtt_allowed(c, relay)) {
			cmd_result(mq, msg->topic, false, "relay not in [mqtt] allow");
			return;
		}
		req = cmd_request(relay, payload, &why);
	} else {
		cmd_result(mq, msg->topic, false, "no such command topic");
		return;
	}
	if (!req) {
		cmd_result(mq, msg->topic, false, why);
		return;
	}
	rep = pd_control_call(mq->d, req, true);
	json_object_put(req);
	cmd_result(mq, msg->topic, reply_ok(rep),
		   reply_ok(rep) ? "" : json_object_get_string(pd_json_get(rep, "error")));
	json_object_put(rep);
	publish_state(mq);
}

/* ---- connection ---- */

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct pd_mqtt *mq = obj;
	const struct pd_mqtt_conf *c = &mq->d->cfg.mqtt;
	char topic[200];

	if (rc) {
		mlog("broker refused the connection: %s", mosq.mosquitto_connack_string(rc));
		return;
	}
	mq->connected = true;
	mq->connects++;
	mq->retry_s = 1;
	mlog("connected to %s:%u%s", c->host, c->port, mq->connects > 1 ? " again" : "");
	topic_of(mq, topic, sizeof(topic), "status", NULL, NULL);
	pub_now(mq, topic, "online", 1, true, NULL);
	if (c->commands) {
		topic_of(mq, topic, sizeof(topic), "relay", "+", "set");
		mosq.mosquitto_subscribe(m, NULL, topic, 1);
		topic_of(mq, topic, sizeof(topic), "limits", "set", NULL);
		mosq.mosquitto_subscribe(m, NULL, topic, 1);
	}
	if (c->discovery[0]) {
		snprintf(topic, sizeof(topic), "%s/status", c->discovery);
		mosq.mosquitto_subscribe(m, NULL, topic, 1);
	}
	discover_all(mq);
	for (unsigned i = 0; i < mq->qlen; i++)
		qsend(mq, qat(mq, i));
	publish_state(mq);
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	(void)m;
	lost(obj, rc ? rc : MOSQ_ERR_CONN_LOST);
}

static void try_connect(struct pd_mqtt *mq)
{
	const struct pd_mqtt_conf *c = &mq->d->cfg.mqtt;
	int rc = mq->connects || mq->ticks ? mosq.mosquitto_reconnect_async(mq->m) :
		 mosq.mosquitto_connect_async(mq->m, c->host, (int)c->port, (int)c->keepalive_s);

	if (rc != MOSQ_ERR_SUCCESS) {
		/* once per backoff step, not every try */
		if (mq->retry_s < MQTT_RETRY_MAX_S)
			mlog("broker %s:%u: %s", c->host, c->port,
			     rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosq.mosquitto_strerror(rc));
		mq->retry_s = mq->retry_s * 2 > MQTT_RETRY_MAX_S ? MQTT_RETRY_MAX_S : mq->retry_s * 2;
	}
	mq->retry_in = mq->retry_s;
	sock_sync(mq);
}

static void on_tick(struct pd_watch *w, uint32_t events)
{
	struct pd_mqtt *mq = (struct pd_mqtt *)((char *)w - offsetof(struct pd_mqtt, w_tick));
	uint64_t n;

	(void)events;
	if (read(w->fd, &n, sizeof(n)) < 0)
		return;
	mq->ticks++;
	if (mosq.mosquitto_socket(mq->m) >= 0) {
		int rc = mosq.mosquitto_loop_misc(mq->m);

		if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
			lost(mq, rc);
		sock_sync(mq);
	}
	if (mosq.mosquitto_socket(mq->m) < 0) {
		mq->connected = false;
		if (!mq->retry_in || !--mq->retry_in)
			try_connect(mq);
		return;
	}
	if (mq->ticks % mq->d->cfg.mqtt.interval_s == 0) {
		struct json_object *o = json_object_new_object();

		/* a device found or a ledger opened since: announce its sensors */
		site_figures(mq->d, o);
		if ((int)json_object_object_length(o) > mq->announced)
			discover_all(mq);
		json_object_put(o);
		publish_state(mq);
	}
}

struct json_object *pd_mqtt_json(struct phloemd *d)
{
	struct pd_mqtt *mq = d->mqtt;
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "enabled", json_object_new_boolean(mq != NULL));
	if (!mq)
		return o;
	json_object_object_add(o, "connected", json_object_new_boolean(mq->connected));
	json_object_object_add(o, "connects", json_object_new_int64((int64_t)mq->connects));
	json_object_object_add(o, "published", json_object_new_int64((int64_t)mq->published));
	json_object_object_add(o, "queued", json_object_new_int64(mq->qlen));
	json_object_object_add(o, "queued_total", json_object_new_int64((int64_t)mq->queued_total));
	json_object_object_add(o, "acked", json_object_new_int64((int64_t)mq->acked));
	json_object_object_add(o, "dropped", json_object_new_int64((int64_t)mq->dropped));
	json_object_object_add(o, "commands_ok", json_object_new_int64((int64_t)mq->cmd_ok));
	json_object_object_add(o, "commands_refused", json_object_new_int64((int64_t)mq->cmd_refused));
	return o;
}

int pd_mqtt_open(struct phloemd *d, char *err, size_t errlen)
{
	const struct pd_mqtt_conf *c = &d->cfg.mqtt;
	struct itimerspec its = { { 1, 0 }, { 1, 0 } };
	struct pd_mqtt *mq;
	char id[80], topic[200];
	int rc;

	if (!c->host[0])
		return 0;
	_Static_assert(sizeof(mosq) == sizeof(mosq_names) / sizeof(mosq_names[0]) * sizeof(void *),
		       "one pointer per name");
	if (!mosq.mosquitto_new) {
		char e[PD_ERR_LEN];

		if (pd_dynlib_load(PD_LIBMOSQUITTO, mosq_names, &mosq,
				   sizeof(mosq_names) / sizeof(mosq_names[0]), e, sizeof(e))) {
			snprintf(err, errlen, "mqtt: %s", e);
			return -ENOENT;
		}
	}
	mosq.mosquitto_lib_init();
	mq = calloc(1, sizeof(*mq));
	/* 16: [mqtt] queue's least; the discovery at connect grows it */
	if (!mq || !(mq->q = calloc(16, sizeof(*mq->q)))) {
		free(mq);
		snprintf(err, errlen, "mqtt: out of memory");
		return -ENOMEM;
	}
	mq->d = d;
	mq->qcap = 16;
	mq->qmax = c->queue;
	mq->sock_fd = -1;
	mq->retry_s = 1;
	mq->w_sock.fn = on_sock;
	mq->w_tick.fn = on_tick;
	snprintf(mq->base, sizeof(mq->base), "%s/%s", c->base, c->node_id);
	snprintf(id, sizeof(id), "%s", c->client_id[0] ? c->client_id : c->node_id);
	/* clean_session false: the broker keeps our subscriptions and its
	 * half of QoS 1 exchanges across a reconnect */
	mq->m = mosq.mosquitto_new(id, false, mq);
	if (!mq->m) {
		snprintf(err, errlen, "mqtt: %s", strerror(errno));
		goto fail;
	}
	topic_of(mq, topic, sizeof(topic), "status", NULL, NULL);
	rc = mosq.mosquitto_will_set(mq->m, topic, 7, "offline", 1, true);
	if (rc == MOSQ_ERR_SUCCESS && c->username[0])
		rc = mosq.mosquitto_username_pw_set(mq->m, c->username, c->password[0] ? c->password : NULL);
	if (rc == MOSQ_ERR_SUCCESS && c->tls)
		rc = mosq.mosquitto_tls_set(mq->m, c->cafile, NULL, c->certfile[0] ? c->certfile : NULL,
				       c->keyfile[0] ? c->keyfile : NULL, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "mqtt: %s", mosq.mosquitto_strerror(rc));
		goto fail;
	}
	mosq.mosquitto_connect_callback_set(mq->m, on_connect);
	mosq.mosquitto_disconnect_callback_set(mq->m, on_disconnect);
	mosq.mosquitto_publish_callback_set(mq->m, on_publish);
	mosq.mosquitto_message_callback_set(mq->m, on_message);
	mq->w_tick.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (mq->w_tick.fd < 0 || timerfd_settime(mq->w_tick.fd, 0, &its, NULL) ||
	    pd_watch_add(d, &mq->w_tick, EPOLLIN)) {
		snprintf(err, errlen, "mqtt: timer: %s", strerror(errno));
		goto fail;
	}
	mq->sub = pd_site_subscribe(&d->site, PD_SITE_EVENT, on_site, mq);
	if (mq->sub < 0) {
		snprintf(err, errlen, "mqtt: no room for another site subscriber");
		pd_watch_del(d, &mq->w_tick);
		goto fail;
	}
	d->mqtt = mq;
	/* a broker that is not there yet is no error: we retry */
	try_connect(mq);
	return 0;
fail:
	if (mq->w_tick.fd > 0)
		close(mq->w_tick.fd);
	if (mq->m)
		mosq.mosquitto_destroy(mq->m);
	free(mq->q);
	free(mq);
	return -EINVAL;
}

void pd_mqtt_close(struct phloemd *d)
{
	struct pd_mqtt *mq = d->mqtt;
	char topic[200];

	if (!mq)
		return;
	if (mq->connected) {
		/* a clean stop says offline itself (the will is for a crash) */
		topic_of(mq, topic, sizeof(topic), "status", NULL, NULL);
		pub_now(mq, topic, "offline", 0, true, NULL);
		mosq.mosquitto_loop_write(mq->m, 8);
		mosq.mosquitto_disconnect(mq->m);
	}
	pd_site_unsubscribe(&d->site, mq->sub);
	if (mq->sock_fd >= 0)
		pd_watch_del(d, &mq->w_sock);
	pd_watch_del(d, &mq->w_tick);
	close(mq->w_tick.fd);
	mosq.mosquitto_destroy(mq->m);
	for (unsigned i = 0; i < mq->qlen; i++)
		qfree(qat(mq, i));
	free(mq->q);
	free(mq);
	d->mqtt = NULL;
	mosq.mosquitto_lib_cleanup();
}
