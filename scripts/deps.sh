#!/bin/sh
# Checks Roost's build and test dependencies and, on Debian/Ubuntu as root,
# installs the missing ones with apt-get. Elsewhere it prints what to install.
#   scripts/deps.sh          check, install what is missing (when possible)
#   scripts/deps.sh --check  check only; exit 1 if something is missing
set -u

# Debian package : how to tell it is there
PKGS="
build-essential:cmd:cc
make:cmd:make
pkg-config:cmd:pkg-config
libssl-dev:pc:openssl
libevent-dev:pc:libevent_openssl
libsqlite3-dev:pc:sqlite3
zlib1g-dev:pc:zlib
libcrypt-dev:hdr:/usr/include/crypt.h
openssl:cmd:openssl
python3:file:/usr/bin/python3
python3-pytest:py:pytest
python3-pytest-xdist:py:xdist
clang:cmd:clang
curl:cmd:curl
isync:cmd:mbsync
fetchmail:cmd:fetchmail
getmail6:cmd:getmail
"

missing=""
for entry in $PKGS; do
	pkg=${entry%%:*}; rest=${entry#*:}; kind=${rest%%:*}; what=${rest#*:}
	case $kind in
	cmd) command -v "$what" >/dev/null 2>&1 ;;
	pc) pkg-config --exists "$what" 2>/dev/null ;;
	hdr|file) [ -e "$what" ] ;;
	py) /usr/bin/python3 -c "import $what" >/dev/null 2>&1 ;;
	esac || missing="$missing $pkg"
done

[ -z "$missing" ] && exit 0

if [ "${1:-}" = "--check" ]; then
	echo "missing packages:$missing" >&2
	exit 1
fi

if [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	echo "deps: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	# Keep packages that ship daemons from starting them on the host.
	policy=/usr/sbin/policy-rc.d created=
	if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' >$policy; chmod +x $policy; created=1; fi
	apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }
	rc=$?
	[ -n "$created" ] && rm -f $policy
	[ $rc = 0 ] || { echo "deps: apt-get install$missing failed" >&2; exit 1; }
	exit 0
fi

echo "Roost needs these packages (Debian names):$missing" >&2
echo "Install them, e.g.: sudo apt-get install$missing" >&2
exit 1
