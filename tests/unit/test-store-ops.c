/* Unit tests of the store: every operation against the embedded backend. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mime/mime.h"
#include "test-store-util.h"

static const char MSG1[] = "From: a@example.com\nTo: b@example.com\nSubject: hi\n\nHello\n";

TEST(user_keys_and_lifecycle)
{
	struct store_user *u = tsu_setup();
	CHECK(u != NULL);
	CHECK(store_user_exists("alice") == 1);
	CHECK(store_user_exists("bob") == 0);
	CHECK(store_user_exists("Bad/Key") == -1);
	CHECK(store_error(NULL) == STORE_ERR_BADNAME);
	CHECK(store_user_create("..") == -1);
	CHECK(store_user_create("a b") == -1);
	CHECK(store_user_create("alice") == -1);
	CHECK(store_error(NULL) == STORE_ERR_ALREADYEXISTS);

	struct store_user *u2 = NULL;
	CHECK(store_user_open("alice", &u2) == 1);
	CHECK(u2 == u);
	store_user_unref(&u2);
	CHECK(u2 == NULL);
	CHECK(store_user_open("nobody", &u2) == -1);
	CHECK(store_error(NULL) == STORE_ERR_NONEXISTENT);

	/* delete/rename refuse while open */
	CHECK(store_user_delete("alice") == -1);
	CHECK(store_error(NULL) == STORE_ERR_INUSE);
	CHECK(store_user_create("bob") == 1);
	CHECK(store_user_rename("bob", "carol") == 1);
	CHECK(store_user_exists("bob") == 0);
	CHECK(store_user_exists("carol") == 1);
	CHECK(store_user_rename("carol", "alice") == -1);
	CHECK(store_error(NULL) == STORE_ERR_INUSE);
	CHECK(store_user_delete("carol") == 1);
	CHECK(store_user_exists("carol") == 0);
	CHECK(store_user_delete("carol") == -1);
	CHECK(store_error(NULL) == STORE_ERR_NONEXISTENT);
	tsu_teardown(&u);
}

TEST(mailbox_create_list_attributes)
{
	struct store_user *u = tsu_setup();
	uint64_t id;
	CHECK(store_mailbox_create(u, "inbox", 0, &id) == -1);
	CHECK(store_error(NULL) == STORE_ERR_ALREADYEXISTS);
	CHECK(store_mailbox_create(u, "Sent", STORE_SPECIAL_SENT, &id) == 1);
	CHECK(store_mailbox_create(u, "已发送/2024/Q1", 0, NULL) == 1); /* parents implied */
	CHECK(store_mailbox_create(u, "a//b", 0, NULL) == -1);
	CHECK(store_error(NULL) == STORE_ERR_BADNAME);
	CHECK(store_mailbox_create(u, "/a", 0, NULL) == -1);
	CHECK(store_mailbox_create(u, "a/", 0, NULL) == -1);
	CHECK(store_mailbox_create(u, "a*", 0, NULL) == -1);
	CHECK(store_mailbox_create(u, "bad\xff", 0, NULL) == -1);
	CHECK(store_mailbox_create(u, "ctl\x01", 0, NULL) == -1);
	CHECK(store_mailbox_subscribe(u, "Sent", true) == 1);
	CHECK(store_mailbox_subscribe(u, "Ghost", true) == 1);
	CHECK(store_mailbox_subscribe(u, "Ghost", true) == 1);
	CHECK(store_mailbox_create(u, "INBOX/child", 0, NULL) == 1);

	struct store_mailbox_list *l;
	CHECK(store_mailbox_list(u, &l) == 1);
	CHECK(l->count == 7);
	CHECK_STREQ(l->items[0].name, "INBOX");
	CHECK(l->items[0].attrs & STORE_MBOX_HASCHILDREN);
	CHECK(l->items[0].attrs & STORE_MBOX_SUBSCRIBED);
	bool saw_ghost = false, saw_sent = false, saw_cn = false;
	for (size_t i = 0; i < l->count; i++) {
		const struct store_mailbox_info *m = &l->items[i];
		if (strcmp(m->name, "Ghost") == 0) {
			saw_ghost = true;
			CHECK(m->attrs & STORE_MBOX_NONEXISTENT);
			CHECK(m->attrs & STORE_MBOX_SUBSCRIBED);
		} else if (strcmp(m->name, "Sent") == 0) {
			saw_sent = true;
			CHECK(m->attrs & STORE_SPECIAL_SENT);
			CHECK(m->attrs & STORE_MBOX_SUBSCRIBED);
			CHECK(!(m->attrs & STORE_MBOX_HASCHILDREN));
			CHECK(m->id == id);
		} else if (strcmp(m->name, "已发送/2024") == 0) {
			saw_cn = true;
			CHECK(m->attrs & STORE_MBOX_HASCHILDREN);
			CHECK(!(m->attrs & STORE_MBOX_NOSELECT));
		}
		if (i > 1)
			CHECK(strcmp(l->items[i - 1].name, m->name) < 0);
	}
	CHECK(saw_ghost && saw_sent && saw_cn);
	store_mailbox_list_free(&l);
	CHECK(l == NULL);

	CHECK(store_mailbox_subscribe(u, "Ghost", false) == 1);
	CHECK(store_mailbox_subscribe(u, "Ghost", false) == 1);

	struct store_mailbox_info info;
	char nb[STORE_MAILBOX_NAME_MAX + 1];
	CHECK(store_mailbox_lookup(u, "iNbOx", &info, nb) == 1);
	CHECK_STREQ(info.name, "INBOX");
	CHECK(store_mailbox_lookup(u, "inbox/child", &info, nb) == 1);
	CHECK_STREQ(info.name, "INBOX/child");
	CHECK(store_mailbox_lookup(u, "nope", &info, nb) == 0);

	CHECK(store_mailbox_set_special_use(u, id, STORE_SPECIAL_ARCHIVE) == 1);
	CHECK(store_mailbox_lookup(u, "Sent", &info, nb) == 1);
	CHECK((info.attrs & STORE_SPECIAL_MASK) == STORE_SPECIAL_ARCHIVE);
	tsu_teardown(&u);
}

TEST(mailbox_delete_rules_and_uidvalidity)
{
	struct store_user *u = tsu_setup();
	uint64_t a, ab;
	CHECK(store_mailbox_delete(u, "INBOX") == -1);
	CHECK(store_error(NULL) == STORE_ERR_NOPERM);
	CHECK(store_mailbox_delete(u, "nope") == -1);
	CHECK(store_error(NULL) == STORE_ERR_NONEXISTENT);
	CHECK(store_mailbox_create(u, "a", 0, &a) == 1);
	CHECK(store_mailbox_create(u, "a/b", 0, &ab) == 1);
	CHECK(tsu_append(u, a, MSG1, 0, NULL) == 1);
	struct store_status st;
	CHECK(store_mailbox_status(u, a, &st) == 1);
	uint32_t old_uv = st.uidvalidity;

	/* RFC 9051 6.3.5: selectable with children -> messages go, \Noselect */
	CHECK(store_mailbox_delete(u, "a") == 1);
	struct store_mailbox_info info;
	char nb[STORE_MAILBOX_NAME_MAX + 1];
	CHECK(store_mailbox_lookup(u, "a", &info, nb) == 1);
	CHECK(info.attrs & STORE_MBOX_NOSELECT);
	CHECK(info.attrs & STORE_MBOX_HASCHILDREN);
	CHECK(info.id != a);
	CHECK(store_mailbox_status(u, a, &st) == -1);
	CHECK(store_error(NULL) == STORE_ERR_NONEXISTENT);
	CHECK(store_mailbox_status(u, info.id, &st) == -1);
	CHECK(store_error(NULL) == STORE_ERR_NOPERM);
	struct store_quota q;
	CHECK(store_quota_get(u, &q) == 1);
	CHECK(q.messages_used == 0 && q.bytes_used == 0);

	/* \Noselect with children: HASCHILDREN */
	CHECK(store_mailbox_delete(u, "a") == -1);
	CHECK(store_error(NULL) == STORE_ERR_HASCHILDREN);
	/* recreate it: selectable again, new UIDVALIDITY */
	uint64_t a2;
	CHECK(store_mailbox_create(u, "a", 0, &a2) == 1);
	CHECK(store_mailbox_status(u, a2, &st) == 1);
	CHECK(st.uidvalidity > old_uv);
	CHECK(a2 != a);

	CHECK(store_mailbox_delete(u, "a/b") == 1);
	CHECK(store_mailbox_delete(u, "a") == 1);
	CHECK(store_mailbox_lookup(u, "a", &info, nb) == 0);
	uint64_t a3;
	uint32_t prev = st.uidvalidity;
	CHECK(store_mailbox_create(u, "a", 0, &a3) == 1);
	CHECK(store_mailbox_status(u, a3, &st) == 1);
	CHECK(st.uidvalidity > prev);
	CHECK(st.uidnext == 1);
	tsu_teardown(&u);
}

TEST(mailbox_rename_with_children_and_inbox)
{
	struct store_user *u = tsu_setup();
	uint64_t a, ab, inbox = tsu_mailbox(u, "INBOX");
	CHECK(store_mailbox_create(u, "a", 0, &a) == 1);
	CHECK(store_mailbox_create(u, "a/b", 0, &ab) == 1);
	CHECK(store_mailbox_create(u, "a b", 0, NULL) == 1); /* not a child of "a" */
	CHECK(tsu_append(u, ab, MSG1, 0, NULL) == 1);
	struct store_status before, after;
	CHECK(store_mailbox_status(u, ab, &before) == 1);

	CHECK(store_mailbox_rename(u, "a", "x/y") == 1);
	CHECK(tsu_mailbox(u, "a") == 0);
	CHECK(tsu_mailbox(u, "a/b") == 0);
	CHECK(tsu_mailbox(u, "a b") != 0);
	CHECK(tsu_mailbox(u, "x") != 0);
	CHECK(tsu_mailbox(u, "x/y") == a);
	CHECK(tsu_mailbox(u, "x/y/b") == ab);
	CHECK(store_mailbox_status(u, ab, &after) == 1);
	CHECK(after.uidvalidity == before.uidvalidity && after.messages == 1);

	CHECK(store_mailbox_rename(u, "x/y", "x/y/b/c") == -1);
	CHECK(store_error(NULL) == STORE_ERR_BADNAME);
	CHECK(store_mailbox_rename(u, "nope", "z") == -1);
	CHECK(store_error(NULL) == STORE_ERR_NONEXISTENT);
	CHECK(store_mailbox_rename(u, "x/y", "a b") == -1);
	CHECK(store_error(NULL) == STORE_ERR_ALREADYEXISTS);

	/* INBOX: messages move to a new mailbox, INBOX stays and is empty,
	 * its children stay. */
	CHECK(store_mailbox_create(u, "INBOX/keep", 0, NULL) == 1);
	CHECK(tsu_append(u, inbox, MSG1, STORE_FLAG_SEEN, "$Work") == 1);
	CHECK(tsu_append(u, inbox, MSG1, 0, NULL) == 2);
	CHECK(store_mailbox_rename(u, "INBOX", "Old") == 1);
	uint64_t old = tsu_mailbox(u, "Old");
	CHECK(old != 0 && old != inbox);
	CHECK(tsu_mailbox(u, "INBOX") == inbox);
	CHECK(tsu_mailbox(u, "INBOX/keep") != 0);
	struct store_status st;
	CHECK(store_mailbox_status(u, inbox, &st) == 1);
	CHECK(st.messages == 0 && st.uidnext == 3);
	CHECK(store_mailbox_status(u, old, &st) == 1);
	CHECK(st.messages == 2 && st.unseen == 1);
	struct store_msg_list *l;
	CHECK(store_msg_list_load(u, old, &l) == 1);
	CHECK(l->count == 2);
	CHECK_STREQ(store_msg_keywords(l, &l->msgs[0]), "$Work");
	store_msg_list_free(&l);
	struct store_quota q;
	CHECK(store_quota_get(u, &q) == 1);
	CHECK(q.messages_used == 3);
	tsu_teardown(&u);
}

TEST(append_stores_exact_crlf_and_cache)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	struct store_blob *b;
	CHECK(store_blob_begin(u, true, &b) == 1);
	/* split CR and LF over writes, bare LF, bare CR */
	CHECK(store_blob_write(b, "Subject: x\r", 11) == 1);
	CHECK(store_blob_write(b, "\nA: b\n\nline\rend", 15) == 1);
	CHECK(store_blob_write(b, "\r", 1) == 1);
	const char expect[] = "Subject: x\r\nA: b\r\n\r\nline\r\nend\r\n";
	CHECK(store_blob_size(b) == sizeof(expect) - 1);
	struct store_append_req req = { .flags = STORE_FLAG_SEEN | STORE_FLAG_FLAGGED,
					.keywords = "$a $b $A", .internal_date = 1700000000,
					.tz_minutes = -300 };
	uint32_t uid = 0, uv = 0;
	CHECK(store_append(u, inbox, &b, &req, &uid, &uv) == 1);
	CHECK(b == NULL);
	CHECK(uid == 1);
	struct store_status st;
	CHECK(store_mailbox_status(u, inbox, &st) == 1);
	CHECK(uv == st.uidvalidity);
	CHECK(st.messages == 1 && st.unseen == 0 && st.size == sizeof(expect) - 1);
	CHECK(st.uidnext == 2);

	struct store_msg_list *l;
	CHECK(store_msg_list_load(u, inbox, &l) == 1);
	CHECK(l->count == 1);
	struct store_msg *m = &l->msgs[0];
	CHECK(sizeof(*m) == 40);
	CHECK(m->uid == 1 && m->size == sizeof(expect) - 1);
	CHECK(m->flags == (STORE_FLAG_SEEN | STORE_FLAG_FLAGGED));
	CHECK(m->internal_date == 1700000000 && m->tz_minutes == -300);
	CHECK_STREQ(store_msg_keywords(l, m), "$a $b");
	CHECK(m->modseq == l->highestmodseq);

	int fd;
	uint64_t size;
	CHECK(store_msg_open(u, m->blob_id, &fd, &size) == 1);
	CHECK(size == sizeof(expect) - 1);
	char got[128];
	CHECK(read(fd, got, sizeof(got)) == (ssize_t)size);
	CHECK_MEMEQ(got, size, expect, sizeof(expect) - 1);
	close(fd);

	struct buf cache = BUF_INIT(0);
	CHECK(store_msg_cache(u, m->blob_id, &cache) == 1);
	struct mime_cache mc;
	CHECK(mime_cache_open(&mc, cache.data, cache.len) == 1);
	CHECK(mime_cache_msg_size(&mc) == size);
	buf_free(&cache);
	CHECK(store_msg_cache(u, 999999, &cache) == 0);
	CHECK(store_msg_open(u, 999999, &fd, &size) == 0);
	store_msg_list_free(&l);

	/* raw (no conversion) keeps bytes; bad keywords and flags refused */
	CHECK(store_blob_begin(u, false, &b) == 1);
	CHECK(store_blob_write(b, "a\nb", 3) == 1);
	CHECK(store_blob_size(b) == 3);
	struct store_append_req bad = { .keywords = "ok bad\\kw" };
	CHECK(store_append(u, inbox, &b, &bad, &uid, &uv) == -1);
	CHECK(store_error(NULL) == STORE_ERR_BADNAME);
	CHECK(b == NULL);
	CHECK(store_blob_begin(u, false, &b) == 1);
	store_blob_abort(&b);
	CHECK(b == NULL);
	/* nothing left in tmp/ */
	char tmp[400];
	snprintf(tmp, sizeof(tmp), "%s/users/alice/tmp", tsu_dir);
	CHECK(rmdir(tmp) == 0 && mkdir(tmp, 0700) == 0);

	/* MULTIAPPEND: all in one transaction */
	struct store_blob *bs[3];
	struct store_append_req reqs[3];
	memset(reqs, 0, sizeof(reqs));
	uint32_t uids[3];
	for (int i = 0; i < 3; i++) {
		CHECK(store_blob_begin(u, true, &bs[i]) == 1);
		CHECK(store_blob_write(bs[i], MSG1, sizeof(MSG1) - 1) == 1);
	}
	CHECK(store_append_multi(u, inbox, bs, reqs, 3, uids, &uv) == 1);
	CHECK(uids[0] == 2 && uids[1] == 3 && uids[2] == 4);
	/* \Noselect and missing mailboxes refuse appends */
	CHECK(store_mailbox_create(u, "p/c", 0, NULL) == 1);
	CHECK(store_mailbox_delete(u, "p") == 1);
	CHECK(tsu_append(u, tsu_mailbox(u, "p"), MSG1, 0, NULL) == 0);
	CHECK(store_error(NULL) == STORE_ERR_NOPERM);
	CHECK(tsu_append(u, 424242, MSG1, 0, NULL) == 0);
	CHECK(store_error(NULL) == STORE_ERR_NONEXISTENT);
	tsu_teardown(&u);
}

TEST(flags_unchangedsince_and_changes_since)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	for (int i = 0; i < 5; i++)
		CHECK(tsu_append(u, inbox, MSG1, 0, NULL) == (uint32_t)i + 1);
	struct store_status st;
	CHECK(store_mailbox_status(u, inbox, &st) == 1);
	uint64_t ms0 = st.highestmodseq;
	CHECK(st.unseen == 5);

	struct store_uid_range r;
	struct store_uidset set = tsu_range(&r, 2, 3);
	struct store_flags_result res;
	CHECK(store_flags_change(u, inbox, &set, STORE_FLAGS_ADD, STORE_FLAG_SEEN, "$Junk", 0,
				 &res) == 1);
	CHECK(res.changed.count == 2 && res.failed.count == 0);
	CHECK(res.changed.msgs[0].uid == 2 && res.changed.msgs[1].uid == 3);
	CHECK(res.changed.msgs[0].modseq > ms0);
	CHECK(res.changed.msgs[1].modseq > res.changed.msgs[0].modseq);
	CHECK_STREQ(store_msg_keywords(&res.changed, &res.changed.msgs[0]), "$Junk");
	uint64_t ms1 = res.changed.highestmodseq;
	store_flags_result_free(&res);

	/* same again: nothing changes, no modseq bump */
	CHECK(store_flags_change(u, inbox, &set, STORE_FLAGS_ADD, STORE_FLAG_SEEN, "$junk", 0,
				 &res) == 1);
	CHECK(res.changed.count == 0);
	store_flags_result_free(&res);
	CHECK(store_mailbox_status(u, inbox, &st) == 1);
	CHECK(st.highestmodseq == ms1 && st.unseen == 3);

	/* UNCHANGEDSINCE: 2 and 3 were modified after ms0 */
	set = tsu_range(&r, 1, 5);
	CHECK(store_flags_change(u, inbox, &set, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, ms0,
				 &res) == 1);
	CHECK(res.failed.count == 2 && res.failed.uids[0] == 2 && res.failed.uids[1] == 3);
	CHECK(res.changed.count == 3);
	store_flags_result_free(&res);
	CHECK(store_mailbox_status(u, inbox, &st) == 1);
	CHECK(st.deleted == 3);

	/* REPLACE and REMOVE of keywords */
	set = tsu_range(&r, 2, 2);
	CHECK(store_flags_change(u, inbox, &set, STORE_FLAGS_REPLACE, STORE_FLAG_ANSWERED,
				 "x y", 0, &res) == 1);
	CHECK(res.changed.count == 1 && res.changed.msgs[0].flags == STORE_FLAG_ANSWERED);
	store_flags_result_free(&res);
	CHECK(store_flags_change(u, inbox, &set, STORE_FLAGS_REMOVE, 0, "X", 0, &res) == 1);
	CHECK_STREQ(store_msg_keywords(&res.changed, &res.changed.msgs[0]), "y");
	store_flags_result_free(&res);
	CHECK(store_flags_change(u, inbox, &set, STORE_FLAGS_ADD, 0x80, NULL, 0, &res) == -1);
	CHECK(store_flags_change(u, inbox, &set, STORE_FLAGS_ADD, 0, "a(b", 0, &res) == -1);

	/* changes since ms1: 1, 2, 4, 5 changed; then expunge 4 */
	struct store_uid_array ex;
	set = tsu_range(&r, 4, 4);
	CHECK(store_expunge(u, inbox, &set, true, &ex) == 1);
	CHECK(ex.count == 1 && ex.uids[0] == 4);
	store_uid_array_free(&ex);
	struct store_changes *c;
	CHECK(store_changes_since(u, inbox, ms1, &c) == 1);
	CHECK(c->changed.count == 3);
	CHECK(c->changed.msgs[0].uid == 1 && c->changed.msgs[1].uid == 2 &&
	      c->changed.msgs[2].uid == 5);
	CHECK(c->expunged.count == 1 && c->expunged.uids[0] == 4);
	uint64_t ms2 = c->changed.highestmodseq;
	store_changes_free(&c);
	CHECK(store_changes_since(u, inbox, ms2, &c) == 1);
	CHECK(c->changed.count == 0 && c->expunged.count == 0);
	store_changes_free(&c);
	/* a new message shows up as a change */
	CHECK(tsu_append(u, inbox, MSG1, 0, NULL) == 6);
	CHECK(store_changes_since(u, inbox, ms2, &c) == 1);
	CHECK(c->changed.count == 1 && c->changed.msgs[0].uid == 6);
	CHECK(c->changed.uidnext == 7);
	store_changes_free(&c);

	/* EXPUNGE of all \Deleted: 1 and 5 (4 is gone, 2/3 never got it) */
	CHECK(store_expunge(u, inbox, NULL, true, &ex) == 1);
	CHECK(ex.count == 2 && ex.uids[0] == 1 && ex.uids[1] == 5);
	store_uid_array_free(&ex);
	CHECK(store_mailbox_status(u, inbox, &st) == 1);
	CHECK(st.messages == 3 && st.deleted == 0 && st.uidnext == 7);
	/* POP3-style expunge without \Deleted */
	set = tsu_range(&r, 6, 6);
	CHECK(store_expunge(u, inbox, &set, false, NULL) == 1);
	CHECK(store_mailbox_status(u, inbox, &st) == 1);
	CHECK(st.messages == 2);
	/* a new message never reuses an expunged UID */
	CHECK(tsu_append(u, inbox, MSG1, 0, NULL) == 7);
	tsu_teardown(&u);
}

TEST(copy_move_share_files_and_quota)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX"), arch;
	CHECK(store_mailbox_create(u, "Archive", STORE_SPECIAL_ARCHIVE, &arch) == 1);
	for (int i = 0; i < 4; i++)
		CHECK(tsu_append(u, inbox, MSG1, i == 0 ? STORE_FLAG_SEEN : 0, "k") != 0);
	uint64_t one = sizeof(MSG1) - 1 + 4; /* 4 LFs became CRLF */
	one += 1;                            /* and the blank line */
	struct store_quota q;
	CHECK(store_quota_get(u, &q) == 1);
	CHECK(q.messages_used == 4 && q.bytes_used == 4 * one);

	struct store_uid_range rr[2] = { { 1, 2 }, { 2, 3 } }; /* overlapping */
	struct store_uidset set = { rr, 2 };
	struct store_copy_result cr;
	CHECK(store_copy(u, inbox, &set, arch, false, &cr) == 1);
	CHECK(cr.src_uids.count == 3 && cr.dst_uids.count == 3);
	CHECK(cr.src_uids.uids[0] == 1 && cr.dst_uids.uids[0] == 1);
	CHECK(cr.src_uids.uids[2] == 3 && cr.dst_uids.uids[2] == 3);
	struct store_status st;
	CHECK(store_mailbox_status(u, arch, &st) == 1);
	CHECK(cr.dst_uidvalidity == st.uidvalidity);
	CHECK(st.messages == 3 && st.unseen == 2);
	store_copy_result_free(&cr);
	CHECK(store_quota_get(u, &q) == 1);
	CHECK(q.messages_used == 7 && q.bytes_used == 7 * one);

	/* the copies share files */
	struct store_msg_list *a, *b;
	CHECK(store_msg_list_load(u, inbox, &a) == 1);
	CHECK(store_msg_list_load(u, arch, &b) == 1);
	CHECK(a->msgs[0].blob_id == b->msgs[0].blob_id);
	CHECK_STREQ(store_msg_keywords(b, &b->msgs[0]), "k");
	uint64_t blob1 = a->msgs[0].blob_id;
	store_msg_list_free(&a);
	store_msg_list_free(&b);

	/* MOVE: sources gone (tombstones), quota unchanged */
	struct store_uid_range r;
	set = tsu_range(&r, 1, 1);
	CHECK(store_copy(u, inbox, &set, arch, true, &cr) == 1);
	CHECK(cr.src_uids.count == 1 && cr.dst_uids.uids[0] == 4);
	store_copy_result_free(&cr);
	CHECK(store_quota_get(u, &q) == 1);
	CHECK(q.messages_used == 7);
	CHECK(store_copy(u, inbox, &set, inbox, true, &cr) == -1);

	/* expunging one of two references keeps the file; the last removes it */
	set = tsu_range(&r, 1, 1);
	CHECK(store_expunge(u, arch, &set, false, NULL) == 1);
	int fd;
	uint64_t size;
	CHECK(store_msg_open(u, blob1, &fd, &size) == 1);
	close(fd);
	set = tsu_range(&r, 4, 4);
	CHECK(store_expunge(u, arch, &set, false, NULL) == 1);
	CHECK(store_msg_open(u, blob1, &fd, &size) == 0);

	/* quota limits */
	CHECK(store_quota_get(u, &q) == 1);
	CHECK(q.messages_used == 5);
	CHECK(store_set_quota(u, 0, 6) == 1);
	CHECK(tsu_append(u, inbox, MSG1, 0, NULL) != 0);
	CHECK(tsu_append(u, inbox, MSG1, 0, NULL) == 0);
	CHECK(store_error(NULL) == STORE_ERR_OVERQUOTA);
	CHECK_STREQ(store_error_imap_code(STORE_ERR_OVERQUOTA), "OVERQUOTA");
	set = tsu_range(&r, 2, 2);
	CHECK(store_copy(u, inbox, &set, arch, false, &cr) == -1);
	CHECK(store_error(NULL) == STORE_ERR_OVERQUOTA);
	CHECK(store_copy(u, inbox, &set, arch, true, &cr) == 1); /* moves are free */
	store_copy_result_free(&cr);
	CHECK(store_set_quota(u, 6 * one, 0) == 1);
	CHECK(tsu_append(u, inbox, MSG1, 0, NULL) == 0);
	CHECK(store_error(NULL) == STORE_ERR_OVERQUOTA);
	CHECK(store_set_quota(u, 0, 0) == 1);
	CHECK(store_quota_get(u, &q) == 1);
	CHECK(q.messages_used == 6 && q.bytes_used == 6 * one);
	/* deleting a mailbox credits its messages */
	CHECK(store_mailbox_delete(u, "Archive") == 1);
	CHECK(store_quota_get(u, &q) == 1);
	CHECK(q.messages_used == 3 && q.bytes_used == 3 * one);
	tsu_teardown(&u);
}

struct bus_log {
	int calls;
	uint64_t last_mailbox, last_modseq;
};

static void bus_cb(void *ctx, uint64_t mailbox_id, uint64_t modseq)
{
	struct bus_log *l = ctx;
	l->calls++;
	l->last_mailbox = mailbox_id;
	l->last_modseq = modseq;
}

TEST(change_bus_publishes_after_commit)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX"), other;
	CHECK(store_mailbox_create(u, "Other", 0, &other) == 1);
	struct bus_log one = { 0 }, all = { 0 }, oth = { 0 };
	struct store_watch *w1, *w2, *w3;
	CHECK(store_watch_add(u, inbox, bus_cb, &one, &w1) == 1);
	CHECK(store_watch_add(u, 0, bus_cb, &all, &w2) == 1);
	CHECK(store_watch_add(u, other, bus_cb, &oth, &w3) == 1);
	CHECK(tsu_append(u, inbox, MSG1, 0, NULL) == 1);
	struct store_status st;
	CHECK(store_mailbox_status(u, inbox, &st) == 1);
	CHECK(one.calls == 1 && one.last_mailbox == inbox && one.last_modseq == st.highestmodseq);
	CHECK(all.calls == 1 && oth.calls == 0);
	CHECK(store_mailbox_create(u, "New", 0, NULL) == 1);
	CHECK(all.calls == 2 && one.calls == 1);
	store_watch_remove(&w1);
	CHECK(w1 == NULL);
	CHECK(tsu_append(u, inbox, MSG1, 0, NULL) == 2);
	CHECK(one.calls == 1 && all.calls == 3);
	CHECK(store_mailbox_delete(u, "Other") == 1);
	CHECK(oth.calls == 1 && oth.last_modseq == 0);
	store_watch_remove(&w2);
	store_watch_remove(&w3);
	tsu_teardown(&u);
}

TEST(rename_utf8_tree_and_null_uidsets)
{
	struct store_user *u = tsu_setup();
	uint64_t cn, child;
	CHECK(store_mailbox_create(u, "已发送", STORE_SPECIAL_SENT, &cn) == 1);
	CHECK(store_mailbox_create(u, "已发送/二〇二四", 0, &child) == 1);
	CHECK(store_mailbox_create(u, "已发送x", 0, NULL) == 1); /* a sibling, not a child */
	CHECK(store_mailbox_rename(u, "已发送", "Sent Items/旧") == 1);
	CHECK(tsu_mailbox(u, "Sent Items/旧") == cn);
	CHECK(tsu_mailbox(u, "Sent Items/旧/二〇二四") == child);
	CHECK(tsu_mailbox(u, "已发送x") != 0);
	CHECK(tsu_mailbox(u, "已发送") == 0);

	/* NULL uid sets mean every message */
	for (int i = 0; i < 3; i++)
		CHECK(tsu_append(u, child, "Subject: x\n\nbody\n", 0, NULL) != 0);
	struct store_flags_result res;
	CHECK(store_flags_change(u, child, NULL, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, 0,
				 &res) == 1);
	CHECK(res.changed.count == 3);
	store_flags_result_free(&res);
	struct store_copy_result cr;
	CHECK(store_copy(u, child, NULL, cn, false, &cr) == 1);
	CHECK(cr.dst_uids.count == 3);
	store_copy_result_free(&cr);
	struct store_uid_array ex;
	CHECK(store_expunge(u, child, NULL, true, &ex) == 1);
	CHECK(ex.count == 3);
	store_uid_array_free(&ex);
	/* an empty set matches nothing and changes nothing */
	struct store_uidset none = { NULL, 0 };
	CHECK(store_expunge(u, cn, &none, false, &ex) == 1);
	CHECK(ex.count == 0);
	store_uid_array_free(&ex);
	tsu_teardown(&u);
}

TEST(errors_map_to_imap_codes)
{
	CHECK_STREQ(store_error_imap_code(STORE_ERR_NONEXISTENT), "NONEXISTENT");
	CHECK_STREQ(store_error_imap_code(STORE_ERR_ALREADYEXISTS), "ALREADYEXISTS");
	CHECK_STREQ(store_error_imap_code(STORE_ERR_TEMPFAIL), "UNAVAILABLE");
	CHECK(store_keyword_valid("$Forwarded", 10));
	CHECK(!store_keyword_valid("\\Seen", 5));
	CHECK(!store_keyword_valid("a b", 3));
	CHECK(!store_keyword_valid("", 0));
}

UNIT_MAIN()
