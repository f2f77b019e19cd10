/* cmd-close.c - CLOSE (RFC 9051 6.4.1: expunge \Deleted messages silently
 * unless read-only, then leave the selected state) and UNSELECT (RFC 3691,
 * RFC 9051 6.4.2: leave without expunging). */
#include <string.h>

#include "imap/imap-commands.h"
#include "imap/imap-internal.h"

int cmd_close(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	bool is_close = strcmp(cmd->name, "CLOSE") == 0;
	if (cmd->args[0].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "%s takes no arguments", cmd->name);
		return 1;
	}
	if (is_close && !s->view.readonly) {
		struct store_uid_array expunged = { 0 };
		if (store_expunge(s->user, s->view.mailbox_id, NULL, true, &expunged) < 0) {
			const char *msg;
			if (store_error(&msg) != STORE_ERR_NONEXISTENT) {
				imap_cmd_no_store_error(cmd);
				return 1;
			}
		}
		store_uid_array_free(&expunged);
	}
	imap_view_close(s);
	/* RFC 7162 3.2.11: under QRESYNC a CLOSE/UNSELECT that ends the
	 * selected state is answered with [CLOSED] only for SELECT of
	 * another mailbox; a plain OK here. */
	imap_cmd_ok(cmd, "%s completed", cmd->name);
	return 1;
}
