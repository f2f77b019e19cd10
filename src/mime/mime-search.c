/* mime-search.c - text for IMAP SEARCH (RFC 9051 6.4.4): decoded header
 * values, the UTF-8 text of the text parts, and case-insensitive matching.
 *
 * Matching folds both sides with simple Unicode case folding in the spirit
 * of i;unicode-casemap (RFC 5051): the scripts mail in Roost's users'
 * languages needs (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic,
 * fullwidth Latin) fold to lower case; CJK has no case and is compared as
 * is. */
#include <string.h>

#include "lib/utf8.h"
#include "mime-private.h"
#include "mime.h"

static uint32_t fold_cp(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if (c < 0x100) {
		if (c >= 0xc0 && c <= 0xde && c != 0xd7)
			return c + 32;
		if (c == 0xb5)
			return 0x3bc; /* MICRO SIGN -> GREEK SMALL MU */
		return c;
	}
	if (c < 0x180) {
		if (c == 0x130)
			return 'i';
		if (c == 0x178)
			return 0xff;
		if (c == 0x17f)
			return 's';
		if ((c >= 0x100 && c <= 0x12f) || (c >= 0x132 && c <= 0x137) ||
		    (c >= 0x14a && c <= 0x177))
			return (c & 1) ? c : c + 1;
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
			return (c & 1) ? c + 1 : c;
		return c;
	}
	if (c >= 0x370 && c < 0x400) {
		if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2)
			return c + 32;
		if (c == 0x386)
			return 0x3ac;
		if (c >= 0x388 && c <= 0x38a)
			return c + 37;
		if (c == 0x38c)
			return 0x3cc;
		if (c == 0x38e || c == 0x38f)
			return c + 63;
		if (c == 0x3c2)
			return 0x3c3; /* final sigma folds to sigma */
		return c;
	}
	if (c >= 0x400 && c < 0x530) {
		if (c >= 0x410 && c <= 0x42f)
			return c + 32;
		if (c < 0x410)
			return c + 80;
		if ((c >= 0x460 && c <= 0x481) || (c >= 0x48a && c <= 0x4bf) ||
		    (c >= 0x4d0 && c <= 0x52f))
			return (c & 1) ? c : c + 1;
		if (c == 0x4c0)
			return 0x4cf;
		if (c >= 0x4c1 && c <= 0x4ce)
			return (c & 1) ? c + 1 : c;
		return c;
	}
	if (c >= 0xff21 && c <= 0xff3a)
		return c + 32; /* FULLWIDTH LATIN CAPITAL */
	return c;
}

int mime_casefold_utf8(struct str in, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in.p;
	if (buf_reserve(out, in.len) < 0)
		return -1;
	for (size_t i = 0; i < in.len;) {
		/* ASCII fast path */
		if (p[i] < 0x80) {
			char c = (char)p[i++];
			if (out->len + 1 >= out->cap && buf_reserve(out, 1) < 0)
				return -1;
			out->data[out->len++] = mime_ascii_lower(c);
			continue;
		}
		uint32_t cp;
		size_t n = utf8_decode(p + i, in.len - i, &cp);
		if (n == 0) {
			cp = 0xfffd;
			n = 1;
		}
		i += n;
		out->data[out->len] = '\0';
		if (utf8_append(out, fold_cp(cp)) < 0)
			return -1;
	}
	if (out->data)
		out->data[out->len] = '\0';
	return 1;
}

bool mime_search_contains(struct str hay, struct str needle)
{
	struct mime_search_key k;
	if (mime_search_key_init(&k, needle) < 0)
		return false;
	bool r = mime_search_match(&k, hay);
	mime_search_key_free(&k);
	return r;
}

int mime_search_key_init(struct mime_search_key *k, struct str needle)
{
	k->folded = BUF_INIT(0);
	return mime_casefold_utf8(needle, &k->folded);
}

bool mime_search_match(const struct mime_search_key *k, struct str hay)
{
	if (k->folded.len == 0)
		return true;
	struct buf folded = BUF_INIT(0);
	bool r = false;
	if (mime_casefold_utf8(hay, &folded) > 0)
		r = memmem(folded.data, folded.len, k->folded.data, k->folded.len) != NULL;
	buf_free(&folded);
	return r;
}

void mime_search_key_free(struct mime_search_key *k)
{
	buf_free(&k->folded);
}

/* A charset to read raw 8-bit header text with: the first non-ASCII
 * charset of a text part (mail readers do the same for unlabelled GBK or
 * Big5 headers). */
static struct str header_fallback_charset(const struct mime_cache *c)
{
	struct mime_part_info info;
	for (uint32_t i = 0; i < c->nparts && i < 64; i++) {
		if (mime_cache_part(c, i, &info) <= 0)
			break;
		if (info.charset.len > 0 && !str_eq_nocase(info.charset, STR_LIT("us-ascii")))
			return info.charset;
	}
	return STR_NULL;
}

int mime_header_decoded(const char *msg, size_t len, const struct mime_cache *c,
			const char *field, struct buf *utf8_out)
{
	/* Only the top-level header is read, so a caller may pass just the
	 * message's first header_off + header_len bytes. */
	struct mime_part_info root;
	if (mime_cache_part(c, 0, &root) <= 0 || root.header_off > len ||
	    root.header_len > len - root.header_off)
		return -1;
	struct str header = str_make(msg + root.header_off, root.header_len);
	struct str fallback = header_fallback_charset(c);
	struct str want = str_c(field);
	size_t pos = 0;
	struct str name, value;
	int found = 0;
	while (mime_header_next(header, &pos, &name, &value, NULL) > 0) {
		if (!str_eq_nocase(name, want))
			continue;
		if (found && buf_append_char(utf8_out, '\n') < 0)
			return -1;
		if (mime_decode_header_value(mime_trim_lws(value), fallback, utf8_out) < 0)
			return -1;
		found = 1;
	}
	return found;
}

int mime_body_text_utf8(const char *msg, size_t len, const struct mime_cache *c,
			struct buf *utf8_out)
{
	if (len < c->msg_size)
		return -1;
	struct buf decoded = BUF_INIT(0);
	int r = 1;
	for (uint32_t i = 0; i < c->nparts && r > 0; i++) {
		struct mime_part_info info;
		if (mime_cache_part(c, i, &info) <= 0)
			break;
		if (info.multipart || info.message || !str_eq(info.type, STR_LIT("text")))
			continue;
		buf_reset(&decoded);
		struct str body = str_make(msg + info.body_off, info.body_len);
		if (mime_cte_decode(info.cte, body, &decoded) < 0 ||
		    mime_charset_to_utf8(info.charset, buf_str(&decoded), utf8_out) < 0 ||
		    buf_append_char(utf8_out, '\n') < 0)
			r = -1;
	}
	buf_free(&decoded);
	return r;
}

int mime_header_text_utf8(const char *msg, size_t len, const struct mime_cache *c,
			  struct buf *utf8_out)
{
	struct mime_part_info top;
	if (mime_cache_part(c, 0, &top) <= 0 || top.header_off > len ||
	    top.header_len > len - top.header_off)
		return -1;
	struct str header = str_make(msg + top.header_off, top.header_len);
	/* Raw 8-bit header text (a GBK Subject without RFC 2047) is read in
	 * the message's own charset, as mail readers do. */
	struct str charset = top.charset;
	struct str name, value, raw;
	size_t pos = 0;
	while (mime_header_next(header, &pos, &name, &value, &raw) > 0) {
		if (name.len == 0)
			continue;
		if (buf_append_str(utf8_out, name) < 0 || buf_append_cstr(utf8_out, ": ") < 0 ||
		    mime_decode_header_value(value, charset, utf8_out) < 0 ||
		    buf_append_char(utf8_out, '\n') < 0)
			return -1;
	}
	return 1;
}
