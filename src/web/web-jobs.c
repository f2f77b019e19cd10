/* web-jobs.c - the work behind the settings page and the client
 * documents, run on the thread pool (conn_run_async): every auth and store
 * call here blocks. A job reads its inputs from struct web_job and writes
 * its whole answer into job->resp; the connection sends it (after the
 * abuse-protection delay when job->resp.delay_ms says so). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "lib/log.h"
#include "store/store.h"
#include "web/web-autoconfig.h"
#include "web/web-page.h"
#include "web/web-private.h"
#include "web/web-sessions.h"

struct app_list_ctx {
	struct auth_app_password *apps;
	unsigned n;
};

static bool app_list_cb(void *vctx, const struct auth_app_password *p)
{
	struct app_list_ctx *ctx = vctx;
	if (ctx->n >= WEB_APPS_MAX)
		return false;
	ctx->apps[ctx->n++] = *p;
	return true;
}

/* Renders the settings page for the job's account into job->resp (the
 * new code and the error are optional). Returns false when the account
 * is gone. BLOCKING. */
static bool render_settings(struct web_job *job, const struct auth_account *a, const char *code,
                            const char *label, const char *error)
{
	static __thread struct auth_app_password apps[WEB_APPS_MAX];
	struct app_list_ctx actx = {apps, 0};
	char err[256];
	enum auth_err ec;
	auth_app_password_list(a->address, app_list_cb, &actx, &ec, err, sizeof(err));

	struct web_settings_view v = {0};
	struct store_user *u = NULL;
	struct store_quota q;
	if (store_user_open(a->user_key, &u) == 1) {
		if (store_quota_get(u, &q) == 1) {
			v.have_usage = true;
			v.bytes_used = q.bytes_used;
			v.messages_used = q.messages_used;
		}
		store_user_unref(&u);
	}
	struct web_servers servers;
	web_servers_from_config(job->config, &servers);
	v.account = a;
	v.apps = apps;
	v.n_apps = actx.n;
	v.csrf = job->csrf;
	v.new_code = code;
	v.new_label = label;
	v.notice = job->notice;
	v.error = error;
	v.servers = &servers;
	v.default_dele = job->config->pop3_dele;
	v.default_offer_days = job->config->pop3_offer_days;
	if (web_page_settings(&job->resp.body, &job->pc, &v) < 0) {
		buf_reset(&job->resp.body);
		job->resp.status = 500;
	}
	return true;
}

/* The signed-in account, or false (session_gone or a temporary error
 * page) when it cannot be read. BLOCKING. */
static bool load_account(struct web_job *job, struct auth_account *a)
{
	char err[256];
	int r = auth_account_get_by_id(job->account_id, a, err, sizeof(err));
	/* A password changed since sign-in (with `roost user passwd`, say)
	 * ends the session, as it would on any provider. */
	if (r == 1 && a->state == AUTH_STATE_ACTIVE && a->password_changed <= job->session_created)
		return true;
	if (r < 0) {
		job->resp.status = 503;
		web_page_message(&job->resp.body, &job->pc,
		                 WEB_T(&job->pc, "Temporary problem", "临时故障"),
		                 WEB_T(&job->pc,
		                       "The account database cannot be read right now; "
		                       "try again in a minute.",
		                       "暂时无法读取账户数据库，请稍后再试。"));
		return false;
	}
	/* Deleted, disabled or given a new password since sign-in: sign out. */
	job->session_gone = true;
	web_resp_redirect(&job->resp, "/");
	return false;
}

static void work_page(struct web_job *job)
{
	struct auth_account a;
	if (load_account(job, &a))
		render_settings(job, &a, NULL, NULL, NULL);
}

static void work_login(struct web_job *job)
{
	struct auth_client client = {
	    .protocol = AUTH_PROTO_WEB,
	    .remote_ip = job->remote_ip,
	    .secured = job->tls,
	    .loopback = job->loopback,
	};
	struct auth_result r;
	auth_verify_password(job->address, job->password, &client, &r);
	explicit_bzero(job->password, sizeof(job->password));
	if (r.status == AUTH_OK) {
		char id[WEB_SESSION_ID_LEN + 1];
		if (web_sessions_create(r.account_id, time(NULL), id, job->csrf) < 0) {
			job->resp.status = 503;
			web_page_login(&job->resp.body, &job->pc, job->address,
			               WEB_T(&job->pc, "Temporary server problem; try again.",
			                     "服务器临时故障，请重试。"),
			               false);
			return;
		}
		web_resp_redirect(&job->resp, "/");
		web_resp_header(&job->resp,
		                "Set-Cookie: " COOKIE_SESSION "=%s; Path=/; HttpOnly; "
		                "SameSite=Strict%s\r\n",
		                id, job->tls ? "; Secure" : "");
		job->account_id = r.account_id;
		str_copy_cstr(str_c(r.address), job->address, sizeof(job->address));
		explicit_bzero(id, sizeof(id));
		return;
	}
	const char *msg;
	char text[256];
	switch (r.status) {
	case AUTH_LOCKED_OUT:
		job->resp.status = 429;
		snprintf(text, sizeof(text),
		         WEB_T(&job->pc, "Too many failed sign-ins; try again in %u seconds.",
		               "登录失败次数过多，请在 %u 秒后再试。"),
		         r.lockout_seconds ? r.lockout_seconds : 1);
		msg = text;
		break;
	case AUTH_TEMPFAIL:
		job->resp.status = 503;
		msg = WEB_T(&job->pc, "Temporary server problem; try again later.",
		            "服务器临时故障，请稍后再试。");
		break;
	case AUTH_ACCOUNT_DISABLED:
		job->resp.status = 403;
		msg = WEB_T(&job->pc, "This account is disabled.", "此账户已被停用。");
		break;
	default:
		job->resp.status = 403;
		msg = WEB_T(&job->pc, "Wrong email address or password.", "邮箱地址或密码错误。");
		break;
	}
	job->resp.delay_ms = r.delay_ms;
	web_page_login(&job->resp.body, &job->pc, job->address, msg, false);
}

static void work_set(struct web_job *job)
{
	struct auth_account a;
	if (!load_account(job, &a))
		return;
	const char *pairs[SET_PAIRS_MAX];
	for (unsigned i = 0; i < job->n_pairs; i++)
		pairs[i] = job->set_values[i];
	char err[256];
	enum auth_err ec;
	if (auth_account_set(a.address, pairs, job->n_pairs, &ec, err, sizeof(err)) < 0) {
		job->resp.status = ec == AUTH_ERR_TEMP ? 503 : 400;
		render_settings(job, &a, NULL, NULL, err);
		return;
	}
	web_resp_redirect(&job->resp, "/?saved=1");
}

static void work_app_add(struct web_job *job)
{
	struct auth_account a;
	if (!load_account(job, &a))
		return;
	char code[AUTH_APP_CODE_LEN + 1], shown[AUTH_APP_CODE_LEN + 8], err[256];
	struct auth_app_password info;
	enum auth_err ec;
	if (auth_app_password_add(a.address, job->label, code, &info, &ec, err, sizeof(err)) < 0) {
		job->resp.status = ec == AUTH_ERR_TEMP ? 503 : 400;
		render_settings(job, &a, NULL, NULL, err);
		return;
	}
	auth_app_code_format(code, shown, sizeof(shown));
	render_settings(job, &a, shown, info.label, NULL);
	explicit_bzero(code, sizeof(code));
	explicit_bzero(shown, sizeof(shown));
}

static void work_app_revoke(struct web_job *job)
{
	struct auth_account a;
	if (!load_account(job, &a))
		return;
	char err[256];
	enum auth_err ec;
	if (auth_app_password_revoke(a.address, job->app_id, &ec, err, sizeof(err)) < 0) {
		job->resp.status = ec == AUTH_ERR_TEMP ? 503 : 404;
		render_settings(job, &a, NULL, NULL, err);
		return;
	}
	web_resp_redirect(&job->resp, "/?revoked=1");
}

/* The address's domain is served here: 1, 0 if not (or invalid), -1 on
 * error. BLOCKING. */
static int hosted_domain(const char *address, char *norm, size_t cap)
{
	char err[128];
	if (auth_address_normalize(address, norm, cap, err, sizeof(err)) < 0)
		return 0;
	return auth_domain_exists(strrchr(norm, '@') + 1);
}

static void work_autoconfig(struct web_job *job)
{
	char norm[AUTH_ADDRESS_MAX];
	int r = hosted_domain(job->address, norm, sizeof(norm));
	job->resp.content_type = "text/plain; charset=utf-8";
	if (r <= 0) {
		job->resp.status = r < 0 ? 503 : 404;
		buf_append_cstr(&job->resp.body,
		                r < 0 ? "temporary failure\n" : "no such mail domain here\n");
		return;
	}
	struct web_servers servers;
	web_servers_from_config(job->config, &servers);
	job->resp.content_type = "application/xml; charset=utf-8";
	if (web_autoconfig_xml(&job->resp.body, &servers, strrchr(norm, '@') + 1, job->title) < 0)
		job->resp.status = 500;
}

static void work_autodiscover(struct web_job *job)
{
	job->resp.content_type = "application/xml; charset=utf-8";
	char norm[AUTH_ADDRESS_MAX];
	int r = job->xml_bad ? 0 : hosted_domain(job->xml_address, norm, sizeof(norm));
	if (r < 0) {
		job->resp.status = 503;
		web_autodiscover_error_xml(&job->resp.body, "603", "Server Busy");
		return;
	}
	if (r == 0) {
		/* Invalid request or a domain that is not served here. */
		web_autodiscover_error_xml(&job->resp.body, "600", "Invalid Request");
		return;
	}
	struct web_servers servers;
	web_servers_from_config(job->config, &servers);
	if (web_autodiscover_xml(&job->resp.body, &servers, norm) < 0)
		job->resp.status = 500;
}

static void work_mobileconfig(struct web_job *job)
{
	char norm[AUTH_ADDRESS_MAX], uuid1[40], uuid2[40];
	int r = hosted_domain(job->address, norm, sizeof(norm));
	job->resp.content_type = "text/plain; charset=utf-8";
	if (r <= 0) {
		job->resp.status = r < 0 ? 503 : 404;
		buf_append_cstr(&job->resp.body,
		                r < 0 ? "temporary failure\n" : "no such mail domain here\n");
		return;
	}
	if (web_uuid(uuid1) < 0 || web_uuid(uuid2) < 0) {
		job->resp.status = 503;
		return;
	}
	struct web_servers servers;
	web_servers_from_config(job->config, &servers);
	job->resp.content_type = "application/x-apple-aspen-config";
	web_resp_header(&job->resp,
	                "Content-Disposition: attachment; filename=\"email.mobileconfig\"\r\n");
	if (web_mobileconfig(&job->resp.body, &servers, norm, job->title, uuid1, uuid2) < 0)
		job->resp.status = 500;
}

/* The account password, changed from the page: the current one must be
 * right (checked like a sign-in, with its delays and lock-outs), then every
 * other session of the account ends and this browser gets a new one.
 * BLOCKING. */
static void work_password(struct web_job *job)
{
	struct auth_account a;
	if (!load_account(job, &a))
		return;
	const char *error = NULL;
	if (strcmp(job->new_password, job->repeat) != 0) {
		error =
		    WEB_T(&job->pc, "The two new passwords differ.", "两次输入的新密码不一致。");
	} else if (strlen(job->new_password) < WEB_PASSWORD_MIN) {
		error = WEB_T(&job->pc, "The new password is too short (at least 8 characters).",
		              "新密码太短（至少8个字符）。");
	}
	if (error) {
		job->resp.status = 400;
		render_settings(job, &a, NULL, NULL, error);
		return;
	}
	struct auth_client client = {
	    .protocol = AUTH_PROTO_WEB,
	    .remote_ip = job->remote_ip,
	    .secured = job->tls,
	    .loopback = job->loopback,
	};
	struct auth_result r;
	auth_verify_password(a.address, job->password, &client, &r);
	explicit_bzero(job->password, sizeof(job->password));
	if (r.status != AUTH_OK || r.account_id != a.id) {
		job->resp.status = r.status == AUTH_LOCKED_OUT ? 429
		                   : r.status == AUTH_TEMPFAIL ? 503
		                                               : 403;
		job->resp.delay_ms = r.delay_ms;
		render_settings(
		    job, &a, NULL, NULL,
		    r.status == AUTH_LOCKED_OUT
		        ? WEB_T(&job->pc, "Too many failed attempts; try again later.",
		                "失败次数过多，请稍后再试。")
		        : WEB_T(&job->pc, "The current password is wrong.", "当前密码错误。"));
		return;
	}
	char err[256];
	enum auth_err ec;
	if (auth_account_set_password(a.address, job->new_password, &ec, err, sizeof(err)) < 0) {
		job->resp.status = ec == AUTH_ERR_TEMP ? 503 : 400;
		render_settings(job, &a, NULL, NULL, err);
		return;
	}
	log_info("web-password-changed", "account=%lld", (long long)a.id);
	web_sessions_remove_account(a.id);
	char id[WEB_SESSION_ID_LEN + 1];
	if (web_sessions_create(a.id, time(NULL), id, job->csrf) < 0) {
		web_resp_redirect(&job->resp, "/");
		return;
	}
	web_resp_redirect(&job->resp, "/?password=1");
	web_resp_header(&job->resp,
	                "Set-Cookie: " COOKIE_SESSION
	                "=%s; Path=/; HttpOnly; SameSite=Strict%s\r\n",
	                id, job->tls ? "; Secure" : "");
	explicit_bzero(id, sizeof(id));
}

void web_job_work(void *arg)
{
	struct web_job *job = arg;
	switch (job->kind) {
	case JOB_PAGE:
		work_page(job);
		break;
	case JOB_LOGIN:
		work_login(job);
		break;
	case JOB_SET:
		work_set(job);
		break;
	case JOB_APP_ADD:
		work_app_add(job);
		break;
	case JOB_APP_REVOKE:
		work_app_revoke(job);
		break;
	case JOB_AUTOCONFIG:
		work_autoconfig(job);
		break;
	case JOB_AUTODISCOVER:
		work_autodiscover(job);
		break;
	case JOB_MOBILECONFIG:
		work_mobileconfig(job);
		break;
	case JOB_PASSWORD:
		work_password(job);
		break;
	}
}
