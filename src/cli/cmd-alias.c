/* cmd-alias.c - `roost alias add|del|list`: alias address -> account. */
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "cli/cli.h"

#define MAX_ARGS 8

static int alias_add(int argc, char **argv)
{
	bool json = false;
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse_json(argc, argv, &json, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if ((rc = cli_check_args(npos, 2, 2, "need the alias and the target account")) != 0)
		return rc;
	if ((rc = cli_auth_open()) != 0)
		return rc;
	char norm[AUTH_ADDRESS_MAX];
	if ((rc = cli_address(pos[0], norm)) != 0)
		return rc;
	char err[512];
	enum auth_err code;
	if (auth_alias_add(norm, pos[1], &code, err, sizeof(err)) < 0)
		return cli_error(cli_exit_for_auth_err(code), "alias add: %s", err);
	struct auth_account a;
	if (auth_account_get(norm, &a, err, sizeof(err)) != 1)
		return cli_error(EX_TEMPFAIL, "alias add: %s", err);
	if (json) {
		printf("{\"alias\": ");
		cli_json_string(stdout, norm);
		printf(", \"target\": ");
		cli_json_string(stdout, a.address);
		printf("}\n");
	} else {
		printf("added alias %s -> %s\n", norm, a.address);
	}
	return EX_OK;
}

static int alias_del(int argc, char **argv)
{
	bool json = false;
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse_json(argc, argv, &json, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if ((rc = cli_check_args(npos, 1, 1, "missing alias")) != 0)
		return rc;
	if ((rc = cli_auth_open()) != 0)
		return rc;
	char norm[AUTH_ADDRESS_MAX];
	if ((rc = cli_address(pos[0], norm)) != 0)
		return rc;
	char err[512];
	enum auth_err code;
	if (auth_alias_del(norm, &code, err, sizeof(err)) < 0)
		return cli_error(cli_exit_for_auth_err(code), "alias del: %s", err);
	if (json) {
		cli_json_member_line("deleted", norm);
	} else {
		printf("deleted alias %s\n", norm);
	}
	return EX_OK;
}

static bool list_cb(void *vctx, const char *alias, const char *target, int64_t created)
{
	struct cli_list *ctx = vctx;
	char t[32];
	cli_format_time(created, t, sizeof(t));
	if (ctx->json) {
		cli_json_list_next(ctx);
		printf("{\"alias\": ");
		cli_json_string(stdout, alias);
		printf(", \"target\": ");
		cli_json_string(stdout, target);
		printf(", \"created\": \"%s\"}", t);
	} else {
		printf("%-40s %-40s %s\n", alias, target, t);
	}
	ctx->n++;
	return true;
}

static int alias_list(int argc, char **argv)
{
	bool json = false;
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse_json(argc, argv, &json, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if ((rc = cli_check_args(npos, 0, 1, NULL)) != 0)
		return rc;
	if ((rc = cli_auth_open()) != 0)
		return rc;
	struct cli_list ctx = {json, 0};
	char err[512];
	if (json)
		fputs("[", stdout);
	else
		printf("%-40s %-40s %s\n", "ALIAS", "TARGET", "CREATED");
	rc = auth_alias_list(npos ? pos[0] : NULL, list_cb, &ctx, err, sizeof(err));
	if (json && rc > 0)
		cli_json_list_end(&ctx);
	if (rc == 0)
		return cli_error(EX_NOUSER, "alias list: %s", err);
	if (rc < 0)
		return cli_error(EX_TEMPFAIL, "alias list: %s", err);
	return EX_OK;
}

int cmd_alias(int argc, char **argv)
{
	static const struct cli_subcommand subs[] = {
	    {"add", alias_add},
	    {"del", alias_del},
	    {"list", alias_list},
	};
	return cli_dispatch("alias", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
