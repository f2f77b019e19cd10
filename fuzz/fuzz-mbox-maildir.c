/* fuzz-mbox-maildir.c - the Maildir name and index parsers used by
 * `roost import maildir` (file names, dovecot-uidlist/courierimapuiddb
 * and dovecot-keywords lines, modified UTF-7 folder names): every input
 * is untrusted (another server's files).
 *
 * Checks: views stay inside the input, a decoded folder name encodes and
 * decodes back to itself, and mUTF-7 output is always valid input. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cli/maildir.h"
#include "lib/mutf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(struct str view, struct str whole)
{
	return view.len == 0 ||
	       (view.p >= whole.p && view.p + view.len <= whole.p + whole.len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str in = str_make((const char *)data, size);

	struct maildir_name n;
	maildir_name_parse(in, &n);
	assert(inside(n.base, in));
	char info[64];
	size_t ilen = maildir_info_format(n.flags, n.passed, n.keywords, info, sizeof(info));
	assert(ilen < sizeof(info) && strlen(info) == ilen);

	struct maildir_uidlist_header h;
	(void)maildir_uidlist_header_parse(in, &h);
	uint32_t uid;
	struct str base;
	if (maildir_uidlist_record_parse(3, in, &uid, &base) == 1)
		assert(uid != 0 && inside(base, in));
	if (maildir_uidlist_record_parse(1, in, &uid, &base) == 1)
		assert(uid != 0 && inside(base, in));
	unsigned idx;
	struct str kw;
	if (maildir_keywords_line_parse(in, &idx, &kw) == 1)
		assert(idx < MAILDIR_KEYWORDS_MAX && inside(kw, in));

	/* Maildir++ decodes leniently (encoded ASCII allowed); what it
	 * decodes must survive a strict round trip. */
	struct buf u8 = BUF_INIT(0), u7 = BUF_INIT(0), again = BUF_INIT(0);
	if (mutf7_decode(in, MUTF7_ALLOW_ENCODED_ASCII, &u8) > 0) {
		int e = mutf7_encode(buf_str(&u8), &u7);
		assert(e > 0);
		int b = mutf7_decode(buf_str(&u7), 0, &again);
		assert(b > 0 && again.len == u8.len && memcmp(buf_cstr(&again), buf_cstr(&u8), u8.len) == 0);
	}
	buf_free(&u8);
	buf_free(&u7);
	buf_free(&again);
	char utf8[1024], enc[4096], back[1024];
	long f = maildir_folder_to_mailbox(in, utf8, sizeof(utf8));
	if (f > 0) {
		long e = maildir_mailbox_to_folder(str_make(utf8, (size_t)f), enc, sizeof(enc));
		assert(e > 0);
		long b = maildir_folder_to_mailbox(str_make(enc, (size_t)e), back, sizeof(back));
		assert(b == f && memcmp(back, utf8, (size_t)f) == 0);
	}
	return 0;
}
