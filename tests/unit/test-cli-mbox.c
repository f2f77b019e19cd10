#include <stdlib.h>
#include <string.h>

#include "cli/mbox.h"
#include "lib/buf.h"
#include "store/store.h"
#include "unit.h"

/* Renders the items of `in` fed `step` bytes at a time (0: at once):
 * "B<from line>|" for BEGIN, data as is, "|E|" for END, "J<n>" for junk. */
static void render(const char *in, size_t len, size_t step, struct buf *out)
{
	struct mbox_parser p;
	mbox_parser_init(&p);
	struct mbox_item item;
	size_t off = 0;
	while (off < len) {
		size_t chunk = step == 0 ? len - off : step;
		if (chunk > len - off)
			chunk = len - off;
		char *tmp = malloc(chunk);
		memcpy(tmp, in + off, chunk);
		size_t pos = 0;
		for (;;) {
			size_t used;
			int ret = mbox_parser_feed(&p, tmp + pos, chunk - pos, &used, &item);
			CHECK(used <= chunk - pos);
			pos += used;
			if (ret == 0)
				break;
			if (item.type == MBOX_ITEM_BEGIN) {
				buf_append_cstr(out, "B");
				buf_append_str(out, item.text);
				buf_append_cstr(out, "|");
			} else if (item.type == MBOX_ITEM_DATA) {
				buf_append_str(out, item.text);
			} else {
				buf_append_cstr(out, "|E|");
			}
		}
		CHECK(pos == chunk);
		free(tmp);
		off += chunk;
	}
	while (mbox_parser_finish(&p, &item) == 1) {
		if (item.type == MBOX_ITEM_BEGIN) {
			buf_append_cstr(out, "B");
			buf_append_str(out, item.text);
			buf_append_cstr(out, "|");
		} else if (item.type == MBOX_ITEM_DATA) {
			buf_append_str(out, item.text);
		} else {
			buf_append_cstr(out, "|E|");
		}
	}
	if (p.junk_bytes)
		buf_printf(out, "J%llu", (unsigned long long)p.junk_bytes);
}

static void check_all_splits(const char *in, const char *expected)
{
	size_t len = strlen(in);
	for (size_t step = 0; step <= len && step <= 20; step++) {
		struct buf out = BUF_INIT(0);
		render(in, len, step, &out);
		if (strcmp(buf_cstr(&out), expected) != 0)
			fprintf(stderr, "  step %zu\n", step);
		CHECK_STREQ(buf_cstr(&out), expected);
		buf_free(&out);
	}
}

TEST(mbox_two_messages)
{
	check_all_splits("From a@b Thu Nov 26 13:40:43 2026\nSubject: 1\n\nbody\n\n"
			 "From c@d Fri Nov 27 01:02:03 2026\nSubject: 2\n\nx\n",
			 "BFrom a@b Thu Nov 26 13:40:43 2026|Subject: 1\n\nbody\n|E|"
			 "BFrom c@d Fri Nov 27 01:02:03 2026|Subject: 2\n\nx\n|E|");
}

TEST(mbox_unescape_and_unsplit)
{
	/* ">From " loses one '>'; a "From " not after an empty line stays. */
	check_all_splits("From a Thu Nov 26 13:40:43 2026\n\n>From x\n>>From y\nFrom z\n>Fro\n\n",
			 "BFrom a Thu Nov 26 13:40:43 2026|\nFrom x\n>From y\nFrom z\n>Fro\n|E|");
}

TEST(mbox_blank_lines_crlf_and_junk)
{
	check_all_splits("junk\nFrom a Thu Nov 26 13:40:43 2026\r\nA\r\n\r\n\r\n\r\n"
			 "From b Thu Nov 26 13:40:43 2026\r\nB",
			 "BFrom a Thu Nov 26 13:40:43 2026|A\r\n\r\n\r\n|E|"
			 "BFrom b Thu Nov 26 13:40:43 2026|B|E|J5");
	check_all_splits("", "");
	check_all_splits("From x", "BFrom x||E|");
}

TEST(mbox_dates)
{
	int64_t t;
	int tz;
	CHECK(mbox_from_line_date(STR_LIT("From a@b Thu Nov 26 13:40:43 2026"), &t, &tz) == 1);
	CHECK(t == 1795700443);
	CHECK(tz == 0);
	CHECK(mbox_from_line_date(STR_LIT("From a@b Thu Nov 26 13:40:43 +0800 2026"), &t, &tz) == 1);
	CHECK(t == 1795700443 - 8 * 3600);
	CHECK(tz == 480);
	CHECK(mbox_from_line_date(STR_LIT("From MAILER-DAEMON Mon Jan  1 00:00 2001"), &t, &tz) == 1);
	CHECK(t == 978307200);
	CHECK(mbox_from_line_date(STR_LIT("From a@b yesterday"), &t, &tz) == -1);
	char line[128];
	size_t n = mbox_from_line_format("a@b", 1795700443, line, sizeof(line));
	CHECK_STREQ(line, "From a@b Thu Nov 26 13:40:43 2026");
	CHECK(n == strlen(line));
	CHECK(mbox_from_line_date(str_make(line, n), &t, &tz) == 1 && t == 1795700443);
}

TEST(mbox_flags)
{
	CHECK(mbox_status_flags(STR_LIT("RO"), STR_LIT("AF")) ==
	      (STORE_FLAG_SEEN | STORE_FLAG_ANSWERED | STORE_FLAG_FLAGGED));
	CHECK(mbox_status_flags(STR_LIT("O"), STR_LIT("")) == 0);
	CHECK(mbox_status_flags(STR_LIT(""), STR_LIT("TD")) ==
	      (STORE_FLAG_DRAFT | STORE_FLAG_DELETED));
}

UNIT_MAIN()
