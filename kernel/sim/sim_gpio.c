// SPDX-License-Identifier: GPL-2.0
/*
 * The relay bank: an output-only gpio_chip of 8 lines that sleeps like an
 * I2C expander (can_sleep, optional write latency) and time-stamps every
 * line change, so tests can measure when the driver switched a load.
 */
#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/gpio/driver.h>
#include <linux/ktime.h>
#include <linux/platform_device.h>

#include "sim.h"

/* Record the lines in @mask that change to @bits; hat->lock held. */
static void phloem_sim_gpio_apply(struct phloem_sim_hat *hat,
				  unsigned long mask, unsigned long bits)
{
	unsigned long changed = (hat->lines ^ bits) & mask;
	u64 now = ktime_get_ns();
	unsigned int line;

	lockdep_assert_held(&hat->lock);
	for_each_set_bit(line, &changed, PHLOEM_SIM_RELAYS) {
		struct phloem_sim_log_entry *e = &hat->log[hat->log_head];

		e->t_ns = now;
		e->line = line;
		e->value = test_bit(line, &bits);
		hat->log_head = (hat->log_head + 1) % PHLOEM_SIM_LOG_LEN;
		if (hat->log_count < PHLOEM_SIM_LOG_LEN)
			hat->log_count++;
	}
	hat->lines = (hat->lines & ~mask) | (bits & mask);
}

/*
 * The line changes when the expander's write completes, so the latency comes
 * first and the time stamp after it.
 */
static void phloem_sim_gpio_write(struct phloem_sim_hat *hat,
				  unsigned long mask, unsigned long bits)
{
	unsigned int delay = READ_ONCE(phloem_sim_relay_delay_us);

	if (delay)
		usleep_range(delay, delay + delay / 4 + 1);
	mutex_lock(&hat->lock);
	phloem_sim_gpio_apply(hat, mask, bits);
	mutex_unlock(&hat->lock);
}

static void phloem_sim_gpio_set(struct gpio_chip *gc, unsigned int offset,
				int value)
{
	phloem_sim_gpio_write(gpiochip_get_data(gc), BIT(offset),
			      value ? BIT(offset) : 0);
}

/* One expander write for all lines, as gpiod_set_array_value_cansleep() asks. */
static void phloem_sim_gpio_set_multiple(struct gpio_chip *gc,
					 unsigned long *mask,
					 unsigned long *bits)
{
	phloem_sim_gpio_write(gpiochip_get_data(gc), *mask, *bits);
}

static int phloem_sim_gpio_get(struct gpio_chip *gc, unsigned int offset)
{
	struct phloem_sim_hat *hat = gpiochip_get_data(gc);
	int val;

	mutex_lock(&hat->lock);
	val = test_bit(offset, &hat->lines);
	mutex_unlock(&hat->lock);
	return val;
}

static int phloem_sim_gpio_get_direction(struct gpio_chip *gc,
					 unsigned int offset)
{
	return GPIO_LINE_DIRECTION_OUT;
}

static int phloem_sim_gpio_direction_output(struct gpio_chip *gc,
					    unsigned int offset, int value)
{
	phloem_sim_gpio_set(gc, offset, value);
	return 0;
}

/**
 * phloem_sim_gpio_log_clear() - forget the recorded line changes
 * @hat: instance
 */
void phloem_sim_gpio_log_clear(struct phloem_sim_hat *hat)
{
	mutex_lock(&hat->lock);
	hat->log_head = 0;
	hat->log_count = 0;
	mutex_unlock(&hat->lock);
}

/**
 * phloem_sim_gpio_init() - register the relay gpio_chip
 * @hat: instance; @hat->sim_pdev is the chip's parent, @hat->line_names set
 *
 * The chip's label, "phloem-sim-relays.<id>", is what the gpiod lookup table
 * of phloem.<id> points at. Lines start at 0 (relays open).
 *
 * Return: 0 or a negative errno.
 */
int phloem_sim_gpio_init(struct phloem_sim_hat *hat)
{
	struct gpio_chip *gc = &hat->gc;
	unsigned int i;

	snprintf(hat->gc_label, sizeof(hat->gc_label), "phloem-sim-relays.%u",
		 hat->id);
	for (i = 0; i < PHLOEM_SIM_RELAYS; i++)
		hat->line_name_ptrs[i] = hat->line_names[i];

	gc->label = hat->gc_label;
	gc->parent = &hat->sim_pdev->dev;
	/*
	 * No gc->owner: gpiod_get() would pin this module while phloem.<id>
	 * holds the relays, and unloading the sim under a bound driver is a
	 * case we want to exercise. Safe, because hat teardown unregisters
	 * phloem.<id> (releasing the lines) before it removes the chip.
	 */
	gc->base = -1;
	gc->ngpio = PHLOEM_SIM_RELAYS;
	gc->names = hat->line_name_ptrs;
	gc->can_sleep = true;
	gc->get_direction = phloem_sim_gpio_get_direction;
	gc->direction_output = phloem_sim_gpio_direction_output;
	gc->get = phloem_sim_gpio_get;
	gc->set = phloem_sim_gpio_set;
	gc->set_multiple = phloem_sim_gpio_set_multiple;

	return gpiochip_add_data(gc, hat);
}

/**
 * phloem_sim_gpio_uninit() - remove the relay gpio_chip
 * @hat: instance; its consumer (phloem.<id>) must be gone already, so that
 *	the driver could put the relays in their safe state on unbind
 */
void phloem_sim_gpio_uninit(struct phloem_sim_hat *hat)
{
	gpiochip_remove(&hat->gc);
}

/*
 * The grid-operator contacts: an input-only gpio_chip that does not sleep
 * (a SoC GPIO bank), one line per contact, pulled up, low while the contact
 * is closed (the lookup table marks them active low, as an overlay's
 * GPIO_ACTIVE_LOW would). Tests close contacts through debugfs
 * grid_signal; gpioget reads the lines like any other.
 */
static int phloem_sim_signal_get(struct gpio_chip *gc, unsigned int offset)
{
	struct phloem_sim_hat *hat = gpiochip_get_data(gc);

	return !(READ_ONCE(hat->contacts) & BIT(offset));
}

static int phloem_sim_signal_get_direction(struct gpio_chip *gc,
					   unsigned int offset)
{
	return GPIO_LINE_DIRECTION_IN;
}

static int phloem_sim_signal_direction_input(struct gpio_chip *gc,
					     unsigned int offset)
{
	return 0;
}

/**
 * phloem_sim_signal_init() - register the grid-operator contacts' chip
 * @hat: instance; @hat->sim_pdev is the chip's parent
 *
 * Return: 0 or a negative errno.
 */
int phloem_sim_signal_init(struct phloem_sim_hat *hat)
{
	struct gpio_chip *gc = &hat->sig_gc;
	unsigned int i;

	snprintf(hat->sig_label, sizeof(hat->sig_label),
		 "phloem-sim-signals.%u", hat->id);
	for (i = 0; i < PHLOEM_SIM_SIGNALS; i++) {
		snprintf(hat->sig_names[i], PHLOEM_SIM_NAME_LEN, "hat%u-K%u",
			 hat->id, i + 1);
		hat->sig_name_ptrs[i] = hat->sig_names[i];
	}
	gc->label = hat->sig_label;
	gc->parent = &hat->sim_pdev->dev;
	gc->base = -1;
	gc->ngpio = PHLOEM_SIM_SIGNALS;
	gc->names = hat->sig_name_ptrs;
	gc->can_sleep = false;
	gc->get_direction = phloem_sim_signal_get_direction;
	gc->direction_input = phloem_sim_signal_direction_input;
	gc->get = phloem_sim_signal_get;
	return gpiochip_add_data(gc, hat);
}

/**
 * phloem_sim_signal_uninit() - remove the contacts' chip
 * @hat: instance, its consumer gone
 */
void phloem_sim_signal_uninit(struct phloem_sim_hat *hat)
{
	gpiochip_remove(&hat->sig_gc);
}
