/* test-web-util.c - the web module's pure helpers: escaping, forms,
 * cookies, language choice, the autodiscover address, the session table,
 * the client configuration documents and the page's escaping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "unit.h"
#include "web/web-autoconfig.h"
#include "web/web-page.h"
#include "web/web-sessions.h"
#include "web/web-util.h"

TEST(escape)
{
	struct buf b = BUF_INIT(0);
	CHECK(web_escape_cstr(&b, "a<b>&\"c'd 中") == 1);
	CHECK_STREQ(buf_cstr(&b), "a&lt;b&gt;&amp;&quot;c&#39;d 中");
	buf_free(&b);
	struct buf small = BUF_INIT(8);
	CHECK(web_escape_cstr(&small, "<<<<") == -1);
	buf_free(&small);
}

TEST(form_get)
{
	char v[64];
	struct str f =
	    STR_LIT("address=bob%40example.test&password=a+b%20c&empty=&flag&x=%E4%B8%AD");
	CHECK(web_form_get(f, "address", v, sizeof(v)) == 1);
	CHECK_STREQ(v, "bob@example.test");
	CHECK(web_form_get(f, "password", v, sizeof(v)) == 1);
	CHECK_STREQ(v, "a b c");
	CHECK(web_form_get(f, "empty", v, sizeof(v)) == 1);
	CHECK_STREQ(v, "");
	CHECK(web_form_get(f, "flag", v, sizeof(v)) == 1);
	CHECK_STREQ(v, "");
	CHECK(web_form_get(f, "x", v, sizeof(v)) == 1);
	CHECK_STREQ(v, "中");
	CHECK(web_form_get(f, "addr", v, sizeof(v)) == 0);
	CHECK(web_form_get(STR_LIT(""), "a", v, sizeof(v)) == 0);
	/* Malformed escapes, NUL, control bytes, invalid UTF-8, too long. */
	CHECK(web_form_get(STR_LIT("a=%4"), "a", v, sizeof(v)) == -1);
	CHECK(web_form_get(STR_LIT("a=%zz"), "a", v, sizeof(v)) == -1);
	CHECK(web_form_get(STR_LIT("a=x%00y"), "a", v, sizeof(v)) == -1);
	CHECK(web_form_get(STR_LIT("a=%01"), "a", v, sizeof(v)) == -1);
	CHECK(web_form_get(STR_LIT("a=%C0%80"), "a", v, sizeof(v)) == -1);
	CHECK(web_form_get(STR_LIT("a=%ED%A0%80"), "a", v, sizeof(v)) == -1);
	CHECK(web_form_get(STR_LIT("a=%E4%B8"), "a", v, sizeof(v)) == -1);
	CHECK(web_form_get(STR_LIT("a=12345"), "a", v, 5) == -1);
	CHECK(web_form_get(STR_LIT("a=1234"), "a", v, 5) == 1);
	/* The first occurrence wins. */
	CHECK(web_form_get(STR_LIT("a=1&a=2"), "a", v, sizeof(v)) == 1);
	CHECK_STREQ(v, "1");
}

TEST(cookies)
{
	char v[80];
	struct str h = STR_LIT("theme=dark; roost_session=abc123;roost_lang=\"zh\"");
	CHECK(web_cookie_get(h, "roost_session", v, sizeof(v)) == 1);
	CHECK_STREQ(v, "abc123");
	CHECK(web_cookie_get(h, "roost_lang", v, sizeof(v)) == 1);
	CHECK_STREQ(v, "zh");
	CHECK(web_cookie_get(h, "session", v, sizeof(v)) == 0);
	CHECK(web_cookie_get(h, "theme", v, 4) == -1);
	CHECK(web_cookie_get(STR_NULL, "a", v, sizeof(v)) == 0);
}

TEST(languages)
{
	CHECK(web_lang_from_accept(STR_LIT("zh-CN,zh;q=0.9,en;q=0.8")) == WEB_LANG_ZH);
	CHECK(web_lang_from_accept(STR_LIT("en-US,en;q=0.9,zh;q=0.8")) == WEB_LANG_EN);
	CHECK(web_lang_from_accept(STR_LIT("fr, zh-TW;q=0.5, en;q=0.4")) == WEB_LANG_ZH);
	CHECK(web_lang_from_accept(STR_LIT("en;q=0.2, zh-Hans;q=0.7")) == WEB_LANG_ZH);
	CHECK(web_lang_from_accept(STR_LIT("zh;q=0, en")) == WEB_LANG_EN);
	CHECK(web_lang_from_accept(STR_LIT("fr-FR")) == WEB_LANG_EN);
	CHECK(web_lang_from_accept(STR_LIT("")) == WEB_LANG_EN);
	CHECK(web_lang_from_accept(STR_LIT("zh;q=abc")) == WEB_LANG_EN);
	CHECK(web_lang_from_accept(STR_LIT("zhx, english")) == WEB_LANG_EN);
	enum web_lang l;
	CHECK(web_lang_parse(STR_LIT("zh"), &l) == 1 && l == WEB_LANG_ZH);
	CHECK(web_lang_parse(STR_LIT("en"), &l) == 1 && l == WEB_LANG_EN);
	CHECK(web_lang_parse(STR_LIT("de"), &l) == -1);
}

TEST(xml_element)
{
	char v[64];
	CHECK(web_xml_element_text(STR_LIT("<a><EMailAddress> b@c.test </EMailAddress></a>"),
	                           "EMailAddress", v, sizeof(v)) == 1);
	CHECK_STREQ(v, "b@c.test");
	CHECK(web_xml_element_text(STR_LIT("<x:EMailAddress a=\"1\">o&amp;b@c</x:EMailAddress>"),
	                           "EMailAddress", v, sizeof(v)) == 1);
	CHECK_STREQ(v, "o&b@c");
	CHECK(web_xml_element_text(STR_LIT("<EMailAddressX>a</EMailAddressX>"), "EMailAddress", v,
	                           sizeof(v)) == 0);
	CHECK(web_xml_element_text(STR_LIT("<EMailAddress/>"), "EMailAddress", v, sizeof(v)) == -1);
	CHECK(web_xml_element_text(STR_LIT("<EMailAddress>a<b/></EMailAddress>"), "EMailAddress", v,
	                           sizeof(v)) == -1);
	CHECK(web_xml_element_text(STR_LIT("<EMailAddress>&e;</EMailAddress>"), "EMailAddress", v,
	                           sizeof(v)) == -1);
	CHECK(web_xml_element_text(STR_LIT("<!DOCTYPE a><EMailAddress>a</EMailAddress>"),
	                           "EMailAddress", v, sizeof(v)) == -1);
	CHECK(web_xml_element_text(STR_LIT("<EMailAddress>unterminated"), "EMailAddress", v,
	                           sizeof(v)) == -1);
	CHECK(web_xml_element_text(STR_LIT("<EMailAddress>0123456789</EMailAddress>"),
	                           "EMailAddress", v, 8) == -1);
}

TEST(bytes_and_hex)
{
	char out[32];
	web_format_bytes(0, out, sizeof(out));
	CHECK_STREQ(out, "0 B");
	web_format_bytes(1536, out, sizeof(out));
	CHECK_STREQ(out, "1.5 KiB");
	web_format_bytes(10ull << 20, out, sizeof(out));
	CHECK_STREQ(out, "10.0 MiB");
	unsigned char raw[3] = {0x00, 0xab, 0xff};
	web_hex(raw, 3, out);
	CHECK_STREQ(out, "00abff");
}

TEST(sessions)
{
	char id[WEB_SESSION_ID_LEN + 1], csrf[WEB_SESSION_ID_LEN + 1];
	struct web_session_info info;
	time_t now = 1700000000;
	CHECK(web_sessions_create(7, now, id, csrf) == 1);
	CHECK(strlen(id) == 64 && strlen(csrf) == 64 && strcmp(id, csrf) != 0);
	CHECK(web_sessions_lookup(id, now + 10, &info) == 1);
	CHECK(info.account_id == 7 && strcmp(info.csrf, csrf) == 0);
	/* Unknown, short, idle-expired. */
	char other[WEB_SESSION_ID_LEN + 1];
	memcpy(other, id, sizeof(other));
	other[0] = other[0] == 'a' ? 'b' : 'a';
	CHECK(web_sessions_lookup(other, now, &info) == 0);
	CHECK(web_sessions_lookup("abc", now, &info) == 0);
	CHECK(web_sessions_lookup(id, now + 10 + WEB_SESSION_IDLE, &info) == 0);
	CHECK(web_sessions_lookup(id, now + 20, &info) == 0); /* removed when found expired */
	/* Use keeps it alive up to the absolute lifetime. */
	CHECK(web_sessions_create(8, now, id, csrf) == 1);
	time_t t = now;
	while (t + WEB_SESSION_IDLE / 2 < now + WEB_SESSION_LIFETIME) {
		t += WEB_SESSION_IDLE / 2;
		CHECK(web_sessions_lookup(id, t, &info) == 1);
	}
	CHECK(web_sessions_lookup(id, now + WEB_SESSION_LIFETIME, &info) == 0);
	/* Remove, and remove by account. */
	CHECK(web_sessions_create(9, now, id, csrf) == 1);
	web_sessions_remove(id);
	CHECK(web_sessions_lookup(id, now, &info) == 0);
	CHECK(web_sessions_create(10, now, id, csrf) == 1);
	web_sessions_remove_account(10);
	CHECK(web_sessions_lookup(id, now, &info) == 0);
	/* A full table drops the least recently used. */
	char first[WEB_SESSION_ID_LEN + 1];
	CHECK(web_sessions_create(11, now, first, csrf) == 1);
	for (int i = 0; i < WEB_SESSIONS_MAX; i++)
		CHECK(web_sessions_create(100 + i, now + 1 + i, id, csrf) == 1);
	CHECK(web_sessions_lookup(first, now + WEB_SESSIONS_MAX, &info) == 0);
	CHECK(web_sessions_lookup(id, now + WEB_SESSIONS_MAX, &info) == 1);
	CHECK(web_sessions_count(now + WEB_SESSIONS_MAX) == WEB_SESSIONS_MAX);
}

static struct config *test_config(const char *extra)
{
	char text[2048], err[256];
	snprintf(text, sizeof(text),
	         "hostname = mail.example.test\n%s"
	         "[tls]\ncert = /nonexistent/c.pem\nkey = /nonexistent/c.key\n"
	         "[listener]\nprotocol = imap\nport = 1143\n"
	         "[listener]\nprotocol = imaps\nport = 1993\n"
	         "[listener]\nprotocol = imaps\naddress = ::1\nport = 993\n"
	         "[listener]\nprotocol = pop3\nport = 110\n",
	         extra);
	struct config *c = NULL;
	if (config_load_string("test", text, &c, err, sizeof(err)) != 1)
		fprintf(stderr, "  config: %s\n", err);
	CHECK(c != NULL);
	return c;
}

TEST(servers_from_config)
{
	struct config *c = test_config("");
	struct web_servers s;
	web_servers_from_config(c, &s);
	CHECK_STREQ(s.host, "mail.example.test");
	CHECK(s.imaps_port == 993); /* the usual port wins */
	CHECK(s.imap_port == 1143);
	CHECK(s.pop3_port == 110 && s.pop3s_port == 0);
	CHECK(s.starttls); /* a certificate is configured */
	CHECK(s.smtp_port == 587);
	CHECK_STREQ(s.smtp_host, "mail.example.test");
	config_free(&c);
	c = test_config("[web]\nsubmission_port = 0\n");
	web_servers_from_config(c, &s);
	CHECK(s.smtp_port == 0 && s.smtp_host == NULL);
	config_free(&c);
	c = test_config("[web]\nsubmission_host = smtp.example.test\nsubmission_port = 465\n");
	web_servers_from_config(c, &s);
	CHECK(s.smtp_port == 465);
	CHECK_STREQ(s.smtp_host, "smtp.example.test");
	config_free(&c);
}

TEST(documents_escape)
{
	struct web_servers s = {.host = "m<x>&.test",
	                        .imaps_port = 993,
	                        .pop3_port = 110,
	                        .starttls = false,
	                        .smtp_host = "s.test",
	                        .smtp_port = 465};
	struct buf b = BUF_INIT(0);
	CHECK(web_autoconfig_xml(&b, &s, "ex\"a.test", "T&T") == 1);
	CHECK(strstr(buf_cstr(&b), "<hostname>m&lt;x&gt;&amp;.test</hostname>") != NULL);
	CHECK(strstr(buf_cstr(&b), "<emailProvider id=\"ex&quot;a.test\">") != NULL);
	CHECK(strstr(buf_cstr(&b), "<socketType>plain</socketType>") != NULL);
	CHECK(strstr(buf_cstr(&b), "<displayName>T&amp;T</displayName>") != NULL);
	CHECK(strstr(buf_cstr(&b), "<port>465</port>\n      <socketType>SSL</socketType>") != NULL);
	buf_reset(&b);
	CHECK(web_autodiscover_xml(&b, &s, "a&b@x.test") == 1);
	CHECK(strstr(buf_cstr(&b), "<LoginName>a&amp;b@x.test</LoginName>") != NULL);
	CHECK(strstr(buf_cstr(&b), "<Encryption>None</Encryption>") != NULL);
	buf_reset(&b);
	CHECK(web_mobileconfig(&b, &s, "a@x.test", "<T>", "U1", "U2") == 1);
	CHECK(strstr(buf_cstr(&b), "<string>&lt;T&gt;</string>") != NULL);
	CHECK(strstr(buf_cstr(&b), "<string>EmailTypeIMAP</string>") != NULL);
	buf_free(&b);
	char uuid[40];
	CHECK(web_uuid(uuid) == 1);
	CHECK(strlen(uuid) == 36 && uuid[8] == '-' && uuid[14] == '4');
}

TEST(page_escapes_account_data)
{
	struct auth_account a = {0};
	snprintf(a.address, sizeof(a.address), "x\"<script>@example.test");
	a.pop3_dele = AUTH_POP3_DELE_DEFAULT;
	a.pop3_offer_days = -1;
	a.imap_enabled = true;
	struct auth_app_password app = {.id = 3, .created = 1700000000};
	snprintf(app.label, sizeof(app.label), "<img src=x>");
	struct web_servers s = {.host = "h", .imaps_port = 993};
	struct web_settings_view v = {
	    .account = &a, .apps = &app, .n_apps = 1, .csrf = "c0ffee", .servers = &s};
	struct web_page_ctx pc = {WEB_LANG_ZH, "邮件"};
	struct buf b = BUF_INIT(0);
	CHECK(web_page_settings(&b, &pc, &v) == 1);
	const char *html = buf_cstr(&b);
	CHECK(strstr(html, "<script>") == NULL && strstr(html, "<img") == NULL);
	CHECK(strstr(html, "&lt;img src=x&gt;") != NULL);
	CHECK(strstr(html, "IMAP服务") != NULL && strstr(html, "已开启") != NULL);
	CHECK(strstr(html, "POP3服务") != NULL && strstr(html, "已关闭") != NULL);
	/* Every form carries the CSRF token. */
	unsigned forms = 0, tokens = 0;
	for (const char *p = html; (p = strstr(p, "<form method=\"post\"")) != NULL; p++)
		forms++;
	for (const char *p = html; (p = strstr(p, "name=\"csrf\" value=\"c0ffee\"")) != NULL; p++)
		tokens++;
	CHECK(forms > 5 && forms == tokens);
	buf_free(&b);
}

UNIT_MAIN()
