"""`roost import` and `roost export`: a generated Dovecot-style Maildir (with
dovecot-uidlist, dovecot-keywords, Maildir++ subfolders, a modified UTF-7
name) and an mbox; flags, keywords, internal dates, UIDs and UIDVALIDITY
checked over IMAP; a second run imports nothing; export -> import round
trips."""
import imaplib
import os
import re
import shutil

import pytest

from conftest import shared_tmpdir

USER = "imp@example.test"
USER2 = "copy@example.test"
PASS = "secret-pw"


def write(path, data, mtime=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def msg(subject, body="body\n"):
    return ("From: a@example.org\nSubject: %s\nMessage-ID: <%s@x>\n\n%s"
            % (subject, subject.replace(" ", "-"), body)).encode()


def make_maildir(root):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(root, sub))
    write(os.path.join(root, "dovecot-keywords"), b"0 $Work\n1 Important\n")
    write(os.path.join(root, "dovecot-uidlist"),
          b"3 V1234567 N50 Gabcdef\n"
          b"10 :1600000001.M1P1.old,S=70\n"
          b"17 W80 :1600000002.M2P1.old,S=70\n"
          b"42 :1600000003.M3P1.old\n")
    write(os.path.join(root, "cur", "1600000001.M1P1.old,S=70:2,RS"), msg("first"), 1600000001)
    write(os.path.join(root, "cur", "1600000002.M2P1.old,S=70:2,Fab"), msg("second"), 1600000002)
    write(os.path.join(root, "cur", "1600000003.M3P1.old:2,DT"), msg("third"), 1600000003)
    # Not in the UID list yet (arrived after it was written), in new/.
    write(os.path.join(root, "new", "1600000004.M4P1.old"), msg("fourth"), 1600000004)
    # Maildir++ folders: "Lists/Rust" and "已发送" (modified UTF-7).
    rust = os.path.join(root, ".Lists.Rust")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(rust, sub))
    write(os.path.join(rust, "dovecot-uidlist"), b"3 V777 N3\n2 :1600000005.M5P1.old\n")
    write(os.path.join(rust, "cur", "1600000005.M5P1.old:2,S"), msg("rust"), 1600000005)
    sent = os.path.join(root, ".&XfJT0ZAB-")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(sent, sub))
    write(os.path.join(sent, "cur", "1600000006.M6P1.old:2,S"), msg("sent"), 1600000006)


class Imap:
    def __init__(self, d, user):
        self.m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
        self.m.login(user, PASS)

    def select(self, name):
        typ, _ = self.m.select(name, readonly=True)
        assert typ == "OK", name
        return int(self.m.response("UIDVALIDITY")[1][0])

    def messages(self):
        """{uid: (flags set, internaldate string, body)}"""
        typ, data = self.m.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
        out = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            head = item[0].decode()
            uid = int(re.search(r"UID (\d+)", head).group(1))
            flags = set(re.search(r"FLAGS \(([^)]*)\)", head).group(1).split())
            date = re.search(r'INTERNALDATE "([^"]+)"', head).group(1)
            out[uid] = (flags, date, item[1])
        return out

    def names(self):
        typ, data = self.m.list()
        return [line.decode().rsplit(" ", 1)[1].strip('"') for line in data]

    def close(self):
        self.m.logout()


@pytest.fixture
def d(roostd):
    daemon = roostd()
    daemon.add_user(USER, PASS)
    daemon.add_user(USER2, PASS)
    yield daemon


@pytest.fixture
def srcdir():
    path = shared_tmpdir("roost-import-")
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_import_maildir_keeps_uids_flags_keywords_dates(d, srcdir):
    root = os.path.join(srcdir, "Maildir")
    make_maildir(root)
    p = d.cli("import", "maildir", root, USER)
    assert b"UIDVALIDITY and UIDs kept" in p.stdout, p.stdout
    i = Imap(d, USER)
    assert i.select("INBOX") == 1234567
    msgs = i.messages()
    assert sorted(msgs) == [10, 17, 42, 43]
    assert msgs[10][0] == {"\\Answered", "\\Seen"}
    assert msgs[17][0] == {"\\Flagged", "$Work", "Important"}
    assert msgs[42][0] == {"\\Draft", "\\Deleted"}
    assert msgs[43][0] == set()
    assert msgs[10][1] == "13-Sep-2020 12:26:41 +0000"  # the file's mtime
    assert msgs[10][2] == msg("first").replace(b"\n", b"\r\n")
    names = i.names()
    assert "Lists/Rust" in names and "&XfJT0ZAB-" in names
    assert i.select('"Lists/Rust"') == 777
    assert sorted(i.messages()) == [2]
    assert i.select('"&XfJT0ZAB-"') > 0
    assert [m[2] for m in i.messages().values()] == [msg("sent").replace(b"\n", b"\r\n")]
    i.close()

    # A second run imports nothing.
    p = d.cli("import", "maildir", root, USER)
    assert b" 0 imported" in p.stdout and b"1 imported" not in p.stdout, p.stdout
    i = Imap(d, USER)
    i.select("INBOX")
    assert sorted(i.messages()) == [10, 17, 42, 43]
    i.close()


def test_import_into_a_used_mailbox_renumbers(d, srcdir):
    root = os.path.join(srcdir, "Maildir")
    make_maildir(root)
    d.cli("deliver", "-u", USER, input=msg("already here"))
    p = d.cli("import", "maildir", root, USER)
    assert b"UIDs renumbered" in p.stdout
    i = Imap(d, USER)
    i.select("INBOX")
    msgs = i.messages()
    assert len(msgs) == 5
    subjects = [re.search(rb"Subject: (\w+)", m[2]).group(1) for _, m in sorted(msgs.items())]
    assert subjects == [b"already", b"first", b"second", b"third", b"fourth"]
    i.close()


MBOX = (b"From a@example.org Mon Jan  4 10:00:00 2021\n"
        b"Status: RO\nX-Status: AF\nX-Keywords: $Label1 Todo\nSubject: one\n\n"
        b"Hello\n>From the start\n>>From deeper\nFrom inside, not a separator\n\n"
        b"From b@example.org Tue Jan  5 11:30:00 2021\n"
        b"Subject: two\n\nunread\n\n")


def test_import_mbox_flags_dates_unescaping(d, srcdir):
    path = os.path.join(srcdir, "inbox.mbox")
    write(path, MBOX)
    d.cli("import", "mbox", path, USER, "Old")
    i = Imap(d, USER)
    i.select("Old")
    msgs = i.messages()
    (u1, m1), (u2, m2) = sorted(msgs.items())
    assert m1[0] == {"\\Seen", "\\Answered", "\\Flagged", "$Label1", "Todo"}
    assert m1[1].lstrip(" 0") == "4-Jan-2021 10:00:00 +0000"  # day: SP DIGIT or 2DIGIT
    assert m1[2] == (b"Subject: one\r\n\r\nHello\r\nFrom the start\r\n>From deeper\r\n"
                     b"From inside, not a separator\r\n")
    assert m2[0] == set()
    assert m2[1].lstrip(" 0") == "5-Jan-2021 11:30:00 +0000"
    assert m2[2] == b"Subject: two\r\n\r\nunread\r\n"
    i.close()
    p = d.cli("import", "mbox", path, USER, "Old")
    assert b"0 imported, 2 already there" in p.stdout


def test_export_import_round_trips(d, srcdir):
    root = os.path.join(srcdir, "Maildir")
    make_maildir(root)
    d.cli("import", "maildir", root, USER)
    mbox = os.path.join(srcdir, "mbox-out")
    d.cli("export", "mbox", USER, mbox)
    assert os.path.exists(os.path.join(mbox, "INBOX.mbox"))
    assert os.path.exists(os.path.join(mbox, "Lists", "Rust.mbox"))
    d.cli("import", "mbox", mbox, USER2)

    maildir = os.path.join(srcdir, "maildir-out")
    d.cli("export", "maildir", USER, maildir)
    assert os.path.exists(os.path.join(maildir, ".Lists.Rust", "dovecot-uidlist"))
    with open(os.path.join(maildir, "dovecot-uidlist")) as f:
        assert f.readline().startswith("3 V1234567 ")
    # Exporting again writes nothing new.
    p = d.cli("export", "maildir", USER, maildir)
    assert b"INBOX: 0 messages written, 4 already there" in p.stdout

    a, b = Imap(d, USER), Imap(d, USER2)
    for name in ("INBOX", '"Lists/Rust"', '"&XfJT0ZAB-"'):
        # The mbox carried X-IMAPbase/X-UID: UIDVALIDITY and UIDs survive too.
        assert a.select(name) == b.select(name), name
        assert sorted(a.messages().items()) == sorted(b.messages().items()), name
    a.close()
    b.close()

    # The exported Maildir imports back with the same UIDs.
    d.add_user("third@example.test", PASS)
    d.cli("import", "maildir", maildir, "third@example.test")
    c = Imap(d, "third@example.test")
    assert c.select("INBOX") == 1234567
    assert sorted(c.messages()) == [10, 17, 42, 43]
    c.close()


def test_import_usage_errors(d, srcdir):
    assert d.cli("import", "maildir", check=False).returncode == 64
    assert d.cli("import", "zip", srcdir, USER, check=False).returncode == 64
    assert d.cli("import", "mbox", os.path.join(srcdir, "missing"), USER,
                 check=False).returncode == 66
    assert d.cli("import", "maildir", srcdir, USER, check=False).returncode == 66
    write(os.path.join(srcdir, "x.mbox"), MBOX)
    assert d.cli("import", "mbox", os.path.join(srcdir, "x.mbox"), "nobody@example.test",
                 check=False).returncode == 67


def test_import_thunderbird_profile_directory(d, srcdir):
    top = os.path.join(srcdir, "Mail", "Local Folders")
    write(os.path.join(top, "Inbox"), MBOX)
    write(os.path.join(top, "Inbox.msf"), b"// <!-- <mdb:mork:z v=\"1.4\"/> -->\n")
    write(os.path.join(top, "Inbox.sbd", "Projects"), MBOX)
    write(os.path.join(top, "notes.txt"), b"not an mbox\n")
    p = d.cli("import", "mbox", top, USER, "Imported")
    assert b"no messages" in p.stdout
    i = Imap(d, USER)
    names = i.names()
    assert "Imported/Inbox" in names and "Imported/Inbox/Projects" in names
    assert not any("msf" in n or "notes" in n or "sbd" in n for n in names), names
    i.select('"Imported/Inbox/Projects"')
    assert len(i.messages()) == 2
    i.close()


def test_import_mbox_keeps_dovecot_and_uw_uids(d, srcdir):
    uw = (b"From MAILER-DAEMON Mon Jan  4 09:00:00 2021\n"
          b"Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
          b"X-IMAP: 555000 31\n\nThis text is part of the internal format of your mail folder.\n\n"
          b"From a@example.org Mon Jan  4 10:00:00 2021\nX-UID: 7\nSubject: seven\n\nx\n\n"
          b"From a@example.org Mon Jan  4 11:00:00 2021\nX-UID: 30\nSubject: thirty\n\ny\n\n")
    path = os.path.join(srcdir, "uw.mbox")
    write(path, uw)
    p = d.cli("import", "mbox", path, USER, "UW")
    assert b"UIDVALIDITY and UIDs kept" in p.stdout
    i = Imap(d, USER)
    assert i.select("UW") == 555000
    msgs = i.messages()
    assert sorted(msgs) == [7, 30]
    assert msgs[7][2] == b"Subject: seven\r\n\r\nx\r\n"
    i.close()
    p = d.cli("import", "mbox", path, USER, "UW")
    assert b"0 imported, 2 already there" in p.stdout


def test_import_in_batches_keeps_every_uid_and_reruns_clean(d, srcdir):
    """More messages than one batch (256): listed ones keep their UIDs
    (with gaps), unlisted ones follow; an mbox without UIDs in the same
    run; nothing is lost, duplicated or renumbered, and a second run
    imports nothing."""
    root = os.path.join(srcdir, "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(root, sub))
    listed, unlisted = 530, 70
    lines = [b"3 V4242 N2000 Gabc\n"]
    for i in range(listed):
        name = "17000%05d.M%dP1.big" % (i, i)
        lines.append(b"%d :%s\n" % (2 * i + 5, name.encode()))
        write(os.path.join(root, "cur", name + ":2,S"), msg("batch %d" % i), 1700000000 + i)
    for i in range(listed, listed + unlisted):
        name = "17000%05d.M%dP1.big" % (i, i)
        write(os.path.join(root, "new", name), msg("batch %d" % i), 1700000000 + i)
    write(os.path.join(root, "dovecot-uidlist"), b"".join(lines))
    mbox = os.path.join(srcdir, "many.mbox")
    write(mbox, b"".join(b"From a@example.org Thu Nov 26 13:40:43 2026\n" + msg("mbox %d" % i)
                         + b"\n" for i in range(300)))

    p = d.cli("import", "maildir", root, USER)
    assert b"UIDVALIDITY and UIDs kept" in p.stdout, p.stdout
    d.cli("import", "mbox", mbox, USER, "Many")
    i = Imap(d, USER)
    assert i.select("INBOX") == 4242
    msgs = i.messages()
    expected = [2 * k + 5 for k in range(listed)]
    expected += list(range(expected[-1] + 1, expected[-1] + 1 + unlisted))
    assert sorted(msgs) == expected
    for k, uid in enumerate(expected):
        assert msgs[uid][2] == msg("batch %d" % k).replace(b"\n", b"\r\n")
        assert msgs[uid][0] == ({"\\Seen"} if k < listed else set())
    i.select("Many")
    bodies = sorted(m[2] for m in i.messages().values())
    assert bodies == sorted(msg("mbox %d" % k).replace(b"\n", b"\r\n") for k in range(300))
    i.close()

    p = d.cli("import", "maildir", root, USER)
    assert b" 0 imported" in p.stdout and b"1 imported" not in p.stdout, p.stdout
    p = d.cli("import", "mbox", mbox, USER, "Many")
    assert b" 0 imported" in p.stdout, p.stdout
    i = Imap(d, USER)
    i.select("INBOX")
    assert sorted(i.messages()) == expected
    i.select("Many")
    assert len(i.messages()) == 300
    i.close()
    assert d.cli("fsck", USER).returncode == 0
