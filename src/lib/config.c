#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ini.h"

struct config *roost_config;

enum key_type { T_STR, T_UINT, T_SIZE, T_U64, T_BOOL, T_ENUM, T_BYTES };

struct enum_value {
	const char *name;
	int value;
};

struct config_key {
	const char *section; /* "" for global */
	const char *key;
	enum key_type type;
	size_t offset;
	const char *def;
	uint64_t min, max;               /* numbers */
	const struct enum_value *values; /* T_ENUM */
};

static const struct enum_value plaintext_values[] = {
	{ "never", PLAINTEXT_AUTH_NEVER },
	{ "loopback", PLAINTEXT_AUTH_LOOPBACK },
	{ "always", PLAINTEXT_AUTH_ALWAYS },
	{ NULL, 0 },
};
static const struct enum_value dele_values[] = {
	{ "expunge", POP3_DELE_EXPUNGE },
	{ "keep", POP3_DELE_KEEP },
	{ "trash", POP3_DELE_TRASH },
	{ NULL, 0 },
};
static const struct enum_value log_level_values[] = {
	{ "debug", 0 }, { "info", 1 }, { "warn", 2 }, { "error", 3 }, { NULL, 0 },
};
static const struct enum_value log_target_values[] = {
	{ "stderr", 0 }, { "syslog", 1 }, { NULL, 0 },
};
static const struct enum_value tls_version_values[] = {
	{ "1.2", 0 }, { "1.3", 1 }, { NULL, 0 },
};
static const struct enum_value scheme_values[] = {
	{ "yescrypt", 0 }, { "sha512-crypt", 1 }, { "bcrypt", 2 }, { NULL, 0 },
};

#define OFF(field) offsetof(struct config, field)
#define MiB (1024ull * 1024)

/* String-valued enums (log_level, ...) are T_STR checked against values. */
static const struct config_key keys[] = {
	{ "", "data_dir", T_STR, OFF(data_dir), "/var/lib/roost", 0, 0, NULL },
	{ "", "user", T_STR, OFF(run_user), "roost", 0, 0, NULL },
	{ "", "hostname", T_STR, OFF(hostname), "", 0, 0, NULL },
	{ "", "workers", T_UINT, OFF(workers), "0", 0, 256, NULL },
	{ "", "log_level", T_STR, OFF(log_level), "info", 0, 0, log_level_values },
	{ "", "log_target", T_STR, OFF(log_target), "stderr", 0, 0, log_target_values },
	{ "", "max_connections", T_UINT, OFF(max_connections), "20000", 1, 10000000, NULL },
	{ "", "max_connections_per_ip", T_UINT, OFF(max_connections_per_ip), "100", 1, 10000000, NULL },
	{ "", "preauth_timeout", T_UINT, OFF(preauth_timeout), "60", 1, 86400, NULL },
	{ "", "idle_timeout", T_UINT, OFF(idle_timeout), "1860", 1, 86400, NULL },
	{ "", "shutdown_grace", T_UINT, OFF(shutdown_grace), "3", 0, 600, NULL },
	{ "", "async_threads", T_UINT, OFF(async_threads), "0", 0, 256, NULL },
	{ "", "cpu_threads", T_UINT, OFF(cpu_threads), "0", 0, 256, NULL },

	{ "tls", "cert", T_STR, OFF(tls_cert), "", 0, 0, NULL },
	{ "tls", "key", T_STR, OFF(tls_key), "", 0, 0, NULL },
	{ "tls", "min_version", T_STR, OFF(tls_min_version), "1.2", 0, 0, tls_version_values },
	{ "tls", "ciphers", T_STR, OFF(tls_ciphers),
	  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
	  "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
	  0, 0, NULL },
	{ "tls", "ciphersuites", T_STR, OFF(tls_ciphersuites),
	  "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256", 0, 0, NULL },

	{ "auth", "plaintext", T_ENUM, OFF(plaintext_auth), "loopback", 0, 0, plaintext_values },
	{ "auth", "default_domain", T_STR, OFF(default_domain), "", 0, 0, NULL },
	{ "auth", "fail_delay_ms", T_UINT, OFF(auth_fail_delay_ms), "1000", 0, 60000, NULL },
	{ "auth", "max_failures", T_UINT, OFF(auth_max_failures), "10", 1, 100000, NULL },
	{ "auth", "lockout_seconds", T_UINT, OFF(auth_lockout_seconds), "300", 0, 86400, NULL },
	{ "auth", "max_sessions_per_user", T_UINT, OFF(max_sessions_per_user), "50", 1, 100000, NULL },
	{ "auth", "require_app_password", T_BOOL, OFF(require_app_password), "no", 0, 0, NULL },
	{ "auth", "password_scheme", T_STR, OFF(password_scheme), "yescrypt", 0, 0, scheme_values },
	{ "auth", "cache_ttl", T_UINT, OFF(auth_cache_ttl), "3600", 0, 86400, NULL },
	{ "auth", "cache_size", T_UINT, OFF(auth_cache_size), "10000", 1, 1000000, NULL },

	{ "account", "drafts", T_STR, OFF(folder_drafts), "Drafts", 0, 0, NULL },
	{ "account", "sent", T_STR, OFF(folder_sent), "Sent", 0, 0, NULL },
	{ "account", "trash", T_STR, OFF(folder_trash), "Trash", 0, 0, NULL },
	{ "account", "junk", T_STR, OFF(folder_junk), "Junk", 0, 0, NULL },
	{ "account", "archive", T_STR, OFF(folder_archive), "Archive", 0, 0, NULL },
	{ "account", "quota_bytes", T_BYTES, OFF(default_quota_bytes), "0", 0, UINT64_MAX, NULL },
	{ "account", "quota_messages", T_U64, OFF(default_quota_messages), "0", 0, UINT64_MAX, NULL },

	{ "imap", "idle_keepalive", T_UINT, OFF(imap_idle_keepalive), "120", 10, 3600, NULL },
	{ "imap", "max_line", T_SIZE, OFF(imap_max_line), "65536", 1024, 16 * MiB, NULL },
	{ "imap", "append_limit", T_BYTES, OFF(imap_append_limit), "64M", 1024, 4096 * MiB, NULL },
	{ "imap", "max_literal_preauth", T_SIZE, OFF(imap_max_literal_preauth), "8192", 0, MiB, NULL },

	{ "pop3", "dele", T_ENUM, OFF(pop3_dele), "expunge", 0, 0, dele_values },
	{ "pop3", "offer_days", T_UINT, OFF(pop3_offer_days), "0", 0, 36500, NULL },

	{ "lmtp", "max_message_size", T_BYTES, OFF(lmtp_max_message_size), "64M", 1024, 4096 * MiB, NULL },
	{ "lmtp", "max_recipients", T_UINT, OFF(lmtp_max_recipients), "100", 1, 100000, NULL },

	{ "store", "list_snapshot_min", T_UINT, OFF(store_list_snapshot_min), "10000", 0,
	  100000000, NULL },

	{ "web", "title", T_STR, OFF(web_title), "Roost Mail", 0, 0, NULL },
	{ "web", "submission_host", T_STR, OFF(web_submission_host), "", 0, 0, NULL },
	{ "web", "submission_port", T_UINT, OFF(web_submission_port), "587", 0, 65535, NULL },
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const listener_proto_names[] = {
	[LISTENER_IMAP] = "imap", [LISTENER_IMAPS] = "imaps", [LISTENER_POP3] = "pop3",
	[LISTENER_POP3S] = "pop3s", [LISTENER_LMTP] = "lmtp", [LISTENER_HTTP] = "http",
	[LISTENER_HTTPS] = "https",
};

const char *listener_proto_name(enum listener_proto proto)
{
	return listener_proto_names[proto];
}

bool listener_proto_is_tls(enum listener_proto proto)
{
	return proto == LISTENER_IMAPS || proto == LISTENER_POP3S || proto == LISTENER_HTTPS;
}

/* Sizes accept K, M, G suffixes (powers of 1024). */
static int parse_number(const char *v, bool allow_suffix, uint64_t *r)
{
	char *end;
	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno)
		return -1;
	uint64_t mul = 1;
	if (allow_suffix && *end) {
		switch (*end) {
		case 'k': case 'K': mul = 1024; break;
		case 'm': case 'M': mul = MiB; break;
		case 'g': case 'G': mul = 1024 * MiB; break;
		default: return -1;
		}
		end++;
	}
	if (*end)
		return -1;
	if (n && mul > UINT64_MAX / n)
		return -1;
	*r = n * mul;
	return 1;
}

static int set_key(struct config *c, const struct config_key *k, const char *value, char *err,
		   size_t errcap)
{
	char *base = (char *)c;
	uint64_t n = 0;

	switch (k->type) {
	case T_STR: {
		if (k->values) {
			const struct enum_value *e = k->values;
			while (e->name && strcmp(e->name, value) != 0)
				e++;
			if (e->name == NULL)
				goto bad_enum;
		}
		char *dup = strdup(value);
		if (dup == NULL) {
			snprintf(err, errcap, "%s: out of memory", k->key);
			return -1;
		}
		char **field = (char **)(base + k->offset);
		free(*field);
		*field = dup;
		return 1;
	}
	case T_BOOL:
		if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "on"))
			*(bool *)(base + k->offset) = true;
		else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "off"))
			*(bool *)(base + k->offset) = false;
		else {
			snprintf(err, errcap, "%s: expected yes or no, got '%s'", k->key, value);
			return -1;
		}
		return 1;
	case T_ENUM: {
		const struct enum_value *e = k->values;
		while (e->name && strcmp(e->name, value) != 0)
			e++;
		if (e->name == NULL)
			goto bad_enum;
		*(int *)(base + k->offset) = e->value;
		return 1;
	}
	case T_UINT: case T_SIZE: case T_U64: case T_BYTES:
		if (parse_number(value, k->type == T_BYTES || k->type == T_SIZE, &n) < 0) {
			snprintf(err, errcap, "%s: expected a number%s, got '%s'", k->key,
				 k->type == T_BYTES || k->type == T_SIZE ? " (with optional K, M or G)" : "",
				 value);
			return -1;
		}
		if (n < k->min || n > k->max) {
			snprintf(err, errcap, "%s: %llu is out of range (%llu to %llu)", k->key,
				 (unsigned long long)n, (unsigned long long)k->min,
				 (unsigned long long)k->max);
			return -1;
		}
		if (k->type == T_UINT)
			*(unsigned *)(base + k->offset) = (unsigned)n;
		else if (k->type == T_SIZE)
			*(size_t *)(base + k->offset) = (size_t)n;
		else
			*(uint64_t *)(base + k->offset) = n;
		return 1;
	}
	return -1;

bad_enum: {
	char list[256] = "";
	size_t o = 0;
	for (const struct enum_value *e = k->values; e->name; e++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "", e->name);
	snprintf(err, errcap, "%s: '%s' is not one of: %s", k->key, value, list);
	return -1;
}
}

struct config *config_new_defaults(void)
{
	struct config *c = calloc(1, sizeof(*c));
	char err[256];
	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < N_KEYS; i++) {
		if (set_key(c, &keys[i], keys[i].def, err, sizeof(err)) < 0) {
			config_free(&c);
			return NULL;
		}
	}
	return c;
}

struct load_ctx {
	struct config *config;
	struct listener_config *cur_listener; /* inside a [listener] section */
	bool listener_has_proto;
};

static int finish_listener(struct load_ctx *ctx, char *err, size_t errcap)
{
	struct listener_config *l = ctx->cur_listener;
	if (l == NULL)
		return 1;
	if (!ctx->listener_has_proto) {
		snprintf(err, errcap, "listener declared at line %u has no protocol", l->line);
		return -1;
	}
	if (l->path == NULL && l->port == 0) {
		snprintf(err, errcap, "listener declared at line %u has neither port nor path", l->line);
		return -1;
	}
	if (l->path && l->proto != LISTENER_LMTP) {
		snprintf(err, errcap, "listener declared at line %u: UNIX sockets (path) are for lmtp only",
			 l->line);
		return -1;
	}
	if (l->address == NULL && (l->address = strdup("127.0.0.1")) == NULL)
		return -1;
	ctx->cur_listener = NULL;
	return 1;
}

static int listener_key(struct load_ctx *ctx, const char *key, const char *value, char *err,
			size_t errcap)
{
	struct listener_config *l = ctx->cur_listener;
	if (!strcmp(key, "protocol")) {
		for (size_t i = 0; i < sizeof(listener_proto_names) / sizeof(*listener_proto_names); i++) {
			if (!strcmp(value, listener_proto_names[i])) {
				l->proto = (enum listener_proto)i;
				ctx->listener_has_proto = true;
				return 1;
			}
		}
		snprintf(err, errcap, "protocol: '%s' is not one of: imap, imaps, pop3, pop3s, lmtp, http, https",
			 value);
		return -1;
	}
	if (!strcmp(key, "address")) {
		free(l->address);
		return (l->address = strdup(value)) ? 1 : -1;
	}
	if (!strcmp(key, "path")) {
		if (value[0] != '/') {
			snprintf(err, errcap, "path: must be an absolute path, got '%s'", value);
			return -1;
		}
		free(l->path);
		return (l->path = strdup(value)) ? 1 : -1;
	}
	if (!strcmp(key, "port")) {
		uint64_t n;
		if (parse_number(value, false, &n) < 0 || n < 1 || n > 65535) {
			snprintf(err, errcap, "port: expected 1 to 65535, got '%s'", value);
			return -1;
		}
		l->port = (unsigned)n;
		return 1;
	}
	snprintf(err, errcap, "%s: unknown key in [listener] (known: protocol, address, port, path)", key);
	return -1;
}

static int load_cb(void *vctx, const char *section, const char *key, const char *value,
		   unsigned line, char *err, size_t errcap)
{
	struct load_ctx *ctx = vctx;
	struct config *c = ctx->config;

	if (key == NULL) {
		/* A section header ends the previous listener. */
		if (finish_listener(ctx, err, errcap) < 0)
			return -1;
		if (!strcmp(section, "listener")) {
			if (c->n_listeners >= CONFIG_MAX_LISTENERS) {
				snprintf(err, errcap, "too many listeners (at most %d)", CONFIG_MAX_LISTENERS);
				return -1;
			}
			ctx->cur_listener = &c->listeners[c->n_listeners++];
			ctx->cur_listener->line = line;
			ctx->listener_has_proto = false;
			return 1;
		}
		for (size_t i = 0; i < N_KEYS; i++)
			if (!strcmp(keys[i].section, section))
				return 1;
		snprintf(err, errcap, "unknown section [%s]", section);
		return -1;
	}
	if (!strcmp(section, "listener"))
		return listener_key(ctx, key, value, err, errcap);
	for (size_t i = 0; i < N_KEYS; i++) {
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].key, key))
			return set_key(c, &keys[i], value, err, errcap);
	}
	if (section[0])
		snprintf(err, errcap, "%s: unknown key in [%s]", key, section);
	else
		snprintf(err, errcap, "%s: unknown key", key);
	return -1;
}

static int finish_config(struct config *c, const char *name, char *err_r, size_t errcap)
{
	if (c->hostname[0] == '\0') {
		char host[256];
		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		free(c->hostname);
		if ((c->hostname = strdup(host)) == NULL)
			return -1;
	}
	if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0')) {
		snprintf(err_r, errcap, "%s: tls: cert and key must be set together", name);
		return -1;
	}
	for (unsigned i = 0; i < c->n_listeners; i++) {
		if (listener_proto_is_tls(c->listeners[i].proto) && c->tls_cert[0] == '\0') {
			snprintf(err_r, errcap,
				 "%s:%u: listener: protocol %s needs [tls] cert and key",
				 name, c->listeners[i].line, listener_proto_name(c->listeners[i].proto));
			return -1;
		}
	}
	if ((c->path = strdup(name)) == NULL)
		return -1;
	return 1;
}

int config_load_string(const char *name, const char *text, struct config **config_r,
		       char *err_r, size_t errcap)
{
	struct load_ctx ctx = { .config = config_new_defaults() };
	char err[512];
	if (ctx.config == NULL) {
		snprintf(err_r, errcap, "out of memory");
		return -1;
	}
	int ret = ini_parse_string(name, text, strlen(text), load_cb, &ctx, err_r, errcap);
	if (ret > 0 && finish_listener(&ctx, err, sizeof(err)) < 0) {
		snprintf(err_r, errcap, "%s: %s", name, err);
		ret = -1;
	}
	if (ret > 0)
		ret = finish_config(ctx.config, name, err_r, errcap);
	if (ret < 0) {
		config_free(&ctx.config);
		return -1;
	}
	*config_r = ctx.config;
	return 1;
}

int config_load(const char *path, struct config **config_r, char *err_r, size_t errcap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err_r, errcap, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	size_t cap = 1024 * 1024;
	char *text = malloc(cap + 1);
	size_t len = text ? fread(text, 1, cap + 1, f) : 0;
	fclose(f);
	if (text == NULL || len > cap) {
		free(text);
		snprintf(err_r, errcap, "%s: too large or out of memory", path);
		return -1;
	}
	text[len] = '\0';
	if (strlen(text) != len) {
		free(text);
		snprintf(err_r, errcap, "%s: contains a NUL byte", path);
		return -1;
	}
	int ret = config_load_string(path, text, config_r, err_r, errcap);
	free(text);
	return ret;
}

void config_free(struct config **config)
{
	struct config *c = *config;
	if (c == NULL)
		return;
	for (size_t i = 0; i < N_KEYS; i++)
		if (keys[i].type == T_STR)
			free(*(char **)((char *)c + keys[i].offset));
	for (unsigned i = 0; i < c->n_listeners; i++) {
		free(c->listeners[i].address);
		free(c->listeners[i].path);
	}
	free(c->path);
	free(c);
	*config = NULL;
}

const char *const *config_key_names(void)
{
	static char names[N_KEYS + 1][64];
	static const char *ptrs[N_KEYS + 1];
	if (ptrs[0] == NULL) {
		for (size_t i = 0; i < N_KEYS; i++) {
			if (keys[i].section[0])
				snprintf(names[i], sizeof(names[i]), "%s.%s", keys[i].section, keys[i].key);
			else
				snprintf(names[i], sizeof(names[i]), "%s", keys[i].key);
			ptrs[i] = names[i];
		}
	}
	return ptrs;
}
