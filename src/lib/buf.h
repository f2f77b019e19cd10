/* buf.h - growable byte buffer with a hard maximum.
 *
 * Every buffer that holds client input or output has a `max`: growing past
 * it fails with -1 and leaves the contents unchanged, so callers turn it
 * into a protocol error instead of growing without bound. The data is kept
 * NUL-terminated (one spare byte beyond len) for convenience; it may also
 * contain NULs. */
#ifndef ROOST_BUF_H
#define ROOST_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "str.h"

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* 0 means SIZE_MAX/2 */
};

#define BUF_INIT(maxbytes) ((struct buf){ NULL, 0, 0, (maxbytes) })

void buf_init(struct buf *b, size_t max);
/* Frees the storage; the buffer can be reused (empty, same max). */
void buf_free(struct buf *b);
void buf_reset(struct buf *b);

/* Ensure room for `extra` more bytes. -1 if that would pass max or
 * memory ran out; 1 on success. */
int buf_reserve(struct buf *b, size_t extra);

int buf_append(struct buf *b, const void *p, size_t len);
int buf_append_str(struct buf *b, struct str s);
int buf_append_cstr(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Remove the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Shrink to len bytes (len <= b->len). */
void buf_truncate(struct buf *b, size_t len);

static inline struct str buf_str(const struct buf *b)
{
	return str_make(b->data ? b->data : "", b->len);
}

/* NUL-terminated view (never NULL). */
static inline const char *buf_cstr(const struct buf *b)
{
	return b->data ? b->data : "";
}

/* Take ownership of the heap block (NUL-terminated); buffer becomes empty. */
char *buf_steal(struct buf *b, size_t *len_r);

#endif
