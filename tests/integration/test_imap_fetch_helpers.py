"""Helpers shared by the IMAP message-command tests (FETCH, SEARCH, STORE,
COPY/MOVE, clients): a byte-exact IMAP client that parses responses into
Python values (literals kept as bytes), and the nested multipart test
message built from known parts, so every section can be compared with the
exact slice it must be. No tests here."""
import base64
import re
import smtplib
import socket
import ssl

import pytest

USER = "mia@example.com"
PW = "message commands 1"


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Atom(str):
    """An IMAP atom (as opposed to a quoted string or literal)."""


def parse_value(data, pos=0):
    """Parses one IMAP value at data[pos:]: returns (value, new_pos). Lists
    become Python lists, NIL None, quoted strings and literals bytes, atoms
    Atom (a "[...]" section with spaces and parens is part of the atom)."""
    c = data[pos:pos + 1]
    if c == b"(":
        out = []
        pos += 1
        while True:
            while data[pos:pos + 1] == b" ":
                pos += 1
            if data[pos:pos + 1] == b")":
                return out, pos + 1
            v, pos = parse_value(data, pos)
            out.append(v)
    if c == b'"':
        pos += 1
        s = bytearray()
        while data[pos:pos + 1] != b'"':
            if data[pos:pos + 1] == b"\\":
                pos += 1
            s += data[pos:pos + 1]
            pos += 1
        return bytes(s), pos + 1
    m = re.compile(rb"~?\{(\d+)\}\r\n").match(data, pos)
    if m:
        n = int(m.group(1))
        start = m.end()
        return data[start:start + n], start + n
    start = pos
    depth = 0
    while pos < len(data):
        ch = data[pos:pos + 1]
        if ch == b"[":
            depth += 1
        elif ch == b"]":
            depth -= 1
        elif depth == 0 and ch in (b" ", b"(", b")", b"\r"):
            break
        pos += 1
    atom = data[start:pos].decode("utf-8", "replace")
    return (None if atom.upper() == "NIL" else Atom(atom)), pos


def parse_fetch(resp):
    """'* 3 FETCH (UID 5 BODY[1] {3}\\r\\nabc)' -> (3, {'UID': '5', 'BODY[1]': b'abc'})."""
    m = re.match(rb"\* (\d+) FETCH ", resp)
    assert m, resp
    items, _ = parse_value(resp, m.end())
    d = {}
    for i in range(0, len(items), 2):
        d[str(items[i]).upper()] = items[i + 1]
    return int(m.group(1)), d


class Imap:
    """One connection; cmd() returns (untagged responses as raw bytes with
    their literals inline, tagged status, tagged text)."""

    def __init__(self, port, tls=False, host="127.0.0.1", timeout=30):
        s = socket.create_connection((host, port), timeout=timeout)
        if tls:
            s = tls_ctx().wrap_socket(s)
        self.sock = s
        self.buf = b""
        self.n = 0
        self.greeting = self.read_response()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        d = self.sock.recv(1 << 20)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def read_line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n")
        ln, self.buf = self.buf[:i], self.buf[i + 2:]
        return ln

    def read_response(self):
        """One response line with all its literals (raw wire bytes, no final CRLF)."""
        out = b""
        while True:
            ln = self.read_line()
            out += ln
            m = re.search(rb"~?\{(\d+)\}$", ln)
            if not m:
                return out
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill()
            out += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, text, tag=None):
        if tag is None:
            self.n += 1
            tag = "t%d" % self.n
        if isinstance(text, str):
            text = text.encode()
        self.send(tag.encode() + b" " + text + b"\r\n")
        return self.wait(tag)

    def wait(self, tag):
        untagged = []
        while True:
            r = self.read_response()
            if r.startswith(tag.encode() + b" "):
                rest = r[len(tag) + 1:]
                status, _, text = rest.partition(b" ")
                return untagged, status.decode(), text.decode("utf-8", "replace")
            if r.startswith(b"+"):
                raise AssertionError("unexpected continuation: %r" % r)
            untagged.append(r)

    def ok(self, text):
        u, st, tx = self.cmd(text)
        assert st == "OK", (text, st, tx, u)
        return u, tx

    def literal_cmd(self, prefix, data, suffix=b""):
        """A command with one synchronizing literal at its end (APPEND)."""
        self.n += 1
        tag = "t%d" % self.n
        if isinstance(prefix, str):
            prefix = prefix.encode()
        self.send(tag.encode() + b" " + prefix + b" {%d}\r\n" % len(data))
        cont = self.read_line()
        assert cont.startswith(b"+"), cont
        self.send(data + suffix + b"\r\n")
        return self.wait(tag)

    def login(self, user, pw):
        return self.ok('LOGIN "%s" "%s"' % (user, pw))

    def fetch(self, text):
        """Runs a FETCH; returns {msn: {item: value}} (several responses for
        one message are merged) and the tagged text."""
        u, st, tx = self.cmd(text)
        assert st == "OK", (text, st, tx, u)
        out = {}
        for r in u:
            if re.match(rb"\* \d+ FETCH ", r):
                n, d = parse_fetch(r)
                out.setdefault(n, {}).update(d)
        return out

    def append(self, mailbox, data, flags=""):
        u, st, tx = self.literal_cmd('APPEND "%s"%s' % (mailbox, (" (%s)" % flags) if flags
                                                        else ""), data)
        assert st == "OK", (st, tx)
        m = re.search(r"APPENDUID \d+ (\d+)", tx)
        return int(m.group(1)) if m else None


def search_nums(untagged):
    """Numbers from '* SEARCH 1 2 3' (ignoring a (MODSEQ n) suffix)."""
    for r in untagged:
        if r.startswith(b"* SEARCH"):
            r = re.sub(rb"\(MODSEQ \d+\)", b"", r)
            return [int(x) for x in r.split()[2:]]
    raise AssertionError("no SEARCH response in %r" % untagged)


def esearch(untagged):
    """'* ESEARCH (TAG "t1") UID MIN 2 COUNT 3' -> {'UID': True, 'MIN': '2', ...}."""
    for r in untagged:
        if r.startswith(b"* ESEARCH"):
            words = r.decode().split()
            d = {}
            i = 2
            if words[i].startswith("("):
                i += 2
            while i < len(words):
                if words[i] == "UID":
                    d["UID"] = True
                    i += 1
                else:
                    d[words[i]] = words[i + 1]
                    i += 2
            return d
    raise AssertionError("no ESEARCH response in %r" % untagged)


def expand(seqset):
    """'1:3,7' -> [1, 2, 3, 7]."""
    out = []
    for part in seqset.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            out.extend(range(min(a, b), max(a, b) + 1))
        else:
            out.append(int(part))
    return out


# ---- the nested multipart test message ------------------------------------

HEADER = (b"From: Alice <alice@example.com>\r\n"
          b"To: Bob <bob@example.com>\r\n"
          b"Cc: Carol <carol@example.com>\r\n"
          b"Subject: Nested test\r\n"
          b" folded subject line\r\n"
          b"Date: Sun, 10 Mar 2024 09:00:00 +0000\r\n"
          b"Message-ID: <nested@example.com>\r\n"
          b"MIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
          b"\r\n")
P1_MIME = (b"Content-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
P1 = b"caf=C3=A9 au lait=\r\n and more\r\nsecond line"
P1_DECODED = "café au lait and more\r\nsecond line".encode()
P2_DATA = bytes(range(256)) * 4
_b64 = base64.b64encode(P2_DATA)
P2 = b"\r\n".join(_b64[i:i + 76] for i in range(0, len(_b64), 76))
P2_MIME = (b"Content-Type: application/octet-stream; name=\"x.bin\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n")
INNER_HEADER = (b"From: Dave <dave@example.com>\r\n"
                b"Subject: Inner message\r\n"
                b"Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n")
IN1_MIME = b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
IN1 = b"inner plain text"
IN2_MIME = b"Content-Type: text/html\r\n\r\n"
IN2 = b"<p>inner html</p>"
INNER_BODY = (b"--inner\r\n" + IN1_MIME + IN1 + b"\r\n--inner\r\n" + IN2_MIME + IN2 +
              b"\r\n--inner--\r\n")
P3_MIME = b"Content-Type: message/rfc822\r\n\r\n"
P3 = INNER_HEADER + INNER_BODY
P41_MIME = b"Content-Type: image/gif\r\nContent-Transfer-Encoding: base64\r\n\r\n"
P41 = b"R0lGODlhAQABAIAAAAAAAP///ywAAAAAAQABAAACAUwAOw=="
P42_MIME = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-unknown\r\n\r\n"
P42 = b"???"
P4_MIME = b"Content-Type: multipart/related; boundary=\"rel\"\r\n\r\n"
P4 = (b"--rel\r\n" + P41_MIME + P41 + b"\r\n--rel\r\n" + P42_MIME + P42 +
      b"\r\n--rel--\r\n")
TEXT = (b"This is a MIME message.\r\n"
        b"--outer\r\n" + P1_MIME + P1 +
        b"\r\n--outer\r\n" + P2_MIME + P2 +
        b"\r\n--outer\r\n" + P3_MIME + P3 +
        b"\r\n--outer\r\n" + P4_MIME + P4 +
        b"\r\n--outer--\r\n")
NESTED = HEADER + TEXT


def simple_message(subject="hello", body="body text", frm="a@example.com", to="b@example.com",
                   date="Sun, 10 Mar 2024 09:00:00 +0000", extra=b""):
    return (("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n" % (frm, to, subject, date))
            .encode() + extra + b"\r\n" + body.encode() + b"\r\n")


# ---- a roostd for the message-command tests ------------------------------

class ImapEnv:
    """A started roostd (conftest's `roostd` fixture: free loopback ports,
    clean-exit and sanitizer checks at teardown) with one user (USER/PW)."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.imap_port = daemon.ports["imap"]
        self.imaps_port = daemon.ports["imaps"]
        self.lmtp_port = daemon.ports["lmtp"]
        daemon.add_user(USER, PW)
        self.user, self.password = USER, PW

    def cli(self, *args, input=None):
        return self.daemon.cli(*args, input=input).stdout

    def connect(self, tls=False, login=True):
        c = Imap(self.imaps_port if tls else self.imap_port, tls=tls)
        if login:
            c.login(self.user, self.password)
        return c

    def deliver(self, data, address=None):
        """Delivers over LMTP (smtplib.LMTP), like an MTA."""
        with smtplib.LMTP("127.0.0.1", self.lmtp_port) as lmtp:
            refused = lmtp.sendmail("sender@example.org", [address or self.user], data)
            assert refused == {}


@pytest.fixture
def imap_env(roostd):
    # A free port can be taken by a test running next to us before roostd
    # binds it; such a start is retried with new ports (and the failed
    # daemon's exit is expected, so teardown does not count it).
    for attempt in range(5):
        d = roostd(start=False)
        try:
            d.start()
            return ImapEnv(d)
        except RuntimeError as e:
            d.expect_failure = True
            if "Address already in use" not in str(e) or attempt == 4:
                raise
