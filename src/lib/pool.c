#include "pool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pool_block {
	struct pool_block *next;
	size_t size;
	size_t used;
	_Alignas(16) unsigned char data[];
};

struct pool {
	struct pool_block *blocks; /* newest first */
	size_t block_size;
	size_t total_used;
};

static struct pool_block *block_new(size_t size)
{
	struct pool_block *b = malloc(sizeof(*b) + size);
	if (b) {
		b->next = NULL;
		b->size = size;
		b->used = 0;
	}
	return b;
}

struct pool *pool_new(size_t block_size)
{
	struct pool *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->block_size = block_size < 256 ? 256 : block_size;
	return p;
}

void pool_clear(struct pool *pool)
{
	struct pool_block *keep = NULL, *b = pool->blocks;
	while (b) {
		struct pool_block *next = b->next;
		/* Keep the last (first-created) block if it is the standard size. */
		if (next == NULL && b->size == pool->block_size) {
			keep = b;
			keep->used = 0;
		} else {
			free(b);
		}
		b = next;
	}
	pool->blocks = keep;
	pool->total_used = 0;
}

void pool_free(struct pool **pool)
{
	if (*pool == NULL)
		return;
	struct pool_block *b = (*pool)->blocks;
	while (b) {
		struct pool_block *next = b->next;
		free(b);
		b = next;
	}
	free(*pool);
	*pool = NULL;
}

void *pool_alloc(struct pool *pool, size_t size)
{
	if (size > SIZE_MAX - 64)
		return NULL;
	size = (size + 15) & ~(size_t)15;
	struct pool_block *b = pool->blocks;
	if (b == NULL || b->size - b->used < size) {
		if (size > pool->block_size / 4) {
			/* A large allocation gets its own block, placed behind the
			 * current one so the current block keeps filling up. */
			struct pool_block *big = block_new(size);
			if (big == NULL)
				return NULL;
			big->used = size;
			if (b) {
				big->next = b->next;
				b->next = big;
			} else {
				pool->blocks = big;
			}
			pool->total_used += size;
			memset(big->data, 0, size);
			return big->data;
		}
		b = block_new(pool->block_size);
		if (b == NULL)
			return NULL;
		b->next = pool->blocks;
		pool->blocks = b;
	}
	void *ret = b->data + b->used;
	b->used += size;
	pool->total_used += size;
	memset(ret, 0, size);
	return ret;
}

char *pool_strndup(struct pool *pool, const char *s, size_t len)
{
	char *p = pool_alloc(pool, len + 1);
	if (p && len)
		memcpy(p, s, len);
	return p;
}

char *pool_strdup(struct pool *pool, const char *s)
{
	return pool_strndup(pool, s, strlen(s));
}

struct str pool_str_dup(struct pool *pool, struct str s)
{
	char *p = pool_strndup(pool, s.p, s.len);
	return p ? str_make(p, s.len) : STR_NULL;
}

size_t pool_used(const struct pool *pool)
{
	return pool->total_used;
}
