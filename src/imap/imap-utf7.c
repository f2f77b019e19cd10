/* imap-utf7.c - the IMAP rules for mailbox names on the wire; see
 * imap-utf7.h. The modified UTF-7 codec itself is lib/mutf7.c. */
#include "imap/imap-utf7.h"

#include <stdint.h>

#include "lib/utf8.h"

bool imap_utf8_validate(struct str s)
{
	size_t i = 0;
	while (i < s.len) {
		uint32_t cp;
		size_t n = utf8_decode((const unsigned char *)s.p + i, s.len - i, &cp);
		if (n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			return false;
		i += n;
	}
	return true;
}
