/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libsunspec: SunSpec register maps, pure encoding and decoding.
 *
 * SunSpec devices put a chain of "models" in their Modbus holding registers:
 * the marker "SunS" (0x5375 0x6e53) at a base address (0, 40000 or 50000),
 * then models one after another, each [ID, L, L registers of points], and
 * an end model [0xFFFF, 0]. Points are big-endian 16-bit registers; a value
 * is its integer times 10^sf, where sf is another point of the same model
 * (a "sunssf", -10..10). A point that holds its type's "not implemented"
 * value (0x8000 for int16 and sunssf, 0xFFFF for uint16 and enum16, 0 for
 * acc32, 0xFFFFFFFF, 0x80000000 ...) has no value: callers get "unknown".
 *
 * The offsets below are those of the models' JSON definitions
 * (github.com/sunspec/models, json/model_<N>.json): offset 0 is the model's
 * ID register, 1 its length, points from 2. Nothing here does I/O, keeps
 * a clock or allocates: phloemd's Modbus client and server and the unit
 * tests (tests/modbus/sunspec_test.c) use the same calls.
 */
#ifndef SUNSPEC_H
#define SUNSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUNSPEC_MARKER0		0x5375	/* "Su" */
#define SUNSPEC_MARKER1		0x6e53	/* "nS" */
#define SUNSPEC_END_ID		0xFFFF
#define SUNSPEC_MAX_MODELS	32

/* Modbus reads at most 125 registers at once */
#define SUNSPEC_READ_MAX	125

enum sunspec_type {
	SS_INT16, SS_UINT16, SS_SUNSSF, SS_ENUM16, SS_BITFIELD16,
	SS_INT32, SS_UINT32, SS_ACC32, SS_BITFIELD32,
	SS_UINT64, SS_STRING,
};

/**
 * struct sunspec_point - one point of a model
 * @name: the JSON name
 * @off: register offset from the model's ID register
 * @type: enum sunspec_type
 * @size: registers (strings: their length)
 * @sf_off: offset of its scale factor point, 0 when unscaled
 */
struct sunspec_point {
	const char *name;
	uint16_t off;
	uint8_t type;
	uint8_t size;
	uint16_t sf_off;
};

/** struct sunspec_model_def - the points phloem uses of one model */
struct sunspec_model_def {
	uint16_t id;
	uint16_t len;		/* L, the fixed length; 0: variable */
	const char *name;
	const struct sunspec_point *pt;
	unsigned npt;
};

/** sunspec_model_def() - the definition of model @id, NULL if phloem has none */
const struct sunspec_model_def *sunspec_model_def(uint16_t id);
/** sunspec_point() - point @name of @m, NULL when absent */
const struct sunspec_point *sunspec_point(const struct sunspec_model_def *m,
					  const char *name);

/**
 * struct sunspec_chain - the models found on a device
 * @base: address of the marker
 * @n: models (the end model not counted)
 * @addr: address of model i's ID register
 * @id: model i's ID
 * @len: model i's L
 */
struct sunspec_chain {
	uint16_t base;
	unsigned n;
	uint16_t addr[SUNSPEC_MAX_MODELS];
	uint16_t id[SUNSPEC_MAX_MODELS];
	uint16_t len[SUNSPEC_MAX_MODELS];
};

/** sunspec_is_marker() - @r (two registers) is "SunS" */
bool sunspec_is_marker(const uint16_t r[2]);

/* sunspec_chain_step() results */
#define SUNSPEC_MORE	1	/* read the header at *next */
#define SUNSPEC_DONE	0	/* the end model: the chain is complete */

/**
 * sunspec_chain_step() - the walk, one model header at a time
 * @c: chain so far (set @c->base and @c->n = 0 before the first step)
 * @addr: address of the header read
 * @hdr: the two registers read there (ID, L)
 * @next: where the next header is
 *
 * Return: SUNSPEC_MORE, SUNSPEC_DONE, -EOVERFLOW when the chain runs past
 * 65535 or has more than SUNSPEC_MAX_MODELS models, -EINVAL when a known
 * model has the wrong length or an ID of 0 appears (garbage).
 */
int sunspec_chain_step(struct sunspec_chain *c, uint16_t addr,
		       const uint16_t hdr[2], uint16_t *next);
/** sunspec_chain_find() - index of the first model @id in @c, or -1 */
int sunspec_chain_find(const struct sunspec_chain *c, uint16_t id);

/**
 * struct sunspec_value - a decoded point
 * @known: false for the "not implemented" value, or a scale factor that is
 *         itself unimplemented or out of -10..10
 * @raw: the integer as read (signed per type)
 * @sf: the scale factor (0 when unscaled)
 */
struct sunspec_value {
	bool known;
	int64_t raw;
	int sf;
};

/**
 * sunspec_get() - decode point @p from the registers of one model
 * @regs: the model's registers from its ID register on
 * @n: how many of them were read
 * Return: 0, or -ERANGE when @p (or its scale factor) lies past @n.
 */
int sunspec_get(const uint16_t *regs, size_t n, const struct sunspec_point *p,
		struct sunspec_value *v);

/**
 * sunspec_milli() - @v in milli-units, exactly
 * @out: raw * 10^(sf+3)
 * Return: 0; -ERANGE on overflow of int64; -EDOM when sf < -3 and the
 * value has digits below a milli-unit (they are dropped toward zero, *out
 * still set); -ENODATA when @v is unknown.
 */
int sunspec_milli(const struct sunspec_value *v, int64_t *out);

/**
 * sunspec_raw_from_milli() - the register value for @milli at scale @sf
 * @type: SS_INT16, SS_UINT16, SS_INT32, SS_UINT32 or SS_ACC32
 * @out: the raw integer (rounded to nearest)
 * Return: 0; -ERANGE when it does not fit @type (or would be the type's
 * "not implemented" value).
 */
int sunspec_raw_from_milli(int64_t milli, int sf, uint8_t type, int64_t *out);

/**
 * sunspec_put() - store @raw as point @p (and nothing else) into @regs
 * Return: 0 or -ERANGE (past @n).
 */
int sunspec_put(uint16_t *regs, size_t n, const struct sunspec_point *p,
		int64_t raw);

/** sunspec_string() - a string point into @buf, NUL-terminated, trailing NULs and spaces cut */
void sunspec_string(const uint16_t *regs, size_t n, const struct sunspec_point *p,
		    char *buf, size_t cap);
/** sunspec_put_string() - @s into string point @p, NUL padded */
void sunspec_put_string(uint16_t *regs, size_t n, const struct sunspec_point *p,
			const char *s);

/**
 * struct sunspec_meter_in - what phloem serves as a SunSpec meter
 * @w_mw: total real power, + import (the meter's forward direction)
 * @a_ma: total current (RMS)
 * @v_mv: phase voltage
 * @hz_mhz: frequency
 * @imp_mwh: total real energy imported
 * @exp_mwh: total real energy exported
 */
struct sunspec_meter_in {
	int64_t w_mw;
	int64_t a_ma;
	int64_t v_mv;
	int64_t hz_mhz;
	uint64_t imp_mwh;
	uint64_t exp_mwh;
};

/** Registers of the served map: marker, common (1), meter (2+105), end. */
#define SUNSPEC_SERVER_REGS	(2 + 2 + 66 + 2 + 105 + 2)

/**
 * sunspec_server_map() - the whole served register map
 * @regs: SUNSPEC_SERVER_REGS registers, from the base address on
 * @meter_id: 201 (single phase) or 203 (three phase, phase A filled)
 * @mn, @md, @sn: common model strings
 * Fixed scale factors: A -2 (10 mA), V -1, Hz -2, W 0, Wh 0; points phloem
 * does not measure are written "not implemented".
 * Return: 0 or -EINVAL for another @meter_id.
 */
int sunspec_server_map(uint16_t *regs, uint16_t meter_id, const char *mn,
		       const char *md, const char *sn);
/** sunspec_server_update() - refresh the measured points of a map */
int sunspec_server_update(uint16_t *regs, const struct sunspec_meter_in *in);

#endif /* SUNSPEC_H */
