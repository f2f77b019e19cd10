/* sqlite-message.c - the embedded backend's messages: append, copy/move,
 * flags, expunge, message lists, changes and reading files.
 *
 * Every write is one BEGIN IMMEDIATE transaction that also bumps the
 * mailbox's counters, UIDNEXT and HIGHESTMODSEQ and the user's quota
 * usage, so they can never drift from the rows (fsck recomputes them
 * anyway). Each changed or added message gets its own new modseq;
 * expunged UIDs leave a tombstone with the modseq of their expunge. */
#include "sqlite-store.h"
#include "sqlite-listsnap.h"
#include "sqlite-sync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "mime/mime.h"

/* Upper bound for one message's mime cache blob. */
#define SQ_CACHE_MAX (64u * 1024 * 1024)

/* One message row, as collected before changing rows (SQLite gives no
 * guarantees about a SELECT that runs while its table is updated). */
struct sq_row {
	uint32_t uid;
	uint8_t flags;
	int16_t tz;
	uint32_t size;
	uint64_t blob_id;
	uint64_t modseq;
	int64_t internal_date;
	char *keywords; /* NULL: none */
};

struct sq_rows {
	struct sq_row *v;
	size_t n, cap;
};

static void rows_free(struct sq_rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].keywords);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static const char SQL_ROWS_RANGE[] =
	"SELECT uid, flags, tz, size, blob_id, modseq, internal_date, keywords FROM message"
	" WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid";

static int uid_range_cmp(const void *a, const void *b)
{
	const struct store_uid_range *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* Collects the rows in uids (NULL: all), ascending, without duplicates
 * even when ranges overlap. only_deleted keeps rows with \Deleted. */
static int rows_collect(struct sq_user *s, uint64_t mailbox_id, const struct store_uidset *uids,
			bool only_deleted, struct sq_rows *out)
{
	struct store_uid_range all = { 1, UINT32_MAX };
	struct store_uid_range *ranges;
	size_t nranges = uids ? uids->count : 1;
	ranges = malloc((nranges ? nranges : 1) * sizeof(*ranges));
	if (ranges == NULL)
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	for (size_t i = 0; i < nranges; i++) {
		struct store_uid_range r = uids ? uids->ranges[i] : all;
		if (r.first > r.last) {
			uint32_t t = r.first;
			r.first = r.last;
			r.last = t;
		}
		ranges[i] = r;
	}
	qsort(ranges, nranges, sizeof(*ranges), uid_range_cmp);
	int ret = 1;
	uint32_t done_upto = 0; /* every uid <= this was already visited */
	for (size_t i = 0; i < nranges && ret > 0; i++) {
		uint64_t first = ranges[i].first, last = ranges[i].last;
		if (first <= done_upto)
			first = (uint64_t)done_upto + 1;
		if (first > last)
			continue;
		sqlite3_stmt *st = sq_stmt(s, SQL_ROWS_RANGE);
		if (st == NULL) {
			ret = -1;
			break;
		}
		sqlite3_bind_int64(st, 1, (int64_t)mailbox_id);
		sqlite3_bind_int64(st, 2, (int64_t)first);
		sqlite3_bind_int64(st, 3, (int64_t)last);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct sq_row row = { 0 };
			row.uid = (uint32_t)sqlite3_column_int64(st, 0);
			row.flags = (uint8_t)sqlite3_column_int(st, 1);
			if (only_deleted && !(row.flags & STORE_FLAG_DELETED))
				continue;
			row.tz = (int16_t)sqlite3_column_int(st, 2);
			row.size = (uint32_t)sqlite3_column_int64(st, 3);
			row.blob_id = (uint64_t)sqlite3_column_int64(st, 4);
			row.modseq = (uint64_t)sqlite3_column_int64(st, 5);
			row.internal_date = sqlite3_column_int64(st, 6);
			const char *kw = (const char *)sqlite3_column_text(st, 7);
			if (kw != NULL && kw[0] != '\0' && (row.keywords = strdup(kw)) == NULL) {
				ret = store_fail(STORE_ERR_INTERNAL, "Out of memory");
				break;
			}
			if (out->n == out->cap) {
				size_t cap = out->cap ? out->cap * 2 : 64;
				struct sq_row *v = realloc(out->v, cap * sizeof(*v));
				if (v == NULL) {
					free(row.keywords);
					ret = store_fail(STORE_ERR_INTERNAL, "Out of memory");
					break;
				}
				out->v = v;
				out->cap = cap;
			}
			out->v[out->n++] = row;
		}
		if (ret > 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
			ret = sq_fail(s, rc, "collect rows");
		sqlite3_reset(st);
		done_upto = (uint32_t)last;
		if (last == UINT32_MAX)
			break;
	}
	free(ranges);
	return ret;
}

/* Adds deltas to a mailbox's counters and sets uidnext/highestmodseq. */
static int mailbox_update(struct sq_user *s, const struct sq_mailbox *mb, int64_t dmessages,
			  int64_t dunseen, int64_t ddeleted, int64_t dsize)
{
	sqlite3_stmt *st = sq_stmt(s, "UPDATE mailbox SET uidnext = ?2, highestmodseq = ?3,"
				      " messages = messages + ?4, unseen = unseen + ?5,"
				      " deleted = deleted + ?6, size = size + ?7 WHERE id = ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)mb->id);
	sqlite3_bind_int64(st, 2, mb->uidnext);
	sqlite3_bind_int64(st, 3, (int64_t)mb->highestmodseq);
	sqlite3_bind_int64(st, 4, dmessages);
	sqlite3_bind_int64(st, 5, dunseen);
	sqlite3_bind_int64(st, 6, ddeleted);
	sqlite3_bind_int64(st, 7, dsize);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 1 : sq_fail(s, rc, "mailbox update");
}

static int message_insert(struct sq_user *s, uint64_t mailbox_id, const struct sq_row *r,
			  int64_t savedate)
{
	sqlite3_stmt *st = sq_stmt(s, "INSERT INTO message (mailbox_id, uid, blob_id, modseq,"
				      " flags, keywords, internal_date, tz, size, savedate)"
				      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)mailbox_id);
	sqlite3_bind_int64(st, 2, r->uid);
	sqlite3_bind_int64(st, 3, (int64_t)r->blob_id);
	sqlite3_bind_int64(st, 4, (int64_t)r->modseq);
	sqlite3_bind_int(st, 5, r->flags);
	if (r->keywords && r->keywords[0])
		sqlite3_bind_text(st, 6, r->keywords, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_bind_int64(st, 7, r->internal_date);
	sqlite3_bind_int(st, 8, r->tz);
	sqlite3_bind_int64(st, 9, r->size);
	sqlite3_bind_int64(st, 10, savedate);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return store_fail(STORE_ERR_CORRUPT, "UID already used (run roost fsck)");
	return rc == SQLITE_DONE ? 1 : sq_fail(s, rc, "message insert");
}

/* Deletes a message row and leaves its tombstone. */
static int message_remove(struct sq_user *s, uint64_t mailbox_id, uint32_t uid, uint64_t modseq,
			  bool tombstone)
{
	sqlite3_stmt *st = sq_stmt(s, "DELETE FROM message WHERE mailbox_id = ?1 AND uid = ?2");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sq_fail(s, rc, "message delete");
	if (!tombstone)
		return 1;
	st = sq_stmt(s, "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq)"
			" VALUES (?1, ?2, ?3)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int64(st, 3, (int64_t)modseq);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 1 : sq_fail(s, rc, "tombstone");
}

int sq_blob_unref(struct sq_user *s, uint64_t blob_id, struct sq_idvec *dead)
{
	sqlite3_stmt *st = sq_stmt(s, "UPDATE blob SET refs = refs - 1 WHERE id = ?1 RETURNING refs");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)blob_id);
	int rc = sqlite3_step(st);
	int64_t refs = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 1;
	if (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sq_fail(s, rc, "blob unref");
	if (refs > 0)
		return 1;
	st = sq_stmt(s, "DELETE FROM blob WHERE id = ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)blob_id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sq_fail(s, rc, "blob delete");
	st = sq_stmt(s, "DELETE FROM blob_body WHERE id = ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)blob_id);
	rc = sqlite3_step(st);
	int changed = sqlite3_changes(s->db);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sq_fail(s, rc, "blob body delete");
	/* A message kept in the database has no file to unlink. */
	return changed > 0 ? 1 : sq_idvec_push(dead, blob_id);
}

static int blob_ref(struct sq_user *s, uint64_t blob_id)
{
	sqlite3_stmt *st = sq_stmt(s, "UPDATE blob SET refs = refs + 1 WHERE id = ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)blob_id);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 1 : sq_fail(s, rc, "blob ref");
}

/* Looks up a mailbox for writing messages into: NONEXISTENT / NOPERM. */
static int mailbox_for_messages(struct sq_user *s, uint64_t id, struct sq_mailbox *mb)
{
	int r = sq_mailbox_get(s, id, mb);
	if (r < 0)
		return -1;
	if (r == 0)
		return store_fail(STORE_ERR_NONEXISTENT, "Mailbox does not exist");
	if (mb->noselect)
		return store_fail(STORE_ERR_NOPERM, "Mailbox is not selectable");
	return 1;
}

static int next_uid(struct sq_mailbox *mb, uint32_t *uid_r)
{
	/* UIDs are 32-bit and never reused within a UIDVALIDITY. */
	if (mb->uidnext == 0 || mb->uidnext == UINT32_MAX)
		return store_fail(STORE_ERR_LIMIT, "Mailbox has used all UIDs");
	*uid_r = mb->uidnext++;
	return 1;
}

static void publish(struct store_user *u, uint64_t mailbox_id, uint64_t modseq)
{
	store_bus_publish(u, mailbox_id, modseq);
}

/* ------------------------------------------------------------------ */
/* append */

/* Messages up to this size are read into memory to be parsed, larger ones
 * mapped. */
#define SQ_CACHE_READ_MAX ((uint64_t)256 * 1024)

static int build_cache_mem(const char *text, uint64_t size, struct buf *out)
{
	if (size > MIME_MAX_MESSAGE_SIZE)
		return store_fail(STORE_ERR_LIMIT, "Message too large to parse");
	return mime_cache_build(size ? text : "", size, out) > 0 ? 1 :
		store_fail(STORE_ERR_INTERNAL, "Cannot build the message cache");
}

/* Runs sql, a one-row query by blob id (?1), under the user's lock and
 * appends the row's first column (bytes) to out; *num_r gets the second
 * (an integer) when given. 1 row, 0 none, -1 error. */
static int blob_row_read(struct sq_user *s, const char *sql, uint64_t blob_id, struct buf *out,
			 int64_t *num_r)
{
	sq_lock(s);
	sqlite3_stmt *st = sq_stmt(s, sql);
	int ret = -1;
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, (int64_t)blob_id);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const void *p = sqlite3_column_blob(st, 0);
			size_t len = (size_t)sqlite3_column_bytes(st, 0);
			if (num_r != NULL)
				*num_r = sqlite3_column_int64(st, 1);
			ret = buf_append(out, p != NULL ? p : "", len) < 0 ?
				store_fail(STORE_ERR_LIMIT, "Too large for memory") : 1;
		} else if (rc == SQLITE_DONE) {
			ret = 0;
		} else {
			ret = sq_fail(s, rc, sql);
		}
		sqlite3_reset(st);
	}
	sq_unlock(s);
	return ret;
}

int sq_body_read(struct sq_user *s, uint64_t blob_id, struct buf *out)
{
	return blob_row_read(s, "SELECT body FROM blob_body WHERE id = ?1", blob_id, out, NULL);
}

int sq_msg_text(struct store_user *u, uint64_t blob_id, struct buf *out)
{
	return sq_body_read(sq(u), blob_id, out);
}

int sq_build_cache_of(struct sq_user *s, uint64_t blob_id, uint64_t size, struct buf *out)
{
	struct buf body = BUF_INIT(STORE_BLOB_INLINE_MAX);
	int ret = sq_body_read(s, blob_id, &body);
	if (ret > 0)
		ret = build_cache_mem(body.data, body.len, out);
	buf_free(&body);
	if (ret != 0)
		return ret;
	char path[4096];
	if (sq_blob_path(s, blob_id, path, sizeof(path)) < 0)
		return -1;
	ret = sq_build_cache(path, size, out);
	if (ret < 0 && store_error(NULL) == STORE_ERR_NONEXISTENT) {
		store_error_clear();
		return 0;
	}
	return ret;
}

int sq_build_cache(const char *path, uint64_t size, struct buf *out)
{
	if (size > MIME_MAX_MESSAGE_SIZE)
		return store_fail(STORE_ERR_LIMIT, "Message too large to parse");
	if (size == 0)
		return mime_cache_build("", 0, out) > 0 ? 1 :
			store_fail(STORE_ERR_INTERNAL, "Cannot build the message cache");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return store_fail(errno == ENOENT ? STORE_ERR_NONEXISTENT : STORE_ERR_TEMPFAIL,
				  "Cannot open message file");
	int ret;
	if (size <= SQ_CACHE_READ_MAX) {
		/* A small file is read: mapping it costs more (page faults,
		 * and an unmap that interrupts every CPU that runs one of our
		 * threads to flush its TLB). */
		char *text = malloc((size_t)size);
		size_t got = 0;
		while (text != NULL && got < size) {
			ssize_t n = pread(fd, text + got, (size_t)size - got, (off_t)got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		close(fd);
		if (got < size) {
			free(text);
			return store_fail(STORE_ERR_TEMPFAIL, "Cannot read message file");
		}
		ret = mime_cache_build(text, size, out);
		free(text);
	} else {
		void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		close(fd);
		if (map == MAP_FAILED)
			return store_fail(STORE_ERR_TEMPFAIL, "Cannot map message file");
		ret = mime_cache_build(map, size, out);
		munmap(map, size);
	}
	return ret > 0 ? 1 : store_fail(STORE_ERR_INTERNAL, "Cannot build the message cache");
}

/* Moves a finished temp file to its final name msg/<xx>/<id>. Called
 * under the write lock, after the id was allocated: a file of this id can
 * only be a leftover of a crash between this and the commit (ids are
 * allocated under the lock), so replacing it is right. The file is made
 * durable later, with its directory entry, by sync_installed: the row is
 * the commit point and it is written only after both are durable. Renamed
 * before its fsync: on a journalling filesystem the file's fsync then
 * commits the journal transaction that also holds the new entry, so the
 * directory's fsync finds little left to write; synced before, every
 * delivery would pay for two commits. */
static int blob_install(struct sq_user *s, struct store_blob *b, uint64_t blob_id)
{
	char path[4096], dir[4096], msgdir[4096];
	if (sq_blob_path(s, blob_id, path, sizeof(path)) < 0)
		return -1;
	if (rename(b->path, path) < 0) {
		if (errno != ENOENT)
			goto fail;
		/* msg/<xx> is missing (they are made with the user, or at
		 * the first open of an older user; someone removed one):
		 * make it durably, then try again. */
		snprintf(msgdir, sizeof(msgdir), "%s/msg", s->dir);
		snprintf(dir, sizeof(dir), "%s/msg/%02x", s->dir, (unsigned)(blob_id & 0xff));
		if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || sq_fsync_dir(msgdir) < 0 ||
		    rename(b->path, path) < 0)
			goto fail;
	}
	free(b->path);
	b->path = NULL;
	return 1;
fail:
	log_error("store_install", "path=%s error=\"%s\"", path, strerror(errno));
	return store_fail(STORE_ERR_TEMPFAIL, "Cannot store message file");
}

/* Makes the installed files and their directory entries durable (POSIX:
 * a new entry is durable only after an fsync of its directory), before
 * the commit. Each msg/<xx> directory is synced once, on a helper thread
 * (sqlite-sync.h), while this thread syncs the files: the two flushes
 * overlap instead of adding up. */
static int sync_installed(struct sq_user *s, struct store_blob *const *blobs, const uint64_t *ids,
			  unsigned n)
{
	uint8_t seen[256 / 8] = { 0 };
	struct sq_sync_job one[1];
	struct sq_sync_job *jobs = one;
	unsigned njobs = 0;
	int ret = 1;
	char dir[4096];
	if (n > 1 && (jobs = calloc(n < 256 ? n : 256, sizeof(*jobs))) == NULL)
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	for (unsigned i = 0; i < n; i++) {
		unsigned xx = (unsigned)(ids[i] & 0xff);
		if (seen[xx / 8] & (1u << (xx % 8)))
			continue;
		seen[xx / 8] |= (uint8_t)(1u << (xx % 8));
		snprintf(dir, sizeof(dir), "%s/msg/%02x", s->dir, xx);
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			log_error("store_install", "path=%s error=\"%s\"", dir, strerror(errno));
			ret = store_fail(STORE_ERR_TEMPFAIL, "Cannot store message file");
			break;
		}
		sq_sync_start(&jobs[njobs++], fd);
	}
	for (unsigned i = 0; i < n && ret > 0; i++) {
		if (fsync(blobs[i]->fd) < 0) {
			log_error("store_install", "blob=%llu error=\"%s\"",
				  (unsigned long long)ids[i], strerror(errno));
			ret = store_fail(STORE_ERR_TEMPFAIL, "Cannot store message file");
		}
	}
	/* Every started job is finished, also after a failure: the job and
	 * its fd must outlive the helper's fsync. */
	for (unsigned j = 0; j < njobs; j++) {
		if (sq_sync_finish(&jobs[j]) < 0 && ret > 0) {
			log_error("store_install", "directory fsync error=\"%s\"", strerror(errno));
			ret = store_fail(STORE_ERR_TEMPFAIL, "Cannot store message file");
		}
		close(jobs[j].fd);
	}
	if (jobs != one)
		free(jobs);
	return ret;
}

int sq_append(struct store_user *u, uint64_t mailbox_id, struct store_blob **blobs,
	      const struct store_append_req *reqs, unsigned n, uint32_t *uids_r,
	      uint32_t *uidvalidity_r)
{
	struct sq_user *s = sq(u);
	struct buf *caches = calloc(n, sizeof(*caches));
	char **kws = calloc(n, sizeof(*kws));
	/* The messages stored as files (ids, blobs): synced, and removed
	 * again if the commit fails. */
	uint64_t *installed = calloc(n, sizeof(*installed));
	struct store_blob **files = calloc(n, sizeof(*files));
	unsigned ninstalled = 0;
	int ret = 1;
	uint64_t total = 0;
	if (caches == NULL || kws == NULL || installed == NULL || files == NULL)
		ret = store_fail(STORE_ERR_INTERNAL, "Out of memory");

	/* The parse and the keyword work happen before taking any lock. A
	 * message the MIME parser cannot handle is stored without a cache
	 * (store_msg_cache rebuilds on demand, fsck reports). */
	for (unsigned i = 0; i < n && ret > 0; i++) {
		struct buf kw = BUF_INIT(16384);
		caches[i] = (struct buf)BUF_INIT(SQ_CACHE_MAX);
		bool in_db = store_blob_inline(blobs[i]);
		if ((in_db ? build_cache_mem(blobs[i]->buf, blobs[i]->size, &caches[i]) :
			     sq_build_cache(blobs[i]->path, blobs[i]->size, &caches[i])) < 0) {
			log_warn("store_cache", "user=%s size=%llu", u->key,
				 (unsigned long long)blobs[i]->size);
			buf_free(&caches[i]);
			store_error_clear();
		}
		if (store_keywords_canon(reqs[i].keywords, &kw) < 0)
			ret = -1;
		else
			kws[i] = buf_steal(&kw, NULL);
		buf_free(&kw);
		total += blobs[i]->size;
	}

	struct sq_mailbox mb;
	int64_t now = (int64_t)time(NULL);
	sq_lock(s);
	if (ret > 0)
		ret = sq_begin(s);
	bool in_tx = ret > 0;
	if (ret > 0)
		ret = mailbox_for_messages(s, mailbox_id, &mb);
	if (ret > 0)
		ret = sq_quota_check(s, total, n);
	int64_t next_blob = 0;
	if (ret > 0 && sq_get_int(s, "SELECT next_blob_id FROM account WHERE id = 1", 0, 0,
				  &next_blob) <= 0)
		ret = ret < 0 ? -1 : store_fail(STORE_ERR_CORRUPT, "No account row");
	int64_t dunseen = 0, ddeleted = 0;
	for (unsigned i = 0; i < n && ret > 0; i++) {
		uint64_t blob_id = (uint64_t)next_blob++;
		struct sq_row row = { 0 };
		if (reqs[i].uid != 0) {
			/* A given UID (roost import): never one already used. */
			if (reqs[i].uid < mb.uidnext || reqs[i].uid == UINT32_MAX) {
				ret = store_fail(STORE_ERR_ALREADYEXISTS, "UID already used");
				break;
			}
			mb.uidnext = reqs[i].uid;
		}
		ret = next_uid(&mb, &row.uid);
		if (ret < 0)
			break;
		sqlite3_stmt *st;
		if (store_blob_inline(blobs[i])) {
			st = sq_stmt(s, "INSERT INTO blob_body (id, body) VALUES (?1, ?2)");
			if (st == NULL) {
				ret = -1;
				break;
			}
			sqlite3_bind_int64(st, 1, (int64_t)blob_id);
			sqlite3_bind_blob(st, 2, blobs[i]->size ? blobs[i]->buf : "",
					  (int)blobs[i]->size, SQLITE_STATIC);
			int rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc != SQLITE_DONE) {
				ret = sq_fail(s, rc, "body insert");
				break;
			}
		} else {
			if ((ret = blob_install(s, blobs[i], blob_id)) < 0)
				break;
			files[ninstalled] = blobs[i];
			installed[ninstalled++] = blob_id;
		}
		st = sq_stmt(s, "INSERT INTO blob (id, size, refs, cache)"
			     " VALUES (?1, ?2, 1, ?3)");
		if (st == NULL) {
			ret = -1;
			break;
		}
		sqlite3_bind_int64(st, 1, (int64_t)blob_id);
		sqlite3_bind_int64(st, 2, (int64_t)blobs[i]->size);
		if (caches[i].len)
			sqlite3_bind_blob(st, 3, caches[i].data, (int)caches[i].len, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 3);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			ret = sq_fail(s, rc, "blob insert");
			break;
		}
		row.flags = reqs[i].flags;
		row.tz = reqs[i].tz_minutes;
		row.size = (uint32_t)blobs[i]->size;
		row.blob_id = blob_id;
		row.modseq = ++mb.highestmodseq;
		row.internal_date = reqs[i].internal_date ? reqs[i].internal_date : now;
		row.keywords = kws[i];
		ret = message_insert(s, mailbox_id, &row, now);
		uids_r[i] = row.uid;
		dunseen += !(row.flags & STORE_FLAG_SEEN);
		ddeleted += (row.flags & STORE_FLAG_DELETED) != 0;
	}
	if (ret > 0)
		ret = sync_installed(s, files, installed, ninstalled);
	if (ret > 0)
		ret = mailbox_update(s, &mb, n, dunseen, ddeleted, (int64_t)total);
	if (ret > 0)
		ret = sq_quota_add(s, (int64_t)total, n);
	if (ret > 0) {
		sqlite3_stmt *st = sq_stmt(s, "UPDATE account SET next_blob_id = ?1 WHERE id = 1");
		if (st == NULL) {
			ret = -1;
		} else {
			sqlite3_bind_int64(st, 1, next_blob);
			int rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc != SQLITE_DONE)
				ret = sq_fail(s, rc, "blob id");
		}
	}
	if (ret > 0)
		ret = sq_commit(s);
	else if (in_tx)
		sq_rollback(s);
	sq_unlock(s);
	if (ret < 0) {
		/* Files renamed into place but not committed are unreferenced:
		 * remove them now (fsck would too). */
		sq_unlink_blobs(s, installed, ninstalled);
	} else {
		*uidvalidity_r = mb.uidvalidity;
		publish(u, mailbox_id, mb.highestmodseq);
		store_notify_send(u);
		sq_search_kick(u);
	}
	for (unsigned i = 0; caches && i < n; i++)
		buf_free(&caches[i]);
	for (unsigned i = 0; kws && i < n; i++)
		free(kws[i]);
	free(caches);
	free(kws);
	free(installed);
	free(files);
	return ret;
}

/* ------------------------------------------------------------------ */
/* copy / move */

/* Copies collected rows of src into dst (new UIDs, new modseqs) and, for
 * a move, removes them from src with tombstones. Inside a transaction.
 * src_uids/dst_uids (may be NULL) get the UID mapping. */
static int copy_rows(struct sq_user *s, struct sq_mailbox *src, struct sq_rows *rows,
		     struct sq_mailbox *dst, bool move, struct store_uid_array *src_uids,
		     struct store_uid_array *dst_uids)
{
	int64_t now = (int64_t)time(NULL);
	int64_t dunseen = 0, ddeleted = 0, dsize = 0;
	int ret = 1;
	for (size_t i = 0; i < rows->n && ret > 0; i++) {
		struct sq_row row = rows->v[i];
		uint32_t src_uid = row.uid;
		ret = next_uid(dst, &row.uid);
		if (ret < 0)
			break;
		row.modseq = ++dst->highestmodseq;
		ret = message_insert(s, dst->id, &row, now);
		/* A move hands the reference over: the refcount stays. */
		if (ret > 0 && !move)
			ret = blob_ref(s, row.blob_id);
		if (ret > 0 && move)
			ret = message_remove(s, src->id, src_uid, ++src->highestmodseq, true);
		if (ret > 0 && src_uids)
			ret = store_uid_array_push(src_uids, src_uid);
		if (ret > 0 && dst_uids)
			ret = store_uid_array_push(dst_uids, row.uid);
		dunseen += !(row.flags & STORE_FLAG_SEEN);
		ddeleted += (row.flags & STORE_FLAG_DELETED) != 0;
		dsize += row.size;
	}
	int64_t count = (int64_t)rows->n;
	if (ret > 0 && rows->n > 0)
		ret = mailbox_update(s, dst, count, dunseen, ddeleted, dsize);
	if (ret > 0 && rows->n > 0 && move)
		ret = mailbox_update(s, src, -count, -dunseen, -ddeleted, -dsize);
	if (ret > 0 && rows->n > 0 && !move)
		ret = sq_quota_add(s, dsize, count);
	return ret;
}

int sq_move_all(struct sq_user *s, uint64_t src_id, uint64_t dst_id)
{
	struct sq_mailbox src, dst;
	struct sq_rows rows = { 0 };
	int ret = mailbox_for_messages(s, src_id, &src);
	if (ret > 0)
		ret = mailbox_for_messages(s, dst_id, &dst);
	if (ret > 0)
		ret = rows_collect(s, src_id, NULL, false, &rows);
	if (ret > 0)
		ret = copy_rows(s, &src, &rows, &dst, true, NULL, NULL);
	rows_free(&rows);
	return ret;
}

int sq_copy(struct store_user *u, uint64_t src_id, const struct store_uidset *uids,
	    uint64_t dst_id, bool move, struct store_copy_result *res_r)
{
	struct sq_user *s = sq(u);
	struct sq_mailbox src, dst;
	struct sq_rows rows = { 0 };
	sq_lock(s);
	int ret = sq_begin(s);
	bool in_tx = ret > 0;
	if (ret > 0)
		ret = mailbox_for_messages(s, src_id, &src);
	if (ret > 0)
		ret = mailbox_for_messages(s, dst_id, &dst);
	if (ret > 0)
		ret = rows_collect(s, src_id, uids, false, &rows);
	if (ret > 0 && !move) {
		uint64_t bytes = 0;
		for (size_t i = 0; i < rows.n; i++)
			bytes += rows.v[i].size;
		ret = sq_quota_check(s, bytes, rows.n);
	}
	if (ret > 0 && src_id == dst_id) {
		/* COPY into the same mailbox: one mailbox row, one counter. */
		ret = copy_rows(s, &src, &rows, &src, false, &res_r->src_uids, &res_r->dst_uids);
		dst = src;
	} else if (ret > 0) {
		ret = copy_rows(s, &src, &rows, &dst, move, &res_r->src_uids, &res_r->dst_uids);
	}
	if (ret > 0)
		ret = sq_commit(s);
	else if (in_tx)
		sq_rollback(s);
	sq_unlock(s);
	rows_free(&rows);
	if (ret > 0) {
		res_r->dst_uidvalidity = dst.uidvalidity;
		if (res_r->dst_uids.count > 0) {
			publish(u, dst_id, dst.highestmodseq);
			if (move)
				publish(u, src_id, src.highestmodseq);
			store_notify_send(u);
		}
	} else {
		store_uid_array_free(&res_r->src_uids);
		store_uid_array_free(&res_r->dst_uids);
	}
	return ret;
}

/* ------------------------------------------------------------------ */
/* flags */

int sq_flags_change(struct store_user *u, uint64_t mailbox_id, const struct store_uidset *uids,
		    enum store_flags_op op, uint8_t flags, const char *keywords,
		    uint64_t unchangedsince, struct store_flags_result *res_r)
{
	struct sq_user *s = sq(u);
	struct sq_mailbox mb;
	struct sq_rows rows = { 0 };
	struct store_kw_intern ki = { 0 };
	struct buf newkw = BUF_INIT(16384);
	int64_t dunseen = 0, ddeleted = 0;
	sq_lock(s);
	int ret = sq_begin(s);
	bool in_tx = ret > 0;
	if (ret > 0)
		ret = mailbox_for_messages(s, mailbox_id, &mb);
	if (ret > 0)
		ret = rows_collect(s, mailbox_id, uids, false, &rows);
	sqlite3_stmt *st = NULL;
	for (size_t i = 0; i < rows.n && ret > 0; i++) {
		struct sq_row *r = &rows.v[i];
		/* RFC 7162 3.1.3: a message whose modseq is above
		 * UNCHANGEDSINCE is not changed and is reported. */
		if (unchangedsince != 0 && r->modseq > unchangedsince) {
			ret = store_uid_array_push(&res_r->failed, r->uid);
			continue;
		}
		uint8_t nf = op == STORE_FLAGS_ADD ? (r->flags | flags) :
			     op == STORE_FLAGS_REMOVE ? (uint8_t)(r->flags & ~flags) : flags;
		if (store_keywords_apply(r->keywords, op, keywords, &newkw) < 0) {
			ret = -1;
			break;
		}
		const char *oldkw = r->keywords ? r->keywords : "";
		if (nf == r->flags && strcmp(oldkw, buf_cstr(&newkw)) == 0)
			continue;
		uint64_t modseq = ++mb.highestmodseq;
		st = sq_stmt(s, "UPDATE message SET flags = ?3, keywords = ?4, modseq = ?5"
				" WHERE mailbox_id = ?1 AND uid = ?2");
		if (st == NULL) {
			ret = -1;
			break;
		}
		sqlite3_bind_int64(st, 1, (int64_t)mailbox_id);
		sqlite3_bind_int64(st, 2, r->uid);
		sqlite3_bind_int(st, 3, nf);
		if (newkw.len)
			sqlite3_bind_text(st, 4, buf_cstr(&newkw), (int)newkw.len, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 4);
		sqlite3_bind_int64(st, 5, (int64_t)modseq);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			ret = sq_fail(s, rc, "flags update");
			break;
		}
		dunseen += (int)!(nf & STORE_FLAG_SEEN) - (int)!(r->flags & STORE_FLAG_SEEN);
		ddeleted += (int)((nf & STORE_FLAG_DELETED) != 0) -
			    (int)((r->flags & STORE_FLAG_DELETED) != 0);
		struct store_msg m = {
			.uid = r->uid, .size = r->size, .tz_minutes = r->tz, .flags = nf,
			.internal_date = r->internal_date, .modseq = modseq,
			.blob_id = r->blob_id,
		};
		ret = store_msg_list_push(&res_r->changed, &ki, &m, buf_cstr(&newkw));
	}
	bool changed = res_r->changed.count > 0;
	if (ret > 0 && changed)
		ret = mailbox_update(s, &mb, 0, dunseen, ddeleted, 0);
	if (ret > 0)
		ret = sq_commit(s);
	else if (in_tx)
		sq_rollback(s);
	sq_unlock(s);
	rows_free(&rows);
	store_kw_intern_free(&ki);
	buf_free(&newkw);
	if (ret > 0) {
		res_r->changed.uidvalidity = mb.uidvalidity;
		res_r->changed.uidnext = mb.uidnext;
		res_r->changed.highestmodseq = mb.highestmodseq;
		if (changed) {
			publish(u, mailbox_id, mb.highestmodseq);
			store_notify_send(u);
		}
	} else {
		store_flags_result_free(res_r);
	}
	return ret;
}

/* ------------------------------------------------------------------ */
/* expunge */

/* Removes rows (tombstones when `tombstones`), updates counters, quota and
 * blob refcounts. Inside a transaction. */
static int remove_rows(struct sq_user *s, struct sq_mailbox *mb, const struct sq_rows *rows,
		       bool tombstones, struct sq_idvec *dead, struct store_uid_array *uids_r)
{
	int64_t dunseen = 0, ddeleted = 0, dsize = 0;
	int ret = 1;
	for (size_t i = 0; i < rows->n && ret > 0; i++) {
		const struct sq_row *r = &rows->v[i];
		ret = message_remove(s, mb->id, r->uid, ++mb->highestmodseq, tombstones);
		if (ret > 0)
			ret = sq_blob_unref(s, r->blob_id, dead);
		if (ret > 0 && uids_r)
			ret = store_uid_array_push(uids_r, r->uid);
		dunseen += !(r->flags & STORE_FLAG_SEEN);
		ddeleted += (r->flags & STORE_FLAG_DELETED) != 0;
		dsize += r->size;
	}
	int64_t count = (int64_t)rows->n;
	if (ret > 0 && count > 0)
		ret = mailbox_update(s, mb, -count, -dunseen, -ddeleted, -dsize);
	if (ret > 0 && count > 0)
		ret = sq_quota_add(s, -dsize, -count);
	return ret;
}

int sq_mailbox_purge(struct sq_user *s, uint64_t id, struct sq_idvec *dead)
{
	struct sq_mailbox mb;
	struct sq_rows rows = { 0 };
	int r = sq_mailbox_get(s, id, &mb);
	if (r <= 0)
		return r < 0 ? -1 : store_fail(STORE_ERR_NONEXISTENT, "Mailbox does not exist");
	int ret = rows_collect(s, id, NULL, false, &rows);
	if (ret > 0)
		ret = remove_rows(s, &mb, &rows, false, dead, NULL);
	rows_free(&rows);
	return ret;
}

int sq_expunge(struct store_user *u, uint64_t mailbox_id, const struct store_uidset *uids,
	       bool only_deleted, struct store_uid_array *expunged_r)
{
	struct sq_user *s = sq(u);
	struct sq_mailbox mb;
	struct sq_rows rows = { 0 };
	struct sq_idvec dead = { 0 };
	sq_lock(s);
	int ret = sq_begin(s);
	bool in_tx = ret > 0;
	if (ret > 0)
		ret = mailbox_for_messages(s, mailbox_id, &mb);
	if (ret > 0)
		ret = rows_collect(s, mailbox_id, uids, only_deleted, &rows);
	if (ret > 0)
		ret = remove_rows(s, &mb, &rows, true, &dead, expunged_r);
	if (ret > 0)
		ret = sq_commit(s);
	else if (in_tx)
		sq_rollback(s);
	sq_unlock(s);
	if (ret > 0) {
		sq_unlink_blobs(s, dead.v, dead.n);
		if (rows.n > 0) {
			publish(u, mailbox_id, mb.highestmodseq);
			store_notify_send(u);
		}
	} else {
		store_uid_array_free(expunged_r);
	}
	rows_free(&rows);
	sq_idvec_free(&dead);
	return ret;
}

/* ------------------------------------------------------------------ */
/* reading */

static const char SQL_LIST[] =
	"SELECT uid, modseq, flags, keywords, internal_date, tz, size, blob_id FROM message"
	" WHERE mailbox_id = ?1 ORDER BY uid";
/* In modseq order, so the planner walks index message_modseq from the
 * first change on (with ORDER BY uid it would scan every row of the
 * primary key instead: O(mailbox), not O(changes)); sorted by UID after. */
static const char SQL_CHANGED[] =
	"SELECT uid, modseq, flags, keywords, internal_date, tz, size, blob_id FROM message"
	" WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY modseq";
static const char SQL_EXPUNGED[] =
	"SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY modseq";

/* The head of a list loaded for SELECT (store_msg_list_load_head): what
 * the callback is given, and whether it was called yet. */
struct list_head_state {
	store_msg_list_head_cb *cb;
	void *ctx;
	bool want_first_unseen;
	bool called;
	struct store_msg_list_head head;
};

static void head_call(struct list_head_state *h)
{
	if (h == NULL || h->called)
		return;
	h->called = true;
	h->cb(h->ctx, &h->head);
}

/* Reads rows into l. limit: 0 for all, else stop and return 0 once more
 * than limit rows came (the caller then reads the whole list). */
static int read_msgs(struct sq_user *s, sqlite3_stmt *st, struct store_msg_list *l,
		     struct list_head_state *h, uint32_t limit)
{
	struct store_kw_intern ki = { 0 };
	int rc, ret = 1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (limit != 0 && l->count >= limit) {
			ret = 0;
			break;
		}
		struct store_msg m = {
			.uid = (uint32_t)sqlite3_column_int64(st, 0),
			.modseq = (uint64_t)sqlite3_column_int64(st, 1),
			.flags = (uint8_t)sqlite3_column_int(st, 2),
			.internal_date = sqlite3_column_int64(st, 4),
			.tz_minutes = (int16_t)sqlite3_column_int(st, 5),
			.size = (uint32_t)sqlite3_column_int64(st, 6),
			.blob_id = (uint64_t)sqlite3_column_int64(st, 7),
		};
		const char *kw = (const char *)sqlite3_column_text(st, 3);
		if (store_msg_list_push(l, &ki, &m, kw) < 0) {
			ret = -1;
			break;
		}
		/* The rows come in UID order, so this one's position is its
		 * sequence number: SELECT's "first unseen" is known now, and
		 * SELECT can answer while the rest is read. */
		if (h != NULL && !h->called && (m.flags & STORE_FLAG_SEEN) == 0) {
			h->head.first_unseen = l->count;
			head_call(h);
		}
	}
	if (ret > 0 && rc != SQLITE_DONE)
		ret = sq_fail(s, rc, "read messages");
	sqlite3_reset(st);
	store_kw_intern_free(&ki);
	return ret;
}

static int msg_uid_cmp(const void *a, const void *b)
{
	const struct store_msg *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The messages with modseq > since, in UID order (see SQL_CHANGED). 0 if
 * there are more than limit (limit 0: no limit). */
static int read_changed(struct sq_user *s, uint64_t mailbox_id, uint64_t since, uint32_t limit,
			struct store_msg_list *l)
{
	sqlite3_stmt *st = sq_stmt(s, SQL_CHANGED);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)mailbox_id);
	sqlite3_bind_int64(st, 2, (int64_t)since);
	int ret = read_msgs(s, st, l, NULL, limit);
	if (ret > 0 && l->count > 1)
		qsort(l->msgs, l->count, sizeof(*l->msgs), msg_uid_cmp);
	return ret;
}

/* The UIDs expunged after since, ascending; 0 if more than limit. */
static int read_expunged(struct sq_user *s, uint64_t mailbox_id, uint64_t since, uint32_t limit,
			 struct store_uid_array *a)
{
	sqlite3_stmt *st = sq_stmt(s, SQL_EXPUNGED);
	if (st == NULL)
		return -1;
	int rc, ret = 1;
	sqlite3_bind_int64(st, 1, (int64_t)mailbox_id);
	sqlite3_bind_int64(st, 2, (int64_t)since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (limit != 0 && a->count >= limit) {
			ret = 0;
			break;
		}
		if (store_uid_array_push(a, (uint32_t)sqlite3_column_int64(st, 0)) < 0) {
			ret = -1;
			break;
		}
	}
	if (ret > 0 && rc != SQLITE_DONE)
		ret = sq_fail(s, rc, "expunged");
	sqlite3_reset(st);
	if (ret > 0 && a->count > 1)
		qsort(a->uids, a->count, sizeof(*a->uids), uid_cmp);
	return ret;
}

/* The mailbox's counters (kept in its row in the same transactions as
 * the messages). */
struct list_counters {
	uint32_t count, unseen, deleted;
	uint64_t size;
};

static int mailbox_counters(struct sq_user *s, uint64_t mailbox_id, struct list_counters *c)
{
	sqlite3_stmt *st = sq_stmt(s, "SELECT messages, unseen, deleted, size FROM mailbox"
				      " WHERE id = ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)mailbox_id);
	int rc = sqlite3_step(st);
	int ret = 1;
	if (rc == SQLITE_ROW) {
		int64_t count = sqlite3_column_int64(st, 0), unseen = sqlite3_column_int64(st, 1);
		int64_t deleted = sqlite3_column_int64(st, 2), size = sqlite3_column_int64(st, 3);
		if (count < 0 || count > UINT32_MAX || unseen < 0 || unseen > count)
			ret = store_fail(STORE_ERR_CORRUPT, "Mailbox counters out of range");
		c->count = (uint32_t)count;
		c->unseen = (uint32_t)unseen;
		/* Only compared with the list's own sums, never trusted. */
		c->deleted = deleted < 0 || deleted > count ? UINT32_MAX : (uint32_t)deleted;
		c->size = size < 0 ? UINT64_MAX : (uint64_t)size;
	} else {
		ret = rc == SQLITE_DONE ? store_fail(STORE_ERR_NONEXISTENT, "Mailbox does not exist")
					: sq_fail(s, rc, "mailbox counters");
	}
	sqlite3_reset(st);
	return ret;
}

/* True if a whole list agrees with its mailbox row: the counters and
 * UIDNEXT. A list merged from a snapshot that fails this is not used; a
 * list read from the rows that fails it is not written as a snapshot. */
static bool list_matches_row(const struct sq_list_sums *sums, const struct list_counters *c,
			     const struct sq_mailbox *mb)
{
	return sums->ordered && sums->count == c->count && sums->unseen == c->unseen &&
	       sums->deleted == c->deleted && sums->size == c->size &&
	       (sums->count == 0 || sums->max_uid < mb->uidnext) &&
	       sums->max_modseq <= mb->highestmodseq;
}

/* Empties l but keeps its message array (already sized for the mailbox)
 * for a full read after an unusable snapshot. */
static void list_reset_keep_array(struct store_msg_list *l)
{
	for (uint32_t i = 0; i < l->kwset_count; i++)
		free(l->kwsets[i]);
	free(l->kwsets);
	l->kwsets = NULL;
	l->kwset_count = l->kwset_cap = 0;
	l->count = 0;
}

/* SELECT's "first unseen" (IMAP4rev1) before a snapshot is read: the
 * flags of the first rows in UID order, at most FIRST_UNSEEN_SCAN of them
 * (one column of the primary key: cheap, and the same read transaction as
 * the list). Usually an unseen message comes early and SELECT answers at
 * once, as it does while reading the rows; otherwise the head waits for
 * the merged list. 1 found (head called), 0 not within the scan. */
#define FIRST_UNSEEN_SCAN 4096

static int head_first_unseen(struct sq_user *s, uint64_t mailbox_id, struct list_head_state *h)
{
	sqlite3_stmt *st = sq_stmt(s, "SELECT flags FROM message WHERE mailbox_id = ?1"
				      " ORDER BY uid LIMIT ?2");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)mailbox_id);
	sqlite3_bind_int(st, 2, FIRST_UNSEEN_SCAN);
	uint32_t pos = 0;
	int rc, ret = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		pos++;
		if ((sqlite3_column_int(st, 0) & STORE_FLAG_SEEN) == 0) {
			h->head.first_unseen = pos;
			ret = 1;
			break;
		}
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sq_fail(s, rc, "first unseen");
	sqlite3_reset(st);
	if (ret > 0)
		head_call(h);
	return ret;
}

/* How a load used the snapshot, for the write decision after it. */
struct snap_use {
	bool tried;        /* the mailbox is big enough to have one */
	bool merged;       /* the list is the snapshot plus its delta */
	uint32_t delta;    /* rows and tombstones read on top of it */
};

/* Inside the load's read transaction: the snapshot of the mailbox plus
 * the rows and tombstones changed since, checked against the mailbox row.
 * 1: l is the mailbox (sums_r filled); 0: read the rows instead (l is
 * empty, its array kept); -1 error. */
static int load_from_snapshot(struct sq_user *s, const struct sq_mailbox *mb,
			      const struct list_counters *ctr, struct store_msg_list *l,
			      struct sq_list_sums *sums_r, struct snap_use *use)
{
	int r = sq_listsnap_read(s->dir, mb->id, mb->uidvalidity, mb->highestmodseq, mb->uidnext,
				 ctr->count, l);
	if (r <= 0)
		return r;
	uint64_t since = l->highestmodseq;
	/* Past this many changes, reading the rows (and writing a fresh
	 * snapshot) is about as cheap as the delta. */
	uint32_t limit = ctr->count / 8 > 10000 ? ctr->count / 8 : 10000;
	struct store_msg_list changed = { 0 };
	struct store_uid_array expunged = { 0 };
	const char *why = NULL;
	r = read_changed(s, mb->id, since, limit, &changed);
	if (r > 0)
		r = read_expunged(s, mb->id, since, limit, &expunged);
	if (r == 0)
		why = "too many changes";
	if (r > 0) {
		changed.uidvalidity = mb->uidvalidity;
		changed.uidnext = mb->uidnext;
		changed.highestmodseq = mb->highestmodseq;
		use->delta = changed.count + (uint32_t)expunged.count;
		r = sq_listsnap_merge(l, &changed, &expunged);
	}
	if (r > 0)
		r = sq_listsnap_finish(l, sums_r);
	if (r > 0 && !list_matches_row(sums_r, ctr, mb)) {
		/* Some change reached the rows without a modseq or tombstone
		 * after the snapshot's: it must never be used again. */
		why = "does not match the mailbox";
		sq_listsnap_remove(s->dir, mb->id);
		r = 0;
	}
	list_reset_keep_array(&changed);
	free(changed.msgs);
	store_uid_array_free(&expunged);
	if (r > 0) {
		use->merged = true;
		atomic_fetch_add(&sq_listsnap_stats.merged, 1);
		log_debug("list_snapshot_used", "mailbox=%llu messages=%u changes=%u",
			  (unsigned long long)mb->id, l->count, use->delta);
		return 1;
	}
	if (why != NULL) {
		atomic_fetch_add(&sq_listsnap_stats.fallbacks, 1);
		log_info("list_snapshot_fallback", "mailbox=%llu reason=\"%s\"",
			 (unsigned long long)mb->id, why);
	}
	if (r < 0)
		return -1;
	list_reset_keep_array(l);
	return 0;
}

int sq_msg_list_load(struct store_user *u, uint64_t id, bool want_first_unseen,
		     store_msg_list_head_cb *head_cb, void *ctx, struct store_msg_list **list_r)
{
	struct sq_user *s = sq(u);
	struct list_head_state head = {
		.cb = head_cb, .ctx = ctx, .want_first_unseen = want_first_unseen,
	};
	struct list_head_state *h = head_cb != NULL ? &head : NULL;
	struct store_msg_list *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	struct sq_mailbox mb;
	struct list_counters ctr = { 0 };
	struct sq_list_sums sums = { 0 };
	struct snap_use use = { 0 };
	bool summed = false;
	uint32_t snap_min = sq_listsnap_min();

	/* One read transaction: the mailbox row and the messages are one
	 * consistent state even while other processes write. */
	sq_lock(s);
	int ret = sq_exec(s, "BEGIN");
	bool in_tx = ret > 0;
	if (ret > 0)
		ret = mailbox_for_messages(s, id, &mb);
	if (ret > 0)
		ret = mailbox_counters(s, id, &ctr);
	if (ret > 0 && h != NULL) {
		h->head.count = ctr.count;
		h->head.unseen = ctr.unseen;
		h->head.uidvalidity = mb.uidvalidity;
		h->head.uidnext = mb.uidnext;
		h->head.highestmodseq = mb.highestmodseq;
		/* Nothing to look for: the head is complete now. */
		if (!h->want_first_unseen || ctr.unseen == 0 || ctr.count == 0)
			head_call(h);
	}
	if (ret > 0 && snap_min != 0 && ctr.count >= snap_min) {
		use.tried = true;
		if (h != NULL && !h->called)
			ret = head_first_unseen(s, id, h);
		if (ret >= 0)
			ret = load_from_snapshot(s, &mb, &ctr, l, &sums, &use);
		summed = ret > 0;
		if (ret > 0 && h != NULL) {
			h->head.first_unseen = sums.first_unseen;
			head_call(h);
		}
		if (ret == 0)
			ret = 1; /* read the rows below */
	}
	if (ret > 0 && !use.merged) {
		/* Preallocate from the counter: one allocation for big lists
		 * (kept from an unusable snapshot when there was one). */
		if (l->msgs == NULL && ctr.count > 0) {
			l->msgs = malloc((size_t)ctr.count * sizeof(*l->msgs));
			l->cap = l->msgs ? ctr.count : 0;
		}
		sqlite3_stmt *st = sq_stmt(s, SQL_LIST);
		if (st == NULL) {
			ret = -1;
		} else {
			sqlite3_bind_int64(st, 1, (int64_t)id);
			ret = read_msgs(s, st, l, h, 0);
		}
		if (ret > 0 && h != NULL) {
			head_call(h); /* no unseen message after all */
			/* The client is told the counter as EXISTS before the
			 * rows are read: a counter that disagrees with them is
			 * damage. */
			if (l->count != h->head.count)
				ret = store_fail(STORE_ERR_CORRUPT,
						 "Mailbox message counter is wrong; run roost fsck");
		}
		if (ret > 0 && use.tried) {
			ret = sq_listsnap_finish(l, &sums);
			summed = ret > 0;
		}
	}
	if (in_tx)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	sq_unlock(s);
	if (ret < 0) {
		store_msg_list_free(&l);
		return -1;
	}
	l->uidvalidity = mb.uidvalidity;
	l->uidnext = mb.uidnext;
	l->highestmodseq = mb.highestmodseq;

	/* A fresh snapshot after a load that read many rows, before the list
	 * is handed over (the session changes it from then on). Outside the
	 * user's lock: it only reads l, which is one consistent state. */
	if (use.tried && summed && (!use.merged || use.delta >= 10000)) {
		if (list_matches_row(&sums, &ctr, &mb)) {
			struct timespec t0, t1;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			if (sq_listsnap_write(s->dir, id, l) > 0) {
				clock_gettime(CLOCK_MONOTONIC, &t1);
				log_debug("list_snapshot_written", "user=%s mailbox=%llu messages=%u"
					  " us=%lld", u->key, (unsigned long long)id, l->count,
					  (long long)((t1.tv_sec - t0.tv_sec) * 1000000 +
						      (t1.tv_nsec - t0.tv_nsec) / 1000));
			}
		} else {
			log_warn("list_snapshot_skipped", "user=%s mailbox=%llu reason=\"counters"
				 " disagree with the rows; run roost fsck\"", u->key,
				 (unsigned long long)id);
		}
	}
	*list_r = l;
	return 1;
}

int sq_changes_since(struct store_user *u, uint64_t id, uint64_t since,
		     struct store_changes **changes_r)
{
	struct sq_user *s = sq(u);
	struct store_changes *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	struct sq_mailbox mb;
	sq_lock(s);
	int ret = sq_exec(s, "BEGIN");
	bool in_tx = ret > 0;
	if (ret > 0)
		ret = mailbox_for_messages(s, id, &mb);
	if (ret > 0)
		ret = read_changed(s, id, since, 0, &c->changed);
	if (ret > 0)
		ret = read_expunged(s, id, since, 0, &c->expunged);
	if (in_tx)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	sq_unlock(s);
	if (ret < 0) {
		store_changes_free(&c);
		return -1;
	}
	c->changed.uidvalidity = mb.uidvalidity;
	c->changed.uidnext = mb.uidnext;
	c->changed.highestmodseq = mb.highestmodseq;
	*changes_r = c;
	return 1;
}

/* A message stored in the database, as a file descriptor like the others
 * (an anonymous memory file): callers read, map or send it alike. */
static int body_fd(const struct buf *body, int *fd_r)
{
	int fd = memfd_create("roost-message", MFD_CLOEXEC);
	if (fd < 0)
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot open message");
	size_t off = 0;
	while (off < body->len) {
		ssize_t n = write(fd, body->data + off, body->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return store_fail(STORE_ERR_TEMPFAIL, "Cannot open message");
		}
		off += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot open message");
	}
	*fd_r = fd;
	return 1;
}

int sq_msg_open(struct store_user *u, uint64_t blob_id, int *fd_r, uint64_t *size_r)
{
	struct buf body = BUF_INIT(STORE_BLOB_INLINE_MAX);
	int ret = sq_body_read(sq(u), blob_id, &body);
	if (ret > 0) {
		ret = body_fd(&body, fd_r);
		*size_r = body.len;
	}
	buf_free(&body);
	if (ret != 0)
		return ret;
	char path[4096];
	if (sq_blob_path(sq(u), blob_id, path, sizeof(path)) < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("store_msg_open", "path=%s error=\"%s\"", path, strerror(errno));
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot open message");
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return store_fail(STORE_ERR_TEMPFAIL, "Cannot open message");
	}
	*fd_r = fd;
	*size_r = (uint64_t)st.st_size;
	return 1;
}

int sq_msg_cache(struct store_user *u, uint64_t blob_id, struct buf *out)
{
	struct sq_user *s = sq(u);
	int64_t size = 0;
	size_t had = out->len;
	int ret = blob_row_read(s, "SELECT cache, size FROM blob WHERE id = ?1", blob_id, out, &size);
	if (ret <= 0)
		return ret;
	struct mime_cache mc;
	if (out->len > had && mime_cache_open(&mc, out->data + had, out->len - had) > 0)
		return 1;
	buf_truncate(out, had);

	/* Missing or from an older MIME_CACHE_VERSION: rebuild and keep. */
	struct buf cache = BUF_INIT(SQ_CACHE_MAX);
	ret = sq_build_cache_of(s, blob_id, (uint64_t)size, &cache);
	if (ret <= 0) {
		buf_free(&cache);
		return ret;
	}
	sq_lock(s);
	sqlite3_stmt *st = sq_stmt(s, "UPDATE blob SET cache = ?2 WHERE id = ?1");
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, (int64_t)blob_id);
		sqlite3_bind_blob(st, 2, cache.data, (int)cache.len, SQLITE_STATIC);
		/* Best effort: a failure to keep it costs only a re-parse. */
		sqlite3_step(st);
		sqlite3_reset(st);
	}
	sq_unlock(s);
	ret = buf_append(out, cache.data, cache.len) < 0 ?
		store_fail(STORE_ERR_LIMIT, "Cache too large") : 1;
	buf_free(&cache);
	return ret;
}
