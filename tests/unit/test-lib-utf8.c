#include <string.h>

#include "lib/buf.h"
#include "lib/utf8.h"
#include "unit.h"

static bool valid(const char *s)
{
	return utf8_valid(s, strlen(s));
}

static size_t decode(const char *s, uint32_t *cp_r)
{
	return utf8_decode((const unsigned char *)s, strlen(s), cp_r);
}

TEST(utf8_decode_lengths)
{
	uint32_t cp = 0;
	CHECK(decode("a", &cp) == 1 && cp == 'a');
	CHECK(decode("\xc3\xa4", &cp) == 2 && cp == 0xe4);
	CHECK(decode("\xe5\xb7\xb2x", &cp) == 3 && cp == 0x5df2); /* 已 */
	CHECK(decode("\xf0\x9f\x93\xa7", &cp) == 4 && cp == 0x1f4e7);
	CHECK(decode("\xf4\x8f\xbf\xbf", &cp) == 4 && cp == 0x10ffff);
	CHECK(decode("\xef\xbf\xbd", &cp) == 3 && cp == 0xfffd);
	CHECK(utf8_decode((const unsigned char *)"\0", 1, &cp) == 1 && cp == 0);
	cp = 7;
	CHECK(utf8_decode((const unsigned char *)"a", 0, &cp) == 0 && cp == 7);
	CHECK(decode("\xe5\xb7", &cp) == 0 && cp == 7); /* truncated */
	/* the length bounds the read even when more bytes follow */
	CHECK(utf8_decode((const unsigned char *)"\xe5\xb7\xb2", 2, &cp) == 0);
}

TEST(utf8_invalid)
{
	CHECK(valid(""));
	CHECK(valid("plain ASCII"));
	CHECK(valid("已发送 Entwürfe \xf0\x9f\x93\xa7"));
	CHECK(utf8_valid("a\0b", 3)); /* NUL is a code point: callers refuse it */
	CHECK(!valid("\x80"));                 /* lone continuation byte */
	CHECK(!valid("\xc0\xaf"));             /* overlong '/' */
	CHECK(!valid("\xc1\xbf"));             /* overlong */
	CHECK(!valid("\xe0\x80\xaf"));         /* overlong 3-byte */
	CHECK(!valid("\xe0\x9f\xbf"));         /* overlong U+07FF */
	CHECK(valid("\xe0\xa0\x80"));          /* U+0800, shortest 3-byte */
	CHECK(!valid("\xf0\x8f\xbf\xbf"));     /* overlong U+FFFF */
	CHECK(valid("\xf0\x90\x80\x80"));      /* U+10000, shortest 4-byte */
	CHECK(!valid("\xed\xa0\x80"));         /* U+D800, surrogate */
	CHECK(!valid("\xed\xbf\xbf"));         /* U+DFFF, surrogate */
	CHECK(valid("\xed\x9f\xbf"));          /* U+D7FF */
	CHECK(!valid("\xf4\x90\x80\x80"));     /* U+110000 */
	CHECK(!valid("\xf5\x80\x80\x80"));     /* F5 never leads */
	CHECK(!valid("\xff"));
	CHECK(!valid("\xe5\xb7"));             /* truncated at the end */
	CHECK(!valid("\xe5\xb7x"));            /* continuation missing */
	CHECK(!valid("ok\xc3"));
}

TEST(utf8_append_round_trip)
{
	struct buf b = BUF_INIT(0);
	const uint32_t cps[] = { 0x24, 0xa2, 0x20ac, 0x5df2, 0x10348, 0x10ffff };
	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++)
		CHECK(utf8_append(&b, cps[i]) == 1);
	CHECK_STREQ(buf_cstr(&b), "$\xc2\xa2\xe2\x82\xac\xe5\xb7\xb2\xf0\x90\x8d\x88\xf4\x8f\xbf\xbf");
	size_t i = 0, k = 0;
	while (i < b.len) {
		uint32_t cp;
		size_t n = utf8_decode((const unsigned char *)b.data + i, b.len - i, &cp);
		CHECK(n > 0 && cp == cps[k]);
		if (n == 0)
			break;
		i += n;
		k++;
	}
	CHECK(k == 6);
	buf_reset(&b);
	/* values that are not scalar values become U+FFFD */
	CHECK(utf8_append(&b, 0xd800) == 1);
	CHECK(utf8_append(&b, 0x110000) == 1);
	CHECK_STREQ(buf_cstr(&b), "\xef\xbf\xbd\xef\xbf\xbd");
	buf_free(&b);
	b = BUF_INIT(3);
	CHECK(utf8_append(&b, 0x1f4e7) < 0); /* does not fit */
	CHECK(b.len == 0);
	buf_free(&b);
}

UNIT_MAIN()
