/* test-store-listhead.c - store_msg_list_load_head: the head SELECT answers
 * from (EXISTS, UNSEEN, UIDNEXT, UIDVALIDITY, HIGHESTMODSEQ) comes from the
 * same read snapshot as the list that follows it, even while another
 * connection commits in between. */
#include <sqlite3.h>

#include "test-store-util.h"

/* A second SQLite connection to alice's database, as another process
 * (roost deliver) would have. */
static int db_exec(const char *sql)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/users/alice/store.db", tsu_dir);
	sqlite3 *db;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(db, 5000);
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 1 : -1;
}

struct head_rec {
	unsigned calls;
	struct store_msg_list_head head;
	const char *sql_in_cb; /* committed by another connection from inside the callback */
	int sql_ret;
};

static void record_head(void *ctx, const struct store_msg_list_head *head)
{
	struct head_rec *r = ctx;
	r->calls++;
	r->head = *head;
	if (r->sql_in_cb != NULL)
		r->sql_ret = db_exec(r->sql_in_cb);
}

static const char MSG[] = "From: a@example.com\nSubject: hi\n\nbody\n";

TEST(head_matches_list_and_names_first_unseen)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	CHECK(tsu_append(u, inbox, MSG, STORE_FLAG_SEEN, NULL) == 1);
	CHECK(tsu_append(u, inbox, MSG, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED, "$A") == 2);
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 3);
	CHECK(tsu_append(u, inbox, MSG, STORE_FLAG_SEEN, NULL) == 4);
	CHECK(tsu_append(u, inbox, MSG, 0, "$B") == 5);

	struct head_rec r = { 0 };
	struct store_msg_list *l = NULL;
	CHECK(store_msg_list_load_head(u, inbox, true, record_head, &r, &l) == 1);
	CHECK(r.calls == 1);
	CHECK(r.head.count == 5 && l->count == 5);
	CHECK(r.head.unseen == 2);
	CHECK(r.head.first_unseen == 3);
	CHECK(r.head.uidnext == 6 && r.head.uidnext == l->uidnext);
	CHECK(r.head.uidvalidity == l->uidvalidity && r.head.uidvalidity != 0);
	CHECK(r.head.highestmodseq == l->highestmodseq);
	CHECK_STREQ(store_msg_keywords(l, &l->msgs[1]), "$A");
	store_msg_list_free(&l);

	/* Not asked for: the head comes right after the mailbox row. */
	memset(&r, 0, sizeof(r));
	CHECK(store_msg_list_load_head(u, inbox, false, record_head, &r, &l) == 1);
	CHECK(r.calls == 1 && r.head.first_unseen == 0 && r.head.count == 5);
	store_msg_list_free(&l);

	/* Everything seen: no first unseen. */
	struct store_uid_range range;
	struct store_uidset all = tsu_range(&range, 1, 5);
	struct store_flags_result fr;
	CHECK(store_flags_change(u, inbox, &all, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0, &fr) ==
	      1);
	store_flags_result_free(&fr);
	memset(&r, 0, sizeof(r));
	CHECK(store_msg_list_load_head(u, inbox, true, record_head, &r, &l) == 1);
	CHECK(r.calls == 1 && r.head.unseen == 0 && r.head.first_unseen == 0);
	CHECK(r.head.highestmodseq == l->highestmodseq);
	store_msg_list_free(&l);

	/* An empty mailbox. */
	uint64_t empty;
	CHECK(store_mailbox_create(u, "Empty", 0, &empty) == 1);
	memset(&r, 0, sizeof(r));
	CHECK(store_msg_list_load_head(u, empty, true, record_head, &r, &l) == 1);
	CHECK(r.calls == 1 && r.head.count == 0 && l->count == 0 && r.head.uidnext == 1);
	store_msg_list_free(&l);
	tsu_teardown(&u);
}

/* Another connection appends a message (row, counters, UIDNEXT, modseq)
 * while the head is being handed over: the list that follows is still the
 * mailbox the head described, and the next load sees the new message. */
TEST(head_and_list_are_one_snapshot)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	for (int i = 0; i < 3; i++)
		CHECK(tsu_append(u, inbox, MSG, 0, NULL) == (uint32_t)i + 1);
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "BEGIN IMMEDIATE;"
		 "INSERT INTO message (mailbox_id, uid, blob_id, modseq, flags, keywords,"
		 " internal_date, tz, size, savedate) SELECT %llu, uidnext, 1, highestmodseq + 1,"
		 " 0, NULL, 1700000000, 0, 10, 0 FROM mailbox WHERE id = %llu;"
		 "UPDATE mailbox SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1,"
		 " messages = messages + 1, unseen = unseen + 1 WHERE id = %llu;"
		 "UPDATE blob SET refs = refs + 1 WHERE id = 1;"
		 "COMMIT;",
		 (unsigned long long)inbox, (unsigned long long)inbox, (unsigned long long)inbox);

	struct head_rec r = { .sql_in_cb = sql };
	struct store_msg_list *l = NULL;
	CHECK(store_msg_list_load_head(u, inbox, false, record_head, &r, &l) == 1);
	CHECK(r.calls == 1 && r.sql_ret == 1); /* the other connection committed */
	CHECK(r.head.count == 3 && l->count == 3);
	CHECK(l->msgs[2].uid == 3 && l->uidnext == 4 && r.head.uidnext == 4);
	CHECK(l->highestmodseq == r.head.highestmodseq);
	uint64_t hms = l->highestmodseq;
	store_msg_list_free(&l);

	/* The change is there for the next reader (the session's sync). */
	CHECK(store_msg_list_load(u, inbox, &l) == 1);
	CHECK(l->count == 4 && l->msgs[3].uid == 4 && l->highestmodseq == hms + 1);
	store_msg_list_free(&l);
	struct store_changes *ch = NULL;
	CHECK(store_changes_since(u, inbox, hms, &ch) == 1);
	CHECK(ch->changed.count == 1 && ch->changed.msgs[0].uid == 4);
	store_changes_free(&ch);
	tsu_teardown(&u);
}

/* 20,000 rows; the first unseen message deep inside. */
TEST(big_list_head_first_unseen_deep)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	CHECK(tsu_append(u, inbox, MSG, STORE_FLAG_SEEN, NULL) == 1);
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
		 " INSERT INTO message (mailbox_id, uid, blob_id, modseq, flags, keywords,"
		 " internal_date, tz, size, savedate)"
		 " SELECT %llu, i * 2, 1, i + 1, CASE WHEN i >= 12345 THEN 0 ELSE 1 END,"
		 " NULL, 1700000000 + i, 0, 40, 0 FROM n;"
		 "UPDATE mailbox SET uidnext = 40001, highestmodseq = 20001, messages = 20000,"
		 " unseen = 7656 WHERE id = %llu;"
		 "UPDATE blob SET refs = 20000 WHERE id = 1;",
		 (unsigned long long)inbox, (unsigned long long)inbox);
	CHECK(db_exec(sql) == 1);
	struct head_rec r = { 0 };
	struct store_msg_list *l = NULL;
	CHECK(store_msg_list_load_head(u, inbox, true, record_head, &r, &l) == 1);
	CHECK(r.calls == 1);
	CHECK(r.head.count == 20000 && l->count == 20000);
	CHECK(r.head.first_unseen == 12345); /* uid 24690, the row of i = 12345 */
	CHECK(l->msgs[12344].uid == 24690 && (l->msgs[12344].flags & STORE_FLAG_SEEN) == 0);
	CHECK((l->msgs[12343].flags & STORE_FLAG_SEEN) != 0);
	CHECK(r.head.uidnext == 40001 && r.head.highestmodseq == 20001);
	store_msg_list_free(&l);
	tsu_teardown(&u);
}

/* EXISTS is told from the counter before the rows are read: a counter
 * that disagrees with the rows fails the load (fsck repairs it). */
TEST(counter_mismatch_is_corrupt)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 1);
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 2);
	CHECK(db_exec("UPDATE mailbox SET messages = 3 WHERE name = 'INBOX'") == 1);
	struct head_rec r = { 0 };
	struct store_msg_list *l = NULL;
	CHECK(store_msg_list_load_head(u, inbox, true, record_head, &r, &l) == -1);
	CHECK(store_error(NULL) == STORE_ERR_CORRUPT);
	CHECK(l == NULL);
	CHECK(r.calls == 1 && r.head.count == 3);
	/* The plain load does not depend on the counter. */
	CHECK(store_msg_list_load(u, inbox, &l) == 1 && l->count == 2);
	store_msg_list_free(&l);
	struct store_fsck_report rep;
	store_user_unref(&u);
	CHECK(store_fsck("alice", &rep, NULL, NULL) == 1);
	CHECK(store_user_open("alice", &u) == 1);
	memset(&r, 0, sizeof(r));
	CHECK(store_msg_list_load_head(u, inbox, true, record_head, &r, &l) == 1);
	CHECK(r.head.count == 2 && l->count == 2 && r.head.first_unseen == 1);
	store_msg_list_free(&l);
	tsu_teardown(&u);
}

/* Errors before the snapshot: the callback is never called. */
TEST(no_head_for_missing_or_noselect_mailbox)
{
	struct store_user *u = tsu_setup();
	struct head_rec r = { 0 };
	struct store_msg_list *l = NULL;
	CHECK(store_msg_list_load_head(u, 999999, true, record_head, &r, &l) == -1);
	CHECK(store_error(NULL) == STORE_ERR_NONEXISTENT);
	CHECK(r.calls == 0 && l == NULL);
	/* A parent with children that was deleted becomes \Noselect. */
	CHECK(store_mailbox_create(u, "P/child", 0, NULL) == 1);
	CHECK(store_mailbox_delete(u, "P") == 1);
	uint64_t parent = tsu_mailbox(u, "P");
	CHECK(parent != 0);
	CHECK(store_msg_list_load_head(u, parent, true, record_head, &r, &l) == -1);
	CHECK(store_error(NULL) == STORE_ERR_NOPERM);
	CHECK(r.calls == 0 && l == NULL);
	tsu_teardown(&u);
}

UNIT_MAIN()
