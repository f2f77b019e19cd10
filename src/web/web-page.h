/* web-page.h - the HTML of the settings page, in English and Chinese.
 *
 * Plain server-rendered HTML5 with one style sheet (/style.css), no
 * scripts, no external resources (the Content-Security-Policy allows only
 * 'self'). Every value that comes from an account or a request is
 * escaped. Pure: the caller gathers the data (on the thread pool) and
 * passes it in. Return convention: -1 error (buffer full), 1 done. */
#ifndef ROOST_WEB_PAGE_H
#define ROOST_WEB_PAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "lib/buf.h"
#include "web-autoconfig.h"
#include "web-util.h"

#define WEB_APPS_MAX 64 /* app passwords shown (the auth layer allows 64) */

struct web_page_ctx {
	enum web_lang lang;
	const char *title; /* [web] title */
};

/* "English" or "中文": picks the string for the page's language. */
#define WEB_T(pc, en, zh) ((pc)->lang == WEB_LANG_ZH ? (zh) : (en))

struct web_settings_view {
	const struct auth_account *account;
	bool have_usage;
	uint64_t bytes_used, messages_used;
	const struct auth_app_password *apps;
	unsigned n_apps;
	const char *csrf;
	/* Just created: shown once, grouped in fours ("abcd efgh ijkl mnop"). */
	const char *new_code;
	const char *new_label;
	const char *notice; /* a success line, or NULL */
	const char *error;  /* an error line, or NULL */
	const struct web_servers *servers;
	/* The server's POP3 defaults, for the "default" choices. */
	enum pop3_dele_policy default_dele;
	unsigned default_offer_days;
};

/* The sign-in form. `address` refills the field; `error` is shown above
 * it; `insecure` explains that passwords are not accepted without TLS
 * here (auth.plaintext) instead of showing the form. */
int web_page_login(struct buf *b, const struct web_page_ctx *pc, const char *address,
                   const char *error, bool insecure);
int web_page_settings(struct buf *b, const struct web_page_ctx *pc,
                      const struct web_settings_view *v);
/* A short page with a heading, a sentence and a link back to "/". */
int web_page_message(struct buf *b, const struct web_page_ctx *pc, const char *heading,
                     const char *text);

extern const char web_css[];
extern const char web_favicon_svg[];

#endif
