/* cmd-capability.c - CAPABILITY (RFC 9051 6.1.1). */
#include "imap/imap-commands.h"

int cmd_capability(struct imap_cmd *cmd)
{
	if (cmd->args[0].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "CAPABILITY takes no arguments");
		return 1;
	}
	struct buf b = BUF_INIT(0);
	buf_append_cstr(&b, "* CAPABILITY ");
	imap_session_capabilities(cmd->session, &b);
	buf_append_cstr(&b, "\r\n");
	imap_session_write_buf(cmd->session, &b);
	buf_free(&b);
	imap_cmd_ok(cmd, "CAPABILITY completed");
	return 1;
}
