#include "lmtp/lmtp-deliver.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"

int lmtp_deliver_headers(struct store_blob *blob, const char *sender, const char *rcpt)
{
	/* The addresses come from parsed MAIL/RCPT arguments or the command
	 * line: no CR or LF can be in them (checked by the callers), so the
	 * header fields cannot be split. */
	struct buf b = BUF_INIT(4096);
	int ret = buf_printf(&b, "Return-Path: <%s>\r\nDelivered-To: <%s>\r\n", sender, rcpt);
	if (ret > 0)
		ret = store_blob_write(blob, b.data, b.len);
	buf_free(&b);
	return ret < 0 ? -1 : 1;
}

int lmtp_deliver_quota_check(struct store_user *u, const struct auth_recipient *rcpt,
			     uint64_t size_hint)
{
	struct store_quota q;
	if (store_quota_get(u, &q) < 0)
		return -1;
	uint64_t bytes_limit = q.bytes_limit != 0 ? q.bytes_limit : rcpt->quota_bytes;
	uint64_t msgs_limit = q.messages_limit != 0 ? q.messages_limit : rcpt->quota_messages;
	if (bytes_limit != 0) {
		if (q.bytes_used >= bytes_limit)
			return 0;
		if (size_hint != 0 && size_hint > bytes_limit - q.bytes_used)
			return 0;
	}
	if (msgs_limit != 0 && q.messages_used >= msgs_limit)
		return 0;
	return 1;
}

int lmtp_deliver_mailbox(struct store_user *u, const char *folder, uint64_t *mailbox_id_r,
			 char *name_r, size_t cap)
{
	char name_buf[STORE_MAILBOX_NAME_MAX + 1];
	struct store_mailbox_info info;

	if (folder != NULL && folder[0] != '\0' && strcasecmp(folder, "inbox") != 0) {
		int ret = store_mailbox_lookup(u, folder, &info, name_buf);
		/* An invalid name (-1, BADNAME) or a missing or \Noselect
		 * folder: deliver to INBOX, as for an unknown detail. */
		if (ret == 1 && (info.attrs & STORE_MBOX_NOSELECT) == 0) {
			*mailbox_id_r = info.id;
			snprintf(name_r, cap, "%s", info.name);
			return 1;
		}
	}
	int ret = store_mailbox_lookup(u, "INBOX", &info, name_buf);
	if (ret < 0)
		return -1;
	if (ret == 0) {
		/* INBOX always exists in a healthy store. */
		if (store_mailbox_create(u, "INBOX", 0, NULL) < 0 ||
		    store_mailbox_lookup(u, "INBOX", &info, name_buf) != 1)
			return -1;
	}
	*mailbox_id_r = info.id;
	snprintf(name_r, cap, "INBOX");
	return 1;
}

void lmtp_deliver_failure(enum store_error err, struct lmtp_failure *f_r)
{
	switch (err) {
	case STORE_ERR_OVERQUOTA:
		/* RFC 3463 X.2.2 mailbox full. Permanent, as Dovecot and
		 * Cyrus answer by default: the sender learns now instead of
		 * after days of retries. */
		*f_r = (struct lmtp_failure){ 552, "5.2.2", true };
		break;
	case STORE_ERR_LIMIT:
		*f_r = (struct lmtp_failure){ 552, "5.3.4", true };
		break;
	case STORE_ERR_NONEXISTENT:
		/* The store vanished under us (account deleted meanwhile). */
		*f_r = (struct lmtp_failure){ 550, "5.1.1", true };
		break;
	default:
		/* TEMPFAIL, INUSE, CORRUPT, INTERNAL, ...: the MTA keeps the
		 * message and retries. */
		*f_r = (struct lmtp_failure){ 451, "4.3.0", false };
		break;
	}
}
