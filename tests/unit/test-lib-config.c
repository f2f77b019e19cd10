#include <stdio.h>
#include <string.h>

#include "lib/config.h"
#include "lib/ini.h"
#include "unit.h"

static int load(const char *text, struct config **c, char *err)
{
	return config_load_string("roost.conf", text, c, err, 512);
}

TEST(config_defaults)
{
	struct config *c = NULL;
	char err[512];
	CHECK(load("", &c, err) == 1);
	CHECK_STREQ(c->data_dir, "/var/lib/roost");
	CHECK(c->workers == 0);
	CHECK(c->imap_append_limit == 64ull * 1024 * 1024);
	CHECK(c->plaintext_auth == PLAINTEXT_AUTH_LOOPBACK);
	CHECK(c->pop3_dele == POP3_DELE_EXPUNGE);
	CHECK(c->n_listeners == 0);
	config_free(&c);
	CHECK(c == NULL);
}

TEST(config_values_and_listeners)
{
	struct config *c = NULL;
	char err[512] = "";
	const char *text = "# comment\n"
			   "data_dir = /tmp/roost data\n"
			   "workers = 4\n"
			   "[tls]\ncert = /c.pem\nkey = \"/k.pem\"\n"
			   "[imap]\nappend_limit = 10M\n"
			   "[pop3]\ndele = keep\n"
			   "[listener]\nprotocol = imaps\nport = 1993\n"
			   "[listener]\nprotocol = lmtp\npath = /run/lmtp\n";
	CHECK(load(text, &c, err) == 1);
	if (c == NULL) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK_STREQ(c->data_dir, "/tmp/roost data");
	CHECK(c->workers == 4);
	CHECK_STREQ(c->tls_key, "/k.pem");
	CHECK(c->imap_append_limit == 10ull * 1024 * 1024);
	CHECK(c->pop3_dele == POP3_DELE_KEEP);
	CHECK(c->n_listeners == 2);
	CHECK(c->listeners[0].proto == LISTENER_IMAPS && c->listeners[0].port == 1993);
	CHECK_STREQ(c->listeners[0].address, "127.0.0.1");
	CHECK(c->listeners[1].proto == LISTENER_LMTP);
	CHECK_STREQ(c->listeners[1].path, "/run/lmtp");
	config_free(&c);
}

TEST(config_errors_name_file_line_key)
{
	struct config *c = NULL;
	char err[512];
	CHECK(load("workers = 2\nbogus = 1\n", &c, err) == -1);
	CHECK_STREQ(err, "roost.conf:2: bogus: unknown key");
	CHECK(load("workers = many\n", &c, err) == -1);
	CHECK_STREQ(err, "roost.conf:1: workers: expected a number, got 'many'");
	CHECK(load("workers = 100000\n", &c, err) == -1);
	CHECK_STREQ(err, "roost.conf:1: workers: 100000 is out of range (0 to 256)");
	CHECK(load("[pop3]\ndele = shred\n", &c, err) == -1);
	CHECK_STREQ(err, "roost.conf:2: dele: 'shred' is not one of: expunge, keep, trash");
	CHECK(load("[nosuch]\n", &c, err) == -1);
	CHECK_STREQ(err, "roost.conf:1: unknown section [nosuch]");
	CHECK(load("[listener]\nprotocol = imap\n", &c, err) == -1);
	CHECK_STREQ(err, "roost.conf: listener declared at line 1 has neither port nor path");
	CHECK(load("[listener]\nprotocol = imaps\nport = 993\n", &c, err) == -1);
	CHECK_STREQ(err, "roost.conf:1: listener: protocol imaps needs [tls] cert and key");
	CHECK(load("[listener]\nprotocol = imap\nport = 70000\n", &c, err) == -1);
	CHECK_STREQ(err, "roost.conf:3: port: expected 1 to 65535, got '70000'");
	CHECK(load("just some words\n", &c, err) == -1);
	CHECK_STREQ(err, "roost.conf:1: expected 'key = value'");
	CHECK(load("x = \"unterminated\n", &c, err) == -1);
	CHECK_STREQ(err, "roost.conf:1: x: badly quoted value");
	CHECK(c == NULL);
}

TEST(config_keys_documented)
{
	FILE *f = fopen("docs/configuration.md", "r");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	static char doc[256 * 1024];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	for (const char *const *k = config_key_names(); *k; k++) {
		const char *key = strrchr(*k, '.') ? strrchr(*k, '.') + 1 : *k;
		char needle[80];
		snprintf(needle, sizeof(needle), "`%s`", key);
		if (strstr(doc, needle) == NULL) {
			fprintf(stderr, "  undocumented key: %s\n", *k);
			CHECK(!"every key is documented in docs/configuration.md");
		}
	}
}

UNIT_MAIN()
