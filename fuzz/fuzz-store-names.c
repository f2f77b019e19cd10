/* fuzz-store-names.c - the store's checks of client-supplied names:
 * mailbox names (UTF-8 validation, INBOX folding, hierarchy rules) via
 * store_mailbox_lookup, which validates and then queries, and keyword
 * strings via store_keyword_valid. The input is split at the first NUL:
 * a mailbox name, then a keyword. Read-only, so no fsync slows it down.
 * Invariants: a name accepted once is accepted again in its canonical
 * form with the same canonical result. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

static struct store_user *user;
static char dir[] = "/tmp/roost-fuzz-store.XXXXXX";

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static void cleanup(void)
{
	store_user_unref(&user);
	store_deinit();
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	char err[256];
	if (mkdtemp(dir) == NULL || store_init(dir, err, sizeof(err)) < 0 ||
	    store_user_create("fuzz") < 0 || store_user_open("fuzz", &user) < 0 ||
	    store_mailbox_create(user, "a/b", 0, NULL) < 0) {
		fprintf(stderr, "fuzz-store-names: setup failed\n");
		abort();
	}
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (user == NULL)
		setup();
	if (size > 4 * STORE_MAILBOX_NAME_MAX)
		return 0;
	char *name = malloc(size + 1);
	if (name == NULL)
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	size_t nlen = strlen(name);
	const char *kw = nlen < size ? name + nlen + 1 : "";

	struct store_mailbox_info info;
	char canon[STORE_MAILBOX_NAME_MAX + 1], again[STORE_MAILBOX_NAME_MAX + 1];
	int r = store_mailbox_lookup(user, name, &info, canon);
	if (r >= 0) {
		/* The canonical form is itself valid and canonical. */
		if (store_mailbox_lookup(user, canon, &info, again) < 0 ||
		    strcmp(canon, again) != 0)
			abort();
		if (strlen(canon) != nlen)
			abort();
	}
	(void)store_keyword_valid(kw, strlen(kw));
	free(name);
	return 0;
}
