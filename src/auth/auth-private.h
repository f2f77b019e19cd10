/* auth-private.h - shared inside src/auth/ only (not a public contract).
 *
 * password.c: crypt(3) hashing, SCRAM key derivation, SASLprep.
 * abuse.c:    failure counters, lock-outs, session counts.
 * db.c:       the accounts database (SQLite) and its lock.
 * account.c:  account/domain/alias/app-password administration.
 * auth.c:     login verification and recipient lookup.
 * cred-cache.c: the verified-credential cache (repeated logins skip the hash).
 * sasl.c:     SASL mechanisms. */
#ifndef ROOST_AUTH_PRIVATE_H
#define ROOST_AUTH_PRIVATE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"

#define SCRAM_KEY_LEN    32 /* SHA-256 */
#define SCRAM_SALT_LEN   16
#define SCRAM_ITERATIONS 4096 /* RFC 7677 4: at least 4096 */
#define AUTH_HASH_MAX    256  /* a crypt(3) hash string */

/* --- password.c --- */

/* RFC 4013 SASLprep, limited (see docs/accounts.md): ASCII is checked
 * (control characters prohibited), non-ASCII spaces are mapped to SPACE,
 * "commonly mapped to nothing" characters removed, full-width ASCII
 * mapped to ASCII (NFKC's mapping), prohibited code points
 * (controls, private use, non-characters, surrogates, bidi and tagging
 * characters) refused; other UTF-8 passes through without NFKC. Returns
 * the output length, or -1 when the input is prohibited or invalid UTF-8
 * or does not fit. */
long auth_saslprep(const char *in, size_t len, char *out, size_t cap);

struct scram_keys {
	unsigned char stored_key[SCRAM_KEY_LEN];
	unsigned char server_key[SCRAM_KEY_LEN];
};

/* Can crypt(3) evaluate this hash (well-formed setting)? */
bool auth_hash_usable(const char *hash);

/* SaltedPassword = Hi(Normalize(password), salt, i) and the two keys of
 * RFC 5802 3. The password is SASLprep'd first; -1 if that fails. */
int auth_scram_derive(const char *password, const unsigned char *salt, size_t salt_len,
                      unsigned iterations, struct scram_keys *keys_r);
/* From an already computed SaltedPassword. */
void auth_scram_keys_from_salted(const unsigned char salted[SCRAM_KEY_LEN],
                                 struct scram_keys *keys_r);

/* Random bytes from the kernel (getrandom); -1 on failure. */
int auth_random(void *buf, size_t len);
/* A random app code: AUTH_APP_CODE_LEN lowercase letters + NUL. */
int auth_random_code(char out[AUTH_APP_CODE_LEN + 1]);
/* If password is an app code as users type it (16 ASCII letters, any
 * case, optionally with spaces between), write the canonical form
 * (lowercase, no spaces) to out and return true. */
bool auth_app_code_normalize(const char *password, char out[AUTH_APP_CODE_LEN + 1]);

bool auth_consttime_eq(const void *a, const void *b, size_t len);

/* --- abuse.c --- */

void auth_abuse_init(void);
/* Before checking a password: 0 when the attempt may proceed, else the
 * seconds left of a lock-out of this IP (unless loopback) or login. */
unsigned auth_abuse_check(const char *ip, bool loopback, const char *login_key);
/* Count a failure; returns the delay in ms the caller should impose and
 * logs a lock-out when one starts. */
unsigned auth_abuse_fail(const char *ip, bool loopback, const char *login_key);
void auth_abuse_success(const char *ip, const char *login_key);

/* --- db.c --- */

/* The open database; every use is between auth_db_lock/unlock (one
 * connection shared by the process's threads, held only for short
 * queries, never while hashing). */
extern sqlite3 *auth_db;
void auth_db_lock(void);
void auth_db_unlock(void);
int auth_db_open(const char *path, char *err, size_t errcap);
void auth_db_close(void);
/* Run SQL without results (BEGIN, COMMIT...). -1 with err filled. */
int auth_db_exec(const char *sql, char *err, size_t errcap);
/* Prepare or -1 with err filled. */
sqlite3_stmt *auth_db_prepare(const char *sql, char *err, size_t errcap);
/* Was the last error a busy/locked one? */
bool auth_db_busy(void);
/* The per-database secret used to derive fake SCRAM salts for unknown
 * users (so they look like real ones). */
const unsigned char *auth_db_secret(void);

extern const struct config *auth_config;

/* --- account.c / auth.c --- */

/* Everything a login needs about one account. */
struct auth_login_row {
	struct auth_account account;
	char password_hash[AUTH_HASH_MAX];
	unsigned char scram_salt[SCRAM_SALT_LEN];
	unsigned scram_iterations;
	bool has_scram;
	struct scram_keys scram;
};

/* The column list that auth_read_account_row expects, for
 * "SELECT " AUTH_ACCOUNT_COLUMNS " FROM accounts a ...". */
#define AUTH_ACCOUNT_COLUMNS                                                                       \
	"a.id, a.address, a.user_key, a.state, a.password_hash, a.scram_salt,"                     \
	" a.scram_iterations, a.scram_stored_key, a.scram_server_key, a.imap, a.pop3,"             \
	" a.require_app_password, a.pop3_dele, a.pop3_offer_days, a.quota_bytes,"                  \
	" a.quota_messages, a.created, a.password_changed"
void auth_read_account_row(sqlite3_stmt *st, struct auth_login_row *row_r);
/* Address form used as a database key: normalised, or with the default
 * domain for a bare local part. -1 if invalid. */
int auth_key_address(const char *login, char *out, size_t cap);

/* Domain validation and lower-casing, as in auth_address_normalize. */
int auth_domain_normalize(const char *domain, char *out, size_t outcap, char *err, size_t errcap);
/* The stable fake SCRAM salt of an unknown login. */
void auth_fake_salt(const char *login, unsigned char salt[SCRAM_SALT_LEN]);
#define AUTH_APP_PASSWORDS_MAX 64 /* per account */

/* Resolve a login or address (address, alias, default domain) to its
 * account. 1 found, 0 none, -1 error (err filled). Takes the db lock. */
int auth_login_lookup(const char *login, struct auth_login_row *row_r, char *err, size_t errcap);
/* Canonical form of a login for counters and logs: lower case, default
 * domain added when there is no "@". */
void auth_login_canonical(const char *login, char *out, size_t cap);

/* App-password SCRAM keys of an account, both the plain and the spaced
 * form ("abcd efgh ijkl mnop"). Returns the number filled (<= cap). */
struct auth_app_keys {
	int64_t id;
	struct scram_keys plain;
	struct scram_keys spaced;
};
int auth_app_keys_load(int64_t account_id, struct auth_app_keys *keys, int cap);
/* Records the use of an app password. */
void auth_app_password_touch(int64_t id, const struct auth_client *client);

/* After a credential is verified: state, app-password policy, protocol
 * switch; fills r (status and account fields) and logs. Also used by
 * SCRAM. Records success/failure in the abuse counters. */
enum auth_status auth_finish_login(const struct auth_login_row *row, bool used_app_password,
                                   int64_t app_password_id, const char *login,
                                   const struct auth_client *client, struct auth_result *r);
/* A failed credential: counts, logs, fills r (FAILED, message, delay). */
enum auth_status auth_fail_login(const char *login, const struct auth_client *client,
                                 enum auth_status status, struct auth_result *r);
/* Lock-out check before a credential is tried; fills r when locked. */
bool auth_check_locked(const char *login, const struct auth_client *client, struct auth_result *r);

/* --- cred-cache.c --- */

/* The verified-credential cache (see cred-cache.c for the why). Remembers,
 * for an (account, password) pair that verified, which credential it
 * matched (cred_id 0: the account password; > 0: that app password) and a
 * digest of the credential's stored form; found by an HMAC of the password
 * under a key drawn from the kernel per cache (per process). Never holds a
 * password. Thread-safe. A hit means only "this password verified against
 * this credential as it was then": the caller must compare the digest with
 * the credential's current stored form (auth_cache_digest) before trusting
 * it, and apply every policy check as usual. */
#define AUTH_CACHE_MAC_LEN    32
#define AUTH_CACHE_DIGEST_LEN 32
struct auth_cred_cache;

/* capacity: entries kept at most (the least recently used is dropped).
 * NULL if capacity is 0 or absurd, or no memory / random bytes. */
struct auth_cred_cache *auth_cred_cache_new(unsigned capacity);
void auth_cred_cache_free(struct auth_cred_cache **cache);
/* Tests: the clock entries are aged by (seconds; NULL: CLOCK_MONOTONIC). */
void auth_cred_cache_set_clock(struct auth_cred_cache *cache, int64_t (*now)(void));
/* 1 with *cred_id_r and digest_r when (account, password) verified less
 * than ttl seconds ago; 0 otherwise (always 0 for ttl 0 or a NULL cache).
 * An expired entry is dropped. */
int auth_cred_cache_lookup(struct auth_cred_cache *cache, int64_t account_id, const char *password,
                           unsigned ttl, int64_t *cred_id_r,
                           unsigned char digest_r[AUTH_CACHE_DIGEST_LEN]);
/* Record a successful verification (replaces an entry of the same pair). */
void auth_cred_cache_put(struct auth_cred_cache *cache, int64_t account_id, const char *password,
                         int64_t cred_id, const unsigned char digest[AUTH_CACHE_DIGEST_LEN]);
void auth_cred_cache_remove(struct auth_cred_cache *cache, int64_t account_id,
                            const char *password);
void auth_cred_cache_clear(struct auth_cred_cache *cache);
unsigned auth_cred_cache_count(struct auth_cred_cache *cache);
/* The entry key, HMAC-SHA256(cache key, le64(account_id) || password):
 * exposed for the tests (that it depends on the per-process key). */
void auth_cred_cache_mac(const struct auth_cred_cache *cache, int64_t account_id,
                         const char *password, unsigned char mac_r[AUTH_CACHE_MAC_LEN]);
/* SHA-256 of a credential's stored form (a crypt string, a StoredKey). */
void auth_cache_digest(const void *data, size_t len, unsigned char digest_r[AUTH_CACHE_DIGEST_LEN]);

/* The process's cache (auth.c; NULL before auth_init): for tests. */
struct auth_cred_cache *auth_login_cache(void);

/* --- sasl.c --- */

/* Tests only: make SCRAM use this server nonce instead of a random one
 * (to replay RFC 7677's example exchange). */
struct sasl_session;
void sasl_session_set_test_nonce(struct sasl_session *s, const char *snonce);

#endif
