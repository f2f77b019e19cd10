#include "imap-quote.h"

#include <stdint.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at s[i], or 0 if it is not one
 * (overlong forms, surrogates and code points above U+10FFFF are refused,
 * RFC 3629 4). */
static size_t utf8_seq_len(const unsigned char *s, size_t i, size_t len)
{
	unsigned char c = s[i];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len - i < n)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((s[i + k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i + k] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool imap_can_quote(struct str s, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s.p;
	if (s.len > IMAP_QUOTE_MAX_QUOTED)
		return false;
	for (size_t i = 0; i < s.len;) {
		unsigned char c = p[i];
		if (c == '\0' || c == '\r' || c == '\n')
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (!(flags & IMAP_QUOTE_UTF8))
			return false;
		size_t n = utf8_seq_len(p, i, s.len);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

int imap_append_literal(struct buf *b, struct str s, unsigned flags)
{
	bool nul = s.len > 0 && memchr(s.p, '\0', s.len) != NULL;
	const char *prefix = nul && (flags & IMAP_QUOTE_LITERAL8) ? "~" : "";
	if (buf_printf(b, "%s{%zu}\r\n", prefix, s.len) < 0)
		return -1;
	return buf_append(b, s.p, s.len);
}

static int append_quoted(struct buf *b, struct str s)
{
	size_t extra = 2;
	for (size_t i = 0; i < s.len; i++)
		extra += (s.p[i] == '"' || s.p[i] == '\\') ? 2 : 1;
	if (buf_reserve(b, extra) < 0)
		return -1;
	char *o = b->data + b->len;
	*o++ = '"';
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] == '"' || s.p[i] == '\\')
			*o++ = '\\';
		*o++ = s.p[i];
	}
	*o++ = '"';
	b->len += extra;
	b->data[b->len] = '\0';
	return 1;
}

int imap_append_string(struct buf *b, struct str s, unsigned flags)
{
	if (s.p == NULL)
		s = STR_LIT("");
	if (imap_can_quote(s, flags))
		return append_quoted(b, s);
	return imap_append_literal(b, s, flags);
}

int imap_append_nstring(struct buf *b, struct str s, unsigned flags)
{
	if (s.p == NULL)
		return buf_append(b, "NIL", 3);
	return imap_append_string(b, s, flags);
}

/* RFC 9051 9: ATOM-CHAR is any CHAR except atom-specials:
 * "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials;
 * ASTRING-CHAR = ATOM-CHAR / resp-specials ("]"). */
static bool is_astring_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(':
	case ')':
	case '{':
	case '%':
	case '*':
	case '"':
	case '\\':
		return false;
	default:
		return true;
	}
}

int imap_append_astring(struct buf *b, struct str s, unsigned flags)
{
	bool atom = s.p != NULL && s.len > 0 && s.len <= IMAP_QUOTE_MAX_QUOTED &&
		    !str_eq_nocase(s, STR_LIT("NIL"));
	for (size_t i = 0; atom && i < s.len; i++)
		atom = is_astring_char((unsigned char)s.p[i]);
	if (atom)
		return buf_append(b, s.p, s.len);
	return imap_append_string(b, s, flags);
}
