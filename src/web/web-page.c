/* web-page.c - HTML rendering of the sign-in form and the settings page.
 *
 * The wording follows what Chinese mail providers show their users
 * (账户, POP3/IMAP/SMTP服务, 开启/关闭, 授权码), so someone who has set up
 * a QQ or 163 mailbox in a client finds the same things in the same
 * places. Every string comes in both languages at its point of use
 * (WEB_T), which keeps each sentence next to its translation. */
#include "web-page.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define OK(x)                                                                                      \
	do {                                                                                       \
		if ((x) < 0)                                                                       \
			return -1;                                                                 \
	} while (0)

const char web_css[] =
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,\"PingFang SC\",\"Microsoft YaHei\","
    "\"Noto Sans CJK SC\",sans-serif;color:#1d2733;background:#f3f5f8}\n"
    "header{background:#1f4e79;color:#fff;padding:.6em 1em;display:flex;flex-wrap:wrap;"
    "align-items:center;justify-content:space-between;gap:.5em}\n"
    "header h1{font-size:1.2em;margin:0}\n"
    "header a,header button{color:#fff}\n"
    "nav{display:flex;gap:1em;align-items:center}\n"
    "nav form{margin:0}\n"
    "nav button{background:none;border:1px solid #fff;border-radius:4px;padding:.2em .7em;"
    "cursor:pointer;font:inherit}\n"
    "main{max-width:52em;margin:0 auto;padding:1em}\n"
    "section{background:#fff;border-radius:8px;padding:1em 1.2em;margin:0 0 1em;"
    "box-shadow:0 1px 3px rgba(0,0,0,.08)}\n"
    "h2{font-size:1.1em;margin:0 0 .6em}\n"
    "p.hint,.hint{color:#56606b;font-size:.92em}\n"
    ".notice{background:#e6f4ea;border:1px solid #9fd3ae;padding:.6em 1em;border-radius:6px}\n"
    ".error{background:#fdecea;border:1px solid #f3a59d;padding:.6em 1em;border-radius:6px}\n"
    ".service{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;"
    "gap:.5em;border-top:1px solid #e3e7ec;padding:.7em 0}\n"
    ".service:first-of-type{border-top:none}\n"
    ".service .name{font-weight:600}\n"
    ".on{color:#1e7b34;font-weight:600}.off{color:#a33;font-weight:600}\n"
    ".service p{margin:.2em 0 0;flex-basis:100%;color:#56606b;font-size:.92em}\n"
    "button,input[type=submit]{font:inherit;padding:.35em 1em;border-radius:4px;"
    "border:1px solid #1f4e79;background:#1f4e79;color:#fff;cursor:pointer}\n"
    "button.secondary{background:#fff;color:#1f4e79}\n"
    "button.danger{background:#fff;color:#a33;border-color:#a33}\n"
    "input[type=text],input[type=email],input[type=password],input[type=number],select{"
    "font:inherit;padding:.35em .5em;border:1px solid #b8c2cc;border-radius:4px;max-width:100%}\n"
    "label{display:block;margin:.5em 0 .2em}\n"
    "fieldset{border:none;padding:0;margin:.5em 0}\n"
    "fieldset label{display:inline;margin:0 1em 0 .2em}\n"
    "table{border-collapse:collapse;width:100%;font-size:.95em}\n"
    "th,td{text-align:left;padding:.35em .5em;border-bottom:1px solid #e3e7ec;"
    "vertical-align:top}\n"
    ".scroll{overflow-x:auto}\n"
    ".scroll table{min-width:34em}\n"
    ".code{font:1.6em/1.4 ui-monospace,Menlo,Consolas,monospace;letter-spacing:.08em;"
    "background:#f7f7e8;border:1px dashed #c9b458;padding:.3em .6em;display:inline-block;"
    "user-select:all;white-space:nowrap}\n"
    "progress{width:100%;height:.8em}\n"
    "input[type=number]{width:6em}\n"
    ".login{max-width:24em;margin:2em auto}\n"
    ".login input{width:100%}\n"
    ".login button{margin-top:1em;width:100%}\n"
    "select{width:100%;max-width:32em}\n"
    ".scroll td:nth-child(2),.scroll td:nth-child(3){white-space:nowrap}\n"
    /* Phones: less padding, and the code on one line. */
    "@media (max-width:30em){main{padding:.5em}section{padding:.8em}.code{font-size:1.2em}}\n";

/* An envelope, so the browser tab shows something without a request
 * for /favicon.ico. */
const char web_favicon_svg[] =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 32 32\">"
    "<rect x=\"2\" y=\"6\" width=\"28\" height=\"20\" rx=\"3\" fill=\"#1f4e79\"/>"
    "<path d=\"M4 9l12 9 12-9\" fill=\"none\" stroke=\"#fff\" stroke-width=\"2\"/></svg>\n";

static int esc(struct buf *b, const char *s)
{
	return web_escape_cstr(b, s);
}

/* The top of every page: title bar with the language switch and, when
 * signed in, the sign-out button. */
static int page_begin(struct buf *b, const struct web_page_ctx *pc, const char *csrf)
{
	OK(buf_printf(b,
	              "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"
	              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	              "<title>",
	              WEB_T(pc, "en", "zh-CN")));
	OK(esc(b, pc->title));
	OK(buf_append_cstr(b, " - "));
	OK(buf_append_cstr(b, WEB_T(pc, "Account settings", "账户设置")));
	OK(buf_append_cstr(
	    b, "</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n"
	       "<link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\n</head>\n"
	       "<body>\n<header>\n<h1>"));
	OK(esc(b, pc->title));
	OK(buf_append_cstr(b, "</h1>\n<nav>"));
	/* The switch names the other language in that language. */
	OK(buf_append_cstr(b, WEB_T(pc, "<a href=\"/?lang=zh\" lang=\"zh-CN\">中文</a>",
	                            "<a href=\"/?lang=en\" lang=\"en\">English</a>")));
	if (csrf) {
		OK(buf_append_cstr(b, "<form method=\"post\" action=\"/logout\">"
		                      "<input type=\"hidden\" name=\"csrf\" value=\""));
		OK(esc(b, csrf));
		OK(buf_printf(b, "\"><button type=\"submit\">%s</button></form>",
		              WEB_T(pc, "Sign out", "退出")));
	}
	return buf_append_cstr(b, "</nav>\n</header>\n<main>\n");
}

static int page_end(struct buf *b)
{
	return buf_append_cstr(b, "</main>\n</body>\n</html>\n");
}

static int box(struct buf *b, const char *cls, const char *text)
{
	if (text == NULL || text[0] == '\0')
		return 1;
	OK(buf_printf(b, "<p class=\"%s\" role=\"%s\">", cls,
	              strcmp(cls, "error") == 0 ? "alert" : "status"));
	OK(esc(b, text));
	return buf_append_cstr(b, "</p>\n");
}

int web_page_login(struct buf *b, const struct web_page_ctx *pc, const char *address,
                   const char *error, bool insecure)
{
	OK(page_begin(b, pc, NULL));
	OK(buf_append_cstr(b, "<section class=\"login\">\n<h2>"));
	OK(buf_append_cstr(b, WEB_T(pc, "Sign in to your account settings", "登录账户设置")));
	OK(buf_append_cstr(b, "</h2>\n"));
	OK(box(b, "error", error));
	if (insecure) {
		OK(box(
		    b, "error",
		    WEB_T(
		        pc,
		        "This connection is not encrypted, so this server does not accept "
		        "passwords over it. Open this page with https:// instead.",
		        "此连接未加密，服务器不接受通过它发送的密码。请改用 https:// 打开本页。")));
		OK(page_end(b));
		return 1;
	}
	OK(buf_printf(b,
	              "<form method=\"post\" action=\"/login\">\n"
	              "<label for=\"address\">%s</label>\n"
	              "<input type=\"email\" id=\"address\" name=\"address\" required "
	              "autocomplete=\"username\" value=\"",
	              WEB_T(pc, "Email address", "邮箱地址")));
	OK(esc(b, address ? address : ""));
	OK(buf_printf(b,
	              "\">\n<label for=\"password\">%s</label>\n"
	              "<input type=\"password\" id=\"password\" name=\"password\" required "
	              "autocomplete=\"current-password\">\n"
	              "<button type=\"submit\">%s</button>\n</form>\n<p class=\"hint\">%s</p>\n",
	              WEB_T(pc, "Account password", "账户密码"), WEB_T(pc, "Sign in", "登录"),
	              WEB_T(pc,
	                    "Use your account password. App passwords (for mail programs) do "
	                    "not work here.",
	                    "请使用账户密码登录。授权码仅用于邮件客户端，不能在此登录。")));
	OK(buf_append_cstr(b, "</section>\n"));
	return page_end(b);
}

int web_page_message(struct buf *b, const struct web_page_ctx *pc, const char *heading,
                     const char *text)
{
	OK(page_begin(b, pc, NULL));
	OK(buf_append_cstr(b, "<section>\n<h2>"));
	OK(esc(b, heading));
	OK(buf_append_cstr(b, "</h2>\n<p>"));
	OK(esc(b, text));
	OK(buf_printf(b, "</p>\n<p><a href=\"/\">%s</a></p>\n</section>\n",
	              WEB_T(pc, "Back to the account settings", "返回账户设置")));
	return page_end(b);
}

/* A hidden CSRF field and the opening of a POST form. */
static int form_open(struct buf *b, const char *action, const char *csrf, const char *cls)
{
	OK(buf_printf(b,
	              "<form method=\"post\" action=\"%s\"%s%s%s>"
	              "<input type=\"hidden\" name=\"csrf\" value=\"",
	              action, cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : ""));
	OK(esc(b, csrf));
	return buf_append_cstr(b, "\">");
}

/* One on/off service row: name, state, the button that flips it, and the
 * sentence explaining it. */
static int service_row(struct buf *b, const struct web_page_ctx *pc, const char *csrf,
                       const char *name, const char *key, bool on, const char *on_value,
                       const char *off_value, const char *explain)
{
	OK(buf_printf(b, "<div class=\"service\" id=\"svc-%s\">\n<span class=\"name\">", key));
	OK(esc(b, name));
	OK(buf_printf(b, "</span>\n<span class=\"%s\">%s</span>\n", on ? "on" : "off",
	              on ? WEB_T(pc, "On", "已开启") : WEB_T(pc, "Off", "已关闭")));
	OK(form_open(b, "/settings", csrf, NULL));
	OK(buf_printf(b,
	              "<input type=\"hidden\" name=\"%s\" value=\"%s\">"
	              "<button type=\"submit\" class=\"%s\">%s</button></form>\n<p>",
	              key, on ? off_value : on_value, on ? "secondary" : "",
	              on ? WEB_T(pc, "Turn off", "关闭") : WEB_T(pc, "Turn on", "开启")));
	OK(esc(b, explain));
	return buf_append_cstr(b, "</p>\n</div>\n");
}

static const char *dele_text(const struct web_page_ctx *pc, int dele)
{
	switch (dele) {
	case POP3_DELE_EXPUNGE:
		return WEB_T(pc, "delete it from the server", "从服务器删除");
	case POP3_DELE_KEEP:
		return WEB_T(pc, "keep it on the server", "在服务器上保留");
	case POP3_DELE_TRASH:
		return WEB_T(pc, "move it to Trash on the server", "移到服务器的“已删除”文件夹");
	default:
		return "";
	}
}

static int option(struct buf *b, const char *value, bool selected, const char *text)
{
	OK(buf_printf(b, "<option value=\"%s\"%s>", value, selected ? " selected" : ""));
	OK(esc(b, text));
	return buf_append_cstr(b, "</option>\n");
}

static int pop3_policy_section(struct buf *b, const struct web_page_ctx *pc,
                               const struct web_settings_view *v)
{
	const struct auth_account *a = v->account;
	char text[256];
	OK(buf_printf(b, "<section id=\"pop3-policy\">\n<h2>%s</h2>\n",
	              WEB_T(pc, "POP3 download settings", "POP3收取设置")));
	OK(form_open(b, "/settings", v->csrf, NULL));
	OK(buf_printf(
	    b,
	    "\n<label for=\"pop3_dele\">%s</label>\n"
	    "<select id=\"pop3_dele\" name=\"pop3_dele\">\n",
	    WEB_T(pc, "When a POP3 program deletes a message:", "当POP3客户端删除邮件时：")));
	snprintf(text, sizeof(text), WEB_T(pc, "Server default (%s)", "服务器默认（%s）"),
	         dele_text(pc, (int)v->default_dele));
	OK(option(b, "default", a->pop3_dele < 0, text));
	OK(option(b, "expunge", a->pop3_dele == POP3_DELE_EXPUNGE,
	          dele_text(pc, POP3_DELE_EXPUNGE)));
	OK(option(b, "keep", a->pop3_dele == POP3_DELE_KEEP, dele_text(pc, POP3_DELE_KEEP)));
	OK(option(b, "trash", a->pop3_dele == POP3_DELE_TRASH, dele_text(pc, POP3_DELE_TRASH)));
	OK(buf_append_cstr(b, "</select>\n"));

	/* Offer window: all mail, the last N days, or the server default. */
	int days = a->pop3_offer_days;
	OK(buf_printf(b, "<fieldset>\n<legend>%s</legend>\n",
	              WEB_T(pc, "POP3 programs may download:", "POP3客户端可以收取：")));
	if (v->default_offer_days == 0)
		snprintf(text, sizeof(text), "%s",
		         WEB_T(pc, "Server default (all mail)", "服务器默认（全部邮件）"));
	else
		snprintf(text, sizeof(text),
		         WEB_T(pc, "Server default (last %u days)", "服务器默认（最近%u天）"),
		         v->default_offer_days);
	OK(buf_printf(b,
	              "<input type=\"radio\" id=\"offer-default\" name=\"pop3_offer\" "
	              "value=\"default\"%s><label for=\"offer-default\">",
	              days < 0 ? " checked" : ""));
	OK(esc(b, text));
	OK(buf_printf(
	    b,
	    "</label><br>\n<input type=\"radio\" id=\"offer-all\" name=\"pop3_offer\" "
	    "value=\"all\"%s><label for=\"offer-all\">%s</label><br>\n"
	    "<input type=\"radio\" id=\"offer-days\" name=\"pop3_offer\" "
	    "value=\"days\"%s><label for=\"offer-days\">%s</label> "
	    "<input type=\"number\" name=\"pop3_days\" min=\"1\" max=\"36500\" "
	    "value=\"%d\" aria-label=\"%s\"> %s\n</fieldset>\n",
	    days == 0 ? " checked" : "", WEB_T(pc, "all mail in the Inbox", "收件箱中的全部邮件"),
	    days > 0 ? " checked" : "", WEB_T(pc, "only mail of the last", "仅最近"),
	    days > 0 ? days : 30, WEB_T(pc, "days", "天数"), WEB_T(pc, "days", "天的邮件")));
	OK(buf_printf(b,
	              "<button type=\"submit\">%s</button>\n</form>\n<p class=\"hint\">%s</p>\n"
	              "</section>\n",
	              WEB_T(pc, "Save", "保存"),
	              WEB_T(pc,
	                    "These settings only affect POP3. IMAP programs always see all your "
	                    "folders as they are on the server.",
	                    "这些设置只影响POP3。IMAP客户端始终看到服务器上的全部文件夹。")));
	return 1;
}

static int format_time(int64_t t, char *out, size_t cap)
{
	if (t == 0) {
		snprintf(out, cap, "-");
		return 1;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm);
	return 1;
}

static int app_passwords_section(struct buf *b, const struct web_page_ctx *pc,
                                 const struct web_settings_view *v)
{
	const struct auth_account *a = v->account;
	OK(buf_printf(
	    b, "<section id=\"app-passwords\">\n<h2>%s</h2>\n<p class=\"hint\">%s</p>\n",
	    WEB_T(pc, "App passwords", "授权码"),
	    WEB_T(pc,
	          "A mail program (Outlook, Thunderbird, Apple Mail, a phone's mail app) "
	          "signs in with an app password instead of your account password. Make "
	          "one per program; if a device is lost, revoke its app password and your "
	          "account password stays safe.",
	          "授权码是邮件客户端（Outlook、Foxmail、Thunderbird、手机邮件应用等）"
	          "登录时代替账户密码使用的专用密码。建议每个客户端生成一个；设备丢失时删除"
	          "对应的授权码即可，账户密码不受影响。")));
	if (v->new_code) {
		OK(buf_printf(b, "<div class=\"notice\" id=\"new-code\"><p>%s <strong>",
		              WEB_T(pc, "New app password for", "新授权码，用于")));
		OK(esc(b, v->new_label ? v->new_label : ""));
		OK(buf_append_cstr(b, "</strong>:</p>\n<p><span class=\"code\">"));
		OK(esc(b, v->new_code));
		OK(buf_printf(
		    b, "</span></p>\n<p>%s</p></div>\n",
		    WEB_T(pc,
		          "Paste it into the password field of your mail program (the "
		          "spaces do not matter). It is shown only this once: this page "
		          "cannot show it again.",
		          "请将它粘贴到邮件客户端的密码栏中（空格可有可无）。授权码只显示这一"
		          "次，之后无法再次查看。")));
	}
	OK(buf_printf(
	    b,
	    "<div class=\"service\" id=\"svc-require\"><span class=\"name\">%s</span>"
	    "<span class=\"%s\">%s</span>\n",
	    WEB_T(pc, "Require app passwords for mail programs", "邮件客户端必须使用授权码"),
	    a->require_app_password ? "on" : "off",
	    a->require_app_password ? WEB_T(pc, "On", "已开启") : WEB_T(pc, "Off", "已关闭")));
	OK(form_open(b, "/settings", v->csrf, NULL));
	OK(buf_printf(
	    b,
	    "<input type=\"hidden\" name=\"require_app_password\" value=\"%s\">"
	    "<button type=\"submit\" class=\"secondary\">%s</button></form>\n<p>%s</p>"
	    "</div>\n",
	    a->require_app_password ? "no" : "yes",
	    a->require_app_password ? WEB_T(pc, "Turn off", "关闭") : WEB_T(pc, "Turn on", "开启"),
	    WEB_T(pc,
	          "When on, IMAP and POP3 refuse your account password and accept only "
	          "app passwords; this page still uses the account password.",
	          "开启后，IMAP和POP3将拒绝账户密码，只接受授权码；本设置页仍使用账户密码登录。")));

	if (v->n_apps == 0) {
		OK(buf_printf(b, "<p>%s</p>\n",
		              WEB_T(pc, "You have no app passwords yet.", "您还没有授权码。")));
	} else {
		OK(buf_printf(b,
		              "<div class=\"scroll\"><table id=\"app-list\">\n<tr><th>%s</th><th>%s"
		              "</th><th>%s</th><th>%s</th><th>%s</th><th></th></tr>\n",
		              WEB_T(pc, "Name", "名称"), WEB_T(pc, "Created", "创建时间"),
		              WEB_T(pc, "Last used", "最近使用"), WEB_T(pc, "Protocol", "协议"),
		              WEB_T(pc, "IP address", "IP地址")));
		for (unsigned i = 0; i < v->n_apps; i++) {
			const struct auth_app_password *p = &v->apps[i];
			char created[40], used[40];
			format_time(p->created, created, sizeof(created));
			format_time(p->last_used, used, sizeof(used));
			OK(buf_append_cstr(b, "<tr><td>"));
			OK(esc(b, p->label));
			OK(buf_printf(b, "</td><td>%s</td><td>%s</td><td>", created,
			              p->last_used ? used : WEB_T(pc, "never", "从未使用")));
			OK(esc(b, p->last_used ? p->last_protocol : "-"));
			OK(buf_append_cstr(b, "</td><td>"));
			OK(esc(b, p->last_used ? p->last_ip : "-"));
			OK(buf_append_cstr(b, "</td><td>"));
			OK(form_open(b, "/app-passwords/revoke", v->csrf, NULL));
			OK(buf_printf(b,
			              "<input type=\"hidden\" name=\"id\" value=\"%lld\">"
			              "<button type=\"submit\" class=\"danger\">%s</button></form>"
			              "</td></tr>\n",
			              (long long)p->id, WEB_T(pc, "Revoke", "删除")));
		}
		OK(buf_append_cstr(b, "</table></div>\n"));
	}
	OK(form_open(b, "/app-passwords", v->csrf, NULL));
	OK(buf_printf(b,
	              "\n<label for=\"label\">%s</label>\n"
	              "<input type=\"text\" id=\"label\" name=\"label\" maxlength=\"64\" required "
	              "placeholder=\"%s\">\n<button type=\"submit\">%s</button>\n</form>\n"
	              "</section>\n",
	              WEB_T(pc, "Name of the new app password (e.g. the device)",
	                    "新授权码的名称（例如设备名）"),
	              WEB_T(pc, "Thunderbird on my laptop", "我的手机"),
	              WEB_T(pc, "Generate new app password", "生成授权码")));
	return 1;
}

static int password_field(struct buf *b, const char *id, const char *label,
                          const char *autocomplete)
{
	OK(buf_printf(b, "<label for=\"%s\">", id));
	OK(esc(b, label));
	return buf_printf(b,
	                  "</label>\n<input type=\"password\" id=\"%s\" name=\"%s\" required "
	                  "autocomplete=\"%s\">\n",
	                  id, id, autocomplete);
}

static int password_section(struct buf *b, const struct web_page_ctx *pc,
                            const struct web_settings_view *v)
{
	OK(buf_printf(b, "<section id=\"password\">\n<h2>%s</h2>\n",
	              WEB_T(pc, "Account password", "账户密码")));
	OK(form_open(b, "/password", v->csrf, NULL));
	OK(buf_append_cstr(b, "\n"));
	OK(password_field(b, "current", WEB_T(pc, "Current password", "当前密码"),
	                  "current-password"));
	OK(password_field(
	    b, "new", WEB_T(pc, "New password (at least 8 characters)", "新密码（至少8个字符）"),
	    "new-password"));
	OK(password_field(b, "repeat", WEB_T(pc, "New password again", "再次输入新密码"),
	                  "new-password"));
	OK(buf_printf(
	    b,
	    "<p><button type=\"submit\">%s</button></p>\n</form>\n<p class=\"hint\">%s</p>\n"
	    "</section>\n",
	    WEB_T(pc, "Change password", "修改密码"),
	    WEB_T(pc,
	          "Changing it signs out your other browsers. App passwords keep "
	          "working; revoke them separately if a device may be lost.",
	          "修改后，其他浏览器将退出登录。授权码仍然有效；如有设备可能丢失，请单独删除其授权"
	          "码。")));
	return 1;
}

static int server_row(struct buf *b, const struct web_page_ctx *pc, const char *proto,
                      const char *host, unsigned port, const char *security)
{
	OK(buf_printf(b, "<tr><td>%s</td><td>", proto));
	OK(esc(b, host));
	return buf_printf(b, "</td><td>%u</td><td>%s</td></tr>\n", port, security);
}

static int servers_section(struct buf *b, const struct web_page_ctx *pc,
                           const struct web_settings_view *v)
{
	const struct web_servers *s = v->servers;
	const char *plain = s->starttls ? "STARTTLS" : WEB_T(pc, "none", "无");
	OK(buf_printf(b,
	              "<section id=\"servers\">\n<h2>%s</h2>\n<div class=\"scroll\"><table>\n"
	              "<tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>\n",
	              WEB_T(pc, "Server settings for mail programs", "客户端服务器设置"),
	              WEB_T(pc, "Service", "服务"), WEB_T(pc, "Server", "服务器地址"),
	              WEB_T(pc, "Port", "端口"), WEB_T(pc, "Security", "加密方式")));
	const char *in_imap = WEB_T(pc, "IMAP (incoming)", "IMAP收信服务器");
	const char *in_pop3 = WEB_T(pc, "POP3 (incoming)", "POP3收信服务器");
	if (s->imaps_port)
		OK(server_row(b, pc, in_imap, s->host, s->imaps_port, "SSL/TLS"));
	if (s->imap_port)
		OK(server_row(b, pc, in_imap, s->host, s->imap_port, plain));
	if (s->pop3s_port)
		OK(server_row(b, pc, in_pop3, s->host, s->pop3s_port, "SSL/TLS"));
	if (s->pop3_port)
		OK(server_row(b, pc, in_pop3, s->host, s->pop3_port, plain));
	if (s->smtp_port)
		OK(server_row(b, pc, WEB_T(pc, "SMTP (outgoing)", "SMTP发信服务器"), s->smtp_host,
		              s->smtp_port, s->smtp_port == 465 ? "SSL/TLS" : "STARTTLS"));
	OK(buf_printf(b, "</table></div>\n<p>%s <strong>", WEB_T(pc, "User name:", "用户名：")));
	OK(esc(b, v->account->address));
	OK(buf_printf(
	    b, "</strong><br>%s</p>\n<p class=\"hint\">%s</p>\n</section>\n",
	    v->account->require_app_password
	        ? WEB_T(pc, "Password: an app password (see above).", "密码：授权码（见上文）。")
	        : WEB_T(pc,
	                "Password: an app password (recommended) or your account "
	                "password.",
	                "密码：授权码（推荐）或账户密码。"),
	    WEB_T(pc,
	          "Thunderbird, Outlook and Apple Mail can also find these settings by "
	          "themselves from your email address.",
	          "Thunderbird、Outlook和Apple Mail输入邮箱地址后也能自动获取这些设置。")));
	return 1;
}

int web_page_settings(struct buf *b, const struct web_page_ctx *pc,
                      const struct web_settings_view *v)
{
	const struct auth_account *a = v->account;
	OK(page_begin(b, pc, v->csrf));
	OK(box(b, "notice", v->notice));
	OK(box(b, "error", v->error));

	/* Account and quota. */
	OK(buf_printf(b, "<section id=\"account\">\n<h2>%s</h2>\n<p><strong>",
	              WEB_T(pc, "Account", "账户")));
	OK(esc(b, a->address));
	OK(buf_append_cstr(b, "</strong></p>\n"));
	if (v->have_usage) {
		char used[32], limit[32];
		web_format_bytes(v->bytes_used, used, sizeof(used));
		if (a->quota_bytes) {
			web_format_bytes(a->quota_bytes, limit, sizeof(limit));
			unsigned pct = (unsigned)(v->bytes_used * 100 / a->quota_bytes);
			OK(buf_printf(
			    b,
			    WEB_T(pc, "<p>Storage: %s of %s used (%u%%), %llu messages.</p>\n",
			          "<p>存储空间：已使用 %s / %s（%u%%），共 %llu 封邮件。</p>\n"),
			    used, limit, pct, (unsigned long long)v->messages_used));
			OK(buf_printf(b, "<progress max=\"100\" value=\"%u\">%u%%</progress>\n",
			              pct > 100 ? 100 : pct, pct));
		} else {
			OK(buf_printf(
			    b,
			    WEB_T(pc, "<p>Storage: %s used (no limit), %llu messages.</p>\n",
			          "<p>存储空间：已使用 %s（无限制），共 %llu 封邮件。</p>\n"),
			    used, (unsigned long long)v->messages_used));
		}
		if (a->quota_messages)
			OK(buf_printf(b,
			              WEB_T(pc, "<p class=\"hint\">At most %llu messages.</p>\n",
			                    "<p class=\"hint\">最多 %llu 封邮件。</p>\n"),
			              (unsigned long long)a->quota_messages));
	}
	OK(buf_append_cstr(b, "</section>\n"));

	/* The services, as a provider's settings show them. */
	OK(buf_printf(b, "<section id=\"services\">\n<h2>%s</h2>\n",
	              WEB_T(pc, "POP3/IMAP/SMTP services", "POP3/IMAP/SMTP服务")));
	OK(service_row(b, pc, v->csrf, WEB_T(pc, "IMAP service", "IMAP服务"), "imap",
	               a->imap_enabled, "on", "off",
	               WEB_T(pc,
	                     "IMAP keeps your mail and folders on the server and keeps every "
	                     "device in sync: what you read, move or delete on one shows on all.",
	                     "IMAP将邮件和文件夹保留在服务器上，并在所有设备间同步：在一台设备上"
	                     "阅读、移动或删除的邮件，在其他设备上也会同样显示。")));
	OK(service_row(
	    b, pc, v->csrf, WEB_T(pc, "POP3 service", "POP3服务"), "pop3", a->pop3_enabled, "on",
	    "off",
	    WEB_T(pc,
	          "POP3 downloads the Inbox to one device for reading offline, and "
	          "normally deletes it from the server; other devices will not see that "
	          "mail any more.",
	          "POP3将收件箱中的邮件下载到本地设备以便离线阅读，通常会从服务器上删除；"
	          "之后其他设备将看不到这些邮件。")));
	OK(buf_append_cstr(b, "</section>\n"));

	OK(pop3_policy_section(b, pc, v));
	OK(app_passwords_section(b, pc, v));
	OK(password_section(b, pc, v));
	OK(servers_section(b, pc, v));
	return page_end(b);
}
