/* http-parser.h - an HTTP/1.1 request parser without I/O.
 *
 * Feed it the bytes of a connection as they arrive, in pieces of any size
 * (one byte at a time parses the same as the whole request at once). It
 * returns "need more", "one request complete" or "error with a status
 * code"; its progress lives in struct http_parser. It does no I/O and
 * allocates only its own two bounded buffers (the head and the body).
 *
 * What it accepts (RFC 9112):
 *   - a request line "METHOD SP target SP HTTP/1.x" (origin-form "/..."
 *     or absolute-form "http://host/...", reduced to its path; "*" only
 *     for OPTIONS), empty lines before it are skipped (2.2);
 *   - header fields "name: value" (no whitespace before the colon, no
 *     obs-fold, no bare CR, no control bytes other than HTAB in values);
 *   - a body only with Content-Length (at most HTTP_BODY_MAX bytes).
 *     Transfer-Encoding (chunked uploads) is refused with 411 Length
 *     Required, as is a POST or PUT without Content-Length.
 *
 * Limits and their answers:
 *   request line longer than HTTP_LINE_MAX   414 (target) / 400
 *   head longer than HTTP_HEAD_MAX, or more
 *   than HTTP_FIELDS_MAX fields, or a field
 *   line longer than HTTP_LINE_MAX           431
 *   body longer than HTTP_BODY_MAX           413
 *   HTTP version other than 1.0/1.1          505
 *   an Expect other than 100-continue        417
 *   anything malformed                       400
 *
 * After an error the parser is dead (http_parser_reset to reuse it): the
 * connection should answer with the status and close, since it no longer
 * knows where the next request starts.
 *
 * Return convention: -1 error, 0 need more, 1 request complete. */
#ifndef ROOST_WEB_HTTP_PARSER_H
#define ROOST_WEB_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/str.h"

#define HTTP_LINE_MAX   8192  /* request line, and any one field line */
#define HTTP_HEAD_MAX   16384 /* request line plus all field lines */
#define HTTP_FIELDS_MAX 64
#define HTTP_BODY_MAX   16384 /* form posts and autodiscover requests are small */

struct http_field {
	uint32_t name_off, name_len;
	uint32_t value_off, value_len; /* without surrounding whitespace */
};

enum http_parser_state {
	HTTP_PS_REQUEST_LINE,
	HTTP_PS_FIELDS,
	HTTP_PS_BODY,
	HTTP_PS_DONE,
	HTTP_PS_ERROR,
};

struct http_request {
	/* Views into the parser's buffers: valid until the next
	 * http_parser_reset or http_parser_free. */
	struct str method;
	struct str target;      /* as sent (origin-form, or absolute-form reduced to its path) */
	struct str path;        /* target up to '?' (not percent-decoded) */
	struct str query;       /* after '?', without it; empty if none */
	unsigned version_minor; /* HTTP/1.<minor>: 0 or 1 */
	struct str body;
	uint64_t content_length;
	bool has_content_length;
	/* Persistent connection after this request (RFC 9112 9.3): HTTP/1.1
	 * unless "Connection: close"; HTTP/1.0 only with "keep-alive". */
	bool keep_alive;
	/* "Expect: 100-continue" with a body still to come (RFC 9110
	 * 10.1.1): the connection should send "100 Continue" while the parser
	 * waits for the body. Another expectation is refused with 417. */
	bool expect_continue;
	unsigned n_fields;
	struct http_field fields[HTTP_FIELDS_MAX];
};

struct http_parser {
	enum http_parser_state state;
	struct buf head; /* the bytes of the request line and fields */
	struct buf body;
	size_t line_start; /* offset in head of the line being received */
	bool saw_cr;       /* the previous byte was CR */
	bool started;      /* past the empty lines before the request line */
	bool has_te;
	unsigned cl_count;
	unsigned empty_lines; /* before the request line */
	/* The request line's parts as offsets into head (it may move while
	 * the fields arrive); made into views when the head is complete. */
	uint32_t method_off, target_off, path_off; /* path_off UINT32_MAX: "/" */
	struct http_request req;
	/* On error: the status to answer and a short reason for the body. */
	unsigned error_status;
	const char *error_reason;
};

void http_parser_init(struct http_parser *p);
/* Ready for the next request on the same connection; keeps no memory
 * beyond the struct (the buffers are freed so an idle keep-alive
 * connection costs nothing). */
void http_parser_reset(struct http_parser *p);
void http_parser_free(struct http_parser *p);

/* Consumes bytes from data[0..len). *consumed_r says how many were used:
 * on 1 the rest belongs to the next request (pipelining), on 0 it is all
 * of len, on -1 it is unspecified. Once 1 or -1 was returned, further
 * calls return the same without consuming until http_parser_reset. */
int http_parser_feed(struct http_parser *p, const void *data, size_t len, size_t *consumed_r);

/* The request, after feed returned 1. */
const struct http_request *http_parser_request(const struct http_parser *p);

/* The value of the first field named `name` (case-insensitive), or
 * STR_NULL (p == NULL) if absent. */
struct str http_request_field(const struct http_parser *p, const char *name);
/* Number of fields with that name. */
unsigned http_request_field_count(const struct http_parser *p, const char *name);

/* The reason phrase for a status code ("Not Found"); "Unknown" if none. */
const char *http_status_text(unsigned status);

#endif
