/* fuzz-pop3.c - libFuzzer target for the POP3 command parser and the
 * dot-stuffing stream.
 *
 * The input is split at LF into command lines, each parsed; the parsed
 * views must lie inside the line. The whole input is also run through
 * the stuffer in two chunkings, and in a third with RETR's fast path
 * (pop3_stuffer_pass), which must give identical output that ends in
 * ".\r\n" and contains no bare LF. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "pop3/pop3-parser.h"
#include "pop3/pop3-stuff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_view(struct str line, struct str v)
{
	if (v.len == 0)
		return;
	if (v.p < line.p || v.p + v.len > line.p + line.len)
		abort();
}

/* With `pass`, chunks that pop3_stuffer_pass() accepts are copied as
 * they are (what RETR sends by file segment or copy); the output must not
 * differ from the byte-wise stuffer's. */
static void stuff(const uint8_t *data, size_t size, size_t chunk, bool top, bool pass,
		  struct buf *out)
{
	struct pop3_stuffer st;
	if (top)
		pop3_stuffer_init_top(&st, size % 5);
	else
		pop3_stuffer_init(&st);
	for (size_t off = 0; off < size && !pop3_stuffer_done(&st); off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		const char *in = (const char *)data + off;
		if (pass && pop3_stuffer_pass(&st, in, n)) {
			if (buf_append(out, in, n) < 0)
				abort();
			continue;
		}
		if (pop3_stuffer_feed(&st, in, n, out) < 0)
			abort();
	}
	if (pop3_stuffer_finish(&st, out) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t start = 0;
	for (size_t i = 0; i <= size; i++) {
		if (i < size && data[i] != '\n')
			continue;
		size_t end = i;
		if (end > start && data[end - 1] == '\r')
			end--;
		if (end - start <= POP3_MAX_LINE) {
			struct str line = str_make((const char *)data + start, end - start);
			struct pop3_command cmd;
			const char *err = NULL;
			int ret = pop3_parse_command(line, &cmd, &err);
			if (ret == 1) {
				check_view(line, cmd.arg);
				check_view(line, cmd.initial_response);
				if ((unsigned)cmd.cmd >= POP3_CMD_COUNT_)
					abort();
			} else if (ret != -1 || err == NULL) {
				abort();
			}
		}
		start = i + 1;
	}

	for (int top = 0; top < 2; top++) {
		struct buf a = BUF_INIT(0), b = BUF_INIT(0), c = BUF_INIT(0);
		stuff(data, size, size ? size : 1, top, false, &a);
		stuff(data, size, 1 + size % 7, top, false, &b);
		stuff(data, size, 1 + size % 29, top, true, &c);
		if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
			abort();
		if (a.len != c.len || memcmp(a.data, c.data, a.len) != 0)
			abort();
		if (a.len < 3 || memcmp(a.data + a.len - 3, ".\r\n", 3) != 0)
			abort();
		for (size_t i = 0; i < a.len; i++)
			if (a.data[i] == '\n' && (i == 0 || a.data[i - 1] != '\r'))
				abort();
		buf_free(&a);
		buf_free(&b);
		buf_free(&c);
	}
	return 0;
}
