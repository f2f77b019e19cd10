/* http-parser.c - the HTTP/1.1 request parser (see http-parser.h).
 *
 * The head (request line and fields) is taken one byte at a time into
 * p->head, without its CR LF line ends, so a request split anywhere parses
 * the same. Fields are remembered as offsets into p->head (the buffer may
 * move while it grows); the views in struct http_request are made once the
 * whole head is there. The body is copied into p->body in as large pieces
 * as the input allows. */
#include "http-parser.h"

#include <string.h>

/* RFC 9112 2.2: a server SHOULD ignore at least one empty line before the
 * request line. A few are tolerated; an endless stream of them is not. */
#define HTTP_MAX_LEADING_EMPTY 8
#define HTTP_METHOD_MAX        32

void http_parser_init(struct http_parser *p)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->head, HTTP_HEAD_MAX + 1);
	buf_init(&p->body, HTTP_BODY_MAX + 1);
}

void http_parser_reset(struct http_parser *p)
{
	buf_free(&p->head);
	buf_free(&p->body);
	struct buf head = p->head, body = p->body;
	memset(p, 0, sizeof(*p));
	p->head = head;
	p->body = body;
}

void http_parser_free(struct http_parser *p)
{
	buf_free(&p->head);
	buf_free(&p->body);
	memset(p, 0, sizeof(*p));
}

static int fail(struct http_parser *p, unsigned status, const char *reason)
{
	p->state = HTTP_PS_ERROR;
	p->error_status = status;
	p->error_reason = reason;
	return -1;
}

/* RFC 9110 5.6.2: tchar. */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_token(struct str s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!is_tchar((unsigned char)s.p[i]))
			return false;
	return true;
}

/* Does a comma-separated token list (Connection) contain `token`? */
static bool list_has_token(struct str list, const char *token)
{
	size_t i = 0;
	while (i < list.len) {
		size_t j = i;
		while (j < list.len && list.p[j] != ',')
			j++;
		if (str_eq_cstr_nocase(str_trim(str_sub(list, i, j - i)), token))
			return true;
		i = j + 1;
	}
	return false;
}

/* The request line, without its line end: "METHOD SP target SP HTTP/1.x"
 * (RFC 9112 3). */
static int parse_request_line(struct http_parser *p, size_t off, size_t len)
{
	const char *line = p->head.data + off;
	struct str l = str_make(line, len);
	long sp1 = str_find_char(l, ' ');
	if (sp1 <= 0)
		return fail(p, 400, "malformed request line");
	struct str method = str_sub(l, 0, (size_t)sp1);
	struct str rest = str_sub(l, (size_t)sp1 + 1, len - (size_t)sp1 - 1);
	long sp2 = str_find_char(rest, ' ');
	if (sp2 <= 0)
		return fail(p, 400, "malformed request line");
	struct str target = str_sub(rest, 0, (size_t)sp2);
	struct str version = str_sub(rest, (size_t)sp2 + 1, rest.len - (size_t)sp2 - 1);

	if (!is_token(method) || method.len > HTTP_METHOD_MAX)
		return fail(p, 400, "malformed method");
	/* RFC 3986: a target is visible ASCII; a raw space or a byte >= 0x80
	 * means a broken client (browsers percent-encode them). */
	for (size_t i = 0; i < target.len; i++) {
		unsigned char c = (unsigned char)target.p[i];
		if (c <= 0x20 || c >= 0x7f)
			return fail(p, 400, "malformed request target");
	}
	/* "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 2.3). */
	if (version.len != 8 || memcmp(version.p, "HTTP/", 5) != 0 || version.p[6] != '.' ||
	    version.p[5] < '0' || version.p[5] > '9' || version.p[7] < '0' || version.p[7] > '9')
		return fail(p, 400, "malformed HTTP version");
	if (version.p[5] != '1')
		return fail(p, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
	/* RFC 9110 2.5: a higher minor version is answered as the highest
	 * this server speaks. */
	p->req.version_minor = version.p[7] == '0' ? 0 : 1;

	/* The path part of the target (RFC 9112 3.2). */
	struct str path = target;
	if (target.p[0] == '/') {
		/* origin-form */
	} else if (str_eq_cstr_nocase(target, "*")) {
		if (!str_eq(method, STR_LIT("OPTIONS")))
			return fail(p, 400, "'*' is only for OPTIONS");
	} else if (str_has_prefix_nocase(target, "http://") ||
	           str_has_prefix_nocase(target, "https://")) {
		/* absolute-form: the server MUST accept it (3.2.2); only its
		 * path is used. */
		size_t skip = target.p[4] == ':' ? 7 : 8;
		struct str after = str_sub(target, skip, target.len - skip);
		long slash = str_find_char(after, '/');
		if (slash < 0)
			path = STR_LIT("/");
		else
			path = str_sub(after, (size_t)slash, after.len - (size_t)slash);
	} else {
		return fail(p, 400, "malformed request target");
	}

	/* Offsets, since head may still move (see finish()). */
	p->method_off = (uint32_t)(method.p - p->head.data);
	p->target_off = (uint32_t)(target.p - p->head.data);
	bool in_head = path.p >= p->head.data && path.p < p->head.data + p->head.len;
	p->path_off = in_head ? (uint32_t)(path.p - p->head.data) : UINT32_MAX;
	p->req.method.len = method.len;
	p->req.target.len = target.len;
	p->req.path.len = path.len;
	return 1;
}

/* One field line (RFC 9112 5): "name:" OWS value OWS. */
static int parse_field_line(struct http_parser *p, size_t off, size_t len)
{
	const char *line = p->head.data + off;
	/* RFC 9112 5.2: obs-fold is rejected with 400. */
	if (line[0] == ' ' || line[0] == '\t')
		return fail(p, 400, "folded header lines are not accepted");
	struct str l = str_make(line, len);
	long colon = str_find_char(l, ':');
	if (colon <= 0)
		return fail(p, 400, "malformed header field");
	/* RFC 9112 5.1: whitespace between name and colon MUST be rejected
	 * with 400; is_token refuses it with every other non-tchar. */
	struct str name = str_sub(l, 0, (size_t)colon);
	if (!is_token(name))
		return fail(p, 400, "malformed header field name");
	size_t vs = (size_t)colon + 1, ve = len;
	while (vs < ve && (line[vs] == ' ' || line[vs] == '\t'))
		vs++;
	while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t'))
		ve--;
	/* RFC 9110 5.5: field values are VCHAR, SP, HTAB and obs-text; a
	 * NUL or other control byte is refused. */
	for (size_t i = vs; i < ve; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(p, 400, "control character in a header field");
	}
	if (p->req.n_fields >= HTTP_FIELDS_MAX)
		return fail(p, 431, "too many header fields");
	struct http_field *f = &p->req.fields[p->req.n_fields++];
	f->name_off = (uint32_t)off;
	f->name_len = (uint32_t)name.len;
	f->value_off = (uint32_t)(off + vs);
	f->value_len = (uint32_t)(ve - vs);
	struct str value = str_make(line + vs, ve - vs);

	if (str_eq_cstr_nocase(name, "Content-Length")) {
		/* RFC 9112 6.3 (5): an invalid or conflicting Content-Length is
		 * an unrecoverable error. A repeated identical value is fine. */
		uint64_t n;
		if (value.len == 0 || value.len > 19 || str_to_u64(value, &n) < 0)
			return fail(p, 400, "invalid Content-Length");
		if (p->cl_count > 0 && n != p->req.content_length)
			return fail(p, 400, "conflicting Content-Length fields");
		p->cl_count++;
		p->req.content_length = n;
		p->req.has_content_length = true;
	} else if (str_eq_cstr_nocase(name, "Transfer-Encoding")) {
		p->has_te = true;
	}
	return 1;
}

/* Turns the offsets into views, once the head will not move any more. */
static void make_views(struct http_parser *p)
{
	struct http_request *r = &p->req;
	const char *h = p->head.data;
	r->method.p = h + p->method_off;
	r->target.p = h + p->target_off;
	r->path.p = p->path_off == UINT32_MAX ? "/" : h + p->path_off;
	long q = str_find_char(r->path, '?');
	if (q >= 0) {
		r->query = str_sub(r->path, (size_t)q + 1, r->path.len - (size_t)q - 1);
		r->path.len = (size_t)q;
	} else {
		r->query = str_make(r->path.p + r->path.len, 0);
	}
	/* A fragment is never sent by a conforming client; drop it. */
	long hash = str_find_char(r->query, '#');
	if (hash >= 0)
		r->query.len = (size_t)hash;
	r->body = str_make(p->body.data ? p->body.data : "", p->body.len);
}

/* The empty line ended the head: decide about the body (RFC 9112 6). */
static int end_of_head(struct http_parser *p)
{
	struct http_request *r = &p->req;
	make_views(p);
	/* RFC 9112 3.2: a 1.1 request without Host, or with more than one,
	 * gets 400. */
	unsigned hosts = http_request_field_count(p, "Host");
	if (hosts > 1 || (hosts == 0 && r->version_minor == 1))
		return fail(p, 400, "a request needs exactly one Host header field");
	struct str conn = http_request_field(p, "Connection");
	if (r->version_minor == 1)
		r->keep_alive = conn.p == NULL || !list_has_token(conn, "close");
	else
		r->keep_alive = conn.p != NULL && list_has_token(conn, "keep-alive");
	/* RFC 9112 6.1: Transfer-Encoding and Content-Length together is a
	 * smuggling attempt; a server MAY reject it, and this one does. */
	if (p->has_te && p->cl_count > 0)
		return fail(p, 400, "both Transfer-Encoding and Content-Length");
	if (p->has_te)
		return fail(p, 411, "chunked request bodies are not accepted; send Content-Length");
	bool wants_body = str_eq(r->method, STR_LIT("POST")) || str_eq(r->method, STR_LIT("PUT"));
	if (wants_body && p->cl_count == 0)
		return fail(p, 411, "a request body needs a Content-Length");
	if (r->content_length > HTTP_BODY_MAX)
		return fail(p, 413, "the request body is too large");
	struct str expect = http_request_field(p, "Expect");
	if (expect.p != NULL && !str_eq_cstr_nocase(expect, "100-continue"))
		return fail(p, 417, "only the 100-continue expectation is supported");
	if (r->content_length == 0) {
		p->state = HTTP_PS_DONE;
		return 1;
	}
	/* RFC 9110 10.1.1: 100-continue means nothing from a 1.0 client. */
	r->expect_continue = expect.p != NULL && r->version_minor == 1;
	p->state = HTTP_PS_BODY;
	return 0;
}

/* A complete line of the head, at head[off, off+len). */
static int head_line(struct http_parser *p, size_t off, size_t len)
{
	if (p->state == HTTP_PS_REQUEST_LINE) {
		if (len == 0) {
			/* RFC 9112 2.2: skip empty lines before the request. */
			if (++p->empty_lines > HTTP_MAX_LEADING_EMPTY)
				return fail(p, 400, "empty lines instead of a request");
			return 0;
		}
		if (parse_request_line(p, off, len) < 0)
			return -1;
		p->state = HTTP_PS_FIELDS;
		return 0;
	}
	if (len == 0)
		return end_of_head(p);
	return parse_field_line(p, off, len) < 0 ? -1 : 0;
}

int http_parser_feed(struct http_parser *p, const void *data, size_t len, size_t *consumed_r)
{
	const unsigned char *in = data;
	size_t i = 0;
	*consumed_r = 0;
	if (p->state == HTTP_PS_DONE)
		return 1;
	if (p->state == HTTP_PS_ERROR)
		return -1;

	while (i < len && (p->state == HTTP_PS_REQUEST_LINE || p->state == HTTP_PS_FIELDS)) {
		unsigned char c = in[i++];
		if (c == '\n') {
			/* CRLF, or a bare LF, which RFC 9112 2.2 lets a recipient
			 * accept as a line end. */
			size_t off = p->line_start, n = p->head.len - off;
			p->saw_cr = false;
			int r = head_line(p, off, n);
			p->line_start = p->head.len;
			if (r < 0)
				return -1;
			if (r > 0) {
				*consumed_r = i;
				return 1;
			}
			continue;
		}
		/* RFC 9112 2.2: a bare CR is invalid. */
		if (p->saw_cr)
			return fail(p, 400, "bare CR in the request head");
		if (c == '\r') {
			p->saw_cr = true;
			continue;
		}
		if (p->head.len - p->line_start >= HTTP_LINE_MAX)
			return p->state == HTTP_PS_REQUEST_LINE
			           ? fail(p, 414, "the request line is too long")
			           : fail(p, 431, "a header field is too long");
		if (p->head.len >= HTTP_HEAD_MAX)
			return fail(p, 431, "the request header is too large");
		if (buf_append_char(&p->head, (char)c) < 0)
			return fail(p, 503, "out of memory");
	}

	if (p->state == HTTP_PS_BODY && i < len) {
		size_t want = (size_t)p->req.content_length - p->body.len;
		size_t n = len - i < want ? len - i : want;
		if (buf_append(&p->body, in + i, n) < 0)
			return fail(p, 503, "out of memory");
		i += n;
		if (p->body.len == p->req.content_length) {
			p->req.body = str_make(p->body.data, p->body.len);
			p->state = HTTP_PS_DONE;
			*consumed_r = i;
			return 1;
		}
	}
	*consumed_r = i;
	return 0;
}

const struct http_request *http_parser_request(const struct http_parser *p)
{
	return &p->req;
}

struct str http_request_field(const struct http_parser *p, const char *name)
{
	for (unsigned i = 0; i < p->req.n_fields; i++) {
		const struct http_field *f = &p->req.fields[i];
		if (str_eq_cstr_nocase(str_make(p->head.data + f->name_off, f->name_len), name))
			return str_make(p->head.data + f->value_off, f->value_len);
	}
	return STR_NULL;
}

unsigned http_request_field_count(const struct http_parser *p, const char *name)
{
	unsigned n = 0;
	for (unsigned i = 0; i < p->req.n_fields; i++) {
		const struct http_field *f = &p->req.fields[i];
		if (str_eq_cstr_nocase(str_make(p->head.data + f->name_off, f->name_len), name))
			n++;
	}
	return n;
}

const char *http_status_text(unsigned status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 417:
		return "Expectation Failed";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}
