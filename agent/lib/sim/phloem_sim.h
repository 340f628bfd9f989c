/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * libphloem sim: a userspace model of the metering HAT.
 *
 * It runs the same pure decision unit as the kernel (kernel/shed.c,
 * compiled into this library) on samples from a waveform model: a sine
 * mains voltage on channel 0 and, per circuit, a sine current whose RMS is
 * the circuit's own base load plus the loads of its relays that are on (the
 * site channel carries the sum of every circuit). Relays switch at once when
 * the unit asks, so a shed shows in the very next sample, as on hardware.
 *
 * Time is given by the caller (CLOCK_MONOTONIC ns); the model produces every
 * sample between two calls, so its results do not depend on how often it is
 * called. Not thread-safe: one caller per object.
 */
#ifndef PHLOEM_SIM_H
#define PHLOEM_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/phloem.h>

struct phloem_shed;
struct phloem_sim;

/**
 * phloem_sim_new() - a simulated device
 * @info: topology (channel 0 must be the "v0" voltage channel); copied
 * @boot: boot-time configuration; checked with phloem_shed_check_config()
 * @vrms_mv: RMS of the simulated mains voltage
 * @now_ns: start time
 *
 * Return: the object, or NULL with errno set (EINVAL for a configuration
 * the unit refuses, ENOMEM).
 */
struct phloem_sim *phloem_sim_new(const struct phloem_info *info,
				  const struct phloem_config *boot,
				  uint32_t vrms_mv, uint64_t now_ns);
void phloem_sim_free(struct phloem_sim *sim);

/**
 * phloem_sim_set_base() - circuit's own load, without its relays, in mA
 *
 * Signed as real power is in the UAPI header: a negative @ma is a current
 * in antiphase with the voltage, so the circuit exports (PV). The site
 * channel carries the signed sum of its own base and every circuit, so a
 * site whose export exceeds its loads shows negative power and counts
 * export energy.
 */
void phloem_sim_set_base(struct phloem_sim *sim, uint32_t circuit,
			 int32_t ma);
/** phloem_sim_set_load() - current relay @relay draws when on, in mA */
void phloem_sim_set_load(struct phloem_sim *sim, uint32_t relay, uint32_t ma);

/**
 * phloem_sim_advance() - produce every sample up to @now_ns
 *
 * At most one second of samples is produced per call: after a longer gap
 * (the process was stopped) the model skips ahead rather than spinning.
 * Return: true when events were queued (phloem_sim_shed() has them).
 */
bool phloem_sim_advance(struct phloem_sim *sim, uint64_t now_ns);

/** phloem_sim_shed() - the decision unit, for status, config and events */
struct phloem_shed *phloem_sim_shed(struct phloem_sim *sim);

/**
 * phloem_sim_peak() - largest cycle RMS of channel @chan since the last call
 * Return: mA (mV for a voltage channel); resets the peak.
 */
uint32_t phloem_sim_peak(struct phloem_sim *sim, uint32_t chan);

/**
 * phloem_sim_stats() - counters: those of the unit plus samples taken
 */
void phloem_sim_stats(const struct phloem_sim *sim, struct phloem_stats *st);

/**
 * phloem_sim_default_cal() - calibration for the model's ADC ranges
 * @cal: filled for every channel of @info
 *
 * Voltage channels span 1.5x the peak voltage, current channels 4x the peak
 * of their circuit's breaker rating, on a 12-bit ADC centred at mid-range.
 */
void phloem_sim_default_cal(const struct phloem_info *info, uint32_t vrms_mv,
			    struct phloem_chan_cal *cal);

#endif /* PHLOEM_SIM_H */
