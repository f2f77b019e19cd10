/* libFuzzer target for the mime decoders and IMAP string output:
 * - base64 and quoted-printable give the same output whole, split at any
 *   point and byte by byte (streaming state is complete);
 * - RFC 2047 / RFC 2231 / charset conversion / case folding always yield
 *   well-formed UTF-8;
 * - imap_append_string / astring / nstring output is well-formed IMAP. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/imap-quote.h"
#include "mime/mime.h"
#include "../tests/unit/test-mime-imapcheck.h"

static bool valid_utf8(const struct buf *b)
{
	const unsigned char *p = (const unsigned char *)b->data;
	size_t i = 0;
	while (i < b->len) {
		unsigned char c = p[i];
		size_t n = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 :
			   (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
		if (n == 0 || b->len - i < n)
			return false;
		for (size_t k = 1; k < n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		i += n;
	}
	return true;
}

static void check_streaming(enum mime_cte cte, const uint8_t *data, size_t size, size_t split)
{
	struct buf whole = BUF_INIT(0), parts = BUF_INIT(0), bytes = BUF_INIT(0);
	mime_cte_decode(cte, str_make((const char *)data, size), &whole);
	if (cte == MIME_CTE_BASE64) {
		struct mime_b64_dec d;
		mime_b64_dec_init(&d);
		mime_b64_dec_feed(&d, data, split, &parts);
		mime_b64_dec_feed(&d, data + split, size - split, &parts);
		mime_b64_dec_finish(&d, &parts);
		mime_b64_dec_init(&d);
		for (size_t i = 0; i < size; i++)
			mime_b64_dec_feed(&d, data + i, 1, &bytes);
		mime_b64_dec_finish(&d, &bytes);
	} else {
		struct mime_qp_dec d;
		mime_qp_dec_init(&d);
		mime_qp_dec_feed(&d, data, split, &parts);
		mime_qp_dec_feed(&d, data + split, size - split, &parts);
		mime_qp_dec_finish(&d, &parts);
		mime_qp_dec_init(&d);
		for (size_t i = 0; i < size; i++)
			mime_qp_dec_feed(&d, data + i, 1, &bytes);
		mime_qp_dec_finish(&d, &bytes);
	}
	if (whole.len != parts.len || whole.len != bytes.len ||
	    (whole.len && (memcmp(whole.data, parts.data, whole.len) != 0 ||
			   memcmp(whole.data, bytes.data, whole.len) != 0)))
		abort();
	if (mime_cte_decoded_size(cte, str_make((const char *)data, size)) != whole.len)
		abort();
	buf_free(&whole);
	buf_free(&parts);
	buf_free(&bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const charsets[] = { "utf-8", "gbk", "gb2312", "gb18030", "big5",
						"iso-8859-1", "iso-2022-jp", "utf-16", "utf-7",
						"shift_jis", "koi8-r", "x-unknown", "" };
	if (size > 8192)
		return 0;
	struct str in = str_make((const char *)data, size);
	size_t split = size ? data[0] % (size + 1) : 0;
	check_streaming(MIME_CTE_BASE64, data, size, split);
	check_streaming(MIME_CTE_QP, data, size, split);

	struct buf out = BUF_INIT(0);
	struct str cs = str_c(charsets[size ? data[size - 1] % 13 : 0]);
	mime_charset_to_utf8(cs, in, &out);
	if (!valid_utf8(&out))
		abort();
	buf_reset(&out);
	mime_decode_header_value(in, cs, &out);
	if (!valid_utf8(&out))
		abort();
	struct buf folded = BUF_INIT(0);
	mime_casefold_utf8(buf_str(&out), &folded);
	if (!valid_utf8(&folded) || !mime_search_contains(buf_str(&out), buf_str(&out)))
		abort();
	buf_reset(&out);
	if (mime_param_get_utf8(in, "name", &out) > 0 && !valid_utf8(&out))
		abort();

	for (unsigned flags = 0; flags < 4; flags++) {
		buf_reset(&out);
		buf_append_char(&out, '(');
		imap_append_string(&out, in, flags);
		buf_append_char(&out, ' ');
		imap_append_nstring(&out, in, flags);
		buf_append_char(&out, ')');
		/* The checker accepts NUL nowhere and 8-bit only in literals:
		 * exactly the rules for a rev1 client (flags 0); with UTF8,
		 * quoted strings may carry UTF-8, so only check flags 0/2. */
		if (!(flags & IMAP_QUOTE_UTF8) && memchr(data, 0, size) == NULL &&
		    !imapcheck(out.data, out.len))
			abort();
		buf_reset(&out);
		imap_append_astring(&out, in, flags);
		if (out.len == 0)
			abort();
	}
	int64_t t;
	int tz;
	mime_date_parse(in, &t, &tz);
	buf_free(&out);
	buf_free(&folded);
	return 0;
}
