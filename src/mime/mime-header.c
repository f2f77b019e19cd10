/* mime-header.c - header fields: iteration, lookup, parameters and dates. */
#include <string.h>

#include "mime-private.h"
#include "mime.h"

struct str mime_trim_lws(struct str s)
{
	while (s.len > 0 && (mime_is_wsp(s.p[0]) || s.p[0] == '\r' || s.p[0] == '\n')) {
		s.p++;
		s.len--;
	}
	while (s.len > 0 && (mime_is_wsp(s.p[s.len - 1]) || s.p[s.len - 1] == '\r' ||
			     s.p[s.len - 1] == '\n'))
		s.len--;
	return s;
}

int mime_append_unfolded(struct buf *out, struct str s)
{
	if (buf_reserve(out, s.len) < 0)
		return -1;
	char *o = out->data + out->len;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (c != '\r' && c != '\n' && c != '\0')
			*o++ = c;
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 1;
}

/* ---- fields -------------------------------------------------------------- */

int mime_header_next(struct str header, size_t *pos, struct str *name_r, struct str *value_r,
		     struct str *raw_r)
{
	size_t start = *pos;
	const char *p = header.p;
	size_t len = header.len;
	if (start >= len)
		return 0;
	/* The blank line that ends a header is not a field. */
	if (p[start] == '\n' || (p[start] == '\r' && start + 1 < len && p[start + 1] == '\n'))
		return 0;
	/* A field is its first line plus continuation lines (starting with
	 * WSP), RFC 5322 2.2.3. */
	size_t end = start;
	for (;;) {
		const char *nl = memchr(p + end, '\n', len - end);
		end = nl ? (size_t)(nl - p) + 1 : len;
		if (end >= len || !mime_is_wsp(p[end]))
			break;
	}
	*pos = end;
	struct str raw = str_make(p + start, end - start);
	if (raw_r)
		*raw_r = raw;
	/* The value excludes the line end of the last line. */
	size_t vend = end;
	if (vend > start && p[vend - 1] == '\n')
		vend--;
	if (vend > start && p[vend - 1] == '\r')
		vend--;
	const char *first_nl = memchr(p + start, '\n', end - start);
	size_t first_end = first_nl ? (size_t)(first_nl - p) : end;
	const char *colon = memchr(p + start, ':', first_end - start);
	if (colon == NULL) {
		*name_r = str_make(p + start, 0);
		*value_r = str_make(p + start, 0);
		return 1;
	}
	struct str name = str_make(p + start, (size_t)(colon - (p + start)));
	while (name.len > 0 && mime_is_wsp(name.p[name.len - 1]))
		name.len--;
	*name_r = name;
	size_t voff = (size_t)(colon - p) + 1;
	*value_r = str_make(p + voff, vend > voff ? vend - voff : 0);
	return 1;
}

int mime_header_find(struct str header, const char *name, struct str *value_r)
{
	size_t pos = 0;
	struct str n, v;
	struct str want = str_c(name);
	while (mime_header_next(header, &pos, &n, &v, NULL) > 0) {
		if (str_eq_nocase(n, want)) {
			*value_r = v;
			return 1;
		}
	}
	return 0;
}

/* ---- RFC 2045 parameters ------------------------------------------------- */

static bool is_tspecial(char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL && c != '\0';
}

static bool is_token_char(char c)
{
	unsigned char u = (unsigned char)c;
	return u > 0x20 && u != 0x7f && !is_tspecial(c);
}

/* Skip white space, line ends and (nested) comments. */
static size_t skip_cfws(struct str s, size_t i)
{
	while (i < s.len) {
		char c = s.p[i];
		if (mime_is_wsp(c) || c == '\r' || c == '\n') {
			i++;
		} else if (c == '(') {
			unsigned depth = 0;
			for (; i < s.len; i++) {
				if (s.p[i] == '\\') {
					i++;
				} else if (s.p[i] == '(') {
					depth++;
				} else if (s.p[i] == ')') {
					if (--depth == 0) {
						i++;
						break;
					}
				}
			}
		} else {
			break;
		}
	}
	return i > s.len ? s.len : i;
}

static size_t scan_token(struct str s, size_t i)
{
	while (i < s.len && is_token_char(s.p[i]))
		i++;
	return i;
}

int mime_param_value_append(const struct mime_param *p, struct buf *out)
{
	if (!p->quoted)
		return buf_append_str(out, p->value);
	if (buf_reserve(out, p->value.len) < 0)
		return -1;
	for (size_t i = 0; i < p->value.len; i++) {
		char c = p->value.p[i];
		if (c == '\\' && i + 1 < p->value.len)
			c = p->value.p[++i];
		if (c == '\r' || c == '\n')
			continue;
		out->data[out->len++] = c;
	}
	out->data[out->len] = '\0';
	return 1;
}

size_t mime_parse_params(struct str value, bool want_subtype, struct str *type_r,
			 struct str *subtype_r, struct mime_param *params, size_t max)
{
	size_t i = skip_cfws(value, 0);
	size_t t0 = i;
	i = scan_token(value, i);
	*type_r = str_make(value.p + t0, i - t0);
	*subtype_r = str_make(value.p + i, 0);
	if (want_subtype) {
		i = skip_cfws(value, i);
		if (i < value.len && value.p[i] == '/') {
			i = skip_cfws(value, i + 1);
			size_t s0 = i;
			i = scan_token(value, i);
			*subtype_r = str_make(value.p + s0, i - s0);
		}
		if (subtype_r->len == 0)
			*type_r = str_make(value.p, 0);
	}
	size_t n = 0;
	while (i < value.len && n < max) {
		/* Find the next ';' (junk before it is ignored). */
		while (i < value.len && value.p[i] != ';') {
			if (value.p[i] == '"') {
				for (i++; i < value.len && value.p[i] != '"'; i++)
					if (value.p[i] == '\\')
						i++;
			}
			if (i < value.len)
				i++;
		}
		if (i >= value.len)
			break;
		i = skip_cfws(value, i + 1);
		size_t n0 = i;
		i = scan_token(value, i);
		struct str name = str_make(value.p + n0, i - n0);
		i = skip_cfws(value, i);
		if (name.len == 0 || i >= value.len || value.p[i] != '=')
			continue;
		i = skip_cfws(value, i + 1);
		struct mime_param *p = &params[n];
		p->name = name;
		p->quoted = false;
		if (i < value.len && value.p[i] == '"') {
			size_t v0 = ++i;
			while (i < value.len && value.p[i] != '"') {
				if (value.p[i] == '\\' && i + 1 < value.len)
					i++;
				i++;
			}
			if (i > value.len)
				i = value.len;
			p->value = str_make(value.p + v0, i - v0);
			p->quoted = true;
			if (i < value.len)
				i++;
		} else {
			/* Tolerate unquoted values with spaces or tspecials
			 * (common in the wild): up to ';' or a comment. */
			size_t v0 = i;
			while (i < value.len && value.p[i] != ';' && value.p[i] != '(')
				i++;
			p->value = mime_trim_lws(str_make(value.p + v0, i - v0));
		}
		n++;
	}
	return n;
}

/* ---- dates --------------------------------------------------------------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's algorithm: days since 1970-01-01. */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static size_t date_skip(struct str s, size_t i)
{
	for (;;) {
		i = skip_cfws(s, i);
		if (i < s.len && s.p[i] == ',')
			i++;
		else
			return i;
	}
}

static size_t date_number(struct str s, size_t i, unsigned maxdigits, int *v_r, unsigned *nd_r)
{
	int v = 0;
	unsigned nd = 0;
	while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9' && nd < maxdigits) {
		v = v * 10 + (s.p[i] - '0');
		i++;
		nd++;
	}
	*v_r = v;
	*nd_r = nd;
	return i;
}

int mime_date_parse(struct str s, int64_t *time_r, int *tz_min_r)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	size_t i = date_skip(s, 0);
	/* Optional day of week. */
	if (i < s.len && ((s.p[i] | 0x20) >= 'a' && (s.p[i] | 0x20) <= 'z')) {
		while (i < s.len && ((s.p[i] | 0x20) >= 'a' && (s.p[i] | 0x20) <= 'z'))
			i++;
		i = date_skip(s, i);
	}
	int day, year, hour, min, sec = 0;
	unsigned nd;
	i = date_number(s, i, 2, &day, &nd);
	if (nd == 0 || day < 1 || day > 31)
		return 0;
	i = date_skip(s, i);
	if (i < s.len && s.p[i] == '-')
		i++;
	if (s.len - i < 3)
		return 0;
	int month = -1;
	for (int m = 0; m < 12; m++) {
		if (mime_ascii_lower(s.p[i]) == months[m * 3] &&
		    mime_ascii_lower(s.p[i + 1]) == months[m * 3 + 1] &&
		    mime_ascii_lower(s.p[i + 2]) == months[m * 3 + 2])
			month = m + 1;
	}
	if (month < 0)
		return 0;
	i += 3;
	while (i < s.len && ((s.p[i] | 0x20) >= 'a' && (s.p[i] | 0x20) <= 'z'))
		i++;
	i = date_skip(s, i);
	if (i < s.len && s.p[i] == '-')
		i++;
	i = date_number(s, i, 4, &year, &nd);
	if (nd == 0)
		return 0;
	/* RFC 5322 4.3: two-digit years below 50 are 20xx, else 19xx; three
	 * digits add 1900. */
	if (nd == 2)
		year += year < 50 ? 2000 : 1900;
	else if (nd == 3)
		year += 1900;
	i = date_skip(s, i);
	i = date_number(s, i, 2, &hour, &nd);
	if (nd == 0 || i >= s.len || s.p[i] != ':')
		return 0;
	i = date_number(s, i + 1, 2, &min, &nd);
	if (nd == 0)
		return 0;
	if (i < s.len && s.p[i] == ':') {
		i = date_number(s, i + 1, 2, &sec, &nd);
		if (nd == 0)
			return 0;
	}
	if (hour > 23 || min > 59 || sec > 60)
		return 0;
	i = skip_cfws(s, i);
	int tz = 0;
	if (i < s.len && (s.p[i] == '+' || s.p[i] == '-')) {
		int sign = s.p[i] == '-' ? -1 : 1;
		int hhmm;
		i = date_number(s, i + 1, 4, &hhmm, &nd);
		if (nd == 4 && hhmm % 100 < 60)
			tz = sign * ((hhmm / 100) * 60 + hhmm % 100);
	} else if (s.len - i >= 3) {
		/* Obsolete zone names, RFC 5322 4.3 (military zones count as 0). */
		static const struct {
			const char *name;
			int min;
		} zones[] = { { "edt", -240 }, { "est", -300 }, { "cdt", -300 }, { "cst", -360 },
			      { "mdt", -360 }, { "mst", -420 }, { "pdt", -420 }, { "pst", -480 } };
		for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
			if (mime_ascii_lower(s.p[i]) == zones[z].name[0] &&
			    mime_ascii_lower(s.p[i + 1]) == zones[z].name[1] &&
			    mime_ascii_lower(s.p[i + 2]) == zones[z].name[2])
				tz = zones[z].min;
		}
	}
	if (sec == 60)
		sec = 59;
	int64_t days = days_from_civil(year, (unsigned)month, (unsigned)day);
	*time_r = days * 86400 + hour * 3600 + min * 60 + sec - (int64_t)tz * 60;
	*tz_min_r = tz;
	return 1;
}
