/* imap-commands.h - the command table: every IMAP command, its handler and
 * the rules the session enforces before calling it.
 *
 * The table itself is in imap-commands.c; one command per file
 * (cmd-<name>.c). To add a command, add its handler's prototype below the
 * matching comment and one line to the table. */
#ifndef ROOST_IMAP_COMMANDS_H
#define ROOST_IMAP_COMMANDS_H

#include "imap/imap-session.h"

enum imap_command_flags {
	/* States the command is allowed in. */
	IMAP_CMD_NOAUTH = 1u << 0,   /* not authenticated */
	IMAP_CMD_AUTH = 1u << 1,     /* authenticated, nothing selected */
	IMAP_CMD_SELECTED = 1u << 2, /* a mailbox is selected */
	IMAP_CMD_ANY_STATE = IMAP_CMD_NOAUTH | IMAP_CMD_AUTH | IMAP_CMD_SELECTED,
	IMAP_CMD_LOGGED_IN = IMAP_CMD_AUTH | IMAP_CMD_SELECTED,
	/* The command uses message sequence numbers (FETCH, STORE, SEARCH,
	 * COPY, MOVE without UID): no EXPUNGE response may be sent while it
	 * runs or right after it (RFC 9051 7.5.1, 5.5). */
	IMAP_CMD_USES_MSN = 1u << 3,
	/* The command may not be pipelined after one that is still running
	 * (reserved; the session runs commands one at a time anyway). */
};

/* Returns 1 when the command is finished (its result recorded with
 * imap_cmd_ok/no/bad), 0 when it continues (see imap-session.h). */
typedef int imap_command_func(struct imap_cmd *cmd);

struct imap_command {
	const char *name; /* upper case; UID variants as "UID FETCH" */
	imap_command_func *func;
	unsigned flags;   /* enum imap_command_flags */
};

/* Case-sensitive lookup of an upper-cased name; NULL if unknown. */
const struct imap_command *imap_command_find(const char *name);

/* --- core commands (cmd-*.c, the core engineer) --- */
int cmd_capability(struct imap_cmd *cmd);
int cmd_noop(struct imap_cmd *cmd);       /* NOOP and CHECK */
int cmd_logout(struct imap_cmd *cmd);
int cmd_starttls(struct imap_cmd *cmd);
int cmd_id(struct imap_cmd *cmd);
int cmd_login(struct imap_cmd *cmd);
int cmd_authenticate(struct imap_cmd *cmd);
int cmd_enable(struct imap_cmd *cmd);
int cmd_namespace(struct imap_cmd *cmd);
int cmd_select(struct imap_cmd *cmd);    /* SELECT and EXAMINE */
int cmd_create(struct imap_cmd *cmd);
int cmd_delete(struct imap_cmd *cmd);
int cmd_rename(struct imap_cmd *cmd);
int cmd_subscribe(struct imap_cmd *cmd); /* SUBSCRIBE and UNSUBSCRIBE */
int cmd_list(struct imap_cmd *cmd);      /* LIST and LSUB */
int cmd_status(struct imap_cmd *cmd);
int cmd_append(struct imap_cmd *cmd);
int cmd_idle(struct imap_cmd *cmd);
int cmd_close(struct imap_cmd *cmd);     /* CLOSE and UNSELECT */
int cmd_compress(struct imap_cmd *cmd);

/* --- message commands (the message-commands engineer) --- */
int cmd_fetch(struct imap_cmd *cmd);     /* FETCH and UID FETCH */
int cmd_store(struct imap_cmd *cmd);     /* STORE and UID STORE */
int cmd_search(struct imap_cmd *cmd);    /* SEARCH and UID SEARCH */
int cmd_copy(struct imap_cmd *cmd);      /* COPY, UID COPY, MOVE, UID MOVE */
int cmd_expunge(struct imap_cmd *cmd);   /* EXPUNGE and UID EXPUNGE */

#endif
