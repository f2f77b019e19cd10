/* store.h - the mail store: users, mailboxes, messages, changes, quota.
 *
 * Every protocol (IMAP, POP3, LMTP) and the CLI reach stored mail only
 * through this header. Behind it sits one backend, a small table of
 * functions (store-backend.h); the embedded backend (one SQLite database
 * and a directory of immutable message files per user, see
 * docs/storage.md) is the only one today.
 *
 * Return convention (all functions unless stated): -1 error, 0 not found
 * (only where a function says it can return 0), 1 done. On -1 the error
 * is kept in thread-local storage: read it with store_error() on the same
 * thread before the next store call. (A user handle is shared by many
 * sessions on different threads, so "the last error on the handle" would
 * race; per thread it cannot.)
 *
 * Threading: every function is safe to call from any thread. A user's
 * handle serialises its database work internally. Change-bus callbacks
 * run on the committing thread (see store_watch_add).
 *
 * Identifiers:
 *  - user_key: an opaque string from the auth layer, 1..64 bytes of
 *    [a-z0-9._-], not starting with '.'; anything else is refused with
 *    STORE_ERR_BADNAME.
 *  - mailbox id: a 64-bit number that names one incarnation of a mailbox.
 *    It survives RENAME, and is never reused (a deleted-then-recreated
 *    name gets a new id and a new, larger UIDVALIDITY).
 *  - blob id: names one immutable message file; COPY/MOVE make more
 *    messages that share it. Valid while any message references it.
 *
 * Mailbox names are UTF-8 (IMAP converts modified UTF-7 for rev1 clients),
 * '/' is the hierarchy delimiter, "INBOX" is case-insensitive (a first
 * component equal to "inbox" in any case is stored as "INBOX"). A valid
 * name is 1..STORE_MAILBOX_NAME_MAX bytes of valid UTF-8, without control
 * characters, '*' or '%', and without empty components (no leading,
 * trailing or doubled '/'). */
#ifndef ROOST_STORE_H
#define ROOST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct pool;

#define STORE_USER_KEY_MAX 64
#define STORE_MAILBOX_NAME_MAX 1000
/* Bytes of one keyword; IMAP flag-keywords are atoms (no space, no
 * specials, no control characters; validated by store_keyword_valid). */
#define STORE_KEYWORD_MAX 128
/* Distinct keywords on one message. */
#define STORE_KEYWORDS_PER_MSG_MAX 64
/* Largest message kept in the user's database instead of a file of its
 * own (docs/storage.md). */
#define STORE_BLOB_INLINE_MAX 16384
/* Largest message a blob may hold (RFC822.SIZE fits in 32 bits). */
#define STORE_MESSAGE_MAX ((uint64_t)UINT32_MAX)

/* ------------------------------------------------------------------ */
/* errors */

enum store_error {
	STORE_ERR_NONE = 0,
	STORE_ERR_NONEXISTENT,   /* no such user, mailbox or message */
	STORE_ERR_ALREADYEXISTS, /* create/rename target exists */
	STORE_ERR_HASCHILDREN,   /* delete of a \Noselect name with children */
	STORE_ERR_BADNAME,       /* invalid user key, mailbox name or keyword */
	STORE_ERR_OVERQUOTA,     /* append/copy would pass the user's quota */
	STORE_ERR_LIMIT,         /* a size/count limit (message too big, too many keywords) */
	STORE_ERR_NOPERM,        /* not allowed (delete INBOX, select a \Noselect name) */
	STORE_ERR_INUSE,         /* user is open (delete/rename user) or DB busy too long */
	STORE_ERR_TEMPFAIL,      /* disk full, I/O error: try again later */
	STORE_ERR_CORRUPT,       /* the stored data is inconsistent (run roost fsck) */
	STORE_ERR_INTERNAL,      /* a bug or out of memory */
};

/* The calling thread's last error and its human message (never NULL;
 * "" when none). The message is safe to show to the client (no paths). */
enum store_error store_error(const char **msg_r);
/* The IMAP response code for an error ("NONEXISTENT", "ALREADYEXISTS",
 * "HASCHILDREN", "CANNOT", "OVERQUOTA", "LIMIT", "NOPERM", "INUSE",
 * "UNAVAILABLE", "CORRUPTION", "SERVERBUG"); RFC 5530. */
const char *store_error_imap_code(enum store_error err);

/* ------------------------------------------------------------------ */
/* process setup */

/* Opens the store under data_dir (created if missing, mode 0700). Call
 * once per process before anything else. A child of fork() that uses the
 * store calls store_deinit() and store_init() again first: handles open
 * in the parent are not usable in the child. */
int store_init(const char *data_dir, char *err, size_t errcap);
/* Closes everything; every user handle must have been released. */
void store_deinit(void);

/* Cross-process change notification (docs/storage.md, "Change bus").
 * roostd calls this once after store_init: it binds the UNIX datagram
 * socket data_dir/notify.sock and starts one thread that, whenever
 * another process (roost deliver, roost import, roost fsck) commits to a
 * user that is open here, publishes that user's changed mailboxes on the
 * change bus. Processes that do not call it send a datagram to that
 * socket after each commit (ignored if nobody listens). */
int store_notify_listen(char *err, size_t errcap);

/* ------------------------------------------------------------------ */
/* users */

struct store_user;

/* Returns 1 with a handle (refcounted: opening an already-open user
 * returns the same object with one more reference), or -1
 * (STORE_ERR_NONEXISTENT if the user was never created). The handle is
 * small; an idle session should hold just this reference. */
int store_user_open(const char *user_key, struct store_user **u_r);
/* Drops one reference and sets *u to NULL. NULL *u is a no-op. Remove
 * the watches first. After the last reference the handle is parked,
 * still open, so the next store_user_open of the user (the next LMTP
 * delivery) revives it without opening the database again. At most 256
 * handles are parked (the oldest is closed); store_release_idle closes
 * those unused for a while, store_deinit all of them; deleting or
 * renaming the user closes its parked handle. */
void store_user_unref(struct store_user **u);
const char *store_user_key(const struct store_user *u);

/* Creates the user's directory and database, with an empty INBOX
 * (special-use folders are the caller's choice: store_mailbox_create).
 * ALREADYEXISTS if it exists. */
int store_user_create(const char *user_key);
/* Removes the user's directory with all mail. INUSE while this process
 * has the user open. (Another process may still have it open: the caller
 * must make sure the account is disabled first.) */
int store_user_delete(const char *user_key);
/* Renames the user's storage. INUSE while open here, ALREADYEXISTS if the
 * new key exists, NONEXISTENT if the old one does not. */
int store_user_rename(const char *old_key, const char *new_key);
/* 1 if the user's storage exists, 0 if not, -1 on a bad key. */
int store_user_exists(const char *user_key);

/* Closes the database connections of open users that were not used for
 * idle_seconds (they are reopened on the next use), so an idle user costs
 * a few hundred bytes instead of 50-70 KiB. The notify thread of
 * store_notify_listen does this by itself (2 s idle, checked every
 * second); other long-running processes may call it. Returns how many it
 * closed. */
unsigned store_release_idle(unsigned idle_seconds);
/* The same with a threshold in milliseconds. Also closes parked handles
 * (see store_user_unref) unused for idle_ms. */
unsigned store_release_idle_ms(uint64_t idle_ms);

/* Cheap check (one PRAGMA) for commits made by other processes since the
 * last check; if there were, publishes the changed mailboxes on the
 * change bus. IMAP calls it on NOOP/IDLE ticks as a fallback for when
 * store_notify_listen is not running; POP3 need not. */
int store_user_refresh(struct store_user *u);

/* ------------------------------------------------------------------ */
/* mailboxes */

/* Special-use attributes (RFC 6154). */
enum store_special_use {
	STORE_SPECIAL_SENT = 1u << 0,
	STORE_SPECIAL_DRAFTS = 1u << 1,
	STORE_SPECIAL_TRASH = 1u << 2,
	STORE_SPECIAL_JUNK = 1u << 3,
	STORE_SPECIAL_ARCHIVE = 1u << 4,
	STORE_SPECIAL_ALL = 1u << 5,
	STORE_SPECIAL_FLAGGED = 1u << 6,
	STORE_SPECIAL_MASK = 0x7f,
};

/* Mailbox attributes in store_mailbox_info.attrs, besides special-use. */
enum store_mailbox_attr {
	STORE_MBOX_NOSELECT = 1u << 8,    /* exists only as a parent */
	STORE_MBOX_HASCHILDREN = 1u << 9, /* else \HasNoChildren */
	STORE_MBOX_SUBSCRIBED = 1u << 10,
	STORE_MBOX_NONEXISTENT = 1u << 11, /* a subscription without a mailbox */
};

struct store_mailbox_info {
	uint64_t id;           /* 0 for NONEXISTENT subscription entries */
	const char *name;      /* owned by the list (or the caller's buffer) */
	uint32_t attrs;        /* special-use bits | STORE_MBOX_* */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
};

struct store_mailbox_list {
	struct store_mailbox_info *items; /* sorted by name (bytewise, INBOX first) */
	size_t count;
	struct pool *pool;                /* holds the names */
};

/* Every mailbox (selectable or \Noselect) and every subscribed name that
 * does not exist (STORE_MBOX_NONEXISTENT). The caller applies LIST
 * patterns. Free with store_mailbox_list_free. */
int store_mailbox_list(struct store_user *u, struct store_mailbox_list **list_r);
void store_mailbox_list_free(struct store_mailbox_list **list);

/* Looks a name up. Returns 1 and fills info_r (info_r->name points into
 * name_buf, which the caller provides with STORE_MAILBOX_NAME_MAX + 1
 * bytes), 0 if there is no such mailbox (\Noselect ones are found, with
 * STORE_MBOX_NOSELECT set), -1 on error (BADNAME). */
int store_mailbox_lookup(struct store_user *u, const char *name,
			 struct store_mailbox_info *info_r, char *name_buf);

/* Creates a mailbox with the given special-use bits (0 for none) and a
 * new UIDVALIDITY, and any missing parents as selectable mailboxes (RFC
 * 9051 6.3.4). Creating a name that exists as \Noselect makes it
 * selectable (new UIDVALIDITY). ALREADYEXISTS for an existing mailbox
 * (INBOX always exists), BADNAME for an invalid name. *id_r may be NULL. */
int store_mailbox_create(struct store_user *u, const char *name, uint32_t special_use,
			 uint64_t *id_r);

/* RFC 9051 6.3.5. Deleting INBOX is NOPERM; a name that does not exist is
 * NONEXISTENT. A mailbox without children is removed with all its
 * messages. A selectable mailbox WITH children loses all its messages and
 * becomes \Noselect (the RFC's "MAY allow ... sets \Noselect"), so the
 * children stay reachable. A \Noselect mailbox with children is
 * HASCHILDREN. The highest UID of the old incarnation is never reused:
 * a recreated name gets a new, larger UIDVALIDITY. Quota is credited. */
int store_mailbox_delete(struct store_user *u, const char *name);

/* Renames a mailbox and all its children (their ids and UIDVALIDITY
 * stay). Missing parents of the new name are created. Renaming INBOX
 * creates a new mailbox new_name, moves all of INBOX's messages into it
 * (new UIDs there) and leaves INBOX empty (RFC 9051 6.3.6); INBOX's
 * children do not move. ALREADYEXISTS if new_name exists, NONEXISTENT if
 * old_name does not, BADNAME if new_name is inside old_name. */
int store_mailbox_rename(struct store_user *u, const char *old_name, const char *new_name);

/* Subscriptions are names, independent of mailboxes (they may name
 * mailboxes that do not exist; RFC 9051 6.3.7). Subscribing twice or
 * unsubscribing a name that is not subscribed both succeed. */
int store_mailbox_subscribe(struct store_user *u, const char *name, bool subscribe);

/* Sets a mailbox's special-use bits (replacing them). */
int store_mailbox_set_special_use(struct store_user *u, uint64_t mailbox_id, uint32_t special_use);

/* roost import: gives a mailbox that never held a message (UIDNEXT 1)
 * the UIDVALIDITY it had on another server, so clients keep their cache.
 * NOPERM once the mailbox has held messages; BADNAME for 0. UIDVALIDITYs
 * handed out later for this user stay above it. */
int store_mailbox_set_uidvalidity(struct store_user *u, uint64_t mailbox_id, uint32_t uidvalidity);

struct store_status {
	uint32_t messages;
	uint32_t unseen;    /* messages without \Seen */
	uint32_t deleted;   /* messages with \Deleted */
	uint64_t size;      /* sum of RFC822.SIZE (STATUS SIZE, RFC 8438) */
	uint32_t uidnext;
	uint32_t uidvalidity;
	uint64_t highestmodseq;
};

/* O(1): counters are kept in the mailbox row. NONEXISTENT if the mailbox
 * was deleted, NOPERM if it is \Noselect. */
int store_mailbox_status(struct store_user *u, uint64_t mailbox_id, struct store_status *st_r);

/* ------------------------------------------------------------------ */
/* flags */

enum store_flag {
	STORE_FLAG_SEEN = 1u << 0,
	STORE_FLAG_ANSWERED = 1u << 1,
	STORE_FLAG_FLAGGED = 1u << 2,
	STORE_FLAG_DELETED = 1u << 3,
	STORE_FLAG_DRAFT = 1u << 4,
	STORE_FLAG_MASK = 0x1f,
};

/* Keywords travel as one string: keywords separated by single spaces
 * (e.g. "$Forwarded $Junk"), NULL or "" for none. The store validates
 * them (atoms, at most STORE_KEYWORD_MAX bytes, no '\'), drops case-
 * insensitive duplicates keeping the first spelling, and keeps order. */
bool store_keyword_valid(const char *kw, size_t len);

/* ------------------------------------------------------------------ */
/* reading a mailbox */

/* One message as a session keeps it: 40 bytes. */
struct store_msg {
	uint32_t uid;
	uint32_t size;          /* RFC822.SIZE: exact bytes of the file */
	uint32_t kwset;         /* index into the list's kwsets; 0 = no keywords */
	int16_t tz_minutes;     /* internal date's zone offset, e.g. +480 */
	uint8_t flags;          /* enum store_flag bits */
	uint8_t reserved;
	int64_t internal_date;  /* seconds since the epoch, UTC */
	uint64_t modseq;
	uint64_t blob_id;       /* for store_msg_open / store_msg_cache */
};

/* A mailbox's messages, sorted by UID (ascending). Keyword sets are
 * interned: every distinct keyword string appears once in kwsets
 * (kwsets[0] is ""), so memory is ~40 bytes a message plus the distinct
 * keyword sets. */
struct store_msg_list {
	struct store_msg *msgs;
	uint32_t count;
	uint32_t cap;
	char **kwsets;
	uint32_t kwset_count;
	uint32_t kwset_cap;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;  /* consistent with msgs (same transaction) */
};

/* Loads the whole list of a selectable mailbox. NONEXISTENT, NOPERM
 * (\Noselect). Free with store_msg_list_free. */
int store_msg_list_load(struct store_user *u, uint64_t mailbox_id, struct store_msg_list **list_r);
void store_msg_list_free(struct store_msg_list **list);
/* Binary search: index of uid in list->msgs, or -1. */
long store_msg_list_find(const struct store_msg_list *list, uint32_t uid);
/* The keyword string of a message ("" for none). */
const char *store_msg_keywords(const struct store_msg_list *list, const struct store_msg *m);

struct store_uid_array {
	uint32_t *uids;
	size_t count;
	size_t cap;
};
void store_uid_array_free(struct store_uid_array *a);

/* Changes with modseq > since_modseq: `changed` holds every message
 * (new or with changed flags/keywords) whose modseq is > since_modseq
 * (its current state), `expunged` the UIDs expunged after since_modseq
 * (from tombstones, ascending). changed.highestmodseq/uidnext are the
 * mailbox's current values. Free with store_changes_free. */
struct store_changes {
	struct store_msg_list changed;
	struct store_uid_array expunged;
};
int store_changes_since(struct store_user *u, uint64_t mailbox_id, uint64_t since_modseq,
			struct store_changes **changes_r);
void store_changes_free(struct store_changes **changes);

/* Opens a message file read-only. Returns 1 with the fd (the caller
 * closes it) and its size, 0 if the blob no longer exists (the message
 * was expunged by another session: answer as for an expunged message),
 * -1 on error. */
int store_msg_open(struct store_user *u, uint64_t blob_id, int *fd_r, uint64_t *size_r);
/* Appends the text of a message kept in the database (one of up to
 * STORE_BLOB_INLINE_MAX bytes) to out, without a file descriptor: for
 * readers that take the bytes anyway. 1 done, 0 if the message has no
 * text there (it is a file: use store_msg_open; or it is gone), -1
 * error. */
int store_msg_text(struct store_user *u, uint64_t blob_id, struct buf *out);
/* Appends the message's parsed-structure cache (mime_cache_build output)
 * to out. 1 done, 0 if the blob no longer exists, -1 error. */
int store_msg_cache(struct store_user *u, uint64_t blob_id, struct buf *out);

/* ------------------------------------------------------------------ */
/* writing messages */

/* A message body being received: streamed into a temp file in the user's
 * directory (data_dir/users/<key>/tmp/). */
struct store_blob;

/* lf_to_crlf: turn bare LF into CRLF (and a bare CR into CRLF) while
 * writing, so the stored size is exact for RFC822.SIZE and partial
 * fetches. LIMIT once more than STORE_MESSAGE_MAX bytes are written. */
int store_blob_begin(struct store_user *u, bool lf_to_crlf, struct store_blob **blob_r);
int store_blob_write(struct store_blob *blob, const void *data, size_t len);
/* Bytes stored so far (after normalisation). */
uint64_t store_blob_size(const struct store_blob *blob);
/* Removes the temp file and frees; *blob = NULL. NULL is a no-op. */
void store_blob_abort(struct store_blob **blob);

struct store_append_req {
	uint8_t flags;            /* enum store_flag bits */
	const char *keywords;     /* see store_keyword_valid; may be NULL */
	int64_t internal_date;    /* seconds since the epoch; 0: now */
	int16_t tz_minutes;       /* zone offset of internal_date */
	/* 0: the mailbox's next UID. Otherwise (roost import, keeping the
	 * UIDs of another server) this UID, which must be >= the mailbox's
	 * UIDNEXT (ALREADYEXISTS if not); UIDNEXT becomes uid + 1. */
	uint32_t uid;
};

/* Appends one message to a selectable mailbox. The blob is consumed (the
 * pointer is set to NULL) whether it succeeds or not. Durability: the file
 * is renamed into place, then it and its directory are fsync'd, then the
 * rows are inserted and the transaction committed with synchronous=FULL;
 * only then does it return 1. The message gets a new UID and modseq, the
 * mailbox's counters and the user's quota are updated in the same
 * transaction, the mime cache is built and stored. Errors: NONEXISTENT,
 * NOPERM (\Noselect), OVERQUOTA, BADNAME (keyword), LIMIT, TEMPFAIL. */
int store_append(struct store_user *u, uint64_t mailbox_id, struct store_blob **blob,
		 const struct store_append_req *req, uint32_t *uid_r, uint32_t *uidvalidity_r);

/* MULTIAPPEND (RFC 3502): all n messages in one transaction, all or none.
 * uids_r has room for n. Every blob is consumed. */
int store_append_multi(struct store_user *u, uint64_t mailbox_id, struct store_blob **blobs,
		       const struct store_append_req *reqs, unsigned n, uint32_t *uids_r,
		       uint32_t *uidvalidity_r);

/* A UID set: ranges first..last, inclusive (first > last is swapped);
 * ranges may overlap and come in any order. Where a function takes a
 * `const struct store_uidset *`, NULL means every message.
 * The caller resolves "*" to the mailbox's largest UID first (RFC 9051
 * 6.4.9: "n:*" includes the largest UID even when it is below n). UIDs
 * that do not exist are skipped. */
struct store_uid_range {
	uint32_t first, last;
};
struct store_uidset {
	const struct store_uid_range *ranges;
	size_t count;
};

/* COPY/MOVE (UIDPLUS, RFC 4315; MOVE, RFC 6851) within one user: the new
 * messages reference the same files (no byte copy). src_uids and dst_uids
 * are parallel (the i-th source UID became the i-th destination UID),
 * ascending in source UID. A copy keeps flags, keywords and internal
 * date. Moving expunges the sources in the same transaction. OVERQUOTA
 * if the copies would pass the quota (moves do not change usage). */
struct store_copy_result {
	uint32_t dst_uidvalidity;
	struct store_uid_array src_uids;
	struct store_uid_array dst_uids;
};
int store_copy(struct store_user *u, uint64_t src_mailbox_id, const struct store_uidset *uids,
	       uint64_t dst_mailbox_id, bool move, struct store_copy_result *res_r);
void store_copy_result_free(struct store_copy_result *res);

enum store_flags_op { STORE_FLAGS_ADD, STORE_FLAGS_REMOVE, STORE_FLAGS_REPLACE };

/* Result of a flag change. `changed` holds the new state of every message
 * whose flags or keywords actually changed (each with its own new
 * modseq); `failed` the UIDs that failed UNCHANGEDSINCE (RFC 7162 3.1.3:
 * their modseq was > unchangedsince; nothing was changed for them). */
struct store_flags_result {
	struct store_msg_list changed;
	struct store_uid_array failed;
};

/* Adds, removes or replaces system flags and keywords on the given UIDs.
 * unchangedsince: 0 for no test. Messages whose flags would not change
 * are left alone (no modseq bump). */
int store_flags_change(struct store_user *u, uint64_t mailbox_id, const struct store_uidset *uids,
		       enum store_flags_op op, uint8_t flags, const char *keywords,
		       uint64_t unchangedsince, struct store_flags_result *res_r);
void store_flags_result_free(struct store_flags_result *res);

/* Expunges messages: uids NULL means all messages; only_deleted limits to
 * messages with \Deleted (IMAP EXPUNGE / UID EXPUNGE); POP3 DELE passes
 * false. expunged_r (may be NULL) gets the UIDs, ascending. Each gets a
 * tombstone with its modseq; files no longer referenced are removed after
 * the commit; quota is credited. */
int store_expunge(struct store_user *u, uint64_t mailbox_id, const struct store_uidset *uids,
		  bool only_deleted, struct store_uid_array *expunged_r);

/* ------------------------------------------------------------------ */
/* quota */

struct store_quota {
	uint64_t bytes_used;      /* sum of RFC822.SIZE of all messages */
	uint64_t bytes_limit;     /* 0: unlimited */
	uint64_t messages_used;
	uint64_t messages_limit;  /* 0: unlimited */
};
int store_quota_get(struct store_user *u, struct store_quota *q_r);
int store_set_quota(struct store_user *u, uint64_t bytes_limit, uint64_t messages_limit);

/* ------------------------------------------------------------------ */
/* change bus */

/* Called after a commit that changed mailbox_id (messages, flags,
 * expunges, status, rename or delete of the mailbox), with the mailbox's
 * new highest modseq (0 if it was deleted; for renames and creations it
 * is only a hint: re-read the status). Runs on the committing thread (or
 * the notify thread for other processes' commits, or the thread calling
 * store_user_refresh) after the database lock is released but with the
 * user's bus lock held: it must be quick and must not call any store
 * function; forward the news to the session's worker
 * (conn_wakeup_signal) and return. Spurious calls are possible (a session
 * is also told about its own changes). */
typedef void store_watch_cb(void *ctx, uint64_t mailbox_id, uint64_t highestmodseq);

struct store_watch;

/* Subscribe to changes of one mailbox of u, or of every mailbox when
 * mailbox_id is 0 (mailbox creation, deletion and renames are published
 * to those). The watch holds no reference to u; remove it before
 * unref'ing u. */
int store_watch_add(struct store_user *u, uint64_t mailbox_id, store_watch_cb *cb, void *ctx,
		    struct store_watch **watch_r);
/* After this returns the callback is never called again, even if a
 * publish is running concurrently on another thread (it waits for it).
 * Must not be called from inside a callback. NULL *watch is a no-op. */
void store_watch_remove(struct store_watch **watch);

/* ------------------------------------------------------------------ */
/* maintenance (roost fsck) */

struct store_fsck_report {
	unsigned temp_removed;        /* leftover temp files removed */
	unsigned orphans_removed;     /* unreferenced message files and texts removed */
	unsigned missing_files;       /* messages whose file or text is missing (reported, kept) */
	unsigned wrong_size;          /* files or texts whose size differs from the row */
	unsigned blobs_fixed;         /* blob rows whose refcount was wrong */
	unsigned counters_fixed;      /* mailbox counters / quota usage recomputed differently */
	unsigned modseq_fixed;        /* mailboxes whose highestmodseq/uidnext was too low */
	unsigned caches_rebuilt;      /* missing or outdated mime caches rebuilt */
};
/* Checks and repairs one user (see docs/storage.md). Safe to re-run and
 * to run while roostd serves the user (it takes the database's write
 * lock while it works). `log` (may be NULL) gets one line per problem. */
int store_fsck(const char *user_key, struct store_fsck_report *report_r,
	       void (*log)(void *ctx, const char *line), void *log_ctx);
/* Calls fn for each existing user key, in no particular order. */
int store_user_foreach(int (*fn)(void *ctx, const char *user_key), void *ctx);

/* ------------------------------------------------------------------ */
/* opening a big mailbox (SELECT answered before the whole list is read) */

/* What SELECT reports, known before the messages are read. */
struct store_msg_list_head {
	uint32_t count;          /* messages: what the loaded list's count will be */
	uint32_t unseen;         /* messages without \Seen */
	/* Position (1-based) of the first message without \Seen, 0 if none;
	 * only filled when asked for (want_first_unseen). */
	uint32_t first_unseen;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
};

/* Called once by store_msg_list_load_head, on the loading thread, with the
 * user's database lock held and inside the list's read transaction: it
 * must be quick, must not call the store, and should only hand the head
 * over (e.g. conn_wakeup_signal). */
typedef void store_msg_list_head_cb(void *ctx, const struct store_msg_list_head *head);

/* store_msg_list_load, but calls head_cb as soon as the head is known,
 * from the same read snapshot as the list: right after the mailbox row,
 * or with want_first_unseen once the first message without \Seen has
 * been read (or all of them). The rest of the list is read after the
 * callback returns. If it returns 1, the list is exactly the mailbox the
 * head described (list->count == head->count, same UIDNEXT, UIDVALIDITY
 * and HIGHESTMODSEQ); a mailbox whose message counter disagrees with its
 * rows is CORRUPT (run roost fsck). If head_cb was not called, the load
 * failed before the snapshot (NONEXISTENT, NOPERM, TEMPFAIL). */
int store_msg_list_load_head(struct store_user *u, uint64_t mailbox_id, bool want_first_unseen,
			     store_msg_list_head_cb *head_cb, void *ctx,
			     struct store_msg_list **list_r);

/* ------------------------------------------------------------------ */
/* search index (docs/storage.md, "Search index") */

/* What IMAP SEARCH looks in: the decoded, case-folded (mime_casefold_utf8)
 * values of a field (SUBJECT..BCC, as mime_header_decoded gives them), the
 * text parts (BODY, as mime_body_text_utf8), or the header as TEXT reads
 * it (mime_header_text_utf8) plus the text parts (TEXT). */
enum store_search_field {
	STORE_SEARCH_SUBJECT,
	STORE_SEARCH_FROM,
	STORE_SEARCH_TO,
	STORE_SEARCH_CC,
	STORE_SEARCH_BCC,
	STORE_SEARCH_BODY,
	STORE_SEARCH_TEXT,
};

/* The answer for one needle among the blobs with id <= indexed_upto: the
 * live blobs (ascending) whose field contains it (exact), or, for BODY
 * and TEXT, the candidates that MAY contain it: every one that does is
 * among them (a superset: the caller reads and checks each candidate).
 * Blobs with an id above indexed_upto are not indexed yet: the caller
 * checks those messages itself. */
struct store_search_hits {
	uint64_t *blob_ids;
	size_t count, cap;
	uint64_t indexed_upto;
	bool exact;
};

/* True if the index can narrow a search for this (already case-folded)
 * needle: at least 3 characters (trigrams) and no NUL or U+FFFF. Shorter
 * needles must be answered by scanning. */
bool store_search_needle_indexable(const char *needle, size_t len);

/* Indexes the user's messages that are not indexed yet, for at most
 * budget_ms (0: until done). *caught_up_r (may be NULL) tells whether
 * everything is indexed now. Safe to run concurrently with deliveries
 * (it never takes the store's write lock) and with other indexers. */
int store_search_update(struct store_user *u, unsigned budget_ms, bool *caught_up_r);

/* Finds the blobs (SUBJECT..BCC: any needle, exact) or the candidates
 * (BODY, TEXT: a needle that is store_search_needle_indexable) for a
 * case-folded UTF-8 needle in `field`. Free with store_search_hits_free. */
int store_search_find(struct store_user *u, enum store_search_field field, const char *needle,
		      size_t len, struct store_search_hits *hits_r);
/* True for the fields answered exactly, whatever the needle. */
bool store_search_field_exact(enum store_search_field field);
bool store_search_hits_contain(const struct store_search_hits *h, uint64_t blob_id);
void store_search_hits_free(struct store_search_hits *h);

#endif
