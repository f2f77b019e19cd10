/* cmd-enable.c - ENABLE (RFC 5161, RFC 9051 6.3.1): CONDSTORE, QRESYNC
 * (RFC 7162 3.2.3: implies CONDSTORE), IMAP4rev2, UTF8=ACCEPT (RFC 6855).
 * Unknown names are ignored; "* ENABLED" lists what this command newly
 * enabled. */
#include "imap/imap-commands.h"

int cmd_enable(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	unsigned add = 0;
	if (cmd->args[0].type == IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "ENABLE needs at least one capability");
		return 1;
	}
	for (const struct imap_arg *a = cmd->args; a->type != IMAP_ARG_EOL; a++) {
		struct str name;
		if (!imap_arg_get_atom(a, &name)) {
			imap_cmd_bad(cmd, "ENABLE takes capability names");
			return 1;
		}
		if (str_eq_cstr_nocase(name, "CONDSTORE"))
			add |= IMAP_ENABLED_CONDSTORE;
		else if (str_eq_cstr_nocase(name, "QRESYNC"))
			add |= IMAP_ENABLED_QRESYNC | IMAP_ENABLED_CONDSTORE;
		else if (str_eq_cstr_nocase(name, "IMAP4rev2"))
			add |= IMAP_ENABLED_IMAP4REV2;
		else if (str_eq_cstr_nocase(name, "UTF8=ACCEPT"))
			add |= IMAP_ENABLED_UTF8;
	}
	unsigned newly = add & ~s->enabled;
	s->enabled |= add;
	struct buf b = BUF_INIT(0);
	buf_append_cstr(&b, "* ENABLED");
	if (newly & IMAP_ENABLED_CONDSTORE)
		buf_append_cstr(&b, " CONDSTORE");
	if (newly & IMAP_ENABLED_QRESYNC)
		buf_append_cstr(&b, " QRESYNC");
	if (newly & IMAP_ENABLED_IMAP4REV2)
		buf_append_cstr(&b, " IMAP4rev2");
	if (newly & IMAP_ENABLED_UTF8)
		buf_append_cstr(&b, " UTF8=ACCEPT");
	buf_append_cstr(&b, "\r\n");
	imap_session_write_buf(s, &b);
	buf_free(&b);
	imap_cmd_ok(cmd, "ENABLE completed");
	return 1;
}
