"""STORE and EXPUNGE against a real roostd: FLAGS / +FLAGS / -FLAGS with and
without .SILENT, keywords, UNCHANGEDSINCE and [MODIFIED], read-only
mailboxes, bad flags; EXPUNGE renumbering and UID EXPUNGE."""
import re

import pytest

from test_imap_fetch_helpers import imap_env  # noqa: F401  (fixture)
from test_imap_fetch_helpers import expand, parse_fetch, simple_message


@pytest.fixture
def box(imap_env):
    c = imap_env.connect()
    for i in range(1, 7):
        c.append("INBOX", simple_message("msg %d" % i, "body %d" % i))
    c.ok("SELECT INBOX")
    yield c
    c.close()


def flags(c, n):
    return sorted(c.fetch("FETCH %d FLAGS" % n)[n]["FLAGS"])


def test_store_variants(box):
    u, _ = box.ok("STORE 1 FLAGS (\\Seen \\Flagged)")
    n, d = parse_fetch(u[0])
    assert n == 1 and sorted(d["FLAGS"]) == ["\\Flagged", "\\Seen"]
    box.ok("STORE 1 +FLAGS (\\Answered $Forwarded)")
    assert flags(box, 1) == ["$Forwarded", "\\Answered", "\\Flagged", "\\Seen"]
    box.ok("STORE 1 -FLAGS (\\Flagged $Forwarded)")
    assert flags(box, 1) == ["\\Answered", "\\Seen"]
    box.ok("STORE 1 FLAGS ()")
    assert flags(box, 1) == []
    # Flags without parentheses (RFC 3501 syntax) work too.
    box.ok("STORE 2 +FLAGS \\Draft $Label1")
    assert flags(box, 2) == ["$Label1", "\\Draft"]
    # Case-insensitive names.
    box.ok("store 2 -flags (\\DRAFT $label1)")
    assert flags(box, 2) == []


def test_silent_sends_no_fetch(box):
    u, _ = box.ok("STORE 1:3 +FLAGS.SILENT (\\Deleted)")
    assert not any(b"FETCH" in r for r in u), u
    assert all("\\Deleted" in d["FLAGS"] for d in box.fetch("FETCH 1:3 FLAGS").values())


def test_uid_store_reports_uid(box):
    uids = {n: int(d["UID"]) for n, d in box.fetch("FETCH 1:* UID").items()}
    u, _ = box.ok("UID STORE %d +FLAGS (\\Seen)" % uids[4])
    n, d = parse_fetch(u[0])
    assert n == 4 and int(d["UID"]) == uids[4] and d["FLAGS"] == ["\\Seen"]
    # A UID that does not exist is no error.
    u, _ = box.ok("UID STORE 99999 +FLAGS (\\Seen)")
    assert u == []


def test_keyword_visible_in_permanentflags_and_search(box):
    box.ok("STORE 3 +FLAGS ($Important)")
    u, st, tx = box.cmd("SEARCH KEYWORD $important")
    assert u[0] == b"* SEARCH 3"


@pytest.mark.parametrize("cmd,why", [
    ("STORE 1 +FLAGS (\\Recent)", "Recent"),
    ("STORE 1 +FLAGS (\\Bogus)", "system flag"),
    ("STORE 1 +FLAGS (a%b)", None),
    ("STORE 1 BOGUS (\\Seen)", "FLAGS"),
    ("STORE 1 +FLAGS", "flags"),
    ("STORE 99 +FLAGS (\\Seen)", "out of range"),
    ("STORE 1 (UNCHANGEDSINCE x) +FLAGS (\\Seen)", "UNCHANGEDSINCE"),
    ("STORE 1 (FOO 1) +FLAGS (\\Seen)", "modifier"),
])
def test_bad_store(box, cmd, why):
    u, st, tx = box.cmd(cmd)
    assert st == "BAD", (cmd, st, tx)
    if why:
        assert why.lower() in tx.lower(), (cmd, tx)
    # Nothing changed.
    assert flags(box, 1) == []


def test_read_only_refuses(box):
    box.ok("EXAMINE INBOX")
    u, st, tx = box.cmd("STORE 1 +FLAGS (\\Seen)")
    assert st == "NO" and "READ-ONLY" in tx, tx
    u, st, tx = box.cmd("EXPUNGE")
    assert st == "NO"


def test_unchangedsince(box):
    ms = {n: int(d["MODSEQ"][0]) for n, d in box.fetch("FETCH 1:* MODSEQ").items()}
    # Message 2 changes after the client read its modseq.
    box.ok("STORE 2 +FLAGS (\\Answered)")
    u, st, tx = box.cmd("STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Deleted)"
                        % max(ms[1], ms[2], ms[3]))
    assert st == "OK" and tx.startswith("[MODIFIED 2]"), tx
    # .SILENT, but the changed ones report their new MODSEQ (RFC 7162 3.1.3).
    got = {parse_fetch(r)[0]: parse_fetch(r)[1] for r in u if b"FETCH" in r}
    assert set(got) == {1, 3}
    assert all(int(d["MODSEQ"][0]) > ms[n] for n, d in got.items())
    assert "\\Deleted" not in flags(box, 2)
    assert "\\Deleted" in flags(box, 1)
    # UNCHANGEDSINCE 0 always fails.
    u, st, tx = box.cmd("STORE 4 (UNCHANGEDSINCE 0) +FLAGS ($X)")
    assert st == "OK" and tx.startswith("[MODIFIED 4]"), tx
    assert flags(box, 4) == []
    # UID STORE reports UIDs in MODIFIED.
    uid5 = int(box.fetch("FETCH 5 UID")[5]["UID"])
    u, st, tx = box.cmd("UID STORE %d (UNCHANGEDSINCE 1) +FLAGS (\\Seen)" % uid5)
    assert tx.startswith("[MODIFIED %d]" % uid5), tx


def test_expunge_renumbers(box):
    uids = {n: int(d["UID"]) for n, d in box.fetch("FETCH 1:* UID").items()}
    box.ok("STORE 2,4,5 +FLAGS.SILENT (\\Deleted)")
    u, _ = box.ok("EXPUNGE")
    exp = [int(re.match(rb"\* (\d+) EXPUNGE", r).group(1)) for r in u if b"EXPUNGE" in r]
    # Applying the EXPUNGE responses in order to [1..6] must leave 1, 3, 6.
    left = list(range(1, 7))
    for n in exp:
        del left[n - 1]
    assert left == [1, 3, 6], exp
    r = box.fetch("FETCH 1:* UID")
    assert [int(r[n]["UID"]) for n in sorted(r)] == [uids[1], uids[3], uids[6]]
    u, st, tx = box.cmd("FETCH 4 UID")
    assert st == "BAD"


def test_uid_expunge(box):
    uids = {n: int(d["UID"]) for n, d in box.fetch("FETCH 1:* UID").items()}
    box.ok("STORE 1:4 +FLAGS.SILENT (\\Deleted)")
    u, _ = box.ok("UID EXPUNGE %d:%d" % (uids[3], uids[5]))
    # Only 3 and 4: 5 has no \Deleted, 1 and 2 are outside the set.
    left = list(range(1, 7))
    for r in u:
        del left[int(re.match(rb"\* (\d+) EXPUNGE$", r).group(1)) - 1]
    assert left == [1, 2, 5, 6], u
    r = box.fetch("FETCH 1:* UID")
    assert [int(r[n]["UID"]) for n in sorted(r)] == [uids[1], uids[2], uids[5], uids[6]]
    u, st, tx = box.cmd("UID EXPUNGE x")
    assert st == "BAD"


def test_expunge_under_qresync_sends_vanished(box):
    box.ok("ENABLE QRESYNC")
    box.ok("SELECT INBOX")
    uids = {n: int(d["UID"]) for n, d in box.fetch("FETCH 1:* UID").items()}
    box.ok("STORE 2:3 +FLAGS.SILENT (\\Deleted)")
    u, _ = box.ok("EXPUNGE")
    assert u == [b"* VANISHED %d:%d" % (uids[2], uids[3])], u


def test_no_expunge_during_fetch_by_msn(imap_env, box):
    """RFC 9051 7.5.1: another session's expunge is not announced during
    FETCH/STORE/SEARCH by sequence number, only at a command that allows it."""
    other = imap_env.connect()
    other.ok("SELECT INBOX")
    other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    other.close()
    for cmd in ("FETCH 1 FLAGS", "STORE 2 +FLAGS (\\Seen)", "SEARCH ALL"):
        u, _ = box.ok(cmd)
        assert not any(b"EXPUNGE" in r for r in u), (cmd, u)
    u, _ = box.ok("NOOP")
    assert b"* 1 EXPUNGE" in u, u
    assert expand("1:5") == sorted(box.fetch("FETCH 1:* UID"))
