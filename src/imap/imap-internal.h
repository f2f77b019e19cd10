/* imap-internal.h - hooks between the session core (imap-session.c) and
 * the core commands that take over the input stream: AUTHENTICATE (SASL
 * response lines), IDLE (the DONE line, pushed changes), APPEND (message
 * literals streamed to the store), and login bookkeeping. Not for the
 * message commands: they use imap-session.h only. */
#ifndef ROOST_IMAP_INTERNAL_H
#define ROOST_IMAP_INTERNAL_H

#include "imap/imap-session.h"

/* Failed logins on one connection before it is closed. */
#define IMAP_MAX_AUTH_FAILURES 5

/* auth (cmd-login.c) */
bool imap_plaintext_allowed(const struct imap_session *s);
void imap_append_auth_capabilities(const struct imap_session *s, struct buf *out);
/* Releases the store handle and the per-account session count. */
void imap_session_logout_user(struct imap_session *s);
/* Frees a SASL exchange and the failure-delay timer. */
void imap_auth_cleanup(struct imap_session *s);

struct auth_result;
struct auth_client;
void imap_auth_client(const struct imap_session *s, struct auth_client *client);
/* Answers a completed password check (LOGIN or AUTHENTICATE): on success
 * takes *user (the opened store, may be NULL if opening failed) and logs
 * in. Returns 1 when the tagged answer can be sent now, 0 when it waits
 * for the failure delay (the timer completes the command). */
int imap_auth_finish(struct imap_cmd *cmd, const struct auth_result *r,
		     struct store_user **user);

/* AUTHENTICATE (cmd-authenticate.c): one client response line. */
void imap_authenticate_line(struct imap_session *s, struct str line);

/* capabilities of the message and mailbox features (imap-capability.c) */
void imap_append_feature_capabilities(const struct imap_session *s, struct buf *out);

/* IDLE (cmd-idle.c) */
void imap_idle_line(struct imap_session *s, struct str line);
void imap_idle_stop(struct imap_session *s);
/* Changes arrived while idling: announce them now. */
void imap_idle_push(struct imap_session *s);
/* Subscribes this session to changes of a mailbox (imap-view.c); callable
 * from the thread pool. */
int imap_view_watch(struct imap_session *s, uint64_t mailbox_id, struct store_watch **watch_r);

/* A store error captured on the thread where it happened (store errors
 * are thread-local), to be answered on the worker thread. */
struct imap_store_err {
	enum store_error err;
	const char *code; /* static */
	char msg[200];
};
void imap_store_err_save(struct imap_store_err *e);
void imap_cmd_no_saved(struct imap_cmd *cmd, const struct imap_store_err *e);

/* Runs call(user, ctx) on the thread pool (imap-store-job.c); then, on the
 * worker: NO with the store error if it returned -1, else after(cmd, ctx)
 * (may be NULL) and OK. Returns what a handler returns: 0 (the command
 * continues), or 1 if the job could not start (NO recorded). */
typedef int imap_store_call(struct store_user *u, void *ctx);
int imap_cmd_store_async(struct imap_cmd *cmd, imap_store_call *call, void *ctx,
			 void (*after)(struct imap_cmd *cmd, void *ctx));

/* APPEND (cmd-append.c): the parser stopped at a message literal. */
void imap_append_msg_literal(struct imap_session *s);
/* Bytes of the streamed literal; `last` when they complete it. */
void imap_append_stream_data(struct imap_session *s, const void *data, size_t len, bool last);
/* Drop blobs of an APPEND that will not complete. */
void imap_append_abort(struct imap_session *s);

/* STATUS items (cmd-status.c), shared with LIST-STATUS. */
enum imap_status_item {
	IMAP_STATUS_MESSAGES = 1u << 0,
	IMAP_STATUS_UIDNEXT = 1u << 1,
	IMAP_STATUS_UIDVALIDITY = 1u << 2,
	IMAP_STATUS_UNSEEN = 1u << 3,
	IMAP_STATUS_DELETED = 1u << 4,
	IMAP_STATUS_SIZE = 1u << 5,
	IMAP_STATUS_HIGHESTMODSEQ = 1u << 6,
	IMAP_STATUS_RECENT = 1u << 7,
	IMAP_STATUS_APPENDLIMIT = 1u << 8,
};
/* Parses "(MESSAGES UNSEEN ...)". -1 on a bad list. */
int imap_status_parse_items(struct imap_session *s, const struct imap_arg *arg,
			    unsigned *items_r);
/* Appends "* STATUS name (...)\r\n". -1 with the store error set. */
int imap_status_format(struct imap_session *s, uint64_t mailbox_id, const char *name,
		       unsigned items, struct buf *out);

/* LIST attributes "\HasNoChildren \Sent" (cmd-list.c) from store attrs. */
void imap_list_format_attrs(struct buf *out, uint32_t attrs, bool special_use);

/* The mailbox argument of CREATE/DELETE/RENAME/SUBSCRIBE (cmd-create.c):
 * converted from the client's form into the pool. Returns 1, or -1 after
 * recording BAD/NO on cmd. */
int imap_mailbox_arg(struct imap_cmd *cmd, const struct imap_arg *arg, bool strip_delim,
		     const char **name_r);

/* SELECT answered early (cmd-select.c): true while the selected
 * mailbox's message list is still being read; commands wait for it. */
bool imap_view_loading(const struct imap_session *s);
/* The session's wakeup fired while a SELECT job is running: answer the
 * SELECT if the job has the mailbox's head ready (cmd-select.c). */
void imap_select_wakeup(struct imap_session *s);

/* The change bus told us about the selected mailbox (wakeup callback). */
void imap_session_changed(struct imap_session *s);
/* The selected mailbox disappeared: BYE and close. */
void imap_session_mailbox_gone(struct imap_session *s);
/* Stop / restart reading input while a command continues (imap-session.c).
 * A command waiting for a client line (SASL response, IDLE's DONE)
 * resumes input; the session then hands it the line. */
void imap_session_suspend_input(struct imap_session *s);
void imap_session_resume_input(struct imap_session *s);
/* Parser limits after login. */
void imap_session_logged_in_limits(struct imap_session *s);

#endif
