// SPDX-License-Identifier: GPL-2.0
/*
 * libphloem nl without the kernel family: replies and events are built with
 * libnl exactly as the kernel lays them out (uapi/linux/phloem.h) and fed to
 * the library's parsers; malformed ones must be refused. Opening the family
 * on a kernel without phloem.ko must fail with -ENOENT (a clear error, never
 * a silent fallback).
 */
#include <errno.h>
#include <string.h>

#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "kselftest_harness.h"
#include "nl/phloem_nl.h"

static struct nl_msg *new_msg(uint8_t cmd)
{
	struct nl_msg *m = nlmsg_alloc();

	if (m)
		genlmsg_put(m, 0, 1, 0x20, 0, 0, cmd, PHLOEM_GENL_VERSION);
	return m;
}

/* One device: v0 + i0 (site) + i1 (garage), relays ev and fridge. */
static struct nl_msg *device_msg(int bad)
{
	struct nl_msg *m = new_msg(PHLOEM_CMD_GET_DEVICE);
	struct nlattr *l, *it;

	if (bad != 1)
		nla_put_u32(m, PHLOEM_A_DEV_INDEX, 0);
	nla_put_string(m, PHLOEM_A_DEV_NAME, "phloem0");
	nla_put_u32(m, PHLOEM_A_DEV_STATE, PHLOEM_STATE_F_LEASED);
	nla_put_u32(m, PHLOEM_A_DEV_MAINS_HZ, 50);
	nla_put_u32(m, PHLOEM_A_DEV_FREQ_MHZ, 49987);
	nla_put_u32(m, PHLOEM_A_DEV_VRMS_MV, 231500);
	nla_put_u32(m, PHLOEM_A_DEV_SITE_P_MW, (uint32_t)-1500000);
	nla_put_u32(m, PHLOEM_A_DEV_LEASE_LEFT_MS, 25000);
	nla_put_u32(m, PHLOEM_A_DEV_SAMPLE_RATE_HZ, 4000);
	nla_put_u32(m, PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW, 9000000);
	l = nla_nest_start(m, PHLOEM_A_DEV_CHANNELS);
	for (uint32_t i = 0; i < 3; i++) {
		it = nla_nest_start(m, PHLOEM_A_LIST_CHANNEL);
		nla_put_u32(m, PHLOEM_A_CHAN_INDEX, bad == 3 && i == 2 ? PHLOEM_MAX_CHANNELS : i);
		nla_put_string(m, PHLOEM_A_CHAN_NAME, i == 0 ? "v0" : i == 1 ? "i0" : "i1");
		nla_put_u32(m, PHLOEM_A_CHAN_KIND, i ? PHLOEM_CHAN_CURRENT : PHLOEM_CHAN_VOLTAGE);
		nla_put_u32(m, PHLOEM_A_CHAN_CIRCUIT, i ? i - 1 : PHLOEM_NONE);
		nla_put_u32(m, PHLOEM_A_CHAN_RMS, 1000 * i);
		nla_put_u64(m, PHLOEM_A_CHAN_IMPORT_MWH, 123456789012ull * i);
		nla_put_u64(m, PHLOEM_A_CHAN_EXPORT_MWH, 7 * i);
		nla_nest_end(m, it);
	}
	nla_nest_end(m, l);
	l = nla_nest_start(m, PHLOEM_A_DEV_CIRCUITS);
	for (uint32_t i = 0; i < 2; i++) {
		/* bad 2: a relay item inside the circuit list */
		it = nla_nest_start(m, bad == 2 ? PHLOEM_A_LIST_RELAY : PHLOEM_A_LIST_CIRCUIT);
		nla_put_u32(m, PHLOEM_A_CIRCUIT_INDEX, i);
		nla_put_string(m, PHLOEM_A_CIRCUIT_NAME, i ? "garage" : "site");
		nla_put_u32(m, PHLOEM_A_CIRCUIT_CHANNEL, i + 1);
		nla_put_u32(m, PHLOEM_A_CIRCUIT_CURVE, i ? PHLOEM_CURVE_B : PHLOEM_CURVE_C);
		nla_put_u32(m, PHLOEM_A_CIRCUIT_RATING_MA, i ? 32000 : 40000);
		nla_put_u32(m, PHLOEM_A_CIRCUIT_LIMIT_MA, i ? 20000 : 40000);
		nla_put_u32(m, PHLOEM_A_CIRCUIT_BOOT_LIMIT_MA, i ? 32000 : 40000);
		nla_put_u32(m, PHLOEM_A_CIRCUIT_IRMS_MA, 5000 + i);
		nla_put_u32(m, PHLOEM_A_CIRCUIT_HEAT_PERMILLE, 12);
		nla_nest_end(m, it);
	}
	nla_nest_end(m, l);
	l = nla_nest_start(m, PHLOEM_A_DEV_RELAYS);
	for (uint32_t i = 0; i < 2; i++) {
		it = nla_nest_start(m, PHLOEM_A_LIST_RELAY);
		nla_put_u32(m, PHLOEM_A_RELAY_INDEX, i);
		nla_put_string(m, PHLOEM_A_RELAY_NAME, i ? "fridge" : "ev");
		nla_put_u32(m, PHLOEM_A_RELAY_CIRCUIT, 1);
		nla_put_u32(m, PHLOEM_A_RELAY_PRIORITY, i ? 200 : 10);
		nla_put_u32(m, PHLOEM_A_RELAY_FLAGS, i ? PHLOEM_RELAY_F_CRITICAL : 0);
		nla_put_u32(m, PHLOEM_A_RELAY_ON, !i ? 0 : 1);
		nla_put_u32(m, PHLOEM_A_RELAY_REASON, i ? PHLOEM_RELAY_AUTO : PHLOEM_RELAY_SHED);
		nla_put_u32(m, PHLOEM_A_RELAY_LEFT_MS, i ? 0 : 4500);
		nla_put_u32(m, PHLOEM_A_RELAY_SHED_COUNT, i ? 0 : 3);
		nla_put_u32(m, PHLOEM_A_RELAY_LOAD_MA, i ? 0 : 16000);
		nla_put_u32(m, PHLOEM_A_RELAY_MIN_OFF_MS, 300000);
		nla_nest_end(m, it);
	}
	nla_nest_end(m, l);
	return m;
}

TEST(parse_device)
{
	struct nl_msg *m = device_msg(0);
	static struct phloem_nl_device d;
	static struct phloem_info in;
	static struct phloem_status st;

	ASSERT_EQ(0, phloem_nl_parse_device(nlmsg_hdr(m), &d));
	EXPECT_STREQ("phloem0", d.name);
	EXPECT_EQ(-1500000, d.site_p_mw);
	EXPECT_EQ(9000000u, d.site_import_limit_mw);
	ASSERT_EQ(3u, d.nchannels);
	ASSERT_EQ(2u, d.ncircuits);
	ASSERT_EQ(2u, d.nrelays);
	EXPECT_STREQ("i1", d.chan[2].name);
	EXPECT_EQ(2 * 123456789012ull, d.chan[2].import_mwh);
	EXPECT_STREQ("garage", d.circuit[1].name);
	EXPECT_EQ(20000u, d.circuit[1].limit_ma);
	EXPECT_STREQ("fridge", d.relay[1].name);
	EXPECT_EQ((uint32_t)PHLOEM_RELAY_F_CRITICAL, d.relay[1].flags);
	/* into the UAPI structures the daemon uses */
	phloem_nl_device_info(&d, &in);
	EXPECT_EQ(3u, in.nchannels);
	EXPECT_EQ(PHLOEM_CHAN_VOLTAGE, in.chan[0].kind);
	EXPECT_EQ(32000u, in.circuit[1].rating_ma);
	phloem_nl_device_status(&d, &st);
	EXPECT_EQ(PHLOEM_RELAY_SHED, st.relay[0].reason);
	EXPECT_EQ(4500u, st.relay[0].restore_in_ms);
	EXPECT_EQ(5001u, st.circuit[1].irms_ma);
	EXPECT_EQ(2 * 123456789012ull, st.energy[2].import_mwh);
	nlmsg_free(m);
}

/* the mains rules' nest: settings, state, one voltage phase (bad: L4) */
static struct nl_msg *mains_msg(bool bad)
{
	struct nl_msg *m = new_msg(PHLOEM_CMD_GET_DEVICE);
	struct nlattr *n, *l, *it;

	nla_put_u32(m, PHLOEM_A_DEV_INDEX, 0);
	n = nla_nest_start(m, PHLOEM_A_DEV_MAINS);
	nla_put_u32(m, PHLOEM_A_MAINS_NOMINAL_MV, 230000);
	nla_put_u32(m, PHLOEM_A_MAINS_OUTAGE_PCT, 50);
	nla_put_u32(m, PHLOEM_A_MAINS_OUTAGE_RELAYS, 0x10);
	nla_put_u32(m, PHLOEM_A_MAINS_RETURN_STAGGER_MS, 2000);
	nla_put_u32(m, PHLOEM_A_MAINS_UV_SHED_MS, 5000);
	nla_put_u32(m, PHLOEM_A_MAINS_STATE, PHLOEM_MAINS_OUTAGE);
	nla_put_u32(m, PHLOEM_A_MAINS_RETURN_LEFT_MS, 41000);
	nla_put_u32(m, PHLOEM_A_MAINS_OUTAGE_MS, 192000);
	l = nla_nest_start(m, PHLOEM_A_MAINS_PHASES);
	it = nla_nest_start(m, PHLOEM_A_LIST_VOLT);
	nla_put_u32(m, PHLOEM_A_VOLT_PHASE, bad ? PHLOEM_MAX_PHASES : 0);
	nla_put_u32(m, PHLOEM_A_VOLT_CHANNEL, 0);
	nla_put_u32(m, PHLOEM_A_VOLT_RMS_MV, 41200);
	nla_put_u32(m, PHLOEM_A_VOLT_STATE, PHLOEM_VOLT_UNDER);
	nla_nest_end(m, it);
	nla_nest_end(m, l);
	nla_nest_end(m, n);
	return m;
}

TEST(parse_mains)
{
	struct nl_msg *m = mains_msg(false);
	static struct phloem_nl_device d;
	static struct phloem_status st;

	ASSERT_EQ(0, phloem_nl_parse_device(nlmsg_hdr(m), &d));
	EXPECT_TRUE(d.mains.present);
	EXPECT_EQ(230000u, d.mains.cfg.nominal_mv);
	EXPECT_EQ(50u, d.mains.cfg.outage_pct);
	EXPECT_EQ(0u, d.mains.cfg.outage_cycles);	/* absent: 0 */
	EXPECT_EQ(0x10u, d.mains.cfg.outage_relays);
	EXPECT_EQ(2000u, d.mains.cfg.return_stagger_ms);
	EXPECT_EQ(5000u, d.mains.cfg.uv_shed_ms);
	EXPECT_EQ((uint32_t)PHLOEM_MAINS_OUTAGE, d.mains.state);
	EXPECT_EQ(1u, d.mains.phases);
	EXPECT_EQ(41200u, d.mains.rms_mv[0]);
	EXPECT_STREQ("outage", phloem_nl_mains_state_name(d.mains.state));
	EXPECT_STREQ("under", phloem_nl_volt_state_name(d.mains.volt_state[0]));
	phloem_nl_device_status(&d, &st);
	EXPECT_EQ(PHLOEM_MAINS_OUTAGE, st.mains_state);
	EXPECT_EQ(41000u, st.return_left_ms);
	EXPECT_EQ(192000u, d.mains.outage_ms);
	EXPECT_EQ(192000u, st.outage_ms);
	EXPECT_EQ(41200u, st.phase_vrms_mv[0]);
	EXPECT_EQ(PHLOEM_VOLT_UNDER, st.volt_state[0]);
	nlmsg_free(m);
	m = mains_msg(true);
	EXPECT_EQ(-EINVAL, phloem_nl_parse_device(nlmsg_hdr(m), &d));
	nlmsg_free(m);
}

TEST(fmt_measure_volts)
{
	char b[80];

	EXPECT_STREQ("41.2 V < 115.0 V", phloem_nl_fmt_measure("outage", 41200, 115000, b, sizeof(b)));
	EXPECT_STREQ("41.2 V", phloem_nl_fmt_measure("outage", 41200, 0, b, sizeof(b)));
	EXPECT_STREQ("255.0 V > 253.0 V",
		     phloem_nl_fmt_measure("over-voltage", 255000, 253000, b, sizeof(b)));
}

TEST(refuse_missing_index)
{
	struct nl_msg *m = device_msg(1);
	static struct phloem_nl_device d;

	EXPECT_EQ(-EINVAL, phloem_nl_parse_device(nlmsg_hdr(m), &d));
	nlmsg_free(m);
}

TEST(refuse_wrong_list_item)
{
	struct nl_msg *m = device_msg(2);
	static struct phloem_nl_device d;

	EXPECT_EQ(-EINVAL, phloem_nl_parse_device(nlmsg_hdr(m), &d));
	nlmsg_free(m);
}

TEST(refuse_index_out_of_range)
{
	struct nl_msg *m = device_msg(3);
	static struct phloem_nl_device d;

	EXPECT_EQ(-EINVAL, phloem_nl_parse_device(nlmsg_hdr(m), &d));
	nlmsg_free(m);
}

TEST(refuse_wrong_type)
{
	struct nl_msg *m = new_msg(PHLOEM_CMD_GET_DEVICE);
	static struct phloem_nl_device d;

	/* a u32 attribute sent as a u8 */
	nla_put_u8(m, PHLOEM_A_DEV_INDEX, 0);
	EXPECT_EQ(-EINVAL, phloem_nl_parse_device(nlmsg_hdr(m), &d));
	nlmsg_free(m);
}

TEST(parse_event)
{
	struct nl_msg *m = new_msg(PHLOEM_CMD_EVENT);
	struct phloem_rec_event ev;
	struct nlattr *n;
	uint64_t t;
	uint32_t dev;

	nla_put_u32(m, PHLOEM_A_DEV_INDEX, 2);
	n = nla_nest_start(m, PHLOEM_A_EVENT);
	nla_put_u32(m, PHLOEM_A_EV_KIND, PHLOEM_EV_SHED);
	nla_put_u32(m, PHLOEM_A_EV_CAUSE, PHLOEM_CAUSE_THERMAL);
	nla_put_u64(m, PHLOEM_A_EV_TIME_NS, 1000000123ull);
	nla_put_u64(m, PHLOEM_A_EV_TRIGGER_NS, 999000000ull);
	nla_put_u64(m, PHLOEM_A_EV_LATENCY_NS, 45000);
	nla_put_u32(m, PHLOEM_A_EV_VALUE, 26000);
	nla_put_u32(m, PHLOEM_A_EV_LIMIT, 25000);
	nla_put_u32(m, PHLOEM_A_EV_BACKOFF, 2);
	nla_put_u32(m, PHLOEM_A_EV_RELAY, 3);
	nla_put_u32(m, PHLOEM_A_EV_CIRCUIT, 1);
	nla_nest_end(m, n);
	ASSERT_EQ(0, phloem_nl_parse_event(nlmsg_hdr(m), &dev, &ev, &t));
	EXPECT_EQ(2u, dev);
	EXPECT_EQ(PHLOEM_EV_SHED, ev.kind);
	EXPECT_EQ(PHLOEM_CAUSE_THERMAL, ev.cause);
	EXPECT_EQ(1000000123ull, t);
	EXPECT_EQ(45000ull, ev.latency_ns);
	EXPECT_EQ(3, ev.relay);
	EXPECT_EQ(1, ev.circuit);
	EXPECT_EQ(PHLOEM_NONE, ev.channel);	/* absent: none */
	EXPECT_EQ(2, ev.backoff);
	EXPECT_STREQ("shed", phloem_nl_event_name(ev.kind));
	EXPECT_STREQ("thermal", phloem_nl_cause_name(ev.cause));
	EXPECT_STREQ("?", phloem_nl_event_name(__PHLOEM_EV_MAX));
	nlmsg_free(m);
}

TEST(refuse_event_without_kind)
{
	struct nl_msg *m = new_msg(PHLOEM_CMD_EVENT);
	struct phloem_rec_event ev;
	struct nlattr *n;
	uint64_t t;
	uint32_t dev;

	nla_put_u32(m, PHLOEM_A_DEV_INDEX, 0);
	n = nla_nest_start(m, PHLOEM_A_EVENT);
	nla_put_u32(m, PHLOEM_A_EV_CAUSE, PHLOEM_CAUSE_THERMAL);
	nla_nest_end(m, n);
	EXPECT_EQ(-EINVAL, phloem_nl_parse_event(nlmsg_hdr(m), &dev, &ev, &t));
	nlmsg_free(m);
}

TEST(parse_stats)
{
	struct nl_msg *m = new_msg(PHLOEM_CMD_GET_STATS);
	static struct phloem_stats st;
	struct nlattr *s, *h, *b;

	nla_put_u32(m, PHLOEM_A_DEV_INDEX, 0);
	s = nla_nest_start(m, PHLOEM_A_STATS);
	nla_put_u64(m, PHLOEM_A_STATS_SAMPLES, 4000000);
	nla_put_u64(m, PHLOEM_A_STATS_SHEDS, 17);
	nla_put_u64(m, PHLOEM_A_STATS_LAT_SUM_NS, 999);
	h = nla_nest_start(m, PHLOEM_A_STATS_LAT_HIST);
	for (int i = 0; i < 2; i++) {
		b = nla_nest_start(m, PHLOEM_A_LIST_BUCKET);
		nla_put_u64(m, PHLOEM_A_BUCKET_BOUND_NS, 1000u << i);
		nla_put_u64(m, PHLOEM_A_BUCKET_COUNT, 5 + i);
		nla_nest_end(m, b);
	}
	nla_nest_end(m, h);
	nla_nest_end(m, s);
	ASSERT_EQ(0, phloem_nl_parse_stats(nlmsg_hdr(m), &st));
	EXPECT_EQ(4000000ull, st.samples);
	EXPECT_EQ(17ull, st.sheds);
	EXPECT_EQ(999ull, st.lat_sum_ns);
	EXPECT_EQ(2000ull, st.lat_bound_ns[1]);
	EXPECT_EQ(6ull, st.lat_hist[1]);
	nlmsg_free(m);
}

TEST(open_without_family)
{
	struct phloem_nl *nl = NULL;
	int err = phloem_nl_open(&nl);

	if (err == 0) {
		phloem_nl_close(nl);
		SKIP(return, "the phloem family is registered (phloem.ko loaded)");
	}
	EXPECT_EQ(-ENOENT, err);
}

TEST_HARNESS_MAIN
