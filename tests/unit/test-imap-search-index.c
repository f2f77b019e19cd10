/* Unit tests for SEARCH through the search index (which rules messages
 * out; the rest are read and checked): on a generated corpus
 * (UTF-8, GBK and Big5 text; RFC 2047 B and Q words; quoted-printable and
 * base64 bodies; attachments; NUL bytes; Greek, Cyrillic and fullwidth
 * case) every program gives exactly the answer of the scanning search,
 * for needles drawn at random from the decoded texts in random case,
 * short needles (scanned), messages not indexed yet, copies, expunged
 * messages, an fsck rebuild and an index of an older format. */
#include "unit.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "imap/imap-fetch-body.h"
#include "imap/imap-parser.h"
#include "imap/imap-search.h"
#include "lib/pool.h"
#include "test-store-util.h"

/* ---- a deterministic corpus ------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

/* Words: UTF-8, with their GBK / Big5 forms where they have one. */
static const struct {
	const char *utf8, *gbk, *big5;
} words[] = {
	{"quokka", NULL, NULL},
	{"Zebracorn", NULL, NULL},
	{"REPORT", NULL, NULL},
	{"meeting", NULL, NULL},
	{"Budget", NULL, NULL},
	{"\xc3\x9c" "BER", NULL, NULL},                  /* ÜBER */
	{"Stra\xc3\x9f" "e", NULL, NULL},                /* Straße */
	{"\xce\x9c\xce\x95\xce\x93\xce\x91\xce\x9b\xce\x9f", NULL, NULL}, /* ΜΕΓΑΛΟ */
	{"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", NULL, NULL}, /* Привет */
	{"\xef\xbc\xa6\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x8c", NULL, NULL}, /* Ｆｕｌｌ */
	{"\xe4\xb8\xad\xe6\x96\x87", "\xd6\xd0\xce\xc4", "\xa4\xa4\xa4\xe5"}, /* 中文 */
	{"\xe4\xbc\x9a\xe8\xae\xae", "\xbb\xe1\xd2\xe9", NULL},               /* 会议 */
	{"\xe9\x80\x9a\xe7\x9f\xa5", "\xcd\xa8\xd6\xaa", NULL},               /* 通知 */
	{"\xe9\xa1\xb9\xe7\x9b\xae", "\xcf\xee\xc4\xbf", NULL},               /* 项目 */
	{"\xe6\xb8\xac\xe8\xa9\xa6", NULL, "\xb4\xfa\xb8\xd5"},               /* 測試 */
	{"a\"b*c", NULL, NULL},
	{"NEAR(x y)", NULL, NULL},
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static void b64(struct buf *out, const char *p, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = (const unsigned char *)p;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)s[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		buf_append_char(out, tab[(v >> 18) & 63]);
		buf_append_char(out, tab[(v >> 12) & 63]);
		buf_append_char(out, i + 1 < len ? tab[(v >> 6) & 63] : '=');
		buf_append_char(out, i + 2 < len ? tab[v & 63] : '=');
		if (i % 57 == 54)
			buf_append_cstr(out, "\r\n");
	}
}

static void qp(struct buf *out, const char *p, size_t len)
{
	size_t col = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\n') {
			buf_append_cstr(out, "\r\n");
			col = 0;
			continue;
		}
		if (col > 70) {
			buf_append_cstr(out, "=\r\n");
			col = 0;
		}
		if (c >= 0x80 || c == '=' || c < 0x20)
			buf_printf(out, "=%02X", c);
		else
			buf_append_char(out, (char)c);
		col += 3;
	}
}

/* Some words in one charset (0 UTF-8, 1 GBK, 2 Big5) into out. */
static void phrase(struct buf *out, int charset, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned w = rnd(NWORDS);
		const char *s = charset == 1 ? words[w].gbk : charset == 2 ? words[w].big5 :
								    words[w].utf8;
		if (s == NULL)
			s = charset ? "plain" : words[w].utf8;
		if (i)
			buf_append_char(out, rnd(5) ? ' ' : '\n');
		buf_append_cstr(out, s);
	}
}

static void header_words(struct buf *m, const char *name)
{
	struct buf t = BUF_INIT(0);
	int kind = (int)rnd(5);
	phrase(&t, kind == 3 ? 1 : 0, 1 + rnd(4));
	for (size_t i = 0; i < t.len; i++)
		if (t.data[i] == '\n')
			t.data[i] = ' ';
	buf_printf(m, "%s: ", name);
	if (kind == 0) {
		buf_append(m, t.data, t.len); /* raw 8-bit */
	} else if (kind == 1 || kind == 3) {
		buf_printf(m, "=?%s?B?", kind == 3 ? "GBK" : "UTF-8");
		b64(m, t.data, t.len);
		buf_append_cstr(m, "?= tail");
	} else if (kind == 2) {
		buf_append_cstr(m, "=?utf-8?Q?");
		for (size_t i = 0; i < t.len; i++) {
			unsigned char c = (unsigned char)t.data[i];
			if (c == ' ')
				buf_append_char(m, '_');
			else if (c >= 0x80 || c == '?' || c == '=' || c == '_' || c == '"')
				buf_printf(m, "=%02X", c);
			else
				buf_append_char(m, (char)c);
		}
		buf_append_cstr(m, "?=");
	} else {
		buf_append_cstr(m, "plain \"Quoted\" ");
		buf_append(m, t.data, t.len);
	}
	buf_append_cstr(m, "\r\n");
	buf_free(&t);
}

static void text_part(struct buf *m, bool with_header)
{
	int charset = (int)rnd(4) % 3; /* UTF-8 twice as often */
	int cte = (int)rnd(3);         /* 8bit, quoted-printable, base64 */
	if (charset != 0 && cte == 1)
		cte = 2;
	struct buf t = BUF_INIT(0);
	phrase(&t, charset, 3 + rnd(30));
	if (cte == 2 && rnd(4) == 0)
		buf_append(&t, "nul\0byte", 8);
	if (with_header || charset != 0 || cte != 0)
		buf_printf(m, "Content-Type: text/%s; charset=%s\r\n"
			      "Content-Transfer-Encoding: %s\r\n",
			   rnd(4) ? "plain" : "html",
			   charset == 1 ? "gbk" : charset == 2 ? "big5" : "utf-8",
			   cte == 0 ? "8bit" : cte == 1 ? "quoted-printable" : "base64");
	buf_append_cstr(m, "\r\n");
	if (cte == 0)
		buf_append(m, t.data, t.len);
	else if (cte == 1)
		qp(m, t.data, t.len);
	else
		b64(m, t.data, t.len);
	buf_append_cstr(m, "\r\n");
	buf_free(&t);
}

static void make_message(struct buf *m)
{
	buf_reset(m);
	buf_append_cstr(m, "Received: from x by y\r\n");
	header_words(m, "Subject");
	header_words(m, "From");
	header_words(m, "To");
	if (rnd(3) == 0)
		header_words(m, "To");
	if (rnd(2))
		header_words(m, "Cc");
	if (rnd(4) == 0)
		header_words(m, "Bcc");
	if (rnd(3) == 0)
		header_words(m, "X-Custom");
	buf_append_cstr(m, "MIME-Version: 1.0\r\n");
	switch (rnd(4)) {
	case 0:
	case 1:
		text_part(m, false);
		break;
	case 2:
		buf_append_cstr(m, "Content-Type: multipart/alternative; boundary=BB\r\n\r\n--BB\r\n");
		text_part(m, true);
		buf_append_cstr(m, "--BB\r\n");
		text_part(m, true);
		buf_append_cstr(m, "--BB--\r\n");
		break;
	default:
		buf_append_cstr(m, "Content-Type: multipart/mixed; boundary=MM\r\n\r\n--MM\r\n");
		text_part(m, true);
		buf_append_cstr(m, "--MM\r\nContent-Type: application/pdf\r\n"
				   "Content-Transfer-Encoding: base64\r\n\r\n");
		b64(m, "attachonly quokka words", 23);
		buf_append_cstr(m, "\r\n--MM--\r\n");
		break;
	}
}

/* ---- running programs ------------------------------------------------- */

static struct store_user *user;
static struct buf load_text, load_blob;
static unsigned loads;
static bool whole_only; /* the reference: always read the whole file */

static int store_load(void *ctx, const struct store_msg *msg, bool header_only, struct str *text_r,
		      struct mime_cache *cache_r)
{
	int fd;
	uint64_t size;
	loads++;
	int ret = store_msg_open(user, msg->blob_id, &fd, &size);
	if (ret <= 0)
		return ret;
	buf_reset(&load_blob);
	buf_reset(&load_text);
	ret = store_msg_cache(user, msg->blob_id, &load_blob);
	CHECK(ret == 1);
	CHECK(mime_cache_open(cache_r, load_blob.data, load_blob.len) == 1);
	size_t want = (size_t)size;
	struct mime_part_info top;
	if (header_only && !whole_only && mime_cache_part(cache_r, 0, &top) > 0)
		want = top.header_off + top.header_len;
	CHECK(imap_fetch_read_range(fd, 0, want, &load_text) == 1);
	close(fd);
	*text_r = buf_str(&load_text);
	return 1;
}

static struct pool *pool;
static struct imap_parser parser;

static const struct imap_arg *parse_args(const char *line, size_t len)
{
	static bool init;
	struct imap_parser_limits limits = {1 << 20, 1 << 20};
	if (!init) {
		pool = pool_new(8192);
		CHECK(imap_parser_init(&parser, pool, &limits) == 1);
		init = true;
	}
	imap_parser_next(&parser);
	size_t used = 0, consumed;
	enum imap_parse_result r = IMAP_PARSE_MORE;
	while (used < len) {
		r = imap_parser_feed(&parser, line + used, len - used, &consumed);
		used += consumed;
		if (r == IMAP_PARSE_LITERAL) {
			imap_parser_literal_collect(&parser);
			continue;
		}
		if (r != IMAP_PARSE_MORE)
			break;
	}
	return r == IMAP_PARSE_DONE ? imap_parser_args(&parser) : NULL;
}

/* UIDs matching `keys` in list, as text; with_index uses the index. */
static void run(const struct store_msg_list *list, const struct buf *cmd, bool with_index,
		struct buf *out)
{
	buf_reset(out);
	const struct imap_arg *args = parse_args(cmd->data, cmd->len);
	CHECK(args != NULL);
	if (args == NULL)
		return;
	struct imap_search_program prog;
	const char *err;
	bool badcs;
	CHECK(imap_search_parse(pool, args, &prog, &err, &badcs) == 1);
	CHECK(imap_search_program_resolve(&prog, list->count, list->uidnext) == 1);
	struct imap_search_index ix = {0};
	if (with_index)
		CHECK(imap_search_index_prepare(&prog, user, &ix) == 1);
	whole_only = !with_index;
	struct imap_search_msg m;
	imap_search_msg_init(&m);
	m.load = store_load;
	for (uint32_t i = 0; i < list->count; i++) {
		imap_search_msg_reset(&m);
		m.seq = i + 1;
		m.msg = &list->msgs[i];
		m.keywords = "";
		int r = imap_search_match(&prog, &m, NULL, 0);
		CHECK(r >= 0);
		if (r > 0)
			buf_printf(out, " %u", list->msgs[i].uid);
	}
	imap_search_msg_free(&m);
	imap_search_index_free(&prog, &ix);
	imap_search_program_free(&prog);
}

static const char *const forms[] = {
	"SUBJECT", "FROM", "TO", "CC", "BCC", "HEADER subject", "HEADER X-Custom",
	"BODY", "TEXT", "NOT BODY", "OR SUBJECT", "HEADER Received",
};
#define NFORMS (sizeof(forms) / sizeof(forms[0]))

static unsigned compared, nonempty;

/* Checks every form of key with this needle: index == scan. */
static void compare(const struct store_msg_list *list, const char *needle, size_t len)
{
	struct buf cmd = BUF_INIT(0), a = BUF_INIT(0), b = BUF_INIT(0);
	for (size_t f = 0; f < NFORMS; f++) {
		buf_reset(&cmd);
		buf_printf(&cmd, "t SEARCH CHARSET UTF-8 %s {%zu}\r\n", forms[f], len);
		buf_append(&cmd, needle, len);
		if (strcmp(forms[f], "OR SUBJECT") == 0)
			buf_append_cstr(&cmd, " BODY \"zebracorn\"");
		buf_append_cstr(&cmd, "\r\n");
		run(list, &cmd, false, &a);
		run(list, &cmd, true, &b);
		if (strcmp(buf_cstr(&a), buf_cstr(&b)) != 0) {
			fprintf(stderr, "  %s [%.*s]: scan%s / index%s\n", forms[f], (int)len,
				needle, buf_cstr(&a), buf_cstr(&b));
			unit_fail(__FILE__, __LINE__, "index result == scan result");
		}
		compared++;
		nonempty += a.len > 0;
	}
	buf_free(&cmd);
	buf_free(&a);
	buf_free(&b);
}

/* A needle drawn from a message's decoded text: 1..10 characters at a
 * random character boundary, ASCII letters in random case. */
static void random_needle(const struct store_msg_list *list, struct buf *needle)
{
	const struct store_msg *msg = &list->msgs[rnd(list->count)];
	struct str text;
	struct mime_cache cache;
	struct buf t = BUF_INIT(0);
	buf_reset(needle);
	whole_only = true;
	if (store_load(NULL, msg, false, &text, &cache) <= 0)
		return;
	if (rnd(2))
		mime_body_text_utf8(text.p, text.len, &cache, &t);
	else
		mime_header_text_utf8(text.p, text.len, &cache, &t);
	if (t.len == 0) {
		buf_free(&t);
		return;
	}
	size_t start = rnd((unsigned)t.len);
	while (start > 0 && ((unsigned char)t.data[start] & 0xc0) == 0x80)
		start--;
	unsigned chars = 1 + rnd(10);
	size_t end = start;
	while (end < t.len && chars > 0) {
		end++;
		while (end < t.len && ((unsigned char)t.data[end] & 0xc0) == 0x80)
			end++;
		chars--;
	}
	for (size_t i = start; i < end; i++) {
		char c = t.data[i];
		if (c >= 'a' && c <= 'z' && rnd(2))
			c = (char)(c - 32);
		/* a literal may hold anything but NUL; CR/LF are fine in it */
		if (c == '\0')
			c = 'x';
		buf_append_char(needle, c);
	}
	buf_free(&t);
}

static void compare_all(const struct store_msg_list *list, unsigned random_needles)
{
	static const char *const fixed[] = {
		"quokka", "QUOKKA", "zebracorn", "\xe4\xb8\xad\xe6\x96\x87",
		"\xe4\xb8\xad\xe6\x96\x87\xe6\xb8\xac", "\xe4\xbc\x9a\xe8\xae\xae\xe9\x80\x9a",
		"\xc3\xbc" "ber", "STRASSE", "stra\xc3\x9f" "e", "\xce\xbc\xce\xb5\xce\xb3",
		"\xd0\x9f\xd0\xa0\xd0\x98", "\xef\xbd\x86\xef\xbd\x95\xef\xbd\x8c",
		"a\"b*c", "near(x", "attachonly", "nul", "ul\xef\xbf\xbf" "by", "q", "qu",
		"", "plain \"quoted\"", "x by y", "t \"quo",
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		compare(list, fixed[i], strlen(fixed[i]));
	struct buf needle = BUF_INIT(0);
	for (unsigned i = 0; i < random_needles; i++) {
		random_needle(list, &needle);
		if (needle.len > 0)
			compare(list, needle.data, needle.len);
	}
	buf_free(&needle);
}

static void append_corpus(uint64_t mailbox_id, unsigned n)
{
	struct buf m = BUF_INIT(0);
	for (unsigned i = 0; i < n; i++) {
		make_message(&m);
		CHECK(tsu_append(user, mailbox_id, buf_cstr(&m), 0, NULL) > 0);
	}
	buf_free(&m);
}

static struct store_msg_list *load(uint64_t mailbox_id)
{
	struct store_msg_list *list = NULL;
	CHECK(store_msg_list_load(user, mailbox_id, &list) == 1);
	return list;
}

/* How many messages of the list a search reads. For a BODY needle that is
 * in no message: those newer than the index (it rules out all others). */
#define loads_for_body(list) loads_for(list, "BODY quokkazz")

static unsigned loads_for(const struct store_msg_list *list, const char *keys)
{
	struct buf cmd = BUF_INIT(0), out = BUF_INIT(0);
	buf_printf(&cmd, "t SEARCH %s\r\n", keys);
	loads = 0;
	run(list, &cmd, true, &out);
	buf_free(&cmd);
	buf_free(&out);
	return loads;
}

TEST(index_answers_exactly_as_the_scan)
{
	user = tsu_setup();
	CHECK(user != NULL);
	uint64_t inbox = tsu_mailbox(user, "INBOX");
	append_corpus(inbox, 160);
	bool caught_up = false;
	CHECK(store_search_update(user, 0, &caught_up) == 1);
	CHECK(caught_up);
	/* Newer than the index: scanned. */
	append_corpus(inbox, 15);
	struct store_msg_list *list = load(inbox);
	CHECK(list->count == 175);
	CHECK(loads_for_body(list) == 15);
	/* Header fields are answered from the index, short needles too. */
	CHECK(loads_for(list, "SUBJECT q") == 15);
	CHECK(loads_for(list, "OR FROM \"\" CC zebracorn") == 15);
	compare_all(list, 150);

	/* Copies share blobs: found through the index in the copy too. */
	CHECK(store_mailbox_create(user, "Other", 0, NULL) == 1);
	uint64_t other = tsu_mailbox(user, "Other");
	struct store_uid_range r;
	struct store_uidset set = tsu_range(&r, 1, 100);
	struct store_copy_result res = {0};
	CHECK(store_copy(user, inbox, &set, other, false, &res) == 1);
	store_copy_result_free(&res);
	struct store_msg_list *olist = load(other);
	CHECK(olist->count == 100);
	CHECK(loads_for_body(olist) == 0);
	compare_all(olist, 40);

	/* Expunged (the session's list is older): never a hit. A message
	 * whose blob still lives in Other is found as the scan finds it. */
	set = tsu_range(&r, 50, 150);
	CHECK(store_expunge(user, inbox, &set, false, NULL) == 1);
	compare_all(list, 60);
	struct buf cmd = BUF_INIT(0), out = BUF_INIT(0);
	/* Every message has "x by y" (Received): the expunged ones whose
	 * blob is gone are not hits, the rest are. */
	buf_append_cstr(&cmd, "t SEARCH UID 90:175 TEXT \"x by y\"\r\n");
	run(list, &cmd, true, &out);
	struct buf want = BUF_INIT(0);
	for (unsigned uid = 90; uid <= 175; uid++)
		if (uid <= 100 || uid > 150)
			buf_printf(&want, " %u", uid);
	CHECK_STREQ(buf_cstr(&out), buf_cstr(&want));
	buf_free(&want);
	buf_free(&cmd);
	buf_free(&out);
	store_msg_list_free(&list);
	store_msg_list_free(&olist);
	fprintf(stderr, "  %u comparisons, %u with matches\n", compared, nonempty);
	CHECK(nonempty > compared / 4);
	tsu_teardown(&user);
}

TEST(fsck_rebuilds_and_old_formats_are_rebuilt)
{
	user = tsu_setup();
	CHECK(user != NULL);
	uint64_t inbox = tsu_mailbox(user, "INBOX");
	append_corpus(inbox, 40);
	CHECK(store_search_update(user, 0, NULL) == 1);
	struct store_fsck_report rep;
	CHECK(store_fsck("alice", &rep, NULL, NULL) >= 0);
	struct store_msg_list *list = load(inbox);
	CHECK(loads_for_body(list) == 0);
	compare_all(list, 20);

	/* An index of another format (or a damaged state row) is dropped and
	 * made again on the next use. */
	char path[400];
	snprintf(path, sizeof(path), "%s/users/alice/search.db", tsu_dir);
	sqlite3 *db;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "UPDATE search_state SET format = 0", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	CHECK(loads_for_body(list) == 40);
	CHECK(store_search_update(user, 0, NULL) == 1);
	CHECK(loads_for_body(list) == 0);
	compare_all(list, 20);
	store_msg_list_free(&list);
	tsu_teardown(&user);
	buf_free(&load_text);
	buf_free(&load_blob);
}

UNIT_MAIN()
