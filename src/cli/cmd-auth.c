/* cmd-auth.c - `roost auth test|sasl`: try a login the way a mail client
 * would, through the same code the protocols use.
 *
 *   roost auth test ADDRESS [--protocol P] [--password-stdin]
 *       checks a password or app password (auth_verify_password) and
 *       prints the result the protocol would give.
 *   roost auth sasl MECHANISM [--protocol P]
 *       runs a SASL exchange over standard input/output, one base64 line
 *       each way, as in IMAP AUTHENTICATE: the server's challenges are
 *       printed as "+ <base64>", the client writes one base64 line per
 *       step ("*" cancels); the outcome is printed as "OK <address>" or
 *       "NO <status>: <message>" and gives the exit code.
 * Exit codes: 0 login accepted, 77 (EX_NOPERM) refused, 75 temporary
 * failure, 64 usage, 65 malformed SASL exchange. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/sasl.h"
#include "cli/cli.h"

#define MAX_ARGS      8
#define SASL_LINE_MAX 8192

static int parse_protocol(const char *name, enum auth_protocol *p)
{
	static const struct {
		const char *name;
		enum auth_protocol proto;
	} protos[] = {
	    {"imap", AUTH_PROTO_IMAP}, {"pop3", AUTH_PROTO_POP3},   {"smtp", AUTH_PROTO_SMTP},
	    {"web", AUTH_PROTO_WEB},   {"other", AUTH_PROTO_OTHER},
	};
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (strcmp(protos[i].name, name) == 0) {
			*p = protos[i].proto;
			return 0;
		}
	}
	return cli_usage_error("auth: unknown protocol '%s' (imap, pop3, smtp, web, other)", name);
}

static int report(const struct auth_result *r, bool json)
{
	if (json) {
		printf("{\"status\": \"%s\", \"message\": ", auth_status_name(r->status));
		cli_json_string(stdout, r->status == AUTH_OK ? "" : r->message);
		if (r->status == AUTH_OK) {
			printf(", \"address\": ");
			cli_json_string(stdout, r->address);
			printf(", \"user_key\": ");
			cli_json_string(stdout, r->user_key);
			printf(", \"app_password_id\": ");
			if (r->used_app_password)
				printf("%lld", (long long)r->app_password_id);
			else
				printf("null");
		}
		printf("}\n");
	} else if (r->status == AUTH_OK) {
		if (r->used_app_password)
			printf("OK %s (app password %lld)\n", r->address,
			       (long long)r->app_password_id);
		else
			printf("OK %s\n", r->address);
	} else {
		printf("NO %s: %s\n", auth_status_name(r->status), r->message);
	}
	if (r->status == AUTH_OK)
		return EX_OK;
	return r->status == AUTH_TEMPFAIL ? EX_TEMPFAIL : EX_NOPERM;
}

static int auth_test(int argc, char **argv)
{
	bool json = false, from_stdin = false;
	const char *proto_name = "imap";
	const struct cli_option opts[] = {
	    {"json", &json, NULL},
	    {"password-stdin", &from_stdin, NULL},
	    {"protocol", NULL, &proto_name},
	    {NULL, NULL, NULL},
	};
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse(argc, argv, 2, opts, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if ((rc = cli_check_args(npos, 1, 1, "missing address")) != 0)
		return rc;
	struct auth_client client = {AUTH_PROTO_IMAP, "cli", true, true};
	if ((rc = parse_protocol(proto_name, &client.protocol)) != 0)
		return rc;
	if ((rc = cli_auth_open()) != 0)
		return rc;
	char password[AUTH_PASSWORD_MAX + 2];
	if ((rc = cli_read_password(from_stdin, false, password, sizeof(password))) != 0)
		return rc;
	struct auth_result r;
	auth_verify_password(pos[0], password, &client, &r);
	explicit_bzero(password, sizeof(password));
	return report(&r, json);
}

/* Reads one line from stdin into buf (without CR LF); -1 at EOF or when
 * too long. */
static long read_line(char *buf, size_t cap)
{
	if (fgets(buf, (int)cap, stdin) == NULL)
		return -1;
	size_t len = strlen(buf);
	if (len == 0 || buf[len - 1] != '\n')
		return -1;
	buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return (long)len;
}

static int auth_sasl(int argc, char **argv)
{
	bool json = false;
	const char *proto_name = "imap";
	const struct cli_option opts[] = {
	    {"json", &json, NULL},
	    {"protocol", NULL, &proto_name},
	    {NULL, NULL, NULL},
	};
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse(argc, argv, 2, opts, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if ((rc = cli_check_args(npos, 1, 1, "missing mechanism")) != 0)
		return rc;
	struct auth_client client = {AUTH_PROTO_IMAP, "cli", true, true};
	if ((rc = parse_protocol(proto_name, &client.protocol)) != 0)
		return rc;
	if (!sasl_mech_supported(pos[0]))
		return cli_usage_error("auth sasl: unsupported mechanism '%s' (supported: %s)",
		                       pos[0], sasl_mech_list(true));
	if ((rc = cli_auth_open()) != 0)
		return rc;
	struct sasl_session *s = sasl_session_new(pos[0], &client);
	if (s == NULL)
		return cli_error(EX_TEMPFAIL, "auth sasl: out of memory");

	char *line = malloc(SASL_LINE_MAX), *dec = malloc(SASL_LINE_MAX), *enc = NULL;
	if (line == NULL || dec == NULL) {
		rc = cli_error(EX_TEMPFAIL, "auth sasl: out of memory");
		goto out;
	}
	/* The first client message is read like an initial response; an
	 * empty line means "no initial response". */
	bool first = true;
	for (;;) {
		long len = read_line(line, SASL_LINE_MAX);
		if (len < 0) {
			rc = cli_error(EX_DATAERR, "auth sasl: unexpected end of input");
			goto out;
		}
		if (strcmp(line, "*") == 0) {
			printf("NO cancelled\n");
			rc = EX_NOPERM;
			goto out;
		}
		struct str resp = STR_NULL;
		const struct str *respp = NULL;
		if (!(first && len == 0)) {
			long n =
			    sasl_base64_decode(str_make(line, (size_t)len), dec, SASL_LINE_MAX);
			if (n < 0) {
				printf("NO invalid base64\n");
				rc = EX_DATAERR;
				goto out;
			}
			resp = str_make(dec, (size_t)n);
			respp = &resp;
		}
		first = false;
		struct str ch;
		enum sasl_step_status st = sasl_step(s, respp, &ch);
		if (st == SASL_STEP_ERROR) {
			printf("NO %s\n", sasl_error_message(s));
			rc = EX_DATAERR;
			goto out;
		}
		if (st == SASL_STEP_DONE) {
			rc = report(sasl_result(s), json);
			goto out;
		}
		size_t need = sasl_base64_encoded_len(ch.len);
		free(enc);
		enc = malloc(need);
		if (enc == NULL) {
			rc = cli_error(EX_TEMPFAIL, "auth sasl: out of memory");
			goto out;
		}
		sasl_base64_encode(ch.p, ch.len, enc, need);
		printf("+ %s\n", enc);
		fflush(stdout);
	}
out:
	free(line);
	free(dec);
	free(enc);
	sasl_session_free(&s);
	return rc;
}

int cmd_auth(int argc, char **argv)
{
	static const struct cli_subcommand subs[] = {
	    {"test", auth_test},
	    {"sasl", auth_sasl},
	};
	return cli_dispatch("auth", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
