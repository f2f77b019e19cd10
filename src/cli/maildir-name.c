#include "cli/maildir.h"

#include <string.h>

#include "store/store.h"

static uint64_t parse_u64_prefix(const char *p, size_t len, size_t *n_r)
{
	uint64_t v = 0;
	size_t i = 0;
	while (i < len && p[i] >= '0' && p[i] <= '9' && i < 19) {
		v = v * 10 + (uint64_t)(p[i] - '0');
		i++;
	}
	*n_r = i;
	return v;
}

int maildir_name_parse(struct str name, struct maildir_name *n_r)
{
	memset(n_r, 0, sizeof(*n_r));
	long info = str_find(name, STR_LIT(":2,"));
	/* Some tools on systems where ':' is not allowed use '!' or ';'. */
	if (info < 0)
		info = str_find(name, STR_LIT("!2,"));
	if (info < 0)
		info = str_find(name, STR_LIT(";2,"));
	n_r->base = info < 0 ? name : str_make(name.p, (size_t)info);
	if (info >= 0) {
		for (size_t i = (size_t)info + 3; i < name.len; i++) {
			char c = name.p[i];
			switch (c) {
			case 'P': n_r->passed = true; break;
			case 'R': n_r->flags |= STORE_FLAG_ANSWERED; break;
			case 'S': n_r->flags |= STORE_FLAG_SEEN; break;
			case 'T': n_r->flags |= STORE_FLAG_DELETED; break;
			case 'D': n_r->flags |= STORE_FLAG_DRAFT; break;
			case 'F': n_r->flags |= STORE_FLAG_FLAGGED; break;
			default:
				if (c >= 'a' && c <= 'z')
					n_r->keywords |= 1u << (c - 'a');
				break;
			}
		}
	}
	/* Dovecot's ",S=<size>,W=<vsize>" fields after the unique part. */
	struct str b = n_r->base;
	for (size_t i = 0; i + 3 <= b.len; i++) {
		if (b.p[i] != ',' || b.p[i + 2] != '=')
			continue;
		size_t n;
		uint64_t v = parse_u64_prefix(b.p + i + 3, b.len - i - 3, &n);
		if (n == 0)
			continue;
		if (b.p[i + 1] == 'S')
			n_r->size = v;
		else if (b.p[i + 1] == 'W')
			n_r->vsize = v;
	}
	return 1;
}

size_t maildir_info_format(uint8_t flags, bool passed, uint32_t keywords, char *out, size_t cap)
{
	char tmp[3 + 6 + MAILDIR_KEYWORDS_MAX + 1];
	size_t n = 0;
	tmp[n++] = ':';
	tmp[n++] = '2';
	tmp[n++] = ',';
	if (flags & STORE_FLAG_DRAFT)
		tmp[n++] = 'D';
	if (flags & STORE_FLAG_FLAGGED)
		tmp[n++] = 'F';
	if (passed)
		tmp[n++] = 'P';
	if (flags & STORE_FLAG_ANSWERED)
		tmp[n++] = 'R';
	if (flags & STORE_FLAG_SEEN)
		tmp[n++] = 'S';
	if (flags & STORE_FLAG_DELETED)
		tmp[n++] = 'T';
	for (unsigned i = 0; i < MAILDIR_KEYWORDS_MAX; i++)
		if (keywords & (1u << i))
			tmp[n++] = (char)('a' + i);
	if (cap == 0)
		return 0;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, tmp, n);
	out[n] = '\0';
	return n;
}

/* ------------------------------------------------------------------ */
/* modified UTF-7 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

static int put_utf8(uint32_t cp, char *out, size_t cap, size_t *len)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (*len + n >= cap)
		return -1;
	memcpy(out + *len, u, n);
	*len += n;
	return 1;
}

long mutf7_decode(struct str in, char *out, size_t cap)
{
	size_t len = 0, i = 0;
	while (i < in.len) {
		char c = in.p[i];
		if (c != '&') {
			if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
				return -1;
			if (len + 1 >= cap)
				return -1;
			out[len++] = c;
			i++;
			continue;
		}
		i++;
		if (i < in.len && in.p[i] == '-') {
			if (len + 1 >= cap)
				return -1;
			out[len++] = '&';
			i++;
			continue;
		}
		/* Collect 16-bit units from 6-bit groups until '-'. */
		uint32_t bits = 0, nbits = 0, high = 0;
		for (;;) {
			if (i >= in.len)
				return -1;
			char d = in.p[i++];
			if (d == '-')
				break;
			int v = b64_value(d);
			if (v < 0)
				return -1;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			uint32_t unit = (bits >> nbits) & 0xffff;
			bits &= (1u << nbits) - 1;
			if (unit >= 0xd800 && unit < 0xdc00) {
				if (high)
					return -1;
				high = unit;
				continue;
			}
			uint32_t cp = unit;
			if (unit >= 0xdc00 && unit < 0xe000) {
				if (!high)
					return -1;
				cp = 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00);
				high = 0;
			} else if (high) {
				return -1;
			}
			if (put_utf8(cp, out, cap, &len) < 0)
				return -1;
		}
		if (high || bits != 0)
			return -1;
	}
	if (len >= cap)
		return -1;
	out[len] = '\0';
	return (long)len;
}

/* Next code point of UTF-8 input, or -1. */
static long next_cp(struct str in, size_t *i)
{
	const unsigned char *p = (const unsigned char *)in.p;
	size_t n = in.len - *i;
	unsigned char c = p[*i];
	if (c < 0x80) {
		(*i)++;
		return c;
	}
	size_t need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
	if (need == 0 || need >= n)
		return -1;
	uint32_t cp = c & (0x3f >> need);
	for (size_t k = 1; k <= need; k++) {
		if ((p[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[*i + k] & 0x3f);
	}
	*i += need + 1;
	if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
		return -1;
	return (long)cp;
}

/* Printable ASCII stands for itself ('&' as "&-"); every other run of
 * code points becomes "&<modified base64 of UTF-16BE>-". */
long mutf7_encode(struct str in, char *out, size_t cap)
{
	size_t len = 0, i = 0;
#define PUT(ch)                                                                             \
	do {                                                                                \
		if (len + 1 >= cap)                                                         \
			return -1;                                                          \
		out[len++] = (ch);                                                          \
	} while (0)
	while (i < in.len) {
		unsigned char c = (unsigned char)in.p[i];
		if (c >= 0x20 && c < 0x7f) {
			PUT((char)c);
			if (c == '&')
				PUT('-');
			i++;
			continue;
		}
		PUT('&');
		uint32_t bits = 0, nbits = 0;
		while (i < in.len) {
			unsigned char d = (unsigned char)in.p[i];
			if (d >= 0x20 && d < 0x7f)
				break;
			long cp = next_cp(in, &i);
			if (cp < 0)
				return -1;
			uint32_t units[2];
			int nu = 0;
			if (cp >= 0x10000) {
				units[nu++] = 0xd800 + (((uint32_t)cp - 0x10000) >> 10);
				units[nu++] = 0xdc00 + (((uint32_t)cp - 0x10000) & 0x3ff);
			} else {
				units[nu++] = (uint32_t)cp;
			}
			for (int k = 0; k < nu; k++) {
				bits = (bits << 16) | units[k];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					PUT(b64[(bits >> nbits) & 0x3f]);
				}
				bits &= (1u << nbits) - 1;
			}
		}
		if (nbits > 0)
			PUT(b64[(bits << (6 - nbits)) & 0x3f]);
		PUT('-');
	}
#undef PUT
	out[len] = '\0';
	return (long)len;
}

long maildir_folder_to_mailbox(struct str dir, char *out, size_t cap)
{
	if (dir.len < 2 || dir.p[0] != '.' || str_eq(dir, STR_LIT("..")))
		return -1;
	/* Maildir++ separates levels with '.'; empty components are not
	 * names. A '.' that came out of an encoded run ("&AC4-", our export)
	 * is a literal dot: decode component by component to keep it. */
	size_t len = 0;
	size_t start = 1;
	for (size_t i = 1; i <= dir.len; i++) {
		if (i < dir.len && dir.p[i] != '.')
			continue;
		if (i == start)
			return -1; /* empty component */
		if (len > 0) {
			if (len + 1 >= cap)
				return -1;
			out[len++] = '/';
		}
		long m = mutf7_decode(str_make(dir.p + start, i - start), out + len, cap - len);
		if (m <= 0)
			return -1;
		/* '/' is Roost's separator: one inside a component (written
		 * literally or encoded) would change the hierarchy. */
		if (memchr(out + len, '/', (size_t)m) != NULL)
			return -1;
		len += (size_t)m;
		start = i + 1;
	}
	out[len] = '\0';
	return (long)len;
}

long maildir_mailbox_to_folder(struct str mailbox, char *out, size_t cap)
{
	if (cap < 2 || mailbox.len == 0)
		return -1;
	size_t len = 0;
	out[len++] = '.';
	size_t start = 0;
	for (size_t i = 0; i <= mailbox.len; i++) {
		if (i < mailbox.len && mailbox.p[i] != '/')
			continue;
		if (i == start)
			return -1;
		if (start > 0) {
			if (len + 1 >= cap)
				return -1;
			out[len++] = '.';
		}
		/* Encode the component, then rewrite its literal dots. */
		char comp[STORE_MAILBOX_NAME_MAX * 4 + 16];
		long m = mutf7_encode(str_make(mailbox.p + start, i - start), comp, sizeof(comp));
		if (m < 0)
			return -1;
		for (long k = 0; k < m; k++) {
			const char *piece = comp[k] == '.' ? "&AC4-" : NULL;
			size_t plen = piece ? 5 : 1;
			if (len + plen >= cap)
				return -1;
			if (piece)
				memcpy(out + len, piece, plen);
			else
				out[len] = comp[k];
			len += plen;
		}
		start = i + 1;
	}
	out[len] = '\0';
	return (long)len;
}

/* ------------------------------------------------------------------ */
/* index files */

static struct str next_token(struct str line, size_t *i)
{
	while (*i < line.len && line.p[*i] == ' ')
		(*i)++;
	size_t start = *i;
	while (*i < line.len && line.p[*i] != ' ')
		(*i)++;
	return str_make(line.p + start, *i - start);
}

int maildir_uidlist_header_parse(struct str line, struct maildir_uidlist_header *h_r)
{
	memset(h_r, 0, sizeof(*h_r));
	size_t i = 0;
	struct str ver = next_token(line, &i);
	if (str_eq(ver, STR_LIT("1"))) {
		h_r->version = 1;
		if (str_to_u32(next_token(line, &i), &h_r->uidvalidity) < 0 ||
		    str_to_u32(next_token(line, &i), &h_r->next_uid) < 0)
			return -1;
		return 1;
	}
	if (!str_eq(ver, STR_LIT("3")) && !str_eq(ver, STR_LIT("2")))
		return -1;
	h_r->version = 3;
	for (;;) {
		struct str t = next_token(line, &i);
		if (t.len == 0)
			break;
		if (t.p[0] == 'V')
			(void)str_to_u32(str_make(t.p + 1, t.len - 1), &h_r->uidvalidity);
		else if (t.p[0] == 'N')
			(void)str_to_u32(str_make(t.p + 1, t.len - 1), &h_r->next_uid);
	}
	return h_r->uidvalidity != 0 ? 1 : -1;
}

int maildir_uidlist_record_parse(unsigned version, struct str line, uint32_t *uid_r,
				 struct str *base_r)
{
	size_t i = 0;
	struct str uid = next_token(line, &i);
	if (uid.len == 0)
		return 0;
	if (str_to_u32(uid, uid_r) < 0 || *uid_r == 0)
		return -1;
	struct str name;
	if (version >= 2) {
		long colon = str_find_char(line, ':');
		if (colon < 0 || (size_t)colon < i)
			return -1;
		name = str_make(line.p + colon + 1, line.len - (size_t)colon - 1);
	} else {
		name = next_token(line, &i);
	}
	if (name.len == 0)
		return -1;
	struct maildir_name n;
	maildir_name_parse(name, &n);
	*base_r = n.base;
	return 1;
}

int maildir_keywords_line_parse(struct str line, unsigned *index_r, struct str *keyword_r)
{
	size_t i = 0;
	struct str idx = next_token(line, &i);
	if (idx.len == 0)
		return 0;
	uint32_t v;
	if (str_to_u32(idx, &v) < 0 || v >= MAILDIR_KEYWORDS_MAX)
		return -1;
	struct str kw = next_token(line, &i);
	if (kw.len == 0)
		return -1;
	*index_r = v;
	*keyword_r = kw;
	return 1;
}
