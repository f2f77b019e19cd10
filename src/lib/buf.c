#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_DEFAULT_MAX (SIZE_MAX / 2)

void buf_init(struct buf *b, size_t max)
{
	*b = BUF_INIT(max);
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int buf_reserve(struct buf *b, size_t extra)
{
	size_t max = b->max ? b->max : BUF_DEFAULT_MAX;
	if (extra > max || b->len > max - extra)
		return -1;
	size_t need = b->len + extra + 1; /* +1 keeps a NUL after the data */
	if (need <= b->cap)
		return 1;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > max + 1)
		cap = max + 1;
	char *p = realloc(b->data, cap);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 1;
}

int buf_append(struct buf *b, const void *p, size_t len)
{
	if (buf_reserve(b, len) < 0)
		return -1;
	if (len)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 1;
}

int buf_append_str(struct buf *b, struct str s)
{
	return buf_append(b, s.p, s.len);
}

int buf_append_cstr(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_append_char(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 1;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ret = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return ret;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

char *buf_steal(struct buf *b, size_t *len_r)
{
	if (b->data == NULL && buf_reserve(b, 0) < 0)
		return NULL;
	if (b->data == NULL)
		return NULL;
	b->data[b->len] = '\0';
	char *p = b->data;
	if (len_r)
		*len_r = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
