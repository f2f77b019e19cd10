#include "net/tls.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "lib/config.h"

static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *current_ctx;

void tls_last_error(char *dst, size_t cap)
{
	unsigned long e = ERR_get_error();
	if (e == 0) {
		snprintf(dst, cap, "unknown error");
		return;
	}
	ERR_error_string_n(e, dst, cap);
	ERR_clear_error();
}

static SSL_CTX *ctx_build(const struct config *config, char *err, size_t errcap)
{
	char why[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		tls_last_error(why, sizeof(why));
		snprintf(err, errcap, "tls: cannot create context: %s", why);
		return NULL;
	}
	int min = strcmp(config->tls_min_version, "1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
	SSL_CTX_set_min_proto_version(ctx, min);
	/* No renegotiation (a DoS lever), no compression (CRIME), the
	 * server's cipher order; release idle read/write buffers so an idle
	 * TLS connection costs a few KiB instead of ~34 KiB. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"roost", 5);

	if (SSL_CTX_set_cipher_list(ctx, config->tls_ciphers) != 1) {
		tls_last_error(why, sizeof(why));
		snprintf(err, errcap, "tls: ciphers: no usable cipher in '%s': %s",
			 config->tls_ciphers, why);
		goto fail;
	}
	if (SSL_CTX_set_ciphersuites(ctx, config->tls_ciphersuites) != 1) {
		tls_last_error(why, sizeof(why));
		snprintf(err, errcap, "tls: ciphersuites: no usable suite in '%s': %s",
			 config->tls_ciphersuites, why);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, config->tls_cert) != 1) {
		tls_last_error(why, sizeof(why));
		snprintf(err, errcap, "tls: cert: cannot load %s: %s", config->tls_cert, why);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, config->tls_key, SSL_FILETYPE_PEM) != 1) {
		tls_last_error(why, sizeof(why));
		snprintf(err, errcap, "tls: key: cannot load %s: %s", config->tls_key, why);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_last_error(why, sizeof(why));
		snprintf(err, errcap, "tls: key %s does not match cert %s: %s", config->tls_key,
			 config->tls_cert, why);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_check(const struct config *config, char *err, size_t errcap)
{
	if (config->tls_cert[0] == '\0')
		return 1;
	SSL_CTX *ctx = ctx_build(config, err, errcap);
	if (ctx == NULL)
		return -1;
	SSL_CTX_free(ctx);
	return 1;
}

int tls_configure(const struct config *config, char *err, size_t errcap)
{
	SSL_CTX *ctx = NULL;
	if (config->tls_cert[0] != '\0' && (ctx = ctx_build(config, err, errcap)) == NULL)
		return -1;
	pthread_mutex_lock(&tls_lock);
	SSL_CTX *old = current_ctx;
	current_ctx = ctx;
	pthread_mutex_unlock(&tls_lock);
	/* Live SSL objects hold their own reference to the old context. */
	SSL_CTX_free(old);
	return 1;
}

bool tls_is_available(void)
{
	pthread_mutex_lock(&tls_lock);
	bool ok = current_ctx != NULL;
	pthread_mutex_unlock(&tls_lock);
	return ok;
}

SSL *tls_ssl_new(void)
{
	SSL *ssl = NULL;
	pthread_mutex_lock(&tls_lock);
	if (current_ctx != NULL)
		ssl = SSL_new(current_ctx);
	pthread_mutex_unlock(&tls_lock);
	return ssl;
}

void tls_describe(SSL *ssl, char *dst, size_t cap)
{
	snprintf(dst, cap, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}

void tls_deinit(void)
{
	pthread_mutex_lock(&tls_lock);
	SSL_CTX *old = current_ctx;
	current_ctx = NULL;
	pthread_mutex_unlock(&tls_lock);
	SSL_CTX_free(old);
}
