/* mime-parse.c - the structure parser and the cache blob builder.
 *
 * One pass finds every entity: its header is scanned once for the Content-*
 * fields, a multipart's body is scanned line by line for its delimiter, and
 * an encapsulated message is parsed as a message of its own. The result is a
 * flat array of nodes in depth-first order, from which the ENVELOPE,
 * BODYSTRUCTURE and BODY strings are rendered and the blob is written. No
 * allocation per byte: the node array grows geometrically and the output
 * buffers are appended to. */
#include <stdlib.h>
#include <string.h>

#include "lib/imap-quote.h"
#include "mime-private.h"
#include "mime.h"

/* How a node's type is shown: as its header says, or replaced. */
enum render_type {
	RT_AS_WRITTEN,
	RT_TEXT_PLAIN,  /* no/invalid Content-Type, or a multipart we could not parse */
	RT_OCTET_STREAM, /* message/rfc822 we do not descend into (encoded, too deep) */
	RT_MESSAGE_RFC822, /* default in multipart/digest */
};

struct node {
	uint32_t header_off, header_len, body_off, body_len, lines;
	uint32_t first_child, last_child, next_sibling, nchildren;
	enum mime_cte cte;
	enum render_type rt;
	bool multipart, message, msgroot, attachment, text;
	struct str type, subtype; /* as written (valid only with RT_AS_WRITTEN) */
	struct str ctype, cte_value, id, desc, disp, lang, loc, md5; /* raw values */
};

struct parser {
	const char *msg;
	size_t len;
	struct node *nodes;
	size_t n, cap;
	bool oom;
};

static uint32_t count_lines(const char *p, size_t len)
{
	uint32_t lines = 0;
	const char *end = p + len;
	const char *q = p;
	while (q < end) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		if (nl == NULL) {
			lines++; /* a last line without line end still counts */
			break;
		}
		lines++;
		q = nl + 1;
	}
	return lines;
}

/* Does the entity start with a header field ("name:" with printable name
 * characters, RFC 5322 2.2)? If not, it has no header and all of it is
 * body (a part that starts right away with text). A blank first line is an
 * empty header. */
static bool starts_with_field(const char *p, size_t start, size_t end)
{
	size_t i = start;
	while (i < end && (unsigned char)p[i] > 32 && (unsigned char)p[i] < 127 && p[i] != ':')
		i++;
	if (i == start)
		return false;
	while (i < end && mime_is_wsp(p[i]))
		i++;
	return i < end && p[i] == ':';
}

/* End of the header (just past the blank line), or `end` if there is no
 * blank line (a message of only headers). */
static size_t find_header_end(const char *p, size_t start, size_t end)
{
	size_t pos = start;
	while (pos < end) {
		if (p[pos] == '\n')
			return pos + 1;
		if (p[pos] == '\r' && pos + 1 < end && p[pos + 1] == '\n')
			return pos + 2;
		const char *nl = memchr(p + pos, '\n', end - pos);
		if (nl == NULL)
			return end;
		pos = (size_t)(nl - p) + 1;
	}
	return end;
}

/* RFC 2046 5.1.1: a delimiter line is "--" boundary at the start of a line,
 * optionally "--" (the close delimiter), then transport padding. We accept
 * any junk after a close delimiter, but after the boundary itself only
 * white space or the line end, so boundary "abc" never matches "--abcdef". */
static bool find_delimiter(const char *p, size_t pos, size_t end, struct str b, size_t *line_r,
			   size_t *next_r, bool *close_r)
{
	while (pos < end) {
		if (end - pos >= b.len + 2 && p[pos] == '-' && p[pos + 1] == '-' &&
		    memcmp(p + pos + 2, b.p, b.len) == 0) {
			size_t q = pos + 2 + b.len;
			bool close = false;
			if (end - q >= 2 && p[q] == '-' && p[q + 1] == '-') {
				close = true;
				q += 2;
			}
			if (close || q >= end || mime_is_wsp(p[q]) || p[q] == '\r' || p[q] == '\n') {
				const char *nl = memchr(p + q, '\n', end - q);
				*line_r = pos;
				*next_r = nl ? (size_t)(nl - p) + 1 : end;
				*close_r = close;
				return true;
			}
		}
		const char *nl = memchr(p + pos, '\n', end - pos);
		if (nl == NULL)
			break;
		pos = (size_t)(nl - p) + 1;
	}
	return false;
}

static bool field_is(struct str name, const char *suffix)
{
	/* name is "Content-" + suffix, case-insensitively */
	size_t n = strlen(suffix);
	return name.len == 8 + n && str_eq_nocase(str_make(name.p + 8, n), str_make(suffix, n));
}

static int64_t node_new(struct parser *ps)
{
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 16;
		struct node *nn = realloc(ps->nodes, cap * sizeof(*nn));
		if (nn == NULL) {
			ps->oom = true;
			return -1;
		}
		ps->nodes = nn;
		ps->cap = cap;
	}
	memset(&ps->nodes[ps->n], 0, sizeof(struct node));
	return (int64_t)ps->n++;
}

static void add_child(struct parser *ps, size_t parent, size_t child)
{
	struct node *pn = &ps->nodes[parent];
	if (pn->nchildren == 0)
		pn->first_child = (uint32_t)child;
	else
		ps->nodes[pn->last_child].next_sibling = (uint32_t)child;
	pn->last_child = (uint32_t)child;
	pn->nchildren++;
}

/* The boundary parameter, unescaped into bbuf. Empty if missing/too long. */
static struct str get_boundary(struct str ctype, char *bbuf)
{
	struct mime_param params[MIME_MAX_PARAMS];
	struct str t, st;
	size_t n = mime_parse_params(ctype, true, &t, &st, params, MIME_MAX_PARAMS);
	for (size_t i = 0; i < n; i++) {
		if (!str_eq_nocase(params[i].name, STR_LIT("boundary")))
			continue;
		size_t len = 0;
		struct str v = params[i].value;
		for (size_t k = 0; k < v.len; k++) {
			char c = v.p[k];
			if (params[i].quoted && c == '\\' && k + 1 < v.len)
				c = v.p[++k];
			if (len == MIME_MAX_BOUNDARY)
				return STR_NULL;
			bbuf[len++] = c;
		}
		/* RFC 2046 5.1.1: trailing spaces are not part of a boundary */
		while (len > 0 && bbuf[len - 1] == ' ')
			len--;
		return len ? str_make(bbuf, len) : STR_NULL;
	}
	return STR_NULL;
}

static int64_t parse_entity(struct parser *ps, size_t start, size_t end, unsigned depth,
			    bool in_digest, bool msgroot);

static void parse_multipart(struct parser *ps, size_t idx, unsigned depth, bool digest)
{
	char bbuf[MIME_MAX_BOUNDARY];
	struct node *nd = &ps->nodes[idx];
	struct str b = get_boundary(nd->ctype, bbuf);
	size_t body = nd->body_off, end = (size_t)nd->body_off + nd->body_len;
	size_t line, next;
	bool close;
	if (b.len == 0 || !find_delimiter(ps->msg, body, end, b, &line, &next, &close) || close) {
		/* No usable boundary or no part at all: show it as text. */
		nd->rt = RT_TEXT_PLAIN;
		nd->multipart = false;
		nd->text = true;
		nd->lines = count_lines(ps->msg + body, end - body);
		return;
	}
	for (;;) {
		size_t part_start = next;
		size_t dline, dnext;
		bool dclose = false;
		bool found = find_delimiter(ps->msg, part_start, end, b, &dline, &dnext, &dclose);
		size_t part_end = found ? dline : end;
		/* RFC 2046 5.1.1: the line end before a delimiter belongs to it */
		if (found && part_end > part_start && ps->msg[part_end - 1] == '\n') {
			part_end--;
			if (part_end > part_start && ps->msg[part_end - 1] == '\r')
				part_end--;
		}
		if (ps->n >= MIME_MAX_PARTS)
			break;
		int64_t child = parse_entity(ps, part_start, part_end, depth + 1, digest, false);
		if (child < 0)
			break;
		add_child(ps, idx, (size_t)child);
		if (!found || dclose)
			break;
		next = dnext;
	}
	nd = &ps->nodes[idx];
	if (nd->nchildren == 0) {
		nd->rt = RT_TEXT_PLAIN;
		nd->multipart = false;
		nd->text = true;
		nd->lines = count_lines(ps->msg + body, end - body);
	}
}

static int64_t parse_entity(struct parser *ps, size_t start, size_t end, unsigned depth,
			    bool in_digest, bool msgroot)
{
	int64_t idx = node_new(ps);
	if (idx < 0)
		return -1;
	const char *p = ps->msg;
	size_t hend = start;
	if (start < end && (p[start] == '\n' || p[start] == '\r' || starts_with_field(p, start, end)))
		hend = find_header_end(p, start, end);
	struct node *nd = &ps->nodes[idx];
	nd->header_off = (uint32_t)start;
	nd->header_len = (uint32_t)(hend - start);
	nd->body_off = (uint32_t)hend;
	nd->body_len = (uint32_t)(end - hend);
	nd->msgroot = msgroot;

	/* Content-* fields: the first occurrence of each counts. */
	struct str header = str_make(p + start, hend - start);
	size_t pos = 0;
	struct str name, value;
	nd->ctype = nd->cte_value = nd->id = nd->desc = STR_NULL;
	nd->disp = nd->lang = nd->loc = nd->md5 = STR_NULL;
	while (mime_header_next(header, &pos, &name, &value, NULL) > 0) {
		if (name.len < 10 || !str_has_prefix_nocase(name, "content-"))
			continue;
		struct str *slot = NULL;
		if (field_is(name, "type"))
			slot = &nd->ctype;
		else if (field_is(name, "transfer-encoding"))
			slot = &nd->cte_value;
		else if (field_is(name, "id"))
			slot = &nd->id;
		else if (field_is(name, "description"))
			slot = &nd->desc;
		else if (field_is(name, "disposition"))
			slot = &nd->disp;
		else if (field_is(name, "language"))
			slot = &nd->lang;
		else if (field_is(name, "location"))
			slot = &nd->loc;
		else if (field_is(name, "md5"))
			slot = &nd->md5;
		if (slot != NULL && slot->p == NULL)
			*slot = value;
	}
	nd->cte = nd->cte_value.p ? mime_cte_parse(nd->cte_value) : MIME_CTE_7BIT;
	if (nd->disp.p != NULL) {
		struct str t, st;
		mime_parse_params(nd->disp, false, &t, &st, NULL, 0);
		nd->attachment = str_eq_nocase(t, STR_LIT("attachment"));
	}
	nd->rt = in_digest ? RT_MESSAGE_RFC822 : RT_TEXT_PLAIN;
	if (nd->ctype.p != NULL) {
		struct str t, st;
		mime_parse_params(nd->ctype, true, &t, &st, NULL, 0);
		if (t.len > 0 && st.len > 0) {
			/* RFC 2045 5.2: only a valid Content-Type replaces the
			 * default. */
			nd->rt = RT_AS_WRITTEN;
			nd->type = t;
			nd->subtype = st;
		}
	}
	bool is_multipart = false, is_message = false;
	if (nd->rt == RT_AS_WRITTEN) {
		is_multipart = str_eq_nocase(nd->type, STR_LIT("multipart"));
		is_message = str_eq_nocase(nd->type, STR_LIT("message")) &&
			     str_eq_nocase(nd->subtype, STR_LIT("rfc822"));
		nd->text = str_eq_nocase(nd->type, STR_LIT("text"));
	} else {
		is_message = nd->rt == RT_MESSAGE_RFC822;
		nd->text = nd->rt == RT_TEXT_PLAIN;
	}
	if (is_multipart) {
		if (depth >= MIME_MAX_DEPTH) {
			nd->rt = RT_TEXT_PLAIN;
			nd->text = true;
		} else {
			nd->multipart = true;
			bool digest = str_eq_nocase(nd->subtype, STR_LIT("digest"));
			parse_multipart(ps, (size_t)idx, depth, digest);
			return ps->oom ? -1 : idx;
		}
	} else if (is_message) {
		/* An encapsulated message must be in an identity encoding
		 * (RFC 2046 5.2.1); otherwise, or too deep, it is opaque. */
		bool identity = nd->cte == MIME_CTE_7BIT || nd->cte == MIME_CTE_8BIT ||
				nd->cte == MIME_CTE_BINARY;
		nd->lines = count_lines(p + hend, end - hend);
		if (!identity || depth >= MIME_MAX_DEPTH || ps->n >= MIME_MAX_PARTS) {
			nd->rt = RT_OCTET_STREAM;
			return idx;
		}
		nd->message = true;
		int64_t child = parse_entity(ps, hend, end, depth + 1, false, true);
		if (child < 0)
			return -1;
		add_child(ps, (size_t)idx, (size_t)child);
		return idx;
	}
	ps->nodes[idx].lines = count_lines(p + hend, end - hend);
	return idx;
}

/* ---- rendering ----------------------------------------------------------- */

struct render {
	struct parser *ps;
	struct buf tmp, tmp2;
};

static int put_nstring(struct render *r, struct buf *out, struct str v)
{
	if (v.p == NULL)
		return buf_append(out, "NIL", 3);
	buf_reset(&r->tmp);
	if (mime_append_unfolded(&r->tmp, mime_trim_lws(v)) < 0)
		return -1;
	return imap_append_string(out, mime_trim_lws(buf_str(&r->tmp)), 0);
}

static int put_params(struct render *r, struct buf *out, struct str value, bool subtype,
		      bool default_charset)
{
	struct mime_param params[MIME_MAX_PARAMS];
	struct str t, st;
	size_t n = 0;
	if (value.p != NULL)
		n = mime_parse_params(value, subtype, &t, &st, params, MIME_MAX_PARAMS);
	return mime_params_write_imap(params, n, default_charset, out, &r->tmp2);
}

static int put_disposition(struct render *r, struct buf *out, struct str disp)
{
	struct mime_param params[MIME_MAX_PARAMS];
	struct str t, st;
	if (disp.p == NULL)
		return buf_append(out, "NIL", 3);
	size_t n = mime_parse_params(disp, false, &t, &st, params, MIME_MAX_PARAMS);
	if (t.len == 0)
		return buf_append(out, "NIL", 3);
	if (buf_append_char(out, '(') < 0 || imap_append_string(out, t, 0) < 0 ||
	    buf_append_char(out, ' ') < 0 ||
	    mime_params_write_imap(params, n, false, out, &r->tmp2) < 0)
		return -1;
	return buf_append_char(out, ')');
}

/* body-fld-lang: NIL or a list of the comma-separated language tags. */
static int put_language(struct render *r, struct buf *out, struct str lang)
{
	if (lang.p == NULL)
		return buf_append(out, "NIL", 3);
	buf_reset(&r->tmp);
	if (mime_append_unfolded(&r->tmp, lang) < 0)
		return -1;
	struct str v = buf_str(&r->tmp);
	size_t start_len = out->len;
	size_t count = 0;
	size_t i = 0;
	if (buf_append_char(out, '(') < 0)
		return -1;
	while (i < v.len) {
		size_t j = i;
		while (j < v.len && v.p[j] != ',')
			j++;
		struct str tag = mime_trim_lws(str_make(v.p + i, j - i));
		/* drop a trailing comment: "en (English)" */
		long paren = str_find_char(tag, '(');
		if (paren >= 0)
			tag = mime_trim_lws(str_make(tag.p, (size_t)paren));
		if (tag.len > 0) {
			if ((count > 0 && buf_append_char(out, ' ') < 0) ||
			    imap_append_string(out, tag, 0) < 0)
				return -1;
			count++;
		}
		i = j + 1;
	}
	if (count == 0) {
		buf_truncate(out, start_len);
		return buf_append(out, "NIL", 3);
	}
	return buf_append_char(out, ')');
}

static int put_type(struct buf *out, const struct node *nd)
{
	switch (nd->rt) {
	case RT_TEXT_PLAIN:
		return buf_append_cstr(out, "\"text\" \"plain\"");
	case RT_OCTET_STREAM:
		return buf_append_cstr(out, "\"application\" \"octet-stream\"");
	case RT_MESSAGE_RFC822:
		return buf_append_cstr(out, "\"message\" \"rfc822\"");
	case RT_AS_WRITTEN:
		break;
	}
	if (imap_append_string(out, nd->type, 0) < 0 || buf_append_char(out, ' ') < 0)
		return -1;
	return imap_append_string(out, nd->subtype, 0);
}

static int put_cte(struct render *r, struct buf *out, const struct node *nd)
{
	if (nd->cte_value.p == NULL)
		return buf_append_cstr(out, "\"7BIT\"");
	struct str v = mime_trim_lws(nd->cte_value);
	size_t k = 0;
	while (k < v.len && !mime_is_wsp(v.p[k]) && v.p[k] != '(' && v.p[k] != ';' &&
	       v.p[k] != '\r' && v.p[k] != '\n')
		k++;
	if (k == 0)
		return buf_append_cstr(out, "\"7BIT\"");
	return put_nstring(r, out, str_make(v.p, k));
}

static int render_body(struct render *r, struct buf *out, size_t idx, bool extended)
{
	const struct node *nd = &r->ps->nodes[idx];
	const char *msg = r->ps->msg;
	if (buf_append_char(out, '(') < 0)
		return -1;
	if (nd->multipart) {
		/* body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart] */
		for (uint32_t c = nd->first_child, k = 0; k < nd->nchildren; k++) {
			if (render_body(r, out, c, extended) < 0)
				return -1;
			nd = &r->ps->nodes[idx];
			c = r->ps->nodes[c].next_sibling;
		}
		if (buf_append_char(out, ' ') < 0 || imap_append_string(out, nd->subtype, 0) < 0)
			return -1;
		if (extended &&
		    (buf_append_char(out, ' ') < 0 || put_params(r, out, nd->ctype, true, false) < 0 ||
		     buf_append_char(out, ' ') < 0 || put_disposition(r, out, nd->disp) < 0 ||
		     buf_append_char(out, ' ') < 0 || put_language(r, out, nd->lang) < 0 ||
		     buf_append_char(out, ' ') < 0 || put_nstring(r, out, nd->loc) < 0))
			return -1;
		return buf_append_char(out, ')');
	}
	/* body-type-1part: type subtype params id desc enc octets ... */
	struct str params = nd->rt == RT_AS_WRITTEN ? nd->ctype : STR_NULL;
	if (put_type(out, nd) < 0 || buf_append_char(out, ' ') < 0 ||
	    put_params(r, out, params, true, nd->text) < 0 || buf_append_char(out, ' ') < 0 ||
	    put_nstring(r, out, nd->id) < 0 || buf_append_char(out, ' ') < 0 ||
	    put_nstring(r, out, nd->desc) < 0 || buf_append_char(out, ' ') < 0 ||
	    put_cte(r, out, nd) < 0 || buf_printf(out, " %u", nd->body_len) < 0)
		return -1;
	if (nd->message) {
		/* body-type-msg: ... SP envelope SP body SP body-fld-lines */
		const struct node *inner = &r->ps->nodes[nd->first_child];
		if (buf_append_char(out, ' ') < 0 ||
		    mime_envelope_build(str_make(msg + inner->header_off, inner->header_len), out,
					&r->tmp) < 0 ||
		    buf_append_char(out, ' ') < 0 ||
		    render_body(r, out, nd->first_child, extended) < 0)
			return -1;
		nd = &r->ps->nodes[idx];
		if (buf_printf(out, " %u", nd->lines) < 0)
			return -1;
	} else if (nd->text) {
		if (buf_printf(out, " %u", nd->lines) < 0)
			return -1;
	}
	if (extended &&
	    (buf_append_char(out, ' ') < 0 || put_nstring(r, out, nd->md5) < 0 ||
	     buf_append_char(out, ' ') < 0 || put_disposition(r, out, nd->disp) < 0 ||
	     buf_append_char(out, ' ') < 0 || put_language(r, out, nd->lang) < 0 ||
	     buf_append_char(out, ' ') < 0 || put_nstring(r, out, nd->loc) < 0))
		return -1;
	return buf_append_char(out, ')');
}

/* ---- blob ---------------------------------------------------------------- */

/* Append s lower-cased (at most 255 octets, unfolded) to the string area;
 * return its offset via rec fields. */
static int put_blob_string(struct buf *strings, size_t base, struct str s, uint8_t *rec_off,
			   uint8_t *rec_len)
{
	size_t off = base + strings->len;
	size_t n = 0;
	if (s.len > 255)
		s.len = 255;
	if (buf_reserve(strings, s.len) < 0)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (c == '\r' || c == '\n' || c == '\0')
			continue;
		strings->data[strings->len + n++] = mime_ascii_lower(c);
	}
	strings->len += n;
	strings->data[strings->len] = '\0';
	mime_put_u32(rec_off, (uint32_t)off);
	mime_put_u32(rec_len, (uint32_t)n);
	return 1;
}

static struct str node_charset(const struct node *nd, struct buf *tmp)
{
	struct mime_param params[MIME_MAX_PARAMS];
	struct str t, st;
	buf_reset(tmp);
	if (nd->rt == RT_AS_WRITTEN && nd->ctype.p != NULL) {
		size_t n = mime_parse_params(nd->ctype, true, &t, &st, params, MIME_MAX_PARAMS);
		for (size_t i = 0; i < n; i++) {
			if (str_eq_nocase(params[i].name, STR_LIT("charset"))) {
				if (mime_param_value_append(&params[i], tmp) < 0)
					return STR_LIT("");
				return mime_trim_lws(buf_str(tmp));
			}
		}
	}
	return nd->text ? STR_LIT("us-ascii") : STR_LIT("");
}

static int write_blob(struct render *r, struct buf *out)
{
	struct parser *ps = r->ps;
	struct buf env = BUF_INIT(0), bs = BUF_INIT(0), body = BUF_INIT(0), strings = BUF_INIT(0);
	uint8_t *recs = calloc(ps->n, MIME_REC_WORDS * 4);
	int ret = recs == NULL ? -1 : 1;
	const struct node *root = &ps->nodes[0];
	if (ret > 0 &&
	    (mime_envelope_build(str_make(ps->msg + root->header_off, root->header_len), &env,
				 &r->tmp) < 0 ||
	     render_body(r, &bs, 0, true) < 0 || render_body(r, &body, 0, false) < 0))
		ret = -1;
	size_t strings_base = MIME_BLOB_HDR + ps->n * MIME_REC_WORDS * 4;
	for (size_t i = 0; ret > 0 && i < ps->n; i++) {
		const struct node *nd = &ps->nodes[i];
		uint8_t *rec = recs + i * MIME_REC_WORDS * 4;
#define W(f, v) mime_put_u32(rec + (f) * 4, (uint32_t)(v))
		W(REC_HEADER_OFF, nd->header_off);
		W(REC_HEADER_LEN, nd->header_len);
		W(REC_BODY_OFF, nd->body_off);
		W(REC_BODY_LEN, nd->body_len);
		W(REC_LINES, nd->lines);
		W(REC_FIRST_CHILD, nd->nchildren ? nd->first_child : 0);
		W(REC_NEXT_SIBLING, nd->next_sibling);
		W(REC_NCHILDREN, nd->nchildren);
		unsigned flags = (nd->multipart ? MIME_REC_F_MULTIPART : 0) |
				 (nd->message ? MIME_REC_F_MESSAGE : 0) |
				 (nd->attachment ? MIME_REC_F_ATTACHMENT : 0) |
				 (nd->text ? MIME_REC_F_TEXT : 0);
		W(REC_FLAGS, flags | (unsigned)nd->cte << 8);
#undef W
		struct str type, subtype;
		switch (nd->rt) {
		case RT_TEXT_PLAIN:
			type = STR_LIT("text");
			subtype = STR_LIT("plain");
			break;
		case RT_OCTET_STREAM:
			type = STR_LIT("application");
			subtype = STR_LIT("octet-stream");
			break;
		case RT_MESSAGE_RFC822:
			type = STR_LIT("message");
			subtype = STR_LIT("rfc822");
			break;
		default:
			type = nd->type;
			subtype = nd->subtype;
			break;
		}
		struct str cte = STR_LIT("7bit");
		if (nd->cte_value.p != NULL) {
			struct str v = mime_trim_lws(nd->cte_value);
			size_t k = 0;
			while (k < v.len && !mime_is_wsp(v.p[k]) && v.p[k] != '(' && v.p[k] != ';' &&
			       v.p[k] != '\r' && v.p[k] != '\n')
				k++;
			if (k > 0)
				cte = str_make(v.p, k);
		}
		struct str charset = node_charset(nd, &r->tmp);
		if (put_blob_string(&strings, strings_base, type, rec + REC_TYPE_OFF * 4,
				    rec + REC_TYPE_LEN * 4) < 0 ||
		    put_blob_string(&strings, strings_base, subtype, rec + REC_SUBTYPE_OFF * 4,
				    rec + REC_SUBTYPE_LEN * 4) < 0 ||
		    put_blob_string(&strings, strings_base, charset, rec + REC_CHARSET_OFF * 4,
				    rec + REC_CHARSET_LEN * 4) < 0 ||
		    put_blob_string(&strings, strings_base, cte, rec + REC_CTE_OFF * 4,
				    rec + REC_CTE_LEN * 4) < 0)
			ret = -1;
	}
	if (ret > 0) {
		size_t env_off = strings_base + strings.len;
		size_t bs_off = env_off + env.len;
		size_t body_off = bs_off + bs.len;
		size_t total = body_off + body.len;
		uint8_t hdr[MIME_BLOB_HDR];
		if (total > UINT32_MAX) {
			ret = -1;
		} else {
			hdr[0] = MIME_CACHE_VERSION;
			memcpy(hdr + 1, "rmc", 3);
			mime_put_u32(hdr + 4, (uint32_t)ps->len);
			mime_put_u32(hdr + 8, (uint32_t)ps->n);
			mime_put_u32(hdr + 12, (uint32_t)env_off);
			mime_put_u32(hdr + 16, (uint32_t)env.len);
			mime_put_u32(hdr + 20, (uint32_t)bs_off);
			mime_put_u32(hdr + 24, (uint32_t)bs.len);
			mime_put_u32(hdr + 28, (uint32_t)body_off);
			mime_put_u32(hdr + 32, (uint32_t)body.len);
			size_t before = out->len;
			if (buf_reserve(out, total) < 0 || buf_append(out, hdr, sizeof(hdr)) < 0 ||
			    buf_append(out, recs, ps->n * MIME_REC_WORDS * 4) < 0 ||
			    buf_append_str(out, buf_str(&strings)) < 0 ||
			    buf_append_str(out, buf_str(&env)) < 0 ||
			    buf_append_str(out, buf_str(&bs)) < 0 ||
			    buf_append_str(out, buf_str(&body)) < 0) {
				buf_truncate(out, before);
				ret = -1;
			}
		}
	}
	free(recs);
	buf_free(&env);
	buf_free(&bs);
	buf_free(&body);
	buf_free(&strings);
	return ret;
}

int mime_cache_build(const char *msg, size_t len, struct buf *out)
{
	if (len > MIME_MAX_MESSAGE_SIZE)
		return -1;
	if (msg == NULL)
		msg = "";
	struct parser ps = { msg, len, NULL, 0, 0, false };
	int ret = -1;
	if (parse_entity(&ps, 0, len, 0, false, true) >= 0 && !ps.oom) {
		struct render r = { &ps, BUF_INIT(0), BUF_INIT(0) };
		ret = write_blob(&r, out);
		buf_free(&r.tmp);
		buf_free(&r.tmp2);
	}
	free(ps.nodes);
	return ret;
}
