/* unit.h - the in-tree unit test runner.
 *
 *   #include "unit.h"
 *   TEST(buf_grows) { struct buf b = BUF_INIT(0); CHECK(buf_append_cstr(&b, "x") == 1); ... }
 *   int main(void) { return unit_run(); }   -- or UNIT_MAIN()
 *
 * Each TEST registers itself; CHECK failures are reported with file:line
 * and the test continues; the run ends with "N passed, N failed". */
#ifndef ROOST_UNIT_H
#define ROOST_UNIT_H

#include <stdio.h>
#include <string.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

#define UNIT_MAX_TESTS 512
extern struct unit_test unit_tests[UNIT_MAX_TESTS];
extern int unit_ntests;
extern int unit_current_failed;

void unit_register(const char *name, void (*fn)(void));
int unit_run(int argc, char **argv);
void unit_fail(const char *file, int line, const char *expr);

#define TEST(name)                                                                          \
	static void test_##name(void);                                                      \
	__attribute__((constructor)) static void register_##name(void)                      \
	{                                                                                   \
		unit_register(#name, test_##name);                                          \
	}                                                                                   \
	static void test_##name(void)

#define CHECK(expr)                                                                         \
	do {                                                                                \
		if (!(expr))                                                                \
			unit_fail(__FILE__, __LINE__, #expr);                               \
	} while (0)

#define CHECK_STREQ(a, b)                                                                   \
	do {                                                                                \
		const char *a_ = (a), *b_ = (b);                                            \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                      \
			fprintf(stderr, "  got:      %s\n  expected: %s\n", a_ ? a_ : "(null)", \
				b_ ? b_ : "(null)");                                        \
			unit_fail(__FILE__, __LINE__, #a " == " #b);                        \
		}                                                                           \
	} while (0)

#define CHECK_MEMEQ(a, alen, b, blen)                                                       \
	do {                                                                                \
		if ((size_t)(alen) != (size_t)(blen) || memcmp((a), (b), (blen)) != 0) {    \
			fprintf(stderr, "  got:      %.*s\n  expected: %.*s\n", (int)(alen),    \
				(const char *)(a), (int)(blen), (const char *)(b));         \
			unit_fail(__FILE__, __LINE__, #a " == " #b);                        \
		}                                                                           \
	} while (0)

#define UNIT_MAIN()                                                                         \
	int main(int argc, char **argv)                                                     \
	{                                                                                   \
		return unit_run(argc, argv);                                                \
	}

#endif
