/* roostd.c - the Roost mail access daemon.
 *
 *   roostd [-c CONFIG] [-t] [-F]
 *
 * Start-up order matters and is the same every time:
 *   1. load the config (-c, else $ROOST_CONFIG, else /etc/roost/roost.conf);
 *      a bad file exits 78 (EX_CONFIG) naming file:line: key;
 *   2. as root: load the TLS certificate and key, bind every listener
 *      (ports below 1024 need root), create data_dir and give it to the
 *      config's `user`, then drop privileges to that user for good;
 *   3. open the store and the accounts database (as the unprivileged user,
 *      so every file they create belongs to it);
 *   4. start the worker threads and serve until SIGTERM/SIGINT.
 *
 * Signals are events on the main thread's loop (the acceptor), so the
 * handlers below run as ordinary code:
 *   SIGTERM, SIGINT  stop accepting, every session says goodbye (IMAP "* BYE"),
 *                    connections close once flushed or after shutdown_grace
 *                    seconds, exit 0;
 *   SIGHUP           reload the config: new TLS context for new connections,
 *                    new limits and log level; listeners, data_dir, user,
 *                    workers, async_threads and cpu_threads need a restart
 *                    (logged). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/auth.h"
#include "imap/imap.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/privdrop.h"
#include "lmtp/lmtp.h"
#include "net/server.h"
#include "net/tls.h"
#include "pop3/pop3.h"
#include "store/store.h"
#include "web/web.h"

#define ROOSTD_DEFAULT_CONFIG "/etc/roost/roost.conf"

/* Protocol registry: what serves each kind of listener, and what a
 * connection refused by a limit is told (plaintext listeners only). */
struct proto_entry {
	const struct proto_ops *ops;
	const char *busy_line;
};

static struct proto_entry proto_for(enum listener_proto proto)
{
	switch (proto) {
	case LISTENER_IMAP:
	case LISTENER_IMAPS:
		return (struct proto_entry){ &imap_proto_ops,
					     "* BYE [UNAVAILABLE] Too many connections, try again later\r\n" };
	case LISTENER_POP3:
	case LISTENER_POP3S:
		return (struct proto_entry){ &pop3_proto_ops,
					     "-ERR [SYS/TEMP] Too many connections, try again later\r\n" };
	case LISTENER_LMTP:
		return (struct proto_entry){ &lmtp_proto_ops,
					     "421 4.3.2 Too many connections, try again later\r\n" };
	case LISTENER_HTTP:
	case LISTENER_HTTPS:
		return (struct proto_entry){ &web_proto_ops, WEB_BUSY_RESPONSE };
	}
	return (struct proto_entry){ NULL, NULL };
}

/* Configs replaced by SIGHUP stay allocated until exit: worker threads may
 * still be reading the old roost_config while the pointer is swapped. */
struct retired_config {
	struct retired_config *next;
	struct config *config;
};

static struct {
	const char *config_path;
	struct net_server *server;
	struct retired_config *retired;
	struct event *ev_term, *ev_int, *ev_hup;
} daemon_state;

static void usage(FILE *f)
{
	fprintf(f, "usage: roostd [-c CONFIG] [-t] [-F]\n"
		   "  -c CONFIG  configuration file (default $ROOST_CONFIG or %s)\n"
		   "  -t         check the configuration (and the TLS certificate) and exit\n"
		   "  -F         run in the foreground (the default; roostd never forks)\n",
		ROOSTD_DEFAULT_CONFIG);
}

static void apply_logging(const struct config *config)
{
	enum log_level level = LOG_LVL_INFO;
	log_level_parse(config->log_level, &level);
	log_set_level(level);
	log_set_syslog(strcmp(config->log_target, "syslog") == 0, "roostd");
}

/* Listeners the daemon cannot serve are a config error, reported like the
 * parser's: file:line: key. */
static int check_listeners(const struct config *config, char *err, size_t errcap)
{
	for (unsigned i = 0; i < config->n_listeners; i++) {
		const struct listener_config *l = &config->listeners[i];
		if (proto_for(l->proto).ops == NULL) {
			snprintf(err, errcap, "%s:%u: protocol: %s listeners are not served by roostd",
				 config->path, l->line, listener_proto_name(l->proto));
			return -1;
		}
	}
	if (config->n_listeners == 0) {
		snprintf(err, errcap, "%s: no [listener] configured: nothing to serve", config->path);
		return -1;
	}
	return 1;
}

/* ------------------------------------------------------------- reload */

static bool str_differs(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") != 0;
}

static bool listeners_differ(const struct config *a, const struct config *b)
{
	if (a->n_listeners != b->n_listeners)
		return true;
	for (unsigned i = 0; i < a->n_listeners; i++) {
		const struct listener_config *x = &a->listeners[i], *y = &b->listeners[i];
		if (x->proto != y->proto || x->port != y->port || str_differs(x->address, y->address) ||
		    str_differs(x->path, y->path))
			return true;
	}
	return false;
}

static void reload(void)
{
	char err[1024];
	struct config *old = roost_config, *fresh = NULL;
	if (config_load(daemon_state.config_path, &fresh, err, sizeof(err)) < 0 ||
	    check_listeners(fresh, err, sizeof(err)) < 0) {
		char q[1100];
		log_error("reload", "status=rejected error=%s", log_quote(err, q, sizeof(q)));
		config_free(&fresh);
		return;
	}
	struct retired_config *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		log_error("reload", "status=rejected error=\"out of memory\"");
		config_free(&fresh);
		return;
	}

	/* What only a restart can change. */
	char restart[256] = "";
	size_t o = 0;
#define NEEDS_RESTART(cond, name)                                                            \
	do {                                                                                 \
		if ((cond) && o < sizeof(restart))                                           \
			o += (size_t)snprintf(restart + o, sizeof(restart) - o, "%s%s",       \
					      o ? "," : "", name);                            \
	} while (0)
	NEEDS_RESTART(listeners_differ(old, fresh), "listener");
	NEEDS_RESTART(str_differs(old->data_dir, fresh->data_dir), "data_dir");
	NEEDS_RESTART(str_differs(old->run_user, fresh->run_user), "user");
	NEEDS_RESTART(old->workers != fresh->workers, "workers");
	NEEDS_RESTART(old->async_threads != fresh->async_threads, "async_threads");
	NEEDS_RESTART(old->cpu_threads != fresh->cpu_threads, "cpu_threads");
	NEEDS_RESTART(old->auth_cache_size != fresh->auth_cache_size, "auth.cache_size");
#undef NEEDS_RESTART

	/* What this reload changes at once (the protocols read their own
	 * sections from roost_config at their next use). */
	char changed[256] = "";
	o = 0;
#define CHANGED(cond, name)                                                                  \
	do {                                                                                 \
		if ((cond) && o < sizeof(changed))                                           \
			o += (size_t)snprintf(changed + o, sizeof(changed) - o, "%s%s",       \
					      o ? "," : "", name);                            \
	} while (0)
	CHANGED(str_differs(old->tls_cert, fresh->tls_cert), "tls.cert");
	CHANGED(str_differs(old->tls_key, fresh->tls_key), "tls.key");
	CHANGED(str_differs(old->tls_min_version, fresh->tls_min_version), "tls.min_version");
	CHANGED(str_differs(old->tls_ciphers, fresh->tls_ciphers), "tls.ciphers");
	CHANGED(str_differs(old->tls_ciphersuites, fresh->tls_ciphersuites), "tls.ciphersuites");
	CHANGED(old->max_connections != fresh->max_connections, "max_connections");
	CHANGED(old->max_connections_per_ip != fresh->max_connections_per_ip,
		"max_connections_per_ip");
	CHANGED(old->preauth_timeout != fresh->preauth_timeout, "preauth_timeout");
	CHANGED(old->idle_timeout != fresh->idle_timeout, "idle_timeout");
	CHANGED(old->shutdown_grace != fresh->shutdown_grace, "shutdown_grace");
	CHANGED(str_differs(old->log_level, fresh->log_level), "log_level");
	CHANGED(str_differs(old->log_target, fresh->log_target), "log_target");
	CHANGED(str_differs(old->hostname, fresh->hostname), "hostname");
	CHANGED(old->auth_cache_ttl != fresh->auth_cache_ttl, "auth.cache_ttl");
#undef CHANGED

	/* The certificate is rebuilt even when its path did not change: the
	 * point of a SIGHUP is usually a renewed certificate. A broken one
	 * leaves the old context in service. */
	const char *tls_status = "reloaded";
	if (tls_configure(fresh, err, sizeof(err)) < 0) {
		char q[1100];
		log_error("reload", "tls=kept-old error=%s", log_quote(err, q, sizeof(q)));
		tls_status = "kept-old";
	} else if (fresh->tls_cert[0] == '\0') {
		tls_status = "none";
	}

	struct net_limits limits;
	net_limits_from_config(&limits, fresh);
	net_server_set_limits(daemon_state.server, &limits);
	apply_logging(fresh);
	auth_set_config(fresh);
	__atomic_store_n(&roost_config, fresh, __ATOMIC_RELEASE);
	r->config = old;
	r->next = daemon_state.retired;
	daemon_state.retired = r;

	log_info("reload", "status=applied tls=%s changed=%s needs_restart=%s max_connections=%u "
			   "max_connections_per_ip=%u preauth_timeout=%u log_level=%s",
		 tls_status, changed[0] ? changed : "none", restart[0] ? restart : "none",
		 fresh->max_connections, fresh->max_connections_per_ip, fresh->preauth_timeout,
		 fresh->log_level);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGHUP) {
		reload();
		return;
	}
	log_info("shutdown", "signal=%s", sig == SIGTERM ? "TERM" : "INT");
	event_del(daemon_state.ev_term);
	event_del(daemon_state.ev_int);
	event_del(daemon_state.ev_hup);
	net_server_shutdown(daemon_state.server);
}

/* ------------------------------------------------------------ start-up */

/* As root: data_dir must exist and belong to the user the daemon becomes,
 * or the store cannot create anything in it after the drop. */
static int prepare_data_dir(const struct config *config, bool as_root, uid_t uid, gid_t gid,
			    char *err, size_t errcap)
{
	struct stat st;
	if (stat(config->data_dir, &st) < 0) {
		if (errno != ENOENT || mkdir(config->data_dir, 0700) < 0) {
			snprintf(err, errcap, "data_dir: cannot create %s: %s", config->data_dir,
				 strerror(errno));
			return -1;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errcap, "data_dir: %s is not a directory", config->data_dir);
		return -1;
	}
	if (as_root && chown(config->data_dir, uid, gid) < 0) {
		snprintf(err, errcap, "data_dir: cannot chown %s: %s", config->data_dir,
			 strerror(errno));
		return -1;
	}
	return 1;
}

int main(int argc, char **argv)
{
	const char *path = getenv("ROOST_CONFIG");
	bool test_only = false;
	int opt;
	char err[1024];

	/* Until the signal events are installed (after the store is open),
	 * a SIGHUP must not kill the daemon. */
	signal(SIGHUP, SIG_IGN);
	while ((opt = getopt(argc, argv, "c:tFh")) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 't': test_only = true; break;
		case 'F': break;
		case 'h': usage(stdout); return EX_OK;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (path == NULL || path[0] == '\0')
		path = ROOSTD_DEFAULT_CONFIG;
	daemon_state.config_path = path;

	struct config *config = NULL;
	if (config_load(path, &config, err, sizeof(err)) < 0 ||
	    check_listeners(config, err, sizeof(err)) < 0) {
		fprintf(stderr, "roostd: %s\n", err);
		config_free(&config);
		return EX_CONFIG;
	}
	if (tls_check(config, err, sizeof(err)) < 0) {
		fprintf(stderr, "roostd: %s: %s\n", path, err);
		config_free(&config);
		return EX_CONFIG;
	}
	if (test_only) {
		printf("roostd: %s: configuration is valid (%u listeners)\n", path, config->n_listeners);
		config_free(&config);
		return EX_OK;
	}
	roost_config = config;
	apply_logging(config);

	bool as_root = geteuid() == 0;
	uid_t uid = 0;
	gid_t gid = 0;
	if (as_root && config->run_user[0] == '\0') {
		fprintf(stderr, "roostd: %s: user: is empty, but roostd was started as root and "
				"never runs protocol code as root (set e.g. user = roost)\n", path);
		return EX_CONFIG;
	}
	if (as_root && priv_lookup(config->run_user, &uid, &gid, err, sizeof(err)) < 0) {
		fprintf(stderr, "roostd: %s: %s\n", path, err);
		return EX_CONFIG;
	}

	int rc = EX_OK;
	struct net_limits limits;
	net_limits_from_config(&limits, config);
	if (net_global_init(err, sizeof(err)) < 0 || tls_configure(config, err, sizeof(err)) < 0 ||
	    (daemon_state.server = net_server_new(config->workers, config->async_threads,
						   config->cpu_threads, &limits, err,
						   sizeof(err))) == NULL) {
		fprintf(stderr, "roostd: %s\n", err);
		return EX_SOFTWARE;
	}
	for (unsigned i = 0; i < config->n_listeners; i++) {
		const struct listener_config *l = &config->listeners[i];
		struct proto_entry pe = proto_for(l->proto);
		if (net_server_listen(daemon_state.server, l, pe.ops, pe.busy_line, err, sizeof(err)) <
		    0) {
			fprintf(stderr, "roostd: %s:%u: listener: %s\n", path, l->line, err);
			rc = EX_OSERR;
			goto out;
		}
	}
	if (prepare_data_dir(config, as_root, uid, gid, err, sizeof(err)) < 0) {
		fprintf(stderr, "roostd: %s: %s\n", path, err);
		rc = EX_CANTCREAT;
		goto out;
	}
	if (as_root) {
		net_server_chown_sockets(daemon_state.server, uid, gid);
		if (priv_drop(config->run_user, err, sizeof(err)) < 0) {
			fprintf(stderr, "roostd: %s\n", err);
			rc = EX_NOPERM;
			goto out;
		}
		log_info("privileges", "user=%s uid=%u gid=%u", config->run_user, (unsigned)uid,
			 (unsigned)gid);
#if defined(__SANITIZE_ADDRESS__)
		/* setuid() made the process non-dumpable, which keeps
		 * LeakSanitizer from inspecting it at exit. Sanitizer builds
		 * only: a production daemon stays non-dumpable. */
		prctl(PR_SET_DUMPABLE, 1);
#endif
	}

	if (store_init(config->data_dir, err, sizeof(err)) < 0) {
		fprintf(stderr, "roostd: store: %s\n", err);
		rc = EX_UNAVAILABLE;
		goto out;
	}
	if (store_notify_listen(err, sizeof(err)) < 0)
		log_warn("store", "error=\"notify: %s\"", err);
	if (auth_init(config, err, sizeof(err)) < 0) {
		fprintf(stderr, "roostd: auth: %s\n", err);
		store_deinit();
		rc = EX_UNAVAILABLE;
		goto out;
	}

	struct event_base *base = net_server_base(daemon_state.server);
	daemon_state.ev_term = evsignal_new(base, SIGTERM, signal_cb, NULL);
	daemon_state.ev_int = evsignal_new(base, SIGINT, signal_cb, NULL);
	daemon_state.ev_hup = evsignal_new(base, SIGHUP, signal_cb, NULL);
	if (!daemon_state.ev_term || !daemon_state.ev_int || !daemon_state.ev_hup ||
	    event_add(daemon_state.ev_term, NULL) < 0 || event_add(daemon_state.ev_int, NULL) < 0 ||
	    event_add(daemon_state.ev_hup, NULL) < 0 ||
	    net_server_start(daemon_state.server, err, sizeof(err)) < 0) {
		fprintf(stderr, "roostd: %s\n", err[0] ? err : "cannot set up signal handling");
		rc = EX_OSERR;
	} else {
		log_info("ready", "config=%s listeners=%u pid=%ld", path, config->n_listeners,
			 (long)getpid());
		net_server_run(daemon_state.server);
	}
	net_server_free(&daemon_state.server);
	auth_deinit();
	store_deinit();
	log_info("stopped", "status=%d", rc);
out:
	net_server_free(&daemon_state.server);
	if (daemon_state.ev_term)
		event_free(daemon_state.ev_term);
	if (daemon_state.ev_int)
		event_free(daemon_state.ev_int);
	if (daemon_state.ev_hup)
		event_free(daemon_state.ev_hup);
	tls_deinit();
	while (daemon_state.retired) {
		struct retired_config *r = daemon_state.retired;
		daemon_state.retired = r->next;
		config_free(&r->config);
		free(r);
	}
	config_free(&roost_config);
	return rc;
}
