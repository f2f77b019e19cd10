/* sqlite-user.c - the embedded backend: per-user databases, schema and
 * migrations, the statement cache, transactions, user create/delete/
 * rename, cross-process refresh and quota.
 *
 * Layout (docs/storage.md):
 *   data_dir/users/<key>/store.db      SQLite, WAL, synchronous=FULL
 *   data_dir/users/<key>/tmp/          blobs being received
 *   data_dir/users/<key>/msg/<xx>/<id> immutable message files */
#include "sqlite-store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#define SQ_BUSY_TIMEOUT_MS 15000

static char users_dir[4096];

/* ------------------------------------------------------------------ */
/* schema */

/* Migrations: entry i takes a database from user_version i to i + 1.
 * Never edit a shipped entry; append a new one. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE account ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  next_uidvalidity INTEGER NOT NULL,"
	"  next_blob_id INTEGER NOT NULL,"
	"  bytes_used INTEGER NOT NULL DEFAULT 0,"
	"  messages_used INTEGER NOT NULL DEFAULT 0,"
	"  bytes_limit INTEGER NOT NULL DEFAULT 0,"
	"  messages_limit INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE mailbox ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  special INTEGER NOT NULL DEFAULT 0,"
	"  noselect INTEGER NOT NULL DEFAULT 0,"
	"  uidvalidity INTEGER NOT NULL,"
	"  uidnext INTEGER NOT NULL DEFAULT 1,"
	"  highestmodseq INTEGER NOT NULL DEFAULT 1,"
	"  messages INTEGER NOT NULL DEFAULT 0,"
	"  unseen INTEGER NOT NULL DEFAULT 0,"
	"  deleted INTEGER NOT NULL DEFAULT 0,"
	"  size INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE subscription (name TEXT PRIMARY KEY) WITHOUT ROWID;"
	"CREATE TABLE blob ("
	"  id INTEGER PRIMARY KEY,"
	"  size INTEGER NOT NULL,"
	"  refs INTEGER NOT NULL,"
	"  cache BLOB);"
	"CREATE TABLE message ("
	"  mailbox_id INTEGER NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  blob_id INTEGER NOT NULL,"
	"  modseq INTEGER NOT NULL,"
	"  flags INTEGER NOT NULL,"
	"  keywords TEXT,"
	"  internal_date INTEGER NOT NULL,"
	"  tz INTEGER NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  savedate INTEGER NOT NULL,"
	"  PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
	"CREATE INDEX message_modseq ON message (mailbox_id, modseq);"
	"CREATE TABLE expunged ("
	"  mailbox_id INTEGER NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  modseq INTEGER NOT NULL,"
	"  PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
	"CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);",
	/* 1 -> 2: the text of small messages, instead of a file (a blob has
	 * a row here or a file in msg/, never both). */
	"CREATE TABLE blob_body (id INTEGER PRIMARY KEY, body BLOB NOT NULL);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* ------------------------------------------------------------------ */
/* helpers */

int sq_user_dir(const char *key, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%s", users_dir, key);
	return n > 0 && (size_t)n < cap ? 1 : -1;
}

static int db_open(const char *dir, bool create, sqlite3 **db_r);

static int64_t now_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Remembers which file store.db is, for sqlite_user_current. */
static void note_db_identity(struct sq_user *s)
{
	char path[4200];
	struct stat st;
	snprintf(path, sizeof(path), "%s/store.db", s->dir);
	if (stat(path, &st) == 0) {
		s->db_dev = st.st_dev;
		s->db_ino = st.st_ino;
	}
}

/* The connection of an idle user is closed by sq_release_idle (it holds
 * ~150 KiB: schema, statements, page cache) and opened again here on the
 * next use. If that fails, s->db stays NULL and sq_stmt fails. */
void sq_lock(struct sq_user *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->db == NULL) {
		if (db_open(s->dir, false, &s->db) < 0) {
			s->db = NULL;
			return;
		}
		note_db_identity(s);
		/* Changes made meanwhile by other processes are found by
		 * comparing the mailboxes with s->known at the next refresh. */
		s->data_version = -1;
	}
}

void sq_unlock(struct sq_user *s)
{
	s->last_used = now_mono_ms();
	pthread_mutex_unlock(&s->lock);
}

static void db_close(struct sq_user *s)
{
	for (unsigned i = 0; i < s->nstmts; i++)
		sqlite3_finalize(s->stmts[i].stmt);
	free(s->stmts);
	s->stmts = NULL;
	s->nstmts = s->cap_stmts = 0;
	sqlite3_close(s->db);
	s->db = NULL;
	/* What the connection held goes back to the system now. */
	sq_mem_trim();
}

bool sq_release_idle(struct sq_user *s, unsigned idle_ms)
{
	if (pthread_mutex_trylock(&s->lock) != 0)
		return false;
	bool closed = false;
	if (s->db != NULL && now_mono_ms() - s->last_used >= (int64_t)idle_ms) {
		db_close(s);
		closed = true;
	}
	pthread_mutex_unlock(&s->lock);
	return closed;
}

static int map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return STORE_ERR_INUSE;
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PROTOCOL:
		return STORE_ERR_TEMPFAIL;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_SCHEMA:
		return STORE_ERR_CORRUPT;
	case SQLITE_NOMEM:
	default:
		return STORE_ERR_INTERNAL;
	}
}

int sq_fail(struct sq_user *s, int rc, const char *what)
{
	const char *msg = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
	log_error("store_sqlite", "what=\"%s\" rc=%d error=\"%s\"", what, rc, msg);
	enum store_error e = map_rc(rc);
	switch (e) {
	case STORE_ERR_INUSE:
		return store_fail(e, "Mailbox store is busy, try again");
	case STORE_ERR_TEMPFAIL:
		return store_fail(e, (rc & 0xff) == SQLITE_FULL ? "Disk full" :
					     "Temporary storage failure");
	case STORE_ERR_CORRUPT:
		return store_fail(e, "Mailbox store is corrupted");
	default:
		return store_fail(STORE_ERR_INTERNAL, "Internal storage error");
	}
}

sqlite3_stmt *sq_stmt(struct sq_user *s, const char *sql)
{
	if (s->db == NULL) {
		store_fail(STORE_ERR_TEMPFAIL, "Cannot open the mailbox store");
		return NULL;
	}
	for (unsigned i = 0; i < s->nstmts; i++) {
		if (s->stmts[i].sql == sql) {
			sqlite3_stmt *st = s->stmts[i].stmt;
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	}
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK) {
		sq_fail(s, rc, "prepare");
		return NULL;
	}
	if (s->nstmts == s->cap_stmts && s->cap_stmts < SQ_STMT_CACHE) {
		unsigned cap = s->cap_stmts ? s->cap_stmts * 2 : 16;
		struct sq_stmt_slot *v = realloc(s->stmts, cap * sizeof(*v));
		if (v == NULL) {
			sqlite3_finalize(st);
			store_fail(STORE_ERR_INTERNAL, "Out of memory");
			return NULL;
		}
		s->stmts = v;
		s->cap_stmts = cap;
	}
	/* The cache is sized above the number of distinct statements; should
	 * it ever fill, the oldest slot is reused. */
	if (s->nstmts == SQ_STMT_CACHE) {
		sqlite3_finalize(s->stmts[0].stmt);
		memmove(&s->stmts[0], &s->stmts[1], sizeof(s->stmts[0]) * (SQ_STMT_CACHE - 1));
		s->nstmts--;
	}
	s->stmts[s->nstmts].sql = sql;
	s->stmts[s->nstmts].stmt = st;
	s->nstmts++;
	return st;
}

int sq_exec(struct sq_user *s, const char *sql)
{
	sqlite3_stmt *st = sq_stmt(s, sql);
	if (st == NULL)
		return -1;
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sq_fail(s, rc, sql);
	return 1;
}

int sq_begin(struct sq_user *s)
{
	return sq_exec(s, "BEGIN IMMEDIATE");
}

int sq_commit(struct sq_user *s)
{
	if (sq_exec(s, "COMMIT") < 0) {
		sq_rollback(s);
		return -1;
	}
	return 1;
}

void sq_rollback(struct sq_user *s)
{
	if (s->db != NULL && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int sq_get_int(struct sq_user *s, const char *sql, int64_t a, int64_t b, int64_t *r)
{
	sqlite3_stmt *st = sq_stmt(s, sql);
	if (st == NULL)
		return -1;
	int n = sqlite3_bind_parameter_count(st);
	if (n >= 1)
		sqlite3_bind_int64(st, 1, a);
	if (n >= 2)
		sqlite3_bind_int64(st, 2, b);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*r = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	return sq_fail(s, rc, sql);
}

int sq_blob_path(struct sq_user *s, uint64_t blob_id, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/msg/%02x/%016llx", s->dir, (unsigned)(blob_id & 0xff),
			 (unsigned long long)blob_id);
	if (n < 0 || (size_t)n >= cap)
		return store_fail(STORE_ERR_INTERNAL, "Path too long");
	return 1;
}

int sq_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int ret = fsync(fd);
	close(fd);
	return ret < 0 ? -1 : 1;
}

void sq_unlink_blobs(struct sq_user *s, const uint64_t *ids, size_t n)
{
	char path[4096];
	for (size_t i = 0; i < n; i++) {
		if (sq_blob_path(s, ids[i], path, sizeof(path)) > 0 && unlink(path) < 0 &&
		    errno != ENOENT)
			log_warn("store_unlink", "path=%s error=\"%s\"", path, strerror(errno));
	}
}

int sq_idvec_push(struct sq_idvec *a, uint64_t id)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		uint64_t *v = realloc(a->v, cap * sizeof(*v));
		if (v == NULL)
			return store_fail(STORE_ERR_INTERNAL, "Out of memory");
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = id;
	return 1;
}

void sq_idvec_free(struct sq_idvec *a)
{
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

/* ------------------------------------------------------------------ */
/* opening a database */

static int db_pragmas(sqlite3 *db)
{
	/* synchronous=FULL: in WAL mode, NORMAL does not sync the WAL at each
	 * commit, so a power loss could drop a transaction whose append was
	 * already acknowledged. FULL syncs the WAL before COMMIT returns. */
	static const char *const pragmas =
		"PRAGMA journal_mode=WAL;"
		"PRAGMA synchronous=FULL;"
		"PRAGMA foreign_keys=OFF;"
		"PRAGMA temp_store=MEMORY;"
		"PRAGMA cache_size=-2048;"
		/* The WAL file is kept between connections (see db_open) and
		 * reused from its start after each checkpoint, so a commit's
		 * fdatasync writes data only and never changes the file's
		 * size. Checkpoints come every 512 pages (~2 MiB); a WAL that
		 * a large transaction (roost import) grew is cut back to
		 * 4 MiB after the next checkpoint. */
		"PRAGMA wal_autocheckpoint=512;"
		"PRAGMA journal_size_limit=4194304;";
	sqlite3_busy_timeout(db, SQ_BUSY_TIMEOUT_MS);
	return sqlite3_exec(db, pragmas, NULL, NULL, NULL) == SQLITE_OK ? 1 : -1;
}

static int db_migrate(sqlite3 *db)
{
	int version = 0;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > SCHEMA_VERSION) {
		log_error("store_schema", "version=%d supported=%d", version, SCHEMA_VERSION);
		return -1;
	}
	while (version < SCHEMA_VERSION) {
		/* Each step is one transaction, re-checking the version under
		 * the write lock (another process may migrate concurrently). */
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
			return -1;
		int cur = -1;
		if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				cur = sqlite3_column_int(st, 0);
			sqlite3_finalize(st);
		}
		if (cur != version) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			version = cur;
			if (cur < 0 || cur > SCHEMA_VERSION)
				return -1;
			continue;
		}
		char set[64];
		snprintf(set, sizeof(set), "PRAGMA user_version=%d", version + 1);
		if (sqlite3_exec(db, migrations[version], NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, set, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			log_error("store_migrate", "from=%d error=\"%s\"", version, sqlite3_errmsg(db));
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		version++;
	}
	return 1;
}

static int db_open(const char *dir, bool create, sqlite3 **db_r)
{
	char path[4096];
	*db_r = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/store.db", dir) >= sizeof(path))
		return store_fail(STORE_ERR_INTERNAL, "Path too long");
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	sqlite3 *db;
	int rc = sqlite3_open_v2(path, &db, flags, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_close(db);
		if (!create && access(path, F_OK) < 0)
			return store_fail(STORE_ERR_NONEXISTENT, "No such user");
		log_error("store_open", "path=%s error=\"%s\"", path, sqlite3_errstr(rc));
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot open the mailbox store");
	}
	/* Memory per connection (one per open user, possibly thousands):
	 * no lookaside slots (~120 KiB each by default, used or not; the
	 * Debian build omits lookaside already, others may not).
	 * Closing does not checkpoint: a checkpoint at close syncs twice
	 * and deletes the WAL, which the next open creates and syncs again.
	 * SQLite's auto-checkpoint at commit keeps the WAL bounded. */
	sqlite3_db_config(db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 0, 0);
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	if (db_pragmas(db) < 0 || db_migrate(db) < 0) {
		log_error("store_open", "path=%s error=\"%s\"", path, sqlite3_errmsg(db));
		rc = sqlite3_errcode(db);
		sqlite3_close(db);
		return store_fail(map_rc(rc) == STORE_ERR_CORRUPT ? STORE_ERR_CORRUPT :
								   STORE_ERR_TEMPFAIL,
				  "Cannot open the mailbox store");
	}
	*db_r = db;
	return 1;
}

static int64_t data_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Reads (id, highestmodseq) of every mailbox into s->known. Lock held. */
static int load_known(struct sq_user *s, struct sq_known **known_r, size_t *n_r)
{
	sqlite3_stmt *st = sq_stmt(s, "SELECT id, highestmodseq FROM mailbox ORDER BY id");
	*known_r = NULL;
	*n_r = 0;
	if (st == NULL)
		return -1;
	struct sq_known *k = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct sq_known *nk = realloc(k, cap * sizeof(*k));
			if (nk == NULL) {
				free(k);
				sqlite3_reset(st);
				return store_fail(STORE_ERR_INTERNAL, "Out of memory");
			}
			k = nk;
		}
		k[n].id = (uint64_t)sqlite3_column_int64(st, 0);
		k[n].modseq = (uint64_t)sqlite3_column_int64(st, 1);
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(k);
		return sq_fail(s, rc, "load mailboxes");
	}
	*known_r = k;
	*n_r = n;
	return 1;
}

int sq_make_msg_dirs(const char *user_dir)
{
	char path[4200];
	/* The last one is made last: when it exists, all do. */
	snprintf(path, sizeof(path), "%s/msg/ff", user_dir);
	if (access(path, F_OK) == 0)
		return 1;
	for (unsigned i = 0; i < 256; i++) {
		snprintf(path, sizeof(path), "%s/msg/%02x", user_dir, i);
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -1;
	}
	snprintf(path, sizeof(path), "%s/msg", user_dir);
	return sq_fsync_dir(path);
}

static int sqlite_user_open(struct store_user *u)
{
	char dir[4096], tmp[4200];
	if (sq_user_dir(u->key, dir, sizeof(dir)) < 0)
		return store_fail(STORE_ERR_INTERNAL, "Path too long");
	struct stat stt;
	if (stat(dir, &stt) < 0)
		return store_fail(STORE_ERR_NONEXISTENT, "No such user");
	/* Users created before the directories were made at creation get
	 * them once here. A failure is not fatal: an append then makes the
	 * one directory it needs. */
	if (sq_make_msg_dirs(dir) < 0)
		log_warn("store_msg_dirs", "user=%s error=\"%s\"", u->key, strerror(errno));
	struct sq_user *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	if ((s->dir = strdup(dir)) == NULL || (u->tmp_dir = strdup(tmp)) == NULL) {
		free(s->dir);
		free(s);
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	}
	if (db_open(dir, false, &s->db) < 0) {
		free(s->dir);
		free(u->tmp_dir);
		u->tmp_dir = NULL;
		free(s);
		return -1;
	}
	pthread_mutex_init(&s->lock, NULL);
	note_db_identity(s);
	s->last_used = now_mono_ms();
	s->data_version = data_version(s->db);
	if (load_known(s, &s->known, &s->nknown) < 0) {
		db_close(s);
		pthread_mutex_destroy(&s->lock);
		free(s->dir);
		free(u->tmp_dir);
		u->tmp_dir = NULL;
		free(s);
		return -1;
	}
	u->priv = s;
	return 1;
}

static bool sqlite_user_current(struct store_user *u)
{
	struct sq_user *s = sq(u);
	char path[4200];
	struct stat st;
	snprintf(path, sizeof(path), "%s/store.db", s->dir);
	return stat(path, &st) == 0 && st.st_dev == s->db_dev && st.st_ino == s->db_ino;
}

static void sqlite_user_close(struct store_user *u)
{
	struct sq_user *s = sq(u);
	if (s == NULL)
		return;
	db_close(s);
	pthread_mutex_destroy(&s->lock);
	free(s->known);
	free(s->dir);
	free(s);
	u->priv = NULL;
}

/* ------------------------------------------------------------------ */
/* user create / delete / rename */

static int user_exists(const char *key)
{
	char dir[4096];
	if (sq_user_dir(key, dir, sizeof(dir)) < 0)
		return store_fail(STORE_ERR_INTERNAL, "Path too long");
	struct stat st;
	return stat(dir, &st) == 0 ? 1 : 0;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	if (remove(path) < 0 && errno != ENOENT)
		log_warn("store_rm", "path=%s error=\"%s\"", path, strerror(errno));
	return 0;
}

static void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static unsigned long long unique_counter(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static unsigned long long n;
	pthread_mutex_lock(&lock);
	unsigned long long v = ++n;
	pthread_mutex_unlock(&lock);
	return v;
}

/* Creates the database in a hidden directory, then renames it into place
 * (RENAME_NOREPLACE), so a crash never leaves a half-made user and two
 * concurrent creates cannot both succeed. */
static int sqlite_user_create(const char *key)
{
	char dir[4096], stage[4200], sub[4300];
	if (sq_user_dir(key, dir, sizeof(dir)) < 0)
		return store_fail(STORE_ERR_INTERNAL, "Path too long");
	if (user_exists(key) > 0)
		return store_fail(STORE_ERR_ALREADYEXISTS, "User already exists");
	snprintf(stage, sizeof(stage), "%s/.new-%s-%ld-%llu", users_dir, key, (long)getpid(),
		 unique_counter());
	if (mkdir(stage, 0700) < 0)
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot create user directory: %s",
				  strerror(errno));
	snprintf(sub, sizeof(sub), "%s/tmp", stage);
	int ok = mkdir(sub, 0700) == 0;
	snprintf(sub, sizeof(sub), "%s/msg", stage);
	ok = ok && mkdir(sub, 0700) == 0 && sq_make_msg_dirs(stage) > 0;
	sqlite3 *db = NULL;
	if (!ok || db_open(stage, true, &db) < 0) {
		rm_tree(stage);
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot create the mailbox store");
	}
	uint32_t now = (uint32_t)time(NULL);
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "BEGIN IMMEDIATE;"
		 "INSERT INTO account (id, next_uidvalidity, next_blob_id) VALUES (1, %u, 1);"
		 "INSERT INTO mailbox (name, uidvalidity) VALUES ('INBOX', %u);"
		 "INSERT INTO subscription (name) VALUES ('INBOX');"
		 "COMMIT;",
		 now + 1, now);
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	/* Fold the WAL into the main file so the staged directory is complete. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	sqlite3_close(db);
	if (rc != SQLITE_OK || sq_fsync_dir(stage) < 0) {
		rm_tree(stage);
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot create the mailbox store");
	}
	if (renameat2(AT_FDCWD, stage, AT_FDCWD, dir, RENAME_NOREPLACE) < 0) {
		int e = errno;
		rm_tree(stage);
		if (e == EEXIST || e == ENOTEMPTY)
			return store_fail(STORE_ERR_ALREADYEXISTS, "User already exists");
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot create user: %s", strerror(e));
	}
	sq_fsync_dir(users_dir);
	return 1;
}

static int sqlite_user_delete(const char *key)
{
	char dir[4096], grave[4200];
	if (sq_user_dir(key, dir, sizeof(dir)) < 0)
		return store_fail(STORE_ERR_INTERNAL, "Path too long");
	snprintf(grave, sizeof(grave), "%s/.del-%s-%ld-%llu", users_dir, key, (long)getpid(),
		 unique_counter());
	/* Renamed away first: the user disappears atomically, then the files
	 * are removed at leisure. */
	if (rename(dir, grave) < 0) {
		if (errno == ENOENT)
			return store_fail(STORE_ERR_NONEXISTENT, "No such user");
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot delete user: %s", strerror(errno));
	}
	sq_fsync_dir(users_dir);
	rm_tree(grave);
	return 1;
}

static int sqlite_user_rename(const char *old_key, const char *new_key)
{
	char from[4096], to[4096];
	if (sq_user_dir(old_key, from, sizeof(from)) < 0 || sq_user_dir(new_key, to, sizeof(to)) < 0)
		return store_fail(STORE_ERR_INTERNAL, "Path too long");
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0) {
		if (errno == ENOENT)
			return store_fail(STORE_ERR_NONEXISTENT, "No such user");
		if (errno == EEXIST || errno == ENOTEMPTY)
			return store_fail(STORE_ERR_ALREADYEXISTS, "User already exists");
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot rename user: %s", strerror(errno));
	}
	sq_fsync_dir(users_dir);
	return 1;
}

static int sqlite_user_exists(const char *key)
{
	return user_exists(key);
}

static int sqlite_user_foreach(int (*fn)(void *ctx, const char *key), void *ctx)
{
	DIR *d = opendir(users_dir);
	if (d == NULL)
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot read %s", "users directory");
	struct dirent *de;
	int ret = 1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fn(ctx, de->d_name) < 0) {
			ret = -1;
			break;
		}
	}
	closedir(d);
	return ret;
}

/* ------------------------------------------------------------------ */
/* cross-process refresh */

static int sqlite_user_refresh(struct store_user *u)
{
	struct sq_user *s = sq(u);
	sq_lock(s);
	if (s->db == NULL) {
		sq_unlock(s);
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot open the mailbox store");
	}
	int64_t v = data_version(s->db);
	if (v == s->data_version) {
		sq_unlock(s);
		return 1;
	}
	struct sq_known *now;
	size_t nnow;
	if (load_known(s, &now, &nnow) < 0) {
		sq_unlock(s);
		return -1;
	}
	struct sq_known *old = s->known;
	size_t nold = s->nknown;
	s->known = now;
	s->nknown = nnow;
	s->data_version = v;
	sq_unlock(s);

	/* Both lists are sorted by id: a merge finds new, changed and
	 * vanished mailboxes. Publishing happens without the db lock. */
	size_t i = 0, j = 0;
	while (i < nold || j < nnow) {
		if (j == nnow || (i < nold && old[i].id < now[j].id)) {
			store_bus_publish(u, old[i].id, 0);
			i++;
		} else if (i == nold || now[j].id < old[i].id) {
			store_bus_publish(u, now[j].id, now[j].modseq);
			j++;
		} else {
			if (old[i].modseq != now[j].modseq)
				store_bus_publish(u, now[j].id, now[j].modseq);
			i++;
			j++;
		}
	}
	free(old);
	return 1;
}

static bool sqlite_user_release(struct store_user *u, unsigned idle_ms)
{
	return sq_release_idle(sq(u), idle_ms);
}

/* ------------------------------------------------------------------ */
/* quota */

int sq_quota_add(struct sq_user *s, int64_t bytes, int64_t messages)
{
	sqlite3_stmt *st = sq_stmt(s, "UPDATE account SET bytes_used = bytes_used + ?1,"
				      " messages_used = messages_used + ?2 WHERE id = 1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, bytes);
	sqlite3_bind_int64(st, 2, messages);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 1 : sq_fail(s, rc, "quota update");
}

static int quota_read(struct sq_user *s, struct store_quota *q)
{
	sqlite3_stmt *st = sq_stmt(s, "SELECT bytes_used, bytes_limit, messages_used,"
				      " messages_limit FROM account WHERE id = 1");
	if (st == NULL)
		return -1;
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return store_fail(STORE_ERR_CORRUPT, "Mailbox store has no account row");
		return sq_fail(s, rc, "quota read");
	}
	int64_t bu = sqlite3_column_int64(st, 0), mu = sqlite3_column_int64(st, 2);
	q->bytes_used = bu < 0 ? 0 : (uint64_t)bu;
	q->bytes_limit = (uint64_t)sqlite3_column_int64(st, 1);
	q->messages_used = mu < 0 ? 0 : (uint64_t)mu;
	q->messages_limit = (uint64_t)sqlite3_column_int64(st, 3);
	sqlite3_reset(st);
	return 1;
}

int sq_quota_check(struct sq_user *s, uint64_t bytes, uint64_t messages)
{
	struct store_quota q;
	if (quota_read(s, &q) < 0)
		return -1;
	if (q.bytes_limit != 0 && q.bytes_used + bytes > q.bytes_limit)
		return store_fail(STORE_ERR_OVERQUOTA, "Quota exceeded (storage)");
	if (q.messages_limit != 0 && q.messages_used + messages > q.messages_limit)
		return store_fail(STORE_ERR_OVERQUOTA, "Quota exceeded (messages)");
	return 1;
}

static int sqlite_quota_get(struct store_user *u, struct store_quota *q_r)
{
	struct sq_user *s = sq(u);
	sq_lock(s);
	int ret = quota_read(s, q_r);
	sq_unlock(s);
	return ret;
}

static int sqlite_set_quota(struct store_user *u, uint64_t bytes_limit, uint64_t messages_limit)
{
	struct sq_user *s = sq(u);
	if (bytes_limit > INT64_MAX || messages_limit > INT64_MAX)
		return store_fail(STORE_ERR_LIMIT, "Quota limit too large");
	sq_lock(s);
	sqlite3_stmt *st = sq_stmt(s, "UPDATE account SET bytes_limit = ?1, messages_limit = ?2"
				      " WHERE id = 1");
	int ret = -1;
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, (int64_t)bytes_limit);
		sqlite3_bind_int64(st, 2, (int64_t)messages_limit);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		ret = rc == SQLITE_DONE ? 1 : sq_fail(s, rc, "set quota");
	}
	sq_unlock(s);
	return ret;
}

/* ------------------------------------------------------------------ */
/* init */

static int sqlite_init(const char *data_dir, char *err, size_t errcap)
{
	int n = snprintf(users_dir, sizeof(users_dir), "%s/users", data_dir);
	/* Keep room for "/<key>/msg/xx/<16 hex>" and temp names. */
	if (n < 0 || (size_t)n + 200 >= sizeof(users_dir)) {
		snprintf(err, errcap, "store: data_dir path too long");
		return -1;
	}
	if (mkdir(users_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errcap, "store: cannot create %s: %s", users_dir, strerror(errno));
		return -1;
	}
	if (sqlite3_threadsafe() == 0) {
		snprintf(err, errcap, "store: SQLite was built without thread support");
		return -1;
	}
	/* No bulk page-cache allocation per connection (20 pages by
	 * default, allocated at the first read whether needed or not) and
	 * no lookaside. These (and sq_mem_install) only take effect before SQLite's first use in
	 * the process (roostd calls store_init first); if something else
	 * used SQLite already they fail harmlessly, and db_open still turns
	 * lookaside off per connection. */
	sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
	sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0);
	/* And SQLite's memory apart from the heap, so closed connections
	 * leave no holes in it (sqlite-mem.c). */
	sq_mem_install();
	return 1;
}

static void sqlite_deinit(void)
{
	users_dir[0] = '\0';
}

const struct store_backend store_backend_sqlite = {
	.name = "sqlite",
	.init = sqlite_init,
	.deinit = sqlite_deinit,
	.user_open = sqlite_user_open,
	.user_close = sqlite_user_close,
	.user_create = sqlite_user_create,
	.user_delete = sqlite_user_delete,
	.user_rename = sqlite_user_rename,
	.user_exists = sqlite_user_exists,
	.user_foreach = sqlite_user_foreach,
	.user_refresh = sqlite_user_refresh,
	.user_current = sqlite_user_current,
	.user_release = sqlite_user_release,
	.mailbox_list = sq_mailbox_list,
	.mailbox_lookup = sq_mailbox_lookup,
	.mailbox_create = sq_mailbox_create,
	.mailbox_delete = sq_mailbox_delete,
	.mailbox_rename = sq_mailbox_rename,
	.mailbox_subscribe = sq_mailbox_subscribe,
	.mailbox_set_special_use = sq_mailbox_set_special_use,
	.mailbox_set_uidvalidity = sq_mailbox_set_uidvalidity,
	.mailbox_status = sq_mailbox_status,
	.msg_list_load = sq_msg_list_load,
	.changes_since = sq_changes_since,
	.msg_open = sq_msg_open,
	.msg_cache = sq_msg_cache,
	.msg_text = sq_msg_text,
	.append = sq_append,
	.copy = sq_copy,
	.flags_change = sq_flags_change,
	.expunge = sq_expunge,
	.quota_get = sqlite_quota_get,
	.set_quota = sqlite_set_quota,
	.fsck = sq_fsck,
};
