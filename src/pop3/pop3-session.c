/* pop3-session.c - the POP3 session: states, command dispatch, replies.
 *
 * RFC 1939 3: a session goes AUTHORIZATION -> TRANSACTION -> UPDATE.
 * Commands are read one line at a time and answered in order; pipelined
 * commands (RFC 2449 6.6) simply wait in the connection's input buffer
 * while a reply is being produced. */
#include "pop3.h"

#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/log.h"
#include "pop3-parser.h"

/* After this many invalid commands in a row the client is not speaking
 * POP3 (or is probing): close. */
#define POP3_MAX_BAD_COMMANDS 20

enum pop3_state {
	POP3_STATE_AUTHORIZATION,
	POP3_STATE_TRANSACTION,
	POP3_STATE_UPDATE,
};

struct pop3_session {
	struct conn *c;
	enum pop3_state state;
	unsigned bad_commands;
	bool utf8;
};

static void reply_ok(struct pop3_session *s, const char *text)
{
	if (text[0] == '\0')
		conn_write_cstr(s->c, "+OK\r\n");
	else
		conn_printf(s->c, "+OK %s\r\n", text);
}

static void reply_err(struct pop3_session *s, const char *text)
{
	conn_printf(s->c, "-ERR %s\r\n", text);
}

/* RFC 2449 5: the capability list, as it applies in the current state. */
static void cmd_capa(struct pop3_session *s)
{
	conn_write_cstr(s->c, "+OK Capability list follows\r\n");
	if (s->state == POP3_STATE_AUTHORIZATION && conn_tls_available(s->c) &&
	    !conn_is_tls(s->c) && !s->utf8)
		conn_write_cstr(s->c, "STLS\r\n");
	conn_write_cstr(s->c, "RESP-CODES\r\nPIPELINING\r\nUTF8\r\nIMPLEMENTATION Roost\r\n.\r\n");
}

static void cmd_stls(struct pop3_session *s)
{
	/* RFC 2595 4: STLS only in the AUTHORIZATION state; RFC 6856 2.1:
	 * not after UTF8. */
	if (s->state != POP3_STATE_AUTHORIZATION) {
		reply_err(s, "STLS is only allowed before login");
		return;
	}
	if (conn_is_tls(s->c)) {
		reply_err(s, "TLS is already active");
		return;
	}
	if (s->utf8) {
		reply_err(s, "STLS is not allowed after UTF8");
		return;
	}
	if (!conn_tls_available(s->c)) {
		reply_err(s, "TLS is not configured on this server");
		return;
	}
	reply_ok(s, "Begin TLS negotiation");
	if (conn_starttls(s->c) < 0) {
		log_warn("pop3_stls_failed", "%s", conn_log_prefix(s->c));
		conn_close(s->c, "STLS failed");
	}
}

static void handle_line(struct pop3_session *s, struct str line)
{
	struct pop3_command cmd;
	const char *error;

	if (pop3_parse_command(line, &cmd, &error) < 0) {
		reply_err(s, error);
		if (++s->bad_commands >= POP3_MAX_BAD_COMMANDS) {
			reply_err(s, "Too many invalid commands, closing the connection");
			conn_close(s->c, "too many invalid commands");
		}
		return;
	}
	s->bad_commands = 0;

	switch (cmd.cmd) {
	case POP3_CMD_CAPA:
		cmd_capa(s);
		return;
	case POP3_CMD_NOOP:
		reply_ok(s, "");
		return;
	case POP3_CMD_QUIT:
		reply_ok(s, "Roost POP3 signing off");
		conn_close(s->c, "QUIT");
		return;
	case POP3_CMD_STLS:
		cmd_stls(s);
		return;
	case POP3_CMD_UTF8:
		if (s->state != POP3_STATE_AUTHORIZATION) {
			reply_err(s, "UTF8 is only allowed before login");
			return;
		}
		s->utf8 = true;
		reply_ok(s, "UTF8 enabled");
		return;
	default:
		reply_err(s, "Command not available yet");
		return;
	}
}

static void *pop3_open(struct conn *c)
{
	struct pop3_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->c = c;
	s->state = POP3_STATE_AUTHORIZATION;
	/* RFC 1939 4: the greeting; no APOP timestamp since we do not
	 * offer APOP (it needs the plaintext password stored). */
	conn_write_cstr(c, "+OK Roost POP3 ready.\r\n");
	if (roost_config)
		conn_set_idle_timeout(c, roost_config->preauth_timeout);
	return s;
}

static void pop3_input(void *ctx)
{
	struct pop3_session *s = ctx;

	/* Pipelining: handle every complete line already buffered, in
	 * order, but stop while the output queue is full so a client that
	 * sends many RETRs without reading cannot make us buffer them all. */
	while (!conn_is_closing(s->c) && !conn_output_full(s->c)) {
		struct str line;
		int ret = conn_read_line(s->c, &line, POP3_MAX_LINE - 2);
		if (ret == 0)
			return;
		if (ret < 0) {
			/* RFC 2449 4: lines are at most 255 octets. */
			reply_err(s, "Command line too long (at most 255 octets)");
			continue;
		}
		handle_line(s, line);
	}
}

static void pop3_output_drained(void *ctx)
{
	pop3_input(ctx);
}

static void pop3_shutdown(void *ctx)
{
	struct pop3_session *s = ctx;
	reply_err(s, "[SYS/TEMP] Server shutting down, please reconnect later");
}

static void pop3_timeout(void *ctx)
{
	struct pop3_session *s = ctx;
	reply_err(s, "Autologout: idle for too long");
}

static void pop3_close(void *ctx, const char *reason)
{
	struct pop3_session *s = ctx;
	free(s);
}

const struct proto_ops pop3_proto_ops = {
	.name = "pop3",
	.open = pop3_open,
	.input = pop3_input,
	.output_drained = pop3_output_drained,
	.shutdown = pop3_shutdown,
	.timeout = pop3_timeout,
	.close = pop3_close,
};
