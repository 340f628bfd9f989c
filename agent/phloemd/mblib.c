// SPDX-License-Identifier: GPL-2.0
/* phloemd: libmodbus on demand (mblib.h). */
#include <errno.h>

#include "mblib.h"

struct pd_mb pd_mb;

static const char *const pd_mb_names[] = { PD_MB_FUNCS(PD_DYN_NAME) };

int pd_mb_load(char *err, size_t errlen)
{
	_Static_assert(sizeof(pd_mb) == sizeof(pd_mb_names) / sizeof(pd_mb_names[0]) * sizeof(void *),
		       "one pointer per name");
	if (pd_mb.modbus_new_tcp_pi)
		return 0;
	if (pd_dynlib_load(PD_LIBMODBUS, pd_mb_names, &pd_mb,
			   sizeof(pd_mb_names) / sizeof(pd_mb_names[0]), err, errlen)) {
		/* a symbol missing: nothing of the table may be used */
		pd_mb = (struct pd_mb){ 0 };
		return -ENOENT;
	}
	return 0;
}
