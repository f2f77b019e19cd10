/* imap-fetch-body.h - locating and decoding FETCH sections in a message.
 *
 * Used by cmd-fetch.c; kept apart so the rules of RFC 9051 6.4.5.1 (which
 * octets a section names) and RFC 3516 (BINARY decoding) can be tested
 * against messages in memory. Return convention: -1 error, 1 done. */
#ifndef ROOST_IMAP_FETCH_BODY_H
#define ROOST_IMAP_FETCH_BODY_H

#include <stdbool.h>
#include <stdint.h>

#include "imap/imap-fetch.h"
#include "mime/mime.h"

/* Bytes read from a message file per step of a streamed body. */
#define IMAP_FETCH_CHUNK (64 * 1024)

enum imap_fetch_source_kind {
	IMAP_SOURCE_NIL,      /* no such part: answer NIL */
	IMAP_SOURCE_RANGE,    /* octets off..off+len of the message file, as is */
	IMAP_SOURCE_FILTERED, /* the header at off..off+len, HEADER.FIELDS[.NOT] applied */
	IMAP_SOURCE_DECODED,  /* off..off+len decoded with cte (BINARY) */
};

struct imap_fetch_source {
	enum imap_fetch_source_kind kind;
	uint64_t off, len;
	enum mime_cte cte;
};

/* Where the item's octets are. -1 with *error_r (text for a tagged NO,
 * possibly with a response code such as [UNKNOWN-CTE]) when the item
 * cannot be answered for this message. */
int imap_fetch_locate(const struct imap_fetch_item *item, const struct mime_cache *cache,
                      uint64_t msg_size, struct imap_fetch_source *src_r, const char **error_r);

/* Appends len octets of fd at off to out. -1 on I/O error, a short file
 * or when out cannot grow. */
int imap_fetch_read_range(int fd, uint64_t off, size_t len, struct buf *out);

/* A transfer-encoding decoder for any cte (identity for 7bit/8bit/binary). */
struct imap_fetch_decoder {
	enum mime_cte cte;
	struct mime_b64_dec b64;
	struct mime_qp_dec qp;
};
void imap_fetch_decoder_init(struct imap_fetch_decoder *d, enum mime_cte cte);
int imap_fetch_decoder_feed(struct imap_fetch_decoder *d, const void *in, size_t len,
                            struct buf *out);
int imap_fetch_decoder_finish(struct imap_fetch_decoder *d, struct buf *out);

/* Decodes off..off+len of fd chunk by chunk without keeping it: the
 * decoded size (BINARY.SIZE, and the literal's length before BINARY
 * streams it) and whether it holds a NUL (then it must go as literal8). */
int imap_fetch_decoded_size(int fd, uint64_t off, uint64_t len, enum mime_cte cte, uint64_t *size_r,
                            bool *has_nul_r);

#endif
