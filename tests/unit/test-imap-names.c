/* Mailbox names on the wire: modified UTF-7 for IMAP4rev1 sessions, UTF-8
 * for IMAP4rev2 / UTF8=ACCEPT ones; INBOX case rules; response quoting. */
#include <string.h>

#include "imap/imap-session.h"
#include "lib/pool.h"
#include "unit.h"

static const char *from_wire(struct imap_session *s, struct pool *pool, const char *wire)
{
	const char *name, *err;
	if (imap_session_mailbox_from_wire(s, str_c(wire), pool, &name, &err) < 0)
		return NULL;
	return name;
}

static void check_to_wire(struct imap_session *s, const char *name, const char *expected)
{
	struct buf b = BUF_INIT(0);
	CHECK(imap_session_mailbox_to_wire(s, name, &b) == 1);
	CHECK_STREQ(buf_cstr(&b), expected);
	buf_free(&b);
}

TEST(names_rev1)
{
	struct imap_session s;
	memset(&s, 0, sizeof(s));
	struct pool *pool = pool_new(1024);
	CHECK_STREQ(from_wire(&s, pool, "&XfJT0ZAB-"), "已发送");
	CHECK_STREQ(from_wire(&s, pool, "inbox"), "INBOX");
	CHECK_STREQ(from_wire(&s, pool, "InBoX/Sub"), "INBOX/Sub");
	CHECK_STREQ(from_wire(&s, pool, "INBOXES"), "INBOXES");
	CHECK_STREQ(from_wire(&s, pool, "Tom &- Jerry"), "Tom & Jerry");
	CHECK(from_wire(&s, pool, "&Jjo!") == NULL);
	check_to_wire(&s, "已发送", "&XfJT0ZAB-");
	check_to_wire(&s, "INBOX", "INBOX");
	check_to_wire(&s, "My Folder", "\"My Folder\"");
	check_to_wire(&s, "Tom & Jerry", "\"Tom &- Jerry\"");
	check_to_wire(&s, "a\"b\\c", "\"a\\\"b\\\\c\"");
	check_to_wire(&s, "NIL", "\"NIL\"");
	pool_free(&pool);
}

TEST(names_utf8)
{
	struct imap_session s;
	memset(&s, 0, sizeof(s));
	s.enabled = IMAP_ENABLED_UTF8;
	struct pool *pool = pool_new(1024);
	CHECK_STREQ(from_wire(&s, pool, "已发送"), "已发送");
	/* in a UTF-8 session "&" is just a character */
	CHECK_STREQ(from_wire(&s, pool, "&XfJT0ZAB-"), "&XfJT0ZAB-");
	CHECK(from_wire(&s, pool, "\xff\xfe") == NULL);
	CHECK(from_wire(&s, pool, "a\x01") == NULL);
	check_to_wire(&s, "已发送", "\"已发送\"");
	check_to_wire(&s, "Sent", "Sent");
	s.enabled = IMAP_ENABLED_IMAP4REV2;
	CHECK_STREQ(from_wire(&s, pool, "收件箱/通知"), "收件箱/通知");
	pool_free(&pool);
}

UNIT_MAIN()
