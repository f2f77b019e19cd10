/* web-util.c - escaping, form/cookie decoding, language choice. */
#include "web-util.h"

#include <stdio.h>
#include <string.h>

int web_escape(struct buf *b, struct str s)
{
	size_t start = 0;
	for (size_t i = 0; i < s.len; i++) {
		const char *rep = NULL;
		switch (s.p[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			continue;
		}
		if (buf_append(b, s.p + start, i - start) < 0 || buf_append_cstr(b, rep) < 0)
			return -1;
		start = i + 1;
	}
	return buf_append(b, s.p + start, s.len - start);
}

int web_escape_cstr(struct buf *b, const char *s)
{
	return web_escape(b, str_c(s));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		unsigned cp;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* Decodes one urlencoded value into out. */
static int form_decode(struct str v, char *out, size_t outcap)
{
	size_t o = 0;
	for (size_t i = 0; i < v.len; i++) {
		char c = v.p[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (i + 2 >= v.len)
				return -1;
			int h = hexval(v.p[i + 1]), l = hexval(v.p[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			c = (char)(h * 16 + l);
			i += 2;
		}
		unsigned char u = (unsigned char)c;
		if ((u < 0x20 && u != '\t' && u != '\r' && u != '\n') || u == 0x7f)
			return -1;
		if (o + 1 >= outcap)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return utf8_valid((const unsigned char *)out, o) ? 1 : -1;
}

int web_form_get(struct str form, const char *name, char *out, size_t outcap)
{
	size_t nlen = strlen(name), i = 0;
	if (outcap == 0)
		return -1;
	while (i <= form.len && form.len > 0) {
		size_t j = i;
		while (j < form.len && form.p[j] != '&')
			j++;
		struct str pair = str_sub(form, i, j - i);
		long eq = str_find_char(pair, '=');
		struct str key = eq < 0 ? pair : str_sub(pair, 0, (size_t)eq);
		/* Names here are plain ASCII words, so they are compared
		 * without decoding. */
		if (key.len == nlen && memcmp(key.p, name, nlen) == 0) {
			struct str val =
			    eq < 0 ? STR_NULL
			           : str_sub(pair, (size_t)eq + 1, pair.len - (size_t)eq - 1);
			return form_decode(val, out, outcap);
		}
		if (j >= form.len)
			break;
		i = j + 1;
	}
	return 0;
}

int web_cookie_get(struct str header, const char *name, char *out, size_t outcap)
{
	size_t nlen = strlen(name), i = 0;
	while (i < header.len) {
		size_t j = i;
		while (j < header.len && header.p[j] != ';')
			j++;
		struct str pair = str_trim(str_sub(header, i, j - i));
		long eq = str_find_char(pair, '=');
		if (eq >= 0 && (size_t)eq == nlen && memcmp(pair.p, name, nlen) == 0) {
			struct str val = str_sub(pair, (size_t)eq + 1, pair.len - (size_t)eq - 1);
			if (val.len >= 2 && val.p[0] == '"' && val.p[val.len - 1] == '"')
				val = str_sub(val, 1, val.len - 2);
			if (val.len + 1 > outcap)
				return -1;
			memcpy(out, val.p, val.len);
			out[val.len] = '\0';
			return 1;
		}
		i = j + 1;
	}
	return 0;
}

int web_lang_parse(struct str s, enum web_lang *lang_r)
{
	if (s.len >= 2 && (s.len == 2 || s.p[2] == '-' || s.p[2] == '_')) {
		if (str_has_prefix_nocase(s, "zh")) {
			*lang_r = WEB_LANG_ZH;
			return 1;
		}
		if (str_has_prefix_nocase(s, "en")) {
			*lang_r = WEB_LANG_EN;
			return 1;
		}
	}
	return -1;
}

/* q-value of a language-range's parameters ";q=0.8" (RFC 9110 12.4.2):
 * in thousandths, 1000 when absent, -1 when malformed. */
static int parse_q(struct str params)
{
	size_t i = 0;
	while (i < params.len) {
		size_t j = i;
		while (j < params.len && params.p[j] != ';')
			j++;
		struct str p = str_trim(str_sub(params, i, j - i));
		if (p.len >= 2 && (p.p[0] == 'q' || p.p[0] == 'Q') && p.p[1] == '=') {
			struct str v = str_sub(p, 2, p.len - 2);
			if (v.len == 0 || (v.p[0] != '0' && v.p[0] != '1'))
				return -1;
			int q = (v.p[0] - '0') * 1000, scale = 100;
			if (v.len > 1) {
				if (v.p[1] != '.' || v.len > 5)
					return -1;
				for (size_t k = 2; k < v.len; k++, scale /= 10) {
					if (v.p[k] < '0' || v.p[k] > '9')
						return -1;
					q += (v.p[k] - '0') * scale;
				}
			}
			return q > 1000 ? -1 : q;
		}
		i = j + 1;
	}
	return 1000;
}

enum web_lang web_lang_from_accept(struct str header)
{
	enum web_lang best = WEB_LANG_EN;
	int best_q = 0;
	size_t i = 0;
	while (i < header.len) {
		size_t j = i;
		while (j < header.len && header.p[j] != ',')
			j++;
		struct str item = str_trim(str_sub(header, i, j - i));
		long semi = str_find_char(item, ';');
		struct str range = semi < 0 ? item : str_trim(str_sub(item, 0, (size_t)semi));
		struct str params =
		    semi < 0 ? STR_NULL
		             : str_sub(item, (size_t)semi + 1, item.len - (size_t)semi - 1);
		enum web_lang l;
		int q = parse_q(params);
		if (q > best_q && web_lang_parse(range, &l) == 1) {
			best = l;
			best_q = q;
		}
		i = j + 1;
	}
	return best;
}

/* Decodes the five predefined XML entities; anything else is refused. */
static int xml_text_decode(struct str t, char *out, size_t outcap)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = {
	    {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
	size_t o = 0;
	for (size_t i = 0; i < t.len;) {
		char c = t.p[i];
		if (c == '&') {
			size_t k;
			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
				size_t el = strlen(ents[k].ent);
				if (t.len - i >= el && memcmp(t.p + i, ents[k].ent, el) == 0) {
					c = ents[k].c;
					i += el;
					break;
				}
			}
			if (k == sizeof(ents) / sizeof(ents[0]))
				return -1;
		} else {
			i++;
		}
		if (o + 1 >= outcap)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	struct str trimmed = str_trim(str_make(out, o));
	memmove(out, trimmed.p, trimmed.len);
	out[trimmed.len] = '\0';
	return 1;
}

int web_xml_element_text(struct str xml, const char *local, char *out, size_t outcap)
{
	if (str_find_nocase(xml, STR_LIT("<!DOCTYPE")) >= 0 ||
	    str_find(xml, STR_LIT("<!ENTITY")) >= 0)
		return -1;
	size_t llen = strlen(local);
	for (size_t i = 0; i < xml.len; i++) {
		if (xml.p[i] != '<' || i + 1 >= xml.len || xml.p[i + 1] == '/' ||
		    xml.p[i + 1] == '?' || xml.p[i + 1] == '!')
			continue;
		/* The tag's name: up to whitespace, '>' or '/'. */
		size_t s = i + 1, e = s;
		while (e < xml.len && xml.p[e] != '>' && xml.p[e] != '/' && xml.p[e] != ' ' &&
		       xml.p[e] != '\t' && xml.p[e] != '\r' && xml.p[e] != '\n')
			e++;
		struct str name = str_make(xml.p + s, e - s);
		long colon = str_find_char(name, ':');
		if (colon >= 0)
			name = str_sub(name, (size_t)colon + 1, name.len - (size_t)colon - 1);
		if (name.len != llen || memcmp(name.p, local, llen) != 0)
			continue;
		/* Skip attributes to the end of the start tag. */
		while (e < xml.len && xml.p[e] != '>')
			e++;
		if (e >= xml.len || xml.p[e - 1] == '/')
			return -1;
		size_t ts = e + 1, te = ts;
		while (te < xml.len && xml.p[te] != '<')
			te++;
		if (te >= xml.len || te + 1 >= xml.len || xml.p[te + 1] != '/')
			return -1;
		return xml_text_decode(str_make(xml.p + ts, te - ts), out, outcap);
	}
	return 0;
}

void web_hex(const unsigned char *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

void web_format_bytes(unsigned long long n, char *out, size_t outcap)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	if (n < 1024) {
		snprintf(out, outcap, "%llu B", n);
		return;
	}
	double v = (double)n / 1024;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(out, outcap, "%.1f %s", v, units[u]);
}
