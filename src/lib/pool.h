/* pool.h - region allocator: many small allocations freed in one go.
 *
 * A session or a command owns a pool; everything allocated from it lives
 * until pool_clear() or pool_free(). Allocation failure returns NULL. */
#ifndef ROOST_POOL_H
#define ROOST_POOL_H

#include <stddef.h>

#include "str.h"

struct pool;

struct pool *pool_new(size_t block_size);
/* Frees everything and sets *pool to NULL. */
void pool_free(struct pool **pool);
/* Frees everything allocated but keeps the first block for reuse. */
void pool_clear(struct pool *pool);

void *pool_alloc(struct pool *pool, size_t size);  /* 16-byte aligned, zeroed */
char *pool_strndup(struct pool *pool, const char *s, size_t len); /* NUL-terminated */
char *pool_strdup(struct pool *pool, const char *s);
struct str pool_str_dup(struct pool *pool, struct str s);
size_t pool_used(const struct pool *pool);

#endif
