/* libFuzzer target: arbitrary bytes as a message through mime_cache_build,
 * then every accessor of the blob; also the blob bytes themselves (corrupt
 * cache files) through mime_cache_open and the part accessors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/imap-quote.h"
#include "mime/mime.h"
#include "../tests/unit/test-mime-imapcheck.h"

static void check_str(struct str s)
{
	/* Touch every byte so ASan sees out-of-bounds views. */
	volatile unsigned sum = 0;
	for (size_t i = 0; i < s.len; i++)
		sum += (unsigned char)s.p[i];
	(void)sum;
}

static void exercise_parts(const char *msg, size_t len, const struct mime_cache *c)
{
	struct mime_part_info info;
	struct buf out = BUF_INIT(1 << 24);
	for (uint32_t i = 0; i < c->nparts; i++) {
		if (mime_cache_part(c, i, &info) <= 0)
			continue;
		check_str(info.type);
		check_str(info.subtype);
		check_str(info.charset);
		check_str(info.cte_name);
		if (msg == NULL)
			continue;
		if (info.header_off + info.header_len > len || info.body_off + info.body_len > len)
			abort();
		struct str body = str_make(msg + info.body_off, info.body_len);
		check_str(str_make(msg + info.header_off, info.header_len));
		if (info.message && (info.msg_header_off + info.msg_header_len > len ||
				     info.msg_body_off + info.msg_body_len > len))
			abort();
		buf_reset(&out);
		mime_cte_decode(info.cte, body, &out);
		if (mime_cte_decoded_size(info.cte, body) != out.len)
			abort();
	}
	/* All short sections. */
	uint32_t sec[4];
	for (uint32_t a = 0; a < 4; a++)
		for (uint32_t b = 0; b < 4; b++)
			for (uint32_t d = 0; d < 3; d++) {
				sec[0] = a;
				sec[1] = b;
				sec[2] = d + 1;
				for (size_t depth = 0; depth <= 3; depth++)
					if (mime_cache_find_part(c, sec, depth, &info) > 0 && msg &&
					    info.body_off + info.body_len > len)
						abort();
			}
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	struct buf blob = BUF_INIT(0);
	struct mime_cache c;
	if (mime_cache_build(msg, size, &blob) <= 0)
		abort(); /* only over-size or out of memory may fail */
	if (mime_cache_open(&c, blob.data, blob.len) <= 0)
		abort();
	struct str env = mime_cache_envelope(&c), bs = mime_cache_bodystructure(&c),
		   body = mime_cache_body(&c);
	/* Whatever the input, the strings are well-formed IMAP data. */
	if (!imapcheck(env.p, env.len) || !imapcheck(bs.p, bs.len) || !imapcheck(body.p, body.len))
		abort();
	exercise_parts(msg, size, &c);

	struct buf t = BUF_INIT(1 << 24);
	mime_header_decoded(msg, size, &c, "subject", &t);
	mime_header_decoded(msg, size, &c, "from", &t);
	buf_reset(&t);
	mime_header_text_utf8(msg, size, &c, &t);
	buf_reset(&t);
	mime_body_text_utf8(msg, size, &c, &t);
	mime_search_contains(buf_str(&t), STR_LIT("\xd0\x9f\xd1\x80\xd0\xb8"));
	buf_reset(&t);
	struct str ct;
	struct mime_part_info root;
	if (mime_cache_part(&c, 0, &root) > 0 &&
	    mime_header_find(str_make(msg + root.header_off, root.header_len), "content-type",
			     &ct) > 0)
		mime_param_get_utf8(ct, "name", &t);
	int64_t tm;
	int tz;
	mime_date_parse(str_make(msg, size < 200 ? size : 200), &tm, &tz);

	/* Corrupt blobs: flip bytes of the real blob and reopen. */
	if (size > 4 && blob.len > MIME_CACHE_VERSION) {
		for (size_t k = 0; k < 4; k++) {
			size_t at = (data[k] * 131u + k * 7919u) % blob.len;
			blob.data[at] ^= data[(k + 1) % size];
		}
		if (mime_cache_open(&c, blob.data, blob.len) > 0)
			exercise_parts(NULL, 0, &c);
	}
	buf_free(&t);
	buf_free(&blob);
	return 0;
}
