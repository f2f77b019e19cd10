/* The verified-credential cache: the cache object on its own (hits, TTL
 * with an injected clock, the bound and LRU order, the per-process HMAC
 * key, threads), then through auth_verify_password with a real accounts
 * database (what a hit may skip and what it may not). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "auth/auth-private.h"
#include "auth/auth.h"
#include "lib/config.h"
#include "lib/log.h"
#include "store/store.h"
#include "unit.h"

static int64_t fake_now = 1000;

static int64_t fake_clock(void)
{
	return fake_now;
}

static void digest_of(const char *s, unsigned char d[AUTH_CACHE_DIGEST_LEN])
{
	auth_cache_digest(s, strlen(s), d);
}

/* ------------------------------------------------------------------ */
/* the cache object */

TEST(hit_only_for_the_same_account_and_password)
{
	struct auth_cred_cache *c = auth_cred_cache_new(16);
	CHECK(c != NULL);
	unsigned char d[AUTH_CACHE_DIGEST_LEN], got[AUTH_CACHE_DIGEST_LEN];
	digest_of("$y$stored-hash", d);
	int64_t cred = -1;
	CHECK(auth_cred_cache_lookup(c, 7, "secret", 60, &cred, got) == 0);
	auth_cred_cache_put(c, 7, "secret", 0, d);
	CHECK(auth_cred_cache_count(c) == 1);
	CHECK(auth_cred_cache_lookup(c, 7, "secret", 60, &cred, got) == 1);
	CHECK(cred == 0);
	CHECK(memcmp(got, d, sizeof(d)) == 0);
	CHECK(auth_cred_cache_lookup(c, 7, "Secret", 60, &cred, got) == 0);
	CHECK(auth_cred_cache_lookup(c, 7, "secret ", 60, &cred, got) == 0);
	CHECK(auth_cred_cache_lookup(c, 7, "", 60, &cred, got) == 0);
	CHECK(auth_cred_cache_lookup(c, 8, "secret", 60, &cred, got) == 0);
	/* ttl 0: the cache is off. */
	CHECK(auth_cred_cache_lookup(c, 7, "secret", 0, &cred, got) == 0);

	/* Same pair again: replaced, not duplicated. */
	auth_cred_cache_put(c, 7, "secret", 42, d);
	CHECK(auth_cred_cache_count(c) == 1);
	CHECK(auth_cred_cache_lookup(c, 7, "secret", 60, &cred, got) == 1);
	CHECK(cred == 42);

	auth_cred_cache_remove(c, 7, "secret");
	CHECK(auth_cred_cache_count(c) == 0);
	CHECK(auth_cred_cache_lookup(c, 7, "secret", 60, &cred, got) == 0);
	auth_cred_cache_free(&c);
	CHECK(c == NULL);
	CHECK(auth_cred_cache_new(0) == NULL);
}

TEST(ttl_expiry_with_injected_clock)
{
	struct auth_cred_cache *c = auth_cred_cache_new(16);
	auth_cred_cache_set_clock(c, fake_clock);
	unsigned char d[AUTH_CACHE_DIGEST_LEN], got[AUTH_CACHE_DIGEST_LEN];
	digest_of("h", d);
	int64_t cred;
	fake_now = 1000;
	auth_cred_cache_put(c, 1, "pw", 0, d);
	fake_now = 1059;
	CHECK(auth_cred_cache_lookup(c, 1, "pw", 60, &cred, got) == 1);
	/* A hit does not extend the entry's life: it is counted from the
	 * verification, so a hash is redone at least every ttl seconds. */
	fake_now = 1060;
	CHECK(auth_cred_cache_lookup(c, 1, "pw", 60, &cred, got) == 0);
	CHECK(auth_cred_cache_count(c) == 0); /* dropped when found expired */
	/* A shorter TTL (a reload) applies to entries already stored. */
	auth_cred_cache_put(c, 1, "pw", 0, d);
	fake_now = 1100;
	CHECK(auth_cred_cache_lookup(c, 1, "pw", 3600, &cred, got) == 1);
	CHECK(auth_cred_cache_lookup(c, 1, "pw", 30, &cred, got) == 0);
	/* A clock that went backwards never makes an entry valid. */
	auth_cred_cache_put(c, 2, "pw", 0, d);
	fake_now = 900;
	CHECK(auth_cred_cache_lookup(c, 2, "pw", 3600, &cred, got) == 0);
	auth_cred_cache_free(&c);
}

TEST(bounded_with_lru_eviction)
{
	struct auth_cred_cache *c = auth_cred_cache_new(4);
	unsigned char d[AUTH_CACHE_DIGEST_LEN], got[AUTH_CACHE_DIGEST_LEN];
	digest_of("h", d);
	int64_t cred;
	for (int64_t id = 1; id <= 4; id++)
		auth_cred_cache_put(c, id, "pw", 0, d);
	CHECK(auth_cred_cache_count(c) == 4);
	/* Using 1 makes 2 the least recently used. */
	CHECK(auth_cred_cache_lookup(c, 1, "pw", 60, &cred, got) == 1);
	auth_cred_cache_put(c, 5, "pw", 0, d);
	CHECK(auth_cred_cache_count(c) == 4);
	CHECK(auth_cred_cache_lookup(c, 2, "pw", 60, &cred, got) == 0);
	for (int64_t id = 1; id <= 5; id++)
		if (id != 2)
			CHECK(auth_cred_cache_lookup(c, id, "pw", 60, &cred, got) == 1);

	/* Churn: removals, expiries and inserts never exceed the bound and
	 * never lose a live entry that was used last. */
	for (int i = 0; i < 5000; i++) {
		int64_t id = 100 + (i * 7919) % 37;
		if (i % 3 == 0)
			auth_cred_cache_remove(c, id, "pw");
		else
			auth_cred_cache_put(c, id, "pw", i, d);
		CHECK(auth_cred_cache_count(c) <= 4);
	}
	auth_cred_cache_put(c, 999, "last", 9, d);
	CHECK(auth_cred_cache_lookup(c, 999, "last", 60, &cred, got) == 1);
	CHECK(cred == 9);
	auth_cred_cache_clear(c);
	CHECK(auth_cred_cache_count(c) == 0);
	CHECK(auth_cred_cache_lookup(c, 999, "last", 60, &cred, got) == 0);
	for (int64_t id = 1; id <= 10; id++)
		auth_cred_cache_put(c, id, "pw", 0, d);
	CHECK(auth_cred_cache_count(c) == 4);
	auth_cred_cache_free(&c);
}

TEST(hmac_key_is_random_per_cache_and_per_process)
{
	struct auth_cred_cache *a = auth_cred_cache_new(4), *b = auth_cred_cache_new(4);
	unsigned char ma[AUTH_CACHE_MAC_LEN], ma2[AUTH_CACHE_MAC_LEN], mb[AUTH_CACHE_MAC_LEN];
	auth_cred_cache_mac(a, 1, "secret", ma);
	auth_cred_cache_mac(a, 1, "secret", ma2);
	auth_cred_cache_mac(b, 1, "secret", mb);
	CHECK(memcmp(ma, ma2, sizeof(ma)) == 0);
	CHECK(memcmp(ma, mb, sizeof(ma)) != 0);
	/* Not a plain hash of the password, and bound to the account. */
	unsigned char plain[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)"secret", 6, plain);
	CHECK(memcmp(ma, plain, sizeof(plain)) != 0);
	auth_cred_cache_mac(a, 2, "secret", ma2);
	CHECK(memcmp(ma, ma2, sizeof(ma)) != 0);

	/* Another process (as a restarted roostd) draws its own key. */
	int p[2];
	CHECK(pipe(p) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct auth_cred_cache *cc = auth_cred_cache_new(4);
		unsigned char m[AUTH_CACHE_MAC_LEN];
		auth_cred_cache_mac(cc, 1, "secret", m);
		_exit(write(p[1], m, sizeof(m)) == (ssize_t)sizeof(m) ? 0 : 1);
	}
	unsigned char mc[AUTH_CACHE_MAC_LEN];
	CHECK(read(p[0], mc, sizeof(mc)) == (ssize_t)sizeof(mc));
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(memcmp(ma, mc, sizeof(ma)) != 0);
	CHECK(memcmp(mb, mc, sizeof(mb)) != 0);
	close(p[0]);
	close(p[1]);
	auth_cred_cache_free(&a);
	auth_cred_cache_free(&b);
}

struct churn_arg {
	struct auth_cred_cache *c;
	int64_t base;
	int hits;
};

static void *churn(void *arg)
{
	struct churn_arg *a = arg;
	unsigned char d[AUTH_CACHE_DIGEST_LEN], got[AUTH_CACHE_DIGEST_LEN];
	digest_of("h", d);
	int64_t cred;
	for (int i = 0; i < 20000; i++) {
		int64_t id = a->base + (i / 2) % 50; /* put at 2k, looked up at 2k+1 */
		if (i % 5 == 0)
			auth_cred_cache_remove(a->c, id, "pw");
		else if (i % 2 == 0)
			auth_cred_cache_put(a->c, id, "pw", id, d);
		else if (auth_cred_cache_lookup(a->c, id, "pw", 60, &cred, got) == 1)
			a->hits += cred == id && memcmp(got, d, sizeof(d)) == 0;
	}
	return NULL;
}

TEST(threads_share_one_cache)
{
	struct auth_cred_cache *c = auth_cred_cache_new(64);
	pthread_t t[4];
	struct churn_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (struct churn_arg){c, 1000 * (i % 2), 0};
		pthread_create(&t[i], NULL, churn, &args[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK(auth_cred_cache_count(c) <= 64);
	for (int i = 0; i < 4; i++)
		CHECK(args[i].hits > 0);
	auth_cred_cache_free(&c);
}

/* ------------------------------------------------------------------ */
/* through auth_verify_password */

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
	snprintf(dir, sizeof(dir), "/tmp/roost-test-cache-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	cfg = config_new_defaults();
	free(cfg->data_dir);
	cfg->data_dir = strdup(dir);
	free(cfg->default_domain);
	cfg->default_domain = strdup("example.com");
	free(cfg->password_scheme);
	cfg->password_scheme = strdup("sha256-crypt"); /* fast enough for tests */
	cfg->auth_fail_delay_ms = 100;
	cfg->auth_max_failures = 3;
	cfg->auth_lockout_seconds = 60;
	cfg->auth_cache_ttl = 3600;
	roost_config = cfg;
	atexit(cleanup);
	log_set_level(LOG_LVL_ERROR);
	char err[256];
	enum auth_err code;
	if (store_init(dir, err, sizeof(err)) < 0 || auth_init(cfg, err, sizeof(err)) < 0 ||
	    auth_domain_add("example.com", &code, err, sizeof(err)) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		abort();
	}
}

/* Each test has its own client IP so lock-outs of one do not leak. */
static struct auth_client client_for(enum auth_protocol proto, const char *ip)
{
	return (struct auth_client){proto, ip, true, false};
}

static void add_user(const char *addr, const char *pw)
{
	char err[256];
	enum auth_err code;
	int r = auth_account_add(addr, pw, NULL, NULL, &code, err, sizeof(err));
	if (r != 1)
		fprintf(stderr, "add_user %s: %s\n", addr, err);
	CHECK(r == 1);
}

static void set_pair(const char *addr, const char *pair)
{
	char err[256];
	enum auth_err code;
	const char *pairs[1] = {pair};
	CHECK(auth_account_set(addr, pairs, 1, &code, err, sizeof(err)) == 1);
}

/* Stores an entry claiming `password` verified against the account's
 * current password hash, without it ever having been checked. */
static void forge_entry(const char *addr, const char *password, bool right_digest)
{
	struct auth_login_row row;
	char err[256];
	CHECK(auth_login_lookup(addr, &row, err, sizeof(err)) == 1);
	unsigned char d[AUTH_CACHE_DIGEST_LEN];
	digest_of(right_digest ? row.password_hash : "$6$not-the-stored-hash", d);
	auth_cred_cache_put(auth_login_cache(), row.account.id, password, 0, d);
}

static int64_t account_id(const char *addr)
{
	struct auth_account a;
	char err[256];
	CHECK(auth_account_get(addr, &a, err, sizeof(err)) == 1);
	return a.id;
}

static bool cached(const char *addr, const char *password)
{
	int64_t cred;
	unsigned char d[AUTH_CACHE_DIGEST_LEN];
	return auth_cred_cache_lookup(auth_login_cache(), account_id(addr), password, 3600, &cred,
				      d) == 1;
}

TEST(success_is_cached_failure_is_not)
{
	setup();
	add_user("ann@example.com", "ann-pw");
	struct auth_client cl = client_for(AUTH_PROTO_IMAP, "192.0.2.1");
	struct auth_result r;
	CHECK(auth_verify_password("ann@example.com", "wrong", &cl, &r) == AUTH_FAILED);
	CHECK(!cached("ann@example.com", "wrong"));
	CHECK(!cached("ann@example.com", "ann-pw"));
	CHECK(auth_verify_password("ann", "ann-pw", &cl, &r) == AUTH_OK);
	CHECK(cached("ann@example.com", "ann-pw"));
	CHECK(auth_verify_password("ANN@example.com", "ann-pw", &cl, &r) == AUTH_OK);
	CHECK_STREQ(r.address, "ann@example.com");
	CHECK(!r.used_app_password);
	CHECK(auth_verify_password("ann@example.com", "ann-pw ", &cl, &r) == AUTH_FAILED);
}

/* What makes a hit skip the hash is observable only by forging an entry:
 * a password that never verified is accepted if the cache vouches for it
 * with the digest of the current hash, and refused (and the entry dropped)
 * when the digest belongs to another hash. */
TEST(hit_skips_the_hash_only_while_the_stored_hash_is_unchanged)
{
	setup();
	add_user("bob@example.com", "bob-pw");
	struct auth_client cl = client_for(AUTH_PROTO_IMAP, "192.0.2.2");
	struct auth_result r;
	forge_entry("bob@example.com", "forged", true);
	CHECK(auth_verify_password("bob@example.com", "forged", &cl, &r) == AUTH_OK);
	forge_entry("bob@example.com", "forged2", false);
	CHECK(auth_verify_password("bob@example.com", "forged2", &cl, &r) == AUTH_FAILED);
	CHECK(!cached("bob@example.com", "forged2"));
	auth_cred_cache_remove(auth_login_cache(), account_id("bob@example.com"), "forged");
}

TEST(password_change_refuses_the_old_password_at_once)
{
	setup();
	add_user("cat@example.com", "old-pw");
	struct auth_client cl = client_for(AUTH_PROTO_IMAP, "192.0.2.3");
	struct auth_result r;
	CHECK(auth_verify_password("cat@example.com", "old-pw", &cl, &r) == AUTH_OK);
	CHECK(cached("cat@example.com", "old-pw"));
	char err[256];
	enum auth_err code;
	CHECK(auth_account_set_password("cat@example.com", "new-pw", &code, err, sizeof(err)) == 1);
	CHECK(auth_verify_password("cat@example.com", "old-pw", &cl, &r) == AUTH_FAILED);
	CHECK(!cached("cat@example.com", "old-pw"));
	CHECK(auth_verify_password("cat@example.com", "new-pw", &cl, &r) == AUTH_OK);
	/* Set back to the same password: a new hash (new salt), so the entry
	 * of the first one is stale, and the login still works. */
	CHECK(auth_account_set_password("cat@example.com", "new-pw", &code, err, sizeof(err)) == 1);
	CHECK(auth_verify_password("cat@example.com", "new-pw", &cl, &r) == AUTH_OK);
}

TEST(revoked_app_password_is_refused_at_once)
{
	setup();
	add_user("dan@example.com", "dan-pw");
	char appcode[AUTH_APP_CODE_LEN + 1], err[256];
	struct auth_app_password info;
	enum auth_err code;
	CHECK(auth_app_password_add("dan@example.com", "phone", appcode, &info, &code, err,
				    sizeof(err)) == 1);
	struct auth_client cl = client_for(AUTH_PROTO_IMAP, "192.0.2.4");
	struct auth_result r;
	CHECK(auth_verify_password("dan@example.com", appcode, &cl, &r) == AUTH_OK);
	CHECK(r.used_app_password && r.app_password_id == info.id);
	CHECK(cached("dan@example.com", appcode));
	/* A hit still reports the app password (policy and last-use). */
	CHECK(auth_verify_password("dan@example.com", appcode, &cl, &r) == AUTH_OK);
	CHECK(r.used_app_password && r.app_password_id == info.id);
	/* App passwords are for mail protocols only, cached or not. */
	struct auth_client web = client_for(AUTH_PROTO_WEB, "192.0.2.4");
	CHECK(auth_verify_password("dan@example.com", appcode, &web, &r) == AUTH_FAILED);
	CHECK(auth_app_password_revoke("dan@example.com", info.id, &code, err, sizeof(err)) == 1);
	CHECK(auth_verify_password("dan@example.com", appcode, &cl, &r) == AUTH_FAILED);
	CHECK(!cached("dan@example.com", appcode));
	CHECK(auth_verify_password("dan@example.com", "dan-pw", &cl, &r) == AUTH_OK);
}

TEST(state_policy_and_switches_still_apply_on_a_hit)
{
	setup();
	add_user("eve@example.com", "eve-pw");
	struct auth_client cl = client_for(AUTH_PROTO_IMAP, "192.0.2.5");
	struct auth_result r;
	CHECK(auth_verify_password("eve@example.com", "eve-pw", &cl, &r) == AUTH_OK);
	CHECK(cached("eve@example.com", "eve-pw"));
	set_pair("eve@example.com", "state=disabled");
	CHECK(auth_verify_password("eve@example.com", "eve-pw", &cl, &r) == AUTH_ACCOUNT_DISABLED);
	set_pair("eve@example.com", "state=active");
	set_pair("eve@example.com", "imap=off");
	CHECK(auth_verify_password("eve@example.com", "eve-pw", &cl, &r) ==
	      AUTH_DISABLED_PROTOCOL);
	set_pair("eve@example.com", "imap=on");
	set_pair("eve@example.com", "require_app_password=yes");
	CHECK(auth_verify_password("eve@example.com", "eve-pw", &cl, &r) ==
	      AUTH_APP_PASSWORD_REQUIRED);
	struct auth_client web = client_for(AUTH_PROTO_WEB, "192.0.2.5");
	CHECK(auth_verify_password("eve@example.com", "eve-pw", &web, &r) == AUTH_OK);
	set_pair("eve@example.com", "require_app_password=no");
	CHECK(auth_verify_password("eve@example.com", "eve-pw", &cl, &r) == AUTH_OK);
}

TEST(lockout_applies_before_the_cache)
{
	setup();
	add_user("fay@example.com", "fay-pw");
	struct auth_client cl = client_for(AUTH_PROTO_IMAP, "192.0.2.6");
	struct auth_result r;
	CHECK(auth_verify_password("fay@example.com", "fay-pw", &cl, &r) == AUTH_OK);
	CHECK(cached("fay@example.com", "fay-pw"));
	unsigned last_delay = 0;
	for (unsigned i = 0; i < cfg->auth_max_failures; i++) {
		CHECK(auth_verify_password("fay@example.com", "bad", &cl, &r) == AUTH_FAILED);
		CHECK(r.delay_ms > last_delay); /* the delays grow as before */
		last_delay = r.delay_ms;
	}
	CHECK(auth_verify_password("fay@example.com", "fay-pw", &cl, &r) == AUTH_LOCKED_OUT);
	auth_abuse_reset();
	CHECK(auth_verify_password("fay@example.com", "fay-pw", &cl, &r) == AUTH_OK);
}

TEST(ttl_through_logins_and_zero_turns_the_cache_off)
{
	setup();
	add_user("gus@example.com", "gus-pw");
	struct auth_client cl = client_for(AUTH_PROTO_POP3, "192.0.2.7");
	struct auth_result r;
	auth_cred_cache_set_clock(auth_login_cache(), fake_clock);
	fake_now = 5000;
	cfg->auth_cache_ttl = 60;
	auth_set_config(cfg);
	forge_entry("gus@example.com", "forged", true);
	fake_now = 5059;
	CHECK(auth_verify_password("gus@example.com", "forged", &cl, &r) == AUTH_OK);
	fake_now = 5060;
	CHECK(auth_verify_password("gus@example.com", "forged", &cl, &r) == AUTH_FAILED);

	CHECK(auth_verify_password("gus@example.com", "gus-pw", &cl, &r) == AUTH_OK);
	CHECK(auth_cred_cache_count(auth_login_cache()) > 0);
	cfg->auth_cache_ttl = 0;
	auth_set_config(cfg);
	CHECK(auth_cred_cache_count(auth_login_cache()) == 0);
	CHECK(auth_verify_password("gus@example.com", "gus-pw", &cl, &r) == AUTH_OK);
	CHECK(auth_cred_cache_count(auth_login_cache()) == 0);
	forge_entry("gus@example.com", "forged", true);
	CHECK(auth_verify_password("gus@example.com", "forged", &cl, &r) == AUTH_FAILED);

	cfg->auth_cache_ttl = 3600;
	auth_set_config(cfg);
	auth_cred_cache_set_clock(auth_login_cache(), NULL);
	auth_cred_cache_clear(auth_login_cache());
}

UNIT_MAIN()
