/* imap-fetch-body.c - where the octets of a FETCH section come from.
 *
 * Given a parsed section item and a message's mime cache, decide what to
 * send: a byte range of the message file (streamed straight from the file),
 * a header subset (built in memory: headers are small), a decoded part
 * (BINARY: streamed through a transfer-encoding decoder), or NIL. */
#include "imap/imap-fetch-body.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int imap_fetch_locate(const struct imap_fetch_item *item, const struct mime_cache *cache,
                      uint64_t msg_size, struct imap_fetch_source *src_r, const char **error_r)
{
	struct mime_part_info info;
	memset(src_r, 0, sizeof(*src_r));
	src_r->kind = IMAP_SOURCE_RANGE;
	src_r->cte = MIME_CTE_7BIT;

	if (item->depth == 0 && item->spec == IMAP_SPEC_NONE) {
		/* BODY[] and BINARY[]: the whole message as stored. */
		src_r->off = 0;
		src_r->len = msg_size;
		return 1;
	}
	if (mime_cache_find_part(cache, item->part, item->depth, &info) <= 0) {
		/* A part that does not exist is answered with NIL. */
		src_r->kind = IMAP_SOURCE_NIL;
		return 1;
	}
	switch (item->spec) {
	case IMAP_SPEC_NONE:
		src_r->off = info.body_off;
		src_r->len = info.body_len;
		if (item->kind != IMAP_FETCH_SECTION) {
			/* RFC 3516 / RFC 9051 6.4.5: BINARY is for leaf parts. */
			if (info.multipart || info.message) {
				*error_r = "BINARY is only for leaf body parts";
				return -1;
			}
			if (info.cte == MIME_CTE_OTHER) {
				*error_r = "[UNKNOWN-CTE] Unknown Content-Transfer-Encoding";
				return -1;
			}
			/* Even identity encodings go through the decoder
			 * pass: it finds NULs (8bit/binary parts), which
			 * decide between literal and literal8. */
			src_r->cte = info.cte;
			src_r->kind = IMAP_SOURCE_DECODED;
		}
		break;
	case IMAP_SPEC_MIME:
		src_r->off = info.header_off;
		src_r->len = info.header_len;
		break;
	case IMAP_SPEC_HEADER:
	case IMAP_SPEC_HEADER_FIELDS:
	case IMAP_SPEC_HEADER_FIELDS_NOT:
	case IMAP_SPEC_TEXT:
		/* RFC 9051 6.4.5.1: with a part number these need a
		 * MESSAGE/RFC822 part; on any other part there is no such
		 * text, so the answer is NIL. */
		if (item->depth > 0 && !info.message) {
			src_r->kind = IMAP_SOURCE_NIL;
			return 1;
		}
		if (item->spec == IMAP_SPEC_TEXT) {
			src_r->off = info.msg_body_off;
			src_r->len = info.msg_body_len;
		} else {
			src_r->off = info.msg_header_off;
			src_r->len = info.msg_header_len;
			if (item->spec != IMAP_SPEC_HEADER)
				src_r->kind = IMAP_SOURCE_FILTERED;
		}
		break;
	}
	/* The cache's offsets come from this very file; still, never let a
	 * damaged cache make us read outside it. */
	if (src_r->off > msg_size || src_r->len > msg_size - src_r->off) {
		*error_r = "[CORRUPTION] Message structure does not match the message";
		return -1;
	}
	return 1;
}

int imap_fetch_read_range(int fd, uint64_t off, size_t len, struct buf *out)
{
	if (buf_reserve(out, len) < 0)
		return -1;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, out->data + out->len + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	out->len += len;
	out->data[out->len] = '\0';
	return 1;
}

void imap_fetch_decoder_init(struct imap_fetch_decoder *d, enum mime_cte cte)
{
	memset(d, 0, sizeof(*d));
	d->cte = cte;
	if (cte == MIME_CTE_BASE64)
		mime_b64_dec_init(&d->b64);
	else if (cte == MIME_CTE_QP)
		mime_qp_dec_init(&d->qp);
}

int imap_fetch_decoder_feed(struct imap_fetch_decoder *d, const void *in, size_t len,
                            struct buf *out)
{
	switch (d->cte) {
	case MIME_CTE_BASE64:
		return mime_b64_dec_feed(&d->b64, in, len, out);
	case MIME_CTE_QP:
		return mime_qp_dec_feed(&d->qp, in, len, out);
	default:
		return buf_append(out, in, len);
	}
}

int imap_fetch_decoder_finish(struct imap_fetch_decoder *d, struct buf *out)
{
	switch (d->cte) {
	case MIME_CTE_BASE64:
		return mime_b64_dec_finish(&d->b64, out);
	case MIME_CTE_QP:
		return mime_qp_dec_finish(&d->qp, out);
	default:
		return 1;
	}
}

int imap_fetch_decoded_size(int fd, uint64_t off, uint64_t len, enum mime_cte cte, uint64_t *size_r,
                            bool *has_nul_r)
{
	struct imap_fetch_decoder d;
	struct buf chunk = BUF_INIT(0), out = BUF_INIT(0);
	uint64_t size = 0;
	bool has_nul = false, last = false;
	int ret = 1;
	imap_fetch_decoder_init(&d, cte);
	while (!last) {
		buf_reset(&chunk);
		buf_reset(&out);
		if (len > 0) {
			size_t n = len < IMAP_FETCH_CHUNK ? (size_t)len : IMAP_FETCH_CHUNK;
			if (imap_fetch_read_range(fd, off, n, &chunk) < 0 ||
			    imap_fetch_decoder_feed(&d, chunk.data, n, &out) < 0) {
				ret = -1;
				break;
			}
			off += n;
			len -= n;
		} else {
			if (imap_fetch_decoder_finish(&d, &out) < 0) {
				ret = -1;
				break;
			}
			last = true;
		}
		size += out.len;
		if (!has_nul && out.len > 0 && memchr(out.data, '\0', out.len) != NULL)
			has_nul = true;
	}
	buf_free(&chunk);
	buf_free(&out);
	*size_r = size;
	*has_nul_r = has_nul;
	return ret;
}
