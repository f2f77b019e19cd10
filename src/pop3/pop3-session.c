/* pop3-session.c - the POP3 session: life cycle, input, AUTHORIZATION.
 *
 * RFC 1939 3: a session goes AUTHORIZATION -> TRANSACTION -> UPDATE.
 * Commands are read one line at a time and answered in order; pipelined
 * commands (RFC 2449 6.6) simply wait in the connection's input buffer
 * while a reply is produced, a password is checked on the thread pool, or
 * a failure reply is delayed. */
#include "pop3.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/sasl.h"
#include "lib/config.h"
#include "lib/log.h"
#include "pop3-private.h"

/* After this many invalid commands in a row the client is not speaking
 * POP3 (or is probing): close. */
#define POP3_MAX_BAD_COMMANDS 20

static const char plaintext_refused[] =
	"[AUTH] Plaintext authentication is not allowed on an unencrypted connection; "
	"use STLS first or connect to port 995 (POP3 over TLS)";

void pop3_reply_ok(struct pop3_session *s, const char *text)
{
	if (text[0] == '\0')
		conn_write_cstr(s->c, "+OK\r\n");
	else
		conn_printf(s->c, "+OK %s\r\n", text);
}

void pop3_reply_err(struct pop3_session *s, const char *text)
{
	conn_printf(s->c, "-ERR %s\r\n", text);
}

void pop3_busy_begin(struct pop3_session *s)
{
	if (!s->busy) {
		s->busy = true;
		conn_input_suspend(s->c);
	}
}

void pop3_busy_end(struct pop3_session *s)
{
	if (s->busy) {
		s->busy = false;
		conn_input_resume(s->c);
	}
}

static bool plaintext_ok(struct pop3_session *s)
{
	return auth_plaintext_allowed(conn_is_tls(s->c), conn_is_loopback(s->c));
}

/* RFC 2449 5: the capability list as it applies now. */
static void cmd_capa(struct pop3_session *s)
{
	bool plain = plaintext_ok(s);
	conn_write_cstr(s->c, "+OK Capability list follows\r\nTOP\r\nUIDL\r\n");
	if (plain)
		conn_write_cstr(s->c, "USER\r\n");
	conn_printf(s->c, "SASL %s\r\n", sasl_mech_list(plain));
	/* LOGIN-DELAY 0: Roost has no minimum time between logins (failed
	 * logins are slowed down, but that is abuse protection, not a login
	 * delay policy). EXPIRE NEVER: Roost never deletes mail by itself;
	 * the offer window (pop3 offer_days) only hides older mail from
	 * POP3, it stays on the server. */
	conn_write_cstr(s->c, "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
			      "EXPIRE NEVER\r\nLOGIN-DELAY 0\r\n");
	if (s->state == POP3_STATE_AUTHORIZATION && conn_tls_available(s->c) &&
	    !conn_is_tls(s->c) && !s->utf8)
		conn_write_cstr(s->c, "STLS\r\n");
	/* RFC 6856 2.2: USER - UTF-8 user names and passwords are accepted
	 * (the account layer compares them byte for byte). */
	conn_write_cstr(s->c, "UTF8 USER\r\nIMPLEMENTATION Roost\r\n.\r\n");
}

static void cmd_stls(struct pop3_session *s)
{
	/* RFC 2595 4: STLS only in the AUTHORIZATION state. */
	if (conn_is_tls(s->c)) {
		pop3_reply_err(s, "TLS is already active");
		return;
	}
	/* RFC 6856 2.1: clients must not issue STLS after UTF8. */
	if (s->utf8) {
		pop3_reply_err(s, "STLS is not allowed after UTF8");
		return;
	}
	if (!conn_tls_available(s->c)) {
		pop3_reply_err(s, "TLS is not configured on this server");
		return;
	}
	pop3_reply_ok(s, "Begin TLS negotiation");
	/* RFC 2595 4: forget what was said before TLS. */
	s->user[0] = '\0';
	s->stls_pending = true;
	if (conn_starttls(s->c) < 0) {
		log_warn("pop3-stls-failed", "%s", conn_log_prefix(s->c));
		conn_close(s->c, "STLS failed");
	}
}

/* ------------------------------------------------------------------ */
/* Logging in: USER/PASS and AUTH run on the thread pool. */

enum login_outcome {
	LOGIN_DONE,          /* see result.status */
	LOGIN_CHALLENGE,     /* SASL: send the challenge */
	LOGIN_SASL_ERROR,    /* SASL: malformed exchange */
	LOGIN_IN_USE,        /* another POP3 session holds the maildrop */
	LOGIN_TOO_MANY,      /* auth.max_sessions_per_user reached */
	LOGIN_STORE_FAILED,  /* password right, mailbox unreadable */
};

struct login_job {
	struct pop3_session *s;
	/* in */
	char login[POP3_MAX_LINE + 1];
	char password[AUTH_PASSWORD_MAX + 1];
	bool password_too_long;
	struct sasl_session *sasl; /* borrowed from the session for a step */
	bool has_response;
	size_t response_len;
	char *response;            /* decoded SASL response (heap) */
	struct auth_client client;
	char remote_ip[64];
	time_t now;
	/* out */
	enum login_outcome outcome;
	const char *challenge_p;   /* points into the sasl session */
	size_t challenge_len;
	struct auth_result result;
	struct pop3_maildrop *md;
	char err[AUTH_MESSAGE_MAX];
};

static struct login_job *login_job_new(struct pop3_session *s)
{
	struct login_job *job = calloc(1, sizeof(*job));
	if (job == NULL)
		return NULL;
	job->s = s;
	str_copy_cstr(str_c(conn_remote_ip(s->c)), job->remote_ip, sizeof(job->remote_ip));
	job->client.protocol = AUTH_PROTO_POP3;
	job->client.remote_ip = job->remote_ip;
	job->client.secured = conn_is_tls(s->c);
	job->client.loopback = conn_is_loopback(s->c);
	job->now = time(NULL);
	return job;
}

static void login_job_free(struct login_job **jobp)
{
	struct login_job *job = *jobp;
	if (job == NULL)
		return;
	explicit_bzero(job->password, sizeof(job->password));
	if (job->response) {
		explicit_bzero(job->response, job->response_len);
		free(job->response);
	}
	/* Only reached with a maildrop when the session went away before
	 * it could take it over. */
	if (job->md) {
		pop3_maildrop_free(&job->md);
		pop3_maildrop_unlock(job->result.account_id);
		auth_session_end(job->result.account_id);
	}
	free(job);
	*jobp = NULL;
}

/* The password is right: take the maildrop lock and the snapshot. */
static void login_open_maildrop(struct login_job *job)
{
	const struct auth_result *r = &job->result;
	int ret = pop3_maildrop_lock(r->account_id);
	if (ret == 0) {
		job->outcome = LOGIN_IN_USE;
		return;
	}
	if (ret < 0) {
		job->outcome = LOGIN_STORE_FAILED;
		snprintf(job->err, sizeof(job->err), "Out of memory");
		return;
	}
	if (auth_session_begin(r->account_id) == 0) {
		pop3_maildrop_unlock(r->account_id);
		job->outcome = LOGIN_TOO_MANY;
		return;
	}
	if (pop3_maildrop_open(r->user_key, r->pop3_dele, r->pop3_offer_days, job->now, &job->md,
			       job->err, sizeof(job->err)) < 0) {
		pop3_maildrop_unlock(r->account_id);
		auth_session_end(r->account_id);
		job->outcome = LOGIN_STORE_FAILED;
		return;
	}
}

static void login_pass_work(void *arg)
{
	struct login_job *job = arg;
	job->outcome = LOGIN_DONE;
	if (job->password_too_long) {
		job->result.status = AUTH_FAILED;
		snprintf(job->result.message, sizeof(job->result.message), "Authentication failed");
		return;
	}
	if (auth_verify_password(job->login, job->password, &job->client, &job->result) == AUTH_OK)
		login_open_maildrop(job);
}

static void login_sasl_work(void *arg)
{
	struct login_job *job = arg;
	struct str response = str_make(job->response ? job->response : "", job->response_len);
	struct str challenge;
	switch (sasl_step(job->sasl, job->has_response ? &response : NULL, &challenge)) {
	case SASL_STEP_CHALLENGE:
		job->outcome = LOGIN_CHALLENGE;
		job->challenge_p = challenge.p;
		job->challenge_len = challenge.len;
		return;
	case SASL_STEP_ERROR:
		job->outcome = LOGIN_SASL_ERROR;
		str_copy_cstr(str_c(sasl_error_message(job->sasl)), job->err, sizeof(job->err));
		return;
	case SASL_STEP_DONE:
		job->outcome = LOGIN_DONE;
		job->result = *sasl_result(job->sasl);
		if (job->result.status == AUTH_OK)
			login_open_maildrop(job);
		return;
	}
}

static void delay_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_session *s = arg;
	if (s->delayed_reply) {
		conn_write_cstr(s->c, s->delayed_reply);
		free(s->delayed_reply);
		s->delayed_reply = NULL;
	}
	pop3_busy_end(s);
}

/* A failure reply, after the abuse-protection delay. The session stays
 * busy (input suspended) until it is sent. */
static void reply_err_delayed(struct pop3_session *s, unsigned delay_ms, const char *text)
{
	char line[512];
	snprintf(line, sizeof(line), "-ERR %s\r\n", text);
	if (delay_ms == 0) {
		conn_write_cstr(s->c, line);
		return;
	}
	if (s->delay_timer == NULL)
		s->delay_timer = evtimer_new(conn_event_base(s->c), delay_timer_cb, s);
	free(s->delayed_reply);
	s->delayed_reply = strdup(line);
	if (s->delay_timer == NULL || s->delayed_reply == NULL) {
		conn_write_cstr(s->c, line);
		return;
	}
	struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
	evtimer_add(s->delay_timer, &tv);
	pop3_busy_begin(s);
}

static void login_failed(struct pop3_session *s, const struct auth_result *r)
{
	char text[AUTH_MESSAGE_MAX + 64];
	switch (r->status) {
	case AUTH_DISABLED_PROTOCOL:
		/* Only reported after the password was verified. */
		snprintf(text, sizeof(text), "[AUTH] POP3 is turned off for this account; "
					     "turn it on in your account settings");
		break;
	case AUTH_ACCOUNT_DISABLED:
		snprintf(text, sizeof(text), "[SYS/PERM] %s",
			 r->message[0] ? r->message : "This account is disabled");
		break;
	case AUTH_APP_PASSWORD_REQUIRED:
		snprintf(text, sizeof(text), "[AUTH] %s",
			 r->message[0] ? r->message
				       : "This account requires an app password for POP3");
		break;
	case AUTH_LOCKED_OUT:
		snprintf(text, sizeof(text),
			 "[SYS/TEMP] Too many failed logins; try again in %u seconds",
			 r->lockout_seconds ? r->lockout_seconds : 1);
		break;
	case AUTH_TEMPFAIL:
		snprintf(text, sizeof(text), "[SYS/TEMP] %s",
			 r->message[0] ? r->message
				       : "Temporary problem checking the password; try again later");
		break;
	default:
		snprintf(text, sizeof(text), "[AUTH] Authentication failed");
		break;
	}
	reply_err_delayed(s, r->delay_ms, text);
}

static void login_succeeded(struct pop3_session *s, struct login_job *job)
{
	const struct auth_result *r = &job->result;
	s->md = job->md;
	job->md = NULL;
	s->account_id = r->account_id;
	s->locked = true;
	s->session_counted = true;
	str_copy_cstr(str_c(r->address), s->address, sizeof(s->address));
	s->state = POP3_STATE_TRANSACTION;
	conn_set_user(s->c, s->address);
	if (roost_config)
		conn_set_idle_timeout(s->c, roost_config->idle_timeout);
	log_info("login", "%s mech=%s app_password=%s messages=%u octets=%llu dele=%s offer_days=%u",
		 conn_log_prefix(s->c), s->mech, r->used_app_password ? "yes" : "no", s->md->count,
		 (unsigned long long)s->md->total_size, pop3_dele_policy_name(s->md->dele),
		 s->md->offer_days);
	char text[128];
	snprintf(text, sizeof(text), "Logged in, %u messages (%llu octets)", s->md->count,
		 (unsigned long long)s->md->total_size);
	pop3_reply_ok(s, text);
}

static void sasl_end(struct pop3_session *s)
{
	sasl_session_free(&s->sasl);
	s->sasl_waiting = false;
}

static void login_done(void *arg)
{
	struct login_job *job = arg;
	struct pop3_session *s = job->s;

	if (conn_is_closing(s->c)) {
		login_job_free(&job);
		return;
	}
	pop3_busy_end(s);
	switch (job->outcome) {
	case LOGIN_CHALLENGE: {
		/* RFC 5034 4: "+" SP base64 challenge. */
		size_t need = sasl_base64_encoded_len(job->challenge_len);
		char *b64 = malloc(need);
		if (b64 == NULL ||
		    sasl_base64_encode(job->challenge_p, job->challenge_len, b64, need) < 0) {
			free(b64);
			sasl_end(s);
			pop3_reply_err(s, "[SYS/TEMP] Out of memory");
			break;
		}
		conn_printf(s->c, "+ %s\r\n", b64);
		free(b64);
		s->sasl_waiting = true;
		break;
	}
	case LOGIN_SASL_ERROR: {
		char text[AUTH_MESSAGE_MAX + 16];
		snprintf(text, sizeof(text), "[AUTH] %s", job->err);
		sasl_end(s);
		pop3_reply_err(s, text);
		break;
	}
	case LOGIN_DONE:
		sasl_end(s);
		if (job->result.status == AUTH_OK)
			login_succeeded(s, job);
		else
			login_failed(s, &job->result);
		break;
	case LOGIN_IN_USE:
		sasl_end(s);
		log_info("pop3-in-use", "%s account=%s", conn_log_prefix(s->c),
			 LQ(job->result.address));
		pop3_reply_err(s, "[IN-USE] Another POP3 session is using this mailbox; "
				  "try again when it has finished");
		break;
	case LOGIN_TOO_MANY:
		sasl_end(s);
		pop3_reply_err(s, "[IN-USE] Too many sessions for this account");
		break;
	case LOGIN_STORE_FAILED: {
		char text[AUTH_MESSAGE_MAX + 32];
		sasl_end(s);
		log_error("pop3-maildrop-failed", "%s account=%s error=%s",
			  conn_log_prefix(s->c), LQ(job->result.address), LQ(job->err));
		snprintf(text, sizeof(text), "[SYS/TEMP] %s", job->err);
		pop3_reply_err(s, text);
		break;
	}
	}
	login_job_free(&job);
}

static void start_login_job(struct pop3_session *s, struct login_job *job, void (*work)(void *))
{
	pop3_busy_begin(s);
	if (conn_run_async_cpu(s->c, work, login_done, job) < 0) {
		pop3_busy_end(s);
		sasl_end(s);
		login_job_free(&job);
		pop3_reply_err(s, "[SYS/TEMP] Server busy; try again later");
	}
}

static void cmd_user(struct pop3_session *s, const struct pop3_command *cmd)
{
	/* RFC 2595 4: the server may refuse USER/PASS before STLS. */
	if (!plaintext_ok(s)) {
		pop3_reply_err(s, plaintext_refused);
		return;
	}
	str_copy_cstr(cmd->arg, s->user, sizeof(s->user));
	/* The same reply whether the user exists or not. */
	pop3_reply_ok(s, "Send your password");
}

static void cmd_pass(struct pop3_session *s, const struct pop3_command *cmd)
{
	if (!plaintext_ok(s)) {
		pop3_reply_err(s, plaintext_refused);
		return;
	}
	if (s->user[0] == '\0') {
		pop3_reply_err(s, "Send USER first");
		return;
	}
	struct login_job *job = login_job_new(s);
	if (job == NULL) {
		pop3_reply_err(s, "[SYS/TEMP] Out of memory");
		return;
	}
	/* RFC 1939 7: a failed PASS returns to a fresh AUTHORIZATION. */
	memcpy(job->login, s->user, sizeof(job->login));
	s->user[0] = '\0';
	if (cmd->arg.len > AUTH_PASSWORD_MAX)
		job->password_too_long = true;
	else
		str_copy_cstr(cmd->arg, job->password, sizeof(job->password));
	snprintf(s->mech, sizeof(s->mech), "USER");
	start_login_job(s, job, login_pass_work);
}

/* Decodes a client's base64 SASL line into the job. "=" is an empty
 * response (RFC 5034 4, initial response). Returns -1 if malformed. */
static int job_set_response(struct login_job *job, struct str line)
{
	job->has_response = true;
	if (line.len == 1 && line.p[0] == '=')
		return 1;
	size_t cap = line.len / 4 * 3 + 3;
	job->response = malloc(cap);
	if (job->response == NULL)
		return -1;
	long n = sasl_base64_decode(line, job->response, cap);
	if (n < 0)
		return -1;
	job->response_len = (size_t)n;
	return 1;
}

static void cmd_auth(struct pop3_session *s, const struct pop3_command *cmd)
{
	bool plain = plaintext_ok(s);
	if (cmd->arg.len == 0) {
		/* AUTH without a mechanism: list them (RFC 1734's form, which
		 * some clients still use to probe). */
		conn_write_cstr(s->c, "+OK Supported mechanisms follow\r\n");
		const char *list = sasl_mech_list(plain);
		while (*list) {
			size_t n = strcspn(list, " ");
			conn_write(s->c, list, n);
			conn_write_cstr(s->c, "\r\n");
			list += n;
			while (*list == ' ')
				list++;
		}
		conn_write_cstr(s->c, ".\r\n");
		return;
	}
	char mech[24];
	str_copy_cstr(cmd->arg, mech, sizeof(mech));
	if (!sasl_mech_supported(mech)) {
		pop3_reply_err(s, "[AUTH] Unsupported authentication mechanism");
		return;
	}
	if (sasl_mech_is_plaintext(mech) && !plain) {
		pop3_reply_err(s, plaintext_refused);
		return;
	}
	struct login_job *job = login_job_new(s);
	if (job == NULL) {
		pop3_reply_err(s, "[SYS/TEMP] Out of memory");
		return;
	}
	s->sasl = sasl_session_new(mech, &job->client);
	if (s->sasl == NULL) {
		login_job_free(&job);
		pop3_reply_err(s, "[SYS/TEMP] Out of memory");
		return;
	}
	str_copy_cstr(str_c(sasl_mech_name(s->sasl)), s->mech, sizeof(s->mech));
	if (cmd->has_initial_response && job_set_response(job, cmd->initial_response) < 0) {
		login_job_free(&job);
		sasl_end(s);
		pop3_reply_err(s, "[AUTH] Invalid base64 in the initial response");
		return;
	}
	job->sasl = s->sasl;
	start_login_job(s, job, login_sasl_work);
}

/* The line after a "+ " challenge (RFC 5034 4). */
static void sasl_response_line(struct pop3_session *s, struct str line)
{
	s->sasl_waiting = false;
	if (line.len == 1 && line.p[0] == '*') {
		sasl_end(s);
		pop3_reply_err(s, "[AUTH] Authentication cancelled");
		return;
	}
	struct login_job *job = login_job_new(s);
	if (job == NULL) {
		sasl_end(s);
		pop3_reply_err(s, "[SYS/TEMP] Out of memory");
		return;
	}
	/* Continuation lines carry base64 only ("=" is not special here,
	 * but an empty line is an empty response). */
	if (line.len > 0 && !(line.len == 1 && line.p[0] == '=') &&
	    job_set_response(job, line) < 0) {
		login_job_free(&job);
		sasl_end(s);
		pop3_reply_err(s, "[AUTH] Invalid base64 in the response");
		return;
	}
	job->has_response = true;
	job->sasl = s->sasl;
	start_login_job(s, job, login_sasl_work);
}

/* ------------------------------------------------------------------ */

static void bad_command(struct pop3_session *s, const char *text)
{
	pop3_reply_err(s, text);
	if (++s->bad_commands >= POP3_MAX_BAD_COMMANDS) {
		pop3_reply_err(s, "Too many invalid commands; closing the connection");
		conn_close(s->c, "too many invalid commands");
	}
}

static void cmd_authorization(struct pop3_session *s, const struct pop3_command *cmd)
{
	switch (cmd->cmd) {
	case POP3_CMD_USER:
		cmd_user(s, cmd);
		return;
	case POP3_CMD_PASS:
		cmd_pass(s, cmd);
		return;
	case POP3_CMD_AUTH:
		cmd_auth(s, cmd);
		return;
	case POP3_CMD_APOP:
		pop3_reply_err(s, "APOP is not supported; use USER and PASS, or AUTH");
		return;
	case POP3_CMD_STLS:
		cmd_stls(s);
		return;
	case POP3_CMD_UTF8:
		s->utf8 = true;
		pop3_reply_ok(s, "UTF8 enabled");
		return;
	case POP3_CMD_QUIT:
		/* RFC 1939 4: QUIT in AUTHORIZATION does not enter UPDATE. */
		pop3_reply_ok(s, "Roost POP3 signing off");
		conn_close(s->c, "QUIT");
		return;
	default:
		bad_command(s, "Log in first (USER and PASS, or AUTH)");
		return;
	}
}

static void handle_line(struct pop3_session *s, struct str line)
{
	struct pop3_command cmd;
	const char *error;

	if (pop3_parse_command(line, &cmd, &error) < 0) {
		bad_command(s, error);
		return;
	}
	s->bad_commands = 0;

	switch (cmd.cmd) {
	case POP3_CMD_CAPA:
		cmd_capa(s);
		return;
	case POP3_CMD_NOOP:
		pop3_reply_ok(s, "");
		return;
	default:
		break;
	}
	if (s->state == POP3_STATE_AUTHORIZATION)
		cmd_authorization(s, &cmd);
	else
		pop3_cmd_transaction(s, &cmd);
}

static void *pop3_open(struct conn *c)
{
	struct pop3_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->c = c;
	s->state = POP3_STATE_AUTHORIZATION;
	s->stream.fd = -1;
	/* RFC 1939 4: the greeting. No APOP timestamp: APOP needs the
	 * plaintext password on the server, which Roost never stores. */
	conn_write_cstr(c, "+OK Roost POP3 ready.\r\n");
	return s;
}

static void pop3_input(void *ctx)
{
	struct pop3_session *s = ctx;

	/* Pipelining: handle every complete line already buffered, in
	 * order, but stop while busy or while the output queue is full, so a
	 * client that sends many RETRs without reading cannot make us
	 * buffer them all. */
	if (s->stls_pending) {
		/* Nothing is read between STLS and the handshake (the network
		 * layer drops plaintext sent meanwhile, RFC 2595 3.1). */
		if (!conn_is_tls(s->c))
			return;
		s->stls_pending = false;
	}
	while (!s->busy && !s->stls_pending && !conn_is_closing(s->c) &&
	       !conn_output_full(s->c)) {
		struct str line;
		/* conn_read_line's limit excludes the CRLF. */
		size_t max = s->sasl_waiting ? POP3_MAX_SASL_LINE : POP3_MAX_LINE - 2;
		int ret = conn_read_line(s->c, &line, max);
		if (ret == 0)
			return;
		if (ret < 0) {
			if (s->sasl_waiting) {
				sasl_end(s);
				pop3_reply_err(s, "[AUTH] Authentication response too long");
			} else {
				/* RFC 2449 4: at most 255 octets with CRLF. */
				bad_command(s, "Command line too long (at most 255 octets)");
			}
			continue;
		}
		if (s->sasl_waiting)
			sasl_response_line(s, line);
		else
			handle_line(s, line);
	}
}

static void pop3_output_drained(void *ctx)
{
	struct pop3_session *s = ctx;
	if (s->stream.kind != POP3_STREAM_NONE) {
		if (pop3_stream_continue(s))
			pop3_busy_end(s);
		return;
	}
	if (!s->busy)
		pop3_input(s);
}

static void pop3_shutdown(void *ctx)
{
	struct pop3_session *s = ctx;
	if (s->stream.kind != POP3_STREAM_NONE)
		return; /* mid-response: a status line now would corrupt it */
	pop3_reply_err(s, "[SYS/TEMP] Server shutting down; please reconnect later");
}

static void pop3_timeout(void *ctx)
{
	struct pop3_session *s = ctx;
	if (s->stream.kind != POP3_STREAM_NONE)
		return;
	/* RFC 1939 3: an autologout does not enter the UPDATE state, so
	 * nothing marked deleted is removed. */
	pop3_reply_err(s, "Autologout; idle for too long");
}

void pop3_release_login(struct pop3_session *s)
{
	if (s->locked) {
		pop3_maildrop_unlock(s->account_id);
		s->locked = false;
	}
	if (s->session_counted) {
		auth_session_end(s->account_id);
		s->session_counted = false;
	}
}

static void pop3_close(void *ctx, const char *reason)
{
	struct pop3_session *s = ctx;

	pop3_stream_abort(s);
	if (s->md) {
		/* \Seen from RETRs whose batch has not been written yet: a
		 * client that left without QUIT within half a second of its
		 * last RETR, or during an update. Written here, on the worker
		 * thread (one commit, once per session), so it is not lost. */
		pop3_seen_flush_now(s);
		log_info("logout", "%s retr=%u retr_octets=%llu top=%u dele=%u updated=%s reason=%s",
			 conn_log_prefix(s->c), s->retr_count, (unsigned long long)s->retr_octets,
			 s->top_count, s->dele_count, s->state == POP3_STATE_UPDATE ? "yes" : "no",
			 LQ(reason ? reason : ""));
	}
	pop3_release_login(s);
	pop3_maildrop_free(&s->md);
	sasl_session_free(&s->sasl);
	if (s->delay_timer)
		event_free(s->delay_timer);
	if (s->seen_timer)
		event_free(s->seen_timer);
	free(s->delayed_reply);
	free(s->seen_pending);
	explicit_bzero(s->user, sizeof(s->user));
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
