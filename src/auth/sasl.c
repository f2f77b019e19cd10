/* sasl.c - SASL server mechanisms PLAIN, LOGIN, SCRAM-SHA-256; base64.
 *
 * Each mechanism is a small state machine driven by sasl_step(). The
 * password checks end in the same functions auth_verify_password uses
 * (auth_finish_login / auth_fail_login), so lock-outs, delays, switches
 * and logging behave the same for every mechanism. */
#include "auth/sasl.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth-private.h"

#define SASL_CHALLENGE_MAX 512
#define SCRAM_MSG_MAX      1024 /* client-first / client-final messages */
#define SCRAM_NONCE_MAX    128  /* client nonce */
#define SCRAM_SNONCE_MAX   64   /* our part of the nonce: base64 of 18 bytes (24) */

enum sasl_mech { MECH_PLAIN, MECH_LOGIN, MECH_SCRAM_SHA_256 };

static const struct {
	const char *name;
	enum sasl_mech mech;
	bool plaintext;
} mechs[] = {
    {"SCRAM-SHA-256", MECH_SCRAM_SHA_256, false},
    {"PLAIN", MECH_PLAIN, true},
    {"LOGIN", MECH_LOGIN, true},
};

#define N_MECHS (sizeof(mechs) / sizeof(mechs[0]))

struct scram_state {
	char login[AUTH_ADDRESS_MAX];
	char gs2_header[AUTH_ADDRESS_MAX + 16];
	char client_first_bare[SCRAM_MSG_MAX];
	char server_first[SCRAM_NONCE_MAX + SCRAM_SNONCE_MAX + 64];
	char nonce[SCRAM_NONCE_MAX + SCRAM_SNONCE_MAX + 1];
	bool found;
	struct auth_login_row row;
};

struct sasl_session {
	enum sasl_mech mech;
	int state; /* mechanism-specific, 0 = nothing received yet */
	struct auth_client client;
	char remote_ip[AUTH_IP_MAX];
	char login_login[AUTH_ADDRESS_MAX]; /* LOGIN: the user name */
	struct auth_result result;
	char error[AUTH_MESSAGE_MAX];
	char challenge[SASL_CHALLENGE_MAX];
	char test_snonce[SCRAM_SNONCE_MAX + 1]; /* tests: fixed server nonce */
	struct scram_state *scram;
};

bool sasl_mech_supported(const char *name)
{
	for (size_t i = 0; i < N_MECHS; i++)
		if (strcasecmp(mechs[i].name, name) == 0)
			return true;
	return false;
}

bool sasl_mech_is_plaintext(const char *name)
{
	for (size_t i = 0; i < N_MECHS; i++)
		if (strcasecmp(mechs[i].name, name) == 0)
			return mechs[i].plaintext;
	return false;
}

const char *sasl_mech_list(bool plaintext_allowed)
{
	return plaintext_allowed ? "SCRAM-SHA-256 PLAIN LOGIN" : "SCRAM-SHA-256";
}

struct sasl_session *sasl_session_new(const char *name, const struct auth_client *client)
{
	size_t i;
	for (i = 0; i < N_MECHS; i++)
		if (strcasecmp(mechs[i].name, name) == 0)
			break;
	if (i == N_MECHS)
		return NULL;
	struct sasl_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->mech = mechs[i].mech;
	s->client = *client;
	snprintf(s->remote_ip, sizeof(s->remote_ip), "%s",
	         client->remote_ip ? client->remote_ip : "unknown");
	s->client.remote_ip = s->remote_ip;
	return s;
}

void sasl_session_free(struct sasl_session **sp)
{
	struct sasl_session *s = *sp;
	if (s == NULL)
		return;
	if (s->scram != NULL) {
		explicit_bzero(s->scram, sizeof(*s->scram));
		free(s->scram);
	}
	explicit_bzero(s, sizeof(*s));
	free(s);
	*sp = NULL;
}

const struct auth_result *sasl_result(const struct sasl_session *s)
{
	return &s->result;
}

const char *sasl_error_message(const struct sasl_session *s)
{
	return s->error;
}

const char *sasl_mech_name(const struct sasl_session *s)
{
	for (size_t i = 0; i < N_MECHS; i++)
		if (mechs[i].mech == s->mech)
			return mechs[i].name;
	return "";
}

void sasl_session_set_test_nonce(struct sasl_session *s, const char *snonce)
{
	snprintf(s->test_snonce, sizeof(s->test_snonce), "%s", snonce);
}

/* A syntax error: counted as a failed login (so malformed exchanges
 * cannot be used to guess without being throttled) and reported. */
static enum sasl_step_status step_error(struct sasl_session *s, const char *login, const char *msg)
{
	snprintf(s->error, sizeof(s->error), "%s", msg);
	auth_fail_login(login ? login : "", &s->client, AUTH_FAILED, &s->result);
	return SASL_STEP_ERROR;
}

static enum sasl_step_status challenge(struct sasl_session *s, const char *text,
                                       struct str *challenge_r)
{
	size_t len = strlen(text);
	if (len >= sizeof(s->challenge))
		len = sizeof(s->challenge) - 1;
	memcpy(s->challenge, text, len);
	s->challenge[len] = '\0';
	*challenge_r = str_make(s->challenge, len);
	return SASL_STEP_CHALLENGE;
}

/* Copies a view into a NUL-terminated heap string; NULL if it holds a NUL
 * byte or is longer than max. */
static char *dup_field(struct str v, size_t max)
{
	if (v.len > max || memchr(v.p, '\0', v.len) != NULL)
		return NULL;
	char *p = malloc(v.len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, v.p, v.len);
	p[v.len] = '\0';
	return p;
}

static enum sasl_step_status verify(struct sasl_session *s, const char *login, const char *password)
{
	auth_verify_password(login, password, &s->client, &s->result);
	return SASL_STEP_DONE;
}

/* ------------------------------------------------------------------ */
/* PLAIN (RFC 4616 2): message = [authzid] UTF8NUL authcid UTF8NUL passwd */

static enum sasl_step_status plain_step(struct sasl_session *s, const struct str *resp,
                                        struct str *challenge_r)
{
	if (resp == NULL) {
		if (s->state != 0)
			return step_error(s, NULL, "missing PLAIN response");
		s->state = 1;
		return challenge(s, "", challenge_r);
	}
	long nul1 = str_find_char(*resp, '\0');
	if (nul1 < 0)
		return step_error(s, NULL, "invalid PLAIN response");
	struct str rest = str_sub(*resp, (size_t)nul1 + 1, resp->len - (size_t)nul1 - 1);
	long nul2 = str_find_char(rest, '\0');
	if (nul2 < 0)
		return step_error(s, NULL, "invalid PLAIN response");
	struct str authzid = str_make(resp->p, (size_t)nul1);
	struct str authcid = str_make(rest.p, (size_t)nul2);
	struct str passwd = str_sub(rest, (size_t)nul2 + 1, rest.len - (size_t)nul2 - 1);
	/* RFC 4616 2: authcid and passwd are 1..255 octets of UTF-8 without
	 * NUL; a third NUL means the message is malformed. */
	if (authcid.len == 0 || memchr(passwd.p, '\0', passwd.len) != NULL)
		return step_error(s, NULL, "invalid PLAIN response");

	char *zid = dup_field(authzid, AUTH_ADDRESS_MAX);
	char *cid = dup_field(authcid, AUTH_ADDRESS_MAX);
	char *pw = dup_field(passwd, AUTH_PASSWORD_MAX);
	enum sasl_step_status ret;
	if (zid == NULL || cid == NULL) {
		ret = step_error(s, NULL, "invalid PLAIN response");
	} else if (pw == NULL) {
		/* Too long to be any password of ours: an ordinary failure. */
		auth_fail_login(cid, &s->client, AUTH_FAILED, &s->result);
		ret = SASL_STEP_DONE;
	} else if (zid[0] != '\0') {
		/* No proxy authorisation: the authzid may only name the
		 * authenticating user itself (compared in canonical form). */
		char a[AUTH_ADDRESS_MAX], b[AUTH_ADDRESS_MAX];
		auth_login_canonical(zid, a, sizeof(a));
		auth_login_canonical(cid, b, sizeof(b));
		if (strcmp(a, b) != 0) {
			auth_fail_login(cid, &s->client, AUTH_FAILED, &s->result);
			snprintf(s->result.message, sizeof(s->result.message),
			         "authorization identity must be empty or equal the login");
			ret = SASL_STEP_DONE;
		} else {
			ret = verify(s, cid, pw);
		}
	} else {
		ret = verify(s, cid, pw);
	}
	if (pw != NULL)
		explicit_bzero(pw, strlen(pw));
	free(zid);
	free(cid);
	free(pw);
	s->state = 2;
	return ret;
}

/* ------------------------------------------------------------------ */
/* LOGIN: "Username:" / "Password:" (draft-murchison-sasl-login). */

static enum sasl_step_status login_step(struct sasl_session *s, const struct str *resp,
                                        struct str *challenge_r)
{
	switch (s->state) {
	case 0:
		if (resp == NULL) {
			s->state = 1;
			return challenge(s, "Username:", challenge_r);
		}
		/* An initial response is the user name (what Outlook and
		 * others send with SASL-IR). */
		/* fall through */
	case 1: {
		if (resp == NULL)
			return step_error(s, NULL, "missing LOGIN response");
		if (resp->len >= sizeof(s->login_login) || memchr(resp->p, '\0', resp->len) != NULL)
			return step_error(s, NULL, "invalid LOGIN user name");
		memcpy(s->login_login, resp->p, resp->len);
		s->login_login[resp->len] = '\0';
		s->state = 2;
		return challenge(s, "Password:", challenge_r);
	}
	case 2: {
		if (resp == NULL)
			return step_error(s, s->login_login, "missing LOGIN response");
		if (memchr(resp->p, '\0', resp->len) != NULL)
			return step_error(s, s->login_login, "invalid LOGIN password");
		s->state = 3;
		if (resp->len > AUTH_PASSWORD_MAX) {
			auth_fail_login(s->login_login, &s->client, AUTH_FAILED, &s->result);
			return SASL_STEP_DONE;
		}
		char *pw = dup_field(*resp, AUTH_PASSWORD_MAX);
		if (pw == NULL) {
			auth_fail_login(s->login_login, &s->client, AUTH_TEMPFAIL, &s->result);
			return SASL_STEP_DONE;
		}
		enum sasl_step_status ret = verify(s, s->login_login, pw);
		explicit_bzero(pw, strlen(pw));
		free(pw);
		return ret;
	}
	default:
		return step_error(s, s->login_login, "LOGIN exchange already finished");
	}
}

/* ------------------------------------------------------------------ */
/* SCRAM-SHA-256 (RFC 5802, RFC 7677) */

/* Decodes a saslname (",": "=2C", "=": "=3D") into out. -1 if malformed. */
static int saslname_decode(struct str in, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < in.len; i++) {
		char c = in.p[i];
		if (c == '\0' || c == ',')
			return -1;
		if (c == '=') {
			if (i + 2 >= in.len)
				return -1;
			if (in.p[i + 1] == '2' && in.p[i + 2] == 'C')
				c = ',';
			else if (in.p[i + 1] == '3' && in.p[i + 2] == 'D')
				c = '=';
			else
				return -1;
			i += 2;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	if (o == 0)
		return -1;
	out[o] = '\0';
	return 1;
}

/* Splits the next ","-separated attribute off *rest. */
static bool next_attr(struct str *rest, struct str *attr_r)
{
	if (rest->p == NULL)
		return false;
	long comma = str_find_char(*rest, ',');
	if (comma < 0) {
		*attr_r = *rest;
		*rest = STR_NULL;
	} else {
		*attr_r = str_make(rest->p, (size_t)comma);
		*rest = str_sub(*rest, (size_t)comma + 1, rest->len - (size_t)comma - 1);
	}
	return true;
}

static bool attr_is(struct str a, char name)
{
	return a.len >= 2 && a.p[0] == name && a.p[1] == '=';
}

static bool nonce_valid(struct str n)
{
	if (n.len == 0)
		return false;
	for (size_t i = 0; i < n.len; i++) {
		unsigned char c = (unsigned char)n.p[i];
		if (c < 0x21 || c > 0x7e || c == ',')
			return false;
	}
	return true;
}

static enum sasl_step_status scram_first(struct sasl_session *s, struct str msg,
                                         struct str *challenge_r)
{
	if (msg.len == 0 || msg.len >= SCRAM_MSG_MAX || memchr(msg.p, '\0', msg.len) != NULL)
		return step_error(s, NULL, "invalid SCRAM client-first-message");
	struct scram_state *sc = calloc(1, sizeof(*sc));
	if (sc == NULL) {
		auth_fail_login("", &s->client, AUTH_TEMPFAIL, &s->result);
		return SASL_STEP_DONE;
	}
	s->scram = sc;

	/* gs2-header = gs2-cbind-flag "," [ authzid ] "," */
	struct str rest = msg, flag, authzid;
	if (!next_attr(&rest, &flag) || !next_attr(&rest, &authzid) || rest.p == NULL)
		return step_error(s, NULL, "invalid SCRAM client-first-message");
	if (flag.len >= 2 && flag.p[0] == 'p' && flag.p[1] == '=')
		return step_error(s, NULL,
		                  "SCRAM channel binding is not supported; use "
		                  "SCRAM-SHA-256 without -PLUS");
	if (!(flag.len == 1 && (flag.p[0] == 'n' || flag.p[0] == 'y')))
		return step_error(s, NULL, "invalid SCRAM channel binding flag");
	char zid[AUTH_ADDRESS_MAX] = "";
	if (authzid.len > 0 &&
	    (!attr_is(authzid, 'a') ||
	     saslname_decode(str_sub(authzid, 2, authzid.len - 2), zid, sizeof(zid)) < 0))
		return step_error(s, NULL, "invalid SCRAM authzid");
	size_t gs2_len = (size_t)(rest.p - msg.p);
	memcpy(sc->gs2_header, msg.p, gs2_len);
	sc->gs2_header[gs2_len] = '\0';
	memcpy(sc->client_first_bare, rest.p, rest.len);
	sc->client_first_bare[rest.len] = '\0';

	/* client-first-message-bare = [reserved-mext ","] username "," nonce
	 * ["," extensions]; a mandatory extension we do not know must fail
	 * (RFC 5802 5.1 "m"). */
	struct str user, nonce;
	if (!next_attr(&rest, &user) || attr_is(user, 'm'))
		return step_error(s, NULL, "SCRAM mandatory extensions are not supported");
	if (!attr_is(user, 'n') ||
	    saslname_decode(str_sub(user, 2, user.len - 2), sc->login, sizeof(sc->login)) < 0)
		return step_error(s, NULL, "invalid SCRAM user name");
	if (!next_attr(&rest, &nonce) || !attr_is(nonce, 'r') ||
	    !nonce_valid(str_sub(nonce, 2, nonce.len - 2)) || nonce.len - 2 > SCRAM_NONCE_MAX)
		return step_error(s, sc->login, "invalid SCRAM nonce");

	if (zid[0] != '\0') {
		char a[AUTH_ADDRESS_MAX], b[AUTH_ADDRESS_MAX];
		auth_login_canonical(zid, a, sizeof(a));
		auth_login_canonical(sc->login, b, sizeof(b));
		if (strcmp(a, b) != 0) {
			auth_fail_login(sc->login, &s->client, AUTH_FAILED, &s->result);
			snprintf(s->result.message, sizeof(s->result.message),
			         "authorization identity must be empty or equal the login");
			return SASL_STEP_DONE;
		}
	}
	if (auth_check_locked(sc->login, &s->client, &s->result))
		return SASL_STEP_DONE;

	char err[256];
	int found = auth_login_lookup(sc->login, &sc->row, err, sizeof(err));
	if (found < 0) {
		auth_fail_login(sc->login, &s->client, AUTH_TEMPFAIL, &s->result);
		return SASL_STEP_DONE;
	}
	sc->found = found > 0;
	/* An unknown user gets a stable fake salt and the usual count, so
	 * the answer looks like any other (RFC 5802 9 on user probing). */
	unsigned char salt[SCRAM_SALT_LEN];
	unsigned iterations = SCRAM_ITERATIONS;
	if (sc->found) {
		memcpy(salt, sc->row.scram_salt, SCRAM_SALT_LEN);
		iterations = sc->row.scram_iterations;
	} else {
		auth_fake_salt(sc->login, salt);
	}

	char snonce[SCRAM_SNONCE_MAX + 1];
	if (s->test_snonce[0] != '\0') {
		snprintf(snonce, sizeof(snonce), "%s", s->test_snonce);
	} else {
		unsigned char rnd[18];
		if (auth_random(rnd, sizeof(rnd)) < 0) {
			auth_fail_login(sc->login, &s->client, AUTH_TEMPFAIL, &s->result);
			return SASL_STEP_DONE;
		}
		sasl_base64_encode(rnd, sizeof(rnd), snonce, sizeof(snonce));
	}
	snprintf(sc->nonce, sizeof(sc->nonce), "%.*s%s", (int)(nonce.len - 2), nonce.p + 2, snonce);
	char salt64[32];
	sasl_base64_encode(salt, sizeof(salt), salt64, sizeof(salt64));
	snprintf(sc->server_first, sizeof(sc->server_first), "r=%s,s=%s,i=%u", sc->nonce, salt64,
	         iterations);
	s->state = 2;
	return challenge(s, sc->server_first, challenge_r);
}

/* Does proof match the keys? ClientKey = proof XOR HMAC(StoredKey, AM);
 * valid when H(ClientKey) == StoredKey (RFC 5802 3). */
static bool scram_proof_ok(const struct scram_keys *k, const char *auth_message,
                           const unsigned char proof[SCRAM_KEY_LEN])
{
	unsigned char sig[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
	unsigned int len = 0;
	HMAC(EVP_sha256(), k->stored_key, SCRAM_KEY_LEN, (const unsigned char *)auth_message,
	     strlen(auth_message), sig, &len);
	for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
		client_key[i] = proof[i] ^ sig[i];
	SHA256(client_key, SCRAM_KEY_LEN, stored);
	bool ok = auth_consttime_eq(stored, k->stored_key, SCRAM_KEY_LEN);
	explicit_bzero(client_key, sizeof(client_key));
	return ok;
}

#define APP_KEYS_MAX AUTH_APP_PASSWORDS_MAX

static enum sasl_step_status scram_final(struct sasl_session *s, struct str msg,
                                         struct str *challenge_r)
{
	struct scram_state *sc = s->scram;
	if (msg.len == 0 || msg.len >= SCRAM_MSG_MAX || memchr(msg.p, '\0', msg.len) != NULL)
		return step_error(s, sc->login, "invalid SCRAM client-final-message");

	/* client-final-message = channel-binding "," nonce ["," extensions]
	 * "," proof; the proof is the last attribute. */
	struct str rest = msg, cb, nonce, attr, proof = STR_NULL;
	if (!next_attr(&rest, &cb) || !attr_is(cb, 'c') || !next_attr(&rest, &nonce) ||
	    !attr_is(nonce, 'r'))
		return step_error(s, sc->login, "invalid SCRAM client-final-message");
	size_t without_proof_len = 0;
	while (next_attr(&rest, &attr)) {
		if (attr_is(attr, 'p') && rest.p == NULL) {
			proof = attr;
			without_proof_len = (size_t)(attr.p - msg.p) - 1;
		}
	}
	if (proof.p == NULL)
		return step_error(s, sc->login, "SCRAM proof missing");

	/* c= must carry exactly our gs2 header (no channel binding data). */
	char cbind[sizeof(sc->gs2_header)];
	long n = sasl_base64_decode(str_sub(cb, 2, cb.len - 2), cbind, sizeof(cbind) - 1);
	if (n < 0 || (size_t)n != strlen(sc->gs2_header) ||
	    memcmp(cbind, sc->gs2_header, (size_t)n))
		return step_error(s, sc->login, "SCRAM channel binding does not match");
	struct str r = str_sub(nonce, 2, nonce.len - 2);
	if (!str_eq(r, str_c(sc->nonce)))
		return step_error(s, sc->login, "SCRAM nonce does not match");
	unsigned char p[SCRAM_KEY_LEN + 3];
	n = sasl_base64_decode(str_sub(proof, 2, proof.len - 2), p, sizeof(p));
	if (n != SCRAM_KEY_LEN)
		return step_error(s, sc->login, "invalid SCRAM proof");

	/* AuthMessage = client-first-message-bare "," server-first-message ","
	 * client-final-message-without-proof */
	char *am = malloc(3 * SCRAM_MSG_MAX);
	struct auth_app_keys *keys = calloc(APP_KEYS_MAX, sizeof(*keys));
	if (am == NULL || keys == NULL) {
		free(am);
		free(keys);
		auth_fail_login(sc->login, &s->client, AUTH_TEMPFAIL, &s->result);
		return SASL_STEP_DONE;
	}
	snprintf(am, 3 * SCRAM_MSG_MAX, "%s,%s,%.*s", sc->client_first_bare, sc->server_first,
	         (int)without_proof_len, msg.p);

	/* Candidates: the account password's keys, then (mail protocols
	 * only) every app password in both its typed forms. All are tried,
	 * so the time does not depend on which one matched. */
	const struct scram_keys *match = NULL;
	int64_t app_id = 0;
	bool used_app = false;
	if (sc->found) {
		if (sc->row.has_scram && scram_proof_ok(&sc->row.scram, am, p))
			match = &sc->row.scram;
		bool mail = s->client.protocol == AUTH_PROTO_IMAP ||
		            s->client.protocol == AUTH_PROTO_POP3 ||
		            s->client.protocol == AUTH_PROTO_SMTP;
		int nk = mail ? auth_app_keys_load(sc->row.account.id, keys, APP_KEYS_MAX) : 0;
		for (int i = 0; i < nk; i++) {
			for (int form = 0; form < 2; form++) {
				const struct scram_keys *k =
				    form ? &keys[i].spaced : &keys[i].plain;
				if (scram_proof_ok(k, am, p) && match == NULL) {
					match = k;
					used_app = true;
					app_id = keys[i].id;
				}
			}
		}
	} else {
		/* An unknown user does the same kind of work (a query and a
		 * proof check) so the answer does not come back faster. */
		struct scram_keys dummy;
		memset(&dummy, 0, sizeof(dummy));
		auth_app_keys_load(-1, keys, APP_KEYS_MAX);
		(void)scram_proof_ok(&dummy, am, p);
	}

	enum sasl_step_status ret = SASL_STEP_DONE;
	if (match == NULL) {
		auth_fail_login(sc->login, &s->client, AUTH_FAILED, &s->result);
	} else if (auth_finish_login(&sc->row, used_app, app_id, sc->login, &s->client,
	                             &s->result) == AUTH_OK) {
		/* server-final-message = "v=" base64(ServerSignature) */
		unsigned char sig[SCRAM_KEY_LEN];
		unsigned int len = 0;
		HMAC(EVP_sha256(), match->server_key, SCRAM_KEY_LEN, (const unsigned char *)am,
		     strlen(am), sig, &len);
		char v[64] = "v=";
		sasl_base64_encode(sig, sizeof(sig), v + 2, sizeof(v) - 2);
		s->state = 3;
		ret = challenge(s, v, challenge_r);
	}
	explicit_bzero(keys, APP_KEYS_MAX * sizeof(*keys));
	free(keys);
	free(am);
	return ret;
}

static enum sasl_step_status scram_step(struct sasl_session *s, const struct str *resp,
                                        struct str *challenge_r)
{
	switch (s->state) {
	case 0:
		if (resp == NULL) {
			/* No initial response: an empty challenge asks for
			 * the client-first-message. */
			s->state = 1;
			return challenge(s, "", challenge_r);
		}
		return scram_first(s, *resp, challenge_r);
	case 1:
		if (resp == NULL)
			return step_error(s, NULL, "missing SCRAM client-first-message");
		return scram_first(s, *resp, challenge_r);
	case 2:
		if (resp == NULL)
			return step_error(s, s->scram->login, "missing SCRAM client-final-message");
		return scram_final(s, *resp, challenge_r);
	case 3:
		/* The client acknowledges our server-final-message with an
		 * empty response (RFC 4422 3.6 "additional data"). */
		s->state = 4;
		return SASL_STEP_DONE;
	default:
		return step_error(s, NULL, "SCRAM exchange already finished");
	}
}

enum sasl_step_status sasl_step(struct sasl_session *s, const struct str *response,
                                struct str *challenge_r)
{
	*challenge_r = STR_NULL;
	switch (s->mech) {
	case MECH_PLAIN:
		return plain_step(s, response, challenge_r);
	case MECH_LOGIN:
		return login_step(s, response, challenge_r);
	case MECH_SCRAM_SHA_256:
		break;
	}
	return scram_step(s, response, challenge_r);
}

/* ------------------------------------------------------------------ */
/* base64 (RFC 4648 4) */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sasl_base64_encoded_len(size_t len)
{
	return (len + 2) / 3 * 4 + 1;
}

long sasl_base64_encode(const void *data, size_t len, char *out, size_t cap)
{
	const unsigned char *in = data;
	if (cap < sasl_base64_encoded_len(len))
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return (long)o;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long sasl_base64_decode(struct str in, void *out, size_t cap)
{
	unsigned char *o = out;
	if (in.len % 4 != 0)
		return -1;
	size_t n = 0;
	for (size_t i = 0; i < in.len; i += 4) {
		bool last = i + 4 == in.len;
		int v[4];
		int pad = 0;
		for (int j = 0; j < 4; j++) {
			char c = in.p[i + (size_t)j];
			if (c == '=' && last && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad > 0) /* data after '=' */
				return -1;
			v[j] = b64_value(c);
			if (v[j] < 0)
				return -1;
		}
		unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 |
		             (unsigned)v[3];
		/* Strict: the bits padding leaves unused must be zero. */
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return -1;
		size_t bytes = 3 - (size_t)pad;
		if (n + bytes > cap)
			return -1;
		o[n++] = (unsigned char)(w >> 16);
		if (bytes > 1)
			o[n++] = (unsigned char)(w >> 8);
		if (bytes > 2)
			o[n++] = (unsigned char)w;
	}
	return (long)n;
}
