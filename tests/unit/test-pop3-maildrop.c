/* Unit tests for the POP3 maildrop (src/pop3/pop3-maildrop.c) against a
 * real store in a temporary directory: snapshot, offer window, the three
 * DELE policies, RSET, \Seen, UIDLs and the maildrop lock. */
#include "unit.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "pop3/pop3-maildrop.h"
#include "store/store.h"

static char data_dir[] = "/tmp/roost-test-pop3-XXXXXX";
static bool store_ready;
static unsigned user_seq;

static void setup(void)
{
	if (store_ready)
		return;
	char err[256];
	CHECK(mkdtemp(data_dir) != NULL);
	roost_config = config_new_defaults();
	CHECK(roost_config != NULL);
	CHECK(store_init(data_dir, err, sizeof(err)) == 1);
	store_ready = true;
}

/* A fresh user with an INBOX; returns its key in key (32 bytes). */
static void new_user(char *key)
{
	setup();
	snprintf(key, 32, "u%u", ++user_seq);
	CHECK(store_user_create(key) == 1);
}

static uint32_t deliver(const char *key, const char *msg, int64_t internal_date, uint8_t flags)
{
	struct store_user *u = NULL;
	struct store_blob *blob = NULL;
	struct store_mailbox_info info;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	uint32_t uid = 0, uidv = 0;
	CHECK(store_user_open(key, &u) == 1);
	CHECK(store_mailbox_lookup(u, "INBOX", &info, name) == 1);
	CHECK(store_blob_begin(u, true, &blob) == 1);
	CHECK(store_blob_write(blob, msg, strlen(msg)) == 1);
	struct store_append_req req = { .flags = flags, .internal_date = internal_date };
	CHECK(store_append(u, info.id, &blob, &req, &uid, &uidv) == 1);
	store_user_unref(&u);
	return uid;
}

static struct pop3_maildrop *open_md(const char *key, enum pop3_dele_policy dele, unsigned days)
{
	struct pop3_maildrop *md = NULL;
	char err[160];
	CHECK(pop3_maildrop_open(key, dele, days, time(NULL), &md, err, sizeof(err)) == 1);
	return md;
}

static const char msg_a[] = "Subject: a\r\n\r\nhello\r\n";
static const char msg_b[] = "Subject: b\n\n.dot line\n";   /* bare LF: stored as CRLF */
static const char msg_c[] = "Subject: c\r\n\r\nno final newline";

TEST(snapshot_and_sizes)
{
	char key[32];
	new_user(key);
	struct pop3_maildrop *md = open_md(key, POP3_DELE_EXPUNGE, 0);
	CHECK(md != NULL && md->count == 0 && md->total_size == 0);
	pop3_maildrop_free(&md);
	CHECK(md == NULL);

	uint32_t ua = deliver(key, msg_a, 0, 0);
	uint32_t ub = deliver(key, msg_b, 0, STORE_FLAG_SEEN);
	deliver(key, msg_c, 0, 0);
	md = open_md(key, POP3_DELE_EXPUNGE, 0);
	CHECK(md->count == 3);
	CHECK(md->msgs[0].uid == ua && md->msgs[1].uid == ub);
	CHECK(md->msgs[0].size == strlen(msg_a));
	/* Stored with CRLF line ends: the POP3 size counts them. */
	CHECK(md->msgs[1].size == strlen(msg_b) + 3);
	CHECK(md->total_size == md->msgs[0].size + md->msgs[1].size + md->msgs[2].size);
	CHECK(!(md->state[0] & POP3_MSG_SEEN) && (md->state[1] & POP3_MSG_SEEN));

	/* Mail delivered after login is not in this snapshot. */
	deliver(key, msg_a, 0, 0);
	CHECK(md->count == 3);
	pop3_maildrop_free(&md);
	md = open_md(key, POP3_DELE_EXPUNGE, 0);
	CHECK(md->count == 4);
	pop3_maildrop_free(&md);
}

TEST(uidl_format)
{
	char uidl[POP3_UIDL_MAX];
	pop3_uidl_format(0x6566a1b2, 42, uidl);
	CHECK_STREQ(uidl, "6566a1b2.42");
	pop3_uidl_format(UINT32_MAX, UINT32_MAX, uidl);
	CHECK_STREQ(uidl, "ffffffff.4294967295");
	pop3_uidl_format(1, 1, uidl);
	CHECK_STREQ(uidl, "00000001.1");
}

TEST(offer_days)
{
	char key[32];
	new_user(key);
	time_t now = time(NULL);
	deliver(key, msg_a, (int64_t)now - 40 * 86400, 0);
	uint32_t recent = deliver(key, msg_b, (int64_t)now - 2 * 86400, 0);
	struct pop3_maildrop *md = open_md(key, POP3_DELE_EXPUNGE, 30);
	CHECK(md->count == 1 && md->msgs[0].uid == recent);
	pop3_maildrop_free(&md);
	md = open_md(key, POP3_DELE_EXPUNGE, 0);
	CHECK(md->count == 2);
	pop3_maildrop_free(&md);
}

TEST(dele_expunge_and_rset)
{
	char key[32], err[160];
	unsigned applied = 99;
	new_user(key);
	deliver(key, msg_a, 0, 0);
	uint32_t keep_uid = deliver(key, msg_b, 0, 0);
	deliver(key, msg_c, 0, 0);

	/* RSET undoes every mark; a commit then changes nothing. */
	struct pop3_maildrop *md = open_md(key, POP3_DELE_EXPUNGE, 0);
	CHECK(pop3_maildrop_delete(md, 0) == 1);
	CHECK(pop3_maildrop_delete(md, 0) == -1);
	CHECK(md->deleted_count == 1 && md->deleted_size == md->msgs[0].size);
	pop3_maildrop_reset(md);
	CHECK(md->deleted_count == 0 && md->deleted_size == 0);
	CHECK(pop3_maildrop_commit(md, &applied, err, sizeof(err)) == 1 && applied == 0);
	pop3_maildrop_free(&md);

	/* A session that marks but never commits (dropped connection)
	 * deletes nothing. */
	md = open_md(key, POP3_DELE_EXPUNGE, 0);
	CHECK(pop3_maildrop_delete(md, 0) == 1);
	pop3_maildrop_free(&md);
	md = open_md(key, POP3_DELE_EXPUNGE, 0);
	CHECK(md->count == 3);

	CHECK(pop3_maildrop_delete(md, 0) == 1);
	CHECK(pop3_maildrop_delete(md, 2) == 1);
	CHECK(pop3_maildrop_commit(md, &applied, err, sizeof(err)) == 1 && applied == 2);
	pop3_maildrop_free(&md);
	md = open_md(key, POP3_DELE_EXPUNGE, 0);
	CHECK(md->count == 1 && md->msgs[0].uid == keep_uid);
	pop3_maildrop_free(&md);
}

TEST(dele_keep)
{
	char key[32], err[160];
	unsigned applied = 0;
	new_user(key);
	uint32_t ua = deliver(key, msg_a, 0, 0);
	deliver(key, msg_b, 0, 0);
	struct pop3_maildrop *md = open_md(key, POP3_DELE_KEEP, 0);
	CHECK(pop3_maildrop_delete(md, 0) == 1);
	CHECK(pop3_maildrop_commit(md, &applied, err, sizeof(err)) == 1 && applied == 1);
	pop3_maildrop_free(&md);

	/* Still in INBOX for IMAP, with the keyword... */
	struct store_user *u = NULL;
	struct store_msg_list *list = NULL;
	struct store_mailbox_info info;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	CHECK(store_user_open(key, &u) == 1);
	CHECK(store_mailbox_lookup(u, "INBOX", &info, name) == 1);
	CHECK(store_msg_list_load(u, info.id, &list) == 1);
	CHECK(list->count == 2);
	long i = store_msg_list_find(list, ua);
	CHECK(i >= 0);
	if (i >= 0)
		CHECK_STREQ(store_msg_keywords(list, &list->msgs[i]), POP3_KEYWORD_DELETED);
	store_msg_list_free(&list);
	store_user_unref(&u);

	/* ...but never offered to POP3 again, whatever the policy now. */
	md = open_md(key, POP3_DELE_KEEP, 0);
	CHECK(md->count == 1 && md->msgs[0].uid != ua);
	pop3_maildrop_free(&md);
	md = open_md(key, POP3_DELE_EXPUNGE, 0);
	CHECK(md->count == 1);
	pop3_maildrop_free(&md);
}

TEST(dele_trash)
{
	char key[32], err[160];
	unsigned applied = 0;
	new_user(key);
	deliver(key, msg_a, 0, 0);
	deliver(key, msg_b, 0, 0);
	struct pop3_maildrop *md = open_md(key, POP3_DELE_TRASH, 0);
	CHECK(pop3_maildrop_delete(md, 1) == 1);
	CHECK(pop3_maildrop_commit(md, &applied, err, sizeof(err)) == 1);
	CHECK(applied == 1);
	pop3_maildrop_free(&md);

	md = open_md(key, POP3_DELE_TRASH, 0);
	CHECK(md->count == 1);
	/* The Trash folder was created (it did not exist) and holds it. */
	struct store_user *u = md->user;
	struct store_mailbox_info info;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	CHECK(store_mailbox_lookup(u, roost_config->folder_trash, &info, name) == 1);
	CHECK(info.attrs & STORE_SPECIAL_TRASH);
	struct store_status st;
	CHECK(store_mailbox_status(u, info.id, &st) == 1 && st.messages == 1);

	/* A second deletion goes into the same folder. */
	CHECK(pop3_maildrop_delete(md, 0) == 1);
	CHECK(pop3_maildrop_commit(md, &applied, err, sizeof(err)) == 1 && applied == 1);
	CHECK(store_mailbox_status(u, info.id, &st) == 1 && st.messages == 2);
	pop3_maildrop_free(&md);
}

TEST(expunged_meanwhile)
{
	char key[32], err[160];
	unsigned applied = 9;
	new_user(key);
	uint32_t ua = deliver(key, msg_a, 0, 0);
	struct pop3_maildrop *md = open_md(key, POP3_DELE_EXPUNGE, 0);
	/* IMAP expunges the message during the POP3 session. */
	struct store_uid_range r = { ua, ua };
	struct store_uidset set = { &r, 1 };
	CHECK(store_expunge(md->user, md->inbox_id, &set, false, NULL) == 1);
	int fd = -1;
	uint64_t size;
	CHECK(store_msg_open(md->user, md->msgs[0].blob_id, &fd, &size) == 0);
	CHECK(pop3_maildrop_delete(md, 0) == 1);
	CHECK(pop3_maildrop_commit(md, &applied, err, sizeof(err)) == 1 && applied == 0);
	pop3_maildrop_free(&md);
}

TEST(mark_seen)
{
	char key[32], err[160];
	new_user(key);
	uint32_t ua = deliver(key, msg_a, 0, 0);
	uint32_t ub = deliver(key, msg_b, 0, 0);
	uint32_t uc = deliver(key, msg_c, 0, 0);
	struct pop3_maildrop *md = open_md(key, POP3_DELE_EXPUNGE, 0);
	uint32_t uids[] = { uc, ua, uc };
	CHECK(pop3_maildrop_mark_seen(md->user, md->inbox_id, uids, 3, err, sizeof(err)) == 1);
	pop3_maildrop_free(&md);
	md = open_md(key, POP3_DELE_EXPUNGE, 0);
	CHECK(md->count == 3);
	CHECK(md->msgs[0].uid == ua && (md->state[0] & POP3_MSG_SEEN));
	CHECK(md->msgs[1].uid == ub && !(md->state[1] & POP3_MSG_SEEN));
	CHECK(md->msgs[2].uid == uc && (md->state[2] & POP3_MSG_SEEN));
	pop3_maildrop_free(&md);
}

TEST(lock)
{
	CHECK(pop3_maildrop_lock(5) == 1);
	CHECK(pop3_maildrop_lock(5) == 0);
	CHECK(pop3_maildrop_lock(6) == 1);
	pop3_maildrop_unlock(5);
	CHECK(pop3_maildrop_lock(5) == 1);
	pop3_maildrop_unlock(5);
	pop3_maildrop_unlock(6);
	/* Many at once (the table grows). */
	for (int64_t id = 100; id < 300; id++)
		CHECK(pop3_maildrop_lock(id) == 1);
	CHECK(pop3_maildrop_lock(250) == 0);
	for (int64_t id = 100; id < 300; id++)
		pop3_maildrop_unlock(id);
	CHECK(pop3_maildrop_lock(250) == 1);
	pop3_maildrop_unlock(250);
}

static void cleanup(void)
{
	if (store_ready) {
		store_deinit();
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", data_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", data_dir);
	}
	config_free(&roost_config);
}

int main(int argc, char **argv)
{
	int ret = unit_run(argc, argv);
	cleanup();
	return ret;
}
