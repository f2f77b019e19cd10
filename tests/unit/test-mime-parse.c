/* The message parser and the cache blob: the corpus in tests/data/mime
 * (expected ENVELOPE / BODYSTRUCTURE written by hand from the RFC 9051
 * grammar), byte-exact part offsets, section lookup, limits, broken input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime/mime.h"
#include "test-mime-imapcheck.h"
#include "unit.h"

static char *read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct buf b = BUF_INIT(0);
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	if (b.data == NULL)
		buf_append(&b, "", 0);
	return buf_steal(&b, len_r);
}

struct parsed {
	char *msg;
	size_t len;
	struct buf blob;
	struct mime_cache c;
};

static bool parse_mem(struct parsed *p, const char *msg, size_t len)
{
	p->msg = malloc(len + 1);
	memcpy(p->msg, msg, len);
	p->len = len;
	p->blob = BUF_INIT(0);
	return mime_cache_build(p->msg, len, &p->blob) == 1 &&
	       mime_cache_open(&p->c, p->blob.data, p->blob.len) == 1;
}

static bool parse_corpus(struct parsed *p, const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "tests/data/mime/%s.eml", name);
	size_t len;
	char *msg = read_file(path, &len);
	if (msg == NULL)
		return false;
	bool ok = parse_mem(p, msg, len);
	free(msg);
	return ok;
}

static void parsed_free(struct parsed *p)
{
	free(p->msg);
	buf_free(&p->blob);
}

static struct str slice(const struct parsed *p, size_t off, size_t len)
{
	return str_make(p->msg + off, len);
}

#define CHECK_STR(s, lit) CHECK_MEMEQ((s).p, (s).len, lit, sizeof(lit) - 1)

static const char *const corpus[] = {
	"plain", "alternative", "attachments", "forward", "reply", "gbk", "gb18030", "big5",
	"utf8-2231", "broken-noboundary", "broken-unterminated", "broken-wrongboundary",
	"broken-headers", "empty", "headers-only", "bare-lf", "digest", "outlook",
};

TEST(corpus_envelope_and_bodystructure)
{
	for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
		struct parsed p;
		char path[256];
		size_t elen, blen;
		CHECK(parse_corpus(&p, corpus[i]));
		snprintf(path, sizeof(path), "tests/data/mime/%s.envelope", corpus[i]);
		char *env = read_file(path, &elen);
		snprintf(path, sizeof(path), "tests/data/mime/%s.bodystructure", corpus[i]);
		char *bs = read_file(path, &blen);
		CHECK(env != NULL && bs != NULL);
		if (env && bs) {
			struct str e = mime_cache_envelope(&p.c), b = mime_cache_bodystructure(&p.c);
			if (e.len != elen || memcmp(e.p, env, elen) != 0 || b.len != blen ||
			    memcmp(b.p, bs, blen) != 0)
				fprintf(stderr, "  corpus message: %s\n", corpus[i]);
			CHECK_MEMEQ(e.p, e.len, env, elen);
			CHECK_MEMEQ(b.p, b.len, bs, blen);
			struct str body = mime_cache_body(&p.c);
			CHECK(imapcheck(e.p, e.len));
			CHECK(imapcheck(b.p, b.len));
			CHECK(imapcheck(body.p, body.len));
		}
		free(env);
		free(bs);
		parsed_free(&p);
	}
}

TEST(body_is_non_extended)
{
	struct parsed p;
	CHECK(parse_corpus(&p, "forward"));
	CHECK_STR(mime_cache_body(&p.c),
		  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 10 1)"
		  "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 393 "
		  "(\"Thu, 26 Nov 2026 09:00:00 +0000\" \"Lunch on Friday?\" "
		  "((\"Alice Example\" NIL \"alice\" \"example.org\")) "
		  "((\"Alice Example\" NIL \"alice\" \"example.org\")) "
		  "((\"Alice Example\" NIL \"alice\" \"example.org\")) "
		  "((\"Bob\" NIL \"bob\" \"example.com\")) NIL NIL NIL "
		  "\"<20261126090000.1234@example.org>\") "
		  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 13 1)"
		  "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 20 1) "
		  "\"alternative\") 16) \"mixed\")");
	parsed_free(&p);
}

/* Every part's header slice is a header (empty, or ends with the blank
 * line) and its body ends where the next delimiter's CRLF starts. */
TEST(part_offsets_are_exact)
{
	struct parsed p;
	struct mime_part_info in;
	CHECK(parse_corpus(&p, "attachments"));
	CHECK(p.c.nparts == 4);
	CHECK(mime_cache_part(&p.c, 0, &in) == 1);
	CHECK(in.header_off == 0 && in.multipart && in.nchildren == 3);
	CHECK(in.header_off + in.header_len == in.body_off);
	CHECK(in.body_off + in.body_len == p.len);
	struct str h = slice(&p, in.header_off, in.header_len);
	CHECK(h.len > 4 && memcmp(h.p + h.len - 4, "\r\n\r\n", 4) == 0);
	CHECK(mime_cache_part(&p.c, 2, &in) == 1);
	h = slice(&p, in.header_off, in.header_len);
	CHECK(h.len > 30 && memcmp(h.p, "Content-Type: application/pdf;", 30) == 0);
	CHECK(memcmp(h.p + h.len - 4, "\r\n\r\n", 4) == 0);
	struct str body = slice(&p, in.body_off, in.body_len);
	CHECK(body.len == 106 && memcmp(body.p, "JVBERi0x", 8) == 0);
	CHECK(memcmp(body.p + body.len - 4, "YK\r\n", 4) != 0); /* CRLF is the delimiter's */
	CHECK(memcmp(p.msg + in.body_off + in.body_len, "\r\n------=_Part_0_1\r\n", 20) == 0);
	CHECK(in.cte == MIME_CTE_BASE64 && in.attachment);
	CHECK_STR(in.type, "application");
	CHECK_STR(in.subtype, "pdf");
	CHECK_STR(in.cte_name, "base64");
	CHECK(in.lines == 2);
	struct buf dec = BUF_INIT(0);
	CHECK(mime_cte_decode(in.cte, body, &dec) == 1);
	CHECK(dec.len == 78 && memcmp(dec.data, "%PDF-1.4\n", 9) == 0);
	CHECK(mime_cte_decoded_size(in.cte, body) == 78);
	buf_free(&dec);
	CHECK(mime_cache_part(&p.c, 3, &in) == 1);
	CHECK_STR(slice(&p, in.body_off, in.body_len), "iVBORw0KGgo=");
	CHECK(mime_cache_part(&p.c, 4, &in) == 0);
	parsed_free(&p);

	CHECK(parse_corpus(&p, "bare-lf"));
	CHECK(mime_cache_part(&p.c, 1, &in) == 1);
	CHECK_STR(slice(&p, in.header_off, in.header_len), "Content-Type: text/plain\n\n");
	CHECK_STR(slice(&p, in.body_off, in.body_len), "one\ntwo");
	parsed_free(&p);
}

TEST(find_part_sections)
{
	struct parsed p;
	struct mime_part_info in;
	CHECK(parse_corpus(&p, "forward"));
	/* depth 0: the whole message, HEADER / TEXT */
	CHECK(mime_cache_find_part(&p.c, NULL, 0, &in) == 1);
	CHECK(in.msg_header_off == 0 && in.msg_body_off == in.msg_header_len);
	CHECK(in.msg_body_off + in.msg_body_len == p.len);
	uint32_t s1[] = { 1 };
	CHECK(mime_cache_find_part(&p.c, s1, 1, &in) == 1);
	CHECK_STR(slice(&p, in.body_off, in.body_len), "See below.");
	CHECK_STR(slice(&p, in.header_off, in.header_len), "Content-Type: text/plain\r\n\r\n");
	CHECK_STR(in.charset, "us-ascii");
	uint32_t s2[] = { 2 };
	CHECK(mime_cache_find_part(&p.c, s2, 1, &in) == 1);
	CHECK(in.message && !in.multipart && in.lines == 16 && in.body_len == 393);
	/* 2.HEADER and 2.TEXT: the encapsulated message */
	struct str ih = slice(&p, in.msg_header_off, in.msg_header_len);
	CHECK(ih.len > 5 && memcmp(ih.p, "Date:", 5) == 0);
	CHECK(memcmp(ih.p + ih.len - 4, "\r\n\r\n", 4) == 0);
	struct str it = slice(&p, in.msg_body_off, in.msg_body_len);
	CHECK(it.len > 8 && memcmp(it.p, "--inner\r\n", 9) == 0);
	CHECK(memcmp(it.p + it.len - 11, "--inner--\r\n", 11) == 0);
	uint32_t s21[] = { 2, 1 }, s22[] = { 2, 2 }, s23[] = { 2, 3 }, s211[] = { 2, 1, 1 };
	CHECK(mime_cache_find_part(&p.c, s21, 2, &in) == 1);
	CHECK_STR(slice(&p, in.body_off, in.body_len), "Are you free?");
	CHECK(mime_cache_find_part(&p.c, s22, 2, &in) == 1);
	CHECK_STR(slice(&p, in.body_off, in.body_len), "<p>Are you free?</p>");
	CHECK_STR(slice(&p, in.header_off, in.header_len),
		  "Content-Type: text/html; charset=us-ascii\r\n\r\n");
	CHECK_STR(in.subtype, "html");
	CHECK(mime_cache_find_part(&p.c, s23, 2, &in) == 0);
	CHECK(mime_cache_find_part(&p.c, s211, 3, &in) == 0);
	uint32_t s3[] = { 3 }, s0[] = { 0 }, s11[] = { 1, 1 };
	CHECK(mime_cache_find_part(&p.c, s3, 1, &in) == 0);
	CHECK(mime_cache_find_part(&p.c, s0, 1, &in) == 0);
	CHECK(mime_cache_find_part(&p.c, s11, 2, &in) == 0);
	parsed_free(&p);

	/* A non-multipart message has only part 1: its body. */
	CHECK(parse_corpus(&p, "plain"));
	CHECK(mime_cache_find_part(&p.c, s1, 1, &in) == 1);
	CHECK(in.header_off == 0 && in.body_len == 55);
	CHECK(memcmp(p.msg + in.body_off, "Hi Bob,", 7) == 0);
	CHECK(mime_cache_find_part(&p.c, s2, 1, &in) == 0);
	CHECK(mime_cache_find_part(&p.c, s11, 2, &in) == 0);
	parsed_free(&p);

	/* multipart/digest: parts default to message/rfc822; the inner
	 * message is not multipart, so 1.1 is its body. */
	CHECK(parse_corpus(&p, "digest"));
	CHECK(mime_cache_find_part(&p.c, s1, 1, &in) == 1);
	CHECK(in.message);
	CHECK_STR(slice(&p, in.header_off, in.header_len), "\r\n");
	CHECK(mime_cache_find_part(&p.c, s11, 2, &in) == 1);
	CHECK_STR(slice(&p, in.body_off, in.body_len), "one");
	CHECK_STR(slice(&p, in.header_off, in.header_len),
		  "From: x@example.org\r\nSubject: first\r\n\r\n");
	parsed_free(&p);
}

TEST(top_level_message_rfc822)
{
	static const char m[] = "Content-Type: message/rfc822\r\n\r\n"
				"Subject: inner\r\n\r\nhello\r\n";
	struct parsed p;
	struct mime_part_info in;
	CHECK(parse_mem(&p, m, sizeof(m) - 1));
	uint32_t s1[] = { 1 }, s11[] = { 1, 1 };
	CHECK(mime_cache_find_part(&p.c, s1, 1, &in) == 1);
	CHECK(in.message);
	CHECK_STR(slice(&p, in.msg_header_off, in.msg_header_len), "Subject: inner\r\n\r\n");
	CHECK(mime_cache_find_part(&p.c, s11, 2, &in) == 1);
	CHECK_STR(slice(&p, in.body_off, in.body_len), "hello\r\n");
	CHECK_STR(mime_cache_bodystructure(&p.c),
		  "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 25 "
		  "(NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) "
		  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 7 1 NIL NIL NIL NIL) "
		  "3 NIL NIL NIL NIL)");
	parsed_free(&p);
}

/* message/rfc822 in base64 cannot be an encapsulated message
 * (RFC 2046 5.2.1); it becomes an opaque application/octet-stream. */
TEST(encoded_message_rfc822_is_opaque)
{
	static const char m[] = "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n"
				"\r\nU3ViamVjdDogeA0KDQp5\r\n";
	struct parsed p;
	CHECK(parse_mem(&p, m, sizeof(m) - 1));
	CHECK_STR(mime_cache_bodystructure(&p.c),
		  "(\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 22 NIL NIL NIL NIL)");
	CHECK(p.c.nparts == 1);
	parsed_free(&p);
}

TEST(depth_is_capped)
{
	struct buf m = BUF_INIT(0);
	unsigned levels = MIME_MAX_DEPTH + 50;
	for (unsigned i = 0; i < levels; i++)
		buf_printf(&m, "Content-Type: multipart/mixed; boundary=b%u\r\n\r\n--b%u\r\n", i, i);
	buf_append_cstr(&m, "Content-Type: text/plain\r\n\r\ndeep\r\n");
	struct parsed p;
	CHECK(parse_mem(&p, m.data, m.len));
	/* root + MIME_MAX_DEPTH levels of parts; the last is shown as text */
	CHECK(p.c.nparts == MIME_MAX_DEPTH + 1);
	struct mime_part_info in;
	CHECK(mime_cache_part(&p.c, MIME_MAX_DEPTH, &in) == 1);
	CHECK(!in.multipart);
	CHECK_STR(in.type, "text");
	struct str bs = mime_cache_bodystructure(&p.c);
	CHECK(imapcheck(bs.p, bs.len));
	uint32_t sec[MIME_MAX_DEPTH + 1];
	for (size_t i = 0; i <= MIME_MAX_DEPTH; i++)
		sec[i] = 1;
	CHECK(mime_cache_find_part(&p.c, sec, MIME_MAX_DEPTH, &in) == 1);
	CHECK(mime_cache_find_part(&p.c, sec, MIME_MAX_DEPTH + 1, &in) == 0);
	parsed_free(&p);
	buf_free(&m);

	/* nested message/rfc822 likewise */
	buf_init(&m, 0);
	for (unsigned i = 0; i < levels; i++)
		buf_append_cstr(&m, "Content-Type: message/rfc822\r\n\r\n");
	buf_append_cstr(&m, "Subject: x\r\n\r\nbody\r\n");
	CHECK(parse_mem(&p, m.data, m.len));
	CHECK(p.c.nparts == MIME_MAX_DEPTH + 1);
	bs = mime_cache_bodystructure(&p.c);
	CHECK(imapcheck(bs.p, bs.len));
	parsed_free(&p);
	buf_free(&m);
}

TEST(part_count_is_capped)
{
	struct buf m = BUF_INIT(0);
	buf_append_cstr(&m, "Content-Type: multipart/mixed; boundary=x\r\n\r\n");
	for (unsigned i = 0; i < MIME_MAX_PARTS + 20; i++)
		buf_append_cstr(&m, "--x\r\n\r\np\r\n");
	buf_append_cstr(&m, "--x--\r\n");
	struct parsed p;
	CHECK(parse_mem(&p, m.data, m.len));
	CHECK(p.c.nparts == MIME_MAX_PARTS);
	struct mime_part_info in;
	CHECK(mime_cache_part(&p.c, 0, &in) == 1 && in.nchildren == MIME_MAX_PARTS - 1);
	struct str bs = mime_cache_bodystructure(&p.c);
	CHECK(imapcheck(bs.p, bs.len));
	parsed_free(&p);
	buf_free(&m);
}

TEST(broken_input_shapes)
{
	struct parsed p;
	struct mime_part_info in;
	/* no header at all: everything is body */
	CHECK(parse_mem(&p, "just text\r\n", 11));
	CHECK(mime_cache_part(&p.c, 0, &in) == 1 && in.header_len == 0 && in.body_len == 11);
	parsed_free(&p);
	/* blank first line: empty header */
	CHECK(parse_mem(&p, "\r\nbody", 6));
	CHECK(mime_cache_part(&p.c, 0, &in) == 1 && in.header_len == 2 && in.body_len == 4);
	parsed_free(&p);
	/* a huge header line */
	struct buf m = BUF_INIT(0);
	buf_append_cstr(&m, "Subject: ");
	for (int i = 0; i < 200000; i++)
		buf_append_cstr(&m, "abcde");
	buf_append_cstr(&m, "\r\n\r\nx");
	CHECK(parse_mem(&p, m.data, m.len));
	struct str e = mime_cache_envelope(&p.c);
	CHECK(imapcheck(e.p, e.len));
	CHECK(e.len > 1000000 && memcmp(e.p, "(NIL {1000000}\r\nabcde", 21) == 0);
	parsed_free(&p);
	buf_free(&m);
	/* multipart whose first delimiter is the close delimiter */
	static const char m2[] = "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q--\r\n";
	CHECK(parse_mem(&p, m2, sizeof(m2) - 1));
	CHECK_STR(mime_cache_bodystructure(&p.c),
		  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 7 1 NIL NIL NIL NIL)");
	parsed_free(&p);
	/* boundary "ab" must not match "--abc" */
	static const char m3[] = "Content-Type: multipart/mixed; boundary=ab\r\n\r\n--ab\r\n\r\n"
				 "--abc\r\n--ab--\r\n";
	CHECK(parse_mem(&p, m3, sizeof(m3) - 1));
	CHECK(p.c.nparts == 2);
	CHECK(mime_cache_part(&p.c, 1, &in) == 1);
	CHECK_STR(slice(&p, in.body_off, in.body_len), "--abc");
	parsed_free(&p);
	/* NUL bytes everywhere */
	static const char m4[] = "Subject: a\0b\r\nFrom: \"x\0y\" <a\0@b>\r\n\r\n\0\0";
	CHECK(parse_mem(&p, m4, sizeof(m4) - 1));
	e = mime_cache_envelope(&p.c);
	CHECK(imapcheck(e.p, e.len));
	CHECK(memchr(e.p, '\0', e.len) == NULL);
	CHECK(e.len > 12 && memcmp(e.p, "(NIL \"ab\" ((\"xy\" NIL \"a\" \"b\"))", 30) == 0);
	parsed_free(&p);
}

TEST(address_forms)
{
	static const char m[] = "From: john . doe @ example.com (J. Doe), Jane <jane@[192.0.2.1]>\r\n"
				"To: \"Last, First\" <first.last@example.com>, broken@, nodomain\r\n"
				"Cc: ;, :;, <>, empty group:;\r\n\r\n";
	struct parsed p;
	CHECK(parse_mem(&p, m, sizeof(m) - 1));
	CHECK_STR(mime_cache_envelope(&p.c),
		  "(NIL NIL ((\"J. Doe\" NIL \"john.doe\" \"example.com\")"
		  "(\"Jane\" NIL \"jane\" \"[192.0.2.1]\")) "
		  "((\"J. Doe\" NIL \"john.doe\" \"example.com\")"
		  "(\"Jane\" NIL \"jane\" \"[192.0.2.1]\")) "
		  "((\"J. Doe\" NIL \"john.doe\" \"example.com\")"
		  "(\"Jane\" NIL \"jane\" \"[192.0.2.1]\")) "
		  "((\"Last, First\" NIL \"first.last\" \"example.com\")"
		  "(NIL NIL \"broken\" \"MISSING_DOMAIN\")(NIL NIL \"nodomain\" \"MISSING_DOMAIN\")) "
		  "((NIL NIL \"\" NIL)(NIL NIL NIL NIL)(NIL NIL \"empty group\" NIL)(NIL NIL NIL NIL)) "
		  "NIL NIL NIL)");
	parsed_free(&p);
}

TEST(cache_open_rejects_bad_blobs)
{
	struct parsed p;
	struct mime_cache c;
	CHECK(parse_corpus(&p, "forward"));
	CHECK(p.blob.data[0] == MIME_CACHE_VERSION);
	p.blob.data[0] = MIME_CACHE_VERSION + 1;
	CHECK(mime_cache_open(&c, p.blob.data, p.blob.len) == -1);
	p.blob.data[0] = MIME_CACHE_VERSION;
	CHECK(mime_cache_open(&c, p.blob.data, p.blob.len) == 1);
	for (size_t cut = 0; cut < 200; cut++)
		CHECK(mime_cache_open(&c, p.blob.data, cut) == -1);
	CHECK(mime_cache_open(&c, p.blob.data, p.blob.len - 1) == -1);
	CHECK(mime_cache_open(&c, p.blob.data, p.blob.len) == 1);
	CHECK(mime_cache_msg_size(&c) == p.len);
	/* A damaged part record never yields a range outside the message. */
	size_t rec1 = 36 + 17 * 4; /* header + one record: part 1's first field */
	p.blob.data[rec1 + 3 * 4 + 3] = (char)0x7f; /* body_len of part 1 */
	CHECK(mime_cache_open(&c, p.blob.data, p.blob.len) == 1);
	struct mime_part_info in;
	uint32_t s1[] = { 1 };
	CHECK(mime_cache_part(&c, 1, &in) == 0);
	CHECK(mime_cache_find_part(&c, s1, 1, &in) == 0);
	CHECK(mime_cache_part(&c, 2, &in) == 1);
	parsed_free(&p);
	CHECK(mime_cache_open(&c, NULL, 0) == -1);
}

TEST(header_iteration)
{
	static const char h[] = "A: 1\r\nB-Long : x\r\n y\r\nnocolon\r\nC:\r\n\r\nbody";
	struct str hs = str_make(h, sizeof(h) - 1);
	size_t pos = 0;
	struct str n, v, raw;
	CHECK(mime_header_next(hs, &pos, &n, &v, &raw) == 1);
	CHECK_STR(n, "A");
	CHECK_STR(v, " 1");
	CHECK_STR(raw, "A: 1\r\n");
	CHECK(mime_header_next(hs, &pos, &n, &v, &raw) == 1);
	CHECK_STR(n, "B-Long");
	CHECK_STR(v, " x\r\n y");
	CHECK(mime_header_next(hs, &pos, &n, &v, &raw) == 1);
	CHECK(n.len == 0);
	CHECK_STR(raw, "nocolon\r\n");
	CHECK(mime_header_next(hs, &pos, &n, &v, &raw) == 1);
	CHECK_STR(n, "C");
	CHECK(v.len == 0);
	CHECK(mime_header_next(hs, &pos, &n, &v, &raw) == 0);
	CHECK(mime_header_find(hs, "b-LONG", &v) == 1);
	CHECK_STR(v, " x\r\n y");
	CHECK(mime_header_find(hs, "body", &v) == 0);
}

TEST(dates)
{
	int64_t t;
	int tz;
	CHECK(mime_date_parse(STR_LIT("Thu, 26 Nov 2026 09:00:00 +0000"), &t, &tz) == 1);
	CHECK(t == 1795683600 && tz == 0);
	CHECK(mime_date_parse(STR_LIT("26 Nov 2026 17:00 +0800"), &t, &tz) == 1);
	CHECK(t == 1795683600 && tz == 480);
	CHECK(mime_date_parse(STR_LIT(" Wed, 25 Nov 26 23:00:00 EST (comment)"), &t, &tz) == 1);
	CHECK(t == 1795665600 && tz == -300);
	CHECK(mime_date_parse(STR_LIT("Fri, 1 Jan 99 00:00:00 GMT"), &t, &tz) == 1);
	CHECK(t == 915148800);
	CHECK(mime_date_parse(STR_LIT("garbage"), &t, &tz) == 0);
	CHECK(mime_date_parse(STR_LIT("32 Jan 2020 00:00:00"), &t, &tz) == 0);
	CHECK(mime_date_parse(STR_LIT(""), &t, &tz) == 0);
}

TEST(search_text_of_corpus)
{
	struct parsed p;
	struct buf out = BUF_INIT(0);
	CHECK(parse_corpus(&p, "gbk"));
	CHECK(mime_header_decoded(p.msg, p.len, &p.c, "subject", &out) == 1);
	CHECK_STREQ(buf_cstr(&out), "\xe6\xb5\x8b\xe8\xaf\x95\xe9\x82\xae\xe4\xbb\xb6"); /* 测试邮件 */
	buf_reset(&out);
	CHECK(mime_header_decoded(p.msg, p.len, &p.c, "from", &out) == 1);
	CHECK_STREQ(buf_cstr(&out), "\xe5\xbc\xa0\xe4\xb8\x89 <zhangsan@example.cn>"); /* 张三 */
	buf_reset(&out);
	CHECK(mime_header_decoded(p.msg, p.len, &p.c, "x-none", &out) == 0);
	CHECK(mime_body_text_utf8(p.msg, p.len, &p.c, &out) == 1);
	/* 你好，这是一封测试邮件。 */
	CHECK_STREQ(buf_cstr(&out), "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe8\xbf\x99\xe6\x98\xaf"
				    "\xe4\xb8\x80\xe5\xb0\x81\xe6\xb5\x8b\xe8\xaf\x95\xe9\x82\xae"
				    "\xe4\xbb\xb6\xe3\x80\x82\r\n\n");
	CHECK(mime_search_contains(buf_str(&out), STR_LIT("\xe6\xb5\x8b\xe8\xaf\x95")));
	parsed_free(&p);

	buf_reset(&out);
	CHECK(parse_corpus(&p, "gb18030"));
	CHECK(mime_header_decoded(p.msg, p.len, &p.c, "subject", &out) == 1);
	CHECK_STREQ(buf_cstr(&out), "\xe6\x9c\xb1\xe9\x95\x95\xe5\x9f\xba"); /* 朱镕基, GBK-only 镕 */
	buf_reset(&out);
	CHECK(mime_body_text_utf8(p.msg, p.len, &p.c, &out) == 1);
	/* café 😀 测试 (4-byte GB18030 sequences) */
	CHECK_STREQ(buf_cstr(&out), "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe6\xb5\x8b\xe8\xaf\x95\r\n\n");
	CHECK(mime_search_contains(buf_str(&out), STR_LIT("CAF\xc3\x89")));
	parsed_free(&p);

	buf_reset(&out);
	CHECK(parse_corpus(&p, "big5"));
	CHECK(mime_header_decoded(p.msg, p.len, &p.c, "subject", &out) == 1);
	CHECK_STREQ(buf_cstr(&out), "\xe6\xb8\xac\xe8\xa9\xa6"); /* 測試 */
	buf_reset(&out);
	CHECK(mime_body_text_utf8(p.msg, p.len, &p.c, &out) == 1);
	/* 測試郵件內容 */
	CHECK_STREQ(buf_cstr(&out), "\xe6\xb8\xac\xe8\xa9\xa6\xe9\x83\xb5\xe4\xbb\xb6\xe5\x85\xa7"
				    "\xe5\xae\xb9\r\n\n");
	parsed_free(&p);

	buf_reset(&out);
	CHECK(parse_corpus(&p, "alternative"));
	CHECK(mime_body_text_utf8(p.msg, p.len, &p.c, &out) == 1);
	CHECK_STREQ(buf_cstr(&out), "Caf\xc3\xa9 news: the menu changed.\n"
				    "<html><body><p>Caf\xc3\xa9 news: the menu changed.</p></body></html>\n");
	parsed_free(&p);

	buf_reset(&out);
	CHECK(parse_corpus(&p, "utf8-2231"));
	CHECK(mime_header_decoded(p.msg, p.len, &p.c, "subject", &out) == 1);
	CHECK_STREQ(buf_cstr(&out), "\xe4\xb8\xad\xe6\x96\x87\xe6\xb5\x8b\xe8\xaf\x95"); /* 中文测试 */
	parsed_free(&p);
	buf_free(&out);
}

/* Outlook-style Chinese mail: RFC 2047 inside parameters, GB2312 text. */
TEST(outlook_gb2312_attachment_name)
{
	struct parsed p;
	struct mime_part_info in;
	struct buf out = BUF_INIT(0);
	struct str ct;
	CHECK(parse_corpus(&p, "outlook"));
	uint32_t s2[] = { 2 };
	CHECK(mime_cache_find_part(&p.c, s2, 1, &in) == 1);
	CHECK(mime_header_find(slice(&p, in.header_off, in.header_len), "content-disposition",
			       &ct) == 1);
	CHECK(mime_param_get_utf8(ct, "filename", &out) == 1);
	CHECK_STREQ(buf_cstr(&out), "\xe6\x8a\xa5\xe5\x91\x8a.xls"); /* 报告.xls */
	buf_reset(&out);
	CHECK(mime_header_decoded(p.msg, p.len, &p.c, "to", &out) == 1);
	CHECK_STREQ(buf_cstr(&out), "\"\xe6\x9d\x8e\xe5\x9b\x9b\" <l@example.cn>; x@y.z"); /* 李四 */
	buf_reset(&out);
	CHECK(mime_body_text_utf8(p.msg, p.len, &p.c, &out) == 1);
	CHECK_STREQ(buf_cstr(&out), "\xe4\xbc\x9a\xe8\xae\xae\xe7\xba\xaa\xe5\xbd\x95\n"); /* 会议纪录 */
	buf_free(&out);
	parsed_free(&p);
}

TEST(build_respects_buffer_max)
{
	struct buf small = BUF_INIT(16);
	CHECK(mime_cache_build("Subject: x\r\n\r\nbody", 18, &small) == -1);
	CHECK(small.len == 0);
	buf_free(&small);
}

UNIT_MAIN()
