/* cmd-append.c - APPEND (RFC 9051 6.3.12) with UIDPLUS's APPENDUID (RFC
 * 4315), MULTIAPPEND (RFC 3502), BINARY's literal8 (RFC 3516 4.4) and
 * APPENDLIMIT (RFC 7889).
 *
 * A message is never held in memory. When the parser reaches a message
 * literal, imap_append_msg_literal() checks everything before it (mailbox,
 * flags, date, size) and either refuses at once - before a synchronizing
 * literal is sent at all - or opens a store blob; the session then streams
 * the literal's bytes into it (imap_append_stream_data). When the command
 * line is complete, cmd_append() commits all blobs in one transaction on
 * the thread pool (the store fsyncs), and only then answers OK. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap-commands.h"
#include "imap/imap-internal.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/pool.h"

/* Messages in one MULTIAPPEND. */
#define APPEND_MAX_MESSAGES 1000

struct imap_append_ctx {
	uint64_t mailbox_id;
	struct store_blob **blobs;
	struct store_append_req *reqs;
	unsigned count, cap;
	struct store_blob *cur;  /* being streamed */
	bool cur_binary;
	bool cur_has_nul;
	bool cur_failed;
	/* A refusal found while streaming, answered when the command line
	 * is complete. */
	const char *error_code;
	char error_text[200];
	/* after the commit */
	uint32_t uids[APPEND_MAX_MESSAGES];
	uint32_t uidvalidity;
	int result;
	enum store_error store_err;
};

void imap_append_abort(struct imap_session *s)
{
	conn_set_quickack(s->conn, false);
	struct imap_append_ctx *a = s->append;
	if (a == NULL)
		return;
	store_blob_abort(&a->cur);
	for (unsigned i = 0; i < a->count; i++)
		store_blob_abort(&a->blobs[i]);
	free(a->blobs);
	free(a->reqs);
	free(a);
	s->append = NULL;
	s->stream_left = 0;
}

static const char *const months[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* proleptic Gregorian, days since 1970-01-01 */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *p, size_t n, unsigned *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		*v = *v * 10 + (unsigned)(p[i] - '0');
	}
	return true;
}

/* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time
 * SP zone DQUOTE (RFC 9051 9), e.g. " 7-Feb-1994 21:52:25 -0800". */
static int parse_date_time(struct str s, int64_t *t_r, int16_t *tz_r)
{
	char d[40];
	if (s.len != 26 && s.len != 25)
		return -1;
	str_copy_cstr(s, d, sizeof(d));
	const char *p = d;
	unsigned day, year, hh, mm, ss, zh, zm;
	if (s.len == 26) {
		if (p[0] == ' ') {
			if (!digits(p + 1, 1, &day))
				return -1;
		} else if (!digits(p, 2, &day)) {
			return -1;
		}
		p += 2;
	} else {
		if (!digits(p, 1, &day))
			return -1;
		p += 1;
	}
	if (p[0] != '-' || p[4] != '-' || p[9] != ' ' || p[12] != ':' || p[15] != ':' ||
	    p[18] != ' ' || (p[19] != '+' && p[19] != '-'))
		return -1;
	int mon = -1;
	for (int i = 0; i < 12; i++)
		if (strncasecmp(p + 1, months[i], 3) == 0)
			mon = i;
	if (mon < 0 || !digits(p + 5, 4, &year) || !digits(p + 10, 2, &hh) ||
	    !digits(p + 13, 2, &mm) || !digits(p + 16, 2, &ss) || !digits(p + 20, 2, &zh) ||
	    !digits(p + 22, 2, &zm))
		return -1;
	if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || zh > 23 || zm > 59 ||
	    year < 1900)
		return -1;
	int tz = (int)(zh * 60 + zm) * (p[19] == '-' ? -1 : 1);
	int64_t t = days_from_civil(year, (unsigned)mon + 1, day) * 86400 + hh * 3600 + mm * 60 +
		    ss;
	*t_r = t - (int64_t)tz * 60;
	*tz_r = (int16_t)tz;
	return 1;
}

/* [flag-list] [date-time] before a message literal, from args[from..to). */
static int parse_msg_params(struct imap_session *s, struct pool *pool, const struct imap_arg *args,
			    size_t from, size_t to, struct store_append_req *req,
			    const char **error_r)
{
	size_t i = from;
	memset(req, 0, sizeof(*req));
	const struct imap_arg *flags;
	size_t nflags;
	if (i < to && imap_arg_get_list(&args[i], &flags, &nflags)) {
		struct buf kw = BUF_INIT(4096);
		for (size_t k = 0; k < nflags; k++) {
			struct str f;
			if (!imap_arg_get_atom(&flags[k], &f)) {
				buf_free(&kw);
				*error_r = "Invalid flag";
				return -1;
			}
			if (str_eq_cstr_nocase(f, "\\Seen")) {
				req->flags |= STORE_FLAG_SEEN;
			} else if (str_eq_cstr_nocase(f, "\\Answered")) {
				req->flags |= STORE_FLAG_ANSWERED;
			} else if (str_eq_cstr_nocase(f, "\\Flagged")) {
				req->flags |= STORE_FLAG_FLAGGED;
			} else if (str_eq_cstr_nocase(f, "\\Deleted")) {
				req->flags |= STORE_FLAG_DELETED;
			} else if (str_eq_cstr_nocase(f, "\\Draft")) {
				req->flags |= STORE_FLAG_DRAFT;
			} else if (f.len > 0 && f.p[0] == '\\') {
				buf_free(&kw);
				*error_r = "Unknown system flag";
				return -1;
			} else if (!store_keyword_valid(f.p, f.len)) {
				buf_free(&kw);
				*error_r = "Invalid keyword";
				return -1;
			} else {
				if ((kw.len > 0 && buf_append_char(&kw, ' ') < 0) ||
				    buf_append_str(&kw, f) < 0) {
					buf_free(&kw);
					*error_r = "Too many keywords";
					return -1;
				}
			}
		}
		if (kw.len > 0)
			req->keywords = pool_strndup(pool, buf_cstr(&kw), kw.len);
		buf_free(&kw);
		i++;
	}
	struct str date;
	if (i < to && imap_arg_get_string(&args[i], &date)) {
		if (parse_date_time(date, &req->internal_date, &req->tz_minutes) < 0) {
			*error_r = "Invalid date-time";
			return -1;
		}
		i++;
	}
	if (i != to) {
		*error_r = "Invalid APPEND arguments";
		return -1;
	}
	(void)s;
	return 1;
}

/* A finished message argument: a streamed literal, or RFC 6855's
 * "UTF8 (literal8)" list around one. */
static bool is_message_arg(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_LITERAL_STREAMED ||
	       (a->type == IMAP_ARG_LIST && a->list_count == 1 &&
		a->list[0].type == IMAP_ARG_LITERAL_STREAMED);
}

/* Refuses the message literal now: the tagged answer goes out at once,
 * and the parser drops the rest of the command. */
static void refuse(struct imap_session *s, const char *word, const char *text)
{
	imap_parser_literal_reject(&s->parser);
	imap_session_printf(s, "%s %s %s\r\n", imap_parser_tag(&s->parser), word, text);
	imap_append_abort(s);
	imap_parser_next(&s->parser);
	pool_clear(s->cmd_pool);
}

void imap_append_msg_literal(struct imap_session *s)
{
	const struct imap_parser_literal *lit = imap_parser_literal(&s->parser);
	const struct imap_arg *args = imap_parser_partial_args(&s->parser);
	struct imap_append_ctx *a = s->append;
	char text[300];

	if (args == NULL) {
		refuse(s, "NO", "[SERVERBUG] Out of memory");
		return;
	}
	if (s->state == IMAP_STATE_NOAUTH) {
		refuse(s, "BAD", "Log in first");
		return;
	}
	/* RFC 7888 5 / IMAP4rev2: non-synchronizing literals over 4096
	 * bytes are refused with [TOOBIG]. */
	if (!lit->sync && imap_session_rev2(s) && lit->size > 4096) {
		refuse(s, "BAD", "[TOOBIG] Non-synchronizing literal over 4096 bytes");
		return;
	}
	if (lit->size > roost_config->imap_append_limit || lit->size > STORE_MESSAGE_MAX) {
		snprintf(text, sizeof(text), "[TOOBIG] Message larger than the limit of %llu bytes",
			 (unsigned long long)roost_config->imap_append_limit);
		refuse(s, lit->sync ? "NO" : "BAD", text);
		return;
	}
	if (lit->size == 0) {
		refuse(s, "NO", "Cannot store an empty message");
		return;
	}
	if (a == NULL) {
		/* The first message: find the mailbox before any data. */
		struct str wire;
		const char *name, *err;
		if (!imap_arg_get_astring(&args[0], &wire)) {
			refuse(s, "BAD", "APPEND needs a mailbox name");
			return;
		}
		if (imap_session_mailbox_from_wire(s, wire, s->cmd_pool, &name, &err) < 0) {
			snprintf(text, sizeof(text), "[CANNOT] %s", err);
			refuse(s, "NO", text);
			return;
		}
		char *name_buf = pool_alloc(s->cmd_pool, STORE_MAILBOX_NAME_MAX + 1);
		struct store_mailbox_info info;
		int r = name_buf == NULL ? -1 : store_mailbox_lookup(s->user, name, &info, name_buf);
		if (r == 0 || (r > 0 && (info.attrs & STORE_MBOX_NOSELECT))) {
			/* RFC 9051 6.3.12: TRYCREATE tells the client it
			 * could create the mailbox and try again. */
			refuse(s, "NO", "[TRYCREATE] No such mailbox");
			return;
		}
		if (r < 0) {
			const char *msg;
			enum store_error e = store_error(&msg);
			snprintf(text, sizeof(text), "[%s] %s", store_error_imap_code(e), msg);
			refuse(s, "NO", text);
			return;
		}
		a = calloc(1, sizeof(*a));
		if (a == NULL) {
			refuse(s, "NO", "[SERVERBUG] Out of memory");
			return;
		}
		a->mailbox_id = info.id;
		s->append = a;
	}
	if (a->count >= APPEND_MAX_MESSAGES) {
		refuse(s, "NO", "[LIMIT] Too many messages in one APPEND");
		return;
	}
	/* The parameters of this message start after the previous one. */
	size_t n = imap_args_count(args), from = 1;
	for (size_t i = 0; i < n; i++)
		if (is_message_arg(&args[i]))
			from = i + 1;
	if (lit->depth == 1) {
		/* RFC 6855 4: utf8-literal = "UTF8" SP "(" literal8 ")"; the
		 * list being read is the last argument so far. */
		if (n < 2 || !imap_arg_atom_equals(&args[n - 2], "UTF8") || !lit->literal8 ||
		    n - 2 < from) {
			refuse(s, "BAD", "A literal in an APPEND list must be UTF8 (~{n})");
			return;
		}
		n -= 2;
	}
	struct store_append_req req;
	const char *err;
	if (parse_msg_params(s, s->cmd_pool, args, from, n, &req, &err) < 0) {
		refuse(s, "BAD", err);
		return;
	}
	if (a->count == a->cap) {
		unsigned cap = a->cap ? a->cap * 2 : 1;
		struct store_blob **nb = realloc(a->blobs, cap * sizeof(*nb));
		if (nb != NULL)
			a->blobs = nb;
		struct store_append_req *nr = nb ? realloc(a->reqs, cap * sizeof(*nr)) : NULL;
		if (nr == NULL) {
			refuse(s, "NO", "[SERVERBUG] Out of memory");
			return;
		}
		a->reqs = nr;
		a->cap = cap;
	}
	if (store_blob_begin(s->user, true, &a->cur) < 0) {
		const char *msg;
		enum store_error e = store_error(&msg);
		snprintf(text, sizeof(text), "[%s] %s", store_error_imap_code(e), msg);
		refuse(s, "NO", text);
		return;
	}
	a->reqs[a->count] = req;
	a->cur_binary = lit->literal8;
	a->cur_has_nul = false;
	a->cur_failed = false;
	if (lit->sync)
		imap_session_write_cstr(s, "+ Ready for literal data\r\n");
	imap_parser_literal_stream(&s->parser);
	s->stream_left = lit->size;
	/* The client waits for nothing until the command's final CRLF, which
	 * it may send in a small write of its own: see conn_set_quickack. */
	conn_set_quickack(s->conn, true);
}

void imap_append_stream_data(struct imap_session *s, const void *data, size_t len, bool last)
{
	struct imap_append_ctx *a = s->append;
	if (a != NULL && a->cur != NULL && !a->cur_failed) {
		/* RFC 3516 4.4: only literal8 may carry NUL octets. */
		if (!a->cur_binary && memchr(data, '\0', len) != NULL)
			a->cur_has_nul = true;
		if (store_blob_write(a->cur, data, len) < 0) {
			const char *msg;
			enum store_error e = store_error(&msg);
			a->cur_failed = true;
			if (a->error_code == NULL) {
				a->error_code = store_error_imap_code(e);
				snprintf(a->error_text, sizeof(a->error_text), "%s", msg);
			}
		}
	}
	if (!last)
		return;
	imap_parser_literal_streamed(&s->parser);
	if (a == NULL)
		return;
	if (a->cur_has_nul && a->error_code == NULL) {
		a->error_code = "CLIENTBUG";
		snprintf(a->error_text, sizeof(a->error_text),
			 "NUL octets need a literal8 (~{n}) with BINARY");
	}
	if (a->cur_failed || a->cur_has_nul) {
		store_blob_abort(&a->cur);
		return;
	}
	a->blobs[a->count++] = a->cur;
	a->cur = NULL;
}

/* --- the commit, on the thread pool --- */

struct append_job {
	struct imap_cmd *cmd;
	struct store_user *user;
	struct imap_append_ctx *a;
	char err[200];
	const char *code;
};

static void append_work(void *arg)
{
	struct append_job *job = arg;
	struct imap_append_ctx *a = job->a;
	if (a->count == 1)
		a->result = store_append(job->user, a->mailbox_id, &a->blobs[0], &a->reqs[0],
					 &a->uids[0], &a->uidvalidity);
	else
		a->result = store_append_multi(job->user, a->mailbox_id, a->blobs, a->reqs,
					       a->count, a->uids, &a->uidvalidity);
	/* the store consumed every blob, whatever the outcome */
	for (unsigned i = 0; i < a->count; i++)
		a->blobs[i] = NULL;
	if (a->result < 0) {
		const char *msg;
		a->store_err = store_error(&msg);
		snprintf(job->err, sizeof(job->err), "%s", msg);
		job->code = store_error_imap_code(a->store_err);
	}
}

static void append_done(void *arg)
{
	struct append_job *job = arg;
	struct imap_cmd *cmd = job->cmd;
	struct imap_append_ctx *a = job->a;
	if (a->result < 0) {
		if (a->store_err == STORE_ERR_NONEXISTENT)
			imap_cmd_no(cmd, "[TRYCREATE] %s", job->err);
		else
			imap_cmd_no(cmd, "[%s] %s", job->code, job->err);
	} else {
		/* RFC 4315 3: [APPENDUID uidvalidity uid-set] */
		struct buf b = BUF_INIT(0);
		buf_printf(&b, "[APPENDUID %u ", a->uidvalidity);
		for (unsigned i = 0; i < a->count; i++) {
			unsigned j = i;
			while (j + 1 < a->count && a->uids[j + 1] == a->uids[j] + 1)
				j++;
			if (i > 0)
				buf_append_char(&b, ',');
			if (j > i)
				buf_printf(&b, "%u:%u", a->uids[i], a->uids[j]);
			else
				buf_printf(&b, "%u", a->uids[i]);
			i = j;
		}
		buf_append_cstr(&b, "] APPEND completed");
		imap_cmd_ok(cmd, "%s", buf_cstr(&b));
		buf_free(&b);
	}
	imap_append_abort(cmd->session);
	imap_cmd_complete(cmd);
}

int cmd_append(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct imap_append_ctx *a = s->append;
	size_t streamed = 0;
	for (const struct imap_arg *x = cmd->args; x->type != IMAP_ARG_EOL; x++)
		if (is_message_arg(x))
			streamed++;

	if (a == NULL || streamed == 0) {
		imap_append_abort(s);
		imap_cmd_bad(cmd, "APPEND needs a mailbox and a message literal");
		return 1;
	}
	/* Nothing may follow the last message. */
	size_t n = imap_args_count(cmd->args);
	if (!is_message_arg(&cmd->args[n - 1])) {
		imap_append_abort(s);
		imap_cmd_bad(cmd, "Unexpected arguments after the message");
		return 1;
	}
	if (a->error_code != NULL) {
		imap_cmd_no(cmd, "[%s] %s", a->error_code, a->error_text);
		imap_append_abort(s);
		return 1;
	}
	if (a->count != streamed) {
		imap_append_abort(s);
		imap_cmd_no(cmd, "[SERVERBUG] Message count mismatch");
		return 1;
	}
	struct append_job *job = pool_alloc(cmd->pool, sizeof(*job));
	if (job == NULL) {
		imap_append_abort(s);
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	job->cmd = cmd;
	job->user = s->user;
	job->a = a;
	conn_set_quickack(s->conn, false);
	if (conn_run_async(s->conn, append_work, append_done, job) < 0) {
		imap_append_abort(s);
		imap_cmd_no(cmd, "[UNAVAILABLE] Server busy; try again");
		return 1;
	}
	return 0;
}
