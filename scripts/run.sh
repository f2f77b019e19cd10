#!/bin/sh
# scripts/run.sh BUILD_DIR - a ready-to-try Roost in ./run/ (make run).
#
# Creates ./run/roost.conf (data in ./run/data, listeners on 127.0.0.1:
# IMAP 1143, IMAPS 1993, POP3 1110, POP3S 1995, LMTP 1024, HTTPS 8443, or the next free
# port for each), a self-signed certificate, and the demo account
# demo@example.test with a fresh password (through the roost CLI), then
# prints how to connect and runs roostd in the foreground (Ctrl-C stops it).
# Re-running keeps the data and the certificate and sets a new password.
# As root, roostd drops to the system user `roost`, created here if missing.
set -eu

BUILD=${1:-build}
ROOT=$(pwd)
RUN=$ROOT/run
ROOSTD=$ROOT/$BUILD/roostd
ROOST=$ROOT/$BUILD/roost
RUN_USER=roost
DEMO=demo@example.test

[ -x "$ROOSTD" ] || { echo "run.sh: $ROOSTD is missing; run make first" >&2; exit 1; }
command -v openssl >/dev/null || { echo "run.sh: openssl is needed" >&2; exit 1; }

# The first port at or after $1 that nobody listens on (127.0.0.1).
free_port() {
	/usr/bin/python3 - "$1" <<'PY'
import socket, sys
port = int(sys.argv[1])
while port < 65535:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(port)
        break
    except OSError:
        port += 1
    finally:
        s.close()
PY
}

mkdir -p "$RUN"
chmod 755 "$RUN"
DATA=$RUN/data

if [ "$(id -u)" = 0 ]; then
	if ! id "$RUN_USER" >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$RUN_USER"
		echo "run.sh: created system user $RUN_USER"
	fi
	# roostd works as $RUN_USER: it must reach the data directory.
	if ! su -s /bin/sh "$RUN_USER" -c "test -x '$RUN'" 2>/dev/null; then
		DATA=/var/tmp/roost-run-data
		echo "run.sh: $RUN is not reachable by user $RUN_USER (a parent directory is" \
			"private); keeping the mail data in $DATA instead"
	fi
	USER_LINE="user = $RUN_USER"
else
	USER_LINE="user = $(id -un)"
fi

IMAP=$(free_port 1143)
IMAPS=$(free_port 1993)
POP3=$(free_port 1110)
POP3S=$(free_port 1995)
LMTP=$(free_port 1024)
HTTPS=$(free_port 8443)

if [ ! -s "$RUN/cert.pem" ] || [ ! -s "$RUN/key.pem" ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$RUN/key.pem" -out "$RUN/cert.pem" >/dev/null 2>&1
fi
# Readable by roostd after it dropped privileges (SIGHUP reloads them).
chmod 644 "$RUN/cert.pem" "$RUN/key.pem"

cat >"$RUN/roost.conf" <<CONF
# Written by scripts/run.sh for trying Roost on this machine; see
# roost.conf.example and docs/configuration.md for every setting.
data_dir = $DATA
$USER_LINE
hostname = localhost
log_level = info

[tls]
cert = $RUN/cert.pem
key = $RUN/key.pem

[auth]
default_domain = example.test

[listener]
protocol = imap
address = 127.0.0.1
port = $IMAP

[listener]
protocol = imaps
address = 127.0.0.1
port = $IMAPS

[listener]
protocol = pop3
address = 127.0.0.1
port = $POP3

[listener]
protocol = pop3s
address = 127.0.0.1
port = $POP3S

[listener]
protocol = lmtp
address = 127.0.0.1
port = $LMTP

[listener]
protocol = https
address = 127.0.0.1
port = $HTTPS
CONF
chmod 644 "$RUN/roost.conf"

# data_dir must exist and belong to the user roostd runs as before the CLI
# (which drops to that user too) creates the accounts database in it.
mkdir -p "$DATA"
chmod 700 "$DATA"
[ "$(id -u)" = 0 ] && chown "$RUN_USER:" "$DATA"

PASSWORD=$(openssl rand -base64 12 | tr -d '/+=' | cut -c1-12)
DEMO_OK=no
if "$ROOST" -c "$RUN/roost.conf" help user >/dev/null 2>&1; then
	"$ROOST" -c "$RUN/roost.conf" domain add example.test >/dev/null 2>&1 || true
	if printf '%s\n' "$PASSWORD" |
		"$ROOST" -c "$RUN/roost.conf" user add "$DEMO" --password-stdin >/dev/null 2>"$RUN/cli.err"; then
		DEMO_OK=yes
	elif printf '%s\n' "$PASSWORD" |
		"$ROOST" -c "$RUN/roost.conf" user passwd "$DEMO" --password-stdin >/dev/null 2>>"$RUN/cli.err"; then
		DEMO_OK=yes
	fi
fi

echo
echo "Roost is starting with $RUN/roost.conf (data in $DATA)."
echo
if [ "$DEMO_OK" = yes ]; then
	echo "Demo account:  $DEMO"
	echo "Password:      $PASSWORD"
else
	echo "NO DEMO ACCOUNT WAS MADE: '$ROOST user add' failed or does not exist yet:"
	[ -s "$RUN/cli.err" ] && sed 's/^/    /' "$RUN/cli.err"
	PASSWORD=PASSWORD
fi
cat <<INFO

Try it (the certificate is self-signed, hence -k):
  curl -k --user '$DEMO:$PASSWORD' imap://127.0.0.1:$IMAP/
  curl -k --user '$DEMO:$PASSWORD' --ssl-reqd imap://127.0.0.1:$IMAP/INBOX
  curl -k --user '$DEMO:$PASSWORD' pop3s://127.0.0.1:$POP3S/
  openssl s_client -connect 127.0.0.1:$IMAPS -quiet
  openssl s_client -connect 127.0.0.1:$IMAP -starttls imap -quiet
  openssl s_client -connect 127.0.0.1:$POP3 -starttls pop3 -quiet

Deliver a message (LMTP on 127.0.0.1:$LMTP, or with the CLI):
  printf 'Subject: hello\r\n\r\nfirst mail\r\n' | $ROOST -c $RUN/roost.conf deliver -u $DEMO

Account settings page (turn IMAP/POP3 on or off, app passwords; 中文/English):
  https://localhost:$HTTPS/   (sign in with the account password)
Client auto-configuration (Thunderbird):
  curl -k 'https://localhost:$HTTPS/mail/config-v1.1.xml?emailaddress=$DEMO'

Thunderbird: File > New > Existing Mail Account, then "Configure manually":
  Incoming: IMAP, server 127.0.0.1, port $IMAPS, SSL/TLS, normal password,
            username $DEMO   (or POP3, port $POP3S, SSL/TLS)
  Accept the certificate exception for the self-signed certificate.

Logs follow below; Ctrl-C (SIGINT) stops roostd, SIGHUP reloads $RUN/roost.conf.

INFO
exec "$ROOSTD" -c "$RUN/roost.conf" -F
