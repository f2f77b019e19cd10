/* abuse.c - failure counting, growing delays, lock-outs, session limits.
 *
 * Two small fixed-size tables live in memory, guarded by one mutex:
 *
 *  - failure counters, keyed by "i:<ip>" and "l:<canonical login>". Each
 *    failure increments both; the delay returned to the caller is
 *    auth.fail_delay_ms * 2^(n-1) for the larger count n, capped at
 *    AUTH_DELAY_CAP_MS. When a count reaches auth.max_failures the key is
 *    locked for auth.lockout_seconds; when the lock has expired the count
 *    starts again from zero. Counters idle for longer than
 *    COUNTER_IDLE_SECONDS are forgotten. The table has a fixed number of
 *    slots: when a bucket is full the stalest entry is replaced, so a flood
 *    of addresses costs no memory (it can only make us forget).
 *
 *  - session counts per account id, for auth.max_sessions_per_user.
 *
 * Loopback clients (local webmail, scripts) share one address, so their IP
 * is never locked out (it would lock out everybody behind it); their
 * logins are still counted and locked. */
#include "auth/auth-private.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"

#define AUTH_DELAY_CAP_MS    15000u
#define COUNTER_SLOTS        4096u
#define COUNTER_PROBE        8u
#define COUNTER_IDLE_SECONDS 3600
#define COUNTER_KEY_MAX      (AUTH_ADDRESS_MAX + 2)
#define SESSION_SLOTS        4096u

struct counter {
	char key[COUNTER_KEY_MAX]; /* "" = free */
	unsigned failures;
	time_t last;
	time_t locked_until;
};

struct session_slot {
	int64_t account_id; /* 0 = free */
	unsigned count;
};

static pthread_mutex_t abuse_lock = PTHREAD_MUTEX_INITIALIZER;
static struct counter counters[COUNTER_SLOTS];
static struct session_slot sessions[SESSION_SLOTS];

static time_t now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* +1 so that 0 is never a valid time (it marks "unset"). */
	return ts.tv_sec + 1;
}

static uint32_t hash_key(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

static void make_key(char *dst, char kind, const char *value)
{
	snprintf(dst, COUNTER_KEY_MAX, "%c:%s", kind, value ? value : "unknown");
}

/* Finds the counter for key; with create, takes a free, expired or the
 * stalest slot of the bucket. Caller holds abuse_lock. */
static struct counter *counter_find(const char *key, bool create, time_t now)
{
	uint32_t h = hash_key(key);
	/* Replacement preference: a free slot, then one idle and unlocked,
	 * then the least recently used. */
	struct counter *victim = NULL;
	int victim_rank = 3;
	for (uint32_t i = 0; i < COUNTER_PROBE; i++) {
		struct counter *c = &counters[(h + i) % COUNTER_SLOTS];
		if (c->key[0] != '\0' && strcmp(c->key, key) == 0) {
			if (c->locked_until == 0 && now - c->last > COUNTER_IDLE_SECONDS)
				c->failures = 0;
			return c;
		}
		int rank;
		if (c->key[0] == '\0')
			rank = 0;
		else if (c->locked_until < now && now - c->last > COUNTER_IDLE_SECONDS)
			rank = 1;
		else
			rank = 2;
		if (rank < victim_rank || (rank == victim_rank && c->last < victim->last)) {
			victim = c;
			victim_rank = rank;
		}
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->key, key, strlen(key) + 1);
	victim->last = now;
	return victim;
}

/* Seconds left of a lock, 0 if none; an expired lock resets the count. */
static unsigned lock_left(struct counter *c, time_t now)
{
	if (c == NULL || c->locked_until == 0)
		return 0;
	if (c->locked_until > now)
		return (unsigned)(c->locked_until - now);
	c->locked_until = 0;
	c->failures = 0;
	return 0;
}

void auth_abuse_init(void)
{
	auth_abuse_reset();
}

void auth_abuse_reset(void)
{
	pthread_mutex_lock(&abuse_lock);
	memset(counters, 0, sizeof(counters));
	memset(sessions, 0, sizeof(sessions));
	pthread_mutex_unlock(&abuse_lock);
}

unsigned auth_abuse_check(const char *ip, bool loopback, const char *login_key)
{
	char kip[COUNTER_KEY_MAX], klogin[COUNTER_KEY_MAX];
	make_key(kip, 'i', ip);
	make_key(klogin, 'l', login_key);
	time_t now = now_seconds();

	pthread_mutex_lock(&abuse_lock);
	unsigned left = 0;
	if (!loopback)
		left = lock_left(counter_find(kip, false, now), now);
	unsigned l2 = lock_left(counter_find(klogin, false, now), now);
	pthread_mutex_unlock(&abuse_lock);
	return left > l2 ? left : l2;
}

static unsigned delay_for(unsigned failures)
{
	const struct config *cfg = auth_config;
	unsigned base = cfg ? cfg->auth_fail_delay_ms : 1000;
	if (failures == 0 || base == 0)
		return 0;
	uint64_t d = base;
	for (unsigned i = 1; i < failures && d < AUTH_DELAY_CAP_MS; i++)
		d *= 2;
	return d > AUTH_DELAY_CAP_MS ? AUTH_DELAY_CAP_MS : (unsigned)d;
}

/* Counts one failure on c; starts a lock at max_failures. Returns the
 * new count. */
static unsigned count_failure(struct counter *c, time_t now, bool may_lock)
{
	const struct config *cfg = auth_config;
	unsigned max = cfg ? cfg->auth_max_failures : 10;
	unsigned lockout = cfg ? cfg->auth_lockout_seconds : 300;
	lock_left(c, now);
	c->failures++;
	c->last = now;
	if (may_lock && lockout > 0 && c->failures >= max && c->locked_until == 0) {
		c->locked_until = now + lockout;
		char q[COUNTER_KEY_MAX + 8];
		log_warn("auth-lockout", "%s=%s failures=%u seconds=%u",
		         c->key[0] == 'i' ? "ip" : "user", log_quote(c->key + 2, q, sizeof(q)),
		         c->failures, lockout);
	}
	return c->failures;
}

unsigned auth_abuse_fail(const char *ip, bool loopback, const char *login_key)
{
	char kip[COUNTER_KEY_MAX], klogin[COUNTER_KEY_MAX];
	make_key(kip, 'i', ip);
	make_key(klogin, 'l', login_key);
	time_t now = now_seconds();

	pthread_mutex_lock(&abuse_lock);
	unsigned n1 = count_failure(counter_find(kip, true, now), now, !loopback);
	unsigned n2 = count_failure(counter_find(klogin, true, now), now, true);
	pthread_mutex_unlock(&abuse_lock);
	return delay_for(n1 > n2 ? n1 : n2);
}

void auth_abuse_success(const char *ip, const char *login_key)
{
	char kip[COUNTER_KEY_MAX], klogin[COUNTER_KEY_MAX];
	make_key(kip, 'i', ip);
	make_key(klogin, 'l', login_key);
	time_t now = now_seconds();

	pthread_mutex_lock(&abuse_lock);
	struct counter *c = counter_find(kip, false, now);
	if (c != NULL && c->locked_until == 0)
		c->failures = 0;
	c = counter_find(klogin, false, now);
	if (c != NULL && c->locked_until == 0)
		c->failures = 0;
	pthread_mutex_unlock(&abuse_lock);
}

/* ------------------------------------------------------------------ */
/* sessions: open addressing over account ids with linear probing; a slot
 * whose count drops to zero stays claimed by its account (so probe chains
 * stay intact) until reused by the same id. With more distinct accounts
 * than slots online at once the limit is not enforced for the extra ones
 * (begin succeeds); 4096 concurrent users is far above the target. */

static struct session_slot *session_find(int64_t account_id, bool create)
{
	uint32_t h = (uint32_t)((uint64_t)account_id * 2654435761u);
	struct session_slot *free_slot = NULL;
	for (uint32_t i = 0; i < SESSION_SLOTS; i++) {
		struct session_slot *s = &sessions[(h + i) % SESSION_SLOTS];
		if (s->account_id == account_id)
			return s;
		if (s->account_id == 0) {
			if (free_slot == NULL)
				free_slot = s;
			break;
		}
		if (s->count == 0 && free_slot == NULL)
			free_slot = s;
	}
	if (!create || free_slot == NULL)
		return NULL;
	/* When this reuses an idle slot of another account, that account
	 * had no sessions; a later begin for it claims a slot again. */
	free_slot->account_id = account_id;
	free_slot->count = 0;
	return free_slot;
}

int auth_session_begin(int64_t account_id)
{
	const struct config *cfg = auth_config;
	unsigned max = cfg ? cfg->max_sessions_per_user : 50;
	int ret = 1;
	if (account_id <= 0) /* 0 marks a free slot; ids start at 1 */
		return 1;
	pthread_mutex_lock(&abuse_lock);
	struct session_slot *s = session_find(account_id, true);
	if (s != NULL) {
		if (max > 0 && s->count >= max)
			ret = 0;
		else
			s->count++;
	}
	pthread_mutex_unlock(&abuse_lock);
	return ret;
}

void auth_session_end(int64_t account_id)
{
	if (account_id <= 0)
		return;
	pthread_mutex_lock(&abuse_lock);
	struct session_slot *s = session_find(account_id, false);
	if (s != NULL && s->count > 0)
		s->count--;
	pthread_mutex_unlock(&abuse_lock);
}

unsigned auth_session_count(int64_t account_id)
{
	if (account_id <= 0)
		return 0;
	pthread_mutex_lock(&abuse_lock);
	struct session_slot *s = session_find(account_id, false);
	unsigned n = s ? s->count : 0;
	pthread_mutex_unlock(&abuse_lock);
	return n;
}
