/* Accounts database: domains, accounts, aliases, app passwords, logins,
 * recipient resolution, abuse protection. Uses a fresh data dir. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth-private.h"
#include "auth/auth.h"
#include "lib/config.h"
#include "lib/log.h"
#include "store/store.h"
#include "unit.h"

static struct config *cfg;
static char dir[64];

static void cleanup(void)
{
	auth_deinit();
	store_deinit();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
}

static void setup(void)
{
	if (cfg != NULL)
		return;
	snprintf(dir, sizeof(dir), "/tmp/roost-test-auth-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	cfg = config_new_defaults();
	free(cfg->data_dir);
	cfg->data_dir = strdup(dir);
	free(cfg->default_domain);
	cfg->default_domain = strdup("example.com");
	free(cfg->password_scheme);
	cfg->password_scheme = strdup("sha256-crypt"); /* fast; yescrypt is tested elsewhere */
	cfg->auth_fail_delay_ms = 100;
	cfg->auth_max_failures = 5;
	cfg->auth_lockout_seconds = 60;
	cfg->max_sessions_per_user = 3;
	roost_config = cfg;
	atexit(cleanup);
	log_set_level(LOG_LVL_ERROR);
	char err[256];
	if (store_init(dir, err, sizeof(err)) < 0 || auth_init(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		abort();
	}
	enum auth_err code;
	if (auth_domain_add("example.com", &code, err, sizeof(err)) < 0 ||
	    auth_domain_add("Example.ORG", &code, err, sizeof(err)) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		abort();
	}
}

static const struct auth_client imap_client = {AUTH_PROTO_IMAP, "192.0.2.10", true, false};
static const struct auth_client pop3_client = {AUTH_PROTO_POP3, "192.0.2.11", true, false};
static const struct auth_client web_client = {AUTH_PROTO_WEB, "192.0.2.12", true, false};

static void add_user(const char *addr, const char *pw)
{
	char err[256];
	enum auth_err code = AUTH_ERR_TEMP;
	int r = auth_account_add(addr, pw, NULL, NULL, &code, err, sizeof(err));
	if (r != 1)
		fprintf(stderr, "add_user %s: %s\n", addr, err);
	CHECK(r == 1);
	CHECK(code == AUTH_ERR_NONE);
}

TEST(domains)
{
	setup();
	char err[256];
	enum auth_err code;
	CHECK(auth_domain_add("example.com", &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_EXISTS);
	CHECK_STREQ(err, "domain example.com already exists");
	CHECK(auth_domain_add("EXAMPLE.com", &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_EXISTS);
	CHECK(auth_domain_add("bad..domain", &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_INVALID);
	CHECK(auth_domain_add("-x.com", &code, err, sizeof(err)) == -1);
	CHECK(auth_domain_add("a b.com", &code, err, sizeof(err)) == -1);
	CHECK(auth_domain_add("", &code, err, sizeof(err)) == -1);
	CHECK(auth_domain_add("例子.中国", &code, err, sizeof(err)) == 1);
	CHECK(auth_domain_del("例子.中国", &code, err, sizeof(err)) == 1);
	CHECK(auth_domain_del("nonexistent.net", &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_NOUSER);
	CHECK_STREQ(err, "domain nonexistent.net does not exist");
	CHECK(auth_domain_add("temp.net", &code, err, sizeof(err)) == 1);
	add_user("t@temp.net", "pw");
	CHECK(auth_domain_del("temp.net", &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_CONFLICT);
	CHECK(auth_account_del("t@temp.net", NULL, &code, err, sizeof(err)) == 1);
	CHECK(auth_domain_del("temp.net", &code, err, sizeof(err)) == 1);
}

TEST(address_normalisation)
{
	char out[AUTH_ADDRESS_MAX], err[128];
	CHECK(auth_address_normalize("Bob.Smith@Example.COM", out, sizeof(out), err, sizeof(err)) ==
	      1);
	CHECK_STREQ(out, "bob.smith@example.com");
	CHECK(auth_address_normalize("用户@例子.中国", out, sizeof(out), err, sizeof(err)) == 1);
	CHECK(auth_address_normalize("bob", out, sizeof(out), err, sizeof(err)) == -1);
	CHECK(auth_address_normalize("@example.com", out, sizeof(out), err, sizeof(err)) == -1);
	CHECK(auth_address_normalize("bob@", out, sizeof(out), err, sizeof(err)) == -1);
	CHECK(auth_address_normalize(".bob@example.com", out, sizeof(out), err, sizeof(err)) == -1);
	CHECK(auth_address_normalize("b..b@example.com", out, sizeof(out), err, sizeof(err)) == -1);
	CHECK(auth_address_normalize("b b@example.com", out, sizeof(out), err, sizeof(err)) == -1);
	CHECK(auth_address_normalize("b\"b@example.com", out, sizeof(out), err, sizeof(err)) == -1);
	CHECK(auth_address_normalize("bob@@example.com", out, sizeof(out), err, sizeof(err)) == -1);
	CHECK(auth_address_normalize("bob@exa_mple.com", out, sizeof(out), err, sizeof(err)) == -1);
	CHECK(auth_address_normalize("b\xff@example.com", out, sizeof(out), err, sizeof(err)) ==
	      -1);
	char longlocal[80];
	memset(longlocal, 'a', 65);
	snprintf(longlocal + 65, sizeof(longlocal) - 65, "@x.com");
	CHECK(auth_address_normalize(longlocal, out, sizeof(out), err, sizeof(err)) == -1);
}

TEST(account_add_and_errors)
{
	setup();
	char err[256];
	enum auth_err code;
	struct auth_account a;
	CHECK(auth_account_add("Alice@Example.com", "alicepw", NULL, &a, &code, err, sizeof(err)) ==
	      1);
	CHECK_STREQ(a.address, "alice@example.com");
	CHECK(a.id > 0);
	char key[32];
	snprintf(key, sizeof(key), "u%lld", (long long)a.id);
	CHECK_STREQ(a.user_key, key);
	CHECK(a.imap_enabled && a.pop3_enabled && !a.require_app_password);
	CHECK(a.state == AUTH_STATE_ACTIVE);
	CHECK(a.pop3_dele == AUTH_POP3_DELE_DEFAULT);
	CHECK_STREQ(a.scheme, "sha256-crypt");

	/* The store has INBOX and the special-use folders, subscribed. */
	struct store_user *u = NULL;
	CHECK(store_user_open(a.user_key, &u) == 1);
	if (u != NULL) {
		struct store_mailbox_list *list = NULL;
		CHECK(store_mailbox_list(u, &list) == 1);
		if (list != NULL) {
			const char *want[] = {"INBOX", "Drafts", "Sent",
			                      "Trash", "Junk",   "Archive"};
			uint32_t use[] = {0,
			                  STORE_SPECIAL_DRAFTS,
			                  STORE_SPECIAL_SENT,
			                  STORE_SPECIAL_TRASH,
			                  STORE_SPECIAL_JUNK,
			                  STORE_SPECIAL_ARCHIVE};
			for (int i = 0; i < 6; i++) {
				bool seen = false;
				for (size_t j = 0; j < list->count; j++) {
					if (strcmp(list->items[j].name, want[i]) != 0)
						continue;
					seen = true;
					CHECK((list->items[j].attrs & STORE_MBOX_SUBSCRIBED) != 0);
					CHECK((list->items[j].attrs & STORE_SPECIAL_MASK) ==
					      use[i]);
				}
				CHECK(seen);
			}
			store_mailbox_list_free(&list);
		}
		store_user_unref(&u);
	}

	CHECK(auth_account_add("alice@example.com", "x", NULL, NULL, &code, err, sizeof(err)) ==
	      -1);
	CHECK(code == AUTH_ERR_EXISTS);
	CHECK_STREQ(err, "alice@example.com already exists");
	CHECK(auth_account_add("bob@nowhere.net", "x", NULL, NULL, &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_NOUSER);
	CHECK_STREQ(err, "domain nowhere.net does not exist");
	CHECK(auth_account_add("not an address", "x", NULL, NULL, &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_INVALID);
	CHECK(auth_account_add("carol@example.com", "", NULL, NULL, &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_INVALID);
	CHECK(auth_account_add("carol@example.com", NULL, "plaintext", NULL, &code, err,
	                       sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_INVALID);
	CHECK(auth_account_add("carol@example.com", NULL, "$6$", NULL, &code, err, sizeof(err)) ==
	      -1);
	CHECK(code == AUTH_ERR_INVALID);

	CHECK(auth_account_get("ALICE@example.com", &a, err, sizeof(err)) == 1);
	CHECK(auth_account_get("alice", &a, err, sizeof(err)) == 1); /* default domain */
	CHECK(auth_account_get("nobody@example.com", &a, err, sizeof(err)) == 0);
}

TEST(imported_hash_logs_in)
{
	setup();
	char err[256];
	enum auth_err code;
	/* openssl passwd -6 -salt saltsalt pencil */
	const char *h = "$6$saltsalt$rD9fW1BwIrjB90WCgCTdIQc3phTBhf04I6Iw/XlgKD9E9aEbzqGZipjiFxGo/"
	                "4wWXDA6jV6/vZO.kKdDSfUJb0";
	struct auth_account a;
	CHECK(auth_account_add("imported@example.com", NULL, h, &a, &code, err, sizeof(err)) == 1);
	CHECK_STREQ(a.scheme, "sha512-crypt");
	struct auth_result r;
	CHECK(auth_verify_password("imported@example.com", "pencil", &imap_client, &r) == AUTH_OK);
	CHECK(auth_verify_password("imported@example.com", "Pencil", &imap_client, &r) ==
	      AUTH_FAILED);
	/* Setting a password replaces it with the configured scheme. */
	CHECK(auth_account_set_password("imported@example.com", "newpw", &code, err, sizeof(err)) ==
	      1);
	CHECK(auth_account_get("imported@example.com", &a, err, sizeof(err)) == 1);
	CHECK_STREQ(a.scheme, "sha256-crypt");
	CHECK(auth_verify_password("imported@example.com", "newpw", &imap_client, &r) == AUTH_OK);
	CHECK(auth_verify_password("imported@example.com", "pencil", &imap_client, &r) ==
	      AUTH_FAILED);
	auth_abuse_reset();
}

TEST(login_results)
{
	setup();
	auth_abuse_reset();
	add_user("dave@example.com", "davepw");
	struct auth_result r;
	CHECK(auth_verify_password("dave@example.com", "davepw", &imap_client, &r) == AUTH_OK);
	CHECK(r.account_id > 0);
	CHECK_STREQ(r.address, "dave@example.com");
	CHECK(r.user_key[0] == 'u');
	CHECK(!r.used_app_password);
	CHECK(r.delay_ms == 0);
	CHECK(r.pop3_dele == cfg->pop3_dele);

	/* Case and default domain. */
	CHECK(auth_verify_password("DAVE@EXAMPLE.COM", "davepw", &imap_client, &r) == AUTH_OK);
	CHECK(auth_verify_password("Dave", "davepw", &imap_client, &r) == AUTH_OK);
	CHECK_STREQ(r.address, "dave@example.com");

	/* Wrong password and unknown user look the same. */
	struct auth_result r2;
	CHECK(auth_verify_password("dave@example.com", "nope", &imap_client, &r) == AUTH_FAILED);
	CHECK(auth_verify_password("nobody@example.com", "nope", &imap_client, &r2) == AUTH_FAILED);
	CHECK_STREQ(r.message, r2.message);
	CHECK(r.account_id == 0 && r2.account_id == 0);
	CHECK(auth_verify_password("", "", &imap_client, &r) == AUTH_FAILED);
	CHECK(auth_verify_password("dave@example.com", "", &imap_client, &r) == AUTH_FAILED);
	auth_abuse_reset();

	/* Switches, checked only after the password. */
	const char *imap_off[] = {"imap=off"};
	enum auth_err code;
	char err[256];
	CHECK(auth_account_set("dave@example.com", imap_off, 1, &code, err, sizeof(err)) == 1);
	CHECK(auth_verify_password("dave@example.com", "davepw", &imap_client, &r) ==
	      AUTH_DISABLED_PROTOCOL);
	CHECK_STREQ(r.message,
	            "IMAP is turned off for this account; turn it on in your account settings");
	CHECK(auth_verify_password("dave@example.com", "wrong", &imap_client, &r) == AUTH_FAILED);
	CHECK(auth_verify_password("dave@example.com", "davepw", &pop3_client, &r) == AUTH_OK);
	const char *pop3_off[] = {"imap=on", "pop3=off"};
	CHECK(auth_account_set("dave@example.com", pop3_off, 2, &code, err, sizeof(err)) == 1);
	CHECK(auth_verify_password("dave@example.com", "davepw", &pop3_client, &r) ==
	      AUTH_DISABLED_PROTOCOL);
	CHECK_STREQ(r.message,
	            "POP3 is turned off for this account; turn it on in your account settings");
	CHECK(auth_verify_password("dave@example.com", "davepw", &imap_client, &r) == AUTH_OK);

	/* Disabled account. */
	const char *disable[] = {"state=disabled"};
	CHECK(auth_account_set("dave@example.com", disable, 1, &code, err, sizeof(err)) == 1);
	CHECK(auth_verify_password("dave@example.com", "davepw", &imap_client, &r) ==
	      AUTH_ACCOUNT_DISABLED);
	CHECK(auth_verify_password("dave@example.com", "bad", &imap_client, &r) == AUTH_FAILED);
	const char *enable[] = {"state=active", "pop3=on", "pop3_dele=keep", "pop3_offer_days=30"};
	CHECK(auth_account_set("dave@example.com", enable, 4, &code, err, sizeof(err)) == 1);
	CHECK(auth_verify_password("dave@example.com", "davepw", &pop3_client, &r) == AUTH_OK);
	CHECK(r.pop3_dele == POP3_DELE_KEEP);
	CHECK(r.pop3_offer_days == 30);
	auth_abuse_reset();
}

TEST(account_settings_validation)
{
	setup();
	add_user("erin@example.com", "erinpw");
	enum auth_err code;
	char err[256];
	struct auth_account a;
	const char *bad1[] = {"imap=maybe"};
	const char *bad2[] = {"quota=10Q"};
	const char *bad3[] = {"colour=blue"};
	const char *bad4[] = {"pop3_offer_days=-1"};
	const char *bad5[] = {"state=active", "pop3_dele=sometimes"};
	const char *bad6[] = {"noequals"};
	CHECK(auth_account_set("erin@example.com", bad1, 1, &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_INVALID);
	CHECK_STREQ(err, "imap: expected on or off, got 'maybe'");
	CHECK(auth_account_set("erin@example.com", bad2, 1, &code, err, sizeof(err)) == -1);
	CHECK(auth_account_set("erin@example.com", bad3, 1, &code, err, sizeof(err)) == -1);
	CHECK(auth_account_set("erin@example.com", bad4, 1, &code, err, sizeof(err)) == -1);
	CHECK(auth_account_set("erin@example.com", bad5, 2, &code, err, sizeof(err)) == -1);
	CHECK(auth_account_set("erin@example.com", bad6, 1, &code, err, sizeof(err)) == -1);
	/* Nothing of a refused batch was applied. */
	CHECK(auth_account_get("erin@example.com", &a, err, sizeof(err)) == 1);
	CHECK(a.state == AUTH_STATE_ACTIVE && a.pop3_dele == AUTH_POP3_DELE_DEFAULT);

	const char *good[] = {"quota=10G", "quota_messages=5000", "require_app_password=yes"};
	CHECK(auth_account_set("erin@example.com", good, 3, &code, err, sizeof(err)) == 1);
	CHECK(auth_account_get("erin@example.com", &a, err, sizeof(err)) == 1);
	CHECK(a.quota_bytes == 10ull << 30);
	CHECK(a.quota_messages == 5000);
	CHECK(a.require_app_password);
	/* The store got the quota too. */
	struct store_user *u = NULL;
	struct store_quota q;
	CHECK(store_user_open(a.user_key, &u) == 1);
	if (u != NULL) {
		CHECK(store_quota_get(u, &q) == 1);
		CHECK(q.bytes_limit == 10ull << 30);
		CHECK(q.messages_limit == 5000);
		store_user_unref(&u);
	}
	const char *unl[] = {"quota=unlimited"};
	CHECK(auth_account_set("erin@example.com", unl, 1, &code, err, sizeof(err)) == 1);
	CHECK(auth_account_get("erin@example.com", &a, err, sizeof(err)) == 1);
	CHECK(a.quota_bytes == 0);
	CHECK(auth_account_set("ghost@example.com", good, 1, &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_NOUSER);
}

static bool cb(void *ctx, const struct auth_app_password *p)
{
	struct {
		int n;
		struct auth_app_password p;
	} *seen = ctx;
	seen->n++;
	seen->p = *p;
	return true;
}

TEST(app_passwords)
{
	setup();
	auth_abuse_reset();
	add_user("fay@example.com", "faypw");
	char code[AUTH_APP_CODE_LEN + 1], err[256];
	struct auth_app_password info;
	enum auth_err ec;
	CHECK(auth_app_password_add("fay@example.com", "Thunderbird laptop", code, &info, &ec, err,
	                            sizeof(err)) == 1);
	CHECK(strlen(code) == 16);
	CHECK(info.id > 0);
	CHECK_STREQ(info.label, "Thunderbird laptop");

	struct auth_result r;
	CHECK(auth_verify_password("fay@example.com", code, &imap_client, &r) == AUTH_OK);
	CHECK(r.used_app_password);
	CHECK(r.app_password_id == info.id);
	char spaced[24];
	auth_app_code_format(code, spaced, sizeof(spaced));
	CHECK(auth_verify_password("fay@example.com", spaced, &pop3_client, &r) == AUTH_OK);
	CHECK(r.used_app_password);
	/* Not for the settings page. */
	CHECK(auth_verify_password("fay@example.com", code, &web_client, &r) == AUTH_FAILED);
	CHECK(auth_verify_password("fay@example.com", "faypw", &web_client, &r) == AUTH_OK);
	auth_abuse_reset();

	/* require_app_password: the account password is refused for mail. */
	const char *req[] = {"require_app_password=yes"};
	CHECK(auth_account_set("fay@example.com", req, 1, &ec, err, sizeof(err)) == 1);
	CHECK(auth_verify_password("fay@example.com", "faypw", &imap_client, &r) ==
	      AUTH_APP_PASSWORD_REQUIRED);
	CHECK(strstr(r.message, "app password") != NULL);
	CHECK(auth_verify_password("fay@example.com", code, &imap_client, &r) == AUTH_OK);
	CHECK(auth_verify_password("fay@example.com", "faypw", &web_client, &r) == AUTH_OK);

	/* The list shows last use. */
	struct seen {
		int n;
		struct auth_app_password p;
	} seen = {0};
	CHECK(auth_app_password_list("fay@example.com", cb, &seen, &ec, err, sizeof(err)) == 1);
	CHECK(seen.n == 1);
	CHECK(seen.p.last_used > 0);
	CHECK_STREQ(seen.p.last_protocol, "imap");
	CHECK_STREQ(seen.p.last_ip, "192.0.2.10");

	/* Revoke. */
	CHECK(auth_app_password_revoke("fay@example.com", info.id + 1000, &ec, err, sizeof(err)) ==
	      -1);
	CHECK(ec == AUTH_ERR_NOUSER);
	CHECK(auth_app_password_revoke("fay@example.com", info.id, &ec, err, sizeof(err)) == 1);
	CHECK(auth_verify_password("fay@example.com", code, &imap_client, &r) == AUTH_FAILED);
	CHECK(auth_app_password_add("fay@example.com", "", code, &info, &ec, err, sizeof(err)) ==
	      -1);
	CHECK(ec == AUTH_ERR_INVALID);
	CHECK(auth_app_password_add("ghost@example.com", "x", code, &info, &ec, err, sizeof(err)) ==
	      -1);
	CHECK(ec == AUTH_ERR_NOUSER);
	auth_abuse_reset();
}

TEST(aliases_and_recipients)
{
	setup();
	add_user("gus@example.com", "guspw");
	char err[256];
	enum auth_err code;
	CHECK(auth_alias_add("Postmaster@Example.com", "gus@example.com", &code, err,
	                     sizeof(err)) == 1);
	CHECK(auth_alias_add("postmaster@example.com", "gus@example.com", &code, err,
	                     sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_EXISTS);
	CHECK(auth_alias_add("gus@example.com", "gus@example.com", &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_EXISTS);
	CHECK(auth_alias_add("x@nowhere.net", "gus@example.com", &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_NOUSER);
	CHECK(auth_alias_add("y@example.com", "ghost@example.com", &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_NOUSER);
	/* Alias given as target resolves to the account (no chains). */
	CHECK(auth_alias_add("abuse@example.org", "postmaster@example.com", &code, err,
	                     sizeof(err)) == 1);

	struct auth_recipient r;
	CHECK(auth_lookup_recipient("gus@example.com", &r) == 1);
	CHECK_STREQ(r.address, "gus@example.com");
	CHECK(!r.via_alias && r.folder[0] == '\0' && r.active);
	CHECK(auth_lookup_recipient("GUS@EXAMPLE.COM", &r) == 1);
	CHECK(auth_lookup_recipient("gus", &r) == 1);
	CHECK(auth_lookup_recipient("POSTMASTER@example.com", &r) == 1);
	CHECK(r.via_alias);
	CHECK_STREQ(r.address, "gus@example.com");
	CHECK(auth_lookup_recipient("abuse@example.org", &r) == 1);
	CHECK_STREQ(r.address, "gus@example.com");

	/* Plus-addressing keeps the folder's case. */
	CHECK(auth_lookup_recipient("gus+Lists/Rust@example.com", &r) == 1);
	CHECK_STREQ(r.address, "gus@example.com");
	CHECK_STREQ(r.folder, "Lists/Rust");
	CHECK(auth_lookup_recipient("GUS+Work@Example.COM", &r) == 1);
	CHECK_STREQ(r.folder, "Work");
	CHECK(auth_lookup_recipient("postmaster+reports@example.com", &r) == 1);
	CHECK(r.via_alias);
	CHECK_STREQ(r.folder, "reports");
	CHECK(auth_lookup_recipient("gus+@example.com", &r) == 1);
	CHECK_STREQ(r.folder, "");
	CHECK(auth_lookup_recipient("+x@example.com", &r) == 0);
	CHECK(auth_lookup_recipient("nobody+x@example.com", &r) == 0);
	CHECK(auth_lookup_recipient("nobody@example.com", &r) == 0);
	CHECK(auth_lookup_recipient("not an address", &r) == 0);
	/* An account whose name contains '+' wins over plus-addressing. */
	add_user("h+i@example.com", "pw");
	CHECK(auth_lookup_recipient("h+i@example.com", &r) == 1);
	CHECK_STREQ(r.address, "h+i@example.com");
	CHECK_STREQ(r.folder, "");

	/* Disabled accounts are found but flagged. */
	const char *dis[] = {"state=disabled"};
	CHECK(auth_account_set("gus@example.com", dis, 1, &code, err, sizeof(err)) == 1);
	CHECK(auth_lookup_recipient("gus@example.com", &r) == 1);
	CHECK(!r.active);

	/* Logins through an alias work. */
	const char *en[] = {"state=active"};
	CHECK(auth_account_set("gus@example.com", en, 1, &code, err, sizeof(err)) == 1);
	struct auth_result ar;
	CHECK(auth_verify_password("postmaster@example.com", "guspw", &imap_client, &ar) ==
	      AUTH_OK);
	CHECK_STREQ(ar.address, "gus@example.com");

	CHECK(auth_alias_del("postmaster@example.com", &code, err, sizeof(err)) == 1);
	CHECK(auth_alias_del("postmaster@example.com", &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_NOUSER);
	CHECK(auth_lookup_recipient("postmaster@example.com", &r) == 0);
}

TEST(rename_keeps_identity)
{
	setup();
	add_user("ivy@example.com", "ivypw");
	char err[256];
	enum auth_err code;
	struct auth_account before, after;
	CHECK(auth_account_get("ivy@example.com", &before, err, sizeof(err)) == 1);
	CHECK(auth_alias_add("ivy.alias@example.com", "ivy@example.com", &code, err, sizeof(err)) ==
	      1);
	CHECK(auth_account_rename("ivy@example.com", "ivy@example.org", &code, err, sizeof(err)) ==
	      1);
	CHECK(auth_account_get("ivy@example.org", &after, err, sizeof(err)) == 1);
	CHECK(after.id == before.id);
	CHECK_STREQ(after.user_key, before.user_key);
	CHECK(auth_account_get("ivy@example.com", &after, err, sizeof(err)) == 0);
	struct auth_recipient r;
	CHECK(auth_lookup_recipient("ivy.alias@example.com", &r) == 1);
	CHECK_STREQ(r.address, "ivy@example.org");
	CHECK(auth_account_rename("ivy@example.org", "x@nowhere.net", &code, err, sizeof(err)) ==
	      -1);
	CHECK(code == AUTH_ERR_NOUSER);
	CHECK(auth_account_rename("ivy@example.org", "ivy.alias@example.com", &code, err,
	                          sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_EXISTS);
	CHECK(auth_account_rename("ghost@example.org", "g@example.org", &code, err, sizeof(err)) ==
	      -1);
	CHECK(code == AUTH_ERR_NOUSER);

	/* Delete takes aliases with it; ids are never reused. */
	struct auth_account del;
	CHECK(auth_account_del("ivy@example.org", &del, &code, err, sizeof(err)) == 1);
	CHECK(del.id == before.id);
	CHECK(auth_lookup_recipient("ivy.alias@example.com", &r) == 0);
	struct auth_account fresh;
	CHECK(auth_account_add("ivy@example.org", "pw", NULL, &fresh, &code, err, sizeof(err)) ==
	      1);
	CHECK(fresh.id > before.id);
	CHECK(auth_account_del("ivy@example.org", NULL, &code, err, sizeof(err)) == 1);
	CHECK(auth_account_del("ivy@example.org", NULL, &code, err, sizeof(err)) == -1);
	CHECK(code == AUTH_ERR_NOUSER);
}

/* A store left behind (accounts.db lost, mail kept) is never handed to a
 * new account: its name is skipped. */
TEST(leftover_store_is_skipped)
{
	setup();
	struct auth_account a, b;
	char err[256], key[32];
	enum auth_err code;
	CHECK(auth_account_add("left1@example.com", "pw", NULL, &a, &code, err, sizeof(err)) == 1);
	snprintf(key, sizeof(key), "u%lld", (long long)a.id + 1);
	CHECK(store_user_create(key) == 1);
	CHECK(auth_account_add("left2@example.com", "pw", NULL, &b, &code, err, sizeof(err)) == 1);
	CHECK(b.id == a.id + 2);
	snprintf(key, sizeof(key), "u%lld", (long long)b.id);
	CHECK_STREQ(b.user_key, key);
}

TEST(lockout_and_delays)
{
	setup();
	auth_abuse_reset();
	add_user("jack@example.com", "jackpw");
	struct auth_client c = {AUTH_PROTO_IMAP, "198.51.100.7", false, false};
	struct auth_result r;
	/* fail_delay_ms 100, doubling: 100 200 400 800, then locked at 5. */
	unsigned expect[] = {100, 200, 400, 800, 1600};
	for (int i = 0; i < 5; i++) {
		CHECK(auth_verify_password("jack@example.com", "bad", &c, &r) == AUTH_FAILED);
		CHECK(r.delay_ms == expect[i]);
	}
	/* Locked: even the right password is refused, without hashing. */
	CHECK(auth_verify_password("jack@example.com", "jackpw", &c, &r) == AUTH_LOCKED_OUT);
	CHECK(r.lockout_seconds > 0 && r.lockout_seconds <= 60);
	/* The login is locked from other addresses too... */
	struct auth_client c2 = {AUTH_PROTO_IMAP, "198.51.100.8", false, false};
	CHECK(auth_verify_password("jack@example.com", "jackpw", &c2, &r) == AUTH_LOCKED_OUT);
	/* ... and the address for other logins. */
	add_user("kim@example.com", "kimpw");
	CHECK(auth_verify_password("kim@example.com", "kimpw", &c, &r) == AUTH_LOCKED_OUT);
	CHECK(auth_verify_password("kim@example.com", "kimpw", &c2, &r) == AUTH_OK);
	auth_abuse_reset();
	CHECK(auth_verify_password("jack@example.com", "jackpw", &c, &r) == AUTH_OK);

	/* Unknown users are throttled alike. */
	for (int i = 0; i < 5; i++)
		CHECK(auth_verify_password("nosuch@example.com", "x", &c2, &r) == AUTH_FAILED);
	CHECK(auth_verify_password("nosuch@example.com", "x", &c2, &r) == AUTH_LOCKED_OUT);
	auth_abuse_reset();

	/* Success clears the counters. */
	CHECK(auth_verify_password("jack@example.com", "bad", &c, &r) == AUTH_FAILED);
	CHECK(auth_verify_password("jack@example.com", "bad", &c, &r) == AUTH_FAILED);
	CHECK(r.delay_ms == 200);
	CHECK(auth_verify_password("jack@example.com", "jackpw", &c, &r) == AUTH_OK);
	CHECK(auth_verify_password("jack@example.com", "bad", &c, &r) == AUTH_FAILED);
	CHECK(r.delay_ms == 100);

	/* Loopback: the address is never locked, the login is. */
	auth_abuse_reset();
	struct auth_client lo = {AUTH_PROTO_IMAP, "127.0.0.1", false, true};
	for (int i = 0; i < 6; i++)
		auth_verify_password("nosuch2@example.com", "x", &lo, &r);
	CHECK(auth_verify_password("jack@example.com", "jackpw", &lo, &r) == AUTH_OK);
	CHECK(auth_verify_password("nosuch2@example.com", "x", &lo, &r) == AUTH_LOCKED_OUT);
	auth_abuse_reset();
}

TEST(lockout_disabled)
{
	setup();
	auth_abuse_reset();
	cfg->auth_lockout_seconds = 0;
	struct auth_client c = {AUTH_PROTO_POP3, "198.51.100.99", false, false};
	struct auth_result r;
	add_user("nolock@example.com", "nolockpw");
	for (int i = 0; i < 8; i++)
		CHECK(auth_verify_password("nolock@example.com", "bad", &c, &r) == AUTH_FAILED);
	CHECK(r.delay_ms == 12800);
	CHECK(auth_verify_password("nolock@example.com", "nolockpw", &c, &r) == AUTH_OK);
	cfg->auth_lockout_seconds = 60;
	auth_abuse_reset();
}

TEST(delay_cap)
{
	setup();
	auth_abuse_reset();
	unsigned d = 0;
	cfg->auth_max_failures = 1000;
	for (int i = 0; i < 20; i++)
		d = auth_abuse_fail("203.0.113.1", false, "capped@example.com");
	CHECK(d == 15000);
	cfg->auth_max_failures = 5;
	auth_abuse_reset();
}

TEST(session_limit)
{
	setup();
	auth_abuse_reset();
	CHECK(auth_session_begin(424242) == 1);
	CHECK(auth_session_begin(424242) == 1);
	CHECK(auth_session_begin(424242) == 1);
	CHECK(auth_session_begin(424242) == 0);
	CHECK(auth_session_count(424242) == 3);
	CHECK(auth_session_begin(424243) == 1);
	auth_session_end(424242);
	CHECK(auth_session_begin(424242) == 1);
	for (int i = 0; i < 3; i++)
		auth_session_end(424242);
	auth_session_end(424242); /* extra end is harmless */
	CHECK(auth_session_count(424242) == 0);
	auth_session_end(424243);
	/* Id 0 (never an account) must not disturb the table. */
	CHECK(auth_session_begin(0) == 1);
	CHECK(auth_session_count(0) == 0);
	auth_session_end(0);
}

/* Many threads logging in at once (as the thread pool does): results
 * stay right and the session counts add up. */
struct thread_arg {
	int index;
	int ok, failed;
};

static void *login_thread(void *varg)
{
	struct thread_arg *a = varg;
	struct auth_client c = {AUTH_PROTO_IMAP, "10.0.0.1", true, true};
	char ip[32];
	snprintf(ip, sizeof(ip), "10.0.%d.1", a->index);
	c.remote_ip = ip;
	for (int i = 0; i < 20; i++) {
		struct auth_result r;
		bool right = (i + a->index) % 3 != 0;
		enum auth_status st =
		    auth_verify_password("conc@example.com", right ? "concpw" : "x", &c, &r);
		if (st == AUTH_OK && right) {
			a->ok++;
			if (auth_session_begin(r.account_id) == 1)
				auth_session_end(r.account_id);
		} else if (st == AUTH_FAILED && !right) {
			a->failed++;
		}
	}
	return NULL;
}

TEST(concurrent_logins)
{
	setup();
	auth_abuse_reset();
	unsigned saved = cfg->auth_max_failures;
	cfg->auth_max_failures = 100000;
	add_user("conc@example.com", "concpw");
	pthread_t t[8];
	struct thread_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i] = (struct thread_arg){i, 0, 0};
		CHECK(pthread_create(&t[i], NULL, login_thread, &args[i]) == 0);
	}
	int ok = 0, failed = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ok += args[i].ok;
		failed += args[i].failed;
	}
	int expect_ok = 0;
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 20; j++)
			expect_ok += (j + i) % 3 != 0;
	CHECK(ok == expect_ok);
	CHECK(failed == 8 * 20 - expect_ok);
	struct auth_account a;
	char err[256];
	CHECK(auth_account_get("conc@example.com", &a, err, sizeof(err)) == 1);
	CHECK(auth_session_count(a.id) == 0);
	cfg->auth_max_failures = saved;
	auth_abuse_reset();
}

TEST(plaintext_policy)
{
	setup();
	cfg->plaintext_auth = PLAINTEXT_AUTH_NEVER;
	CHECK(auth_plaintext_allowed(true, false));
	CHECK(!auth_plaintext_allowed(false, true));
	cfg->plaintext_auth = PLAINTEXT_AUTH_LOOPBACK;
	CHECK(auth_plaintext_allowed(false, true));
	CHECK(!auth_plaintext_allowed(false, false));
	cfg->plaintext_auth = PLAINTEXT_AUTH_ALWAYS;
	CHECK(auth_plaintext_allowed(false, false));
	cfg->plaintext_auth = PLAINTEXT_AUTH_LOOPBACK;
}

UNIT_MAIN()
