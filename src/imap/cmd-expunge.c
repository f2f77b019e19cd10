/* cmd-expunge.c - EXPUNGE and UID EXPUNGE (RFC 9051 6.4.3; RFC 4315 2.1).
 *
 * Only messages the client knows (those in its view) are expunged: a new
 * message with \Deleted that arrived since the last EXISTS stays until
 * the client has seen it. The EXPUNGE responses (or VANISHED under
 * QRESYNC) come from the view, highest sequence number first. */
#include "imap/imap-commands.h"

#include <stdio.h>

#include "imap/imap-seqset.h"
#include "lib/pool.h"

struct expunge_job {
	struct imap_cmd *cmd;
	struct store_user *user;
	uint64_t mailbox_id;
	struct store_uidset set;
	struct store_uid_array expunged;
	int ret;
	char err[256];
	const char *code;
};

/* Pool thread: the one store call; its thread-local error is copied. */
static void expunge_work(void *arg)
{
	struct expunge_job *job = arg;
	job->ret = store_expunge(job->user, job->mailbox_id, &job->set, true, &job->expunged);
	if (job->ret < 0) {
		const char *msg;
		job->code = store_error_imap_code(store_error(&msg));
		snprintf(job->err, sizeof(job->err), "%s", msg && *msg ? msg : "Internal error");
	}
}

static void expunge_reply(struct expunge_job *job)
{
	struct imap_cmd *cmd = job->cmd;
	if (job->ret < 0) {
		imap_cmd_no(cmd, "[%s] %s", job->code, job->err);
		return;
	}
	imap_view_expunged(cmd->session, job->expunged.uids, job->expunged.count, false);
	imap_cmd_ok(cmd, "%s completed", cmd->name);
}

static void expunge_done(void *arg)
{
	struct expunge_job *job = arg;
	if (!conn_is_closing(job->cmd->session->conn))
		expunge_reply(job);
	imap_cmd_complete(job->cmd);
}

static void expunge_cleanup(struct imap_cmd *cmd)
{
	struct expunge_job *job = cmd->ctx;
	if (job != NULL)
		store_uid_array_free(&job->expunged);
	cmd->ctx = NULL;
}

int cmd_expunge(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct imap_seqset msns = IMAP_SEQSET_INIT, uids = IMAP_SEQSET_INIT;
	struct store_uidset set;
	const char *err;

	if (cmd->uid) {
		struct str set_text;
		if (!imap_arg_get_atom(&cmd->args[0], &set_text) ||
		    cmd->args[1].type != IMAP_ARG_EOL) {
			imap_cmd_bad(cmd, "UID EXPUNGE needs a UID set");
			return 1;
		}
		if (imap_seqset_to_msns(s, set_text, true, &msns, &err) < 0) {
			imap_cmd_bad(cmd, "%s", err);
			return 1;
		}
	} else {
		if (cmd->args[0].type != IMAP_ARG_EOL) {
			imap_cmd_bad(cmd, "EXPUNGE takes no arguments");
			return 1;
		}
		uint32_t count = imap_view_count(s);
		if (count > 0 && imap_seqset_add_range(&msns, 1, count) < 0) {
			imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
			return 1;
		}
	}
	if (s->view.readonly) {
		imap_seqset_clear(&msns);
		imap_cmd_no(cmd, "[READ-ONLY] The mailbox is open read-only");
		return 1;
	}
	int ret = imap_seqset_msns_to_store(s, &msns, cmd->pool, &uids, &set);
	imap_seqset_clear(&msns);
	imap_seqset_clear(&uids);
	if (ret < 0) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	if (set.count == 0) {
		imap_cmd_ok(cmd, "%s completed", cmd->name);
		return 1;
	}
	/* Act on the thread pool: the commit is fsync'd and removing files
	 * can take a while. */
	struct expunge_job *job = pool_alloc(cmd->pool, sizeof(*job));
	if (job == NULL) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	job->cmd = cmd;
	job->user = s->user;
	job->mailbox_id = s->view.mailbox_id;
	job->set = set;
	cmd->ctx = job;
	cmd->cleanup = expunge_cleanup;
	if (conn_run_async(s->conn, expunge_work, expunge_done, job) < 0) {
		expunge_work(job);
		expunge_reply(job);
		return 1;
	}
	return 0;
}
