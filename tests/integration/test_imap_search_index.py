"""SEARCH with the search index (data_dir/users/<key>/search.db) against a
real roostd: mail searched right after its delivery, expunged messages,
COPY and MOVE, roost fsck's rebuild, a store without an index or with one
of an older format, and needles too short for trigrams."""
import base64
import glob
import os
import sqlite3
import time

from test_imap_fetch_helpers import imap_env  # noqa: F401  (fixture)
from test_imap_fetch_helpers import search_nums, simple_message


def user_dir(env):
    dirs = glob.glob(os.path.join(env.daemon.data_dir, "users", "*"))
    assert len(dirs) == 1, dirs
    return dirs[0]


def index_sql(env, sql):
    """Runs sql on the user's search.db (as root: files SQLite creates on
    the way are given back to the daemon's user)."""
    path = "%s/search.db" % user_dir(env)
    st = os.stat(path)
    db = sqlite3.connect(path, timeout=30)
    try:
        rows = db.execute(sql).fetchall()
        db.commit()
        return rows
    finally:
        db.close()
        for f in glob.glob(path + "-*"):
            os.chown(f, st.st_uid, st.st_gid)


def index_state(env):
    return index_sql(env, "SELECT format, upto, docs FROM search_state")[0]


def uids(c, criteria):
    u, _ = c.ok("UID SEARCH " + criteria)
    return search_nums(u)


def gbk_body(text):
    return (b"From: li@example.cn\r\nTo: wang@example.cn\r\nSubject: =?GBK?B?" +
            base64.b64encode("季度报告".encode("gbk")) + b"?=\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=GBK\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" +
            base64.b64encode(text.encode("gbk")) + b"\r\n")


def test_mail_is_found_right_after_delivery(imap_env):
    for i in range(30):
        imap_env.deliver(simple_message("note %d" % i, "ordinary text %d" % i))
    imap_env.deliver(simple_message("Wombat news", "a wombatine was seen"))
    c = imap_env.connect()
    c.ok("SELECT INBOX")
    assert uids(c, "BODY wombatine") == [31]
    assert uids(c, "SUBJECT WOMBAT") == [31]
    # Delivered while the session is open and right before the search:
    # not indexed yet by roostd's thread, found all the same.
    imap_env.deliver(simple_message("again", "second WOMBATINE"))
    c.ok("NOOP")
    assert uids(c, "BODY wombatine") == [31, 32]
    assert uids(c, "TEXT wombat") == [31, 32]
    assert uids(c, "NOT BODY wombatine") == list(range(1, 31))
    assert index_state(imap_env)[1] > 0


def test_expunged_messages_are_never_returned(imap_env):
    a = imap_env.connect()
    for i in range(6):
        a.append("INBOX", simple_message("s%d" % i, "needle-%s" % ("kiwi" if i % 2 else "plum")))
    a.ok("SELECT INBOX")
    assert uids(a, "BODY kiwi") == [2, 4, 6]
    b = imap_env.connect()
    b.ok("SELECT INBOX")
    b.ok("UID STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    # a has not been told yet; the expunged messages are not hits.
    assert uids(a, "BODY kiwi") == [6]
    assert uids(a, "TEXT needle-kiwi") == [6]
    a.ok("NOOP")
    assert uids(a, "BODY kiwi") == [6]


def test_copy_and_move_share_the_index(imap_env):
    c = imap_env.connect()
    for i in range(5):
        c.append("INBOX", simple_message("m%d" % i, "platypus" if i in (1, 3) else "echidna"))
    c.ok("CREATE Saved")
    c.ok("CREATE Bin")
    c.ok("SELECT INBOX")
    assert uids(c, "BODY platypus") == [2, 4]
    c.ok("UID COPY 1:5 Saved")
    c.ok("UID MOVE 4 Bin")
    assert uids(c, "BODY platypus") == [2]
    c.ok("SELECT Saved")
    assert uids(c, "BODY platypus") == [2, 4]
    assert uids(c, "SUBJECT m3") == [4]
    c.ok("SELECT Bin")
    assert uids(c, "BODY platypus") == [1]
    assert uids(c, "BODY echidna") == []


def test_fsck_rebuilds_the_index(imap_env):
    c = imap_env.connect()
    for i in range(8):
        c.append("INBOX", simple_message("f%d" % i, "body of %s" % ("quokka" if i == 5 else "x")))
    c.ok("SELECT INBOX")
    assert uids(c, "BODY quokka") == [6]
    # Damage it: the rows are gone but the watermark says indexed.
    index_sql(imap_env, "DROP TABLE search_fts")
    index_sql(imap_env, "CREATE VIRTUAL TABLE search_fts USING fts5(text, content='',"
              " columnsize=0, detail=none, tokenize='trigram case_sensitive 1')")
    p = imap_env.daemon.cli("fsck", imap_env.user)
    assert p.returncode == 0, p.stderr
    fmt, upto, docs = index_state(imap_env)
    assert docs == 8 and upto >= 8
    assert uids(c, "BODY quokka") == [6]
    assert uids(c, "BODY QUOKKA") == [6]


def test_store_without_or_with_old_index(imap_env):
    c = imap_env.connect()
    for i in range(4):
        c.append("INBOX", simple_message("o%d" % i, "antelope" if i == 2 else "gazelle"))
    c.close()
    d = imap_env.daemon
    assert d.stop() == 0
    for f in glob.glob("%s/search.db*" % user_dir(imap_env)):
        os.unlink(f)
    d.start()
    c = imap_env.connect()
    c.ok("SELECT INBOX")
    assert uids(c, "BODY antelope") == [3]
    assert index_state(imap_env)[1] >= 4
    # An index of an older format is dropped and made again.
    index_sql(imap_env, "UPDATE search_state SET format = 1")
    assert uids(c, "BODY antelope") == [3]
    assert uids(c, "BODY gazelle") == [1, 2, 4]
    assert index_state(imap_env)[0] != 1


def test_short_needles_and_chinese(imap_env):
    c = imap_env.connect()
    c.append("INBOX", gbk_body("我们明天开会讨论预算"))
    c.append("INBOX", gbk_body("周末愉快"))
    c.append("INBOX", simple_message("ab", "xy z"))
    c.ok("SELECT INBOX")

    def zh(key, text):
        data = text.encode()
        u, st, _ = c.literal_cmd(b"UID SEARCH CHARSET UTF-8 " + key.encode(), data)
        assert st == "OK"
        return search_nums(u)

    assert zh("BODY", "开会") == [1]          # two characters: scanned
    assert zh("BODY", "明天开会") == [1]      # trigrams
    assert zh("BODY", "预算") == [1]
    assert zh("SUBJECT", "季度报告") == [1, 2]
    assert zh("SUBJECT", "报告") == [1, 2]
    assert zh("BODY", "周末愉") == [2]
    assert uids(c, "BODY xy") == [3]
    assert uids(c, "SUBJECT ab") == [3]
    assert uids(c, 'BODY "xy z"') == [3]
    assert uids(c, 'BODY "y z"') == [3]


def wait_indexed(env, count):
    deadline = time.monotonic() + 20
    state = None
    while time.monotonic() < deadline:
        if os.path.exists("%s/search.db" % user_dir(env)):
            try:
                state = index_state(env)
            except sqlite3.OperationalError as e:
                # The indexer has created the file but not yet committed
                # its schema.
                if "no such table" not in str(e):
                    raise
                state = None
            if state is not None and state[2] >= count:
                break
        time.sleep(0.3)
    assert state is not None and state[2] == count, state


def test_roostd_indexes_new_mail_in_the_background(imap_env):
    for i in range(5):
        imap_env.deliver(simple_message("bg %d" % i, "background text %d" % i))
    # No SEARCH: roostd's indexer thread picks the deliveries up a few
    # seconds after they stop.
    wait_indexed(imap_env, 5)
    c = imap_env.connect()
    c.ok("SELECT INBOX")
    assert uids(c, "BODY \"text 3\"") == [4]
    # Mail from another process (roost deliver) to a user open here is
    # indexed too, after its notification.
    for i in range(3):
        imap_env.daemon.cli("deliver", "-u", imap_env.user, "-f", "s@example.org",
                            input=simple_message("cli %d" % i, "piped text %d" % i))
    wait_indexed(imap_env, 8)
    c.ok("NOOP")
    assert uids(c, "BODY \"piped text 1\"") == [7]
