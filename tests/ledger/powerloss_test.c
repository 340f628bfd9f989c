// SPDX-License-Identifier: GPL-2.0
/*
 * Power-loss test: a writer process appends entries with durable commits
 * and, after each commit returns, tells the parent "ACK <seq> <hash>"
 * through a pipe. The parent kills it with SIGKILL at a random moment, many
 * times; after every kill the ledger must re-verify from scratch and every
 * acknowledged entry must be there, byte for byte.
 *
 * SIGKILL leaves the page cache intact, so this exercises the commit
 * protocol (WAL, rollback of half-written transactions, our derived tables
 * staying in step), not the disk's write cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "kselftest_harness.h"
#include "ledger.h"

#define ROUNDS		50
#define MAX_ACKS	100000

struct ack {
	uint64_t seq;
	uint8_t hash[32];
};

static int writer(const char *path)
{
	struct ledger_identity *id;
	struct ledger *l;
	uint8_t seed[32] = { 7 }, hash[32];
	struct ledger_head h;
	char line[128];
	int ret, n, i;

	id = ledger_identity_from_seed(seed);
	if (!id || ledger_open(path, LEDGER_O_CREATE, &l))
		return 1;
	for (;;) {
		struct ledger_entry e = { 0 };

		ledger_get_head(l, id->pk, &h);
		if (h.seq % 5 == 4) {
			e.type = LEDGER_T_LIMIT;
			e.body.limit.limit_wh = h.seq;
		} else {
			e.type = LEDGER_T_METER;
			e.body.meter = (struct ledger_meter){ 1700000000 + 900 * h.seq, 900,
							      h.seq % 700, h.seq % 300, 1 };
		}
		ret = ledger_append(l, id->pk, id, &e, hash);
		if (ret) {
			fprintf(stderr, "writer: append: %s\n", ledger_strerror(ret));
			return 1;
		}
		n = snprintf(line, sizeof(line), "ACK %llu ", (unsigned long long)e.seq);
		for (i = 0; i < 32; i++)
			n += snprintf(line + n, sizeof(line) - n, "%02x", hash[i]);
		line[n++] = '\n';
		/* One write() below PIPE_BUF: the parent never sees half a line. */
		if (write(STDOUT_FILENO, line, n) != n)
			return 1;
	}
}

static int parse_acks(char *buf, struct ack *acks, int n)
{
	char *line, *save = NULL;

	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long seq;
		char hex[65];
		int i;

		if (sscanf(line, "ACK %llu %64s", &seq, hex) != 2 || n >= MAX_ACKS)
			continue;
		acks[n].seq = seq;
		for (i = 0; i < 32; i++)
			sscanf(hex + 2 * i, "%2hhx", &acks[n].hash[i]);
		n++;
	}
	return n;
}

TEST(sigkill_at_random_points)
{
	static struct ack acks[MAX_ACKS];
	static char buf[MAX_ACKS * 90];
	char dir[] = "/tmp/ledger-powerloss-XXXXXX", path[128], cmd[160];
	uint8_t seed[32] = { 7 }, raw[LEDGER_ENTRY_MAX], hash[32];
	struct ledger_identity *id = ledger_identity_from_seed(seed);
	int round, nacks = 0, total_kills_mid = 0;
	uint64_t prev_head = 0;

	ASSERT_NE(NULL, id);
	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ledger.db", dir);
	srandom(time(NULL));
	for (round = 1; round <= ROUNDS; round++) {
		struct timespec delay;
		struct ledger *l;
		struct ledger_head h;
		size_t used = 0, len;
		int p[2], status, i, problems, before = nacks;
		ssize_t r;
		pid_t pid;

		ASSERT_EQ(0, pipe(p));
		pid = fork();
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			dup2(p[1], STDOUT_FILENO);
			close(p[0]);
			close(p[1]);
			setenv("POWERLOSS_WRITER", path, 1);
			execl("/proc/self/exe", "powerloss_writer", (char *)NULL);
			_exit(127);
		}
		close(p[1]);
		/* 2..120 ms: from "still opening" to "dozens of commits in". */
		delay.tv_sec = 0;
		delay.tv_nsec = (2 + random() % 119) * 1000000L;
		nanosleep(&delay, NULL);
		kill(pid, SIGKILL);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("writer exited by itself: %d",
							WEXITSTATUS(status));
		while ((r = read(p[0], buf + used, sizeof(buf) - 1 - used)) > 0)
			used += r;
		close(p[0]);
		buf[used] = '\0';
		nacks = parse_acks(buf, acks, nacks);

		i = ledger_open(path, 0, &l);
		/*
		 * Killed before the file existed (a loaded machine may not
		 * reach the create in the shortest delays): nothing was
		 * acknowledged, so nothing can have been lost; next round.
		 */
		if (i == -ENOENT && nacks == 0)
			continue;
		ASSERT_EQ(0, i) TH_LOG("round %d: ledger_open: %d", round, i);
		problems = ledger_verify(l, NULL, NULL);
		ASSERT_EQ(0, problems) TH_LOG("round %d: %d problems", round, problems);
		for (i = 0; i < nacks; i++) {
			ASSERT_EQ(0, ledger_get_entry(l, id->pk, acks[i].seq, raw, &len))
				TH_LOG("round %d: acknowledged seq %llu missing", round,
				       (unsigned long long)acks[i].seq);
			ledger_hash(raw, len, hash);
			ASSERT_EQ(0, memcmp(hash, acks[i].hash, 32))
				TH_LOG("round %d: seq %llu differs", round,
				       (unsigned long long)acks[i].seq);
		}
		ledger_get_head(l, id->pk, &h);
		/* Per round, at most one commit can be durable but not yet acknowledged. */
		{
			uint64_t known = nacks > before ? acks[nacks - 1].seq : prev_head;

			ASSERT_LE(h.seq, known + 1);
			ASSERT_GE(h.seq, prev_head);
			if (h.seq > known)
				total_kills_mid++;
		}
		prev_head = h.seq;
		ledger_close(l);
		printf("# round %2d: killed after %3ld ms, %4d acknowledged (+%d), head %llu\n",
		       round, delay.tv_nsec / 1000000, nacks, nacks - before,
		       (unsigned long long)h.seq);
		fflush(stdout);
	}
	EXPECT_GT(nacks, ROUNDS);
	TH_LOG("%d rounds, %d acknowledged appends all present; in %d rounds the kill came "
	       "after an entry reached the WAL but before its acknowledgement (kept, which is "
	       "allowed: never more than one per round)", ROUNDS, nacks, total_kills_mid);
	ledger_identity_free(id);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		TH_LOG("cleanup failed");
}

/* The same binary is the writer when POWERLOSS_WRITER names a ledger. */
static void __attribute__((constructor)) maybe_writer(void)
{
	const char *path = getenv("POWERLOSS_WRITER");

	if (path)
		_exit(writer(path));
}

TEST_HARNESS_MAIN
