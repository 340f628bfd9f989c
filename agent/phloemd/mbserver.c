// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd: phloem's in-kernel meter served over Modbus TCP as a SunSpec
 * meter ([modbus_server], docs/modbus.md): the marker at base, common
 * model 1, meter model 203 (or 201), the end model. An inverter or another
 * energy manager can take phloem as its grid meter.
 *
 * In the event loop: the listening socket and each client are fds. A
 * readable client has a request (or its start): libmodbus reads it with a
 * 50 ms byte timeout, so a client that sends half a request costs at most
 * that. Reads of the map are answered from the register image, which the
 * kernel measurement refreshes (a PD_SITE_KERNEL subscriber); anything
 * else gets a Modbus exception: an address outside the map, a count over
 * 125, a write while read-only (the default), a function phloem does not
 * serve. At most max_clients connections; more are closed at accept.
 */
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sunspec/sunspec.h"
#include "daemon.h"
#include "devices.h"
#include "mblib.h"

#define MAX_CLIENTS	64

struct mb_client {
	struct pd_watch w;
	struct pd_mbserver_state *srv;
};

struct pd_mbserver_state {
	struct phloemd *d;
	struct pd_watch lw;
	modbus_t *ctx;
	uint16_t regs[SUNSPEC_SERVER_REGS];
	modbus_mapping_t *map;
	struct mb_client cl[MAX_CLIENTS];
	int sub;
	uint64_t requests, exceptions, refused_clients;
};

#define slog(...) pd_log("modbus server", __VA_ARGS__)

static void drop(struct mb_client *c)
{
	pd_watch_del(c->srv->d, &c->w);
	close(c->w.fd);
	c->w.fd = -1;
}

static void exception(struct pd_mbserver_state *s, const uint8_t *req, unsigned code)
{
	s->exceptions++;
	pd_mb.modbus_reply_exception(s->ctx, req, code);
}

static void on_client(struct pd_watch *w, uint32_t events)
{
	struct mb_client *c = (struct mb_client *)((char *)w - offsetof(struct mb_client, w));
	struct pd_mbserver_state *s = c->srv;
	const struct pd_mbserver *cfg = &s->d->cfg.mbserver;
	uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
	int n, off, fc;
	unsigned addr, cnt;

	if (events & (EPOLLHUP | EPOLLERR)) {
		drop(c);
		return;
	}
	pd_mb.modbus_set_socket(s->ctx, w->fd);
	n = pd_mb.modbus_receive(s->ctx, req);
	if (n <= 0) {
		/* closed, a bad frame or half a request: the connection goes */
		drop(c);
		return;
	}
	s->requests++;
	off = pd_mb.modbus_get_header_length(s->ctx);
	fc = req[off];
	addr = (unsigned)(req[off + 1] << 8 | req[off + 2]);
	cnt = (unsigned)(req[off + 3] << 8 | req[off + 4]);
	if (req[off - 1] != cfg->unit && req[off - 1] != 0xFF && req[off - 1] != 0) {
		exception(s, req, MODBUS_EXCEPTION_GATEWAY_TARGET);
		return;
	}
	switch (fc) {
	case MODBUS_FC_READ_HOLDING_REGISTERS:
	case MODBUS_FC_READ_INPUT_REGISTERS:
		if (cnt < 1 || cnt > MODBUS_MAX_READ_REGISTERS) {
			exception(s, req, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
			return;
		}
		if (addr < cfg->base || addr + cnt > cfg->base + SUNSPEC_SERVER_REGS) {
			exception(s, req, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
			return;
		}
		break;
	case MODBUS_FC_WRITE_SINGLE_REGISTER:
	case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
		if (fc == MODBUS_FC_WRITE_SINGLE_REGISTER)
			cnt = 1;
		if (!cfg->writable) {
			exception(s, req, MODBUS_EXCEPTION_ILLEGAL_FUNCTION);
			return;
		}
		/* writable: only the common model's DA (the unit id it
		 * tells), nothing measured */
		if (addr != cfg->base + 2 + 66 || cnt != 1) {
			exception(s, req, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
			return;
		}
		break;
	default:
		exception(s, req, MODBUS_EXCEPTION_ILLEGAL_FUNCTION);
		return;
	}
	memcpy(s->map->tab_registers, s->regs, sizeof(s->regs));
	memcpy(s->map->tab_input_registers, s->regs, sizeof(s->regs));
	if (pd_mb.modbus_reply(s->ctx, req, n, s->map) < 0) {
		drop(c);
		return;
	}
	if (fc == MODBUS_FC_WRITE_SINGLE_REGISTER || fc == MODBUS_FC_WRITE_MULTIPLE_REGISTERS)
		s->regs[2 + 66] = s->map->tab_registers[2 + 66];
}

static void on_accept(struct pd_watch *w, uint32_t events)
{
	struct pd_mbserver_state *s = (struct pd_mbserver_state *)((char *)w -
					offsetof(struct pd_mbserver_state, lw));
	uint32_t max = s->d->cfg.mbserver.max_clients;
	int fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (uint32_t i = 0; i < max && i < MAX_CLIENTS; i++) {
		struct mb_client *c = &s->cl[i];

		if (c->w.fd >= 0)
			continue;
		c->w.fd = fd;
		c->w.fn = on_client;
		c->srv = s;
		if (pd_watch_add(s->d, &c->w, EPOLLIN)) {
			close(fd);
			c->w.fd = -1;
		}
		return;
	}
	s->refused_clients++;
	close(fd);
}

static void on_kernel(void *ctx, struct pd_site *site, uint32_t changed,
		      const struct pd_event_row *ev)
{
	struct pd_mbserver_state *s = ctx;
	const struct pd_site_kernel *k = &site->kernel;
	uint32_t ch = k->info.circuit[0].channel;
	struct sunspec_meter_in in = {
		.w_mw = k->st.site_p_mw,
		.a_ma = k->st.circuit[0].irms_ma,
		.v_mv = k->st.vrms_mv,
		.hz_mhz = k->st.freq_mhz,
	};

	if (ch < PHLOEM_MAX_CHANNELS) {
		in.imp_mwh = k->st.energy[ch].import_mwh;
		in.exp_mwh = k->st.energy[ch].export_mwh;
	}
	sunspec_server_update(s->regs, &in);
}

int pd_mbserver_open(struct phloemd *d, char *err, size_t errlen)
{
	const struct pd_mbserver *cfg = &d->cfg.mbserver;
	struct pd_mbserver_state *s;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	char port[8];
	int one = 1, rc;

	if (!cfg->enabled)
		return 0;
	if (pd_mb_load(err, errlen))
		return -ENOENT;
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->d = d;
	for (int i = 0; i < MAX_CLIENTS; i++)
		s->cl[i].w.fd = -1;
	sunspec_server_map(s->regs, (uint16_t)cfg->model, "phloem", "phloem gateway", d->info.name);
	s->regs[2 + 66] = (uint16_t)cfg->unit;
	s->map = pd_mb.modbus_mapping_new_start_address(0, 0, 0, 0, cfg->base, SUNSPEC_SERVER_REGS,
						  cfg->base, SUNSPEC_SERVER_REGS);
	s->ctx = pd_mb.modbus_new_tcp_pi(NULL, "0");
	snprintf(port, sizeof(port), "%u", cfg->port);
	rc = getaddrinfo(cfg->listen, port, &hints, &ai);
	if (rc || !s->map || !s->ctx) {
		snprintf(err, errlen, "[modbus_server] listen %s port %u: %s", cfg->listen, cfg->port,
			 rc ? gai_strerror(rc) : strerror(errno));
		goto fail;
	}
	s->lw.fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lw.fd < 0 ||
	    setsockopt(s->lw.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s->lw.fd, ai->ai_addr, ai->ai_addrlen) || listen(s->lw.fd, 8)) {
		snprintf(err, errlen, "[modbus_server] %s port %u: %s", cfg->listen, cfg->port,
			 strerror(errno));
		freeaddrinfo(ai);
		if (s->lw.fd >= 0)
			close(s->lw.fd);
		goto fail;
	}
	freeaddrinfo(ai);
	pd_mb.modbus_set_byte_timeout(s->ctx, 0, 50000);
	pd_mb.modbus_set_indication_timeout(s->ctx, 0, 50000);
	s->lw.fn = on_accept;
	if (pd_watch_add(d, &s->lw, EPOLLIN)) {
		snprintf(err, errlen, "[modbus_server]: epoll: %s", strerror(errno));
		close(s->lw.fd);
		goto fail;
	}
	s->sub = pd_site_subscribe(&d->site, PD_SITE_KERNEL, on_kernel, s);
	if (d->site.kernel.valid)
		on_kernel(s, &d->site, PD_SITE_KERNEL, NULL);
	d->mbserver = s;
	slog("SunSpec meter (models 1, %u) at %u on %s port %u, %s, at most %u clients",
	     cfg->model, cfg->base, cfg->listen, cfg->port,
	     cfg->writable ? "DA writable" : "read-only", cfg->max_clients);
	return 0;
fail:
	if (s->map)
		pd_mb.modbus_mapping_free(s->map);
	if (s->ctx)
		pd_mb.modbus_free(s->ctx);
	free(s);
	return -EINVAL;
}

void pd_mbserver_close(struct phloemd *d)
{
	struct pd_mbserver_state *s = d->mbserver;

	if (!s)
		return;
	pd_site_unsubscribe(&d->site, s->sub);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (s->cl[i].w.fd >= 0)
			drop(&s->cl[i]);
	pd_watch_del(d, &s->lw);
	close(s->lw.fd);
	pd_mb.modbus_mapping_free(s->map);
	pd_mb.modbus_free(s->ctx);
	free(s);
	d->mbserver = NULL;
}
