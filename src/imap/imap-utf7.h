/* imap-utf7.h - mailbox names in modified UTF-7 (RFC 3501 5.1.3), the
 * form IMAP4rev1 clients use, to and from the store's UTF-8.
 *
 * Both directions append to a struct buf and return 1, or -1 on invalid
 * input or when the buffer cannot grow. Example: "已发送" <-> "&XfJT0ZAB-". */
#ifndef ROOST_IMAP_UTF7_H
#define ROOST_IMAP_UTF7_H

#include <stdbool.h>

#include "lib/buf.h"
#include "lib/str.h"

/* UTF-8 -> modified UTF-7. Fails on invalid UTF-8. */
int imap_utf8_to_utf7(struct str utf8, struct buf *out);

/* Modified UTF-7 -> UTF-8. Strict: only printable US-ASCII outside
 * "&...-" runs, modified BASE64 inside, no printable ASCII encoded, no
 * leftover non-zero bits, well-formed UTF-16 surrogate pairs. */
int imap_utf7_to_utf8(struct str utf7, struct buf *out);

/* Well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF) and no
 * control characters. */
bool imap_utf8_validate(struct str s);

#endif
