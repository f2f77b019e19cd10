/* cmd-fsck.c - `roost fsck [--json] [--quiet] USER|--all`.
 *
 * Checks and repairs mail stores (store_fsck, docs/storage.md): removes
 * temp files left by crashed writers and message files no row references,
 * fixes blob refcounts, recomputes mailbox counters and quota usage,
 * raises UIDNEXT/HIGHESTMODSEQ that are below the rows, rebuilds missing
 * or outdated MIME caches, and reports message files that are missing or
 * have the wrong size (those rows are kept). Safe to re-run, and safe
 * while roostd runs (it holds the user's write lock while it works).
 *
 * USER is an address (or alias) of an account, or a store key such as
 * "u17" (for a store whose account is gone). --all checks every store
 * under data_dir/users.
 *
 * Exit codes: 0 all consistent (after repairs), 65 a message file is
 * missing or has the wrong size, 67 no such user, 75 temporary failure. */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "auth/auth.h"
#include "cli/cli.h"
#include "store/store.h"

struct fsck_run {
	bool json, quiet;
	unsigned users;
	int exit_code;
	const char *label;   /* what the user typed, for messages */
	bool first_line;     /* JSON: no problem printed yet for this user */
};

static void problem_line(void *ctx, const char *line)
{
	struct fsck_run *r = ctx;
	if (r->json) {
		fputs(r->first_line ? "" : ",", stdout);
		cli_json_string(stdout, line);
		r->first_line = false;
	} else if (!r->quiet) {
		printf("  %s\n", line);
	}
}

static int fsck_one(struct fsck_run *r, const char *key)
{
	struct store_fsck_report rep;
	if (r->json) {
		printf("%s{\"user\":", r->users ? "," : "");
		cli_json_string(stdout, key);
		fputs(",\"problems\":[", stdout);
		r->first_line = true;
	} else if (!r->quiet) {
		printf("%s:\n", key);
	}
	r->users++;
	int ret = store_fsck(key, &rep, problem_line, r);
	if (ret < 0) {
		const char *msg;
		enum store_error e = store_error(&msg);
		if (r->json)
			printf("],\"error\":\"%s\"}", store_error_imap_code(e));
		fflush(stdout);
		cli_error(e == STORE_ERR_NONEXISTENT ? EX_NOUSER : EX_TEMPFAIL, "fsck: %s: %s",
			  r->label ? r->label : key, msg);
		if (r->exit_code == 0 || r->exit_code == EX_DATAERR)
			r->exit_code = e == STORE_ERR_NONEXISTENT ? EX_NOUSER : EX_TEMPFAIL;
		return 0; /* go on with the other users */
	}
	if (rep.missing_files || rep.wrong_size) {
		if (r->exit_code == 0)
			r->exit_code = EX_DATAERR;
	}
	if (r->json) {
		printf("],\"temp_removed\":%u,\"orphans_removed\":%u,\"missing_files\":%u,"
		       "\"wrong_size\":%u,\"blobs_fixed\":%u,\"counters_fixed\":%u,"
		       "\"modseq_fixed\":%u,\"caches_rebuilt\":%u}",
		       rep.temp_removed, rep.orphans_removed, rep.missing_files, rep.wrong_size,
		       rep.blobs_fixed, rep.counters_fixed, rep.modseq_fixed, rep.caches_rebuilt);
	} else if (!r->quiet || rep.missing_files || rep.wrong_size) {
		printf("%s%s: temp removed %u, orphans removed %u, missing %u, wrong size %u,"
		       " refcounts fixed %u, counters fixed %u, modseq fixed %u,"
		       " caches rebuilt %u\n",
		       r->quiet ? "" : "  ", r->quiet ? key : "result", rep.temp_removed,
		       rep.orphans_removed, rep.missing_files, rep.wrong_size, rep.blobs_fixed,
		       rep.counters_fixed, rep.modseq_fixed, rep.caches_rebuilt);
	}
	fflush(stdout);
	return 0;
}

static int fsck_each(void *ctx, const char *key)
{
	return fsck_one(ctx, key);
}

int cmd_fsck(int argc, char **argv)
{
	bool json = false, quiet = false, all = false;
	const struct cli_option opts[] = {
		{ "json", &json, NULL },
		{ "quiet", &quiet, NULL },
		{ "all", &all, NULL },
		{ NULL, NULL, NULL },
	};
	char *pos[1];
	int npos = 0;
	int rc = cli_parse(argc, argv, 1, opts, pos, 1, &npos);
	if (rc != 0)
		return rc;
	if (all == (npos == 1))
		return cli_usage_error("fsck: give either USER or --all");
	if ((rc = cli_store_open()) != 0)
		return rc;

	struct fsck_run r = { .json = json, .quiet = quiet };
	if (json)
		fputs("[", stdout);
	if (all) {
		if (store_user_foreach(fsck_each, &r) < 0) {
			const char *msg;
			store_error(&msg);
			if (json)
				puts("]");
			return cli_error(EX_TEMPFAIL, "fsck: %s", msg);
		}
	} else {
		/* An account address first; else a raw store key. */
		char key[STORE_USER_KEY_MAX + 1];
		const char *user = pos[0];
		if (store_user_exists(user) == 1) {
			snprintf(key, sizeof(key), "%s", user);
		} else {
			if ((rc = cli_auth_open()) != 0)
				return rc;
			struct auth_account acct;
			char err[256];
			int ret = auth_account_get(user, &acct, err, sizeof(err));
			if (ret < 0)
				return cli_error(EX_TEMPFAIL, "fsck: %s", err);
			if (ret == 0)
				return cli_error(EX_NOUSER, "fsck: %s: no such user", user);
			snprintf(key, sizeof(key), "%s", acct.user_key);
		}
		r.label = user;
		fsck_one(&r, key);
	}
	if (json)
		puts("]");
	return r.exit_code;
}
