/* cmd-rename.c - RENAME (RFC 9051 6.3.6). Children move along; renaming
 * INBOX moves its messages into a new mailbox and leaves INBOX empty (the
 * store does both). */
#include <stdlib.h>
#include <string.h>

#include "imap/imap-commands.h"
#include "imap/imap-internal.h"
#include "lib/pool.h"

int cmd_rename(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	const char *from, *to;
	if (imap_mailbox_arg(cmd, &cmd->args[0], true, &from) < 0 ||
	    imap_mailbox_arg(cmd, &cmd->args[1], true, &to) < 0)
		return 1;
	if (cmd->args[2].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "RENAME takes two mailbox names");
		return 1;
	}
	if (store_mailbox_rename(s->user, from, to) < 0) {
		imap_cmd_no_store_error(cmd);
		return 1;
	}
	/* The selected mailbox (or a parent of it) was renamed: keep our
	 * copy of its name right (its id and UIDs are unchanged). */
	if (s->state == IMAP_STATE_SELECTED && s->view.name != NULL && strcmp(from, "INBOX") != 0) {
		size_t n = strlen(from);
		if (strncmp(s->view.name, from, n) == 0 &&
		    (s->view.name[n] == '\0' || s->view.name[n] == '/')) {
			struct buf b = BUF_INIT(0);
			buf_append_cstr(&b, to);
			buf_append_cstr(&b, s->view.name + n);
			free(s->view.name);
			s->view.name = buf_steal(&b, NULL);
		}
	}
	imap_cmd_ok(cmd, "RENAME completed");
	return 1;
}
