// SPDX-License-Identifier: GPL-2.0
/*
 * libsunspec (agent/lib/sunspec/): the marker, the model chain walk, points
 * decoded with their scale factors exactly, "not implemented" values as
 * unknown, encoding refused out of range, and the served meter map read
 * back through the same decoder a client uses.
 */
#include <errno.h>
#include <string.h>

#include "kselftest_harness.h"
#include "sunspec/sunspec.h"

static const struct sunspec_point *pt(uint16_t id, const char *n)
{
	return sunspec_point(sunspec_model_def(id), n);
}

TEST(marker)
{
	uint16_t ok[2] = { 0x5375, 0x6e53 }, bad[2] = { 0x5375, 0x6e54 };

	EXPECT_TRUE(sunspec_is_marker(ok));
	EXPECT_FALSE(sunspec_is_marker(bad));
}

TEST(offsets_from_the_json_models)
{
	/* spot checks against json/model_<N>.json of sunspec/models */
	EXPECT_EQ(14, pt(103, "W")->off);
	EXPECT_EQ(15, pt(103, "W_SF")->off);
	EXPECT_EQ(15, pt(103, "W")->sf_off);
	EXPECT_EQ(24, pt(101, "WH")->off);
	EXPECT_EQ(SS_ACC32, pt(101, "WH")->type);
	EXPECT_EQ(18, pt(203, "W")->off);
	EXPECT_EQ(46, pt(203, "TotWhImp")->off);
	EXPECT_EQ(54, pt(203, "TotWh_SF")->off);
	EXPECT_EQ(5, pt(123, "WMaxLimPct")->off);
	EXPECT_EQ(23, pt(123, "WMaxLimPct_SF")->off);
	EXPECT_EQ(8, pt(124, "ChaState")->off);
	EXPECT_EQ(13, pt(124, "InWRte")->off);
	EXPECT_EQ(10, pt(701, "W")->off);
	EXPECT_EQ(116, pt(701, "W_SF")->off);
	EXPECT_EQ(24, pt(704, "WSet")->off);
	EXPECT_EQ(SS_INT32, pt(704, "WSet")->type);
	EXPECT_EQ(11, pt(802, "SoC")->off);
	EXPECT_EQ(66, sunspec_model_def(1)->len);
	EXPECT_EQ(105, sunspec_model_def(201)->len);
	EXPECT_EQ(50, sunspec_model_def(103)->len);
}

TEST(chain_walk)
{
	struct sunspec_chain c = { .base = 40000 };
	uint16_t next, h1[2] = { 1, 66 }, h2[2] = { 103, 50 }, h3[2] = { 64001, 7 },
		 end[2] = { 0xFFFF, 0 };

	ASSERT_EQ(SUNSPEC_MORE, sunspec_chain_step(&c, 40002, h1, &next));
	EXPECT_EQ(40070, next);
	ASSERT_EQ(SUNSPEC_MORE, sunspec_chain_step(&c, next, h2, &next));
	EXPECT_EQ(40122, next);
	/* a vendor model phloem does not know: skipped by its length */
	ASSERT_EQ(SUNSPEC_MORE, sunspec_chain_step(&c, next, h3, &next));
	EXPECT_EQ(40131, next);
	ASSERT_EQ(SUNSPEC_DONE, sunspec_chain_step(&c, next, end, &next));
	EXPECT_EQ(3u, c.n);
	EXPECT_EQ(1, sunspec_chain_find(&c, 103));
	EXPECT_EQ(40070, c.addr[1]);
	EXPECT_EQ(-1, sunspec_chain_find(&c, 124));
}

TEST(chain_garbage)
{
	struct sunspec_chain c = { .base = 0 };
	uint16_t next, wrong_len[2] = { 103, 49 }, zero[2] = { 0, 0 }, big[2] = { 64000, 65530 };

	EXPECT_EQ(-EINVAL, sunspec_chain_step(&c, 2, wrong_len, &next));
	EXPECT_EQ(-EINVAL, sunspec_chain_step(&c, 2, zero, &next));
	EXPECT_EQ(-EOVERFLOW, sunspec_chain_step(&c, 100, big, &next));
	EXPECT_EQ(0u, c.n);
}

TEST(scale_factors_exact)
{
	uint16_t m[52] = { 103, 50 };
	struct sunspec_value v;
	int64_t milli;

	m[14] = (uint16_t)-12345;	/* W */
	m[15] = (uint16_t)-2;		/* W_SF: -123.45 W */
	ASSERT_EQ(0, sunspec_get(m, 52, pt(103, "W"), &v));
	ASSERT_TRUE(v.known);
	EXPECT_EQ(-12345, v.raw);
	EXPECT_EQ(-2, v.sf);
	ASSERT_EQ(0, sunspec_milli(&v, &milli));
	EXPECT_EQ(-123450, milli);
	m[15] = 3;			/* kW-scale: -12345000 W */
	sunspec_get(m, 52, pt(103, "W"), &v);
	ASSERT_EQ(0, sunspec_milli(&v, &milli));
	EXPECT_EQ(-12345000000ll, milli);
	m[15] = (uint16_t)-5;		/* digits below a mW: dropped, said so */
	sunspec_get(m, 52, pt(103, "W"), &v);
	EXPECT_EQ(-EDOM, sunspec_milli(&v, &milli));
	EXPECT_EQ(-123, milli);
	/* acc32 across both registers */
	m[24] = 0x0001;
	m[25] = 0x86A0;			/* 100000 */
	m[26] = 0;			/* WH_SF */
	sunspec_get(m, 52, pt(103, "WH"), &v);
	ASSERT_EQ(0, sunspec_milli(&v, &milli));
	EXPECT_EQ(100000000, milli);
}

TEST(unimplemented_is_unknown)
{
	uint16_t m[52] = { 103, 50 };
	struct sunspec_value v;
	int64_t milli;

	m[14] = 0x8000;			/* int16 not implemented */
	m[15] = 0;
	sunspec_get(m, 52, pt(103, "W"), &v);
	EXPECT_FALSE(v.known);
	EXPECT_EQ(-ENODATA, sunspec_milli(&v, &milli));
	m[14] = 100;
	m[15] = 0x8000;			/* the scale factor not implemented */
	sunspec_get(m, 52, pt(103, "W"), &v);
	EXPECT_FALSE(v.known);
	m[15] = 11;			/* out of -10..10 */
	sunspec_get(m, 52, pt(103, "W"), &v);
	EXPECT_FALSE(v.known);
	m[2] = 0xFFFF;			/* uint16 A */
	m[6] = 0;
	sunspec_get(m, 52, pt(103, "A"), &v);
	EXPECT_FALSE(v.known);
	m[24] = m[25] = 0;		/* acc32 0 */
	sunspec_get(m, 52, pt(103, "WH"), &v);
	EXPECT_FALSE(v.known);
	/* a point past what was read */
	EXPECT_EQ(-ERANGE, sunspec_get(m, 10, pt(103, "W"), &v));
}

TEST(encode_in_range_only)
{
	int64_t r;

	ASSERT_EQ(0, sunspec_raw_from_milli(45500, -1, SS_UINT16, &r));
	EXPECT_EQ(455, r);		/* 45.5 % at sf -1 */
	ASSERT_EQ(0, sunspec_raw_from_milli(-2500000, 0, SS_INT16, &r));
	EXPECT_EQ(-2500, r);
	ASSERT_EQ(0, sunspec_raw_from_milli(1249, 0, SS_INT16, &r));
	EXPECT_EQ(1, r);		/* rounded to nearest */
	EXPECT_EQ(-ERANGE, sunspec_raw_from_milli(-1000, 0, SS_UINT16, &r));
	EXPECT_EQ(-ERANGE, sunspec_raw_from_milli(40000000, 0, SS_INT16, &r));
	/* 0xFFFF would read back as "not implemented" */
	EXPECT_EQ(-ERANGE, sunspec_raw_from_milli(65535000, 0, SS_UINT16, &r));
	EXPECT_EQ(-ERANGE, sunspec_raw_from_milli(1, 11, SS_INT16, &r));
}

TEST(strings)
{
	uint16_t m[68] = { 1, 66 };
	char buf[40];

	sunspec_put_string(m, 68, pt(1, "Mn"), "phloem");
	sunspec_string(m, 68, pt(1, "Mn"), buf, sizeof(buf));
	EXPECT_STREQ("phloem", buf);
	EXPECT_EQ(0x7068, m[2]);	/* "ph" */
}

TEST(server_map_reads_back)
{
	uint16_t r[SUNSPEC_SERVER_REGS];
	struct sunspec_chain c = { .base = 40000 };
	struct sunspec_meter_in in = {
		.w_mw = -1234567, .a_ma = 5432, .v_mv = 230400, .hz_mhz = 49980,
		.imp_mwh = 7654321, .exp_mwh = 999,
	};
	struct sunspec_value v;
	uint16_t next, addr = 2;
	int64_t milli;
	int rc;

	ASSERT_EQ(0, sunspec_server_map(r, 203, "phloem", "gateway", "x1"));
	ASSERT_EQ(0, sunspec_server_update(r, &in));
	ASSERT_TRUE(sunspec_is_marker(r));
	while ((rc = sunspec_chain_step(&c, addr, r + addr, &next)) == SUNSPEC_MORE)
		addr = next;
	ASSERT_EQ(SUNSPEC_DONE, rc);
	ASSERT_EQ(2u, c.n);
	EXPECT_EQ(1, c.id[0]);
	EXPECT_EQ(203, c.id[1]);
	addr = c.addr[1];
	sunspec_get(r + addr, 107, pt(203, "W"), &v);
	sunspec_milli(&v, &milli);
	EXPECT_EQ(-1235000, milli);	/* W at sf 0: whole watts */
	sunspec_get(r + addr, 107, pt(203, "A"), &v);
	sunspec_milli(&v, &milli);
	EXPECT_EQ(5430, milli);
	sunspec_get(r + addr, 107, pt(203, "PhVphA"), &v);
	sunspec_milli(&v, &milli);
	EXPECT_EQ(230400, milli);
	sunspec_get(r + addr, 107, pt(203, "Hz"), &v);
	sunspec_milli(&v, &milli);
	EXPECT_EQ(49980, milli);
	sunspec_get(r + addr, 107, pt(203, "TotWhImp"), &v);
	sunspec_milli(&v, &milli);
	EXPECT_EQ(7654000, milli);
	/* less than 1 Wh exported: the counter reads 0, "not implemented" */
	sunspec_get(r + addr, 107, pt(203, "TotWhExp"), &v);
	EXPECT_FALSE(v.known);
	/* phase B is not measured */
	EXPECT_EQ(0x8000, r[addr + 4]);
	EXPECT_EQ(-EINVAL, sunspec_server_map(r, 202, "", "", ""));
}

TEST_HARNESS_MAIN
