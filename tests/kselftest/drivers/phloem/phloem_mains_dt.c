// SPDX-License-Identifier: GPL-2.0
/*
 * The mains rules' firmware keys (docs/bindings/phloem,hat.yaml:
 * phloem,nominal-mv .. phloem,uv-shed-ms) in a real kernel: phloem_sim is
 * reloaded with its mains parameters (docs/sim.md), which put the keys on
 * the HAT node the driver probes.
 *
 * A full, valid set reads back through GET_CONFIG, and the outage rule is
 * live from boot with no agent: the mains OK in the status, and a cut
 * islands the house with phloem,outage-relays kept on. The simulator is
 * reloaded, never put back by hand: the cut is left as it is. Each key out of its range (the two ranges with a
 * hole below and above it, phloem,outage-relays naming a relay the node
 * lacks) among an otherwise valid set refuses probe: no device, and the
 * driver's message names the key and its value. Last, and after a
 * failure too, the simulator goes back to its defaults (no key).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "phloem_util.h"

#define NEED_DEV() do { if (!self->ok) SKIP(return, "%s absent", PH_DEV); } while (0)
#define SLACK_MS	3000	/* TCG: wake-ups can be late by this much */
#define PROBE_MS	20000	/* a probe deferred for the ADC comes late */
/* the island keeps the critical fridge and lights, and the heat pump */
#define KEPT		(SIM_RELAYS_SAFE | (1u << R_HEATPUMP))

/*
 * The valid set: each value its own, none the default, so a key read
 * into the wrong field shows. phloem_sim's parameters are named as the
 * struct phloem_config fields the keys set.
 */
#define KEY(f, v)	{ #f, v, offsetof(struct phloem_config, f) }
static const struct {
	const char *param;
	uint32_t val;
	size_t off;
} keys[] = {
	KEY(nominal_mv, 230000),
	KEY(outage_pct, 50),
	KEY(outage_cycles, 3),
	KEY(outage_relays, 1u << R_HEATPUMP),
	KEY(return_ms, 30000),
	KEY(return_stagger_ms, 2000),
	KEY(volt_band_pct, 15),
	KEY(volt_delay_ms, 1000),
	KEY(uv_shed_pct, 70),
	KEY(uv_shed_ms, 5000),
};

/* the valid set as module parameters, @param's value @val instead */
static void sim_params(char *buf, size_t len, const char *param,
		       const char *val)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]) && n < len; i++) {
		if (param && !strcmp(param, keys[i].param))
			n += snprintf(buf + n, len - n, "%s=%s ", keys[i].param, val);
		else
			n += snprintf(buf + n, len - n, "%s=%u ", keys[i].param,
				      keys[i].val);
	}
}

/* /dev/kmsg from its end: what the kernel logs from now on */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (lseek(fd, 0, SEEK_END) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * Read @fd's records until one whose text holds @what and @dev, for at
 * most @timeout_ms. @line gets that text, or else the last that held
 * @dev (for the failure's log).
 * Return: 1 found, 0 on timeout, -errno.
 */
static int kmsg_wait(int fd, const char *dev, const char *what, int timeout_ms,
		     char *line, size_t len)
{
	uint64_t end = ph_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;
	static char rec[8192];	/* a record is at most 8 KiB, read whole */
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (;;) {
		ssize_t n = read(fd, rec, sizeof(rec) - 1);
		uint64_t now;
		char *text, *eol;

		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten: on from the oldest */
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n > 0) {
			rec[n] = '\0';
			/* "prio,seq,usec,flags;text\n" then " KEY=value" lines */
			text = strchr(rec, ';');
			if (!text)
				continue;
			text++;
			eol = strchr(text, '\n');
			if (eol)
				*eol = '\0';
			if (!strstr(text, dev))
				continue;
			snprintf(line, len, "%s", text);
			if (strstr(text, what))
				return 1;
			continue;
		}
		now = ph_now_ns();
		if (now >= end)
			return 0;
		poll(&p, 1, (end - now) / NSEC_PER_MSEC + 1);
	}
}

/* ---- a valid set: read back, and the outage rule live from boot ---- */

FIXTURE(dt) {
	bool ok;
	int fd;
	struct phloem_config cfg;
	struct ph_evlog log;
};

FIXTURE_SETUP(dt)
{
	char params[512];

	self->fd = -1;
	if (!ph_present())
		SKIP(return, "%s absent (phloem.ko + phloem_sim.ko not loaded)", PH_DEV);
	self->ok = true;
	sim_params(params, sizeof(params), NULL, NULL);
	ASSERT_EQ(0, sim_reload(params, PROBE_MS)) TH_LOG("insmod phloem_sim %s", params);
	self->fd = ph_open(O_RDWR);
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(dt)
{
	if (!_metadata->passed)
		ph_evlog_dump(&self->log, stderr);
	if (self->fd >= 0)
		close(self->fd);
	if (self->ok)
		EXPECT_EQ(0, sim_reload("", PROBE_MS)) TH_LOG("phloem_sim not back to its defaults");
}

TEST_F_TIMEOUT(dt, valid_set_from_boot, 120)
{
	struct phloem_status st = { .size = sizeof(st) };
	struct phloem_record rec;
	uint32_t on = 0;
	unsigned int i;

	NEED_DEV();
	/* before any SET_CONFIG: what probe took from the node */
	ASSERT_EQ(0, ph_get_config(self->fd, &self->cfg));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		uint32_t got;

		memcpy(&got, (char *)&self->cfg + keys[i].off, sizeof(got));
		EXPECT_EQ(keys[i].val, got) TH_LOG("%s", keys[i].param);
	}
	/* the outage rule is on from boot, no agent has said a word */
	ASSERT_EQ(0, ph_wait_ready(self->fd, 30000));
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_EQ(PHLOEM_MAINS_OK, st.mains_state);
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_ISLAND);

	ASSERT_EQ(0, ph_settle(self->fd, 30000));
	ASSERT_EQ(0, ph_tolerate_tcg(self->fd, &self->cfg));
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 500));
	/*
	 * the voltage events (phloem,volt-band-pct) judge the phase too;
	 * not NONE rather than OK: a loaded TCG host can put a second of
	 * cycles out of the band
	 */
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_NE(PHLOEM_VOLT_NONE, st.volt_state[0]);

	/* a cut islands the house: the kept relays are phloem,outage-relays' */
	self->log.n = 0;
	ASSERT_EQ(0, sim_write("vrms_mv", 0));
	ASSERT_EQ(1, ph_wait_event(self->fd, &self->log, PHLOEM_EV_MAINS,
				   PHLOEM_NONE, 3 * SLACK_MS, &rec));
	EXPECT_EQ(PHLOEM_CAUSE_OUTAGE, rec.event.cause);
	ASSERT_EQ(0, ph_drain(self->fd, &self->log, 1000));
	ASSERT_EQ(0, sim_relays(&on));
	EXPECT_EQ(KEPT, on);
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_ISLAND);
	EXPECT_EQ(PHLOEM_MAINS_OUTAGE, st.mains_state);
	/* no mains yet: the whole of phloem,return-ms (not the 60 s default) */
	EXPECT_EQ(30000, st.return_left_ms);
}

/* ---- one key out of range: probe refused, the key named ---- */

FIXTURE(dt_bad) {
	bool ok;
	int kmsg;
};

FIXTURE_VARIANT(dt_bad) {
	const char *param;	/* phloem_sim's parameter ... */
	const char *val;	/* ... given this value, the others valid */
	const char *msg;	/* what the driver's dev_err must say */
};

FIXTURE_VARIANT_ADD(dt_bad, nominal_mv_hole) {
	.param = "nominal_mv", .val = "49999",
	.msg = "phloem,nominal-mv = 49999",
};
FIXTURE_VARIANT_ADD(dt_bad, nominal_mv_high) {
	.param = "nominal_mv", .val = "500001",
	.msg = "phloem,nominal-mv = 500001",
};
FIXTURE_VARIANT_ADD(dt_bad, outage_pct) {
	.param = "outage_pct", .val = "91",
	.msg = "phloem,outage-pct = 91",
};
FIXTURE_VARIANT_ADD(dt_bad, outage_cycles) {
	.param = "outage_cycles", .val = "51",
	.msg = "phloem,outage-cycles = 51",
};
/* relay@8: the node has eight, 0..7 */
FIXTURE_VARIANT_ADD(dt_bad, outage_relays_absent) {
	.param = "outage_relays", .val = "0x100",
	.msg = "phloem,outage-relays = 0x100",
};
/* beyond the 16 any node may have */
FIXTURE_VARIANT_ADD(dt_bad, outage_relays_high) {
	.param = "outage_relays", .val = "0x10000",
	.msg = "phloem,outage-relays = 65536",
};
FIXTURE_VARIANT_ADD(dt_bad, return_ms) {
	.param = "return_ms", .val = "600001",
	.msg = "phloem,return-ms = 600001",
};
FIXTURE_VARIANT_ADD(dt_bad, return_stagger_ms) {
	.param = "return_stagger_ms", .val = "60001",
	.msg = "phloem,return-stagger-ms = 60001",
};
FIXTURE_VARIANT_ADD(dt_bad, volt_band_pct) {
	.param = "volt_band_pct", .val = "21",
	.msg = "phloem,volt-band-pct = 21",
};
FIXTURE_VARIANT_ADD(dt_bad, volt_delay_ms) {
	.param = "volt_delay_ms", .val = "60001",
	.msg = "phloem,volt-delay-ms = 60001",
};
FIXTURE_VARIANT_ADD(dt_bad, uv_shed_pct_hole) {
	.param = "uv_shed_pct", .val = "49",
	.msg = "phloem,uv-shed-pct = 49",
};
FIXTURE_VARIANT_ADD(dt_bad, uv_shed_pct_high) {
	.param = "uv_shed_pct", .val = "100",
	.msg = "phloem,uv-shed-pct = 100",
};
FIXTURE_VARIANT_ADD(dt_bad, uv_shed_ms) {
	.param = "uv_shed_ms", .val = "600001",
	.msg = "phloem,uv-shed-ms = 600001",
};

FIXTURE_SETUP(dt_bad)
{
	self->kmsg = -1;
	if (!ph_present())
		SKIP(return, "%s absent (phloem.ko + phloem_sim.ko not loaded)", PH_DEV);
	self->ok = true;
	self->kmsg = kmsg_open();
	ASSERT_LE(0, self->kmsg) TH_LOG("/dev/kmsg: %s", strerror(-self->kmsg));
}

FIXTURE_TEARDOWN(dt_bad)
{
	if (self->kmsg >= 0)
		close(self->kmsg);
	if (self->ok)
		EXPECT_EQ(0, sim_reload("", PROBE_MS)) TH_LOG("phloem_sim not back to its defaults");
}

TEST_F_TIMEOUT(dt_bad, probe_refused, 60)
{
	char params[512], line[1024] = "(nothing)";

	NEED_DEV();
	sim_params(params, sizeof(params), variant->param, variant->val);
	/* the simulator takes any value: its load succeeds, the probe not */
	ASSERT_EQ(0, sim_reload(params, 0)) TH_LOG("insmod phloem_sim %s", params);
	ASSERT_EQ(1, kmsg_wait(self->kmsg, PH_PDEV ":", variant->msg, PROBE_MS,
			       line, sizeof(line)))
		TH_LOG("no \"%s\" from %s; its last line: %s", variant->msg,
		       PH_PDEV, line);
	TH_LOG("%s", line);
	EXPECT_FALSE(ph_present());
	EXPECT_NE(0, access("/sys/bus/platform/devices/" PH_PDEV "/driver", F_OK))
		TH_LOG("%s bound", PH_PDEV);
}

TEST_HARNESS_MAIN
