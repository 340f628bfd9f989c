// SPDX-License-Identifier: GPL-2.0
/*
 * phloem ioctls against the real driver bound to the simulated HAT:
 * valid calls, every rejected field (-EINVAL, configuration byte-equal
 * before and after), unknown commands (-ENOTTY) and privilege (-EPERM for
 * writes once CAP_NET_ADMIN is gone, reads still allowed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "kselftest_harness.h"
#include "phloem_util.h"

#define NEED_DEV() do { if (!self->ok) SKIP(return, "%s absent", PH_DEV); } while (0)

FIXTURE(ioc) {
	bool ok;
	int fd;
	struct phloem_info info;
	struct phloem_config cfg;	/* in force at setup */
};

FIXTURE_SETUP(ioc)
{
	self->fd = -1;
	if (!ph_present())
		SKIP(return, "%s absent (phloem.ko + phloem_sim.ko not loaded)", PH_DEV);
	self->fd = ph_open(O_RDWR);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", PH_DEV, strerror(-self->fd));
	ASSERT_EQ(0, ph_info(self->fd, &self->info));
	ASSERT_EQ(0, ph_get_config(self->fd, &self->cfg));
	self->ok = true;
}

FIXTURE_TEARDOWN(ioc)
{
	if (self->fd >= 0) {
		/* Leave what the next test expects: the configuration of setup. */
		ph_override(self->fd, 0, PHLOEM_OVERRIDE_AUTO, 0);
		ph_set_config(self->fd, &self->cfg);
		close(self->fd);
	}
}

TEST_F(ioc, info_topology)
{
	const struct phloem_info *i = &self->info;
	static const char *const relay[] = {
		"ev", "garage-heater", "dishwasher", "oven", "fridge",
		"heatpump", "water-heater", "lights",
	};
	static const unsigned int rating[] = { 40000, 16000, 32000, 20000 };
	unsigned int r;

	NEED_DEV();
	EXPECT_EQ(PHLOEM_ABI_VERSION, i->abi_version);
	EXPECT_STREQ("phloem0", i->name);
	EXPECT_EQ(PHLOEM_RECORD_SIZE, i->record_size);
	EXPECT_EQ(PHLOEM_RING_RECORDS, i->ring_records);
	EXPECT_EQ(50, i->mains_hz);
	ASSERT_EQ(SIM_NCHANNELS, i->nchannels);
	ASSERT_EQ(SIM_NCIRCUITS, i->ncircuits);
	ASSERT_EQ(SIM_NRELAYS, i->nrelays);
	EXPECT_STREQ("v0", i->chan[CH_V0].name);
	EXPECT_EQ(PHLOEM_CHAN_VOLTAGE, i->chan[CH_V0].kind);
	EXPECT_STREQ("i2", i->chan[CH_GARAGE].name);
	EXPECT_EQ(PHLOEM_CHAN_CURRENT, i->chan[CH_GARAGE].kind);
	EXPECT_EQ(CIR_GARAGE, i->chan[CH_GARAGE].circuit);
	EXPECT_EQ(12, i->chan[CH_SITE].bits);
	EXPECT_STREQ("site", i->circuit[CIR_SITE].name);
	for (r = 0; r < SIM_NCIRCUITS; r++) {
		EXPECT_EQ(rating[r], i->circuit[r].rating_ma) TH_LOG("circuit %u", r);
		EXPECT_EQ(r + 1, i->circuit[r].channel) TH_LOG("circuit %u", r);
	}
	for (r = 0; r < SIM_NRELAYS; r++) {
		EXPECT_STREQ(relay[r], i->relay[r].name);
		EXPECT_EQ(r == R_FRIDGE || r == R_LIGHTS, i->relay[r].safe_state)
			TH_LOG("relay %u", r);
	}
}

TEST_F(ioc, read_ioctls_valid)
{
	struct phloem_status st;
	struct phloem_stats sx;
	struct phloem_config c;
	unsigned int r;

	NEED_DEV();
	ASSERT_EQ(0, ph_get_config(self->fd, &c));
	EXPECT_EQ(SIM_NCHANNELS, c.nchannels);
	EXPECT_EQ(SIM_NRELAYS, c.nrelays);
	EXPECT_EQ(4000, c.sample_rate_hz);
	EXPECT_EQ(100, c.stale_ms);
	for (r = 0; r < SIM_NCIRCUITS; r++) {
		EXPECT_GE(self->info.circuit[r].rating_ma, c.circuit[r].limit_ma);
		EXPECT_EQ(125, c.circuit[r].inst_pct);
	}
	EXPECT_EQ(10, c.relay[R_EV].priority);
	EXPECT_EQ(CIR_GARAGE, c.relay[R_EV].circuit);
	EXPECT_EQ(PHLOEM_RELAY_F_CRITICAL, c.relay[R_FRIDGE].flags);
	EXPECT_EQ(PHLOEM_RELAY_F_CRITICAL, c.relay[R_LIGHTS].flags);
	EXPECT_EQ(2000, c.relay[R_OVEN].min_off_ms);

	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_NE(0, st.time_ns);
	ASSERT_EQ(0, ph_stats(self->fd, &sx));
	EXPECT_LT(0, sx.samples);
	EXPECT_EQ(~0ULL, sx.lat_bound_ns[PHLOEM_LAT_BUCKETS - 1]);
	for (r = 1; r < PHLOEM_LAT_BUCKETS; r++) {
		EXPECT_LT(sx.lat_bound_ns[r - 1], sx.lat_bound_ns[r]) TH_LOG("bucket %u", r);
	}
}

/* A larger structure from a newer userspace: fine while the tail is zero. */
TEST_F(ioc, larger_struct_zero_tail)
{
	struct { struct phloem_config c; unsigned char tail[64]; } big;
	struct phloem_config after;

	NEED_DEV();
	memset(&big, 0, sizeof(big));
	big.c = self->cfg;
	big.c.size = sizeof(big);
	big.c.circuit[CIR_GARAGE].limit_ma = 30000;
	EXPECT_EQ(0, ph_ioctl(self->fd, PHLOEM_IOC_SET_CONFIG, &big));
	ASSERT_EQ(0, ph_get_config(self->fd, &after));
	EXPECT_EQ(30000, after.circuit[CIR_GARAGE].limit_ma);

	big.tail[17] = 1;
	big.c.circuit[CIR_GARAGE].limit_ma = 25000;
	EXPECT_EQ(-EINVAL, ph_ioctl(self->fd, PHLOEM_IOC_SET_CONFIG, &big));
	ASSERT_EQ(0, ph_get_config(self->fd, &after));
	EXPECT_EQ(30000, after.circuit[CIR_GARAGE].limit_ma);
}

TEST_F(ioc, set_config_roundtrip)
{
	struct phloem_config c = self->cfg, after;

	NEED_DEV();
	c.circuit[CIR_KITCHEN].limit_ma = 12000;
	c.circuit[CIR_KITCHEN].thermal_pct = 20;
	c.relay[R_OVEN].priority = 5;
	c.relay[R_OVEN].min_off_ms = 500;
	c.restore_delay_ms = 300;
	ASSERT_EQ(0, ph_set_config(self->fd, &c));
	ASSERT_EQ(0, ph_get_config(self->fd, &after));
	EXPECT_EQ(0, memcmp(&c, &after, sizeof(c)));
}

TEST_F(ioc, bad_sizes_all_commands)
{
	static const unsigned long cmds[] = {
		PHLOEM_IOC_INFO, PHLOEM_IOC_GET_CONFIG, PHLOEM_IOC_SET_CONFIG,
		PHLOEM_IOC_OVERRIDE, PHLOEM_IOC_LEASE, PHLOEM_IOC_GET_STATUS,
		PHLOEM_IOC_GET_STATS,
	};
	static const uint32_t sizes[] = { 0, 4, 8, 15 };
	unsigned char buf[sizeof(struct phloem_info) + 64];
	struct phloem_config after;
	unsigned int c, s;

	NEED_DEV();
	for (c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
		/*
		 * The status, the configuration and the topology grew
		 * (issue 17): their VER0 is the floor, every size from it
		 * up is accepted.
		 */
		uint32_t full = cmds[c] == PHLOEM_IOC_GET_STATUS ?
				PHLOEM_STATUS_SIZE_VER0 :
				cmds[c] == PHLOEM_IOC_INFO ?
				PHLOEM_INFO_SIZE_VER0 :
				cmds[c] == PHLOEM_IOC_GET_CONFIG ||
				cmds[c] == PHLOEM_IOC_SET_CONFIG ?
				PHLOEM_CONFIG_SIZE_VER0 : _IOC_SIZE(cmds[c]);

		for (s = 0; s <= sizeof(sizes) / sizeof(sizes[0]); s++) {
			uint32_t sz = s < 4 ? sizes[s] : full - 1;

			memset(buf, 0, sizeof(buf));
			memcpy(buf, &sz, sizeof(sz));
			EXPECT_EQ(-EINVAL, ph_ioctl(self->fd, cmds[c], buf))
				TH_LOG("cmd nr %u size %u", (unsigned int)_IOC_NR(cmds[c]), sz);
		}
	}
	ASSERT_EQ(0, ph_get_config(self->fd, &after));
	EXPECT_EQ(0, memcmp(&self->cfg, &after, sizeof(after)));
}

TEST_F(ioc, unknown_commands)
{
	unsigned char buf[4096] = { 0 };
	struct phloem_config after;

	NEED_DEV();
	EXPECT_EQ(-ENOTTY, ph_ioctl(self->fd, _IO(PHLOEM_IOC_MAGIC, 0x7f), buf));
	EXPECT_EQ(-ENOTTY, ph_ioctl(self->fd, _IOR(PHLOEM_IOC_MAGIC, 0x07, struct phloem_stats), buf));
	EXPECT_EQ(-ENOTTY, ph_ioctl(self->fd, _IOR(PHLOEM_IOC_MAGIC + 1, 0x00, struct phloem_info), buf));
	/* Right number, wrong direction: not our command. (The encoded size
	 * is not compared on purpose: the size lives in the structure, so a
	 * newer, larger structure keeps working with the same number.) */
	EXPECT_EQ(-ENOTTY, ph_ioctl(self->fd, _IOW(PHLOEM_IOC_MAGIC, 0x00, struct phloem_info), buf));
	EXPECT_EQ(-ENOTTY, ph_ioctl(self->fd, _IOR(PHLOEM_IOC_MAGIC, 0x02, struct phloem_config), buf));
	EXPECT_EQ(-ENOTTY, ph_ioctl(self->fd, _IO(PHLOEM_IOC_MAGIC, 0x05), buf));
	ASSERT_EQ(0, ph_get_config(self->fd, &after));
	EXPECT_EQ(0, memcmp(&self->cfg, &after, sizeof(after)));
}

/* ---- SET_CONFIG: every rejected field, one per variant ---- */

FIXTURE(cfg_bad) {
	bool ok;
	int fd;
	struct phloem_info info;
	struct phloem_config cfg;
};

FIXTURE_VARIANT(cfg_bad) {
	void (*mutate)(struct phloem_config *c, const struct phloem_info *i);
};

FIXTURE_SETUP(cfg_bad)
{
	self->fd = -1;
	if (!ph_present())
		SKIP(return, "%s absent", PH_DEV);
	self->fd = ph_open(O_RDWR);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ph_info(self->fd, &self->info));
	ASSERT_EQ(0, ph_get_config(self->fd, &self->cfg));
	self->ok = true;
}

FIXTURE_TEARDOWN(cfg_bad)
{
	if (self->fd >= 0)
		close(self->fd);
}

#define BAD_CFG(name, stmt)						\
	static void mut_##name(struct phloem_config *c,		\
			       const struct phloem_info *i)		\
	{ (void)i; stmt; }						\
	FIXTURE_VARIANT_ADD(cfg_bad, name) { .mutate = mut_##name }

BAD_CFG(flags_unknown, c->flags = 1);
BAD_CFG(flags_high, c->flags = 0x80000000u);
BAD_CFG(reserved0, c->reserved[0] = 1);
BAD_CFG(reserved3, c->reserved[3] = 0x100);
BAD_CFG(rate_low, c->sample_rate_hz = PHLOEM_RATE_MIN_HZ - 1);
BAD_CFG(rate_high, c->sample_rate_hz = PHLOEM_RATE_MAX_HZ + 1);
BAD_CFG(rate_zero, c->sample_rate_hz = 0);
BAD_CFG(grace_high, c->site_import_grace_ms = 600001);
BAD_CFG(restore_delay_high, c->restore_delay_ms = 3600001);
BAD_CFG(retrip_high, c->retrip_window_ms = 86400001);
BAD_CFG(backoff_high, c->backoff_max = 11);
BAD_CFG(stale_zero, c->stale_ms = 0);
BAD_CFG(stale_high, c->stale_ms = 10001);
BAD_CFG(nchannels, c->nchannels = i->nchannels + 1);
BAD_CFG(ncircuits, c->ncircuits = i->ncircuits - 1);
BAD_CFG(nrelays, c->nrelays = PHLOEM_MAX_RELAYS + 1);
BAD_CFG(cal_scale_zero, c->cal[CH_GARAGE].scale_uunit = 0);
BAD_CFG(cal_scale_high, c->cal[CH_V0].scale_uunit = 100000001);
BAD_CFG(cal_offset_high, c->cal[CH_SITE].offset_lsb = 1u << i->chan[CH_SITE].bits);
BAD_CFG(cal_phase_high, c->cal[CH_KITCHEN].phase_mdeg = 20001);
BAD_CFG(cal_phase_low, c->cal[CH_KITCHEN].phase_mdeg = -20001);
BAD_CFG(cal_reserved, c->cal[CH_HEATING].reserved = 1);
BAD_CFG(limit_zero, c->circuit[CIR_GARAGE].limit_ma = 0);
BAD_CFG(limit_above_rating, c->circuit[CIR_GARAGE].limit_ma = i->circuit[CIR_GARAGE].rating_ma + 1);
BAD_CFG(site_limit_above_rating, c->circuit[CIR_SITE].limit_ma = i->circuit[CIR_SITE].rating_ma + 1000);
BAD_CFG(inst_low, c->circuit[CIR_KITCHEN].inst_pct = 104);
BAD_CFG(inst_high, c->circuit[CIR_KITCHEN].inst_pct = 1001);
BAD_CFG(thermal_low, c->circuit[CIR_HEATING].thermal_pct = 4);
BAD_CFG(thermal_high, c->circuit[CIR_HEATING].thermal_pct = 91);
BAD_CFG(restore_low, c->circuit[CIR_SITE].restore_pct = 9);
BAD_CFG(restore_high, c->circuit[CIR_SITE].restore_pct = 101);
BAD_CFG(max_hold_high, c->circuit[CIR_GARAGE].max_hold_s = PHLOEM_MAX_HOLD_MAX_S + 1);
BAD_CFG(relay_circuit_missing, c->relay[R_EV].circuit = i->ncircuits);
BAD_CFG(relay_circuit_none, c->relay[R_OVEN].circuit = PHLOEM_NONE);
BAD_CFG(relay_circuit_site, c->relay[R_DISHWASHER].circuit = CIR_SITE);
BAD_CFG(relay_flags_unknown, c->relay[R_HEATPUMP].flags = 2);
BAD_CFG(relay_reserved, c->relay[R_LIGHTS].reserved = 1);
BAD_CFG(relay_min_off_high, c->relay[R_EV].min_off_ms = 3600001);
/* Entries past nrelays/ncircuits are not in use: they must stay zero. */
BAD_CFG(unused_relay_nonzero, c->relay[SIM_NRELAYS].priority = 1);
BAD_CFG(unused_circuit_nonzero, c->circuit[SIM_NCIRCUITS].limit_ma = 1000);
BAD_CFG(unused_cal_nonzero, c->cal[SIM_NCHANNELS].scale_uunit = 1000);

TEST_F(cfg_bad, rejected_and_unchanged)
{
	struct phloem_config bad = self->cfg, after;

	NEED_DEV();
	variant->mutate(&bad, &self->info);
	ASSERT_NE(0, memcmp(&bad, &self->cfg, sizeof(bad)));
	EXPECT_EQ(-EINVAL, ph_set_config(self->fd, &bad));
	ASSERT_EQ(0, ph_get_config(self->fd, &after));
	EXPECT_EQ(0, memcmp(&self->cfg, &after, sizeof(after)))
		TH_LOG("configuration changed by a rejected SET_CONFIG");
}

/* ---- OVERRIDE and LEASE: valid and each rejected field ---- */

TEST_F(ioc, override_valid)
{
	struct phloem_status st;
	uint32_t relays = 0;
	int i;

	NEED_DEV();
	ASSERT_EQ(0, ph_override(self->fd, R_DISHWASHER, PHLOEM_OVERRIDE_OFF, 400));
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_EQ(0, st.relay[R_DISHWASHER].on);
	EXPECT_EQ(PHLOEM_RELAY_MANUAL, st.relay[R_DISHWASHER].reason);
	EXPECT_EQ(PHLOEM_OVERRIDE_OFF, st.relay[R_DISHWASHER].override);
	EXPECT_GE(400, st.relay[R_DISHWASHER].restore_in_ms);
	ASSERT_EQ(0, sim_relays(&relays));
	EXPECT_EQ(0, relays & (1u << R_DISHWASHER));
	/* expiry: automatic again within 400 ms (+ generous TCG slack) */
	for (i = 0; i < 300; i++) {
		ASSERT_EQ(0, ph_status(self->fd, &st));
		if (st.relay[R_DISHWASHER].on)
			break;
		ph_sleep_ms(10);
	}
	EXPECT_EQ(1, st.relay[R_DISHWASHER].on);
	EXPECT_EQ(PHLOEM_OVERRIDE_AUTO, st.relay[R_DISHWASHER].override);

	ASSERT_EQ(0, ph_override(self->fd, R_HEATPUMP, PHLOEM_OVERRIDE_OFF, 60000));
	ASSERT_EQ(0, ph_override(self->fd, R_HEATPUMP, PHLOEM_OVERRIDE_AUTO, 0));
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_EQ(1, st.relay[R_HEATPUMP].on);
	EXPECT_EQ(PHLOEM_OVERRIDE_AUTO, st.relay[R_HEATPUMP].override);
}

static void check_bad_override(struct __test_metadata *_metadata, int fd,
			       const struct phloem_config *cfg,
			       struct phloem_override o, const char *what)
{
	struct phloem_status before, after;
	struct phloem_config c;

	ASSERT_EQ(0, ph_status(fd, &before));
	EXPECT_EQ(-EINVAL, ph_ioctl(fd, PHLOEM_IOC_OVERRIDE, &o)) TH_LOG("%s", what);
	ASSERT_EQ(0, ph_status(fd, &after));
	ASSERT_EQ(0, ph_get_config(fd, &c));
	EXPECT_EQ(0, memcmp(cfg, &c, sizeof(c))) TH_LOG("%s", what);
	for (unsigned int r = 0; r < SIM_NRELAYS; r++) {
		EXPECT_EQ(before.relay[r].override, after.relay[r].override)
			TH_LOG("%s: relay %u", what, r);
	}
}

TEST_F(ioc, override_invalid)
{
	const struct phloem_override ok = {
		.size = sizeof(ok), .relay = R_OVEN, .mode = PHLOEM_OVERRIDE_OFF,
		.expiry_ms = 1000,
	};
	struct phloem_override o;

	NEED_DEV();
#define BAD(stmt, what) do { o = ok; stmt; \
	check_bad_override(_metadata, self->fd, &self->cfg, o, what); } while (0)
	BAD(o.size = 0, "size 0");
	BAD(o.size = sizeof(o) - 1, "size short");
	BAD(o.flags = 1, "unknown flag");
	BAD(o.reserved = 1, "reserved");
	BAD(o.relay = SIM_NRELAYS, "relay == nrelays");
	BAD(o.relay = PHLOEM_NONE, "relay none");
	BAD(o.mode = __PHLOEM_OVERRIDE_MAX, "mode out of range");
	BAD(o.mode = 0xff, "mode 255");
	BAD(o.expiry_ms = 0, "expiry 0");
	BAD(o.expiry_ms = 86400001, "expiry too long");
#undef BAD
}

TEST_F(ioc, lease_valid)
{
	struct phloem_status st;

	NEED_DEV();
	ASSERT_EQ(0, ph_lease(self->fd, 5000));
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_LEASED);
	EXPECT_GE(5000, st.lease_left_ms);
	EXPECT_LT(3000, st.lease_left_ms);
	ASSERT_EQ(0, ph_lease(self->fd, 0));
	ASSERT_EQ(0, ph_status(self->fd, &st));
	EXPECT_FALSE(st.state & PHLOEM_STATE_F_LEASED);
	EXPECT_TRUE(st.state & PHLOEM_STATE_F_BOOT_LIMITS);
	EXPECT_EQ(0, st.lease_left_ms);
}

TEST_F(ioc, lease_invalid)
{
	const struct phloem_lease ok = { .size = sizeof(ok), .timeout_ms = 1000 };
	struct phloem_status before, after;
	struct phloem_lease l;
	struct phloem_config c;
	int k;

	NEED_DEV();
	for (k = 0; k < 7; k++) {
		l = ok;
		switch (k) {
		case 0: l.size = 0; break;
		case 1: l.size = sizeof(l) - 4; break;
		case 2: l.flags = 1; break;
		case 3: l.reserved = 1; break;
		case 4: l.timeout_ms = 99; break;
		case 5: l.timeout_ms = 600001; break;
		case 6: l.timeout_ms = 1; break;
		}
		ASSERT_EQ(0, ph_status(self->fd, &before));
		EXPECT_EQ(-EINVAL, ph_ioctl(self->fd, PHLOEM_IOC_LEASE, &l)) TH_LOG("case %d", k);
		ASSERT_EQ(0, ph_status(self->fd, &after));
		EXPECT_EQ(before.state & PHLOEM_STATE_F_LEASED,
			  after.state & PHLOEM_STATE_F_LEASED) TH_LOG("case %d", k);
		ASSERT_EQ(0, ph_get_config(self->fd, &c));
		EXPECT_EQ(0, memcmp(&self->cfg, &c, sizeof(c))) TH_LOG("case %d", k);
	}
}

/* ---- privilege: an fd opened by root, used after dropping privilege ---- */

FIXTURE(priv) {
	bool ok;
	int fd;
	struct phloem_config cfg;
};

FIXTURE_VARIANT(priv) {
	int drop;	/* 0: keep, 1: capset without CAP_NET_ADMIN, 2: setuid nobody */
};
FIXTURE_VARIANT_ADD(priv, root) { .drop = 0 };
FIXTURE_VARIANT_ADD(priv, no_cap_net_admin) { .drop = 1 };
FIXTURE_VARIANT_ADD(priv, nobody) { .drop = 2 };

FIXTURE_SETUP(priv)
{
	self->fd = -1;
	if (!ph_present())
		SKIP(return, "%s absent", PH_DEV);
	self->fd = ph_open(O_RDWR);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ph_get_config(self->fd, &self->cfg));
	self->ok = true;
}

/*
 * The test body runs in its own child process, so the dropped privilege
 * is gone with it; a second root fd undoes what the root variant changed.
 */
FIXTURE_TEARDOWN(priv)
{
	int fd = ph_open(O_RDWR);

	if (fd >= 0 && self->ok) {
		ph_set_config(fd, &self->cfg);
		ph_override(fd, R_EV, PHLOEM_OVERRIDE_AUTO, 0);
	}
	if (fd >= 0)
		close(fd);
	if (self->fd >= 0)
		close(self->fd);
}

static int drop_net_admin(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	unsigned int w = CAP_NET_ADMIN / 32, b = 1u << (CAP_NET_ADMIN % 32);

	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[w].effective &= ~b;
	d[w].permitted &= ~b;
	d[w].inheritable &= ~b;
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

TEST_F(priv, writes_need_cap_net_admin)
{
	struct phloem_config c = self->cfg, after;
	struct phloem_status st;
	struct phloem_stats sx;
	struct phloem_info in;
	struct phloem_record rec;
	int fd2;
	int want = variant->drop ? -EPERM : 0;

	NEED_DEV();
	if (variant->drop == 1)
		ASSERT_EQ(0, drop_net_admin());
	if (variant->drop == 2)
		ASSERT_EQ(0, setuid(65534));

	/* reads: allowed whatever the caller's privilege */
	EXPECT_EQ(0, ph_info(self->fd, &in));
	EXPECT_EQ(0, ph_get_config(self->fd, &after));
	EXPECT_EQ(0, ph_status(self->fd, &st));
	EXPECT_EQ(0, ph_stats(self->fd, &sx));
	EXPECT_EQ(1, ph_read_rec(self->fd, &rec, 2000));

	/* writes: valid arguments, refused without CAP_NET_ADMIN */
	c.circuit[CIR_GARAGE].limit_ma = 20000;
	EXPECT_EQ(want, ph_set_config(self->fd, &c));
	EXPECT_EQ(want, ph_override(self->fd, R_EV, PHLOEM_OVERRIDE_OFF, 300));
	EXPECT_EQ(want, ph_override(self->fd, R_EV, PHLOEM_OVERRIDE_AUTO, 0));
	EXPECT_EQ(want, ph_lease(self->fd, 0));
	ASSERT_EQ(0, ph_get_config(self->fd, &after));
	if (want) {
		EXPECT_EQ(0, memcmp(&self->cfg, &after, sizeof(after)));
	} else {
		EXPECT_EQ(20000, after.circuit[CIR_GARAGE].limit_ma);
	}
	/* a second file opened after the drop reads fine too */
	if (variant->drop != 2) {
		fd2 = ph_open(O_RDONLY);
		EXPECT_LE(0, fd2);
		if (fd2 >= 0) {
			EXPECT_EQ(0, ph_status(fd2, &st));
			close(fd2);
		}
	}
}

TEST_HARNESS_MAIN
