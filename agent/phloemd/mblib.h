/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemd: libmodbus, loaded with dlopen() (dynlib.h) by the first of
 * pd_devices_open() and pd_mbserver_open() that has work, that is when a
 * [device] or [modbus_server] section is configured. Linked, it was in
 * every daemon: about 44 KiB resident (its headers, symbol tables and the
 * page of code around its initialiser, with what fault-around maps) for a
 * library most sites never call. Call through pd_mb once pd_mb_load()
 * has returned 0; both files load it before their first call.
 */
#ifndef PHLOEMD_MBLIB_H
#define PHLOEMD_MBLIB_H

#include <stddef.h>

#include <modbus.h>

#include "dynlib/dynlib.h"

#ifndef PD_LIBMODBUS
#define PD_LIBMODBUS "libmodbus.so.5"
#endif
#define PD_MB_FUNCS(X) \
	X(modbus_close) \
	X(modbus_connect) \
	X(modbus_flush) \
	X(modbus_free) \
	X(modbus_get_header_length) \
	X(modbus_mapping_free) \
	X(modbus_mapping_new_start_address) \
	X(modbus_new_rtu) \
	X(modbus_new_tcp_pi) \
	X(modbus_read_registers) \
	X(modbus_receive) \
	X(modbus_reply) \
	X(modbus_reply_exception) \
	X(modbus_set_byte_timeout) \
	X(modbus_set_indication_timeout) \
	X(modbus_set_response_timeout) \
	X(modbus_set_slave) \
	X(modbus_set_socket) \
	X(modbus_strerror) \
	X(modbus_write_registers)

/** struct pd_mb - libmodbus's functions in phloemd, one pointer each */
struct pd_mb {
	PD_MB_FUNCS(PD_DYN_FIELD)
};
extern struct pd_mb pd_mb;

/**
 * pd_mb_load() - load libmodbus, once; later calls return at once
 * Return: 0, or -ENOENT with @err naming the library or symbol missing.
 */
int pd_mb_load(char *err, size_t errlen);

#endif /* PHLOEMD_MBLIB_H */
