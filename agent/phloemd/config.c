// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd configuration: INI (libinih) into struct pd_config.
 *
 * Every key and section is checked; anything unknown or out of range is an
 * error reported as "file:line: reason", and the caller keeps whatever
 * configuration it had. libinih does not give the handler a line number in
 * Debian's build, so the file is fed through our own reader that counts
 * lines: inih calls the handler for a line before it reads the next one, so
 * the count is the line of the key being handled. The reader also sees
 * section headers, which lets a header with no keys be checked too.
 */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "phloemd.h"

struct parse {
	struct pd_config *c;
	FILE *f;
	const char *path;
	int line;
	char *err;
	size_t errlen;
	bool failed;
	/* section being filled: its kind and index, so each key lands in it */
	char section[64];
	int kind;
	int idx;
	/* names in [tou] shed= and [relay] circuit= are resolved once the
	 * whole file is read (a relay may precede its circuit) */
	char relay_circuit[PHLOEM_MAX_RELAYS][PD_NAME_LEN];
	char tou_shed[PD_MAX_TOU][128];
	char sig_shed[PHLOEM_MAX_SIGNALS][128];
	char mn_keep[128];
	int mn_keep_line;
	int sig_line[PHLOEM_MAX_SIGNALS];
	int tou_shed_line[PD_MAX_TOU];
	char step_circuit[PD_MAX_STEPS][PD_NAME_LEN];
	int step_line[PD_MAX_STEPS];
	char couple_circuit[PD_MAX_COUPLE][PD_NAME_LEN];
	int couple_line[PD_MAX_COUPLE];
	bool seen_days[PD_MAX_TOU], seen_start[PD_MAX_TOU], seen_end[PD_MAX_TOU];
	bool seen_channel[PHLOEM_MAX_CIRCUITS], seen_breaker[PHLOEM_MAX_CIRCUITS];
	bool seen_limit[PHLOEM_MAX_CIRCUITS], seen_rcircuit[PHLOEM_MAX_RELAYS];
};

enum { SEC_NONE, SEC_SITE, SEC_CIRCUIT, SEC_RELAY, SEC_TOU, SEC_HISTORY,
       SEC_AGENT, SEC_SIM, SEC_PEERS, SEC_DEVICE, SEC_MBSERVER,
       SEC_MQTT, SEC_WEB /* keys in mqttweb_conf.c */, SEC_FREQ,
       SEC_FREQ_STAGE, SEC_SIGNAL };

static bool fail(struct parse *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool fail(struct parse *p, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (p->failed)
		return false;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s", p->path, line, msg);
	else
		snprintf(p->err, p->errlen, "%s: %s", p->path, msg);
	p->failed = true;
	return false;
}

void pd_config_defaults(struct pd_config *c)
{
	pd_zero(c, sizeof(*c));	/* in .bss at start (phloemd.h) */
	snprintf(c->db, sizeof(c->db), "/var/lib/phloem/history.db");
	c->retention_days = 400;
	c->backend = PD_BACKEND_KERNEL;
	pd_mqtt_conf_defaults(&c->mqtt);	/* mqtt/web hook */
	pd_web_conf_defaults(&c->web);
	snprintf(c->socket, sizeof(c->socket), "/run/phloem/phloemd.sock");
	c->lease_s = 30;
	c->sig_debounce_us = UINT32_MAX;
	for (int i = 0; i < PHLOEM_MAX_PHASES; i++)
		c->ph_limit_ma[i] = UINT32_MAX;
	c->ph_imb_ma = c->ph_imb_mva = c->ph_grace_ms = UINT32_MAX;
	c->mn_nominal_mv = c->mn_outage_pct = c->mn_outage_cycles = UINT32_MAX;
	c->mn_return_ms = c->mn_stagger_ms = c->mn_band_pct = UINT32_MAX;
	c->mn_delay_ms = c->mn_uv_pct = c->mn_uv_ms = UINT32_MAX;
	c->sample_ms = 100;
	snprintf(c->user, sizeof(c->user), "phloem");
	snprintf(c->group, sizeof(c->group), "phloem");
	c->sim_vrms_mv = 230000;
	c->sim_mains_hz = 50;
	c->sim_rate_hz = 1000;
	c->sim_restore_delay_ms = 10000;
	snprintf(c->peer_identity, sizeof(c->peer_identity), "/var/lib/phloem/identity.key");
	snprintf(c->peer_state, sizeof(c->peer_state), "/var/lib/phloem/community");
	c->peer_port = 7068;
	c->peer_announce_ms = 10000;
	c->peer_settle_interval_s = 900;
	snprintf(c->mbserver.listen, sizeof(c->mbserver.listen), "127.0.0.1");
	c->mbserver.port = 1502;
	c->mbserver.unit = 1;
	c->mbserver.model = 203;
	c->mbserver.base = 40000;
	c->mbserver.max_clients = 4;
}

/* Unsigned integer in [min, max], whole string, decimal. */
static bool parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long x;

	if (!*v || !isdigit((unsigned char)*v))
		return false;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || x < min || x > max)
		return false;
	*out = (uint32_t)x;
	return true;
}

/* Amperes with up to three decimals ("16", "12.5") into mA. */
static bool parse_amps(const char *v, uint32_t max_ma, uint32_t *out)
{
	uint64_t ma = 0;
	int frac = -1;

	if (!*v)
		return false;
	for (; *v; v++) {
		if (*v == '.' && frac < 0) {
			frac = 0;
			continue;
		}
		if (!isdigit((unsigned char)*v) || frac >= 3)
			return false;
		ma = ma * 10 + (uint64_t)(*v - '0');
		if (frac >= 0)
			frac++;
		if (ma > (uint64_t)max_ma * 1000)
			return false;
	}
	if (frac == 0)
		return false;
	for (frac = frac < 0 ? 0 : frac; frac < 3; frac++)
		ma *= 10;
	if (ma == 0 || ma > (uint64_t)max_ma * 1000)
		return false;
	*out = (uint32_t)ma;
	return true;
}

/*
 * Signed amperes for the simulated loads: "0", "12.5" or "-12" (negative: a
 * current in antiphase with the voltage, i.e. the circuit exports, the sign
 * of real power in the UAPI header). Only one leading '-': "--5" and "-"
 * are refused by parse_amps() seeing a non-digit or nothing.
 */
/* amperes as parse_amps(), or 0 (a rule off) */
static bool parse_amps0(const char *v, uint32_t max_ma, uint32_t *out)
{
	if (v[0] == '0' && (!v[1] || (v[1] == '.' && !strspn(v + 2, "123456789") &&
				      strspn(v + 2, "0") == strlen(v + 2)))) {
		*out = 0;
		return true;
	}
	return parse_amps(v, max_ma, out);
}

/* phase_limit_a: "25" (every measured phase) or "25,25,0" (L1,L2,L3) */
static bool parse_phase_limits(const char *v, struct pd_config *c)
{
	char buf[64], *save = NULL, *tok;
	uint32_t ma[PHLOEM_MAX_PHASES];
	int n = 0;

	if (strlen(v) >= sizeof(buf))
		return false;
	strcpy(buf, v);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		for (char *e = tok + strlen(tok); e > tok && e[-1] == ' '; )
			*--e = '\0';
		if (n == PHLOEM_MAX_PHASES || !parse_amps0(tok, 4000000, &ma[n]))
			return false;
		n++;
	}
	if (n != 1 && n != PHLOEM_MAX_PHASES)
		return false;
	for (int i = 0; i < PHLOEM_MAX_PHASES; i++)
		c->ph_limit_ma[i] = ma[n == 1 ? 0 : i];
	c->ph_limit_all = n == 1;
	return true;
}

static bool parse_signed_amps(const char *v, uint32_t max_ma, int32_t *out)
{
	bool neg = *v == '-';
	uint32_t ma;

	if (neg)
		v++;
	if (!strcmp(v, "0")) {
		*out = 0;
		return true;
	}
	if (!parse_amps(v, max_ma, &ma))
		return false;
	*out = neg ? -(int32_t)ma : (int32_t)ma;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1")) {
		*out = true;
		return true;
	}
	if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0")) {
		*out = false;
		return true;
	}
	return false;
}

/* "HH:MM", 00:00..24:00 */
static bool parse_hhmm(const char *v, uint32_t *min)
{
	unsigned h, m;
	char tail;

	if (strlen(v) != 5 || v[2] != ':' ||
	    sscanf(v, "%2u:%2u%c", &h, &m, &tail) != 2)
		return false;
	if (m > 59 || h > 24 || (h == 24 && m))
		return false;
	*min = h * 60 + m;
	return true;
}

static const char *const day_names[7] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"
};

static int day_index(const char *s, size_t n)
{
	for (int i = 0; i < 7; i++)
		if (n == 3 && !strncasecmp(s, day_names[i], 3))
			return i;
	return -1;
}

/* "Mon-Fri", "Sat,Sun", "Fri-Mon" (wraps), "all" */
int pd_parse_days(const char *s, uint8_t *days)
{
	uint8_t d = 0;

	if (!strcasecmp(s, "all") || !strcmp(s, "*")) {
		*days = 0x7f;
		return 0;
	}
	while (*s) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		const char *dash = memchr(s, '-', n);
		int a, b;

		if (dash) {
			a = day_index(s, (size_t)(dash - s));
			b = day_index(dash + 1, n - (size_t)(dash - s) - 1);
		} else {
			a = b = day_index(s, n);
		}
		if (a < 0 || b < 0)
			return -1;
		for (int i = a;; i = (i + 1) % 7) {
			d |= 1u << i;
			if (i == b)
				break;
		}
		s += n;
		if (*s == ',' && !*++s)
			return -1;
	}
	if (!d)
		return -1;
	*days = d;
	return 0;
}

const char *pd_days_str(uint8_t days, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	if (days == 0x7f) {
		snprintf(buf, len, "all");
		return buf;
	}
	for (int i = 0; i < 7; i++)
		if (days & (1u << i))
			o += (size_t)snprintf(buf + o, o < len ? len - o : 0,
					      "%s%s", o ? "," : "", day_names[i]);
	return buf;
}

/* Section names: letters, digits, '-', '_', '.'; at most PD_NAME_LEN-1. */
static bool good_name(const char *n, size_t max)
{
	size_t l = strlen(n);

	if (!l || l >= max)
		return false;
	for (; *n; n++)
		if (!isalnum((unsigned char)*n) && !strchr("-_.", *n))
			return false;
	return true;
}

int pd_config_circuit_index(const struct pd_config *c, const char *name)
{
	for (int i = 0; i < c->ncircuits; i++)
		if (!strcmp(c->circuit[i].name, name))
			return i;
	return -1;
}

int pd_config_relay_index(const struct pd_config *c, const char *name)
{
	for (int i = 0; i < c->nrelays; i++)
		if (!strcmp(c->relay[i].name, name))
			return i;
	return -1;
}

/*
 * Start a section, called from the reader when it sees "[...]". Sections
 * with a name ([circuit X]) get an entry at once, so duplicates and
 * overflow are reported on the header line.
 */
static bool begin_section(struct parse *p, const char *hdr)
{
	struct pd_config *c = p->c;
	char kind[16], name[32], extra[8];
	int n;

	snprintf(p->section, sizeof(p->section), "%s", hdr);
	n = sscanf(hdr, "%15s %31s %7s", kind, name, extra);
	p->idx = -1;
	if (n == 1 && !strcmp(kind, "site"))
		p->kind = SEC_SITE;
	else if (n == 1 && !strcmp(kind, "history"))
		p->kind = SEC_HISTORY;
	else if (n == 1 && !strcmp(kind, "agent"))
		p->kind = SEC_AGENT;
	else if (n == 1 && !strcmp(kind, "sim"))
		p->kind = SEC_SIM;
	else if (n == 1 && !strcmp(kind, "peers"))
		p->kind = SEC_PEERS;
	else if (n == 1 && !strcmp(kind, "modbus_server")) {
		p->kind = SEC_MBSERVER;
		c->mbserver.enabled = true;
	} else if (n == 2 && !strcmp(kind, "device")) {
		struct pd_device *d;

		if (!good_name(name, sizeof(c->dev[0].name)))
			return fail(p, p->line, "bad device name \"%s\"", name);
		for (int i = 0; i < c->ndevices; i++)
			if (!strcmp(c->dev[i].name, name))
				return fail(p, p->line, "device \"%s\" defined twice", name);
		if (c->ndevices == PD_MAX_DEVICES)
			return fail(p, p->line, "more than %d devices", PD_MAX_DEVICES);
		p->kind = SEC_DEVICE;
		p->idx = c->ndevices++;
		d = &c->dev[p->idx];
		snprintf(d->name, sizeof(d->name), "%s", name);
		d->line = p->line;
		d->baud = 9600;
		d->parity = 'N';
		d->unit = 1;
		d->base = -1;
		d->poll_ms = 1000;
		d->timeout_ms = 500;
	} else if (n == 1 && (!strcmp(kind, "mqtt") || !strcmp(kind, "web")))
		p->kind = kind[0] == 'm' ? SEC_MQTT : SEC_WEB;
	else if (n == 2 && !strcmp(kind, "circuit")) {
		if (!good_name(name, PD_NAME_LEN))
			return fail(p, p->line, "bad circuit name \"%s\" (letters, digits, -_. and at most %d characters)",
				    name, PD_NAME_LEN - 1);
		if (pd_config_circuit_index(c, name) >= 0)
			return fail(p, p->line, "circuit \"%s\" defined twice", name);
		if (c->ncircuits == PHLOEM_MAX_CIRCUITS)
			return fail(p, p->line, "more than %d circuits", PHLOEM_MAX_CIRCUITS);
		p->kind = SEC_CIRCUIT;
		p->idx = c->ncircuits++;
		snprintf(c->circuit[p->idx].name, PD_NAME_LEN, "%.*s", PD_NAME_LEN - 1, name);
		c->circuit[p->idx].line = p->line;
		c->circuit[p->idx].curve = PHLOEM_CURVE_B;
		c->circuit[p->idx].max_hold_s = UINT32_MAX;
	} else if (n == 2 && !strcmp(kind, "relay")) {
		if (!good_name(name, PD_NAME_LEN))
			return fail(p, p->line, "bad relay name \"%s\" (letters, digits, -_. and at most %d characters)",
				    name, PD_NAME_LEN - 1);
		if (pd_config_relay_index(c, name) >= 0)
			return fail(p, p->line, "relay \"%s\" defined twice", name);
		if (c->nrelays == PHLOEM_MAX_RELAYS)
			return fail(p, p->line, "more than %d relays", PHLOEM_MAX_RELAYS);
		p->kind = SEC_RELAY;
		p->idx = c->nrelays++;
		snprintf(c->relay[p->idx].name, PD_NAME_LEN, "%.*s", PD_NAME_LEN - 1, name);
		c->relay[p->idx].line = p->line;
		c->relay[p->idx].priority = 100;
	} else if (n == 2 && !strcmp(kind, "grid_signal")) {
		if (strlen(name) != 2 || name[0] != 'K' || name[1] < '1' ||
		    name[1] > '0' + PHLOEM_MAX_SIGNALS)
			return fail(p, p->line, "bad grid-operator line \"%s\" (K1..K%d)",
				    name, PHLOEM_MAX_SIGNALS);
		p->idx = name[1] - '1';
		if (c->sig_set & (1u << p->idx))
			return fail(p, p->line, "[grid_signal %s] defined twice", name);
		c->sig_set |= 1u << p->idx;
		p->sig_line[p->idx] = p->line;
		p->kind = SEC_SIGNAL;
	} else if (n == 2 && !strcmp(kind, "tou")) {
		if (!good_name(name, sizeof(c->tou[0].name)))
			return fail(p, p->line, "bad window name \"%s\"", name);
		for (int i = 0; i < c->ntou; i++)
			if (!strcmp(c->tou[i].name, name))
				return fail(p, p->line, "window \"%s\" defined twice", name);
		if (c->ntou == PD_MAX_TOU)
			return fail(p, p->line, "more than %d [tou] windows", PD_MAX_TOU);
		p->kind = SEC_TOU;
		p->idx = c->ntou++;
		snprintf(c->tou[p->idx].name, sizeof(c->tou[0].name), "%.*s", (int)sizeof(c->tou[0].name) - 1, name);
		c->tou[p->idx].line = p->line;
	} else if (n == 1 && !strcmp(kind, "freq")) {
		p->kind = SEC_FREQ;
	} else if (n == 2 && !strcmp(kind, "freq_stage")) {
		struct pd_freq_stage *fs;

		if (!good_name(name, PD_NAME_LEN))
			return fail(p, p->line, "bad stage name \"%s\"", name);
		for (int i = 0; i < c->nfreq; i++)
			if (!strcmp(c->freq[i].name, name))
				return fail(p, p->line, "stage \"%s\" defined twice", name);
		if (c->nfreq == PHLOEM_FREQ_STAGES)
			return fail(p, p->line, "more than %d [freq_stage] sections",
				    PHLOEM_FREQ_STAGES);
		p->kind = SEC_FREQ_STAGE;
		p->idx = c->nfreq++;
		fs = &c->freq[p->idx];
		snprintf(fs->name, PD_NAME_LEN, "%.*s", PD_NAME_LEN - 1, name);
		fs->line = p->line;
		/* defaults: an LFDD stage of a grid code (docs/phloemd.md) */
		fs->st.delay_ms = 100;
		fs->st.hyst_mhz = 200;
		fs->st.restore_ms = 30000;
	} else {
		return fail(p, p->line, "unknown section [%s] (expected site, circuit NAME, relay NAME, tou NAME, grid_signal K1..K4, device NAME, modbus_server, history, agent, sim, peers, mqtt, web, freq, freq_stage NAME)",
			    hdr);
	}
	return true;
}

/* a frequency in Hz with up to 3 decimals into mHz, 0 < f <= @max_hz */
static bool parse_hz(const char *v, uint32_t max_hz, uint32_t *mhz)
{
	return parse_amps(v, max_hz, mhz);
}

/* "LO-HI" or one priority: the relays a stage sheds */
static bool parse_prio_range(const char *v, uint8_t *lo, uint8_t *hi)
{
	unsigned a, b;
	char x;

	if (sscanf(v, "%3u-%3u%c", &a, &b, &x) == 2 && a <= b && b <= 255) {
		*lo = (uint8_t)a;
		*hi = (uint8_t)b;
		return true;
	}
	if (sscanf(v, "%3u%c", &a, &x) == 1 && a <= 255 && isdigit((unsigned char)v[strlen(v) - 1])) {
		*lo = *hi = (uint8_t)a;
		return true;
	}
	return false;
}

/*
 * Our line reader for ini_parse_stream(): counts lines and checks section
 * headers before inih sees them. Returning NULL ends the parse early on an
 * error (inih treats it as end of file; we report our own error).
 */
static char *reader(char *buf, int size, void *stream)
{
	struct parse *p = stream;
	char *s, *e;

	if (p->failed || !fgets(buf, size, p->f))
		return NULL;
	p->line++;
	if (!strchr(buf, '\n') && !feof(p->f)) {
		fail(p, p->line, "line longer than %d characters", size - 2);
		return NULL;
	}
	for (s = buf; isspace((unsigned char)*s); s++)
		;
	if (s != buf && *s && !strchr(";#", *s)) {
		/* inih would fold an indented line into the previous value;
		 * that hides typos, so refuse it */
		fail(p, p->line, "indented line (continuation lines are not supported)");
		return NULL;
	}
	if (*s == '[') {
		e = strchr(s, ']');
		if (!e) {
			fail(p, p->line, "section header without ']'");
			return NULL;
		}
		*e = 0;
		if (!begin_section(p, s + 1))
			return NULL;
		*e = ']';
	}
	return buf;
}

static bool list_names(struct parse *p, const char *v, char *out, size_t len)
{
	if (strlen(v) >= len)
		return fail(p, p->line, "list too long");
	snprintf(out, len, "%s", v);
	return true;
}

static bool parse_yesno(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return false;
	return true;
}

#define BAD(what) fail(p, l, "[%s] %s: %s", p->section, key, what)
/* [device NAME] */
static int device_key(struct parse *p, struct pd_device *d, const char *key,
		      const char *v, int l)
{
	uint32_t u;

	if (!strcmp(key, "url")) {
		if (strlen(v) >= sizeof(d->url) ||
		    (strncmp(v, "tcp://", 6) && strncmp(v, "rtu:/", 5)))
			return BAD("expected tcp://HOST:PORT or rtu:/dev/PATH");
		if (!strncmp(v, "tcp://", 6)) {
			const char *colon = strrchr(v + 6, ':');
			uint32_t port;

			if (!colon || colon == v + 6 || !parse_u32(colon + 1, 1, 65535, &port))
				return BAD("expected tcp://HOST:PORT");
		}
		snprintf(d->url, sizeof(d->url), "%s", v);
	} else if (!strcmp(key, "baud")) {
		if (!parse_u32(v, 1200, 1000000, &d->baud))
			return BAD("expected 1200..1000000");
	} else if (!strcmp(key, "parity")) {
		if (strcmp(v, "N") && strcmp(v, "E") && strcmp(v, "O"))
			return BAD("expected N, E or O");
		d->parity = v[0];
	} else if (!strcmp(key, "unit")) {
		if (!parse_u32(v, 0, 247, &d->unit))
			return BAD("expected a unit id 0..247");
	} else if (!strcmp(key, "base")) {
		if (!strcmp(v, "auto")) {
			d->base = -1;
		} else {
			if (!parse_u32(v, 0, 65535, &u) || (u != 0 && u != 40000 && u != 50000))
				return BAD("expected auto, 0, 40000 or 50000");
			d->base = (int32_t)u;
		}
	} else if (!strcmp(key, "poll_ms")) {
		if (!parse_u32(v, 50, 600000, &d->poll_ms))
			return BAD("expected milliseconds 50..600000");
	} else if (!strcmp(key, "timeout_ms")) {
		if (!parse_u32(v, 10, 10000, &d->timeout_ms))
			return BAD("expected milliseconds 10..10000");
	} else if (!strcmp(key, "control")) {
		if (!parse_yesno(v, &d->control))
			return BAD("expected yes or no");
	} else if (!strcmp(key, "reserve_pct")) {
		if (!parse_u32(v, 0, 100, &d->reserve_pct))
			return BAD("expected percent 0..100");
	} else if (!strcmp(key, "rating_w")) {
		if (!parse_u32(v, 1, 4000000, &d->rating_w))
			return BAD("expected watts 1..4000000");
	} else {
		return BAD("unknown key (url, baud, parity, unit, base, poll_ms, timeout_ms, control, reserve_pct, rating_w)");
	}
	return 1;
}

/* [modbus_server] */
static int mbserver_key(struct parse *p, struct pd_mbserver *m, const char *key,
			const char *v, int l)
{
	if (!strcmp(key, "listen")) {
		if (strlen(v) >= sizeof(m->listen) || !*v)
			return BAD("expected an address");
		snprintf(m->listen, sizeof(m->listen), "%s", v);
	} else if (!strcmp(key, "port")) {
		if (!parse_u32(v, 1, 65535, &m->port))
			return BAD("expected a port 1..65535");
	} else if (!strcmp(key, "unit")) {
		if (!parse_u32(v, 1, 247, &m->unit))
			return BAD("expected a unit id 1..247");
	} else if (!strcmp(key, "model")) {
		if (!parse_u32(v, 201, 203, &m->model) || m->model == 202)
			return BAD("expected 201 (single phase) or 203 (three phase)");
	} else if (!strcmp(key, "base")) {
		if (!parse_u32(v, 0, 50000, &m->base) ||
		    (m->base != 0 && m->base != 40000 && m->base != 50000))
			return BAD("expected 0, 40000 or 50000");
	} else if (!strcmp(key, "writable")) {
		if (!parse_yesno(v, &m->writable))
			return BAD("expected yes or no");
	} else if (!strcmp(key, "max_clients")) {
		if (!parse_u32(v, 1, 64, &m->max_clients))
			return BAD("expected 1..64");
	} else {
		return BAD("unknown key (listen, port, unit, model, base, writable, max_clients)");
	}
	return 1;
}

/* [peers]: docs/protocol.md, "Configuration" */
static int peers_key(struct parse *p, struct pd_config *c, const char *key,
		     const char *v)
{
	int l = p->line;

	if (!strcmp(key, "community")) {
		size_t n = strlen(v);

		if (!n || n > 63 || strpbrk(v, " \t."))
			return BAD("expected a name of 1..63 printable bytes without spaces or dots");
		snprintf(c->peer_community, sizeof(c->peer_community), "%s", v);
	} else if (!strcmp(key, "interfaces")) {
		if (strlen(v) >= sizeof(c->peer_interfaces))
			return BAD("list too long");
		snprintf(c->peer_interfaces, sizeof(c->peer_interfaces), "%s", v);
	} else if (!strcmp(key, "static")) {
		if (strlen(v) >= sizeof(c->peer_static))
			return BAD("list too long");
		snprintf(c->peer_static, sizeof(c->peer_static), "%s", v);
	} else if (!strcmp(key, "identity") || !strcmp(key, "state") ||
		   !strcmp(key, "ledger")) {
		char *dst = key[0] == 'i' ? c->peer_identity :
			    key[0] == 's' ? c->peer_state : c->peer_ledger;

		if (v[0] != '/' || strlen(v) >= PATH_MAX)
			return BAD("expected an absolute path");
		snprintf(dst, PATH_MAX, "%s", v);
	} else if (!strcmp(key, "port")) {
		if (!parse_u32(v, 1, 65535, &c->peer_port))
			return BAD("expected a UDP port 1..65535");
	} else if (!strcmp(key, "announce_ms")) {
		if (!parse_u32(v, 100, 600000, &c->peer_announce_ms))
			return BAD("expected milliseconds 100..600000");
	} else if (!strcmp(key, "settle_interval_s")) {
		/* below a minute only for a test community or a demo:
		 * production settles every 900 s */
		if (!parse_u32(v, 10, 86400, &c->peer_settle_interval_s))
			return BAD("expected seconds 10..86400");
	} else {
		return BAD("unknown key (community, interfaces, static, port, announce_ms, settle_interval_s, identity, state, ledger)");
	}
	return 1;
}
#undef BAD

static int handler(void *user, const char *section, const char *key,
		   const char *v)
{
	struct parse *p = user;
	struct pd_config *c = p->c;
	int l = p->line;
	uint32_t u;

	if (p->failed)
		return 0;
	if (!*section)
		return fail(p, l, "key \"%s\" outside any section", key);

#define BAD(what) fail(p, l, "[%s] %s: %s", p->section, key, what)
	switch (p->kind) {
	case SEC_SITE:
		if (!strcmp(key, "import_limit_w")) {
			if (!parse_u32(v, 0, 4000000, &u))
				return BAD("expected watts 0..4000000 (0 disables)");
			c->site_import_limit_mw = u * 1000;
		} else if (!strcmp(key, "peak_shaving_target_w")) {
			if (!parse_u32(v, 0, 4000000, &u))
				return BAD("expected watts 0..4000000 (0 disables)");
			c->peak_target_mw = u * 1000;
		} else if (!strcmp(key, "export_limit_w")) {
			if (!parse_u32(v, 0, 4000000, &u))
				return BAD("expected watts 0..4000000 (0 disables)");
			c->export_limit_mw = u * 1000;
		} else if (!strcmp(key, "grid_signal_debounce_us")) {
			if (!parse_u32(v, 0, PHLOEM_SIGNAL_DEBOUNCE_MAX_US, &c->sig_debounce_us))
				return BAD("expected microseconds 0..10000");
		} else if (!strcmp(key, "phase_limit_a")) {
			if (!parse_phase_limits(v, c))
				return BAD("expected amperes 0..4000 (0 disables): one value for every measured phase, or three for L1,L2,L3");
		} else if (!strcmp(key, "phase_imbalance_a")) {
			if (!parse_amps0(v, 4000000, &c->ph_imb_ma))
				return BAD("expected amperes 0..4000 (0 disables)");
		} else if (!strcmp(key, "phase_imbalance_va")) {
			if (!parse_u32(v, 0, 4000000, &u))
				return BAD("expected volt-amperes 0..4000000 (0 disables)");
			c->ph_imb_mva = u * 1000;
		} else if (!strcmp(key, "phase_grace_s")) {
			if (!parse_u32(v, 0, PHLOEM_PHASE_GRACE_MAX_MS / 1000, &u))
				return BAD("expected seconds 0..600");
			c->ph_grace_ms = u * 1000;
		} else if (!strcmp(key, "volt_nominal_v")) {
			if (!parse_u32(v, PHLOEM_NOMINAL_MV_MIN / 1000,
				       PHLOEM_NOMINAL_MV_MAX / 1000, &u))
				return BAD("expected volts 50..500 (the nominal phase voltage, 230 when not given)");
			c->mn_nominal_mv = u * 1000;
		} else if (!strcmp(key, "outage_pct")) {
			if (!parse_u32(v, 0, PHLOEM_OUTAGE_MAX_PCT, &c->mn_outage_pct))
				return BAD("expected percent of nominal 0..90 (0 disables the outage rule)");
		} else if (!strcmp(key, "outage_cycles")) {
			if (!parse_u32(v, 1, PHLOEM_OUTAGE_CYCLES_MAX, &c->mn_outage_cycles))
				return BAD("expected mains cycles 1..50");
		} else if (!strcmp(key, "outage_keep")) {
			if (!list_names(p, v, p->mn_keep, sizeof(p->mn_keep)))
				return 0;
			p->mn_keep_line = l;
			c->mn_keep_set = true;
		} else if (!strcmp(key, "return_s")) {
			if (!parse_u32(v, 1, PHLOEM_RETURN_MS_MAX / 1000, &u))
				return BAD("expected seconds 1..600 of stable mains");
			c->mn_return_ms = u * 1000;
		} else if (!strcmp(key, "return_stagger_ms")) {
			if (!parse_u32(v, 1, PHLOEM_RETURN_STAGGER_MS_MAX, &c->mn_stagger_ms))
				return BAD("expected milliseconds 1..60000 between two relays");
		} else if (!strcmp(key, "volt_band_pct")) {
			if (!parse_u32(v, 0, PHLOEM_VOLT_BAND_MAX_PCT, &c->mn_band_pct))
				return BAD("expected percent of nominal 0..20 (0 disables the voltage events)");
		} else if (!strcmp(key, "volt_delay_ms")) {
			if (!parse_u32(v, 0, PHLOEM_VOLT_DELAY_MAX_MS, &c->mn_delay_ms))
				return BAD("expected milliseconds 0..60000");
		} else if (!strcmp(key, "volt_shed_pct")) {
			if (!parse_u32(v, 0, PHLOEM_UV_SHED_MAX_PCT, &u) ||
			    (u && u < PHLOEM_UV_SHED_MIN_PCT))
				return BAD("expected percent of nominal 50..99, or 0 (disables the under-voltage rule)");
			c->mn_uv_pct = u;
		} else if (!strcmp(key, "volt_shed_s")) {
			if (!parse_u32(v, 0, PHLOEM_UV_SHED_MAX_MS / 1000, &u))
				return BAD("expected seconds 0..600");
			c->mn_uv_ms = u * 1000;
		} else {
			return BAD("unknown key (import_limit_w, peak_shaving_target_w, export_limit_w, grid_signal_debounce_us, phase_limit_a, phase_imbalance_a, phase_imbalance_va, phase_grace_s; the mains keys volt_*, outage_*, return_*: docs/phloemd.md)");
		}
		return 1;
	case SEC_SIGNAL:
		if (!strcmp(key, "import_cap_w")) {
			if (!parse_u32(v, 0, 4000000, &u))
				return BAD("expected watts 0..4000000 (0: no cap)");
			c->sig_cap_mw[p->idx] = u * 1000;
		} else if (!strcmp(key, "shed")) {
			if (!list_names(p, v, p->sig_shed[p->idx], sizeof(p->sig_shed[0])))
				return 0;
		} else {
			return BAD("unknown key (import_cap_w, shed)");
		}
		return 1;
	case SEC_CIRCUIT: {
		struct pd_circuit *ci = &c->circuit[p->idx];

		if (!strcmp(key, "channel")) {
			if (v[0] != 'i' || !isdigit((unsigned char)v[1]) || v[1] > '7' || v[2])
				return BAD("expected a current channel name i0..i7");
			snprintf(ci->channel, sizeof(ci->channel), "%s", v);
			p->seen_channel[p->idx] = true;
		} else if (!strcmp(key, "breaker_a")) {
			if (!parse_amps(v, 1000, &ci->breaker_ma))
				return BAD("expected amperes, above 0 and at most 1000");
			p->seen_breaker[p->idx] = true;
		} else if (!strcmp(key, "curve")) {
			if (!strcmp(v, "B"))
				ci->curve = PHLOEM_CURVE_B;
			else if (!strcmp(v, "C"))
				ci->curve = PHLOEM_CURVE_C;
			else if (!strcmp(v, "D"))
				ci->curve = PHLOEM_CURVE_D;
			else
				return BAD("expected B, C or D");
		} else if (!strcmp(key, "limit_a")) {
			if (!parse_amps(v, 1000, &ci->limit_ma))
				return BAD("expected amperes, above 0 and at most 1000");
			p->seen_limit[p->idx] = true;
		} else if (!strcmp(key, "sim_base_a")) {
			if (!parse_signed_amps(v, 1000, &c->sim_base_ma[p->idx]))
				return BAD("expected amperes -1000..1000 (negative: the circuit exports)");
		} else if (!strcmp(key, "max_hold_s")) {
			if (!parse_u32(v, 0, PHLOEM_MAX_HOLD_MAX_S, &ci->max_hold_s))
				return BAD("expected seconds 0..43200 (0: the default, 900)");
		} else {
			return BAD("unknown key (channel, breaker_a, curve, limit_a, max_hold_s, sim_base_a)");
		}
		return 1;
	}
	case SEC_RELAY: {
		struct pd_relay *r = &c->relay[p->idx];
		bool b;

		if (!strcmp(key, "circuit")) {
			if (strlen(v) >= PD_NAME_LEN)
				return BAD("name too long");
			snprintf(p->relay_circuit[p->idx], PD_NAME_LEN, "%s", v);
			p->seen_rcircuit[p->idx] = true;
			r->line = l;
		} else if (!strcmp(key, "priority")) {
			if (!parse_u32(v, 0, 255, &r->priority))
				return BAD("expected 0 (shed first) .. 255 (shed last)");
		} else if (!strcmp(key, "critical")) {
			if (!parse_bool(v, &b))
				return BAD("expected yes or no");
			r->critical = b;
		} else if (!strcmp(key, "min_off_s")) {
			if (!parse_u32(v, 0, 3600, &u))
				return BAD("expected seconds 0..3600");
			r->min_off_ms = u * 1000;
		} else if (!strcmp(key, "sim_load_a")) {
			if (!strcmp(v, "0"))
				r->sim_load_ma = 0;
			else if (!parse_amps(v, 1000, &r->sim_load_ma))
				return BAD("expected amperes 0..1000");
		} else {
			return BAD("unknown key (circuit, priority, critical, min_off_s, sim_load_a)");
		}
		return 1;
	}
	case SEC_TOU: {
		struct pd_tou *t = &c->tou[p->idx];

		if (!strcmp(key, "days")) {
			if (pd_parse_days(v, &t->days))
				return BAD("expected days such as Mon-Fri, Sat,Sun or all");
			p->seen_days[p->idx] = true;
		} else if (!strcmp(key, "start")) {
			if (!parse_hhmm(v, &t->start_min) || t->start_min == 1440)
				return BAD("expected HH:MM, 00:00..23:59");
			p->seen_start[p->idx] = true;
		} else if (!strcmp(key, "end")) {
			if (!parse_hhmm(v, &t->end_min))
				return BAD("expected HH:MM, 00:00..24:00");
			p->seen_end[p->idx] = true;
		} else if (!strcmp(key, "site_import_limit_w")) {
			if (!parse_u32(v, 1, 4000000, &u))
				return BAD("expected watts 1..4000000");
			t->site_import_limit_mw = u * 1000;
		} else if (!strcmp(key, "shed")) {
			if (!list_names(p, v, p->tou_shed[p->idx], sizeof(p->tou_shed[0])))
				return 0;
			p->tou_shed_line[p->idx] = l;
		} else if (!strcmp(key, "battery")) {
			if (strcmp(v, "discharge"))
				return BAD("expected discharge");
			t->discharge = true;
		} else {
			return BAD("unknown key (days, start, end, site_import_limit_w, shed, battery)");
		}
		return 1;
	}
	case SEC_HISTORY:
		if (!strcmp(key, "db")) {
			if (v[0] != '/' || strlen(v) >= sizeof(c->db))
				return BAD("expected an absolute path");
			snprintf(c->db, sizeof(c->db), "%s", v);
		} else if (!strcmp(key, "retention_days")) {
			if (!parse_u32(v, 1, 36500, &c->retention_days))
				return BAD("expected days 1..36500");
		} else {
			return BAD("unknown key (db, retention_days)");
		}
		return 1;
	case SEC_PEERS:
		return peers_key(p, c, key, v);
	case SEC_DEVICE:
		return device_key(p, &c->dev[p->idx], key, v, l);
	case SEC_MBSERVER:
		return mbserver_key(p, &c->mbserver, key, v, l);
	case SEC_AGENT:
		if (!strcmp(key, "backend")) {
			if (!strcmp(v, "kernel"))
				c->backend = PD_BACKEND_KERNEL;
			else if (!strcmp(v, "sim"))
				c->backend = PD_BACKEND_SIM;
			else
				return BAD("expected kernel or sim");
		} else if (!strcmp(key, "socket")) {
			if (v[0] != '/' || strlen(v) >= sizeof(c->socket))
				return BAD("expected an absolute path shorter than 108 bytes");
			snprintf(c->socket, sizeof(c->socket), "%s", v);
		} else if (!strcmp(key, "lease_s")) {
			/* the kernel takes 100 ms .. 600 s */
			if (!parse_u32(v, 1, 600, &c->lease_s))
				return BAD("expected seconds 1..600");
		} else if (!strcmp(key, "sample_ms")) {
			/* the site state's kernel measurement: what device
			 * control reacts to and peers gossip */
			if (!parse_u32(v, 20, 10000, &c->sample_ms))
				return BAD("expected milliseconds 20..10000");
		} else if (!strcmp(key, "user") || !strcmp(key, "group")) {
			char *dst = key[0] == 'u' ? c->user : c->group;

			if (strlen(v) >= sizeof(c->user) || (*v && !good_name(v, sizeof(c->user))))
				return BAD("expected a user or group name");
			snprintf(dst, sizeof(c->user), "%s", v);
		} else if (!strcmp(key, "device")) {
			if (!parse_u32(v, 0, 255, &c->device))
				return BAD("expected a device index 0..255");
		} else {
			return BAD("unknown key (backend, socket, lease_s, sample_ms, user, group, device)");
		}
		return 1;
	case SEC_SIM:
		if (!strcmp(key, "vrms_v")) {
			if (!parse_u32(v, 50, 400, &u))
				return BAD("expected volts 50..400");
			c->sim_vrms_mv = u * 1000;
		} else if (!strcmp(key, "mains_hz")) {
			if (!parse_u32(v, 50, 60, &c->sim_mains_hz) ||
			    (c->sim_mains_hz != 50 && c->sim_mains_hz != 60))
				return BAD("expected 50 or 60");
		} else if (!strcmp(key, "sample_rate_hz")) {
			if (!parse_u32(v, PHLOEM_RATE_MIN_HZ, PHLOEM_RATE_MAX_HZ, &c->sim_rate_hz))
				return BAD("expected 1000..20000");
		} else if (!strcmp(key, "restore_delay_s")) {
			if (!parse_u32(v, 0, 3600, &u))
				return BAD("expected seconds 0..3600");
			c->sim_restore_delay_ms = u * 1000;
		} else if (!strcmp(key, "step")) {
			/* step = SECONDS CIRCUIT AMPS: the circuit's own load
			 * (without relays) becomes AMPS at SECONDS after start */
			char cname[64], amps[32], extra[2];
			unsigned long s;
			struct pd_sim_step *st;

			if (c->nsteps == PD_MAX_STEPS)
				return BAD("too many steps");
			if (sscanf(v, "%lu %63s %31s %1s", &s, cname, amps, extra) != 3 ||
			    s > 86400 || strlen(cname) >= PD_NAME_LEN)
				return BAD("expected \"SECONDS CIRCUIT AMPS\"");
			st = &c->step[c->nsteps];
			st->at_ms = (uint32_t)s * 1000;
			if (!parse_signed_amps(amps, 1000, &st->ma))
				return BAD("expected amperes -1000..1000 (negative: the circuit exports)");
			snprintf(p->step_circuit[c->nsteps], PD_NAME_LEN, "%s", cname);
			p->step_line[c->nsteps] = l;
			c->nsteps++;
		} else if (!strcmp(key, "device_power")) {
			/* device_power = CIRCUIT FILE: the AC power (W, + into
			 * the site) a device simulator writes to FILE flows on
			 * CIRCUIT, so the meter sees what the device does */
			char cname[64], path[PATH_MAX], extra[2];

			if (c->ncouple == PD_MAX_COUPLE)
				return BAD("too many device_power lines");
			if (sscanf(v, "%63s %4095s %1s", cname, path, extra) != 2 ||
			    strlen(cname) >= PD_NAME_LEN || path[0] != '/')
				return BAD("expected \"CIRCUIT /ABSOLUTE/FILE\"");
			snprintf(p->couple_circuit[c->ncouple], PD_NAME_LEN, "%s", cname);
			snprintf(c->couple_file[c->ncouple], PATH_MAX, "%s", path);
			p->couple_line[c->ncouple] = l;
			c->ncouple++;
		} else {
			return BAD("unknown key (vrms_v, mains_hz, sample_rate_hz, restore_delay_s, step, device_power)");
		}
		return 1;
	case SEC_MQTT:	/* mqtt/web hook */
	case SEC_WEB: {
		char e[200];

		if ((p->kind == SEC_MQTT ? pd_mqtt_conf_key(&c->mqtt, key, v, e, sizeof(e)) :
		     pd_web_conf_key(&c->web, key, v, e, sizeof(e))))
			return BAD(e);
		return 1;
	}
	case SEC_FREQ:
		if (!strcmp(key, "over_hz")) {
			if (strcmp(v, "0") && !parse_hz(v, 66, &c->over_freq_mhz))
				return BAD("expected Hz above nominal, e.g. 51.5 (0 disables)");
			if (!strcmp(v, "0"))
				c->over_freq_mhz = 0;
		} else if (!strcmp(key, "over_delay_ms")) {
			if (!parse_u32(v, 0, PHLOEM_FREQ_DELAY_MAX_MS, &c->over_freq_ms))
				return BAD("expected milliseconds 0..60000");
		} else {
			return BAD("unknown key (over_hz, over_delay_ms)");
		}
		return 1;
	case SEC_FREQ_STAGE: {
		struct pd_freq_stage *fs = &c->freq[p->idx];

		if (!strcmp(key, "below_hz")) {
			if (!parse_hz(v, 60, &u) || u < 45000)
				return BAD("expected Hz 45..60, e.g. 49.0");
			fs->st.threshold_mhz = u;
			fs->seen_below = true;
		} else if (!strcmp(key, "delay_ms")) {
			if (!parse_u32(v, 0, PHLOEM_FREQ_DELAY_MAX_MS, &fs->st.delay_ms))
				return BAD("expected milliseconds 0..60000");
		} else if (!strcmp(key, "hysteresis_hz")) {
			if (!strcmp(v, "0"))
				u = 0;
			else if (!parse_hz(v, 2, &u))
				return BAD("expected Hz 0..2, e.g. 0.2");
			fs->st.hyst_mhz = (uint16_t)u;
		} else if (!strcmp(key, "restore_s")) {
			if (!parse_u32(v, 0, PHLOEM_FREQ_RESTORE_MAX_MS / 1000, &u))
				return BAD("expected seconds 0..3600");
			fs->st.restore_ms = u * 1000;
		} else if (!strcmp(key, "priorities")) {
			if (!parse_prio_range(v, &fs->st.prio_min, &fs->st.prio_max))
				return BAD("expected a priority or a range LO-HI within 0..255, e.g. 0-20");
			fs->seen_prio = true;
		} else {
			return BAD("unknown key (below_hz, delay_ms, hysteresis_hz, restore_s, priorities)");
		}
		return 1;
	}
	default:
		return fail(p, l, "key \"%s\" outside any known section", key);
	}
#undef BAD
}

static bool resolve(struct parse *p)
{
	struct pd_config *c = p->c;
	uint32_t chans = 0;
	int site;

	{	/* mqtt/web hook */
		char e[200];

		if (pd_mqtt_conf_check(&c->mqtt, e, sizeof(e)))
			return fail(p, 0, "[mqtt]: %s", e);
	}
	for (int i = 0; i < c->nfreq; i++) {
		const struct pd_freq_stage *fs = &c->freq[i];

		if (!fs->seen_below)
			return fail(p, fs->line, "[freq_stage %s]: below_hz= is required", fs->name);
		if (!fs->seen_prio)
			return fail(p, fs->line, "[freq_stage %s]: priorities= is required (the relays it sheds)",
				    fs->name);
	}
	if (c->over_freq_ms && !c->over_freq_mhz)
		return fail(p, 0, "[freq]: over_delay_ms= without over_hz=");
	site = pd_config_circuit_index(c, "site");
	if (site < 0)
		return fail(p, 0, "no [circuit site] section (the site incomer is circuit 0)");
	if (site != 0) {
		/* the site is circuit 0 everywhere else: move it first */
		struct pd_circuit tmp = c->circuit[site];
		int32_t b = c->sim_base_ma[site];
		bool sc = p->seen_channel[site], sb = p->seen_breaker[site], sl = p->seen_limit[site];

		memmove(&c->circuit[1], &c->circuit[0], sizeof(tmp) * (size_t)site);
		memmove(&c->sim_base_ma[1], &c->sim_base_ma[0], sizeof(b) * (size_t)site);
		memmove(&p->seen_channel[1], &p->seen_channel[0], (size_t)site);
		memmove(&p->seen_breaker[1], &p->seen_breaker[0], (size_t)site);
		memmove(&p->seen_limit[1], &p->seen_limit[0], (size_t)site);
		c->circuit[0] = tmp;
		c->sim_base_ma[0] = b;
		p->seen_channel[0] = sc;
		p->seen_breaker[0] = sb;
		p->seen_limit[0] = sl;
	}
	for (int i = 0; i < c->ncircuits; i++) {
		struct pd_circuit *ci = &c->circuit[i];
		uint32_t bit;

		if (!p->seen_channel[i])
			return fail(p, ci->line, "[circuit %s]: channel= is required", ci->name);
		if (!p->seen_breaker[i])
			return fail(p, ci->line, "[circuit %s]: breaker_a= is required", ci->name);
		if (!p->seen_limit[i])
			ci->limit_ma = ci->breaker_ma;
		if (ci->limit_ma > ci->breaker_ma)
			return fail(p, ci->line, "[circuit %s]: limit_a above breaker_a", ci->name);
		bit = 1u << (ci->channel[1] - '0');
		if (chans & bit)
			return fail(p, ci->line, "[circuit %s]: channel %s measures another circuit too",
				    ci->name, ci->channel);
		chans |= bit;
	}
	for (int i = 0; i < c->nrelays; i++) {
		struct pd_relay *r = &c->relay[i];
		int ci;

		if (!p->seen_rcircuit[i])
			return fail(p, r->line, "[relay %s]: circuit= is required", r->name);
		ci = pd_config_circuit_index(c, p->relay_circuit[i]);
		if (ci < 0)
			return fail(p, r->line, "[relay %s]: circuit \"%s\" is not defined",
				    r->name, p->relay_circuit[i]);
		if (ci == 0 && c->ncircuits > 1)
			return fail(p, r->line, "[relay %s]: a relay sits on a final circuit, not on the site, when there are final circuits",
				    r->name);
		r->circuit = ci;
	}
	for (int i = 0; i < c->ntou; i++) {
		struct pd_tou *t = &c->tou[i];
		char buf[128], *tok, *save;

		if (!p->seen_days[i] || !p->seen_start[i] || !p->seen_end[i])
			return fail(p, t->line, "[tou %s]: days=, start= and end= are required", t->name);
		if (t->start_min == t->end_min)
			return fail(p, t->line, "[tou %s]: start equals end (empty window)", t->name);
		if (!t->site_import_limit_mw && !p->tou_shed[i][0] && !t->discharge)
			return fail(p, t->line, "[tou %s]: the window sets neither site_import_limit_w=, shed= nor battery=",
				    t->name);
		snprintf(buf, sizeof(buf), "%s", p->tou_shed[i]);
		for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			int r = pd_config_relay_index(c, tok);

			if (r < 0)
				return fail(p, p->tou_shed_line[i], "[tou %s] shed: relay \"%s\" is not defined",
					    t->name, tok);
			if (c->relay[r].critical)
				return fail(p, p->tou_shed_line[i], "[tou %s] shed: relay \"%s\" is critical",
					    t->name, tok);
			t->shed |= 1u << r;
		}
		if (p->tou_shed[i][0] && !t->shed)
			return fail(p, p->tou_shed_line[i], "[tou %s] shed: empty list", t->name);
	}
	for (int i = 0; i < PHLOEM_MAX_SIGNALS; i++) {
		char buf[128], *tok, *save;

		snprintf(buf, sizeof(buf), "%s", p->sig_shed[i]);
		for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			int r = pd_config_relay_index(c, tok);

			if (r < 0)
				return fail(p, p->sig_line[i], "[grid_signal K%d] shed: relay \"%s\" is not defined",
					    i + 1, tok);
			if (c->relay[r].critical)
				return fail(p, p->sig_line[i], "[grid_signal K%d] shed: relay \"%s\" is critical (never shed)",
					    i + 1, tok);
			c->sig_shed[i] |= 1u << r;
		}
	}
	{
		char buf[128], *tok, *save;

		/* critical relays stay on in the island anyway: allowed, moot */
		snprintf(buf, sizeof(buf), "%s", p->mn_keep);
		for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			int r = pd_config_relay_index(c, tok);

			if (r < 0)
				return fail(p, p->mn_keep_line, "[site] outage_keep: relay \"%s\" is not defined",
					    tok);
			c->mn_keep |= 1u << r;
		}
	}
	for (int i = 0; i < c->ndevices; i++)
		if (!c->dev[i].url[0])
			return fail(p, c->dev[i].line, "[device %s]: url= is required",
				    c->dev[i].name);
	for (int i = 0; i < c->ncouple; i++) {
		c->couple_circuit[i] = pd_config_circuit_index(c, p->couple_circuit[i]);
		if (c->couple_circuit[i] < 0)
			return fail(p, p->couple_line[i], "[sim] device_power: circuit \"%s\" is not defined",
				    p->couple_circuit[i]);
	}
	for (int i = 0; i < c->nsteps; i++) {
		c->step[i].circuit = pd_config_circuit_index(c, p->step_circuit[i]);
		if (c->step[i].circuit < 0)
			return fail(p, p->step_line[i], "[sim] step: circuit \"%s\" is not defined",
				    p->step_circuit[i]);
	}
	if (c->peak_target_mw && c->site_import_limit_mw &&
	    c->peak_target_mw > c->site_import_limit_mw)
		return fail(p, 0, "[site] peak_shaving_target_w above import_limit_w");
	return true;
}

int pd_config_load(struct pd_config *c, const char *path, char *err,
		   size_t errlen)
{
	struct parse *p;
	int rc;

	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	pd_config_defaults(c);
	snprintf(c->path, sizeof(c->path), "%s", path);
	p->c = c;
	p->path = path;
	p->err = err;
	p->errlen = errlen;
	p->f = fopen(path, "re");
	if (!p->f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(p);
		return -1;
	}
	rc = ini_parse_stream(reader, p, handler, p);
	if (ferror(p->f))
		fail(p, p->line, "read error");
	fclose(p->f);
	if (rc > 0 && !p->failed)
		fail(p, rc, "syntax error (expected [section] or key = value)");
	else if (rc < 0 && !p->failed)
		fail(p, 0, "parser error %d", rc);
	if (!p->failed)
		resolve(p);
	rc = p->failed ? -1 : 0;
	free(p);
	return rc;
}
