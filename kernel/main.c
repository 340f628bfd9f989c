// SPDX-License-Identifier: GPL-2.0
/*
 * phloem: metering HAT and in-kernel load shedding for energy gateways.
 *
 * Module init/exit, the platform driver and probe/remove. Probe reads the
 * firmware node (docs/bindings/phloem,hat.yaml) through the fwnode API only,
 * so the same code binds from a device tree overlay and from the software
 * nodes of the simulated HAT.
 */
#include <linux/bitops.h>
#include <linux/gpio/consumer.h>
#include <linux/idr.h>
#include <linux/iio/consumer.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/mod_devicetable.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/property.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "phloem.h"

static DEFINE_IDA(phloem_ida);

/*
 * fwnode_name_eq() only arrived in 6.4; 6.1 has fwnode_get_name(), which
 * gives "channel@0" for DT and software nodes alike. Compare the part before
 * the unit address.
 */
static bool phloem_fwnode_name_eq(struct fwnode_handle *fw, const char *name)
{
	const char *n = fwnode_get_name(fw);
	size_t len;

	if (!n)
		return false;
	len = strcspn(n, "@");
	return len == strlen(name) && !strncmp(n, name, len);
}

/*
 * Read an optional (or, with no default, required) u32 property and check
 * its range, naming the node and property in the error: a bad overlay must
 * say what to fix.
 */
static int phloem_prop_u32(struct device *dev, struct fwnode_handle *fw,
			   const char *prop, bool required, u32 def, u32 min,
			   u32 max, u32 *out)
{
	u32 v = def;
	int ret;

	if (fwnode_property_present(fw, prop)) {
		ret = fwnode_property_read_u32(fw, prop, &v);
		if (ret) {
			dev_err(dev, "%pfwP: %s: not a u32 cell (%d)\n", fw,
				prop, ret);
			return -EINVAL;
		}
	} else if (required) {
		dev_err(dev, "%pfwP: %s is required\n", fw, prop);
		return -EINVAL;
	}
	if (v < min || v > max) {
		dev_err(dev, "%pfwP: %s = %u is out of range %u..%u\n", fw,
			prop, v, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* "label" into a name field, or the default when absent */
static int phloem_prop_label(struct device *dev, struct fwnode_handle *fw,
			     char *name, const char *fmt, u32 idx)
{
	const char *label;

	if (fwnode_property_read_string(fw, "label", &label)) {
		snprintf(name, PHLOEM_NAME_LEN, fmt, idx);
		return 0;
	}
	if (!*label || strscpy(name, label, PHLOEM_NAME_LEN) < 0) {
		dev_err(dev, "%pfwP: label \"%s\" is empty or longer than %d\n",
			fw, label, PHLOEM_NAME_LEN - 1);
		return -EINVAL;
	}
	return 0;
}

static int phloem_parse_global(struct phloem_dev *pd)
{
	struct device *dev = pd->dev;
	struct fwnode_handle *fw = dev_fwnode(dev);
	struct phloem_config *c = &pd->boot;
	int ret;

	ret = phloem_prop_u32(dev, fw, "phloem,mains-hz", false, 50, 50, 60,
			      &pd->info.mains_hz);
	if (ret)
		return ret;
	if (pd->info.mains_hz != 50 && pd->info.mains_hz != 60) {
		dev_err(dev, "phloem,mains-hz = %u: must be 50 or 60\n",
			pd->info.mains_hz);
		return -EINVAL;
	}
	ret = phloem_prop_u32(dev, fw, "phloem,sample-rate-hz", false, 4000,
			      PHLOEM_RATE_MIN_HZ, PHLOEM_RATE_MAX_HZ,
			      &c->sample_rate_hz);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,site-import-limit-mw",
				      false, 0, 0, U32_MAX,
				      &c->site_import_limit_mw);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,site-import-grace-ms",
				      false, 5000, 0, 600000,
				      &c->site_import_grace_ms);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,restore-delay-ms", false,
				      10000, 0, 3600000, &c->restore_delay_ms);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,retrip-window-ms", false,
				      300000, 0, 86400000,
				      &c->retrip_window_ms);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,backoff-max", false, 6, 0,
				      10, &c->backoff_max);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,stale-ms", false, 100, 1,
				      10000, &c->stale_ms);
	return ret;
}

/* io-channel-names: "v0".."v2", "i0".."i7", each once, "v0" required */
static int phloem_parse_chan_names(struct phloem_dev *pd)
{
	struct device *dev = pd->dev;
	const char *names[PHLOEM_MAX_CHANNELS];
	unsigned long seen = 0;
	int n, i, ret;

	n = device_property_string_array_count(dev, "io-channel-names");
	if (n < 0)
		return dev_err_probe(dev, n, "io-channel-names is required\n");
	if (n < 2 || n > PHLOEM_MAX_CHANNELS) {
		dev_err(dev, "io-channel-names: %d entries, need 2..%d\n", n,
			PHLOEM_MAX_CHANNELS);
		return -EINVAL;
	}
	ret = device_property_read_string_array(dev, "io-channel-names",
						names, n);
	if (ret < 0)
		return dev_err_probe(dev, ret, "io-channel-names unreadable\n");

	for (i = 0; i < n; i++) {
		struct phloem_chan_info *ci = &pd->info.chan[i];
		const char *s = names[i];
		unsigned int bit;

		if (strlen(s) != 2 || !((s[0] == 'v' && s[1] >= '0' && s[1] <= '2') ||
					(s[0] == 'i' && s[1] >= '0' && s[1] <= '7'))) {
			dev_err(dev, "io-channel-names[%d] = \"%s\": expected v0..v2 or i0..i7\n",
				i, s);
			return -EINVAL;
		}
		bit = (s[0] == 'i' ? 3 : 0) + s[1] - '0';
		if (__test_and_set_bit(bit, &seen)) {
			dev_err(dev, "io-channel-names: \"%s\" given twice\n", s);
			return -EINVAL;
		}
		strscpy(ci->name, s, PHLOEM_NAME_LEN);
		ci->kind = s[0] == 'v' ? PHLOEM_CHAN_VOLTAGE : PHLOEM_CHAN_CURRENT;
		ci->phase = ci->kind == PHLOEM_CHAN_VOLTAGE ? i : PHLOEM_NONE;
		ci->circuit = PHLOEM_NONE;
		ci->bits = 12;
	}
	if (!test_bit(0, &seen)) {
		dev_err(dev, "io-channel-names: \"v0\" is required (it times the mains cycles)\n");
		return -EINVAL;
	}
	pd->info.nchannels = n;

	for (i = 0; i < n; i++) {
		struct iio_channel *ch;

		ch = devm_fwnode_iio_channel_get_by_name(dev, dev_fwnode(dev),
							 names[i]);
		if (IS_ERR(ch))
			return dev_err_probe(dev, PTR_ERR(ch),
					     "io-channels: cannot get \"%s\"\n",
					     names[i]);
		pd->chan[i] = ch;
	}
	return 0;
}

static int phloem_find_voltage(struct phloem_dev *pd, u32 phase)
{
	char name[3] = { 'v', '0' + phase, 0 };
	unsigned int i;

	for (i = 0; i < pd->info.nchannels; i++)
		if (!strcmp(pd->info.chan[i].name, name))
			return i;
	return -1;
}

static int phloem_parse_channel(struct phloem_dev *pd,
				struct fwnode_handle *fw, unsigned long *seen)
{
	struct device *dev = pd->dev;
	struct phloem_chan_info *ci;
	struct phloem_chan_cal *cal;
	u32 reg, bits = 12, phase = 0, mdeg = 0;
	int ret, v;

	ret = phloem_prop_u32(dev, fw, "reg", true, 0, 0,
			      pd->info.nchannels - 1, &reg);
	if (ret)
		return ret;
	if (__test_and_set_bit(reg, seen)) {
		dev_err(dev, "%pfwP: channel %u described twice\n", fw, reg);
		return -EINVAL;
	}
	ci = &pd->info.chan[reg];
	cal = &pd->boot.cal[reg];

	ret = phloem_prop_u32(dev, fw, "phloem,scale-micro", true, 0, 1,
			      100000000, &cal->scale_uunit);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,adc-bits", false, 12, 8,
				      24, &bits);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,offset-lsb", false,
				      1U << (bits - 1), 0, (1U << bits) - 1,
				      &cal->offset_lsb);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,phase", false, 0, 0, 2,
				      &phase);
	/* A signed cell: read as u32, the range check is on the s32 */
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,phase-mdeg", false, 0, 0,
				      U32_MAX, &mdeg);
	if (ret)
		return ret;
	if ((s32)mdeg < -20000 || (s32)mdeg > 20000) {
		dev_err(dev, "%pfwP: phloem,phase-mdeg = %d is out of range -20000..20000\n",
			fw, (s32)mdeg);
		return -EINVAL;
	}
	cal->phase_mdeg = (s32)mdeg;
	ci->bits = bits;

	if (ci->kind == PHLOEM_CHAN_CURRENT) {
		v = phloem_find_voltage(pd, phase);
		if (v < 0) {
			dev_err(dev, "%pfwP: phloem,phase = %u but there is no \"v%u\" in io-channel-names\n",
				fw, phase, phase);
			return -EINVAL;
		}
		ci->phase = v;
	}
	return 0;
}

/*
 * circuit@0's phase CTs: phloem,phase-channels lists the current channels
 * that measure the site on its other phases (one CT per phase at the
 * incomer; phloem,channel is the first). Their phases are checked once
 * every channel node has been read (phloem_parse_children()). The phase
 * rules' boot configuration lives beside them: phloem,phase-limit-ma (one
 * cell per phase L1..L3, 0 off), phloem,imbalance-ma, phloem,imbalance-mva
 * and phloem,phase-grace-ms.
 */
static int phloem_parse_site_phases(struct phloem_dev *pd,
				    struct fwnode_handle *fw)
{
	struct device *dev = pd->dev;
	struct phloem_config *c = &pd->boot;
	u32 chs[PHLOEM_MAX_PHASES - 1], i;
	int n, ret;

	n = fwnode_property_count_u32(fw, "phloem,phase-channels");
	if (n == -EINVAL)	/* absent: a single-phase site, or one CT */
		n = 0;
	if (n < 0 || n > PHLOEM_MAX_PHASES - 1) {
		dev_err(dev, "%pfwP: phloem,phase-channels: %d cells, 0..%d (the site's other phases)\n",
			fw, n, PHLOEM_MAX_PHASES - 1);
		return -EINVAL;
	}
	if (n) {
		ret = fwnode_property_read_u32_array(fw, "phloem,phase-channels",
						     chs, n);
		if (ret)
			return dev_err_probe(dev, ret, "%pfwP: phloem,phase-channels\n",
					     fw);
	}
	for (i = 0; i < n; i++) {
		struct phloem_chan_info *ci;

		if (chs[i] >= pd->info.nchannels) {
			dev_err(dev, "%pfwP: phloem,phase-channels[%u] = %u: there are %u channels\n",
				fw, i, chs[i], pd->info.nchannels);
			return -EINVAL;
		}
		ci = &pd->info.chan[chs[i]];
		if (ci->kind != PHLOEM_CHAN_CURRENT || ci->circuit != PHLOEM_NONE) {
			dev_err(dev, "%pfwP: phloem,phase-channels[%u] = %u (\"%s\") is not a free current channel\n",
				fw, i, chs[i], ci->name);
			return -EINVAL;
		}
		ci->circuit = 0;
	}
	ret = fwnode_property_count_u32(fw, "phloem,phase-limit-ma");
	if (ret != -EINVAL) {
		if (ret < 1 || ret > PHLOEM_MAX_PHASES) {
			dev_err(dev, "%pfwP: phloem,phase-limit-ma: %d cells, one per phase L1..L%d\n",
				fw, ret, PHLOEM_MAX_PHASES);
			return -EINVAL;
		}
		ret = fwnode_property_read_u32_array(fw, "phloem,phase-limit-ma",
						     c->phase_limit_ma, ret);
		if (ret)
			return dev_err_probe(dev, ret, "%pfwP: phloem,phase-limit-ma\n",
					     fw);
	}
	ret = phloem_prop_u32(dev, fw, "phloem,imbalance-ma", false, 0, 0,
			      U32_MAX, &c->imbalance_ma);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,imbalance-mva", false, 0,
				      0, U32_MAX, &c->imbalance_mva);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,phase-grace-ms", false,
				      10000, 0, PHLOEM_PHASE_GRACE_MAX_MS,
				      &c->phase_grace_ms);
	return ret;
}

static int phloem_parse_circuit(struct phloem_dev *pd,
				struct fwnode_handle *fw, unsigned long *seen)
{
	static const char * const curves[] = { "B", "C", "D" };
	struct device *dev = pd->dev;
	struct phloem_circuit_info *ci;
	struct phloem_circuit_cfg *cc;
	const char *curve = "B";
	u32 reg, ch;
	int ret;

	ret = phloem_prop_u32(dev, fw, "reg", true, 0, 0,
			      PHLOEM_MAX_CIRCUITS - 1, &reg);
	if (ret)
		return ret;
	if (__test_and_set_bit(reg, seen)) {
		dev_err(dev, "%pfwP: circuit %u described twice\n", fw, reg);
		return -EINVAL;
	}
	ci = &pd->info.circuit[reg];
	cc = &pd->boot.circuit[reg];

	ret = reg ? phloem_prop_label(dev, fw, ci->name, "circuit%u", reg) :
		    phloem_prop_label(dev, fw, ci->name, "site", 0);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,channel", true, 0, 0,
				      pd->info.nchannels - 1, &ch);
	if (ret)
		return ret;
	if (pd->info.chan[ch].kind != PHLOEM_CHAN_CURRENT) {
		dev_err(dev, "%pfwP: phloem,channel = %u is \"%s\", not a current channel\n",
			fw, ch, pd->info.chan[ch].name);
		return -EINVAL;
	}
	if (pd->info.chan[ch].circuit != PHLOEM_NONE) {
		dev_err(dev, "%pfwP: phloem,channel = %u already measures circuit %u\n",
			fw, ch, pd->info.chan[ch].circuit);
		return -EINVAL;
	}
	pd->info.chan[ch].circuit = reg;
	ci->channel = ch;

	ret = phloem_prop_u32(dev, fw, "phloem,rating-ma", true, 0, 1,
			      U32_MAX, &ci->rating_ma);
	if (!ret && reg == 0)
		ret = phloem_parse_site_phases(pd, fw);
	if (ret)
		return ret;
	if (fwnode_property_present(fw, "phloem,curve")) {
		ret = fwnode_property_read_string(fw, "phloem,curve", &curve);
		if (ret) {
			dev_err(dev, "%pfwP: phloem,curve: not a string\n", fw);
			return -EINVAL;
		}
	}
	ret = match_string(curves, ARRAY_SIZE(curves), curve);
	if (ret < 0) {
		dev_err(dev, "%pfwP: phloem,curve = \"%s\": expected \"B\", \"C\" or \"D\"\n",
			fw, curve);
		return -EINVAL;
	}
	ci->curve = ret;

	ret = phloem_prop_u32(dev, fw, "phloem,limit-ma", false, ci->rating_ma,
			      1, ci->rating_ma, &cc->limit_ma);
	if (!ret) {
		u32 v = 0;

		ret = phloem_prop_u32(dev, fw, "phloem,inst-pct", false, 125,
				      105, 1000, &v);
		cc->inst_pct = v;
		if (!ret)
			ret = phloem_prop_u32(dev, fw, "phloem,thermal-pct",
					      false, 40, 5, 90, &v);
		cc->thermal_pct = v;
		if (!ret)
			ret = phloem_prop_u32(dev, fw, "phloem,restore-pct",
					      false, 80, 10, 100, &v);
		cc->restore_pct = v;
	}
	return ret;
}

static int phloem_parse_relay(struct phloem_dev *pd, struct fwnode_handle *fw,
			      unsigned long *seen)
{
	struct device *dev = pd->dev;
	struct phloem_relay_info *ri;
	struct phloem_relay_cfg *rc;
	u32 reg, v = 0;
	int ret;

	ret = phloem_prop_u32(dev, fw, "reg", true, 0, 0,
			      pd->info.nrelays - 1, &reg);
	if (ret) {
		dev_err(dev, "%pfwP: (relay-gpios has %u lines)\n", fw,
			pd->info.nrelays);
		return ret;
	}
	if (__test_and_set_bit(reg, seen)) {
		dev_err(dev, "%pfwP: relay %u described twice\n", fw, reg);
		return -EINVAL;
	}
	ri = &pd->info.relay[reg];
	rc = &pd->boot.relay[reg];

	ret = phloem_prop_label(dev, fw, ri->name, "relay%u", reg);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,circuit", true, 0, 0,
				      PHLOEM_MAX_CIRCUITS - 1, &v);
	rc->circuit = v;
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,priority", false, 128, 0,
				      255, &v);
	rc->priority = v;
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,safe-state", false, 0, 0,
				      1, &v);
	ri->safe_state = v;
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,min-off-ms", false, 30000,
				      0, 3600000, &rc->min_off_ms);
	if (ret)
		return ret;
	if (fwnode_property_read_bool(fw, "phloem,critical"))
		rc->flags |= PHLOEM_RELAY_F_CRITICAL;
	return 0;
}

static int phloem_parse_children(struct phloem_dev *pd)
{
	struct device *dev = pd->dev;
	unsigned long chans = 0, circs = 0, relays = 0;
	struct fwnode_handle *child;
	unsigned int i;
	int ret = 0;

	device_for_each_child_node(dev, child) {
		if (phloem_fwnode_name_eq(child, "channel"))
			ret = phloem_parse_channel(pd, child, &chans);
		else if (phloem_fwnode_name_eq(child, "circuit"))
			ret = phloem_parse_circuit(pd, child, &circs);
		else if (phloem_fwnode_name_eq(child, "relay"))
			ret = phloem_parse_relay(pd, child, &relays);
		if (ret) {
			fwnode_handle_put(child);
			return ret;
		}
	}

	for (i = 0; i < pd->info.nchannels; i++) {
		if (!test_bit(i, &chans)) {
			dev_err(dev, "channel@%u (\"%s\") is missing: phloem,scale-micro has no default\n",
				i, pd->info.chan[i].name);
			return -EINVAL;
		}
	}
	if (!test_bit(0, &circs)) {
		dev_err(dev, "circuit@0 (the site) is required\n");
		return -EINVAL;
	}
	/* the site's CTs, one per phase: their phases are known by now */
	for (i = 0; i < pd->info.nchannels; i++) {
		const struct phloem_chan_info *a = &pd->info.chan[i];
		unsigned int j;

		if (a->kind != PHLOEM_CHAN_CURRENT || a->circuit != 0)
			continue;
		for (j = i + 1; j < pd->info.nchannels; j++) {
			const struct phloem_chan_info *b = &pd->info.chan[j];

			if (b->kind == PHLOEM_CHAN_CURRENT && b->circuit == 0 &&
			    b->phase == a->phase) {
				dev_err(dev, "circuit@0: channels %u (\"%s\") and %u (\"%s\") both measure the site on phase %s: one CT per phase\n",
					i, a->name, j, b->name,
					pd->info.chan[a->phase].name);
				return -EINVAL;
			}
		}
	}
	pd->info.ncircuits = fls_long(circs);
	if (circs != GENMASK(pd->info.ncircuits - 1, 0)) {
		dev_err(dev, "circuit@N: reg values must be 0..N-1 without gaps (found 0x%lx)\n",
			circs);
		return -EINVAL;
	}
	for (i = 0; i < pd->info.nrelays; i++) {
		u32 c = pd->boot.relay[i].circuit;

		if (!test_bit(i, &relays)) {
			dev_err(dev, "relay@%x is missing: phloem,circuit has no default\n",
				i);
			return -EINVAL;
		}
		if (c >= pd->info.ncircuits) {
			dev_err(dev, "relay@%x: phloem,circuit = %u but there are %u circuits\n",
				i, c, pd->info.ncircuits);
			return -EINVAL;
		}
		if (c == 0 && pd->info.ncircuits > 1) {
			dev_err(dev, "relay@%x: phloem,circuit = 0 (the site) but the site has sub-circuits\n",
				i);
			return -EINVAL;
		}
		if (pd->info.relay[i].safe_state)
			pd->safe_bits |= BIT(i);
	}
	return 0;
}

/*
 * An optional u32 array property of one cell per grid-signal-gpios line
 * into @v (zeros when absent).
 */
static int phloem_prop_cells(struct device *dev, const char *prop, u32 n,
			     u32 *v)
{
	int ret = device_property_count_u32(dev, prop);

	memset(v, 0, sizeof(*v) * PHLOEM_MAX_SIGNALS);
	if (ret == -EINVAL)	/* absent: no action */
		return 0;
	if (ret != n) {
		dev_err(dev, "%s: %d cells, need one per grid-signal-gpios line (%u)\n",
			prop, ret, n);
		return -EINVAL;
	}
	ret = device_property_read_u32_array(dev, prop, v, n);
	return ret ? dev_err_probe(dev, ret, "%s\n", prop) : 0;
}

/*
 * The mains rules' boot configuration, on the phloem node beside
 * phloem,mains-hz, so a house with no agent islands and comes back by
 * itself: phloem,nominal-mv, phloem,outage-pct, phloem,outage-cycles,
 * phloem,outage-relays (relays kept on in the island beside the critical
 * ones), phloem,return-ms, phloem,return-stagger-ms, phloem,volt-band-pct,
 * phloem,volt-delay-ms, phloem,uv-shed-pct and phloem,uv-shed-ms. Each
 * absent one is 0, what 0 means in struct phloem_config (off, or the
 * default). Read once the relays are known: the outage relays must exist.
 */
static int phloem_parse_mains(struct phloem_dev *pd)
{
	struct device *dev = pd->dev;
	struct fwnode_handle *fw = dev_fwnode(dev);
	struct phloem_config *c = &pd->boot;
	int ret;

	ret = phloem_prop_u32(dev, fw, "phloem,nominal-mv", false, 0, 0,
			      PHLOEM_NOMINAL_MV_MAX, &c->nominal_mv);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,outage-pct", false, 0, 0,
				      PHLOEM_OUTAGE_MAX_PCT, &c->outage_pct);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,outage-cycles", false, 0,
				      0, PHLOEM_OUTAGE_CYCLES_MAX,
				      &c->outage_cycles);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,outage-relays", false, 0,
				      0, BIT(PHLOEM_MAX_RELAYS) - 1,
				      &c->outage_relays);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,return-ms", false, 0, 0,
				      PHLOEM_RETURN_MS_MAX, &c->return_ms);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,return-stagger-ms", false,
				      0, 0, PHLOEM_RETURN_STAGGER_MS_MAX,
				      &c->return_stagger_ms);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,volt-band-pct", false, 0,
				      0, PHLOEM_VOLT_BAND_MAX_PCT,
				      &c->volt_band_pct);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,volt-delay-ms", false, 0,
				      0, PHLOEM_VOLT_DELAY_MAX_MS,
				      &c->volt_delay_ms);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,uv-shed-pct", false, 0, 0,
				      PHLOEM_UV_SHED_MAX_PCT, &c->uv_shed_pct);
	if (!ret)
		ret = phloem_prop_u32(dev, fw, "phloem,uv-shed-ms", false, 0, 0,
				      PHLOEM_UV_SHED_MAX_MS, &c->uv_shed_ms);
	if (ret)
		return ret;
	/* the ranges with a hole, which phloem_prop_u32() cannot say */
	if (c->nominal_mv && c->nominal_mv < PHLOEM_NOMINAL_MV_MIN) {
		dev_err(dev, "%pfwP: phloem,nominal-mv = %u: 0 (230000) or %u..%u\n",
			fw, c->nominal_mv, PHLOEM_NOMINAL_MV_MIN,
			PHLOEM_NOMINAL_MV_MAX);
		return -EINVAL;
	}
	if (c->uv_shed_pct && c->uv_shed_pct < PHLOEM_UV_SHED_MIN_PCT) {
		dev_err(dev, "%pfwP: phloem,uv-shed-pct = %u: 0 (off) or %u..%u\n",
			fw, c->uv_shed_pct, PHLOEM_UV_SHED_MIN_PCT,
			PHLOEM_UV_SHED_MAX_PCT);
		return -EINVAL;
	}
	if (c->outage_relays >> pd->info.nrelays) {
		dev_err(dev, "%pfwP: phloem,outage-relays = 0x%x: there are %u relays\n",
			fw, c->outage_relays, pd->info.nrelays);
		return -EINVAL;
	}
	return 0;
}

/*
 * grid-signal-gpios: the grid-operator input lines (K1..K4), active at the
 * level their GPIO flags give; their actions in the boot configuration:
 * phloem,grid-signal-import-cap-mw and phloem,grid-signal-shed-relays, one
 * cell per line each, and phloem,grid-signal-debounce-us.
 */
static int phloem_parse_signals(struct phloem_dev *pd)
{
	struct device *dev = pd->dev;
	struct phloem_config *c = &pd->boot;
	u32 cap[PHLOEM_MAX_SIGNALS], shed[PHLOEM_MAX_SIGNALS], n, i;
	int ret;

	pd->signals = devm_gpiod_get_array_optional(dev, "grid-signal", GPIOD_IN);
	if (IS_ERR(pd->signals))
		return dev_err_probe(dev, PTR_ERR(pd->signals),
				     "grid-signal-gpios\n");
	n = pd->signals ? pd->signals->ndescs : 0;
	if (n > PHLOEM_MAX_SIGNALS) {
		dev_err(dev, "grid-signal-gpios: %u lines, at most %d\n", n,
			PHLOEM_MAX_SIGNALS);
		return -EINVAL;
	}
	pd->info.nsignals = n;
	ret = phloem_prop_u32(dev, dev_fwnode(dev),
			      "phloem,grid-signal-debounce-us", false, 5000, 0,
			      PHLOEM_SIGNAL_DEBOUNCE_MAX_US,
			      &c->signal_debounce_us);
	if (ret)
		return ret;
	ret = phloem_prop_cells(dev, "phloem,grid-signal-import-cap-mw", n, cap);
	if (!ret)
		ret = phloem_prop_cells(dev, "phloem,grid-signal-shed-relays", n,
					shed);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		if (shed[i] >> pd->info.nrelays) {
			dev_err(dev, "phloem,grid-signal-shed-relays[%u] = 0x%x: relay-gpios has %u lines\n",
				i, shed[i], pd->info.nrelays);
			return -EINVAL;
		}
		c->signal[i].import_cap_mw = cap[i];
		c->signal[i].shed_relays = shed[i];
	}
	return 0;
}

static int phloem_parse(struct phloem_dev *pd)
{
	struct device *dev = pd->dev;
	struct phloem_info *info = &pd->info;
	struct phloem_config *c = &pd->boot;
	unsigned int i;
	int ret;

	info->size = sizeof(*info);
	info->abi_version = PHLOEM_ABI_VERSION;
	snprintf(info->name, PHLOEM_NAME_LEN, "phloem%d", pd->id);
	info->record_size = PHLOEM_RECORD_SIZE;
	info->ring_records = PHLOEM_RING_RECORDS;
	c->size = sizeof(*c);

	ret = phloem_parse_global(pd);
	if (ret)
		return ret;

	/* First, so a missing ADC defers before anything is touched */
	ret = phloem_parse_chan_names(pd);
	if (ret)
		return ret;

	/* ASIS: nothing is driven until the safe states are known */
	pd->relays = devm_gpiod_get_array(dev, "relay", GPIOD_ASIS);
	if (IS_ERR(pd->relays))
		return dev_err_probe(dev, PTR_ERR(pd->relays), "relay-gpios\n");
	if (pd->relays->ndescs < 1 || pd->relays->ndescs > PHLOEM_MAX_RELAYS) {
		dev_err(dev, "relay-gpios: %u lines, need 1..%d\n",
			pd->relays->ndescs, PHLOEM_MAX_RELAYS);
		return -EINVAL;
	}
	info->nrelays = pd->relays->ndescs;

	ret = phloem_parse_children(pd);
	if (!ret)
		ret = phloem_parse_signals(pd);
	if (!ret)
		ret = phloem_parse_mains(pd);
	if (ret)
		return ret;

	/* Safe state at once: nothing has been measured yet */
	for (i = 0; i < info->nrelays; i++) {
		ret = gpiod_direction_output(pd->relays->desc[i],
					     !!(pd->safe_bits & BIT(i)));
		if (ret)
			return dev_err_probe(dev, ret, "relay %u (%s): cannot drive\n",
					     i, info->relay[i].name);
	}
	pd->relay_state = pd->safe_bits;

	c->nchannels = info->nchannels;
	c->ncircuits = info->ncircuits;
	c->nrelays = info->nrelays;
	/* Belt and braces: the unit's own check is the reference */
	if (phloem_shed_check_config(info, c)) {
		dev_err(dev, "firmware configuration rejected by the shedding unit (see docs/bindings/phloem,hat.yaml)\n");
		return -EINVAL;
	}
	return 0;
}

/* Release of the class device: the last reference to struct phloem_dev */
static void phloem_dev_release(struct device *d)
{
	struct phloem_dev *pd = container_of(d, struct phloem_dev, cdev_dev);

	ida_free(&phloem_ida, pd->id);
	kfree(pd->shed);
	kfree(pd);
}

static int phloem_probe(struct platform_device *pdev)
{
	struct device *dev = &pdev->dev;
	struct phloem_dev *pd;
	int ret;

	pd = kzalloc(sizeof(*pd), GFP_KERNEL);
	if (!pd)
		return -ENOMEM;
	pd->id = ida_alloc_max(&phloem_ida, PHLOEM_MAX_DEVS - 1, GFP_KERNEL);
	if (pd->id < 0) {
		ret = pd->id;
		kfree(pd);
		return dev_err_probe(dev, ret, "no free phloem minor\n");
	}
	/* From here on put_device() frees everything above */
	device_initialize(&pd->cdev_dev);
	pd->cdev_dev.release = phloem_dev_release;

	pd->dev = dev;
	spin_lock_init(&pd->shed_lock);
	mutex_init(&pd->relay_lock);
	init_rwsem(&pd->rwsem);
	spin_lock_init(&pd->readers_lock);
	INIT_LIST_HEAD(&pd->readers);
	init_waitqueue_head(&pd->wq);
	spin_lock_init(&pd->nl_lock);
	phloem_stats_init(pd);

	pd->shed = kzalloc(phloem_shed_size(), GFP_KERNEL);
	if (!pd->shed) {
		ret = -ENOMEM;
		goto err_put;
	}

	ret = phloem_parse(pd);
	if (ret)
		goto err_put;

	phloem_shed_init(pd->shed, &pd->info, &pd->boot, ktime_get_ns());

	ret = phloem_chardev_add(pd);
	if (ret)
		goto err_put;

	ret = phloem_sampler_init(pd);
	if (ret)
		goto err_chardev;

	platform_set_drvdata(pdev, pd);
	phloem_netlink_add(pd);
	dev_info(dev, "/dev/%s: %u channels, %u circuits, %u relays, %u grid-signal lines, %u Hz\n",
		 pd->info.name, pd->info.nchannels, pd->info.ncircuits,
		 pd->info.nrelays, pd->info.nsignals, pd->boot.sample_rate_hz);
	return 0;

err_chardev:
	phloem_chardev_gone(pd);
	phloem_chardev_del(pd);
err_put:
	put_device(&pd->cdev_dev);
	return ret;
}

static int phloem_remove(struct platform_device *pdev)
{
	struct phloem_dev *pd = platform_get_drvdata(pdev);

	/* First: waits for a netlink op using pd, and lets no new one find it */
	phloem_netlink_del(pd);
	phloem_sampler_uninit(pd);
	phloem_chardev_gone(pd);
	phloem_chardev_del(pd);
	/* Open files keep pd; the devm GPIOs and IIO channels go after this */
	put_device(&pd->cdev_dev);
	return 0;
}

static const struct of_device_id phloem_of_match[] = {
	{ .compatible = "phloem,hat" },
	{ }
};
MODULE_DEVICE_TABLE(of, phloem_of_match);

static const struct platform_device_id phloem_id_table[] = {
	{ .name = "phloem" },
	{ }
};
MODULE_DEVICE_TABLE(platform, phloem_id_table);

static struct platform_driver phloem_driver = {
	.probe = phloem_probe,
	.remove = phloem_remove,
	.id_table = phloem_id_table,
	.driver = {
		.name = "phloem",
		.of_match_table = phloem_of_match,
	},
};

static int __init phloem_init(void)
{
	int ret;

	ret = phloem_chardev_init();
	if (ret)
		return ret;
	ret = phloem_netlink_init();
	if (ret)
		goto err_chardev;
	ret = platform_driver_register(&phloem_driver);
	if (ret)
		goto err_netlink;
	return 0;

err_netlink:
	phloem_netlink_uninit();
err_chardev:
	phloem_chardev_uninit();
	return ret;
}

static void __exit phloem_exit(void)
{
	platform_driver_unregister(&phloem_driver);
	phloem_netlink_uninit();
	phloem_chardev_uninit();
	ida_destroy(&phloem_ida);
}

module_init(phloem_init);
module_exit(phloem_exit);

MODULE_DESCRIPTION("phloem metering HAT and in-kernel load shedding");
MODULE_AUTHOR("phloem developers <dev@phloem.invalid>");
MODULE_LICENSE("GPL");
