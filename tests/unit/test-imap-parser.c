/* Unit tests of the IMAP command parser: every input is parsed in one go
 * and again one byte at a time, and both must give the same transcript. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-parser.h"
#include "imap/imap-utf7.h"
#include "lib/pool.h"
#include "unit.h"

static void dump_args(struct buf *out, const struct imap_arg *a)
{
	for (; a->type != IMAP_ARG_EOL; a++) {
		buf_append_char(out, ' ');
		switch (a->type) {
		case IMAP_ARG_NIL:
			buf_append_cstr(out, "NIL");
			break;
		case IMAP_ARG_ATOM:
			buf_printf(out, "A:%.*s", (int)a->str.len, a->str.p);
			break;
		case IMAP_ARG_STRING:
			buf_printf(out, "Q:%.*s", (int)a->str.len, a->str.p);
			break;
		case IMAP_ARG_LITERAL:
			buf_printf(out, "%s:%.*s", a->literal8 ? "L8" : "L", (int)a->str.len, a->str.p);
			break;
		case IMAP_ARG_LITERAL_STREAMED:
			buf_printf(out, "S:%llu", (unsigned long long)a->literal_size);
			break;
		case IMAP_ARG_LIST:
			buf_append_cstr(out, "(");
			dump_args(out, a->list);
			buf_append_cstr(out, " )");
			break;
		case IMAP_ARG_EOL:
			break;
		}
	}
}

enum lit_policy { LIT_COLLECT, LIT_STREAM, LIT_REJECT };

/* Parses input with the given chunk size (0 = all at once) and returns a
 * transcript of events, one per line. */
static char *run(const char *input, size_t inlen, size_t chunk, enum lit_policy pol,
		 size_t max_line)
{
	struct pool *pool = pool_new(1024);
	struct imap_parser p;
	struct imap_parser_limits lim = { max_line, 100000 };
	imap_parser_init(&p, pool, &lim);
	struct buf out = BUF_INIT(0);
	size_t pos = 0;
	uint64_t stream_left = 0;
	while (pos < inlen) {
		size_t n = chunk == 0 ? inlen - pos : chunk;
		if (n > inlen - pos)
			n = inlen - pos;
		if (stream_left > 0) {
			size_t take = n < stream_left ? n : stream_left;
			stream_left -= take;
			pos += take;
			if (stream_left == 0)
				imap_parser_literal_streamed(&p);
			continue;
		}
		size_t used = 0;
		enum imap_parse_result r = imap_parser_feed(&p, input + pos, n, &used);
		pos += used;
		switch (r) {
		case IMAP_PARSE_MORE:
			break;
		case IMAP_PARSE_DONE:
			buf_printf(&out, "DONE %s %s", imap_parser_tag(&p), imap_parser_command(&p));
			dump_args(&out, imap_parser_args(&p));
			buf_append_char(&out, '\n');
			imap_parser_next(&p);
			pool_clear(pool);
			break;
		case IMAP_PARSE_ERROR:
			buf_printf(&out, "ERR %s%s%s: %s\n", imap_parser_tag(&p),
				   imap_parser_error_toobig(&p) ? " TOOBIG" : "",
				   imap_parser_error_limit(&p) ? " LIMIT" : "", imap_parser_error(&p));
			imap_parser_next(&p);
			pool_clear(pool);
			break;
		case IMAP_PARSE_LITERAL: {
			const struct imap_parser_literal *l = imap_parser_literal(&p);
			buf_printf(&out, "LIT %llu%s%s%s d%u i%zu\n", (unsigned long long)l->size,
				   l->sync ? " sync" : "", l->literal8 ? " 8" : "",
				   l->in_atom ? " atom" : "", l->depth, l->arg_index);
			if (pol == LIT_COLLECT) {
				imap_parser_literal_collect(&p);
			} else if (pol == LIT_STREAM) {
				imap_parser_literal_stream(&p);
				stream_left = l->size;
				if (stream_left == 0)
					imap_parser_literal_streamed(&p);
			} else {
				imap_parser_literal_reject(&p);
				buf_append_cstr(&out, "REJECTED\n");
				imap_parser_next(&p);
				pool_clear(pool);
			}
			break;
		}
		}
	}
	if (!imap_parser_idle(&p))
		buf_append_cstr(&out, "INCOMPLETE\n");
	imap_parser_deinit(&p);
	pool_free(&pool);
	return buf_steal(&out, NULL);
}

/* Checks input against the expected transcript, whole and byte by byte. */
static void check_parse_pol(const char *input, size_t len, const char *expected,
			    enum lit_policy pol, size_t max_line)
{
	char *whole = run(input, len, 0, pol, max_line);
	char *bytes = run(input, len, 1, pol, max_line);
	char *sevens = run(input, len, 7, pol, max_line);
	CHECK_STREQ(whole, expected);
	CHECK_STREQ(bytes, expected);
	CHECK_STREQ(sevens, expected);
	free(whole);
	free(bytes);
	free(sevens);
}

#define CHECK_PARSE(in, exp) check_parse_pol((in), sizeof(in) - 1, (exp), LIT_COLLECT, 65536)

TEST(parser_simple)
{
	CHECK_PARSE("a1 NOOP\r\n", "DONE a1 NOOP\n");
	CHECK_PARSE("a1 noop\n", "DONE a1 NOOP\n");
	CHECK_PARSE("a1 LOGIN bob \"pa ss\\\"w\\\\\"\r\n", "DONE a1 LOGIN A:bob Q:pa ss\"w\\\n");
	CHECK_PARSE("x SELECT NIL nil \"NIL\"\r\n", "DONE x SELECT NIL NIL Q:NIL\n");
	CHECK_PARSE("a2 STORE 1:*,4 +FLAGS (\\Seen \\Deleted $Junk)\r\n",
		    "DONE a2 STORE A:1:*,4 A:+FLAGS ( A:\\Seen A:\\Deleted A:$Junk )\n");
	CHECK_PARSE("t LIST \"\" %/*\r\n", "DONE t LIST Q: A:%/*\n");
	CHECK_PARSE("t X ()\r\n", "DONE t X ( )\n");
	CHECK_PARSE("t X (() (a (b)))\r\n", "DONE t X ( ( ) ( A:a ( A:b ) ) )\n");
	/* trailing space tolerated */
	CHECK_PARSE("a NOOP \r\n", "DONE a NOOP\n");
	/* empty lines between commands are ignored */
	CHECK_PARSE("\r\n\r\na NOOP\r\n", "DONE a NOOP\n");
}

TEST(parser_fetch_sections)
{
	CHECK_PARSE("a FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>)\r\n",
		    "DONE a FETCH A:1 ( A:FLAGS A:BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> )\n");
	CHECK_PARSE("a FETCH 1 BODY[]\r\n", "DONE a FETCH A:1 A:BODY[]\n");
	CHECK_PARSE("a FETCH 1 BODY[1.2\r\n", "ERR a: Missing ']'\n");
}

/* RFC 9051 9: header-fld-name = astring, so the list in a section may hold
 * quoted strings and literals. Both stay inside the one atom; a literal
 * becomes a quoted string there. */
TEST(parser_section_astrings)
{
	CHECK_PARSE("a FETCH 1 BODY[HEADER.FIELDS (\"X-A\" Subject)]\r\n",
		    "DONE a FETCH A:1 A:BODY[HEADER.FIELDS (\"X-A\" Subject)]\n");
	/* "]", "(", escapes inside the quoted name do not end anything */
	CHECK_PARSE("a FETCH 1 (BODY.PEEK[1.HEADER.FIELDS.NOT (\"a](\\\"\\\\\" c)]<0.10> UID)\r\n",
		    "DONE a FETCH A:1 ( A:BODY.PEEK[1.HEADER.FIELDS.NOT (\"a](\\\"\\\\\" c)]<0.10>"
		    " A:UID )\n");
	CHECK_PARSE("a FETCH 1 BODY[HEADER.FIELDS ({3}\r\nX-A)]\r\n",
		    "LIT 3 sync atom d0 i1\nDONE a FETCH A:1 A:BODY[HEADER.FIELDS (\"X-A\")]\n");
	/* literals among atoms and quoted names, non-synchronizing, empty,
	 * and with bytes that need escaping in the quoted form */
	CHECK_PARSE("a FETCH 1:2 (UID BODY[HEADER.FIELDS (A {1+}\r\nB \"C\" {0}\r\n {4}\r\nd\"e\\)])"
		    "\r\nb NOOP\r\n",
		    "LIT 1 atom d1 i1\nLIT 0 sync atom d1 i1\nLIT 4 sync atom d1 i1\n"
		    "DONE a FETCH A:1:2 ( A:UID A:BODY[HEADER.FIELDS (A \"B\" \"C\" \"\" \"d\\\"e\\\\\")] )\n"
		    "DONE b NOOP\n");
	/* a quoted string or literal only starts a list element */
	CHECK_PARSE("a FETCH 1 BODY[HEADER.FIELDS (X\"Y\")]\r\nb NOOP\r\n",
		    "ERR a: Invalid character in atom\nDONE b NOOP\n");
	CHECK_PARSE("a FETCH 1 BODY[{3}\r\nb NOOP\r\n",
		    "ERR a: Invalid character in atom\nDONE b NOOP\n");
	CHECK_PARSE("a FETCH 1 BODY[HEADER.FIELDS (\"X\r\nb NOOP\r\n",
		    "ERR a: Unterminated quoted string\nDONE b NOOP\n");
	CHECK_PARSE("a FETCH 1 BODY[HEADER.FIELDS (\"\\X\")]\r\nb NOOP\r\n",
		    "ERR a: Invalid escape in quoted string\nDONE b NOOP\n");
	static const char qnul[] = "a FETCH 1 BODY[HEADER.FIELDS (\"\0\")]\r\nb NOOP\r\n";
	check_parse_pol(qnul, sizeof(qnul) - 1, "ERR a: NUL in quoted string\nDONE b NOOP\n",
			LIT_COLLECT, 65536);
	/* no field name holds CR, LF or NUL: the literal is consumed, then
	 * the rest of the line skipped */
	CHECK_PARSE("a FETCH 1 BODY[HEADER.FIELDS ({3+}\r\na\r\n)] {2+}\r\n\r\n\r\nb NOOP\r\n",
		    "LIT 3 atom d0 i1\nERR a: Invalid character in a section literal\nDONE b NOOP\n");
	static const char lnul[] = "a FETCH 1 BODY[HEADER.FIELDS ({1+}\r\n\0)]\r\nb NOOP\r\n";
	check_parse_pol(lnul, sizeof(lnul) - 1,
			"LIT 1 atom d0 i1\nERR a: Invalid character in a section literal\n"
			"DONE b NOOP\n",
			LIT_COLLECT, 65536);
	/* the quoted form must fit in the atom (the line limit) */
	static const char big[] = "a FETCH 1 BODY[HEADER.FIELDS ({30+}\r\n"
				  "012345678901234567890123456789)]\r\nb NOOP\r\n";
	check_parse_pol(big, sizeof(big) - 1, "ERR a TOOBIG: Argument too long\nDONE b NOOP\n",
			LIT_COLLECT, 64);
	static const char bigs[] = "a FETCH 1 BODY[HEADER.FIELDS ({30}\r\nb NOOP\r\n";
	check_parse_pol(bigs, sizeof(bigs) - 1, "ERR a TOOBIG: Argument too long\nDONE b NOOP\n",
			LIT_COLLECT, 64);
	/* rejected like any literal */
	static const char rej[] = "a FETCH 1 BODY[HEADER.FIELDS ({3}\r\nb NOOP\r\n";
	check_parse_pol(rej, sizeof(rej) - 1, "LIT 3 sync atom d0 i1\nREJECTED\nDONE b NOOP\n",
			LIT_REJECT, 65536);
	/* a session must not stream one; if it does, the atom gets "" */
	static const char str[] = "a FETCH 1 BODY[HEADER.FIELDS ({3}\r\nX-A)]\r\n";
	check_parse_pol(str, sizeof(str) - 1,
			"LIT 3 sync atom d0 i1\nDONE a FETCH A:1 A:BODY[HEADER.FIELDS (\"\")]\n",
			LIT_STREAM, 65536);
}

TEST(parser_pipelined)
{
	CHECK_PARSE("a NOOP\r\nb CAPABILITY\r\nc LOGOUT\r\n",
		    "DONE a NOOP\nDONE b CAPABILITY\nDONE c LOGOUT\n");
}

TEST(parser_literals)
{
	CHECK_PARSE("a LOGIN {3}\r\nbob {4}\r\npass\r\n",
		    "LIT 3 sync d0 i0\nLIT 4 sync d0 i1\nDONE a LOGIN L:bob L:pass\n");
	CHECK_PARSE("a LOGIN {3+}\r\nbob {0+}\r\n\r\n",
		    "LIT 3 d0 i0\nLIT 0 d0 i1\nDONE a LOGIN L:bob L:\n");
	CHECK_PARSE("a X (a {2}\r\nxy b)\r\n", "LIT 2 sync d1 i1\nDONE a X ( A:a L:xy A:b )\n");
	/* a literal may contain CRLF and parentheses */
	CHECK_PARSE("a X {6}\r\n)\r\n(\"\\ \r\n", "LIT 6 sync d0 i0\nDONE a X L:)\r\n(\"\\\n");
	/* literal8 */
	static const char l8[] = "a APPEND INBOX ~{3}\r\na\0b\r\n";
	check_parse_pol(l8, sizeof(l8) - 1, "LIT 3 sync 8 d0 i1\nDONE a APPEND A:INBOX L8:a\n",
			LIT_COLLECT, 65536);
	/* NUL in a plain literal is an error; the line is skipped */
	static const char nul[] = "a X {3+}\r\na\0b Y\r\nb NOOP\r\n";
	check_parse_pol(nul, sizeof(nul) - 1,
			"LIT 3 d0 i0\nERR a: NUL in literal (use literal8)\nDONE b NOOP\n",
			LIT_COLLECT, 65536);
}

TEST(parser_literal_stream_and_reject)
{
	static const char in[] = "a APPEND INBOX (\\Seen) {5}\r\nHello\r\nb NOOP\r\n";
	check_parse_pol(in, sizeof(in) - 1,
			"LIT 5 sync d0 i2\nDONE a APPEND A:INBOX ( A:\\Seen ) S:5\nDONE b NOOP\n",
			LIT_STREAM, 65536);
	/* MULTIAPPEND: two streamed literals in one command */
	static const char two[] = "a APPEND INBOX {2+}\r\nab {3+}\r\ncde\r\n";
	check_parse_pol(two, sizeof(two) - 1,
			"LIT 2 d0 i1\nLIT 3 d0 i2\nDONE a APPEND A:INBOX S:2 S:3\n", LIT_STREAM,
			65536);
	/* rejected synchronizing literal: the client sends nothing more */
	static const char rs[] = "a APPEND INBOX {500}\r\nb NOOP\r\n";
	check_parse_pol(rs, sizeof(rs) - 1, "LIT 500 sync d0 i1\nREJECTED\nDONE b NOOP\n",
			LIT_REJECT, 65536);
	/* rejected non-synchronizing literal: its bytes and the rest of the
	 * line are skipped, including further literals */
	static const char rn[] = "a APPEND INBOX {5+}\r\nb NOO {2+}\r\nxy\r\nc NOOP\r\n";
	check_parse_pol(rn, sizeof(rn) - 1, "LIT 5 d0 i1\nREJECTED\nDONE c NOOP\n", LIT_REJECT,
			65536);
}

TEST(parser_errors)
{
	CHECK_PARSE("a\r\n", "ERR a: Missing command\n");
	CHECK_PARSE("+a NOOP\r\nb NOOP\r\n", "ERR : Invalid character in tag\nDONE b NOOP\n");
	CHECK_PARSE("a  NOOP\r\n", "ERR a: Missing command\n");
	CHECK_PARSE("a X  y\r\n", "ERR a: Double space between arguments\n");
	CHECK_PARSE("a X (y\r\n", "ERR a: Missing ')'\n");
	CHECK_PARSE("a X y)\r\n", "ERR a: Unexpected ')'\n");
	CHECK_PARSE("a X \"abc\r\nb NOOP\r\n", "ERR a: Unterminated quoted string\nDONE b NOOP\n");
	CHECK_PARSE("a X \"a\\b\"\r\n", "ERR a: Invalid escape in quoted string\n");
	CHECK_PARSE("a X {12x}\r\n", "ERR a: Invalid literal size\n");
	CHECK_PARSE("a X {}\r\n", "ERR a: Literal without a size\n");
	CHECK_PARSE("a X {99999999999999999999}\r\n", "ERR a TOOBIG: Literal size too large\n");
	CHECK_PARSE("a X {3}x\r\n", "ERR a: Literal size must be followed by CRLF\n");
	CHECK_PARSE("a X \"q\"y\r\n", "ERR a: Missing space between arguments\n");
	CHECK_PARSE("a X y(z)\r\n", "ERR a: Invalid character in atom\n");
	CHECK_PARSE("a X y\rz\r\n", "ERR a: CR not followed by LF\n");
	CHECK_PARSE("a NO\"OP\r\n", "ERR a: Invalid character in command name\n");
	CHECK_PARSE("a X \x01\r\n", "ERR a: Invalid character in argument\n");
	CHECK_PARSE(" NOOP\r\nb NOOP\r\n", "ERR : Missing tag\nDONE b NOOP\n");
	CHECK_PARSE("a X (b )\r\n", "ERR a: Space before ')'\n");
	CHECK_PARSE("a X b(c)\r\n", "ERR a: Invalid character in atom\n");
	CHECK_PARSE("a X \"b\"(c)\r\n", "ERR a: Missing space before '('\n");
	CHECK_PARSE("a ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ\r\n", "ERR a: Unknown command\n");
	CHECK_PARSE("a X {3+x}\r\n", "ERR a: Invalid literal size\n");
	CHECK_PARSE("a X ~x\r\n", "DONE a X A:~x\n");
	CHECK_PARSE("a X y\n", "DONE a X A:y\n");
	static const char qnul[] = "a X \"a\0b\"\r\nb NOOP\r\n";
	check_parse_pol(qnul, sizeof(qnul) - 1, "ERR a: NUL in quoted string\nDONE b NOOP\n",
			LIT_COLLECT, 65536);
	struct buf br = BUF_INIT(0);
	buf_append_cstr(&br, "a FETCH 1 BODY");
	for (int i = 0; i < IMAP_PARSER_MAX_DEPTH + 1; i++)
		buf_append_char(&br, '[');
	buf_append_cstr(&br, "\r\nb NOOP\r\n");
	check_parse_pol(br.data, br.len,
			"ERR a LIMIT: Brackets nested too deeply\nDONE b NOOP\n", LIT_COLLECT,
			65536);
	buf_free(&br);
	/* the skip honours non-synchronizing literals in the errored line */
	CHECK_PARSE("a X ) {4+}\r\nb NO\r\nc NOOP\r\n", "ERR a: Unexpected ')'\nDONE c NOOP\n");
	/* but a synchronizing literal ends it (the client waits for "+") */
	CHECK_PARSE("a X ) {4}\r\nc NOOP\r\n", "ERR a: Unexpected ')'\nDONE c NOOP\n");
}

TEST(parser_limits)
{
	char line[200];
	snprintf(line, sizeof(line), "a X %0100d\r\nb NOOP\r\n", 7);
	check_parse_pol(line, strlen(line), "ERR a TOOBIG: Command line too long\nDONE b NOOP\n",
			LIT_COLLECT, 64);
	/* nesting */
	struct buf deep = BUF_INIT(0);
	buf_append_cstr(&deep, "a X ");
	for (int i = 0; i < IMAP_PARSER_MAX_DEPTH + 1; i++)
		buf_append_char(&deep, '(');
	buf_append_cstr(&deep, "\r\nb NOOP\r\n");
	check_parse_pol(deep.data, deep.len, "ERR a LIMIT: Lists nested too deeply\nDONE b NOOP\n",
			LIT_COLLECT, 65536);
	buf_free(&deep);
	/* tag length */
	char tag[200];
	memset(tag, 'x', 100);
	snprintf(tag + 100, sizeof(tag) - 100, " NOOP\r\nb NOOP\r\n");
	check_parse_pol(tag, strlen(tag), "ERR : Tag too long\nDONE b NOOP\n", LIT_COLLECT, 65536);
	/* argument count */
	struct buf many = BUF_INIT(0);
	buf_append_cstr(&many, "a X");
	for (int i = 0; i < IMAP_PARSER_MAX_ARGS + 1; i++)
		buf_append_cstr(&many, " x");
	buf_append_cstr(&many, "\r\nb NOOP\r\n");
	char *r = run(many.data, many.len, 0, LIT_COLLECT, 1 << 20);
	CHECK_STREQ(r, "ERR a LIMIT: Too many arguments\nDONE b NOOP\n");
	free(r);
	buf_free(&many);
}

TEST(parser_helpers)
{
	struct pool *pool = pool_new(1024);
	struct imap_parser p;
	struct imap_parser_limits lim = { 65536, 65536 };
	imap_parser_init(&p, pool, &lim);
	const char in[] = "a LOGIN bob \"x y\"\r\n";
	size_t used;
	CHECK(imap_parser_feed(&p, in, sizeof(in) - 1, &used) == IMAP_PARSE_DONE);
	CHECK(used == sizeof(in) - 1);
	const struct imap_arg *args = imap_parser_args(&p);
	struct str s;
	CHECK(imap_args_count(args) == 2);
	CHECK(imap_arg_get_astring(&args[0], &s) && str_eq(s, STR_LIT("bob")));
	CHECK(imap_arg_get_string(&args[1], &s) && str_eq(s, STR_LIT("x y")));
	CHECK(!imap_arg_get_string(&args[0], &s));
	CHECK(imap_arg_atom_equals(&args[0], "BOB"));
	imap_parser_deinit(&p);
	pool_free(&pool);
}

/* The modified UTF-7 codec is tested in test-lib-mutf7.c; this is the
 * UTF8=ACCEPT rule for mailbox names. */
TEST(utf8_mailbox_names)
{
	CHECK(imap_utf8_validate(str_c("已发送")));
	CHECK(!imap_utf8_validate(str_c("\xc0\xaf")));
	CHECK(!imap_utf8_validate(str_c("a\tb")));
}

UNIT_MAIN()
