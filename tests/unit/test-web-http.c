/* test-web-http.c - the HTTP request parser, whole and byte by byte, and
 * its limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "web/http-parser.h"

/* Feeds text in pieces of `step` bytes (0: all at once). Returns the
 * parser's final result; *consumed_r is the total consumed. */
static int feed_steps(struct http_parser *p, const char *text, size_t len, size_t step,
                      size_t *consumed_r)
{
	size_t off = 0;
	int r = 0;
	*consumed_r = 0;
	while (off < len) {
		size_t n = step == 0 || len - off < step ? len - off : step, used = 0;
		r = http_parser_feed(p, text + off, n, &used);
		if (r != 0) {
			*consumed_r = off + used;
			return r;
		}
		CHECK(used == n);
		off += n;
	}
	*consumed_r = off;
	return r;
}

/* Parses with every way of splitting that matters (whole, one byte at a
 * time, 3, 7) and checks they agree; the last parse stays in p. Returns
 * the result, with the error status in *status_r. */
static int parse_all_ways(struct http_parser *p, const char *text, unsigned *status_r,
                          size_t *consumed_r)
{
	static const size_t steps[] = {0, 1, 3, 7};
	int first = 0;
	unsigned first_status = 0;
	size_t first_consumed = 0;
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		http_parser_reset(p);
		size_t consumed;
		int r = feed_steps(p, text, strlen(text), steps[k], &consumed);
		if (k == 0) {
			first = r;
			first_status = p->error_status;
			first_consumed = consumed;
		} else {
			CHECK(r == first);
			CHECK(p->error_status == first_status);
			if (r == 1)
				CHECK(consumed == first_consumed);
		}
	}
	*status_r = first_status;
	*consumed_r = first_consumed;
	return first;
}

static bool str_is(struct str s, const char *c)
{
	return s.len == strlen(c) && memcmp(s.p, c, s.len) == 0;
}

TEST(simple_get)
{
	struct http_parser p;
	http_parser_init(&p);
	unsigned st;
	size_t used;
	const char *req = "GET /mail/config-v1.1.xml?emailaddress=a%40b.test HTTP/1.1\r\n"
	                  "Host: example.test\r\nAccept-Language: zh-CN,zh;q=0.9\r\n\r\n";
	CHECK(parse_all_ways(&p, req, &st, &used) == 1);
	CHECK(used == strlen(req));
	const struct http_request *r = http_parser_request(&p);
	CHECK(str_is(r->method, "GET"));
	CHECK(str_is(r->path, "/mail/config-v1.1.xml"));
	CHECK(str_is(r->query, "emailaddress=a%40b.test"));
	CHECK(r->version_minor == 1);
	CHECK(r->keep_alive);
	CHECK(r->body.len == 0);
	CHECK(str_is(http_request_field(&p, "host"), "example.test"));
	CHECK(str_is(http_request_field(&p, "ACCEPT-LANGUAGE"), "zh-CN,zh;q=0.9"));
	CHECK(http_request_field(&p, "Cookie").p == NULL);
	http_parser_free(&p);
}

TEST(post_with_body_and_pipelining)
{
	struct http_parser p;
	http_parser_init(&p);
	unsigned st;
	size_t used;
	const char *req = "POST /login HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n"
	                  "Content-Type: application/x-www-form-urlencoded\r\n\r\n"
	                  "a=1&b=2&c=3GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	CHECK(parse_all_ways(&p, req, &st, &used) == 1);
	const struct http_request *r = http_parser_request(&p);
	CHECK(str_is(r->body, "a=1&b=2&c=3"));
	CHECK(r->content_length == 11);
	CHECK(str_is(str_make(req + used, 3), "GET"));
	/* Feeding more after completion consumes nothing. */
	size_t more;
	CHECK(http_parser_feed(&p, "x", 1, &more) == 1 && more == 0);
	/* The rest is the next request. */
	http_parser_reset(&p);
	CHECK(http_parser_feed(&p, req + used, strlen(req + used), &more) == 1);
	CHECK(str_is(http_parser_request(&p)->path, "/"));
	http_parser_free(&p);
}

TEST(line_ends_and_leading_empty_lines)
{
	struct http_parser p;
	http_parser_init(&p);
	unsigned st;
	size_t used;
	CHECK(parse_all_ways(&p, "\r\n\nGET / HTTP/1.1\nHost: h\n\n", &st, &used) == 1);
	CHECK(parse_all_ways(&p, "GET / HTTP/1.1\r\nHost: h\r\rx\r\n\r\n", &st, &used) == -1);
	CHECK(st == 400);
	char many[64] = "";
	for (int i = 0; i < 12; i++)
		strcat(many, "\r\n");
	strcat(many, "GET / HTTP/1.1\r\n\r\n");
	CHECK(parse_all_ways(&p, many, &st, &used) == -1 && st == 400);
	http_parser_free(&p);
}

TEST(versions_and_keep_alive)
{
	struct http_parser p;
	http_parser_init(&p);
	unsigned st;
	size_t used;
	CHECK(parse_all_ways(&p, "GET / HTTP/1.0\r\n\r\n", &st, &used) == 1);
	CHECK(http_parser_request(&p)->version_minor == 0);
	CHECK(!http_parser_request(&p)->keep_alive);
	CHECK(parse_all_ways(&p, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &st, &used) ==
	      1);
	CHECK(http_parser_request(&p)->keep_alive);
	CHECK(parse_all_ways(&p, "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n", &st,
	                     &used) == 1);
	CHECK(!http_parser_request(&p)->keep_alive);
	CHECK(parse_all_ways(&p, "GET / HTTP/1.9\r\nHost: h\r\n\r\n", &st, &used) == 1);
	CHECK(http_parser_request(&p)->version_minor == 1);
	CHECK(parse_all_ways(&p, "GET / HTTP/2.0\r\nHost: h\r\n\r\n", &st, &used) == -1 &&
	      st == 505);
	CHECK(parse_all_ways(&p, "GET / HTTP/1.1x\r\n\r\n", &st, &used) == -1 && st == 400);
	CHECK(parse_all_ways(&p, "GET / http/1.1\r\n\r\n", &st, &used) == -1 && st == 400);
	/* 1.1 needs exactly one Host. */
	CHECK(parse_all_ways(&p, "GET / HTTP/1.1\r\n\r\n", &st, &used) == -1 && st == 400);
	CHECK(parse_all_ways(&p, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &st, &used) ==
	          -1 &&
	      st == 400);
	http_parser_free(&p);
}

TEST(targets)
{
	struct http_parser p;
	http_parser_init(&p);
	unsigned st;
	size_t used;
	CHECK(parse_all_ways(&p, "GET http://example.test/a/b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", &st,
	                     &used) == 1);
	CHECK(str_is(http_parser_request(&p)->path, "/a/b"));
	CHECK(str_is(http_parser_request(&p)->query, "x=1"));
	CHECK(parse_all_ways(&p, "GET HTTPS://example.test HTTP/1.1\r\nHost: h\r\n\r\n", &st,
	                     &used) == 1);
	CHECK(str_is(http_parser_request(&p)->path, "/"));
	CHECK(parse_all_ways(&p, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &st, &used) == 1);
	CHECK(parse_all_ways(&p, "GET * HTTP/1.1\r\nHost: h\r\n\r\n", &st, &used) == -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p, "GET foo HTTP/1.1\r\nHost: h\r\n\r\n", &st, &used) == -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p, "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", &st, &used) == -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p, "GET /\xe4\xb8\xad HTTP/1.1\r\nHost: h\r\n\r\n", &st, &used) ==
	          -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p, "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", &st, &used) == -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p, "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", &st, &used) == -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p, "GET /#frag HTTP/1.1\r\nHost: h\r\n\r\n", &st, &used) == 1);
	http_parser_free(&p);
}

TEST(fields)
{
	struct http_parser p;
	http_parser_init(&p);
	unsigned st;
	size_t used;
	CHECK(parse_all_ways(&p, "GET / HTTP/1.1\r\nHost:h\r\nX-A: \t v a \t\r\nX-E:\r\n\r\n", &st,
	                     &used) == 1);
	CHECK(str_is(http_request_field(&p, "x-a"), "v a"));
	CHECK(str_is(http_request_field(&p, "x-e"), ""));
	CHECK(http_request_field(&p, "x-e").p != NULL);
	/* Space before the colon (RFC 9112 5.1), obs-fold (5.2), no colon,
	 * control bytes. */
	CHECK(parse_all_ways(&p, "GET / HTTP/1.1\r\nHost : h\r\n\r\n", &st, &used) == -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p, "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", &st, &used) ==
	          -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p, "GET / HTTP/1.1\r\nHost h\r\n\r\n", &st, &used) == -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p, "GET / HTTP/1.1\r\nHost: h\x01\r\n\r\n", &st, &used) == -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p, "GET / HTTP/1.1\r\n: h\r\n\r\n", &st, &used) == -1 && st == 400);
	/* obs-text is allowed in values. */
	CHECK(parse_all_ways(&p, "GET / HTTP/1.1\r\nHost: h\r\nX: \xe4\xb8\xad\r\n\r\n", &st,
	                     &used) == 1);
	http_parser_free(&p);
}

TEST(bodies)
{
	struct http_parser p;
	http_parser_init(&p);
	unsigned st;
	size_t used;
	CHECK(parse_all_ways(&p, "POST / HTTP/1.1\r\nHost: h\r\n\r\n", &st, &used) == -1 &&
	      st == 411);
	CHECK(parse_all_ways(&p, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
	                     &st, &used) == -1 &&
	      st == 411);
	CHECK(parse_all_ways(&p,
	                     "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	                     "Content-Length: 3\r\n\r\nabc",
	                     &st, &used) == -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p,
	                     "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
	                     "Content-Length: 4\r\n\r\nabcd",
	                     &st, &used) == -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p,
	                     "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
	                     "Content-Length: 3\r\n\r\nabc",
	                     &st, &used) == 1);
	CHECK(parse_all_ways(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -3\r\n\r\n", &st,
	                     &used) == -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3 4\r\n\r\n", &st,
	                     &used) == -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p,
	                     "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: "
	                     "99999999999999999999999\r\n\r\n",
	                     &st, &used) == -1 &&
	      st == 400);
	CHECK(parse_all_ways(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 16385\r\n\r\n", &st,
	                     &used) == -1 &&
	      st == 413);
	CHECK(parse_all_ways(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &st,
	                     &used) == 1);
	/* An incomplete body needs more. */
	CHECK(parse_all_ways(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab", &st,
	                     &used) == 0);
	/* A GET may carry a Content-Length body too; it is read. */
	CHECK(parse_all_ways(&p, "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nokGET", &st,
	                     &used) == 1);
	CHECK(str_is(http_parser_request(&p)->body, "ok"));
	http_parser_free(&p);
}

TEST(expect)
{
	struct http_parser p;
	http_parser_init(&p);
	unsigned st;
	size_t used;
	/* Head complete, body pending: the flag tells the connection to send
	 * 100 Continue. */
	CHECK(parse_all_ways(&p,
	                     "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
	                     "Content-Length: 2\r\n\r\n",
	                     &st, &used) == 0);
	CHECK(p.state == HTTP_PS_BODY && http_parser_request(&p)->expect_continue);
	CHECK(http_parser_feed(&p, "ok", 2, &used) == 1);
	/* Without a body there is nothing to continue. */
	CHECK(parse_all_ways(&p, "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", &st,
	                     &used) == 1);
	CHECK(!http_parser_request(&p)->expect_continue);
	/* HTTP/1.0 ignores it (RFC 9110 10.1.1). */
	CHECK(parse_all_ways(&p,
	                     "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
	                     &st, &used) == 0);
	CHECK(!http_parser_request(&p)->expect_continue);
	CHECK(parse_all_ways(&p,
	                     "POST / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\n"
	                     "Content-Length: 1\r\n\r\nx",
	                     &st, &used) == -1 &&
	      st == 417);
	http_parser_free(&p);
}

TEST(body_at_the_limit)
{
	struct http_parser p;
	http_parser_init(&p);
	size_t n = 200 + HTTP_BODY_MAX;
	char *req = malloc(n);
	int h = snprintf(req, n, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n",
	                 HTTP_BODY_MAX);
	memset(req + h, 'x', HTTP_BODY_MAX);
	size_t used;
	CHECK(feed_steps(&p, req, (size_t)h + HTTP_BODY_MAX, 1000, &used) == 1);
	CHECK(http_parser_request(&p)->body.len == HTTP_BODY_MAX);
	free(req);
	http_parser_free(&p);
}

TEST(head_limits)
{
	struct http_parser p;
	http_parser_init(&p);
	size_t cap = 4 * HTTP_HEAD_MAX;
	char *req = malloc(cap);
	size_t used;
	unsigned st;

	/* A target of HTTP_LINE_MAX bytes: 414. */
	size_t o = (size_t)snprintf(req, cap, "GET /");
	memset(req + o, 'a', HTTP_LINE_MAX);
	o += HTTP_LINE_MAX;
	o += (size_t)snprintf(req + o, cap - o, " HTTP/1.1\r\nHost: h\r\n\r\n");
	http_parser_reset(&p);
	CHECK(feed_steps(&p, req, o, 1, &used) == -1);
	CHECK(p.error_status == 414);

	/* Just under the line limit is fine. */
	o = (size_t)snprintf(req, cap, "GET /");
	memset(req + o, 'a', HTTP_LINE_MAX - 20);
	o += HTTP_LINE_MAX - 20;
	o += (size_t)snprintf(req + o, cap - o, " HTTP/1.1\r\nHost: h\r\n\r\n");
	http_parser_reset(&p);
	CHECK(feed_steps(&p, req, o, 0, &used) == 1);

	/* One long field: 431. */
	o = (size_t)snprintf(req, cap, "GET / HTTP/1.1\r\nHost: h\r\nCookie: ");
	memset(req + o, 'c', HTTP_LINE_MAX);
	o += HTTP_LINE_MAX;
	o += (size_t)snprintf(req + o, cap - o, "\r\n\r\n");
	http_parser_reset(&p);
	CHECK(feed_steps(&p, req, o, 0, &used) == -1);
	CHECK(p.error_status == 431);

	/* Too many fields: 431. */
	o = (size_t)snprintf(req, cap, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 0; i < HTTP_FIELDS_MAX; i++)
		o += (size_t)snprintf(req + o, cap - o, "X-%d: y\r\n", i);
	o += (size_t)snprintf(req + o, cap - o, "\r\n");
	req[o] = '\0';
	CHECK(parse_all_ways(&p, req, &st, &used) == -1 && st == 431);

	/* A head over HTTP_HEAD_MAX made of allowed lines: 431. */
	o = (size_t)snprintf(req, cap, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 0; i < 5; i++) {
		o += (size_t)snprintf(req + o, cap - o, "X-%d: ", i);
		memset(req + o, 'v', HTTP_LINE_MAX / 2);
		o += HTTP_LINE_MAX / 2;
		o += (size_t)snprintf(req + o, cap - o, "\r\n");
	}
	o += (size_t)snprintf(req + o, cap - o, "\r\n");
	http_parser_reset(&p);
	CHECK(feed_steps(&p, req, o, 0, &used) == -1);
	CHECK(p.error_status == 431);

	/* After an error the parser stays dead until reset. */
	CHECK(http_parser_feed(&p, "GET", 3, &used) == -1);
	http_parser_reset(&p);
	CHECK(http_parser_feed(&p, "GET / HTTP/1.0\r\n\r\n", 18, &used) == 1);
	free(req);
	http_parser_free(&p);
}

TEST(status_texts)
{
	CHECK_STREQ(http_status_text(411), "Length Required");
	CHECK_STREQ(http_status_text(431), "Request Header Fields Too Large");
	CHECK_STREQ(http_status_text(599), "Unknown");
}

UNIT_MAIN()
