// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd "kernel" backend: phloem.ko through the generic netlink family
 * (libphloem nl). The family must be there: when phloem.ko is not loaded,
 * open() fails with -ENOENT and phloemd says so; it never runs without the
 * device it is meant to protect.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/nl/phloem_nl.h"
#include "backend.h"

struct kpriv {
	struct phloem_nl *nl;
	uint32_t dev;
	struct phloem_nl_device d;	/* scratch for replies (large) */
};

static int k_open(struct pd_backend *b, const struct pd_config *c)
{
	struct kpriv *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->dev = c->device;
	err = phloem_nl_open(&p->nl);
	if (err)
		goto fail;
	err = phloem_nl_get_device(p->nl, p->dev, &p->d);
	if (err) {
		fprintf(stderr, "phloemd: kernel backend: device %u: %s%s%s\n", p->dev,
			strerror(-err), *phloem_nl_error(p->nl) ? ": " : "",
			phloem_nl_error(p->nl));
		goto fail;
	}
	err = phloem_nl_subscribe(p->nl);
	if (err)
		goto fail;
	b->priv = p;
	return 0;
fail:
	phloem_nl_close(p->nl);
	free(p);
	return err;
}

static int k_fd(struct pd_backend *b)
{
	return phloem_nl_event_fd(((struct kpriv *)b->priv)->nl);
}

struct evctx {
	struct pd_backend *b;
	uint32_t dev;
};

static void k_event(uint32_t dev, const struct phloem_rec_event *ev,
		    uint64_t t, void *ctx)
{
	struct evctx *e = ctx;

	/* the group carries every device's events */
	if (dev == e->dev && e->b->on_event)
		e->b->on_event(e->b->ctx, ev, t);
}

static int k_dispatch(struct pd_backend *b)
{
	struct kpriv *p = b->priv;
	struct evctx e = { b, p->dev };
	int err = phloem_nl_recv_events(p->nl, k_event, &e);

	if (err == -ENOBUFS || err == -ENOMEM) {
		/* the socket overflowed: events were lost; the counters and
		 * the next status poll still tell the truth */
		fprintf(stderr, "phloemd: kernel backend: event socket overflowed, events lost\n");
		return 0;
	}
	return err;
}

static int k_info(struct pd_backend *b, struct phloem_info *info)
{
	struct kpriv *p = b->priv;
	int err = phloem_nl_get_device(p->nl, p->dev, &p->d);

	if (!err)
		phloem_nl_device_info(&p->d, info);
	return err;
}

static int k_status(struct pd_backend *b, struct phloem_status *st)
{
	struct kpriv *p = b->priv;
	int err = phloem_nl_get_device(p->nl, p->dev, &p->d);

	if (!err)
		phloem_nl_device_status(&p->d, st);
	return err;
}

static void log_refusal(struct kpriv *p, const char *what, int err)
{
	if (err && *phloem_nl_error(p->nl))
		fprintf(stderr, "phloemd: kernel refused %s: %s\n", what, phloem_nl_error(p->nl));
}

static int k_limits(struct pd_backend *b, uint32_t site_mw, const uint32_t *circuit_ma)
{
	struct kpriv *p = b->priv;
	int err = phloem_nl_set_limits(p->nl, p->dev, site_mw, circuit_ma, p->d.ncircuits);

	log_refusal(p, "limits", err);
	return err;
}

static int k_policy(struct pd_backend *b, uint32_t site_mw, const uint32_t *circuit_ma,
		    const uint32_t *max_hold_s, const struct pd_relay_policy *rp, uint32_t n)
{
	struct kpriv *p = b->priv;
	struct phloem_nl_relay_set rs[PHLOEM_MAX_RELAYS];
	int err;

	if (n > PHLOEM_MAX_RELAYS)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		rs[i] = (struct phloem_nl_relay_set){
			.index = rp[i].relay, .set_priority = true, .priority = rp[i].priority,
			.set_flags = true, .flags = rp[i].flags,
			.set_min_off = true, .min_off_ms = rp[i].min_off_ms,
		};
	err = phloem_nl_set_policy(p->nl, p->dev, site_mw, circuit_ma, max_hold_s,
				   p->d.ncircuits, rs, n);
	log_refusal(p, "policy", err);
	return err;
}

static int k_signals(struct pd_backend *b, uint32_t debounce_us,
		     const uint32_t *cap_mw, const uint32_t *shed, uint32_t n)
{
	struct kpriv *p = b->priv;
	int err = phloem_nl_set_signals(p->nl, p->dev, debounce_us, cap_mw, shed, n);

	log_refusal(p, "grid-signal actions", err);
	return err;
}

static int k_phase(struct pd_backend *b, const uint32_t *limit_ma,
		   uint32_t imb_ma, uint32_t imb_mva, uint32_t grace_ms)
{
	struct kpriv *p = b->priv;
	int err = phloem_nl_set_phase(p->nl, p->dev, limit_ma, imb_ma, imb_mva,
				      grace_ms);

	log_refusal(p, "phase rules", err);
	return err;
}

static int k_mains(struct pd_backend *b,
		   const struct phloem_nl_mains_cfg *m)
{
	struct kpriv *p = b->priv;
	int err = phloem_nl_set_mains(p->nl, p->dev, m);

	log_refusal(p, "mains rules", err);
	return err;
}

static int k_relay_policy(struct pd_backend *b, uint32_t relay, uint32_t prio,
			  uint32_t flags, uint32_t min_off_ms)
{
	struct kpriv *p = b->priv;
	struct phloem_nl_relay_set rs = {
		.index = relay, .set_priority = true, .priority = prio,
		.set_flags = true, .flags = flags,
		.set_min_off = true, .min_off_ms = min_off_ms,
	};
	int err = phloem_nl_set_relay(p->nl, p->dev, &rs);

	log_refusal(p, "relay policy", err);
	return err;
}

static int k_freq(struct pd_backend *b, uint32_t over_mhz, uint32_t over_ms,
		  const struct phloem_freq_stage *stages)
{
	struct kpriv *p = b->priv;
	int err = phloem_nl_set_freq(p->nl, p->dev, over_mhz, over_ms, stages,
				     (1U << PHLOEM_FREQ_STAGES) - 1);

	log_refusal(p, "frequency rule", err);
	return err;
}

static int k_override(struct pd_backend *b, uint32_t relay, uint32_t mode,
		      uint32_t expiry_ms)
{
	struct kpriv *p = b->priv;
	struct phloem_nl_relay_set rs = {
		.index = relay, .set_override = true, .override = mode,
		.override_ms = expiry_ms,
	};
	int err = phloem_nl_set_relay(p->nl, p->dev, &rs);

	log_refusal(p, "override", err);
	return err;
}

static int k_lease(struct pd_backend *b, uint32_t timeout_ms)
{
	struct kpriv *p = b->priv;
	int err = phloem_nl_lease(p->nl, p->dev, timeout_ms);

	log_refusal(p, "lease", err);
	return err;
}

static int k_stats(struct pd_backend *b, struct phloem_stats *st)
{
	struct kpriv *p = b->priv;

	return phloem_nl_get_stats(p->nl, p->dev, st);
}

static void k_close(struct pd_backend *b)
{
	struct kpriv *p = b->priv;

	if (!p)
		return;
	phloem_nl_close(p->nl);
	free(p);
	b->priv = NULL;
}

static int k_max_hold(struct pd_backend *b, const uint32_t *max_hold_s)
{
	struct kpriv *p = b->priv;
	int err = phloem_nl_set_max_holds(p->nl, p->dev, max_hold_s, p->d.ncircuits);

	log_refusal(p, "max holds", err);
	return err;
}

static int k_max_holds(struct pd_backend *b, uint32_t *max_hold_s)
{
	struct kpriv *p = b->priv;
	int err = phloem_nl_get_device(p->nl, p->dev, &p->d);

	for (uint32_t i = 0; !err && i < p->d.ncircuits; i++)
		max_hold_s[i] = p->d.circuit[i].max_hold_s;
	return err;
}

const struct pd_backend_ops pd_backend_kernel = {
	.name = "kernel",
	.open = k_open,
	.fd = k_fd,
	.dispatch = k_dispatch,
	.info = k_info,
	.status = k_status,
	.limits = k_limits,
	.policy = k_policy,
	.relay_policy = k_relay_policy,
	.override = k_override,
	.freq = k_freq,
	.lease = k_lease,
	.signals = k_signals,
	.phase = k_phase,
	.mains = k_mains,
	.peak = NULL,
	.stats = k_stats,
	.close = k_close,
	.max_hold = k_max_hold,
	.max_holds = k_max_holds,
};
