/* Password hashing, SCRAM key derivation, SASLprep, app codes, base64. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <string.h>

#include "auth/auth-private.h"
#include "auth/auth.h"
#include "auth/sasl.h"
#include "unit.h"

/* Reference hashes made by independent tools (openssl passwd -6/-5) and
 * the OpenBSD bcrypt test vector ("U*U"). */
#define SHA512_PENCIL                                                                              \
	"$6$saltsalt$rD9fW1BwIrjB90WCgCTdIQc3phTBhf04I6Iw/XlgKD9E9aEbzqGZipjiFxGo/4wWXDA6jV6/"     \
	"vZO.kKdDSfUJb0"
#define SHA256_PENCIL    "$5$saltsalt$hl9BvcGsj7AkON13nbqeQHDgRpHyFxt7WDzLoS.OCQ/"
#define BCRYPT_UU        "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
#define BCRYPT_2Y_PENCIL "$2y$05$abcdefghijklmnopqrstuu680Yiaj5hFUaJTH/rTAcbA2PQEGfiZu"
#define YESCRYPT_PENCIL  "$y$j9T$saltsaltsalt$GXprhDM3oVIKhFhAJf/udtdAwaP7GuZghybRfeHA.oA"

TEST(verify_reference_hashes)
{
	CHECK(auth_password_verify("pencil", SHA512_PENCIL));
	CHECK(!auth_password_verify("pencil2", SHA512_PENCIL));
	CHECK(auth_password_verify("pencil", SHA256_PENCIL));
	CHECK(!auth_password_verify("Pencil", SHA256_PENCIL));
	CHECK(auth_password_verify("U*U", BCRYPT_UU));
	CHECK(!auth_password_verify("U*V", BCRYPT_UU));
	CHECK(auth_password_verify("pencil", BCRYPT_2Y_PENCIL));
	CHECK(auth_password_verify("pencil", YESCRYPT_PENCIL));
	CHECK(!auth_password_verify("", YESCRYPT_PENCIL));
}

TEST(unsupported_hashes_never_match)
{
	CHECK(!auth_password_verify("pencil", ""));
	CHECK(!auth_password_verify("pencil", "pencil"));
	CHECK(!auth_password_verify("pencil", "$1$saltsalt$abcdefghijklmnopqrstuv"));
	CHECK(!auth_password_verify("pencil", "$6$saltsalt$"));
	CHECK(!auth_password_verify("pencil", "*"));
	CHECK(auth_hash_scheme(SHA512_PENCIL) != NULL);
	CHECK_STREQ(auth_hash_scheme(YESCRYPT_PENCIL), "yescrypt");
	CHECK_STREQ(auth_hash_scheme(BCRYPT_2Y_PENCIL), "bcrypt");
	CHECK_STREQ(auth_hash_scheme(SHA256_PENCIL), "sha256-crypt");
	CHECK(auth_hash_scheme("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW") ==
	      NULL);
	CHECK(auth_hash_scheme("{SSHA}abc") == NULL);
	CHECK(auth_hash_usable(SHA512_PENCIL));
	CHECK(!auth_hash_usable("$6$"));
	CHECK(!auth_hash_usable("$y$garbage"));
}

TEST(hash_each_scheme_roundtrip)
{
	const char *schemes[] = {"yescrypt", "sha512-crypt", "sha256-crypt", "bcrypt"};
	const char *prefixes[] = {"$y$", "$6$rounds=65536$", "$5$rounds=65536$", "$2b$10$"};
	for (int i = 0; i < 4; i++) {
		char h[AUTH_HASH_MAX];
		CHECK(auth_password_hash(schemes[i], "s3cret pass 密码", h, sizeof(h)) == 1);
		CHECK(strncmp(h, prefixes[i], strlen(prefixes[i])) == 0);
		CHECK(auth_password_verify("s3cret pass 密码", h));
		CHECK(!auth_password_verify("s3cret pass 密", h));
		char h2[AUTH_HASH_MAX];
		CHECK(auth_password_hash(schemes[i], "s3cret pass 密码", h2, sizeof(h2)) == 1);
		CHECK(strcmp(h, h2) != 0); /* fresh salt each time */
	}
	char h[AUTH_HASH_MAX];
	CHECK(auth_password_hash("md5", "x", h, sizeof(h)) == -1);
	CHECK(auth_password_hash("yescrypt", "x", h, 10) == -1);
}

TEST(password_length_limit)
{
	char big[AUTH_PASSWORD_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char h[AUTH_HASH_MAX];
	CHECK(auth_password_hash("sha256-crypt", big, h, sizeof(h)) == -1);
	CHECK(!auth_password_verify(big, SHA256_PENCIL));
}

static void unb64(const char *s, unsigned char *out, size_t n)
{
	CHECK(sasl_base64_decode(str_c(s), out, n) == (long)n);
}

/* RFC 7677 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==,
 * 4096 iterations; the exchange's ServerSignature is
 * 6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=. */
TEST(scram_rfc7677_keys)
{
	unsigned char salt[16];
	unb64("W22ZaJ0SNY7soEsUEjb6gQ==", salt, sizeof(salt));
	struct scram_keys k;
	CHECK(auth_scram_derive("pencil", salt, sizeof(salt), 4096, &k) == 1);

	const char *am = "n=user,r=rOprNGfwEbeRWgbNEkqO,"
	                 "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	                 "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
	                 "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
	unsigned char sig[32], expect[32];
	unsigned int len = 0;
	HMAC(EVP_sha256(), k.server_key, 32, (const unsigned char *)am, strlen(am), sig, &len);
	unb64("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", expect, sizeof(expect));
	CHECK(memcmp(sig, expect, 32) == 0);

	/* The client's proof must verify against StoredKey. */
	unsigned char proof[32], csig[32], ckey[32], stored[32];
	unb64("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", proof, sizeof(proof));
	HMAC(EVP_sha256(), k.stored_key, 32, (const unsigned char *)am, strlen(am), csig, &len);
	for (int i = 0; i < 32; i++)
		ckey[i] = proof[i] ^ csig[i];
	SHA256(ckey, 32, stored);
	CHECK(memcmp(stored, k.stored_key, 32) == 0);
}

TEST(saslprep)
{
	char out[64];
	CHECK(auth_saslprep("user", 4, out, sizeof(out)) == 4);
	CHECK_STREQ(out, "user");
	/* RFC 4013 3 examples: SOFT HYPHEN mapped to nothing; ... */
	CHECK(auth_saslprep("I\xc2\xad"
	                    "X",
	                    4, out, sizeof(out)) == 2);
	CHECK_STREQ(out, "IX");
	/* ... U+0007 prohibited. */
	CHECK(auth_saslprep("\x07", 1, out, sizeof(out)) == -1);
	/* Non-ASCII space (U+00A0, U+3000) becomes SPACE. */
	CHECK(auth_saslprep("a\xc2\xa0"
	                    "b\xe3\x80\x80"
	                    "c",
	                    8, out, sizeof(out)) == 5);
	CHECK_STREQ(out, "a b c");
	/* ASCII controls, DEL, private use, non-characters, bidi marks. */
	CHECK(auth_saslprep("a\tb", 3, out, sizeof(out)) == -1);
	CHECK(auth_saslprep("a\x7f", 2, out, sizeof(out)) == -1);
	CHECK(auth_saslprep("\xee\x80\x80", 3, out, sizeof(out)) == -1); /* U+E000 */
	CHECK(auth_saslprep("\xef\xbf\xbe", 3, out, sizeof(out)) == -1); /* U+FFFE */
	CHECK(auth_saslprep("\xe2\x80\x8e", 3, out, sizeof(out)) == -1); /* U+200E */
	CHECK(auth_saslprep("\xc2\x85", 2, out, sizeof(out)) == -1);     /* U+0085 */
	/* Invalid UTF-8 (overlong, lone continuation, truncated). */
	CHECK(auth_saslprep("\xc0\xaf", 2, out, sizeof(out)) == -1);
	CHECK(auth_saslprep("\x80", 1, out, sizeof(out)) == -1);
	CHECK(auth_saslprep("\xe5\xaf", 2, out, sizeof(out)) == -1);
	/* Full-width ASCII becomes ASCII, as NFKC does ("ｐａｓｓ１" -> "pass1"). */
	CHECK(auth_saslprep("\xef\xbd\x90\xef\xbd\x81\xef\xbd\x93\xef\xbd\x93\xef\xbc\x91", 15, out,
	                    sizeof(out)) == 5);
	CHECK_STREQ(out, "pass1");
	/* Other UTF-8 passes through unchanged (no NFKC: documented). */
	CHECK(auth_saslprep("\xe5\xaf\x86\xe7\xa0\x81", 6, out, sizeof(out)) == 6);
	CHECK_STREQ(out, "\xe5\xaf\x86\xe7\xa0\x81");
	/* Output must fit. */
	CHECK(auth_saslprep("abcdef", 6, out, 6) == -1);
	CHECK(auth_saslprep("abcdef", 6, out, 7) == 6);
}

TEST(app_codes)
{
	char code[AUTH_APP_CODE_LEN + 1], again[AUTH_APP_CODE_LEN + 1];
	CHECK(auth_random_code(code) == 1);
	CHECK(strlen(code) == 16);
	for (int i = 0; i < 16; i++)
		CHECK(code[i] >= 'a' && code[i] <= 'z');
	CHECK(auth_random_code(again) == 1);
	CHECK(strcmp(code, again) != 0);

	char shown[24];
	auth_app_code_format("abcdefghijklmnop", shown, sizeof(shown));
	CHECK_STREQ(shown, "abcd efgh ijkl mnop");

	char n[AUTH_APP_CODE_LEN + 1];
	CHECK(auth_app_code_normalize("abcd efgh ijkl mnop", n));
	CHECK_STREQ(n, "abcdefghijklmnop");
	CHECK(auth_app_code_normalize("ABCDEFGHIJKLMNOP", n));
	CHECK_STREQ(n, "abcdefghijklmnop");
	CHECK(auth_app_code_normalize("abcdefghijklmnop", n));
	CHECK(!auth_app_code_normalize("abcdefghijklmno", n));
	CHECK(!auth_app_code_normalize("abcdefghijklmnopq", n));
	CHECK(!auth_app_code_normalize("abcd-efgh-ijkl-mnop", n));
	CHECK(!auth_app_code_normalize("abcdefghijklmn0p", n));
	CHECK(!auth_app_code_normalize("", n));
}

TEST(base64_roundtrip_and_strictness)
{
	char enc[64];
	unsigned char dec[64];
	CHECK(sasl_base64_encode("", 0, enc, sizeof(enc)) == 0);
	CHECK(sasl_base64_encode("f", 1, enc, sizeof(enc)) == 4);
	CHECK_STREQ(enc, "Zg==");
	CHECK(sasl_base64_encode("fo", 2, enc, sizeof(enc)) == 4);
	CHECK_STREQ(enc, "Zm8=");
	CHECK(sasl_base64_encode("foobar", 6, enc, sizeof(enc)) == 8);
	CHECK_STREQ(enc, "Zm9vYmFy");
	CHECK(sasl_base64_encode("foobar", 6, enc, 8) == -1);
	CHECK(sasl_base64_encoded_len(6) == 9);

	CHECK(sasl_base64_decode(str_c("Zm9vYmFy"), dec, sizeof(dec)) == 6);
	CHECK_MEMEQ(dec, 6, "foobar", 6);
	CHECK(sasl_base64_decode(str_c(""), dec, sizeof(dec)) == 0);
	CHECK(sasl_base64_decode(str_c("Zg=="), dec, sizeof(dec)) == 1);
	CHECK(sasl_base64_decode(str_c("AGJvYgBwdw=="), dec, sizeof(dec)) == 7);
	CHECK_MEMEQ(dec, 7, "\0bob\0pw", 7);
	/* Strict: padding, length, alphabet, whitespace, unused bits. */
	CHECK(sasl_base64_decode(str_c("Zg"), dec, sizeof(dec)) == -1);
	CHECK(sasl_base64_decode(str_c("Zg="), dec, sizeof(dec)) == -1);
	CHECK(sasl_base64_decode(str_c("Zm9v YmFy"), dec, sizeof(dec)) == -1);
	CHECK(sasl_base64_decode(str_c("Zm9vYmFy\r\n"), dec, sizeof(dec)) == -1);
	CHECK(sasl_base64_decode(str_c("Z==="), dec, sizeof(dec)) == -1);
	CHECK(sasl_base64_decode(str_c("Zg=a"), dec, sizeof(dec)) == -1);
	CHECK(sasl_base64_decode(str_c("Zg==Zg=="), dec, sizeof(dec)) == -1);
	CHECK(sasl_base64_decode(str_c("Zh=="), dec, sizeof(dec)) == -1);
	CHECK(sasl_base64_decode(str_c("Zm9="), dec, sizeof(dec)) == -1);
	CHECK(sasl_base64_decode(str_c("Zm-v"), dec, sizeof(dec)) == -1);
	CHECK(sasl_base64_decode(str_c("Zm9vYmFy"), dec, 5) == -1);
	CHECK(sasl_base64_decode(str_make("Zm\0v", 4), dec, sizeof(dec)) == -1);
}

TEST(mechanism_list)
{
	CHECK_STREQ(sasl_mech_list(true), "SCRAM-SHA-256 PLAIN LOGIN");
	CHECK_STREQ(sasl_mech_list(false), "SCRAM-SHA-256");
	CHECK(sasl_mech_supported("plain"));
	CHECK(sasl_mech_supported("Scram-Sha-256"));
	CHECK(!sasl_mech_supported("CRAM-MD5"));
	CHECK(!sasl_mech_supported("SCRAM-SHA-256-PLUS"));
	CHECK(sasl_mech_is_plaintext("LOGIN"));
	CHECK(!sasl_mech_is_plaintext("SCRAM-SHA-256"));
	struct auth_client c = {AUTH_PROTO_IMAP, "192.0.2.1", true, false};
	CHECK(sasl_session_new("GSSAPI", &c) == NULL);
}

UNIT_MAIN()
