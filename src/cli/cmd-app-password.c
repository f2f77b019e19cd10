/* cmd-app-password.c - `roost app-password add|list|revoke`.
 *
 * An app password ("authorization code") is a random 16-letter code that a
 * mail client uses instead of the account password. It is shown once, at
 * creation, in groups of four; only keys derived from it are stored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "cli/cli.h"

#define MAX_ARGS 8

static int app_add(int argc, char **argv)
{
	bool json = false;
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse_json(argc, argv, &json, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if (npos != 2)
		return cli_usage_error(npos < 2 ? "app-password add: need the user and a label"
		                                : "app-password add: too many arguments "
		                                  "(quote a label with spaces)");
	if ((rc = cli_auth_open()) != 0)
		return rc;
	char code[AUTH_APP_CODE_LEN + 1], shown[AUTH_APP_CODE_LEN + 8], err[512];
	struct auth_app_password info;
	struct auth_account a;
	enum auth_err ec;
	if (auth_app_password_add(pos[0], pos[1], code, &info, &ec, err, sizeof(err)) < 0)
		return cli_error(cli_exit_for_auth_err(ec), "app-password add: %s", err);
	if (auth_account_get(pos[0], &a, err, sizeof(err)) != 1)
		return cli_error(EX_TEMPFAIL, "app-password add: %s", err);
	auth_app_code_format(code, shown, sizeof(shown));
	if (json) {
		printf("{\"id\": %lld, \"address\": ", (long long)info.id);
		cli_json_string(stdout, a.address);
		printf(", \"label\": ");
		cli_json_string(stdout, info.label);
		printf(", \"code\": \"%s\", \"code_formatted\": \"%s\"}\n", code, shown);
	} else {
		printf("App password %lld for %s (", (long long)info.id, a.address);
		printf("%s):\n\n    %s\n\n", info.label, shown);
		printf("It is shown only this once. Enter it in the mail client instead of the\n"
		       "account password (with or without the spaces).\n");
	}
	explicit_bzero(code, sizeof(code));
	explicit_bzero(shown, sizeof(shown));
	return EX_OK;
}

static bool list_cb(void *vctx, const struct auth_app_password *p)
{
	struct cli_list *ctx = vctx;
	char created[32], used[32];
	cli_format_time(p->created, created, sizeof(created));
	cli_format_time(p->last_used, used, sizeof(used));
	if (ctx->json) {
		cli_json_list_next(ctx);
		printf("{\"id\": %lld, \"label\": ", (long long)p->id);
		cli_json_string(stdout, p->label);
		printf(", \"created\": \"%s\", \"last_used\": ", created);
		if (p->last_used) {
			printf("\"%s\", \"last_protocol\": ", used);
			cli_json_string(stdout, p->last_protocol);
			printf(", \"last_ip\": ");
			cli_json_string(stdout, p->last_ip);
			printf("}");
		} else {
			printf("null, \"last_protocol\": null, \"last_ip\": null}");
		}
	} else {
		printf("%-5lld %-24s %-21s %-21s %-5s %s\n", (long long)p->id, p->label, created,
		       used, p->last_used ? p->last_protocol : "-",
		       p->last_used ? p->last_ip : "-");
	}
	ctx->n++;
	return true;
}

static int app_list(int argc, char **argv)
{
	bool json = false;
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse_json(argc, argv, &json, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if ((rc = cli_check_args(npos, 1, 1, "missing user")) != 0)
		return rc;
	if ((rc = cli_auth_open()) != 0)
		return rc;
	/* Look the user up first so nothing is printed for an unknown one. */
	struct auth_account a;
	if ((rc = cli_account_get(pos[0], &a)) != 0)
		return rc;
	char err[512];
	struct cli_list ctx = {json, 0};
	if (json)
		fputs("[", stdout);
	else
		printf("%-5s %-24s %-21s %-21s %-5s %s\n", "ID", "LABEL", "CREATED", "LAST USED",
		       "PROTO", "IP");
	enum auth_err ec;
	rc = auth_app_password_list(a.address, list_cb, &ctx, &ec, err, sizeof(err));
	if (json)
		cli_json_list_end(&ctx);
	if (rc < 0)
		return cli_error(cli_exit_for_auth_err(ec), "app-password list: %s", err);
	return EX_OK;
}

static int app_revoke(int argc, char **argv)
{
	bool json = false;
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse_json(argc, argv, &json, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if ((rc = cli_check_args(npos, 2, 2, "need the user and the id")) != 0)
		return rc;
	char *end;
	long long id = strtoll(pos[1], &end, 10);
	if (pos[1][0] < '0' || pos[1][0] > '9' || *end != '\0' || id <= 0)
		return cli_usage_error("app-password revoke: '%s' is not an id (see "
		                       "app-password list)",
		                       pos[1]);
	if ((rc = cli_auth_open()) != 0)
		return rc;
	struct auth_account a;
	if ((rc = cli_account_get(pos[0], &a)) != 0)
		return rc;
	char err[512];
	enum auth_err ec;
	if (auth_app_password_revoke(a.address, id, &ec, err, sizeof(err)) < 0)
		return cli_error(cli_exit_for_auth_err(ec), "app-password revoke: %s", err);
	if (json) {
		printf("{\"revoked\": %lld, \"address\": ", id);
		cli_json_string(stdout, a.address);
		printf("}\n");
	} else {
		printf("revoked app password %lld of %s\n", id, a.address);
	}
	return EX_OK;
}

int cmd_app_password(int argc, char **argv)
{
	static const struct cli_subcommand subs[] = {
	    {"add", app_add},
	    {"list", app_list},
	    {"revoke", app_revoke},
	};
	return cli_dispatch("app-password", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
