/* imap-utf7.h - mailbox names on the wire. IMAP4rev1 clients send them in
 * modified UTF-7 (RFC 3501 5.1.3; the codec is lib/mutf7.h, used strictly:
 * no encoded printable ASCII), UTF8=ACCEPT / IMAP4rev2 clients in UTF-8,
 * checked here. Example: "已发送" <-> "&XfJT0ZAB-". */
#ifndef ROOST_IMAP_UTF7_H
#define ROOST_IMAP_UTF7_H

#include <stdbool.h>

#include "lib/mutf7.h"
#include "lib/str.h"

/* Well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF) and no
 * control characters. */
bool imap_utf8_validate(struct str s);

#endif
