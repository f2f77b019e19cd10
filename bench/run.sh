#!/bin/sh
# bench/run.sh [bench.py options] - Roost vs Dovecot benchmarks (make bench).
#
#   make bench                     every scenario, full counts (long: see docs/performance.md)
#   make bench QUICK=1             every scenario scaled down (a few minutes)
#   make bench BENCH_ARGS='--scenario lmtp,pop3 --rounds 3'
#   bench/run.sh --help            every option
#
# Builds the load generator into bench/build/, installs gnuplot (Debian,
# as root) when it is missing, then runs bench/bench.py with /usr/bin/python3.
# Results (JSON, table, PNG chart) go to bench/results/<time>/ (git-ignored).
# Run it from the repository root after `make` (the Makefile's bench target does).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PEER=$(cd "$ROOT/.." && pwd)/shared/peers/dovecot.sh
[ -f "$PEER" ] || { echo "bench/run.sh: the Dovecot peer script $PEER is missing" >&2; exit 1; }

if ! command -v gnuplot >/dev/null 2>&1; then
	if [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
		echo "bench/run.sh: installing gnuplot-nox" >&2
		# Keep packages that ship daemons from starting them on the host.
		policy=/usr/sbin/policy-rc.d created=
		if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' >$policy; chmod +x $policy; created=1; fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gnuplot-nox >/dev/null 2>&1 ||
			{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -q --no-install-recommends gnuplot-nox >/dev/null; } ||
			echo "bench/run.sh: gnuplot-nox did not install: no chart" >&2
		[ -n "$created" ] && rm -f $policy
	else
		echo "bench/run.sh: gnuplot is missing (apt-get install gnuplot-nox): no chart" >&2
	fi
fi

make -s -C "$HERE/loadgen"

if [ "${QUICK:-0}" = 1 ]; then set -- --quick "$@"; fi
# BENCH_ARGS is split into words on purpose.
# shellcheck disable=SC2086
exec /usr/bin/python3 "$HERE/bench.py" "$@" ${BENCH_ARGS:-} ${BENCH_EXTRA:-}
