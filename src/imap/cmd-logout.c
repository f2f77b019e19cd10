/* cmd-logout.c - LOGOUT (RFC 9051 6.1.3): "* BYE", then the tagged OK,
 * then the connection closes. */
#include "imap/imap-commands.h"

int cmd_logout(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	if (cmd->args[0].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "LOGOUT takes no arguments");
		return 1;
	}
	imap_session_write_cstr(s, "* BYE Logging out.\r\n");
	/* No EXPUNGE/EXISTS after BYE: leave the mailbox first. */
	imap_view_close(s);
	s->state = IMAP_STATE_LOGOUT;
	imap_cmd_ok(cmd, "LOGOUT completed");
	return 1;
}
