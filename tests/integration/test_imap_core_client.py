"""A small byte-exact IMAP client for the core protocol tests (session,
parser, mailboxes, APPEND, IDLE, auth). No tests here.

    c = Client(port)                 # reads the greeting into c.greeting
    untagged, tagged = c.cmd("SELECT INBOX")
    c.ok("NOOP"); c.no("SELECT nope"); c.bad("FOO")

Responses are bytes lines without CRLF; a line ending in a literal {n}
gets the literal's bytes and the rest of the line appended."""
import re
import socket
import ssl
import time
import zlib

import pytest

USER = "core@example.com"
PW = "core password 1"


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Client:
    def __init__(self, port, tls=False, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            self.sock = tls_ctx().wrap_socket(self.sock)
        self.buf = b""
        self.n = 0
        self.inflate = None
        self.deflate = None
        self.greeting = self.line()

    # --- transport ---
    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        if self.inflate is not None:
            data = self.inflate.decompress(data)
        self.buf += data

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.deflate is not None:
            data = self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def raw_line(self):
        while b"\r\n" not in self.buf:
            self._recv()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def line(self):
        """One response line, literals included."""
        line = self.raw_line()
        while True:
            m = re.search(rb"~?\{(\d+)\}$", line)
            if not m:
                return line
            n = int(m.group(1))
            while len(self.buf) < n:
                self._recv()
            line += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]
            line += self.raw_line()

    def pending(self, wait=0.2):
        """Lines that arrive within `wait` seconds (none expected: [])."""
        out = []
        self.sock.settimeout(wait)
        try:
            while True:
                out.append(self.line())
        except (socket.timeout, TimeoutError, EOFError):
            pass
        finally:
            self.sock.settimeout(10)
        return out

    # --- commands ---
    def tag(self):
        self.n += 1
        return "c%d" % self.n

    def read_tagged(self, tag):
        untagged = []
        while True:
            line = self.line()
            if line.startswith(tag.encode() + b" "):
                return untagged, line
            untagged.append(line)

    def cmd(self, text):
        tag = self.tag()
        self.send("%s %s\r\n" % (tag, text) if isinstance(text, str)
                  else tag.encode() + b" " + text + b"\r\n")
        return self.read_tagged(tag)

    def expect(self, status, text):
        u, t = self.cmd(text)
        word = t.split(b" ")[1]
        assert word == status.encode(), (text, u, t)
        return u, t

    def ok(self, text):
        return self.expect("OK", text)

    def no(self, text):
        return self.expect("NO", text)

    def bad(self, text):
        return self.expect("BAD", text)

    def login(self, user=USER, pw=PW):
        return self.ok('LOGIN "%s" "%s"' % (user, pw))

    def start_compress(self):
        self.ok("COMPRESS DEFLATE")
        self.inflate = zlib.decompressobj(-15)
        self.deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        assert self.buf == b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def message(subject="hello", body="body text"):
    return ("From: a@example.com\r\nTo: core@example.com\r\nSubject: %s\r\n"
            "Message-ID: <%s@example.com>\r\n\r\n%s\r\n" % (subject, abs(hash(subject)), body)
            ).encode()


def append(c, mailbox, msg, flags=""):
    """APPEND with a synchronizing literal; returns (uidvalidity, uid)."""
    tag = c.tag()
    c.send("%s APPEND %s %s{%d}\r\n" % (tag, mailbox, flags + " " if flags else "", len(msg)))
    cont = c.line()
    assert cont.startswith(b"+"), cont
    c.send(msg + b"\r\n")
    u, t = c.read_tagged(tag)
    assert b" OK " in t, t
    m = re.search(rb"APPENDUID (\d+) (\d+)", t)
    return int(m.group(1)), int(m.group(2))


class Env:
    def __init__(self, daemon):
        self.d = daemon
        self.port = daemon.ports["imap"]
        self.clients = []

    def connect(self, login=True, tls=False):
        c = Client(self.d.ports["imaps"] if tls else self.port, tls=tls)
        self.clients.append(c)
        if login:
            c.login()
        return c

    def close(self):
        for c in self.clients:
            c.close()


@pytest.fixture
def core(roostd):
    # short failure delays keep the failed-login tests quick
    d = roostd(extra="[auth]\nfail_delay_ms = 20\n")
    d.add_user(USER, PW)
    env = Env(d)
    yield env
    env.close()


def wait_for(c, pred, timeout=2.0):
    """Reads lines until pred(line) is true; returns (line, seconds)."""
    t0 = time.time()
    c.sock.settimeout(timeout)
    try:
        while True:
            line = c.line()
            if pred(line):
                return line, time.time() - t0
    finally:
        c.sock.settimeout(10)
