/* cmd-status.c - STATUS (RFC 9051 6.3.11) with DELETED and SIZE (RFC 8438
 * STATUS=SIZE), HIGHESTMODSEQ (RFC 7162 3.1.6; enables CONDSTORE),
 * APPENDLIMIT (RFC 7889) and, for IMAP4rev1 clients, RECENT (always 0: we
 * keep no \Recent). The item parser and formatter are shared with
 * LIST-STATUS (RFC 5819, cmd-list.c). */
#include <inttypes.h>
#include <string.h>

#include "imap/imap-commands.h"
#include "imap/imap-internal.h"
#include "lib/config.h"
#include "lib/pool.h"

static const struct {
	const char *name;
	unsigned bit;
} status_items[] = {
	{ "MESSAGES", IMAP_STATUS_MESSAGES },	    { "UIDNEXT", IMAP_STATUS_UIDNEXT },
	{ "UIDVALIDITY", IMAP_STATUS_UIDVALIDITY }, { "UNSEEN", IMAP_STATUS_UNSEEN },
	{ "DELETED", IMAP_STATUS_DELETED },	    { "SIZE", IMAP_STATUS_SIZE },
	{ "HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ }, { "RECENT", IMAP_STATUS_RECENT },
	{ "APPENDLIMIT", IMAP_STATUS_APPENDLIMIT },
};

int imap_status_parse_items(struct imap_session *s, const struct imap_arg *arg,
			    unsigned *items_r)
{
	const struct imap_arg *list;
	size_t n;
	unsigned items = 0;
	if (!imap_arg_get_list(arg, &list, &n) || n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct str name;
		if (!imap_arg_get_atom(&list[i], &name))
			return -1;
		size_t k;
		for (k = 0; k < sizeof(status_items) / sizeof(status_items[0]); k++) {
			if (str_eq_cstr_nocase(name, status_items[k].name))
				break;
		}
		if (k == sizeof(status_items) / sizeof(status_items[0]))
			return -1;
		/* RECENT is gone from IMAP4rev2 (RFC 9051 Appendix E). */
		if (status_items[k].bit == IMAP_STATUS_RECENT && imap_session_rev2(s))
			return -1;
		items |= status_items[k].bit;
	}
	*items_r = items;
	return 1;
}

int imap_status_format(struct imap_session *s, uint64_t mailbox_id, const char *name,
		       unsigned items, struct buf *out)
{
	struct store_status st;
	if (store_mailbox_status(s->user, mailbox_id, &st) < 0)
		return -1;
	if (items & IMAP_STATUS_HIGHESTMODSEQ)
		imap_session_enable_condstore(s);
	buf_append_cstr(out, "* STATUS ");
	imap_session_mailbox_to_wire(s, name, out);
	buf_append_cstr(out, " (");
	bool first = true;
	for (size_t k = 0; k < sizeof(status_items) / sizeof(status_items[0]); k++) {
		unsigned bit = status_items[k].bit;
		if ((items & bit) == 0)
			continue;
		if (!first)
			buf_append_char(out, ' ');
		first = false;
		uint64_t v = 0;
		switch (bit) {
		case IMAP_STATUS_MESSAGES: v = st.messages; break;
		case IMAP_STATUS_UIDNEXT: v = st.uidnext; break;
		case IMAP_STATUS_UIDVALIDITY: v = st.uidvalidity; break;
		case IMAP_STATUS_UNSEEN: v = st.unseen; break;
		case IMAP_STATUS_DELETED: v = st.deleted; break;
		case IMAP_STATUS_SIZE: v = st.size; break;
		case IMAP_STATUS_HIGHESTMODSEQ: v = st.highestmodseq; break;
		case IMAP_STATUS_RECENT: v = 0; break;
		case IMAP_STATUS_APPENDLIMIT: v = roost_config->imap_append_limit; break;
		}
		buf_printf(out, "%s %" PRIu64, status_items[k].name, v);
	}
	buf_append_cstr(out, ")\r\n");
	return 1;
}

int cmd_status(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct str wire;
	unsigned items;
	const char *name, *err;

	if (!imap_arg_get_astring(&cmd->args[0], &wire) || cmd->args[2].type != IMAP_ARG_EOL ||
	    cmd->args[1].type == IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "STATUS needs a mailbox and a list of items");
		return 1;
	}
	if (imap_status_parse_items(s, &cmd->args[1], &items) < 0) {
		imap_cmd_bad(cmd, "Invalid STATUS item list");
		return 1;
	}
	if (imap_session_mailbox_from_wire(s, wire, cmd->pool, &name, &err) < 0) {
		imap_cmd_no(cmd, "[CANNOT] %s", err);
		return 1;
	}
	char *name_buf = pool_alloc(cmd->pool, STORE_MAILBOX_NAME_MAX + 1);
	struct store_mailbox_info info;
	int r = name_buf == NULL ? -1 : store_mailbox_lookup(s->user, name, &info, name_buf);
	if (r == 0 || (r > 0 && (info.attrs & STORE_MBOX_NOSELECT))) {
		imap_cmd_no(cmd, "[NONEXISTENT] No such mailbox");
		return 1;
	}
	struct buf b = BUF_INIT(0);
	if (r < 0 || imap_status_format(s, info.id, info.name, items, &b) < 0) {
		buf_free(&b);
		imap_cmd_no_store_error(cmd);
		return 1;
	}
	imap_session_write_buf(s, &b);
	buf_free(&b);
	imap_cmd_ok(cmd, "STATUS completed");
	return 1;
}
