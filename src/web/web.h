/* web.h - the account settings page and mail client auto-configuration,
 * served over HTTP/1.1 (listener protocols `http` and `https`).
 *
 * What it serves (docs/web.md has the details):
 *   GET  /                      sign-in form, or the settings page
 *   POST /login, /logout        sign in with the account password / out
 *   POST /settings              IMAP/POP3 switches, POP3 policies,
 *                               "require app password"
 *   POST /app-passwords         create an app password (shown once)
 *   POST /app-passwords/revoke  delete one
 *   GET  /mail/config-v1.1.xml, /.well-known/autoconfig/mail/config-v1.1.xml
 *                               Thunderbird autoconfig
 *   POST /autodiscover/autodiscover.xml   Outlook autodiscover (POX)
 *   GET  /apple/mobileconfig    Apple configuration profile (unsigned)
 *
 * Every account read or change goes through the auth layer on the thread
 * pool (conn_run_async); sessions are kept in memory (web-sessions.h). */
#ifndef ROOST_WEB_H
#define ROOST_WEB_H

#include "net/conn.h"

extern const struct proto_ops web_proto_ops;

/* What a connection refused by a connection limit is told on a plain
 * `http` listener. */
#define WEB_BUSY_RESPONSE                                                                          \
	"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"          \
	"Content-Length: 37\r\nRetry-After: 10\r\nConnection: close\r\n\r\n"                       \
	"Too many connections, try again later"

#endif
