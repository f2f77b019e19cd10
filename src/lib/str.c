#include "str.h"

#include <string.h>

struct str str_c(const char *s)
{
	return s ? str_make(s, strlen(s)) : str_make("", 0);
}

bool str_eq(struct str a, struct str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

bool str_eq_nocase(struct str a, struct str b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++)
		if (lower((unsigned char)a.p[i]) != lower((unsigned char)b.p[i]))
			return false;
	return true;
}

bool str_eq_cstr_nocase(struct str a, const char *b)
{
	return str_eq_nocase(a, str_c(b));
}

bool str_has_prefix_nocase(struct str s, const char *prefix)
{
	size_t n = strlen(prefix);
	return s.len >= n && str_eq_nocase(str_make(s.p, n), str_make(prefix, n));
}

long str_find_char(struct str s, char c)
{
	const char *hit = s.len ? memchr(s.p, c, s.len) : NULL;
	return hit ? (long)(hit - s.p) : -1;
}

long str_find(struct str hay, struct str needle)
{
	if (needle.len == 0)
		return 0;
	if (needle.len > hay.len)
		return -1;
	const char *hit = memmem(hay.p, hay.len, needle.p, needle.len);
	return hit ? (long)(hit - hay.p) : -1;
}

long str_find_nocase(struct str hay, struct str needle)
{
	if (needle.len == 0)
		return 0;
	if (needle.len > hay.len)
		return -1;
	unsigned char first = lower((unsigned char)needle.p[0]);
	for (size_t i = 0; i + needle.len <= hay.len; i++) {
		if (lower((unsigned char)hay.p[i]) != first)
			continue;
		size_t j = 1;
		while (j < needle.len &&
		       lower((unsigned char)hay.p[i + j]) == lower((unsigned char)needle.p[j]))
			j++;
		if (j == needle.len)
			return (long)i;
	}
	return -1;
}

struct str str_sub(struct str s, size_t off, size_t len)
{
	if (off > s.len)
		off = s.len;
	if (len > s.len - off)
		len = s.len - off;
	return str_make(s.p + off, len);
}

struct str str_trim(struct str s)
{
	while (s.len && (s.p[0] == ' ' || s.p[0] == '\t' || s.p[0] == '\r' || s.p[0] == '\n')) {
		s.p++;
		s.len--;
	}
	while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t' ||
			 s.p[s.len - 1] == '\r' || s.p[s.len - 1] == '\n'))
		s.len--;
	return s;
}

int str_to_u64(struct str s, uint64_t *r)
{
	uint64_t v = 0;
	if (s.len == 0)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned char)s.p[i] - '0';
		if (d > 9)
			return -1;
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*r = v;
	return 1;
}

int str_to_u32(struct str s, uint32_t *r)
{
	uint64_t v;
	if (str_to_u64(s, &v) < 0 || v > UINT32_MAX)
		return -1;
	*r = (uint32_t)v;
	return 1;
}

size_t str_copy_cstr(struct str s, char *dst, size_t cap)
{
	if (cap == 0)
		return 0;
	size_t n = s.len < cap - 1 ? s.len : cap - 1;
	if (n)
		memcpy(dst, s.p, n);
	dst[n] = '\0';
	return n;
}

bool str_eq_consttime(struct str a, struct str b)
{
	if (a.len != b.len)
		return false;
	volatile unsigned char acc = 0;
	for (size_t i = 0; i < a.len; i++)
		acc |= (unsigned char)(a.p[i] ^ b.p[i]);
	return acc == 0;
}
