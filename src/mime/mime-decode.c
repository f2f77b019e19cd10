/* mime-decode.c - RFC 2047 encoded words and RFC 2231 parameter values. */
#include <string.h>

#include "lib/imap-quote.h"
#include "lib/utf8.h"
#include "mime-private.h"
#include "mime.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = mime_ascii_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* ---- RFC 2047 ------------------------------------------------------------ */

struct encoded_word {
	struct str charset;
	char encoding; /* 'b' or 'q' */
	struct str text;
	size_t end; /* offset just past "?=" */
};

/* Parse "=?charset?e?text?=" at v[pos]. RFC 2047 2: the charset and the
 * encoding are tokens without '?'; the text is up to "?=". Lenient: the
 * text may contain spaces (some mailers emit them in Q words). */
static bool parse_encoded_word(struct str v, size_t pos, struct encoded_word *w)
{
	/* RFC 2047 2 limits a word to 75 octets; we allow longer ones (seen
	 * in the wild) but bound the scans so a header full of "=?" cannot
	 * make decoding quadratic. */
	enum { MAX_CHARSET = 64, MAX_TEXT = 1024 };
	size_t i = pos + 2;
	size_t cs0 = i;
	while (i < v.len && i - cs0 <= MAX_CHARSET && v.p[i] != '?' && !mime_is_wsp(v.p[i]) &&
	       v.p[i] != '\r' && v.p[i] != '\n')
		i++;
	if (i >= v.len || v.p[i] != '?' || i == cs0 || i + 3 > v.len)
		return false;
	w->charset = str_make(v.p + cs0, i - cs0);
	/* RFC 2231 5: "charset*language" - the language is dropped. */
	long star = str_find_char(w->charset, '*');
	if (star >= 0)
		w->charset.len = (size_t)star;
	char e = mime_ascii_lower(v.p[i + 1]);
	if ((e != 'b' && e != 'q') || v.p[i + 2] != '?')
		return false;
	w->encoding = e;
	size_t t0 = i + 3;
	for (size_t k = t0; k + 1 < v.len && k - t0 <= MAX_TEXT; k++) {
		if (v.p[k] == '\r' || v.p[k] == '\n')
			return false;
		if (v.p[k] == '?' && v.p[k + 1] == '=') {
			w->text = str_make(v.p + t0, k - t0);
			w->end = k + 2;
			return true;
		}
	}
	return false;
}

static int decode_word_bytes(const struct encoded_word *w, struct buf *raw)
{
	if (w->encoding == 'b') {
		struct mime_b64_dec d;
		mime_b64_dec_init(&d);
		if (mime_b64_dec_feed(&d, w->text.p, w->text.len, raw) < 0)
			return -1;
		return mime_b64_dec_finish(&d, raw);
	}
	/* RFC 2047 4.2: "_" is a space, "=XX" an octet. */
	if (buf_reserve(raw, w->text.len) < 0)
		return -1;
	for (size_t i = 0; i < w->text.len; i++) {
		char c = w->text.p[i];
		if (c == '_') {
			c = ' ';
		} else if (c == '=' && i + 2 < w->text.len) {
			int h = hexval(w->text.p[i + 1]);
			int l = hexval(w->text.p[i + 2]);
			if (h >= 0 && l >= 0) {
				c = (char)(h * 16 + l);
				i += 2;
			}
		}
		raw->data[raw->len++] = c;
	}
	raw->data[raw->len] = '\0';
	return 1;
}

/* Raw (not encoded) header text: unfolded, valid UTF-8 kept, otherwise
 * read in the fallback charset (or invalid bytes become U+FFFD). */
static int append_raw_text(struct str s, struct str fallback, struct buf *out, struct buf *tmp)
{
	bool ascii = true;
	for (size_t i = 0; i < s.len && ascii; i++)
		ascii = (unsigned char)s.p[i] < 0x80 && s.p[i] != '\0';
	if (ascii)
		return mime_append_unfolded(out, s);
	buf_reset(tmp);
	if (mime_append_unfolded(tmp, s) < 0)
		return -1;
	const unsigned char *p = (const unsigned char *)tmp->data;
	bool utf8 = true;
	uint32_t cp;
	for (size_t i = 0; i < tmp->len && utf8;) {
		size_t n = utf8_decode(p + i, tmp->len - i, &cp);
		utf8 = n > 0;
		i += n;
	}
	struct str cs = utf8 || fallback.len == 0 ? STR_LIT("utf-8") : fallback;
	return mime_charset_to_utf8(cs, buf_str(tmp), out) < 0 ? -1 : 1;
}

int mime_decode_header_value(struct str value, struct str fallback, struct buf *out)
{
	struct buf pend = BUF_INIT(0); /* decoded octets of adjacent words */
	struct buf tmp = BUF_INIT(0);
	struct str pend_cs = STR_NULL;
	size_t text_start = 0;
	size_t i = 0;
	int ret = 1;
	while (ret > 0 && i + 1 < value.len) {
		const char *q = memchr(value.p + i, '=', value.len - i - 1);
		if (q == NULL)
			break;
		size_t pos = (size_t)(q - value.p);
		struct encoded_word w;
		if (value.p[pos + 1] != '?' || !parse_encoded_word(value, pos, &w)) {
			i = pos + 1;
			continue;
		}
		struct str between = str_make(value.p + text_start, pos - text_start);
		bool only_space = true;
		for (size_t k = 0; k < between.len && only_space; k++)
			only_space = mime_is_wsp(between.p[k]) || between.p[k] == '\r' ||
				     between.p[k] == '\n';
		/* RFC 2047 6.2: white space between adjacent encoded words is
		 * ignored. Words in the same charset are decoded together so a
		 * multi-byte character split across two words survives. */
		bool join = pend_cs.p != NULL && only_space;
		if (!join || !str_eq_nocase(pend_cs, w.charset)) {
			if (pend_cs.p != NULL &&
			    mime_charset_to_utf8(pend_cs, buf_str(&pend), out) < 0)
				ret = -1;
			buf_reset(&pend);
			pend_cs = STR_NULL;
		}
		if (!join && ret > 0 && append_raw_text(between, fallback, out, &tmp) < 0)
			ret = -1;
		if (ret > 0 && decode_word_bytes(&w, &pend) < 0)
			ret = -1;
		pend_cs = w.charset;
		i = text_start = w.end;
	}
	if (ret > 0 && pend_cs.p != NULL && mime_charset_to_utf8(pend_cs, buf_str(&pend), out) < 0)
		ret = -1;
	if (ret > 0 && text_start < value.len &&
	    append_raw_text(str_make(value.p + text_start, value.len - text_start), fallback, out,
			    &tmp) < 0)
		ret = -1;
	buf_free(&pend);
	buf_free(&tmp);
	return ret;
}

/* ---- RFC 2231 ------------------------------------------------------------ */

struct param_name {
	struct str base;
	int section;   /* -1: not an RFC 2231 name */
	bool extended; /* trailing '*': charset'lang'%XX encoding */
};

static struct param_name split_param_name(struct str name)
{
	struct param_name pn = { name, -1, false };
	long star = str_find_char(name, '*');
	if (star <= 0)
		return pn;
	struct str rest = str_make(name.p + star + 1, name.len - (size_t)star - 1);
	int section = 0;
	bool extended = false;
	if (rest.len == 0) {
		extended = true; /* "name*" */
	} else {
		size_t k = 0;
		while (k < rest.len && rest.p[k] >= '0' && rest.p[k] <= '9' && k < 4)
			section = section * 10 + (rest.p[k++] - '0');
		if (k == 0)
			return pn;
		if (k < rest.len && rest.p[k] == '*') {
			extended = true;
			k++;
		}
		if (k != rest.len)
			return pn;
	}
	pn.base = str_make(name.p, (size_t)star);
	pn.section = section;
	pn.extended = extended;
	return pn;
}

/* Percent-decode an extended value section (RFC 2231 4). */
static int append_pct_decoded(struct str s, struct buf *out)
{
	if (buf_reserve(out, s.len) < 0)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (c == '%' && i + 2 < s.len) {
			int h = hexval(s.p[i + 1]);
			int l = hexval(s.p[i + 2]);
			if (h >= 0 && l >= 0) {
				c = (char)(h * 16 + l);
				i += 2;
			}
		}
		out->data[out->len++] = c;
	}
	out->data[out->len] = '\0';
	return 1;
}

/* The joined value of an RFC 2231 parameter, kept in one buffer: when
 * has_prefix, raw starts with "charset'lang'" (cs_len and lang_len long),
 * then the value octets. */
struct rfc2231_value {
	bool extended;
	bool has_prefix;
	size_t cs_len, lang_len;
};

/* Join every section of the parameter whose first section is at or after
 * params[first] (its base name is `base`), in section order, marking them
 * used. Extended sections are percent-decoded. */
static int rfc2231_join(const struct mime_param *params, size_t n, size_t first,
			struct str base, bool *used, struct buf *raw, struct buf *unesc,
			struct rfc2231_value *v_r)
{
	memset(v_r, 0, sizeof(*v_r));
	/* Sections may appear in any order (RFC 2231 3); n is small. */
	for (int next = 0; next < 1000; next++) {
		size_t found = n;
		struct param_name fpn = { 0 };
		for (size_t j = first; j < n; j++) {
			if (used[j])
				continue;
			struct param_name pn = split_param_name(params[j].name);
			if (pn.section == next && str_eq_nocase(pn.base, base)) {
				found = j;
				fpn = pn;
				break;
			}
		}
		if (found == n)
			break;
		used[found] = true;
		buf_reset(unesc);
		if (mime_param_value_append(&params[found], unesc) < 0)
			return -1;
		struct str v = buf_str(unesc);
		if (!fpn.extended) {
			if (buf_append_str(raw, v) < 0)
				return -1;
			continue;
		}
		if (next == 0) {
			/* RFC 2231 4: the first section is charset'language'value */
			v_r->extended = true;
			long q1 = str_find_char(v, '\'');
			long q2 = q1 < 0 ? -1 : str_find_char(str_make(v.p + q1 + 1, v.len - (size_t)q1 - 1), '\'');
			if (q2 >= 0) {
				v_r->has_prefix = true;
				v_r->cs_len = (size_t)q1;
				v_r->lang_len = (size_t)q2;
				size_t skip = (size_t)q1 + (size_t)q2 + 2;
				if (buf_append(raw, v.p, skip) < 0)
					return -1;
				v = str_make(v.p + skip, v.len - skip);
			}
		}
		if (append_pct_decoded(v, raw) < 0)
			return -1;
	}
	return 1;
}

static bool is_attr_char(unsigned char c)
{
	/* RFC 2231 7: attribute-char excludes "*", "'", "%", tspecials and
	 * space/controls. */
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("*'%()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Convert an extended joined value to UTF-8 (unknown or missing charset:
 * see mime_charset_to_utf8). *lang_r points into raw. */
static int extended_to_utf8(const struct buf *raw, const struct rfc2231_value *v,
			    struct buf *out, struct str *lang_r)
{
	struct str cs = STR_LIT("us-ascii");
	struct str value = buf_str(raw);
	*lang_r = STR_LIT("");
	if (v->has_prefix) {
		cs = str_make(raw->data, v->cs_len);
		*lang_r = str_make(raw->data + v->cs_len + 1, v->lang_len);
		size_t skip = v->cs_len + v->lang_len + 2;
		value = str_make(raw->data + skip, raw->len - skip);
	}
	return mime_charset_to_utf8(cs, value, out) < 0 ? -1 : 1;
}

int mime_params_write_imap(const struct mime_param *params, size_t n, bool default_charset,
			   struct buf *out, struct buf *tmp)
{
	bool used[MIME_MAX_PARAMS] = { false };
	if (n > MIME_MAX_PARAMS)
		n = MIME_MAX_PARAMS;
	bool have_charset = false;
	for (size_t i = 0; i < n; i++)
		if (str_eq_nocase(split_param_name(params[i].name).base, STR_LIT("charset")))
			have_charset = true;
	bool add_default = default_charset && !have_charset;
	if (n == 0 && !add_default)
		return buf_append(out, "NIL", 3);
	struct buf raw = BUF_INIT(0), utf8 = BUF_INIT(0);
	int r = buf_append_char(out, '(');
	bool first = true;
	if (add_default && r > 0) {
		r = buf_append_cstr(out, "\"charset\" \"us-ascii\"");
		first = false;
	}
	for (size_t i = 0; i < n && r > 0; i++) {
		if (used[i])
			continue;
		struct param_name pn = split_param_name(params[i].name);
		if (!first)
			r = buf_append_char(out, ' ');
		first = false;
		if (r < 0)
			break;
		if (pn.section < 0) {
			used[i] = true;
			buf_reset(tmp);
			if (imap_append_string(out, params[i].name, 0) < 0 ||
			    buf_append_char(out, ' ') < 0 || mime_param_value_append(&params[i], tmp) < 0) {
				r = -1;
				break;
			}
			buf_reset(&utf8);
			if (mime_append_unfolded(&utf8, buf_str(tmp)) < 0 ||
			    imap_append_string(out, buf_str(&utf8), 0) < 0)
				r = -1;
			continue;
		}
		struct rfc2231_value rv;
		struct str lang;
		buf_reset(&raw);
		if (rfc2231_join(params, n, i, pn.base, used, &raw, tmp, &rv) < 0) {
			r = -1;
			break;
		}
		used[i] = true;
		if (raw.len == 0 && !rv.extended) {
			/* no section 0 ("x*1" alone): keep this value as is */
			if (mime_param_value_append(&params[i], &raw) < 0) {
				r = -1;
				break;
			}
		}
		buf_reset(tmp);
		if (!rv.extended) {
			if (imap_append_string(out, pn.base, 0) < 0 || buf_append_char(out, ' ') < 0 ||
			    mime_append_unfolded(tmp, buf_str(&raw)) < 0 ||
			    imap_append_string(out, buf_str(tmp), 0) < 0)
				r = -1;
			continue;
		}
		buf_reset(&utf8);
		if (extended_to_utf8(&raw, &rv, &utf8, &lang) < 0) {
			r = -1;
			break;
		}
		/* RFC 9051 7.5.2: decoded, converted to UTF-8, returned as "x*";
		 * re-encoded as RFC 2231 utf-8''%XX so clients that decode
		 * RFC 2231 get the right text and the value stays 7-bit. */
		if (buf_append_str(tmp, pn.base) < 0 || buf_append_char(tmp, '*') < 0 ||
		    imap_append_string(out, buf_str(tmp), 0) < 0 || buf_append_char(out, ' ') < 0) {
			r = -1;
			break;
		}
		buf_reset(tmp);
		if (buf_append_cstr(tmp, "utf-8'") < 0) {
			r = -1;
			break;
		}
		/* a language tag is letters, digits and "-" (RFC 5646) */
		for (size_t k = 0; k < lang.len && r > 0; k++) {
			char c = lang.p[k];
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-')
				r = buf_append_char(tmp, c);
		}
		if (r < 0 || buf_append_char(tmp, '\'') < 0) {
			r = -1;
			break;
		}
		for (size_t k = 0; k < utf8.len && r > 0; k++) {
			unsigned char c = (unsigned char)utf8.data[k];
			if (is_attr_char(c))
				r = buf_append_char(tmp, (char)c);
			else
				r = buf_printf(tmp, "%%%02X", c);
		}
		if (r > 0)
			r = imap_append_string(out, buf_str(tmp), 0);
	}
	if (r > 0)
		r = buf_append_char(out, ')');
	buf_free(&raw);
	buf_free(&utf8);
	return r;
}

int mime_param_get_utf8(struct str field_value, const char *name, struct buf *out)
{
	struct mime_param params[MIME_MAX_PARAMS];
	struct str type, subtype;
	size_t n = mime_parse_params(field_value, false, &type, &subtype, params, MIME_MAX_PARAMS);
	/* The value may start with "type/subtype" or "disposition": the
	 * parser skips anything up to the first ';'. */
	struct str want = str_c(name);
	bool used[MIME_MAX_PARAMS] = { false };
	/* RFC 2231 forms first: mailers that send "filename*" often add a
	 * plain "filename" with an ASCII approximation for old readers. */
	for (size_t k = 0; k < 2 * n; k++) {
		size_t i = k % n;
		struct param_name pn = split_param_name(params[i].name);
		if (!str_eq_nocase(pn.base, want) || (k < n) != (pn.section >= 0))
			continue;
		struct buf raw = BUF_INIT(0), tmp = BUF_INIT(0), plain = BUF_INIT(0);
		int r;
		if (pn.section < 0) {
			r = mime_param_value_append(&params[i], &plain);
			/* RFC 2047 words inside a parameter are a common
			 * violation (filename="=?GBK?B?...?="); decode them. */
			if (r > 0)
				r = mime_decode_header_value(buf_str(&plain), STR_NULL, out);
		} else {
			struct rfc2231_value rv;
			struct str lang;
			r = rfc2231_join(params, n, i, pn.base, used, &raw, &tmp, &rv);
			if (r > 0 && rv.extended)
				r = extended_to_utf8(&raw, &rv, out, &lang);
			else if (r > 0)
				r = mime_decode_header_value(buf_str(&raw), STR_NULL, out);
		}
		buf_free(&raw);
		buf_free(&tmp);
		buf_free(&plain);
		return r < 0 ? -1 : 1;
	}
	return 0;
}
