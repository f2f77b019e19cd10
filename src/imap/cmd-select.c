/* cmd-select.c - SELECT and EXAMINE (RFC 9051 6.3.2, 6.3.3), with the
 * CONDSTORE parameter (RFC 7162 3.1.8) and QRESYNC resynchronisation
 * (RFC 7162 3.2.5): a client that was offline tells us what it last saw
 * (UIDVALIDITY and HIGHESTMODSEQ) and gets, before the tagged OK, one
 * "VANISHED (EARLIER)" with the UIDs expunged since and a FETCH for every
 * message changed since. */
#include <stdlib.h>
#include <string.h>

#include "imap/imap-commands.h"
#include "imap/imap-internal.h"
#include "imap/imap-seqset.h"
#include "lib/log.h"
#include "lib/pool.h"

struct qresync_params {
	bool present;
	uint32_t uidvalidity;
	uint64_t modseq;
	struct imap_seqset known_uids; /* parsed; empty = all */
	bool have_known;
};

/* RFC 7162 3.2.5: QRESYNC (uidvalidity mod-sequence-value [known-uids
 * [seq-match-data]]). seq-match-data only helps servers without complete
 * expunge history; we keep tombstones, so it is checked and ignored. */
static int parse_qresync(struct imap_cmd *cmd, const struct imap_arg *arg,
			 struct qresync_params *q)
{
	const struct imap_arg *list;
	size_t n;
	struct str s;
	uint64_t v;
	if (!imap_arg_get_list(arg, &list, &n) || n < 2 || n > 4) {
		imap_cmd_bad(cmd, "QRESYNC needs (uidvalidity modseq [known-uids [seq-match]])");
		return -1;
	}
	if (!imap_arg_get_atom(&list[0], &s) || str_to_u32(s, &q->uidvalidity) < 0 ||
	    q->uidvalidity == 0) {
		imap_cmd_bad(cmd, "Invalid UIDVALIDITY in QRESYNC");
		return -1;
	}
	if (!imap_arg_get_atom(&list[1], &s) || str_to_u64(s, &v) < 0 || v == 0 ||
	    v > INT64_MAX) {
		imap_cmd_bad(cmd, "Invalid mod-sequence in QRESYNC");
		return -1;
	}
	q->modseq = v;
	if (n >= 3) {
		const char *err;
		if (!imap_arg_get_atom(&list[2], &s) ||
		    imap_seqset_parse(s, false, &q->known_uids, &err) < 0) {
			imap_cmd_bad(cmd, "Invalid known-uids in QRESYNC");
			return -1;
		}
		q->have_known = true;
	}
	if (n == 4) {
		const struct imap_arg *m;
		size_t mn;
		struct str a, b;
		if (!imap_arg_get_list(&list[3], &m, &mn) || mn != 2 ||
		    !imap_arg_get_atom(&m[0], &a) || !imap_arg_get_atom(&m[1], &b) ||
		    !imap_seqset_is_syntax(a) || !imap_seqset_is_syntax(b)) {
			imap_cmd_bad(cmd, "Invalid sequence match data in QRESYNC");
			return -1;
		}
	}
	q->present = true;
	return 1;
}

/* "* FLAGS (...)" with the system flags and the keywords in use (none
 * known yet when l is NULL). */
static void send_flags_line(struct imap_session *s, const struct store_msg_list *l)
{
	struct buf b = BUF_INIT(0);
	buf_append_cstr(&b, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	/* Distinct keywords over all interned sets, first spelling kept. */
	struct buf seen = BUF_INIT(0);
	for (uint32_t i = 1; l != NULL && i < l->kwset_count; i++) {
		struct str set = str_c(l->kwsets[i]);
		while (set.len > 0) {
			long sp = str_find_char(set, ' ');
			struct str kw = str_sub(set, 0, sp < 0 ? set.len : (size_t)sp);
			set = str_sub(set, sp < 0 ? set.len : (size_t)sp + 1, set.len);
			if (kw.len == 0)
				continue;
			/* " kw " search in the list of already written ones */
			struct buf probe = BUF_INIT(0);
			buf_printf(&probe, " %.*s ", (int)kw.len, kw.p);
			bool dup = str_find_nocase(buf_str(&seen), buf_str(&probe)) >= 0;
			buf_free(&probe);
			if (dup)
				continue;
			if (seen.len == 0)
				buf_append_char(&seen, ' ');
			buf_printf(&seen, "%.*s ", (int)kw.len, kw.p);
			buf_printf(&b, " %.*s", (int)kw.len, kw.p);
		}
	}
	buf_free(&seen);
	buf_append_cstr(&b, ")\r\n");
	imap_session_write_buf(s, &b);
	buf_free(&b);
}

/* FLAGS and PERMANENTFLAGS, as SELECT sends them. */
static void send_flags(struct imap_session *s, const struct store_msg_list *l, bool readonly)
{
	send_flags_line(s, l);
	if (readonly)
		imap_session_write_cstr(s, "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n");
	else
		imap_session_write_cstr(s, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted "
					   "\\Seen \\Draft \\*)] Flags permitted\r\n");
}

static void send_qresync(struct imap_session *s, struct qresync_params *q,
			 const struct store_changes *ch)
{
	struct imap_view *v = &s->view;
	struct store_msg_list *l = v->msgs;

	/* RFC 7162 3.2.5.1: a different UIDVALIDITY means the client's
	 * cache is void: no VANISHED/FETCH, just the normal SELECT. */
	if (q->uidvalidity != v->uidvalidity)
		return;
	if (q->have_known)
		imap_seqset_resolve(&q->known_uids, imap_view_max_uid(s));

	if (ch != NULL) {
		struct imap_seqset gone = IMAP_SEQSET_INIT;
		for (size_t i = 0; i < ch->expunged.count; i++) {
			uint32_t uid = ch->expunged.uids[i];
			/* Still numbered in our view (expunged after the
			 * load): the normal sync announces it later. */
			if (store_msg_list_find(l, uid) >= 0)
				continue;
			if (q->have_known && !imap_seqset_contains(&q->known_uids, uid))
				continue;
			imap_seqset_add(&gone, uid);
		}
		if (gone.count > 0) {
			struct buf b = BUF_INIT(0);
			buf_append_cstr(&b, "* VANISHED (EARLIER) ");
			imap_seqset_format(&gone, &b);
			buf_append_cstr(&b, "\r\n");
			imap_session_write_buf(s, &b);
			buf_free(&b);
		}
		imap_seqset_clear(&gone);
	}
	/* Changed since: from the view itself, so the numbers agree with
	 * the EXISTS just sent. */
	for (uint32_t i = 0; i < l->count; i++) {
		const struct store_msg *m = &l->msgs[i];
		if (m->modseq <= q->modseq)
			continue;
		struct buf b = BUF_INIT(0);
		buf_printf(&b, "* %u FETCH (UID %u FLAGS ", i + 1, m->uid);
		imap_format_flags(&b, m->flags, store_msg_keywords(l, m));
		buf_printf(&b, " MODSEQ (%llu))\r\n", (unsigned long long)m->modseq);
		imap_session_write_buf(s, &b);
		buf_free(&b);
	}
}

/* A mailbox with at least this many messages is answered from its head
 * (counters and the mailbox row) while the thread pool still reads the
 * message list; smaller ones are read whole first (a thousand rows take
 * well under a millisecond), so their FLAGS line names the keywords in
 * use right away. */
#define SELECT_EARLY_MIN 1000

/* One SELECT/EXAMINE. Heap-allocated, not in the command pool: when the
 * SELECT is answered early, the command ends (its pool is cleared) while
 * the thread pool still fills the job. s->view.loading points here from
 * the start until select_done. */
struct imap_select_job {
	struct imap_session *s;
	struct imap_cmd *cmd; /* NULL once answered early */
	char *name;
	char *name_buf;
	bool examine, condstore, rev2;
	bool early_ok; /* may answer from the head (not for QRESYNC) */
	struct qresync_params q;
	/* set on the thread pool, read on the worker after head_ready */
	struct store_mailbox_info info;
	struct store_watch *watch;
	struct store_msg_list_head head;
	atomic_bool head_ready;
	/* worker only */
	bool answered; /* the tagged OK went out from the head */
	/* filled by select_work, read by select_done */
	int result; /* 1 ok, 0 no such mailbox, 2 \Noselect, -1 error */
	struct store_msg_list *msgs;
	struct store_changes *changes;
	struct imap_store_err err;
};

static void select_work(void *arg);
static void select_done(void *arg);
static int select_finish(struct imap_select_job *job);

static void job_free(struct imap_select_job **jobp)
{
	struct imap_select_job *job = *jobp;
	if (job == NULL)
		return;
	imap_seqset_clear(&job->q.known_uids);
	store_changes_free(&job->changes);
	store_msg_list_free(&job->msgs);
	store_watch_remove(&job->watch);
	free(job->name);
	free(job->name_buf);
	free(job);
	*jobp = NULL;
}

int cmd_select(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	bool examine = strcmp(cmd->name, "EXAMINE") == 0;
	struct str wire;
	const char *name, *err;
	bool condstore = false;
	struct qresync_params q = { .known_uids = IMAP_SEQSET_INIT };

	/* Check the arguments completely before touching anything. */
	if (!imap_arg_get_astring(&cmd->args[0], &wire)) {
		imap_cmd_bad(cmd, "%s needs a mailbox name", cmd->name);
		return 1;
	}
	if (cmd->args[1].type != IMAP_ARG_EOL) {
		const struct imap_arg *params;
		size_t n;
		if (!imap_arg_get_list(&cmd->args[1], &params, &n) ||
		    cmd->args[2].type != IMAP_ARG_EOL) {
			imap_cmd_bad(cmd, "Invalid %s parameters", cmd->name);
			return 1;
		}
		for (size_t i = 0; i < n; i++) {
			if (imap_arg_atom_equals(&params[i], "CONDSTORE")) {
				condstore = true;
			} else if (imap_arg_atom_equals(&params[i], "QRESYNC") && i + 1 < n) {
				/* RFC 7162 3.2.5: only after ENABLE QRESYNC */
				if ((s->enabled & IMAP_ENABLED_QRESYNC) == 0) {
					imap_cmd_bad(cmd, "QRESYNC must be enabled first");
					imap_seqset_clear(&q.known_uids);
					return 1;
				}
				if (q.present || parse_qresync(cmd, &params[++i], &q) < 0) {
					if (q.present)
						imap_cmd_bad(cmd, "QRESYNC given twice");
					imap_seqset_clear(&q.known_uids);
					return 1;
				}
			} else {
				imap_cmd_bad(cmd, "Unknown %s parameter", cmd->name);
				imap_seqset_clear(&q.known_uids);
				return 1;
			}
		}
	}
	if (imap_session_mailbox_from_wire(s, wire, cmd->pool, &name, &err) < 0) {
		imap_cmd_no(cmd, "[CANNOT] %s", err);
		imap_seqset_clear(&q.known_uids);
		return 1;
	}

	/* SELECT deselects first, even if it then fails (RFC 9051 6.3.2). */
	if (s->state == IMAP_STATE_SELECTED) {
		imap_view_close(s);
		imap_session_write_cstr(s, "* OK [CLOSED] Previous mailbox is now closed\r\n");
	}

	struct imap_select_job *job = calloc(1, sizeof(*job));
	if (job != NULL) {
		job->name = strdup(name);
		job->name_buf = malloc(STORE_MAILBOX_NAME_MAX + 1);
	}
	if (job == NULL || job->name == NULL || job->name_buf == NULL) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		imap_seqset_clear(&q.known_uids);
		job_free(&job);
		return 1;
	}
	job->s = s;
	job->cmd = cmd;
	job->examine = examine;
	job->condstore = condstore;
	job->rev2 = imap_session_rev2(s);
	/* QRESYNC reports the changes from the loaded list itself, so it
	 * waits for the whole list. */
	job->early_ok = !q.present;
	job->q = q;
	atomic_init(&job->head_ready, false);
	/* Loading a big mailbox is disk work: the thread pool does it. */
	s->view.loading = job;
	if (conn_run_async(s->conn, select_work, select_done, job) < 0) {
		s->view.loading = NULL;
		imap_cmd_no(cmd, "[UNAVAILABLE] Server busy; try again");
		job_free(&job);
		return 1;
	}
	return 0;
}

/* On the thread pool, inside the list's read snapshot: hand the head to
 * the worker if the mailbox is big enough to answer early. */
static void select_head(void *ctx, const struct store_msg_list_head *head)
{
	struct imap_select_job *job = ctx;
	job->head = *head;
	if (head->count < SELECT_EARLY_MIN)
		return;
	atomic_store(&job->head_ready, true);
	conn_wakeup_signal(job->s->wakeup);
}

/* On the thread pool: look the mailbox up, watch it, load it. Only
 * select_done (on the worker) frees what this makes: the worker may
 * already use the watch once the head is out. */
static void select_work(void *arg)
{
	struct imap_select_job *job = arg;
	struct imap_session *s = job->s;
	int r = store_mailbox_lookup(s->user, job->name, &job->info, job->name_buf);
	if (r < 0) {
		imap_store_err_save(&job->err);
		job->result = -1;
		return;
	}
	if (r == 0) {
		job->result = 0;
		return;
	}
	if (job->info.attrs & STORE_MBOX_NOSELECT) {
		job->result = 2;
		return;
	}
	/* Watch before loading: a change in between is then seen by the
	 * first sync instead of being lost. */
	if (imap_view_watch(s, job->info.id, &job->watch) < 0) {
		imap_store_err_save(&job->err);
		job->result = -1;
		return;
	}
	if (job->early_ok)
		r = store_msg_list_load_head(s->user, job->info.id, !job->rev2, select_head, job,
					     &job->msgs);
	else
		r = store_msg_list_load(s->user, job->info.id, &job->msgs);
	if (r < 0) {
		imap_store_err_save(&job->err);
		job->result = -1;
		return;
	}
	if (job->q.present && job->q.uidvalidity == job->msgs->uidvalidity &&
	    store_changes_since(s->user, job->info.id, job->q.modseq, &job->changes) < 0)
		job->changes = NULL; /* resync then only sends the FETCHes */
	job->result = 1;
}

/* Takes the mailbox into the view as SELECTED (messages still NULL). */
static int view_open(struct imap_select_job *job, uint32_t uidvalidity, uint32_t uidnext,
		     uint64_t highestmodseq)
{
	struct imap_session *s = job->s;
	struct imap_view *v = &s->view;
	v->name = strdup(job->info.name);
	if (v->name == NULL)
		return -1;
	v->mailbox_id = job->info.id;
	v->readonly = job->examine;
	v->watch = job->watch;
	job->watch = NULL;
	s->state = IMAP_STATE_SELECTED;
	v->uidvalidity = uidvalidity;
	v->uidnext = uidnext;
	v->highestmodseq = highestmodseq;
	if (job->condstore || job->q.present)
		imap_session_enable_condstore(s);
	return 1;
}

/* The untagged part of SELECT's answer after FLAGS (RFC 9051 6.3.2, RFC
 * 3501 6.3.1). first_unseen: position of the first message without
 * \Seen, 0 if none. */
static void send_status(struct imap_select_job *job, uint32_t exists, uint32_t first_unseen)
{
	struct imap_session *s = job->s;
	struct imap_view *v = &s->view;
	imap_session_printf(s, "* %u EXISTS\r\n", exists);
	if (!imap_session_rev2(s)) {
		/* IMAP4rev1 (RFC 3501 6.3.1): RECENT is required, and the
		 * first unseen message SHOULD be named. We keep no \Recent. */
		imap_session_write_cstr(s, "* 0 RECENT\r\n");
		if (first_unseen > 0)
			imap_session_printf(s, "* OK [UNSEEN %u] First unseen\r\n", first_unseen);
	}
	imap_session_printf(s, "* OK [UIDVALIDITY %u] UIDs valid\r\n", v->uidvalidity);
	imap_session_printf(s, "* OK [UIDNEXT %u] Predicted next UID\r\n", v->uidnext);
	/* RFC 7162 3.1.2.1: every successful SELECT names HIGHESTMODSEQ. */
	imap_session_printf(s, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
			    (unsigned long long)v->highestmodseq);
	if (imap_session_rev2(s)) {
		struct buf b = BUF_INIT(0);
		buf_append_cstr(&b, "* LIST (");
		imap_list_format_attrs(&b, job->info.attrs, true);
		buf_append_cstr(&b, ") \"/\" ");
		imap_session_mailbox_to_wire(s, job->info.name, &b);
		buf_append_cstr(&b, "\r\n");
		imap_session_write_buf(s, &b);
		buf_free(&b);
	}
}

/* Worker: the head of a big mailbox is ready while its list is still
 * being read. Answer SELECT now; the list joins the view in select_done,
 * and until then no further command is dispatched (imap_view_loading), so
 * every command sees the whole view. The view is exactly the snapshot
 * the head came from; changes after it reach the client through the
 * normal sync, starting from the head's HIGHESTMODSEQ. */
void imap_select_wakeup(struct imap_session *s)
{
	struct imap_select_job *job = s->view.loading;
	if (job == NULL || job->answered || job->cmd == NULL || !atomic_load(&job->head_ready))
		return;
	if (conn_is_closing(s->conn))
		return;
	struct imap_cmd *cmd = job->cmd;
	const struct store_msg_list_head *h = &job->head;
	if (view_open(job, h->uidvalidity, h->uidnext, h->highestmodseq) < 0)
		return; /* select_done answers from the whole list */
	job->answered = true;
	job->cmd = NULL;
	/* The keywords in use are known only once every row is read:
	 * select_done sends FLAGS again if there are any (RFC 9051 7.3.5;
	 * PERMANENTFLAGS "\*" already allows any). */
	send_flags(s, NULL, job->examine);
	send_status(job, h->count, h->first_unseen);
	imap_cmd_ok(cmd, "[%s] %s completed", job->examine ? "READ-ONLY" : "READ-WRITE",
		    cmd->name);
	imap_cmd_complete(cmd);
	/* No input is taken until the list is in (select_done resumes). */
	imap_session_suspend_input(s);
}

static void select_done(void *arg)
{
	struct imap_select_job *job = arg;
	struct imap_session *s = job->s;
	s->view.loading = NULL;
	if (!job->answered) {
		struct imap_cmd *cmd = job->cmd;
		select_finish(job);
		job_free(&job);
		imap_cmd_complete(cmd);
		return;
	}
	/* Answered early: the view is waiting for its messages. */
	if (conn_is_closing(s->conn)) {
		job_free(&job);
		return;
	}
	if (job->result != 1) {
		/* The client was told the mailbox's EXISTS; without the list
		 * we cannot serve it. Nothing is lost by reconnecting. */
		log_warn("imap-select-load-failed", "%s mailbox=%llu error=\"%s\"",
			 conn_log_prefix(s->conn), (unsigned long long)job->info.id, job->err.msg);
		imap_session_printf(s, "* BYE [%s] %s\r\n",
				    job->err.code != NULL && job->err.code[0] != '\0' ? job->err.code
										    : "SERVERBUG",
				    job->err.msg);
		imap_view_close(s);
		conn_close(s->conn, "select load failed");
		job_free(&job);
		return;
	}
	s->view.msgs = job->msgs;
	job->msgs = NULL;
	if (s->view.msgs->kwset_count > 1)
		send_flags_line(s, s->view.msgs);
	job_free(&job);
	imap_session_resume_input(s);
}

static int select_finish(struct imap_select_job *job)
{
	struct imap_cmd *cmd = job->cmd;
	struct imap_session *s = cmd->session;
	bool examine = job->examine;

	if (job->result == 0) {
		imap_cmd_no(cmd, "[NONEXISTENT] No such mailbox");
		return 1;
	}
	if (job->result == 2) {
		imap_cmd_no(cmd, "[CANNOT] This name is only a parent folder and holds no messages");
		return 1;
	}
	if (job->result < 0) {
		imap_cmd_no_saved(cmd, &job->err);
		return 1;
	}
	if (conn_is_closing(s->conn))
		return 1;

	struct store_msg_list *l = job->msgs;
	if (view_open(job, l->uidvalidity, l->uidnext, l->highestmodseq) < 0) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	s->view.msgs = l;
	job->msgs = NULL;

	uint32_t first_unseen = 0;
	for (uint32_t i = 0; i < l->count; i++) {
		if ((l->msgs[i].flags & STORE_FLAG_SEEN) == 0) {
			first_unseen = i + 1;
			break;
		}
	}
	send_flags(s, l, examine);
	send_status(job, l->count, first_unseen);
	if (job->q.present)
		send_qresync(s, &job->q, job->changes);
	imap_cmd_ok(cmd, "[%s] %s completed", examine ? "READ-ONLY" : "READ-WRITE", cmd->name);
	return 1;
}
