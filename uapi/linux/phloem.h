/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * phloem: metering HAT and in-kernel load shedding for energy gateways.
 *
 * This header is the whole contract between phloem.ko and userspace: the
 * records read from /dev/phloemN, the ioctls on it, and the generic netlink
 * family. Nothing here is duplicated anywhere else in the tree.
 *
 * Units are fixed-point integers throughout: mV, mA, mW, mVA, mWh, mHz,
 * milli-degrees, ns, ms. Power and energy are signed from the site's point of
 * view: positive real power is import (consumption), negative is export.
 *
 * Char device /dev/phloemN
 * ------------------------
 *
 * read():
 *   Returns whole struct phloem_record units (PHLOEM_RECORD_SIZE bytes
 *   each), never a partial record; a buffer smaller than one record gets
 *   -EINVAL. Every opener has its own ring of PHLOEM_RING_RECORDS records.
 *   When a reader falls behind, the oldest records are dropped and the next
 *   read() starts with a PHLOEM_REC_OVERFLOW record that says how many were
 *   lost. Blocks until a record is available unless O_NONBLOCK (-EAGAIN).
 *   poll() reports EPOLLIN when at least one record is queued.
 *
 * ioctl():
 *   Every argument structure starts with __u32 size, which the caller sets to
 *   sizeof() of the structure it was compiled with. The kernel accepts any
 *   size from the first published version (PHLOEM_*_SIZE_VER0) up; a larger
 *   structure is accepted only when every byte the kernel does not know is
 *   zero. Bad sizes, unknown flag bits, reserved fields that are not zero and
 *   out-of-range values get -EINVAL and change nothing. Commands that change
 *   state need CAP_NET_ADMIN (-EPERM); the stream and the read-only ioctls
 *   need only read access to the node (group-readable by "phloem").
 *   Unknown commands get -ENOTTY.
 *
 *   PHLOEM_IOC_INFO       R  struct phloem_info: topology and identity.
 *   PHLOEM_IOC_GET_CONFIG R  struct phloem_config: configuration in force.
 *   PHLOEM_IOC_SET_CONFIG W  struct phloem_config: replace the configuration
 *                            (limits, priorities, calibration, rate) as one
 *                            unit. Topology fields must match INFO.
 *   PHLOEM_IOC_OVERRIDE   W  struct phloem_override: manual relay override
 *                            with an expiry.
 *   PHLOEM_IOC_LEASE      W  struct phloem_lease: agent heartbeat.
 *   PHLOEM_IOC_GET_STATUS R  struct phloem_status: live state and energy.
 *   PHLOEM_IOC_GET_STATS  R  struct phloem_stats: counters and the
 *                            sample-to-relay latency histogram.
 *
 * Limits in force
 * ---------------
 *   Firmware properties give the boot-time configuration, in force from
 *   probe, before any agent runs. PHLOEM_IOC_SET_CONFIG replaces it. While an
 *   agent holds a lease (PHLOEM_IOC_LEASE with a non-zero timeout), the
 *   limits it set stay in force; when the lease lapses without renewal, the
 *   circuit limits and site import limit fall back to the boot-time values
 *   and a PHLOEM_EV_LEASE_EXPIRED event is queued. A limit is never allowed
 *   above the breaker rating given by firmware.
 */
#ifndef _UAPI_LINUX_PHLOEM_H
#define _UAPI_LINUX_PHLOEM_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define PHLOEM_ABI_VERSION	1

#define PHLOEM_MAX_CHANNELS	8	/* ADC inputs: voltages and currents */
#define PHLOEM_MAX_CIRCUITS	8	/* circuit 0 is the site (main incomer) */
#define PHLOEM_MAX_RELAYS	16
#define PHLOEM_MAX_SIGNALS	4	/* grid-operator input lines, K1..K4 */
#define PHLOEM_MAX_PHASES	3	/* L1..L3: voltage channels v0..v2 */
#define PHLOEM_NAME_LEN		16	/* NUL-terminated */
#define PHLOEM_RING_RECORDS	1024	/* per opener */
#define PHLOEM_LAT_BUCKETS	48

#define PHLOEM_RATE_MIN_HZ	1000	/* per channel */
#define PHLOEM_RATE_MAX_HZ	20000

/* ------------------------------------------------------------------ */
/* Stream records                                                      */
/* ------------------------------------------------------------------ */

/**
 * enum phloem_record_type - what a record's body holds
 * @PHLOEM_REC_CYCLE: per mains cycle measurements (struct phloem_rec_cycle)
 * @PHLOEM_REC_EVENT: a shedding or safety event (struct phloem_rec_event)
 * @PHLOEM_REC_OVERFLOW: records were lost (struct phloem_rec_overflow)
 */
enum phloem_record_type {
	PHLOEM_REC_UNSPEC,
	PHLOEM_REC_CYCLE,
	PHLOEM_REC_EVENT,
	PHLOEM_REC_OVERFLOW,
	__PHLOEM_REC_MAX,
};

/**
 * struct phloem_record_hdr - common header of every stream record
 * @type: enum phloem_record_type
 * @size: size of the whole record, PHLOEM_RECORD_SIZE
 * @seq: per-device sequence number, +1 for every record produced (so a
 *       reader can see gaps as well as the overflow record)
 * @time_ns: CLOCK_MONOTONIC time the record describes (end of the cycle,
 *           time of the event)
 */
struct phloem_record_hdr {
	__u16 type;
	__u16 size;
	__u32 seq;
	__u64 time_ns;
};

/** enum phloem_chan_kind - what an ADC channel measures */
enum phloem_chan_kind {
	PHLOEM_CHAN_VOLTAGE,
	PHLOEM_CHAN_CURRENT,
};

/* struct phloem_chan_cycle.flags */
#define PHLOEM_CHAN_F_CLIPPED	(1U << 0)	/* a sample hit the ADC's range */
#define PHLOEM_CHAN_F_FAULT	(1U << 1)	/* a read of this channel failed */
#define __PHLOEM_CHAN_F_ALL	0x3U

/**
 * struct phloem_chan_cycle - one channel over one mains cycle
 * @rms: RMS value, mV for a voltage channel, mA for a current channel
 * @p_mw: real power, current channels only (mean of v*i against the phase
 *        voltage the channel is wired to); positive is import
 * @s_mva: apparent power, Vrms * Irms; current channels only
 * @pf_milli: power factor in thousandths, -1000..1000 (sign of p_mw)
 * @flags: PHLOEM_CHAN_F_*
 */
struct phloem_chan_cycle {
	__u32 rms;
	__s32 p_mw;
	__u32 s_mva;
	__s16 pf_milli;
	__u16 flags;
};

/* State bits, in struct phloem_rec_cycle.state and struct phloem_status */
#define PHLOEM_STATE_F_FAILSAFE	(1U << 0)	/* relays held in safe state */
#define PHLOEM_STATE_F_LEASED	(1U << 1)	/* an agent lease is live */
#define PHLOEM_STATE_F_BOOT_LIMITS (1U << 2)	/* boot-time limits in force */
#define PHLOEM_STATE_F_NO_MAINS	(1U << 3)	/* no zero crossings: cycles
						 * are timed at nominal rate */
#define PHLOEM_STATE_F_SHEDDING	(1U << 4)	/* at least one relay shed */
#define PHLOEM_STATE_F_UNDER_FREQ (1U << 5)	/* an under-frequency stage
						 * is operated */
#define PHLOEM_STATE_F_OVER_FREQ (1U << 6)	/* above over_freq_mhz */
#define PHLOEM_STATE_F_GRID_SIGNAL (1U << 7)	/* a grid-operator input line
						 * is active */
#define PHLOEM_STATE_F_PHASE	(1U << 8)	/* a phase rule is shedding: a
						 * phase above its limit, or
						 * the phases' imbalance */
#define PHLOEM_STATE_F_ISLAND	(1U << 9)	/* mains lost: islanded, or
						 * the staggered return */
#define PHLOEM_STATE_F_UNDER_VOLTAGE (1U << 10)	/* the under-voltage rule
						 * is shedding */

/**
 * struct phloem_rec_cycle - measurements over one mains cycle
 * @freq_mhz: mains frequency from the voltage zero crossings, mHz
 * @nsamples: samples per channel in this cycle
 * @relays_on: bit n set when relay n is energised
 * @relays_shed: bit n set when relay n is off because it was shed
 * @state: PHLOEM_STATE_F_*
 * @nchannels: valid entries in @chan
 * @chan: per channel values, indexed as in struct phloem_info.chan
 */
struct phloem_rec_cycle {
	__u32 freq_mhz;
	__u32 nsamples;
	__u32 relays_on;
	__u32 relays_shed;
	__u32 state;
	__u32 nchannels;
	struct phloem_chan_cycle chan[PHLOEM_MAX_CHANNELS];
};

/** enum phloem_event_kind - events on the stream (and the netlink group) */
enum phloem_event_kind {
	PHLOEM_EV_UNSPEC,
	PHLOEM_EV_OVERLOAD,		/* a rule saw a limit crossed */
	PHLOEM_EV_SHED,			/* a relay was switched off */
	PHLOEM_EV_RESTORE,		/* a shed relay was switched back on */
	PHLOEM_EV_FAILSAFE_ENTER,	/* relays put in their safe state */
	PHLOEM_EV_FAILSAFE_LEAVE,	/* measurements good again */
	PHLOEM_EV_LEASE_EXPIRED,	/* boot-time limits back in force */
	PHLOEM_EV_ADC_FAULT,		/* a channel read failed */
	PHLOEM_EV_OVERRIDE,		/* manual override set or expired */
	PHLOEM_EV_CONFIG,		/* configuration replaced */
	PHLOEM_EV_HOLD,			/* why a shed relay is held changed:
					 * value enum phloem_hold, limit ms
					 * to its next restore attempt */
	PHLOEM_EV_FREQ,			/* a frequency rule changed state:
					 * cause UNDER_FREQ (a stage
					 * operated), OVER_FREQ (over-
					 * frequency began) or FREQ_OK (it
					 * ended, a stage released); value
					 * the filtered frequency, limit the
					 * threshold (mHz); backoff the stage,
					 * PHLOEM_FREQ_STAGES for over-freq */
	PHLOEM_EV_SIGNAL,		/* a grid-operator input line changed
					 * (after its debounce): channel the
					 * line (0 = K1), value 1 active or 0
					 * inactive, limit the site import
					 * limit in force after it (mW, 0
					 * none), trigger_ns the first sample
					 * set that saw the new level */
	PHLOEM_EV_MAINS,		/* the outage rule changed state: cause
					 * OUTAGE (the island began: every
					 * relay neither critical nor in
					 * outage_relays shed), or MAINS_BACK
					 * (stable mains for return_ms: the
					 * staggered return began); channel
					 * the voltage channel that decided
					 * (OUTAGE) or PHLOEM_NONE, value its
					 * RMS (mV), limit the threshold (mV) */
	PHLOEM_EV_VOLTAGE,		/* a phase's voltage left or came back
					 * to its band for volt_delay_ms:
					 * cause UNDER_VOLTAGE, OVER_VOLTAGE or
					 * VOLTAGE_OK; channel the phase's
					 * voltage channel, value its cycle
					 * RMS, limit the band's edge (mV) */
	__PHLOEM_EV_MAX,
};

/** enum phloem_cause - why an event happened */
enum phloem_cause {
	PHLOEM_CAUSE_NONE,
	PHLOEM_CAUSE_INSTANT,		/* half-cycle RMS above inst_pct */
	PHLOEM_CAUSE_THERMAL,		/* I2t model reached thermal_pct */
	PHLOEM_CAUSE_SITE_IMPORT,	/* site real power above import limit */
	PHLOEM_CAUSE_MANUAL,		/* operator override */
	PHLOEM_CAUSE_LEASE,		/* agent lease lapsed */
	PHLOEM_CAUSE_ADC,		/* ADC read error */
	PHLOEM_CAUSE_STALE,		/* samples stopped arriving */
	PHLOEM_CAUSE_UNLOAD,		/* driver unbound */
	PHLOEM_CAUSE_HEADROOM,		/* restore: load fits under hysteresis */
	PHLOEM_CAUSE_HOLD,		/* restore attempt at the end of a hold:
					 * the estimate did not fit, the
					 * circuit and site measure room */
	PHLOEM_CAUSE_UNDER_FREQ,	/* filtered frequency under a stage's
					 * threshold for its delay */
	PHLOEM_CAUSE_OVER_FREQ,		/* above over_freq_mhz for its delay */
	PHLOEM_CAUSE_FREQ_OK,		/* frequency back: a stage released
					 * (above threshold + hysteresis for
					 * restore_ms) or over-freq ended */
	PHLOEM_CAUSE_GRID_SIGNAL,	/* a grid-operator input line: its
					 * relays, or site import above its
					 * cap */
	PHLOEM_CAUSE_PHASE,		/* a phase's current above its
					 * phase_limit_ma (mA; channel: the
					 * phase's site CT) */
	PHLOEM_CAUSE_IMBALANCE,		/* highest minus lowest phase
					 * current above imbalance_ma (mA;
					 * channel: the most loaded phase's
					 * site CT) */
	PHLOEM_CAUSE_IMBALANCE_VA,	/* the same in apparent power,
					 * above imbalance_mva (mVA) */
	PHLOEM_CAUSE_OUTAGE,		/* mains lost: a phase under
					 * outage_pct of nominal for
					 * outage_cycles (the island) */
	PHLOEM_CAUSE_MAINS_BACK,	/* mains stable for return_ms */
	PHLOEM_CAUSE_UNDER_VOLTAGE,	/* a phase under its band; on a
					 * PHLOEM_EV_SHED: under uv_shed_pct
					 * for uv_shed_ms */
	PHLOEM_CAUSE_OVER_VOLTAGE,	/* a phase over its band */
	PHLOEM_CAUSE_VOLTAGE_OK,	/* a phase back in its band */
	__PHLOEM_CAUSE_MAX,
};

#define PHLOEM_NONE	0xff	/* no relay / circuit / channel */

/**
 * struct phloem_rec_event - a shedding or safety event
 * @kind: enum phloem_event_kind
 * @cause: enum phloem_cause
 * @relay: relay index, or PHLOEM_NONE
 * @circuit: circuit index, or PHLOEM_NONE
 * @channel: channel index, or PHLOEM_NONE
 * @backoff: the relay's backoff level after this event (restore waits
 *           min_off_ms << backoff)
 * @value: measured value at the time: mA for circuit and phase rules, mW
 *         for the site import rule, mA or mVA for the imbalance rule (its
 *         cause says which), 0 where nothing was measured
 * @limit: the limit in force that @value was compared against (same unit)
 * @trigger_ns: CLOCK_MONOTONIC time of the sample that crossed the limit;
 *              equal to the header time for events without a trigger
 * @latency_ns: for PHLOEM_EV_SHED, time from that sample to the relay
 *              GPIO write returning; 0 otherwise
 */
struct phloem_rec_event {
	__u16 kind;
	__u16 cause;
	__u8 relay;
	__u8 circuit;
	__u8 channel;
	__u8 backoff;
	__u32 value;
	__u32 limit;
	__u64 trigger_ns;
	__u64 latency_ns;
};

/**
 * struct phloem_rec_overflow - records dropped from this opener's ring
 * @lost: number of records dropped since the previous overflow record
 */
struct phloem_rec_overflow {
	__u64 lost;
};

#define PHLOEM_RECORD_SIZE	192

/** struct phloem_record - one fixed-size unit of the read() stream */
struct phloem_record {
	struct phloem_record_hdr hdr;
	union {
		struct phloem_rec_cycle cycle;
		struct phloem_rec_event event;
		struct phloem_rec_overflow overflow;
		__u8 raw[PHLOEM_RECORD_SIZE - sizeof(struct phloem_record_hdr)];
	};
};

/* ------------------------------------------------------------------ */
/* ioctl structures                                                    */
/* ------------------------------------------------------------------ */

/**
 * struct phloem_chan_info - one ADC channel, fixed by firmware
 * @name: io-channel-names entry ("v0".."v2" voltages, "i0".."i7" currents)
 * @kind: enum phloem_chan_kind
 * @phase: voltage channel index this current is measured against; for a
 *         voltage channel its own index
 * @circuit: circuit this current channel measures, or PHLOEM_NONE
 * @bits: ADC resolution in bits (raw range 0 .. 2^bits - 1)
 */
struct phloem_chan_info {
	char name[PHLOEM_NAME_LEN];
	__u8 kind;
	__u8 phase;
	__u8 circuit;
	__u8 bits;
};

/** enum phloem_curve - breaker trip characteristic (IEC 60898-1) */
enum phloem_curve {
	PHLOEM_CURVE_B,		/* magnetic trip at 3..5 In */
	PHLOEM_CURVE_C,		/* magnetic trip at 5..10 In */
	PHLOEM_CURVE_D,		/* magnetic trip at 10..20 In */
	__PHLOEM_CURVE_MAX,
};

/**
 * struct phloem_circuit_info - one circuit, fixed by firmware
 * @name: circuit name ("site" for circuit 0)
 * @channel: current channel that measures it
 * @curve: enum phloem_curve of its breaker
 * @rating_ma: breaker rating In; no configured limit may exceed it
 */
struct phloem_circuit_info {
	char name[PHLOEM_NAME_LEN];
	__u8 channel;
	__u8 curve;
	__u16 reserved;
	__u32 rating_ma;
};

/**
 * struct phloem_relay_info - one relay, fixed by firmware
 * @name: relay name (the load it switches)
 * @safe_state: 0 off or 1 on: the state the relay is put in when
 *              measurements cannot be trusted and when the driver unbinds
 */
struct phloem_relay_info {
	char name[PHLOEM_NAME_LEN];
	__u8 safe_state;
	__u8 reserved[3];
};

/* the size before @nsignals was added: still accepted */
#define PHLOEM_INFO_SIZE_VER0	(48 + 20 * PHLOEM_MAX_CHANNELS + \
				 24 * PHLOEM_MAX_CIRCUITS + \
				 20 * PHLOEM_MAX_RELAYS)
#define PHLOEM_INFO_SIZE_VER1	sizeof(struct phloem_info)

/**
 * struct phloem_info - device identity and topology (PHLOEM_IOC_INFO)
 * @size: set by the caller to sizeof(struct phloem_info)
 * @abi_version: PHLOEM_ABI_VERSION
 * @name: device name ("phloem0")
 * @nchannels: valid entries in @chan
 * @ncircuits: valid entries in @circuit
 * @nrelays: valid entries in @relay
 * @mains_hz: nominal mains frequency (50 or 60)
 * @record_size: PHLOEM_RECORD_SIZE
 * @ring_records: PHLOEM_RING_RECORDS
 * @chan: channels
 * @circuit: circuits; circuit 0 is the site
 * @relay: relays
 * @nsignals: grid-operator input lines (grid-signal-gpios), 0..
 *            PHLOEM_MAX_SIGNALS; line n is K(n+1) (appended in VER1)
 */
struct phloem_info {
	__u32 size;
	__u32 abi_version;
	char name[PHLOEM_NAME_LEN];
	__u32 nchannels;
	__u32 ncircuits;
	__u32 nrelays;
	__u32 mains_hz;
	__u32 record_size;
	__u32 ring_records;
	struct phloem_chan_info chan[PHLOEM_MAX_CHANNELS];
	struct phloem_circuit_info circuit[PHLOEM_MAX_CIRCUITS];
	struct phloem_relay_info relay[PHLOEM_MAX_RELAYS];
	__u32 nsignals;
};

/**
 * struct phloem_chan_cal - calibration of one channel
 * @scale_uunit: micro-volts or micro-amperes per ADC step, 1..100000000
 * @offset_lsb: raw reading at zero volts or amperes (bias), 0..2^bits-1
 * @phase_mdeg: phase correction in milli-degrees, -20000..20000; positive
 *              delays the voltage used for this current's power, which
 *              corrects a current that lags its true phase (a CT's or the
 *              sampling order's delay); negative corrects a leading one
 * @reserved: must be zero
 */
struct phloem_chan_cal {
	__u32 scale_uunit;
	__u32 offset_lsb;
	__s32 phase_mdeg;
	__u32 reserved;
};

/**
 * struct phloem_circuit_cfg - shedding parameters of one circuit
 * @limit_ma: operating limit, the current the circuit is kept under;
 *            1..rating_ma
 * @inst_pct: instantaneous rule: shed at once when the half-cycle RMS
 *            exceeds this percentage of @limit_ma; 105..1000
 * @thermal_pct: thermal rule: shed when the I2t model of the breaker has used
 *               this percentage of its trip budget; 5..90
 * @restore_pct: hysteresis: a shed relay comes back only when the measured
 *               current plus the relay's estimated load is under this
 *               percentage of @limit_ma; 10..100
 * @max_hold_s: the longest a shed relay of this circuit is held off past
 *              its minimum off time because its load estimate does not
 *              fit: it then gets a restore attempt whenever the circuit
 *              and the site measure under their restore thresholds and no
 *              rule is shedding. 0..PHLOEM_MAX_HOLD_MAX_S, 0 meaning
 *              PHLOEM_MAX_HOLD_DEFAULT_S. Earlier attempts follow a backoff
 *              of restore_delay_ms, doubled per failed attempt.
 */
struct phloem_circuit_cfg {
	__u32 limit_ma;
	__u16 inst_pct;
	__u16 thermal_pct;
	__u16 restore_pct;
	__u16 max_hold_s;
};

#define PHLOEM_MAX_HOLD_DEFAULT_S	900	/* 15 minutes */
#define PHLOEM_MAX_HOLD_MAX_S		43200	/* 12 hours */

/* struct phloem_relay_cfg.flags */
#define PHLOEM_RELAY_F_CRITICAL	(1U << 0)	/* never shed by policy */
#define __PHLOEM_RELAY_F_ALL	0x1U

/**
 * struct phloem_relay_cfg - policy of one relay
 * @circuit: circuit the relay's load is on, < ncircuits (not 0 unless the
 *           site has no sub-circuits)
 * @priority: 0 (shed first) .. 255 (shed last)
 * @flags: PHLOEM_RELAY_F_*
 * @reserved: must be zero
 * @min_off_ms: minimum time off after a shed before a restore, 0..3600000
 */
struct phloem_relay_cfg {
	__u8 circuit;
	__u8 priority;
	__u8 flags;
	__u8 reserved;
	__u32 min_off_ms;
};

/* struct phloem_config.flags: none defined yet */
#define __PHLOEM_CFG_F_ALL	0x0U

#define PHLOEM_FREQ_STAGES	4	/* under-frequency stages */
#define PHLOEM_FREQ_DELAY_MAX_MS	60000
#define PHLOEM_FREQ_RESTORE_MAX_MS	3600000
#define PHLOEM_FREQ_HYST_MAX_MHZ	2000
#define PHLOEM_FREQ_BAND_MHZ	50	/* normal band half-width: a stage's
					 * threshold + hysteresis must stay
					 * this far under nominal */
#define PHLOEM_FREQ_OVER_HYST_MHZ	50	/* over-freq ends this far
						 * under over_freq_mhz */

/**
 * struct phloem_freq_stage - one under-frequency load-shedding stage
 * @threshold_mhz: the stage operates when the filtered frequency stays
 *                 below this for @delay_ms; 0 disables the stage (every
 *                 other field then 0). From 90 % of nominal (45000 at
 *                 50 Hz, 54000 at 60 Hz) to nominal minus
 *                 PHLOEM_FREQ_BAND_MHZ minus @hyst_mhz
 * @delay_ms: operate delay, 0..PHLOEM_FREQ_DELAY_MAX_MS
 * @restore_ms: the frequency must be at or above @threshold_mhz +
 *              @hyst_mhz this long before the stage releases its relays to
 *              the normal restore path; 0..PHLOEM_FREQ_RESTORE_MAX_MS
 * @hyst_mhz: restore hysteresis, 0..PHLOEM_FREQ_HYST_MAX_MHZ
 * @prio_min: the stage sheds every relay that is not critical and whose
 *            priority is in @prio_min..@prio_max (inclusive)
 * @prio_max: >= @prio_min
 */
struct phloem_freq_stage {
	__u32 threshold_mhz;
	__u32 delay_ms;
	__u32 restore_ms;
	__u16 hyst_mhz;
	__u8 prio_min;
	__u8 prio_max;
};

/**
 * struct phloem_signal_cfg - action of one grid-operator input line while
 * it is active (contact in its active level, after the debounce)
 * @import_cap_mw: cap on the site real power import; the limit in force is
 *                 the lower of site_import_limit_mw (when set) and every
 *                 active line's cap. Above it the unit sheds by priority at
 *                 once, without site_import_grace_ms. 0: no cap
 * @shed_relays: bit n: relay n is shed while the line is active (critical
 *               relays never are); bits only below nrelays
 */
struct phloem_signal_cfg {
	__u32 import_cap_mw;
	__u32 shed_relays;
};

#define PHLOEM_SIGNAL_DEBOUNCE_MAX_US	10000	/* half a 50 Hz cycle */
#define PHLOEM_PHASE_GRACE_MAX_MS	600000
/* the mains rules (docs/shedding.md, Mains); a 0 in a field means: */
#define PHLOEM_NOMINAL_MV_DEFAULT	230000
#define PHLOEM_OUTAGE_CYCLES_DEFAULT	2
#define PHLOEM_OUTAGE_CYCLES_MAX	50
#define PHLOEM_RETURN_MS_DEFAULT	60000
#define PHLOEM_RETURN_MS_MAX		600000
#define PHLOEM_RETURN_STAGGER_MS_DEFAULT 1000
#define PHLOEM_RETURN_STAGGER_MS_MAX	60000
#define PHLOEM_VOLT_BAND_RETURN_PCT	10	/* band of the return when
						 * volt_band_pct is 0 */
#define PHLOEM_VOLT_BAND_MAX_PCT	20
#define PHLOEM_VOLT_DELAY_MAX_MS	60000
#define PHLOEM_UV_SHED_MIN_PCT		50
#define PHLOEM_UV_SHED_MAX_PCT		99
#define PHLOEM_UV_SHED_HYST_PCT		2	/* back at uv_shed_pct + 2 */
#define PHLOEM_UV_SHED_MAX_MS		600000
#define PHLOEM_OUTAGE_MAX_PCT		90
#define PHLOEM_NOMINAL_MV_MIN		50000
#define PHLOEM_NOMINAL_MV_MAX		500000

/*
 * VER0: the size before the frequency rule was appended; VER1: before the
 * grid-operator lines were appended; VER2: before the phase rules were.
 * All still accepted; a SET_CONFIG of these sizes sets the frequency rule
 * to off when VER0, keeps the lines' configuration in force when VER0 or
 * VER1 (it is not zeroed), and keeps the phase rules' in force when VER0,
 * VER1 or VER2
 */
#define PHLOEM_CONFIG_SIZE_VER0	(64 + 16 * PHLOEM_MAX_CHANNELS + \
				 12 * PHLOEM_MAX_CIRCUITS + \
				 8 * PHLOEM_MAX_RELAYS)
#define PHLOEM_CONFIG_SIZE_VER1	(PHLOEM_CONFIG_SIZE_VER0 + 8 + \
				 16 * PHLOEM_FREQ_STAGES)
#define PHLOEM_CONFIG_SIZE_VER2	(PHLOEM_CONFIG_SIZE_VER1 + 8 + \
				 8 * PHLOEM_MAX_SIGNALS)
#define PHLOEM_CONFIG_SIZE_VER3	(PHLOEM_CONFIG_SIZE_VER2 + \
				 4 * PHLOEM_MAX_PHASES + 12)
#define PHLOEM_CONFIG_SIZE_VER4	sizeof(struct phloem_config)

/**
 * struct phloem_config - configuration (PHLOEM_IOC_GET/SET_CONFIG)
 * @size: set by the caller to sizeof(struct phloem_config)
 * @flags: __PHLOEM_CFG_F_ALL
 * @sample_rate_hz: samples per second per channel,
 *                  PHLOEM_RATE_MIN_HZ..PHLOEM_RATE_MAX_HZ
 * @site_import_limit_mw: site real power import limit; 0 disables the rule
 * @site_import_grace_ms: the site may stay above the import limit this
 *                        long before each shed step; 0..600000
 * @restore_delay_ms: time the headroom must last before a restore, and the
 *                    spacing between two restores; 0..3600000
 * @retrip_window_ms: a relay shed again within this time of its restore
 *                    doubles its off time (backoff); 0..86400000
 * @backoff_max: largest backoff level (off time min_off_ms << level); 0..10
 * @stale_ms: samples older than this put relays in their safe state;
 *            1..10000
 * @nchannels: must equal struct phloem_info.nchannels
 * @ncircuits: must equal struct phloem_info.ncircuits
 * @nrelays: must equal struct phloem_info.nrelays
 * @reserved: must be zero
 * @cal: per channel calibration
 * @circuit: per circuit limits
 * @relay: per relay policy
 * @over_freq_mhz: over-frequency is reported (PHLOEM_EV_FREQ, state
 *                 PHLOEM_STATE_F_OVER_FREQ) when the filtered frequency
 *                 stays above this for @over_freq_ms; 0 disables it, else
 *                 nominal + PHLOEM_FREQ_BAND_MHZ .. 110 % of nominal
 *                 (appended in VER1, as every field below)
 * @over_freq_ms: 0..PHLOEM_FREQ_DELAY_MAX_MS; 0 when @over_freq_mhz is 0
 * @freq_stage: under-frequency stages (all off: zero)
 *
 * @signal_debounce_us: a grid-operator line must hold a new level this long
 *                      before it counts; 0..PHLOEM_SIGNAL_DEBOUNCE_MAX_US
 *                      (appended in VER2, as the fields below)
 * @signal_reserved: must be zero
 * @signal: per grid-operator line action, zero past info.nsignals
 *
 * @phase_limit_ma: per phase (L1..L3: voltage channels v0..v2), the limit
 *                  on its current as the site's CT on that phase measures
 *                  it (a current channel of circuit 0 on that phase); above
 *                  it for @phase_grace_ms the unit sheds, by priority,
 *                  relays whose circuit is on that phase. 0: off; else
 *                  1..circuit 0's rating_ma, only for a phase with a site
 *                  CT (appended in VER3, as the fields below)
 * @imbalance_ma: the highest phase current minus the lowest (of the phases
 *                with a site CT) above this for @phase_grace_ms sheds, by
 *                priority, relays on the most loaded phase. 0: off; else
 *                1..circuit 0's rating_ma, with two phases measured at
 *                least (VDE-AR-N 4100: 20000)
 * @imbalance_mva: the same on the phases' apparent power (4600000)
 * @phase_grace_ms: 0..PHLOEM_PHASE_GRACE_MAX_MS; a shed step follows the
 *                  previous one after it, or after one whole measured
 *                  cycle when shorter
 *
 * A phase, or the imbalance, comes back under its rule's restore threshold
 * at circuit 0's restore_pct of the limit.
 *
 * @nominal_mv: nominal phase voltage the mains rules are in % of; 0:
 *              PHLOEM_NOMINAL_MV_DEFAULT, else 50000..500000 (appended in
 *              VER4, as the fields below)
 * @outage_pct: a voltage phase whose half-cycle RMS stays under this % of
 *              nominal for @outage_cycles is an outage: the island (every
 *              relay neither critical nor in @outage_relays shed and held
 *              until the staggered return). 0: off; else 1..90
 * @outage_cycles: 0: 2; else 1..50 nominal cycles
 * @outage_relays: relays kept on in the island beside the critical ones
 *                 (bitmask, bits below info.nrelays)
 * @return_ms: every phase inside the return band (@volt_band_pct, 10 when
 *             0) and the filtered frequency within 1 % of nominal for this
 *             long ends the island; 0: 60000; else 1..600000
 * @return_stagger_ms: then the island's relays are released one at a time
 *                     this far apart into the restore gate; 0: 1000; else
 *                     1..60000
 * @volt_band_pct: under- and over-voltage events at nominal -+ this %
 *                 (EN 50160: 10); 0: off; else 1..20
 * @volt_delay_ms: a phase must stay out of (back in) the band this long
 *                 for the event; 0..60000
 * @uv_shed_pct: the under-voltage rule: a phase under this % of nominal for
 *               @uv_shed_ms sheds, by priority, relays on that phase, a
 *               step each @uv_shed_ms (one cycle at least), and holds them
 *               until every such phase is back at @uv_shed_pct + 2. 0: off;
 *               else 50..99
 * @uv_shed_ms: 0..600000
 *
 * A caller that sets the VER0 size sets the frequency rule to off; one that
 * sets VER0 or VER1 keeps the grid-operator lines' configuration in force;
 * one that sets VER0..VER2 keeps the phase rules' in force; VER0..VER3 the
 * mains rules'.
 */
struct phloem_config {
	__u32 size;
	__u32 flags;
	__u32 sample_rate_hz;
	__u32 site_import_limit_mw;
	__u32 site_import_grace_ms;
	__u32 restore_delay_ms;
	__u32 retrip_window_ms;
	__u32 backoff_max;
	__u32 stale_ms;
	__u32 nchannels;
	__u32 ncircuits;
	__u32 nrelays;
	__u32 reserved[4];
	struct phloem_chan_cal cal[PHLOEM_MAX_CHANNELS];
	struct phloem_circuit_cfg circuit[PHLOEM_MAX_CIRCUITS];
	struct phloem_relay_cfg relay[PHLOEM_MAX_RELAYS];
	__u32 over_freq_mhz;
	__u32 over_freq_ms;
	struct phloem_freq_stage freq_stage[PHLOEM_FREQ_STAGES];
	__u32 signal_debounce_us;
	__u32 signal_reserved;
	struct phloem_signal_cfg signal[PHLOEM_MAX_SIGNALS];
	__u32 phase_limit_ma[PHLOEM_MAX_PHASES];
	__u32 imbalance_ma;
	__u32 imbalance_mva;
	__u32 phase_grace_ms;
	__u32 nominal_mv;
	__u32 outage_pct;
	__u32 outage_cycles;
	__u32 outage_relays;
	__u32 return_ms;
	__u32 return_stagger_ms;
	__u32 volt_band_pct;
	__u32 volt_delay_ms;
	__u32 uv_shed_pct;
	__u32 uv_shed_ms;
};

/** enum phloem_override_mode - manual relay override */
enum phloem_override_mode {
	PHLOEM_OVERRIDE_AUTO,	/* cancel an override: policy decides */
	PHLOEM_OVERRIDE_OFF,	/* hold the relay off */
	PHLOEM_OVERRIDE_ON,	/* hold the relay on; still shed, after every
				 * other candidate, when a rule demands it */
	__PHLOEM_OVERRIDE_MAX,
};

#define __PHLOEM_OVERRIDE_F_ALL	0x0U

#define PHLOEM_OVERRIDE_SIZE_VER0 sizeof(struct phloem_override)

/**
 * struct phloem_override - PHLOEM_IOC_OVERRIDE argument
 * @size: sizeof(struct phloem_override)
 * @flags: __PHLOEM_OVERRIDE_F_ALL
 * @relay: relay index, < nrelays
 * @mode: enum phloem_override_mode
 * @reserved: must be zero
 * @expiry_ms: the override ends by itself after this long; 1..86400000
 *             (ignored for PHLOEM_OVERRIDE_AUTO)
 */
struct phloem_override {
	__u32 size;
	__u32 flags;
	__u8 relay;
	__u8 mode;
	__u16 reserved;
	__u32 expiry_ms;
};

#define __PHLOEM_LEASE_F_ALL	0x0U

#define PHLOEM_LEASE_SIZE_VER0	sizeof(struct phloem_lease)

/**
 * struct phloem_lease - PHLOEM_IOC_LEASE argument (agent heartbeat)
 * @size: sizeof(struct phloem_lease)
 * @flags: __PHLOEM_LEASE_F_ALL
 * @timeout_ms: the lease lapses unless renewed within this time;
 *              100..600000, or 0 to release the lease at once (boot-time
 *              limits come back, as on expiry)
 */
struct phloem_lease {
	__u32 size;
	__u32 flags;
	__u32 timeout_ms;
	__u32 reserved;
};

/** enum phloem_relay_reason - why a relay is in its present state */
enum phloem_relay_reason {
	PHLOEM_RELAY_AUTO,	/* on, policy allows it */
	PHLOEM_RELAY_SHED,	/* off, shed by a rule */
	PHLOEM_RELAY_MANUAL,	/* held by an override */
	PHLOEM_RELAY_SAFE,	/* held in safe state (failsafe) */
};

/**
 * enum phloem_hold - why a shed relay is still off (struct phloem_status
 * .hold, PHLOEM_A_RELAY_HOLD, PHLOEM_EV_HOLD)
 */
enum phloem_hold {
	PHLOEM_HOLD_NONE,	/* not shed */
	PHLOEM_HOLD_MIN_OFF,	/* within min_off_ms << backoff of the shed */
	PHLOEM_HOLD_ESTIMATE,	/* its load estimate is being measured */
	PHLOEM_HOLD_SHEDDING,	/* a rule on its circuit or the site is
				 * shedding (an overload episode is open) */
	PHLOEM_HOLD_CIRCUIT,	/* its circuit measures above the restore
				 * threshold, or would with its load */
	PHLOEM_HOLD_SITE,	/* the site's main or import does */
	PHLOEM_HOLD_NO_FIT,	/* its estimate alone is above the restore
				 * threshold: waiting for the next attempt */
	PHLOEM_HOLD_DELAY,	/* headroom: waiting restore_delay_ms, or
				 * its turn among relays coming back */
	PHLOEM_HOLD_FREQ,	/* an operated under-frequency stage covers
				 * its priority: held until the stage
				 * releases */
	PHLOEM_HOLD_SIGNAL,	/* an active grid-operator line sheds it */
	PHLOEM_HOLD_PHASE,	/* its circuit's phase measures above its
				 * restore threshold (or would with its
				 * load), or a phase rule sheds that phase */
	PHLOEM_HOLD_OUTAGE,	/* islanded: it comes back only in the
				 * staggered return after mains is back */
	PHLOEM_HOLD_VOLTAGE,	/* the under-voltage rule sheds its phase */
	__PHLOEM_HOLD_MAX,
};

/**
 * struct phloem_relay_status - live state of one relay
 * @on: 1 when energised
 * @reason: enum phloem_relay_reason
 * @backoff: current backoff level
 * @override: enum phloem_override_mode in force
 * @shed_count: times shed since probe
 * @restore_in_ms: for a shed relay, time left before a restore may be
 *                 considered (its minimum off time, then, when its
 *                 estimate does not fit, its next restore attempt); for an
 *                 override, time left before it expires
 * @load_ma: estimated load of the relay (circuit current drop measured when
 *           it was last shed), 0 when unknown
 */
struct phloem_relay_status {
	__u8 on;
	__u8 reason;
	__u8 backoff;
	__u8 override;
	__u32 shed_count;
	__u32 restore_in_ms;
	__u32 load_ma;
};

/**
 * struct phloem_circuit_status - live state of one circuit
 * @irms_ma: RMS current over the last cycle
 * @limit_ma: limit in force (boot-time or agent's)
 * @heat_permille: I2t model state, thousandths of the breaker's trip budget
 * @reserved: zero
 */
struct phloem_circuit_status {
	__u32 irms_ma;
	__u32 limit_ma;
	__u32 heat_permille;
	__u32 reserved;
};

/**
 * struct phloem_chan_energy - energy counters of one current channel
 * @import_mwh: energy imported (consumed) since probe, monotonic
 * @export_mwh: energy exported since probe, monotonic
 *
 * Counters are never reset by reconfiguration; only a new probe starts them
 * from zero.
 */
struct phloem_chan_energy {
	__u64 import_mwh;
	__u64 export_mwh;
};

/* the size before @hold was added: still accepted, @hold then not copied */
#define PHLOEM_STATUS_SIZE_VER0	(32 + 16 * PHLOEM_MAX_CIRCUITS + \
				 16 * PHLOEM_MAX_RELAYS + \
				 16 * PHLOEM_MAX_CHANNELS)
#define PHLOEM_STATUS_SIZE_VER1	(PHLOEM_STATUS_SIZE_VER0 + PHLOEM_MAX_RELAYS)
#define PHLOEM_STATUS_SIZE_VER2	(PHLOEM_STATUS_SIZE_VER1 + 4 + \
				 5 * PHLOEM_FREQ_STAGES)
#define PHLOEM_STATUS_SIZE_VER3	(PHLOEM_STATUS_SIZE_VER2 + 8)
#define PHLOEM_STATUS_SIZE_VER4	(PHLOEM_STATUS_SIZE_VER3 + \
				 9 * PHLOEM_MAX_PHASES + 9 + 4)
#define PHLOEM_STATUS_SIZE_VER5	sizeof(struct phloem_status)

/**
 * enum phloem_mains_state - the outage rule (struct phloem_status
 * .mains_state)
 */
enum phloem_mains_state {
	PHLOEM_MAINS_NONE,	/* the outage rule is off */
	PHLOEM_MAINS_OK,	/* mains present */
	PHLOEM_MAINS_OUTAGE,	/* islanded, waiting for return_ms of stable
				 * mains */
	PHLOEM_MAINS_RETURN,	/* the staggered return */
	__PHLOEM_MAINS_STATE_MAX,
};

/**
 * enum phloem_volt_state - a phase's voltage (struct phloem_status
 * .volt_state)
 */
enum phloem_volt_state {
	PHLOEM_VOLT_NONE,	/* no band configured, or no voltage channel */
	PHLOEM_VOLT_OK,
	PHLOEM_VOLT_UNDER,	/* under the band for volt_delay_ms */
	PHLOEM_VOLT_OVER,	/* over it for volt_delay_ms */
	__PHLOEM_VOLT_STATE_MAX,
};

/**
 * enum phloem_phase_state - state of a phase (struct phloem_status
 * .phase_state, PHLOEM_A_PHASE_STATE)
 */
enum phloem_phase_state {
	PHLOEM_PHASE_NONE,	/* no site CT on it: not measured */
	PHLOEM_PHASE_OK,	/* at or under its restore thresholds */
	PHLOEM_PHASE_FULL,	/* above a restore threshold (its limit's, or
				 * the imbalance's as the most loaded): no
				 * relay on it comes back */
	PHLOEM_PHASE_OVER,	/* above its limit: shedding */
	PHLOEM_PHASE_HEAVY,	/* the most loaded phase of an imbalance
				 * above its limit: shedding */
	__PHLOEM_PHASE_STATE_MAX,
};

/**
 * enum phloem_freq_state - state of an under-frequency stage
 * (struct phloem_status.freq_stage, PHLOEM_A_STAGE_STATE)
 */
enum phloem_freq_state {
	PHLOEM_FREQ_OFF,	/* not configured */
	PHLOEM_FREQ_IDLE,	/* frequency above the threshold */
	PHLOEM_FREQ_PENDING,	/* below it: the operate delay runs */
	PHLOEM_FREQ_OPERATED,	/* shed; frequency under threshold + hyst */
	PHLOEM_FREQ_RECOVERING,	/* above threshold + hyst: restore_ms runs */
	__PHLOEM_FREQ_STATE_MAX,
};

/**
 * struct phloem_status - live state (PHLOEM_IOC_GET_STATUS)
 * @size: sizeof(struct phloem_status)
 * @state: PHLOEM_STATE_F_*
 * @time_ns: CLOCK_MONOTONIC time of this snapshot
 * @lease_left_ms: time before the lease lapses, 0 when none is held
 * @site_p_mw: site real power over the last cycle (+ import)
 * @freq_mhz: mains frequency over the last cycle
 * @vrms_mv: RMS voltage of phase 0 over the last cycle
 * @circuit: per circuit state
 * @relay: per relay state
 * @energy: per channel energy counters (zero for voltage channels)
 * @hold: per relay enum phloem_hold (appended in VER1)
 * @freq_est_mhz: the filtered frequency the frequency rule judges (median
 *                of three periods, averaged over four: docs/shedding.md),
 *                0 while it is not known (appended in VER2, as below)
 * @freq_stage: per stage enum phloem_freq_state
 * @freq_left_ms: per stage, time left of its operate delay (PENDING) or
 *                of its restore time (RECOVERING), else 0
 * @signal_state: bit n set while grid-operator line n is active, after its
 *                debounce (appended in VER3, as @import_cap_mw)
 * @import_cap_mw: site import limit in force, the lower of the configured
 *                 one and the active lines' caps; 0 when there is none
 * @phase_ma: per phase (L1..L3), RMS current of its site CT over the last
 *            cycle, 0 unmeasured (appended in VER4, as the fields below)
 * @phase_mva: per phase, apparent power of its site CT over the last cycle
 * @phase_state: per phase, enum phloem_phase_state
 * @phase_reserved: zero
 * @imbalance_ma: highest minus lowest measured phase current, last cycle
 *                (0 with fewer than two phases measured)
 * @imbalance_mva: the same of the phases' apparent power
 * @mains_reserved: zero (where VER4 ended in padding)
 * @phase_vrms_mv: per phase (L1..L3), voltage RMS over the last cycle, 0
 *                 when no such voltage channel (appended in VER5, as the
 *                 fields below)
 * @volt_state: per phase, enum phloem_volt_state
 * @mains_state: enum phloem_mains_state
 * @return_left_ms: in PHLOEM_MAINS_OUTAGE, time left of return_ms of stable
 *                  mains (return_ms while not stable); else 0
 * @outage_ms: in PHLOEM_MAINS_OUTAGE, time since the outage began (its
 *             first sample set under outage_pct, before outage_cycles made
 *             it the island); in PHLOEM_MAINS_RETURN, how long it lasted
 *             (to the start of the stable mains that ended it); else 0.
 *             Where VER5 had zero padding (it keeps the size a multiple of
 *             8 on every ABI): a kernel before it reports 0 here
 */
struct phloem_status {
	__u32 size;
	__u32 state;
	__u64 time_ns;
	__u32 lease_left_ms;
	__s32 site_p_mw;
	__u32 freq_mhz;
	__u32 vrms_mv;
	struct phloem_circuit_status circuit[PHLOEM_MAX_CIRCUITS];
	struct phloem_relay_status relay[PHLOEM_MAX_RELAYS];
	struct phloem_chan_energy energy[PHLOEM_MAX_CHANNELS];
	__u8 hold[PHLOEM_MAX_RELAYS];
	__u32 freq_est_mhz;
	__u8 freq_stage[PHLOEM_FREQ_STAGES];
	__u32 freq_left_ms[PHLOEM_FREQ_STAGES];
	__u32 signal_state;
	__u32 import_cap_mw;
	__u32 phase_ma[PHLOEM_MAX_PHASES];
	__u32 phase_mva[PHLOEM_MAX_PHASES];
	__u8 phase_state[PHLOEM_MAX_PHASES];
	__u8 phase_reserved;
	__u32 imbalance_ma;
	__u32 imbalance_mva;
	__u32 mains_reserved;
	__u32 phase_vrms_mv[PHLOEM_MAX_PHASES];
	__u8 volt_state[PHLOEM_MAX_PHASES];
	__u8 mains_state;
	__u32 return_left_ms;
	__u32 outage_ms;
};

#define PHLOEM_STATS_SIZE_VER0	sizeof(struct phloem_stats)

/**
 * struct phloem_stats - counters and latency histogram (PHLOEM_IOC_GET_STATS)
 * @size: sizeof(struct phloem_stats)
 * @reserved: zero
 * @samples: sample sets read (one value of every channel each)
 * @cycles: mains cycles closed
 * @adc_errors: failed channel reads
 * @overruns: sampling periods missed because a read took too long
 * @sheds: relays shed by a rule
 * @restores: relays restored
 * @failsafes: times the failsafe state was entered
 * @lease_expiries: leases that lapsed
 * @lat_count: shed latencies recorded
 * @lat_min_ns: smallest recorded latency
 * @lat_max_ns: largest recorded latency
 * @lat_sum_ns: sum of recorded latencies
 * @lat_bound_ns: upper bound (exclusive) of each histogram bucket; bucket i
 *                holds latencies in [lat_bound_ns[i-1], lat_bound_ns[i])
 *                (bucket 0 from zero); the last bound is ~0 (open)
 * @lat_hist: count per bucket
 *
 * Shed latency is the time from the sample that crossed a limit to the relay
 * GPIO write returning, measured in the kernel.
 */
struct phloem_stats {
	__u32 size;
	__u32 reserved;
	__u64 samples;
	__u64 cycles;
	__u64 adc_errors;
	__u64 overruns;
	__u64 sheds;
	__u64 restores;
	__u64 failsafes;
	__u64 lease_expiries;
	__u64 lat_count;
	__u64 lat_min_ns;
	__u64 lat_max_ns;
	__u64 lat_sum_ns;
	__u64 lat_bound_ns[PHLOEM_LAT_BUCKETS];
	__u64 lat_hist[PHLOEM_LAT_BUCKETS];
};

#define PHLOEM_IOC_MAGIC	0xE7

#define PHLOEM_IOC_INFO		_IOR(PHLOEM_IOC_MAGIC, 0x00, struct phloem_info)
#define PHLOEM_IOC_GET_CONFIG	_IOR(PHLOEM_IOC_MAGIC, 0x01, struct phloem_config)
#define PHLOEM_IOC_SET_CONFIG	_IOW(PHLOEM_IOC_MAGIC, 0x02, struct phloem_config)
#define PHLOEM_IOC_OVERRIDE	_IOW(PHLOEM_IOC_MAGIC, 0x03, struct phloem_override)
#define PHLOEM_IOC_LEASE	_IOW(PHLOEM_IOC_MAGIC, 0x04, struct phloem_lease)
#define PHLOEM_IOC_GET_STATUS	_IOR(PHLOEM_IOC_MAGIC, 0x05, struct phloem_status)
#define PHLOEM_IOC_GET_STATS	_IOR(PHLOEM_IOC_MAGIC, 0x06, struct phloem_stats)

/* ------------------------------------------------------------------ */
/* Generic netlink family "phloem"                                     */
/* ------------------------------------------------------------------ */

/*
 * Family PHLOEM_GENL_NAME, version PHLOEM_GENL_VERSION, multicast group
 * PHLOEM_GENL_MCGRP_EVENTS. Available in every network namespace (devices
 * are global). Attribute policies are strict: an unknown attribute, a wrong
 * type or length, or an unknown flag bit is rejected with -EINVAL and an
 * extack message naming it; nothing changes. Commands marked (admin) need
 * CAP_NET_ADMIN in the caller's user namespace (GENL_ADMIN_PERM), -EPERM
 * otherwise. A device is addressed by PHLOEM_A_DEV_INDEX (N of /dev/phloemN).
 *
 * PHLOEM_CMD_GET_DEVICE (doit with PHLOEM_A_DEV_INDEX, or dumpit for all)
 *   Reply/dump message, one per device:
 *     PHLOEM_A_DEV_INDEX          u32
 *     PHLOEM_A_DEV_NAME           string
 *     PHLOEM_A_DEV_STATE          u32, PHLOEM_STATE_F_*
 *     PHLOEM_A_DEV_MAINS_HZ       u32, nominal
 *     PHLOEM_A_DEV_FREQ_MHZ       u32, measured
 *     PHLOEM_A_DEV_VRMS_MV        u32, phase 0
 *     PHLOEM_A_DEV_SITE_P_MW      s32, + import
 *     PHLOEM_A_DEV_LEASE_LEFT_MS  u32
 *     PHLOEM_A_DEV_SAMPLE_RATE_HZ u32
 *     PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW u32, in force
 *     PHLOEM_A_DEV_CHANNELS       nest, one PHLOEM_A_LIST_CHANNEL nest each:
 *       PHLOEM_A_CHAN_INDEX u32, PHLOEM_A_CHAN_NAME string,
 *       PHLOEM_A_CHAN_KIND u32 (enum phloem_chan_kind), PHLOEM_A_CHAN_PHASE
 *       u32, PHLOEM_A_CHAN_CIRCUIT u32, PHLOEM_A_CHAN_RMS u32 (mV or mA),
 *       PHLOEM_A_CHAN_P_MW s32, PHLOEM_A_CHAN_IMPORT_MWH u64,
 *       PHLOEM_A_CHAN_EXPORT_MWH u64
 *     PHLOEM_A_DEV_CIRCUITS       nest, one PHLOEM_A_LIST_CIRCUIT nest each:
 *       PHLOEM_A_CIRCUIT_INDEX u32, PHLOEM_A_CIRCUIT_NAME string,
 *       PHLOEM_A_CIRCUIT_CHANNEL u32, PHLOEM_A_CIRCUIT_CURVE u32
 *       (enum phloem_curve), PHLOEM_A_CIRCUIT_RATING_MA u32,
 *       PHLOEM_A_CIRCUIT_LIMIT_MA u32 (in force),
 *       PHLOEM_A_CIRCUIT_BOOT_LIMIT_MA u32, PHLOEM_A_CIRCUIT_IRMS_MA u32,
 *       PHLOEM_A_CIRCUIT_HEAT_PERMILLE u32,
 *       PHLOEM_A_CIRCUIT_MAX_HOLD_S u32 (in force; 0: the default)
 *     PHLOEM_A_DEV_RELAYS         nest, one PHLOEM_A_LIST_RELAY nest each:
 *       PHLOEM_A_RELAY_INDEX u32, PHLOEM_A_RELAY_NAME string,
 *       PHLOEM_A_RELAY_CIRCUIT u32, PHLOEM_A_RELAY_PRIORITY u32,
 *       PHLOEM_A_RELAY_FLAGS u32 (PHLOEM_RELAY_F_*),
 *       PHLOEM_A_RELAY_SAFE_STATE u32, PHLOEM_A_RELAY_ON u32,
 *       PHLOEM_A_RELAY_REASON u32 (enum phloem_relay_reason),
 *       PHLOEM_A_RELAY_BACKOFF u32, PHLOEM_A_RELAY_OVERRIDE u32
 *       (enum phloem_override_mode), PHLOEM_A_RELAY_LEFT_MS u32
 *       (restore_in_ms of struct phloem_relay_status),
 *       PHLOEM_A_RELAY_SHED_COUNT u32, PHLOEM_A_RELAY_LOAD_MA u32,
 *       PHLOEM_A_RELAY_MIN_OFF_MS u32, PHLOEM_A_RELAY_HOLD u32
 *       (enum phloem_hold)
 *     PHLOEM_A_DEV_FREQ           nest, the frequency rule:
 *       PHLOEM_A_FREQ_EST_MHZ u32 (filtered, 0 unknown),
 *       PHLOEM_A_FREQ_OVER_MHZ u32, PHLOEM_A_FREQ_OVER_MS u32,
 *       PHLOEM_A_FREQ_STAGES nest, one PHLOEM_A_LIST_STAGE nest per
 *       configured stage: PHLOEM_A_STAGE_INDEX u32,
 *       PHLOEM_A_STAGE_THRESHOLD_MHZ, _DELAY_MS, _HYST_MHZ, _RESTORE_MS,
 *       _PRIO_MIN, _PRIO_MAX (u32 each, as struct phloem_freq_stage),
 *       PHLOEM_A_STAGE_STATE u32 (enum phloem_freq_state),
 *       PHLOEM_A_STAGE_LEFT_MS u32 (freq_left_ms of struct phloem_status)
 *     PHLOEM_A_DEV_SIGNAL_STATE   u32, bit n: grid-operator line n active
 *     PHLOEM_A_DEV_IMPORT_CAP_MW  u32, site import limit in force with the
 *                                 active lines' caps (0: none)
 *     PHLOEM_A_DEV_SIGNAL_DEBOUNCE_US u32
 *     PHLOEM_A_DEV_SIGNALS        nest (only with grid-operator lines), one
 *                                 PHLOEM_A_LIST_SIGNAL nest per line:
 *       PHLOEM_A_SIGNAL_INDEX u32 (0 = K1), PHLOEM_A_SIGNAL_ACTIVE u32,
 *       PHLOEM_A_SIGNAL_IMPORT_CAP_MW u32, PHLOEM_A_SIGNAL_SHED_RELAYS u32
 *       (relay bitmask)
 *     PHLOEM_A_DEV_PHASE          nest, the phase rules:
 *       PHLOEM_A_PHASE_IMBALANCE_MA u32, _IMBALANCE_MVA u32, _GRACE_MS u32
 *       (in force, as struct phloem_config), PHLOEM_A_PHASE_SPREAD_MA u32
 *       and _SPREAD_MVA u32 (highest minus lowest measured phase, last
 *       cycle), PHLOEM_A_PHASE_LIST nest, one PHLOEM_A_LIST_PHASE nest per
 *       measured phase (with a site CT): PHLOEM_A_PH_INDEX u32 (0 = L1),
 *       PHLOEM_A_PH_CHANNEL u32 (its site CT), PHLOEM_A_PH_IRMS_MA u32,
 *       PHLOEM_A_PH_S_MVA u32, PHLOEM_A_PH_LIMIT_MA u32 (0 off),
 *       PHLOEM_A_PH_STATE u32 (enum phloem_phase_state)
 *     PHLOEM_A_DEV_MAINS          nest, the mains rules:
 *       PHLOEM_A_MAINS_NOMINAL_MV, _OUTAGE_PCT, _OUTAGE_CYCLES,
 *       _OUTAGE_RELAYS (relay bitmask), _RETURN_MS, _RETURN_STAGGER_MS,
 *       _VOLT_BAND_PCT, _VOLT_DELAY_MS, _UV_SHED_PCT, _UV_SHED_MS (u32
 *       each, in force as struct phloem_config: a 0 is the field's 0),
 *       PHLOEM_A_MAINS_STATE u32 (enum phloem_mains_state),
 *       PHLOEM_A_MAINS_RETURN_LEFT_MS u32 (return_left_ms of struct
 *       phloem_status), PHLOEM_A_MAINS_PHASES nest, one PHLOEM_A_LIST_VOLT
 *       nest per voltage channel up to L3: PHLOEM_A_VOLT_PHASE u32
 *       (0 = L1), PHLOEM_A_VOLT_CHANNEL u32, PHLOEM_A_VOLT_RMS_MV u32
 *       (last cycle), PHLOEM_A_VOLT_STATE u32 (enum phloem_volt_state);
 *       PHLOEM_A_MAINS_OUTAGE_MS u32 (outage_ms of struct phloem_status:
 *       the outage's length so far, or in the return how long it lasted)
 *
 * PHLOEM_CMD_SET_LIMITS (admin)
 *   PHLOEM_A_DEV_INDEX u32 (required)
 *   PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW u32 (optional)
 *   PHLOEM_A_DEV_CIRCUITS nest (optional) of PHLOEM_A_LIST_CIRCUIT nests with
 *     PHLOEM_A_CIRCUIT_INDEX (required) and PHLOEM_A_CIRCUIT_LIMIT_MA and/or
 *     PHLOEM_A_CIRCUIT_MAX_HOLD_S (0..PHLOEM_MAX_HOLD_MAX_S, a range the
 *     policy dump shows)
 *   PHLOEM_A_DEV_RELAYS nest (optional) of PHLOEM_A_LIST_RELAY nests with
 *     PHLOEM_A_RELAY_INDEX (required) and any of PHLOEM_A_RELAY_PRIORITY,
 *     PHLOEM_A_RELAY_FLAGS, PHLOEM_A_RELAY_MIN_OFF_MS (no override)
 *   PHLOEM_A_DEV_FREQ nest (optional) with PHLOEM_A_FREQ_OVER_MHZ and
 *     PHLOEM_A_FREQ_OVER_MS (both or neither) and/or PHLOEM_A_FREQ_STAGES
 *     of PHLOEM_A_LIST_STAGE nests: PHLOEM_A_STAGE_INDEX (required) and
 *     the stage's new fields; a field left out is 0, so an entry with the
 *     index alone switches the stage off. Checked as a whole
 *     configuration (limits in struct phloem_freq_stage)
 *   PHLOEM_A_DEV_SIGNAL_DEBOUNCE_US u32 (optional,
 *     0..PHLOEM_SIGNAL_DEBOUNCE_MAX_US)
 *   PHLOEM_A_DEV_SIGNALS nest (optional) of PHLOEM_A_LIST_SIGNAL nests with
 *     PHLOEM_A_SIGNAL_INDEX (required) and PHLOEM_A_SIGNAL_IMPORT_CAP_MW
 *     and/or PHLOEM_A_SIGNAL_SHED_RELAYS
 *   PHLOEM_A_DEV_PHASE nest (optional) with any of
 *     PHLOEM_A_PHASE_IMBALANCE_MA, _IMBALANCE_MVA, _GRACE_MS and a
 *     PHLOEM_A_PHASE_LIST of PHLOEM_A_LIST_PHASE nests with
 *     PHLOEM_A_PH_INDEX (required, < PHLOEM_MAX_PHASES) and
 *     PHLOEM_A_PH_LIMIT_MA; checked as a whole configuration (a limit only
 *     on a measured phase, the imbalance only with two)
 *   PHLOEM_A_DEV_MAINS nest (optional) with any of PHLOEM_A_MAINS_NOMINAL_MV
 *     .. PHLOEM_A_MAINS_UV_SHED_MS (at least one; the state attributes are
 *     reply-only); checked as a whole configuration (ranges in struct
 *     phloem_config; outage relays must exist)
 *   Applied as one unit after the whole message validated (limits above a
 *   breaker rating are refused), like PHLOEM_IOC_SET_CONFIG: one
 *   PHLOEM_EV_CONFIG event, none when every value equals the one in force.
 *
 * PHLOEM_CMD_SET_RELAY (admin)
 *   PHLOEM_A_DEV_INDEX u32, PHLOEM_A_RELAY nest (relay attributes) with PHLOEM_A_RELAY_INDEX
 *   (required) and any of PHLOEM_A_RELAY_PRIORITY, PHLOEM_A_RELAY_FLAGS,
 *   PHLOEM_A_RELAY_MIN_OFF_MS (policy) and PHLOEM_A_RELAY_OVERRIDE with
 *   PHLOEM_A_RELAY_OVERRIDE_MS (manual override with expiry).
 *
 * PHLOEM_CMD_GET_STATS (doit)
 *   Request: PHLOEM_A_DEV_INDEX. Reply: PHLOEM_A_DEV_INDEX and
 *   PHLOEM_A_STATS nest: PHLOEM_A_STATS_SAMPLES .. PHLOEM_A_STATS_LAT_SUM_NS
 *   (u64 each, meaning as in struct phloem_stats) and PHLOEM_A_STATS_LAT_HIST
 *   nest of PHLOEM_A_LIST_BUCKET nests (PHLOEM_A_BUCKET_BOUND_NS u64,
 *   PHLOEM_A_BUCKET_COUNT u64), one per non-empty bucket.
 *
 * PHLOEM_CMD_LEASE (admin)
 *   PHLOEM_A_DEV_INDEX u32, PHLOEM_A_LEASE_TIMEOUT_MS u32 (as struct
 *   phloem_lease.timeout_ms: 100..600000, 0 releases).
 *
 * PHLOEM_CMD_EVENT (multicast on "events" only, never requested)
 *   PHLOEM_A_DEV_INDEX u32 and PHLOEM_A_EVENT nest: PHLOEM_A_EV_KIND u32,
 *   PHLOEM_A_EV_CAUSE u32, PHLOEM_A_EV_TIME_NS u64, PHLOEM_A_EV_TRIGGER_NS
 *   u64, PHLOEM_A_EV_LATENCY_NS u64, PHLOEM_A_EV_VALUE u32,
 *   PHLOEM_A_EV_LIMIT u32, PHLOEM_A_EV_BACKOFF u32, and where they apply
 *   PHLOEM_A_EV_RELAY, PHLOEM_A_EV_CIRCUIT, PHLOEM_A_EV_CHANNEL (u32),
 *   PHLOEM_A_EV_STAGE (u32, PHLOEM_EV_FREQ only: the stage,
 *   PHLOEM_FREQ_STAGES for over-frequency).
 *   PHLOEM_A_EV_RELAY, PHLOEM_A_EV_CIRCUIT, PHLOEM_A_EV_CHANNEL (u32);
 *   for PHLOEM_EV_SIGNAL PHLOEM_A_EV_LINE u32 (the line) instead of
 *   PHLOEM_A_EV_CHANNEL; with a phase rule's cause (PHLOEM_CAUSE_PHASE,
 *   _IMBALANCE, _IMBALANCE_VA) PHLOEM_A_EV_PHASE u32 (0 = L1) beside the
 *   channel of the phase's site CT; on PHLOEM_EV_MAINS and
 *   PHLOEM_EV_VOLTAGE, when the event names a voltage channel,
 *   PHLOEM_A_EV_PHASE u32 its phase (0 = L1) beside it.
 */

#define PHLOEM_GENL_NAME		"phloem"
#define PHLOEM_GENL_VERSION		1
#define PHLOEM_GENL_MCGRP_EVENTS	"events"

enum phloem_cmd {
	PHLOEM_CMD_UNSPEC,
	PHLOEM_CMD_GET_DEVICE,
	PHLOEM_CMD_SET_LIMITS,
	PHLOEM_CMD_SET_RELAY,
	PHLOEM_CMD_GET_STATS,
	PHLOEM_CMD_LEASE,
	PHLOEM_CMD_EVENT,
	__PHLOEM_CMD_MAX,
};
#define PHLOEM_CMD_MAX (__PHLOEM_CMD_MAX - 1)

enum phloem_attr {
	PHLOEM_A_UNSPEC,
	PHLOEM_A_DEV_INDEX,
	PHLOEM_A_DEV_NAME,
	PHLOEM_A_DEV_STATE,
	PHLOEM_A_DEV_MAINS_HZ,
	PHLOEM_A_DEV_FREQ_MHZ,
	PHLOEM_A_DEV_VRMS_MV,
	PHLOEM_A_DEV_SITE_P_MW,
	PHLOEM_A_DEV_LEASE_LEFT_MS,
	PHLOEM_A_DEV_SAMPLE_RATE_HZ,
	PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW,
	PHLOEM_A_DEV_CHANNELS,
	PHLOEM_A_DEV_CIRCUITS,
	PHLOEM_A_DEV_RELAYS,
	PHLOEM_A_RELAY,
	PHLOEM_A_STATS,
	PHLOEM_A_LEASE_TIMEOUT_MS,
	PHLOEM_A_EVENT,
	PHLOEM_A_PAD,
	PHLOEM_A_DEV_FREQ,
	PHLOEM_A_DEV_SIGNAL_STATE,
	PHLOEM_A_DEV_IMPORT_CAP_MW,
	PHLOEM_A_DEV_SIGNAL_DEBOUNCE_US,
	PHLOEM_A_DEV_SIGNALS,
	PHLOEM_A_DEV_PHASE,
	PHLOEM_A_DEV_MAINS,
	__PHLOEM_A_LAST,
};
#define PHLOEM_A_MAX (__PHLOEM_A_LAST - 1)

/*
 * List attributes: PHLOEM_A_DEV_CHANNELS, _CIRCUITS, _RELAYS and
 * PHLOEM_A_STATS_LAT_HIST hold one nest per item, typed as below.
 */
enum phloem_list_attr {
	PHLOEM_A_LIST_UNSPEC,
	PHLOEM_A_LIST_CHANNEL,	/* inside PHLOEM_A_DEV_CHANNELS */
	PHLOEM_A_LIST_CIRCUIT,	/* inside PHLOEM_A_DEV_CIRCUITS */
	PHLOEM_A_LIST_RELAY,	/* inside PHLOEM_A_DEV_RELAYS */
	PHLOEM_A_LIST_BUCKET,	/* inside PHLOEM_A_STATS_LAT_HIST */
	PHLOEM_A_LIST_STAGE,	/* inside PHLOEM_A_FREQ_STAGES */
	PHLOEM_A_LIST_SIGNAL,	/* inside PHLOEM_A_DEV_SIGNALS */
	PHLOEM_A_LIST_PHASE,	/* inside PHLOEM_A_PHASE_LIST */
	PHLOEM_A_LIST_VOLT,	/* inside PHLOEM_A_MAINS_PHASES */
	__PHLOEM_A_LIST_LAST,
};
#define PHLOEM_A_LIST_MAX (__PHLOEM_A_LIST_LAST - 1)

enum phloem_chan_attr {
	PHLOEM_A_CHAN_UNSPEC,
	PHLOEM_A_CHAN_INDEX,
	PHLOEM_A_CHAN_NAME,
	PHLOEM_A_CHAN_KIND,
	PHLOEM_A_CHAN_PHASE,
	PHLOEM_A_CHAN_CIRCUIT,
	PHLOEM_A_CHAN_RMS,
	PHLOEM_A_CHAN_P_MW,
	PHLOEM_A_CHAN_IMPORT_MWH,
	PHLOEM_A_CHAN_EXPORT_MWH,
	PHLOEM_A_CHAN_PAD,
	__PHLOEM_A_CHAN_LAST,
};
#define PHLOEM_A_CHAN_MAX (__PHLOEM_A_CHAN_LAST - 1)

enum phloem_circuit_attr {
	PHLOEM_A_CIRCUIT_UNSPEC,
	PHLOEM_A_CIRCUIT_INDEX,
	PHLOEM_A_CIRCUIT_NAME,
	PHLOEM_A_CIRCUIT_CHANNEL,
	PHLOEM_A_CIRCUIT_CURVE,
	PHLOEM_A_CIRCUIT_RATING_MA,
	PHLOEM_A_CIRCUIT_LIMIT_MA,
	PHLOEM_A_CIRCUIT_BOOT_LIMIT_MA,
	PHLOEM_A_CIRCUIT_IRMS_MA,
	PHLOEM_A_CIRCUIT_HEAT_PERMILLE,
	PHLOEM_A_CIRCUIT_MAX_HOLD_S,
	__PHLOEM_A_CIRCUIT_LAST,
};
#define PHLOEM_A_CIRCUIT_MAX (__PHLOEM_A_CIRCUIT_LAST - 1)

enum phloem_relay_attr {
	PHLOEM_A_RELAY_UNSPEC,
	PHLOEM_A_RELAY_INDEX,
	PHLOEM_A_RELAY_NAME,
	PHLOEM_A_RELAY_CIRCUIT,
	PHLOEM_A_RELAY_PRIORITY,
	PHLOEM_A_RELAY_FLAGS,
	PHLOEM_A_RELAY_SAFE_STATE,
	PHLOEM_A_RELAY_ON,
	PHLOEM_A_RELAY_REASON,
	PHLOEM_A_RELAY_BACKOFF,
	PHLOEM_A_RELAY_OVERRIDE,
	PHLOEM_A_RELAY_OVERRIDE_MS,
	PHLOEM_A_RELAY_LEFT_MS,
	PHLOEM_A_RELAY_SHED_COUNT,
	PHLOEM_A_RELAY_LOAD_MA,
	PHLOEM_A_RELAY_MIN_OFF_MS,
	PHLOEM_A_RELAY_HOLD,
	__PHLOEM_A_RELAY_LAST,
};
#define PHLOEM_A_RELAY_MAX (__PHLOEM_A_RELAY_LAST - 1)

enum phloem_stats_attr {
	PHLOEM_A_STATS_UNSPEC,
	PHLOEM_A_STATS_SAMPLES,
	PHLOEM_A_STATS_CYCLES,
	PHLOEM_A_STATS_ADC_ERRORS,
	PHLOEM_A_STATS_OVERRUNS,
	PHLOEM_A_STATS_SHEDS,
	PHLOEM_A_STATS_RESTORES,
	PHLOEM_A_STATS_FAILSAFES,
	PHLOEM_A_STATS_LEASE_EXPIRIES,
	PHLOEM_A_STATS_LAT_COUNT,
	PHLOEM_A_STATS_LAT_MIN_NS,
	PHLOEM_A_STATS_LAT_MAX_NS,
	PHLOEM_A_STATS_LAT_SUM_NS,
	PHLOEM_A_STATS_LAT_HIST,
	PHLOEM_A_STATS_PAD,
	__PHLOEM_A_STATS_LAST,
};
#define PHLOEM_A_STATS_MAX (__PHLOEM_A_STATS_LAST - 1)

enum phloem_bucket_attr {
	PHLOEM_A_BUCKET_UNSPEC,
	PHLOEM_A_BUCKET_BOUND_NS,
	PHLOEM_A_BUCKET_COUNT,
	PHLOEM_A_BUCKET_PAD,
	__PHLOEM_A_BUCKET_LAST,
};
#define PHLOEM_A_BUCKET_MAX (__PHLOEM_A_BUCKET_LAST - 1)

enum phloem_event_attr {
	PHLOEM_A_EV_UNSPEC,
	PHLOEM_A_EV_KIND,
	PHLOEM_A_EV_CAUSE,
	PHLOEM_A_EV_TIME_NS,
	PHLOEM_A_EV_TRIGGER_NS,
	PHLOEM_A_EV_LATENCY_NS,
	PHLOEM_A_EV_VALUE,
	PHLOEM_A_EV_LIMIT,
	PHLOEM_A_EV_BACKOFF,
	PHLOEM_A_EV_RELAY,
	PHLOEM_A_EV_CIRCUIT,
	PHLOEM_A_EV_CHANNEL,
	PHLOEM_A_EV_PAD,
	PHLOEM_A_EV_STAGE,
	PHLOEM_A_EV_LINE,
	PHLOEM_A_EV_PHASE,
	__PHLOEM_A_EV_LAST,
};
#define PHLOEM_A_EV_MAX (__PHLOEM_A_EV_LAST - 1)

/* inside PHLOEM_A_DEV_FREQ */
enum phloem_freq_attr {
	PHLOEM_A_FREQ_UNSPEC,
	PHLOEM_A_FREQ_EST_MHZ,
	PHLOEM_A_FREQ_OVER_MHZ,
	PHLOEM_A_FREQ_OVER_MS,
	PHLOEM_A_FREQ_STAGES,
	__PHLOEM_A_FREQ_LAST,
};
#define PHLOEM_A_FREQ_MAX (__PHLOEM_A_FREQ_LAST - 1)

/* inside a PHLOEM_A_LIST_STAGE nest */
enum phloem_stage_attr {
	PHLOEM_A_STAGE_UNSPEC,
	PHLOEM_A_STAGE_INDEX,
	PHLOEM_A_STAGE_THRESHOLD_MHZ,
	PHLOEM_A_STAGE_DELAY_MS,
	PHLOEM_A_STAGE_HYST_MHZ,
	PHLOEM_A_STAGE_RESTORE_MS,
	PHLOEM_A_STAGE_PRIO_MIN,
	PHLOEM_A_STAGE_PRIO_MAX,
	PHLOEM_A_STAGE_STATE,
	PHLOEM_A_STAGE_LEFT_MS,
	__PHLOEM_A_STAGE_LAST,
};
#define PHLOEM_A_STAGE_MAX (__PHLOEM_A_STAGE_LAST - 1)
enum phloem_signal_attr {
	PHLOEM_A_SIGNAL_UNSPEC,
	PHLOEM_A_SIGNAL_INDEX,
	PHLOEM_A_SIGNAL_ACTIVE,
	PHLOEM_A_SIGNAL_IMPORT_CAP_MW,
	PHLOEM_A_SIGNAL_SHED_RELAYS,
	__PHLOEM_A_SIGNAL_LAST,
};
#define PHLOEM_A_SIGNAL_MAX (__PHLOEM_A_SIGNAL_LAST - 1)

/* inside PHLOEM_A_DEV_PHASE */
enum phloem_phase_attr {
	PHLOEM_A_PHASE_UNSPEC,
	PHLOEM_A_PHASE_IMBALANCE_MA,
	PHLOEM_A_PHASE_IMBALANCE_MVA,
	PHLOEM_A_PHASE_GRACE_MS,
	PHLOEM_A_PHASE_SPREAD_MA,
	PHLOEM_A_PHASE_SPREAD_MVA,
	PHLOEM_A_PHASE_LIST,
	__PHLOEM_A_PHASE_LAST,
};
#define PHLOEM_A_PHASE_MAX (__PHLOEM_A_PHASE_LAST - 1)

/* inside a PHLOEM_A_LIST_PHASE nest */
enum phloem_ph_attr {
	PHLOEM_A_PH_UNSPEC,
	PHLOEM_A_PH_INDEX,
	PHLOEM_A_PH_CHANNEL,
	PHLOEM_A_PH_IRMS_MA,
	PHLOEM_A_PH_S_MVA,
	PHLOEM_A_PH_LIMIT_MA,
	PHLOEM_A_PH_STATE,
	__PHLOEM_A_PH_LAST,
};
#define PHLOEM_A_PH_MAX (__PHLOEM_A_PH_LAST - 1)

/*
 * inside PHLOEM_A_DEV_MAINS: the settable fields first (NOMINAL_MV ..
 * UV_SHED_MS, as struct phloem_config), then the reply-only state
 */
enum phloem_mains_attr {
	PHLOEM_A_MAINS_UNSPEC,
	PHLOEM_A_MAINS_NOMINAL_MV,
	PHLOEM_A_MAINS_OUTAGE_PCT,
	PHLOEM_A_MAINS_OUTAGE_CYCLES,
	PHLOEM_A_MAINS_OUTAGE_RELAYS,
	PHLOEM_A_MAINS_RETURN_MS,
	PHLOEM_A_MAINS_RETURN_STAGGER_MS,
	PHLOEM_A_MAINS_VOLT_BAND_PCT,
	PHLOEM_A_MAINS_VOLT_DELAY_MS,
	PHLOEM_A_MAINS_UV_SHED_PCT,
	PHLOEM_A_MAINS_UV_SHED_MS,
	PHLOEM_A_MAINS_STATE,
	PHLOEM_A_MAINS_RETURN_LEFT_MS,
	PHLOEM_A_MAINS_PHASES,
	PHLOEM_A_MAINS_OUTAGE_MS,
	__PHLOEM_A_MAINS_LAST,
};
#define PHLOEM_A_MAINS_MAX (__PHLOEM_A_MAINS_LAST - 1)

/* inside a PHLOEM_A_LIST_VOLT nest */
enum phloem_volt_attr {
	PHLOEM_A_VOLT_UNSPEC,
	PHLOEM_A_VOLT_PHASE,
	PHLOEM_A_VOLT_CHANNEL,
	PHLOEM_A_VOLT_RMS_MV,
	PHLOEM_A_VOLT_STATE,
	__PHLOEM_A_VOLT_LAST,
};
#define PHLOEM_A_VOLT_MAX (__PHLOEM_A_VOLT_LAST - 1)

#endif /* _UAPI_LINUX_PHLOEM_H */
