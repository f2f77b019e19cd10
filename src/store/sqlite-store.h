/* sqlite-store.h - the embedded backend's private parts, shared by its
 * files (sqlite-user.c: databases, schema, users, quota; sqlite-mailbox.c;
 * sqlite-message.c; sqlite-fsck.c). docs/storage.md describes the layout,
 * the schema and the durability argument. */
#ifndef ROOST_SQLITE_STORE_H
#define ROOST_SQLITE_STORE_H

#include <sqlite3.h>
#include <sys/types.h>

#include "store-backend.h"

#define SQ_STMT_CACHE 64

/* The per-user state behind struct store_user: one connection, used by
 * one thread at a time (lock), closed while the user is idle. */
struct sq_user {
	pthread_mutex_t lock;
	sqlite3 *db;
	char *dir;                /* data_dir/users/<key> */
	/* The statement cache: allocated with the connection, freed when
	 * it closes, so a user whose connection is closed costs little. */
	struct sq_stmt_slot {
		const char *sql;  /* the literal's address is the key */
		sqlite3_stmt *stmt;
	} *stmts;
	unsigned nstmts, cap_stmts;
	int64_t data_version;     /* PRAGMA data_version at the last refresh;
				   * -1 after a reopen (compare everything) */
	int64_t last_used;        /* CLOCK_MONOTONIC ms, set by sq_unlock */
	/* (mailbox id, highestmodseq) as of the last refresh, to know what
	 * other processes changed. */
	struct sq_known {
		uint64_t id, modseq;
	} *known;
	size_t nknown;
	/* store.db's identity when it was last opened: a parked handle is
	 * revived only if the path still names that file. */
	dev_t db_dev;
	ino_t db_ino;
};

static inline struct sq_user *sq(struct store_user *u)
{
	return u->priv;
}

/* "data_dir/users/<key>" into buf. -1 if it does not fit. */
int sq_user_dir(const char *key, char *buf, size_t cap);

/* Locks the user's connection, reopening it if sq_release_idle closed it
 * (s->db is NULL if that failed: sq_stmt then fails with TEMPFAIL). Every
 * backend entry point brackets its work with sq_lock/sq_unlock. */
void sq_lock(struct sq_user *s);
void sq_unlock(struct sq_user *s);
/* Closes the connection if unused for idle_ms and not busy now. */
bool sq_release_idle(struct sq_user *s, unsigned idle_ms);

/* A cached prepared statement, reset and with bindings cleared. NULL with
 * the error set on failure. */
sqlite3_stmt *sq_stmt(struct sq_user *s, const char *sql);
/* Executes a statement without results. */
int sq_exec(struct sq_user *s, const char *sql);

/* BEGIN IMMEDIATE (takes the database's write lock, waiting up to the busy
 * timeout for other processes), COMMIT, ROLLBACK. */
int sq_begin(struct sq_user *s);
int sq_commit(struct sq_user *s);
void sq_rollback(struct sq_user *s);

/* Maps an SQLite result code to a store error, logs it, returns -1. */
int sq_fail(struct sq_user *s, int rc, const char *what);

/* Reads one integer column of a one-row query bound with up to two
 * integers. 1 found, 0 no row, -1 error. */
int sq_get_int(struct sq_user *s, const char *sql, int64_t a, int64_t b, int64_t *r);

/* Path of a message file: <dir>/msg/<2 hex>/<16 hex>. */
int sq_blob_path(struct sq_user *s, uint64_t blob_id, char *buf, size_t cap);
/* fsync a directory. */
int sq_fsync_dir(const char *path);
/* SQLite's memory in its own slabs (sqlite-mem.c): install once before
 * SQLite's first use (1 done, 0 if SQLite was in use already); trim
 * unmaps the slabs that hold nothing, returns the bytes given back. */
int sq_mem_install(void);
size_t sq_mem_trim(void);
/* Creates the 256 msg/<xx> directories of a user directory that are
 * missing and makes them durable (fsync of msg/), so that storing a
 * message never creates a directory. 1 done, -1 on error (errno set). */
int sq_make_msg_dirs(const char *user_dir);
/* Unlinks the files of blobs whose refs dropped to 0, after a commit. */
void sq_unlink_blobs(struct sq_user *s, const uint64_t *ids, size_t n);

/* --- mailbox helpers used by message and mailbox code (lock held) --- */

struct sq_mailbox {
	uint64_t id;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	bool noselect;
};
/* 1 found, 0 not, -1 error. */
int sq_mailbox_get(struct sq_user *s, uint64_t id, struct sq_mailbox *mb_r);
/* A new UIDVALIDITY: larger than any given out before in this database
 * (and normally the current time, so a recreated user starts above its
 * previous incarnation). Inside a transaction. */
int sq_next_uidvalidity(struct sq_user *s, uint32_t *uv_r);
/* Inserts a mailbox row; inside a transaction. */
int sq_mailbox_insert(struct sq_user *s, const char *name, uint32_t special, bool noselect,
		      uint64_t *id_r);
/* Creates every missing parent of name as a selectable mailbox. */
int sq_mailbox_create_parents(struct sq_user *s, const char *name, struct store_user *u,
			      uint64_t **created, size_t *ncreated);

/* Changes the user's quota usage (inside a transaction). */
int sq_quota_add(struct sq_user *s, int64_t bytes, int64_t messages);
/* OVERQUOTA unless bytes/messages more fit (inside a transaction). */
int sq_quota_check(struct sq_user *s, uint64_t bytes, uint64_t messages);

/* Moves messages (all rows in a uid set, or all with only_deleted) out
 * of a mailbox as part of expunge/move/delete, within a transaction.
 * Used by sqlite-message.c and sqlite-mailbox.c. Collects blob ids whose
 * refcount reached 0 into *dead (to unlink after commit). */
struct sq_idvec {
	uint64_t *v;
	size_t n, cap;
};
int sq_idvec_push(struct sq_idvec *a, uint64_t id);
void sq_idvec_free(struct sq_idvec *a);

/* Decrements a blob's refcount; when it reaches 0 deletes the row and
 * adds the id to dead. */
int sq_blob_unref(struct sq_user *s, uint64_t blob_id, struct sq_idvec *dead);

/* Builds the mime cache of a message file (mmap + mime_cache_build). */
int sq_build_cache(const char *path, uint64_t size, struct buf *out);
/* Builds the mime cache of a message, stored in the database or in its
 * file. 1 built, 0 no such message, -1 error. */
int sq_build_cache_of(struct sq_user *s, uint64_t blob_id, uint64_t size, struct buf *out);
/* Appends the text of a message stored in the database (blob_body) to
 * out. 1 done, 0 if it has none (it is a file, or gone), -1 error. Takes
 * the user's lock. */
int sq_body_read(struct sq_user *s, uint64_t blob_id, struct buf *out);

/* Backend entry points implemented in the other files. */
int sq_mailbox_list(struct store_user *u, struct store_mailbox_list **list_r);
int sq_mailbox_lookup(struct store_user *u, const char *name, struct store_mailbox_info *info_r,
		      char *name_buf);
int sq_mailbox_create(struct store_user *u, const char *name, uint32_t special_use,
		      uint64_t *id_r);
int sq_mailbox_delete(struct store_user *u, const char *name);
int sq_mailbox_rename(struct store_user *u, const char *old_name, const char *new_name);
int sq_mailbox_subscribe(struct store_user *u, const char *name, bool subscribe);
int sq_mailbox_set_special_use(struct store_user *u, uint64_t id, uint32_t special_use);
int sq_mailbox_set_uidvalidity(struct store_user *u, uint64_t id, uint32_t uidvalidity);
int sq_mailbox_status(struct store_user *u, uint64_t id, struct store_status *st_r);

int sq_msg_list_load(struct store_user *u, uint64_t id, bool want_first_unseen,
		     store_msg_list_head_cb *head_cb, void *ctx, struct store_msg_list **list_r);
int sq_changes_since(struct store_user *u, uint64_t id, uint64_t since,
		     struct store_changes **changes_r);
int sq_msg_open(struct store_user *u, uint64_t blob_id, int *fd_r, uint64_t *size_r);
int sq_msg_cache(struct store_user *u, uint64_t blob_id, struct buf *out);
int sq_msg_text(struct store_user *u, uint64_t blob_id, struct buf *out);
int sq_append(struct store_user *u, uint64_t id, struct store_blob **blobs,
	      const struct store_append_req *reqs, unsigned n, uint32_t *uids_r,
	      uint32_t *uidvalidity_r);
int sq_copy(struct store_user *u, uint64_t src_id, const struct store_uidset *uids,
	    uint64_t dst_id, bool move, struct store_copy_result *res_r);
int sq_flags_change(struct store_user *u, uint64_t id, const struct store_uidset *uids,
		    enum store_flags_op op, uint8_t flags, const char *keywords,
		    uint64_t unchangedsince, struct store_flags_result *res_r);
int sq_expunge(struct store_user *u, uint64_t id, const struct store_uidset *uids,
	       bool only_deleted, struct store_uid_array *expunged_r);
/* Moves every message of src into dst (new UIDs there), tombstones in
 * src; inside a transaction. For RENAME INBOX. */
int sq_move_all(struct sq_user *s, uint64_t src_id, uint64_t dst_id);
/* Removes every message of a mailbox (no tombstones: the mailbox goes
 * away); inside a transaction. */
int sq_mailbox_purge(struct sq_user *s, uint64_t id, struct sq_idvec *dead);

int sq_fsck(struct store_user *u, struct store_fsck_report *report_r,
	    void (*log)(void *ctx, const char *line), void *log_ctx);

/* Search index (sqlite-search.c). kick: a commit added messages (roostd
 * indexes them a little later; a no-op in other processes). rebuild: drop
 * and re-index everything (roost fsck). */
void sq_search_kick(struct store_user *u);
int sq_search_rebuild(struct store_user *u, unsigned *indexed_r);

#endif
