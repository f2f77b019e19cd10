/* cmd-user.c - `roost user add|del|list|show|passwd|set|rename`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "cli/cli.h"
#include "lib/config.h"
#include "store/store.h"

#define MAX_ARGS 40

static const char *dele_name(int v)
{
	switch (v) {
	case POP3_DELE_EXPUNGE:
		return "expunge";
	case POP3_DELE_KEEP:
		return "keep";
	case POP3_DELE_TRASH:
		return "trash";
	default:
		return "default";
	}
}

/* The account's fields as JSON members, without the braces. */
static void json_account_fields(FILE *f, const struct auth_account *a)
{
	char t1[32], t2[32];
	fprintf(f, "\"id\": %lld, \"address\": ", (long long)a->id);
	cli_json_string(f, a->address);
	fprintf(f, ", \"user_key\": ");
	cli_json_string(f, a->user_key);
	fprintf(f,
	        ", \"state\": \"%s\", \"imap\": %s, \"pop3\": %s, \"require_app_password\": %s,"
	        " \"pop3_dele\": \"%s\", ",
	        a->state == AUTH_STATE_ACTIVE ? "active" : "disabled",
	        a->imap_enabled ? "true" : "false", a->pop3_enabled ? "true" : "false",
	        a->require_app_password ? "true" : "false", dele_name(a->pop3_dele));
	if (a->pop3_offer_days < 0)
		fprintf(f, "\"pop3_offer_days\": null, ");
	else
		fprintf(f, "\"pop3_offer_days\": %d, ", a->pop3_offer_days);
	fprintf(f,
	        "\"quota_bytes\": %llu, \"quota_messages\": %llu, \"password_scheme\": \"%s\","
	        " \"created\": \"%s\", \"password_changed\": \"%s\"",
	        (unsigned long long)a->quota_bytes, (unsigned long long)a->quota_messages,
	        a->scheme, cli_format_time(a->created, t1, sizeof(t1)),
	        cli_format_time(a->password_changed, t2, sizeof(t2)));
}

static void json_account(FILE *f, const struct auth_account *a)
{
	fputc('{', f);
	json_account_fields(f, a);
	fputc('}', f);
}

/* Resolves the effective POP3 settings for display. */
static void describe_pop3(const struct auth_account *a, char *buf, size_t cap)
{
	const struct config *c = roost_config;
	const char *dele =
	    a->pop3_dele < 0 ? dele_name((int)c->pop3_dele) : dele_name(a->pop3_dele);
	unsigned days = a->pop3_offer_days < 0 ? c->pop3_offer_days : (unsigned)a->pop3_offer_days;
	char d[48];
	if (days == 0)
		snprintf(d, sizeof(d), "all messages");
	else
		snprintf(d, sizeof(d), "last %u days", days);
	snprintf(buf, cap, "dele=%s%s, offer %s%s", dele, a->pop3_dele < 0 ? " (default)" : "", d,
	         a->pop3_offer_days < 0 ? " (default)" : "");
}

/* --- add --- */

static int user_add(int argc, char **argv)
{
	bool json = false, from_stdin = false;
	const char *hash = NULL;
	const struct cli_option opts[] = {
	    {"json", &json, NULL},
	    {"password-stdin", &from_stdin, NULL},
	    {"password-hash", NULL, &hash},
	    {NULL, NULL, NULL},
	};
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse(argc, argv, 2, opts, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if ((rc = cli_check_args(npos, 1, 1, "missing address")) != 0)
		return rc;
	if (hash != NULL && from_stdin)
		return cli_usage_error("user add: --password-hash and --password-stdin "
		                       "exclude each other");
	if ((rc = cli_auth_open()) != 0 || (rc = cli_store_open()) != 0)
		return rc;
	char norm[AUTH_ADDRESS_MAX];
	if ((rc = cli_address(pos[0], norm)) != 0)
		return rc;

	/* Check the obvious mistakes before asking for a password. */
	char err[512];
	struct auth_account a;
	int found = auth_account_get(norm, &a, err, sizeof(err));
	if (found < 0)
		return cli_error(EX_TEMPFAIL, "user add: %s", err);
	if (found > 0)
		return cli_error(EX_CANTCREAT, "user add: %s already exists%s", norm,
		                 strcmp(a.address, norm) ? " as an alias" : "");
	const char *domain = strrchr(norm, '@') + 1;
	int dom = auth_domain_exists(domain);
	if (dom < 0)
		return cli_error(EX_TEMPFAIL, "user add: cannot read the accounts database");
	if (dom == 0)
		return cli_error(
		    EX_NOUSER,
		    "user add: domain %s does not exist (add it with: roost domain add "
		    "%s)",
		    domain, domain);

	char password[AUTH_PASSWORD_MAX + 2];
	if (hash == NULL &&
	    (rc = cli_read_password(from_stdin, true, password, sizeof(password))) != 0)
		return rc;
	enum auth_err code;
	int r = auth_account_add(norm, hash ? NULL : password, hash, &a, &code, err, sizeof(err));
	explicit_bzero(password, sizeof(password));
	if (r < 0)
		return cli_error(cli_exit_for_auth_err(code), "user add: %s", err);
	if (json) {
		json_account(stdout, &a);
		fputc('\n', stdout);
	} else {
		printf("created %s (id %lld, store %s)\n", a.address, (long long)a.id, a.user_key);
	}
	return EX_OK;
}

/* --- del --- */

static int user_del(int argc, char **argv)
{
	bool json = false, purge = false;
	const struct cli_option opts[] = {
	    {"json", &json, NULL},
	    {"purge", &purge, NULL},
	    {NULL, NULL, NULL},
	};
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse(argc, argv, 2, opts, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if ((rc = cli_check_args(npos, 1, 1, "missing address")) != 0)
		return rc;
	if ((rc = cli_auth_open()) != 0)
		return rc;
	char norm[AUTH_ADDRESS_MAX];
	if ((rc = cli_address(pos[0], norm)) != 0)
		return rc;
	if (purge && (rc = cli_store_open()) != 0)
		return rc;
	char err[512];
	enum auth_err code;
	struct auth_account a;
	if (auth_account_del(norm, &a, &code, err, sizeof(err)) < 0)
		return cli_error(cli_exit_for_auth_err(code), "user del: %s", err);
	bool purged = false;
	if (purge) {
		/* The account row is gone, so no new session can open the
		 * store; a running roostd may still have it open (INUSE). */
		if (store_user_delete(a.user_key) < 0) {
			const char *msg = "";
			store_error(&msg);
			return cli_error(EX_TEMPFAIL,
			                 "user del: %s deleted, but its mail store %s was not "
			                 "removed: %s",
			                 a.address, a.user_key, msg);
		}
		purged = true;
	}
	if (json) {
		printf("{\"deleted\": ");
		cli_json_string(stdout, a.address);
		printf(", \"user_key\": ");
		cli_json_string(stdout, a.user_key);
		printf(", \"mail_deleted\": %s}\n", purged ? "true" : "false");
	} else if (purged) {
		printf("deleted %s and its mail\n", a.address);
	} else {
		printf("deleted %s (its mail is kept in store %s; use --purge to delete it)\n",
		       a.address, a.user_key);
	}
	return EX_OK;
}

/* --- list --- */

static bool list_cb(void *vctx, const struct auth_account *a)
{
	struct cli_list *ctx = vctx;
	if (ctx->json) {
		cli_json_list_next(ctx);
		json_account(stdout, a);
	} else {
		char q[32];
		printf("%-40s %-8s %-4s %-4s %-10s %s\n", a->address,
		       a->state == AUTH_STATE_ACTIVE ? "active" : "disabled",
		       a->imap_enabled ? "on" : "off", a->pop3_enabled ? "on" : "off",
		       cli_format_bytes(a->quota_bytes, q, sizeof(q)),
		       a->require_app_password ? "yes" : "no");
	}
	ctx->n++;
	return true;
}

static int user_list(int argc, char **argv)
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
	if (!json)
		printf("%-40s %-8s %-4s %-4s %-10s %s\n", "ADDRESS", "STATE", "IMAP", "POP3",
		       "QUOTA", "APP-PASSWORD-REQUIRED");
	else
		fputs("[", stdout);
	if (auth_account_list(npos ? pos[0] : NULL, list_cb, &ctx, err, sizeof(err)) < 0) {
		if (json)
			fputs("]\n", stdout);
		return cli_error(npos ? EX_DATAERR : EX_TEMPFAIL, "user list: %s", err);
	}
	if (json)
		cli_json_list_end(&ctx);
	return EX_OK;
}

/* --- show --- */

static bool show_alias_cb(void *vctx, const char *alias, const char *target, int64_t created)
{
	struct cli_list *ctx = vctx;
	if (ctx->json) {
		if (ctx->n)
			fputs(", ", stdout);
		cli_json_string(stdout, alias);
	} else {
		printf("%s%s", ctx->n ? ", " : "", alias);
	}
	ctx->n++;
	return true;
}

static bool count_app_cb(void *vctx, const struct auth_app_password *p)
{
	(*(unsigned *)vctx)++;
	return true;
}

static int user_show(int argc, char **argv)
{
	bool json = false;
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse_json(argc, argv, &json, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if ((rc = cli_check_args(npos, 1, 1, "missing address")) != 0)
		return rc;
	if ((rc = cli_auth_open()) != 0)
		return rc;
	struct auth_account a;
	if ((rc = cli_account_get(pos[0], &a)) != 0)
		return rc;

	unsigned apps = 0;
	char err[512];
	enum auth_err code;
	auth_app_password_list(a.address, count_app_cb, &apps, &code, err, sizeof(err));

	/* Usage from the store, when it can be read (not fatal). */
	struct store_quota q = {0};
	bool have_usage = false;
	if (cli_store_open() == 0) {
		struct store_user *u = NULL;
		if (store_user_open(a.user_key, &u) == 1) {
			have_usage = store_quota_get(u, &q) == 1;
			store_user_unref(&u);
		}
	}

	struct cli_list actx = {json, 0};
	if (json) {
		fputc('{', stdout);
		json_account_fields(stdout, &a);
		printf(", \"app_passwords\": %u, \"aliases\": [", apps);
		auth_alias_list(a.address, show_alias_cb, &actx, err, sizeof(err));
		printf("]");
		if (have_usage)
			printf(", \"bytes_used\": %llu, \"messages_used\": %llu",
			       (unsigned long long)q.bytes_used,
			       (unsigned long long)q.messages_used);
		printf("}\n");
		return EX_OK;
	}
	char t1[32], t2[32], qb[32], pop[128];
	printf("address:              %s\n", a.address);
	printf("id:                   %lld\n", (long long)a.id);
	printf("store:                %s\n", a.user_key);
	printf("state:                %s\n", a.state == AUTH_STATE_ACTIVE ? "active" : "disabled");
	printf("imap:                 %s\n", a.imap_enabled ? "on" : "off");
	printf("pop3:                 %s\n", a.pop3_enabled ? "on" : "off");
	describe_pop3(&a, pop, sizeof(pop));
	printf("pop3 policy:          %s\n", pop);
	printf("require_app_password: %s\n", a.require_app_password ? "yes" : "no");
	printf("app passwords:        %u\n", apps);
	printf("quota:                %s", cli_format_bytes(a.quota_bytes, qb, sizeof(qb)));
	if (a.quota_messages)
		printf(", %llu messages", (unsigned long long)a.quota_messages);
	printf("\n");
	if (have_usage)
		printf("used:                 %llu bytes, %llu messages\n",
		       (unsigned long long)q.bytes_used, (unsigned long long)q.messages_used);
	printf("password scheme:      %s\n", a.scheme);
	printf("created:              %s\n", cli_format_time(a.created, t1, sizeof(t1)));
	printf("password changed:     %s\n", cli_format_time(a.password_changed, t2, sizeof(t2)));
	printf("aliases:              ");
	auth_alias_list(a.address, show_alias_cb, &actx, err, sizeof(err));
	printf("%s\n", actx.n ? "" : "none");
	return EX_OK;
}

/* --- passwd --- */

static int user_passwd(int argc, char **argv)
{
	bool from_stdin = false, json = false;
	const struct cli_option opts[] = {
	    {"json", &json, NULL},
	    {"password-stdin", &from_stdin, NULL},
	    {NULL, NULL, NULL},
	};
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse(argc, argv, 2, opts, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if ((rc = cli_check_args(npos, 1, 1, "missing address")) != 0)
		return rc;
	if ((rc = cli_auth_open()) != 0)
		return rc;
	struct auth_account a;
	if ((rc = cli_account_get(pos[0], &a)) != 0)
		return rc;
	char password[AUTH_PASSWORD_MAX + 2], err[512];
	if ((rc = cli_read_password(from_stdin, true, password, sizeof(password))) != 0)
		return rc;
	enum auth_err code;
	int r = auth_account_set_password(a.address, password, &code, err, sizeof(err));
	explicit_bzero(password, sizeof(password));
	if (r < 0)
		return cli_error(cli_exit_for_auth_err(code), "user passwd: %s", err);
	if (json) {
		cli_json_member_line("password_changed", a.address);
	} else {
		printf("password of %s changed\n", a.address);
	}
	return EX_OK;
}

/* --- set --- */

static int user_set(int argc, char **argv)
{
	bool json = false;
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse_json(argc, argv, &json, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if (npos == 0)
		return cli_usage_error("user set: missing address");
	if (npos == 1)
		return cli_usage_error("user set: missing key=value settings");
	if ((rc = cli_auth_open()) != 0)
		return rc;
	struct auth_account a;
	if ((rc = cli_account_get(pos[0], &a)) != 0)
		return rc;
	bool quota = false;
	for (int i = 1; i < npos; i++)
		if (strncmp(pos[i], "quota", 5) == 0)
			quota = true;
	if (quota && (rc = cli_store_open()) != 0)
		return rc;
	char err[512];
	enum auth_err code;
	if (auth_account_set(a.address, (const char *const *)pos + 1, (size_t)(npos - 1), &code,
	                     err, sizeof(err)) < 0)
		return cli_error(cli_exit_for_auth_err(code), "user set: %s", err);
	if (auth_account_get(a.address, &a, err, sizeof(err)) != 1)
		return cli_error(EX_TEMPFAIL, "user set: %s", err);
	if (json) {
		json_account(stdout, &a);
		fputc('\n', stdout);
	} else {
		printf("updated %s\n", a.address);
	}
	return EX_OK;
}

/* --- rename --- */

static int user_rename(int argc, char **argv)
{
	bool json = false;
	char *pos[MAX_ARGS];
	int npos, rc;
	if ((rc = cli_parse_json(argc, argv, &json, pos, MAX_ARGS, &npos)) != 0)
		return rc;
	if ((rc = cli_check_args(npos, 2, 2, "need the address and the new address")) != 0)
		return rc;
	if ((rc = cli_auth_open()) != 0)
		return rc;
	char a1[AUTH_ADDRESS_MAX], a2[AUTH_ADDRESS_MAX];
	if ((rc = cli_address(pos[0], a1)) != 0 || (rc = cli_address(pos[1], a2)) != 0)
		return rc;
	char err[512];
	enum auth_err code;
	if (auth_account_rename(a1, a2, &code, err, sizeof(err)) < 0)
		return cli_error(cli_exit_for_auth_err(code), "user rename: %s", err);
	if (json) {
		struct auth_account a;
		if (auth_account_get(a2, &a, err, sizeof(err)) != 1)
			return cli_error(EX_TEMPFAIL, "user rename: %s", err);
		json_account(stdout, &a);
		fputc('\n', stdout);
	} else {
		printf("renamed %s to %s\n", a1, a2);
	}
	return EX_OK;
}

int cmd_user(int argc, char **argv)
{
	static const struct cli_subcommand subs[] = {
	    {"add", user_add},       {"del", user_del},       {"list", user_list},
	    {"show", user_show},     {"passwd", user_passwd}, {"set", user_set},
	    {"rename", user_rename},
	};
	return cli_dispatch("user", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
