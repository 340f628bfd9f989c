// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Anti-entropy of ledger chains. Every gossiped measurement names its
 * author's chain head; a member whose copy of that chain is shorter asks
 * the peer that told it for the next entries (SYNC_REQ), and stores what
 * comes back only after the ledger library has validated it like any
 * foreign entry (signature, sequence, back-link, rules). A chain is
 * pulled in order, a few entries per round trip, so a gap never forms.
 *
 * A fork (a second, validly signed entry at a sequence we hold) is kept
 * by the ledger as evidence; the caller then sends both entries to every
 * member, each of whom finds the same fork by itself.
 */
#include <errno.h>
#include <string.h>

#include "ledger/ledger.h"
#include "peer.h"

int peer_sync_need(struct ledger *l, const struct peer_measure *m,
		   struct peer_rec_any *req)
{
	struct ledger_head h;
	uint64_t behind;
	int ret;

	if (!l || !m->head_seq)
		return 0;
	ret = ledger_get_head(l, m->key, &h);
	if (ret)
		return ret < 0 ? ret : -EIO;
	if (h.seq >= m->head_seq)
		return 0;
	behind = m->head_seq - h.seq;
	memset(req, 0, sizeof(*req));
	req->type = PEER_R_SYNC_REQ;
	memcpy(req->sync_req.author, m->key, 32);
	req->sync_req.from = h.seq + 1;
	req->sync_req.count = behind > PEER_SYNC_MAX ? PEER_SYNC_MAX : (uint16_t)behind;
	return 1;
}

int peer_sync_serve(struct ledger *l, const struct peer_rec_any *req,
		    struct peer_builder *b)
{
	uint8_t buf[LEDGER_ENTRY_MAX];
	int n = 0;

	if (!l)
		return 0;
	for (uint16_t i = 0; i < req->sync_req.count; i++) {
		struct peer_rec_any r = { .type = PEER_R_ENTRY };
		size_t len = sizeof(buf);

		if (ledger_get_entry(l, req->sync_req.author, req->sync_req.from + i,
				     buf, &len))
			break;
		if (len > PEER_ENTRY_MAX)
			break;	/* cannot travel in one datagram (see protocol.md) */
		r.entry.buf = buf;
		r.entry.len = (uint16_t)len;
		if (peer_builder_add(b, &r))
			break;
		n++;
	}
	return n;
}

int peer_sync_take(struct ledger *l, const uint8_t *raw, size_t len)
{
	struct ledger_blob blob = { .buf = raw, .len = len };
	struct ledger_entry e;
	uint8_t have[LEDGER_ENTRY_MAX];
	size_t hl = sizeof(have);
	int ret;

	if (!l)
		return 0;
	ret = ledger_entry_decode(raw, len, &e);
	if (ret)
		return ret;
	/* the very same entry again: nothing to do (not a fork) */
	if (!ledger_get_entry(l, e.author, e.seq, have, &hl) && hl == len &&
	    !memcmp(have, raw, len))
		return 0;
	ret = ledger_ingest(l, &blob, 1);
	if (ret < 0)
		return ret;
	if (blob.status)
		return blob.status;
	return ret > 0 ? 1 : 0;
}

int peer_sync_entry(struct ledger *l, const uint8_t author[32], uint64_t seq,
		    uint8_t *buf, size_t *len)
{
	return ledger_get_entry(l, author, seq, buf, len);
}
