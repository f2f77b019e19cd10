/* mime-cache.c - reading the cache blob written by mime_cache_build().
 *
 * The blob may come from disk, so every offset is checked before use: the
 * header and the three IMAP strings in mime_cache_open(), each part record
 * when it is read. Child and sibling links must point forward (the records
 * are in depth-first order), so walking them always terminates. */
#include <string.h>

#include "mime-private.h"
#include "mime.h"

static bool range_ok(size_t off, size_t len, size_t total)
{
	return off <= total && len <= total - off;
}

int mime_cache_open(struct mime_cache *c, const void *blob, size_t len)
{
	const uint8_t *p = blob;
	memset(c, 0, sizeof(*c));
	if (p == NULL || len < MIME_BLOB_HDR || p[0] != MIME_CACHE_VERSION ||
	    memcmp(p + 1, "rmc", 3) != 0)
		return -1;
	uint32_t nparts = mime_get_u32(p + 8);
	if (nparts == 0 || nparts > MIME_MAX_PARTS + 1 ||
	    !range_ok(MIME_BLOB_HDR, (size_t)nparts * MIME_REC_WORDS * 4, len))
		return -1;
	uint32_t f[6];
	for (int i = 0; i < 6; i++)
		f[i] = mime_get_u32(p + 12 + i * 4);
	for (int i = 0; i < 6; i += 2)
		if (!range_ok(f[i], f[i + 1], len) || f[i + 1] == 0)
			return -1;
	c->p = p;
	c->len = len;
	c->msg_size = mime_get_u32(p + 4);
	c->nparts = nparts;
	c->parts_off = MIME_BLOB_HDR;
	c->envelope = str_make((const char *)p + f[0], f[1]);
	c->bodystructure = str_make((const char *)p + f[2], f[3]);
	c->body = str_make((const char *)p + f[4], f[5]);
	return 1;
}

struct str mime_cache_envelope(const struct mime_cache *c)
{
	return c->envelope;
}

struct str mime_cache_bodystructure(const struct mime_cache *c)
{
	return c->bodystructure;
}

struct str mime_cache_body(const struct mime_cache *c)
{
	return c->body;
}

static uint32_t rec_get(const struct mime_cache *c, uint32_t index, enum mime_rec_field f)
{
	return mime_get_u32(c->p + c->parts_off + ((size_t)index * MIME_REC_WORDS + f) * 4);
}

static struct str rec_string(const struct mime_cache *c, uint32_t index, enum mime_rec_field off,
			     enum mime_rec_field len, bool *ok)
{
	uint32_t o = rec_get(c, index, off), l = rec_get(c, index, len);
	if (!range_ok(o, l, c->len)) {
		*ok = false;
		return STR_LIT("");
	}
	return str_make((const char *)c->p + o, l);
}

int mime_cache_part(const struct mime_cache *c, uint32_t index, struct mime_part_info *info)
{
	memset(info, 0, sizeof(*info));
	if (index >= c->nparts)
		return 0;
	bool ok = true;
	info->index = index;
	info->header_off = rec_get(c, index, REC_HEADER_OFF);
	info->header_len = rec_get(c, index, REC_HEADER_LEN);
	info->body_off = rec_get(c, index, REC_BODY_OFF);
	info->body_len = rec_get(c, index, REC_BODY_LEN);
	info->lines = rec_get(c, index, REC_LINES);
	uint32_t flags = rec_get(c, index, REC_FLAGS);
	uint32_t cte = flags >> 8;
	info->cte = cte <= MIME_CTE_OTHER ? (enum mime_cte)cte : MIME_CTE_OTHER;
	info->multipart = (flags & MIME_REC_F_MULTIPART) != 0;
	info->message = (flags & MIME_REC_F_MESSAGE) != 0;
	info->attachment = (flags & MIME_REC_F_ATTACHMENT) != 0;
	info->nchildren = rec_get(c, index, REC_NCHILDREN);
	info->type = rec_string(c, index, REC_TYPE_OFF, REC_TYPE_LEN, &ok);
	info->subtype = rec_string(c, index, REC_SUBTYPE_OFF, REC_SUBTYPE_LEN, &ok);
	info->charset = rec_string(c, index, REC_CHARSET_OFF, REC_CHARSET_LEN, &ok);
	info->cte_name = rec_string(c, index, REC_CTE_OFF, REC_CTE_LEN, &ok);
	/* A corrupt record must not send a caller outside the message. */
	if (!ok || !range_ok(info->header_off, info->header_len, c->msg_size) ||
	    !range_ok(info->body_off, info->body_len, c->msg_size)) {
		memset(info, 0, sizeof(*info));
		return 0;
	}
	if (info->message) {
		/* The encapsulated message's header and body, read directly
		 * (no recursion: a corrupt blob cannot make it deep). */
		uint32_t child = rec_get(c, index, REC_FIRST_CHILD);
		if (child <= index || child >= c->nparts) {
			info->message = false;
		} else {
			info->msg_header_off = rec_get(c, child, REC_HEADER_OFF);
			info->msg_header_len = rec_get(c, child, REC_HEADER_LEN);
			info->msg_body_off = rec_get(c, child, REC_BODY_OFF);
			info->msg_body_len = rec_get(c, child, REC_BODY_LEN);
			if (!range_ok(info->msg_header_off, info->msg_header_len, c->msg_size) ||
			    !range_ok(info->msg_body_off, info->msg_body_len, c->msg_size)) {
				memset(info, 0, sizeof(*info));
				return 0;
			}
		}
	}
	return 1;
}

/* The n-th (1-based) child of a record, or 0 if there is none. */
static uint32_t nth_child(const struct mime_cache *c, uint32_t index, uint32_t n)
{
	uint32_t child = rec_get(c, index, REC_FIRST_CHILD);
	if (child <= index || child >= c->nparts || n == 0)
		return 0;
	for (uint32_t k = 1; k < n; k++) {
		uint32_t next = rec_get(c, child, REC_NEXT_SIBLING);
		if (next <= child || next >= c->nparts)
			return 0;
		child = next;
	}
	return child;
}

int mime_cache_find_part(const struct mime_cache *c, const uint32_t *section, size_t depth,
			 struct mime_part_info *info_r)
{
	uint32_t cur = 0;
	struct mime_part_info info;
	if (mime_cache_part(c, 0, &info) <= 0)
		return 0;
	if (depth == 0) {
		info.msg_header_off = info.header_off;
		info.msg_header_len = info.header_len;
		info.msg_body_off = info.body_off;
		info.msg_body_len = info.body_len;
		*info_r = info;
		return 1;
	}
	for (size_t i = 0; i < depth; i++) {
		uint32_t n = section[i];
		if (n == 0)
			return 0;
		if (info.multipart) {
			cur = nth_child(c, cur, n);
		} else if (info.message && i > 0) {
			/* RFC 9051 6.4.5: the parts of a message/rfc822 part
			 * are those of the encapsulated message; if it is not
			 * multipart, its part 1 is its body. */
			uint32_t inner = nth_child(c, cur, 1);
			struct mime_part_info ii;
			if (inner == 0 || mime_cache_part(c, inner, &ii) <= 0)
				return 0;
			if (ii.multipart)
				cur = nth_child(c, inner, n);
			else
				cur = n == 1 ? inner : 0;
		} else if (i == 0) {
			/* A non-multipart top-level message has only part 1:
			 * its body (with the message header as its MIME
			 * header). This includes a top-level message/rfc822. */
			if (n != 1)
				return 0;
			cur = 0;
			continue;
		} else {
			return 0;
		}
		if (cur == 0 || mime_cache_part(c, cur, &info) <= 0)
			return 0;
	}
	*info_r = info;
	return 1;
}
