/* config.h - roost.conf: every setting Roost has, with its default.
 *
 * docs/configuration.md documents each key; keep the two in step (a unit
 * test checks that every key in the table is mentioned there).
 *
 * The daemon loads one `struct config` at start and a fresh one at SIGHUP;
 * modules read the global `roost_config` (never NULL after config_load in
 * the programs; tests may point it at their own). Strings are owned by
 * the config and live until config_free. */
#ifndef ROOST_CONFIG_H
#define ROOST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LISTENERS 32

enum listener_proto {
	LISTENER_IMAP,
	LISTENER_IMAPS, /* implicit TLS */
	LISTENER_POP3,
	LISTENER_POP3S,
	LISTENER_LMTP,
	LISTENER_HTTP, /* settings page and autoconfig */
	LISTENER_HTTPS, /* the same over implicit TLS */
};

struct listener_config {
	enum listener_proto proto;
	char *address;   /* "127.0.0.1", "::", "*" */
	unsigned port;   /* 0 with path set: UNIX socket */
	char *path;      /* UNIX socket path (LMTP) or NULL */
	unsigned line;   /* where it was declared, for error messages */
};

enum plaintext_auth { PLAINTEXT_AUTH_NEVER, PLAINTEXT_AUTH_LOOPBACK, PLAINTEXT_AUTH_ALWAYS };
enum pop3_dele_policy { POP3_DELE_EXPUNGE, POP3_DELE_KEEP, POP3_DELE_TRASH };

struct config {
	/* global */
	char *data_dir;
	char *run_user;       /* key "user": drop privileges to this user when root */
	char *hostname;
	unsigned workers;     /* 0: number of cores */
	char *log_level;
	char *log_target;     /* stderr | syslog */
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned preauth_timeout;  /* seconds */
	unsigned idle_timeout;     /* seconds, after login */
	unsigned shutdown_grace;   /* seconds to flush goodbyes at shutdown */
	unsigned async_threads;    /* io pool (store work); 0: 4 per core */
	unsigned cpu_threads;      /* cpu pool (password hashing); 0: one per core */

	/* TLS */
	char *tls_cert;
	char *tls_key;
	char *tls_min_version;     /* "1.2" | "1.3" */
	char *tls_ciphers;         /* TLS 1.2 cipher list */
	char *tls_ciphersuites;    /* TLS 1.3 suites */

	/* [auth] */
	enum plaintext_auth plaintext_auth;
	char *default_domain;
	unsigned auth_fail_delay_ms;       /* first delay after a failure */
	unsigned auth_max_failures;        /* failures before a lock-out */
	unsigned auth_lockout_seconds;
	unsigned max_sessions_per_user;
	bool require_app_password;         /* global default for new accounts */
	char *password_scheme;             /* yescrypt | sha512-crypt | bcrypt */
	unsigned auth_cache_ttl;           /* seconds a verified password skips the hash; 0: off */
	unsigned auth_cache_size;          /* entries of that cache */

	/* [account] - what a new account gets */
	char *folder_drafts, *folder_sent, *folder_trash, *folder_junk, *folder_archive;
	uint64_t default_quota_bytes;      /* 0: unlimited */
	uint64_t default_quota_messages;   /* 0: unlimited */

	/* [imap] */
	unsigned imap_idle_keepalive;      /* seconds between "* OK Still here" */
	size_t imap_max_line;              /* bytes of a command line outside literals */
	uint64_t imap_append_limit;        /* APPENDLIMIT, bytes */
	size_t imap_max_literal_preauth;   /* before login */

	/* [pop3] */
	enum pop3_dele_policy pop3_dele;
	unsigned pop3_offer_days;          /* 0: the whole INBOX */

	/* [lmtp] */
	uint64_t lmtp_max_message_size;
	unsigned lmtp_max_recipients;

	/* [store] */
	unsigned store_list_snapshot_min;  /* messages; 0: no list snapshots */

	/* [web] */
	char *web_title;
	char *web_submission_host;         /* "": the hostname */
	unsigned web_submission_port;      /* 0: no outgoing server advertised */

	struct listener_config listeners[CONFIG_MAX_LISTENERS];
	unsigned n_listeners;
	char *path;                        /* the file it was read from */
};

extern struct config *roost_config;

/* A config with every default set and no listeners. NULL on OOM. */
struct config *config_new_defaults(void);
/* Reads path over the defaults. On error returns -1 and err_r names the
 * file, line and key. */
int config_load(const char *path, struct config **config_r, char *err_r, size_t errcap);
/* Same, from a string (tests). */
int config_load_string(const char *name, const char *text, struct config **config_r,
		       char *err_r, size_t errcap);
void config_free(struct config **config);

const char *listener_proto_name(enum listener_proto proto);
bool listener_proto_is_tls(enum listener_proto proto);

/* The keys, for documentation checks: NULL-terminated "section.key"
 * strings ("key" for the global section). */
const char *const *config_key_names(void);

#endif
