/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemd: the web dashboard and Prometheus /metrics (web.c), and the [web]
 * configuration section (web_conf.c). docs/web.md.
 */
#ifndef PHLOEMD_WEB_H
#define PHLOEMD_WEB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * struct pd_web_conf - the [web] section; plain data (copied on reload)
 * @listen: address to listen on (default 127.0.0.1); empty: no dashboard
 * @port: TCP port (0: the kernel picks one, logged)
 * @token_file: file holding the secret that changes need (one line); no
 *              file or an empty one: the dashboard is read-only
 * @push_ms: period of the live figures pushed to browsers (events go at once)
 */
struct pd_web_conf {
	bool enabled;
	char listen[64];
	uint32_t port;
	char token_file[PATH_MAX];
	uint32_t push_ms;
};

void pd_web_conf_defaults(struct pd_web_conf *w);
int pd_web_conf_key(struct pd_web_conf *w, const char *key, const char *v,
		    char *err, size_t errlen);

struct phloemd;
struct pd_event_row;
int pd_web_open(struct phloemd *d, char *err, size_t errlen);
void pd_web_close(struct phloemd *d);

#endif /* PHLOEMD_WEB_H */
