/* pop3-stuff.h - a stored message into a POP3 multi-line response body.
 *
 * RFC 1939 3: every line of a multi-line response ends in CRLF; a line
 * that begins with "." gets one more "." in front ("byte-stuffing"); the
 * response ends with a line holding only ".". The stuffer is a byte-level
 * state machine without I/O: RETR and TOP feed the message file to it in
 * chunks of any size (down to one byte) and get the same output, so a
 * message of any size streams through a fixed-size buffer.
 *
 * Stored messages have CRLF line ends (the store normalises at delivery),
 * so the output is the file plus stuffing. Should a bare LF appear anyway,
 * a CR is put before it: a POP3 client must never see a bare LF. A file
 * that does not end in CRLF gets one before the terminating ".".
 *
 * TOP (RFC 1939 7): the header, the blank line after it, then at most
 * `body_lines` lines of the body. */
#ifndef ROOST_POP3_STUFF_H
#define ROOST_POP3_STUFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct pop3_stuffer {
	bool at_line_start;  /* the next input byte begins a line */
	bool prev_cr;        /* the last input byte was a CR */
	bool line_empty;     /* no byte but a CR seen on the current line */
	bool in_header;      /* TOP: before the blank line ending the header */
	bool limit_lines;    /* TOP */
	bool done;           /* TOP: limit reached; further input is ignored */
	uint32_t lines_left; /* TOP: body lines still to send */
};

/* RETR: the whole message. */
void pop3_stuffer_init(struct pop3_stuffer *st);
/* TOP: header, blank line, body_lines lines of the body. */
void pop3_stuffer_init_top(struct pop3_stuffer *st, uint32_t body_lines);

/* Appends the stuffed form of in[0..len) to out. The output is at most
 * 2 * len + 2 bytes larger than out was (a caller sizing `out` can rely on
 * that). Returns 1, or -1 if out could not grow (out unchanged beyond what
 * was already appended). After it returns, pop3_stuffer_done() tells
 * whether TOP's limit was reached (stop reading the file then). */
int pop3_stuffer_feed(struct pop3_stuffer *st, const char *in, size_t len, struct buf *out);
bool pop3_stuffer_done(const struct pop3_stuffer *st);

/* RETR's fast path: if in[0..len) would come out of pop3_stuffer_feed()
 * unchanged (no line in it begins with ".", every LF in it follows a CR,
 * counting the last byte of the previous chunk), advances the state past
 * it as feeding it would (the fields that matter without TOP's limit)
 * and returns true: the caller may then
 * send the input bytes themselves (or the file range they came from).
 * Otherwise returns false and changes nothing; feed the chunk then.
 * Always false for TOP (its line counting needs the byte-wise path). */
bool pop3_stuffer_pass(struct pop3_stuffer *st, const char *in, size_t len);

/* At the end of the message: a CRLF if the last line is unterminated,
 * then ".\r\n". Returns 1 or -1 (out of memory). */
int pop3_stuffer_finish(struct pop3_stuffer *st, struct buf *out);

#endif
