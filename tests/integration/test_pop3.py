"""POP3 against a real roostd: every command, byte-exact RETR/TOP, pipelining,
STLS and implicit TLS, the login rules (plaintext policy, app passwords, the
POP3 switch, SASL PLAIN/LOGIN/SCRAM-SHA-256), [IN-USE], the DELE policies and
the offer window, IMAP interplay (\\Seen, IDLE seeing the EXPUNGE, flags), and
real clients (fetchmail, getmail, curl)."""
import base64
import hashlib
import hmac
import imaplib
import json
import os
import poplib
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest


PW = "correct horse 1"


class Env:
    """A roostd from the shared fixture (conftest.py: imap, imaps, pop3,
    pop3s, lmtp on free loopback ports) with the helpers these tests use.
    `extra` is appended to its config."""

    def __init__(self, roostd, extra=""):
        self.d = roostd(extra=extra)
        self.pop3_port = self.d.ports["pop3"]
        self.pop3s_port = self.d.ports["pop3s"]
        self.imap_port = self.d.ports["imap"]
        self.lmtp_port = self.d.ports["lmtp"]
        self.proc = self.d.proc

    def cli(self, *args, input=None):
        return self.d.cli(*args, input=input).stdout

    def cli_json(self, *args):
        return json.loads(self.cli(*args, "--json"))

    def add_user(self, address, password):
        self.d.add_user(address, password)

    def deliver(self, address, data):
        """Delivers over LMTP (smtplib.LMTP), like an MTA."""
        with smtplib.LMTP("127.0.0.1", self.lmtp_port) as lmtp:
            refused = lmtp.sendmail("sender@example.org", [address], data)
            assert refused == {}

    def deliver_cli(self, address, data):
        self.cli("deliver", "-u", address, input=data)

    def imap(self, user, password):
        m = imaplib.IMAP4("127.0.0.1", self.imap_port)
        m.login(user, password)
        return m


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Raw:
    """A byte-exact POP3 client: what poplib hides (CRLFs, stuffing, order)."""

    def __init__(self, port, tls=False):
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        if tls:
            s = tls_ctx().wrap_socket(s)
        self.sock = s
        self.buf = b""
        self.greeting = self.line()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(1 << 16)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def multiline(self):
        """The raw body of a multi-line response, still stuffed, without the
        terminating ".CRLF"."""
        while True:
            if self.buf.startswith(b".\r\n"):
                self.buf = self.buf[3:]
                return b""
            i = self.buf.find(b"\r\n.\r\n")
            if i >= 0:
                body, self.buf = self.buf[:i + 2], self.buf[i + 5:]
                return body
            self._fill()

    def cmd(self, c):
        self.send(c.encode() + b"\r\n")
        return self.line()

    def login(self, user, pw):
        assert self.cmd("USER " + user).startswith(b"+OK")
        r = self.cmd("PASS " + pw)
        assert r.startswith(b"+OK"), r
        return r

    def eof(self):
        try:
            while True:
                d = self.sock.recv(4096)
                if not d:
                    return True
                self.buf += d
        except OSError:
            return True

    def close(self):
        self.sock.close()


def unstuff(body):
    out = []
    for ln in body.split(b"\r\n")[:-1]:
        assert not (ln.startswith(b".") and not ln.startswith(b"..")), ln
        out.append(ln[1:] if ln.startswith(b".") else ln)
    return b"".join(x + b"\r\n" for x in out)


def check_stuffing(body):
    """Every CRLF-separated line of a stuffed body either does not start with
    '.', or starts with '..'; no bare LF or CR."""
    assert body.endswith(b"\r\n") or body == b""
    assert b"\n" not in body.replace(b"\r\n", b"")
    for ln in body.split(b"\r\n"):
        if ln.startswith(b"."):
            assert ln.startswith(b".."), ln


def pop(env, user, pw=PW):
    p = poplib.POP3("127.0.0.1", env.pop3_port, timeout=20)
    p.user(user)
    p.pass_(pw)
    return p


def pop_after_drop(env, user):
    """Logs in once the server has noticed that an earlier session went
    away (until then the maildrop is [IN-USE])."""
    deadline = time.time() + 10
    while True:
        try:
            return pop(env, user)
        except poplib.error_proto as e:
            if b"[IN-USE]" not in e.args[0] or time.time() > deadline:
                raise
            time.sleep(0.05)


# Messages, CRLF already (what LMTP transports).
MSG_SIMPLE = b"From: a@example.org\r\nTo: u@example.com\r\nSubject: simple\r\n\r\nHello.\r\n"
MSG_DOTS = (b"From: a@example.org\r\nSubject: dots\r\n\r\n"
            b".\r\n..\r\n.leading dot\r\nmiddle . dot\r\n...three\r\n. \r\nend\r\n")
LINE998 = b"x" * 998
MSG_998 = (b"From: a@example.org\r\nSubject: long lines\r\n\r\n" + LINE998 + b"\r\n"
           + b"." + b"y" * 997 + b"\r\n" + b"z" * 998 + b"\r\n")
MSG_8BIT = ("From: =?UTF-8?B?5byg5LiJ?= <zhang@example.cn>\r\nSubject: =?GBK?B?suLK1A==?=\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=GB18030\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + \
    "你好，世界。已发送\r\n".encode("gb18030") + "中文 UTF-8 行\r\n".encode() + b"\xff\xfe\x80\r\n"


@pytest.fixture
def env(roostd):
    return Env(roostd, extra="[auth]\nfail_delay_ms = 20\n")


@pytest.fixture
def user(env):
    env.add_user("li.na@example.com", PW)
    return "li.na@example.com"


# --- greeting, CAPA, basic commands ---------------------------------------

def test_greeting_and_capa(env, user):
    r = Raw(env.pop3_port)
    assert r.greeting == b"+OK Roost POP3 ready."
    assert r.cmd("CAPA") == b"+OK Capability list follows"
    caps = r.multiline().decode().split("\r\n")[:-1]
    for c in ("TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
              "EXPIRE NEVER", "LOGIN-DELAY 0", "IMPLEMENTATION Roost", "STLS", "UTF8 USER"):
        assert c in caps, (c, caps)
    sasl = [c for c in caps if c.startswith("SASL ")][0].split()[1:]
    assert set(sasl) == {"SCRAM-SHA-256", "PLAIN", "LOGIN"}
    assert r.cmd("noop") == b"+OK"
    assert r.cmd("STAT") == b"-ERR Log in first (USER and PASS, or AUTH)"
    assert r.cmd("QUIT") == b"+OK Roost POP3 signing off"
    assert r.eof()


def test_every_transaction_command(env, user):
    uids = [env.deliver(user, m) for m in (MSG_SIMPLE, MSG_DOTS, MSG_998)]
    assert len(uids) == 3
    p = pop(env, user)
    count, size = p.stat()
    assert count == 3
    resp, listing, _ = p.list()
    sizes = {int(a): int(b) for a, b in (ln.split() for ln in listing)}
    assert sorted(sizes) == [1, 2, 3] and sum(sizes.values()) == size
    assert p.list(2) == b"+OK 2 %d" % sizes[2]
    resp, uidls, _ = p.uidl()
    ids = dict(ln.decode().split() for ln in uidls)
    assert len(set(ids.values())) == 3
    for v in ids.values():
        assert re.fullmatch(r"[0-9a-f]{8}\.\d+", v) and len(v) <= 70
    assert p.uidl(3) == ("+OK 3 " + ids["3"]).encode()
    resp, lines, octets = p.retr(1)
    assert resp == b"+OK %d octets" % sizes[1]
    assert lines[-1] == b"Hello."
    resp, lines, _ = p.top(2, 1)
    assert lines[-2:] == [b"", b"."]  # TOP 2 1: blank line, then the body's "." line
    assert p.dele(1).startswith(b"+OK")
    with pytest.raises(poplib.error_proto, match="message 1 is deleted"):
        p.retr(1)
    with pytest.raises(poplib.error_proto, match="message 1 is deleted"):
        p.dele(1)
    with pytest.raises(poplib.error_proto, match="message 1 is deleted"):
        p.list(1)
    assert p.stat() == (2, size - sizes[1])
    assert [ln.split()[0] for ln in p.list()[1]] == [b"2", b"3"]
    assert p.rset().startswith(b"+OK")
    assert p.stat() == (3, size)
    assert p.noop() == b"+OK"
    for bad in ("RETR 0", "RETR 4", "DELE 99", "LIST 4294967295", "TOP 9 1", "UIDL 0"):
        with pytest.raises(poplib.error_proto, match="No such message"):
            p._shortcmd(bad)
    for bad, msg in (("RETR x", "Invalid message number"), ("RETR", "Message number required"),
                     ("TOP 1", "TOP needs"), ("STAT 1", "takes no arguments"),
                     ("LIST 1 2", "Too many arguments"), ("XTND", "Unknown command"),
                     ("USER x", "Already logged in"), ("STLS", "only allowed before login")):
        with pytest.raises(poplib.error_proto, match=msg):
            p._shortcmd(bad)
    assert p.quit().startswith(b"+OK")
    # RSET undid the deletion: nothing was removed.
    p = pop(env, user)
    assert p.stat()[0] == 3
    p.quit()


def test_retr_byte_exact(env, user):
    msgs = [MSG_SIMPLE, MSG_DOTS, MSG_998, MSG_8BIT]
    for m in msgs:
        env.deliver(user, m)
    r = Raw(env.pop3_port)
    r.login(user, PW)
    assert r.cmd("LIST") .startswith(b"+OK")
    sizes = [int(ln.split()[1]) for ln in r.multiline().split(b"\r\n")[:-1]]
    imap = env.imap(user, PW)
    imap.select("INBOX")
    for n, m in enumerate(msgs, 1):
        head = r.cmd("RETR %d" % n)
        assert head == b"+OK %d octets" % sizes[n - 1]
        body = r.multiline()
        check_stuffing(body)
        plain = unstuff(body)
        # The exact stored bytes (delivery may prepend trace headers) ...
        assert plain.endswith(m)
        assert len(plain) == sizes[n - 1]
        # ... and the same bytes IMAP serves.
        typ, data = imap.fetch(str(n), "(BODY.PEEK[])")
        assert data[0][1] == plain
    # The 998-octet lines arrive whole, the dotted one stuffed to 999.
    r.send(b"RETR 3\r\n")
    r.line()
    body = r.multiline()
    assert b"\r\n" + LINE998 + b"\r\n" in body
    assert b"\r\n.." + b"y" * 997 + b"\r\n" in body
    r.send(b"RETR 2\r\n")
    r.line()
    body = r.multiline()
    assert b"\r\n..\r\n...\r\n..leading dot\r\nmiddle . dot\r\n....three\r\n.. \r\n" in body
    imap.logout()
    r.cmd("QUIT")


def test_message_without_final_crlf(env, user):
    # `roost deliver` stores what it gets; a last line without CRLF still
    # ends the response properly.
    env.deliver_cli(user, b"Subject: no eol\r\n\r\nlast line")
    r = Raw(env.pop3_port)
    r.login(user, PW)
    head = r.cmd("RETR 1")
    size = int(head.split()[1])
    body = r.multiline()
    imap = env.imap(user, PW)
    imap.select("INBOX", readonly=True)
    stored = imap.fetch("1", "(BODY.PEEK[])")[1][0][1]
    imap.logout()
    assert stored.endswith(b"\r\n\r\nlast line") and len(stored) == size
    # The CRLF the server adds before ".CRLF" is not counted in the size.
    assert body == stored + b"\r\n"
    assert r.cmd("TOP 1 0").startswith(b"+OK")
    assert r.multiline().endswith(b"\r\nSubject: no eol\r\n\r\n")
    r.cmd("QUIT")


def test_top(env, user):
    env.deliver(user, b"A: 1\r\nB: 2\r\n\r\nl1\r\n.l2\r\nl3\r\n")
    r = Raw(env.pop3_port)
    r.login(user, PW)
    results = {}
    for n in (0, 1, 2, 3, 50):
        assert r.cmd("TOP 1 %d" % n) == b"+OK Top of message follows"
        results[n] = r.multiline()
    assert results[0].endswith(b"A: 1\r\nB: 2\r\n\r\n")
    assert results[1].endswith(b"\r\n\r\nl1\r\n")
    assert results[2].endswith(b"\r\n\r\nl1\r\n..l2\r\n")
    assert results[3] == results[50]
    assert results[3].endswith(b"\r\n\r\nl1\r\n..l2\r\nl3\r\n")
    r.cmd("QUIT")


def test_pipelining_in_order(env, user):
    env.deliver(user, MSG_DOTS)
    env.deliver(user, MSG_SIMPLE)
    r = Raw(env.pop3_port)
    r.send(("CAPA\r\nUSER %s\r\nPASS %s\r\nSTAT\r\nLIST\r\nUIDL 2\r\nRETR 1\r\nTOP 2 0\r\n"
            "DELE 2\r\nRETR 2\r\nNOOP\r\nRSET\r\nQUIT\r\n" % (user, PW)).encode())
    assert r.line().startswith(b"+OK Capability")
    r.multiline()
    assert r.line() == b"+OK Send your password"
    assert r.line().startswith(b"+OK Logged in, 2 messages")
    assert re.fullmatch(rb"\+OK 2 \d+", r.line())
    assert r.line().startswith(b"+OK 2 messages")
    assert len(r.multiline().split(b"\r\n")) == 3
    assert re.fullmatch(rb"\+OK 2 [0-9a-f]{8}\.\d+", r.line())
    assert r.line().endswith(b"octets")
    assert unstuff(r.multiline()).endswith(MSG_DOTS)
    assert r.line() == b"+OK Top of message follows"
    r.multiline()
    assert r.line() == b"+OK message 2 deleted"
    assert r.line() == b"-ERR message 2 is deleted"
    assert r.line() == b"+OK"
    assert r.line().startswith(b"+OK maildrop has 2")
    assert r.line().startswith(b"+OK Roost POP3 signing off")
    assert r.eof()


def test_pipelined_many_retrs_back_pressure(env, user):
    big = b"Subject: big\r\n\r\n" + (b"." + b"q" * 900 + b"\r\n") * 3000   # ~2.7 MB
    env.deliver(user, big)
    r = Raw(env.pop3_port)
    r.login(user, PW)
    n = 12
    r.send(b"RETR 1\r\n" * n + b"NOOP\r\n")
    time.sleep(0.5)  # let the server fill its queue while we do not read
    for _ in range(n):
        head = r.line()
        assert head.endswith(b"octets"), head
        assert unstuff(r.multiline()).endswith(big)
    assert r.line() == b"+OK"
    r.cmd("QUIT")


def test_long_line_and_bad_commands(env, user):
    r = Raw(env.pop3_port)
    r.send(b"NOOP " + b"a" * 300 + b"\r\nNOOP\r\n")
    assert r.line() == b"-ERR Command line too long (at most 255 octets)"
    assert r.line() == b"+OK"
    # 253 octets + CRLF = 255: accepted (and parsed: unknown argument).
    r.send(b"USER " + b"u" * 248 + b"\r\n")
    assert r.line() == b"+OK Send your password"
    assert r.cmd("APOP a b") == b"-ERR APOP is not supported; use USER and PASS, or AUTH"
    assert r.cmd("stat") == b"-ERR Log in first (USER and PASS, or AUTH)"
    assert r.cmd("PASS x") == b"-ERR [AUTH] Authentication failed"
    # After a PASS, USER must be sent again (RFC 1939 7).
    assert r.cmd("PASS y") == b"-ERR Send USER first"
    # One write: the server closes after the 20th, and a later separate
    # write of ours could meet the closed socket (EPIPE) before we read.
    r.send(b"BOGUS\r\n" * 25)
    lines = [r.line() for _ in range(21)]
    assert lines[-1] == b"-ERR Too many invalid commands; closing the connection"
    assert r.eof()


# --- TLS -------------------------------------------------------------------

def test_stls_and_implicit_tls(env, user):
    env.deliver(user, MSG_SIMPLE)
    p = poplib.POP3("127.0.0.1", env.pop3_port, timeout=20)
    assert p.stls(tls_ctx()) == b"+OK Begin TLS negotiation"
    caps = p.capa()
    assert "STLS" not in caps
    p.user(user)
    p.pass_(PW)
    assert p.stat()[0] == 1
    with pytest.raises(poplib.error_proto, match="only allowed before login"):
        p._shortcmd("STLS")
    p.quit()
    s = poplib.POP3_SSL("127.0.0.1", env.pop3s_port, context=tls_ctx(), timeout=20)
    assert s.getwelcome() == b"+OK Roost POP3 ready."
    assert "STLS" not in s.capa()
    with pytest.raises(poplib.error_proto, match="TLS is already active"):
        s._shortcmd("STLS")
    s.user(user)
    s.pass_(PW)
    assert s.retr(1)[1][-1] == b"Hello."
    s.quit()


def test_stls_discards_pipelined_plaintext(env, user):
    r = Raw(env.pop3_port)
    r.send(b"STLS\r\nUSER injected\r\n")
    assert r.line() == b"+OK Begin TLS negotiation"
    r.sock = tls_ctx().wrap_socket(r.sock)
    assert r.cmd("PASS x") == b"-ERR Send USER first"
    r.cmd("QUIT")


def test_utf8_command(env, user):
    r = Raw(env.pop3_port)
    assert r.cmd("UTF8") == b"+OK UTF8 enabled"
    assert r.cmd("STLS") == b"-ERR STLS is not allowed after UTF8"
    r.login(user, PW)
    assert r.cmd("UTF8") == b"-ERR UTF8 is only allowed before login"
    r.cmd("QUIT")


# --- logins ------------------------------------------------------------------

def scram_login(r, user, pw):
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), nonce)
    resp = r.cmd("AUTH SCRAM-SHA-256 " + base64.b64encode(("n,," + first_bare).encode()).decode())
    assert resp.startswith(b"+ "), resp
    server_first = base64.b64decode(resp[2:]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(nonce)
    salted = hashlib.pbkdf2_hmac("sha256", pw.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    final_wo_proof = "c=biws,r=" + attrs["r"]
    auth_msg = ",".join((first_bare, server_first, final_wo_proof)).encode()
    sig = hmac.new(stored_key, auth_msg, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    resp = r.cmd(base64.b64encode(
        (final_wo_proof + ",p=" + base64.b64encode(proof).decode()).encode()).decode())
    if resp.startswith(b"+ "):
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        expect = hmac.new(server_key, auth_msg, hashlib.sha256).digest()
        assert base64.b64decode(resp[2:]) == b"v=" + base64.b64encode(expect)
        resp = r.cmd("")
    return resp


def test_sasl_mechanisms(env, user):
    env.deliver(user, MSG_SIMPLE)
    plain = base64.b64encode(("\0%s\0%s" % (user, PW)).encode()).decode()
    r = Raw(env.pop3_port)
    assert r.cmd("AUTH PLAIN " + plain).startswith(b"+OK Logged in, 1 messages")
    r.cmd("QUIT")
    r = Raw(env.pop3_port)
    assert r.cmd("AUTH PLAIN") == b"+ "
    assert r.cmd(plain).startswith(b"+OK Logged in")
    r.cmd("QUIT")
    r = Raw(env.pop3_port)
    assert r.cmd("AUTH LOGIN") == b"+ " + base64.b64encode(b"Username:")
    assert r.cmd(base64.b64encode(user.encode()).decode()) == \
        b"+ " + base64.b64encode(b"Password:")
    assert r.cmd(base64.b64encode(PW.encode()).decode()).startswith(b"+OK Logged in")
    r.cmd("QUIT")
    r = Raw(env.pop3_port)
    assert scram_login(r, user, PW).startswith(b"+OK Logged in")
    r.cmd("QUIT")
    # Cancel, bad base64, unknown mechanism, wrong password, mechanism list.
    r = Raw(env.pop3_port)
    assert r.cmd("AUTH PLAIN") == b"+ "
    assert r.cmd("*") == b"-ERR [AUTH] Authentication cancelled"
    assert r.cmd("AUTH PLAIN !!!!") == b"-ERR [AUTH] Invalid base64 in the initial response"
    assert r.cmd("AUTH CRAM-MD5") == b"-ERR [AUTH] Unsupported authentication mechanism"
    bad = base64.b64encode(("\0%s\0wrong" % user).encode()).decode()
    assert r.cmd("AUTH PLAIN " + bad) == b"-ERR [AUTH] Authentication failed"
    assert r.cmd("AUTH") == b"+OK Supported mechanisms follow"
    assert set(r.multiline().split(b"\r\n")[:-1]) == {b"SCRAM-SHA-256", b"PLAIN", b"LOGIN"}
    assert r.cmd("AUTH PLAIN =").startswith(b"-ERR [AUTH] ")
    r.close()


def test_wrong_password_and_unknown_user_look_alike(env, user):
    r = Raw(env.pop3_port)
    assert r.cmd("USER " + user) == b"+OK Send your password"
    assert r.cmd("PASS nope") == b"-ERR [AUTH] Authentication failed"
    assert r.cmd("USER ghost@example.com") == b"+OK Send your password"
    assert r.cmd("PASS nope") == b"-ERR [AUTH] Authentication failed"
    r.cmd("QUIT")


def test_app_password_and_pop3_switch(env, user):
    env.deliver(user, MSG_SIMPLE)
    code = env.cli_json("app-password", "add", user, "mail app")["code"]
    p = pop(env, user, code)
    assert p.stat()[0] == 1
    p.quit()
    formatted = " ".join(code[i:i + 4] for i in range(0, 16, 4))
    p = pop(env, user, formatted)
    p.quit()
    env.cli("user", "set", user, "require_app_password=yes")
    r = Raw(env.pop3_port)
    r.cmd("USER " + user)
    resp = r.cmd("PASS " + PW)
    assert resp.startswith(b"-ERR [AUTH] ") and b"app password" in resp, resp
    r.close()
    pop(env, user, code).quit()
    env.cli("user", "set", user, "require_app_password=no", "pop3=off")
    # The switch is only revealed after a correct password.
    r = Raw(env.pop3_port)
    r.cmd("USER " + user)
    assert r.cmd("PASS wrong") == b"-ERR [AUTH] Authentication failed"
    r.cmd("USER " + user)
    assert r.cmd("PASS " + PW) == (b"-ERR [AUTH] POP3 is turned off for this account; "
                                   b"turn it on in your account settings")
    r.cmd("USER " + user)
    assert r.cmd("PASS " + code).startswith(b"-ERR [AUTH] POP3 is turned off")
    r.close()
    env.cli("user", "set", user, "pop3=on")
    pop(env, user).quit()


def test_plaintext_refused_without_tls(roostd):
    env = Env(roostd, extra="[auth]\nplaintext = never\nfail_delay_ms = 20\n")
    env.add_user("wu@example.com", PW)
    r = Raw(env.pop3_port)
    assert r.cmd("CAPA").startswith(b"+OK")
    caps = r.multiline().split(b"\r\n")
    assert b"USER" not in caps and b"STLS" in caps
    assert b"SASL SCRAM-SHA-256" in caps
    msg = (b"-ERR [AUTH] Plaintext authentication is not allowed on an unencrypted "
           b"connection; use STLS first or connect to port 995 (POP3 over TLS)")
    assert r.cmd("USER wu@example.com") == msg
    assert r.cmd("PASS " + PW) == msg
    assert r.cmd("AUTH PLAIN") == msg
    assert r.cmd("AUTH LOGIN") == msg
    # SCRAM never sends the password: allowed in the clear.
    assert scram_login(r, "wu@example.com", PW).startswith(b"+OK Logged in")
    r.cmd("QUIT")
    p = poplib.POP3("127.0.0.1", env.pop3_port, timeout=20)
    p.stls(tls_ctx())
    assert "USER" in p.capa()
    p.user("wu@example.com")
    p.pass_(PW)
    p.quit()
    s = poplib.POP3_SSL("127.0.0.1", env.pop3s_port, context=tls_ctx(), timeout=20)
    s.user("wu@example.com")
    s.pass_(PW)
    s.quit()


# --- maildrop semantics -------------------------------------------------------

def test_quit_deletes_dropped_connection_does_not(env, user):
    for i in range(4):
        env.deliver(user, b"Subject: %d\r\n\r\nbody %d\r\n" % (i, i))
    p = pop(env, user)
    uidls = dict(ln.split() for ln in p.uidl()[1])
    p.dele(1)
    p.dele(3)
    # Drop the connection without QUIT.
    p.sock.shutdown(socket.SHUT_RDWR)
    p.sock.close()
    p.file.close()
    p = pop_after_drop(env, user)
    assert p.stat()[0] == 4
    assert dict(ln.split() for ln in p.uidl()[1]) == uidls
    p.dele(1)
    p.dele(3)
    assert p.quit() == b"+OK Roost POP3 signing off (2 messages deleted)"
    p = pop(env, user)
    left = [ln.split()[1] for ln in p.uidl()[1]]
    # UIDLs are stable: the survivors keep theirs.
    assert left == [uidls[b"2"], uidls[b"4"]]
    assert p.retr(1)[1][-1] == b"body 1"
    p.quit()


def test_snapshot_and_new_mail_next_session(env, user):
    env.deliver(user, MSG_SIMPLE)
    p = pop(env, user)
    assert p.stat()[0] == 1
    env.deliver(user, MSG_DOTS)
    assert p.stat()[0] == 1
    assert len(p.list()[1]) == 1
    p.quit()
    p = pop(env, user)
    assert p.stat()[0] == 2
    p.quit()


def test_in_use(env, user):
    env.deliver(user, MSG_SIMPLE)
    p = pop(env, user)
    r = Raw(env.pop3_port)
    r.cmd("USER " + user)
    assert r.cmd("PASS " + PW) == (b"-ERR [IN-USE] Another POP3 session is using this "
                                   b"mailbox; try again when it has finished")
    # IMAP is not locked out.
    imap = env.imap(user, PW)
    assert imap.select("INBOX")[0] == "OK"
    imap.logout()
    p.quit()
    r.cmd("USER " + user)
    assert r.cmd("PASS " + PW).startswith(b"+OK Logged in")
    r.cmd("QUIT")


def test_retr_sets_seen_top_does_not(env, user):
    env.deliver(user, MSG_SIMPLE)
    env.deliver(user, MSG_DOTS)
    p = pop(env, user)
    p.top(1, 0)
    p.retr(2)
    p.quit()
    imap = env.imap(user, PW)
    imap.select("INBOX", readonly=True)
    typ, data = imap.fetch("1:2", "(FLAGS)")
    flags = [d.decode() for d in data]
    assert "\\Seen" not in flags[0]
    assert "\\Seen" in flags[1]
    imap.logout()


def seen_msns(env, user):
    imap = env.imap(user, PW)
    imap.select("INBOX", readonly=True)
    typ, data = imap.search(None, "SEEN")
    imap.logout()
    return [int(x) for x in data[0].split()]


def wait_seen(env, user, expect):
    deadline = time.time() + 10
    while True:
        got = seen_msns(env, user)
        if got == expect or time.time() > deadline:
            return got
        time.sleep(0.1)


def test_retr_seen_is_written_in_batches(env, user):
    # \Seen after RETR is written in batches (4096 UIDs, or half a second
    # after the first): the timer's batches, then a remainder that only
    # the timer writes (the session stays open), then RETRs whose \Seen
    # is still pending when the client drops the connection.
    n = 300
    with smtplib.LMTP("127.0.0.1", env.lmtp_port) as lmtp:
        for i in range(n + 3):
            lmtp.sendmail("sender@example.org", [user],
                          b"Subject: batch %d\r\n\r\nbody %d\r\n" % (i, i))
    r = Raw(env.pop3_port)
    r.login(user, PW)
    r.send(b"".join(b"RETR %d\r\n" % i for i in range(1, n + 1)))
    for i in range(1, n + 1):
        assert r.line().startswith(b"+OK")
        r.multiline()
    assert wait_seen(env, user, list(range(1, n + 1))) == list(range(1, n + 1))
    r.send(b"RETR %d\r\nRETR %d\r\n" % (n + 1, n + 2))
    for _ in range(2):
        assert r.line().startswith(b"+OK")
        r.multiline()
    r.close()
    assert wait_seen(env, user, list(range(1, n + 3))) == list(range(1, n + 3))
    # QUIT writes what is pending at once, with the UPDATE state.
    p = pop_after_drop(env, user)
    p.retr(n + 3)
    p.quit()
    assert seen_msns(env, user) == list(range(1, n + 4))


def test_imap_flags_do_not_hide_messages(env, user):
    env.deliver(user, MSG_SIMPLE)
    env.deliver(user, MSG_DOTS)
    imap = env.imap(user, PW)
    imap.select("INBOX")
    imap.store("1", "+FLAGS", "(\\Flagged \\Seen \\Deleted $Label1)")
    p = pop(env, user)
    assert p.stat()[0] == 2
    p.quit()
    imap.logout()


def test_imap_idle_sees_pop3_expunge(env, user):
    for i in range(3):
        env.deliver(user, b"Subject: %d\r\n\r\nx\r\n" % i)
    imap = env.imap(user, PW)
    imap.select("INBOX")
    tag = imap._new_tag()
    imap.send(tag + b" IDLE\r\n")
    assert imap.readline().startswith(b"+")
    seen = []

    def reader():
        imap.sock.settimeout(10)
        try:
            while True:
                ln = imap.readline()
                if not ln:
                    return
                seen.append(ln)
                if b"EXPUNGE" in ln:
                    return
        except OSError:
            return

    t = threading.Thread(target=reader)
    t.start()
    p = pop(env, user)
    p.dele(2)
    p.quit()
    t.join(15)
    assert any(re.match(rb"\* 2 EXPUNGE", ln) for ln in seen), seen
    imap.send(b"DONE\r\n")
    imap.sock.settimeout(10)
    while not imap.readline().startswith(tag):
        pass
    imap.logout()


# --- policies --------------------------------------------------------------------

def imap_count(env, user, mailbox):
    imap = env.imap(user, PW)
    typ, data = imap.select('"%s"' % mailbox, readonly=True)
    imap.logout()
    return int(data[0]) if typ == "OK" else None


def test_policy_keep(env, user):
    env.deliver(user, MSG_SIMPLE)
    env.deliver(user, MSG_DOTS)
    env.cli("user", "set", user, "pop3_dele=keep")
    p = pop(env, user)
    p.dele(1)
    p.quit()
    p = pop(env, user)
    assert p.stat()[0] == 1
    assert p.retr(1)[1][-1] == b"end"
    p.quit()
    imap = env.imap(user, PW)
    imap.select("INBOX", readonly=True)
    typ, data = imap.fetch("1:*", "(FLAGS)")
    assert len(data) == 2
    assert b"$POP3Deleted" in data[0] and b"$POP3Deleted" not in data[1]
    imap.logout()
    # Back to expunge: the kept message is still never offered again.
    env.cli("user", "set", user, "pop3_dele=expunge")
    p = pop(env, user)
    assert p.stat()[0] == 1
    p.quit()


def test_policy_trash(env, user):
    env.deliver(user, MSG_SIMPLE)
    env.deliver(user, MSG_DOTS)
    env.cli("user", "set", user, "pop3_dele=trash")
    p = pop(env, user)
    p.retr(2)
    p.dele(2)
    p.quit()
    assert imap_count(env, user, "INBOX") == 1
    assert imap_count(env, user, "Trash") == 1
    imap = env.imap(user, PW)
    imap.select("Trash", readonly=True)
    typ, data = imap.fetch("1", "(FLAGS BODY.PEEK[])")
    assert data[0][1].endswith(MSG_DOTS)
    # Downloaded before it was deleted: it arrives in Trash as read.
    assert b"\\Seen" in data[0][0]
    imap.logout()


def test_global_default_policy(roostd):
    env = Env(roostd, extra="[pop3]\ndele = keep\n")
    env.add_user("ma@example.com", PW)
    env.deliver("ma@example.com", MSG_SIMPLE)
    p = pop(env, "ma@example.com")
    p.dele(1)
    p.quit()
    p = pop(env, "ma@example.com")
    assert p.stat()[0] == 0
    p.quit()
    assert imap_count(env, "ma@example.com", "INBOX") == 1
    # A per-account override wins over the default.
    env.cli("user", "set", "ma@example.com", "pop3_dele=expunge")
    env.deliver("ma@example.com", MSG_DOTS)
    p = pop(env, "ma@example.com")
    p.dele(1)
    p.quit()
    assert imap_count(env, "ma@example.com", "INBOX") == 1


def test_offer_days(env, user):
    imap = env.imap(user, PW)
    old = time.time() - 60 * 86400
    imap.append("INBOX", None, imaplib.Time2Internaldate(old), b"Subject: old\r\n\r\nold\r\n")
    imap.logout()
    env.deliver(user, b"Subject: new\r\n\r\nnew\r\n")
    p = pop(env, user)
    assert p.stat()[0] == 2
    p.quit()
    env.cli("user", "set", user, "pop3_offer_days=30")
    p = pop(env, user)
    assert p.stat()[0] == 1
    assert p.retr(1)[1][-1] == b"new"
    p.quit()
    env.cli("user", "set", user, "pop3_offer_days=default")
    p = pop(env, user)
    assert p.stat()[0] == 2
    p.quit()


# --- real clients ------------------------------------------------------------------

def run_fetchmail(env, tmp_path, user, keep, name):
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    mbox = d / "mbox"
    rc = d / "rc"
    rc.write_text(
        "set no bouncemail\n"
        "poll 127.0.0.1 protocol pop3 port %d uidl\n"
        "  user \"%s\" password \"%s\" is \"%s\" here\n"
        "  ssl no sslcertck %s\n"
        "  mda \"/bin/sh -c 'cat >> %s'\"\n"
        % (env.pop3s_port, user, PW, os.environ.get("USER", "root"),
           "keep" if keep else "nokeep", mbox))
    rc.chmod(0o600)
    p = subprocess.run(["fetchmail", "-N", "-d0", "--nosyslog", "-f", str(rc), "-i",
                        str(d / "ids"), "--pidfile", str(d / "pid")],
                       env=dict(os.environ, HOME=str(d)), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode in (0, 1), p.stderr   # 1: no new mail
    return mbox.read_bytes() if mbox.exists() else b""


@pytest.mark.skipif(shutil.which("fetchmail") is None, reason="fetchmail not installed")
def test_fetchmail_keep_and_delete(env, user, tmp_path):
    for i in range(3):
        env.deliver(user, b"Subject: fm %d\r\n\r\n.dot %d\r\n" % (i, i))
    got = run_fetchmail(env, tmp_path, user, True, "fm")
    assert got.count(b"Subject: fm ") == 3 and b"\n.dot 1" in got
    # Leave-on-server: the second run downloads nothing twice.
    got = run_fetchmail(env, tmp_path, user, True, "fm")
    assert got.count(b"Subject: fm ") == 3
    env.deliver(user, b"Subject: fm 3\r\n\r\nnew\r\n")
    got = run_fetchmail(env, tmp_path, user, True, "fm")
    assert got.count(b"Subject: fm ") == 4
    assert imap_count(env, user, "INBOX") == 4
    # Without keep, a fresh client downloads everything and deletes it.
    got = run_fetchmail(env, tmp_path, user, False, "fm2")
    assert got.count(b"Subject: fm ") == 4
    assert imap_count(env, user, "INBOX") == 0


def run_getmail(env, tmp_path, user, delete, name):
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    out = d / "mbox"
    rc = d / "rc"
    rc.write_text(
        "[retriever]\ntype = SimplePOP3SSLRetriever\nserver = 127.0.0.1\nport = %d\n"
        "username = %s\npassword = %s\n\n"
        "[destination]\ntype = MDA_external\npath = /bin/sh\n"
        "arguments = (\"-c\", \"cat >> %s\")\nallow_root_commands = true\n\n"
        "[options]\ndelete = %s\nread_all = false\nverbose = 0\n"
        % (env.pop3s_port, user, PW, out, "true" if delete else "false"))
    p = subprocess.run(["getmail", "--getmaildir", str(d), "--rcfile", str(rc)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)
    return out.read_bytes() if out.exists() else b""


@pytest.mark.skipif(shutil.which("getmail") is None, reason="getmail not installed")
def test_getmail_keep_and_delete(env, user, tmp_path):
    for i in range(2):
        env.deliver(user, MSG_8BIT.replace(b"8bit\r\n\r\n", b"8bit\r\n\r\nnr %d\r\n" % i))
    got = run_getmail(env, tmp_path, user, False, "gm")
    assert got.count(b"nr ") == 2 and "你好".encode("gb18030") in got
    got = run_getmail(env, tmp_path, user, False, "gm")
    assert got.count(b"nr ") == 2
    assert imap_count(env, user, "INBOX") == 2
    got = run_getmail(env, tmp_path, user, True, "gm2")
    assert got.count(b"nr ") == 2
    assert imap_count(env, user, "INBOX") == 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_pop3s(env, user):
    env.deliver(user, MSG_DOTS)
    env.deliver(user, MSG_SIMPLE)
    base = "pop3s://127.0.0.1:%d/" % env.pop3s_port
    p = subprocess.run(["curl", "-sk", "-u", "%s:%s" % (user, PW), base], capture_output=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert [ln.split()[0] for ln in p.stdout.splitlines()] == [b"1", b"2"]
    p = subprocess.run(["curl", "-sk", "-u", "%s:%s" % (user, PW), base + "1"],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.endswith(MSG_DOTS)
    p = subprocess.run(["curl", "-sk", "--login-options", "AUTH=LOGIN", "-u",
                        "%s:%s" % (user, PW), base + "2"], capture_output=True, timeout=30)
    assert p.returncode == 0 and p.stdout.endswith(MSG_SIMPLE)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


@pytest.mark.parametrize("kind,tls", [("dots", False), ("clean", False), ("clean", True)])
def test_large_retr_streams_with_flat_memory(env, user, kind, tls):
    # 40 MB, every line dot-stuffed (through the stuffer) or none (file
    # segments over plaintext, copied chunks over TLS): the server must not
    # hold the message (or its stuffed copy, or a mapping of the file) in
    # memory while a slow client reads it.
    line = (b"." if kind == "dots" else b"m") + b"m" * 997 + b"\r\n"
    big = b"Subject: large\r\n\r\n" + line * 40000
    env.deliver(user, big)
    base = rss_kib(env.proc.pid)
    r = Raw(env.pop3s_port if tls else env.pop3_port, tls=tls)
    r.login(user, PW)
    r.send(b"RETR 1\r\n")
    head = r.line()
    size = int(head.split()[1])
    peak = base
    got = 0
    parts = []
    pending, r.buf = r.buf, b""
    done = False
    while not done:
        chunk = r.sock.recv(1 << 16)
        assert chunk
        pending += chunk
        # Unstuff complete lines as they arrive.
        while b"\r\n" in pending:
            ln, pending = pending.split(b"\r\n", 1)
            if ln == b".":
                done = True
                break
            ln = ln[1:] if ln.startswith(b".") else ln
            parts.append(ln + b"\r\n")
            got += len(ln) + 2
        if got % (4 << 20) < (1 << 16):
            time.sleep(0.02)
            peak = max(peak, rss_kib(env.proc.pid))
    assert got == size
    assert b"".join(parts).endswith(big)  # trace headers may precede the message
    # AddressSanitizer keeps freed memory in quarantine: RSS means nothing.
    with open("/proc/%d/maps" % env.proc.pid) as f:
        sanitized = "libasan" in f.read()
    if not sanitized:
        assert peak - base < 24 * 1024, (base, peak)
    r.cmd("QUIT")


# --- RETR by file segments (sendfile) and through the stuffer ----------------------

# What src/pop3/pop3-private.h streams by: the file is read in chunks of
# CHUNK; a plaintext RETR of at least CHUNK octets sends clean runs of at
# most SEGMENT as file segments. Content placed at these file offsets
# exercises every switch between the two ways of sending.
CHUNK = 64 * 1024
SEGMENT = 1024 * 1024


def stuff(stored):
    """The multi-line response body RFC 1939 3 asks for: a dot before every
    line starting with one, a line end added to an unterminated last line,
    then the terminating ".CRLF"."""
    out = re.sub(rb"(?:^|(?<=\n))\.", b"..", stored)
    if out and not out.endswith(b"\n"):
        out += b"\n" if out.endswith(b"\r") else b"\r\n"
    return out + b".\r\n"


def filler(n, width=78):
    """n octets of CRLF-terminated lines of letters (n >= 2, or 0)."""
    assert n == 0 or n >= 2
    out = []
    while n > 0:
        k = min(width, n - 2)
        if n - (k + 2) == 1:  # never leave a single octet: no line fits it
            k -= 1
        out.append(bytes(97 + (i % 26) for i in range(k)) + b"\r\n")
        n -= k + 2
    return b"".join(out)


def retr_raw(r, n):
    """RETR n: the whole response after the status line, terminator included."""
    head = r.cmd("RETR %d" % n)
    assert head.startswith(b"+OK"), head
    return r.multiline() + b".\r\n"


def top_raw(r, n):
    """TOP n with more lines than any message has: the whole message, sent
    through the byte-wise stuffer only."""
    head = r.cmd("TOP %d 4000000000" % n)
    assert head.startswith(b"+OK"), head
    return r.multiline() + b".\r\n"


def test_retr_file_segments_byte_exact(env, user):
    h = b"Subject: segments\r\n\r\n"
    # The CLI prepends Return-Path and Delivered-To: learn their length to
    # put content at exact file offsets.
    probe = h + b"probe\r\n"
    env.deliver_cli(user, probe)
    imap = env.imap(user, PW)
    imap.select("INBOX", readonly=True)
    stored = imap.fetch("1", "(BODY.PEEK[])")[1][0][1]
    assert stored.endswith(probe)
    pre = len(stored) - len(probe)

    def at(offset, body_so_far):
        """Filler that makes the next byte land at file offset `offset`."""
        return filler(offset - pre - len(h) - len(body_so_far))

    msgs = []
    # Exactly one chunk, then exactly two, then exactly one segment.
    msgs.append(h + at(CHUNK, b""))
    msgs.append(h + at(2 * CHUNK, b""))
    msgs.append(h + at(SEGMENT, b""))
    # A line starting with "." right at the second chunk: the first chunk
    # goes out as a segment, the second through the stuffer.
    b = at(CHUNK, b"")
    b += b".dot at the chunk boundary\r\n"
    msgs.append(h + b + at(3 * CHUNK, b))
    # CR as the last octet of a chunk, its LF first of the next, and a dot
    # line right after: the LF's CR is in the previous chunk.
    b = filler(CHUNK - pre - len(h) - 1 + 2)
    assert b[CHUNK - pre - len(h) - 1:CHUNK - pre - len(h) + 1] == b"\r\n"
    b += b".after a split CRLF\r\n"
    msgs.append(h + b + at(3 * CHUNK + 7, b))
    # The first segment is full at SEGMENT octets; a dot line starts there.
    b = at(SEGMENT, b"")
    b += b".dot at the segment boundary\r\n"
    msgs.append(h + b + at(SEGMENT + 2 * CHUNK + 5, b))
    # Several segments, dot lines here and there, no final line end.
    b = filler(2 * SEGMENT + 12345)
    cut = b.index(b"\r\n", 300000) + 2
    b = b[:cut] + b"..two dots\r\n.\r\n" + b[cut:] + b".last line without CRLF"
    msgs.append(h + b)
    # Large and clean, with 8-bit text and dots inside lines.
    msgs.append(h + filler(200000) + "中文. 已发送 .\r\n".encode() + filler(100000))
    # Small ones: copied, not sent as a file.
    msgs += [h + b"small and clean\r\n", h + b".\r\n..\r\n.x\r\n", h + b"no eol"]
    for m in msgs:
        env.deliver_cli(user, m)
    count = 1 + len(msgs)
    imap = env.imap(user, PW)
    imap.select("INBOX", readonly=True)
    stored = [imap.fetch(str(i), "(BODY.PEEK[])")[1][0][1] for i in range(1, count + 1)]
    imap.logout()
    for i, m in enumerate(msgs, 2):
        assert stored[i - 1].endswith(m), (i, len(m), len(stored[i - 1]) - pre)
        assert len(stored[i - 1]) == pre + len(m)
    assert len(stored[1]) == CHUNK and len(stored[2]) == 2 * CHUNK
    assert len(stored[3]) == SEGMENT
    assert stored[4][CHUNK:CHUNK + 2] == b".d"
    assert stored[5][CHUNK - 1:CHUNK + 2] == b"\r\n."
    assert stored[6][SEGMENT:SEGMENT + 2] == b".d"

    plain = Raw(env.pop3_port)
    plain.login(user, PW)
    sizes = [int(ln.split()[2]) for ln in
             (plain.cmd("LIST %d" % i) for i in range(1, count + 1))]
    assert sizes == [len(x) for x in stored]
    # Pipelined as well as one by one, plaintext (file segments) and TLS
    # (copied): the same octets, which are those of the byte-wise stuffer.
    plain.send(b"".join(b"RETR %d\r\n" % i for i in range(1, count + 1)))
    for i in range(1, count + 1):
        assert plain.line() == b"+OK %d octets" % sizes[i - 1]
        assert plain.multiline() + b".\r\n" == stuff(stored[i - 1]), i
    for i in range(1, count + 1):
        assert retr_raw(plain, i) == stuff(stored[i - 1]), i
        assert top_raw(plain, i) == stuff(stored[i - 1]), i
    plain.cmd("QUIT")
    tls = Raw(env.pop3s_port, tls=True)
    tls.login(user, PW)
    for i in range(1, count + 1):
        assert retr_raw(tls, i) == stuff(stored[i - 1]), i
    tls.cmd("QUIT")


# --- sessions ending in other ways -------------------------------------------------

def test_retr_of_message_expunged_by_imap(env, user):
    env.deliver(user, MSG_SIMPLE)
    env.deliver(user, MSG_DOTS)
    p = pop(env, user)
    imap = env.imap(user, PW)
    imap.select("INBOX")
    imap.store("1", "+FLAGS", "(\\Deleted)")
    imap.expunge()
    imap.logout()
    # The snapshot still numbers it, but its content is gone.
    assert p.stat()[0] == 2
    with pytest.raises(poplib.error_proto, match="message 1 was removed by another session"):
        p.retr(1)
    assert p.retr(2)[1][-1] == b"end"
    p.dele(1)
    p.dele(2)
    assert p.quit().startswith(b"+OK")
    assert imap_count(env, user, "INBOX") == 0


def test_autologout_deletes_nothing(roostd):
    env = Env(roostd, extra="idle_timeout = 1\n")
    env.add_user("gu@example.com", PW)
    env.deliver("gu@example.com", MSG_SIMPLE)
    r = Raw(env.pop3_port)
    r.login("gu@example.com", PW)
    assert r.cmd("DELE 1") == b"+OK message 1 deleted"
    assert r.line() == b"-ERR Autologout; idle for too long"
    assert r.eof()
    p = pop_after_drop(env, "gu@example.com")
    assert p.stat()[0] == 1
    p.quit()


def test_shutdown_says_goodbye_and_deletes_nothing(env, user):
    env.deliver(user, MSG_SIMPLE)
    r = Raw(env.pop3_port)
    r.login(user, PW)
    assert r.cmd("DELE 1").startswith(b"+OK")
    env.d.signal(15)
    assert r.line() == b"-ERR [SYS/TEMP] Server shutting down; please reconnect later"
    assert r.eof()
    assert env.d.proc.wait(20) == 0
    env.d.logf.close()
    env.d.start()
    env.pop3_port = env.d.ports["pop3"]
    p = pop(env, user)
    assert p.stat()[0] == 1
    p.quit()


def test_account_disabled_and_session_limit(roostd):
    env = Env(roostd, extra="[auth]\nmax_sessions_per_user = 1\nfail_delay_ms = 20\n")
    env.add_user("he@example.com", PW)
    imap = env.imap("he@example.com", PW)
    r = Raw(env.pop3_port)
    r.cmd("USER he@example.com")
    assert r.cmd("PASS " + PW) == b"-ERR [IN-USE] Too many sessions for this account"
    imap.logout()
    deadline = time.time() + 10
    while True:
        r.cmd("USER he@example.com")
        resp = r.cmd("PASS " + PW)
        if not resp.startswith(b"-ERR [IN-USE]") or time.time() > deadline:
            break
        time.sleep(0.05)
    assert resp.startswith(b"+OK Logged in")
    r.cmd("QUIT")
    env.cli("user", "set", "he@example.com", "state=disabled")
    r = Raw(env.pop3_port)
    r.cmd("USER he@example.com")
    resp = r.cmd("PASS " + PW)
    assert resp.startswith(b"-ERR [SYS/PERM] "), resp
    # A wrong password does not reveal the state.
    r.cmd("USER he@example.com")
    assert r.cmd("PASS wrong") == b"-ERR [AUTH] Authentication failed"
    r.cmd("QUIT")


def test_commands_byte_by_byte_and_pipelined_sasl(env, user):
    env.deliver(user, MSG_SIMPLE)
    r = Raw(env.pop3_port)
    for b in ("USER %s\r\nPASS %s\r\nStAt\r\n" % (user, PW)).encode():
        r.send(bytes([b]))
        time.sleep(0.001)
    assert r.line() == b"+OK Send your password"
    assert r.line().startswith(b"+OK Logged in")
    assert re.fullmatch(rb"\+OK 1 \d+", r.line())
    r.cmd("QUIT")
    # AUTH LOGIN with both responses sent before the challenges arrive.
    r = Raw(env.pop3_port)
    r.send(b"AUTH LOGIN\r\n" + base64.b64encode(user.encode()) + b"\r\n" +
           base64.b64encode(PW.encode()) + b"\r\nLIST 1\r\nQUIT\r\n")
    assert r.line() == b"+ VXNlcm5hbWU6"
    assert r.line() == b"+ UGFzc3dvcmQ6"
    assert r.line().startswith(b"+OK Logged in")
    assert re.fullmatch(rb"\+OK 1 \d+", r.line())
    assert r.line().startswith(b"+OK Roost POP3 signing off")


def test_list_and_uidl_of_many_messages(env, user):
    # More lines than one LIST/UIDL step produces, imported in one go (into
    # the daemon's directory: the CLI runs as the unprivileged user).
    n = 700
    mbox = os.path.join(env.d.dir, "many.mbox")
    with open(mbox, "wb") as f:
        for i in range(n):
            f.write(b"From sender@example.org Mon Jan  1 00:00:00 2024\n"
                    b"Subject: many %d\n\n%s\n\n" % (i, b"b" * (i % 50)))
    os.chmod(mbox, 0o644)
    env.cli("import", "mbox", mbox, user)
    r = Raw(env.pop3_port)
    r.login(user, PW)
    assert r.cmd("DELE 300") == b"+OK message 300 deleted"
    r.send(b"LIST\r\nUIDL\r\nSTAT\r\n")
    head = r.line()
    listing = r.multiline().split(b"\r\n")[:-1]
    assert r.line() == b"+OK Unique-ID listing follows"
    uidls = r.multiline().split(b"\r\n")[:-1]
    stat = r.line().split()
    assert head == b"+OK %d messages (%s octets)" % (n - 1, stat[2])
    nums = [int(ln.split()[0]) for ln in listing]
    assert nums == [i for i in range(1, n + 1) if i != 300]
    assert [int(ln.split()[0]) for ln in uidls] == nums
    assert len({ln.split()[1] for ln in uidls}) == n - 1
    assert sum(int(ln.split()[1]) for ln in listing) == int(stat[2])
    assert int(stat[1]) == n - 1
    r.cmd("QUIT")


def test_utf8_user_and_password(env):
    # RFC 6856 2.2 ("UTF8 USER"): UTF-8 user names and passwords.
    addr, pw = "张伟@example.com", "密码 很长 2024"
    env.add_user(addr, pw)
    env.deliver_cli(addr, MSG_8BIT)
    p = poplib.POP3("127.0.0.1", env.pop3_port, timeout=20)
    assert p.utf8() == b"+OK UTF8 enabled"
    p.user(addr)
    assert p.pass_(pw).startswith(b"+OK Logged in, 1 messages")
    assert b"\r\n".join(p.retr(1)[1]).endswith(MSG_8BIT.rstrip(b"\r\n"))
    p.quit()
    # AUTH PLAIN carries UTF-8 too, with or without the UTF8 command.
    r = Raw(env.pop3_port)
    plain = base64.b64encode(("\0%s\0%s" % (addr, pw)).encode()).decode()
    assert r.cmd("AUTH PLAIN " + plain).startswith(b"+OK Logged in")
    r.cmd("QUIT")


def test_garbage_does_not_hurt(env, user):
    import random
    rnd = random.Random(1939)
    env.deliver(user, MSG_DOTS)
    words = [b"USER", b"PASS", b"STAT", b"LIST", b"RETR", b"DELE", b"TOP", b"UIDL", b"AUTH",
             b"PLAIN", b"LOGIN", b"*", b"=", b"0", b"1", b"4294967296", b"-1", b"\x00", b"\xff",
             b"\t", b" ", b"\r", b"CAPA", b"UTF8", b"NOOP", b"RSET", b"APOP"]
    for logged_in in (False, True):
        r = Raw(env.pop3_port)
        if logged_in:
            r.login(user, PW)
        junk = b""
        for _ in range(150):
            junk += b" ".join(rnd.choice(words) for _ in range(rnd.randint(0, 5))) + b"\r\n"
        junk += b"X" * 5000 + b"\r\n"
        r.send(junk)
        r.sock.settimeout(5)
        try:
            while True:
                if not r.sock.recv(1 << 16):
                    break
        except (socket.timeout, ConnectionResetError):
            pass
        r.close()
    p = pop_after_drop(env, user)
    assert p.stat()[0] == 1
    p.quit()


def test_retr_of_a_damaged_short_file_is_refused(env, user):
    # A message file shorter than its stored size (damage fsck has not
    # repaired yet): RETR and TOP refuse it with a clear error instead of
    # sending a truncated message as whole, and the session goes on.
    big = b"Subject: short\r\n\r\n" + b"x" * 70 + b"\r\n" + (b"y" * 76 + b"\r\n") * 2000
    env.deliver(user, big)
    env.deliver(user, MSG_SIMPLE)
    # Only the large one is a file (a small message is kept in store.db).
    files = sorted(os.path.join(root, f) for root, _, names in os.walk(env.d.data_dir)
                   for f in names if "/msg/" in root + "/")
    assert len(files) == 1
    damaged = max(files, key=os.path.getsize)
    os.truncate(damaged, os.path.getsize(damaged) // 2)
    p = pop(env, user)
    with pytest.raises(poplib.error_proto, match=r"SYS/PERM.*damaged.*roost fsck"):
        p.retr(1)
    with pytest.raises(poplib.error_proto, match=r"SYS/PERM.*damaged"):
        p.top(1, 0)
    assert p.retr(2)[0].startswith(b"+OK")
    assert p.quit().startswith(b"+OK")
