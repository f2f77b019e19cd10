/* cmd-compress.c - COMPRESS DEFLATE (RFC 4978). Compression starts right
 * after the tagged OK; a second COMPRESS gets NO [COMPRESSIONACTIVE]. */
#include "imap/imap-commands.h"

int cmd_compress(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct str alg;
	if (!imap_arg_get_atom(&cmd->args[0], &alg) || cmd->args[1].type != IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "COMPRESS needs one algorithm name");
		return 1;
	}
	if (!str_eq_cstr_nocase(alg, "DEFLATE")) {
		imap_cmd_no(cmd, "Unknown compression algorithm (only DEFLATE)");
		return 1;
	}
	if (conn_is_compressed(s->conn) || s->compress_pending) {
		imap_cmd_no(cmd, "[COMPRESSIONACTIVE] Compression is already active");
		return 1;
	}
	s->compress_pending = true;
	imap_cmd_ok(cmd, "DEFLATE active");
	return 1;
}
