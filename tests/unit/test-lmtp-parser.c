#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lmtp/lmtp-parser.h"
#include "unit.h"

/* Feeds `in` to a fresh parser `step` bytes at a time (0: all at once) and
 * renders the items: "L<line>|" for lines, "!|" for too-long lines, data
 * appended to one string, "E|" at the end of data. A DATA line switches
 * the parser to data mode, as the session does. */
static void render(const char *in, size_t in_len, size_t step, struct buf *out)
{
	struct lmtp_parser p;
	lmtp_parser_init(&p);
	size_t off = 0;
	bool data_open = false;
	while (off < in_len) {
		size_t chunk = step == 0 ? in_len - off : step;
		if (chunk > in_len - off)
			chunk = in_len - off;
		/* Copy the chunk so views cannot read past it. */
		char *tmp = malloc(chunk);
		memcpy(tmp, in + off, chunk);
		size_t pos = 0;
		for (;;) {
			size_t used = 0;
			struct lmtp_item item;
			int ret = lmtp_parser_feed(&p, tmp + pos, chunk - pos, &used, &item);
			CHECK(used <= chunk - pos);
			pos += used;
			if (ret == 0) {
				CHECK(pos == chunk);
				break;
			}
			switch (item.type) {
			case LMTP_ITEM_LINE:
				if (data_open) {
					buf_append_cstr(out, "|");
					data_open = false;
				}
				if (item.too_long) {
					buf_append_cstr(out, "!|");
				} else {
					buf_append_cstr(out, "L");
					buf_append_str(out, item.text);
					buf_append_cstr(out, "|");
					if (str_eq_cstr_nocase(item.text, "DATA"))
						lmtp_parser_begin_data(&p);
					struct lmtp_command cmd;
					uint64_t size;
					bool last;
					if (lmtp_command_parse(item.text, &cmd) == 1 &&
					    cmd.verb == LMTP_VERB_BDAT &&
					    lmtp_bdat_parse(cmd.args, &size, &last) == 1)
						lmtp_parser_begin_chunk(&p, size);
				}
				break;
			case LMTP_ITEM_DATA:
				if (!data_open) {
					buf_append_cstr(out, "D");
					data_open = true;
				}
				buf_append_str(out, item.text);
				break;
			case LMTP_ITEM_DATA_END:
				if (!data_open)
					buf_append_cstr(out, "D");
				buf_append_cstr(out, "|E|");
				data_open = false;
				break;
			case LMTP_ITEM_CHUNK_END:
				if (!data_open)
					buf_append_cstr(out, "D");
				buf_append_cstr(out, "|C|");
				data_open = false;
				break;
			}
		}
		free(tmp);
		off += chunk;
	}
	if (data_open)
		buf_append_cstr(out, "|");
}

/* Every split size gives the same rendering. */
static void check_all_splits(const char *in, const char *expected)
{
	size_t len = strlen(in);
	for (size_t step = 0; step <= len && step <= 17; step++) {
		struct buf out = BUF_INIT(0);
		render(in, len, step, &out);
		if (strcmp(buf_cstr(&out), expected) != 0)
			fprintf(stderr, "  step %zu\n", step);
		CHECK_STREQ(buf_cstr(&out), expected);
		buf_free(&out);
	}
}

TEST(command_lines)
{
	check_all_splits("LHLO x\r\nNOOP\r\nQUIT\n", "LLHLO x|LNOOP|LQUIT|");
	check_all_splits("\r\n", "L|");
}

TEST(data_simple_and_pipelined)
{
	check_all_splits("DATA\r\nSubject: a\r\n\r\nbody\r\n.\r\nQUIT\r\n",
			 "LDATA|DSubject: a\r\n\r\nbody\r\n|E|LQUIT|");
}

TEST(data_dot_unstuffing)
{
	check_all_splits("DATA\r\n..\r\n...x\r\n.y\r\na.b\r\n.\r\n",
			 "LDATA|D.\r\n..x\r\ny\r\na.b\r\n|E|");
	/* An empty message. */
	check_all_splits("DATA\r\n.\r\nNOOP\r\n", "LDATA|D|E|LNOOP|");
	/* A dot that is not at a line start stays. */
	check_all_splits("DATA\r\nx.\r\n.\r\n", "LDATA|Dx.\r\n|E|");
}

TEST(data_bare_lf_and_cr)
{
	/* Bare LF becomes CRLF; ".\n" ends the data. */
	check_all_splits("DATA\na\nb\r\n\n.\nNOOP\n", "LDATA|Da\r\nb\r\n\r\n|E|LNOOP|");
	/* A bare CR stays; ".\rx" is a stuffed dot then a bare CR. */
	check_all_splits("DATA\r\na\rb\r\n.\rx\r\n.\r\n", "LDATA|Da\rb\r\n\rx\r\n|E|");
}

TEST(bdat_chunks)
{
	/* Raw bytes (no unstuffing), a CRLF split over two chunks, a bare
	 * LF made CRLF, "BDAT 0 LAST", pipelined commands after. */
	check_all_splits("BDAT 6\r\na\r\n.\r\rBDAT 5 LAST\r\n\nb\nc\nNOOP\r\n",
			 "LBDAT 6|Da\r\n.\r\r|C|LBDAT 5 LAST|D\nb\r\nc\r\n|C|LNOOP|");
	check_all_splits("BDAT 0 LAST\r\nQUIT\r\n", "LBDAT 0 LAST|D|C|LQUIT|");
	uint64_t size;
	bool last;
	CHECK(lmtp_bdat_parse(STR_LIT("100"), &size, &last) == 1 && size == 100 && !last);
	CHECK(lmtp_bdat_parse(STR_LIT("7 last"), &size, &last) == 1 && size == 7 && last);
	CHECK(lmtp_bdat_parse(STR_LIT(""), &size, &last) == -1);
	CHECK(lmtp_bdat_parse(STR_LIT("x"), &size, &last) == -1);
	CHECK(lmtp_bdat_parse(STR_LIT("1 FIRST"), &size, &last) == -1);
	CHECK(lmtp_bdat_parse(STR_LIT("99999999999999999999"), &size, &last) == -1);
}

TEST(data_stats)
{
	struct lmtp_parser p;
	lmtp_parser_init(&p);
	lmtp_parser_begin_data(&p);
	const char *in = "abc\r\n12345\na\0b\r\n.\r\n";
	size_t len = 20, off = 0;
	struct lmtp_item item;
	size_t used;
	int ends = 0;
	while (off < len) {
		if (lmtp_parser_feed(&p, in + off, 1, &used, &item) == 1 &&
		    item.type == LMTP_ITEM_DATA_END)
			ends++;
		off += used;
	}
	CHECK(ends == 1);
	CHECK(p.max_line_len == 5);
	CHECK(p.nul_bytes == 1);
	CHECK(p.bare_lf == 1);
	CHECK(p.data_size == strlen("abc\r\n12345\r\n") + 5);
	CHECK(!p.in_data);
}

/* The statistics are the same whether the data comes byte by byte or in
 * one piece (the parser skips line contents with memchr). */
TEST(data_stats_any_split)
{
	static const char in[] = "abc\r\n1234567\r\n\0x\0\r\n\r\nlast\r\r\n.\r\n";
	size_t len = sizeof(in) - 1;
	uint64_t ref_max = 0, ref_nul = 0, ref_lf = 0, ref_size = 0;
	for (size_t step = 1; step <= len; step++) {
		struct lmtp_parser p;
		lmtp_parser_init(&p);
		lmtp_parser_begin_data(&p);
		struct lmtp_item item;
		size_t off = 0, used;
		int ends = 0;
		while (off < len) {
			size_t n = len - off < step ? len - off : step;
			if (lmtp_parser_feed(&p, in + off, n, &used, &item) == 1 &&
			    item.type == LMTP_ITEM_DATA_END)
				ends++;
			off += used;
		}
		CHECK(ends == 1);
		if (step == 1) {
			ref_max = p.max_line_len;
			ref_nul = p.nul_bytes;
			ref_lf = p.bare_lf;
			ref_size = p.data_size;
			CHECK(ref_max == 7 && ref_nul == 2 && ref_lf == 0);
		}
		CHECK(p.max_line_len == ref_max && p.nul_bytes == ref_nul && p.bare_lf == ref_lf);
		CHECK(p.data_size == ref_size);
	}
}

TEST(command_too_long)
{
	char big[2000];
	memset(big, 'a', sizeof(big));
	memcpy(big, "NOOP ", 5);
	struct buf in = BUF_INIT(0);
	buf_append(&in, big, sizeof(big));
	buf_append_cstr(&in, "\r\nNOOP\r\n");
	for (size_t step = 1; step < 600; step += 97) {
		struct buf out = BUF_INIT(0);
		render(in.data, in.len, step, &out);
		CHECK_STREQ(buf_cstr(&out), "!|LNOOP|");
		buf_free(&out);
	}
	/* 510 bytes + CRLF = 512 fits; 511 + CRLF does not. */
	struct buf ok = BUF_INIT(0), bad = BUF_INIT(0), out = BUF_INIT(0);
	buf_append(&ok, big, 510);
	buf_append_cstr(&ok, "\r\n");
	render(ok.data, ok.len, 0, &out);
	CHECK(out.len == 512);
	buf_reset(&out);
	buf_append(&bad, big, 511);
	buf_append_cstr(&bad, "\r\n");
	render(bad.data, bad.len, 0, &out);
	CHECK_STREQ(buf_cstr(&out), "!|");
	buf_free(&ok);
	buf_free(&bad);
	buf_free(&out);
	buf_free(&in);
}

TEST(command_parse)
{
	struct lmtp_command c;
	CHECK(lmtp_command_parse(STR_LIT("lhlo client.example"), &c) == 1);
	CHECK(c.verb == LMTP_VERB_LHLO);
	CHECK(str_eq(c.args, STR_LIT("client.example")));
	CHECK(lmtp_command_parse(STR_LIT("MAIL FROM:<a@b>  "), &c) == 1);
	CHECK(c.verb == LMTP_VERB_MAIL);
	CHECK(str_eq(c.args, STR_LIT("FROM:<a@b>")));
	CHECK(lmtp_command_parse(STR_LIT("XYZZY"), &c) == 1);
	CHECK(c.verb == LMTP_VERB_UNKNOWN);
	CHECK(lmtp_command_parse(STR_LIT(""), &c) == -1);
	CHECK(lmtp_command_parse(str_make("NO\0OP", 5), &c) == -1);
}

TEST(path_parse)
{
	struct lmtp_path p;
	const char *err = NULL;
	CHECK(lmtp_path_parse(STR_LIT("FROM:<a@b.example> SIZE=100 BODY=8BITMIME"), true, &p,
			      &err) == 1);
	CHECK(str_eq(p.address, STR_LIT("a@b.example")));
	CHECK(p.n_params == 2);
	CHECK(str_eq(p.params[0].keyword, STR_LIT("SIZE")));
	CHECK(str_eq(p.params[0].value, STR_LIT("100")));
	CHECK(str_eq(p.params[1].value, STR_LIT("8BITMIME")));
	CHECK(lmtp_path_parse(STR_LIT("from: <>"), true, &p, &err) == 1);
	CHECK(p.address.len == 0);
	CHECK(lmtp_path_parse(STR_LIT("TO:<>"), false, &p, &err) == -1);
	CHECK(lmtp_path_parse(STR_LIT("TO:<Postmaster>"), false, &p, &err) == 1);
	CHECK(lmtp_path_parse(STR_LIT("FROM:<Postmaster>"), true, &p, &err) == -1);
	CHECK(lmtp_path_parse(STR_LIT("TO:<@relay.example:bob@x.example>"), false, &p, &err) == 1);
	CHECK(str_eq(p.address, STR_LIT("bob@x.example")));
	CHECK(lmtp_path_parse(STR_LIT("TO:<\"a > b\"@x.example>"), false, &p, &err) == 1);
	CHECK(str_eq(p.address, STR_LIT("\"a > b\"@x.example")));
	CHECK(lmtp_path_parse(STR_LIT("TO:<bob@x.example"), false, &p, &err) == -1);
	CHECK(lmtp_path_parse(STR_LIT("TO:bob@x.example"), false, &p, &err) == -1);
	CHECK(lmtp_path_parse(STR_LIT("TO:<bob@@x>"), false, &p, &err) == -1);
	CHECK(lmtp_path_parse(STR_LIT("TO:<.bob@x>"), false, &p, &err) == -1);
	CHECK(lmtp_path_parse(STR_LIT("TO:<bob@x..y>"), false, &p, &err) == -1);
	CHECK(lmtp_path_parse(STR_LIT("TO:<bob@x>junk"), false, &p, &err) == -1);
	CHECK(lmtp_path_parse(STR_LIT("TO:<bob@x> =1"), false, &p, &err) == -1);
	CHECK(lmtp_path_parse(STR_LIT("TO:<b o@x>"), false, &p, &err) == -1);
	CHECK(lmtp_path_parse(STR_LIT("FROM:<a@b> A B C D E F G H I"), true, &p, &err) == -1);
	CHECK(lmtp_path_parse(STR_LIT("RCPT:<a@b>"), false, &p, &err) == -1);
	CHECK(lmtp_path_parse(STR_LIT("TO:<用户@例子.example>"), false, &p, &err) == 1);
}

UNIT_MAIN()
