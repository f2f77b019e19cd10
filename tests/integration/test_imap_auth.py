"""Logging in to IMAP: LOGIN, AUTHENTICATE PLAIN / LOGIN / SCRAM-SHA-256
with and without SASL-IR, cancellation, and every refusal (wrong password,
IMAP switched off, app password required, per-account session limit)."""
import base64
import hashlib
import hmac
import imaplib
import os

from test_imap_core_client import PW, USER, Client, core  # noqa: F401


def b64(data):
    return base64.b64encode(data).decode()


def test_login_ok_and_failures(core):
    c = core.connect(login=False)
    u, t = c.no('LOGIN %s "wrong"' % USER)
    assert b"[AUTHENTICATIONFAILED]" in t
    u, t = c.no('LOGIN nobody@example.com "x"')
    assert b"[AUTHENTICATIONFAILED]" in t
    u, t = c.login()
    assert b"[CAPABILITY " in t and t.endswith(b"Logged in")
    c.bad("LOGIN x y z")


def test_imaplib_login(core):
    m = imaplib.IMAP4("127.0.0.1", core.port)
    assert m.login(USER, PW)[0] == "OK"
    assert m.select("INBOX")[0] == "OK"
    m.logout()


def test_authenticate_plain(core):
    c = core.connect(login=False)
    # SASL-IR
    u, t = c.ok("AUTHENTICATE PLAIN " + b64(b"\0" + USER.encode() + b"\0" + PW.encode()))
    assert b"Logged in" in t
    # without initial response: "+ " then the response
    c = core.connect(login=False)
    c.send("a1 AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(b64(b"\0" + USER.encode() + b"\0" + PW.encode()) + "\r\n")
    u, t = c.read_tagged("a1")
    assert t.startswith(b"a1 OK")
    # wrong password
    c = core.connect(login=False)
    u, t = c.no("AUTHENTICATE PLAIN " + b64(b"\0" + USER.encode() + b"\0nope"))
    assert b"[AUTHENTICATIONFAILED]" in t


def test_authenticate_cancel_and_garbage(core):
    c = core.connect(login=False)
    c.send("a1 AUTHENTICATE PLAIN\r\n")
    assert c.line().startswith(b"+")
    c.send("*\r\n")
    u, t = c.read_tagged("a1")
    assert t.startswith(b"a1 BAD"), t
    c.send("a2 AUTHENTICATE PLAIN\r\n")
    assert c.line().startswith(b"+")
    c.send("!!notbase64\r\n")
    u, t = c.read_tagged("a2")
    assert t.startswith(b"a2 BAD"), t
    u, t = c.no("AUTHENTICATE X-UNKNOWN")
    c.bad("AUTHENTICATE PLAIN !!!")
    c.login()


def test_authenticate_login_mechanism(core):
    c = core.connect(login=False)
    c.send("a1 AUTHENTICATE LOGIN\r\n")
    assert base64.b64decode(c.line()[2:]) == b"Username:"
    c.send(b64(USER.encode()) + "\r\n")
    assert base64.b64decode(c.line()[2:]) == b"Password:"
    c.send(b64(PW.encode()) + "\r\n")
    u, t = c.read_tagged("a1")
    assert t.startswith(b"a1 OK"), t


def scram_client(c, user, password, tag="s1", with_ir=True):
    nonce = b64(os.urandom(18))
    first_bare = "n=%s,r=%s" % (user, nonce)
    first = "n,," + first_bare
    if with_ir:
        c.send("%s AUTHENTICATE SCRAM-SHA-256 %s\r\n" % (tag, b64(first.encode())))
    else:
        c.send("%s AUTHENTICATE SCRAM-SHA-256\r\n" % tag)
        assert c.line() == b"+ "
        c.send(b64(first.encode()) + "\r\n")
    line = c.line()
    assert line.startswith(b"+ "), line
    server_first = base64.b64decode(line[2:]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(nonce)
    salt = base64.b64decode(attrs["s"])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    final_wo_proof = "c=biws,r=" + attrs["r"]
    auth_msg = ",".join([first_bare, server_first, final_wo_proof]).encode()
    sig = hmac.new(stored_key, auth_msg, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    c.send(b64((final_wo_proof + ",p=" + b64(proof)).encode()) + "\r\n")
    line = c.line()
    if line.startswith(b"+ "):
        server_final = base64.b64decode(line[2:]).decode()
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        expect = hmac.new(server_key, auth_msg, hashlib.sha256).digest()
        assert server_final == "v=" + b64(expect)
        c.send("\r\n")
        line = c.line()
    return line


def test_authenticate_scram_sha_256(core):
    c = core.connect(login=False)
    line = scram_client(c, USER, PW)
    assert line.startswith(b"s1 OK"), line
    c.ok("SELECT INBOX")
    c = core.connect(login=False)
    line = scram_client(c, USER, PW, tag="s2", with_ir=False)
    assert line.startswith(b"s2 OK"), line
    c = core.connect(login=False)
    line = scram_client(c, USER, "wrong", tag="s3")
    assert line.startswith(b"s3 NO") and b"AUTHENTICATIONFAILED" in line, line


def test_imap_switched_off(core):
    core.d.cli("user", "set", USER, "imap=off")
    c = core.connect(login=False)
    u, t = c.no('LOGIN %s "%s"' % (USER, PW))
    assert t.endswith(b"NO [UNAVAILABLE] IMAP is turned off for this account; turn it on "
                      b"in your account settings"), t
    # a wrong password still gets the plain failure (no leak)
    u, t = c.no('LOGIN %s "wrong"' % USER)
    assert b"[AUTHENTICATIONFAILED]" in t
    core.d.cli("user", "set", USER, "imap=on")
    c.login()


def test_app_password_required(core):
    core.d.cli("user", "set", USER, "require_app_password=yes")
    c = core.connect(login=False)
    u, t = c.no('LOGIN %s "%s"' % (USER, PW))
    assert b"app" in t.lower(), t
    out = core.d.cli("app-password", "add", USER, "phone").stdout.decode()
    code = [w for w in out.replace(" ", "").split() if len(w) == 16 and w.isalpha()]
    if not code:
        # formatted as "abcd efgh ijkl mnop"
        import re
        m = re.search(r"([a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4})", out)
        code = [m.group(1).replace(" ", "")]
    c.login(pw=code[0])


def test_session_limit(roostd):
    d = roostd(extra="[auth]\nmax_sessions_per_user = 2\n")
    d.add_user(USER, PW)
    a, b = Client(d.ports["imap"]), Client(d.ports["imap"])
    a.login()
    b.login()
    c = Client(d.ports["imap"])
    u, t = c.no('LOGIN %s "%s"' % (USER, PW))
    assert b"[LIMIT]" in t
    a.ok("LOGOUT")
    a.close()
    # the slot is given back when a session ends
    for _ in range(50):
        u, t = c.cmd('LOGIN %s "%s"' % (USER, PW))
        if b" OK " in t:
            break
        import time
        time.sleep(0.05)
    assert b" OK " in t, t


def test_connection_closed_after_repeated_failures(core):
    c = core.connect(login=False)
    for i in range(4):
        u, t = c.no('LOGIN %s "wrong%d"' % (USER, i))
    u, t = c.no('LOGIN %s "wrong again"' % USER)
    assert c.line() == b"* BYE Too many failed login attempts"
    try:
        c.line()
        assert False, "still open"
    except (EOFError, OSError):
        pass


def test_failure_is_delayed_without_blocking_others(roostd):
    """auth.fail_delay_ms: the NO comes late, but the worker keeps serving
    other connections meanwhile (the delay is a timer, not a sleep)."""
    import time
    d = roostd(extra="[auth]\nfail_delay_ms = 1500\n")
    d.add_user(USER, PW)
    bad = Client(d.ports["imap"])
    others = [Client(d.ports["imap"]) for _ in range(4)]
    t0 = time.time()
    bad.send('f1 LOGIN %s "wrong"\r\n' % USER)
    for o in others:
        o.ok("NOOP")
    assert time.time() - t0 < 1.0
    u, t = bad.read_tagged("f1")
    assert b"[AUTHENTICATIONFAILED]" in t
    assert time.time() - t0 >= 1.4
