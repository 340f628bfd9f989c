/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Libraries loaded only when the configuration asks for them: in phloemd,
 * libmosquitto for [mqtt], libmicrohttpd for [web], libmodbus for [device]
 * and [modbus_server], libsodium for [peers]; in the peer library,
 * libnl-route for discovery interfaces. Linked in, the first two and the
 * TLS stacks they pull in (OpenSSL, GnuTLS) cost a daemon that uses
 * neither about 4 MiB of resident memory, libnl-route (a constructor per
 * route object and traffic-control module) about 0.4 MiB; loaded on
 * demand, they cost nothing when off.
 *
 * Use: list the functions once as an X-macro, declare a struct with one
 * pointer per function (PD_DYN_FIELD), call through it.
 */
#ifndef PHLOEM_DYNLIB_H
#define PHLOEM_DYNLIB_H

#include <stddef.h>

#define PD_DYN_FIELD(f) __typeof__(f) *f;
#define PD_DYN_NAME(f) #f,

/**
 * pd_dynlib_load() - dlopen @soname and fill @table with @n symbols
 * @table: a struct of @n function pointers, in the order of @names
 * Return: 0, or -1 with @err saying which library or symbol is missing.
 * The library stays loaded for the life of the process.
 */
int pd_dynlib_load(const char *soname, const char *const *names, void *table,
		   size_t n, char *err, size_t errlen);

#endif /* PHLOEM_DYNLIB_H */
