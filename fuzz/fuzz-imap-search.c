/* fuzz-imap-search: SEARCH arguments through the real command parser into
 * the search program parser, then evaluated against a small message. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imap/imap-parser.h"
#include "imap/imap-search.h"
#include "lib/pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char message[] = "From: =?GBK?B?1tDOxA==?= <a@example.com>\r\n"
                              "Subject: test\r\n"
                              "Date: Sun, 10 Mar 2024 09:00:00 +0000\r\n"
                              "Content-Type: text/plain; charset=gbk\r\n"
                              "\r\n"
                              "\xd6\xd0\xce\xc4 body\r\n";

static struct buf blob;

static int load(void *ctx, const struct store_msg *msg, bool header_only, struct str *text_r,
                struct mime_cache *cache_r)
{
	if (blob.len == 0 && mime_cache_build(message, sizeof(message) - 1, &blob) < 0)
		return -1;
	if (mime_cache_open(cache_r, blob.data, blob.len) < 0)
		return -1;
	/* A header-only load gives just the top-level header, as cmd-search.c
	 * does. */
	struct mime_part_info top;
	size_t len = sizeof(message) - 1;
	if (header_only && mime_cache_part(cache_r, 0, &top) > 0)
		len = top.header_off + top.header_len;
	*text_r = str_make(message, len);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pool *pool = pool_new(4096);
	struct imap_parser parser;
	struct imap_parser_limits limits = {65536, 65536};
	if (imap_parser_init(&parser, pool, &limits) < 0) {
		pool_free(&pool);
		return 0;
	}
	struct buf line = BUF_INIT(0);
	buf_append_cstr(&line, "t SEARCH ");
	buf_append(&line, data, size);
	buf_append_cstr(&line, "\r\n");
	size_t used = 0, consumed;
	enum imap_parse_result r = IMAP_PARSE_MORE;
	while (used < line.len) {
		r = imap_parser_feed(&parser, line.data + used, line.len - used, &consumed);
		used += consumed;
		if (r == IMAP_PARSE_LITERAL) {
			/* As the session does: check the size before collecting. */
			if (imap_parser_literal(&parser)->size > 65536) {
				imap_parser_literal_reject(&parser);
				break;
			}
			imap_parser_literal_collect(&parser);
			continue;
		}
		if (r != IMAP_PARSE_MORE)
			break;
	}
	if (r == IMAP_PARSE_DONE) {
		struct imap_search_program prog;
		const char *err;
		bool badcs;
		if (imap_search_parse(pool, imap_parser_args(&parser), &prog, &err, &badcs) > 0) {
			imap_search_program_resolve(&prog, 3, 30);
			struct store_msg msg = {.uid = 7,
			                        .size = 100,
			                        .flags = STORE_FLAG_SEEN,
			                        .internal_date = 1710000000,
			                        .modseq = 4};
			struct imap_search_msg m;
			struct imap_seqset saved = IMAP_SEQSET_INIT;
			imap_seqset_add(&saved, 7);
			imap_search_msg_init(&m);
			m.load = load;
			m.seq = 2;
			m.msg = &msg;
			m.keywords = "$Junk";
			imap_search_match(&prog, &m, &saved, 1710000000);
			imap_search_msg_free(&m);
			imap_seqset_clear(&saved);
			imap_search_program_free(&prog);
		}
	}
	buf_free(&line);
	imap_parser_deinit(&parser);
	pool_free(&pool);
	return 0;
}
