// SPDX-License-Identifier: GPL-2.0
/*
 * Netlink round trips of libphloem nl against phloem.ko (run in the VM by
 * `make bench-agent-kernel`): GET_DEVICE (the daemon's status poll), LEASE
 * (its renewal) and GET_STATS, N times each; prints a table of mean and
 * worst times. Under TCG these are emulation times, not hardware times.
 * A request that fails is marked in its row; the other rows still run, and
 * the exit status says so at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nl/phloem_nl.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200;
	static struct phloem_nl_device d;
	static struct phloem_stats st;
	struct phloem_nl *nl;
	const char *names[3] = { "GET_DEVICE (status poll)", "LEASE (renewal)", "GET_STATS" };
	int err = phloem_nl_open(&nl), failed = 0;

	if (err) {
		fprintf(stderr, "nl_bench: %s\n", strerror(-err));
		return err == -ENOENT ? 4 : 1;	/* 4: kselftest skip */
	}
	printf("\nlibphloem nl round trips to phloem.ko, %d each\n", n);
	printf("%-26s %12s %12s\n", "request", "mean us", "max us");
	for (int k = 0; k < 3; k++) {
		uint64_t sum = 0, max = 0;
		int i;

		for (i = 0; i < n; i++) {
			uint64_t t0 = now_ns(), dt;

			err = k == 0 ? phloem_nl_get_device(nl, 0, &d) :
			      k == 1 ? phloem_nl_lease(nl, 0, 10000) :
				       phloem_nl_get_stats(nl, 0, &st);
			dt = now_ns() - t0;
			if (err)
				break;
			sum += dt;
			if (dt > max)
				max = dt;
		}
		if (err) {
			printf("%-26s %12s %12s  FAILED after %d: %s %s\n", names[k], "-", "-", i,
			       strerror(-err), phloem_nl_error(nl));
			failed++;
			continue;
		}
		printf("%-26s %12.1f %12.1f\n", names[k], sum / 1e3 / n, max / 1e3);
	}
	phloem_nl_lease(nl, 0, 0);
	phloem_nl_close(nl);
	if (failed)
		fprintf(stderr, "nl_bench: %d of 3 requests failed\n", failed);
	return failed ? 1 : 0;
}
