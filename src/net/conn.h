/* conn.h - one client connection, and the interface a protocol plugs into.
 *
 * The network layer owns sockets, TLS, compression, buffers, timeouts and
 * limits. A protocol (IMAP, POP3, LMTP) is a `struct proto_ops`: it gets
 * callbacks on the connection's worker thread, reads lines and bytes from
 * the connection, and queues output. It never touches a socket.
 *
 * Threading: every callback and every conn_* call below runs on the
 * connection's worker thread, except conn_wakeup_signal(), which any
 * thread may call.
 *
 * Lifetime: the protocol's session lives from ops->open() until
 * ops->close(). After close() returns, the conn is gone: the session must
 * not keep the pointer. conn_close() never frees anything synchronously,
 * so it is safe to call from inside any callback.
 *
 * Return convention: -1 error, 0 need more / nothing, 1 done.
 *
 * Refinements made while implementing (compatible with the first
 * version; nothing was removed or renamed):
 *   - conn_read_line: max_len is capped at CONN_INPUT_HIGH - 2 (a longer
 *     line could never complete while the input buffer stops growing);
 *   - conn_starttls also returns -1 when compression is on or another
 *     switch is pending; conn_compress when a switch is pending;
 *   - output is flushed (and, with COMPRESS, Z_SYNC_FLUSHed) when the
 *     callback that queued it returns, whichever callback it was;
 *   - conn_close waits at most 5 seconds for its output (shutdown_grace at
 *     shutdown); a timeout or shutdown closes the same way after
 *     ops->timeout / ops->shutdown queued their goodbye;
 *   - wakeups still alive when ops->close returns are freed by the net
 *     layer (the session cannot reach them any more).
 *   - conn_run_async_cpu (session 2): CPU-bound work has its own pool.
 * The programs' side (listeners, workers, limits, shutdown) is
 * net/server.h; TLS contexts are net/tls.h. */
#ifndef ROOST_NET_CONN_H
#define ROOST_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/str.h"

struct conn;
struct event_base;

struct proto_ops {
	const char *name; /* "imap", "pop3", "lmtp": used in logs */

	/* A new connection (for implicit TLS, the handshake is still to come;
	 * output queued now is sent once it completes). Queue the greeting and
	 * return the session, or NULL to drop the connection. */
	void *(*open)(struct conn *c);

	/* Input is buffered: consume it with conn_read_line()/conn_read()
	 * until they return 0 (or until the session is busy and calls
	 * conn_input_suspend()). */
	void (*input)(void *session);

	/* Queued output fell below the low-water mark after having been
	 * above it (conn_output_full() was true): continue a paused stream.
	 * May be NULL. */
	void (*output_drained)(void *session);

	/* The server is shutting down: queue a goodbye (BYE, 421, -ERR). The
	 * connection is closed after it is flushed. May be NULL. */
	void (*shutdown)(void *session);

	/* The idle timeout expired: queue a goodbye; the connection is closed
	 * after it is flushed. May be NULL. */
	void (*timeout)(void *session);

	/* The connection is closed (by the peer, an error, conn_close, a
	 * timeout or shutdown). Free the session. `reason` is for logs. */
	void (*close)(void *session, const char *reason);
};

/* --- input --- */

/* Takes one line ending in LF (a CR before it is removed too) from the
 * input. Returns 1 with *line_r (valid until the next conn_read* call),
 * 0 when no complete line is buffered yet, -1 when the line is longer than
 * max_len: the line's bytes are discarded up to and including its LF
 * (possibly over several reads), and -1 is returned once, when the LF
 * arrives, so the protocol can answer with an error and go on. */
int conn_read_line(struct conn *c, struct str *line_r, size_t max_len);

/* Copies up to max bytes of buffered input into dst and removes them.
 * Returns the number of bytes copied (0 if none is buffered). */
size_t conn_read(struct conn *c, void *dst, size_t max);
size_t conn_input_len(const struct conn *c);

/* Stop calling ops->input() until conn_input_resume(); while suspended,
 * reading from the socket also stops once the input buffer holds
 * CONN_INPUT_HIGH bytes. Resume calls ops->input() soon if input is
 * buffered. Use while waiting for asynchronous work. */
void conn_input_suspend(struct conn *c);
void conn_input_resume(struct conn *c);

/* While on, every read from this connection's TCP socket acknowledges what
 * arrived at once (TCP_QUICKACK) instead of letting the kernel delay the
 * ACK by up to 40 ms. For uploads the server answers only at their end
 * (LMTP DATA/BDAT): an interactive connection's ACKs are delayed, and a
 * client that sends the end of the data ("." CRLF) in a small write of its
 * own has Nagle's algorithm hold that write until the data before it is
 * acknowledged, so every such message would wait for the delayed-ACK
 * timer. A no-op on UNIX sockets. */
void conn_set_quickack(struct conn *c, bool on);

/* --- output --- */

void conn_write(struct conn *c, const void *data, size_t len);
void conn_write_str(struct conn *c, struct str s);
void conn_write_cstr(struct conn *c, const char *s);
void conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Queue len bytes of fd from offset off. The fd is dup()ed; the caller
 * keeps its own. Returns 1, or -1 on error. Large bodies should be sent
 * in chunks while !conn_output_full(), continuing in output_drained(). */
int conn_write_file(struct conn *c, int fd, off_t off, size_t len);

size_t conn_output_len(const struct conn *c);
/* True when queued output passed the high-water mark: stop producing
 * and wait for ops->output_drained(). Input is not read meanwhile. */
bool conn_output_full(const struct conn *c);

/* --- connection state --- */

/* After the output queued so far has been flushed, start TLS as server
 * (STARTTLS/STLS). Any input already received is discarded (RFC 2595
 * 3.1; CVE-2011-0411), and input arriving before the handshake completes
 * is read only through TLS. Returns -1 if no certificate is configured or
 * TLS is already active. */
int conn_starttls(struct conn *c);
bool conn_tls_available(const struct conn *c);
bool conn_is_tls(const struct conn *c);

/* After the output queued so far, compress both directions with raw
 * DEFLATE (RFC 4978). Returns -1 if already compressed. */
int conn_compress(struct conn *c);
bool conn_is_compressed(const struct conn *c);

/* Close after flushing queued output (at most a few seconds). */
void conn_close(struct conn *c, const char *reason);
/* True once conn_close was called or the peer went away. */
bool conn_is_closing(const struct conn *c);

/* Seconds of inactivity (no input) before ops->timeout(); 0 disables. */
void conn_set_idle_timeout(struct conn *c, unsigned seconds);

uint64_t conn_id(const struct conn *c);       /* unique per process run */
const char *conn_remote_ip(const struct conn *c); /* "127.0.0.1", "::1", "unix" */
unsigned conn_remote_port(const struct conn *c);
const char *conn_local_ip(const struct conn *c);
unsigned conn_local_port(const struct conn *c);
bool conn_is_loopback(const struct conn *c);   /* loopback address or UNIX socket */
const char *conn_proto_name(const struct conn *c);

/* For log lines: records the authenticated user shown as user=... */
void conn_set_user(struct conn *c, const char *user);
const char *conn_user(const struct conn *c);
/* "session=<id> remote=<ip> proto=<name>[ user=<user>]" for log_event. */
const char *conn_log_prefix(struct conn *c);

struct event_base *conn_event_base(struct conn *c);

/* --- asynchronous work --- */

/* Runs work(arg) on the io thread pool, then done(arg) back on this
 * connection's worker thread. For blocking work that mostly waits (store
 * reads and commits, fsync, database lookups). While a job is pending, the
 * connection is not freed: if it is closed meanwhile, done() still runs
 * first (check conn_is_closing()), then ops->close(). Returns -1 if the
 * job could not be queued (done is not called then). */
int conn_run_async(struct conn *c, void (*work)(void *arg), void (*done)(void *arg), void *arg);

/* The same on the cpu pool (about one thread per core): for work that
 * keeps a core busy for milliseconds, i.e. password hashing (LOGIN, SASL
 * steps, POP3 PASS/AUTH, the settings page's sign-in and password
 * change). Jobs of the two pools never wait for each other, so logins
 * cannot delay store work of sessions already logged in. Same contract as
 * conn_run_async; a session may have jobs in both pools at once. */
int conn_run_async_cpu(struct conn *c, void (*work)(void *arg), void (*done)(void *arg),
		       void *arg);

/* --- wakeups from other threads --- */

/* A wakeup lets another thread (a delivery, another session) tell this
 * session that something changed. conn_wakeup_signal() may be called from
 * any thread and coalesces; cb(session) runs soon on the worker thread.
 * Free the wakeup before (or in) ops->close; after conn_wakeup_free()
 * returns, cb is not called and signals are ignored, but callers of
 * conn_wakeup_signal must not use a freed wakeup: unregister from
 * whatever signals it first. */
struct conn_wakeup;
struct conn_wakeup *conn_wakeup_new(struct conn *c, void (*cb)(void *session));
void conn_wakeup_signal(struct conn_wakeup *w);
void conn_wakeup_free(struct conn_wakeup **w);

/* Process-wide limits from the configuration, read-only for protocols. */
#define CONN_INPUT_HIGH (256 * 1024)

#endif
