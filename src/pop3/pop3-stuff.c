/* pop3-stuff.c - see pop3-stuff.h. */
#include "pop3-stuff.h"

#include <string.h>

void pop3_stuffer_init(struct pop3_stuffer *st)
{
	memset(st, 0, sizeof(*st));
	st->at_line_start = true;
	st->line_empty = true;
	st->in_header = true;
}

void pop3_stuffer_init_top(struct pop3_stuffer *st, uint32_t body_lines)
{
	pop3_stuffer_init(st);
	st->limit_lines = true;
	st->lines_left = body_lines;
}

bool pop3_stuffer_done(const struct pop3_stuffer *st)
{
	return st->done;
}

/* A line just ended (its LF was emitted): account for TOP's limit. */
static void line_ended(struct pop3_stuffer *st)
{
	if (st->in_header) {
		/* RFC 5322 2.1: the header ends at the first empty line. */
		if (st->line_empty) {
			st->in_header = false;
			if (st->limit_lines && st->lines_left == 0)
				st->done = true;
		}
	} else if (st->limit_lines) {
		if (st->lines_left > 0)
			st->lines_left--;
		if (st->lines_left == 0)
			st->done = true;
	}
	st->at_line_start = true;
	st->line_empty = true;
}

int pop3_stuffer_feed(struct pop3_stuffer *st, const char *in, size_t len, struct buf *out)
{
	if (st->done || len == 0)
		return 1;
	/* Worst case: every byte is "." at a line start (2 bytes) or a bare
	 * LF (2 bytes). Reserving once keeps the loop free of checks. */
	if (len > (SIZE_MAX - 2) / 2 || buf_reserve(out, 2 * len + 2) < 0)
		return -1;
	char *o = out->data + out->len;
	size_t i = 0;

	while (i < len && !st->done) {
		/* Copy a run of ordinary bytes quickly: up to the next CR or
		 * LF, when not at a line start. */
		if (!st->at_line_start) {
			size_t j = i;
			while (j < len && in[j] != '\n' && in[j] != '\r')
				j++;
			if (j > i) {
				memcpy(o, in + i, j - i);
				o += j - i;
				st->line_empty = false;
				st->prev_cr = false;
				i = j;
				continue;
			}
		}
		char ch = in[i++];
		if (st->at_line_start) {
			st->at_line_start = false;
			/* RFC 1939 3: "If any line begins with the termination
			 * octet, the line is 'byte-stuffed' by pre-pending the
			 * termination octet to that line of the response." */
			if (ch == '.')
				*o++ = '.';
		}
		if (ch == '\n') {
			if (!st->prev_cr)
				*o++ = '\r';
			*o++ = '\n';
			st->prev_cr = false;
			line_ended(st);
			continue;
		}
		*o++ = ch;
		if (ch == '\r') {
			/* A CR may end the line (if LF follows) and does not
			 * make it non-empty by itself; a CR that turns out to
			 * be bare is ordinary content. */
			if (st->prev_cr)
				st->line_empty = false;
			st->prev_cr = true;
		} else {
			st->prev_cr = false;
			st->line_empty = false;
		}
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 1;
}

int pop3_stuffer_finish(struct pop3_stuffer *st, struct buf *out)
{
	if (!st->at_line_start && !st->done) {
		/* An unterminated last line (possibly ending in a CR). */
		if (st->prev_cr) {
			if (buf_append_char(out, '\n') < 0)
				return -1;
		} else if (buf_append(out, "\r\n", 2) < 0) {
			return -1;
		}
		st->at_line_start = true;
	}
	return buf_append(out, ".\r\n", 3) < 0 ? -1 : 1;
}
