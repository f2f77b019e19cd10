/* test-store-listsnap.c - list snapshots (src/store/sqlite-listsnap.c):
 * a big mailbox's list is written to users/<key>/cache/list-<id> after a
 * load that read its rows, the next load reads it back plus the changes
 * since, and every list that comes out is the same, byte for byte, as a
 * load of the same state with snapshots off. Damaged, foreign or
 * future snapshots are detected, removed and never used. */
#include <sqlite3.h>
#include <sys/stat.h>
#include <zlib.h>

#include "lib/config.h"
#include "store/sqlite-listsnap.h"
#include "test-store-util.h"

#define BIG 600
#define MIN 100

static const char MSG[] = "From: a@example.com\nSubject: hi\n\nbody\n";

static int db_exec(const char *sql)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/users/alice/store.db", tsu_dir);
	sqlite3 *db;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(db, 5000);
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fprintf(stderr, "  sql: %s\n", err ? err : "?");
	sqlite3_free(err);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 1 : -1;
}

static void snap_path(uint64_t box, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/users/alice/cache/list-%llu", tsu_dir, (unsigned long long)box);
}

static bool snap_exists(uint64_t box)
{
	char p[512];
	struct stat st;
	snap_path(box, p, sizeof(p));
	return stat(p, &st) == 0;
}

static struct store_user *setup(void)
{
	roost_config = config_new_defaults();
	if (roost_config == NULL)
		return NULL;
	roost_config->store_list_snapshot_min = MIN;
	return tsu_setup();
}

static void teardown(struct store_user **u)
{
	tsu_teardown(u);
	config_free(&roost_config);
}

/* Fills mailbox box with n messages: one real append, then rows sharing
 * its file written straight into the database (every 7th \Seen, every
 * 11th $A, every 13th "$A $B", every 17th \Deleted), with counters, blob
 * refs and quota recomputed as fsck would. */
static void fill(struct store_user *u, uint64_t box, unsigned n)
{
	CHECK(tsu_append(u, box, MSG, 0, NULL) > 0);
	char sql[2048];
	snprintf(sql, sizeof(sql),
		 "BEGIN IMMEDIATE;"
		 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %u)"
		 " INSERT INTO message (mailbox_id, uid, blob_id, modseq, flags, keywords,"
		 " internal_date, tz, size, savedate)"
		 " SELECT %llu, m.uidnext + i - 1, (SELECT blob_id FROM message WHERE mailbox_id = %llu"
		 " LIMIT 1), m.highestmodseq + i,"
		 " (CASE WHEN i %% 7 = 0 THEN 1 ELSE 0 END) | (CASE WHEN i %% 17 = 0 THEN 8 ELSE 0 END),"
		 " CASE WHEN i %% 13 = 0 THEN '$A $B' WHEN i %% 11 = 0 THEN '$A' ELSE NULL END,"
		 " 1700000000 + i, 60, 100 + i %% 50, 0 FROM n, mailbox m WHERE m.id = %llu;"
		 "UPDATE mailbox SET uidnext = (SELECT max(uid) + 1 FROM message WHERE mailbox_id = id),"
		 " highestmodseq = (SELECT max(modseq) FROM message WHERE mailbox_id = id),"
		 " messages = (SELECT count(*) FROM message WHERE mailbox_id = id),"
		 " unseen = (SELECT count(*) FROM message WHERE mailbox_id = id AND flags & 1 = 0),"
		 " deleted = (SELECT count(*) FROM message WHERE mailbox_id = id AND flags & 8 != 0),"
		 " size = (SELECT sum(size) FROM message WHERE mailbox_id = id) WHERE id = %llu;"
		 "UPDATE blob SET refs = (SELECT count(*) FROM message WHERE blob_id = blob.id);"
		 "UPDATE account SET messages_used = (SELECT count(*) FROM message),"
		 " bytes_used = (SELECT sum(size) FROM message);"
		 "COMMIT;",
		 n - 1, (unsigned long long)box, (unsigned long long)box, (unsigned long long)box,
		 (unsigned long long)box);
	CHECK(db_exec(sql) == 1);
}

/* The list as a load with snapshots off gives it. */
static struct store_msg_list *load_plain(struct store_user *u, uint64_t box)
{
	unsigned saved = roost_config->store_list_snapshot_min;
	roost_config->store_list_snapshot_min = 0;
	struct store_msg_list *l = NULL;
	CHECK(store_msg_list_load(u, box, &l) == 1);
	roost_config->store_list_snapshot_min = saved;
	return l;
}

static bool lists_equal(const struct store_msg_list *a, const struct store_msg_list *b)
{
	if (a == NULL || b == NULL || a->count != b->count || a->uidvalidity != b->uidvalidity ||
	    a->uidnext != b->uidnext || a->highestmodseq != b->highestmodseq ||
	    a->kwset_count != b->kwset_count)
		return false;
	if (a->count > 0 && memcmp(a->msgs, b->msgs, a->count * sizeof(*a->msgs)) != 0) {
		for (uint32_t i = 0; i < a->count; i++)
			if (memcmp(&a->msgs[i], &b->msgs[i], sizeof(a->msgs[i])) != 0) {
				fprintf(stderr, "  first difference at %u: uid %u/%u kwset %u/%u"
					" flags %u/%u modseq %llu/%llu\n", i, a->msgs[i].uid,
					b->msgs[i].uid, a->msgs[i].kwset, b->msgs[i].kwset,
					a->msgs[i].flags, b->msgs[i].flags,
					(unsigned long long)a->msgs[i].modseq,
					(unsigned long long)b->msgs[i].modseq);
				break;
			}
		return false;
	}
	for (uint32_t i = 0; i < a->kwset_count; i++)
		if (strcmp(a->kwsets[i], b->kwsets[i]) != 0)
			return false;
	return true;
}

/* Loads with snapshots on and checks the result against a plain load;
 * returns how many loads were answered from a snapshot meanwhile. */
static unsigned load_and_compare(struct store_user *u, uint64_t box)
{
	unsigned merged = atomic_load(&sq_listsnap_stats.merged);
	struct store_msg_list *l = NULL, *plain = NULL;
	CHECK(store_msg_list_load(u, box, &l) == 1);
	merged = atomic_load(&sq_listsnap_stats.merged) - merged;
	plain = load_plain(u, box);
	CHECK(lists_equal(l, plain));
	store_msg_list_free(&l);
	store_msg_list_free(&plain);
	return merged;
}

static struct store_flags_result flags(struct store_user *u, uint64_t box, uint32_t first,
				       uint32_t last, enum store_flags_op op, uint8_t f,
				       const char *kw)
{
	struct store_uid_range r;
	struct store_uidset set = tsu_range(&r, first, last);
	struct store_flags_result res = { 0 };
	CHECK(store_flags_change(u, box, &set, op, f, kw, 0, &res) == 1);
	return res;
}

static void set_flags(struct store_user *u, uint64_t box, uint32_t first, uint32_t last,
		      enum store_flags_op op, uint8_t f, const char *kw)
{
	struct store_flags_result res = flags(u, box, first, last, op, f, kw);
	store_flags_result_free(&res);
}

static void expunge(struct store_user *u, uint64_t box, uint32_t first, uint32_t last)
{
	struct store_uid_range r;
	struct store_uidset set = tsu_range(&r, first, last);
	struct store_uid_array gone = { 0 };
	CHECK(store_expunge(u, box, &set, false, &gone) == 1);
	CHECK(gone.count > 0);
	store_uid_array_free(&gone);
}

TEST(snapshot_written_after_a_full_load_and_used_next)
{
	struct store_user *u = setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	fill(u, inbox, BIG);
	unsigned written = atomic_load(&sq_listsnap_stats.written);
	CHECK(!snap_exists(inbox));
	CHECK(load_and_compare(u, inbox) == 0);
	CHECK(atomic_load(&sq_listsnap_stats.written) == written + 1);
	CHECK(snap_exists(inbox));
	/* Unchanged mailbox: the snapshot alone, not written again. */
	CHECK(load_and_compare(u, inbox) == 1);
	CHECK(atomic_load(&sq_listsnap_stats.written) == written + 1);

	/* A mailbox under the threshold never gets one. */
	uint64_t small;
	CHECK(store_mailbox_create(u, "Small", 0, &small) == 1);
	fill(u, small, MIN - 1);
	CHECK(load_and_compare(u, small) == 0);
	CHECK(!snap_exists(small));
	/* Snapshots off: none read and none written. */
	roost_config->store_list_snapshot_min = 0;
	unsigned reads = atomic_load(&sq_listsnap_stats.reads);
	struct store_msg_list *l = NULL;
	CHECK(store_msg_list_load(u, inbox, &l) == 1);
	CHECK(atomic_load(&sq_listsnap_stats.reads) == reads);
	store_msg_list_free(&l);
	teardown(&u);
}

TEST(delta_merge_equals_a_full_load)
{
	struct store_user *u = setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX"), other;
	CHECK(store_mailbox_create(u, "Other", 0, &other) == 1);
	fill(u, inbox, BIG);
	CHECK(load_and_compare(u, inbox) == 0); /* writes the snapshot */
	CHECK(snap_exists(inbox));

	/* System flags. */
	set_flags(u, inbox, 10, 40, STORE_FLAGS_ADD, STORE_FLAG_FLAGGED | STORE_FLAG_SEEN, NULL);
	CHECK(load_and_compare(u, inbox) == 1);
	/* Keywords: a set that exists, new sets, and the last user of a set
	 * losing it (that set must vanish from kwsets, as in a full load). */
	set_flags(u, inbox, 50, 60, STORE_FLAGS_ADD, 0, "$A");
	set_flags(u, inbox, 70, 71, STORE_FLAGS_REPLACE, 0, "$Brand $New");
	set_flags(u, inbox, 1, BIG, STORE_FLAGS_REMOVE, 0, "$B");
	CHECK(load_and_compare(u, inbox) == 1);
	/* Expunges: the first, one in the middle, the last. */
	expunge(u, inbox, 1, 1);
	expunge(u, inbox, 300, 310);
	expunge(u, inbox, BIG, BIG);
	CHECK(load_and_compare(u, inbox) == 1);
	/* New messages: appended, copied within the mailbox, moved in. */
	CHECK(tsu_append(u, inbox, MSG, STORE_FLAG_SEEN, "$Fresh") == BIG + 1);
	struct store_uid_range r;
	struct store_uidset set = tsu_range(&r, 100, 120);
	struct store_copy_result cr = { 0 };
	CHECK(store_copy(u, inbox, &set, inbox, false, &cr) == 1);
	store_copy_result_free(&cr);
	uint32_t ouid = tsu_append(u, other, MSG, 0, "$Moved");
	CHECK(ouid > 0);
	set = tsu_range(&r, ouid, ouid);
	memset(&cr, 0, sizeof(cr));
	CHECK(store_copy(u, other, &set, inbox, true, &cr) == 1);
	store_copy_result_free(&cr);
	CHECK(load_and_compare(u, inbox) == 1);
	/* And moved out (tombstones in INBOX). */
	set = tsu_range(&r, 200, 205);
	memset(&cr, 0, sizeof(cr));
	CHECK(store_copy(u, inbox, &set, other, true, &cr) == 1);
	store_copy_result_free(&cr);
	/* All at once on top: flags on new and old messages, expunge of a
	 * message that changed since the snapshot, a new keyword set. */
	set_flags(u, inbox, BIG + 1, BIG + 30, STORE_FLAGS_ADD, STORE_FLAG_ANSWERED, "$Z");
	set_flags(u, inbox, 2, 5, STORE_FLAGS_REPLACE, STORE_FLAG_DRAFT, NULL);
	expunge(u, inbox, 40, 55);
	CHECK(tsu_append(u, inbox, MSG, 0, "$A $B") > 0);
	CHECK(load_and_compare(u, inbox) == 1);
	/* Most of it expunged (still over the threshold): still exact. */
	expunge(u, inbox, 3, BIG - 150);
	CHECK(load_and_compare(u, inbox) == 1);
	teardown(&u);
}

/* Many keyword sets in the snapshot (more than the intern table's first
 * size of 64), then new sets in the changes: each must be interned once,
 * next to the ones read from the file. */
TEST(many_keyword_sets_merge)
{
	struct store_user *u = setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	fill(u, inbox, BIG);
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "UPDATE message SET keywords = '$K' || (uid %% 300) WHERE mailbox_id = %llu"
		 " AND uid > 1;", (unsigned long long)inbox);
	CHECK(db_exec(sql) == 1);
	CHECK(load_and_compare(u, inbox) == 0);
	struct store_msg_list *l = load_plain(u, inbox);
	CHECK(l->kwset_count == 301);
	store_msg_list_free(&l);
	set_flags(u, inbox, 2, 200, STORE_FLAGS_ADD, 0, "$Extra");
	set_flags(u, inbox, 150, 450, STORE_FLAGS_REPLACE, 0, "$K7");
	CHECK(tsu_append(u, inbox, MSG, 0, "$K8 $Extra") > 0);
	CHECK(load_and_compare(u, inbox) == 1);
	teardown(&u);
}

/* Rewrites the snapshot's header field at offset off (and its header
 * checksum) so only that field is wrong. */
static void patch_header(uint64_t box, size_t off, const void *val, size_t len)
{
	char p[512];
	snap_path(box, p, sizeof(p));
	FILE *f = fopen(p, "r+b");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	struct sq_listsnap_hdr h;
	CHECK(fread(&h, sizeof(h), 1, f) == 1);
	memcpy((char *)&h + off, val, len);
	h.hdr_crc = (uint32_t)crc32(0, (const unsigned char *)&h,
				    offsetof(struct sq_listsnap_hdr, hdr_crc));
	fseek(f, 0, SEEK_SET);
	CHECK(fwrite(&h, sizeof(h), 1, f) == 1);
	fclose(f);
}

static void damage(uint64_t box, const char *how)
{
	char p[512];
	snap_path(box, p, sizeof(p));
	struct stat st;
	CHECK(stat(p, &st) == 0);
	if (strcmp(how, "torn") == 0) {
		CHECK(truncate(p, st.st_size / 2) == 0);
	} else if (strcmp(how, "empty") == 0) {
		CHECK(truncate(p, 0) == 0);
	} else if (strcmp(how, "longer") == 0) {
		CHECK(truncate(p, st.st_size + 40) == 0);
	} else if (strcmp(how, "flip") == 0) {
		/* One bit of one message's flags: the checksum must see it. */
		FILE *f = fopen(p, "r+b");
		CHECK(f != NULL);
		long off = (long)sizeof(struct sq_listsnap_hdr) + 40 * 77 + 14;
		fseek(f, off, SEEK_SET);
		int c = fgetc(f);
		fseek(f, off, SEEK_SET);
		fputc(c ^ 2, f);
		fclose(f);
	} else if (strcmp(how, "garbage") == 0) {
		FILE *f = fopen(p, "r+b");
		CHECK(f != NULL);
		for (off_t i = 0; i < st.st_size; i++)
			fputc((int)((i * 2654435761u) >> 13) & 0xff, f);
		fclose(f);
	}
}

TEST(damaged_and_foreign_snapshots_are_removed_and_never_used)
{
	struct store_user *u = setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX"), other;
	CHECK(store_mailbox_create(u, "Other", 0, &other) == 1);
	fill(u, inbox, BIG);
	fill(u, other, BIG);
	CHECK(load_and_compare(u, inbox) == 0);
	CHECK(load_and_compare(u, other) == 0);
	/* A flag change the snapshot does not have, so "used anyway" would
	 * show in the comparison too. */
	set_flags(u, inbox, 77, 77, STORE_FLAGS_ADD, STORE_FLAG_ANSWERED, NULL);

	const char *hows[] = { "torn", "empty", "longer", "flip", "garbage" };
	for (size_t i = 0; i < sizeof(hows) / sizeof(hows[0]); i++) {
		damage(inbox, hows[i]);
		unsigned rejected = atomic_load(&sq_listsnap_stats.rejected);
		unsigned written = atomic_load(&sq_listsnap_stats.written);
		CHECK(load_and_compare(u, inbox) == 0);
		if (atomic_load(&sq_listsnap_stats.rejected) != rejected + 1)
			fprintf(stderr, "  not rejected: %s\n", hows[i]);
		CHECK(atomic_load(&sq_listsnap_stats.rejected) == rejected + 1);
		/* Read from the rows and written afresh: the next load uses it. */
		CHECK(atomic_load(&sq_listsnap_stats.written) == written + 1);
		CHECK(load_and_compare(u, inbox) == 1);
	}

	/* Another mailbox's snapshot under this one's name. */
	char a[512], b[512];
	snap_path(other, a, sizeof(a));
	snap_path(inbox, b, sizeof(b));
	CHECK(rename(a, b) == 0);
	unsigned rejected = atomic_load(&sq_listsnap_stats.rejected);
	CHECK(load_and_compare(u, inbox) == 0);
	CHECK(atomic_load(&sq_listsnap_stats.rejected) == rejected + 1);

	/* Another UIDVALIDITY (a different incarnation's list). */
	uint32_t uv = 12345;
	patch_header(inbox, offsetof(struct sq_listsnap_hdr, uidvalidity), &uv, sizeof(uv));
	rejected = atomic_load(&sq_listsnap_stats.rejected);
	CHECK(load_and_compare(u, inbox) == 0);
	CHECK(atomic_load(&sq_listsnap_stats.rejected) == rejected + 1);

	/* From the future: a HIGHESTMODSEQ or UIDNEXT the database never
	 * reached (e.g. store.db restored from an older copy). */
	uint64_t ms = 1u << 30;
	patch_header(inbox, offsetof(struct sq_listsnap_hdr, highestmodseq), &ms, sizeof(ms));
	rejected = atomic_load(&sq_listsnap_stats.rejected);
	CHECK(load_and_compare(u, inbox) == 0);
	CHECK(atomic_load(&sq_listsnap_stats.rejected) == rejected + 1);
	uint32_t un = 1u << 30;
	patch_header(inbox, offsetof(struct sq_listsnap_hdr, uidnext), &un, sizeof(un));
	rejected = atomic_load(&sq_listsnap_stats.rejected);
	CHECK(load_and_compare(u, inbox) == 0);
	CHECK(atomic_load(&sq_listsnap_stats.rejected) == rejected + 1);

	/* A correct checksum over records that break the list's rules (UIDs
	 * out of order): rejected too. */
	struct store_msg_list *l = load_plain(u, inbox);
	struct store_msg t = l->msgs[3];
	l->msgs[3] = l->msgs[4];
	l->msgs[4] = t;
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/users/alice", tsu_dir);
	CHECK(sq_listsnap_write(dir, inbox, l) == 1);
	store_msg_list_free(&l);
	rejected = atomic_load(&sq_listsnap_stats.rejected);
	CHECK(load_and_compare(u, inbox) == 0);
	CHECK(atomic_load(&sq_listsnap_stats.rejected) == rejected + 1);
	CHECK(load_and_compare(u, inbox) == 1);
	teardown(&u);
}

/* A change that reached the rows without a new modseq or a tombstone (no
 * store path does that; this is what the check after the merge is for):
 * the merged list disagrees with the mailbox row, so the rows are read,
 * and the snapshot is dropped. */
TEST(changes_without_modseq_are_caught_by_the_counters)
{
	struct store_user *u = setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	fill(u, inbox, BIG);
	CHECK(load_and_compare(u, inbox) == 0);
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "UPDATE mailbox SET messages = messages - 1, unseen = unseen - 1,"
		 " size = size - (SELECT size FROM message WHERE mailbox_id = id AND uid = 9)"
		 " WHERE id = %llu;"
		 "DELETE FROM message WHERE mailbox_id = %llu AND uid = 9;",
		 (unsigned long long)inbox, (unsigned long long)inbox);
	CHECK(db_exec(sql) == 1);
	unsigned fb = atomic_load(&sq_listsnap_stats.fallbacks);
	CHECK(load_and_compare(u, inbox) == 0);
	CHECK(atomic_load(&sq_listsnap_stats.fallbacks) == fb + 1);
	CHECK(load_and_compare(u, inbox) == 1); /* rewritten from the rows */

	snprintf(sql, sizeof(sql),
		 "UPDATE message SET flags = flags | 1 WHERE mailbox_id = %llu AND uid = 12;"
		 "UPDATE mailbox SET unseen = unseen - 1 WHERE id = %llu;",
		 (unsigned long long)inbox, (unsigned long long)inbox);
	CHECK(db_exec(sql) == 1);
	fb = atomic_load(&sq_listsnap_stats.fallbacks);
	CHECK(load_and_compare(u, inbox) == 0);
	CHECK(atomic_load(&sq_listsnap_stats.fallbacks) == fb + 1);
	teardown(&u);
}

struct head_rec {
	unsigned calls;
	struct store_msg_list_head head;
};

static void record_head(void *ctx, const struct store_msg_list_head *head)
{
	struct head_rec *r = ctx;
	r->calls++;
	r->head = *head;
}

TEST(head_from_a_snapshot_names_the_first_unseen)
{
	struct store_user *u = setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	fill(u, inbox, BIG);
	set_flags(u, inbox, 1, 300, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL);
	CHECK(load_and_compare(u, inbox) == 0);
	set_flags(u, inbox, 301, 301, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL);
	expunge(u, inbox, 5, 5);
	struct head_rec r = { 0 };
	struct store_msg_list *l = NULL;
	unsigned merged = atomic_load(&sq_listsnap_stats.merged);
	CHECK(store_msg_list_load_head(u, inbox, true, record_head, &r, &l) == 1);
	CHECK(atomic_load(&sq_listsnap_stats.merged) == merged + 1);
	CHECK(r.calls == 1);
	CHECK(r.head.count == BIG - 1 && l->count == BIG - 1);
	/* UIDs 1-302 seen (302 by fill), 303 not; 5 expunged before it. */
	CHECK(r.head.first_unseen == 302);
	CHECK(l->msgs[r.head.first_unseen - 1].uid == 303);
	CHECK(r.head.highestmodseq == l->highestmodseq && r.head.uidnext == l->uidnext);
	store_msg_list_free(&l);

	/* The first unseen beyond the rows looked at before the snapshot is
	 * read (4,096): the head comes from the merged list. */
	uint64_t deep;
	CHECK(store_mailbox_create(u, "Deep", 0, &deep) == 1);
	fill(u, deep, 6000);
	set_flags(u, deep, 1, 5000, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL);
	CHECK(load_and_compare(u, deep) == 0);
	set_flags(u, deep, 5001, 5001, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL); /* was unseen */
	expunge(u, deep, 10, 12);
	struct store_msg_list *plain = load_plain(u, deep);
	uint32_t want = 0;
	for (uint32_t i = 0; i < plain->count && want == 0; i++)
		if (!(plain->msgs[i].flags & STORE_FLAG_SEEN))
			want = i + 1;
	store_msg_list_free(&plain);
	CHECK(want > 4096);
	memset(&r, 0, sizeof(r));
	merged = atomic_load(&sq_listsnap_stats.merged);
	CHECK(store_msg_list_load_head(u, deep, true, record_head, &r, &l) == 1);
	CHECK(atomic_load(&sq_listsnap_stats.merged) == merged + 1);
	CHECK(r.calls == 1 && r.head.first_unseen == want);
	CHECK(!(l->msgs[want - 1].flags & STORE_FLAG_SEEN));
	store_msg_list_free(&l);
	teardown(&u);
}

TEST(delete_and_fsck_remove_snapshots)
{
	struct store_user *u = setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX"), box;
	CHECK(store_mailbox_create(u, "Big", 0, &box) == 1);
	fill(u, box, BIG);
	fill(u, inbox, BIG);
	CHECK(load_and_compare(u, box) == 0);
	CHECK(load_and_compare(u, inbox) == 0);
	CHECK(snap_exists(box) && snap_exists(inbox));
	CHECK(store_mailbox_delete(u, "Big") == 1);
	CHECK(!snap_exists(box));
	/* Recreated under the same name: a new id, nothing to reuse. */
	uint64_t again;
	CHECK(store_mailbox_create(u, "Big", 0, &again) == 1 && again != box);
	CHECK(!snap_exists(again));

	struct store_fsck_report rep = { 0 };
	CHECK(snap_exists(inbox));
	CHECK(store_fsck("alice", &rep, NULL, NULL) == 1);
	CHECK(!snap_exists(inbox));
	CHECK(load_and_compare(u, inbox) == 0);
	CHECK(load_and_compare(u, inbox) == 1);
	teardown(&u);
}

/* store_changes_since walks index message_modseq (rows in modseq order)
 * and still gives them in UID order, as its contract says. */
TEST(changes_since_are_in_uid_order)
{
	struct store_user *u = setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	for (int i = 0; i < 6; i++)
		CHECK(tsu_append(u, inbox, MSG, 0, NULL) == (uint32_t)i + 1);
	struct store_msg_list *l = load_plain(u, inbox);
	uint64_t since = l->highestmodseq;
	store_msg_list_free(&l);
	set_flags(u, inbox, 5, 5, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL);
	set_flags(u, inbox, 2, 2, STORE_FLAGS_ADD, 0, "$K");
	expunge(u, inbox, 6, 6);
	expunge(u, inbox, 1, 1);
	struct store_changes *c = NULL;
	CHECK(store_changes_since(u, inbox, since, &c) == 1);
	CHECK(c->changed.count == 2);
	CHECK(c->changed.msgs[0].uid == 2 && c->changed.msgs[1].uid == 5);
	CHECK_STREQ(store_msg_keywords(&c->changed, &c->changed.msgs[0]), "$K");
	CHECK(c->expunged.count == 2 && c->expunged.uids[0] == 1 && c->expunged.uids[1] == 6);
	store_changes_free(&c);
	teardown(&u);
}

UNIT_MAIN()
