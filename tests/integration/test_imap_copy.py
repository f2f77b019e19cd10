"""COPY and MOVE against a real roostd (COPYUID, TRYCREATE, MOVE's expunges
before the tagged OK, VANISHED under QRESYNC), and the multi-device story:
session A flags, moves and deletes while session B IDLEs and sees each
change; a third session that was offline resyncs with QRESYNC and gets
exactly the VANISHED and FETCH it should."""
import re
import socket

import pytest

from test_imap_fetch_helpers import imap_env  # noqa: F401  (fixture)
from test_imap_fetch_helpers import expand, parse_fetch, simple_message


@pytest.fixture
def box(imap_env):
    c = imap_env.connect()
    for i in range(1, 6):
        c.append("INBOX", simple_message("msg %d" % i, "body %d" % i))
    c.ok("CREATE Kept")
    c.ok("SELECT INBOX")
    yield c
    c.close()


def uid_map(c):
    r = c.fetch("FETCH 1:* UID")
    return {n: int(d["UID"]) for n, d in r.items()}


def copyuid(text):
    m = re.search(r"COPYUID (\d+) (\S+) (\S+)\]", text)
    assert m, text
    return int(m.group(1)), expand(m.group(2)), expand(m.group(3))


def test_copy_with_copyuid(box):
    uids = uid_map(box)
    box.ok("STORE 2 +FLAGS ($Keep \\Flagged)")
    u, tx = box.ok("COPY 2:4 Kept")
    validity, src, dst = copyuid(tx)
    assert src == [uids[2], uids[3], uids[4]]
    assert len(dst) == 3 and dst == sorted(dst)
    # The source is untouched, the copies keep flags and bytes.
    assert sorted(box.fetch("FETCH 1:* UID")) == [1, 2, 3, 4, 5]
    body2 = box.fetch("FETCH 2 BODY.PEEK[]")[2]["BODY[]"]
    u, tx = box.ok("SELECT Kept")
    assert ("[UIDVALIDITY %d]" % validity).encode() in b"".join(u)
    r = box.fetch("UID FETCH %d (FLAGS BODY.PEEK[])" % dst[0])
    d = list(r.values())[0]
    assert sorted(d["FLAGS"]) == ["$Keep", "\\Flagged"]
    assert d["BODY[]"] == body2


def test_uid_copy_and_missing_uids(box):
    uids = uid_map(box)
    u, tx = box.ok("UID COPY %d,99999 Kept" % uids[5])
    validity, src, dst = copyuid(tx)
    assert src == [uids[5]] and len(dst) == 1
    # Nothing to copy: OK without COPYUID.
    u, tx = box.ok("UID COPY 99999 Kept")
    assert "COPYUID" not in tx


def test_trycreate_and_errors(box):
    u, st, tx = box.cmd("COPY 1 Nowhere")
    assert st == "NO" and tx.startswith("[TRYCREATE]"), tx
    u, st, tx = box.cmd("MOVE 1 Nowhere")
    assert st == "NO" and tx.startswith("[TRYCREATE]"), tx
    u, st, tx = box.cmd("COPY 9 Kept")
    assert st == "BAD"
    u, st, tx = box.cmd("COPY 1")
    assert st == "BAD"
    u, st, tx = box.cmd("MOVE 1 INBOX")
    assert st == "NO", tx
    assert sorted(box.fetch("FETCH 1:* UID")) == [1, 2, 3, 4, 5]


def test_move_expunges_before_tagged_ok(box):
    uids = uid_map(box)
    u, tx = box.ok("MOVE 2,4 Kept")
    # An untagged OK with COPYUID, then the EXPUNGEs, then the tagged OK.
    assert u[0].startswith(b"* OK [COPYUID "), u
    validity, src, dst = copyuid(u[0].decode())
    assert src == [uids[2], uids[4]]
    left = [1, 2, 3, 4, 5]
    for r in u[1:]:
        del left[int(re.match(rb"\* (\d+) EXPUNGE$", r).group(1)) - 1]
    assert left == [1, 3, 5]
    assert [uid_map(box)[n] for n in (1, 2, 3)] == [uids[1], uids[3], uids[5]]
    box.ok("SELECT Kept")
    assert len(box.fetch("FETCH 1:* UID")) == 2


def test_uid_move_under_qresync(box):
    box.ok("ENABLE QRESYNC")
    box.ok("SELECT INBOX")
    uids = uid_map(box)
    u, tx = box.ok("UID MOVE %d:%d Kept" % (uids[1], uids[3]))
    assert u[-1] == b"* VANISHED %d:%d" % (uids[1], uids[3]), u


def test_move_read_only_refused(box):
    box.ok("EXAMINE INBOX")
    u, st, tx = box.cmd("MOVE 1 Kept")
    assert st == "NO" and "READ-ONLY" in tx
    u, tx = box.ok("COPY 1 Kept")
    assert "COPYUID" in tx


class Idler:
    """Session B: IDLE and collect untagged responses."""

    def __init__(self, c):
        self.c = c
        c.send(b"i1 IDLE\r\n")
        assert c.read_line().startswith(b"+")

    def expect(self, pattern, timeout=10):
        self.c.sock.settimeout(timeout)
        seen = []
        try:
            while True:
                r = self.c.read_response()
                seen.append(r)
                if re.search(pattern, r):
                    return r
        except socket.timeout:
            raise AssertionError("no %r within %ss; saw %r" % (pattern, timeout, seen))

    def done(self):
        self.c.sock.settimeout(30)
        self.c.send(b"DONE\r\n")
        return self.c.wait("i1")


def test_two_devices_idle_sees_every_change(imap_env, box):
    uids = uid_map(box)
    b = imap_env.connect()
    b.ok("SELECT INBOX")
    idle = Idler(b)
    # A flags message 1.
    box.ok("STORE 1 +FLAGS (\\Flagged)")
    r = idle.expect(rb"^\* 1 FETCH ")
    assert "\\Flagged" in parse_fetch(r)[1]["FLAGS"]
    # A moves message 2 away.
    box.ok("MOVE 2 Kept")
    idle.expect(rb"^\* 2 EXPUNGE$")
    # A deletes message 4 (now 3 for both).
    box.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    idle.expect(rb"^\* 3 FETCH ")
    box.ok("EXPUNGE")
    idle.expect(rb"^\* 3 EXPUNGE$")
    # New mail arrives by LMTP.
    imap_env.deliver(simple_message("new", "fresh"))
    idle.expect(rb"^\* 4 EXISTS$")
    u, st, tx = idle.done()
    assert st == "OK"
    r = b.fetch("FETCH 1:* UID")
    assert [int(r[n]["UID"]) for n in sorted(r)][:3] == [uids[1], uids[3], uids[5]]
    b.close()


def test_qresync_after_offline(imap_env, box):
    c = imap_env.connect()
    c.ok("ENABLE QRESYNC")
    u, tx = c.ok("SELECT INBOX")
    allu = b"\r\n".join(u)
    validity = int(re.search(rb"UIDVALIDITY (\d+)", allu).group(1))
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", allu).group(1))
    uids = uid_map(c)
    c.close()   # goes offline

    # Meanwhile on another device: flag 1, delete 2 and 5, move 3.
    box.ok("STORE 1 +FLAGS (\\Seen)")
    box.ok("STORE 2,5 +FLAGS.SILENT (\\Deleted)")
    box.ok("EXPUNGE")
    box.ok("UID MOVE %d Kept" % uids[3])

    c = imap_env.connect()
    c.ok("ENABLE QRESYNC")
    u, tx = c.ok("SELECT INBOX (QRESYNC (%d %d))" % (validity, modseq))
    vanished = [r for r in u if r.startswith(b"* VANISHED (EARLIER) ")]
    assert len(vanished) == 1, u
    assert expand(vanished[0].split()[3].decode()) == [uids[2], uids[3], uids[5]]
    fetches = [parse_fetch(r)[1] for r in u if re.match(rb"\* \d+ FETCH", r)]
    assert [int(f["UID"]) for f in fetches] == [uids[1]]
    assert "\\Seen" in fetches[0]["FLAGS"]
    # The same question through UID FETCH (CHANGEDSINCE ... VANISHED).
    u, tx = c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % modseq)
    assert u[0].startswith(b"* VANISHED (EARLIER) ")
    assert expand(u[0].split()[3].decode()) == [uids[2], uids[3], uids[5]]
    got = [parse_fetch(r)[1] for r in u[1:]]
    assert [int(f["UID"]) for f in got] == [uids[1]]
    assert int(got[0]["MODSEQ"][0]) > modseq
    # VANISHED needs UID FETCH and QRESYNC.
    u, st, tx = c.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert st == "BAD"
    c.close()


def test_copy_over_quota(imap_env, box):
    """A COPY that would pass the quota is refused with [OVERQUOTA] and
    copies nothing; a MOVE (no new usage) still works."""
    size = sum(int(d["RFC822.SIZE"]) for d in box.fetch("FETCH 1:* RFC822.SIZE").values())
    imap_env.cli("user", "set", imap_env.user, "quota=%d" % (size + 10))
    u, st, tx = box.cmd("COPY 1:* Kept")
    assert st == "NO" and tx.startswith("[OVERQUOTA]"), tx
    u, tx = box.ok("STATUS Kept (MESSAGES)")
    assert b"MESSAGES 0" in u[0], u
    u, tx = box.ok("MOVE 1:2 Kept")
    assert u[0].startswith(b"* OK [COPYUID "), u
