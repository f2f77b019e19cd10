/* fuzz-http.c - libFuzzer target for the HTTP request parser and the web
 * module's decoders.
 *
 * The input is parsed as a stream of pipelined requests twice: fed whole
 * and fed in pieces whose sizes come from the input itself. Both must give
 * the same sequence of results (request path, body, status on error);
 * every view must lie inside the parser's buffers, and the body must be
 * exactly Content-Length bytes. Each complete request's query, body and
 * Cookie/Accept-Language fields also go through the form, cookie,
 * language and XML decoders, whose outputs must be NUL-terminated within
 * their buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web/http-parser.h"
#include "web/web-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENTS 64

struct event {
	int result;
	unsigned status;
	size_t path_len, body_len;
	uint32_t path_hash, body_hash;
};

static uint32_t hash(struct str s)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < s.len; i++)
		h = (h ^ (unsigned char)s.p[i]) * 16777619u;
	return h;
}

static void check_inside(const struct buf *b, struct str v)
{
	if (v.len == 0)
		return;
	if (b->data == NULL || v.p < b->data || v.p + v.len > b->data + b->len)
		abort();
}

static void decoders(const struct http_parser *p)
{
	const struct http_request *r = http_parser_request(p);
	char out[256];
	static const char *const names[] = { "address", "password", "csrf", "lang", "emailaddress" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (web_form_get(r->body, names[i], out, sizeof(out)) == 1 && strlen(out) >= sizeof(out))
			abort();
		if (web_form_get(r->query, names[i], out, sizeof(out)) == 1 && strlen(out) >= sizeof(out))
			abort();
	}
	if (web_cookie_get(http_request_field(p, "Cookie"), "roost_session", out, sizeof(out)) == 1 &&
	    strlen(out) >= sizeof(out))
		abort();
	enum web_lang l = web_lang_from_accept(http_request_field(p, "Accept-Language"));
	if (l != WEB_LANG_EN && l != WEB_LANG_ZH)
		abort();
	if (web_xml_element_text(r->body, "EMailAddress", out, sizeof(out)) == 1 &&
	    strlen(out) >= sizeof(out))
		abort();
	struct buf esc = BUF_INIT(0);
	if (web_escape(&esc, r->body) < 0 || memchr(esc.data ? esc.data : "", '<', esc.len))
		abort();
	buf_free(&esc);
}

/* Parses the whole input as consecutive requests, feeding at most `step`
 * bytes at a time (0: all). Records one event per request. */
static size_t run(const uint8_t *data, size_t size, size_t step, struct event *ev, bool deep)
{
	struct http_parser p;
	http_parser_init(&p);
	size_t off = 0, n = 0;
	while (n < MAX_EVENTS) {
		int r = 0;
		while (off < size) {
			size_t len = size - off;
			if (step && len > step)
				len = step;
			size_t used = 0;
			r = http_parser_feed(&p, data + off, len, &used);
			if (r < 0)
				break;
			if (used > len)
				abort();
			off += used;
			if (r == 1)
				break;
		}
		if (r == 0)
			break;
		struct event *e = &ev[n++];
		memset(e, 0, sizeof(*e));
		e->result = r;
		if (r < 0) {
			e->status = p.error_status;
			if (p.error_status < 400 || p.error_status > 599 || p.error_reason == NULL)
				abort();
			break;
		}
		const struct http_request *req = http_parser_request(&p);
		check_inside(&p.head, req->method);
		check_inside(&p.head, req->target);
		check_inside(&p.head, req->query);
		check_inside(&p.body, req->body);
		if (req->body.len != req->content_length)
			abort();
		e->path_len = req->path.len;
		e->path_hash = hash(req->path);
		e->body_len = req->body.len;
		e->body_hash = hash(req->body);
		if (deep)
			decoders(&p);
		http_parser_reset(&p);
	}
	http_parser_free(&p);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct event a[MAX_EVENTS], b[MAX_EVENTS];
	size_t step = size ? (size_t)(data[0] % 13) + 1 : 1;
	size_t na = run(data, size, 0, a, true);
	size_t nb = run(data, size, step, b, false);
	if (na != nb || memcmp(a, b, na * sizeof(a[0])) != 0)
		abort();
	return 0;
}
