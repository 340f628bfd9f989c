// SPDX-License-Identifier: GPL-2.0
/*
 * Settlement between members against a hostile member (issue 11): what
 * phloemd's settlement takes from a real ledger (agent/lib/peer/
 * settle_peer.c), on real SQLite files built with the ledger library.
 *  - two metered entries of one author for one interval (item 12);
 *  - non-members' metering, and more than 128 metering authors (item 3);
 *  - the interval length is the community's, never the first author's,
 *    and a proposal is judged against the deadline first (item 9);
 *  - a REFUSE counts only from the proposal's creditor (item 7).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "ledger/ledger.h"
#include "peer/peer.h"
#include "settle/settle.h"

#define START	1700000100ULL	/* a multiple of 900 */

static struct ledger_identity *ident(uint8_t first)
{
	uint8_t seed[32];

	for (int i = 0; i < 32; i++)
		seed[i] = first + i;
	return ledger_identity_from_seed(seed);
}

static int meter(struct ledger *l, const struct ledger_identity *id, uint64_t start,
		 uint32_t len, uint64_t imp, uint64_t exp)
{
	struct ledger_entry e = { .type = LEDGER_T_METER };

	e.body.meter = (struct ledger_meter){ start, len, imp, exp, 1 };
	return ledger_append(l, id->pk, id, &e, NULL);
}

static int limit(struct ledger *l, const struct ledger_identity *id, uint64_t wh)
{
	struct ledger_entry e = { .type = LEDGER_T_LIMIT };

	e.body.limit.limit_wh = wh;
	return ledger_append(l, id->pk, id, &e, NULL);
}

static const struct settle_summary *summary(const struct settle_result *r, const uint8_t *key)
{
	for (size_t i = 0; i < r->n_members; i++)
		if (!memcmp(r->members[i].key, key, 32))
			return &r->members[i];
	return NULL;
}

FIXTURE(sp) {
	char dir[64];
	struct ledger *l;
	struct ledger_identity *a, *b, *c;
};

FIXTURE_SETUP(sp)
{
	char path[128];

	strcpy(self->dir, "/tmp/settle-peer-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(path, sizeof(path), "%s/ledger.db", self->dir);
	ASSERT_EQ(0, ledger_open(path, LEDGER_O_CREATE | LEDGER_O_NOSYNC, &self->l));
	self->a = ident(0x10);
	self->b = ident(0x30);
	self->c = ident(0x50);
	/* importers may go 10 kWh below zero */
	ASSERT_EQ(0, limit(self->l, self->a, 10000));
	ASSERT_EQ(0, limit(self->l, self->c, 10000));
}

FIXTURE_TEARDOWN(sp)
{
	char cmd[128];

	ledger_close(self->l);
	ledger_identity_free(self->a);
	ledger_identity_free(self->b);
	ledger_identity_free(self->c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
	if (system(cmd))
		TH_LOG("cleanup failed");
}

/* Item 12: an author's second entry for an interval vetoes nothing. */
TEST_F(sp, second_meter_entry_vetoes_nothing)
{
	struct settle_result r;
	const struct settle_summary *s;
	char why[256] = "";

	ASSERT_EQ(0, meter(self->l, self->a, START, 900, 300, 0));
	ASSERT_EQ(0, meter(self->l, self->a, START, 900, 9000, 0));	/* again */
	ASSERT_EQ(0, meter(self->l, self->b, START, 900, 0, 500));
	ASSERT_EQ(0, meter(self->l, self->c, START, 900, 100, 0));
	ASSERT_EQ(0, peer_settle_compute(self->l, START, 900, &r, why, sizeof(why)))
		TH_LOG("%s", why);
	EXPECT_EQ(3, r.n_members);
	s = summary(&r, self->a->pk);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(300, s->import_wh);		/* the first entry counts */
	EXPECT_EQ(400, r.matched_wh);
	settle_result_free(&r);
}

/* Item 3: strangers' metering does not count; many authors fail nothing. */
TEST_F(sp, non_members_and_many_authors)
{
	enum { N = 140 };
	struct ledger_identity *x;
	struct settle_result r;
	uint8_t keys[3][32];
	char why[256] = "";

	ASSERT_EQ(0, meter(self->l, self->a, START, 900, 300, 0));
	ASSERT_EQ(0, meter(self->l, self->b, START, 900, 0, 500));
	/* a sybil exporter and a crowd of metering strangers */
	for (int i = 0; i < N; i++) {
		x = ident(0x80 + i);
		ASSERT_EQ(0, meter(self->l, x, START, 900, 0, 1000));
		ledger_identity_free(x);
	}
	/* no member set (a tool): everyone, and more than 128 is no failure */
	ASSERT_EQ(0, peer_settle_compute(self->l, START, 900, &r, why, sizeof(why)))
		TH_LOG("%s", why);
	EXPECT_EQ(N + 2, r.n_members);
	settle_result_free(&r);
	/* the community's members only: B gets all of A's import */
	memcpy(keys[0], self->a->pk, 32);
	memcpy(keys[1], self->b->pk, 32);
	memcpy(keys[2], self->c->pk, 32);
	ASSERT_EQ(0, ledger_set_members(self->l, (const uint8_t (*)[32])keys, 3));
	ASSERT_EQ(0, peer_settle_compute(self->l, START, 900, &r, why, sizeof(why)))
		TH_LOG("%s", why);
	EXPECT_EQ(2, r.n_members);
	EXPECT_NE(NULL, peer_settle_find(&r, self->a->pk, self->b->pk));
	EXPECT_EQ(300, summary(&r, self->b->pk)->matched_export_wh);
	settle_result_free(&r);
}

/* Item 9: the community's interval length, not the first author's. */
TEST_F(sp, interval_length_is_the_communitys)
{
	struct settle_result r;
	char why[256] = "";

	/* one author meters 60 s intervals: not this settlement */
	ASSERT_EQ(0, meter(self->l, self->a, START, 60, 0, 700));
	ASSERT_EQ(0, meter(self->l, self->b, START, 900, 300, 0));
	ASSERT_EQ(0, meter(self->l, self->c, START, 900, 0, 300));
	ASSERT_EQ(0, peer_settle_compute(self->l, START, 900, &r, why, sizeof(why)))
		TH_LOG("%s", why);
	EXPECT_EQ(900, r.terms.interval_len_s);
	EXPECT_EQ(2, r.n_members);
	settle_result_free(&r);
	/* a proposal: the deadline and the interval grid first */
	EXPECT_EQ(0, peer_settle_admit(START + 1000, START, 900));
	EXPECT_EQ(PEER_SETTLE_LATE, peer_settle_admit(peer_settle_deadline(START, 900) + 1,
						       START, 900));
	EXPECT_EQ(PEER_SETTLE_UNKNOWN, peer_settle_admit(START + 1000, START + 1, 900));
	EXPECT_EQ(PEER_SETTLE_UNKNOWN, peer_settle_admit(START + 1000, START, 0));
}

/* Item 7: a REFUSE names a transfer by id; only its creditor may send it. */
TEST_F(sp, refusal_only_from_the_creditor)
{
	struct ledger_transfer t;
	struct settle_transfer st = { .amount_wh = 5, .interval_start = START,
				      .interval_len_s = 900 };

	memcpy(st.debtor, self->a->pk, 32);
	memcpy(st.creditor, self->b->pk, 32);
	ASSERT_EQ(0, peer_settle_offer(self->l, self->a, &st, &t));
	EXPECT_TRUE(peer_settle_refusal_from(&t, self->b->pk));
	EXPECT_FALSE(peer_settle_refusal_from(&t, self->c->pk));
	EXPECT_FALSE(peer_settle_refusal_from(&t, self->a->pk));
}

TEST_HARNESS_MAIN
