/* imap-parser.h - resumable IMAP command parser (RFC 9051 9, RFC 3501 9).
 *
 * The parser does no I/O. The session feeds it whatever bytes arrived and
 * gets back an event; all progress lives in struct imap_parser, so a
 * command split over many reads - or arriving one byte at a time - parses
 * exactly the same.
 *
 * One command is: tag SP command-name [SP arguments] CRLF. Arguments are
 * atoms, quoted strings, literals ({n}, {n+} and literal8 ~{n}), NIL and
 * parenthesised lists. An atom may contain a "[...]" section in which
 * spaces and parentheses are part of the atom, so FETCH items such as
 * BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> are one atom. Since a header
 * field name is an astring (RFC 9051 9), an element of a list inside the
 * section may also be a quoted string, kept in the atom as written, or a
 * literal, which the parser turns into a quoted string in the atom:
 * BODY[HEADER.FIELDS ({3}\r\nX-A "B")] is the atom
 * BODY[HEADER.FIELDS ("X-A" "B")]. Such a literal may not hold CR, LF or
 * NUL (no field name can).
 *
 * Literals are the one place where the session must decide something: when
 * the parser has read a literal's header ("{5}\r\n") it stops with
 * IMAP_PARSE_LITERAL. The session checks the size against its limits and
 * then either
 *   - imap_parser_literal_collect(): the parser stores the bytes in the
 *     argument (the session sends "+ " first for a synchronizing literal);
 *     (A literal inside an atom's section, literal->in_atom, must be
 *     collected or rejected: its bytes belong to the atom.)
 *   - imap_parser_literal_stream(): the session itself consumes exactly
 *     `size` bytes from the input (APPEND bodies go to the store's blob
 *     writer) and then calls imap_parser_literal_streamed(); the argument
 *     becomes IMAP_ARG_LITERAL_STREAMED with the size only;
 *   - imap_parser_literal_reject(): the command is abandoned. For a
 *     synchronizing literal the client sends nothing more of it; for a
 *     non-synchronizing one the parser skips its bytes and the rest of the
 *     line. The session answers the tag itself (e.g. BAD [TOOBIG]).
 *
 * Errors: on a syntax error the parser returns IMAP_PARSE_ERROR once, with
 * a reason and (when it was read) the tag, and then skips the rest of the
 * command line on its own (including the bytes of non-synchronizing
 * literals in it) before parsing the next command, so the connection stays
 * usable and pipelined commands keep their order.
 *
 * Memory: arguments live in the pool given at init (the session clears it
 * after each command); one token buffer, bounded by max_line. */
#ifndef ROOST_IMAP_PARSER_H
#define ROOST_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/str.h"

struct pool;

/* Nesting depth of parenthesised lists, and total arguments (atoms, strings
 * and lists at any depth) in one command. */
#define IMAP_PARSER_MAX_DEPTH 32
#define IMAP_PARSER_MAX_ARGS 10000
#define IMAP_PARSER_MAX_TAG 64
#define IMAP_PARSER_MAX_COMMAND 32

enum imap_arg_type {
	IMAP_ARG_EOL = 0,         /* terminates every argument array */
	IMAP_ARG_NIL,
	IMAP_ARG_ATOM,
	IMAP_ARG_STRING,          /* quoted string, escapes removed */
	IMAP_ARG_LITERAL,         /* collected literal; literal8 flag for ~{n} */
	IMAP_ARG_LITERAL_STREAMED, /* literal consumed by the session; size only */
	IMAP_ARG_LIST,
};

struct imap_arg {
	enum imap_arg_type type;
	bool literal8;            /* LITERAL / LITERAL_STREAMED written as ~{n} */
	/* ATOM, STRING, LITERAL: the bytes, NUL-terminated in the pool (a
	 * literal8 may hold NULs; use str.len). */
	struct str str;
	uint64_t literal_size;    /* LITERAL, LITERAL_STREAMED */
	/* LIST: list_count elements followed by an IMAP_ARG_EOL entry. */
	const struct imap_arg *list;
	size_t list_count;
};

enum imap_parse_result {
	IMAP_PARSE_ERROR = -1,
	IMAP_PARSE_MORE = 0,    /* every byte given was consumed; feed more */
	IMAP_PARSE_DONE = 1,    /* one command complete: see imap_parser_args() */
	IMAP_PARSE_LITERAL = 2, /* a literal header was read: decide (see above) */
};

struct imap_parser_limits {
	size_t max_line;            /* bytes of the command outside literals */
	uint64_t max_literal_collect; /* total bytes of collected literals */
};

struct imap_parser_literal {
	uint64_t size;
	bool sync;       /* {n}: the client waits for "+ " */
	bool literal8;   /* ~{n} */
	bool in_atom;    /* inside an atom's "[...]" section (see above) */
	unsigned depth;  /* list nesting level where it appears (0 = top) */
	size_t arg_index; /* its index among the arguments at that level */
};

struct imap_parser_frame;

struct imap_parser {
	struct imap_parser_limits limits;
	struct pool *pool;
	int state;
	int after_error_state;
	size_t line_len;          /* bytes of the current command outside literals */
	uint64_t collected;       /* bytes of literals collected for this command */
	uint64_t literal_left;    /* bytes of the current literal still to come */
	struct buf token;         /* the token being read */
	unsigned bracket_depth;   /* inside "[...]" of an atom */
	bool literal_plus, literal_is8, literal_has_digits;
	bool literal_in_atom;     /* the literal being read is inside an atom */
	const char *atom_literal_error; /* found in such a literal's bytes */
	uint64_t literal_len;
	char tag[IMAP_PARSER_MAX_TAG + 1];
	char command[IMAP_PARSER_MAX_COMMAND + 1];
	bool have_tag, have_command;
	/* argument tree being built: a stack of open lists */
	struct imap_parser_frame *frames; /* IMAP_PARSER_MAX_DEPTH + 1 */
	unsigned depth;
	size_t arg_total;
	const struct imap_arg *args; /* the finished top-level array */
	struct imap_parser_literal literal;
	const char *error;
	bool error_toobig;        /* the error was a size limit: [TOOBIG] */
	bool error_limit;         /* too many arguments / too deep: [LIMIT] */
};

/* The pool must outlive the parsed arguments; the parser allocates from it
 * for every command. Returns 1, or -1 on out of memory. */
int imap_parser_init(struct imap_parser *p, struct pool *pool,
		     const struct imap_parser_limits *limits);
void imap_parser_deinit(struct imap_parser *p);
/* Limits apply from the next byte on (raised after login). */
void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *limits);

/* Consumes bytes from data (at most len) until an event; *consumed_r says
 * how many. After DONE, the arguments stay valid until the next call to
 * imap_parser_feed() or imap_parser_next(); call imap_parser_next() before
 * feeding the following command (the session clears its pool first). */
enum imap_parse_result imap_parser_feed(struct imap_parser *p, const void *data, size_t len,
					size_t *consumed_r);

/* Forget the finished (or errored) command; ready for the next. */
void imap_parser_next(struct imap_parser *p);
/* Drop everything, including a half-read command (STARTTLS, COMPRESS). */
void imap_parser_reset(struct imap_parser *p);

/* True while the parser is between commands (nothing of a new command
 * read yet). */
bool imap_parser_idle(const struct imap_parser *p);

/* The tag and command name (upper-cased) of the current command, or ""
 * when not yet read. Valid until imap_parser_next(). */
const char *imap_parser_tag(const struct imap_parser *p);
const char *imap_parser_command(const struct imap_parser *p);
/* After DONE: the arguments after the command name, EOL-terminated. */
const struct imap_arg *imap_parser_args(const struct imap_parser *p);
/* After ERROR: the reason, and whether it is [TOOBIG] / [LIMIT]. */
const char *imap_parser_error(const struct imap_parser *p);
bool imap_parser_error_toobig(const struct imap_parser *p);
bool imap_parser_error_limit(const struct imap_parser *p);

/* After LITERAL. */
const struct imap_parser_literal *imap_parser_literal(const struct imap_parser *p);
void imap_parser_literal_collect(struct imap_parser *p);
void imap_parser_literal_stream(struct imap_parser *p);
/* The session consumed the streamed literal's bytes. */
void imap_parser_literal_streamed(struct imap_parser *p);
void imap_parser_literal_reject(struct imap_parser *p);
/* After LITERAL: the top-level arguments read so far (lists among them are
 * complete), EOL-terminated, allocated from the pool; NULL on OOM. APPEND
 * uses it to check mailbox, flags and date before accepting the message. */
const struct imap_arg *imap_parser_partial_args(struct imap_parser *p);

/* --- helpers for handlers --- */

/* ATOM, STRING or LITERAL (not literal8): astring. Returns true and sets
 * *s_r. */
bool imap_arg_get_astring(const struct imap_arg *arg, struct str *s_r);
/* STRING or LITERAL: string. */
bool imap_arg_get_string(const struct imap_arg *arg, struct str *s_r);
bool imap_arg_get_atom(const struct imap_arg *arg, struct str *s_r);
/* ATOM equal to kw (case-insensitive). */
bool imap_arg_atom_equals(const struct imap_arg *arg, const char *kw);
bool imap_arg_get_list(const struct imap_arg *arg, const struct imap_arg **list_r,
		       size_t *count_r);
size_t imap_args_count(const struct imap_arg *args);

#endif
