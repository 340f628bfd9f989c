// SPDX-License-Identifier: GPL-2.0
/*
 * hostile: a member that cheats (issue 11). It speaks the peer protocol
 * with a valid membership (an invite token from an honest member), built
 * from the library the gateways use (agent/lib/peer, through libphloem.a):
 * the same announcements and sessions (Noise_KK handshakes driven as
 * agent/phloemd/peers.c drives them), so it adapts when they change. It
 * then tries, against every member it holds a session with, each attack
 * of docs/protocol.md's threat model, and prints what it saw as
 * "name value" lines; tests/netns/netns.sh checks the honest side.
 *
 *   hostile key IDENTITY                 create the identity, print its key
 *   hostile attack IDENTITY TOKEN IFACE SECONDS VICTIM_KEY [PORT [STATICS]]
 *
 * IFACE "-": no multicast; STATICS as phloemd's [peers] static=.
 *
 * Attacks (one pass once sessions are up, then again every 2 s):
 *   remove      REMOVE records, signed by us, of every other member
 *   founder     a self-signed "founder" of a key of ours, and its invite
 *   dead        STATE: the victim dead at incarnation UINT64_MAX
 *   future      our measurement signed a year ahead (1 MW of export)
 *   pings       16 PINGs in one sealed message (ACKs counted: acks_burst;
 *               one PING alone, the control, acks_single)
 *   replay      the victim's announcements re-sent from our address
 *   foreign     announcements of another community with bad signatures
 *   syncflood   SYNC_REQ_FLOOD messages of one SYNC_REQ each (8 entries
 *               of the longest chain seen in measurements, from seq 1):
 *               answers counted per member (sync_answers_max: the
 *               member that answered most; sync_asked_min; attack_s)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ledger/ledger.h"
#include "peer/peer.h"
#include "peer/le.h"

#define MAXP	PEER_MAX_MEMBERS
#define BURST_SEQ	0x7fff0000u	/* our 16 PINGs: 0x7fff0000 .. +15 */
#define SINGLE_SEQ	0x7ffe0000u	/* one PING alone: the control */
#define CONFIRM_SEQ	0x7ffd0000u	/* the PING that confirms new keys */
#define SYNC_REQ_FLOOD	150	/* SYNC_REQ messages a pass, to each member */

struct mem {
	uint8_t key[32];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct peer_session s;
	bool have_addr;
	uint64_t run, run_ms;		/* its run id, and the announcement's time */
	uint64_t ann_ms;		/* the newest announcement's time */
	uint8_t ann[PEER_MTU];		/* its last announcement, for replay */
	size_t annlen;
	uint64_t sync_asked, sync_answers;	/* syncflood */
};

static struct ledger_identity *id;
static struct peer_community comm;
static struct peer_disc disc;
static struct peer_local me;		/* our static keys for handshakes */
static struct mem m[MAXP];
static int nm;
static uint64_t epoch;
static uint64_t st_ann_rx, st_sealed_rx, st_open_fail, st_acks_burst, st_acks;
static uint64_t st_acks_single;
static uint64_t st_sent, st_passes, st_first_pass_ms;
static uint8_t chain_author[32];	/* the longest chain in measurements seen */
static uint64_t chain_len;
static uint64_t st_hs_init_tx, st_hs_init_rx, st_hs_resp_rx, st_hs_fail;

static uint64_t now_ms(void)
{
	return peer_clock_ms();
}

/* session timers run on the monotonic clock, as phloemd's (sess_ms()) */
static uint64_t sess_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sendto_addr(const struct sockaddr_storage *a, socklen_t al,
			const uint8_t *b, size_t n)
{
	int fd = a->ss_family == AF_INET6 ? disc.fd6 : disc.fd4;

	if (sendto(fd, b, n, 0, (const struct sockaddr *)a, al) == (ssize_t)n)
		st_sent++;
}

static void sendto_mem(struct mem *e, const uint8_t *b, size_t n)
{
	if (e->have_addr)
		sendto_addr(&e->addr, e->addrlen, b, n);
}

/* A session to attack over: confirmed keys, not expired. */
static bool up(const struct mem *e)
{
	return e->s.ready && e->have_addr && peer_session_ready(&e->s, sess_ms());
}

/* as phloemd's maybe_handshake(): the library says when */
static void maybe_handshake(struct mem *e)
{
	uint8_t out[PEER_HS_INIT_BYTES];
	int n;

	if (!e->s.ready || !e->have_addr ||
	    !peer_session_want_handshake(&e->s, sess_ms()))
		return;
	n = peer_session_initiate(&e->s, &me, sess_ms(), out, sizeof(out));
	if (n > 0) {
		sendto_mem(e, out, (size_t)n);
		st_hs_init_tx++;
	}
}

/* seal a raw plaintext: the builder refuses what a cheat sends */
static void seal_raw(struct mem *e, const uint8_t *pt, size_t len)
{
	uint8_t out[PEER_MTU];
	int n;

	if (!up(e))
		return;
	n = peer_session_seal(&e->s, sess_ms(), pt, len, out, sizeof(out));
	if (n > 0)
		sendto_mem(e, out, (size_t)n);
}

static void seal_one(struct mem *e, const struct peer_rec_any *r)
{
	uint8_t pt[PEER_MTU];
	struct peer_builder b;

	peer_builder_init(&b, pt, PEER_MTU - PEER_SEALED_HDR - PEER_TAG_BYTES);
	if (!peer_builder_add(&b, r))
		seal_raw(e, pt, b.len);
}

static int announce_buf(uint8_t *buf, size_t cap, const uint8_t *community,
			uint64_t t)
{
	struct peer_announce a = { .epoch = epoch, .time_ms = t, .port = disc.port };
	const struct peer_record *own = peer_community_record(&comm, id->pk);

	memcpy(a.community, community, 32);
	memcpy(a.key, id->pk, 32);
	if (own) {
		a.has_record = true;
		a.record = *own;
	}
	return peer_announce_encode(&a, id->sk, buf, cap);
}

static struct mem *mem_get(const uint8_t key[32])
{
	for (int i = 0; i < nm; i++)
		if (!memcmp(m[i].key, key, 32))
			return &m[i];
	if (nm == MAXP)
		return NULL;
	memset(&m[nm], 0, sizeof(m[nm]));
	memcpy(m[nm].key, key, 32);
	/* no keys until a handshake makes them */
	if (peer_session_init(&m[nm].s, &me, key))
		return NULL;
	return &m[nm++];
}

/* the first transport message under keys we initiated confirms them to
 * the responder (phloemd sends its STATE): one PING, answered by an ACK */
static void confirm(struct mem *e)
{
	struct peer_rec_any r = { .type = PEER_R_PING, .ping.seq = CONFIRM_SEQ };

	seal_one(e, &r);
}

/* an initiation from a member (phloemd's on_hs_init() without its rate
 * limit): the response goes back where it came from */
static void on_hs_init(const struct peer_hs_init *hi, const struct sockaddr_storage *from,
		       socklen_t fl)
{
	uint8_t out[PEER_HS_RESP_BYTES];
	struct mem *e;
	int n;

	if (memcmp(hi->receiver, id->pk, 32) || !peer_community_is_member(&comm, hi->sender))
		return;
	e = mem_get(hi->sender);
	if (!e)
		return;
	n = peer_session_respond(&e->s, &me, hi, sess_ms(), out, sizeof(out));
	if (n < 0) {
		st_hs_fail++;
		return;
	}
	st_hs_init_rx++;
	if (!e->have_addr) {	/* it sends from the port it listens on */
		e->addr = *from;
		e->addrlen = fl;
		e->have_addr = true;
	}
	if (n > 0)
		sendto_addr(from, fl, out, (size_t)n);
}

/* a response to ours: the responder waits for a transport message */
static void on_hs_resp(const struct peer_hs_resp *hr)
{
	struct mem *e = NULL;

	for (int i = 0; i < nm && !e; i++)
		if (peer_session_awaits(&m[i].s, hr->receiver_index))
			e = &m[i];
	if (!e)
		return;
	if (peer_session_complete(&e->s, &me, hr, sess_ms())) {
		st_hs_fail++;
		return;
	}
	st_hs_resp_rx++;
	confirm(e);
}

static void on_dgram(const uint8_t *buf, size_t n, const struct sockaddr_storage *from,
		     socklen_t fl)
{
	struct peer_msg msg;
	struct mem *e;

	if (peer_wire_decode(buf, n, &msg))
		return;
	if (msg.type == PEER_D_ANNOUNCE) {
		struct peer_announce *a = &msg.ann;

		if (!memcmp(a->key, id->pk, 32) || memcmp(a->community, comm.id, 32) ||
		    peer_announce_verify(a, buf, n))
			return;
		st_ann_rx++;
		if (a->has_record)
			peer_community_apply(&comm, &a->record, false);
		if (!peer_community_is_member(&comm, a->key))
			return;
		e = mem_get(a->key);
		if (!e)
			return;
		/* a replay of an older one (ours, to the victim) moves nothing */
		if (e->have_addr && a->time_ms <= e->ann_ms)
			return;
		e->ann_ms = a->time_ms;
		memcpy(e->ann, buf, n);
		e->annlen = n;
		e->addr = *from;
		e->addrlen = fl;
		e->have_addr = true;
		if (from->ss_family == AF_INET6)
			((struct sockaddr_in6 *)&e->addr)->sin6_port = htons(a->port);
		else
			((struct sockaddr_in *)&e->addr)->sin_port = htons(a->port);
		/* another run id: it lost our session, renew it at once */
		if (a->epoch != e->run) {
			if (e->run)
				peer_session_stale(&e->s);
			e->run = a->epoch;
			e->run_ms = a->time_ms;
		}
		maybe_handshake(e);
		return;
	}
	if (msg.type == PEER_D_HS_INIT)
		return on_hs_init(&msg.init, from, fl);
	if (msg.type == PEER_D_HS_RESP)
		return on_hs_resp(&msg.resp);
	/* sealed: answer pings like a member (so that we stay alive), count
	 * the ACKs of our burst */
	{
		uint8_t pt[PEER_MTU];
		struct peer_inner in;
		int len;

		/* the receiver index names the session */
		e = NULL;
		for (int i = 0; i < nm && !e; i++)
			if (m[i].s.ready && peer_session_owns(&m[i].s, msg.sealed.receiver_index))
				e = &m[i];
		if (!e) {
			st_open_fail++;
			return;
		}
		len = peer_session_open(&e->s, &msg.sealed, sess_ms(), pt, sizeof(pt));
		if (len < 0) {
			st_open_fail++;
			return;
		}
		st_sealed_rx++;
		if (peer_wire_decode_inner(pt, (size_t)len, &in))
			return;
		for (int i = 0; i < in.nrecs; i++) {
			struct peer_rec_any *r = &in.rec[i];

			/* an answer to our SYNC_REQs (one a message at most) */
			if (r->type == PEER_R_ENTRY && (i == 0 || in.rec[i - 1].type != PEER_R_ENTRY))
				e->sync_answers++;
			if (r->type == PEER_R_MEASURE && r->measure.head_seq > chain_len) {
				chain_len = r->measure.head_seq;
				memcpy(chain_author, r->measure.key, 32);
			}
			if (r->type == PEER_R_PING) {
				struct peer_rec_any ack = { .type = PEER_R_ACK,
							    .ack.seq = r->ping.seq };

				seal_one(e, &ack);
			} else if (r->type == PEER_R_ACK) {
				st_acks++;
				if ((r->ack.seq & ~0xfu) == BURST_SEQ)
					st_acks_burst++;
				if (r->ack.seq == SINGLE_SEQ)
					st_acks_single++;
			}
		}
	}
}

static void attack(const uint8_t victim[32])
{
	uint64_t t = now_ms();
	struct peer_rec_any r;
	uint8_t pt[PEER_MTU], buf[PEER_MTU];
	size_t off;
	int n;

	if (!st_passes++)
		st_first_pass_ms = t;
	for (int i = 0; i < nm; i++) {
		struct mem *e = &m[i];

		if (!up(e))
			continue;
		/* syncflood: entries of a chain the member holds, asked for
		 * in as many messages as we like, one SYNC_REQ each */
		for (int k = 0; chain_len && k < SYNC_REQ_FLOOD; k++) {
			memset(&r, 0, sizeof(r));
			r.type = PEER_R_SYNC_REQ;
			memcpy(r.sync_req.author, chain_author, 32);
			r.sync_req.from = 1 + (uint64_t)k % chain_len;
			r.sync_req.count = 8;
			seal_one(e, &r);
			e->sync_asked++;
		}
		/* remove: every other member, signed by us */
		for (int j = 0; j < nm; j++) {
			memset(&r, 0, sizeof(r));
			r.type = PEER_R_MEMBER;
			r.member.kind = PEER_REC_REMOVE;
			r.member.time = t / 1000;
			memcpy(r.member.community, comm.id, 32);
			memcpy(r.member.subject, m[j].key, 32);
			memcpy(r.member.signer, id->pk, 32);
			peer_record_sign(&r.member, id->sk);
			seal_one(e, &r);
		}
		/* founder: a key of ours, self-signed, then invited by it */
		{
			uint8_t fpk[32], fsk[64], seed[32] = { 0x66 };

			crypto_sign_seed_keypair(fpk, fsk, seed);
			memset(&r, 0, sizeof(r));
			r.type = PEER_R_MEMBER;
			r.member.kind = PEER_REC_INVITE;
			r.member.time = 1;
			memcpy(r.member.community, comm.id, 32);
			memcpy(r.member.subject, fpk, 32);
			memcpy(r.member.signer, fpk, 32);
			peer_record_sign(&r.member, fsk);
			seal_one(e, &r);
		}
		/* dead: the victim at the top incarnation */
		memset(&r, 0, sizeof(r));
		r.type = PEER_R_STATE;
		memcpy(r.state.key, victim, 32);
		r.state.state = PEER_DEAD;
		r.state.inc = UINT64_MAX;
		seal_one(e, &r);
		/* future: our measurement a year ahead, 1 MW of export */
		memset(&r, 0, sizeof(r));
		r.type = PEER_R_MEASURE;
		memcpy(r.measure.key, id->pk, 32);
		r.measure.time_ms = t + 365ull * 86400 * 1000;
		r.measure.net_w = -1000000;
		r.measure.production_w = 1000000;
		peer_measure_sign(&r.measure, id->sk);
		seal_one(e, &r);
		/* pings: 16 in one message */
		off = 0;
		for (uint32_t k = 0; k < 16; k++) {
			pt[off] = PEER_R_PING;
			put16(pt + off + 1, 4);
			put32(pt + off + 3, BURST_SEQ + k);
			off += 7;
		}
		seal_raw(e, pt, off);
		/* the control: one PING alone is answered */
		memset(&r, 0, sizeof(r));
		r.type = PEER_R_PING;
		r.ping.seq = SINGLE_SEQ;
		seal_one(e, &r);
		/* replay: the victim's last announcement, from our address */
		for (int j = 0; j < nm; j++)
			if (!memcmp(m[j].key, victim, 32) && m[j].annlen)
				sendto_mem(e, m[j].ann, m[j].annlen);
		/* future announcement of ours: must not pin anything */
		n = announce_buf(buf, sizeof(buf), comm.id, t + 365ull * 86400 * 1000);
		if (n > 0)
			sendto_mem(e, buf, (size_t)n);
		/* foreign: another community's, bad signatures, a burst */
		{
			uint8_t other[32];

			peer_community_id("elsewhere", other);
			n = announce_buf(buf, sizeof(buf), other, t);
			for (int k = 0; n > 0 && k < 50; k++) {
				randombytes_buf(buf + n - 64, 64);
				sendto_mem(e, buf, (size_t)n);
			}
		}
	}
}

static int load_id(const char *path, bool create)
{
	int ret = ledger_identity_load(path, &id);

	if (ret == -ENOENT && create) {
		id = ledger_identity_new();
		if (!id)
			return -ENOMEM;
		ret = ledger_identity_save(id, path, false);
	}
	return ret;
}

int main(int argc, char **argv)
{
	char kt[LEDGER_KEYTEXT_SIZE], err[256];
	struct peer_record inv;
	uint8_t victim[32], buf[PEER_MTU + 1];
	uint64_t end, next_ann = 0, next_attack;
	int ret;

	if (sodium_init() < 0)
		return 1;
	if (argc == 3 && !strcmp(argv[1], "key")) {
		if (load_id(argv[2], true)) {
			fprintf(stderr, "hostile: identity %s\n", argv[2]);
			return 1;
		}
		ledger_key_to_text(id->pk, kt);
		printf("%s\n", kt);
		return 0;
	}
	if (argc < 7 || argc > 9 || strcmp(argv[1], "attack")) {
		fprintf(stderr, "usage: hostile key IDENTITY\n"
			"       hostile attack IDENTITY TOKEN IFACE SECONDS VICTIM_KEY "
			"[PORT [STATICS]]\n");
		return 2;
	}
	if (load_id(argv[2], false) || ledger_key_from_text(argv[6], victim)) {
		fprintf(stderr, "hostile: identity or victim key\n");
		return 1;
	}
	ret = peer_invite_parse(argv[3], &inv);
	if (!ret) {
		char name[PEER_NAME_MAX + 1];
		const char *dot = strchr(argv[3] + 8, '.');

		snprintf(name, sizeof(name), "%.*s", (int)(dot - argv[3] - 8), argv[3] + 8);
		ret = peer_community_join(&comm, name, &inv);
	}
	if (ret) {
		fprintf(stderr, "hostile: token: %s\n", peer_strerror(ret));
		return 1;
	}
	if (peer_disc_open(&disc, argc > 7 ? (uint16_t)atoi(argv[7]) : PEER_DEFAULT_PORT,
			   strcmp(argv[4], "-") ? argv[4] : NULL, argc > 8 ? argv[8] : NULL,
			   err, sizeof(err))) {
		fprintf(stderr, "hostile: %s\n", err);
		return 1;
	}
	ret = peer_local_init(&me, id->pk, id->sk, comm.id);
	if (ret) {
		fprintf(stderr, "hostile: session keys: %s\n", peer_strerror(ret));
		return 1;
	}
	/* a run id, random at every start, as phloemd's */
	do
		randombytes_buf(&epoch, sizeof(epoch));
	while (!(epoch &= INT64_MAX));
	end = now_ms() + (uint64_t)atoi(argv[5]) * 1000;
	next_attack = now_ms() + 5000;	/* sessions first */
	while (now_ms() < end) {
		struct pollfd pf[3] = { { disc.fd6, POLLIN, 0 }, { disc.fd4, POLLIN, 0 },
					{ disc.nlfd, POLLIN, 0 } };
		uint64_t t = now_ms();

		if (t >= next_ann) {
			int n = announce_buf(buf, sizeof(buf), comm.id, t);

			if (n > 0)
				peer_disc_multicast(&disc, buf, (size_t)n);
			next_ann = t + 500;
		}
		for (int i = 0; i < nm; i++)
			maybe_handshake(&m[i]);
		if (t >= next_attack) {
			attack(victim);
			next_attack = t + 2000;
		}
		if (poll(pf, disc.nlfd >= 0 ? 3 : 2, 100) <= 0)
			continue;
		if (pf[2].revents & POLLIN)
			peer_disc_netlink(&disc);
		for (int k = 0; k < 2; k++) {
			if (!(pf[k].revents & POLLIN))
				continue;
			for (;;) {
				struct sockaddr_storage from;
				socklen_t fl = sizeof(from);
				ssize_t n = recvfrom(pf[k].fd, buf, sizeof(buf), MSG_DONTWAIT,
						     (struct sockaddr *)&from, &fl);

				if (n < 0)
					break;
				on_dgram(buf, (size_t)n, &from, fl);
			}
		}
	}
	{
		uint64_t ans_max = 0, asked_min = UINT64_MAX;
		int up = 0;

		/* members a handshake gave us keys with */
		for (int i = 0; i < nm; i++)
			up += m[i].s.handshakes > 0;
		/* syncflood, over the members we flooded */
		for (int i = 0; i < nm; i++) {
			if (!m[i].sync_asked)
				continue;
			if (m[i].sync_answers > ans_max)
				ans_max = m[i].sync_answers;
			if (m[i].sync_asked < asked_min)
				asked_min = m[i].sync_asked;
		}
		printf("sync_answers_max %" PRIu64 "\nsync_asked_min %" PRIu64
		       "\nchain_len %" PRIu64 "\nattack_s %" PRIu64 "\n",
		       ans_max, asked_min == UINT64_MAX ? 0 : asked_min, chain_len,
		       st_first_pass_ms ? (now_ms() - st_first_pass_ms + 999) / 1000 : 0);
		printf("sessions %d\nhs_init_tx %" PRIu64 "\nhs_init_rx %" PRIu64
		       "\nhs_resp_rx %" PRIu64 "\nhs_fail %" PRIu64 "\nannounces_rx %" PRIu64 "\nsealed_rx %" PRIu64
		       "\nopen_fail %" PRIu64 "\npasses %" PRIu64 "\nsent %" PRIu64
		       "\nacks %" PRIu64 "\nacks_burst %" PRIu64 "\nacks_single %" PRIu64
		       "\nmembers %d\n",
		       up, st_hs_init_tx, st_hs_init_rx, st_hs_resp_rx, st_hs_fail, st_ann_rx, st_sealed_rx, st_open_fail, st_passes, st_sent,
		       st_acks, st_acks_burst, st_acks_single, comm.nmembers);
	}
	for (int i = 0; i < nm; i++)
		peer_session_wipe(&m[i].s);
	peer_local_wipe(&me);
	peer_disc_close(&disc);
	return 0;
}
