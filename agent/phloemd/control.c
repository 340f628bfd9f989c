// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd control socket: a UNIX stream socket speaking line-delimited JSON
 * (json-c). The protocol is documented in docs/phloemd.md; in short, every
 * request is one line {"cmd": NAME, ...} and gets one line back,
 * {"ok": true, ...} or {"ok": false, "error": TEXT, "errno": N}. An
 * "events" request with "follow": true then streams {"event": {...}} lines
 * until the client goes away.
 *
 * Who may do what is decided from SO_PEERCRED/SO_PEERGROUPS when the client
 * connects: reads for root, phloemd's own user and members of [agent]
 * group; writes for root and phloemd's own user only. The socket file is
 * also 0660 root:group, so others cannot even connect.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "lib/nl/phloem_nl.h"
#include "peer/peer.h"
#include "daemon.h"
#include "meter.h"

#define CTL_MAX_CLIENTS	32
#define CTL_LINE_MAX	4096
#define CTL_WBUF_MAX	(16u << 20)	/* a client this far behind is dropped */
#define CTL_HISTORY_ROWS 50000		/* per reply: ~6 MiB of JSON */

struct client {
	struct pd_watch w;	/* first: epoll's data.ptr */
	struct pd_control *ctl;
	struct client *next_dead;
	uid_t uid;
	pid_t pid;
	bool can_read, can_write;
	bool follow;
	bool closing;
	char rbuf[CTL_LINE_MAX];
	size_t rlen;
	char *wbuf;
	size_t wlen, woff, wcap;
};

struct pd_control {
	struct pd_watch w;
	struct phloemd *d;
	char path[PD_SOCK_LEN];
	struct client *cl[CTL_MAX_CLIENTS];
	struct client *dead;
	int sub;		/* our PD_SITE_EVENT subscription */
};

static void on_dead(struct pd_watch *w, uint32_t events)
{
}

/*
 * A client may be dropped while the loop still holds events for it from the
 * same epoll_wait() batch (a slow follower dropped while broadcasting an
 * event): close it now, free it only in pd_control_reap(), after the batch.
 */
static void client_free(struct client *c)
{
	struct pd_control *ctl = c->ctl;

	if (c->w.fd < 0)
		return;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (ctl->cl[i] == c)
			ctl->cl[i] = NULL;
	pd_watch_del(ctl->d, &c->w);
	close(c->w.fd);
	c->w.fd = -1;
	c->w.fn = on_dead;
	c->next_dead = ctl->dead;
	ctl->dead = c;
}

void pd_control_reap(struct phloemd *d)
{
	struct pd_control *ctl = d->ctl;

	while (ctl && ctl->dead) {
		struct client *c = ctl->dead;

		ctl->dead = c->next_dead;
		free(c->wbuf);
		free(c);
	}
}

/* Write what we can; wait for EPOLLOUT for the rest. */
static int client_flush(struct client *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = write(c->w.fd, c->wbuf + c->woff, c->wlen - c->woff);

		if (n < 0) {
			if (errno == EAGAIN)
				break;
			return -1;
		}
		c->woff += (size_t)n;
	}
	if (c->woff == c->wlen) {
		c->woff = c->wlen = 0;
		if (c->closing)
			return -1;
	}
	pd_watch_mod(c->ctl->d, &c->w, EPOLLIN | (c->wlen ? EPOLLOUT : 0));
	return 0;
}

static int client_send(struct client *c, struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(s);

	if (c->wlen + len + 1 > c->wcap) {
		size_t cap = (c->wlen + len + 1) * 2;
		char *nb;

		if (cap > CTL_WBUF_MAX)
			return -1;
		nb = realloc(c->wbuf, cap);
		if (!nb)
			return -1;
		c->wbuf = nb;
		c->wcap = cap;
	}
	memcpy(c->wbuf + c->wlen, s, len);
	c->wbuf[c->wlen + len] = '\n';
	c->wlen += len + 1;
	return client_flush(c);
}

static struct json_object *error_reply(int err, const char *msg)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	json_object_object_add(o, "errno", json_object_new_int(err));
	return o;
}

static struct json_object *ok_reply(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

#define ADD(o, k, v) json_object_object_add((o), (k), (v))
#define JI(v) json_object_new_int64((int64_t)(v))
#define JS(v) json_object_new_string(v)

static struct json_object *state_flags(uint32_t state)
{
	static const char *const n[] = { "failsafe", "leased", "boot-limits", "no-mains", "shedding",
					 "grid-signal" };
	struct json_object *a = json_object_new_array();

	for (unsigned i = 0; i < 6; i++)
		if (state & (1u << i))
			json_object_array_add(a, JS(n[i]));
	return a;
}

/* ---- reads ---- */

/* The site's kernel measurement of this instant: a reply tells the state
 * when it was asked, not up to sample_ms before. */
static int sample(struct phloemd *d, struct phloem_status *st)
{
	int err = pd_site_sample(&d->site);

	if (!err)
		*st = d->site.kernel.st;
	return err;
}

/* a struct pd_val: null when unknown, never a made-up number */
static struct json_object *jval(struct pd_val v, double div)
{
	return v.known ? json_object_new_double((double)v.milli / div) : NULL;
}

/* The site state's devices and what they add up to (docs/modbus.md). */
static void site_json(struct phloemd *d, struct json_object *o)
{
	const struct pd_site *s = &d->site;
	struct json_object *a = json_object_new_array();
	bool known;
	int64_t w;

	w = pd_site_pv_mw(s, &known);
	ADD(o, "pv_w", known ? json_object_new_double(w / 1000.0) : NULL);
	w = pd_site_battery_mw(s, &known);
	ADD(o, "battery_w", known ? json_object_new_double(w / 1000.0) : NULL);
	for (int i = 0; i < s->ndevices; i++) {
		const struct pd_site_device *dv = &s->dev[i];
		struct json_object *e = json_object_new_object();

		ADD(e, "name", JS(dv->name));
		ADD(e, "kind", JS(pd_dev_kind_name(dv->kind)));
		ADD(e, "state", JS(pd_dev_state_name(dv->state)));
		ADD(e, "detail", JS(dv->detail));
		ADD(e, "manufacturer", JS(dv->manufacturer));
		ADD(e, "model", JS(dv->model));
		ADD(e, "serial", JS(dv->serial));
		ADD(e, "updated_ms", JI((int64_t)dv->updated_ms));
		ADD(e, "reads", JI((int64_t)dv->reads));
		ADD(e, "failures", JI((int64_t)dv->failures));
		ADD(e, "writes", JI((int64_t)dv->writes));
		ADD(e, "refused", JI((int64_t)dv->refused));
		ADD(e, "ac_w", jval(dv->ac_mw, 1000));
		ADD(e, "pv_w", jval(dv->pv_mw, 1000));
		ADD(e, "soc_pct", jval(dv->soc_mpct, 1000));
		ADD(e, "reserve_pct", jval(dv->reserve_mpct, 1000));
		ADD(e, "capacity_wh", jval(dv->capacity_mwh, 1000));
		ADD(e, "max_charge_w", jval(dv->max_charge_mw, 1000));
		ADD(e, "max_discharge_w", jval(dv->max_discharge_mw, 1000));
		ADD(e, "setpoint_w", jval(dv->setpoint_mw, 1000));
		ADD(e, "pv_limit_pct", jval(dv->pv_limit_mpct, 1000));
		ADD(e, "rating_w", jval(dv->rating_mw, 1000));
		ADD(e, "meter_w", jval(dv->meter_mw, 1000));
		ADD(e, "import_wh", jval(dv->import_mwh, 1000));
		ADD(e, "export_wh", jval(dv->export_mwh, 1000));
		ADD(e, "vrms_v", jval(dv->vrms_mv, 1000));
		ADD(e, "freq_hz", jval(dv->freq_mhz, 1000));
		json_object_array_add(a, e);
	}
	ADD(o, "devices", a);
}

static struct json_object *do_status(struct phloemd *d)
{
	struct phloem_status st;
	struct json_object *o, *w;
	int err = sample(d, &st);

	if (err)
		return error_reply(-err, "backend status failed");
	o = ok_reply();
	ADD(o, "source", JS("phloemd"));
	ADD(o, "backend", JS(d->be.ops->name));
	ADD(o, "device", JS(d->info.name));
	ADD(o, "state", state_flags(st.state));
	ADD(o, "site_p_w", json_object_new_double(st.site_p_mw / 1000.0));
	ADD(o, "vrms_v", json_object_new_double(st.vrms_mv / 1000.0));
	ADD(o, "freq_hz", json_object_new_double(st.freq_mhz / 1000.0));
	ADD(o, "lease_left_ms", JI(st.lease_left_ms));
	ADD(o, "site_import_limit_w", JI(d->applied.site_import_limit_mw / 1000));
	/* the grid-operator lines: active ones, and the cap in force with them */
	ADD(o, "grid_signal_state", JI(st.signal_state));
	ADD(o, "import_cap_w", JI(st.import_cap_mw / 1000));
	ADD(o, "time", JI(pd_now(d)));
	w = json_object_new_array();
	for (int i = 0; i < d->cfg.ntou; i++)
		if (d->applied.active & (1u << i))
			json_object_array_add(w, JS(d->cfg.tou[i].name));
	ADD(o, "windows_open", w);
	ADD(o, "events_seen", JI(d->events));
	ADD(o, "errors", JI(d->errors));
	{
		struct json_object *m = pd_meter_json(d);

		if (m)
			ADD(o, "meter", m);
	}
	if (d->site.ndevices)
		site_json(d, o);
	return o;
}

static struct json_object *do_channels(struct phloemd *d)
{
	struct phloem_status st;
	struct json_object *o, *a;
	int err = sample(d, &st);

	if (err)
		return error_reply(-err, "backend status failed");
	o = ok_reply();
	a = json_object_new_array();
	for (uint32_t i = 0; i < d->info.nchannels; i++) {
		const struct phloem_chan_info *ci = &d->info.chan[i];
		struct json_object *c = json_object_new_object();
		bool cur = ci->kind == PHLOEM_CHAN_CURRENT;

		ADD(c, "index", JI(i));
		ADD(c, "name", JS(ci->name));
		ADD(c, "kind", JS(cur ? "current" : "voltage"));
		ADD(c, "circuit", JS(cur && ci->circuit < d->info.ncircuits ?
				     d->info.circuit[ci->circuit].name : ""));
		if (cur && ci->circuit < d->info.ncircuits) {
			ADD(c, "irms_ma", JI(st.circuit[ci->circuit].irms_ma));
			ADD(c, "limit_ma", JI(st.circuit[ci->circuit].limit_ma));
			ADD(c, "rating_ma", JI(d->info.circuit[ci->circuit].rating_ma));
			ADD(c, "heat_permille", JI(st.circuit[ci->circuit].heat_permille));
		} else if (!cur) {
			ADD(c, "vrms_mv", JI(st.vrms_mv));
		}
		ADD(c, "import_wh", json_object_new_double(st.energy[i].import_mwh / 1000.0));
		ADD(c, "export_wh", json_object_new_double(st.energy[i].export_mwh / 1000.0));
		json_object_array_add(a, c);
	}
	ADD(o, "channels", a);
	return o;
}

static struct json_object *do_relays(struct phloemd *d)
{
	struct phloem_status st;
	struct json_object *o, *a;
	int err = sample(d, &st);

	if (err)
		return error_reply(-err, "backend status failed");
	o = ok_reply();
	a = json_object_new_array();
	for (int i = 0; i < d->cfg.nrelays; i++) {
		const struct pd_relay *r = &d->cfg.relay[i];
		const struct phloem_relay_status *rs = &st.relay[d->relay_map[i]];
		struct json_object *c = json_object_new_object();

		ADD(c, "index", JI(d->relay_map[i]));
		ADD(c, "name", JS(r->name));
		ADD(c, "circuit", JS(d->cfg.circuit[r->circuit].name));
		ADD(c, "priority", JI(d->prio[i]));
		ADD(c, "critical", json_object_new_boolean(r->critical));
		ADD(c, "on", json_object_new_boolean(rs->on));
		ADD(c, "reason", JS(phloem_nl_reason_name(rs->reason)));
		ADD(c, "hold", JS(phloem_nl_hold_name(st.hold[d->relay_map[i]])));
		ADD(c, "override", JS(phloem_nl_override_name(rs->override)));
		ADD(c, "held_by_window", json_object_new_boolean(d->held & (1u << i)));
		ADD(c, "left_ms", JI(rs->restore_in_ms));
		ADD(c, "backoff", JI(rs->backoff));
		ADD(c, "shed_count", JI(rs->shed_count));
		ADD(c, "load_ma", JI(rs->load_ma));
		/* 0 mA is the kernel's "not measured yet" (never shed) */
		ADD(c, "load_known", json_object_new_boolean(rs->load_ma != 0));
		ADD(c, "min_off_s", JI(r->min_off_ms / 1000));
		json_object_array_add(a, c);
	}
	ADD(o, "relays", a);
	return o;
}

static struct json_object *do_limits(struct phloemd *d)
{
	struct phloem_status st;
	struct pd_targets t;
	struct json_object *o, *a;
	uint32_t hold[PHLOEM_MAX_CIRCUITS];
	int err = sample(d, &st);

	if (err)
		return error_reply(-err, "backend status failed");
	pd_policy_eval(&d->cfg, pd_now(d), &t);
	o = ok_reply();
	ADD(o, "site_import_limit_w", JI(d->applied.site_import_limit_mw / 1000));
	ADD(o, "site_policy_w", JI(t.site_import_limit_mw / 1000));
	ADD(o, "site_operator", json_object_new_boolean(d->op_site_mw != UINT32_MAX));
	a = json_object_new_array();
	if (!d->be.ops->max_holds || d->be.ops->max_holds(&d->be, hold))
		for (int j = 0; j < PHLOEM_MAX_CIRCUITS; j++)
			hold[j] = UINT32_MAX;
	for (int i = 0; i < d->cfg.ncircuits; i++) {
		const struct pd_circuit *c = &d->cfg.circuit[i];
		struct json_object *e = json_object_new_object();
		int dev = d->circ_map[i];

		ADD(e, "name", JS(c->name));
		ADD(e, "limit_ma", JI(st.circuit[dev].limit_ma));
		/* in force (0: the unit's default); absent when unknown */
		if (hold[dev] != UINT32_MAX) {
			ADD(e, "max_hold_s", JI(hold[dev] ? hold[dev] : PHLOEM_MAX_HOLD_DEFAULT_S));
			ADD(e, "max_hold_default", json_object_new_boolean(hold[dev] == 0));
		}
		ADD(e, "policy_ma", JI(t.circuit_ma[i]));
		ADD(e, "operator", json_object_new_boolean(d->op_circuit_ma[i] != 0));
		ADD(e, "rating_ma", JI(d->info.circuit[dev].rating_ma));
		ADD(e, "curve", JS(phloem_nl_curve_name(d->info.circuit[dev].curve)));
		json_object_array_add(a, e);
	}
	ADD(o, "circuits", a);
	return o;
}

static struct json_object *event_json(const struct pd_event_row *e)
{
	struct json_object *o = json_object_new_object();
	char m[80];

	ADD(o, "id", JI(e->id));
	ADD(o, "ts_ms", JI(e->ts_ms));
	ADD(o, "kind", JS(e->kind));
	ADD(o, "cause", JS(e->cause));
	ADD(o, "relay", JS(e->relay ? e->relay : ""));
	ADD(o, "circuit", JS(e->circuit ? e->circuit : ""));
	ADD(o, "channel", JS(e->channel ? e->channel : ""));
	ADD(o, "value", JI(e->value));
	ADD(o, "limit", JI(e->limit));
	ADD(o, "backoff", JI(e->backoff));
	/* the same with units, as phloemctl prints it: "40.3 A > 40.0 A" */
	ADD(o, "measure", JS(phloem_nl_fmt_measure(e->cause, e->value, e->limit, m, sizeof(m))));
	return o;
}

static int ev_row(const struct pd_event_row *e, void *ctx)
{
	json_object_array_add(ctx, event_json(e));
	return 0;
}

static int min_row(const struct pd_minute_row *r, void *ctx)
{
	struct json_object *o;

	/* a bounded reply: the client asks again from the last ts */
	if (json_object_array_length(ctx) >= CTL_HISTORY_ROWS)
		return 1;
	o = json_object_new_object();

	ADD(o, "ts", JI(r->ts));
	ADD(o, "channel", JS(r->channel));
	ADD(o, "circuit", JS(r->circuit));
	ADD(o, "import_mwh", JI(r->import_mwh));
	ADD(o, "export_mwh", JI(r->export_mwh));
	ADD(o, "peak_ma", JI(r->peak_ma));
	ADD(o, "shed_events", JI(r->shed_events));
	json_object_array_add(ctx, o);
	return 0;
}

static int64_t get_int(struct json_object *req, const char *k, int64_t def,
		       bool *bad)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, k, &v))
		return def;
	if (!json_object_is_type(v, json_type_int)) {
		*bad = true;
		return def;
	}
	return json_object_get_int64(v);
}

static const char *get_str(struct json_object *req, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* ---- dispatch ---- */

static struct json_object *handle(struct client *c, struct json_object *req)
{
	struct phloemd *d = c->ctl->d;
	const char *cmd = get_str(req, "cmd");
	char err[256] = "";
	bool bad = false;
	bool write_cmd;
	int rc;

	if (!cmd)
		return error_reply(EINVAL, "request has no \"cmd\" string");
	write_cmd = !strcmp(cmd, "relay") || !strcmp(cmd, "priority") ||
		    !strcmp(cmd, "limits-set") || !strcmp(cmd, "limits-reset") ||
		    !strcmp(cmd, "community-invite") || !strcmp(cmd, "community-join") ||
		    !strcmp(cmd, "community-remove") || !strcmp(cmd, "settle-now");
	if (write_cmd ? !c->can_write : !c->can_read) {
		fprintf(stderr, "phloemd: control: uid %u (pid %d) refused for \"%s\"\n",
			(unsigned)c->uid, (int)c->pid, cmd);
		return error_reply(EPERM, write_cmd ?
				   "permission denied: changes need root" :
				   "permission denied: reads need root or the phloemd group");
	}
	if (!strcmp(cmd, "status"))
		return do_status(d);
	if (!strcmp(cmd, "channels"))
		return do_channels(d);
	if (!strcmp(cmd, "relays"))
		return do_relays(d);
	if (!strcmp(cmd, "limits"))
		return do_limits(d);
	if (!strcmp(cmd, "events")) {
		int64_t since = get_int(req, "since_ms", 0, &bad);
		int64_t limit = get_int(req, "limit", 100, &bad);
		struct json_object *o, *a;
		struct json_object *f;

		if (bad || limit < 0 || limit > 100000)
			return error_reply(EINVAL, "bad since_ms or limit");
		/* negative: relative to our clock (the client's may differ) */
		if (since < 0)
			since += (int64_t)pd_now(d) * 1000;
		a = json_object_new_array();
		if (pd_history_events(d->hist, since, (uint32_t)limit, ev_row, a)) {
			json_object_put(a);
			return error_reply(EIO, pd_history_error(d->hist));
		}
		o = ok_reply();
		ADD(o, "events", a);
		if (json_object_object_get_ex(req, "follow", &f) && json_object_get_boolean(f))
			c->follow = true;
		return o;
	}
	if (!strcmp(cmd, "history")) {
		int64_t since = get_int(req, "since", pd_now(d) - 3600, &bad);
		const char *ch = get_str(req, "channel");
		struct json_object *o, *a;

		if (bad)
			return error_reply(EINVAL, "bad since");
		if (since < 0)
			since += pd_now(d);
		a = json_object_new_array();
		rc = pd_history_minutes(d->hist, since, ch, min_row, a);
		if (rc < 0) {
			json_object_put(a);
			return error_reply(EIO, pd_history_error(d->hist));
		}
		o = ok_reply();
		ADD(o, "truncated", json_object_new_boolean(rc > 0));
		ADD(o, "now", JI(pd_now(d)));
		ADD(o, "rows", a);
		return o;
	}
	if (!strcmp(cmd, "relay") || !strcmp(cmd, "priority")) {
		const char *name = get_str(req, "name");
		int r = name ? pd_config_relay_index(&d->cfg, name) : -1;

		if (r < 0)
			return error_reply(ENOENT, name ? "no such relay" : "\"name\" missing");
		if (!strcmp(cmd, "priority")) {
			int64_t p = get_int(req, "priority", -1, &bad);

			if (bad || p < 0 || p > 255)
				return error_reply(EINVAL, "priority must be 0..255");
			rc = pd_relay_priority(d, r, (uint32_t)p, err, sizeof(err));
		} else {
			const char *mode = get_str(req, "mode");
			int64_t for_ms = get_int(req, "for_ms", 3600000, &bad);
			uint32_t m;

			if (!mode)
				return error_reply(EINVAL, "\"mode\" missing (on, off, auto)");
			if (!strcmp(mode, "on"))
				m = PHLOEM_OVERRIDE_ON;
			else if (!strcmp(mode, "off"))
				m = PHLOEM_OVERRIDE_OFF;
			else if (!strcmp(mode, "auto"))
				m = PHLOEM_OVERRIDE_AUTO;
			else
				return error_reply(EINVAL, "mode must be on, off or auto");
			if (bad || for_ms < 1 || for_ms > 86400000)
				return error_reply(EINVAL, "for_ms must be 1..86400000");
			rc = pd_relay_override(d, r, m, (uint32_t)for_ms, err, sizeof(err));
		}
		return rc ? error_reply(-rc, err) : ok_reply();
	}
	if (!strcmp(cmd, "limits-set")) {
		const char *circ = get_str(req, "circuit");
		int64_t v;

		if (circ) {
			int ci = pd_config_circuit_index(&d->cfg, circ);

			v = get_int(req, "limit_ma", -1, &bad);
			if (ci < 0)
				return error_reply(ENOENT, "no such circuit");
			if (bad || v < 1 || v > UINT32_MAX)
				return error_reply(EINVAL, "limit_ma must be a positive integer");
			rc = pd_limits_override(d, ci, (uint32_t)v, err, sizeof(err));
		} else {
			v = get_int(req, "site_w", -1, &bad);
			if (bad || v < 0 || v > 4000000)
				return error_reply(EINVAL, "site_w must be 0..4000000");
			rc = pd_limits_override(d, -1, (uint32_t)v * 1000, err, sizeof(err));
		}
		return rc ? error_reply(-rc, err) : do_limits(d);
	}
	if (!strcmp(cmd, "limits-reset")) {
		rc = pd_limits_reset(d, err, sizeof(err));
		return rc ? error_reply(-rc, err) : do_limits(d);
	}
	if (!strcmp(cmd, "peers") || !strcmp(cmd, "community")) {
		struct json_object *o = !strcmp(cmd, "peers") ? pd_peers_json(d) :
					pd_community_json(d);

		ADD(o, "ok", json_object_new_boolean(1));
		return o;
	}
	if (!strcmp(cmd, "settle-now")) {
		int64_t start = get_int(req, "interval", -1, &bad);
		int64_t len = get_int(req, "length", 0, &bad);

		if (bad || start < 0 || len < 0 || len > 86400)
			return error_reply(EINVAL, "settle-now: \"interval\" (Unix seconds) and optional \"length\" (s) expected");
		rc = pd_peers_settle(d, (uint64_t)start, (uint32_t)len, err, sizeof(err));
		return rc ? error_reply(-rc, err) : ok_reply();
	}
	if (!strcmp(cmd, "community-invite") || !strcmp(cmd, "community-join") ||
	    !strcmp(cmd, "community-remove")) {
		const char *arg = get_str(req, cmd[10] == 'j' ? "token" : "key");
		char token[PEER_TOKEN_SIZE];
		struct json_object *o;

		if (!arg)
			return error_reply(EINVAL, cmd[10] == 'j' ? "missing \"token\"" :
					   "missing \"key\"");
		if (cmd[10] == 'i')
			rc = pd_peers_invite(d, arg, token, sizeof(token), err, sizeof(err));
		else if (cmd[10] == 'j')
			rc = pd_peers_join(d, arg, err, sizeof(err));
		else
			rc = pd_peers_remove(d, arg, err, sizeof(err));
		if (rc)
			return error_reply(rc < 0 ? -rc : EINVAL, err);
		o = cmd[10] == 'i' ? ok_reply() : pd_community_json(d);
		if (cmd[10] == 'i')
			ADD(o, "token", json_object_new_string(token));
		else
			ADD(o, "ok", json_object_new_boolean(1));
		return o;
	}
	return error_reply(EOPNOTSUPP, "unknown command");
}

/* ---- mqtt.c and web.c: the same requests, with their own rights ---- */
struct json_object *pd_control_call(struct phloemd *d, struct json_object *req,
				    bool can_write)
{
	struct client c = { .ctl = d->ctl, .uid = (uid_t)-1, .pid = 0,
			    .can_read = true, .can_write = can_write };

	return d->ctl ? handle(&c, req) : error_reply(ENOTCONN, "no control");
}

static void on_client(struct pd_watch *w, uint32_t events)
{
	struct client *c = (struct client *)w;
	ssize_t n;
	char *nl;

	if (events & EPOLLOUT) {
		if (client_flush(c)) {
			client_free(c);
			return;
		}
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	n = read(c->w.fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		client_free(c);
		return;
	}
	c->rlen += (size_t)n;
	while ((nl = memchr(c->rbuf, '\n', c->rlen))) {
		size_t len = (size_t)(nl - c->rbuf);
		struct json_tokener *tok = json_tokener_new();
		struct json_object *req, *rep;

		req = json_tokener_parse_ex(tok, c->rbuf, (int)len);
		if (!req || json_tokener_get_error(tok) != json_tokener_success ||
		    tok->char_offset != (int)len || !json_object_is_type(req, json_type_object))
			rep = error_reply(EINVAL, "request is not one JSON object on one line");
		else
			rep = handle(c, req);
		json_tokener_free(tok);
		json_object_put(req);
		memmove(c->rbuf, nl + 1, c->rlen - len - 1);
		c->rlen -= len + 1;
		if (client_send(c, rep)) {
			json_object_put(rep);
			client_free(c);
			return;
		}
		json_object_put(rep);
	}
	if (c->rlen == sizeof(c->rbuf)) {
		struct json_object *rep = error_reply(E2BIG, "request line too long");

		c->closing = true;
		c->rlen = 0;
		if (client_send(c, rep))
			client_free(c);
		json_object_put(rep);
	}
}

static bool in_group(int fd, gid_t gid, gid_t pgid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (gid == (gid_t)-1)
		return false;
	if (pgid == gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static void on_accept(struct pd_watch *w, uint32_t events)
{
	struct pd_control *ctl = (struct pd_control *)w;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct client *c;
	int fd, slot = -1;

	fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (!ctl->cl[i]) {
			slot = i;
			break;
		}
	if (slot < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) ||
	    !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return;
	}
	c->w.fd = fd;
	c->w.fn = on_client;
	c->ctl = ctl;
	c->uid = cr.uid;
	c->pid = cr.pid;
	c->can_write = cr.uid == 0 || cr.uid == geteuid();
	c->can_read = c->can_write || in_group(fd, ctl->d->read_gid, cr.gid);
	if (pd_watch_add(ctl->d, &c->w, EPOLLIN)) {
		close(fd);
		free(c);
		return;
	}
	ctl->cl[slot] = c;
}

/* Every event of the site to every `events --follow` client. */
static void on_site_event(void *ctx, struct pd_site *s, uint32_t changed,
			  const struct pd_event_row *e)
{
	struct phloemd *d = ctx;
	struct pd_control *ctl = d->ctl;
	struct json_object *o;

	if (!ctl)
		return;
	o = json_object_new_object();
	ADD(o, "event", event_json(e));
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct client *c = ctl->cl[i];

		if (c && c->follow && client_send(c, o))
			client_free(c);
	}
	json_object_put(o);
}

int pd_control_open(struct phloemd *d, const char *path, char *err,
		    size_t errlen)
{
	struct pd_control *ctl = calloc(1, sizeof(*ctl));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat sb;
	int fd;

	if (!ctl) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* a stale socket from a killed daemon: if nobody answers on it, it
	 * is ours to replace */
	if (!lstat(path, &sb)) {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (!S_ISSOCK(sb.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			close(probe);
			close(fd);
			free(ctl);
			return -1;
		}
		if (probe >= 0 && !connect(probe, (struct sockaddr *)&sa, sizeof(sa))) {
			snprintf(err, errlen, "%s: another phloemd is running", path);
			close(probe);
			close(fd);
			free(ctl);
			return -1;
		}
		close(probe);
		unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16))
		goto fail;
	/* the file mode is the first gate, SO_PEERCRED the second */
	if (chmod(path, 0660) ||
	    (geteuid() == 0 && d->read_gid != (gid_t)-1 && chown(path, 0, d->read_gid)))
		goto fail;
	ctl->w.fd = fd;
	ctl->w.fn = on_accept;
	ctl->d = d;
	if (pd_watch_add(d, &ctl->w, EPOLLIN))
		goto fail;
	ctl->sub = pd_site_subscribe(&d->site, PD_SITE_EVENT, on_site_event, d);
	d->ctl = ctl;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(ctl);
	return -1;
}

void pd_control_close(struct phloemd *d)
{
	struct pd_control *ctl = d->ctl;

	if (!ctl)
		return;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (ctl->cl[i])
			client_free(ctl->cl[i]);
	pd_control_reap(d);
	pd_site_unsubscribe(&d->site, ctl->sub);
	pd_watch_del(d, &ctl->w);
	close(ctl->w.fd);
	unlink(ctl->path);
	free(ctl);
	d->ctl = NULL;
}
