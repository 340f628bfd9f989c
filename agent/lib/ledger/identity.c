// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Gateway identities: Ed25519 key pairs, their key files and the short,
 * checksummed text form people read and type.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ledger.h"

#define KEYTEXT_PREFIX	"phl1"
#define KEYTEXT_CSUM	4
static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

static int sodium_ready(void)
{
	/* sodium_init() is idempotent and thread-safe; -1 only on a broken RNG. */
	return sodium_init() < 0 ? -EIO : 0;
}

static struct ledger_identity *identity_alloc(void)
{
	struct ledger_identity *id;

	if (sodium_ready())
		return NULL;
	/* Guarded, mlocked and wiped by sodium_free(): the secret key never
	 * reaches swap or a core dump's neighbour allocation. */
	id = sodium_malloc(sizeof(*id));
	if (!id)
		errno = ENOMEM;
	return id;
}

struct ledger_identity *ledger_identity_new(void)
{
	struct ledger_identity *id = identity_alloc();

	if (id)
		crypto_sign_keypair(id->pk, id->sk);
	return id;
}

struct ledger_identity *ledger_identity_from_seed(const uint8_t seed[LEDGER_SEED_BYTES])
{
	struct ledger_identity *id = identity_alloc();

	if (id)
		crypto_sign_seed_keypair(id->pk, id->sk, seed);
	return id;
}

void ledger_identity_free(struct ledger_identity *id)
{
	if (id)
		sodium_free(id);
}

static int fsync_dir_of(const char *path)
{
	char tmp[PATH_MAX];
	int dfd, ret = 0;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	dfd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd))
		ret = -errno;
	close(dfd);
	return ret;
}

int ledger_identity_save(const struct ledger_identity *id, const char *path, bool replace)
{
	char tmp[PATH_MAX];
	uint8_t seed[LEDGER_SEED_BYTES];
	ssize_t n;
	int fd, ret = 0;

	if (!replace && access(path, F_OK) == 0)
		return -EEXIST;
	if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	/* A stale .new from a crash before rename holds no committed identity. */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	crypto_sign_ed25519_sk_to_seed(seed, id->sk);
	n = write(fd, seed, sizeof(seed));
	sodium_memzero(seed, sizeof(seed));
	if (n != (ssize_t)sizeof(seed))
		ret = n < 0 ? -errno : -EIO;
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret) {
		/* link() fails if someone created @path meanwhile; rename() replaces. */
		if (replace ? rename(tmp, path) : link(tmp, path))
			ret = -errno;
	}
	if (ret || !replace)
		unlink(tmp);
	if (!ret)
		ret = fsync_dir_of(path);
	return ret;
}

int ledger_identity_load(const char *path, struct ledger_identity **out)
{
	uint8_t seed[LEDGER_SEED_BYTES + 1];
	struct ledger_identity *id;
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	/* As ssh does: a secret others could read is no longer a secret. */
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		return -EPERM;
	}
	n = read(fd, seed, sizeof(seed));
	close(fd);
	if (n != LEDGER_SEED_BYTES) {
		sodium_memzero(seed, sizeof(seed));
		return n < 0 ? -errno : -EINVAL;
	}
	id = ledger_identity_from_seed(seed);
	sodium_memzero(seed, sizeof(seed));
	if (!id)
		return -ENOMEM;
	*out = id;
	return 0;
}

static void keytext_csum(const uint8_t key[LEDGER_KEY_BYTES], uint8_t out[KEYTEXT_CSUM])
{
	uint8_t h[crypto_generichash_BYTES_MIN];
	crypto_generichash_state st;

	/* The prefix is hashed too, so a key of another scheme or version
	 * never passes for one of ours. */
	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const uint8_t *)KEYTEXT_PREFIX, 4);
	crypto_generichash_update(&st, key, LEDGER_KEY_BYTES);
	crypto_generichash_final(&st, h, sizeof(h));
	memcpy(out, h, KEYTEXT_CSUM);
}

void ledger_key_to_text(const uint8_t key[LEDGER_KEY_BYTES], char *out)
{
	uint8_t raw[LEDGER_KEY_BYTES + KEYTEXT_CSUM];
	unsigned int acc = 0, bits = 0;
	size_t i, o = 4;

	memcpy(raw, key, LEDGER_KEY_BYTES);
	keytext_csum(key, raw + LEDGER_KEY_BYTES);
	memcpy(out, KEYTEXT_PREFIX, 4);
	for (i = 0; i < sizeof(raw); i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32_alphabet[(acc >> bits) & 31];
		}
	}
	if (bits)
		out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
	out[o] = '\0';
}

int ledger_key_from_text(const char *text, uint8_t key[LEDGER_KEY_BYTES])
{
	uint8_t raw[LEDGER_KEY_BYTES + KEYTEXT_CSUM], csum[KEYTEXT_CSUM];
	unsigned int acc = 0, bits = 0;
	size_t i, o = 0;

	if (sodium_ready())
		return -EIO;
	if (strlen(text) != LEDGER_KEYTEXT_LEN || strncasecmp(text, KEYTEXT_PREFIX, 4))
		return LEDGER_E_KEYTEXT;
	for (i = 4; i < LEDGER_KEYTEXT_LEN; i++) {
		char c = text[i];
		unsigned int v;

		if (c >= 'a' && c <= 'z')
			v = c - 'a';
		else if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= '2' && c <= '7')
			v = c - '2' + 26;
		else
			return LEDGER_E_KEYTEXT;
		acc = (acc << 5) | v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			raw[o++] = (acc >> bits) & 0xff;
		}
	}
	/* 58 characters carry 290 bits: the last 2 must be zero, or two texts
	 * would name one key. */
	if (o != sizeof(raw) || (acc & ((1u << bits) - 1)))
		return LEDGER_E_KEYTEXT;
	keytext_csum(raw, csum);
	if (sodium_memcmp(csum, raw + LEDGER_KEY_BYTES, KEYTEXT_CSUM))
		return LEDGER_E_KEYTEXT;
	memcpy(key, raw, LEDGER_KEY_BYTES);
	return 0;
}
