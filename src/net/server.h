/* server.h - the daemon's network engine: listeners, worker threads,
 * limits, the asynchronous thread pool and orderly shutdown.
 *
 * Threads:
 *   - the main thread runs the acceptor loop (net_server_run): it accepts
 *     on every listener, applies the connection limits and hands each
 *     accepted socket round-robin to a worker; signal events for the
 *     program live on this loop too (net_server_base);
 *   - N worker threads, each with its own event_base, run the connections
 *     (struct conn, see conn.h) and every protocol callback;
 *   - two pools of threads run blocking work off the event loops:
 *     the io pool (async_threads) runs conn_run_async() work, mostly store
 *     jobs that wait on the disk; the cpu pool (cpu_threads) runs
 *     conn_run_async_cpu() work, password hashing, so a burst of logins
 *     never queues ahead of SELECT, STORE or APPEND.
 *
 * Typical use (roostd.c): net_server_new, net_server_listen for each
 * listener (binding as root is fine), drop privileges, net_server_start,
 * net_server_run until net_server_shutdown was called (from a signal
 * event), net_server_free.
 *
 * Return convention: -1 error (err filled in), 1 done. */
#ifndef ROOST_NET_SERVER_H
#define ROOST_NET_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config.h"
#include "net/conn.h"

struct event_base;
struct net_server;

/* Settings that a SIGHUP may change for connections accepted later. */
struct net_limits {
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned preauth_timeout; /* seconds: first idle timeout of a connection */
	unsigned shutdown_grace;  /* seconds to flush goodbyes at shutdown */
};

void net_limits_from_config(struct net_limits *l, const struct config *config);

/* Must be called once, before any other libevent use: turns on libevent's
 * pthread locking so other threads may wake a worker. */
int net_global_init(char *err, size_t errcap);

/* io_threads 0 means this many per online CPU. */
#define NET_IO_THREADS_PER_CORE 4

/* workers 0: one per online CPU; io_threads 0: NET_IO_THREADS_PER_CORE per
 * online CPU; cpu_threads 0: one per online CPU. */
struct net_server *net_server_new(unsigned workers, unsigned io_threads, unsigned cpu_threads,
				  const struct net_limits *limits, char *err, size_t errcap);

/* Binds and listens (TCP v4/v6, or a UNIX socket when lc->path is set,
 * which is then made mode 0666 so the MTA can deliver over LMTP).
 * Connections get `ops`; implicit TLS when listener_proto_is_tls(lc->proto).
 * busy_line (may be NULL) is written on plain listeners to a connection
 * refused by a limit, e.g. "* BYE Too many connections\r\n". */
int net_server_listen(struct net_server *s, const struct listener_config *lc,
		      const struct proto_ops *ops, const char *busy_line, char *err, size_t errcap);

/* After a privilege drop: give UNIX sockets created as root to uid/gid
 * (call before dropping). */
void net_server_chown_sockets(struct net_server *s, unsigned uid, unsigned gid);

/* Starts the worker threads and both async pools. */
int net_server_start(struct net_server *s, char *err, size_t errcap);

/* The acceptor's event_base (main thread), for signal events. */
struct event_base *net_server_base(struct net_server *s);

void net_server_set_limits(struct net_server *s, const struct net_limits *limits);

/* Runs the acceptor loop until a shutdown has completed: returns 1 when
 * every connection is gone (or the grace period ran out). */
int net_server_run(struct net_server *s);

/* Stop accepting, call ops->shutdown on every session, close each
 * connection after its goodbye is flushed or after shutdown_grace
 * seconds. Returns at once; net_server_run returns when done. Call on the
 * main thread (from a signal event). */
void net_server_shutdown(struct net_server *s);

/* The port the index-th listener is bound to (0 for UNIX sockets): for
 * tests that listen on port 0. */
unsigned net_server_port(struct net_server *s, unsigned index);

/* Number of open connections (all workers). */
unsigned net_server_connections(struct net_server *s);

/* Stops threads (if still running), closes listeners, unlinks UNIX
 * sockets, frees everything and sets *s to NULL. */
void net_server_free(struct net_server **s);

#endif
