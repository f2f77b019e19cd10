/* db.c - the accounts database: opening, schema and its versions, lock.
 *
 * One SQLite connection per process, shared by its threads under
 * db_mutex. Queries are short (a few rows by primary key); password
 * hashing never happens while the mutex is held. Other processes (the CLI
 * while roostd runs) are arbitrated by SQLite's WAL locking; busy_timeout
 * lets a writer wait for another instead of failing at once.
 *
 * Schema versions are kept in PRAGMA user_version; each step of
 * `migrations` brings the database from version i to i + 1 inside one
 * transaction, so a database is never half-migrated. */
#include "auth/auth-private.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

sqlite3 *auth_db;
static pthread_mutex_t db_mutex = PTHREAD_MUTEX_INITIALIZER;
static unsigned char db_secret[32];

#define BUSY_TIMEOUT_MS 5000

static const char *const migrations[] = {
    /* version 1 */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value BLOB NOT NULL);"
    "CREATE TABLE domains ("
    "  name TEXT PRIMARY KEY,"
    "  created INTEGER NOT NULL);"
    /* AUTOINCREMENT: an id (and so a user_key) is never reused, even
     * after the account with the largest id is deleted. */
    "CREATE TABLE accounts ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  address TEXT NOT NULL UNIQUE,"
    "  domain TEXT NOT NULL REFERENCES domains(name),"
    "  user_key TEXT UNIQUE,"
    "  state INTEGER NOT NULL DEFAULT 0,"
    "  password_hash TEXT NOT NULL,"
    "  scram_salt BLOB NOT NULL,"
    "  scram_iterations INTEGER NOT NULL,"
    "  scram_stored_key BLOB,"
    "  scram_server_key BLOB,"
    "  imap INTEGER NOT NULL DEFAULT 1,"
    "  pop3 INTEGER NOT NULL DEFAULT 1,"
    "  require_app_password INTEGER NOT NULL DEFAULT 0,"
    "  pop3_dele INTEGER NOT NULL DEFAULT -1,"
    "  pop3_offer_days INTEGER NOT NULL DEFAULT -1,"
    "  quota_bytes INTEGER NOT NULL DEFAULT 0,"
    "  quota_messages INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  password_changed INTEGER NOT NULL);"
    "CREATE INDEX accounts_domain ON accounts(domain);"
    "CREATE TABLE aliases ("
    "  address TEXT PRIMARY KEY,"
    "  domain TEXT NOT NULL REFERENCES domains(name),"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  created INTEGER NOT NULL);"
    "CREATE INDEX aliases_account ON aliases(account_id);"
    "CREATE INDEX aliases_domain ON aliases(domain);"
    "CREATE TABLE app_passwords ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  label TEXT NOT NULL,"
    "  stored_key BLOB NOT NULL,"
    "  server_key BLOB NOT NULL,"
    "  stored_key_spaced BLOB NOT NULL,"
    "  server_key_spaced BLOB NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  last_used INTEGER NOT NULL DEFAULT 0,"
    "  last_protocol TEXT NOT NULL DEFAULT '',"
    "  last_ip TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX app_passwords_account ON app_passwords(account_id);",
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

void auth_db_lock(void)
{
	pthread_mutex_lock(&db_mutex);
}

void auth_db_unlock(void)
{
	pthread_mutex_unlock(&db_mutex);
}

int auth_db_exec(const char *sql, char *err, size_t errcap)
{
	char *msg = NULL;
	if (sqlite3_exec(auth_db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		if (err != NULL)
			snprintf(err, errcap, "accounts database: %s",
			         msg ? msg : sqlite3_errmsg(auth_db));
		sqlite3_free(msg);
		return -1;
	}
	return 1;
}

sqlite3_stmt *auth_db_prepare(const char *sql, char *err, size_t errcap)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(auth_db, sql, -1, &st, NULL) != SQLITE_OK) {
		if (err != NULL)
			snprintf(err, errcap, "accounts database: %s", sqlite3_errmsg(auth_db));
		return NULL;
	}
	return st;
}

bool auth_db_busy(void)
{
	int e = sqlite3_errcode(auth_db);
	return e == SQLITE_BUSY || e == SQLITE_LOCKED;
}

const unsigned char *auth_db_secret(void)
{
	return db_secret;
}

static int user_version(int *v_r, char *err, size_t errcap)
{
	sqlite3_stmt *st = auth_db_prepare("PRAGMA user_version", err, errcap);
	if (st == NULL)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v_r = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		snprintf(err, errcap, "accounts database: %s", sqlite3_errmsg(auth_db));
		return -1;
	}
	return 1;
}

static int migrate(char *err, size_t errcap)
{
	int v = 0;
	/* BEGIN IMMEDIATE: two processes starting at once must not both
	 * migrate. The version is read again under the write lock. */
	if (auth_db_exec("BEGIN IMMEDIATE", err, errcap) < 0)
		return -1;
	if (user_version(&v, err, errcap) < 0)
		goto fail;
	if (v > (int)N_MIGRATIONS) {
		snprintf(err, errcap,
		         "accounts database: schema version %d is newer than this program's (%zu)",
		         v, N_MIGRATIONS);
		goto fail;
	}
	for (; v < (int)N_MIGRATIONS; v++) {
		if (auth_db_exec(migrations[v], err, errcap) < 0)
			goto fail;
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (auth_db_exec(sql, err, errcap) < 0)
			goto fail;
	}

	/* The secret for fake SCRAM salts: made once, kept forever, so an
	 * unknown user's salt is the same on every attempt and across
	 * restarts, like a real one. */
	sqlite3_stmt *st =
	    auth_db_prepare("SELECT value FROM meta WHERE key = 'secret'", err, errcap);
	if (st == NULL)
		goto fail;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == (int)sizeof(db_secret)) {
		memcpy(db_secret, sqlite3_column_blob(st, 0), sizeof(db_secret));
		sqlite3_finalize(st);
	} else {
		sqlite3_finalize(st);
		if (auth_random(db_secret, sizeof(db_secret)) < 0) {
			snprintf(err, errcap, "accounts database: no random bytes");
			goto fail;
		}
		st = auth_db_prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('secret', ?)",
		                     err, errcap);
		if (st == NULL)
			goto fail;
		sqlite3_bind_blob(st, 1, db_secret, sizeof(db_secret), SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			snprintf(err, errcap, "accounts database: %s", sqlite3_errmsg(auth_db));
			goto fail;
		}
	}
	if (auth_db_exec("COMMIT", err, errcap) < 0)
		goto fail;
	return 1;
fail:
	auth_db_exec("ROLLBACK", NULL, 0);
	return -1;
}

int auth_db_open(const char *path, char *err, size_t errcap)
{
	/* The file holds password hashes: create it private (SQLite gives
	 * its -wal and -shm files the same mode). */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
	if (sqlite3_open_v2(path, &auth_db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errcap, "cannot open %s: %s", path,
		         auth_db ? sqlite3_errmsg(auth_db) : "out of memory");
		auth_db_close();
		return -1;
	}
	sqlite3_busy_timeout(auth_db, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(auth_db, 0);
	/* WAL: readers (logins) never wait for a writer (the CLI);
	 * synchronous=FULL: a change reported as done survives a power cut. */
	if (auth_db_exec("PRAGMA journal_mode = WAL", err, errcap) < 0 ||
	    auth_db_exec("PRAGMA synchronous = FULL", err, errcap) < 0 ||
	    auth_db_exec("PRAGMA foreign_keys = ON", err, errcap) < 0 || migrate(err, errcap) < 0) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "%s", err);
		snprintf(err, errcap, "%s (%s)", tmp, path);
		auth_db_close();
		return -1;
	}
	return 1;
}

void auth_db_close(void)
{
	if (auth_db != NULL) {
		sqlite3_close(auth_db);
		auth_db = NULL;
	}
}
