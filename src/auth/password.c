/* password.c - crypt(3) hashes, SCRAM keys, SASLprep, random codes.
 *
 * Account passwords are stored as crypt(3) strings made by libxcrypt:
 * yescrypt ("$y$") by default. Verification also accepts SHA-512-crypt
 * ("$6$"), SHA-256-crypt ("$5$") and bcrypt ("$2y$", "$2b$") so hashes
 * imported from Dovecot passwd files or /etc/shadow keep working.
 *
 * For SCRAM-SHA-256 the server cannot use a crypt hash: it needs
 * StoredKey and ServerKey (RFC 5802 3), computed when the password is set
 * from the salted password. They are derived here. */
#include "auth/auth-private.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

bool auth_consttime_eq(const void *a, const void *b, size_t len)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char acc = 0;
	for (size_t i = 0; i < len; i++)
		acc |= (unsigned char)(x[i] ^ y[i]);
	return acc == 0;
}

int auth_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

int auth_random_code(char out[AUTH_APP_CODE_LEN + 1])
{
	/* Rejection sampling: bytes >= 234 (9 * 26) are drawn again so every
	 * letter is equally likely; 16 letters give log2(26^16) = 75 bits. */
	size_t n = 0;
	while (n < AUTH_APP_CODE_LEN) {
		unsigned char bytes[32];
		if (auth_random(bytes, sizeof(bytes)) < 0)
			return -1;
		for (size_t i = 0; i < sizeof(bytes) && n < AUTH_APP_CODE_LEN; i++)
			if (bytes[i] < 234)
				out[n++] = (char)('a' + bytes[i] % 26);
	}
	out[n] = '\0';
	return 1;
}

bool auth_app_code_normalize(const char *password, char out[AUTH_APP_CODE_LEN + 1])
{
	size_t n = 0;
	for (const char *p = password; *p; p++) {
		char c = *p;
		if (c == ' ')
			continue;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c < 'a' || c > 'z' || n >= AUTH_APP_CODE_LEN)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return n == AUTH_APP_CODE_LEN;
}

void auth_app_code_format(const char *code, char *out, size_t outcap)
{
	size_t o = 0;
	for (size_t i = 0; code[i] && o + 1 < outcap; i++) {
		if (i > 0 && i % 4 == 0 && o + 2 < outcap)
			out[o++] = ' ';
		out[o++] = code[i];
	}
	if (outcap > 0)
		out[o] = '\0';
}

/* ------------------------------------------------------------------ */
/* crypt(3) */

/* The cost of new hashes. yescrypt's library default is sound (about 20 ms
 * here); the library defaults of the others are old and cheap (bcrypt 2^5,
 * sha-crypt 5000 rounds, about 1 ms), so they get explicit costs in the same
 * range as yescrypt's. Verifying an imported hash uses the cost stored in
 * it. */
struct scheme {
	const char *name;
	const char *prefix;  /* for crypt_gensalt */
	unsigned long count; /* 0: the library's default */
};

static const struct scheme schemes[] = {
    {"yescrypt", "$y$", 0},
    {"sha512-crypt", "$6$", 65536},
    {"sha256-crypt", "$5$", 65536},
    {"bcrypt", "$2b$", 10},
};

const char *auth_hash_scheme(const char *hash)
{
	if (hash == NULL)
		return NULL;
	if (strncmp(hash, "$y$", 3) == 0)
		return "yescrypt";
	if (strncmp(hash, "$6$", 3) == 0)
		return "sha512-crypt";
	if (strncmp(hash, "$5$", 3) == 0)
		return "sha256-crypt";
	if (strncmp(hash, "$2y$", 4) == 0 || strncmp(hash, "$2b$", 4) == 0)
		return "bcrypt";
	return NULL;
}

int auth_password_hash(const char *scheme, const char *password, char *out, size_t outcap)
{
	const struct scheme *sc = NULL;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strcmp(schemes[i].name, scheme) == 0)
			sc = &schemes[i];
	if (sc == NULL || strlen(password) > AUTH_PASSWORD_MAX)
		return -1;

	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	/* NULL entropy: the library reads the kernel's random source. */
	if (crypt_gensalt_rn(sc->prefix, sc->count, NULL, 0, setting, sizeof(setting)) == NULL)
		return -1;
	struct crypt_data *data = calloc(1, sizeof(*data));
	if (data == NULL)
		return -1;
	int ret = -1;
	const char *h = crypt_r(password, setting, data);
	if (h != NULL && h[0] != '*' && strlen(h) < outcap) {
		memcpy(out, h, strlen(h) + 1);
		ret = 1;
	}
	explicit_bzero(data, sizeof(*data));
	free(data);
	return ret;
}

bool auth_password_verify(const char *password, const char *hash)
{
	if (auth_hash_scheme(hash) == NULL || strlen(password) > AUTH_PASSWORD_MAX)
		return false;
	struct crypt_data *data = calloc(1, sizeof(*data));
	if (data == NULL)
		return false;
	bool ok = false;
	const char *h = crypt_r(password, hash, data);
	/* libxcrypt returns a string starting with '*' on failure. */
	if (h != NULL && h[0] != '*') {
		size_t hl = strlen(h), l = strlen(hash);
		ok = hl == l && auth_consttime_eq(h, hash, l);
	}
	explicit_bzero(data, sizeof(*data));
	free(data);
	return ok;
}

bool auth_hash_usable(const char *hash)
{
	if (auth_hash_scheme(hash) == NULL)
		return false;
	struct crypt_data *data = calloc(1, sizeof(*data));
	if (data == NULL)
		return false;
	const char *h = crypt_r("probe", hash, data);
	/* The output must be a hash of the same form: same length, and the
	 * same setting (everything up to the last '$'). */
	const char *last = strrchr(hash, '$');
	bool ok = h != NULL && h[0] != '*' && strlen(h) == strlen(hash) && last != NULL &&
	          strncmp(h, hash, (size_t)(last - hash)) == 0;
	free(data);
	return ok;
}

/* ------------------------------------------------------------------ */
/* SCRAM keys (RFC 5802 3):
 *   SaltedPassword  := Hi(Normalize(password), salt, i)   (PBKDF2-HMAC)
 *   ClientKey       := HMAC(SaltedPassword, "Client Key")
 *   StoredKey       := H(ClientKey)
 *   ServerKey       := HMAC(SaltedPassword, "Server Key") */

void auth_scram_keys_from_salted(const unsigned char salted[SCRAM_KEY_LEN],
                                 struct scram_keys *keys_r)
{
	unsigned char client_key[SCRAM_KEY_LEN];
	unsigned int len = 0;
	HMAC(EVP_sha256(), salted, SCRAM_KEY_LEN, (const unsigned char *)"Client Key", 10,
	     client_key, &len);
	SHA256(client_key, sizeof(client_key), keys_r->stored_key);
	HMAC(EVP_sha256(), salted, SCRAM_KEY_LEN, (const unsigned char *)"Server Key", 10,
	     keys_r->server_key, &len);
	explicit_bzero(client_key, sizeof(client_key));
}

int auth_scram_derive(const char *password, const unsigned char *salt, size_t salt_len,
                      unsigned iterations, struct scram_keys *keys_r)
{
	char prepped[AUTH_PASSWORD_MAX + 1];
	long n = auth_saslprep(password, strlen(password), prepped, sizeof(prepped));
	if (n < 0)
		return -1;
	unsigned char salted[SCRAM_KEY_LEN];
	int ok = PKCS5_PBKDF2_HMAC(prepped, (int)n, salt, (int)salt_len, (int)iterations,
	                           EVP_sha256(), sizeof(salted), salted);
	explicit_bzero(prepped, sizeof(prepped));
	if (!ok)
		return -1;
	auth_scram_keys_from_salted(salted, keys_r);
	explicit_bzero(salted, sizeof(salted));
	return 1;
}

/* ------------------------------------------------------------------ */
/* SASLprep (RFC 4013), without NFKC normalisation and without the bidi
 * check: ASCII input is handled exactly (only control characters are
 * prohibited), non-ASCII input is mapped and checked against the
 * prohibited tables and otherwise passed through. A client that
 * NFKC-normalises a password with compatibility characters derives
 * different SCRAM keys; PLAIN/LOGIN still work for it. */

struct cp_range {
	uint32_t lo, hi;
};

/* StringPrep B.1, "commonly mapped to nothing". */
static const struct cp_range map_to_nothing[] = {
    {0x00ad, 0x00ad}, {0x034f, 0x034f}, {0x1806, 0x1806}, {0x180b, 0x180d},
    {0x200b, 0x200d}, {0x2060, 0x2060}, {0xfe00, 0xfe0f}, {0xfeff, 0xfeff},
};

/* StringPrep C.1.2, non-ASCII spaces (U+200B is in B.1 above). */
static const struct cp_range non_ascii_space[] = {
    {0x00a0, 0x00a0}, {0x1680, 0x1680}, {0x2000, 0x200a},
    {0x202f, 0x202f}, {0x205f, 0x205f}, {0x3000, 0x3000},
};

/* StringPrep C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9. */
static const struct cp_range prohibited[] = {
    {0x0080, 0x009f},   {0x0340, 0x0341},   {0x06dd, 0x06dd},     {0x070f, 0x070f},
    {0x180e, 0x180e},   {0x200e, 0x200f},   {0x2028, 0x202e},     {0x2061, 0x2063},
    {0x206a, 0x206f},   {0x2ff0, 0x2ffb},   {0xd800, 0xdfff},     {0xe000, 0xf8ff},
    {0xfdd0, 0xfdef},   {0xfff9, 0xfffd},   {0x1d173, 0x1d17a},   {0xe0001, 0xe0001},
    {0xe0020, 0xe007f}, {0xf0000, 0xffffd}, {0x100000, 0x10fffd},
};

static bool in_ranges(uint32_t cp, const struct cp_range *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (cp >= r[i].lo && cp <= r[i].hi)
			return true;
	return false;
}

#define N_RANGES(a) (sizeof(a) / sizeof((a)[0]))

/* Decodes one UTF-8 sequence; returns its length or 0 if invalid
 * (overlong, surrogate, beyond U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp_r)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp, min;
	if (c < 0x80) {
		*cp_r = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		n = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return n;
}

long auth_saslprep(const char *in, size_t len, char *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);
		if (n == 0)
			return -1;
		/* StringPrep C.2.1: ASCII control characters. */
		if (cp < 0x20 || cp == 0x7f)
			return -1;
		if (in_ranges(cp, map_to_nothing, N_RANGES(map_to_nothing))) {
			i += n;
			continue;
		}
		if (in_ranges(cp, non_ascii_space, N_RANGES(non_ascii_space))) {
			if (o + 1 >= cap)
				return -1;
			out[o++] = ' ';
			i += n;
			continue;
		}
		/* The one piece of NFKC we do: full-width ASCII (U+FF01..U+FF5E,
		 * what a Chinese or Japanese input method types in full-width
		 * mode) is its ASCII character, exactly as NFKC maps it. */
		if (cp >= 0xff01 && cp <= 0xff5e) {
			if (o + 1 >= cap)
				return -1;
			out[o++] = (char)(cp - 0xff01 + 0x21);
			i += n;
			continue;
		}
		/* C.4: U+nFFFE and U+nFFFF in every plane. */
		if (in_ranges(cp, prohibited, N_RANGES(prohibited)) || (cp & 0xfffe) == 0xfffe)
			return -1;
		if (o + n >= cap)
			return -1;
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return (long)o;
}
