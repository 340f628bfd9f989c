// SPDX-License-Identifier: GPL-2.0
/*
 * Randomised ioctl stress: several threads issue many thousands of ioctls
 * with random commands, sizes and field values (and mostly-valid
 * configurations with one field disturbed), while readers drain the stream
 * and another thread opens and closes the node.
 *
 * What is checked afterwards:
 *   - every call returned 0 or one of the documented errors (EINVAL,
 *     ENOTTY, EFAULT for the deliberately bad pointers), never anything else;
 *   - the driver still works (a valid SET_CONFIG round-trips, cycles flow);
 *   - the module reference count is back to 0 once the files are closed;
 *   - no leak: the kernel here has no kmemleak (Debian's rt config), so
 *     unreclaimable slab (SUnreclaim in /proc/meminfo) is compared after a
 *     reload of phloem.ko, before and after the stress; a per-call leak of
 *     even 32 bytes over the calls made would exceed the allowed 1 MiB;
 *   - no splat: the VM runner scans the kernel log after the run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "phloem_util.h"

#define NEED_DEV() do { if (!self->ok) SKIP(return, "%s absent", PH_DEV); } while (0)
#define WRITERS		4
#define CALLS		20000	/* per writer */
#define READERS		2

static const unsigned long cmds[] = {
	PHLOEM_IOC_INFO, PHLOEM_IOC_GET_CONFIG, PHLOEM_IOC_SET_CONFIG,
	PHLOEM_IOC_OVERRIDE, PHLOEM_IOC_LEASE, PHLOEM_IOC_GET_STATUS,
	PHLOEM_IOC_GET_STATS,
	_IOW(PHLOEM_IOC_MAGIC, 0x07, struct phloem_config),
	_IO(PHLOEM_IOC_MAGIC, 0x02),
	_IOR(PHLOEM_IOC_MAGIC, 0x00, struct phloem_lease),
};

struct shared {
	struct phloem_config good;
	volatile int stop;
	unsigned long calls, ok, einval, enotty, efault, eperm, other;
	int other_errno, other_cmd;
	pthread_mutex_t lock;
};

static uint64_t xrand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct writer_arg {
	struct shared *sh;
	uint64_t seed;
};

static void *writer(void *p)
{
	struct writer_arg *a = p;
	struct shared *sh = a->sh;
	unsigned long ok = 0, einval = 0, enotty = 0, efault = 0, other = 0;
	union {
		struct phloem_config c;
		struct phloem_info i;
		unsigned char raw[sizeof(struct phloem_info) + 256];
	} buf;
	int fd = ph_open(O_RDWR), oe = 0, oc = 0;
	unsigned long n;

	if (fd < 0)
		return NULL;
	for (n = 0; n < CALLS; n++) {
		uint64_t r = xrand(&a->seed);
		unsigned long cmd = cmds[r % (sizeof(cmds) / sizeof(cmds[0]))];
		unsigned int kind = (r >> 8) % 8;
		void *arg = &buf;
		int ret;

		if (cmd == PHLOEM_IOC_SET_CONFIG && kind < 5) {
			/* a good configuration with one random byte changed */
			buf.c = sh->good;
			if (kind > 0)
				buf.raw[8 + (r >> 16) % (sizeof(buf.c) - 8)] ^= (r >> 40) | 1;
			if (kind == 4)	/* keep rate sane: TCG cannot do 20 kS/s */
				buf.c.sample_rate_hz = sh->good.sample_rate_hz;
		} else {
			unsigned int i;

			for (i = 0; i < sizeof(buf.raw); i += 8) {
				uint64_t w = xrand(&a->seed);

				memcpy(buf.raw + i, &w, 8);
			}
			switch (kind) {
			case 0: buf.c.size = _IOC_SIZE(cmd); break;
			case 1: buf.c.size = _IOC_SIZE(cmd) + (r >> 20) % 64; break;
			case 2: buf.c.size = (r >> 20) % 32; break;
			case 3: arg = NULL; break;
			case 4: arg = (void *)8; break;
			default:
				memset(buf.raw + 4, 0, sizeof(buf.raw) - 4);
				buf.c.size = _IOC_SIZE(cmd);
				buf.raw[4 + (r >> 20) % 24] = r >> 48;
				break;
			}
		}
		/* never lower the sampling limits to nonsense for long:
		 * the next valid SET_CONFIG restores them */
		if (cmd == PHLOEM_IOC_SET_CONFIG && arg == &buf &&
		    buf.c.sample_rate_hz > 8000)
			buf.c.sample_rate_hz = 4000 + (buf.c.sample_rate_hz & 1);
		ret = ioctl(fd, cmd, arg) < 0 ? errno : 0;
		switch (ret) {
		case 0: ok++; break;
		case EINVAL: einval++; break;
		case ENOTTY: enotty++; break;
		case EFAULT: efault++; break;
		default: other++; oe = ret; oc = (int)_IOC_NR(cmd); break;
		}
	}
	close(fd);
	pthread_mutex_lock(&sh->lock);
	sh->calls += n;
	sh->ok += ok;
	sh->einval += einval;
	sh->enotty += enotty;
	sh->efault += efault;
	sh->other += other;
	if (other) {
		sh->other_errno = oe;
		sh->other_cmd = oc;
	}
	pthread_mutex_unlock(&sh->lock);
	return NULL;
}

static void *stream_reader(void *p)
{
	struct shared *sh = p;
	struct phloem_record r[8];
	int fd = ph_open(O_RDONLY);

	if (fd < 0)
		return NULL;
	while (!sh->stop) {
		if (read(fd, r, sizeof(r)) < 0 && errno != EINTR)
			break;
	}
	close(fd);
	return NULL;
}

static void *opener(void *p)
{
	struct shared *sh = p;
	struct phloem_status st;

	while (!sh->stop) {
		int fd = ph_open(O_RDONLY | O_NONBLOCK);

		if (fd >= 0) {
			ph_status(fd, &st);
			close(fd);
		}
	}
	return NULL;
}

FIXTURE(stress) {
	bool ok;
};

FIXTURE_SETUP(stress)
{
	if (!ph_present())
		SKIP(return, "%s absent (phloem.ko + phloem_sim.ko not loaded)", PH_DEV);
	ASSERT_EQ(0, sim_reset());
	self->ok = true;
}

FIXTURE_TEARDOWN(stress)
{
	if (self->ok) {
		sim_reset();
		if (access("/sys/module/phloem", F_OK))
			ph_insmod();
		ph_rebind_fresh(20000);
	}
}

static long reload_and_measure(struct __test_metadata *_metadata)
{
	long kb;

	EXPECT_EQ(0, ph_rmmod());
	EXPECT_EQ(0, ph_insmod());
	/* let RCU-freed objects go before measuring */
	ph_sleep_ms(500);
	kb = ph_slab_unreclaim_kb();
	EXPECT_LT(0, kb);
	return kb;
}

TEST_F_TIMEOUT(stress, random_ioctls, 300)
{
	pthread_t w[WRITERS], rd[READERS], op;
	struct writer_arg wa[WRITERS];
	struct shared sh = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct phloem_config after;
	long kb0, kb1;
	uint64_t t0;
	int i, fd;

	NEED_DEV();
	/* a warm-up reload first, so both measurements see the same caches */
	reload_and_measure(_metadata);
	kb0 = reload_and_measure(_metadata);
	fd = ph_open(O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ph_settle(fd, 20000));
	ASSERT_EQ(0, ph_get_config(fd, &sh.good));
	close(fd);

	t0 = ph_now_ns();
	for (i = 0; i < READERS; i++)
		ASSERT_EQ(0, pthread_create(&rd[i], NULL, stream_reader, &sh));
	ASSERT_EQ(0, pthread_create(&op, NULL, opener, &sh));
	for (i = 0; i < WRITERS; i++) {
		wa[i] = (struct writer_arg){ &sh, 0x9e3779b97f4a7c15ULL * (i + 1) };
		ASSERT_EQ(0, pthread_create(&w[i], NULL, writer, &wa[i]));
	}
	for (i = 0; i < WRITERS; i++)
		pthread_join(w[i], NULL);
	sh.stop = 1;
	for (i = 0; i < READERS; i++)
		pthread_join(rd[i], NULL);
	pthread_join(op, NULL);
	TH_LOG("%lu calls in %.1f s: %lu ok, %lu EINVAL, %lu ENOTTY, %lu EFAULT, %lu other",
	       sh.calls, (ph_now_ns() - t0) / 1e9, sh.ok, sh.einval, sh.enotty,
	       sh.efault, sh.other);
	EXPECT_EQ(WRITERS * CALLS, sh.calls);
	EXPECT_EQ(0, sh.other) TH_LOG("errno %d from ioctl nr %d", sh.other_errno, sh.other_cmd);
	EXPECT_LT(0, sh.ok);
	EXPECT_LT(0, sh.einval);
	EXPECT_LT(0, sh.enotty);

	/*
	 * still sane: a good configuration round-trips, cycles flow. A
	 * writer's lease (100 ms and more) may still run: dropped first, or
	 * its expiry between the set and the get puts the boot limits back.
	 */
	fd = ph_open(O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ph_lease(fd, 0));
	ASSERT_EQ(0, ph_set_config(fd, &sh.good));
	ASSERT_EQ(0, ph_get_config(fd, &after));
	EXPECT_EQ(0, memcmp(&sh.good, &after, sizeof(after)));
	ASSERT_EQ(0, ph_lease(fd, 0));
	ASSERT_EQ(0, ph_wait_ready(fd, 5000));
	close(fd);
	EXPECT_EQ(0, ph_module_refcnt());

	kb1 = reload_and_measure(_metadata);
	TH_LOG("SUnreclaim %ld kB before, %ld kB after (reloaded both times)", kb0, kb1);
	EXPECT_GT(1024, kb1 - kb0);
}

TEST_HARNESS_MAIN
