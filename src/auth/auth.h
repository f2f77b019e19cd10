/* auth.h - accounts, passwords, app passwords, logins and abuse protection.
 *
 * The accounts database is SQLite at <data_dir>/accounts.db (WAL; changes
 * committed with synchronous=FULL). It holds domains, accounts, aliases and
 * app passwords. roostd and the roost CLI both open it through this module
 * (several processes may use it at once; SQLite's locking arbitrates).
 *
 * Addresses. An account is known by its full address "local@domain". The
 * whole address is stored and compared in lower case (ASCII letters only;
 * UTF-8 bytes are kept as they are): Roost treats local parts as
 * case-insensitive, as nearly every mail system does in practice, so
 * "Bob@Example.COM" and "bob@example.com" are one account. A login without
 * "@" gets "@<auth.default_domain>" appended when that setting is non-empty.
 * A login or recipient may also be an alias address, which resolves to its
 * target account.
 *
 * Every account has a stable numeric id (never reused) and a `user_key`,
 * "u<id>", which names its mail store (store_user_create(user_key)). Renaming
 * an account changes its address, never its id or user_key.
 *
 * Threading. auth_init/auth_deinit run once in the main thread. Every other
 * function is thread-safe. Functions marked BLOCKING touch the disk or hash a
 * password (tens of milliseconds): in roostd call them only from a thread
 * pool, never on an event loop thread (logins: the cpu pool,
 * conn_run_async_cpu; lookups such as LMTP's: conn_run_async). Functions not marked
 * BLOCKING are cheap, in-memory, and fine on an event loop.
 *
 * Return convention (unless stated): -1 error, 0 not found, 1 done. Errors
 * carry a message in err (when given) and are logged where they happen. */
#ifndef ROOST_AUTH_H
#define ROOST_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config.h"

/* Buffer sizes, including the terminating NUL. RFC 5321 4.5.3.1: a local
 * part is at most 64 octets and a domain at most 255. */
#define AUTH_ADDRESS_MAX  321
#define AUTH_LOCAL_MAX    64
#define AUTH_DOMAIN_MAX   255
#define AUTH_USER_KEY_MAX 24
#define AUTH_FOLDER_MAX   256  /* plus-addressing folder name, bytes */
#define AUTH_PASSWORD_MAX 1024 /* longer passwords are refused (FAILED) */
#define AUTH_LABEL_MAX    64   /* app password label */
#define AUTH_IP_MAX       64   /* textual IPv6 with zone fits */
#define AUTH_MESSAGE_MAX  160

/* ------------------------------------------------------------------ */
/* Life cycle */

/* Opens (creating if needed) <config->data_dir>/accounts.db, migrates its
 * schema to the current version, and keeps `config` for the settings read
 * later (default domain, [account], [auth], [pop3]); the config must stay
 * alive until auth_deinit (on SIGHUP call auth_set_config). Returns 1, or -1
 * with a message in err. BLOCKING. */
int auth_init(const struct config *config, char *err, size_t errcap);
void auth_deinit(void);
/* Switch to a freshly loaded config (SIGHUP). The database path is not
 * reopened and the dummy hash for unknown logins keeps the scheme it was
 * made with at auth_init. Threads may still be reading the old config
 * while this runs: free it only once they cannot be. */
void auth_set_config(const struct config *config);

/* ------------------------------------------------------------------ */
/* Logins (mail protocols) */

enum auth_protocol {
	AUTH_PROTO_IMAP,
	AUTH_PROTO_POP3,
	AUTH_PROTO_SMTP,  /* submission-style clients; no per-account switch */
	AUTH_PROTO_WEB,   /* the settings page: account password only */
	AUTH_PROTO_OTHER, /* tools; no switch, app passwords refused */
};

/* "imap", "pop3", "smtp", "web", "other" */
const char *auth_protocol_name(enum auth_protocol proto);

/* Who is logging in, for switches, policy, logs and abuse counting. */
struct auth_client {
	enum auth_protocol protocol;
	const char *remote_ip; /* "192.0.2.1", "::1", "unix"; NULL = "unknown" */
	bool secured;          /* TLS is active (or the transport is trusted) */
	bool loopback;         /* loopback address or UNIX socket */
};

enum auth_status {
	AUTH_OK,
	/* Unknown login or wrong password: one code for both, so a client
	 * cannot probe which accounts exist. */
	AUTH_FAILED,
	/* Password right, but the account has this protocol switched off.
	 * IMAP: "NO [UNAVAILABLE] IMAP is turned off for this account; turn it on
	 * in your account settings"; POP3: "-ERR [AUTH] POP3 is turned off ...".
	 * Only reported after the password was verified, so it leaks nothing. */
	AUTH_DISABLED_PROTOCOL,
	/* Password right, account state is "disabled". */
	AUTH_ACCOUNT_DISABLED,
	/* The account password was given to a mail protocol while the account
	 * has require_app_password on: the client must use an app password. */
	AUTH_APP_PASSWORD_REQUIRED,
	/* Too many recent failures from this IP or for this login: refused
	 * without checking the password, for r->lockout_seconds more seconds. */
	AUTH_LOCKED_OUT,
	/* Database unavailable or similar: try again later
	 * (IMAP [UNAVAILABLE], POP3 [SYS/TEMP]). */
	AUTH_TEMPFAIL,
};

/* Short, fixed token for logs: "ok", "failed", "protocol-disabled",
 * "account-disabled", "app-password-required", "locked-out", "tempfail". */
const char *auth_status_name(enum auth_status status);

/* The outcome of a login. On AUTH_OK every field is set; on other codes
 * `message` and `delay_ms` are set, and account fields are set only for
 * DISABLED_PROTOCOL, ACCOUNT_DISABLED and APP_PASSWORD_REQUIRED. */
struct auth_result {
	enum auth_status status;
	/* A human sentence for the client, without protocol prefixes or
	 * response codes, e.g. "IMAP is turned off for this account; turn it
	 * on in your account settings". Never says whether the user exists. */
	char message[AUTH_MESSAGE_MAX];
	/* Failures: wait this long before sending the failure reply (see
	 * "Abuse protection" below). 0 on success. */
	unsigned delay_ms;
	/* LOCKED_OUT: seconds until the lock expires. */
	unsigned lockout_seconds;

	int64_t account_id;
	char address[AUTH_ADDRESS_MAX];   /* canonical, e.g. "bob@example.com" */
	char user_key[AUTH_USER_KEY_MAX]; /* "u17": the store's key */
	bool used_app_password;
	int64_t app_password_id; /* when used_app_password */

	/* POP3 policy with "default" already resolved from the config. */
	enum pop3_dele_policy pop3_dele;
	unsigned pop3_offer_days; /* 0: the whole INBOX */
	uint64_t quota_bytes;     /* 0: unlimited */
	uint64_t quota_messages;  /* 0: unlimited */
};

/* Verify a login. In order: abuse lock-out check (LOCKED_OUT without
 * hashing), resolve `login` (address, alias, or local part plus
 * auth.default_domain), verify `password` against the account password and
 * its app passwords (an unknown login is verified against a dummy hash of
 * the configured scheme so it costs the same time), then, only if the
 * password matched: account state, require_app_password (mail protocols
 * IMAP/POP3/SMTP only), and the protocol switch. App passwords are accepted
 * only for IMAP/POP3/SMTP; a successful app-password login records last
 * use (time, protocol, IP). A password that verified less than
 * auth.cache_ttl seconds ago for this account, against a credential whose
 * stored form has not changed since, skips the hash (the login cache;
 * everything else above still runs). Failures are counted and logged, one line:
 *   event=auth-failure ip=<ip> user=<login> proto=<p> reason=<status>
 * Never logs the password. Returns r->status as well. BLOCKING. */
enum auth_status auth_verify_password(const char *login, const char *password,
                                      const struct auth_client *client, struct auth_result *r);

/* The plaintext policy (auth.plaintext): may a password be sent in clear on
 * this connection? IMAP uses it for LOGINDISABLED, POP3 for USER/PASS and
 * both for offering PLAIN/LOGIN. Always true when `secured`. */
bool auth_plaintext_allowed(bool secured, bool loopback);

/* ------------------------------------------------------------------ */
/* Abuse protection
 *
 * In memory, per process, thread-safe. Failures are counted per remote IP
 * and per login name (the canonical address when the login resolves, else
 * the normalised login, so unknown users are throttled alike). After n
 * consecutive failures the delay is auth.fail_delay_ms * 2^(n-1), capped at
 * 15 seconds; after auth.max_failures the IP (or login) is locked out for
 * auth.lockout_seconds. A successful login clears the counters of its IP
 * and account. A loopback client's IP is never locked out (a local proxy
 * or webmail would lock out everyone behind it); its logins still are.
 *
 * The delay is NOT slept inside auth_verify_password (a sleeping thread-pool
 * job would let a few attackers starve every login): it is returned in
 * r->delay_ms, and the protocol waits that long with a timer owned by its
 * session (evtimer on conn_event_base, deleted in ops->close) before sending
 * the failure reply, keeping input suspended meanwhile. */

/* Concurrent sessions per account (auth.max_sessions_per_user). Call
 * begin after a successful login and end exactly once when that session
 * ends (logout, close). begin returns 1, or 0 when the limit is reached
 * (refuse the login: IMAP "NO [LIMIT]", POP3 "-ERR [IN-USE]"; do not
 * call end then). */
int auth_session_begin(int64_t account_id);
void auth_session_end(int64_t account_id);
unsigned auth_session_count(int64_t account_id);

/* Forget all counters and lock-outs (tests, SIGHUP). */
void auth_abuse_reset(void);

/* ------------------------------------------------------------------ */
/* Recipients (LMTP, `roost deliver`) */

struct auth_recipient {
	int64_t account_id;
	char address[AUTH_ADDRESS_MAX]; /* the account's canonical address */
	char user_key[AUTH_USER_KEY_MAX];
	/* Plus-addressing: "bob+Lists/Rust@example.com" gives folder
	 * "Lists/Rust" (case kept as written; the mailbox name is the store's
	 * business; "inbox" in any case means INBOX). Empty if none. The
	 * deliverer files into that folder if it exists, else INBOX. */
	char folder[AUTH_FOLDER_MAX];
	bool via_alias;
	bool active;             /* false: account disabled (LMTP: 550 5.2.1) */
	uint64_t quota_bytes;    /* 0: unlimited */
	uint64_t quota_messages; /* 0: unlimited */
};

/* Resolve a recipient address: exact account, then alias, then
 * "local+detail@domain" by stripping the detail (account or alias of the
 * stripped address). A bare local part (no "@") is resolved with
 * auth.default_domain. Address case rules as for accounts; the detail keeps
 * its case. Returns 1 found, 0 no such user, -1 temporary failure (LMTP:
 * 451 4.3.0). BLOCKING. */
int auth_lookup_recipient(const char *address, struct auth_recipient *r);

/* ------------------------------------------------------------------ */
/* Accounts (the CLI; the protocols use auth_result / auth_recipient) */

enum auth_account_state { AUTH_STATE_ACTIVE, AUTH_STATE_DISABLED };
/* pop3_dele of an account: a policy, or follow the config. */
#define AUTH_POP3_DELE_DEFAULT (-1)

struct auth_account {
	int64_t id;
	char address[AUTH_ADDRESS_MAX];
	char user_key[AUTH_USER_KEY_MAX];
	enum auth_account_state state;
	bool imap_enabled;
	bool pop3_enabled;
	bool require_app_password;
	int pop3_dele;           /* enum pop3_dele_policy, or AUTH_POP3_DELE_DEFAULT */
	int pop3_offer_days;     /* -1: follow the config */
	uint64_t quota_bytes;    /* 0: unlimited */
	uint64_t quota_messages; /* 0: unlimited */
	int64_t created;         /* unix time */
	int64_t password_changed;
	char scheme[16]; /* "yescrypt", "sha512-crypt", "sha256-crypt", "bcrypt", "none" */
};

/* Error codes of the account functions, so the CLI can choose exit codes.
 * Every function below returning int returns 1 on success or -1 with
 * *code_r (when non-NULL) set and a message in err. */
enum auth_err {
	AUTH_ERR_NONE,
	AUTH_ERR_INVALID,  /* bad address, bad value (EX_DATAERR) */
	AUTH_ERR_EXISTS,   /* duplicate (EX_CANTCREAT) */
	AUTH_ERR_NOUSER,   /* unknown account / alias / domain (EX_NOUSER) */
	AUTH_ERR_CONFLICT, /* e.g. deleting a domain that still has accounts (EX_DATAERR) */
	AUTH_ERR_TEMP,     /* database busy or I/O error (EX_TEMPFAIL) */
	AUTH_ERR_STORE,    /* the mail store could not be created (EX_CANTCREAT) */
};

/* Validate and canonicalise an address (lower case, one "@", local part
 * 1..64 bytes of atext/dots or UTF-8, domain 1..255 bytes of LDH labels or
 * UTF-8). Returns 1 with out filled, -1 with a reason in err. Cheap. */
int auth_address_normalize(const char *address, char *out, size_t outcap, char *err, size_t errcap);

/* As auth_address_normalize, but a bare local part ("bob") first gets
 * "@<auth.default_domain>" when that is set: what logins and the CLI
 * accept. Cheap. */
int auth_address_canonical(const char *address, char *out, size_t outcap, char *err, size_t errcap);

/* All BLOCKING. */
/* 1 if the domain exists, 0 if not (or invalid), -1 on error. */
int auth_domain_exists(const char *domain);
int auth_domain_add(const char *domain, enum auth_err *code_r, char *err, size_t errcap);
/* Refuses (CONFLICT) while accounts or aliases use the domain. */
int auth_domain_del(const char *domain, enum auth_err *code_r, char *err, size_t errcap);
/* Calls cb for each domain in name order with its account and alias
 * counts; cb returning false stops. List callbacks run with the database
 * lock held: they must not call auth functions. */
int auth_domain_list(bool (*cb)(void *ctx, const char *domain, int64_t created, unsigned accounts,
                                unsigned aliases),
                     void *ctx, char *err, size_t errcap);

/* Create an account with `password` (hashed with auth.password_scheme,
 * SCRAM keys derived) or, when password_hash is non-NULL, with an imported
 * crypt(3) hash ($y$, $6$, $5$, $2y$/$2b$; no SCRAM keys then until the
 * password is next set). Its domain must exist (NOUSER otherwise: "domain
 * example.com does not exist"). Creates the mail store with INBOX and the
 * [account] special-use folders, all subscribed. Settings start from the
 * config defaults. Fills *account_r when non-NULL. */
int auth_account_add(const char *address, const char *password, const char *password_hash,
                     struct auth_account *account_r, enum auth_err *code_r, char *err,
                     size_t errcap);
/* Deletes the account row, its aliases and app passwords. The mail store
 * is not removed (its user_key is returned in account_r for the caller). */
int auth_account_del(const char *address, struct auth_account *account_r, enum auth_err *code_r,
                     char *err, size_t errcap);
/* Look up by address (or alias, or default-domain login): 1, 0 if none,
 * -1 on error. */
int auth_account_get(const char *address, struct auth_account *account_r, char *err, size_t errcap);
int auth_account_get_by_id(int64_t id, struct auth_account *account_r, char *err, size_t errcap);
/* Accounts in address order, optionally only those of one domain. */
int auth_account_list(const char *domain, bool (*cb)(void *ctx, const struct auth_account *a),
                      void *ctx, char *err, size_t errcap);
int auth_account_set_password(const char *address, const char *password, enum auth_err *code_r,
                              char *err, size_t errcap);
/* key=value settings, as `roost user set` takes them: imap=on|off,
 * pop3=on|off, state=active|disabled, quota=SIZE (bytes, K/M/G/T suffixes,
 * 0 or "unlimited"), quota_messages=N, require_app_password=yes|no,
 * pop3_dele=expunge|keep|trash|default, pop3_offer_days=N|default.
 * All pairs are validated before any is applied; applied in one
 * transaction. */
int auth_account_set(const char *address, const char *const *pairs, size_t n_pairs,
                     enum auth_err *code_r, char *err, size_t errcap);
/* New address in an existing domain; id, user_key, store, app passwords
 * are kept; aliases pointing at the account keep pointing at it. */
int auth_account_rename(const char *address, const char *new_address, enum auth_err *code_r,
                        char *err, size_t errcap);

/* Aliases: alias address -> account. An alias may not shadow an account. */
int auth_alias_add(const char *alias, const char *target, enum auth_err *code_r, char *err,
                   size_t errcap);
int auth_alias_del(const char *alias, enum auth_err *code_r, char *err, size_t errcap);
/* All aliases (target == NULL) or those of one account: 1, 0 when target
 * is not an account (err says so), -1 on error. */
int auth_alias_list(const char *target,
                    bool (*cb)(void *ctx, const char *alias, const char *target, int64_t created),
                    void *ctx, char *err, size_t errcap);

/* ------------------------------------------------------------------ */
/* App passwords ("authorization codes") */

#define AUTH_APP_CODE_LEN 16 /* lowercase letters; shown as "abcd efgh ijkl mnop" */

struct auth_app_password {
	int64_t id;
	char label[AUTH_LABEL_MAX + 1];
	int64_t created;
	int64_t last_used;         /* 0: never */
	char last_protocol[8];     /* "imap", "pop3", "smtp" or "" */
	char last_ip[AUTH_IP_MAX]; /* "" if never used */
};

/* Creates an app password for the account: a random 16-letter code, stored
 * hashed (and as SCRAM keys), returned once in code_r (AUTH_APP_CODE_LEN + 1
 * bytes, no spaces). Label: 1..64 printable UTF-8 bytes. */
int auth_app_password_add(const char *address, const char *label, char *code_r,
                          struct auth_app_password *info_r, enum auth_err *code_err_r, char *err,
                          size_t errcap);
int auth_app_password_list(const char *address,
                           bool (*cb)(void *ctx, const struct auth_app_password *p), void *ctx,
                           enum auth_err *code_r, char *err, size_t errcap);
/* NOUSER when the id is not one of this account's app passwords. */
int auth_app_password_revoke(const char *address, int64_t id, enum auth_err *code_r, char *err,
                             size_t errcap);
/* "abcdefghijklmnop" -> "abcd efgh ijkl mnop" (out: at least 20 bytes). */
void auth_app_code_format(const char *code, char *out, size_t outcap);

/* ------------------------------------------------------------------ */
/* Password hashing (also used by the tests) */

/* Hash with a scheme name ("yescrypt", "sha512-crypt", "sha256-crypt",
 * "bcrypt"). Returns 1, -1 on error. BLOCKING (CPU). */
int auth_password_hash(const char *scheme, const char *password, char *out, size_t outcap);
/* Verify against a crypt(3) hash ($y$, $6$, $5$, $2y$, $2b$; anything else
 * never matches). Constant-time comparison. BLOCKING (CPU). */
bool auth_password_verify(const char *password, const char *hash);
/* Is this an importable hash of a supported scheme? Returns the scheme name
 * or NULL. */
const char *auth_hash_scheme(const char *hash);

#endif
