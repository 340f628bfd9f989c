// SPDX-License-Identifier: GPL-2.0
/*
 * The phloem tracepoints' definitions (kernel/trace.h), created once here;
 * every other file includes trace.h plainly and fires them.
 */
#define CREATE_TRACE_POINTS
#include "trace.h"
