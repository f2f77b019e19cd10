/* lmtp-deliver.h - the steps of a local delivery, shared by the LMTP
 * session and `roost deliver`.
 *
 * A delivery of one message to one recipient is: resolve the recipient
 * (auth_lookup_recipient), open its store, check the quota, stream the
 * added header fields and then the message into a store blob, choose the
 * mailbox (the plus-address folder if it exists, else INBOX) and
 * store_append, which returns only once the copy is durable.
 *
 * All functions here are BLOCKING (they touch the store): in roostd call
 * them from the thread pool, except lmtp_deliver_headers, which writes a
 * few bytes to a blob. Return convention: -1 error (store_error() has the
 * reason), 0 "no" where stated, 1 done. */
#ifndef ROOST_LMTP_DELIVER_H
#define ROOST_LMTP_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "store/store.h"

/* Writes "Return-Path: <sender>" and "Delivered-To: <rcpt>" (CRLF line
 * ends) at the start of a blob. sender "" is the null reverse-path. */
int lmtp_deliver_headers(struct store_blob *blob, const char *sender, const char *rcpt);

/* The quota limits of a recipient: the store's when it has them, else the
 * account's. Returns 1 when the user may receive size_hint more bytes
 * (0: unknown size) and one more message, 0 when the quota is already
 * exceeded (or would be by size_hint), -1 on error. */
int lmtp_deliver_quota_check(struct store_user *u, const struct auth_recipient *rcpt,
			     uint64_t size_hint);

/* The mailbox to deliver into: `folder` (a plus-address detail or the -m
 * option; "" or any case of "inbox" means INBOX) when it exists and is
 * selectable, else INBOX. Sets *mailbox_id_r and copies the chosen name
 * into name_r (cap bytes). Returns 1, or -1. */
int lmtp_deliver_mailbox(struct store_user *u, const char *folder, uint64_t *mailbox_id_r,
			 char *name_r, size_t cap);

/* How a failed store call is answered: an SMTP reply code, an enhanced
 * status code and whether the failure is permanent. */
struct lmtp_failure {
	unsigned code;        /* 451, 452, 552, 554 */
	const char *enhanced; /* "4.3.0", "5.2.2", ... */
	bool permanent;
};
void lmtp_deliver_failure(enum store_error err, struct lmtp_failure *f_r);

#endif
