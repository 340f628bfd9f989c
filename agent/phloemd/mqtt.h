/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemd: MQTT publishing and Home Assistant discovery (mqtt.c), and the
 * [mqtt] configuration section (mqtt_conf.c). Topics: docs/mqtt.md.
 */
#ifndef PHLOEMD_MQTT_H
#define PHLOEMD_MQTT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PD_MQTT_QUEUE_DEFAULT	1024

/**
 * struct pd_mqtt_conf - the [mqtt] section; plain data (copied on reload)
 * @host: broker; empty: MQTT off
 * @node_id: Home Assistant node id and the topic level after @base
 * @base: first topic level (default "phloem"); topics are @base/@node_id/...
 * @discovery: discovery prefix (default "homeassistant"); empty: none
 * @interval_s: period of the state messages
 * @queue: messages that must not be lost (energy, events) kept while the
 *         broker is away; beyond it the oldest go and are counted
 * @commands: accept commands (needs @username and a non-empty @allow)
 * @allow: space-separated relay names, and "limits", that commands may touch
 */
struct pd_mqtt_conf {
	char host[256];
	uint32_t port;
	char node_id[64];
	char base[64];
	char discovery[64];
	char client_id[64];
	char username[64];
	char password[128];
	bool tls;
	char cafile[PATH_MAX];
	char certfile[PATH_MAX];
	char keyfile[PATH_MAX];
	uint32_t keepalive_s;
	uint32_t interval_s;
	uint32_t queue;
	bool commands;
	char allow[512];
};

void pd_mqtt_conf_defaults(struct pd_mqtt_conf *m);
/** pd_mqtt_conf_key() - one key of [mqtt]; 0, or -1 with @err filled */
int pd_mqtt_conf_key(struct pd_mqtt_conf *m, const char *key, const char *v,
		     char *err, size_t errlen);
/** pd_mqtt_conf_check() - the section as a whole; 0, or -1 with @err */
int pd_mqtt_conf_check(const struct pd_mqtt_conf *m, char *err, size_t errlen);
/** pd_mqtt_allowed() - may a command touch @what (a relay name, "limits")? */
bool pd_mqtt_allowed(const struct pd_mqtt_conf *m, const char *what);

struct phloemd;
struct pd_event_row;
/* mqtt.c: a site-state consumer (events by subscription, figures read
 * each period) with its own fds in the epoll set */
int pd_mqtt_open(struct phloemd *d, char *err, size_t errlen);
void pd_mqtt_close(struct phloemd *d);
struct json_object *pd_mqtt_json(struct phloemd *d);

#endif /* PHLOEMD_MQTT_H */
