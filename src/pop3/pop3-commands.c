/* pop3-commands.c - the TRANSACTION and UPDATE states (RFC 1939 5, 6).
 *
 * Every command checks its arguments completely before it changes
 * anything: a bad message number changes nothing. Long responses (RETR,
 * TOP, LIST, UIDL) are produced in steps while the connection's output
 * queue has room, and continue from ops->output_drained, so a session
 * downloading a multi-gigabyte mailbox holds one chunk at a time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/log.h"
#include "pop3-private.h"

const char *pop3_dele_policy_name(enum pop3_dele_policy p)
{
	switch (p) {
	case POP3_DELE_EXPUNGE: return "expunge";
	case POP3_DELE_KEEP: return "keep";
	case POP3_DELE_TRASH: return "trash";
	}
	return "?";
}

/* Message number n (1-based) to an index, or an -ERR reply and -1. */
static int msg_lookup(struct pop3_session *s, uint32_t n, uint32_t *index_r)
{
	if (n == 0 || n > s->md->count) {
		pop3_reply_err(s, "No such message");
		return -1;
	}
	if (s->md->state[n - 1] & POP3_MSG_DELETED) {
		conn_printf(s->c, "-ERR message %u is deleted\r\n", n);
		return -1;
	}
	*index_r = n - 1;
	return 1;
}

/* ------------------------------------------------------------------ */
/* \Seen after RETR */

struct seen_job {
	struct pop3_session *s;
	struct store_user *user; /* borrowed: the maildrop outlives the job */
	uint64_t inbox_id;
	uint32_t *uids;
	size_t count;
	int ret;
	char err[160];
};

static void seen_work(void *arg)
{
	struct seen_job *job = arg;
	job->ret = pop3_maildrop_mark_seen(job->user, job->inbox_id, job->uids, job->count,
					   job->err, sizeof(job->err));
}

static void seen_kick(struct pop3_session *s);
static void seen_timer_arm(struct pop3_session *s);
static void update_start(struct pop3_session *s);

static void seen_done(void *arg)
{
	struct seen_job *job = arg;
	struct pop3_session *s = job->s;
	if (job->ret < 0)
		log_warn("pop3-seen-failed", "%s error=%s", conn_log_prefix(s->c), LQ(job->err));
	free(job->uids);
	free(job);
	s->seen_job_running = false;
	if (conn_is_closing(s->c))
		pop3_seen_flush_now(s);
	else if (s->quit_waiting)
		update_start(s);
	else if (s->seen_count >= POP3_SEEN_BATCH)
		seen_kick(s);
	else if (s->seen_count > 0)
		seen_timer_arm(s); /* UIDs queued while the job ran */
}

static void seen_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	seen_kick(arg);
}

static void seen_timer_arm(struct pop3_session *s)
{
	if (s->seen_timer == NULL)
		s->seen_timer = evtimer_new(conn_event_base(s->c), seen_timer_cb, s);
	if (s->seen_timer == NULL) {
		seen_kick(s); /* no timer: one update per RETR, as it must be */
		return;
	}
	struct timeval tv = { .tv_sec = POP3_SEEN_DELAY_MS / 1000,
			      .tv_usec = (POP3_SEEN_DELAY_MS % 1000) * 1000 };
	evtimer_add(s->seen_timer, &tv);
}

/* Starts a job for the pending UIDs unless one is running (its done()
 * starts the next when enough are pending, or arms the timer). */
static void seen_kick(struct pop3_session *s)
{
	if (s->seen_timer != NULL)
		evtimer_del(s->seen_timer);
	if (s->seen_job_running || s->seen_count == 0 || s->state != POP3_STATE_TRANSACTION)
		return;
	struct seen_job *job = calloc(1, sizeof(*job));
	if (job == NULL) {
		seen_timer_arm(s); /* tried again, or written at close */
		return;
	}
	job->s = s;
	job->user = s->md->user;
	job->inbox_id = s->md->inbox_id;
	job->uids = s->seen_pending;
	job->count = s->seen_count;
	s->seen_pending = NULL;
	s->seen_count = s->seen_cap = 0;
	if (conn_run_async(s->c, seen_work, seen_done, job) < 0) {
		s->seen_pending = job->uids;
		s->seen_count = s->seen_cap = job->count;
		free(job);
		seen_timer_arm(s);
		return;
	}
	s->seen_job_running = true;
}

void pop3_seen_flush_now(struct pop3_session *s)
{
	if (s->seen_count == 0 || s->md == NULL)
		return;
	char err[160];
	if (pop3_maildrop_mark_seen(s->md->user, s->md->inbox_id, s->seen_pending, s->seen_count,
				    err, sizeof(err)) < 0)
		log_warn("pop3-seen-failed", "%s error=%s", conn_log_prefix(s->c), LQ(err));
	s->seen_count = 0;
}

static void seen_add(struct pop3_session *s, uint32_t index)
{
	if (s->md->state[index] & POP3_MSG_SEEN)
		return;
	if (s->seen_count == s->seen_cap) {
		size_t cap = s->seen_cap ? s->seen_cap * 2 : 16;
		uint32_t *p = realloc(s->seen_pending, cap * sizeof(*p));
		if (p == NULL)
			return; /* \Seen is a convenience: skip it rather than fail RETR */
		s->seen_pending = p;
		s->seen_cap = cap;
	}
	s->seen_pending[s->seen_count++] = s->md->msgs[index].uid;
	s->md->state[index] |= POP3_MSG_SEEN;
	if (s->seen_count >= POP3_SEEN_BATCH)
		seen_kick(s);
	else if (s->seen_count == 1 && !s->seen_job_running)
		seen_timer_arm(s);
}

/* ------------------------------------------------------------------ */
/* streaming */

void pop3_stream_abort(struct pop3_session *s)
{
	struct pop3_stream *st = &s->stream;
	if (st->fd >= 0)
		close(st->fd);
	st->fd = -1;
	st->seg_len = 0;
	free(st->chunk);
	st->chunk = NULL;
	buf_free(&st->text);
	buf_free(&st->out);
	st->kind = POP3_STREAM_NONE;
}

static void stream_finished(struct pop3_session *s)
{
	struct pop3_stream *st = &s->stream;
	if (st->kind == POP3_STREAM_RETR) {
		s->retr_count++;
		s->retr_octets += s->md->msgs[st->index].size;
		/* RETR, not TOP, counts as reading the message (IMAP \Seen). */
		uint32_t index = st->index;
		pop3_stream_abort(s);
		seen_add(s, index);
		return;
	}
	if (st->kind == POP3_STREAM_TOP)
		s->top_count++;
	pop3_stream_abort(s);
}

/* One step of LIST or UIDL: up to POP3_LIST_BATCH lines. */
static bool stream_list_step(struct pop3_session *s)
{
	struct pop3_stream *st = &s->stream;
	const struct pop3_maildrop *md = s->md;
	char uidl[POP3_UIDL_MAX];
	unsigned lines = 0;

	buf_reset(&st->out);
	while (st->next < md->count && lines < POP3_LIST_BATCH) {
		uint32_t i = st->next++;
		if (md->state[i] & POP3_MSG_DELETED)
			continue;
		int ret;
		if (st->kind == POP3_STREAM_LIST) {
			ret = buf_printf(&st->out, "%u %u\r\n", i + 1, md->msgs[i].size);
		} else {
			pop3_uidl_format(md->uidvalidity, md->msgs[i].uid, uidl);
			ret = buf_printf(&st->out, "%u %s\r\n", i + 1, uidl);
		}
		if (ret < 0)
			return false;
		lines++;
	}
	if (st->next >= md->count && buf_append(&st->out, ".\r\n", 3) < 0)
		return false;
	conn_write(s->c, st->out.data, st->out.len);
	return st->next >= md->count;
}

/* Queues the clean run found so far as a file segment. 1 or -1. */
static int stream_flush_segment(struct pop3_session *s)
{
	struct pop3_stream *st = &s->stream;
	if (st->seg_len == 0)
		return 1;
	if (conn_write_file(s->c, st->fd, (off_t)st->seg_off, (size_t)st->seg_len) < 0)
		return -1;
	st->seg_len = 0;
	return 1;
}

/* One step of RETR or TOP: one chunk of the file. A chunk that needs no
 * stuffing (every chunk of a normal stored message) is sent as it is:
 * for zero-copy streams it only extends the pending file segment, which
 * is queued once it is POP3_SEGMENT_MAX long, at a chunk that needs
 * stuffing, or at the end; otherwise the chunk is copied to the output
 * once. Other chunks go through the stuffer. Returns 1 when the message
 * is complete, 0 for more, -1 on a read or queueing error. */
static int stream_file_step(struct pop3_session *s)
{
	struct pop3_stream *st = &s->stream;
	ssize_t n = 0;
	const char *chunk = st->chunk;
	if (st->offset < st->size) {
		uint64_t left = st->size - st->offset;
		size_t want = left < POP3_CHUNK ? (size_t)left : POP3_CHUNK;
		if (st->fd < 0) {
			/* The text is in memory (st->text holds size bytes). */
			chunk = st->text.data + st->offset;
			n = (ssize_t)want;
		} else {
			do
				n = pread(st->fd, st->chunk, want, (off_t)st->offset);
			while (n < 0 && errno == EINTR);
			if (n < 0)
				return -1;
		}
	}
	buf_reset(&st->out);
	if (n > 0) {
		uint64_t chunk_off = st->offset;
		st->offset += (uint64_t)n;
		if (pop3_stuffer_pass(&st->stuffer, chunk, (size_t)n)) {
			if (st->zero_copy) {
				if (st->seg_len == 0)
					st->seg_off = chunk_off;
				st->seg_len += (uint64_t)n;
				if (st->seg_len < POP3_SEGMENT_MAX && st->offset < st->size)
					return 0;
				if (stream_flush_segment(s) < 0)
					return -1;
			} else {
				conn_write(s->c, chunk, (size_t)n);
			}
		} else {
			if (stream_flush_segment(s) < 0)
				return -1;
			if (pop3_stuffer_feed(&st->stuffer, chunk, (size_t)n, &st->out) < 0)
				return -1;
		}
	}
	/* A file that ends before the size the client was promised (damage
	 * fsck has not repaired) is an error: ending the response with the
	 * usual "." would hand the client a truncated message as whole. */
	if (n == 0 && st->offset < st->size) {
		errno = EIO;
		return -1;
	}
	bool done = st->offset >= st->size || pop3_stuffer_done(&st->stuffer);
	if (done && (stream_flush_segment(s) < 0 ||
		     pop3_stuffer_finish(&st->stuffer, &st->out) < 0))
		return -1;
	if (st->out.len)
		conn_write(s->c, st->out.data, st->out.len);
	return done ? 1 : 0;
}

bool pop3_stream_continue(struct pop3_session *s)
{
	struct pop3_stream *st = &s->stream;
	while (st->kind != POP3_STREAM_NONE) {
		if (conn_is_closing(s->c)) {
			pop3_stream_abort(s);
			return true;
		}
		if (conn_output_full(s->c))
			return false;
		if (st->kind == POP3_STREAM_LIST || st->kind == POP3_STREAM_UIDL) {
			if (stream_list_step(s))
				stream_finished(s);
			continue;
		}
		int ret = stream_file_step(s);
		if (ret < 0) {
			/* Mid-response there is no way to say -ERR: the client
			 * must not take a truncated message for a whole one. */
			log_error("pop3-read-failed", "%s uid=%u error=%s", conn_log_prefix(s->c),
				  s->md->msgs[st->index].uid, LQ(strerror(errno)));
			pop3_stream_abort(s);
			conn_close(s->c, "message read error");
			return true;
		}
		if (ret > 0)
			stream_finished(s);
	}
	return true;
}

/* Runs a stream as far as the output queue allows; if it is not complete
 * the session stays busy until output_drained finishes it. */
static void stream_start(struct pop3_session *s)
{
	if (!pop3_stream_continue(s))
		pop3_busy_begin(s);
}

static void cmd_retr_top(struct pop3_session *s, const struct pop3_command *cmd)
{
	uint32_t index;
	if (msg_lookup(s, cmd->msg, &index) < 0)
		return;
	const struct pop3_msg *m = &s->md->msgs[index];
	struct pop3_stream *st = &s->stream;
	int fd = -1;
	uint64_t size = 0;
	int ret = 0;
	buf_init(&st->text, STORE_BLOB_INLINE_MAX);
	/* A small message is normally kept in the database: its text comes
	 * straight into memory, without a file descriptor. */
	if (m->size <= STORE_BLOB_INLINE_MAX &&
	    (ret = store_msg_text(s->md->user, m->blob_id, &st->text)) > 0)
		size = st->text.len;
	if (ret == 0)
		ret = store_msg_open(s->md->user, m->blob_id, &fd, &size);
	if (ret <= 0)
		buf_free(&st->text);
	if (ret == 0) {
		/* Expunged by another (IMAP) session since login. */
		conn_printf(s->c, "-ERR message %u was removed by another session\r\n", cmd->msg);
		return;
	}
	if (ret < 0) {
		const char *msg;
		store_error(&msg);
		log_error("pop3-open-failed", "%s uid=%u error=%s", conn_log_prefix(s->c), m->uid,
			  LQ(msg));
		pop3_reply_err(s, "[SYS/TEMP] Cannot read the message; try again later");
		return;
	}
	if (size != m->size) {
		/* The file does not hold what LIST announced (damage fsck has
		 * not repaired yet): refuse it rather than send a message of
		 * another size, or a truncated one as whole. */
		if (fd >= 0)
			close(fd);
		buf_free(&st->text);
		log_error("pop3-damaged-message", "%s uid=%u size=%llu stored=%u",
			  conn_log_prefix(s->c), m->uid, (unsigned long long)size, m->size);
		pop3_reply_err(s, "[SYS/PERM] This message is damaged on the server; "
				  "the administrator can repair it with roost fsck");
		return;
	}
	if (fd >= 0 && (st->chunk = malloc(POP3_CHUNK)) == NULL) {
		close(fd);
		pop3_reply_err(s, "[SYS/TEMP] Out of memory");
		return;
	}
	buf_init(&st->out, 2 * POP3_CHUNK + 16);
	st->fd = fd;
	st->size = size;
	st->offset = 0;
	st->seg_len = 0;
	st->index = index;
	if (cmd->cmd == POP3_CMD_RETR) {
		st->kind = POP3_STREAM_RETR;
		/* A TLS or DEFLATE filter must see the bytes: libevent would
		 * map the whole file for it. */
		st->zero_copy = fd >= 0 && size >= POP3_ZERO_COPY_MIN && !conn_is_tls(s->c) &&
				!conn_is_compressed(s->c);
		pop3_stuffer_init(&st->stuffer);
		/* RFC 1939 5: the size is the stored octets (CRLF line
		 * ends), as in LIST and STAT; stuffing is not counted. */
		conn_printf(s->c, "+OK %u octets\r\n", m->size);
	} else {
		st->kind = POP3_STREAM_TOP;
		st->zero_copy = false;
		pop3_stuffer_init_top(&st->stuffer, cmd->lines);
		pop3_reply_ok(s, "Top of message follows");
	}
	stream_start(s);
}

static void cmd_list_uidl(struct pop3_session *s, const struct pop3_command *cmd)
{
	const struct pop3_maildrop *md = s->md;
	if (cmd->has_msg) {
		uint32_t index;
		if (msg_lookup(s, cmd->msg, &index) < 0)
			return;
		if (cmd->cmd == POP3_CMD_LIST) {
			conn_printf(s->c, "+OK %u %u\r\n", cmd->msg, md->msgs[index].size);
		} else {
			char uidl[POP3_UIDL_MAX];
			pop3_uidl_format(md->uidvalidity, md->msgs[index].uid, uidl);
			conn_printf(s->c, "+OK %u %s\r\n", cmd->msg, uidl);
		}
		return;
	}
	struct pop3_stream *st = &s->stream;
	buf_init(&st->out, 64 * 1024);
	st->next = 0;
	if (cmd->cmd == POP3_CMD_LIST) {
		st->kind = POP3_STREAM_LIST;
		conn_printf(s->c, "+OK %u messages (%llu octets)\r\n",
			    md->count - md->deleted_count,
			    (unsigned long long)(md->total_size - md->deleted_size));
	} else {
		st->kind = POP3_STREAM_UIDL;
		pop3_reply_ok(s, "Unique-ID listing follows");
	}
	stream_start(s);
}

/* ------------------------------------------------------------------ */
/* QUIT: the UPDATE state */

struct update_job {
	struct pop3_session *s;
	struct pop3_maildrop *md; /* borrowed; input is suspended meanwhile */
	uint32_t *seen_uids;
	size_t seen_count;
	unsigned applied;
	int ret;
	char err[160];
};

static void update_work(void *arg)
{
	struct update_job *job = arg;
	char err[160];
	/* \Seen first: a message RETR'd and then kept should be read in
	 * IMAP. A failure here is logged, not reported: it is not a
	 * deletion the client asked for. */
	if (job->seen_count &&
	    pop3_maildrop_mark_seen(job->md->user, job->md->inbox_id, job->seen_uids,
				    job->seen_count, err, sizeof(err)) < 0)
		log_warn("pop3-seen-failed", "error=%s", LQ(err));
	job->ret = pop3_maildrop_commit(job->md, &job->applied, job->err, sizeof(job->err));
}

static void update_done(void *arg)
{
	struct update_job *job = arg;
	struct pop3_session *s = job->s;

	free(job->seen_uids);
	/* Let the client's next session in at once, before the reply. */
	pop3_release_login(s);
	if (job->ret < 0) {
		log_error("pop3-update-failed", "%s requested=%u error=%s", conn_log_prefix(s->c),
			  s->md->deleted_count, LQ(job->err));
		/* RFC 1939 6: "-ERR some deleted messages not removed". */
		char text[256];
		snprintf(text, sizeof(text), "[SYS/TEMP] Some deleted messages not removed: %s",
			 job->err);
		pop3_reply_err(s, text);
	} else {
		log_info("pop3-update", "%s deleted=%u applied=%u dele=%s", conn_log_prefix(s->c),
			 s->md->deleted_count, job->applied, pop3_dele_policy_name(s->md->dele));
		char text[128];
		snprintf(text, sizeof(text), "Roost POP3 signing off (%u messages deleted)",
			 s->md->deleted_count);
		pop3_reply_ok(s, text);
	}
	free(job);
	conn_close(s->c, "QUIT");
}

static void update_start(struct pop3_session *s)
{
	s->quit_waiting = false;
	struct update_job *job = calloc(1, sizeof(*job));
	if (job == NULL) {
		pop3_reply_err(s, "[SYS/TEMP] Out of memory; no messages were deleted");
		conn_close(s->c, "QUIT");
		return;
	}
	job->s = s;
	job->md = s->md;
	job->seen_uids = s->seen_pending;
	job->seen_count = s->seen_count;
	s->seen_pending = NULL;
	s->seen_count = s->seen_cap = 0;
	if (conn_run_async(s->c, update_work, update_done, job) < 0) {
		s->seen_pending = job->seen_uids;
		s->seen_count = s->seen_cap = job->seen_count;
		free(job);
		pop3_reply_err(s, "[SYS/TEMP] Server busy; no messages were deleted");
		conn_close(s->c, "QUIT");
	}
}

static void cmd_quit(struct pop3_session *s)
{
	s->state = POP3_STATE_UPDATE;
	pop3_busy_begin(s);
	if (s->seen_job_running)
		s->quit_waiting = true; /* seen_done starts the update */
	else
		update_start(s);
}

/* ------------------------------------------------------------------ */

void pop3_cmd_transaction(struct pop3_session *s, const struct pop3_command *cmd)
{
	struct pop3_maildrop *md = s->md;
	uint32_t index;
	char text[128];

	switch (cmd->cmd) {
	case POP3_CMD_STAT:
		conn_printf(s->c, "+OK %u %llu\r\n", md->count - md->deleted_count,
			    (unsigned long long)(md->total_size - md->deleted_size));
		return;
	case POP3_CMD_LIST:
	case POP3_CMD_UIDL:
		cmd_list_uidl(s, cmd);
		return;
	case POP3_CMD_RETR:
	case POP3_CMD_TOP:
		cmd_retr_top(s, cmd);
		return;
	case POP3_CMD_DELE:
		if (msg_lookup(s, cmd->msg, &index) < 0)
			return;
		pop3_maildrop_delete(md, index);
		s->dele_count++;
		snprintf(text, sizeof(text), "message %u deleted", cmd->msg);
		pop3_reply_ok(s, text);
		return;
	case POP3_CMD_RSET:
		pop3_maildrop_reset(md);
		snprintf(text, sizeof(text), "maildrop has %u messages (%llu octets)", md->count,
			 (unsigned long long)md->total_size);
		pop3_reply_ok(s, text);
		return;
	case POP3_CMD_QUIT:
		cmd_quit(s);
		return;
	case POP3_CMD_USER:
	case POP3_CMD_PASS:
	case POP3_CMD_AUTH:
	case POP3_CMD_APOP:
		pop3_reply_err(s, "Already logged in");
		return;
	case POP3_CMD_STLS:
		pop3_reply_err(s, "STLS is only allowed before login");
		return;
	case POP3_CMD_UTF8:
		pop3_reply_err(s, "UTF8 is only allowed before login");
		return;
	default:
		pop3_reply_err(s, "Unknown command");
		return;
	}
}
