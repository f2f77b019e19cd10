/* cmd-deliver.c - `roost deliver`: a local delivery agent for MTAs.
 *
 *   roost deliver -u USER [-m FOLDER] [-f SENDER] < message
 *
 * (-d USER is accepted as well, as dovecot-lda spells it; long forms
 * --user, --mailbox, --from.)
 *
 * Reads one message from standard input and stores it for USER (an
 * address, alias or plus-address, as LMTP's RCPT TO takes it), with the
 * same "Return-Path:" and "Delivered-To:" fields LMTP adds. The message is
 * streamed into a store blob (never held whole), with bare LF turned into
 * CRLF. A leading mbox "From " line, which some MTAs prepend, is dropped
 * (its address becomes the sender when -f is not given). A running roostd
 * learns of the new message through the store's change notification, so
 * IDLE sessions see it at once.
 *
 * Exit codes (sysexits(3); what MTAs such as Postfix expect):
 *   0  EX_OK         stored durably
 *   64 EX_USAGE      bad arguments
 *   65 EX_DATAERR    empty message, NUL bytes, larger than lmtp.max_message_size
 *   67 EX_NOUSER     no such user
 *   69 EX_UNAVAILABLE the account is disabled
 *   73 EX_CANTCREAT  over quota (permanent, like LMTP's 552 5.2.2)
 *   75 EX_TEMPFAIL   anything temporary (database busy, disk full, I/O)
 * See docs/delivery.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cli/cli.h"
#include "lib/config.h"
#include "lmtp/lmtp-deliver.h"
#include "store/store.h"

#define DELIVER_READ_SIZE (64 * 1024)

static int open_store(void)
{
	int rc = cli_auth_open();
	return rc != 0 ? rc : cli_store_open();
}

static int exit_for_store_error(enum store_error err)
{
	switch (err) {
	case STORE_ERR_OVERQUOTA:
		return EX_CANTCREAT;
	case STORE_ERR_LIMIT:
		return EX_DATAERR;
	case STORE_ERR_NONEXISTENT:
		return EX_NOUSER;
	default:
		return EX_TEMPFAIL;
	}
}

/* A header-safe address: printable, no CR/LF/NUL, no '<' or '>'. */
static bool address_ok(const char *a)
{
	if (strlen(a) >= AUTH_ADDRESS_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)a; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return false;
	return true;
}

/* The sender of an mbox "From sender date" line, into out. */
static void from_line_sender(const char *line, size_t len, char *out, size_t cap)
{
	size_t i = 5, start;
	while (i < len && line[i] == ' ')
		i++;
	start = i;
	while (i < len && line[i] != ' ' && line[i] != '\r' && line[i] != '\n')
		i++;
	size_t n = i - start;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, line + start, n);
	out[n] = '\0';
	/* "MAILER-DAEMON" marks a bounce: the null sender. */
	if (strcmp(out, "MAILER-DAEMON") == 0 || !address_ok(out))
		out[0] = '\0';
}

int cmd_deliver(int argc, char **argv)
{
	const char *user = NULL, *folder = NULL, *sender = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;
		/* -d as dovecot-lda spells it, so existing MTA setups only
		 * change the program name. */
		if (!strcmp(a, "-u") || !strcmp(a, "-d") || !strcmp(a, "--user"))
			dst = &user;
		else if (!strcmp(a, "-m") || !strcmp(a, "--mailbox"))
			dst = &folder;
		else if (!strcmp(a, "-f") || !strcmp(a, "--from"))
			dst = &sender;
		else
			return cli_usage_error("deliver: unexpected argument '%s'", a);
		if (i + 1 >= argc)
			return cli_usage_error("deliver: %s needs a value", a);
		*dst = argv[++i];
	}
	if (user == NULL || user[0] == '\0')
		return cli_usage_error("deliver: -u USER is required");
	if (!address_ok(user))
		return cli_usage_error("deliver: bad user address '%s'", user);
	if (sender != NULL && !address_ok(sender))
		return cli_usage_error("deliver: bad sender address");
	if (folder != NULL && (folder[0] == '\0' || strlen(folder) > STORE_MAILBOX_NAME_MAX))
		return cli_usage_error("deliver: bad folder name");

	int rc = open_store();
	if (rc != 0)
		return rc;

	struct auth_recipient rcpt;
	int ret = auth_lookup_recipient(user, &rcpt);
	if (ret < 0)
		return cli_error(EX_TEMPFAIL, "deliver: temporary failure looking up %s", user);
	if (ret == 0)
		return cli_error(EX_NOUSER, "deliver: %s: no such user", user);
	if (!rcpt.active)
		return cli_error(EX_UNAVAILABLE, "deliver: %s: mailbox disabled", user);

	struct store_user *u = NULL;
	const char *msg;
	if (store_user_open(rcpt.user_key, &u) < 0) {
		enum store_error e = store_error(&msg);
		return cli_error(exit_for_store_error(e), "deliver: %s: %s", user, msg);
	}
	ret = lmtp_deliver_quota_check(u, &rcpt, 0);
	if (ret <= 0) {
		if (ret < 0)
			store_error(&msg);
		store_user_unref(&u);
		if (ret == 0)
			return cli_error(EX_CANTCREAT, "deliver: %s: mailbox is full (over quota)",
					 user);
		return cli_error(EX_TEMPFAIL, "deliver: %s: quota check failed: %s", user, msg);
	}

	char *in = malloc(DELIVER_READ_SIZE);
	struct store_blob *blob = NULL;
	if (in == NULL) {
		store_user_unref(&u);
		return cli_error(EX_TEMPFAIL, "deliver: out of memory");
	}
	uint64_t limit = roost_config->lmtp_max_message_size;
	uint64_t total = 0;
	bool first = true;
	char from_sender[AUTH_ADDRESS_MAX] = "";
	rc = EX_OK;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, in, DELIVER_READ_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cli_error(EX_TEMPFAIL, "deliver: reading the message: %s",
				       strerror(errno));
			break;
		}
		if (n == 0)
			break;
		const char *p = in;
		size_t len = (size_t)n;
		if (first) {
			first = false;
			/* The mbox separator some MTAs prepend. It is assumed
			 * to fit in the first read (a line of a few hundred
			 * bytes at most). */
			if (len >= 5 && memcmp(p, "From ", 5) == 0) {
				const char *nl = memchr(p, '\n', len);
				size_t line_len = nl ? (size_t)(nl - p) + 1 : len;
				from_line_sender(p, line_len, from_sender, sizeof(from_sender));
				p += line_len;
				len -= line_len;
			}
			if (store_blob_begin(u, true, &blob) < 0 ||
			    lmtp_deliver_headers(blob,
						 sender ? sender : (from_sender[0] ? from_sender : ""),
						 user) < 0) {
				rc = cli_error(exit_for_store_error(store_error(&msg)),
					       "deliver: cannot store: %s", msg);
				break;
			}
		}
		if (memchr(p, '\0', len) != NULL) {
			rc = cli_error(EX_DATAERR, "deliver: the message contains NUL bytes");
			break;
		}
		total += len;
		if (total > limit) {
			rc = cli_error(EX_DATAERR,
				       "deliver: message too big (limit %llu bytes, "
				       "lmtp.max_message_size)",
				       (unsigned long long)limit);
			break;
		}
		if (len > 0 && store_blob_write(blob, p, len) < 0) {
			rc = cli_error(exit_for_store_error(store_error(&msg)),
				       "deliver: cannot store: %s", msg);
			break;
		}
	}
	free(in);
	if (rc == EX_OK && total == 0)
		rc = cli_error(EX_DATAERR, "deliver: empty message");
	if (rc != EX_OK) {
		store_blob_abort(&blob);
		store_user_unref(&u);
		return rc;
	}

	uint64_t mailbox_id;
	char mailbox[STORE_MAILBOX_NAME_MAX + 1];
	const char *want = folder != NULL ? folder : rcpt.folder;
	if (lmtp_deliver_mailbox(u, want, &mailbox_id, mailbox, sizeof(mailbox)) < 0) {
		store_blob_abort(&blob);
		rc = cli_error(exit_for_store_error(store_error(&msg)), "deliver: %s: %s", user,
			       msg);
		store_user_unref(&u);
		return rc;
	}
	struct store_append_req req = { 0 };
	uint32_t uid, uidvalidity;
	if (store_append(u, mailbox_id, &blob, &req, &uid, &uidvalidity) < 0) {
		rc = cli_error(exit_for_store_error(store_error(&msg)), "deliver: %s: %s", user,
			       msg);
		store_user_unref(&u);
		return rc;
	}
	store_user_unref(&u);
	return EX_OK;
}
