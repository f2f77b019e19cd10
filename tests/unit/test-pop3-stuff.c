/* Unit tests for the POP3 dot-stuffing stream (src/pop3/pop3-stuff.c). */
#include "unit.h"

#include <stdlib.h>

#include "lib/buf.h"
#include "pop3/pop3-stuff.h"

/* Feeds `in` in chunks of `chunk` bytes (0: all at once) and returns the
 * whole response body (caller frees with buf_free). */
static void run(const char *in, size_t len, size_t chunk, bool top, uint32_t lines,
		struct buf *out)
{
	struct pop3_stuffer st;
	if (top)
		pop3_stuffer_init_top(&st, lines);
	else
		pop3_stuffer_init(&st);
	buf_init(out, 0);
	size_t off = 0;
	if (chunk == 0)
		chunk = len ? len : 1;
	while (off < len && !pop3_stuffer_done(&st)) {
		size_t n = len - off < chunk ? len - off : chunk;
		CHECK(pop3_stuffer_feed(&st, in + off, n, out) == 1);
		off += n;
	}
	CHECK(pop3_stuffer_finish(&st, out) == 1);
}

/* Every chunk size from 1 to 17 and a few large ones give the same bytes. */
static void check_all_chunkings(const char *in, size_t len, bool top, uint32_t lines,
				const char *expect, size_t expect_len)
{
	static const size_t chunks[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 17, 64, 999, 65536, 0 };
	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		struct buf out;
		run(in, len, chunks[k], top, lines, &out);
		CHECK_MEMEQ(out.data, out.len, expect, expect_len);
		buf_free(&out);
	}
}

#define CHECK_STUFF(in, expect) \
	check_all_chunkings(in, sizeof(in) - 1, false, 0, expect, sizeof(expect) - 1)
#define CHECK_TOP(in, n, expect) \
	check_all_chunkings(in, sizeof(in) - 1, true, n, expect, sizeof(expect) - 1)

TEST(plain_message)
{
	CHECK_STUFF("Subject: hi\r\n\r\nbody\r\n", "Subject: hi\r\n\r\nbody\r\n.\r\n");
	CHECK_STUFF("", ".\r\n");
}

TEST(dot_lines)
{
	CHECK_STUFF("A: b\r\n\r\n.\r\n..\r\n.x\r\nx.\r\n",
		    "A: b\r\n\r\n..\r\n...\r\n..x\r\nx.\r\n.\r\n");
	/* A dot at the very start of the message is a line start too. */
	CHECK_STUFF(".\r\n", "..\r\n.\r\n");
	/* A dot after a CR that is not a line end is not a line start. */
	CHECK_STUFF("a\r.b\r\n", "a\r.b\r\n.\r\n");
}

TEST(unterminated_last_line)
{
	CHECK_STUFF("A: b\r\n\r\nno newline", "A: b\r\n\r\nno newline\r\n.\r\n");
	CHECK_STUFF("A: b\r\n\r\n.", "A: b\r\n\r\n..\r\n.\r\n");
	CHECK_STUFF("A: b\r\n\r\nx\r", "A: b\r\n\r\nx\r\n.\r\n");
}

TEST(bare_lf_gets_cr)
{
	CHECK_STUFF("A: b\n\n.x\n", "A: b\r\n\r\n..x\r\n.\r\n");
	CHECK_STUFF("a\r\r\nb\n", "a\r\r\nb\r\n.\r\n");
}

TEST(eight_bit_and_nul)
{
	CHECK_STUFF("Subject: \xe4\xbd\xa0\xe5\xa5\xbd\r\n\r\n\xb2\xe2\xca\xd4\r\n",
		    "Subject: \xe4\xbd\xa0\xe5\xa5\xbd\r\n\r\n\xb2\xe2\xca\xd4\r\n.\r\n");
	static const char in[] = "a\0b\r\n";
	static const char ex[] = "a\0b\r\n.\r\n";
	check_all_chunkings(in, sizeof(in) - 1, false, 0, ex, sizeof(ex) - 1);
}

TEST(long_lines_998)
{
	/* RFC 5322 2.1.1: lines up to 998 octets plus CRLF; some start with
	 * a dot, so the output line is 999 octets. */
	struct buf in = BUF_INIT(0), ex = BUF_INIT(0);
	buf_append_cstr(&in, "Subject: long\r\n\r\n");
	buf_append_cstr(&ex, "Subject: long\r\n\r\n");
	for (int l = 0; l < 5; l++) {
		char line[998];
		memset(line, 'a' + l, sizeof(line));
		if (l % 2 == 0)
			line[0] = '.';
		buf_append(&in, line, sizeof(line));
		buf_append(&in, "\r\n", 2);
		if (l % 2 == 0)
			buf_append_char(&ex, '.');
		buf_append(&ex, line, sizeof(line));
		buf_append(&ex, "\r\n", 2);
	}
	buf_append_cstr(&ex, ".\r\n");
	check_all_chunkings(in.data, in.len, false, 0, ex.data, ex.len);
	buf_free(&in);
	buf_free(&ex);
}

TEST(top)
{
	static const char msg[] = "A: 1\r\nB: 2\r\n\r\nl1\r\n.l2\r\nl3\r\n";
	CHECK_TOP(msg, 0, "A: 1\r\nB: 2\r\n\r\n.\r\n");
	CHECK_TOP(msg, 1, "A: 1\r\nB: 2\r\n\r\nl1\r\n.\r\n");
	CHECK_TOP(msg, 2, "A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\n.\r\n");
	CHECK_TOP(msg, 3, "A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n");
	CHECK_TOP(msg, 100, "A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n");
	/* No body at all, and a header without the blank line. */
	CHECK_TOP("A: 1\r\n\r\n", 5, "A: 1\r\n\r\n.\r\n");
	CHECK_TOP("A: 1\r\nB: 2", 0, "A: 1\r\nB: 2\r\n.\r\n");
	/* Bare-LF message. */
	CHECK_TOP("A: 1\n\nx\ny\n", 1, "A: 1\r\n\r\nx\r\n.\r\n");
	/* A header line holding only a CR is not the blank line. */
	CHECK_TOP("A: 1\r\n\r\r\n\r\nx\r\n", 0, "A: 1\r\n\r\r\n\r\n.\r\n");
	/* Body without final CRLF, limit not reached. */
	CHECK_TOP("A: 1\r\n\r\nx", 3, "A: 1\r\n\r\nx\r\n.\r\n");
}

/* Random messages over a small alphabet rich in dots and line ends:
 * chunked output equals whole-buffer output, and the result is a valid
 * multi-line body (no bare LF, no unstuffed line starting with ".",
 * ends in CRLF.CRLF). */
TEST(random_chunkings)
{
	static const char alphabet[] = "..\r\n\na";
	srand(1234);
	for (int iter = 0; iter < 300; iter++) {
		char in[200];
		size_t len = (size_t)(rand() % (int)sizeof(in));
		for (size_t i = 0; i < len; i++)
			in[i] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		struct buf whole;
		run(in, len, 0, false, 0, &whole);
		for (size_t chunk = 1; chunk < 8; chunk++) {
			struct buf part;
			run(in, len, chunk, false, 0, &part);
			CHECK_MEMEQ(part.data, part.len, whole.data, whole.len);
			buf_free(&part);
		}
		CHECK(whole.len >= 3 && memcmp(whole.data + whole.len - 3, ".\r\n", 3) == 0);
		CHECK(whole.len == 3 || (whole.len >= 5 && whole.data[whole.len - 5] == '\r' &&
					 whole.data[whole.len - 4] == '\n'));
		for (size_t i = 0; i < whole.len; i++) {
			if (whole.data[i] == '\n')
				CHECK(i > 0 && whole.data[i - 1] == '\r');
		}
		/* Un-stuff: every line before the final "." that starts with
		 * a dot must start with two. */
		size_t line_start = 0;
		for (size_t i = 0; i + 3 < whole.len; i++) {
			if (i == line_start && whole.data[i] == '.')
				CHECK(whole.data[i + 1] == '.');
			if (whole.data[i] == '\n')
				line_start = i + 1;
		}
		buf_free(&whole);
	}
}

/* RETR's streaming: each chunk goes through pop3_stuffer_pass() if it
 * can (the caller then sends the input bytes themselves) and through
 * pop3_stuffer_feed() if not. The result must equal feeding everything. */
static void run_pass(const char *in, size_t len, size_t chunk, struct buf *out, size_t *passed_r)
{
	struct pop3_stuffer st;
	pop3_stuffer_init(&st);
	buf_init(out, 0);
	*passed_r = 0;
	for (size_t off = 0; off < len;) {
		size_t n = len - off < chunk ? len - off : chunk;
		if (pop3_stuffer_pass(&st, in + off, n)) {
			CHECK(buf_append(out, in + off, n) == 1);
			*passed_r += n;
		} else {
			CHECK(pop3_stuffer_feed(&st, in + off, n, out) == 1);
		}
		off += n;
	}
	CHECK(pop3_stuffer_finish(&st, out) == 1);
}

static void check_pass(const char *in, size_t len, bool expect_all_passed)
{
	static const size_t chunks[] = { 1, 2, 3, 5, 7, 16, 64, 65536 };
	struct buf whole;
	run(in, len, 0, false, 0, &whole);
	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		struct buf out;
		size_t passed;
		run_pass(in, len, chunks[k], &out, &passed);
		CHECK_MEMEQ(out.data, out.len, whole.data, whole.len);
		if (expect_all_passed)
			CHECK(passed == len);
		buf_free(&out);
	}
	buf_free(&whole);
}

#define CHECK_PASS(in, all) check_pass(in, sizeof(in) - 1, all)

TEST(pass_clean_messages)
{
	CHECK_PASS("Subject: a\r\n\r\nbody . with dots.\r\nand more..\r\n", true);
	CHECK_PASS("Subject: a\r\n\r\nno final line end", true);
	CHECK_PASS("Subject: a\r\n\r\nends in a bare CR\r", true);
	CHECK_PASS("x", true);
	CHECK_PASS("\r\n", true);
	CHECK_PASS("bare\rCR inside\r\n", true);
}

TEST(pass_refuses_what_needs_stuffing)
{
	struct pop3_stuffer st;
	pop3_stuffer_init(&st);
	CHECK(!pop3_stuffer_pass(&st, ".leading dot\r\n", sizeof(".leading dot\r\n") - 1));
	CHECK(pop3_stuffer_pass(&st, "a\r\n", sizeof("a\r\n") - 1));
	CHECK(!pop3_stuffer_pass(&st, ".", sizeof(".") - 1)); /* after an LF: a line start */
	CHECK(!pop3_stuffer_pass(&st, "b\r\n.c\r\n", sizeof("b\r\n.c\r\n") - 1));
	CHECK(!pop3_stuffer_pass(&st, "bare\nLF", sizeof("bare\nLF") - 1));
	CHECK(pop3_stuffer_pass(&st, "c\r", sizeof("c\r") - 1));
	CHECK(pop3_stuffer_pass(&st, "\nd", sizeof("\nd") - 1)); /* CR in the previous chunk */
	CHECK(!pop3_stuffer_pass(&st, "\n", sizeof("\n") - 1)); /* "d" then a bare LF */
	struct pop3_stuffer top;
	pop3_stuffer_init_top(&top, 5);
	CHECK(!pop3_stuffer_pass(&top, "a\r\n", sizeof("a\r\n") - 1));

	CHECK_PASS(".\r\n..\r\n.leading\r\n", false);
	CHECK_PASS("a\r\n.b\r\nc\nd\r\n.", false);
	CHECK_PASS("bare LF only\n", false);
}

/* One defect (a bare LF, or a dot starting a line) at every position of
 * clean CRLF lines: pass refuses the chunk wherever it is, at every
 * alignment of the 16-byte scan, and accepts the clean text around it. */
TEST(pass_finds_a_defect_anywhere)
{
	char clean[100];
	for (size_t i = 0; i < sizeof(clean); i++)
		clean[i] = (i % 10 == 8) ? '\r' : (i % 10 == 9) ? '\n' : (char)('a' + i % 7);
	for (size_t start = 0; start < 10; start++) {
		struct pop3_stuffer st;
		pop3_stuffer_init(&st);
		/* As if clean[0..start) had been passed before. */
		st.at_line_start = start == 0 || clean[start - 1] == '\n';
		st.prev_cr = start > 0 && clean[start - 1] == '\r';
		CHECK(pop3_stuffer_pass(&st, clean + start, sizeof(clean) - start));
	}
	for (size_t pos = 0; pos < sizeof(clean); pos++) {
		char in[sizeof(clean)];
		memcpy(in, clean, sizeof(in));
		bool bare_lf = clean[pos] != '\n' && pos % 10 != 8;
		if (bare_lf)
			in[pos] = '\n'; /* the byte before it is not a CR */
		else if (pos + 1 < sizeof(in) && clean[pos] == '\n')
			in[pos + 1] = '.';
		else
			continue;
		struct pop3_stuffer st;
		pop3_stuffer_init(&st);
		CHECK(!pop3_stuffer_pass(&st, in, sizeof(in)));
		check_pass(in, sizeof(in), false);
	}
}

/* Random inputs over an alphabet rich in dots and line ends, and mostly
 * clean ones (CRLF lines, rare dots at line starts): passing what can be
 * passed gives the bytes of the byte-wise stuffer, at every chunking. */
TEST(pass_random_equals_feed)
{
	static const char alphabet[] = "..\r\n\na";
	srand(4321);
	for (int iter = 0; iter < 400; iter++) {
		char in[300];
		size_t len = (size_t)(rand() % (int)sizeof(in));
		if (iter % 2 == 0) {
			for (size_t i = 0; i < len; i++)
				in[i] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		} else {
			for (size_t i = 0; i < len; i++) {
				int r = rand() % 20;
				if (r == 0 && i + 1 < len) {
					in[i++] = '\r';
					in[i] = '\n';
				} else {
					bool dot = r == 1 && i > 0 && in[i - 1] == '\n' &&
						   rand() % 8 == 0;
					in[i] = dot ? '.' : (char)('a' + r);
				}
			}
		}
		check_pass(in, len, false);
	}
}

UNIT_MAIN()
