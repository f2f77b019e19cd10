/* conn.c - one client connection: buffers, lines, TLS, compression,
 * timeouts, back-pressure and the deferred close.
 *
 * Layout of a connection. A connection is a small stack of bufferevents,
 * bottom first in chain[]: the socket (or, for implicit TLS, an OpenSSL
 * bufferevent on the socket), then possibly an OpenSSL filter (STARTTLS)
 * and a DEFLATE filter (COMPRESS). The protocol only ever sees the top one
 * (c->bev): it reads decoded input from it and writes plain output into
 * it, and the filters move bytes down.
 *
 * Everything the connection must do "later" (deliver input after a
 * resume, tell the protocol that output drained, switch on TLS once the
 * OK was flushed, free itself) is a bit in c->tasks, run from one
 * per-connection event (ev_task). That keeps every protocol callback out
 * of libevent's own callbacks and makes "never free an object from inside
 * its own callback" automatic: conn_close() only sets a flag.
 *
 * A second event (ev_timer) is the idle timeout while the connection is
 * open, and the flush deadline once it is closing. */
#include "net/net-internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/log.h"
#include "net/tls.h"

enum {
	TASK_CHECK_OUTPUT = 1 << 0,
	TASK_SWITCH = 1 << 1,
	TASK_DRAINED = 1 << 2,
	TASK_INPUT = 1 << 3,
	TASK_DESTROY = 1 << 4,
};

enum conn_switch { SWITCH_NONE, SWITCH_STARTTLS, SWITCH_COMPRESS };

struct conn_wakeup {
	struct conn_wakeup *next;
	struct conn *conn;
	void (*cb)(void *session);
	struct event *ev;
};

struct conn {
	uint64_t id;
	struct worker *worker;
	struct listener *listener;
	const struct proto_ops *ops;
	void *session;
	struct conn *prev, *next; /* worker's list */

	struct bufferevent *bev; /* top of chain */
	struct bufferevent *chain[3];
	unsigned n_chain;
	struct evbuffer_cb_entry *out_cb, *in_cb; /* on the bottom buffers */

	struct event *ev_task;
	struct event *ev_timer;
	unsigned tasks;
	unsigned idle_timeout;

	struct buf line;       /* conn_read_line's copy of the current line */
	size_t line_scanned;   /* input bytes known to hold no LF */
	bool discarding;       /* inside an over-long line */

	enum conn_switch pending_switch;
	bool tls, tls_handshaken, compressed;
	bool closing, dead, flush_expired;
	bool input_suspended, output_full, read_enabled;
	bool zlib_dirty;
	bool counted_ip;
	bool quickack; /* conn_set_quickack */
	uint64_t upload_mark; /* bytes_in at the last read callback while quickack */
	unsigned pending_async;
	struct conn_wakeup *wakeups;

	uint64_t bytes_in, bytes_out;
	time_t started;
	char *user;
	char *log_prefix;
	char close_reason[96];
	char remote_ip[NET_IP_MAX];
	char local_ip[NET_IP_MAX];
	unsigned remote_port, local_port;
};

static atomic_uint_fast64_t next_conn_id = 1;

static void conn_after_callback(struct conn *c);
static bool conn_try_destroy(struct conn *c);

static void conn_schedule(struct conn *c, unsigned task)
{
	c->tasks |= task;
	event_active(c->ev_task, EV_TIMEOUT, 0);
}

static struct evbuffer *conn_in(const struct conn *c)
{
	return bufferevent_get_input(c->bev);
}

/* Reading is on unless the connection is closing, waits for a TLS or
 * compression switch, or has too much unsent output (back-pressure). */
static void conn_update_reading(struct conn *c)
{
	bool want = !c->closing && !c->dead && !c->output_full;
	if (want == c->read_enabled)
		return;
	c->read_enabled = want;
	if (want)
		bufferevent_enable(c->bev, EV_READ);
	else
		bufferevent_disable(c->bev, EV_READ);
}

static void conn_arm_timer(struct conn *c, unsigned seconds)
{
	if (seconds == 0) {
		event_del(c->ev_timer);
		return;
	}
	struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };
	event_add(c->ev_timer, &tv);
}

/* ---------------------------------------------------------------- output */

size_t conn_output_len(const struct conn *c)
{
	size_t n = 0;
	for (unsigned i = 0; i < c->n_chain; i++)
		n += evbuffer_get_length(bufferevent_get_output(c->chain[i]));
	return n;
}

bool conn_output_full(const struct conn *c)
{
	return c->output_full;
}

static void conn_note_output(struct conn *c)
{
	if (c->compressed)
		c->zlib_dirty = true;
	if (!c->output_full && conn_output_len(c) > CONN_OUTPUT_HIGH) {
		c->output_full = true;
		conn_update_reading(c);
	}
}

void conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->dead || len == 0)
		return;
	if (bufferevent_write(c->bev, data, len) < 0) {
		conn_close(c, "out of memory");
		return;
	}
	conn_note_output(c);
}

void conn_write_str(struct conn *c, struct str s)
{
	conn_write(c, s.p, s.len);
}

void conn_write_cstr(struct conn *c, const char *s)
{
	conn_write(c, s, strlen(s));
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	if (c->dead)
		return;
	va_start(ap, fmt);
	int r = evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
	if (r < 0) {
		conn_close(c, "out of memory");
		return;
	}
	conn_note_output(c);
}

int conn_write_file(struct conn *c, int fd, off_t off, size_t len)
{
	if (c->dead)
		return -1;
	if (len == 0)
		return 1;
	int dup_fd = dup(fd);
	if (dup_fd < 0)
		return -1;
	/* evbuffer takes the duplicate: sendfile() on a plain socket, mmap or
	 * reads when a TLS or compression filter has to see the bytes. */
	if (evbuffer_add_file(bufferevent_get_output(c->bev), dup_fd, off, (ev_off_t)len) < 0) {
		close(dup_fd);
		return -1;
	}
	conn_note_output(c);
	return 1;
}

/* Called for every change of the bottom output buffer: count what went to
 * the socket, and look at the back-pressure state once the loop is back. */
static void conn_bottom_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	if (info->n_deleted > 0) {
		c->bytes_out += info->n_deleted;
		conn_schedule(c, TASK_CHECK_OUTPUT);
	}
}

static void conn_bottom_in_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	c->bytes_in += info->n_added;
}

static void conn_check_output(struct conn *c)
{
	size_t len = conn_output_len(c);
	if (c->output_full && len <= CONN_OUTPUT_LOW) {
		c->output_full = false;
		conn_update_reading(c);
		c->tasks |= TASK_DRAINED;
	}
	if (len == 0) {
		if (c->pending_switch != SWITCH_NONE)
			c->tasks |= TASK_SWITCH;
		if (c->closing)
			c->tasks |= TASK_DESTROY;
	}
}

/* ----------------------------------------------------------------- input */

size_t conn_input_len(const struct conn *c)
{
	return evbuffer_get_length(conn_in(c));
}

size_t conn_read(struct conn *c, void *dst, size_t max)
{
	int n = evbuffer_remove(conn_in(c), dst, max);
	if (n <= 0)
		return 0;
	c->line_scanned = c->line_scanned > (size_t)n ? c->line_scanned - (size_t)n : 0;
	return (size_t)n;
}

int conn_read_line(struct conn *c, struct str *line_r, size_t max_len)
{
	struct evbuffer *in = conn_in(c);
	/* A line must fit in the input buffer, which stops growing at
	 * CONN_INPUT_HIGH while the protocol is busy. */
	if (max_len > CONN_INPUT_HIGH - 2)
		max_len = CONN_INPUT_HIGH - 2;
	if (c->line.cap > CONN_LINE_KEEP)
		buf_free(&c->line);
	buf_reset(&c->line);

	size_t avail = evbuffer_get_length(in);
	struct evbuffer_ptr start;
	if (c->line_scanned > avail)
		c->line_scanned = avail;
	if (evbuffer_ptr_set(in, &start, c->line_scanned, EVBUFFER_PTR_SET) < 0)
		return 0;
	struct evbuffer_ptr lf = evbuffer_search(in, "\n", 1, &start);

	if (c->discarding) {
		if (lf.pos < 0) {
			evbuffer_drain(in, avail);
			c->line_scanned = 0;
			return 0;
		}
		evbuffer_drain(in, (size_t)lf.pos + 1);
		c->line_scanned = 0;
		c->discarding = false;
		return -1;
	}
	if (lf.pos < 0) {
		/* max_len bytes and a CR may still be followed by the LF. */
		if (avail > max_len + 1) {
			evbuffer_drain(in, avail);
			c->line_scanned = 0;
			c->discarding = true;
			return 0;
		}
		c->line_scanned = avail;
		return 0;
	}

	size_t total = (size_t)lf.pos + 1;
	size_t len = (size_t)lf.pos;
	c->line_scanned = 0;
	if (len > max_len + 1) {
		evbuffer_drain(in, total);
		return -1;
	}
	if (buf_reserve(&c->line, total) < 0) {
		evbuffer_drain(in, total);
		return -1;
	}
	evbuffer_remove(in, c->line.data, total);
	if (len > 0 && c->line.data[len - 1] == '\r')
		len--;
	if (len > max_len) {
		return -1;
	}
	c->line.len = len;
	c->line.data[len] = '\0';
	*line_r = str_make(c->line.data, len);
	return 1;
}

void conn_input_suspend(struct conn *c)
{
	c->input_suspended = true;
}

void conn_input_resume(struct conn *c)
{
	if (!c->input_suspended)
		return;
	c->input_suspended = false;
	if (conn_input_len(c) > 0 || c->discarding)
		conn_schedule(c, TASK_INPUT);
}

static void conn_deliver_input(struct conn *c)
{
	if (c->closing || c->dead || c->input_suspended || c->session == NULL ||
	    c->pending_switch != SWITCH_NONE)
		return;
	if (conn_input_len(c) == 0)
		return;
	c->ops->input(c->session);
	conn_after_callback(c);
}

/* Not sticky in the kernel: quick-ACK mode lasts until the next
 * delayed-ACK decision, so it is set again at every read. Setting it also
 * sends an ACK the kernel is holding back. Fails harmlessly (EOPNOTSUPP)
 * on UNIX sockets. */
static void conn_quickack_now(struct conn *c)
{
	int one = 1;
	(void)setsockopt((int)bufferevent_getfd(c->chain[0]), IPPROTO_TCP, TCP_QUICKACK, &one,
			 sizeof(one));
}

void conn_set_quickack(struct conn *c, bool on)
{
	/* The read that brought the start of the upload was acknowledged
	 * late if at all: the client may already be holding data back. */
	if (on && !c->quickack && !c->dead)
		conn_quickack_now(c);
	c->quickack = on;
	c->upload_mark = c->bytes_in;
}

/* libevent 2.1 reads at most 4 KiB per readable event (EVBUFFER_MAX_READ
 * in buffer.c): an upload of megabytes would cost a loop turn, an
 * epoll_wait, an ioctl and a quick ACK per 4 KiB. While an upload comes in
 * on a plain socket, whatever else the socket already holds is taken in one
 * more read, within the input bound. End of file and errors are left for
 * libevent's next read to report. */
#define CONN_UPLOAD_READ_MAX (256 * 1024)
#define CONN_LIBEVENT_READ 4096

static void conn_read_more(struct conn *c)
{
	if (c->n_chain != 1 || c->tls || c->compressed || c->dead)
		return;
	int fd = (int)bufferevent_getfd(c->bev);
	int pending = 0;
	if (fd < 0 || ioctl(fd, FIONREAD, &pending) < 0 || pending <= 0)
		return;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t have = evbuffer_get_length(in);
	if (have >= CONN_INPUT_HIGH)
		return;
	size_t want = CONN_INPUT_HIGH - have;
	if (want > CONN_UPLOAD_READ_MAX)
		want = CONN_UPLOAD_READ_MAX;
	if (want > (size_t)pending)
		want = (size_t)pending;
	/* A socket bufferevent keeps its input's end frozen; it unfreezes it
	 * around its own reads in the same way. */
	evbuffer_unfreeze(in, 0);
	struct evbuffer_iovec v[2];
	int n = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2);
	if (n <= 0) {
		evbuffer_freeze(in, 0);
		return;
	}
	struct iovec iov[2];
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	ssize_t got;
	do
		got = readv(fd, iov, n);
	while (got < 0 && errno == EINTR);
	if (got <= 0) {
		evbuffer_commit_space(in, v, 0);
		evbuffer_freeze(in, 0);
		return;
	}
	int used = 0;
	size_t left = (size_t)got;
	while (left > 0 && used < n) {
		if (v[used].iov_len > left)
			v[used].iov_len = left;
		left -= v[used].iov_len;
		used++;
	}
	evbuffer_commit_space(in, v, used);
	evbuffer_freeze(in, 0);
}

static void conn_readcb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (c->quickack) {
		/* A read shorter than libevent's limit emptied the socket. */
		if (c->bytes_in - c->upload_mark >= CONN_LIBEVENT_READ)
			conn_read_more(c);
		c->upload_mark = c->bytes_in;
		conn_quickack_now(c);
	}
	if (!c->closing)
		conn_arm_timer(c, c->idle_timeout);
	conn_deliver_input(c);
}

/* ------------------------------------------------------------ callbacks */

/* After every protocol callback: end the output batch (compression holds
 * small writes back until told) and apply back-pressure. */
static void conn_after_callback(struct conn *c)
{
	if (c->dead)
		return;
	if (c->compressed && c->zlib_dirty) {
		c->zlib_dirty = false;
		net_compress_flush(c->bev);
	}
	conn_note_output(c);
	conn_check_output(c);
	if (c->tasks)
		event_active(c->ev_task, EV_TIMEOUT, 0);
}

static void conn_set_top(struct conn *c, struct bufferevent *bev);

static void conn_log_disconnect(struct conn *c)
{
	log_info("disconnect", "%s reason=%s bytes_in=%llu bytes_out=%llu seconds=%lld",
		 conn_log_prefix(c), c->close_reason[0] ? c->close_reason : "closed",
		 (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out,
		 (long long)(time(NULL) - c->started));
}

static void conn_set_reason(struct conn *c, const char *reason)
{
	if (c->close_reason[0] == '\0') {
		char q[sizeof(c->close_reason)];
		log_quote(reason, q, sizeof(q));
		snprintf(c->close_reason, sizeof(c->close_reason), "%s", q);
	}
}

static void conn_do_switch(struct conn *c)
{
	enum conn_switch sw = c->pending_switch;
	c->pending_switch = SWITCH_NONE;
	if (c->closing || c->dead)
		return;
	struct bufferevent *under = c->bev;
	struct bufferevent *top;
	if (sw == SWITCH_STARTTLS) {
		SSL *ssl = tls_ssl_new();
		if (ssl == NULL) {
			conn_close(c, "tls unavailable");
			return;
		}
		top = bufferevent_openssl_filter_new(c->worker->base, under, ssl,
						     BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (top == NULL) {
			SSL_free(ssl);
			conn_close(c, "out of memory");
			return;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(top, 1);
		c->tls = true;
	} else {
		char err[128];
		top = net_compress_push(under, err, sizeof(err));
		if (top == NULL) {
			conn_close(c, err);
			return;
		}
		c->compressed = true;
	}
	conn_set_top(c, top);
	/* Bytes the client sent after it saw our OK may already sit in the
	 * lower buffer (a ClientHello): make the new layer look at them. */
	if (evbuffer_get_length(bufferevent_get_input(under)) > 0)
		bufferevent_trigger(under, EV_READ, BEV_TRIG_IGNORE_WATERMARKS);
	if (conn_input_len(c) > 0)
		c->tasks |= TASK_INPUT;
}

static void conn_task_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	/* Tasks may schedule further tasks; run until none is left. */
	for (int round = 0; c->tasks && round < 8; round++) {
		unsigned t = c->tasks;
		c->tasks = 0;
		if (t & TASK_CHECK_OUTPUT)
			conn_check_output(c);
		t |= c->tasks;
		c->tasks = 0;
		if (t & TASK_SWITCH)
			conn_do_switch(c);
		if ((t & TASK_DRAINED) && !c->closing && !c->dead && c->session) {
			if (c->ops->output_drained)
				c->ops->output_drained(c->session);
			conn_after_callback(c);
			if (!c->output_full && conn_input_len(c) > 0)
				t |= TASK_INPUT;
		}
		if (t & TASK_INPUT)
			conn_deliver_input(c);
		if ((t & TASK_DESTROY) && conn_try_destroy(c))
			return; /* c is gone */
	}
	if (c->tasks)
		event_active(c->ev_task, EV_TIMEOUT, 0);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (c->closing) {
		c->flush_expired = true;
		conn_try_destroy(c);
		return;
	}
	log_info("timeout", "%s seconds=%u", conn_log_prefix(c), c->idle_timeout);
	if (c->session && c->ops->timeout) {
		c->ops->timeout(c->session);
		conn_after_callback(c);
	}
	conn_close(c, "timeout");
}

static void conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		/* The TLS handshake completed. */
		char desc[128];
		c->tls_handshaken = true;
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		if (ssl) {
			tls_describe(ssl, desc, sizeof(desc));
			log_info("tls", "%s version=%s", conn_log_prefix(c), desc);
		}
		return;
	}
	char reason[160];
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		if (e != 0) {
			char why[128];
			ERR_error_string_n(e, why, sizeof(why));
			while (bufferevent_get_openssl_error(bev) != 0)
				;
			snprintf(reason, sizeof(reason), "tls error: %s", why);
		} else if (c->tls && !c->tls_handshaken) {
			snprintf(reason, sizeof(reason), "tls handshake failed");
		} else {
			snprintf(reason, sizeof(reason), "%s",
				 errno ? strerror(errno) : "connection error");
		}
		conn_set_reason(c, reason);
		c->dead = true;
		c->closing = true;
		conn_update_reading(c);
		conn_schedule(c, TASK_DESTROY);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/* The peer closed its side; whatever we still have to say is
		 * flushed if it still listens (a half-close), within the grace. */
		conn_close(c, "eof");
		return;
	}
}

static void conn_set_top(struct conn *c, struct bufferevent *bev)
{
	/* A filter pushed over the old top has already taken over its
	 * callbacks. */
	c->chain[c->n_chain++] = bev;
	c->bev = bev;
	bufferevent_setcb(bev, conn_readcb, NULL, conn_eventcb, c);
	bufferevent_setwatermark(bev, EV_READ, 0, CONN_INPUT_HIGH);
	c->read_enabled = false;
	bufferevent_enable(bev, EV_WRITE);
	conn_update_reading(c);
}

/* -------------------------------------------------------- creation, end */

static void conn_format_addr(const struct sockaddr_storage *ss, char *ip, size_t cap,
			     unsigned *port)
{
	*port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		evutil_inet_ntop(AF_INET, &sin->sin_addr, ip, cap);
		*port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			evutil_inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], ip, cap);
		else
			evutil_inet_ntop(AF_INET6, &sin6->sin6_addr, ip, cap);
		*port = ntohs(sin6->sin6_port);
	} else {
		snprintf(ip, cap, "unix");
	}
}

void conn_create(struct worker *w, struct pending_accept *p)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct bufferevent *bev = NULL;
	SSL *ssl = NULL;
	if (c == NULL)
		goto fail;
	c->id = atomic_fetch_add(&next_conn_id, 1);
	c->worker = w;
	c->listener = p->listener;
	c->ops = p->listener->ops;
	c->counted_ip = p->counted_ip;
	c->started = time(NULL);
	c->line = BUF_INIT(CONN_INPUT_HIGH);
	snprintf(c->remote_ip, sizeof(c->remote_ip), "%s", p->ip);
	c->remote_port = p->port;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(p->fd, (struct sockaddr *)&ss, &sslen) == 0)
		conn_format_addr(&ss, c->local_ip, sizeof(c->local_ip), &c->local_port);
	else
		snprintf(c->local_ip, sizeof(c->local_ip), "unknown");

	c->ev_task = event_new(w->base, -1, 0, conn_task_cb, c);
	c->ev_timer = evtimer_new(w->base, conn_timer_cb, c);
	if (c->ev_task == NULL || c->ev_timer == NULL)
		goto fail;
	if (p->listener->tls) {
		if ((ssl = tls_ssl_new()) == NULL)
			goto fail;
		bev = bufferevent_openssl_socket_new(w->base, p->fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (bev)
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
		c->tls = true;
	} else {
		bev = bufferevent_socket_new(w->base, p->fd,
					     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	}
	if (bev == NULL)
		goto fail;
	p->fd = -1; /* the bufferevent owns it now */
	c->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), conn_bottom_out_cb, c);
	c->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), conn_bottom_in_cb, c);
	if (c->out_cb == NULL || c->in_cb == NULL) {
		bufferevent_free(bev);
		goto fail_freed_bev;
	}
	conn_set_top(c, bev);

	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;

	c->idle_timeout = net_server_preauth_timeout(w->server);
	conn_arm_timer(c, c->idle_timeout);
	log_info("connect", "%s local=%s:%u tls=%s", conn_log_prefix(c), c->local_ip,
		 c->local_port, c->tls ? "implicit" : "no");

	c->session = c->ops->open(c);
	if (c->session == NULL) {
		conn_close(c, "refused by protocol");
		c->dead = true;
		conn_schedule(c, TASK_DESTROY);
		return;
	}
	conn_after_callback(c);
	return;

fail:
	if (ssl && bev == NULL)
		SSL_free(ssl);
fail_freed_bev:
	log_error("connect", "remote=%s error=\"cannot set up connection\"", p->ip);
	if (c) {
		if (c->ev_task)
			event_free(c->ev_task);
		if (c->ev_timer)
			event_free(c->ev_timer);
		free(c);
	}
	if (p->fd >= 0)
		close(p->fd);
	net_server_conn_gone(w->server, p->ip, p->counted_ip);
}

static void conn_destroy(struct conn *c)
{
	struct worker *w = c->worker;
	if (c->session) {
		void *session = c->session;
		c->session = NULL;
		c->ops->close(session, c->close_reason[0] ? c->close_reason : "closed");
	}
	/* Wakeups the protocol did not free: nothing can reach them now. */
	while (c->wakeups) {
		struct conn_wakeup *wk = c->wakeups;
		conn_wakeup_free(&wk);
	}
	conn_log_disconnect(c);

	struct evbuffer *bottom_out = bufferevent_get_output(c->chain[0]);
	struct evbuffer *bottom_in = bufferevent_get_input(c->chain[0]);
	evbuffer_remove_cb_entry(bottom_out, c->out_cb);
	evbuffer_remove_cb_entry(bottom_in, c->in_cb);
	/* Closing a socket that still has unread input makes the kernel send
	 * a reset, and a reset can destroy our goodbye in the client's receive
	 * queue before the client read it. So when the close is orderly, read
	 * away what already arrived (a bounded amount) first. */
	if (!c->dead) {
		int fd = (int)bufferevent_getfd(c->chain[0]);
		char sink[4096];
		for (int i = 0; fd >= 0 && i < 16; i++)
			if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
				break;
	}
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	bufferevent_free(c->bev); /* the whole chain and the socket */
	event_free(c->ev_task);
	event_free(c->ev_timer);

	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	net_server_conn_gone(w->server, c->remote_ip, c->counted_ip);

	buf_free(&c->line);
	free(c->user);
	free(c->log_prefix);
	free(c);
	if (w->shutting_down && w->n_conns == 0)
		event_base_loopbreak(w->base);
}

/* Frees c if it is closing and nothing holds it any more; returns true
 * when it did (c is then gone). */
static bool conn_try_destroy(struct conn *c)
{
	if (!c->closing || c->pending_async > 0)
		return false;
	if (!c->dead && !c->flush_expired && conn_output_len(c) > 0)
		return false;
	conn_destroy(c);
	return true;
}

static void conn_close_grace(struct conn *c, const char *reason, unsigned grace)
{
	conn_set_reason(c, reason);
	if (c->closing)
		return;
	c->closing = true;
	c->pending_switch = SWITCH_NONE;
	conn_update_reading(c);
	conn_arm_timer(c, grace ? grace : 1);
	if (c->compressed)
		c->zlib_dirty = true;
	c->tasks |= TASK_CHECK_OUTPUT;
	event_active(c->ev_task, EV_TIMEOUT, 0);
}

void conn_close(struct conn *c, const char *reason)
{
	conn_close_grace(c, reason, CONN_CLOSE_GRACE);
}

bool conn_is_closing(const struct conn *c)
{
	return c->closing;
}

void conn_server_shutdown(struct conn *c, unsigned grace)
{
	if (c->closing)
		return;
	log_info("shutdown", "%s", conn_log_prefix(c));
	if (c->session && c->ops->shutdown) {
		c->ops->shutdown(c->session);
		conn_after_callback(c);
	}
	conn_close_grace(c, "shutdown", grace);
	if (c->compressed && c->zlib_dirty) {
		c->zlib_dirty = false;
		net_compress_flush(c->bev);
	}
}

/* --------------------------------------------------------- TLS, DEFLATE */

int conn_starttls(struct conn *c)
{
	if (c->tls || c->compressed || c->pending_switch != SWITCH_NONE || !tls_is_available())
		return -1;
	/* RFC 2595 3.1 / CVE-2011-0411: whatever the client sent after the
	 * STARTTLS command was sent in plaintext and must never be taken as
	 * if it came through TLS. */
	evbuffer_drain(conn_in(c), evbuffer_get_length(conn_in(c)));
	c->line_scanned = 0;
	c->discarding = false;
	c->pending_switch = SWITCH_STARTTLS;
	conn_schedule(c, TASK_CHECK_OUTPUT);
	return 1;
}

bool conn_tls_available(const struct conn *c)
{
	return !c->tls && !c->compressed && tls_is_available();
}

bool conn_is_tls(const struct conn *c)
{
	return c->tls;
}

int conn_compress(struct conn *c)
{
	if (c->compressed || c->pending_switch != SWITCH_NONE)
		return -1;
	/* RFC 4978 3: the client starts compressing only after our OK, so
	 * anything already buffered is a protocol violation: drop it. */
	evbuffer_drain(conn_in(c), evbuffer_get_length(conn_in(c)));
	c->line_scanned = 0;
	c->discarding = false;
	c->pending_switch = SWITCH_COMPRESS;
	conn_schedule(c, TASK_CHECK_OUTPUT);
	return 1;
}

bool conn_is_compressed(const struct conn *c)
{
	return c->compressed;
}

/* ------------------------------------------------------------ accessors */

void conn_set_idle_timeout(struct conn *c, unsigned seconds)
{
	c->idle_timeout = seconds;
	if (!c->closing)
		conn_arm_timer(c, seconds);
}

uint64_t conn_id(const struct conn *c)
{
	return c->id;
}

const char *conn_remote_ip(const struct conn *c)
{
	return c->remote_ip;
}

unsigned conn_remote_port(const struct conn *c)
{
	return c->remote_port;
}

const char *conn_local_ip(const struct conn *c)
{
	return c->local_ip;
}

unsigned conn_local_port(const struct conn *c)
{
	return c->local_port;
}

bool conn_is_loopback(const struct conn *c)
{
	return strcmp(c->remote_ip, "unix") == 0 || strncmp(c->remote_ip, "127.", 4) == 0 ||
	       strcmp(c->remote_ip, "::1") == 0;
}

const char *conn_proto_name(const struct conn *c)
{
	return c->ops->name;
}

void conn_set_user(struct conn *c, const char *user)
{
	char *dup = user ? strdup(user) : NULL;
	if (user && dup == NULL)
		return;
	free(c->user);
	c->user = dup;
	free(c->log_prefix);
	c->log_prefix = NULL;
}

const char *conn_user(const struct conn *c)
{
	return c->user;
}

const char *conn_log_prefix(struct conn *c)
{
	if (c->log_prefix)
		return c->log_prefix;
	char user[300] = "";
	if (c->user) {
		char q[280];
		snprintf(user, sizeof(user), " user=%s", log_quote(c->user, q, sizeof(q)));
	}
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "session=%llu remote=%s proto=%s%s",
		 (unsigned long long)c->id, c->remote_ip, c->ops->name, user);
	c->log_prefix = strdup(tmp);
	return c->log_prefix ? c->log_prefix : "session=? (out of memory)";
}

struct event_base *conn_event_base(struct conn *c)
{
	return c->worker->base;
}

/* ---------------------------------------------------------------- async */

static int run_async(struct conn *c, enum net_pool_kind kind, void (*work)(void *arg),
		     void (*done)(void *arg), void *arg)
{
	struct async_job *job = calloc(1, sizeof(*job));
	if (job == NULL)
		return -1;
	job->conn = c;
	job->work = work;
	job->done = done;
	job->arg = arg;
	c->pending_async++;
	net_server_queue_job(c->worker->server, kind, job);
	return 1;
}

int conn_run_async(struct conn *c, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	return run_async(c, NET_POOL_IO, work, done, arg);
}

int conn_run_async_cpu(struct conn *c, void (*work)(void *arg), void (*done)(void *arg),
		       void *arg)
{
	return run_async(c, NET_POOL_CPU, work, done, arg);
}

void conn_async_done(struct async_job *job)
{
	struct conn *c = job->conn;
	c->pending_async--;
	job->done(job->arg);
	free(job);
	conn_after_callback(c);
	if (c->closing)
		conn_schedule(c, TASK_DESTROY);
}

/* -------------------------------------------------------------- wakeups */

static void conn_wakeup_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_wakeup *wk = arg;
	struct conn *c = wk->conn;
	if (c->session == NULL || c->dead)
		return;
	wk->cb(c->session);
	conn_after_callback(c);
}

struct conn_wakeup *conn_wakeup_new(struct conn *c, void (*cb)(void *session))
{
	struct conn_wakeup *wk = calloc(1, sizeof(*wk));
	if (wk == NULL)
		return NULL;
	wk->conn = c;
	wk->cb = cb;
	wk->ev = event_new(c->worker->base, -1, 0, conn_wakeup_cb, wk);
	if (wk->ev == NULL) {
		free(wk);
		return NULL;
	}
	wk->next = c->wakeups;
	c->wakeups = wk;
	return wk;
}

void conn_wakeup_signal(struct conn_wakeup *wk)
{
	/* event_active is thread-safe with evthread_use_pthreads() and wakes
	 * the worker's loop; activating an active event coalesces. */
	event_active(wk->ev, EV_READ, 0);
}

void conn_wakeup_free(struct conn_wakeup **wkp)
{
	struct conn_wakeup *wk = *wkp;
	if (wk == NULL)
		return;
	*wkp = NULL;
	struct conn_wakeup **pp = &wk->conn->wakeups;
	while (*pp && *pp != wk)
		pp = &(*pp)->next;
	if (*pp)
		*pp = wk->next;
	event_free(wk->ev);
	free(wk);
}

struct conn *conn_next(struct conn *c)
{
	return c->next;
}

struct worker *conn_worker(struct conn *c)
{
	return c->worker;
}
