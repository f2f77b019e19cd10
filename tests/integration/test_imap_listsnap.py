"""List snapshots (docs/storage.md, "List snapshots"): a big mailbox's
message list is kept packed in users/<key>/cache/list-<id> and the next
SELECT reads it plus the changes since. Whatever changed in between
(flags and keywords from another session, expunges, APPEND, COPY, MOVE,
`roost deliver` from another process, a restart, a damaged file), what a
client sees must be exactly what a server without snapshots shows: these
tests compare the FETCH output with the database and with the same data
dir served with `list_snapshot_min = 0`."""
import glob
import os
import re
import sqlite3
import subprocess

import pytest

from conftest import RUN_USER

USER = "snap@example.com"
PW = "list snapshot pass 1"
N = 3000
MIN = 500
MSG = ("From: a@example.com\r\nTo: snap@example.com\r\nSubject: snap\r\n"
       "Message-ID: <snap@example.com>\r\n\r\nA body.\r\n")
FETCH_RE = re.compile(rb"^\* (\d+) FETCH \(UID (\d+) FLAGS \(([^)]*)\) MODSEQ \((\d+)\)\)$")
SYSTEM = [(1, "\\Seen"), (2, "\\Answered"), (4, "\\Flagged"), (8, "\\Deleted"), (16, "\\Draft")]


class Client:
    def __init__(self, port):
        import socket
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.f = self.sock.makefile("rb")
        assert self.f.readline().startswith(b"* OK")

    def cmd(self, tag, text):
        self.sock.sendall(("%s %s\r\n" % (tag, text)).encode())
        out = []
        while True:
            line = self.f.readline()
            assert line, "connection closed; got %r" % out[-5:]
            line = line.rstrip(b"\r\n")
            out.append(line)
            if line.startswith(tag.encode() + b" "):
                assert line.startswith(tag.encode() + b" OK"), out[-5:]
                return out

    def close(self):
        self.sock.close()


def login(d):
    c = Client(d.ports["imap"])
    c.cmd("l", 'LOGIN %s "%s"' % (USER, PW))
    return c


def user_dir(d):
    dirs = glob.glob(os.path.join(d.data_dir, "users", "*", "store.db"))
    assert len(dirs) == 1, dirs
    return os.path.dirname(dirs[0])


def build(d, n=N):
    """One delivered message, then rows 2..n sharing its file (every 3rd
    \\Seen, every 50th with $Old), counters and quota as fsck computes."""
    d.cli("deliver", "-u", USER, input=MSG)
    db = sqlite3.connect(os.path.join(user_dir(d), "store.db"), timeout=30)
    with db:
        (box,) = db.execute("SELECT id FROM mailbox WHERE name = 'INBOX'").fetchone()
        (blob,) = db.execute("SELECT blob_id FROM message WHERE mailbox_id = ?",
                             (box,)).fetchone()
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            " INSERT INTO message (mailbox_id, uid, blob_id, modseq, flags, keywords,"
            " internal_date, tz, size, savedate)"
            " SELECT ?, i, ?, i + 1, CASE WHEN i % 3 = 0 THEN 1 ELSE 0 END,"
            " CASE WHEN i % 50 = 0 THEN '$Old' ELSE NULL END,"
            " 1700000000 + i, 0, (SELECT size FROM blob WHERE id = ?), 0 FROM n",
            (n, box, blob, blob))
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
    return box


def chown_store(d):
    uid = int(subprocess.check_output(["id", "-u", RUN_USER]))
    gid = int(subprocess.check_output(["id", "-g", RUN_USER]))
    for p in glob.glob(os.path.join(user_dir(d), "store.db*")):
        os.chown(p, uid, gid)


def snapshot(d, box):
    return os.path.join(user_dir(d), "cache", "list-%d" % box)


def select_fetch(d):
    """SELECT INBOX and FETCH 1:* (UID FLAGS MODSEQ) right behind it:
    (FLAGS lines, EXISTS, {msn: (uid, flags, modseq)}, the raw FETCH lines)."""
    c = login(d)
    sel = c.cmd("a", "SELECT INBOX")
    f = c.cmd("b", "FETCH 1:* (UID FLAGS MODSEQ)")
    c.cmd("z", "LOGOUT")
    c.close()
    exists = [int(x.split()[1]) for x in sel if x.endswith(b" EXISTS")]
    flags_lines = [x for x in sel + f if x.startswith(b"* FLAGS ")]
    got = {}
    lines = []
    for line in f:
        m = FETCH_RE.match(line)
        if m:
            got[int(m.group(1))] = (int(m.group(2)), m.group(3).decode(), int(m.group(4)))
            lines.append(line)
    return flags_lines, exists[-1], got, lines


def from_db(d, box):
    """{uid: (set of flags, modseq)} straight from the store's rows."""
    db = sqlite3.connect(os.path.join(user_dir(d), "store.db"), timeout=30)
    rows = db.execute("SELECT uid, flags, keywords, modseq FROM message WHERE mailbox_id = ?"
                      " ORDER BY uid", (box,)).fetchall()
    db.close()
    out = {}
    for uid, fl, kw, modseq in rows:
        s = {name for bit, name in SYSTEM if fl & bit}
        s |= set((kw or "").split())
        out[uid] = (s, modseq)
    return out


def check_against_db(d, box, got):
    want = from_db(d, box)
    assert len(got) == len(want)
    uids = sorted(want)
    for msn in range(1, len(uids) + 1):
        uid, fl, modseq = got[msn]
        assert uid == uids[msn - 1], msn
        assert (set(fl.split()), modseq) == want[uid], (msn, uid, fl, want[uid])


def restart(d, extra):
    d.stop()
    d.write_config(extra)
    d.start()


EXTRA = "[store]\nlist_snapshot_min = %d\n" % MIN


@pytest.fixture
def snapd(roostd):
    d = roostd(extra=EXTRA)
    d.add_user(USER, PW)
    return d


def test_snapshot_plus_changes_equals_a_load_without_snapshots(snapd):
    d = snapd
    box = build(d)
    path = snapshot(d, box)
    assert not os.path.exists(path)
    flags0, exists, got, _ = select_fetch(d)
    assert exists == N and len(got) == N
    assert os.path.exists(path), "the first load of a big mailbox writes its snapshot"
    check_against_db(d, box, got)
    written = os.stat(path)

    # Changes from another session and from another process.
    c = login(d)
    c.cmd("a", "SELECT INBOX")
    c.cmd("b", "UID STORE 10:40 +FLAGS.SILENT (\\Flagged $Fresh)")
    c.cmd("c", "UID STORE 100 FLAGS.SILENT ($Only)")
    c.cmd("d", "UID STORE 1:%d -FLAGS.SILENT ($Old)" % N)   # the last $Old go
    c.cmd("e", "UID STORE 200:260 +FLAGS.SILENT (\\Deleted)")
    c.cmd("f", "EXPUNGE")
    c.cmd("g", "UID STORE 1 +FLAGS.SILENT (\\Deleted)")
    c.cmd("h", "UID EXPUNGE 1")
    c.cmd("i", "APPEND INBOX (\\Seen $New) {%d+}\r\n%s" % (len(MSG), MSG))
    c.cmd("j", "UID COPY 300:310 INBOX")
    c.cmd("k", "CREATE Other")
    c.cmd("m", "UID MOVE 400:405 Other")
    c.cmd("n", "LOGOUT")
    c.close()
    d.cli("deliver", "-u", USER, input=MSG)
    d.cli("deliver", "-u", USER, input=MSG)

    flags1, exists, got, lines = select_fetch(d)
    assert os.stat(path).st_mtime_ns == written.st_mtime_ns, "a small delta needs no rewrite"
    assert "event=list_snapshot_used" in d.log_text()
    check_against_db(d, box, got)
    assert exists == len(got)
    # $Old is gone from every message: FLAGS must not name it any more.
    assert b"$Old" not in flags1[-1] and b"$Fresh" in flags1[-1]

    # The same data dir without snapshots shows exactly the same.
    restart(d, "[store]\nlist_snapshot_min = 0\n")
    flags2, exists2, got2, lines2 = select_fetch(d)
    assert (flags2, exists2, lines2) == (flags1, exists, lines)
    assert os.stat(path).st_mtime_ns == written.st_mtime_ns

    # Snapshots on again after a restart: the file from before is used.
    restart(d, EXTRA)
    log_before = len(d.log_text())
    flags3, _, _, lines3 = select_fetch(d)
    assert (flags3, lines3) == (flags1, lines)
    assert "event=list_snapshot_used" in d.log_text()[log_before:]


def test_damaged_snapshot_is_ignored_and_rebuilt(snapd):
    d = snapd
    box = build(d)
    _, _, got, lines0 = select_fetch(d)
    path = snapshot(d, box)
    size = os.path.getsize(path)
    c = login(d)
    c.cmd("a", "SELECT INBOX")
    c.cmd("b", "UID STORE 5 +FLAGS.SILENT (\\Answered)")
    c.cmd("c", "LOGOUT")
    c.close()
    # Torn (as after a crash: the file is a cache written without fsync).
    os.truncate(path, size // 2)
    _, _, got, lines = select_fetch(d)
    check_against_db(d, box, got)
    assert "event=list_snapshot_rejected" in d.log_text()
    assert os.path.getsize(path) == size, "rewritten whole from the rows"
    # Garbage of the right size.
    with open(path, "r+b") as f:
        f.seek(200)
        f.write(b"\xa5" * 400)
    _, _, got2, lines2 = select_fetch(d)
    assert lines2 == lines
    check_against_db(d, box, got2)
    # fsck removes the snapshots; the next SELECT builds one again.
    d.cli("fsck", USER)
    assert not os.path.exists(path)
    _, _, _, lines3 = select_fetch(d)
    assert lines3 == lines and os.path.exists(path)


def test_delete_and_recreate_does_not_reuse_the_snapshot(snapd):
    d = snapd
    c = login(d)
    c.cmd("a", "CREATE Big")
    db_path = os.path.join(user_dir(d), "store.db")
    db = sqlite3.connect(db_path, timeout=30)
    (box,) = db.execute("SELECT id FROM mailbox WHERE name = 'Big'").fetchone()
    db.close()
    for i in range(3):
        c.cmd("b%d" % i, "APPEND Big {%d+}\r\n%s" % (len(MSG), MSG))
    # Fill Big with MIN rows more, sharing the appended files.
    db = sqlite3.connect(db_path, timeout=30)
    with db:
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 4 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            " INSERT INTO message (mailbox_id, uid, blob_id, modseq, flags, keywords,"
            " internal_date, tz, size, savedate)"
            " SELECT ?, i, (SELECT blob_id FROM message WHERE mailbox_id = ? AND uid = 1),"
            " 100 + i, 1, NULL, 1700000000, 0, (SELECT size FROM message WHERE mailbox_id = ?"
            " AND uid = 1), 0 FROM n", (MIN + 3, box, box, box))
        db.execute(
            "UPDATE mailbox SET messages = (SELECT count(*) FROM message WHERE mailbox_id = id),"
            " unseen = (SELECT count(*) FROM message WHERE mailbox_id = id AND flags & 1 = 0),"
            " size = (SELECT sum(size) FROM message WHERE mailbox_id = id),"
            " uidnext = ? + 1, highestmodseq = ? + 200 WHERE id = ?", (MIN + 3, MIN + 3, box))
        db.execute("UPDATE blob SET refs = (SELECT count(*) FROM message WHERE blob_id = blob.id)")
        db.execute("UPDATE account SET messages_used = (SELECT count(*) FROM message),"
                   " bytes_used = (SELECT sum(size) FROM message)")
    db.close()
    chown_store(d)
    sel = c.cmd("c", "SELECT Big")
    assert b"* %d EXISTS" % (MIN + 3) in sel
    assert os.path.exists(snapshot(d, box))
    c.cmd("d", "UNSELECT")
    c.cmd("e", "DELETE Big")
    assert not os.path.exists(snapshot(d, box))
    c.cmd("f", "CREATE Big")
    sel = c.cmd("g", "SELECT Big")
    assert b"* 0 EXISTS" in sel
    c.cmd("h", "LOGOUT")
    c.close()
