/* cmd-create.c - CREATE (RFC 9051 6.3.4) with the USE parameter of
 * CREATE-SPECIAL-USE (RFC 6154 3). Missing parents are created by the
 * store; every new mailbox gets its own UIDVALIDITY. */
#include <string.h>

#include "imap/imap-commands.h"
#include "imap/imap-internal.h"
#include "lib/pool.h"

static const struct {
	const char *name;
	uint32_t bit;
} special_uses[] = {
	{ "\\All", STORE_SPECIAL_ALL },	    { "\\Archive", STORE_SPECIAL_ARCHIVE },
	{ "\\Drafts", STORE_SPECIAL_DRAFTS }, { "\\Flagged", STORE_SPECIAL_FLAGGED },
	{ "\\Junk", STORE_SPECIAL_JUNK },	    { "\\Sent", STORE_SPECIAL_SENT },
	{ "\\Trash", STORE_SPECIAL_TRASH },
};

/* Parses the mailbox argument of CREATE/DELETE/RENAME/SUBSCRIBE. A
 * trailing "/" (RFC 9051 6.3.4: "intends to create names under it") is
 * dropped. Returns 1, or -1 after recording NO/BAD. */
int imap_mailbox_arg(struct imap_cmd *cmd, const struct imap_arg *arg, bool strip_delim,
		     const char **name_r)
{
	struct str wire;
	const char *err;
	if (!imap_arg_get_astring(arg, &wire)) {
		imap_cmd_bad(cmd, "%s needs a mailbox name", cmd->name);
		return -1;
	}
	if (strip_delim && wire.len > 1 && wire.p[wire.len - 1] == '/')
		wire.len--;
	if (wire.len == 0) {
		imap_cmd_no(cmd, "[CANNOT] Empty mailbox name");
		return -1;
	}
	if (imap_session_mailbox_from_wire(cmd->session, wire, cmd->pool, name_r, &err) < 0) {
		imap_cmd_no(cmd, "[CANNOT] %s", err);
		return -1;
	}
	return 1;
}

struct create_req {
	const char *name;
	uint32_t use;
};

static int create_call(struct store_user *u, void *ctx)
{
	struct create_req *req = ctx;
	return store_mailbox_create(u, req->name, req->use, NULL);
}

int cmd_create(struct imap_cmd *cmd)
{
	const char *name;
	uint32_t use = 0;

	if (imap_mailbox_arg(cmd, &cmd->args[0], true, &name) < 0)
		return 1;
	if (cmd->args[1].type != IMAP_ARG_EOL) {
		/* (USE (\Sent ...)) */
		const struct imap_arg *params, *uses;
		size_t n, nu;
		if (!imap_arg_get_list(&cmd->args[1], &params, &n) || n != 2 ||
		    !imap_arg_atom_equals(&params[0], "USE") ||
		    !imap_arg_get_list(&params[1], &uses, &nu) ||
		    cmd->args[2].type != IMAP_ARG_EOL) {
			imap_cmd_bad(cmd, "Invalid CREATE parameters");
			return 1;
		}
		for (size_t i = 0; i < nu; i++) {
			struct str flag;
			size_t k;
			if (!imap_arg_get_atom(&uses[i], &flag)) {
				imap_cmd_bad(cmd, "Invalid special-use attribute");
				return 1;
			}
			for (k = 0; k < sizeof(special_uses) / sizeof(special_uses[0]); k++)
				if (str_eq_cstr_nocase(flag, special_uses[k].name))
					break;
			if (k == sizeof(special_uses) / sizeof(special_uses[0])) {
				/* RFC 6154 6: unknown attribute */
				imap_cmd_no(cmd, "[USEATTR] Unsupported special-use attribute");
				return 1;
			}
			use |= special_uses[k].bit;
		}
	}
	struct create_req *req = pool_alloc(cmd->pool, sizeof(*req));
	if (req == NULL) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	req->name = name;
	req->use = use;
	return imap_cmd_store_async(cmd, create_call, req, NULL);
}
