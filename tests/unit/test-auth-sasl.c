/* SASL mechanisms: PLAIN, LOGIN, SCRAM-SHA-256 (RFC 7677's example
 * exchange replayed byte for byte, and a client written here). */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth-private.h"
#include "auth/auth.h"
#include "auth/sasl.h"
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

static void add_user(const char *addr, const char *pw)
{
	char err[256];
	enum auth_err code;
	if (auth_account_add(addr, pw, NULL, NULL, &code, err, sizeof(err)) != 1) {
		fprintf(stderr, "add %s: %s\n", addr, err);
		abort();
	}
}

static void setup(void)
{
	if (cfg != NULL)
		return;
	snprintf(dir, sizeof(dir), "/tmp/roost-test-sasl-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	cfg = config_new_defaults();
	free(cfg->data_dir);
	cfg->data_dir = strdup(dir);
	free(cfg->default_domain);
	cfg->default_domain = strdup("example.com");
	free(cfg->password_scheme);
	cfg->password_scheme = strdup("sha256-crypt");
	cfg->auth_max_failures = 1000;
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
	add_user("bob@example.com", "bobpw");
	add_user("user@example.com", "placeholder");

	/* Give user@example.com the salt and keys of RFC 7677's example. */
	unsigned char salt[16];
	sasl_base64_decode(str_c("W22ZaJ0SNY7soEsUEjb6gQ=="), salt, sizeof(salt));
	struct scram_keys k;
	auth_scram_derive("pencil", salt, 16, 4096, &k);
	sqlite3_stmt *st =
	    auth_db_prepare("UPDATE accounts SET scram_salt = ?, scram_stored_key = ?,"
	                    " scram_server_key = ? WHERE address = 'user@example.com'",
	                    NULL, 0);
	sqlite3_bind_blob(st, 1, salt, 16, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 2, k.stored_key, 32, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 3, k.server_key, 32, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		abort();
	sqlite3_finalize(st);
}

static const struct auth_client imap = {AUTH_PROTO_IMAP, "192.0.2.20", true, false};

static enum sasl_step_status step_str(struct sasl_session *s, const char *data, size_t len,
                                      struct str *ch)
{
	struct str resp = str_make(data, len);
	return sasl_step(s, &resp, ch);
}

/* ------------------------------------------------------------------ */

TEST(plain_ok_and_failures)
{
	setup();
	struct str ch;
	struct sasl_session *s = sasl_session_new("plain", &imap);
	CHECK(s != NULL);
	CHECK_STREQ(sasl_mech_name(s), "PLAIN");
	CHECK(step_str(s, "\0bob@example.com\0bobpw", 22, &ch) == SASL_STEP_DONE);
	CHECK(sasl_result(s)->status == AUTH_OK);
	CHECK_STREQ(sasl_result(s)->address, "bob@example.com");
	sasl_session_free(&s);
	CHECK(s == NULL);

	/* authzid equal to authcid (any case) is fine. */
	s = sasl_session_new("PLAIN", &imap);
	CHECK(step_str(s, "Bob@Example.com\0bob\0bobpw", 25, &ch) == SASL_STEP_DONE);
	CHECK(sasl_result(s)->status == AUTH_OK);
	sasl_session_free(&s);

	/* A different authzid is refused even with the right password. */
	s = sasl_session_new("PLAIN", &imap);
	CHECK(step_str(s, "admin@example.com\0bob@example.com\0bobpw", 39, &ch) == SASL_STEP_DONE);
	CHECK(sasl_result(s)->status == AUTH_FAILED);
	CHECK(strstr(sasl_result(s)->message, "authorization identity") != NULL);
	sasl_session_free(&s);

	/* Wrong password. */
	s = sasl_session_new("PLAIN", &imap);
	CHECK(step_str(s, "\0bob@example.com\0bobpx", 22, &ch) == SASL_STEP_DONE);
	CHECK(sasl_result(s)->status == AUTH_FAILED);
	sasl_session_free(&s);

	/* Malformed: no NUL, one NUL, three NULs, empty authcid. */
	const struct {
		const char *p;
		size_t len;
	} bad[] = {
	    {"bobbobpw", 8},
	    {"bob\0bobpw", 9},
	    {"\0bob\0bob\0pw", 11},
	    {"\0\0bobpw", 7},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = sasl_session_new("PLAIN", &imap);
		CHECK(step_str(s, bad[i].p, bad[i].len, &ch) == SASL_STEP_ERROR);
		CHECK(strstr(sasl_error_message(s), "PLAIN") != NULL);
		sasl_session_free(&s);
	}

	/* No initial response: empty challenge first. */
	s = sasl_session_new("PLAIN", &imap);
	CHECK(sasl_step(s, NULL, &ch) == SASL_STEP_CHALLENGE);
	CHECK(ch.len == 0);
	CHECK(step_str(s, "\0bob\0bobpw", 10, &ch) == SASL_STEP_DONE);
	CHECK(sasl_result(s)->status == AUTH_OK);
	sasl_session_free(&s);

	/* Empty initial response ("=" in IMAP) is malformed, not a request
	 * for a challenge. */
	s = sasl_session_new("PLAIN", &imap);
	CHECK(step_str(s, "", 0, &ch) == SASL_STEP_ERROR);
	sasl_session_free(&s);
	auth_abuse_reset();
}

TEST(login_mechanism)
{
	setup();
	struct str ch;
	struct sasl_session *s = sasl_session_new("LOGIN", &imap);
	CHECK(sasl_step(s, NULL, &ch) == SASL_STEP_CHALLENGE);
	CHECK_MEMEQ(ch.p, ch.len, "Username:", 9);
	CHECK(step_str(s, "bob@example.com", 15, &ch) == SASL_STEP_CHALLENGE);
	CHECK_MEMEQ(ch.p, ch.len, "Password:", 9);
	CHECK(step_str(s, "bobpw", 5, &ch) == SASL_STEP_DONE);
	CHECK(sasl_result(s)->status == AUTH_OK);
	sasl_session_free(&s);

	/* Initial response = user name. */
	s = sasl_session_new("login", &imap);
	CHECK(step_str(s, "bob", 3, &ch) == SASL_STEP_CHALLENGE);
	CHECK_MEMEQ(ch.p, ch.len, "Password:", 9);
	CHECK(step_str(s, "wrong", 5, &ch) == SASL_STEP_DONE);
	CHECK(sasl_result(s)->status == AUTH_FAILED);
	CHECK(sasl_result(s)->delay_ms > 0);
	sasl_session_free(&s);

	/* NUL in the user name. */
	s = sasl_session_new("LOGIN", &imap);
	CHECK(step_str(s, "bo\0b", 4, &ch) == SASL_STEP_ERROR);
	sasl_session_free(&s);
	auth_abuse_reset();
}

/* RFC 7677 3, replayed exactly with the RFC's server nonce. */
TEST(scram_rfc7677_exchange)
{
	setup();
	struct str ch;
	struct sasl_session *s = sasl_session_new("SCRAM-SHA-256", &imap);
	sasl_session_set_test_nonce(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	const char *c1 = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
	CHECK(step_str(s, c1, strlen(c1), &ch) == SASL_STEP_CHALLENGE);
	const char *s1 = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	                 "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
	CHECK_MEMEQ(ch.p, ch.len, s1, strlen(s1));
	const char *c2 = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	                 "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	CHECK(step_str(s, c2, strlen(c2), &ch) == SASL_STEP_CHALLENGE);
	const char *s2 = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
	CHECK_MEMEQ(ch.p, ch.len, s2, strlen(s2));
	CHECK(step_str(s, "", 0, &ch) == SASL_STEP_DONE);
	CHECK(sasl_result(s)->status == AUTH_OK);
	CHECK_STREQ(sasl_result(s)->address, "user@example.com");
	sasl_session_free(&s);

	/* The same with a wrong proof fails. */
	s = sasl_session_new("SCRAM-SHA-256", &imap);
	sasl_session_set_test_nonce(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	CHECK(step_str(s, c1, strlen(c1), &ch) == SASL_STEP_CHALLENGE);
	const char *c2bad = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	                    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVA=";
	CHECK(step_str(s, c2bad, strlen(c2bad), &ch) == SASL_STEP_DONE);
	CHECK(sasl_result(s)->status == AUTH_FAILED);
	sasl_session_free(&s);
	auth_abuse_reset();
}

/* A SCRAM-SHA-256 client, written from RFC 5802 3 independently of the
 * server code. Returns the server's final status. */
static enum auth_status scram_client(const char *user, const char *password, const char *gs2,
                                     bool *server_verified)
{
	struct str ch;
	struct sasl_session *s = sasl_session_new("SCRAM-SHA-256", &imap);
	char first[256];
	snprintf(first, sizeof(first), "%sn=%s,r=clientnonce123", gs2, user);
	const char *bare = first + strlen(gs2);
	enum auth_status result = AUTH_TEMPFAIL;
	*server_verified = false;
	if (step_str(s, first, strlen(first), &ch) != SASL_STEP_CHALLENGE) {
		result = sasl_result(s)->status;
		goto out;
	}
	char server_first[256];
	snprintf(server_first, sizeof(server_first), "%.*s", (int)ch.len, ch.p);
	/* r=<nonce>,s=<salt>,i=<n> */
	char nonce[128], salt64[64];
	unsigned iter = 0;
	if (sscanf(server_first, "r=%127[^,],s=%63[^,],i=%u", nonce, salt64, &iter) != 3)
		goto out;
	CHECK(strncmp(nonce, "clientnonce123", 14) == 0);
	unsigned char salt[64];
	long saltlen = sasl_base64_decode(str_c(salt64), salt, sizeof(salt));
	unsigned char salted[32], ckey[32], stored[32], skey[32], csig[32], ssig[32], proof[32];
	PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)saltlen, (int)iter,
	                  EVP_sha256(), 32, salted);
	unsigned int len;
	HMAC(EVP_sha256(), salted, 32, (const unsigned char *)"Client Key", 10, ckey, &len);
	SHA256(ckey, 32, stored);
	HMAC(EVP_sha256(), salted, 32, (const unsigned char *)"Server Key", 10, skey, &len);
	char cb64[64];
	sasl_base64_encode(gs2, strlen(gs2), cb64, sizeof(cb64));
	char without_proof[256];
	snprintf(without_proof, sizeof(without_proof), "c=%s,r=%s", cb64, nonce);
	char am[1024];
	snprintf(am, sizeof(am), "%s,%s,%s", bare, server_first, without_proof);
	HMAC(EVP_sha256(), stored, 32, (const unsigned char *)am, strlen(am), csig, &len);
	for (int i = 0; i < 32; i++)
		proof[i] = ckey[i] ^ csig[i];
	char proof64[64], final[512];
	sasl_base64_encode(proof, 32, proof64, sizeof(proof64));
	snprintf(final, sizeof(final), "%s,p=%s", without_proof, proof64);
	enum sasl_step_status st = step_str(s, final, strlen(final), &ch);
	if (st == SASL_STEP_CHALLENGE) {
		HMAC(EVP_sha256(), skey, 32, (const unsigned char *)am, strlen(am), ssig, &len);
		char v[64] = "v=";
		sasl_base64_encode(ssig, 32, v + 2, sizeof(v) - 2);
		*server_verified = ch.len == strlen(v) && memcmp(ch.p, v, ch.len) == 0;
		st = step_str(s, "", 0, &ch);
	}
	if (st == SASL_STEP_DONE)
		result = sasl_result(s)->status;
out:
	sasl_session_free(&s);
	return result;
}

TEST(scram_with_client)
{
	setup();
	bool verified;
	CHECK(scram_client("bob@example.com", "bobpw", "n,,", &verified) == AUTH_OK);
	CHECK(verified);
	CHECK(scram_client("bob", "bobpw", "y,,", &verified) == AUTH_OK);
	CHECK(verified);
	CHECK(scram_client("bob", "bobpw", "n,a=bob@example.com,", &verified) == AUTH_OK);
	CHECK(scram_client("bob", "bobpw", "n,a=eve@example.com,", &verified) == AUTH_FAILED);
	CHECK(scram_client("bob@example.com", "wrong", "n,,", &verified) == AUTH_FAILED);
	CHECK(!verified);
	CHECK(scram_client("nobody@example.com", "x", "n,,", &verified) == AUTH_FAILED);

	/* App passwords work with SCRAM, typed with or without spaces. */
	char code[AUTH_APP_CODE_LEN + 1], spaced[24], err[256];
	enum auth_err ec;
	CHECK(auth_app_password_add("bob@example.com", "phone", code, NULL, &ec, err,
	                            sizeof(err)) == 1);
	auth_app_code_format(code, spaced, sizeof(spaced));
	CHECK(scram_client("bob@example.com", code, "n,,", &verified) == AUTH_OK);
	CHECK(verified);
	CHECK(scram_client("bob@example.com", spaced, "n,,", &verified) == AUTH_OK);
	CHECK(verified);

	/* require_app_password refuses the account password over SCRAM. */
	const char *req[] = {"require_app_password=yes"};
	CHECK(auth_account_set("bob@example.com", req, 1, &ec, err, sizeof(err)) == 1);
	CHECK(scram_client("bob@example.com", "bobpw", "n,,", &verified) ==
	      AUTH_APP_PASSWORD_REQUIRED);
	CHECK(scram_client("bob@example.com", code, "n,,", &verified) == AUTH_OK);
	const char *unreq[] = {"require_app_password=no"};
	CHECK(auth_account_set("bob@example.com", unreq, 1, &ec, err, sizeof(err)) == 1);

	/* A password change keeps app passwords (same salt). */
	CHECK(auth_account_set_password("bob@example.com", "newbobpw", &ec, err, sizeof(err)) == 1);
	CHECK(scram_client("bob@example.com", "newbobpw", "n,,", &verified) == AUTH_OK);
	CHECK(scram_client("bob@example.com", "bobpw", "n,,", &verified) == AUTH_FAILED);
	CHECK(scram_client("bob@example.com", code, "n,,", &verified) == AUTH_OK);
	auth_abuse_reset();
}

TEST(scram_unknown_user_looks_normal)
{
	setup();
	struct str ch;
	char first[2][256];
	for (int i = 0; i < 2; i++) {
		struct sasl_session *s = sasl_session_new("SCRAM-SHA-256", &imap);
		/* Same account in another spelling: same salt, as for real ones. */
		const char *c1 = i ? "n,,n=Ghost,r=abc" : "n,,n=ghost@example.com,r=abc";
		CHECK(step_str(s, c1, strlen(c1), &ch) == SASL_STEP_CHALLENGE);
		snprintf(first[i], sizeof(first[i]), "%.*s", (int)ch.len, ch.p);
		sasl_session_free(&s);
	}
	/* Same salt both times (nonces differ), iteration count 4096. */
	const char *salt0 = strstr(first[0], ",s="), *salt1 = strstr(first[1], ",s=");
	CHECK(salt0 != NULL && salt1 != NULL);
	if (salt0 && salt1)
		CHECK_STREQ(salt0, salt1);
	CHECK(strstr(first[0], ",i=4096") != NULL);
}

TEST(scram_malformed)
{
	setup();
	struct str ch;
	const char *bad_first[] = {
	    "p=tls-unique,,n=bob,r=abc", /* channel binding */
	    "x,,n=bob,r=abc",            /* bad flag */
	    "n,,m=ext,n=bob,r=abc",      /* mandatory extension */
	    "n,,n=,r=abc",               /* empty user */
	    "n,,n=b=ob,r=abc",           /* bad saslname escape */
	    "n,,n=bob,r=",               /* empty nonce */
	    "n,,n=bob,r=a,b",            /* "b" is an (ignored) extension */
	    "n,,n=bob",                  /* no nonce */
	    "n,n=bob,r=abc",             /* header missing a comma */
	    "",
	};
	enum sasl_step_status expect[] = {
	    SASL_STEP_ERROR, SASL_STEP_ERROR,     SASL_STEP_ERROR, SASL_STEP_ERROR, SASL_STEP_ERROR,
	    SASL_STEP_ERROR, SASL_STEP_CHALLENGE, SASL_STEP_ERROR, SASL_STEP_ERROR, SASL_STEP_ERROR,
	};
	for (size_t i = 0; i < sizeof(bad_first) / sizeof(bad_first[0]); i++) {
		struct sasl_session *s = sasl_session_new("SCRAM-SHA-256", &imap);
		enum sasl_step_status st = step_str(s, bad_first[i], strlen(bad_first[i]), &ch);
		if (st != expect[i])
			fprintf(stderr, "  case %zu: '%s' gave %d\n", i, bad_first[i], st);
		CHECK(st == expect[i]);
		sasl_session_free(&s);
	}

	/* Final message problems: wrong nonce, wrong channel binding, no
	 * proof, bad proof length. */
	const char *bad_final[] = {
	    "c=biws,r=WRONG,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	    "c=eSws,r=%N,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	    "c=biws,r=%N",
	    "c=biws,r=%N,p=AAAA",
	    "r=%N,c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	};
	for (size_t i = 0; i < sizeof(bad_final) / sizeof(bad_final[0]); i++) {
		struct sasl_session *s = sasl_session_new("SCRAM-SHA-256", &imap);
		sasl_session_set_test_nonce(s, "SRV");
		const char *c1 = "n,,n=bob,r=cli";
		CHECK(step_str(s, c1, strlen(c1), &ch) == SASL_STEP_CHALLENGE);
		char msg[256];
		const char *pct = strstr(bad_final[i], "%N");
		if (pct != NULL)
			snprintf(msg, sizeof(msg), "%.*scliSRV%s", (int)(pct - bad_final[i]),
			         bad_final[i], pct + 2);
		else
			snprintf(msg, sizeof(msg), "%s", bad_final[i]);
		enum sasl_step_status st = step_str(s, msg, strlen(msg), &ch);
		if (st != SASL_STEP_ERROR)
			fprintf(stderr, "  final case %zu: '%s' gave %d\n", i, msg, st);
		CHECK(st == SASL_STEP_ERROR);
		sasl_session_free(&s);
	}

	/* No initial response: empty challenge, then the first message. */
	struct sasl_session *s = sasl_session_new("SCRAM-SHA-256", &imap);
	CHECK(sasl_step(s, NULL, &ch) == SASL_STEP_CHALLENGE);
	CHECK(ch.len == 0);
	CHECK(step_str(s, "n,,n=bob,r=x", 12, &ch) == SASL_STEP_CHALLENGE);
	CHECK(ch.len > 0 && ch.p[0] == 'r');
	sasl_session_free(&s);
	auth_abuse_reset();
}

TEST(plain_respects_switches)
{
	setup();
	add_user("sw@example.com", "swpw");
	char err[256];
	enum auth_err ec;
	const char *off[] = {"imap=off"};
	CHECK(auth_account_set("sw@example.com", off, 1, &ec, err, sizeof(err)) == 1);
	struct str ch;
	struct sasl_session *s = sasl_session_new("PLAIN", &imap);
	CHECK(step_str(s, "\0sw@example.com\0swpw", 20, &ch) == SASL_STEP_DONE);
	CHECK(sasl_result(s)->status == AUTH_DISABLED_PROTOCOL);
	sasl_session_free(&s);
	bool v;
	CHECK(scram_client("sw@example.com", "swpw", "n,,", &v) == AUTH_DISABLED_PROTOCOL);
}

UNIT_MAIN()
