// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the phloem selftests; see phloem_util.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "phloem_util.h"

uint64_t ph_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

void ph_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int ph_open(int flags)
{
	int fd = open(PH_DEV, flags | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int ph_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

int ph_info(int fd, struct phloem_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return ph_ioctl(fd, PHLOEM_IOC_INFO, info);
}

int ph_get_config(int fd, struct phloem_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	return ph_ioctl(fd, PHLOEM_IOC_GET_CONFIG, cfg);
}

int ph_set_config(int fd, struct phloem_config *cfg)
{
	cfg->size = sizeof(*cfg);
	return ph_ioctl(fd, PHLOEM_IOC_SET_CONFIG, cfg);
}

int ph_status(int fd, struct phloem_status *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return ph_ioctl(fd, PHLOEM_IOC_GET_STATUS, st);
}

int ph_stats(int fd, struct phloem_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return ph_ioctl(fd, PHLOEM_IOC_GET_STATS, st);
}

int ph_lease(int fd, uint32_t timeout_ms)
{
	struct phloem_lease l = { .size = sizeof(l), .timeout_ms = timeout_ms };

	return ph_ioctl(fd, PHLOEM_IOC_LEASE, &l);
}

int ph_override(int fd, unsigned int relay, unsigned int mode,
		uint32_t expiry_ms)
{
	struct phloem_override o = {
		.size = sizeof(o), .relay = relay, .mode = mode,
		.expiry_ms = expiry_ms,
	};

	return ph_ioctl(fd, PHLOEM_IOC_OVERRIDE, &o);
}

int ph_read_rec(int fd, struct phloem_record *rec, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t end = ph_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;
	ssize_t n;

	for (;;) {
		uint64_t now = ph_now_ns();
		int r;

		if (now >= end)
			return 0;
		r = poll(&p, 1, (int)((end - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
			return -ENODEV;
		n = read(fd, rec, sizeof(*rec));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		if (n != sizeof(*rec))
			return -EIO;
		return 1;
	}
}

static void evlog_add(struct ph_evlog *log, const struct phloem_record *r)
{
	if (!log)
		return;
	if (r->hdr.type == PHLOEM_REC_CYCLE) {
		log->cycles++;
		log->last_relays_on = r->cycle.relays_on;
		log->last_state = r->cycle.state;
	} else if (r->hdr.type == PHLOEM_REC_EVENT && log->n < PH_EVLOG_MAX) {
		log->rec[log->n++] = *r;
	}
}

static bool ev_match(const struct phloem_record *r, unsigned int kind,
		     unsigned int relay)
{
	return r->hdr.type == PHLOEM_REC_EVENT && r->event.kind == kind &&
	       (relay == PHLOEM_NONE || r->event.relay == relay);
}

int ph_wait_event(int fd, struct ph_evlog *log, unsigned int kind,
		  unsigned int relay, int timeout_ms, struct phloem_record *ev)
{
	uint64_t end = ph_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;
	struct phloem_record r;

	for (;;) {
		uint64_t now = ph_now_ns();
		int ret;

		if (now >= end)
			return 0;
		ret = ph_read_rec(fd, &r, (int)((end - now) / NSEC_PER_MSEC) + 1);
		if (ret <= 0)
			return ret;
		evlog_add(log, &r);
		if (ev_match(&r, kind, relay)) {
			if (ev)
				*ev = r;
			return 1;
		}
	}
}

int ph_drain(int fd, struct ph_evlog *log, int ms)
{
	int ret = ph_wait_event(fd, log, __PHLOEM_EV_MAX, PHLOEM_NONE, ms, NULL);

	return ret < 0 ? ret : 0;
}

unsigned int ph_evlog_count(const struct ph_evlog *log, unsigned int kind,
			    unsigned int relay)
{
	unsigned int i, n = 0;

	for (i = 0; i < log->n; i++)
		n += ev_match(&log->rec[i], kind, relay);
	return n;
}

int ph_wait_ready(int fd, int timeout_ms)
{
	uint64_t end = ph_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;
	struct phloem_status st;
	int ret;

	do {
		ret = ph_status(fd, &st);
		if (ret)
			return ret;
		if (!(st.state & PHLOEM_STATE_F_FAILSAFE))
			return 0;
		ph_sleep_ms(10);
	} while (ph_now_ns() < end);
	return -ETIMEDOUT;
}

int ph_settle(int fd, int timeout_ms)
{
	uint64_t end = ph_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;
	struct phloem_config cfg, quick;
	uint32_t relays = 0;
	int err;

	err = ph_wait_ready(fd, timeout_ms);
	if (err)
		return err;
	err = sim_relays(&relays);
	if (err || relays == SIM_RELAYS_ALL)
		return err;
	/*
	 * After failsafe the driver brings relays back one at a time,
	 * restore_delay_ms apart (1 s each on this board); shorten the
	 * spacing for the wait and put the configuration back after.
	 */
	err = ph_get_config(fd, &cfg);
	if (err)
		return err;
	quick = cfg;
	quick.restore_delay_ms = 10;
	err = ph_set_config(fd, &quick);
	while (!err) {
		err = sim_relays(&relays);
		if (err || relays == SIM_RELAYS_ALL)
			break;
		if (ph_now_ns() >= end)
			err = -ETIMEDOUT;
		else
			ph_sleep_ms(10);
	}
	ph_set_config(fd, &cfg);
	return err;
}

int ph_tolerate_tcg(int fd, struct phloem_config *cfg)
{
	int err = ph_get_config(fd, cfg);

	if (err)
		return err;
	cfg->stale_ms = PH_TCG_STALE_MS;
	return ph_set_config(fd, cfg);
}

/* debugfs */

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

static int read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

int sim_write(const char *attr, long long val)
{
	char path[256], v[32];

	snprintf(path, sizeof(path), PH_SIM "/%s", attr);
	snprintf(v, sizeof(v), "%lld\n", val);
	return write_str(path, v);
}

int sim_read(const char *attr, long long *val)
{
	char path[256], buf[64], *end;
	int err;

	snprintf(path, sizeof(path), PH_SIM "/%s", attr);
	err = read_str(path, buf, sizeof(buf));
	if (err)
		return err;
	errno = 0;
	*val = strtoll(buf, &end, 0);
	if (errno || end == buf)
		return -EINVAL;
	return 0;
}

int sim_set(long long val, const char *fmt, ...)
{
	char attr[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(attr, sizeof(attr), fmt, ap);
	va_end(ap);
	return sim_write(attr, val);
}

int sim_get(long long *val, const char *fmt, ...)
{
	char attr[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(attr, sizeof(attr), fmt, ap);
	va_end(ap);
	return sim_read(attr, val);
}

int sim_relays(uint32_t *bitmap)
{
	long long v;
	int err = sim_read("relays", &v);

	if (!err)
		*bitmap = (uint32_t)v;
	return err;
}

int sim_relay_log(struct sim_relay_change *out, int max)
{
	FILE *f = fopen(PH_SIM "/relay_log", "re");
	unsigned long long t;
	unsigned int line, value;
	int n = 0;

	if (!f)
		return -errno;
	while (n < max && fscanf(f, "%llu %u %u", &t, &line, &value) == 3) {
		out[n].t_ns = t;
		out[n].line = line;
		out[n].value = value;
		n++;
	}
	fclose(f);
	return n;
}

int sim_relay_log_clear(void)
{
	return write_str(PH_SIM "/relay_log_clear", "1\n");
}

/*
 * The small house of kernel/sim/sim_main.c (docs/sim.md): base RMS per
 * channel (mV for v0, mA for the CTs) and the load behind each relay.
 */
static const long long sim_def_rms[SIM_NCHANNELS] = { 230000, 0, 0, 0, 0 };
const unsigned int sim_def_load_ma[SIM_NRELAYS] = {
	7000, 3000, 4000, 5000, 500, 6000, 3000, 300,
};

int sim_reset(void)
{
	unsigned int c;
	int err;

	err = sim_write("stall", 0);
	for (c = 0; c < SIM_NCHANNELS; c++) {
		err = sim_set(0, "ch%u/fault", c) ?: err;
		err = sim_set(0, "ch%u/phase_mdeg", c) ?: err;
		err = sim_set(0, "ch%u/h3_pct", c) ?: err;
		err = sim_set(0, "ch%u/h5_pct", c) ?: err;
		/* re-arming a step at "now" cancels whatever was pending */
		err = sim_set(sim_def_rms[c], "ch%u/step_rms", c) ?: err;
		err = sim_set(0, "ch%u/step_in_ms", c) ?: err;
		err = sim_set(sim_def_rms[c], "ch%u/rms", c) ?: err;
	}
	for (c = 0; c < SIM_NRELAYS; c++) {
		err = sim_set(0, "relay%u/phase_mdeg", c) ?: err;
		err = sim_set(sim_def_load_ma[c], "relay%u/step_load_ma", c) ?: err;
		err = sim_set(0, "relay%u/step_in_ms", c) ?: err;
		err = sim_set(sim_def_load_ma[c], "relay%u/load_ma", c) ?: err;
	}
	err = sim_write("freq_mhz", 50000) ?: err;
	return err;
}

/* binding */

bool ph_present(void)
{
	return access(PH_DEV, F_OK) == 0;
}

static int wait_node(bool present, int timeout_ms)
{
	uint64_t end = ph_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;

	while (ph_present() != present) {
		if (ph_now_ns() >= end)
			return -ETIMEDOUT;
		ph_sleep_ms(10);
	}
	return 0;
}

int ph_unbind(void)
{
	int err = write_str(PH_DRV "/unbind", PH_PDEV);

	return err ?: wait_node(false, 5000);
}

int ph_bind(void)
{
	int err = write_str(PH_DRV "/bind", PH_PDEV);

	return err ?: wait_node(true, 5000);
}

static int run(const char *cmd)
{
	int st = system(cmd);

	if (st == -1)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

int ph_rmmod(void)
{
	int err = run("rmmod phloem");

	return err ?: wait_node(false, 5000);
}

int ph_insmod(void)
{
	const char *ko = getenv("PHLOEM_KO");
	char cmd[512];
	int err;

	snprintf(cmd, sizeof(cmd), "insmod %s", ko ? ko : "kernel/phloem.ko");
	err = run(cmd);
	return err ?: wait_node(true, 5000);
}

int sim_reload(const char *params, int timeout_ms)
{
	const char *ko = getenv("PHLOEM_SIM_KO");
	char cmd[1024];
	int err;

	/* not loaded: a reload that failed half-way is put right too */
	snprintf(cmd, sizeof(cmd),
		 "{ ! test -d /sys/module/phloem_sim || rmmod phloem_sim; } && insmod %s %s",
		 ko ? ko : "kernel/sim/phloem_sim.ko", params);
	err = run(cmd);
	if (err || !timeout_ms)
		return err;
	return wait_node(true, timeout_ms);
}

int ph_module_refcnt(void)
{
	char buf[32];
	int err = read_str("/sys/module/phloem/refcnt", buf, sizeof(buf));

	return err ?: atoi(buf);
}

int ph_rebind_fresh(int timeout_ms)
{
	int err, fd;

	if (ph_present()) {
		err = ph_unbind();
		if (err)
			return err;
	}
	err = ph_bind();
	if (err)
		return err;
	fd = ph_open(O_RDWR);
	if (fd < 0)
		return fd;
	err = ph_settle(fd, timeout_ms);
	close(fd);
	return err;
}

long ph_slab_unreclaim_kb(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	long kb = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SUnreclaim: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static const char *const ev_names[__PHLOEM_EV_MAX] = {
	"unspec", "overload", "shed", "restore", "failsafe_enter",
	"failsafe_leave", "lease_expired", "adc_fault", "override", "config",
};

void ph_evlog_dump(const struct ph_evlog *log, FILE *f)
{
	uint64_t t0 = log->n ? log->rec[0].hdr.time_ns : 0;
	unsigned int i;

	fprintf(f, "# %u events, %llu cycles seen\n", log->n,
		(unsigned long long)log->cycles);
	for (i = 0; i < log->n; i++) {
		const struct phloem_record *r = &log->rec[i];
		const struct phloem_rec_event *e = &r->event;

		fprintf(f, "#   +%9.3f ms seq %u %-14s cause %u relay %d circuit %d "
			"chan %d backoff %u value %u limit %u lat %.3f ms\n",
			(r->hdr.time_ns - t0) / 1e6, r->hdr.seq,
			e->kind < __PHLOEM_EV_MAX ? ev_names[e->kind] : "?",
			e->cause, e->relay == PHLOEM_NONE ? -1 : e->relay,
			e->circuit == PHLOEM_NONE ? -1 : e->circuit,
			e->channel == PHLOEM_NONE ? -1 : e->channel, e->backoff,
			e->value, e->limit, e->latency_ns / 1e6);
	}
}
