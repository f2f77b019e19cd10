/* sqlite-listsnap.h - list snapshots: a packed copy of a big mailbox's
 * message list on disk, used as a cache (docs/storage.md, "List
 * snapshots"). SQLite stays the only authority: a snapshot only says
 * "this was the mailbox at HIGHESTMODSEQ m", and the loader
 * (sqlite-message.c) brings it up to date from the rows and tombstones
 * with a modseq above m, checks the result against the mailbox row, and
 * falls back to reading every row whenever anything does not fit.
 *
 * A file per mailbox, data_dir/users/<key>/cache/list-<mailbox id>:
 *
 *   header (struct sq_listsnap_hdr, 56 bytes, host byte order)
 *   count x struct store_msg (40 bytes each, exactly as in memory)
 *   the keyword sets 1..kwset_count-1, each NUL-terminated
 *
 * Written to a temp file in cache/ and renamed over the old one, without
 * fsync: after a crash the file may be short, empty or hold garbage, and
 * the header's checksum and the payload's crc32 find that. A file that
 * fails any check is removed and never trusted.
 *
 * Return convention as in store.h: -1 error, 0 not found / not usable,
 * 1 done. */
#ifndef ROOST_SQLITE_LISTSNAP_H
#define ROOST_SQLITE_LISTSNAP_H

#include <stdatomic.h>
#include <stdint.h>

#include "store.h"

#define SQ_LISTSNAP_MAGIC 0x31534c52u /* "RLS1" read as a little-endian u32 */
#define SQ_LISTSNAP_VERSION 1
/* Default of [store] list_snapshot_min. */
#define SQ_LISTSNAP_MIN_DEFAULT 10000u
/* Keyword strings of one snapshot, at most (a sanity bound). */
#define SQ_LISTSNAP_KW_MAX (64u * 1024 * 1024)

struct sq_listsnap_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t msg_size;       /* sizeof(struct store_msg) */
	uint64_t mailbox_id;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;  /* the state the snapshot reflects */
	uint32_t count;          /* messages */
	uint32_t kwset_count;    /* the list's kwset_count (0 or >= 1: kwsets[0] is "") */
	uint64_t kw_bytes;       /* bytes of keyword strings after the messages */
	uint32_t crc;            /* zlib crc32 of the messages and keyword strings */
	uint32_t hdr_crc;        /* crc32 of the header up to this field */
};

/* What the loader has done, for tests and logs (process-wide). */
struct sq_listsnap_stats {
	atomic_uint reads;      /* snapshots read and accepted by their own checks */
	atomic_uint rejected;   /* files found damaged or not matching, removed */
	atomic_uint written;
	atomic_uint merged;     /* loads answered from a snapshot plus its delta */
	atomic_uint fallbacks;  /* snapshot read but the rows were read anyway */
};
extern struct sq_listsnap_stats sq_listsnap_stats;

/* Smallest mailbox that gets a snapshot: [store] list_snapshot_min, or
 * the default when no config is loaded. 0: snapshots are off. */
uint32_t sq_listsnap_min(void);

/* "dir/cache/list-<id>" into buf; -1 if it does not fit. */
int sq_listsnap_path(const char *user_dir, uint64_t mailbox_id, char *buf, size_t cap);

/* Reads the snapshot of mailbox_id into the empty list l, if there is one
 * for this incarnation: same mailbox id and uidvalidity, a
 * highestmodseq <= max_modseq and a uidnext <= max_uidnext (the mailbox
 * row's current values; a snapshot "from the future" belongs to a
 * database that went back in time). l->msgs gets room for
 * max(count, cap_hint) messages, filled by one read; l->kwsets the
 * keyword sets. l->uidvalidity/uidnext/highestmodseq are the snapshot's.
 * Returns 1 loaded, 0 none usable (a damaged or non-matching file is
 * removed; l stays empty), -1 on OOM (l stays empty). */
int sq_listsnap_read(const char *user_dir, uint64_t mailbox_id, uint32_t uidvalidity,
		     uint64_t max_modseq, uint32_t max_uidnext, uint32_t cap_hint,
		     struct store_msg_list *l);

/* Writes l as mailbox_id's snapshot (temp file in cache/, then rename;
 * cache/ is made when missing). l must be a whole, consistent list (one
 * read transaction). 1 done, -1 on failure (logged; nothing depends on
 * it). */
int sq_listsnap_write(const char *user_dir, uint64_t mailbox_id, const struct store_msg_list *l);

/* Removes mailbox_id's snapshot, or with mailbox_id 0 every file in the
 * user's cache/ (fsck). Missing files are fine. */
void sq_listsnap_remove(const char *user_dir, uint64_t mailbox_id);

/* Brings a list read from a snapshot up to date: every message of
 * `changed` (rows with a modseq above the snapshot's, ascending UIDs,
 * keyword sets in changed's own kwsets) replaces the message with its UID
 * or is inserted in UID order, and every UID of `expunged` (ascending)
 * that has no row in `changed` is removed. Keyword sets are interned
 * into l. 1 done, -1 on OOM (l is then only fit for freeing). */
int sq_listsnap_merge(struct store_msg_list *l, const struct store_msg_list *changed,
		      const struct store_uid_array *expunged);

/* What a list adds up to, to compare with the mailbox row's counters. */
struct sq_list_sums {
	uint32_t count, unseen, deleted;
	uint64_t size;
	uint32_t first_unseen;  /* 1-based position, 0 if none */
	uint32_t max_uid;
	uint64_t max_modseq;
	bool ordered;           /* UIDs strictly ascending, none 0 */
};

/* Renumbers l's keyword sets in order of first use and drops unused ones
 * (so a merged list is the same, index for index, as one read from the
 * rows), and sums it up. 1 done, -1 on OOM (l unchanged). */
int sq_listsnap_finish(struct store_msg_list *l, struct sq_list_sums *sums_r);

#endif
