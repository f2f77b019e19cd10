/* imap-store-job.c - run one store call of a command on the thread pool.
 *
 * Mailbox changes (CREATE, RENAME, SUBSCRIBE) commit a transaction with
 * synchronous=FULL: an fsync that must not stall the worker's other
 * connections. The call runs in the pool; the answer (OK, or NO with the
 * store's error captured on that thread) is given back on the worker. */
#include "imap/imap-internal.h"
#include "lib/pool.h"

struct store_job {
	struct imap_cmd *cmd;
	imap_store_call *call;
	void *ctx;
	void (*after)(struct imap_cmd *cmd, void *ctx);
	int result;
	struct imap_store_err err;
};

static void store_job_work(void *arg)
{
	struct store_job *job = arg;
	job->result = job->call(job->cmd->session->user, job->ctx);
	if (job->result < 0)
		imap_store_err_save(&job->err);
}

static void store_job_done(void *arg)
{
	struct store_job *job = arg;
	struct imap_cmd *cmd = job->cmd;
	if (job->result < 0) {
		imap_cmd_no_saved(cmd, &job->err);
	} else {
		if (job->after != NULL)
			job->after(cmd, job->ctx);
		if (cmd->reply == IMAP_REPLY_NONE)
			imap_cmd_ok(cmd, "%s completed", cmd->name);
	}
	imap_cmd_complete(cmd);
}

int imap_cmd_store_async(struct imap_cmd *cmd, imap_store_call *call, void *ctx,
			 void (*after)(struct imap_cmd *cmd, void *ctx))
{
	struct store_job *job = pool_alloc(cmd->pool, sizeof(*job));
	if (job == NULL) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	job->cmd = cmd;
	job->call = call;
	job->ctx = ctx;
	job->after = after;
	if (conn_run_async(cmd->session->conn, store_job_work, store_job_done, job) < 0) {
		imap_cmd_no(cmd, "[UNAVAILABLE] Server busy; try again");
		return 1;
	}
	return 0;
}
