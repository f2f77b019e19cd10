/* sqlite-mem.c - SQLite's memory, kept apart from the rest of the heap.
 *
 * Why: roostd opens one SQLite connection per active user (50-70 KiB:
 * pages, statements, schema) and closes it two seconds after the user's
 * last command (store.c). With SQLite on the process heap, those blocks
 * sit between the small objects that sessions keep for hours, so after
 * the connections close, most pages that held them stay resident: 250
 * users logging in and going IDLE left 10-20 KiB per connection of such
 * holes. Here SQLite gets its own slabs (SQLITE_CONFIG_MALLOC): 64 KiB
 * regions from mmap, each holding blocks of one size class, and a slab
 * whose blocks are all free is unmapped by sq_mem_trim (called after idle
 * connections are closed), so the memory of closed connections really
 * goes back to the system.
 *
 * Blocks up to SQ_MEM_MAX_CLASS bytes come from slabs; bigger ones get
 * their own mapping. Every mapping starts on a 64 KiB boundary with a
 * header, so a block's header is found by masking its address. One mutex
 * guards everything (SQLite's own allocator takes a global mutex too). */
#include "sqlite-store.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define SLAB_SIZE ((size_t)64 * 1024)
#define SLAB_HEADER 64 /* sizeof(struct slab) rounded up; keeps 16-byte alignment */
#define SLAB_MAGIC 0x51534c42u
#define BIG_CLASS 0xffffu

static const uint32_t class_size[] = {
	16,   32,   48,   64,   80,   96,   112,  128,  160,  192,  224,  256,
	320,  384,  448,  512,  640,  768,  896,  1024, 1280, 1536, 1792, 2048,
	2560, 3072, 3584, 4096, 4608, 5120, 6144, 8192,
};
#define NCLASSES (sizeof(class_size) / sizeof(class_size[0]))
#define SQ_MEM_MAX_CLASS 8192

struct slab {
	uint32_t magic;
	uint32_t cls;          /* index into class_size, or BIG_CLASS */
	uint32_t used;         /* blocks handed out */
	uint32_t bump;         /* blocks never handed out start here */
	size_t map_size;       /* BIG_CLASS: bytes mapped; slabs: SLAB_SIZE */
	size_t big_size;       /* BIG_CLASS: bytes asked for */
	void *free_list;       /* freed blocks (each holds the next pointer) */
	struct slab *prev, *next; /* the class's list of slabs with room */
	bool on_list;
};
_Static_assert(sizeof(struct slab) <= SLAB_HEADER, "slab header too big");

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slab *partial[NCLASSES];  /* slabs with a free block */

static unsigned class_of(size_t n)
{
	for (unsigned i = 0; i < NCLASSES; i++)
		if (n <= class_size[i])
			return i;
	return BIG_CLASS;
}

static uint32_t blocks_per_slab(unsigned cls)
{
	return (uint32_t)((SLAB_SIZE - SLAB_HEADER) / class_size[cls]);
}

/* A mapping of `size` bytes starting on a SLAB_SIZE boundary. */
static void *map_aligned(size_t size)
{
	size_t want = size + SLAB_SIZE;
	char *p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	uintptr_t start = ((uintptr_t)p + SLAB_SIZE - 1) & ~(uintptr_t)(SLAB_SIZE - 1);
	size_t head = start - (uintptr_t)p;
	size_t tail = want - head - size;
	if (head > 0)
		munmap(p, head);
	if (tail > 0)
		munmap((char *)start + size, tail);
	return (void *)start;
}

static struct slab *slab_of(const void *p)
{
	return (struct slab *)((uintptr_t)p & ~(uintptr_t)(SLAB_SIZE - 1));
}

static void list_remove(struct slab *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		partial[s->cls] = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	s->on_list = false;
}

static void list_push(struct slab *s)
{
	s->prev = NULL;
	s->next = partial[s->cls];
	if (s->next != NULL)
		s->next->prev = s;
	partial[s->cls] = s;
	s->on_list = true;
}

static void *big_alloc(size_t n)
{
	size_t size = (SLAB_HEADER + n + 4095) & ~(size_t)4095;
	struct slab *s = map_aligned(size);
	if (s == NULL)
		return NULL;
	s->magic = SLAB_MAGIC;
	s->cls = BIG_CLASS;
	s->map_size = size;
	s->big_size = n;
	return (char *)s + SLAB_HEADER;
}

static void *mem_malloc(int nbytes)
{
	if (nbytes <= 0)
		return NULL;
	size_t n = (size_t)nbytes;
	unsigned cls = class_of(n);
	if (cls == BIG_CLASS)
		return big_alloc(n);
	pthread_mutex_lock(&mem_lock);
	struct slab *s = partial[cls];
	if (s == NULL) {
		s = map_aligned(SLAB_SIZE);
		if (s == NULL) {
			pthread_mutex_unlock(&mem_lock);
			return NULL;
		}
		s->magic = SLAB_MAGIC;
		s->cls = cls;
		s->map_size = SLAB_SIZE;
		list_push(s);
	}
	void *p;
	if (s->free_list != NULL) {
		p = s->free_list;
		memcpy(&s->free_list, p, sizeof(void *));
	} else {
		p = (char *)s + SLAB_HEADER + (size_t)s->bump * class_size[cls];
		s->bump++;
	}
	s->used++;
	if (s->free_list == NULL && s->bump == blocks_per_slab(cls))
		list_remove(s); /* full */
	pthread_mutex_unlock(&mem_lock);
	return p;
}

static void mem_free(void *p)
{
	if (p == NULL)
		return;
	struct slab *s = slab_of(p);
	if (s->cls == BIG_CLASS) {
		munmap(s, s->map_size);
		return;
	}
	pthread_mutex_lock(&mem_lock);
	memcpy(p, &s->free_list, sizeof(void *));
	s->free_list = p;
	s->used--;
	if (!s->on_list)
		list_push(s);
	/* An empty slab stays for reuse until sq_mem_trim: unmapping it at
	 * once would map and unmap for every short-lived allocation. */
	pthread_mutex_unlock(&mem_lock);
}

static int mem_size(void *p)
{
	if (p == NULL)
		return 0;
	struct slab *s = slab_of(p);
	if (s->cls == BIG_CLASS)
		return (int)s->big_size;
	return (int)class_size[s->cls];
}

static void *mem_realloc(void *p, int nbytes)
{
	if (p == NULL)
		return mem_malloc(nbytes);
	if (nbytes <= 0)
		return NULL;
	int old = mem_size(p);
	struct slab *s = slab_of(p);
	if (s->cls != BIG_CLASS && (size_t)nbytes <= class_size[s->cls])
		return p;
	void *q = mem_malloc(nbytes);
	if (q == NULL)
		return NULL;
	memcpy(q, p, (size_t)(old < nbytes ? old : nbytes));
	mem_free(p);
	return q;
}

static int mem_roundup(int n)
{
	if (n <= 0)
		return 0;
	unsigned cls = class_of((size_t)n);
	if (cls == BIG_CLASS)
		return (n + 7) & ~7;
	return (int)class_size[cls];
}

static int mem_init(void *app)
{
	return SQLITE_OK;
}

static void mem_shutdown(void *app)
{
}

static const sqlite3_mem_methods mem_methods = {
	mem_malloc, mem_free, mem_realloc, mem_size, mem_roundup, mem_init, mem_shutdown, NULL,
};

int sq_mem_install(void)
{
	return sqlite3_config(SQLITE_CONFIG_MALLOC, &mem_methods) == SQLITE_OK ? 1 : 0;
}

size_t sq_mem_trim(void)
{
	size_t released = 0;
	pthread_mutex_lock(&mem_lock);
	for (unsigned c = 0; c < NCLASSES; c++) {
		for (struct slab *s = partial[c], *next; s != NULL; s = next) {
			next = s->next;
			if (s->used != 0)
				continue;
			list_remove(s);
			munmap(s, SLAB_SIZE);
			released += SLAB_SIZE;
		}
	}
	pthread_mutex_unlock(&mem_lock);
	return released;
}
