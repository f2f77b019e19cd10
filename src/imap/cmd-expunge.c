/* cmd-expunge.c - EXPUNGE and UID EXPUNGE (RFC 9051 6.4.3; RFC 4315 2.1).
 *
 * Only messages the client knows (those in its view) are expunged: a new
 * message with \Deleted that arrived since the last EXISTS stays until
 * the client has seen it. The EXPUNGE responses (or VANISHED under
 * QRESYNC) come from the view, highest sequence number first. */
#include "imap/imap-commands.h"

#include "imap/imap-seqset.h"
#include "lib/pool.h"

int cmd_expunge(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct imap_seqset msns = IMAP_SEQSET_INIT, uids = IMAP_SEQSET_INIT;
	struct store_uidset set;
	const char *err;

	if (cmd->uid) {
		struct str set_text;
		if (!imap_arg_get_atom(&cmd->args[0], &set_text) ||
		    cmd->args[1].type != IMAP_ARG_EOL) {
			imap_cmd_bad(cmd, "UID EXPUNGE needs a UID set");
			return 1;
		}
		if (imap_seqset_to_msns(s, set_text, true, &msns, &err) < 0) {
			imap_cmd_bad(cmd, "%s", err);
			return 1;
		}
	} else {
		if (cmd->args[0].type != IMAP_ARG_EOL) {
			imap_cmd_bad(cmd, "EXPUNGE takes no arguments");
			return 1;
		}
		uint32_t count = imap_view_count(s);
		if (count > 0 && imap_seqset_add_range(&msns, 1, count) < 0) {
			imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
			return 1;
		}
	}
	if (s->view.readonly) {
		imap_seqset_clear(&msns);
		imap_cmd_no(cmd, "[READ-ONLY] The mailbox is open read-only");
		return 1;
	}
	int ret = imap_seqset_msns_to_store(s, &msns, cmd->pool, &uids, &set);
	imap_seqset_clear(&msns);
	imap_seqset_clear(&uids);
	if (ret < 0) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	if (set.count == 0) {
		imap_cmd_ok(cmd, "%s completed", cmd->name);
		return 1;
	}
	struct store_uid_array expunged = { NULL, 0, 0 };
	if (store_expunge(s->user, s->view.mailbox_id, &set, true, &expunged) < 0) {
		imap_cmd_no_store_error(cmd);
		return 1;
	}
	imap_view_expunged(s, expunged.uids, expunged.count, false);
	store_uid_array_free(&expunged);
	imap_cmd_ok(cmd, "%s completed", cmd->name);
	return 1;
}
