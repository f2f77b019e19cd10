/* store-backend.h - what a storage backend implements, and the generic
 * parts of the store it may use (errors, the change bus, blob spooling,
 * message lists). Private to src/store/.
 *
 * store.c validates every argument (user keys, mailbox names, keywords,
 * flags) before calling the backend, keeps the registry of open users
 * (one refcounted struct store_user per user per process) and the change
 * bus. A backend gets already-normalised names and canonical keyword
 * strings, and publishes on the bus after each commit. */
#ifndef ROOST_STORE_BACKEND_H
#define ROOST_STORE_BACKEND_H

#include <pthread.h>

#include "store.h"

struct store_watch {
	struct store_watch *next;
	struct store_user *u;
	uint64_t mailbox_id; /* 0: all */
	store_watch_cb *cb;
	void *ctx;
};

struct store_user {
	char key[STORE_USER_KEY_MAX + 1];
	unsigned refcount;             /* guarded by the registry lock */
	struct store_user *next;       /* registry list */
	/* A handle whose last reference was dropped stays in the registry,
	 * "parked" on an LRU list (registry lock), so the next open of the
	 * user (the next LMTP delivery, the next login) finds its database
	 * connection warm. store_release_idle and the LRU bound close it. */
	bool parked;
	struct store_user *lru_prev, *lru_next;
	int64_t parked_ms;             /* CLOCK_MONOTONIC ms when parked */

	pthread_mutex_t bus_lock;      /* guards watches, held while publishing */
	struct store_watch *watches;

	char *tmp_dir;                 /* where blobs are spooled (backend sets it) */
	void *priv;                    /* the backend's per-user state */
};

/* The blob writer is generic: the message is gathered in buf; one that
 * outgrows it goes to a temp file in u->tmp_dir, named
 * "<pid>.<counter>.<random>" so fsck can tell whether its writer is
 * still alive. */
struct store_blob {
	struct store_user *u;
	int fd;            /* -1 until the temp file is made */
	char *path;
	uint64_t size;     /* bytes in the file + in the buffer */
	bool lf_to_crlf;
	bool pending_cr;   /* a CR was seen, its LF not yet */
	bool failed;       /* a write failed: append refuses it */
	size_t buf_len;
	char buf[STORE_BLOB_INLINE_MAX];
};

/* Flushes buffered bytes (and a pending CR as CRLF) and starts writing
 * the file back to disk; the backend fsyncs it when it installs it, before
 * its commit. */
int store_blob_finish(struct store_blob *blob);
/* After store_blob_finish: true when the whole message is in buf (size
 * bytes) and no file was made. The backend then stores it in its
 * database, with the same commit as the message's row: one sync instead
 * of the file's, its directory's and the commit's. */
bool store_blob_inline(const struct store_blob *blob);

struct store_backend {
	const char *name;
	int (*init)(const char *data_dir, char *err, size_t errcap);
	void (*deinit)(void);

	int (*user_open)(struct store_user *u);   /* sets u->priv, u->tmp_dir */
	void (*user_close)(struct store_user *u);
	int (*user_create)(const char *key);
	int (*user_delete)(const char *key);
	int (*user_rename)(const char *old_key, const char *new_key);
	int (*user_exists)(const char *key);
	int (*user_foreach)(int (*fn)(void *ctx, const char *key), void *ctx);
	int (*user_refresh)(struct store_user *u);
	/* true if a parked handle still names the user's storage on disk
	 * (another process may have deleted, renamed or re-created the user
	 * since it was opened); a stale handle is closed, not revived. */
	bool (*user_current)(struct store_user *u);
	/* Frees what an idle user costs (the database connection) if it was
	 * unused for idle_ms milliseconds; true if it did. Must not block. */
	bool (*user_release)(struct store_user *u, unsigned idle_ms);

	int (*mailbox_list)(struct store_user *u, struct store_mailbox_list **list_r);
	int (*mailbox_lookup)(struct store_user *u, const char *name,
			      struct store_mailbox_info *info_r, char *name_buf);
	int (*mailbox_create)(struct store_user *u, const char *name, uint32_t special_use,
			      uint64_t *id_r);
	int (*mailbox_delete)(struct store_user *u, const char *name);
	int (*mailbox_rename)(struct store_user *u, const char *old_name, const char *new_name);
	int (*mailbox_subscribe)(struct store_user *u, const char *name, bool subscribe);
	int (*mailbox_set_special_use)(struct store_user *u, uint64_t id, uint32_t special_use);
	int (*mailbox_set_uidvalidity)(struct store_user *u, uint64_t id, uint32_t uidvalidity);
	int (*mailbox_status)(struct store_user *u, uint64_t id, struct store_status *st_r);

	/* head_cb may be NULL; see store_msg_list_load_head. */
	int (*msg_list_load)(struct store_user *u, uint64_t id, bool want_first_unseen,
			     store_msg_list_head_cb *head_cb, void *ctx,
			     struct store_msg_list **list_r);
	int (*changes_since)(struct store_user *u, uint64_t id, uint64_t since,
			     struct store_changes **changes_r);
	int (*msg_open)(struct store_user *u, uint64_t blob_id, int *fd_r, uint64_t *size_r);
	int (*msg_cache)(struct store_user *u, uint64_t blob_id, struct buf *out);
	int (*msg_text)(struct store_user *u, uint64_t blob_id, struct buf *out);

	/* Blobs are finished (flushed, write-back started; blob->fd still
	 * open) by store.c before this is called. The backend makes each
	 * file and its directory entry durable (fsync) before its commit;
	 * it owns them from here on but store.c frees them. */
	int (*append)(struct store_user *u, uint64_t id, struct store_blob **blobs,
		      const struct store_append_req *reqs, unsigned n, uint32_t *uids_r,
		      uint32_t *uidvalidity_r);
	int (*copy)(struct store_user *u, uint64_t src_id, const struct store_uidset *uids,
		    uint64_t dst_id, bool move, struct store_copy_result *res_r);
	int (*flags_change)(struct store_user *u, uint64_t id, const struct store_uidset *uids,
			    enum store_flags_op op, uint8_t flags, const char *keywords,
			    uint64_t unchangedsince, struct store_flags_result *res_r);
	int (*expunge)(struct store_user *u, uint64_t id, const struct store_uidset *uids,
		       bool only_deleted, struct store_uid_array *expunged_r);

	int (*quota_get)(struct store_user *u, struct store_quota *q_r);
	int (*set_quota)(struct store_user *u, uint64_t bytes_limit, uint64_t messages_limit);
	int (*fsck)(struct store_user *u, struct store_fsck_report *report_r,
		    void (*log)(void *ctx, const char *line), void *log_ctx);
};

extern const struct store_backend store_backend_sqlite;
/* The embedded backend's search indexer thread (sqlite-search.c): started
 * by store_notify_listen (roostd only), stopped by store_deinit; kick:
 * a user's mail changed (indexed a little later; a no-op elsewhere). */
int sq_search_indexer_start(void);
void sq_search_indexer_stop(void);
void sq_search_kick(struct store_user *u);

/* --- errors --- */

/* Sets the thread's last error; always returns -1 so callers can
 * `return store_fail(...)`. */
int store_fail(enum store_error err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void store_error_clear(void);

/* --- the data directory --- */
const char *store_data_dir(void);

/* --- change bus --- */

/* Calls the watches of (u, mailbox_id) and those of (u, 0). */
void store_bus_publish(struct store_user *u, uint64_t mailbox_id, uint64_t highestmodseq);
/* Tells other processes that u changed (no-op in the listening process). */
void store_notify_send(const struct store_user *u);

/* --- keywords --- */

/* Canonicalises a keyword string: validates each keyword, drops
 * case-insensitive duplicates, joins with single spaces into out (which
 * is reset). -1 with BADNAME/LIMIT set on bad input. */
int store_keywords_canon(const char *in, struct buf *out);
/* Applies op to the canonical set `cur` with the canonical set `arg`,
 * writing the canonical result into out. */
int store_keywords_apply(const char *cur, enum store_flags_op op, const char *arg,
			 struct buf *out);

/* --- message lists --- */

/* Frees what a list holds (messages, keyword sets) and zeroes it; the
 * struct itself stays. */
void store_msg_list_clear(struct store_msg_list *l);

/* Interning of keyword strings while building a list. */
struct store_kw_intern {
	uint32_t *slots;  /* kwset index + 1, 0 empty */
	uint32_t cap;     /* power of two */
};
void store_kw_intern_free(struct store_kw_intern *ki);
/* Adds m to the list with keyword string kw (NULL or "" for none);
 * -1 on OOM (error set). */
int store_msg_list_push(struct store_msg_list *list, struct store_kw_intern *ki,
			const struct store_msg *m, const char *kw);
/* Interns kw (NULL or "" for none: index 0) into the list's kwsets as
 * store_msg_list_push does, without adding a message; *idx_r gets its
 * index. ki may start empty for a list that already has kwsets (it is
 * rebuilt from them on first use). -1 on OOM (error set). */
int store_kw_intern_index(struct store_msg_list *l, struct store_kw_intern *ki, const char *kw,
			  uint32_t *idx_r);

int store_uid_array_push(struct store_uid_array *a, uint32_t uid);

#endif
