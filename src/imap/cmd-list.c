/* cmd-list.c - LIST (RFC 9051 6.3.9) with LIST-EXTENDED (RFC 5258):
 * selection options SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE
 * (RFC 6154), return options SUBSCRIBED, CHILDREN (RFC 3348), SPECIAL-USE
 * and STATUS (LIST-STATUS, RFC 5819), multiple patterns; and LSUB (RFC
 * 3501 6.3.9) for IMAP4rev1 clients.
 *
 * Patterns: "*" matches any characters, "%" any except the hierarchy
 * delimiter "/". Matching runs on the UTF-8 names after the pattern was
 * converted from the client's form (modified UTF-7 or UTF-8). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-commands.h"
#include "imap/imap-internal.h"
#include "lib/pool.h"

#define LIST_MAX_PATTERNS 32
#define LIST_MAX_PATTERN_LEN (STORE_MAILBOX_NAME_MAX * 2)

enum list_select {
	SEL_SUBSCRIBED = 1u << 0,
	SEL_REMOTE = 1u << 1,
	SEL_RECURSIVEMATCH = 1u << 2,
	SEL_SPECIAL_USE = 1u << 3,
};

enum list_return {
	RET_SUBSCRIBED = 1u << 0,
	RET_CHILDREN = 1u << 1,
	RET_SPECIAL_USE = 1u << 2,
	RET_STATUS = 1u << 3,
};

/* Wildcards reachable from a live position may also match nothing. */
static void close_wildcards(const char *pat, size_t plen, unsigned char *set)
{
	for (size_t i = 0; i < plen; i++)
		if (set[i] && (pat[i] == '*' || pat[i] == '%'))
			set[i + 1] = 1;
}

/* Does name match pattern? A set of live pattern positions is advanced
 * over the name one byte at a time (no backtracking, so no pattern can
 * make it exponential): O(name * pattern). */
static bool pattern_match(const char *pat, size_t plen, const char *name, size_t nlen)
{
	unsigned char live[LIST_MAX_PATTERN_LEN + 1], next[LIST_MAX_PATTERN_LEN + 1];
	if (plen > LIST_MAX_PATTERN_LEN)
		return false;
	memset(live, 0, plen + 1);
	live[0] = 1;
	close_wildcards(pat, plen, live);
	for (size_t k = 0; k < nlen; k++) {
		char c = name[k];
		bool any = false;
		memset(next, 0, plen + 1);
		for (size_t i = 0; i < plen; i++) {
			if (!live[i])
				continue;
			if (pat[i] == '*' || (pat[i] == '%' && c != '/'))
				next[i] = 1; /* the wildcard eats c and stays */
			else if (pat[i] == c)
				next[i + 1] = 1;
		}
		close_wildcards(pat, plen, next);
		for (size_t i = 0; i <= plen; i++)
			any |= next[i] != 0;
		if (!any)
			return false;
		memcpy(live, next, plen + 1);
	}
	return live[plen] != 0;
}

static bool pattern_matches_name(const char *pat, const char *name)
{
	size_t plen = strlen(pat);
	/* "INBOX" is case-insensitive (RFC 9051 5.1): "inbox*" finds it. */
	if (plen >= 5 && strncasecmp(pat, "INBOX", 5) == 0 && strncmp(pat, "INBOX", 5) != 0 &&
	    strncmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/')) {
		char fixed[LIST_MAX_PATTERN_LEN + 1];
		if (plen > LIST_MAX_PATTERN_LEN)
			return false;
		memcpy(fixed, "INBOX", 5);
		memcpy(fixed + 5, pat + 5, plen - 5);
		return pattern_match(fixed, plen, name, strlen(name));
	}
	return pattern_match(pat, plen, name, strlen(name));
}

void imap_list_format_attrs(struct buf *out, uint32_t attrs, bool special_use)
{
	size_t start = out->len;
#define ATTR(cond, text)                                                  \
	do {                                                              \
		if (cond) {                                               \
			if (out->len > start)                             \
				buf_append_char(out, ' ');                \
			buf_append_cstr(out, text);                       \
		}                                                         \
	} while (0)
	ATTR(attrs & STORE_MBOX_NONEXISTENT, "\\NonExistent");
	ATTR((attrs & STORE_MBOX_NOSELECT) && !(attrs & STORE_MBOX_NONEXISTENT), "\\Noselect");
	if (!(attrs & STORE_MBOX_NONEXISTENT)) {
		ATTR(attrs & STORE_MBOX_HASCHILDREN, "\\HasChildren");
		ATTR(!(attrs & STORE_MBOX_HASCHILDREN), "\\HasNoChildren");
	}
	if (special_use) {
		ATTR(attrs & STORE_SPECIAL_ALL, "\\All");
		ATTR(attrs & STORE_SPECIAL_ARCHIVE, "\\Archive");
		ATTR(attrs & STORE_SPECIAL_DRAFTS, "\\Drafts");
		ATTR(attrs & STORE_SPECIAL_FLAGGED, "\\Flagged");
		ATTR(attrs & STORE_SPECIAL_JUNK, "\\Junk");
		ATTR(attrs & STORE_SPECIAL_SENT, "\\Sent");
		ATTR(attrs & STORE_SPECIAL_TRASH, "\\Trash");
	}
#undef ATTR
}

struct list_req {
	bool lsub;
	unsigned sel, ret;
	unsigned status_items;
	const char *patterns[LIST_MAX_PATTERNS];
	size_t n_patterns;
};

static bool matches_any(const struct list_req *req, const char *name)
{
	for (size_t i = 0; i < req->n_patterns; i++)
		if (pattern_matches_name(req->patterns[i], name))
			return true;
	return false;
}

/* Any subscribed descendant of items[i] (the list is sorted by name, so
 * descendants follow their parent, though not necessarily right after:
 * "a/b" < "a.b" < "a/c" bytewise does not hold; scan all). */
static bool has_subscribed_child(const struct store_mailbox_list *l, size_t i)
{
	const char *name = l->items[i].name;
	size_t n = strlen(name);
	for (size_t k = 0; k < l->count; k++) {
		const char *c = l->items[k].name;
		if ((l->items[k].attrs & STORE_MBOX_SUBSCRIBED) && strncmp(c, name, n) == 0 &&
		    c[n] == '/')
			return true;
	}
	return false;
}

static void write_list_line(struct imap_session *s, const struct list_req *req,
			    const struct store_mailbox_info *mi, uint32_t attrs, bool childinfo)
{
	struct buf b = BUF_INIT(0);
	buf_append_cstr(&b, req->lsub ? "* LSUB (" : "* LIST (");
	imap_list_format_attrs(&b, attrs, !req->lsub);
	if (!req->lsub && (attrs & STORE_MBOX_SUBSCRIBED) &&
	    (req->sel & SEL_SUBSCRIBED || req->ret & RET_SUBSCRIBED)) {
		if (b.len > 8)
			buf_append_char(&b, ' ');
		buf_append_cstr(&b, "\\Subscribed");
	}
	buf_append_cstr(&b, ") \"/\" ");
	imap_session_mailbox_to_wire(s, mi->name, &b);
	if (childinfo)
		buf_append_cstr(&b, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	buf_append_cstr(&b, "\r\n");
	imap_session_write_buf(s, &b);
	buf_free(&b);
	if ((req->ret & RET_STATUS) && mi->id != 0 &&
	    !(attrs & (STORE_MBOX_NOSELECT | STORE_MBOX_NONEXISTENT))) {
		struct buf st = BUF_INIT(0);
		/* RFC 5819: a mailbox whose STATUS fails is just left out. */
		if (imap_status_format(s, mi->id, mi->name, req->status_items, &st) > 0)
			imap_session_write_buf(s, &st);
		buf_free(&st);
	}
}

static void run_list(struct imap_session *s, const struct list_req *req,
		     const struct store_mailbox_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		const struct store_mailbox_info *mi = &l->items[i];
		uint32_t attrs = mi->attrs;
		bool subscribed = (attrs & STORE_MBOX_SUBSCRIBED) != 0;
		if (!matches_any(req, mi->name))
			continue;
		if (req->lsub) {
			if (subscribed)
				write_list_line(s, req, mi, attrs & ~STORE_MBOX_NONEXISTENT, false);
			continue;
		}
		if ((req->sel & SEL_SPECIAL_USE) && (attrs & STORE_SPECIAL_MASK) == 0)
			continue;
		if (req->sel & SEL_SUBSCRIBED) {
			if (subscribed) {
				write_list_line(s, req, mi, attrs, false);
			} else if ((req->sel & SEL_RECURSIVEMATCH) && has_subscribed_child(l, i)) {
				/* RFC 5258 3.5 */
				write_list_line(s, req, mi, attrs & ~STORE_MBOX_SUBSCRIBED, true);
			}
			continue;
		}
		/* Plain LIST: subscriptions of nonexistent names are not
		 * mailboxes (RFC 5258 3: only with SUBSCRIBED). */
		if (attrs & STORE_MBOX_NONEXISTENT)
			continue;
		write_list_line(s, req, mi, attrs, false);
	}

	/* LSUB (RFC 3501 6.3.9): with "%", a subscribed "a/b" whose parent
	 * "a" matches but is not itself subscribed shows "a" as \Noselect.
	 * RECURSIVEMATCH (RFC 5258 3.5) likewise reports a parent that does
	 * not exist at all, as \NonExistent with CHILDINFO. */
	bool recursive = !req->lsub && (req->sel & SEL_RECURSIVEMATCH);
	if (req->lsub || recursive) {
		for (size_t i = 0; i < l->count; i++) {
			const struct store_mailbox_info *mi = &l->items[i];
			if (!(mi->attrs & STORE_MBOX_SUBSCRIBED))
				continue;
			const char *name = mi->name;
			for (const char *sl = strchr(name, '/'); sl != NULL; sl = strchr(sl + 1, '/')) {
				char parent[STORE_MAILBOX_NAME_MAX + 1];
				size_t n = (size_t)(sl - name);
				if (n >= sizeof(parent))
					break;
				memcpy(parent, name, n);
				parent[n] = '\0';
				if (!matches_any(req, parent))
					continue;
				bool listed = false;
				for (size_t k = 0; k < l->count && !listed; k++)
					listed = strcmp(l->items[k].name, parent) == 0 &&
						 (recursive ||
						  (l->items[k].attrs & STORE_MBOX_SUBSCRIBED));
				/* report each parent once: only for the first
				 * subscribed child in list order */
				bool first = true;
				for (size_t k = 0; k < i && first; k++) {
					const char *o = l->items[k].name;
					first = !((l->items[k].attrs & STORE_MBOX_SUBSCRIBED) &&
						  strncmp(o, parent, n) == 0 && o[n] == '/');
				}
				if (listed || !first)
					continue;
				struct store_mailbox_info pi = { .id = 0, .name = parent };
				if (recursive)
					write_list_line(s, req, &pi, STORE_MBOX_NONEXISTENT, true);
				else
					write_list_line(s, req, &pi,
							STORE_MBOX_NOSELECT | STORE_MBOX_HASCHILDREN,
							false);
			}
		}
	}
}

/* reference + pattern, converted from the client's form. */
static int add_pattern(struct imap_cmd *cmd, struct list_req *req, struct str ref,
		       struct str pat)
{
	struct imap_session *s = cmd->session;
	const char *err;
	if (req->n_patterns >= LIST_MAX_PATTERNS)
		return -1;
	struct buf joined = BUF_INIT(LIST_MAX_PATTERN_LEN);
	if (buf_append_str(&joined, ref) < 0 || buf_append_str(&joined, pat) < 0) {
		buf_free(&joined);
		return -1;
	}
	const char *full;
	int r = imap_session_mailbox_from_wire(s, buf_str(&joined), cmd->pool, &full, &err);
	buf_free(&joined);
	if (r < 0)
		return -1;
	req->patterns[req->n_patterns++] = full;
	return 1;
}

int cmd_list(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	const struct imap_arg *a = cmd->args;
	struct list_req req = { .lsub = strcmp(cmd->name, "LSUB") == 0 };
	const struct imap_arg *list;
	size_t n;
	struct str ref, pat;

	/* [(selection options)] */
	if (!req.lsub && imap_arg_get_list(a, &list, &n)) {
		for (size_t i = 0; i < n; i++) {
			if (imap_arg_atom_equals(&list[i], "SUBSCRIBED"))
				req.sel |= SEL_SUBSCRIBED;
			else if (imap_arg_atom_equals(&list[i], "REMOTE"))
				req.sel |= SEL_REMOTE;
			else if (imap_arg_atom_equals(&list[i], "RECURSIVEMATCH"))
				req.sel |= SEL_RECURSIVEMATCH;
			else if (imap_arg_atom_equals(&list[i], "SPECIAL-USE"))
				req.sel |= SEL_SPECIAL_USE;
			else {
				imap_cmd_bad(cmd, "Unknown LIST selection option");
				return 1;
			}
		}
		/* RFC 5258 3.1: RECURSIVEMATCH needs another option that
		 * it modifies. */
		if ((req.sel & SEL_RECURSIVEMATCH) && !(req.sel & SEL_SUBSCRIBED)) {
			imap_cmd_bad(cmd, "RECURSIVEMATCH needs SUBSCRIBED");
			return 1;
		}
		a++;
	}
	if (!imap_arg_get_astring(a, &ref)) {
		imap_cmd_bad(cmd, "%s needs a reference and a mailbox pattern", cmd->name);
		return 1;
	}
	a++;
	bool empty_pattern = false;
	if (!req.lsub && imap_arg_get_list(a, &list, &n)) {
		if (n == 0) {
			imap_cmd_bad(cmd, "Empty pattern list");
			return 1;
		}
		for (size_t i = 0; i < n; i++) {
			if (!imap_arg_get_astring(&list[i], &pat) ||
			    add_pattern(cmd, &req, ref, pat) < 0) {
				imap_cmd_bad(cmd, "Invalid mailbox pattern");
				return 1;
			}
		}
	} else if (imap_arg_get_astring(a, &pat)) {
		if (pat.len == 0) {
			empty_pattern = true;
		} else if (add_pattern(cmd, &req, ref, pat) < 0) {
			imap_cmd_bad(cmd, "Invalid mailbox pattern");
			return 1;
		}
	} else {
		imap_cmd_bad(cmd, "%s needs a mailbox pattern", cmd->name);
		return 1;
	}
	a++;
	/* [RETURN (return options)] */
	if (!req.lsub && imap_arg_atom_equals(a, "RETURN")) {
		if (!imap_arg_get_list(&a[1], &list, &n)) {
			imap_cmd_bad(cmd, "RETURN needs a list of options");
			return 1;
		}
		for (size_t i = 0; i < n; i++) {
			if (imap_arg_atom_equals(&list[i], "SUBSCRIBED")) {
				req.ret |= RET_SUBSCRIBED;
			} else if (imap_arg_atom_equals(&list[i], "CHILDREN")) {
				req.ret |= RET_CHILDREN;
			} else if (imap_arg_atom_equals(&list[i], "SPECIAL-USE")) {
				req.ret |= RET_SPECIAL_USE;
			} else if (imap_arg_atom_equals(&list[i], "STATUS") && i + 1 < n &&
				   imap_status_parse_items(s, &list[i + 1], &req.status_items) > 0) {
				req.ret |= RET_STATUS;
				i++;
			} else {
				imap_cmd_bad(cmd, "Unknown or invalid LIST return option");
				return 1;
			}
		}
		a += 2;
	}
	if (a->type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "Too many arguments for %s", cmd->name);
		return 1;
	}

	if (empty_pattern && req.n_patterns == 0) {
		/* RFC 9051 6.3.9: LIST "" "" asks for the delimiter and the
		 * root of the reference. */
		imap_session_printf(s, "* %s (\\Noselect) \"/\" \"\"\r\n", req.lsub ? "LSUB" : "LIST");
		imap_cmd_ok(cmd, "%s completed", cmd->name);
		return 1;
	}
	struct store_mailbox_list *l = NULL;
	if (store_mailbox_list(s->user, &l) < 0) {
		imap_cmd_no_store_error(cmd);
		return 1;
	}
	run_list(s, &req, l);
	store_mailbox_list_free(&l);
	imap_cmd_ok(cmd, "%s completed", cmd->name);
	return 1;
}
