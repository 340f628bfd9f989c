/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the phloem selftests: the device node, the simulated
 * HAT's debugfs controls, stream reading with deadlines and driver
 * (re)binding. Every helper returns 0 or a negative errno and never exits,
 * so the tests decide what a failure means.
 *
 * The tests run against the real phloem.ko bound to phloem_sim.ko, whose
 * board is fixed (docs/sim.md): 5 channels (v0, i0 site, i1 kitchen,
 * i2 garage, i3 heating), 4 circuits, 8 relays, safe state on for the
 * fridge (4) and the lights (7).
 */
#ifndef PHLOEM_UTIL_H
#define PHLOEM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <linux/phloem.h>

#define PH_DEV		"/dev/phloem0"
#define PH_SIM		"/sys/kernel/debug/phloem_sim/hat0"
#define PH_DRV		"/sys/bus/platform/drivers/phloem"
#define PH_PDEV		"phloem.0"

/* The simulated board (kernel/sim, docs/sim.md). */
enum {
	CH_V0, CH_SITE, CH_KITCHEN, CH_GARAGE, CH_HEATING,
	SIM_NCHANNELS,
};
enum { CIR_SITE, CIR_KITCHEN, CIR_GARAGE, CIR_HEATING, SIM_NCIRCUITS };
enum {
	R_EV, R_GARAGE_HEATER, R_DISHWASHER, R_OVEN, R_FRIDGE, R_HEATPUMP,
	R_WATER_HEATER, R_LIGHTS, SIM_NRELAYS,
};
#define SIM_RELAYS_ALL	((1u << SIM_NRELAYS) - 1)
#define SIM_RELAYS_SAFE	((1u << R_FRIDGE) | (1u << R_LIGHTS))

#define NSEC_PER_MSEC	1000000ULL
#define NSEC_PER_SEC	1000000000ULL

uint64_t ph_now_ns(void);
void ph_sleep_ms(unsigned int ms);

/* The device node. */
int ph_open(int flags);
int ph_ioctl(int fd, unsigned long cmd, void *arg);	/* 0 or -errno */
int ph_info(int fd, struct phloem_info *info);
int ph_get_config(int fd, struct phloem_config *cfg);
int ph_set_config(int fd, struct phloem_config *cfg);
int ph_status(int fd, struct phloem_status *st);
int ph_stats(int fd, struct phloem_stats *st);
int ph_lease(int fd, uint32_t timeout_ms);
int ph_override(int fd, unsigned int relay, unsigned int mode,
		uint32_t expiry_ms);

/*
 * ph_read_rec() - next record, waiting at most @timeout_ms
 * Return: 1 with @rec filled, 0 on timeout, -errno.
 */
int ph_read_rec(int fd, struct phloem_record *rec, int timeout_ms);

/*
 * An event log: every event read while waiting is kept, so a test can
 * check order and count after the fact (the stream is the only place
 * events are reported and they cannot be read twice).
 */
#define PH_EVLOG_MAX	512
struct ph_evlog {
	unsigned int n;
	uint64_t cycles;		/* cycle records seen meanwhile */
	uint32_t last_relays_on;	/* from the newest cycle record */
	uint32_t last_state;
	struct phloem_record rec[PH_EVLOG_MAX];
};

/*
 * ph_wait_event() - read the stream until an event of @kind (for @relay
 * unless it is PHLOEM_NONE) arrives or @timeout_ms passes, logging every
 * event in @log (may be NULL).
 * Return: 1 with @ev (may be NULL) filled, 0 on timeout, -errno.
 */
int ph_wait_event(int fd, struct ph_evlog *log, unsigned int kind,
		  unsigned int relay, int timeout_ms,
		  struct phloem_record *ev);
/* Keep reading (and logging) for @ms. */
int ph_drain(int fd, struct ph_evlog *log, int ms);
/* Events of @kind in the log (for @relay unless PHLOEM_NONE). */
unsigned int ph_evlog_count(const struct ph_evlog *log, unsigned int kind,
			    unsigned int relay);

/* Print the log as "# " lines (for a failing test's output). */
void ph_evlog_dump(const struct ph_evlog *log, FILE *f);

/* Wait until the device has left failsafe on good samples. */
int ph_wait_ready(int fd, int timeout_ms);
/*
 * Wait until out of failsafe and every relay is back on (@fd opened for
 * writing: the staggered return is sped up through SET_CONFIG, then the
 * configuration in force before is put back).
 */
int ph_settle(int fd, int timeout_ms);

/*
 * Under QEMU TCG the guest stalls now and then for a few hundred ms, longer
 * than the board's stale_ms (100): tests that are not about staleness set
 * this instead, so a hiccup of the emulator does not put the house in
 * failsafe in the middle of another test. Fills @cfg with what is in force.
 */
#define PH_TCG_STALE_MS	2000
int ph_tolerate_tcg(int fd, struct phloem_config *cfg);

/* The simulated HAT (debugfs). */
int sim_write(const char *attr, long long val);
int sim_read(const char *attr, long long *val);
int sim_relays(uint32_t *bitmap);
/* sim_writef("relay%u/load_ma", r) style helpers */
int sim_set(long long val, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int sim_get(long long *val, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct sim_relay_change {
	uint64_t t_ns;
	unsigned int line;
	unsigned int value;
};
/* Parse relay_log; returns the number of entries (<= max) or -errno. */
int sim_relay_log(struct sim_relay_change *out, int max);
int sim_relay_log_clear(void);

/* Default relay loads of the small house (mA while on). */
extern const unsigned int sim_def_load_ma[SIM_NRELAYS];
/*
 * Put the simulated board back to its load-time model (docs/sim.md):
 * base currents, loads, phases, harmonics, faults, stall, frequency;
 * pending steps are cancelled.
 */
int sim_reset(void);

/* Driver binding and module reload (as root in the VM). */
int ph_unbind(void);
int ph_bind(void);
int ph_rmmod(void);
int ph_insmod(void);
bool ph_present(void);
int ph_module_refcnt(void);		/* -errno when not loaded */
/*
 * sim_reload() - unload phloem_sim (when loaded) and insmod it again
 * (PHLOEM_SIM_KO, or kernel/sim/phloem_sim.ko) with @params, "" for the
 * defaults; then, unless @timeout_ms is 0, wait that long for PH_DEV (the
 * driver probes late after a deferral).
 */
int sim_reload(const char *params, int timeout_ms);
/* Fresh driver state: unbind+bind, then ph_settle(). */
int ph_rebind_fresh(int timeout_ms);

long ph_slab_unreclaim_kb(void);

#endif /* PHLOEM_UTIL_H */
