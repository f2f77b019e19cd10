"""Abuse protection seen from a client: a locked-out account recovers by
itself once auth.lockout_seconds have passed, and a login for an unknown
user is not measurably faster than a wrong password for a known one (so
timing does not tell which accounts exist)."""
import imaplib
import statistics
import time

import pytest


def login_error(d, user, password):
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


def test_lockout_then_recovery(roostd):
    d = roostd(extra="[auth]\nfail_delay_ms = 0\nmax_failures = 3\nlockout_seconds = 2\n")
    d.add_user("rae@example.com", "rae-secret")
    for _ in range(3):
        err = login_error(d, "rae@example.com", "wrong")
        assert err is not None and "AUTHENTICATIONFAILED" in err, err
    # Locked now: the right password is refused with a temporary answer.
    err = login_error(d, "rae@example.com", "rae-secret")
    assert err is not None and "UNAVAILABLE" in err and "try again later" in err, err
    # After lockout_seconds the same password works again.
    time.sleep(2.5)
    assert login_error(d, "rae@example.com", "rae-secret") is None
    assert "reason=locked-out" in d.log_text()


def timed_failures(d, user, rounds):
    times = []
    for _ in range(rounds):
        t = time.monotonic()
        assert login_error(d, user, "not-the-password") is not None
        times.append(time.monotonic() - t)
    return times


def test_unknown_and_known_users_take_the_same_time(roostd):
    # No delays or lock-outs here: what is left is the password check itself.
    d = roostd(extra="[auth]\nfail_delay_ms = 0\nmax_failures = 100000\n")
    d.add_user("known@example.com", "known-secret")
    timed_failures(d, "known@example.com", 2)  # warm up both paths
    timed_failures(d, "nobody@example.com", 2)
    known, unknown = [], []
    for _ in range(6):  # interleave so load changes hit both alike
        known += timed_failures(d, "known@example.com", 2)
        unknown += timed_failures(d, "nobody@example.com", 2)
    k, u = statistics.median(known), statistics.median(unknown)
    # Both verify a yescrypt hash; a skipped hash would be ~100x faster.
    print("median known %.4f s, unknown %.4f s" % (k, u))
    assert 0.5 < u / k < 2.0, (k, u)
    assert u > 0.005, "the unknown user's check did not hash anything: %.4f s" % u
