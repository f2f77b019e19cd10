#include "unit.h"

#include <stdlib.h>

struct unit_test unit_tests[UNIT_MAX_TESTS];
int unit_ntests;
int unit_current_failed;

void unit_register(const char *name, void (*fn)(void))
{
	if (unit_ntests >= UNIT_MAX_TESTS) {
		fprintf(stderr, "too many tests\n");
		exit(2);
	}
	unit_tests[unit_ntests].name = name;
	unit_tests[unit_ntests].fn = fn;
	unit_ntests++;
}

void unit_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "  %s:%d: CHECK failed: %s\n", file, line, expr);
	unit_current_failed = 1;
}

/* With an argument, runs only the tests whose name contains it. */
int unit_run(int argc, char **argv)
{
	int passed = 0, failed = 0;
	const char *filter = argc > 1 ? argv[1] : NULL;
	for (int i = 0; i < unit_ntests; i++) {
		if (filter && strstr(unit_tests[i].name, filter) == NULL)
			continue;
		unit_current_failed = 0;
		unit_tests[i].fn();
		if (unit_current_failed) {
			failed++;
			fprintf(stderr, "FAIL %s\n", unit_tests[i].name);
		} else {
			passed++;
		}
	}
	printf("%s: %d passed, %d failed\n", argc > 0 ? argv[0] : "unit", passed, failed);
	return failed ? 1 : 0;
}
