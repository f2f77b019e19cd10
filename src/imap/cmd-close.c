/* cmd-close.c - CLOSE (RFC 9051 6.4.1: expunge \Deleted messages silently
 * unless read-only, then leave the selected state) and UNSELECT (RFC 3691,
 * RFC 9051 6.4.2: leave without expunging). The expunge removes files, so
 * it runs on the thread pool. */
#include <string.h>

#include "imap/imap-commands.h"
#include "imap/imap-internal.h"
#include "lib/pool.h"

struct close_job {
	struct imap_cmd *cmd;
	struct store_user *user;
	uint64_t mailbox_id;
	int result;
	struct imap_store_err err;
};

static void close_work(void *arg)
{
	struct close_job *job = arg;
	job->result = store_expunge(job->user, job->mailbox_id, NULL, true, NULL);
	if (job->result < 0)
		imap_store_err_save(&job->err);
}

static void close_done(void *arg)
{
	struct close_job *job = arg;
	struct imap_cmd *cmd = job->cmd;
	/* A mailbox deleted meanwhile is closed all the same. */
	if (job->result < 0 && job->err.err != STORE_ERR_NONEXISTENT) {
		imap_cmd_no_saved(cmd, &job->err);
	} else {
		imap_view_close(cmd->session);
		imap_cmd_ok(cmd, "CLOSE completed");
	}
	imap_cmd_complete(cmd);
}

int cmd_close(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	bool is_close = strcmp(cmd->name, "CLOSE") == 0;
	if (cmd->args[0].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "%s takes no arguments", cmd->name);
		return 1;
	}
	if (is_close && !s->view.readonly) {
		struct close_job *job = pool_alloc(cmd->pool, sizeof(*job));
		if (job == NULL) {
			imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
			return 1;
		}
		job->cmd = cmd;
		job->user = s->user;
		job->mailbox_id = s->view.mailbox_id;
		/* No untagged EXPUNGE: CLOSE is silent (RFC 9051 6.4.1). */
		cmd->no_expunge = true;
		if (conn_run_async(s->conn, close_work, close_done, job) < 0) {
			imap_cmd_no(cmd, "[UNAVAILABLE] Server busy; try again");
			return 1;
		}
		return 0;
	}
	imap_view_close(s);
	imap_cmd_ok(cmd, "%s completed", cmd->name);
	return 1;
}
