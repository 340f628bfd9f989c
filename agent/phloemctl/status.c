// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl status: the gateway at a glance. From phloemd when it runs;
 * otherwise straight from phloem.ko over netlink (no policy shown then).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdclient.h"

static void state_str(uint32_t st, char *buf, size_t len)
{
	static const char *const n[] = { "failsafe", "leased", "boot-limits", "no-mains", "shedding",
					 "grid-signal" };
	size_t o = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < 6; i++)
		if (st & (1u << i))
			o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%s", o ? " " : "", n[i]);
	if (!o)
		snprintf(buf, len, "normal");
}

/* a device value: "?" when unknown (null), never a made-up number */
static const char *dval(struct json_object *d, const char *key, const char *unit,
			char *buf, size_t len)
{
	struct json_object *v = pdc_get(d, key);

	if (!v || json_object_is_type(v, json_type_null))
		return "?";
	snprintf(buf, len, "%.1f %s", json_object_get_double(v), unit);
	return buf;
}

/* The site's Modbus/SunSpec devices (docs/modbus.md), when there are any. */
static void print_devices(struct json_object *rep)
{
	struct json_object *a = pdc_get(rep, "devices");
	char b1[32], b2[32], b3[32];

	if (!a)
		return;
	printf("pv:            %s\n", dval(rep, "pv_w", "W", b1, sizeof(b1)));
	printf("battery:       %s\n", dval(rep, "battery_w", "W", b1, sizeof(b1)));
	printf("%-12s %-9s %-12s %12s %10s %12s  %s\n", "DEVICE", "KIND", "STATE", "AC", "SOC",
	       "SETPOINT", "DETAIL");
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *d = json_object_array_get_idx(a, i);
		const char *kind = pdc_str(d, "kind");
		bool meter = !strcmp(kind, "meter");

		printf("%-12s %-9s %-12s %12s %10s %12s  %s\n", pdc_str(d, "name"), kind,
		       pdc_str(d, "state"), dval(d, meter ? "meter_w" : "ac_w", "W", b1, sizeof(b1)),
		       dval(d, "soc_pct", "%", b2, sizeof(b2)),
		       dval(d, !strcmp(kind, "inverter") ? "pv_limit_pct" : "setpoint_w",
			    !strcmp(kind, "inverter") ? "%" : "W", b3, sizeof(b3)),
		       pdc_str(d, "detail"));
	}
}

/* A shed relay, why it is still off and when it may come back. */
static void print_held(const char *name, const char *hold, int64_t left_ms)
{
	if (left_ms)
		printf("held:          %s (%s, %.1f s)\n", name, hold, left_ms / 1000.0);
	else
		printf("held:          %s (%s)\n", name, hold);
}

/* phloemd's relay list: the shed relays with their hold reason */
static void print_held_pd(void)
{
	struct json_object *rep, *a;

	if (pdc_call(pdc_req("relays"), &rep, NULL))
		return;
	a = pdc_get(rep, "relays");
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *r = json_object_array_get_idx(a, i);

		if (strcmp(pdc_str(r, "reason"), "shed"))
			continue;
		print_held(pdc_str(r, "name"), *pdc_str(r, "hold") ? pdc_str(r, "hold") : "-",
			   pdc_int(r, "left_ms"));
	}
	json_object_put(rep);
}

/* the grid-operator lines: state, action, and the import cap in force */
static void print_signals(const struct phloem_nl_device *d)
{
	char pw[32];

	if (!d->nsignals)
		return;
	printf("grid signal:  ");
	for (uint32_t i = 0; i < d->nsignals; i++) {
		const struct phloem_nl_signal *g = &d->signal[i];

		printf(" K%u %s", i + 1, g->active ? "active" : "inactive");
		if (g->import_cap_mw)
			printf(" (cap %s)", phloem_nl_fmt_power(g->import_cap_mw, pw, sizeof(pw)));
		if (g->shed_relays)
			printf(" (sheds 0x%x)", g->shed_relays);
		printf("%s", i + 1 < d->nsignals ? "," : "\n");
	}
	printf("import cap:    %s in force (debounce %u us)\n",
	       d->import_cap_mw ? phloem_nl_fmt_power(d->import_cap_mw, pw, sizeof(pw)) : "none",
	       d->signal_debounce_us);
}

static struct json_object *signals_json(const struct phloem_nl_device *d)
{
	struct json_object *a = json_object_new_array();

	for (uint32_t i = 0; i < d->nsignals; i++) {
		struct json_object *g = json_object_new_object();
		char name[12];	/* "K" and a u32: the compiler cannot bound i */

		snprintf(name, sizeof(name), "K%u", i + 1);
		json_object_object_add(g, "line", json_object_new_string(name));
		json_object_object_add(g, "active", json_object_new_boolean(d->signal[i].active));
		json_object_object_add(g, "import_cap_w",
				       json_object_new_int64(d->signal[i].import_cap_mw / 1000));
		json_object_object_add(g, "shed_relays",
				       json_object_new_int64(d->signal[i].shed_relays));
		json_object_array_add(a, g);
	}
	return a;
}

static int status_nl(uint32_t dev, bool json)
{
	struct phloem_nl *nl = NULL;
	struct phloem_nl_device *d = calloc(1, sizeof(*d));
	char st[96], pw[32], lim[32];
	int err;

	if (!d)
		return pdc_fail(-ENOMEM, "status");
	err = pdc_nl_device(dev, &nl, d);
	if (err) {
		free(d);
		if (err == -ENOENT)
			return pdc_fail(0, "phloemd is not running and phloem.ko is not loaded (no \"phloem\" netlink family)");
		return pdc_fail(err, "status of device %u over netlink", dev);
	}
	if (json) {
		struct json_object *o = json_object_new_object();
		struct json_object *a = json_object_new_array();

		json_object_object_add(o, "source", json_object_new_string("kernel"));
		json_object_object_add(o, "device", json_object_new_string(d->name));
		for (unsigned i = 0; i < 6; i++)
			if (d->state & (1u << i)) {
				state_str(1u << i, st, sizeof(st));
				json_object_array_add(a, json_object_new_string(st));
			}
		json_object_object_add(o, "state", a);
		json_object_object_add(o, "site_p_w", json_object_new_double(d->site_p_mw / 1000.0));
		json_object_object_add(o, "vrms_v", json_object_new_double(d->vrms_mv / 1000.0));
		json_object_object_add(o, "freq_hz", json_object_new_double(d->freq_mhz / 1000.0));
		json_object_object_add(o, "lease_left_ms", json_object_new_int64(d->lease_left_ms));
		json_object_object_add(o, "site_import_limit_w",
				       json_object_new_int64(d->site_import_limit_mw / 1000));
		json_object_object_add(o, "import_cap_w",
				       json_object_new_int64(d->import_cap_mw / 1000));
		json_object_object_add(o, "grid_signal", signals_json(d));
		pdc_print_json(o);
		json_object_put(o);
	} else {
		state_str(d->state, st, sizeof(st));
		printf("phloemd:       not running (read from phloem.ko over netlink)\n");
		printf("device:        %s\n", d->name);
		printf("state:         %s\n", st);
		printf("site power:    %s (import limit %s)\n",
		       phloem_nl_fmt_power(d->site_p_mw, pw, sizeof(pw)),
		       pdc_import_limit(d->site_import_limit_mw / 1000, lim, sizeof(lim)));
		printf("mains:         %.1f V, %.3f Hz\n", d->vrms_mv / 1000.0, d->freq_mhz / 1000.0);
		printf("lease:         %u ms left\n", d->lease_left_ms);
		print_signals(d);
		for (uint32_t i = 0; i < d->nrelays; i++)
			if (d->relay[i].reason == PHLOEM_RELAY_SHED)
				print_held(d->relay[i].name,
					   phloem_nl_hold_name(d->relay[i].hold),
					   d->relay[i].left_ms);
	}
	phloem_nl_close(nl);
	free(d);
	return 0;
}

int status_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "device", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct json_object *rep, *a;
	bool json = false;
	uint32_t dev = 0;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "jd:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'd':
			if (pdc_parse_device(optarg, &dev))
				return 2;
			break;
		case 'h':
			printf("Usage: phloemctl status [--json] [--device N]\n");
			return 0;
		default: return 2;
		}
	}
	if (optind != argc)
		return usage_error("status: unexpected argument \"%s\"", argv[optind]);
	err = pdc_call(pdc_req("status"), &rep, NULL);
	if (pdc_unreachable(err))
		return status_nl(dev, json);
	if (err < 0)
		return pdc_fail(err, "connecting to phloemd at %s", pdc_socket());
	if (err)
		return 1;
	if (json) {
		pdc_print_json(rep);
	} else {
		char st[96] = "", pw[32], lim[32];
		size_t o = 0;

		a = pdc_get(rep, "state");
		for (size_t i = 0; a && i < json_object_array_length(a); i++)
			o += (size_t)snprintf(st + o, o < sizeof(st) ? sizeof(st) - o : 0, "%s%s",
					      o ? " " : "", json_object_get_string(json_object_array_get_idx(a, i)));
		printf("phloemd:       running, backend %s, device %s\n", pdc_str(rep, "backend"),
		       pdc_str(rep, "device"));
		printf("state:         %s\n", o ? st : "normal");
		printf("site power:    %s (import limit %s)\n",
		       phloem_nl_fmt_power(llround(pdc_double(rep, "site_p_w") * 1000), pw, sizeof(pw)),
		       pdc_import_limit(pdc_int(rep, "site_import_limit_w"), lim, sizeof(lim)));
		printf("mains:         %.1f V, %.3f Hz\n", pdc_double(rep, "vrms_v"), pdc_double(rep, "freq_hz"));
		printf("lease:         %" PRId64 " ms left\n", pdc_int(rep, "lease_left_ms"));
		if (pdc_int(rep, "grid_signal_state") || pdc_int(rep, "import_cap_w")) {
			printf("grid signal:   lines 0x%" PRIx64 " active, import cap %s\n",
			       pdc_int(rep, "grid_signal_state"),
			       pdc_import_limit(pdc_int(rep, "import_cap_w"), lim, sizeof(lim)));
		}
		a = pdc_get(rep, "windows_open");
		printf("windows open:  ");
		for (size_t i = 0; a && i < json_object_array_length(a); i++)
			printf("%s%s", i ? ", " : "", json_object_get_string(json_object_array_get_idx(a, i)));
		printf("%s\n", a && json_object_array_length(a) ? "" : "none");
		printf("events seen:   %" PRId64 "\n", pdc_int(rep, "events_seen"));
		print_held_pd();
		print_devices(rep);
	}
	json_object_put(rep);
	return 0;
}
