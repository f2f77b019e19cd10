/* str.h - length-carrying string views.
 *
 * A `struct str` never owns its bytes: it points into a buffer owned by
 * someone else (a struct buf, a pool, a literal). It may contain NUL bytes
 * and is not NUL-terminated unless the owner says so. */
#ifndef ROOST_STR_H
#define ROOST_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct str {
	const char *p;
	size_t len;
};

#define STR_LIT(s) ((struct str){ (s), sizeof(s) - 1 })
#define STR_NULL ((struct str){ NULL, 0 })

static inline struct str str_make(const char *p, size_t len)
{
	return (struct str){ p, len };
}

/* A view of a NUL-terminated C string (NULL gives the empty view). */
struct str str_c(const char *s);

bool str_eq(struct str a, struct str b);
/* ASCII case-insensitive comparison (protocol keywords). */
bool str_eq_nocase(struct str a, struct str b);
bool str_eq_cstr_nocase(struct str a, const char *b);
bool str_has_prefix_nocase(struct str s, const char *prefix);

/* First occurrence of c or of needle; returns offset or -1. */
long str_find_char(struct str s, char c);
long str_find(struct str hay, struct str needle);
/* ASCII case-insensitive substring search. */
long str_find_nocase(struct str hay, struct str needle);

struct str str_sub(struct str s, size_t off, size_t len);
struct str str_trim(struct str s);

/* Parse a decimal number that fits in uint64_t, no sign, no spaces, at
 * least one digit, no overflow. Returns 1 and sets *r, or -1. */
int str_to_u64(struct str s, uint64_t *r);
int str_to_u32(struct str s, uint32_t *r);

/* Copy into a NUL-terminated buffer of size cap, truncating. Returns the
 * number of bytes copied (excluding NUL). */
size_t str_copy_cstr(struct str s, char *dst, size_t cap);

/* Constant-time comparison of equal-length secrets; false if lengths differ. */
bool str_eq_consttime(struct str a, struct str b);

#endif
