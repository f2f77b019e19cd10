/* account.c - administration: domains, accounts, aliases, app passwords.
 *
 * Every function validates all of its input first and only then touches
 * the database (check first, then act); each change is one transaction.
 * Password hashing happens before the database lock is taken.
 *
 * An account and its mail store are created together: the account row is
 * inserted inside a transaction, the store is created, and only then is
 * the transaction committed; if the store cannot be made, nothing is
 * committed. */
#include "auth/auth-private.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "store/store.h"

static int fail(enum auth_err code, enum auth_err *code_r, char *err, size_t errcap,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail(enum auth_err code, enum auth_err *code_r, char *err, size_t errcap,
                const char *fmt, ...)
{
	if (code_r != NULL)
		*code_r = code;
	if (err != NULL && errcap > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* A database error: busy means "try again", anything else too (I/O). */
static int fail_db(enum auth_err *code_r, char *err, size_t errcap)
{
	return fail(AUTH_ERR_TEMP, code_r, err, errcap, "accounts database: %s",
	            auth_db ? sqlite3_errmsg(auth_db) : "not open");
}

static int ok(enum auth_err *code_r)
{
	if (code_r != NULL)
		*code_r = AUTH_ERR_NONE;
	return 1;
}

static bool db_ready(enum auth_err *code_r, char *err, size_t errcap)
{
	if (auth_db != NULL)
		return true;
	fail(AUTH_ERR_TEMP, code_r, err, errcap, "accounts database not open");
	return false;
}

static int normalize_domain(const char *domain, char out[AUTH_DOMAIN_MAX + 1],
                            enum auth_err *code_r, char *err, size_t errcap)
{
	char why[128];
	if (auth_domain_normalize(domain, out, AUTH_DOMAIN_MAX + 1, why, sizeof(why)) < 0)
		return fail(AUTH_ERR_INVALID, code_r, err, errcap, "invalid domain '%s': %s",
		            domain, why);
	return 1;
}

/* A zeroed row for find_account on the heap, or NULL with "out of
 * memory" set. */
static struct auth_login_row *new_row(enum auth_err *code_r, char *err, size_t errcap)
{
	struct auth_login_row *row = calloc(1, sizeof(*row));
	if (row == NULL)
		fail(AUTH_ERR_TEMP, code_r, err, errcap, "out of memory");
	return row;
}

/* The end of a listing loop: rc is the last sqlite3_step result (ROW
 * when the callback stopped early). 1, or -1 with the database error in
 * err. */
static int list_end(int rc, char *err, size_t errcap)
{
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return 1;
	snprintf(err, errcap, "accounts database: %s", sqlite3_errmsg(auth_db));
	return -1;
}

static int normalize_address(const char *address, char *out, enum auth_err *code_r, char *err,
                             size_t errcap)
{
	char why[128];
	if (auth_address_canonical(address, out, AUTH_ADDRESS_MAX, why, sizeof(why)) < 0)
		return fail(AUTH_ERR_INVALID, code_r, err, errcap, "invalid address '%s': %s",
		            address, why);
	return 1;
}

static const char *domain_of(const char *address)
{
	const char *at = strrchr(address, '@');
	return at ? at + 1 : "";
}

/* The statement helpers below bind their arguments from a list of types,
 * one letter each:
 *   't'  const char *, text (NULL binds SQL NULL)
 *   'i'  int64_t
 *   'b'  const void *, size_t: a blob (a NULL pointer binds SQL NULL)
 * and always finalize the statement. Callers hold the lock. The SQL is
 * always a constant of this file: a prepare error is a database error. */
static sqlite3_stmt *db_prepare_bound(const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt *st = auth_db_prepare(sql, NULL, 0);
	if (st == NULL)
		return NULL;
	for (int col = 1; types[col - 1] != '\0'; col++) {
		switch (types[col - 1]) {
		case 't':
			sqlite3_bind_text(st, col, va_arg(ap, const char *), -1, SQLITE_STATIC);
			break;
		case 'i':
			sqlite3_bind_int64(st, col, (sqlite3_int64)va_arg(ap, int64_t));
			break;
		case 'b': {
			const void *blob = va_arg(ap, const void *);
			size_t len = va_arg(ap, size_t);
			if (blob != NULL)
				sqlite3_bind_blob(st, col, blob, (int)len, SQLITE_STATIC);
			break;
		}
		default:
			/* a bug in this file's type strings: fail the query */
			assert(!"unknown bind type");
			sqlite3_finalize(st);
			return NULL;
		}
	}
	return st;
}

/* Runs a statement that returns no rows (INSERT, UPDATE, DELETE) to
 * completion. 1, or -1 on a database error. */
static int db_run(const char *sql, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	sqlite3_stmt *st = db_prepare_bound(sql, types, ap);
	va_end(ap);
	if (st == NULL)
		return -1;
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 1 : -1;
}

/* The first column of the first row as an integer: 1 with *v_r set, 0 if
 * there is no row, -1 on a database error. */
static int db_int64(int64_t *v_r, const char *sql, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	sqlite3_stmt *st = db_prepare_bound(sql, types, ap);
	va_end(ap);
	if (st == NULL)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v_r = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* One account row ("SELECT " AUTH_ACCOUNT_COLUMNS ...) into *row: 1 found,
 * 0 none, -1 database error. */
static int db_account(struct auth_login_row *row, const char *sql, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	sqlite3_stmt *st = db_prepare_bound(sql, types, ap);
	va_end(ap);
	if (st == NULL)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		auth_read_account_row(st, row);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* 1 if the domain exists, 0 if not, -1 error. Caller holds the lock. */
static int domain_exists(const char *domain)
{
	int64_t one;
	return db_int64(&one, "SELECT 1 FROM domains WHERE name = ?", "t", domain);
}

/* 1 if an account (what == 0) or an alias (what == 1) has this address. */
static int address_used(const char *address, int what)
{
	int64_t one;
	return db_int64(&one,
	                what == 0 ? "SELECT 1 FROM accounts WHERE address = ?"
	                          : "SELECT 1 FROM aliases WHERE address = ?",
	                "t", address);
}

/* Account by exact address (exact == true) or by login rules (address,
 * alias, default domain). Caller holds the lock. */
static int find_account(const char *address, bool exact, struct auth_login_row *row)
{
	char key[AUTH_ADDRESS_MAX];
	if (auth_key_address(address, key, sizeof(key)) < 0)
		return 0;
	int r = db_account(row, "SELECT " AUTH_ACCOUNT_COLUMNS " FROM accounts a WHERE a.address = ?",
	                   "t", key);
	if (r != 0 || exact)
		return r;
	return db_account(row,
	                  "SELECT " AUTH_ACCOUNT_COLUMNS
	                  " FROM aliases l JOIN accounts a ON a.id = l.account_id"
	                  " WHERE l.address = ?",
	                  "t", key);
}

/* find_account for a command about an existing account: 1 found, else -1
 * with "<address> does not exist" (AUTH_ERR_NOUSER) or a database error
 * set. Caller holds the lock. */
static int need_account(const char *address, bool exact, struct auth_login_row *row,
                        enum auth_err *code_r, char *err, size_t errcap)
{
	int r = find_account(address, exact, row);
	if (r < 0)
		return fail_db(code_r, err, errcap);
	if (r == 0)
		return fail(AUTH_ERR_NOUSER, code_r, err, errcap, "%s does not exist", address);
	return 1;
}

/* A new account address (add, rename): its domain must exist and no
 * account or alias may have it yet. 1, or -1 with the error set. Caller
 * holds the lock. */
static int check_new_address(const char *addr, enum auth_err *code_r, char *err, size_t errcap)
{
	int d = domain_exists(domain_of(addr));
	if (d == 0)
		return fail(AUTH_ERR_NOUSER, code_r, err, errcap, "domain %s does not exist",
		            domain_of(addr));
	int acc = d < 0 ? -1 : address_used(addr, 0);
	int ali = acc < 0 ? -1 : address_used(addr, 1);
	if (d < 0 || acc < 0 || ali < 0)
		return fail_db(code_r, err, errcap);
	if (acc > 0 || ali > 0)
		return fail(AUTH_ERR_EXISTS, code_r, err, errcap, "%s already exists%s", addr,
		            ali > 0 ? " as an alias" : "");
	return 1;
}

static int begin(enum auth_err *code_r, char *err, size_t errcap)
{
	if (auth_db_exec("BEGIN IMMEDIATE", NULL, 0) < 0)
		return fail_db(code_r, err, errcap);
	return 1;
}

static int commit(void)
{
	return auth_db_exec("COMMIT", NULL, 0);
}

static void rollback(void)
{
	auth_db_exec("ROLLBACK", NULL, 0);
}

/* ------------------------------------------------------------------ */
/* domains */

int auth_domain_exists(const char *domain)
{
	char name[AUTH_DOMAIN_MAX + 1], why[128];
	if (auth_domain_normalize(domain, name, sizeof(name), why, sizeof(why)) < 0)
		return 0;
	if (auth_db == NULL)
		return -1;
	auth_db_lock();
	int r = domain_exists(name);
	auth_db_unlock();
	return r;
}

int auth_domain_add(const char *domain, enum auth_err *code_r, char *err, size_t errcap)
{
	char name[AUTH_DOMAIN_MAX + 1];
	if (normalize_domain(domain, name, code_r, err, errcap) < 0)
		return -1;
	if (!db_ready(code_r, err, errcap))
		return -1;
	auth_db_lock();
	sqlite3_stmt *st =
	    auth_db_prepare("INSERT INTO domains(name, created) VALUES(?, ?)", NULL, 0);
	int rc = SQLITE_ERROR;
	if (st != NULL) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
	}
	int ret;
	if (rc == SQLITE_DONE)
		ret = ok(code_r);
	else if (rc == SQLITE_CONSTRAINT)
		ret = fail(AUTH_ERR_EXISTS, code_r, err, errcap, "domain %s already exists", name);
	else
		ret = fail_db(code_r, err, errcap);
	auth_db_unlock();
	return ret;
}

int auth_domain_del(const char *domain, enum auth_err *code_r, char *err, size_t errcap)
{
	char name[AUTH_DOMAIN_MAX + 1];
	if (normalize_domain(domain, name, code_r, err, errcap) < 0)
		return -1;
	if (!db_ready(code_r, err, errcap))
		return -1;
	auth_db_lock();
	int ret;
	int64_t accounts = 0, aliases = 0;
	if ((ret = begin(code_r, err, errcap)) < 0)
		goto out;
	int exists = domain_exists(name);
	if (exists < 0 ||
	    db_int64(&accounts, "SELECT count(*) FROM accounts WHERE domain = ?", "t", name) <= 0 ||
	    db_int64(&aliases, "SELECT count(*) FROM aliases WHERE domain = ?", "t", name) <= 0) {
		ret = fail_db(code_r, err, errcap);
		rollback();
		goto out;
	}
	if (exists == 0) {
		ret = fail(AUTH_ERR_NOUSER, code_r, err, errcap, "domain %s does not exist", name);
		rollback();
		goto out;
	}
	if (accounts > 0 || aliases > 0) {
		ret = fail(
		    AUTH_ERR_CONFLICT, code_r, err, errcap,
		    "domain %s still has %lld account(s) and %lld alias(es); delete them first",
		    name, (long long)accounts, (long long)aliases);
		rollback();
		goto out;
	}
	if (db_run("DELETE FROM domains WHERE name = ?", "t", name) < 0 || commit() < 0) {
		ret = fail_db(code_r, err, errcap);
		rollback();
		goto out;
	}
	ret = ok(code_r);
out:
	auth_db_unlock();
	return ret;
}

int auth_domain_list(bool (*cb)(void *ctx, const char *domain, int64_t created, unsigned accounts,
                                unsigned aliases),
                     void *ctx, char *err, size_t errcap)
{
	if (!db_ready(NULL, err, errcap))
		return -1;
	auth_db_lock();
	sqlite3_stmt *st =
	    auth_db_prepare("SELECT d.name, d.created,"
	                    " (SELECT count(*) FROM accounts a WHERE a.domain = d.name),"
	                    " (SELECT count(*) FROM aliases l WHERE l.domain = d.name)"
	                    " FROM domains d ORDER BY d.name",
	                    err, errcap);
	int ret = -1;
	if (st != NULL) {
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (!cb(ctx, (const char *)sqlite3_column_text(st, 0),
			        sqlite3_column_int64(st, 1), (unsigned)sqlite3_column_int(st, 2),
			        (unsigned)sqlite3_column_int(st, 3)))
				break;
		}
		ret = list_end(rc, err, errcap);
		sqlite3_finalize(st);
	}
	auth_db_unlock();
	return ret;
}

/* ------------------------------------------------------------------ */
/* accounts */

/* The folders a new account gets, besides INBOX. */
static int create_store(const char *user_key, uint64_t quota_bytes, uint64_t quota_messages,
                        char *err, size_t errcap)
{
	const struct config *cfg = auth_config;
	const struct {
		const char *name;
		uint32_t special_use;
	} folders[] = {
	    {cfg->folder_drafts, STORE_SPECIAL_DRAFTS},   {cfg->folder_sent, STORE_SPECIAL_SENT},
	    {cfg->folder_trash, STORE_SPECIAL_TRASH},     {cfg->folder_junk, STORE_SPECIAL_JUNK},
	    {cfg->folder_archive, STORE_SPECIAL_ARCHIVE},
	};
	const char *msg = "";
	if (store_user_create(user_key) < 0) {
		store_error(&msg);
		snprintf(err, errcap, "cannot create mail store %s: %s", user_key, msg);
		return -1;
	}
	struct store_user *u = NULL;
	if (store_user_open(user_key, &u) < 0)
		goto fail;
	if (store_mailbox_subscribe(u, "INBOX", true) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(folders) / sizeof(folders[0]); i++) {
		if (folders[i].name == NULL || folders[i].name[0] == '\0')
			continue;
		if (store_mailbox_create(u, folders[i].name, folders[i].special_use, NULL) < 0)
			goto fail;
		if (store_mailbox_subscribe(u, folders[i].name, true) < 0)
			goto fail;
	}
	if (store_set_quota(u, quota_bytes, quota_messages) < 0)
		goto fail;
	store_user_unref(&u);
	return 1;
fail:
	store_error(&msg);
	snprintf(err, errcap, "cannot set up mail store %s: %s", user_key, msg);
	store_user_unref(&u);
	store_user_delete(user_key);
	return -1;
}

/* Hash + SCRAM keys for a new password (no lock held: this is slow). */
static int prepare_password(const char *password, const unsigned char *salt, char *hash,
                            struct scram_keys *keys, bool *has_scram_r, enum auth_err *code_r,
                            char *err, size_t errcap)
{
	size_t len = strlen(password);
	if (len == 0)
		return fail(AUTH_ERR_INVALID, code_r, err, errcap, "empty password refused");
	if (len > AUTH_PASSWORD_MAX)
		return fail(AUTH_ERR_INVALID, code_r, err, errcap, "password longer than %d bytes",
		            AUTH_PASSWORD_MAX);
	const char *scheme =
	    auth_config && auth_config->password_scheme ? auth_config->password_scheme : "yescrypt";
	if (auth_password_hash(scheme, password, hash, AUTH_HASH_MAX) < 0)
		return fail(AUTH_ERR_TEMP, code_r, err, errcap, "cannot hash the password with %s",
		            scheme);
	/* A password SASLprep refuses (control characters) still works with
	 * PLAIN and LOGIN, just not with SCRAM. */
	*has_scram_r =
	    auth_scram_derive(password, salt, SCRAM_SALT_LEN, SCRAM_ITERATIONS, keys) > 0;
	return 1;
}

int auth_account_add(const char *address, const char *password, const char *password_hash,
                     struct auth_account *account_r, enum auth_err *code_r, char *err,
                     size_t errcap)
{
	char addr[AUTH_ADDRESS_MAX];
	if (normalize_address(address, addr, code_r, err, errcap) < 0)
		return -1;
	if ((password == NULL) == (password_hash == NULL))
		return fail(AUTH_ERR_INVALID, code_r, err, errcap,
		            "give either a password or a password hash");
	if (!db_ready(code_r, err, errcap))
		return -1;

	unsigned char salt[SCRAM_SALT_LEN];
	struct scram_keys keys;
	bool has_scram = false;
	char hash[AUTH_HASH_MAX];
	if (auth_random(salt, sizeof(salt)) < 0)
		return fail(AUTH_ERR_TEMP, code_r, err, errcap, "no random bytes");
	if (password_hash != NULL) {
		if (auth_hash_scheme(password_hash) == NULL ||
		    strlen(password_hash) >= sizeof(hash) || strchr(password_hash, ':') != NULL)
			return fail(
			    AUTH_ERR_INVALID, code_r, err, errcap,
			    "unsupported password hash (expected $y$, $6$, $5$, $2y$ or $2b$)");
		/* A hash the library cannot evaluate (bad cost, bad salt)
		 * would lock the user out silently; try it once. */
		if (!auth_hash_usable(password_hash))
			return fail(AUTH_ERR_INVALID, code_r, err, errcap,
			            "malformed password hash");
		snprintf(hash, sizeof(hash), "%s", password_hash);
	} else if (prepare_password(password, salt, hash, &keys, &has_scram, code_r, err, errcap) <
	           0) {
		return -1;
	}

	const struct config *cfg = auth_config;
	int64_t now = (int64_t)time(NULL);
	int ret = -1;
	auth_db_lock();
	if ((ret = begin(code_r, err, errcap)) < 0)
		goto out;
	if ((ret = check_new_address(addr, code_r, err, errcap)) < 0)
		goto rollback;
	/* The id, and with it the store's name "u<id>": the next one after
	 * every id ever used, skipping any whose store already exists (mail
	 * left behind by an accounts database that was lost or replaced), so
	 * a new account never inherits someone else's mail. */
	int64_t id = 0;
	sqlite3_stmt *st = auth_db_prepare(
	    "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'accounts'), 0),"
	    " coalesce((SELECT max(id) FROM accounts), 0)",
	    NULL, 0);
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 0), max = sqlite3_column_int64(st, 1);
		id = (seq > max ? seq : max) + 1;
	}
	sqlite3_finalize(st);
	if (id == 0) {
		ret = fail_db(code_r, err, errcap);
		goto rollback;
	}
	char user_key[AUTH_USER_KEY_MAX];
	for (int tries = 0;; tries++) {
		snprintf(user_key, sizeof(user_key), "u%lld", (long long)id);
		int e = store_user_exists(user_key);
		if (e == 0)
			break;
		if (e < 0 || tries >= 1000) {
			ret = fail(AUTH_ERR_STORE, code_r, err, errcap,
			           "cannot find a free mail store name (last tried %s)", user_key);
			goto rollback;
		}
		id++;
	}
	uint64_t qb = cfg->default_quota_bytes, qm = cfg->default_quota_messages;
	if (qb > INT64_MAX)
		qb = 0;
	if (qm > INT64_MAX)
		qm = 0;
	if (db_run("INSERT INTO accounts(id, user_key, address, domain, password_hash, scram_salt,"
	           " scram_iterations, scram_stored_key, scram_server_key, require_app_password,"
	           " quota_bytes, quota_messages, created, password_changed)"
	           " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	           "ittttbibbiiiii", id, user_key, addr, domain_of(addr), hash,
	           (const void *)salt, sizeof(salt), (int64_t)SCRAM_ITERATIONS,
	           (const void *)(has_scram ? keys.stored_key : NULL), (size_t)SCRAM_KEY_LEN,
	           (const void *)(has_scram ? keys.server_key : NULL), (size_t)SCRAM_KEY_LEN,
	           (int64_t)(cfg->require_app_password ? 1 : 0), (int64_t)qb, (int64_t)qm, now,
	           now) < 0) {
		ret = fail_db(code_r, err, errcap);
		goto rollback;
	}
	if (create_store(user_key, qb, qm, err, errcap) < 0) {
		ret = fail(AUTH_ERR_STORE, code_r, NULL, 0, "%s", "");
		goto rollback;
	}
	if (commit() < 0) {
		ret = fail_db(code_r, err, errcap);
		store_user_delete(user_key);
		goto rollback;
	}
	if (account_r != NULL) {
		struct auth_login_row *row = calloc(1, sizeof(*row));
		if (row != NULL && find_account(addr, true, row) > 0)
			*account_r = row->account;
		free(row);
	}
	ret = ok(code_r);
	goto out;
rollback:
	rollback();
out:
	auth_db_unlock();
	explicit_bzero(&keys, sizeof(keys));
	return ret;
}

int auth_account_del(const char *address, struct auth_account *account_r, enum auth_err *code_r,
                     char *err, size_t errcap)
{
	char addr[AUTH_ADDRESS_MAX];
	if (normalize_address(address, addr, code_r, err, errcap) < 0)
		return -1;
	if (!db_ready(code_r, err, errcap))
		return -1;
	struct auth_login_row *row = new_row(code_r, err, errcap);
	if (row == NULL)
		return -1;
	int ret;
	auth_db_lock();
	if ((ret = begin(code_r, err, errcap)) < 0)
		goto out;
	int r = find_account(addr, true, row);
	if (r == 0 && find_account(addr, false, row) > 0) {
		/* Deleting through an alias would be a nasty surprise. */
		ret = fail(AUTH_ERR_NOUSER, code_r, err, errcap,
		           "%s is an alias of %s, not an account (roost alias del %s)", addr,
		           row->account.address, addr);
		rollback();
		goto out;
	}
	if (r <= 0) {
		ret = r < 0 ? fail_db(code_r, err, errcap)
		            : fail(AUTH_ERR_NOUSER, code_r, err, errcap, "%s does not exist", addr);
		rollback();
		goto out;
	}
	/* Aliases and app passwords go with it (ON DELETE CASCADE). */
	if (db_run("DELETE FROM accounts WHERE id = ?", "i", row->account.id) < 0 ||
	    commit() < 0) {
		ret = fail_db(code_r, err, errcap);
		rollback();
		goto out;
	}
	if (account_r != NULL)
		*account_r = row->account;
	ret = ok(code_r);
out:
	auth_db_unlock();
	free(row);
	return ret;
}

int auth_account_get(const char *address, struct auth_account *account_r, char *err, size_t errcap)
{
	if (!db_ready(NULL, err, errcap))
		return -1;
	struct auth_login_row *row = new_row(NULL, err, errcap);
	if (row == NULL)
		return -1;
	auth_db_lock();
	int r = find_account(address, false, row);
	if (r < 0)
		snprintf(err, errcap, "accounts database: %s", sqlite3_errmsg(auth_db));
	auth_db_unlock();
	if (r > 0)
		*account_r = row->account;
	free(row);
	return r;
}

int auth_account_get_by_id(int64_t id, struct auth_account *account_r, char *err, size_t errcap)
{
	if (!db_ready(NULL, err, errcap))
		return -1;
	struct auth_login_row *row = new_row(NULL, err, errcap);
	if (row == NULL)
		return -1;
	auth_db_lock();
	int r = db_account(row, "SELECT " AUTH_ACCOUNT_COLUMNS " FROM accounts a WHERE a.id = ?",
	                   "i", id);
	if (r > 0)
		*account_r = row->account;
	else if (r < 0)
		snprintf(err, errcap, "accounts database: %s", sqlite3_errmsg(auth_db));
	auth_db_unlock();
	free(row);
	return r;
}

int auth_account_list(const char *domain, bool (*cb)(void *ctx, const struct auth_account *a),
                      void *ctx, char *err, size_t errcap)
{
	char name[AUTH_DOMAIN_MAX + 1];
	if (domain != NULL && auth_domain_normalize(domain, name, sizeof(name), err, errcap) < 0)
		return -1;
	if (!db_ready(NULL, err, errcap))
		return -1;
	struct auth_login_row *row = new_row(NULL, err, errcap);
	if (row == NULL)
		return -1;
	auth_db_lock();
	sqlite3_stmt *st = auth_db_prepare(
	    domain ? "SELECT " AUTH_ACCOUNT_COLUMNS
	             " FROM accounts a WHERE a.domain = ? ORDER BY a.address"
	           : "SELECT " AUTH_ACCOUNT_COLUMNS " FROM accounts a ORDER BY a.address",
	    err, errcap);
	int ret = -1;
	if (st != NULL) {
		if (domain)
			sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			auth_read_account_row(st, row);
			if (!cb(ctx, &row->account))
				break;
		}
		ret = list_end(rc, err, errcap);
		sqlite3_finalize(st);
	}
	auth_db_unlock();
	explicit_bzero(row, sizeof(*row));
	free(row);
	return ret;
}

int auth_account_set_password(const char *address, const char *password, enum auth_err *code_r,
                              char *err, size_t errcap)
{
	if (!db_ready(code_r, err, errcap))
		return -1;
	struct auth_login_row *row = new_row(code_r, err, errcap);
	if (row == NULL)
		return -1;
	int ret;
	auth_db_lock();
	int r = need_account(address, false, row, code_r, err, errcap);
	auth_db_unlock();
	if (r < 0) {
		free(row);
		return -1;
	}
	/* The SCRAM salt stays: app passwords are derived with it too. */
	char hash[AUTH_HASH_MAX];
	struct scram_keys keys;
	bool has_scram = false;
	if (prepare_password(password, row->scram_salt, hash, &keys, &has_scram, code_r, err,
	                     errcap) < 0) {
		free(row);
		return -1;
	}
	auth_db_lock();
	if (db_run("UPDATE accounts SET password_hash = ?, scram_stored_key = ?,"
	           " scram_server_key = ?, password_changed = ? WHERE id = ?",
	           "tbbii", hash, (const void *)(has_scram ? keys.stored_key : NULL),
	           (size_t)SCRAM_KEY_LEN, (const void *)(has_scram ? keys.server_key : NULL),
	           (size_t)SCRAM_KEY_LEN, (int64_t)time(NULL), row->account.id) < 0)
		ret = fail_db(code_r, err, errcap);
	else
		ret = ok(code_r);
	auth_db_unlock();
	explicit_bzero(&keys, sizeof(keys));
	free(row);
	return ret;
}

/* ------------------------------------------------------------------ */
/* key=value settings */

static bool parse_switch(const char *v, bool *r)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
		*r = true;
		return true;
	}
	if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
		*r = false;
		return true;
	}
	return false;
}

static bool parse_count(const char *v, uint64_t max, uint64_t *r)
{
	if (*v < '0' || *v > '9')
		return false;
	uint64_t n = 0;
	for (; *v >= '0' && *v <= '9'; v++) {
		if (n > (max - (uint64_t)(*v - '0')) / 10)
			return false;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	if (*v != '\0')
		return false;
	*r = n;
	return true;
}

/* "10G", "512M", "1024", "unlimited"; K/M/G/T are powers of 1024. */
static bool parse_size(const char *v, uint64_t *r)
{
	if (!strcmp(v, "unlimited") || !strcmp(v, "none")) {
		*r = 0;
		return true;
	}
	char digits[32];
	size_t len = strlen(v);
	if (len == 0 || len >= sizeof(digits))
		return false;
	uint64_t mul = 1;
	memcpy(digits, v, len + 1);
	char last = digits[len - 1];
	if (last == 'B' || last == 'b')
		digits[--len] = '\0', last = len ? digits[len - 1] : '\0';
	switch (last) {
	case 'k':
	case 'K':
		mul = 1ull << 10;
		break;
	case 'm':
	case 'M':
		mul = 1ull << 20;
		break;
	case 'g':
	case 'G':
		mul = 1ull << 30;
		break;
	case 't':
	case 'T':
		mul = 1ull << 40;
		break;
	default:
		break;
	}
	if (mul > 1)
		digits[--len] = '\0';
	uint64_t n;
	if (len == 0 || !parse_count(digits, INT64_MAX, &n))
		return false;
	if (n != 0 && mul > (uint64_t)INT64_MAX / n)
		return false;
	*r = n * mul;
	return true;
}

struct setting {
	const char *column;
	int64_t value;
};

static int parse_setting(const char *pair, struct setting *s, enum auth_err *code_r, char *err,
                         size_t errcap)
{
	const char *eq = strchr(pair, '=');
	if (eq == NULL || eq == pair)
		return fail(AUTH_ERR_INVALID, code_r, err, errcap, "'%s' is not key=value", pair);
	size_t klen = (size_t)(eq - pair);
	const char *v = eq + 1;
	bool b;
	uint64_t n;
#define KEY_IS(k) (klen == strlen(k) && strncmp(pair, k, klen) == 0)
	if (KEY_IS("imap") || KEY_IS("pop3") || KEY_IS("require_app_password")) {
		if (!parse_switch(v, &b))
			return fail(AUTH_ERR_INVALID, code_r, err, errcap,
			            "%.*s: expected on or off, got '%s'", (int)klen, pair, v);
		s->column = KEY_IS("imap")   ? "imap"
		            : KEY_IS("pop3") ? "pop3"
		                             : "require_app_password";
		s->value = b;
	} else if (KEY_IS("state")) {
		if (strcmp(v, "active") && strcmp(v, "disabled"))
			return fail(AUTH_ERR_INVALID, code_r, err, errcap,
			            "state: expected active or disabled, got '%s'", v);
		s->column = "state";
		s->value = strcmp(v, "disabled") == 0;
	} else if (KEY_IS("quota")) {
		if (!parse_size(v, &n))
			return fail(AUTH_ERR_INVALID, code_r, err, errcap,
			            "quota: '%s' is not a size (e.g. 500M, 10G, unlimited)", v);
		s->column = "quota_bytes";
		s->value = (int64_t)n;
	} else if (KEY_IS("quota_messages")) {
		if (!strcmp(v, "unlimited"))
			n = 0;
		else if (!parse_count(v, INT64_MAX, &n))
			return fail(AUTH_ERR_INVALID, code_r, err, errcap,
			            "quota_messages: '%s' is not a number", v);
		s->column = "quota_messages";
		s->value = (int64_t)n;
	} else if (KEY_IS("pop3_dele")) {
		s->column = "pop3_dele";
		if (!strcmp(v, "expunge"))
			s->value = POP3_DELE_EXPUNGE;
		else if (!strcmp(v, "keep"))
			s->value = POP3_DELE_KEEP;
		else if (!strcmp(v, "trash"))
			s->value = POP3_DELE_TRASH;
		else if (!strcmp(v, "default"))
			s->value = AUTH_POP3_DELE_DEFAULT;
		else
			return fail(AUTH_ERR_INVALID, code_r, err, errcap,
			            "pop3_dele: expected expunge, keep, trash or default, got '%s'",
			            v);
	} else if (KEY_IS("pop3_offer_days")) {
		s->column = "pop3_offer_days";
		if (!strcmp(v, "default"))
			s->value = -1;
		else if (parse_count(v, 36500, &n))
			s->value = (int64_t)n;
		else
			return fail(AUTH_ERR_INVALID, code_r, err, errcap,
			            "pop3_offer_days: expected 0..36500 or default, got '%s'", v);
	} else {
		return fail(AUTH_ERR_INVALID, code_r, err, errcap,
		            "unknown setting '%.*s' (known: imap, pop3, state, quota, "
		            "quota_messages, require_app_password, pop3_dele, pop3_offer_days)",
		            (int)klen, pair);
	}
#undef KEY_IS
	return 1;
}

#define SETTINGS_MAX 16

int auth_account_set(const char *address, const char *const *pairs, size_t n_pairs,
                     enum auth_err *code_r, char *err, size_t errcap)
{
	struct setting settings[SETTINGS_MAX];
	if (n_pairs == 0)
		return fail(AUTH_ERR_INVALID, code_r, err, errcap, "no settings given");
	if (n_pairs > SETTINGS_MAX)
		return fail(AUTH_ERR_INVALID, code_r, err, errcap, "too many settings (at most %d)",
		            SETTINGS_MAX);
	bool quota_changed = false;
	for (size_t i = 0; i < n_pairs; i++) {
		if (parse_setting(pairs[i], &settings[i], code_r, err, errcap) < 0)
			return -1;
		if (!strncmp(settings[i].column, "quota", 5))
			quota_changed = true;
	}
	if (!db_ready(code_r, err, errcap))
		return -1;
	struct auth_login_row *row = new_row(code_r, err, errcap);
	if (row == NULL)
		return -1;
	int ret;
	auth_db_lock();
	if ((ret = begin(code_r, err, errcap)) < 0)
		goto out;
	if ((ret = need_account(address, false, row, code_r, err, errcap)) < 0) {
		rollback();
		goto out;
	}
	for (size_t i = 0; i < n_pairs; i++) {
		/* The column names come from parse_setting's fixed list. */
		char sql[96];
		snprintf(sql, sizeof(sql), "UPDATE accounts SET %s = ? WHERE id = ?",
		         settings[i].column);
		if (db_run(sql, "ii", settings[i].value, row->account.id) < 0) {
			ret = fail_db(code_r, err, errcap);
			rollback();
			goto out;
		}
	}
	if (commit() < 0) {
		ret = fail_db(code_r, err, errcap);
		rollback();
		goto out;
	}
	ret = ok(code_r);
	if (quota_changed && find_account(row->account.address, true, row) > 0) {
		/* The store enforces the quota on append; keep it in step. */
		struct store_user *u = NULL;
		const char *msg = "";
		if (store_user_open(row->account.user_key, &u) < 0 ||
		    store_set_quota(u, row->account.quota_bytes, row->account.quota_messages) < 0) {
			store_error(&msg);
			ret = fail(AUTH_ERR_STORE, code_r, err, errcap,
			           "quota saved, but the mail store %s was not updated: %s",
			           row->account.user_key, msg);
		}
		store_user_unref(&u);
	}
out:
	auth_db_unlock();
	free(row);
	return ret;
}

int auth_account_rename(const char *address, const char *new_address, enum auth_err *code_r,
                        char *err, size_t errcap)
{
	char from[AUTH_ADDRESS_MAX], to[AUTH_ADDRESS_MAX];
	if (normalize_address(address, from, code_r, err, errcap) < 0 ||
	    normalize_address(new_address, to, code_r, err, errcap) < 0)
		return -1;
	if (!db_ready(code_r, err, errcap))
		return -1;
	struct auth_login_row *row = new_row(code_r, err, errcap);
	if (row == NULL)
		return -1;
	int ret;
	auth_db_lock();
	if ((ret = begin(code_r, err, errcap)) < 0)
		goto out;
	if ((ret = need_account(from, true, row, code_r, err, errcap)) < 0 ||
	    (ret = check_new_address(to, code_r, err, errcap)) < 0)
		goto rollback;
	if (db_run("UPDATE accounts SET address = ?, domain = ? WHERE id = ?", "tti", to,
	           domain_of(to), row->account.id) < 0 ||
	    commit() < 0) {
		ret = fail_db(code_r, err, errcap);
		goto rollback;
	}
	ret = ok(code_r);
	goto out;
rollback:
	rollback();
out:
	auth_db_unlock();
	free(row);
	return ret;
}

/* ------------------------------------------------------------------ */
/* aliases */

int auth_alias_add(const char *alias, const char *target, enum auth_err *code_r, char *err,
                   size_t errcap)
{
	char addr[AUTH_ADDRESS_MAX];
	if (normalize_address(alias, addr, code_r, err, errcap) < 0)
		return -1;
	if (!db_ready(code_r, err, errcap))
		return -1;
	struct auth_login_row *row = new_row(code_r, err, errcap);
	if (row == NULL)
		return -1;
	int ret;
	auth_db_lock();
	if ((ret = begin(code_r, err, errcap)) < 0)
		goto out;
	int d = domain_exists(domain_of(addr));
	if (d == 0) {
		ret = fail(AUTH_ERR_NOUSER, code_r, err, errcap, "domain %s does not exist",
		           domain_of(addr));
		goto rollback;
	}
	/* The target may itself be given as an alias: it resolves to the
	 * account, so aliases never chain. */
	int t = d < 0 ? -1 : find_account(target, false, row);
	if (t == 0) {
		ret = fail(AUTH_ERR_NOUSER, code_r, err, errcap, "%s does not exist", target);
		goto rollback;
	}
	int acc = t < 0 ? -1 : address_used(addr, 0);
	int ali = acc < 0 ? -1 : address_used(addr, 1);
	if (d < 0 || t < 0 || acc < 0 || ali < 0) {
		ret = fail_db(code_r, err, errcap);
		goto rollback;
	}
	if (acc > 0) {
		ret = fail(AUTH_ERR_EXISTS, code_r, err, errcap, "%s already exists as an account",
		           addr);
		goto rollback;
	}
	if (ali > 0) {
		ret = fail(AUTH_ERR_EXISTS, code_r, err, errcap, "alias %s already exists", addr);
		goto rollback;
	}
	if (db_run("INSERT INTO aliases(address, domain, account_id, created) VALUES(?, ?, ?, ?)",
	           "ttii", addr, domain_of(addr), row->account.id, (int64_t)time(NULL)) < 0 ||
	    commit() < 0) {
		ret = fail_db(code_r, err, errcap);
		goto rollback;
	}
	ret = ok(code_r);
	goto out;
rollback:
	rollback();
out:
	auth_db_unlock();
	free(row);
	return ret;
}

int auth_alias_del(const char *alias, enum auth_err *code_r, char *err, size_t errcap)
{
	char addr[AUTH_ADDRESS_MAX];
	if (normalize_address(alias, addr, code_r, err, errcap) < 0)
		return -1;
	if (!db_ready(code_r, err, errcap))
		return -1;
	auth_db_lock();
	int ret;
	if (db_run("DELETE FROM aliases WHERE address = ?", "t", addr) < 0)
		ret = fail_db(code_r, err, errcap);
	else if (sqlite3_changes(auth_db) == 0)
		ret = fail(AUTH_ERR_NOUSER, code_r, err, errcap, "alias %s does not exist", addr);
	else
		ret = ok(code_r);
	auth_db_unlock();
	return ret;
}

int auth_alias_list(const char *target,
                    bool (*cb)(void *ctx, const char *alias, const char *target, int64_t created),
                    void *ctx, char *err, size_t errcap)
{
	if (!db_ready(NULL, err, errcap))
		return -1;
	struct auth_login_row *row = new_row(NULL, err, errcap);
	if (row == NULL)
		return -1;
	int ret = -1;
	auth_db_lock();
	if (target != NULL) {
		int t = find_account(target, false, row);
		if (t <= 0) {
			if (t == 0) {
				snprintf(err, errcap, "%s does not exist", target);
				ret = 0;
			} else {
				snprintf(err, errcap, "accounts database: %s",
				         sqlite3_errmsg(auth_db));
			}
			goto out;
		}
	}
	sqlite3_stmt *st = auth_db_prepare(
	    target ? "SELECT l.address, a.address, l.created FROM aliases l"
	             " JOIN accounts a ON a.id = l.account_id WHERE a.id = ? ORDER BY l.address"
	           : "SELECT l.address, a.address, l.created FROM aliases l"
	             " JOIN accounts a ON a.id = l.account_id ORDER BY l.address",
	    err, errcap);
	if (st == NULL)
		goto out;
	if (target != NULL)
		sqlite3_bind_int64(st, 1, row->account.id);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (!cb(ctx, (const char *)sqlite3_column_text(st, 0),
		        (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2)))
			break;
	ret = list_end(rc, err, errcap);
	sqlite3_finalize(st);
out:
	auth_db_unlock();
	free(row);
	return ret;
}

/* ------------------------------------------------------------------ */
/* app passwords */

static bool label_valid(const char *label, char *why, size_t cap)
{
	size_t len = strlen(label);
	if (len == 0 || len > AUTH_LABEL_MAX) {
		snprintf(why, cap, "label must be 1 to %d bytes", AUTH_LABEL_MAX);
		return false;
	}
	for (const unsigned char *p = (const unsigned char *)label; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			snprintf(why, cap, "label contains a control character");
			return false;
		}
	}
	/* UTF-8 validity: SASLprep's decoder refuses invalid sequences; a
	 * label only needs to be valid UTF-8 without controls, so check by
	 * walking sequences here. */
	const unsigned char *p = (const unsigned char *)label;
	while (*p) {
		size_t n = *p < 0x80             ? 1
		           : (*p & 0xe0) == 0xc0 ? 2
		           : (*p & 0xf0) == 0xe0 ? 3
		           : (*p & 0xf8) == 0xf0 ? 4
		                                 : 0;
		if (n == 0 || (n == 2 && *p < 0xc2)) {
			snprintf(why, cap, "label is not valid UTF-8");
			return false;
		}
		for (size_t i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80) {
				snprintf(why, cap, "label is not valid UTF-8");
				return false;
			}
		}
		p += n;
	}
	return true;
}

static void read_app_row(sqlite3_stmt *st, struct auth_app_password *p)
{
	memset(p, 0, sizeof(*p));
	p->id = sqlite3_column_int64(st, 0);
	const unsigned char *t = sqlite3_column_text(st, 1);
	snprintf(p->label, sizeof(p->label), "%s", t ? (const char *)t : "");
	p->created = sqlite3_column_int64(st, 2);
	p->last_used = sqlite3_column_int64(st, 3);
	t = sqlite3_column_text(st, 4);
	snprintf(p->last_protocol, sizeof(p->last_protocol), "%s", t ? (const char *)t : "");
	t = sqlite3_column_text(st, 5);
	snprintf(p->last_ip, sizeof(p->last_ip), "%s", t ? (const char *)t : "");
}

int auth_app_password_add(const char *address, const char *label, char *code_r,
                          struct auth_app_password *info_r, enum auth_err *code_err_r, char *err,
                          size_t errcap)
{
	char why[128];
	if (!label_valid(label, why, sizeof(why)))
		return fail(AUTH_ERR_INVALID, code_err_r, err, errcap, "%s", why);
	if (!db_ready(code_err_r, err, errcap))
		return -1;
	struct auth_login_row *row = new_row(code_err_r, err, errcap);
	if (row == NULL)
		return -1;
	int ret;
	auth_db_lock();
	int r = need_account(address, false, row, code_err_r, err, errcap);
	auth_db_unlock();
	if (r < 0) {
		free(row);
		return -1;
	}

	/* Keys for the code as shown ("abcd efgh ijkl mnop") and without
	 * spaces, so SCRAM clients work with either way of typing it. */
	char code[AUTH_APP_CODE_LEN + 1], spaced[AUTH_APP_CODE_LEN + 4];
	struct scram_keys plain, withspace;
	if (auth_random_code(code) < 0) {
		free(row);
		return fail(AUTH_ERR_TEMP, code_err_r, err, errcap, "no random bytes");
	}
	auth_app_code_format(code, spaced, sizeof(spaced));
	if (auth_scram_derive(code, row->scram_salt, SCRAM_SALT_LEN, row->scram_iterations,
	                      &plain) < 0 ||
	    auth_scram_derive(spaced, row->scram_salt, SCRAM_SALT_LEN, row->scram_iterations,
	                      &withspace) < 0) {
		free(row);
		return fail(AUTH_ERR_TEMP, code_err_r, err, errcap, "cannot derive keys");
	}

	int64_t now = (int64_t)time(NULL);
	int64_t n = 0;
	auth_db_lock();
	if ((ret = begin(code_err_r, err, errcap)) < 0)
		goto out;
	(void)db_int64(&n, "SELECT count(*) FROM app_passwords WHERE account_id = ?", "i",
	               row->account.id);
	if (n >= AUTH_APP_PASSWORDS_MAX) {
		ret = fail(AUTH_ERR_CONFLICT, code_err_r, err, errcap,
		           "%s already has %d app passwords; revoke some first",
		           row->account.address, AUTH_APP_PASSWORDS_MAX);
		rollback();
		goto out;
	}
	if (db_run("INSERT INTO app_passwords(account_id, label, stored_key, server_key,"
	           " stored_key_spaced, server_key_spaced, created)"
	           " VALUES(?, ?, ?, ?, ?, ?, ?)",
	           "itbbbbi", row->account.id, label, (const void *)plain.stored_key,
	           (size_t)SCRAM_KEY_LEN, (const void *)plain.server_key, (size_t)SCRAM_KEY_LEN,
	           (const void *)withspace.stored_key, (size_t)SCRAM_KEY_LEN,
	           (const void *)withspace.server_key, (size_t)SCRAM_KEY_LEN, now) < 0 ||
	    commit() < 0) {
		ret = fail_db(code_err_r, err, errcap);
		rollback();
		goto out;
	}
	if (info_r != NULL) {
		memset(info_r, 0, sizeof(*info_r));
		info_r->id = sqlite3_last_insert_rowid(auth_db);
		snprintf(info_r->label, sizeof(info_r->label), "%s", label);
		info_r->created = now;
	}
	memcpy(code_r, code, sizeof(code));
	ret = ok(code_err_r);
out:
	auth_db_unlock();
	explicit_bzero(code, sizeof(code));
	explicit_bzero(spaced, sizeof(spaced));
	free(row);
	return ret;
}

int auth_app_password_list(const char *address,
                           bool (*cb)(void *ctx, const struct auth_app_password *p), void *ctx,
                           enum auth_err *code_r, char *err, size_t errcap)
{
	if (!db_ready(code_r, err, errcap))
		return -1;
	struct auth_login_row *row = new_row(code_r, err, errcap);
	if (row == NULL)
		return -1;
	int ret = -1;
	auth_db_lock();
	if ((ret = need_account(address, false, row, code_r, err, errcap)) < 0)
		goto out;
	sqlite3_stmt *st =
	    auth_db_prepare("SELECT id, label, created, last_used, last_protocol, last_ip"
	                    " FROM app_passwords WHERE account_id = ? ORDER BY id",
	                    NULL, 0);
	if (st == NULL) {
		ret = fail_db(code_r, err, errcap);
		goto out;
	}
	sqlite3_bind_int64(st, 1, row->account.id);
	int rc;
	struct auth_app_password p;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_app_row(st, &p);
		if (!cb(ctx, &p))
			break;
	}
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		ret = ok(code_r);
	else
		ret = fail_db(code_r, err, errcap);
	sqlite3_finalize(st);
out:
	auth_db_unlock();
	free(row);
	return ret;
}

int auth_app_password_revoke(const char *address, int64_t id, enum auth_err *code_r, char *err,
                             size_t errcap)
{
	if (!db_ready(code_r, err, errcap))
		return -1;
	struct auth_login_row *row = new_row(code_r, err, errcap);
	if (row == NULL)
		return -1;
	int ret;
	auth_db_lock();
	if ((ret = need_account(address, false, row, code_r, err, errcap)) < 0)
		goto out;
	if (db_run("DELETE FROM app_passwords WHERE id = ? AND account_id = ?", "ii", id,
	           row->account.id) < 0)
		ret = fail_db(code_r, err, errcap);
	else if (sqlite3_changes(auth_db) == 0)
		ret = fail(AUTH_ERR_NOUSER, code_r, err, errcap,
		           "%s has no app password with id %lld", row->account.address,
		           (long long)id);
	else
		ret = ok(code_r);
out:
	auth_db_unlock();
	free(row);
	return ret;
}
