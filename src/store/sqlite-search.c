/* sqlite-search.c - the embedded backend's search index (docs/storage.md,
 * "Search index").
 *
 * What IMAP SEARCH scans for (the decoded, case-folded text of a
 * message's common header fields, of its whole header as TEXT reads it,
 * and of its text parts) is indexed in an SQLite FTS5 table with the
 * trigram tokenizer, one row per blob (COPY and MOVE share blobs, so
 * copies cost nothing). The text is folded by the MIME layer before it is
 * indexed and the tokenizer runs with case_sensitive 1, so the index sees
 * exactly the characters the scanning search compares; Chinese needs no
 * word breaker.
 *
 * The index only rules messages out. It keeps which trigrams occur in a
 * message (detail=none: no positions, one row of text per message), so a
 * query for every trigram of a needle gives a superset of the messages
 * that contain it: every message that contains the needle contains all
 * its trigrams. The caller then reads and checks only those candidates
 * with the scanning search, so the answer is the scan's by construction.
 * Positions would make the check unnecessary but the index twelve times
 * larger (measured on the benchmark corpus: 14.8 KB against 1.2 KB per
 * message).
 *
 * The index lives in its own database, data_dir/users/<key>/search.db,
 * not in store.db:
 *  - indexing never takes store.db's write lock, so a delivery never
 *    waits behind it (and its commits need no fsync: synchronous=NORMAL;
 *    a crash can lose the last batches, which are simply indexed again);
 *  - it is a cache: deleting the file loses nothing.
 * store.db is ATTACHed (as "st") to read blob rows, and every query joins
 * its candidates against the live blob rows, so an expunged message (its
 * blob gone) is never one even though its index row stays until the
 * index is rebuilt (contentless FTS5 rows cannot be deleted without their
 * text).
 *
 * Blobs are indexed in id order. search_state.upto says that every blob
 * with an id up to it is indexed: blob ids are handed out in increasing
 * order under store.db's write lock and committed in that order, so a
 * batch that indexes every blob above `upto` that it can see never skips
 * one that commits later. Messages whose blob id is above `upto` are
 * scanned by the caller, so SEARCH is exact at all times.
 *
 * Indexing happens (a) in roostd's indexer thread, a few seconds after
 * deliveries stop (sq_search_kick, called after each append commit), at
 * a low CPU priority, in batches of SEARCH_BATCH messages per
 * transaction; (b) on the spot when a SEARCH needs the index
 * (store_search_update, with a time budget); (c) by roost fsck, which
 * rebuilds it from scratch. */
#include "sqlite-store.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "mime/mime.h"

/* Bump when what is indexed changes: an index of another format is
 * dropped and rebuilt. */
#define SEARCH_FORMAT 3
/* Messages per indexing transaction. */
#define SEARCH_BATCH 256
/* Larger messages are not searched as text (as IMAP's scanning search). */
#define SEARCH_MAX_MESSAGE ((uint64_t)64 * 1024 * 1024)
/* Decoded text of one message never grows past this. */
#define SEARCH_TEXT_MAX ((size_t)256 * 1024 * 1024)
/* The indexer waits this long after the last delivery to a user (so a
 * burst is indexed in big batches, out of the deliveries' way), but no
 * longer than SEARCH_MAX_DELAY after the first one. */
#define SEARCH_QUIET_MS 2000
#define SEARCH_MAX_DELAY_MS 30000
#define SEARCH_QUEUE 256
/* The index starts over when its rows outnumber twice the live messages
 * plus this many. */
#define SEARCH_COMPACT_SLACK 1000

/* U+FFFF stands in for NUL in indexed text (FTS5 text stops at NUL); a
 * needle that contains either is answered by scanning alone. */
static const char NUL_STANDIN[] = "\xef\xbf\xbf";

/* Fields whose values are indexed as HEADER <field> reads them (with the
 * charset of the first text part for raw 8-bit text); the whole header is
 * indexed as TEXT reads it (with the top-level charset). */
static const char *const header_fields[] = { "Subject", "From", "To", "Cc", "Bcc" };
/* Trigrams of one needle looked up (an evenly spread subset of a longer
 * needle's still gives a superset). */
#define SEARCH_MAX_TRIGRAMS 24

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS search_state ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  format INTEGER NOT NULL,"
	"  upto INTEGER NOT NULL,"   /* every blob with id <= upto is indexed */
	"  docs INTEGER NOT NULL);"  /* rows in search_fts, live or not */
	"CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5("
	"  text, content='', columnsize=0, detail=none,"
	"  tokenize='trigram case_sensitive 1');"
	/* The folded values of header_fields[] (NULL: no such field), as
	 * BLOBs so instr() compares bytes like memmem. A message without a
	 * row (too large) matches no header key, as in the scan. */
	"CREATE TABLE IF NOT EXISTS search_hdr ("
	"  blob_id INTEGER PRIMARY KEY,"
	"  subj BLOB, hfrom BLOB, hto BLOB, hcc BLOB, hbcc BLOB);";

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ss_fail(sqlite3 *db, const char *what)
{
	int rc = db ? sqlite3_errcode(db) : SQLITE_ERROR;
	log_error("store_search", "what=\"%s\" rc=%d error=\"%s\"", what, rc,
		  db ? sqlite3_errmsg(db) : "");
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return store_fail(STORE_ERR_INUSE, "Search index is busy, try again");
	return store_fail(STORE_ERR_TEMPFAIL, "Search index unavailable");
}

static int ss_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 1 : ss_fail(db, sql);
}

/* "file:" URI of a path, for ATTACH (URIs percent-encode every byte that
 * is not plainly safe). */
static int uri_of(const char *path, struct buf *out)
{
	static const char hex[] = "0123456789abcdef";
	if (buf_append_cstr(out, "file:") < 0)
		return -1;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || *p == '/' || *p == '.' || *p == '_' ||
			     *p == '-';
		if (plain ? buf_append_char(out, (char)*p) < 0 :
			    (buf_append_char(out, '%') < 0 || buf_append_char(out, hex[*p >> 4]) < 0 ||
			     buf_append_char(out, hex[*p & 15]) < 0))
			return -1;
	}
	return 1;
}

static int reset_index(sqlite3 *db)
{
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "DROP TABLE IF EXISTS search_fts; DROP TABLE IF EXISTS search_hdr;"
		 " DROP TABLE IF EXISTS search_state;");
	if (ss_exec(db, sql) < 0 || ss_exec(db, SCHEMA) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "INSERT INTO search_state VALUES (1, %d, 0, 0)", SEARCH_FORMAT);
	return ss_exec(db, sql);
}

/* Starts a transaction and runs sql in it until that gets search.db's
 * write lock (or needs none). Transactions here must be deferred (BEGIN
 * IMMEDIATE would lock the attached store.db too), and a deferred one
 * whose snapshot is older than another writer's commit gets SQLITE_BUSY
 * at once instead of waiting: start it again. 1 with the transaction
 * open, -1 error (rolled back). */
static int ss_begin_write(sqlite3 *db, const char *sql)
{
	for (int attempt = 0;; attempt++) {
		if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK &&
		    sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
			return 1;
		int rc = sqlite3_errcode(db);
		if ((rc & 0xff) != SQLITE_BUSY || attempt == 300) {
			ss_fail(db, sql);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

/* Opens search.db (created on first use, or rebuilt if of another format)
 * with store.db attached as "st". */
static int ss_open(struct store_user *u, sqlite3 **db_r)
{
	struct sq_user *s = sq(u);
	char path[4200];
	*db_r = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/search.db", s->dir) >= sizeof(path))
		return store_fail(STORE_ERR_INTERNAL, "Path too long");
	sqlite3 *db;
	int rc = sqlite3_open_v2(path, &db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
					 SQLITE_OPEN_URI,
				 NULL);
	if (rc != SQLITE_OK) {
		ss_fail(db, "open search.db");
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 15000);
	/* Closing must not checkpoint: this connection is often the last one
	 * on the attached store.db (the user's own closes when idle), and a
	 * checkpoint there syncs and deletes the WAL that the store keeps
	 * for its next commit (as db_open in sqlite-user.c does). */
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	/* Before the ATTACH: an unqualified journal_mode applies to every
	 * attached database. The index is a cache: NORMAL is enough. */
	struct buf uri = BUF_INIT(0);
	snprintf(path, sizeof(path), "%s/store.db", s->dir);
	/* Switching a new file to WAL takes its lock at once, without the
	 * busy handler: with several indexers opening a search.db that was
	 * just made, one of them gets SQLITE_BUSY here. Try again, as
	 * ss_begin_write does. */
	const char *pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			      " PRAGMA temp_store=MEMORY; PRAGMA cache_size=-4096;";
	for (int attempt = 0;
	     (rc = sqlite3_exec(db, pragmas, NULL, NULL, NULL)) != SQLITE_OK &&
	     (rc & 0xff) == SQLITE_BUSY && attempt < 300;
	     attempt++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	int ret = rc == SQLITE_OK ? 1 : ss_fail(db, pragmas);
	if (ret > 0 && uri_of(path, &uri) < 0)
		ret = store_fail(STORE_ERR_INTERNAL, "Out of memory");
	if (ret > 0) {
		sqlite3_stmt *st;
		ret = -1;
		if (sqlite3_prepare_v2(db, "ATTACH ?1 AS st", -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, buf_cstr(&uri), (int)uri.len, SQLITE_STATIC);
			if (sqlite3_step(st) == SQLITE_DONE)
				ret = 1;
			sqlite3_finalize(st);
		}
		if (ret < 0)
			ss_fail(db, "attach store.db");
	}
	buf_free(&uri);
	/* Schema: made once; a deferred transaction writes only search.db
	 * (BEGIN IMMEDIATE would take store.db's write lock too). */
	int64_t format = -1;
	/* The schema writes (and so takes the write lock) only when the
	 * tables are missing. */
	if (ret > 0)
		ret = ss_begin_write(db, SCHEMA);
	if (ret > 0) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, "SELECT format FROM search_state WHERE id = 1", -1, &st,
				       NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				format = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		} else {
			ret = ss_fail(db, "search state");
		}
	}
	if (ret > 0 && format != SEARCH_FORMAT)
		ret = reset_index(db);
	if (ret > 0)
		ret = ss_exec(db, "COMMIT");
	if (ret < 0) {
		sqlite3_close(db);
		return -1;
	}
	*db_r = db;
	return 1;
}

/* ------------------------------------------------------------------ */
/* what is indexed */

#define NFIELDS (sizeof(header_fields) / sizeof(header_fields[0]))

struct ss_doc {
	bool ok;                  /* the message was read: it gets a search_hdr row */
	struct buf text;          /* every segment, folded, one after the other */
	struct buf field[NFIELDS]; /* folded values of header_fields[], NULs kept */
	bool present[NFIELDS];
	struct buf tmp, folded;
};

static void doc_init(struct ss_doc *d)
{
	memset(d, 0, sizeof(*d));
	buf_init(&d->text, SEARCH_TEXT_MAX);
	for (size_t i = 0; i < NFIELDS; i++)
		buf_init(&d->field[i], SEARCH_TEXT_MAX);
	buf_init(&d->tmp, SEARCH_TEXT_MAX);
	buf_init(&d->folded, SEARCH_TEXT_MAX);
}

static void doc_reset(struct ss_doc *d)
{
	d->ok = false;
	buf_reset(&d->text);
	for (size_t i = 0; i < NFIELDS; i++) {
		buf_reset(&d->field[i]);
		d->present[i] = false;
	}
}

static void doc_free(struct ss_doc *d)
{
	buf_free(&d->text);
	for (size_t i = 0; i < NFIELDS; i++)
		buf_free(&d->field[i]);
	buf_free(&d->tmp);
	buf_free(&d->folded);
}

/* Folds d->tmp onto d->text as one more segment, NUL written as
 * NUL_STANDIN. */
static int doc_fold(struct ss_doc *d)
{
	buf_reset(&d->folded);
	if (mime_casefold_utf8(buf_str(&d->tmp), &d->folded) < 0)
		return -1;
	const char *p = d->folded.data ? d->folded.data : "";
	size_t len = d->folded.len, start = 0;
	for (size_t k = 0; k < len; k++) {
		if (p[k] != '\0')
			continue;
		if (buf_append(&d->text, p + start, k - start) < 0 ||
		    buf_append_cstr(&d->text, NUL_STANDIN) < 0)
			return -1;
		start = k + 1;
	}
	if (buf_append(&d->text, p + start, len - start) < 0 || buf_append_char(&d->text, '\n') < 0)
		return -1;
	return 1;
}

/* The same text the scanning search compares (imap-search-eval.c): the
 * decoded values of each field, the header as TEXT reads it, the text
 * parts; all case-folded. A value found twice costs nothing: the index
 * keeps each distinct trigram once per message. */
static int doc_extract(struct ss_doc *d, const char *msg, size_t len, const struct mime_cache *c)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		buf_reset(&d->tmp);
		int r = mime_header_decoded(msg, len, c, header_fields[i], &d->tmp);
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		if (doc_fold(d) < 0 ||
		    buf_append(&d->field[i], d->folded.data ? d->folded.data : "", d->folded.len) < 0)
			return -1;
		d->present[i] = true;
	}
	buf_reset(&d->tmp);
	if (mime_header_text_utf8(msg, len, c, &d->tmp) < 0 || doc_fold(d) < 0)
		return -1;
	buf_reset(&d->tmp);
	if (mime_body_text_utf8(msg, len, c, &d->tmp) < 0 || doc_fold(d) < 0)
		return -1;
	return 1;
}

/* Fills d from a message, stored in the database (body_st: its text by
 * id, on this thread's connection) or in its file. A message that is
 * gone, too large or unparsable is indexed empty: the scanning search
 * finds nothing in it either. */
static void doc_load(struct ss_doc *d, struct sq_user *s, sqlite3_stmt *body_st, uint64_t blob_id,
		     uint64_t size, const void *cache, size_t cache_len)
{
	doc_reset(d);
	char path[4096];
	if (size > SEARCH_MAX_MESSAGE || sq_blob_path(s, blob_id, path, sizeof(path)) < 0)
		return;
	const char *msg = "";
	void *map = NULL;
	struct buf body = BUF_INIT(STORE_BLOB_INLINE_MAX);
	sqlite3_reset(body_st);
	sqlite3_bind_int64(body_st, 1, (int64_t)blob_id);
	if (sqlite3_step(body_st) == SQLITE_ROW) {
		const void *p = sqlite3_column_blob(body_st, 0);
		size_t len = (size_t)sqlite3_column_bytes(body_st, 0);
		int copied = len == size ? buf_append(&body, p != NULL ? p : "", len) : -1;
		sqlite3_reset(body_st); /* p is only valid until here */
		if (copied < 0) {
			buf_free(&body);
			return;
		}
		msg = body.data != NULL ? body.data : "";
	} else if (size > 0) {
		sqlite3_reset(body_st);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return;
		/* A file shorter than its row says (damage fsck has not
		 * repaired yet) must not be mapped to the row's size: reading
		 * past its end would kill the process with SIGBUS. */
		struct stat st;
		if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size) {
			close(fd);
			return;
		}
		map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		close(fd);
		if (map == MAP_FAILED)
			return;
		msg = map;
	}
	struct mime_cache mc;
	struct buf built = BUF_INIT(64u * 1024 * 1024);
	bool ok = cache != NULL && mime_cache_open(&mc, cache, cache_len) > 0;
	if (!ok)
		ok = mime_cache_build(msg, size, &built) > 0 &&
		     mime_cache_open(&mc, built.data, built.len) > 0;
	if (ok && doc_extract(d, msg, size, &mc) > 0)
		d->ok = true;
	else
		doc_reset(d);
	buf_free(&built);
	buf_free(&body);
	if (map != NULL)
		munmap(map, size);
}

/* ------------------------------------------------------------------ */
/* indexing */

struct ss_pending {
	uint64_t id, size;
	void *cache;
	size_t cache_len;
};

static int get_int(sqlite3 *db, const char *sql, int64_t *r)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return ss_fail(db, sql);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*r = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? store_fail(STORE_ERR_CORRUPT, "No search state") :
					   ss_fail(db, sql);
	return 1;
}

/* Indexes up to SEARCH_BATCH blobs above `upto` in one transaction.
 * 1 with *more_r telling whether a full batch was done, -1 error. */
static int index_batch(struct store_user *u, sqlite3 *db, struct ss_doc *d, bool *more_r)
{
	struct ss_pending *rows = NULL;
	size_t n = 0;
	int64_t upto = 0;
	*more_r = false;
	/* The dummy write takes search.db's write lock before `upto` is read,
	 * so two indexers (roostd's thread and a SEARCH, or roost fsck) never
	 * index the same blobs. */
	int ret = ss_begin_write(db, "UPDATE search_state SET docs = docs WHERE id = 1");
	if (ret > 0)
		ret = get_int(db, "SELECT upto FROM search_state WHERE id = 1", &upto);
	sqlite3_stmt *st = NULL;
	if (ret > 0 && sqlite3_prepare_v2(db, "SELECT id, size, cache FROM st.blob WHERE id > ?1"
					      " ORDER BY id LIMIT ?2", -1, &st, NULL) != SQLITE_OK)
		ret = ss_fail(db, "list blobs");
	if (ret > 0) {
		rows = calloc(SEARCH_BATCH, sizeof(*rows));
		if (rows == NULL)
			ret = store_fail(STORE_ERR_INTERNAL, "Out of memory");
	}
	if (ret > 0) {
		int rc;
		sqlite3_bind_int64(st, 1, upto);
		sqlite3_bind_int(st, 2, SEARCH_BATCH);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < SEARCH_BATCH) {
			struct ss_pending *p = &rows[n++];
			p->id = (uint64_t)sqlite3_column_int64(st, 0);
			p->size = (uint64_t)sqlite3_column_int64(st, 1);
			const void *c = sqlite3_column_blob(st, 2);
			p->cache_len = (size_t)sqlite3_column_bytes(st, 2);
			if (c != NULL && p->cache_len > 0) {
				p->cache = malloc(p->cache_len);
				if (p->cache == NULL) {
					ret = store_fail(STORE_ERR_INTERNAL, "Out of memory");
					break;
				}
				memcpy(p->cache, c, p->cache_len);
			}
		}
		if (ret > 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
			ret = ss_fail(db, "list blobs");
	}
	sqlite3_finalize(st);
	st = NULL;
	sqlite3_stmt *hst = NULL, *bst = NULL;
	if (ret > 0 && n > 0 &&
	    (sqlite3_prepare_v2(db, "INSERT INTO search_fts (rowid, text) VALUES (?1, ?2)", -1, &st,
				NULL) != SQLITE_OK ||
	     sqlite3_prepare_v2(db, "SELECT body FROM st.blob_body WHERE id = ?1", -1, &bst, NULL) !=
		     SQLITE_OK ||
	     sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO search_hdr (blob_id, subj, hfrom, hto,"
				    " hcc, hbcc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
				-1, &hst, NULL) != SQLITE_OK))
		ret = ss_fail(db, "prepare index insert");
	for (size_t i = 0; i < n && ret > 0; i++) {
		doc_load(d, sq(u), bst, rows[i].id, rows[i].size, rows[i].cache, rows[i].cache_len);
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, (int64_t)rows[i].id);
		sqlite3_bind_text(st, 2, d->text.data ? d->text.data : "", (int)d->text.len,
				  SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			ret = ss_fail(db, "index insert");
		if (ret < 0 || !d->ok)
			continue;
		sqlite3_reset(hst);
		sqlite3_bind_int64(hst, 1, (int64_t)rows[i].id);
		for (size_t f = 0; f < NFIELDS; f++) {
			if (d->present[f])
				sqlite3_bind_blob(hst, (int)f + 2, d->field[f].data ? d->field[f].data : "",
						  (int)d->field[f].len, SQLITE_STATIC);
			else
				sqlite3_bind_null(hst, (int)f + 2);
		}
		if (sqlite3_step(hst) != SQLITE_DONE)
			ret = ss_fail(db, "index insert");
	}
	sqlite3_finalize(st);
	sqlite3_finalize(hst);
	sqlite3_finalize(bst);
	if (ret > 0 && n > 0) {
		char sql[160];
		snprintf(sql, sizeof(sql),
			 "UPDATE search_state SET upto = %lld, docs = docs + %zu WHERE id = 1",
			 (long long)rows[n - 1].id, n);
		ret = ss_exec(db, sql);
	}
	if (ret > 0)
		ret = ss_exec(db, "COMMIT");
	if (ret < 0)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free(rows[i].cache);
	free(rows);
	if (ret > 0)
		*more_r = n == SEARCH_BATCH;
	return ret;
}

/* Rows of expunged blobs stay in the index (they never match: queries
 * join live blobs). When they outnumber the live ones, start over. */
static int maybe_compact(sqlite3 *db, bool *reset_r)
{
	int64_t docs = 0, live = 0;
	*reset_r = false;
	if (get_int(db, "SELECT docs FROM search_state WHERE id = 1", &docs) < 0 ||
	    get_int(db, "SELECT count(*) FROM st.blob", &live) < 0)
		return -1;
	if (docs <= 2 * live + SEARCH_COMPACT_SLACK)
		return 1;
	log_info("store_search_compact", "docs=%lld live=%lld", (long long)docs, (long long)live);
	*reset_r = true;
	if (ss_begin_write(db, "UPDATE search_state SET docs = docs WHERE id = 1") < 0)
		return -1;
	if (reset_index(db) < 0 || ss_exec(db, "COMMIT") < 0) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 1;
}

/* Read by indexing loops on any thread, set by sq_search_indexer_stop. */
static atomic_bool ix_stopping;

/* True if some blob is above the watermark. A read: a SEARCH on an index
 * that is up to date writes nothing. */
static int index_behind(sqlite3 *db, bool *behind_r)
{
	int64_t upto = 0, top = 0;
	int ret = ss_exec(db, "BEGIN");
	if (ret > 0)
		ret = get_int(db, "SELECT upto FROM search_state WHERE id = 1", &upto);
	if (ret > 0)
		ret = get_int(db, "SELECT coalesce(max(id), 0) FROM st.blob", &top);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	*behind_r = top > upto;
	return ret;
}

/* Indexes until caught up, deadline_ms (monotonic; 0: none) passes, or
 * the indexer thread is told to stop. compact: first check whether the
 * rows of expunged messages have piled up (roostd's thread does). */
static int index_run(struct store_user *u, sqlite3 *db, int64_t deadline_ms, bool compact,
		     bool *caught_up_r, unsigned *batches_r)
{
	bool more = true, reset;
	unsigned batches = 0;
	int ret = compact ? maybe_compact(db, &reset) : 1;
	if (ret > 0)
		ret = index_behind(db, &more);
	if (ret > 0 && more) {
		struct ss_doc d;
		doc_init(&d);
		while (ret > 0 && more) {
			if ((deadline_ms != 0 && now_ms() >= deadline_ms) || ix_stopping)
				break;
			ret = index_batch(u, db, &d, &more);
			batches++;
		}
		doc_free(&d);
	}
	if (caught_up_r != NULL)
		*caught_up_r = ret > 0 && !more;
	if (batches_r != NULL)
		*batches_r = batches;
	return ret;
}

int store_search_update(struct store_user *u, unsigned budget_ms, bool *caught_up_r)
{
	sqlite3 *db;
	if (caught_up_r != NULL)
		*caught_up_r = false;
	if (ss_open(u, &db) < 0)
		return -1;
	bool caught_up = false;
	int ret = index_run(u, db, budget_ms ? now_ms() + budget_ms : 0, false, &caught_up, NULL);
	sqlite3_close(db);
	/* Out of time (a big import, say): roostd's thread does the rest. */
	if (ret > 0 && !caught_up)
		sq_search_kick(u);
	if (caught_up_r != NULL)
		*caught_up_r = caught_up;
	return ret;
}

int sq_search_rebuild(struct store_user *u, unsigned *indexed_r)
{
	sqlite3 *db;
	*indexed_r = 0;
	if (ss_open(u, &db) < 0)
		return -1;
	int ret = ss_begin_write(db, "UPDATE search_state SET docs = docs WHERE id = 1");
	if (ret > 0)
		ret = reset_index(db);
	if (ret > 0)
		ret = ss_exec(db, "COMMIT");
	else
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	if (ret > 0)
		ret = index_run(u, db, 0, false, NULL, NULL);
	int64_t docs = 0;
	if (ret > 0 && get_int(db, "SELECT docs FROM search_state WHERE id = 1", &docs) > 0)
		*indexed_r = (unsigned)docs;
	sqlite3_close(db);
	return ret;
}

/* ------------------------------------------------------------------ */
/* queries */

bool store_search_needle_indexable(const char *needle, size_t len)
{
	if (memchr(needle, '\0', len) != NULL || memmem(needle, len, NUL_STANDIN, 3) != NULL)
		return false;
	/* Trigrams: at least three characters (continuation bytes do not
	 * start one). */
	size_t chars = 0;
	for (size_t i = 0; i < len; i++)
		chars += ((unsigned char)needle[i] & 0xc0) != 0x80;
	return chars >= 3;
}

static int hits_push(struct store_search_hits *h, uint64_t id)
{
	if (h->count == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		uint64_t *v = realloc(h->blob_ids, cap * sizeof(*v));
		if (v == NULL)
			return store_fail(STORE_ERR_INTERNAL, "Out of memory");
		h->blob_ids = v;
		h->cap = cap;
	}
	h->blob_ids[h->count++] = id;
	return 1;
}

/* The FTS5 query for a needle: each trigram as a quoted string (quotes
 * doubled), all of them required. */
static int needle_query(const char *needle, size_t len, struct buf *q)
{
	size_t starts[1024 + 1];
	size_t nchars = 0;
	for (size_t i = 0; i < len && nchars < 1024; i++)
		if (((unsigned char)needle[i] & 0xc0) != 0x80)
			starts[nchars++] = i;
	/* a longer needle: its first 1,023 characters (their trigrams are its too) */
	starts[nchars] = nchars < 1024 ? len : starts[1023];
	if (nchars == 1024)
		nchars = 1023;
	size_t ntri = nchars >= 3 ? nchars - 2 : 0;
	size_t use = ntri < SEARCH_MAX_TRIGRAMS ? ntri : SEARCH_MAX_TRIGRAMS;
	for (size_t k = 0; k < use; k++) {
		/* evenly spread over the needle, first and last included */
		size_t t = use > 1 ? k * (ntri - 1) / (use - 1) : 0;
		if ((k > 0 && buf_append_char(q, ' ') < 0) || buf_append_char(q, '"') < 0)
			return -1;
		for (size_t i = starts[t]; i < starts[t + 3]; i++)
			if ((needle[i] == '"' && buf_append_char(q, '"') < 0) ||
			    buf_append_char(q, needle[i]) < 0)
				return -1;
		if (buf_append_char(q, '"') < 0)
			return -1;
	}
	return use > 0 ? 1 : -1;
}

/* Queries for the header fields: exact, from search_hdr (with the
 * trigrams first when the needle has them), joined with the live blobs. */
#define HDR_LIVE " AND EXISTS (SELECT 1 FROM st.blob b WHERE b.id = h.blob_id) ORDER BY 1"
#define HDR_FTS(col)                                                                       \
	"SELECT h.blob_id FROM search_fts f JOIN search_hdr h ON h.blob_id = f.rowid"      \
	" WHERE search_fts MATCH ?1 AND instr(h." col ", ?2) > 0" HDR_LIVE
#define HDR_SCAN(col) "SELECT h.blob_id FROM search_hdr h WHERE instr(h." col ", ?2) > 0" HDR_LIVE
static const char *const hdr_fts_sql[] = {
	HDR_FTS("subj"), HDR_FTS("hfrom"), HDR_FTS("hto"), HDR_FTS("hcc"), HDR_FTS("hbcc"),
};
static const char *const hdr_scan_sql[] = {
	HDR_SCAN("subj"), HDR_SCAN("hfrom"), HDR_SCAN("hto"), HDR_SCAN("hcc"), HDR_SCAN("hbcc"),
};

bool store_search_field_exact(enum store_search_field field)
{
	return field <= STORE_SEARCH_BCC;
}

int store_search_find(struct store_user *u, enum store_search_field field, const char *needle,
		      size_t len, struct store_search_hits *hits_r)
{
	memset(hits_r, 0, sizeof(*hits_r));
	bool exact = (unsigned)field <= STORE_SEARCH_BCC;
	bool trigrams = store_search_needle_indexable(needle, len);
	if ((unsigned)field > STORE_SEARCH_TEXT || (!exact && !trigrams))
		return store_fail(STORE_ERR_INTERNAL, "Needle cannot use the search index");
	struct buf q = BUF_INIT(0);
	if (trigrams && needle_query(needle, len, &q) < 0) {
		buf_free(&q);
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	}
	sqlite3 *db;
	if (ss_open(u, &db) < 0) {
		buf_free(&q);
		return -1;
	}
	const char *sql = !exact ? "SELECT rowid FROM search_fts WHERE search_fts MATCH ?1"
				   " AND EXISTS (SELECT 1 FROM st.blob b"
				   " WHERE b.id = search_fts.rowid) ORDER BY rowid" :
			  trigrams ? hdr_fts_sql[field] : hdr_scan_sql[field];
	/* One read transaction: `upto` and the hits are one snapshot. */
	int64_t upto = 0;
	int ret = ss_exec(db, "BEGIN");
	if (ret > 0)
		ret = get_int(db, "SELECT upto FROM search_state WHERE id = 1", &upto);
	sqlite3_stmt *st = NULL;
	if (ret > 0 && sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		ret = ss_fail(db, "prepare search");
	if (ret > 0) {
		int rc;
		if (trigrams)
			sqlite3_bind_text(st, 1, buf_cstr(&q), (int)q.len, SQLITE_STATIC);
		if (exact)
			sqlite3_bind_blob(st, 2, len ? needle : "", (int)len, SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			if (hits_push(hits_r, (uint64_t)sqlite3_column_int64(st, 0)) < 0) {
				ret = -1;
				break;
			}
		if (ret > 0 && rc != SQLITE_DONE)
			ret = ss_fail(db, "search");
	}
	sqlite3_finalize(st);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	buf_free(&q);
	if (ret < 0) {
		store_search_hits_free(hits_r);
		return -1;
	}
	hits_r->indexed_upto = (uint64_t)upto;
	hits_r->exact = exact;
	return 1;
}

bool store_search_hits_contain(const struct store_search_hits *h, uint64_t blob_id)
{
	size_t lo = 0, hi = h->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (h->blob_ids[mid] < blob_id)
			lo = mid + 1;
		else if (h->blob_ids[mid] > blob_id)
			hi = mid;
		else
			return true;
	}
	return false;
}

void store_search_hits_free(struct store_search_hits *h)
{
	free(h->blob_ids);
	memset(h, 0, sizeof(*h));
}

/* ------------------------------------------------------------------ */
/* roostd's indexer thread */

static pthread_mutex_t ix_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ix_cond = PTHREAD_COND_INITIALIZER;
static pthread_t ix_thread;
static bool ix_running;
static pid_t ix_pid;
static struct ix_entry {
	char key[STORE_USER_KEY_MAX + 1];
	int64_t first_ms, last_ms;
} ix_queue[SEARCH_QUEUE];
static unsigned ix_count;

void sq_search_kick(struct store_user *u)
{
	int64_t now = now_ms();
	pthread_mutex_lock(&ix_lock);
	if (!ix_running || ix_pid != getpid()) {
		/* Not roostd: the first SEARCH indexes. */
		pthread_mutex_unlock(&ix_lock);
		return;
	}
	unsigned i;
	for (i = 0; i < ix_count; i++)
		if (strcmp(ix_queue[i].key, u->key) == 0)
			break;
	if (i == ix_count && ix_count < SEARCH_QUEUE) {
		/* A full queue drops the kick: the next SEARCH catches up. */
		snprintf(ix_queue[i].key, sizeof(ix_queue[i].key), "%s", u->key);
		ix_queue[i].first_ms = now;
		ix_count++;
	}
	if (i < ix_count)
		ix_queue[i].last_ms = now;
	pthread_cond_signal(&ix_cond);
	pthread_mutex_unlock(&ix_lock);
}

/* Index of the entry that is due (quiet for SEARCH_QUIET_MS, or waiting
 * for SEARCH_MAX_DELAY_MS), or -1 with *wait_ms_r set to the time until
 * the first one will be. ix_lock held. */
static int ix_due(int64_t now, int64_t *wait_ms_r)
{
	int64_t wait = INT64_MAX;
	for (unsigned i = 0; i < ix_count; i++) {
		int64_t due = ix_queue[i].last_ms + SEARCH_QUIET_MS;
		if (due > ix_queue[i].first_ms + SEARCH_MAX_DELAY_MS)
			due = ix_queue[i].first_ms + SEARCH_MAX_DELAY_MS;
		if (due <= now)
			return (int)i;
		if (due - now < wait)
			wait = due - now;
	}
	*wait_ms_r = wait;
	return -1;
}

static void *ix_main(void *arg)
{
	(void)arg;
	/* Indexing is background work: let deliveries and sessions have the
	 * CPU first (a per-thread nice value on Linux). */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
	pthread_mutex_lock(&ix_lock);
	while (!ix_stopping) {
		int64_t wait;
		int i = ix_due(now_ms(), &wait);
		if (i < 0) {
			if (wait == INT64_MAX) {
				pthread_cond_wait(&ix_cond, &ix_lock);
			} else {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += wait / 1000;
				ts.tv_nsec += (wait % 1000) * 1000000;
				if (ts.tv_nsec >= 1000000000) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000;
				}
				pthread_cond_timedwait(&ix_cond, &ix_lock, &ts);
			}
			continue;
		}
		char key[STORE_USER_KEY_MAX + 1];
		memcpy(key, ix_queue[i].key, sizeof(key));
		ix_queue[i] = ix_queue[--ix_count];
		pthread_mutex_unlock(&ix_lock);

		struct store_user *u = NULL;
		if (store_user_open(key, &u) > 0) {
			int64_t t0 = now_ms();
			sqlite3 *db;
			bool caught_up = false;
			unsigned batches = 0;
			int ret = ss_open(u, &db);
			if (ret > 0) {
				ret = index_run(u, db, 0, true, &caught_up, &batches);
				sqlite3_close(db);
			}
			if (ret < 0) {
				const char *msg;
				store_error(&msg);
				log_warn("store_search_index", "user=%s error=\"%s\"", key, msg);
			} else if (batches > 1) {
				log_info("store_search_index", "user=%s batches=%u ms=%lld", key,
					 batches, (long long)(now_ms() - t0));
			}
			store_user_unref(&u);
		}
		store_error_clear();
		pthread_mutex_lock(&ix_lock);
	}
	pthread_mutex_unlock(&ix_lock);
	return NULL;
}

int sq_search_indexer_start(void)
{
	pthread_mutex_lock(&ix_lock);
	if (ix_running && ix_pid == getpid()) {
		pthread_mutex_unlock(&ix_lock);
		return 1;
	}
	ix_stopping = false;
	ix_count = 0;
	int ok = pthread_create(&ix_thread, NULL, ix_main, NULL) == 0;
	if (ok) {
		ix_running = true;
		ix_pid = getpid();
	}
	pthread_mutex_unlock(&ix_lock);
	return ok ? 1 : -1;
}

void sq_search_indexer_stop(void)
{
	pthread_mutex_lock(&ix_lock);
	if (!ix_running) {
		pthread_mutex_unlock(&ix_lock);
		return;
	}
	bool mine = ix_pid == getpid();
	ix_running = false;
	ix_stopping = true;
	pthread_cond_signal(&ix_cond);
	pthread_mutex_unlock(&ix_lock);
	/* A forked child forgets the parent's thread. */
	if (mine)
		pthread_join(ix_thread, NULL);
	pthread_mutex_lock(&ix_lock);
	ix_count = 0;
	/* Indexing by SEARCH or fsck in a later store_init works again. */
	ix_stopping = false;
	pthread_mutex_unlock(&ix_lock);
}
