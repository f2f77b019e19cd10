/* Unit tests for locating FETCH sections in a nested multipart message and
 * for BINARY decoding (sizes, NUL detection, unknown encodings). */
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

#include "imap/imap-fetch-body.h"
#include "lib/pool.h"

static const char message[] = "From: a@example.com\r\n"
                              "Subject: nested\r\n"
                              "MIME-Version: 1.0\r\n"
                              "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
                              "\r\n"
                              "preamble\r\n"
                              "--outer\r\n"
                              "Content-Type: text/plain; charset=utf-8\r\n"
                              "Content-Transfer-Encoding: quoted-printable\r\n"
                              "\r\n"
                              "caf=C3=A9 =\r\n"
                              "au lait\r\n"
                              "--outer\r\n"
                              "Content-Type: application/octet-stream\r\n"
                              "Content-Transfer-Encoding: base64\r\n"
                              "\r\n"
                              "AAECAwQ=\r\n"
                              "--outer\r\n"
                              "Content-Type: message/rfc822\r\n"
                              "\r\n"
                              "Subject: inner\r\n"
                              "From: b@example.com\r\n"
                              "Content-Type: multipart/alternative; boundary=inner\r\n"
                              "\r\n"
                              "--inner\r\n"
                              "Content-Type: text/plain\r\n"
                              "\r\n"
                              "inner text\r\n"
                              "--inner\r\n"
                              "Content-Type: text/html\r\n"
                              "\r\n"
                              "<p>inner</p>\r\n"
                              "--inner--\r\n"
                              "--outer\r\n"
                              "Content-Type: text/plain\r\n"
                              "Content-Transfer-Encoding: x-uuencode\r\n"
                              "\r\n"
                              "begin 644 x\r\n"
                              "--outer--\r\n";

static struct pool *pool;
static struct buf blob;
static struct mime_cache cache;
static int fd = -1;

static void setup(void)
{
	if (fd >= 0)
		return;
	pool = pool_new(4096);
	CHECK(mime_cache_build(message, sizeof(message) - 1, &blob) == 1);
	CHECK(mime_cache_open(&cache, blob.data, blob.len) == 1);
	char path[] = "/tmp/roost-fetch-body-XXXXXX";
	fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	CHECK(write(fd, message, sizeof(message) - 1) == (ssize_t)(sizeof(message) - 1));
}

/* The octets FETCH would send for `item_text` (RANGE or FILTERED only). */
static const char *section(const char *item_text)
{
	static char out[2048];
	struct imap_fetch_request req;
	struct imap_fetch_source src;
	const char *err;
	setup();
	if (imap_fetch_parse(pool, str_c(item_text), &req, &err) < 0)
		return "PARSE-ERROR";
	if (imap_fetch_locate(&req.items[0], &cache, sizeof(message) - 1, &src, &err) < 0)
		return err;
	if (src.kind == IMAP_SOURCE_NIL)
		return "NIL";
	struct buf b = BUF_INIT(0), f = BUF_INIT(0);
	CHECK(imap_fetch_read_range(fd, src.off, (size_t)src.len, &b) == 1);
	struct buf *res = &b;
	if (src.kind == IMAP_SOURCE_FILTERED) {
		CHECK(imap_fetch_filter_header(
		          buf_str(&b), req.items[0].fields, req.items[0].nfields,
		          req.items[0].spec == IMAP_SPEC_HEADER_FIELDS_NOT, &f) == 1);
		res = &f;
	}
	uint64_t off, len;
	imap_fetch_partial_range(&req.items[0], res->len, &off, &len);
	str_copy_cstr(str_make(buf_cstr(res) + off, (size_t)len), out, sizeof(out));
	buf_free(&b);
	buf_free(&f);
	return out;
}

TEST(fetch_body_sections)
{
	CHECK_STREQ(section("BODY[]<0.20>"), "From: a@example.com\r");
	CHECK_STREQ(section("BODY[HEADER]"),
	            "From: a@example.com\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
	            "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n");
	CHECK_STREQ(section("BODY[HEADER.FIELDS (subject)]"), "Subject: nested\r\n\r\n");
	CHECK_STREQ(section("BODY[HEADER.FIELDS.NOT (From Content-Type MIME-Version)]"),
	            "Subject: nested\r\n\r\n");
	CHECK_STREQ(section("BODY[1]"), "caf=C3=A9 =\r\nau lait");
	CHECK_STREQ(section("BODY[1.MIME]"), "Content-Type: text/plain; charset=utf-8\r\n"
	                                     "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	CHECK_STREQ(section("BODY[2]"), "AAECAwQ=");
	CHECK_STREQ(section("BODY[3.HEADER]"),
	            "Subject: inner\r\nFrom: b@example.com\r\n"
	            "Content-Type: multipart/alternative; boundary=inner\r\n\r\n");
	CHECK_STREQ(section("BODY[3.HEADER.FIELDS (FROM)]"), "From: b@example.com\r\n\r\n");
	CHECK_STREQ(section("BODY[3.1]"), "inner text");
	CHECK_STREQ(section("BODY[3.2]"), "<p>inner</p>");
	CHECK_STREQ(section("BODY[3.2.MIME]"), "Content-Type: text/html\r\n\r\n");
	CHECK_STREQ(section("BODY[3.1]<6.100>"), "text");
	CHECK_STREQ(section("BODY[3.1]<100.5>"), "");
	/* HEADER/TEXT of a part that is not a message: NIL; so is a part that
	 * does not exist. */
	CHECK_STREQ(section("BODY[1.HEADER]"), "NIL");
	CHECK_STREQ(section("BODY[9]"), "NIL");
	CHECK_STREQ(section("BODY[3.7]"), "NIL");
	CHECK(strncmp(section("BODY[TEXT]"), "preamble\r\n--outer\r\n", 19) == 0);
}

static void binary(const char *item_text, const char *expect, size_t expect_len, bool nul)
{
	struct imap_fetch_request req;
	struct imap_fetch_source src;
	const char *err;
	setup();
	CHECK(imap_fetch_parse(pool, str_c(item_text), &req, &err) == 1);
	CHECK(imap_fetch_locate(&req.items[0], &cache, sizeof(message) - 1, &src, &err) == 1);
	CHECK(src.kind == IMAP_SOURCE_DECODED);
	uint64_t size;
	bool has_nul;
	CHECK(imap_fetch_decoded_size(fd, src.off, src.len, src.cte, &size, &has_nul) == 1);
	CHECK(size == expect_len);
	CHECK(has_nul == nul);
	struct buf raw = BUF_INIT(0), out = BUF_INIT(0);
	struct imap_fetch_decoder d;
	CHECK(imap_fetch_read_range(fd, src.off, (size_t)src.len, &raw) == 1);
	imap_fetch_decoder_init(&d, src.cte);
	/* Fed one byte at a time, the result is the same. */
	for (size_t i = 0; i < raw.len; i++)
		CHECK(imap_fetch_decoder_feed(&d, raw.data + i, 1, &out) == 1);
	CHECK(imap_fetch_decoder_finish(&d, &out) == 1);
	CHECK_MEMEQ(out.data, out.len, expect, expect_len);
	buf_free(&raw);
	buf_free(&out);
}

TEST(fetch_binary_decoding)
{
	binary("BINARY[1]", "caf\xc3\xa9 au lait", 13, false);
	binary("BINARY.PEEK[2]", "\x00\x01\x02\x03\x04", 5, true);
	binary("BINARY[3.1]", "inner text", 10, false);
}

TEST(fetch_binary_refusals)
{
	struct imap_fetch_request req;
	struct imap_fetch_source src;
	const char *err = NULL;
	setup();
	CHECK(imap_fetch_parse(pool, str_c("BINARY[4]"), &req, &err) == 1);
	CHECK(imap_fetch_locate(&req.items[0], &cache, sizeof(message) - 1, &src, &err) == -1);
	CHECK(err != NULL && strncmp(err, "[UNKNOWN-CTE]", 13) == 0);
	/* Not a leaf: a message/rfc822 part. */
	CHECK(imap_fetch_parse(pool, str_c("BINARY.SIZE[3]"), &req, &err) == 1);
	CHECK(imap_fetch_locate(&req.items[0], &cache, sizeof(message) - 1, &src, &err) == -1);
	/* The whole message is sent as stored. */
	CHECK(imap_fetch_parse(pool, str_c("BINARY[]"), &req, &err) == 1);
	CHECK(imap_fetch_locate(&req.items[0], &cache, sizeof(message) - 1, &src, &err) == 1);
	CHECK(src.kind == IMAP_SOURCE_RANGE && src.len == sizeof(message) - 1);
	/* A cache that claims more octets than the file has is refused. */
	CHECK(imap_fetch_parse(pool, str_c("BODY[3]"), &req, &err) == 1);
	CHECK(imap_fetch_locate(&req.items[0], &cache, 100, &src, &err) == -1);
}

TEST(fetch_body_cleanup)
{
	close(fd);
	buf_free(&blob);
	pool_free(&pool);
	CHECK(pool == NULL);
}

UNIT_MAIN()
