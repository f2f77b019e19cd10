/* Output encoding of IMAP strings (src/lib/imap-quote.c). */
#include <string.h>

#include "lib/buf.h"
#include "lib/imap-quote.h"
#include "unit.h"

#define CHECK_BUF(b, lit) CHECK_MEMEQ((b)->data, (b)->len, lit, sizeof(lit) - 1)

TEST(quote_plain_and_escapes)
{
	struct buf b = BUF_INIT(0);
	CHECK(imap_append_string(&b, STR_LIT("hello world"), 0) == 1);
	CHECK_BUF(&b, "\"hello world\"");
	buf_reset(&b);
	CHECK(imap_append_string(&b, STR_LIT("a\"b\\c"), 0) == 1);
	CHECK_BUF(&b, "\"a\\\"b\\\\c\"");
	buf_reset(&b);
	CHECK(imap_append_string(&b, STR_LIT(""), 0) == 1);
	CHECK_BUF(&b, "\"\"");
	buf_reset(&b);
	CHECK(imap_append_string(&b, STR_NULL, 0) == 1);
	CHECK_BUF(&b, "\"\"");
	buf_free(&b);
}

TEST(quote_literal_cases)
{
	struct buf b = BUF_INIT(0);
	CHECK(imap_append_string(&b, STR_LIT("a\r\nb"), 0) == 1);
	CHECK_BUF(&b, "{4}\r\na\r\nb");
	buf_reset(&b);
	/* 8-bit: literal unless UTF-8 is allowed and it is valid UTF-8. */
	CHECK(imap_append_string(&b, STR_LIT("\xe5\xb7\xb2\xe5\x8f\x91\xe9\x80\x81"), 0) == 1);
	CHECK_BUF(&b, "{9}\r\n\xe5\xb7\xb2\xe5\x8f\x91\xe9\x80\x81");
	buf_reset(&b);
	CHECK(imap_append_string(&b, STR_LIT("\xe5\xb7\xb2\xe5\x8f\x91\xe9\x80\x81"),
				 IMAP_QUOTE_UTF8) == 1);
	CHECK_BUF(&b, "\"\xe5\xb7\xb2\xe5\x8f\x91\xe9\x80\x81\"");
	buf_reset(&b);
	/* GBK bytes are not UTF-8. */
	CHECK(imap_append_string(&b, STR_LIT("\xd2\xd1\xb7\xa2"), IMAP_QUOTE_UTF8) == 1);
	CHECK_BUF(&b, "{4}\r\n\xd2\xd1\xb7\xa2");
	buf_reset(&b);
	/* Overlong and surrogate encodings are not well-formed UTF-8. */
	CHECK(!imap_can_quote(STR_LIT("\xc0\xaf"), IMAP_QUOTE_UTF8));
	CHECK(!imap_can_quote(STR_LIT("\xed\xa0\x80"), IMAP_QUOTE_UTF8));
	CHECK(!imap_can_quote(STR_LIT("\xf4\x90\x80\x80"), IMAP_QUOTE_UTF8));
	CHECK(!imap_can_quote(STR_LIT("\xe5\xb7"), IMAP_QUOTE_UTF8));
	CHECK(imap_can_quote(STR_LIT("\xf0\x9f\x98\x80"), IMAP_QUOTE_UTF8));
	/* NUL: literal, or literal8 when asked. */
	CHECK(imap_append_string(&b, str_make("a\0b", 3), 0) == 1);
	CHECK_BUF(&b, "{3}\r\na\0b");
	buf_reset(&b);
	CHECK(imap_append_string(&b, str_make("a\0b", 3), IMAP_QUOTE_LITERAL8) == 1);
	CHECK_BUF(&b, "~{3}\r\na\0b");
	buf_reset(&b);
	/* LITERAL8 without NUL stays a normal literal. */
	CHECK(imap_append_literal(&b, STR_LIT("ab"), IMAP_QUOTE_LITERAL8) == 1);
	CHECK_BUF(&b, "{2}\r\nab");
	buf_reset(&b);
	/* Long values become literals. */
	char big[IMAP_QUOTE_MAX_QUOTED + 1];
	memset(big, 'x', sizeof(big));
	CHECK(imap_can_quote(str_make(big, IMAP_QUOTE_MAX_QUOTED), 0));
	CHECK(imap_append_string(&b, str_make(big, sizeof(big)), 0) == 1);
	CHECK(b.len == sizeof(big) + 8 && memcmp(b.data, "{1025}\r\n", 8) == 0);
	buf_free(&b);
}

TEST(quote_nstring_astring)
{
	struct buf b = BUF_INIT(0);
	CHECK(imap_append_nstring(&b, STR_NULL, 0) == 1);
	CHECK_BUF(&b, "NIL");
	buf_reset(&b);
	CHECK(imap_append_nstring(&b, STR_LIT("NIL"), 0) == 1);
	CHECK_BUF(&b, "\"NIL\"");
	buf_reset(&b);
	CHECK(imap_append_astring(&b, STR_LIT("INBOX"), 0) == 1);
	CHECK_BUF(&b, "INBOX");
	buf_reset(&b);
	CHECK(imap_append_astring(&b, STR_LIT("a]b"), 0) == 1);
	CHECK_BUF(&b, "a]b");
	buf_reset(&b);
	CHECK(imap_append_astring(&b, STR_LIT("nil"), 0) == 1);
	CHECK_BUF(&b, "\"nil\"");
	buf_reset(&b);
	CHECK(imap_append_astring(&b, STR_LIT("Sent Items"), 0) == 1);
	CHECK_BUF(&b, "\"Sent Items\"");
	buf_reset(&b);
	CHECK(imap_append_astring(&b, STR_LIT(""), 0) == 1);
	CHECK_BUF(&b, "\"\"");
	buf_reset(&b);
	const char *specials[] = { "a(b", "a)", "{x", "a%", "a*", "a\"", "a\\", "a\x7f" };
	for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
		buf_reset(&b);
		CHECK(imap_append_astring(&b, str_c(specials[i]), 0) == 1);
		CHECK(b.len > 0 && (b.data[0] == '"' || b.data[0] == '{'));
	}
	buf_free(&b);
}

TEST(quote_buffer_max)
{
	struct buf b = BUF_INIT(4);
	CHECK(imap_append_string(&b, STR_LIT("abc"), 0) == -1);
	CHECK(imap_append_nstring(&b, STR_NULL, 0) == 1);
	CHECK(imap_append_literal(&b, STR_LIT("abcdef"), 0) == -1);
	buf_free(&b);
}

UNIT_MAIN()
