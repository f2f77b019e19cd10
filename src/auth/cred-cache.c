/* cred-cache.c - the verified-credential cache: repeated logins skip the
 * password hash.
 *
 * Why: a yescrypt verification costs ~30 ms of CPU (plus page faults of its
 * scratch region); mail clients log in again every few minutes, often with
 * several connections at once, so most verifications re-check a password
 * that was checked moments ago. Dovecot's auth_cache does the same.
 *
 * What is kept, per (account, password) that verified: the credential it
 * matched (the account password or one app password, by id), a digest of
 * that credential's stored form as it was then, and the time. Not the
 * password: the entry is found by mac = HMAC-SHA256(key, account id ||
 * password) with a key drawn from the kernel when the cache is made, so
 * the key (and with it every mac) differs from process to process and a
 * mac is useless outside this process's memory. The caller still reads the
 * account and its credential on every login and accepts a hit only when the
 * credential's current digest equals the remembered one, so a password
 * change, a revoked app password, a disabled account or a switched-off
 * protocol take effect at once; only the slow hash is skipped.
 *
 * Layout: one anonymous mapping holds the key, the hash buckets and every
 * entry, marked MADV_DONTDUMP so a core dump never carries them; pages are
 * touched only as entries are used. Entries are found through buckets
 * indexed by the mac's first bytes (uniform, and an attacker cannot aim at
 * a bucket without the key), kept in LRU order in a doubly linked list by
 * index, and the least recently used is reused when the cache is full. One
 * mutex; the HMAC is computed outside it. */
#include "auth/auth-private.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define NIL UINT32_MAX

struct cred_entry {
	unsigned char mac[AUTH_CACHE_MAC_LEN];
	unsigned char digest[AUTH_CACHE_DIGEST_LEN];
	int64_t account_id;
	int64_t cred_id;
	int64_t verified_at; /* clock seconds */
	uint32_t lru_prev, lru_next;
	uint32_t bucket_next;
	bool used;
};

struct auth_cred_cache {
	pthread_mutex_t lock;
	unsigned char key[32];
	int64_t (*now)(void);
	uint32_t capacity;
	uint32_t n_buckets; /* a power of two */
	uint32_t count;
	uint32_t lru_head, lru_tail; /* most / least recently used */
	uint32_t next_fresh;         /* entries [next_fresh, capacity) never used */
	uint32_t free_head;          /* removed entries, linked by bucket_next */
	uint32_t *buckets;
	struct cred_entry *entries;
	size_t map_len;
};

static int64_t monotonic_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

struct auth_cred_cache *auth_cred_cache_new(unsigned capacity)
{
	if (capacity == 0 || capacity >= NIL / 2)
		return NULL;
	uint32_t n_buckets = 1;
	while (n_buckets < capacity)
		n_buckets <<= 1;
	size_t head = (sizeof(struct auth_cred_cache) + 63) & ~(size_t)63;
	size_t len = head + (size_t)n_buckets * sizeof(uint32_t) +
		     (size_t)capacity * sizeof(struct cred_entry) + 64;
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	/* Best effort: not every kernel knows it; the cache works without. */
	(void)madvise(map, len, MADV_DONTDUMP);

	struct auth_cred_cache *c = map;
	c->map_len = len;
	if (auth_random(c->key, sizeof(c->key)) < 0) {
		munmap(map, len);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->now = monotonic_seconds;
	c->capacity = capacity;
	c->n_buckets = n_buckets;
	c->lru_head = c->lru_tail = c->free_head = NIL;
	c->buckets = (uint32_t *)((char *)map + head);
	size_t ent_off = head + (size_t)n_buckets * sizeof(uint32_t);
	ent_off = (ent_off + 63) & ~(size_t)63;
	c->entries = (struct cred_entry *)((char *)map + ent_off);
	memset(c->buckets, 0xff, (size_t)n_buckets * sizeof(uint32_t)); /* all NIL */
	return c;
}

void auth_cred_cache_free(struct auth_cred_cache **cp)
{
	struct auth_cred_cache *c = *cp;
	if (c == NULL)
		return;
	*cp = NULL;
	pthread_mutex_destroy(&c->lock);
	size_t len = c->map_len;
	explicit_bzero(c->key, sizeof(c->key));
	munmap(c, len);
}

void auth_cred_cache_set_clock(struct auth_cred_cache *c, int64_t (*now)(void))
{
	pthread_mutex_lock(&c->lock);
	c->now = now ? now : monotonic_seconds;
	pthread_mutex_unlock(&c->lock);
}

void auth_cred_cache_mac(const struct auth_cred_cache *c, int64_t account_id, const char *password,
			 unsigned char mac_r[AUTH_CACHE_MAC_LEN])
{
	/* HMAC(key, id || password): the fixed-length id first, so no two
	 * (id, password) pairs give the same message. */
	unsigned char msg[8 + AUTH_PASSWORD_MAX];
	size_t plen = strlen(password);
	if (plen > AUTH_PASSWORD_MAX)
		plen = AUTH_PASSWORD_MAX; /* never cached: the caller refuses them */
	for (int i = 0; i < 8; i++)
		msg[i] = (unsigned char)((uint64_t)account_id >> (8 * i));
	memcpy(msg + 8, password, plen);
	unsigned int len = 0;
	if (HMAC(EVP_sha256(), c->key, sizeof(c->key), msg, 8 + plen, mac_r, &len) == NULL ||
	    len != AUTH_CACHE_MAC_LEN) {
		/* Cannot happen with a working libcrypto; a random value can
		 * only miss, never match a stored mac by accident. */
		if (auth_random(mac_r, AUTH_CACHE_MAC_LEN) < 0)
			memset(mac_r, 0, AUTH_CACHE_MAC_LEN);
	}
	explicit_bzero(msg, 8 + plen);
}

void auth_cache_digest(const void *data, size_t len, unsigned char digest_r[AUTH_CACHE_DIGEST_LEN])
{
	unsigned int n = 0;
	if (EVP_Digest(data, len, digest_r, &n, EVP_sha256(), NULL) != 1 ||
	    n != AUTH_CACHE_DIGEST_LEN) {
		/* As above: a digest that matches nothing stored. */
		if (auth_random(digest_r, AUTH_CACHE_DIGEST_LEN) < 0)
			memset(digest_r, 0xa5, AUTH_CACHE_DIGEST_LEN);
	}
}

/* --- the lists; caller holds the lock --- */

static uint32_t bucket_of(const struct auth_cred_cache *c, const unsigned char *mac)
{
	uint32_t h = (uint32_t)mac[0] | (uint32_t)mac[1] << 8 | (uint32_t)mac[2] << 16 |
		     (uint32_t)mac[3] << 24;
	return h & (c->n_buckets - 1);
}

static void lru_unlink(struct auth_cred_cache *c, uint32_t i)
{
	struct cred_entry *e = &c->entries[i];
	if (e->lru_prev != NIL)
		c->entries[e->lru_prev].lru_next = e->lru_next;
	else
		c->lru_head = e->lru_next;
	if (e->lru_next != NIL)
		c->entries[e->lru_next].lru_prev = e->lru_prev;
	else
		c->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NIL;
}

static void lru_push_front(struct auth_cred_cache *c, uint32_t i)
{
	struct cred_entry *e = &c->entries[i];
	e->lru_prev = NIL;
	e->lru_next = c->lru_head;
	if (c->lru_head != NIL)
		c->entries[c->lru_head].lru_prev = i;
	c->lru_head = i;
	if (c->lru_tail == NIL)
		c->lru_tail = i;
}

/* Finds the entry of (account, mac); NIL if none. Every candidate's mac is
 * compared in constant time. */
static uint32_t find_locked(struct auth_cred_cache *c, int64_t account_id, const unsigned char *mac)
{
	for (uint32_t i = c->buckets[bucket_of(c, mac)]; i != NIL; i = c->entries[i].bucket_next) {
		struct cred_entry *e = &c->entries[i];
		if (auth_consttime_eq(e->mac, mac, AUTH_CACHE_MAC_LEN) &&
		    e->account_id == account_id)
			return i;
	}
	return NIL;
}

/* Unlinks entry i from its bucket and the LRU list, wipes it and puts
 * it on the free list (linked through bucket_next). */
static void remove_locked(struct auth_cred_cache *c, uint32_t i)
{
	struct cred_entry *e = &c->entries[i];
	uint32_t *link = &c->buckets[bucket_of(c, e->mac)];
	while (*link != NIL && *link != i)
		link = &c->entries[*link].bucket_next;
	if (*link == i)
		*link = e->bucket_next;
	lru_unlink(c, i);
	explicit_bzero(e, sizeof(*e));
	e->lru_prev = e->lru_next = NIL;
	e->bucket_next = c->free_head;
	c->free_head = i;
	c->count--;
}

int auth_cred_cache_lookup(struct auth_cred_cache *c, int64_t account_id, const char *password,
			   unsigned ttl, int64_t *cred_id_r,
			   unsigned char digest_r[AUTH_CACHE_DIGEST_LEN])
{
	if (c == NULL || ttl == 0)
		return 0;
	unsigned char mac[AUTH_CACHE_MAC_LEN];
	auth_cred_cache_mac(c, account_id, password, mac);
	int ret = 0;
	pthread_mutex_lock(&c->lock);
	uint32_t i = find_locked(c, account_id, mac);
	if (i != NIL) {
		struct cred_entry *e = &c->entries[i];
		int64_t age = c->now() - e->verified_at;
		if (age < 0 || age >= (int64_t)ttl) {
			remove_locked(c, i);
		} else {
			*cred_id_r = e->cred_id;
			memcpy(digest_r, e->digest, AUTH_CACHE_DIGEST_LEN);
			lru_unlink(c, i);
			lru_push_front(c, i);
			ret = 1;
		}
	}
	pthread_mutex_unlock(&c->lock);
	explicit_bzero(mac, sizeof(mac));
	return ret;
}

void auth_cred_cache_put(struct auth_cred_cache *c, int64_t account_id, const char *password,
			 int64_t cred_id, const unsigned char digest[AUTH_CACHE_DIGEST_LEN])
{
	if (c == NULL)
		return;
	unsigned char mac[AUTH_CACHE_MAC_LEN];
	auth_cred_cache_mac(c, account_id, password, mac);
	pthread_mutex_lock(&c->lock);
	uint32_t i = find_locked(c, account_id, mac);
	if (i != NIL) {
		lru_unlink(c, i);
	} else {
		if (c->free_head == NIL && c->next_fresh == c->capacity)
			remove_locked(c, c->lru_tail); /* full: evict the least recently used */
		if (c->free_head != NIL) {
			i = c->free_head;
			c->free_head = c->entries[i].bucket_next;
		} else {
			i = c->next_fresh++;
		}
	}
	struct cred_entry *e = &c->entries[i];
	if (!e->used) {
		memcpy(e->mac, mac, sizeof(mac));
		e->account_id = account_id;
		e->used = true;
		uint32_t b = bucket_of(c, mac);
		e->bucket_next = c->buckets[b];
		c->buckets[b] = i;
		c->count++;
	}
	e->cred_id = cred_id;
	memcpy(e->digest, digest, AUTH_CACHE_DIGEST_LEN);
	e->verified_at = c->now();
	lru_push_front(c, i);
	pthread_mutex_unlock(&c->lock);
	explicit_bzero(mac, sizeof(mac));
}

void auth_cred_cache_remove(struct auth_cred_cache *c, int64_t account_id, const char *password)
{
	if (c == NULL)
		return;
	unsigned char mac[AUTH_CACHE_MAC_LEN];
	auth_cred_cache_mac(c, account_id, password, mac);
	pthread_mutex_lock(&c->lock);
	uint32_t i = find_locked(c, account_id, mac);
	if (i != NIL)
		remove_locked(c, i);
	pthread_mutex_unlock(&c->lock);
	explicit_bzero(mac, sizeof(mac));
}

void auth_cred_cache_clear(struct auth_cred_cache *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	explicit_bzero(c->entries, (size_t)c->next_fresh * sizeof(struct cred_entry));
	memset(c->buckets, 0xff, (size_t)c->n_buckets * sizeof(uint32_t));
	c->count = 0;
	c->next_fresh = 0;
	c->lru_head = c->lru_tail = c->free_head = NIL;
	pthread_mutex_unlock(&c->lock);
}

unsigned auth_cred_cache_count(struct auth_cred_cache *c)
{
	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->lock);
	unsigned n = c->count;
	pthread_mutex_unlock(&c->lock);
	return n;
}
