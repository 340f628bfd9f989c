// SPDX-License-Identifier: GPL-2.0
/*
 * phloem counters and the sample-to-relay latency histogram.
 *
 * The histogram is log-linear: bucket 0 holds [0, 8 us), then every power of
 * two from 8 us is cut into 4 equal sub-buckets (10, 12, 14, 16, 20, 24, ...
 * us), which keeps the relative error under 25% across four decades with 48
 * buckets. The last finite bound is 24.576 ms, just above one 50 Hz mains
 * cycle: the design budget is "shed within one cycle", so everything that
 * misses it lands in the open last bucket and is visible as such.
 */
#include <linux/kernel.h>
#include <linux/spinlock.h>

#include "phloem.h"

#define PHLOEM_LAT_BASE_NS	8000ULL
#define PHLOEM_LAT_SUB		4

/**
 * phloem_stats_bound() - exclusive upper bound of histogram bucket @i
 * @i: bucket index, < PHLOEM_LAT_BUCKETS
 *
 * Return: the bound in ns; ~0ULL for the last (open) bucket.
 */
u64 phloem_stats_bound(unsigned int i)
{
	unsigned int oct, sub;

	if (i >= PHLOEM_LAT_BUCKETS - 1)
		return ~0ULL;
	if (i == 0)
		return PHLOEM_LAT_BASE_NS;
	oct = (i - 1) / PHLOEM_LAT_SUB;
	sub = (i - 1) % PHLOEM_LAT_SUB + 1;
	return ((PHLOEM_LAT_BASE_NS / PHLOEM_LAT_SUB) << oct) *
	       (PHLOEM_LAT_SUB + sub);
}

static unsigned int phloem_stats_bucket(u64 ns)
{
	unsigned int i;

	/* 48 compares at most, once per shed event: not worth a formula */
	for (i = 0; i < PHLOEM_LAT_BUCKETS - 1; i++)
		if (ns < phloem_stats_bound(i))
			break;
	return i;
}

void phloem_stats_init(struct phloem_dev *pd)
{
	spin_lock_init(&pd->lat.lock);
	atomic64_set(&pd->samples, 0);
	atomic64_set(&pd->adc_errors, 0);
	atomic64_set(&pd->overruns, 0);
}

/**
 * phloem_stats_latency() - record one shed latency
 * @pd: device
 * @ns: time from the triggering sample to the GPIO write returning
 */
void phloem_stats_latency(struct phloem_dev *pd, u64 ns)
{
	struct phloem_lat *l = &pd->lat;

	spin_lock(&l->lock);
	if (!l->count || ns < l->min_ns)
		l->min_ns = ns;
	if (ns > l->max_ns)
		l->max_ns = ns;
	l->count++;
	l->sum_ns += ns;
	l->hist[phloem_stats_bucket(ns)]++;
	spin_unlock(&l->lock);
}

/**
 * phloem_stats_fill() - the driver's part of struct phloem_stats
 * @pd: device
 * @st: gets samples, adc_errors, overruns and the latency fields; the
 *      unit's counters are filled by phloem_shed_counters()
 */
void phloem_stats_fill(struct phloem_dev *pd, struct phloem_stats *st)
{
	struct phloem_lat *l = &pd->lat;
	unsigned int i;

	st->samples = atomic64_read(&pd->samples);
	st->adc_errors = atomic64_read(&pd->adc_errors);
	st->overruns = atomic64_read(&pd->overruns);
	for (i = 0; i < PHLOEM_LAT_BUCKETS; i++)
		st->lat_bound_ns[i] = phloem_stats_bound(i);

	spin_lock(&l->lock);
	st->lat_count = l->count;
	st->lat_min_ns = l->min_ns;
	st->lat_max_ns = l->max_ns;
	st->lat_sum_ns = l->sum_ns;
	memcpy(st->lat_hist, l->hist, sizeof(st->lat_hist));
	spin_unlock(&l->lock);
}
