/* Unit tests for SEARCH: parsing every key form (through the real command
 * parser) and evaluating programs against messages held in memory,
 * including GBK and Big5 messages found by a UTF-8 search. */
#include "unit.h"

#include <stdlib.h>

#include "imap/imap-parser.h"
#include "imap/imap-search.h"
#include "lib/pool.h"

/* ---- messages in memory ---------------------------------------------- */

struct test_msg {
	const char *text;
	struct store_msg msg;
	const char *keywords;
	struct buf blob;
};

/* 2024-03-10 12:00:00 UTC */
#define T_MAR10 1710072000LL

static struct test_msg msgs[] = {
    {"From: Alice <alice@example.com>\r\n"
     "To: bob@example.com\r\n"
     "Subject: Lunch plans\r\n"
     "Date: Sun, 10 Mar 2024 09:00:00 +0000\r\n"
     "\r\n"
     "Shall we meet at noon?\r\n",
     {.uid = 10, .size = 200, .flags = STORE_FLAG_SEEN, .internal_date = T_MAR10, .modseq = 5},
     "",
     {0}},
    {"From: =?UTF-8?B?5byg5LiJ?= <zhang@example.cn>\r\n"
     "To: li@example.cn\r\n"
     "Cc: wang@example.cn\r\n"
     "Subject: =?GBK?B?1tDOxLLiytQ=?=\r\n"
     "X-Raw: \xbb\xe1\xd2\xe9\r\n"
     "Date: Mon, 11 Mar 2024 10:00:00 +0800\r\n"
     "MIME-Version: 1.0\r\n"
     "Content-Type: text/plain; charset=GBK\r\n"
     "Content-Transfer-Encoding: 8bit\r\n"
     "\r\n"
     "\xd5\xe2\xca\xc7\xd6\xd0\xce\xc4\xd3\xca\xbc\xfe\r\n",
     {.uid = 11,
      .size = 3000,
      .flags = STORE_FLAG_FLAGGED | STORE_FLAG_ANSWERED,
      .internal_date = T_MAR10 + 86400,
      .modseq = 9},
     "$Work",
     {0}},
    {"From: chen@example.tw\r\n"
     "To: lin@example.tw\r\n"
     "Subject: Big5 test\r\n"
     "Date: Tue, 12 Mar 2024 10:00:00 +0800\r\n"
     "MIME-Version: 1.0\r\n"
     "Content-Type: multipart/mixed; boundary=XX\r\n"
     "\r\n"
     "--XX\r\n"
     "Content-Type: text/plain; charset=big5\r\n"
     "Content-Transfer-Encoding: base64\r\n"
     "\r\n"
     "pKSk5bT6uNU=\r\n"
     "--XX\r\n"
     "Content-Type: application/octet-stream\r\n"
     "\r\n"
     "BINARYSTUFF\r\n"
     "--XX--\r\n",
     {.uid = 12,
      .size = 50000,
      .flags = STORE_FLAG_DELETED | STORE_FLAG_SEEN,
      .internal_date = T_MAR10 + 2 * 86400,
      .modseq = 7},
     "$Junk $Work",
     {0}},
    {"Subject: no date here\r\n"
     "X-Custom: Hello World\r\n"
     "\r\n"
     "Grüße aus München\r\n",
     {.uid = 20,
      .size = 10,
      .flags = STORE_FLAG_DRAFT,
      .internal_date = T_MAR10 - 86400,
      .modseq = 12},
     "",
     {0}},
};
#define NMSGS (sizeof(msgs) / sizeof(msgs[0]))

static int loads;

static int test_load(void *ctx, const struct store_msg *msg, bool header_only, struct str *text_r,
                     struct mime_cache *cache_r)
{
	for (size_t i = 0; i < NMSGS; i++) {
		if (&msgs[i].msg != msg)
			continue;
		loads++;
		struct test_msg *t = &msgs[i];
		if (t->blob.len == 0)
			CHECK(mime_cache_build(t->text, strlen(t->text), &t->blob) == 1);
		CHECK(mime_cache_open(cache_r, t->blob.data, t->blob.len) == 1);
		*text_r = str_c(t->text);
		return 1;
	}
	return 0;
}

/* ---- parsing through the real command parser ------------------------ */

static struct pool *pool;
static struct imap_parser parser;

static const struct imap_arg *parse_args(const char *line)
{
	if (pool == NULL)
		pool = pool_new(8192);
	static bool init;
	struct imap_parser_limits limits = {65536, 65536};
	if (!init) {
		CHECK(imap_parser_init(&parser, pool, &limits) == 1);
		init = true;
	}
	imap_parser_next(&parser);
	struct buf b = BUF_INIT(0);
	buf_printf(&b, "t SEARCH %s\r\n", line);
	size_t used = 0, consumed;
	enum imap_parse_result r = IMAP_PARSE_MORE;
	while (used < b.len) {
		r = imap_parser_feed(&parser, b.data + used, b.len - used, &consumed);
		used += consumed;
		if (r == IMAP_PARSE_LITERAL) {
			imap_parser_literal_collect(&parser);
			continue;
		}
		if (r != IMAP_PARSE_MORE)
			break;
	}
	buf_free(&b);
	if (r != IMAP_PARSE_DONE)
		return NULL;
	return imap_parser_args(&parser);
}

static int parse(const char *line, struct imap_search_program *prog, const char **err,
                 bool *badcharset)
{
	const struct imap_arg *args = parse_args(line);
	if (args == NULL) {
		*err = "command parser rejected it";
		return -1;
	}
	return imap_search_parse(pool, args, prog, err, badcharset);
}

/* Runs a search over all messages; returns the matching UIDs as text. */
static const char *run(const char *line)
{
	static char out[256];
	struct imap_search_program prog;
	const char *err = NULL;
	bool badcs;
	if (parse(line, &prog, &err, &badcs) < 0) {
		snprintf(out, sizeof(out), "ERR %s", err);
		return out;
	}
	CHECK(imap_search_program_resolve(&prog, NMSGS, 20) == 1);
	struct imap_search_msg m;
	imap_search_msg_init(&m);
	m.load = test_load;
	struct buf b = BUF_INIT(0);
	struct imap_seqset saved = IMAP_SEQSET_INIT;
	imap_seqset_add(&saved, 11);
	imap_seqset_add(&saved, 20);
	for (size_t i = 0; i < NMSGS; i++) {
		imap_search_msg_reset(&m);
		m.seq = (uint32_t)i + 1;
		m.msg = &msgs[i].msg;
		m.keywords = msgs[i].keywords;
		m.recent = i == 3;
		int ret = imap_search_match(&prog, &m, &saved, T_MAR10 + 3 * 86400);
		CHECK(ret >= 0);
		if (ret > 0)
			buf_printf(&b, "%s%u", b.len ? " " : "", msgs[i].msg.uid);
	}
	imap_seqset_clear(&saved);
	imap_search_msg_free(&m);
	imap_search_program_free(&prog);
	str_copy_cstr(buf_str(&b), out, sizeof(out));
	buf_free(&b);
	return out;
}

TEST(search_flags_and_sets)
{
	CHECK_STREQ(run("ALL"), "10 11 12 20");
	CHECK_STREQ(run("SEEN"), "10 12");
	CHECK_STREQ(run("UNSEEN"), "11 20");
	CHECK_STREQ(run("ANSWERED FLAGGED"), "11");
	CHECK_STREQ(run("UNANSWERED"), "10 12 20");
	CHECK_STREQ(run("DELETED"), "12");
	CHECK_STREQ(run("UNDELETED"), "10 11 20");
	CHECK_STREQ(run("DRAFT"), "20");
	CHECK_STREQ(run("UNDRAFT"), "10 11 12");
	CHECK_STREQ(run("UNFLAGGED"), "10 12 20");
	CHECK_STREQ(run("KEYWORD $work"), "11 12");
	CHECK_STREQ(run("UNKEYWORD $Junk"), "10 11 20");
	CHECK_STREQ(run("2:3"), "11 12");
	CHECK_STREQ(run("*"), "20");
	CHECK_STREQ(run("UID 11:*"), "11 12 20");
	CHECK_STREQ(run("UID 15"), "");
	CHECK_STREQ(run("$"), "11 20");
	CHECK_STREQ(run("UID $"), "11 20");
	CHECK_STREQ(run("RECENT"), "20");
	CHECK_STREQ(run("NEW"), "20");
	CHECK_STREQ(run("OLD"), "10 11 12");
}

TEST(search_sizes_dates_modseq)
{
	CHECK_STREQ(run("LARGER 200"), "11 12");
	CHECK_STREQ(run("SMALLER 200"), "20");
	CHECK_STREQ(run("ON 10-Mar-2024"), "10");
	CHECK_STREQ(run("BEFORE 11-Mar-2024"), "10 20");
	CHECK_STREQ(run("SINCE \"11-Mar-2024\""), "11 12");
	CHECK_STREQ(run("SENTON 11-Mar-2024"), "11");
	CHECK_STREQ(run("SENTBEFORE 11-Mar-2024"), "10 20");
	CHECK_STREQ(run("SENTSINCE 12-Mar-2024"), "12");
	CHECK_STREQ(run("MODSEQ 9"), "11 20");
	CHECK_STREQ(run("MODSEQ \"/flags/\\\\draft\" all 8"), "11 20");
	/* now = Mar 13 12:00: OLDER than 2 days, YOUNGER than 1.5 days */
	CHECK_STREQ(run("OLDER 172800"), "10 20");
	CHECK_STREQ(run("YOUNGER 129600"), "12");
}

TEST(search_logic)
{
	CHECK_STREQ(run("NOT SEEN"), "11 20");
	CHECK_STREQ(run("OR DRAFT DELETED"), "12 20");
	CHECK_STREQ(run("(SEEN DELETED)"), "12");
	CHECK_STREQ(run("OR (SEEN DELETED) (FLAGGED)"), "11 12");
	CHECK_STREQ(run("NOT (OR SEEN DRAFT)"), "11");
	CHECK_STREQ(run("SEEN NOT UID 10"), "12");
}

TEST(search_headers_and_text)
{
	CHECK_STREQ(run("FROM alice"), "10");
	CHECK_STREQ(run("FROM ALICE"), "10");
	CHECK_STREQ(run("TO bob@example"), "10");
	CHECK_STREQ(run("CC wang"), "11");
	CHECK_STREQ(run("BCC wang"), "");
	CHECK_STREQ(run("SUBJECT \"lunch PLANS\""), "10");
	CHECK_STREQ(run("HEADER X-Custom world"), "20");
	/* An empty string matches every message that has the field. */
	CHECK_STREQ(run("HEADER Cc \"\""), "11");
	CHECK_STREQ(run("BODY noon"), "10");
	CHECK_STREQ(run("TEXT noon"), "10");
	CHECK_STREQ(run("TEXT \"Big5 test\""), "12");
	CHECK_STREQ(run("BODY \"Big5 test\""), "");
	CHECK_STREQ(run("BODY BINARYSTUFF"), "");
}

TEST(search_chinese_and_casefold)
{
	/* "中文" in UTF-8 finds the GBK body, the GBK encoded-word subject
	 * and the base64 Big5 part. */
	CHECK_STREQ(run("CHARSET UTF-8 BODY {6}\r\n\xe4\xb8\xad\xe6\x96\x87"), "11 12");
	CHECK_STREQ(run("CHARSET UTF-8 SUBJECT {6}\r\n\xe4\xb8\xad\xe6\x96\x87"), "11");
	/* 张三 in an RFC 2047 From. */
	CHECK_STREQ(run("CHARSET UTF-8 FROM {6}\r\n\xe5\xbc\xa0\xe4\xb8\x89"), "11");
	/* 測試 (Big5 part) */
	CHECK_STREQ(run("CHARSET UTF-8 TEXT {6}\r\n\xe6\xb8\xac\xe8\xa9\xa6"), "12");
	/* A raw (not RFC 2047) GBK header is read in the message's charset,
	 * by HEADER and by TEXT alike: "会议" in the X-Raw field. */
	CHECK_STREQ(run("CHARSET UTF-8 TEXT {6}\r\n\xe4\xbc\x9a\xe8\xae\xae"), "11");
	CHECK_STREQ(run("CHARSET UTF-8 HEADER X-Raw {6}\r\n\xe4\xbc\x9a\xe8\xae\xae"), "11");
	/* Non-ASCII case folding: GRÜSSE vs Grüße is not simple folding, but
	 * MÜNCHEN vs München is. */
	CHECK_STREQ(run("CHARSET UTF-8 BODY {8}\r\nM\xc3\x9c"
	                "NCHEN"),
	            "20");
}

TEST(search_cheap_keys_first)
{
	/* The flag test rules out all but one message before any body is
	 * read, whatever order the client wrote. */
	loads = 0;
	CHECK_STREQ(run("BODY noon DRAFT"), "");
	CHECK(loads == 1);
	loads = 0;
	/* OR tries its cheap side first: message 10 matches on its UID and
	 * is never read; the three others are. */
	CHECK_STREQ(run("OR BODY xyz UID 10"), "10");
	CHECK(loads == 3);
}

TEST(search_charset)
{
	struct imap_search_program prog;
	const char *err;
	bool badcs;
	CHECK(parse("CHARSET us-ascii ALL", &prog, &err, &badcs) == 1);
	imap_search_program_free(&prog);
	CHECK(parse("CHARSET ISO-2022-JP ALL", &prog, &err, &badcs) == -1);
	CHECK(badcs);
	CHECK(parse("CHARSET", &prog, &err, &badcs) == -1);
	CHECK(!badcs);
}

TEST(search_return_options)
{
	struct imap_search_program prog;
	const char *err;
	bool badcs;
	CHECK(parse("RETURN (MIN MAX COUNT) ALL", &prog, &err, &badcs) == 1);
	CHECK(prog.has_return);
	CHECK(prog.return_opts ==
	      (IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX | IMAP_SEARCH_RETURN_COUNT));
	imap_search_program_free(&prog);
	CHECK(parse("RETURN () ALL", &prog, &err, &badcs) == 1);
	CHECK(prog.return_opts == IMAP_SEARCH_RETURN_ALL);
	imap_search_program_free(&prog);
	CHECK(parse("RETURN (SAVE) CHARSET UTF-8 SEEN", &prog, &err, &badcs) == 1);
	CHECK(prog.return_opts == IMAP_SEARCH_RETURN_SAVE);
	imap_search_program_free(&prog);
	CHECK(parse("RETURN (BOGUS) ALL", &prog, &err, &badcs) == -1);
	CHECK(parse("RETURN ALL", &prog, &err, &badcs) == -1);
}

TEST(search_bad_syntax)
{
	const char *bad[] = {
	    "",
	    "FOO",
	    "BEFORE",
	    "BEFORE 32-Jan-2024",
	    "BEFORE 1-Foo-2024",
	    "BEFORE 1-Jan-24",
	    "ON 29-Feb-2023x",
	    "LARGER",
	    "LARGER x",
	    "LARGER -1",
	    "UID",
	    "UID x",
	    "UID 0",
	    "0",
	    "1:0",
	    "NOT",
	    "OR SEEN",
	    "()",
	    "HEADER Subject",
	    "HEADER \"a:b\" x",
	    "KEYWORD",
	    "KEYWORD \\Seen",
	    "KEYWORD (x)",
	    "MODSEQ",
	    "MODSEQ x",
	    "MODSEQ \"/f\" bogus 5",
	    "OLDER 0",
	    "YOUNGER x",
	    "SUBJECT",
	    "BODY",
	    "1,$",
	    "(SEEN",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_search_program prog;
		const char *err = NULL;
		bool badcs;
		int ret = parse(bad[i], &prog, &err, &badcs);
		if (ret != -1)
			fprintf(stderr, "  accepted: '%s'\n", bad[i]);
		CHECK(ret == -1);
		CHECK(err != NULL);
		CHECK(!badcs);
	}
}

TEST(search_limits)
{
	struct buf b = BUF_INIT(0);
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH + 2; i++)
		buf_append_cstr(&b, "NOT ");
	buf_append_cstr(&b, "ALL");
	struct imap_search_program prog;
	const char *err;
	bool badcs;
	CHECK(parse(buf_cstr(&b), &prog, &err, &badcs) == -1);
	CHECK_STREQ(err, "Search keys nested too deeply");
	buf_reset(&b);
	for (int i = 0; i < IMAP_SEARCH_MAX_KEYS + 1; i++)
		buf_append_cstr(&b, i ? " SEEN" : "SEEN");
	CHECK(parse(buf_cstr(&b), &prog, &err, &badcs) == -1);
	CHECK_STREQ(err, "Too many search keys");
	buf_free(&b);
}

TEST(search_date_parse)
{
	int64_t d;
	CHECK(imap_search_parse_date(str_c("1-Jan-1970"), &d) == 1 && d == 0);
	CHECK(imap_search_parse_date(str_c("01-jan-1970"), &d) == 1 && d == 0);
	CHECK(imap_search_parse_date(str_c("10-Mar-2024"), &d) == 1 && d == T_MAR10 / 86400);
	CHECK(imap_search_parse_date(str_c("29-Feb-2024"), &d) == 1);
	CHECK(imap_search_parse_date(str_c("31-Apr-2024"), &d) == -1);
	CHECK(imap_search_parse_date(str_c("123-Jan-2024"), &d) == -1);
}

TEST(search_cleanup)
{
	for (size_t i = 0; i < NMSGS; i++)
		buf_free(&msgs[i].blob);
	imap_parser_deinit(&parser);
	pool_free(&pool);
	CHECK(pool == NULL);
}

UNIT_MAIN()
