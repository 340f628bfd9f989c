// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Discovery transport: one IPv6 UDP socket (link-local group ff02::7068)
 * and one IPv4 UDP socket (administratively scoped 239.255.70.68), both on
 * the community port, plus unicast to statically configured peers (for
 * links without multicast, and for several gateways on one host in tests).
 *
 * Interfaces come and go (a USB Ethernet dongle, a Wi-Fi link that
 * associates late): libnl-route's cache manager follows links and
 * addresses over rtnetlink, and when a configured interface appears, or
 * gains an address, the groups are joined on it and the caller is told to
 * announce at once rather than wait for the next period. libnl-route is
 * loaded then, not linked (dynlib.h): a gateway with no interfaces
 * configured (statics only) does not carry its 0.4 MiB.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "dynlib/dynlib.h"
#include "peer.h"

#define RTNL_SONAME "libnl-route-3.so.200"
#define RTNL_FUNCS(X) \
	X(rtnl_addr_get_ifindex) \
	X(rtnl_link_get_by_name) \
	X(rtnl_link_get_flags) \
	X(rtnl_link_get_ifindex) \
	X(rtnl_link_put)
static struct {
	RTNL_FUNCS(PD_DYN_FIELD)
} rtnl;
static const char *const rtnl_names[] = { RTNL_FUNCS(PD_DYN_NAME) };

static int udp_socket(int family, uint16_t port)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -errno;
	/* several gateways on one host share the group port only if each
	 * sets SO_REUSEADDR; their unicast ports differ */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6) {
		struct sockaddr_in6 a = { .sin6_family = AF_INET6,
					  .sin6_port = htons(port),
					  .sin6_addr = IN6ADDR_ANY_INIT };

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
			goto err;
	} else {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
					 .sin_addr.s_addr = htonl(INADDR_ANY) };

		if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
			goto err;
	}
	return fd;
err:
	{
		int e = errno;

		close(fd);
		return -e;
	}
}

static void join(struct peer_disc *d, int i)
{
	struct ipv6_mreq m6 = { .ipv6mr_interface = d->ifindex[i] };
	struct ip_mreqn m4 = { .imr_ifindex = d->ifindex[i] };

	inet_pton(AF_INET6, PEER_GROUP6, &m6.ipv6mr_multiaddr);
	inet_pton(AF_INET, PEER_GROUP4, &m4.imr_multiaddr);
	/* EADDRINUSE: already joined there; other errors (no IPv4 address
	 * yet) are retried when an address appears */
	setsockopt(d->fd6, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &m6, sizeof(m6));
	setsockopt(d->fd4, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m4, sizeof(m4));
}

/* Re-read the configured interfaces from the caches. */
static void refresh(struct peer_disc *d)
{
	for (int i = 0; i < d->nifaces; i++) {
		struct rtnl_link *l = rtnl.rtnl_link_get_by_name(d->link_cache, d->ifname[i]);
		int idx = 0;
		uint32_t naddr = 0;

		if (l && (rtnl.rtnl_link_get_flags(l) & IFF_UP))
			idx = rtnl.rtnl_link_get_ifindex(l);
		if (l)
			rtnl.rtnl_link_put(l);
		if (idx) {
			for (struct nl_object *o = nl_cache_get_first(d->addr_cache); o;
			     o = nl_cache_get_next(o))
				if (rtnl.rtnl_addr_get_ifindex((struct rtnl_addr *)o) == idx)
					naddr++;
		}
		if (idx != d->ifindex[i] || naddr != d->ifaddrs[i]) {
			d->ifindex[i] = idx;
			d->ifaddrs[i] = naddr;
			if (idx) {
				join(d, i);
				d->changed = true;
			}
		}
	}
}

static void on_change(struct nl_cache *c, struct nl_object *o, int action, void *arg)
{
	(void)c; (void)o; (void)action;
	refresh(arg);
}

static int parse_statics(struct peer_disc *d, const char *list, char *err, size_t errlen)
{
	char buf[1024], *save = NULL;

	if (!list || !*list)
		return 0;
	if (strlen(list) >= sizeof(buf)) {
		snprintf(err, errlen, "static peer list too long");
		return -EINVAL;
	}
	strcpy(buf, list);
	d->statics = calloc(PEER_MAX_STATIC, sizeof(*d->statics));
	if (!d->statics)
		return -ENOMEM;
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		char host[64];
		char *colon, *end;
		unsigned long port;

		if (d->nstatic == PEER_MAX_STATIC) {
			snprintf(err, errlen, "more than %d static peers", PEER_MAX_STATIC);
			return -EINVAL;
		}
		colon = strrchr(t, ':');
		if (!colon || colon == t || (size_t)(colon - t) >= sizeof(host))
			goto bad;
		port = strtoul(colon + 1, &end, 10);
		if (*end || !port || port > 65535)
			goto bad;
		memcpy(host, t, colon - t);
		host[colon - t] = 0;
		if (host[0] == '[' && host[strlen(host) - 1] == ']') {
			struct sockaddr_in6 *a = (void *)&d->statics[d->nstatic];

			host[strlen(host) - 1] = 0;
			a->sin6_family = AF_INET6;
			a->sin6_port = htons(port);
			if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
				goto bad;
		} else {
			struct sockaddr_in *a = (void *)&d->statics[d->nstatic];

			a->sin_family = AF_INET;
			a->sin_port = htons(port);
			if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
				goto bad;
		}
		d->nstatic++;
		continue;
bad:
		snprintf(err, errlen, "static peer \"%s\": expected ADDR:PORT or [ADDR6]:PORT", t);
		return -EINVAL;
	}
	return 0;
}

int peer_disc_open(struct peer_disc *d, uint16_t port, const char *ifaces,
		   const char *statics, char *err, size_t errlen)
{
	struct nl_cache_mngr *mngr = NULL;
	struct nl_cache *lc = NULL, *ac = NULL;
	int ret;

	memset(d, 0, sizeof(*d));
	d->fd6 = d->fd4 = d->nlfd = -1;
	d->port = port;
	if (ifaces && *ifaces) {
		char buf[256], *save = NULL;

		snprintf(buf, sizeof(buf), "%s", ifaces);
		for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
			if (d->nifaces == PEER_MAX_IFACES || strlen(t) >= IFNAMSIZ) {
				snprintf(err, errlen, "interfaces: at most %d names of < %d bytes",
					 PEER_MAX_IFACES, IFNAMSIZ);
				return -EINVAL;
			}
			strcpy(d->ifname[d->nifaces++], t);
		}
	}
	ret = parse_statics(d, statics, err, errlen);
	if (ret)
		goto fail;
	d->fd6 = udp_socket(AF_INET6, port);
	d->fd4 = udp_socket(AF_INET, port);
	if (d->fd6 < 0 || d->fd4 < 0) {
		ret = d->fd6 < 0 ? d->fd6 : d->fd4;
		snprintf(err, errlen, "UDP port %u: %s", port, strerror(-ret));
		goto fail;
	}
	if (d->nifaces) {
		/* loading it registers its caches ("route/link", ...) */
		_Static_assert(sizeof(rtnl) == sizeof(rtnl_names) / sizeof(rtnl_names[0]) * sizeof(void *),
			       "one pointer per name");
		if (!rtnl.rtnl_link_put &&
		    pd_dynlib_load(RTNL_SONAME, rtnl_names, &rtnl,
				   sizeof(rtnl_names) / sizeof(rtnl_names[0]), err, errlen)) {
			ret = -ENOENT;
			goto fail;
		}
		ret = nl_cache_mngr_alloc(NULL, NETLINK_ROUTE, NL_AUTO_PROVIDE, &mngr);
		if (!ret)
			ret = nl_cache_mngr_add(mngr, "route/link", on_change, d, &lc);
		if (!ret)
			ret = nl_cache_mngr_add(mngr, "route/addr", on_change, d, &ac);
		if (ret) {
			snprintf(err, errlen, "rtnetlink: %s", nl_geterror(ret));
			if (mngr)
				nl_cache_mngr_free(mngr);
			ret = -EIO;
			goto fail;
		}
		d->mngr = mngr;
		d->link_cache = lc;
		d->addr_cache = ac;
		d->nlfd = nl_cache_mngr_get_fd(mngr);
		refresh(d);
	}
	return 0;
fail:
	peer_disc_close(d);
	return ret;
}

void peer_disc_close(struct peer_disc *d)
{
	if (d->mngr)
		nl_cache_mngr_free(d->mngr);
	d->mngr = NULL;
	if (d->fd6 >= 0)
		close(d->fd6);
	if (d->fd4 >= 0)
		close(d->fd4);
	d->fd6 = d->fd4 = d->nlfd = -1;
	free(d->statics);
	d->statics = NULL;
}

void peer_disc_netlink(struct peer_disc *d)
{
	if (d->mngr)
		nl_cache_mngr_data_ready(d->mngr);
}

int peer_disc_multicast(struct peer_disc *d, const uint8_t *buf, size_t len)
{
	struct sockaddr_in6 g6 = { .sin6_family = AF_INET6, .sin6_port = htons(d->port) };
	struct sockaddr_in g4 = { .sin_family = AF_INET, .sin_port = htons(d->port) };
	int sent = 0;

	inet_pton(AF_INET6, PEER_GROUP6, &g6.sin6_addr);
	inet_pton(AF_INET, PEER_GROUP4, &g4.sin_addr);
	for (int i = 0; i < d->nifaces; i++) {
		struct ip_mreqn m4 = { .imr_ifindex = d->ifindex[i] };
		int idx = d->ifindex[i];

		if (!idx)
			continue;
		g6.sin6_scope_id = idx;
		if (!setsockopt(d->fd6, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof(idx)) &&
		    sendto(d->fd6, buf, len, 0, (struct sockaddr *)&g6, sizeof(g6)) == (ssize_t)len)
			sent++;
		if (!setsockopt(d->fd4, IPPROTO_IP, IP_MULTICAST_IF, &m4, sizeof(m4)) &&
		    sendto(d->fd4, buf, len, 0, (struct sockaddr *)&g4, sizeof(g4)) == (ssize_t)len)
			sent++;
	}
	for (int i = 0; i < d->nstatic; i++) {
		const struct sockaddr_storage *a = &d->statics[i];
		int fd = a->ss_family == AF_INET6 ? d->fd6 : d->fd4;
		socklen_t al = a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
				sizeof(struct sockaddr_in);

		if (sendto(fd, buf, len, 0, (const struct sockaddr *)a, al) == (ssize_t)len)
			sent++;
	}
	return sent;
}
