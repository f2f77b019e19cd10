/* mime-envelope.c - the IMAP ENVELOPE (RFC 9051 7.5.2) from an RFC 5322
 * header: address lists with groups, quoted display names and comments. */
#include <string.h>

#include "lib/imap-quote.h"
#include "mime-private.h"
#include "mime.h"

enum tok_type { TOK_END, TOK_WORD, TOK_QUOTED, TOK_DLITERAL, TOK_SPECIAL };

struct tok {
	enum tok_type type;
	struct str text; /* word, quoted-string body (escapes in place), [literal] */
	char special;
	bool space_before;
};

struct lexer {
	struct str v;
	size_t pos;
	struct str comment; /* the last comment seen (its inner text) */
};

static bool is_addr_special(char c)
{
	/* RFC 5322 3.2.3 specials, minus "." which we keep inside words so
	 * that dot-atoms and obs-phrase words stay whole. */
	return strchr("()<>@,;:\\\"[]", c) != NULL && c != '\0';
}

static void lex_skip_cfws(struct lexer *lx, bool *space)
{
	struct str v = lx->v;
	while (lx->pos < v.len) {
		char c = v.p[lx->pos];
		if (mime_is_wsp(c) || c == '\r' || c == '\n' || c == '\0') {
			lx->pos++;
			*space = true;
		} else if (c == '(') {
			size_t start = lx->pos + 1;
			unsigned depth = 0;
			size_t i = lx->pos;
			for (; i < v.len; i++) {
				if (v.p[i] == '\\') {
					i++;
				} else if (v.p[i] == '(') {
					depth++;
				} else if (v.p[i] == ')' && --depth == 0) {
					break;
				}
			}
			size_t end = i < v.len ? i : v.len;
			lx->comment = str_make(v.p + start, end > start ? end - start : 0);
			lx->pos = i < v.len ? i + 1 : v.len;
			*space = true;
		} else {
			break;
		}
	}
}

static struct tok lex_next(struct lexer *lx)
{
	struct tok t = { TOK_END, STR_NULL, 0, false };
	lex_skip_cfws(lx, &t.space_before);
	struct str v = lx->v;
	if (lx->pos >= v.len)
		return t;
	char c = v.p[lx->pos];
	if (c == '"') {
		size_t start = ++lx->pos;
		while (lx->pos < v.len && v.p[lx->pos] != '"') {
			if (v.p[lx->pos] == '\\' && lx->pos + 1 < v.len)
				lx->pos++;
			lx->pos++;
		}
		t.type = TOK_QUOTED;
		t.text = str_make(v.p + start, lx->pos - start);
		if (lx->pos < v.len)
			lx->pos++;
	} else if (c == '[') {
		size_t start = lx->pos;
		while (lx->pos < v.len && v.p[lx->pos] != ']')
			lx->pos++;
		if (lx->pos < v.len)
			lx->pos++;
		t.type = TOK_DLITERAL;
		t.text = str_make(v.p + start, lx->pos - start);
	} else if (is_addr_special(c)) {
		/* ')' and ']' stray, '\\' outside quotes: treat as specials */
		t.type = TOK_SPECIAL;
		t.special = c;
		lx->pos++;
	} else {
		size_t start = lx->pos;
		while (lx->pos < v.len) {
			char d = v.p[lx->pos];
			if (mime_is_wsp(d) || d == '\r' || d == '\n' || d == '\0' || is_addr_special(d))
				break;
			lx->pos++;
		}
		t.type = TOK_WORD;
		t.text = str_make(v.p + start, lx->pos - start);
	}
	return t;
}

static struct tok lex_peek(struct lexer *lx)
{
	struct lexer save = *lx;
	struct tok t = lex_next(lx);
	*lx = save;
	return t;
}

static bool tok_is(struct tok t, char special)
{
	return t.type == TOK_SPECIAL && t.special == special;
}

/* Append a quoted-string body with its escapes removed. */
static int append_unescaped(struct buf *b, struct str s)
{
	struct mime_param p = { STR_NULL, s, true };
	return mime_param_value_append(&p, b);
}

struct addr_bufs {
	struct buf name, local, domain, route;
};

/* A string with CR, LF and NUL removed (a literal cannot carry NUL). */
static int emit_string(struct buf *out, struct buf *b)
{
	struct buf clean = BUF_INIT(0);
	int r = mime_append_unfolded(&clean, buf_str(b));
	if (r > 0)
		r = imap_append_string(out, buf_str(&clean), 0);
	buf_free(&clean);
	return r;
}

static int emit_nstring(struct buf *out, struct buf *b)
{
	if (b->len == 0)
		return buf_append(out, "NIL", 3);
	return emit_string(out, b);
}

static int emit_address(struct buf *out, struct addr_bufs *ab, size_t *count)
{
	if (ab->local.len == 0 && ab->domain.len == 0 && ab->name.len == 0)
		return 1;
	if (ab->local.len == 0 && buf_append_cstr(&ab->local, "MISSING_MAILBOX") < 0)
		return -1;
	if (ab->domain.len == 0 && buf_append_cstr(&ab->domain, "MISSING_DOMAIN") < 0)
		return -1;
	(*count)++;
	if (buf_append_char(out, '(') < 0 || emit_nstring(out, &ab->name) < 0 ||
	    buf_append_char(out, ' ') < 0 || emit_nstring(out, &ab->route) < 0 ||
	    buf_append_char(out, ' ') < 0 || emit_nstring(out, &ab->local) < 0 ||
	    buf_append_char(out, ' ') < 0 || emit_nstring(out, &ab->domain) < 0 ||
	    buf_append_char(out, ')') < 0)
		return -1;
	return 1;
}

/* Append a word of a display name: words separated by one space. */
static int phrase_add(struct buf *name, struct tok t)
{
	if (name->len > 0 && t.space_before && buf_append_char(name, ' ') < 0)
		return -1;
	if (t.type == TOK_QUOTED)
		return append_unescaped(name, t.text);
	return buf_append_str(name, t.text);
}

/* Append a token of a local part or domain as written (no CFWS). */
static int addr_add(struct buf *b, struct tok t)
{
	if (t.type == TOK_QUOTED) {
		if (buf_append_char(b, '"') < 0 || buf_append_str(b, t.text) < 0)
			return -1;
		return buf_append_char(b, '"');
	}
	if (t.type == TOK_SPECIAL)
		return buf_append_char(b, t.special);
	return buf_append_str(b, t.text);
}

/* Inside "<...>": [route ":"] local "@" domain. */
static int parse_angle(struct lexer *lx, struct addr_bufs *ab)
{
	bool at = false;
	struct tok t = lex_peek(lx);
	if (tok_is(t, '@')) {
		/* obs-route: "@a,@b:" - the address's source route (adl). */
		for (;;) {
			t = lex_next(lx);
			if (t.type == TOK_END || tok_is(t, '>'))
				return 1;
			if (tok_is(t, ':'))
				break;
			if (addr_add(&ab->route, t) < 0)
				return -1;
		}
	}
	for (;;) {
		t = lex_next(lx);
		if (t.type == TOK_END || tok_is(t, '>'))
			return 1;
		if (tok_is(t, '@') && !at) {
			at = true;
			continue;
		}
		if (t.type == TOK_SPECIAL && t.special != '.' && !tok_is(t, '@'))
			continue; /* junk such as "," inside <> */
		if (addr_add(at ? &ab->domain : &ab->local, t) < 0)
			return -1;
	}
}

static void addr_reset(struct addr_bufs *ab)
{
	buf_reset(&ab->name);
	buf_reset(&ab->local);
	buf_reset(&ab->domain);
	buf_reset(&ab->route);
}

/* Write an env-from style list: "(" 1*address ")" or NIL. Returns the
 * number of addresses written via *count_r. */
static int write_address_list(struct buf *out, struct str value, size_t *count_r)
{
	struct lexer lx = { value, 0, STR_NULL };
	struct addr_bufs ab = { BUF_INIT(0), BUF_INIT(0), BUF_INIT(0), BUF_INIT(0) };
	size_t start_len = out->len;
	size_t count = 0;
	bool in_group = false;
	int r = buf_append_char(out, '(');
	while (r > 0) {
		struct tok t = lex_peek(&lx);
		if (t.type == TOK_END)
			break;
		if (tok_is(t, ',')) {
			lex_next(&lx);
			continue;
		}
		if (tok_is(t, ';')) {
			lex_next(&lx);
			if (in_group) {
				/* RFC 9051 7.5.2: end of group is all NIL */
				r = buf_append_cstr(out, "(NIL NIL NIL NIL)");
				count++;
				in_group = false;
			}
			continue;
		}
		addr_reset(&ab);
		lx.comment = STR_NULL;
		bool at = false, done = false;
		while (r > 0 && !done) {
			/* consume CFWS here so a trailing comment is seen */
			bool sp = false;
			size_t before = lx.pos;
			lex_skip_cfws(&lx, &sp);
			t = lex_peek(&lx);
			t.space_before = t.space_before || lx.pos != before;
			if (t.type == TOK_END || tok_is(t, ',') || tok_is(t, ';'))
				break;
			lex_next(&lx);
			if (tok_is(t, ':') && !in_group && !at) {
				/* group start: (NIL NIL "name" NIL) */
				r = buf_append_cstr(out, "(NIL NIL ");
				if (r > 0)
					r = emit_string(out, &ab.name);
				if (r > 0)
					r = buf_append_cstr(out, " NIL)");
				count++;
				in_group = true;
				addr_reset(&ab);
				done = true;
				break;
			}
			if (tok_is(t, '<')) {
				buf_reset(&ab.local);
				buf_reset(&ab.domain);
				r = parse_angle(&lx, &ab);
				/* skip junk up to the next separator */
				for (;;) {
					t = lex_peek(&lx);
					if (t.type == TOK_END || tok_is(t, ',') || tok_is(t, ';'))
						break;
					lex_next(&lx);
				}
				if (r > 0)
					r = emit_address(out, &ab, &count);
				done = true;
				break;
			}
			if (tok_is(t, '@') && !at) {
				at = true;
				continue;
			}
			if (t.type == TOK_SPECIAL && t.special != '.')
				continue;
			/* words of a local part without "@" are kept apart by
			 * a space, except around dots (obs-local-part allows
			 * CFWS there: "john . doe" is john.doe) */
			bool dot = (t.type == TOK_WORD && t.text.len > 0 && t.text.p[0] == '.') ||
				   (ab.local.len > 0 && ab.local.data[ab.local.len - 1] == '.');
			if (phrase_add(&ab.name, t) < 0 ||
			    (!at && ab.local.len > 0 && t.space_before && !dot &&
			     buf_append_char(&ab.local, ' ') < 0) ||
			    addr_add(at ? &ab.domain : &ab.local, t) < 0)
				r = -1;
		}
		if (r > 0 && !done) {
			/* addr-spec: a comment serves as the display name
			 * ("jd@example.com (John Doe)"). */
			buf_reset(&ab.name);
			if (lx.comment.p != NULL)
				r = append_unescaped(&ab.name, mime_trim_lws(lx.comment));
			if (r > 0)
				r = emit_address(out, &ab, &count);
		}
	}
	if (r > 0 && in_group) {
		r = buf_append_cstr(out, "(NIL NIL NIL NIL)");
		count++;
	}
	if (r > 0)
		r = buf_append_char(out, ')');
	if (r > 0 && count == 0) {
		buf_truncate(out, start_len);
		r = buf_append(out, "NIL", 3);
	}
	buf_free(&ab.name);
	buf_free(&ab.local);
	buf_free(&ab.domain);
	buf_free(&ab.route);
	*count_r = count;
	return r;
}

static int write_nstring_value(struct buf *out, const struct str *value, struct buf *scratch)
{
	if (value->p == NULL)
		return buf_append(out, "NIL", 3);
	buf_reset(scratch);
	if (mime_append_unfolded(scratch, mime_trim_lws(*value)) < 0)
		return -1;
	return imap_append_string(out, mime_trim_lws(buf_str(scratch)), 0);
}

enum env_field {
	ENV_DATE, ENV_SUBJECT, ENV_FROM, ENV_SENDER, ENV_REPLY_TO, ENV_TO, ENV_CC, ENV_BCC,
	ENV_IN_REPLY_TO, ENV_MESSAGE_ID, ENV_COUNT
};

int mime_envelope_build(struct str header, struct buf *out, struct buf *scratch)
{
	static const char *const names[ENV_COUNT] = {
		"date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc",
		"in-reply-to", "message-id",
	};
	struct str values[ENV_COUNT];
	for (size_t i = 0; i < ENV_COUNT; i++)
		values[i] = STR_NULL;
	size_t pos = 0;
	struct str name, value;
	while (mime_header_next(header, &pos, &name, &value, NULL) > 0) {
		if (name.len < 2 || name.len > 11)
			continue;
		for (size_t i = 0; i < ENV_COUNT; i++) {
			/* the first occurrence of each field counts */
			if (values[i].p == NULL && str_eq_cstr_nocase(name, names[i])) {
				values[i] = value;
				break;
			}
		}
	}
	size_t from_start = 0, from_end = 0, count;
	if (buf_append_char(out, '(') < 0 ||
	    write_nstring_value(out, &values[ENV_DATE], scratch) < 0 || buf_append_char(out, ' ') < 0 ||
	    write_nstring_value(out, &values[ENV_SUBJECT], scratch) < 0 ||
	    buf_append_char(out, ' ') < 0)
		return -1;
	for (int f = ENV_FROM; f <= ENV_BCC; f++) {
		size_t start = out->len;
		if (values[f].p == NULL) {
			count = 0;
			if (f != ENV_SENDER && f != ENV_REPLY_TO && buf_append(out, "NIL", 3) < 0)
				return -1;
		} else if (write_address_list(out, values[f], &count) < 0) {
			return -1;
		}
		if (f == ENV_FROM) {
			from_start = start;
			from_end = out->len;
		} else if ((f == ENV_SENDER || f == ENV_REPLY_TO) && count == 0) {
			/* RFC 3501 7.4.2: absent or empty Sender / Reply-To
			 * take the value of From. The copy comes from out
			 * itself, so reserve first: the data may move. */
			buf_truncate(out, start);
			size_t n = from_end - from_start;
			if (buf_reserve(out, n) < 0)
				return -1;
			memcpy(out->data + out->len, out->data + from_start, n);
			out->len += n;
			out->data[out->len] = '\0';
		}
		if (buf_append_char(out, ' ') < 0)
			return -1;
	}
	if (write_nstring_value(out, &values[ENV_IN_REPLY_TO], scratch) < 0 ||
	    buf_append_char(out, ' ') < 0 ||
	    write_nstring_value(out, &values[ENV_MESSAGE_ID], scratch) < 0 ||
	    buf_append_char(out, ')') < 0)
		return -1;
	return 1;
}
