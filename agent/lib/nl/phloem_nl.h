/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * libphloem nl: client of the "phloem" generic netlink family.
 *
 * The family is specified in uapi/linux/phloem.h ("Generic netlink family")
 * and docs/netlink/phloem.yaml. This library resolves the family and its
 * "events" multicast group, sends requests and parses replies into plain
 * structures. Every function returns 0 or a negative errno; when the kernel
 * refused a request with an extack message, phloem_nl_error() returns it.
 *
 * A struct phloem_nl is used from one thread. Request/response traffic and
 * events use two separate sockets, so an event can never be mistaken for a
 * reply: phloem_nl_subscribe() opens the second one.
 */
#ifndef PHLOEM_NL_H
#define PHLOEM_NL_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/phloem.h>

struct phloem_nl;
struct nlmsghdr;

/** struct phloem_nl_chan - one channel of a GET_DEVICE reply */
struct phloem_nl_chan {
	uint32_t index;
	char name[PHLOEM_NAME_LEN];
	uint32_t kind;
	uint32_t phase;
	uint32_t circuit;
	uint32_t rms;
	int32_t p_mw;
	uint64_t import_mwh;
	uint64_t export_mwh;
};

/** struct phloem_nl_circuit - one circuit of a GET_DEVICE reply */
struct phloem_nl_circuit {
	uint32_t index;
	char name[PHLOEM_NAME_LEN];
	uint32_t channel;
	uint32_t curve;
	uint32_t rating_ma;
	uint32_t limit_ma;
	uint32_t boot_limit_ma;
	uint32_t irms_ma;
	uint32_t heat_permille;
	uint32_t max_hold_s;	/* 0: PHLOEM_MAX_HOLD_DEFAULT_S */
};

/** struct phloem_nl_relay - one relay of a GET_DEVICE reply */
struct phloem_nl_relay {
	uint32_t index;
	char name[PHLOEM_NAME_LEN];
	uint32_t circuit;
	uint32_t priority;
	uint32_t flags;
	uint32_t safe_state;
	uint32_t on;
	uint32_t reason;
	uint32_t backoff;
	uint32_t override;
	uint32_t left_ms;
	uint32_t shed_count;
	uint32_t load_ma;
	uint32_t min_off_ms;
	uint32_t hold;		/* enum phloem_hold */
};

/** struct phloem_nl_signal - one grid-operator input line of a GET_DEVICE reply */
struct phloem_nl_signal {
	uint32_t index;		/* 0 = K1 */
	uint32_t active;
	uint32_t import_cap_mw;	/* 0: no cap */
	uint32_t shed_relays;	/* relay bitmask */
};

/**
 * struct phloem_nl_freq - the frequency rule of a GET_DEVICE reply
 * @est_mhz: filtered frequency, 0 while unknown
 * @over_mhz, @over_ms: over-frequency report (0: off)
 * @stage: per stage configuration (threshold 0: off)
 * @state: per stage enum phloem_freq_state
 * @left_ms: per stage, time left of its delay or its restore time
 */
struct phloem_nl_freq {
	uint32_t est_mhz;
	uint32_t over_mhz, over_ms;
	struct phloem_freq_stage stage[PHLOEM_FREQ_STAGES];
	uint32_t state[PHLOEM_FREQ_STAGES];
	uint32_t left_ms[PHLOEM_FREQ_STAGES];
};

/**
 * struct phloem_nl_phase - the phase rules of a GET_DEVICE reply
 * @imbalance_ma, @imbalance_mva: imbalance limits in force (0: off)
 * @grace_ms: phase_grace_ms in force
 * @spread_ma, @spread_mva: highest minus lowest measured phase, last cycle
 * @measured: bit p: phase p (0 = L1) has a site CT; the per-phase fields
 *            below are valid for those only
 * @channel: per phase, its site CT
 * @irms_ma, @s_mva: per phase, its current and apparent power
 * @limit_ma: per phase, its limit in force (0: off)
 * @state: per phase, enum phloem_phase_state
 */
struct phloem_nl_phase {
	uint32_t imbalance_ma, imbalance_mva, grace_ms;
	uint32_t spread_ma, spread_mva;
	uint32_t measured;
	uint32_t channel[PHLOEM_MAX_PHASES];
	uint32_t irms_ma[PHLOEM_MAX_PHASES];
	uint32_t s_mva[PHLOEM_MAX_PHASES];
	uint32_t limit_ma[PHLOEM_MAX_PHASES];
	uint32_t state[PHLOEM_MAX_PHASES];
};

/**
 * struct phloem_nl_mains_cfg - the mains rules' settings (PHLOEM_A_MAINS_*),
 * as the struct phloem_config fields of the same names. In a request
 * (phloem_nl_set_mains()) a field of UINT32_MAX is left out.
 */
struct phloem_nl_mains_cfg {
	uint32_t nominal_mv;
	uint32_t outage_pct, outage_cycles, outage_relays;
	uint32_t return_ms, return_stagger_ms;
	uint32_t volt_band_pct, volt_delay_ms;
	uint32_t uv_shed_pct, uv_shed_ms;
};

/**
 * struct phloem_nl_mains - the mains rules of a GET_DEVICE reply
 * @present: the kernel reported PHLOEM_A_DEV_MAINS (else all zero)
 * @cfg: settings in force
 * @state: enum phloem_mains_state
 * @return_left_ms: in the outage state, time left of return_ms
 * @outage_ms: in the outage state, time since the outage began; in the
 *             return, how long it lasted; else 0
 * @phases: bit p: phase p (0 = L1) has a voltage channel; the per-phase
 *          fields below are valid for those only
 * @channel: per phase, its voltage channel
 * @rms_mv: per phase, its RMS voltage over the last cycle
 * @volt_state: per phase, enum phloem_volt_state
 */
struct phloem_nl_mains {
	bool present;
	struct phloem_nl_mains_cfg cfg;
	uint32_t state, return_left_ms, outage_ms;
	uint32_t phases;
	uint32_t channel[PHLOEM_MAX_PHASES];
	uint32_t rms_mv[PHLOEM_MAX_PHASES];
	uint32_t volt_state[PHLOEM_MAX_PHASES];
};

/**
 * struct phloem_nl_device - a GET_DEVICE reply
 *
 * Lists are stored at their item's index (PHLOEM_A_*_INDEX); n* count the
 * highest index seen + 1. Items with an out-of-range index are refused.
 */
struct phloem_nl_device {
	uint32_t index;
	char name[PHLOEM_NAME_LEN];
	uint32_t state;
	uint32_t mains_hz;
	uint32_t freq_mhz;
	uint32_t vrms_mv;
	int32_t site_p_mw;
	uint32_t lease_left_ms;
	uint32_t sample_rate_hz;
	uint32_t site_import_limit_mw;
	uint32_t nchannels, ncircuits, nrelays;
	struct phloem_nl_chan chan[PHLOEM_MAX_CHANNELS];
	struct phloem_nl_circuit circuit[PHLOEM_MAX_CIRCUITS];
	struct phloem_nl_relay relay[PHLOEM_MAX_RELAYS];
	struct phloem_nl_freq freq;
	uint32_t signal_state;		/* bit n: line n active */
	uint32_t import_cap_mw;		/* import limit in force with the caps */
	uint32_t signal_debounce_us;
	uint32_t nsignals;
	struct phloem_nl_signal signal[PHLOEM_MAX_SIGNALS];
	struct phloem_nl_phase phase;	/* zero from a kernel without it */
	struct phloem_nl_mains mains;	/* zero from a kernel without it */
};

/**
 * struct phloem_nl_relay_set - a SET_RELAY request
 * @index: relay index (required)
 * @set_priority, @set_flags, @set_min_off, @set_override: which of the
 *        optional attributes to send
 * @override: enum phloem_override_mode; @override_ms its expiry
 */
struct phloem_nl_relay_set {
	uint32_t index;
	bool set_priority, set_flags, set_min_off, set_override;
	uint32_t priority;
	uint32_t flags;
	uint32_t min_off_ms;
	uint32_t override;
	uint32_t override_ms;
};

/**
 * phloem_nl_open() - connect and resolve the family
 * @nl: set to the new handle on success
 *
 * Return: 0; -ENOENT when the kernel has no "phloem" family (phloem.ko not
 * loaded); other negative errno on socket errors.
 */
int phloem_nl_open(struct phloem_nl **nl);
void phloem_nl_close(struct phloem_nl *nl);

/** phloem_nl_error() - extack message of the last refused request, or "" */
const char *phloem_nl_error(const struct phloem_nl *nl);

int phloem_nl_get_device(struct phloem_nl *nl, uint32_t dev,
			 struct phloem_nl_device *out);
/** phloem_nl_dump_devices() - calls @fn for every device, in index order */
int phloem_nl_dump_devices(struct phloem_nl *nl,
			   void (*fn)(const struct phloem_nl_device *, void *),
			   void *ctx);
/**
 * phloem_nl_set_limits() - PHLOEM_CMD_SET_LIMITS
 * @site_mw: site import limit, or UINT32_MAX to leave it out
 * @circuit_ma: per circuit limit (index = circuit), UINT32_MAX to leave a
 *              circuit out; may be NULL with @ncircuits 0
 */
int phloem_nl_set_limits(struct phloem_nl *nl, uint32_t dev, uint32_t site_mw,
			 const uint32_t *circuit_ma, uint32_t ncircuits);
int phloem_nl_set_relay(struct phloem_nl *nl, uint32_t dev,
			const struct phloem_nl_relay_set *rs);
/**
 * phloem_nl_set_policy() - the whole policy in one PHLOEM_CMD_SET_LIMITS
 * @site_mw, @circuit_ma, @ncircuits: as phloem_nl_set_limits()
 * @max_hold_s: NULL, or per circuit max hold (s, PHLOEM_A_CIRCUIT_MAX_HOLD_S;
 *              UINT32_MAX leaves a circuit's out)
 * @relays: @nrelays relay policies (priority, flags, min-off; set_* say
 *          which; an override is refused here, use phloem_nl_set_relay())
 *
 * One configuration change in the kernel, so one CONFIG event (none when
 * nothing differs from what is in force), and all or nothing.
 */
int phloem_nl_set_policy(struct phloem_nl *nl, uint32_t dev, uint32_t site_mw,
			 const uint32_t *circuit_ma, const uint32_t *max_hold_s,
			 uint32_t ncircuits,
			 const struct phloem_nl_relay_set *relays, uint32_t nrelays);
/**
 * phloem_nl_set_freq() - the frequency rule, in one PHLOEM_CMD_SET_LIMITS
 * @over_mhz, @over_ms: over-frequency report; @over_mhz UINT32_MAX leaves
 *                      it out
 * @stages: PHLOEM_FREQ_STAGES stages, of which those in @mask (bit k:
 *          stage k) are sent whole; a threshold of 0 switches one off
 *
 * Checked by the kernel as a whole configuration: all or nothing.
 */
int phloem_nl_set_freq(struct phloem_nl *nl, uint32_t dev, uint32_t over_mhz,
		       uint32_t over_ms, const struct phloem_freq_stage *stages,
		       uint32_t mask);
/**
 * phloem_nl_set_phase() - the phase rules, in one PHLOEM_CMD_SET_LIMITS
 * @limit_ma: per phase (0 = L1) limit, 0 off, UINT32_MAX to leave one out
 * @imbalance_ma, @imbalance_mva, @grace_ms: UINT32_MAX to leave one out
 *
 * Checked by the kernel as a whole configuration: all or nothing (a limit
 * on a phase without a site CT is refused).
 */
int phloem_nl_set_phase(struct phloem_nl *nl, uint32_t dev,
			const uint32_t *limit_ma, uint32_t imbalance_ma,
			uint32_t imbalance_mva, uint32_t grace_ms);
/**
 * phloem_nl_set_mains() - the mains rules, in one PHLOEM_CMD_SET_LIMITS
 * @m: the settings to replace; a field of UINT32_MAX is left out (at
 *     least one must be given)
 *
 * Checked by the kernel as a whole configuration: all or nothing.
 */
int phloem_nl_set_mains(struct phloem_nl *nl, uint32_t dev,
			const struct phloem_nl_mains_cfg *m);
/**
 * phloem_nl_set_signals() - the grid-operator lines' actions (SET_LIMITS)
 * @debounce_us: signal_debounce_us, or UINT32_MAX to leave it out
 * @cap_mw, @shed_relays: per line (index = line) import cap and relay
 *        mask, UINT32_MAX to leave one out; @nsignals lines
 */
int phloem_nl_set_signals(struct phloem_nl *nl, uint32_t dev,
			  uint32_t debounce_us, const uint32_t *cap_mw,
			  const uint32_t *shed_relays, uint32_t nsignals);
int phloem_nl_lease(struct phloem_nl *nl, uint32_t dev, uint32_t timeout_ms);
/**
 * phloem_nl_set_max_holds() - PHLOEM_CMD_SET_LIMITS with the circuits' max
 * holds only (PHLOEM_A_CIRCUIT_MAX_HOLD_S, s); UINT32_MAX leaves a circuit
 * out. All or nothing.
 */
int phloem_nl_set_max_holds(struct phloem_nl *nl, uint32_t dev,
			    const uint32_t *max_hold_s, uint32_t ncircuits);
int phloem_nl_get_stats(struct phloem_nl *nl, uint32_t dev,
			struct phloem_stats *st);

/**
 * phloem_nl_subscribe() - join the "events" group on a second socket
 * Return: 0; the socket is non-blocking, see phloem_nl_event_fd().
 */
int phloem_nl_subscribe(struct phloem_nl *nl);
int phloem_nl_event_fd(const struct phloem_nl *nl);
/**
 * phloem_nl_recv_events() - read the events queued on the event socket
 * @fn: called for every PHLOEM_CMD_EVENT with its device index
 * Return: 0 when the socket is drained; negative errno (-ENOBUFS means the
 * socket overflowed and events were lost: the caller should resynchronise).
 */
int phloem_nl_recv_events(struct phloem_nl *nl,
			  void (*fn)(uint32_t dev, const struct phloem_rec_event *ev,
				     uint64_t time_ns, void *ctx),
			  void *ctx);

/* Message parsers, exposed for tests and fuzzing. @nlh is a whole genetlink
 * message; return 0 or -EINVAL for a malformed one. */
int phloem_nl_parse_device(const struct nlmsghdr *nlh,
			   struct phloem_nl_device *out);
int phloem_nl_parse_event(const struct nlmsghdr *nlh, uint32_t *dev,
			  struct phloem_rec_event *ev, uint64_t *time_ns);
int phloem_nl_parse_stats(const struct nlmsghdr *nlh, struct phloem_stats *st);

/* Conversions into the UAPI structures the rest of the agent uses. */
void phloem_nl_device_info(const struct phloem_nl_device *d,
			   struct phloem_info *info);
void phloem_nl_device_status(const struct phloem_nl_device *d,
			     struct phloem_status *st);

/* Names of the UAPI enums, as printed by phloemctl and stored in history
 * ("shed", "instant", ...); "?" for an unknown value. */
const char *phloem_nl_event_name(uint32_t kind);
const char *phloem_nl_cause_name(uint32_t cause);
const char *phloem_nl_reason_name(uint32_t reason);
/* enum phloem_hold: why a shed relay is still off ("min-off", "no-fit") */
const char *phloem_nl_hold_name(uint32_t hold);
const char *phloem_nl_override_name(uint32_t mode);
/* enum phloem_freq_state: "off", "idle", "pending", "operated", ... */
const char *phloem_nl_freq_state_name(uint32_t state);
/* enum phloem_phase_state: "none", "ok", "full", "over", "heavy" */
const char *phloem_nl_phase_state_name(uint32_t state);
/* enum phloem_mains_state: "off", "ok", "outage", "return" */
const char *phloem_nl_mains_state_name(uint32_t state);
/* enum phloem_volt_state: "none", "ok", "under", "over" */
const char *phloem_nl_volt_state_name(uint32_t state);
const char *phloem_nl_curve_name(uint32_t curve);

/*
 * Quantities as an operator reads them: a current in amperes with one
 * decimal ("40.3 A"), a power in W or kW ("950 W", "6.02 kW"). Return @buf.
 */
char *phloem_nl_fmt_current(uint32_t ma, char *buf, size_t len);
char *phloem_nl_fmt_power(int64_t mw, char *buf, size_t len);

/*
 * phloem_nl_fmt_measure() - an event's measurement against its limit
 * @cause: the cause's name (phloem_nl_cause_name(), as stored in history)
 * @value: struct phloem_rec_event.value (mA, or mW for "site-import")
 * @limit: struct phloem_rec_event.limit, same unit
 *
 * "40.3 A > 40.0 A" (or "<=" for a restore on headroom), with one more
 * decimal when the two would print alike; "" when the event measured
 * nothing (value and limit 0); for the frequency causes ("under-freq",
 * "over-freq", "freq-ok") a frequency: "48.912 Hz < 49.000 Hz"; for
 * "imbalance-va" an apparent power: "5.12 kVA > 4.60 kVA"; for the mains
 * causes ("outage", "mains-back", "under-voltage", "over-voltage",
 * "voltage-ok") a phase's voltage: "41.2 V < 115.0 V" (the voltage alone
 * when the limit is 0, as in an island's sheds).
 * Return: @buf.
 */
char *phloem_nl_fmt_measure(const char *cause, uint32_t value, uint32_t limit,
			    char *buf, size_t len);

#endif /* PHLOEM_NL_H */
