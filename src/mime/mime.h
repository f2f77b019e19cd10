/* mime.h - RFC 5322 + MIME message parsing for IMAP.
 *
 * A delivered message is parsed once, by mime_cache_build(), into a compact
 * "cache blob" that the store keeps next to the message. FETCH, SEARCH and
 * friends then open the blob (no copy, no allocation) and read the ENVELOPE,
 * BODYSTRUCTURE and BODY strings and the byte ranges of every MIME part from
 * it, so a message is never parsed again.
 *
 * The parser works on the complete message in memory: lines end in CRLF,
 * bare LF is tolerated (offsets always refer to the bytes as given). It never
 * fails on broken input: any byte string yields a sensible structure and
 * valid IMAP strings. Only a message over MIME_MAX_MESSAGE_SIZE or running
 * out of memory makes mime_cache_build() fail.
 *
 * Return convention (STYLE.md): -1 error, 0 not found, 1 done; results
 * through *_r out-parameters.
 *
 * Limits (also documented in docs/):
 *   MIME_MAX_MESSAGE_SIZE  offsets are 32-bit: larger messages are refused.
 *   MIME_MAX_DEPTH         nesting of multipart and message/rfc822 beyond
 *                          this is not parsed: the entity at the limit is
 *                          a leaf, shown as text/plain (a multipart) or
 *                          application/octet-stream (a message/rfc822).
 *   MIME_MAX_PARTS         entities per message; further parts of a
 *                          multipart are not listed (their bytes stay in
 *                          the multipart's body).
 *   MIME_MAX_PARAMS        Content-Type / Content-Disposition parameters
 *                          kept per entity; later ones are ignored.
 *   MIME_MAX_BOUNDARY      a boundary longer than this (RFC 2046 allows 70)
 *                          is not recognised.
 * A multipart without a usable boundary or without any delimiter line is
 * shown as text/plain; message/rfc822 in base64 or quoted-printable as
 * application/octet-stream (RFC 2046 5.2.1 forbids it). message/global is
 * shown as a basic part, never encapsulated: IMAP4rev1 clients could not
 * parse it otherwise. More in docs/mime.md.
 */
#ifndef ROOST_MIME_H
#define ROOST_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/str.h"

#define MIME_MAX_MESSAGE_SIZE ((size_t)UINT32_MAX - 1)
#define MIME_MAX_DEPTH 100
#define MIME_MAX_PARTS 10000
#define MIME_MAX_PARAMS 64
#define MIME_MAX_BOUNDARY 200

/* Version byte at the start of every cache blob. Bump it whenever the blob
 * layout or the content of the strings in it changes: mime_cache_open()
 * then refuses old blobs and the store rebuilds them. */
#define MIME_CACHE_VERSION 1

/* Content-Transfer-Encoding. MIME_CTE_OTHER is an unknown token (BINARY
 * FETCH answers [UNKNOWN-CTE], RFC 3516 4.3). */
enum mime_cte {
	MIME_CTE_7BIT = 0,
	MIME_CTE_8BIT,
	MIME_CTE_BINARY,
	MIME_CTE_BASE64,
	MIME_CTE_QP,
	MIME_CTE_OTHER,
};

/* ---- cache blob ---------------------------------------------------------- */

/* Parse msg[0..len) and append its cache blob to `out`. 1 on success; -1 if
 * len > MIME_MAX_MESSAGE_SIZE or `out` cannot grow (its max or memory). */
int mime_cache_build(const char *msg, size_t len, struct buf *out);

/* A validated view of a blob; it points into the caller's bytes, which must
 * stay valid and unchanged while the view is used. */
struct mime_cache {
	const uint8_t *p;
	size_t len;
	uint32_t msg_size;
	uint32_t nparts;
	size_t parts_off;
	struct str envelope;
	struct str bodystructure;
	struct str body;
};

/* Check the blob (version byte, all offsets inside it, part links sane) and
 * fill *c. 1 ok; -1 unknown version or corrupt: the caller rebuilds it from
 * the message. Never reads outside blob[0..len). */
int mime_cache_open(struct mime_cache *c, const void *blob, size_t len);

/* The size of the message the blob was built from. */
static inline size_t mime_cache_msg_size(const struct mime_cache *c)
{
	return c->msg_size;
}

/* The ready-made IMAP values (RFC 9051 7.5.2), each a complete parenthesized
 * list to be sent as is after "ENVELOPE ", "BODYSTRUCTURE " or "BODY ".
 * Header values are raw (undecoded, unfolded); strings that are not plain
 * 7-bit are sent as literals, so the text is valid for every session
 * (IMAP4rev1 and rev2, with or without UTF8=ACCEPT). NUL bytes of the
 * message are dropped from these strings (a literal cannot carry them). */
struct str mime_cache_envelope(const struct mime_cache *c);
struct str mime_cache_bodystructure(const struct mime_cache *c);
struct str mime_cache_body(const struct mime_cache *c);

/* One MIME entity. Offsets are into the message. Strings point into the
 * blob: type, subtype and charset are lower-cased; charset is empty when
 * the part has none (text parts without one get "us-ascii"). */
struct mime_part_info {
	size_t header_off, header_len; /* the entity's header incl. the blank line */
	size_t body_off, body_len;     /* the body, exactly the octets that BODY[x] returns */
	uint32_t lines;                /* lines in the body (text and message parts) */
	enum mime_cte cte;
	struct str cte_name;           /* the token as written, lower-cased; "7bit" if absent */
	struct str type, subtype, charset;
	bool multipart;                /* children are its parts */
	bool message;                  /* message/rfc822 parsed as encapsulated message */
	bool attachment;               /* Content-Disposition: attachment */
	uint32_t nchildren;            /* parts of a multipart; 1 for a message */
	/* For `message` (and for the top-level when depth == 0): the
	 * encapsulated message's header and body, for .HEADER, .TEXT and
	 * .HEADER.FIELDS of this section. */
	size_t msg_header_off, msg_header_len;
	size_t msg_body_off, msg_body_len;
	uint32_t index;                /* this entity's index, 0..nparts-1 */
};

/* Resolve an IMAP section part specifier (RFC 9051 6.4.5), e.g. BODY[1.2]
 * is section {1, 2}, depth 2. depth 0 is the whole message: header and body
 * are the top-level header and body, and msg_* are the same (so HEADER and
 * TEXT with no part number work like those of a message part).
 *
 * Rules: a multipart's n-th part is number n. A message/rfc822 part's
 * sub-parts are those of the encapsulated message: its multipart's parts,
 * or, if that message is not multipart, part 1 is its body. A top-level
 * message that is not multipart has exactly part 1, its body (whose .MIME
 * header is the message header). Any other number does not exist.
 *
 * 1 found (*info_r filled); 0 no such part. */
int mime_cache_find_part(const struct mime_cache *c, const uint32_t *section, size_t depth,
			 struct mime_part_info *info_r);

/* Entities in depth-first order (0 is the top-level message). index must be
 * < c->nparts. Encapsulated message roots are entities of their own (the
 * single child of a `message` entity). Returns 1, or 0 if out of range. */
int mime_cache_part(const struct mime_cache *c, uint32_t index, struct mime_part_info *info_r);

/* ---- header helpers ------------------------------------------------------ */

/* Iterate over the fields of a header block (a header as located above).
 * *pos starts at 0. Each call gives the field name (without the colon,
 * whitespace before the colon trimmed), the raw value (after the colon, still
 * folded, without the final line end) and the whole raw field including its
 * line end (for HEADER.FIELDS). A line without a colon is returned with an
 * empty name and value (callers skip it). Returns 1, or 0 at the end. */
int mime_header_next(struct str header, size_t *pos, struct str *name_r, struct str *value_r,
		     struct str *raw_r);

/* The first field named `name` (ASCII case-insensitive). 1 found, 0 not. */
int mime_header_find(struct str header, const char *name, struct str *value_r);

/* Append a raw header value to `out` unfolded (CR and LF removed) and with
 * RFC 2047 encoded words decoded to UTF-8 (adjacent encoded words joined,
 * RFC 2047 6.2). Raw 8-bit text outside encoded words is kept if it is
 * valid UTF-8; otherwise it is converted from `fallback_charset` (e.g. the
 * message's Content-Type charset, as mail readers do for raw GBK headers),
 * or, if that is empty, invalid bytes become U+FFFD. NUL bytes are dropped.
 * -1 only if `out` cannot grow, else 1. */
int mime_decode_header_value(struct str value, struct str fallback_charset, struct buf *out);

/* Parse an RFC 5322 date-time (obsolete forms and common junk tolerated).
 * *time_r is seconds since the epoch (UTC), *tz_min_r the zone offset in
 * minutes. 1 ok, 0 not a date. */
int mime_date_parse(struct str value, int64_t *time_r, int *tz_min_r);

/* ---- transfer encodings -------------------------------------------------- */

/* Streaming decoders: feed any split of the input, the output is the same.
 * They never fail on bad input: base64 skips characters outside its
 * alphabet (RFC 2045 6.8) and sets `invalid`; quoted-printable keeps a
 * malformed "=" sequence literally (RFC 2045 6.7 note 1) and sets `invalid`.
 * feed/finish return -1 only if `out` cannot grow, else 1. */
struct mime_b64_dec {
	uint32_t acc;
	unsigned nchars; /* sextets in acc */
	bool ended;      /* "=" padding seen */
	bool invalid;
};
void mime_b64_dec_init(struct mime_b64_dec *d);
int mime_b64_dec_feed(struct mime_b64_dec *d, const void *in, size_t len, struct buf *out);
int mime_b64_dec_finish(struct mime_b64_dec *d, struct buf *out);

struct mime_qp_dec {
	char pending[80];   /* "=" + hex digit, or trailing white space held back */
	unsigned npending;
	bool soft_break;    /* "=" then white space: waiting for the line end */
	bool invalid;
};
void mime_qp_dec_init(struct mime_qp_dec *d);
/* Line ends in the output are kept as in the input (CRLF or LF). */
int mime_qp_dec_feed(struct mime_qp_dec *d, const void *in, size_t len, struct buf *out);
int mime_qp_dec_finish(struct mime_qp_dec *d, struct buf *out);

/* Decode a whole body with the given encoding (7bit/8bit/binary/other copy
 * it unchanged). -1 only if `out` cannot grow. */
int mime_cte_decode(enum mime_cte cte, struct str body, struct buf *out);

/* Size in octets of the decoded body (BINARY.SIZE), without storing it. */
size_t mime_cte_decoded_size(enum mime_cte cte, struct str body);

/* Classify a Content-Transfer-Encoding token (case-insensitive, trimmed). */
enum mime_cte mime_cte_parse(struct str token);

/* ---- charsets ------------------------------------------------------------ */

/* Convert `in` from `charset` to UTF-8, appending to `out`. Any charset
 * glibc iconv knows; gb2312/gbk/cp936 are read as GB18030 (their superset),
 * big5 as BIG5-HKSCS (falling back to BIG5); "us-ascii", empty or unknown
 * charsets read valid UTF-8 as is and other bytes as Windows-1252/Latin-1.
 * Invalid input bytes become U+FFFD; conversion never stops early. Returns
 * 1 (converted with the named charset), 0 (the charset was unknown and the
 * fallback was used), -1 if `out` cannot grow. */
int mime_charset_to_utf8(struct str charset, struct str in, struct buf *out);

/* ---- RFC 2231 parameters ------------------------------------------------- */

/* Find parameter `name` in a Content-Type / Content-Disposition value
 * ("text/plain; charset=utf-8; name*0*=...") and append its value, decoded
 * to UTF-8 (quoted-string unescaped; RFC 2231 continuations joined and
 * charset'lang'%XX decoded; RFC 2047 words in plain values decoded too, a
 * common violation). 1 found, 0 not, -1 `out` cannot grow. */
int mime_param_get_utf8(struct str field_value, const char *name, struct buf *out);

/* ---- search support (RFC 9051 6.4.4) ------------------------------------- */

/* Append the decoded UTF-8 value of every `field` of the message's top-level
 * header (as mime_decode_header_value), fields separated by "\n". msg may
 * hold just the first header_off + header_len bytes of part 0.
 * 1 found, 0 no such field, -1 `out` cannot grow. */
int mime_header_decoded(const char *msg, size_t len, const struct mime_cache *c,
			const char *field, struct buf *utf8_out);

/* Append the top-level header as TEXT search reads it: every field as
 * "Name: value\n", the value decoded to UTF-8 (raw 8-bit text read in the
 * top-level entity's charset). msg may hold just the first header_off +
 * header_len bytes of part 0. 1 done, -1 `out` cannot grow or msg is
 * shorter than the header. */
int mime_header_text_utf8(const char *msg, size_t len, const struct mime_cache *c,
			  struct buf *utf8_out);

/* Append the text of the message for BODY / TEXT search: every text part
 * (including those of encapsulated messages) with its transfer encoding
 * and charset decoded to UTF-8, parts separated by "\n". text/html is
 * included as is (tags and all). -1 only if `out` cannot grow. */
int mime_body_text_utf8(const char *msg, size_t len, const struct mime_cache *c,
			struct buf *utf8_out);

/* Simple Unicode case folding (i;unicode-casemap-like) of UTF-8: ASCII,
 * Latin-1, Latin Extended-A, Greek and Cyrillic fold to lower case; other
 * characters (CJK has no case) are kept; invalid bytes become U+FFFD. */
int mime_casefold_utf8(struct str in, struct buf *out);

/* Case-insensitive substring search over UTF-8 text, folding as above.
 * An empty needle matches. Returns true if `needle` occurs in `hay`. */
bool mime_search_contains(struct str hay, struct str needle);

/* Prepared needle for searching many haystacks: the needle is folded once;
 * mime_search_match folds the haystack into a temporary buffer per call
 * (false also if that allocation fails). */
struct mime_search_key {
	struct buf folded;
};
int mime_search_key_init(struct mime_search_key *k, struct str needle);
bool mime_search_match(const struct mime_search_key *k, struct str hay);
void mime_search_key_free(struct mime_search_key *k);

#endif
