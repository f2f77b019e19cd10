/* cmd-starttls.c - STARTTLS (RFC 9051 6.2.1). TLS starts after the tagged
 * OK is flushed; the session then drops any input that came before the
 * handshake (RFC 2595 3.1). The client must ask for CAPABILITY again: it
 * now lacks STARTTLS and LOGINDISABLED. */
#include "imap/imap-commands.h"

int cmd_starttls(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	if (cmd->args[0].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "STARTTLS takes no arguments");
		return 1;
	}
	if (conn_is_tls(s->conn)) {
		imap_cmd_bad(cmd, "TLS is already active");
		return 1;
	}
	if (!conn_tls_available(s->conn)) {
		imap_cmd_no(cmd, "[UNAVAILABLE] TLS is not configured on this server");
		return 1;
	}
	s->starttls_pending = true;
	imap_cmd_ok(cmd, "Begin TLS negotiation now");
	return 1;
}
