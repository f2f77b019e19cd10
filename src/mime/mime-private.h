/* mime-private.h - helpers shared by the files of the mime layer only. */
#ifndef ROOST_MIME_PRIVATE_H
#define ROOST_MIME_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/str.h"

static inline bool mime_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static inline char mime_ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* Trim spaces, tabs, CR and LF at both ends. */
struct str mime_trim_lws(struct str s);

/* Append s with CR, LF and NUL removed (RFC 5322 2.2.3 unfolding). */
int mime_append_unfolded(struct buf *out, struct str s);

/* A parameter of a Content-Type / Content-Disposition value. value points
 * into the header: for a quoted string it is the text between the quotes
 * with its backslash escapes still in place (quoted is true). */
struct mime_param {
	struct str name;
	struct str value;
	bool quoted;
};

/* Append the parameter value with quoted-pair escapes removed. */
int mime_param_value_append(const struct mime_param *p, struct buf *out);

/* Parse "type/subtype; a=b; c="d"" (or, with want_subtype false, a
 * Content-Disposition "type; a=b"). Returns the number of params stored
 * (at most max); *type_r and *subtype_r are empty when missing/invalid. */
size_t mime_parse_params(struct str value, bool want_subtype, struct str *type_r,
			 struct str *subtype_r, struct mime_param *params, size_t max);

/* Write params[0..n) as an IMAP body-fld-param list, or NIL when there are
 * none. RFC 2231 (RFC 9051 7.5.2): continuations "x*0", "x*1" are joined
 * as "x"; extended values ("x*" or "x*0*", charset'lang'%XX) are joined,
 * converted to UTF-8 and written as "x*" "utf-8'lang'%XX...". If
 * default_charset is set and there is no charset param, ("charset"
 * "us-ascii") is added first. tmp is scratch space. */
int mime_params_write_imap(const struct mime_param *params, size_t n, bool default_charset,
			   struct buf *out, struct buf *tmp);

/* Build the IMAP envelope of the header block `header`, append to out. */
int mime_envelope_build(struct str header, struct buf *out, struct buf *scratch);

/* ---- cache blob layout (little-endian u32 fields) ------------------------
 *
 *   0   u8  MIME_CACHE_VERSION
 *   1   3 bytes "rmc"
 *   4   msg_size, nparts,
 *       envelope off/len, bodystructure off/len, body off/len   (offsets in blob)
 *   36  nparts part records of MIME_REC_WORDS u32 each, depth-first order
 *   ..  string area (lower-cased type/subtype/charset/cte), then the three
 *       IMAP strings.
 */
#define MIME_BLOB_HDR 36
enum mime_rec_field {
	REC_HEADER_OFF, REC_HEADER_LEN, REC_BODY_OFF, REC_BODY_LEN, REC_LINES,
	REC_FIRST_CHILD, /* 0 = none (the root is never a child) */
	REC_NEXT_SIBLING, /* 0 = none */
	REC_NCHILDREN,
	REC_FLAGS, /* MIME_REC_F_* | cte << 8 */
	REC_TYPE_OFF, REC_TYPE_LEN, REC_SUBTYPE_OFF, REC_SUBTYPE_LEN,
	REC_CHARSET_OFF, REC_CHARSET_LEN, REC_CTE_OFF, REC_CTE_LEN,
	MIME_REC_WORDS
};
#define MIME_REC_F_MULTIPART 0x01
#define MIME_REC_F_MESSAGE 0x02
#define MIME_REC_F_ATTACHMENT 0x04
#define MIME_REC_F_TEXT 0x08

static inline void mime_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t mime_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
