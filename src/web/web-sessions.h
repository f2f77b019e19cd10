/* web-sessions.h - the server-side table of signed-in settings-page
 * sessions.
 *
 * A session is a random 256-bit id (the cookie, 64 hex digits) bound to an
 * account id, with its own random 256-bit CSRF token that every form
 * carries. Sessions end after WEB_SESSION_IDLE seconds without a request,
 * WEB_SESSION_LIFETIME seconds after sign-in, or at sign-out. The table is
 * in memory, per process, fixed in size (a restart signs everyone out);
 * when it is full the least recently used session is dropped.
 *
 * Thread-safe; every function is cheap (fine on an event loop).
 * Return convention: -1 error, 0 not found, 1 done. */
#ifndef ROOST_WEB_SESSIONS_H
#define ROOST_WEB_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define WEB_SESSION_ID_LEN   64 /* hex digits of 32 random bytes */
#define WEB_SESSIONS_MAX     1024
#define WEB_SESSION_IDLE     (30 * 60)
#define WEB_SESSION_LIFETIME (12 * 60 * 60)

struct web_session_info {
	int64_t account_id;
	char csrf[WEB_SESSION_ID_LEN + 1];
	time_t created;
};

/* New session for account_id; id_r and csrf_r get WEB_SESSION_ID_LEN + 1
 * bytes. -1 only if the system has no randomness to give. */
int web_sessions_create(int64_t account_id, time_t now, char *id_r, char *csrf_r);
/* Looks up a cookie value; on 1 the session's last use becomes now. An
 * expired session is removed and gives 0. */
int web_sessions_lookup(const char *id, time_t now, struct web_session_info *info_r);
void web_sessions_remove(const char *id);
/* Ends every session of an account (its password changed, it was
 * deleted). */
void web_sessions_remove_account(int64_t account_id);
/* Number of live sessions (tests). */
unsigned web_sessions_count(time_t now);

/* Fills n bytes with cryptographic randomness: 1, or -1. */
int web_random(void *out, size_t n);

#endif
