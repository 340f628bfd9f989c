// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl config check FILE: validate a phloemd configuration.
 *
 * The one parser is phloemd's own: this runs `phloemd --check -c FILE`
 * (like `sshd -t`), so what passes here is exactly what the daemon takes.
 * phloemd is looked up as $PHLOEMD, next to phloemctl (../sbin or the same
 * directory), then in $PATH.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pdclient.h"

static const char *find_phloemd(char *buf, size_t len)
{
	const char *env = getenv("PHLOEMD");
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			snprintf(buf, len, "%s/../sbin/phloemd", self);
			if (!access(buf, X_OK))
				return buf;
			snprintf(buf, len, "%s/phloemd", self);
			if (!access(buf, X_OK))
				return buf;
		}
	}
	return "phloemd";
}

int config_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char path[PATH_MAX + 16], out[4096];
	const char *pd;
	bool json = false;
	int opt, p[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'h':
			printf("Usage: phloemctl config check FILE [--json]\n");
			return 0;
		default: return 2;
		}
	}
	if (optind + 2 != argc || strcmp(argv[optind], "check"))
		return usage_error("config: usage: phloemctl config check FILE [--json]");
	pd = find_phloemd(path, sizeof(path));
	if (pipe(p))
		return pdc_fail(-errno, "pipe");
	pid = fork();
	if (pid < 0)
		return pdc_fail(-errno, "fork");
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execlp(pd, "phloemd", "--check", "-c", argv[optind + 1], (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", pd, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	while (len < sizeof(out) - 1 && (n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = 0;
	close(p[0]);
	waitpid(pid, &status, 0);
	while (len && out[len - 1] == '\n')
		out[--len] = 0;
	/* phloemd prefixes its messages with "phloemd: " */
	{
		const char *msg = !strncmp(out, "phloemd: ", 9) ? out + 9 : out;
		bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;

		if (json) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "file", json_object_new_string(argv[optind + 1]));
			json_object_object_add(o, "valid", json_object_new_boolean(ok));
			json_object_object_add(o, ok ? "summary" : "error", json_object_new_string(msg));
			puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
			json_object_put(o);
		} else if (ok) {
			printf("%s\n", msg);
		} else {
			fprintf(stderr, "%s\n", msg);
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			return 1;
		return ok ? 0 : 1;
	}
}
