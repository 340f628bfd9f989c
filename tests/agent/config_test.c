// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd configuration parser and time-of-use policy: a good file parses
 * into the expected values; every kind of bad file is refused with
 * "file:line: reason" naming the right line; windows open and close at the
 * right local times, including across midnight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "phloemd.h"

TEST(good_file)
{
	static struct pd_config c;
	char err[PD_ERR_LEN] = "";

	ASSERT_EQ(0, pd_config_load(&c, TEST_DATA "/good.conf", err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_EQ(PD_BACKEND_SIM, c.backend);
	EXPECT_EQ(9000000u, c.site_import_limit_mw);
	EXPECT_EQ(7000000u, c.peak_target_mw);
	ASSERT_EQ(2, c.ncircuits);
	/* the site is moved to index 0 */
	EXPECT_STREQ("site", c.circuit[0].name);
	EXPECT_EQ(PHLOEM_CURVE_C, c.circuit[0].curve);
	EXPECT_EQ(40000u, c.circuit[0].limit_ma);	/* default: rating */
	EXPECT_STREQ("garage", c.circuit[1].name);
	EXPECT_EQ(28500u, c.circuit[1].limit_ma);
	EXPECT_STREQ("i2", c.circuit[1].channel);
	ASSERT_EQ(2, c.nrelays);
	EXPECT_EQ(1, c.relay[0].circuit);
	EXPECT_EQ(300000u, c.relay[0].min_off_ms);
	EXPECT_TRUE(c.relay[1].critical);
	ASSERT_EQ(2, c.ntou);
	EXPECT_EQ(0x1f, c.tou[0].days);
	EXPECT_EQ(17u * 60, c.tou[0].start_min);
	EXPECT_EQ(1u, c.tou[0].shed);
	EXPECT_EQ((1u << 4) | (1u << 5) | (1u << 6), c.tou[1].days);
	EXPECT_EQ(90u, c.retention_days);
	EXPECT_STREQ("/var/lib/phloem/test.db", c.db);
}

TEST(missing_file)
{
	static struct pd_config c;
	char err[PD_ERR_LEN] = "";

	ASSERT_EQ(-1, pd_config_load(&c, "/nonexistent/phloemd.conf", err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "/nonexistent/phloemd.conf: No such file"));
}

/* A minimal valid file; each variant breaks it at one place. */
static const char base[] =
	"[agent]\n"			/* 1 */
	"backend = sim\n"		/* 2 */
	"[circuit site]\n"		/* 3 */
	"channel = i0\n"		/* 4 */
	"breaker_a = 40\n"		/* 5 */
	"[circuit garage]\n"		/* 6 */
	"channel = i1\n"		/* 7 */
	"breaker_a = 32\n"		/* 8 */
	"[relay ev]\n"			/* 9 */
	"circuit = garage\n"		/* 10 */
	"[tou peak]\n"			/* 11 */
	"days = Mon-Fri\n"		/* 12 */
	"start = 17:00\n"		/* 13 */
	"end = 20:00\n"			/* 14 */
	"site_import_limit_w = 3000\n";	/* 15 */

FIXTURE(bad) {
	char path[64];
};

FIXTURE_VARIANT(bad) {
	const char *from;	/* replace this line of base ... */
	const char *to;		/* ... with this (appended when from is NULL) */
	const char *expect;	/* substring of the error after "file" */
};

FIXTURE_VARIANT_ADD(bad, unknown_key) {
	.from = "backend = sim\n", .to = "backend = sim\nbakend = sim\n",
	.expect = ":3: [agent] bakend: unknown key",
};
FIXTURE_VARIANT_ADD(bad, unknown_section) {
	.from = NULL, .to = "[frobnicate]\n", .expect = ":16: unknown section [frobnicate]",
};
/* the phase rules' keys ([site] phase_*) */
FIXTURE_VARIANT_ADD(bad, phase_limit_two_values) {
	.from = NULL, .to = "[site]\nphase_limit_a = 25,25\n",
	.expect = ":17: [site] phase_limit_a: expected amperes 0..4000",
};
FIXTURE_VARIANT_ADD(bad, phase_limit_not_amps) {
	.from = NULL, .to = "[site]\nphase_limit_a = 25,x,25\n",
	.expect = ":17: [site] phase_limit_a: expected amperes",
};
FIXTURE_VARIANT_ADD(bad, phase_grace_too_long) {
	.from = NULL, .to = "[site]\nphase_grace_s = 601\n",
	.expect = ":17: [site] phase_grace_s: expected seconds 0..600",
};
FIXTURE_VARIANT_ADD(bad, phase_imbalance_va) {
	.from = NULL, .to = "[site]\nphase_imbalance_va = 4.6k\n",
	.expect = ":17: [site] phase_imbalance_va: expected volt-amperes",
};

/* the frequency rule's keys ([freq], [freq_stage NAME]) */
FIXTURE_VARIANT_ADD(bad, freq_stage_no_below) {
	.from = NULL, .to = "[freq_stage a]\npriorities = 0-20\n",
	.expect = ":16: [freq_stage a]: below_hz= is required",
};
FIXTURE_VARIANT_ADD(bad, freq_stage_no_priorities) {
	.from = NULL, .to = "[freq_stage a]\nbelow_hz = 49\n",
	.expect = ":16: [freq_stage a]: priorities= is required",
};
FIXTURE_VARIANT_ADD(bad, freq_stage_low_hz) {
	.from = NULL, .to = "[freq_stage a]\nbelow_hz = 44.9\n",
	.expect = ":17: [freq_stage a] below_hz: expected Hz 45..60",
};
FIXTURE_VARIANT_ADD(bad, freq_stage_prio_range) {
	.from = NULL, .to = "[freq_stage a]\nbelow_hz = 49\npriorities = 20-10\n",
	.expect = ":18: [freq_stage a] priorities: expected a priority or a range",
};
FIXTURE_VARIANT_ADD(bad, freq_stage_hysteresis) {
	.from = NULL, .to = "[freq_stage a]\nhysteresis_hz = 2.5\n",
	.expect = ":17: [freq_stage a] hysteresis_hz: expected Hz 0..2",
};
FIXTURE_VARIANT_ADD(bad, freq_five_stages) {
	.from = NULL,
	.to = "[freq_stage a]\n[freq_stage b]\n[freq_stage c]\n[freq_stage d]\n[freq_stage e]\n",
	.expect = ":20: more than 4 [freq_stage] sections",
};
FIXTURE_VARIANT_ADD(bad, freq_stage_twice) {
	.from = NULL, .to = "[freq_stage a]\n[freq_stage a]\n",
	.expect = ":17: stage \"a\" defined twice",
};
FIXTURE_VARIANT_ADD(bad, freq_over_delay_alone) {
	.from = NULL, .to = "[freq]\nover_delay_ms = 100\n",
	.expect = "[freq]: over_delay_ms= without over_hz=",
};
FIXTURE_VARIANT_ADD(bad, freq_unknown_key) {
	.from = NULL, .to = "[freq]\nunder_hz = 49\n",
	.expect = ":17: [freq] under_hz: unknown key (over_hz, over_delay_ms)",
};
/* the grid-operator lines' policy keys (issue 17 item 3) */
FIXTURE_VARIANT_ADD(bad, grid_signal_no_such_line) {
	.from = NULL, .to = "[grid_signal K5]\n", .expect = ":16: bad grid-operator line \"K5\"",
};
FIXTURE_VARIANT_ADD(bad, grid_signal_twice) {
	.from = NULL, .to = "[grid_signal K1]\nimport_cap_w = 4200\n[grid_signal K1]\n",
	.expect = ":18: [grid_signal K1] defined twice",
};
FIXTURE_VARIANT_ADD(bad, grid_signal_unknown_relay) {
	.from = NULL, .to = "[grid_signal K2]\nshed = oven\n",
	.expect = ":16: [grid_signal K2] shed: relay \"oven\" is not defined",
};
FIXTURE_VARIANT_ADD(bad, grid_signal_cap_range) {
	.from = NULL, .to = "[grid_signal K1]\nimport_cap_w = 4000001\n",
	.expect = ":17: [grid_signal K1] import_cap_w: expected watts",
};
FIXTURE_VARIANT_ADD(bad, grid_signal_debounce_range) {
	.from = NULL, .to = "[site]\ngrid_signal_debounce_us = 10001\n",
	.expect = ":17: [site] grid_signal_debounce_us: expected microseconds 0..10000",
};
FIXTURE_VARIANT_ADD(bad, empty_unknown_section) {
	.from = "[relay ev]\n", .to = "[relais ev]\n", .expect = ":9: unknown section [relais ev]",
};
FIXTURE_VARIANT_ADD(bad, bad_backend) {
	.from = "backend = sim\n", .to = "backend = hardware\n", .expect = ":2: [agent] backend: expected kernel or sim",
};
FIXTURE_VARIANT_ADD(bad, bad_amps) {
	.from = "breaker_a = 32\n", .to = "breaker_a = 32A\n", .expect = ":8: [circuit garage] breaker_a: expected amperes",
};
FIXTURE_VARIANT_ADD(bad, limit_above_breaker) {
	.from = "breaker_a = 32\n", .to = "breaker_a = 32\nlimit_a = 33\n", .expect = ":6: [circuit garage]: limit_a above breaker_a",
};
FIXTURE_VARIANT_ADD(bad, bad_curve) {
	.from = "breaker_a = 32\n", .to = "breaker_a = 32\ncurve = K\n", .expect = ":9: [circuit garage] curve: expected B, C or D",
};
FIXTURE_VARIANT_ADD(bad, bad_channel) {
	.from = "channel = i1\n", .to = "channel = v1\n", .expect = ":7: [circuit garage] channel: expected a current channel",
};
FIXTURE_VARIANT_ADD(bad, shared_channel) {
	.from = "channel = i1\n", .to = "channel = i0\n", .expect = ":6: [circuit garage]: channel i0 measures another circuit",
};
FIXTURE_VARIANT_ADD(bad, no_site) {
	.from = "[circuit site]\n", .to = "[circuit house]\n", .expect = "no [circuit site] section",
};
FIXTURE_VARIANT_ADD(bad, relay_unknown_circuit) {
	.from = "circuit = garage\n", .to = "circuit = shed\n", .expect = ":10: [relay ev]: circuit \"shed\" is not defined",
};
FIXTURE_VARIANT_ADD(bad, relay_on_site) {
	.from = "circuit = garage\n", .to = "circuit = site\n", .expect = ":10: [relay ev]: a relay sits on a final circuit",
};
FIXTURE_VARIANT_ADD(bad, duplicate_relay) {
	.from = NULL, .to = "[relay ev]\n", .expect = ":16: relay \"ev\" defined twice",
};
FIXTURE_VARIANT_ADD(bad, bad_priority) {
	.from = "circuit = garage\n", .to = "circuit = garage\npriority = 256\n", .expect = ":11: [relay ev] priority: expected 0",
};
FIXTURE_VARIANT_ADD(bad, bad_days) {
	.from = "days = Mon-Fri\n", .to = "days = Mon-Fry\n", .expect = ":12: [tou peak] days: expected days",
};
FIXTURE_VARIANT_ADD(bad, bad_time) {
	.from = "start = 17:00\n", .to = "start = 17:60\n", .expect = ":13: [tou peak] start: expected HH:MM",
};
FIXTURE_VARIANT_ADD(bad, empty_window) {
	.from = "end = 20:00\n", .to = "end = 17:00\n", .expect = ":11: [tou peak]: start equals end",
};
FIXTURE_VARIANT_ADD(bad, shed_unknown_relay) {
	.from = NULL, .to = "shed = ev,pool\n", .expect = ":16: [tou peak] shed: relay \"pool\" is not defined",
};
FIXTURE_VARIANT_ADD(bad, window_without_effect) {
	.from = "site_import_limit_w = 3000\n", .to = "", .expect = ":11: [tou peak]: the window sets neither",
};
FIXTURE_VARIANT_ADD(bad, device_url) {
	.from = NULL, .to = "[device pv]\nurl = http://192.168.1.4/\n",
	.expect = ":17: [device pv] url: expected tcp://HOST:PORT or rtu:/dev/PATH",
};
FIXTURE_VARIANT_ADD(bad, device_without_url) {
	.from = NULL, .to = "[device pv]\nunit = 3\n", .expect = ":16: [device pv]: url= is required",
};
FIXTURE_VARIANT_ADD(bad, device_base) {
	.from = NULL, .to = "[device pv]\nurl = tcp://h:502\nbase = 40001\n",
	.expect = ":18: [device pv] base: expected auto, 0, 40000 or 50000",
};
FIXTURE_VARIANT_ADD(bad, modbus_server_model) {
	.from = NULL, .to = "[modbus_server]\nmodel = 202\n",
	.expect = ":17: [modbus_server] model: expected 201 (single phase) or 203",
};
FIXTURE_VARIANT_ADD(bad, sim_device_power_circuit) {
	.from = NULL, .to = "[sim]\ndevice_power = attic /tmp/p\n",
	.expect = ":17: [sim] device_power: circuit \"attic\" is not defined",
};
FIXTURE_VARIANT_ADD(bad, syntax) {
	.from = NULL, .to = "just words\n", .expect = ":16: syntax error",
};
FIXTURE_VARIANT_ADD(bad, continuation) {
	.from = NULL, .to = "  indented = 1\n", .expect = ":16: indented line",
};
FIXTURE_VARIANT_ADD(bad, key_before_section) {
	.from = "[agent]\n", .to = "lease_s = 3\n[agent]\n", .expect = ":1: key \"lease_s\" outside any section",
};
FIXTURE_VARIANT_ADD(bad, lease_range) {
	.from = "backend = sim\n", .to = "backend = sim\nlease_s = 601\n", .expect = ":3: [agent] lease_s: expected seconds 1..600",
};
FIXTURE_VARIANT_ADD(bad, sim_base_double_minus) {
	.from = "breaker_a = 32\n", .to = "breaker_a = 32\nsim_base_a = --5\n",
	.expect = ":9: [circuit garage] sim_base_a: expected amperes -1000..1000",
};
FIXTURE_VARIANT_ADD(bad, sim_base_bare_minus) {
	.from = "breaker_a = 32\n", .to = "breaker_a = 32\nsim_base_a = -\n",
	.expect = ":9: [circuit garage] sim_base_a: expected amperes -1000..1000",
};
FIXTURE_VARIANT_ADD(bad, sim_base_too_negative) {
	.from = "breaker_a = 40\n", .to = "breaker_a = 40\nsim_base_a = -1001\n",
	.expect = ":6: [circuit site] sim_base_a: expected amperes -1000..1000",
};
FIXTURE_VARIANT_ADD(bad, sim_step_bad_amps) {
	.from = NULL, .to = "[sim]\nstep = 5 garage -x\n",
	.expect = ":17: [sim] step: expected amperes -1000..1000",
};
FIXTURE_VARIANT_ADD(bad, settle_interval_short) {
	.from = NULL, .to = "[peers]\nsettle_interval_s = 9\n",
	.expect = ":17: [peers] settle_interval_s: expected seconds 10..86400",
};
FIXTURE_VARIANT_ADD(bad, relative_db) {
	.from = NULL, .to = "[history]\ndb = history.db\n", .expect = ":17: [history] db: expected an absolute path",
};

FIXTURE_SETUP(bad)
{
	char text[2048];
	const char *at;
	FILE *f;
	int fd;

	snprintf(self->path, sizeof(self->path), "/tmp/phloemd-conf-XXXXXX");
	fd = mkstemp(self->path);
	ASSERT_LE(0, fd);
	if (variant->from) {
		at = strstr(base, variant->from);
		ASSERT_NE(NULL, at);
		snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - base), base, variant->to,
			 at + strlen(variant->from));
	} else {
		snprintf(text, sizeof(text), "%s%s", base, variant->to);
	}
	f = fdopen(fd, "w");
	ASSERT_NE(NULL, f);
	fputs(text, f);
	fclose(f);
}

FIXTURE_TEARDOWN(bad)
{
	unlink(self->path);
}

TEST_F(bad, refused_with_line)
{
	static struct pd_config c;
	char err[PD_ERR_LEN] = "", want[PD_ERR_LEN];

	ASSERT_EQ(-1, pd_config_load(&c, self->path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s%s", self->path, variant->expect);
	if (variant->expect[0] != ':')
		snprintf(want, sizeof(want), "%s: %s", self->path, variant->expect);
	EXPECT_EQ(0, strncmp(err, want, strlen(want)))
		TH_LOG("got \"%s\", want prefix \"%s\"", err, want);
}

/* A PV site: negative base currents export, and the site moves to index 0
 * with its own (signed) base. */
TEST(signed_sim_base)
{
	static struct pd_config c;
	char path[] = "/tmp/phloemd-conf-XXXXXX", err[PD_ERR_LEN] = "";
	int fd = mkstemp(path);
	FILE *f;

	ASSERT_LE(0, fd);
	f = fdopen(fd, "w");
	ASSERT_NE(NULL, f);
	fputs("[circuit garage]\nchannel = i1\nbreaker_a = 32\nsim_base_a = 0\n"
	      "[circuit site]\nchannel = i0\nbreaker_a = 40\nsim_base_a = -12.5\n"
	      "[sim]\nstep = 5 garage -3\nstep = 6 site 1000\nstep = 7 site -1000\n"
	      "[peers]\nsettle_interval_s = 10\n", f);
	fclose(f);
	ASSERT_EQ(0, pd_config_load(&c, path, err, sizeof(err))) TH_LOG("%s", err);
	unlink(path);
	EXPECT_STREQ("site", c.circuit[0].name);
	EXPECT_EQ(-12500, c.sim_base_ma[0]);
	EXPECT_EQ(0, c.sim_base_ma[1]);
	ASSERT_EQ(3, c.nsteps);
	EXPECT_EQ(1, c.step[0].circuit);
	EXPECT_EQ(-3000, c.step[0].ma);
	EXPECT_EQ(1000000, c.step[1].ma);
	EXPECT_EQ(-1000000, c.step[2].ma);
	EXPECT_EQ(10u, c.peer_settle_interval_s);	/* a test community */
}

/* [freq] and [freq_stage NAME]: the values the kernel gets, defaults */
TEST(freq_keys)
{
	static struct pd_config c;
	char path[] = "/tmp/phloemd-conf-XXXXXX", err[PD_ERR_LEN] = "";
	const struct phloem_freq_stage *a, *b;
	int fd = mkstemp(path);
	FILE *f;

	ASSERT_LE(0, fd);
	f = fdopen(fd, "w");
	ASSERT_NE(NULL, f);
	fputs("[circuit site]\nchannel = i0\nbreaker_a = 40\n"
	      "[freq]\nover_hz = 51.5\nover_delay_ms = 500\n"
	      "[freq_stage lfdd1]\nbelow_hz = 49.0\npriorities = 0-20\n"
	      "[freq_stage lfdd2]\nbelow_hz = 48.7\ndelay_ms = 150\n"
	      "hysteresis_hz = 0.15\nrestore_s = 60\npriorities = 40\n", f);
	fclose(f);
	ASSERT_EQ(0, pd_config_load(&c, path, err, sizeof(err))) TH_LOG("%s", err);
	unlink(path);
	EXPECT_EQ(51500u, c.over_freq_mhz);
	EXPECT_EQ(500u, c.over_freq_ms);
	ASSERT_EQ(2, c.nfreq);
	a = &c.freq[0].st;
	b = &c.freq[1].st;
	EXPECT_STREQ("lfdd1", c.freq[0].name);
	EXPECT_EQ(49000u, a->threshold_mhz);
	EXPECT_EQ(100u, a->delay_ms);		/* defaults */
	EXPECT_EQ(200, a->hyst_mhz);
	EXPECT_EQ(30000u, a->restore_ms);
	EXPECT_EQ(0, a->prio_min);
	EXPECT_EQ(20, a->prio_max);
	EXPECT_EQ(48700u, b->threshold_mhz);
	EXPECT_EQ(150u, b->delay_ms);
	EXPECT_EQ(150, b->hyst_mhz);
	EXPECT_EQ(60000u, b->restore_ms);
	EXPECT_EQ(40, b->prio_min);
	EXPECT_EQ(40, b->prio_max);
}

/* [site] phase_*: one limit for every phase, or three; UINT32_MAX unset */
TEST(phase_keys)
{
	static struct pd_config c;
	char path[] = "/tmp/phloemd-conf-XXXXXX", err[PD_ERR_LEN] = "";
	int fd = mkstemp(path);
	FILE *f;

	ASSERT_LE(0, fd);
	f = fdopen(fd, "w");
	ASSERT_NE(NULL, f);
	fputs("[circuit site]\nchannel = i0\nbreaker_a = 40\n"
	      "[site]\nphase_limit_a = 35, 35,0\nphase_imbalance_a = 20\n"
	      "phase_imbalance_va = 4600\nphase_grace_s = 10\n", f);
	fclose(f);
	ASSERT_EQ(0, pd_config_load(&c, path, err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_EQ(35000u, c.ph_limit_ma[0]);
	EXPECT_EQ(35000u, c.ph_limit_ma[1]);
	EXPECT_EQ(0u, c.ph_limit_ma[2]);
	EXPECT_FALSE(c.ph_limit_all);
	EXPECT_EQ(20000u, c.ph_imb_ma);
	EXPECT_EQ(4600000u, c.ph_imb_mva);
	EXPECT_EQ(10000u, c.ph_grace_ms);
	f = fopen(path, "w");
	ASSERT_NE(NULL, f);
	fputs("[circuit site]\nchannel = i0\nbreaker_a = 40\n"
	      "[site]\nphase_limit_a = 32.5\n", f);
	fclose(f);
	ASSERT_EQ(0, pd_config_load(&c, path, err, sizeof(err))) TH_LOG("%s", err);
	unlink(path);
	EXPECT_EQ(32500u, c.ph_limit_ma[2]);
	EXPECT_TRUE(c.ph_limit_all);
	EXPECT_EQ(UINT32_MAX, c.ph_imb_ma);
	/* without the keys nothing is pushed */
	ASSERT_EQ(0, pd_config_load(&c, TEST_DATA "/good.conf", err, sizeof(err)));
	EXPECT_EQ(UINT32_MAX, c.ph_limit_ma[0]);
	EXPECT_EQ(UINT32_MAX, c.ph_grace_ms);
}

/* ---- policy ---- */

static time_t local(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = mi, .tm_isdst = -1 };

	return mktime(&tm);
}

TEST(policy_windows)
{
	static struct pd_config c;
	struct pd_targets t;
	char err[PD_ERR_LEN] = "";

	ASSERT_EQ(0, pd_config_load(&c, TEST_DATA "/good.conf", err, sizeof(err)));
	/* 2026-11-23 is a Monday */
	pd_policy_eval(&c, local(2026, 11, 23, 16, 59), &t);
	EXPECT_EQ(7000000u, t.site_import_limit_mw);	/* peak target below the cap */
	EXPECT_EQ(0u, t.shed);
	pd_policy_eval(&c, local(2026, 11, 23, 17, 0), &t);
	EXPECT_EQ(3000000u, t.site_import_limit_mw);
	EXPECT_EQ(1u, t.shed);
	EXPECT_EQ(1u, t.active);
	pd_policy_eval(&c, local(2026, 11, 23, 20, 0), &t);
	EXPECT_EQ(7000000u, t.site_import_limit_mw);
	/* Saturday evening: the weekday window is closed */
	pd_policy_eval(&c, local(2026, 11, 28, 18, 0), &t);
	EXPECT_EQ(0u, t.active & 1);
	/* the night window opens Friday 22:00 and runs into Saturday */
	pd_policy_eval(&c, local(2026, 11, 27, 23, 30), &t);
	EXPECT_EQ(2u, t.active);
	EXPECT_EQ(5000000u, t.site_import_limit_mw);
	pd_policy_eval(&c, local(2026, 11, 28, 5, 59), &t);
	EXPECT_EQ(2u, t.active);
	/* Sunday night's window runs into Monday morning */
	pd_policy_eval(&c, local(2026, 11, 30, 3, 0), &t);
	EXPECT_EQ(2u, t.active);
	/* but Monday 22:00 is not in it (Mon not listed) */
	pd_policy_eval(&c, local(2026, 11, 23, 22, 30), &t);
	EXPECT_EQ(0u, t.active);
	/* a hold lasts until the window's end */
	EXPECT_EQ(3u * 3600 - 60 * 30, pd_policy_shed_left_s(&c, local(2026, 11, 23, 17, 30), 1));
	EXPECT_EQ(0u, pd_policy_shed_left_s(&c, local(2026, 11, 23, 12, 0), 1));
}

/* [grid_signal K*] and the debounce parse into the config relay indexes */
TEST(grid_signal_keys)
{
	static struct pd_config c;
	char path[] = "/tmp/phloemd-conf-XXXXXX", err[PD_ERR_LEN] = "";
	int fd = mkstemp(path);
	FILE *f;

	ASSERT_LE(0, fd);
	f = fdopen(fd, "w");
	ASSERT_NE(NULL, f);
	fputs("[circuit site]\nchannel = i0\nbreaker_a = 40\n"
	      "[circuit garage]\nchannel = i1\nbreaker_a = 32\n"
	      "[relay ev]\ncircuit = garage\n[relay heater]\ncircuit = garage\n"
	      "[site]\ngrid_signal_debounce_us = 3000\n"
	      "[grid_signal K1]\nimport_cap_w = 4200\n"
	      "[grid_signal K3]\nshed = heater, ev\n", f);
	fclose(f);
	ASSERT_EQ(0, pd_config_load(&c, path, err, sizeof(err))) TH_LOG("%s", err);
	unlink(path);
	EXPECT_EQ(3000u, c.sig_debounce_us);
	EXPECT_EQ(0x5u, c.sig_set);
	EXPECT_EQ(4200000u, c.sig_cap_mw[0]);
	EXPECT_EQ(0u, c.sig_shed[0]);
	EXPECT_EQ(0u, c.sig_cap_mw[2]);
	EXPECT_EQ(0x3u, c.sig_shed[2]);
	/* without the keys nothing is pushed */
	ASSERT_EQ(0, pd_config_load(&c, TEST_DATA "/good.conf", err, sizeof(err)));
	EXPECT_EQ(0u, c.sig_set);
	EXPECT_EQ(UINT32_MAX, c.sig_debounce_us);
}

TEST(days_parser)
{
	uint8_t d;
	char buf[64];

	ASSERT_EQ(0, pd_parse_days("Sat,Sun", &d));
	EXPECT_EQ(0x60, d);
	ASSERT_EQ(0, pd_parse_days("all", &d));
	EXPECT_EQ(0x7f, d);
	ASSERT_EQ(0, pd_parse_days("Sun-Tue", &d));
	EXPECT_EQ(0x43, d);
	EXPECT_STREQ("Mon,Tue,Sun", pd_days_str(d, buf, sizeof(buf)));
	EXPECT_EQ(-1, pd_parse_days("Mon,", &d));
	EXPECT_EQ(-1, pd_parse_days("", &d));
	EXPECT_EQ(-1, pd_parse_days("Monday", &d));
}

TEST_HARNESS_MAIN
