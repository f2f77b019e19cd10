/* mbox.h - reading and writing mbox files, without I/O.
 *
 * The parser splits an mbox stream into messages. It is fed bytes and
 * hands back items one at a time, keeping its progress in the struct, so
 * a file read in chunks of any size (down to one byte) parses the same:
 *
 *   MBOX_ITEM_BEGIN  a "From " separator line starts a message (the line,
 *                    without its line end, is in `text`);
 *   MBOX_ITEM_DATA   content of the current message, unescaped;
 *   MBOX_ITEM_END    the current message is complete.
 *
 * Format (the mboxrd/mboxo family, as written by mutt, Thunderbird,
 * Dovecot, Postfix's local(8), Google Takeout):
 *  - A message starts with a line beginning "From " at the start of the
 *    file or after an empty line. Requiring the empty line keeps an
 *    unescaped "From " inside a body (mboxo writers leave some) from
 *    splitting the message.
 *  - The empty line before a separator (and at the very end of the file)
 *    belongs to the separator, not to the message.
 *  - mboxrd unescaping: a line ">From ", ">>From ", ... loses one '>'.
 *    (For mboxo files this also turns a body line that was ">From " in
 *    the original into "From "; mboxo cannot tell the two apart.)
 *  - Line ends are passed through (LF or CRLF); the store normalises.
 *  - Bytes before the first separator are not a message: they are
 *    skipped and counted in `junk_bytes`.
 *
 * Return convention: mbox_parser_feed returns 1 with an item, 0 when all
 * input was consumed without one. At the end of the input call
 * mbox_parser_finish until it returns 0. */
#ifndef ROOST_CLI_MBOX_H
#define ROOST_CLI_MBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/str.h"

/* The "From " line is kept up to this many bytes for its date; the rest
 * of a longer line is dropped. */
#define MBOX_FROM_LINE_MAX 1024
/* Bytes held at a line start to decide whether it is ">*From ". */
#define MBOX_PREFIX_MAX 64

enum mbox_item_type { MBOX_ITEM_BEGIN, MBOX_ITEM_DATA, MBOX_ITEM_END };

struct mbox_item {
	enum mbox_item_type type;
	struct str text; /* valid until the next call */
};

enum mbox_state {
	MBOX_LINE_START, /* collecting a line's first bytes in prefix[] */
	MBOX_MID,        /* inside a content line: pass bytes through */
	MBOX_FROM_LINE,  /* inside a separator line */
};

struct mbox_parser {
	enum mbox_state state;
	bool in_message;
	bool after_blank;      /* the previous line was empty (or start of file) */
	bool pending_blank;    /* an empty line is held back (separator or content?) */
	bool pending_end;      /* END must be returned before BEGIN */
	bool begin_ready;      /* the separator line is complete: return BEGIN */
	bool flush_prefix;     /* prefix[] must be returned as DATA */
	bool flush_blank;      /* the held empty line must be returned as DATA */
	size_t blank_len;
	size_t blank_flush_len;
	size_t prefix_len;
	size_t prefix_skip;    /* bytes of prefix[] not to return (an unescaped '>') */
	char prefix[MBOX_PREFIX_MAX];
	size_t from_len;
	char from_line[MBOX_FROM_LINE_MAX];
	uint64_t junk_bytes;
	uint64_t messages;
};

void mbox_parser_init(struct mbox_parser *p);
int mbox_parser_feed(struct mbox_parser *p, const char *in, size_t len, size_t *used_r,
		     struct mbox_item *item_r);
/* End of input: returns 1 with items still due (the rest of a last line
 * without a line end, the final END), then 0. */
int mbox_parser_finish(struct mbox_parser *p, struct mbox_item *item_r);

/* The date of a "From sender date" line ("From a@b Thu Nov 26 13:40:43
 * 2026", with an optional zone such as "+0800" or "UTC" before or after
 * the year). Returns 1 with seconds since the epoch and the zone offset
 * in minutes (0 when none was given: the time is taken as UTC), or -1. */
int mbox_from_line_date(struct str line, int64_t *time_r, int *tz_minutes_r);

/* Formats a separator line "From <sender> <asctime in UTC>" (no line end)
 * into out (cap >= 64 + strlen(sender)). Returns the length. */
size_t mbox_from_line_format(const char *sender, int64_t t, char *out, size_t cap);

/* Status: and X-Status: header values into store flag bits (Status: R
 * \Seen; X-Status: A \Answered, F \Flagged, T \Draft, D \Deleted). */
uint8_t mbox_status_flags(struct str status, struct str x_status);

#endif
