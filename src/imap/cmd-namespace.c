/* cmd-namespace.c - NAMESPACE (RFC 2342, RFC 9051 6.3.10): one personal
 * namespace with the empty prefix and "/" as the delimiter. */
#include "imap/imap-commands.h"

int cmd_namespace(struct imap_cmd *cmd)
{
	if (cmd->args[0].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "NAMESPACE takes no arguments");
		return 1;
	}
	imap_session_write_cstr(cmd->session, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	imap_cmd_ok(cmd, "NAMESPACE completed");
	return 1;
}
