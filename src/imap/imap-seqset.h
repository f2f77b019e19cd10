/* imap-seqset.h - IMAP sequence sets and UID sets (RFC 9051 9, "sequence-set").
 *
 * A set is a list of inclusive ranges of 32-bit numbers. It has two forms:
 *
 *  - parsed: what the client wrote, ranges in its order, "*" still
 *    symbolic (stored as 0, which no nz-number can be), "2:4" and "4:2"
 *    both kept as written. Produced by imap_seqset_parse().
 *  - resolved: "*" replaced by the mailbox's largest number, every range
 *    low-to-high, sorted, overlapping and adjacent ranges merged. Produced
 *    by imap_seqset_resolve() or built with imap_seqset_add*(); only this
 *    form may be queried, iterated or formatted.
 *
 * "$" (RFC 5182 SEARCHRES, "the result of the last SEARCH ... SAVE") parses
 * into a set with `last_result` set and no ranges: the caller substitutes
 * the saved result, which only it knows.
 *
 * The set owns its range array (heap); imap_seqset_clear() frees it.
 * Return convention: -1 error, 1 done. */
#ifndef ROOST_IMAP_SEQSET_H
#define ROOST_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/str.h"

/* A client cannot make us hold more ranges than this (a 64 KiB command
 * line holds at most ~16,000 single numbers; sets we build ourselves from
 * mailbox contents are not limited). */
#define IMAP_SEQSET_MAX_PARSED_RANGES 20000

struct imap_seqset_range {
	uint32_t lo, hi; /* inclusive; 0 stands for "*" in the parsed form */
};

struct imap_seqset {
	struct imap_seqset_range *ranges;
	size_t count, cap;
	bool last_result; /* the set was "$" */
	bool resolved;    /* sorted and merged, no "*" left */
};

#define IMAP_SEQSET_INIT ((struct imap_seqset){NULL, 0, 0, false, true})

void imap_seqset_init(struct imap_seqset *set);
/* Frees the ranges; the set is empty (resolved) afterwards and reusable. */
void imap_seqset_clear(struct imap_seqset *set);

/* Parses a sequence-set. "$" is accepted only when allow_last is true
 * (then it must be the whole set). On -1, *error_r is a short reason for
 * a BAD response and set is left empty. set must be initialised; its
 * previous contents are dropped. */
int imap_seqset_parse(struct str text, bool allow_last, struct imap_seqset *set,
                      const char **error_r);

/* True if text is a syntactically valid sequence-set (no "$"). Cheap; used
 * by the SEARCH parser to tell a set from a search key. */
bool imap_seqset_is_syntax(struct str text);

/* Turns a parsed set into the resolved form, with "*" meaning `star` (the
 * number of messages, or the UID of the last message). With star == 0
 * (empty mailbox) a "*" becomes 0, which matches no message. Returns -1
 * only when memory runs out. Idempotent. */
int imap_seqset_resolve(struct imap_seqset *set, uint32_t star);

/* Adds numbers to a resolved set, keeping it resolved. Appending in
 * ascending order is O(1) amortised. -1 when memory runs out. */
int imap_seqset_add_range(struct imap_seqset *set, uint32_t lo, uint32_t hi);
int imap_seqset_add(struct imap_seqset *set, uint32_t n);

/* Copies src (resolved) into dst (previous contents dropped). */
int imap_seqset_copy(struct imap_seqset *dst, const struct imap_seqset *src);

/* Queries on a resolved set. */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n);
bool imap_seqset_is_empty(const struct imap_seqset *set);
uint64_t imap_seqset_count(const struct imap_seqset *set);
uint32_t imap_seqset_min(const struct imap_seqset *set); /* 0 if empty */
uint32_t imap_seqset_max(const struct imap_seqset *set); /* 0 if empty */

/* Iterates a resolved set in ascending order:
 *   struct imap_seqset_iter it = IMAP_SEQSET_ITER_INIT; uint32_t n;
 *   while (imap_seqset_iter_next(set, &it, &n)) ... */
struct imap_seqset_iter {
	size_t range;
	uint64_t next; /* next number within ranges[range]; 0 = start of range */
};
#define IMAP_SEQSET_ITER_INIT ((struct imap_seqset_iter){0, 0})
bool imap_seqset_iter_next(const struct imap_seqset *set, struct imap_seqset_iter *it,
                           uint32_t *n_r);

/* Appends the resolved set as "1:3,5,7:9" (nothing if empty). -1 if the
 * buffer's limit is reached. */
int imap_seqset_format(const struct imap_seqset *set, struct buf *out);

/* --- sets against the selected mailbox (imap-seqset-view.c) ---------- */

struct imap_session;
struct store_uidset;
struct pool;

/* Turns a sequence-set argument of FETCH/STORE/COPY/MOVE/SEARCH into the
 * message sequence numbers it names in the session's view. uid: the text
 * is a UID set (UIDs not in the view are ignored, RFC 9051 6.4.9); else
 * MSNs, where a number beyond the last message (including "*" in an empty
 * mailbox) is an error (RFC 9051 9, seq-number). "$" is the SEARCHRES
 * saved result (RFC 5182), empty when none was saved. 1 ok; -1 with
 * *error_r for a BAD. msns_r must be initialised. */
int imap_seqset_to_msns(struct imap_session *s, struct str text, bool uid,
                        struct imap_seqset *msns_r, const char **error_r);

/* The UIDs of a resolved MSN set, as ranges for the store (allocated from
 * pool). -1 on out of memory. */
int imap_seqset_msns_to_store(struct imap_session *s, const struct imap_seqset *msns,
                              struct pool *pool, struct imap_seqset *uids_r,
                              struct store_uidset *store_r);

#endif
