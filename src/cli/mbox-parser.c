#include "cli/mbox.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

void mbox_parser_init(struct mbox_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = MBOX_LINE_START;
	p->after_blank = true; /* the start of the file counts as after a blank */
}

static int item_data(struct mbox_item *item_r, const char *s, size_t n)
{
	item_r->type = MBOX_ITEM_DATA;
	item_r->text = str_make(s, n);
	return 1;
}

/* Items decided earlier and not yet returned, in the order they are due. */
static int deferred(struct mbox_parser *p, struct mbox_item *item_r)
{
	if (p->flush_blank) {
		p->flush_blank = false;
		return item_data(item_r, p->blank_flush_len == 2 ? "\r\n" : "\n",
				 p->blank_flush_len);
	}
	if (p->flush_prefix) {
		p->flush_prefix = false;
		size_t skip = p->prefix_skip, n = p->prefix_len;
		p->prefix_skip = 0;
		p->prefix_len = 0;
		return item_data(item_r, p->prefix + skip, n - skip);
	}
	if (p->pending_end) {
		p->pending_end = false;
		p->in_message = false;
		item_r->type = MBOX_ITEM_END;
		item_r->text = STR_NULL;
		return 1;
	}
	if (p->begin_ready) {
		p->begin_ready = false;
		p->in_message = true;
		p->messages++;
		item_r->type = MBOX_ITEM_BEGIN;
		item_r->text = str_make(p->from_line, p->from_len);
		return 1;
	}
	return 0;
}

/* The held line start is ordinary content (or junk before the first
 * message): schedule it, after the held empty line if any. */
static void prefix_is_content(struct mbox_parser *p, size_t skip)
{
	bool complete = p->prefix_len > 0 && p->prefix[p->prefix_len - 1] == '\n';
	if (!p->in_message) {
		p->junk_bytes += p->prefix_len;
		p->prefix_len = 0;
	} else {
		if (p->pending_blank) {
			p->pending_blank = false;
			p->flush_blank = true;
			p->blank_flush_len = p->blank_len;
		}
		p->prefix_skip = skip;
		p->flush_prefix = true;
	}
	p->after_blank = false;
	p->state = complete ? MBOX_LINE_START : MBOX_MID;
}

/* Looks at prefix[] after a byte was added. Returns true when decided. */
static bool decide_line_start(struct mbox_parser *p)
{
	const char *s = p->prefix;
	size_t n = p->prefix_len;
	static const char from[] = "From ";

	if ((n == 1 && s[0] == '\n') || (n == 2 && s[0] == '\r' && s[1] == '\n')) {
		/* An empty line: hold it until the next line tells whether it
		 * ends the message (a separator follows) or is content. */
		if (p->in_message) {
			if (p->pending_blank) {
				/* The older one is content. */
				p->flush_blank = true;
				p->blank_flush_len = p->blank_len;
			}
			p->pending_blank = true;
			p->blank_len = n;
		} else {
			p->junk_bytes += n;
		}
		p->prefix_len = 0;
		p->after_blank = true;
		return true;
	}
	if (n == 1 && s[0] == '\r')
		return false;

	size_t k = 0;
	while (k < n && s[k] == '>')
		k++;
	size_t rest = n - k;
	size_t cmp = rest < 5 ? rest : 5;
	bool matches = memcmp(s + k, from, cmp) == 0;
	if (matches && rest < 5) {
		/* Could still become (>*)"From ": wait, unless the line ended
		 * or the buffer is full. */
		if (s[n - 1] != '\n' && n < sizeof(p->prefix))
			return false;
		prefix_is_content(p, 0);
		return true;
	}
	if (matches && k == 0 && (p->after_blank || !p->in_message)) {
		/* A separator. */
		if (p->in_message) {
			p->pending_blank = false; /* belongs to the separator */
			p->pending_end = true;
		}
		size_t copy = n < sizeof(p->from_line) ? n : sizeof(p->from_line);
		memcpy(p->from_line, s, copy);
		p->from_len = copy;
		p->prefix_len = 0;
		if (s[n - 1] == '\n') {
			/* Only possible for a 5-byte prefix ending in LF: no. */
			p->state = MBOX_LINE_START;
			p->begin_ready = true;
		} else {
			p->state = MBOX_FROM_LINE;
		}
		p->after_blank = false;
		return true;
	}
	/* mboxrd: ">From " and deeper lose one '>'. */
	prefix_is_content(p, matches && k > 0 ? 1 : 0);
	return true;
}

int mbox_parser_feed(struct mbox_parser *p, const char *in, size_t len, size_t *used_r,
		     struct mbox_item *item_r)
{
	size_t i = 0;
	*used_r = 0;
	for (;;) {
		if (deferred(p, item_r)) {
			*used_r = i;
			return 1;
		}
		if (i >= len) {
			*used_r = len;
			return 0;
		}
		switch (p->state) {
		case MBOX_MID: {
			const char *nl = memchr(in + i, '\n', len - i);
			size_t end = nl ? (size_t)(nl - in) + 1 : len;
			size_t start = i;
			i = end;
			if (nl != NULL)
				p->state = MBOX_LINE_START;
			if (!p->in_message) {
				p->junk_bytes += end - start;
				continue;
			}
			*used_r = i;
			return item_data(item_r, in + start, end - start);
		}
		case MBOX_FROM_LINE: {
			const char *nl = memchr(in + i, '\n', len - i);
			size_t end = nl ? (size_t)(nl - in) : len;
			size_t room = sizeof(p->from_line) - p->from_len;
			size_t n = end - i < room ? end - i : room;
			memcpy(p->from_line + p->from_len, in + i, n);
			p->from_len += n;
			if (nl == NULL) {
				i = len;
				continue;
			}
			i = end + 1;
			/* The line end is not part of the line. */
			if (p->from_len > 0 && p->from_line[p->from_len - 1] == '\r')
				p->from_len--;
			p->state = MBOX_LINE_START;
			p->after_blank = false;
			p->begin_ready = true;
			continue;
		}
		case MBOX_LINE_START:
			p->prefix[p->prefix_len++] = in[i++];
			(void)decide_line_start(p);
			continue;
		}
	}
}

int mbox_parser_finish(struct mbox_parser *p, struct mbox_item *item_r)
{
	if (deferred(p, item_r))
		return 1;
	if (p->state == MBOX_FROM_LINE) {
		/* A separator at the very end without a line end. */
		if (p->from_len > 0 && p->from_line[p->from_len - 1] == '\r')
			p->from_len--;
		p->state = MBOX_LINE_START;
		p->begin_ready = true;
		return mbox_parser_finish(p, item_r);
	}
	if (p->state == MBOX_LINE_START && p->prefix_len > 0) {
		/* A last line without a line end: content. */
		prefix_is_content(p, 0);
		p->state = MBOX_LINE_START;
		return mbox_parser_finish(p, item_r);
	}
	p->state = MBOX_LINE_START;
	/* The empty line at the end of the file belongs to the format. */
	p->pending_blank = false;
	if (p->in_message) {
		p->pending_end = true;
		return mbox_parser_finish(p, item_r);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* From_ line dates */

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

static int parse_uint(struct str t, unsigned max_digits, unsigned *r)
{
	if (t.len == 0 || t.len > max_digits)
		return -1;
	unsigned v = 0;
	for (size_t i = 0; i < t.len; i++) {
		if (t.p[i] < '0' || t.p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(t.p[i] - '0');
	}
	*r = v;
	return 1;
}

static int parse_zone(struct str t, int *tz_r)
{
	if (t.len == 5 && (t.p[0] == '+' || t.p[0] == '-')) {
		unsigned hhmm;
		if (parse_uint(str_make(t.p + 1, 4), 4, &hhmm) < 0 || hhmm % 100 >= 60 ||
		    hhmm / 100 > 23)
			return -1;
		int m = (int)(hhmm / 100) * 60 + (int)(hhmm % 100);
		*tz_r = t.p[0] == '-' ? -m : m;
		return 1;
	}
	if (str_eq_cstr_nocase(t, "UTC") || str_eq_cstr_nocase(t, "GMT") ||
	    str_eq_cstr_nocase(t, "UT")) {
		*tz_r = 0;
		return 1;
	}
	return -1;
}

int mbox_from_line_date(struct str line, int64_t *time_r, int *tz_minutes_r)
{
	struct str tok[16];
	size_t ntok = 0, i = 0;
	while (i < line.len && ntok < 16) {
		while (i < line.len && (line.p[i] == ' ' || line.p[i] == '\t'))
			i++;
		size_t start = i;
		while (i < line.len && line.p[i] != ' ' && line.p[i] != '\t')
			i++;
		if (i > start)
			tok[ntok++] = str_make(line.p + start, i - start);
	}
	/* Find "Mon dd hh:mm[:ss] [zone] yyyy [zone]" after a weekday. */
	for (size_t t = 1; t + 3 < ntok + 1; t++) {
		int month = -1;
		for (int m = 0; m < 12; m++)
			if (str_eq_cstr_nocase(tok[t], months[m]))
				month = m;
		if (month < 0 || t + 2 >= ntok)
			continue;
		bool wday_before = false;
		for (int w = 0; w < 7; w++)
			if (str_eq_cstr_nocase(tok[t - 1], wdays[w]))
				wday_before = true;
		if (!wday_before)
			continue;
		unsigned day, hh, mm, ss = 0, year;
		if (parse_uint(tok[t + 1], 2, &day) < 0 || day < 1 || day > 31)
			continue;
		struct str tm = tok[t + 2];
		if (tm.len != 5 && tm.len != 8)
			continue;
		if (parse_uint(str_make(tm.p, 2), 2, &hh) < 0 || tm.p[2] != ':' ||
		    parse_uint(str_make(tm.p + 3, 2), 2, &mm) < 0)
			continue;
		if (tm.len == 8 && (tm.p[5] != ':' || parse_uint(str_make(tm.p + 6, 2), 2, &ss) < 0))
			continue;
		if (hh > 23 || mm > 59 || ss > 60)
			continue;
		size_t y = t + 3;
		int tz = 0;
		if (y < ntok && parse_zone(tok[y], &tz) == 1)
			y++;
		if (y >= ntok || parse_uint(tok[y], 4, &year) < 0 || year < 1970 || year > 9999)
			continue;
		if (y + 1 < ntok)
			(void)parse_zone(tok[y + 1], &tz);
		struct tm tmv = { 0 };
		tmv.tm_year = (int)year - 1900;
		tmv.tm_mon = month;
		tmv.tm_mday = (int)day;
		tmv.tm_hour = (int)hh;
		tmv.tm_min = (int)mm;
		tmv.tm_sec = (int)(ss > 59 ? 59 : ss);
		time_t utc = timegm(&tmv);
		if (utc == (time_t)-1)
			continue;
		*time_r = (int64_t)utc - (int64_t)tz * 60;
		*tz_minutes_r = tz;
		return 1;
	}
	return -1;
}

size_t mbox_from_line_format(const char *sender, int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tmv;
	if (gmtime_r(&tt, &tmv) == NULL)
		memset(&tmv, 0, sizeof(tmv));
	int n = snprintf(out, cap, "From %s %s %s %2d %02d:%02d:%02d %04d",
			 sender[0] ? sender : "MAILER-DAEMON", wdays[tmv.tm_wday % 7],
			 months[tmv.tm_mon % 12], tmv.tm_mday, tmv.tm_hour, tmv.tm_min, tmv.tm_sec,
			 tmv.tm_year + 1900);
	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

uint8_t mbox_status_flags(struct str status, struct str x_status)
{
	uint8_t f = 0;
	for (size_t i = 0; i < status.len; i++)
		if (status.p[i] == 'R')
			f |= STORE_FLAG_SEEN;
	for (size_t i = 0; i < x_status.len; i++) {
		switch (x_status.p[i]) {
		case 'A': f |= STORE_FLAG_ANSWERED; break;
		case 'F': f |= STORE_FLAG_FLAGGED; break;
		case 'T': f |= STORE_FLAG_DRAFT; break;
		case 'D': f |= STORE_FLAG_DELETED; break;
		default: break;
		}
	}
	return f;
}
