/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemd: the site state, what the gateway knows about its site now.
 *
 * One struct pd_site per daemon. Producers write into it and say what they
 * changed; consumers read it, or subscribe to kinds of change and are
 * called back from the event loop. No subsystem calls into its consumers:
 *
 *   producers                        site                 consumers
 *   kernel backend (main.c)  --> kernel measurement --+-> policy, history
 *   devices (modbus.c)       --> devices[]          --+-> control socket
 *   peers (peers.c)          --> community, ledger  --+-> peers (gossip)
 *   everyone                 --> events             --+-> MQTT, web, server
 *
 * Threads: the site belongs to the event loop's thread. A producer that
 * runs on its own thread (a Modbus bus blocks in libmodbus) hands its
 * results to the loop through its own fd and writes them into the site
 * from there. Nothing here is locked.
 *
 * Dispatch: pd_site_commit() only records what changed. pd_site_dispatch(),
 * which the event loop calls after every batch of ready fds, calls each
 * subscriber whose mask meets the changes, once per batch with all of them
 * (so ten updates of the same value in one batch are one call), and once
 * per event for PD_SITE_EVENT. A subscriber may update the site in its
 * callback: those changes are dispatched in the same pd_site_dispatch(),
 * after the current round, up to PD_SITE_ROUNDS rounds (then the rest waits
 * for the next batch, so a feedback loop between two subscribers cannot
 * starve the event loop).
 *
 * Units: integers, milli-units (mW, mWh, mV, mA, mHz, and SoC in
 * milli-percent), signed where a direction exists. Power is seen from the
 * site's AC bus: + is power into the site from the grid or from a device
 * (the kernel's site_p_mw > 0 imports, a PV inverter's power is >= 0, a
 * battery's is > 0 discharging and < 0 charging).
 *
 * Values a device may not provide are struct pd_val with @known false: a
 * SunSpec register read as "not implemented" is unknown, never zero.
 */
#ifndef PHLOEMD_SITE_H
#define PHLOEMD_SITE_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/phloem.h>

#include "history.h"

#define PD_SITE_MAX_DEVICES	8
#define PD_SITE_MAX_SUBS	16
#define PD_SITE_EVQ		64	/* events queued between dispatches */
#define PD_SITE_ROUNDS		4

/**
 * enum pd_site_what - the parts of the site state, as subscription mask bits
 * @PD_SITE_KERNEL: the kernel's measurement (struct pd_site_kernel)
 * @PD_SITE_DEVICES: a device's values or state (struct pd_site_device)
 * @PD_SITE_COMMUNITY: the community's net power (struct pd_site_community)
 * @PD_SITE_LEDGER: our ledger balance (struct pd_site_ledger)
 * @PD_SITE_EVENT: an event (the callback's @ev)
 * @PD_SITE_LIMITS: the limits the policy put in force (struct pd_site_limits)
 * @PD_SITE_ALL: every bit
 */
enum pd_site_what {
	PD_SITE_KERNEL		= 1u << 0,
	PD_SITE_DEVICES		= 1u << 1,
	PD_SITE_COMMUNITY	= 1u << 2,
	PD_SITE_LEDGER		= 1u << 3,
	PD_SITE_EVENT		= 1u << 4,
	PD_SITE_LIMITS		= 1u << 5,
	PD_SITE_ALL		= (1u << 6) - 1,
};

/**
 * struct pd_val - a value that may be unknown
 * @known: false: the source does not provide it (unimplemented, not read
 *         yet, device offline); @milli is then 0 and means nothing
 * @milli: the value in milli-units (see the file comment)
 */
struct pd_val {
	bool known;
	int64_t milli;
};

/**
 * struct pd_site_kernel - the kernel's latest measurement
 * @valid: at least one sample was taken
 * @time_ms: wall-clock ms (CLOCK_REALTIME) of the sample
 * @seq: samples taken so far; a consumer compares it to see a new one
 * @info: the device's topology (channels, circuits, relays: names, ratings);
 *        fixed from start to stop
 * @st: the sample: site power (@st.site_p_mw, + import), voltage
 *      (@st.vrms_mv), frequency (@st.freq_mhz), state bits, lease left,
 *      per circuit current and limit (@st.circuit, indexed as @info.circuit),
 *      per relay state (@st.relay), per channel energy counters
 *      (@st.energy, monotonic since the module's probe)
 *
 * The UAPI structures as they are (uapi/linux/phloem.h documents them), so
 * nothing is lost or renamed on the way to a consumer.
 */
struct pd_site_kernel {
	bool valid;
	uint64_t time_ms;
	uint64_t seq;
	struct phloem_info info;
	struct phloem_status st;
};

/**
 * struct pd_site_limits - limits the policy put in force
 * @site_import_mw: site import limit, 0: none
 * @export_limit_mw: site export limit the device control keeps to, 0: none
 * @windows: time-of-use windows open (bit n: config [tou] n)
 */
struct pd_site_limits {
	uint32_t site_import_mw;
	uint32_t export_limit_mw;
	uint32_t windows;
};

/** enum pd_dev_kind - what a device is, from its SunSpec models */
enum pd_dev_kind {
	PD_DEV_UNKNOWN,
	PD_DEV_INVERTER,	/* PV inverter: models 101-103 or 701 */
	PD_DEV_BATTERY,		/* storage: model 124 or 802 (a hybrid counts here) */
	PD_DEV_METER,		/* meter: models 201-204 */
};

/**
 * enum pd_dev_state - how a device answers
 * @PD_DEV_S_INIT: configured, not reached yet
 * @PD_DEV_S_DISCOVER: connected, looking for the SunSpec marker and models
 * @PD_DEV_S_ONLINE: read within its poll period
 * @PD_DEV_S_OFFLINE: timed out or the connection failed: retried with
 *                    backoff; its values are unknown
 * @PD_DEV_S_ERROR: answers, but not usefully (no SunSpec marker, exceptions
 *                  or garbage): retried with backoff
 */
enum pd_dev_state {
	PD_DEV_S_INIT,
	PD_DEV_S_DISCOVER,
	PD_DEV_S_ONLINE,
	PD_DEV_S_OFFLINE,
	PD_DEV_S_ERROR,
};

/**
 * struct pd_site_device - one device's latest values
 * @name: config name ([device NAME])
 * @kind: from its models
 * @state: see enum pd_dev_state
 * @detail: the last error or what was found ("SunSpec at 40000: 1 103 123")
 * @manufacturer: common model Mn
 * @model: common model Md
 * @serial: common model SN
 * @updated_ms: wall-clock ms of the last good read, 0 never
 * @reads: good reads
 * @failures: failed reads (timeouts, exceptions, garbage)
 * @writes: control writes confirmed by read-back
 * @refused: control writes refused (an exception, or read back different)
 * @ac_mw: AC power into the site (inverter >= 0; battery + discharge)
 * @pv_mw: PV (DC) production, when the device tells it apart
 * @soc_mpct: battery state of charge, milli-percent
 * @reserve_mpct: battery reserve the device keeps, milli-percent
 * @capacity_mwh: battery usable capacity
 * @max_charge_mw: battery's maximum charge rate
 * @max_discharge_mw: battery's maximum discharge rate
 * @setpoint_mw: battery setpoint in force as read back (+ discharge)
 * @pv_limit_mpct: PV output limit in force as read back, milli-percent of
 *                 its rating; unknown when the inverter has no control model
 * @rating_mw: nameplate / maximum AC power (WMax, WRtg)
 * @meter_mw: meter's total real power (+ import at the meter's point)
 * @import_mwh: meter's total imported energy (or an inverter's lifetime
 *              production)
 * @export_mwh: meter's total exported energy
 * @vrms_mv: AC voltage (phase A or the average)
 * @freq_mhz: AC frequency
 */
struct pd_site_device {
	char name[32];
	enum pd_dev_kind kind;
	enum pd_dev_state state;
	char detail[96];
	char manufacturer[33];
	char model[33];
	char serial[33];
	uint64_t updated_ms;
	uint64_t reads, failures, writes, refused;
	struct pd_val ac_mw;
	struct pd_val pv_mw;
	struct pd_val soc_mpct;
	struct pd_val reserve_mpct;
	struct pd_val capacity_mwh;
	struct pd_val max_charge_mw;
	struct pd_val max_discharge_mw;
	struct pd_val setpoint_mw;
	struct pd_val pv_limit_mpct;
	struct pd_val rating_mw;
	struct pd_val meter_mw;
	struct pd_val import_mwh;
	struct pd_val export_mwh;
	struct pd_val vrms_mv;
	struct pd_val freq_mhz;
};

/**
 * struct pd_site_community - the community's view, from the peer protocol
 * @valid: the peer protocol runs ([peers] configured)
 * @net_mw: the community's net power (+ import), live members' measurements
 * @counted: members whose measurement is in @net_mw
 * @members: members known
 */
struct pd_site_community {
	bool valid;
	int64_t net_mw;
	int counted;
	int members;
};

/**
 * struct pd_site_ledger - our chain in the ledger
 * @valid: a ledger is open ([peers] ledger=)
 * @balance_mwh: credit received minus credit spent (docs/ledger.md)
 * @head_seq: entries on our chain
 */
struct pd_site_ledger {
	bool valid;
	int64_t balance_mwh;
	uint64_t head_seq;
};

struct pd_site;

/**
 * typedef pd_site_fn - a subscriber's callback
 * @ctx: as given to pd_site_subscribe()
 * @site: the site (read it: the state is current)
 * @changed: the parts that changed since the last call, within the mask
 * @ev: for PD_SITE_EVENT, the event (valid during the call only; copy what
 *      you keep); NULL otherwise
 *
 * An event is its own call, with @changed == PD_SITE_EVENT.
 */
typedef void (*pd_site_fn)(void *ctx, struct pd_site *site, uint32_t changed,
			   const struct pd_event_row *ev);

/**
 * typedef pd_site_sample_fn - the kernel measurement's producer: take a
 * sample now into pd_site_kernel_mut() and pd_site_commit() it.
 * Return: 0 or -errno (the previous sample stays).
 */
typedef int (*pd_site_sample_fn)(void *ctx, struct pd_site *site);

/**
 * struct pd_site - the site state
 * @kernel: see struct pd_site_kernel
 * @limits: see struct pd_site_limits
 * @ndevices: entries in @dev
 * @dev: devices in config order
 * @community: see struct pd_site_community
 * @ledger: see struct pd_site_ledger
 *
 * Read the members directly; write only through pd_site_*_mut() followed by
 * pd_site_commit(), from the event loop's thread. The rest is private.
 */
struct pd_site {
	struct pd_site_kernel kernel;
	struct pd_site_limits limits;
	int ndevices;
	struct pd_site_device dev[PD_SITE_MAX_DEVICES];
	struct pd_site_community community;
	struct pd_site_ledger ledger;

	/* private */
	uint32_t pending;
	struct {
		uint32_t mask;
		pd_site_fn fn;
		void *ctx;
	} sub[PD_SITE_MAX_SUBS];
	struct pd_site_evq_entry {
		struct pd_event_row row;
		char kind[24], cause[128], relay[32], circuit[32],
		     channel[32];
	} evq[PD_SITE_EVQ];
	unsigned evq_head, evq_len;
	uint64_t events_dropped;
	pd_site_sample_fn sample_fn;
	void *sample_ctx;
	bool dispatching;
};

/** pd_site_init() - an empty site: nothing known, no subscribers. */
void pd_site_init(struct pd_site *s);

/**
 * pd_site_subscribe() - call @fn from the event loop when a part in @mask
 * changed
 * Return: a handle >= 0 for pd_site_unsubscribe(), or -ENOSPC.
 * Subscribers are called in the order they subscribed.
 */
int pd_site_subscribe(struct pd_site *s, uint32_t mask, pd_site_fn fn,
		      void *ctx);
/** pd_site_unsubscribe() - stop calling @handle's callback (safe in one). */
void pd_site_unsubscribe(struct pd_site *s, int handle);

/**
 * pd_site_commit() - a producer changed the parts in @what
 * Records them for the next pd_site_dispatch(); calls nobody.
 */
void pd_site_commit(struct pd_site *s, uint32_t what);

/**
 * pd_site_event() - post an event (kernel, device, peers)
 * @e: copied, strings included (a NULL string is stored as "")
 *
 * Queued for the PD_SITE_EVENT subscribers; when PD_SITE_EVQ are already
 * waiting, the oldest is dropped and counted (events_dropped).
 */
void pd_site_event(struct pd_site *s, const struct pd_event_row *e);

/**
 * pd_site_dispatch() - call the subscribers of what changed (event loop)
 * Return: true when changes are still pending after PD_SITE_ROUNDS rounds.
 */
bool pd_site_dispatch(struct pd_site *s);

/**
 * pd_site_set_sampler() - the kernel measurement's producer registers how
 * to take a sample on demand (one producer; a second call replaces it)
 */
void pd_site_set_sampler(struct pd_site *s, pd_site_sample_fn fn, void *ctx);

/**
 * pd_site_sample() - ask the producer for a fresh kernel sample now
 *
 * For a consumer that must answer with the state of this instant (the
 * control socket's status). Commits PD_SITE_KERNEL on success.
 * Return: 0, -ENODEV without a producer, or the producer's -errno.
 */
int pd_site_sample(struct pd_site *s);

/**
 * pd_site_device_add() - a producer declares a device
 * Return: its index, or -ENOSPC. Values start unknown, state INIT.
 */
int pd_site_device_add(struct pd_site *s, const char *name,
		       enum pd_dev_kind kind);
/** pd_site_device_find() - index of device @name, or -1. */
int pd_site_device_find(const struct pd_site *s, const char *name);
/** pd_site_device_forget() - every value of device @i unknown again. */
void pd_site_device_forget(struct pd_site *s, int i);

/** pd_dev_kind_name() / pd_dev_state_name() - "inverter", "online" ... */
const char *pd_dev_kind_name(enum pd_dev_kind k);
const char *pd_dev_state_name(enum pd_dev_state st);

/**
 * pd_site_pv_mw() - the site's PV production now: the sum of the known
 * inverters' AC power (and hybrids' PV power), 0 when none is known
 * @known: set to whether any device contributed
 */
int64_t pd_site_pv_mw(const struct pd_site *s, bool *known);
/**
 * pd_site_battery_mw() - the sum of the batteries' AC power (+ discharge)
 * @known: set to whether any battery contributed
 */
int64_t pd_site_battery_mw(const struct pd_site *s, bool *known);

/** pd_val_set() / pd_val_unknown() - set a struct pd_val. */
static inline struct pd_val pd_val_set(int64_t milli)
{
	return (struct pd_val){ .known = true, .milli = milli };
}

static inline struct pd_val pd_val_unknown(void)
{
	return (struct pd_val){ .known = false, .milli = 0 };
}

#endif /* PHLOEMD_SITE_H */
