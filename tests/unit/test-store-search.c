/* Unit tests for the store's search index: roostd's indexer thread indexes
 * appended mail by itself, and starts the index over once the rows of
 * expunged messages outnumber the live ones; indexers running at once
 * (SEARCHes, fsck) never index a message twice or fail. */
#include <pthread.h>
#include <sqlite3.h>
#include <time.h>

#include "test-store-util.h"

static int64_t state_value(const char *column)
{
	char sql[100];
	snprintf(sql, sizeof(sql), "SELECT %s FROM search_state", column);
	return tsu_db_int("search.db", sql);
}

/* Waits up to 15 s for search_state.docs to become `docs`. */
static bool wait_docs(int64_t docs)
{
	for (int i = 0; i < 150; i++) {
		if (state_value("docs") == docs)
			return true;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return false;
}

static void append_many(struct store_user *u, uint64_t mailbox_id, unsigned n)
{
	struct store_blob *blobs[100];
	struct store_append_req reqs[100];
	uint32_t uids[100], uv;
	for (unsigned done = 0; done < n;) {
		unsigned k = n - done < 100 ? n - done : 100;
		for (unsigned i = 0; i < k; i++) {
			char text[200];
			snprintf(text, sizeof(text), "Subject: number %u\r\n\r\nwombat %u\r\n", done + i,
				 done + i);
			CHECK(store_blob_begin(u, true, &blobs[i]) == 1);
			CHECK(store_blob_write(blobs[i], text, strlen(text)) == 1);
			reqs[i] = (struct store_append_req){0};
		}
		CHECK(store_append_multi(u, mailbox_id, blobs, reqs, k, uids, &uv) == 1);
		done += k;
	}
}

TEST(indexer_thread_indexes_and_compacts)
{
	struct store_user *u = tsu_setup();
	CHECK(u != NULL);
	char err[200];
	CHECK(store_notify_listen(err, sizeof(err)) == 1);
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	append_many(u, inbox, 1100);
	/* No search: the thread indexes 2 s after the appends stop. */
	CHECK(wait_docs(1100));
	CHECK(state_value("upto") >= 1100);

	CHECK(store_expunge(u, inbox, NULL, false, NULL) == 1);
	append_many(u, inbox, 3);
	/* 1,103 rows for 3 live messages: the index starts over. */
	CHECK(wait_docs(3));
	struct store_search_hits h;
	CHECK(store_search_find(u, STORE_SEARCH_SUBJECT, "number ", 7, &h) == 1);
	CHECK(h.exact && h.count == 3);
	store_search_hits_free(&h);
	/* the expunged ones are gone; the live one is a BODY candidate */
	CHECK(store_search_find(u, STORE_SEARCH_SUBJECT, "number 110", 10, &h) == 1);
	CHECK(h.count == 0);
	store_search_hits_free(&h);
	CHECK(store_search_find(u, STORE_SEARCH_SUBJECT, "number 1099", 11, &h) == 1);
	CHECK(h.count == 0);
	store_search_hits_free(&h);
	CHECK(store_search_find(u, STORE_SEARCH_BODY, "wombat 2", 8, &h) == 1);
	CHECK(!h.exact && h.count == 1);
	store_search_hits_free(&h);
	tsu_teardown(&u);
}

static struct store_user *shared_user;

static void *update_thread(void *arg)
{
	bool caught_up = false;
	int *ok = arg;
	*ok = store_search_update(shared_user, 0, &caught_up) == 1 && caught_up;
	return NULL;
}

static void *fsck_thread(void *arg)
{
	struct store_fsck_report rep;
	int *ok = arg;
	*ok = store_fsck("alice", &rep, NULL, NULL) >= 0;
	return NULL;
}

TEST(concurrent_indexers_agree)
{
	struct store_user *u = tsu_setup();
	CHECK(u != NULL);
	shared_user = u;
	append_many(u, tsu_mailbox(u, "INBOX"), 700);
	pthread_t t[4];
	int ok[4] = {0};
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, i == 2 ? fsck_thread : update_thread, &ok[i]) == 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK(ok[i]);
	}
	CHECK(state_value("docs") == 700);
	CHECK(state_value("upto") == 700);
	struct store_search_hits h;
	CHECK(store_search_find(u, STORE_SEARCH_SUBJECT, "number 69", 9, &h) == 1);
	CHECK(h.exact && h.count == 11); /* 69, 690..699 */
	store_search_hits_free(&h);
	tsu_teardown(&u);
}

UNIT_MAIN()
