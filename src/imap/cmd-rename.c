/* cmd-rename.c - RENAME (RFC 9051 6.3.6). Children move along; renaming
 * INBOX moves its messages into a new mailbox and leaves INBOX empty (the
 * store does both). */
#include <stdlib.h>
#include <string.h>

#include "imap/imap-commands.h"
#include "imap/imap-internal.h"
#include "lib/pool.h"

struct rename_req {
	const char *from, *to;
};

static int rename_call(struct store_user *u, void *ctx)
{
	struct rename_req *req = ctx;
	return store_mailbox_rename(u, req->from, req->to);
}

/* The selected mailbox (or a parent of it) was renamed: keep our copy of
 * its name right (its id and UIDs are unchanged). */
static void rename_after(struct imap_cmd *cmd, void *ctx)
{
	struct imap_session *s = cmd->session;
	struct rename_req *req = ctx;
	if (s->state != IMAP_STATE_SELECTED || s->view.name == NULL ||
	    strcmp(req->from, "INBOX") == 0)
		return;
	size_t n = strlen(req->from);
	if (strncmp(s->view.name, req->from, n) == 0 &&
	    (s->view.name[n] == '\0' || s->view.name[n] == '/')) {
		struct buf b = BUF_INIT(0);
		buf_append_cstr(&b, req->to);
		buf_append_cstr(&b, s->view.name + n);
		char *name = buf_steal(&b, NULL);
		if (name != NULL) {
			free(s->view.name);
			s->view.name = name;
		}
	}
}

int cmd_rename(struct imap_cmd *cmd)
{
	const char *from, *to;
	if (imap_mailbox_arg(cmd, &cmd->args[0], true, &from) < 0 ||
	    imap_mailbox_arg(cmd, &cmd->args[1], true, &to) < 0)
		return 1;
	if (cmd->args[2].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "RENAME takes two mailbox names");
		return 1;
	}
	struct rename_req *req = pool_alloc(cmd->pool, sizeof(*req));
	if (req == NULL) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	req->from = from;
	req->to = to;
	return imap_cmd_store_async(cmd, rename_call, req, rename_after);
}
