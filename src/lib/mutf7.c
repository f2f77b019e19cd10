/* mutf7.c - modified UTF-7; see mutf7.h.
 *
 * RFC 3501 5.1.3: printable US-ASCII (0x20-0x7e) stands for itself except
 * "&", written "&-". Any other character is written as UTF-16 in a
 * modified BASE64 run "&...-" (',' replaces '/', no '=' padding). */
#include "lib/mutf7.h"

#include <stdint.h>

#include "lib/utf8.h"

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Appends 16-bit units as modified BASE64 (the run's body). */
static int put_b64_units(struct buf *out, const uint16_t *units, size_t n)
{
	uint32_t bits = 0;
	unsigned nbits = 0;
	for (size_t i = 0; i < n; i++) {
		bits = (bits << 16) | units[i];
		nbits += 16;
		while (nbits >= 6) {
			nbits -= 6;
			if (buf_append_char(out, b64chars[(bits >> nbits) & 0x3f]) < 0)
				return -1;
		}
		bits &= (1u << nbits) - 1;
	}
	if (nbits > 0 && buf_append_char(out, b64chars[(bits << (6 - nbits)) & 0x3f]) < 0)
		return -1;
	return 1;
}

int mutf7_encode(struct str utf8, struct buf *out)
{
	size_t i = 0;
	while (i < utf8.len) {
		unsigned char c = (unsigned char)utf8.p[i];
		if (c >= 0x20 && c <= 0x7e) {
			if (buf_append_char(out, (char)c) < 0)
				return -1;
			if (c == '&' && buf_append_char(out, '-') < 0)
				return -1;
			i++;
			continue;
		}
		/* A run of characters that need encoding. */
		uint16_t units[64];
		size_t n = 0;
		if (buf_append_char(out, '&') < 0)
			return -1;
		while (i < utf8.len) {
			c = (unsigned char)utf8.p[i];
			if (c >= 0x20 && c <= 0x7e)
				break;
			uint32_t cp;
			size_t len = utf8_decode((const unsigned char *)utf8.p + i, utf8.len - i, &cp);
			if (len == 0)
				return -1;
			i += len;
			if (n + 2 > sizeof(units) / sizeof(units[0])) {
				/* flush whole groups of 3 units (48 bits = 8 chars) */
				size_t whole = n - n % 3;
				if (put_b64_units(out, units, whole) < 0)
					return -1;
				for (size_t k = whole; k < n; k++)
					units[k - whole] = units[k];
				n -= whole;
			}
			if (cp >= 0x10000) {
				uint32_t v = cp - 0x10000;
				units[n++] = (uint16_t)(0xd800 | (v >> 10));
				units[n++] = (uint16_t)(0xdc00 | (v & 0x3ff));
			} else {
				units[n++] = (uint16_t)cp;
			}
		}
		if (put_b64_units(out, units, n) < 0 || buf_append_char(out, '-') < 0)
			return -1;
	}
	return 1;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

int mutf7_decode(struct str mutf7, unsigned flags, struct buf *out)
{
	size_t i = 0;
	while (i < mutf7.len) {
		unsigned char c = (unsigned char)mutf7.p[i];
		if (c < 0x20 || c > 0x7e)
			return -1;
		if (c != '&') {
			if (buf_append_char(out, (char)c) < 0)
				return -1;
			i++;
			continue;
		}
		i++;
		if (i < mutf7.len && mutf7.p[i] == '-') {
			if (buf_append_char(out, '&') < 0)
				return -1;
			i++;
			continue;
		}
		uint32_t bits = 0;
		unsigned nbits = 0;
		uint32_t high = 0; /* pending high surrogate */
		size_t units = 0;
		for (;;) {
			if (i >= mutf7.len)
				return -1; /* run not terminated by '-' */
			c = (unsigned char)mutf7.p[i++];
			if (c == '-')
				break;
			int v = b64_value(c);
			if (v < 0)
				return -1;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			uint32_t u = (bits >> nbits) & 0xffff;
			bits &= (1u << nbits) - 1;
			units++;
			if (high != 0) {
				if (u < 0xdc00 || u > 0xdfff)
					return -1;
				uint32_t cp = 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00);
				high = 0;
				if (utf8_append(out, cp) < 0)
					return -1;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				high = u;
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				return -1;
			} else {
				/* printable ASCII must not be encoded (RFC 3501
				 * 5.1.3), and neither may be "&" */
				if (u >= 0x20 && u <= 0x7e && !(flags & MUTF7_ALLOW_ENCODED_ASCII))
					return -1;
				if (utf8_append(out, u) < 0)
					return -1;
			}
		}
		/* "&-" handled above; an empty run cannot occur here. Leftover
		 * bits must be fewer than 6 and zero. */
		if (units == 0 || high != 0 || nbits >= 6 || bits != 0)
			return -1;
	}
	return 1;
}
