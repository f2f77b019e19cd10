/* imap-capability.c - the capabilities of the mailbox and message
 * features, advertised after the core ones (imap-session.c). Each one is
 * listed here only because it is implemented. */
#include <inttypes.h>

#include "imap/imap-internal.h"
#include "lib/config.h"

void imap_append_feature_capabilities(const struct imap_session *s, struct buf *out)
{
	buf_append_cstr(out, " UIDPLUS MOVE SPECIAL-USE CREATE-SPECIAL-USE CHILDREN"
			     " LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES CONDSTORE QRESYNC"
			     " STATUS=SIZE BINARY UTF8=ACCEPT MULTIAPPEND");
	buf_printf(out, " APPENDLIMIT=%" PRIu64, roost_config->imap_append_limit);
}
