/* lmtp-session.c - one LMTP connection: commands, the message, the replies.
 *
 * Flow. Input is read from the connection into a small buffer (in[]) and
 * fed to the parser (lmtp-parser.h), which hands back one item at a time:
 * a command line, a piece of the message, or the end of the message. The
 * session handles each item before asking for the next, so pipelined
 * commands (RFC 2920) are answered in order.
 *
 * Work that touches the disk or the accounts database runs on the thread
 * pool (conn_run_async): the recipient lookup at RCPT and the appends after
 * the message. While such a job runs the session is `busy`: input is
 * suspended, and bytes already read stay in in[] until the job's done
 * callback continues the loop. Nothing else touches the transaction while
 * busy, so the job may use it without locks.
 *
 * The message is streamed, never held whole: each recipient gets a store
 * blob opened at DATA with the added header fields (it holds 16 KiB in
 * memory, then becomes a temp file in its store: small messages are kept
 * in the database); the content is gathered in wbuf (256 KiB) and, when
 * nearly full, written to every blob by a job on the pool (input suspended
 * meanwhile, so a large message to many recipients never blocks the event
 * loop). After the final ".", one job appends each blob and the
 * replies go out in RCPT order, each "250" only after that copy's
 * store_append returned (RFC 2033 4.2). Direct blobs cost one write per
 * recipient and no extra copy, against a spool file's write plus one read
 * and write per recipient; the common case, one recipient, writes the
 * message exactly once (see docs/delivery.md).
 *
 * CHUNKING (RFC 3030): BDAT chunks feed the same blobs; the first chunk
 * opens them as DATA does, "BDAT n LAST" ends the message like the final
 * ".". A refused chunk is still read to its end (its bytes are dropped)
 * so that pipelined input stays in step.
 *
 * Limits: command lines 512 octets (500 5.5.2, the connection stays),
 * lmtp.max_recipients (452 4.5.3), lmtp.max_message_size (SIZE= at MAIL:
 * 552 5.3.4; in DATA: the rest is read and dropped, then 552 5.3.4 per
 * recipient). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/pool.h"
#include "lmtp/lmtp-deliver.h"
#include "lmtp/lmtp-parser.h"
#include "lmtp/lmtp.h"
#include "store/store.h"

/* Bytes read from the connection at a time. */
#define LMTP_IN_SIZE 4096
/* Content gathered before it is written to the recipients' blobs. */
#define LMTP_WBUF_SIZE (256 * 1024)
/* RFC 5321 4.5.3.2.7: a server waits at least 5 minutes for a command. */
#define LMTP_IDLE_TIMEOUT 300
/* Reply text of one recipient. */
#define LMTP_REPLY_MAX 512

enum rcpt_state {
	RCPT_PENDING,  /* the RCPT job has not answered yet */
	RCPT_ACCEPTED, /* 250 at RCPT: will get a reply after DATA */
	RCPT_REJECTED, /* refused at RCPT: not part of the transaction */
};

struct lmtp_rcpt {
	enum rcpt_state state;
	char *address; /* as written in RCPT TO, NUL-terminated */
	struct auth_recipient info;
	struct store_user *user;
	struct store_blob *blob;
	/* Set when the copy failed before the end of DATA (blob write) or
	 * by the delivery job: the final reply. */
	bool failed;
	char reply[LMTP_REPLY_MAX];
	uint32_t uid;
	char mailbox[256];
	uint64_t ms;
};

struct lmtp_session {
	struct conn *c;
	struct lmtp_parser parser;

	bool lhlo_done;
	bool busy;           /* an async job owns the transaction */
	bool quit;           /* QUIT answered: ignore the rest */

	/* the transaction */
	bool has_mail;
	char *sender;        /* "" for <>; malloc */
	uint64_t size_hint;  /* MAIL SIZE=, 0 if none */
	struct lmtp_rcpt **rcpts;
	unsigned n_rcpts, cap_rcpts;
	unsigned n_accepted;
	struct lmtp_rcpt *cur_rcpt; /* the one the RCPT job works on */

	/* DATA */
	bool in_data;
	bool too_big;
	/* CHUNKING: chunking is set from the first accepted BDAT of the
	 * transaction to its LAST; chunk_refused while the bytes of a chunk
	 * that got (or will get) 503 are read and dropped. */
	bool chunking;
	bool chunk_refused;
	bool chunk_last;
	uint64_t chunk_size;
	struct buf wbuf;
	struct timespec data_end;

	/* unconsumed input */
	size_t in_pos, in_len;
	char in[LMTP_IN_SIZE];
};

static void session_process(struct lmtp_session *s);

static uint64_t max_message_size(void)
{
	return roost_config != NULL ? roost_config->lmtp_max_message_size : 64ull * 1024 * 1024;
}

static unsigned max_recipients(void)
{
	return roost_config != NULL ? roost_config->lmtp_max_recipients : 100;
}

static char host_name[256];

static void host_name_init(void)
{
	if (gethostname(host_name, sizeof(host_name) - 1) != 0 || host_name[0] == '\0')
		snprintf(host_name, sizeof(host_name), "localhost");
}

static const char *server_name(void)
{
	/* Worker threads share it: filled once. */
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	if (roost_config != NULL && roost_config->hostname != NULL &&
	    roost_config->hostname[0] != '\0')
		return roost_config->hostname;
	pthread_once(&once, host_name_init);
	return host_name;
}

static void reply(struct lmtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void reply(struct lmtp_session *s, const char *fmt, ...)
{
	char line[LMTP_REPLY_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) - 2 ? (size_t)n : sizeof(line) - 3;
	line[len++] = '\r';
	line[len++] = '\n';
	conn_write(s->c, line, len);
}

static uint64_t elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ms = (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
	return ms < 0 ? 0 : (uint64_t)ms;
}

/* ------------------------------------------------------------------ */
/* the transaction */

static void rcpt_free(struct lmtp_rcpt **rp)
{
	struct lmtp_rcpt *r = *rp;
	if (r == NULL)
		return;
	store_blob_abort(&r->blob);
	store_user_unref(&r->user);
	free(r->address);
	free(r);
	*rp = NULL;
}

static void transaction_reset(struct lmtp_session *s)
{
	conn_set_quickack(s->c, false);
	for (unsigned i = 0; i < s->n_rcpts; i++)
		rcpt_free(&s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->n_rcpts = s->cap_rcpts = s->n_accepted = 0;
	free(s->sender);
	s->sender = NULL;
	s->has_mail = false;
	s->size_hint = 0;
	s->in_data = false;
	s->too_big = false;
	s->chunking = false;
	buf_free(&s->wbuf);
}

/* ------------------------------------------------------------------ */
/* RCPT: the lookup job */

static void rcpt_work(void *arg)
{
	struct lmtp_session *s = arg;
	struct lmtp_rcpt *r = s->cur_rcpt;
	const char *a = r->address;

	int ret = auth_lookup_recipient(a, &r->info);
	if (ret < 0) {
		snprintf(r->reply, sizeof(r->reply),
			 "451 4.3.0 <%s>: Temporary failure looking up the recipient", a);
		return;
	}
	if (ret == 0) {
		snprintf(r->reply, sizeof(r->reply), "550 5.1.1 <%s>: no such user", a);
		return;
	}
	if (!r->info.active) {
		snprintf(r->reply, sizeof(r->reply), "550 5.2.1 <%s>: Mailbox disabled", a);
		return;
	}
	if (store_user_open(r->info.user_key, &r->user) < 0) {
		const char *msg;
		store_error(&msg);
		snprintf(r->reply, sizeof(r->reply), "451 4.3.0 <%s>: Mailbox unavailable: %s", a,
			 msg);
		return;
	}
	ret = lmtp_deliver_quota_check(r->user, &r->info, s->size_hint);
	if (ret < 0) {
		const char *msg;
		store_error(&msg);
		snprintf(r->reply, sizeof(r->reply), "451 4.3.0 <%s>: Quota check failed: %s", a,
			 msg);
		store_user_unref(&r->user);
		return;
	}
	if (ret == 0) {
		snprintf(r->reply, sizeof(r->reply), "552 5.2.2 <%s>: Mailbox is full (over quota)",
			 a);
		store_user_unref(&r->user);
		return;
	}
	r->state = RCPT_ACCEPTED;
	snprintf(r->reply, sizeof(r->reply), "250 2.1.5 <%s>: Recipient OK", a);
}

/* Answers the RCPT the job worked on. */
static void rcpt_finish(struct lmtp_session *s)
{
	struct lmtp_rcpt *r = s->cur_rcpt;
	s->cur_rcpt = NULL;
	s->busy = false;
	if (!conn_is_closing(s->c))
		reply(s, "%s", r->reply);
	if (r->state == RCPT_ACCEPTED) {
		s->n_accepted++;
	} else {
		/* A refused recipient is not part of the transaction: drop it
		 * now (it is the last one added), so a client sending endless
		 * unknown recipients does not grow the session. */
		r->state = RCPT_REJECTED;
		s->n_rcpts--;
		rcpt_free(&s->rcpts[s->n_rcpts]);
	}
}

static void rcpt_done(void *arg)
{
	struct lmtp_session *s = arg;
	rcpt_finish(s);
	conn_input_resume(s->c);
	if (!conn_is_closing(s->c))
		session_process(s);
}

/* ------------------------------------------------------------------ */
/* DATA: streaming into the blobs, then the delivery job */

static void rcpt_fail(struct lmtp_rcpt *r, const char *what)
{
	const char *msg;
	enum store_error err = store_error(&msg);
	struct lmtp_failure f;
	lmtp_deliver_failure(err, &f);
	r->failed = true;
	snprintf(r->reply, sizeof(r->reply), "%u %s <%s>: %s%s%s", f.code, f.enhanced, r->address,
		 what, msg[0] ? ": " : "", msg);
	store_blob_abort(&r->blob);
}

/* Writes the gathered content to every recipient's blob. */
static void wbuf_flush(struct lmtp_session *s)
{
	if (s->wbuf.len == 0)
		return;
	for (unsigned i = 0; i < s->n_rcpts; i++) {
		struct lmtp_rcpt *r = s->rcpts[i];
		if (r->blob == NULL)
			continue;
		if (store_blob_write(r->blob, s->wbuf.data, s->wbuf.len) < 0)
			rcpt_fail(r, "Could not store the message");
	}
	buf_reset(&s->wbuf);
}

static void flush_work(void *arg)
{
	wbuf_flush(arg);
}

static void flush_done(void *arg)
{
	struct lmtp_session *s = arg;
	s->busy = false;
	conn_input_resume(s->c);
	if (!conn_is_closing(s->c))
		session_process(s);
}

static void data_begin(struct lmtp_session *s)
{
	conn_set_quickack(s->c, true);
	buf_init(&s->wbuf, LMTP_WBUF_SIZE);
	for (unsigned i = 0; i < s->n_rcpts; i++) {
		struct lmtp_rcpt *r = s->rcpts[i];
		if (r->state != RCPT_ACCEPTED)
			continue;
		/* Content is CRLF already (the parser normalises bare LF). */
		if (store_blob_begin(r->user, false, &r->blob) < 0) {
			rcpt_fail(r, "Could not store the message");
			continue;
		}
		if (lmtp_deliver_headers(r->blob, s->sender, r->address) < 0)
			rcpt_fail(r, "Could not store the message");
	}
	s->too_big = false;
}

static void data_chunk(struct lmtp_session *s, struct str text)
{
	if (s->too_big)
		return;
	if (s->parser.data_size > max_message_size()) {
		/* RFC 1870 6.3: keep reading to the end, then refuse. The
		 * partial copies are dropped now to free the disk. */
		s->too_big = true;
		for (unsigned i = 0; i < s->n_rcpts; i++)
			store_blob_abort(&s->rcpts[i]->blob);
		buf_reset(&s->wbuf);
		return;
	}
	/* An item is at most LMTP_IN_SIZE bytes (a view into in[] or a
	 * literal), and a flush starts whenever less room is left: it fits. */
	if (buf_append(&s->wbuf, text.p, text.len) < 0) {
		wbuf_flush(s); /* cannot happen; stay correct anyway */
		buf_append(&s->wbuf, text.p, text.len);
	}
	if (LMTP_WBUF_SIZE - s->wbuf.len < LMTP_IN_SIZE) {
		/* Writing to every recipient's blob is disk work: on the
		 * pool, with input suspended meanwhile (back-pressure). */
		s->busy = true;
		conn_input_suspend(s->c);
		if (conn_run_async(s->c, flush_work, flush_done, s) < 0) {
			wbuf_flush(s);
			s->busy = false;
			conn_input_resume(s->c);
		}
	}
}

static void deliver_work(void *arg)
{
	struct lmtp_session *s = arg;
	wbuf_flush(s);
	for (unsigned i = 0; i < s->n_rcpts; i++) {
		struct lmtp_rcpt *r = s->rcpts[i];
		if (r->state != RCPT_ACCEPTED || r->failed)
			continue;
		uint64_t mailbox_id;
		if (lmtp_deliver_mailbox(r->user, r->info.folder, &mailbox_id, r->mailbox,
					 sizeof(r->mailbox)) < 0) {
			rcpt_fail(r, "Could not open the mailbox");
			continue;
		}
		struct store_append_req req = { 0 };
		uint32_t uidvalidity;
		if (store_append(r->user, mailbox_id, &r->blob, &req, &r->uid, &uidvalidity) < 0) {
			rcpt_fail(r, "Could not store the message");
			continue;
		}
		r->ms = elapsed_ms(&s->data_end);
		snprintf(r->reply, sizeof(r->reply), "250 2.0.0 <%s> Saved as UID %u", r->address,
			 r->uid);
	}
	/* The last reference parks the user's handle (store_user_unref), so
	 * the next delivery to the same user finds its database open; if
	 * too many are parked, this closes the oldest: on the pool, not on
	 * the event loop. */
	for (unsigned i = 0; i < s->n_rcpts; i++) {
		store_blob_abort(&s->rcpts[i]->blob);
		store_user_unref(&s->rcpts[i]->user);
	}
}

/* One reply per accepted recipient, in RCPT order, and a log line each. */
static void deliver_finish(struct lmtp_session *s)
{
	s->busy = false;
	uint64_t size = s->parser.data_size;
	for (unsigned i = 0; i < s->n_rcpts; i++) {
		struct lmtp_rcpt *r = s->rcpts[i];
		if (r->state != RCPT_ACCEPTED)
			continue;
		char from_q[340], to_q[340], mbox_q[300];
		log_quote(s->sender, from_q, sizeof(from_q));
		log_quote(r->info.address, to_q, sizeof(to_q));
		if (!r->failed) {
			log_quote(r->mailbox, mbox_q, sizeof(mbox_q));
			log_info("lmtp-deliver",
				 "%s from=%s to=%s mailbox=%s size=%llu uid=%u ms=%llu",
				 conn_log_prefix(s->c), from_q, to_q, mbox_q,
				 (unsigned long long)size, r->uid, (unsigned long long)r->ms);
		} else {
			char why_q[LMTP_REPLY_MAX + 8];
			log_quote(r->reply, why_q, sizeof(why_q));
			log_warn("lmtp-deliver-failed", "%s from=%s to=%s size=%llu reply=%s",
				 conn_log_prefix(s->c), from_q, to_q, (unsigned long long)size,
				 why_q);
		}
		if (!conn_is_closing(s->c))
			reply(s, "%s", r->reply);
	}
	transaction_reset(s);
}

static void deliver_done(void *arg)
{
	struct lmtp_session *s = arg;
	deliver_finish(s);
	conn_input_resume(s->c);
	if (!conn_is_closing(s->c))
		session_process(s);
}

/* The final "." arrived. */
static void data_end(struct lmtp_session *s)
{
	conn_set_quickack(s->c, false);
	s->in_data = false;
	clock_gettime(CLOCK_MONOTONIC, &s->data_end);
	const char *perm = NULL;
	char text[128];

	if (s->too_big || s->parser.data_size > max_message_size()) {
		snprintf(text, sizeof(text), "552 5.3.4 Message too big (limit %llu bytes)",
			 (unsigned long long)max_message_size());
		perm = text;
	} else if (s->parser.nul_bytes > 0) {
		/* RFC 2045 2.7, 2.8: no NUL in 7bit or 8bit data; IMAP
		 * cannot deliver NUL in a message text (RFC 9051 4.3). */
		perm = "554 5.6.0 Message contains NUL bytes";
	}
	if (perm != NULL) {
		/* One reply per accepted recipient, all alike. */
		for (unsigned i = 0; i < s->n_rcpts; i++) {
			struct lmtp_rcpt *r = s->rcpts[i];
			if (r->state != RCPT_ACCEPTED)
				continue;
			store_blob_abort(&r->blob);
			/* Insert the address after the enhanced code. */
			snprintf(r->reply, sizeof(r->reply), "%.9s <%s>:%s", perm, r->address,
				 perm + 9);
			r->failed = true;
		}
		deliver_finish(s);
		return;
	}
	s->busy = true;
	conn_input_suspend(s->c);
	if (conn_run_async(s->c, deliver_work, deliver_done, s) < 0) {
		for (unsigned i = 0; i < s->n_rcpts; i++) {
			struct lmtp_rcpt *r = s->rcpts[i];
			if (r->state != RCPT_ACCEPTED || r->failed)
				continue;
			store_blob_abort(&r->blob);
			r->failed = true;
			snprintf(r->reply, sizeof(r->reply), "451 4.3.0 <%s>: Server busy, try again",
				 r->address);
		}
		conn_input_resume(s->c);
		deliver_finish(s);
	}
}

/* ------------------------------------------------------------------ */
/* commands */

static void cmd_lhlo(struct lmtp_session *s, struct str args)
{
	if (args.len == 0) {
		reply(s, "501 5.5.4 Syntax: LHLO hostname");
		return;
	}
	/* Like EHLO (RFC 5321 4.1.4): a new LHLO resets the transaction. */
	transaction_reset(s);
	s->lhlo_done = true;
	conn_printf(s->c, "250-%s\r\n", server_name());
	if (conn_tls_available(s->c) && !conn_is_tls(s->c))
		conn_write_cstr(s->c, "250-STARTTLS\r\n");
	conn_printf(s->c,
		    "250-PIPELINING\r\n"
		    "250-ENHANCEDSTATUSCODES\r\n"
		    "250-8BITMIME\r\n"
		    "250-CHUNKING\r\n"
		    "250 SIZE %llu\r\n",
		    (unsigned long long)max_message_size());
}

static void cmd_mail(struct lmtp_session *s, struct str args)
{
	if (s->has_mail) {
		reply(s, "503 5.5.1 Nested MAIL command");
		return;
	}
	struct lmtp_path path;
	const char *err;
	if (lmtp_path_parse(args, true, &path, &err) < 0) {
		reply(s, "501 5.5.4 %s", err);
		return;
	}
	uint64_t size = 0;
	for (unsigned i = 0; i < path.n_params; i++) {
		const struct lmtp_param *p = &path.params[i];
		if (str_eq_cstr_nocase(p->keyword, "SIZE")) {
			/* RFC 1870 6: SIZE=<decimal>. */
			if (!p->has_value || str_to_u64(p->value, &size) < 0) {
				reply(s, "501 5.5.4 Bad SIZE parameter");
				return;
			}
		} else if (str_eq_cstr_nocase(p->keyword, "BODY")) {
			/* RFC 6152 2: 7BIT or 8BITMIME; both are stored as
			 * they come. */
			if (!p->has_value || (!str_eq_cstr_nocase(p->value, "7BIT") &&
					      !str_eq_cstr_nocase(p->value, "8BITMIME"))) {
				reply(s, "501 5.5.4 Unsupported BODY type");
				return;
			}
		} else {
			/* RFC 5321 4.1.1.11: 555 for unrecognised parameters. */
			reply(s, "555 5.5.4 Unsupported parameter %.*s", (int)p->keyword.len,
			      p->keyword.p);
			return;
		}
	}
	if (size > max_message_size()) {
		reply(s, "552 5.3.4 Message too big (limit %llu bytes)",
		      (unsigned long long)max_message_size());
		return;
	}
	s->sender = strndup(path.address.p, path.address.len);
	if (s->sender == NULL) {
		reply(s, "451 4.3.0 Out of memory");
		return;
	}
	s->has_mail = true;
	s->size_hint = size;
	reply(s, "250 2.1.0 Sender OK");
}

static void cmd_rcpt(struct lmtp_session *s, struct str args)
{
	if (!s->has_mail) {
		reply(s, "503 5.5.1 MAIL first");
		return;
	}
	struct lmtp_path path;
	const char *err;
	if (lmtp_path_parse(args, false, &path, &err) < 0) {
		reply(s, "501 5.5.4 %s", err);
		return;
	}
	if (path.n_params > 0) {
		reply(s, "555 5.5.4 Unsupported parameter %.*s", (int)path.params[0].keyword.len,
		      path.params[0].keyword.p);
		return;
	}
	if (path.address.len >= AUTH_ADDRESS_MAX) {
		reply(s, "501 5.1.3 Address too long");
		return;
	}
	/* RFC 5321 4.5.3.1.10: 452 for too many recipients. */
	if (s->n_accepted >= max_recipients()) {
		reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (s->n_rcpts == s->cap_rcpts) {
		unsigned cap = s->cap_rcpts ? s->cap_rcpts * 2 : 4;
		struct lmtp_rcpt **n = realloc(s->rcpts, cap * sizeof(*n));
		if (n == NULL) {
			reply(s, "451 4.3.0 Out of memory");
			return;
		}
		s->rcpts = n;
		s->cap_rcpts = cap;
	}
	struct lmtp_rcpt *r = calloc(1, sizeof(*r));
	if (r == NULL || (r->address = strndup(path.address.p, path.address.len)) == NULL) {
		free(r);
		reply(s, "451 4.3.0 Out of memory");
		return;
	}
	r->state = RCPT_PENDING;
	s->rcpts[s->n_rcpts++] = r;
	s->cur_rcpt = r;
	s->busy = true;
	conn_input_suspend(s->c);
	if (conn_run_async(s->c, rcpt_work, rcpt_done, s) < 0) {
		snprintf(r->reply, sizeof(r->reply), "451 4.3.0 <%s>: Server busy, try again",
			 r->address);
		conn_input_resume(s->c);
		rcpt_finish(s);
	}
}

static void cmd_data(struct lmtp_session *s, struct str args)
{
	if (args.len != 0) {
		reply(s, "501 5.5.4 DATA takes no arguments");
		return;
	}
	if (!s->has_mail) {
		reply(s, "503 5.5.1 MAIL first");
		return;
	}
	/* RFC 2033 4.2: no successful RCPT, DATA fails with 503. */
	if (s->n_accepted == 0) {
		reply(s, "503 5.5.1 No valid recipients");
		return;
	}
	if (s->chunking) {
		reply(s, "503 5.5.1 DATA cannot follow BDAT");
		return;
	}
	reply(s, "354 Start mail input; end with <CRLF>.<CRLF>");
	data_begin(s);
	s->in_data = true;
	lmtp_parser_begin_data(&s->parser);
}

/* RFC 3030: BDAT <size> [LAST]. The chunk's bytes follow the command
 * line whatever the answer, so they are always read; a refused chunk's
 * bytes are dropped and its 503 sent after them. */
static void cmd_bdat(struct lmtp_session *s, struct str args)
{
	uint64_t size;
	bool last;
	if (lmtp_bdat_parse(args, &size, &last) < 0) {
		/* The chunk length is unknown: what follows is read as
		 * commands (RFC 3030 gives no better way out). */
		reply(s, "501 5.5.4 Syntax: BDAT <size> [LAST]");
		return;
	}
	s->chunk_size = size;
	s->chunk_last = last;
	s->chunk_refused = !s->has_mail || s->n_accepted == 0;
	if (!s->chunk_refused && !s->chunking) {
		/* The first chunk of the message. */
		lmtp_parser_message_begin(&s->parser);
		data_begin(s);
		s->chunking = true;
	}
	lmtp_parser_begin_chunk(&s->parser, size);
}

static void chunk_end(struct lmtp_session *s)
{
	if (s->chunk_refused) {
		reply(s, "503 5.5.1 %s", !s->has_mail ? "MAIL first" : "No valid recipients");
		return;
	}
	if (!s->chunk_last) {
		reply(s, "250 2.0.0 %llu octets received", (unsigned long long)s->chunk_size);
		return;
	}
	/* BDAT LAST: one reply per recipient, as after DATA (RFC 2033 4.2). */
	s->chunking = false;
	data_end(s);
}

static void cmd_starttls(struct lmtp_session *s, struct str args)
{
	if (args.len != 0) {
		reply(s, "501 5.5.4 STARTTLS takes no arguments");
		return;
	}
	if (conn_is_tls(s->c)) {
		reply(s, "503 5.5.1 TLS already active");
		return;
	}
	if (!conn_tls_available(s->c)) {
		reply(s, "454 4.7.0 TLS not available");
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	if (conn_starttls(s->c) < 0) {
		conn_close(s->c, "starttls failed");
		return;
	}
	/* RFC 3207 4.2: forget everything, including pipelined input read
	 * before the handshake (the net layer drops its own buffer). */
	transaction_reset(s);
	s->lhlo_done = false;
	lmtp_parser_reset(&s->parser);
	s->in_pos = s->in_len = 0;
}

static void handle_line(struct lmtp_session *s, const struct lmtp_item *item)
{
	if (item->too_long) {
		reply(s, "500 5.5.2 Line too long (limit %d octets)", LMTP_MAX_COMMAND_LINE);
		return;
	}
	struct lmtp_command cmd;
	if (lmtp_command_parse(item->text, &cmd) < 0) {
		reply(s, "500 5.5.2 Syntax error");
		return;
	}
	bool needs_lhlo = cmd.verb == LMTP_VERB_MAIL || cmd.verb == LMTP_VERB_RCPT ||
			  cmd.verb == LMTP_VERB_DATA;
	/* While a message comes in BDAT chunks only more chunks, RSET, NOOP
	 * and QUIT make sense (RFC 3030 2). */
	if (s->chunking && cmd.verb != LMTP_VERB_BDAT && cmd.verb != LMTP_VERB_RSET &&
	    cmd.verb != LMTP_VERB_NOOP && cmd.verb != LMTP_VERB_QUIT) {
		reply(s, "503 5.5.1 Send BDAT or RSET");
		return;
	}
	if (needs_lhlo && !s->lhlo_done) {
		reply(s, "503 5.5.1 Send LHLO first");
		return;
	}
	switch (cmd.verb) {
	case LMTP_VERB_LHLO:
		cmd_lhlo(s, cmd.args);
		break;
	case LMTP_VERB_HELO:
	case LMTP_VERB_EHLO:
		/* RFC 2033 4.1: LMTP has LHLO instead. */
		reply(s, "500 5.5.1 This is an LMTP server: use LHLO");
		break;
	case LMTP_VERB_MAIL:
		cmd_mail(s, cmd.args);
		break;
	case LMTP_VERB_RCPT:
		cmd_rcpt(s, cmd.args);
		break;
	case LMTP_VERB_DATA:
		cmd_data(s, cmd.args);
		break;
	case LMTP_VERB_RSET:
		if (cmd.args.len != 0) {
			reply(s, "501 5.5.4 RSET takes no arguments");
			break;
		}
		transaction_reset(s);
		reply(s, "250 2.0.0 OK");
		break;
	case LMTP_VERB_NOOP:
		reply(s, "250 2.0.0 OK");
		break;
	case LMTP_VERB_QUIT:
		reply(s, "221 2.0.0 %s closing connection", server_name());
		s->quit = true;
		conn_close(s->c, "quit");
		break;
	case LMTP_VERB_VRFY:
		if (cmd.args.len == 0) {
			reply(s, "501 5.5.4 Syntax: VRFY address");
			break;
		}
		/* RFC 5321 3.5.3: 252 when the server will not verify. */
		reply(s, "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
		break;
	case LMTP_VERB_STARTTLS:
		cmd_starttls(s, cmd.args);
		break;
	case LMTP_VERB_HELP:
		reply(s, "214 2.0.0 Commands: LHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP");
		break;
	case LMTP_VERB_BDAT:
		cmd_bdat(s, cmd.args);
		break;
	case LMTP_VERB_UNKNOWN:
		reply(s, "500 5.5.2 Unknown command");
		break;
	}
}

/* Feeds buffered input to the parser and handles items until the input
 * runs out, a job starts, or the output is full. */
static void session_process(struct lmtp_session *s)
{
	while (!s->busy && !s->quit && !conn_is_closing(s->c)) {
		if (conn_output_full(s->c))
			return; /* output_drained() continues */
		if (s->in_pos == s->in_len && !lmtp_parser_pending(&s->parser)) {
			s->in_pos = 0;
			s->in_len = conn_read(s->c, s->in, sizeof(s->in));
			if (s->in_len == 0)
				return;
		}
		struct lmtp_item item;
		size_t used = 0;
		int ret = lmtp_parser_feed(&s->parser, s->in + s->in_pos, s->in_len - s->in_pos,
					   &used, &item);
		s->in_pos += used;
		if (ret == 0)
			continue;
		switch (item.type) {
		case LMTP_ITEM_LINE:
			handle_line(s, &item);
			break;
		case LMTP_ITEM_DATA:
			if (!s->chunk_refused || !s->parser.in_chunk)
				data_chunk(s, item.text);
			break;
		case LMTP_ITEM_CHUNK_END:
			chunk_end(s);
			break;
		case LMTP_ITEM_DATA_END:
			data_end(s);
			break;
		}
	}
}

/* ------------------------------------------------------------------ */
/* proto_ops */

static void *lmtp_open(struct conn *c)
{
	struct lmtp_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->c = c;
	lmtp_parser_init(&s->parser);
	s->wbuf = BUF_INIT(LMTP_WBUF_SIZE);
	conn_set_idle_timeout(c, LMTP_IDLE_TIMEOUT);
	conn_printf(c, "220 %s LMTP Roost ready\r\n", server_name());
	return s;
}

static void lmtp_input(void *session)
{
	struct lmtp_session *s = session;
	session_process(s);
}

static void lmtp_output_drained(void *session)
{
	struct lmtp_session *s = session;
	session_process(s);
}

static void lmtp_shutdown(void *session)
{
	struct lmtp_session *s = session;
	reply(s, "421 4.3.2 %s Service shutting down", server_name());
}

static void lmtp_timeout(void *session)
{
	struct lmtp_session *s = session;
	reply(s, "421 4.4.2 %s Timeout, closing connection", server_name());
}

static void lmtp_close(void *session, const char *reason)
{
	struct lmtp_session *s = session;
	/* An unfinished message is dropped: nothing was acknowledged, the
	 * MTA still has it. */
	transaction_reset(s);
	free(s);
}

const struct proto_ops lmtp_proto_ops = {
	.name = "lmtp",
	.open = lmtp_open,
	.input = lmtp_input,
	.output_drained = lmtp_output_drained,
	.shutdown = lmtp_shutdown,
	.timeout = lmtp_timeout,
	.close = lmtp_close,
};
