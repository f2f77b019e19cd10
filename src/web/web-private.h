/* web-private.h - what the web module's files share: responses and the
 * jobs that run on the thread pool. Not for other layers (web.h is). */
#ifndef ROOST_WEB_PRIVATE_H
#define ROOST_WEB_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "web/web-page.h"
#include "web/web-sessions.h"

struct web_session;

#define WEB_BODY_LIMIT   (512 * 1024) /* a rendered page or document */
#define WEB_HEADERS_MAX  1024
#define WEB_PASSWORD_MIN 8 /* bytes of a new account password */
#define COOKIE_SESSION   "roost_session"

struct web_response {
	unsigned status;
	const char *content_type;
	struct buf body;
	char headers[WEB_HEADERS_MAX]; /* extra header lines, each ending CRLF */
	size_t headers_len;
	unsigned delay_ms; /* abuse-protection delay before sending */
};

/* What a job does (web-jobs.c); each reads or changes an account through
 * the auth layer, which blocks. */
enum job_kind {
	JOB_PAGE,
	JOB_LOGIN,
	JOB_SET,
	JOB_APP_ADD,
	JOB_APP_REVOKE,
	JOB_AUTOCONFIG,
	JOB_AUTODISCOVER,
	JOB_MOBILECONFIG,
	JOB_PASSWORD,
};

#define SET_PAIRS_MAX 6 /* key=value pairs of one POST /settings */

/* One request's work on the thread pool: filled on the worker thread,
 * run by web_job_work on a pool thread, answered by the connection when
 * it is done. Owned by the connection code (web-conn.c). */
struct web_job {
	struct web_session *s;
	enum job_kind kind;
	struct web_page_ctx pc;
	char title[128];
	bool tls, loopback;
	char remote_ip[AUTH_IP_MAX];
	const struct config *config;

	/* Signed-in requests. */
	int64_t account_id;
	int64_t session_created; /* when the session signed in */
	char csrf[WEB_SESSION_ID_LEN + 1];
	const char *notice;

	/* Inputs. */
	char address[AUTH_ADDRESS_MAX];
	char password[AUTH_PASSWORD_MAX + 1];
	char set_values[SET_PAIRS_MAX][48];
	unsigned n_pairs;
	char label[AUTH_LABEL_MAX + 1];
	char new_password[AUTH_PASSWORD_MAX + 1], repeat[AUTH_PASSWORD_MAX + 1];
	int64_t app_id;
	char xml_address[AUTH_ADDRESS_MAX];
	bool xml_bad;

	/* Outputs. */
	bool session_gone; /* account gone, disabled or re-passworded: end its sessions */
	struct web_response resp;
};

/* A response starts as 200 text/html with an empty body (bounded by
 * WEB_BODY_LIMIT). */
void web_resp_init(struct web_response *r);
/* Adds one header line (fmt includes its CRLF); one that does not fit is
 * dropped whole. */
void web_resp_header(struct web_response *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* 303 See Other to location. */
void web_resp_redirect(struct web_response *r, const char *location);

/* Runs job->kind, filling job->resp. On a pool thread. BLOCKING. */
void web_job_work(void *arg);

#endif
