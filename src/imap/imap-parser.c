/* imap-parser.c - the resumable command parser; see imap-parser.h.
 *
 * A byte-at-a-time state machine. Every state transition happens on one
 * input byte, so the result cannot depend on how the input was split. The
 * argument tree is built as linked nodes per open list (a stack of frames);
 * when a list closes its nodes are turned into an EOL-terminated array, so
 * handlers see plain arrays. */
#include "imap/imap-parser.h"

#include <stdlib.h>
#include <string.h>

#include "lib/pool.h"

enum parser_state {
	ST_TAG,           /* reading the tag (or nothing read yet) */
	ST_COMMAND,       /* reading the command name */
	ST_ARG_START,     /* after SP or "(": a token, ")" or end of line */
	ST_AFTER_ARG,     /* after a token: SP, ")" or end of line */
	ST_ATOM,
	ST_ATOM_QUOTED,   /* a quoted string inside an atom's "[...]" */
	ST_ATOM_QUOTED_ESC,
	ST_QUOTED,
	ST_QUOTED_ESC,
	ST_TILDE,         /* "~" read: "{" makes a literal8, else an atom */
	ST_LITERAL_LEN,   /* inside "{...}" */
	ST_LITERAL_CLOSE, /* "+" read, "}" must follow */
	ST_LITERAL_CR,    /* "}" read, CRLF must follow */
	ST_LITERAL_LF,
	ST_LITERAL_WAIT,  /* LITERAL event returned, waiting for the session */
	ST_LITERAL_DATA,  /* collecting literal bytes */
	ST_LITERAL_STREAM, /* the session consumes the bytes */
	ST_CR,            /* CR at the end of the line read; LF must follow */
	ST_END,           /* command complete (or abandoned): call next() */
	ST_SKIP_LINE,     /* after an error: skip to the end of the line */
	ST_SKIP_LITERAL,  /* after an error: skip a non-synchronizing literal */
};

/* Error-recovery sub-state while skipping a line: does the line end in a
 * literal header "{n}" or "{n+}"? */
enum skip_brace { SKIP_NONE, SKIP_DIGITS, SKIP_PLUS, SKIP_CLOSED };

struct arg_node {
	struct imap_arg arg;
	struct arg_node *next;
};

struct imap_parser_frame {
	struct arg_node *head, *tail;
	size_t count;
};

int imap_parser_init(struct imap_parser *p, struct pool *pool,
		     const struct imap_parser_limits *limits)
{
	memset(p, 0, sizeof(*p));
	p->pool = pool;
	p->limits = *limits;
	buf_init(&p->token, limits->max_line);
	p->frames = calloc(IMAP_PARSER_MAX_DEPTH + 1, sizeof(*p->frames));
	if (p->frames == NULL)
		return -1;
	p->state = ST_TAG;
	return 1;
}

void imap_parser_deinit(struct imap_parser *p)
{
	buf_free(&p->token);
	free(p->frames);
	p->frames = NULL;
}

void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *limits)
{
	p->limits = *limits;
	p->token.max = limits->max_line;
}

/* Start of a new command: forget everything of the previous one. The pool
 * is the session's; it clears it itself. */
static void start_command(struct imap_parser *p)
{
	p->state = ST_TAG;
	p->line_len = 0;
	p->collected = 0;
	p->literal_left = 0;
	buf_reset(&p->token);
	p->bracket_depth = 0;
	p->literal_in_atom = false;
	p->atom_literal_error = NULL;
	p->tag[0] = '\0';
	p->command[0] = '\0';
	p->have_tag = p->have_command = false;
	memset(p->frames, 0, (IMAP_PARSER_MAX_DEPTH + 1) * sizeof(*p->frames));
	p->depth = 0;
	p->arg_total = 0;
	p->args = NULL;
	p->error = NULL;
	p->error_toobig = p->error_limit = false;
	memset(&p->literal, 0, sizeof(p->literal));
	/* Give the token buffer back between commands: an idle session
	 * should hold no input memory (it is reallocated on the next one). */
	buf_free(&p->token);
}

void imap_parser_next(struct imap_parser *p)
{
	if (p->state == ST_END || p->state == ST_TAG) {
		start_command(p);
		return;
	}
	/* Still skipping an errored line: keep skipping, but drop what
	 * pointed into the (now cleared) pool. */
	p->args = NULL;
	memset(p->frames, 0, (IMAP_PARSER_MAX_DEPTH + 1) * sizeof(*p->frames));
	p->depth = 0;
}

void imap_parser_reset(struct imap_parser *p)
{
	start_command(p);
}

bool imap_parser_idle(const struct imap_parser *p)
{
	return p->state == ST_TAG && p->token.len == 0 && p->line_len == 0;
}

const char *imap_parser_tag(const struct imap_parser *p)
{
	return p->tag;
}

const char *imap_parser_command(const struct imap_parser *p)
{
	return p->command;
}

const struct imap_arg *imap_parser_args(const struct imap_parser *p)
{
	static const struct imap_arg eol = { .type = IMAP_ARG_EOL };
	return p->args != NULL ? p->args : &eol;
}

const char *imap_parser_error(const struct imap_parser *p)
{
	return p->error != NULL ? p->error : "Syntax error";
}

bool imap_parser_error_toobig(const struct imap_parser *p)
{
	return p->error_toobig;
}

bool imap_parser_error_limit(const struct imap_parser *p)
{
	return p->error_limit;
}

const struct imap_parser_literal *imap_parser_literal(const struct imap_parser *p)
{
	return &p->literal;
}

/* --- errors --- */

/* Records the error and decides how to recover: if the offending byte was
 * the line's LF, the line is over; otherwise skip the rest of it. */
static enum imap_parse_result fail(struct imap_parser *p, const char *reason, bool at_eol)
{
	p->error = reason;
	p->state = at_eol ? ST_END : ST_SKIP_LINE;
	p->after_error_state = SKIP_NONE;
	p->literal_len = 0;
	return IMAP_PARSE_ERROR;
}

static enum imap_parse_result fail_toobig(struct imap_parser *p, const char *reason, bool at_eol)
{
	p->error_toobig = true;
	return fail(p, reason, at_eol);
}

static enum imap_parse_result fail_limit(struct imap_parser *p, const char *reason, bool at_eol)
{
	p->error_limit = true;
	return fail(p, reason, at_eol);
}

/* --- building the argument tree --- */

static struct imap_arg *add_arg(struct imap_parser *p, enum imap_arg_type type)
{
	if (p->arg_total >= IMAP_PARSER_MAX_ARGS)
		return NULL;
	struct arg_node *n = pool_alloc(p->pool, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->arg.type = type;
	struct imap_parser_frame *f = &p->frames[p->depth];
	if (f->tail != NULL)
		f->tail->next = n;
	else
		f->head = n;
	f->tail = n;
	f->count++;
	p->arg_total++;
	return &n->arg;
}

/* Turns a frame's nodes into an EOL-terminated array. */
static struct imap_arg *frame_to_array(struct imap_parser *p, struct imap_parser_frame *f)
{
	struct imap_arg *arr = pool_alloc(p->pool, (f->count + 1) * sizeof(*arr));
	if (arr == NULL)
		return NULL;
	size_t i = 0;
	for (struct arg_node *n = f->head; n != NULL; n = n->next)
		arr[i++] = n->arg;
	arr[i].type = IMAP_ARG_EOL;
	return arr;
}

static int open_list(struct imap_parser *p)
{
	if (p->depth >= IMAP_PARSER_MAX_DEPTH)
		return 0;
	struct imap_arg *a = add_arg(p, IMAP_ARG_LIST);
	if (a == NULL)
		return -1;
	p->depth++;
	memset(&p->frames[p->depth], 0, sizeof(p->frames[p->depth]));
	return 1;
}

static int close_list(struct imap_parser *p)
{
	struct imap_parser_frame *f = &p->frames[p->depth];
	struct imap_arg *arr = frame_to_array(p, f);
	if (arr == NULL)
		return -1;
	size_t count = f->count;
	p->depth--;
	struct imap_arg *list = &p->frames[p->depth].tail->arg;
	list->list = arr;
	list->list_count = count;
	return 1;
}

/* The token buffer holds an atom: store it (NIL becomes IMAP_ARG_NIL). */
static int finish_atom(struct imap_parser *p)
{
	struct str s = buf_str(&p->token);
	bool nil = str_eq_cstr_nocase(s, "NIL");
	struct imap_arg *a = add_arg(p, nil ? IMAP_ARG_NIL : IMAP_ARG_ATOM);
	if (a == NULL)
		return -1;
	a->str = pool_str_dup(p->pool, s);
	if (a->str.p == NULL)
		return -1;
	buf_reset(&p->token);
	return 1;
}

static int finish_quoted(struct imap_parser *p)
{
	struct imap_arg *a = add_arg(p, IMAP_ARG_STRING);
	if (a == NULL)
		return -1;
	a->str = pool_str_dup(p->pool, buf_str(&p->token));
	if (a->str.p == NULL)
		return -1;
	buf_reset(&p->token);
	return 1;
}

static enum imap_parse_result finish_line(struct imap_parser *p, bool at_lf)
{
	if (!p->have_tag)
		return fail(p, "Missing tag", at_lf);
	if (!p->have_command)
		return fail(p, "Missing command", at_lf);
	if (p->depth > 0)
		return fail(p, "Missing ')'", at_lf);
	struct imap_arg *arr = frame_to_array(p, &p->frames[0]);
	if (arr == NULL)
		return fail_limit(p, "Out of memory", at_lf);
	p->args = arr;
	p->state = ST_END;
	return IMAP_PARSE_DONE;
}

/* --- character classes (RFC 9051 9) --- */

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* ATOM-CHAR, plus what arguments need beyond it: list-wildcards "%" "*"
 * (LIST patterns, sequence sets), "]" (astrings), "\" (flags). Still
 * excluded: SP, CTL, "(", ")", "{", DQUOTE. 8-bit bytes are accepted
 * (UTF-8 atoms of sloppy clients; handlers validate their values). */
static bool is_arg_atom_char(unsigned char c)
{
	return !is_ctl(c) && c != ' ' && c != '(' && c != ')' && c != '{' && c != '"';
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static bool is_tag_char(unsigned char c)
{
	return c < 0x80 && !is_ctl(c) && c != ' ' && c != '(' && c != ')' && c != '{' &&
	       c != '%' && c != '*' && c != '"' && c != '\\' && c != '+';
}

/* --- the state machine --- */

/* The error was found at a literal's header (its LF just read). The bytes
 * of a non-synchronizing literal are still coming and belong to this line;
 * a client that sent a synchronizing one waits for "+" and sends nothing. */
static enum imap_parse_result fail_at_literal_header(struct imap_parser *p)
{
	if (p->literal_plus && p->literal_len > 0) {
		p->literal_left = p->literal_len;
		p->state = ST_SKIP_LITERAL;
	} else if (p->literal_plus) {
		p->state = ST_SKIP_LINE;
	}
	return IMAP_PARSE_ERROR;
}

static enum imap_parse_result literal_header_done(struct imap_parser *p, bool at_lf)
{
	if (p->arg_total >= IMAP_PARSER_MAX_ARGS) {
		fail_limit(p, "Too many arguments", at_lf);
		return fail_at_literal_header(p);
	}
	/* A literal inside an atom's section becomes a quoted string in the
	 * token: at worst every byte escaped, plus the two quotes. */
	if (p->literal_in_atom && (p->literal_len > p->token.max ||
				   p->token.len + 2 * p->literal_len + 2 > p->token.max)) {
		fail_toobig(p, "Argument too long", at_lf);
		return fail_at_literal_header(p);
	}
	p->literal.size = p->literal_len;
	p->literal.sync = !p->literal_plus;
	p->literal.literal8 = p->literal_is8;
	p->literal.in_atom = p->literal_in_atom;
	p->literal.depth = p->depth;
	p->literal.arg_index = p->frames[p->depth].count;
	p->state = ST_LITERAL_WAIT;
	return IMAP_PARSE_LITERAL;
}

/* The last byte of a literal inside an atom's section was read: close its
 * quoted string and go on with the atom, or report what was wrong in it.
 * Returns ERROR or MORE. */
static enum imap_parse_result atom_literal_end(struct imap_parser *p)
{
	if (p->atom_literal_error == NULL && buf_append_char(&p->token, '"') < 0)
		p->atom_literal_error = "Out of memory";
	if (p->atom_literal_error != NULL) {
		const char *reason = p->atom_literal_error;
		p->atom_literal_error = NULL;
		return fail(p, reason, false);
	}
	p->state = ST_ATOM;
	return IMAP_PARSE_MORE;
}

/* Bytes of a literal inside an atom's section (header-fld-name = astring,
 * RFC 9051 9: BODY[HEADER.FIELDS ({3}\r\nX-A)]). They are kept as a quoted
 * string, so the atom stays one line of text for the handler. A quoted
 * string cannot hold CR, LF or NUL; no header field name can either. */
static void atom_literal_bytes(struct imap_parser *p, const unsigned char *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = d[i];
		if (p->atom_literal_error != NULL)
			continue; /* the rest is consumed, then reported */
		if (c == '\0' || c == '\r' || c == '\n') {
			p->atom_literal_error = "Invalid character in a section literal";
			continue;
		}
		if ((c == '"' || c == '\\') && buf_append_char(&p->token, '\\') < 0)
			p->atom_literal_error = "Out of memory";
		else if (buf_append_char(&p->token, (char)c) < 0)
			p->atom_literal_error = "Out of memory";
	}
}

void imap_parser_literal_collect(struct imap_parser *p)
{
	if (p->literal.in_atom) {
		/* Space was checked at the header: this cannot fail on the
		 * maximum, only on memory (then reported at the end). */
		if (buf_append_char(&p->token, '"') < 0)
			p->atom_literal_error = "Out of memory";
		p->collected += p->literal.size;
		p->literal_left = p->literal.size;
		/* Even when empty: the feed loop closes it (and reports an
		 * error as an event) on the next call. */
		p->state = ST_LITERAL_DATA;
		return;
	}
	struct imap_arg *a = add_arg(p, IMAP_ARG_LITERAL);
	char *data = a != NULL ? pool_alloc(p->pool, p->literal.size + 1) : NULL;
	if (data == NULL) {
		/* Out of memory (the session checked the size first): skip it
		 * like a rejected literal and report the command as failed. */
		p->error = "Out of memory";
		p->error_limit = true;
		p->literal_left = p->literal.size;
		p->after_error_state = SKIP_NONE;
		p->state = p->literal.sync ? ST_END : ST_SKIP_LITERAL;
		return;
	}
	a->literal8 = p->literal.literal8;
	a->literal_size = p->literal.size;
	a->str = str_make(data, 0);
	p->collected += p->literal.size;
	p->literal_left = p->literal.size;
	p->state = p->literal_left > 0 ? ST_LITERAL_DATA : ST_AFTER_ARG;
}

void imap_parser_literal_stream(struct imap_parser *p)
{
	p->literal_left = p->literal.size;
	p->state = ST_LITERAL_STREAM;
}

void imap_parser_literal_streamed(struct imap_parser *p)
{
	if (p->literal.in_atom) {
		/* Not meant to happen (see the header): the atom gets an empty
		 * string in the literal's place, which no handler accepts as a
		 * header field name. */
		p->literal_left = 0;
		if (buf_append(&p->token, "\"\"", 2) < 0)
			p->atom_literal_error = "Out of memory";
		p->state = ST_ATOM;
		return;
	}
	struct imap_arg *a = add_arg(p, IMAP_ARG_LITERAL_STREAMED);
	if (a != NULL) {
		a->literal8 = p->literal.literal8;
		a->literal_size = p->literal.size;
		a->str = STR_LIT("");
	}
	p->literal_left = 0;
	p->state = ST_AFTER_ARG;
}

void imap_parser_literal_reject(struct imap_parser *p)
{
	p->after_error_state = SKIP_NONE;
	p->literal_len = 0;
	if (p->literal.sync) {
		/* RFC 9051 4.3: the client sends the literal only after "+";
		 * having been answered instead, it sends nothing more. */
		p->state = ST_END;
	} else {
		p->literal_left = p->literal.size;
		p->state = p->literal_left > 0 ? ST_SKIP_LITERAL : ST_SKIP_LINE;
	}
}

/* One byte while skipping an errored line. Returns true when the line is
 * over and the next command begins with the following byte. */
static bool skip_byte(struct imap_parser *p, unsigned char c)
{
	switch (c) {
	case '{':
		p->after_error_state = SKIP_DIGITS;
		p->literal_len = 0;
		p->literal_plus = false;
		return false;
	case '\r':
		return false;
	case '\n':
		if (p->after_error_state == SKIP_CLOSED && p->literal_plus) {
			/* A non-synchronizing literal follows: its bytes are
			 * part of this line, not new commands. */
			p->literal_left = p->literal_len;
			p->after_error_state = SKIP_NONE;
			if (p->literal_left > 0)
				p->state = ST_SKIP_LITERAL;
			return false;
		}
		/* A synchronizing literal ends the line: the client waits
		 * for a "+" that never comes and reads our BAD instead. */
		return true;
	default:
		break;
	}
	if (p->after_error_state == SKIP_DIGITS && c >= '0' && c <= '9') {
		if (p->literal_len > (UINT64_MAX - 9) / 10)
			p->after_error_state = SKIP_NONE;
		else
			p->literal_len = p->literal_len * 10 + (c - '0');
	} else if (p->after_error_state == SKIP_DIGITS && c == '+') {
		p->literal_plus = true;
		p->after_error_state = SKIP_PLUS;
	} else if ((p->after_error_state == SKIP_DIGITS || p->after_error_state == SKIP_PLUS) &&
		   c == '}') {
		p->after_error_state = SKIP_CLOSED;
	} else {
		p->after_error_state = SKIP_NONE;
	}
	return false;
}

static enum imap_parse_result parse_byte(struct imap_parser *p, unsigned char c);

enum imap_parse_result imap_parser_feed(struct imap_parser *p, const void *data, size_t len,
					size_t *consumed_r)
{
	const unsigned char *d = data;
	size_t i = 0;
	enum imap_parse_result r = IMAP_PARSE_MORE;

	while (i < len) {
		if (p->state == ST_END || p->state == ST_LITERAL_WAIT ||
		    p->state == ST_LITERAL_STREAM)
			break; /* waiting for the session */
		if (p->state == ST_LITERAL_DATA && p->literal.in_atom) {
			size_t n = len - i;
			if (n > p->literal_left)
				n = (size_t)p->literal_left;
			atom_literal_bytes(p, d + i, n);
			i += n;
			p->literal_left -= n;
			if (p->literal_left == 0 && (r = atom_literal_end(p)) != IMAP_PARSE_MORE)
				break;
			continue;
		}
		if (p->state == ST_LITERAL_DATA) {
			/* Bulk copy: the only state that takes many bytes. */
			size_t n = len - i;
			if (n > p->literal_left)
				n = (size_t)p->literal_left;
			struct imap_arg *a = &p->frames[p->depth].tail->arg;
			char *dst = (char *)a->str.p;
			memcpy(dst + a->str.len, d + i, n);
			a->str.len += n;
			i += n;
			p->literal_left -= n;
			if (p->literal_left == 0) {
				dst[a->str.len] = '\0';
				p->state = ST_AFTER_ARG;
				if (!a->literal8 && memchr(dst, '\0', a->str.len) != NULL) {
					r = fail(p, "NUL in literal (use literal8)", false);
					break;
				}
			}
			continue;
		}
		if (p->state == ST_SKIP_LITERAL) {
			size_t n = len - i;
			if (n > p->literal_left)
				n = (size_t)p->literal_left;
			i += n;
			p->literal_left -= n;
			if (p->literal_left == 0)
				p->state = ST_SKIP_LINE;
			continue;
		}
		if (p->state == ST_SKIP_LINE) {
			unsigned char c = d[i++];
			if (skip_byte(p, c))
				p->state = ST_END;
			if (p->state == ST_END) {
				/* The errored command is over; the next begins. */
				start_command(p);
			}
			continue;
		}
		r = parse_byte(p, d[i]);
		i++;
		if (r != IMAP_PARSE_MORE)
			break;
	}
	*consumed_r = i;
	return r;
}

static enum imap_parse_result parse_byte(struct imap_parser *p, unsigned char c)
{
	bool at_lf = c == '\n';

	/* Everything outside literal data counts against the line limit. */
	if (++p->line_len > p->limits.max_line)
		return fail_toobig(p, "Command line too long", at_lf);

	switch ((enum parser_state)p->state) {
	case ST_TAG:
		if (c == ' ') {
			if (p->token.len == 0)
				return fail(p, "Missing tag", false);
			str_copy_cstr(buf_str(&p->token), p->tag, sizeof(p->tag));
			p->have_tag = true;
			buf_reset(&p->token);
			p->state = ST_COMMAND;
			return IMAP_PARSE_MORE;
		}
		if (c == '\r' || c == '\n') {
			if (p->token.len == 0) {
				/* An empty line between commands: ignored
				 * (RFC 2683 3.2.1.1 asks servers to be lenient). */
				if (c == '\n')
					start_command(p);
				return IMAP_PARSE_MORE;
			}
			str_copy_cstr(buf_str(&p->token), p->tag, sizeof(p->tag));
			p->have_tag = is_tag_char((unsigned char)p->tag[0]);
			return fail(p, "Missing command", at_lf);
		}
		if (!is_tag_char(c))
			return fail(p, "Invalid character in tag", false);
		if (p->token.len >= IMAP_PARSER_MAX_TAG)
			return fail(p, "Tag too long", false);
		buf_append_char(&p->token, (char)c);
		return IMAP_PARSE_MORE;

	case ST_COMMAND:
		if (c == ' ' || c == '\r' || c == '\n') {
			if (p->token.len == 0)
				return fail(p, "Missing command", at_lf);
			size_t n = str_copy_cstr(buf_str(&p->token), p->command, sizeof(p->command));
			for (size_t k = 0; k < n; k++)
				if (p->command[k] >= 'a' && p->command[k] <= 'z')
					p->command[k] = (char)(p->command[k] - 'a' + 'A');
			p->have_command = true;
			buf_reset(&p->token);
			if (c == ' ') {
				p->state = ST_ARG_START;
				return IMAP_PARSE_MORE;
			}
			if (c == '\r') {
				p->state = ST_CR;
				return IMAP_PARSE_MORE;
			}
			return finish_line(p, true);
		}
		if (c >= 0x80 || !is_arg_atom_char(c) || c == '%' || c == '*' || c == '\\' ||
		    c == ']')
			return fail(p, "Invalid character in command name", false);
		if (p->token.len >= IMAP_PARSER_MAX_COMMAND)
			return fail(p, "Unknown command", false);
		buf_append_char(&p->token, (char)c);
		return IMAP_PARSE_MORE;

	case ST_ARG_START:
		switch (c) {
		case ' ':
			return fail(p, "Double space between arguments", false);
		case '(': {
			int r = open_list(p);
			if (r == 0)
				return fail_limit(p, "Lists nested too deeply", false);
			if (r < 0)
				return fail_limit(p, "Too many arguments", false);
			return IMAP_PARSE_MORE;
		}
		case ')':
			/* Only "()" (an empty list) gets here legitimately. */
			if (p->depth == 0)
				return fail(p, "Unexpected ')'", false);
			if (p->frames[p->depth].count > 0)
				return fail(p, "Space before ')'", false);
			if (close_list(p) < 0)
				return fail_limit(p, "Out of memory", false);
			p->state = ST_AFTER_ARG;
			return IMAP_PARSE_MORE;
		case '"':
			p->state = ST_QUOTED;
			return IMAP_PARSE_MORE;
		case '{':
			p->literal_in_atom = false;
			p->literal_is8 = false;
			p->literal_plus = false;
			p->literal_has_digits = false;
			p->literal_len = 0;
			p->state = ST_LITERAL_LEN;
			return IMAP_PARSE_MORE;
		case '~':
			p->state = ST_TILDE;
			return IMAP_PARSE_MORE;
		case '\r':
			/* A trailing space before CRLF: tolerated (RFC 2683). */
			if (p->depth > 0)
				return fail(p, "Missing ')'", false);
			p->state = ST_CR;
			return IMAP_PARSE_MORE;
		case '\n':
			return finish_line(p, true);
		default:
			if (!is_arg_atom_char(c))
				return fail(p, "Invalid character in argument", false);
			/* Re-read the byte as the first of an atom. */
			p->bracket_depth = 0;
			p->state = ST_ATOM;
			p->line_len--;
			return parse_byte(p, c);
		}

	case ST_TILDE:
		if (c == '{') {
			p->literal_in_atom = false;
			p->literal_is8 = true;
			p->literal_plus = false;
			p->literal_has_digits = false;
			p->literal_len = 0;
			p->state = ST_LITERAL_LEN;
			return IMAP_PARSE_MORE;
		}
		/* "~" began an atom after all. */
		if (buf_append_char(&p->token, '~') < 0)
			return fail_toobig(p, "Argument too long", false);
		p->bracket_depth = 0;
		p->state = ST_ATOM;
		p->line_len--;
		return parse_byte(p, c);

	case ST_ATOM:
		if (p->bracket_depth == 0 && (c == ' ' || c == ')' || c == '\r' || c == '\n')) {
			if (finish_atom(p) < 0)
				return fail_limit(p, "Too many arguments", at_lf);
			p->state = ST_AFTER_ARG;
			p->line_len--;
			return parse_byte(p, c);
		}
		if (c == '[') {
			if (p->bracket_depth >= IMAP_PARSER_MAX_DEPTH)
				return fail_limit(p, "Brackets nested too deeply", false);
			p->bracket_depth++;
		} else if (c == ']' && p->bracket_depth > 0) {
			p->bracket_depth--;
		} else if (p->bracket_depth > 0 && (c == ' ' || c == '(' || c == ')')) {
			/* part of a section spec: BODY[HEADER.FIELDS (A B)] */
		} else if (p->bracket_depth > 0 && (c == '"' || c == '{')) {
			/* RFC 9051 9: header-fld-name = astring, so a section's
			 * list may hold quoted strings and literals; they begin
			 * a list element, after "(" or SP. */
			char prev = p->token.data[p->token.len - 1];
			if (prev != '(' && prev != ' ')
				return fail(p, "Invalid character in atom", false);
			if (c == '{') {
				p->literal_in_atom = true;
				p->literal_is8 = false;
				p->literal_plus = false;
				p->literal_has_digits = false;
				p->literal_len = 0;
				p->state = ST_LITERAL_LEN;
				return IMAP_PARSE_MORE;
			}
			p->state = ST_ATOM_QUOTED;
		} else if (c == '\r' || c == '\n') {
			return fail(p, "Missing ']'", at_lf);
		} else if (!is_arg_atom_char(c)) {
			return fail(p, "Invalid character in atom", false);
		}
		if (buf_append_char(&p->token, (char)c) < 0)
			return fail_toobig(p, "Argument too long", false);
		return IMAP_PARSE_MORE;

	case ST_ATOM_QUOTED:
		/* Kept with its quotes and escapes: the handler reads the
		 * section text (imap-fetch-parse.c). */
		if (c == '"') {
			p->state = ST_ATOM;
		} else if (c == '\\') {
			p->state = ST_ATOM_QUOTED_ESC;
		} else if (c == '\r' || c == '\n') {
			return fail(p, "Unterminated quoted string", at_lf);
		} else if (c == '\0') {
			return fail(p, "NUL in quoted string", false);
		}
		if (buf_append_char(&p->token, (char)c) < 0)
			return fail_toobig(p, "Argument too long", false);
		return IMAP_PARSE_MORE;

	case ST_ATOM_QUOTED_ESC:
		if (c != '"' && c != '\\')
			return fail(p, "Invalid escape in quoted string", at_lf);
		if (buf_append_char(&p->token, (char)c) < 0)
			return fail_toobig(p, "Argument too long", false);
		p->state = ST_ATOM_QUOTED;
		return IMAP_PARSE_MORE;

	case ST_QUOTED:
		if (c == '"') {
			if (finish_quoted(p) < 0)
				return fail_limit(p, "Too many arguments", false);
			p->state = ST_AFTER_ARG;
			return IMAP_PARSE_MORE;
		}
		if (c == '\\') {
			p->state = ST_QUOTED_ESC;
			return IMAP_PARSE_MORE;
		}
		if (c == '\r' || c == '\n')
			return fail(p, "Unterminated quoted string", at_lf);
		if (c == '\0')
			return fail(p, "NUL in quoted string", false);
		if (buf_append_char(&p->token, (char)c) < 0)
			return fail_toobig(p, "Argument too long", false);
		return IMAP_PARSE_MORE;

	case ST_QUOTED_ESC:
		/* RFC 9051 9: quoted-specials = DQUOTE / "\" are the only
		 * characters that may be escaped. */
		if (c != '"' && c != '\\')
			return fail(p, "Invalid escape in quoted string", at_lf);
		if (buf_append_char(&p->token, (char)c) < 0)
			return fail_toobig(p, "Argument too long", false);
		p->state = ST_QUOTED;
		return IMAP_PARSE_MORE;

	case ST_LITERAL_LEN:
		if (c >= '0' && c <= '9') {
			/* number64 (RFC 9051 9): at most 2^63-1 */
			if (p->literal_len > (((uint64_t)1 << 63) - 1 - 9) / 10)
				return fail_toobig(p, "Literal size too large", false);
			p->literal_len = p->literal_len * 10 + (c - '0');
			p->literal_has_digits = true;
			return IMAP_PARSE_MORE;
		}
		if (c == '+' && p->literal_has_digits) {
			p->literal_plus = true;
			p->state = ST_LITERAL_CLOSE;
			return IMAP_PARSE_MORE;
		}
		if (c == '}') {
			if (!p->literal_has_digits)
				return fail(p, "Literal without a size", false);
			p->state = ST_LITERAL_CR;
			return IMAP_PARSE_MORE;
		}
		return fail(p, "Invalid literal size", at_lf);

	case ST_LITERAL_CLOSE:
		if (c != '}')
			return fail(p, "Invalid literal size", at_lf);
		p->state = ST_LITERAL_CR;
		return IMAP_PARSE_MORE;

	case ST_LITERAL_CR:
		if (c == '\r') {
			p->state = ST_LITERAL_LF;
			return IMAP_PARSE_MORE;
		}
		if (c == '\n')
			return literal_header_done(p, true);
		return fail(p, "Literal size must be followed by CRLF", false);

	case ST_LITERAL_LF:
		if (c != '\n')
			return fail(p, "Literal size must be followed by CRLF", false);
		return literal_header_done(p, true);

	case ST_AFTER_ARG:
		switch (c) {
		case ' ':
			p->state = ST_ARG_START;
			return IMAP_PARSE_MORE;
		case ')':
			if (p->depth == 0)
				return fail(p, "Unexpected ')'", false);
			if (close_list(p) < 0)
				return fail_limit(p, "Out of memory", false);
			return IMAP_PARSE_MORE;
		case '\r':
			p->state = ST_CR;
			return IMAP_PARSE_MORE;
		case '\n':
			return finish_line(p, true);
		case '(':
			return fail(p, "Missing space before '('", false);
		default:
			return fail(p, "Missing space between arguments", false);
		}

	case ST_CR:
		if (c != '\n')
			return fail(p, "CR not followed by LF", false);
		return finish_line(p, true);

	case ST_LITERAL_DATA:
	case ST_LITERAL_WAIT:
	case ST_LITERAL_STREAM:
	case ST_END:
	case ST_SKIP_LINE:
	case ST_SKIP_LITERAL:
		break;
	}
	return fail(p, "Internal parser error", at_lf);
}

const struct imap_arg *imap_parser_partial_args(struct imap_parser *p)
{
	return frame_to_array(p, &p->frames[0]);
}

/* --- helpers --- */

bool imap_arg_get_astring(const struct imap_arg *arg, struct str *s_r)
{
	switch (arg->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_NIL: /* "NIL" is a valid astring (1*ASTRING-CHAR) */
	case IMAP_ARG_STRING:
		*s_r = arg->str;
		return true;
	case IMAP_ARG_LITERAL:
		if (arg->literal8)
			return false;
		*s_r = arg->str;
		return true;
	default:
		return false;
	}
}

bool imap_arg_get_string(const struct imap_arg *arg, struct str *s_r)
{
	if (arg->type == IMAP_ARG_STRING || (arg->type == IMAP_ARG_LITERAL && !arg->literal8)) {
		*s_r = arg->str;
		return true;
	}
	return false;
}

bool imap_arg_get_atom(const struct imap_arg *arg, struct str *s_r)
{
	if (arg->type == IMAP_ARG_ATOM || arg->type == IMAP_ARG_NIL) {
		*s_r = arg->str;
		return true;
	}
	return false;
}

bool imap_arg_atom_equals(const struct imap_arg *arg, const char *kw)
{
	return (arg->type == IMAP_ARG_ATOM || arg->type == IMAP_ARG_NIL) &&
	       str_eq_cstr_nocase(arg->str, kw);
}

bool imap_arg_get_list(const struct imap_arg *arg, const struct imap_arg **list_r,
		       size_t *count_r)
{
	if (arg->type != IMAP_ARG_LIST)
		return false;
	*list_r = arg->list;
	if (count_r != NULL)
		*count_r = arg->list_count;
	return true;
}

size_t imap_args_count(const struct imap_arg *args)
{
	size_t n = 0;
	while (args[n].type != IMAP_ARG_EOL)
		n++;
	return n;
}
