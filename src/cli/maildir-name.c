#include "cli/maildir.h"

#include <string.h>

#include "lib/buf.h"
#include "lib/mutf7.h"
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
/* folder names: Maildir++ components in modified UTF-7 (lib/mutf7.h) */

long maildir_folder_to_mailbox(struct str dir, char *out, size_t cap)
{
	if (cap == 0 || dir.len < 2 || dir.p[0] != '.' || str_eq(dir, STR_LIT("..")))
		return -1;
	/* Maildir++ separates levels with '.'; empty components are not
	 * names. A '.' that came out of an encoded run ("&AC4-", our export)
	 * is a literal dot: decode component by component to keep it. */
	struct buf comp = BUF_INIT(cap);
	size_t len = 0;
	size_t start = 1;
	long ret = -1;
	for (size_t i = 1; i <= dir.len; i++) {
		if (i < dir.len && dir.p[i] != '.')
			continue;
		if (i == start)
			goto out; /* empty component */
		if (len > 0) {
			if (len + 1 >= cap)
				goto out;
			out[len++] = '/';
		}
		buf_reset(&comp);
		if (mutf7_decode(str_make(dir.p + start, i - start), MUTF7_ALLOW_ENCODED_ASCII,
				 &comp) < 0 ||
		    comp.len == 0)
			goto out;
		/* '/' is Roost's separator: one inside a component (written
		 * literally or encoded) would change the hierarchy. */
		if (memchr(comp.data, '/', comp.len) != NULL)
			goto out;
		if (len + comp.len >= cap)
			goto out;
		memcpy(out + len, comp.data, comp.len);
		len += comp.len;
		start = i + 1;
	}
	out[len] = '\0';
	ret = (long)len;
out:
	buf_free(&comp);
	return ret;
}

long maildir_mailbox_to_folder(struct str mailbox, char *out, size_t cap)
{
	if (cap < 2 || mailbox.len == 0)
		return -1;
	struct buf comp = BUF_INIT(STORE_MAILBOX_NAME_MAX * 4 + 16);
	size_t len = 0;
	long ret = -1;
	out[len++] = '.';
	size_t start = 0;
	for (size_t i = 0; i <= mailbox.len; i++) {
		if (i < mailbox.len && mailbox.p[i] != '/')
			continue;
		if (i == start)
			goto out;
		if (start > 0) {
			if (len + 1 >= cap)
				goto out;
			out[len++] = '.';
		}
		/* Encode the component, then rewrite its literal dots. */
		buf_reset(&comp);
		if (mutf7_encode(str_make(mailbox.p + start, i - start), &comp) < 0)
			goto out;
		for (size_t k = 0; k < comp.len; k++) {
			const char *piece = comp.data[k] == '.' ? "&AC4-" : NULL;
			size_t plen = piece ? 5 : 1;
			if (len + plen >= cap)
				goto out;
			if (piece)
				memcpy(out + len, piece, plen);
			else
				out[len] = comp.data[k];
			len += plen;
		}
		start = i + 1;
	}
	out[len] = '\0';
	ret = (long)len;
out:
	buf_free(&comp);
	return ret;
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
