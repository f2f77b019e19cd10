"""The login cache ([auth] cache_ttl) seen from clients: a password that
verified skips the hash at the next logins, which no client can observe
except by timing, so these tests check what must NOT change with the cache:
a changed password refuses the old one at once, a revoked app password is
refused at once, a disabled account and a switched-off protocol are refused,
lock-outs still apply, and cache_ttl = 0 works. Also the reload messages of
the cache and pool keys."""
import imaplib
import json
import poplib

import pytest

AUTH_EXTRA = "[auth]\nfail_delay_ms = 0\nmax_failures = 5\nlockout_seconds = 60\n"


def imap_login_error(d, user, password):
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
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


def pop3_login_error(d, user, password):
    p = poplib.POP3("127.0.0.1", d.ports["pop3"])
    try:
        p.user(user)
        p.pass_(password)
    except poplib.error_proto as e:
        return str(e)
    finally:
        try:
            p.quit()
        except Exception:
            pass
    return None


def imap_plain_error(d, user, password):
    """AUTHENTICATE PLAIN (SASL ends in the same verification as LOGIN)."""
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    try:
        m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (user, password)).encode())
    except imaplib.IMAP4.error as e:
        return str(e)
    finally:
        try:
            m.logout()
        except Exception:
            pass
    return None


def logged_in_twice(d, user, password):
    """Two logins in a row: the second one is served from the cache."""
    assert imap_login_error(d, user, password) is None
    assert imap_login_error(d, user, password) is None


@pytest.fixture(params=["cache-on", "cache-off"])
def d(request, roostd):
    extra = AUTH_EXTRA + ("cache_ttl = 0\n" if request.param == "cache-off" else "")
    return roostd(extra=extra)


def test_changed_password_refuses_the_old_one_at_once(d):
    d.add_user("pia@example.com", "old-secret")
    logged_in_twice(d, "pia@example.com", "old-secret")
    assert pop3_login_error(d, "pia@example.com", "old-secret") is None
    assert imap_plain_error(d, "pia@example.com", "old-secret") is None
    d.cli("user", "passwd", "pia@example.com", "--password-stdin", input="new-secret\n")
    err = imap_login_error(d, "pia@example.com", "old-secret")
    assert err is not None and "AUTHENTICATIONFAILED" in err, err
    err = pop3_login_error(d, "pia@example.com", "old-secret")
    assert err is not None and "[AUTH]" in err, err
    err = imap_plain_error(d, "pia@example.com", "old-secret")
    assert err is not None and "AUTHENTICATIONFAILED" in err, err
    logged_in_twice(d, "pia@example.com", "new-secret")
    assert imap_plain_error(d, "pia@example.com", "new-secret") is None


def test_revoked_app_password_is_refused_at_once(d):
    d.add_user("ray@example.com", "ray-secret")
    code = json.loads(d.cli("app-password", "add", "ray@example.com", "phone", "--json").stdout)
    logged_in_twice(d, "ray@example.com", code["code"])
    logged_in_twice(d, "ray@example.com", code["code_formatted"])
    d.cli("app-password", "revoke", "ray@example.com", str(code["id"]))
    for pw in (code["code"], code["code_formatted"]):
        err = imap_login_error(d, "ray@example.com", pw)
        assert err is not None and "AUTHENTICATIONFAILED" in err, err
    logged_in_twice(d, "ray@example.com", "ray-secret")


def test_disabled_account_and_protocol_switch_are_refused(d):
    d.add_user("sam@example.com", "sam-secret")
    logged_in_twice(d, "sam@example.com", "sam-secret")
    d.cli("user", "set", "sam@example.com", "state=disabled")
    err = imap_login_error(d, "sam@example.com", "sam-secret")
    assert err is not None and "this account is disabled" in err, err
    d.cli("user", "set", "sam@example.com", "state=active", "imap=off")
    err = imap_login_error(d, "sam@example.com", "sam-secret")
    assert err is not None and "UNAVAILABLE" in err and "IMAP is turned off" in err, err
    assert pop3_login_error(d, "sam@example.com", "sam-secret") is None
    d.cli("user", "set", "sam@example.com", "imap=on", "require_app_password=yes")
    err = imap_login_error(d, "sam@example.com", "sam-secret")
    assert err is not None and "app password" in err, err
    d.cli("user", "set", "sam@example.com", "require_app_password=no")
    logged_in_twice(d, "sam@example.com", "sam-secret")


def test_lockout_still_applies_to_a_cached_password(d):
    d.add_user("tia@example.com", "tia-secret")
    logged_in_twice(d, "tia@example.com", "tia-secret")
    for _ in range(5):
        err = imap_login_error(d, "tia@example.com", "wrong")
        assert err is not None and "AUTHENTICATIONFAILED" in err, err
    err = imap_login_error(d, "tia@example.com", "tia-secret")
    assert err is not None and "UNAVAILABLE" in err and "try again later" in err, err
    assert "reason=locked-out" in d.log_text()


def test_reload_turns_the_cache_off_and_reports_restart_keys(roostd):
    d = roostd(extra=AUTH_EXTRA)
    assert "cpu_threads=" in d.wait_log("event=start")
    d.add_user("uma@example.com", "uma-secret")
    logged_in_twice(d, "uma@example.com", "uma-secret")

    d.write_config("cpu_threads = 1\nasync_threads = 3\n" + AUTH_EXTRA +
                   "cache_ttl = 0\ncache_size = 5\n")
    d.reload()
    line = [l for l in d.log_text().splitlines() if "event=reload" in l][-1]
    assert "status=applied" in line, line
    assert "auth.cache_ttl" in line.split("changed=")[1].split()[0], line
    restart = line.split("needs_restart=")[1].split()[0]
    for key in ("cpu_threads", "async_threads", "auth.cache_size"):
        assert key in restart, line
    # Off now: logins work as before, and a password change counts at once.
    logged_in_twice(d, "uma@example.com", "uma-secret")
    d.cli("user", "passwd", "uma@example.com", "--password-stdin", input="uma-new\n")
    assert imap_login_error(d, "uma@example.com", "uma-secret") is not None
    logged_in_twice(d, "uma@example.com", "uma-new")
