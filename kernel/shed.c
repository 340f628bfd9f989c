// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * phloem shedding unit: metering and the shed/restore decision.
 *
 * One implementation, compiled into phloem.ko, the host unit tests, the
 * libFuzzer target and the benchmark. Constraints that shape the code:
 *  - fixed-point integers only, and no 64-bit '/' or '%' (32-bit ARM kernels
 *    have no __aeabi_uldivmod); every wide division goes through shed_div(),
 *    a shift-subtract loop that only runs per cycle, never per sample;
 *  - phloem_shed_sample() runs for every sample set at up to 20 kHz, so it
 *    does a multiply, a clamp and a few adds per channel; square roots,
 *    divisions and every rule except the instantaneous one run when a mains
 *    cycle closes;
 *  - no header beyond <linux/types.h> (kernel) or stdint/stdbool (host), no
 *    clock, no allocation, no locks: the caller serialises calls and gives
 *    the time.
 *
 * The semantics are documented for operators in docs/shedding.md.
 */
#include "shed.h"

#define SHED_U32_MAX	0xffffffffU
#define SHED_U64_MAX	0xffffffffffffffffULL
#define SHED_S64_MAX	0x7fffffffffffffffLL
#define SHED_NEVER	SHED_U64_MAX	/* "no such time" for timestamps */
#define SHED_NONE	PHLOEM_NONE

/*
 * Calibrated values are kept in 1/16 mV or 1/16 mA (SHED_Q fraction bits),
 * clamped to +-2^26 (about 4.2 kV / 4.2 kA). That bound keeps a square under
 * 2^52, so a half-cycle window (<= 256 samples) and a cycle (a cycle never
 * runs past 2 nominal periods: shed_update_deadline()) of squares or of v*i
 * products fit in 64 bits with room to spare.
 */
#define SHED_Q		4
#define SHED_XMAX	((1 << 26) - 1)
#define SHED_KSHIFT	20		/* fraction bits of the per-channel gain */
#define SHED_HIST	32		/* sample history per channel (pow2) */

/*
 * Time weighting. Every sample set stands for the time since the previous
 * one (capped at SHED_WCAP_DIV-th of a half cycle, so that one sample after
 * a gap cannot speak for a whole window), in units of 2^SHED_WSHIFT ns.
 * Weighted sums use squares in mA^2 (mV^2): (1/16)^2 units >> 8. A square
 * is then < 2^44 and a weight < 2^15 (5 ms at 50 Hz), and the weights of
 * one window (10 ms + one cap) or one cycle (at most 2 periods + one cap:
 * 45 ms, 175782) add up to < 2^17.5, so every weighted sum, and a v*i sum
 * (|v*i| < 2^44 too), stays under 2^62.
 */
#define SHED_WSHIFT	8
#define SHED_PSUM_MAX	(1LL << 62)	/* saturation of a cycle's v*i sum */
#define SHED_WCAP_DIV	2
/*
 * sets a window needs before the instantaneous rule trusts it: the
 * trapezoids of a few irregular samples of sin^2 can be off by half. A
 * sampler too slow to put that many in half a cycle gets a window of a
 * whole cycle (never longer: the rule promises a shed within a cycle).
 */
#define SHED_WIN_MIN	4
/*
 * Phases (L1..L3, the first three voltage channels) and how well a
 * window's sets cover the wave of each: every set's place in its phase's
 * wave, from that phase's last well-timed upward crossing and the mains
 * period, gives sin^2 there (SHED_COV_N steps a half period, Q16). A
 * window whose mean of sin^2 is under 7/8 of 1/2 has its current mean
 * square scaled up by (1/2) / that mean, at most SHED_VCOV_MAX
 * (shed_window_over()). A crossing times the phase only when the sets on
 * either side of it are at most a quarter period apart; it is trusted for
 * SHED_COV_AGE periods, SHED_COV_AGE_FQ once the frequency is measured.
 */
#define SHED_NPH	3
#define SHED_VCOV_MAX	4
#define SHED_COV_N	96
#define SHED_COV_HALF	32768U	/* the mean of sin^2, Q16: "covered" */
#define SHED_COV_AGE	4
#define SHED_COV_AGE_FQ	16
#define SHED_COV_INV_MAX (1ULL << 20)
/* the sampler's pace is a running mean of its intervals, 1/2^N per set */
#define SHED_PACE_SHIFT	3

#define NS_PER_MS	1000000ULL
/* 1 mWh expressed in mW * ns: the energy remainder's unit */
#define SHED_MWH	3600000000000ULL
/*
 * I2t budget. x2 is (I/In)^2 in Q16 and time is in units of 1024 ns, so the
 * 60 s * In^2 budget is 60e9 / 1024 * 65536 = 60e9 * 64 exactly.
 */
#define SHED_BUDGET	(60000000000ULL * 64)
#define SHED_X2_ONE	65536ULL
#define SHED_X2_MAX	(1ULL << 40)	/* x <= 1024: keeps heat arithmetic small */
/* magnetic region: trips within 100 ms, i.e. a rate of 600 budgets/min */
#define SHED_MAG_RATE	(600 * SHED_X2_ONE)
#define SHED_MAG_MS	100U
/* below this the model never trips (IEC 60898-1 conventional non-tripping) */
#define SHED_NOTRIP_MILLI 1130U

/*
 * Load estimates (shed_est_pre(), shed_est_post()): each circuit keeps the
 * RMS of its last SHED_EST_HIST cycles. A run of SHED_EST_RUN cycles is
 * steady when each differs from its neighbour by at most SHED_STEADY_MA
 * plus 1/16 of the larger; an estimate is the mean of the newest steady run
 * before the shed minus the mean of the first steady run after the cycle
 * the relay opened in. A cycle with a transient (inrush, a spike) is not
 * steady with its neighbours, so it never enters an estimate.
 */
#define SHED_EST_HIST	8	/* power of two */
#define SHED_EST_RUN	3
#define SHED_EST_WAIT	(SHED_EST_HIST - 2)	/* post cycles looked at */
#define SHED_STEADY_MA	250U
#define SHED_HOLD_LVL_MAX 16	/* delay << level: far past any max hold */

/* the smallest hysteresis of the zero-crossing detector: 10 V in 1/16 mV */
#define SHED_HYST_MIN	(10000 << SHED_Q)

/*
 * The frequency rule's filter (shed_freq_period()): the sum of the last
 * SHED_FQ_AVG accepted periods (a power of two: the ring is indexed by a
 * mask), and the median of the last SHED_FQ_MED3 such sums.
 */
#define SHED_FQ_MED3	3
#define SHED_FQ_AVG	4
/* a filtered frequency older than this many nominal periods is unknown */
#define SHED_FQ_STALE	8

enum shed_zc_state {
	SHED_ZC_WAIT_NEG,	/* waiting for v0 below -hyst */
	SHED_ZC_ARMED,		/* below -hyst: next sample >= 0 is a crossing */
	SHED_ZC_WAIT_POS,	/* crossed: waiting for v0 above +hyst */
};

/**
 * struct shed_chan - per ADC channel state
 * @kh: gain, 1/16 mV (or mA) per LSB in Q(SHED_KSHIFT): its integer part
 * @kl: its fraction bits; the gain is @kh << SHED_KSHIFT | @kl
 * @off: raw reading at zero
 * @maxraw: 2^bits - 1
 * @flags: PHLOEM_CHAN_F_* seen during the open cycle
 * @sum_sq: sum of x^2 (mA^2 or mV^2) times the sample weight over the open
 *          cycle
 * @sum_p: current channels: sum of v*i (uW) times the sample weight over the
 *         open cycle
 * @dly: channel whose value is delayed for the power product
 * @und: channel taken undelayed for the power product
 * @di: whole samples of delay
 * @frac: fraction of a sample of delay, Q16
 * @imp_mwh: energy imported, mWh
 * @exp_mwh: energy exported, mWh
 * @imp_rem: sub-mWh remainder of @imp_mwh, mW * ns
 * @exp_rem: sub-mWh remainder of @exp_mwh, mW * ns
 * @mean_sq: time-weighted mean x^2 of the last closed cycle, (1/16 unit)^2
 * @rms: RMS of the last closed cycle, mV or mA
 * @p_mw: real power of the last closed cycle
 */
struct shed_chan {
	int32_t kh, kl;
	int32_t off;
	int32_t maxraw;
	uint32_t flags;
	uint64_t sum_sq;
	int64_t sum_p;
	uint8_t dly, und, di;
	uint32_t frac;
	uint64_t imp_mwh, exp_mwh, imp_rem, exp_rem;
	uint64_t mean_sq;
	uint32_t rms;
	int32_t p_mw;
};

/**
 * struct shed_circ - per circuit rule state
 * @win: half-cycle window of the circuit's channel: mean i^2 (mA^2) over
 *       the time each sample set stands for, slots as in phloem_shed.wt
 * @wsum: sum of @win times the weights
 * @thr2: (inst_pct% of the limit)^2, mA^2: an instantaneous overload is
 *        @wsum > @thr2 * phloem_shed.wwsum (a time-weighted mean above it)
 * @thr_ma: inst_pct% of the limit, mA (for events)
 * @holdoff_until: the instantaneous rule may not shed again before this
 *                 time (the window still holds samples from before a shed)
 * @ch: current channel of the circuit
 * @inst_ep: an instantaneous overload episode is open (EV_OVERLOAD sent)
 * @therm_ep: a thermal overload episode is open
 * @therm_wait: cycles to skip after a thermal shed
 * @in2: In^2 (mA^2), In = limit in force
 * @heat: I2t state, x2 * 1024 ns units; budget SHED_BUDGET
 * @heat_thr: thermal_pct% of the budget
 * @restore_ma: restore_pct% of the limit, mA
 * @irms: RMS current of the last closed cycle, mA
 * @rh: RMS of the last SHED_EST_HIST closed cycles, mA; cycle n (counted
 *      by phloem_shed.cycles) in slot n % SHED_EST_HIST
 * @hold_ns: max_hold_s in ns (its default for 0)
 * @sw_cyc: a relay of this circuit last switched in cycle @sw_cyc + 1: the
 *          steady levels a load estimate compares are taken from cycles
 *          after it, never across another switching (shed_close())
 * @ph: index of its phase in phloem_shed.vwin, or SHED_NONE (no window
 *      of its phase voltage: judged on the current alone)
 */
struct shed_circ {
	uint64_t win[PHLOEM_SHED_WIN_MAX];
	uint64_t wsum;
	uint64_t thr2;
	uint32_t thr_ma;
	uint64_t holdoff_until;
	uint8_t ch;
	uint8_t inst_ep, therm_ep, therm_wait;
	uint64_t in2;
	uint64_t heat, heat_thr;
	uint32_t restore_ma;
	uint32_t irms;
	uint32_t rh[SHED_EST_HIST];
	uint64_t hold_ns;
	uint64_t sw_cyc;
	uint8_t ph;
};

/**
 * struct shed_relay - per relay state
 * @mode: enum phloem_override_mode in force
 * @shed: off because a rule shed it
 * @fs_hold: off after failsafe, waiting for its staggered return
 * @backoff: backoff level
 * @est: the load estimate is being measured (since the last shed)
 * @hold: enum phloem_hold, as last decided
 * @hold_sent: the hold reason last reported by a PHLOEM_EV_HOLD
 * @hold_lvl: restore attempts made on a load estimate that did not fit,
 *            since the relay last stayed on for retrip_window_ms
 * @ovr_until: override expiry
 * @shed_ns: time of the last shed
 * @off_until: end of its minimum off time (shed_ns + min_off_ms << backoff)
 * @try_ns: its next restore attempt whether or not its estimate fits:
 *          never later than @off_until plus its circuit's max hold
 * @hold_ev_ns: time of the last PHLOEM_EV_HOLD (one per second at most)
 * @restored_ns: time of the last restore, SHED_NEVER once backoff decayed
 * @head_since: start of the continuous headroom, SHED_NEVER when none
 * @shed_cyc: phloem_shed.cycles when it was shed (the next cycle to close
 *            holds the switching)
 * @shed_count: times shed
 * @load_ma: load estimate
 * @pre_ma: steady circuit current before the shed
 * @on_ma: its load learned when it was last switched on (a restore or the
 *         staggered return): the first steady cycles after the switching
 *         minus the steady ones before it; 0 when not known
 * @on_pre: steady circuit current before that switching
 * @on_cyc: phloem_shed.cycles at that switching
 * @on_est: @on_ma is being measured (since the last switching on)
 * @room_since: start of the continuous room (shed_room()) while shed,
 *              SHED_NEVER when none: an attempt needs restore_delay_ms of
 *              it, as a restore on headroom does
 */
struct shed_relay {
	uint8_t mode, shed, fs_hold, backoff, est;
	uint8_t hold, hold_sent, hold_lvl;
	uint64_t ovr_until, shed_ns, off_until, try_ns, hold_ev_ns;
	uint64_t restored_ns, head_since, shed_cyc;
	uint32_t shed_count, load_ma, pre_ma;
	uint32_t on_ma, on_pre;
	uint64_t on_cyc;
	uint8_t on_est;
	uint64_t room_since;
};

/**
 * struct shed_fstage - state of one under-frequency stage
 * @state: enum phloem_freq_state
 * @since: PENDING: when the filtered frequency went under the threshold;
 *         RECOVERING: when it came back above threshold + hysteresis
 * @block: relays the stage holds shed while OPERATED or RECOVERING
 */
struct shed_fstage {
	uint8_t state;
	uint64_t since;
	uint32_t block;
};

/* a queued event and the time it happened */
struct shed_ev {
	struct phloem_rec_event ev;
	uint64_t time_ns;
};

/**
 * struct phloem_shed - the whole state of one device
 * @info: topology, copied at init
 * @cfg: configuration in force, limits included
 * @boot: boot-time configuration, the fallback when a lease lapses
 * @ch: per channel state
 * @ci: per circuit state
 * @rl: per relay state
 * @hist: last SHED_HIST calibrated sample sets (phase correction, crossing
 *        interpolation)
 * @hpos: row of @hist holding the newest set
 * @wt: time of each sample set in the half-cycle windows (a ring)
 * @ww: its weight, 2^SHED_WSHIFT ns units
 * @whead: oldest slot of the windows
 * @wn: slots in use
 * @wwsum: sum of @ww: the time the windows cover
 * @half_ns: half a nominal mains period
 * @win_ns: window length: @half_ns, or a whole nominal period when the
 *          sampler's pace cannot put SHED_WIN_MIN sets in half a cycle
 * @pace_ns: running mean of the interval between sample sets, each capped
 *           at @wcap_ns (a gap is not the sampler's pace)
 * @wcap_ns: most time one sample set may stand for
 * @speriod_ns: nominal sampling period (weight of a first sample)
 * @wprev_t: time of the newest window sample set
 * @vwin: per phase, the window of its voltage: mean v^2 (mV^2) over the
 *        time each set stands for, slots and weights as the circuits'
 * @vsum: per phase, sum of @vwin times the weights
 * @cwin: per phase, the window of its coverage: mean sin^2 (Q16) of the
 *        phase over the time each set stands for, slots and weights as
 *        the circuits' (SHED_COV_HALF where the phase is not known)
 * @csum: per phase, sum of @cwin times the weights
 * @pcs: per phase, sin^2 (Q16) at the previous set
 * @cov_at: per phase, time of its last well-timed upward crossing
 * @cov_zc: per phase, its crossing detector (enum shed_zc_state)
 * @cov_ok: per phase, @cov_at is valid
 * @cov_inv: SHED_COV_N steps of a half period per ns, Q32
 * @cov_age: how long a crossing times its phase
 * @vch: per phase, its voltage channel
 * @nph: phases with a voltage window
 * @psq: per channel x^2 (mA^2, mV^2) of that set
 * @pp: per current channel v*i (uW) of that set
 * @cyc_w: sum of the weights of the open cycle's sample sets
 * @no_trap: a relay just opened: the next set's interval is not averaged
 *           with this set's values
 * @nch: channels
 * @ncirc: circuits
 * @nrel: relays
 * @v0: first voltage channel, whose crossings time the cycles
 * @ncur: current channels
 * @cur: their indexes
 * @now: latest time seen; never goes back
 * @prev_t: time of the previous good sample set
 * @last_good: time of the last good sample set after which the half-cycle
 *             windows were full enough to judge (stale detection)
 * @state: PHLOEM_STATE_F_FAILSAFE and _NO_MAINS; the other bits are derived
 * @tainted: the open cycle saw a fault, is partial, or had windows too
 *           thin to judge for stale_ms: it cannot end failsafe
 * @have_prev: @hist holds a good previous set (crossing interpolation)
 * @zc_state: enum shed_zc_state
 * @have_zc: @last_zc is valid
 * @hyst: crossing detector hysteresis, 1/16 mV
 * @last_zc: time of the last accepted crossing
 * @period_ns: nominal mains period
 * @cyc_start: start of the open cycle
 * @deadline: without a crossing by then, the cycle closes (no mains)
 * @stale_ns: stale_ms in ns
 * @nsamp: sample sets in the open cycle
 * @freq_mhz: frequency of the last closed cycle, 0 without mains
 * @leased: a lease is live
 * @lease_until: its expiry
 * @site_ep: a site import overload episode is open
 * @site_since: start of the present site grace period
 * @site_next: time of the next site shed step
 * @site_restore_mw: restore_pct (of circuit 0) % of the site import limit
 * @delay_ns: restore_delay_ms in ns
 * @last_restore: time of the last restore, SHED_NEVER before the first
 * @next_timer: earliest lease or override expiry
 * @cyc: last closed cycle record
 * @cyc_time: its end time
 * @cyc_ready: @cyc not yet taken by phloem_shed_pop_cycle()
 * @evq: event ring
 * @evhead: oldest queued event
 * @evcount: queued events
 * @evpushed: events ever queued (tells callers something was queued)
 * @evlost: events dropped from a full ring
 * @relays: desired relay bitmap
 * @shedmask: relays off because a rule shed them
 * @cyc_rel: @relays when the last cycle closed
 * @cycles: cycles closed
 * @sheds: relays shed by a rule
 * @restores: relays restored on headroom
 * @failsafes: failsafe entries
 * @lease_expiries: leases that lapsed
 * @fq_per: ring of the last SHED_FQ_AVG accepted periods, ns
 * @fq_sum: the last SHED_FQ_MED3 sums of @fq_per, ns, newest first
 * @fq_np: valid entries of @fq_per
 * @fq_nm: valid entries of @fq_sum
 * @fq_mi: next slot of @fq_per
 * @fq_due: the earliest end of a PENDING stage's delay (SHED_NEVER: none),
 *          checked on every sample set so that a stage operates on time
 *          and not at the next crossing
 * @fq_mhz: filtered frequency, 0 while unknown
 * @fq_at: time of the period that last updated @fq_mhz
 * @fq_block: relays held shed by an operated stage (OR of their @block)
 * @fs: per under-frequency stage state
 * @fq_over: over-frequency reported and not yet ended
 * @fq_over_since: when the filtered frequency went above over_freq_mhz,
 *                 SHED_NEVER when it is not
 * @sig_all: bits of the grid-operator lines that exist
 * @sig_raw: the lines' active bits as last given to phloem_shed_signal()
 * @sig_since: time @sig_raw took its value (the first set that saw it)
 * @sig_state: the debounced active bits: the lines whose actions are in
 *             force
 * @sig_db_ns: signal_debounce_us in ns
 * @sig_cap: the lowest import cap of the active lines, 0 when none
 * @sig_mask: relays the active lines shed (critical ones left out)
 * @imp_lim: site import limit in force: the lower of
 *           cfg.site_import_limit_mw (0: none) and @sig_cap
 * @pch: per phase (index as @vch), its site CT: the current channel of
 *       circuit 0 on that phase's voltage (circuit 0's own channel first),
 *       SHED_NONE when it has none (not measured)
 * @site_mw: the site's net power over the last cycle, mW: the sum of the
 *           measured phases' CTs with two or more, else circuit 0's
 * @ph_ma: per phase, RMS current of @pch over the last cycle, mA (0: none)
 * @ph_mva: per phase, its apparent power over the last cycle, mVA
 * @ph_rma: per phase, circuit 0's restore_pct of its phase_limit_ma, mA
 * @ph_min: the lowest @ph_ma of the measured phases
 * @ph_min_mva: the lowest @ph_mva of the measured phases
 * @ph_max_ma: the highest @ph_ma of the measured phases
 * @ph_lo: per phase, the lowest @ph_ma of the other measured phases: what a
 *         restore on it is judged against by the imbalance rule;
 *         SHED_U32_MAX when there is none or it is not measured itself
 *         (its relays' load is not seen at the incomer)
 * @ph_lo_mva: the same of @ph_mva
 * @ph_max_mva: the highest @ph_mva of the measured phases
 * @imb_rma: circuit 0's restore_pct of imbalance_ma (0: rule off)
 * @imb_rmva: circuit 0's restore_pct of imbalance_mva (0: rule off)
 * @ph_ep: per phase, a phase-limit episode is open (above its limit)
 * @ph_since: per phase, start of the present grace of its episode
 * @ph_next: per phase, time of its next shed step
 * @imb_ep: an imbalance episode is open: PHLOEM_CAUSE_IMBALANCE or
 *          _IMBALANCE_VA, 0 when none
 * @imb_hi: the most loaded phase of the last cycle (SHED_NONE: fewer than
 *          two phases measured)
 * @imb_since: start of the present grace of the imbalance episode
 * @imb_next: time of its next shed step
 * @nmph: measured phases (with a site CT)
 * @ph_block: relays whose circuit is on a phase a phase rule is shedding
 *            (its own limit, or the most loaded of an imbalance): held
 * @mn_state: enum phloem_mains_state
 * @mn_thr2: (outage_pct of nominal)^2, mV^2: a voltage window whose mean
 *           square is under it is low (0: the outage rule is off)
 * @mn_out_ns: low windows for this long are an outage: outage_cycles
 *             nominal periods less the half cycle the first low window
 *             already holds
 * @mn_low_since: the first set of the present run of low windows on some
 *                phase, SHED_NEVER when none is low
 * @mn_stable_since: in the island, start of the present stable mains (every
 *                   phase in the return band, frequency known and within
 *                   1 % of nominal), SHED_NEVER when not stable
 * @mn_next: in the staggered return, time of the next release
 * @mn_isl_since: start of the last outage (its first low set), when the
 *                island began from it
 * @mn_isl_end: when that outage ended (the start of the stable mains that
 *              began the return, or the rule switched off in the island),
 *              SHED_NEVER while it lasts
 * @isl_mask: relays the island holds off (never a critical one nor one of
 *            outage_relays); released one at a time by the return
 * @vnom: nominal voltage, mV
 * @v_lo: under-voltage edge of the band (0: no band), mV
 * @v_hi: over-voltage edge, mV
 * @r_lo: the return band's lower edge, mV
 * @r_hi: its upper edge, mV
 * @vst: per phase, enum phloem_volt_state
 * @vpend: per phase, the state its last cycles measure (not yet reported)
 * @vsince: per phase, since when @vpend has been measured
 * @uv_mv: the under-voltage rule's threshold (0: off), mV
 * @uv_back: its restore threshold, mV
 * @uv_ep: an under-voltage episode is open
 * @uv_ph: phases under @uv_mv in the episode (bitmask), until all of them
 *         are back at @uv_back
 * @uv_next: time of the episode's next shed step
 * @uv_block: relays on the phases of @uv_ph: held
 *
 * Embeddable as a zeroed allocation of phloem_shed_size() bytes; nothing
 * here points outside itself. No lock: the caller serialises every call.
 */
struct phloem_shed {
	struct phloem_info info;
	struct phloem_config cfg;
	struct phloem_config boot;
	struct shed_chan ch[PHLOEM_MAX_CHANNELS];
	struct shed_circ ci[PHLOEM_MAX_CIRCUITS];
	struct shed_relay rl[PHLOEM_MAX_RELAYS];
	int32_t hist[SHED_HIST][PHLOEM_MAX_CHANNELS];
	uint32_t hpos;
	uint64_t wt[PHLOEM_SHED_WIN_MAX];
	uint32_t ww[PHLOEM_SHED_WIN_MAX];
	uint8_t whead;		/* (a type that cannot index past @wt) */
	uint32_t wn;
	uint64_t wwsum, half_ns, win_ns, pace_ns, wcap_ns, speriod_ns;
	uint64_t wprev_t, cyc_w;
	uint64_t vwin[SHED_NPH][PHLOEM_SHED_WIN_MAX];
	uint64_t vsum[SHED_NPH];
	uint32_t cwin[SHED_NPH][PHLOEM_SHED_WIN_MAX];
	uint64_t csum[SHED_NPH], cov_at[SHED_NPH], cov_inv, cov_age;
	uint32_t pcs[SHED_NPH];
	uint8_t cov_zc[SHED_NPH], cov_ok[SHED_NPH];
	uint8_t vch[SHED_NPH], nph;
	uint64_t psq[PHLOEM_MAX_CHANNELS];
	int64_t pp[PHLOEM_MAX_CHANNELS];
	uint8_t no_trap;
	uint8_t nch, ncirc, nrel, v0, ncur;
	uint8_t cur[PHLOEM_MAX_CHANNELS];

	uint64_t now;
	uint64_t prev_t;
	uint64_t last_good;
	uint32_t state;
	uint8_t tainted;
	uint8_t have_prev;

	uint8_t zc_state, have_zc;
	int32_t hyst;
	uint64_t last_zc, period_ns, cyc_start;
	uint64_t deadline;
	uint64_t stale_ns;
	uint32_t nsamp, freq_mhz;

	uint8_t leased;
	uint64_t lease_until;

	uint8_t site_ep;
	uint64_t site_since, site_next;
	uint32_t site_restore_mw;
	uint64_t delay_ns;

	uint64_t last_restore;
	uint64_t next_timer;

	struct phloem_rec_cycle cyc;
	uint64_t cyc_time;
	uint8_t cyc_ready;

	struct shed_ev evq[PHLOEM_SHED_EVQ];
	uint32_t evhead, evcount, evpushed;
	uint64_t evlost;

	uint32_t relays, shedmask, cyc_rel;
	uint64_t cycles, sheds, restores, failsafes, lease_expiries;

	uint32_t fq_per[SHED_FQ_AVG];
	uint32_t fq_sum[SHED_FQ_MED3];
	uint8_t fq_np, fq_nm, fq_mi, fq_over;
	uint32_t fq_mhz, fq_block;
	uint64_t fq_at, fq_over_since, fq_due;
	struct shed_fstage fs[PHLOEM_FREQ_STAGES];
	uint32_t sig_all, sig_raw, sig_state;
	uint64_t sig_since, sig_db_ns;
	uint32_t sig_cap, sig_mask, imp_lim;
	uint8_t pch[SHED_NPH];
	int32_t site_mw;
	uint32_t ph_ma[SHED_NPH], ph_mva[SHED_NPH], ph_rma[SHED_NPH];
	uint32_t ph_min, ph_min_mva, ph_max_ma, ph_max_mva;
	uint32_t ph_lo[SHED_NPH], ph_lo_mva[SHED_NPH];
	uint32_t imb_rma, imb_rmva;
	uint8_t ph_ep[SHED_NPH];
	uint64_t ph_since[SHED_NPH], ph_next[SHED_NPH];
	uint8_t imb_ep, imb_hi, nmph;
	uint64_t imb_since, imb_next;
	uint32_t ph_block;
	uint8_t mn_state;
	uint64_t mn_thr2, mn_out_ns, mn_low_since, mn_stable_since, mn_next;
	uint64_t mn_isl_since, mn_isl_end;
	uint32_t isl_mask;
	uint32_t vnom, v_lo, v_hi, r_lo, r_hi;
	uint8_t vst[SHED_NPH], vpend[SHED_NPH];
	uint64_t vsince[SHED_NPH];
	uint32_t uv_mv, uv_back;
	uint8_t uv_ep, uv_ph;
	uint64_t uv_next;
	uint32_t uv_block;
};

/* the sizes published before each appended part (uapi/linux/phloem.h) */
_Static_assert(PHLOEM_INFO_SIZE_VER0 ==
	       __builtin_offsetof(struct phloem_info, nsignals), "info");
_Static_assert(PHLOEM_CONFIG_SIZE_VER0 ==
	       __builtin_offsetof(struct phloem_config, over_freq_mhz),
	       "config ver0");
_Static_assert(PHLOEM_CONFIG_SIZE_VER1 ==
	       __builtin_offsetof(struct phloem_config, signal_debounce_us),
	       "config ver1");
_Static_assert(PHLOEM_STATUS_SIZE_VER1 ==
	       __builtin_offsetof(struct phloem_status, freq_est_mhz),
	       "status ver1");
_Static_assert(PHLOEM_STATUS_SIZE_VER2 ==
	       __builtin_offsetof(struct phloem_status, signal_state),
	       "status ver2");
_Static_assert(PHLOEM_CONFIG_SIZE_VER2 ==
	       __builtin_offsetof(struct phloem_config, phase_limit_ma),
	       "config ver2");
_Static_assert(PHLOEM_STATUS_SIZE_VER3 ==
	       __builtin_offsetof(struct phloem_status, phase_ma),
	       "status ver3");
_Static_assert(PHLOEM_CONFIG_SIZE_VER3 ==
	       __builtin_offsetof(struct phloem_config, nominal_mv),
	       "config ver3");
_Static_assert(PHLOEM_STATUS_SIZE_VER4 ==
	       __builtin_offsetof(struct phloem_status, mains_reserved) + 4,
	       "status ver4");
_Static_assert(sizeof(struct phloem_status) % 8 == 0,
	       "status: no tail padding that differs between ABIs");
/* the phases of the rules are the phases of the voltage windows */
_Static_assert(PHLOEM_MAX_PHASES == SHED_NPH, "phases");

/* @whead is a uint8_t: it indexes the windows by its type alone */
_Static_assert(PHLOEM_SHED_WIN_MAX == 256, "whead must cover the window");

/*
 * ACSL (checked by make check-frama-wp; see docs/shedding.md, Proofs),
 * under SHED_WP: the value analysis (make check-frama-eva) must reach its
 * verdict on the code alone, not on contracts it cannot decide and would
 * then assume. shed_ok(): the shape every function below may rely on, which
 * phloem_shed_init() establishes from a checked configuration.
 */
#ifdef SHED_WP
/*@ predicate shed_ok(struct phloem_shed *s) =
      \valid(s) && s->nrel <= PHLOEM_MAX_RELAYS &&
      s->ncirc <= PHLOEM_MAX_CIRCUITS &&
      s->evcount <= PHLOEM_SHED_EVQ &&
      (\forall integer r; 0 <= r < PHLOEM_MAX_RELAYS ==>
         s->cfg.relay[r].circuit < PHLOEM_MAX_CIRCUITS) &&
      (\forall integer c; 0 <= c < PHLOEM_MAX_CIRCUITS ==>
         s->ci[c].ch < PHLOEM_MAX_CHANNELS) &&
      (s->v0 < PHLOEM_MAX_CHANNELS || s->v0 == PHLOEM_NONE);
    predicate critical(struct phloem_shed *s, integer r) =
      (s->cfg.relay[r].flags & PHLOEM_RELAY_F_CRITICAL) != 0;
    logic integer circ(struct phloem_shed *s, integer r) =
      s->cfg.relay[r].circuit;
    logic integer cph(struct phloem_shed *s, integer r) =
      s->ci[circ(s, r)].ph;
    // the relay's phase at or below its restore thresholds with @load:
    // its limit's, and the imbalance's against the lightest other phase
    predicate phase_below(struct phloem_shed *s, integer r, integer load) =
      cph(s, r) >= SHED_NPH ||
      ((s->cfg.phase_limit_ma[cph(s, r)] == 0 ||
        s->ph_ma[cph(s, r)] + load <= s->ph_rma[cph(s, r)]) &&
       (s->cfg.imbalance_ma == 0 ||
        s->ph_ma[cph(s, r)] + load <= s->ph_lo[cph(s, r)] + s->imb_rma) &&
       (s->cfg.imbalance_mva == 0 ||
        s->ph_mva[cph(s, r)] <= s->ph_lo_mva[cph(s, r)] + s->imb_rmva));
    predicate headroom_for(struct phloem_shed *s, integer r, integer load) =
      s->ci[circ(s, r)].irms + load <= s->ci[circ(s, r)].restore_ma &&
      (circ(s, r) != 0 ==> s->ci[0].irms + load <= s->ci[0].restore_ma) &&
      phase_below(s, r, load);
    // the site's import at or below its restore threshold
    predicate site_below(struct phloem_shed *s) =
      s->imp_lim == 0 ||
      s->site_mw <= s->site_restore_mw;
    // no rule is shedding on the relay's circuit or the site
    predicate calm(struct phloem_shed *s, integer r) =
      s->ci[circ(s, r)].inst_ep == 0 && s->ci[circ(s, r)].therm_ep == 0 &&
      s->ci[0].inst_ep == 0 && s->ci[0].therm_ep == 0 &&
      s->site_ep == 0 && (s->state & PHLOEM_STATE_F_FAILSAFE) == 0 &&
      (s->fq_block & (1 << r)) == 0 &&
      (s->sig_mask & (1U << r)) == 0 &&
      (s->ph_block & (1U << r)) == 0 &&
      (s->isl_mask & (1U << r)) == 0 &&
      (s->uv_block & (1U << r)) == 0;
    // a relay may come back: measured room without its load, all calm
    predicate room(struct phloem_shed *s, integer r) =
      headroom_for(s, r, 0) && site_below(s) && calm(s, r);
    // a shed relay whose hold is over and that has room: due an attempt
    predicate due(struct phloem_shed *s, integer r) =
      s->rl[r].shed != 0 && s->rl[r].mode != PHLOEM_OVERRIDE_OFF &&
      s->rl[r].est == 0 && s->now >= s->rl[r].off_until &&
      s->now >= s->rl[r].try_ns && room(s, r) &&
      s->rl[r].room_since != SHED_NEVER && s->now >= s->rl[r].room_since &&
      s->now - s->rl[r].room_since >= s->delay_ns;
    predicate fs_pending(struct phloem_shed *s) =
      \exists integer r; 0 <= r < s->nrel && s->rl[r].fs_hold != 0 &&
        s->rl[r].mode != PHLOEM_OVERRIDE_OFF;
    // restore_delay_ms since the last restore (the spacing of restores)
    predicate spaced(struct phloem_shed *s) =
      s->last_restore == SHED_NEVER ||
      (s->now >= s->last_restore &&
       s->now - s->last_restore >= s->delay_ns);
 */
#endif

/* ------------------------------------------------------------------ */
/* Arithmetic helpers (no 64-bit division on 32-bit targets)           */
/* ------------------------------------------------------------------ */

/*
 * n / d with remainder. Shift-subtract: per cycle only. Every caller
 * divides by a non-zero value; a zero divisor still gives a defined
 * answer (all ones, remainder n: "without bound") so that the unit is
 * total and the value analysis proves no division by zero anywhere.
 */
#ifdef SHED_WP
/*@ requires rem == \null || \valid(rem);
    assigns *rem;
 */
#endif
static uint64_t shed_div(uint64_t n, uint64_t d, uint64_t *rem)
{
	uint64_t q = 0;
	int shift;

	if (!d) {
		if (rem)
			*rem = n;
		return SHED_U64_MAX;
	}
	if (n <= SHED_U32_MAX && d <= SHED_U32_MAX) {
		uint32_t n32 = (uint32_t)n, d32 = (uint32_t)d;
		uint32_t q32 = n32 / d32;

		if (rem)
			*rem = n32 - q32 * d32;
		return q32;
	}
	if (n < d) {
		if (rem)
			*rem = n;
		return 0;
	}
	shift = __builtin_clzll(d) - __builtin_clzll(n);	/* n >= d: >= 0 */
	if (shift > 0)
		d <<= shift;
#ifdef SHED_WP
	/*@ loop assigns shift, q, n, d; */
#endif
	for (; shift >= 0; shift--) {
		q <<= 1;
		if (n >= d) {
			n -= d;
			q |= 1;
		}
		d >>= 1;
	}
	if (rem)
		*rem = n;
	return q;
}

/* signed n / d rounded half away from zero; d != 0 */
static int64_t shed_sdiv_round(int64_t n, uint64_t d)
{
	uint64_t m = n < 0 ? -(uint64_t)n : (uint64_t)n;
	uint64_t q = shed_div(m + (d >> 1), d, 0);

	/* only INT64_MIN / 1 gets here: keep the negation defined */
	if (q > (uint64_t)SHED_S64_MAX)
		q = SHED_S64_MAX;
	return n < 0 ? -(int64_t)q : (int64_t)q;
}

static uint32_t shed_isqrt(uint64_t x)
{
	uint64_t r = 0, b = 1ULL << 62;

	while (b > x)
		b >>= 2;
	while (b) {
		if (x >= r + b) {
			x -= r + b;
			r = (r >> 1) + b;
		} else {
			r >>= 1;
		}
		b >>= 2;
	}
	return (uint32_t)r;
}

/*
 * RMS in mA (mV) of a mean square in (1/16 unit)^2, rounded up: a rule that
 * fired because the mean square was above limit^2 then never reports a
 * value equal to the limit.
 */
static uint32_t shed_rms_ceil(uint64_t msq)
{
	uint64_t r = msq ? (uint64_t)shed_isqrt(msq - 1) + 1 : 0;

	return (uint32_t)((r + (1 << SHED_Q) - 1) >> SHED_Q);
}

#ifdef SHED_WP
/*@ assigns \nothing;
    ensures \result == (v > SHED_U32_MAX ? SHED_U32_MAX : v);
 */
#endif
static uint32_t shed_sat32(uint64_t v)
{
	return v > SHED_U32_MAX ? SHED_U32_MAX : (uint32_t)v;
}

#ifdef SHED_WP
/*@ assigns \nothing; */
#endif
static uint64_t shed_ms(uint64_t ms)
{
	return ms * NS_PER_MS;
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

uint32_t phloem_shed_size(void)
{
	return sizeof(struct phloem_shed);
}

static int shed_check_info(const struct phloem_info *info)
{
	uint32_t i;

	if (info->nchannels < 1 || info->nchannels > PHLOEM_MAX_CHANNELS ||
	    info->ncircuits < 1 || info->ncircuits > PHLOEM_MAX_CIRCUITS ||
	    info->nrelays > PHLOEM_MAX_RELAYS ||
	    info->nsignals > PHLOEM_MAX_SIGNALS ||
	    (info->mains_hz != 50 && info->mains_hz != 60))
		return PHLOEM_SHED_EINVAL;
	for (i = 0; i < info->nchannels; i++) {
		const struct phloem_chan_info *c = &info->chan[i];

		if (c->bits < 8 || c->bits > 24)
			return PHLOEM_SHED_EINVAL;
		if (c->kind == PHLOEM_CHAN_VOLTAGE) {
			if (c->phase != i)
				return PHLOEM_SHED_EINVAL;
		} else if (c->kind == PHLOEM_CHAN_CURRENT) {
			if (c->phase >= info->nchannels ||
			    info->chan[c->phase].kind != PHLOEM_CHAN_VOLTAGE)
				return PHLOEM_SHED_EINVAL;
			if (c->circuit != PHLOEM_NONE &&
			    c->circuit >= info->ncircuits)
				return PHLOEM_SHED_EINVAL;
		} else {
			return PHLOEM_SHED_EINVAL;
		}
	}
	for (i = 0; i < info->ncircuits; i++) {
		const struct phloem_circuit_info *c = &info->circuit[i];

		if (c->channel >= info->nchannels ||
		    info->chan[c->channel].kind != PHLOEM_CHAN_CURRENT ||
		    c->curve >= __PHLOEM_CURVE_MAX || !c->rating_ma)
			return PHLOEM_SHED_EINVAL;
	}
	for (i = 0; i < info->nrelays; i++)
		if (info->relay[i].safe_state > 1)
			return PHLOEM_SHED_EINVAL;
	return 0;
}

static bool shed_zero(const void *p, uint32_t len)
{
	const uint8_t *b = p;

	while (len--)
		if (*b++)
			return false;
	return true;
}

/*
 * The frequency rule's fields: thresholds relative to nominal, a stage's
 * release point (threshold + hysteresis) under the normal band so that a
 * grid back in it always releases it, a disabled stage all zero.
 */
static int shed_check_freq(const struct phloem_info *info,
			   const struct phloem_config *cfg)
{
	uint32_t nom = info->mains_hz * 1000, k;

	if (cfg->over_freq_mhz ?
	    cfg->over_freq_mhz < nom + PHLOEM_FREQ_BAND_MHZ ||
	    cfg->over_freq_mhz > nom / 10 * 11 ||
	    cfg->over_freq_ms > PHLOEM_FREQ_DELAY_MAX_MS :
	    cfg->over_freq_ms != 0)
		return PHLOEM_SHED_EINVAL;
	for (k = 0; k < PHLOEM_FREQ_STAGES; k++) {
		const struct phloem_freq_stage *fc = &cfg->freq_stage[k];

		if (!fc->threshold_mhz) {
			if (!shed_zero(fc, sizeof(*fc)))
				return PHLOEM_SHED_EINVAL;
			continue;
		}
		if (fc->threshold_mhz < nom / 10 * 9 ||
		    fc->threshold_mhz > nom ||
		    fc->hyst_mhz > PHLOEM_FREQ_HYST_MAX_MHZ ||
		    fc->threshold_mhz + fc->hyst_mhz >
		    nom - PHLOEM_FREQ_BAND_MHZ ||
		    fc->delay_ms > PHLOEM_FREQ_DELAY_MAX_MS ||
		    fc->restore_ms > PHLOEM_FREQ_RESTORE_MAX_MS ||
		    fc->prio_min > fc->prio_max)
			return PHLOEM_SHED_EINVAL;
	}
	return 0;
}

/*
 * The site's CT on phase @p (the @p-th voltage channel, L1..L3): a current
 * channel of circuit 0 measured against that voltage, circuit 0's own
 * channel first. SHED_NONE when the phase has none.
 */
static uint32_t shed_site_ct(const struct phloem_info *info, uint32_t p)
{
	uint32_t i, v = SHED_NONE, n = 0, ct = SHED_NONE;

	for (i = 0; i < info->nchannels && i < PHLOEM_MAX_CHANNELS; i++)
		if (info->chan[i].kind == PHLOEM_CHAN_VOLTAGE && n++ == p)
			v = i;
	if (v == SHED_NONE)
		return SHED_NONE;
	for (i = 0; i < info->nchannels && i < PHLOEM_MAX_CHANNELS; i++) {
		const struct phloem_chan_info *c = &info->chan[i];

		if (c->kind != PHLOEM_CHAN_CURRENT || c->phase != v ||
		    c->circuit != 0)
			continue;
		if (i == info->circuit[0].channel)
			return i;
		if (ct == SHED_NONE)
			ct = i;
	}
	return ct;
}

/*
 * The phase rules' fields: a limit only on a measured phase, never above
 * the site's rating; the imbalance only with two phases measured.
 */
static int shed_check_phase(const struct phloem_info *info,
			    const struct phloem_config *cfg)
{
	uint32_t p, n = 0, rating = info->circuit[0].rating_ma;

	for (p = 0; p < PHLOEM_MAX_PHASES; p++) {
		int ct = shed_site_ct(info, p) != SHED_NONE;

		n += ct;
		if (cfg->phase_limit_ma[p] &&
		    (!ct || cfg->phase_limit_ma[p] > rating))
			return PHLOEM_SHED_EINVAL;
	}
	if (cfg->imbalance_ma > rating ||
	    cfg->phase_grace_ms > PHLOEM_PHASE_GRACE_MAX_MS ||
	    ((cfg->imbalance_ma || cfg->imbalance_mva) && n < 2))
		return PHLOEM_SHED_EINVAL;
	return 0;
}

/* the mains rules' fields (0 is the default or off in each) */
static int shed_check_mains(const struct phloem_config *cfg)
{
	if ((cfg->nominal_mv && (cfg->nominal_mv < PHLOEM_NOMINAL_MV_MIN ||
				 cfg->nominal_mv > PHLOEM_NOMINAL_MV_MAX)) ||
	    cfg->outage_pct > PHLOEM_OUTAGE_MAX_PCT ||
	    cfg->outage_cycles > PHLOEM_OUTAGE_CYCLES_MAX ||
	    cfg->outage_relays >> cfg->nrelays ||
	    cfg->return_ms > PHLOEM_RETURN_MS_MAX ||
	    cfg->return_stagger_ms > PHLOEM_RETURN_STAGGER_MS_MAX ||
	    cfg->volt_band_pct > PHLOEM_VOLT_BAND_MAX_PCT ||
	    cfg->volt_delay_ms > PHLOEM_VOLT_DELAY_MAX_MS ||
	    (cfg->uv_shed_pct && (cfg->uv_shed_pct < PHLOEM_UV_SHED_MIN_PCT ||
				  cfg->uv_shed_pct > PHLOEM_UV_SHED_MAX_PCT)) ||
	    cfg->uv_shed_ms > PHLOEM_UV_SHED_MAX_MS)
		return PHLOEM_SHED_EINVAL;
	return 0;
}

int phloem_shed_check_config(const struct phloem_info *info,
			     const struct phloem_config *cfg)
{
	uint32_t i;

	if (shed_check_info(info))
		return PHLOEM_SHED_EINVAL;
	if (cfg->flags & ~__PHLOEM_CFG_F_ALL ||
	    cfg->sample_rate_hz < PHLOEM_RATE_MIN_HZ ||
	    cfg->sample_rate_hz > PHLOEM_RATE_MAX_HZ ||
	    cfg->site_import_grace_ms > 600000 ||
	    cfg->restore_delay_ms > 3600000 ||
	    cfg->retrip_window_ms > 86400000 ||
	    cfg->backoff_max > 10 ||
	    cfg->stale_ms < 1 || cfg->stale_ms > 10000 ||
	    cfg->nchannels != info->nchannels ||
	    cfg->ncircuits != info->ncircuits ||
	    cfg->nrelays != info->nrelays)
		return PHLOEM_SHED_EINVAL;
	for (i = 0; i < 4; i++)
		if (cfg->reserved[i])
			return PHLOEM_SHED_EINVAL;
	for (i = 0; i < cfg->nchannels; i++) {
		const struct phloem_chan_cal *c = &cfg->cal[i];

		if (c->scale_uunit < 1 || c->scale_uunit > 100000000 ||
		    c->offset_lsb >= (1U << info->chan[i].bits) ||
		    c->phase_mdeg < -20000 || c->phase_mdeg > 20000 ||
		    c->reserved)
			return PHLOEM_SHED_EINVAL;
	}
	for (i = 0; i < cfg->ncircuits; i++) {
		const struct phloem_circuit_cfg *c = &cfg->circuit[i];

		if (c->limit_ma < 1 || c->limit_ma > info->circuit[i].rating_ma ||
		    c->inst_pct < 105 || c->inst_pct > 1000 ||
		    c->thermal_pct < 5 || c->thermal_pct > 90 ||
		    c->restore_pct < 10 || c->restore_pct > 100 ||
		    c->max_hold_s > PHLOEM_MAX_HOLD_MAX_S)
			return PHLOEM_SHED_EINVAL;
	}
	/* slots past the topology are not configuration: they must be zero */
	for (i = cfg->nchannels; i < PHLOEM_MAX_CHANNELS; i++)
		if (!shed_zero(&cfg->cal[i], sizeof(cfg->cal[i])))
			return PHLOEM_SHED_EINVAL;
	for (i = cfg->ncircuits; i < PHLOEM_MAX_CIRCUITS; i++)
		if (!shed_zero(&cfg->circuit[i], sizeof(cfg->circuit[i])))
			return PHLOEM_SHED_EINVAL;
	for (i = cfg->nrelays; i < PHLOEM_MAX_RELAYS; i++)
		if (!shed_zero(&cfg->relay[i], sizeof(cfg->relay[i])))
			return PHLOEM_SHED_EINVAL;
	for (i = 0; i < cfg->nrelays; i++) {
		const struct phloem_relay_cfg *r = &cfg->relay[i];

		/* a relay sits on a final circuit unless there is none */
		if (r->circuit >= cfg->ncircuits ||
		    (r->circuit == 0 && cfg->ncircuits > 1) ||
		    r->flags & ~__PHLOEM_RELAY_F_ALL || r->reserved ||
		    r->min_off_ms > 3600000)
			return PHLOEM_SHED_EINVAL;
	}
	if (cfg->signal_debounce_us > PHLOEM_SIGNAL_DEBOUNCE_MAX_US ||
	    cfg->signal_reserved)
		return PHLOEM_SHED_EINVAL;
	for (i = 0; i < PHLOEM_MAX_SIGNALS; i++) {
		const struct phloem_signal_cfg *g = &cfg->signal[i];

		/* a line that does not exist has no action */
		if ((i >= info->nsignals && (g->import_cap_mw || g->shed_relays)) ||
		    g->shed_relays >> cfg->nrelays)
			return PHLOEM_SHED_EINVAL;
	}
	if (shed_check_phase(info, cfg) || shed_check_mains(cfg))
		return PHLOEM_SHED_EINVAL;
	return shed_check_freq(info, cfg);
}

/*
 * The grid-operator lines' actions in force, from their debounced state:
 * the lowest cap of the active lines, the relays they shed (never a
 * critical one), and the site import limit with the cap.
 */
static void shed_sig_derive(struct phloem_shed *s)
{
	uint32_t i, cap = 0, mask = 0, lim = s->cfg.site_import_limit_mw;

	for (i = 0; i < PHLOEM_MAX_SIGNALS; i++) {
		const struct phloem_signal_cfg *g = &s->cfg.signal[i];

		if (!(s->sig_state & (1U << i)))
			continue;
		mask |= g->shed_relays;
		if (g->import_cap_mw && (!cap || g->import_cap_mw < cap))
			cap = g->import_cap_mw;
	}
	for (i = 0; i < s->nrel; i++)
		if (s->cfg.relay[i].flags & PHLOEM_RELAY_F_CRITICAL)
			mask &= ~(1U << i);
	s->sig_cap = cap;
	s->sig_mask = mask & ((1U << s->nrel) - 1);
	s->imp_lim = cap && (!lim || cap < lim) ? cap : lim;
	s->sig_db_ns = (uint64_t)s->cfg.signal_debounce_us * 1000;
}

/* Everything derived from the limits in force: called whenever they move. */
static void shed_derive_limits(struct phloem_shed *s)
{
	uint32_t c;

	for (c = 0; c < s->ncirc; c++) {
		const struct phloem_circuit_cfg *cc = &s->cfg.circuit[c];
		struct shed_circ *ci = &s->ci[c];
		uint64_t t = shed_div((uint64_t)cc->inst_pct * cc->limit_ma,
				      100, 0);

		ci->thr_ma = shed_sat32(t);
		/* beyond the clamp of calibrated values it can never trip */
		if (t > (SHED_XMAX >> SHED_Q))
			ci->thr2 = SHED_U64_MAX >> 4;	/* * weights: no overflow */
		else
			ci->thr2 = t * t;
		ci->restore_ma = shed_sat32(shed_div((uint64_t)cc->restore_pct *
						     cc->limit_ma, 100, 0));
		ci->in2 = (uint64_t)cc->limit_ma * cc->limit_ma;
		ci->heat_thr = SHED_BUDGET / 100 * cc->thermal_pct;
		ci->hold_ns = shed_ms(1000ULL * (cc->max_hold_s ? cc->max_hold_s :
						 PHLOEM_MAX_HOLD_DEFAULT_S));
	}
	shed_sig_derive(s);
	s->site_restore_mw = shed_sat32(shed_div((uint64_t)s->imp_lim *
				s->cfg.circuit[0].restore_pct, 100, 0));
	/* the phases come back under the site's restore_pct, as its import */
	for (c = 0; c < SHED_NPH; c++)
		s->ph_rma[c] = shed_sat32(shed_div((uint64_t)s->cfg.circuit[0].restore_pct *
						   s->cfg.phase_limit_ma[c], 100, 0));
	s->imb_rma = shed_sat32(shed_div((uint64_t)s->cfg.circuit[0].restore_pct *
					 s->cfg.imbalance_ma, 100, 0));
	s->imb_rmva = shed_sat32(shed_div((uint64_t)s->cfg.circuit[0].restore_pct *
					  s->cfg.imbalance_mva, 100, 0));
	s->delay_ns = shed_ms(s->cfg.restore_delay_ms);
}

/*
 * The instantaneous rule's window: half a cycle when the sampler's pace
 * puts SHED_WIN_MIN sets in it, else a whole cycle. Both are whole half
 * cycles, over which the mean of sin^2 is exact whatever the phase.
 */
static void shed_win_size(struct phloem_shed *s)
{
	uint64_t win = s->pace_ns * SHED_WIN_MIN > s->half_ns ?
		       2 * s->half_ns : s->half_ns;
	uint32_t c;

	/*
	 * A longer window keeps sets that the shorter one would have
	 * dropped: the hold-off after a shed (until the shed + the window)
	 * must last until the sets from before the shed are out of the new
	 * window too, even one that had just ended.
	 */
	if (win > s->win_ns)
		for (c = 0; c < s->ncirc; c++)
			if (s->ci[c].holdoff_until + (win - s->win_ns) > s->now)
				s->ci[c].holdoff_until += win - s->win_ns;
	s->win_ns = win;
}

/* Everything derived from rate and calibration. */
static void shed_derive(struct phloem_shed *s)
{
	uint32_t fs = s->cfg.sample_rate_hz, hz = s->info.mains_hz;
	uint32_t i;

	for (i = 0; i < s->nch; i++) {
		const struct phloem_chan_cal *cal = &s->cfg.cal[i];
		struct shed_chan *ch = &s->ch[i];

		/* uunit/LSB -> (1/16 unit)/LSB in Q20: scale * 2^24 / 1000 */
		uint64_t k = shed_div((uint64_t)cal->scale_uunit <<
				      (SHED_KSHIFT + SHED_Q), 1000, 0);

		/* split: k < 2^41, so kh < 2^21 (see phloem_shed_sample()) */
		ch->kh = (int32_t)(k >> SHED_KSHIFT);
		ch->kl = (int32_t)(k & ((1U << SHED_KSHIFT) - 1));
		ch->off = (int32_t)cal->offset_lsb;
		ch->maxraw = (int32_t)((1U << s->info.chan[i].bits) - 1);
		if (s->info.chan[i].kind == PHLOEM_CHAN_CURRENT) {
			int32_t mdeg = cal->phase_mdeg;
			uint64_t m = mdeg < 0 ? -(int64_t)mdeg : mdeg;
			/* delay in samples, Q16: mdeg/360000 of a period */
			uint64_t d = shed_div(m * fs << 16,
					      360000ULL * hz, 0);

			if (d > ((uint64_t)(SHED_HIST - 2) << 16))
				d = (uint64_t)(SHED_HIST - 2) << 16;
			/*
			 * Positive: the voltage is delayed (CT leads). A
			 * negative correction cannot look into the future, so
			 * the current is delayed instead: same relative shift.
			 */
			ch->dly = mdeg >= 0 ? s->info.chan[i].phase : i;
			ch->und = mdeg >= 0 ? i : s->info.chan[i].phase;
			ch->di = (uint8_t)(d >> 16);
			ch->frac = (uint32_t)(d & 0xffff);
		}
	}
	s->stale_ns = shed_ms(s->cfg.stale_ms);
	/*
	 * The windows are measured in time, not in samples: a rate change
	 * leaves them valid, and a sampler that runs late or jitters fills
	 * them with fewer, heavier samples that still mean the same current.
	 */
	s->half_ns = 500000000U / hz;
	s->wcap_ns = s->half_ns / SHED_WCAP_DIV;
	s->speriod_ns = 1000000000U / fs;
	/*
	 * The pace is measured, not configured: a new configuration (even a
	 * new rate) leaves it, and the window sized on it, to the sets.
	 */
	if (!s->pace_ns) {
		s->pace_ns = s->speriod_ns < s->wcap_ns ? s->speriod_ns :
							  s->wcap_ns;
		shed_win_size(s);
	}
	shed_derive_limits(s);
}

/* ------------------------------------------------------------------ */
/* Events and relays                                                   */
/* ------------------------------------------------------------------ */

#ifdef SHED_WP
/*@ requires shed_ok(s);
    assigns s->evq[0 .. PHLOEM_SHED_EVQ - 1], s->evhead, s->evcount,
            s->evpushed, s->evlost;
    ensures shed_ok(s);
 */
#endif
static void shed_event(struct phloem_shed *s, uint32_t kind, uint32_t cause,
		       uint32_t relay, uint32_t circuit, uint32_t channel,
		       uint64_t value, uint64_t limit, uint64_t trigger_ns)
{
	struct shed_ev *e;
	uint32_t slot;

	if (s->evcount >= PHLOEM_SHED_EVQ) {
		/* drop the oldest: the newest says most about now */
		s->evhead = (s->evhead + 1) % PHLOEM_SHED_EVQ;
		s->evcount--;
		s->evlost++;
	}
	slot = (s->evhead + s->evcount) % PHLOEM_SHED_EVQ;
	e = &s->evq[slot];
	e->ev.kind = (uint16_t)kind;
	e->ev.cause = (uint16_t)cause;
	e->ev.relay = (uint8_t)relay;
	e->ev.circuit = (uint8_t)circuit;
	e->ev.channel = (uint8_t)channel;
	e->ev.backoff = relay < s->nrel ? s->rl[relay].backoff : 0;
	e->ev.value = shed_sat32(value);
	e->ev.limit = shed_sat32(limit);
	e->ev.trigger_ns = trigger_ns;
	e->ev.latency_ns = 0;
	e->time_ns = s->now;
	s->evcount++;
	s->evpushed++;
}

#ifdef SHED_WP
/*@ requires shed_ok(s);
    assigns s->relays, s->shedmask;
    ensures shed_ok(s);
 */
#endif
static void shed_update_relays(struct phloem_shed *s)
{
	uint32_t on = 0, shed = 0, r;
	int fs = !!(s->state & PHLOEM_STATE_F_FAILSAFE);

#ifdef SHED_WP
	/*@ loop invariant 0 <= r <= s->nrel;
	    loop assigns r, on, shed;
	 */
#endif
	for (r = 0; r < s->nrel; r++) {
		const struct shed_relay *rl = &s->rl[r];
		int bit;

		if (fs)
			bit = s->info.relay[r].safe_state;
		else if (rl->mode == PHLOEM_OVERRIDE_OFF)
			bit = 0;
		else
			bit = !rl->shed && !rl->fs_hold;
		/*
		 * The island is stronger than a safe state or an override:
		 * a load energised into it would be fed by the house's own
		 * source (or by nothing, and switched into the mains' return
		 * unstaggered). Never a critical one: the mask holds none
		 * (shed_isl_relays()), and this says so where it switches.
		 */
		if (s->isl_mask & (1U << r) &&
		    !(s->cfg.relay[r].flags & PHLOEM_RELAY_F_CRITICAL))
			bit = 0;
		on |= (uint32_t)bit << r;
		if (rl->shed)
			shed |= 1U << r;
	}
	s->relays = on;
	s->shedmask = shed;
}

static void shed_update_timer(struct phloem_shed *s)
{
	uint64_t t = s->leased ? s->lease_until : SHED_NEVER;
	uint32_t r;

	for (r = 0; r < s->nrel; r++)
		if (s->rl[r].mode != PHLOEM_OVERRIDE_AUTO &&
		    s->rl[r].ovr_until < t)
			t = s->rl[r].ovr_until;
	s->next_timer = t;
}

/* min_off_ms << backoff, in ns: a relay's minimum off time after a shed */
#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    requires r < PHLOEM_MAX_RELAYS;
    assigns \nothing;
 */
#endif
static uint64_t shed_off_ns(const struct phloem_shed *s, uint32_t r)
{
	uint32_t b = s->rl[r].backoff;

	if (b > s->cfg.backoff_max)
		b = s->cfg.backoff_max;
	if (b > 10)	/* backoff_max <= 10 (phloem_shed_check_config()) */
		b = 10;
	return shed_ms((uint64_t)s->cfg.relay[r].min_off_ms << b);
}

/* RMS of closed cycle @n of circuit @c (valid for the last SHED_EST_HIST) */
#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    requires c < PHLOEM_MAX_CIRCUITS;
    assigns \nothing;
 */
#endif
static uint32_t shed_rh(const struct phloem_shed *s, uint32_t c, uint64_t n)
{
	return s->ci[c].rh[n % SHED_EST_HIST];	/* (a mask, for the compiler) */
}

/* a and b within SHED_STEADY_MA plus 1/16 of the larger: no transient */
#ifdef SHED_WP
/*@ assigns \nothing; */
#endif
static int shed_steady(uint32_t a, uint32_t b)
{
	uint32_t d = a > b ? a - b : b - a;
	uint32_t m = a > b ? a : b;

	return d <= SHED_STEADY_MA + (m >> 4);
}

/*
 * Mean of the SHED_EST_RUN cycles of circuit @c ending with cycle @end
 * into *@mean when each is steady with the next; 0 when one is not.
 */
#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    requires c < PHLOEM_MAX_CIRCUITS;
    requires \valid(mean);
    requires end >= SHED_EST_RUN - 1;
    assigns *mean;
 */
#endif
static int shed_run(const struct phloem_shed *s, uint32_t c, uint64_t end,
		    uint32_t *mean)
{
	uint64_t sum = shed_rh(s, c, end);
	uint32_t k;

#ifdef SHED_WP
	/*@ loop invariant 1 <= k <= SHED_EST_RUN;
	    loop invariant sum <= k * (uint64_t)SHED_U32_MAX;
	    loop assigns k, sum;
	    loop variant SHED_EST_RUN - k;
	 */
#endif
	for (k = 1; k < SHED_EST_RUN; k++) {
		uint32_t b = shed_rh(s, c, end - k);

		if (!shed_steady(shed_rh(s, c, end - k + 1), b))
			return 0;
		sum += b;
	}
	*mean = (uint32_t)shed_div(sum, SHED_EST_RUN, 0);
	return 1;
}

/*
 * The circuit current the relay's load is measured against, taken from
 * cycles @lo..@hi of circuit @c (inclusive, at most SHED_EST_HIST): the
 * newest steady run (@newest, before a shed) or the oldest (after one);
 * without a steady run, the smallest cycle (a transient only ever adds
 * current, so the smallest is the one least inflated by it).
 */
#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    requires c < PHLOEM_MAX_CIRCUITS;
    requires lo <= hi && hi - lo < SHED_EST_HIST;
    assigns \nothing;
 */
#endif
static uint32_t shed_level(const struct phloem_shed *s, uint32_t c,
			   uint64_t lo, uint64_t hi, int newest)
{
	uint32_t mean = 0, min = SHED_U32_MAX;
	uint64_t n;

	if (hi - lo >= SHED_EST_RUN - 1) {
		uint64_t k;

#ifdef SHED_WP
		/*@ loop invariant 0 <= k <= hi - lo - (SHED_EST_RUN - 1) + 1;
		    loop assigns k, mean;
		    loop variant hi - lo - (SHED_EST_RUN - 1) + 1 - k;
		 */
#endif
		for (k = 0; k <= hi - lo - (SHED_EST_RUN - 1); k++) {
			uint64_t end = newest ? hi - k :
					       lo + (SHED_EST_RUN - 1) + k;

			if (shed_run(s, c, end, &mean))
				return mean;
		}
	}
#ifdef SHED_WP
	/*@ loop invariant 0 <= n <= hi - lo + 1;
	    loop assigns n, min;
	    loop variant hi - lo + 1 - n;
	 */
#endif
	for (n = 0; n <= hi - lo; n++)
		if (shed_rh(s, c, lo + n) < min)
			min = shed_rh(s, c, lo + n);
	return min;
}

/*
 * Steady current before a switching: from the newest SHED_EST_HIST closed
 * cycles (the cycle open now holds the switching and any transient that
 * made a rule shed: it is not among them), none before cycle @from.
 * SHED_U32_MAX when fewer than SHED_EST_RUN cycles are left: not known.
 */
#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    requires c < PHLOEM_MAX_CIRCUITS;
    assigns \nothing;
 */
#endif
static uint32_t shed_est_pre(const struct phloem_shed *s, uint32_t c,
			     uint64_t from)
{
	uint64_t hi = s->cycles, lo;

	if (!hi)
		return s->ci[c].irms;
	lo = hi >= SHED_EST_HIST ? hi - SHED_EST_HIST + 1 : 1;
	if (from > lo)
		lo = from;
	if (lo > hi || hi - lo < SHED_EST_RUN - 1)
		return SHED_U32_MAX;
	return shed_level(s, c, lo, hi, 1);
}

/* The time (ns) of hold level @r's next attempt: restore_delay << level */
#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    requires r < PHLOEM_MAX_RELAYS;
    assigns \nothing;
    ensures \result <= s->ci[circ((struct phloem_shed *)s, r)].hold_ns;
 */
#endif
static uint64_t shed_retry_ns(const struct phloem_shed *s, uint32_t r)
{
	uint64_t hold = s->ci[s->cfg.relay[r].circuit].hold_ns;
	uint32_t lvl = s->rl[r].hold_lvl;
	uint64_t t;

	if (lvl > SHED_HOLD_LVL_MAX)
		lvl = SHED_HOLD_LVL_MAX;
	/* delay <= 3600 s < 2^42 ns: << 16 stays below 2^58 */
	t = s->delay_ns << lvl;
	return t < hold ? t : hold;
}

/* The state of relay @best as a rule sheds it (shed_one()). */
#ifdef SHED_WP
/*@ requires shed_ok(s);
    requires best < PHLOEM_MAX_RELAYS;
    assigns s->rl[best];
    ensures shed_ok(s);
    ensures s->rl[best].shed == 1;
    ensures within_hold: s->rl[best].try_ns <=
              s->rl[best].off_until + s->ci[circ(s, best)].hold_ns;
 */
#endif
static void shed_mark(struct phloem_shed *s, uint32_t best)
{
	struct shed_relay *rl = &s->rl[best];
	uint32_t c = s->cfg.relay[best].circuit;

	if (rl->restored_ns != SHED_NEVER &&
	    s->now - rl->restored_ns < shed_ms(s->cfg.retrip_window_ms) &&
	    rl->backoff < s->cfg.backoff_max)
		rl->backoff++;
	rl->restored_ns = SHED_NEVER;
	rl->shed = 1;
	rl->shed_ns = s->now;
	rl->shed_count++;
	rl->head_since = SHED_NEVER;
	rl->room_since = SHED_NEVER;
	/*
	 * The load estimate is the drop from the steady cycles before the
	 * shed to the first steady ones after it (shed_close()); until then
	 * the relay is held. Whatever the estimate says, the relay gets a
	 * restore attempt one max hold after its off time at the latest.
	 */
	rl->pre_ma = shed_est_pre(s, c, (rl->on_cyc > s->ci[c].sw_cyc ?
					  rl->on_cyc : s->ci[c].sw_cyc) + 2);
	rl->est = 1;
	rl->shed_cyc = s->cycles;
	rl->off_until = s->now + shed_off_ns(s, best);
	rl->try_ns = rl->off_until + s->ci[c].hold_ns;
	rl->hold = PHLOEM_HOLD_MIN_OFF;
	rl->hold_sent = PHLOEM_HOLD_MIN_OFF;
}

/*
 * Shed one relay for a rule on @circuit (0: the site, any circuit's relay)
 * among the relays of @mask (a phase rule's: those on its phase; the
 * others' all), the event naming @channel.
 * Candidates: on, not shed, not critical; ON-overridden relays only when no
 * other is left; lowest priority first, then the highest index.
 */
#ifdef SHED_WP
/*@ requires shed_ok(s);
    requires circuit < PHLOEM_MAX_CIRCUITS;
    assigns s->rl[0 .. PHLOEM_MAX_RELAYS - 1],
            s->ci[0 .. PHLOEM_MAX_CIRCUITS - 1].holdoff_until,
            s->no_trap, s->sheds, s->relays, s->shedmask,
            s->evq[0 .. PHLOEM_SHED_EVQ - 1], s->evhead, s->evcount,
            s->evpushed, s->evlost;
    ensures shed_ok(s);
    ensures never_critical: \forall integer r; 0 <= r < s->nrel &&
              critical(s, r) ==> s->rl[r].shed == \old(s->rl[r].shed);
    ensures only_its_circuit: \forall integer r; 0 <= r < s->nrel &&
              circuit != 0 && circ(s, r) != circuit ==>
              s->rl[r].shed == \old(s->rl[r].shed);
    ensures only_its_mask: \forall integer r; 0 <= r < s->nrel &&
              (mask & (1U << r)) == 0 ==>
              s->rl[r].shed == \old(s->rl[r].shed);
 */
#endif
static int shed_one(struct phloem_shed *s, uint32_t circuit, uint32_t mask,
		    uint32_t channel, uint32_t cause, uint64_t value,
		    uint64_t limit, uint64_t trig)
{
	uint32_t r, best = SHED_NONE, best_key = 0;

#ifdef SHED_WP
	/*@ loop invariant 0 <= r <= s->nrel;
	    loop invariant best == SHED_NONE ||
	      (0 <= best < r && !critical(s, best) &&
	       (circuit == 0 || circ(s, best) == circuit) &&
	       (mask & (1U << best)) != 0);
	    loop assigns r, best, best_key;
	 */
#endif
	for (r = 0; r < s->nrel; r++) {
		const struct phloem_relay_cfg *rc = &s->cfg.relay[r];
		uint32_t key;

		if (!(s->relays & (1U << r)) || !(mask & (1U << r)) ||
		    rc->flags & PHLOEM_RELAY_F_CRITICAL ||
		    (circuit && rc->circuit != circuit))
			continue;
		/* smaller key first: override ON last, then priority, index */
		key = (s->rl[r].mode == PHLOEM_OVERRIDE_ON) << 16 |
		      (uint32_t)rc->priority << 8 | (0xff - r);
		if (best == SHED_NONE || key < best_key) {
			best = r;
			best_key = key;
		}
	}
	if (best == SHED_NONE)
		return 0;
#ifdef SHED_WP
	/*@ assert chosen: best < s->nrel && !critical(s, best) &&
	      (mask & (1U << best)) != 0; */
#endif
	/*
	 * The half-cycle windows of the relay's circuit and of the site
	 * still hold samples from before this shed for one half cycle: let
	 * their instantaneous rules wait for that, or a second rule would
	 * shed another relay for load that is already gone.
	 */
	s->ci[s->cfg.relay[best].circuit].holdoff_until = s->now + s->win_ns;
	s->ci[0].holdoff_until = s->now + s->win_ns;
	shed_mark(s, best);
	s->no_trap = 1;
	s->sheds++;
	shed_update_relays(s);
	shed_event(s, PHLOEM_EV_SHED, cause, best, circuit, channel, value,
		   limit, trig);
	return 1;
}

static void shed_failsafe(struct phloem_shed *s, uint32_t channel,
			  uint32_t cause)
{
	uint32_t r, c;

	if (channel >= s->nch)
		channel = SHED_NONE;
	else
		s->ch[channel].flags |= PHLOEM_CHAN_F_FAULT;
	if (cause != PHLOEM_CAUSE_STALE)
		cause = PHLOEM_CAUSE_ADC;
	if (cause == PHLOEM_CAUSE_ADC)
		shed_event(s, PHLOEM_EV_ADC_FAULT, cause, SHED_NONE, SHED_NONE,
			   channel, 0, 0, s->now);
	/* the good-cycle count starts again after every fault */
	s->tainted = 1;
	if (s->state & PHLOEM_STATE_F_FAILSAFE)
		return;
	s->state |= PHLOEM_STATE_F_FAILSAFE;
	s->failsafes++;
	/*
	 * The rules start from scratch after failsafe. A shed relay stays
	 * shed (its estimate, hold and backoff kept): it comes back only
	 * through the restore gate, measured again (shed_bring_back()), not
	 * in the staggered return, which on 455807c switched it back into
	 * the overload it was shed for (issue 17). A relay whose safe state
	 * is on is switched on now and stays on: its shed is over.
	 */
	for (r = 0; r < s->nrel; r++) {
		struct shed_relay *rl = &s->rl[r];

		rl->fs_hold = 0;
		rl->head_since = SHED_NEVER;
		rl->room_since = SHED_NEVER;
		/* an islanded relay stays shed: the island outlasts failsafe */
		if (s->info.relay[r].safe_state && rl->shed &&
		    !(s->isl_mask & (1U << r))) {
			rl->shed = 0;
			rl->est = 0;
			rl->hold = PHLOEM_HOLD_NONE;
			rl->hold_sent = PHLOEM_HOLD_NONE;
		}
	}
	for (c = 0; c < s->ncirc; c++) {
		s->ci[c].inst_ep = 0;
		s->ci[c].therm_ep = 0;
	}
	for (c = 0; c < SHED_NPH; c++)
		s->ph_ep[c] = 0;
	s->site_ep = 0;
	s->imb_ep = 0;
	s->imb_hi = SHED_NONE;
	s->ph_block = 0;
	s->uv_ep = 0;
	s->uv_ph = 0;
	s->uv_block = 0;
	shed_update_relays(s);
	shed_event(s, PHLOEM_EV_FAILSAFE_ENTER, cause, SHED_NONE, SHED_NONE,
		   channel, 0, 0, s->now);
}

/*
 * No window judged for stale_ms: the unit cannot protect. Out of failsafe
 * it enters it; in failsafe the open cycle cannot end it. Leaving takes a
 * whole cycle in which the windows were judged all along, the same test
 * as entering: a sampler that leaves the windows too thin stays in
 * failsafe, relays safe, instead of leaving at every cycle to be stale
 * again at the next set (and never bringing back more than the first
 * relay of the staggered return).
 */
static void shed_stale(struct phloem_shed *s)
{
	if (s->state & PHLOEM_STATE_F_FAILSAFE)
		s->tainted = 1;
	else
		shed_failsafe(s, SHED_NONE, PHLOEM_CAUSE_STALE);
}

static void shed_failsafe_leave(struct phloem_shed *s)
{
	uint32_t r;

	s->state &= ~PHLOEM_STATE_F_FAILSAFE;
	/*
	 * Relays whose safe state is on simply stay on. The ones the failsafe
	 * switched off come back one at a time, restore_delay_ms apart, so
	 * their inrush does not add up and the rules see each one.
	 */
	for (r = 0; r < s->nrel; r++)
		s->rl[r].fs_hold = !s->info.relay[r].safe_state &&
				   s->rl[r].mode != PHLOEM_OVERRIDE_OFF &&
				   !s->rl[r].shed;
	s->last_restore = SHED_NEVER;
	shed_update_relays(s);
	shed_event(s, PHLOEM_EV_FAILSAFE_LEAVE, PHLOEM_CAUSE_NONE, SHED_NONE,
		   SHED_NONE, SHED_NONE, 0, 0, s->now);
}

/* ------------------------------------------------------------------ */
/* Timers: lease and overrides                                         */
/* ------------------------------------------------------------------ */

static void shed_lease_drop(struct phloem_shed *s, int expired)
{
	uint32_t c;

	s->leased = 0;
	for (c = 0; c < s->ncirc; c++)
		s->cfg.circuit[c].limit_ma = s->boot.circuit[c].limit_ma;
	s->cfg.site_import_limit_mw = s->boot.site_import_limit_mw;
	shed_derive_limits(s);
	if (expired)
		s->lease_expiries++;
	shed_event(s, PHLOEM_EV_LEASE_EXPIRED, PHLOEM_CAUSE_LEASE, SHED_NONE,
		   SHED_NONE, SHED_NONE, 0, 0, s->now);
	shed_update_timer(s);
}

static void shed_timers(struct phloem_shed *s)
{
	uint32_t r;

	if (s->leased && s->now >= s->lease_until)
		shed_lease_drop(s, 1);
	for (r = 0; r < s->nrel; r++) {
		struct shed_relay *rl = &s->rl[r];

		if (rl->mode == PHLOEM_OVERRIDE_AUTO || s->now < rl->ovr_until)
			continue;
		rl->mode = PHLOEM_OVERRIDE_AUTO;
		shed_event(s, PHLOEM_EV_OVERRIDE, PHLOEM_CAUSE_MANUAL, r,
			   s->cfg.relay[r].circuit, SHED_NONE,
			   PHLOEM_OVERRIDE_AUTO, 0, s->now);
	}
	shed_update_relays(s);
	shed_update_timer(s);
}

/* ------------------------------------------------------------------ */
/* Cycle close: measurements, energy and the per-cycle rules            */
/* ------------------------------------------------------------------ */

static void shed_energy(struct shed_chan *ch, int32_t p_mw, uint64_t dt)
{
	uint64_t rem;

	if (p_mw > 0) {
		ch->imp_rem += (uint64_t)p_mw * dt;
		if (ch->imp_rem >= SHED_MWH) {
			ch->imp_mwh += shed_div(ch->imp_rem, SHED_MWH, &rem);
			ch->imp_rem = rem;
		}
	} else if (p_mw < 0) {
		ch->exp_rem += (uint64_t)(-(int64_t)p_mw) * dt;
		if (ch->exp_rem >= SHED_MWH) {
			ch->exp_mwh += shed_div(ch->exp_rem, SHED_MWH, &rem);
			ch->exp_rem = rem;
		}
	}
}

/* time-weighted mean of a cycle sum in (1/16 unit)^2: sum / w << 8, exact */
static uint64_t shed_wmean(uint64_t sum, uint64_t w)
{
	uint64_t rem, q;

	if (!w)
		return 0;
	q = shed_div(sum, w, &rem);
	return (q << 8) + shed_div(rem << 8, w, 0);
}

static void shed_measure(struct phloem_shed *s, uint64_t dt)
{
	uint32_t n = s->nsamp, i;
	uint64_t w = s->cyc_w;
	/* energy never integrates over a sampling gap: cap at two periods */
	uint64_t edt = dt > 2 * s->period_ns ? 2 * s->period_ns : dt;

	for (i = 0; i < s->nch; i++) {
		struct shed_chan *ch = &s->ch[i];
		struct phloem_chan_cycle *cc = &s->cyc.chan[i];
		uint64_t rq;

		ch->mean_sq = n ? shed_wmean(ch->sum_sq, w) : 0;
		rq = shed_isqrt(ch->mean_sq);
		ch->rms = (uint32_t)((rq + (1 << (SHED_Q - 1))) >> SHED_Q);
		cc->rms = ch->rms;
		cc->flags = (uint16_t)ch->flags;
		cc->p_mw = 0;
		cc->s_mva = 0;
		cc->pf_milli = 0;
		if (s->info.chan[i].kind == PHLOEM_CHAN_CURRENT && n && w) {
			const struct shed_chan *v = &s->ch[s->info.chan[i].phase];
			/* sum_p is in uW times weight: mW = / (w * 1000) */
			int64_t p = shed_sdiv_round(ch->sum_p, w * 1000);
			uint64_t va = (uint64_t)shed_isqrt(v->mean_sq) * rq;
			uint64_t sva = shed_div(va + 128000, 256000, 0);

			if (p > 0x7fffffff)
				p = 0x7fffffff;
			if (p < -0x7fffffff)
				p = -0x7fffffff;
			ch->p_mw = (int32_t)p;
			cc->p_mw = ch->p_mw;
			cc->s_mva = shed_sat32(sva);
			if (sva) {
				uint64_t ap = p < 0 ? -p : p;
				/* ap < 2^31: no overflow; |P| >= S reads 1 */
				uint64_t pf = shed_div(ap * 1000 + sva / 2, sva, 0);

				if (pf > 1000)
					pf = 1000;

				cc->pf_milli = (int16_t)(p < 0 ? -(int64_t)pf : (int64_t)pf);
			}
			shed_energy(ch, ch->p_mw, edt);
		} else {
			ch->p_mw = 0;
		}
		ch->sum_sq = 0;
		ch->sum_p = 0;
		ch->flags = 0;
	}
	for (i = 0; i < s->ncirc; i++)
		s->ci[i].irms = s->ch[s->ci[i].ch].rms;
	/* hysteresis of the crossing detector follows the voltage */
	if (s->v0 != SHED_NONE) {
		int32_t h = (int32_t)(shed_isqrt(s->ch[s->v0].mean_sq) >> 3);

		s->hyst = h > SHED_HYST_MIN ? h : SHED_HYST_MIN;
	}
}

/* the relays whose circuit is on phase @p */
static uint32_t shed_ph_relays(const struct phloem_shed *s, uint32_t p)
{
	uint32_t r, m = 0;

	for (r = 0; r < s->nrel; r++)
		if (s->ci[s->cfg.relay[r].circuit % PHLOEM_MAX_CIRCUITS].ph == p)
			m |= 1U << r;
	return m;
}

/*
 * The channel a circuit's conductor heats by: its own, except circuit 0 of
 * a three-phase site, whose phases heat each alone: its most loaded
 * measured phase (*@p its index, else SHED_NPH).
 */
static uint32_t shed_hot_ch(const struct phloem_shed *s, uint32_t c,
			    uint32_t *p)
{
	uint32_t ch = s->ci[c].ch % PHLOEM_MAX_CHANNELS, q;

	*p = SHED_NPH;
	if (c || s->nmph < 2)
		return ch;
	for (q = 0; q < SHED_NPH; q++) {
		uint32_t k = s->pch[q];

		if (k < s->nch && (*p == SHED_NPH ||
				   s->ch[k].mean_sq > s->ch[ch].mean_sq)) {
			ch = k;
			*p = q;
		}
	}
	return ch;
}

static void shed_thermal(struct phloem_shed *s, uint64_t dt)
{
	uint64_t du = dt >> 10;	/* 1024 ns units, as SHED_BUDGET */
	uint32_t c;

	for (c = 0; c < s->ncirc; c++) {
		struct shed_circ *ci = &s->ci[c];
		const struct phloem_circuit_info *inf = &s->info.circuit[c];
		uint32_t hp, hch = shed_hot_ch(s, c, &hp);
		uint64_t msq = s->ch[hch].mean_sq;	/* (16 mA)^2 */
		uint64_t x2, mag;
		uint32_t ma, mask;
		int heating;

		/* x^2 = I^2 / In^2 in Q16: msq / 256 * 65536 / In^2 */
		x2 = shed_div(msq << (16 - 2 * SHED_Q), ci->in2, 0);
		if (x2 > SHED_X2_MAX)
			x2 = SHED_X2_MAX;
		mag = inf->curve == PHLOEM_CURVE_B ? 9 :
		      inf->curve == PHLOEM_CURVE_C ? 25 : 100;
		heating = x2 > SHED_X2_ONE;
		if (heating) {
			uint64_t rate = x2 - SHED_X2_ONE;

			if (x2 >= mag * SHED_X2_ONE && rate < SHED_MAG_RATE)
				rate = SHED_MAG_RATE;
			ci->heat += rate * du;
			if (ci->heat > SHED_BUDGET)
				ci->heat = SHED_BUDGET;
		} else {
			uint64_t cool = (SHED_X2_ONE - x2) * du;

			ci->heat = ci->heat > cool ? ci->heat - cool : 0;
		}
		if (s->state & PHLOEM_STATE_F_FAILSAFE)
			continue;
		if (ci->heat < ci->heat_thr) {
			ci->therm_ep = 0;
			continue;
		}
		if (ci->therm_wait) {
			ci->therm_wait--;
			continue;
		}
		/* still above the budget share but cooling: already enough shed */
		if (!heating)
			continue;
		ma = shed_rms_ceil(msq);
		if (!ci->therm_ep) {
			ci->therm_ep = 1;
			shed_event(s, PHLOEM_EV_OVERLOAD, PHLOEM_CAUSE_THERMAL,
				   SHED_NONE, c, hch, ma,
				   s->cfg.circuit[c].limit_ma, s->now);
		}
		/* the hot phase's relays first: shedding elsewhere cools none */
		mask = hp < SHED_NPH ? shed_ph_relays(s, hp) : SHED_U32_MAX;
		if (shed_one(s, c, mask, hch, PHLOEM_CAUSE_THERMAL, ma,
			     s->cfg.circuit[c].limit_ma, s->now) ||
		    (mask != SHED_U32_MAX &&
		     shed_one(s, c, SHED_U32_MAX, hch, PHLOEM_CAUSE_THERMAL, ma,
			      s->cfg.circuit[c].limit_ma, s->now)))
			ci->therm_wait = 1;
	}
}

/*
 * A grid-operator line's cap has no grace: the next step comes as soon as
 * a whole cycle has been measured after the previous one (1.25 nominal
 * periods: a cycle of mains down to 40 Hz), so a cycle that still holds
 * the load just shed does not shed a second relay for it.
 */
static uint64_t shed_site_grace(const struct phloem_shed *s)
{
	if (s->sig_cap && s->imp_lim == s->sig_cap)
		return s->period_ns + s->period_ns / 4;
	return shed_ms(s->cfg.site_import_grace_ms);
}

static void shed_site(struct phloem_shed *s)
{
	uint32_t lim = s->imp_lim;
	uint32_t cause = s->sig_cap && lim == s->sig_cap ?
			 PHLOEM_CAUSE_GRID_SIGNAL : PHLOEM_CAUSE_SITE_IMPORT;
	int32_t p = s->site_mw;

	if (!lim || s->state & PHLOEM_STATE_F_FAILSAFE || p <= (int64_t)lim) {
		s->site_ep = 0;
		return;
	}
	if (!s->site_ep) {
		s->site_ep = 1;
		s->site_since = s->now;
		s->site_next = cause == PHLOEM_CAUSE_GRID_SIGNAL ? s->now :
			       s->now + shed_site_grace(s);
		shed_event(s, PHLOEM_EV_OVERLOAD, cause,
			   SHED_NONE, 0, s->ci[0].ch, p, lim, s->now);
	}
	if (s->now < s->site_next)
		return;
	shed_one(s, 0, SHED_U32_MAX, s->ci[0].ch, cause, p, lim,
		 s->site_since);
	s->site_since = s->now;
	s->site_next = s->now + shed_site_grace(s);
}

#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    assigns \nothing;
    ensures \result != 0 <==> site_below((struct phloem_shed *)s);
 */
#endif
static int shed_site_below(const struct phloem_shed *s)
{
	return !s->imp_lim || s->site_mw <= (int64_t)s->site_restore_mw;
}

/*
 * The phase of @r's circuit at or under its restore thresholds with @load
 * added: its limit's, and the imbalance's against the lightest other phase
 * (a restore never makes its phase the one that sheds again; a phase
 * already far above the others stays held, one below them may take it).
 * The load's apparent power is taken at the phase's voltage and unity
 * power factor. A phase without a site CT has no phase rule: never held.
 */
#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    requires r < PHLOEM_MAX_RELAYS;
    requires load <= SHED_U32_MAX;
    assigns \nothing;
    ensures phase_restore: \result != 0 ==>
      phase_below((struct phloem_shed *)s, r, load);
    ensures load == 0 ==> (\result != 0 <==>
      phase_below((struct phloem_shed *)s, r, 0));
 */
#endif
static int shed_phase_below(const struct phloem_shed *s, uint32_t r,
			    uint64_t load)
{
	uint32_t p = s->ci[s->cfg.relay[r].circuit].ph;
	uint64_t lim;

	if (p >= SHED_NPH)
		return 1;
	if (s->cfg.phase_limit_ma[p] && s->ph_ma[p] + load > s->ph_rma[p])
		return 0;
	if (s->cfg.imbalance_ma &&
	    s->ph_ma[p] + load > (uint64_t)s->ph_lo[p] + s->imb_rma)
		return 0;
	if (!s->cfg.imbalance_mva)
		return 1;
	lim = (uint64_t)s->ph_lo_mva[p] + s->imb_rmva;
	if (s->ph_mva[p] > lim)
		return 0;
	/* rms <= 2^22 mV (the clamp): the product cannot overflow */
	return !load ||
	       shed_div(load * s->ch[s->vch[p] % PHLOEM_MAX_CHANNELS].rms,
			1000, 0) <= lim - s->ph_mva[p];
}

#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    requires r < PHLOEM_MAX_RELAYS;
    requires load <= SHED_U32_MAX;
    assigns \nothing;
    ensures below_restore: \result != 0 ==>
      headroom_for((struct phloem_shed *)s, r, load) &&
      site_below((struct phloem_shed *)s);
    ensures load == 0 ==> (\result != 0 <==>
      headroom_for((struct phloem_shed *)s, r, 0) &&
      site_below((struct phloem_shed *)s));
 */
#endif
static int shed_headroom(const struct phloem_shed *s, uint32_t r,
			 uint64_t load)
{
	uint32_t c = s->cfg.relay[r].circuit;

	if (s->ci[c].irms + load > s->ci[c].restore_ma)
		return 0;
	if (c && s->ci[0].irms + load > s->ci[0].restore_ma)
		return 0;
	if (!shed_phase_below(s, r, load))
		return 0;
	if (!shed_site_below(s))
		return 0;
	if (load && s->imp_lim && s->v0 != SHED_NONE) {
		/* the load's power at the present voltage and a unity PF */
		int64_t p = s->site_mw;
		uint64_t add = shed_div(load * s->ch[s->v0].rms, 1000, 0);
		/* p <= the threshold (above), |p| < 2^31: room >= 0 */
		int64_t room = (int64_t)s->site_restore_mw - p;

		if (add > (uint64_t)room)
			return 0;
	}
	return 1;
}

/* no rule is shedding on @r's circuit or on the site (and no failsafe) */
#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    requires r < PHLOEM_MAX_RELAYS;
    assigns \nothing;
    ensures \result != 0 <==> calm((struct phloem_shed *)s, r);
 */
#endif
static int shed_calm(const struct phloem_shed *s, uint32_t r)
{
	const struct shed_circ *ci = &s->ci[s->cfg.relay[r].circuit];

	return !ci->inst_ep && !ci->therm_ep && !s->ci[0].inst_ep &&
	       !s->ci[0].therm_ep && !s->site_ep &&
	       !(s->state & PHLOEM_STATE_F_FAILSAFE) &&
	       !(s->fq_block & (1U << r)) &&
	       !(s->sig_mask & (1U << r)) &&
	       !(s->ph_block & (1U << r)) &&
	       !(s->isl_mask & (1U << r)) &&
	       !(s->uv_block & (1U << r));
}

/* The one gate of every restore on headroom: room without the load. */
#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    requires r < PHLOEM_MAX_RELAYS;
    assigns \nothing;
    ensures \result != 0 <==> room((struct phloem_shed *)s, r);
 */
#endif
static int shed_room(const struct phloem_shed *s, uint32_t r)
{
	return shed_calm(s, r) && shed_headroom(s, r, 0);
}

/*
 * A load estimate that could never be restored, even with nothing else on
 * its circuit (or on the site's main): an EV charger of 29 A on a 32 A
 * circuit restoring at 80 %.
 */
#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    requires r < PHLOEM_MAX_RELAYS;
    assigns \nothing;
 */
#endif
static int shed_never_fits(const struct phloem_shed *s, uint32_t r)
{
	uint32_t c = s->cfg.relay[r].circuit;
	uint64_t load = s->rl[r].load_ma;

	return load > s->ci[c].restore_ma ||
	       (c && load > s->ci[0].restore_ma);
}

/*
 * Why shed relay @r is held now that it is past its off time and its
 * estimate, with room for nothing more: its circuit or the site.
 */
#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    requires r < PHLOEM_MAX_RELAYS;
    requires load <= SHED_U32_MAX;
    assigns \nothing;
    ensures \result == PHLOEM_HOLD_CIRCUIT || \result == PHLOEM_HOLD_SITE ||
            \result == PHLOEM_HOLD_PHASE;
 */
#endif
static uint32_t shed_full(const struct phloem_shed *s, uint32_t r,
			  uint64_t load)
{
	uint32_t c = s->cfg.relay[r].circuit;

	if (s->ci[c].irms + load > s->ci[c].restore_ma)
		return PHLOEM_HOLD_CIRCUIT;
	return shed_phase_below(s, r, load) ? PHLOEM_HOLD_SITE :
	       PHLOEM_HOLD_PHASE;
}

/*
 * Record why @r is held and say so when that changed: one PHLOEM_EV_HOLD
 * per relay and second at most (a circuit that hovers at its threshold
 * must not flood the queue); a change held back goes out after that.
 */
#ifdef SHED_WP
/*@ requires shed_ok(s);
    requires r < s->nrel;
    assigns s->rl[r].hold, s->rl[r].hold_sent, s->rl[r].hold_ev_ns,
            s->evq[0 .. PHLOEM_SHED_EVQ - 1], s->evhead, s->evcount,
            s->evpushed, s->evlost;
    ensures shed_ok(s);
 */
#endif
static void shed_hold_note(struct phloem_shed *s, uint32_t r, uint32_t why)
{
	struct shed_relay *rl = &s->rl[r];
	uint32_t c = s->cfg.relay[r].circuit;
	uint64_t left;

	rl->hold = (uint8_t)why;
	if (why == rl->hold_sent || s->now - rl->hold_ev_ns < 1000 * NS_PER_MS)
		return;
	rl->hold_sent = (uint8_t)why;
	rl->hold_ev_ns = s->now;
	left = why == PHLOEM_HOLD_MIN_OFF ? rl->off_until : rl->try_ns;
	left = left > s->now ? shed_div(left - s->now, NS_PER_MS, 0) : 0;
	shed_event(s, PHLOEM_EV_HOLD, PHLOEM_CAUSE_NONE, r, c, s->ci[c].ch,
		   why, left, s->now);
}

/*
 * Relay @r is switched on now: learn its load from the steady cycles
 * around this switching (shed_learn_post()), so that a later shed whose
 * own switching shows no drop (shed within a load step) still knows it.
 * What was learned at an earlier switching is forgotten: a load is known
 * only from its newest switching on, or not at all (a value learned
 * wrong, from cycles a stalled sampler left, would otherwise stand for
 * every later shed within a step).
 */
#ifdef SHED_WP
/*@ requires shed_ok(s);
    requires r < PHLOEM_MAX_RELAYS;
    assigns s->rl[r].on_pre, s->rl[r].on_cyc, s->rl[r].on_est,
            s->rl[r].on_ma;
    ensures shed_ok(s);
 */
#endif
static void shed_learn_on(struct phloem_shed *s, uint32_t r)
{
	struct shed_relay *rl = &s->rl[r];

	rl->on_ma = 0;

	rl->on_pre = shed_est_pre(s, s->cfg.relay[r].circuit,
				  s->ci[s->cfg.relay[r].circuit].sw_cyc + 2);
	rl->on_cyc = s->cycles;
	rl->on_est = 1;
}

/* The state of shed relay @r as it comes back (shed_bring_back()). */
#ifdef SHED_WP
/*@ requires shed_ok(s);
    requires r < PHLOEM_MAX_RELAYS;
    assigns s->rl[r];
    ensures shed_ok(s);
    ensures s->rl[r].shed == 0;
 */
#endif
static void shed_unmark(struct phloem_shed *s, uint32_t r, int attempt)
{
	struct shed_relay *rl = &s->rl[r];

	rl->shed = 0;
	rl->est = 0;
	rl->head_since = SHED_NEVER;
	rl->restored_ns = s->now;
	rl->hold = PHLOEM_HOLD_NONE;
	rl->hold_sent = PHLOEM_HOLD_NONE;
	if (attempt && rl->hold_lvl < SHED_HOLD_LVL_MAX)
		rl->hold_lvl++;
	shed_learn_on(s, r);
}

/*
 * Switch shed relay @r back on, measured again as the last word: only
 * with room (never into an overload). Return: 1 when it did.
 */
#ifdef SHED_WP
/*@ requires shed_ok(s);
    requires r < s->nrel;
    assigns s->rl[r], s->last_restore, s->restores, s->relays, s->shedmask,
            s->evq[0 .. PHLOEM_SHED_EVQ - 1], s->evhead, s->evcount,
            s->evpushed, s->evlost;
    ensures shed_ok(s);
    ensures \result != 0 <==> room(s, r);
    ensures room_at_call: \result != 0 <==> \old(room(s, r));
    ensures \result != 0 ==> s->rl[r].shed == 0;
    ensures \result == 0 ==> s->rl[r].shed == \old(s->rl[r].shed);
 */
#endif
static int shed_bring_back(struct phloem_shed *s, uint32_t r)
{
	struct shed_relay *rl = &s->rl[r];
	uint32_t c = s->cfg.relay[r].circuit;
	int attempt;

	if (!shed_room(s, r))
		return 0;
	/* past its hold without room for its estimate: an attempt */
	attempt = !shed_headroom(s, r, rl->load_ma);
	s->last_restore = s->now;
	s->restores++;
	shed_unmark(s, r, attempt);
	shed_update_relays(s);
	shed_event(s, PHLOEM_EV_RESTORE, attempt ? PHLOEM_CAUSE_HOLD :
		   PHLOEM_CAUSE_HEADROOM, r, c, s->ci[c].ch,
		   (uint64_t)s->ci[c].irms + rl->load_ma, s->ci[c].restore_ma,
		   s->now);
	return 1;
}

/* The staggered return after failsafe next: critical first, then priority */
#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    assigns \nothing;
    ensures \result == SHED_NONE || (\result < s->nrel &&
      s->rl[\result].fs_hold != 0 &&
      s->rl[\result].mode != PHLOEM_OVERRIDE_OFF);
 */
#endif
static uint32_t shed_fs_pick(const struct phloem_shed *s)
{
	uint32_t r, fbest = SHED_NONE, fbest_key = 0;

#ifdef SHED_WP
	/*@ loop invariant 0 <= r <= s->nrel;
	    loop invariant fbest == SHED_NONE || (fbest < r &&
	      s->rl[fbest].fs_hold != 0 &&
	      s->rl[fbest].mode != PHLOEM_OVERRIDE_OFF);
	    loop assigns r, fbest, fbest_key;
	    loop variant s->nrel - r;
	 */
#endif
	for (r = 0; r < s->nrel; r++) {
		uint32_t key;

		/* held off by an override: it returns when that ends */
		if (!s->rl[r].fs_hold || s->rl[r].mode == PHLOEM_OVERRIDE_OFF ||
		    s->sig_mask & (1U << r) ||	/* an active line sheds it */
		    s->isl_mask & (1U << r))	/* islanded */
			continue;
		key = !!(s->cfg.relay[r].flags & PHLOEM_RELAY_F_CRITICAL) << 16 |
		      (uint32_t)s->cfg.relay[r].priority << 8 | (0xff - r);
		if (fbest == SHED_NONE || key > fbest_key) {
			fbest = r;
			fbest_key = key;
		}
	}
	return fbest;
}

/* The staggered return of relay @r after failsafe (no shed state changes) */
#ifdef SHED_WP
/*@ requires shed_ok(s);
    requires r < s->nrel;
    assigns s->rl[r].fs_hold, s->rl[r].on_pre, s->rl[r].on_cyc,
            s->rl[r].on_est, s->rl[r].on_ma, s->last_restore, s->relays,
            s->shedmask,
            s->evq[0 .. PHLOEM_SHED_EVQ - 1], s->evhead, s->evcount,
            s->evpushed, s->evlost;
    ensures shed_ok(s);
    ensures \forall integer k; 0 <= k < PHLOEM_MAX_RELAYS ==>
      s->rl[k].shed == \old(s->rl[k].shed);
 */
#endif
static void shed_fs_return(struct phloem_shed *s, uint32_t r)
{
	s->last_restore = s->now;
	s->rl[r].fs_hold = 0;
	shed_learn_on(s, r);
	shed_update_relays(s);
	shed_event(s, PHLOEM_EV_RESTORE, PHLOEM_CAUSE_NONE, r,
		   s->cfg.relay[r].circuit, SHED_NONE, 0, 0, s->now);
}

/*
 * Why shed relay @r (not held by an OFF override) is held now, and into
 * *@fits whether its estimate fits (a restore on headroom). DELAY means it
 * may come back: with room, due its attempt or its estimate fitting.
 */
#ifdef SHED_WP
/*@ requires shed_ok((struct phloem_shed *)s);
    requires r < PHLOEM_MAX_RELAYS;
    requires \valid(fits) && \separated(fits, s);
    assigns *fits;
    ensures may_come_back: \result == PHLOEM_HOLD_DELAY ==>
      room((struct phloem_shed *)s, r);
    ensures *fits != 0 ==> \result == PHLOEM_HOLD_DELAY;
    ensures due_attempt: s->rl[r].est == 0 &&
      s->now >= s->rl[r].off_until && s->now >= s->rl[r].try_ns &&
      room((struct phloem_shed *)s, r) ==>
      \result == PHLOEM_HOLD_DELAY && *fits == 0;
 */
#endif
static uint32_t shed_why(const struct phloem_shed *s, uint32_t r, int *fits)
{
	const struct shed_relay *rl = &s->rl[r];

	*fits = 0;
	if (s->isl_mask & (1U << r))
		return PHLOEM_HOLD_OUTAGE;	/* islanded */
	if (s->sig_mask & (1U << r))
		return PHLOEM_HOLD_SIGNAL;	/* an active line sheds it */
	if (s->uv_block & (1U << r))
		return PHLOEM_HOLD_VOLTAGE;	/* its phase is under-voltage */
	if (s->now < rl->off_until)
		return PHLOEM_HOLD_MIN_OFF;
	if (rl->est)
		return PHLOEM_HOLD_ESTIMATE;
	if (!shed_room(s, r))
		return s->fq_block & (1U << r) ? PHLOEM_HOLD_FREQ :
		       s->ph_block & (1U << r) ? PHLOEM_HOLD_PHASE :
		       !shed_calm(s, r) ? PHLOEM_HOLD_SHEDDING :
		       shed_full(s, r, 0);
#ifdef SHED_WP
	/*@ assert room((struct phloem_shed *)s, r); */
#endif
	if (s->now >= rl->try_ns)
		return PHLOEM_HOLD_DELAY;	/* an attempt is due */
	if (!shed_headroom(s, r, rl->load_ma))
		return shed_never_fits(s, r) ? PHLOEM_HOLD_NO_FIT :
		       shed_full(s, r, rl->load_ma);
	*fits = 1;
	return PHLOEM_HOLD_DELAY;
}

/*
 * Relay @r in shed_restore()'s look at every relay: its headroom time and
 * hold reason brought up to date. Return: 1 when it may come back now,
 * its rank in *@key (due attempts first, then priority, lowest index).
 */
#ifdef SHED_WP
/*@ requires shed_ok(s);
    requires r < s->nrel;
    requires \valid(key) && \separated(key, s);
    assigns *key, s->rl[r].head_since, s->rl[r].room_since,
            s->rl[r].hold, s->rl[r].hold_sent,
            s->rl[r].hold_ev_ns, s->evq[0 .. PHLOEM_SHED_EVQ - 1],
            s->evhead, s->evcount, s->evpushed, s->evlost;
    ensures shed_ok(s);
    ensures candidate: \result != 0 ==> \old(s->rl[r].shed) != 0 &&
      room{Pre}(s, r);
    ensures due_ranked: due{Pre}(s, r) ==> \result != 0;
 */
#endif
static int shed_rank(struct phloem_shed *s, uint32_t r, uint32_t *key)
{
	struct shed_relay *rl = &s->rl[r];
	uint32_t why;
	int fits;

	/*
	 * A relay held off by an override stays shed until the override
	 * ends: bringing it "back" now would only report a restore that
	 * switches nothing.
	 */
	if (!rl->shed || rl->mode == PHLOEM_OVERRIDE_OFF) {
		rl->head_since = SHED_NEVER;
		rl->room_since = SHED_NEVER;
		return 0;
	}
	/*
	 * Room measured in one cycle is not enough for an attempt: a
	 * circuit at its threshold dips under it now and then (issue 17:
	 * the VM's garage at 3.6..4.3 A against 4 A let the EV back into
	 * its overload). Like a restore on headroom, it needs
	 * restore_delay_ms of continuous room.
	 */
	if (!shed_room(s, r))
		rl->room_since = SHED_NEVER;
	else if (rl->room_since == SHED_NEVER)
		rl->room_since = s->now;
	why = shed_why(s, r, &fits);
#ifdef SHED_WP
	/*@ assert why == PHLOEM_HOLD_DELAY ==> room(s, r); */
#endif
	if (!fits)
		rl->head_since = SHED_NEVER;
	else if (rl->head_since == SHED_NEVER)
		rl->head_since = s->now;
	shed_hold_note(s, r, why);
	if (why != PHLOEM_HOLD_DELAY ||
	    (fits && s->now - rl->head_since < s->delay_ns) ||
	    (!fits && s->now - rl->room_since < s->delay_ns))
		return 0;
	/* due attempts first: they have waited longest */
	*key = !fits << 16 | (uint32_t)s->cfg.relay[r].priority << 8 |
	       (0xff - r);
	return 1;
}

/*
 * Restores, one per call at most and restore_delay_ms apart: first the
 * staggered return after failsafe, then shed relays. A shed relay comes
 * back when its estimated load fits under the restore thresholds for
 * restore_delay_ms, or, when it does not fit, at its next attempt
 * (restore_delay_ms << attempts so far, one max hold at most after its
 * off time). Either only with measured room: its circuit and the site
 * at or under their restore thresholds and no rule shedding.
 */
#ifdef SHED_WP
/*@ requires shed_ok(s);
    assigns s->rl[0 .. PHLOEM_MAX_RELAYS - 1], s->last_restore,
            s->restores, s->relays, s->shedmask,
            s->evq[0 .. PHLOEM_SHED_EVQ - 1], s->evhead, s->evcount,
            s->evpushed, s->evlost;
    ensures shed_ok(s);
    ensures no_restore_into_overload: \forall integer r; 0 <= r < s->nrel &&
              \old(s->rl[r].shed) != 0 && s->rl[r].shed == 0 ==> room(s, r);
    ensures attempt_when_due:
              (\exists integer r; 0 <= r < s->nrel && due{Pre}(s, r)) &&
              !fs_pending{Pre}(s) && spaced{Pre}(s) ==>
              \exists integer r; 0 <= r < s->nrel &&
                \old(s->rl[r].shed) != 0 && s->rl[r].shed == 0;
 */
#endif
static void shed_restore(struct phloem_shed *s)
{
	uint32_t r, best = SHED_NONE, best_key = 0;
	uint32_t fbest = shed_fs_pick(s);

#ifdef SHED_WP
	/*@ loop invariant 0 <= r <= s->nrel;
	    loop invariant shed_ok(s);
	    loop invariant best == SHED_NONE ||
	      (best < r && s->rl[best].shed != 0 && room{Pre}(s, best));
	    loop invariant (\exists integer k; 0 <= k < r && due{Pre}(s, k)) ==>
	      best != SHED_NONE;
	    loop invariant \forall integer k; 0 <= k < PHLOEM_MAX_RELAYS ==>
	      s->rl[k].shed == \at(s->rl[k].shed, Pre);
	    loop assigns r, best, best_key,
	      s->rl[0 .. PHLOEM_MAX_RELAYS - 1].head_since,
	      s->rl[0 .. PHLOEM_MAX_RELAYS - 1].room_since,
	      s->rl[0 .. PHLOEM_MAX_RELAYS - 1].hold,
	      s->rl[0 .. PHLOEM_MAX_RELAYS - 1].hold_sent,
	      s->rl[0 .. PHLOEM_MAX_RELAYS - 1].hold_ev_ns,
	      s->evq[0 .. PHLOEM_SHED_EVQ - 1], s->evhead, s->evcount,
	      s->evpushed, s->evlost;
	    loop variant s->nrel - r;
	 */
#endif
	for (r = 0; r < s->nrel; r++) {
		uint32_t key = 0;

#ifdef SHED_WP
		/*@ assert due{Pre}(s, r) ==> due(s, r); */
		/*@ assert room(s, r) <==> room{Pre}(s, r); */
#endif
		if (shed_rank(s, r, &key) && (best == SHED_NONE || key > best_key)) {
			best = r;
			best_key = key;
		}
	}
#ifdef SHED_WP
	/*@ assert best != SHED_NONE ==> s->rl[best].shed != 0; */
	/*@ assert best != SHED_NONE ==> room(s, best); */
	/*@ assert !fs_pending{Pre}(s) ==> fbest == SHED_NONE; */
	/*@ assert spaced{Pre}(s) ==> spaced(s); */
#endif
	if (s->last_restore != SHED_NEVER &&
	    s->now - s->last_restore < s->delay_ns)
		return;
	if (fbest != SHED_NONE) {
		shed_fs_return(s, fbest);
		return;
	}
	if (best != SHED_NONE) {
		int back = shed_bring_back(s, best);

#ifdef SHED_WP
		/*@ assert back != 0 && s->rl[best].shed == 0; */
#endif
		(void)back;
	}
}

/* ------------------------------------------------------------------ */
/* Phase rules (docs/shedding.md, Phases)                              */
/* ------------------------------------------------------------------ */

/* each phase's current and apparent power in the cycle just closed */
static void shed_ph_measure(struct phloem_shed *s)
{
	uint32_t p, ch;

	s->ph_min = SHED_U32_MAX;
	s->ph_min_mva = SHED_U32_MAX;
	s->ph_max_ma = 0;
	s->ph_max_mva = 0;
	for (p = 0; p < SHED_NPH; p++) {
		ch = s->pch[p];
		s->ph_ma[p] = 0;
		s->ph_mva[p] = 0;
		if (ch >= s->nch)
			continue;
		s->ph_ma[p] = s->ch[ch].rms;
		s->ph_mva[p] = s->cyc.chan[ch].s_mva;
		if (s->ph_ma[p] < s->ph_min)
			s->ph_min = s->ph_ma[p];
		if (s->ph_mva[p] < s->ph_min_mva)
			s->ph_min_mva = s->ph_mva[p];
		if (s->ph_ma[p] > s->ph_max_ma)
			s->ph_max_ma = s->ph_ma[p];
		if (s->ph_mva[p] > s->ph_max_mva)
			s->ph_max_mva = s->ph_mva[p];
	}
	if (!s->nmph) {
		s->ph_min = 0;
		s->ph_min_mva = 0;
	}
	/*
	 * The site's net power: on a three-phase site the sum of every
	 * measured phase's CT, not L1's alone (each < 2^31 in size: the sum
	 * fits, and is clamped as a channel's is).
	 */
	if (s->nmph >= 2) {
		int64_t sum = 0;

		for (p = 0; p < SHED_NPH; p++)
			if (s->pch[p] < s->nch)
				sum += s->ch[s->pch[p]].p_mw;
		if (sum > 0x7fffffff)
			sum = 0x7fffffff;
		if (sum < -0x7fffffff)
			sum = -0x7fffffff;
		s->site_mw = (int32_t)sum;
	} else {
		s->site_mw = s->ch[s->ci[0].ch].p_mw;
	}
	for (p = 0; p < SHED_NPH; p++) {
		uint32_t q;

		s->ph_lo[p] = SHED_U32_MAX;
		s->ph_lo_mva[p] = SHED_U32_MAX;
		if (s->pch[p] >= s->nch)
			continue;
		for (q = 0; q < SHED_NPH; q++) {
			if (q == p || s->pch[q] >= s->nch)
				continue;
			if (s->ph_ma[q] < s->ph_lo[p])
				s->ph_lo[p] = s->ph_ma[q];
			if (s->ph_mva[q] < s->ph_lo_mva[p])
				s->ph_lo_mva[p] = s->ph_mva[q];
		}
	}
}

/*
 * The next shed step of a phase rule: phase_grace_ms after the last, and
 * never before a whole cycle has been measured after it (1.25 nominal
 * periods), so that a cycle that still holds the load just shed does not
 * shed a second relay for it.
 */
static uint64_t shed_ph_step(const struct phloem_shed *s)
{
	uint64_t g = shed_ms(s->cfg.phase_grace_ms);
	uint64_t m = s->period_ns + s->period_ns / 4;

	return g > m ? g : m;
}

/* each phase above its limit: its relays, by priority, a step at a time */
static void shed_ph_limit(struct phloem_shed *s, int fs)
{
	uint32_t p, lim;

	for (p = 0; p < SHED_NPH; p++) {
		lim = s->cfg.phase_limit_ma[p];
		if (fs || !lim || s->pch[p] >= s->nch || s->ph_ma[p] <= lim) {
			s->ph_ep[p] = 0;
			continue;
		}
		if (!s->ph_ep[p]) {
			s->ph_ep[p] = 1;
			s->ph_since[p] = s->now;
			s->ph_next[p] = s->now + shed_ms(s->cfg.phase_grace_ms);
			shed_event(s, PHLOEM_EV_OVERLOAD, PHLOEM_CAUSE_PHASE,
				   SHED_NONE, 0, s->pch[p], s->ph_ma[p], lim,
				   s->now);
		}
		if (s->now < s->ph_next[p])
			continue;
		shed_one(s, 0, shed_ph_relays(s, p), s->pch[p],
			 PHLOEM_CAUSE_PHASE, s->ph_ma[p], lim, s->ph_since[p]);
		s->ph_since[p] = s->now;
		s->ph_next[p] = s->now + shed_ph_step(s);
	}
}

/*
 * The imbalance: the highest phase minus the lowest above its limit (in
 * mA, else in mVA) sheds from the most loaded phase, by priority. Only
 * that phase: a shed on any other leaves the spread as it is, or widens
 * it. The most loaded phase is taken anew at every step.
 */
static void shed_ph_imbalance(struct phloem_shed *s, int fs)
{
	uint32_t p, hi = SHED_NONE, hv = SHED_NONE, cause = 0;
	uint64_t v = 0, lim = 0;

	for (p = 0; p < SHED_NPH; p++) {
		if (s->pch[p] >= s->nch)
			continue;
		if (hi == SHED_NONE || s->ph_ma[p] > s->ph_ma[hi])
			hi = p;
		if (hv == SHED_NONE || s->ph_mva[p] > s->ph_mva[hv])
			hv = p;
	}
	if (fs || s->nmph < 2 || hi >= SHED_NPH || hv >= SHED_NPH)
		goto calm;
	if (s->cfg.imbalance_ma &&
	    s->ph_ma[hi] - s->ph_min > s->cfg.imbalance_ma) {
		cause = PHLOEM_CAUSE_IMBALANCE;
		v = s->ph_ma[hi] - s->ph_min;
		lim = s->cfg.imbalance_ma;
	} else if (s->cfg.imbalance_mva &&
		   s->ph_mva[hv] - s->ph_min_mva > s->cfg.imbalance_mva) {
		cause = PHLOEM_CAUSE_IMBALANCE_VA;
		v = s->ph_mva[hv] - s->ph_min_mva;
		lim = s->cfg.imbalance_mva;
		hi = hv;
	} else {
		goto calm;
	}
	if (!s->imb_ep) {
		s->imb_since = s->now;
		s->imb_next = s->now + shed_ms(s->cfg.phase_grace_ms);
		shed_event(s, PHLOEM_EV_OVERLOAD, cause, SHED_NONE, 0,
			   s->pch[hi], v, lim, s->now);
	}
	s->imb_ep = (uint8_t)cause;
	s->imb_hi = (uint8_t)hi;
	if (s->now < s->imb_next)
		return;
	shed_one(s, 0, shed_ph_relays(s, hi), s->pch[hi], cause, v, lim,
		 s->imb_since);
	s->imb_since = s->now;
	s->imb_next = s->now + shed_ph_step(s);
	return;
calm:
	s->imb_ep = 0;
	s->imb_hi = SHED_NONE;
}

/* the phase rules at a cycle's close, and the relays they hold */
static void shed_phase(struct phloem_shed *s)
{
	int fs = !!(s->state & PHLOEM_STATE_F_FAILSAFE);
	uint32_t p, block = 0;

	shed_ph_limit(s, fs);
	shed_ph_imbalance(s, fs);
	for (p = 0; p < SHED_NPH; p++)
		if (s->ph_ep[p] || (s->imb_ep && p == s->imb_hi))
			block |= shed_ph_relays(s, p);
	s->ph_block = block;
}

/* ------------------------------------------------------------------ */
/* Mains rules: outage and island, return, voltage (docs/shedding.md,  */
/* Mains)                                                              */
/* ------------------------------------------------------------------ */

/* the relays the island holds: neither critical nor in outage_relays */
static uint32_t shed_isl_relays(const struct phloem_shed *s)
{
	uint32_t r, m = 0;

	for (r = 0; r < s->nrel; r++)
		if (!(s->cfg.relay[r].flags & PHLOEM_RELAY_F_CRITICAL) &&
		    !(s->cfg.outage_relays & (1U << r)))
			m |= 1U << r;
	return m;
}

/*
 * The island: every relay of shed_isl_relays() that is on is shed (lowest
 * priority first, each with its PHLOEM_EV_SHED); the others (off by a
 * failsafe, an override or a shed) are held off all the same by @isl_mask
 * until the staggered return. In failsafe nothing is shed: the mask alone
 * keeps them off (shed_update_relays()).
 */
static void shed_island(struct phloem_shed *s, uint32_t p, uint32_t mv)
{
	uint32_t n, mask = shed_isl_relays(s);

	s->mn_state = PHLOEM_MAINS_OUTAGE;
	s->mn_stable_since = SHED_NEVER;
	s->mn_isl_since = s->mn_low_since;
	s->mn_isl_end = SHED_NEVER;
	/* the island holds more than the under-voltage rule would */
	s->uv_ep = 0;
	s->uv_ph = 0;
	s->uv_block = 0;
	shed_event(s, PHLOEM_EV_MAINS, PHLOEM_CAUSE_OUTAGE, SHED_NONE,
		   SHED_NONE, s->vch[p], mv,
		   s->vnom * s->cfg.outage_pct / 100,
		   s->mn_low_since);
	if (!(s->state & PHLOEM_STATE_F_FAILSAFE))
		for (n = 0; n < PHLOEM_MAX_RELAYS; n++)
			if (!shed_one(s, 0, mask, s->vch[p],
				      PHLOEM_CAUSE_OUTAGE, mv, 0,
				      s->mn_low_since))
				break;
	/* set after the sheds: shed_one() picks among the relays still on */
	s->isl_mask = mask;
	shed_update_relays(s);
}

/*
 * Per sample set, when the windows are judged: a phase whose half-cycle
 * voltage window is under outage_pct of nominal is low; a run of low sets
 * (any phase) for @mn_out_ns is an outage. One multiply and compare per
 * phase; the square root only on the way into the island.
 */
static void shed_mains_sample(struct phloem_shed *s)
{
	uint32_t p, lp = SHED_NONE;

	if (!s->mn_thr2)
		return;
	for (p = 0; p < s->nph && p < SHED_NPH; p++)
		if (s->vsum[p] < s->mn_thr2 * s->wwsum) {
			lp = p;
			break;
		}
	if (lp == SHED_NONE) {
		s->mn_low_since = SHED_NEVER;
		return;
	}
	if (s->mn_low_since == SHED_NEVER)
		s->mn_low_since = s->now;
	if (s->mn_state == PHLOEM_MAINS_OUTAGE ||
	    s->now - s->mn_low_since < s->mn_out_ns)
		return;
	shed_island(s, lp, shed_isqrt(shed_div(s->vsum[lp],
					       s->wwsum ? s->wwsum : 1, 0)));
}

/* every phase in the return band and the frequency near nominal */
static int shed_mains_stable(const struct phloem_shed *s)
{
	uint32_t p, nom = s->info.mains_hz * 1000, tol = s->info.mains_hz * 10;

	if (s->state & (PHLOEM_STATE_F_FAILSAFE | PHLOEM_STATE_F_NO_MAINS) ||
	    !s->fq_mhz || s->fq_mhz + tol < nom || s->fq_mhz > nom + tol ||
	    s->mn_low_since != SHED_NEVER)
		return 0;
	for (p = 0; p < s->nph && p < SHED_NPH; p++) {
		uint32_t v = s->ch[s->vch[p] % PHLOEM_MAX_CHANNELS].rms;

		if (v < s->r_lo || v > s->r_hi)
			return 0;
	}
	return 1;
}

/*
 * The staggered return: the held relay of highest priority (then lowest
 * index) leaves the island mask. A shed one comes back now when the
 * restore gate's measured room lets it (shed_bring_back(): its circuit,
 * the site and its phase at or under their restore thresholds, no rule
 * shedding), else later by the restore rules like any shed relay. Its
 * estimate is not waited for: the island sheds a circuit's relays in one
 * cycle, so each one's estimate is the whole circuit's drop (in the VM the
 * dishwasher's did not fit beside the oven and waited for its max hold),
 * and an outage is no reason for its min_off_ms either. One that was off
 * for a failsafe returns as after it.
 */
static void shed_mains_release(struct phloem_shed *s)
{
	uint32_t r, best = SHED_NONE, best_key = 0;

	for (r = 0; r < s->nrel; r++) {
		uint32_t key = (uint32_t)s->cfg.relay[r].priority << 8 |
			       (0xff - r);

		if (s->isl_mask & (1U << r) &&
		    (best == SHED_NONE || key > best_key)) {
			best = r;
			best_key = key;
		}
	}
	if (best != SHED_NONE) {
		s->isl_mask &= ~(1U << best);
		if (s->rl[best].shed && s->rl[best].mode != PHLOEM_OVERRIDE_OFF)
			shed_bring_back(s, best);
	}
	s->mn_next = s->now + shed_ms(s->cfg.return_stagger_ms ?
				      s->cfg.return_stagger_ms :
				      PHLOEM_RETURN_STAGGER_MS_DEFAULT);
	if (!s->isl_mask)
		s->mn_state = s->mn_thr2 ? PHLOEM_MAINS_OK : PHLOEM_MAINS_NONE;
	shed_update_relays(s);
}

/* the island and its return, at a cycle's close */
static void shed_mains_island(struct phloem_shed *s)
{
	uint32_t rms = s->cfg.return_ms ? s->cfg.return_ms :
		       PHLOEM_RETURN_MS_DEFAULT;

	if (s->mn_state == PHLOEM_MAINS_OUTAGE) {
		if (!shed_mains_stable(s)) {
			s->mn_stable_since = SHED_NEVER;
			return;
		}
		if (s->mn_stable_since == SHED_NEVER)
			s->mn_stable_since = s->now;
		if (s->now - s->mn_stable_since < shed_ms(rms))
			return;
		s->mn_state = PHLOEM_MAINS_RETURN;
		s->mn_next = s->now;
		s->mn_isl_end = s->mn_stable_since;
		shed_event(s, PHLOEM_EV_MAINS, PHLOEM_CAUSE_MAINS_BACK,
			   SHED_NONE, SHED_NONE, SHED_NONE,
			   s->v0 == SHED_NONE ? 0 : s->ch[s->v0].rms, s->r_lo,
			   s->mn_stable_since);
	}
	if (s->mn_state == PHLOEM_MAINS_RETURN &&
	    !(s->state & PHLOEM_STATE_F_FAILSAFE) && s->now >= s->mn_next)
		shed_mains_release(s);
}

/* under- and over-voltage events, per phase, after volt_delay_ms */
static void shed_volt_events(struct phloem_shed *s)
{
	uint32_t p;

	if (!s->v_lo)
		return;
	for (p = 0; p < s->nph && p < SHED_NPH; p++) {
		uint32_t v = s->ch[s->vch[p] % PHLOEM_MAX_CHANNELS].rms;
		uint32_t want = v < s->v_lo ? PHLOEM_VOLT_UNDER :
				v > s->v_hi ? PHLOEM_VOLT_OVER : PHLOEM_VOLT_OK;
		uint32_t was = s->vst[p];

		if (want == was) {
			s->vpend[p] = (uint8_t)was;
			continue;
		}
		if (want != s->vpend[p]) {
			s->vpend[p] = (uint8_t)want;
			s->vsince[p] = s->now;
		}
		/* the first judgement of a phase in its band says nothing */
		if (was == PHLOEM_VOLT_NONE && want == PHLOEM_VOLT_OK) {
			s->vst[p] = PHLOEM_VOLT_OK;
			continue;
		}
		if (s->now - s->vsince[p] < shed_ms(s->cfg.volt_delay_ms))
			continue;
		s->vst[p] = (uint8_t)want;
		shed_event(s, PHLOEM_EV_VOLTAGE,
			   want == PHLOEM_VOLT_UNDER ? PHLOEM_CAUSE_UNDER_VOLTAGE :
			   want == PHLOEM_VOLT_OVER ? PHLOEM_CAUSE_OVER_VOLTAGE :
			   PHLOEM_CAUSE_VOLTAGE_OK, SHED_NONE, SHED_NONE,
			   s->vch[p], v,
			   want == PHLOEM_VOLT_UNDER ||
			   (want == PHLOEM_VOLT_OK && was == PHLOEM_VOLT_UNDER) ?
			   s->v_lo : s->v_hi, s->vsince[p]);
	}
}

/*
 * The relays the under-voltage rule sheds and holds for the phases of
 * @ph: those on them, and those whose circuit's phase is not known
 */
static uint32_t shed_uv_relays(const struct phloem_shed *s, uint32_t ph)
{
	uint32_t r, m = 0;

	for (r = 0; r < s->nrel; r++) {
		uint32_t p = s->ci[s->cfg.relay[r].circuit %
				   PHLOEM_MAX_CIRCUITS].ph;

		if (p >= SHED_NPH || ph & (1U << p))
			m |= 1U << r;
	}
	return m;
}

/*
 * Sustained under-voltage: a phase under uv_shed_pct for uv_shed_ms sheds
 * one relay on it, lowest priority first, then one a step while it stays
 * under; its relays are held until every phase of the episode is back at
 * uv_shed_pct + PHLOEM_UV_SHED_HYST_PCT. Not in the island (it holds more).
 */
static void shed_uv_rule(struct phloem_shed *s)
{
	uint32_t p, low = 0, lp = SHED_NONE, v = 0;
	uint64_t step = shed_ms(s->cfg.uv_shed_ms);

	if (!s->uv_mv || s->mn_state == PHLOEM_MAINS_OUTAGE ||
	    s->state & PHLOEM_STATE_F_FAILSAFE) {
		s->uv_ep = 0;
		s->uv_ph = 0;
		s->uv_block = 0;
		return;
	}
	for (p = 0; p < s->nph && p < SHED_NPH; p++) {
		uint32_t x = s->ch[s->vch[p] % PHLOEM_MAX_CHANNELS].rms;

		if (x < s->uv_mv) {
			low |= 1U << p;
			if (lp == SHED_NONE) {
				lp = p;
				v = x;
			}
		}
	}
	if (!s->uv_ep) {
		if (!low)
			return;
		s->uv_ep = 1;
		s->uv_next = s->now + step;
	}
	s->uv_ph |= (uint8_t)low;
	if (!low) {
		for (p = 0; p < s->nph && p < SHED_NPH; p++)
			if (s->uv_ph & (1U << p) &&
			    s->ch[s->vch[p] % PHLOEM_MAX_CHANNELS].rms <
			    s->uv_back)
				break;
		if (p >= s->nph || p >= SHED_NPH) {
			/* back: the relays come back by the restore rules */
			s->uv_ep = 0;
			s->uv_ph = 0;
			s->uv_block = 0;
			return;
		}
	}
	s->uv_block = shed_uv_relays(s, s->uv_ph);
	if (!low || lp >= SHED_NPH || s->now < s->uv_next)
		return;
	shed_one(s, 0, shed_uv_relays(s, low), s->vch[lp],
		 PHLOEM_CAUSE_UNDER_VOLTAGE, v, s->uv_mv, s->now);
	s->uv_next = s->now + (step > s->period_ns ? step : s->period_ns);
}

/* the mains rules at a cycle's close */
static void shed_mains(struct phloem_shed *s)
{
	shed_volt_events(s);
	shed_mains_island(s);
	shed_uv_rule(s);
}

/*
 * The mains rules' derived values from the configuration in force. The
 * rule switched off in the island ends it by the staggered return; a
 * relay made critical or put in outage_relays leaves the island's mask
 * (and comes back by the restore rules).
 */
static void shed_mains_config(struct phloem_shed *s)
{
	const struct phloem_config *c = &s->cfg;
	uint32_t nom = c->nominal_mv ? c->nominal_mv : PHLOEM_NOMINAL_MV_DEFAULT;
	uint32_t band = c->volt_band_pct ? c->volt_band_pct :
			PHLOEM_VOLT_BAND_RETURN_PCT, p;
	/* nom <= 500000, every % <= 120: 32-bit products and divisions */
	uint64_t omv = nom * c->outage_pct / 100;

	s->vnom = nom;
	s->mn_thr2 = omv * omv;
	s->mn_out_ns = (c->outage_cycles ? c->outage_cycles :
			PHLOEM_OUTAGE_CYCLES_DEFAULT) * s->period_ns - s->half_ns;
	s->r_lo = nom * (100 - band) / 100;
	s->r_hi = nom * (100 + band) / 100;
	s->v_lo = c->volt_band_pct ? s->r_lo : 0;
	s->v_hi = c->volt_band_pct ? s->r_hi : 0;
	s->uv_mv = nom * c->uv_shed_pct / 100;
	s->uv_back = nom * (c->uv_shed_pct + PHLOEM_UV_SHED_HYST_PCT) / 100;
	if (!s->v_lo)
		for (p = 0; p < SHED_NPH; p++) {
			s->vst[p] = PHLOEM_VOLT_NONE;
			s->vpend[p] = PHLOEM_VOLT_NONE;
		}
	if (!s->uv_mv) {
		s->uv_ep = 0;
		s->uv_ph = 0;
		s->uv_block = 0;
	}
	s->isl_mask &= shed_isl_relays(s);
	if (!s->mn_thr2) {
		s->mn_low_since = SHED_NEVER;
		if (s->mn_state == PHLOEM_MAINS_OUTAGE) {
			s->mn_state = PHLOEM_MAINS_RETURN;
			s->mn_next = s->now;
			s->mn_isl_end = s->now;
		}
	}
	if (s->mn_state == PHLOEM_MAINS_RETURN && !s->isl_mask)
		s->mn_state = PHLOEM_MAINS_NONE;
	if (s->mn_state == PHLOEM_MAINS_NONE || s->mn_state == PHLOEM_MAINS_OK)
		s->mn_state = s->mn_thr2 ? PHLOEM_MAINS_OK : PHLOEM_MAINS_NONE;
}

/* ------------------------------------------------------------------ */
/* Grid-operator input lines (docs/shedding.md, Grid-operator input)   */
/* ------------------------------------------------------------------ */

/* shed the on relays of the active lines' mask, lowest priority first */
static void shed_sig_relays(struct phloem_shed *s, uint64_t trig)
{
	uint32_t n;

	if (s->state & PHLOEM_STATE_F_FAILSAFE || !(s->relays & s->sig_mask))
		return;
	for (n = 0; n < PHLOEM_MAX_RELAYS; n++)
		if (!shed_one(s, 0, s->sig_mask, s->ci[0].ch,
			      PHLOEM_CAUSE_GRID_SIGNAL, 0, 0, trig))
			break;
}

/*
 * A line's cap just came into force: when the last cycle's import is above
 * it, shed now, by priority, until the loads taken off cover the excess.
 * A relay's load is its estimate from an earlier shed, else what its
 * circuit draws that no relay shed here has accounted for, at the present
 * voltage and unity power factor. What that misses (loads sharing a circuit
 * with no estimate) the site rule takes off a step per measured cycle.
 */
static void shed_sig_cap(struct phloem_shed *s, uint64_t trig)
{
	uint32_t left[PHLOEM_MAX_CIRCUITS], c, r, n, off, lim = s->imp_lim;
	int32_t p = s->site_mw;
	uint64_t ma, drop, need;

	if (!s->sig_cap || lim != s->sig_cap || p <= (int64_t)lim ||
	    s->state & PHLOEM_STATE_F_FAILSAFE || s->v0 == SHED_NONE)
		return;
	if (!s->site_ep) {
		s->site_ep = 1;
		s->site_since = trig;
		shed_event(s, PHLOEM_EV_OVERLOAD, PHLOEM_CAUSE_GRID_SIGNAL,
			   SHED_NONE, 0, s->ci[0].ch, p, lim, trig);
	}
	for (c = 0; c < PHLOEM_MAX_CIRCUITS; c++)
		left[c] = c < s->ncirc ? s->ci[c].irms : 0;
	need = (uint64_t)((int64_t)p - lim);	/* > 0, < 2^31 */
	for (n = 0; n < PHLOEM_MAX_RELAYS && need; n++) {
		uint32_t before = s->relays;

		if (!shed_one(s, 0, SHED_U32_MAX, s->ci[0].ch,
			      PHLOEM_CAUSE_GRID_SIGNAL, p, lim, trig))
			break;
		off = before & ~s->relays;
		for (r = 0; r < PHLOEM_MAX_RELAYS - 1 && !(off & (1U << r)); r++)
			;
		c = s->cfg.relay[r].circuit % PHLOEM_MAX_CIRCUITS;
		ma = s->rl[r].load_ma;
		if (!ma || ma > left[c])
			ma = left[c];
		left[c] -= (uint32_t)ma;
		if (c)
			left[0] -= ma < left[0] ? (uint32_t)ma : left[0];
		drop = shed_div(ma * s->ch[s->v0].rms, 1000, 0);
		need = drop >= need ? 0 : need - drop;
	}
	s->site_next = s->now + shed_site_grace(s);
}

/* The debounced state of the lines changes to @sig_raw: act on it. */
static void shed_sig_change(struct phloem_shed *s)
{
	uint32_t ch = s->sig_raw ^ s->sig_state, i;

	s->sig_state = s->sig_raw;
	shed_derive_limits(s);
	for (i = 0; i < PHLOEM_MAX_SIGNALS; i++)
		if (ch & (1U << i))
			shed_event(s, PHLOEM_EV_SIGNAL,
				   PHLOEM_CAUSE_NONE, SHED_NONE,
				   SHED_NONE, i, !!(s->sig_state & (1U << i)),
				   s->imp_lim, s->sig_since);
	shed_sig_relays(s, s->sig_since);
	shed_sig_cap(s, s->sig_since);
	/* with the line gone, the relays come back by the restore rules */
}

/* a new level that has held for the debounce counts */
static void shed_sig_poll(struct phloem_shed *s)
{
	if (s->sig_raw != s->sig_state &&
	    s->now - s->sig_since >= s->sig_db_ns)
		shed_sig_change(s);
}

/*
 * The cycle ends at the next crossing, or without one 1.5 nominal periods
 * after the last close or crossing (a nominal period once in no-mains),
 * and never later than two nominal periods after it opened: a crossing
 * that lands just past the deadline (too late to close the cycle) would
 * otherwise push it on, cycle after cycle, and the cycle sums, bounded by
 * the time a cycle spans, would overflow. Two periods is the longest a
 * cycle of real mains takes: mains back in the last instant of a no-mains
 * period, then one period. Kept precomputed: the sample path only compares.
 */
static void shed_update_deadline(struct phloem_shed *s)
{
	uint64_t from = s->cyc_start, end = s->cyc_start + 2 * s->period_ns;

	if (s->have_zc && s->last_zc > from)
		from = s->last_zc;
	s->deadline = from + (s->state & PHLOEM_STATE_F_NO_MAINS ?
			      s->period_ns : s->period_ns * 3 / 2);
	if (s->deadline > end)
		s->deadline = end;
}

/*
 * The estimate of shed relay @r, once its circuit has steady cycles after
 * the switching: the first SHED_EST_RUN steady ones after the cycle the
 * relay opened in, or, when none have come by SHED_EST_WAIT cycles, the
 * smallest of them; when another relay of the circuit switches first,
 * only the cycles before that switching count. A load that never fits its
 * circuit's restore threshold gets its attempts sooner than the max hold
 * (shed_retry_ns()).
 */
static void shed_est_post(struct phloem_shed *s, uint32_t r)
{
	struct shed_relay *rl = &s->rl[r];
	uint32_t c = s->cfg.relay[r].circuit;
	uint64_t lo = rl->shed_cyc + 2, n = s->cycles, t;
	uint32_t post, mean = 0;

	if (s->ci[c].sw_cyc > rl->shed_cyc)	/* switched in sw_cyc + 1 */
		post = s->ci[c].sw_cyc >= lo ?
		       shed_level(s, c, lo, s->ci[c].sw_cyc, 0) : SHED_U32_MAX;
	else if (n < lo + SHED_EST_RUN - 1)
		return;
	else if (shed_run(s, c, n, &mean))
		post = mean;
	else if (n >= lo + SHED_EST_WAIT)
		post = shed_level(s, c, lo, n, 0);
	else
		return;
	rl->est = 0;
	/*
	 * No steady cycles between the relay's last switching on (or the
	 * circuit's last switching) and this shed, pre_ma not known: the
	 * newest steady level before the shed was one without this load and
	 * maybe with others, so the drop says nothing of this load. Nor does
	 * it when another relay switched before a cycle after the shed.
	 */
	if (rl->pre_ma == SHED_U32_MAX || post == SHED_U32_MAX)
		rl->load_ma = 0;
	else
		rl->load_ma = rl->pre_ma > post ? rl->pre_ma - post : 0;
	/*
	 * No drop beyond noise at the shed: another load stepped on as this
	 * one went off (shed within a step). The load it drew when it was
	 * last switched on is the better estimate, when known; never more
	 * than the whole steady circuit current before the shed, which
	 * carried it.
	 */
	if (rl->load_ma <= SHED_STEADY_MA && rl->on_ma > rl->load_ma)
		rl->load_ma = rl->pre_ma != SHED_U32_MAX &&
			      rl->pre_ma < rl->on_ma ? rl->pre_ma : rl->on_ma;
	if (shed_never_fits(s, r)) {
		t = rl->off_until + shed_retry_ns(s, r);
		if (t < rl->try_ns)
			rl->try_ns = t;
	}
}

/*
 * The load of relay @r switched on at cycle on_cyc: the first steady run
 * of its circuit after the cycle it closed in (starting in the first or
 * the second cycle after it), minus the steady current before it. No such
 * run, another relay of the circuit switched before it ended, or shed
 * again before that: nothing learned this time (a later run would hold
 * whatever else changed meanwhile: the next relay of a staggered return,
 * a load that stepped on).
 */
static void shed_learn_post(struct phloem_shed *s, uint32_t r)
{
	struct shed_relay *rl = &s->rl[r];
	uint64_t lo = rl->on_cyc + 2, n = s->cycles;
	uint32_t mean = 0;

	if (rl->shed || s->ci[s->cfg.relay[r].circuit].sw_cyc > rl->on_cyc) {
		rl->on_est = 0;
		return;
	}
	if (n < lo + SHED_EST_RUN - 1)
		return;
	if (!shed_run(s, s->cfg.relay[r].circuit, n, &mean)) {
		if (n >= lo + SHED_EST_RUN)
			rl->on_est = 0;
		return;
	}
	rl->on_est = 0;
	if (rl->on_pre == SHED_U32_MAX)	/* no steady level before it */
		return;
	rl->on_ma = mean > rl->on_pre + SHED_STEADY_MA ? mean - rl->on_pre : 0;
}

static void shed_close(struct phloem_shed *s, uint64_t t_end, uint32_t freq)
{
	uint64_t dt = t_end > s->cyc_start ? t_end - s->cyc_start : 0;
	uint32_t r;

	shed_measure(s, dt);
	shed_ph_measure(s);
	s->freq_mhz = freq;
	s->cycles++;
	/* the circuits whose relays switched in the cycle that just closed */
	for (r = 0; r < s->nrel; r++)
		if ((s->relays ^ s->cyc_rel) & (1U << r))
			s->ci[s->cfg.relay[r].circuit].sw_cyc = s->cycles - 1;
	s->cyc_rel = s->relays;

	if (s->state & PHLOEM_STATE_F_FAILSAFE && !s->tainted && s->nsamp)
		shed_failsafe_leave(s);
	s->tainted = 0;

	for (r = 0; r < s->ncirc; r++)
		s->ci[r].rh[s->cycles & (SHED_EST_HIST - 1)] = s->ci[r].irms;
	for (r = 0; r < s->nrel; r++) {
		struct shed_relay *rl = &s->rl[r];

		if (rl->est)
			shed_est_post(s, r);
		if (rl->on_est)
			shed_learn_post(s, r);
		if (!rl->shed && rl->restored_ns != SHED_NEVER &&
		    s->now - rl->restored_ns >= shed_ms(s->cfg.retrip_window_ms)) {
			rl->backoff = 0;
			rl->hold_lvl = 0;
			rl->restored_ns = SHED_NEVER;
		}
	}
	/* like energy, the heat model does not integrate over a sampling gap */
	shed_thermal(s, dt > 2 * s->period_ns ? 2 * s->period_ns : dt);
	shed_sig_relays(s, s->now);
	shed_site(s);
	shed_phase(s);
	shed_mains(s);
	if (!(s->state & PHLOEM_STATE_F_FAILSAFE))
		shed_restore(s);

	s->cyc.freq_mhz = freq;
	s->cyc.nsamples = s->nsamp;
	s->cyc.relays_on = s->relays;
	s->cyc.relays_shed = s->shedmask;
	s->cyc.nchannels = s->nch;
	s->cyc_time = t_end;
	s->cyc_ready = 1;
	s->nsamp = 0;
	s->cyc_w = 0;
	s->cyc_start = t_end;
	s->cyc.state = 0;	/* filled by phloem_shed_pop_cycle() */
	shed_update_deadline(s);
}

/* ------------------------------------------------------------------ */
/* Phase coverage of the instantaneous windows                         */
/* ------------------------------------------------------------------ */

/*
 * sin^2 at SHED_COV_N points of a half period, Q16: round(65536 *
 * sin^2(pi j / SHED_COV_N)).
 */
static const uint32_t shed_sin2[SHED_COV_N] = {
	    0,    70,   280,   630,  1117,  1739,  2494,  3379,
	 4390,  5522,  6771,  8132,  9598, 11163, 12820, 14563,
	16384, 18275, 20228, 22235, 24287, 26375, 28491, 30625,
	32768, 34911, 37045, 39161, 41249, 43301, 45308, 47261,
	49152, 50973, 52716, 54373, 55938, 57404, 58765, 60014,
	61146, 62157, 63042, 63797, 64419, 64906, 65256, 65466,
	65536, 65466, 65256, 64906, 64419, 63797, 63042, 62157,
	61146, 60014, 58765, 57404, 55938, 54373, 52716, 50973,
	49152, 47261, 45308, 43301, 41249, 39161, 37045, 34911,
	32768, 30625, 28491, 26375, 24287, 22235, 20228, 18275,
	16384, 14563, 12820, 11163,  9598,  8132,  6771,  5522,
	 4390,  3379,  2494,  1739,  1117,   630,   280,    70,
};

/*
 * The coverage's clock: SHED_COV_N steps a half period, from the measured
 * frequency once there is one (the nominal period before), and how long a
 * crossing stays good: 16 measured periods drift by under 2 degrees at the
 * filter's 10 mHz, 4 nominal ones by 5 degrees at 1 Hz off.
 */
static void shed_cov_rate(struct phloem_shed *s)
{
	/* measured periods are at least 3/4 of 1/60 s: f < 2^17 mHz */
	uint64_t f = s->fq_mhz < (1U << 17) ? s->fq_mhz : (1U << 17);
	uint64_t inv;

	if (f)
		inv = shed_div(((uint64_t)2 * SHED_COV_N << 32) * f,
			       1000000000000ULL, 0);
	else
		inv = shed_div((uint64_t)2 * SHED_COV_N << 32, s->period_ns, 0);
	s->cov_inv = inv < SHED_COV_INV_MAX ? inv : SHED_COV_INV_MAX;
	s->cov_age = (f ? SHED_COV_AGE_FQ : SHED_COV_AGE) * s->period_ns;
}

/*
 * One set of an upward zero-crossing detector (*@zc, enum shed_zc_state:
 * wait below -hyst, armed, wait above +hyst) on a voltage now at @x, @xp
 * at the set before. Return: 0 no crossing; 2 the wave rose through zero
 * at this set and *@tc is the instant it passed zero, interpolated between
 * the two sets (the one before below zero and at most @max_dt before);
 * 1 a crossing that cannot be timed so. @max_dt is at most a period
 * (<= 1 s): dt < 2^30 and -xp < 2^31, so the product fits in 64 bits.
 */
static inline int shed_zc_step(const struct phloem_shed *s, uint8_t *zc,
			       int32_t x, int32_t xp, uint64_t now,
			       uint64_t max_dt, uint64_t *tc)
{
	uint64_t dt = now - s->prev_t;

	switch (*zc) {
	case SHED_ZC_WAIT_NEG:
		if (x < -s->hyst)
			*zc = SHED_ZC_ARMED;
		return 0;
	case SHED_ZC_ARMED:
		if (x < 0)
			return 0;
		*zc = SHED_ZC_WAIT_POS;
		if (!s->have_prev || xp >= 0 || dt > max_dt)
			return 1;
		*tc = s->prev_t + shed_div(dt * (uint64_t)(-(int64_t)xp),
					   (uint64_t)((int64_t)x - xp), 0);
		return 2;
	default:
		if (x > s->hyst)
			*zc = SHED_ZC_WAIT_NEG;
		return 0;
	}
}

/*
 * Each phase's upward crossings, for the coverage: shed_zc_step() on
 * every phase's voltage, a crossing kept only when the sets on either
 * side of it are at most a quarter period apart (its interpolated time is
 * then good to a few degrees). The cycles, timed on v0 alone, do not
 * depend on it.
 */
static void shed_cov_track(struct phloem_shed *s, const int32_t *h,
			   const int32_t *hp)
{
	uint64_t tc = 0;
	uint32_t p;

	for (p = 0; p < s->nph; p++)
		if (shed_zc_step(s, &s->cov_zc[p], h[s->vch[p]], hp[s->vch[p]],
				 s->now, s->period_ns / 4, &tc) == 2) {
			s->cov_at[p] = tc;
			s->cov_ok[p] = 1;
		}
}

/* sin^2 (Q16) of phase @p's wave at this set; SHED_COV_HALF if unknown */
static uint32_t shed_cov(const struct phloem_shed *s, uint32_t p)
{
	uint64_t d;
	uint32_t k;

	if (!s->cov_ok[p] || s->cov_at[p] > s->now)
		return SHED_COV_HALF;
	d = s->now - s->cov_at[p];
	if (d > s->cov_age)
		return SHED_COV_HALF;
	/* d < 2^34 (16 periods of at most 1 s), cov_inv <= 2^20; k < 2^22 */
	k = (uint32_t)((d * s->cov_inv + (1ULL << 31)) >> 32);
	return shed_sin2[k % SHED_COV_N];
}

/* ------------------------------------------------------------------ */
/* Frequency rule: under-frequency stages and over-frequency           */
/* ------------------------------------------------------------------ */

/*
 * The filter. Every accepted zero-crossing period (3/4 to 3/2 of nominal,
 * shed_crossing()) enters a sum of the last four: four cycles timed from
 * one crossing to the fourth after it, so the timing noise of the
 * crossings in between cancels and only the two ends count. The median of
 * the last three such sums then drops one bad crossing whole: a crossing
 * moved by a spike (or a spike taken for one) lengthens one period and
 * shortens the next, which leaves every sum that holds both unchanged; the
 * only two sums it spoils, one that ends and one that starts at it, are
 * four apart and never two of three neighbours. The result, 4e12 / median
 * mHz, stands for the frequency about three cycles before the last
 * crossing (60 ms at 50 Hz): the filter's group delay, which leaves room
 * in the 100 ms operate budget for the cycle it is computed at.
 */
static uint32_t shed_med3(uint32_t a, uint32_t b, uint32_t c)
{
	uint32_t lo = a < b ? a : b, hi = a < b ? b : a;

	return c < lo ? lo : c > hi ? hi : c;
}

/* a gap in the periods (no mains, missed crossings): start again */
static void shed_freq_gap(struct phloem_shed *s)
{
	if (s->now - s->fq_at <= SHED_FQ_STALE * s->period_ns)
		return;
	s->fq_np = 0;
	s->fq_nm = 0;
	s->fq_mhz = 0;
}

static void shed_freq_period(struct phloem_shed *s, uint32_t p)
{
	uint32_t sum = 0, i, m;

	shed_freq_gap(s);
	s->fq_at = s->now;
	s->fq_per[s->fq_mi & (SHED_FQ_AVG - 1)] = p;
	s->fq_mi = (s->fq_mi + 1) & (SHED_FQ_AVG - 1);
	if (s->fq_np < SHED_FQ_AVG)
		s->fq_np++;
	if (s->fq_np < SHED_FQ_AVG)
		return;
	/* periods are at most 3/2 of 20 ms: four fit in 32 bits */
	for (i = 0; i < SHED_FQ_AVG; i++)
		sum += s->fq_per[i];
	s->fq_sum[2] = s->fq_sum[1];
	s->fq_sum[1] = s->fq_sum[0];
	s->fq_sum[0] = sum;
	if (s->fq_nm < SHED_FQ_MED3)
		s->fq_nm++;
	if (s->fq_nm < SHED_FQ_MED3)
		return;
	m = shed_med3(s->fq_sum[0], s->fq_sum[1], s->fq_sum[2]);
	/* m >= 4 * 3/4 of a 60 Hz period: > 0, the quotient < 2^32 */
	s->fq_mhz = (uint32_t)shed_div(1000000000000ULL * SHED_FQ_AVG + m / 2,
				       m, 0);
}

/* relays stage @k covers: not critical, priority in its range */
static uint32_t shed_freq_range(const struct phloem_shed *s, uint32_t k)
{
	const struct phloem_freq_stage *fc = &s->cfg.freq_stage[k];
	uint32_t r, m = 0;

	for (r = 0; r < s->nrel; r++) {
		const struct phloem_relay_cfg *rc = &s->cfg.relay[r];

		if (!(rc->flags & PHLOEM_RELAY_F_CRITICAL) &&
		    rc->priority >= fc->prio_min && rc->priority <= fc->prio_max)
			m |= 1U << r;
	}
	return m;
}

/* the relays every operated stage holds: the restore gate's input */
static void shed_freq_mask(struct phloem_shed *s)
{
	uint32_t k, m = 0;

	for (k = 0; k < PHLOEM_FREQ_STAGES; k++)
		if (s->fs[k].state >= PHLOEM_FREQ_OPERATED)
			m |= s->fs[k].block;
	s->fq_block = m;
}

/* a PHLOEM_EV_FREQ of stage @k (PHLOEM_FREQ_STAGES: over-frequency) */
static void shed_freq_event(struct phloem_shed *s, uint32_t cause,
			    uint32_t k, uint64_t limit, uint64_t trig)
{
	shed_event(s, PHLOEM_EV_FREQ, cause, SHED_NONE, SHED_NONE, s->v0,
		   s->fq_mhz, limit, trig);
	/* the stage rides in the backoff byte, which a relay-less event
	 * leaves 0 (shed_event() just queued this one: evcount >= 1)
	 */
	s->evq[(s->evhead + s->evcount - 1) & (PHLOEM_SHED_EVQ - 1)].ev.backoff =
		(uint8_t)k;
}

/*
 * Shed the relays operated stage @k covers that are not shed yet: when it
 * operates (@edge) every one, ON overrides included as by any rule; while
 * it stays operated, those that came back by another way (the staggered
 * return after a failsafe), but not an ON override set since.
 */
static void shed_freq_shed(struct phloem_shed *s, uint32_t k, int edge)
{
	uint32_t r, c, n = 0;

	for (r = 0; r < s->nrel; r++) {
		struct shed_relay *rl = &s->rl[r];

		if (!(s->fs[k].block & (1U << r)) || rl->shed ||
		    rl->mode == PHLOEM_OVERRIDE_OFF ||
		    (!edge && rl->mode == PHLOEM_OVERRIDE_ON))
			continue;
		c = s->cfg.relay[r].circuit;
		/* the windows still hold its current: as shed_one() */
		s->ci[c].holdoff_until = s->now + s->win_ns;
		s->ci[0].holdoff_until = s->now + s->win_ns;
		shed_mark(s, r);
		rl->fs_hold = 0;
		s->sheds++;
		n++;
		shed_update_relays(s);
		shed_event(s, PHLOEM_EV_SHED, PHLOEM_CAUSE_UNDER_FREQ, r, c,
			   s->v0, s->fq_mhz, s->cfg.freq_stage[k].threshold_mhz,
			   edge ? s->fs[k].since : s->now);
	}
	if (n)
		s->no_trap = 1;
}

/*
 * The stages and the over-frequency report, on every filtered frequency
 * (0: unknown, which neither operates nor releases a stage). Not in
 * failsafe: the relays are in their safe state, and the sheds that a
 * failsafe forgot are made again when it ends (shed_freq_shed()).
 */
static void shed_freq_rule(struct phloem_shed *s)
{
	uint32_t f = s->fq_mhz, o = s->cfg.over_freq_mhz, k;

	s->fq_due = SHED_NEVER;
	if (s->state & PHLOEM_STATE_F_FAILSAFE)
		return;
	for (k = 0; k < PHLOEM_FREQ_STAGES; k++) {
		const struct phloem_freq_stage *fc = &s->cfg.freq_stage[k];
		struct shed_fstage *fs = &s->fs[k];
		uint32_t back = fc->threshold_mhz + fc->hyst_mhz;

		if (fs->state == PHLOEM_FREQ_OFF)
			continue;
		if (fs->state == PHLOEM_FREQ_IDLE) {
			if (!f || f >= fc->threshold_mhz)
				continue;
			fs->state = PHLOEM_FREQ_PENDING;
			fs->since = s->now;
			/* and on: a stage without delay operates now */
		}
		if (fs->state == PHLOEM_FREQ_PENDING) {
			if (!f || f >= fc->threshold_mhz) {
				fs->state = PHLOEM_FREQ_IDLE;
				continue;
			}
			if (s->now - fs->since < shed_ms(fc->delay_ms)) {
				if (fs->since + shed_ms(fc->delay_ms) < s->fq_due)
					s->fq_due = fs->since +
						    shed_ms(fc->delay_ms);
				continue;
			}
			fs->state = PHLOEM_FREQ_OPERATED;
			fs->block = shed_freq_range(s, k);
			shed_freq_mask(s);
			shed_freq_event(s, PHLOEM_CAUSE_UNDER_FREQ, k,
					fc->threshold_mhz, fs->since);
			shed_freq_shed(s, k, 1);
			continue;
		}
		if (fs->state == PHLOEM_FREQ_OPERATED) {
			if (f < back) {
				shed_freq_shed(s, k, 0);
				continue;
			}
			fs->state = PHLOEM_FREQ_RECOVERING;
			fs->since = s->now;
		}
		/* RECOVERING */
		if (f < back) {
			fs->state = PHLOEM_FREQ_OPERATED;
			continue;
		}
		if (s->now - fs->since < shed_ms(fc->restore_ms))
			continue;
		/* its relays go back by the restore path, staggered */
		fs->state = PHLOEM_FREQ_IDLE;
		fs->block = 0;
		shed_freq_mask(s);
		shed_freq_event(s, PHLOEM_CAUSE_FREQ_OK, k, back, s->now);
	}
	if (!o)
		return;
	if (f > o) {
		if (s->fq_over_since == SHED_NEVER)
			s->fq_over_since = s->now;
		if (!s->fq_over &&
		    s->now - s->fq_over_since >= shed_ms(s->cfg.over_freq_ms)) {
			s->fq_over = 1;
			shed_freq_event(s, PHLOEM_CAUSE_OVER_FREQ,
					PHLOEM_FREQ_STAGES, o, s->fq_over_since);
		}
		return;
	}
	s->fq_over_since = SHED_NEVER;
	if (s->fq_over && f && f <= o - PHLOEM_FREQ_OVER_HYST_MHZ) {
		s->fq_over = 0;
		shed_freq_event(s, PHLOEM_CAUSE_FREQ_OK, PHLOEM_FREQ_STAGES,
				o - PHLOEM_FREQ_OVER_HYST_MHZ, s->now);
	}
}

/*
 * A new configuration: a stage switched off is released (its relays go
 * back by the restore path); an operated one keeps its state and holds
 * the relays its new range covers.
 */
static void shed_freq_config(struct phloem_shed *s)
{
	uint32_t k;

	for (k = 0; k < PHLOEM_FREQ_STAGES; k++) {
		struct shed_fstage *fs = &s->fs[k];

		if (!s->cfg.freq_stage[k].threshold_mhz)
			fs->state = PHLOEM_FREQ_OFF;
		else if (fs->state == PHLOEM_FREQ_OFF)
			fs->state = PHLOEM_FREQ_IDLE;
		fs->block = fs->state >= PHLOEM_FREQ_OPERATED ?
			    shed_freq_range(s, k) : 0;
	}
	shed_freq_mask(s);
	if (!s->cfg.over_freq_mhz) {
		s->fq_over = 0;
		s->fq_over_since = SHED_NEVER;
	}
	/* a new delay may end sooner: judge again at the next sample set */
	s->fq_due = 0;
}

/* ------------------------------------------------------------------ */
/* Public entry points                                                 */
/* ------------------------------------------------------------------ */

void phloem_shed_init(struct phloem_shed *s, const struct phloem_info *info,
		      const struct phloem_config *boot, uint64_t now_ns)
{
	uint32_t i;

	s->info = *info;
	s->boot = *boot;
	s->cfg = *boot;
	s->nch = (uint8_t)info->nchannels;
	s->ncirc = (uint8_t)info->ncircuits;
	s->nrel = (uint8_t)info->nrelays;
	s->v0 = SHED_NONE;
	s->ncur = 0;
	s->nph = 0;
	s->sig_all = (1U << (info->nsignals % (PHLOEM_MAX_SIGNALS + 1))) - 1;
	/*@ loop unroll PHLOEM_MAX_CHANNELS; */
	for (i = 0; i < s->nch; i++) {
		if (info->chan[i].kind == PHLOEM_CHAN_VOLTAGE) {
			if (s->v0 == SHED_NONE)
				s->v0 = (uint8_t)i;
			if (s->nph < SHED_NPH)
				s->vch[s->nph++] = (uint8_t)i;
		} else {
			s->cur[s->ncur++] = (uint8_t)i;
		}
	}
	for (i = 0; i < s->ncirc; i++) {
		uint32_t p, v;

		s->ci[i].ch = info->circuit[i].channel;
		v = info->chan[s->ci[i].ch % PHLOEM_MAX_CHANNELS].phase;
		s->ci[i].ph = SHED_NONE;
		for (p = 0; p < s->nph; p++)
			if (s->vch[p] == v)
				s->ci[i].ph = (uint8_t)p;
	}
	s->nmph = 0;
	for (i = 0; i < SHED_NPH; i++) {
		s->pch[i] = (uint8_t)shed_site_ct(info, i);
		s->nmph += s->pch[i] != SHED_NONE;
	}
	s->imb_hi = SHED_NONE;
	for (i = 0; i < s->nrel; i++) {
		s->rl[i].restored_ns = SHED_NEVER;
		s->rl[i].head_since = SHED_NEVER;
	}
	shed_derive(s);
	s->now = now_ns;
	s->last_good = now_ns;
	s->cyc_start = now_ns;
	s->period_ns = 1000000000U / info->mains_hz;
	shed_update_deadline(s);
	shed_cov_rate(s);
	s->hyst = SHED_HYST_MIN;
	s->zc_state = SHED_ZC_WAIT_NEG;
	s->last_restore = SHED_NEVER;
	s->next_timer = SHED_NEVER;
	s->state = PHLOEM_STATE_F_FAILSAFE;
	s->tainted = 1;		/* the first cycle is partial */
	s->fq_at = now_ns;
	s->fq_over_since = SHED_NEVER;
	shed_freq_config(s);
	s->mn_low_since = SHED_NEVER;
	s->mn_stable_since = SHED_NEVER;
	s->mn_isl_since = SHED_NEVER;
	s->mn_isl_end = SHED_NEVER;
	shed_mains_config(s);
	shed_update_relays(s);
}

int phloem_shed_set_config(struct phloem_shed *s,
			   const struct phloem_config *cfg, uint64_t now_ns)
{
	uint32_t r;

	if (phloem_shed_check_config(&s->info, cfg))
		return PHLOEM_SHED_EINVAL;
	if (now_ns > s->now)
		s->now = now_ns;
	s->cfg = *cfg;
	shed_derive(s);
	shed_freq_config(s);
	shed_mains_config(s);
	/* a relay made critical is never shed: give it back now */
	for (r = 0; r < s->nrel; r++) {
		if (!s->rl[r].shed ||
		    !(cfg->relay[r].flags & PHLOEM_RELAY_F_CRITICAL))
			continue;
		s->rl[r].shed = 0;
		s->rl[r].est = 0;
		s->rl[r].hold = PHLOEM_HOLD_NONE;
		s->rl[r].hold_sent = PHLOEM_HOLD_NONE;
		shed_update_relays(s);
		shed_event(s, PHLOEM_EV_RESTORE, PHLOEM_CAUSE_MANUAL, r,
			   cfg->relay[r].circuit, SHED_NONE, 0, 0, s->now);
	}
	shed_update_relays(s);
	shed_event(s, PHLOEM_EV_CONFIG, PHLOEM_CAUSE_NONE, SHED_NONE, SHED_NONE,
		   SHED_NONE, 0, 0, s->now);
	return 0;
}

void phloem_shed_get_config(const struct phloem_shed *s,
			    struct phloem_config *cfg)
{
	*cfg = s->cfg;
}

int phloem_shed_lease(struct phloem_shed *s, uint32_t timeout_ms,
		      uint64_t now_ns)
{
	if (timeout_ms && (timeout_ms < 100 || timeout_ms > 600000))
		return PHLOEM_SHED_EINVAL;
	if (now_ns > s->now)
		s->now = now_ns;
	if (!timeout_ms) {
		if (s->leased)
			shed_lease_drop(s, 0);
		return 0;
	}
	s->leased = 1;
	s->lease_until = s->now + shed_ms(timeout_ms);
	shed_update_timer(s);
	return 0;
}

int phloem_shed_override(struct phloem_shed *s, uint32_t relay, uint32_t mode,
			 uint32_t expiry_ms, uint64_t now_ns)
{
	struct shed_relay *rl;

	if (relay >= s->nrel || mode >= __PHLOEM_OVERRIDE_MAX ||
	    (mode != PHLOEM_OVERRIDE_AUTO &&
	     (expiry_ms < 1 || expiry_ms > 86400000)))
		return PHLOEM_SHED_EINVAL;
	if (now_ns > s->now)
		s->now = now_ns;
	rl = &s->rl[relay];
	rl->mode = (uint8_t)mode;
	if (mode != PHLOEM_OVERRIDE_AUTO)
		rl->ovr_until = s->now + shed_ms(expiry_ms);
	/*
	 * The operator wants it on: that ends a shed and a staggered wait,
	 * except in the island: a relay the island holds comes back only in
	 * the staggered return (the override is in force from then on).
	 */
	if (mode == PHLOEM_OVERRIDE_ON && !(s->isl_mask & (1U << relay))) {
		rl->shed = 0;
		rl->est = 0;
		rl->fs_hold = 0;
		rl->hold = PHLOEM_HOLD_NONE;
		rl->hold_sent = PHLOEM_HOLD_NONE;
	}
	shed_update_relays(s);
	shed_update_timer(s);
	shed_event(s, PHLOEM_EV_OVERRIDE, PHLOEM_CAUSE_MANUAL, relay,
		   s->cfg.relay[relay].circuit, SHED_NONE, mode, 0, s->now);
	return 0;
}

/* A crossing at @tc: close the cycle if the period is plausible. */
static void shed_crossing(struct phloem_shed *s, uint64_t tc)
{
	uint64_t T = s->period_ns;

	if (s->have_zc && tc > s->last_zc) {
		uint64_t p = tc - s->last_zc;

		/* a harmonic or a spike that slipped past the hysteresis */
		if (p < T * 3 / 4)
			return;
		if (p <= T * 3 / 2 && tc > s->cyc_start) {
			s->state &= ~PHLOEM_STATE_F_NO_MAINS;
			shed_freq_period(s, (uint32_t)p);
			shed_freq_rule(s);
			shed_close(s, tc, (uint32_t)shed_div(1000000000000ULL +
							     p / 2, p, 0));
		}
	}
	s->last_zc = tc;
	s->have_zc = 1;
	shed_update_deadline(s);
	shed_cov_rate(s);
}

/* Zero crossings of v0 and the no-mains fallback; before accumulating. */
static void shed_cycle_timing(struct phloem_shed *s, const int32_t *h,
			      const int32_t *hp, uint64_t now)
{
	uint64_t tc = now;

	/* the instant v0 passed zero, interpolated; else this set's */
	if (s->v0 != SHED_NONE &&
	    shed_zc_step(s, &s->zc_state, h[s->v0], hp[s->v0], now,
			 s->period_ns - 1, &tc))
		shed_crossing(s, tc);
	if (now >= s->deadline) {
		s->state |= PHLOEM_STATE_F_NO_MAINS;
		shed_freq_gap(s);
		shed_freq_rule(s);
		shed_close(s, now, 0);
	}
}

static void shed_instant(struct phloem_shed *s, uint32_t c, uint64_t msq)
{
	struct shed_circ *ci = &s->ci[c];
	/* the window's mean square as an RMS in mA, rounded up */
	uint64_t r = shed_isqrt(msq);
	uint32_t ma = shed_sat32(r * r < msq ? r + 1 : r);

	ci->holdoff_until = s->now + s->win_ns;
	if (!ci->inst_ep) {
		ci->inst_ep = 1;
		shed_event(s, PHLOEM_EV_OVERLOAD, PHLOEM_CAUSE_INSTANT,
			   SHED_NONE, c, ci->ch, ma, ci->thr_ma, s->now);
	}
	shed_one(s, c, SHED_U32_MAX, ci->ch, PHLOEM_CAUSE_INSTANT, ma,
		 ci->thr_ma, s->now);
}

/*
 * Is a circuit's window over its instantaneous threshold? Its oldest set
 * counts for @xw less; *@msq gets the window's mean square (mA^2, rounded
 * up) when it is.
 *
 * The sets of a sampler that stalls close to the 10 ms period of i^2 land
 * at nearly one phase of the wave: a whole-cycle window of 4 to 7 sets at
 * two or three phases near the zeros read a 1.5x overload (56 A^2) as 19
 * to 24 A^2, for a cycle and more. Where each set fell in the wave of the
 * circuit's phase (shed_cov()), weighed as its current, shows it: the
 * window's mean of sin^2 falls short of 1/2. Under 7/8 of 1/2, the
 * current's mean square is scaled by (1/2) / mean (at most
 * SHED_VCOV_MAX): exact for a load in phase with its voltage, high for one
 * out of phase (an earlier shed, only on a sampler that lost its phase
 * coverage), and never lower than the window itself. It is the sets'
 * timing, not the voltage's size: a sag or a swell changes nothing (the
 * voltage's mean square did, and a sag to 70 % read every current 1.43x
 * high). The divisions run only then, or on the way to a shed.
 */
static bool shed_window_over(const struct phloem_shed *s,
			     const struct shed_circ *ci, uint64_t xw,
			     uint64_t *msq)
{
	uint64_t w = s->wwsum - xw;
	uint64_t sum = ci->wsum - ci->win[s->whead] * xw;
	uint32_t p = ci->ph;
	uint64_t cs, k;

	if (sum > ci->thr2 * w) {
		*msq = shed_div(sum + w - 1, w, 0);
		return true;
	}
	if (p >= SHED_NPH || p >= s->nph)
		return false;
	cs = s->csum[p] - (uint64_t)s->cwin[p][s->whead] * xw;
	/* covered: mean sin^2 >= 7/8 of 1/2 (cs < 2^42, w < 2^18) */
	if (cs >= (uint64_t)(SHED_COV_HALF / 8 * 7) * w)
		return false;
	/* k = (1/2) / mean sin^2, Q8 */
	k = cs ? shed_div((uint64_t)SHED_COV_HALF * 256 * w, cs, 0) :
		 SHED_U64_MAX;
	if (k > (SHED_VCOV_MAX << 8))
		k = SHED_VCOV_MAX << 8;
	*msq = (shed_div(sum + w - 1, w, 0) * k) >> 8;
	return *msq > ci->thr2;
}

bool phloem_shed_sample(struct phloem_shed *s, const int32_t *raw,
			uint64_t now_ns)
{
	uint32_t ev0 = s->evpushed, rel0 = s->relays, i, bad = SHED_NONE;
	/* zeroed: a circuit reads its channel's, set below (check_config) */
	uint64_t sq[PHLOEM_MAX_CHANNELS] = { 0 }, w, dt;
	uint32_t slot;
	int32_t *h, *hp;
	uint64_t xw, wc, msq = 0;
	bool full, first;

	if (now_ns > s->now)
		s->now = now_ns;
	/* a gap the watchdog did not catch (tick not called) still counts */
	if (s->now - s->last_good >= s->stale_ns)
		shed_stale(s);
	hp = s->hist[s->hpos & (SHED_HIST - 1)];	/* always is */
	s->hpos = (s->hpos + 1) & (SHED_HIST - 1);
	h = s->hist[s->hpos];

	for (i = 0; i < s->nch; i++) {
		struct shed_chan *ch = &s->ch[i];
		int32_t r = raw[i], d;
		int64_t x;

		if (r < 0 || r > ch->maxraw) {
			/* not a reading this ADC can produce: a failed read */
			bad = i;
			h[i] = 0;
			continue;
		}
		if (r == 0 || r == ch->maxraw)
			ch->flags |= PHLOEM_CHAN_F_CLIPPED;
		/*
		 * (r - off) * gain >> 20, as two products: a 24-bit reading
		 * at 100 V per step (both accepted) needs 2^24 * 2^40.6,
		 * past 64 bits. |r - off| < 2^24 and kh < 2^21, kl < 2^20
		 * keep each product under 2^45, exact (an arithmetic shift
		 * of a*2^20 + b is a + (b >> 20)), and 32x32 bit multiplies
		 * on 32-bit ARM.
		 */
		d = r - ch->off;
		x = (int64_t)d * ch->kh + (((int64_t)d * ch->kl) >> SHED_KSHIFT);
		if (x > SHED_XMAX)
			x = SHED_XMAX;
		else if (x < -SHED_XMAX)
			x = -SHED_XMAX;
		h[i] = (int32_t)x;
	}
	if (bad != SHED_NONE) {
		shed_failsafe(s, bad, PHLOEM_CAUSE_ADC);
		s->have_prev = 0;
		goto out;
	}

	shed_cycle_timing(s, h, hp, s->now);
	shed_cov_track(s, h, hp);
	/* a stage's operate delay ends between crossings: on time */
	if (s->now >= s->fq_due)
		shed_freq_rule(s);
	s->prev_t = s->now;
	s->have_prev = 1;

	/*
	 * The time since the previous set, capped, and the mean of the two
	 * sets over it (trapezoids): a sampler that falls behind gives fewer,
	 * heavier samples, so the means below stay means over time, not over
	 * however many samples happened to arrive.
	 */
	/* after a shed the previous set's current is no longer flowing */
	first = !s->wn || s->no_trap;
	s->no_trap = 0;
	dt = !s->wn ? s->speriod_ns : s->now - s->wprev_t;
	if (dt > s->wcap_ns)
		dt = s->wcap_ns;
	w = dt >> SHED_WSHIFT;
	/* the pace the sampler keeps, and the window it can fill */
	if (s->wn) {
		s->pace_ns -= s->pace_ns >> SHED_PACE_SHIFT;
		s->pace_ns += dt >> SHED_PACE_SHIFT;
		shed_win_size(s);
	}
	/*
	 * The set that opens a cycle brings the time since the previous
	 * one, from before the crossing: every cycle then spans a whole
	 * number of sample intervals, which the mean of sin^2 needs more
	 * than it needs the exact crossing instant.
	 */
	wc = w;
	s->wprev_t = s->now;
	s->cyc_w += wc;

	for (i = 0; i < s->nch; i++) {
		uint64_t x2 = (uint64_t)((int64_t)h[i] * h[i]) >> (2 * SHED_Q);

		sq[i] = (x2 + (first ? x2 : s->psq[i])) >> 1;
		s->psq[i] = x2;
		s->ch[i].sum_sq += sq[i] * wc;
	}
	for (i = 0; i < s->ncur; i++) {
		struct shed_chan *ch = &s->ch[s->cur[i]];
		const int32_t *a = s->hist[(s->hpos - ch->di) & (SHED_HIST - 1)];
		const int32_t *b = s->hist[(s->hpos - ch->di - 1) &
					   (SHED_HIST - 1)];
		/* linear interpolation ch->frac of the way to the older one */
		int64_t d = a[ch->dly] +
			    (((int64_t)(b[ch->dly] - a[ch->dly]) * ch->frac) >> 16);

		int64_t p = (d * h[ch->und]) >> (2 * SHED_Q), sp;

		/*
		 * A term is < 2^59 (|p| <= 2^45, wc < 2^15) and a cycle's sum
		 * < 2^61.5 (its weights < 2^17.5). The clamp costs two
		 * compares and makes the bound hold whatever the order of
		 * calls and times, so the value analysis proves it.
		 */
		sp = ch->sum_p;
		if (sp > SHED_PSUM_MAX)
			sp = SHED_PSUM_MAX;
		else if (sp < -SHED_PSUM_MAX)
			sp = -SHED_PSUM_MAX;
		ch->sum_p = sp + ((p + (first ? p : s->pp[i])) >> 1) *
				 (int64_t)wc;
		s->pp[i] = p;
	}
	s->nsamp++;

	/* drop what is older than the window, and make room for this set */
	while (s->wn && (s->wn == PHLOEM_SHED_WIN_MAX ||
			 s->wt[s->whead] + s->win_ns <= s->now)) {
		for (i = 0; i < s->ncirc; i++)
			s->ci[i].wsum -= s->ci[i].win[s->whead] *
					 s->ww[s->whead];
		for (i = 0; i < s->nph; i++) {
			s->vsum[i] -= s->vwin[i][s->whead] * s->ww[s->whead];
			s->csum[i] -= (uint64_t)s->cwin[i][s->whead] *
				      s->ww[s->whead];
		}
		s->wwsum -= s->ww[s->whead];
		s->whead = (s->whead + 1) & (PHLOEM_SHED_WIN_MAX - 1);
		s->wn--;
	}
	slot = (s->whead + s->wn) & (PHLOEM_SHED_WIN_MAX - 1);
	s->wt[slot] = s->now;
	s->ww[slot] = (uint32_t)w;
	s->wwsum += w;
	s->wn++;
	for (i = 0; i < s->nph; i++) {
		uint32_t c = shed_cov(s, i);
		/* the trapezoid of the currents' squares, over the same time */
		uint32_t cw = (c + (first ? c : s->pcs[i])) >> 1;

		s->vwin[i][slot] = sq[s->vch[i]];
		s->vsum[i] += sq[s->vch[i]] * w;
		s->pcs[i] = c;
		s->cwin[i][slot] = cw;
		s->csum[i] += (uint64_t)cw * w;
	}
	/*
	 * A window is judged only when a few samples cover at least half of
	 * it: one sample near a peak is not an RMS. A sampler too starved to
	 * fill even a cycle's window stops refreshing last_good, and the
	 * stale rule puts the unit in failsafe: it cannot protect, and says
	 * so.
	 */
	full = s->wn >= SHED_WIN_MIN &&
	       s->wwsum >= (s->win_ns >> (SHED_WSHIFT + 1));
	if (full) {
		s->last_good = s->now;
		shed_mains_sample(s);
	}
	/*
	 * The oldest set may stand for time from before the window: leave
	 * that part out, so the window spans exactly its half cycles (the
	 * mean of sin^2 over anything else ripples with the phase).
	 */
	{
		uint64_t lo = s->now - s->win_ns;
		uint64_t start = s->wt[s->whead] -
				 ((uint64_t)s->ww[s->whead] << SHED_WSHIFT);

		xw = s->wn > 1 && lo > start ? (lo - start) >> SHED_WSHIFT : 0;
	}

	/*
	 * Final circuits first, the site last: a final circuit's shed also
	 * relieves the site, and holds the site's rule off (shed_one()).
	 */
	for (i = 1; i <= s->ncirc; i++) {
		uint32_t c = i < s->ncirc ? i : 0;
		struct shed_circ *ci = &s->ci[c];

		ci->win[slot] = sq[ci->ch];
		ci->wsum += sq[ci->ch] * w;
		if (s->now < ci->holdoff_until || !full)
			continue;
		if (shed_window_over(s, ci, xw, &msq)) {
			if (!(s->state & PHLOEM_STATE_F_FAILSAFE))
				shed_instant(s, c, msq);
		} else {
			ci->inst_ep = 0;
		}
	}
out:
	if (s->now >= s->next_timer)
		shed_timers(s);
	return s->relays != rel0 || s->evpushed != ev0;
}

bool phloem_shed_fault(struct phloem_shed *s, uint32_t channel,
		       uint32_t cause, uint64_t now_ns)
{
	uint32_t ev0 = s->evpushed, rel0 = s->relays;

	if (now_ns > s->now)
		s->now = now_ns;
	shed_failsafe(s, channel, cause);
	s->have_prev = 0;
	return s->relays != rel0 || s->evpushed != ev0;
}

bool phloem_shed_tick(struct phloem_shed *s, uint64_t now_ns)
{
	uint32_t ev0 = s->evpushed, rel0 = s->relays;

	if (now_ns > s->now)
		s->now = now_ns;
	if (s->now >= s->next_timer)
		shed_timers(s);
	if (s->now - s->last_good >= s->stale_ns)
		shed_stale(s);
	shed_sig_poll(s);
	return s->relays != rel0 || s->evpushed != ev0;
}

bool phloem_shed_signal(struct phloem_shed *s, uint32_t lines, uint64_t now_ns)
{
	uint32_t ev0 = s->evpushed, rel0 = s->relays;

	lines &= s->sig_all;
	if (lines == s->sig_raw && lines == s->sig_state)
		return false;	/* the per-sample path: nothing moves */
	if (now_ns > s->now)
		s->now = now_ns;
	if (lines != s->sig_raw) {
		s->sig_raw = lines;
		s->sig_since = s->now;
	}
	shed_sig_poll(s);
	return s->relays != rel0 || s->evpushed != ev0;
}

uint32_t phloem_shed_relays(const struct phloem_shed *s)
{
	return s->relays;
}

bool phloem_shed_pop_event(struct phloem_shed *s, struct phloem_rec_event *ev,
			   uint64_t *time_ns)
{
	const struct shed_ev *e;

	if (!s->evcount)
		return 0;
	e = &s->evq[s->evhead & (PHLOEM_SHED_EVQ - 1)];	/* always is */
	*ev = e->ev;
	*time_ns = e->time_ns;
	s->evhead = (s->evhead + 1) & (PHLOEM_SHED_EVQ - 1);
	s->evcount--;
	return 1;
}

uint64_t phloem_shed_events_lost(const struct phloem_shed *s)
{
	return s->evlost;
}

static int shed_boot_limits(const struct phloem_shed *s)
{
	uint32_t c;

	if (s->cfg.site_import_limit_mw != s->boot.site_import_limit_mw)
		return 0;
	for (c = 0; c < s->ncirc; c++)
		if (s->cfg.circuit[c].limit_ma != s->boot.circuit[c].limit_ma)
			return 0;
	return 1;
}

static int shed_freq_operated(const struct phloem_shed *s)
{
	uint32_t k;

	for (k = 0; k < PHLOEM_FREQ_STAGES; k++)
		if (s->fs[k].state >= PHLOEM_FREQ_OPERATED)
			return 1;
	return 0;
}

static uint32_t shed_state(const struct phloem_shed *s)
{
	uint32_t st = s->state;

	if (s->leased)
		st |= PHLOEM_STATE_F_LEASED;
	if (shed_boot_limits(s))
		st |= PHLOEM_STATE_F_BOOT_LIMITS;
	if (s->shedmask)
		st |= PHLOEM_STATE_F_SHEDDING;
	if (shed_freq_operated(s))
		st |= PHLOEM_STATE_F_UNDER_FREQ;
	if (s->fq_over)
		st |= PHLOEM_STATE_F_OVER_FREQ;
	if (s->sig_state)
		st |= PHLOEM_STATE_F_GRID_SIGNAL;
	if (s->imb_ep || s->ph_ep[0] || s->ph_ep[1] || s->ph_ep[2])
		st |= PHLOEM_STATE_F_PHASE;
	if (s->mn_state == PHLOEM_MAINS_OUTAGE ||
	    s->mn_state == PHLOEM_MAINS_RETURN)
		st |= PHLOEM_STATE_F_ISLAND;
	if (s->uv_ep)
		st |= PHLOEM_STATE_F_UNDER_VOLTAGE;
	return st;
}

bool phloem_shed_pop_cycle(struct phloem_shed *s, struct phloem_rec_cycle *c,
			   uint64_t *time_ns)
{
	if (!s->cyc_ready)
		return 0;
	*c = s->cyc;
	c->state = shed_state(s);
	*time_ns = s->cyc_time;
	s->cyc_ready = 0;
	return 1;
}

static uint32_t shed_left_ms(uint64_t until, uint64_t now)
{
	return until > now ? shed_sat32(shed_div(until - now + NS_PER_MS - 1,
						 NS_PER_MS, 0)) : 0;
}

void phloem_shed_status(const struct phloem_shed *s, struct phloem_status *st,
			uint64_t now_ns)
{
	uint64_t now = now_ns > s->now ? now_ns : s->now;
	int fs = !!(s->state & PHLOEM_STATE_F_FAILSAFE);
	uint32_t i;

	st->state = shed_state(s);
	st->time_ns = now;
	st->lease_left_ms = s->leased ? shed_left_ms(s->lease_until, now) : 0;
	st->site_p_mw = s->site_mw;
	st->freq_mhz = s->freq_mhz;
	st->vrms_mv = s->v0 == SHED_NONE ? 0 : s->ch[s->v0].rms;
	for (i = 0; i < PHLOEM_MAX_CIRCUITS; i++) {
		struct phloem_circuit_status *cs = &st->circuit[i];

		cs->irms_ma = 0;
		cs->limit_ma = 0;
		cs->heat_permille = 0;
		cs->reserved = 0;
		if (i >= s->ncirc)
			continue;
		cs->irms_ma = s->ci[i].irms;
		cs->limit_ma = s->cfg.circuit[i].limit_ma;
		cs->heat_permille = (uint32_t)shed_div(s->ci[i].heat * 1000,
						       SHED_BUDGET, 0);
	}
	for (i = 0; i < PHLOEM_MAX_RELAYS; i++) {
		struct phloem_relay_status *rs = &st->relay[i];
		const struct shed_relay *rl = &s->rl[i];

		rs->on = 0;
		rs->reason = PHLOEM_RELAY_AUTO;
		rs->backoff = 0;
		rs->override = PHLOEM_OVERRIDE_AUTO;
		rs->shed_count = 0;
		rs->restore_in_ms = 0;
		rs->load_ma = 0;
		st->hold[i] = PHLOEM_HOLD_NONE;
		if (i >= s->nrel)
			continue;
		rs->on = !!(s->relays & (1U << i));
		rs->backoff = rl->backoff;
		rs->override = rl->mode;
		rs->shed_count = rl->shed_count;
		rs->load_ma = rl->load_ma;
		if (fs) {
			rs->reason = PHLOEM_RELAY_SAFE;
		} else if (rl->mode != PHLOEM_OVERRIDE_AUTO && !rl->shed) {
			rs->reason = PHLOEM_RELAY_MANUAL;
			rs->restore_in_ms = shed_left_ms(rl->ovr_until, now);
		} else if (rl->shed) {
			rs->reason = PHLOEM_RELAY_SHED;
			rs->restore_in_ms = shed_left_ms(rl->off_until, now);
			if (!rs->restore_in_ms && rl->hold == PHLOEM_HOLD_NO_FIT)
				rs->restore_in_ms = shed_left_ms(rl->try_ns, now);
			st->hold[i] = rl->hold;
		}
	}
	st->freq_est_mhz = s->fq_mhz;
	for (i = 0; i < PHLOEM_FREQ_STAGES; i++) {
		const struct phloem_freq_stage *fc = &s->cfg.freq_stage[i];
		const struct shed_fstage *fs = &s->fs[i];

		st->freq_stage[i] = fs->state;
		st->freq_left_ms[i] =
			fs->state == PHLOEM_FREQ_PENDING ?
			shed_left_ms(fs->since + shed_ms(fc->delay_ms), now) :
			fs->state == PHLOEM_FREQ_RECOVERING ?
			shed_left_ms(fs->since + shed_ms(fc->restore_ms), now) :
			0;
	}
	for (i = 0; i < PHLOEM_MAX_CHANNELS; i++) {
		st->energy[i].import_mwh = i < s->nch ? s->ch[i].imp_mwh : 0;
		st->energy[i].export_mwh = i < s->nch ? s->ch[i].exp_mwh : 0;
	}
	st->signal_state = s->sig_state;
	st->import_cap_mw = s->imp_lim;
	for (i = 0; i < SHED_NPH; i++) {
		uint32_t lim = s->cfg.phase_limit_ma[i];

		st->phase_ma[i] = s->ph_ma[i];
		st->phase_mva[i] = s->ph_mva[i];
		st->phase_state[i] =
			s->pch[i] >= s->nch ? PHLOEM_PHASE_NONE :
			s->ph_ep[i] ? PHLOEM_PHASE_OVER :
			s->imb_ep && s->imb_hi == i ? PHLOEM_PHASE_HEAVY :
			(lim && s->ph_ma[i] > s->ph_rma[i]) ||
			(s->cfg.imbalance_ma &&
			 s->ph_ma[i] > (uint64_t)s->ph_lo[i] + s->imb_rma) ||
			(s->cfg.imbalance_mva &&
			 s->ph_mva[i] > (uint64_t)s->ph_lo_mva[i] + s->imb_rmva) ?
			PHLOEM_PHASE_FULL : PHLOEM_PHASE_OK;
	}
	st->phase_reserved = 0;
	st->imbalance_ma = s->nmph >= 2 ? s->ph_max_ma - s->ph_min : 0;
	st->imbalance_mva = s->nmph >= 2 ? s->ph_max_mva - s->ph_min_mva : 0;
	for (i = 0; i < SHED_NPH; i++) {
		st->phase_vrms_mv[i] = i < s->nph ?
			s->ch[s->vch[i] % PHLOEM_MAX_CHANNELS].rms : 0;
		st->volt_state[i] = i < s->nph ? s->vst[i] : PHLOEM_VOLT_NONE;
	}
	st->mains_state = s->mn_state;
	st->return_left_ms = 0;
	if (s->mn_state == PHLOEM_MAINS_OUTAGE) {
		uint32_t rms = s->cfg.return_ms ? s->cfg.return_ms :
			       PHLOEM_RETURN_MS_DEFAULT;

		st->return_left_ms = s->mn_stable_since == SHED_NEVER ? rms :
			shed_left_ms(s->mn_stable_since + shed_ms(rms), now);
	}
	st->mains_reserved = 0;
	st->outage_ms = 0;
	if (s->mn_isl_since != SHED_NEVER &&
	    (s->mn_state == PHLOEM_MAINS_OUTAGE ||
	     s->mn_state == PHLOEM_MAINS_RETURN)) {
		uint64_t end = s->mn_isl_end == SHED_NEVER ? now : s->mn_isl_end;

		st->outage_ms = end > s->mn_isl_since ?
			shed_sat32(shed_div(end - s->mn_isl_since, NS_PER_MS, 0)) : 0;
	}
}

void phloem_shed_counters(const struct phloem_shed *s,
			  struct phloem_stats *st)
{
	st->cycles = s->cycles;
	st->sheds = s->sheds;
	st->restores = s->restores;
	st->failsafes = s->failsafes;
	st->lease_expiries = s->lease_expiries;
}

uint32_t phloem_shed_trip_ms(uint32_t curve, uint32_t mult_milli)
{
	uint64_t m2;
	uint32_t mag;

	if (curve >= __PHLOEM_CURVE_MAX || mult_milli <= SHED_NOTRIP_MILLI)
		return SHED_U32_MAX;
	mag = curve == PHLOEM_CURVE_B ? 3000 : curve == PHLOEM_CURVE_C ? 5000 :
	      10000;
	if (mult_milli >= mag)
		return SHED_MAG_MS;
	/* 60 s / (x^2 - 1), x = mult / 1000 */
	m2 = (uint64_t)mult_milli * mult_milli - 1000000;
	return (uint32_t)shed_div(60000ULL * 1000000, m2, 0);
}
