/* cmd-id.c - ID (RFC 2971), allowed in every state. The client's fields
 * are logged (name and version help when users report problems); we
 * answer with our name only. */
#include <stdio.h>

#include "imap/imap-commands.h"
#include "lib/log.h"

#define ID_MAX_FIELDS 30 /* RFC 2971 3.3 */
#define ID_MAX_FIELD_LEN 1024

int cmd_id(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	const struct imap_arg *args = cmd->args;
	const struct imap_arg *list;
	size_t count;

	if (args[0].type == IMAP_ARG_NIL) {
		/* nothing to learn */
	} else if (imap_arg_get_list(&args[0], &list, &count)) {
		if (count % 2 != 0 || count / 2 > ID_MAX_FIELDS) {
			imap_cmd_bad(cmd, "ID needs up to 30 field-value pairs");
			return 1;
		}
		char name[64] = "", version[64] = "";
		for (size_t i = 0; i < count; i += 2) {
			struct str key, value;
			if (!imap_arg_get_string(&list[i], &key) || key.len > 30) {
				imap_cmd_bad(cmd, "ID field names are strings of at most 30 bytes");
				return 1;
			}
			if (list[i + 1].type == IMAP_ARG_NIL)
				continue;
			if (!imap_arg_get_string(&list[i + 1], &value) ||
			    value.len > ID_MAX_FIELD_LEN) {
				imap_cmd_bad(cmd, "ID values are strings of at most 1024 bytes or NIL");
				return 1;
			}
			if (str_eq_cstr_nocase(key, "name"))
				str_copy_cstr(value, name, sizeof(name));
			else if (str_eq_cstr_nocase(key, "version"))
				str_copy_cstr(value, version, sizeof(version));
		}
		char qn[140], qv[140];
		log_info("imap-client-id", "%s client=%s version=%s", conn_log_prefix(s->conn),
			 log_quote(name, qn, sizeof(qn)), log_quote(version, qv, sizeof(qv)));
	} else {
		imap_cmd_bad(cmd, "ID needs a parenthesised list or NIL");
		return 1;
	}
	if (args[1].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "ID takes one argument");
		return 1;
	}
	imap_session_write_cstr(s, "* ID (\"name\" \"Roost\" \"vendor\" \"Roost\")\r\n");
	imap_cmd_ok(cmd, "ID completed");
	return 1;
}
