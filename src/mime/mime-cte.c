/* mime-cte.c - Content-Transfer-Encoding decoders (RFC 2045 6.7, 6.8). */
#include <string.h>

#include "mime-private.h"
#include "mime.h"

enum mime_cte mime_cte_parse(struct str token)
{
	token = mime_trim_lws(token);
	/* Stop at a comment or parameter-like junk after the token. */
	for (size_t i = 0; i < token.len; i++) {
		if (mime_is_wsp(token.p[i]) || token.p[i] == '(' || token.p[i] == ';') {
			token.len = i;
			break;
		}
	}
	if (token.len == 0 || str_eq_nocase(token, STR_LIT("7bit")))
		return MIME_CTE_7BIT;
	if (str_eq_nocase(token, STR_LIT("8bit")))
		return MIME_CTE_8BIT;
	if (str_eq_nocase(token, STR_LIT("binary")))
		return MIME_CTE_BINARY;
	if (str_eq_nocase(token, STR_LIT("base64")))
		return MIME_CTE_BASE64;
	if (str_eq_nocase(token, STR_LIT("quoted-printable")))
		return MIME_CTE_QP;
	return MIME_CTE_OTHER;
}

/* ---- base64 -------------------------------------------------------------- */

/* 0..63 for the alphabet, 64 for '=', 65 for white space, 66 for others. */
static inline unsigned b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	switch (c) {
	case '+':
		return 62;
	case '/':
		return 63;
	case '=':
		return 64;
	case ' ':
	case '\t':
	case '\r':
	case '\n':
		return 65;
	default:
		return 66;
	}
}

void mime_b64_dec_init(struct mime_b64_dec *d)
{
	memset(d, 0, sizeof(*d));
}

/* Emit the bytes of a partial quantum (at "=" or at the end). A lone sextet
 * carries no complete byte. */
static void b64_flush_partial(struct mime_b64_dec *d, char **o)
{
	if (d->nchars == 2) {
		*(*o)++ = (char)(d->acc >> 4);
	} else if (d->nchars == 3) {
		*(*o)++ = (char)(d->acc >> 10);
		*(*o)++ = (char)(d->acc >> 2);
	} else if (d->nchars == 1) {
		d->invalid = true;
	}
	d->acc = 0;
	d->nchars = 0;
}

int mime_b64_dec_feed(struct mime_b64_dec *d, const void *in, size_t len, struct buf *out)
{
	const unsigned char *p = in;
	if (buf_reserve(out, len / 4 * 3 + 3) < 0)
		return -1;
	char *o = out->data + out->len;
	for (size_t i = 0; i < len; i++) {
		unsigned v = b64_value(p[i]);
		if (v < 64) {
			/* Data after padding: a second base64 block glued on
			 * (seen from broken concatenation); keep decoding. */
			d->ended = false;
			d->acc = (d->acc << 6) | v;
			if (++d->nchars == 4) {
				*o++ = (char)(d->acc >> 16);
				*o++ = (char)(d->acc >> 8);
				*o++ = (char)d->acc;
				d->acc = 0;
				d->nchars = 0;
			}
		} else if (v == 64) {
			if (!d->ended)
				b64_flush_partial(d, &o);
			d->ended = true;
		} else if (v == 66) {
			d->invalid = true;
		}
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 1;
}

int mime_b64_dec_finish(struct mime_b64_dec *d, struct buf *out)
{
	if (buf_reserve(out, 3) < 0)
		return -1;
	char *o = out->data + out->len;
	b64_flush_partial(d, &o);
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 1;
}

/* ---- quoted-printable ---------------------------------------------------- */

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void mime_qp_dec_init(struct mime_qp_dec *d)
{
	memset(d, 0, sizeof(*d));
}

/* d->pending holds either white space (held back: RFC 2045 6.7 rule 3,
 * white space at the end of a line is transport padding and is removed) or
 * an incomplete "=" / "=X" escape. */
static char *qp_flush_pending(struct mime_qp_dec *d, char *o)
{
	memcpy(o, d->pending, d->npending);
	o += d->npending;
	if (d->npending > 0 && d->pending[0] == '=')
		d->invalid = true;
	d->npending = 0;
	return o;
}

int mime_qp_dec_feed(struct mime_qp_dec *d, const void *in, size_t len, struct buf *out)
{
	const unsigned char *p = in;
	if (buf_reserve(out, len + sizeof(d->pending)) < 0)
		return -1;
	char *o = out->data + out->len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (d->npending > 0 && d->pending[0] == '=') {
			if (d->npending == 1) {
				if (hexval(c) >= 0) {
					d->pending[d->npending++] = (char)c;
					continue;
				}
				if (c == '\n') {
					d->npending = 0; /* soft line break */
					continue;
				}
				if (c == '\r' || mime_is_wsp((char)c)) {
					d->npending = 0;
					d->soft_break = true;
					continue;
				}
			} else if (hexval(c) >= 0) {
				*o++ = (char)(hexval((unsigned char)d->pending[1]) * 16 + hexval(c));
				d->npending = 0;
				continue;
			}
			/* RFC 2045 6.7 note 1: keep a malformed escape as is. */
			o = qp_flush_pending(d, o);
		}
		if (d->soft_break) {
			if (c == '\n') {
				d->soft_break = false;
				continue;
			}
			if (c == '\r' || mime_is_wsp((char)c))
				continue;
			/* "=" + spaces + text: not a soft break after all. */
			d->soft_break = false;
			d->invalid = true;
		}
		if (mime_is_wsp((char)c)) {
			if (d->npending == sizeof(d->pending))
				o = qp_flush_pending(d, o);
			d->pending[d->npending++] = (char)c;
		} else if (c == '\r' || c == '\n') {
			d->npending = 0; /* trailing white space dropped */
			*o++ = (char)c;
		} else if (c == '=') {
			o = qp_flush_pending(d, o);
			d->pending[0] = '=';
			d->npending = 1;
		} else {
			o = qp_flush_pending(d, o);
			*o++ = (char)c;
		}
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 1;
}

int mime_qp_dec_finish(struct mime_qp_dec *d, struct buf *out)
{
	if (buf_reserve(out, sizeof(d->pending)) < 0)
		return -1;
	char *o = out->data + out->len;
	/* At the end: white space is trailing (dropped), a lone "=" is a
	 * final soft line break, "=X" is kept literally. */
	if (d->npending == 2 && d->pending[0] == '=')
		o = qp_flush_pending(d, o);
	d->npending = 0;
	d->soft_break = false;
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 1;
}

int mime_cte_decode(enum mime_cte cte, struct str body, struct buf *out)
{
	if (cte == MIME_CTE_BASE64) {
		struct mime_b64_dec d;
		mime_b64_dec_init(&d);
		if (mime_b64_dec_feed(&d, body.p, body.len, out) < 0)
			return -1;
		return mime_b64_dec_finish(&d, out);
	}
	if (cte == MIME_CTE_QP) {
		struct mime_qp_dec d;
		mime_qp_dec_init(&d);
		if (mime_qp_dec_feed(&d, body.p, body.len, out) < 0)
			return -1;
		return mime_qp_dec_finish(&d, out);
	}
	return buf_append_str(out, body);
}

size_t mime_cte_decoded_size(enum mime_cte cte, struct str body)
{
	if (cte != MIME_CTE_BASE64 && cte != MIME_CTE_QP)
		return body.len;
	/* Decode in chunks into a small buffer that is emptied each time. */
	enum { CHUNK = 16384 };
	struct buf tmp = BUF_INIT(0);
	struct mime_b64_dec b;
	struct mime_qp_dec q;
	mime_b64_dec_init(&b);
	mime_qp_dec_init(&q);
	size_t total = 0;
	for (size_t off = 0; off < body.len; off += CHUNK) {
		size_t n = body.len - off < CHUNK ? body.len - off : CHUNK;
		buf_reset(&tmp);
		if (cte == MIME_CTE_BASE64)
			mime_b64_dec_feed(&b, body.p + off, n, &tmp);
		else
			mime_qp_dec_feed(&q, body.p + off, n, &tmp);
		total += tmp.len;
	}
	buf_reset(&tmp);
	if (cte == MIME_CTE_BASE64)
		mime_b64_dec_finish(&b, &tmp);
	else
		mime_qp_dec_finish(&q, &tmp);
	total += tmp.len;
	buf_free(&tmp);
	return total;
}
