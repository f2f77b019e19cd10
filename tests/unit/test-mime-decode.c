/* Decoders: RFC 2047 encoded words, RFC 2231 parameters, base64 and
 * quoted-printable (whole and byte by byte), charsets, case folding. The
 * expected UTF-8 bytes were checked with Python's codecs. */
#include <string.h>

#include "mime/mime.h"
#include "unit.h"

static const char *dec2047(struct buf *b, const char *in, const char *fallback)
{
	buf_reset(b);
	if (mime_decode_header_value(str_c(in), str_c(fallback), b) != 1)
		return "(error)";
	return buf_cstr(b);
}

TEST(rfc2047_words)
{
	struct buf b = BUF_INIT(0);
	CHECK_STREQ(dec2047(&b, "plain text", NULL), "plain text");
	CHECK_STREQ(dec2047(&b, "=?utf-8?B?5bey5Y+R6YCB?=", NULL), "\xe5\xb7\xb2\xe5\x8f\x91\xe9\x80\x81");
	CHECK_STREQ(dec2047(&b, "=?ISO-8859-1?Q?Andr=E9_Pirard?=", NULL), "Andr\xc3\xa9 Pirard");
	/* RFC 2047 8 examples: white space between adjacent words is dropped,
	 * between a word and text it is kept */
	CHECK_STREQ(dec2047(&b, "(=?ISO-8859-1?Q?a?= b)", NULL), "(a b)");
	CHECK_STREQ(dec2047(&b, "(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", NULL), "(ab)");
	CHECK_STREQ(dec2047(&b, "(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", NULL), "(ab)");
	CHECK_STREQ(dec2047(&b, "(=?ISO-8859-1?Q?a_b?=)", NULL), "(a b)");
	CHECK_STREQ(dec2047(&b, "(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", NULL), "(a b)");
	/* a GBK character split across two words */
	CHECK_STREQ(dec2047(&b, "=?GBK?B?1tDO?= =?GBK?B?xA==?=", NULL), "\xe4\xb8\xad\xe6\x96\x87");
	/* GB2312 label, GBK-only character (read as GB18030) */
	CHECK_STREQ(dec2047(&b, "=?gb2312?B?1uzpRrv5?=", NULL), "\xe6\x9c\xb1\xe9\x95\x95\xe5\x9f\xba");
	/* RFC 2231 language suffix in the charset */
	CHECK_STREQ(dec2047(&b, "=?US-ASCII*EN?Q?Keith_Moore?=", NULL), "Keith Moore");
	/* not encoded words: kept */
	CHECK_STREQ(dec2047(&b, "=?utf-8?X?abc?=", NULL), "=?utf-8?X?abc?=");
	CHECK_STREQ(dec2047(&b, "a =?utf-8?B?unterminated", NULL), "a =?utf-8?B?unterminated");
	CHECK_STREQ(dec2047(&b, "x=?", NULL), "x=?");
	/* folding removed, text around words kept */
	CHECK_STREQ(dec2047(&b, "Re: =?utf-8?Q?caf=C3=A9?=\r\n and more", NULL),
		    "Re: caf\xc3\xa9 and more");
	/* raw 8-bit: UTF-8 kept; GBK via the fallback charset; else U+FFFD */
	CHECK_STREQ(dec2047(&b, "\xe4\xb8\xad", NULL), "\xe4\xb8\xad");
	CHECK_STREQ(dec2047(&b, "\xd6\xd0\xce\xc4", "gbk"), "\xe4\xb8\xad\xe6\x96\x87");
	CHECK_STREQ(dec2047(&b, "a\xffz", NULL), "a\xef\xbf\xbdz");
	/* invalid bytes inside a word never abort decoding */
	CHECK_STREQ(dec2047(&b, "=?utf-8?Q?a=FFb?=", NULL), "a\xef\xbf\xbd" "b");
	CHECK_STREQ(dec2047(&b, "=?no-such-charset?Q?abc?=", NULL), "abc");
	buf_free(&b);
}

static const char *param(struct buf *b, const char *value, const char *name)
{
	buf_reset(b);
	int r = mime_param_get_utf8(str_c(value), name, b);
	if (r == 0)
		return "(none)";
	return r == 1 ? buf_cstr(b) : "(error)";
}

TEST(rfc2231_params)
{
	struct buf b = BUF_INIT(0);
	CHECK_STREQ(param(&b, "attachment; filename=\"a \\\"b\\\".txt\"", "filename"), "a \"b\".txt");
	CHECK_STREQ(param(&b, "text/plain; charset=us-ascii (Plain text)", "charset"), "us-ascii");
	CHECK_STREQ(param(&b, "text/plain; charset=us-ascii", "name"), "(none)");
	/* RFC 2231 3: continuations, in any order */
	CHECK_STREQ(param(&b, "message/external-body; access-type=URL; "
			      "URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"; "
			      "URL*0=\"ftp://\"",
			  "url"),
		    "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar");
	/* RFC 2231 4: charset and language */
	CHECK_STREQ(param(&b, "application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
			  "title"),
		    "This is ***fun***");
	/* 4.1: mixed encoded and plain sections */
	CHECK_STREQ(param(&b, "application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; "
			      "title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"",
			  "title"),
		    "This is even more ***fun*** isn't it!");
	CHECK_STREQ(param(&b, "attachment; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf", "filename"),
		    "\xe6\x8a\xa5\xe5\x91\x8a.pdf");
	CHECK_STREQ(param(&b, "attachment; filename*=gbk''%B1%A8%B8%E6.txt", "filename"),
		    "\xe6\x8a\xa5\xe5\x91\x8a.txt");
	/* a multi-byte character split across sections */
	CHECK_STREQ(param(&b, "attachment; filename*0*=UTF-8''%E4%B8; filename*1*=%AD.pdf",
			  "filename"),
		    "\xe4\xb8\xad.pdf");
	/* the RFC 2231 form wins over a plain fallback, in either order */
	CHECK_STREQ(param(&b, "attachment; filename=\"report.pdf\"; filename*=UTF-8''%E6%8A%A5.pdf",
			  "filename"),
		    "\xe6\x8a\xa5.pdf");
	CHECK_STREQ(param(&b, "attachment; filename*=UTF-8''%E6%8A%A5.pdf; filename=\"report.pdf\"",
			  "filename"),
		    "\xe6\x8a\xa5.pdf");
	/* RFC 2047 inside a quoted parameter (Outlook, many Chinese mailers) */
	CHECK_STREQ(param(&b, "attachment; filename=\"=?GBK?B?1tDOxA==?=.doc\"", "filename"),
		    "\xe4\xb8\xad\xe6\x96\x87.doc");
	buf_free(&b);
}

TEST(base64_decoding)
{
	struct buf b = BUF_INIT(0);
	CHECK(mime_cte_decode(MIME_CTE_BASE64, STR_LIT("aGVs\r\nbG8g d29y\tbGQ="), &b) == 1);
	CHECK_STREQ(buf_cstr(&b), "hello world");
	buf_reset(&b);
	CHECK(mime_cte_decode(MIME_CTE_BASE64, STR_LIT("AP8Q"), &b) == 1);
	CHECK_MEMEQ(b.data, b.len, "\x00\xff\x10", 3);
	buf_reset(&b);
	/* missing padding, junk characters */
	struct mime_b64_dec d;
	mime_b64_dec_init(&d);
	CHECK(mime_b64_dec_feed(&d, "aGVsbG8*", 8, &b) == 1);
	CHECK(mime_b64_dec_finish(&d, &b) == 1);
	CHECK_STREQ(buf_cstr(&b), "hello");
	CHECK(d.invalid);
	/* byte by byte gives the same */
	static const char in[] = "SGVs\r\nbG8sIHdv\r\ncmxkIQ==\r\n";
	buf_reset(&b);
	mime_b64_dec_init(&d);
	for (size_t i = 0; i < sizeof(in) - 1; i++)
		CHECK(mime_b64_dec_feed(&d, in + i, 1, &b) == 1);
	CHECK(mime_b64_dec_finish(&d, &b) == 1);
	CHECK_STREQ(buf_cstr(&b), "Hello, world!");
	CHECK(!d.invalid);
	CHECK(mime_cte_decoded_size(MIME_CTE_BASE64, str_c(in)) == 13);
	/* two encodings glued together */
	buf_reset(&b);
	CHECK(mime_cte_decode(MIME_CTE_BASE64, STR_LIT("YQ==Yg=="), &b) == 1);
	CHECK_STREQ(buf_cstr(&b), "ab");
	buf_free(&b);
}

TEST(quoted_printable_decoding)
{
	static const char in[] = "caf=C3=A9 =3D ok   \r\nsoft=\r\nbreak=  \r\nx=4\r\nbad=ZZ\r\nend=";
	static const char want[] = "caf\xc3\xa9 = ok\r\nsoftbreakx=4\r\nbad=ZZ\r\nend";
	struct buf b = BUF_INIT(0);
	CHECK(mime_cte_decode(MIME_CTE_QP, str_c(in), &b) == 1);
	CHECK_STREQ(buf_cstr(&b), want);
	/* any split of the input decodes the same */
	for (size_t split = 0; split <= sizeof(in) - 1; split++) {
		struct mime_qp_dec d;
		buf_reset(&b);
		mime_qp_dec_init(&d);
		CHECK(mime_qp_dec_feed(&d, in, split, &b) == 1);
		CHECK(mime_qp_dec_feed(&d, in + split, sizeof(in) - 1 - split, &b) == 1);
		CHECK(mime_qp_dec_finish(&d, &b) == 1);
		CHECK_STREQ(buf_cstr(&b), want);
		CHECK(d.invalid);
	}
	struct mime_qp_dec d;
	buf_reset(&b);
	mime_qp_dec_init(&d);
	for (size_t i = 0; i < sizeof(in) - 1; i++)
		CHECK(mime_qp_dec_feed(&d, in + i, 1, &b) == 1);
	CHECK(mime_qp_dec_finish(&d, &b) == 1);
	CHECK_STREQ(buf_cstr(&b), want);
	CHECK(mime_cte_decoded_size(MIME_CTE_QP, str_c(in)) == sizeof(want) - 1);
	/* LF-only line ends are kept as they are */
	buf_reset(&b);
	CHECK(mime_cte_decode(MIME_CTE_QP, STR_LIT("a \nb=\nc"), &b) == 1);
	CHECK_STREQ(buf_cstr(&b), "a\nbc");
	CHECK(mime_cte_decoded_size(MIME_CTE_7BIT, STR_LIT("abc")) == 3);
	buf_free(&b);
}

TEST(cte_names)
{
	CHECK(mime_cte_parse(STR_LIT(" Base64 ")) == MIME_CTE_BASE64);
	CHECK(mime_cte_parse(STR_LIT("quoted-printable (x)")) == MIME_CTE_QP);
	CHECK(mime_cte_parse(STR_LIT("8BIT")) == MIME_CTE_8BIT);
	CHECK(mime_cte_parse(STR_LIT("binary")) == MIME_CTE_BINARY);
	CHECK(mime_cte_parse(STR_LIT("")) == MIME_CTE_7BIT);
	CHECK(mime_cte_parse(STR_LIT("x-uuencode")) == MIME_CTE_OTHER);
}

static const char *conv(struct buf *b, const char *cs, const char *in, size_t len, int *r)
{
	buf_reset(b);
	*r = mime_charset_to_utf8(str_c(cs), str_make(in, len), b);
	return buf_cstr(b);
}

TEST(charsets)
{
	struct buf b = BUF_INIT(0);
	int r;
	CHECK_STREQ(conv(&b, "GBK", "\xd6\xd0\xce\xc4", 4, &r), "\xe4\xb8\xad\xe6\x96\x87");
	CHECK(r == 1);
	CHECK_STREQ(conv(&b, "gb2312", "\xd6\xec\xe9\x46\xbb\xf9", 6, &r),
		    "\xe6\x9c\xb1\xe9\x95\x95\xe5\x9f\xba");
	CHECK_STREQ(conv(&b, "GB18030", "caf\xa8\xa6 \x94\x39\xfc\x36", 10, &r),
		    "caf\xc3\xa9 \xf0\x9f\x98\x80");
	CHECK_STREQ(conv(&b, "big5", "\xb4\xfa\xb8\xd5", 4, &r), "\xe6\xb8\xac\xe8\xa9\xa6");
	/* HKSCS character through the big5 label */
	CHECK_STREQ(conv(&b, "Big5", "\x9d\xb7", 2, &r), "\xf0\xa3\xb2\xb7");
	/* invalid bytes become U+FFFD and conversion continues */
	CHECK_STREQ(conv(&b, "gbk", "a\xff" "b\xd6", 4, &r), "a\xef\xbf\xbd" "b\xef\xbf\xbd");
	CHECK(r == 1);
	CHECK_STREQ(conv(&b, "utf-8", "ok\xc3(", 4, &r), "ok\xef\xbf\xbd(");
	/* Latin-1 label read as Windows-1252 */
	CHECK_STREQ(conv(&b, "ISO-8859-1", "\xe9\x80", 2, &r), "\xc3\xa9\xe2\x82\xac");
	/* stateful and non-ASCII-compatible encodings */
	CHECK_STREQ(conv(&b, "iso-2022-jp", "\x1b\x24\x42\x46\x7c\x4b\x5c\x38\x6c\x1b\x28\x42", 12,
			 &r),
		    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	CHECK_STREQ(conv(&b, "utf-16", "\xff\xfe\x61\x00\x62\x00", 6, &r), "ab");
	/* unknown or hostile names: fallback, never passed on to iconv */
	CHECK_STREQ(conv(&b, "x-unknown-charset", "a\xe9", 2, &r), "a\xc3\xa9");
	CHECK(r == 0);
	CHECK_STREQ(conv(&b, "utf-8//TRANSLIT", "x", 1, &r), "x");
	CHECK(r == 0);
	CHECK_STREQ(conv(&b, "", "\xe4\xb8\xad", 3, &r), "\xe4\xb8\xad");
	buf_free(&b);
}

TEST(casefold_and_search)
{
	struct buf b = BUF_INIT(0);
	CHECK(mime_casefold_utf8(STR_LIT("Hello WORLD"), &b) == 1);
	CHECK_STREQ(buf_cstr(&b), "hello world");
	buf_reset(&b);
	CHECK(mime_casefold_utf8(STR_LIT("\xc3\x80\xc3\x89\xc3\x8e\xc3\x95\xc3\x9c"), &b) == 1);
	CHECK_STREQ(buf_cstr(&b), "\xc3\xa0\xc3\xa9\xc3\xae\xc3\xb5\xc3\xbc"); /* ÀÉÎÕÜ */
	buf_reset(&b);
	/* Ελληνικά */
	CHECK(mime_casefold_utf8(STR_LIT("\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac"),
				 &b) == 1);
	CHECK_STREQ(buf_cstr(&b), "\xce\xb5\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac");
	buf_reset(&b);
	/* ПРИВЕТ */
	CHECK(mime_casefold_utf8(STR_LIT("\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2"), &b) == 1);
	CHECK_STREQ(buf_cstr(&b), "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	buf_reset(&b);
	/* CJK unchanged; invalid bytes become U+FFFD */
	CHECK(mime_casefold_utf8(STR_LIT("\xe4\xb8\xad\xff"), &b) == 1);
	CHECK_STREQ(buf_cstr(&b), "\xe4\xb8\xad\xef\xbf\xbd");
	CHECK(mime_search_contains(STR_LIT("Re: Lunch on FRIDAY"), STR_LIT("friday")));
	CHECK(!mime_search_contains(STR_LIT("Re: Lunch"), STR_LIT("dinner")));
	CHECK(mime_search_contains(STR_LIT("abc"), STR_LIT("")));
	/* Привет, мир in different case */
	CHECK(mime_search_contains(STR_LIT("\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, \xd0\xbc\xd0\xb8\xd1\x80"),
				   STR_LIT("\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2")));
	/* 已发送 */
	CHECK(mime_search_contains(STR_LIT("\xe6\x96\x87\xe4\xbb\xb6 \xe5\xb7\xb2\xe5\x8f\x91\xe9\x80\x81"),
				   STR_LIT("\xe5\xb7\xb2\xe5\x8f\x91")));
	/* final sigma matches sigma; Greek capital with tonos */
	CHECK(mime_search_contains(STR_LIT("\xce\xbb\xcf\x8c\xce\xb3\xce\xbf\xcf\x82"),
				   STR_LIT("\xce\x9b\xce\x8c\xce\x93\xce\x9f\xce\xa3")));
	struct mime_search_key k;
	CHECK(mime_search_key_init(&k, STR_LIT("CAF\xc3\x89")) == 1);
	CHECK(mime_search_match(&k, STR_LIT("le caf\xc3\xa9 noir")));
	CHECK(!mime_search_match(&k, STR_LIT("le cafe noir")));
	mime_search_key_free(&k);
	buf_free(&b);
}

UNIT_MAIN()
