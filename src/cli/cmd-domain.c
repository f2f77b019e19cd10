/* cmd-domain.c - `roost domain add|del|list`. */
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "cli/cli.h"

#define MAX_ARGS 8

static int domain_change(int argc, char **argv, bool add)
{
	bool json = false;
	char *pos[MAX_ARGS];
	int npos, rc;
	const char *sub = add ? "add" : "del";
	if ((rc = cli_parse_json(argc, argv, &json, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if ((rc = cli_check_args(npos, 1, 1, "missing domain")) != 0)
		return rc;
	if ((rc = cli_auth_open()) != 0)
		return rc;
	char err[512];
	enum auth_err code;
	int r = add ? auth_domain_add(pos[0], &code, err, sizeof(err))
	            : auth_domain_del(pos[0], &code, err, sizeof(err));
	if (r < 0)
		return cli_error(cli_exit_for_auth_err(code), "domain %s: %s", sub, err);
	if (json) {
		cli_json_member_line(add ? "added" : "deleted", pos[0]);
	} else {
		printf("%s domain %s\n", add ? "added" : "deleted", pos[0]);
	}
	return EX_OK;
}

static bool list_cb(void *vctx, const char *domain, int64_t created, unsigned accounts,
                    unsigned aliases)
{
	struct cli_list *ctx = vctx;
	char t[32];
	cli_format_time(created, t, sizeof(t));
	if (ctx->json) {
		cli_json_list_next(ctx);
		printf("{\"domain\": ");
		cli_json_string(stdout, domain);
		printf(", \"accounts\": %u, \"aliases\": %u, \"created\": \"%s\"}", accounts,
		       aliases, t);
	} else {
		printf("%-40s %8u %8u  %s\n", domain, accounts, aliases, t);
	}
	ctx->n++;
	return true;
}

static int domain_list(int argc, char **argv)
{
	bool json = false;
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse_json(argc, argv, &json, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if ((rc = cli_check_args(npos, 0, 0, NULL)) != 0)
		return rc;
	if ((rc = cli_auth_open()) != 0)
		return rc;
	struct cli_list ctx = {json, 0};
	char err[512];
	if (json)
		fputs("[", stdout);
	else
		printf("%-40s %8s %8s  %s\n", "DOMAIN", "ACCOUNTS", "ALIASES", "CREATED");
	rc = auth_domain_list(list_cb, &ctx, err, sizeof(err));
	if (json)
		cli_json_list_end(&ctx);
	if (rc < 0)
		return cli_error(EX_TEMPFAIL, "domain list: %s", err);
	return EX_OK;
}

static int domain_add(int argc, char **argv)
{
	return domain_change(argc, argv, true);
}

static int domain_del(int argc, char **argv)
{
	return domain_change(argc, argv, false);
}

int cmd_domain(int argc, char **argv)
{
	static const struct cli_subcommand subs[] = {
	    {"add", domain_add},
	    {"del", domain_del},
	    {"list", domain_list},
	};
	return cli_dispatch("domain", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
