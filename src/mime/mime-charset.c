/* mime-charset.c - charset conversion to UTF-8 with iconv. */
#include <errno.h>
#include <iconv.h>
#include <string.h>

#include "lib/utf8.h"
#include "mime-private.h"
#include "mime.h"

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/* Valid UTF-8 is copied; each other byte becomes U+FFFD, or with latin1
 * set the Latin-1 character of that value. */
static int utf8_sanitize(struct str in, bool latin1, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in.p;
	size_t i = 0;
	while (i < in.len) {
		/* Fast path: a run of ASCII. */
		size_t run = i;
		while (run < in.len && p[run] < 0x80 && p[run] != 0)
			run++;
		if (run > i && buf_append(out, p + i, run - i) < 0)
			return -1;
		i = run;
		if (i >= in.len)
			break;
		uint32_t cp;
		size_t n = p[i] == 0 ? 0 : utf8_decode(p + i, in.len - i, &cp);
		if (p[i] == 0) {
			i++; /* NUL is dropped: it is never text */
			continue;
		}
		int r;
		if (n > 0)
			r = buf_append(out, p + i, n);
		else if (latin1)
			r = utf8_append(out, p[i]);
		else
			r = buf_append(out, REPLACEMENT, 3);
		if (r < 0)
			return -1;
		i += n > 0 ? n : 1;
	}
	return 1;
}

/* Map a MIME charset label to the iconv name to use, or NULL when it must
 * not be passed to iconv (empty, too long, odd characters - iconv reads
 * suffixes such as "//TRANSLIT" from the name). */
static const char *iconv_name(struct str cs, char *tmp, size_t tmpsize)
{
	static const struct {
		const char *label;
		const char *iconv;
	} aliases[] = {
		/* GB18030 is a superset of GB2312 and GBK: mail labelled with
		 * the older names often contains characters only GBK/GB18030
		 * have. */
		{ "gb2312", "GB18030" },   { "gbk", "GB18030" },	  { "cp936", "GB18030" },
		{ "x-gbk", "GB18030" },    { "euc-cn", "GB18030" },	  { "gb_2312-80", "GB18030" },
		{ "csgb2312", "GB18030" }, { "windows-936", "GB18030" }, { "ms936", "GB18030" },
		{ "big5", "BIG5-HKSCS" },  { "big-5", "BIG5-HKSCS" },	  { "x-big5", "BIG5-HKSCS" },
		{ "cn-big5", "BIG5-HKSCS" }, { "csbig5", "BIG5-HKSCS" },
		/* Mail labelled Latin-1 is very often really Windows-1252. */
		{ "iso-8859-1", "WINDOWS-1252" }, { "latin1", "WINDOWS-1252" },
		{ "ks_c_5601-1987", "CP949" },
	};
	if (cs.len == 0 || cs.len >= tmpsize)
		return NULL;
	for (size_t i = 0; i < cs.len; i++) {
		char c = cs.p[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':';
		if (!ok)
			return NULL;
		tmp[i] = mime_ascii_lower(c);
	}
	tmp[cs.len] = '\0';
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcmp(tmp, aliases[i].label) == 0)
			return aliases[i].iconv;
	return tmp;
}

static int convert(iconv_t cd, struct str in, struct buf *out)
{
	char *ip = (char *)in.p;
	size_t ileft = in.len;
	while (ileft > 0) {
		size_t want = ileft * 2 + 16;
		if (buf_reserve(out, want) < 0)
			return -1;
		char *op = out->data + out->len;
		size_t oleft = want;
		size_t r = iconv(cd, &ip, &ileft, &op, &oleft);
		out->len = (size_t)(op - out->data);
		out->data[out->len] = '\0';
		if (r != (size_t)-1)
			continue;
		if (errno == E2BIG)
			continue;
		/* EILSEQ: an invalid sequence; EINVAL: incomplete at the end.
		 * Either way one byte becomes U+FFFD and conversion goes on. */
		if (buf_append(out, REPLACEMENT, 3) < 0)
			return -1;
		ip++;
		ileft--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	/* Flush the shift state of stateful encodings (ISO-2022-*). */
	if (buf_reserve(out, 16) < 0)
		return -1;
	char *op = out->data + out->len;
	size_t oleft = 16;
	iconv(cd, NULL, NULL, &op, &oleft);
	out->len = (size_t)(op - out->data);
	out->data[out->len] = '\0';
	return 1;
}

int mime_charset_to_utf8(struct str charset, struct str in, struct buf *out)
{
	char tmp[64];
	charset = mime_trim_lws(charset);
	const char *name = iconv_name(charset, tmp, sizeof(tmp));
	if (name == NULL)
		return utf8_sanitize(in, true, out) < 0 ? -1 : 0;
	if (strcmp(name, "utf-8") == 0 || strcmp(name, "utf8") == 0)
		return utf8_sanitize(in, false, out);
	if (strcmp(name, "us-ascii") == 0 || strcmp(name, "ascii") == 0 ||
	    strcmp(name, "ansi_x3.4-1968") == 0)
		return utf8_sanitize(in, true, out);
	/* Pure ASCII input needs no conversion for ASCII-compatible charsets;
	 * most text labelled with any charset is plain ASCII. UTF-7 / UTF-16
	 * / ISO-2022 are not ASCII-transparent in this sense, so only skip
	 * the converter when no '+', '~', ESC or NUL occur either. */
	bool ascii = true;
	for (size_t i = 0; i < in.len && ascii; i++) {
		unsigned char c = (unsigned char)in.p[i];
		ascii = c < 0x80 && c != 0 && c != 0x1b && c != '+' && c != '~';
	}
	if (ascii && strncmp(name, "utf-16", 6) != 0 && strncmp(name, "utf-32", 6) != 0 &&
	    strncmp(name, "ucs", 3) != 0)
		return buf_append_str(out, in);
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1 && strcmp(name, "BIG5-HKSCS") == 0)
		cd = iconv_open("UTF-8", "BIG5");
	if (cd == (iconv_t)-1)
		return utf8_sanitize(in, true, out) < 0 ? -1 : 0;
	int r = convert(cd, in, out);
	iconv_close(cd);
	return r;
}
