/* cmd-domain.c - `roost domain add|del|list`. */
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "cli/cli.h"

#define MAX_ARGS 8

static int domain_change(int argc, char **argv, bool add)
{
	bool json = false;
	const struct cli_option opts[] = {
	    {"json", &json, NULL},
	    {NULL, NULL, NULL},
	};
	char *pos[MAX_ARGS];
	int npos, rc;
	const char *sub = add ? "add" : "del";
	if ((rc = cli_parse(argc, argv, 2, opts, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if (npos != 1)
		return cli_usage_error(
		    npos == 0 ? "domain %s: missing domain" : "domain %s: too many arguments", sub);
	if ((rc = cli_auth_open()) != 0)
		return rc;
	char err[512];
	enum auth_err code;
	int r = add ? auth_domain_add(pos[0], &code, err, sizeof(err))
	            : auth_domain_del(pos[0], &code, err, sizeof(err));
	if (r < 0)
		return cli_error(cli_exit_for_auth_err(code), "domain %s: %s", sub, err);
	if (json) {
		printf("{\"%s\": ", add ? "added" : "deleted");
		cli_json_string(stdout, pos[0]);
		printf("}\n");
	} else {
		printf("%s domain %s\n", add ? "added" : "deleted", pos[0]);
	}
	return EX_OK;
}

struct list_ctx {
	bool json;
	unsigned n;
};

static bool list_cb(void *vctx, const char *domain, int64_t created, unsigned accounts,
                    unsigned aliases)
{
	struct list_ctx *ctx = vctx;
	char t[32];
	cli_format_time(created, t, sizeof(t));
	if (ctx->json) {
		fputs(ctx->n ? ",\n  {\"domain\": " : "\n  {\"domain\": ", stdout);
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
	const struct cli_option opts[] = {
	    {"json", &json, NULL},
	    {NULL, NULL, NULL},
	};
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse(argc, argv, 2, opts, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if (npos != 0)
		return cli_usage_error("domain list: too many arguments");
	if ((rc = cli_auth_open()) != 0)
		return rc;
	struct list_ctx ctx = {json, 0};
	char err[512];
	if (json)
		fputs("[", stdout);
	else
		printf("%-40s %8s %8s  %s\n", "DOMAIN", "ACCOUNTS", "ALIASES", "CREATED");
	rc = auth_domain_list(list_cb, &ctx, err, sizeof(err));
	if (json)
		fputs(ctx.n ? "\n]\n" : "]\n", stdout);
	if (rc < 0)
		return cli_error(EX_TEMPFAIL, "domain list: %s", err);
	return EX_OK;
}

int cmd_domain(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("domain: missing subcommand");
	static char name[32];
	snprintf(name, sizeof(name), "domain %s", argv[1]);
	cli_set_subcommand(name);
	if (strcmp(argv[1], "add") == 0)
		return domain_change(argc, argv, true);
	if (strcmp(argv[1], "del") == 0)
		return domain_change(argc, argv, false);
	if (strcmp(argv[1], "list") == 0)
		return domain_list(argc, argv);
	return cli_usage_error("domain: unknown subcommand '%s'", argv[1]);
}
