// SPDX-License-Identifier: GPL-2.0
/*
 * The analog side of the simulated HAT: mains voltage, current waveforms and
 * relay loads, evaluated at the instant the emulated ADC samples.
 *
 * Integer only (this runs in the SPI transfer path and kernel code has no
 * FPU): the mains angle is a u32 turn (2^32 per cycle) advanced from an
 * anchor by elapsed time times frequency, and sine comes from a quarter-wave
 * Q15 table with linear interpolation (error at most 2 LSB of Q15, far under
 * one LSB of a 12-bit ADC).
 */
#include <linux/math64.h>
#include <linux/minmax.h>
#include <linux/random.h>

#include "sim.h"

/* sin(pi/2 * i / 256) in Q15, i = 0..256. */
static const s16 phloem_sim_sin_tab[257] = {
	0, 201, 402, 603, 804, 1005, 1206, 1407,
	1608, 1809, 2009, 2210, 2410, 2611, 2811, 3012,
	3212, 3412, 3612, 3811, 4011, 4210, 4410, 4609,
	4808, 5007, 5205, 5404, 5602, 5800, 5998, 6195,
	6393, 6590, 6786, 6983, 7179, 7375, 7571, 7767,
	7962, 8157, 8351, 8545, 8739, 8933, 9126, 9319,
	9512, 9704, 9896, 10087, 10278, 10469, 10659, 10849,
	11039, 11228, 11417, 11605, 11793, 11980, 12167, 12353,
	12539, 12725, 12910, 13094, 13279, 13462, 13645, 13828,
	14010, 14191, 14372, 14553, 14732, 14912, 15090, 15269,
	15446, 15623, 15800, 15976, 16151, 16325, 16499, 16673,
	16846, 17018, 17189, 17360, 17530, 17700, 17869, 18037,
	18204, 18371, 18537, 18703, 18868, 19032, 19195, 19357,
	19519, 19680, 19841, 20000, 20159, 20317, 20475, 20631,
	20787, 20942, 21096, 21250, 21403, 21554, 21705, 21856,
	22005, 22154, 22301, 22448, 22594, 22739, 22884, 23027,
	23170, 23311, 23452, 23592, 23731, 23870, 24007, 24143,
	24279, 24413, 24547, 24680, 24811, 24942, 25072, 25201,
	25329, 25456, 25582, 25708, 25832, 25955, 26077, 26198,
	26319, 26438, 26556, 26674, 26790, 26905, 27019, 27133,
	27245, 27356, 27466, 27575, 27683, 27790, 27896, 28001,
	28105, 28208, 28310, 28411, 28510, 28609, 28706, 28803,
	28898, 28992, 29085, 29177, 29268, 29358, 29447, 29534,
	29621, 29706, 29791, 29874, 29956, 30037, 30117, 30195,
	30273, 30349, 30424, 30498, 30571, 30643, 30714, 30783,
	30852, 30919, 30985, 31050, 31113, 31176, 31237, 31297,
	31356, 31414, 31470, 31526, 31580, 31633, 31685, 31736,
	31785, 31833, 31880, 31926, 31971, 32014, 32057, 32098,
	32137, 32176, 32213, 32250, 32285, 32318, 32351, 32382,
	32412, 32441, 32469, 32495, 32521, 32545, 32567, 32589,
	32609, 32628, 32646, 32663, 32678, 32692, 32705, 32717,
	32728, 32737, 32745, 32752, 32757, 32761, 32765, 32766,
	32767,
};

#define PHLOEM_SIM_SQRT2_Q16	92682	/* sqrt(2) * 65536: RMS to peak */

/*
 * The line of each input in the three-phase house: the kitchen with the
 * site's first CT on L1, the garage with the site's second CT on L2, the
 * heating on L3 (its incomer CT is not fitted: L3 is not measured at the
 * site, the phase rules judge L1 and L2).
 */
static const u8 phloem_sim_chan_line[PHLOEM_SIM_CHANNELS] = {
	0, 0, 0, 1, 2, 1, 2, 1,
};
unsigned int phloem_sim_line(const struct phloem_sim_hat *hat,
			     unsigned int input)
{
	return hat->three_phase && input < PHLOEM_SIM_CHANNELS ?
	       phloem_sim_chan_line[input] : 0;
}

/**
 * phloem_sim_sin_q15() - sine of a mains angle
 * @phase: angle, 2^32 per turn
 *
 * Return: sin(@phase) in Q15 (-32767..32767).
 */
s32 phloem_sim_sin_q15(u32 phase)
{
	u32 x = phase & 0x3fffffff;	/* angle within the quadrant */
	unsigned int quad = phase >> 30;
	unsigned int i;
	u32 frac;
	s32 v;

	/* Quadrants 1 and 3 run the quarter wave backwards. */
	if (quad & 1)
		x = 0x40000000 - x;
	i = x >> 22;			/* 0..256 */
	frac = (x >> 6) & 0xffff;	/* position between entries, Q16 */
	v = phloem_sim_sin_tab[i];
	if (i < 256)
		v += ((phloem_sim_sin_tab[i + 1] - v) * (s32)frac) >> 16;
	return quad & 2 ? -v : v;
}

/*
 * Angle advanced in @dt_ns at @freq_mhz, 2^32 per turn. Split at whole
 * milliseconds so that no product overflows whatever the uptime:
 * turns = ms * f / 1e6 + rest_ns * f / 1e12, with f in mHz, and only the
 * fractional turn matters. 1e6 = 2^6 * 15625 and 1e12 = 2^12 * 244140625,
 * so the conversions to 2^32 per turn are a shift and an exact divisor.
 */
static u32 phloem_sim_advance(u64 dt_ns, u32 freq_mhz)
{
	u32 rest_ns, micro_turns;
	u64 ms = div_u64_rem(dt_ns, NSEC_PER_MSEC, &rest_ns);
	u64 pico_turns = (u64)rest_ns * freq_mhz;	/* < 2^37 */

	div_u64_rem(ms * freq_mhz, 1000000, &micro_turns);	/* < 2^20 */
	return (u32)(div_u64((u64)micro_turns << 26, 15625) +
		     div_u64(pico_turns << 20, 244140625));
}

static u32 phloem_sim_mdeg_to_phase(s32 mdeg)
{
	return (u32)div_s64((s64)mdeg * (1LL << 32), 360000);
}

static u32 phloem_sim_angle(struct phloem_sim_hat *hat, u64 now)
{
	u64 dt = now > hat->anchor_ns ? now - hat->anchor_ns : 0;

	return hat->anchor_phase + phloem_sim_advance(dt, hat->freq_mhz);
}

/*
 * Instantaneous value of a sine of @rms (milli-units) lagging @theta by
 * @phase_mdeg, with harmonics, in micro-units.
 */
static s64 phloem_sim_wave(u32 rms, s32 phase_mdeg, u32 h3_pct, u32 h5_pct,
			   u32 theta)
{
	u32 p = theta - phloem_sim_mdeg_to_phase(phase_mdeg);
	s64 peak = ((u64)rms * 1000 * PHLOEM_SIM_SQRT2_Q16) >> 16;
	/* 32-bit sums: |acc| <= 3 * 32767, no 64-bit division on 32-bit ARM. */
	s32 acc = phloem_sim_sin_q15(p);

	if (h3_pct)
		acc += (s32)h3_pct * phloem_sim_sin_q15(3 * p) / 100;
	if (h5_pct)
		acc += (s32)h5_pct * phloem_sim_sin_q15(5 * p) / 100;
	return (peak * acc) >> 15;
}

/* Current through the CT of input @c: its own base plus what flows below. */
static s64 phloem_sim_current(struct phloem_sim_hat *hat, unsigned int c,
			      u32 theta)
{
	const struct phloem_sim_chan *ch = &hat->chan[c];
	s64 sum = phloem_sim_wave(ch->rms, ch->phase_mdeg, ch->h3_pct,
				  ch->h5_pct, theta);
	unsigned int i;

	for (i = 0; i < PHLOEM_SIM_RELAYS; i++) {
		const struct phloem_sim_relay *r = &hat->relay[i];

		if (r->chan == c && test_bit(i, &hat->lines))
			sum += phloem_sim_wave(r->load_ma, r->phase_mdeg, 0, 0,
					       theta);
	}
	/*
	 * A site CT sits on the incomer: every final circuit of its line
	 * flows through it (all of them in the single-phase house).
	 */
	if (c == 1 || (hat->three_phase && c == 7))
		for (i = 2; i < PHLOEM_SIM_CHANNELS_1PH; i++)
			if (phloem_sim_line(hat, i) == phloem_sim_line(hat, c))
				sum += phloem_sim_current(hat, i, theta);
	return sum;
}

static void phloem_sim_step_apply(struct phloem_sim_step *step, u32 *value,
				  u64 now)
{
	if (step->armed && now >= step->at_ns) {
		*value = step->value;
		step->armed = false;
	}
}

/*
 * A frequency ramp, followed in steps of whole mHz: at every conversion
 * (and debugfs access) the frequency due at @now is set, re-anchoring the
 * angle, so the waveform stays continuous and its frequency is never more
 * than the change of the last conversion interval off the ramp (0.25 mHz
 * at 1 Hz/s and 4 kHz).
 */
static void phloem_sim_wave_ramp(struct phloem_sim_hat *hat, u64 now)
{
	u32 rate = abs(hat->ramp_mhz_s), f, to = hat->ramp_to_mhz;
	u64 ms, moved;

	if (!rate || now <= hat->ramp_ns)
		return;
	ms = div_u64(now - hat->ramp_ns, NSEC_PER_MSEC);
	moved = div_u64(ms * rate, 1000);	/* < 2^37 for a day at 100 Hz/s */
	if (hat->ramp_mhz_s > 0)
		f = moved >= to - min(to, hat->ramp_from_mhz) ? to :
		    hat->ramp_from_mhz + (u32)moved;
	else
		f = moved >= hat->ramp_from_mhz - min(to, hat->ramp_from_mhz) ?
		    to : hat->ramp_from_mhz - (u32)moved;
	if (f == to)
		hat->ramp_mhz_s = 0;
	if (f != hat->freq_mhz)
		phloem_sim_wave_set_freq(hat, f, now);
}

/**
 * phloem_sim_wave_apply_steps() - commit every armed step that is due
 * @hat: instance, its lock held
 * @now: CLOCK_MONOTONIC ns
 *
 * Steps are applied lazily, at the first sample or debugfs access (read or
 * write) at or after their instant; since that is decided by comparing
 * times, a sample taken at t >= at_ns always sees the new value, whenever
 * it is computed, and a write after the instant always wins over the step.
 */
void phloem_sim_wave_apply_steps(struct phloem_sim_hat *hat, u64 now)
{
	unsigned int i;

	lockdep_assert_held(&hat->lock);
	phloem_sim_wave_ramp(hat, now);
	for (i = 0; i < PHLOEM_SIM_CHANNELS; i++)
		phloem_sim_step_apply(&hat->chan[i].step, &hat->chan[i].rms, now);
	for (i = 0; i < PHLOEM_SIM_RELAYS; i++)
		phloem_sim_step_apply(&hat->relay[i].step, &hat->relay[i].load_ma,
				      now);
}

/**
 * phloem_sim_wave_set_freq() - change the mains frequency without a jump
 * @hat: instance, its lock held
 * @freq_mhz: new frequency
 * @now: CLOCK_MONOTONIC ns
 *
 * The angle reached so far becomes the new anchor, so the waveform keeps its
 * phase (as a real grid does) and only its rate changes.
 */
void phloem_sim_wave_set_freq(struct phloem_sim_hat *hat, u32 freq_mhz,
			      u64 now)
{
	lockdep_assert_held(&hat->lock);
	hat->anchor_phase = phloem_sim_angle(hat, now);
	hat->anchor_ns = now;
	hat->freq_mhz = freq_mhz;
}

/**
 * phloem_sim_wave_sample() - convert one ADC input
 * @hat: instance, its lock held
 * @input: MCP3208 input, 0..7
 * @now: sampling instant, CLOCK_MONOTONIC ns
 *
 * Return: the 12-bit code, clipped to the ADC's range like a real converter,
 * or -EIO when the input is set to fail.
 */
int phloem_sim_wave_sample(struct phloem_sim_hat *hat, unsigned int input,
			   u64 now)
{
	const struct phloem_sim_chan *ch;
	s64 inst, lsb, half;
	u32 theta;

	lockdep_assert_held(&hat->lock);
	if (input >= hat->nchan)
		return PHLOEM_SIM_ADC_MID;	/* unwired: bias only */
	ch = &hat->chan[input];
	if (ch->fault)
		return -EIO;

	phloem_sim_wave_apply_steps(hat, now);
	/* L2 and L3 a third and two thirds of a turn behind L1 */
	theta = phloem_sim_angle(hat, now) -
		(u32)div_u64((u64)phloem_sim_line(hat, input) << 32, 3);
	if (input == 0 || input == 5 || input == 6)
		inst = phloem_sim_wave(ch->rms, ch->phase_mdeg, ch->h3_pct,
				       ch->h5_pct, theta);
	else
		inst = phloem_sim_current(hat, input, theta);

	/* Round to the nearest code (half away from zero), as a converter does. */
	half = ch->scale_micro / 2;
	lsb = div_s64(inst < 0 ? inst - half : inst + half, ch->scale_micro);
	if (input == 0) {
		u32 n = READ_ONCE(hat->noise_lsb);

		if (n)
			lsb += (s64)(get_random_u32() % (2 * n + 1)) - n;
	}
	return clamp_t(s64, PHLOEM_SIM_ADC_MID + lsb, 0, PHLOEM_SIM_ADC_MAX);
}

/**
 * phloem_sim_wave_init() - start the model at its small-house defaults
 * @hat: instance, not yet visible to anyone
 * @now: CLOCK_MONOTONIC ns, the angle's origin
 */
void phloem_sim_wave_init(struct phloem_sim_hat *hat, u64 now)
{
	hat->freq_mhz = 50000;
	hat->ramp_to_mhz = 50000;
	hat->anchor_ns = now;
	hat->anchor_phase = 0;
}
