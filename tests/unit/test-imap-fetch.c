/* Unit tests for FETCH item parsing, response item names, partial ranges
 * and HEADER.FIELDS subsetting. */
#include "unit.h"

#include "imap/imap-fetch.h"
#include "lib/pool.h"

static struct pool *pool;

static int parse(const char *text, struct imap_fetch_request *req, const char **err)
{
	if (pool == NULL)
		pool = pool_new(4096);
	*err = NULL;
	return imap_fetch_parse(pool, str_c(text), req, err);
}

/* Parses text and returns the response names of all items, space separated. */
static const char *names(const char *text)
{
	static char out[1024];
	struct imap_fetch_request req;
	const char *err;
	if (parse(text, &req, &err) < 0)
		return err;
	struct buf b = BUF_INIT(0);
	for (size_t i = 0; i < req.count; i++) {
		if (i)
			buf_append_char(&b, ' ');
		switch (req.items[i].kind) {
		case IMAP_FETCH_UID:
			buf_append_cstr(&b, "UID");
			break;
		case IMAP_FETCH_FLAGS:
			buf_append_cstr(&b, "FLAGS");
			break;
		case IMAP_FETCH_INTERNALDATE:
			buf_append_cstr(&b, "INTERNALDATE");
			break;
		case IMAP_FETCH_RFC822_SIZE:
			buf_append_cstr(&b, "RFC822.SIZE");
			break;
		case IMAP_FETCH_ENVELOPE:
			buf_append_cstr(&b, "ENVELOPE");
			break;
		case IMAP_FETCH_BODY:
			buf_append_cstr(&b, "BODY");
			break;
		case IMAP_FETCH_BODYSTRUCTURE:
			buf_append_cstr(&b, "BODYSTRUCTURE");
			break;
		case IMAP_FETCH_MODSEQ:
			buf_append_cstr(&b, "MODSEQ");
			break;
		default:
			imap_fetch_item_name(&req.items[i], &b);
			break;
		}
	}
	str_copy_cstr(buf_str(&b), out, sizeof(out));
	buf_free(&b);
	return out;
}

TEST(fetch_macros)
{
	CHECK_STREQ(names("ALL"), "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE");
	CHECK_STREQ(names("fast"), "FLAGS INTERNALDATE RFC822.SIZE");
	CHECK_STREQ(names("FULL"), "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY");
	/* A macro is used by itself, never in a list. */
	CHECK_STREQ(names("(ALL)"), "Unknown FETCH item");
}

TEST(fetch_simple_items)
{
	CHECK_STREQ(
	    names("(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE MODSEQ)"),
	    "UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE MODSEQ");
	CHECK_STREQ(names("uid"), "UID");
	CHECK_STREQ(names("(RFC822 RFC822.HEADER RFC822.TEXT)"),
	            "RFC822 RFC822.HEADER RFC822.TEXT");
}

TEST(fetch_sections)
{
	CHECK_STREQ(names("BODY[]"), "BODY[]");
	CHECK_STREQ(names("BODY.PEEK[]"), "BODY[]");
	CHECK_STREQ(names("body.peek[header]"), "BODY[HEADER]");
	CHECK_STREQ(names("BODY[TEXT]"), "BODY[TEXT]");
	CHECK_STREQ(names("BODY[1.2.3]"), "BODY[1.2.3]");
	CHECK_STREQ(names("BODY[3.HEADER]"), "BODY[3.HEADER]");
	CHECK_STREQ(names("BODY[4.1.MIME]"), "BODY[4.1.MIME]");
	CHECK_STREQ(names("BODY[4.2.TEXT]"), "BODY[4.2.TEXT]");
	CHECK_STREQ(names("BODY[HEADER.FIELDS (SUBJECT)]"), "BODY[HEADER.FIELDS (SUBJECT)]");
	CHECK_STREQ(names("BODY.PEEK[HEADER.FIELDS (Date From \"X-Odd\")]"),
	            "BODY[HEADER.FIELDS (Date From X-Odd)]");
	CHECK_STREQ(names("BODY[2.HEADER.FIELDS.NOT (To Cc)]"),
	            "BODY[2.HEADER.FIELDS.NOT (To Cc)]");
	CHECK_STREQ(names("BODY[]<0.2048>"), "BODY[]<0>");
	CHECK_STREQ(names("BODY.PEEK[1]<100.10>"), "BODY[1]<100>");
	CHECK_STREQ(names("BINARY[1]"), "BINARY[1]");
	CHECK_STREQ(names("BINARY.PEEK[1.2]<5.5>"), "BINARY[1.2]<5>");
	CHECK_STREQ(names("BINARY[]"), "BINARY[]");
	CHECK_STREQ(names("BINARY.SIZE[3]"), "BINARY.SIZE[3]");
	CHECK_STREQ(names("(FLAGS BODY[HEADER.FIELDS (A B)] UID)"),
	            "FLAGS BODY[HEADER.FIELDS (A B)] UID");
}

TEST(fetch_seen_and_peek)
{
	struct imap_fetch_request req;
	const char *err;
	CHECK(parse("(BODY.PEEK[] BINARY.PEEK[1] RFC822.HEADER BINARY.SIZE[1])", &req, &err) == 1);
	CHECK(!req.sets_seen);
	CHECK(req.needs_cache);
	CHECK(parse("RFC822", &req, &err) == 1);
	CHECK(req.sets_seen);
	CHECK(parse("RFC822.TEXT", &req, &err) == 1);
	CHECK(req.sets_seen);
	CHECK(req.items[0].spec == IMAP_SPEC_TEXT);
	CHECK(parse("BINARY[1]", &req, &err) == 1);
	CHECK(req.sets_seen);
	CHECK(parse("(FLAGS UID)", &req, &err) == 1);
	CHECK(!req.sets_seen && !req.needs_cache && req.has_uid && req.has_flags);
}

TEST(fetch_modifiers)
{
	struct imap_fetch_request req;
	const char *err;
	CHECK(parse("(FLAGS) (CHANGEDSINCE 12345)", &req, &err) == 1);
	CHECK(req.has_changedsince && req.changedsince == 12345 && !req.vanished);
	CHECK(parse("FLAGS (CHANGEDSINCE 1 VANISHED)", &req, &err) == 1);
	CHECK(req.vanished);
	CHECK(parse("FLAGS (VANISHED)", &req, &err) == -1);
	CHECK_STREQ(err, "VANISHED needs CHANGEDSINCE");
	CHECK(parse("FLAGS (CHANGEDSINCE x)", &req, &err) == -1);
	CHECK(parse("FLAGS (CHANGEDSINCE 9223372036854775808)", &req, &err) == -1);
	CHECK(parse("FLAGS (FOO)", &req, &err) == -1);
	CHECK_STREQ(err, "Unknown FETCH modifier");
}

TEST(fetch_bad_syntax)
{
	const char *bad[] = {
	    "",
	    "()",
	    "(FLAGS",
	    "FLAGS)",
	    "(FLAGS  UID)",
	    "NOSUCH",
	    "BODY[",
	    "BODY[1",
	    "BODY[0]",
	    "BODY[1.0]",
	    "BODY[MIME]",
	    "BODY[HEADER.FIELDS]",
	    "BODY[HEADER.FIELDS ()]",
	    "BODY[HEADER.FIELDS (A]",
	    "BODY[FOO]",
	    "BODY[1.]",
	    "BODY[]<>",
	    "BODY[]<1>",
	    "BODY[]<1.0>",
	    "BODY[]<a.b>",
	    "BINARY[HEADER]",
	    "BINARY.SIZE[1]<0.1>",
	    "BODY.PEEK",
	    "BINARY",
	    "BODY[]x",
	    "FLAGS UID",
	    "BODY[HEADER.FIELDS (\"a:b\")]",
	    "BODY[HEADER.FIELDS ({3}\r\nabc)]",
	    "BODY[4294967296]",
	    "BODY[1.2.3.MIME.TEXT]",
	    "(ALL FLAGS)",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_fetch_request req;
		const char *err;
		int ret = parse(bad[i], &req, &err);
		if (ret != -1)
			fprintf(stderr, "  accepted: '%s'\n", bad[i]);
		CHECK(ret == -1);
		CHECK(err != NULL && *err != '\0');
	}
}

TEST(fetch_limits)
{
	struct buf b = BUF_INIT(0);
	buf_append_char(&b, '(');
	for (int i = 0; i <= IMAP_FETCH_MAX_ITEMS; i++)
		buf_append_cstr(&b, i ? " UID" : "UID");
	buf_append_char(&b, ')');
	struct imap_fetch_request req;
	const char *err;
	CHECK(imap_fetch_parse(pool, buf_str(&b), &req, &err) == -1);
	CHECK_STREQ(err, "Too many FETCH items");
	buf_reset(&b);
	buf_append_cstr(&b, "BODY[");
	for (int i = 0; i <= IMAP_FETCH_MAX_SECTION_DEPTH; i++)
		buf_append_cstr(&b, i ? ".1" : "1");
	buf_append_char(&b, ']');
	CHECK(imap_fetch_parse(pool, buf_str(&b), &req, &err) == -1);
	CHECK_STREQ(err, "Section nested too deeply");
	buf_free(&b);
}

TEST(fetch_partial_range)
{
	struct imap_fetch_request req;
	const char *err;
	uint64_t off, len;
	CHECK(parse("BODY[]<0.2048>", &req, &err) == 1);
	imap_fetch_partial_range(&req.items[0], 1500, &off, &len);
	CHECK(off == 0 && len == 1500);
	CHECK(parse("BODY[]<1400.200>", &req, &err) == 1);
	imap_fetch_partial_range(&req.items[0], 1500, &off, &len);
	CHECK(off == 1400 && len == 100);
	CHECK(parse("BODY[]<1500.10>", &req, &err) == 1);
	imap_fetch_partial_range(&req.items[0], 1500, &off, &len);
	CHECK(len == 0);
	CHECK(parse("BODY[]", &req, &err) == 1);
	imap_fetch_partial_range(&req.items[0], 1500, &off, &len);
	CHECK(off == 0 && len == 1500);
}

static const char header[] = "Received: from a\r\n"
                             "\tby b\r\n"
                             "Subject: Hello\r\n"
                             " world\r\n"
                             "From: x@y\r\n"
                             "subject : second\r\n"
                             "not a field line\r\n"
                             "To: z@y\r\n"
                             "\r\n";

static const char *filter(const char *const *list, size_t n, bool exclude)
{
	static char out[512];
	struct str names[8];
	for (size_t i = 0; i < n; i++)
		names[i] = str_c(list[i]);
	struct buf b = BUF_INIT(0);
	CHECK(imap_fetch_filter_header(str_make(header, sizeof(header) - 1), names, n, exclude,
	                               &b) == 1);
	str_copy_cstr(buf_str(&b), out, sizeof(out));
	buf_free(&b);
	return out;
}

TEST(fetch_header_fields)
{
	const char *subj[] = {"SUBJECT"};
	CHECK_STREQ(filter(subj, 1, false), "Subject: Hello\r\n world\r\nsubject : second\r\n\r\n");
	const char *two[] = {"to", "Received"};
	CHECK_STREQ(filter(two, 2, false), "Received: from a\r\n\tby b\r\nTo: z@y\r\n\r\n");
	const char *none[] = {"X-Nothing"};
	CHECK_STREQ(filter(none, 1, false), "\r\n");
	CHECK_STREQ(filter(two, 2, true),
	            "Subject: Hello\r\n world\r\nFrom: x@y\r\nsubject : second\r\n\r\n");
	/* A prefix of a name does not match. */
	const char *pre[] = {"Subj"};
	CHECK_STREQ(filter(pre, 1, false), "\r\n");
}

TEST(fetch_header_without_blank_line)
{
	/* A message with no body and no blank line: none is invented. */
	const char h[] = "Subject: a\r\nFrom: b";
	struct str n = STR_LIT("from");
	struct buf b = BUF_INIT(0);
	CHECK(imap_fetch_filter_header(str_make(h, sizeof(h) - 1), &n, 1, false, &b) == 1);
	CHECK_STREQ(buf_cstr(&b), "From: b");
	buf_reset(&b);
	/* Bare LF line ends are kept as they are. */
	const char lf[] = "A: 1\nB: 2\n c\n\nbody";
	struct str nb = STR_LIT("b");
	CHECK(imap_fetch_filter_header(str_make(lf, sizeof(lf) - 1), &nb, 1, false, &b) == 1);
	CHECK_STREQ(buf_cstr(&b), "B: 2\n c\n\n");
	/* A full output buffer is an error, not a truncated header. */
	struct buf small = BUF_INIT(4);
	struct str na = STR_LIT("a");
	CHECK(imap_fetch_filter_header(str_make(lf, sizeof(lf) - 1), &na, 1, false, &small) == -1);
	buf_free(&small);
	buf_free(&b);
}

TEST(fetch_cleanup)
{
	pool_free(&pool);
	CHECK(pool == NULL);
}

UNIT_MAIN()
