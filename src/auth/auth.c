/* auth.c - start-up, addresses, login verification, recipient lookup.
 *
 * A login goes through one path whatever the protocol or mechanism:
 *   lock-out check -> resolve the login -> verify the credential (app
 *   password, then account password; an unknown login costs the same)
 *   -> auth_finish_login(): state, app-password policy, protocol switch.
 * Only after the credential was verified may the answer differ from
 * FAILED, so nothing about an account leaks to someone without its
 * password. */
#include "auth/auth-private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/hmac.h>

#include "lib/log.h"

const struct config *auth_config;
static char dummy_hash[AUTH_HASH_MAX];
static bool initialised;
/* Repeated logins skip the password hash (cred-cache.c). */
static struct auth_cred_cache *login_cache;

/* ------------------------------------------------------------------ */
/* names */

const char *auth_protocol_name(enum auth_protocol proto)
{
	switch (proto) {
	case AUTH_PROTO_IMAP:
		return "imap";
	case AUTH_PROTO_POP3:
		return "pop3";
	case AUTH_PROTO_SMTP:
		return "smtp";
	case AUTH_PROTO_WEB:
		return "web";
	case AUTH_PROTO_OTHER:
		break;
	}
	return "other";
}

const char *auth_status_name(enum auth_status status)
{
	switch (status) {
	case AUTH_OK:
		return "ok";
	case AUTH_FAILED:
		return "failed";
	case AUTH_DISABLED_PROTOCOL:
		return "protocol-disabled";
	case AUTH_ACCOUNT_DISABLED:
		return "account-disabled";
	case AUTH_APP_PASSWORD_REQUIRED:
		return "app-password-required";
	case AUTH_LOCKED_OUT:
		return "locked-out";
	case AUTH_TEMPFAIL:
		break;
	}
	return "tempfail";
}

static bool is_mail_protocol(enum auth_protocol p)
{
	return p == AUTH_PROTO_IMAP || p == AUTH_PROTO_POP3 || p == AUTH_PROTO_SMTP;
}

/* ------------------------------------------------------------------ */
/* start-up */

int auth_init(const struct config *config, char *err, size_t errcap)
{
	if (initialised)
		return 1;
	auth_config = config;
	auth_abuse_init();

	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/accounts.db", config->data_dir);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errcap, "data_dir is too long");
		return -1;
	}
	/* The daemon's data directory: private to its user. */
	if (mkdir(config->data_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errcap, "cannot create %s: %s", config->data_dir, strerror(errno));
		return -1;
	}
	if (auth_db_open(path, err, errcap) < 0)
		return -1;

	/* The hash unknown logins are checked against, so that they cost
	 * what a known login with the configured scheme costs. */
	unsigned char rnd[18];
	char pw[40];
	if (auth_random(rnd, sizeof(rnd)) < 0) {
		snprintf(err, errcap, "no random bytes");
		auth_db_close();
		return -1;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(pw + 2 * i, sizeof(pw) - 2 * i, "%02x", rnd[i]);
	const char *scheme = config->password_scheme ? config->password_scheme : "yescrypt";
	if (auth_password_hash(scheme, pw, dummy_hash, sizeof(dummy_hash)) < 0) {
		snprintf(err, errcap, "password scheme %s is not available", scheme);
		auth_db_close();
		return -1;
	}
	/* Made even when cache_ttl is 0, so a reload can turn it on; it
	 * costs address space only until entries are stored. */
	login_cache = auth_cred_cache_new(config->auth_cache_size ? config->auth_cache_size : 1);
	if (login_cache == NULL) {
		snprintf(err, errcap, "cannot create the login cache");
		auth_db_close();
		return -1;
	}
	initialised = true;
	return 1;
}

void auth_deinit(void)
{
	if (!initialised)
		return;
	auth_cred_cache_free(&login_cache);
	auth_db_close();
	initialised = false;
}

void auth_set_config(const struct config *config)
{
	auth_config = config;
	/* cache_ttl = 0 turns the cache off: forget what it holds. (A
	 * shorter TTL applies at once anyway: entries are aged at lookup.) */
	if (config->auth_cache_ttl == 0)
		auth_cred_cache_clear(login_cache);
}

struct auth_cred_cache *auth_login_cache(void)
{
	return login_cache;
}

bool auth_plaintext_allowed(bool secured, bool loopback)
{
	if (secured)
		return true;
	enum plaintext_auth p = auth_config ? auth_config->plaintext_auth : PLAINTEXT_AUTH_LOOPBACK;
	switch (p) {
	case PLAINTEXT_AUTH_ALWAYS:
		return true;
	case PLAINTEXT_AUTH_LOOPBACK:
		return loopback;
	case PLAINTEXT_AUTH_NEVER:
		break;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* addresses */

static bool is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Valid UTF-8 sequence of non-ASCII at s? Returns its length or 0. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];
	size_t n;
	if ((c & 0xe0) == 0xc0 && c >= 0xc2)
		n = 2;
	else if ((c & 0xf0) == 0xe0)
		n = 3;
	else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong 3/4-byte forms and surrogates. */
	if (n == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0)))
		return 0;
	if (n == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90)))
		return 0;
	return n;
}

static int check_local(const unsigned char *p, size_t len, char *err, size_t errcap)
{
	if (len == 0) {
		snprintf(err, errcap, "empty local part");
		return -1;
	}
	if (len > AUTH_LOCAL_MAX) {
		snprintf(err, errcap, "local part longer than %d bytes", AUTH_LOCAL_MAX);
		return -1;
	}
	/* RFC 5322 3.4.1 dot-atom: no leading, trailing or doubled dot. */
	if (p[0] == '.' || p[len - 1] == '.') {
		snprintf(err, errcap, "local part starts or ends with a dot");
		return -1;
	}
	for (size_t i = 0; i < len;) {
		if (p[i] >= 0x80) {
			size_t n = utf8_len(p + i, len - i);
			if (n == 0) {
				snprintf(err, errcap, "invalid UTF-8 in local part");
				return -1;
			}
			i += n;
			continue;
		}
		if (p[i] == '.' && i + 1 < len && p[i + 1] == '.') {
			snprintf(err, errcap, "two dots in a row in local part");
			return -1;
		}
		if (p[i] != '.' && !is_atext(p[i])) {
			snprintf(err, errcap, "character '%c' not allowed in local part",
			         p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?');
			return -1;
		}
		i++;
	}
	return 1;
}

static int check_domain(const unsigned char *p, size_t len, char *err, size_t errcap)
{
	if (len == 0) {
		snprintf(err, errcap, "empty domain");
		return -1;
	}
	if (len > AUTH_DOMAIN_MAX) {
		snprintf(err, errcap, "domain longer than %d bytes", AUTH_DOMAIN_MAX);
		return -1;
	}
	size_t label_start = 0;
	for (size_t i = 0; i <= len;) {
		if (i == len || p[i] == '.') {
			size_t llen = i - label_start;
			if (llen == 0) {
				snprintf(err, errcap, "empty label in domain");
				return -1;
			}
			if (llen > 63) {
				snprintf(err, errcap, "domain label longer than 63 bytes");
				return -1;
			}
			if (p[label_start] == '-' || p[i - 1] == '-') {
				snprintf(err, errcap, "domain label starts or ends with '-'");
				return -1;
			}
			label_start = i + 1;
			i++;
			continue;
		}
		if (p[i] >= 0x80) {
			size_t n = utf8_len(p + i, len - i);
			if (n == 0) {
				snprintf(err, errcap, "invalid UTF-8 in domain");
				return -1;
			}
			i += n;
			continue;
		}
		unsigned char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-')) {
			snprintf(err, errcap, "character '%c' not allowed in domain",
			         c >= 0x20 && c < 0x7f ? c : '?');
			return -1;
		}
		i++;
	}
	return 1;
}

static void lower_ascii(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

int auth_domain_normalize(const char *domain, char *out, size_t outcap, char *err, size_t errcap)
{
	size_t len = strlen(domain);
	if (check_domain((const unsigned char *)domain, len, err, errcap) < 0)
		return -1;
	if (len + 1 > outcap) {
		snprintf(err, errcap, "domain too long");
		return -1;
	}
	memcpy(out, domain, len + 1);
	lower_ascii(out);
	return 1;
}

int auth_address_normalize(const char *address, char *out, size_t outcap, char *err, size_t errcap)
{
	const char *at = strrchr(address, '@');
	if (at == NULL) {
		snprintf(err, errcap, "missing '@domain'");
		return -1;
	}
	size_t llen = (size_t)(at - address);
	if (check_local((const unsigned char *)address, llen, err, errcap) < 0)
		return -1;
	if (check_domain((const unsigned char *)at + 1, strlen(at + 1), err, errcap) < 0)
		return -1;
	size_t len = strlen(address);
	if (len + 1 > outcap) {
		snprintf(err, errcap, "address too long");
		return -1;
	}
	memcpy(out, address, len + 1);
	lower_ascii(out);
	return 1;
}

int auth_address_canonical(const char *login, char *out, size_t cap, char *err, size_t errcap)
{
	if (strchr(login, '@') == NULL) {
		const char *dd = auth_config ? auth_config->default_domain : NULL;
		if (dd == NULL || dd[0] == '\0') {
			snprintf(err, errcap,
			         "missing '@domain' (and no auth.default_domain is set)");
			return -1;
		}
		char full[AUTH_ADDRESS_MAX + 1];
		int n = snprintf(full, sizeof(full), "%s@%s", login, dd);
		if (n < 0 || (size_t)n >= sizeof(full)) {
			snprintf(err, errcap, "address too long");
			return -1;
		}
		return auth_address_normalize(full, out, cap, err, errcap);
	}
	return auth_address_normalize(login, out, cap, err, errcap);
}

int auth_key_address(const char *login, char *out, size_t cap)
{
	char err[128];
	return auth_address_canonical(login, out, cap, err, sizeof(err));
}

void auth_login_canonical(const char *login, char *out, size_t cap)
{
	if (auth_key_address(login, out, cap) > 0)
		return;
	/* Not a valid address: count it under its lower-cased, truncated
	 * form; it can never log in anyway. */
	snprintf(out, cap, "%.*s", AUTH_ADDRESS_MAX - 1, login);
	lower_ascii(out);
}

/* ------------------------------------------------------------------ */
/* account rows */

static void copy_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

void auth_read_account_row(sqlite3_stmt *st, struct auth_login_row *row)
{
	memset(row, 0, sizeof(*row));
	struct auth_account *a = &row->account;
	a->id = sqlite3_column_int64(st, 0);
	copy_text(st, 1, a->address, sizeof(a->address));
	copy_text(st, 2, a->user_key, sizeof(a->user_key));
	a->state = sqlite3_column_int(st, 3) ? AUTH_STATE_DISABLED : AUTH_STATE_ACTIVE;
	copy_text(st, 4, row->password_hash, sizeof(row->password_hash));
	if (sqlite3_column_bytes(st, 5) == SCRAM_SALT_LEN)
		memcpy(row->scram_salt, sqlite3_column_blob(st, 5), SCRAM_SALT_LEN);
	row->scram_iterations = (unsigned)sqlite3_column_int(st, 6);
	if (sqlite3_column_bytes(st, 7) == SCRAM_KEY_LEN &&
	    sqlite3_column_bytes(st, 8) == SCRAM_KEY_LEN) {
		memcpy(row->scram.stored_key, sqlite3_column_blob(st, 7), SCRAM_KEY_LEN);
		memcpy(row->scram.server_key, sqlite3_column_blob(st, 8), SCRAM_KEY_LEN);
		row->has_scram = true;
	}
	a->imap_enabled = sqlite3_column_int(st, 9) != 0;
	a->pop3_enabled = sqlite3_column_int(st, 10) != 0;
	a->require_app_password = sqlite3_column_int(st, 11) != 0;
	a->pop3_dele = sqlite3_column_int(st, 12);
	a->pop3_offer_days = sqlite3_column_int(st, 13);
	a->quota_bytes = (uint64_t)sqlite3_column_int64(st, 14);
	a->quota_messages = (uint64_t)sqlite3_column_int64(st, 15);
	a->created = sqlite3_column_int64(st, 16);
	a->password_changed = sqlite3_column_int64(st, 17);
	const char *scheme = auth_hash_scheme(row->password_hash);
	snprintf(a->scheme, sizeof(a->scheme), "%s", scheme ? scheme : "none");
}

/* Looks `key` up as an account address, then as an alias. Caller holds
 * the db lock. */
static int lookup_locked(const char *key, struct auth_login_row *row, bool *via_alias_r, char *err,
                         size_t errcap)
{
	static const char *const queries[2] = {
	    "SELECT " AUTH_ACCOUNT_COLUMNS " FROM accounts a WHERE a.address = ?",
	    "SELECT " AUTH_ACCOUNT_COLUMNS
	    " FROM aliases l JOIN accounts a ON a.id = l.account_id WHERE l.address = ?",
	};
	for (int q = 0; q < 2; q++) {
		sqlite3_stmt *st = auth_db_prepare(queries[q], err, errcap);
		if (st == NULL)
			return -1;
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			auth_read_account_row(st, row);
			sqlite3_finalize(st);
			if (via_alias_r != NULL)
				*via_alias_r = q == 1;
			return 1;
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			snprintf(err, errcap, "accounts database: %s", sqlite3_errmsg(auth_db));
			return -1;
		}
	}
	return 0;
}

int auth_login_lookup(const char *login, struct auth_login_row *row_r, char *err, size_t errcap)
{
	char key[AUTH_ADDRESS_MAX];
	if (auth_key_address(login, key, sizeof(key)) < 0)
		return 0;
	if (auth_db == NULL) {
		snprintf(err, errcap, "accounts database not open");
		return -1;
	}
	auth_db_lock();
	int ret = lookup_locked(key, row_r, NULL, err, errcap);
	auth_db_unlock();
	return ret;
}

/* ------------------------------------------------------------------ */
/* app passwords at login */

int auth_app_keys_load(int64_t account_id, struct auth_app_keys *keys, int cap)
{
	auth_db_lock();
	sqlite3_stmt *st = auth_db_prepare(
	    "SELECT id, stored_key, server_key, stored_key_spaced, server_key_spaced"
	    " FROM app_passwords WHERE account_id = ? ORDER BY id",
	    NULL, 0);
	int n = 0;
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, account_id);
		while (n < cap && sqlite3_step(st) == SQLITE_ROW) {
			bool ok = true;
			for (int c = 1; c <= 4; c++)
				ok = ok && sqlite3_column_bytes(st, c) == SCRAM_KEY_LEN;
			if (!ok)
				continue;
			keys[n].id = sqlite3_column_int64(st, 0);
			memcpy(keys[n].plain.stored_key, sqlite3_column_blob(st, 1), SCRAM_KEY_LEN);
			memcpy(keys[n].plain.server_key, sqlite3_column_blob(st, 2), SCRAM_KEY_LEN);
			memcpy(keys[n].spaced.stored_key, sqlite3_column_blob(st, 3),
			       SCRAM_KEY_LEN);
			memcpy(keys[n].spaced.server_key, sqlite3_column_blob(st, 4),
			       SCRAM_KEY_LEN);
			n++;
		}
		sqlite3_finalize(st);
	}
	auth_db_unlock();
	return n;
}

void auth_app_password_touch(int64_t id, const struct auth_client *client)
{
	auth_db_lock();
	sqlite3_stmt *st = auth_db_prepare("UPDATE app_passwords SET last_used = ?,"
	                                   " last_protocol = ?, last_ip = ? WHERE id = ?",
	                                   NULL, 0);
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
		sqlite3_bind_text(st, 2, auth_protocol_name(client->protocol), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, client->remote_ip ? client->remote_ip : "unknown", -1,
		                  SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, id);
		if (sqlite3_step(st) != SQLITE_DONE)
			log_warn("auth-db",
			         "msg=\"could not record app password use\" error=\"%s\"",
			         sqlite3_errmsg(auth_db));
		sqlite3_finalize(st);
	}
	auth_db_unlock();
}

/* ------------------------------------------------------------------ */
/* results */

static void set_message(struct auth_result *r, const char *msg)
{
	snprintf(r->message, sizeof(r->message), "%s", msg);
}

static void log_refusal(const char *event, const char *login, const struct auth_client *client,
                        enum auth_status status)
{
	char qip[AUTH_IP_MAX + 8], quser[AUTH_ADDRESS_MAX + 8];
	log_warn(event, "ip=%s user=%s proto=%s reason=%s",
	         log_quote(client->remote_ip ? client->remote_ip : "unknown", qip, sizeof(qip)),
	         log_quote(login, quser, sizeof(quser)), auth_protocol_name(client->protocol),
	         auth_status_name(status));
}

bool auth_check_locked(const char *login, const struct auth_client *client, struct auth_result *r)
{
	char key[AUTH_ADDRESS_MAX];
	auth_login_canonical(login, key, sizeof(key));
	unsigned left = auth_abuse_check(client->remote_ip, client->loopback, key);
	if (left == 0)
		return false;
	memset(r, 0, sizeof(*r));
	r->status = AUTH_LOCKED_OUT;
	r->lockout_seconds = left;
	set_message(r, "too many failed logins; try again later");
	log_refusal("auth-failure", key, client, AUTH_LOCKED_OUT);
	return true;
}

enum auth_status auth_fail_login(const char *login, const struct auth_client *client,
                                 enum auth_status status, struct auth_result *r)
{
	char key[AUTH_ADDRESS_MAX];
	auth_login_canonical(login ? login : "", key, sizeof(key));
	memset(r, 0, sizeof(*r));
	r->status = status;
	if (status == AUTH_TEMPFAIL) {
		set_message(r, "temporary server failure; try again later");
		log_refusal("auth-tempfail", key, client, status);
		return status;
	}
	r->delay_ms = auth_abuse_fail(client->remote_ip, client->loopback, key);
	set_message(r, "authentication failed");
	log_refusal("auth-failure", key, client, status);
	return status;
}

static enum pop3_dele_policy resolve_dele(int v)
{
	if (v >= POP3_DELE_EXPUNGE && v <= POP3_DELE_TRASH)
		return (enum pop3_dele_policy)v;
	return auth_config ? auth_config->pop3_dele : POP3_DELE_EXPUNGE;
}

enum auth_status auth_finish_login(const struct auth_login_row *row, bool used_app_password,
                                   int64_t app_password_id, const char *login,
                                   const struct auth_client *client, struct auth_result *r)
{
	const struct auth_account *a = &row->account;
	memset(r, 0, sizeof(*r));
	r->account_id = a->id;
	snprintf(r->address, sizeof(r->address), "%s", a->address);
	snprintf(r->user_key, sizeof(r->user_key), "%s", a->user_key);
	r->used_app_password = used_app_password;
	r->app_password_id = used_app_password ? app_password_id : 0;
	r->pop3_dele = resolve_dele(a->pop3_dele);
	r->pop3_offer_days = a->pop3_offer_days >= 0
	                         ? (unsigned)a->pop3_offer_days
	                         : (auth_config ? auth_config->pop3_offer_days : 0);
	r->quota_bytes = a->quota_bytes;
	r->quota_messages = a->quota_messages;

	/* The credential was right: clear the counters whatever follows,
	 * because the refusals below are policy, not guessing. */
	auth_abuse_success(client->remote_ip, a->address);

	char msg[AUTH_MESSAGE_MAX];
	if (a->state != AUTH_STATE_ACTIVE) {
		r->status = AUTH_ACCOUNT_DISABLED;
		set_message(r, "this account is disabled");
	} else if (!used_app_password && a->require_app_password &&
	           is_mail_protocol(client->protocol)) {
		r->status = AUTH_APP_PASSWORD_REQUIRED;
		set_message(r, "this account requires an app password for mail clients; "
		               "create one in your account settings");
	} else if ((client->protocol == AUTH_PROTO_IMAP && !a->imap_enabled) ||
	           (client->protocol == AUTH_PROTO_POP3 && !a->pop3_enabled)) {
		r->status = AUTH_DISABLED_PROTOCOL;
		const char *p = client->protocol == AUTH_PROTO_IMAP ? "IMAP" : "POP3";
		snprintf(msg, sizeof(msg),
		         "%s is turned off for this account; turn it on in your account settings",
		         p);
		set_message(r, msg);
	} else {
		r->status = AUTH_OK;
	}

	if (r->status != AUTH_OK) {
		log_refusal("auth-refused", a->address, client, r->status);
		return r->status;
	}
	if (used_app_password)
		auth_app_password_touch(app_password_id, client);
	char qip[AUTH_IP_MAX + 8];
	log_debug("auth-ok", "ip=%s user=%s proto=%s method=%s",
	          log_quote(client->remote_ip ? client->remote_ip : "unknown", qip, sizeof(qip)),
	          a->address, auth_protocol_name(client->protocol),
	          used_app_password ? "app-password" : "password");
	(void)login;
	return AUTH_OK;
}

/* ------------------------------------------------------------------ */
/* verification */

/* The fake salt of an unknown login: HMAC(secret, login), so it is stable
 * like a real one and reveals nothing. Also used by SCRAM. */
void auth_fake_salt(const char *login, unsigned char salt[SCRAM_SALT_LEN])
{
	/* Keyed on the canonical form: "Ghost" and "ghost" must get the same
	 * salt, as they would for a real account. */
	char key[AUTH_ADDRESS_MAX];
	auth_login_canonical(login, key, sizeof(key));
	unsigned char mac[32];
	unsigned int len = 0;
	HMAC(EVP_sha256(), auth_db_secret(), 32, (const unsigned char *)key, strlen(key), mac,
	     &len);
	memcpy(salt, mac, SCRAM_SALT_LEN);
}

#define APP_KEYS_MAX AUTH_APP_PASSWORDS_MAX

/* The stored form a cache entry vouches for: the account's crypt string,
 * or an app password's StoredKey. */
static void account_digest(const struct auth_login_row *row,
                           unsigned char digest_r[AUTH_CACHE_DIGEST_LEN])
{
	auth_cache_digest(row->password_hash, strlen(row->password_hash), digest_r);
}

static bool app_digest(const struct auth_app_keys *keys, int n_keys, int64_t app_id,
                       unsigned char digest_r[AUTH_CACHE_DIGEST_LEN])
{
	for (int i = 0; i < n_keys; i++) {
		if (keys[i].id == app_id) {
			auth_cache_digest(keys[i].plain.stored_key, SCRAM_KEY_LEN, digest_r);
			return true;
		}
	}
	return false;
}

/* Does the login cache vouch for `password` on this account? Only if the
 * credential it matched then still exists with the same stored form: the
 * account's hash unchanged, or the app password not revoked (and only for
 * the mail protocols, as below). Loads the app keys when needed (*n_keys_r).
 * A stale entry is dropped. Everything after (state, policy, switches) is
 * checked by the caller as for any login. */
static bool cache_check(const struct auth_login_row *row, const char *password,
                        const struct auth_client *client, struct auth_app_keys *keys,
                        int *n_keys_r, bool *used_app_r, int64_t *app_id_r)
{
	unsigned ttl = auth_config ? auth_config->auth_cache_ttl : 0;
	int64_t cred_id = 0;
	unsigned char want[AUTH_CACHE_DIGEST_LEN], have[AUTH_CACHE_DIGEST_LEN];
	int64_t id = row->account.id;
	if (auth_cred_cache_lookup(login_cache, id, password, ttl, &cred_id, want) <= 0)
		return false;
	bool ok = false;
	if (cred_id == 0) {
		account_digest(row, have);
		ok = auth_consttime_eq(have, want, sizeof(want));
	} else if (is_mail_protocol(client->protocol)) {
		*n_keys_r = auth_app_keys_load(row->account.id, keys, APP_KEYS_MAX);
		ok = app_digest(keys, *n_keys_r, cred_id, have) &&
		     auth_consttime_eq(have, want, sizeof(want));
		if (ok) {
			*used_app_r = true;
			*app_id_r = cred_id;
		}
	}
	/* Not for another protocol: the app password is simply not tried,
	 * as on the slow path; the entry stays for the mail protocols. */
	if (!ok && (cred_id == 0 || is_mail_protocol(client->protocol)))
		auth_cred_cache_remove(login_cache, row->account.id, password);
	return ok;
}

static void cache_remember(const struct auth_login_row *row, const char *password,
                           const struct auth_app_keys *keys, int n_keys, bool used_app,
                           int64_t app_id)
{
	unsigned char digest[AUTH_CACHE_DIGEST_LEN];
	if (!used_app)
		account_digest(row, digest);
	else if (!app_digest(keys, n_keys, app_id, digest))
		return;
	auth_cred_cache_put(login_cache, row->account.id, password, used_app ? app_id : 0, digest);
}

enum auth_status auth_verify_password(const char *login, const char *password,
                                      const struct auth_client *client, struct auth_result *r)
{
	if (login == NULL)
		login = "";
	if (password == NULL)
		password = "";
	if (auth_check_locked(login, client, r))
		return AUTH_LOCKED_OUT;

	struct auth_login_row *row = calloc(1, sizeof(*row));
	struct auth_app_keys *keys = calloc(APP_KEYS_MAX, sizeof(*keys));
	if (row == NULL || keys == NULL) {
		free(row);
		free(keys);
		return auth_fail_login(login, client, AUTH_TEMPFAIL, r);
	}

	char err[256];
	int found = auth_login_lookup(login, row, err, sizeof(err));
	if (found < 0) {
		log_error("auth-db", "error=\"%s\"", err);
		free(row);
		free(keys);
		return auth_fail_login(login, client, AUTH_TEMPFAIL, r);
	}
	bool too_long = strlen(password) > AUTH_PASSWORD_MAX || strlen(login) >= AUTH_ADDRESS_MAX;

	/* A password that verified recently against the same credential,
	 * unchanged since, skips the hash. */
	unsigned ttl = auth_config ? auth_config->auth_cache_ttl : 0;
	bool matched = false, used_app = false;
	int64_t app_id = 0;
	int n_keys = -1; /* app keys not loaded yet */
	if (found > 0 && !too_long && ttl > 0)
		matched = cache_check(row, password, client, keys, &n_keys, &used_app, &app_id);
	bool from_cache = matched;

	/* App passwords: one PBKDF2 with the account's SCRAM salt gives the
	 * StoredKey to compare with every app password of the account. An
	 * unknown login computes the same PBKDF2 on its fake salt. */
	char code[AUTH_APP_CODE_LEN + 1];
	if (!matched && !too_long && is_mail_protocol(client->protocol) &&
	    auth_app_code_normalize(password, code)) {
		unsigned char fake[SCRAM_SALT_LEN];
		const unsigned char *salt = row->scram_salt;
		unsigned iter = row->scram_iterations;
		if (found == 0) {
			auth_fake_salt(login, fake);
			salt = fake;
			iter = SCRAM_ITERATIONS;
		}
		struct scram_keys k;
		if (n_keys < 0)
			n_keys = found ? auth_app_keys_load(row->account.id, keys, APP_KEYS_MAX)
			               : 0;
		if (auth_scram_derive(code, salt, SCRAM_SALT_LEN, iter, &k) > 0) {
			for (int i = 0; i < n_keys; i++) {
				if (auth_consttime_eq(k.stored_key, keys[i].plain.stored_key,
				                      SCRAM_KEY_LEN)) {
					matched = used_app = true;
					app_id = keys[i].id;
				}
			}
		}
		explicit_bzero(&k, sizeof(k));
		explicit_bzero(code, sizeof(code));
	}
	if (!matched && !too_long) {
		if (found)
			matched = auth_password_verify(password, row->password_hash);
		else
			(void)auth_password_verify(password, dummy_hash);
	}

	enum auth_status st;
	if (!found || !matched) {
		st = auth_fail_login(login, client, AUTH_FAILED, r);
	} else {
		st = auth_finish_login(row, used_app, app_id, login, client, r);
		/* Only a login that succeeded is remembered; refusals by
		 * policy are rare and stay on the slow path. */
		if (st == AUTH_OK && !from_cache && ttl > 0)
			cache_remember(row, password, keys, n_keys, used_app, app_id);
	}
	explicit_bzero(row, sizeof(*row));
	free(row);
	free(keys);
	return st;
}

/* ------------------------------------------------------------------ */
/* recipients */

static void fill_recipient(const struct auth_login_row *row, bool via_alias,
                           struct auth_recipient *r)
{
	r->account_id = row->account.id;
	snprintf(r->address, sizeof(r->address), "%s", row->account.address);
	snprintf(r->user_key, sizeof(r->user_key), "%s", row->account.user_key);
	r->via_alias = via_alias;
	r->active = row->account.state == AUTH_STATE_ACTIVE;
	r->quota_bytes = row->account.quota_bytes;
	r->quota_messages = row->account.quota_messages;
}

int auth_lookup_recipient(const char *address, struct auth_recipient *r)
{
	memset(r, 0, sizeof(*r));
	if (auth_db == NULL)
		return -1;
	char key[AUTH_ADDRESS_MAX];
	if (auth_key_address(address, key, sizeof(key)) < 0)
		return 0;

	struct auth_login_row *row = calloc(1, sizeof(*row));
	if (row == NULL)
		return -1;
	char err[256];
	bool via_alias = false;
	auth_db_lock();
	int found = lookup_locked(key, row, &via_alias, err, sizeof(err));
	if (found == 0) {
		/* Plus-addressing: "local+detail@domain". The detail is taken
		 * from the address as given (its case kept); the rest is the
		 * normalised key without "+detail". */
		const char *plus = strchr(key, '+');
		const char *at = strrchr(key, '@');
		const char *orig_plus = strchr(address, '+');
		const char *orig_at = strrchr(address, '@');
		if (plus != NULL && at != NULL && plus < at && plus > key) {
			char base[AUTH_ADDRESS_MAX];
			snprintf(base, sizeof(base), "%.*s%s", (int)(plus - key), key, at);
			found = lookup_locked(base, row, &via_alias, err, sizeof(err));
			if (found > 0 && orig_plus != NULL) {
				size_t dlen = orig_at != NULL && orig_at > orig_plus
				                  ? (size_t)(orig_at - orig_plus - 1)
				                  : strlen(orig_plus + 1);
				if (dlen >= sizeof(r->folder))
					dlen = sizeof(r->folder) - 1;
				memcpy(r->folder, orig_plus + 1, dlen);
				r->folder[dlen] = '\0';
			}
		}
	}
	auth_db_unlock();
	if (found < 0)
		log_error("auth-db", "error=\"%s\"", err);
	if (found > 0)
		fill_recipient(row, via_alias, r);
	free(row);
	return found;
}
