/* test-mime-imapcheck.h - a strict checker of IMAP response data syntax
 * (RFC 9051 9: nil, number, quoted, literal, parenthesized lists), used by
 * the mime unit tests and the fuzz target to prove that ENVELOPE and
 * BODYSTRUCTURE strings are always well-formed. */
#ifndef ROOST_TEST_MIME_IMAPCHECK_H
#define ROOST_TEST_MIME_IMAPCHECK_H

#include <stdbool.h>
#include <stddef.h>

static bool imapcheck_value(const char *p, size_t len, size_t *pos, unsigned depth);

static bool imapcheck_list(const char *p, size_t len, size_t *pos, unsigned depth)
{
	if (depth > 1000 || *pos >= len || p[*pos] != '(')
		return false;
	(*pos)++;
	bool first = true;
	while (*pos < len && p[*pos] != ')') {
		if (!first) {
			/* elements are separated by SP, except that a list may
			 * follow a list directly (body-type-mpart = 1*body) */
			if (p[*pos] == ' ')
				(*pos)++;
			else if (!(p[*pos] == '(' && p[*pos - 1] == ')'))
				return false;
		}
		if (!imapcheck_value(p, len, pos, depth + 1))
			return false;
		first = false;
	}
	if (*pos >= len)
		return false;
	(*pos)++;
	return true;
}

static bool imapcheck_value(const char *p, size_t len, size_t *pos, unsigned depth)
{
	size_t i = *pos;
	if (i >= len)
		return false;
	char c = p[i];
	if (c == '(')
		return imapcheck_list(p, len, pos, depth);
	if (c == '"') {
		for (i++; i < len && p[i] != '"'; i++) {
			unsigned char u = (unsigned char)p[i];
			if (u == 0 || u == '\r' || u == '\n' || u >= 0x80)
				return false;
			if (u == '\\') {
				if (i + 1 >= len || (p[i + 1] != '"' && p[i + 1] != '\\'))
					return false;
				i++;
			}
		}
		if (i >= len)
			return false;
		*pos = i + 1;
		return true;
	}
	if (c == '{') {
		size_t n = 0, digits = 0;
		for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++, digits++)
			n = n * 10 + (size_t)(p[i] - '0');
		if (digits == 0 || len - i < 3 || p[i] != '}' || p[i + 1] != '\r' || p[i + 2] != '\n')
			return false;
		i += 3;
		if (len - i < n)
			return false;
		for (size_t k = 0; k < n; k++)
			if (p[i + k] == '\0')
				return false;
		*pos = i + n;
		return true;
	}
	if (c >= '0' && c <= '9') {
		while (i < len && p[i] >= '0' && p[i] <= '9')
			i++;
		*pos = i;
		return true;
	}
	if (len - i >= 3 && p[i] == 'N' && p[i + 1] == 'I' && p[i + 2] == 'L') {
		*pos = i + 3;
		return true;
	}
	return false;
}

/* true if p[0..len) is exactly one well-formed parenthesized list */
static inline bool imapcheck(const char *p, size_t len)
{
	size_t pos = 0;
	return len > 0 && p[0] == '(' && imapcheck_value(p, len, &pos, 0) && pos == len;
}

#endif
