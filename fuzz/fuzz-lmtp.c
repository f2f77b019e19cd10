/* fuzz-lmtp.c - the LMTP parser: lines, commands, paths and DATA.
 *
 * The first input byte picks the chunk size the rest is fed in (1..64),
 * so splits at every position get exercised. Each line goes through the
 * command and path parsers; a line "DATA" switches to message content,
 * a line "BDAT <n> [LAST]" to a chunk of n bytes.
 * Checks: progress is always made, views stay inside the input, the
 * stored data never contains a bare LF. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lmtp/lmtp-parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t step = (data[0] % 64) + 1;
	data++;
	size--;

	struct lmtp_parser p;
	lmtp_parser_init(&p);
	char prev = '\n';
	for (size_t off = 0; off < size;) {
		size_t n = size - off < step ? size - off : step;
		const char *chunk = (const char *)data + off;
		size_t pos = 0;
		while (pos < n) {
			struct lmtp_item item;
			size_t used = 0;
			int ret = lmtp_parser_feed(&p, chunk + pos, n - pos, &used, &item);
			assert(used <= n - pos);
			bool made_progress = used > 0 || ret == 1;
			assert(made_progress);
			pos += used;
			if (ret == 0)
				break;
			if (item.type == LMTP_ITEM_LINE) {
				assert(item.text.len < LMTP_MAX_COMMAND_LINE);
				struct lmtp_command cmd;
				if (!item.too_long && lmtp_command_parse(item.text, &cmd) == 1) {
					struct lmtp_path path;
					const char *err;
					if (cmd.verb == LMTP_VERB_MAIL || cmd.verb == LMTP_VERB_RCPT)
						(void)lmtp_path_parse(cmd.args,
								      cmd.verb == LMTP_VERB_MAIL,
								      &path, &err);
					if (cmd.verb == LMTP_VERB_DATA) {
						lmtp_parser_begin_data(&p);
						prev = '\n';
					}
					uint64_t size;
					bool last;
					if (cmd.verb == LMTP_VERB_BDAT &&
					    lmtp_bdat_parse(cmd.args, &size, &last) == 1) {
						lmtp_parser_message_begin(&p);
						lmtp_parser_begin_chunk(&p, size);
						prev = '\n';
					}
				}
			} else if (item.type == LMTP_ITEM_DATA) {
				for (size_t i = 0; i < item.text.len; i++) {
					if (item.text.p[i] == '\n')
						assert(prev == '\r');
					prev = item.text.p[i];
				}
			}
		}
		off += n;
	}
	return 0;
}
