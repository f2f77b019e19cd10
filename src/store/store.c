/* store.c - the generic half of the store: argument checks, the registry
 * of open users, errors, the blob spooler, keywords, message lists, the
 * change bus and cross-process notification. Everything that touches
 * stored data is forwarded to the backend (store-backend.h). */
#include "store-backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/pool.h"
#include "lib/utf8.h"

static const struct store_backend *backend;
static char *data_dir;

/* Open users: a hash of chains (one entry per user with a live session
 * in this process, possibly tens of thousands) guarded by one lock;
 * refcounts live under the same lock so open/unref race-free. */
#define REGISTRY_BUCKETS 4096
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store_user *registry[REGISTRY_BUCKETS];
static unsigned registry_count;
static pid_t registry_pid;

/* Parked handles (refcount 0, still open), most recently parked first.
 * Bounded: parking one more than STORE_PARK_MAX closes the oldest. */
#define STORE_PARK_MAX 256
static struct store_user *lru_head, *lru_tail;
static unsigned lru_count;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Registry lock held for all the lru_* and registry_remove helpers. */
static void lru_unlink(struct store_user *u)
{
	if (u->lru_prev != NULL)
		u->lru_prev->lru_next = u->lru_next;
	else
		lru_head = u->lru_next;
	if (u->lru_next != NULL)
		u->lru_next->lru_prev = u->lru_prev;
	else
		lru_tail = u->lru_prev;
	u->lru_prev = u->lru_next = NULL;
	u->parked = false;
	lru_count--;
}

static void lru_push(struct store_user *u)
{
	u->parked = true;
	u->parked_ms = mono_ms();
	u->lru_prev = NULL;
	u->lru_next = lru_head;
	if (lru_head != NULL)
		lru_head->lru_prev = u;
	else
		lru_tail = u;
	lru_head = u;
	lru_count++;
}

static struct store_user **registry_bucket(const char *key)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return &registry[h % REGISTRY_BUCKETS];
}

/* ------------------------------------------------------------------ */
/* errors */

static _Thread_local enum store_error last_error;
static _Thread_local char last_error_msg[256];

int store_fail(enum store_error err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error_msg, sizeof(last_error_msg), fmt, ap);
	va_end(ap);
	last_error = err;
	return -1;
}

void store_error_clear(void)
{
	last_error = STORE_ERR_NONE;
	last_error_msg[0] = '\0';
}

enum store_error store_error(const char **msg_r)
{
	if (msg_r)
		*msg_r = last_error_msg;
	return last_error;
}

const char *store_error_imap_code(enum store_error err)
{
	switch (err) {
	case STORE_ERR_NONE: return "";
	case STORE_ERR_NONEXISTENT: return "NONEXISTENT";
	case STORE_ERR_ALREADYEXISTS: return "ALREADYEXISTS";
	case STORE_ERR_HASCHILDREN: return "HASCHILDREN";
	case STORE_ERR_BADNAME: return "CANNOT";
	case STORE_ERR_OVERQUOTA: return "OVERQUOTA";
	case STORE_ERR_LIMIT: return "LIMIT";
	case STORE_ERR_NOPERM: return "NOPERM";
	case STORE_ERR_INUSE: return "INUSE";
	case STORE_ERR_TEMPFAIL: return "UNAVAILABLE";
	case STORE_ERR_CORRUPT: return "CORRUPTION";
	case STORE_ERR_INTERNAL: return "SERVERBUG";
	}
	return "SERVERBUG";
}

/* ------------------------------------------------------------------ */
/* validation */

static bool user_key_valid(const char *key)
{
	if (key == NULL || key[0] == '\0' || key[0] == '.')
		return false;
	size_t len = strlen(key);
	if (len > STORE_USER_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = key[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

static int check_user_key(const char *key)
{
	if (!user_key_valid(key))
		return store_fail(STORE_ERR_BADNAME, "Invalid user key");
	return 1;
}

/* Validates a mailbox name and writes its canonical form (INBOX in upper
 * case as the first component) into out[STORE_MAILBOX_NAME_MAX + 1]. */
static int mailbox_name_canon(const char *name, char *out)
{
	if (name == NULL)
		return store_fail(STORE_ERR_BADNAME, "Missing mailbox name");
	size_t len = strlen(name);
	if (len == 0 || len > STORE_MAILBOX_NAME_MAX)
		return store_fail(STORE_ERR_BADNAME, "Invalid mailbox name length");
	const unsigned char *s = (const unsigned char *)name;
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		if (c < 0x20 || c == 0x7f)
			return store_fail(STORE_ERR_BADNAME, "Control characters in mailbox name");
		if (c == '*' || c == '%')
			return store_fail(STORE_ERR_BADNAME, "Wildcards in mailbox name");
		if (c == '/' && (i == 0 || i == len - 1 || s[i + 1] == '/'))
			return store_fail(STORE_ERR_BADNAME, "Empty hierarchy level in mailbox name");
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);
		if (n == 0)
			return store_fail(STORE_ERR_BADNAME, "Mailbox name is not valid UTF-8");
		i += n;
	}
	memcpy(out, name, len + 1);
	if (strncasecmp(out, "INBOX", 5) == 0 && (out[5] == '\0' || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return 1;
}

bool store_keyword_valid(const char *kw, size_t len)
{
	if (len == 0 || len > STORE_KEYWORD_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)kw[i];
		/* RFC 9051 9: atom = 1*ATOM-CHAR; flag-keyword excludes '\' too. */
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

/* Splits a space-separated keyword string: calls fn for each keyword. */
static int keywords_each(const char *s, int (*fn)(void *ctx, const char *kw, size_t len),
			 void *ctx)
{
	if (s == NULL)
		return 1;
	while (*s) {
		while (*s == ' ')
			s++;
		const char *e = s;
		while (*e && *e != ' ')
			e++;
		if (e > s && fn(ctx, s, (size_t)(e - s)) < 0)
			return -1;
		s = e;
	}
	return 1;
}

/* Is kw (len bytes) in the canonical set `set` (case-insensitive)? */
static bool keyword_in(const char *set, size_t setlen, const char *kw, size_t len)
{
	const char *s = set, *end = set + setlen;
	while (s < end) {
		const char *e = memchr(s, ' ', (size_t)(end - s));
		if (e == NULL)
			e = end;
		if ((size_t)(e - s) == len && strncasecmp(s, kw, len) == 0)
			return true;
		s = e + 1;
	}
	return false;
}

struct kw_add_ctx {
	struct buf *out;
	unsigned count;
};

static int kw_add(void *ctx, const char *kw, size_t len)
{
	struct kw_add_ctx *c = ctx;
	if (!store_keyword_valid(kw, len))
		return store_fail(STORE_ERR_BADNAME, "Invalid keyword");
	if (keyword_in(buf_cstr(c->out), c->out->len, kw, len))
		return 1;
	if (++c->count > STORE_KEYWORDS_PER_MSG_MAX)
		return store_fail(STORE_ERR_LIMIT, "Too many keywords on one message");
	if ((c->out->len && buf_append_char(c->out, ' ') < 0) || buf_append(c->out, kw, len) < 0)
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	return 1;
}

int store_keywords_canon(const char *in, struct buf *out)
{
	buf_reset(out);
	struct kw_add_ctx c = { out, 0 };
	return keywords_each(in, kw_add, &c);
}

struct kw_remove_ctx {
	const char *arg;
	struct kw_add_ctx *add;
};

static int kw_keep_unless_in_arg(void *ctx, const char *kw, size_t len)
{
	struct kw_remove_ctx *c = ctx;
	if (keyword_in(c->arg, strlen(c->arg), kw, len))
		return 1;
	return kw_add(c->add, kw, len);
}

int store_keywords_apply(const char *cur, enum store_flags_op op, const char *arg,
			 struct buf *out)
{
	buf_reset(out);
	struct kw_add_ctx c = { out, 0 };
	if (cur == NULL)
		cur = "";
	if (arg == NULL)
		arg = "";
	switch (op) {
	case STORE_FLAGS_REPLACE:
		return keywords_each(arg, kw_add, &c);
	case STORE_FLAGS_ADD:
		if (keywords_each(cur, kw_add, &c) < 0)
			return -1;
		return keywords_each(arg, kw_add, &c);
	case STORE_FLAGS_REMOVE: {
		struct kw_remove_ctx rc = { arg, &c };
		return keywords_each(cur, kw_keep_unless_in_arg, &rc);
	}
	}
	return store_fail(STORE_ERR_INTERNAL, "Bad flag operation");
}

/* ------------------------------------------------------------------ */
/* process setup */

const char *store_data_dir(void)
{
	return data_dir;
}

static void notify_stop(void);
static void notify_sender_close(void);
static struct store_user *unpark(const char *user_key);
static void user_free_chain(struct store_user *chain);

int store_init(const char *dir, char *err, size_t errcap)
{
	if (dir == NULL || dir[0] == '\0') {
		snprintf(err, errcap, "store: data_dir is not set");
		return -1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errcap, "store: cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	/* After fork() the child must not use the parent's handles (an SQLite
	 * connection must not cross a fork): forget them, without closing. */
	pthread_mutex_lock(&registry_lock);
	if (registry_pid != getpid()) {
		memset(registry, 0, sizeof(registry));
		registry_count = 0;
		lru_head = lru_tail = NULL;
		lru_count = 0;
	}
	registry_pid = getpid();
	pthread_mutex_unlock(&registry_lock);
	free(data_dir);
	data_dir = strdup(dir);
	if (data_dir == NULL) {
		snprintf(err, errcap, "store: out of memory");
		return -1;
	}
	backend = &store_backend_sqlite;
	if (backend->init(dir, err, errcap) < 0) {
		free(data_dir);
		data_dir = NULL;
		backend = NULL;
		return -1;
	}
	return 1;
}

void store_deinit(void)
{
	sq_search_indexer_stop();
	notify_stop();
	notify_sender_close();
	if (backend == NULL)
		return;
	pthread_mutex_lock(&registry_lock);
	struct store_user *chain = NULL;
	if (registry_pid == getpid()) {
		chain = unpark(NULL);
		if (registry_count != 0)
			log_warn("store_deinit", "open_users=yes");
	}
	pthread_mutex_unlock(&registry_lock);
	/* Parked handles close here, so a CLI (roost deliver) leaves its
	 * database cleanly at exit. */
	user_free_chain(chain);
	backend->deinit();
	backend = NULL;
	free(data_dir);
	data_dir = NULL;
}

/* ------------------------------------------------------------------ */
/* users */

static struct store_user *registry_find(const char *key)
{
	for (struct store_user *u = *registry_bucket(key); u != NULL; u = u->next)
		if (strcmp(u->key, key) == 0)
			return u;
	return NULL;
}

/* Takes u out of the registry (and off the LRU list if parked). */
static void registry_remove(struct store_user *u)
{
	for (struct store_user **p = registry_bucket(u->key); *p != NULL; p = &(*p)->next) {
		if (*p == u) {
			*p = u->next;
			registry_count--;
			break;
		}
	}
	if (u->parked)
		lru_unlink(u);
}

/* Closes a handle nobody can reach any more (out of the registry). */
static void user_free(struct store_user *u)
{
	backend->user_close(u);
	pthread_mutex_destroy(&u->bus_lock);
	free(u->tmp_dir);
	free(u);
}

/* Closes the parked handles in the chain (linked by lru_next after they
 * were taken out of the registry). Without the registry lock: closing a
 * database may take a moment. */
static void user_free_chain(struct store_user *chain)
{
	while (chain != NULL) {
		struct store_user *next = chain->lru_next;
		user_free(chain);
		chain = next;
	}
}

int store_user_open(const char *user_key, struct store_user **u_r)
{
	*u_r = NULL;
	if (check_user_key(user_key) < 0)
		return -1;
	/* Opening happens under the registry lock so two sessions logging in
	 * at once get the same handle; it is one open() and a few PRAGMAs. */
	pthread_mutex_lock(&registry_lock);
	struct store_user *u = registry_find(user_key);
	struct store_user *stale = NULL;
	if (u != NULL && u->parked && !backend->user_current(u)) {
		/* Deleted, renamed or re-created by another process since it
		 * was parked: never revive it (its connection would write to
		 * a database that is no longer the user's). */
		registry_remove(u);
		stale = u;
		u = NULL;
	}
	if (u != NULL) {
		if (u->parked)
			lru_unlink(u);
		u->refcount++;
		pthread_mutex_unlock(&registry_lock);
		*u_r = u;
		return 1;
	}
	if (stale != NULL) {
		stale->lru_next = NULL;
		user_free(stale);
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		pthread_mutex_unlock(&registry_lock);
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	}
	snprintf(u->key, sizeof(u->key), "%s", user_key);
	u->refcount = 1;
	pthread_mutex_init(&u->bus_lock, NULL);
	if (backend->user_open(u) < 0) {
		pthread_mutex_unlock(&registry_lock);
		pthread_mutex_destroy(&u->bus_lock);
		free(u);
		return -1;
	}
	struct store_user **bucket = registry_bucket(u->key);
	u->next = *bucket;
	*bucket = u;
	registry_count++;
	pthread_mutex_unlock(&registry_lock);
	*u_r = u;
	return 1;
}

void store_user_unref(struct store_user **up)
{
	struct store_user *u = *up;
	if (u == NULL)
		return;
	*up = NULL;
	pthread_mutex_lock(&registry_lock);
	if (--u->refcount > 0) {
		pthread_mutex_unlock(&registry_lock);
		return;
	}
	/* Parked, not closed: closing would checkpoint and the next open
	 * would parse the schema again, for every LMTP delivery. The
	 * oldest parked handle goes when there are too many. */
	lru_push(u);
	struct store_user *evict = NULL;
	if (lru_count > STORE_PARK_MAX) {
		evict = lru_tail;
		registry_remove(evict);
		evict->lru_next = NULL;
	}
	pthread_mutex_unlock(&registry_lock);
	user_free_chain(evict);
}

/* Takes every parked handle (of user_key, or all if NULL) out of the
 * registry and returns them as a chain for user_free_chain. Registry
 * lock held. */
static struct store_user *unpark(const char *user_key)
{
	struct store_user *chain = NULL;
	for (struct store_user *u = lru_head, *next; u != NULL; u = next) {
		next = u->lru_next;
		if (user_key != NULL && strcmp(u->key, user_key) != 0)
			continue;
		registry_remove(u);
		u->lru_next = chain;
		chain = u;
	}
	return chain;
}

const char *store_user_key(const struct store_user *u)
{
	return u->key;
}

/* Is the user referenced in this process? A parked handle is closed
 * first: it is no reason to refuse deleting or renaming the user. */
static bool user_is_open(const char *key)
{
	pthread_mutex_lock(&registry_lock);
	struct store_user *chain = unpark(key);
	bool open = registry_find(key) != NULL;
	pthread_mutex_unlock(&registry_lock);
	user_free_chain(chain);
	return open;
}

int store_user_create(const char *user_key)
{
	if (check_user_key(user_key) < 0)
		return -1;
	return backend->user_create(user_key);
}

int store_user_delete(const char *user_key)
{
	if (check_user_key(user_key) < 0)
		return -1;
	if (user_is_open(user_key))
		return store_fail(STORE_ERR_INUSE, "User is in use");
	return backend->user_delete(user_key);
}

int store_user_rename(const char *old_key, const char *new_key)
{
	if (check_user_key(old_key) < 0 || check_user_key(new_key) < 0)
		return -1;
	if (user_is_open(old_key) || user_is_open(new_key))
		return store_fail(STORE_ERR_INUSE, "User is in use");
	return backend->user_rename(old_key, new_key);
}

int store_user_exists(const char *user_key)
{
	if (check_user_key(user_key) < 0)
		return -1;
	return backend->user_exists(user_key);
}

int store_user_refresh(struct store_user *u)
{
	return backend->user_refresh(u);
}

unsigned store_release_idle(unsigned idle_seconds)
{
	return store_release_idle_ms((uint64_t)idle_seconds * 1000);
}

unsigned store_release_idle_ms(uint64_t idle_ms)
{
	unsigned released = 0;
	if (backend == NULL)
		return 0;
	unsigned ms = idle_ms > UINT_MAX ? UINT_MAX : (unsigned)idle_ms;
	int64_t now = mono_ms();
	/* Parked handles unused for idle_ms are closed and forgotten; the
	 * LRU list is in parking order, so the scan stops at the first one
	 * parked more recently. */
	pthread_mutex_lock(&registry_lock);
	struct store_user *chain = NULL;
	while (lru_tail != NULL && now - lru_tail->parked_ms >= (int64_t)ms) {
		struct store_user *u = lru_tail;
		registry_remove(u);
		u->lru_next = chain;
		chain = u;
		released++;
	}
	/* Users with sessions keep their handle but lose the database
	 * connection. The backend only try-locks each user, so holding the
	 * registry lock here never waits on a user's database work. */
	for (size_t i = 0; i < REGISTRY_BUCKETS; i++)
		for (struct store_user *u = registry[i]; u != NULL; u = u->next)
			released += backend->user_release(u, ms) ? 1 : 0;
	pthread_mutex_unlock(&registry_lock);
	user_free_chain(chain);
	return released;
}

int store_user_foreach(int (*fn)(void *ctx, const char *user_key), void *ctx)
{
	return backend->user_foreach(fn, ctx);
}

/* ------------------------------------------------------------------ */
/* mailboxes */

int store_mailbox_list(struct store_user *u, struct store_mailbox_list **list_r)
{
	*list_r = NULL;
	return backend->mailbox_list(u, list_r);
}

void store_mailbox_list_free(struct store_mailbox_list **list)
{
	if (*list == NULL)
		return;
	free((*list)->items);
	pool_free(&(*list)->pool);
	free(*list);
	*list = NULL;
}

int store_mailbox_lookup(struct store_user *u, const char *name,
			 struct store_mailbox_info *info_r, char *name_buf)
{
	if (mailbox_name_canon(name, name_buf) < 0)
		return -1;
	return backend->mailbox_lookup(u, name_buf, info_r, name_buf);
}

int store_mailbox_create(struct store_user *u, const char *name, uint32_t special_use,
			 uint64_t *id_r)
{
	char canon[STORE_MAILBOX_NAME_MAX + 1];
	uint64_t id;
	if (mailbox_name_canon(name, canon) < 0)
		return -1;
	if (special_use & ~(uint32_t)STORE_SPECIAL_MASK)
		return store_fail(STORE_ERR_BADNAME, "Unknown special-use attribute");
	if (backend->mailbox_create(u, canon, special_use, &id) < 0)
		return -1;
	if (id_r)
		*id_r = id;
	return 1;
}

int store_mailbox_delete(struct store_user *u, const char *name)
{
	char canon[STORE_MAILBOX_NAME_MAX + 1];
	if (mailbox_name_canon(name, canon) < 0)
		return -1;
	if (strcmp(canon, "INBOX") == 0)
		return store_fail(STORE_ERR_NOPERM, "INBOX cannot be deleted");
	return backend->mailbox_delete(u, canon);
}

int store_mailbox_rename(struct store_user *u, const char *old_name, const char *new_name)
{
	char from[STORE_MAILBOX_NAME_MAX + 1], to[STORE_MAILBOX_NAME_MAX + 1];
	if (mailbox_name_canon(old_name, from) < 0 || mailbox_name_canon(new_name, to) < 0)
		return -1;
	size_t flen = strlen(from);
	if (strcmp(from, to) == 0)
		return store_fail(STORE_ERR_ALREADYEXISTS, "Mailbox already exists");
	if (strncmp(to, from, flen) == 0 && to[flen] == '/')
		return store_fail(STORE_ERR_BADNAME, "Cannot rename a mailbox into itself");
	if (strcmp(to, "INBOX") == 0)
		return store_fail(STORE_ERR_ALREADYEXISTS, "INBOX already exists");
	return backend->mailbox_rename(u, from, to);
}

int store_mailbox_subscribe(struct store_user *u, const char *name, bool subscribe)
{
	char canon[STORE_MAILBOX_NAME_MAX + 1];
	if (mailbox_name_canon(name, canon) < 0)
		return -1;
	return backend->mailbox_subscribe(u, canon, subscribe);
}

int store_mailbox_set_special_use(struct store_user *u, uint64_t mailbox_id, uint32_t special_use)
{
	if (special_use & ~(uint32_t)STORE_SPECIAL_MASK)
		return store_fail(STORE_ERR_BADNAME, "Unknown special-use attribute");
	return backend->mailbox_set_special_use(u, mailbox_id, special_use);
}

int store_mailbox_set_uidvalidity(struct store_user *u, uint64_t mailbox_id, uint32_t uidvalidity)
{
	if (uidvalidity == 0 || uidvalidity == UINT32_MAX)
		return store_fail(STORE_ERR_BADNAME, "Invalid UIDVALIDITY");
	return backend->mailbox_set_uidvalidity(u, mailbox_id, uidvalidity);
}

int store_mailbox_status(struct store_user *u, uint64_t mailbox_id, struct store_status *st_r)
{
	memset(st_r, 0, sizeof(*st_r));
	return backend->mailbox_status(u, mailbox_id, st_r);
}

/* ------------------------------------------------------------------ */
/* message lists */

void store_msg_list_free(struct store_msg_list **list)
{
	struct store_msg_list *l = *list;
	if (l == NULL)
		return;
	store_msg_list_clear(l);
	free(l);
	*list = NULL;
}

void store_msg_list_clear(struct store_msg_list *l)
{
	for (uint32_t i = 0; i < l->kwset_count; i++)
		free(l->kwsets[i]);
	free(l->kwsets);
	free(l->msgs);
	memset(l, 0, sizeof(*l));
}

long store_msg_list_find(const struct store_msg_list *list, uint32_t uid)
{
	size_t lo = 0, hi = list->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t v = list->msgs[mid].uid;
		if (v == uid)
			return (long)mid;
		if (v < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

const char *store_msg_keywords(const struct store_msg_list *list, const struct store_msg *m)
{
	if (m->kwset == 0 || m->kwset >= list->kwset_count)
		return "";
	return list->kwsets[m->kwset];
}

void store_kw_intern_free(struct store_kw_intern *ki)
{
	free(ki->slots);
	ki->slots = NULL;
	ki->cap = 0;
}

static uint32_t kw_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static int kw_intern_grow(struct store_msg_list *l, struct store_kw_intern *ki)
{
	uint32_t cap = ki->cap ? ki->cap * 2 : 64;
	uint32_t *slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return -1;
	for (uint32_t i = 1; i < l->kwset_count; i++) {
		uint32_t h = kw_hash(l->kwsets[i]) & (cap - 1);
		while (slots[h] != 0)
			h = (h + 1) & (cap - 1);
		slots[h] = i + 1;
	}
	free(ki->slots);
	ki->slots = slots;
	ki->cap = cap;
	return 1;
}

static int kw_intern(struct store_msg_list *l, struct store_kw_intern *ki, const char *kw,
		     uint32_t *idx_r)
{
	if (kw == NULL || kw[0] == '\0') {
		*idx_r = 0;
		return 1;
	}
	if (l->kwset_count == 0) {
		/* kwsets[0] is always "" */
		l->kwsets = calloc(8, sizeof(char *));
		if (l->kwsets == NULL || (l->kwsets[0] = strdup("")) == NULL)
			return -1;
		l->kwset_cap = 8;
		l->kwset_count = 1;
	}
	if ((l->kwset_count + 1) * 2 > ki->cap && kw_intern_grow(l, ki) < 0)
		return -1;
	uint32_t h = kw_hash(kw) & (ki->cap - 1);
	while (ki->slots[h] != 0) {
		uint32_t i = ki->slots[h] - 1;
		if (strcmp(l->kwsets[i], kw) == 0) {
			*idx_r = i;
			return 1;
		}
		h = (h + 1) & (ki->cap - 1);
	}
	if (l->kwset_count == l->kwset_cap) {
		char **n = realloc(l->kwsets, l->kwset_cap * 2 * sizeof(char *));
		if (n == NULL)
			return -1;
		l->kwsets = n;
		l->kwset_cap *= 2;
	}
	char *copy = strdup(kw);
	if (copy == NULL)
		return -1;
	uint32_t idx = l->kwset_count++;
	l->kwsets[idx] = copy;
	ki->slots[h] = idx + 1;
	*idx_r = idx;
	return 1;
}

int store_msg_list_push(struct store_msg_list *l, struct store_kw_intern *ki,
			const struct store_msg *m, const char *kw)
{
	uint32_t idx;
	if (kw_intern(l, ki, kw, &idx) < 0)
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	if (l->count == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 64;
		if (cap < l->cap)
			return store_fail(STORE_ERR_LIMIT, "Too many messages");
		struct store_msg *n = realloc(l->msgs, (size_t)cap * sizeof(*n));
		if (n == NULL)
			return store_fail(STORE_ERR_INTERNAL, "Out of memory");
		l->msgs = n;
		l->cap = cap;
	}
	l->msgs[l->count] = *m;
	l->msgs[l->count].kwset = idx;
	l->count++;
	return 1;
}

int store_kw_intern_index(struct store_msg_list *l, struct store_kw_intern *ki, const char *kw,
			  uint32_t *idx_r)
{
	/* A list that already holds keyword sets (read from a snapshot):
	 * kw_intern grows an empty table only once, so size it for them
	 * first (grow doubles cap: the table gets room for twice the sets). */
	if (ki->cap == 0 && l->kwset_count > 0) {
		uint32_t cap = 32;
		while (cap < l->kwset_count + 1)
			cap *= 2;
		ki->cap = cap;
		if (kw_intern_grow(l, ki) < 0) {
			ki->cap = 0;
			return store_fail(STORE_ERR_INTERNAL, "Out of memory");
		}
	}
	if (kw_intern(l, ki, kw, idx_r) < 0)
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	return 1;
}

int store_uid_array_push(struct store_uid_array *a, uint32_t uid)
{
	if (a->count == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		uint32_t *n = realloc(a->uids, cap * sizeof(*n));
		if (n == NULL)
			return store_fail(STORE_ERR_INTERNAL, "Out of memory");
		a->uids = n;
		a->cap = cap;
	}
	a->uids[a->count++] = uid;
	return 1;
}

void store_uid_array_free(struct store_uid_array *a)
{
	free(a->uids);
	a->uids = NULL;
	a->count = a->cap = 0;
}

int store_msg_list_load(struct store_user *u, uint64_t mailbox_id, struct store_msg_list **list_r)
{
	*list_r = NULL;
	return backend->msg_list_load(u, mailbox_id, false, NULL, NULL, list_r);
}

int store_msg_list_load_head(struct store_user *u, uint64_t mailbox_id, bool want_first_unseen,
			     store_msg_list_head_cb *head_cb, void *ctx,
			     struct store_msg_list **list_r)
{
	*list_r = NULL;
	return backend->msg_list_load(u, mailbox_id, want_first_unseen, head_cb, ctx, list_r);
}

int store_changes_since(struct store_user *u, uint64_t mailbox_id, uint64_t since_modseq,
			struct store_changes **changes_r)
{
	*changes_r = NULL;
	return backend->changes_since(u, mailbox_id, since_modseq, changes_r);
}

void store_changes_free(struct store_changes **changes)
{
	struct store_changes *c = *changes;
	if (c == NULL)
		return;
	store_msg_list_clear(&c->changed);
	store_uid_array_free(&c->expunged);
	free(c);
	*changes = NULL;
}

int store_msg_open(struct store_user *u, uint64_t blob_id, int *fd_r, uint64_t *size_r)
{
	*fd_r = -1;
	*size_r = 0;
	return backend->msg_open(u, blob_id, fd_r, size_r);
}

int store_msg_text(struct store_user *u, uint64_t blob_id, struct buf *out)
{
	return backend->msg_text(u, blob_id, out);
}

int store_msg_cache(struct store_user *u, uint64_t blob_id, struct buf *out)
{
	return backend->msg_cache(u, blob_id, out);
}

/* ------------------------------------------------------------------ */
/* blobs */

static pthread_mutex_t blob_counter_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t blob_counter;

int store_blob_begin(struct store_user *u, bool lf_to_crlf, struct store_blob **blob_r)
{
	*blob_r = NULL;
	struct store_blob *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	pthread_mutex_lock(&blob_counter_lock);
	uint64_t n = ++blob_counter;
	pthread_mutex_unlock(&blob_counter_lock);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char path[4096];
	/* fsck reads the pid back from the name: see store_fsck. */
	int len = snprintf(path, sizeof(path), "%s/%ld.%llu.%lx", u->tmp_dir, (long)getpid(),
			   (unsigned long long)n, (unsigned long)(ts.tv_nsec ^ (long)ts.tv_sec));
	if (len < 0 || (size_t)len >= sizeof(path) || (b->path = strdup(path)) == NULL) {
		free(b);
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	}
	/* The file is made when the message outgrows the buffer: a message
	 * that fits is stored in the database (store_blob_inline). */
	b->fd = -1;
	b->u = u;
	b->lf_to_crlf = lf_to_crlf;
	*blob_r = b;
	return 1;
}

static int blob_create(struct store_blob *b)
{
	b->fd = open(b->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (b->fd < 0) {
		b->failed = true;
		log_error("store_blob_create", "user=%s error=\"%s\"", b->u->key, strerror(errno));
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot create a temporary file");
	}
	return 1;
}

static int blob_write_all(struct store_blob *b, const char *p, size_t len)
{
	if (b->fd < 0 && blob_create(b) < 0)
		return -1;
	while (len > 0) {
		ssize_t n = write(b->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			b->failed = true;
			log_error("store_blob_write", "user=%s error=\"%s\"", b->u->key,
				  n < 0 ? strerror(errno) : "short write");
			return store_fail(STORE_ERR_TEMPFAIL, "Cannot write message: %s",
					  n < 0 && errno == ENOSPC ? "disk full" : "I/O error");
		}
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

static int blob_flush(struct store_blob *b)
{
	if (blob_write_all(b, b->buf, b->buf_len) < 0)
		return -1;
	b->buf_len = 0;
	return 1;
}

static int blob_put(struct store_blob *b, const char *p, size_t len)
{
	if (b->size + len > STORE_MESSAGE_MAX) {
		b->failed = true;
		return store_fail(STORE_ERR_LIMIT, "Message too large");
	}
	b->size += len;
	if (len >= sizeof(b->buf)) {
		/* A large piece is written as it is, after what is buffered:
		 * one write instead of one per buffer, and no copy. */
		if (b->buf_len > 0 && blob_flush(b) < 0)
			return -1;
		return blob_write_all(b, p, len);
	}
	while (len > 0) {
		if (b->buf_len == sizeof(b->buf) && blob_flush(b) < 0)
			return -1;
		size_t n = sizeof(b->buf) - b->buf_len;
		if (n > len)
			n = len;
		memcpy(b->buf + b->buf_len, p, n);
		b->buf_len += n;
		p += n;
		len -= n;
	}
	return 1;
}

int store_blob_write(struct store_blob *b, const void *data, size_t len)
{
	if (b->failed)
		return store_fail(STORE_ERR_TEMPFAIL, "Message write failed earlier");
	if (!b->lf_to_crlf)
		return blob_put(b, data, len);
	/* Bare LF and bare CR both become CRLF; a CR at the end of a chunk
	 * waits for the next chunk to see whether its LF follows. */
	const char *p = data, *end = p + len, *run = p;
	while (p < end) {
		char c = *p;
		if (b->pending_cr) {
			b->pending_cr = false;
			if (blob_put(b, "\r\n", 2) < 0)
				return -1;
			if (c == '\n') {
				run = ++p;
				continue;
			}
		}
		if (c == '\r' || c == '\n') {
			if (p > run && blob_put(b, run, (size_t)(p - run)) < 0)
				return -1;
			if (c == '\r')
				b->pending_cr = true;
			else if (blob_put(b, "\r\n", 2) < 0)
				return -1;
			run = ++p;
			continue;
		}
		p++;
	}
	if (p > run && blob_put(b, run, (size_t)(p - run)) < 0)
		return -1;
	return 1;
}

uint64_t store_blob_size(const struct store_blob *b)
{
	return b->size + (b->pending_cr ? 2 : 0);
}

int store_blob_finish(struct store_blob *b)
{
	if (b->failed)
		return store_fail(STORE_ERR_TEMPFAIL, "Message write failed earlier");
	if (b->pending_cr) {
		b->pending_cr = false;
		if (blob_put(b, "\r\n", 2) < 0)
			return -1;
	}
	if (store_blob_inline(b))
		return 1;
	if (blob_flush(b) < 0)
		return -1;
	/* The backend fsyncs the file when it moves it into place (see
	 * blob_install in sqlite-message.c for why then). Starting the
	 * write-back now, before the backend waits for the user's write
	 * lock, makes that fsync short. Only a hint: errors are the
	 * fsync's to report. */
	(void)sync_file_range(b->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	return 1;
}

bool store_blob_inline(const struct store_blob *b)
{
	return b->fd < 0;
}

static void blob_free(struct store_blob **bp, bool unlink_file)
{
	struct store_blob *b = *bp;
	if (b == NULL)
		return;
	if (b->fd >= 0) {
		close(b->fd);
		if (unlink_file && b->path != NULL)
			unlink(b->path);
	}
	free(b->path);
	free(b);
	*bp = NULL;
}

void store_blob_abort(struct store_blob **blob)
{
	blob_free(blob, true);
}

/* ------------------------------------------------------------------ */
/* writing messages */

static int check_append_reqs(const struct store_append_req *reqs, unsigned n)
{
	struct buf kw = BUF_INIT(8192);
	int ret = 1;
	for (unsigned i = 0; i < n && ret > 0; i++) {
		if (reqs[i].flags & ~STORE_FLAG_MASK)
			ret = store_fail(STORE_ERR_BADNAME, "Unknown system flag");
		else if (reqs[i].tz_minutes < -24 * 60 || reqs[i].tz_minutes > 24 * 60)
			ret = store_fail(STORE_ERR_BADNAME, "Invalid time zone");
		else if (store_keywords_canon(reqs[i].keywords, &kw) < 0)
			ret = -1;
	}
	buf_free(&kw);
	return ret;
}

int store_append_multi(struct store_user *u, uint64_t mailbox_id, struct store_blob **blobs,
		       const struct store_append_req *reqs, unsigned n, uint32_t *uids_r,
		       uint32_t *uidvalidity_r)
{
	int ret = 1;
	if (n == 0)
		ret = store_fail(STORE_ERR_BADNAME, "Nothing to append");
	for (unsigned i = 0; i < n && ret > 0; i++) {
		if (blobs[i] == NULL || blobs[i]->u != u)
			ret = store_fail(STORE_ERR_INTERNAL, "Blob of another user");
	}
	if (ret > 0)
		ret = check_append_reqs(reqs, n);
	/* Flush every file; the backend fsyncs it, and its directory, before
	 * the commit (docs/storage.md). */
	for (unsigned i = 0; i < n && ret > 0; i++)
		ret = store_blob_finish(blobs[i]);
	if (ret > 0)
		ret = backend->append(u, mailbox_id, blobs, reqs, n, uids_r, uidvalidity_r);
	/* The backend renamed the files it kept (path set to NULL); the rest
	 * are removed. */
	for (unsigned i = 0; i < n; i++)
		blob_free(&blobs[i], true);
	return ret;
}

int store_append(struct store_user *u, uint64_t mailbox_id, struct store_blob **blob,
		 const struct store_append_req *req, uint32_t *uid_r, uint32_t *uidvalidity_r)
{
	return store_append_multi(u, mailbox_id, blob, req, 1, uid_r, uidvalidity_r);
}

int store_copy(struct store_user *u, uint64_t src_mailbox_id, const struct store_uidset *uids,
	       uint64_t dst_mailbox_id, bool move, struct store_copy_result *res_r)
{
	memset(res_r, 0, sizeof(*res_r));
	if (src_mailbox_id == dst_mailbox_id && move)
		return store_fail(STORE_ERR_BADNAME, "Cannot move a message into its own mailbox");
	return backend->copy(u, src_mailbox_id, uids, dst_mailbox_id, move, res_r);
}

void store_copy_result_free(struct store_copy_result *res)
{
	store_uid_array_free(&res->src_uids);
	store_uid_array_free(&res->dst_uids);
}

int store_flags_change(struct store_user *u, uint64_t mailbox_id, const struct store_uidset *uids,
		       enum store_flags_op op, uint8_t flags, const char *keywords,
		       uint64_t unchangedsince, struct store_flags_result *res_r)
{
	memset(res_r, 0, sizeof(*res_r));
	if (flags & ~STORE_FLAG_MASK)
		return store_fail(STORE_ERR_BADNAME, "Unknown system flag");
	if (op != STORE_FLAGS_ADD && op != STORE_FLAGS_REMOVE && op != STORE_FLAGS_REPLACE)
		return store_fail(STORE_ERR_INTERNAL, "Bad flag operation");
	struct buf kw = BUF_INIT(16384);
	int ret = store_keywords_canon(keywords, &kw);
	if (ret > 0)
		ret = backend->flags_change(u, mailbox_id, uids, op, flags, buf_cstr(&kw),
					    unchangedsince, res_r);
	buf_free(&kw);
	return ret;
}

void store_flags_result_free(struct store_flags_result *res)
{
	store_msg_list_clear(&res->changed);
	store_uid_array_free(&res->failed);
}

int store_expunge(struct store_user *u, uint64_t mailbox_id, const struct store_uidset *uids,
		  bool only_deleted, struct store_uid_array *expunged_r)
{
	struct store_uid_array local = { 0 };
	if (expunged_r)
		memset(expunged_r, 0, sizeof(*expunged_r));
	int ret = backend->expunge(u, mailbox_id, uids, only_deleted,
				   expunged_r ? expunged_r : &local);
	store_uid_array_free(&local);
	return ret;
}

/* ------------------------------------------------------------------ */
/* quota */

int store_quota_get(struct store_user *u, struct store_quota *q_r)
{
	memset(q_r, 0, sizeof(*q_r));
	return backend->quota_get(u, q_r);
}

int store_set_quota(struct store_user *u, uint64_t bytes_limit, uint64_t messages_limit)
{
	return backend->set_quota(u, bytes_limit, messages_limit);
}

/* ------------------------------------------------------------------ */
/* fsck */

int store_fsck(const char *user_key, struct store_fsck_report *report_r,
	       void (*log)(void *ctx, const char *line), void *log_ctx)
{
	memset(report_r, 0, sizeof(*report_r));
	struct store_user *u;
	if (store_user_open(user_key, &u) < 0)
		return -1;
	int ret = backend->fsck(u, report_r, log, log_ctx);
	store_user_unref(&u);
	return ret;
}

/* ------------------------------------------------------------------ */
/* change bus */

int store_watch_add(struct store_user *u, uint64_t mailbox_id, store_watch_cb *cb, void *ctx,
		    struct store_watch **watch_r)
{
	struct store_watch *w = calloc(1, sizeof(*w));
	*watch_r = NULL;
	if (w == NULL)
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	w->u = u;
	w->mailbox_id = mailbox_id;
	w->cb = cb;
	w->ctx = ctx;
	pthread_mutex_lock(&u->bus_lock);
	w->next = u->watches;
	u->watches = w;
	pthread_mutex_unlock(&u->bus_lock);
	*watch_r = w;
	return 1;
}

void store_watch_remove(struct store_watch **watch)
{
	struct store_watch *w = *watch;
	if (w == NULL)
		return;
	struct store_user *u = w->u;
	/* Publishing holds bus_lock for the whole walk, so once we have the
	 * lock no callback of w is running, and after unlinking none starts. */
	pthread_mutex_lock(&u->bus_lock);
	for (struct store_watch **p = &u->watches; *p != NULL; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&u->bus_lock);
	free(w);
	*watch = NULL;
}

void store_bus_publish(struct store_user *u, uint64_t mailbox_id, uint64_t highestmodseq)
{
	pthread_mutex_lock(&u->bus_lock);
	for (struct store_watch *w = u->watches; w != NULL; w = w->next) {
		if (w->mailbox_id == 0 || w->mailbox_id == mailbox_id)
			w->cb(w->ctx, mailbox_id, highestmodseq);
	}
	pthread_mutex_unlock(&u->bus_lock);
}

/* ------------------------------------------------------------------ */
/* cross-process notification
 *
 * roostd binds data_dir/notify.sock (SOCK_DGRAM). Any other process
 * sends the user key as one datagram after each commit. roostd's notify
 * thread then runs store_user_refresh() for that user if it is open here,
 * which compares the database's data_version and publishes the mailboxes
 * whose highest modseq changed. Datagrams can be lost (a full socket
 * buffer): store_user_refresh() on IDLE/NOOP ticks covers that. */

static pthread_mutex_t notify_lock = PTHREAD_MUTEX_INITIALIZER;
static int notify_listen_fd = -1;
static pthread_t notify_thread;
static bool notify_running;
static pid_t notify_pid;     /* the process that runs the listener */
static volatile bool notify_stopping;
static int notify_send_fd = -1;
static struct sockaddr_un notify_addr;
static bool notify_addr_ok;

static int notify_address(struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	int n = snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/notify.sock", data_dir);
	return n > 0 && (size_t)n < sizeof(sun->sun_path) ? 1 : -1;
}

/* The notify thread also closes the database connections of users idle
 * for STORE_IDLE_RELEASE_MS (checked every STORE_IDLE_CHECK_MS), and the
 * parked handles as long unused. An open connection costs ~30-100 KiB
 * (schema, statements, pages, the -shm mapping), a closed one nothing;
 * reopening costs well under a millisecond and, because closing does not
 * checkpoint, no sync. So a user whose sessions all sit in IDLE holds no
 * connection two or three seconds after its last command. */
#define STORE_IDLE_RELEASE_MS 2000
#define STORE_IDLE_CHECK_MS 1000

static void *notify_main(void *arg)
{
	char key[STORE_USER_KEY_MAX + 2];
	int64_t last_check = mono_ms();
	for (;;) {
		struct pollfd pfd = { .fd = notify_listen_fd, .events = POLLIN };
		int pr = poll(&pfd, 1, STORE_IDLE_CHECK_MS);
		if (notify_stopping)
			break;
		int64_t now = mono_ms();
		if (now - last_check >= STORE_IDLE_CHECK_MS) {
			last_check = now;
			/* Freed connections leave holes in the malloc heaps;
			 * give those pages back to the system. */
			if (store_release_idle_ms(STORE_IDLE_RELEASE_MS) > 0)
				malloc_trim(0);
		}
		if (pr <= 0)
			continue;
		ssize_t n = recv(notify_listen_fd, key, sizeof(key) - 1, MSG_DONTWAIT);
		if (notify_stopping)
			break;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_warn("store_notify_recv", "error=\"%s\"", strerror(errno));
			continue;
		}
		key[n] = '\0';
		if (!user_key_valid(key))
			continue;
		struct store_user *u = NULL;
		pthread_mutex_lock(&registry_lock);
		u = registry_find(key);
		/* A parked handle has no sessions, hence no watches: nobody
		 * to tell. */
		if (u != NULL && u->parked)
			u = NULL;
		if (u != NULL)
			u->refcount++;
		pthread_mutex_unlock(&registry_lock);
		if (u == NULL)
			continue;
		if (store_user_refresh(u) < 0) {
			const char *msg;
			store_error(&msg);
			log_warn("store_notify_refresh", "user=%s error=\"%s\"", key, msg);
		}
		/* Mail from roost deliver/import gets indexed too. */
		sq_search_kick(u);
		store_user_unref(&u);
	}
	return NULL;
}

int store_notify_listen(char *err, size_t errcap)
{
	struct sockaddr_un sun;
	if (data_dir == NULL || notify_address(&sun) < 0) {
		snprintf(err, errcap, "store: notify socket path too long under data_dir");
		return -1;
	}
	pthread_mutex_lock(&notify_lock);
	if (notify_running) {
		pthread_mutex_unlock(&notify_lock);
		return 1;
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		pthread_mutex_unlock(&notify_lock);
		snprintf(err, errcap, "store: socket: %s", strerror(errno));
		return -1;
	}
	/* A stale socket of a previous roostd: only one roostd runs per
	 * data_dir (the daemon's pid file guarantees it). */
	unlink(sun.sun_path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(err, errcap, "store: bind %s: %s", sun.sun_path, strerror(errno));
		close(fd);
		pthread_mutex_unlock(&notify_lock);
		return -1;
	}
	chmod(sun.sun_path, 0600);
	notify_listen_fd = fd;
	notify_stopping = false;
	if (pthread_create(&notify_thread, NULL, notify_main, NULL) != 0) {
		snprintf(err, errcap, "store: cannot start the notify thread");
		close(fd);
		notify_listen_fd = -1;
		unlink(sun.sun_path);
		pthread_mutex_unlock(&notify_lock);
		return -1;
	}
	notify_running = true;
	notify_pid = getpid();
	pthread_mutex_unlock(&notify_lock);
	/* roostd indexes new mail for SEARCH in the background. */
	if (sq_search_indexer_start() < 0)
		log_warn("store_search_indexer", "error=\"cannot start the thread\"");
	return 1;
}

static void notify_stop(void)
{
	pthread_mutex_lock(&notify_lock);
	if (!notify_running) {
		pthread_mutex_unlock(&notify_lock);
		return;
	}
	if (notify_pid != getpid()) {
		/* A forked child: the thread and the socket name belong to the
		 * parent. Forget them without touching either. */
		close(notify_listen_fd);
		notify_listen_fd = -1;
		notify_running = false;
		pthread_mutex_unlock(&notify_lock);
		return;
	}
	notify_stopping = true;
	shutdown(notify_listen_fd, SHUT_RDWR);
	/* Wake the blocked recv() with a datagram of our own. */
	struct sockaddr_un sun;
	if (notify_address(&sun) > 0) {
		int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			sendto(fd, "", 0, 0, (struct sockaddr *)&sun, sizeof(sun));
			close(fd);
		}
	}
	pthread_join(notify_thread, NULL);
	close(notify_listen_fd);
	notify_listen_fd = -1;
	unlink(sun.sun_path);
	notify_running = false;
	pthread_mutex_unlock(&notify_lock);
}

static void notify_sender_close(void)
{
	pthread_mutex_lock(&notify_lock);
	if (notify_send_fd >= 0)
		close(notify_send_fd);
	notify_send_fd = -1;
	notify_addr_ok = false;
	pthread_mutex_unlock(&notify_lock);
}

void store_notify_send(const struct store_user *u)
{
	pthread_mutex_lock(&notify_lock);
	if ((notify_running && notify_pid == getpid()) || data_dir == NULL) {
		/* roostd itself: its own commits were published in-process. */
		pthread_mutex_unlock(&notify_lock);
		return;
	}
	if (notify_send_fd < 0) {
		notify_addr_ok = notify_address(&notify_addr) > 0;
		if (notify_addr_ok)
			notify_send_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	}
	if (notify_send_fd >= 0 && notify_addr_ok) {
		/* Best effort: nobody listening (ENOENT/ECONNREFUSED) or a full
		 * queue (EAGAIN) are fine; see the comment above. */
		(void)sendto(notify_send_fd, u->key, strlen(u->key), MSG_DONTWAIT,
			     (struct sockaddr *)&notify_addr, sizeof(notify_addr));
	}
	pthread_mutex_unlock(&notify_lock);
}
