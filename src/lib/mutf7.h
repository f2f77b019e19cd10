/* mutf7.h - modified UTF-7 (RFC 3501 5.1.3), to and from UTF-8.
 *
 * The encoding IMAP4rev1 uses for mailbox names and Maildir++ uses for
 * folder directory names: printable US-ASCII (0x20-0x7e) stands for itself
 * except "&", written "&-"; anything else is UTF-16 in a modified BASE64
 * run "&...-" (',' instead of '/', no '=' padding). Example: "已发送" <->
 * "&XfJT0ZAB-". Knows nothing of hierarchy separators: callers apply their
 * own naming rules to the result.
 *
 * Both directions append to a struct buf and return 1, or -1 on invalid
 * input or when the buffer cannot grow (what was appended before the error
 * stays in the buffer). */
#ifndef ROOST_LIB_MUTF7_H
#define ROOST_LIB_MUTF7_H

#include "lib/buf.h"
#include "lib/str.h"

/* Accept printable ASCII written inside a BASE64 run. RFC 3501 forbids it,
 * but Maildir++ writers (and Roost's own export) encode '.' as "&AC4-" so
 * that it does not split a folder name. */
#define MUTF7_ALLOW_ENCODED_ASCII 0x01u

/* UTF-8 -> modified UTF-7. Fails on invalid UTF-8 (overlongs, surrogates,
 * code points above U+10FFFF). */
int mutf7_encode(struct str utf8, struct buf *out);

/* Modified UTF-7 -> UTF-8. Strict: only printable US-ASCII outside "&...-"
 * runs, modified BASE64 inside, runs terminated by '-', no leftover bits
 * (fewer than 6, all zero), well-formed UTF-16 surrogate pairs, and no
 * printable ASCII inside a run unless flags has MUTF7_ALLOW_ENCODED_ASCII. */
int mutf7_decode(struct str mutf7, unsigned flags, struct buf *out);

#endif
