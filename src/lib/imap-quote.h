/* imap-quote.h - output encoding of IMAP strings (RFC 9051 4.3, 9; RFC 3501 4.3).
 *
 * Every function appends to a struct buf and returns 1, or -1 if the buffer
 * cannot grow (its max or memory); on -1 the buffer may hold a partial
 * value, so the caller fails the whole response.
 *
 * A value is sent as a quoted string when it is at most IMAP_QUOTE_MAX_QUOTED
 * octets and every octet may appear in one: 7-bit, no NUL, CR or LF ("\" and
 * DQUOTE are escaped with a backslash). With IMAP_QUOTE_UTF8 (IMAP4rev2, or a
 * session that enabled UTF8=ACCEPT, RFC 9051 QUOTED-CHAR / RFC 6855) well-
 * formed UTF-8 may also be quoted. Anything else is sent as a literal
 * "{n}\r\n" followed by the n octets. NUL bytes are never put in a quoted
 * string; they go into a literal8 "~{n}\r\n" only if the caller passes
 * IMAP_QUOTE_LITERAL8 (BINARY, RFC 3516), otherwise into a plain literal
 * (the caller decides whether NULs may be sent at all). */
#ifndef ROOST_IMAP_QUOTE_H
#define ROOST_IMAP_QUOTE_H

#include "buf.h"
#include "str.h"

#define IMAP_QUOTE_MAX_QUOTED 1024

enum imap_quote_flags {
	IMAP_QUOTE_UTF8 = 1 << 0,     /* UTF-8 allowed in quoted strings */
	IMAP_QUOTE_LITERAL8 = 1 << 1, /* values with NUL bytes as literal8 */
};

/* string: quoted or literal, never NIL. */
int imap_append_string(struct buf *b, struct str s, unsigned flags);

/* nstring: NIL when s.p is NULL (STR_NULL), else as imap_append_string. */
int imap_append_nstring(struct buf *b, struct str s, unsigned flags);

/* astring: a bare atom when s is non-empty and made only of ASTRING-CHARs
 * (ATOM-CHAR or "]") and is not "NIL" (which a client could read as NIL),
 * else as imap_append_string. */
int imap_append_astring(struct buf *b, struct str s, unsigned flags);

/* Always a literal ("{n}\r\n" + bytes, or "~{n}\r\n" with LITERAL8 when
 * the value has a NUL), for message bodies. */
int imap_append_literal(struct buf *b, struct str s, unsigned flags);

/* true if s would be sent quoted under these flags. */
bool imap_can_quote(struct str s, unsigned flags);

#endif
