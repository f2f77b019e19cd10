"""Mailbox commands against a real roostd: SELECT/EXAMINE responses,
CLOSE/UNSELECT, CREATE (with USE), DELETE, RENAME, SUBSCRIBE, LIST with
LIST-EXTENDED and LIST-STATUS, LSUB, STATUS, UIDVALIDITY of a recreated
mailbox, Chinese folder names in modified UTF-7 and UTF-8, QRESYNC
resynchronisation, and when untagged EXPUNGE may be sent."""
import re

from test_imap_core_client import append, core, message  # noqa: F401


def resp_code(lines, code):
    for line in lines:
        m = re.search(rb"\[" + code.encode() + rb" ([^\]]*)\]", line)
        if m:
            return m.group(1)
    return None


def test_select_responses(core):
    c = core.connect()
    append(c, "INBOX", message("one"), "(\\Seen)")
    append(c, "INBOX", message("two"), "($Junk)")
    u, t = c.ok("SELECT INBOX")
    assert t.endswith(b"[READ-WRITE] SELECT completed")
    assert b"* 2 EXISTS" in u and b"* 0 RECENT" in u
    assert b"* OK [UNSEEN 2] First unseen" in u
    flags = [x for x in u if x.startswith(b"* FLAGS")][0]
    assert flags == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk)"
    assert resp_code(u, "PERMANENTFLAGS") == b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)"
    assert int(resp_code(u, "UIDVALIDITY")) > 0
    assert resp_code(u, "UIDNEXT") == b"3"
    assert int(resp_code(u, "HIGHESTMODSEQ")) > 0
    u, t = c.ok("EXAMINE INBOX")
    assert u[0] == b"* OK [CLOSED] Previous mailbox is now closed"
    assert t.endswith(b"[READ-ONLY] EXAMINE completed")
    assert resp_code(u, "PERMANENTFLAGS") == b"()"
    # IMAP4rev2: no RECENT, but a LIST line
    c.ok("ENABLE IMAP4rev2")
    u, t = c.ok("SELECT INBOX")
    assert not any(b"RECENT" in x for x in u)
    assert b'* LIST (\\HasNoChildren) "/" INBOX' in u
    # a failed SELECT leaves no mailbox selected
    u, t = c.no("SELECT nosuch")
    assert b"[NONEXISTENT]" in t
    c.bad("FETCH 1 FLAGS")


def test_close_expunges_silently_unselect_does_not(core):
    c = core.connect()
    for i in range(3):
        append(c, "INBOX", message("m%d" % i), "(\\Deleted)" if i != 1 else "")
    c.ok("SELECT INBOX")
    c.ok("UNSELECT")
    u, t = c.ok("STATUS INBOX (MESSAGES DELETED)")
    assert u == [b"* STATUS INBOX (MESSAGES 3 DELETED 2)"]
    c.ok("EXAMINE INBOX")
    u, t = c.ok("CLOSE")  # read-only: no expunge
    assert u == []
    c.ok("SELECT INBOX")
    u, t = c.ok("CLOSE")
    assert u == []  # silent
    u, t = c.ok("STATUS INBOX (MESSAGES DELETED)")
    assert u == [b"* STATUS INBOX (MESSAGES 1 DELETED 0)"]


def test_create_delete_rename_list(core):
    c = core.connect()
    c.ok("CREATE Work/Projects/")  # trailing delimiter: declares a parent
    u, t = c.no("CREATE Work")
    assert b"[ALREADYEXISTS]" in t
    c.no("CREATE INBOX")
    u, t = c.ok('LIST "" Work*')
    assert u == [b'* LIST (\\HasChildren) "/" Work',
                 b'* LIST (\\HasNoChildren) "/" Work/Projects']
    u, t = c.ok('LIST "" %')
    assert b'* LIST (\\HasChildren) "/" Work' in u
    assert not any(b"Projects" in x for x in u)
    u, t = c.ok('LIST "Work/" %')
    assert u == [b'* LIST (\\HasNoChildren) "/" Work/Projects']
    c.ok("RENAME Work Job")
    u, t = c.ok('LIST "" Job/*')
    assert u == [b'* LIST (\\HasNoChildren) "/" Job/Projects']
    u, t = c.no("RENAME nosuch other")
    assert b"[NONEXISTENT]" in t
    c.ok("DELETE Job/Projects")
    u, t = c.no("DELETE Job/Projects")
    assert b"[NONEXISTENT]" in t
    c.no("DELETE INBOX")
    u, t = c.ok('LIST "" ""')
    assert u == [b'* LIST (\\Noselect) "/" ""']
    # INBOX is case-insensitive in patterns too
    for pat in ("inbox", "Inbox*", "iNbOx%"):
        u, t = c.ok('LIST "" %s' % pat)
        assert u == [b'* LIST (\\HasNoChildren) "/" INBOX'], (pat, u)


def test_create_special_use_and_list_extended(core):
    c = core.connect()
    c.ok("CREATE Receipts (USE (\\Archive))")
    u, t = c.no("CREATE Bogus (USE (\\Nonsense))")
    assert b"[USEATTR]" in t
    u, t = c.ok('LIST (SPECIAL-USE) "" *')
    names = [x.rsplit(b" ", 1)[1] for x in u]
    assert b"Receipts" in names and b"INBOX" not in names
    assert b'* LIST (\\HasNoChildren \\Archive) "/" Receipts' in u
    # multiple patterns, RETURN (SUBSCRIBED CHILDREN)
    c.ok("SUBSCRIBE Receipts")
    u, t = c.ok('LIST "" (INBOX Receipts) RETURN (SUBSCRIBED CHILDREN)')
    assert u == [b'* LIST (\\HasNoChildren \\Subscribed) "/" INBOX',
                 b'* LIST (\\HasNoChildren \\Archive \\Subscribed) "/" Receipts']
    # SUBSCRIBED selection shows subscriptions of missing names as \NonExistent
    c.ok("SUBSCRIBE Gone")
    u, t = c.ok('LIST (SUBSCRIBED) "" G*')
    assert u == [b'* LIST (\\NonExistent \\Subscribed) "/" Gone']
    u, t = c.ok('LIST "" G*')
    assert u == []
    c.ok("UNSUBSCRIBE Gone")
    u, t = c.ok('LIST (SUBSCRIBED) "" G*')
    assert u == []
    c.bad('LIST (RECURSIVEMATCH) "" *')
    c.bad('LIST (BOGUS) "" *')
    # LIST-STATUS
    append(c, "Receipts", message("r1"))
    u, t = c.ok('LIST "" Receipts RETURN (STATUS (MESSAGES UNSEEN SIZE))')
    assert u[0] == b'* LIST (\\HasNoChildren \\Archive) "/" Receipts'
    assert re.match(rb"\* STATUS Receipts \(MESSAGES 1 UNSEEN 1 SIZE \d+\)", u[1])


def test_lsub(core):
    c = core.connect()
    c.ok("CREATE Lists/rust")
    c.ok("SUBSCRIBE Lists/rust")
    c.ok("UNSUBSCRIBE Lists")
    u, t = c.ok('LSUB "" Lists/*')
    assert u == [b'* LSUB (\\HasNoChildren) "/" Lists/rust']
    u, t = c.ok('LSUB "" %')
    assert b'* LSUB (\\Noselect \\HasChildren) "/" Lists' in u


def test_status(core):
    c = core.connect()
    append(c, "INBOX", message("s1"), "(\\Seen)")
    append(c, "INBOX", message("s2"), "(\\Deleted)")
    u, t = c.ok("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE "
                "HIGHESTMODSEQ RECENT APPENDLIMIT)")
    m = re.match(rb"\* STATUS INBOX \(MESSAGES 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 1 DELETED 1 "
                 rb"SIZE (\d+) HIGHESTMODSEQ \d+ RECENT 0 APPENDLIMIT \d+\)", u[0])
    assert m, u
    assert int(m.group(1)) == len(message("s1")) + len(message("s2"))
    u, t = c.no("STATUS nosuch (MESSAGES)")
    assert b"[NONEXISTENT]" in t
    c.bad("STATUS INBOX ()")
    c.ok("ENABLE IMAP4rev2")
    c.bad("STATUS INBOX (RECENT)")


def test_recreated_mailbox_gets_new_uidvalidity(core):
    c = core.connect()
    c.ok("CREATE Temp")
    v1, uid1 = append(c, "Temp", message("t"))
    c.ok("DELETE Temp")
    c.ok("CREATE Temp")
    u, t = c.ok("SELECT Temp")
    v2 = int(resp_code(u, "UIDVALIDITY"))
    assert v2 > v1
    assert b"* 0 EXISTS" in u


def test_chinese_names_rev1_and_utf8(core):
    c = core.connect()
    c.ok("CREATE &XfJT0ZAB-")  # 已发送 in modified UTF-7
    c.ok("CREATE &XfJT0ZAB-/&W1A-")
    u, t = c.ok('LIST "" &XfJT0ZAB-*')
    assert u == [b'* LIST (\\HasChildren) "/" &XfJT0ZAB-',
                 b'* LIST (\\HasNoChildren) "/" &XfJT0ZAB-/&W1A-']
    append(c, "&XfJT0ZAB-", message("sent"))
    u, t = c.ok("STATUS &XfJT0ZAB- (MESSAGES)")
    assert u == [b"* STATUS &XfJT0ZAB- (MESSAGES 1)"]
    u, t = c.no("CREATE &Jjo!")
    assert b"modified UTF-7" in t
    # the same folder seen by a UTF8=ACCEPT session
    d = core.connect()
    d.ok("ENABLE UTF8=ACCEPT")
    u, t = d.ok('LIST "" "已发送*"')
    assert u == ['* LIST (\\HasChildren) "/" "已发送"'.encode(),
                 '* LIST (\\HasNoChildren) "/" "已发送/子"'.encode()]
    u, t = d.ok('SELECT "已发送"')
    assert b"* 1 EXISTS" in u
    d.ok('CREATE "收件箱/通知"')
    u, t = c.ok('LIST "" %')
    assert b'* LIST (\\HasChildren) "/" &ZTZO9nux-' in u


def test_rename_inbox(core):
    c = core.connect()
    append(c, "INBOX", message("old"))
    c.ok("RENAME INBOX Old-Inbox")
    u, t = c.ok("STATUS INBOX (MESSAGES)")
    assert u == [b"* STATUS INBOX (MESSAGES 0)"]
    u, t = c.ok("STATUS Old-Inbox (MESSAGES)")
    assert u == [b"* STATUS Old-Inbox (MESSAGES 1)"]


def test_no_expunge_during_msn_commands(core):
    """RFC 9051 7.5.1: EXPUNGE is not sent in response to FETCH, STORE or
    SEARCH by sequence number; it is sent after NOOP."""
    a = core.connect()
    b = core.connect()
    for i in range(3):
        append(a, "INBOX", message("x%d" % i))
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    b.ok("STORE 2 +FLAGS (\\Deleted)")
    b.ok("EXPUNGE")
    u, t = a.ok("FETCH 1:* (FLAGS)")
    assert not any(b"EXPUNGE" in x for x in u)
    # the FETCH FLAGS of the \Deleted change is fine, the numbering stays
    assert any(x.startswith(b"* 3 FETCH") for x in u)
    u, t = a.ok("SEARCH ALL")
    assert not any(b"EXPUNGE" in x for x in u)
    u, t = a.ok("NOOP")
    assert b"* 2 EXPUNGE" in u
    u, t = a.ok("FETCH 1:* (UID)")
    assert len([x for x in u if b"FETCH" in x]) == 2


def test_qresync_select_after_offline(core):
    c = core.connect()
    for i in range(6):
        append(c, "INBOX", message("q%d" % i))
    c.ok("ENABLE QRESYNC")
    u, t = c.ok("SELECT INBOX")
    validity = int(resp_code(u, "UIDVALIDITY"))
    modseq = int(resp_code(u, "HIGHESTMODSEQ"))
    c.ok("LOGOUT")
    # while offline: another device flags 2, deletes 3 and 5, adds one
    o = core.connect()
    o.ok("SELECT INBOX")
    o.ok("UID STORE 2 +FLAGS (\\Flagged)")
    o.ok("UID STORE 3,5 +FLAGS (\\Deleted)")
    o.ok("EXPUNGE")
    append(o, "INBOX", message("q-new"))
    o.ok("LOGOUT")
    c = core.connect()
    u, t = c.bad("SELECT INBOX (QRESYNC (%d %d))" % (validity, modseq))  # not enabled
    c.ok("ENABLE QRESYNC")
    u, t = c.ok("SELECT INBOX (QRESYNC (%d %d 1:6))" % (validity, modseq))
    assert b"* VANISHED (EARLIER) 3,5" in u
    fetches = [x for x in u if b" FETCH " in x]
    assert fetches[0].startswith(b"* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (")
    assert fetches[1].startswith(b"* 5 FETCH (UID 7 FLAGS () MODSEQ (")
    assert len(fetches) == 2
    assert b"* 5 EXISTS" in u
    # known-uids limit the VANISHED list
    c.ok("UNSELECT")
    u, t = c.ok("SELECT INBOX (QRESYNC (%d %d 4:6))" % (validity, modseq))
    assert b"* VANISHED (EARLIER) 5" in u
    # a UIDVALIDITY mismatch: a normal SELECT
    c.ok("UNSELECT")
    u, t = c.ok("SELECT INBOX (QRESYNC (%d %d))" % (validity + 1, modseq))
    assert not any(b"VANISHED" in x or b" FETCH " in x for x in u)
    # VANISHED replaces EXPUNGE once QRESYNC is on
    o = core.connect()
    o.ok("SELECT INBOX")
    o.ok("UID STORE 1 +FLAGS (\\Deleted)")
    o.ok("EXPUNGE")
    u, t = c.ok("NOOP")
    assert b"* VANISHED 1" in u


def test_condstore_select_and_fetch_modseq(core):
    c = core.connect()
    append(c, "INBOX", message("c1"))
    u, t = c.ok("SELECT INBOX (CONDSTORE)")
    assert resp_code(u, "HIGHESTMODSEQ") is not None
    o = core.connect()
    o.ok("SELECT INBOX")
    o.ok("STORE 1 +FLAGS (\\Answered)")
    u, t = c.ok("NOOP")
    assert re.match(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Answered\) MODSEQ \(\d+\)\)", u[0]), u


def test_selected_mailbox_deleted_elsewhere(core):
    a = core.connect()
    a.ok("CREATE Doomed")
    a.ok("SELECT Doomed")
    b = core.connect()
    b.ok("DELETE Doomed")
    lines = []
    try:
        a.send("n1 NOOP\r\n")
        while True:
            lines.append(a.line())
    except (EOFError, OSError):
        pass
    assert lines and lines[0] == b"* BYE The selected mailbox was deleted.", lines
    # deleting the mailbox one has selected oneself just leaves it
    b.ok("CREATE Doomed2")
    b.ok("SELECT Doomed2")
    u, t = b.ok("DELETE Doomed2")
    assert u == [b"* OK [CLOSED] The selected mailbox was deleted"]
    b.bad("FETCH 1 FLAGS")


def test_many_expunges_from_another_session(core):
    a = core.connect()
    msgs = [message("bulk %d" % i) for i in range(300)]
    tag = a.tag()
    payload = b" ".join(b"{%d+}\r\n%s" % (len(m), m) for m in msgs)
    a.send(tag.encode() + b" APPEND INBOX " + payload + b"\r\n")
    u, t = a.read_tagged(tag)
    assert b"APPENDUID" in t, t
    a.ok("SELECT INBOX")
    b = core.connect()
    b.ok("SELECT INBOX")
    b.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)")
    b.ok("STORE 2:*:2 -FLAGS.SILENT (\\Deleted)".replace("2:*:2", ",".join(
        str(i) for i in range(2, 301, 2))))
    b.ok("EXPUNGE")
    u, t = a.ok("NOOP")
    expunges = [int(x.split()[1]) for x in u if x.endswith(b"EXPUNGE")]
    # odd MSNs 299, 297, ..., 1: highest first, each still valid when read
    assert expunges == list(range(299, 0, -2)), expunges[:10]
    u, t = a.ok("FETCH 1:* (UID)")
    uids = [int(x.split(b"UID ")[1].rstrip(b")")) for x in u]
    assert uids == list(range(2, 301, 2))
