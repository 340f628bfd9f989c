// SPDX-License-Identifier: LGPL-2.1-or-later
/* On-demand libraries (dynlib.h). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "dynlib/dynlib.h"

int pd_dynlib_load(const char *soname, const char *const *names, void *table,
		   size_t n, char *err, size_t errlen)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(err, errlen, "cannot load %s (is its package installed?): %s",
			 soname, dlerror());
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		void *p = dlsym(h, names[i]);

		if (!p) {
			snprintf(err, errlen, "%s has no %s: %s", soname, names[i], dlerror());
			dlclose(h);
			return -1;
		}
		/* POSIX: function pointers and void * convert both ways */
		memcpy((char *)table + i * sizeof(p), &p, sizeof(p));
	}
	return 0;
}
