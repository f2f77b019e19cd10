/* cmd-subscribe.c - SUBSCRIBE and UNSUBSCRIBE (RFC 9051 6.3.7, 6.3.8).
 * Subscriptions are names: they may name mailboxes that do not exist. */
#include <string.h>

#include "imap/imap-commands.h"
#include "imap/imap-internal.h"

int cmd_subscribe(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	const char *name;
	if (imap_mailbox_arg(cmd, &cmd->args[0], true, &name) < 0)
		return 1;
	if (cmd->args[1].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "%s takes one mailbox name", cmd->name);
		return 1;
	}
	bool subscribe = strcmp(cmd->name, "SUBSCRIBE") == 0;
	if (store_mailbox_subscribe(s->user, name, subscribe) < 0) {
		imap_cmd_no_store_error(cmd);
		return 1;
	}
	imap_cmd_ok(cmd, "%s completed", cmd->name);
	return 1;
}
