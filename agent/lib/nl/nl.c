// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libphloem nl: generic netlink client of the "phloem" family (libnl-genl-3).
 * See phloem_nl.h.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

#include "phloem_nl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/**
 * struct phloem_nl - a connection to the family
 * @sk: request/response socket
 * @ev: event socket (NULL until phloem_nl_subscribe())
 * @family: resolved family id
 * @err: extack message of the last refused request
 */
struct phloem_nl {
	struct nl_sock *sk;
	struct nl_sock *ev;
	int family;
	char err[256];
};

/* libnl returns its own NLE_* codes; the callers want errno values. */
static int nle_to_errno(int nle)
{
	switch (-nle) {
	case NLE_SUCCESS: return 0;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_PERM: return -EPERM;
	case NLE_NOACCESS: return -EACCES;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_INVAL: return -EINVAL;
	case NLE_RANGE: return -ERANGE;
	case NLE_NODEV: return -ENODEV;
	case NLE_BUSY: return -EBUSY;
	case NLE_AGAIN: return -EAGAIN;
	case NLE_OPNOTSUPP: return -EOPNOTSUPP;
	case NLE_MSG_TOOSHORT:
	case NLE_MSG_TRUNC:
	case NLE_PARSE_ERR: return -EBADMSG;
	default: return -EIO;
	}
}

static struct nl_sock *sock_new(void)
{
	struct nl_sock *sk = nl_socket_alloc();
	int one = 1;

	if (!sk)
		return NULL;
	if (genl_connect(sk)) {
		nl_socket_free(sk);
		return NULL;
	}
	/* ask for the kernel's extack strings: they say what was wrong */
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return sk;
}

int phloem_nl_open(struct phloem_nl **out)
{
	struct phloem_nl *nl;
	int id;

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->sk = sock_new();
	if (!nl->sk) {
		free(nl);
		return -ENOMEM;
	}
	id = genl_ctrl_resolve(nl->sk, PHLOEM_GENL_NAME);
	if (id < 0) {
		nl_socket_free(nl->sk);
		free(nl);
		/* an unknown family is "not found" from the controller */
		return id == -NLE_OBJ_NOTFOUND ? -ENOENT : nle_to_errno(id);
	}
	nl->family = id;
	*out = nl;
	return 0;
}

void phloem_nl_close(struct phloem_nl *nl)
{
	if (!nl)
		return;
	if (nl->ev)
		nl_socket_free(nl->ev);
	nl_socket_free(nl->sk);
	free(nl);
}

const char *phloem_nl_error(const struct phloem_nl *nl)
{
	return nl->err;
}

/* ---- parsing ---- */

static struct nla_policy chan_pol[PHLOEM_A_CHAN_MAX + 1] = {
	[PHLOEM_A_CHAN_INDEX] = { .type = NLA_U32 },
	[PHLOEM_A_CHAN_NAME] = { .type = NLA_STRING, .maxlen = PHLOEM_NAME_LEN },
	[PHLOEM_A_CHAN_KIND] = { .type = NLA_U32 },
	[PHLOEM_A_CHAN_PHASE] = { .type = NLA_U32 },
	[PHLOEM_A_CHAN_CIRCUIT] = { .type = NLA_U32 },
	[PHLOEM_A_CHAN_RMS] = { .type = NLA_U32 },
	[PHLOEM_A_CHAN_P_MW] = { .type = NLA_U32 },
	[PHLOEM_A_CHAN_IMPORT_MWH] = { .type = NLA_U64 },
	[PHLOEM_A_CHAN_EXPORT_MWH] = { .type = NLA_U64 },
};

static struct nla_policy circuit_pol[PHLOEM_A_CIRCUIT_MAX + 1] = {
	[PHLOEM_A_CIRCUIT_INDEX] = { .type = NLA_U32 },
	[PHLOEM_A_CIRCUIT_NAME] = { .type = NLA_STRING, .maxlen = PHLOEM_NAME_LEN },
	[PHLOEM_A_CIRCUIT_CHANNEL] = { .type = NLA_U32 },
	[PHLOEM_A_CIRCUIT_CURVE] = { .type = NLA_U32 },
	[PHLOEM_A_CIRCUIT_RATING_MA] = { .type = NLA_U32 },
	[PHLOEM_A_CIRCUIT_LIMIT_MA] = { .type = NLA_U32 },
	[PHLOEM_A_CIRCUIT_BOOT_LIMIT_MA] = { .type = NLA_U32 },
	[PHLOEM_A_CIRCUIT_IRMS_MA] = { .type = NLA_U32 },
	[PHLOEM_A_CIRCUIT_HEAT_PERMILLE] = { .type = NLA_U32 },
	[PHLOEM_A_CIRCUIT_MAX_HOLD_S] = { .type = NLA_U32 },
};

static struct nla_policy relay_pol[PHLOEM_A_RELAY_MAX + 1] = {
	[PHLOEM_A_RELAY_INDEX] = { .type = NLA_U32 },
	[PHLOEM_A_RELAY_NAME] = { .type = NLA_STRING, .maxlen = PHLOEM_NAME_LEN },
	[PHLOEM_A_RELAY_CIRCUIT] = { .type = NLA_U32 },
	[PHLOEM_A_RELAY_PRIORITY] = { .type = NLA_U32 },
	[PHLOEM_A_RELAY_FLAGS] = { .type = NLA_U32 },
	[PHLOEM_A_RELAY_SAFE_STATE] = { .type = NLA_U32 },
	[PHLOEM_A_RELAY_ON] = { .type = NLA_U32 },
	[PHLOEM_A_RELAY_REASON] = { .type = NLA_U32 },
	[PHLOEM_A_RELAY_BACKOFF] = { .type = NLA_U32 },
	[PHLOEM_A_RELAY_OVERRIDE] = { .type = NLA_U32 },
	[PHLOEM_A_RELAY_OVERRIDE_MS] = { .type = NLA_U32 },
	[PHLOEM_A_RELAY_LEFT_MS] = { .type = NLA_U32 },
	[PHLOEM_A_RELAY_SHED_COUNT] = { .type = NLA_U32 },
	[PHLOEM_A_RELAY_LOAD_MA] = { .type = NLA_U32 },
	[PHLOEM_A_RELAY_MIN_OFF_MS] = { .type = NLA_U32 },
	[PHLOEM_A_RELAY_HOLD] = { .type = NLA_U32 },
};

static struct nla_policy dev_pol[PHLOEM_A_MAX + 1] = {
	[PHLOEM_A_DEV_INDEX] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_NAME] = { .type = NLA_STRING, .maxlen = PHLOEM_NAME_LEN },
	[PHLOEM_A_DEV_STATE] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_MAINS_HZ] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_FREQ_MHZ] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_VRMS_MV] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_SITE_P_MW] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_LEASE_LEFT_MS] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_SAMPLE_RATE_HZ] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_CHANNELS] = { .type = NLA_NESTED },
	[PHLOEM_A_DEV_CIRCUITS] = { .type = NLA_NESTED },
	[PHLOEM_A_DEV_RELAYS] = { .type = NLA_NESTED },
	[PHLOEM_A_RELAY] = { .type = NLA_NESTED },
	[PHLOEM_A_STATS] = { .type = NLA_NESTED },
	[PHLOEM_A_LEASE_TIMEOUT_MS] = { .type = NLA_U32 },
	[PHLOEM_A_EVENT] = { .type = NLA_NESTED },
	[PHLOEM_A_DEV_FREQ] = { .type = NLA_NESTED },
	[PHLOEM_A_DEV_SIGNAL_STATE] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_IMPORT_CAP_MW] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_SIGNAL_DEBOUNCE_US] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_SIGNALS] = { .type = NLA_NESTED },
	[PHLOEM_A_DEV_PHASE] = { .type = NLA_NESTED },
	[PHLOEM_A_DEV_MAINS] = { .type = NLA_NESTED },
};

static struct nla_policy mains_pol[PHLOEM_A_MAINS_MAX + 1] = {
	[PHLOEM_A_MAINS_NOMINAL_MV ... PHLOEM_A_MAINS_RETURN_LEFT_MS] = { .type = NLA_U32 },
	[PHLOEM_A_MAINS_PHASES] = { .type = NLA_NESTED },
	[PHLOEM_A_MAINS_OUTAGE_MS] = { .type = NLA_U32 },
};

static struct nla_policy volt_pol[PHLOEM_A_VOLT_MAX + 1] = {
	[PHLOEM_A_VOLT_PHASE ... PHLOEM_A_VOLT_STATE] = { .type = NLA_U32 },
};

/*
 * The settable PHLOEM_A_MAINS_* attributes and their fields: the reply
 * parser and phloem_nl_set_mains() walk the same table.
 */
static const struct {
	int attr;
	size_t off;
} mains_fields[] = {
#define MAINS_FIELD(a, f) { a, offsetof(struct phloem_nl_mains_cfg, f) }
	MAINS_FIELD(PHLOEM_A_MAINS_NOMINAL_MV, nominal_mv),
	MAINS_FIELD(PHLOEM_A_MAINS_OUTAGE_PCT, outage_pct),
	MAINS_FIELD(PHLOEM_A_MAINS_OUTAGE_CYCLES, outage_cycles),
	MAINS_FIELD(PHLOEM_A_MAINS_OUTAGE_RELAYS, outage_relays),
	MAINS_FIELD(PHLOEM_A_MAINS_RETURN_MS, return_ms),
	MAINS_FIELD(PHLOEM_A_MAINS_RETURN_STAGGER_MS, return_stagger_ms),
	MAINS_FIELD(PHLOEM_A_MAINS_VOLT_BAND_PCT, volt_band_pct),
	MAINS_FIELD(PHLOEM_A_MAINS_VOLT_DELAY_MS, volt_delay_ms),
	MAINS_FIELD(PHLOEM_A_MAINS_UV_SHED_PCT, uv_shed_pct),
	MAINS_FIELD(PHLOEM_A_MAINS_UV_SHED_MS, uv_shed_ms),
#undef MAINS_FIELD
};

static struct nla_policy phase_pol[PHLOEM_A_PHASE_MAX + 1] = {
	[PHLOEM_A_PHASE_IMBALANCE_MA ... PHLOEM_A_PHASE_SPREAD_MVA] = { .type = NLA_U32 },
	[PHLOEM_A_PHASE_LIST] = { .type = NLA_NESTED },
};

static struct nla_policy ph_pol[PHLOEM_A_PH_MAX + 1] = {
	[PHLOEM_A_PH_INDEX ... PHLOEM_A_PH_STATE] = { .type = NLA_U32 },
};

static struct nla_policy signal_pol[PHLOEM_A_SIGNAL_MAX + 1] = {
	[PHLOEM_A_SIGNAL_INDEX] = { .type = NLA_U32 },
	[PHLOEM_A_SIGNAL_ACTIVE] = { .type = NLA_U32 },
	[PHLOEM_A_SIGNAL_IMPORT_CAP_MW] = { .type = NLA_U32 },
	[PHLOEM_A_SIGNAL_SHED_RELAYS] = { .type = NLA_U32 },
};

static struct nla_policy ev_pol[PHLOEM_A_EV_MAX + 1] = {
	[PHLOEM_A_EV_KIND] = { .type = NLA_U32 },
	[PHLOEM_A_EV_CAUSE] = { .type = NLA_U32 },
	[PHLOEM_A_EV_TIME_NS] = { .type = NLA_U64 },
	[PHLOEM_A_EV_TRIGGER_NS] = { .type = NLA_U64 },
	[PHLOEM_A_EV_LATENCY_NS] = { .type = NLA_U64 },
	[PHLOEM_A_EV_VALUE] = { .type = NLA_U32 },
	[PHLOEM_A_EV_LIMIT] = { .type = NLA_U32 },
	[PHLOEM_A_EV_BACKOFF] = { .type = NLA_U32 },
	[PHLOEM_A_EV_RELAY] = { .type = NLA_U32 },
	[PHLOEM_A_EV_CIRCUIT] = { .type = NLA_U32 },
	[PHLOEM_A_EV_CHANNEL] = { .type = NLA_U32 },
	[PHLOEM_A_EV_LINE] = { .type = NLA_U32 },
	[PHLOEM_A_EV_STAGE] = { .type = NLA_U32 },
	[PHLOEM_A_EV_PHASE] = { .type = NLA_U32 },
};

static struct nla_policy freq_pol[PHLOEM_A_FREQ_MAX + 1] = {
	[PHLOEM_A_FREQ_EST_MHZ] = { .type = NLA_U32 },
	[PHLOEM_A_FREQ_OVER_MHZ] = { .type = NLA_U32 },
	[PHLOEM_A_FREQ_OVER_MS] = { .type = NLA_U32 },
	[PHLOEM_A_FREQ_STAGES] = { .type = NLA_NESTED },
};

static struct nla_policy stage_pol[PHLOEM_A_STAGE_MAX + 1] = {
	[PHLOEM_A_STAGE_INDEX ... PHLOEM_A_STAGE_LEFT_MS] = { .type = NLA_U32 },
};

static struct nla_policy stats_pol[PHLOEM_A_STATS_MAX + 1] = {
	[PHLOEM_A_STATS_SAMPLES ... PHLOEM_A_STATS_LAT_SUM_NS] = { .type = NLA_U64 },
	[PHLOEM_A_STATS_LAT_HIST] = { .type = NLA_NESTED },
};

static struct nla_policy bucket_pol[PHLOEM_A_BUCKET_MAX + 1] = {
	[PHLOEM_A_BUCKET_BOUND_NS] = { .type = NLA_U64 },
	[PHLOEM_A_BUCKET_COUNT] = { .type = NLA_U64 },
};

static uint32_t u32_or(struct nlattr *a, uint32_t def)
{
	return a ? nla_get_u32(a) : def;
}

static void copy_name(char *dst, struct nlattr *a)
{
	dst[0] = 0;
	if (a)
		snprintf(dst, PHLOEM_NAME_LEN, "%s", (const char *)nla_data(a));
}

static int parse_chan(struct nlattr *item, struct phloem_nl_device *d)
{
	struct nlattr *tb[PHLOEM_A_CHAN_MAX + 1];
	struct phloem_nl_chan *c;
	uint32_t i;

	if (nla_parse_nested(tb, PHLOEM_A_CHAN_MAX, item, chan_pol) ||
	    !tb[PHLOEM_A_CHAN_INDEX])
		return -EINVAL;
	i = nla_get_u32(tb[PHLOEM_A_CHAN_INDEX]);
	if (i >= PHLOEM_MAX_CHANNELS)
		return -EINVAL;
	c = &d->chan[i];
	c->index = i;
	copy_name(c->name, tb[PHLOEM_A_CHAN_NAME]);
	c->kind = u32_or(tb[PHLOEM_A_CHAN_KIND], 0);
	c->phase = u32_or(tb[PHLOEM_A_CHAN_PHASE], 0);
	c->circuit = u32_or(tb[PHLOEM_A_CHAN_CIRCUIT], PHLOEM_NONE);
	c->rms = u32_or(tb[PHLOEM_A_CHAN_RMS], 0);
	c->p_mw = (int32_t)u32_or(tb[PHLOEM_A_CHAN_P_MW], 0);
	c->import_mwh = tb[PHLOEM_A_CHAN_IMPORT_MWH] ? nla_get_u64(tb[PHLOEM_A_CHAN_IMPORT_MWH]) : 0;
	c->export_mwh = tb[PHLOEM_A_CHAN_EXPORT_MWH] ? nla_get_u64(tb[PHLOEM_A_CHAN_EXPORT_MWH]) : 0;
	if (i + 1 > d->nchannels)
		d->nchannels = i + 1;
	return 0;
}

static int parse_circuit(struct nlattr *item, struct phloem_nl_device *d)
{
	struct nlattr *tb[PHLOEM_A_CIRCUIT_MAX + 1];
	struct phloem_nl_circuit *c;
	uint32_t i;

	if (nla_parse_nested(tb, PHLOEM_A_CIRCUIT_MAX, item, circuit_pol) ||
	    !tb[PHLOEM_A_CIRCUIT_INDEX])
		return -EINVAL;
	i = nla_get_u32(tb[PHLOEM_A_CIRCUIT_INDEX]);
	if (i >= PHLOEM_MAX_CIRCUITS)
		return -EINVAL;
	c = &d->circuit[i];
	c->index = i;
	copy_name(c->name, tb[PHLOEM_A_CIRCUIT_NAME]);
	c->channel = u32_or(tb[PHLOEM_A_CIRCUIT_CHANNEL], PHLOEM_NONE);
	c->curve = u32_or(tb[PHLOEM_A_CIRCUIT_CURVE], 0);
	c->rating_ma = u32_or(tb[PHLOEM_A_CIRCUIT_RATING_MA], 0);
	c->limit_ma = u32_or(tb[PHLOEM_A_CIRCUIT_LIMIT_MA], 0);
	c->boot_limit_ma = u32_or(tb[PHLOEM_A_CIRCUIT_BOOT_LIMIT_MA], 0);
	c->irms_ma = u32_or(tb[PHLOEM_A_CIRCUIT_IRMS_MA], 0);
	c->heat_permille = u32_or(tb[PHLOEM_A_CIRCUIT_HEAT_PERMILLE], 0);
	c->max_hold_s = u32_or(tb[PHLOEM_A_CIRCUIT_MAX_HOLD_S], 0);
	if (i + 1 > d->ncircuits)
		d->ncircuits = i + 1;
	return 0;
}

static int parse_relay(struct nlattr *item, struct phloem_nl_device *d)
{
	struct nlattr *tb[PHLOEM_A_RELAY_MAX + 1];
	struct phloem_nl_relay *r;
	uint32_t i;

	if (nla_parse_nested(tb, PHLOEM_A_RELAY_MAX, item, relay_pol) ||
	    !tb[PHLOEM_A_RELAY_INDEX])
		return -EINVAL;
	i = nla_get_u32(tb[PHLOEM_A_RELAY_INDEX]);
	if (i >= PHLOEM_MAX_RELAYS)
		return -EINVAL;
	r = &d->relay[i];
	r->index = i;
	copy_name(r->name, tb[PHLOEM_A_RELAY_NAME]);
	r->circuit = u32_or(tb[PHLOEM_A_RELAY_CIRCUIT], 0);
	r->priority = u32_or(tb[PHLOEM_A_RELAY_PRIORITY], 0);
	r->flags = u32_or(tb[PHLOEM_A_RELAY_FLAGS], 0);
	r->safe_state = u32_or(tb[PHLOEM_A_RELAY_SAFE_STATE], 0);
	r->on = u32_or(tb[PHLOEM_A_RELAY_ON], 0);
	r->reason = u32_or(tb[PHLOEM_A_RELAY_REASON], 0);
	r->backoff = u32_or(tb[PHLOEM_A_RELAY_BACKOFF], 0);
	r->override = u32_or(tb[PHLOEM_A_RELAY_OVERRIDE], 0);
	r->left_ms = u32_or(tb[PHLOEM_A_RELAY_LEFT_MS], 0);
	r->shed_count = u32_or(tb[PHLOEM_A_RELAY_SHED_COUNT], 0);
	r->load_ma = u32_or(tb[PHLOEM_A_RELAY_LOAD_MA], 0);
	r->min_off_ms = u32_or(tb[PHLOEM_A_RELAY_MIN_OFF_MS], 0);
	r->hold = u32_or(tb[PHLOEM_A_RELAY_HOLD], PHLOEM_HOLD_NONE);
	if (i + 1 > d->nrelays)
		d->nrelays = i + 1;
	return 0;
}

static int parse_stage(struct nlattr *item, struct phloem_nl_device *d)
{
	struct nlattr *tb[PHLOEM_A_STAGE_MAX + 1];
	struct phloem_freq_stage *fc;
	uint32_t k;

	if (nla_parse_nested(tb, PHLOEM_A_STAGE_MAX, item, stage_pol) ||
	    !tb[PHLOEM_A_STAGE_INDEX])
		return -EINVAL;
	k = nla_get_u32(tb[PHLOEM_A_STAGE_INDEX]);
	if (k >= PHLOEM_FREQ_STAGES)
		return -EINVAL;
	fc = &d->freq.stage[k];
	fc->threshold_mhz = u32_or(tb[PHLOEM_A_STAGE_THRESHOLD_MHZ], 0);
	fc->delay_ms = u32_or(tb[PHLOEM_A_STAGE_DELAY_MS], 0);
	fc->restore_ms = u32_or(tb[PHLOEM_A_STAGE_RESTORE_MS], 0);
	fc->hyst_mhz = (uint16_t)u32_or(tb[PHLOEM_A_STAGE_HYST_MHZ], 0);
	fc->prio_min = (uint8_t)u32_or(tb[PHLOEM_A_STAGE_PRIO_MIN], 0);
	fc->prio_max = (uint8_t)u32_or(tb[PHLOEM_A_STAGE_PRIO_MAX], 0);
	d->freq.state[k] = u32_or(tb[PHLOEM_A_STAGE_STATE], PHLOEM_FREQ_OFF);
	d->freq.left_ms[k] = u32_or(tb[PHLOEM_A_STAGE_LEFT_MS], 0);
	return 0;
}

static int parse_signal(struct nlattr *item, struct phloem_nl_device *d)
{
	struct nlattr *tb[PHLOEM_A_SIGNAL_MAX + 1];
	struct phloem_nl_signal *g;
	uint32_t i;

	if (nla_parse_nested(tb, PHLOEM_A_SIGNAL_MAX, item, signal_pol) ||
	    !tb[PHLOEM_A_SIGNAL_INDEX])
		return -EINVAL;
	i = nla_get_u32(tb[PHLOEM_A_SIGNAL_INDEX]);
	if (i >= PHLOEM_MAX_SIGNALS)
		return -EINVAL;
	g = &d->signal[i];
	g->index = i;
	g->active = u32_or(tb[PHLOEM_A_SIGNAL_ACTIVE], 0);
	g->import_cap_mw = u32_or(tb[PHLOEM_A_SIGNAL_IMPORT_CAP_MW], 0);
	g->shed_relays = u32_or(tb[PHLOEM_A_SIGNAL_SHED_RELAYS], 0);
	if (i + 1 > d->nsignals)
		d->nsignals = i + 1;
	return 0;
}

static int parse_phase(struct nlattr *item, struct phloem_nl_device *d)
{
	struct nlattr *tb[PHLOEM_A_PH_MAX + 1];
	struct phloem_nl_phase *f = &d->phase;
	uint32_t p;

	if (nla_parse_nested(tb, PHLOEM_A_PH_MAX, item, ph_pol) ||
	    !tb[PHLOEM_A_PH_INDEX])
		return -EINVAL;
	p = nla_get_u32(tb[PHLOEM_A_PH_INDEX]);
	if (p >= PHLOEM_MAX_PHASES)
		return -EINVAL;
	f->measured |= 1U << p;
	f->channel[p] = u32_or(tb[PHLOEM_A_PH_CHANNEL], PHLOEM_NONE);
	f->irms_ma[p] = u32_or(tb[PHLOEM_A_PH_IRMS_MA], 0);
	f->s_mva[p] = u32_or(tb[PHLOEM_A_PH_S_MVA], 0);
	f->limit_ma[p] = u32_or(tb[PHLOEM_A_PH_LIMIT_MA], 0);
	f->state[p] = u32_or(tb[PHLOEM_A_PH_STATE], PHLOEM_PHASE_NONE);
	return 0;
}

static int parse_volt(struct nlattr *item, struct phloem_nl_device *d)
{
	struct nlattr *tb[PHLOEM_A_VOLT_MAX + 1];
	struct phloem_nl_mains *m = &d->mains;
	uint32_t p;

	if (nla_parse_nested(tb, PHLOEM_A_VOLT_MAX, item, volt_pol) ||
	    !tb[PHLOEM_A_VOLT_PHASE])
		return -EINVAL;
	p = nla_get_u32(tb[PHLOEM_A_VOLT_PHASE]);
	if (p >= PHLOEM_MAX_PHASES)
		return -EINVAL;
	m->phases |= 1U << p;
	m->channel[p] = u32_or(tb[PHLOEM_A_VOLT_CHANNEL], PHLOEM_NONE);
	m->rms_mv[p] = u32_or(tb[PHLOEM_A_VOLT_RMS_MV], 0);
	m->volt_state[p] = u32_or(tb[PHLOEM_A_VOLT_STATE], PHLOEM_VOLT_NONE);
	return 0;
}

/* Every item of a list nest must have the expected list type. */
static int parse_list(struct nlattr *list, int type,
		      int (*item)(struct nlattr *, struct phloem_nl_device *),
		      struct phloem_nl_device *d)
{
	struct nlattr *a;
	int rem, err;

	if (!list)
		return 0;
	nla_for_each_nested(a, list, rem) {
		if (nla_type(a) != type)
			return -EINVAL;
		err = item(a, d);
		if (err)
			return err;
	}
	return 0;
}

static int parse_top(const struct nlmsghdr *nlh, struct nlattr **tb)
{
	if (!genlmsg_valid_hdr((struct nlmsghdr *)nlh, 0))
		return -EINVAL;
	if (genlmsg_parse((struct nlmsghdr *)nlh, 0, tb, PHLOEM_A_MAX, dev_pol))
		return -EINVAL;
	return 0;
}

int phloem_nl_parse_device(const struct nlmsghdr *nlh,
			   struct phloem_nl_device *d)
{
	struct nlattr *tb[PHLOEM_A_MAX + 1];
	int err;

	memset(d, 0, sizeof(*d));
	if (parse_top(nlh, tb) || !tb[PHLOEM_A_DEV_INDEX])
		return -EINVAL;
	d->index = nla_get_u32(tb[PHLOEM_A_DEV_INDEX]);
	copy_name(d->name, tb[PHLOEM_A_DEV_NAME]);
	d->state = u32_or(tb[PHLOEM_A_DEV_STATE], 0);
	d->mains_hz = u32_or(tb[PHLOEM_A_DEV_MAINS_HZ], 0);
	d->freq_mhz = u32_or(tb[PHLOEM_A_DEV_FREQ_MHZ], 0);
	d->vrms_mv = u32_or(tb[PHLOEM_A_DEV_VRMS_MV], 0);
	d->site_p_mw = (int32_t)u32_or(tb[PHLOEM_A_DEV_SITE_P_MW], 0);
	d->lease_left_ms = u32_or(tb[PHLOEM_A_DEV_LEASE_LEFT_MS], 0);
	d->sample_rate_hz = u32_or(tb[PHLOEM_A_DEV_SAMPLE_RATE_HZ], 0);
	d->site_import_limit_mw = u32_or(tb[PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW], 0);
	err = parse_list(tb[PHLOEM_A_DEV_CHANNELS], PHLOEM_A_LIST_CHANNEL, parse_chan, d);
	if (!err)
		err = parse_list(tb[PHLOEM_A_DEV_CIRCUITS], PHLOEM_A_LIST_CIRCUIT, parse_circuit, d);
	if (!err)
		err = parse_list(tb[PHLOEM_A_DEV_RELAYS], PHLOEM_A_LIST_RELAY, parse_relay, d);
	if (!err && tb[PHLOEM_A_DEV_FREQ]) {
		struct nlattr *ft[PHLOEM_A_FREQ_MAX + 1];

		if (nla_parse_nested(ft, PHLOEM_A_FREQ_MAX, tb[PHLOEM_A_DEV_FREQ], freq_pol))
			return -EINVAL;
		d->freq.est_mhz = u32_or(ft[PHLOEM_A_FREQ_EST_MHZ], 0);
		d->freq.over_mhz = u32_or(ft[PHLOEM_A_FREQ_OVER_MHZ], 0);
		d->freq.over_ms = u32_or(ft[PHLOEM_A_FREQ_OVER_MS], 0);
		err = parse_list(ft[PHLOEM_A_FREQ_STAGES], PHLOEM_A_LIST_STAGE, parse_stage, d);
	}
	d->signal_state = u32_or(tb[PHLOEM_A_DEV_SIGNAL_STATE], 0);
	d->import_cap_mw = u32_or(tb[PHLOEM_A_DEV_IMPORT_CAP_MW], 0);
	d->signal_debounce_us = u32_or(tb[PHLOEM_A_DEV_SIGNAL_DEBOUNCE_US], 0);
	if (!err)
		err = parse_list(tb[PHLOEM_A_DEV_SIGNALS], PHLOEM_A_LIST_SIGNAL, parse_signal, d);
	if (!err && tb[PHLOEM_A_DEV_PHASE]) {
		struct nlattr *pt[PHLOEM_A_PHASE_MAX + 1];

		if (nla_parse_nested(pt, PHLOEM_A_PHASE_MAX, tb[PHLOEM_A_DEV_PHASE], phase_pol))
			return -EINVAL;
		d->phase.imbalance_ma = u32_or(pt[PHLOEM_A_PHASE_IMBALANCE_MA], 0);
		d->phase.imbalance_mva = u32_or(pt[PHLOEM_A_PHASE_IMBALANCE_MVA], 0);
		d->phase.grace_ms = u32_or(pt[PHLOEM_A_PHASE_GRACE_MS], 0);
		d->phase.spread_ma = u32_or(pt[PHLOEM_A_PHASE_SPREAD_MA], 0);
		d->phase.spread_mva = u32_or(pt[PHLOEM_A_PHASE_SPREAD_MVA], 0);
		err = parse_list(pt[PHLOEM_A_PHASE_LIST], PHLOEM_A_LIST_PHASE, parse_phase, d);
	}
	if (!err && tb[PHLOEM_A_DEV_MAINS]) {
		struct nlattr *mt[PHLOEM_A_MAINS_MAX + 1];

		if (nla_parse_nested(mt, PHLOEM_A_MAINS_MAX, tb[PHLOEM_A_DEV_MAINS], mains_pol))
			return -EINVAL;
		d->mains.present = true;
		for (size_t i = 0; i < sizeof(mains_fields) / sizeof(mains_fields[0]); i++)
			*(uint32_t *)((char *)&d->mains.cfg + mains_fields[i].off) =
				u32_or(mt[mains_fields[i].attr], 0);
		d->mains.state = u32_or(mt[PHLOEM_A_MAINS_STATE], PHLOEM_MAINS_NONE);
		d->mains.return_left_ms = u32_or(mt[PHLOEM_A_MAINS_RETURN_LEFT_MS], 0);
		d->mains.outage_ms = u32_or(mt[PHLOEM_A_MAINS_OUTAGE_MS], 0);
		err = parse_list(mt[PHLOEM_A_MAINS_PHASES], PHLOEM_A_LIST_VOLT, parse_volt, d);
	}
	return err;
}

int phloem_nl_parse_event(const struct nlmsghdr *nlh, uint32_t *dev,
			  struct phloem_rec_event *ev, uint64_t *time_ns)
{
	struct nlattr *tb[PHLOEM_A_MAX + 1], *et[PHLOEM_A_EV_MAX + 1];

	if (parse_top(nlh, tb) || !tb[PHLOEM_A_DEV_INDEX] || !tb[PHLOEM_A_EVENT])
		return -EINVAL;
	if (nla_parse_nested(et, PHLOEM_A_EV_MAX, tb[PHLOEM_A_EVENT], ev_pol) ||
	    !et[PHLOEM_A_EV_KIND])
		return -EINVAL;
	memset(ev, 0, sizeof(*ev));
	*dev = nla_get_u32(tb[PHLOEM_A_DEV_INDEX]);
	ev->kind = (uint16_t)nla_get_u32(et[PHLOEM_A_EV_KIND]);
	ev->cause = (uint16_t)u32_or(et[PHLOEM_A_EV_CAUSE], 0);
	ev->relay = (uint8_t)u32_or(et[PHLOEM_A_EV_RELAY], PHLOEM_NONE);
	ev->circuit = (uint8_t)u32_or(et[PHLOEM_A_EV_CIRCUIT], PHLOEM_NONE);
	ev->channel = (uint8_t)u32_or(et[PHLOEM_A_EV_LINE] ?: et[PHLOEM_A_EV_CHANNEL],
				      PHLOEM_NONE);
	ev->backoff = (uint8_t)u32_or(et[PHLOEM_A_EV_BACKOFF], 0);
	/* a frequency event's stage rides in the record's backoff byte */
	if (et[PHLOEM_A_EV_STAGE])
		ev->backoff = (uint8_t)nla_get_u32(et[PHLOEM_A_EV_STAGE]);
	ev->value = u32_or(et[PHLOEM_A_EV_VALUE], 0);
	ev->limit = u32_or(et[PHLOEM_A_EV_LIMIT], 0);
	ev->trigger_ns = et[PHLOEM_A_EV_TRIGGER_NS] ? nla_get_u64(et[PHLOEM_A_EV_TRIGGER_NS]) : 0;
	ev->latency_ns = et[PHLOEM_A_EV_LATENCY_NS] ? nla_get_u64(et[PHLOEM_A_EV_LATENCY_NS]) : 0;
	*time_ns = et[PHLOEM_A_EV_TIME_NS] ? nla_get_u64(et[PHLOEM_A_EV_TIME_NS]) : 0;
	return 0;
}

int phloem_nl_parse_stats(const struct nlmsghdr *nlh, struct phloem_stats *st)
{
	struct nlattr *tb[PHLOEM_A_MAX + 1], *s[PHLOEM_A_STATS_MAX + 1], *a;
	__u64 *dst = &st->samples;
	int rem, n = 0;

	if (parse_top(nlh, tb) || !tb[PHLOEM_A_STATS])
		return -EINVAL;
	if (nla_parse_nested(s, PHLOEM_A_STATS_MAX, tb[PHLOEM_A_STATS], stats_pol))
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	/* SAMPLES..LAT_SUM_NS are in struct order: samples .. lat_sum_ns */
	for (int i = PHLOEM_A_STATS_SAMPLES; i <= PHLOEM_A_STATS_LAT_SUM_NS; i++)
		dst[i - PHLOEM_A_STATS_SAMPLES] = s[i] ? nla_get_u64(s[i]) : 0;
	if (s[PHLOEM_A_STATS_LAT_HIST]) {
		nla_for_each_nested(a, s[PHLOEM_A_STATS_LAT_HIST], rem) {
			struct nlattr *b[PHLOEM_A_BUCKET_MAX + 1];

			if (nla_type(a) != PHLOEM_A_LIST_BUCKET || n >= PHLOEM_LAT_BUCKETS ||
			    nla_parse_nested(b, PHLOEM_A_BUCKET_MAX, a, bucket_pol) ||
			    !b[PHLOEM_A_BUCKET_BOUND_NS] || !b[PHLOEM_A_BUCKET_COUNT])
				return -EINVAL;
			/* only non-empty buckets are sent: keep them in order */
			st->lat_bound_ns[n] = nla_get_u64(b[PHLOEM_A_BUCKET_BOUND_NS]);
			st->lat_hist[n] = nla_get_u64(b[PHLOEM_A_BUCKET_COUNT]);
			n++;
		}
	}
	return 0;
}

/* ---- requests ---- */

struct req {
	struct phloem_nl *nl;
	int (*parse)(struct nl_msg *msg, void *ctx);
	void *ctx;
	int err;	/* 1 while waiting, then 0 or -errno */
};

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct req *r = arg;
	int err;

	if (!r->parse)
		return NL_OK;
	err = r->parse(msg, r->ctx);
	if (err && r->err > 0)
		r->err = err;
	return NL_OK;
}

static int on_finish(struct nl_msg *msg, void *arg)
{
	struct req *r = arg;

	if (r->err > 0)
		r->err = 0;
	return NL_SKIP;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct req *r = arg;

	if (r->err > 0)
		r->err = 0;
	return NL_STOP;
}

/* Pull NLMSGERR_ATTR_MSG out of an error carrying extack TLVs. */
static void extack_msg(struct phloem_nl *nl, struct nlmsghdr *nlh,
		       struct nlmsgerr *e)
{
	size_t off = sizeof(*e);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	struct nlattr *attrs;
	int len;

	nl->err[0] = 0;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	len = (int)nlh->nlmsg_len - (int)NLMSG_HDRLEN - (int)off;
	if (len <= 0)
		return;
	attrs = (struct nlattr *)((char *)e + off);
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, attrs, len, NULL))
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(nl->err, sizeof(nl->err), "%.*s",
			 nla_len(tb[NLMSGERR_ATTR_MSG]),
			 (const char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct req *r = arg;
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);

	extack_msg(r->nl, nlh, e);
	r->err = e->error ? e->error : 0;
	return NL_STOP;
}

static int transact(struct phloem_nl *nl, struct nl_msg *msg,
		    int (*parse)(struct nl_msg *, void *), void *ctx)
{
	struct req r = { .nl = nl, .parse = parse, .ctx = ctx, .err = 1 };
	struct nl_cb *cb;
	int err;

	nl->err[0] = 0;
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, &r);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_finish, &r);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &r);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, &r);
	err = nl_send_auto(nl->sk, msg);
	nlmsg_free(msg);
	if (err < 0) {
		nl_cb_put(cb);
		return nle_to_errno(err);
	}
	while (r.err > 0) {
		err = nl_recvmsgs(nl->sk, cb);
		if (err < 0 && r.err > 0)
			r.err = nle_to_errno(err);
	}
	nl_cb_put(cb);
	return r.err;
}

static struct nl_msg *msg_new(struct phloem_nl *nl, uint8_t cmd, int flags,
			      uint32_t dev, bool with_dev)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0,
			 flags | NLM_F_ACK, cmd, PHLOEM_GENL_VERSION) ||
	    (with_dev && nla_put_u32(msg, PHLOEM_A_DEV_INDEX, dev))) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static int parse_dev_cb(struct nl_msg *msg, void *ctx)
{
	return phloem_nl_parse_device(nlmsg_hdr(msg), ctx);
}

int phloem_nl_get_device(struct phloem_nl *nl, uint32_t dev,
			 struct phloem_nl_device *out)
{
	struct nl_msg *msg = msg_new(nl, PHLOEM_CMD_GET_DEVICE, 0, dev, true);

	if (!msg)
		return -ENOMEM;
	return transact(nl, msg, parse_dev_cb, out);
}

struct dump_ctx {
	void (*fn)(const struct phloem_nl_device *, void *);
	void *ctx;
	struct phloem_nl_device d;
};

static int dump_cb(struct nl_msg *msg, void *arg)
{
	struct dump_ctx *dc = arg;
	int err = phloem_nl_parse_device(nlmsg_hdr(msg), &dc->d);

	if (!err)
		dc->fn(&dc->d, dc->ctx);
	return err;
}

int phloem_nl_dump_devices(struct phloem_nl *nl,
			   void (*fn)(const struct phloem_nl_device *, void *),
			   void *ctx)
{
	struct dump_ctx *dc = calloc(1, sizeof(*dc));
	struct nl_msg *msg;
	int err;

	if (!dc)
		return -ENOMEM;
	dc->fn = fn;
	dc->ctx = ctx;
	msg = msg_new(nl, PHLOEM_CMD_GET_DEVICE, NLM_F_DUMP, 0, false);
	err = msg ? transact(nl, msg, dump_cb, dc) : -ENOMEM;
	free(dc);
	return err;
}

int phloem_nl_set_limits(struct phloem_nl *nl, uint32_t dev, uint32_t site_mw,
			 const uint32_t *circuit_ma, uint32_t ncircuits)
{
	return phloem_nl_set_policy(nl, dev, site_mw, circuit_ma, NULL, ncircuits, NULL, 0);
}

int phloem_nl_set_policy(struct phloem_nl *nl, uint32_t dev, uint32_t site_mw,
			 const uint32_t *circuit_ma, const uint32_t *max_hold_s,
			 uint32_t ncircuits,
			 const struct phloem_nl_relay_set *relays, uint32_t nrelays)
{
	struct nl_msg *msg = msg_new(nl, PHLOEM_CMD_SET_LIMITS, 0, dev, true);
	struct nlattr *list, *item;

	if (!msg)
		return -ENOMEM;
	if (site_mw != UINT32_MAX &&
	    nla_put_u32(msg, PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW, site_mw))
		goto nomem;
	if (ncircuits) {
		list = nla_nest_start(msg, PHLOEM_A_DEV_CIRCUITS);
		if (!list)
			goto nomem;
		for (uint32_t i = 0; i < ncircuits; i++) {
			bool hold = max_hold_s && max_hold_s[i] != UINT32_MAX;

			if (circuit_ma[i] == UINT32_MAX && !hold)
				continue;
			item = nla_nest_start(msg, PHLOEM_A_LIST_CIRCUIT);
			if (!item || nla_put_u32(msg, PHLOEM_A_CIRCUIT_INDEX, i) ||
			    (circuit_ma[i] != UINT32_MAX &&
			     nla_put_u32(msg, PHLOEM_A_CIRCUIT_LIMIT_MA, circuit_ma[i])) ||
			    (hold && nla_put_u32(msg, PHLOEM_A_CIRCUIT_MAX_HOLD_S, max_hold_s[i])))
				goto nomem;
			nla_nest_end(msg, item);
		}
		nla_nest_end(msg, list);
	}
	if (nrelays) {
		list = nla_nest_start(msg, PHLOEM_A_DEV_RELAYS);
		if (!list)
			goto nomem;
		for (uint32_t i = 0; i < nrelays; i++) {
			const struct phloem_nl_relay_set *rs = &relays[i];

			if (rs->set_override) {
				nlmsg_free(msg);
				return -EINVAL;
			}
			item = nla_nest_start(msg, PHLOEM_A_LIST_RELAY);
			if (!item || nla_put_u32(msg, PHLOEM_A_RELAY_INDEX, rs->index) ||
			    (rs->set_priority && nla_put_u32(msg, PHLOEM_A_RELAY_PRIORITY, rs->priority)) ||
			    (rs->set_flags && nla_put_u32(msg, PHLOEM_A_RELAY_FLAGS, rs->flags)) ||
			    (rs->set_min_off && nla_put_u32(msg, PHLOEM_A_RELAY_MIN_OFF_MS, rs->min_off_ms)))
				goto nomem;
			nla_nest_end(msg, item);
		}
		nla_nest_end(msg, list);
	}
	return transact(nl, msg, NULL, NULL);
nomem:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

int phloem_nl_set_max_holds(struct phloem_nl *nl, uint32_t dev,
			    const uint32_t *max_hold_s, uint32_t ncircuits)
{
	uint32_t keep[PHLOEM_MAX_CIRCUITS];

	if (ncircuits > PHLOEM_MAX_CIRCUITS)
		return -EINVAL;
	for (uint32_t i = 0; i < ncircuits; i++)
		keep[i] = UINT32_MAX;
	return phloem_nl_set_policy(nl, dev, UINT32_MAX, keep, max_hold_s, ncircuits,
				    NULL, 0);
}

int phloem_nl_set_signals(struct phloem_nl *nl, uint32_t dev,
			  uint32_t debounce_us, const uint32_t *cap_mw,
			  const uint32_t *shed_relays, uint32_t nsignals)
{
	struct nl_msg *msg = msg_new(nl, PHLOEM_CMD_SET_LIMITS, 0, dev, true);
	struct nlattr *list, *item;

	if (!msg)
		return -ENOMEM;
	if (debounce_us != UINT32_MAX &&
	    nla_put_u32(msg, PHLOEM_A_DEV_SIGNAL_DEBOUNCE_US, debounce_us))
		goto nomem;
	if (nsignals) {
		list = nla_nest_start(msg, PHLOEM_A_DEV_SIGNALS);
		if (!list)
			goto nomem;
		for (uint32_t i = 0; i < nsignals; i++) {
			if (cap_mw[i] == UINT32_MAX && shed_relays[i] == UINT32_MAX)
				continue;
			item = nla_nest_start(msg, PHLOEM_A_LIST_SIGNAL);
			if (!item || nla_put_u32(msg, PHLOEM_A_SIGNAL_INDEX, i) ||
			    (cap_mw[i] != UINT32_MAX &&
			     nla_put_u32(msg, PHLOEM_A_SIGNAL_IMPORT_CAP_MW, cap_mw[i])) ||
			    (shed_relays[i] != UINT32_MAX &&
			     nla_put_u32(msg, PHLOEM_A_SIGNAL_SHED_RELAYS, shed_relays[i])))
				goto nomem;
			nla_nest_end(msg, item);
		}
		nla_nest_end(msg, list);
	}
	return transact(nl, msg, NULL, NULL);
nomem:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

int phloem_nl_set_phase(struct phloem_nl *nl, uint32_t dev,
			const uint32_t *limit_ma, uint32_t imbalance_ma,
			uint32_t imbalance_mva, uint32_t grace_ms)
{
	struct nl_msg *msg = msg_new(nl, PHLOEM_CMD_SET_LIMITS, 0, dev, true);
	struct nlattr *f, *list, *item;

	if (!msg)
		return -ENOMEM;
	f = nla_nest_start(msg, PHLOEM_A_DEV_PHASE);
	if (!f ||
	    (imbalance_ma != UINT32_MAX &&
	     nla_put_u32(msg, PHLOEM_A_PHASE_IMBALANCE_MA, imbalance_ma)) ||
	    (imbalance_mva != UINT32_MAX &&
	     nla_put_u32(msg, PHLOEM_A_PHASE_IMBALANCE_MVA, imbalance_mva)) ||
	    (grace_ms != UINT32_MAX &&
	     nla_put_u32(msg, PHLOEM_A_PHASE_GRACE_MS, grace_ms)))
		goto nomem;
	list = nla_nest_start(msg, PHLOEM_A_PHASE_LIST);
	if (!list)
		goto nomem;
	for (uint32_t p = 0; p < PHLOEM_MAX_PHASES; p++) {
		if (limit_ma[p] == UINT32_MAX)
			continue;
		item = nla_nest_start(msg, PHLOEM_A_LIST_PHASE);
		if (!item || nla_put_u32(msg, PHLOEM_A_PH_INDEX, p) ||
		    nla_put_u32(msg, PHLOEM_A_PH_LIMIT_MA, limit_ma[p]))
			goto nomem;
		nla_nest_end(msg, item);
	}
	nla_nest_end(msg, list);
	nla_nest_end(msg, f);
	return transact(nl, msg, NULL, NULL);
nomem:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

int phloem_nl_set_mains(struct phloem_nl *nl, uint32_t dev,
			const struct phloem_nl_mains_cfg *m)
{
	struct nl_msg *msg = msg_new(nl, PHLOEM_CMD_SET_LIMITS, 0, dev, true);
	struct nlattr *n;

	if (!msg)
		return -ENOMEM;
	n = nla_nest_start(msg, PHLOEM_A_DEV_MAINS);
	if (!n)
		goto nomem;
	for (size_t i = 0; i < sizeof(mains_fields) / sizeof(mains_fields[0]); i++) {
		uint32_t v = *(const uint32_t *)((const char *)m + mains_fields[i].off);

		if (v != UINT32_MAX && nla_put_u32(msg, mains_fields[i].attr, v))
			goto nomem;
	}
	nla_nest_end(msg, n);
	return transact(nl, msg, NULL, NULL);
nomem:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

int phloem_nl_set_relay(struct phloem_nl *nl, uint32_t dev,
			const struct phloem_nl_relay_set *rs)
{
	struct nl_msg *msg = msg_new(nl, PHLOEM_CMD_SET_RELAY, 0, dev, true);
	struct nlattr *n;

	if (!msg)
		return -ENOMEM;
	n = nla_nest_start(msg, PHLOEM_A_RELAY);
	if (!n || nla_put_u32(msg, PHLOEM_A_RELAY_INDEX, rs->index) ||
	    (rs->set_priority && nla_put_u32(msg, PHLOEM_A_RELAY_PRIORITY, rs->priority)) ||
	    (rs->set_flags && nla_put_u32(msg, PHLOEM_A_RELAY_FLAGS, rs->flags)) ||
	    (rs->set_min_off && nla_put_u32(msg, PHLOEM_A_RELAY_MIN_OFF_MS, rs->min_off_ms)) ||
	    (rs->set_override && (nla_put_u32(msg, PHLOEM_A_RELAY_OVERRIDE, rs->override) ||
				  nla_put_u32(msg, PHLOEM_A_RELAY_OVERRIDE_MS, rs->override_ms)))) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, n);
	return transact(nl, msg, NULL, NULL);
}

int phloem_nl_set_freq(struct phloem_nl *nl, uint32_t dev, uint32_t over_mhz,
		       uint32_t over_ms, const struct phloem_freq_stage *stages,
		       uint32_t mask)
{
	struct nl_msg *msg = msg_new(nl, PHLOEM_CMD_SET_LIMITS, 0, dev, true);
	struct nlattr *f, *list, *item;

	if (!msg)
		return -ENOMEM;
	f = nla_nest_start(msg, PHLOEM_A_DEV_FREQ);
	if (!f || (over_mhz != UINT32_MAX &&
		   (nla_put_u32(msg, PHLOEM_A_FREQ_OVER_MHZ, over_mhz) ||
		    nla_put_u32(msg, PHLOEM_A_FREQ_OVER_MS, over_ms))))
		goto nomem;
	if (mask) {
		list = nla_nest_start(msg, PHLOEM_A_FREQ_STAGES);
		if (!list)
			goto nomem;
		for (uint32_t k = 0; k < PHLOEM_FREQ_STAGES; k++) {
			const struct phloem_freq_stage *fc = &stages[k];

			if (!(mask & (1U << k)))
				continue;
			item = nla_nest_start(msg, PHLOEM_A_LIST_STAGE);
			if (!item || nla_put_u32(msg, PHLOEM_A_STAGE_INDEX, k) ||
			    (fc->threshold_mhz &&
			     (nla_put_u32(msg, PHLOEM_A_STAGE_THRESHOLD_MHZ, fc->threshold_mhz) ||
			      nla_put_u32(msg, PHLOEM_A_STAGE_DELAY_MS, fc->delay_ms) ||
			      nla_put_u32(msg, PHLOEM_A_STAGE_HYST_MHZ, fc->hyst_mhz) ||
			      nla_put_u32(msg, PHLOEM_A_STAGE_RESTORE_MS, fc->restore_ms) ||
			      nla_put_u32(msg, PHLOEM_A_STAGE_PRIO_MIN, fc->prio_min) ||
			      nla_put_u32(msg, PHLOEM_A_STAGE_PRIO_MAX, fc->prio_max))))
				goto nomem;
			nla_nest_end(msg, item);
		}
		nla_nest_end(msg, list);
	}
	nla_nest_end(msg, f);
	return transact(nl, msg, NULL, NULL);
nomem:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

int phloem_nl_lease(struct phloem_nl *nl, uint32_t dev, uint32_t timeout_ms)
{
	struct nl_msg *msg = msg_new(nl, PHLOEM_CMD_LEASE, 0, dev, true);

	if (!msg)
		return -ENOMEM;
	if (nla_put_u32(msg, PHLOEM_A_LEASE_TIMEOUT_MS, timeout_ms)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return transact(nl, msg, NULL, NULL);
}

static int parse_stats_cb(struct nl_msg *msg, void *ctx)
{
	return phloem_nl_parse_stats(nlmsg_hdr(msg), ctx);
}

int phloem_nl_get_stats(struct phloem_nl *nl, uint32_t dev,
			struct phloem_stats *st)
{
	struct nl_msg *msg = msg_new(nl, PHLOEM_CMD_GET_STATS, 0, dev, true);

	if (!msg)
		return -ENOMEM;
	return transact(nl, msg, parse_stats_cb, st);
}

/* ---- events ---- */

int phloem_nl_subscribe(struct phloem_nl *nl)
{
	int grp, err;

	if (nl->ev)
		return 0;
	grp = genl_ctrl_resolve_grp(nl->sk, PHLOEM_GENL_NAME, PHLOEM_GENL_MCGRP_EVENTS);
	if (grp < 0)
		return grp == -NLE_OBJ_NOTFOUND ? -ENOENT : nle_to_errno(grp);
	nl->ev = sock_new();
	if (!nl->ev)
		return -ENOMEM;
	/* multicast messages carry no sequence numbers of ours */
	nl_socket_disable_seq_check(nl->ev);
	err = nl_socket_add_membership(nl->ev, grp);
	if (!err)
		err = nl_socket_set_nonblocking(nl->ev);
	if (err) {
		nl_socket_free(nl->ev);
		nl->ev = NULL;
		return nle_to_errno(err);
	}
	return 0;
}

int phloem_nl_event_fd(const struct phloem_nl *nl)
{
	return nl->ev ? nl_socket_get_fd(nl->ev) : -1;
}

struct ev_ctx {
	void (*fn)(uint32_t, const struct phloem_rec_event *, uint64_t, void *);
	void *ctx;
};

static int ev_cb(struct nl_msg *msg, void *arg)
{
	struct ev_ctx *ec = arg;
	struct genlmsghdr *g = genlmsg_hdr(nlmsg_hdr(msg));
	struct phloem_rec_event ev;
	uint64_t t;
	uint32_t dev;

	/* a malformed event is skipped, never fatal: the daemon carries on */
	if (g->cmd == PHLOEM_CMD_EVENT &&
	    !phloem_nl_parse_event(nlmsg_hdr(msg), &dev, &ev, &t))
		ec->fn(dev, &ev, t, ec->ctx);
	return NL_OK;
}

static int no_seq_check(struct nl_msg *msg, void *arg)
{
	return NL_OK;
}

int phloem_nl_recv_events(struct phloem_nl *nl,
			  void (*fn)(uint32_t, const struct phloem_rec_event *,
				     uint64_t, void *),
			  void *ctx)
{
	struct ev_ctx ec = { fn, ctx };
	struct nl_cb *cb;
	int err;

	if (!nl->ev)
		return -EINVAL;
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, ev_cb, &ec);
	/* a fresh callback set has the default sequence check again (the
	 * socket's own, disabled in subscribe, is not used here): multicast
	 * messages carry the kernel's sequence numbers, not ours */
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, no_seq_check, NULL);
	do {
		err = nl_recvmsgs(nl->ev, cb);
	} while (err >= 0);
	nl_cb_put(cb);
	return err == -NLE_AGAIN ? 0 : nle_to_errno(err);
}

/* ---- conversions ---- */

void phloem_nl_device_info(const struct phloem_nl_device *d,
			   struct phloem_info *in)
{
	memset(in, 0, sizeof(*in));
	in->size = sizeof(*in);
	in->abi_version = PHLOEM_ABI_VERSION;
	snprintf(in->name, sizeof(in->name), "%s", d->name);
	in->nchannels = d->nchannels;
	in->ncircuits = d->ncircuits;
	in->nrelays = d->nrelays;
	in->mains_hz = d->mains_hz;
	in->nsignals = d->nsignals;
	in->record_size = PHLOEM_RECORD_SIZE;
	in->ring_records = PHLOEM_RING_RECORDS;
	for (uint32_t i = 0; i < d->nchannels; i++) {
		snprintf(in->chan[i].name, PHLOEM_NAME_LEN, "%s", d->chan[i].name);
		in->chan[i].kind = (uint8_t)d->chan[i].kind;
		in->chan[i].phase = (uint8_t)d->chan[i].phase;
		in->chan[i].circuit = (uint8_t)d->chan[i].circuit;
	}
	for (uint32_t i = 0; i < d->ncircuits; i++) {
		snprintf(in->circuit[i].name, PHLOEM_NAME_LEN, "%s", d->circuit[i].name);
		in->circuit[i].channel = (uint8_t)d->circuit[i].channel;
		in->circuit[i].curve = (uint8_t)d->circuit[i].curve;
		in->circuit[i].rating_ma = d->circuit[i].rating_ma;
	}
	for (uint32_t i = 0; i < d->nrelays; i++) {
		snprintf(in->relay[i].name, PHLOEM_NAME_LEN, "%s", d->relay[i].name);
		in->relay[i].safe_state = (uint8_t)d->relay[i].safe_state;
	}
}

void phloem_nl_device_status(const struct phloem_nl_device *d,
			     struct phloem_status *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->state = d->state;
	st->lease_left_ms = d->lease_left_ms;
	st->site_p_mw = d->site_p_mw;
	st->freq_mhz = d->freq_mhz;
	st->vrms_mv = d->vrms_mv;
	for (uint32_t i = 0; i < d->ncircuits; i++) {
		st->circuit[i].irms_ma = d->circuit[i].irms_ma;
		st->circuit[i].limit_ma = d->circuit[i].limit_ma;
		st->circuit[i].heat_permille = d->circuit[i].heat_permille;
	}
	for (uint32_t i = 0; i < d->nrelays; i++) {
		const struct phloem_nl_relay *r = &d->relay[i];

		st->relay[i].on = (uint8_t)r->on;
		st->relay[i].reason = (uint8_t)r->reason;
		st->relay[i].backoff = (uint8_t)r->backoff;
		st->relay[i].override = (uint8_t)r->override;
		st->relay[i].shed_count = r->shed_count;
		st->relay[i].restore_in_ms = r->left_ms;
		st->relay[i].load_ma = r->load_ma;
	}
	for (uint32_t i = 0; i < d->nchannels; i++) {
		st->energy[i].import_mwh = d->chan[i].import_mwh;
		st->energy[i].export_mwh = d->chan[i].export_mwh;
	}
	st->freq_est_mhz = d->freq.est_mhz;
	for (uint32_t k = 0; k < PHLOEM_FREQ_STAGES; k++) {
		st->freq_stage[k] = (uint8_t)d->freq.state[k];
		st->freq_left_ms[k] = d->freq.left_ms[k];
	}
	st->signal_state = d->signal_state;
	st->import_cap_mw = d->import_cap_mw;
	st->mains_state = (uint8_t)d->mains.state;
	st->return_left_ms = d->mains.return_left_ms;
	st->outage_ms = d->mains.outage_ms;
	for (uint32_t p = 0; p < PHLOEM_MAX_PHASES; p++) {
		if (!(d->mains.phases & (1U << p)))
			continue;
		st->phase_vrms_mv[p] = d->mains.rms_mv[p];
		st->volt_state[p] = (uint8_t)d->mains.volt_state[p];
	}
}

/* ---- names ---- */

#define NAME(tbl, v) ((v) < sizeof(tbl) / sizeof(tbl[0]) && tbl[v] ? tbl[v] : "?")

const char *phloem_nl_event_name(uint32_t kind)
{
	static const char *const t[] = {
		[PHLOEM_EV_UNSPEC] = "unspec",
		[PHLOEM_EV_OVERLOAD] = "overload",
		[PHLOEM_EV_SHED] = "shed",
		[PHLOEM_EV_RESTORE] = "restore",
		[PHLOEM_EV_FAILSAFE_ENTER] = "failsafe-enter",
		[PHLOEM_EV_FAILSAFE_LEAVE] = "failsafe-leave",
		[PHLOEM_EV_LEASE_EXPIRED] = "lease-expired",
		[PHLOEM_EV_ADC_FAULT] = "adc-fault",
		[PHLOEM_EV_OVERRIDE] = "override",
		[PHLOEM_EV_CONFIG] = "config",
		[PHLOEM_EV_HOLD] = "hold",
		[PHLOEM_EV_FREQ] = "freq",
		[PHLOEM_EV_SIGNAL] = "grid-signal",
		[PHLOEM_EV_MAINS] = "mains",
		[PHLOEM_EV_VOLTAGE] = "voltage",
	};
	return NAME(t, kind);
}

const char *phloem_nl_cause_name(uint32_t cause)
{
	static const char *const t[] = {
		[PHLOEM_CAUSE_NONE] = "none",
		[PHLOEM_CAUSE_INSTANT] = "instant",
		[PHLOEM_CAUSE_THERMAL] = "thermal",
		[PHLOEM_CAUSE_SITE_IMPORT] = "site-import",
		[PHLOEM_CAUSE_MANUAL] = "manual",
		[PHLOEM_CAUSE_LEASE] = "lease",
		[PHLOEM_CAUSE_ADC] = "adc",
		[PHLOEM_CAUSE_STALE] = "stale",
		[PHLOEM_CAUSE_UNLOAD] = "unload",
		[PHLOEM_CAUSE_HEADROOM] = "headroom",
		[PHLOEM_CAUSE_HOLD] = "hold",
		[PHLOEM_CAUSE_UNDER_FREQ] = "under-freq",
		[PHLOEM_CAUSE_OVER_FREQ] = "over-freq",
		[PHLOEM_CAUSE_FREQ_OK] = "freq-ok",
		[PHLOEM_CAUSE_GRID_SIGNAL] = "grid-signal",
		[PHLOEM_CAUSE_PHASE] = "phase",
		[PHLOEM_CAUSE_IMBALANCE] = "imbalance",
		[PHLOEM_CAUSE_IMBALANCE_VA] = "imbalance-va",
		[PHLOEM_CAUSE_OUTAGE] = "outage",
		[PHLOEM_CAUSE_MAINS_BACK] = "mains-back",
		[PHLOEM_CAUSE_UNDER_VOLTAGE] = "under-voltage",
		[PHLOEM_CAUSE_OVER_VOLTAGE] = "over-voltage",
		[PHLOEM_CAUSE_VOLTAGE_OK] = "voltage-ok",
	};
	return NAME(t, cause);
}

const char *phloem_nl_reason_name(uint32_t reason)
{
	static const char *const t[] = {
		[PHLOEM_RELAY_AUTO] = "auto",
		[PHLOEM_RELAY_SHED] = "shed",
		[PHLOEM_RELAY_MANUAL] = "manual",
		[PHLOEM_RELAY_SAFE] = "safe",
	};
	return NAME(t, reason);
}

const char *phloem_nl_hold_name(uint32_t hold)
{
	static const char *const t[] = {
		[PHLOEM_HOLD_NONE] = "-",
		[PHLOEM_HOLD_MIN_OFF] = "min-off",
		[PHLOEM_HOLD_ESTIMATE] = "estimate",
		[PHLOEM_HOLD_SHEDDING] = "shedding",
		[PHLOEM_HOLD_CIRCUIT] = "circuit",
		[PHLOEM_HOLD_SITE] = "site",
		[PHLOEM_HOLD_NO_FIT] = "no-fit",
		[PHLOEM_HOLD_DELAY] = "delay",
		[PHLOEM_HOLD_FREQ] = "freq",
		[PHLOEM_HOLD_SIGNAL] = "grid-signal",
		[PHLOEM_HOLD_PHASE] = "phase",
		[PHLOEM_HOLD_OUTAGE] = "outage",
		[PHLOEM_HOLD_VOLTAGE] = "voltage",
	};
	return NAME(t, hold);
}

const char *phloem_nl_override_name(uint32_t mode)
{
	static const char *const t[] = {
		[PHLOEM_OVERRIDE_AUTO] = "auto",
		[PHLOEM_OVERRIDE_OFF] = "off",
		[PHLOEM_OVERRIDE_ON] = "on",
	};
	return NAME(t, mode);
}

const char *phloem_nl_freq_state_name(uint32_t state)
{
	static const char *const t[] = {
		[PHLOEM_FREQ_OFF] = "off",
		[PHLOEM_FREQ_IDLE] = "idle",
		[PHLOEM_FREQ_PENDING] = "pending",
		[PHLOEM_FREQ_OPERATED] = "operated",
		[PHLOEM_FREQ_RECOVERING] = "recovering",
	};
	return NAME(t, state);
}

const char *phloem_nl_phase_state_name(uint32_t state)
{
	static const char *const t[] = {
		[PHLOEM_PHASE_NONE] = "none",
		[PHLOEM_PHASE_OK] = "ok",
		[PHLOEM_PHASE_FULL] = "full",
		[PHLOEM_PHASE_OVER] = "over",
		[PHLOEM_PHASE_HEAVY] = "heavy",
	};
	return NAME(t, state);
}

const char *phloem_nl_mains_state_name(uint32_t state)
{
	static const char *const t[] = {
		[PHLOEM_MAINS_NONE] = "off",
		[PHLOEM_MAINS_OK] = "ok",
		[PHLOEM_MAINS_OUTAGE] = "outage",
		[PHLOEM_MAINS_RETURN] = "return",
	};
	return NAME(t, state);
}

const char *phloem_nl_volt_state_name(uint32_t state)
{
	static const char *const t[] = {
		[PHLOEM_VOLT_NONE] = "none",
		[PHLOEM_VOLT_OK] = "ok",
		[PHLOEM_VOLT_UNDER] = "under",
		[PHLOEM_VOLT_OVER] = "over",
	};
	return NAME(t, state);
}

const char *phloem_nl_curve_name(uint32_t curve)
{
	static const char *const t[] = {
		[PHLOEM_CURVE_B] = "B",
		[PHLOEM_CURVE_C] = "C",
		[PHLOEM_CURVE_D] = "D",
	};
	return NAME(t, curve);
}

/* ---- quantities for operators ---- */

static char *fmt_current(uint32_t ma, int dec, char *buf, size_t len)
{
	snprintf(buf, len, "%.*f A", dec, ma / 1000.0);
	return buf;
}

static char *fmt_power(int64_t mw, int dec, char *buf, size_t len)
{
	if (mw >= 1000000 || mw <= -1000000)
		snprintf(buf, len, "%.*f kW", dec + 2, mw / 1e6);
	else
		snprintf(buf, len, "%.*f W", dec, mw / 1e3);
	return buf;
}

char *phloem_nl_fmt_current(uint32_t ma, char *buf, size_t len)
{
	return fmt_current(ma, 1, buf, len);
}

char *phloem_nl_fmt_power(int64_t mw, char *buf, size_t len)
{
	return fmt_power(mw, 0, buf, len);
}

char *phloem_nl_fmt_measure(const char *cause, uint32_t value, uint32_t limit,
			    char *buf, size_t len)
{
	bool power = cause && (!strcmp(cause, "site-import") ||
			       !strcmp(cause, "grid-signal"));
	const char *op = cause && !strcmp(cause, "headroom") ? "<=" : ">";
	char v[32], l[32];

	/*
	 * Events without a cause measure nothing, except PHLOEM_EV_HOLD,
	 * whose value and limit are a reason and a time (phloemctl events
	 * prints those): no quantity for either.
	 */
	if ((!value && !limit) || (cause && !strcmp(cause, "none"))) {
		if (len)
			*buf = '\0';
		return buf;
	}
	/* the frequency rule measures mHz */
	if (cause && (!strcmp(cause, "under-freq") || !strcmp(cause, "over-freq") ||
		      !strcmp(cause, "freq-ok"))) {
		snprintf(buf, len, "%.3f Hz %s %.3f Hz", value / 1e3,
			 value < limit ? "<" : value > limit ? ">" : "=",
			 limit / 1e3);
		return buf;
	}
	/* the mains rules measure a phase's voltage, mV */
	if (cause && (!strcmp(cause, "outage") || !strcmp(cause, "mains-back") ||
		      !strcmp(cause, "under-voltage") || !strcmp(cause, "over-voltage") ||
		      !strcmp(cause, "voltage-ok"))) {
		/* an island's sheds carry the voltage alone */
		if (!limit) {
			snprintf(buf, len, "%.1f V", value / 1e3);
			return buf;
		}
		snprintf(buf, len, "%.1f V %s %.1f V", value / 1e3,
			 value < limit ? "<" : value > limit ? ">" : "=",
			 limit / 1e3);
		return buf;
	}
	/* the imbalance rule's apparent power, mVA */
	if (cause && !strcmp(cause, "imbalance-va")) {
		snprintf(buf, len, "%.2f kVA %s %.2f kVA", value / 1e6, op,
			 limit / 1e6);
		return buf;
	}
	/* one decimal, more while the two print alike but differ */
	for (int dec = power ? 0 : 1; dec <= 3; dec++) {
		if (power) {
			fmt_power(value, dec, v, sizeof(v));
			fmt_power(limit, dec, l, sizeof(l));
		} else {
			fmt_current(value, dec, v, sizeof(v));
			fmt_current(limit, dec, l, sizeof(l));
		}
		if (value == limit || strcmp(v, l))
			break;
	}
	snprintf(buf, len, "%s %s %s", v, op, l);
	return buf;
}
