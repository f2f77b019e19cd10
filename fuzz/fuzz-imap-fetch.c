/* fuzz-imap-fetch: the FETCH item parser, response item naming, sequence
 * sets and HEADER.FIELDS subsetting on arbitrary bytes.
 *
 * Input: the first line is FETCH item text ("(FLAGS BODY[1.HEADER]<0.5>)"),
 * it is also tried as a sequence set; the rest is a header block that the
 * parsed field names are applied to. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imap/imap-fetch.h"
#include "imap/imap-seqset.h"
#include "lib/pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *nl = memchr(p, '\n', size);
	size_t line_len = nl ? (size_t)(nl - p) : size;
	struct str line = str_make(p, line_len);
	struct str rest = nl ? str_make(nl + 1, size - line_len - 1) : STR_NULL;

	struct imap_seqset set = IMAP_SEQSET_INIT;
	const char *err;
	if (imap_seqset_parse(line, true, &set, &err) > 0) {
		imap_seqset_resolve(&set, 1000);
		struct buf b = BUF_INIT(1 << 20);
		imap_seqset_format(&set, &b);
		buf_free(&b);
	}
	imap_seqset_clear(&set);

	struct pool *pool = pool_new(4096);
	struct imap_fetch_request req;
	if (imap_fetch_parse(pool, line, &req, &err) > 0) {
		struct buf out = BUF_INIT(1 << 20);
		for (size_t i = 0; i < req.count; i++) {
			const struct imap_fetch_item *item = &req.items[i];
			imap_fetch_item_name(item, &out);
			if (item->nfields > 0 && rest.p != NULL)
				imap_fetch_filter_header(rest, item->fields, item->nfields,
				                         item->spec == IMAP_SPEC_HEADER_FIELDS_NOT,
				                         &out);
			uint64_t off, len;
			imap_fetch_partial_range(item, rest.len, &off, &len);
			if (off + len > rest.len)
				__builtin_trap();
		}
		buf_free(&out);
	}
	pool_free(&pool);
	return 0;
}
