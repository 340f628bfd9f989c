// SPDX-License-Identifier: GPL-2.0
/*
 * phloem sampling thread, relay driving and watchdog.
 *
 * Three contexts feed the shedding unit, each under @shed_lock only for the
 * pure calls:
 *   - the sampling thread (SCHED_FIFO, paced by an absolute hrtimer) reads
 *     every channel, then calls phloem_shed_sample();
 *   - the watchdog (delayed work on system_highpri_wq) calls
 *     phloem_shed_tick(), so relays go to their safe state even when the
 *     thread is stuck in an ADC read that never returns;
 *   - the ioctls (SET_CONFIG, OVERRIDE, LEASE).
 * Whoever got "true" back then calls phloem_relays_apply(), which drives the
 * GPIOs to the unit's bitmap and publishes the queued events and cycle
 * records. Every record leaves the device through phloem_publish().
 */
#include <linux/bitops.h>
#include <linux/delay.h>
#include <linux/gpio/consumer.h>
#include <linux/iio/consumer.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/sched.h>
#include <linux/string.h>

#include "phloem.h"
#include "trace.h"

/*
 * Longest watchdog interval. The unit's stale limit may be up to 10 s, but
 * lease and override expiry also come through the tick and should not lag
 * by seconds when the sampling thread is stuck.
 */
#define PHLOEM_WATCHDOG_MAX_MS	100

/*
 * Consecutive rounds a channel's reads must fail before the unit is told
 * (and goes to failsafe). A lost read (a bus glitch, a retried transfer)
 * only costs its sample set: the unit weights every set by the time it
 * stands for, so one missing set is not a measurement error, and a channel
 * that stays silent is a fault within a millisecond at any rate we allow.
 */
#define PHLOEM_FAULT_ROUNDS	3

/**
 * phloem_publish() - the one exit of every record from the device
 * @pd: device
 * @type: enum phloem_record_type
 * @time_ns: header time
 * @body: record body (struct phloem_rec_cycle or struct phloem_rec_event)
 * @len: size of @body
 *
 * Fans the record out to every opener of /dev/phloemN; the sequence number
 * is assigned there, under the readers lock, so it is dense per device;
 * events also go to the netlink "events" group. Never sleeps.
 */
void phloem_publish(struct phloem_dev *pd, u16 type, u64 time_ns,
		    const void *body, size_t len)
{
	struct phloem_record rec;

	BUILD_BUG_ON(sizeof(rec) != PHLOEM_RECORD_SIZE);
	memset(&rec, 0, sizeof(rec));
	rec.hdr.type = type;
	rec.hdr.size = PHLOEM_RECORD_SIZE;
	rec.hdr.time_ns = time_ns;
	memcpy(rec.raw, body, min(len, sizeof(rec.raw)));
	phloem_chardev_push(pd, &rec);
	phloem_netlink_publish(pd, &rec);
}

/**
 * phloem_relays_apply() - drive the relays to the unit's bitmap, publish
 * @pd: device
 *
 * The relay bitmap and the queued events are taken in one @shed_lock
 * section, so every event popped here is covered by the GPIO writes that
 * follow: the latency of a PHLOEM_EV_SHED event is then measured from its
 * trigger sample to the write that really switched its relay. Sleeps (relay
 * mutex, GPIO lines behind an I2C expander).
 */
void phloem_relays_apply(struct phloem_dev *pd)
{
	struct phloem_rec_cycle cyc;
	unsigned int nrelays = pd->info.nrelays;
	unsigned long diff;
	bool have_cycle;
	u64 cyc_ns = 0, done_ns;
	unsigned int i;
	u32 want;

	mutex_lock(&pd->relay_lock);

	spin_lock(&pd->shed_lock);
	want = phloem_shed_relays(pd->shed);
	pd->nev = 0;
	while (pd->nev < PHLOEM_SHED_EVQ &&
	       phloem_shed_pop_event(pd->shed, &pd->evbuf[pd->nev],
				     &pd->evtime[pd->nev]))
		pd->nev++;
	have_cycle = phloem_shed_pop_cycle(pd->shed, &cyc, &cyc_ns);
	if (have_cycle)
		phloem_shed_status(pd->shed, &pd->status, cyc_ns);
	spin_unlock(&pd->shed_lock);

	/* After remove began, the lines stay in their safe state */
	if (pd->unbinding)
		want = pd->safe_bits;

	diff = (want ^ pd->relay_state) & GENMASK(nrelays - 1, 0);
	for_each_set_bit(i, &diff, nrelays) {
		u64 w0 = trace_phloem_relay_write_enabled() ? ktime_get_ns() : 0;

		gpiod_set_value_cansleep(pd->relays->desc[i],
					 !!(want & BIT(i)));
		if (w0)
			trace_phloem_relay_write(pd->id, i, !!(want & BIT(i)),
						 w0, ktime_get_ns() - w0);
	}
	WRITE_ONCE(pd->relay_state, want);
	done_ns = ktime_get_ns();

	for (i = 0; i < pd->nev; i++) {
		struct phloem_rec_event *ev = &pd->evbuf[i];

		if (ev->kind == PHLOEM_EV_SHED) {
			ev->latency_ns = done_ns > ev->trigger_ns ?
					 done_ns - ev->trigger_ns : 0;
			phloem_stats_latency(pd, ev->latency_ns);
		}
		phloem_trace_event(pd->id, ev, pd->evtime[i]);
		phloem_publish(pd, PHLOEM_REC_EVENT, pd->evtime[i], ev,
			       sizeof(*ev));
	}

	if (have_cycle) {
		/* What the lines really are, and the unit's state bits */
		cyc.relays_on = pd->relay_state;
		cyc.state = pd->status.state;
		phloem_publish(pd, PHLOEM_REC_CYCLE, cyc_ns, &cyc, sizeof(cyc));
	}

	mutex_unlock(&pd->relay_lock);
}

/*
 * A sample that closed a mains cycle but changed nothing: publish the cycle
 * record without taking the relay mutex (the sampling thread must not wait
 * behind an ioctl's GPIO writes just to report a cycle).
 */
static void phloem_publish_cycle(struct phloem_dev *pd)
{
	struct phloem_rec_cycle cyc;
	u64 cyc_ns;
	u32 state;

	spin_lock(&pd->shed_lock);
	if (!phloem_shed_pop_cycle(pd->shed, &cyc, &cyc_ns)) {
		spin_unlock(&pd->shed_lock);
		return;
	}
	phloem_shed_status(pd->shed, &pd->cyc_status, cyc_ns);
	state = pd->cyc_status.state;
	spin_unlock(&pd->shed_lock);

	cyc.relays_on = READ_ONCE(pd->relay_state);
	cyc.state = state;
	phloem_publish(pd, PHLOEM_REC_CYCLE, cyc_ns, &cyc, sizeof(cyc));
}

/*
 * Sleep until the next period boundary. When a round ran late, whole
 * periods are skipped (and counted) so the thread never bursts to catch up:
 * samples are timestamped individually, and a burst would only feed the unit
 * a compressed waveform. Skipping to the next future boundary also means the
 * thread always sleeps a little, which keeps a slow ADC from turning a
 * SCHED_FIFO thread into a CPU hog.
 */
static void phloem_sampler_wait(struct phloem_dev *pd, ktime_t *expires)
{
	u64 period = READ_ONCE(pd->period_ns);
	ktime_t now;

	*expires = ktime_add_ns(*expires, period);
	now = ktime_get();
	if (ktime_after(now, *expires)) {
		u64 missed = div64_u64(ktime_to_ns(ktime_sub(now, *expires)),
				       period) + 1;

		atomic64_add(missed, &pd->overruns);
		*expires = ktime_add_ns(*expires, missed * period);
	}
	set_current_state(TASK_INTERRUPTIBLE);
	/* Slack is ignored for RT tasks anyway: ask for none */
	schedule_hrtimeout_range(expires, 0, HRTIMER_MODE_ABS);
	__set_current_state(TASK_RUNNING);
}

static int phloem_sampler_thread(void *data)
{
	struct phloem_dev *pd = data;
	unsigned int n = pd->info.nchannels;
	s32 raw[PHLOEM_MAX_CHANNELS];
	unsigned long faulty = 0;	/* channels reported to the unit */
	unsigned long lines = 0;	/* grid-operator lines, active bits */
	u8 fails[PHLOEM_MAX_CHANNELS] = { 0 };	/* consecutive failed reads */
	ktime_t expires;

	sched_set_fifo(current);
	expires = ktime_get();

	while (!kthread_should_stop()) {
		unsigned long failed = 0;
		unsigned int i;
		bool changed = false;
		/* The stamps only a tracer needs: none when nobody listens */
		bool timed = trace_phloem_round_enabled() ||
			     trace_phloem_adc_read_enabled() ||
			     trace_phloem_decide_enabled();
		u32 read_ns[PHLOEM_MAX_CHANNELS];
		u64 read_log2 = 0;	/* with @timed: a byte a read, phloem_round */
		u64 t0, ts, d1 = 0;

		phloem_sampler_wait(pd, &expires);
		if (kthread_should_stop())
			break;

		/*
		 * The grid-operator lines first, then the set's time: the
		 * time they are given with is never before they were read
		 * (a failed read leaves them as they were).
		 */
		if (pd->signals)
			gpiod_get_array_value_cansleep(pd->signals->ndescs,
						       pd->signals->desc,
						       pd->signals->info,
						       &lines);
		/* Reads may sleep (SPI): no lock held here */
		t0 = ktime_get_ns();
		ts = t0;	/* with @timed: when the last read returned */
		for (i = 0; i < n; i++) {
			int val, ret;

			ret = iio_read_channel_raw(pd->chan[i], &val);
			if (timed) {
				u64 now = ktime_get_ns();

				read_ns[i] = min_t(u64, now - ts, U32_MAX);
				read_log2 |= (u64)(max(fls(read_ns[i]), 1) - 1)
					     << (8 * i);
				trace_phloem_adc_read(pd->id, i, ret < 0 ? 0 : val,
						      min(ret, 0), ts, now - ts);
				ts = now;
			}
			if (ret < 0) {
				atomic64_inc(&pd->adc_errors);
				dev_err_ratelimited(pd->dev,
						    "channel %s: read failed: %d\n",
						    pd->info.chan[i].name, ret);
				__set_bit(i, &failed);
				if (fails[i] < PHLOEM_FAULT_ROUNDS)
					fails[i]++;
				if (timed)	/* the report is no read */
					ts = ktime_get_ns();
				continue;
			}
			fails[i] = 0;
			raw[i] = val;
		}
		if (trace_phloem_sample_enabled())
			trace_phloem_sample(pd->id, ktime_to_ns(expires), t0,
					    timed ? ts : ktime_get_ns(), failed);

		spin_lock(&pd->shed_lock);
		if (pd->signals)
			changed = phloem_shed_signal(pd->shed, lines, t0);
		if (failed) {
			/*
			 * A set with a failed read is not used. A channel is
			 * reported once it has failed PHLOEM_FAULT_ROUNDS
			 * rounds in a row, and once per failing spell, not at
			 * every round: the unit is in failsafe from the first
			 * report, and thousands of identical events a second
			 * would only flood the readers' rings. It leaves
			 * failsafe after a cycle of good sample sets.
			 */
			for_each_set_bit(i, &failed, n) {
				if (fails[i] < PHLOEM_FAULT_ROUNDS ||
				    test_bit(i, &faulty))
					continue;
				__set_bit(i, &faulty);
				changed |= phloem_shed_fault(pd->shed, i,
							     PHLOEM_CAUSE_ADC, t0);
			}
		} else {
			changed |= phloem_shed_sample(pd->shed, raw, t0);
			/*
			 * The decision is timed from the last read's stamp:
			 * one clock read a round fewer, and the lock's wait
			 * is part of what delays a shed anyway
			 */
			if (timed)
				d1 = ktime_get_ns();
			faulty = 0;
		}
		spin_unlock(&pd->shed_lock);
		if (d1)
			trace_phloem_decide(pd->id, t0, ts, d1 - ts, changed);
		if (timed)
			trace_phloem_round(pd->id, READ_ONCE(pd->period_ns),
					   ktime_to_ns(expires), t0, ts, failed,
					   n, read_ns, read_log2, d1 ? ts : 0,
					   d1 ? d1 - ts : 0, changed);
		if (!failed)
			atomic64_inc(&pd->samples);

		if (changed)
			phloem_relays_apply(pd);
		else if (!failed)
			phloem_publish_cycle(pd);
	}
	return 0;
}

static unsigned long phloem_watchdog_delay(struct phloem_dev *pd)
{
	u32 ms = min_t(u32, READ_ONCE(pd->stale_ms) / 2, PHLOEM_WATCHDOG_MAX_MS);

	return max_t(unsigned long, msecs_to_jiffies(ms), 1);
}

static void phloem_watchdog_fn(struct work_struct *work)
{
	struct phloem_dev *pd = container_of(to_delayed_work(work),
					     struct phloem_dev, watchdog);
	bool changed;

	spin_lock(&pd->shed_lock);
	changed = phloem_shed_tick(pd->shed, ktime_get_ns());
	spin_unlock(&pd->shed_lock);
	if (changed)
		phloem_relays_apply(pd);

	queue_delayed_work(system_highpri_wq, &pd->watchdog,
			   phloem_watchdog_delay(pd));
}

/**
 * phloem_sampler_config_changed() - take up a new configuration
 * @pd: device
 * @cfg: the configuration just accepted by the unit
 *
 * The thread reads the period at its next round, the watchdog its interval
 * at its next run.
 */
void phloem_sampler_config_changed(struct phloem_dev *pd,
				   const struct phloem_config *cfg)
{
	WRITE_ONCE(pd->period_ns, div_u64(NSEC_PER_SEC, cfg->sample_rate_hz));
	WRITE_ONCE(pd->stale_ms, cfg->stale_ms);
}

/**
 * phloem_sampler_init() - start the watchdog and the sampling thread
 * @pd: device, with the unit initialised and the relays in safe state
 *
 * Return: 0 or a negative errno.
 */
int phloem_sampler_init(struct phloem_dev *pd)
{
	struct task_struct *t;

	phloem_sampler_config_changed(pd, &pd->boot);
	INIT_DELAYED_WORK(&pd->watchdog, phloem_watchdog_fn);

	t = kthread_create(phloem_sampler_thread, pd, "phloem%d", pd->id);
	if (IS_ERR(t))
		return dev_err_probe(pd->dev, PTR_ERR(t),
				     "cannot create the sampling thread\n");
	pd->thread = t;
	queue_delayed_work(system_highpri_wq, &pd->watchdog,
			   phloem_watchdog_delay(pd));
	wake_up_process(t);
	return 0;
}

/**
 * phloem_sampler_uninit() - safe relays, then stop the thread and watchdog
 * @pd: device being unbound
 *
 * The relays go to their safe state first, before waiting for the thread:
 * a thread stuck in a stalled ADC read must not delay that. From here on
 * phloem_relays_apply() keeps them there.
 */
void phloem_sampler_uninit(struct phloem_dev *pd)
{
	struct phloem_rec_event ev = {
		.kind = PHLOEM_EV_FAILSAFE_ENTER,
		.cause = PHLOEM_CAUSE_UNLOAD,
		.relay = PHLOEM_NONE,
		.circuit = PHLOEM_NONE,
		.channel = PHLOEM_NONE,
	};
	unsigned int i;

	mutex_lock(&pd->relay_lock);
	pd->unbinding = true;
	for (i = 0; i < pd->info.nrelays; i++)
		gpiod_set_value_cansleep(pd->relays->desc[i],
					 !!(pd->safe_bits & BIT(i)));
	pd->relay_state = pd->safe_bits;
	ev.trigger_ns = ktime_get_ns();
	phloem_publish(pd, PHLOEM_REC_EVENT, ev.trigger_ns, &ev, sizeof(ev));
	phloem_trace_event(pd->id, &ev, ev.trigger_ns);
	mutex_unlock(&pd->relay_lock);
	dev_info(pd->dev, "unbinding: relays in safe state (on: 0x%x)\n",
		 pd->safe_bits);

	kthread_stop(pd->thread);
	cancel_delayed_work_sync(&pd->watchdog);
}
