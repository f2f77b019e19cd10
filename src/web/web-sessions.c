/* web-sessions.c - the session table (see web-sessions.h).
 *
 * A flat array under one mutex: at most WEB_SESSIONS_MAX entries of ~150
 * bytes, scanned linearly. Settings-page traffic is a few requests per
 * user per month, so a scan of a thousand entries is nothing next to the
 * password hash each session starts with. Ids are compared in constant
 * time so the scan reveals nothing about stored ids. */
#include "web-sessions.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include "lib/str.h"
#include "web-util.h"

struct web_session_entry {
	bool used;
	char id[WEB_SESSION_ID_LEN + 1];
	char csrf[WEB_SESSION_ID_LEN + 1];
	int64_t account_id;
	time_t created, last_used;
};

static struct {
	pthread_mutex_t lock;
	struct web_session_entry entries[WEB_SESSIONS_MAX];
} table = {.lock = PTHREAD_MUTEX_INITIALIZER};

int web_random(void *out, size_t n)
{
	unsigned char *p = out;
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom(p + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	return 1;
}

static bool expired(const struct web_session_entry *e, time_t now)
{
	return now - e->last_used >= WEB_SESSION_IDLE || now - e->created >= WEB_SESSION_LIFETIME ||
	       now < e->created;
}

int web_sessions_create(int64_t account_id, time_t now, char *id_r, char *csrf_r)
{
	unsigned char raw[64];
	if (web_random(raw, sizeof(raw)) < 0)
		return -1;
	web_hex(raw, 32, id_r);
	web_hex(raw + 32, 32, csrf_r);
	explicit_bzero(raw, sizeof(raw));

	pthread_mutex_lock(&table.lock);
	/* A free or expired slot, else the least recently used one. */
	struct web_session_entry *slot = NULL, *lru = NULL;
	for (size_t i = 0; i < WEB_SESSIONS_MAX; i++) {
		struct web_session_entry *e = &table.entries[i];
		if (!e->used || expired(e, now)) {
			slot = e;
			break;
		}
		if (lru == NULL || e->last_used < lru->last_used)
			lru = e;
	}
	if (slot == NULL)
		slot = lru;
	memset(slot, 0, sizeof(*slot));
	slot->used = true;
	memcpy(slot->id, id_r, WEB_SESSION_ID_LEN + 1);
	memcpy(slot->csrf, csrf_r, WEB_SESSION_ID_LEN + 1);
	slot->account_id = account_id;
	slot->created = slot->last_used = now;
	pthread_mutex_unlock(&table.lock);
	return 1;
}

/* The entry with this id, or NULL; the lock is held. */
static struct web_session_entry *find(const char *id)
{
	if (strlen(id) != WEB_SESSION_ID_LEN)
		return NULL;
	struct str want = str_make(id, WEB_SESSION_ID_LEN);
	struct web_session_entry *found = NULL;
	for (size_t i = 0; i < WEB_SESSIONS_MAX; i++) {
		struct web_session_entry *e = &table.entries[i];
		if (e->used && str_eq_consttime(str_make(e->id, WEB_SESSION_ID_LEN), want))
			found = e;
	}
	return found;
}

int web_sessions_lookup(const char *id, time_t now, struct web_session_info *info_r)
{
	pthread_mutex_lock(&table.lock);
	struct web_session_entry *e = find(id);
	int ret = 0;
	if (e != NULL && expired(e, now)) {
		memset(e, 0, sizeof(*e));
	} else if (e != NULL) {
		e->last_used = now;
		info_r->account_id = e->account_id;
		info_r->created = e->created;
		memcpy(info_r->csrf, e->csrf, sizeof(info_r->csrf));
		ret = 1;
	}
	pthread_mutex_unlock(&table.lock);
	return ret;
}

void web_sessions_remove(const char *id)
{
	pthread_mutex_lock(&table.lock);
	struct web_session_entry *e = find(id);
	if (e != NULL)
		memset(e, 0, sizeof(*e));
	pthread_mutex_unlock(&table.lock);
}

void web_sessions_remove_account(int64_t account_id)
{
	pthread_mutex_lock(&table.lock);
	for (size_t i = 0; i < WEB_SESSIONS_MAX; i++)
		if (table.entries[i].used && table.entries[i].account_id == account_id)
			memset(&table.entries[i], 0, sizeof(table.entries[i]));
	pthread_mutex_unlock(&table.lock);
}

unsigned web_sessions_count(time_t now)
{
	unsigned n = 0;
	pthread_mutex_lock(&table.lock);
	for (size_t i = 0; i < WEB_SESSIONS_MAX; i++)
		if (table.entries[i].used && !expired(&table.entries[i], now))
			n++;
	pthread_mutex_unlock(&table.lock);
	return n;
}
