// SPDX-License-Identifier: GPL-2.0
/*
 * phloemd: GnuTLS left uninitialised. The dashboard is plain HTTP (web.c
 * never passes MHD_USE_TLS), but Debian's libmicrohttpd is built with
 * HTTPS support, so loading it loads GnuTLS, and two things initialise
 * GnuTLS on the spot: GnuTLS's own constructor and libmicrohttpd's
 * constructor, MHD_init(), which calls gnutls_global_init(). The work
 * (ASN.1 trees, algorithm tables, the system priority file) costs about
 * 1 MiB of resident memory and is never used.
 *
 * Both are turned off by symbols of this executable, which the dynamic
 * linker binds ahead of the libraries' own (the executable comes first in
 * every lookup scope; mk/web.mk exports the three names):
 * - _gnutls_global_init_skip(): GnuTLS's documented way
 *   (GNUTLS_SKIP_GLOBAL_INIT in <gnutls/gnutls.h>) to skip the constructor;
 * - gnutls_global_init() and gnutls_global_deinit(): what libmicrohttpd's
 *   MHD_init() and MHD_fini() call; they do nothing here.
 * No other GnuTLS function is called in this process: libmicrohttpd calls
 * them only for a daemon started with MHD_USE_TLS. Should the dashboard
 * ever serve HTTPS, this file has to go.
 */
int _gnutls_global_init_skip(void);
int gnutls_global_init(void);
void gnutls_global_deinit(void);

int _gnutls_global_init_skip(void)
{
	return 1;
}

int gnutls_global_init(void)
{
	return 0;
}

void gnutls_global_deinit(void)
{
}
