// SPDX-License-Identifier: GPL-2.0
/*
 * phloemctl identity [show|init|export-pub|rotate|enrol]: the gateway's
 * Ed25519 identity. The secret key is never printed.
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "phloemctl.h"

static const char usage[] =
	"Usage: phloemctl identity [show] [--json]\n"
	"       phloemctl identity init\n"
	"       phloemctl identity export-pub [--hex]\n"
	"       phloemctl identity rotate\n"
	"       phloemctl identity enrol --owner-key FILE\n"
	"Options: -d, --dir DIR   data directory (default $PHLOEM_DIR or " PHLOEM_DEFAULT_DIR ")\n";

/*
 * The chain id is the first key of the chain; after a rotation the key file
 * holds a newer key, and "chain.id" remembers the id.
 */
static int chain_id(const struct ledger_identity *id, uint8_t out[32])
{
	char text[LEDGER_KEYTEXT_SIZE + 2];
	FILE *f = fopen(phloem_path("chain.id"), "re");

	if (!f) {
		memcpy(out, id->pk, 32);
		return errno == ENOENT ? 0 : -errno;
	}
	if (!fgets(text, sizeof(text), f)) {
		fclose(f);
		return -EINVAL;
	}
	fclose(f);
	text[strcspn(text, "\n")] = '\0';
	return ledger_key_from_text(text, out) ? -EINVAL : 0;
}

static int write_chain_id(const uint8_t id[32])
{
	char text[LEDGER_KEYTEXT_SIZE], tmp[4096];
	FILE *f;

	ledger_key_to_text(id, text);
	snprintf(tmp, sizeof(tmp), "%s.new", phloem_path("chain.id"));
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%s\n", text);
	if (fflush(f) || fsync(fileno(f))) {
		fclose(f);
		return -errno;
	}
	fclose(f);
	return rename(tmp, phloem_path("chain.id")) ? -errno : 0;
}

static int cmd_init(void)
{
	struct ledger_identity *id;
	char text[LEDGER_KEYTEXT_SIZE];
	int ret;

	if (mkdir(phloem_dir(), 0700) && errno != EEXIST)
		return fail(-errno, "cannot create %s", phloem_dir());
	id = ledger_identity_new();
	if (!id)
		return fail(-errno, "cannot create identity");
	ret = ledger_identity_save(id, phloem_path("identity.key"), false);
	if (ret) {
		ledger_identity_free(id);
		if (ret == -EEXIST)
			return fail(ret, "identity %s already exists", phloem_path("identity.key"));
		return fail(ret, "cannot write %s", phloem_path("identity.key"));
	}
	ledger_key_to_text(id->pk, text);
	ledger_identity_free(id);
	printf("%s\n", text);
	return 0;
}

static int cmd_show(bool json, bool export_pub, bool hex)
{
	struct ledger_identity *id;
	char text[LEDGER_KEYTEXT_SIZE], buf[65];
	uint8_t cid[32];
	struct ledger_member m = { 0 };
	struct ledger *l = NULL;
	int ret;

	if (load_identity(&id))
		return 1;
	ret = chain_id(id, cid);
	if (ret) {
		ledger_identity_free(id);
		return fail(ret, "cannot read %s", phloem_path("chain.id"));
	}
	if (export_pub) {
		if (hex)
			hex_encode(id->pk, 32, buf);
		else
			ledger_key_to_text(id->pk, buf);
		printf("%s\n", buf);
		ledger_identity_free(id);
		return 0;
	}
	/* The ledger is optional here: a fresh gateway has only its key. */
	if (!access(phloem_path("ledger.db"), F_OK) &&
	    !ledger_open(phloem_path("ledger.db"), LEDGER_O_RDONLY, &l))
		ledger_get_member(l, cid, &m);
	if (json) {
		struct json j;

		json_begin(&j, stdout);
		json_obj(&j, NULL);
		json_keytext(&j, "public_key", id->pk);
		json_hex(&j, "public_key_hex", id->pk, 32);
		json_keytext(&j, "chain_id", cid);
		json_str(&j, "key_file", phloem_path("identity.key"));
		json_u64(&j, "head_seq", m.head_seq);
		json_i64(&j, "balance_wh", m.balance_wh);
		json_bool(&j, "flagged", m.flagged);
		json_close_obj(&j);
		json_end(&j);
	} else {
		ledger_key_to_text(id->pk, text);
		printf("public key:  %s\n", text);
		ledger_key_to_text(cid, text);
		printf("chain id:    %s\n", text);
		printf("key file:    %s\n", phloem_path("identity.key"));
		printf("chain head:  %llu\n", (unsigned long long)m.head_seq);
		printf("balance:     %lld Wh\n", (long long)m.balance_wh);
		if (m.flagged)
			printf("WARNING:     a fork of this chain has been seen\n");
	}
	ledger_close(l);
	ledger_identity_free(id);
	return 0;
}

/*
 * Rotation, crash-safe in this order: the new key is written beside the old
 * one, the rotation entry is committed, then the new key replaces the old.
 * A crash in between leaves identity.key.next, which a rerun picks up.
 */
static int cmd_rotate(void)
{
	struct ledger_identity *id, *next = NULL;
	struct ledger_entry e = { 0 };
	struct ledger_head h;
	struct ledger *l;
	char next_path[4096], text[LEDGER_KEYTEXT_SIZE];
	uint8_t cid[32];
	int ret;

	if (load_identity(&id))
		return 1;
	ret = chain_id(id, cid);
	if (ret) {
		ledger_identity_free(id);
		return fail(ret, "cannot read %s", phloem_path("chain.id"));
	}
	if (open_ledger(LEDGER_O_CREATE, &l)) {
		ledger_identity_free(id);
		return 1;
	}
	snprintf(next_path, sizeof(next_path), "%s.next", phloem_path("identity.key"));
	ret = ledger_get_head(l, cid, &h);
	if (ret)
		goto out_fail;
	ret = ledger_identity_load(next_path, &next);
	if (ret == 0 && !memcmp(next->pk, h.key, 32)) {
		/* Committed before a crash: finish the switch. */
		goto switch_key;
	}
	ledger_identity_free(next);
	next = ledger_identity_new();
	if (!next) {
		ret = -ENOMEM;
		goto out_fail;
	}
	ret = ledger_identity_save(next, next_path, true);
	if (ret)
		goto out_fail;
	memcpy(e.author, cid, 32);
	ledger_rotate_prepare(&e, next);
	ret = ledger_append(l, cid, id, &e, NULL);
	if (ret)
		goto out_fail;
switch_key:
	if (!memcmp(cid, id->pk, 32) && (ret = write_chain_id(cid)))
		goto out_fail;
	if (rename(next_path, phloem_path("identity.key"))) {
		ret = -errno;
		goto out_fail;
	}
	ledger_key_to_text(next->pk, text);
	printf("%s\n", text);
	ledger_identity_free(next);
	ledger_identity_free(id);
	ledger_close(l);
	return 0;
out_fail:
	ledger_identity_free(next);
	ledger_identity_free(id);
	ledger_close(l);
	return fail(ret, "cannot rotate the identity key");
}

static int cmd_enrol(const char *owner_path)
{
	struct ledger_identity *id, *owner;
	struct ledger_entry e = { 0 };
	struct ledger *l;
	uint8_t cid[32];
	int ret;

	ret = ledger_identity_load(owner_path, &owner);
	if (ret)
		return fail(ret, "cannot load owner key %s", owner_path);
	if (load_identity(&id)) {
		ledger_identity_free(owner);
		return 1;
	}
	ret = chain_id(id, cid);
	if (!ret && open_ledger(LEDGER_O_CREATE, &l))
		ret = -EIO;
	if (!ret) {
		memcpy(e.author, cid, 32);
		ledger_enrol_prepare(&e, owner);
		ret = ledger_append(l, cid, id, &e, NULL);
		ledger_close(l);
	}
	ledger_identity_free(owner);
	ledger_identity_free(id);
	return ret ? fail(ret, "cannot record the enrolment") : 0;
}

int identity_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "hex", no_argument, NULL, 'x' },
		{ "owner-key", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *cmd = "show", *owner = NULL;
	bool json = false, hex = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:jxo:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': phloem_dir_opt = optarg; break;
		case 'j': json = true; break;
		case 'x': hex = true; break;
		case 'o': owner = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind < argc)
		cmd = argv[optind++];
	if (optind < argc)
		return usage_error("identity %s: unexpected argument `%s'", cmd, argv[optind]);
	if (!strcmp(cmd, "show"))
		return cmd_show(json, false, false);
	if (!strcmp(cmd, "export-pub"))
		return cmd_show(false, true, hex);
	if (!strcmp(cmd, "init"))
		return cmd_init();
	if (!strcmp(cmd, "rotate"))
		return cmd_rotate();
	if (!strcmp(cmd, "enrol")) {
		if (!owner)
			return usage_error("identity enrol: --owner-key FILE is required");
		return cmd_enrol(owner);
	}
	return usage_error("identity: unknown command `%s' (try --help)", cmd);
}
