"""`roost fsck` against a store that a running roostd serves: leftovers of
crashed writers are removed, a clean store stays untouched (caches were
built at append), a missing message file is reported (exit 65) and kept,
and mail stays readable over IMAP throughout."""
import imaplib
import json
import os

import pytest

USER = "fsck@example.test"
PASS = "secret-pw"
MSG = b"From: a@example.org\nSubject: fsck test\n\nHello\n"


@pytest.fixture
def d(roostd):
    daemon = roostd()
    daemon.add_user(USER, PASS)
    return daemon


def user_dir(d):
    users = os.path.join(d.data_dir, "users")
    keys = [k for k in os.listdir(users) if not k.startswith(".")]
    assert len(keys) == 1
    return os.path.join(users, keys[0])


def fsck(d, *args):
    p = d.cli("fsck", "--json", *args, check=False)
    return p.returncode, json.loads(p.stdout)


def imap_count(d):
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    m.login(USER, PASS)
    typ, data = m.select("INBOX", readonly=True)
    assert typ == "OK"
    typ, body = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
    m.logout()
    return int(data[0]), [item[1] for item in body if isinstance(item, tuple)]


def test_fsck_clean_store_changes_nothing(d):
    for _ in range(2):
        d.cli("deliver", "-u", USER, input=MSG)
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    m.login(USER, PASS)
    assert m.append("INBOX", None, None, MSG.replace(b"\n", b"\r\n"))[0] == "OK"
    m.logout()
    rc, rep = fsck(d, USER)
    assert rc == 0
    r = rep[0]
    for key in ("temp_removed", "orphans_removed", "missing_files", "wrong_size",
                "blobs_fixed", "counters_fixed", "modseq_fixed", "caches_rebuilt"):
        assert r[key] == 0, (key, r)
    assert r["problems"] == []


def test_fsck_removes_leftovers_and_reports_missing_files(d):
    d.cli("deliver", "-u", USER, input=MSG)
    # Larger than 16 KiB: stored as a file (the small one is in store.db).
    d.cli("deliver", "-u", USER, input=MSG + b"x" * 76 * 300)
    udir = user_dir(d)
    # A temp file of a writer that no longer runs, and a message file
    # that no row references (a crash between rename and commit).
    with open(os.path.join(udir, "tmp", "999999999.1.dead"), "wb") as f:
        f.write(b"partial")
    # (in msg/01/, which roostd's user owns like every msg/<xx>)
    with open(os.path.join(udir, "msg", "01", "0000000000fff001"), "wb") as f:
        f.write(b"orphan")
    rc, rep = fsck(d, "--all")
    assert rc == 0
    assert rep[0]["temp_removed"] == 1 and rep[0]["orphans_removed"] == 1
    assert os.listdir(os.path.join(udir, "tmp")) == []
    assert imap_count(d)[0] == 2
    # Re-running finds nothing.
    rc, rep = fsck(d, USER)
    assert rc == 0 and rep[0]["temp_removed"] == 0 and rep[0]["orphans_removed"] == 0

    # A lost message file is reported, never silently dropped.
    files = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(udir, "msg")) for f in fs]
    assert len(files) == 1
    os.unlink(files[0])
    rc, rep = fsck(d, USER)
    assert rc == 65
    assert rep[0]["missing_files"] == 1
    assert any("missing" in p for p in rep[0]["problems"])
    assert imap_count(d)[0] == 2


def test_fsck_usage_and_unknown_user(d):
    assert d.cli("fsck", check=False).returncode == 64
    assert d.cli("fsck", "nobody@example.test", check=False).returncode == 67
