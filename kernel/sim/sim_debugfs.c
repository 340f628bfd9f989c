// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs control of the simulated HATs: /sys/kernel/debug/phloem_sim/hat<N>/
 * (the file list and units are in docs/sim.md).
 *
 * Every knob is a DEFINE_DEBUGFS_ATTRIBUTE file created with
 * debugfs_create_file_unsafe(): the attribute read/write helpers take the
 * debugfs reference that keeps the hat alive against removal, and each
 * get/set takes the hat's lock. A value out of range is -EINVAL and leaves
 * the model untouched.
 */
#include <linux/debugfs.h>
#include <linux/ktime.h>
#include <linux/seq_file.h>

#include "sim.h"

static struct dentry *phloem_sim_dbg_root;

/* Read @field of the object at @data (of @type, with a ->hat) under lock. */
#define PHLOEM_SIM_GETTER(name, type, expr)				\
static int name(void *data, u64 *val)					\
{									\
	type *obj = data;						\
	struct phloem_sim_hat *hat = obj->hat;				\
									\
	mutex_lock(&hat->lock);						\
	phloem_sim_wave_apply_steps(hat, ktime_get_ns());		\
	*val = (expr);							\
	mutex_unlock(&hat->lock);					\
	return 0;							\
}

/*
 * Unsigned knob @field of @type in [lo, hi]: fops @stem##_fops. A write
 * first commits the steps already due, as a read does: a step armed before
 * the write, whose instant has passed, must not land after it (a load set
 * to 0 while the sampler was stalled would come back with the step's
 * value at the next conversion).
 */
#define PHLOEM_SIM_U32_ATTR(stem, type, field, lo, hi)			\
PHLOEM_SIM_GETTER(stem##_get, type, obj->field)				\
static int stem##_set(void *data, u64 val)			\
{									\
	type *obj = data;						\
									\
	if (val < (lo) || val > (hi))					\
		return -EINVAL;						\
	mutex_lock(&obj->hat->lock);					\
	phloem_sim_wave_apply_steps(obj->hat, ktime_get_ns());		\
	obj->field = val;						\
	mutex_unlock(&obj->hat->lock);					\
	return 0;							\
}									\
DEFINE_DEBUGFS_ATTRIBUTE(stem##_fops, stem##_get, stem##_set, "%llu\n")

/* Signed knob @field of @type in [lo, hi]: fops @stem##_fops. */
#define PHLOEM_SIM_S32_ATTR(stem, type, field, lo, hi)			\
PHLOEM_SIM_GETTER(stem##_get, type, (s64)obj->field)			\
static int stem##_set(void *data, u64 val)			\
{									\
	type *obj = data;						\
	s64 v = (s64)val;						\
									\
	if (v < (lo) || v > (hi))					\
		return -EINVAL;						\
	mutex_lock(&obj->hat->lock);					\
	phloem_sim_wave_apply_steps(obj->hat, ktime_get_ns());		\
	obj->field = v;							\
	mutex_unlock(&obj->hat->lock);					\
	return 0;							\
}									\
DEFINE_DEBUGFS_ATTRIBUTE_SIGNED(stem##_fops, stem##_get, stem##_set,	\
				"%lld\n")

/*
 * Arm @step of @type: @ms from now its staged value takes effect. The
 * instant is also published as the hat's step_at_ns. A step already due is
 * committed first, with the value it was staged with.
 */
#define PHLOEM_SIM_STEP_ATTR(prefix, type)				\
static int prefix##_step_in_ms_set(void *data, u64 val)			\
{									\
	type *obj = data;						\
	struct phloem_sim_hat *hat = obj->hat;				\
									\
	if (val > PHLOEM_SIM_STEP_MAX_MS)				\
		return -EINVAL;						\
	mutex_lock(&hat->lock);						\
	phloem_sim_wave_apply_steps(hat, ktime_get_ns());		\
	obj->step.at_ns = ktime_get_ns() + val * NSEC_PER_MSEC;		\
	obj->step.armed = true;						\
	hat->step_at_ns = obj->step.at_ns;				\
	mutex_unlock(&hat->lock);					\
	return 0;							\
}									\
DEFINE_DEBUGFS_ATTRIBUTE(prefix##_step_in_ms_fops, NULL,		\
			 prefix##_step_in_ms_set, "%llu\n")

/* ch<K>/ */
PHLOEM_SIM_U32_ATTR(phloem_sim_chan_rms, struct phloem_sim_chan, rms, 0,
		    PHLOEM_SIM_RMS_MAX);
PHLOEM_SIM_S32_ATTR(phloem_sim_chan_phase, struct phloem_sim_chan, phase_mdeg,
		    -PHLOEM_SIM_PHASE_MAX, PHLOEM_SIM_PHASE_MAX);
PHLOEM_SIM_U32_ATTR(phloem_sim_chan_h3, struct phloem_sim_chan, h3_pct, 0,
		    PHLOEM_SIM_HARM_MAX_PCT);
PHLOEM_SIM_U32_ATTR(phloem_sim_chan_h5, struct phloem_sim_chan, h5_pct, 0,
		    PHLOEM_SIM_HARM_MAX_PCT);
PHLOEM_SIM_U32_ATTR(phloem_sim_chan_step_rms, struct phloem_sim_chan,
		    step.value, 0, PHLOEM_SIM_RMS_MAX);
PHLOEM_SIM_U32_ATTR(phloem_sim_chan_fault, struct phloem_sim_chan, fault, 0, 1);
PHLOEM_SIM_STEP_ATTR(phloem_sim_chan, struct phloem_sim_chan);

/* relay<R>/ */
PHLOEM_SIM_U32_ATTR(phloem_sim_relay_load, struct phloem_sim_relay, load_ma,
		    0, PHLOEM_SIM_LOAD_MAX_MA);
PHLOEM_SIM_S32_ATTR(phloem_sim_relay_phase, struct phloem_sim_relay,
		    phase_mdeg, -PHLOEM_SIM_PHASE_MAX, PHLOEM_SIM_PHASE_MAX);
PHLOEM_SIM_U32_ATTR(phloem_sim_relay_step_load, struct phloem_sim_relay,
		    step.value, 0, PHLOEM_SIM_LOAD_MAX_MA);
PHLOEM_SIM_STEP_ATTR(phloem_sim_relay, struct phloem_sim_relay);

/* hat<N>/: these take the hat itself as data. */
static int phloem_sim_freq_get(void *data, u64 *val)
{
	struct phloem_sim_hat *hat = data;

	mutex_lock(&hat->lock);
	*val = hat->freq_mhz;
	mutex_unlock(&hat->lock);
	return 0;
}

static int phloem_sim_freq_set(void *data, u64 val)
{
	struct phloem_sim_hat *hat = data;

	if (val < PHLOEM_SIM_FREQ_MIN_MHZ || val > PHLOEM_SIM_FREQ_MAX_MHZ)
		return -EINVAL;
	mutex_lock(&hat->lock);
	/* a frequency written is a step: it ends a ramp */
	hat->ramp_mhz_s = 0;
	phloem_sim_wave_set_freq(hat, val, ktime_get_ns());
	mutex_unlock(&hat->lock);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(phloem_sim_freq_fops, phloem_sim_freq_get,
			 phloem_sim_freq_set, "%llu\n");

/*
 * freq_ramp_mhz_s: a write starts a ramp from the frequency now, at this
 * rate (mHz/s, signed), to freq_ramp_to_mhz (write that first); 0 stops
 * it where it is. Reads give the rate, 0 once the ramp has arrived.
 */
static int phloem_sim_ramp_get(void *data, u64 *val)
{
	struct phloem_sim_hat *hat = data;

	mutex_lock(&hat->lock);
	phloem_sim_wave_apply_steps(hat, ktime_get_ns());
	*val = (s64)hat->ramp_mhz_s;
	mutex_unlock(&hat->lock);
	return 0;
}

static int phloem_sim_ramp_set(void *data, u64 val)
{
	struct phloem_sim_hat *hat = data;
	s64 v = (s64)val;
	u64 now = ktime_get_ns();

	if (v < -PHLOEM_SIM_RAMP_MAX_MHZ_S || v > PHLOEM_SIM_RAMP_MAX_MHZ_S)
		return -EINVAL;
	mutex_lock(&hat->lock);
	phloem_sim_wave_apply_steps(hat, now);
	hat->ramp_from_mhz = hat->freq_mhz;
	hat->ramp_ns = now;
	hat->ramp_mhz_s = v;
	mutex_unlock(&hat->lock);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE_SIGNED(phloem_sim_ramp_fops, phloem_sim_ramp_get,
				phloem_sim_ramp_set, "%lld\n");

static int phloem_sim_ramp_to_get(void *data, u64 *val)
{
	struct phloem_sim_hat *hat = data;

	mutex_lock(&hat->lock);
	*val = hat->ramp_to_mhz;
	mutex_unlock(&hat->lock);
	return 0;
}

static int phloem_sim_ramp_to_set(void *data, u64 val)
{
	struct phloem_sim_hat *hat = data;

	if (val < PHLOEM_SIM_FREQ_MIN_MHZ || val > PHLOEM_SIM_FREQ_MAX_MHZ)
		return -EINVAL;
	mutex_lock(&hat->lock);
	phloem_sim_wave_apply_steps(hat, ktime_get_ns());
	hat->ramp_to_mhz = val;
	mutex_unlock(&hat->lock);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(phloem_sim_ramp_to_fops, phloem_sim_ramp_to_get,
			 phloem_sim_ramp_to_set, "%llu\n");

static int phloem_sim_step_at_get(void *data, u64 *val)
{
	struct phloem_sim_hat *hat = data;

	mutex_lock(&hat->lock);
	*val = hat->step_at_ns;
	mutex_unlock(&hat->lock);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(phloem_sim_step_at_fops, phloem_sim_step_at_get,
			 NULL, "%llu\n");

static int phloem_sim_stall_get(void *data, u64 *val)
{
	struct phloem_sim_hat *hat = data;

	*val = READ_ONCE(hat->stall);
	return 0;
}

static int phloem_sim_stall_set(void *data, u64 val)
{
	struct phloem_sim_hat *hat = data;

	if (val > 1)
		return -EINVAL;
	WRITE_ONCE(hat->stall, val);
	if (!val)
		wake_up_all(&hat->stall_wq);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(phloem_sim_stall_fops, phloem_sim_stall_get,
			 phloem_sim_stall_set, "%llu\n");

/* Unlocked u32 knobs of the hat in [0, @hi] (READ_ONCE/WRITE_ONCE). */
#define PHLOEM_SIM_HAT_KNOB(stem, field, hi)				\
static int stem##_get(void *data, u64 *val)				\
{									\
	struct phloem_sim_hat *hat = data;				\
									\
	*val = READ_ONCE(hat->field);					\
	return 0;							\
}									\
static int stem##_set(void *data, u64 val)				\
{									\
	struct phloem_sim_hat *hat = data;				\
									\
	if (val > (hi))							\
		return -EINVAL;						\
	WRITE_ONCE(hat->field, val);					\
	return 0;							\
}									\
DEFINE_DEBUGFS_ATTRIBUTE(stem##_fops, stem##_get, stem##_set, "%llu\n")

PHLOEM_SIM_HAT_KNOB(phloem_sim_adc_delay, adc_delay_us,
		    PHLOEM_SIM_ADC_DELAY_MAX_US);
PHLOEM_SIM_HAT_KNOB(phloem_sim_adc_jitter, adc_jitter_us,
		    PHLOEM_SIM_ADC_DELAY_MAX_US);
PHLOEM_SIM_HAT_KNOB(phloem_sim_adc_lost, adc_lost_ppm, PHLOEM_SIM_PPM_MAX);
PHLOEM_SIM_HAT_KNOB(phloem_sim_noise, noise_lsb, PHLOEM_SIM_NOISE_MAX_LSB);

static int phloem_sim_relays_get(void *data, u64 *val)
{
	struct phloem_sim_hat *hat = data;

	mutex_lock(&hat->lock);
	*val = hat->lines;
	mutex_unlock(&hat->lock);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(phloem_sim_relays_fops, phloem_sim_relays_get, NULL,
			 "%llu\n");

/* grid_signal: bit N closes contact K(N+1) (its line goes low) */
static int phloem_sim_grid_signal_get(void *data, u64 *val)
{
	struct phloem_sim_hat *hat = data;

	*val = READ_ONCE(hat->contacts);
	return 0;
}

static int phloem_sim_grid_signal_set(void *data, u64 val)
{
	struct phloem_sim_hat *hat = data;

	if (val >= BIT(PHLOEM_SIM_SIGNALS))
		return -EINVAL;
	WRITE_ONCE(hat->contacts, val);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(phloem_sim_grid_signal_fops,
			 phloem_sim_grid_signal_get,
			 phloem_sim_grid_signal_set, "%llu\n");

static int phloem_sim_log_clear_set(void *data, u64 val)
{
	if (val != 1)
		return -EINVAL;
	phloem_sim_gpio_log_clear(data);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(phloem_sim_log_clear_fops, NULL,
			 phloem_sim_log_clear_set, "%llu\n");

/* relay_log: oldest first, "<t_ns> <line> <value>". */
static int phloem_sim_relay_log_show(struct seq_file *s, void *unused)
{
	struct phloem_sim_hat *hat = s->private;
	unsigned int i, first;

	mutex_lock(&hat->lock);
	first = (hat->log_head + PHLOEM_SIM_LOG_LEN - hat->log_count) %
		PHLOEM_SIM_LOG_LEN;
	for (i = 0; i < hat->log_count; i++) {
		const struct phloem_sim_log_entry *e =
			&hat->log[(first + i) % PHLOEM_SIM_LOG_LEN];

		seq_printf(s, "%llu %u %u\n", e->t_ns, e->line, e->value);
	}
	mutex_unlock(&hat->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(phloem_sim_relay_log);

/**
 * phloem_sim_debugfs_hat_init() - create hat<N>/ and its files
 * @hat: instance, fully set up
 *
 * debugfs is an aid, not a dependency: failures are not reported (as the
 * debugfs API intends), the simulation runs on with its defaults.
 */
void phloem_sim_debugfs_hat_init(struct phloem_sim_hat *hat)
{
	char name[PHLOEM_SIM_NAME_LEN];
	struct dentry *d;
	unsigned int i;

	snprintf(name, sizeof(name), "hat%u", hat->id);
	hat->dbg = debugfs_create_dir(name, phloem_sim_dbg_root);
	d = hat->dbg;

	debugfs_create_file_unsafe("freq_mhz", 0644, d, hat,
				   &phloem_sim_freq_fops);
	debugfs_create_file_unsafe("freq_ramp_mhz_s", 0644, d, hat,
				   &phloem_sim_ramp_fops);
	debugfs_create_file_unsafe("freq_ramp_to_mhz", 0644, d, hat,
				   &phloem_sim_ramp_to_fops);
	debugfs_create_file_unsafe("noise_lsb", 0644, d, hat,
				   &phloem_sim_noise_fops);
	/* The mains voltage is channel 0's RMS, in mV. */
	debugfs_create_file_unsafe("vrms_mv", 0644, d, &hat->chan[0],
				   &phloem_sim_chan_rms_fops);
	debugfs_create_file_unsafe("step_at_ns", 0444, d, hat,
				   &phloem_sim_step_at_fops);
	debugfs_create_file_unsafe("stall", 0644, d, hat,
				   &phloem_sim_stall_fops);
	debugfs_create_file_unsafe("relays", 0444, d, hat,
				   &phloem_sim_relays_fops);
	debugfs_create_file_unsafe("grid_signal", 0644, d, hat,
				   &phloem_sim_grid_signal_fops);
	debugfs_create_file_unsafe("adc_delay_us", 0644, d, hat,
				   &phloem_sim_adc_delay_fops);
	debugfs_create_file_unsafe("adc_jitter_us", 0644, d, hat,
				   &phloem_sim_adc_jitter_fops);
	debugfs_create_file_unsafe("adc_lost_ppm", 0644, d, hat,
				   &phloem_sim_adc_lost_fops);
	debugfs_create_file("relay_log", 0444, d, hat,
			    &phloem_sim_relay_log_fops);
	debugfs_create_file_unsafe("relay_log_clear", 0200, d, hat,
				   &phloem_sim_log_clear_fops);

	for (i = 0; i < hat->nchan; i++) {
		struct phloem_sim_chan *ch = &hat->chan[i];
		struct dentry *cd;

		snprintf(name, sizeof(name), "ch%u", i);
		cd = debugfs_create_dir(name, d);
		debugfs_create_file_unsafe("rms", 0644, cd, ch,
					   &phloem_sim_chan_rms_fops);
		debugfs_create_file_unsafe("phase_mdeg", 0644, cd, ch,
					   &phloem_sim_chan_phase_fops);
		debugfs_create_file_unsafe("h3_pct", 0644, cd, ch,
					   &phloem_sim_chan_h3_fops);
		debugfs_create_file_unsafe("h5_pct", 0644, cd, ch,
					   &phloem_sim_chan_h5_fops);
		debugfs_create_file_unsafe("step_rms", 0644, cd, ch,
					   &phloem_sim_chan_step_rms_fops);
		debugfs_create_file_unsafe("step_in_ms", 0200, cd, ch,
					   &phloem_sim_chan_step_in_ms_fops);
		debugfs_create_file_unsafe("fault", 0644, cd, ch,
					   &phloem_sim_chan_fault_fops);
	}

	for (i = 0; i < PHLOEM_SIM_RELAYS; i++) {
		struct phloem_sim_relay *r = &hat->relay[i];
		struct dentry *rd;

		snprintf(name, sizeof(name), "relay%u", i);
		rd = debugfs_create_dir(name, d);
		debugfs_create_file_unsafe("load_ma", 0644, rd, r,
					   &phloem_sim_relay_load_fops);
		debugfs_create_file_unsafe("phase_mdeg", 0644, rd, r,
					   &phloem_sim_relay_phase_fops);
		debugfs_create_file_unsafe("step_load_ma", 0644, rd, r,
					   &phloem_sim_relay_step_load_fops);
		debugfs_create_file_unsafe("step_in_ms", 0200, rd, r,
					   &phloem_sim_relay_step_in_ms_fops);
	}
}

/**
 * phloem_sim_debugfs_hat_uninit() - remove hat<N>/
 * @hat: instance
 *
 * Waits for readers and writers in flight, so @hat may be freed after.
 */
void phloem_sim_debugfs_hat_uninit(struct phloem_sim_hat *hat)
{
	debugfs_remove_recursive(hat->dbg);
	hat->dbg = NULL;
}

/**
 * phloem_sim_debugfs_init() - create /sys/kernel/debug/phloem_sim
 *
 * Return: 0 (debugfs failures are not fatal, see above).
 */
int phloem_sim_debugfs_init(void)
{
	phloem_sim_dbg_root = debugfs_create_dir("phloem_sim", NULL);
	return 0;
}

/**
 * phloem_sim_debugfs_uninit() - remove /sys/kernel/debug/phloem_sim
 */
void phloem_sim_debugfs_uninit(void)
{
	debugfs_remove_recursive(phloem_sim_dbg_root);
}
