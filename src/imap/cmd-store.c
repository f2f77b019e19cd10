/* cmd-store.c - STORE and UID STORE (RFC 9051 6.4.6; RFC 7162 3.1.3
 * UNCHANGEDSINCE and MODIFIED).
 *
 *   store = "STORE" SP sequence-set [SP "(" "UNCHANGEDSINCE" SP modseq ")"]
 *           SP ["+" / "-"] "FLAGS" [".SILENT"] SP (flag-list / (flag *(SP flag)))
 *
 * The flags are checked completely (system flags by name, keywords as
 * atoms the store accepts) before the store is touched; one store call
 * changes all messages in one transaction. The view is then updated so
 * the next sync does not announce our own change again. */
#include "imap/imap-commands.h"

#include <stdio.h>
#include <string.h>

#include "imap/imap-seqset.h"
#include "lib/pool.h"

static const struct {
	const char *name;
	uint8_t flag;
} system_flags[] = {
    {"\\Seen", STORE_FLAG_SEEN},       {"\\Answered", STORE_FLAG_ANSWERED},
    {"\\Flagged", STORE_FLAG_FLAGGED}, {"\\Deleted", STORE_FLAG_DELETED},
    {"\\Draft", STORE_FLAG_DRAFT},
};

/* Parses one flag into *flags or the keyword buffer. -1 with *error_r. */
static int add_flag(struct str name, uint8_t *flags, struct buf *keywords, const char **error_r)
{
	if (name.len > 0 && name.p[0] == '\\') {
		for (size_t i = 0; i < sizeof(system_flags) / sizeof(system_flags[0]); i++) {
			if (str_eq_cstr_nocase(name, system_flags[i].name)) {
				*flags |= system_flags[i].flag;
				return 1;
			}
		}
		/* \Recent is the server's alone (RFC 3501 2.3.2); other
		 * backslash names are not flags we know or may set. */
		*error_r = str_eq_cstr_nocase(name, "\\Recent") ? "\\Recent cannot be stored"
		                                                : "Unknown system flag";
		return -1;
	}
	if (!store_keyword_valid(name.p, name.len)) {
		*error_r = "Invalid keyword (keywords are atoms)";
		return -1;
	}
	if ((keywords->len > 0 && buf_append_char(keywords, ' ') < 0) ||
	    buf_append_str(keywords, name) < 0) {
		*error_r = "Too many keywords";
		return -1;
	}
	return 1;
}

static void write_fetch(struct imap_session *s, bool uid, uint32_t msn, bool with_flags,
                        bool with_modseq)
{
	const struct store_msg *m = imap_view_msg(s, msn);
	struct buf b = BUF_INIT(0);
	const char *sep = "";
	buf_printf(&b, "* %u FETCH (", msn);
	if (with_flags) {
		buf_append_cstr(&b, "FLAGS ");
		imap_format_flags(&b, m->flags, store_msg_keywords(s->view.msgs, m));
		sep = " ";
	}
	if (uid) {
		buf_printf(&b, "%sUID %u", sep, m->uid);
		sep = " ";
	}
	if (with_modseq)
		buf_printf(&b, "%sMODSEQ (%llu)", sep, (unsigned long long)m->modseq);
	buf_append_cstr(&b, ")\r\n");
	imap_session_write_buf(s, &b);
	buf_free(&b);
}

/* One STORE between its checks and its answer. */
struct store_job {
	struct imap_cmd *cmd;
	struct store_user *user;
	uint64_t mailbox_id;
	struct imap_seqset msns, uids;
	struct store_uidset set;
	enum store_flags_op op;
	uint8_t flags;
	const char *keywords;
	bool silent, has_unchangedsince, all_fail;
	uint64_t unchangedsince;
	struct store_flags_result res;
	int ret;
	char err[256];
	const char *code;
};

/* Pool thread: the one store call. Its error is thread-local, so it is
 * copied here. */
static void store_work(void *arg)
{
	struct store_job *job = arg;
	job->ret = store_flags_change(job->user, job->mailbox_id, &job->set, job->op, job->flags,
	                              job->keywords,
	                              job->has_unchangedsince ? job->unchangedsince : 0, &job->res);
	if (job->ret < 0) {
		const char *msg;
		job->code = store_error_imap_code(store_error(&msg));
		snprintf(job->err, sizeof(job->err), "%s", msg && *msg ? msg : "Internal error");
	}
}

/* Worker thread: update the view, answer. */
static void store_reply(struct store_job *job)
{
	struct imap_cmd *cmd = job->cmd;
	struct imap_session *s = cmd->session;
	if (job->ret < 0) {
		imap_cmd_no(cmd, "[%s] %s", job->code, job->err);
		return;
	}
	struct imap_seqset failed = IMAP_SEQSET_INIT, changed = IMAP_SEQSET_INIT;
	if (job->all_fail) {
		imap_seqset_copy(&failed, cmd->uid ? &job->uids : &job->msns);
	} else {
		for (size_t i = 0; i < job->res.failed.count; i++) {
			uint32_t uid = job->res.failed.uids[i];
			imap_seqset_add(&failed, cmd->uid ? uid : imap_view_msn(s, uid));
		}
	}
	for (uint32_t i = 0; i < job->res.changed.count; i++) {
		imap_view_update_msg(s, &job->res.changed, &job->res.changed.msgs[i]);
		imap_seqset_add(&changed, job->res.changed.msgs[i].uid);
	}
	bool condstore = imap_session_condstore(s);
	struct imap_seqset_iter it = IMAP_SEQSET_ITER_INIT;
	uint32_t msn;
	while (imap_seqset_iter_next(&job->msns, &it, &msn)) {
		const struct store_msg *m = imap_view_msg(s, msn);
		if (m == NULL || imap_seqset_contains(&failed, cmd->uid ? m->uid : msn))
			continue;
		if (!job->silent)
			write_fetch(s, cmd->uid, msn, true, condstore);
		else if (job->has_unchangedsince ||
		         (condstore && imap_seqset_contains(&changed, m->uid)))
			/* RFC 7162 3.1.3: the new MODSEQ even with .SILENT. */
			write_fetch(s, cmd->uid, msn, false, true);
	}
	if (!imap_seqset_is_empty(&failed)) {
		struct buf b = BUF_INIT(0);
		imap_seqset_format(&failed, &b);
		imap_cmd_ok(cmd, "[MODIFIED %s] Conditional STORE failed", buf_cstr(&b));
		buf_free(&b);
	} else {
		imap_cmd_ok(cmd, "%s completed", cmd->name);
	}
	imap_seqset_clear(&failed);
	imap_seqset_clear(&changed);
}

static void store_done(void *arg)
{
	struct store_job *job = arg;
	if (!conn_is_closing(job->cmd->session->conn))
		store_reply(job);
	imap_cmd_complete(job->cmd);
}

/* Called by the session once the command ends, finished or abandoned. */
static void store_cleanup(struct imap_cmd *cmd)
{
	struct store_job *job = cmd->ctx;
	if (job == NULL)
		return;
	store_flags_result_free(&job->res);
	imap_seqset_clear(&job->msns);
	imap_seqset_clear(&job->uids);
	cmd->ctx = NULL;
}

int cmd_store(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	const struct imap_arg *args = cmd->args;
	struct str set_text, item;
	const char *err = NULL;
	uint64_t unchangedsince = 0;
	bool has_unchangedsince = false;

	if (!imap_arg_get_atom(&args[0], &set_text)) {
		imap_cmd_bad(cmd, "STORE needs a sequence set");
		return 1;
	}
	args++;
	if (args[0].type == IMAP_ARG_LIST) {
		/* store-modifiers (RFC 4466 2.5): only UNCHANGEDSINCE is known. */
		const struct imap_arg *mods = args[0].list;
		struct str num;
		if (args[0].list_count != 2 || !imap_arg_atom_equals(&mods[0], "UNCHANGEDSINCE") ||
		    !imap_arg_get_atom(&mods[1], &num) || str_to_u64(num, &unchangedsince) < 0 ||
		    unchangedsince > INT64_MAX) {
			imap_cmd_bad(cmd,
			             "Invalid STORE modifier (only UNCHANGEDSINCE n is known)");
			return 1;
		}
		has_unchangedsince = true;
		args++;
	}
	if (!imap_arg_get_atom(&args[0], &item)) {
		imap_cmd_bad(cmd, "STORE needs FLAGS, +FLAGS or -FLAGS");
		return 1;
	}
	args++;
	enum store_flags_op op = STORE_FLAGS_REPLACE;
	if (item.len > 0 && (item.p[0] == '+' || item.p[0] == '-')) {
		op = item.p[0] == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		item = str_sub(item, 1, item.len - 1);
	}
	bool silent = false;
	if (str_eq_cstr_nocase(item, "FLAGS.SILENT"))
		silent = true;
	else if (!str_eq_cstr_nocase(item, "FLAGS")) {
		imap_cmd_bad(cmd, "STORE needs FLAGS, +FLAGS or -FLAGS");
		return 1;
	}
	/* The value: one list, or (RFC 3501 compatible) flags as atoms. */
	const struct imap_arg *flag_args = args;
	if (args[0].type == IMAP_ARG_LIST) {
		flag_args = args[0].list;
		if (args[1].type != IMAP_ARG_EOL) {
			imap_cmd_bad(cmd, "Unexpected arguments after the flag list");
			return 1;
		}
	} else if (args[0].type == IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "STORE needs flags");
		return 1;
	}
	uint8_t flags = 0;
	bool keywords_given = false;
	struct buf keywords = BUF_INIT(STORE_KEYWORDS_PER_MSG_MAX * (STORE_KEYWORD_MAX + 1));
	for (size_t i = 0; flag_args[i].type != IMAP_ARG_EOL; i++) {
		struct str name;
		if (!imap_arg_get_atom(&flag_args[i], &name)) {
			buf_free(&keywords);
			imap_cmd_bad(cmd, "Flags must be atoms");
			return 1;
		}
		if (name.len > 0 && name.p[0] != '\\')
			keywords_given = true;
		if (add_flag(name, &flags, &keywords, &err) < 0) {
			buf_free(&keywords);
			imap_cmd_bad(cmd, "%s", err);
			return 1;
		}
	}
	struct imap_seqset msns = IMAP_SEQSET_INIT, uids = IMAP_SEQSET_INIT;
	if (imap_seqset_to_msns(s, set_text, cmd->uid, &msns, &err) < 0) {
		buf_free(&keywords);
		imap_cmd_bad(cmd, "%s", err);
		return 1;
	}
	if (s->view.readonly) {
		buf_free(&keywords);
		imap_seqset_clear(&msns);
		imap_cmd_no(cmd, "[READ-ONLY] The mailbox is open read-only");
		return 1;
	}
	if (has_unchangedsince)
		imap_session_enable_condstore(s);

	/* Checks done: act, on the thread pool (the commit is fsync'd). */
	struct store_job *job = pool_alloc(cmd->pool, sizeof(*job));
	if (job == NULL) {
		buf_free(&keywords);
		imap_seqset_clear(&msns);
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	job->cmd = cmd;
	job->user = s->user;
	job->mailbox_id = s->view.mailbox_id;
	job->msns = msns;
	job->uids = uids;
	cmd->ctx = job;
	cmd->cleanup = store_cleanup;
	job->op = op;
	job->flags = flags;
	job->keywords = keywords.len > 0 ? pool_strdup(cmd->pool, buf_cstr(&keywords)) : NULL;
	buf_free(&keywords);
	job->silent = silent;
	job->has_unchangedsince = has_unchangedsince;
	job->unchangedsince = unchangedsince;
	/* UNCHANGEDSINCE 0 fails for every message (RFC 7162 3.1.3, example
	 * 8: a system flag always exists); the store reads 0 as "no test",
	 * so it is not called at all then. */
	job->all_fail = has_unchangedsince && unchangedsince == 0;
	job->ret = 1;
	if (imap_seqset_msns_to_store(s, &job->msns, cmd->pool, &job->uids, &job->set) < 0 ||
	    (keywords_given && job->keywords == NULL)) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	if (job->set.count == 0 || job->all_fail) {
		store_reply(job);
		return 1;
	}
	if (conn_run_async(s->conn, store_work, store_done, job) < 0) {
		store_work(job);
		store_reply(job);
		return 1;
	}
	return 0;
}
