// SPDX-License-Identifier: GPL-2.0
/*
 * libsunspec: decoding and encoding of SunSpec points (sunspec.h).
 */
#include <errno.h>
#include <string.h>

#include "sunspec.h"

const struct sunspec_point *sunspec_point(const struct sunspec_model_def *m,
					  const char *name)
{
	for (unsigned i = 0; m && i < m->npt; i++)
		if (!strcmp(m->pt[i].name, name))
			return &m->pt[i];
	return NULL;
}

bool sunspec_is_marker(const uint16_t r[2])
{
	return r[0] == SUNSPEC_MARKER0 && r[1] == SUNSPEC_MARKER1;
}

int sunspec_chain_step(struct sunspec_chain *c, uint16_t addr,
		       const uint16_t hdr[2], uint16_t *next)
{
	const struct sunspec_model_def *def;
	uint32_t end;

	if (hdr[0] == SUNSPEC_END_ID)
		return SUNSPEC_DONE;
	if (hdr[0] == 0)
		return -EINVAL;
	def = sunspec_model_def(hdr[0]);
	/* a known fixed-length model with another length is not that model */
	if (def && def->len && hdr[1] != def->len)
		return -EINVAL;
	if (c->n == SUNSPEC_MAX_MODELS)
		return -EOVERFLOW;
	end = (uint32_t)addr + 2 + hdr[1];
	if (end + 2 > 0x10000)
		return -EOVERFLOW;
	c->addr[c->n] = addr;
	c->id[c->n] = hdr[0];
	c->len[c->n] = hdr[1];
	c->n++;
	*next = (uint16_t)end;
	return SUNSPEC_MORE;
}

int sunspec_chain_find(const struct sunspec_chain *c, uint16_t id)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->id[i] == id)
			return (int)i;
	return -1;
}

static int64_t reg32(const uint16_t *r)
{
	return ((int64_t)r[0] << 16) | r[1];
}

/* decode without the scale factor; false for "not implemented" */
static bool decode(const uint16_t *r, uint8_t type, int64_t *raw)
{
	uint64_t u;

	switch (type) {
	case SS_INT16:
	case SS_SUNSSF:
		*raw = (int16_t)r[0];
		return r[0] != 0x8000;
	case SS_UINT16:
	case SS_ENUM16:
	case SS_BITFIELD16:
		*raw = r[0];
		return r[0] != 0xFFFF;
	case SS_INT32:
		*raw = (int32_t)(uint32_t)reg32(r);
		return (uint32_t)reg32(r) != 0x80000000u;
	case SS_UINT32:
	case SS_BITFIELD32:
		*raw = reg32(r);
		return (uint32_t)reg32(r) != 0xFFFFFFFFu;
	case SS_ACC32:
		*raw = reg32(r);
		return *raw != 0;
	case SS_UINT64:
		u = ((uint64_t)r[0] << 48) | ((uint64_t)r[1] << 32) |
		    ((uint64_t)r[2] << 16) | r[3];
		*raw = (int64_t)(u & INT64_MAX);
		return u != UINT64_MAX && !(u >> 63);
	default:
		*raw = 0;
		return false;
	}
}

int sunspec_get(const uint16_t *regs, size_t n, const struct sunspec_point *p,
		struct sunspec_value *v)
{
	int64_t sf = 0;

	memset(v, 0, sizeof(*v));
	if ((size_t)p->off + p->size > n || (p->sf_off && p->sf_off >= n))
		return -ERANGE;
	v->known = decode(regs + p->off, p->type, &v->raw);
	if (p->sf_off) {
		if (!decode(regs + p->sf_off, SS_SUNSSF, &sf) || sf < -10 || sf > 10)
			v->known = false;
		v->sf = (int)sf;
	}
	if (!v->known)
		v->raw = 0;
	return 0;
}

static const int64_t pow10_tab[] = {
	1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
	1000000000, 10000000000, 100000000000, 1000000000000, 10000000000000,
};

int sunspec_milli(const struct sunspec_value *v, int64_t *out)
{
	int e;

	*out = 0;
	if (!v->known)
		return -ENODATA;
	e = v->sf + 3;
	if (e >= 0) {
		if (__builtin_mul_overflow(v->raw, pow10_tab[e], out))
			return -ERANGE;
		return 0;
	}
	*out = v->raw / pow10_tab[-e];
	return v->raw % pow10_tab[-e] ? -EDOM : 0;
}

int sunspec_raw_from_milli(int64_t milli, int sf, uint8_t type, int64_t *out)
{
	int e = sf + 3;
	int64_t r, lo, hi;

	if (sf < -10 || sf > 10)
		return -ERANGE;
	if (e <= 0) {
		if (__builtin_mul_overflow(milli, pow10_tab[-e], &r))
			return -ERANGE;
	} else {
		int64_t d = pow10_tab[e], h = d / 2;

		r = milli >= 0 ? (milli + h) / d : -((-milli + h) / d);
	}
	switch (type) {
	case SS_INT16: lo = -32767; hi = 32767; break;
	case SS_UINT16: lo = 0; hi = 65534; break;
	case SS_INT32: lo = -2147483647; hi = 2147483647; break;
	case SS_UINT32: lo = 0; hi = 4294967294ll; break;
	case SS_ACC32: lo = 0; hi = 4294967295ll; break;
	default: return -ERANGE;
	}
	if (r < lo || r > hi)
		return -ERANGE;
	*out = r;
	return 0;
}

int sunspec_put(uint16_t *regs, size_t n, const struct sunspec_point *p,
		int64_t raw)
{
	uint16_t *r = regs + p->off;
	uint64_t u = (uint64_t)raw;

	if ((size_t)p->off + p->size > n)
		return -ERANGE;
	switch (p->size) {
	case 1:
		r[0] = (uint16_t)u;
		break;
	case 2:
		r[0] = (uint16_t)(u >> 16);
		r[1] = (uint16_t)u;
		break;
	case 4:
		r[0] = (uint16_t)(u >> 48);
		r[1] = (uint16_t)(u >> 32);
		r[2] = (uint16_t)(u >> 16);
		r[3] = (uint16_t)u;
		break;
	default:
		return -ERANGE;
	}
	return 0;
}

void sunspec_string(const uint16_t *regs, size_t n, const struct sunspec_point *p,
		    char *buf, size_t cap)
{
	size_t k = 0;

	for (unsigned i = 0; i < p->size && p->off + i < n; i++) {
		char c[2] = { (char)(regs[p->off + i] >> 8), (char)regs[p->off + i] };

		for (int j = 0; j < 2 && k + 1 < cap; j++)
			buf[k++] = (c[j] >= 0x20 && c[j] < 0x7f) || !c[j] ? c[j] : '?';
	}
	if (cap)
		buf[k < cap ? k : cap - 1] = 0;
	/* a NUL ends it; trailing spaces are padding */
	k = strlen(buf);
	while (k && buf[k - 1] == ' ')
		buf[--k] = 0;
}

void sunspec_put_string(uint16_t *regs, size_t n, const struct sunspec_point *p,
			const char *s)
{
	size_t len = strlen(s);

	for (unsigned i = 0; i < p->size && p->off + i < n; i++) {
		uint8_t hi = 2 * i < len ? (uint8_t)s[2 * i] : 0;
		uint8_t lo = 2 * i + 1 < len ? (uint8_t)s[2 * i + 1] : 0;

		regs[p->off + i] = (uint16_t)(hi << 8 | lo);
	}
}

/* ---- the served meter ---- */

#define SRV_COMMON	2			/* common model's ID register */
#define SRV_METER	(SRV_COMMON + 2 + 66)	/* meter model's ID register */
#define SRV_END		(SRV_METER + 2 + 105)

static void put_pt(uint16_t *m, uint16_t id, const char *name, int64_t raw)
{
	const struct sunspec_point *p = sunspec_point(sunspec_model_def(id), name);

	if (p)
		sunspec_put(m, 2 + 105, p, raw);
}

int sunspec_server_map(uint16_t *regs, uint16_t meter_id, const char *mn,
		       const char *md, const char *sn)
{
	const struct sunspec_model_def *c = sunspec_model_def(1);
	uint16_t *m = regs + SRV_METER;

	if (meter_id != 201 && meter_id != 203)
		return -EINVAL;
	memset(regs, 0, SUNSPEC_SERVER_REGS * sizeof(*regs));
	regs[0] = SUNSPEC_MARKER0;
	regs[1] = SUNSPEC_MARKER1;
	regs[SRV_COMMON] = 1;
	regs[SRV_COMMON + 1] = 66;
	sunspec_put_string(regs + SRV_COMMON, 68, sunspec_point(c, "Mn"), mn);
	sunspec_put_string(regs + SRV_COMMON, 68, sunspec_point(c, "Md"), md);
	sunspec_put_string(regs + SRV_COMMON, 68, sunspec_point(c, "Vr"), "1");
	sunspec_put_string(regs + SRV_COMMON, 68, sunspec_point(c, "SN"), sn);
	regs[SRV_COMMON + 66] = 1;	/* DA: the Modbus unit */
	regs[SRV_COMMON + 67] = 0x8000;	/* Pad */
	/* every point of the meter "not implemented" first: int16 0x8000,
	 * acc32 0, bitfield32 (Evt at 105) 0 = no events */
	m[0] = meter_id;
	m[1] = 105;
	for (int i = 2; i < 38; i++)
		m[i] = 0x8000;
	for (int i = 38; i < 105; i++)
		m[i] = 0;
	/* the scale factors phloem uses, and the unused ones unimplemented */
	m[54] = 0;			/* TotWh_SF */
	m[71] = m[104] = 0x8000;	/* TotVAh_SF, TotVArh_SF */
	put_pt(m, meter_id, "A_SF", -2);
	put_pt(m, meter_id, "V_SF", -1);
	put_pt(m, meter_id, "Hz_SF", -2);
	put_pt(m, meter_id, "W_SF", 0);
	regs[SRV_END] = SUNSPEC_END_ID;
	regs[SRV_END + 1] = 0;
	return 0;
}

/* raw at @sf clamped to int16's range (a meter saturates, it does not wrap) */
static int64_t clamp16(int64_t milli, int sf)
{
	int64_t r;

	if (sunspec_raw_from_milli(milli, sf, SS_INT16, &r))
		return milli < 0 ? -32767 : 32767;
	return r;
}

int sunspec_server_update(uint16_t *regs, const struct sunspec_meter_in *in)
{
	uint16_t *m = regs + SRV_METER;
	uint16_t id = m[0];
	int64_t a = clamp16(in->a_ma, -2), v = clamp16(in->v_mv, -1);

	if (id != 201 && id != 203)
		return -EINVAL;
	put_pt(m, id, "A", a);
	put_pt(m, id, "PhV", v);
	put_pt(m, id, "PhVphA", v);
	put_pt(m, id, "Hz", clamp16(in->hz_mhz, -2));
	put_pt(m, id, "W", clamp16(in->w_mw, 0));
	if (id == 203) {
		put_pt(m, id, "AphA", a);
		put_pt(m, id, "WphA", clamp16(in->w_mw, 0));
	}
	/* acc32 wraps by definition; 0 would read "not implemented", and a
	 * meter that has counted nothing yet says so */
	put_pt(m, id, "TotWhImp", (int64_t)((in->imp_mwh / 1000) & 0xFFFFFFFFu));
	put_pt(m, id, "TotWhExp", (int64_t)((in->exp_mwh / 1000) & 0xFFFFFFFFu));
	return 0;
}
