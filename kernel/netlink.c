// SPDX-License-Identifier: GPL-2.0
/*
 * phloem generic netlink family "phloem": the control plane of every bound
 * HAT, and the "events" multicast group (uapi/linux/phloem.h, section
 * "Generic netlink family"; docs/netlink/phloem.yaml).
 *
 * Requests are validated by per-command strict policies before a handler
 * runs: an attribute a command does not take is rejected by the policy with
 * a message that says so, rather than silently ignored. Handlers then check
 * what a policy cannot express (indices against this device's topology,
 * limits against breaker ratings) for the whole message, and only then
 * apply the change as one unit under @shed_lock, through the same
 * phloem_shed_check_config()/phloem_shed_set_config() pair as the ioctl: a
 * refused request changes nothing.
 *
 * Ops are serialised by genl_mutex (no parallel_ops) and additionally hold
 * phloem_nl_lock, which remove takes to unpublish a device: an op that found
 * a device can use its hardware-facing state until it returns.
 */
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/mutex.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netlink.h>

#include "phloem.h"
#include "trace.h"

enum phloem_nl_groups {
	PHLOEM_NL_GRP_EVENTS,
};

static struct genl_family phloem_nl_family;

/*
 * phloem_nl_devs is indexed by phloem_dev.id (the N of /dev/phloemN), so a
 * doit finds its device in O(1) and a dump walks devices in index order and
 * resumes from an index. phloem_nl_gen changes with every add and remove so
 * a dump that raced one is flagged NLM_F_DUMP_INTR.
 */
static DEFINE_MUTEX(phloem_nl_lock);	/* phloem_nl_devs, phloem_nl_gen */
static struct phloem_dev *phloem_nl_devs[PHLOEM_MAX_DEVS];
static unsigned int phloem_nl_gen;

/* ------------------------------------------------------------------ */
/* Policies                                                            */
/* ------------------------------------------------------------------ */

#define PHLOEM_NL_REJECT(msg) { .type = NLA_REJECT, .reject_message = msg }

#define PHLOEM_NL_MSG_REPLY_ONLY \
	"reply-only attribute: it is reported by GET_DEVICE/GET_STATS and cannot be set"
#define PHLOEM_NL_MSG_NOT_HERE \
	"attribute not accepted by this command (see uapi/linux/phloem.h)"

/* min_off_ms, override expiry and lease timeout do not fit the s16 range */
static struct netlink_range_validation phloem_nl_min_off_range = {
	.min = 0, .max = 3600000,
};

static struct netlink_range_validation phloem_nl_override_ms_range = {
	.min = 0, .max = 86400000,	/* 0 only with PHLOEM_OVERRIDE_AUTO */
};

/* a range, not a function: `genl ctrl policy` dumps it (issue 17) */
static struct netlink_range_validation phloem_nl_max_hold_range = {
	.min = 0, .max = PHLOEM_MAX_HOLD_MAX_S,	/* 0: the default */
};

static struct netlink_range_validation phloem_nl_lease_range = {
	.min = 0, .max = 600000,	/* 1..99 refused by the handler */
};

static struct netlink_range_validation phloem_nl_phase_grace_range = {
	.min = 0, .max = PHLOEM_PHASE_GRACE_MAX_MS,
};

/* the mains rules' times: ranges the policy dump shows (issue 17) */
static struct netlink_range_validation phloem_nl_return_range = {
	.min = 0, .max = PHLOEM_RETURN_MS_MAX,	/* 0: the default */
};

static struct netlink_range_validation phloem_nl_stagger_range = {
	.min = 0, .max = PHLOEM_RETURN_STAGGER_MS_MAX,	/* 0: the default */
};

static struct netlink_range_validation phloem_nl_volt_delay_range = {
	.min = 0, .max = PHLOEM_VOLT_DELAY_MAX_MS,
};

static struct netlink_range_validation phloem_nl_uv_shed_ms_range = {
	.min = 0, .max = PHLOEM_UV_SHED_MAX_MS,
};

static const struct nla_policy phloem_nl_circuit_set_policy[PHLOEM_A_CIRCUIT_MAX + 1] = {
	[PHLOEM_A_CIRCUIT_INDEX] = NLA_POLICY_MAX(NLA_U32, PHLOEM_MAX_CIRCUITS - 1),
	[PHLOEM_A_CIRCUIT_NAME ... PHLOEM_A_CIRCUIT_RATING_MA] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_CIRCUIT_LIMIT_MA] = NLA_POLICY_MIN(NLA_U32, 1),
	[PHLOEM_A_CIRCUIT_BOOT_LIMIT_MA ... PHLOEM_A_CIRCUIT_HEAT_PERMILLE] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_CIRCUIT_MAX_HOLD_S] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &phloem_nl_max_hold_range),
};

static const struct nla_policy phloem_nl_circuit_list_policy[PHLOEM_A_LIST_MAX + 1] = {
	[PHLOEM_A_LIST_CHANNEL] =
		PHLOEM_NL_REJECT("PHLOEM_A_DEV_CIRCUITS holds PHLOEM_A_LIST_CIRCUIT nests only"),
	[PHLOEM_A_LIST_CIRCUIT] = NLA_POLICY_NESTED(phloem_nl_circuit_set_policy),
	[PHLOEM_A_LIST_RELAY ... PHLOEM_A_LIST_BUCKET] =
		PHLOEM_NL_REJECT("PHLOEM_A_DEV_CIRCUITS holds PHLOEM_A_LIST_CIRCUIT nests only"),
};

static const struct nla_policy phloem_nl_relay_set_policy[PHLOEM_A_RELAY_MAX + 1] = {
	[PHLOEM_A_RELAY_INDEX] = NLA_POLICY_MAX(NLA_U32, PHLOEM_MAX_RELAYS - 1),
	[PHLOEM_A_RELAY_NAME ... PHLOEM_A_RELAY_CIRCUIT] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_RELAY_PRIORITY] = NLA_POLICY_MAX(NLA_U32, 255),
	/*
	 * A mask, not a validation function: `genl ctrl policy` (any user
	 * may dump a family's policies) cannot describe a function, and 6.1's
	 * nla_get_range_unsigned() WARNs on one. The mask is also what a
	 * newer tool reads to learn which flags this module knows.
	 */
	[PHLOEM_A_RELAY_FLAGS] = NLA_POLICY_MASK(NLA_U32, __PHLOEM_RELAY_F_ALL),
	[PHLOEM_A_RELAY_SAFE_STATE ... PHLOEM_A_RELAY_BACKOFF] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_RELAY_OVERRIDE] = NLA_POLICY_MAX(NLA_U32, __PHLOEM_OVERRIDE_MAX - 1),
	[PHLOEM_A_RELAY_OVERRIDE_MS] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &phloem_nl_override_ms_range),
	[PHLOEM_A_RELAY_LEFT_MS ... PHLOEM_A_RELAY_LOAD_MA] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_RELAY_MIN_OFF_MS] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &phloem_nl_min_off_range),
	[PHLOEM_A_RELAY_HOLD] = PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
};

/*
 * A relay's policy inside SET_LIMITS (the whole policy in one request): the
 * index and any of priority, flags and minimum off time. An override is
 * an operator's act with an expiry: SET_RELAY only.
 */
static const struct nla_policy phloem_nl_relay_policy_set_policy[PHLOEM_A_RELAY_MAX + 1] = {
	[PHLOEM_A_RELAY_INDEX] = NLA_POLICY_MAX(NLA_U32, PHLOEM_MAX_RELAYS - 1),
	[PHLOEM_A_RELAY_NAME ... PHLOEM_A_RELAY_CIRCUIT] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_RELAY_PRIORITY] = NLA_POLICY_MAX(NLA_U32, 255),
	/* a mask, as in phloem_nl_relay_set_policy */
	[PHLOEM_A_RELAY_FLAGS] = NLA_POLICY_MASK(NLA_U32, __PHLOEM_RELAY_F_ALL),
	[PHLOEM_A_RELAY_SAFE_STATE ... PHLOEM_A_RELAY_BACKOFF] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_RELAY_OVERRIDE ... PHLOEM_A_RELAY_OVERRIDE_MS] =
		PHLOEM_NL_REJECT("an override goes through PHLOEM_CMD_SET_RELAY"),
	[PHLOEM_A_RELAY_LEFT_MS ... PHLOEM_A_RELAY_LOAD_MA] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_RELAY_MIN_OFF_MS] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &phloem_nl_min_off_range),
	[PHLOEM_A_RELAY_HOLD] = PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
};

static const struct nla_policy phloem_nl_relay_list_policy[PHLOEM_A_LIST_MAX + 1] = {
	[PHLOEM_A_LIST_CHANNEL ... PHLOEM_A_LIST_CIRCUIT] =
		PHLOEM_NL_REJECT("PHLOEM_A_DEV_RELAYS holds PHLOEM_A_LIST_RELAY nests only"),
	[PHLOEM_A_LIST_RELAY] = NLA_POLICY_NESTED(phloem_nl_relay_policy_set_policy),
	[PHLOEM_A_LIST_BUCKET] =
		PHLOEM_NL_REJECT("PHLOEM_A_DEV_RELAYS holds PHLOEM_A_LIST_RELAY nests only"),
};

/* a grid-operator line's action inside SET_LIMITS */
static const struct nla_policy phloem_nl_signal_set_policy[PHLOEM_A_SIGNAL_MAX + 1] = {
	[PHLOEM_A_SIGNAL_INDEX] = NLA_POLICY_MAX(NLA_U32, PHLOEM_MAX_SIGNALS - 1),
	[PHLOEM_A_SIGNAL_ACTIVE] = PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_SIGNAL_IMPORT_CAP_MW] = { .type = NLA_U32 },
	[PHLOEM_A_SIGNAL_SHED_RELAYS] =
		NLA_POLICY_MASK(NLA_U32, (1U << PHLOEM_MAX_RELAYS) - 1),
};

static const struct nla_policy phloem_nl_signal_list_policy[PHLOEM_A_LIST_MAX + 1] = {
	[PHLOEM_A_LIST_CHANNEL ... PHLOEM_A_LIST_BUCKET] =
		PHLOEM_NL_REJECT("PHLOEM_A_DEV_SIGNALS holds PHLOEM_A_LIST_SIGNAL nests only"),
	[PHLOEM_A_LIST_SIGNAL] = NLA_POLICY_NESTED(phloem_nl_signal_set_policy),
};

/* a phase's limit inside SET_LIMITS: the rest is measured */
static const struct nla_policy phloem_nl_ph_set_policy[PHLOEM_A_PH_MAX + 1] = {
	[PHLOEM_A_PH_INDEX] = NLA_POLICY_MAX(NLA_U32, PHLOEM_MAX_PHASES - 1),
	[PHLOEM_A_PH_CHANNEL ... PHLOEM_A_PH_S_MVA] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_PH_LIMIT_MA] = { .type = NLA_U32 },
	[PHLOEM_A_PH_STATE] = PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
};

static const struct nla_policy phloem_nl_ph_list_policy[PHLOEM_A_LIST_MAX + 1] = {
	[PHLOEM_A_LIST_CHANNEL ... PHLOEM_A_LIST_SIGNAL] =
		PHLOEM_NL_REJECT("PHLOEM_A_PHASE_LIST holds PHLOEM_A_LIST_PHASE nests only"),
	[PHLOEM_A_LIST_PHASE] = NLA_POLICY_NESTED(phloem_nl_ph_set_policy),
};

static const struct nla_policy phloem_nl_phase_set_policy[PHLOEM_A_PHASE_MAX + 1] = {
	[PHLOEM_A_PHASE_IMBALANCE_MA] = { .type = NLA_U32 },
	[PHLOEM_A_PHASE_IMBALANCE_MVA] = { .type = NLA_U32 },
	[PHLOEM_A_PHASE_GRACE_MS] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &phloem_nl_phase_grace_range),
	[PHLOEM_A_PHASE_SPREAD_MA ... PHLOEM_A_PHASE_SPREAD_MVA] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_PHASE_LIST] = NLA_POLICY_NESTED(phloem_nl_ph_list_policy),
};

/*
 * The mains rules inside SET_LIMITS. nominal_mv and uv_shed_pct are "0 or
 * a range": no policy type says that, so they are plain u32 and the
 * handler refuses the gap with its own message.
 */
static const struct nla_policy phloem_nl_mains_set_policy[PHLOEM_A_MAINS_MAX + 1] = {
	[PHLOEM_A_MAINS_NOMINAL_MV] = { .type = NLA_U32 },
	[PHLOEM_A_MAINS_OUTAGE_PCT] = NLA_POLICY_MAX(NLA_U32, PHLOEM_OUTAGE_MAX_PCT),
	[PHLOEM_A_MAINS_OUTAGE_CYCLES] =
		NLA_POLICY_MAX(NLA_U32, PHLOEM_OUTAGE_CYCLES_MAX),
	[PHLOEM_A_MAINS_OUTAGE_RELAYS] =
		NLA_POLICY_MASK(NLA_U32, (1U << PHLOEM_MAX_RELAYS) - 1),
	[PHLOEM_A_MAINS_RETURN_MS] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &phloem_nl_return_range),
	[PHLOEM_A_MAINS_RETURN_STAGGER_MS] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &phloem_nl_stagger_range),
	[PHLOEM_A_MAINS_VOLT_BAND_PCT] =
		NLA_POLICY_MAX(NLA_U32, PHLOEM_VOLT_BAND_MAX_PCT),
	[PHLOEM_A_MAINS_VOLT_DELAY_MS] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &phloem_nl_volt_delay_range),
	[PHLOEM_A_MAINS_UV_SHED_PCT] =
		NLA_POLICY_MAX(NLA_U32, PHLOEM_UV_SHED_MAX_PCT),
	[PHLOEM_A_MAINS_UV_SHED_MS] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &phloem_nl_uv_shed_ms_range),
	[PHLOEM_A_MAINS_STATE ... PHLOEM_A_MAINS_OUTAGE_MS] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
};

/**
 * struct phloem_nl_list_desc - one kind of item of a SET_LIMITS list
 * @max: highest attribute of its set
 * @policy: the set's policy
 * @index: its index attribute (required)
 * @a: one of the two attributes of which at least one must be given
 * @b: the other one
 * @need: extack message: neither @a nor @b given
 * @none: extack message: an index beyond the device
 * @twice: extack message: an index given twice
 */
struct phloem_nl_list_desc {
	int max;
	const struct nla_policy *policy;
	int index, a, b;
	const char *need, *none, *twice;
};

/* the items of SET_LIMITS's lists (phloem_nl_list_item()) */
static const struct phloem_nl_list_desc phloem_nl_circuit_item = {
	.max = PHLOEM_A_CIRCUIT_MAX, .policy = phloem_nl_circuit_set_policy,
	.index = PHLOEM_A_CIRCUIT_INDEX, .a = PHLOEM_A_CIRCUIT_LIMIT_MA,
	.b = PHLOEM_A_CIRCUIT_MAX_HOLD_S,
	.need = "a circuit entry needs PHLOEM_A_CIRCUIT_INDEX and PHLOEM_A_CIRCUIT_LIMIT_MA and/or PHLOEM_A_CIRCUIT_MAX_HOLD_S",
	.none = "no such circuit on this device",
	.twice = "circuit given twice in one request",
};

static const struct phloem_nl_list_desc phloem_nl_signal_item = {
	.max = PHLOEM_A_SIGNAL_MAX, .policy = phloem_nl_signal_set_policy,
	.index = PHLOEM_A_SIGNAL_INDEX, .a = PHLOEM_A_SIGNAL_IMPORT_CAP_MW,
	.b = PHLOEM_A_SIGNAL_SHED_RELAYS,
	.need = "a signal entry needs PHLOEM_A_SIGNAL_INDEX and PHLOEM_A_SIGNAL_IMPORT_CAP_MW and/or PHLOEM_A_SIGNAL_SHED_RELAYS",
	.none = "no such grid-operator line on this device",
	.twice = "line given twice in one request",
};

/* GET_DEVICE and GET_STATS: a device index and nothing else */
static const struct nla_policy phloem_nl_get_policy[PHLOEM_A_MAX + 1] = {
	[PHLOEM_A_DEV_INDEX] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_NAME ... PHLOEM_A_PAD] =
		PHLOEM_NL_REJECT("a GET request takes PHLOEM_A_DEV_INDEX only"),
	[PHLOEM_A_DEV_FREQ] =
		PHLOEM_NL_REJECT("a GET request takes PHLOEM_A_DEV_INDEX only"),
};

/* a stage of a SET_LIMITS request: every field a u32, ranges as config */
static const struct nla_policy phloem_nl_stage_set_policy[PHLOEM_A_STAGE_MAX + 1] = {
	[PHLOEM_A_STAGE_INDEX] = NLA_POLICY_MAX(NLA_U32, PHLOEM_FREQ_STAGES - 1),
	[PHLOEM_A_STAGE_THRESHOLD_MHZ] = { .type = NLA_U32 },
	[PHLOEM_A_STAGE_DELAY_MS] = { .type = NLA_U32 },
	[PHLOEM_A_STAGE_HYST_MHZ] = { .type = NLA_U32 },
	[PHLOEM_A_STAGE_RESTORE_MS] = { .type = NLA_U32 },
	[PHLOEM_A_STAGE_PRIO_MIN] = NLA_POLICY_MAX(NLA_U32, 255),
	[PHLOEM_A_STAGE_PRIO_MAX] = NLA_POLICY_MAX(NLA_U32, 255),
	[PHLOEM_A_STAGE_STATE ... PHLOEM_A_STAGE_LEFT_MS] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
};

static const struct nla_policy phloem_nl_stage_list_policy[PHLOEM_A_LIST_MAX + 1] = {
	[PHLOEM_A_LIST_CHANNEL ... PHLOEM_A_LIST_BUCKET] =
		PHLOEM_NL_REJECT("PHLOEM_A_FREQ_STAGES holds PHLOEM_A_LIST_STAGE nests"),
	[PHLOEM_A_LIST_STAGE] = NLA_POLICY_NESTED(phloem_nl_stage_set_policy),
};

static const struct nla_policy phloem_nl_freq_set_policy[PHLOEM_A_FREQ_MAX + 1] = {
	[PHLOEM_A_FREQ_EST_MHZ] = PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_FREQ_OVER_MHZ] = { .type = NLA_U32 },
	[PHLOEM_A_FREQ_OVER_MS] = { .type = NLA_U32 },
	[PHLOEM_A_FREQ_STAGES] = NLA_POLICY_NESTED(phloem_nl_stage_list_policy),
};

static const struct nla_policy phloem_nl_set_limits_policy[PHLOEM_A_MAX + 1] = {
	[PHLOEM_A_DEV_INDEX] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_NAME ... PHLOEM_A_DEV_SAMPLE_RATE_HZ] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_CHANNELS] = PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_DEV_CIRCUITS] = NLA_POLICY_NESTED(phloem_nl_circuit_list_policy),
	[PHLOEM_A_DEV_RELAYS] = NLA_POLICY_NESTED(phloem_nl_relay_list_policy),
	[PHLOEM_A_RELAY ... PHLOEM_A_PAD] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_NOT_HERE),
	[PHLOEM_A_DEV_FREQ] = NLA_POLICY_NESTED(phloem_nl_freq_set_policy),
	[PHLOEM_A_DEV_SIGNAL_STATE ... PHLOEM_A_DEV_IMPORT_CAP_MW] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_REPLY_ONLY),
	[PHLOEM_A_DEV_SIGNAL_DEBOUNCE_US] =
		NLA_POLICY_MAX(NLA_U32, PHLOEM_SIGNAL_DEBOUNCE_MAX_US),
	[PHLOEM_A_DEV_SIGNALS] = NLA_POLICY_NESTED(phloem_nl_signal_list_policy),
	[PHLOEM_A_DEV_PHASE] = NLA_POLICY_NESTED(phloem_nl_phase_set_policy),
	[PHLOEM_A_DEV_MAINS] = NLA_POLICY_NESTED(phloem_nl_mains_set_policy),
};

static const struct nla_policy phloem_nl_set_relay_policy[PHLOEM_A_MAX + 1] = {
	[PHLOEM_A_DEV_INDEX] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_NAME ... PHLOEM_A_DEV_RELAYS] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_NOT_HERE),
	[PHLOEM_A_RELAY] = NLA_POLICY_NESTED(phloem_nl_relay_set_policy),
	[PHLOEM_A_STATS ... PHLOEM_A_PAD] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_NOT_HERE),
	[PHLOEM_A_DEV_FREQ] = PHLOEM_NL_REJECT(PHLOEM_NL_MSG_NOT_HERE),
};

static const struct nla_policy phloem_nl_lease_policy[PHLOEM_A_MAX + 1] = {
	[PHLOEM_A_DEV_INDEX] = { .type = NLA_U32 },
	[PHLOEM_A_DEV_NAME ... PHLOEM_A_STATS] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_NOT_HERE),
	[PHLOEM_A_LEASE_TIMEOUT_MS] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &phloem_nl_lease_range),
	[PHLOEM_A_EVENT ... PHLOEM_A_PAD] =
		PHLOEM_NL_REJECT(PHLOEM_NL_MSG_NOT_HERE),
	[PHLOEM_A_DEV_FREQ] = PHLOEM_NL_REJECT(PHLOEM_NL_MSG_NOT_HERE),
};

/* ------------------------------------------------------------------ */
/* Devices                                                             */
/* ------------------------------------------------------------------ */

/**
 * phloem_netlink_add() - make a bound device reachable over netlink
 * @pd: device, fully probed (sampler running)
 */
void phloem_netlink_add(struct phloem_dev *pd)
{
	mutex_lock(&phloem_nl_lock);
	phloem_nl_devs[pd->id] = pd;
	phloem_nl_gen++;
	mutex_unlock(&phloem_nl_lock);
}

/**
 * phloem_netlink_del() - unpublish a device before it is unbound
 * @pd: device being removed
 *
 * Waits for an op using @pd to finish: after this returns no op touches it.
 * Events still go out (the unbind's failsafe event among them): they carry
 * the index only.
 */
void phloem_netlink_del(struct phloem_dev *pd)
{
	mutex_lock(&phloem_nl_lock);
	phloem_nl_devs[pd->id] = NULL;
	phloem_nl_gen++;
	mutex_unlock(&phloem_nl_lock);
}

/* The device named by PHLOEM_A_DEV_INDEX; caller holds phloem_nl_lock */
static struct phloem_dev *phloem_nl_dev_lookup(struct genl_info *info)
{
	struct nlattr *attr = info->attrs[PHLOEM_A_DEV_INDEX];
	struct phloem_dev *pd = NULL;
	u32 idx;

	if (GENL_REQ_ATTR_CHECK(info, PHLOEM_A_DEV_INDEX)) {
		GENL_SET_ERR_MSG(info, "PHLOEM_A_DEV_INDEX (N of /dev/phloemN) is required");
		return ERR_PTR(-EINVAL);
	}
	idx = nla_get_u32(attr);
	if (idx < PHLOEM_MAX_DEVS)
		pd = phloem_nl_devs[idx];
	if (!pd) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "no phloem device with this index (a GET_DEVICE dump lists them)");
		return ERR_PTR(-ENODEV);
	}
	return pd;
}

/**
 * struct phloem_nl_snap - one consistent view of a device for a reply
 * @cfg: configuration in force
 * @st: live state
 * @cyc: the last cycle record (per channel RMS and power)
 *
 * Taken in one @shed_lock section so limits, states and relay reasons agree
 * with each other; too big for the stack of an op, hence allocated.
 */
struct phloem_nl_snap {
	struct phloem_config cfg;
	struct phloem_status st;
	struct phloem_rec_cycle cyc;
};

static void phloem_nl_snapshot(struct phloem_dev *pd, struct phloem_nl_snap *s)
{
	spin_lock(&pd->shed_lock);
	phloem_shed_get_config(pd->shed, &s->cfg);
	phloem_shed_status(pd->shed, &s->st, ktime_get_ns());
	spin_unlock(&pd->shed_lock);

	spin_lock(&pd->nl_lock);
	s->cyc = pd->nl_cycle;
	spin_unlock(&pd->nl_lock);
}

/* ------------------------------------------------------------------ */
/* Message fill helpers: each cancels what it began and returns -EMSGSIZE */
/* ------------------------------------------------------------------ */

static int phloem_nl_put_channels(struct sk_buff *skb, struct phloem_dev *pd,
				  const struct phloem_nl_snap *s)
{
	struct nlattr *list, *item;
	unsigned int i;

	list = nla_nest_start(skb, PHLOEM_A_DEV_CHANNELS);
	if (!list)
		return -EMSGSIZE;
	for (i = 0; i < pd->info.nchannels; i++) {
		const struct phloem_chan_info *ci = &pd->info.chan[i];
		/* Before the first cycle closes there is nothing measured */
		bool have = i < s->cyc.nchannels;

		item = nla_nest_start(skb, PHLOEM_A_LIST_CHANNEL);
		if (!item ||
		    nla_put_u32(skb, PHLOEM_A_CHAN_INDEX, i) ||
		    nla_put_string(skb, PHLOEM_A_CHAN_NAME, ci->name) ||
		    nla_put_u32(skb, PHLOEM_A_CHAN_KIND, ci->kind) ||
		    nla_put_u32(skb, PHLOEM_A_CHAN_PHASE, ci->phase) ||
		    nla_put_u32(skb, PHLOEM_A_CHAN_CIRCUIT, ci->circuit) ||
		    nla_put_u32(skb, PHLOEM_A_CHAN_RMS,
				have ? s->cyc.chan[i].rms : 0) ||
		    nla_put_s32(skb, PHLOEM_A_CHAN_P_MW,
				have ? s->cyc.chan[i].p_mw : 0) ||
		    nla_put_u64_64bit(skb, PHLOEM_A_CHAN_IMPORT_MWH,
				      s->st.energy[i].import_mwh,
				      PHLOEM_A_CHAN_PAD) ||
		    nla_put_u64_64bit(skb, PHLOEM_A_CHAN_EXPORT_MWH,
				      s->st.energy[i].export_mwh,
				      PHLOEM_A_CHAN_PAD))
			goto err;
		nla_nest_end(skb, item);
	}
	nla_nest_end(skb, list);
	return 0;
err:
	nla_nest_cancel(skb, list);
	return -EMSGSIZE;
}

static int phloem_nl_put_circuits(struct sk_buff *skb, struct phloem_dev *pd,
				  const struct phloem_nl_snap *s)
{
	struct nlattr *list, *item;
	unsigned int i;

	list = nla_nest_start(skb, PHLOEM_A_DEV_CIRCUITS);
	if (!list)
		return -EMSGSIZE;
	for (i = 0; i < pd->info.ncircuits; i++) {
		const struct phloem_circuit_info *ci = &pd->info.circuit[i];
		const struct phloem_circuit_status *cs = &s->st.circuit[i];

		item = nla_nest_start(skb, PHLOEM_A_LIST_CIRCUIT);
		if (!item ||
		    nla_put_u32(skb, PHLOEM_A_CIRCUIT_INDEX, i) ||
		    nla_put_string(skb, PHLOEM_A_CIRCUIT_NAME, ci->name) ||
		    nla_put_u32(skb, PHLOEM_A_CIRCUIT_CHANNEL, ci->channel) ||
		    nla_put_u32(skb, PHLOEM_A_CIRCUIT_CURVE, ci->curve) ||
		    nla_put_u32(skb, PHLOEM_A_CIRCUIT_RATING_MA, ci->rating_ma) ||
		    nla_put_u32(skb, PHLOEM_A_CIRCUIT_LIMIT_MA, cs->limit_ma) ||
		    nla_put_u32(skb, PHLOEM_A_CIRCUIT_BOOT_LIMIT_MA,
				pd->boot.circuit[i].limit_ma) ||
		    nla_put_u32(skb, PHLOEM_A_CIRCUIT_IRMS_MA, cs->irms_ma) ||
		    nla_put_u32(skb, PHLOEM_A_CIRCUIT_HEAT_PERMILLE,
				cs->heat_permille) ||
		    nla_put_u32(skb, PHLOEM_A_CIRCUIT_MAX_HOLD_S,
				s->cfg.circuit[i].max_hold_s))
			goto err;
		nla_nest_end(skb, item);
	}
	nla_nest_end(skb, list);
	return 0;
err:
	nla_nest_cancel(skb, list);
	return -EMSGSIZE;
}

static int phloem_nl_put_signals(struct sk_buff *skb, struct phloem_dev *pd,
				 const struct phloem_nl_snap *s)
{
	struct nlattr *list, *item;
	unsigned int i;

	if (!pd->info.nsignals)
		return 0;
	list = nla_nest_start(skb, PHLOEM_A_DEV_SIGNALS);
	if (!list)
		return -EMSGSIZE;
	for (i = 0; i < pd->info.nsignals; i++) {
		item = nla_nest_start(skb, PHLOEM_A_LIST_SIGNAL);
		if (!item ||
		    nla_put_u32(skb, PHLOEM_A_SIGNAL_INDEX, i) ||
		    nla_put_u32(skb, PHLOEM_A_SIGNAL_ACTIVE,
				!!(s->st.signal_state & BIT(i))) ||
		    nla_put_u32(skb, PHLOEM_A_SIGNAL_IMPORT_CAP_MW,
				s->cfg.signal[i].import_cap_mw) ||
		    nla_put_u32(skb, PHLOEM_A_SIGNAL_SHED_RELAYS,
				s->cfg.signal[i].shed_relays))
			goto err;
		nla_nest_end(skb, item);
	}
	nla_nest_end(skb, list);
	return 0;
err:
	nla_nest_cancel(skb, list);
	return -EMSGSIZE;
}

static int phloem_nl_put_relays(struct sk_buff *skb, struct phloem_dev *pd,
				const struct phloem_nl_snap *s)
{
	struct nlattr *list, *item;
	unsigned int i;

	list = nla_nest_start(skb, PHLOEM_A_DEV_RELAYS);
	if (!list)
		return -EMSGSIZE;
	for (i = 0; i < pd->info.nrelays; i++) {
		const struct phloem_relay_cfg *rc = &s->cfg.relay[i];
		const struct phloem_relay_status *rs = &s->st.relay[i];

		item = nla_nest_start(skb, PHLOEM_A_LIST_RELAY);
		if (!item ||
		    nla_put_u32(skb, PHLOEM_A_RELAY_INDEX, i) ||
		    nla_put_string(skb, PHLOEM_A_RELAY_NAME,
				   pd->info.relay[i].name) ||
		    nla_put_u32(skb, PHLOEM_A_RELAY_CIRCUIT, rc->circuit) ||
		    nla_put_u32(skb, PHLOEM_A_RELAY_PRIORITY, rc->priority) ||
		    nla_put_u32(skb, PHLOEM_A_RELAY_FLAGS, rc->flags) ||
		    nla_put_u32(skb, PHLOEM_A_RELAY_SAFE_STATE,
				pd->info.relay[i].safe_state) ||
		    nla_put_u32(skb, PHLOEM_A_RELAY_ON, rs->on) ||
		    nla_put_u32(skb, PHLOEM_A_RELAY_REASON, rs->reason) ||
		    nla_put_u32(skb, PHLOEM_A_RELAY_BACKOFF, rs->backoff) ||
		    nla_put_u32(skb, PHLOEM_A_RELAY_OVERRIDE, rs->override) ||
		    nla_put_u32(skb, PHLOEM_A_RELAY_LEFT_MS, rs->restore_in_ms) ||
		    nla_put_u32(skb, PHLOEM_A_RELAY_SHED_COUNT, rs->shed_count) ||
		    nla_put_u32(skb, PHLOEM_A_RELAY_LOAD_MA, rs->load_ma) ||
		    nla_put_u32(skb, PHLOEM_A_RELAY_MIN_OFF_MS, rc->min_off_ms) ||
		    nla_put_u32(skb, PHLOEM_A_RELAY_HOLD, s->st.hold[i]))
			goto err;
		nla_nest_end(skb, item);
	}
	nla_nest_end(skb, list);
	return 0;
err:
	nla_nest_cancel(skb, list);
	return -EMSGSIZE;
}

/*
 * The phase index (0 = L1) of voltage channel @v: its order among the
 * voltage channels, as the shedding unit counts them; PHLOEM_NONE past L3.
 */
static u32 phloem_nl_phase_of(const struct phloem_dev *pd, u32 v)
{
	u32 i, k = 0;

	for (i = 0; i < v && i < pd->info.nchannels; i++)
		k += pd->info.chan[i].kind == PHLOEM_CHAN_VOLTAGE;
	return k < PHLOEM_MAX_PHASES ? k : PHLOEM_NONE;
}

/* the phase rules: limits in force, and every measured phase */
static int phloem_nl_put_phase(struct sk_buff *skb, struct phloem_dev *pd,
			       const struct phloem_nl_snap *s)
{
	struct nlattr *nest, *list, *item;
	u32 i, p;

	nest = nla_nest_start(skb, PHLOEM_A_DEV_PHASE);
	if (!nest ||
	    nla_put_u32(skb, PHLOEM_A_PHASE_IMBALANCE_MA, s->cfg.imbalance_ma) ||
	    nla_put_u32(skb, PHLOEM_A_PHASE_IMBALANCE_MVA,
			s->cfg.imbalance_mva) ||
	    nla_put_u32(skb, PHLOEM_A_PHASE_GRACE_MS, s->cfg.phase_grace_ms) ||
	    nla_put_u32(skb, PHLOEM_A_PHASE_SPREAD_MA, s->st.imbalance_ma) ||
	    nla_put_u32(skb, PHLOEM_A_PHASE_SPREAD_MVA, s->st.imbalance_mva))
		return -EMSGSIZE;
	list = nla_nest_start(skb, PHLOEM_A_PHASE_LIST);
	if (!list)
		return -EMSGSIZE;
	/* a site CT names its phase: one per phase (phloem_parse_children()) */
	for (i = 0; i < pd->info.nchannels; i++) {
		const struct phloem_chan_info *ci = &pd->info.chan[i];

		if (ci->kind != PHLOEM_CHAN_CURRENT || ci->circuit != 0)
			continue;
		p = phloem_nl_phase_of(pd, ci->phase);
		if (p >= PHLOEM_MAX_PHASES)
			continue;
		item = nla_nest_start(skb, PHLOEM_A_LIST_PHASE);
		if (!item ||
		    nla_put_u32(skb, PHLOEM_A_PH_INDEX, p) ||
		    nla_put_u32(skb, PHLOEM_A_PH_CHANNEL, i) ||
		    nla_put_u32(skb, PHLOEM_A_PH_IRMS_MA, s->st.phase_ma[p]) ||
		    nla_put_u32(skb, PHLOEM_A_PH_S_MVA, s->st.phase_mva[p]) ||
		    nla_put_u32(skb, PHLOEM_A_PH_LIMIT_MA,
				s->cfg.phase_limit_ma[p]) ||
		    nla_put_u32(skb, PHLOEM_A_PH_STATE, s->st.phase_state[p]))
			return -EMSGSIZE;
		nla_nest_end(skb, item);
	}
	nla_nest_end(skb, list);
	nla_nest_end(skb, nest);
	return 0;
}

/*
 * Where each settable PHLOEM_A_MAINS_* attribute lives in struct
 * phloem_config: GET_DEVICE and SET_LIMITS walk the same table, so the two
 * cannot disagree on which field an attribute is.
 */
#define PHLOEM_NL_MAINS_CFG_LAST PHLOEM_A_MAINS_UV_SHED_MS
static const size_t phloem_nl_mains_off[PHLOEM_NL_MAINS_CFG_LAST + 1] = {
#define PHLOEM_NL_MAINS(a, f) [a] = offsetof(struct phloem_config, f)
	PHLOEM_NL_MAINS(PHLOEM_A_MAINS_NOMINAL_MV, nominal_mv),
	PHLOEM_NL_MAINS(PHLOEM_A_MAINS_OUTAGE_PCT, outage_pct),
	PHLOEM_NL_MAINS(PHLOEM_A_MAINS_OUTAGE_CYCLES, outage_cycles),
	PHLOEM_NL_MAINS(PHLOEM_A_MAINS_OUTAGE_RELAYS, outage_relays),
	PHLOEM_NL_MAINS(PHLOEM_A_MAINS_RETURN_MS, return_ms),
	PHLOEM_NL_MAINS(PHLOEM_A_MAINS_RETURN_STAGGER_MS, return_stagger_ms),
	PHLOEM_NL_MAINS(PHLOEM_A_MAINS_VOLT_BAND_PCT, volt_band_pct),
	PHLOEM_NL_MAINS(PHLOEM_A_MAINS_VOLT_DELAY_MS, volt_delay_ms),
	PHLOEM_NL_MAINS(PHLOEM_A_MAINS_UV_SHED_PCT, uv_shed_pct),
	PHLOEM_NL_MAINS(PHLOEM_A_MAINS_UV_SHED_MS, uv_shed_ms),
#undef PHLOEM_NL_MAINS
};

static u32 phloem_nl_mains_get(const struct phloem_config *cfg, int a)
{
	return *(const u32 *)((const u8 *)cfg + phloem_nl_mains_off[a]);
}

/* the mains rules: settings in force, outage state, every voltage phase */
static int phloem_nl_put_mains(struct sk_buff *skb, struct phloem_dev *pd,
			       const struct phloem_nl_snap *s)
{
	struct nlattr *nest, *list, *item;
	u32 i, p;
	int a;

	nest = nla_nest_start(skb, PHLOEM_A_DEV_MAINS);
	if (!nest)
		return -EMSGSIZE;
	for (a = PHLOEM_A_MAINS_NOMINAL_MV; a <= PHLOEM_NL_MAINS_CFG_LAST; a++)
		if (nla_put_u32(skb, a, phloem_nl_mains_get(&s->cfg, a)))
			return -EMSGSIZE;
	if (nla_put_u32(skb, PHLOEM_A_MAINS_STATE, s->st.mains_state) ||
	    nla_put_u32(skb, PHLOEM_A_MAINS_RETURN_LEFT_MS,
			s->st.return_left_ms) ||
	    nla_put_u32(skb, PHLOEM_A_MAINS_OUTAGE_MS, s->st.outage_ms))
		return -EMSGSIZE;
	list = nla_nest_start(skb, PHLOEM_A_MAINS_PHASES);
	if (!list)
		return -EMSGSIZE;
	for (i = 0; i < pd->info.nchannels; i++) {
		if (pd->info.chan[i].kind != PHLOEM_CHAN_VOLTAGE)
			continue;
		p = phloem_nl_phase_of(pd, i);
		if (p >= PHLOEM_MAX_PHASES)
			break;
		item = nla_nest_start(skb, PHLOEM_A_LIST_VOLT);
		if (!item ||
		    nla_put_u32(skb, PHLOEM_A_VOLT_PHASE, p) ||
		    nla_put_u32(skb, PHLOEM_A_VOLT_CHANNEL, i) ||
		    nla_put_u32(skb, PHLOEM_A_VOLT_RMS_MV,
				s->st.phase_vrms_mv[p]) ||
		    nla_put_u32(skb, PHLOEM_A_VOLT_STATE, s->st.volt_state[p]))
			return -EMSGSIZE;
		nla_nest_end(skb, item);
	}
	nla_nest_end(skb, list);
	nla_nest_end(skb, nest);
	return 0;
}

/*
 * Worst case size of a GET_DEVICE message for the largest topology the
 * UAPI allows. A doit allocates it, and a dump asks for it as its minimum
 * buffer (phloem_nl_get_device_start()), so one device always fits in one
 * message and is never split.
 */
static size_t phloem_nl_dev_size(void)
{
	size_t name = nla_total_size(PHLOEM_NAME_LEN);
	size_t u32sz = nla_total_size(sizeof(u32));
	size_t u64sz = nla_total_size_64bit(sizeof(u64));

	return 9 * u32sz + name +
	       nla_total_size(0) + PHLOEM_MAX_CHANNELS *
			(nla_total_size(0) + 6 * u32sz + name + 2 * u64sz) +
	       nla_total_size(0) + PHLOEM_MAX_CIRCUITS *
			(nla_total_size(0) + 8 * u32sz + name) +
	       nla_total_size(0) + PHLOEM_MAX_RELAYS *
			(nla_total_size(0) + 13 * u32sz + name) +
	       2 * nla_total_size(0) + 3 * u32sz + PHLOEM_FREQ_STAGES *
			(nla_total_size(0) + 9 * u32sz) +
	       3 * u32sz + nla_total_size(0) + PHLOEM_MAX_SIGNALS *
			(nla_total_size(0) + 4 * u32sz) +
	       2 * nla_total_size(0) + 5 * u32sz + PHLOEM_MAX_PHASES *
			(nla_total_size(0) + 6 * u32sz) +
	       2 * nla_total_size(0) + (PHLOEM_NL_MAINS_CFG_LAST + 2) * u32sz +
			PHLOEM_MAX_PHASES * (nla_total_size(0) + 4 * u32sz);
}

/* the frequency rule: filtered frequency, over-freq, configured stages */
static int phloem_nl_put_freq(struct sk_buff *skb,
			      const struct phloem_nl_snap *s)
{
	struct nlattr *nest, *list, *st;
	unsigned int k;

	nest = nla_nest_start(skb, PHLOEM_A_DEV_FREQ);
	if (!nest ||
	    nla_put_u32(skb, PHLOEM_A_FREQ_EST_MHZ, s->st.freq_est_mhz) ||
	    nla_put_u32(skb, PHLOEM_A_FREQ_OVER_MHZ, s->cfg.over_freq_mhz) ||
	    nla_put_u32(skb, PHLOEM_A_FREQ_OVER_MS, s->cfg.over_freq_ms))
		return -EMSGSIZE;
	list = nla_nest_start(skb, PHLOEM_A_FREQ_STAGES);
	if (!list)
		return -EMSGSIZE;
	for (k = 0; k < PHLOEM_FREQ_STAGES; k++) {
		const struct phloem_freq_stage *fc = &s->cfg.freq_stage[k];

		if (!fc->threshold_mhz)
			continue;
		st = nla_nest_start(skb, PHLOEM_A_LIST_STAGE);
		if (!st ||
		    nla_put_u32(skb, PHLOEM_A_STAGE_INDEX, k) ||
		    nla_put_u32(skb, PHLOEM_A_STAGE_THRESHOLD_MHZ,
				fc->threshold_mhz) ||
		    nla_put_u32(skb, PHLOEM_A_STAGE_DELAY_MS, fc->delay_ms) ||
		    nla_put_u32(skb, PHLOEM_A_STAGE_HYST_MHZ, fc->hyst_mhz) ||
		    nla_put_u32(skb, PHLOEM_A_STAGE_RESTORE_MS, fc->restore_ms) ||
		    nla_put_u32(skb, PHLOEM_A_STAGE_PRIO_MIN, fc->prio_min) ||
		    nla_put_u32(skb, PHLOEM_A_STAGE_PRIO_MAX, fc->prio_max) ||
		    nla_put_u32(skb, PHLOEM_A_STAGE_STATE, s->st.freq_stage[k]) ||
		    nla_put_u32(skb, PHLOEM_A_STAGE_LEFT_MS,
				s->st.freq_left_ms[k]))
			return -EMSGSIZE;
		nla_nest_end(skb, st);
	}
	nla_nest_end(skb, list);
	nla_nest_end(skb, nest);
	return 0;
}

static int phloem_nl_fill_dev(struct sk_buff *skb, struct phloem_dev *pd,
			      const struct phloem_nl_snap *s, u32 portid,
			      u32 seq, int flags, struct netlink_callback *cb)
{
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &phloem_nl_family, flags,
			  PHLOEM_CMD_GET_DEVICE);
	if (!hdr)
		return -EMSGSIZE;
	if (cb)
		genl_dump_check_consistent(cb, hdr);

	if (nla_put_u32(skb, PHLOEM_A_DEV_INDEX, pd->id) ||
	    nla_put_string(skb, PHLOEM_A_DEV_NAME, pd->info.name) ||
	    nla_put_u32(skb, PHLOEM_A_DEV_STATE, s->st.state) ||
	    nla_put_u32(skb, PHLOEM_A_DEV_MAINS_HZ, pd->info.mains_hz) ||
	    nla_put_u32(skb, PHLOEM_A_DEV_FREQ_MHZ, s->st.freq_mhz) ||
	    nla_put_u32(skb, PHLOEM_A_DEV_VRMS_MV, s->st.vrms_mv) ||
	    nla_put_s32(skb, PHLOEM_A_DEV_SITE_P_MW, s->st.site_p_mw) ||
	    nla_put_u32(skb, PHLOEM_A_DEV_LEASE_LEFT_MS, s->st.lease_left_ms) ||
	    nla_put_u32(skb, PHLOEM_A_DEV_SAMPLE_RATE_HZ,
			s->cfg.sample_rate_hz) ||
	    nla_put_u32(skb, PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW,
			s->cfg.site_import_limit_mw) ||
	    nla_put_u32(skb, PHLOEM_A_DEV_SIGNAL_STATE, s->st.signal_state) ||
	    nla_put_u32(skb, PHLOEM_A_DEV_IMPORT_CAP_MW, s->st.import_cap_mw) ||
	    nla_put_u32(skb, PHLOEM_A_DEV_SIGNAL_DEBOUNCE_US,
			s->cfg.signal_debounce_us) ||
	    phloem_nl_put_channels(skb, pd, s) ||
	    phloem_nl_put_circuits(skb, pd, s) ||
	    phloem_nl_put_relays(skb, pd, s) ||
	    phloem_nl_put_freq(skb, s) ||
	    phloem_nl_put_signals(skb, pd, s) ||
	    phloem_nl_put_phase(skb, pd, s) ||
	    phloem_nl_put_mains(skb, pd, s))
		goto err;
	genlmsg_end(skb, hdr);
	return 0;
err:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

static int phloem_nl_fill_stats(struct sk_buff *skb, struct phloem_dev *pd,
				const struct phloem_stats *st, u32 portid,
				u32 seq)
{
	static const struct {
		int attr;
		size_t off;
	} ctr[] = {
#define PHLOEM_NL_CTR(a, f) { a, offsetof(struct phloem_stats, f) }
		PHLOEM_NL_CTR(PHLOEM_A_STATS_SAMPLES, samples),
		PHLOEM_NL_CTR(PHLOEM_A_STATS_CYCLES, cycles),
		PHLOEM_NL_CTR(PHLOEM_A_STATS_ADC_ERRORS, adc_errors),
		PHLOEM_NL_CTR(PHLOEM_A_STATS_OVERRUNS, overruns),
		PHLOEM_NL_CTR(PHLOEM_A_STATS_SHEDS, sheds),
		PHLOEM_NL_CTR(PHLOEM_A_STATS_RESTORES, restores),
		PHLOEM_NL_CTR(PHLOEM_A_STATS_FAILSAFES, failsafes),
		PHLOEM_NL_CTR(PHLOEM_A_STATS_LEASE_EXPIRIES, lease_expiries),
		PHLOEM_NL_CTR(PHLOEM_A_STATS_LAT_COUNT, lat_count),
		PHLOEM_NL_CTR(PHLOEM_A_STATS_LAT_MIN_NS, lat_min_ns),
		PHLOEM_NL_CTR(PHLOEM_A_STATS_LAT_MAX_NS, lat_max_ns),
		PHLOEM_NL_CTR(PHLOEM_A_STATS_LAT_SUM_NS, lat_sum_ns),
#undef PHLOEM_NL_CTR
	};
	struct nlattr *nest, *hist, *b;
	unsigned int i;
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &phloem_nl_family, 0,
			  PHLOEM_CMD_GET_STATS);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, PHLOEM_A_DEV_INDEX, pd->id))
		goto err;
	nest = nla_nest_start(skb, PHLOEM_A_STATS);
	if (!nest)
		goto err;
	for (i = 0; i < ARRAY_SIZE(ctr); i++)
		if (nla_put_u64_64bit(skb, ctr[i].attr,
				      *(const u64 *)((const u8 *)st + ctr[i].off),
				      PHLOEM_A_STATS_PAD))
			goto err;
	hist = nla_nest_start(skb, PHLOEM_A_STATS_LAT_HIST);
	if (!hist)
		goto err;
	/* Empty buckets are left out: the bounds are fixed, the counts sparse */
	for (i = 0; i < PHLOEM_LAT_BUCKETS; i++) {
		if (!st->lat_hist[i])
			continue;
		b = nla_nest_start(skb, PHLOEM_A_LIST_BUCKET);
		if (!b ||
		    nla_put_u64_64bit(skb, PHLOEM_A_BUCKET_BOUND_NS,
				      st->lat_bound_ns[i], PHLOEM_A_BUCKET_PAD) ||
		    nla_put_u64_64bit(skb, PHLOEM_A_BUCKET_COUNT,
				      st->lat_hist[i], PHLOEM_A_BUCKET_PAD))
			goto err;
		nla_nest_end(skb, b);
	}
	nla_nest_end(skb, hist);
	nla_nest_end(skb, nest);
	genlmsg_end(skb, hdr);
	return 0;
err:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

static bool phloem_nl_phase_cause(u32 cause)
{
	return cause == PHLOEM_CAUSE_PHASE || cause == PHLOEM_CAUSE_IMBALANCE ||
	       cause == PHLOEM_CAUSE_IMBALANCE_VA;
}

/*
 * The phase an event is about, or PHLOEM_NONE: a phase rule's names its
 * site CT (whose phase is the voltage channel it is measured against); a
 * mains or voltage event names the phase's voltage channel itself.
 */
static u32 phloem_nl_event_phase(const struct phloem_dev *pd,
				 const struct phloem_rec_event *ev)
{
	const struct phloem_chan_info *ci;

	if (ev->channel >= pd->info.nchannels)
		return PHLOEM_NONE;
	ci = &pd->info.chan[ev->channel];
	if (phloem_nl_phase_cause(ev->cause))
		return phloem_nl_phase_of(pd, ci->phase);
	if ((ev->kind == PHLOEM_EV_MAINS || ev->kind == PHLOEM_EV_VOLTAGE) &&
	    ci->kind == PHLOEM_CHAN_VOLTAGE)
		return phloem_nl_phase_of(pd, ev->channel);
	return PHLOEM_NONE;
}

static int phloem_nl_fill_event(struct sk_buff *skb, struct phloem_dev *pd,
				u64 time_ns, const struct phloem_rec_event *ev)
{
	u32 phase = phloem_nl_event_phase(pd, ev);
	struct nlattr *nest;
	void *hdr;

	hdr = genlmsg_put(skb, 0, 0, &phloem_nl_family, 0, PHLOEM_CMD_EVENT);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, PHLOEM_A_DEV_INDEX, pd->id))
		goto err;
	nest = nla_nest_start(skb, PHLOEM_A_EVENT);
	if (!nest ||
	    nla_put_u32(skb, PHLOEM_A_EV_KIND, ev->kind) ||
	    nla_put_u32(skb, PHLOEM_A_EV_CAUSE, ev->cause) ||
	    nla_put_u64_64bit(skb, PHLOEM_A_EV_TIME_NS, time_ns,
			      PHLOEM_A_EV_PAD) ||
	    nla_put_u64_64bit(skb, PHLOEM_A_EV_TRIGGER_NS, ev->trigger_ns,
			      PHLOEM_A_EV_PAD) ||
	    nla_put_u64_64bit(skb, PHLOEM_A_EV_LATENCY_NS, ev->latency_ns,
			      PHLOEM_A_EV_PAD) ||
	    nla_put_u32(skb, PHLOEM_A_EV_VALUE, ev->value) ||
	    nla_put_u32(skb, PHLOEM_A_EV_LIMIT, ev->limit) ||
	    nla_put_u32(skb, PHLOEM_A_EV_BACKOFF, ev->backoff) ||
	    (ev->relay != PHLOEM_NONE &&
	     nla_put_u32(skb, PHLOEM_A_EV_RELAY, ev->relay)) ||
	    (ev->circuit != PHLOEM_NONE &&
	     nla_put_u32(skb, PHLOEM_A_EV_CIRCUIT, ev->circuit)) ||
	    (ev->channel != PHLOEM_NONE &&
	     nla_put_u32(skb, ev->kind == PHLOEM_EV_SIGNAL ? PHLOEM_A_EV_LINE :
			 PHLOEM_A_EV_CHANNEL, ev->channel)) ||
	    (ev->kind == PHLOEM_EV_FREQ &&
	     nla_put_u32(skb, PHLOEM_A_EV_STAGE, ev->backoff)) ||
	    (phase != PHLOEM_NONE &&
	     nla_put_u32(skb, PHLOEM_A_EV_PHASE, phase)))
		goto err;
	nla_nest_end(skb, nest);
	genlmsg_end(skb, hdr);
	return 0;
err:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

static size_t phloem_nl_event_size(void)
{
	return nla_total_size(sizeof(u32)) + nla_total_size(0) +
	       9 * nla_total_size(sizeof(u32)) +
	       3 * nla_total_size_64bit(sizeof(u64));
}

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

/*
 * Devices are global, so events go to listeners in every network
 * namespace. Checking for one first keeps the publish path at a walk of
 * the namespace list (one bit test each) when nobody listens: no
 * allocation, no formatting.
 */
static bool phloem_nl_has_listeners(void)
{
	struct net *net;
	bool ret = false;

	rcu_read_lock();
	for_each_net_rcu(net) {
		if (genl_has_listeners(&phloem_nl_family, net,
				       PHLOEM_NL_GRP_EVENTS)) {
			ret = true;
			break;
		}
	}
	rcu_read_unlock();
	return ret;
}

/*
 * Out of line so its cost per event, listener check included, can be
 * measured on its own with function_graph (make bench-netlink).
 */
static noinline void phloem_nl_multicast_event(struct phloem_dev *pd,
					       const struct phloem_record *rec)
{
	struct sk_buff *skb;

	if (!phloem_nl_has_listeners())
		return;
	skb = genlmsg_new(phloem_nl_event_size(), GFP_ATOMIC);
	if (!skb)
		return;
	if (phloem_nl_fill_event(skb, pd, rec->hdr.time_ns, &rec->event)) {
		nlmsg_free(skb);
		return;
	}
	/* -ESRCH when the last listener left meanwhile: nothing to report */
	genlmsg_multicast_allns(&phloem_nl_family, skb, 0, PHLOEM_NL_GRP_EVENTS);
}

/**
 * phloem_netlink_publish() - the netlink side of phloem_publish()
 * @pd: device
 * @rec: the record as queued for readers
 *
 * Keeps the last cycle record (GET_DEVICE reports per channel values from
 * it) and multicasts events on the "events" group; cycle records are not
 * multicast, the stream is their place. Never sleeps: the publish path may
 * run where sleeping is not allowed, so the message is allocated with
 * GFP_ATOMIC and genlmsg_multicast_allns() sends without blocking. A
 * listener that does not keep up loses messages (ENOBUFS on its socket),
 * never stalls the relay path.
 */
void phloem_netlink_publish(struct phloem_dev *pd,
			    const struct phloem_record *rec)
{
	if (rec->hdr.type == PHLOEM_REC_CYCLE) {
		spin_lock(&pd->nl_lock);
		pd->nl_cycle = rec->cycle;
		spin_unlock(&pd->nl_lock);
	} else if (rec->hdr.type == PHLOEM_REC_EVENT) {
		phloem_nl_multicast_event(pd, rec);
	}
}

/* ------------------------------------------------------------------ */
/* Ops                                                                 */
/* ------------------------------------------------------------------ */

static int phloem_nl_get_device_doit(struct sk_buff *skb,
				     struct genl_info *info)
{
	struct phloem_nl_snap *s;
	struct phloem_dev *pd;
	struct sk_buff *msg;
	int ret;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	msg = genlmsg_new(phloem_nl_dev_size(), GFP_KERNEL);
	if (!msg) {
		kfree(s);
		return -ENOMEM;
	}

	mutex_lock(&phloem_nl_lock);
	pd = phloem_nl_dev_lookup(info);
	if (IS_ERR(pd)) {
		ret = PTR_ERR(pd);
		goto err_unlock;
	}
	phloem_nl_snapshot(pd, s);
	ret = phloem_nl_fill_dev(msg, pd, s, info->snd_portid, info->snd_seq,
				 0, NULL);
	mutex_unlock(&phloem_nl_lock);
	kfree(s);
	if (ret) {
		nlmsg_free(msg);
		return ret;
	}
	return genlmsg_reply(msg, info);

err_unlock:
	mutex_unlock(&phloem_nl_lock);
	nlmsg_free(msg);
	kfree(s);
	return ret;
}

static int phloem_nl_get_device_start(struct netlink_callback *cb)
{
	cb->min_dump_alloc = max_t(u32, cb->min_dump_alloc,
				   nlmsg_total_size(GENL_HDRLEN +
						    phloem_nl_dev_size()));
	return 0;
}

/*
 * One message per device; cb->args[0] is the index to resume from, so a
 * dump that ran out of room carries on with the device that did not fit.
 */
static int phloem_nl_get_device_dumpit(struct sk_buff *skb,
				       struct netlink_callback *cb)
{
	struct phloem_nl_snap *s;
	struct phloem_dev *pd;
	unsigned long i;
	int ret = 0;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;

	mutex_lock(&phloem_nl_lock);
	cb->seq = phloem_nl_gen;
	for (i = cb->args[0]; i < PHLOEM_MAX_DEVS; i++) {
		pd = phloem_nl_devs[i];
		if (!pd)
			continue;
		phloem_nl_snapshot(pd, s);
		ret = phloem_nl_fill_dev(skb, pd, s,
					 NETLINK_CB(cb->skb).portid,
					 cb->nlh->nlmsg_seq, NLM_F_MULTI, cb);
		if (ret)
			break;
	}
	mutex_unlock(&phloem_nl_lock);
	cb->args[0] = i;
	kfree(s);

	/* Not even one device fitted an empty buffer: do not loop forever */
	if (ret && !skb->len)
		return ret;
	return skb->len;
}

/*
 * Replace the configuration in force by @cfg as one unit: checked by the
 * unit, then set. Caller holds @shed_lock. The extack names the message as
 * a whole: what the handler could pin on one attribute it already did.
 */
static int phloem_nl_set_config_locked(struct phloem_dev *pd,
				       const struct phloem_config *cfg,
				       struct genl_info *info)
{
	if (phloem_shed_check_config(&pd->info, cfg)) {
		GENL_SET_ERR_MSG(info, "the resulting configuration is refused by the shedding unit (ranges in uapi/linux/phloem.h)");
		return -EINVAL;
	}
	return phloem_shed_set_config(pd->shed, cfg, ktime_get_ns());
}

/* After a change went in: the sampler's pacing, then relays and events */
static void phloem_nl_changed(struct phloem_dev *pd,
			      const struct phloem_config *cfg)
{
	if (cfg)
		phloem_sampler_config_changed(pd, cfg);
	phloem_relays_apply(pd);
}

/**
 * struct phloem_nl_limits - a validated SET_LIMITS request
 * @set: bit n: circuit n gets @limit_ma[n]
 * @limit_ma: new circuit limits
 * @hset: bit n: circuit n gets @max_hold_s[n]
 * @max_hold_s: new circuit max holds
 * @site_mw: new site import limit, when @has_site
 * @has_site: PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW was given
 * @rset: bit n: relay n is in PHLOEM_A_DEV_RELAYS
 * @rprio: bit n: relay n gets @prio[n]
 * @rflags: bit n: relay n gets @flags[n]
 * @rmin_off: bit n: relay n gets @min_off_ms[n]
 * @prio: new relay priorities
 * @flags: new relay flags
 * @min_off_ms: new relay minimum off times
 * @fset: bit k: frequency stage k gets @stage[k]
 * @stage: new under-frequency stages
 * @over_mhz: new over-frequency threshold, when @has_over
 * @over_ms: new over-frequency delay, when @has_over
 * @has_over: over-frequency gets @over_mhz and @over_ms
 * @gcap: bit n: grid-operator line n gets @cap_mw[n]
 * @gmask: bit n: grid-operator line n gets @shed[n]
 * @cap_mw: new import caps of the grid-operator lines
 * @shed: new relay masks the grid-operator lines open
 * @debounce_us: new signal_debounce_us, when @has_debounce
 * @has_debounce: PHLOEM_A_DEV_SIGNAL_DEBOUNCE_US was given
 * @pset: bit p: phase p gets @ph_ma[p]
 * @ph_ma: new phase limits
 * @imb_ma: new imbalance_ma, when @has_imb_ma
 * @imb_mva: new imbalance_mva, when @has_imb_mva
 * @grace_ms: new phase_grace_ms, when @has_grace
 * @has_imb_ma: PHLOEM_A_PHASE_IMBALANCE_MA was given
 * @has_imb_mva: PHLOEM_A_PHASE_IMBALANCE_MVA was given
 * @has_grace: PHLOEM_A_PHASE_GRACE_MS was given
 * @mset: bit a: the mains field of PHLOEM_A_MAINS_* attribute a gets
 *        @mains[a]
 * @mains: new mains settings, indexed by attribute
 */
struct phloem_nl_limits {
	unsigned long set, hset;
	u32 limit_ma[PHLOEM_MAX_CIRCUITS];
	u32 max_hold_s[PHLOEM_MAX_CIRCUITS];
	u32 site_mw;
	bool has_site;
	unsigned long rset, rprio, rflags, rmin_off;
	u32 prio[PHLOEM_MAX_RELAYS];
	u32 flags[PHLOEM_MAX_RELAYS];
	u32 min_off_ms[PHLOEM_MAX_RELAYS];
	unsigned long fset;
	struct phloem_freq_stage stage[PHLOEM_FREQ_STAGES];
	u32 over_mhz, over_ms;
	bool has_over;
	unsigned long gcap, gmask;
	u32 cap_mw[PHLOEM_MAX_SIGNALS];
	u32 shed[PHLOEM_MAX_SIGNALS];
	u32 debounce_us;
	bool has_debounce;
	unsigned long pset;
	u32 ph_ma[PHLOEM_MAX_PHASES];
	u32 imb_ma, imb_mva, grace_ms;
	bool has_imb_ma, has_imb_mva, has_grace;
	unsigned long mset;
	u32 mains[PHLOEM_NL_MAINS_CFG_LAST + 1];
};

static u32 phloem_nl_u32_or(const struct nlattr *a, u32 dflt)
{
	return a ? nla_get_u32(a) : dflt;
}

/* PHLOEM_A_DEV_FREQ of a SET_LIMITS request: over-frequency and stages */
static int phloem_nl_parse_freq(struct genl_info *info,
				struct phloem_nl_limits *l)
{
	struct nlattr *tb[PHLOEM_A_FREQ_MAX + 1];
	struct nlattr *sb[PHLOEM_A_STAGE_MAX + 1];
	struct nlattr *item;
	int rem, ret;
	u32 k;

	if (!info->attrs[PHLOEM_A_DEV_FREQ])
		return 0;
	ret = nla_parse_nested(tb, PHLOEM_A_FREQ_MAX,
			       info->attrs[PHLOEM_A_DEV_FREQ],
			       phloem_nl_freq_set_policy, info->extack);
	if (ret)
		return ret;
	if (!tb[PHLOEM_A_FREQ_OVER_MHZ] != !tb[PHLOEM_A_FREQ_OVER_MS]) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[PHLOEM_A_DEV_FREQ],
				    "give PHLOEM_A_FREQ_OVER_MHZ and PHLOEM_A_FREQ_OVER_MS together");
		return -EINVAL;
	}
	if (tb[PHLOEM_A_FREQ_OVER_MHZ]) {
		l->has_over = true;
		l->over_mhz = nla_get_u32(tb[PHLOEM_A_FREQ_OVER_MHZ]);
		l->over_ms = nla_get_u32(tb[PHLOEM_A_FREQ_OVER_MS]);
	}
	if (!tb[PHLOEM_A_FREQ_STAGES])
		return 0;
	nla_for_each_nested(item, tb[PHLOEM_A_FREQ_STAGES], rem) {
		struct phloem_freq_stage *fc;

		ret = nla_parse_nested(sb, PHLOEM_A_STAGE_MAX, item,
				       phloem_nl_stage_set_policy,
				       info->extack);
		if (ret)
			return ret;
		if (NL_REQ_ATTR_CHECK(info->extack, item, sb,
				      PHLOEM_A_STAGE_INDEX)) {
			NL_SET_ERR_MSG_ATTR(info->extack, item,
					    "a stage entry needs PHLOEM_A_STAGE_INDEX");
			return -EINVAL;
		}
		k = nla_get_u32(sb[PHLOEM_A_STAGE_INDEX]);
		if (l->fset & BIT(k)) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    sb[PHLOEM_A_STAGE_INDEX],
					    "stage given twice in one request");
			return -EINVAL;
		}
		l->fset |= BIT(k);
		fc = &l->stage[k];
		fc->threshold_mhz = phloem_nl_u32_or(sb[PHLOEM_A_STAGE_THRESHOLD_MHZ], 0);
		fc->delay_ms = phloem_nl_u32_or(sb[PHLOEM_A_STAGE_DELAY_MS], 0);
		fc->restore_ms = phloem_nl_u32_or(sb[PHLOEM_A_STAGE_RESTORE_MS], 0);
		/* wider than the field: out of range is the check's to refuse */
		k = phloem_nl_u32_or(sb[PHLOEM_A_STAGE_HYST_MHZ], 0);
		fc->hyst_mhz = k > PHLOEM_FREQ_HYST_MAX_MHZ ? U16_MAX : k;
		fc->prio_min = phloem_nl_u32_or(sb[PHLOEM_A_STAGE_PRIO_MIN], 0);
		fc->prio_max = phloem_nl_u32_or(sb[PHLOEM_A_STAGE_PRIO_MAX], 0);
	}
	return 0;
}

/* NL_SET_ERR_MSG_ATTR() for a message that is not a literal (static) */
static void phloem_nl_bad(struct netlink_ext_ack *extack,
			  const struct nlattr *attr, const char *msg)
{
	NL_SET_BAD_ATTR(extack, attr);
	if (extack)
		extack->_msg = msg;
}

/*
 * Parse one item of a SET_LIMITS list into @tb and check its index against
 * @n and the indexes already @seen. Return: 0 with *@idx set, or -errno
 * with the extack naming the attribute.
 */
static int phloem_nl_list_item(struct genl_info *info, struct nlattr *item,
			       struct nlattr **tb,
			       const struct phloem_nl_list_desc *d, u32 n,
			       unsigned long seen, u32 *idx)
{
	int ret = nla_parse_nested(tb, d->max, item, d->policy, info->extack);

	if (ret)
		return ret;
	if (NL_REQ_ATTR_CHECK(info->extack, item, tb, d->index) ||
	    (!tb[d->a] && !tb[d->b])) {
		phloem_nl_bad(info->extack, item, d->need);
		return -EINVAL;
	}
	*idx = nla_get_u32(tb[d->index]);
	if (*idx >= n || seen & BIT(*idx)) {
		phloem_nl_bad(info->extack, tb[d->index],
			      *idx >= n ? d->none : d->twice);
		return -EINVAL;
	}
	return 0;
}

/* PHLOEM_A_DEV_SIGNALS and _SIGNAL_DEBOUNCE_US of a SET_LIMITS request */
static int phloem_nl_parse_signals(struct phloem_dev *pd,
				   struct genl_info *info,
				   struct phloem_nl_limits *l)
{
	struct nlattr *tb[PHLOEM_A_SIGNAL_MAX + 1];
	struct nlattr *list = info->attrs[PHLOEM_A_DEV_SIGNALS];
	struct nlattr *item;
	int rem, ret;
	u32 g;

	if (info->attrs[PHLOEM_A_DEV_SIGNAL_DEBOUNCE_US]) {
		l->debounce_us = nla_get_u32(info->attrs[PHLOEM_A_DEV_SIGNAL_DEBOUNCE_US]);
		l->has_debounce = true;
	}
	if (!list)
		return 0;
	nla_for_each_nested(item, list, rem) {
		ret = phloem_nl_list_item(info, item, tb, &phloem_nl_signal_item,
					  pd->info.nsignals, l->gcap | l->gmask,
					  &g);
		if (ret)
			return ret;
		if (tb[PHLOEM_A_SIGNAL_IMPORT_CAP_MW]) {
			l->cap_mw[g] = nla_get_u32(tb[PHLOEM_A_SIGNAL_IMPORT_CAP_MW]);
			l->gcap |= BIT(g);
		}
		if (tb[PHLOEM_A_SIGNAL_SHED_RELAYS]) {
			l->shed[g] = nla_get_u32(tb[PHLOEM_A_SIGNAL_SHED_RELAYS]);
			if (l->shed[g] >> pd->info.nrelays) {
				NL_SET_ERR_MSG_ATTR(info->extack,
						    tb[PHLOEM_A_SIGNAL_SHED_RELAYS],
						    "a relay in the mask does not exist on this device");
				return -EINVAL;
			}
			l->gmask |= BIT(g);
		}
	}
	return 0;
}

/* PHLOEM_A_DEV_PHASE of a SET_LIMITS request: limits, imbalance, grace */
static int phloem_nl_parse_phase(struct genl_info *info,
				 struct phloem_nl_limits *l)
{
	struct nlattr *tb[PHLOEM_A_PHASE_MAX + 1];
	struct nlattr *pb[PHLOEM_A_PH_MAX + 1];
	struct nlattr *item;
	int rem, ret;
	u32 p;

	if (!info->attrs[PHLOEM_A_DEV_PHASE])
		return 0;
	ret = nla_parse_nested(tb, PHLOEM_A_PHASE_MAX,
			       info->attrs[PHLOEM_A_DEV_PHASE],
			       phloem_nl_phase_set_policy, info->extack);
	if (ret)
		return ret;
	if (tb[PHLOEM_A_PHASE_IMBALANCE_MA]) {
		l->imb_ma = nla_get_u32(tb[PHLOEM_A_PHASE_IMBALANCE_MA]);
		l->has_imb_ma = true;
	}
	if (tb[PHLOEM_A_PHASE_IMBALANCE_MVA]) {
		l->imb_mva = nla_get_u32(tb[PHLOEM_A_PHASE_IMBALANCE_MVA]);
		l->has_imb_mva = true;
	}
	if (tb[PHLOEM_A_PHASE_GRACE_MS]) {
		l->grace_ms = nla_get_u32(tb[PHLOEM_A_PHASE_GRACE_MS]);
		l->has_grace = true;
	}
	if (!tb[PHLOEM_A_PHASE_LIST])
		goto out;
	nla_for_each_nested(item, tb[PHLOEM_A_PHASE_LIST], rem) {
		ret = nla_parse_nested(pb, PHLOEM_A_PH_MAX, item,
				       phloem_nl_ph_set_policy, info->extack);
		if (ret)
			return ret;
		if (NL_REQ_ATTR_CHECK(info->extack, item, pb,
				      PHLOEM_A_PH_INDEX) ||
		    !pb[PHLOEM_A_PH_LIMIT_MA]) {
			NL_SET_ERR_MSG_ATTR(info->extack, item,
					    "a phase entry needs PHLOEM_A_PH_INDEX and PHLOEM_A_PH_LIMIT_MA");
			return -EINVAL;
		}
		p = nla_get_u32(pb[PHLOEM_A_PH_INDEX]);
		if (l->pset & BIT(p)) {
			NL_SET_ERR_MSG_ATTR(info->extack, pb[PHLOEM_A_PH_INDEX],
					    "phase given twice in one request");
			return -EINVAL;
		}
		l->pset |= BIT(p);
		l->ph_ma[p] = nla_get_u32(pb[PHLOEM_A_PH_LIMIT_MA]);
	}
out:
	if (!l->pset && !l->has_imb_ma && !l->has_imb_mva && !l->has_grace) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[PHLOEM_A_DEV_PHASE],
				    "PHLOEM_A_DEV_PHASE sets nothing: give a limit, the imbalance or the grace");
		return -EINVAL;
	}
	return 0;
}

/*
 * PHLOEM_A_DEV_MAINS of a SET_LIMITS request. The policy did the plain
 * ranges; what it cannot say ("0 or 50..99", relays this device has) is
 * pinned on the attribute here, so a person reads which value is wrong
 * rather than the whole-configuration message.
 */
static int phloem_nl_parse_mains(struct phloem_dev *pd,
				 struct genl_info *info,
				 struct phloem_nl_limits *l)
{
	struct nlattr *tb[PHLOEM_A_MAINS_MAX + 1];
	struct nlattr *nest = info->attrs[PHLOEM_A_DEV_MAINS];
	int a, ret;
	u32 v;

	if (!nest)
		return 0;
	ret = nla_parse_nested(tb, PHLOEM_A_MAINS_MAX, nest,
			       phloem_nl_mains_set_policy, info->extack);
	if (ret)
		return ret;
	for (a = PHLOEM_A_MAINS_NOMINAL_MV; a <= PHLOEM_NL_MAINS_CFG_LAST; a++) {
		if (!tb[a])
			continue;
		l->mains[a] = nla_get_u32(tb[a]);
		l->mset |= BIT(a);
	}
	if (!l->mset) {
		NL_SET_ERR_MSG_ATTR(info->extack, nest,
				    "PHLOEM_A_DEV_MAINS sets nothing: give one of PHLOEM_A_MAINS_NOMINAL_MV .. PHLOEM_A_MAINS_UV_SHED_MS");
		return -EINVAL;
	}
	v = l->mains[PHLOEM_A_MAINS_NOMINAL_MV];
	if (v && (v < PHLOEM_NOMINAL_MV_MIN || v > PHLOEM_NOMINAL_MV_MAX)) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[PHLOEM_A_MAINS_NOMINAL_MV],
				    "nominal voltage: 0 (230 V) or 50000..500000 mV");
		return -EINVAL;
	}
	v = l->mains[PHLOEM_A_MAINS_UV_SHED_PCT];
	if (v && v < PHLOEM_UV_SHED_MIN_PCT) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[PHLOEM_A_MAINS_UV_SHED_PCT],
				    "under-voltage shed threshold: 0 (off) or 50..99 % of nominal");
		return -EINVAL;
	}
	v = l->mains[PHLOEM_A_MAINS_OUTAGE_RELAYS];
	if (v >> pd->info.nrelays) {
		NL_SET_ERR_MSG_ATTR(info->extack,
				    tb[PHLOEM_A_MAINS_OUTAGE_RELAYS],
				    "outage relay mask names a relay this device does not have");
		return -EINVAL;
	}
	return 0;
}

/* PHLOEM_A_DEV_RELAYS of a SET_LIMITS request: every relay's policy */
static int phloem_nl_parse_relay_policies(struct phloem_dev *pd,
					  struct genl_info *info,
					  struct phloem_nl_limits *l)
{
	struct nlattr *tb[PHLOEM_A_RELAY_MAX + 1];
	struct nlattr *list = info->attrs[PHLOEM_A_DEV_RELAYS];
	struct nlattr *item;
	int rem, ret;
	u32 r;

	if (!list)
		return 0;
	nla_for_each_nested(item, list, rem) {
		ret = nla_parse_nested(tb, PHLOEM_A_RELAY_MAX, item,
				       phloem_nl_relay_policy_set_policy,
				       info->extack);
		if (ret)
			return ret;
		if (NL_REQ_ATTR_CHECK(info->extack, item, tb,
				      PHLOEM_A_RELAY_INDEX)) {
			NL_SET_ERR_MSG_ATTR(info->extack, item,
					    "a relay entry needs PHLOEM_A_RELAY_INDEX");
			return -EINVAL;
		}
		r = nla_get_u32(tb[PHLOEM_A_RELAY_INDEX]);
		if (r >= pd->info.nrelays) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    tb[PHLOEM_A_RELAY_INDEX],
					    "no such relay on this device");
			return -EINVAL;
		}
		if (l->rset & BIT(r)) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    tb[PHLOEM_A_RELAY_INDEX],
					    "relay given twice in one request");
			return -EINVAL;
		}
		l->rset |= BIT(r);
		if (tb[PHLOEM_A_RELAY_PRIORITY]) {
			l->prio[r] = nla_get_u32(tb[PHLOEM_A_RELAY_PRIORITY]);
			l->rprio |= BIT(r);
		}
		if (tb[PHLOEM_A_RELAY_FLAGS]) {
			l->flags[r] = nla_get_u32(tb[PHLOEM_A_RELAY_FLAGS]);
			l->rflags |= BIT(r);
		}
		if (tb[PHLOEM_A_RELAY_MIN_OFF_MS]) {
			l->min_off_ms[r] = nla_get_u32(tb[PHLOEM_A_RELAY_MIN_OFF_MS]);
			l->rmin_off |= BIT(r);
		}
	}
	return 0;
}

static int phloem_nl_parse_limits(struct phloem_dev *pd,
				  struct genl_info *info,
				  struct phloem_nl_limits *l)
{
	struct nlattr *tb[PHLOEM_A_CIRCUIT_MAX + 1];
	struct nlattr *list = info->attrs[PHLOEM_A_DEV_CIRCUITS];
	struct nlattr *item;
	int rem, ret;
	u32 c, ma;

	if (info->attrs[PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW]) {
		l->site_mw = nla_get_u32(info->attrs[PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW]);
		l->has_site = true;
	}
	if (!list)
		goto out;

	nla_for_each_nested(item, list, rem) {
		/* The list policy already let only LIST_CIRCUIT through */
		ret = phloem_nl_list_item(info, item, tb, &phloem_nl_circuit_item,
					  pd->info.ncircuits, l->set | l->hset,
					  &c);
		if (ret)
			return ret;
		if (tb[PHLOEM_A_CIRCUIT_MAX_HOLD_S]) {
			l->hset |= BIT(c);
			l->max_hold_s[c] =
				nla_get_u32(tb[PHLOEM_A_CIRCUIT_MAX_HOLD_S]);
		}
		if (!tb[PHLOEM_A_CIRCUIT_LIMIT_MA])
			continue;
		ma = nla_get_u32(tb[PHLOEM_A_CIRCUIT_LIMIT_MA]);
		if (ma > pd->info.circuit[c].rating_ma) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    tb[PHLOEM_A_CIRCUIT_LIMIT_MA],
					    "limit above the circuit's breaker rating (PHLOEM_A_CIRCUIT_RATING_MA)");
			return -EINVAL;
		}
		l->set |= BIT(c);
		l->limit_ma[c] = ma;
	}
out:
	ret = phloem_nl_parse_relay_policies(pd, info, l);
	if (!ret)
		ret = phloem_nl_parse_signals(pd, info, l);
	if (ret)
		return ret;
	ret = phloem_nl_parse_freq(info, l);
	if (!ret)
		ret = phloem_nl_parse_phase(info, l);
	if (!ret)
		ret = phloem_nl_parse_mains(pd, info, l);
	if (ret)
		return ret;
	if (!l->set && !l->hset && !l->has_site && !l->rset && !l->fset &&
	    !l->has_over && !l->gcap && !l->gmask && !l->has_debounce &&
	    !info->attrs[PHLOEM_A_DEV_PHASE] && !l->mset) {
		GENL_SET_ERR_MSG(info, "nothing to set: give PHLOEM_A_DEV_SITE_IMPORT_LIMIT_MW, PHLOEM_A_DEV_CIRCUITS, PHLOEM_A_DEV_RELAYS, PHLOEM_A_DEV_FREQ, PHLOEM_A_DEV_SIGNALS, PHLOEM_A_DEV_PHASE and/or PHLOEM_A_DEV_MAINS");
		return -EINVAL;
	}
	return 0;
}

static int phloem_nl_set_limits_doit(struct sk_buff *skb,
				     struct genl_info *info)
{
	struct phloem_nl_limits l = { };
	struct phloem_config *cfg;
	struct phloem_dev *pd;
	bool changed = false;
	unsigned long c;
	int ret;

	cfg = kzalloc(sizeof(*cfg), GFP_KERNEL);
	if (!cfg)
		return -ENOMEM;

	mutex_lock(&phloem_nl_lock);
	pd = phloem_nl_dev_lookup(info);
	if (IS_ERR(pd)) {
		ret = PTR_ERR(pd);
		goto out;
	}
	ret = phloem_nl_parse_limits(pd, info, &l);
	if (ret)
		goto out;

	/* Read, modify and replace in one section: no ioctl in between */
	spin_lock(&pd->shed_lock);
	phloem_shed_get_config(pd->shed, cfg);
	if (l.has_site && cfg->site_import_limit_mw != l.site_mw) {
		cfg->site_import_limit_mw = l.site_mw;
		changed = true;
	}
	for_each_set_bit(c, &l.set, PHLOEM_MAX_CIRCUITS) {
		if (cfg->circuit[c].limit_ma == l.limit_ma[c])
			continue;
		cfg->circuit[c].limit_ma = l.limit_ma[c];
		changed = true;
	}
	for_each_set_bit(c, &l.hset, PHLOEM_MAX_CIRCUITS) {
		if (cfg->circuit[c].max_hold_s == l.max_hold_s[c])
			continue;
		cfg->circuit[c].max_hold_s = l.max_hold_s[c];
		changed = true;
	}
	for_each_set_bit(c, &l.rset, PHLOEM_MAX_RELAYS) {
		struct phloem_relay_cfg *rc = &cfg->relay[c];

		if (test_bit(c, &l.rprio) && rc->priority != l.prio[c]) {
			rc->priority = l.prio[c];
			changed = true;
		}
		if (test_bit(c, &l.rflags) && rc->flags != l.flags[c]) {
			rc->flags = l.flags[c];
			changed = true;
		}
		if (test_bit(c, &l.rmin_off) && rc->min_off_ms != l.min_off_ms[c]) {
			rc->min_off_ms = l.min_off_ms[c];
			changed = true;
		}
	}
	if (l.has_over && (cfg->over_freq_mhz != l.over_mhz ||
			   cfg->over_freq_ms != l.over_ms)) {
		cfg->over_freq_mhz = l.over_mhz;
		cfg->over_freq_ms = l.over_ms;
		changed = true;
	}
	for_each_set_bit(c, &l.fset, PHLOEM_FREQ_STAGES) {
		if (!memcmp(&cfg->freq_stage[c], &l.stage[c], sizeof(l.stage[c])))
			continue;
		cfg->freq_stage[c] = l.stage[c];
		changed = true;
	}
	for_each_set_bit(c, &l.gcap, PHLOEM_MAX_SIGNALS) {
		if (cfg->signal[c].import_cap_mw == l.cap_mw[c])
			continue;
		cfg->signal[c].import_cap_mw = l.cap_mw[c];
		changed = true;
	}
	for_each_set_bit(c, &l.gmask, PHLOEM_MAX_SIGNALS) {
		if (cfg->signal[c].shed_relays == l.shed[c])
			continue;
		cfg->signal[c].shed_relays = l.shed[c];
		changed = true;
	}
	if (l.has_debounce && cfg->signal_debounce_us != l.debounce_us) {
		cfg->signal_debounce_us = l.debounce_us;
		changed = true;
	}
	for_each_set_bit(c, &l.pset, PHLOEM_MAX_PHASES) {
		if (cfg->phase_limit_ma[c] == l.ph_ma[c])
			continue;
		cfg->phase_limit_ma[c] = l.ph_ma[c];
		changed = true;
	}
	if (l.has_imb_ma && cfg->imbalance_ma != l.imb_ma) {
		cfg->imbalance_ma = l.imb_ma;
		changed = true;
	}
	if (l.has_imb_mva && cfg->imbalance_mva != l.imb_mva) {
		cfg->imbalance_mva = l.imb_mva;
		changed = true;
	}
	if (l.has_grace && cfg->phase_grace_ms != l.grace_ms) {
		cfg->phase_grace_ms = l.grace_ms;
		changed = true;
	}
	for_each_set_bit(c, &l.mset, PHLOEM_NL_MAINS_CFG_LAST + 1) {
		u32 *f = (u32 *)((u8 *)cfg + phloem_nl_mains_off[c]);

		if (*f == l.mains[c])
			continue;
		*f = l.mains[c];
		changed = true;
	}
	/*
	 * The limits and relay policies of one request go in as one
	 * configuration: one CONFIG event, however many relays it names.
	 * Values equal to those in force change nothing: no event either (an
	 * agent re-pushing its whole policy would otherwise fill every
	 * listener's log with identical CONFIG events).
	 */
	if (changed)
		ret = phloem_nl_set_config_locked(pd, cfg, info);
	spin_unlock(&pd->shed_lock);
	if (!ret && changed)
		phloem_nl_changed(pd, cfg);
out:
	mutex_unlock(&phloem_nl_lock);
	kfree(cfg);
	return ret;
}

/**
 * struct phloem_nl_relay - a validated SET_RELAY request
 * @index: relay
 * @priority: new priority, when @has_priority
 * @flags: new PHLOEM_RELAY_F_*, when @has_flags
 * @min_off_ms: new minimum off time, when @has_min_off
 * @mode: enum phloem_override_mode, when @has_override
 * @expiry_ms: override expiry
 * @has_priority: PHLOEM_A_RELAY_PRIORITY given
 * @has_flags: PHLOEM_A_RELAY_FLAGS given
 * @has_min_off: PHLOEM_A_RELAY_MIN_OFF_MS given
 * @has_override: PHLOEM_A_RELAY_OVERRIDE given
 */
struct phloem_nl_relay {
	u32 index, priority, flags, min_off_ms, mode, expiry_ms;
	bool has_priority, has_flags, has_min_off, has_override;
};

static int phloem_nl_parse_relay(struct phloem_dev *pd, struct genl_info *info,
				 struct phloem_nl_relay *r)
{
	struct nlattr *tb[PHLOEM_A_RELAY_MAX + 1];
	struct nlattr *nest = info->attrs[PHLOEM_A_RELAY];
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, PHLOEM_A_RELAY)) {
		GENL_SET_ERR_MSG(info, "PHLOEM_A_RELAY (nest with PHLOEM_A_RELAY_INDEX) is required");
		return -EINVAL;
	}
	ret = nla_parse_nested(tb, PHLOEM_A_RELAY_MAX, nest,
			       phloem_nl_relay_set_policy, info->extack);
	if (ret)
		return ret;
	if (NL_REQ_ATTR_CHECK(info->extack, nest, tb, PHLOEM_A_RELAY_INDEX)) {
		NL_SET_ERR_MSG_ATTR(info->extack, nest,
				    "PHLOEM_A_RELAY_INDEX is required");
		return -EINVAL;
	}
	r->index = nla_get_u32(tb[PHLOEM_A_RELAY_INDEX]);
	if (r->index >= pd->info.nrelays) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[PHLOEM_A_RELAY_INDEX],
				    "no such relay on this device");
		return -EINVAL;
	}
	if (tb[PHLOEM_A_RELAY_PRIORITY]) {
		r->priority = nla_get_u32(tb[PHLOEM_A_RELAY_PRIORITY]);
		r->has_priority = true;
	}
	if (tb[PHLOEM_A_RELAY_FLAGS]) {
		r->flags = nla_get_u32(tb[PHLOEM_A_RELAY_FLAGS]);
		r->has_flags = true;
	}
	if (tb[PHLOEM_A_RELAY_MIN_OFF_MS]) {
		r->min_off_ms = nla_get_u32(tb[PHLOEM_A_RELAY_MIN_OFF_MS]);
		r->has_min_off = true;
	}
	if (tb[PHLOEM_A_RELAY_OVERRIDE_MS] && !tb[PHLOEM_A_RELAY_OVERRIDE]) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[PHLOEM_A_RELAY_OVERRIDE_MS],
				    "PHLOEM_A_RELAY_OVERRIDE_MS needs PHLOEM_A_RELAY_OVERRIDE");
		return -EINVAL;
	}
	if (tb[PHLOEM_A_RELAY_OVERRIDE]) {
		r->mode = nla_get_u32(tb[PHLOEM_A_RELAY_OVERRIDE]);
		r->expiry_ms = tb[PHLOEM_A_RELAY_OVERRIDE_MS] ?
			       nla_get_u32(tb[PHLOEM_A_RELAY_OVERRIDE_MS]) : 0;
		/* Checked here so the unit's own check cannot fail later */
		if (r->mode != PHLOEM_OVERRIDE_AUTO && !r->expiry_ms) {
			NL_SET_ERR_MSG_ATTR(info->extack, tb[PHLOEM_A_RELAY_OVERRIDE],
					    "an OFF or ON override needs PHLOEM_A_RELAY_OVERRIDE_MS 1..86400000");
			return -EINVAL;
		}
		r->has_override = true;
	}
	if (!r->has_priority && !r->has_flags && !r->has_min_off &&
	    !r->has_override) {
		NL_SET_ERR_MSG_ATTR(info->extack, nest,
				    "nothing to set: give PRIORITY, FLAGS, MIN_OFF_MS and/or OVERRIDE");
		return -EINVAL;
	}
	return 0;
}

static int phloem_nl_set_relay_doit(struct sk_buff *skb,
				    struct genl_info *info)
{
	struct phloem_nl_relay r = { };
	struct phloem_config *cfg;
	struct phloem_relay_cfg *rc;
	struct phloem_dev *pd;
	bool policy;
	int ret;

	cfg = kzalloc(sizeof(*cfg), GFP_KERNEL);
	if (!cfg)
		return -ENOMEM;

	mutex_lock(&phloem_nl_lock);
	pd = phloem_nl_dev_lookup(info);
	if (IS_ERR(pd)) {
		ret = PTR_ERR(pd);
		goto out;
	}
	ret = phloem_nl_parse_relay(pd, info, &r);
	if (ret)
		goto out;

	/*
	 * One section for both halves. The new configuration is checked
	 * before the override is applied and set after it: the check is the
	 * one way the set can fail, and the override's arguments were
	 * checked by the parser, so either everything goes in or nothing.
	 */
	spin_lock(&pd->shed_lock);
	phloem_shed_get_config(pd->shed, cfg);
	rc = &cfg->relay[r.index];
	/* policy equal to that in force is no change (and no CONFIG event) */
	policy = (r.has_priority && rc->priority != r.priority) ||
		 (r.has_flags && rc->flags != r.flags) ||
		 (r.has_min_off && rc->min_off_ms != r.min_off_ms);
	if (r.has_priority)
		rc->priority = r.priority;
	if (r.has_flags)
		rc->flags = r.flags;
	if (r.has_min_off)
		rc->min_off_ms = r.min_off_ms;
	if (policy && phloem_shed_check_config(&pd->info, cfg)) {
		GENL_SET_ERR_MSG(info, "the resulting configuration is refused by the shedding unit");
		ret = -EINVAL;
	}
	if (!ret && r.has_override) {
		ret = phloem_shed_override(pd->shed, r.index, r.mode,
					   r.expiry_ms, ktime_get_ns());
		if (ret)
			GENL_SET_ERR_MSG(info, "override refused by the shedding unit");
	}
	/* Checked above under the same lock: cannot fail */
	if (!ret && policy)
		WARN_ON_ONCE(phloem_shed_set_config(pd->shed, cfg,
						    ktime_get_ns()));
	spin_unlock(&pd->shed_lock);
	if (!ret)
		phloem_nl_changed(pd, policy ? cfg : NULL);
out:
	mutex_unlock(&phloem_nl_lock);
	kfree(cfg);
	return ret;
}

static int phloem_nl_get_stats_doit(struct sk_buff *skb,
				    struct genl_info *info)
{
	struct phloem_stats *st;
	struct phloem_dev *pd;
	struct sk_buff *msg;
	int ret;

	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		kfree(st);
		return -ENOMEM;
	}

	mutex_lock(&phloem_nl_lock);
	pd = phloem_nl_dev_lookup(info);
	if (IS_ERR(pd)) {
		ret = PTR_ERR(pd);
		mutex_unlock(&phloem_nl_lock);
		goto err;
	}
	spin_lock(&pd->shed_lock);
	phloem_shed_counters(pd->shed, st);
	spin_unlock(&pd->shed_lock);
	phloem_stats_fill(pd, st);
	ret = phloem_nl_fill_stats(msg, pd, st, info->snd_portid,
				   info->snd_seq);
	mutex_unlock(&phloem_nl_lock);
	if (ret)
		goto err;
	kfree(st);
	return genlmsg_reply(msg, info);

err:
	nlmsg_free(msg);
	kfree(st);
	return ret;
}

static int phloem_nl_lease_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *attr = info->attrs[PHLOEM_A_LEASE_TIMEOUT_MS];
	struct phloem_dev *pd;
	u32 ms;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, PHLOEM_A_LEASE_TIMEOUT_MS)) {
		GENL_SET_ERR_MSG(info, "PHLOEM_A_LEASE_TIMEOUT_MS is required (0 releases the lease)");
		return -EINVAL;
	}
	ms = nla_get_u32(attr);
	if (ms && ms < 100) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "lease timeout must be 0 (release) or 100..600000 ms");
		return -EINVAL;
	}

	mutex_lock(&phloem_nl_lock);
	pd = phloem_nl_dev_lookup(info);
	if (IS_ERR(pd)) {
		ret = PTR_ERR(pd);
		goto out;
	}
	spin_lock(&pd->shed_lock);
	ret = phloem_shed_lease(pd->shed, ms, ktime_get_ns());
	spin_unlock(&pd->shed_lock);
	trace_phloem_lease(pd->id, ms, ret);
	if (ret)
		GENL_SET_ERR_MSG(info, "lease refused by the shedding unit");
	else
		phloem_nl_changed(pd, NULL);
out:
	mutex_unlock(&phloem_nl_lock);
	return ret;
}

static const struct genl_ops phloem_nl_ops[] = {
	{
		.cmd = PHLOEM_CMD_GET_DEVICE,
		.doit = phloem_nl_get_device_doit,
		.start = phloem_nl_get_device_start,
		.dumpit = phloem_nl_get_device_dumpit,
		.policy = phloem_nl_get_policy,
		.maxattr = ARRAY_SIZE(phloem_nl_get_policy) - 1,
	},
	{
		.cmd = PHLOEM_CMD_SET_LIMITS,
		.doit = phloem_nl_set_limits_doit,
		.policy = phloem_nl_set_limits_policy,
		.maxattr = ARRAY_SIZE(phloem_nl_set_limits_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = PHLOEM_CMD_SET_RELAY,
		.doit = phloem_nl_set_relay_doit,
		.policy = phloem_nl_set_relay_policy,
		.maxattr = ARRAY_SIZE(phloem_nl_set_relay_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = PHLOEM_CMD_GET_STATS,
		.doit = phloem_nl_get_stats_doit,
		.policy = phloem_nl_get_policy,
		.maxattr = ARRAY_SIZE(phloem_nl_get_policy) - 1,
	},
	{
		.cmd = PHLOEM_CMD_LEASE,
		.doit = phloem_nl_lease_doit,
		.policy = phloem_nl_lease_policy,
		.maxattr = ARRAY_SIZE(phloem_nl_lease_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	},
};

static const struct genl_multicast_group phloem_nl_mcgrps[] = {
	[PHLOEM_NL_GRP_EVENTS] = { .name = PHLOEM_GENL_MCGRP_EVENTS },
};

static struct genl_family phloem_nl_family __ro_after_init = {
	.name = PHLOEM_GENL_NAME,
	.version = PHLOEM_GENL_VERSION,
	.maxattr = PHLOEM_A_MAX,
	.netnsok = true,
	/* Every command is new: strict header and attribute checks for all */
	.resv_start_op = __PHLOEM_CMD_MAX,
	.ops = phloem_nl_ops,
	.n_ops = ARRAY_SIZE(phloem_nl_ops),
	.mcgrps = phloem_nl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(phloem_nl_mcgrps),
	.module = THIS_MODULE,
};

/**
 * phloem_netlink_init() - register the "phloem" family
 *
 * Before the platform driver: a device probed at once is added to the
 * family's table, which must exist.
 * Return: 0 or a negative errno.
 */
int __init phloem_netlink_init(void)
{
	return genl_register_family(&phloem_nl_family);
}

/**
 * phloem_netlink_uninit() - unregister the family
 *
 * After the platform driver: every device has been removed, so no op is
 * running and no event is being sent.
 */
void phloem_netlink_uninit(void)
{
	genl_unregister_family(&phloem_nl_family);
}
