/* pop3-stuff.c - see pop3-stuff.h. */
#include "pop3-stuff.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
		/* Not at a line start, everything up to the next LF is copied
		 * as it is (memchr is vectorised; most lines are 70-80
		 * bytes). The state afterwards is what the byte-wise code
		 * below would leave: prev_cr if the run ends in a CR, and the
		 * line stays "empty" only if the run is one CR not preceded by
		 * another. */
		if (!st->at_line_start) {
			const char *lf = memchr(in + i, '\n', len - i);
			size_t j = lf != NULL ? (size_t)(lf - in) : len;
			if (j > i) {
				size_t n = j - i;
				memcpy(o, in + i, n);
				o += n;
				if (n != 1 || in[i] != '\r' || st->prev_cr)
					st->line_empty = false;
				st->prev_cr = in[j - 1] == '\r';
				i = j;
				if (i == len)
					break;
			}
		}
		char ch = in[i++];
		if (ch == '\n' && st->prev_cr) {
			/* The usual CRLF: the CR was emitted with its run. */
			*o++ = '\n';
			st->prev_cr = false;
			line_ended(st);
			continue;
		}
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

/* True if no LF in in[from, to) needs stuffing: each follows a CR and
 * is not followed by a dot. in[from - 1] and in[to] must be readable
 * (from >= 1, to < len): the caller checks the first and last bytes. */
static bool lines_clean(const char *in, size_t from, size_t to)
{
	size_t i = from;
#if defined(__SSE2__)
	/* 16 positions at a time: an LF whose previous byte is not a CR,
	 * or whose next byte is a dot. Three unaligned loads of the same
	 * bytes shifted by one are cheaper than one memchr call per line. */
	const __m128i v_lf = _mm_set1_epi8('\n');
	const __m128i v_cr = _mm_set1_epi8('\r');
	const __m128i v_dot = _mm_set1_epi8('.');
	for (; i + 16 <= to; i += 16) {
		__m128i cur = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
		__m128i prev = _mm_loadu_si128((const __m128i *)(const void *)(in + i - 1));
		__m128i next = _mm_loadu_si128((const __m128i *)(const void *)(in + i + 1));
		__m128i lf = _mm_cmpeq_epi8(cur, v_lf);
		__m128i bad = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(prev, v_cr), lf),
					   _mm_and_si128(_mm_cmpeq_epi8(next, v_dot), lf));
		if (_mm_movemask_epi8(bad) != 0)
			return false;
	}
#endif
	const char *p = in + i;
	const char *end = in + to;
	const char *lf;
	while (p < end && (lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (lf[-1] != '\r' || lf[1] == '.')
			return false;
		p = lf + 1;
	}
	return true;
}

bool pop3_stuffer_pass(struct pop3_stuffer *st, const char *in, size_t len)
{
	if (st->limit_lines || st->done)
		return false;
	if (len == 0)
		return true;
	if (st->at_line_start && in[0] == '.')
		return false;
	/* Every LF must follow a CR (in this chunk, or the last byte of the
	 * previous one) and must not be followed by a dot. An LF at the very
	 * end leaves the dot check to the next chunk, through at_line_start. */
	if (in[0] == '\n' && (!st->prev_cr || (len > 1 && in[1] == '.')))
		return false;
	if (len > 1 && in[len - 1] == '\n' && in[len - 2] != '\r')
		return false;
	if (len > 2 && !lines_clean(in, 1, len - 1))
		return false;
	st->at_line_start = in[len - 1] == '\n';
	st->prev_cr = in[len - 1] == '\r';
	return true;
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
