/* SPDX-License-Identifier: GPL-2.0 */
/* Host shim, see ../kshim.h. */
#include "../kshim.h"
