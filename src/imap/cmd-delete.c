/* cmd-delete.c - DELETE (RFC 9051 6.3.5). The store refuses INBOX and a
 * \Noselect name with children; a selectable mailbox with children loses
 * its messages and becomes \Noselect. A recreated name gets a new, larger
 * UIDVALIDITY. Removing the messages' files is disk work: thread pool. */
#include "imap/imap-commands.h"
#include "imap/imap-internal.h"
#include "lib/pool.h"

struct delete_job {
	struct imap_cmd *cmd;
	struct store_user *user;
	const char *name;
	bool was_selected;
	int result;
	struct imap_store_err err;
};

static void delete_work(void *arg)
{
	struct delete_job *job = arg;
	job->result = store_mailbox_delete(job->user, job->name);
	if (job->result < 0)
		imap_store_err_save(&job->err);
}

static void delete_done(void *arg)
{
	struct delete_job *job = arg;
	struct imap_cmd *cmd = job->cmd;
	struct imap_session *s = cmd->session;
	if (job->result < 0) {
		imap_cmd_no_saved(cmd, &job->err);
	} else {
		if (job->was_selected && s->state == IMAP_STATE_SELECTED) {
			/* Our own mailbox is gone: leave it quietly instead
			 * of the BYE another session would get. */
			imap_view_close(s);
			imap_session_write_cstr(s, "* OK [CLOSED] The selected mailbox was deleted\r\n");
		}
		imap_cmd_ok(cmd, "DELETE completed");
	}
	imap_cmd_complete(cmd);
}

int cmd_delete(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	const char *name;
	if (imap_mailbox_arg(cmd, &cmd->args[0], true, &name) < 0)
		return 1;
	if (cmd->args[1].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "DELETE takes one mailbox name");
		return 1;
	}
	struct delete_job *job = pool_alloc(cmd->pool, sizeof(*job));
	if (job == NULL) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	job->cmd = cmd;
	job->user = s->user;
	job->name = name;
	job->was_selected = s->state == IMAP_STATE_SELECTED && s->view.name != NULL &&
			    str_eq(str_c(s->view.name), str_c(name));
	if (conn_run_async(s->conn, delete_work, delete_done, job) < 0) {
		imap_cmd_no(cmd, "[UNAVAILABLE] Server busy; try again");
		return 1;
	}
	return 0;
}
