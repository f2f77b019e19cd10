/* tls.h - the server's TLS context: certificate, key, versions, ciphers.
 *
 * One SSL_CTX is current at a time. tls_configure() builds a new one from
 * a config and, only if that fully succeeds, makes it current: connections
 * accepted later use it, connections already running keep the context
 * their SSL object was made from (OpenSSL reference-counts it). So a
 * SIGHUP with a renewed certificate never breaks live sessions, and a
 * broken new certificate leaves the old one in service.
 *
 * Thread-safe: tls_configure() runs on the main thread while workers call
 * tls_ssl_new(). Return convention: -1 error, 1 done. */
#ifndef ROOST_NET_TLS_H
#define ROOST_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct config;

/* Builds a context from config->tls_* and makes it current. When no
 * certificate is configured the current context is dropped (STARTTLS is
 * then not offered). On error err names the file and OpenSSL's reason,
 * and the previous context stays current. */
int tls_configure(const struct config *config, char *err, size_t errcap);
/* Only checks that the config's certificate and key load (roostd -t). */
int tls_check(const struct config *config, char *err, size_t errcap);

bool tls_is_available(void);
/* A new server SSL object from the current context, or NULL (none
 * configured, or out of memory). */
SSL *tls_ssl_new(void);
/* "TLSv1.3 TLS_AES_128_GCM_SHA256" style description for logs. */
void tls_describe(SSL *ssl, char *dst, size_t cap);
/* The queued OpenSSL error as text ("unknown" if none); clears the queue. */
void tls_last_error(char *dst, size_t cap);
/* Drops the current context (at exit). */
void tls_deinit(void);

#endif
