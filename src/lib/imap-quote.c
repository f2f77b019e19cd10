#include "imap-quote.h"

#include <stdint.h>
#include <string.h>

#include "lib/utf8.h"

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
		uint32_t cp;
		size_t n = utf8_decode(p + i, s.len - i, &cp);
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
