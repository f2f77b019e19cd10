/* net-internal.h - structures shared by the files of the net layer only.
 * Protocols use conn.h; programs use server.h. */
#ifndef ROOST_NET_INTERNAL_H
#define ROOST_NET_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "lib/buf.h"
#include "net/conn.h"
#include "net/server.h"

struct bufferevent;
struct evbuffer_cb_entry;
struct evconnlistener;
struct event;

/* Queued output above this stops production (conn_output_full) and
 * reading; ops->output_drained() is called once it is below the low mark. */
#define CONN_OUTPUT_HIGH (64 * 1024)
#define CONN_OUTPUT_LOW (16 * 1024)
/* How long conn_close waits for queued output to be flushed. */
#define CONN_CLOSE_GRACE 5
/* conn_read_line keeps its copy buffer only up to this size between calls. */
#define CONN_LINE_KEEP 1024

#define NET_IP_MAX 46 /* INET6_ADDRSTRLEN */

struct listener {
	struct net_server *server;
	enum listener_proto proto;
	const struct proto_ops *ops;
	char *busy_line;
	bool tls;
	char *path; /* UNIX socket to unlink at exit */
	struct evconnlistener *evl;
	struct event *ev_retry; /* re-enables accepting after EMFILE and such */
	char name[96];
};

/* A socket accepted on the main thread, waiting for its worker. */
struct pending_accept {
	struct pending_accept *next;
	int fd;
	struct listener *listener;
	bool counted_ip; /* holds a slot in the per-IP table */
	char ip[NET_IP_MAX];
	unsigned port;
};

struct async_job {
	struct async_job *next;
	struct conn *conn;
	void (*work)(void *arg);
	void (*done)(void *arg);
	void *arg;
};

struct worker {
	struct net_server *server;
	unsigned index;
	pthread_t thread;
	bool started;
	struct event_base *base;
	struct event *ev_incoming;
	struct event *ev_async_done;
	struct event *ev_shutdown;

	pthread_mutex_t lock; /* protects the two queues */
	struct pending_accept *incoming, *incoming_tail;
	struct async_job *done, *done_tail;

	/* Worker thread only. */
	struct conn *conns;
	unsigned n_conns;
	bool shutting_down;
	atomic_bool exited;
};

/* A thread pool: a FIFO of jobs and the threads that run them. The server
 * has two (see server.h): `io` for store and other blocking I/O work,
 * `cpu` for CPU-bound work such as password hashing, so a burst of logins
 * cannot delay the store work of sessions already logged in. */
struct net_pool {
	const char *name; /* "io", "cpu": for logs */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct async_job *jobs, *jobs_tail;
	pthread_t *threads;
	unsigned n_threads;  /* allocated */
	unsigned n_started;  /* running, to be joined */
	bool stop;
	bool initialised;
};

enum net_pool_kind { NET_POOL_IO, NET_POOL_CPU };

struct ip_slot;

struct net_server {
	struct event_base *base;
	struct worker *workers;
	unsigned n_workers;
	unsigned next_worker;
	struct listener *listeners[CONFIG_MAX_LISTENERS];
	unsigned n_listeners;

	pthread_mutex_t limits_lock; /* limits and the per-IP table */
	struct net_limits limits;
	struct ip_slot **ip_table;
	atomic_uint n_conns;

	/* Async pools. */
	struct net_pool io_pool;
	struct net_pool cpu_pool;

	bool started;
	bool shutting_down;
	struct event *ev_shutdown_check;
	struct timespec shutdown_deadline;
};

/* Called on the worker thread for each accepted socket. */
void conn_create(struct worker *w, struct pending_accept *p);
/* Worker thread: shutdown notice for one connection. */
void conn_server_shutdown(struct conn *c, unsigned grace);
struct conn *conn_next(struct conn *c);
struct worker *conn_worker(struct conn *c);
/* Worker thread: an async job finished. */
void conn_async_done(struct async_job *job);

void net_server_conn_gone(struct net_server *s, const char *ip, bool counted_ip);
void net_server_queue_job(struct net_server *s, enum net_pool_kind kind, struct async_job *job);
unsigned net_server_preauth_timeout(struct net_server *s);

/* Compression filter (compress.c): pushes raw DEFLATE both ways over bev.
 * Returns the new top bufferevent or NULL. */
struct bufferevent *net_compress_push(struct bufferevent *bev, char *err, size_t errcap);
/* Ends the current output batch: emits everything compressed so far. */
void net_compress_flush(struct bufferevent *top);

#endif
