/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phloemd: libsodium, loaded with dlopen() (dynlib.h) by pd_peers_open(),
 * that is only when [peers] community= is configured. Linked, it was in
 * every daemon: about 120 KiB resident (its headers and symbol tables and
 * the code page of its initialiser, with what fault-around maps around
 * them) for the peer protocol and the ledger, which most daemons do not
 * run.
 *
 * The library code that calls libsodium (agent/lib/ledger, agent/lib/peer)
 * is shared with phloemctl and the tests, which link libsodium as usual:
 * phloemd's own copies of those files, and peers.c, are compiled with this
 * header forced in (-include, mk/phloemd.mk), and the macros below send
 * each call through pd_sodium. Nothing else in phloemd reaches them: every
 * entry point of peers.c returns early while d->peers is NULL, and the
 * meter writes to the ledger only through it. A function missing from the
 * list fails phloemd's link (libsodium is not linked), not at run time.
 */
#ifndef PHLOEMD_SODIUMLIB_H
#define PHLOEMD_SODIUMLIB_H

#include <stddef.h>

#include <sodium.h>

#include "dynlib/dynlib.h"

#ifndef PD_LIBSODIUM
#define PD_LIBSODIUM "libsodium.so.23"
#endif
#define PD_SODIUM_FUNCS(X) \
	X(crypto_aead_chacha20poly1305_ietf_decrypt) \
	X(crypto_aead_chacha20poly1305_ietf_encrypt) \
	X(crypto_generichash) \
	X(crypto_generichash_final) \
	X(crypto_generichash_init) \
	X(crypto_generichash_update) \
	X(crypto_scalarmult) \
	X(crypto_scalarmult_base) \
	X(crypto_shorthash) \
	X(crypto_sign_detached) \
	X(crypto_sign_ed25519_detached) \
	X(crypto_sign_ed25519_pk_to_curve25519) \
	X(crypto_sign_ed25519_sk_to_curve25519) \
	X(crypto_sign_ed25519_sk_to_seed) \
	X(crypto_sign_ed25519_verify_detached) \
	X(crypto_sign_keypair) \
	X(crypto_sign_seed_keypair) \
	X(crypto_sign_verify_detached) \
	X(randombytes_buf) \
	X(randombytes_random) \
	X(randombytes_uniform) \
	X(sodium_base642bin) \
	X(sodium_bin2base64) \
	X(sodium_bin2hex) \
	X(sodium_free) \
	X(sodium_hex2bin) \
	X(sodium_init) \
	X(sodium_is_zero) \
	X(sodium_malloc) \
	X(sodium_memcmp) \
	X(sodium_memzero)

/** struct pd_sodium - libsodium's functions in phloemd, one pointer each */
struct pd_sodium {
	PD_SODIUM_FUNCS(PD_DYN_FIELD)
};
extern struct pd_sodium pd_sodium;

/**
 * pd_sodium_load() - load libsodium, once; later calls return at once
 * Return: 0, or -ENOENT with @err naming the library or symbol missing.
 */
int pd_sodium_load(char *err, size_t errlen);

#define crypto_aead_chacha20poly1305_ietf_decrypt(...) pd_sodium.crypto_aead_chacha20poly1305_ietf_decrypt(__VA_ARGS__)
#define crypto_aead_chacha20poly1305_ietf_encrypt(...) pd_sodium.crypto_aead_chacha20poly1305_ietf_encrypt(__VA_ARGS__)
#define crypto_generichash(...) pd_sodium.crypto_generichash(__VA_ARGS__)
#define crypto_generichash_final(...) pd_sodium.crypto_generichash_final(__VA_ARGS__)
#define crypto_generichash_init(...) pd_sodium.crypto_generichash_init(__VA_ARGS__)
#define crypto_generichash_update(...) pd_sodium.crypto_generichash_update(__VA_ARGS__)
#define crypto_scalarmult(...) pd_sodium.crypto_scalarmult(__VA_ARGS__)
#define crypto_scalarmult_base(...) pd_sodium.crypto_scalarmult_base(__VA_ARGS__)
#define crypto_shorthash(...) pd_sodium.crypto_shorthash(__VA_ARGS__)
#define crypto_sign_detached(...) pd_sodium.crypto_sign_detached(__VA_ARGS__)
#define crypto_sign_ed25519_detached(...) pd_sodium.crypto_sign_ed25519_detached(__VA_ARGS__)
#define crypto_sign_ed25519_pk_to_curve25519(...) pd_sodium.crypto_sign_ed25519_pk_to_curve25519(__VA_ARGS__)
#define crypto_sign_ed25519_sk_to_curve25519(...) pd_sodium.crypto_sign_ed25519_sk_to_curve25519(__VA_ARGS__)
#define crypto_sign_ed25519_sk_to_seed(...) pd_sodium.crypto_sign_ed25519_sk_to_seed(__VA_ARGS__)
#define crypto_sign_ed25519_verify_detached(...) pd_sodium.crypto_sign_ed25519_verify_detached(__VA_ARGS__)
#define crypto_sign_keypair(...) pd_sodium.crypto_sign_keypair(__VA_ARGS__)
#define crypto_sign_seed_keypair(...) pd_sodium.crypto_sign_seed_keypair(__VA_ARGS__)
#define crypto_sign_verify_detached(...) pd_sodium.crypto_sign_verify_detached(__VA_ARGS__)
#define randombytes_buf(...) pd_sodium.randombytes_buf(__VA_ARGS__)
#define randombytes_random(...) pd_sodium.randombytes_random(__VA_ARGS__)
#define randombytes_uniform(...) pd_sodium.randombytes_uniform(__VA_ARGS__)
#define sodium_base642bin(...) pd_sodium.sodium_base642bin(__VA_ARGS__)
#define sodium_bin2base64(...) pd_sodium.sodium_bin2base64(__VA_ARGS__)
#define sodium_bin2hex(...) pd_sodium.sodium_bin2hex(__VA_ARGS__)
#define sodium_free(...) pd_sodium.sodium_free(__VA_ARGS__)
#define sodium_hex2bin(...) pd_sodium.sodium_hex2bin(__VA_ARGS__)
#define sodium_init(...) pd_sodium.sodium_init(__VA_ARGS__)
#define sodium_is_zero(...) pd_sodium.sodium_is_zero(__VA_ARGS__)
#define sodium_malloc(...) pd_sodium.sodium_malloc(__VA_ARGS__)
#define sodium_memcmp(...) pd_sodium.sodium_memcmp(__VA_ARGS__)
#define sodium_memzero(...) pd_sodium.sodium_memzero(__VA_ARGS__)

#endif /* PHLOEMD_SODIUMLIB_H */
