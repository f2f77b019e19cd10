#include <string.h>

#include "cli/maildir.h"
#include "store/store.h"
#include "unit.h"

TEST(maildir_names)
{
	struct maildir_name n;
	maildir_name_parse(STR_LIT("1700000000.M1P2.host,S=1234,W=1260:2,FRSac"), &n);
	CHECK(str_eq(n.base, STR_LIT("1700000000.M1P2.host,S=1234,W=1260")));
	CHECK(n.flags == (STORE_FLAG_FLAGGED | STORE_FLAG_ANSWERED | STORE_FLAG_SEEN));
	CHECK(n.keywords == ((1u << 0) | (1u << 2)));
	CHECK(n.size == 1234 && n.vsize == 1260);
	CHECK(!n.passed);
	maildir_name_parse(STR_LIT("1.2.host"), &n);
	CHECK(str_eq(n.base, STR_LIT("1.2.host")) && n.flags == 0 && n.size == 0);
	maildir_name_parse(STR_LIT("x:2,PTD"), &n);
	CHECK(n.passed && n.flags == (STORE_FLAG_DELETED | STORE_FLAG_DRAFT));
	char info[64];
	CHECK(maildir_info_format(STORE_FLAG_SEEN | STORE_FLAG_DRAFT | STORE_FLAG_FLAGGED, true, 5,
				  info, sizeof(info)) == 9);
	CHECK_STREQ(info, ":2,DFPSac");
}

TEST(maildir_folders)
{
	char out[256];
	CHECK(maildir_folder_to_mailbox(STR_LIT(".Sub.Folder"), out, sizeof(out)) > 0);
	CHECK_STREQ(out, "Sub/Folder");
	CHECK(maildir_folder_to_mailbox(STR_LIT(".&XfJT0ZAB-"), out, sizeof(out)) > 0);
	CHECK_STREQ(out, "已发送");
	CHECK(maildir_folder_to_mailbox(STR_LIT(".a..b"), out, sizeof(out)) == -1);
	CHECK(maildir_folder_to_mailbox(STR_LIT("."), out, sizeof(out)) == -1);
	CHECK(maildir_folder_to_mailbox(STR_LIT("cur"), out, sizeof(out)) == -1);
	CHECK(maildir_folder_to_mailbox(STR_LIT(".a/b"), out, sizeof(out)) == -1);
	CHECK(maildir_folder_to_mailbox(STR_LIT(".a&AC8-b"), out, sizeof(out)) == -1);
	/* Maildir++ accepts encoded ASCII: "&AC4-" is a dot inside a name. */
	CHECK(maildir_folder_to_mailbox(STR_LIT(".a&AC4-b.c"), out, sizeof(out)) == 5);
	CHECK_STREQ(out, "a.b/c");
	CHECK(maildir_folder_to_mailbox(STR_LIT(".a.&Jjo"), out, sizeof(out)) == -1);
	CHECK(maildir_folder_to_mailbox(STR_LIT(".&XfJT0ZAB-"), out, 9) == -1); /* cap */
	CHECK(maildir_mailbox_to_folder(STR_LIT("Lists/v1.2/已发送"), out, sizeof(out)) > 0);
	CHECK_STREQ(out, ".Lists.v1&AC4-2.&XfJT0ZAB-");
	char back[256];
	CHECK(maildir_folder_to_mailbox(str_c(out), back, sizeof(back)) > 0);
	CHECK_STREQ(back, "Lists/v1.2/已发送");
}

TEST(maildir_uidlists)
{
	struct maildir_uidlist_header h;
	CHECK(maildir_uidlist_header_parse(STR_LIT("3 V1234567890 N42 G0123abcd"), &h) == 1);
	CHECK(h.version == 3 && h.uidvalidity == 1234567890 && h.next_uid == 42);
	CHECK(maildir_uidlist_header_parse(STR_LIT("1 1111 7"), &h) == 1);
	CHECK(h.version == 1 && h.uidvalidity == 1111 && h.next_uid == 7);
	CHECK(maildir_uidlist_header_parse(STR_LIT("x"), &h) == -1);
	uint32_t uid;
	struct str base;
	CHECK(maildir_uidlist_record_parse(3, STR_LIT("17 W1260 S1234 :1700.M1.host,S=1234:2,S"),
					   &uid, &base) == 1);
	CHECK(uid == 17 && str_eq(base, STR_LIT("1700.M1.host,S=1234")));
	CHECK(maildir_uidlist_record_parse(1, STR_LIT("5 1700.M2.host:2,RS"), &uid, &base) == 1);
	CHECK(uid == 5 && str_eq(base, STR_LIT("1700.M2.host")));
	CHECK(maildir_uidlist_record_parse(3, STR_LIT(""), &uid, &base) == 0);
	CHECK(maildir_uidlist_record_parse(3, STR_LIT("abc :x"), &uid, &base) == -1);
	unsigned idx;
	struct str kw;
	CHECK(maildir_keywords_line_parse(STR_LIT("2 $Forwarded"), &idx, &kw) == 1);
	CHECK(idx == 2 && str_eq(kw, STR_LIT("$Forwarded")));
	CHECK(maildir_keywords_line_parse(STR_LIT("26 x"), &idx, &kw) == -1);
}

UNIT_MAIN()
