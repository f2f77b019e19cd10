/* cmd-authenticate.c - AUTHENTICATE (RFC 9051 6.2.2) with SASL-IR (RFC
 * 4959): PLAIN, LOGIN and SCRAM-SHA-256 through src/auth/sasl.h.
 *
 * Every step runs on the thread pool (sasl_step is BLOCKING). Between
 * steps the command stays in progress and the session hands us the
 * client's next line (imap_authenticate_line); "*" cancels. */
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/sasl.h"
#include "imap/imap-commands.h"
#include "imap/imap-internal.h"
#include "lib/log.h"
#include "lib/pool.h"

struct sasl_job {
	struct imap_cmd *cmd;
	struct str response; /* decoded, in the command pool */
	bool has_response;
	enum sasl_step_status status;
	struct str challenge;
	struct store_user *user; /* opened in the pool thread on success */
};

static void sasl_work(void *arg)
{
	struct sasl_job *job = arg;
	struct imap_session *s = job->cmd->session;
	job->status = sasl_step(s->sasl, job->has_response ? &job->response : NULL,
				&job->challenge);
	if (job->response.p != NULL)
		explicit_bzero((char *)job->response.p, job->response.len);
	if (job->status == SASL_STEP_DONE) {
		const struct auth_result *r = sasl_result(s->sasl);
		if (r->status == AUTH_OK && store_user_open(r->user_key, &job->user) < 0)
			job->user = NULL;
	}
}

static void sasl_done(void *arg)
{
	struct sasl_job *job = arg;
	struct imap_cmd *cmd = job->cmd;
	struct imap_session *s = cmd->session;

	if (conn_is_closing(s->conn)) {
		store_user_unref(&job->user);
		sasl_session_free(&s->sasl);
		imap_cmd_complete(cmd);
		return;
	}
	switch (job->status) {
	case SASL_STEP_CHALLENGE: {
		size_t cap = sasl_base64_encoded_len(job->challenge.len);
		char *enc = pool_alloc(cmd->pool, cap);
		if (enc == NULL ||
		    sasl_base64_encode(job->challenge.p, job->challenge.len, enc, cap) < 0) {
			sasl_session_free(&s->sasl);
			imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
			imap_cmd_complete(cmd);
			return;
		}
		imap_session_printf(s, "+ %s\r\n", enc);
		/* The next line is the client's response, not a command. */
		s->sasl_waiting = true;
		imap_session_resume_input(s);
		return;
	}
	case SASL_STEP_ERROR:
		imap_cmd_bad(cmd, "%s", sasl_error_message(s->sasl));
		sasl_session_free(&s->sasl);
		imap_cmd_complete(cmd);
		return;
	case SASL_STEP_DONE: {
		struct auth_result r = *sasl_result(s->sasl);
		sasl_session_free(&s->sasl);
		int done = imap_auth_finish(cmd, &r, &job->user);
		explicit_bzero(&r, sizeof(r));
		store_user_unref(&job->user);
		if (done == 1)
			imap_cmd_complete(cmd);
		return;
	}
	}
}

static int start_step(struct imap_cmd *cmd, const struct str *response)
{
	struct imap_session *s = cmd->session;
	struct sasl_job *job = pool_alloc(cmd->pool, sizeof(*job));
	if (job == NULL)
		return -1;
	job->cmd = cmd;
	if (response != NULL) {
		job->response = *response;
		job->has_response = true;
	}
	imap_session_suspend_input(s);
	return conn_run_async_cpu(s->conn, sasl_work, sasl_done, job);
}

/* Decodes base64 into the command pool. -1 on bad encoding. */
static int decode(struct imap_cmd *cmd, struct str in, struct str *out_r)
{
	size_t cap = in.len / 4 * 3 + 3;
	char *out = pool_alloc(cmd->pool, cap);
	if (out == NULL)
		return -1;
	long n = sasl_base64_decode(in, out, cap);
	if (n < 0)
		return -1;
	*out_r = str_make(out, (size_t)n);
	return 1;
}

void imap_authenticate_line(struct imap_session *s, struct str line)
{
	struct imap_cmd *cmd = s->cmd;
	s->sasl_waiting = false;
	if (str_eq(line, STR_LIT("*"))) {
		/* RFC 9051 6.2.2: the client cancelled; answer BAD. */
		sasl_session_free(&s->sasl);
		imap_cmd_bad(cmd, "Authentication canceled");
		imap_session_suspend_input(s);
		imap_cmd_complete(cmd);
		return;
	}
	struct str resp;
	if (decode(cmd, line, &resp) < 0) {
		sasl_session_free(&s->sasl);
		imap_cmd_bad(cmd, "Invalid base64 in the SASL response");
		imap_session_suspend_input(s);
		imap_cmd_complete(cmd);
		return;
	}
	if (start_step(cmd, &resp) < 0) {
		sasl_session_free(&s->sasl);
		imap_cmd_no(cmd, "[UNAVAILABLE] Server busy; try again");
		imap_cmd_complete(cmd);
	}
}

int cmd_authenticate(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct str mech, ir;
	bool has_ir = false;

	if (!imap_arg_get_atom(&cmd->args[0], &mech) || mech.len == 0 || mech.len > 40) {
		imap_cmd_bad(cmd, "AUTHENTICATE needs a mechanism name");
		return 1;
	}
	if (cmd->args[1].type != IMAP_ARG_EOL) {
		if (!imap_arg_get_atom(&cmd->args[1], &ir) || cmd->args[2].type != IMAP_ARG_EOL) {
			imap_cmd_bad(cmd, "Invalid initial response");
			return 1;
		}
		has_ir = true;
	}
	char name[48];
	str_copy_cstr(mech, name, sizeof(name));
	if (!sasl_mech_supported(name)) {
		imap_cmd_no(cmd, "Unsupported authentication mechanism");
		return 1;
	}
	if (sasl_mech_is_plaintext(name) && !imap_plaintext_allowed(s)) {
		imap_cmd_no(cmd, "[PRIVACYREQUIRED] Use STARTTLS (or port 993) before sending a "
				 "password");
		return 1;
	}
	struct str resp = STR_NULL;
	if (has_ir) {
		/* RFC 4959: "=" is an empty initial response. */
		if (str_eq(ir, STR_LIT("="))) {
			resp = STR_LIT("");
		} else if (decode(cmd, ir, &resp) < 0) {
			imap_cmd_bad(cmd, "Invalid base64 in the initial response");
			return 1;
		}
	}
	struct auth_client client;
	imap_auth_client(s, &client);
	sasl_session_free(&s->sasl);
	s->sasl = sasl_session_new(name, &client);
	if (s->sasl == NULL) {
		imap_cmd_no(cmd, "[SERVERBUG] Could not start authentication");
		return 1;
	}
	if (start_step(cmd, has_ir ? &resp : NULL) < 0) {
		sasl_session_free(&s->sasl);
		imap_cmd_no(cmd, "[UNAVAILABLE] Server busy; try again");
		return 1;
	}
	return 0;
}
