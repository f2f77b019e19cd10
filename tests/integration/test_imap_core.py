"""The IMAP session core against a real roostd: greeting and capabilities,
STARTTLS, COMPRESS, the parser on the wire (pipelining, literals, LITERAL+,
errors that keep the connection usable, byte-at-a-time input), ID,
NAMESPACE, ENABLE, state rules."""
import os
import socket
import time

from test_imap_core_client import PW, USER, Client, core, tls_ctx  # noqa: F401

import pytest


def caps(line):
    i = line.index(b"[CAPABILITY ")
    return line[i + 12:line.index(b"]", i)].split(b" ")


def test_greeting_and_capabilities(core):
    c = core.connect(login=False)
    assert c.greeting.startswith(b"* OK [CAPABILITY ") and c.greeting.endswith(b"Roost ready.")
    pre = caps(c.greeting)
    for cap in (b"IMAP4rev2", b"IMAP4rev1", b"STARTTLS", b"AUTH=PLAIN", b"AUTH=LOGIN",
                b"AUTH=SCRAM-SHA-256", b"SASL-IR", b"LITERAL+", b"ID", b"ENABLE", b"IDLE",
                b"COMPRESS=DEFLATE"):
        assert cap in pre, cap
    # loopback with the default auth.plaintext = loopback: no LOGINDISABLED
    assert b"LOGINDISABLED" not in pre
    u, t = c.ok("CAPABILITY")
    assert u[0].startswith(b"* CAPABILITY ") and u[0][13:].split(b" ") == pre
    u, t = c.login()
    post = caps(t)
    assert b"AUTH=PLAIN" not in post and b"STARTTLS" not in post
    for cap in (b"NAMESPACE", b"UIDPLUS", b"CONDSTORE", b"QRESYNC", b"LIST-EXTENDED",
                b"LIST-STATUS", b"SPECIAL-USE", b"CREATE-SPECIAL-USE", b"CHILDREN",
                b"STATUS=SIZE", b"UTF8=ACCEPT", b"UNSELECT"):
        assert cap in post, cap
    assert any(x.startswith(b"APPENDLIMIT=") for x in post)


def test_noop_logout(core):
    c = core.connect()
    c.ok("NOOP")
    u, t = c.ok("LOGOUT")
    assert u == [b"* BYE Logging out."]
    with pytest.raises((EOFError, OSError)):
        c.line()


def test_starttls_and_capabilities_after(core):
    c = core.connect(login=False)
    u, t = c.ok("STARTTLS")
    c.sock = tls_ctx().wrap_socket(c.sock)
    u, t = c.ok("CAPABILITY")
    after = u[0].split(b" ")
    assert b"STARTTLS" not in after and b"LOGINDISABLED" not in after
    assert b"AUTH=PLAIN" in after
    c.bad("STARTTLS")  # already active
    c.login()


def test_starttls_discards_injected_input(core):
    """RFC 2595 3.1: a command sent in the same packet as STARTTLS, before
    the handshake, must not run after it."""
    c = core.connect(login=False)
    c.send("a STARTTLS\r\nb LOGIN %s \"%s\"\r\n" % (USER, PW))
    assert c.line().startswith(b"a OK")
    c.sock = tls_ctx().wrap_socket(c.sock)
    assert c.pending(0.3) == []
    u, t = c.ok("NOOP")
    assert u == []
    c.bad("SELECT INBOX")  # still not logged in


def test_logindisabled_without_tls(roostd):
    d = roostd(extra="[auth]\nplaintext = never\n")
    d.add_user(USER, PW)
    c = Client(d.ports["imap"])
    assert b"LOGINDISABLED" in caps(c.greeting)
    assert b"AUTH=PLAIN" not in caps(c.greeting)
    assert b"AUTH=SCRAM-SHA-256" in caps(c.greeting)
    u, t = c.no('LOGIN %s "%s"' % (USER, PW))
    assert b"[PRIVACYREQUIRED]" in t
    u, t = c.no("AUTHENTICATE PLAIN AGNvcmVAZXhhbXBsZS5jb20AeA==")
    assert b"[PRIVACYREQUIRED]" in t
    c.ok("STARTTLS")
    c.sock = tls_ctx().wrap_socket(c.sock)
    u, t = c.ok("CAPABILITY")
    assert b"LOGINDISABLED" not in u[0] and b"AUTH=PLAIN" in u[0]
    c.login()
    c.close()
    # implicit TLS: fine from the start
    c = Client(d.ports["imaps"], tls=True)
    assert b"LOGINDISABLED" not in caps(c.greeting)
    c.login()
    c.close()


def test_compress_deflate(core):
    c = core.connect()
    c.start_compress()
    u, t = c.ok("NOOP")
    u, t = c.ok("LIST \"\" INBOX")
    assert u == [b'* LIST (\\HasNoChildren) "/" INBOX']
    u, t = c.no("COMPRESS DEFLATE")
    assert b"[COMPRESSIONACTIVE]" in t
    u, t = c.ok("CAPABILITY")
    assert b"COMPRESS=DEFLATE" not in u[0]


def test_pipelining_in_order(core):
    c = core.connect()
    c.send("p1 NOOP\r\np2 SELECT INBOX\r\np3 NAMESPACE\r\np4 BOGUS\r\np5 NOOP\r\n")
    tags = []
    while len(tags) < 5:
        line = c.line()
        if not line.startswith(b"*"):
            tags.append(line.split(b" ")[:2])
    assert tags == [[b"p1", b"OK"], [b"p2", b"OK"], [b"p3", b"OK"], [b"p4", b"BAD"],
                    [b"p5", b"OK"]]


def test_byte_at_a_time(core):
    c = core.connect()
    for ch in b'x1 LIST "" {5}\r\n':
        c.send(bytes([ch]))
        time.sleep(0.002)
    assert c.line().startswith(b"+ ")
    for ch in b"INBOX\r\n":
        c.send(bytes([ch]))
    u, t = c.read_tagged("x1")
    assert t.startswith(b"x1 OK") and u == [b'* LIST (\\HasNoChildren) "/" INBOX']


def test_literals(core):
    c = core.connect(login=False)
    # synchronizing literals get "+", LITERAL+ ones do not
    c.send("l1 LOGIN {%d}\r\n" % len(USER))
    assert c.line().startswith(b"+ ")
    c.send("%s {%d+}\r\n%s\r\n" % (USER, len(PW), PW))
    u, t = c.read_tagged("l1")
    assert t.startswith(b"l1 OK"), t
    # an empty literal; a literal with parens, quotes and a backslash
    u, t = c.no('SELECT {0+}\r\n')
    u, t = c.no("SELECT {7+}\r\n)( \"\\ x")
    assert b"NONEXISTENT" in t
    # CR/LF are not allowed in a mailbox name
    u, t = c.no("SELECT {6+}\r\na\r\nb c")
    assert b"[CANNOT]" in t


def test_literal_too_big_preauth(core):
    c = core.connect(login=False)
    # sync literal over imap.max_literal_preauth: refused before it is sent
    c.send("t1 LOGIN {100000}\r\n")
    line = c.line()
    assert line.startswith(b"t1 BAD [TOOBIG]"), line
    c.ok("NOOP")
    # non-sync literal over the limit: its bytes are skipped, not run
    c.send("t2 LOGIN {18000+}\r\n" + "t3 NOOP\r\n" * 2000 + "\r\n")
    line = c.line()
    assert line.startswith(b"t2 BAD [TOOBIG]"), line
    u, t = c.ok("NOOP")
    assert u == []


def test_rev2_literal_minus(core):
    c = core.connect()
    c.ok("ENABLE IMAP4rev2")
    big = "x" * 5000
    c.send("m1 STATUS {5000+}\r\n%s (MESSAGES)\r\n" % big)
    line = c.line()
    assert line.startswith(b"m1 BAD [TOOBIG]"), line
    u, t = c.ok("NOOP")
    assert u == []
    # a synchronizing literal of the same size is fine
    c.send("m2 STATUS {5000}\r\n")
    assert c.line().startswith(b"+ ")
    c.send(big + " (MESSAGES)\r\n")
    u, t = c.read_tagged("m2")
    assert t.startswith(b"m2 NO [CANNOT] Mailbox name too long"), t


def test_syntax_errors_keep_connection(core):
    c = core.connect()
    for bad, reason in [("SELECT", b"mailbox"), ("LIST (", b"Missing ')'"),
                        ('SELECT "unterminated', b"Unterminated"), ("NOOP  x", b"Double space"),
                        ("SELECT a)b", b"Unexpected ')'"), ('LOGIN "a\\b" c', b"escape"),
                        ("UID", b"UID needs a command"), ("FROBNICATE", b"Unknown command"),
                        ("STATUS INBOX (BOGUS)", b"Invalid STATUS"),
                        ("CREATE INBOX (USE (\\Sent) x)", b"Invalid CREATE")]:
        u, t = c.bad(bad)
        assert reason in t, (bad, t)
    c.send("+bad tag\r\n")
    assert c.line() == b"* BAD Invalid character in tag"
    c.send("\r\n")  # empty lines are ignored
    c.ok("NOOP")


def test_line_too_long(roostd):
    d = roostd(extra="[imap]\nmax_line = 2048\n")
    d.add_user(USER, PW)
    c = Client(d.ports["imap"])
    c.login()
    c.send("z1 LIST \"\" " + "a" * 5000 + "\r\n")
    line = c.line()
    assert line.startswith(b"z1 BAD [TOOBIG]"), line
    c.ok("NOOP")


def test_state_rules(core):
    c = core.connect(login=False)
    u, t = c.bad("SELECT INBOX")
    assert b"Log in first" in t
    c.bad("FETCH 1 FLAGS")
    c.login()
    u, t = c.bad("LOGIN a b")
    u, t = c.bad("FETCH 1 FLAGS")
    assert b"No mailbox selected" in t
    c.bad("CLOSE")
    c.bad("UNSELECT")


def test_id_namespace_enable(core):
    c = core.connect(login=False)
    u, t = c.ok('ID ("name" "pytest" "version" "1.0")')
    assert u == [b'* ID ("name" "Roost" "vendor" "Roost")']
    c.ok("ID NIL")
    c.bad('ID ("name")')
    c.login()
    u, t = c.ok("NAMESPACE")
    assert u == [b'* NAMESPACE (("" "/")) NIL NIL']
    u, t = c.ok("ENABLE CONDSTORE UNKNOWN-THING")
    assert u == [b"* ENABLED CONDSTORE"]
    u, t = c.ok("ENABLE CONDSTORE QRESYNC")
    assert u == [b"* ENABLED QRESYNC"]
    u, t = c.ok("ENABLE IMAP4rev2 UTF8=ACCEPT")
    assert u == [b"* ENABLED IMAP4rev2 UTF8=ACCEPT"]
    c.bad("ENABLE")


def test_shutdown_says_bye(roostd):
    d = roostd()
    d.add_user(USER, PW)
    c = Client(d.ports["imap"])
    c.login()
    d.stop()
    lines = []
    try:
        while True:
            lines.append(c.line())
    except (EOFError, OSError):
        pass
    assert any(x.startswith(b"* BYE") for x in lines), lines


def test_idle_session_memory(roostd):
    """A logged-in idle session (after SELECT and UNSELECT) costs well under
    20 KiB of the daemon's memory, network buffers included."""
    import conftest
    with open(os.path.join(conftest.BUILD, "roostd"), "rb") as f:
        if b"__asan_init" in f.read():
            pytest.skip("memory is not measurable under AddressSanitizer")
    d = roostd(extra="max_connections_per_ip = 1000\nmax_connections = 2000\n"
                     "[auth]\nmax_sessions_per_user = 1000\n")
    d.add_user(USER, PW)

    def rss_kib():
        with open("/proc/%d/status" % d.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])

    clients = []
    for _ in range(20):  # warm up allocator arenas and thread pools
        c = Client(d.ports["imap"])
        c.login()
        clients.append(c)
    time.sleep(0.3)
    before = rss_kib()
    n = 200
    for _ in range(n):
        c = Client(d.ports["imap"])
        c.login()
        c.ok("SELECT INBOX")
        c.ok("UNSELECT")
        clients.append(c)
    time.sleep(0.3)
    per_session = (rss_kib() - before) / n
    for c in clients:
        c.close()
    assert per_session < 20, per_session


def test_long_pipeline_of_idle_done(core):
    """Thousands of IDLE/DONE pairs in one burst: answered in order, without
    the session recursing once per pair."""
    c = core.connect()
    n = 15000
    c.send("".join("i%d IDLE\r\nDONE\r\n" % i for i in range(n)) + "z NOOP\r\n")
    count = 0
    while True:
        line = c.line()
        if line.startswith(b"z "):
            break
        if line.startswith(b"i") and line.endswith(b"OK IDLE terminated"):
            count += 1
    assert count == n


def test_compress_then_idle_push(core):
    """Pushed updates are flushed through the compressor at once."""
    from test_imap_core_client import append, message, wait_for
    c = core.connect()
    c.start_compress()
    c.ok("SELECT INBOX")
    c.send("i1 IDLE\r\n")
    assert c.line() == b"+ idling"
    o = core.connect()
    append(o, "INBOX", message("compressed push"))
    line, secs = wait_for(c, lambda x: x.endswith(b"EXISTS"))
    assert line == b"* 1 EXISTS" and secs < 1
    c.send("DONE\r\n")
    u, t = c.read_tagged("i1")
    assert t == b"i1 OK IDLE terminated"
