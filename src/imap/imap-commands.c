/* imap-commands.c - the table of IMAP commands; see imap-commands.h. */
#include "imap/imap-commands.h"

#include <string.h>

#define NOAUTH IMAP_CMD_NOAUTH
#define ANY IMAP_CMD_ANY_STATE
#define LOGGED_IN IMAP_CMD_LOGGED_IN
#define SELECTED IMAP_CMD_SELECTED
#define MSN IMAP_CMD_USES_MSN

static const struct imap_command imap_commands[] = {
	/* any state (RFC 9051 6.1) */
	{ "CAPABILITY", cmd_capability, ANY },
	{ "NOOP", cmd_noop, ANY },
	{ "LOGOUT", cmd_logout, ANY },
	{ "ID", cmd_id, ANY },
	/* not authenticated (RFC 9051 6.2) */
	{ "STARTTLS", cmd_starttls, NOAUTH },
	{ "LOGIN", cmd_login, NOAUTH },
	{ "AUTHENTICATE", cmd_authenticate, NOAUTH },
	/* authenticated (RFC 9051 6.3) */
	{ "ENABLE", cmd_enable, LOGGED_IN },
	{ "NAMESPACE", cmd_namespace, LOGGED_IN },
	{ "SELECT", cmd_select, LOGGED_IN },
	{ "EXAMINE", cmd_select, LOGGED_IN },
	{ "CREATE", cmd_create, LOGGED_IN },
	{ "DELETE", cmd_delete, LOGGED_IN },
	{ "RENAME", cmd_rename, LOGGED_IN },
	{ "SUBSCRIBE", cmd_subscribe, LOGGED_IN },
	{ "UNSUBSCRIBE", cmd_subscribe, LOGGED_IN },
	{ "LIST", cmd_list, LOGGED_IN },
	{ "LSUB", cmd_list, LOGGED_IN },
	{ "STATUS", cmd_status, LOGGED_IN },
	{ "APPEND", cmd_append, LOGGED_IN },
	{ "IDLE", cmd_idle, LOGGED_IN },
	{ "COMPRESS", cmd_compress, LOGGED_IN },
	/* selected (RFC 9051 6.4) */
	{ "CHECK", cmd_noop, SELECTED },
	{ "CLOSE", cmd_close, SELECTED },
	{ "UNSELECT", cmd_close, SELECTED },

	/* message commands (the message-commands engineer's lines) */
	{ "FETCH", cmd_fetch, SELECTED | MSN },
	{ "UID FETCH", cmd_fetch, SELECTED },
	{ "STORE", cmd_store, SELECTED | MSN },
	{ "UID STORE", cmd_store, SELECTED },
	{ "SEARCH", cmd_search, SELECTED | MSN },
	{ "UID SEARCH", cmd_search, SELECTED },
	{ "COPY", cmd_copy, SELECTED | MSN },
	{ "UID COPY", cmd_copy, SELECTED },
	{ "MOVE", cmd_copy, SELECTED | MSN },
	{ "UID MOVE", cmd_copy, SELECTED },
	{ "EXPUNGE", cmd_expunge, SELECTED },
	{ "UID EXPUNGE", cmd_expunge, SELECTED },
};

const struct imap_command *imap_command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(imap_commands) / sizeof(imap_commands[0]); i++) {
		if (strcmp(imap_commands[i].name, name) == 0)
			return &imap_commands[i];
	}
	return NULL;
}
