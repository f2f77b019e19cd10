/* cmd-copy.c - COPY, UID COPY, MOVE and UID MOVE (RFC 9051 6.4.7, 6.4.8;
 * RFC 4315 UIDPLUS COPYUID; RFC 6851 MOVE).
 *
 * The store copies by reference (no bytes are duplicated) and a move is
 * one transaction: copies made and sources expunged together, so a crash
 * can never lose or double a message. */
#include "imap/imap-commands.h"

#include <stdio.h>
#include <string.h>

#include "imap/imap-seqset.h"
#include "lib/pool.h"

/* "COPYUID <uidvalidity> <source uids> <destination uids>" (RFC 4315 3).
 * The store gives both lists in source-UID order and assigns destination
 * UIDs ascending, so both compress into ranges that still pair up. */
static int format_copyuid(const struct store_copy_result *res, struct buf *out)
{
	struct imap_seqset src = IMAP_SEQSET_INIT, dst = IMAP_SEQSET_INIT;
	int ret = 1;
	for (size_t i = 0; i < res->src_uids.count && ret > 0; i++)
		ret = imap_seqset_add(&src, res->src_uids.uids[i]);
	for (size_t i = 0; i < res->dst_uids.count && ret > 0; i++)
		ret = imap_seqset_add(&dst, res->dst_uids.uids[i]);
	if (ret > 0 && buf_printf(out, "COPYUID %u ", res->dst_uidvalidity) > 0 &&
	    imap_seqset_format(&src, out) > 0 && buf_append_char(out, ' ') > 0)
		ret = imap_seqset_format(&dst, out);
	else
		ret = -1;
	imap_seqset_clear(&src);
	imap_seqset_clear(&dst);
	return ret;
}

/* One COPY/MOVE between its checks and its answer. */
struct copy_job {
	struct imap_cmd *cmd;
	struct store_user *user;
	uint64_t src_id, dst_id;
	struct store_uidset set;
	bool move;
	struct store_copy_result res;
	int ret;
	char err[256];
	const char *code;
};

/* Pool thread: the one store call; its thread-local error is copied. */
static void copy_work(void *arg)
{
	struct copy_job *job = arg;
	job->ret = store_copy(job->user, job->src_id, &job->set, job->dst_id, job->move, &job->res);
	if (job->ret < 0) {
		const char *msg;
		job->code = store_error_imap_code(store_error(&msg));
		snprintf(job->err, sizeof(job->err), "%s", msg && *msg ? msg : "Internal error");
	}
}

static void copy_reply(struct copy_job *job)
{
	struct imap_cmd *cmd = job->cmd;
	struct imap_session *s = cmd->session;
	if (job->ret < 0) {
		imap_cmd_no(cmd, "[%s] %s", job->code, job->err);
		return;
	}
	struct buf code = BUF_INIT(0);
	bool have_code = job->res.src_uids.count > 0 && format_copyuid(&job->res, &code) > 0;
	if (!job->move) {
		if (have_code)
			imap_cmd_ok(cmd, "[%s] %s completed", buf_cstr(&code), cmd->name);
		else
			imap_cmd_ok(cmd, "%s completed", cmd->name);
	} else {
		/* RFC 6851 3.3/4.3: COPYUID goes in an untagged OK before the
		 * expunges of the moved messages, then the tagged OK. */
		if (have_code)
			imap_session_printf(s, "* OK [%s] Moved UIDs.\r\n", buf_cstr(&code));
		imap_view_expunged(s, job->res.src_uids.uids, job->res.src_uids.count, false);
		imap_cmd_ok(cmd, "%s completed", cmd->name);
	}
	buf_free(&code);
}

static void copy_done(void *arg)
{
	struct copy_job *job = arg;
	if (!conn_is_closing(job->cmd->session->conn))
		copy_reply(job);
	imap_cmd_complete(job->cmd);
}

static void copy_cleanup(struct imap_cmd *cmd)
{
	struct copy_job *job = cmd->ctx;
	if (job != NULL)
		store_copy_result_free(&job->res);
	cmd->ctx = NULL;
}

int cmd_copy(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	bool move = strstr(cmd->name, "MOVE") != NULL;
	struct str set_text, wire;
	const char *name, *err;

	if (!imap_arg_get_atom(&cmd->args[0], &set_text) ||
	    !imap_arg_get_astring(&cmd->args[1], &wire) || cmd->args[2].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "%s needs a sequence set and a mailbox name",
		             move ? "MOVE" : "COPY");
		return 1;
	}
	if (imap_session_mailbox_from_wire(s, wire, cmd->pool, &name, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err);
		return 1;
	}
	struct imap_seqset msns = IMAP_SEQSET_INIT, uids = IMAP_SEQSET_INIT;
	if (imap_seqset_to_msns(s, set_text, cmd->uid, &msns, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err);
		return 1;
	}
	if (move && s->view.readonly) {
		imap_seqset_clear(&msns);
		imap_cmd_no(cmd, "[READ-ONLY] The mailbox is open read-only");
		return 1;
	}
	char *name_buf = pool_alloc(cmd->pool, STORE_MAILBOX_NAME_MAX + 1);
	struct store_mailbox_info info;
	int ret = name_buf == NULL ? -1 : store_mailbox_lookup(s->user, name, &info, name_buf);
	if (ret <= 0) {
		imap_seqset_clear(&msns);
		if (ret == 0)
			/* RFC 9051 6.4.7: a missing target is NO [TRYCREATE]. */
			imap_cmd_no(cmd, "[TRYCREATE] Mailbox does not exist");
		else
			imap_cmd_no_store_error(cmd);
		return 1;
	}
	if (info.attrs & STORE_MBOX_NOSELECT) {
		imap_seqset_clear(&msns);
		imap_cmd_no(cmd, "[CANNOT] Mailbox cannot hold messages");
		return 1;
	}
	struct store_uidset set;
	if (imap_seqset_msns_to_store(s, &msns, cmd->pool, &uids, &set) < 0) {
		imap_seqset_clear(&msns);
		imap_seqset_clear(&uids);
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	imap_seqset_clear(&msns);
	imap_seqset_clear(&uids);
	if (set.count == 0) {
		/* RFC 9051 6.4.9: UIDs that do not exist are ignored; nothing
		 * to copy is a success without COPYUID. */
		imap_cmd_ok(cmd, "%s completed", cmd->name);
		return 1;
	}

	/* Checks done: act, on the thread pool (the commit is fsync'd). */
	struct copy_job *job = pool_alloc(cmd->pool, sizeof(*job));
	if (job == NULL) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	job->cmd = cmd;
	job->user = s->user;
	job->src_id = s->view.mailbox_id;
	job->dst_id = info.id;
	job->set = set;
	job->move = move;
	cmd->ctx = job;
	cmd->cleanup = copy_cleanup;
	if (conn_run_async(s->conn, copy_work, copy_done, job) < 0) {
		copy_work(job);
		copy_reply(job);
		return 1;
	}
	return 0;
}
