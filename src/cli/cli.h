/* cli.h - the `roost` admin command: command handlers and shared helpers.
 *
 * src/roost.c holds the dispatch table, one row per command:
 *     { "user", cmd_user, "user add|del|list|show|passwd|set|rename ..." },
 * To add a command: write src/cli/cmd-<name>.c with its handler, declare
 * the handler below, add a row to the table in src/roost.c.
 *
 * Handler contract: `int cmd_x(int argc, char **argv)`, argv[0] is the
 * command name ("user"), argv[argc] is NULL. When it runs, main() has
 * loaded the config (global roost_config), dropped privileges to the
 * config's `user` if started as root, set logging to stderr (warn level),
 * and called cli_set_command(). A handler that needs the accounts database
 * calls cli_auth_open() (which arranges auth_deinit() at exit). It
 * returns a sysexits(3) exit code:
 *   0 EX_OK, 64 EX_USAGE, 65 EX_DATAERR (bad data), 67 EX_NOUSER,
 *   73 EX_CANTCREAT, 75 EX_TEMPFAIL, 70 EX_SOFTWARE (bug / unexpected).
 * Messages go to stderr as "roost: <command> <sub>: <what>" (cli_error),
 * results to stdout: human-readable, or JSON with --json (one JSON value
 * per invocation, parseable by any JSON parser). */
#ifndef ROOST_CLI_H
#define ROOST_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sysexits.h>

/* --- handlers (one file each: src/cli/cmd-<name>.c) --- */
int cmd_user(int argc, char **argv);         /* cmd-user.c */
int cmd_alias(int argc, char **argv);        /* cmd-alias.c */
int cmd_domain(int argc, char **argv);       /* cmd-domain.c */
int cmd_app_password(int argc, char **argv); /* cmd-app-password.c */
int cmd_auth(int argc, char **argv);         /* cmd-auth.c */
int cmd_deliver(int argc, char **argv);      /* cmd-deliver.c */
int cmd_import(int argc, char **argv);       /* cmd-import.c */
int cmd_export(int argc, char **argv);       /* cmd-export.c */
int cmd_fsck(int argc, char **argv);         /* cmd-fsck.c */

/* --- context set by main --- */

/* Records the command being run and its usage text (from the table) for
 * cli_usage_error. */
void cli_set_command(const char *name, const char *usage);
/* Names the subcommand for messages of cli_parse and cli_read_password
 * ("user add"); the usage text stays the command's. */
void cli_set_subcommand(const char *name);

/* --- messages --- */

/* Prints "roost: <msg>\n" to stderr and returns code. */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "roost: <msg>\n" and "usage: roost <usage of the current command>\n"
 * to stderr and returns EX_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- option parsing --- */

/* One option: "--name" (flag) or "--name VALUE" / "--name=VALUE".
 * Exactly one of flag / value is non-NULL. */
struct cli_option {
	const char *name;   /* without the dashes: "json" */
	bool *flag;         /* set to true when present */
	const char **value; /* set to the argument when present */
};

/* Parses argv[first..argc-1]: options (from opts, terminated by a row with
 * name NULL) may appear anywhere; "--" ends options; everything else is
 * positional and is collected, in order, into pos (cap entries). Returns 0
 * and *npos_r, or EX_USAGE after printing the reason (unknown option,
 * missing value, too many arguments). "--help" or "-h" prints the
 * command's usage to stdout and exits with 0. */
int cli_parse(int argc, char **argv, int first, const struct cli_option *opts, char **pos, int cap,
              int *npos_r);
/* Checks the number of positional arguments of the current subcommand:
 * fewer than min is the usage error "<subcommand>: <missing>", more than
 * max "<subcommand>: too many arguments". Returns 0, or EX_USAGE after
 * printing. */
int cli_check_args(int npos, int min, int max, const char *missing);
/* cli_parse of argv[2..] (after "<command> <subcommand>") for the many
 * subcommands whose only option is --json. */
int cli_parse_json(int argc, char **argv, bool *json, char **pos, int cap, int *npos_r);

/* --- subcommands --- */

struct cli_subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
};
/* Runs subcommand argv[1] of `command` from subs (n rows), naming it for
 * messages ("alias add", cli_set_subcommand). A missing or unknown
 * subcommand is a usage error ("alias: missing subcommand", "alias:
 * unknown subcommand 'x'"). */
int cli_dispatch(const char *command, const struct cli_subcommand *subs, size_t n, int argc,
                 char **argv);

/* --- JSON output --- */

/* Writes s as a JSON string (quotes, escapes, control bytes as \u00XX;
 * invalid UTF-8 bytes replaced by U+FFFD so the output always parses). */
void cli_json_string(FILE *f, const char *s);

/* Writes {"<key>": <value as a JSON string>} and a newline to stdout. */
void cli_json_member_line(const char *key, const char *value);

/* A listing on stdout, as a table or (json) a JSON array with one element
 * per line: n counts the elements written so far. */
struct cli_list {
	bool json;
	unsigned n;
};
/* Before a JSON array element: the separator and indentation. */
void cli_json_list_next(const struct cli_list *list);
/* Closes the JSON array ("]" and a newline). */
void cli_json_list_end(const struct cli_list *list);

/* --- passwords --- */

struct auth_account;
/* The account with this address or alias (auth_account_get), or prints
 * "roost: <subcommand>: <address> does not exist" (EX_NOUSER) or the
 * database error (EX_TEMPFAIL) and returns that code. 0 when found. */
int cli_account_get(const char *address, struct auth_account *a);

/* Canonical address (auth_address_canonical: default domain for a bare
 * local part), or prints "roost: <cmd>: invalid address '...': why" and
 * returns EX_DATAERR. out needs AUTH_ADDRESS_MAX bytes. */
int cli_address(const char *address, char *out);

/* Reads a password: from_stdin reads one line from standard input (the
 * newline removed); otherwise prompts on the terminal (/dev/tty) with echo
 * off, twice when confirm, and refuses a mismatch. Never from argv.
 * Empty passwords are refused. Returns 0 with the password in buf, or an
 * exit code after printing why (no terminal: EX_USAGE suggesting
 * --password-stdin). */
int cli_read_password(bool from_stdin, bool confirm, char *buf, size_t cap);

/* --- helpers --- */

/* auth_init with the loaded config (creating data_dir if missing); prints
 * the error and returns EX_TEMPFAIL (or EX_CANTCREAT), 0 on success. Safe
 * to call twice; auth_deinit runs at exit. It does not open the store. */
int cli_auth_open(void);
/* store_init(data_dir) once; store_deinit at exit. 0 or EX_TEMPFAIL. */
int cli_store_open(void);
/* Maps an enum auth_err (auth/auth.h) to an exit code. */
int cli_exit_for_auth_err(int auth_err);
/* "2026-11-26 13:45:00Z" (UTC) into buf; "never" for 0. */
const char *cli_format_time(int64_t t, char *buf, size_t cap);
/* 10737418240 -> "10G" when exact, else bytes; 0 -> "unlimited". */
const char *cli_format_bytes(uint64_t n, char *buf, size_t cap);

#endif
