/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemd: the systemd notification protocol (sd_notify(3)), spoken
 * directly: one datagram to $NOTIFY_SOCKET. libsystemd would bring six
 * libraries (libgcrypt, liblzma, libzstd, liblz4, libcap, libgpg-error)
 * and about 1 MiB of resident memory for these two functions.
 */
#ifndef PHLOEMD_NOTIFY_H
#define PHLOEMD_NOTIFY_H

#include <stdint.h>

/**
 * pd_notify() - send @state ("READY=1", "WATCHDOG=1", ...) to the manager
 * Return: 1 sent, 0 no $NOTIFY_SOCKET (not under systemd), -errno.
 */
int pd_notify(const char *state);
int pd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * pd_watchdog_usec() - the watchdog period asked for ($WATCHDOG_USEC, for
 * this process when $WATCHDOG_PID is set); 0: none.
 */
uint64_t pd_watchdog_usec(void);

#endif /* PHLOEMD_NOTIFY_H */
