/* roost.c - the admin command line: `roost [-c CONFIG] COMMAND ...`.
 *
 * main() loads the configuration (-c, else $ROOST_CONFIG, else
 * /etc/roost/roost.conf), drops root privileges to the config's `user` so
 * that files it creates stay owned by the daemon's user, and dispatches to
 * the command's handler through the table below. Handlers live in
 * src/cli/cmd-<name>.c and follow the contract in src/cli/cli.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli/cli.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/privdrop.h"

#define ROOST_DEFAULT_CONFIG "/etc/roost/roost.conf"

struct cli_command {
	const char *name;
	int (*handler)(int argc, char **argv);
	const char *usage; /* after "roost "; lines separated by "\n       roost " */
};

static int cmd_help(int argc, char **argv);

/* The dispatch table. Keep it in the order `roost help` should list it. */
static const struct cli_command commands[] = {
	{ "help", cmd_help, "help [COMMAND]" },
	{ "user", cmd_user,
	  "user add ADDRESS [--password-stdin | --password-hash HASH] [--json]\n"
	  "       roost user del ADDRESS [--purge] [--json]\n"
	  "       roost user list [DOMAIN] [--json]\n"
	  "       roost user show ADDRESS [--json]\n"
	  "       roost user passwd ADDRESS [--password-stdin] [--json]\n"
	  "       roost user set ADDRESS KEY=VALUE... [--json]\n"
	  "         (imap=on|off pop3=on|off state=active|disabled quota=SIZE|unlimited\n"
	  "          quota_messages=N require_app_password=yes|no\n"
	  "          pop3_dele=expunge|keep|trash|default pop3_offer_days=N|default)\n"
	  "       roost user rename ADDRESS NEW-ADDRESS [--json]" },
	{ "alias", cmd_alias,
	  "alias add ALIAS TARGET [--json]\n"
	  "       roost alias del ALIAS [--json]\n"
	  "       roost alias list [TARGET] [--json]" },
	{ "domain", cmd_domain,
	  "domain add DOMAIN [--json]\n"
	  "       roost domain del DOMAIN [--json]\n"
	  "       roost domain list [--json]" },
	{ "app-password", cmd_app_password,
	  "app-password add USER LABEL [--json]\n"
	  "       roost app-password list USER [--json]\n"
	  "       roost app-password revoke USER ID [--json]" },
	{ "auth", cmd_auth,
	  "auth test ADDRESS [--protocol imap|pop3|smtp|web] [--password-stdin] [--json]\n"
	  "       roost auth sasl MECHANISM [--protocol imap|pop3|smtp|web] [--json]" },
	{ "deliver", cmd_deliver, "deliver -u USER [-m FOLDER] [-f SENDER] < MESSAGE" },
	{ "import", cmd_import, "import maildir|mbox PATH USER [FOLDER]" },
	{ "export", cmd_export, "export mbox|maildir USER PATH [FOLDER]" },
	{ "fsck", cmd_fsck, "fsck USER|--all [--quiet] [--json]" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_usage(FILE *f)
{
	fprintf(f, "usage: roost [-c CONFIG] COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  roost %s\n", commands[i].usage);
}

static int cmd_help(int argc, char **argv)
{
	if (argc > 1) {
		const struct cli_command *c = find_command(argv[1]);
		if (c == NULL)
			return cli_error(EX_USAGE, "help: unknown command '%s'", argv[1]);
		printf("usage: roost %s\n", c->usage);
		return EX_OK;
	}
	print_usage(stdout);
	return EX_OK;
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	int i = 1;

	/* Global options come before the command. */
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc)
				return cli_error(EX_USAGE, "%s needs a file name", argv[i]);
			config_path = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			config_path = argv[i] + 9;
			i++;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			print_usage(stdout);
			return EX_OK;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			fprintf(stderr, "roost: unknown option '%s'\n", argv[i]);
			print_usage(stderr);
			return EX_USAGE;
		}
	}
	if (i >= argc) {
		print_usage(stderr);
		return EX_USAGE;
	}
	const struct cli_command *cmd = find_command(argv[i]);
	if (cmd == NULL) {
		fprintf(stderr, "roost: unknown command '%s'\n", argv[i]);
		print_usage(stderr);
		return EX_USAGE;
	}
	cli_set_command(cmd->name, cmd->usage);
	if (cmd->handler == cmd_help)
		return cmd_help(argc - i, argv + i);

	if (config_path == NULL)
		config_path = getenv("ROOST_CONFIG");
	if (config_path == NULL || config_path[0] == '\0')
		config_path = ROOST_DEFAULT_CONFIG;

	char err[512];
	struct config *config = NULL;
	if (config_load(config_path, &config, err, sizeof(err)) < 0)
		return cli_error(EX_CONFIG, "%s", err);
	roost_config = config;

	/* Work as the daemon's user, so that what we create (accounts.db,
	 * stores) belongs to it. An empty `user` means "stay who we are". */
	if (config->run_user != NULL && config->run_user[0] != '\0' &&
	    priv_drop(config->run_user, err, sizeof(err)) < 0) {
		cli_error(EX_CONFIG, "cannot switch to user '%s': %s", config->run_user, err);
		config_free(&config);
		return EX_CONFIG;
	}

	log_set_level(LOG_LVL_WARN);

	int rc = cmd->handler(argc - i, argv + i);

	roost_config = NULL;
	config_free(&config);
	return rc;
}
