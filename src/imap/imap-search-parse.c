/* imap-search-parse.c - SEARCH arguments into a program of keys.
 *
 *   search         = "SEARCH" [SP "RETURN" SP "(" [opt *(SP opt)] ")"]
 *                    SP ["CHARSET" SP charset SP] search-key *(SP search-key)
 *   (RFC 9051 9, RFC 4731 7, RFC 5182 4, RFC 7162 7, RFC 5032 4)
 */
#include "imap/imap-search.h"

#include <stdlib.h>
#include <string.h>

#include "lib/pool.h"

struct search_parser {
	struct pool *pool;
	struct imap_search_program *prog;
	size_t nkeys;
	const char *error;
};

static int fail(struct search_parser *sp, const char *error)
{
	if (sp->error == NULL)
		sp->error = error;
	return -1;
}

static const struct {
	const char *name;
	uint8_t flag;
	bool set;
} flag_keys[] = {
    {"ANSWERED", STORE_FLAG_ANSWERED, true},  {"DELETED", STORE_FLAG_DELETED, true},
    {"DRAFT", STORE_FLAG_DRAFT, true},        {"FLAGGED", STORE_FLAG_FLAGGED, true},
    {"SEEN", STORE_FLAG_SEEN, true},          {"UNANSWERED", STORE_FLAG_ANSWERED, false},
    {"UNDELETED", STORE_FLAG_DELETED, false}, {"UNDRAFT", STORE_FLAG_DRAFT, false},
    {"UNFLAGGED", STORE_FLAG_FLAGGED, false}, {"UNSEEN", STORE_FLAG_SEEN, false},
};

/* Header keys that are shorthands for HEADER <field> <string>. */
static const struct {
	const char *name;
	const char *field;
} header_keys[] = {
    {"FROM", "From"}, {"TO", "To"}, {"CC", "Cc"}, {"BCC", "Bcc"}, {"SUBJECT", "Subject"},
};

static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec"};

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; m 1..12). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int imap_search_parse_date(struct str s, int64_t *day_r)
{
	/* date-day "-" date-month "-" date-year; date-day = 1*2DIGIT */
	size_t i = 0;
	unsigned day = 0, year = 0, ndig = 0;
	while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9' && ndig < 2) {
		day = day * 10 + (unsigned)(s.p[i++] - '0');
		ndig++;
	}
	if (ndig == 0 || i + 9 != s.len || s.p[i] != '-' || s.p[i + 4] != '-')
		return -1;
	int month = -1;
	for (int m = 0; m < 12; m++) {
		if (str_eq_cstr_nocase(str_make(s.p + i + 1, 3), months[m]))
			month = m + 1;
	}
	if (month < 0)
		return -1;
	for (size_t k = i + 5; k < i + 9; k++) {
		if (s.p[k] < '0' || s.p[k] > '9')
			return -1;
		year = year * 10 + (unsigned)(s.p[k] - '0');
	}
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (day < 1 || day > mdays[month - 1])
		return -1;
	*day_r = days_from_civil(year, (unsigned)month, day);
	return 1;
}

/* A keyword must be an atom (RFC 9051 flag-keyword) without "\". */
static bool keyword_valid(struct str kw)
{
	if (kw.len == 0 || kw.len > STORE_KEYWORD_MAX)
		return false;
	for (size_t i = 0; i < kw.len; i++) {
		unsigned char c = (unsigned char)kw.p[i];
		if (c <= 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '{' || c == '%' ||
		    c == '*' || c == '"' || c == '\\' || c == ']')
			return false;
	}
	return true;
}

static int take_astring(struct search_parser *sp, const struct imap_arg **args, struct str *s_r,
                        const char *what)
{
	if ((*args)->type == IMAP_ARG_EOL || !imap_arg_get_astring(*args, s_r))
		return fail(sp, what);
	(*args)++;
	return 1;
}

static int take_number(struct search_parser *sp, const struct imap_arg **args, uint64_t *n_r,
                       uint64_t max, const char *what)
{
	struct str s;
	if (!imap_arg_get_atom(*args, &s) || str_to_u64(s, n_r) < 0 || *n_r > max)
		return fail(sp, what);
	(*args)++;
	return 1;
}

static int take_date(struct search_parser *sp, const struct imap_arg **args, int64_t *day_r)
{
	struct str s;
	/* date = date-text / DQUOTE date-text DQUOTE */
	if (((*args)->type != IMAP_ARG_ATOM && (*args)->type != IMAP_ARG_STRING) ||
	    !imap_arg_get_astring(*args, &s) || imap_search_parse_date(s, day_r) < 0)
		return fail(sp, "Invalid date (expected e.g. 1-Feb-2024)");
	(*args)++;
	return 1;
}

/* Case-folds a search string once, so every message is compared with
 * the folded needle. */
static int set_needle(struct search_parser *sp, struct imap_search_key *key, struct str s)
{
	struct buf folded = BUF_INIT(64 * 1024);
	if (mime_casefold_utf8(s, &folded) < 0) {
		buf_free(&folded);
		return fail(sp, "Search string too long");
	}
	key->needle = pool_str_dup(sp->pool, buf_str(&folded));
	buf_free(&folded);
	if (key->needle.p == NULL)
		return fail(sp, "Out of memory");
	return 1;
}

static int parse_key(struct search_parser *sp, const struct imap_arg **args,
                     struct imap_search_key *key, unsigned depth);

static int key_cost_max(const struct imap_search_key *key)
{
	enum imap_search_cost c = IMAP_SEARCH_COST_CHEAP;
	for (size_t i = 0; i < key->nchildren; i++)
		if (key->children[i].cost > c)
			c = key->children[i].cost;
	return (int)c;
}

static int cost_cmp(const void *a, const void *b)
{
	const struct imap_search_key *x = a, *y = b;
	return (int)x->cost - (int)y->cost;
}

/* Parses keys until EOL (a list's end) into an AND key. */
static int parse_and(struct search_parser *sp, const struct imap_arg *args,
                     struct imap_search_key *key, unsigned depth)
{
	size_t n = imap_args_count(args);
	if (n == 0)
		return fail(sp, "Empty search key list");
	key->type = IMAP_SK_AND;
	/* Each argument yields at most one key. */
	key->children = pool_alloc(sp->pool, n * sizeof(*key->children));
	if (key->children == NULL)
		return fail(sp, "Out of memory");
	key->nchildren = 0;
	while (args->type != IMAP_ARG_EOL) {
		/* Counted before it is parsed, so a half-built key is freed too. */
		struct imap_search_key *child = &key->children[key->nchildren++];
		if (parse_key(sp, &args, child, depth + 1) < 0)
			return -1;
	}
	/* Cheap keys first; qsort is not stable but order among keys of the
	 * same cost does not change the result. */
	qsort(key->children, key->nchildren, sizeof(*key->children), cost_cmp);
	key->cost = (enum imap_search_cost)key_cost_max(key);
	return 1;
}

static int parse_set_key(struct search_parser *sp, struct str s, struct imap_search_key *key,
                         bool uid)
{
	const char *err;
	if (imap_seqset_parse(s, true, &key->set, &err) < 0)
		return fail(sp, err);
	if (key->set.last_result) {
		/* "$" is a set of UIDs whatever the context (RFC 5182 2.1). */
		key->type = IMAP_SK_UIDSET;
		key->saved = true;
		sp->prog->uses_saved = true;
	} else {
		key->type = uid ? IMAP_SK_UIDSET : IMAP_SK_SEQSET;
		if (!uid)
			sp->prog->uses_seqset = true;
	}
	return 1;
}

static int parse_key(struct search_parser *sp, const struct imap_arg **args,
                     struct imap_search_key *key, unsigned depth)
{
	const struct imap_arg *arg = *args;
	memset(key, 0, sizeof(*key));
	imap_seqset_init(&key->set);
	if (++sp->nkeys > IMAP_SEARCH_MAX_KEYS)
		return fail(sp, "Too many search keys");
	if (depth > IMAP_SEARCH_MAX_DEPTH)
		return fail(sp, "Search keys nested too deeply");
	if (arg->type == IMAP_ARG_EOL)
		return fail(sp, "Missing search key");
	if (arg->type == IMAP_ARG_LIST) {
		*args = arg + 1;
		return parse_and(sp, arg->list, key, depth);
	}
	struct str name;
	if (!imap_arg_get_atom(arg, &name))
		return fail(sp, "Expected a search key");
	*args = arg + 1;

	if (imap_seqset_is_syntax(name) || (name.len == 1 && name.p[0] == '$'))
		return parse_set_key(sp, name, key, false);

	key->cost = IMAP_SEARCH_COST_CHEAP;
	if (str_eq_cstr_nocase(name, "ALL")) {
		key->type = IMAP_SK_ALL;
		return 1;
	}
	for (size_t i = 0; i < sizeof(flag_keys) / sizeof(flag_keys[0]); i++) {
		if (str_eq_cstr_nocase(name, flag_keys[i].name)) {
			key->type = flag_keys[i].set ? IMAP_SK_FLAGS_SET : IMAP_SK_FLAGS_UNSET;
			key->flags = flag_keys[i].flag;
			return 1;
		}
	}
	/* IMAP4rev1 \Recent keys (RFC 3501 6.4.4); IMAP4rev2 dropped them
	 * but clients still send them. NEW = RECENT UNSEEN, OLD = NOT RECENT. */
	if (str_eq_cstr_nocase(name, "RECENT") || str_eq_cstr_nocase(name, "OLD")) {
		key->type = IMAP_SK_RECENT;
		if (name.len == 3) {
			struct imap_search_key *child = pool_alloc(sp->pool, sizeof(*child));
			if (child == NULL)
				return fail(sp, "Out of memory");
			*child = *key;
			key->type = IMAP_SK_NOT;
			key->children = child;
			key->nchildren = 1;
		}
		return 1;
	}
	if (str_eq_cstr_nocase(name, "NEW")) {
		struct imap_search_key *child = pool_alloc(sp->pool, 2 * sizeof(*child));
		if (child == NULL)
			return fail(sp, "Out of memory");
		child[0].type = IMAP_SK_RECENT;
		child[1].type = IMAP_SK_FLAGS_UNSET;
		child[1].flags = STORE_FLAG_SEEN;
		key->type = IMAP_SK_AND;
		key->children = child;
		key->nchildren = 2;
		return 1;
	}
	if (str_eq_cstr_nocase(name, "KEYWORD") || str_eq_cstr_nocase(name, "UNKEYWORD")) {
		struct str kw;
		if (!imap_arg_get_atom(*args, &kw) || !keyword_valid(kw))
			return fail(sp, "KEYWORD needs a keyword atom");
		(*args)++;
		key->type = name.len == 7 ? IMAP_SK_KEYWORD : IMAP_SK_UNKEYWORD;
		key->keyword = kw;
		return 1;
	}
	if (str_eq_cstr_nocase(name, "LARGER") || str_eq_cstr_nocase(name, "SMALLER")) {
		key->type = name.len == 6 ? IMAP_SK_LARGER : IMAP_SK_SMALLER;
		return take_number(sp, args, &key->number, INT64_MAX,
		                   "LARGER/SMALLER needs a number");
	}
	if (str_eq_cstr_nocase(name, "OLDER") || str_eq_cstr_nocase(name, "YOUNGER")) {
		/* RFC 5032 4: interval = 1*DIGIT, seconds; must be non-zero. */
		key->type = name.len == 5 ? IMAP_SK_OLDER : IMAP_SK_YOUNGER;
		if (take_number(sp, args, &key->number, UINT32_MAX, "OLDER/YOUNGER needs seconds") <
		        0 ||
		    key->number == 0)
			return fail(sp, "OLDER/YOUNGER needs a non-zero number of seconds");
		return 1;
	}
	static const struct {
		const char *name;
		enum imap_search_key_type type;
	} date_keys[] = {
	    {"BEFORE", IMAP_SK_BEFORE}, {"ON", IMAP_SK_ON},
	    {"SINCE", IMAP_SK_SINCE},   {"SENTBEFORE", IMAP_SK_SENTBEFORE},
	    {"SENTON", IMAP_SK_SENTON}, {"SENTSINCE", IMAP_SK_SENTSINCE},
	};
	for (size_t i = 0; i < sizeof(date_keys) / sizeof(date_keys[0]); i++) {
		if (str_eq_cstr_nocase(name, date_keys[i].name)) {
			key->type = date_keys[i].type;
			if (key->type >= IMAP_SK_SENTBEFORE)
				key->cost = IMAP_SEARCH_COST_HEADER;
			return take_date(sp, args, &key->day);
		}
	}
	if (str_eq_cstr_nocase(name, "UID")) {
		struct str set;
		if (!imap_arg_get_atom(*args, &set))
			return fail(sp, "UID needs a sequence set");
		(*args)++;
		return parse_set_key(sp, set, key, true);
	}
	if (str_eq_cstr_nocase(name, "MODSEQ")) {
		/* RFC 7162 3.1.5: "MODSEQ" [SP entry-name SP entry-type-req]
		 * SP mod-sequence-valzer. We keep one modseq per message, so
		 * the entry (a flag's own modseq) is checked and then ignored. */
		struct str s;
		if ((*args)->type == IMAP_ARG_STRING) {
			(*args)++;
			if (!imap_arg_get_atom(*args, &s) ||
			    !(str_eq_cstr_nocase(s, "priv") || str_eq_cstr_nocase(s, "shared") ||
			      str_eq_cstr_nocase(s, "all")))
				return fail(sp, "MODSEQ entry type must be priv, shared or all");
			(*args)++;
		}
		key->type = IMAP_SK_MODSEQ;
		sp->prog->uses_modseq = true;
		return take_number(sp, args, &key->number, INT64_MAX, "MODSEQ needs a number");
	}
	if (str_eq_cstr_nocase(name, "NOT")) {
		key->type = IMAP_SK_NOT;
		key->children = pool_alloc(sp->pool, sizeof(*key->children));
		if (key->children == NULL)
			return fail(sp, "Out of memory");
		key->nchildren = 1;
		if (parse_key(sp, args, &key->children[0], depth + 1) < 0)
			return -1;
		key->cost = key->children[0].cost;
		return 1;
	}
	if (str_eq_cstr_nocase(name, "OR")) {
		key->type = IMAP_SK_OR;
		key->children = pool_alloc(sp->pool, 2 * sizeof(*key->children));
		if (key->children == NULL)
			return fail(sp, "Out of memory");
		key->nchildren = 2;
		if (parse_key(sp, args, &key->children[0], depth + 1) < 0 ||
		    parse_key(sp, args, &key->children[1], depth + 1) < 0)
			return -1;
		/* Cheaper side first: OR stops at the first match. */
		if (key->children[1].cost < key->children[0].cost) {
			struct imap_search_key t = key->children[0];
			key->children[0] = key->children[1];
			key->children[1] = t;
		}
		key->cost = (enum imap_search_cost)key_cost_max(key);
		return 1;
	}
	struct str text;
	for (size_t i = 0; i < sizeof(header_keys) / sizeof(header_keys[0]); i++) {
		if (str_eq_cstr_nocase(name, header_keys[i].name)) {
			key->type = IMAP_SK_HEADER;
			key->cost = IMAP_SEARCH_COST_HEADER;
			key->field = header_keys[i].field;
			if (take_astring(sp, args, &text, "Search key needs a string") < 0)
				return -1;
			return set_needle(sp, key, text);
		}
	}
	if (str_eq_cstr_nocase(name, "HEADER")) {
		struct str field;
		if (take_astring(sp, args, &field, "HEADER needs a field name") < 0 ||
		    take_astring(sp, args, &text, "HEADER needs a string") < 0)
			return -1;
		if (field.len == 0 || field.len > 256 || memchr(field.p, ':', field.len) ||
		    memchr(field.p, '\0', field.len))
			return fail(sp, "Invalid header field name");
		key->type = IMAP_SK_HEADER;
		key->cost = IMAP_SEARCH_COST_HEADER;
		key->field = pool_strndup(sp->pool, field.p, field.len);
		if (key->field == NULL)
			return fail(sp, "Out of memory");
		return set_needle(sp, key, text);
	}
	if (str_eq_cstr_nocase(name, "BODY") || str_eq_cstr_nocase(name, "TEXT")) {
		key->type = name.p[0] == 'B' || name.p[0] == 'b' ? IMAP_SK_BODY : IMAP_SK_TEXT;
		key->cost = IMAP_SEARCH_COST_BODY;
		if (take_astring(sp, args, &text, "BODY/TEXT needs a string") < 0)
			return -1;
		return set_needle(sp, key, text);
	}
	return fail(sp, "Unknown search key");
}

static void key_free(struct imap_search_key *key)
{
	imap_seqset_clear(&key->set);
	for (size_t i = 0; i < key->nchildren; i++)
		key_free(&key->children[i]);
}

void imap_search_program_free(struct imap_search_program *prog)
{
	key_free(&prog->root);
	prog->root.nchildren = 0;
}

static int parse_return(struct search_parser *sp, const struct imap_arg **args)
{
	const struct imap_arg *list;
	size_t count;
	if (!imap_arg_get_list(*args, &list, &count))
		return fail(sp, "RETURN needs a list of options");
	(*args)++;
	struct imap_search_program *prog = sp->prog;
	prog->has_return = true;
	for (size_t i = 0; i < count; i++) {
		struct str opt;
		if (!imap_arg_get_atom(&list[i], &opt))
			return fail(sp, "Invalid RETURN option");
		if (str_eq_cstr_nocase(opt, "MIN"))
			prog->return_opts |= IMAP_SEARCH_RETURN_MIN;
		else if (str_eq_cstr_nocase(opt, "MAX"))
			prog->return_opts |= IMAP_SEARCH_RETURN_MAX;
		else if (str_eq_cstr_nocase(opt, "ALL"))
			prog->return_opts |= IMAP_SEARCH_RETURN_ALL;
		else if (str_eq_cstr_nocase(opt, "COUNT"))
			prog->return_opts |= IMAP_SEARCH_RETURN_COUNT;
		else if (str_eq_cstr_nocase(opt, "SAVE"))
			prog->return_opts |= IMAP_SEARCH_RETURN_SAVE;
		else
			return fail(sp, "Unknown RETURN option");
	}
	/* RFC 4731 3.1: "RETURN ()" is the same as "RETURN (ALL)". */
	if (count == 0)
		prog->return_opts = IMAP_SEARCH_RETURN_ALL;
	return 1;
}

int imap_search_parse(struct pool *pool, const struct imap_arg *args,
                      struct imap_search_program *prog_r, const char **error_r, bool *badcharset_r)
{
	struct search_parser sp = {.pool = pool, .prog = prog_r};
	memset(prog_r, 0, sizeof(*prog_r));
	*badcharset_r = false;
	if (imap_arg_atom_equals(args, "RETURN")) {
		args++;
		if (parse_return(&sp, &args) < 0)
			goto error;
	}
	if (imap_arg_atom_equals(args, "CHARSET")) {
		struct str cs;
		args++;
		if (!imap_arg_get_astring(args, &cs)) {
			fail(&sp, "CHARSET needs a charset name");
			goto error;
		}
		args++;
		/* RFC 9051 6.4.4: UTF-8 MUST be supported, US-ASCII too (RFC
		 * 3501); both are read as UTF-8. Anything else is BADCHARSET. */
		if (!str_eq_cstr_nocase(cs, "UTF-8") && !str_eq_cstr_nocase(cs, "US-ASCII") &&
		    !str_eq_cstr_nocase(cs, "UTF8")) {
			*badcharset_r = true;
			fail(&sp, "Unsupported charset");
			goto error;
		}
	}
	if (args->type == IMAP_ARG_EOL) {
		fail(&sp, "Missing search criteria");
		goto error;
	}
	if (parse_and(&sp, args, &prog_r->root, 0) < 0)
		goto error;
	prog_r->cost = prog_r->root.cost;
	return 1;
error:
	*error_r = sp.error ? sp.error : "Invalid search";
	imap_search_program_free(prog_r);
	memset(prog_r, 0, sizeof(*prog_r));
	return -1;
}

static int resolve_key(struct imap_search_key *key, uint32_t msg_count, uint32_t last_uid)
{
	if (key->type == IMAP_SK_SEQSET) {
		if (imap_seqset_resolve(&key->set, msg_count) < 0)
			return -1;
	} else if (key->type == IMAP_SK_UIDSET && !key->saved) {
		if (imap_seqset_resolve(&key->set, last_uid) < 0)
			return -1;
	}
	for (size_t i = 0; i < key->nchildren; i++)
		if (resolve_key(&key->children[i], msg_count, last_uid) < 0)
			return -1;
	return 1;
}

int imap_search_program_resolve(struct imap_search_program *prog, uint32_t msg_count,
                                uint32_t last_uid)
{
	return resolve_key(&prog->root, msg_count, last_uid);
}
