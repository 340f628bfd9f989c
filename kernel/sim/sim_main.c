// SPDX-License-Identifier: GPL-2.0
/*
 * phloem_sim: module, instances, and the firmware description of the
 * simulated HAT.
 *
 * Each instance N registers, in this order:
 *   software nodes "phloem-sim-adc<N>" and "phloem-sim-hat<N>" (with its
 *	channel@, circuit@ and relay@ children, the phloem,hat binding);
 *   platform device phloem-sim.N, parent of:
 *	an SPI controller with an "mcp3208" on CS 0 (mainline mcp320x binds);
 *	gpio_chip "phloem-sim-relays.N" (8 relay lines);
 *	gpio_chip "phloem-sim-signals.N" (2 grid-operator contacts);
 *   a gpiod lookup table giving phloem.N its "relay" and "grid-signal"
 *	gpios;
 *   debugfs hat<N>/;
 *   platform device phloem.N whose fwnode is the hat node: the real driver
 *	binds to it exactly as it would to a device tree node.
 * and unregisters in reverse, so that the driver's unbind (relays to their
 * safe state, sampler stopped) still finds the gpio_chip and the ADC.
 *
 * Software nodes rather than a device tree overlay because x86 Debian
 * kernels are built without CONFIG_OF. gpiolib in 6.1 cannot resolve
 * relay-gpios through software nodes (that came in 6.2), hence the lookup
 * table; devm_gpiod_get_array(dev, "relay", ...) works with both.
 */
#include <linux/err.h>
#include <linux/gpio/machine.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/property.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "sim.h"

static unsigned int hats = 1;
module_param(hats, uint, 0444);
MODULE_PARM_DESC(hats, "Number of simulated HATs (1..4)");

static unsigned int sample_rate = 4000;
module_param(sample_rate, uint, 0444);
MODULE_PARM_DESC(sample_rate, "phloem,sample-rate-hz of every HAT (1000..20000)");

static unsigned int min_off_ms = 2000;
module_param(min_off_ms, uint, 0444);
MODULE_PARM_DESC(min_off_ms, "phloem,min-off-ms of every relay (0..3600000)");

static unsigned int restore_delay_ms = 1000;
module_param(restore_delay_ms, uint, 0444);
MODULE_PARM_DESC(restore_delay_ms, "phloem,restore-delay-ms (0..3600000)");

static unsigned int retrip_window_ms = 10000;
module_param(retrip_window_ms, uint, 0444);
MODULE_PARM_DESC(retrip_window_ms, "phloem,retrip-window-ms (0..3600000)");

static unsigned int stale_ms = 100;
module_param(stale_ms, uint, 0444);
MODULE_PARM_DESC(stale_ms, "phloem,stale-ms (1..10000)");

unsigned int phloem_sim_relay_delay_us = 100;
module_param_named(relay_delay_us, phloem_sim_relay_delay_us, uint, 0644);
MODULE_PARM_DESC(relay_delay_us,
		 "Time a relay write takes, like an I2C expander (us, 0..100000)");

#define PHLOEM_SIM_MS_MAX	3600000

static unsigned int phases = 1;
module_param(phases, uint, 0444);
MODULE_PARM_DESC(phases, "1: the single-phase small house; 3: its three-phase variant (v1, v2 on inputs 5, 6, the garage on L2, heating on L3, the site's L2 CT on input 7)");

/* per circuit, in circuit order; an empty entry keeps the house's curve */
static char *curve[PHLOEM_SIM_CIRCUITS];
static unsigned int ncurve;
module_param_array(curve, charp, &ncurve, 0444);
MODULE_PARM_DESC(curve, "phloem,curve of circuits 0..3 (B, C or D; empty: the house's)");

/*
 * The mains rules' keys on the HAT node (phloem,nominal-mv ...
 * phloem,uv-shed-ms, docs/bindings/phloem,hat.yaml): one parameter each,
 * a property only when given. They are not range-checked here but passed
 * as given, so a test can watch the driver refuse a bad one at probe.
 */
/**
 * struct phloem_sim_opt_u32 - a u32 property that a module parameter may add
 * @prop: the property's name
 * @val: its value, when @set
 * @set: the parameter was given (written once, at load: the parameters
 *	are read-only)
 */
struct phloem_sim_opt_u32 {
	const char *prop;
	u32 val;
	bool set;
};

static int phloem_sim_opt_u32_set(const char *s, const struct kernel_param *kp)
{
	struct phloem_sim_opt_u32 *o = kp->arg;
	int ret = kstrtou32(s, 0, &o->val);

	if (!ret)
		o->set = true;
	return ret;
}

static int phloem_sim_opt_u32_get(char *buf, const struct kernel_param *kp)
{
	const struct phloem_sim_opt_u32 *o = kp->arg;

	return o->set ? sysfs_emit(buf, "%u\n", o->val) : sysfs_emit(buf, "\n");
}

static const struct kernel_param_ops phloem_sim_opt_u32_ops = {
	.set = phloem_sim_opt_u32_set,
	.get = phloem_sim_opt_u32_get,
};

#define PHLOEM_SIM_MAINS_PARAM(name, key)				\
	static struct phloem_sim_opt_u32 name = { .prop = key };	\
	module_param_cb(name, &phloem_sim_opt_u32_ops, &name, 0444);	\
	MODULE_PARM_DESC(name, key " (absent unless given; passed as given, out of range too)")

PHLOEM_SIM_MAINS_PARAM(nominal_mv, "phloem,nominal-mv");
PHLOEM_SIM_MAINS_PARAM(outage_pct, "phloem,outage-pct");
PHLOEM_SIM_MAINS_PARAM(outage_cycles, "phloem,outage-cycles");
PHLOEM_SIM_MAINS_PARAM(outage_relays, "phloem,outage-relays");
PHLOEM_SIM_MAINS_PARAM(return_ms, "phloem,return-ms");
PHLOEM_SIM_MAINS_PARAM(return_stagger_ms, "phloem,return-stagger-ms");
PHLOEM_SIM_MAINS_PARAM(volt_band_pct, "phloem,volt-band-pct");
PHLOEM_SIM_MAINS_PARAM(volt_delay_ms, "phloem,volt-delay-ms");
PHLOEM_SIM_MAINS_PARAM(uv_shed_pct, "phloem,uv-shed-pct");
PHLOEM_SIM_MAINS_PARAM(uv_shed_ms, "phloem,uv-shed-ms");

static const struct phloem_sim_opt_u32 *const phloem_sim_mains[] = {
	&nominal_mv, &outage_pct, &outage_cycles, &outage_relays, &return_ms,
	&return_stagger_ms, &volt_band_pct, &volt_delay_ms, &uv_shed_pct,
	&uv_shed_ms,
};

/*
 * The "small house" every instance models. Tests and the demo depend on it
 * exactly; docs/sim.md is its reference.
 */
static const char * const phloem_sim_chan_names[PHLOEM_SIM_CHANNELS] = {
	"v0", "i0", "i1", "i2", "i3", "v1", "v2", "i4",
};

static const struct {
	u32 scale_micro;	/* uV or uA per LSB */
	u32 rms;		/* default RMS: mV for v0, mA for currents */
} phloem_sim_chan_desc[PHLOEM_SIM_CHANNELS] = {
	{ 200000, 230000 },	/* v0: mains voltage */
	{ 170000, 0 },		/* i0: site CT */
	{  70000, 0 },		/* i1: kitchen CT */
	{ 140000, 0 },		/* i2: garage CT */
	{  90000, 0 },		/* i3: heating CT */
	{ 200000, 230000 },	/* v1: L2 (three-phase house only) */
	{ 200000, 230000 },	/* v2: L3 */
	{ 170000, 0 },		/* i4: site CT on L2 */
};

static const u32 phloem_sim_site_phase_chans[] = { 7 };

static const struct {
	const char *label;
	u32 chan;
	u32 rating_ma;
	const char *curve;
} phloem_sim_circuit_desc[PHLOEM_SIM_CIRCUITS] = {
	{ "site",    1, 40000, "C" },
	{ "kitchen", 2, 16000, "B" },
	{ "garage",  3, 32000, "B" },
	{ "heating", 4, 20000, "C" },
};

/* circuit @i's breaker curve: the curve= parameter's, or the house's */
static const char *phloem_sim_curve(unsigned int i)
{
	return i < ncurve && curve[i][0] ? curve[i] : phloem_sim_circuit_desc[i].curve;
}

static const struct {
	const char *label;
	u32 circuit;
	u32 priority;		/* ignored for critical relays */
	bool critical;		/* implies safe state 1 */
	u32 load_ma;		/* default load while on */
} phloem_sim_relay_desc[PHLOEM_SIM_RELAYS] = {
	{ "ev",            2, 10, false, 7000 },
	{ "garage-heater", 2, 30, false, 3000 },
	{ "dishwasher",    1, 20, false, 4000 },
	{ "oven",          1, 60, false, 5000 },
	{ "fridge",        1,  0, true,   500 },
	{ "heatpump",      3, 40, false, 6000 },
	{ "water-heater",  3, 15, false, 3000 },
	{ "lights",        1,  0, true,   300 },
};

static const char * const phloem_sim_chan_node_names[PHLOEM_SIM_CHANNELS] = {
	"channel@0", "channel@1", "channel@2", "channel@3", "channel@4",
	"channel@5", "channel@6", "channel@7",
};

static const char * const phloem_sim_circuit_node_names[PHLOEM_SIM_CIRCUITS] = {
	"circuit@0", "circuit@1", "circuit@2", "circuit@3",
};

static const char * const phloem_sim_relay_node_names[PHLOEM_SIM_RELAYS] = {
	"relay@0", "relay@1", "relay@2", "relay@3",
	"relay@4", "relay@5", "relay@6", "relay@7",
};

/*
 * The grid-operator contacts' actions in firmware: K1 is a §14a EnWG control
 * box that dims the house to 4.2 kW, K2 a ripple-control relay that takes
 * the heat pump and the water heater off.
 */
static const u32 phloem_sim_signal_cap_mw[PHLOEM_SIM_SIGNALS] = {
	4200000, 0,
};
static const u32 phloem_sim_signal_shed[PHLOEM_SIM_SIGNALS] = {
	0, BIT(5) | BIT(6),
};

static struct phloem_sim_hat *phloem_sim_hats[PHLOEM_SIM_MAX_HATS];

static void phloem_sim_model_init(struct phloem_sim_hat *hat)
{
	unsigned int i;

	for (i = 0; i < hat->nchan; i++) {
		struct phloem_sim_chan *ch = &hat->chan[i];

		ch->hat = hat;
		ch->index = i;
		ch->scale_micro = phloem_sim_chan_desc[i].scale_micro;
		ch->rms = phloem_sim_chan_desc[i].rms;
	}
	for (i = 0; i < PHLOEM_SIM_RELAYS; i++) {
		struct phloem_sim_relay *r = &hat->relay[i];
		u32 circuit = phloem_sim_relay_desc[i].circuit;

		r->hat = hat;
		r->index = i;
		r->chan = phloem_sim_circuit_desc[circuit].chan;
		r->load_ma = phloem_sim_relay_desc[i].load_ma;
		/* Unique across instances: gpiolib warns about duplicates. */
		snprintf(hat->line_names[i], PHLOEM_SIM_NAME_LEN, "hat%u-%s",
			 hat->id, phloem_sim_relay_desc[i].label);
	}
	phloem_sim_wave_init(hat, ktime_get_ns());
}

/*
 * Fill in the software nodes. They live in @hat (software_node_register()
 * does not copy them) and are registered as one group, parents first.
 */
static void phloem_sim_nodes_init(struct phloem_sim_hat *hat)
{
	const struct software_node **g = hat->node_group;
	struct property_entry *p;
	unsigned int i;

	snprintf(hat->adc_name, sizeof(hat->adc_name), "phloem-sim-adc%u",
		 hat->id);
	snprintf(hat->hat_name, sizeof(hat->hat_name), "phloem-sim-hat%u",
		 hat->id);

	/* The MCP3208: consumers name one input per reference. */
	hat->adc_props[0] = PROPERTY_ENTRY_U32("#io-channel-cells", 1);
	hat->adc_node.name = hat->adc_name;
	hat->adc_node.properties = hat->adc_props;
	*g++ = &hat->adc_node;

	for (i = 0; i < hat->nchan; i++)
		hat->io_refs[i] = SOFTWARE_NODE_REFERENCE(&hat->adc_node, i);

	p = hat->hat_props;
	*p++ = PROPERTY_ENTRY_STRING("compatible", "phloem,hat");
	*p++ = PROPERTY_ENTRY_REF_ARRAY_LEN("io-channels", hat->io_refs,
					    hat->nchan);
	*p++ = PROPERTY_ENTRY_STRING_ARRAY_LEN("io-channel-names",
					       phloem_sim_chan_names,
					       hat->nchan);
	*p++ = PROPERTY_ENTRY_U32("phloem,mains-hz", 50);
	*p++ = PROPERTY_ENTRY_U32("phloem,sample-rate-hz", sample_rate);
	*p++ = PROPERTY_ENTRY_U32("phloem,restore-delay-ms", restore_delay_ms);
	*p++ = PROPERTY_ENTRY_U32("phloem,retrip-window-ms", retrip_window_ms);
	*p++ = PROPERTY_ENTRY_U32("phloem,stale-ms", stale_ms);
	*p++ = PROPERTY_ENTRY_U32_ARRAY("phloem,grid-signal-import-cap-mw",
					phloem_sim_signal_cap_mw);
	*p++ = PROPERTY_ENTRY_U32_ARRAY("phloem,grid-signal-shed-relays",
					phloem_sim_signal_shed);
	BUILD_BUG_ON(ARRAY_SIZE(phloem_sim_mains) != PHLOEM_SIM_MAINS_PROPS);
	for (i = 0; i < ARRAY_SIZE(phloem_sim_mains); i++)
		if (phloem_sim_mains[i]->set)
			*p++ = PROPERTY_ENTRY_U32(phloem_sim_mains[i]->prop,
						  phloem_sim_mains[i]->val);
	hat->hat_node.name = hat->hat_name;
	hat->hat_node.properties = hat->hat_props;
	*g++ = &hat->hat_node;

	for (i = 0; i < hat->nchan; i++) {
		p = hat->chan_props[i];
		*p++ = PROPERTY_ENTRY_U32("reg", i);
		*p++ = PROPERTY_ENTRY_U32("phloem,scale-micro",
					  phloem_sim_chan_desc[i].scale_micro);
		if (phloem_sim_line(hat, i))
			*p++ = PROPERTY_ENTRY_U32("phloem,phase",
						  phloem_sim_line(hat, i));
		hat->chan_nodes[i].name = phloem_sim_chan_node_names[i];
		hat->chan_nodes[i].parent = &hat->hat_node;
		hat->chan_nodes[i].properties = hat->chan_props[i];
		*g++ = &hat->chan_nodes[i];
	}

	/* Limits are left at their defaults: the rating, 125/40/80 %. */
	for (i = 0; i < PHLOEM_SIM_CIRCUITS; i++) {
		p = hat->circuit_props[i];
		*p++ = PROPERTY_ENTRY_U32("reg", i);
		*p++ = PROPERTY_ENTRY_STRING("label",
					     phloem_sim_circuit_desc[i].label);
		*p++ = PROPERTY_ENTRY_U32("phloem,channel",
					  phloem_sim_circuit_desc[i].chan);
		*p++ = PROPERTY_ENTRY_U32("phloem,rating-ma",
					  phloem_sim_circuit_desc[i].rating_ma);
		*p++ = PROPERTY_ENTRY_STRING("phloem,curve",
					     phloem_sim_curve(i));
		if (i == 0 && hat->three_phase)
			*p++ = PROPERTY_ENTRY_U32_ARRAY("phloem,phase-channels",
							phloem_sim_site_phase_chans);
		hat->circuit_nodes[i].name = phloem_sim_circuit_node_names[i];
		hat->circuit_nodes[i].parent = &hat->hat_node;
		hat->circuit_nodes[i].properties = hat->circuit_props[i];
		*g++ = &hat->circuit_nodes[i];
	}

	for (i = 0; i < PHLOEM_SIM_RELAYS; i++) {
		p = hat->relay_props[i];
		*p++ = PROPERTY_ENTRY_U32("reg", i);
		*p++ = PROPERTY_ENTRY_STRING("label",
					     phloem_sim_relay_desc[i].label);
		*p++ = PROPERTY_ENTRY_U32("phloem,circuit",
					  phloem_sim_relay_desc[i].circuit);
		if (phloem_sim_relay_desc[i].critical) {
			*p++ = PROPERTY_ENTRY_BOOL("phloem,critical");
			*p++ = PROPERTY_ENTRY_U32("phloem,safe-state", 1);
		} else {
			*p++ = PROPERTY_ENTRY_U32("phloem,priority",
						  phloem_sim_relay_desc[i].priority);
		}
		*p++ = PROPERTY_ENTRY_U32("phloem,min-off-ms", min_off_ms);
		hat->relay_nodes[i].name = phloem_sim_relay_node_names[i];
		hat->relay_nodes[i].parent = &hat->hat_node;
		hat->relay_nodes[i].properties = hat->relay_props[i];
		*g++ = &hat->relay_nodes[i];
	}
	*g = NULL;
	/* The property arrays were zeroed by kzalloc(): each ends in { }. */
}

static int phloem_sim_lookup_add(struct phloem_sim_hat *hat)
{
	struct gpiod_lookup_table *t;
	unsigned int i;

	t = kzalloc(struct_size(t, table, PHLOEM_SIM_RELAYS +
				PHLOEM_SIM_SIGNALS + 1), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	snprintf(hat->dev_id, sizeof(hat->dev_id), "phloem.%u", hat->id);
	t->dev_id = hat->dev_id;
	/* relay-gpios = <&relays 0 0>, ... <&relays 7 0>; */
	for (i = 0; i < PHLOEM_SIM_RELAYS; i++)
		t->table[i] = GPIO_LOOKUP_IDX(hat->gc_label, i, "relay", i,
					      GPIO_ACTIVE_HIGH);
	/* grid-signal-gpios = <&signals 0 GPIO_ACTIVE_LOW>, <&signals 1 ...>; */
	for (i = 0; i < PHLOEM_SIM_SIGNALS; i++)
		t->table[PHLOEM_SIM_RELAYS + i] =
			GPIO_LOOKUP_IDX(hat->sig_label, i, "grid-signal", i,
					GPIO_ACTIVE_LOW);
	gpiod_add_lookup_table(t);
	hat->lookup = t;
	return 0;
}

static void phloem_sim_lookup_remove(struct phloem_sim_hat *hat)
{
	gpiod_remove_lookup_table(hat->lookup);
	kfree(hat->lookup);
}

/* Let transfers that are stalled, or will be, through for good. */
static void phloem_sim_unstall(struct phloem_sim_hat *hat)
{
	WRITE_ONCE(hat->dying, true);
	wake_up_all(&hat->stall_wq);
}

static struct phloem_sim_hat *phloem_sim_hat_create(unsigned int id)
{
	struct platform_device_info info = {
		.name = "phloem",
		.id = id,
	};
	struct phloem_sim_hat *hat;
	int ret;

	hat = kzalloc(sizeof(*hat), GFP_KERNEL);
	if (!hat)
		return ERR_PTR(-ENOMEM);
	hat->id = id;
	hat->three_phase = phases == 3;
	hat->nchan = hat->three_phase ? PHLOEM_SIM_CHANNELS :
					PHLOEM_SIM_CHANNELS_1PH;
	mutex_init(&hat->lock);
	init_waitqueue_head(&hat->stall_wq);
	phloem_sim_model_init(hat);
	phloem_sim_nodes_init(hat);

	ret = software_node_register_node_group(hat->node_group);
	if (ret)
		goto err_free;

	hat->sim_pdev = platform_device_register_simple("phloem-sim", id,
							NULL, 0);
	if (IS_ERR(hat->sim_pdev)) {
		ret = PTR_ERR(hat->sim_pdev);
		goto err_nodes;
	}

	ret = phloem_sim_spi_init(hat, &hat->adc_node);
	if (ret)
		goto err_sim_pdev;

	ret = phloem_sim_gpio_init(hat);
	if (ret)
		goto err_spi;

	ret = phloem_sim_signal_init(hat);
	if (ret)
		goto err_gpio;

	ret = phloem_sim_lookup_add(hat);
	if (ret)
		goto err_signal;

	/* Before phloem.N, so a test can shape the signal before probe. */
	phloem_sim_debugfs_hat_init(hat);

	info.parent = &hat->sim_pdev->dev;
	info.fwnode = software_node_fwnode(&hat->hat_node);
	hat->pdev = platform_device_register_full(&info);
	if (IS_ERR(hat->pdev)) {
		ret = PTR_ERR(hat->pdev);
		goto err_debugfs;
	}
	return hat;

err_debugfs:
	phloem_sim_unstall(hat);
	phloem_sim_debugfs_hat_uninit(hat);
	phloem_sim_lookup_remove(hat);
err_signal:
	phloem_sim_signal_uninit(hat);
err_gpio:
	phloem_sim_gpio_uninit(hat);
err_spi:
	phloem_sim_spi_uninit(hat);
err_sim_pdev:
	platform_device_unregister(hat->sim_pdev);
err_nodes:
	software_node_unregister_node_group(hat->node_group);
err_free:
	mutex_destroy(&hat->lock);
	kfree(hat);
	return ERR_PTR(ret);
}

static void phloem_sim_hat_destroy(struct phloem_sim_hat *hat)
{
	/*
	 * The driver's unbind stops its sampler, which may sit in a stalled
	 * transfer: release it first.
	 */
	phloem_sim_unstall(hat);
	platform_device_unregister(hat->pdev);
	phloem_sim_debugfs_hat_uninit(hat);
	phloem_sim_lookup_remove(hat);
	phloem_sim_signal_uninit(hat);
	phloem_sim_gpio_uninit(hat);
	phloem_sim_spi_uninit(hat);
	platform_device_unregister(hat->sim_pdev);
	software_node_unregister_node_group(hat->node_group);
	mutex_destroy(&hat->lock);
	kfree(hat);
}

static int __init phloem_sim_init(void)
{
	unsigned int i;
	int ret;

	for (i = 0; i < ncurve; i++) {
		if (curve[i][0] && (strlen(curve[i]) != 1 ||
				    !strchr("BCD", curve[i][0]))) {
			pr_err("curve=%s (circuit %u): expected B, C or D\n",
			       curve[i], i);
			return -EINVAL;
		}
	}

	if (phases != 1 && phases != 3) {
		pr_err("phases=%u: must be 1 or 3\n", phases);
		return -EINVAL;
	}
	if (hats < 1 || hats > PHLOEM_SIM_MAX_HATS) {
		pr_err("hats=%u: must be 1..%u\n", hats, PHLOEM_SIM_MAX_HATS);
		return -EINVAL;
	}
	if (sample_rate < 1000 || sample_rate > 20000 ||
	    min_off_ms > PHLOEM_SIM_MS_MAX ||
	    restore_delay_ms > PHLOEM_SIM_MS_MAX ||
	    retrip_window_ms > PHLOEM_SIM_MS_MAX ||
	    stale_ms < 1 || stale_ms > 10000 ||
	    phloem_sim_relay_delay_us > 100000) {
		pr_err("timing parameter out of range (see modinfo phloem_sim)\n");
		return -EINVAL;
	}

	phloem_sim_debugfs_init();
	for (i = 0; i < hats; i++) {
		struct phloem_sim_hat *hat = phloem_sim_hat_create(i);

		if (IS_ERR(hat)) {
			ret = PTR_ERR(hat);
			pr_err("HAT %u: %d\n", i, ret);
			goto err;
		}
		phloem_sim_hats[i] = hat;
	}
	pr_info("%u simulated HAT(s)\n", hats);
	return 0;

err:
	while (i--) {
		phloem_sim_hat_destroy(phloem_sim_hats[i]);
		phloem_sim_hats[i] = NULL;
	}
	phloem_sim_debugfs_uninit();
	return ret;
}

static void __exit phloem_sim_exit(void)
{
	unsigned int i = hats;

	while (i--)
		phloem_sim_hat_destroy(phloem_sim_hats[i]);
	phloem_sim_debugfs_uninit();
}

module_init(phloem_sim_init);
module_exit(phloem_sim_exit);

/* The ADC driver must be there for the HAT to be whole. */
MODULE_SOFTDEP("pre: mcp320x");
MODULE_DESCRIPTION("phloem simulated metering HAT (MCP3208 ADC, relays, load model)");
MODULE_AUTHOR("phloem developers <dev@phloem.invalid>");
MODULE_LICENSE("GPL");
