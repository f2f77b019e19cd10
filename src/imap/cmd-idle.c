/* cmd-idle.c - IDLE (RFC 2177, RFC 9051 6.3.13).
 *
 * While idling, changes to the selected mailbox from other sessions, POP3
 * and deliveries arrive on the store's change bus; the watch callback
 * signals this session's wakeup, and imap_idle_push() announces them at
 * once (EXPUNGE included: IDLE is a command in progress that does not use
 * sequence numbers). A keep-alive "* OK Still here" every
 * imap.idle_keepalive seconds stops NAT boxes from dropping the link. */
#include <event2/event.h>
#include <string.h>

#include "imap/imap-commands.h"
#include "imap/imap-internal.h"
#include "lib/config.h"

static void keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session *s = arg;
	imap_session_write_cstr(s, "* OK Still here\r\n");
	/* Also the fallback for commits of other processes when nobody
	 * listens on the notify socket. */
	if (s->user != NULL)
		store_user_refresh(s->user);
	imap_idle_push(s);
}

void imap_idle_stop(struct imap_session *s)
{
	s->idling = false;
	if (s->idle_timer != NULL) {
		event_free(s->idle_timer);
		s->idle_timer = NULL;
	}
}

void imap_idle_push(struct imap_session *s)
{
	if (!s->idling || s->state != IMAP_STATE_SELECTED)
		return;
	if (imap_view_sync(s, true) < 0)
		imap_session_mailbox_gone(s);
}

void imap_idle_line(struct imap_session *s, struct str line)
{
	struct imap_cmd *cmd = s->cmd;
	imap_idle_stop(s);
	if (str_eq_cstr_nocase(line, "DONE"))
		imap_cmd_ok(cmd, "IDLE terminated");
	else
		imap_cmd_bad(cmd, "Expected DONE to end IDLE");
	imap_session_suspend_input(s);
	imap_cmd_complete(cmd);
}

int cmd_idle(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	if (cmd->args[0].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "IDLE takes no arguments");
		return 1;
	}
	s->idle_timer = event_new(conn_event_base(s->conn), -1, EV_PERSIST, keepalive, s);
	if (s->idle_timer != NULL) {
		struct timeval tv = { roost_config->imap_idle_keepalive, 0 };
		event_add(s->idle_timer, &tv);
	}
	imap_session_write_cstr(s, "+ idling\r\n");
	s->idling = true;
	if (s->user != NULL)
		store_user_refresh(s->user);
	imap_idle_push(s);
	imap_session_resume_input(s);
	return 0;
}
