/* sqlite-fsck.c - checks and repairs one user's store (roost fsck).
 *
 * Everything runs under the database's write lock (BEGIN IMMEDIATE), so
 * no append can be between "file renamed into msg/" and "row committed"
 * while we look: any file in msg/ without a blob row is an orphan of a
 * crash and can go. Temp files are removed when their writer (the pid in
 * the name) is gone, or when they are older than a day. MIME caches are
 * rebuilt after that transaction, one short write each. Each step is
 * idempotent: a second run finds nothing to do. */
#include "sqlite-store.h"
#include "sqlite-listsnap.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "mime/mime.h"

#define TEMP_MAX_AGE (24 * 3600)

struct fsck {
	struct sq_user *s;
	struct store_fsck_report *rep;
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
	struct sq_idvec dead;
	struct sq_idvec rebuild, sizes; /* caches to rebuild after the commit */
};

static void fsck_log(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fsck_log(struct fsck *f, const char *fmt, ...)
{
	if (f->log == NULL)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	f->log(f->log_ctx, line);
}

static int step_done(struct fsck *f, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 1 : sq_fail(f->s, rc, what);
}

static bool pid_alive(long pid)
{
	if (pid <= 0)
		return false;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static int fsck_temp(struct fsck *f, const char *tmp_dir)
{
	DIR *d = opendir(tmp_dir);
	if (d == NULL)
		return errno == ENOENT ? 1 : store_fail(STORE_ERR_TEMPFAIL, "Cannot read tmp/");
	struct dirent *de;
	time_t now = time(NULL);
	char path[4400];
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		int n = snprintf(path, sizeof(path), "%s/%s", tmp_dir, de->d_name);
		struct stat st;
		if (n < 0 || (size_t)n >= sizeof(path) || lstat(path, &st) < 0)
			continue;
		long pid = strtol(de->d_name, NULL, 10);
		/* A live writer in another process: leave it, unless it is a
		 * day old (then the pid was reused). fsck runs in the CLI (or
		 * a test), never next to blob writers of its own process, so
		 * a file carrying our own pid is a leftover too. */
		if (pid != (long)getpid() && pid_alive(pid) && now - st.st_mtime < TEMP_MAX_AGE)
			continue;
		if (unlink(path) == 0) {
			f->rep->temp_removed++;
			fsck_log(f, "removed temp file tmp/%s", de->d_name);
		} else {
			fsck_log(f, "cannot remove temp file tmp/%s: %s", de->d_name,
				 strerror(errno));
		}
	}
	closedir(d);
	return 1;
}

/* Rows of mailboxes that no longer exist are unreachable: drop them. */
static int fsck_stray_rows(struct fsck *f)
{
	int64_t n = 0;
	if (sq_get_int(f->s, "SELECT COUNT(*) FROM message WHERE mailbox_id NOT IN"
			     " (SELECT id FROM mailbox)", 0, 0, &n) < 0)
		return -1;
	if (n == 0)
		return 1;
	fsck_log(f, "removed %lld messages of deleted mailboxes", (long long)n);
	f->rep->counters_fixed += (unsigned)n;
	sqlite3_stmt *st = sq_stmt(f->s, "DELETE FROM message WHERE mailbox_id NOT IN"
					 " (SELECT id FROM mailbox)");
	return st ? step_done(f, st, "stray rows") : -1;
}

static int fsck_refs(struct fsck *f)
{
	struct sq_user *s = f->s;
	if (sqlite3_exec(s->db, "DROP TABLE IF EXISTS temp.fsck_refs;"
				"CREATE TEMP TABLE fsck_refs (id INTEGER PRIMARY KEY, n INTEGER);"
				"INSERT INTO fsck_refs SELECT blob_id, COUNT(*) FROM message"
				" GROUP BY blob_id;",
			 NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(s, sqlite3_errcode(s->db), "fsck refs");

	/* Blob rows whose refcount is wrong (or that nothing references). */
	sqlite3_stmt *st = sq_stmt(s, "SELECT b.id, b.refs, COALESCE(r.n, 0) FROM blob b"
				      " LEFT JOIN fsck_refs r ON r.id = b.id"
				      " WHERE b.refs != COALESCE(r.n, 0)");
	if (st == NULL)
		return -1;
	struct sq_idvec ids = { 0 }, counts = { 0 };
	int rc, ret = 1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && ret > 0) {
		ret = sq_idvec_push(&ids, (uint64_t)sqlite3_column_int64(st, 0));
		if (ret > 0)
			ret = sq_idvec_push(&counts, (uint64_t)sqlite3_column_int64(st, 2));
	}
	sqlite3_reset(st);
	if (ret > 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = sq_fail(s, rc, "fsck refs");
	for (size_t i = 0; i < ids.n && ret > 0; i++) {
		f->rep->blobs_fixed++;
		if (counts.v[i] == 0) {
			fsck_log(f, "blob %llu is unreferenced: removed", (unsigned long long)ids.v[i]);
			st = sq_stmt(s, "DELETE FROM blob WHERE id = ?1");
			if (st == NULL) {
				ret = -1;
				break;
			}
			sqlite3_bind_int64(st, 1, (int64_t)ids.v[i]);
			ret = step_done(f, st, "blob delete");
			if (ret > 0 && (st = sq_stmt(s, "DELETE FROM blob_body WHERE id = ?1")) == NULL)
				ret = -1;
			if (ret > 0) {
				sqlite3_bind_int64(st, 1, (int64_t)ids.v[i]);
				ret = step_done(f, st, "blob body delete");
			}
			if (ret > 0)
				ret = sq_idvec_push(&f->dead, ids.v[i]);
		} else {
			fsck_log(f, "blob %llu refcount set to %llu", (unsigned long long)ids.v[i],
				 (unsigned long long)counts.v[i]);
			st = sq_stmt(s, "UPDATE blob SET refs = ?2 WHERE id = ?1");
			if (st == NULL) {
				ret = -1;
				break;
			}
			sqlite3_bind_int64(st, 1, (int64_t)ids.v[i]);
			sqlite3_bind_int64(st, 2, (int64_t)counts.v[i]);
			ret = step_done(f, st, "blob refs");
		}
	}
	sq_idvec_free(&ids);
	sq_idvec_free(&counts);
	if (ret < 0)
		return -1;

	/* Messages whose blob row is missing: re-adopt the file if it is
	 * there, otherwise report (the rows stay: the flags and the fact that
	 * a message existed are worth more than a tidy table). */
	st = sq_stmt(s, "SELECT id, n FROM fsck_refs WHERE id NOT IN (SELECT id FROM blob)");
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && ret > 0) {
		ret = sq_idvec_push(&ids, (uint64_t)sqlite3_column_int64(st, 0));
		if (ret > 0)
			ret = sq_idvec_push(&counts, (uint64_t)sqlite3_column_int64(st, 1));
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < ids.n && ret > 0; i++) {
		char path[4096];
		struct stat sb;
		int64_t body_len;
		int in_db = sq_get_int(s, "SELECT length(body) FROM blob_body WHERE id = ?1",
				       (int64_t)ids.v[i], 0, &body_len);
		if (in_db < 0) {
			ret = -1;
			break;
		}
		if (in_db > 0)
			sb.st_size = (off_t)body_len;
		else if (sq_blob_path(s, ids.v[i], path, sizeof(path)) < 0 || stat(path, &sb) < 0) {
			f->rep->missing_files++;
			fsck_log(f, "message file %016llx is missing (%llu messages)",
				 (unsigned long long)ids.v[i], (unsigned long long)counts.v[i]);
			continue;
		}
		st = sq_stmt(s, "INSERT INTO blob (id, size, refs, cache) VALUES (?1, ?2, ?3, NULL)");
		if (st == NULL) {
			ret = -1;
			break;
		}
		sqlite3_bind_int64(st, 1, (int64_t)ids.v[i]);
		sqlite3_bind_int64(st, 2, (int64_t)sb.st_size);
		sqlite3_bind_int64(st, 3, (int64_t)counts.v[i]);
		ret = step_done(f, st, "blob adopt");
		f->rep->blobs_fixed++;
		fsck_log(f, "blob %016llx row recreated from its %s", (unsigned long long)ids.v[i],
			 in_db > 0 ? "text in the database" : "file");
	}
	sq_idvec_free(&ids);
	sq_idvec_free(&counts);
	sqlite3_exec(s->db, "DROP TABLE IF EXISTS temp.fsck_refs", NULL, NULL, NULL);
	return ret;
}

static int blob_exists(struct sq_user *s, uint64_t id)
{
	int64_t one;
	return sq_get_int(s, "SELECT 1 FROM blob WHERE id = ?1", (int64_t)id, 0, &one);
}

static int fsck_orphans(struct fsck *f)
{
	char msgdir[4200], sub[4300], path[4400];
	snprintf(msgdir, sizeof(msgdir), "%s/msg", f->s->dir);
	DIR *d = opendir(msgdir);
	if (d == NULL)
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot read msg/");
	struct dirent *de;
	int ret = 1;
	while (ret > 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		int n = snprintf(sub, sizeof(sub), "%s/%s", msgdir, de->d_name);
		DIR *d2 = n > 0 && (size_t)n < sizeof(sub) ? opendir(sub) : NULL;
		if (d2 == NULL)
			continue;
		struct dirent *e2;
		while (ret > 0 && (e2 = readdir(d2)) != NULL) {
			if (e2->d_name[0] == '.')
				continue;
			char *end;
			unsigned long long id = strtoull(e2->d_name, &end, 16);
			n = snprintf(path, sizeof(path), "%s/%s", sub, e2->d_name);
			if (n < 0 || (size_t)n >= sizeof(path))
				continue;
			int r = *end == '\0' ? blob_exists(f->s, id) : 0;
			if (r < 0) {
				ret = -1;
				break;
			}
			if (r > 0)
				continue;
			if (unlink(path) == 0) {
				f->rep->orphans_removed++;
				fsck_log(f, "removed unreferenced file msg/%s/%s", de->d_name,
					 e2->d_name);
			} else {
				fsck_log(f, "cannot remove unreferenced file msg/%s/%s: %s",
					 de->d_name, e2->d_name, strerror(errno));
			}
		}
		closedir(d2);
	}
	closedir(d);
	/* Texts in the database that no blob row refers to. */
	sqlite3_stmt *st = ret > 0 ? sq_stmt(f->s, "DELETE FROM blob_body WHERE id NOT IN"
						    " (SELECT id FROM blob)") : NULL;
	if (st != NULL) {
		ret = step_done(f, st, "orphan bodies");
		int n = sqlite3_changes(f->s->db);
		if (ret > 0 && n > 0) {
			f->rep->orphans_removed += (unsigned)n;
			fsck_log(f, "removed %d unreferenced message texts from the database", n);
		}
	} else if (ret > 0) {
		ret = -1;
	}
	return ret;
}

/* Every blob's file must exist with the recorded size; its cache must
 * open with the current MIME_CACHE_VERSION (those that do not are
 * rebuilt after the commit, see fsck_caches). */
static int fsck_files(struct fsck *f)
{
	struct sq_user *s = f->s;
	sqlite3_stmt *st = sq_stmt(s, "SELECT b.id, b.size, b.cache, length(t.body) FROM blob b"
				      " LEFT JOIN blob_body t ON t.id = b.id ORDER BY b.id");
	if (st == NULL)
		return -1;
	int rc, ret = 1;
	while (ret > 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);
		int64_t size = sqlite3_column_int64(st, 1);
		const void *cache = sqlite3_column_blob(st, 2);
		size_t clen = (size_t)sqlite3_column_bytes(st, 2);
		char path[4096];
		struct stat sb;
		if (sq_blob_path(s, id, path, sizeof(path)) < 0) {
			ret = -1;
			break;
		}
		if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
			/* Kept in the database. */
			sb.st_size = (off_t)sqlite3_column_int64(st, 3);
		} else if (stat(path, &sb) < 0) {
			f->rep->missing_files++;
			fsck_log(f, "message file %016llx is missing", (unsigned long long)id);
			continue;
		}
		if (sb.st_size != size) {
			f->rep->wrong_size++;
			fsck_log(f, "message file %016llx has %lld bytes, expected %lld",
				 (unsigned long long)id, (long long)sb.st_size, (long long)size);
			continue;
		}
		struct mime_cache mc;
		if (cache == NULL || mime_cache_open(&mc, cache, clen) < 0) {
			ret = sq_idvec_push(&f->rebuild, id);
			if (ret > 0)
				ret = sq_idvec_push(&f->sizes, (uint64_t)size);
		}
	}
	if (ret > 0 && rc != SQLITE_DONE)
		ret = sq_fail(s, rc, "fsck files");
	sqlite3_reset(st);
	return ret;
}

/* Rebuilding caches parses every affected message (all of them after a
 * MIME_CACHE_VERSION bump), so it runs after the big transaction, one
 * short write per message: deliveries are never held up behind it. */
static int fsck_caches(struct fsck *f)
{
	struct sq_user *s = f->s;
	int ret = 1;
	for (size_t i = 0; i < f->rebuild.n && ret > 0; i++) {
		struct buf cache = BUF_INIT(64u * 1024 * 1024);
		if (sq_build_cache_of(s, f->rebuild.v[i], f->sizes.v[i], &cache) <= 0) {
			fsck_log(f, "cannot build the cache of %016llx",
				 (unsigned long long)f->rebuild.v[i]);
			buf_free(&cache);
			store_error_clear();
			continue;
		}
		sq_lock(s);
		sqlite3_stmt *st = sq_stmt(s, "UPDATE blob SET cache = ?2 WHERE id = ?1");
		if (st == NULL) {
			ret = -1;
		} else {
			sqlite3_bind_int64(st, 1, (int64_t)f->rebuild.v[i]);
			sqlite3_bind_blob(st, 2, cache.data, (int)cache.len, SQLITE_STATIC);
			ret = step_done(f, st, "cache update");
			/* 0 rows: expunged meanwhile, nothing to do */
			if (ret > 0 && sqlite3_changes(s->db) > 0)
				f->rep->caches_rebuilt++;
		}
		sq_unlock(s);
		buf_free(&cache);
	}
	if (f->rebuild.n)
		fsck_log(f, "rebuilt %u message caches", f->rep->caches_rebuilt);
	return ret;
}

static int fsck_mailboxes(struct fsck *f)
{
	struct sq_user *s = f->s;
	/* The truth from the rows, per mailbox, next to the stored values. */
	sqlite3_stmt *st = sq_stmt(s,
		"SELECT mb.id, mb.name, mb.messages, mb.unseen, mb.deleted, mb.size,"
		" mb.uidnext, mb.highestmodseq,"
		" (SELECT COUNT(*) FROM message m WHERE m.mailbox_id = mb.id),"
		" (SELECT COUNT(*) FROM message m WHERE m.mailbox_id = mb.id AND m.flags & 1 = 0),"
		" (SELECT COUNT(*) FROM message m WHERE m.mailbox_id = mb.id AND m.flags & 8 != 0),"
		" (SELECT COALESCE(SUM(size), 0) FROM message m WHERE m.mailbox_id = mb.id),"
		" MAX((SELECT COALESCE(MAX(uid), 0) FROM message m WHERE m.mailbox_id = mb.id),"
		"     (SELECT COALESCE(MAX(uid), 0) FROM expunged e WHERE e.mailbox_id = mb.id)),"
		" MAX((SELECT COALESCE(MAX(modseq), 0) FROM message m WHERE m.mailbox_id = mb.id),"
		"     (SELECT COALESCE(MAX(modseq), 0) FROM expunged e WHERE e.mailbox_id = mb.id))"
		" FROM mailbox mb");
	if (st == NULL)
		return -1;
	struct fix {
		uint64_t id;
		int64_t messages, unseen, deleted, size, uidnext, modseq;
	} *fixes = NULL;
	size_t nfixes = 0;
	int rc, ret = 1;
	while (ret > 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t v[14];
		for (int i = 0; i < 14; i++)
			v[i] = sqlite3_column_int64(st, i);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		bool counters = v[2] != v[8] || v[3] != v[9] || v[4] != v[10] || v[5] != v[11];
		bool uidnext_low = v[6] <= v[12];
		bool modseq_low = v[7] < v[13];
		if (!counters && !uidnext_low && !modseq_low)
			continue;
		if (counters) {
			f->rep->counters_fixed++;
			fsck_log(f, "mailbox %s: counters recomputed", name);
		}
		if (uidnext_low || modseq_low) {
			f->rep->modseq_fixed++;
			fsck_log(f, "mailbox %s: uidnext/highestmodseq raised above the rows", name);
		}
		struct fix *n = realloc(fixes, (nfixes + 1) * sizeof(*fixes));
		if (n == NULL) {
			ret = store_fail(STORE_ERR_INTERNAL, "Out of memory");
			break;
		}
		fixes = n;
		fixes[nfixes++] = (struct fix){
			(uint64_t)v[0], v[8], v[9], v[10], v[11],
			uidnext_low ? v[12] + 1 : v[6], modseq_low ? v[13] : v[7],
		};
	}
	if (ret > 0 && rc != SQLITE_DONE)
		ret = sq_fail(s, rc, "fsck mailboxes");
	sqlite3_reset(st);
	for (size_t i = 0; i < nfixes && ret > 0; i++) {
		st = sq_stmt(s, "UPDATE mailbox SET messages = ?2, unseen = ?3, deleted = ?4,"
				" size = ?5, uidnext = ?6, highestmodseq = ?7 WHERE id = ?1");
		if (st == NULL) {
			ret = -1;
			break;
		}
		sqlite3_bind_int64(st, 1, (int64_t)fixes[i].id);
		sqlite3_bind_int64(st, 2, fixes[i].messages);
		sqlite3_bind_int64(st, 3, fixes[i].unseen);
		sqlite3_bind_int64(st, 4, fixes[i].deleted);
		sqlite3_bind_int64(st, 5, fixes[i].size);
		sqlite3_bind_int64(st, 6, fixes[i].uidnext);
		sqlite3_bind_int64(st, 7, fixes[i].modseq);
		ret = step_done(f, st, "mailbox fix");
	}
	free(fixes);
	if (ret < 0)
		return -1;

	/* Quota usage. */
	int64_t bytes = 0, count = 0, ubytes = 0, ucount = 0;
	if (sq_get_int(s, "SELECT COALESCE(SUM(size), 0) FROM message", 0, 0, &bytes) < 0 ||
	    sq_get_int(s, "SELECT COUNT(*) FROM message", 0, 0, &count) < 0 ||
	    sq_get_int(s, "SELECT bytes_used FROM account WHERE id = 1", 0, 0, &ubytes) < 0 ||
	    sq_get_int(s, "SELECT messages_used FROM account WHERE id = 1", 0, 0, &ucount) < 0)
		return -1;
	if (bytes != ubytes || count != ucount) {
		f->rep->counters_fixed++;
		fsck_log(f, "quota usage was %lld bytes / %lld messages, is %lld / %lld",
			 (long long)ubytes, (long long)ucount, (long long)bytes, (long long)count);
		st = sq_stmt(s, "UPDATE account SET bytes_used = ?1, messages_used = ?2 WHERE id = 1");
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, bytes);
		sqlite3_bind_int64(st, 2, count);
		if (step_done(f, st, "quota fix") < 0)
			return -1;
	}
	/* next_blob_id must be above every blob id in use. */
	int64_t maxblob = 0, next = 0;
	if (sq_get_int(s, "SELECT COALESCE(MAX(id), 0) FROM blob", 0, 0, &maxblob) < 0 ||
	    sq_get_int(s, "SELECT next_blob_id FROM account WHERE id = 1", 0, 0, &next) < 0)
		return -1;
	if (next <= maxblob) {
		fsck_log(f, "next blob id raised to %lld", (long long)maxblob + 1);
		st = sq_stmt(s, "UPDATE account SET next_blob_id = ?1 WHERE id = 1");
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, maxblob + 1);
		return step_done(f, st, "blob id fix");
	}
	return 1;
}

int sq_fsck(struct store_user *u, struct store_fsck_report *report_r,
	    void (*log)(void *ctx, const char *line), void *log_ctx)
{
	struct fsck f = { .s = sq(u), .rep = report_r, .log = log, .log_ctx = log_ctx };
	struct sq_user *s = f.s;
	sq_lock(s);
	int ret = sq_begin(s);
	bool in_tx = ret > 0;
	if (ret > 0)
		ret = fsck_temp(&f, u->tmp_dir);
	if (ret > 0)
		ret = fsck_stray_rows(&f);
	if (ret > 0)
		ret = fsck_refs(&f);
	if (ret > 0)
		ret = fsck_orphans(&f);
	if (ret > 0)
		ret = fsck_files(&f);
	if (ret > 0)
		ret = fsck_mailboxes(&f);
	if (ret > 0)
		ret = sq_commit(s);
	else if (in_tx)
		sq_rollback(s);
	sq_unlock(s);
	/* List snapshots are caches of the rows fsck may just have repaired
	 * (and leftovers of crashed writers): the next loads rebuild them. */
	sq_listsnap_remove(s->dir, 0);
	if (ret > 0) {
		/* Files of blob rows removed above (normally already removed as
		 * orphans by fsck_orphans, which ran after the rows went). */
		sq_unlink_blobs(s, f.dead.v, f.dead.n);
		ret = fsck_caches(&f);
		store_notify_send(u);
	}
	if (ret > 0) {
		/* The search index is a cache, rebuilt from the files: a failed
		 * rebuild (e.g. roostd's indexer holding search.db too long)
		 * leaves the store repaired, and searches scan until the
		 * indexer catches up. */
		unsigned indexed = 0;
		if (sq_search_rebuild(u, &indexed) < 0) {
			const char *msg;
			store_error(&msg);
			log_warn("fsck_search_index", "user=%s indexed=%u error=\"%s\"",
				 store_user_key(u), indexed, msg);
		}
	}
	sq_idvec_free(&f.dead);
	sq_idvec_free(&f.rebuild);
	sq_idvec_free(&f.sizes);
	return ret;
}
