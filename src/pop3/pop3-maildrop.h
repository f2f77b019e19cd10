/* pop3-maildrop.h - a POP3 session's view of an account's INBOX.
 *
 * RFC 1939 5: in the TRANSACTION state the maildrop is a fixed list of
 * messages numbered 1..N. Roost takes that list once, at login (a
 * snapshot of INBOX): messages delivered during the session appear in the
 * next one, messages IMAP expunges meanwhile answer "-ERR ... removed"
 * when retrieved. Deletions are only marks until QUIT (UPDATE state),
 * when they are applied to the store in one transaction; a dropped
 * connection applies nothing.
 *
 * Which messages are offered, and what a deletion does, follow the
 * account's policy (auth_result.pop3_dele / pop3_offer_days):
 *  - offer_days 0: all of INBOX; N: only messages received in the last N
 *    days (by internal date, i.e. delivery time);
 *  - POP3_DELE_EXPUNGE: deleted messages are expunged (RFC behaviour);
 *  - POP3_DELE_KEEP: they stay in INBOX for IMAP and webmail but get the
 *    keyword POP3_KEYWORD_DELETED, and POP3 never offers a message with
 *    that keyword again (whatever the policy is later);
 *  - POP3_DELE_TRASH: they are moved to the Trash folder (the mailbox with
 *    the \Trash special use, else [account] trash, created if missing).
 *
 * UIDLs (RFC 1939 7) are "<UIDVALIDITY in 8 hex digits>.<UID>": unique
 * and never reused for INBOX (the store never reuses a UID under one
 * UIDVALIDITY), 10..19 characters from 0x21..0x7E.
 *
 * The functions marked BLOCKING reach the store (disk): call them from
 * the thread pool. Return convention: -1 error (with a sentence safe to
 * show the client in err), 0 not found, 1 done. */
#ifndef ROOST_POP3_MAILDROP_H
#define ROOST_POP3_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/config.h"
#include "store/store.h"

#define POP3_KEYWORD_DELETED "$POP3Deleted"
/* "ffffffff.4294967295" and its NUL. */
#define POP3_UIDL_MAX 20

struct pop3_msg {
	uint64_t blob_id;
	uint32_t uid;
	uint32_t size; /* stored octets (CRLF line ends): what RETR sends unstuffed */
};

/* Per-message state bits in pop3_maildrop.state. */
enum {
	POP3_MSG_DELETED = 1u << 0, /* DELE'd in this session */
	POP3_MSG_SEEN = 1u << 1,    /* has \Seen (at login or after RETR) */
};

struct pop3_maildrop {
	struct store_user *user;   /* one reference, released by free */
	uint64_t inbox_id;
	uint32_t uidvalidity;
	enum pop3_dele_policy dele;
	unsigned offer_days;
	uint32_t count;            /* messages 1..count are msgs[0..count) */
	struct pop3_msg *msgs;
	uint8_t *state;            /* POP3_MSG_* per message */
	uint32_t deleted_count;
	uint64_t deleted_size;
	uint64_t total_size;       /* of all count messages */
};

/* Opens user_key's store and takes the snapshot of INBOX under the given
 * policy, as of `now`. BLOCKING. */
int pop3_maildrop_open(const char *user_key, enum pop3_dele_policy dele, unsigned offer_days,
		       time_t now, struct pop3_maildrop **md_r, char *err, size_t errcap);
void pop3_maildrop_free(struct pop3_maildrop **md);

/* Marks and unmarks (cheap, no I/O). delete returns -1 if already deleted. */
int pop3_maildrop_delete(struct pop3_maildrop *md, uint32_t index);
void pop3_maildrop_reset(struct pop3_maildrop *md);

/* The UPDATE state: applies the policy to every message marked deleted,
 * in one store transaction. *applied_r gets the number of messages the
 * store actually removed/marked/moved (messages that IMAP expunged
 * meanwhile are skipped). BLOCKING. */
int pop3_maildrop_commit(struct pop3_maildrop *md, unsigned *applied_r, char *err,
			 size_t errcap);

/* Adds \Seen to the given INBOX UIDs (after RETR), in one transaction.
 * Uses only md->user and md->inbox_id, so it may run while the session
 * goes on. BLOCKING. */
int pop3_maildrop_mark_seen(struct store_user *user, uint64_t inbox_id, const uint32_t *uids,
			    size_t count, char *err, size_t errcap);

/* Formats a UIDL into out (POP3_UIDL_MAX bytes). */
void pop3_uidl_format(uint32_t uidvalidity, uint32_t uid, char *out);

/* One POP3 session per maildrop (RFC 1939 8: the server should lock the
 * maildrop). Process-wide and thread-safe; IMAP does not take it.
 * Returns 1 when acquired, 0 when another POP3 session holds it. */
int pop3_maildrop_lock(int64_t account_id);
void pop3_maildrop_unlock(int64_t account_id);

#endif
