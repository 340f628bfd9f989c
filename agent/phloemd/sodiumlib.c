// SPDX-License-Identifier: GPL-2.0
/* phloemd: libsodium on demand (sodiumlib.h). */
#include <errno.h>

#include "sodiumlib.h"

struct pd_sodium pd_sodium;

static const char *const pd_sodium_names[] = { PD_SODIUM_FUNCS(PD_DYN_NAME) };

int pd_sodium_load(char *err, size_t errlen)
{
	_Static_assert(sizeof(pd_sodium) ==
		       sizeof(pd_sodium_names) / sizeof(pd_sodium_names[0]) * sizeof(void *),
		       "one pointer per name");
	if (pd_sodium.sodium_init)
		return 0;
	if (pd_dynlib_load(PD_LIBSODIUM, pd_sodium_names, &pd_sodium,
			   sizeof(pd_sodium_names) / sizeof(pd_sodium_names[0]), err, errlen)) {
		/* a symbol missing: nothing of the table may be used */
		pd_sodium = (struct pd_sodium){ 0 };
		return -ENOENT;
	}
	return 0;
}
