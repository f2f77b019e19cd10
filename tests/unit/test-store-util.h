/* test-store-util.h - helpers shared by the store's unit tests: a fresh
 * data_dir per test, a user, and one-call appends. */
#ifndef ROOST_TEST_STORE_UTIL_H
#define ROOST_TEST_STORE_UTIL_H

#include <ftw.h>
#include <sqlite3.h>
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

/* The integer a one-row query gives on alice's database file `file`
 * ("store.db", "search.db"); -1 when there is none. */
static inline int64_t tsu_db_int(const char *file, const char *sql)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/users/alice/%s", tsu_dir, file);
	sqlite3 *db = NULL;
	int64_t v = -1;
	if (access(path, F_OK) == 0 && sqlite3_open(path, &db) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				v = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
	}
	sqlite3_close(db);
	return v;
}

/* A message too large to be kept in the database: stored as a file. */
static inline const char *tsu_big_msg(void)
{
	static char text[3 * STORE_BLOB_INLINE_MAX];
	if (text[0] == '\0') {
		size_t n = (size_t)snprintf(text, sizeof(text), "From: a@example.com\r\n"
							       "Subject: big\r\n\r\n");
		while (n + 80 < sizeof(text)) {
			memset(text + n, 'a' + (char)(n % 26), 76);
			memcpy(text + n + 76, "\r\n", 2);
			n += 78;
		}
		text[n] = '\0';
	}
	return text;
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
