/* cmd-login.c - LOGIN (RFC 9051 6.2.3), and what every way of logging in
 * shares: the plaintext policy, the password check on the thread pool, the
 * failure delay, the per-account session limit, opening the user's store,
 * and the answers for each outcome. AUTHENTICATE (cmd-authenticate.c) ends
 * in imap_auth_finish() too. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/sasl.h"
#include "imap/imap-commands.h"
#include "imap/imap-internal.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/pool.h"

bool imap_plaintext_allowed(const struct imap_session *s)
{
	return auth_plaintext_allowed(conn_is_tls(s->conn), conn_is_loopback(s->conn));
}

void imap_append_auth_capabilities(const struct imap_session *s, struct buf *out)
{
	struct str list = str_c(sasl_mech_list(imap_plaintext_allowed(s)));
	while (list.len > 0) {
		long sp = str_find_char(list, ' ');
		size_t n = sp < 0 ? list.len : (size_t)sp;
		buf_append_cstr(out, " AUTH=");
		buf_append(out, list.p, n);
		list = str_sub(list, sp < 0 ? list.len : n + 1, list.len);
	}
}

void imap_auth_client(const struct imap_session *s, struct auth_client *client)
{
	client->protocol = AUTH_PROTO_IMAP;
	client->remote_ip = conn_remote_ip(s->conn);
	client->secured = conn_is_tls(s->conn);
	client->loopback = conn_is_loopback(s->conn);
}

void imap_session_logged_in_limits(struct imap_session *s)
{
	struct imap_parser_limits lim = {
		.max_line = roost_config->imap_max_line,
		.max_literal_collect = roost_config->imap_max_line,
	};
	imap_parser_set_limits(&s->parser, &lim);
}

void imap_session_logout_user(struct imap_session *s)
{
	if (s->session_counted) {
		auth_session_end(s->account_id);
		s->session_counted = false;
	}
	store_user_unref(&s->user);
	free(s->username);
	s->username = NULL;
}

void imap_auth_cleanup(struct imap_session *s)
{
	sasl_session_free(&s->sasl);
	s->sasl_waiting = false;
	if (s->delay_timer != NULL) {
		event_free(s->delay_timer);
		s->delay_timer = NULL;
	}
}

static void delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct imap_cmd *cmd = arg;
	struct imap_session *s = cmd->session;
	event_free(s->delay_timer);
	s->delay_timer = NULL;
	imap_cmd_complete(cmd);
}

/* Runs the answer of a failed login after the delay the abuse protection
 * asks for (auth.h: never slept in the thread pool). Returns 0 when the
 * command now waits for the timer, 1 when the answer can go now. */
static int delay_failure(struct imap_cmd *cmd, unsigned delay_ms)
{
	struct imap_session *s = cmd->session;
	if (delay_ms == 0 || conn_is_closing(s->conn))
		return 1;
	s->delay_timer = evtimer_new(conn_event_base(s->conn), delay_done, cmd);
	if (s->delay_timer == NULL)
		return 1;
	struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
	evtimer_add(s->delay_timer, &tv);
	return 0;
}

int imap_auth_finish(struct imap_cmd *cmd, const struct auth_result *r,
		     struct store_user **user)
{
	struct imap_session *s = cmd->session;
	const char *msg = r->message[0] != '\0' ? r->message : NULL;

	switch (r->status) {
	case AUTH_OK:
		break;
	case AUTH_FAILED:
		/* A client guessing passwords gets a few tries per connection,
		 * then has to reconnect (each failure is also delayed and
		 * counted by the abuse protection). */
		if (++s->auth_failures >= IMAP_MAX_AUTH_FAILURES)
			s->disconnect_after_reply = true;
		imap_cmd_no(cmd, "[AUTHENTICATIONFAILED] %s",
			    msg ? msg : "Invalid user name or password");
		return delay_failure(cmd, r->delay_ms);
	case AUTH_DISABLED_PROTOCOL:
		imap_cmd_no(cmd, "[UNAVAILABLE] %s",
			    msg ? msg
				: "IMAP is turned off for this account; turn it on in your account "
				  "settings");
		return delay_failure(cmd, r->delay_ms);
	case AUTH_ACCOUNT_DISABLED:
		imap_cmd_no(cmd, "[UNAVAILABLE] %s", msg ? msg : "This account is disabled");
		return delay_failure(cmd, r->delay_ms);
	case AUTH_APP_PASSWORD_REQUIRED:
		imap_cmd_no(cmd, "[AUTHENTICATIONFAILED] %s",
			    msg ? msg
				: "This account requires an app password for mail programs; create "
				  "one in your account settings");
		return delay_failure(cmd, r->delay_ms);
	case AUTH_LOCKED_OUT:
		if (msg != NULL)
			imap_cmd_no(cmd, "[UNAVAILABLE] %s", msg);
		else
			imap_cmd_no(cmd,
				    "[UNAVAILABLE] Too many failed logins; try again in %u seconds",
				    r->lockout_seconds);
		return delay_failure(cmd, r->delay_ms);
	case AUTH_TEMPFAIL:
	default:
		imap_cmd_no(cmd, "[UNAVAILABLE] %s",
			    msg ? msg : "Temporary authentication failure; try again later");
		return delay_failure(cmd, r->delay_ms);
	}

	if (user == NULL || *user == NULL) {
		imap_cmd_no(cmd, "[UNAVAILABLE] Your mail store could not be opened; try again "
				 "later");
		return 1;
	}
	if (auth_session_begin(r->account_id) == 0) {
		store_user_unref(user);
		imap_cmd_no(cmd, "[LIMIT] Too many open sessions for this account; close some "
				 "mail programs and try again");
		return 1;
	}
	s->session_counted = true;
	s->account_id = r->account_id;
	s->user = *user;
	*user = NULL;
	s->username = strdup(r->address);
	s->state = IMAP_STATE_AUTH;
	conn_set_user(s->conn, r->address);
	conn_set_idle_timeout(s->conn, roost_config->idle_timeout);
	imap_session_logged_in_limits(s);
	log_info("imap-login", "%s method=%s", conn_log_prefix(s->conn),
		 r->used_app_password ? "app-password" : "password");

	struct buf b = BUF_INIT(0);
	imap_session_capabilities(s, &b);
	imap_cmd_ok(cmd, "[CAPABILITY %s] Logged in", buf_cstr(&b));
	buf_free(&b);
	return 1;
}

/* --- LOGIN --- */

struct login_job {
	struct imap_cmd *cmd;
	char login[AUTH_ADDRESS_MAX + 64];
	char password[AUTH_PASSWORD_MAX + 1];
	char ip[AUTH_IP_MAX];
	struct auth_client client;
	struct auth_result result;
	struct store_user *user;
};

static void login_work(void *arg)
{
	struct login_job *job = arg;
	auth_verify_password(job->login, job->password, &job->client, &job->result);
	explicit_bzero(job->password, sizeof(job->password));
	if (job->result.status == AUTH_OK &&
	    store_user_open(job->result.user_key, &job->user) < 0) {
		const char *msg;
		store_error(&msg);
		log_error("imap-store-open-failed", "user=%s error=\"%s\"", job->result.address,
			  msg);
		job->user = NULL;
	}
}

static void login_done(void *arg)
{
	struct login_job *job = arg;
	struct imap_cmd *cmd = job->cmd;
	int r = imap_auth_finish(cmd, &job->result, &job->user);
	store_user_unref(&job->user);
	if (r == 1)
		imap_cmd_complete(cmd);
}

int cmd_login(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct str user, pass;

	if (!imap_arg_get_astring(&cmd->args[0], &user) ||
	    !imap_arg_get_astring(&cmd->args[1], &pass) || cmd->args[2].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "LOGIN needs a user name and a password");
		return 1;
	}
	if (!imap_plaintext_allowed(s)) {
		/* RFC 9051 6.2.3: LOGINDISABLED is advertised; refuse. */
		imap_cmd_no(cmd, "[PRIVACYREQUIRED] Use STARTTLS (or port 993) before logging in");
		return 1;
	}
	struct login_job *job = pool_alloc(cmd->pool, sizeof(*job));
	if (job == NULL) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	job->cmd = cmd;
	if (user.len >= sizeof(job->login) || pass.len > AUTH_PASSWORD_MAX) {
		imap_cmd_no(cmd, "[AUTHENTICATIONFAILED] Invalid user name or password");
		return 1;
	}
	str_copy_cstr(user, job->login, sizeof(job->login));
	str_copy_cstr(pass, job->password, sizeof(job->password));
	imap_auth_client(s, &job->client);
	str_copy_cstr(str_c(job->client.remote_ip), job->ip, sizeof(job->ip));
	job->client.remote_ip = job->ip;
	/* The literal holding the password lives in the command pool until
	 * the command ends; wipe our copy of the argument too. */
	explicit_bzero((char *)pass.p, pass.len);
	if (conn_run_async_cpu(s->conn, login_work, login_done, job) < 0) {
		explicit_bzero(job->password, sizeof(job->password));
		imap_cmd_no(cmd, "[UNAVAILABLE] Server busy; try again");
		return 1;
	}
	return 0;
}
