/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemd: the site's Modbus/SunSpec devices (modbus.c), their control
 * (devctl.c) and phloem's own meter served over Modbus (mbserver.c).
 * docs/modbus.md has the register maps and the control rules.
 */
#ifndef PHLOEMD_DEVICES_H
#define PHLOEMD_DEVICES_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "phloemd.h"
#include "site.h"

struct phloemd;
struct pd_devices;

/** struct pd_dev_event - an event a bus thread hands to the loop */
struct pd_dev_event {
	uint64_t ts_ms;
	char device[32];
	char kind[16];		/* "device" (state, out of range), "refused" */
	char detail[128];
};

/* modbus.c */
/** pd_devices_open() - start a thread per bus ([device] sections); 0 when none */
int pd_devices_open(struct phloemd *d, char *err, size_t errlen);
/** pd_devices_close() - stop and join the threads */
void pd_devices_close(struct phloemd *d);
/**
 * pd_devices_post() - ask a device's bus thread for setpoints
 * @site_idx: the device's index in the site state
 * @batt/@batt_mw: battery AC power setpoint (+ discharge)
 * @pv/@pv_mpct: PV output limit, milli-percent of its rating (>= 100000:
 *               no limit)
 * The thread writes, reads back, and reports a refusal as an event.
 */
int pd_devices_post(struct pd_devices *mod, int site_idx, bool batt, int64_t batt_mw,
		    bool pv, int64_t pv_mpct);
uint64_t pd_devices_mono_ns(void);

/* devctl.c: the control rules */

/**
 * struct pd_devctl_in - what one decision looks at
 * @grid_mw: the kernel's site power (+ import)
 * @export_limit_mw: [site] export_limit_w (0: none)
 * @peak_mw: [site] peak_shaving_target_w (0: none)
 * @discharge_window: a [tou] battery=discharge window is open
 * @batt_*: the battery (@batt false: none controlled)
 * @batt_ref_mw: its setpoint in force (+ discharge)
 * @pv_*: the PV inverter (@pv false: none controlled)
 * @pv_ref_mpct: its limit in force (100000: none)
 */
struct pd_devctl_in {
	int64_t grid_mw;
	int64_t export_limit_mw;
	int64_t peak_mw;
	bool discharge_window;
	bool batt;
	int64_t batt_ref_mw;
	int64_t soc_mpct;
	int64_t reserve_mpct;
	int64_t max_charge_mw;
	int64_t max_discharge_mw;
	bool pv;
	int64_t pv_mw;
	int64_t pv_rating_mw;
	int64_t pv_ref_mpct;
};

/** struct pd_devctl_out - the decision */
struct pd_devctl_out {
	bool batt_write;
	int64_t batt_mw;
	bool pv_write;
	int64_t pv_mpct;
	const char *why;
};

/**
 * pd_devctl_plan() - the control rules, pure (tests/modbus/devctl_test.c)
 * See docs/modbus.md "Control" for the rules and a worked example.
 */
void pd_devctl_plan(const struct pd_devctl_in *in, struct pd_devctl_out *out);

/**
 * struct pd_devctl_batt - one of several batteries, for the split
 * @soc_mpct, @reserve_mpct: state of charge and the reserve kept
 * @capacity_mwh: usable capacity; <= 0 when unknown (then its energy is
 *                reckoned as one hour at its maximum rate)
 * @max_charge_mw, @max_discharge_mw: its rates (> 0)
 * @ref_mw: its setpoint in force (+ discharge)
 */
struct pd_devctl_batt {
	int64_t soc_mpct;
	int64_t reserve_mpct;
	int64_t capacity_mwh;
	int64_t max_charge_mw;
	int64_t max_discharge_mw;
	int64_t ref_mw;
};

/**
 * pd_devctl_batteries() - several batteries as the one pd_devctl_plan() sees
 * @b: @n batteries (n >= 1)
 * @in: its batt_* fields are set: the sum of the setpoints in force, the
 *      sum of the rates of those that may move that way (above reserve to
 *      discharge, below full to charge), and a state of charge that lets
 *      the rules of the reserve and of a full battery act on them all
 * With n = 1 this is exactly that battery.
 */
void pd_devctl_batteries(const struct pd_devctl_batt *b, int n, struct pd_devctl_in *in);

/**
 * pd_devctl_split() - share a total battery setpoint among @n batteries
 * @total_mw: + discharge, - charge
 * @out: @n setpoints; they sum to @total_mw unless every battery that may
 *       take a share is at its rate
 *
 * Discharge is shared in proportion to each battery's energy above its
 * reserve, charge in proportion to the room below full, each capped at its
 * rate (what a capped battery cannot take goes to the others, in
 * proportion again). A battery at or below its reserve gets no discharge,
 * a full one no charge. Integers only; the last Wh of rounding go to the
 * first batteries in config order, so the result is reproducible.
 */
void pd_devctl_split(const struct pd_devctl_batt *b, int n, int64_t total_mw, int64_t *out);

/**
 * struct pd_devctl - the control's memory between kernel samples
 * @hold_until_ms: after a write, the meter has not seen its effect yet:
 *                 no new decision before (CLOCK_MONOTONIC ms)
 * @writes: setpoints posted
 */
struct pd_devctl {
	uint64_t hold_until_ms[PD_SITE_MAX_DEVICES];
	uint64_t writes;
	uint64_t last_kernel_seq;
};

void pd_devctl_init(struct pd_devctl *c);
/** pd_devctl_run() - one decision on a new kernel sample (event loop) */
void pd_devctl_run(struct pd_devctl *c, struct pd_devices *mod,
		   const struct pd_config *cfg, const struct pd_site *s, time_t now);

/* mbserver.c */
int pd_mbserver_open(struct phloemd *d, char *err, size_t errlen);
void pd_mbserver_close(struct phloemd *d);

#endif /* PHLOEMD_DEVICES_H */
