/* cmd-subscribe.c - SUBSCRIBE and UNSUBSCRIBE (RFC 9051 6.3.7, 6.3.8).
 * Subscriptions are names: they may name mailboxes that do not exist. */
#include <string.h>

#include "imap/imap-commands.h"
#include "imap/imap-internal.h"

static int subscribe_call(struct store_user *u, void *ctx)
{
	return store_mailbox_subscribe(u, ctx, true);
}

static int unsubscribe_call(struct store_user *u, void *ctx)
{
	return store_mailbox_subscribe(u, ctx, false);
}

int cmd_subscribe(struct imap_cmd *cmd)
{
	const char *name;
	if (imap_mailbox_arg(cmd, &cmd->args[0], true, &name) < 0)
		return 1;
	if (cmd->args[1].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "%s takes one mailbox name", cmd->name);
		return 1;
	}
	return imap_cmd_store_async(cmd, strcmp(cmd->name, "SUBSCRIBE") == 0 ? subscribe_call
										: unsubscribe_call,
				    (void *)name, NULL);
}
