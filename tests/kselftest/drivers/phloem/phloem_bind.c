// SPDX-License-Identifier: GPL-2.0
/*
 * Driver lifetime: unbind/bind through sysfs, unbind under an open file
 * and a blocked reader, module unload and reload. Whenever the driver
 * lets go of the HAT, the relays must be left in their safe state (fridge
 * and lights on, everything else off), whatever they were before.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "phloem_util.h"

#define NEED_DEV() do { if (!self->ok) SKIP(return, "%s absent", PH_DEV); } while (0)

FIXTURE(life) {
	bool ok;
};

FIXTURE_SETUP(life)
{
	if (!ph_present())
		SKIP(return, "%s absent (phloem.ko + phloem_sim.ko not loaded)", PH_DEV);
	ASSERT_EQ(0, sim_reset());
	self->ok = true;
}

FIXTURE_TEARDOWN(life)
{
	/* Whatever happened, leave the driver loaded and bound. */
	if (!self->ok)
		return;
	if (access("/sys/module/phloem", F_OK))
		ph_insmod();
	if (!ph_present())
		ph_bind();
}

static void expect_streaming(struct __test_metadata *_metadata)
{
	struct phloem_info info;
	struct phloem_record r;
	uint32_t relays = 0;
	int fd, i;

	fd = ph_open(O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ph_info(fd, &info));
	EXPECT_EQ(SIM_NRELAYS, info.nrelays);
	ASSERT_EQ(0, ph_settle(fd, 20000));
	for (i = 0; i < 5; i++) {
		do {
			ASSERT_EQ(1, ph_read_rec(fd, &r, 2000));
		} while (r.hdr.type != PHLOEM_REC_CYCLE);
	}
	EXPECT_FALSE(r.cycle.state & PHLOEM_STATE_F_FAILSAFE);
	for (i = 0; i < 200; i++) {
		ASSERT_EQ(0, sim_relays(&relays));
		if (relays == SIM_RELAYS_ALL)
			break;
		ph_sleep_ms(10);
	}
	EXPECT_EQ(SIM_RELAYS_ALL, relays);
	close(fd);
}

/* Put every relay in the state opposite to its safe one where policy allows
 * (all on), plus one held off by override, so "safe" is visibly enforced. */
static void make_unsafe(struct __test_metadata *_metadata)
{
	uint32_t relays;
	int fd = ph_open(O_RDWR);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ph_settle(fd, 20000));
	ASSERT_EQ(0, ph_override(fd, R_FRIDGE, PHLOEM_OVERRIDE_OFF, 60000));
	ph_sleep_ms(50);
	ASSERT_EQ(0, sim_relays(&relays));
	EXPECT_EQ(SIM_RELAYS_ALL & ~(1u << R_FRIDGE), relays);
	close(fd);
}

TEST_F(life, unbind_bind)
{
	uint32_t relays;
	int i;

	NEED_DEV();
	for (i = 0; i < 3; i++) {
		make_unsafe(_metadata);
		ASSERT_EQ(0, ph_unbind()) TH_LOG("round %d", i);
		EXPECT_FALSE(ph_present());
		ASSERT_EQ(0, sim_relays(&relays));
		EXPECT_EQ(SIM_RELAYS_SAFE, relays) TH_LOG("round %d: relays 0x%x", i, relays);
		ASSERT_EQ(0, ph_bind()) TH_LOG("round %d", i);
		expect_streaming(_metadata);
	}
}

struct blocked_reader {
	int fd;
	ssize_t ret;
	int err;
	int done;
};

static void *reader(void *arg)
{
	struct blocked_reader *b = arg;
	struct phloem_record r;

	for (;;) {
		b->ret = read(b->fd, &r, sizeof(r));
		b->err = b->ret < 0 ? errno : 0;
		if (b->ret != sizeof(r))
			break;
	}
	__atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

TEST_F(life, unbind_with_open_file)
{
	struct blocked_reader b = { 0 };
	struct phloem_status st;
	pthread_t th;
	int i, ret;

	NEED_DEV();
	b.fd = ph_open(O_RDWR);
	ASSERT_LE(0, b.fd);
	ASSERT_EQ(0, pthread_create(&th, NULL, reader, &b));
	ph_sleep_ms(200);
	ASSERT_EQ(0, ph_unbind());
	/* the reader must be woken and told, not left blocked forever */
	for (i = 0; i < 300 && !__atomic_load_n(&b.done, __ATOMIC_ACQUIRE); i++)
		ph_sleep_ms(10);
	ASSERT_TRUE(__atomic_load_n(&b.done, __ATOMIC_ACQUIRE))
		TH_LOG("reader still blocked 3 s after unbind");
	pthread_join(th, NULL);
	EXPECT_TRUE(b.ret == 0 || b.err == ENODEV || b.err == EIO)
		TH_LOG("read after unbind: %zd (%s)", b.ret, strerror(b.err));
	ret = ph_status(b.fd, &st);
	EXPECT_NE(0, ret) TH_LOG("ioctl on a file of an unbound device worked");
	close(b.fd);
	ASSERT_EQ(0, ph_bind());
	expect_streaming(_metadata);
}

TEST_F(life, module_reload_safe_state)
{
	uint32_t relays;
	int i, ref;

	NEED_DEV();
	for (i = 0; i < 3; i++) {
		make_unsafe(_metadata);
		ref = ph_module_refcnt();
		EXPECT_EQ(0, ref) TH_LOG("phloem refcnt %d with no file open", ref);
		ASSERT_EQ(0, ph_rmmod()) TH_LOG("round %d", i);
		EXPECT_NE(0, access("/sys/module/phloem", F_OK));
		ASSERT_EQ(0, sim_relays(&relays));
		EXPECT_EQ(SIM_RELAYS_SAFE, relays) TH_LOG("round %d: relays 0x%x", i, relays);
		ASSERT_EQ(0, ph_insmod()) TH_LOG("round %d", i);
		expect_streaming(_metadata);
	}
}

/* An open file pins the module: rmmod must refuse, not pull it away. */
TEST_F(life, rmmod_busy_with_open_file)
{
	int fd;

	NEED_DEV();
	fd = ph_open(O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_LE(1, ph_module_refcnt());
	EXPECT_NE(0, ph_rmmod());
	EXPECT_TRUE(ph_present());
	close(fd);
	expect_streaming(_metadata);
}

TEST_HARNESS_MAIN
