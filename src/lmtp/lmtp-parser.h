/* lmtp-parser.h - LMTP input into command lines and message data, without I/O.
 *
 * The session feeds every byte it reads from the connection to one
 * `struct lmtp_parser` and gets back items, one at a time:
 *
 *   LMTP_ITEM_LINE      a complete command line (CRLF or LF removed), or
 *                       the news that one was too long (it was discarded);
 *   LMTP_ITEM_DATA      a piece of message content, already dot-unstuffed
 *                       and with line ends normalised to CRLF;
 *   LMTP_ITEM_DATA_END  the "." line that ends DATA was seen;
 *   LMTP_ITEM_CHUNK_END the last byte of a BDAT chunk (RFC 3030) was read.
 *
 * After a LINE the session decides what the command means; if it is an
 * accepted DATA it calls lmtp_parser_begin_data() before feeding further
 * bytes, so pipelined commands after the end of the message are parsed as
 * commands again. Its progress lives in the struct, so input split at any
 * byte (one byte per read) parses exactly like input that arrives at once.
 *
 * CHUNKING (RFC 3030): after an accepted "BDAT <size>" the session calls
 * lmtp_parser_begin_chunk(); the next <size> bytes are message content,
 * taken as they are (no dot-unstuffing) except that a bare LF is stored
 * as CRLF as in DATA, then LMTP_ITEM_CHUNK_END is returned. A chunk that
 * the session refuses must still be read (the client sends it anyway):
 * the session then drops the DATA items. lmtp_parser_message_begin()
 * starts the statistics of a new message (DATA does it itself).
 *
 * Limits. RFC 5321 4.5.3.1.4: a command line is at most 512 octets with
 * its CRLF; longer lines are discarded up to their LF and reported with
 * `too_long` so the session answers "500 5.5.2" and goes on. Text lines
 * in DATA are not limited here (RFC 5321 4.5.3.1: "implementation
 * techniques that impose no limits ... should be used"; the content is
 * streamed, so a long line costs nothing); the longest one is recorded so
 * the session can apply a policy.
 *
 * Line ends in DATA (documented in docs/delivery.md). The stored message
 * always uses CRLF, which IMAP requires: a bare LF is stored as CRLF (MTAs
 * such as Exim and sendmail on a pipe pass LF-only text), a CR not followed
 * by LF is kept as it is. ".\n" ends DATA as ".\r\n" does. NUL bytes are
 * passed through and counted in `nul_bytes`: the session rejects such a
 * message (RFC 2045 2.7/2.8: neither 7bit nor 8bit data contain NUL).
 *
 * Return convention: lmtp_parser_feed returns 1 with an item, 0 when all
 * input was used without completing an item (need more). It never fails:
 * everything odd is reported inside the items. */
#ifndef ROOST_LMTP_PARSER_H
#define ROOST_LMTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/str.h"

/* RFC 5321 4.5.3.1.4, including the CRLF. */
#define LMTP_MAX_COMMAND_LINE 512
/* RFC 5321 4.5.3.1.3: a reverse-path or forward-path, with its <>. */
#define LMTP_MAX_PATH 256

enum lmtp_item_type {
	LMTP_ITEM_LINE,
	LMTP_ITEM_DATA,
	LMTP_ITEM_DATA_END,
	LMTP_ITEM_CHUNK_END,
};

struct lmtp_item {
	enum lmtp_item_type type;
	/* LINE: the line without its line end (valid until the next feed);
	 * empty when too_long. DATA: the bytes to store (valid until the
	 * next feed; may point into the input or into static memory). */
	struct str text;
	bool too_long;
};

enum lmtp_data_state {
	LMTP_DS_LINE_START, /* at the start of a text line */
	LMTP_DS_DOT,        /* a '.' at line start, not yet known to be stuffing */
	LMTP_DS_DOT_CR,     /* ".\r" at line start: the end if LF follows */
	LMTP_DS_MID,        /* inside a line */
	LMTP_DS_MID_CR,     /* inside a line, the last byte stored was CR */
};

struct lmtp_parser {
	bool in_data;
	bool in_chunk;
	uint64_t chunk_left;      /* bytes of the current BDAT chunk still to come */
	bool chunk_prev_cr;       /* the last chunk byte stored was CR */

	/* command mode */
	size_t line_len;
	bool line_overflow;
	char line[LMTP_MAX_COMMAND_LINE];

	/* data mode: statistics of the current message */
	enum lmtp_data_state data_state;
	uint64_t data_size;       /* bytes emitted as DATA items */
	uint64_t cur_line_len;    /* bytes of the current text line, no CRLF */
	uint64_t max_line_len;    /* longest text line seen, without CRLF */
	uint64_t nul_bytes;
	uint64_t bare_lf;         /* LFs without CR, stored as CRLF */
};

void lmtp_parser_init(struct lmtp_parser *p);
/* Forget a partial command line (after STARTTLS, RFC 3207 4.2). */
void lmtp_parser_reset(struct lmtp_parser *p);
/* Switch to message content; the statistics start from zero. */
void lmtp_parser_begin_data(struct lmtp_parser *p);
/* Statistics of a new message start from zero (before its first BDAT). */
void lmtp_parser_message_begin(struct lmtp_parser *p);
/* The next `size` bytes are a BDAT chunk. */
void lmtp_parser_begin_chunk(struct lmtp_parser *p, uint64_t size);
/* True when lmtp_parser_feed would return an item without any input (a
 * chunk whose bytes have all been read, or "BDAT 0"). */
bool lmtp_parser_pending(const struct lmtp_parser *p);

/* Consume input from `in` (len bytes), setting *used_r to the number of
 * bytes consumed. Returns 1 with *item_r when an item is complete (the
 * rest of the input is for later calls), 0 when all len bytes were
 * consumed without completing one. */
int lmtp_parser_feed(struct lmtp_parser *p, const char *in, size_t len, size_t *used_r,
		     struct lmtp_item *item_r);

/* ------------------------------------------------------------------ */
/* Commands: pure functions of one line. */

enum lmtp_verb {
	LMTP_VERB_UNKNOWN,
	LMTP_VERB_LHLO,
	LMTP_VERB_HELO, /* HELO and EHLO are SMTP's, refused in LMTP */
	LMTP_VERB_EHLO,
	LMTP_VERB_MAIL,
	LMTP_VERB_RCPT,
	LMTP_VERB_DATA,
	LMTP_VERB_RSET,
	LMTP_VERB_NOOP,
	LMTP_VERB_QUIT,
	LMTP_VERB_VRFY,
	LMTP_VERB_STARTTLS,
	LMTP_VERB_HELP,
	LMTP_VERB_BDAT,
};

struct lmtp_command {
	enum lmtp_verb verb;
	struct str name; /* the verb as sent */
	struct str args; /* after the verb and one space; may be empty */
};

/* Split a line into verb and arguments. Returns 1, or -1 when the line is
 * not a command at all (empty, control characters, NUL). An unknown verb
 * gives 1 with LMTP_VERB_UNKNOWN. */
int lmtp_command_parse(struct str line, struct lmtp_command *cmd_r);

/* MAIL and RCPT parameters (RFC 5321 4.1.2 esmtp-param). */
#define LMTP_MAX_PARAMS 8
struct lmtp_param {
	struct str keyword;
	struct str value; /* empty when the parameter has no "=" */
	bool has_value;
};

struct lmtp_path {
	/* The mailbox between < and >, source route removed: "" for the null
	 * reverse-path <>, "Postmaster" for RCPT TO:<Postmaster>. Points into
	 * the line. */
	struct str address;
	struct lmtp_param params[LMTP_MAX_PARAMS];
	unsigned n_params;
};

/* Parse the arguments of MAIL ("FROM:<path> params") or RCPT ("TO:<path>
 * params"). A space after the colon is tolerated (common in practice).
 * Returns 1, or -1 with *error_r a static reply text for "501 5.5.4 ...".
 * The address is checked for shape only (RFC 5321 4.1.2 Mailbox: a local
 * part (dot-string or quoted-string) "@" a domain or address literal; the
 * null path only for MAIL; a bare "postmaster" only for RCPT). */
int lmtp_path_parse(struct str args, bool is_mail, struct lmtp_path *path_r,
		    const char **error_r);

/* "BDAT <chunk-size> [LAST]" arguments (RFC 3030 2). Returns 1, or -1
 * when they are malformed (the chunk's length is then unknown). */
int lmtp_bdat_parse(struct str args, uint64_t *size_r, bool *last_r);

#endif
