/* The delivery steps shared by LMTP and `roost deliver`, on a real store
 * in a temporary data_dir: header fields, mailbox choice with its INBOX
 * fallback, quota checks, the store-error mapping, and appends with a
 * given UID (roost import). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmtp/lmtp-deliver.h"
#include "test-store-util.h"
#include "unit.h"

static int read_blob_of(struct store_user *u, uint64_t mailbox_id, uint32_t uid, char *out,
			size_t cap)
{
	struct store_msg_list *list = NULL;
	if (store_msg_list_load(u, mailbox_id, &list) < 0)
		return -1;
	long i = store_msg_list_find(list, uid);
	int fd;
	uint64_t size;
	int ret = i < 0 ? -1 : store_msg_open(u, list->msgs[i].blob_id, &fd, &size);
	store_msg_list_free(&list);
	if (ret <= 0)
		return -1;
	ssize_t n = read(fd, out, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	out[n] = '\0';
	return (int)n;
}

TEST(headers_and_mailbox_choice)
{
	struct store_user *u = tsu_setup();
	CHECK(u != NULL);
	if (u == NULL)
		return;
	CHECK(store_mailbox_create(u, "Lists/Rust", 0, NULL) == 1);
	CHECK(store_mailbox_create(u, "Parent/Child", 0, NULL) == 1);
	uint64_t inbox = tsu_mailbox(u, "INBOX"), rust = tsu_mailbox(u, "Lists/Rust");
	uint64_t id;
	char name[256];
	CHECK(lmtp_deliver_mailbox(u, "Lists/Rust", &id, name, sizeof(name)) == 1);
	CHECK(id == rust);
	CHECK_STREQ(name, "Lists/Rust");
	CHECK(lmtp_deliver_mailbox(u, "inBox", &id, name, sizeof(name)) == 1 && id == inbox);
	CHECK(lmtp_deliver_mailbox(u, "", &id, name, sizeof(name)) == 1 && id == inbox);
	CHECK(lmtp_deliver_mailbox(u, "Missing", &id, name, sizeof(name)) == 1 && id == inbox);
	CHECK(lmtp_deliver_mailbox(u, "bad//name", &id, name, sizeof(name)) == 1 && id == inbox);
	CHECK_STREQ(name, "INBOX");

	struct store_blob *blob = NULL;
	CHECK(store_blob_begin(u, false, &blob) == 1);
	CHECK(lmtp_deliver_headers(blob, "", "bob+x@example.com") == 1);
	CHECK(store_blob_write(blob, "Subject: s\r\n\r\nbody\r\n", 20) == 1);
	struct store_append_req req = { 0 };
	uint32_t uid, uidvalidity;
	CHECK(store_append(u, rust, &blob, &req, &uid, &uidvalidity) == 1);
	char text[512];
	CHECK(read_blob_of(u, rust, uid, text, sizeof(text)) > 0);
	CHECK_STREQ(text, "Return-Path: <>\r\nDelivered-To: <bob+x@example.com>\r\n"
			  "Subject: s\r\n\r\nbody\r\n");
	tsu_teardown(&u);
}

TEST(quota_check)
{
	struct store_user *u = tsu_setup();
	CHECK(u != NULL);
	if (u == NULL)
		return;
	struct auth_recipient rcpt;
	memset(&rcpt, 0, sizeof(rcpt));
	CHECK(lmtp_deliver_quota_check(u, &rcpt, 0) == 1);
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	CHECK(tsu_append(u, inbox, "Subject: a\n\n0123456789\n", 0, NULL) > 0);
	/* The account's limits apply when the store has none. */
	rcpt.quota_bytes = 1000;
	CHECK(lmtp_deliver_quota_check(u, &rcpt, 0) == 1);
	CHECK(lmtp_deliver_quota_check(u, &rcpt, 5000) == 0); /* SIZE= would pass it */
	rcpt.quota_bytes = 10;
	CHECK(lmtp_deliver_quota_check(u, &rcpt, 0) == 0);
	rcpt.quota_bytes = 0;
	rcpt.quota_messages = 1;
	CHECK(lmtp_deliver_quota_check(u, &rcpt, 0) == 0);
	rcpt.quota_messages = 0;
	/* The store's limits win. */
	CHECK(store_set_quota(u, 5, 0) == 1);
	CHECK(lmtp_deliver_quota_check(u, &rcpt, 0) == 0);
	tsu_teardown(&u);
}

TEST(failure_mapping)
{
	struct lmtp_failure f;
	lmtp_deliver_failure(STORE_ERR_OVERQUOTA, &f);
	CHECK(f.code == 552 && !strcmp(f.enhanced, "5.2.2") && f.permanent);
	lmtp_deliver_failure(STORE_ERR_LIMIT, &f);
	CHECK(f.code == 552 && !strcmp(f.enhanced, "5.3.4"));
	lmtp_deliver_failure(STORE_ERR_TEMPFAIL, &f);
	CHECK(f.code == 451 && !strcmp(f.enhanced, "4.3.0") && !f.permanent);
	lmtp_deliver_failure(STORE_ERR_INTERNAL, &f);
	CHECK(f.code == 451 && !f.permanent);
}

/* roost import relies on these store additions. */
TEST(append_with_given_uid_and_uidvalidity)
{
	struct store_user *u = tsu_setup();
	CHECK(u != NULL);
	if (u == NULL)
		return;
	uint64_t box;
	CHECK(store_mailbox_create(u, "Imported", 0, &box) == 1);
	CHECK(store_mailbox_set_uidvalidity(u, box, 0) == -1);
	CHECK(store_mailbox_set_uidvalidity(u, box, 4242) == 1);
	struct store_status st;
	CHECK(store_mailbox_status(u, box, &st) == 1 && st.uidvalidity == 4242);

	struct store_append_req req = { .uid = 17 };
	struct store_blob *blob = NULL;
	uint32_t uid = 0, uv = 0;
	CHECK(store_blob_begin(u, true, &blob) == 1 && store_blob_write(blob, "a\n", 2) == 1);
	CHECK(store_append(u, box, &blob, &req, &uid, &uv) == 1);
	CHECK(uid == 17 && uv == 4242);
	/* A used (or lower) UID is refused; 0 takes the next one. */
	req.uid = 17;
	CHECK(store_blob_begin(u, true, &blob) == 1 && store_blob_write(blob, "b\n", 2) == 1);
	CHECK(store_append(u, box, &blob, &req, &uid, &uv) == -1);
	CHECK(store_error(NULL) == STORE_ERR_ALREADYEXISTS);
	req.uid = 0;
	CHECK(store_blob_begin(u, true, &blob) == 1 && store_blob_write(blob, "c\n", 2) == 1);
	CHECK(store_append(u, box, &blob, &req, &uid, &uv) == 1 && uid == 18);
	/* Not once the mailbox has held mail. */
	CHECK(store_mailbox_set_uidvalidity(u, box, 5000) == -1);
	CHECK(store_error(NULL) == STORE_ERR_NOPERM);
	/* Later mailboxes get UIDVALIDITYs above an imported one, even one
	 * above the clock-based values. */
	uint64_t high, later;
	CHECK(store_mailbox_create(u, "High", 0, &high) == 1);
	CHECK(store_mailbox_set_uidvalidity(u, high, 4000000000u) == 1);
	CHECK(store_mailbox_create(u, "Later", 0, &later) == 1);
	CHECK(store_mailbox_status(u, later, &st) == 1 && st.uidvalidity > 4000000000u);
	tsu_teardown(&u);
}

UNIT_MAIN()
