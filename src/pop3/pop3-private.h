/* pop3-private.h - the POP3 session, shared by the files of src/pop3/.
 *
 * pop3-session.c: life cycle, input loop, AUTHORIZATION state (USER,
 * PASS, AUTH, CAPA, STLS, UTF8) and the asynchronous login.
 * pop3-commands.c: TRANSACTION and UPDATE states (STAT, LIST, RETR, TOP,
 * DELE, RSET, UIDL, QUIT) and the streaming of long responses. */
#ifndef ROOST_POP3_PRIVATE_H
#define ROOST_POP3_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "net/conn.h"
#include "pop3-maildrop.h"
#include "pop3-parser.h"
#include "pop3-stuff.h"

/* Bytes read from a message file per step: the stuffed output of one
 * chunk is at most twice that, so a session streaming a message holds
 * about 200 KiB whatever the message's size, and nothing when idle. */
#define POP3_CHUNK (64 * 1024)
/* RETR of a message of at least this size on a plaintext connection
 * without COMPRESS sends the file's clean runs (pop3_stuffer_pass) as
 * file segments: sendfile(), no copy through user space. Smaller
 * messages are copied: one or two sends are cheaper than the three
 * (status line, file, terminator) of the zero-copy path. */
#define POP3_ZERO_COPY_MIN (64 * 1024)
/* The longest clean run queued as one file segment; the stream scans
 * ahead (one chunk buffer, reused) at most this far before sending. */
#define POP3_SEGMENT_MAX (1024 * 1024)
/* RETR's \Seen is written in batches: a store update (one fsync'd
 * transaction) starts once this many UIDs are pending, or
 * POP3_SEEN_DELAY_MS after the first of them, and QUIT takes whatever is
 * pending. One commit per RETR would cost more CPU than the download. */
#define POP3_SEEN_BATCH 4096
#define POP3_SEEN_DELAY_MS 500
/* LIST/UIDL lines produced per step. */
#define POP3_LIST_BATCH 256

/* A value made safe for a key=value log field (quoted if needed); the
 * buffer lives until the end of the enclosing block. */
#define LQ(value) log_quote((value), (char[256]){ 0 }, 256)

enum pop3_state {
	POP3_STATE_AUTHORIZATION,
	POP3_STATE_TRANSACTION,
	POP3_STATE_UPDATE,
};

enum pop3_stream_kind {
	POP3_STREAM_NONE,
	POP3_STREAM_LIST,
	POP3_STREAM_UIDL,
	POP3_STREAM_RETR,
	POP3_STREAM_TOP,
};

/* A multi-line response being produced with back-pressure. */
struct pop3_stream {
	enum pop3_stream_kind kind;
	uint32_t next;          /* LIST/UIDL: next message index */
	uint32_t index;         /* RETR/TOP: the message */
	int fd;                 /* RETR/TOP: the message file, or -1 */
	struct buf text;        /* RETR/TOP: or the message itself (kept in the database) */
	uint64_t size;          /* RETR/TOP: the message's size */
	uint64_t offset;        /* RETR/TOP: next byte to send */
	/* RETR by file segments: [seg_off, seg_off + seg_len) was read and
	 * found clean but is not queued yet. */
	bool zero_copy;
	uint64_t seg_off, seg_len;
	struct pop3_stuffer stuffer;
	char *chunk;            /* POP3_CHUNK bytes while streaming a file (not text) */
	struct buf out;
};

struct pop3_session {
	struct conn *c;
	enum pop3_state state;
	unsigned bad_commands;
	bool utf8;              /* RFC 6856 UTF8 command given */
	bool stls_pending;      /* STLS accepted, TLS not active yet: read nothing */
	/* Input is suspended: a login or commit job runs, a failure reply is
	 * being delayed, or a multi-line response is streaming. Commands
	 * that arrive meanwhile (pipelining) wait in the input buffer. */
	bool busy;

	/* AUTHORIZATION */
	char user[POP3_MAX_LINE + 1]; /* from USER, "" if none */
	struct sasl_session *sasl;
	bool sasl_waiting;      /* a "+ " challenge was sent; next line is the response */
	struct event *delay_timer;
	char *delayed_reply;    /* sent when delay_timer fires */

	/* TRANSACTION */
	int64_t account_id;
	char address[AUTH_ADDRESS_MAX];
	char mech[24];          /* "USER", "PLAIN", ... for the login log line */
	bool locked;            /* holds pop3_maildrop_lock(account_id) */
	bool session_counted;   /* holds auth_session_begin(account_id) */
	struct pop3_maildrop *md;
	struct pop3_stream stream;

	/* RETR sets \Seen: UIDs waiting for the next store update, which runs
	 * on the thread pool alongside the session. */
	uint32_t *seen_pending;
	size_t seen_count, seen_cap;
	bool seen_job_running;
	struct event *seen_timer; /* POP3_SEEN_DELAY_MS after a UID was queued */
	/* QUIT arrived while a \Seen update ran: the UPDATE state starts
	 * when it is done, so the two never race (a message moved to Trash
	 * keeps the \Seen its RETR gave it). */
	bool quit_waiting;

	/* counters for the logout log line */
	unsigned retr_count, top_count, dele_count;
	uint64_t retr_octets;
};

void pop3_reply_ok(struct pop3_session *s, const char *text);
void pop3_reply_err(struct pop3_session *s, const char *text);
void pop3_busy_begin(struct pop3_session *s);
void pop3_busy_end(struct pop3_session *s);
void pop3_release_login(struct pop3_session *s);

/* pop3-commands.c */
void pop3_cmd_transaction(struct pop3_session *s, const struct pop3_command *cmd);
/* Continues a streaming response; returns true when it is complete (or
 * was abandoned because the connection is closing). */
bool pop3_stream_continue(struct pop3_session *s);
void pop3_stream_abort(struct pop3_session *s);
void pop3_seen_flush_now(struct pop3_session *s);
const char *pop3_dele_policy_name(enum pop3_dele_policy p);

#endif
