#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/pool.h"
#include "lib/str.h"
#include "unit.h"

TEST(buf_append_and_max)
{
	struct buf b = BUF_INIT(8);
	CHECK(buf_append_cstr(&b, "abcd") == 1);
	CHECK(buf_append_cstr(&b, "efgh") == 1);
	CHECK(buf_append_char(&b, 'i') == -1);
	CHECK(b.len == 8);
	CHECK_STREQ(buf_cstr(&b), "abcdefgh");
	buf_consume(&b, 3);
	CHECK_STREQ(buf_cstr(&b), "defgh");
	CHECK(buf_printf(&b, "%d", 123) == 1);
	CHECK_STREQ(buf_cstr(&b), "defgh123");
	CHECK(buf_printf(&b, "%d", 4567) == -1);
	CHECK_STREQ(buf_cstr(&b), "defgh123");
	buf_free(&b);
	CHECK(b.data == NULL);
}

TEST(buf_binary_and_steal)
{
	struct buf b = BUF_INIT(0);
	CHECK(buf_append(&b, "a\0b", 3) == 1);
	CHECK(b.len == 3 && b.data[1] == '\0' && b.data[3] == '\0');
	size_t len;
	char *p = buf_steal(&b, &len);
	CHECK(p && len == 3 && b.data == NULL);
	free(p);
}

TEST(str_numbers)
{
	uint64_t v;
	uint32_t w;
	CHECK(str_to_u64(STR_LIT("18446744073709551615"), &v) == 1 && v == UINT64_MAX);
	CHECK(str_to_u64(STR_LIT("18446744073709551616"), &v) == -1);
	CHECK(str_to_u64(STR_LIT(""), &v) == -1);
	CHECK(str_to_u64(STR_LIT("12a"), &v) == -1);
	CHECK(str_to_u32(STR_LIT("4294967295"), &w) == 1 && w == UINT32_MAX);
	CHECK(str_to_u32(STR_LIT("4294967296"), &w) == -1);
}

TEST(str_compare_and_find)
{
	CHECK(str_eq_nocase(STR_LIT("InBoX"), STR_LIT("INBOX")));
	CHECK(!str_eq_nocase(STR_LIT("INBOX1"), STR_LIT("INBOX")));
	CHECK(str_find_nocase(STR_LIT("Hello World"), STR_LIT("WORLD")) == 6);
	CHECK(str_find_nocase(STR_LIT("Hello"), STR_LIT("xyz")) == -1);
	CHECK(str_find(STR_LIT("a\0bc"), STR_LIT("bc")) == 2);
	CHECK(str_eq(str_trim(STR_LIT("  x y \r\n")), STR_LIT("x y")));
	CHECK(str_eq_consttime(STR_LIT("secret"), STR_LIT("secret")));
	CHECK(!str_eq_consttime(STR_LIT("secret"), STR_LIT("secreT")));
	char small[4];
	CHECK(str_copy_cstr(STR_LIT("abcdef"), small, sizeof(small)) == 3);
	CHECK_STREQ(small, "abc");
}

TEST(pool_allocations)
{
	struct pool *p = pool_new(512);
	char *a = pool_strdup(p, "hello");
	void *big = pool_alloc(p, 10000);
	char *c = pool_strdup(p, "world");
	CHECK(a && big && c);
	CHECK_STREQ(a, "hello");
	CHECK_STREQ(c, "world");
	CHECK(((uintptr_t)big & 15) == 0);
	pool_clear(p);
	CHECK(pool_used(p) == 0);
	CHECK(pool_strdup(p, "again") != NULL);
	pool_free(&p);
	CHECK(p == NULL);
}

UNIT_MAIN()
