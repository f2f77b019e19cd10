/* imap-search-eval.c - matching one message against a SEARCH program.
 *
 * Cheap keys read only the session's message list (struct store_msg).
 * Header and body keys load the message through the caller's loader the
 * first time one is reached, decode it (RFC 2047 words, transfer
 * encodings, charsets such as GBK and Big5) to UTF-8 with the MIME
 * layer's helpers, case-fold it and look for the case-folded needle, so
 * "SEARCH CHARSET UTF-8 BODY 中文" finds a GB2312 message. The decoded
 * body is kept for the rest of this message's evaluation. */
#include "imap/imap-search.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Decoded text of one message never grows past this. */
#define SEARCH_TEXT_MAX ((size_t)256 * 1024 * 1024)

void imap_search_msg_init(struct imap_search_msg *m)
{
	memset(m, 0, sizeof(*m));
	buf_init(&m->body_folded, SEARCH_TEXT_MAX);
	buf_init(&m->scratch, SEARCH_TEXT_MAX);
	buf_init(&m->scratch2, SEARCH_TEXT_MAX);
}

void imap_search_msg_reset(struct imap_search_msg *m)
{
	m->loaded = 0;
	m->text = STR_NULL;
	m->have_body = false;
	m->have_sent = false;
	m->sent_valid = false;
	buf_reset(&m->body_folded);
	buf_reset(&m->scratch);
	buf_reset(&m->scratch2);
}

void imap_search_msg_free(struct imap_search_msg *m)
{
	buf_free(&m->body_folded);
	buf_free(&m->scratch);
	buf_free(&m->scratch2);
}

/* Loads what a key needs: the top-level header, or (need_all) the whole
 * message. 1 loaded, 0 the message is gone, -1 error. */
static int ensure_loaded(struct imap_search_msg *m, bool need_all)
{
	int want = need_all ? 2 : 1;
	if (m->loaded >= 0 && m->loaded < want) {
		int ret = m->load ? m->load(m->load_ctx, m->msg, !need_all, &m->text, &m->cache) : -1;
		m->loaded = ret > 0 ? want : ret == 0 ? -2 : -1;
	}
	/* -2: the message is gone; it matches nothing, which is not an error. */
	return m->loaded > 0 ? 1 : m->loaded == -2 ? 0 : -1;
}

/* The search index's answer for key: 1 (an exact hit), 0 (ruled out), or
 * -1 if the message has to be read and checked (a candidate, newer than
 * the index, or no index answer for this key). The index gives exactly
 * what the scan would. */
static int index_answer(const struct imap_search_key *key, const struct imap_search_msg *m)
{
	if (key->hits == NULL || m->msg->blob_id > key->hits->indexed_upto)
		return -1;
	if (store_search_hits_contain(key->hits, m->msg->blob_id))
		return key->hits->exact ? 1 : -1;
	return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* RFC 9051 6.4.4: date comparisons disregard time and timezone; the day
 * is the one in the date's own zone (as it reads to the user). */
static int64_t day_of(int64_t t, int tz_minutes)
{
	return floor_div(t + (int64_t)tz_minutes * 60, 86400);
}

static bool folded_contains(struct str hay, struct str needle)
{
	if (needle.len == 0)
		return true;
	return hay.len >= needle.len && memmem(hay.p, hay.len, needle.p, needle.len) != NULL;
}

static struct str top_header(const struct imap_search_msg *m)
{
	struct mime_part_info info;
	if (mime_cache_part(&m->cache, 0, &info) <= 0 || info.header_off > m->text.len ||
	    info.header_len > m->text.len - info.header_off)
		return STR_NULL;
	return str_make(m->text.p + info.header_off, info.header_len);
}

static int match_header(const struct imap_search_key *key, struct imap_search_msg *m)
{
	int ret = index_answer(key, m);
	if (ret >= 0)
		return ret;
	ret = ensure_loaded(m, false);
	if (ret <= 0)
		return ret;
	buf_reset(&m->scratch);
	ret = mime_header_decoded(m->text.p, m->text.len, &m->cache, key->field, &m->scratch);
	if (ret <= 0)
		return ret; /* no such field: no match (even for "") */
	buf_reset(&m->scratch2);
	if (mime_casefold_utf8(buf_str(&m->scratch), &m->scratch2) < 0)
		return -1;
	return folded_contains(buf_str(&m->scratch2), key->needle) ? 1 : 0;
}

static int load_body(struct imap_search_msg *m)
{
	if (m->have_body)
		return 1;
	buf_reset(&m->scratch);
	if (mime_body_text_utf8(m->text.p, m->text.len, &m->cache, &m->scratch) < 0)
		return -1;
	buf_reset(&m->body_folded);
	if (mime_casefold_utf8(buf_str(&m->scratch), &m->body_folded) < 0)
		return -1;
	m->have_body = true;
	return 1;
}

static int match_body(const struct imap_search_key *key, struct imap_search_msg *m)
{
	int ret = index_answer(key, m);
	if (ret >= 0)
		return ret;
	ret = ensure_loaded(m, true);
	if (ret <= 0)
		return ret;
	if (load_body(m) < 0)
		return -1;
	return folded_contains(buf_str(&m->body_folded), key->needle) ? 1 : 0;
}

/* TEXT: the header (every field, values decoded) and the body. */
static int match_text(const struct imap_search_key *key, struct imap_search_msg *m)
{
	int ret = index_answer(key, m);
	if (ret >= 0)
		return ret;
	ret = ensure_loaded(m, true);
	if (ret <= 0)
		return ret;
	buf_reset(&m->scratch);
	if (top_header(m).p != NULL &&
	    mime_header_text_utf8(m->text.p, m->text.len, &m->cache, &m->scratch) < 0)
		return -1;
	buf_reset(&m->scratch2);
	if (mime_casefold_utf8(buf_str(&m->scratch), &m->scratch2) < 0)
		return -1;
	if (folded_contains(buf_str(&m->scratch2), key->needle))
		return 1;
	if (load_body(m) < 0)
		return -1;
	return folded_contains(buf_str(&m->body_folded), key->needle) ? 1 : 0;
}

/* The day of the Date: header; a message without a valid one is dated by
 * its internal date (as Dovecot and Cyrus do), so it is not lost to every
 * SENT* search. */
static int sent_day(struct imap_search_msg *m, int64_t *day_r)
{
	if (!m->have_sent) {
		int ret = ensure_loaded(m, false);
		if (ret <= 0)
			return ret;
		struct str value;
		int64_t t;
		int tz;
		struct str header = top_header(m);
		if (header.p != NULL && mime_header_find(header, "Date", &value) > 0 &&
		    mime_date_parse(value, &t, &tz) > 0)
			m->sent_day = day_of(t, tz);
		else
			m->sent_day = day_of(m->msg->internal_date, m->msg->tz_minutes);
		m->have_sent = true;
	}
	*day_r = m->sent_day;
	return 1;
}

static bool keyword_has(const char *keywords, struct str kw)
{
	const char *p = keywords;
	while (p != NULL && *p != '\0') {
		const char *sp = strchr(p, ' ');
		size_t len = sp ? (size_t)(sp - p) : strlen(p);
		if (str_eq_nocase(str_make(p, len), kw))
			return true;
		p = sp ? sp + 1 : NULL;
	}
	return false;
}

static int match_key(const struct imap_search_key *key, struct imap_search_msg *m,
                     const struct imap_seqset *saved, int64_t now)
{
	const struct store_msg *msg = m->msg;
	int ret;
	int64_t day;
	switch (key->type) {
	case IMAP_SK_ALL:
		return 1;
	case IMAP_SK_SEQSET:
		return imap_seqset_contains(&key->set, m->seq);
	case IMAP_SK_UIDSET:
		if (key->saved)
			return saved != NULL && imap_seqset_contains(saved, msg->uid);
		return imap_seqset_contains(&key->set, msg->uid);
	case IMAP_SK_FLAGS_SET:
		return (msg->flags & key->flags) == key->flags;
	case IMAP_SK_FLAGS_UNSET:
		return (msg->flags & key->flags) == 0;
	case IMAP_SK_KEYWORD:
		return keyword_has(m->keywords, key->keyword);
	case IMAP_SK_UNKEYWORD:
		return !keyword_has(m->keywords, key->keyword);
	case IMAP_SK_RECENT:
		return m->recent;
	case IMAP_SK_LARGER:
		return msg->size > key->number;
	case IMAP_SK_SMALLER:
		return msg->size < key->number;
	case IMAP_SK_BEFORE:
		return day_of(msg->internal_date, msg->tz_minutes) < key->day;
	case IMAP_SK_ON:
		return day_of(msg->internal_date, msg->tz_minutes) == key->day;
	case IMAP_SK_SINCE:
		return day_of(msg->internal_date, msg->tz_minutes) >= key->day;
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE:
		if ((ret = sent_day(m, &day)) <= 0)
			return ret;
		if (key->type == IMAP_SK_SENTBEFORE)
			return day < key->day;
		if (key->type == IMAP_SK_SENTON)
			return day == key->day;
		return day >= key->day;
	case IMAP_SK_OLDER:
		/* RFC 5032 3: OLDER n matches internal dates more than n
		 * seconds ago; YOUNGER n those within the last n seconds. */
		return now - msg->internal_date > (int64_t)key->number;
	case IMAP_SK_YOUNGER:
		return now - msg->internal_date <= (int64_t)key->number;
	case IMAP_SK_MODSEQ:
		return msg->modseq >= key->number;
	case IMAP_SK_HEADER:
		return match_header(key, m);
	case IMAP_SK_BODY:
		return match_body(key, m);
	case IMAP_SK_TEXT:
		return match_text(key, m);
	case IMAP_SK_NOT:
		ret = match_key(&key->children[0], m, saved, now);
		return ret < 0 ? -1 : !ret;
	case IMAP_SK_OR:
		for (size_t i = 0; i < 2; i++) {
			ret = match_key(&key->children[i], m, saved, now);
			if (ret != 0)
				return ret;
		}
		return 0;
	case IMAP_SK_AND:
		for (size_t i = 0; i < key->nchildren; i++) {
			ret = match_key(&key->children[i], m, saved, now);
			if (ret <= 0)
				return ret;
		}
		return 1;
	}
	return -1;
}

int imap_search_match(const struct imap_search_program *prog, struct imap_search_msg *m,
                      const struct imap_seqset *saved, int64_t now)
{
	int ret = match_key(&prog->root, m, saved, now);
	/* A message that vanished while being read simply does not match. */
	if (ret < 0 && m->loaded == -2)
		return 0;
	return ret;
}

/* ---- the search index ------------------------------------------------ */

/* The field of the index that answers key, or -1. */
static int index_field(const struct imap_search_key *key)
{
	static const struct {
		const char *name;
		enum store_search_field f;
	} fields[] = {
		{"Subject", STORE_SEARCH_SUBJECT}, {"From", STORE_SEARCH_FROM},
		{"To", STORE_SEARCH_TO},           {"Cc", STORE_SEARCH_CC},
		{"Bcc", STORE_SEARCH_BCC},
	};
	int f = -1;
	if (key->type == IMAP_SK_BODY) {
		f = STORE_SEARCH_BODY;
	} else if (key->type == IMAP_SK_TEXT) {
		f = STORE_SEARCH_TEXT;
	} else if (key->type == IMAP_SK_HEADER) {
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (strcasecmp(key->field, fields[i].name) == 0)
				f = (int)fields[i].f;
	}
	if (f >= 0 && !store_search_field_exact((enum store_search_field)f) &&
	    !store_search_needle_indexable(key->needle.p, key->needle.len))
		f = -1;
	return f;
}

static size_t count_indexable(const struct imap_search_key *key)
{
	size_t n = index_field(key) >= 0;
	for (size_t i = 0; i < key->nchildren; i++)
		n += count_indexable(&key->children[i]);
	return n;
}

bool imap_search_index_useful(const struct imap_search_program *prog)
{
	return count_indexable(&prog->root) > 0;
}

static int find_keys(struct imap_search_key *key, struct store_user *u,
                     struct imap_search_index *ix, size_t cap)
{
	int f = index_field(key);
	if (f >= 0 && ix->count < cap) {
		struct store_search_hits *h = &ix->hits[ix->count];
		if (store_search_find(u, (enum store_search_field)f, key->needle.p, key->needle.len,
		                      h) < 0)
			return -1;
		ix->count++;
		key->hits = h;
	}
	for (size_t i = 0; i < key->nchildren; i++)
		if (find_keys(&key->children[i], u, ix, cap) < 0)
			return -1;
	return 1;
}

static void clear_hits(struct imap_search_key *key)
{
	key->hits = NULL;
	for (size_t i = 0; i < key->nchildren; i++)
		clear_hits(&key->children[i]);
}

int imap_search_index_prepare(struct imap_search_program *prog, struct store_user *u,
                              struct imap_search_index *ix_r)
{
	size_t n = count_indexable(&prog->root);
	ix_r->hits = NULL;
	ix_r->count = 0;
	if (n == 0)
		return 1;
	ix_r->hits = calloc(n, sizeof(*ix_r->hits));
	if (ix_r->hits == NULL)
		return -1;
	if (find_keys(&prog->root, u, ix_r, n) < 0) {
		/* All or nothing: a key without hits is simply scanned. */
		clear_hits(&prog->root);
		return -1;
	}
	return 1;
}

void imap_search_index_free(struct imap_search_program *prog, struct imap_search_index *ix)
{
	if (ix->hits == NULL)
		return;
	clear_hits(&prog->root);
	for (size_t i = 0; i < ix->count; i++)
		store_search_hits_free(&ix->hits[i]);
	free(ix->hits);
	ix->hits = NULL;
	ix->count = 0;
}
