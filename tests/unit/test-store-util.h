/* test-store-util.h - helpers shared by the store's unit tests: a fresh
 * data_dir per test, a user, and one-call appends. */
#ifndef ROOST_TEST_STORE_UTIL_H
#define ROOST_TEST_STORE_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "unit.h"

static char tsu_dir[256];

static int tsu_rm(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

/* A new data_dir with store_init done and user "alice" created and open. */
static inline struct store_user *tsu_setup(void)
{
	char err[256];
	snprintf(tsu_dir, sizeof(tsu_dir), "/tmp/roost-store-test.XXXXXX");
	if (mkdtemp(tsu_dir) == NULL)
		return NULL;
	if (store_init(tsu_dir, err, sizeof(err)) < 0) {
		fprintf(stderr, "store_init: %s\n", err);
		return NULL;
	}
	struct store_user *u = NULL;
	if (store_user_create("alice") < 0 || store_user_open("alice", &u) < 0)
		return NULL;
	return u;
}

static inline void tsu_teardown(struct store_user **u)
{
	store_user_unref(u);
	store_deinit();
	nftw(tsu_dir, tsu_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static inline uint64_t tsu_mailbox(struct store_user *u, const char *name)
{
	struct store_mailbox_info info;
	char buf[STORE_MAILBOX_NAME_MAX + 1];
	if (store_mailbox_lookup(u, name, &info, buf) <= 0)
		return 0;
	return info.id;
}

/* Appends text with LF->CRLF; returns the UID or 0. */
static inline uint32_t tsu_append(struct store_user *u, uint64_t mailbox_id, const char *text,
				  uint8_t flags, const char *keywords)
{
	struct store_blob *b;
	if (store_blob_begin(u, true, &b) < 0)
		return 0;
	if (store_blob_write(b, text, strlen(text)) < 0) {
		store_blob_abort(&b);
		return 0;
	}
	struct store_append_req req = { .flags = flags, .keywords = keywords,
					.internal_date = 1700000000, .tz_minutes = 480 };
	uint32_t uid = 0, uv = 0;
	if (store_append(u, mailbox_id, &b, &req, &uid, &uv) < 0)
		return 0;
	return uid;
}

static inline struct store_uidset tsu_range(struct store_uid_range *r, uint32_t first,
					    uint32_t last)
{
	r->first = first;
	r->last = last;
	return (struct store_uidset){ r, 1 };
}

#endif
