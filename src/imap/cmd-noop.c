/* cmd-noop.c - NOOP (RFC 9051 6.1.2) and CHECK (RFC 3501 6.4.1; gone in
 * IMAP4rev2 but still sent by rev1 clients, where it is a NOOP for us:
 * every change is already durable). Both exist to let the session send the
 * pending untagged updates, which it does after every command. */
#include "imap/imap-commands.h"
#include "imap/imap-internal.h"

int cmd_noop(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	if (cmd->args[0].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "%s takes no arguments", cmd->name);
		return 1;
	}
	/* Fallback for commits of other processes when the notify socket
	 * is not listening (store.h store_user_refresh). */
	if (s->user != NULL)
		store_user_refresh(s->user);
	imap_cmd_ok(cmd, "%s completed", cmd->name);
	return 1;
}
