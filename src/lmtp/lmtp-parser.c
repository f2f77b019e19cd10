#include "lmtp/lmtp-parser.h"

#include <string.h>

void lmtp_parser_init(struct lmtp_parser *p)
{
	memset(p, 0, sizeof(*p));
}

void lmtp_parser_reset(struct lmtp_parser *p)
{
	lmtp_parser_init(p);
}

void lmtp_parser_message_begin(struct lmtp_parser *p)
{
	p->chunk_prev_cr = false;
	p->data_size = 0;
	p->cur_line_len = 0;
	p->max_line_len = 0;
	p->nul_bytes = 0;
	p->bare_lf = 0;
}

void lmtp_parser_begin_chunk(struct lmtp_parser *p, uint64_t size)
{
	p->in_chunk = true;
	p->chunk_left = size;
}

bool lmtp_parser_pending(const struct lmtp_parser *p)
{
	return p->in_chunk && p->chunk_left == 0;
}

void lmtp_parser_begin_data(struct lmtp_parser *p)
{
	p->in_data = true;
	p->data_state = LMTP_DS_LINE_START;
	p->data_size = 0;
	p->cur_line_len = 0;
	p->max_line_len = 0;
	p->nul_bytes = 0;
	p->bare_lf = 0;
}

/* Command mode: collect bytes up to LF. A line that does not fit in
 * LMTP_MAX_COMMAND_LINE (with its CRLF) is dropped byte by byte until its
 * LF arrives, so a client that sends a megabyte of garbage costs nothing
 * but the time to read it. */
static int feed_command(struct lmtp_parser *p, const char *in, size_t len, size_t *used_r,
			struct lmtp_item *item_r)
{
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '\n') {
			*used_r = i + 1;
			item_r->type = LMTP_ITEM_LINE;
			if (p->line_overflow) {
				item_r->too_long = true;
				item_r->text = STR_NULL;
			} else {
				size_t n = p->line_len;
				if (n > 0 && p->line[n - 1] == '\r')
					n--;
				item_r->too_long = false;
				item_r->text = str_make(p->line, n);
			}
			p->line_len = 0;
			p->line_overflow = false;
			return 1;
		}
		if (p->line_overflow)
			continue;
		/* Room for the content plus the LF we have not seen yet. */
		if (p->line_len + 1 >= sizeof(p->line)) {
			p->line_overflow = true;
			continue;
		}
		p->line[p->line_len++] = c;
	}
	*used_r = len;
	return 0;
}

static const char crlf[] = "\r\n";

static int data_item(struct lmtp_parser *p, struct lmtp_item *item_r, const char *s, size_t n)
{
	item_r->type = LMTP_ITEM_DATA;
	item_r->text = str_make(s, n);
	item_r->too_long = false;
	p->data_size += n;
	return 1;
}

static void end_line(struct lmtp_parser *p)
{
	if (p->cur_line_len > p->max_line_len)
		p->max_line_len = p->cur_line_len;
	p->cur_line_len = 0;
	p->data_state = LMTP_DS_LINE_START;
}

/* Data mode. Bytes that are stored unchanged form a "run", in[run..i),
 * returned as a view into the input. Where the stored form differs from
 * the input (a stuffed dot removed, CR inserted before a bare LF, the CR of
 * a ".\r" line that was not the end), the run so far is returned first and
 * the next call handles the byte: the state changes only when a byte is
 * consumed, so any split of the input gives the same output. RFC 5321
 * 4.5.2: "If the first character is a period and there are other
 * characters on the line, the first character is deleted." */
static int feed_data(struct lmtp_parser *p, const char *in, size_t len, size_t *used_r,
		     struct lmtp_item *item_r)
{
	size_t run = 0, i = 0;

	while (i < len) {
		char c = in[i];

		switch (p->data_state) {
		case LMTP_DS_LINE_START:
			if (c == '.') {
				if (i > run)
					goto flush_run;
				/* Consumed without output. */
				p->data_state = LMTP_DS_DOT;
				run = ++i;
				continue;
			}
			/* An ordinary first byte: as in mid-line. */
			__attribute__((fallthrough));
		case LMTP_DS_MID:
		case LMTP_DS_MID_CR:
			if (c == '\n') {
				if (p->data_state == LMTP_DS_MID_CR) {
					p->cur_line_len--; /* the CR was counted */
					end_line(p);
					i++;
					continue;
				}
				/* Bare LF: store CRLF instead. */
				if (i > run)
					goto flush_run;
				end_line(p);
				p->bare_lf++;
				*used_r = i + 1;
				return data_item(p, item_r, crlf, 2);
			}
			/* The rest of the line up to the next LF (or the end of
			 * the input) is stored as it is: skip it in one go
			 * (memchr) instead of byte by byte; this loop sees
			 * every byte of every delivered message. */
			{
				const char *nl = memchr(in + i, '\n', len - i);
				size_t end = nl != NULL ? (size_t)(nl - in) : len;
				for (const char *z = memchr(in + i, '\0', end - i); z != NULL;
				     z = memchr(z + 1, '\0', end - (size_t)(z + 1 - in)))
					p->nul_bytes++;
				p->cur_line_len += end - i;
				p->data_state = in[end - 1] == '\r' ? LMTP_DS_MID_CR : LMTP_DS_MID;
				i = end;
			}
			continue;
		case LMTP_DS_DOT:
			/* The run is empty here: the dot was consumed with an
			 * empty run, in this call or an earlier one. */
			if (c == '\r') {
				p->data_state = LMTP_DS_DOT_CR;
				run = ++i;
				continue;
			}
			if (c == '\n')
				goto end_of_data;
			/* The dot was stuffing: it stays dropped; this byte is
			 * the line's first, handled as in mid-line. */
			p->data_state = LMTP_DS_MID;
			continue;
		case LMTP_DS_DOT_CR:
			if (c == '\n')
				goto end_of_data;
			/* ".\r" then something else: a stuffed dot, then a CR
			 * that was not a line end. Store the CR, then look at
			 * this byte again as the line's second. */
			p->cur_line_len = 1;
			p->data_state = LMTP_DS_MID_CR;
			*used_r = i;
			return data_item(p, item_r, crlf, 1);
		}
	}
	*used_r = len;
	if (i > run)
		return data_item(p, item_r, in + run, i - run);
	return 0;

flush_run:
	*used_r = i;
	return data_item(p, item_r, in + run, i - run);

end_of_data:
	*used_r = i + 1;
	p->in_data = false;
	p->data_state = LMTP_DS_LINE_START;
	item_r->type = LMTP_ITEM_DATA_END;
	item_r->text = STR_NULL;
	item_r->too_long = false;
	return 1;
}

/* A BDAT chunk: exactly chunk_left bytes, stored as they are except that
 * a bare LF becomes CRLF (as in DATA). The CR state carries over from
 * chunk to chunk: a CRLF may be split between two chunks. */
static int feed_chunk(struct lmtp_parser *p, const char *in, size_t len, size_t *used_r,
		      struct lmtp_item *item_r)
{
	if (p->chunk_left == 0) {
		p->in_chunk = false;
		*used_r = 0;
		item_r->type = LMTP_ITEM_CHUNK_END;
		item_r->text = STR_NULL;
		item_r->too_long = false;
		return 1;
	}
	size_t n = len < p->chunk_left ? len : (size_t)p->chunk_left;
	size_t i = 0;
	for (; i < n; i++) {
		char c = in[i];
		if (c == '\n' && !p->chunk_prev_cr) {
			if (i > 0)
				break; /* return the run first */
			p->chunk_left--;
			p->bare_lf++;
			*used_r = 1;
			return data_item(p, item_r, crlf, 2);
		}
		if (c == '\0')
			p->nul_bytes++;
		p->chunk_prev_cr = c == '\r';
	}
	*used_r = i;
	if (i == 0)
		return 0;
	p->chunk_left -= i;
	return data_item(p, item_r, in, i);
}

int lmtp_parser_feed(struct lmtp_parser *p, const char *in, size_t len, size_t *used_r,
		     struct lmtp_item *item_r)
{
	if (p->in_chunk)
		return feed_chunk(p, in, len, used_r, item_r);
	if (p->in_data)
		return feed_data(p, in, len, used_r, item_r);
	return feed_command(p, in, len, used_r, item_r);
}

/* ------------------------------------------------------------------ */
/* Commands */

static const struct {
	const char *name;
	enum lmtp_verb verb;
} verbs[] = {
	{ "LHLO", LMTP_VERB_LHLO }, { "HELO", LMTP_VERB_HELO }, { "EHLO", LMTP_VERB_EHLO },
	{ "MAIL", LMTP_VERB_MAIL }, { "RCPT", LMTP_VERB_RCPT }, { "DATA", LMTP_VERB_DATA },
	{ "RSET", LMTP_VERB_RSET }, { "NOOP", LMTP_VERB_NOOP }, { "QUIT", LMTP_VERB_QUIT },
	{ "VRFY", LMTP_VERB_VRFY }, { "STARTTLS", LMTP_VERB_STARTTLS },
	{ "HELP", LMTP_VERB_HELP }, { "BDAT", LMTP_VERB_BDAT },
};

int lmtp_command_parse(struct str line, struct lmtp_command *cmd_r)
{
	memset(cmd_r, 0, sizeof(*cmd_r));
	if (line.len == 0)
		return -1;
	for (size_t i = 0; i < line.len; i++) {
		unsigned char c = (unsigned char)line.p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -1;
	}
	size_t n = 0;
	while (n < line.len && line.p[n] != ' ')
		n++;
	cmd_r->name = str_make(line.p, n);
	struct str args = n < line.len ? str_make(line.p + n + 1, line.len - n - 1) : STR_NULL;
	/* Trailing spaces are tolerated (some clients send them). */
	while (args.len > 0 && (args.p[args.len - 1] == ' ' || args.p[args.len - 1] == '\t'))
		args.len--;
	cmd_r->args = args;
	cmd_r->verb = LMTP_VERB_UNKNOWN;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (str_eq_cstr_nocase(cmd_r->name, verbs[i].name)) {
			cmd_r->verb = verbs[i].verb;
			break;
		}
	}
	return 1;
}

static bool is_atext(unsigned char c)
{
	/* RFC 5322 3.2.3 atext, plus UTF-8 bytes (RFC 6531 is not offered,
	 * but MTAs pass such addresses; the account lookup decides). */
	if (c >= 0x80)
		return true;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool is_domain_char(unsigned char c)
{
	return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* RFC 5321 4.1.2: Local-part = Dot-string / Quoted-string. Returns the
 * length of the local part at the start of s, or -1. */
static long parse_local_part(struct str s)
{
	size_t i = 0;
	if (s.len > 0 && s.p[0] == '"') {
		for (i = 1; i < s.len; i++) {
			unsigned char c = (unsigned char)s.p[i];
			if (c == '\\') {
				if (++i >= s.len)
					return -1;
				continue;
			}
			if (c == '"')
				return (long)i + 1;
			if (c < 0x20 || c == 0x7f)
				return -1;
		}
		return -1;
	}
	bool dot_ok = false;
	for (i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c == '.') {
			if (!dot_ok)
				return -1;
			dot_ok = false;
			continue;
		}
		if (!is_atext(c))
			break;
		dot_ok = true;
	}
	if (i == 0 || !dot_ok)
		return -1;
	return (long)i;
}

static bool valid_domain(struct str d)
{
	if (d.len == 0 || d.len > 255)
		return false;
	if (d.p[0] == '[') {
		/* Address literal: checked loosely (printable, bracketed). */
		if (d.len < 3 || d.p[d.len - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < d.len; i++) {
			unsigned char c = (unsigned char)d.p[i];
			if (c <= 0x20 || c >= 0x7f || c == '[' || c == ']' || c == '\\')
				return false;
		}
		return true;
	}
	if (d.p[0] == '.' || d.p[d.len - 1] == '.' || d.p[0] == '-')
		return false;
	for (size_t i = 0; i < d.len; i++) {
		if (!is_domain_char((unsigned char)d.p[i]))
			return false;
		if (d.p[i] == '.' && i + 1 < d.len && d.p[i + 1] == '.')
			return false;
	}
	return true;
}

static int parse_params(struct str s, struct lmtp_path *path_r, const char **error_r)
{
	size_t i = 0;
	while (i < s.len) {
		while (i < s.len && s.p[i] == ' ')
			i++;
		if (i >= s.len)
			break;
		size_t start = i;
		while (i < s.len && s.p[i] != ' ')
			i++;
		struct str tok = str_make(s.p + start, i - start);
		if (path_r->n_params >= LMTP_MAX_PARAMS) {
			*error_r = "Too many parameters";
			return -1;
		}
		struct lmtp_param *prm = &path_r->params[path_r->n_params++];
		long eq = str_find_char(tok, '=');
		prm->keyword = eq < 0 ? tok : str_make(tok.p, (size_t)eq);
		prm->has_value = eq >= 0;
		prm->value = eq < 0 ? STR_NULL : str_make(tok.p + eq + 1, tok.len - (size_t)eq - 1);
		/* RFC 5321 4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
		if (prm->keyword.len == 0 || prm->keyword.p[0] == '-') {
			*error_r = "Bad parameter syntax";
			return -1;
		}
		for (size_t k = 0; k < prm->keyword.len; k++) {
			unsigned char c = (unsigned char)prm->keyword.p[k];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '-')) {
				*error_r = "Bad parameter syntax";
				return -1;
			}
		}
		/* esmtp-value = 1*(%d33-60 / %d62-126) */
		if (prm->has_value && prm->value.len == 0) {
			*error_r = "Bad parameter syntax";
			return -1;
		}
		for (size_t k = 0; k < prm->value.len; k++) {
			unsigned char c = (unsigned char)prm->value.p[k];
			if (c < 33 || c > 126 || c == '=') {
				*error_r = "Bad parameter syntax";
				return -1;
			}
		}
	}
	return 1;
}

int lmtp_path_parse(struct str args, bool is_mail, struct lmtp_path *path_r,
		    const char **error_r)
{
	memset(path_r, 0, sizeof(*path_r));
	const char *prefix = is_mail ? "FROM:" : "TO:";
	size_t plen = strlen(prefix);
	if (!str_has_prefix_nocase(args, prefix)) {
		*error_r = is_mail ? "Syntax: MAIL FROM:<address> [parameters]"
				   : "Syntax: RCPT TO:<address> [parameters]";
		return -1;
	}
	struct str s = str_make(args.p + plen, args.len - plen);
	while (s.len > 0 && s.p[0] == ' ') {
		s.p++;
		s.len--;
	}
	if (s.len == 0 || s.p[0] != '<') {
		*error_r = "Address must be in angle brackets";
		return -1;
	}
	/* Find the closing '>' outside a quoted local part. */
	size_t i = 1;
	bool quoted = false;
	for (; i < s.len; i++) {
		char c = s.p[i];
		if (quoted && c == '\\') {
			i++;
			continue;
		}
		if (c == '"')
			quoted = !quoted;
		else if (c == '>' && !quoted)
			break;
	}
	if (i >= s.len) {
		*error_r = "Missing '>' after address";
		return -1;
	}
	if (i + 1 > LMTP_MAX_PATH) {
		*error_r = "Address too long";
		return -1;
	}
	struct str inner = str_make(s.p + 1, i - 1);
	struct str rest = str_make(s.p + i + 1, s.len - i - 1);
	if (rest.len > 0 && rest.p[0] != ' ') {
		*error_r = "Missing space after address";
		return -1;
	}
	/* RFC 5321 4.1.2 A-d-l: an obsolete source route "@a,@b:" is
	 * accepted and ignored (RFC 5321 C). */
	if (inner.len > 0 && inner.p[0] == '@') {
		long colon = str_find_char(inner, ':');
		if (colon < 0) {
			*error_r = "Bad source route";
			return -1;
		}
		inner = str_make(inner.p + colon + 1, inner.len - (size_t)colon - 1);
		if (inner.len == 0) {
			*error_r = "Bad source route";
			return -1;
		}
	}
	if (inner.len == 0) {
		if (!is_mail) {
			*error_r = "Empty recipient address";
			return -1;
		}
	} else {
		long lp = parse_local_part(inner);
		if (lp < 0 || lp > 64 + 2) {
			*error_r = "Bad address syntax";
			return -1;
		}
		if ((size_t)lp == inner.len) {
			/* No domain: RCPT TO:<postmaster> (RFC 5321 4.5.1),
			 * or a bare local part for auth.default_domain. */
			if (is_mail) {
				*error_r = "Sender address must have a domain";
				return -1;
			}
		} else if (inner.p[lp] != '@' ||
			   !valid_domain(str_make(inner.p + lp + 1, inner.len - (size_t)lp - 1))) {
			*error_r = "Bad address syntax";
			return -1;
		}
	}
	path_r->address = inner;
	return parse_params(rest, path_r, error_r);
}

int lmtp_bdat_parse(struct str args, uint64_t *size_r, bool *last_r)
{
	long sp = str_find_char(args, ' ');
	struct str size = sp < 0 ? args : str_make(args.p, (size_t)sp);
	*last_r = false;
	if (size.len == 0 || size.len > 19 || str_to_u64(size, size_r) < 0)
		return -1;
	if (sp >= 0) {
		struct str rest = str_make(args.p + sp + 1, args.len - (size_t)sp - 1);
		if (!str_eq_cstr_nocase(rest, "LAST"))
			return -1;
		*last_r = true;
	}
	return 1;
}
