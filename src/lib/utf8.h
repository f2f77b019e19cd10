/* utf8.h - UTF-8 validation, decoding and encoding (RFC 3629).
 *
 * "Well-formed" means RFC 3629 4: no overlong forms, no UTF-16 surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequences. Callers
 * add their own rules (control characters, NUL) on top. */
#ifndef ROOST_LIB_UTF8_H
#define ROOST_LIB_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Length (1..4) of the well-formed UTF-8 sequence at the start of s[0..len),
 * storing its code point in *cp_r; 0 if there is none (invalid or
 * truncated; also when len is 0), *cp_r then untouched. */
size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp_r);

/* True if all of p[0..len) is well-formed UTF-8 (NUL bytes included:
 * U+0000 is a valid code point, refuse it separately if needed). */
bool utf8_valid(const char *p, size_t len);

/* Appends the UTF-8 encoding of cp; a surrogate or a value above U+10FFFF
 * is written as U+FFFD. 1, or -1 when the buffer cannot grow. */
int utf8_append(struct buf *out, uint32_t cp);

#endif
