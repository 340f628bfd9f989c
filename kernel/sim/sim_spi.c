// SPDX-License-Identifier: GPL-2.0
/*
 * An SPI controller with one MCP3208 on chip select 0.
 *
 * The emulation works bit by bit, as the chip does, rather than matching the
 * bytes mcp320x happens to send: the frame starts at the first 1 on MOSI
 * after chip select, then come SGL/DIFF and D2..D0, one sampling clock (the
 * conversion instant), a null bit and B11..B0 on MISO. mcp320x sends
 * 0b01SDDD00 and reads two bytes, so B11..B4 land in the first and B3..B0 in
 * the high nibble of the second, but any alignment a driver may choose (e.g.
 * three bytes with leading zeros, as the datasheet suggests) works too.
 */
#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/platform_device.h>
#include <linux/random.h>
#include <linux/sched/signal.h>
#include <linux/spi/spi.h>

#include "sim.h"

/*
 * Block while the hat is stalled. Interruptible, so that a stalled reader in
 * user space (cat in_voltage0_raw) can be killed and a kernel thread does
 * not count as a hung task.
 */
static int phloem_sim_stall_wait(struct phloem_sim_hat *hat)
{
	int ret;

	ret = wait_event_interruptible(hat->stall_wq,
				       !READ_ONCE(hat->stall) ||
				       READ_ONCE(hat->dying));
	return ret ? -EINTR : 0;
}

/* Convert the input(s) selected by @cfg at this instant. */
static int phloem_sim_mcp_convert(struct phloem_sim_hat *hat, u8 cfg)
{
	unsigned int d = cfg & 7;
	u32 delay = READ_ONCE(hat->adc_delay_us);
	u32 jitter = READ_ONCE(hat->adc_jitter_us);
	u32 lost = READ_ONCE(hat->adc_lost_ppm);
	int plus, minus;
	u64 now;

	/*
	 * A slow, jittery converter: the conversion instant (and the
	 * reader) is late by the delay. It sleeps, as a driver waiting for
	 * a DMA completion would, so the CPU is free meanwhile.
	 */
	if (jitter)
		delay += get_random_u32() % (jitter + 1);
	if (delay)
		usleep_range(delay, delay + 1);
	if (lost && get_random_u32() % PHLOEM_SIM_PPM_MAX < lost)
		return -EIO;

	mutex_lock(&hat->lock);
	now = ktime_get_ns();
	if (cfg & 8) {			/* SGL/DIFF = 1: single-ended */
		plus = phloem_sim_wave_sample(hat, d, now);
		minus = 0;
	} else {
		/*
		 * Pseudo-differential pairs: D2..D1 pick CH(2k)/CH(2k+1),
		 * D0 says which of the two is IN+.
		 */
		plus = phloem_sim_wave_sample(hat, d, now);
		minus = phloem_sim_wave_sample(hat, d ^ 1, now);
	}
	mutex_unlock(&hat->lock);

	if (plus < 0)
		return plus;
	if (minus < 0)
		return minus;
	return clamp(plus - minus, 0, PHLOEM_SIM_ADC_MAX);
}

/*
 * Clock one bit: @din is the bit on MOSI; returns the bit on MISO, or a
 * negative errno when the conversion fails.
 */
static int phloem_sim_mcp_clock(struct phloem_sim_hat *hat, unsigned int din)
{
	struct phloem_sim_mcp *mcp = &hat->mcp;
	int code, dout = 0;

	switch (mcp->state) {
	case PHLOEM_SIM_MCP_IDLE:
		if (din) {
			mcp->state = PHLOEM_SIM_MCP_CONFIG;
			mcp->bits = 0;
			mcp->cfg = 0;
		}
		break;
	case PHLOEM_SIM_MCP_CONFIG:
		mcp->cfg = (mcp->cfg << 1) | din;
		if (++mcp->bits == 4)
			mcp->state = PHLOEM_SIM_MCP_SAMPLE;
		break;
	case PHLOEM_SIM_MCP_SAMPLE:
		code = phloem_sim_mcp_convert(hat, mcp->cfg);
		if (code < 0)
			return code;
		mcp->code = code;
		mcp->state = PHLOEM_SIM_MCP_NULL;
		break;
	case PHLOEM_SIM_MCP_NULL:
		mcp->state = PHLOEM_SIM_MCP_MSB;
		mcp->bits = 0;
		break;
	case PHLOEM_SIM_MCP_MSB:
		dout = (mcp->code >> (11 - mcp->bits)) & 1;
		if (++mcp->bits == 12) {
			mcp->state = PHLOEM_SIM_MCP_LSB;
			mcp->bits = 1;
		}
		break;
	case PHLOEM_SIM_MCP_LSB:
		dout = (mcp->code >> mcp->bits) & 1;
		if (++mcp->bits == 12)
			mcp->state = PHLOEM_SIM_MCP_DONE;
		break;
	case PHLOEM_SIM_MCP_DONE:
		break;
	}
	return dout;
}

/*
 * Called with the electrical level of CS. Every assertion starts a new
 * frame, as on the chip, where CS high resets the serial interface.
 */
static void phloem_sim_set_cs(struct spi_device *spi, bool level)
{
	struct phloem_sim_hat *hat = spi_controller_get_devdata(spi->controller);

	if (level == !!(spi->mode & SPI_CS_HIGH))
		hat->mcp.state = PHLOEM_SIM_MCP_IDLE;
}

/*
 * Fail the message through its status, as a controller does from its
 * interrupt handler, rather than by a negative return: the core logs every
 * failed transfer_one() without rate limit, and a faulted input is read
 * thousands of times a second. Returning 1 ("in flight") after completing
 * the transfer makes the core pick the status up at once.
 */
static int phloem_sim_fail_msg(struct spi_controller *ctlr, int err)
{
	ctlr->cur_msg->status = err;
	spi_finalize_current_transfer(ctlr);
	return 1;
}

static int phloem_sim_transfer_one(struct spi_controller *ctlr,
				   struct spi_device *spi,
				   struct spi_transfer *xfer)
{
	struct phloem_sim_hat *hat = spi_controller_get_devdata(ctlr);
	const u8 *tx = xfer->tx_buf;
	u8 *rx = xfer->rx_buf;
	unsigned int i;
	int bit, ret;

	ret = phloem_sim_stall_wait(hat);
	if (ret)
		return phloem_sim_fail_msg(ctlr, ret);

	for (i = 0; i < xfer->len; i++) {
		u8 in = tx ? tx[i] : 0, out = 0;

		for (bit = 7; bit >= 0; bit--) {
			int dout = phloem_sim_mcp_clock(hat, (in >> bit) & 1);

			if (dout < 0)
				return phloem_sim_fail_msg(ctlr, dout);
			out |= dout << bit;
		}
		if (rx)
			rx[i] = out;
	}
	return 0;
}

/**
 * phloem_sim_spi_init() - register the controller and its MCP3208
 * @hat: instance; @hat->sim_pdev is the controller's parent
 * @adc_node: registered software node for the ADC (#io-channel-cells)
 *
 * Return: 0 or a negative errno; nothing stays registered on error.
 */
int phloem_sim_spi_init(struct phloem_sim_hat *hat,
			const struct software_node *adc_node)
{
	struct spi_board_info info = {
		.modalias = "mcp3208",
		.max_speed_hz = 1000000,
		.chip_select = 0,
		.mode = SPI_MODE_0,
		.swnode = adc_node,
	};
	struct spi_controller *ctlr;
	int ret;

	ctlr = spi_alloc_master(&hat->sim_pdev->dev, 0);
	if (!ctlr)
		return -ENOMEM;
	spi_controller_set_devdata(ctlr, hat);
	ctlr->bus_num = -1;
	ctlr->num_chipselect = 1;
	/* The MCP3208 samples on rising edges: modes 0,0 and 1,1. */
	ctlr->mode_bits = SPI_CPOL | SPI_CPHA | SPI_CS_HIGH;
	ctlr->bits_per_word_mask = SPI_BPW_MASK(8);
	ctlr->max_speed_hz = 2000000;	/* the chip's limit at 5 V */
	ctlr->set_cs = phloem_sim_set_cs;
	ctlr->transfer_one = phloem_sim_transfer_one;

	ret = spi_register_controller(ctlr);
	if (ret) {
		spi_controller_put(ctlr);
		return ret;
	}
	hat->ctlr = ctlr;

	hat->adc = spi_new_device(ctlr, &info);
	if (!hat->adc) {
		spi_unregister_controller(ctlr);
		hat->ctlr = NULL;
		return -ENODEV;
	}
	return 0;
}

/**
 * phloem_sim_spi_uninit() - unregister the MCP3208 and the controller
 * @hat: instance; nothing may be stalled any more (@hat->dying is set)
 */
void phloem_sim_spi_uninit(struct phloem_sim_hat *hat)
{
	spi_unregister_device(hat->adc);
	/* Drops the reference spi_alloc_master() gave us. */
	spi_unregister_controller(hat->ctlr);
}
