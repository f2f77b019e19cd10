#!/bin/sh
# Runs every unit test binary and prints one closing total.
passed=0 failed=0 broken=""
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	if [ $rc -ne 0 ] || [ -z "$line" ]; then printf '%s\n' "$out"; broken="$broken $t"; fi
	p=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\1/')
	f=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\2/')
	[ -n "$line" ] || { p=0; f=1; }
	passed=$((passed + p)); failed=$((failed + f))
	echo "$(basename "$t"): $p passed, $f failed"
done
echo "unit: $passed passed, $failed failed"
[ -z "$broken" ] || { echo "failing:$broken" >&2; exit 1; }
