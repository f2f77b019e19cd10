/* fuzz-imap-parser.c - the IMAP command parser and modified UTF-7.
 *
 * The input is parsed twice, once in one piece and once one byte at a
 * time, with literals collected, streamed or rejected as the input's first
 * byte chooses; the two transcripts of events must be identical (the
 * parser's core promise). Then the input is run through modified UTF-7
 * decoding, and whatever decodes must re-encode and decode to the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-parser.h"
#include "imap/imap-utf7.h"
#include "lib/pool.h"

static void dump_args(struct buf *out, const struct imap_arg *a, unsigned depth)
{
	for (; a->type != IMAP_ARG_EOL; a++) {
		buf_printf(out, " %d:", (int)a->type);
		if (a->type == IMAP_ARG_LIST) {
			if (depth > IMAP_PARSER_MAX_DEPTH + 1)
				abort();
			buf_append_char(out, '(');
			dump_args(out, a->list, depth + 1);
			buf_append_char(out, ')');
		} else {
			buf_append(out, a->str.p, a->str.len);
			buf_printf(out, "/%llu", (unsigned long long)a->literal_size);
		}
	}
}

static void run(const uint8_t *data, size_t len, size_t chunk, unsigned policy, struct buf *out)
{
	struct pool *pool = pool_new(1024);
	struct imap_parser p;
	struct imap_parser_limits lim = { 512, 4096 };
	if (pool == NULL || imap_parser_init(&p, pool, &lim) < 0)
		abort();
	size_t pos = 0;
	uint64_t stream_left = 0;
	unsigned lit_no = 0;
	while (pos < len) {
		size_t n = chunk == 0 ? len - pos : chunk;
		if (n > len - pos)
			n = len - pos;
		if (stream_left > 0) {
			size_t take = n < stream_left ? n : (size_t)stream_left;
			stream_left -= take;
			pos += take;
			if (stream_left == 0)
				imap_parser_literal_streamed(&p);
			continue;
		}
		size_t used = 0;
		enum imap_parse_result r = imap_parser_feed(&p, data + pos, n, &used);
		if (used > n)
			abort();
		pos += used;
		switch (r) {
		case IMAP_PARSE_MORE:
			if (used != n)
				abort();
			break;
		case IMAP_PARSE_DONE:
			buf_printf(out, "D %s %s", imap_parser_tag(&p), imap_parser_command(&p));
			dump_args(out, imap_parser_args(&p), 0);
			buf_append_char(out, '\n');
			imap_parser_next(&p);
			pool_clear(pool);
			break;
		case IMAP_PARSE_ERROR:
			buf_printf(out, "E %s %s\n", imap_parser_tag(&p), imap_parser_error(&p));
			imap_parser_next(&p);
			pool_clear(pool);
			break;
		case IMAP_PARSE_LITERAL: {
			const struct imap_parser_literal *l = imap_parser_literal(&p);
			unsigned choice = (policy >> (lit_no++ % 8)) & 3;
			buf_printf(out, "L %llu %u\n", (unsigned long long)l->size, choice);
			if (choice == 0 && l->size <= 4096) {
				imap_parser_literal_collect(&p);
			} else if (choice == 1) {
				imap_parser_literal_stream(&p);
				stream_left = l->size;
				if (stream_left == 0)
					imap_parser_literal_streamed(&p);
			} else {
				if (choice == 2 && imap_parser_partial_args(&p) == NULL)
					abort();
				imap_parser_literal_reject(&p);
				imap_parser_next(&p);
				pool_clear(pool);
			}
			break;
		}
		}
	}
	buf_printf(out, "idle=%d\n", imap_parser_idle(&p));
	imap_parser_deinit(&p);
	pool_free(&pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned policy = data[0] * 0x01010101u;
	struct buf a = BUF_INIT(0), b = BUF_INIT(0);
	run(data + 1, size - 1, 0, policy, &a);
	run(data + 1, size - 1, 1, policy, &b);
	if (a.len != b.len || memcmp(buf_cstr(&a), buf_cstr(&b), a.len) != 0)
		abort();
	buf_free(&a);
	buf_free(&b);

	struct buf u8 = BUF_INIT(0), u7 = BUF_INIT(0), again = BUF_INIT(0);
	if (mutf7_decode(str_make((const char *)data + 1, size - 1), 0, &u8) > 0) {
		if (mutf7_encode(buf_str(&u8), &u7) < 0)
			abort();
		if (mutf7_decode(buf_str(&u7), 0, &again) < 0)
			abort();
		if (again.len != u8.len || memcmp(buf_cstr(&again), buf_cstr(&u8), u8.len) != 0)
			abort();
	}
	buf_free(&u8);
	buf_free(&u7);
	buf_free(&again);
	return 0;
}
