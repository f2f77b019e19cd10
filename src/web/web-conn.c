/* web-conn.c - the HTTP/1.1 connection (proto_ops) and the request router.
 *
 * One request at a time per connection. Input is read into the parser;
 * a complete request is routed: static answers (the style sheet, the
 * sign-in form, errors) are written at once, everything that reads or
 * changes an account runs as a job on the thread pool (web-jobs.c: the
 * auth and store functions block), with input suspended until its answer
 * is written. Requests are checked completely here (CSRF token, form
 * values) before a job that changes anything is started.
 * Bytes read past the end of a request (a pipelined next request) wait in
 * s->pending, at most one read's worth.
 *
 * Timeouts: the network layer's idle timeout covers a silent client; a
 * request must also be complete within WEB_REQUEST_TIMEOUT seconds of its
 * first byte, so a client trickling a byte at a time is answered 408. */
#include "web.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "lib/config.h"
#include "lib/log.h"
#include "web/http-parser.h"
#include "web/web-page.h"
#include "web/web-private.h"
#include "web/web-sessions.h"
#include "web/web-util.h"

#define WEB_READ_CHUNK      4096
#define WEB_REQUEST_TIMEOUT 30   /* seconds from a request's first byte to its end */
#define WEB_MAX_REQUESTS    1000 /* per connection, then Connection: close */

#define COOKIE_LANG "roost_lang"

struct web_session {
	struct conn *c;
	struct http_parser parser;
	char pending[WEB_READ_CHUNK];
	size_t pending_off, pending_len;
	time_t request_started; /* 0: no byte of the next request yet */
	bool busy;              /* a job or a delayed answer is outstanding */
	bool sent_continue;     /* "100 Continue" went out for this request */
	unsigned requests;
	struct event *delay_timer;
	struct web_response *delayed;
};

static const char security_headers[] =
    "X-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "Content-Security-Policy: default-src 'self'; form-action 'self'; frame-ancestors "
    "'none'; base-uri 'none'\r\n";

/* ------------------------------------------------------------------ */
/* Responses */

void web_resp_init(struct web_response *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, WEB_BODY_LIMIT);
	r->status = 200;
	r->content_type = "text/html; charset=utf-8";
}

void web_resp_header(struct web_response *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n =
	    vsnprintf(r->headers + r->headers_len, sizeof(r->headers) - r->headers_len, fmt, ap);
	va_end(ap);
	/* A header that does not fit is dropped whole, never cut. */
	if (n > 0 && (size_t)n < sizeof(r->headers) - r->headers_len)
		r->headers_len += (size_t)n;
	else
		r->headers[r->headers_len] = '\0';
}

static void finish_request(struct web_session *s, bool keep_alive);
static void process_input(struct web_session *s);

/* Writes the whole answer to the current request, then ends it. */
static void send_response(struct web_session *s, struct web_response *r, bool keep_alive)
{
	const struct http_request *req = http_parser_request(&s->parser);
	bool head = s->parser.state == HTTP_PS_DONE && str_eq(req->method, STR_LIT("HEAD"));
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	/* RFC 9110 5.6.7: IMF-fixdate. */
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (++s->requests >= WEB_MAX_REQUESTS || conn_is_closing(s->c))
		keep_alive = false;
	conn_printf(s->c,
	            "HTTP/1.1 %u %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	            "Cache-Control: no-store\r\n%s%s%s",
	            r->status, http_status_text(r->status), date, r->content_type, r->body.len,
	            security_headers,
	            conn_is_tls(s->c) ? "Strict-Transport-Security: max-age=31536000\r\n" : "",
	            !keep_alive               ? "Connection: close\r\n"
	            : req->version_minor == 0 ? "Connection: keep-alive\r\n"
	                                      : "");
	conn_write(s->c, r->headers, r->headers_len);
	conn_write_cstr(s->c, "\r\n");
	if (!head)
		conn_write(s->c, r->body.data ? r->body.data : "", r->body.len);
	finish_request(s, keep_alive);
}

static void finish_request(struct web_session *s, bool keep_alive)
{
	http_parser_reset(&s->parser);
	s->request_started = 0;
	s->sent_continue = false;
	if (!keep_alive)
		conn_close(s->c, "http: done");
}

static struct web_page_ctx page_ctx(enum web_lang lang)
{
	const struct config *c = roost_config;
	return (struct web_page_ctx){lang, c && c->web_title ? c->web_title : "Roost Mail"};
}

/* A short answer written at once: an error page in the page's language,
 * or plain text when there is no language (parse errors). */
static void respond_simple(struct web_session *s, unsigned status, const char *text,
                           bool keep_alive, const char *extra_header)
{
	struct web_response r;
	web_resp_init(&r);
	r.status = status;
	r.content_type = "text/plain; charset=utf-8";
	if (buf_append_cstr(&r.body, text) < 0 || buf_append_cstr(&r.body, "\n") < 0)
		buf_reset(&r.body);
	if (extra_header)
		web_resp_header(&r, "%s\r\n", extra_header);
	send_response(s, &r, keep_alive);
	buf_free(&r.body);
}

static void respond_page_message(struct web_session *s, enum web_lang lang, unsigned status,
                                 const char *heading, const char *text)
{
	struct web_response r;
	web_resp_init(&r);
	r.status = status;
	struct web_page_ctx pc = page_ctx(lang);
	if (web_page_message(&r.body, &pc, heading, text) < 0) {
		buf_free(&r.body);
		respond_simple(s, 500, "internal error", false, NULL);
		return;
	}
	send_response(s, &r, http_parser_request(&s->parser)->keep_alive);
	buf_free(&r.body);
}

void web_resp_redirect(struct web_response *r, const char *location)
{
	r->status = 303;
	r->content_type = "text/plain; charset=utf-8";
	web_resp_header(r, "Location: %s\r\n", location);
}

/* ------------------------------------------------------------------ */
static void job_free(struct web_job **jobp)
{
	struct web_job *job = *jobp;
	if (job == NULL)
		return;
	explicit_bzero(job->password, sizeof(job->password));
	explicit_bzero(job->new_password, sizeof(job->new_password));
	explicit_bzero(job->repeat, sizeof(job->repeat));
	buf_free(&job->resp.body);
	free(job);
	*jobp = NULL;
}

static void delay_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct web_session *s = arg;
	struct web_response *r = s->delayed;
	s->delayed = NULL;
	s->busy = false;
	if (r != NULL) {
		send_response(s, r, http_parser_request(&s->parser)->keep_alive);
		buf_free(&r->body);
		free(r);
	}
	conn_input_resume(s->c);
	process_input(s);
}

static void job_done(void *arg)
{
	struct web_job *job = arg;
	struct web_session *s = job->s;
	if (job->kind == JOB_LOGIN) {
		char q[AUTH_ADDRESS_MAX + 8];
		if (job->resp.status == 303) {
			log_info("web-login", "%s account=%s", conn_log_prefix(s->c),
			         log_quote(job->address, q, sizeof(q)));
		} else {
			log_info("web-login-failed", "%s status=%u", conn_log_prefix(s->c),
			         job->resp.status);
		}
	}
	if (job->session_gone)
		web_sessions_remove_account(job->account_id);
	if (conn_is_closing(s->c)) {
		job_free(&job);
		return;
	}
	if (job->resp.delay_ms > 0 && job->resp.status != 303) {
		/* The abuse-protection delay (docs/accounts.md): keep the answer
		 * on a timer owned by the session, input still suspended. */
		struct web_response *r = malloc(sizeof(*r));
		if (s->delay_timer == NULL)
			s->delay_timer = evtimer_new(conn_event_base(s->c), delay_timer_cb, s);
		if (r != NULL && s->delay_timer != NULL) {
			*r = job->resp;
			buf_init(&job->resp.body, WEB_BODY_LIMIT); /* moved into r */
			s->delayed = r;
			struct timeval tv = {job->resp.delay_ms / 1000,
			                     (job->resp.delay_ms % 1000) * 1000};
			evtimer_add(s->delay_timer, &tv);
			job_free(&job);
			return;
		}
		free(r);
	}
	send_response(s, &job->resp, http_parser_request(&s->parser)->keep_alive);
	job_free(&job);
	s->busy = false;
	conn_input_resume(s->c);
	process_input(s);
}

static struct web_job *job_new(struct web_session *s, enum job_kind kind, enum web_lang lang)
{
	struct web_job *job = calloc(1, sizeof(*job));
	if (job == NULL)
		return NULL;
	job->s = s;
	job->kind = kind;
	job->config = roost_config;
	str_copy_cstr(str_c(job->config->web_title), job->title, sizeof(job->title));
	job->pc.lang = lang;
	job->pc.title = job->title;
	job->tls = conn_is_tls(s->c);
	job->loopback = conn_is_loopback(s->c);
	str_copy_cstr(str_c(conn_remote_ip(s->c)), job->remote_ip, sizeof(job->remote_ip));
	web_resp_init(&job->resp);
	return job;
}

static void job_start(struct web_session *s, struct web_job *job)
{
	s->busy = true;
	conn_input_suspend(s->c);
	/* Sign-in and password change hash passwords: the cpu pool. */
	bool cpu = job->kind == JOB_LOGIN || job->kind == JOB_PASSWORD;
	if ((cpu ? conn_run_async_cpu : conn_run_async)(s->c, web_job_work, job_done, job) < 0) {
		job_free(&job);
		s->busy = false;
		conn_input_resume(s->c);
		respond_simple(s, 503, "Server busy; try again later", false, "Retry-After: 5");
	}
}

/* ------------------------------------------------------------------ */
/* Routing */

struct route_ctx {
	const struct http_request *req;
	enum web_lang lang;
	bool lang_from_query;
	bool signed_in;
	char session_id[WEB_SESSION_ID_LEN + 1];
	struct web_session_info info;
};

static bool is_method(const struct http_request *req, const char *m)
{
	return str_eq(req->method, str_c(m));
}

static bool path_is(const struct http_request *req, const char *p)
{
	return str_eq(req->path, str_c(p));
}

/* A POST from another site (a form elsewhere aimed at this one) is
 * refused before anything else: Origin, when sent, must name this host
 * (RFC 6454), and Sec-Fetch-Site must not say cross-site. */
static bool post_origin_ok(struct web_session *s)
{
	struct str origin = http_request_field(&s->parser, "Origin");
	struct str host = http_request_field(&s->parser, "Host");
	struct str site = http_request_field(&s->parser, "Sec-Fetch-Site");
	if (site.p && str_eq_cstr_nocase(site, "cross-site"))
		return false;
	/* Fetch: a POST made under Referrer-Policy no-referrer (which every
	 * answer here sets) carries "Origin: null" even from this very page,
	 * so "null" tells nothing; the CSRF token and SameSite=Strict still
	 * guard every signed-in form, and Sec-Fetch-Site catches the rest. */
	if (origin.p == NULL || str_eq(origin, STR_LIT("null")))
		return true;
	long sep = str_find(origin, STR_LIT("://"));
	if (sep < 0 || host.p == NULL)
		return false;
	struct str authority = str_sub(origin, (size_t)sep + 3, origin.len - (size_t)sep - 3);
	return str_eq_nocase(authority, host);
}

static void lang_cookie(struct web_response *r, const struct route_ctx *rc, bool tls)
{
	if (rc->lang_from_query)
		web_resp_header(r,
		                "Set-Cookie: " COOKIE_LANG
		                "=%s; Path=/; Max-Age=31536000; HttpOnly; "
		                "SameSite=Lax%s\r\n",
		                rc->lang == WEB_LANG_ZH ? "zh" : "en", tls ? "; Secure" : "");
}

static void respond_login_page(struct web_session *s, const struct route_ctx *rc, const char *error,
                               unsigned status)
{
	struct web_response r;
	web_resp_init(&r);
	r.status = status;
	struct web_page_ctx pc = page_ctx(rc->lang);
	bool insecure = !auth_plaintext_allowed(conn_is_tls(s->c), conn_is_loopback(s->c));
	lang_cookie(&r, rc, conn_is_tls(s->c));
	if (rc->session_id[0] && !rc->signed_in) /* an expired or unknown cookie */
		web_resp_header(&r, "Set-Cookie: " COOKIE_SESSION "=; Path=/; Max-Age=0; HttpOnly; "
		                    "SameSite=Strict\r\n");
	if (web_page_login(&r.body, &pc, NULL, error, insecure) < 0)
		buf_reset(&r.body);
	send_response(s, &r, rc->req->keep_alive);
	buf_free(&r.body);
}

/* Reads one form field; a malformed or over-long one answers 400 and
 * returns -1. */
static int form_field(struct web_session *s, const struct route_ctx *rc, const char *name,
                      char *out, size_t cap)
{
	int r = web_form_get(rc->req->body, name, out, cap);
	if (r < 0) {
		struct web_page_ctx pc = page_ctx(rc->lang);
		respond_page_message(s, rc->lang, 400, WEB_T(&pc, "Bad request", "请求无效"),
		                     WEB_T(&pc, "A form field is malformed or too long.",
		                           "表单字段格式错误或过长。"));
		return -1;
	}
	if (r == 0)
		out[0] = '\0';
	return r;
}

/* Signed in and the form's CSRF token matches: true. Otherwise answers
 * and returns false. */
static bool check_signed_in_post(struct web_session *s, const struct route_ctx *rc)
{
	if (!rc->signed_in) {
		struct web_response r;
		web_resp_init(&r);
		web_resp_redirect(&r, "/");
		send_response(s, &r, rc->req->keep_alive);
		buf_free(&r.body);
		return false;
	}
	char token[WEB_SESSION_ID_LEN + 2];
	int got = web_form_get(rc->req->body, "csrf", token, sizeof(token));
	if (got != 1 || strlen(token) != WEB_SESSION_ID_LEN ||
	    !str_eq_consttime(str_make(token, WEB_SESSION_ID_LEN),
	                      str_make(rc->info.csrf, WEB_SESSION_ID_LEN))) {
		struct web_page_ctx pc = page_ctx(rc->lang);
		log_warn("web-csrf", "%s", conn_log_prefix(s->c));
		respond_page_message(s, rc->lang, 403, WEB_T(&pc, "Form expired", "表单已失效"),
		                     WEB_T(&pc,
		                           "This form has expired or did not come from this page. "
		                           "Go back, reload the page and try again.",
		                           "表单已过期或并非来自本页面。请返回并刷新页面后重试。"));
		return false;
	}
	return true;
}

static void route_login(struct web_session *s, const struct route_ctx *rc)
{
	struct web_page_ctx pc = page_ctx(rc->lang);
	if (!auth_plaintext_allowed(conn_is_tls(s->c), conn_is_loopback(s->c))) {
		respond_login_page(s, rc, NULL, 403);
		return;
	}
	struct web_job *job = job_new(s, JOB_LOGIN, rc->lang);
	if (job == NULL) {
		respond_simple(s, 503, "out of memory", false, NULL);
		return;
	}
	if (form_field(s, rc, "address", job->address, sizeof(job->address)) < 0 ||
	    form_field(s, rc, "password", job->password, sizeof(job->password)) < 0) {
		job_free(&job);
		return;
	}
	if (job->address[0] == '\0' || job->password[0] == '\0') {
		job_free(&job);
		respond_login_page(
		    s, rc,
		    WEB_T(&pc, "Enter your email address and password.", "请输入邮箱地址和密码。"),
		    400);
		return;
	}
	job_start(s, job);
}

/* POST /settings: validate every field first, then change them all in
 * one auth_account_set. */
static void route_settings(struct web_session *s, const struct route_ctx *rc)
{
	struct web_page_ctx pc = page_ctx(rc->lang);
	char v[32], days[16];
	char pairs[SET_PAIRS_MAX][48];
	unsigned n = 0;
	static const struct {
		const char *name;
		const char *const values[5];
	} simple[] = {
	    {"imap", {"on", "off", NULL}},
	    {"pop3", {"on", "off", NULL}},
	    {"require_app_password", {"yes", "no", NULL}},
	    {"pop3_dele", {"expunge", "keep", "trash", "default", NULL}},
	};
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		int r = form_field(s, rc, simple[i].name, v, sizeof(v));
		if (r < 0)
			return;
		if (r == 0)
			continue;
		size_t k = 0;
		while (simple[i].values[k] && strcmp(simple[i].values[k], v) != 0)
			k++;
		if (simple[i].values[k] == NULL)
			goto bad;
		snprintf(pairs[n++], sizeof(pairs[0]), "%s=%s", simple[i].name, v);
	}
	int r = form_field(s, rc, "pop3_offer", v, sizeof(v));
	if (r < 0)
		return;
	if (r > 0) {
		if (strcmp(v, "default") == 0) {
			snprintf(pairs[n++], sizeof(pairs[0]), "pop3_offer_days=default");
		} else if (strcmp(v, "all") == 0) {
			snprintf(pairs[n++], sizeof(pairs[0]), "pop3_offer_days=0");
		} else if (strcmp(v, "days") == 0) {
			uint32_t d;
			if (form_field(s, rc, "pop3_days", days, sizeof(days)) < 0)
				return;
			if (str_to_u32(str_c(days), &d) < 0 || d < 1 || d > 36500)
				goto bad;
			snprintf(pairs[n++], sizeof(pairs[0]), "pop3_offer_days=%u", d);
		} else {
			goto bad;
		}
	}
	if (n == 0)
		goto bad;
	struct web_job *job = job_new(s, JOB_SET, rc->lang);
	if (job == NULL) {
		respond_simple(s, 503, "out of memory", false, NULL);
		return;
	}
	job->account_id = rc->info.account_id;
	job->session_created = (int64_t)rc->info.created;
	memcpy(job->csrf, rc->info.csrf, sizeof(job->csrf));
	for (unsigned i = 0; i < n; i++)
		memcpy(job->set_values[i], pairs[i], sizeof(job->set_values[i]));
	job->n_pairs = n;
	job_start(s, job);
	return;
bad:
	respond_page_message(s, rc->lang, 400, WEB_T(&pc, "Bad request", "请求无效"),
	                     WEB_T(&pc, "The form held a value this page does not offer.",
	                           "表单中含有本页面不提供的值。"));
}

static void route_app_add(struct web_session *s, const struct route_ctx *rc)
{
	struct web_job *job = job_new(s, JOB_APP_ADD, rc->lang);
	if (job == NULL) {
		respond_simple(s, 503, "out of memory", false, NULL);
		return;
	}
	job->account_id = rc->info.account_id;
	job->session_created = (int64_t)rc->info.created;
	memcpy(job->csrf, rc->info.csrf, sizeof(job->csrf));
	if (form_field(s, rc, "label", job->label, sizeof(job->label)) < 0) {
		job_free(&job);
		return;
	}
	struct str label = str_trim(str_c(job->label));
	memmove(job->label, label.p, label.len);
	job->label[label.len] = '\0';
	if (job->label[0] == '\0') {
		/* An empty name is the auth layer's INVALID; a default is
		 * friendlier than an error for a button pressed in a hurry. */
		snprintf(job->label, sizeof(job->label), "%s",
		         rc->lang == WEB_LANG_ZH ? "邮件客户端" : "Mail program");
	}
	job_start(s, job);
}

static void route_app_revoke(struct web_session *s, const struct route_ctx *rc)
{
	struct web_page_ctx pc = page_ctx(rc->lang);
	char id[24];
	uint64_t n;
	if (form_field(s, rc, "id", id, sizeof(id)) < 0)
		return;
	if (str_to_u64(str_c(id), &n) < 0 || n == 0 || n > INT64_MAX) {
		respond_page_message(s, rc->lang, 400, WEB_T(&pc, "Bad request", "请求无效"),
		                     WEB_T(&pc, "No such app password.", "没有这个授权码。"));
		return;
	}
	struct web_job *job = job_new(s, JOB_APP_REVOKE, rc->lang);
	if (job == NULL) {
		respond_simple(s, 503, "out of memory", false, NULL);
		return;
	}
	job->account_id = rc->info.account_id;
	job->session_created = (int64_t)rc->info.created;
	memcpy(job->csrf, rc->info.csrf, sizeof(job->csrf));
	job->app_id = (int64_t)n;
	job_start(s, job);
}

static void route_password(struct web_session *s, const struct route_ctx *rc)
{
	struct web_job *job = job_new(s, JOB_PASSWORD, rc->lang);
	if (job == NULL) {
		respond_simple(s, 503, "out of memory", false, NULL);
		return;
	}
	job->account_id = rc->info.account_id;
	job->session_created = (int64_t)rc->info.created;
	memcpy(job->csrf, rc->info.csrf, sizeof(job->csrf));
	if (form_field(s, rc, "current", job->password, sizeof(job->password)) < 0 ||
	    form_field(s, rc, "new", job->new_password, sizeof(job->new_password)) < 0 ||
	    form_field(s, rc, "repeat", job->repeat, sizeof(job->repeat)) < 0) {
		job_free(&job);
		return;
	}
	job_start(s, job);
}

static void route_logout(struct web_session *s, const struct route_ctx *rc)
{
	web_sessions_remove(rc->session_id);
	struct web_response r;
	web_resp_init(&r);
	web_resp_redirect(&r, "/");
	web_resp_header(&r,
	                "Set-Cookie: " COOKIE_SESSION "=; Path=/; Max-Age=0; HttpOnly; "
	                "SameSite=Strict%s\r\n",
	                conn_is_tls(s->c) ? "; Secure" : "");
	send_response(s, &r, rc->req->keep_alive);
	buf_free(&r.body);
}

/* GET of an autoconfig document: ?emailaddress=... names the account. */
static void route_address_doc(struct web_session *s, const struct route_ctx *rc, enum job_kind kind)
{
	struct web_job *job = job_new(s, kind, rc->lang);
	if (job == NULL) {
		respond_simple(s, 503, "out of memory", false, NULL);
		return;
	}
	int r = web_form_get(rc->req->query, "emailaddress", job->address, sizeof(job->address));
	if (r <= 0 || strchr(job->address, '@') == NULL) {
		job_free(&job);
		respond_simple(s, 400, "an emailaddress=user@domain parameter is needed",
		               rc->req->keep_alive, NULL);
		return;
	}
	job_start(s, job);
}

static void route_autodiscover(struct web_session *s, const struct route_ctx *rc)
{
	struct web_job *job = job_new(s, JOB_AUTODISCOVER, rc->lang);
	if (job == NULL) {
		respond_simple(s, 503, "out of memory", false, NULL);
		return;
	}
	if (web_xml_element_text(rc->req->body, "EMailAddress", job->xml_address,
	                         sizeof(job->xml_address)) != 1)
		job->xml_bad = true;
	job_start(s, job);
}

static void respond_static(struct web_session *s, const struct route_ctx *rc,
                           const char *content_type, const char *content)
{
	struct web_response r;
	web_resp_init(&r);
	r.content_type = content_type;
	if (buf_append_cstr(&r.body, content) < 0)
		buf_reset(&r.body);
	send_response(s, &r, rc->req->keep_alive);
	buf_free(&r.body);
}

static void method_not_allowed(struct web_session *s, const struct route_ctx *rc, const char *allow)
{
	char h[64];
	snprintf(h, sizeof(h), "Allow: %s", allow);
	respond_simple(s, 405, "method not allowed", rc->req->keep_alive, h);
}

static void route(struct web_session *s)
{
	struct route_ctx rc = {.req = http_parser_request(&s->parser)};
	const struct http_request *req = rc.req;
	time_t now = time(NULL);
	char v[WEB_SESSION_ID_LEN + 2];

	if (!is_method(req, "GET") && !is_method(req, "HEAD") && !is_method(req, "POST")) {
		/* RFC 9110 9.1: an unknown method is 501, a known one not
		 * allowed here 405. */
		static const char *const known[] = {"PUT",   "DELETE", "OPTIONS",
		                                    "PATCH", "TRACE",  "CONNECT"};
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (is_method(req, known[i])) {
				method_not_allowed(s, &rc, "GET, HEAD, POST");
				return;
			}
		respond_simple(s, 501, "method not implemented", req->keep_alive, NULL);
		return;
	}

	/* Language: ?lang= (remembered in a cookie), the cookie, then
	 * Accept-Language. */
	struct str cookies = http_request_field(&s->parser, "Cookie");
	enum web_lang lang;
	if (web_form_get(req->query, "lang", v, sizeof(v)) == 1 &&
	    web_lang_parse(str_c(v), &lang) == 1) {
		rc.lang = lang;
		rc.lang_from_query = true;
	} else if (web_cookie_get(cookies, COOKIE_LANG, v, sizeof(v)) == 1 &&
	           web_lang_parse(str_c(v), &lang) == 1) {
		rc.lang = lang;
	} else {
		rc.lang = web_lang_from_accept(http_request_field(&s->parser, "Accept-Language"));
	}
	if (web_cookie_get(cookies, COOKIE_SESSION, v, sizeof(v)) == 1 &&
	    strlen(v) == WEB_SESSION_ID_LEN) {
		memcpy(rc.session_id, v, sizeof(rc.session_id));
		rc.signed_in = web_sessions_lookup(rc.session_id, now, &rc.info) == 1;
	}

	bool get = is_method(req, "GET") || is_method(req, "HEAD");
	bool post = is_method(req, "POST");
	if (post && !post_origin_ok(s)) {
		log_warn("web-cross-origin", "%s", conn_log_prefix(s->c));
		respond_simple(s, 403, "cross-site form posts are refused", req->keep_alive, NULL);
		return;
	}

	if (path_is(req, "/")) {
		if (!get) {
			method_not_allowed(s, &rc, "GET, HEAD");
			return;
		}
		if (!rc.signed_in) {
			respond_login_page(s, &rc, NULL, 200);
			return;
		}
		struct web_job *job = job_new(s, JOB_PAGE, rc.lang);
		if (job == NULL) {
			respond_simple(s, 503, "out of memory", false, NULL);
			return;
		}
		job->account_id = rc.info.account_id;
		job->session_created = (int64_t)rc.info.created;
		memcpy(job->csrf, rc.info.csrf, sizeof(job->csrf));
		if (web_form_get(req->query, "saved", v, sizeof(v)) == 1)
			job->notice = WEB_T(&job->pc, "Your settings were saved.", "设置已保存。");
		else if (web_form_get(req->query, "password", v, sizeof(v)) == 1)
			job->notice = WEB_T(&job->pc,
			                    "Your password was changed. Other browsers were signed "
			                    "out; app passwords keep working.",
			                    "密码已修改。其他浏览器已退出登录；授权码仍然有效。");
		else if (web_form_get(req->query, "revoked", v, sizeof(v)) == 1)
			job->notice = WEB_T(&job->pc,
			                    "The app password was revoked; programs using "
			                    "it can no longer sign in.",
			                    "授权码已删除，使用它的客户端将无法再登录。");
		lang_cookie(&job->resp, &rc, job->tls);
		{
			job_start(s, job);
			return;
		}
	}
	if (path_is(req, "/favicon.svg")) {
		if (get)
			respond_static(s, &rc, "image/svg+xml", web_favicon_svg);
		else
			method_not_allowed(s, &rc, "GET, HEAD");
		return;
	}
	if (path_is(req, "/style.css")) {
		if (get)
			respond_static(s, &rc, "text/css; charset=utf-8", web_css);
		else
			method_not_allowed(s, &rc, "GET, HEAD");
		return;
	}
	if (path_is(req, "/login")) {
		if (post)
			route_login(s, &rc);
		else
			method_not_allowed(s, &rc, "POST");
		return;
	}
	/* The forms of a signed-in user: POST only, with a valid session and
	 * CSRF token (check_signed_in_post answers otherwise). */
	static const struct {
		const char *path;
		void (*route)(struct web_session *s, const struct route_ctx *rc);
	} account_forms[] = {
		{ "/logout", route_logout },
		{ "/settings", route_settings },
		{ "/app-passwords", route_app_add },
		{ "/password", route_password },
		{ "/app-passwords/revoke", route_app_revoke },
	};
	for (size_t i = 0; i < sizeof(account_forms) / sizeof(account_forms[0]); i++) {
		if (!path_is(req, account_forms[i].path))
			continue;
		if (!post)
			method_not_allowed(s, &rc, "POST");
		else if (check_signed_in_post(s, &rc))
			account_forms[i].route(s, &rc);
		return;
	}
	if (path_is(req, "/mail/config-v1.1.xml") ||
	    path_is(req, "/.well-known/autoconfig/mail/config-v1.1.xml")) {
		if (get)
			route_address_doc(s, &rc, JOB_AUTOCONFIG);
		else
			method_not_allowed(s, &rc, "GET, HEAD");
		return;
	}
	/* Outlook asks for both spellings. */
	if (str_eq_nocase(req->path, STR_LIT("/autodiscover/autodiscover.xml"))) {
		if (post)
			route_autodiscover(s, &rc);
		else
			method_not_allowed(s, &rc, "POST");
		return;
	}
	if (path_is(req, "/apple/mobileconfig")) {
		if (get)
			route_address_doc(s, &rc, JOB_MOBILECONFIG);
		else
			method_not_allowed(s, &rc, "GET, HEAD");
		return;
	}
	struct web_page_ctx pc = page_ctx(rc.lang);
	respond_page_message(s, rc.lang, 404, WEB_T(&pc, "Not found", "页面不存在"),
	                     WEB_T(&pc, "There is no such page here.", "没有这个页面。"));
}

/* ------------------------------------------------------------------ */
/* Input */

/* Feeds buffered bytes to the parser and handles complete requests until
 * a job is pending, the input is used up, or the connection closes. */
static void process_input(struct web_session *s)
{
	char chunk[WEB_READ_CHUNK];
	while (!s->busy && !conn_is_closing(s->c)) {
		const char *data;
		size_t len;
		bool from_pending = s->pending_len > 0;
		if (from_pending) {
			data = s->pending + s->pending_off;
			len = s->pending_len;
		} else {
			len = conn_read(s->c, chunk, sizeof(chunk));
			if (len == 0)
				return;
			data = chunk;
		}
		time_t now = time(NULL);
		if (s->request_started == 0)
			s->request_started = now;
		size_t used = 0;
		int r = http_parser_feed(&s->parser, data, len, &used);
		if (r == 1 && used < len) {
			/* The start of the next request: keep it (at most one
			 * chunk, since nothing more is read meanwhile). */
			if (from_pending) {
				s->pending_off += used;
				s->pending_len -= used;
			} else {
				memcpy(s->pending, data + used, len - used);
				s->pending_off = 0;
				s->pending_len = len - used;
			}
		} else if (from_pending) {
			s->pending_off = s->pending_len = 0;
		}
		if (r < 0) {
			log_info("http-bad-request", "%s status=%u reason=\"%s\"",
			         conn_log_prefix(s->c), s->parser.error_status,
			         s->parser.error_reason);
			respond_simple(s, s->parser.error_status, s->parser.error_reason, false,
			               NULL);
			return;
		}
		if (r == 0) {
			if (s->parser.state == HTTP_PS_BODY && s->parser.req.expect_continue &&
			    !s->sent_continue) {
				/* RFC 9110 15.2.1: the interim answer, then the body. */
				conn_write_cstr(s->c, "HTTP/1.1 100 Continue\r\n\r\n");
				s->sent_continue = true;
			}
			if (now - s->request_started > WEB_REQUEST_TIMEOUT) {
				respond_simple(s, 408, "the request took too long", false, NULL);
				return;
			}
			continue;
		}
		route(s);
		if (!s->busy && s->pending_len == 0 && conn_input_len(s->c) == 0)
			return;
	}
}

static void web_input(void *session)
{
	process_input(session);
}

static void *web_open(struct conn *c)
{
	struct web_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->c = c;
	http_parser_init(&s->parser);
	return s;
}

static void web_timeout(void *session)
{
	struct web_session *s = session;
	/* Mid-request: say so (RFC 9110 15.5.9); between requests a
	 * keep-alive connection just closes. */
	if (!s->busy && s->request_started != 0)
		respond_simple(s, 408, "the request took too long", false, NULL);
}

static void web_close(void *session, const char *reason)
{
	struct web_session *s = session;
	if (s->delay_timer)
		event_free(s->delay_timer);
	if (s->delayed) {
		buf_free(&s->delayed->body);
		free(s->delayed);
	}
	http_parser_free(&s->parser);
	free(s);
}

const struct proto_ops web_proto_ops = {
    .name = "http",
    .open = web_open,
    .input = web_input,
    .output_drained = NULL,
    .shutdown = NULL,
    .timeout = web_timeout,
    .close = web_close,
};
