/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemd: small helpers for the control socket's JSON, shared by its
 * in-process clients (mqtt.c, web.c), which read through pd_control_call().
 */
#ifndef PHLOEMD_CTLJSON_H
#define PHLOEMD_CTLJSON_H

#include <json-c/json.h>

#include "daemon.h"

/** pd_json_get() - member @k of object @o, or NULL (borrowed reference) */
static inline struct json_object *pd_json_get(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;

	return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

/** pd_control_read() - the reply to the read request {"cmd": @cmd}; caller owns it */
static inline struct json_object *pd_control_read(struct phloemd *d, const char *cmd)
{
	struct json_object *req = json_object_new_object(), *r;

	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	r = pd_control_call(d, req, false);
	json_object_put(req);
	return r;
}

#endif /* PHLOEMD_CTLJSON_H */
