/* imap-search.h - SEARCH programs: parsing (RFC 9051 6.4.4, RFC 4731
 * ESEARCH RETURN options, RFC 5182 SEARCHRES, RFC 7162 MODSEQ, RFC 5032
 * OLDER/YOUNGER) and evaluation against one message at a time.
 *
 * The parser works on the argument tree of imap-parser.h and does no I/O.
 * The program is allocated from the caller's pool (the command's); free
 * only what imap_search_program_free() says.
 *
 * Evaluation order: the keys of every AND are sorted at parse time by
 * cost (flags, UIDs, sizes and dates first; header keys next; body and
 * text keys last), and OR tries its cheaper side first, so the message
 * file is opened only for messages that passed every cheap test.
 *
 * Return convention: -1 error, 0 no / not found, 1 yes / done. */
#ifndef ROOST_IMAP_SEARCH_H
#define ROOST_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap-parser.h"
#include "imap/imap-seqset.h"
#include "lib/buf.h"
#include "lib/str.h"
#include "mime/mime.h"
#include "store/store.h"

struct pool;

/* Keys in one program (every key and list counts), and nesting. */
#define IMAP_SEARCH_MAX_KEYS  1000
#define IMAP_SEARCH_MAX_DEPTH 30

enum imap_search_key_type {
	IMAP_SK_ALL,
	IMAP_SK_SEQSET,      /* message sequence numbers */
	IMAP_SK_UIDSET,      /* UID set, or "$" (the saved result, UIDs) */
	IMAP_SK_FLAGS_SET,   /* all `flags` bits set */
	IMAP_SK_FLAGS_UNSET, /* all `flags` bits clear */
	IMAP_SK_KEYWORD,
	IMAP_SK_UNKEYWORD,
	IMAP_SK_RECENT,
	IMAP_SK_LARGER,
	IMAP_SK_SMALLER,
	IMAP_SK_BEFORE, /* internal date, by day */
	IMAP_SK_ON,
	IMAP_SK_SINCE,
	IMAP_SK_SENTBEFORE, /* Date: header, by day */
	IMAP_SK_SENTON,
	IMAP_SK_SENTSINCE,
	IMAP_SK_OLDER, /* internal date, seconds before now (RFC 5032) */
	IMAP_SK_YOUNGER,
	IMAP_SK_MODSEQ, /* modseq >= number (RFC 7162 3.1.5) */
	IMAP_SK_HEADER, /* field contains text (FROM, TO, CC, BCC, SUBJECT too) */
	IMAP_SK_BODY,
	IMAP_SK_TEXT,
	IMAP_SK_NOT,
	IMAP_SK_OR,
	IMAP_SK_AND, /* a parenthesised list, and the program's top */
};

/* Evaluation cost classes. */
enum imap_search_cost {
	IMAP_SEARCH_COST_CHEAP = 0,  /* in the session's message list */
	IMAP_SEARCH_COST_HEADER = 1, /* needs the message's header */
	IMAP_SEARCH_COST_BODY = 2,   /* needs the decoded body text */
};

struct imap_search_key {
	enum imap_search_key_type type;
	enum imap_search_cost cost;
	struct imap_seqset set;           /* SEQSET, UIDSET (heap: freed by program_free) */
	bool saved;                       /* UIDSET is "$" */
	uint8_t flags;                    /* FLAGS_SET / FLAGS_UNSET */
	struct str keyword;               /* KEYWORD / UNKEYWORD */
	uint64_t number;                  /* LARGER/SMALLER/MODSEQ/OLDER/YOUNGER */
	int64_t day;                      /* dates: days since 1970-01-01 */
	const char *field;                /* HEADER: the field name (NUL-terminated) */
	struct str needle;                /* HEADER/BODY/TEXT: case-folded UTF-8 */
	struct imap_search_key *children; /* NOT: 1, OR: 2, AND: nchildren */
	size_t nchildren;
	/* HEADER/BODY/TEXT: the search index's hits (NULL: none, every
	 * message is scanned): set by the caller before evaluation, owned by
	 * the caller. Only candidates and messages whose blob id is above
	 * hits->indexed_upto are read. */
	const struct store_search_hits *hits;
};

/* ESEARCH RETURN options (RFC 4731 3.1, RFC 5182 2). */
enum imap_search_return {
	IMAP_SEARCH_RETURN_MIN = 1 << 0,
	IMAP_SEARCH_RETURN_MAX = 1 << 1,
	IMAP_SEARCH_RETURN_ALL = 1 << 2,
	IMAP_SEARCH_RETURN_COUNT = 1 << 3,
	IMAP_SEARCH_RETURN_SAVE = 1 << 4,
};

struct imap_search_program {
	struct imap_search_key root; /* an AND of the keys given */
	bool has_return;             /* RETURN (...) was given: answer with ESEARCH */
	unsigned return_opts;        /* enum imap_search_return bits; RETURN () = ALL */
	bool uses_modseq;            /* a MODSEQ key: add (MODSEQ n) to the result */
	bool uses_saved;             /* "$" appears */
	bool uses_seqset;            /* a message-sequence-number key appears */
	enum imap_search_cost cost;  /* the most expensive key */
};

/* Parses the arguments of SEARCH / UID SEARCH. On -1, *error_r is the
 * reason; *badcharset_r tells that the error is an unsupported CHARSET
 * (answer NO [BADCHARSET (UTF-8 US-ASCII)], RFC 9051 6.4.4), otherwise it
 * is a BAD. */
int imap_search_parse(struct pool *pool, const struct imap_arg *args,
                      struct imap_search_program *prog_r, const char **error_r, bool *badcharset_r);

/* Frees the heap parts (sequence sets). The pool parts go with the pool. */
void imap_search_program_free(struct imap_search_program *prog);

/* Resolves the "*" of sequence sets: msg_count for MSN sets, last_uid for
 * UID sets. -1 on out of memory. */
int imap_search_program_resolve(struct imap_search_program *prog, uint32_t msg_count,
                                uint32_t last_uid);

/* One message under evaluation. The caller fills the first block; the
 * evaluator loads the content through `load` the first time a header or
 * body key needs it, and keeps derived text in the scratch buffers. */
struct imap_search_msg {
	uint32_t seq;
	const struct store_msg *msg;
	const char *keywords; /* "" for none */
	bool recent;
	/* Loads the message and its mime cache into *text_r and *cache_r,
	 * valid until imap_search_msg_reset or the next load. With
	 * header_only, text_r may hold just the first header_off + header_len
	 * bytes of part 0 (what header keys read); otherwise the whole
	 * message. 1 done, 0 the message is gone (it matches nothing), -1
	 * error. */
	int (*load)(void *ctx, const struct store_msg *msg, bool header_only, struct str *text_r,
	            struct mime_cache *cache_r);
	void *load_ctx;

	/* evaluator state */
	int loaded; /* 0 not yet, 1 header loaded, 2 all loaded, -1 failed, -2 gone */
	struct str text;
	struct mime_cache cache;
	bool have_body, have_sent;
	struct buf body_folded; /* decoded, case-folded text of all text parts */
	struct buf scratch, scratch2;
	int64_t sent_day;
	bool sent_valid;
};

/* Prepares a message context (call once, then imap_search_msg_reset for
 * every next message); imap_search_msg_free releases the buffers. */
void imap_search_msg_init(struct imap_search_msg *m);
void imap_search_msg_reset(struct imap_search_msg *m);
void imap_search_msg_free(struct imap_search_msg *m);

/* Evaluates the program for one message. saved is the SEARCHRES result
 * (UIDs; NULL if none was saved: "$" then matches nothing). now is the
 * current time for OLDER/YOUNGER. 1 match, 0 no match, -1 error (out of
 * memory or the load failed). */
int imap_search_match(const struct imap_search_program *prog, struct imap_search_msg *m,
                      const struct imap_seqset *saved, int64_t now);

/* The search index (store_search_find) answers HEADER keys on Subject,
 * From, To, Cc and Bcc (any needle) without reading messages, and
 * narrows BODY and TEXT keys whose needle has at least three characters
 * down to candidates, which are then read and checked. Other keys read
 * every message (header keys only its header). */
struct imap_search_index {
	struct store_search_hits *hits; /* one per answered key */
	size_t count;
};

/* True if some key of the program can be answered by the index. */
bool imap_search_index_useful(const struct imap_search_program *prog);

/* Looks up every key the index can answer or narrow and points the key
 * at its hits (imap_search_match then reads only candidates and the
 * messages newer than the index).
 * On -1 (store error set) no key uses the index; free ix_r either way.
 * The caller brings the index up to date first (store_search_update) if
 * it wants fewer messages scanned. */
int imap_search_index_prepare(struct imap_search_program *prog, struct store_user *u,
                              struct imap_search_index *ix_r);
/* Detaches the keys from the hits and frees them. */
void imap_search_index_free(struct imap_search_program *prog, struct imap_search_index *ix);

/* Parses an IMAP date ("1-Feb-1994", RFC 9051 9 date-text) into days since
 * the epoch. 1 ok, -1 invalid. */
int imap_search_parse_date(struct str s, int64_t *day_r);

#endif
