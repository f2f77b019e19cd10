/* imap-fetch-parse.c - parsing FETCH data items and modifiers, naming them
 * in responses, and header-field subsetting.
 *
 * Grammar (RFC 9051 9, with RFC 3516 and RFC 7162 additions):
 *   fetch       = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
 *                 fetch-att / "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
 *   fetch-att   = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822.SIZE" /
 *                 "BODY" ["STRUCTURE"] / "UID" / "MODSEQ" /
 *                 "BODY" [".PEEK"] section [partial] /
 *                 "BINARY" [".PEEK"] section-binary [partial] /
 *                 "BINARY.SIZE" section-binary /
 *                 "RFC822" / "RFC822.HEADER" / "RFC822.TEXT"      (rev1)
 *   section     = "[" [section-spec] "]"
 *   section-spec = section-msgtext / (section-part ["." section-text])
 *   section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
 *   section-text = section-msgtext / "MIME"
 *   partial     = "<" number64 "." nz-number64 ">"
 *   fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
 *   fetch-modifier = "CHANGEDSINCE" SP mod-sequence-value / "VANISHED"
 */
#include "imap/imap-fetch.h"

#include <string.h>

#include "lib/imap-quote.h"
#include "lib/pool.h"

struct fetch_parser {
	struct pool *pool;
	const char *p, *end;
	struct imap_fetch_request *req;
	size_t cap;
	const char *error;
};

static bool at(struct fetch_parser *fp, char c)
{
	return fp->p < fp->end && *fp->p == c;
}

static bool eat(struct fetch_parser *fp, char c)
{
	if (!at(fp, c))
		return false;
	fp->p++;
	return true;
}

static int fail(struct fetch_parser *fp, const char *error)
{
	if (fp->error == NULL)
		fp->error = error;
	return -1;
}

/* An item or modifier name: letters, digits and dots. */
static struct str read_name(struct fetch_parser *fp)
{
	const char *start = fp->p;
	while (fp->p < fp->end) {
		char c = *fp->p;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '-' || c == '_')
			fp->p++;
		else
			break;
	}
	return str_make(start, (size_t)(fp->p - start));
}

static int read_number64(struct fetch_parser *fp, uint64_t *n_r)
{
	const char *start = fp->p;
	while (fp->p < fp->end && *fp->p >= '0' && *fp->p <= '9')
		fp->p++;
	/* number64 is at most 2^63-1 (RFC 9051 9). */
	uint64_t n;
	if (str_to_u64(str_make(start, (size_t)(fp->p - start)), &n) < 0 || n > INT64_MAX)
		return -1;
	*n_r = n;
	return 1;
}

static struct imap_fetch_item *add_item(struct fetch_parser *fp, enum imap_fetch_kind kind)
{
	struct imap_fetch_request *req = fp->req;
	if (req->count == IMAP_FETCH_MAX_ITEMS) {
		fail(fp, "Too many FETCH items");
		return NULL;
	}
	if (req->count == fp->cap) {
		size_t cap = fp->cap ? fp->cap * 2 : 8;
		struct imap_fetch_item *items = pool_alloc(fp->pool, cap * sizeof(*items));
		if (items == NULL) {
			fail(fp, "Out of memory");
			return NULL;
		}
		if (req->count > 0)
			memcpy(items, req->items, req->count * sizeof(*items));
		req->items = items;
		fp->cap = cap;
	}
	struct imap_fetch_item *item = &req->items[req->count++];
	memset(item, 0, sizeof(*item));
	item->kind = kind;
	return item;
}

/* header-fld-name = astring: an atom of ASTRING-CHARs, or a quoted string.
 * Inside the section brackets a "]" ends the list, so it is not taken as
 * part of an atom. The command parser hands a literal name over as a
 * quoted string (imap-parser.h), so none appears in this one-line text. */
static int read_field_name(struct fetch_parser *fp, struct str *name_r)
{
	char tmp[IMAP_FETCH_MAX_FIELD_NAME];
	size_t len = 0;
	if (eat(fp, '"')) {
		for (;;) {
			if (fp->p >= fp->end)
				return fail(fp, "Unterminated quoted string");
			char c = *fp->p++;
			if (c == '"')
				break;
			if (c == '\\') {
				if (fp->p >= fp->end || (*fp->p != '"' && *fp->p != '\\'))
					return fail(fp, "Invalid escape in quoted string");
				c = *fp->p++;
			}
			if (c == '\r' || c == '\n' || c == '\0')
				return fail(fp, "Invalid character in quoted string");
			if (len == sizeof(tmp))
				return fail(fp, "Header field name too long");
			tmp[len++] = c;
		}
	} else if (at(fp, '{') || at(fp, '~')) {
		return fail(fp, "Literal header field names are not supported");
	} else {
		while (fp->p < fp->end) {
			unsigned char c = (unsigned char)*fp->p;
			if (c <= 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '{' ||
			    c == '%' || c == '*' || c == '"' || c == '\\' || c == ']')
				break;
			if (len == sizeof(tmp))
				return fail(fp, "Header field name too long");
			tmp[len++] = (char)c;
			fp->p++;
		}
	}
	if (len == 0)
		return fail(fp, "Empty header field name");
	/* RFC 5322 field names are printable ASCII without ":". */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)tmp[i];
		if (c <= 0x20 || c >= 0x7f || c == ':')
			return fail(fp, "Invalid header field name");
	}
	*name_r = pool_str_dup(fp->pool, str_make(tmp, len));
	if (name_r->p == NULL)
		return fail(fp, "Out of memory");
	return 1;
}

static int parse_header_list(struct fetch_parser *fp, struct imap_fetch_item *item)
{
	if (!eat(fp, ' ') || !eat(fp, '('))
		return fail(fp, "HEADER.FIELDS needs a list of field names");
	struct str names[IMAP_FETCH_MAX_HEADER_FIELDS];
	size_t n = 0;
	for (;;) {
		if (n == IMAP_FETCH_MAX_HEADER_FIELDS)
			return fail(fp, "Too many header field names");
		if (read_field_name(fp, &names[n]) < 0)
			return -1;
		n++;
		if (eat(fp, ')'))
			break;
		if (!eat(fp, ' '))
			return fail(fp, "Invalid header field list");
	}
	item->fields = pool_alloc(fp->pool, n * sizeof(*names));
	if (item->fields == NULL)
		return fail(fp, "Out of memory");
	memcpy(item->fields, names, n * sizeof(*names));
	item->nfields = n;
	return 1;
}

/* After "[": section-spec "]" (binary: section-part only). */
static int parse_section(struct fetch_parser *fp, struct imap_fetch_item *item, bool binary)
{
	uint32_t parts[IMAP_FETCH_MAX_SECTION_DEPTH];
	size_t depth = 0;
	bool text_follows = false;
	item->spec = IMAP_SPEC_NONE;
	while (fp->p < fp->end && *fp->p >= '0' && *fp->p <= '9') {
		if (*fp->p == '0')
			return fail(fp, "Section part numbers start at 1");
		const char *start = fp->p;
		while (fp->p < fp->end && *fp->p >= '0' && *fp->p <= '9')
			fp->p++;
		uint32_t n;
		if (str_to_u32(str_make(start, (size_t)(fp->p - start)), &n) < 0)
			return fail(fp, "Section part number too large");
		if (depth == IMAP_FETCH_MAX_SECTION_DEPTH)
			return fail(fp, "Section nested too deeply");
		parts[depth++] = n;
		if (!eat(fp, '.'))
			break;
		if (!(fp->p < fp->end && *fp->p >= '0' && *fp->p <= '9')) {
			text_follows = true;
			break;
		}
	}
	if (text_follows || (depth == 0 && !at(fp, ']'))) {
		if (binary)
			return fail(fp, "BINARY takes only part numbers");
		struct str name = read_name(fp);
		if (str_eq_cstr_nocase(name, "HEADER")) {
			item->spec = IMAP_SPEC_HEADER;
		} else if (str_eq_cstr_nocase(name, "HEADER.FIELDS")) {
			item->spec = IMAP_SPEC_HEADER_FIELDS;
		} else if (str_eq_cstr_nocase(name, "HEADER.FIELDS.NOT")) {
			item->spec = IMAP_SPEC_HEADER_FIELDS_NOT;
		} else if (str_eq_cstr_nocase(name, "TEXT")) {
			item->spec = IMAP_SPEC_TEXT;
		} else if (str_eq_cstr_nocase(name, "MIME")) {
			/* RFC 9051 6.4.5.1: MIME MUST be prefixed by a part number. */
			if (depth == 0)
				return fail(fp, "MIME needs a part number");
			item->spec = IMAP_SPEC_MIME;
		} else {
			return fail(fp, "Unknown section specifier");
		}
		if ((item->spec == IMAP_SPEC_HEADER_FIELDS ||
		     item->spec == IMAP_SPEC_HEADER_FIELDS_NOT) &&
		    parse_header_list(fp, item) < 0)
			return -1;
	}
	if (!eat(fp, ']'))
		return fail(fp, "Missing ] after section");
	if (depth > 0) {
		item->part = pool_alloc(fp->pool, depth * sizeof(*parts));
		if (item->part == NULL)
			return fail(fp, "Out of memory");
		memcpy(item->part, parts, depth * sizeof(*parts));
	}
	item->depth = depth;
	return 1;
}

static int parse_partial(struct fetch_parser *fp, struct imap_fetch_item *item)
{
	if (!eat(fp, '<'))
		return 1;
	if (read_number64(fp, &item->partial_off) < 0 || !eat(fp, '.') ||
	    read_number64(fp, &item->partial_len) < 0 || item->partial_len == 0 || !eat(fp, '>'))
		return fail(fp, "Invalid partial <offset.length>");
	item->partial = true;
	return 1;
}

static int parse_att(struct fetch_parser *fp)
{
	struct imap_fetch_request *req = fp->req;
	struct str name = read_name(fp);
	struct imap_fetch_item *item;
	static const struct {
		const char *name;
		enum imap_fetch_kind kind;
	} simple[] = {
	    {"UID", IMAP_FETCH_UID},
	    {"FLAGS", IMAP_FETCH_FLAGS},
	    {"INTERNALDATE", IMAP_FETCH_INTERNALDATE},
	    {"RFC822.SIZE", IMAP_FETCH_RFC822_SIZE},
	    {"ENVELOPE", IMAP_FETCH_ENVELOPE},
	    {"BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE},
	    {"MODSEQ", IMAP_FETCH_MODSEQ},
	};
	if (name.len == 0)
		return fail(fp, "Expected a FETCH item");
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (str_eq_cstr_nocase(name, simple[i].name))
			return add_item(fp, simple[i].kind) ? 1 : -1;
	}
	if (str_eq_cstr_nocase(name, "RFC822") || str_eq_cstr_nocase(name, "RFC822.HEADER") ||
	    str_eq_cstr_nocase(name, "RFC822.TEXT")) {
		if ((item = add_item(fp, IMAP_FETCH_SECTION)) == NULL)
			return -1;
		if (name.len == 6) {
			item->alias = IMAP_ALIAS_RFC822;
		} else if (str_eq_cstr_nocase(name, "RFC822.HEADER")) {
			item->alias = IMAP_ALIAS_RFC822_HEADER;
			item->spec = IMAP_SPEC_HEADER;
			item->peek = true;
		} else {
			item->alias = IMAP_ALIAS_RFC822_TEXT;
			item->spec = IMAP_SPEC_TEXT;
		}
		return 1;
	}
	bool body = str_eq_cstr_nocase(name, "BODY");
	bool body_peek = str_eq_cstr_nocase(name, "BODY.PEEK");
	bool binary = str_eq_cstr_nocase(name, "BINARY");
	bool binary_peek = str_eq_cstr_nocase(name, "BINARY.PEEK");
	bool binary_size = str_eq_cstr_nocase(name, "BINARY.SIZE");
	if (body && !at(fp, '['))
		return add_item(fp, IMAP_FETCH_BODY) ? 1 : -1;
	if (!body && !body_peek && !binary && !binary_peek && !binary_size)
		return fail(fp, "Unknown FETCH item");
	if (!eat(fp, '['))
		return fail(fp, "Missing [ after BODY.PEEK/BINARY");
	enum imap_fetch_kind kind = body || body_peek ? IMAP_FETCH_SECTION
	                            : binary_size     ? IMAP_FETCH_BINARY_SIZE
	                                              : IMAP_FETCH_BINARY;
	if ((item = add_item(fp, kind)) == NULL)
		return -1;
	item->peek = body_peek || binary_peek;
	if (parse_section(fp, item, kind != IMAP_FETCH_SECTION) < 0)
		return -1;
	if (kind != IMAP_FETCH_BINARY_SIZE && parse_partial(fp, item) < 0)
		return -1;
	(void)req;
	return 1;
}

static int add_macro(struct fetch_parser *fp, struct str name)
{
	static const enum imap_fetch_kind fast[] = {IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE,
	                                            IMAP_FETCH_RFC822_SIZE, IMAP_FETCH_ENVELOPE,
	                                            IMAP_FETCH_BODY};
	size_t n;
	if (str_eq_cstr_nocase(name, "FAST"))
		n = 3;
	else if (str_eq_cstr_nocase(name, "ALL"))
		n = 4;
	else if (str_eq_cstr_nocase(name, "FULL"))
		n = 5;
	else
		return 0;
	for (size_t i = 0; i < n; i++)
		if (add_item(fp, fast[i]) == NULL)
			return -1;
	return 1;
}

static int parse_modifiers(struct fetch_parser *fp)
{
	struct imap_fetch_request *req = fp->req;
	if (!eat(fp, '('))
		return fail(fp, "Expected ( before FETCH modifiers");
	for (;;) {
		struct str name = read_name(fp);
		if (str_eq_cstr_nocase(name, "CHANGEDSINCE")) {
			if (req->has_changedsince)
				return fail(fp, "CHANGEDSINCE given twice");
			/* mod-sequence-value = 1*DIGIT, 63-bit (RFC 7162 7). */
			if (!eat(fp, ' ') || read_number64(fp, &req->changedsince) < 0)
				return fail(fp, "CHANGEDSINCE needs a mod-sequence value");
			req->has_changedsince = true;
		} else if (str_eq_cstr_nocase(name, "VANISHED")) {
			if (req->vanished)
				return fail(fp, "VANISHED given twice");
			req->vanished = true;
		} else {
			return fail(fp, "Unknown FETCH modifier");
		}
		if (eat(fp, ')'))
			break;
		if (!eat(fp, ' '))
			return fail(fp, "Invalid FETCH modifier list");
	}
	/* RFC 7162 3.2.6: VANISHED only together with CHANGEDSINCE. */
	if (req->vanished && !req->has_changedsince)
		return fail(fp, "VANISHED needs CHANGEDSINCE");
	return 1;
}

int imap_fetch_parse(struct pool *pool, struct str text, struct imap_fetch_request *req_r,
                     const char **error_r)
{
	struct fetch_parser fp = {.pool = pool, .p = text.p, .end = text.p + text.len};
	memset(req_r, 0, sizeof(*req_r));
	fp.req = req_r;
	int ret = 1;
	if (eat(&fp, '(')) {
		for (;;) {
			if (parse_att(&fp) < 0) {
				ret = -1;
				break;
			}
			if (eat(&fp, ')'))
				break;
			if (!eat(&fp, ' ')) {
				ret = fail(&fp, "Invalid FETCH item list");
				break;
			}
		}
	} else {
		const char *save = fp.p;
		struct str name = read_name(&fp);
		int m = add_macro(&fp, name);
		if (m < 0) {
			ret = -1;
		} else if (m == 0) {
			fp.p = save;
			ret = parse_att(&fp);
		}
	}
	if (ret > 0 && eat(&fp, ' '))
		ret = parse_modifiers(&fp);
	if (ret > 0 && fp.p != fp.end)
		ret = fail(&fp, "Unexpected text after FETCH items");
	if (ret < 0) {
		*error_r = fp.error ? fp.error : "Invalid FETCH arguments";
		memset(req_r, 0, sizeof(*req_r));
		return -1;
	}
	for (size_t i = 0; i < req_r->count; i++) {
		const struct imap_fetch_item *item = &req_r->items[i];
		switch (item->kind) {
		case IMAP_FETCH_UID:
			req_r->has_uid = true;
			break;
		case IMAP_FETCH_FLAGS:
			req_r->has_flags = true;
			break;
		case IMAP_FETCH_MODSEQ:
			req_r->has_modseq = true;
			break;
		case IMAP_FETCH_ENVELOPE:
		case IMAP_FETCH_BODY:
		case IMAP_FETCH_BODYSTRUCTURE:
		case IMAP_FETCH_BINARY_SIZE:
			req_r->needs_cache = true;
			break;
		case IMAP_FETCH_SECTION:
		case IMAP_FETCH_BINARY:
			req_r->needs_cache = true;
			if (!item->peek)
				req_r->sets_seen = true;
			break;
		default:
			break;
		}
	}
	return 1;
}

static int append_section(const struct imap_fetch_item *item, struct buf *out)
{
	static const char *const spec_names[] = {
	    [IMAP_SPEC_NONE] = "",
	    [IMAP_SPEC_HEADER] = "HEADER",
	    [IMAP_SPEC_HEADER_FIELDS] = "HEADER.FIELDS",
	    [IMAP_SPEC_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
	    [IMAP_SPEC_TEXT] = "TEXT",
	    [IMAP_SPEC_MIME] = "MIME",
	};
	if (buf_append_char(out, '[') < 0)
		return -1;
	for (size_t i = 0; i < item->depth; i++) {
		if (buf_printf(out, "%s%u", i ? "." : "", item->part[i]) < 0)
			return -1;
	}
	if (item->spec != IMAP_SPEC_NONE) {
		if (item->depth > 0 && buf_append_char(out, '.') < 0)
			return -1;
		if (buf_append_cstr(out, spec_names[item->spec]) < 0)
			return -1;
	}
	if (item->nfields > 0) {
		if (buf_append_cstr(out, " (") < 0)
			return -1;
		for (size_t i = 0; i < item->nfields; i++) {
			if (i > 0 && buf_append_char(out, ' ') < 0)
				return -1;
			if (imap_append_astring(out, item->fields[i], 0) < 0)
				return -1;
		}
		if (buf_append_char(out, ')') < 0)
			return -1;
	}
	return buf_append_char(out, ']');
}

int imap_fetch_item_name(const struct imap_fetch_item *item, struct buf *out)
{
	switch (item->alias) {
	case IMAP_ALIAS_RFC822:
		return buf_append_cstr(out, "RFC822");
	case IMAP_ALIAS_RFC822_HEADER:
		return buf_append_cstr(out, "RFC822.HEADER");
	case IMAP_ALIAS_RFC822_TEXT:
		return buf_append_cstr(out, "RFC822.TEXT");
	case IMAP_ALIAS_NONE:
		break;
	}
	const char *prefix = item->kind == IMAP_FETCH_BINARY        ? "BINARY"
	                     : item->kind == IMAP_FETCH_BINARY_SIZE ? "BINARY.SIZE"
	                                                            : "BODY";
	if (buf_append_cstr(out, prefix) < 0 || append_section(item, out) < 0)
		return -1;
	if (item->partial && buf_printf(out, "<%llu>", (unsigned long long)item->partial_off) < 0)
		return -1;
	return 1;
}

void imap_fetch_partial_range(const struct imap_fetch_item *item, uint64_t size, uint64_t *off_r,
                              uint64_t *len_r)
{
	if (!item->partial) {
		*off_r = 0;
		*len_r = size;
		return;
	}
	if (item->partial_off >= size) {
		*off_r = size;
		*len_r = 0;
		return;
	}
	*off_r = item->partial_off;
	uint64_t avail = size - item->partial_off;
	*len_r = item->partial_len < avail ? item->partial_len : avail;
}

static bool name_listed(struct str name, const struct str *names, size_t nnames)
{
	for (size_t i = 0; i < nnames; i++)
		if (str_eq_nocase(name, names[i]))
			return true;
	return false;
}

int imap_fetch_filter_header(struct str header, const struct str *names, size_t nnames,
                             bool exclude, struct buf *out)
{
	const char *p = header.p, *end = header.p + header.len;
	while (p < end) {
		/* One field: its first line and every continuation line
		 * (starting with SP or HTAB, RFC 5322 2.2.3). */
		const char *start = p;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl + 1 : end;
		size_t first_len = (size_t)(line_end - start);
		/* The blank line ends the header: always kept. */
		if (first_len == 1 || (first_len == 2 && start[0] == '\r')) {
			return buf_append(out, start, first_len);
		}
		p = line_end;
		while (p < end && (*p == ' ' || *p == '\t')) {
			nl = memchr(p, '\n', (size_t)(end - p));
			p = nl ? nl + 1 : end;
		}
		const char *colon = memchr(start, ':', first_len);
		if (colon == NULL)
			continue;
		struct str name = str_make(start, (size_t)(colon - start));
		while (name.len > 0 &&
		       (name.p[name.len - 1] == ' ' || name.p[name.len - 1] == '\t'))
			name.len--;
		if (name_listed(name, names, nnames) != exclude &&
		    buf_append(out, start, (size_t)(p - start)) < 0)
			return -1;
	}
	return 1;
}
