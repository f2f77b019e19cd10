"""SELECT of big mailboxes: a mailbox of 1,000 messages or more is answered
from its head (counters, mailbox row, first unseen) while the message list
is still being read, and no further command runs before the list is in the
session's view (src/imap/cmd-select.c). These tests build a mailbox of
20,000 messages quickly (one delivered message, the other rows written
straight into the store's database, all pointing at its file) and check
that what a client sees is exact: the SELECT responses, FETCH 1:* right
behind it, the FLAGS update once the keywords are known, and the
EXISTS/EXPUNGE/VANISHED/FETCH updates while other sessions and
`roost deliver` change the mailbox during and right after the SELECT."""
import glob
import os
import random
import re
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import RUN_USER

USER = "bigsel@example.com"
PW = "big select pass 1"
N = 20000
MSG = ("From: a@example.com\r\nTo: bigsel@example.com\r\nSubject: big\r\n"
       "Message-ID: <big@example.com>\r\n\r\nA body.\r\n")


class Client:
    """A plain IMAP client that keeps every response line (no literals
    needed here: only UID, FLAGS and MODSEQ are fetched)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.f = self.sock.makefile("rb")
        assert self.f.readline().startswith(b"* OK")

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def until(self, tag):
        """Lines up to and including the tagged one for tag."""
        out = []
        while True:
            line = self.f.readline()
            assert line, "connection closed; got %r" % out[-5:]
            line = line.rstrip(b"\r\n")
            out.append(line)
            if line.startswith(tag.encode() + b" "):
                return out

    def cmd(self, tag, text):
        self.send("%s %s" % (tag, text))
        lines = self.until(tag)
        assert lines[-1].startswith(tag.encode() + b" OK"), lines[-5:]
        return lines

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def store_db(d):
    dbs = glob.glob(os.path.join(d.data_dir, "users", "*", "store.db"))
    assert len(dbs) == 1, dbs
    return dbs[0]


def chown_store(d):
    uid = int(subprocess.check_output(["id", "-u", RUN_USER]))
    gid = int(subprocess.check_output(["id", "-g", RUN_USER]))
    for p in glob.glob(store_db(d) + "*"):
        os.chown(p, uid, gid)


def build_big(d, n=N, seen_upto=0, keyword_every=0):
    """One delivered message, then rows 2..n sharing its file; messages up
    to seen_upto are \\Seen, every keyword_every-th has $Big. Counters and
    quota are recomputed from the rows, as fsck would."""
    d.cli("deliver", "-u", USER, input=MSG)
    db = sqlite3.connect(store_db(d), timeout=30)
    kw = ("CASE WHEN %d > 0 AND i %% %d = 0 THEN '$Big' ELSE NULL END"
          % (keyword_every, max(keyword_every, 1)))
    with db:
        (box,) = db.execute("SELECT id FROM mailbox WHERE name = 'INBOX'").fetchone()
        (blob,) = db.execute("SELECT blob_id FROM message WHERE mailbox_id = ?",
                             (box,)).fetchone()
        db.execute("UPDATE message SET flags = ?, keywords = ?, modseq = 2 WHERE mailbox_id = ?",
                   (1 if seen_upto >= 1 else 0, "$Big" if keyword_every == 1 else None, box))
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            " INSERT INTO message (mailbox_id, uid, blob_id, modseq, flags, keywords,"
            " internal_date, tz, size, savedate)"
            " SELECT ?, i, ?, i + 1, CASE WHEN i <= ? THEN 1 ELSE 0 END, " + kw + ","
            " 1700000000 + i, 0, (SELECT size FROM blob WHERE id = ?), 0 FROM n",
            (n, box, blob, seen_upto, blob))
        db.execute(
            "UPDATE mailbox SET messages = (SELECT count(*) FROM message WHERE mailbox_id = id),"
            " unseen = (SELECT count(*) FROM message WHERE mailbox_id = id AND flags & 1 = 0),"
            " size = (SELECT sum(size) FROM message WHERE mailbox_id = id),"
            " uidnext = ? + 1, highestmodseq = ? + 1 WHERE id = ?", (n, n, box))
        db.execute("UPDATE blob SET refs = ? WHERE id = ?", (n, blob))
        db.execute("UPDATE account SET messages_used = (SELECT count(*) FROM message),"
                   " bytes_used = (SELECT sum(size) FROM message)")
    db.close()
    chown_store(d)


@pytest.fixture
def big(roostd):
    d = roostd()
    d.add_user(USER, PW)
    return d


def login(d):
    c = Client(d.ports["imap"])
    c.cmd("l", 'LOGIN %s "%s"' % (USER, PW))
    return c


FETCH_RE = re.compile(rb"^\* (\d+) FETCH \(UID (\d+) FLAGS \(([^)]*)\)(?: MODSEQ \((\d+)\))?\)$")


def fetch_map(lines):
    """{msn: (uid, flags)} from FETCH (UID FLAGS) responses, in order."""
    out = {}
    for line in lines:
        m = FETCH_RE.match(line)
        if m:
            out[int(m.group(1))] = (int(m.group(2)), m.group(3).decode())
    return out


def test_big_select_rev1_then_fetch_all_pipelined(big):
    build_big(big, seen_upto=777, keyword_every=5000)
    c = login(big)
    # SELECT, FETCH and NOOP in one write: FETCH must see the whole view.
    c.send("a SELECT INBOX\r\nb FETCH 1:* (UID FLAGS)\r\nc NOOP")
    sel = c.until("a")
    assert sel[-1] == b"a OK [READ-WRITE] SELECT completed"
    assert b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)" in sel
    assert b"* %d EXISTS" % N in sel
    assert b"* 0 RECENT" in sel
    # RFC 3501 6.3.1: first unseen for IMAP4rev1 clients.
    assert b"* OK [UNSEEN 778] First unseen" in sel
    assert b"* OK [UIDNEXT %d] Predicted next UID" % (N + 1) in sel
    assert b"* OK [HIGHESTMODSEQ %d] Highest" % (N + 1) in sel
    fetch = c.until("b")
    # The keywords in use come once the list is read, before FETCH output.
    assert fetch[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Big)"
    assert fetch[-1] == b"b OK FETCH completed"
    got = fetch_map(fetch)
    assert len(got) == N == len(fetch) - 2
    for msn in (1, 777, 778, 5000, 10000, N):
        uid, flags = got[msn]
        assert uid == msn
        want = (["\\Seen"] if msn <= 777 else []) + (["$Big"] if msn % 5000 == 0 else [])
        assert flags.split() == want, (msn, flags)
    assert c.until("c") == [b"c OK NOOP completed"]

    # EXAMINE of the same big mailbox: closed first, then read-only.
    ex = c.cmd("d", "EXAMINE INBOX")
    assert ex[0] == b"* OK [CLOSED] Previous mailbox is now closed"
    assert b"* OK [PERMANENTFLAGS ()] Read-only mailbox" in ex
    assert b"* %d EXISTS" % N in ex
    assert ex[-1] == b"d OK [READ-ONLY] EXAMINE completed"
    f2 = c.cmd("e", "UID FETCH %d:* (UID FLAGS)" % (N - 1))
    assert f2[0].startswith(b"* FLAGS (") and b"$Big" in f2[0]
    assert fetch_map(f2) == {N - 1: (N - 1, ""), N: (N, "$Big")}

    # IMAP4rev2: no RECENT or UNSEEN, a LIST response instead.
    c.cmd("f", "ENABLE IMAP4rev2")
    sel2 = c.cmd("g", "SELECT INBOX")
    assert b"* %d EXISTS" % N in sel2
    assert not any(b"RECENT" in x or b"UNSEEN" in x for x in sel2)
    assert any(x.startswith(b"* LIST (") and x.endswith(b'"/" INBOX') for x in sel2)
    c.cmd("h", "LOGOUT")
    c.close()


def test_big_select_all_seen_has_no_unseen_and_small_mailbox_waits(big):
    build_big(big, seen_upto=N)
    c = login(big)
    sel = c.cmd("a", "SELECT INBOX")
    assert b"* %d EXISTS" % N in sel and not any(b"UNSEEN" in x for x in sel)
    # A small mailbox is read whole first: its FLAGS line names the
    # keywords at once and nothing follows the tagged OK.
    c.cmd("b", "CREATE Small")
    c.cmd("c", "APPEND Small (\\Seen $Small) {%d+}\r\n%s" % (len(MSG), MSG))
    c.send("d SELECT Small\r\ne NOOP")
    sel = c.until("d")
    assert b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Small)" in sel
    assert c.until("e") == [b"e OK NOOP completed"]
    c.close()


def writer(d, stop, errors, seen):
    """Another session and `roost deliver` changing the mailbox: appends,
    flag changes, expunges, until stop is set."""
    try:
        w = login(d)
        w.cmd("w0", "SELECT INBOX")
        rnd = random.Random(7)
        i = 0
        while not stop.is_set():
            i += 1
            kind = i % 4
            if kind == 0:
                w.cmd("w%d" % i, "APPEND INBOX {%d+}\r\n%s" % (len(MSG), MSG))
            elif kind == 1:
                uid = rnd.randint(1, N)
                w.cmd("w%d" % i, "UID STORE %d +FLAGS (\\Flagged)" % uid)
            elif kind == 2:
                uid = rnd.randint(1, N)
                w.cmd("w%d" % i, "UID STORE %d +FLAGS.SILENT (\\Deleted)" % uid)
                w.cmd("x%d" % i, "UID EXPUNGE %d" % uid)
            else:
                d.cli("deliver", "-u", USER, input=MSG)
            seen[0] += 1
        w.cmd("wz", "LOGOUT")
        w.close()
    except Exception as e:  # reported by the test thread
        errors.append(e)


class Model:
    """What a client knows after SELECT: the number of messages, kept up
    to date from EXISTS and EXPUNGE (RFC 9051 7.4.1, 7.3.1)."""

    def __init__(self):
        self.count = None

    def apply(self, lines):
        for line in lines:
            m = re.match(rb"^\* (\d+) (EXISTS|EXPUNGE)$", line)
            if not m:
                continue
            n = int(m.group(1))
            if m.group(2) == b"EXISTS":
                assert self.count is None or n >= self.count, (n, self.count)
                self.count = n
            else:
                assert 1 <= n <= self.count, (n, self.count)
                self.count -= 1


def test_big_select_with_concurrent_changes(big):
    build_big(big)
    stop = threading.Event()
    errors = []
    seen = [0]
    t = threading.Thread(target=writer, args=(big, stop, errors, seen))
    t.start()
    try:
        c = login(big)
        deadline = time.monotonic() + 60
        rounds = 0
        while rounds < 12 and time.monotonic() < deadline:
            rounds += 1
            model = Model()
            # The change may land before, during or right after the SELECT.
            c.send("s%d SELECT INBOX\r\nn%d NOOP\r\nf%d FETCH 1:* (UID FLAGS)"
                   % (rounds, rounds, rounds))
            sel = c.until("s%d" % rounds)
            assert sel[-1].endswith(b"OK [READ-WRITE] SELECT completed"), sel[-3:]
            model.apply(sel)
            model.apply(c.until("n%d" % rounds))
            fetch = c.until("f%d" % rounds)
            got = fetch_map(fetch)
            # Every message the client counts is answered, numbered 1..n,
            # in ascending UID order; an EXISTS may follow the FETCHes.
            assert sorted(got) == list(range(1, model.count + 1)), (len(got), model.count)
            uids = [got[i][0] for i in range(1, model.count + 1)]
            assert uids == sorted(set(uids))
            model.apply(fetch)
        assert seen[0] > 0
    finally:
        stop.set()
        t.join(120)
    assert not errors, errors
    # Quiet now: after one NOOP the session's view is exactly the mailbox.
    model.apply(c.cmd("q", "NOOP"))
    mine = fetch_map(c.cmd("r", "FETCH 1:* (UID FLAGS)"))
    assert len(mine) == model.count
    other = login(big)
    other.cmd("a", "EXAMINE INBOX")
    truth = fetch_map(other.cmd("b", "FETCH 1:* (UID FLAGS)"))
    assert mine == truth
    c.close()
    other.close()


def test_big_select_qresync_and_condstore(big):
    build_big(big)
    c = login(big)
    c.cmd("a", "ENABLE QRESYNC")
    sel = c.cmd("b", "SELECT INBOX (CONDSTORE)")
    uv = int(re.search(rb"UIDVALIDITY (\d+)", b"\n".join(sel)).group(1))
    hms = int(re.search(rb"HIGHESTMODSEQ (\d+)", b"\n".join(sel)).group(1))
    assert hms == N + 1
    c.cmd("c", "LOGOUT")
    c.close()

    # Meanwhile: 5:7 expunged, 10 flagged, one new message.
    w = login(big)
    w.cmd("a", "SELECT INBOX")
    w.cmd("b", "UID STORE 5:7 +FLAGS.SILENT (\\Deleted)")
    w.cmd("c", "UID EXPUNGE 5:7")
    w.cmd("d", "UID STORE 10 +FLAGS.SILENT (\\Flagged)")
    big.cli("deliver", "-u", USER, input=MSG)

    c = login(big)
    c.cmd("a", "ENABLE QRESYNC")
    c.send("b SELECT INBOX (QRESYNC (%d %d))\r\nn NOOP" % (uv, hms))
    sel = c.until("b")
    assert b"* %d EXISTS" % (N - 3 + 1) in sel
    assert b"* VANISHED (EARLIER) 5:7" in sel
    changed = fetch_map(sel)
    assert set(changed) == {7, N - 3 + 1}  # uid 10 is now message 7
    assert changed[7] == (10, "\\Flagged")
    assert changed[N - 2] == (N + 1, "")
    assert sel[-1] == b"b OK [READ-WRITE] SELECT completed"
    # Under QRESYNC a change right after the SELECT is a VANISHED, never
    # an EXPUNGE (RFC 7162 3.2.10).
    w.cmd("e", "UID STORE 11 +FLAGS.SILENT (\\Deleted)")
    w.cmd("f", "UID EXPUNGE 11")
    after = c.until("n") + c.cmd("o", "NOOP")
    assert [x for x in after if b"VANISHED" in x or b"EXPUNGE" in x] == [b"* VANISHED 11"]
    g = c.cmd("p", "UID FETCH 8:12 (UID FLAGS)")
    assert sorted(uid for uid, _ in fetch_map(g).values()) == [8, 9, 10, 12]
    w.close()
    c.close()


def test_big_select_wrong_counter_says_bye_and_fsck_repairs(big):
    build_big(big)
    db = sqlite3.connect(store_db(big), timeout=30)
    with db:
        db.execute("UPDATE mailbox SET messages = messages + 1 WHERE name = 'INBOX'")
    db.close()
    chown_store(big)
    c = login(big)
    c.send("a SELECT INBOX")
    lines = []
    while True:
        line = c.f.readline()
        if not line:
            break
        lines.append(line.rstrip(b"\r\n"))
    # The counter was told as EXISTS; the rows disagree: the session ends
    # rather than serve a view that is not the mailbox.
    assert b"* %d EXISTS" % (N + 1) in lines
    assert lines[-1].startswith(b"* BYE [CORRUPTION]"), lines[-3:]
    c.close()
    big.cli("fsck", USER, check=False)
    c = login(big)
    sel = c.cmd("b", "SELECT INBOX")
    assert b"* %d EXISTS" % N in sel
    c.close()
