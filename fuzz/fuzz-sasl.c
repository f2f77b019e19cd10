/* fuzz-sasl: the auth layer's parsers on arbitrary bytes: strict base64,
 * SASLprep, address validation, app-code normalisation, and the SASL
 * mechanisms (PLAIN, LOGIN, SCRAM-SHA-256) driven step by step against a
 * small accounts database made at start-up in a temporary directory.
 *
 * Input: the first byte picks the mechanism; the rest is split at '\n'
 * into the client's successive (already decoded) responses. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth-private.h"
#include "auth/auth.h"
#include "auth/sasl.h"
#include "lib/config.h"
#include "lib/log.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char dir[64];

static void cleanup(void)
{
	auth_deinit();
	store_deinit();
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz-sasl: could not remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(dir, sizeof(dir), "/tmp/roost-fuzz-sasl-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	struct config *cfg = config_new_defaults();
	free(cfg->data_dir);
	cfg->data_dir = strdup(dir);
	free(cfg->default_domain);
	cfg->default_domain = strdup("example.com");
	free(cfg->password_scheme);
	cfg->password_scheme = strdup("sha256-crypt");
	cfg->auth_fail_delay_ms = 0;
	cfg->auth_max_failures = 100000;
	roost_config = cfg;
	log_set_level(LOG_LVL_ERROR);
	char err[256];
	enum auth_err code;
	if (store_init(dir, err, sizeof(err)) < 0 || auth_init(cfg, err, sizeof(err)) < 0 ||
	    auth_domain_add("example.com", &code, err, sizeof(err)) < 0 ||
	    auth_account_add("bob@example.com", "bobpw", NULL, NULL, &code, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz-sasl: %s\n", err);
		abort();
	}
	atexit(cleanup);
	return 0;
}

static void pure_parsers(const char *p, size_t size)
{
	unsigned char out[512];
	char text[512];
	sasl_base64_decode(str_make(p, size), out, sizeof(out));
	auth_saslprep(p, size, text, sizeof(text));
	if (size < sizeof(text)) {
		memcpy(text, p, size);
		text[size] = '\0';
		char addr[AUTH_ADDRESS_MAX], why[128];
		auth_address_normalize(text, addr, sizeof(addr), why, sizeof(why));
		auth_address_canonical(text, addr, sizeof(addr), why, sizeof(why));
		char code[AUTH_APP_CODE_LEN + 1];
		auth_app_code_normalize(text, code);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pure_parsers((const char *)data, size);
	if (size == 0)
		return 0;
	static const char *const mechs[] = {"PLAIN", "LOGIN", "SCRAM-SHA-256"};
	struct auth_client client = {AUTH_PROTO_IMAP, "192.0.2.1", true, false};
	struct sasl_session *s = sasl_session_new(mechs[data[0] % 3], &client);
	if (s == NULL)
		return 0;
	const char *p = (const char *)data + 1;
	size_t left = size - 1;
	for (int step = 0; step < 6; step++) {
		const char *nl = memchr(p, '\n', left);
		size_t len = nl ? (size_t)(nl - p) : left;
		struct str resp = str_make(p, len), ch;
		/* A first empty line stands for "no initial response". */
		enum sasl_step_status st = sasl_step(s, step == 0 && len == 0 ? NULL : &resp, &ch);
		if (st != SASL_STEP_CHALLENGE)
			break;
		if (nl == NULL)
			break;
		p = nl + 1;
		left -= len + 1;
	}
	sasl_session_free(&s);
	auth_abuse_reset();
	return 0;
}
