#include <string.h>

#include "lib/buf.h"
#include "lib/mutf7.h"
#include "unit.h"

/* utf8 <-> mutf7 both ways, strict. */
static void check_both(const char *utf8, const char *mutf7)
{
	struct buf a = BUF_INIT(0), b = BUF_INIT(0);
	CHECK(mutf7_encode(str_c(utf8), &a) == 1);
	CHECK_STREQ(buf_cstr(&a), mutf7);
	CHECK(mutf7_decode(str_c(mutf7), 0, &b) == 1);
	CHECK_STREQ(buf_cstr(&b), utf8);
	buf_free(&a);
	buf_free(&b);
}

static bool decode_bad(const char *mutf7, unsigned flags)
{
	struct buf b = BUF_INIT(0);
	int r = mutf7_decode(str_c(mutf7), flags, &b);
	buf_free(&b);
	return r < 0;
}

TEST(mutf7_round_trips)
{
	check_both("INBOX", "INBOX");
	check_both("已发送", "&XfJT0ZAB-");
	check_both("A&B", "A&-B");
	check_both("&", "&-");
	check_both("Entwürfe", "Entw&APw-rfe");
	check_both("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	check_both("\xf0\x9f\x93\xa7", "&2D3c5w-");      /* U+1F4E7, a surrogate pair */
	check_both("\xf0\x9f\x93\xa7 mail", "&2D3c5w- mail");
	check_both("a\tb", "a&AAk-b");                   /* control characters are encoded */
	check_both("", "");
}

TEST(mutf7_long_runs)
{
	/* More code units than one internal batch: 200 x U+5DF2. */
	struct buf u8 = BUF_INIT(0), u7 = BUF_INIT(0), back = BUF_INIT(0);
	for (int i = 0; i < 200; i++)
		CHECK(buf_append_cstr(&u8, "已") == 1);
	CHECK(mutf7_encode(buf_str(&u8), &u7) == 1);
	CHECK(u7.len == 2 + (200 * 16 + 5) / 6);
	CHECK(mutf7_decode(buf_str(&u7), 0, &back) == 1);
	CHECK(back.len == u8.len && memcmp(back.data, u8.data, u8.len) == 0);
	buf_free(&u8);
	buf_free(&u7);
	buf_free(&back);
}

TEST(mutf7_bad_input)
{
	CHECK(decode_bad("&Jjo!", 0));     /* unterminated, bad char */
	CHECK(decode_bad("&Jjo", 0));      /* unterminated at the end */
	CHECK(decode_bad("&U,BTFw", 0));   /* no '-' */
	CHECK(decode_bad("&2D0-", 0));     /* lone high surrogate */
	CHECK(decode_bad("&2D3-", 0));     /* lone high surrogate, leftover bits */
	CHECK(decode_bad("&3gA-", 0));     /* lone low surrogate */
	CHECK(decode_bad("a\xc3\xa4", 0)); /* 8-bit */
	CHECK(decode_bad("a\tb", 0));      /* control character outside a run */
	CHECK(decode_bad("&U,BTF-", 0));   /* leftover bits */
	CHECK(decode_bad("&A-", 0));       /* 6 bits, no unit */
	struct buf b = BUF_INIT(0);
	CHECK(mutf7_encode(str_c("\xff"), &b) < 0);
	buf_reset(&b);
	CHECK(mutf7_encode(str_c("\xc0\xaf"), &b) < 0);         /* overlong '/' */
	buf_reset(&b);
	CHECK(mutf7_encode(str_c("\xed\xa0\x80"), &b) < 0);     /* surrogate */
	buf_reset(&b);
	CHECK(mutf7_encode(str_c("\xf4\x90\x80\x80"), &b) < 0); /* > U+10FFFF */
	buf_reset(&b);
	CHECK(mutf7_encode(str_c("\xe5\xb7"), &b) < 0);         /* truncated */
	buf_free(&b);
}

TEST(mutf7_encoded_ascii)
{
	/* RFC 3501 5.1.3 forbids encoding printable ASCII; Maildir++ writes
	 * '.' as "&AC4-", so the flag lets it through. */
	CHECK(decode_bad("&AGE-", 0));
	CHECK(decode_bad("v1&AC4-2", 0));
	struct buf b = BUF_INIT(0);
	CHECK(mutf7_decode(str_c("v1&AC4-2"), MUTF7_ALLOW_ENCODED_ASCII, &b) == 1);
	CHECK_STREQ(buf_cstr(&b), "v1.2");
	buf_free(&b);
	CHECK(decode_bad("&2D0-", MUTF7_ALLOW_ENCODED_ASCII)); /* still strict otherwise */
}

TEST(mutf7_buffer_limit)
{
	struct buf b = BUF_INIT(8);
	CHECK(mutf7_encode(str_c("已发送"), &b) < 0); /* needs 10 bytes */
	buf_free(&b);
	b = BUF_INIT(4);
	CHECK(mutf7_decode(str_c("&XfJT0ZAB-"), 0, &b) < 0); /* 9 bytes of UTF-8 */
	buf_free(&b);
}

UNIT_MAIN()
