/* imap-session.h - one IMAP session, and the contract command handlers
 * build on.
 *
 * Flow of a command. The session reads bytes from the connection and feeds
 * the parser (imap-parser.h). When a command is complete it looks the name
 * up in the command table (imap-commands.c), checks the state the command
 * is allowed in, and calls the handler with a struct imap_cmd. The handler
 * checks its arguments completely first, then acts, queues untagged
 * responses with imap_session_write*() / imap_session_printf(), and records
 * its tagged result with imap_cmd_ok()/imap_cmd_no()/imap_cmd_bad(). It
 * never writes the tagged line itself: when the command ends, the session
 * first announces the selected mailbox's pending changes (EXISTS, EXPUNGE /
 * VANISHED, FETCH FLAGS) where the RFC allows it, then sends the tagged
 * line, then parses the next pipelined command.
 *
 * Long commands. A handler returns 1 when it is finished, 0 when it
 * continues later:
 *   - streaming output (FETCH of bodies): while conn_output_full(s->conn)
 *     is true stop producing, set cmd->resume and return 0; the session
 *     calls cmd->resume(cmd) from ops->output_drained, and it again returns
 *     1 (finished) or 0 (wait for the next drain);
 *   - asynchronous work (password checks, fsync-heavy commits): start it
 *     with conn_run_async() and return 0; in the done callback record the
 *     result and call imap_cmd_complete(cmd). Never call imap_cmd_complete()
 *     from inside the handler before it returned.
 * While a command is in progress no further input is parsed (pipelined
 * commands wait in the input buffer, in order).
 *
 * Threading: everything here runs on the connection's worker thread.
 * Return convention: -1 error, 0 not found / need more, 1 done. */
#ifndef ROOST_IMAP_SESSION_H
#define ROOST_IMAP_SESSION_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap-parser.h"
#include "lib/buf.h"
#include "lib/str.h"
#include "net/conn.h"
#include "store/store.h"

struct imap_cmd;
struct imap_command;
struct imap_append_ctx;
struct imap_seqset;
struct sasl_session;
struct event;

enum imap_state {
	IMAP_STATE_NOAUTH,   /* not authenticated */
	IMAP_STATE_AUTH,     /* authenticated, nothing selected */
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
};

/* Extensions the client turned on with ENABLE (RFC 5161), or implicitly:
 * CONDSTORE is also enabled by the first CONDSTORE-using command (RFC 7162
 * 3.1: SELECT (CONDSTORE), FETCH (MODSEQ), SEARCH MODSEQ, STORE
 * UNCHANGEDSINCE ...) - the handler calls imap_session_enable_condstore(). */
enum imap_enabled {
	IMAP_ENABLED_CONDSTORE = 1u << 0,
	IMAP_ENABLED_QRESYNC = 1u << 1,   /* implies CONDSTORE */
	IMAP_ENABLED_IMAP4REV2 = 1u << 2,
	IMAP_ENABLED_UTF8 = 1u << 3,      /* UTF8=ACCEPT (RFC 6855) */
};

/* The selected mailbox as this client knows it (RFC 9051 2.3.1.2): message
 * sequence number n is view.msgs->msgs[n - 1]. The list is what the client
 * has been told, NOT the store's current state: messages expunged by
 * others stay in it until their EXPUNGE is sent, new messages appear only
 * with EXISTS. Handlers must not load their own numbering.
 *
 * Per message (struct store_msg): uid, flags (enum store_flag), keywords
 * (store_msg_keywords(view.msgs, m)), modseq, size, internal date, blob_id.
 * A handler that changes flags (STORE) or expunges (EXPUNGE, MOVE, CLOSE)
 * in the store must update the view with imap_view_update_msg() /
 * imap_view_expunged(), so the next sync does not announce its own change
 * a second time. */
struct imap_view {
	uint64_t mailbox_id;
	char *name;                 /* store name (UTF-8), heap */
	bool readonly;              /* EXAMINE */
	uint32_t uidvalidity;
	/* Highest modseq of which every change is reflected in msgs (what
	 * the next store_changes_since() starts from). */
	uint64_t highestmodseq;
	uint32_t uidnext;           /* as last announced */
	struct store_msg_list *msgs; /* owned; count = the client's EXISTS */
	/* Expunged in the store, still numbered for the client because
	 * EXPUNGE could not be sent yet (RFC 9051 7.5.1): ascending UIDs. */
	struct store_uid_array pending_expunges;
	struct store_watch *watch;  /* change bus subscription */
	/* Set by the change bus (another thread), cleared by the sync. */
	atomic_bool changed;
	/* SEARCHRES (RFC 5182): UIDs of the last SEARCH ... SAVE, a malloc'd
	 * resolved set set by the message-command code; imap_view_close()
	 * frees it (imap_seqset_clear + free). NULL when none. */
	struct imap_seqset *saved_result;
	/* SELECT of a big mailbox answered from the list's head while the
	 * rest of the list is still being read (cmd-select.c); no command is
	 * dispatched until it is in msgs. NULL otherwise. */
	struct imap_select_job *loading;
};

/* Why the session is being shown a tagged result; see imap_cmd_reply(). */
enum imap_reply { IMAP_REPLY_NONE, IMAP_REPLY_OK, IMAP_REPLY_NO, IMAP_REPLY_BAD };

struct imap_session {
	struct conn *conn;
	enum imap_state state;
	unsigned enabled;           /* enum imap_enabled bits */

	/* after login */
	struct store_user *user;    /* shared refcounted handle */
	char *username;             /* canonical address, heap */
	int64_t account_id;
	bool session_counted;       /* auth_session_begin succeeded */

	struct imap_view view;      /* valid in IMAP_STATE_SELECTED */

	/* input */
	struct imap_parser parser;
	struct pool *cmd_pool;      /* arguments and per-command data; cleared per command */
	struct buf inbuf;           /* bytes read from conn, not yet consumed */
	struct imap_cmd *cmd;       /* the command in progress, or NULL */
	struct imap_append_ctx *append; /* APPEND whose literals are being streamed */
	uint64_t stream_left;       /* bytes of a streamed literal still to come */

	/* AUTHENTICATE in progress (client lines are SASL responses) */
	struct sasl_session *sasl;
	bool sasl_waiting;          /* a "+ challenge" was sent; next line is the response */
	/* IDLE in progress (the client's next line must be DONE) */
	bool idling;
	struct event *idle_timer;   /* keep-alive "* OK Still here" */
	struct event *delay_timer;  /* failed-login delay */

	struct conn_wakeup *wakeup; /* change bus -> this worker */
	bool input_suspended;
	bool in_input_loop;         /* process_input is running (no recursion) */
	bool closing;
	bool compress_pending;      /* COMPRESS: start after the tagged OK */
	bool starttls_pending;      /* STARTTLS: start after the tagged OK */
	unsigned auth_failures;     /* on this connection */
	bool disconnect_after_reply; /* BYE and close after the tagged line */
};

/* One command being executed. Allocated from the session's command pool. */
struct imap_cmd {
	struct imap_session *session;
	const struct imap_command *def;
	const char *tag;
	const char *name;           /* "FETCH", "UID FETCH", ... upper case */
	bool uid;                   /* the UID variant (args start after the sub-command) */
	const struct imap_arg *args; /* EOL-terminated */
	struct pool *pool;          /* == session->cmd_pool; cleared after the command */

	/* tagged result */
	enum imap_reply reply;
	const char *reply_text;     /* "[CODE] text", in pool */

	/* set by streaming handlers: see the header comment */
	int (*resume)(struct imap_cmd *cmd);
	void *ctx;                  /* handler's state */
	/* Called once when the command ends, finished or abandoned because
	 * the connection closed mid-way: free what ctx holds (fds, lists).
	 * May be NULL. */
	void (*cleanup)(struct imap_cmd *cmd);
	/* The command may not be followed by EXPUNGE responses (it uses
	 * sequence numbers); copied from the table flag, a handler may set it. */
	bool no_expunge;
};

/* --- tagged result (recorded; sent when the command ends) --- */

/* text is "[CODE args] human text" or just "human text". */
void imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_cmd_reply(struct imap_cmd *cmd, enum imap_reply reply, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* NO with the store's last error on this thread: "[CODE] message". */
void imap_cmd_no_store_error(struct imap_cmd *cmd);

/* Finishes a command that returned 0 (async done callbacks). */
void imap_cmd_complete(struct imap_cmd *cmd);

/* --- untagged output (queued immediately, in order) --- */

void imap_session_write(struct imap_session *s, const void *data, size_t len);
void imap_session_write_cstr(struct imap_session *s, const char *text);
void imap_session_write_buf(struct imap_session *s, const struct buf *b);
void imap_session_printf(struct imap_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Flags for src/lib/imap-quote.h matching the session (UTF-8 quoted
 * strings under IMAP4rev2 / UTF8=ACCEPT). */
unsigned imap_session_quote_flags(const struct imap_session *s);
bool imap_session_utf8(const struct imap_session *s);
bool imap_session_rev2(const struct imap_session *s);
/* CONDSTORE enabled (explicitly or by a CONDSTORE-using command): FETCH
 * responses then carry MODSEQ (RFC 7162 3.2). */
bool imap_session_condstore(const struct imap_session *s);
void imap_session_enable_condstore(struct imap_session *s);

/* The capability list for the current state (no "CAPABILITY" prefix). */
void imap_session_capabilities(const struct imap_session *s, struct buf *out);

/* Mailbox names on the wire <-> store (UTF-8). A rev1 client without
 * UTF8=ACCEPT speaks modified UTF-7 (RFC 3501 5.1.3); rev2/UTF8=ACCEPT
 * clients speak UTF-8. "INBOX" in any case becomes "INBOX". Returns 1
 * with a NUL-terminated name allocated from pool, or -1 (invalid: bad
 * modified UTF-7, or bad UTF-8) with *error_r. */
int imap_session_mailbox_from_wire(struct imap_session *s, struct str wire, struct pool *pool,
				   const char **name_r, const char **error_r);
/* Appends the name as an astring (or quoted) for responses. -1 on buf max. */
int imap_session_mailbox_to_wire(const struct imap_session *s, const char *name, struct buf *out);

/* --- selected mailbox view --- */

/* MSN -> message (NULL when out of range). */
const struct store_msg *imap_view_msg(const struct imap_session *s, uint32_t msn);
uint32_t imap_view_count(const struct imap_session *s);
/* UID -> MSN; 0 when the UID is not in the view. */
uint32_t imap_view_msn(const struct imap_session *s, uint32_t uid);
/* Largest UID in the view, 0 when empty (resolves "*" in UID sets). */
uint32_t imap_view_max_uid(const struct imap_session *s);

/* A handler changed a message in the store (STORE): copy the new state
 * (flags, keywords, modseq) into the view. Keywords are interned into the
 * view's list. Returns 1, 0 if the UID is not in the view, -1 on OOM. */
int imap_view_update_msg(struct imap_session *s, const struct store_msg_list *from,
			 const struct store_msg *m);
/* A handler expunged these UIDs (ascending) in the store (EXPUNGE, MOVE,
 * CLOSE): removes them from the view and queues EXPUNGE responses (or one
 * VANISHED under QRESYNC) unless `silent` (CLOSE). Must only be called
 * where EXPUNGE responses are allowed. */
void imap_view_expunged(struct imap_session *s, const uint32_t *uids, size_t count, bool silent);

/* Announce changes made by others (RFC 9051 7.4.1 / 5.5): new messages
 * (EXISTS), flag changes (FETCH (UID n FLAGS (...) [MODSEQ (m)])), and,
 * when allow_expunge, expunges (EXPUNGE n, or VANISHED under QRESYNC).
 * Called by the session after each command and during IDLE; handlers
 * need not call it. Returns 1, or -1 if the mailbox vanished (the session
 * then says BYE). */
int imap_view_sync(struct imap_session *s, bool allow_expunge);

/* Leave the selected state (UNSELECT, CLOSE, SELECT of another mailbox,
 * LOGOUT): frees the view and removes the watch. */
void imap_view_close(struct imap_session *s);

/* The flags of one message as a FETCH FLAGS list "(\Seen $Junk)" appended
 * to out (keywords from list). */
void imap_format_flags(struct buf *out, uint8_t flags, const char *keywords);

#endif
