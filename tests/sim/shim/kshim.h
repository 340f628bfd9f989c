/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Just enough of the kernel's headers to compile kernel/sim/sim_wave.c (the
 * pure analog model) on the host for wave_test.c. Every header under linux/ in
 * this directory includes this file. Types that sim.h only embeds get
 * placeholder bodies: the model never touches them.
 */
#ifndef PHLOEM_SIM_KSHIM_H
#define PHLOEM_SIM_KSHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

#ifndef EIO
#define EIO 5
#endif
#define NSEC_PER_MSEC 1000000ULL

struct mutex { int held; };
typedef struct { int unused; } wait_queue_head_t;
struct gpio_chip { int unused; };
struct gpiod_lookup_table;
struct software_node {
	const char *name;
	const struct software_node *parent;
	const void *properties;
};
struct software_node_ref_args {
	const struct software_node *node;
	unsigned int nargs;
	u64 args[8];
};
struct property_entry { const char *name; };

#define lockdep_assert_held(l) ((void)(l))

static inline bool test_bit(long nr, const unsigned long *addr)
{
	return (*addr >> nr) & 1;
}

static inline u64 div_u64_rem(u64 a, u32 b, u32 *rem)
{
	*rem = a % b;
	return a / b;
}

static inline u64 div_u64(u64 a, u32 b) { return a / b; }
static inline s64 div_s64(s64 a, s32 b) { return a / b; }

#define min(a, b) ({ __typeof__(a) __a = (a); __typeof__(b) __b = (b); \
	__a < __b ? __a : __b; })
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))

/* The model's noise (noise_lsb): any spread of values will do on the host */
static inline u32 get_random_u32(void)
{
	static u32 x = 2463534242u;	/* xorshift32 */

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

#define clamp_t(type, val, lo, hi) ({					\
	type __v = (val), __lo = (lo), __hi = (hi);			\
	__v < __lo ? __lo : __v > __hi ? __hi : __v; })

#endif
