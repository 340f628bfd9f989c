/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemctl: client side of phloemd's control socket (line-delimited JSON,
 * see docs/phloemd.md) and the direct netlink fallback used when phloemd is
 * not running, so an operator is never locked out of the relays.
 */
#ifndef PHLOEMCTL_PDCLIENT_H
#define PHLOEMCTL_PDCLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "nl/phloem_nl.h"

#define PHLOEMD_SOCKET_DEFAULT	"/run/phloem/phloemd.sock"

/* $PHLOEMD_SOCKET, or the default */
const char *pdc_socket(void);

/**
 * pdc_call() - one request/reply with phloemd
 * @req: request object (consumed)
 * @rep: the reply object, {"ok": true, ...}, owned by the caller
 * @fd_out: when not NULL, the connection is left open here (for streams)
 * Return: 0; -errno when phloemd cannot be reached (-ENOENT,
 * -ECONNREFUSED: not running); 1 when phloemd refused the request (the
 * reason is printed).
 */
int pdc_call(struct json_object *req, struct json_object **rep, int *fd_out);
/* Read one reply (single request) / one stream line (--follow). */
struct json_object *pdc_read(int fd);
struct json_object *pdc_read_line(int fd);
bool pdc_unreachable(int err);

/*
 * The subcommands of this file set (also declared in phloemctl.h for main.c;
 * that header cannot be included next to json-c, whose json_bool type
 * clashes with its JSON writer's json_bool()).
 */
int status_main(int argc, char **argv);
int channels_main(int argc, char **argv);
int relays_main(int argc, char **argv);
int limits_main(int argc, char **argv);
int events_main(int argc, char **argv);
int history_main(int argc, char **argv);
int config_main(int argc, char **argv);
int peers_main(int argc, char **argv);
int community_main(int argc, char **argv);

/* "phloemctl: <message>" for usage errors; returns 2 */
/* util.c: "phloemctl: <message>" on stderr; returns 2 (usage error) */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* --device N: 0 and *dev set, or a usage error printed and 2 returned */
int pdc_parse_device(const char *arg, uint32_t *dev);

/* A new request {"cmd": @cmd} */
struct json_object *pdc_req(const char *cmd);

/* "phloemctl: <what>: <strerror(-err)>", returns 1 */
int pdc_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a JSON object on one line (or pretty) to stdout. */
void pdc_print_json(struct json_object *o);
/* Shorthands over json-c */
int64_t pdc_int(struct json_object *o, const char *key);
double pdc_double(struct json_object *o, const char *key);
const char *pdc_str(struct json_object *o, const char *key);
bool pdc_bool(struct json_object *o, const char *key);
struct json_object *pdc_get(struct json_object *o, const char *key);

/* Netlink fallback: device @dev of phloem.ko */
int pdc_nl_device(uint32_t dev, struct phloem_nl **nl, struct phloem_nl_device *d);

/**
 * struct pdc_view - a read-only view of one phloem.ko device, read over
 * netlink: `phloemctl NAME [show] [--device N] [--json]` (freq, phase, mains)
 * @name: the subcommand
 * @what: what it shows, for errors ("frequency rule")
 * @help: what follows the usage line of --help (lines ending in '\n')
 * @json: print the device's part as one JSON object
 * @table: print it as tables
 */
struct pdc_view {
	const char *name;
	const char *what;
	const char *help;
	void (*json)(const struct phloem_nl_device *d);
	void (*table)(const struct phloem_nl_device *d);
};
/*
 * Phase @p's entry of a view's "phases" array: {"phase": "L1", "channel":
 * @channel}, appended to @arr; the caller adds the rest. Return: it.
 */
struct json_object *pdc_phase_json(struct json_object *arr, uint32_t p, uint32_t channel);
/* Run the view @v on the command line; the subcommand's exit status */
int pdc_device_view(const struct pdc_view *v, int argc, char **argv);
/* Parse "90s", "15m", "2h", "1d" or plain seconds; 0 on success. */
int pdc_parse_duration(const char *s, int64_t *sec);
void pdc_format_time(int64_t ts, bool ms, char *buf, size_t len);
/* A site import limit in whole watts for an operator: "6.00 kW", or
 * "none" for 0 (the rule is off). Return: @buf. */
char *pdc_import_limit(int64_t w, char *buf, size_t len);

#endif /* PHLOEMCTL_PDCLIENT_H */
