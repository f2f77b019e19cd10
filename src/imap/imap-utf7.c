/* imap-utf7.c - the IMAP rules for mailbox names on the wire; see
 * imap-utf7.h. The modified UTF-7 codec itself is lib/mutf7.c. */
#include "imap/imap-utf7.h"

#include <stdint.h>

/* Decodes one UTF-8 sequence at s[*i]; -1 if invalid. */
static int32_t utf8_next(struct str s, size_t *i)
{
	const unsigned char *p = (const unsigned char *)s.p;
	unsigned char c = p[*i];
	uint32_t cp;
	size_t need;
	if (c < 0x80) {
		(*i)++;
		return c;
	} else if (c >= 0xc2 && c <= 0xdf) {
		cp = c & 0x1f;
		need = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		cp = c & 0x0f;
		need = 2;
	} else if (c >= 0xf0 && c <= 0xf4) {
		cp = c & 0x07;
		need = 3;
	} else {
		return -1;
	}
	if (*i + need >= s.len)
		return -1;
	for (size_t k = 1; k <= need; k++) {
		unsigned char cc = p[*i + k];
		if ((cc & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (cc & 0x3f);
	}
	/* reject overlongs, surrogates and values past U+10FFFF */
	if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += need + 1;
	return (int32_t)cp;
}

bool imap_utf8_validate(struct str s)
{
	size_t i = 0;
	while (i < s.len) {
		int32_t cp = utf8_next(s, &i);
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			return false;
	}
	return true;
}
