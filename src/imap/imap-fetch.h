/* imap-fetch.h - FETCH data items: parsing the request, naming the response
 * items, and cutting message sections (RFC 9051 6.4.5, 7.5.2; RFC 3516
 * BINARY; RFC 7162 CONDSTORE/QRESYNC modifiers).
 *
 * The parser does no I/O: it takes the text of the command after the
 * sequence set, e.g. `(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)]<0.100>)
 * (CHANGEDSINCE 12)`, and fills a request allocated from the caller's
 * pool (normally the command's pool). Every malformed or unknown item is
 * an error with a short reason for the tagged BAD.
 *
 * Return convention: -1 error, 0 not found, 1 done. */
#ifndef ROOST_IMAP_FETCH_H
#define ROOST_IMAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/str.h"

struct pool;

/* Limits against absurd requests. */
#define IMAP_FETCH_MAX_ITEMS         128
#define IMAP_FETCH_MAX_HEADER_FIELDS 256
#define IMAP_FETCH_MAX_SECTION_DEPTH 100
#define IMAP_FETCH_MAX_FIELD_NAME    256

enum imap_fetch_kind {
	IMAP_FETCH_UID,
	IMAP_FETCH_FLAGS,
	IMAP_FETCH_INTERNALDATE,
	IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_ENVELOPE,
	IMAP_FETCH_BODY, /* BODY without section: non-extensible structure */
	IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_MODSEQ,      /* RFC 7162 3.1.4 */
	IMAP_FETCH_SECTION,     /* BODY[..], BODY.PEEK[..], RFC822, RFC822.HEADER/.TEXT */
	IMAP_FETCH_BINARY,      /* BINARY[..], BINARY.PEEK[..] */
	IMAP_FETCH_BINARY_SIZE, /* BINARY.SIZE[..] */
};

/* The last (non-numeric) part specifier of a section. */
enum imap_fetch_spec {
	IMAP_SPEC_NONE, /* BODY[] or BODY[1.2]: the whole message or part */
	IMAP_SPEC_HEADER,
	IMAP_SPEC_HEADER_FIELDS,
	IMAP_SPEC_HEADER_FIELDS_NOT,
	IMAP_SPEC_TEXT,
	IMAP_SPEC_MIME,
};

/* How the item was spelled, for the response name (RFC 9051 7.5.2: the
 * RFC822* items are answered under their own names, .PEEK never is). */
enum imap_fetch_alias {
	IMAP_ALIAS_NONE,
	IMAP_ALIAS_RFC822,        /* = BODY[] */
	IMAP_ALIAS_RFC822_HEADER, /* = BODY.PEEK[HEADER] */
	IMAP_ALIAS_RFC822_TEXT,   /* = BODY[TEXT] */
};

struct imap_fetch_item {
	enum imap_fetch_kind kind;
	enum imap_fetch_alias alias;
	bool peek; /* does not set \Seen */
	/* section (SECTION, BINARY, BINARY_SIZE) */
	uint32_t *part; /* part numbers, e.g. {1, 2} for 1.2 */
	size_t depth;
	enum imap_fetch_spec spec;
	struct str *fields; /* HEADER.FIELDS[.NOT] names as the client wrote them */
	size_t nfields;
	/* <offset.length> */
	bool partial;
	uint64_t partial_off, partial_len;
};

struct imap_fetch_request {
	struct imap_fetch_item *items;
	size_t count;
	bool has_uid, has_flags, has_modseq;
	bool sets_seen;   /* some non-PEEK BODY[]/BINARY[] item */
	bool needs_cache; /* ENVELOPE, BODY(STRUCTURE), sections, BINARY */
	/* Modifiers (RFC 7162 3.1.4.1, 3.2.6). */
	bool has_changedsince;
	uint64_t changedsince;
	bool vanished;
};

/* Parses `text` (everything after "FETCH <set> "). 1 ok; -1 with
 * *error_r set (a static string) for a BAD response. */
int imap_fetch_parse(struct pool *pool, struct str text, struct imap_fetch_request *req_r,
                     const char **error_r);

/* Appends the response name of a section item, e.g. `BODY[1.HEADER]`,
 * `BODY[HEADER.FIELDS (SUBJECT FROM)]`, `BINARY[2]<0>`, `RFC822.TEXT`,
 * `BINARY.SIZE[1]`. For a partial fetch only the origin octet is named
 * (RFC 9051 7.5.2: "BODY" section ["<" number ">"]). -1 if out is full. */
int imap_fetch_item_name(const struct imap_fetch_item *item, struct buf *out);

/* Appends to out the fields of `header` (a header block including its
 * blank line) that match (HEADER.FIELDS) or do not match (exclude=true,
 * HEADER.FIELDS.NOT) the names, compared ASCII case-insensitively; each
 * kept field keeps all its folded lines exactly. The blank line that ends
 * the header is always appended when the header had one (RFC 9051
 * 6.4.5.1). Lines that are not fields (no colon) are dropped. -1 if out
 * cannot grow. */
int imap_fetch_filter_header(struct str header, const struct str *names, size_t nnames,
                             bool exclude, struct buf *out);

/* Applies <off.len> to a section of `size` octets: the slice to send.
 * RFC 9051 6.4.5: starting beyond the end gives an empty string, reading
 * beyond the end is truncated. */
void imap_fetch_partial_range(const struct imap_fetch_item *item, uint64_t size, uint64_t *off_r,
                              uint64_t *len_r);

#endif
