"""Accounts made with the `roost` CLI, used by real clients against a
running roostd: passwords, app passwords (with and without spaces),
require_app_password, per-protocol switches, disabled accounts, SCRAM-SHA-256
over IMAP with a client written here (hashlib/hmac), the failure delay and the
lock-out. The CLI drops to the daemon's user, so what it creates is usable by
roostd."""
import base64
import hashlib
import hmac
import imaplib
import json
import os
import poplib
import time

import pytest

AUTH_EXTRA = "[auth]\nfail_delay_ms = 200\nmax_failures = 4\nlockout_seconds = 60\n"


@pytest.fixture
def d(roostd):
    return roostd(extra=AUTH_EXTRA)


def imap(d):
    return imaplib.IMAP4("127.0.0.1", d.ports["imap"])


def imap_login_error(d, user, password):
    m = imap(d)
    try:
        m.login(user, password)
    except imaplib.IMAP4.error as e:
        return str(e)
    finally:
        try:
            m.logout()
        except Exception:
            pass
    return None


def app_password(d, user, label="client"):
    p = d.cli("app-password", "add", user, label, "--json")
    return json.loads(p.stdout)


def test_files_belong_to_the_daemon_user(d):
    import pwd
    d.add_user("own@example.com", "ownpw")
    if os.geteuid() == 0:
        st = os.stat(os.path.join(d.data_dir, "accounts.db"))
        assert st.st_uid == pwd.getpwnam("roost").pw_uid
    m = imap(d)
    m.login("own@example.com", "ownpw")
    m.logout()


def test_imap_password_and_app_password(d):
    d.add_user("amy@example.com", "amy-secret")
    m = imap(d)
    m.login("AMY@example.com", "amy-secret")
    typ, boxes = m.list()
    names = b"\n".join(boxes)
    for special in (b"\\Drafts", b"\\Sent", b"\\Trash", b"\\Junk", b"\\Archive"):
        assert special in names, names
    m.logout()

    code = app_password(d, "amy@example.com", "Thunderbird")
    for pw in (code["code"], code["code_formatted"]):
        m = imap(d)
        m.login("amy@example.com", pw)
        m.logout()
    listed = json.loads(d.cli("app-password", "list", "amy@example.com", "--json").stdout)
    assert listed[0]["last_protocol"] == "imap" and listed[0]["last_ip"] == "127.0.0.1"

    # require_app_password: the account password is refused with a clear reason.
    d.cli("user", "set", "amy@example.com", "require_app_password=yes")
    err = imap_login_error(d, "amy@example.com", "amy-secret")
    assert err is not None and "app password" in err, err
    assert imap_login_error(d, "amy@example.com", code["code"]) is None


def test_imap_switch_and_disabled_account(d):
    d.add_user("bo@example.com", "bo-secret")
    d.cli("user", "set", "bo@example.com", "imap=off")
    err = imap_login_error(d, "bo@example.com", "bo-secret")
    assert "[UNAVAILABLE] IMAP is turned off for this account; turn it on in your account " \
        "settings" in err, err
    # A wrong password learns nothing about the switch.
    err = imap_login_error(d, "bo@example.com", "wrong")
    assert "AUTHENTICATIONFAILED" in err and "turned off" not in err, err
    d.cli("user", "set", "bo@example.com", "imap=on", "state=disabled")
    err = imap_login_error(d, "bo@example.com", "bo-secret")
    assert err is not None and "disabled" in err, err


def test_pop3_switch(d):
    d.add_user("cy@example.com", "cy-secret")
    p = poplib.POP3("127.0.0.1", d.ports["pop3"])
    p.user("cy@example.com")
    p.pass_("cy-secret")
    p.quit()
    d.cli("user", "set", "cy@example.com", "pop3=off")
    p = poplib.POP3("127.0.0.1", d.ports["pop3"])
    p.user("cy@example.com")
    with pytest.raises(poplib.error_proto) as e:
        p.pass_("cy-secret")
    assert "POP3 is turned off" in str(e.value)
    p.quit()


def scram_authobject(user, password):
    """An imaplib authobject speaking SCRAM-SHA-256 (RFC 5802/7677)."""
    state = {"step": 0}
    cnonce = base64.b64encode(os.urandom(18)).decode()
    bare = "n=%s,r=%s" % (user, cnonce)

    def respond(challenge):
        state["step"] += 1
        if state["step"] == 1:
            return ("n,," + bare).encode()
        if state["step"] == 2:
            first = challenge.decode()
            attrs = dict(a.split("=", 1) for a in first.split(","))
            salted = hashlib.pbkdf2_hmac("sha256", password.encode(),
                                         base64.b64decode(attrs["s"]), int(attrs["i"]))
            ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
            skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
            without_proof = "c=biws,r=" + attrs["r"]
            am = ",".join([bare, first, without_proof]).encode()
            sig = hmac.new(hashlib.sha256(ckey).digest(), am, hashlib.sha256).digest()
            state["expect"] = b"v=" + base64.b64encode(hmac.new(skey, am,
                                                                hashlib.sha256).digest())
            proof = bytes(a ^ b for a, b in zip(ckey, sig))
            return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()
        state["server_verified"] = challenge == state["expect"]
        return b""

    return respond, state


def test_imap_scram_sha256(d):
    d.add_user("dee@example.com", "dee-secret")
    m = imap(d)
    assert "AUTH=SCRAM-SHA-256" in m.capabilities
    auth, state = scram_authobject("dee@example.com", "dee-secret")
    typ, _ = m.authenticate("SCRAM-SHA-256", auth)
    assert typ == "OK" and state["server_verified"]
    m.logout()
    # An app password over SCRAM.
    code = app_password(d, "dee@example.com")["code_formatted"]
    m = imap(d)
    auth, state = scram_authobject("dee@example.com", code)
    typ, _ = m.authenticate("SCRAM-SHA-256", auth)
    assert typ == "OK" and state["server_verified"]
    m.logout()
    # A wrong password fails.
    m = imap(d)
    auth, state = scram_authobject("dee@example.com", "nope")
    with pytest.raises(imaplib.IMAP4.error):
        m.authenticate("SCRAM-SHA-256", auth)
    m.logout()


def test_failure_delay_and_lockout(d):
    d.add_user("eve@example.com", "eve-secret")
    # fail_delay_ms = 200, doubling: the 3rd failure waits >= 800 ms.
    times = []
    for _ in range(3):
        t = time.monotonic()
        assert imap_login_error(d, "eve@example.com", "guess") is not None
        times.append(time.monotonic() - t)
    assert times[0] >= 0.18 and times[2] >= 0.75, times
    assert imap_login_error(d, "eve@example.com", "guess") is not None   # 4th: locks
    err = imap_login_error(d, "eve@example.com", "eve-secret")
    assert err is not None and "try again later" in err, err
    log = d.log_text()
    assert "event=auth-failure ip=127.0.0.1 user=eve@example.com proto=imap reason=failed" in log
    assert "reason=locked-out" in log
    assert "guess" not in log and "eve-secret" not in log
