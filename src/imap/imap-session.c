/* imap-session.c - session life cycle, input loop, command dispatch and
 * response helpers; see imap-session.h.
 *
 * The input loop. Bytes are taken from the connection in chunks of at most
 * IMAP_READ_CHUNK into s->inbuf and handed, in this order of priority, to
 *   1. a streamed APPEND literal (s->stream_left bytes go to the blob),
 *   2. a line consumer (AUTHENTICATE responses, IDLE's DONE),
 *   3. the command parser.
 * Whatever the consumer leaves stays in inbuf for later, so pipelined
 * commands behind a long-running one keep their order. inbuf is freed
 * whenever it runs empty, so an idle session holds no input buffer. */
#include "imap/imap-session.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-commands.h"
#include "imap/imap-internal.h"
#include "imap/imap-utf7.h"
#include "imap/imap.h"
#include "lib/config.h"
#include "lib/imap-quote.h"
#include "lib/log.h"
#include "lib/pool.h"

#define IMAP_READ_CHUNK 4096
/* Longest client line outside the command parser (a SASL response, DONE). */
#define IMAP_MAX_SASL_LINE 16384
#define IMAP_MAX_IDLE_LINE 1024

static void process_input(struct imap_session *s);
static void process_input_loop(struct imap_session *s);

/* --- output --- */

void imap_session_write(struct imap_session *s, const void *data, size_t len)
{
	conn_write(s->conn, data, len);
}

void imap_session_write_cstr(struct imap_session *s, const char *text)
{
	conn_write_cstr(s->conn, text);
}

void imap_session_write_buf(struct imap_session *s, const struct buf *b)
{
	conn_write(s->conn, buf_cstr(b), b->len);
}

void imap_session_printf(struct imap_session *s, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		conn_write(s->conn, small, (size_t)n);
		return;
	}
	struct buf b = BUF_INIT(0);
	va_start(ap, fmt);
	int r = buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (r > 0)
		conn_write(s->conn, buf_cstr(&b), b.len);
	buf_free(&b);
}

bool imap_session_rev2(const struct imap_session *s)
{
	return (s->enabled & IMAP_ENABLED_IMAP4REV2) != 0;
}

bool imap_session_utf8(const struct imap_session *s)
{
	return (s->enabled & (IMAP_ENABLED_IMAP4REV2 | IMAP_ENABLED_UTF8)) != 0;
}

unsigned imap_session_quote_flags(const struct imap_session *s)
{
	return imap_session_utf8(s) ? IMAP_QUOTE_UTF8 : 0;
}

bool imap_session_condstore(const struct imap_session *s)
{
	return (s->enabled & (IMAP_ENABLED_CONDSTORE | IMAP_ENABLED_QRESYNC)) != 0;
}

void imap_session_enable_condstore(struct imap_session *s)
{
	s->enabled |= IMAP_ENABLED_CONDSTORE;
}

/* --- capabilities --- */

void imap_session_capabilities(const struct imap_session *s, struct buf *out)
{
	bool tls = conn_is_tls(s->conn);
	buf_append_cstr(out, "IMAP4rev2 IMAP4rev1");
	if (s->state == IMAP_STATE_NOAUTH) {
		bool plaintext = imap_plaintext_allowed(s);
		if (!tls && conn_tls_available(s->conn))
			buf_append_cstr(out, " STARTTLS");
		if (!plaintext)
			buf_append_cstr(out, " LOGINDISABLED");
		imap_append_auth_capabilities(s, out);
		buf_append_cstr(out, " SASL-IR");
	}
	buf_append_cstr(out, " ID ENABLE IDLE LITERAL+ NAMESPACE UNSELECT");
	if (!conn_is_compressed(s->conn))
		buf_append_cstr(out, " COMPRESS=DEFLATE");
	imap_append_feature_capabilities(s, out);
}

/* --- tagged results --- */

void imap_cmd_reply(struct imap_cmd *cmd, enum imap_reply reply, const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT(8192);
	if (buf_vprintf(&b, fmt, ap) < 0)
		buf_append_cstr(&b, "Response too long");
	cmd->reply = reply;
	cmd->reply_text = pool_strndup(cmd->pool, buf_cstr(&b), b.len);
	buf_free(&b);
}

void imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	imap_cmd_reply(cmd, IMAP_REPLY_OK, fmt, ap);
	va_end(ap);
}

void imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	imap_cmd_reply(cmd, IMAP_REPLY_NO, fmt, ap);
	va_end(ap);
}

void imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	imap_cmd_reply(cmd, IMAP_REPLY_BAD, fmt, ap);
	va_end(ap);
}

void imap_cmd_no_store_error(struct imap_cmd *cmd)
{
	const char *msg;
	enum store_error err = store_error(&msg);
	const char *code = store_error_imap_code(err);
	if (msg == NULL || msg[0] == '\0')
		msg = "Internal error";
	if (code != NULL && code[0] != '\0')
		imap_cmd_no(cmd, "[%s] %s", code, msg);
	else
		imap_cmd_no(cmd, "%s", msg);
}

static void write_tagged(struct imap_session *s, const char *tag, enum imap_reply reply,
			 const char *text)
{
	const char *word = reply == IMAP_REPLY_OK ? "OK" : reply == IMAP_REPLY_NO ? "NO" : "BAD";
	imap_session_printf(s, "%s %s %s\r\n", tag, word, text);
}

/* --- command dispatch --- */

/* Ends the current command: announce changes, send the tagged line, do
 * what must happen after it (TLS, compression, logout), free its data. */
static void finish_command(struct imap_session *s)
{
	struct imap_cmd *cmd = s->cmd;

	if (s->state == IMAP_STATE_SELECTED && !conn_is_closing(s->conn)) {
		if (imap_view_sync(s, !cmd->no_expunge) < 0)
			imap_session_mailbox_gone(s);
	}
	if (cmd->reply == IMAP_REPLY_NONE)
		imap_cmd_ok(cmd, "%s completed", cmd->name);
	write_tagged(s, cmd->tag, cmd->reply, cmd->reply_text);
	if (cmd->cleanup != NULL)
		cmd->cleanup(cmd);

	if (s->starttls_pending) {
		s->starttls_pending = false;
		if (conn_starttls(s->conn) < 0) {
			conn_close(s->conn, "starttls failed");
		} else {
			/* RFC 9051 6.2.1 / RFC 2595 3.1: anything the client
			 * sent before the handshake is discarded. */
			buf_free(&s->inbuf);
			imap_parser_reset(&s->parser);
		}
	}
	if (s->compress_pending) {
		s->compress_pending = false;
		if (conn_compress(s->conn) < 0)
			conn_close(s->conn, "compress failed");
	}
	if (s->state == IMAP_STATE_LOGOUT)
		conn_close(s->conn, "logout");
	if (s->disconnect_after_reply) {
		imap_session_write_cstr(s, "* BYE Too many failed login attempts\r\n");
		conn_close(s->conn, "auth failures");
	}

	s->cmd = NULL;
	imap_parser_next(&s->parser);
	pool_clear(s->cmd_pool);
}

void imap_cmd_complete(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	finish_command(s);
	if (s->input_suspended) {
		s->input_suspended = false;
		conn_input_resume(s->conn);
	}
	process_input(s);
}

/* See imap-internal.h: input stops while a command continues. */
void imap_session_suspend_input(struct imap_session *s)
{
	if (!s->input_suspended) {
		s->input_suspended = true;
		conn_input_suspend(s->conn);
	}
}

void imap_session_resume_input(struct imap_session *s)
{
	if (s->input_suspended) {
		s->input_suspended = false;
		conn_input_resume(s->conn);
	}
	/* Bytes already in inbuf do not make the conn call input() again. */
	if (s->inbuf.len > 0)
		process_input(s);
}

/* "<tag> BAD [code] text", or "* BAD ..." when the tag could not be read. */
static void reply_bad(struct imap_session *s, const char *tag, const char *code,
		      const char *text)
{
	const char *t = tag != NULL && tag[0] != '\0' ? tag : "*";
	if (code != NULL)
		imap_session_printf(s, "%s BAD [%s] %s\r\n", t, code, text);
	else
		imap_session_printf(s, "%s BAD %s\r\n", t, text);
}

static void dispatch(struct imap_session *s)
{
	const char *tag = imap_parser_tag(&s->parser);
	const char *name = imap_parser_command(&s->parser);
	const struct imap_arg *args = imap_parser_args(&s->parser);
	bool uid = false;
	char full[IMAP_PARSER_MAX_COMMAND * 2 + 2];

	if (strcmp(name, "UID") == 0) {
		struct str sub;
		if (!imap_arg_get_atom(&args[0], &sub) || sub.len == 0 ||
		    sub.len > IMAP_PARSER_MAX_COMMAND) {
			reply_bad(s, tag, NULL, "UID needs a command");
			goto done;
		}
		size_t n = (size_t)snprintf(full, sizeof(full), "UID %.*s", (int)sub.len, sub.p);
		for (size_t i = 4; i < n; i++)
			if (full[i] >= 'a' && full[i] <= 'z')
				full[i] = (char)(full[i] - 'a' + 'A');
		name = full;
		args++;
		uid = true;
	}
	const struct imap_command *def = imap_command_find(name);
	if (def == NULL) {
		reply_bad(s, tag, NULL, "Unknown command");
		goto done;
	}
	unsigned need = s->state == IMAP_STATE_NOAUTH ? IMAP_CMD_NOAUTH
			: s->state == IMAP_STATE_AUTH ? IMAP_CMD_AUTH
						       : IMAP_CMD_SELECTED;
	if ((def->flags & need) == 0) {
		const char *why = s->state == IMAP_STATE_NOAUTH ? "Log in first"
				  : (def->flags & IMAP_CMD_SELECTED) != 0 &&
						  (def->flags & IMAP_CMD_AUTH) == 0
					  ? "No mailbox selected"
					  : "Already logged in";
		if (s->state == IMAP_STATE_SELECTED && (def->flags & IMAP_CMD_NOAUTH) != 0)
			why = "Already logged in";
		reply_bad(s, tag, NULL, why);
		goto done;
	}

	struct imap_cmd *cmd = pool_alloc(s->cmd_pool, sizeof(*cmd));
	if (cmd == NULL) {
		reply_bad(s, tag, "SERVERBUG", "Out of memory");
		goto done;
	}
	cmd->session = s;
	cmd->def = def;
	cmd->tag = pool_strdup(s->cmd_pool, tag);
	cmd->name = pool_strdup(s->cmd_pool, name);
	cmd->uid = uid;
	cmd->args = args;
	cmd->pool = s->cmd_pool;
	cmd->no_expunge = (def->flags & IMAP_CMD_USES_MSN) != 0;
	if (cmd->tag == NULL || cmd->name == NULL) {
		reply_bad(s, tag, "SERVERBUG", "Out of memory");
		goto done;
	}
	s->cmd = cmd;
	if (def->func(cmd) == 1)
		finish_command(s);
	else if (!s->idling && !s->sasl_waiting)
		imap_session_suspend_input(s);
	return;
done:
	if (s->append != NULL)
		imap_append_abort(s);
	imap_parser_next(&s->parser);
	pool_clear(s->cmd_pool);
}

static void parse_error(struct imap_session *s)
{
	const char *tag = imap_parser_tag(&s->parser);
	const char *code = imap_parser_error_toobig(&s->parser)	 ? "TOOBIG"
			   : imap_parser_error_limit(&s->parser) ? "LIMIT"
								 : "CLIENTBUG";
	if (strcmp(code, "CLIENTBUG") == 0)
		code = NULL;
	reply_bad(s, tag, code, imap_parser_error(&s->parser));
	if (s->append != NULL)
		imap_append_abort(s);
	imap_parser_next(&s->parser);
	pool_clear(s->cmd_pool);
}

/* The parser stopped at a literal header: decide about it. */
static void literal_header(struct imap_session *s)
{
	const struct imap_parser_literal *lit = imap_parser_literal(&s->parser);
	const char *name = imap_parser_command(&s->parser);
	const char *tag = imap_parser_tag(&s->parser);

	/* APPEND's message literals are streamed to the store: at the top
	 * level after the mailbox, or as the only element of a list
	 * (RFC 6855 4: UTF8 (~{n}...)). A literal inside an atom's section
	 * is part of that atom, never a message. */
	if (strcmp(name, "APPEND") == 0 && !lit->in_atom &&
	    ((lit->depth == 0 && lit->arg_index >= 1) ||
	     (lit->depth == 1 && lit->arg_index == 0))) {
		imap_append_msg_literal(s);
		return;
	}
	if (lit->literal8) {
		imap_parser_literal_reject(&s->parser);
		reply_bad(s, tag, NULL, "literal8 is only allowed for APPEND data");
		goto rejected;
	}
	/* RFC 7888 5 (LITERAL-, part of IMAP4rev2): a non-synchronizing
	 * literal over 4096 bytes is refused with [TOOBIG]. */
	if (!lit->sync && imap_session_rev2(s) && lit->size > 4096) {
		imap_parser_literal_reject(&s->parser);
		reply_bad(s, tag, "TOOBIG", "Non-synchronizing literal over 4096 bytes");
		goto rejected;
	}
	/* imap.max_literal_preauth before login, imap.max_line after
	 * (imap_session_logged_in_limits). */
	uint64_t limit = s->parser.limits.max_literal_collect;
	if (s->parser.collected + lit->size > limit) {
		imap_parser_literal_reject(&s->parser);
		reply_bad(s, tag, "TOOBIG", "Literal too large");
		goto rejected;
	}
	if (lit->sync)
		imap_session_write_cstr(s, "+ Ready for literal data\r\n");
	imap_parser_literal_collect(&s->parser);
	if (s->parser.error != NULL) {
		/* collection failed (out of memory) */
		reply_bad(s, tag, "LIMIT", s->parser.error);
		goto rejected;
	}
	return;
rejected:
	imap_parser_next(&s->parser);
	pool_clear(s->cmd_pool);
}

/* Takes one LF-terminated line out of inbuf for a line consumer. Returns
 * 1 with the line (CRLF removed) copied into the command pool, 0 if no
 * complete line is buffered, -1 if the line is too long (the connection
 * is closed: a client that sends a runaway SASL line is broken). */
static int take_line(struct imap_session *s, size_t max, struct str *line_r)
{
	const char *lf = s->inbuf.len > 0 ? memchr(s->inbuf.data, '\n', s->inbuf.len) : NULL;
	if (lf == NULL)
		return s->inbuf.len > max ? -1 : 0;
	size_t n = (size_t)(lf - s->inbuf.data);
	if (n > max)
		return -1;
	size_t len = n > 0 && s->inbuf.data[n - 1] == '\r' ? n - 1 : n;
	char *copy = pool_strndup(s->cmd_pool, s->inbuf.data, len);
	buf_consume(&s->inbuf, n + 1);
	if (copy == NULL)
		return -1;
	*line_r = str_make(copy, len);
	return 1;
}

/* Reads more bytes from the connection into inbuf. Returns the count. */
static size_t fill_inbuf(struct imap_session *s)
{
	if (buf_reserve(&s->inbuf, IMAP_READ_CHUNK) < 0)
		return 0;
	size_t n = conn_read(s->conn, s->inbuf.data + s->inbuf.len, IMAP_READ_CHUNK);
	if (n == 0 && s->inbuf.len == 0) {
		/* Nothing came (the usual end of a read, and every wait in
		 * IDLE): an idle session keeps no input buffer. */
		buf_free(&s->inbuf);
		return 0;
	}
	s->inbuf.len += n;
	s->inbuf.data[s->inbuf.len] = '\0';
	return n;
}

static void process_input(struct imap_session *s)
{
	/* Handlers end commands (IDLE's DONE, a cancelled AUTHENTICATE) from
	 * inside this loop and call back into it; the outer loop goes on by
	 * itself, and not recursing keeps a long pipeline of such commands
	 * from growing the stack. */
	if (s->in_input_loop)
		return;
	s->in_input_loop = true;
	process_input_loop(s);
	s->in_input_loop = false;
}

static void process_input_loop(struct imap_session *s)
{
	while (!conn_is_closing(s->conn) && (s->cmd == NULL || s->sasl_waiting || s->idling) &&
	       s->delay_timer == NULL && !imap_view_loading(s)) {
		if (s->inbuf.len == 0) {
			buf_free(&s->inbuf);
			/* Do not take new work while the client is not
			 * reading our responses (output_drained resumes). */
			if (conn_output_full(s->conn))
				return;
			if (fill_inbuf(s) == 0)
				return;
		}
		if (s->stream_left > 0) {
			size_t n = s->inbuf.len < s->stream_left ? s->inbuf.len : (size_t)s->stream_left;
			s->stream_left -= n;
			imap_append_stream_data(s, s->inbuf.data, n, s->stream_left == 0);
			buf_consume(&s->inbuf, n);
			continue;
		}
		if (s->sasl_waiting || s->idling) {
			struct str line;
			size_t max = s->idling ? IMAP_MAX_IDLE_LINE : IMAP_MAX_SASL_LINE;
			int r = take_line(s, max, &line);
			if (r < 0) {
				imap_session_write_cstr(s, "* BYE Line too long\r\n");
				conn_close(s->conn, "line too long");
				return;
			}
			if (r == 0) {
				if (fill_inbuf(s) == 0)
					return;
				continue;
			}
			if (s->idling)
				imap_idle_line(s, line);
			else
				imap_authenticate_line(s, line);
			continue;
		}
		if (conn_output_full(s->conn))
			return;
		size_t consumed = 0;
		enum imap_parse_result r =
			imap_parser_feed(&s->parser, s->inbuf.data, s->inbuf.len, &consumed);
		buf_consume(&s->inbuf, consumed);
		switch (r) {
		case IMAP_PARSE_MORE:
			/* everything was consumed; the loop reads more */
			break;
		case IMAP_PARSE_DONE:
			dispatch(s);
			break;
		case IMAP_PARSE_ERROR:
			parse_error(s);
			break;
		case IMAP_PARSE_LITERAL:
			literal_header(s);
			break;
		}
	}
}

/* --- mailbox names --- */

int imap_session_mailbox_from_wire(struct imap_session *s, struct str wire, struct pool *pool,
				   const char **name_r, const char **error_r)
{
	struct buf b = BUF_INIT(STORE_MAILBOX_NAME_MAX * 4 + 16);
	int r;
	if (wire.len > STORE_MAILBOX_NAME_MAX * 4) {
		*error_r = "Mailbox name too long";
		return -1;
	}
	if (imap_session_utf8(s))
		r = imap_utf8_validate(wire) ? buf_append_str(&b, wire) : -1;
	else
		r = mutf7_decode(wire, 0, &b);
	if (r < 0) {
		buf_free(&b);
		*error_r = imap_session_utf8(s) ? "Mailbox name is not valid UTF-8"
						: "Mailbox name is not valid modified UTF-7";
		return -1;
	}
	/* "INBOX" is case-insensitive, also as the first component. */
	struct str n = buf_str(&b);
	if (n.len >= 5 && str_has_prefix_nocase(n, "INBOX") && (n.len == 5 || n.p[5] == '/'))
		memcpy(b.data, "INBOX", 5);
	char *name = pool_strndup(pool, buf_cstr(&b), b.len);
	buf_free(&b);
	if (name == NULL) {
		*error_r = "Out of memory";
		return -1;
	}
	*name_r = name;
	return 1;
}

int imap_session_mailbox_to_wire(const struct imap_session *s, const char *name, struct buf *out)
{
	if (imap_session_utf8(s))
		return imap_append_astring(out, str_c(name), IMAP_QUOTE_UTF8);
	struct buf b = BUF_INIT(STORE_MAILBOX_NAME_MAX * 8 + 16);
	int r = mutf7_encode(str_c(name), &b);
	if (r > 0)
		r = imap_append_astring(out, buf_str(&b), 0);
	buf_free(&b);
	return r;
}

/* --- proto_ops --- */

static void wakeup_cb(void *ctx)
{
	struct imap_session *s = ctx;
	imap_session_changed(s);
}

static void *imap_open(struct conn *c)
{
	struct imap_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->conn = c;
	s->state = IMAP_STATE_NOAUTH;
	s->cmd_pool = pool_new(1024);
	struct imap_parser_limits lim = {
		.max_line = roost_config->imap_max_line,
		.max_literal_collect = roost_config->imap_max_literal_preauth,
	};
	buf_init(&s->inbuf, CONN_INPUT_HIGH);
	s->wakeup = conn_wakeup_new(c, wakeup_cb);
	if (s->cmd_pool == NULL || s->wakeup == NULL ||
	    imap_parser_init(&s->parser, s->cmd_pool, &lim) < 0) {
		imap_parser_deinit(&s->parser);
		conn_wakeup_free(&s->wakeup);
		pool_free(&s->cmd_pool);
		free(s);
		return NULL;
	}
	conn_set_idle_timeout(c, roost_config->preauth_timeout);

	struct buf b = BUF_INIT(4096);
	imap_session_capabilities(s, &b);
	imap_session_printf(s, "* OK [CAPABILITY %s] Roost ready.\r\n", buf_cstr(&b));
	buf_free(&b);
	return s;
}

static void imap_input(void *ctx)
{
	struct imap_session *s = ctx;
	process_input(s);
}

static void imap_output_drained(void *ctx)
{
	struct imap_session *s = ctx;
	if (s->cmd != NULL && s->cmd->resume != NULL) {
		if (s->cmd->resume(s->cmd) == 1)
			imap_cmd_complete(s->cmd);
		return;
	}
	/* Input waits while output is full; a command waiting for a client
	 * line (IDLE, AUTHENTICATE) or the next command may now be read. */
	process_input(s);
}

static void imap_shutdown(void *ctx)
{
	struct imap_session *s = ctx;
	imap_session_write_cstr(s, "* BYE Server shutting down.\r\n");
}

static void imap_timeout(void *ctx)
{
	struct imap_session *s = ctx;
	imap_session_write_cstr(s, "* BYE Disconnected for inactivity.\r\n");
}

static void imap_close(void *ctx, const char *reason)
{
	struct imap_session *s = ctx;
	if (s->cmd != NULL && s->cmd->cleanup != NULL)
		s->cmd->cleanup(s->cmd);
	s->cmd = NULL;
	imap_idle_stop(s);
	if (s->append != NULL)
		imap_append_abort(s);
	imap_auth_cleanup(s);
	imap_view_close(s);
	conn_wakeup_free(&s->wakeup);
	imap_session_logout_user(s);
	imap_parser_deinit(&s->parser);
	pool_free(&s->cmd_pool);
	buf_free(&s->inbuf);
	free(s);
}

const struct proto_ops imap_proto_ops = {
	.name = "imap",
	.open = imap_open,
	.input = imap_input,
	.output_drained = imap_output_drained,
	.shutdown = imap_shutdown,
	.timeout = imap_timeout,
	.close = imap_close,
};
