/* cmd-search.c - SEARCH and UID SEARCH (RFC 9051 6.4.4; RFC 4731 ESEARCH;
 * RFC 5182 SEARCHRES; RFC 7162 3.1.5 MODSEQ; RFC 5032 WITHIN).
 *
 * A program that needs only the message list (flags, UIDs, sizes, dates)
 * is evaluated right here. One that reads headers or bodies can touch
 * every message file of the mailbox, so it runs on the thread pool
 * (conn_run_async): the worker thread keeps serving other connections.
 * The session parses no input while the command runs, so the view (the
 * message list the program walks) does not change under the search. */
#include "imap/imap-commands.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imap/imap-fetch-body.h"
#include "imap/imap-search.h"
#include "imap/imap-seqset.h"
#include "lib/imap-quote.h"
#include "lib/log.h"
#include "lib/pool.h"

/* Messages larger than this are not read into memory for text search
 * (the search index leaves them out too). */
#define SEARCH_MAX_MESSAGE ((uint64_t)64 * 1024 * 1024)
/* How long a SEARCH may spend indexing messages that are not indexed yet
 * (after a big import, say) before it scans the rest. */
#define SEARCH_INDEX_BUDGET_MS 20000

struct search_ctx {
	struct imap_cmd *cmd;
	struct imap_session *s;
	struct store_user *user;
	struct imap_search_program prog;
	const struct imap_seqset *saved;
	uint32_t count; /* messages in the view */
	int64_t now;
	/* results */
	struct imap_seqset msns, uids;
	uint64_t max_modseq;
	bool failed;
	/* message loading */
	struct buf text, blob;
	struct imap_search_index index; /* the search index's answers */
};

static int search_load(void *ctx, const struct store_msg *msg, bool header_only,
                       struct str *text_r, struct mime_cache *cache_r)
{
	struct search_ctx *sc = ctx;
	int fd;
	uint64_t size;
	int ret = store_msg_open(sc->user, msg->blob_id, &fd, &size);
	if (ret <= 0)
		return ret;
	buf_reset(&sc->text);
	if (size > SEARCH_MAX_MESSAGE) {
		/* Too big to search as text: it matches no text key. */
		close(fd);
		return 0;
	}
	/* The cache first: it tells how long the header is, so header keys
	 * read only the header, never the body. */
	buf_reset(&sc->blob);
	ret = store_msg_cache(sc->user, msg->blob_id, &sc->blob);
	if (ret == 0) {
		close(fd);
		return 0;
	}
	bool have_cache = ret > 0 && mime_cache_open(cache_r, sc->blob.data, sc->blob.len) > 0;
	size_t want = (size_t)size;
	struct mime_part_info top;
	if (have_cache && header_only && mime_cache_part(cache_r, 0, &top) > 0 &&
	    top.header_off + top.header_len <= size)
		want = top.header_off + top.header_len;
	ret = imap_fetch_read_range(fd, 0, want, &sc->text);
	close(fd);
	if (ret < 0)
		return -1;
	if (!have_cache) {
		/* want is the whole message here. */
		buf_reset(&sc->blob);
		if (mime_cache_build(buf_cstr(&sc->text), sc->text.len, &sc->blob) < 0 ||
		    mime_cache_open(cache_r, sc->blob.data, sc->blob.len) < 0)
			return -1;
	}
	*text_r = buf_str(&sc->text);
	return 1;
}

/* Answers what it can from the search index: first indexes what is not
 * indexed yet (on the spot, within a time budget; what is left is
 * scanned), then looks every indexable needle up. A failure leaves the
 * keys to the scan, which gives the same answers, only slower. */
static void search_use_index(struct search_ctx *sc)
{
	if (!imap_search_index_useful(&sc->prog))
		return;
	if (store_search_update(sc->user, SEARCH_INDEX_BUDGET_MS, NULL) < 0 ||
	    imap_search_index_prepare(&sc->prog, sc->user, &sc->index) < 0) {
		const char *msg;
		store_error(&msg);
		log_warn("imap_search_index", "user=%s error=\"%s\"", store_user_key(sc->user),
		         msg);
	}
}

/* Runs the program over the whole view. Safe on a pool thread: it reads
 * the view and calls only thread-safe store functions. */
static void search_run(void *arg)
{
	struct search_ctx *sc = arg;
	struct imap_search_msg m;
	search_use_index(sc);
	imap_search_msg_init(&m);
	m.load = search_load;
	m.load_ctx = sc;
	for (uint32_t msn = 1; msn <= sc->count; msn++) {
		const struct store_msg *msg = imap_view_msg(sc->s, msn);
		imap_search_msg_reset(&m);
		m.seq = msn;
		m.msg = msg;
		m.keywords = store_msg_keywords(sc->s->view.msgs, msg);
		m.recent = false;
		int ret = imap_search_match(&sc->prog, &m, sc->saved, sc->now);
		if (ret < 0) {
			sc->failed = true;
			break;
		}
		if (ret == 0)
			continue;
		if (imap_seqset_add(&sc->msns, msn) < 0 ||
		    imap_seqset_add(&sc->uids, msg->uid) < 0) {
			sc->failed = true;
			break;
		}
		if (msg->modseq > sc->max_modseq)
			sc->max_modseq = msg->modseq;
	}
	imap_search_msg_free(&m);
	buf_free(&sc->text);
	buf_free(&sc->blob);
	imap_search_index_free(&sc->prog, &sc->index);
}

static void save_result(struct imap_session *s, const struct imap_seqset *uids)
{
	struct imap_seqset *saved = s->view.saved_result;
	if (saved == NULL) {
		saved = malloc(sizeof(*saved));
		if (saved == NULL)
			return;
		imap_seqset_init(saved);
		s->view.saved_result = saved;
	}
	if (uids == NULL || imap_seqset_copy(saved, uids) < 0)
		imap_seqset_clear(saved);
}

/* The answer: "* SEARCH ..." (IMAP4rev1 without RETURN) or "* ESEARCH". */
static void search_reply(struct search_ctx *sc)
{
	struct imap_cmd *cmd = sc->cmd;
	struct imap_session *s = sc->s;
	const struct imap_seqset *result = cmd->uid ? &sc->uids : &sc->msns;
	unsigned opts = sc->prog.return_opts;
	bool esearch = sc->prog.has_return || imap_session_rev2(s);
	bool empty = imap_seqset_is_empty(result);
	struct buf b = BUF_INIT(0);

	if (!sc->prog.has_return)
		opts = IMAP_SEARCH_RETURN_ALL;
	if (opts & IMAP_SEARCH_RETURN_SAVE) {
		/* RFC 5182 2.4: with MIN and/or MAX but neither ALL nor COUNT,
		 * only those messages are saved. */
		if ((opts & (IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX)) != 0 &&
		    (opts & (IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT)) == 0 && !empty) {
			struct imap_seqset sub = IMAP_SEQSET_INIT;
			if (opts & IMAP_SEARCH_RETURN_MIN)
				imap_seqset_add(&sub, imap_seqset_min(&sc->uids));
			if (opts & IMAP_SEARCH_RETURN_MAX)
				imap_seqset_add(&sub, imap_seqset_max(&sc->uids));
			save_result(s, &sub);
			imap_seqset_clear(&sub);
		} else {
			save_result(s, &sc->uids);
		}
	}
	if (!esearch) {
		buf_append_cstr(&b, "* SEARCH");
		struct imap_seqset_iter it = IMAP_SEQSET_ITER_INIT;
		uint32_t n;
		while (imap_seqset_iter_next(result, &it, &n)) {
			buf_printf(&b, " %u", n);
			if (b.len > 16 * 1024) {
				imap_session_write_buf(s, &b);
				buf_reset(&b);
			}
		}
		/* RFC 7162 3.1.5: the highest modseq of the matches. */
		if (sc->prog.uses_modseq && !empty)
			buf_printf(&b, " (MODSEQ %llu)", (unsigned long long)sc->max_modseq);
		buf_append_cstr(&b, "\r\n");
		imap_session_write_buf(s, &b);
	} else if (opts != IMAP_SEARCH_RETURN_SAVE) {
		/* RFC 5182 2.1: SAVE alone gives no ESEARCH response. */
		buf_append_cstr(&b, "* ESEARCH (TAG ");
		imap_append_string(&b, str_c(cmd->tag), 0);
		buf_append_char(&b, ')');
		if (cmd->uid)
			buf_append_cstr(&b, " UID");
		/* RFC 4731 3.1: MIN, MAX and ALL are left out when nothing
		 * matched; COUNT is 0. */
		if ((opts & IMAP_SEARCH_RETURN_MIN) && !empty)
			buf_printf(&b, " MIN %u", imap_seqset_min(result));
		if ((opts & IMAP_SEARCH_RETURN_MAX) && !empty)
			buf_printf(&b, " MAX %u", imap_seqset_max(result));
		if (opts & IMAP_SEARCH_RETURN_COUNT)
			buf_printf(&b, " COUNT %llu",
			           (unsigned long long)imap_seqset_count(result));
		if ((opts & IMAP_SEARCH_RETURN_ALL) && !empty) {
			buf_append_cstr(&b, " ALL ");
			imap_seqset_format(result, &b);
		}
		if (sc->prog.uses_modseq && !empty)
			buf_printf(&b, " MODSEQ %llu", (unsigned long long)sc->max_modseq);
		buf_append_cstr(&b, "\r\n");
		imap_session_write_buf(s, &b);
	}
	buf_free(&b);
	imap_cmd_ok(cmd, "%s completed", cmd->name);
}

static void search_free(struct search_ctx *sc)
{
	imap_search_program_free(&sc->prog);
	imap_seqset_clear(&sc->msns);
	imap_seqset_clear(&sc->uids);
	buf_free(&sc->text);
	buf_free(&sc->blob);
}

static void search_cleanup(struct imap_cmd *cmd)
{
	if (cmd->ctx != NULL)
		search_free(cmd->ctx);
	cmd->ctx = NULL;
}

static void search_finish(struct search_ctx *sc)
{
	if (sc->failed) {
		/* RFC 5182 2.1: a failed SEARCH ... SAVE leaves "$" empty. */
		if (sc->prog.return_opts & IMAP_SEARCH_RETURN_SAVE)
			save_result(sc->s, NULL);
		imap_cmd_no(sc->cmd, "[SERVERBUG] Search failed");
	} else {
		search_reply(sc);
	}
}

static void search_done(void *arg)
{
	struct search_ctx *sc = arg;
	struct imap_cmd *cmd = sc->cmd;
	if (!conn_is_closing(sc->s->conn))
		search_finish(sc);
	imap_cmd_complete(cmd);
}

/* True if the arguments start with RETURN (... SAVE ...). */
static bool wants_save(const struct imap_arg *args)
{
	const struct imap_arg *list;
	size_t count;
	if (!imap_arg_atom_equals(&args[0], "RETURN") ||
	    !imap_arg_get_list(&args[1], &list, &count))
		return false;
	for (size_t i = 0; i < count; i++)
		if (imap_arg_atom_equals(&list[i], "SAVE"))
			return true;
	return false;
}

int cmd_search(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct search_ctx *sc = pool_alloc(cmd->pool, sizeof(*sc));
	const char *err;
	bool badcharset;
	if (sc == NULL) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	sc->cmd = cmd;
	sc->s = s;
	sc->user = s->user;
	imap_seqset_init(&sc->msns);
	imap_seqset_init(&sc->uids);
	sc->text = BUF_INIT(0);
	sc->blob = BUF_INIT(0);
	if (imap_search_parse(cmd->pool, cmd->args, &sc->prog, &err, &badcharset) < 0) {
		if (wants_save(cmd->args))
			save_result(s, NULL);
		if (badcharset)
			imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] %s", err);
		else
			imap_cmd_bad(cmd, "%s", err);
		return 1;
	}
	cmd->ctx = sc;
	cmd->cleanup = search_cleanup;
	sc->count = imap_view_count(s);
	sc->now = (int64_t)time(NULL);
	sc->saved = s->view.saved_result;
	if (imap_search_program_resolve(&sc->prog, sc->count, imap_view_max_uid(s)) < 0) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	/* RFC 7162 3.1: a SEARCH with MODSEQ enables CONDSTORE. */
	if (sc->prog.uses_modseq)
		imap_session_enable_condstore(s);
	/* "$" is read while the program runs and replaced by SAVE only after
	 * it (RFC 5182 2.2: "$" refers to the result saved before). */
	if (sc->prog.cost == IMAP_SEARCH_COST_CHEAP || sc->count == 0) {
		search_run(sc);
		search_finish(sc);
		return 1;
	}
	/* The view does not change while the command runs (no input is
	 * parsed, no sync is done), so the pool thread may read it. */
	if (conn_run_async(s->conn, search_run, search_done, sc) < 0) {
		search_run(sc);
		search_finish(sc);
		return 1;
	}
	return 0;
}
