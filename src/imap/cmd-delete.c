/* cmd-delete.c - DELETE (RFC 9051 6.3.5). The store refuses INBOX and a
 * \Noselect name with children; a selectable mailbox with children loses
 * its messages and becomes \Noselect. A recreated name gets a new, larger
 * UIDVALIDITY. */
#include "imap/imap-commands.h"
#include "imap/imap-internal.h"

int cmd_delete(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	const char *name;
	if (imap_mailbox_arg(cmd, &cmd->args[0], true, &name) < 0)
		return 1;
	if (cmd->args[1].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "DELETE takes one mailbox name");
		return 1;
	}
	bool was_selected =
		s->state == IMAP_STATE_SELECTED && s->view.name != NULL &&
		str_eq(str_c(s->view.name), str_c(name));
	if (store_mailbox_delete(s->user, name) < 0) {
		imap_cmd_no_store_error(cmd);
		return 1;
	}
	if (was_selected) {
		/* Our own mailbox is gone: leave it quietly instead of the
		 * BYE another session would get. */
		imap_view_close(s);
		imap_session_write_cstr(s, "* OK [CLOSED] The selected mailbox was deleted\r\n");
	}
	imap_cmd_ok(cmd, "DELETE completed");
	return 1;
}
