/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloem.ko internals: the per-device state shared by main.c (probe),
 * sampler.c (sampling thread, relays, watchdog), chardev.c (/dev/phloemN)
 * stats.c (counters and the latency histogram) and netlink.c (the generic
 * netlink family).
 */
#ifndef _PHLOEM_PHLOEM_H
#define _PHLOEM_PHLOEM_H

#include <linux/atomic.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/phloem.h>

#include "shed.h"

#define PHLOEM_MAX_DEVS		16	/* minors of /dev/phloemN */

struct gpio_descs;
struct iio_channel;
struct task_struct;

/**
 * struct phloem_lat - sample-to-relay latency histogram
 * @lock: protects every field below; taken by the relay path (one writer at
 *        a time already, under the relay mutex) and by GET_STATS readers,
 *        so a reader never sees a count without its sum
 * @count: latencies recorded
 * @min_ns: smallest
 * @max_ns: largest
 * @sum_ns: sum of all
 * @hist: count per bucket, bounds from phloem_stats_bound()
 */
struct phloem_lat {
	spinlock_t lock;		/* all of struct phloem_lat */
	u64 count;
	u64 min_ns;
	u64 max_ns;
	u64 sum_ns;
	u64 hist[PHLOEM_LAT_BUCKETS];
};

/**
 * struct phloem_dev - one bound HAT
 * @dev: the platform device (firmware node, devm resources, logging)
 * @id: minor number and the N of "phloemN"; from phloem_ida
 * @info: topology built from firmware at probe; constant afterwards
 * @boot: boot-time configuration from firmware; constant afterwards
 * @chan: IIO consumer channels, in @info.chan order (devm, released after
 *        remove returns)
 * @relays: relay GPIO lines, in relay index order (devm)
 * @safe_bits: bitmap of relays whose safe state is on
 * @signals: grid-operator input lines (devm), NULL when there are none
 *
 * @shed_lock: protects @shed, the pure decision unit, which is not reentrant.
 *             Held only across shed calls (never across an ADC read or a
 *             GPIO write, both of which may sleep), so the sampler, the
 *             watchdog and the ioctls never wait for hardware on it.
 * @shed: decision unit state, phloem_shed_size() bytes
 *
 * @relay_lock: serialises every relay update: protects @relay_state,
 *              @unbinding, @evbuf/@nev and the GPIO writes themselves. A
 *              mutex because the lines may sit behind an I2C expander.
 * @relay_state: bitmap the GPIO lines were last driven to (bit n: relay n
 *               energised); written under @relay_lock, read locklessly
 *               (READ_ONCE) for cycle records
 * @unbinding: set by remove: no more policy-driven writes, the lines stay
 *             in their safe state
 * @evbuf: events popped from the unit together with the relay bitmap they
 *         belong to, waiting for the GPIO writes and their latency
 * @nev: valid entries in @evbuf
 * @evtime: header times of @evbuf entries
 * @status: scratch for the cycle record's state bits (relay path)
 * @cyc_status: the same for the sampling thread's own cycle records;
 *              protected by @shed_lock, like the unit it is filled from
 *
 * @period_ns: sampling period in force (1e9 / sample_rate_hz); written by
 *             SET_CONFIG, read by the thread each round (READ_ONCE)
 * @stale_ms: stale limit in force, paces the watchdog (READ_ONCE)
 * @thread: the SCHED_FIFO sampling thread
 * @watchdog: delayed work calling phloem_shed_tick() every ~stale_ms/2
 * @samples: complete sample sets fed to the unit
 * @adc_errors: failed channel reads
 * @overruns: sampling periods skipped because a round ran late
 * @lat: latency histogram of PHLOEM_EV_SHED events
 *
 * @rwsem: the "device is bound" lock. ioctls and read() hold it for reading
 *         while they use the hardware-facing state; remove takes it for
 *         writing to set @gone, after which an open file only gets -ENODEV
 * @gone: the platform device was unbound; the struct lives on until the
 *        last opener closes (its lifetime is @cdev_dev's)
 * @readers_lock: protects @readers, every reader's ring and @seq. A
 *                spinlock because publishing happens on the sampling path,
 *                which must not sleep on a slow reader
 * @readers: list of struct phloem_reader, one per open file
 * @seq: sequence number of the next record produced
 * @wq: readers sleep here for records (and for @gone)
 * @cdev: the character device
 * @cdev_dev: the class device "phloemN"; its refcount owns this struct
 *
 * @nl_lock: protects @nl_cycle; a spinlock because the publish path keeps
 *           it up to date and must not sleep
 * @nl_cycle: the last cycle record published, for the per channel values
 *            of a netlink GET_DEVICE reply
 */
struct phloem_dev {
	struct device *dev;
	int id;
	struct phloem_info info;
	struct phloem_config boot;
	struct iio_channel *chan[PHLOEM_MAX_CHANNELS];
	struct gpio_descs *relays;
	u32 safe_bits;
	struct gpio_descs *signals;

	spinlock_t shed_lock;		/* @shed */
	struct phloem_shed *shed;

	struct mutex relay_lock;	/* relay lines and their bookkeeping */
	u32 relay_state;
	bool unbinding;
	struct phloem_rec_event evbuf[PHLOEM_SHED_EVQ];
	u64 evtime[PHLOEM_SHED_EVQ];
	unsigned int nev;
	struct phloem_status status;
	struct phloem_status cyc_status;

	u64 period_ns;
	u32 stale_ms;
	struct task_struct *thread;
	struct delayed_work watchdog;
	atomic64_t samples;
	atomic64_t adc_errors;
	atomic64_t overruns;
	struct phloem_lat lat;

	struct rw_semaphore rwsem;
	bool gone;
	spinlock_t readers_lock;	/* @readers, their rings, @seq */
	struct list_head readers;
	u32 seq;
	wait_queue_head_t wq;
	struct cdev cdev;
	struct device cdev_dev;

	spinlock_t nl_lock;		/* @nl_cycle */
	struct phloem_rec_cycle nl_cycle;
};

/* sampler.c */
void phloem_publish(struct phloem_dev *pd, u16 type, u64 time_ns,
		    const void *body, size_t len);
int phloem_sampler_init(struct phloem_dev *pd);
void phloem_sampler_uninit(struct phloem_dev *pd);
void phloem_relays_apply(struct phloem_dev *pd);
void phloem_sampler_config_changed(struct phloem_dev *pd,
				   const struct phloem_config *cfg);

/* chardev.c */
int phloem_chardev_init(void);
void phloem_chardev_uninit(void);
int phloem_chardev_add(struct phloem_dev *pd);
void phloem_chardev_del(struct phloem_dev *pd);
void phloem_chardev_push(struct phloem_dev *pd, struct phloem_record *rec);
void phloem_chardev_gone(struct phloem_dev *pd);

/* netlink.c */
int phloem_netlink_init(void);
void phloem_netlink_uninit(void);
void phloem_netlink_add(struct phloem_dev *pd);
void phloem_netlink_del(struct phloem_dev *pd);
void phloem_netlink_publish(struct phloem_dev *pd,
			    const struct phloem_record *rec);

/* stats.c */
void phloem_stats_init(struct phloem_dev *pd);
u64 phloem_stats_bound(unsigned int i);
void phloem_stats_latency(struct phloem_dev *pd, u64 ns);
void phloem_stats_fill(struct phloem_dev *pd, struct phloem_stats *st);

#endif /* _PHLOEM_PHLOEM_H */
