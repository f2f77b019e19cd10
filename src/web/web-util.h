/* web-util.h - small pure helpers of the web module: escaping, form and
 * cookie decoding, language choice, the autodiscover request's address.
 * No I/O, no global state; all bounded.
 *
 * Return convention: -1 error (invalid or too long), 0 not found, 1 done. */
#ifndef ROOST_WEB_UTIL_H
#define ROOST_WEB_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"
#include "lib/str.h"

enum web_lang { WEB_LANG_EN, WEB_LANG_ZH };

/* Appends s with &, <, >, " and ' replaced by character references: safe
 * in HTML text, attribute values and XML. -1 if b is full. */
int web_escape(struct buf *b, struct str s);
int web_escape_cstr(struct buf *b, const char *s);

/* Finds `name` in an application/x-www-form-urlencoded string (a request
 * body or a URL query) and decodes its value (percent-escapes, '+' as
 * space) into out as a NUL-terminated string. The decoded value must be
 * valid UTF-8 without NUL or other control bytes (tab, CR and LF aside)
 * and fit into outcap. Returns 1, 0 when absent, -1 when malformed or too
 * long. The first occurrence wins. */
int web_form_get(struct str form, const char *name, char *out, size_t outcap);

/* The value of cookie `name` in a Cookie header (RFC 6265 5.4:
 * "a=1; b=2"). Values are taken as they are (no decoding). */
int web_cookie_get(struct str header, const char *name, char *out, size_t outcap);

/* Chooses Chinese or English from an Accept-Language header (RFC 9110
 * 12.5.4): the language range with the highest q among "zh*" and "en*"
 * wins, the earlier one on a tie; neither (or no header) gives English. */
enum web_lang web_lang_from_accept(struct str header);
/* "zh" / "en" (also accepts "zh-CN", "zh-Hans"...); -1 for anything else. */
int web_lang_parse(struct str s, enum web_lang *lang_r);

/* The text of the first element whose local name is `local` (any
 * namespace prefix), e.g. <EMailAddress> or <a:EMailAddress>, with the
 * five predefined entities decoded. Refuses documents with a DOCTYPE
 * (no entity games) and content holding other markup. Returns 1, 0 when
 * absent, -1 when malformed or too long. */
int web_xml_element_text(struct str xml, const char *local, char *out, size_t outcap);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void web_hex(const unsigned char *bytes, size_t n, char *out);

/* Formats a byte count for people: "0 B", "1.5 KiB", "12.0 MiB". */
void web_format_bytes(unsigned long long n, char *out, size_t outcap);

#endif
