// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd: Modbus/SunSpec devices ([device NAME], docs/modbus.md).
 *
 * libmodbus blocks, so each bus (the devices that share a url: a serial
 * line, or a TCP gateway with several unit ids) has its own thread. A bus
 * thread connects, finds the SunSpec marker, walks the model chain, polls
 * the models phloem maps and performs the writes the control asks for,
 * each request bounded by the device's timeout_ms; a device that fails is
 * retried with a doubling backoff (1 s .. 30 s), so a dead device costs its
 * own bus a connect attempt now and then and nothing else.
 *
 * The thread never touches the daemon: it leaves a snapshot of the device
 * (struct pd_site_device) and events in its bus's mailbox, under the bus
 * lock, and writes the module's eventfd. The event loop copies them into
 * the site state (on_mailbox()); so the event loop, the kernel lease and
 * the other buses never wait for a device.
 *
 * Control goes the other way: the device control (devctl.c) runs on the
 * loop, on every kernel sample, and posts setpoints to the mailbox; the bus
 * thread writes them, reads them back, and reports a refusal (an exception
 * or a read-back that differs) as an event.
 */
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "sunspec/sunspec.h"
#include "daemon.h"
#include "devices.h"
#include "mblib.h"

#define BACKOFF_MIN_MS	1000
#define BACKOFF_MAX_MS	30000
#define MB_EVQ		16
#define REFUSED_HOLD_MS	30000

/* models a device may have, by role */
enum { M_COMMON, M_INV, M_NAMEPLATE, M_CTL123, M_STORAGE, M_DERCTL, M_BATTERY,
       M_METER, M__N };

/**
 * struct mb_dev - one device on a bus
 * @cfg: its section (a copy: the bus thread reads it without the loop)
 * @site: index in the site state's devices
 * @chain: models found; @addr/@id: the ones phloem maps (0: absent)
 * @snap: the values the thread last read (thread-private)
 * @out: @snap as handed to the loop (bus lock)
 * @fresh: @out changed since the loop took it (bus lock)
 * @cmd_*: setpoints the control wants (bus lock); @cmd_seq counts posts
 * @done_seq: the last post the thread carried out (thread)
 */
struct mb_dev {
	struct pd_device cfg;
	int site;
	bool connected, discovered;
	struct sunspec_chain chain;
	uint16_t addr[M__N], id[M__N];
	uint64_t next_ms;
	uint32_t backoff_ms;
	bool range_bad;
	struct pd_site_device snap;
	struct pd_site_device out;
	bool fresh;
	bool cmd_batt, cmd_pv;
	int64_t cmd_batt_mw, cmd_pv_mpct;
	uint64_t cmd_seq, done_seq;
	uint64_t cmd_t0_ns;
	uint64_t refused_at_ms;
	int64_t refused_mw;
};

struct mb_bus {
	char url[128];
	modbus_t *ctx;
	pthread_t th;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	int ndev;
	struct mb_dev *dev[PD_MAX_DEVICES];
	/* events for the loop (lock) */
	struct pd_dev_event ev[MB_EVQ];
	unsigned nev;
	struct pd_devices *mod;
};

struct pd_devices {
	struct phloemd *d;
	struct pd_watch w;		/* eventfd: a mailbox has news */
	int nbus;
	struct mb_bus bus[PD_MAX_DEVICES];
	struct mb_dev dev[PD_MAX_DEVICES];
	int ndev;
	int sub;
	struct pd_devctl ctl;
};

#define dlog(...) pd_log("devices", __VA_ARGS__)

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t pd_devices_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void wake_loop(struct mb_bus *b)
{
	uint64_t one = 1;

	if (write(b->mod->w.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return;
}

/* thread: queue an event for the loop (bus lock held by the caller not) */
static void post_event(struct mb_bus *b, struct mb_dev *m, const char *kind,
		       const char *fmt, ...)
{
	struct pd_dev_event *e;
	va_list ap;

	pthread_mutex_lock(&b->lock);
	if (b->nev == MB_EVQ) {
		memmove(&b->ev[0], &b->ev[1], sizeof(b->ev[0]) * (MB_EVQ - 1));
		b->nev--;
	}
	e = &b->ev[b->nev++];
	snprintf(e->device, sizeof(e->device), "%s", m->cfg.name);
	snprintf(e->kind, sizeof(e->kind), "%s", kind);
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
	e->ts_ms = pd_realtime_ms();
	pthread_mutex_unlock(&b->lock);
	wake_loop(b);
}

/* thread: hand the snapshot over */
static void publish(struct mb_bus *b, struct mb_dev *m)
{
	pthread_mutex_lock(&b->lock);
	m->out = m->snap;
	m->fresh = true;
	pthread_mutex_unlock(&b->lock);
	wake_loop(b);
}

static void set_state(struct mb_bus *b, struct mb_dev *m, enum pd_dev_state st,
		      const char *fmt, ...)
{
	enum pd_dev_state old = m->snap.state;
	char detail[sizeof(m->snap.detail)];
	va_list ap;

	/* @fmt's arguments may be the detail itself */
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	memcpy(m->snap.detail, detail, sizeof(detail));
	m->snap.state = st;
	if (st != PD_DEV_S_ONLINE) {
		/* what it said before is no measurement now */
		struct pd_site_device keep = m->snap;
		keep.ac_mw = keep.pv_mw = keep.soc_mpct = keep.setpoint_mw = pd_val_unknown();
		keep.pv_limit_mpct = keep.meter_mw = keep.vrms_mv = keep.freq_mhz = pd_val_unknown();
		keep.import_mwh = keep.export_mwh = pd_val_unknown();
		m->snap = keep;
	}
	if (old != st) {
		dlog("%s: %s (%s)", m->cfg.name, pd_dev_state_name(st), m->snap.detail);
		post_event(b, m, "device", "%s: %s", pd_dev_state_name(st), m->snap.detail);
	}
	publish(b, m);
}

static void fail(struct mb_bus *b, struct mb_dev *m, const char *what)
{
	int e = errno;
	bool timeout = e == ETIMEDOUT || e == ECONNREFUSED || e == ECONNRESET ||
		       e == EPIPE || e == EBADF || e == ENOTCONN || e == EHOSTUNREACH;

	m->snap.failures++;
	m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (m->backoff_ms > BACKOFF_MAX_MS)
		m->backoff_ms = BACKOFF_MAX_MS;
	m->next_ms = mono_ms() + m->backoff_ms;
	/* a late answer must not be taken for the next request's: start over
	 * on a fresh connection, and look for the models again */
	if (b->ctx && (timeout || e == EMBBADDATA || e == EMBBADCRC)) {
		pd_mb.modbus_close(b->ctx);
		for (int i = 0; i < b->ndev; i++)
			b->dev[i]->connected = false;
	}
	m->discovered = m->discovered && !timeout;
	set_state(b, m, timeout ? PD_DEV_S_OFFLINE : PD_DEV_S_ERROR, "%s: %s (retry in %u s)",
		  what, pd_mb.modbus_strerror(e), m->backoff_ms / 1000);
}

/* read @n registers at @addr in chunks of 125 */
static int rd(struct mb_bus *b, struct mb_dev *m, uint16_t addr, unsigned n,
	      uint16_t *dst)
{
	pd_mb.modbus_set_slave(b->ctx, (int)m->cfg.unit);
	while (n) {
		unsigned k = n > SUNSPEC_READ_MAX ? SUNSPEC_READ_MAX : n;

		if (pd_mb.modbus_read_registers(b->ctx, addr, (int)k, dst) != (int)k)
			return -1;
		addr = (uint16_t)(addr + k);
		dst += k;
		n -= k;
	}
	return 0;
}

static int connect_bus(struct mb_bus *b, struct mb_dev *m)
{
	uint32_t to = m->cfg.timeout_ms;

	if (m->connected)
		return 0;
	pd_mb.modbus_close(b->ctx);
	pd_mb.modbus_set_response_timeout(b->ctx, to / 1000, (to % 1000) * 1000);
	pd_mb.modbus_set_byte_timeout(b->ctx, to / 1000, (to % 1000) * 1000);
	if (pd_mb.modbus_connect(b->ctx))
		return -1;
	/* a serial line keeps the bytes of an answer that came too late */
	pd_mb.modbus_flush(b->ctx);
	for (int i = 0; i < b->ndev; i++)
		b->dev[i]->connected = true;
	return 0;
}

static void map_models(struct mb_dev *m)
{
	memset(m->addr, 0, sizeof(m->addr));
	memset(m->id, 0, sizeof(m->id));
	for (unsigned i = 0; i < m->chain.n; i++) {
		uint16_t id = m->chain.id[i];
		int slot = -1;

		if (id == 1)
			slot = M_COMMON;
		else if ((id >= 101 && id <= 103) || id == 701)
			slot = M_INV;
		else if (id == 120)
			slot = M_NAMEPLATE;
		else if (id == 123)
			slot = M_CTL123;
		else if (id == 124)
			slot = M_STORAGE;
		else if (id == 704)
			slot = M_DERCTL;
		else if (id == 802)
			slot = M_BATTERY;
		else if (id >= 201 && id <= 204)
			slot = M_METER;
		if (slot >= 0 && !m->addr[slot]) {
			m->addr[slot] = m->chain.addr[i];
			m->id[slot] = id;
		}
	}
	if (m->addr[M_STORAGE] || m->addr[M_BATTERY])
		m->snap.kind = PD_DEV_BATTERY;
	else if (m->addr[M_INV])
		m->snap.kind = PD_DEV_INVERTER;
	else if (m->addr[M_METER])
		m->snap.kind = PD_DEV_METER;
	else
		m->snap.kind = PD_DEV_UNKNOWN;
}

static int discover(struct mb_bus *b, struct mb_dev *m)
{
	static const uint16_t bases[] = { 40000, 0, 50000 };
	uint16_t r[2], addr, next;
	char list[64] = "";
	size_t k = 0;
	int rc = -1;

	for (unsigned i = 0; i < 3; i++) {
		if (m->cfg.base >= 0 && bases[i] != m->cfg.base)
			continue;
		pd_mb.modbus_set_slave(b->ctx, (int)m->cfg.unit);
		if (pd_mb.modbus_read_registers(b->ctx, bases[i], 2, r) != 2) {
			/* an exception (no such address) is an answer: try
			 * the next base; a timeout is not */
			if (errno == ETIMEDOUT || errno == ECONNRESET || errno == EPIPE)
				return -1;
			continue;
		}
		if (sunspec_is_marker(r)) {
			m->chain = (struct sunspec_chain){ .base = bases[i] };
			rc = 0;
			break;
		}
	}
	if (rc) {
		errno = ENODATA;
		m->snap.failures++;
		m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : BACKOFF_MIN_MS;
		if (m->backoff_ms > BACKOFF_MAX_MS)
			m->backoff_ms = BACKOFF_MAX_MS;
		m->next_ms = mono_ms() + m->backoff_ms;
		set_state(b, m, PD_DEV_S_ERROR, "no SunSpec marker at %s (retry in %u s)",
			  m->cfg.base >= 0 ? "its base" : "0, 40000 or 50000", m->backoff_ms / 1000);
		return 1;
	}
	addr = (uint16_t)(m->chain.base + 2);
	for (;;) {
		if (rd(b, m, addr, 2, r))
			return -1;
		rc = sunspec_chain_step(&m->chain, addr, r, &next);
		if (rc == SUNSPEC_DONE)
			break;
		if (rc < 0) {
			errno = EMBBADDATA;
			return -1;
		}
		addr = next;
	}
	map_models(m);
	for (unsigned i = 0; i < m->chain.n && k + 8 < sizeof(list); i++)
		k += (size_t)snprintf(list + k, sizeof(list) - k, " %u", m->chain.id[i]);
	if (m->addr[M_COMMON]) {
		uint16_t c[68];
		const struct sunspec_model_def *def = sunspec_model_def(1);

		if (rd(b, m, m->addr[M_COMMON], 68, c))
			return -1;
		sunspec_string(c, 68, sunspec_point(def, "Mn"), m->snap.manufacturer,
			       sizeof(m->snap.manufacturer));
		sunspec_string(c, 68, sunspec_point(def, "Md"), m->snap.model, sizeof(m->snap.model));
		sunspec_string(c, 68, sunspec_point(def, "SN"), m->snap.serial, sizeof(m->snap.serial));
	}
	m->discovered = true;
	dlog("%s: SunSpec at %u: models%s (%s)", m->cfg.name, m->chain.base, list,
	     pd_dev_kind_name(m->snap.kind));
	snprintf(m->snap.detail, sizeof(m->snap.detail), "SunSpec at %u: models%s",
		 m->chain.base, list);
	return 0;
}

/* one point of a model read into @regs, as a struct pd_val */
static struct pd_val val(const uint16_t *regs, size_t n, uint16_t model,
			 const char *name)
{
	const struct sunspec_point *p = sunspec_point(sunspec_model_def(model), name);
	struct sunspec_value v;
	int64_t milli;

	if (!p || sunspec_get(regs, n, p, &v) || !v.known)
		return pd_val_unknown();
	switch (sunspec_milli(&v, &milli)) {
	case 0:
	case -EDOM:
		return pd_val_set(milli);
	default:
		return pd_val_unknown();
	}
}

/* read a whole model at its address: ID, L and L registers */
static int read_model(struct mb_bus *b, struct mb_dev *m, int slot, uint16_t *regs,
		      size_t cap, size_t *n)
{
	unsigned i = 0;

	while (i < m->chain.n && m->chain.addr[i] != m->addr[slot])
		i++;
	*n = 2u + m->chain.len[i];
	if (*n > cap)
		*n = cap;
	return rd(b, m, m->addr[slot], (unsigned)*n, regs);
}

/* A value out of what a device can mean is garbage, not a measurement. */
static struct pd_val sane(struct mb_bus *b, struct mb_dev *m, struct pd_val v,
			  int64_t lo, int64_t hi, const char *what, bool *bad)
{
	if (v.known && (v.milli < lo || v.milli > hi)) {
		if (!m->range_bad)
			post_event(b, m, "device", "out of range: %s %" PRId64 ".%03" PRId64,
				   what, v.milli / 1000, llabs(v.milli % 1000));
		*bad = true;
		return pd_val_unknown();
	}
	return v;
}

#define MW_MAX	100000000000ll	/* 100 MW: nothing on a house is bigger */

static int poll_dev(struct mb_bus *b, struct mb_dev *m)
{
	struct pd_site_device *s = &m->snap;
	uint16_t r[160];
	size_t n;
	bool bad = false;

	if (m->addr[M_INV]) {
		uint16_t id = m->id[M_INV];

		if (read_model(b, m, M_INV, r, sizeof(r) / 2, &n))
			return -1;
		if (id == 701) {
			s->ac_mw = val(r, n, id, "W");
			s->vrms_mv = val(r, n, id, "LNV");
			s->freq_mhz = val(r, n, id, "Hz");
			s->import_mwh = val(r, n, id, "TotWhInj");
		} else {
			s->ac_mw = val(r, n, id, "W");
			s->pv_mw = val(r, n, id, "DCW");
			s->vrms_mv = val(r, n, id, "PhVphA");
			s->freq_mhz = val(r, n, id, "Hz");
			s->import_mwh = val(r, n, id, "WH");
		}
		s->ac_mw = sane(b, m, s->ac_mw, -MW_MAX, MW_MAX, "W", &bad);
		s->pv_mw = sane(b, m, s->pv_mw, -MW_MAX, MW_MAX, "DCW", &bad);
		/* a storage's PV is only its PV with a separate PV string;
		 * for a plain inverter the AC power is the production */
		if (s->kind == PD_DEV_INVERTER)
			s->pv_mw = pd_val_unknown();
	}
	if (m->addr[M_NAMEPLATE] && !m->cfg.rating_w) {
		if (read_model(b, m, M_NAMEPLATE, r, sizeof(r) / 2, &n))
			return -1;
		s->rating_mw = sane(b, m, val(r, n, 120, "WRtg"), 1, MW_MAX, "WRtg", &bad);
	} else if (m->cfg.rating_w) {
		s->rating_mw = pd_val_set((int64_t)m->cfg.rating_w * 1000);
	}
	if (m->addr[M_CTL123]) {
		if (read_model(b, m, M_CTL123, r, sizeof(r) / 2, &n))
			return -1;
		s->pv_limit_mpct = val(r, n, 123, "WMaxLim_Ena").known &&
				   val(r, n, 123, "WMaxLim_Ena").milli == 1000 ?
				   val(r, n, 123, "WMaxLimPct") : pd_val_set(100000);
		s->pv_limit_mpct = sane(b, m, s->pv_limit_mpct, 0, 100000, "WMaxLimPct", &bad);
	}
	if (m->addr[M_DERCTL]) {
		if (read_model(b, m, M_DERCTL, r, sizeof(r) / 2, &n))
			return -1;
		if (s->kind == PD_DEV_INVERTER) {
			struct pd_val ena = val(r, n, 704, "WMaxLimPctEna");

			s->pv_limit_mpct = ena.known && ena.milli == 1000 ?
					   val(r, n, 704, "WMaxLimPct") : pd_val_set(100000);
			s->pv_limit_mpct = sane(b, m, s->pv_limit_mpct, 0, 100000, "WMaxLimPct", &bad);
		} else {
			s->setpoint_mw = sane(b, m, val(r, n, 704, "WSet"), -MW_MAX, MW_MAX,
					      "WSet", &bad);
		}
	}
	if (m->addr[M_STORAGE]) {
		struct pd_val max, mode, in, out;

		if (read_model(b, m, M_STORAGE, r, sizeof(r) / 2, &n))
			return -1;
		max = val(r, n, 124, "WChaMax");
		s->max_charge_mw = s->max_discharge_mw = sane(b, m, max, 1, MW_MAX, "WChaMax", &bad);
		s->soc_mpct = sane(b, m, val(r, n, 124, "ChaState"), 0, 100000, "ChaState", &bad);
		s->reserve_mpct = sane(b, m, val(r, n, 124, "MinRsvPct"), 0, 100000, "MinRsvPct", &bad);
		mode = val(r, n, 124, "StorCtl_Mod");
		in = val(r, n, 124, "InWRte");
		out = val(r, n, 124, "OutWRte");
		if (!m->addr[M_DERCTL] && mode.known && s->max_charge_mw.known && in.known && out.known) {
			/* the setpoint as the device holds it (docs/modbus.md) */
			int64_t w = 0;

			if ((mode.milli / 1000) & 2)
				w = out.milli * s->max_charge_mw.milli / 100000;
			else if ((mode.milli / 1000) & 1)
				w = -in.milli * s->max_charge_mw.milli / 100000;
			s->setpoint_mw = pd_val_set(w);
		}
	}
	if (m->addr[M_BATTERY]) {
		if (read_model(b, m, M_BATTERY, r, sizeof(r) / 2, &n))
			return -1;
		s->soc_mpct = sane(b, m, val(r, n, 802, "SoC"), 0, 100000, "SoC", &bad);
		s->capacity_mwh = sane(b, m, val(r, n, 802, "WHRtg"), 0, MW_MAX, "WHRtg", &bad);
		if (!s->max_charge_mw.known)
			s->max_charge_mw = val(r, n, 802, "WChaRteMax");
		if (!s->max_discharge_mw.known)
			s->max_discharge_mw = val(r, n, 802, "WDisChaRteMax");
		if (!s->ac_mw.known)
			s->ac_mw = sane(b, m, val(r, n, 802, "W"), -MW_MAX, MW_MAX, "W", &bad);
		if (!s->reserve_mpct.known)
			s->reserve_mpct = val(r, n, 802, "SoCRsvMin");
	}
	if (m->addr[M_METER]) {
		uint16_t id = m->id[M_METER];

		if (read_model(b, m, M_METER, r, sizeof(r) / 2, &n))
			return -1;
		s->meter_mw = sane(b, m, val(r, n, id, "W"), -MW_MAX, MW_MAX, "W", &bad);
		s->vrms_mv = val(r, n, id, "PhVphA");
		if (!s->vrms_mv.known)
			s->vrms_mv = val(r, n, id, "PhV");
		s->freq_mhz = val(r, n, id, "Hz");
		s->import_mwh = val(r, n, id, "TotWhImp");
		s->export_mwh = val(r, n, id, "TotWhExp");
	}
	if (m->cfg.reserve_pct &&
	    (!s->reserve_mpct.known || s->reserve_mpct.milli < (int64_t)m->cfg.reserve_pct * 1000))
		s->reserve_mpct = pd_val_set((int64_t)m->cfg.reserve_pct * 1000);
	m->range_bad = bad;
	return 0;
}

/* ---- writes ---- */

static int wr(struct mb_bus *b, struct mb_dev *m, uint16_t addr, unsigned n,
	      const uint16_t *v)
{
	uint16_t back[8];

	pd_mb.modbus_set_slave(b->ctx, (int)m->cfg.unit);
	if (pd_mb.modbus_write_registers(b->ctx, addr, (int)n, v) != (int)n)
		return -1;
	/* read back: a device may take a write and keep its own value */
	if (pd_mb.modbus_read_registers(b->ctx, addr, (int)n, back) != (int)n)
		return -1;
	if (memcmp(back, v, n * sizeof(*v))) {
		errno = EREMOTEIO;
		return -2;
	}
	return 0;
}

static int sf_of(const uint16_t *regs, size_t n, uint16_t model, const char *sfname)
{
	const struct sunspec_point *p = sunspec_point(sunspec_model_def(model), sfname);
	struct sunspec_value v;

	if (!p || sunspec_get(regs, n, p, &v) || !v.known)
		return 0;
	return (int)v.raw;
}

static int write_battery(struct mb_bus *b, struct mb_dev *m, int64_t mw, char *what,
			 size_t wl)
{
	uint16_t r[160];
	size_t n;
	int64_t raw;
	int rc;

	if (m->addr[M_DERCTL]) {
		const struct sunspec_point *p = sunspec_point(sunspec_model_def(704), "WSet");
		uint16_t v[2];

		if (read_model(b, m, M_DERCTL, r, sizeof(r) / 2, &n))
			return -1;
		snprintf(what, wl, "WSet %" PRId64 " W", mw / 1000);
		if (sunspec_raw_from_milli(mw, sf_of(r, n, 704, "WSet_SF"), SS_INT32, &raw)) {
			errno = ERANGE;
			return -2;
		}
		v[0] = (uint16_t)((uint64_t)raw >> 16);
		v[1] = (uint16_t)raw;
		if ((rc = wr(b, m, (uint16_t)(m->addr[M_DERCTL] + p->off), 2, v)))
			return rc;
		v[0] = 1;	/* WSetEna */
		return wr(b, m, (uint16_t)(m->addr[M_DERCTL] + 22), 1, v);
	}
	if (m->addr[M_STORAGE]) {
		struct pd_val max;
		int sf;
		uint16_t rates[2], mode;
		int64_t pct;

		if (read_model(b, m, M_STORAGE, r, sizeof(r) / 2, &n))
			return -1;
		max = val(r, n, 124, "WChaMax");
		if (!max.known || max.milli <= 0) {
			errno = ENODATA;
			snprintf(what, wl, "no WChaMax");
			return -2;
		}
		sf = sf_of(r, n, 124, "InOutWRte_SF");
		/* milli-percent of WChaMax */
		pct = (mw < 0 ? -mw : mw) * 100000 / max.milli;
		if (pct > 100000)
			pct = 100000;
		if (sunspec_raw_from_milli(pct, sf, SS_INT16, &raw)) {
			errno = ERANGE;
			return -2;
		}
		/* OutWRte at 12, InWRte at 13, StorCtl_Mod at 5 (model 124) */
		rates[0] = mw > 0 ? (uint16_t)raw : 0;
		rates[1] = mw < 0 ? (uint16_t)raw : 0;
		mode = mw > 0 ? 2 : mw < 0 ? 1 : 3;
		snprintf(what, wl, "StorCtl_Mod %u OutWRte %u InWRte %u (%" PRId64 " W)", mode,
			 rates[0], rates[1], mw / 1000);
		if ((rc = wr(b, m, (uint16_t)(m->addr[M_STORAGE] + 12), 2, rates)))
			return rc;
		return wr(b, m, (uint16_t)(m->addr[M_STORAGE] + 5), 1, &mode);
	}
	errno = EOPNOTSUPP;
	snprintf(what, wl, "no control model (124 or 704)");
	return -2;
}

static int write_pv(struct mb_bus *b, struct mb_dev *m, int64_t mpct, char *what,
		    size_t wl)
{
	/* the limit and its enable: 123 WMaxLimPct (5), WMaxLim_Ena (9);
	 * 704 WMaxLimPct (15), WMaxLimPctEna (14) */
	int slot = m->addr[M_CTL123] ? M_CTL123 : M_DERCTL;
	uint16_t id = slot == M_CTL123 ? 123 : 704;
	uint16_t pct_off = id == 123 ? 5 : 15, ena_off = id == 123 ? 9 : 14;
	uint16_t r[160], v;
	size_t n;
	int64_t raw;
	bool release = mpct >= 100000;
	int rc;

	if (!m->addr[slot]) {
		errno = EOPNOTSUPP;
		snprintf(what, wl, "no control model (123 or 704)");
		return -2;
	}
	if (read_model(b, m, slot, r, sizeof(r) / 2, &n))
		return -1;
	if (sunspec_raw_from_milli(release ? 100000 : mpct, sf_of(r, n, id, "WMaxLimPct_SF"),
				   SS_UINT16, &raw)) {
		errno = ERANGE;
		return -2;
	}
	snprintf(what, wl, "model %u WMaxLimPct %" PRId64 " enabled %d", id, raw, !release);
	v = (uint16_t)raw;
	if ((rc = wr(b, m, (uint16_t)(m->addr[slot] + pct_off), 1, &v)))
		return rc;
	v = release ? 0 : 1;
	return wr(b, m, (uint16_t)(m->addr[slot] + ena_off), 1, &v);
}

/* thread: carry out what the control posted; false when the bus failed */
static bool do_writes(struct mb_bus *b, struct mb_dev *m)
{
	bool batt, pv;
	int64_t bmw, pmp;
	uint64_t seq;
	char what[96] = "";
	int rc;

	pthread_mutex_lock(&b->lock);
	batt = m->cmd_batt;
	pv = m->cmd_pv;
	bmw = m->cmd_batt_mw;
	pmp = m->cmd_pv_mpct;
	seq = m->cmd_seq;
	m->cmd_batt = m->cmd_pv = false;
	pthread_mutex_unlock(&b->lock);
	if (seq == m->done_seq || m->snap.state != PD_DEV_S_ONLINE)
		return true;
	m->done_seq = seq;
	/* the same setpoint the device refused a moment ago: it would
	 * refuse again; wait before asking (a write storm helps nobody) */
	if (batt && m->refused_at_ms && mono_ms() - m->refused_at_ms < REFUSED_HOLD_MS &&
	    llabs(bmw - m->refused_mw) < 100000)
		batt = false;
	if (batt) {
		rc = write_battery(b, m, bmw, what, sizeof(what));
		if (rc == -1) {
			fail(b, m, "battery setpoint");
			return false;
		}
		if (rc) {
			m->snap.refused++;
			m->refused_at_ms = mono_ms();
			m->refused_mw = bmw;
			post_event(b, m, "refused", "battery setpoint %s: %s", what,
				   errno == EREMOTEIO ? "read back differs" : pd_mb.modbus_strerror(errno));
		} else {
			m->snap.writes++;
			m->snap.setpoint_mw = pd_val_set(bmw);
		}
	}
	if (pv) {
		rc = write_pv(b, m, pmp, what, sizeof(what));
		if (rc == -1) {
			fail(b, m, "PV limit");
			return false;
		}
		if (rc) {
			m->snap.refused++;
			post_event(b, m, "refused", "PV limit %s: %s", what,
				   errno == EREMOTEIO ? "read back differs" : pd_mb.modbus_strerror(errno));
		} else {
			m->snap.writes++;
			m->snap.pv_limit_mpct = pd_val_set(pmp >= 100000 ? 100000 : pmp);
		}
	}
	m->snap.updated_ms = pd_realtime_ms();
	publish(b, m);
	return true;
}

static void service(struct mb_bus *b, struct mb_dev *m)
{
	if (connect_bus(b, m)) {
		fail(b, m, "connect");
		return;
	}
	if (!m->discovered) {
		int rc;

		if (m->snap.state == PD_DEV_S_INIT)
			m->snap.state = PD_DEV_S_DISCOVER;
		rc = discover(b, m);
		if (rc < 0) {
			fail(b, m, "discovery");
			return;
		}
		if (rc > 0)
			return;
	}
	if (poll_dev(b, m)) {
		if (errno == EMBXILADD || errno == EMBXILVAL || errno == EMBXSFAIL ||
		    errno == EMBXSBUSY || errno == EMBXILFUN)
			m->discovered = false;	/* models moved? look again */
		fail(b, m, "read");
		return;
	}
	m->snap.reads++;
	m->snap.updated_ms = pd_realtime_ms();
	m->backoff_ms = 0;
	m->next_ms += m->cfg.poll_ms;
	if (m->next_ms < mono_ms())
		m->next_ms = mono_ms() + m->cfg.poll_ms;
	set_state(b, m, PD_DEV_S_ONLINE, "%s", m->snap.detail[0] ? m->snap.detail : "online");
}

static void *bus_main(void *arg)
{
	struct mb_bus *b = arg;

	pthread_mutex_lock(&b->lock);
	while (!b->stop) {
		uint64_t now = mono_ms(), next = now + 1000;
		bool work = false;

		for (int i = 0; i < b->ndev; i++) {
			struct mb_dev *m = b->dev[i];

			if (m->cmd_seq != m->done_seq && m->snap.state == PD_DEV_S_ONLINE)
				work = true;
			if (now >= m->next_ms)
				work = true;
			if (m->next_ms < next)
				next = m->next_ms;
		}
		if (!work) {
			struct timespec ts;
			uint64_t ms = next > now ? next - now : 0;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(ms / 1000);
			ts.tv_nsec += (long)(ms % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&b->cond, &b->lock, &ts);
			continue;
		}
		pthread_mutex_unlock(&b->lock);
		for (int i = 0; i < b->ndev; i++) {
			struct mb_dev *m = b->dev[i];

			/* setpoints first: they are what a step waits for */
			if (!do_writes(b, m))
				continue;
			if (mono_ms() >= m->next_ms)
				service(b, m);
		}
		pthread_mutex_lock(&b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* ---- the loop's side ---- */

static void on_mailbox(struct pd_watch *w, uint32_t events)
{
	struct pd_devices *mod = (struct pd_devices *)((char *)w - offsetof(struct pd_devices, w));
	struct pd_site *site = &mod->d->site;
	uint64_t n;

	if (read(w->fd, &n, sizeof(n)) < 0)
		return;
	for (int i = 0; i < mod->nbus; i++) {
		struct mb_bus *b = &mod->bus[i];
		struct pd_dev_event ev[MB_EVQ];
		unsigned nev;

		pthread_mutex_lock(&b->lock);
		for (int j = 0; j < b->ndev; j++) {
			struct mb_dev *m = b->dev[j];

			if (!m->fresh)
				continue;
			site->dev[m->site] = m->out;
			m->fresh = false;
			pd_site_commit(site, PD_SITE_DEVICES);
		}
		nev = b->nev;
		memcpy(ev, b->ev, sizeof(ev[0]) * nev);
		b->nev = 0;
		pthread_mutex_unlock(&b->lock);
		for (unsigned j = 0; j < nev; j++) {
			struct pd_event_row row = {
				.ts_ms = (int64_t)ev[j].ts_ms, .kind = ev[j].kind,
				.cause = ev[j].detail, .channel = ev[j].device,
			};

			pd_site_event(site, &row);
		}
	}
}

int pd_devices_post(struct pd_devices *mod, int site_idx, bool batt, int64_t batt_mw,
		    bool pv, int64_t pv_mpct)
{
	for (int i = 0; i < mod->ndev; i++) {
		struct mb_dev *m = &mod->dev[i];
		struct mb_bus *b;

		if (m->site != site_idx)
			continue;
		for (b = mod->bus; b < mod->bus + mod->nbus; b++)
			for (int j = 0; j < b->ndev; j++)
				if (b->dev[j] == m)
					goto found;
		return -ENOENT;
found:
		pthread_mutex_lock(&b->lock);
		if (batt) {
			m->cmd_batt = true;
			m->cmd_batt_mw = batt_mw;
		}
		if (pv) {
			m->cmd_pv = true;
			m->cmd_pv_mpct = pv_mpct;
		}
		m->cmd_seq++;
		m->cmd_t0_ns = pd_devices_mono_ns();
		pthread_cond_signal(&b->cond);
		pthread_mutex_unlock(&b->lock);
		return 0;
	}
	return -ENOENT;
}

static void on_kernel(void *ctx, struct pd_site *s, uint32_t changed,
		      const struct pd_event_row *ev)
{
	struct pd_devices *mod = ctx;

	pd_devctl_run(&mod->ctl, mod, &mod->d->cfg, s, pd_now(mod->d));
}

int pd_devices_open(struct phloemd *d, char *err, size_t errlen)
{
	struct pd_devices *mod;
	const struct pd_config *c = &d->cfg;

	if (!c->ndevices)
		return 0;
	if (pd_mb_load(err, errlen))
		return -ENOENT;
	mod = calloc(1, sizeof(*mod));
	if (!mod) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	mod->d = d;
	d->devices = mod;
	mod->w.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	mod->w.fn = on_mailbox;
	if (mod->w.fd < 0 || pd_watch_add(d, &mod->w, EPOLLIN)) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		free(mod);
		return -errno;
	}
	for (int i = 0; i < c->ndevices; i++) {
		const struct pd_device *dc = &c->dev[i];
		struct mb_dev *m = &mod->dev[mod->ndev++];
		struct mb_bus *b = NULL;

		m->cfg = *dc;
		m->site = pd_site_device_add(&d->site, dc->name, PD_DEV_UNKNOWN);
		m->snap = d->site.dev[m->site];
		for (int j = 0; j < mod->nbus; j++)
			if (!strcmp(mod->bus[j].url, dc->url))
				b = &mod->bus[j];
		if (!b) {
			b = &mod->bus[mod->nbus++];
			snprintf(b->url, sizeof(b->url), "%s", dc->url);
			b->mod = mod;
			if (!strncmp(dc->url, "tcp://", 6)) {
				char host[128];
				const char *colon = strrchr(dc->url + 6, ':');

				snprintf(host, sizeof(host), "%.*s", (int)(colon - dc->url - 6), dc->url + 6);
				/* [::1]:502 */
				if (host[0] == '[') {
					memmove(host, host + 1, strlen(host));
					host[strcspn(host, "]")] = 0;
				}
				b->ctx = pd_mb.modbus_new_tcp_pi(host, colon + 1);
			} else {
				b->ctx = pd_mb.modbus_new_rtu(dc->url + 4, (int)dc->baud, dc->parity, 8, 1);
			}
			if (!b->ctx) {
				snprintf(err, errlen, "[device %s] %s: %s", dc->name, dc->url,
					 strerror(errno));
				pd_devices_close(d);
				return -EINVAL;
			}
			pthread_mutex_init(&b->lock, NULL);
			{
				pthread_condattr_t ca;

				pthread_condattr_init(&ca);
				pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
				pthread_cond_init(&b->cond, &ca);
				pthread_condattr_destroy(&ca);
			}
		}
		b->dev[b->ndev++] = m;
	}
	for (int j = 0; j < mod->nbus; j++) {
		int rc = pthread_create(&mod->bus[j].th, NULL, bus_main, &mod->bus[j]);

		if (rc) {
			snprintf(err, errlen, "bus %s: thread: %s", mod->bus[j].url, strerror(rc));
			pd_devices_close(d);
			return -rc;
		}
		mod->bus[j].started = true;
	}
	pd_devctl_init(&mod->ctl);
	mod->sub = pd_site_subscribe(&d->site, PD_SITE_KERNEL, on_kernel, mod);
	dlog("%d devices on %d buses", mod->ndev, mod->nbus);
	return 0;
}

void pd_devices_close(struct phloemd *d)
{
	struct pd_devices *mod = d->devices;

	if (!mod)
		return;
	pd_site_unsubscribe(&d->site, mod->sub);
	for (int j = 0; j < mod->nbus; j++) {
		struct mb_bus *b = &mod->bus[j];

		if (b->started) {
			pthread_mutex_lock(&b->lock);
			b->stop = true;
			pthread_cond_signal(&b->cond);
			pthread_mutex_unlock(&b->lock);
			pthread_join(b->th, NULL);
		}
		if (b->ctx) {
			pd_mb.modbus_close(b->ctx);
			pd_mb.modbus_free(b->ctx);
			pthread_mutex_destroy(&b->lock);
			pthread_cond_destroy(&b->cond);
		}
	}
	pd_watch_del(d, &mod->w);
	close(mod->w.fd);
	free(mod);
	d->devices = NULL;
}
