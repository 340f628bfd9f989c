/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloem_sim: a simulated metering HAT.
 *
 * Each instance ("hat") is what a real board would put under the phloem
 * driver: an MCP3208 on an SPI bus (our own controller answers the MCP3208
 * serial protocol, so the mainline mcp320x IIO driver binds on top of it), a
 * bank of 8 relays behind a sleeping gpio_chip, and a "phloem" platform
 * device described by software nodes that carry the phloem,hat binding. The
 * analog side is a model: a mains voltage and per-channel current waveforms
 * plus relay loads that flow only while their relay line is 1, so shedding a
 * relay really changes what the ADC returns. Everything is steered from
 * debugfs (see docs/sim.md).
 */
#ifndef PHLOEM_SIM_H
#define PHLOEM_SIM_H

#include <linux/gpio/driver.h>
#include <linux/gpio/machine.h>
#include <linux/mutex.h>
#include <linux/property.h>
#include <linux/types.h>
#include <linux/wait.h>

#define PHLOEM_SIM_MAX_HATS	4
#define PHLOEM_SIM_ADC_INPUTS	8	/* MCP3208 CH0..CH7 */
#define PHLOEM_SIM_CHANNELS	8	/* inputs wired in the three-phase house */
#define PHLOEM_SIM_CHANNELS_1PH	5	/* ... and in the single-phase one */
#define PHLOEM_SIM_CIRCUITS	4
#define PHLOEM_SIM_RELAYS	8
#define PHLOEM_SIM_SIGNALS	2	/* grid-operator contacts K1, K2 */
#define PHLOEM_SIM_LOG_LEN	512
#define PHLOEM_SIM_ADC_MAX	4095	/* 12 bits */
#define PHLOEM_SIM_ADC_MID	2048	/* bias of every input */
#define PHLOEM_SIM_NAME_LEN	32
#define PHLOEM_SIM_MAINS_PROPS	10	/* phloem,nominal-mv .. uv-shed-ms */

/* Limits of the debugfs knobs; writes outside them are -EINVAL. */
#define PHLOEM_SIM_FREQ_MIN_MHZ	10000
#define PHLOEM_SIM_FREQ_MAX_MHZ	100000
#define PHLOEM_SIM_RMS_MAX	2000000	/* mA or mV */
#define PHLOEM_SIM_LOAD_MAX_MA	1000000
#define PHLOEM_SIM_PHASE_MAX	180000	/* mdeg, either sign */
#define PHLOEM_SIM_HARM_MAX_PCT	100
#define PHLOEM_SIM_STEP_MAX_MS	3600000
#define PHLOEM_SIM_ADC_DELAY_MAX_US	20000
#define PHLOEM_SIM_PPM_MAX	1000000
#define PHLOEM_SIM_RAMP_MAX_MHZ_S	100000	/* 100 Hz/s, either sign */
#define PHLOEM_SIM_NOISE_MAX_LSB	512

struct phloem_sim_hat;

/**
 * struct phloem_sim_step - a value change armed for a future instant
 * @at_ns: CLOCK_MONOTONIC instant at which @value takes effect
 * @value: the staged value (written through step_rms / step_load_ma)
 * @armed: @at_ns is pending; cleared once the step has been applied
 *
 * Protected by the owning hat's @lock.
 */
struct phloem_sim_step {
	u64 at_ns;
	u32 value;
	bool armed;
};

/**
 * struct phloem_sim_chan - the analog signal on one wired ADC input
 * @hat: owning instance (for its lock)
 * @index: ADC input number
 * @scale_micro: uV or uA per LSB (fixed by the topology)
 * @rms: base RMS of the fundamental, mV for channel 0 (the mains voltage,
 *	also exposed as vrms_mv), mA for the current channels
 * @phase_mdeg: phase of the fundamental; positive lags the mains angle
 * @h3_pct: third harmonic, percent of the fundamental
 * @h5_pct: fifth harmonic, percent of the fundamental
 * @step: armed change of @rms
 * @fault: transfers that select this input fail with -EIO
 *
 * All fields but @hat, @index and @scale_micro are protected by the hat's
 * @lock.
 */
struct phloem_sim_chan {
	struct phloem_sim_hat *hat;
	unsigned int index;
	u32 scale_micro;
	u32 rms;
	s32 phase_mdeg;
	u32 h3_pct;
	u32 h5_pct;
	struct phloem_sim_step step;
	bool fault;
};

/**
 * struct phloem_sim_relay - the load switched by one relay line
 * @hat: owning instance (for its lock)
 * @index: gpio line
 * @chan: ADC input of the circuit CT the load flows through
 * @load_ma: RMS current drawn while the line is 1
 * @phase_mdeg: phase of that current; positive lags the mains angle
 * @step: armed change of @load_ma
 *
 * @load_ma, @phase_mdeg and @step are protected by the hat's @lock.
 */
struct phloem_sim_relay {
	struct phloem_sim_hat *hat;
	unsigned int index;
	unsigned int chan;
	u32 load_ma;
	s32 phase_mdeg;
	struct phloem_sim_step step;
};

/**
 * struct phloem_sim_log_entry - one relay line change
 * @t_ns: CLOCK_MONOTONIC time the line took its new value
 * @line: gpio line
 * @value: new value
 */
struct phloem_sim_log_entry {
	u64 t_ns;
	u8 line;
	u8 value;
};

/**
 * enum phloem_sim_mcp_state - where the MCP3208 is in its serial frame
 * @PHLOEM_SIM_MCP_IDLE: waiting for the start bit (DOUT high-Z, reads 0)
 * @PHLOEM_SIM_MCP_CONFIG: clocking in SGL/DIFF, D2, D1, D0
 * @PHLOEM_SIM_MCP_SAMPLE: the sampling clock after D0
 * @PHLOEM_SIM_MCP_NULL: the null bit (DOUT 0)
 * @PHLOEM_SIM_MCP_MSB: B11..B0, most significant first
 * @PHLOEM_SIM_MCP_LSB: B1..B11 again, least significant first (the chip
 *	does this when CS stays low after B0)
 * @PHLOEM_SIM_MCP_DONE: zeros until CS is released
 */
enum phloem_sim_mcp_state {
	PHLOEM_SIM_MCP_IDLE,
	PHLOEM_SIM_MCP_CONFIG,
	PHLOEM_SIM_MCP_SAMPLE,
	PHLOEM_SIM_MCP_NULL,
	PHLOEM_SIM_MCP_MSB,
	PHLOEM_SIM_MCP_LSB,
	PHLOEM_SIM_MCP_DONE,
};

/**
 * struct phloem_sim_mcp - serial state of the emulated MCP3208
 * @state: position in the frame
 * @bits: bits clocked in the current state
 * @cfg: SGL/DIFF and D2..D0 as received (4 bits)
 * @code: the 12-bit conversion result being shifted out
 *
 * Not under the hat's lock: the SPI core runs one message at a time per
 * controller (under its io_mutex, also held by spi_setup() when it moves
 * chip select), and each hat has a controller of its own.
 */
struct phloem_sim_mcp {
	enum phloem_sim_mcp_state state;
	unsigned int bits;
	u8 cfg;
	u16 code;
};

/**
 * struct phloem_sim_hat - one simulated HAT
 * @id: instance number: platform devices phloem.<id> and phloem-sim.<id>
 * @nchan: wired ADC inputs: %PHLOEM_SIM_CHANNELS_1PH for the single-phase
 *	house, %PHLOEM_SIM_CHANNELS for the three-phase one (phases=3)
 * @three_phase: inputs 5 and 6 are L2 and L3, and every input is taken at
 *	its line's angle (120 and 240 degrees behind L1)
 * @lock: protects the analog model (@freq_mhz, @anchor_ns, @anchor_phase,
 *	@chan, @relay but for their constant fields), the relay line values
 *	@lines, the change log (@log, @log_head, @log_count) and @step_at_ns.
 *	A mutex: every user (SPI transfer, sleeping gpio_chip, debugfs) may
 *	sleep.
 * @freq_mhz: mains frequency
 * @anchor_ns: time at which the mains angle was @anchor_phase; moved on
 *	every frequency change so that the waveform stays continuous
 * @anchor_phase: mains angle at @anchor_ns, 2^32 per cycle
 * @ramp_mhz_s: the frequency moves at this rate (mHz/s, signed) from
 *	@ramp_from_mhz at @ramp_ns until it reaches @ramp_to_mhz; 0: no ramp
 * @ramp_to_mhz: where a ramp stops
 * @ramp_from_mhz: frequency when the ramp started
 * @ramp_ns: when it started
 * @noise_lsb: the mains voltage input gets uniform noise of +-this many
 *	codes on every conversion (READ_ONCE/WRITE_ONCE, no lock)
 * @chan: the wired ADC inputs (the others read mid-scale: zero)
 * @relay: the relay loads
 * @lines: relay line values, bit N = line N
 * @log: ring of the last %PHLOEM_SIM_LOG_LEN line changes
 * @log_head: next slot of @log to write
 * @log_count: valid entries in @log
 * @step_at_ns: instant of the most recently armed step (0: none yet)
 * @stall: while true, SPI transfers block (READ_ONCE/WRITE_ONCE, no lock)
 * @adc_delay_us: every conversion takes this long (a slow ADC or bus)
 * @adc_jitter_us: plus up to this much more, at random
 * @adc_lost_ppm: conversions that fail with -EIO at random, per million
 *	(lost reads); these three are READ_ONCE/WRITE_ONCE, no lock
 * @dying: set on unload to release stalled transfers for good
 * @stall_wq: where stalled transfers wait for @stall or @dying to change
 * @mcp: serial state of the emulated ADC
 * @sim_pdev: "phloem-sim.<id>", parent of the controller and the gpio_chip
 * @ctlr: the emulated SPI controller
 * @adc: the MCP3208 on it, driven by mcp320x
 * @gc: the relay gpio_chip
 * @gc_label: @gc's label, the key of @lookup's entries
 * @line_names: "hat<id>-<relay label>", unique across instances
 * @line_name_ptrs: @line_names as the array gpiolib wants
 * @lookup: gpiod lookup table that gives phloem.<id> its "relay" gpios
 * @dev_id: "phloem.<id>", @lookup's device
 * @pdev: the "phloem" platform device the real driver binds to
 * @adc_name: software node name of the ADC
 * @hat_name: software node name of the HAT
 * @adc_node: software node of the ADC (#io-channel-cells)
 * @hat_node: software node of the HAT (the phloem,hat binding)
 * @chan_nodes: channel@N children of @hat_node
 * @circuit_nodes: circuit@N children of @hat_node
 * @relay_nodes: relay@N children of @hat_node
 * @node_group: all the nodes above, parents first, NULL-terminated
 * @io_refs: io-channels references to @adc_node
 * @adc_props: properties of @adc_node
 * @hat_props: properties of @hat_node (the mains rules' only when their
 *	parameters are given)
 * @chan_props: properties of @chan_nodes
 * @circuit_props: properties of @circuit_nodes
 * @relay_props: properties of @relay_nodes
 * @contacts: grid-operator contacts closed, bit N = K(N+1); a closed
 *	contact pulls its input line low (READ_ONCE/WRITE_ONCE, no lock: the
 *	lines are read from the sampling thread, which must not wait on @lock)
 * @sig_gc: input gpio_chip "phloem-sim-signals.<id>" of the contacts
 * @sig_label: @sig_gc's label
 * @sig_names: "hat<id>-K1".., @sig_gc's line names
 * @sig_name_ptrs: @sig_names as the array gpiolib wants
 * @dbg: debugfs directory hat<id>
 */
struct phloem_sim_hat {
	unsigned int id;
	unsigned int nchan;
	bool three_phase;

	struct mutex lock;	/* the model, @lines and the log: see above */
	u32 freq_mhz;
	u64 anchor_ns;
	u32 anchor_phase;
	s32 ramp_mhz_s;
	u32 ramp_to_mhz, ramp_from_mhz;
	u64 ramp_ns;
	u32 noise_lsb;
	struct phloem_sim_chan chan[PHLOEM_SIM_CHANNELS];
	struct phloem_sim_relay relay[PHLOEM_SIM_RELAYS];
	unsigned long lines;
	struct phloem_sim_log_entry log[PHLOEM_SIM_LOG_LEN];
	unsigned int log_head;
	unsigned int log_count;
	u64 step_at_ns;

	bool stall;
	bool dying;
	u32 adc_delay_us;
	u32 adc_jitter_us;
	u32 adc_lost_ppm;
	wait_queue_head_t stall_wq;

	struct phloem_sim_mcp mcp;

	struct platform_device *sim_pdev;
	struct spi_controller *ctlr;
	struct spi_device *adc;
	struct gpio_chip gc;
	char gc_label[PHLOEM_SIM_NAME_LEN];
	char line_names[PHLOEM_SIM_RELAYS][PHLOEM_SIM_NAME_LEN];
	const char *line_name_ptrs[PHLOEM_SIM_RELAYS];
	struct gpiod_lookup_table *lookup;
	char dev_id[PHLOEM_SIM_NAME_LEN];
	struct platform_device *pdev;

	char adc_name[PHLOEM_SIM_NAME_LEN];
	char hat_name[PHLOEM_SIM_NAME_LEN];
	struct software_node adc_node;
	struct software_node hat_node;
	struct software_node chan_nodes[PHLOEM_SIM_CHANNELS];
	struct software_node circuit_nodes[PHLOEM_SIM_CIRCUITS];
	struct software_node relay_nodes[PHLOEM_SIM_RELAYS];
	const struct software_node *node_group[2 + PHLOEM_SIM_CHANNELS +
					       PHLOEM_SIM_CIRCUITS +
					       PHLOEM_SIM_RELAYS + 1];
	struct software_node_ref_args io_refs[PHLOEM_SIM_CHANNELS];
	struct property_entry adc_props[2];
	struct property_entry hat_props[13 + PHLOEM_SIM_MAINS_PROPS];
	struct property_entry chan_props[PHLOEM_SIM_CHANNELS][4];
	struct property_entry circuit_props[PHLOEM_SIM_CIRCUITS][7];
	struct property_entry relay_props[PHLOEM_SIM_RELAYS][8];

	unsigned long contacts;
	struct gpio_chip sig_gc;
	char sig_label[PHLOEM_SIM_NAME_LEN];
	char sig_names[PHLOEM_SIM_SIGNALS][PHLOEM_SIM_NAME_LEN];
	const char *sig_name_ptrs[PHLOEM_SIM_SIGNALS];

	struct dentry *dbg;
};

/* the line (0 = L1) of ADC input @input: its phase in the three-phase house */
unsigned int phloem_sim_line(const struct phloem_sim_hat *hat,
			     unsigned int input);

/* sim_wave.c: the analog model; callers hold hat->lock. */
void phloem_sim_wave_init(struct phloem_sim_hat *hat, u64 now);
void phloem_sim_wave_apply_steps(struct phloem_sim_hat *hat, u64 now);
void phloem_sim_wave_set_freq(struct phloem_sim_hat *hat, u32 freq_mhz,
			      u64 now);
int phloem_sim_wave_sample(struct phloem_sim_hat *hat, unsigned int input,
			   u64 now);
s32 phloem_sim_sin_q15(u32 phase);

/* sim_spi.c */
int phloem_sim_spi_init(struct phloem_sim_hat *hat,
			const struct software_node *adc_node);
void phloem_sim_spi_uninit(struct phloem_sim_hat *hat);

/* sim_gpio.c */
int phloem_sim_gpio_init(struct phloem_sim_hat *hat);
void phloem_sim_gpio_uninit(struct phloem_sim_hat *hat);
void phloem_sim_gpio_log_clear(struct phloem_sim_hat *hat);
int phloem_sim_signal_init(struct phloem_sim_hat *hat);
void phloem_sim_signal_uninit(struct phloem_sim_hat *hat);

/* sim_debugfs.c */
int phloem_sim_debugfs_init(void);
void phloem_sim_debugfs_uninit(void);
void phloem_sim_debugfs_hat_init(struct phloem_sim_hat *hat);
void phloem_sim_debugfs_hat_uninit(struct phloem_sim_hat *hat);

extern unsigned int phloem_sim_relay_delay_us;

#endif /* PHLOEM_SIM_H */
