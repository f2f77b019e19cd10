/* server.c - listeners, workers, limits, the async pools and shutdown.
 *
 * Accepting happens on the main thread only: evconnlistener accepts (the
 * sockets are non-blocking, so accept never blocks), the limits are
 * checked here where they are cheap to enforce exactly, and the socket is
 * queued to the next worker round-robin and the worker woken with
 * event_active() (libevent's pthread support turns that into a write on
 * the worker's notification pipe). The worker creates the connection's
 * bufferevents on its own event_base, so no bufferevent is ever touched by
 * two threads and none needs locking. */
#include "net/net-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "lib/log.h"

/* Connections the kernel completes before roostd accepts them (capped by
 * net.core.somaxconn): a burst of clients must not overflow it. */
#define NET_LISTEN_BACKLOG 4096

#define IP_BUCKETS 1024

struct ip_slot {
	struct ip_slot *next;
	unsigned count;
	char ip[NET_IP_MAX];
};

void net_limits_from_config(struct net_limits *l, const struct config *config)
{
	l->max_connections = config->max_connections;
	l->max_connections_per_ip = config->max_connections_per_ip;
	l->preauth_timeout = config->preauth_timeout;
	l->shutdown_grace = config->shutdown_grace;
}

int net_global_init(char *err, size_t errcap)
{
	if (evthread_use_pthreads() < 0) {
		snprintf(err, errcap, "libevent: no pthread support");
		return -1;
	}
	/* A peer that goes away must not kill the daemon with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	return 1;
}

/* ------------------------------------------------------------- limits */

static unsigned ip_hash(const char *ip)
{
	unsigned h = 2166136261u;
	for (; *ip; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h % IP_BUCKETS;
}

/* Takes a connection slot. Returns NULL when allowed, else the name of
 * the limit that refused it. *counted_ip tells whether an IP slot was
 * taken (UNIX sockets are not counted per IP: that is the local MTA). */
static const char *limits_acquire(struct net_server *s, const char *ip, bool *counted_ip)
{
	const char *refused = NULL;
	*counted_ip = false;
	pthread_mutex_lock(&s->limits_lock);
	if (atomic_load(&s->n_conns) >= s->limits.max_connections) {
		refused = "max_connections";
		goto out;
	}
	if (strcmp(ip, "unix") != 0) {
		struct ip_slot **pp = &s->ip_table[ip_hash(ip)];
		while (*pp && strcmp((*pp)->ip, ip) != 0)
			pp = &(*pp)->next;
		if (*pp == NULL) {
			struct ip_slot *slot = calloc(1, sizeof(*slot));
			if (slot == NULL) {
				refused = "memory";
				goto out;
			}
			snprintf(slot->ip, sizeof(slot->ip), "%s", ip);
			*pp = slot;
		}
		if ((*pp)->count >= s->limits.max_connections_per_ip) {
			refused = "max_connections_per_ip";
			goto out;
		}
		(*pp)->count++;
		*counted_ip = true;
	}
	atomic_fetch_add(&s->n_conns, 1);
out:
	pthread_mutex_unlock(&s->limits_lock);
	return refused;
}

void net_server_conn_gone(struct net_server *s, const char *ip, bool counted_ip)
{
	pthread_mutex_lock(&s->limits_lock);
	atomic_fetch_sub(&s->n_conns, 1);
	if (counted_ip) {
		struct ip_slot **pp = &s->ip_table[ip_hash(ip)];
		while (*pp && strcmp((*pp)->ip, ip) != 0)
			pp = &(*pp)->next;
		if (*pp && --(*pp)->count == 0) {
			struct ip_slot *gone = *pp;
			*pp = gone->next;
			free(gone);
		}
	}
	pthread_mutex_unlock(&s->limits_lock);
}

void net_server_set_limits(struct net_server *s, const struct net_limits *limits)
{
	pthread_mutex_lock(&s->limits_lock);
	s->limits = *limits;
	pthread_mutex_unlock(&s->limits_lock);
}

unsigned net_server_preauth_timeout(struct net_server *s)
{
	pthread_mutex_lock(&s->limits_lock);
	unsigned t = s->limits.preauth_timeout;
	pthread_mutex_unlock(&s->limits_lock);
	return t;
}

unsigned net_server_connections(struct net_server *s)
{
	return atomic_load(&s->n_conns);
}

/* ------------------------------------------------------------- workers */

static void worker_incoming_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->lock);
	struct pending_accept *list = w->incoming;
	w->incoming = w->incoming_tail = NULL;
	pthread_mutex_unlock(&w->lock);
	while (list) {
		struct pending_accept *p = list;
		list = p->next;
		if (w->shutting_down) {
			close(p->fd);
			net_server_conn_gone(w->server, p->ip, p->counted_ip);
		} else {
			conn_create(w, p);
		}
		free(p);
	}
}

static void worker_async_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->lock);
	struct async_job *list = w->done;
	w->done = w->done_tail = NULL;
	pthread_mutex_unlock(&w->lock);
	while (list) {
		struct async_job *job = list;
		list = job->next;
		conn_async_done(job);
	}
}

static void worker_shutdown_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	w->shutting_down = true;
	pthread_mutex_lock(&w->server->limits_lock);
	unsigned grace = w->server->limits.shutdown_grace;
	pthread_mutex_unlock(&w->server->limits_lock);
	for (struct conn *c = w->conns; c;) {
		/* conn_server_shutdown never frees c: the close is deferred. */
		struct conn *next = conn_next(c);
		conn_server_shutdown(c, grace);
		c = next;
	}
	if (w->n_conns == 0)
		event_base_loopbreak(w->base);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	/* bufferevent_free() finishes (closes the socket) from a deferred
	 * callback: run what is still active so every peer sees its EOF now,
	 * not when the base is freed. */
	for (int i = 0; i < 10 && event_base_get_num_events(w->base, EVENT_BASE_COUNT_ACTIVE) > 0; i++)
		event_base_loop(w->base, EVLOOP_NONBLOCK);
	atomic_store(&w->exited, true);
	return NULL;
}

/* ---------------------------------------------------------- async pools */

/* Two pools, because their jobs wait on different things. A password hash
 * keeps a core busy for tens of milliseconds; a store job mostly waits for
 * fsync. In one FIFO, twenty logins queued ahead of a SELECT made it wait
 * for all twenty hashes (p50 near one second at 200 clients). Apart, the
 * cpu pool has about one thread per core (more threads could not hash any
 * faster) and the io pool several per core (threads asleep in fsync cost
 * no CPU, and more of them let independent commits overlap). */

static int pool_init(struct net_pool *p, const char *name, unsigned n_threads)
{
	p->name = name;
	p->n_threads = n_threads;
	p->threads = calloc(n_threads, sizeof(*p->threads));
	if (p->threads == NULL)
		return -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->initialised = true;
	return 1;
}

void net_server_queue_job(struct net_server *s, enum net_pool_kind kind, struct async_job *job)
{
	struct net_pool *p = kind == NET_POOL_CPU ? &s->cpu_pool : &s->io_pool;
	pthread_mutex_lock(&p->lock);
	if (p->jobs_tail)
		p->jobs_tail->next = job;
	else
		p->jobs = job;
	p->jobs_tail = job;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void *pool_main(void *arg)
{
	struct net_pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->jobs == NULL && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		struct async_job *job = p->jobs;
		if (job == NULL) { /* stopping, queue empty */
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		p->jobs = job->next;
		if (p->jobs == NULL)
			p->jobs_tail = NULL;
		pthread_mutex_unlock(&p->lock);

		job->work(job->arg);
		job->next = NULL;

		struct worker *w = conn_worker(job->conn);
		pthread_mutex_lock(&w->lock);
		if (w->done_tail)
			w->done_tail->next = job;
		else
			w->done = job;
		w->done_tail = job;
		pthread_mutex_unlock(&w->lock);
		event_active(w->ev_async_done, EV_READ, 0);
	}
}

static int pool_start(struct net_pool *p, char *err, size_t errcap)
{
	for (unsigned i = 0; i < p->n_threads; i++) {
		int e = pthread_create(&p->threads[i], NULL, pool_main, p);
		if (e != 0) {
			/* pthread_create returns its error; errno is not set. */
			snprintf(err, errcap, "cannot start %s pool thread: %s", p->name,
				 strerror(e));
			return -1;
		}
		p->n_started = i + 1;
	}
	return 1;
}

/* Lets the threads finish the queued jobs, joins them, frees the pool. */
static void pool_destroy(struct net_pool *p)
{
	if (!p->initialised)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_started; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	p->initialised = false;
}

/* ------------------------------------------------------------ listeners */

static void format_peer(const struct sockaddr *sa, char *ip, size_t cap, unsigned *port)
{
	*port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, ip, (socklen_t)cap);
		*port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], ip, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, &sin6->sin6_addr, ip, (socklen_t)cap);
		*port = ntohs(sin6->sin6_port);
	} else {
		snprintf(ip, cap, "unix");
	}
}

static void listener_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
			       struct sockaddr *sa, int socklen, void *arg)
{
	struct listener *l = arg;
	struct net_server *s = l->server;
	char ip[NET_IP_MAX] = "unix";
	unsigned port = 0;
	bool counted_ip;

	if (socklen > 0)
		format_peer(sa, ip, sizeof(ip), &port);
	if (s->shutting_down) {
		close(fd);
		return;
	}
	const char *refused = limits_acquire(s, ip, &counted_ip);
	if (refused) {
		/* A plaintext refusal is one non-blocking send; on TLS
		 * listeners it would need a handshake, so just close. */
		if (l->busy_line && !l->tls)
			(void)!send(fd, l->busy_line, strlen(l->busy_line), MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		log_warn("limit", "remote=%s proto=%s limit=%s", ip, l->ops->name, refused);
		return;
	}
	if (sa->sa_family != AF_UNIX) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	struct pending_accept *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		close(fd);
		net_server_conn_gone(s, ip, counted_ip);
		return;
	}
	p->fd = fd;
	p->listener = l;
	p->counted_ip = counted_ip;
	p->port = port;
	snprintf(p->ip, sizeof(p->ip), "%s", ip);

	struct worker *w = &s->workers[s->next_worker++ % s->n_workers];
	pthread_mutex_lock(&w->lock);
	if (w->incoming_tail)
		w->incoming_tail->next = p;
	else
		w->incoming = p;
	w->incoming_tail = p;
	pthread_mutex_unlock(&w->lock);
	event_active(w->ev_incoming, EV_READ, 0);
}

static void listener_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	if (!l->server->shutting_down && l->evl)
		evconnlistener_enable(l->evl);
}

/* accept() failed (EMFILE, ENFILE, ENOMEM...): pause this listener for a
 * second instead of spinning on a socket that stays readable. */
static void listener_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	int e = errno;
	log_error("accept", "listener=%s error=\"%s\"", l->name, strerror(e));
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
		evconnlistener_disable(evl);
		struct timeval tv = { 1, 0 };
		event_add(l->ev_retry, &tv);
	}
}

static int bind_unix(const char *path, char *err, size_t errcap)
{
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errcap, "%s: path too long for a UNIX socket", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* A socket left behind by an earlier run is replaced; any other
	 * kind of file is not ours to remove. */
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errcap, "%s: exists and is not a socket", path);
			return -1;
		}
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errcap, "%s: socket: %s", path, strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0666) < 0 ||
	    listen(fd, NET_LISTEN_BACKLOG) < 0) {
		snprintf(err, errcap, "%s: cannot listen: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int bind_tcp(const char *address, unsigned port, char *err, size_t errcap)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16];
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	bool any = strcmp(address, "*") == 0;
	/* "*" is every address: IPv6 dual-stack when there is IPv6. */
	const char *node = any ? "::" : address;
	int r = getaddrinfo(node, portstr, &hints, &res);
	if (r != 0 && any)
		r = getaddrinfo("0.0.0.0", portstr, &hints, &res);
	if (r != 0) {
		snprintf(err, errcap, "%s port %u: not a numeric address: %s", address, port,
			 gai_strerror(r));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && any) {
		freeaddrinfo(res);
		res = NULL;
		if (getaddrinfo("0.0.0.0", portstr, &hints, &res) == 0)
			fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		snprintf(err, errcap, "%s port %u: socket: %s", address, port, strerror(errno));
		if (res)
			freeaddrinfo(res);
		return -1;
	}
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, any || !strcmp(address, "::") ? &zero : &one,
			   sizeof(int));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, NET_LISTEN_BACKLOG) < 0) {
		snprintf(err, errcap, "%s port %u: cannot listen: %s", address, port,
			 strerror(errno));
		close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}

int net_server_listen(struct net_server *s, const struct listener_config *lc,
		      const struct proto_ops *ops, const char *busy_line, char *err, size_t errcap)
{
	if (s->n_listeners >= CONFIG_MAX_LISTENERS) {
		snprintf(err, errcap, "too many listeners");
		return -1;
	}
	struct listener *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	l->server = s;
	l->proto = lc->proto;
	l->ops = ops;
	l->tls = listener_proto_is_tls(lc->proto);
	if (lc->path)
		snprintf(l->name, sizeof(l->name), "%s:%s", listener_proto_name(lc->proto), lc->path);
	else
		snprintf(l->name, sizeof(l->name), "%s:%s:%u", listener_proto_name(lc->proto),
			 lc->address, lc->port);
	int fd = lc->path ? bind_unix(lc->path, err, errcap)
			  : bind_tcp(lc->address, lc->port, err, errcap);
	if (fd < 0) {
		free(l);
		return -1;
	}
	l->path = lc->path ? strdup(lc->path) : NULL;
	l->busy_line = busy_line ? strdup(busy_line) : NULL;
	/* Backlog 0: the socket is listening already, with ours. (-1 would
	 * have libevent call listen() again with a backlog of 128, too few
	 * for a burst of connections: the kernel then drops the handshakes'
	 * last ACKs and such clients wait for a greeting that never comes.) */
	l->evl = evconnlistener_new(s->base, listener_accept_cb, l,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	l->ev_retry = evtimer_new(s->base, listener_retry_cb, l);
	if (l->evl == NULL || l->ev_retry == NULL || (lc->path && l->path == NULL) ||
	    (busy_line && l->busy_line == NULL)) {
		snprintf(err, errcap, "%s: out of memory", l->name);
		if (l->evl)
			evconnlistener_free(l->evl);
		else
			close(fd);
		if (l->ev_retry)
			event_free(l->ev_retry);
		free(l->path);
		free(l->busy_line);
		free(l);
		return -1;
	}
	evconnlistener_set_error_cb(l->evl, listener_error_cb);
	s->listeners[s->n_listeners++] = l;
	log_info("listen", "listener=%s tls=%s", l->name, l->tls ? "implicit" : "no");
	return 1;
}

void net_server_chown_sockets(struct net_server *s, unsigned uid, unsigned gid)
{
	for (unsigned i = 0; i < s->n_listeners; i++)
		if (s->listeners[i]->path && chown(s->listeners[i]->path, uid, gid) < 0)
			log_warn("listen", "listener=%s error=\"chown: %s\"", s->listeners[i]->name,
				 strerror(errno));
}

static void listeners_close(struct net_server *s)
{
	for (unsigned i = 0; i < s->n_listeners; i++) {
		struct listener *l = s->listeners[i];
		if (l->evl) {
			evconnlistener_free(l->evl);
			l->evl = NULL;
		}
		if (l->path) {
			unlink(l->path);
			free(l->path);
			l->path = NULL;
		}
	}
}

/* ----------------------------------------------------------- lifecycle */

struct net_server *net_server_new(unsigned workers, unsigned io_threads, unsigned cpu_threads,
				  const struct net_limits *limits, char *err, size_t errcap)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned cores = online > 0 ? (unsigned)online : 1;
	if (workers == 0)
		workers = cores;
	if (io_threads == 0)
		io_threads = NET_IO_THREADS_PER_CORE * cores;
	if (cpu_threads == 0)
		cpu_threads = cores;
	struct net_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto oom;
	pthread_mutex_init(&s->limits_lock, NULL);
	s->limits = *limits;
	s->n_workers = workers;
	s->ip_table = calloc(IP_BUCKETS, sizeof(*s->ip_table));
	s->workers = calloc(workers, sizeof(*s->workers));
	s->base = event_base_new();
	if (s->ip_table == NULL || s->workers == NULL || s->base == NULL ||
	    pool_init(&s->io_pool, "io", io_threads) < 0 ||
	    pool_init(&s->cpu_pool, "cpu", cpu_threads) < 0)
		goto oom;
	for (unsigned i = 0; i < workers; i++) {
		struct worker *w = &s->workers[i];
		w->server = s;
		w->index = i;
		pthread_mutex_init(&w->lock, NULL);
		w->base = event_base_new();
		if (w->base == NULL)
			goto oom;
		w->ev_incoming = event_new(w->base, -1, 0, worker_incoming_cb, w);
		w->ev_async_done = event_new(w->base, -1, 0, worker_async_done_cb, w);
		w->ev_shutdown = event_new(w->base, -1, 0, worker_shutdown_cb, w);
		if (!w->ev_incoming || !w->ev_async_done || !w->ev_shutdown)
			goto oom;
	}
	return s;
oom:
	snprintf(err, errcap, "cannot create the event loops (out of memory?)");
	net_server_free(&s);
	return NULL;
}

struct event_base *net_server_base(struct net_server *s)
{
	return s->base;
}

int net_server_start(struct net_server *s, char *err, size_t errcap)
{
	/* Signals belong to the main thread's loop: block them in the
	 * threads we start (they inherit the mask). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = 1;
	for (unsigned i = 0; i < s->n_workers && rc > 0; i++) {
		if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0) {
			snprintf(err, errcap, "cannot start worker thread: %s", strerror(errno));
			rc = -1;
		} else {
			s->workers[i].started = true;
		}
	}
	if (rc > 0)
		rc = pool_start(&s->io_pool, err, errcap);
	if (rc > 0)
		rc = pool_start(&s->cpu_pool, err, errcap);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	s->started = true;
	log_info("start", "workers=%u async_threads=%u cpu_threads=%u", s->n_workers,
		 s->io_pool.n_started, s->cpu_pool.n_started);
	return rc;
}

static void shutdown_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_server *s = arg;
	bool all_exited = true;
	for (unsigned i = 0; i < s->n_workers; i++)
		if (s->workers[i].started && !atomic_load(&s->workers[i].exited))
			all_exited = false;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (all_exited || now.tv_sec > s->shutdown_deadline.tv_sec) {
		if (!all_exited)
			log_warn("shutdown", "connections=%u error=\"workers still busy after the grace period\"",
				 net_server_connections(s));
		event_base_loopbreak(s->base);
		return;
	}
	struct timeval tv = { 0, 50 * 1000 };
	event_add(s->ev_shutdown_check, &tv);
}

void net_server_shutdown(struct net_server *s)
{
	if (s->shutting_down)
		return;
	s->shutting_down = true;
	log_info("shutdown", "connections=%u grace=%u", net_server_connections(s),
		 s->limits.shutdown_grace);
	listeners_close(s);
	for (unsigned i = 0; i < s->n_workers; i++)
		if (s->workers[i].started)
			event_active(s->workers[i].ev_shutdown, EV_READ, 0);
	clock_gettime(CLOCK_MONOTONIC, &s->shutdown_deadline);
	/* Connections close themselves after the grace; allow a little more
	 * for the pending asynchronous jobs they wait for. */
	s->shutdown_deadline.tv_sec += s->limits.shutdown_grace + 10;
	s->ev_shutdown_check = evtimer_new(s->base, shutdown_check_cb, s);
	if (s->ev_shutdown_check) {
		struct timeval tv = { 0, 0 };
		event_add(s->ev_shutdown_check, &tv);
	} else {
		event_base_loopbreak(s->base);
	}
}

int net_server_run(struct net_server *s)
{
	event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return 1;
}

void net_server_free(struct net_server **sp)
{
	struct net_server *s = *sp;
	if (s == NULL)
		return;
	*sp = NULL;
	if (s->workers) {
		for (unsigned i = 0; i < s->n_workers; i++) {
			struct worker *w = &s->workers[i];
			if (w->started) {
				if (!atomic_load(&w->exited))
					event_base_loopbreak(w->base);
				pthread_join(w->thread, NULL);
			}
		}
	}
	pool_destroy(&s->io_pool);
	pool_destroy(&s->cpu_pool);
	listeners_close(s);
	for (unsigned i = 0; i < s->n_listeners; i++) {
		if (s->listeners[i]->ev_retry)
			event_free(s->listeners[i]->ev_retry);
		free(s->listeners[i]->busy_line);
		free(s->listeners[i]);
	}
	if (s->workers) {
		for (unsigned i = 0; i < s->n_workers; i++) {
			struct worker *w = &s->workers[i];
			while (w->incoming) {
				struct pending_accept *p = w->incoming;
				w->incoming = p->next;
				close(p->fd);
				free(p);
			}
			if (w->ev_incoming)
				event_free(w->ev_incoming);
			if (w->ev_async_done)
				event_free(w->ev_async_done);
			if (w->ev_shutdown)
				event_free(w->ev_shutdown);
			if (w->base)
				event_base_free(w->base);
			pthread_mutex_destroy(&w->lock);
		}
		free(s->workers);
	}
	if (s->ip_table) {
		for (unsigned i = 0; i < IP_BUCKETS; i++) {
			while (s->ip_table[i]) {
				struct ip_slot *slot = s->ip_table[i];
				s->ip_table[i] = slot->next;
				free(slot);
			}
		}
		free(s->ip_table);
	}
	if (s->ev_shutdown_check)
		event_free(s->ev_shutdown_check);
	if (s->base)
		event_base_free(s->base);
	pthread_mutex_destroy(&s->limits_lock);
	free(s);
}

unsigned net_server_port(struct net_server *s, unsigned index)
{
	if (index >= s->n_listeners || s->listeners[index]->evl == NULL)
		return 0;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = evconnlistener_get_fd(s->listeners[index]->evl);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}
