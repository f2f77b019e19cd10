"""SEARCH against a real roostd: every key, Chinese text in GBK, GB2312 and
Big5 messages found with a UTF-8 search, CHARSET rules, ESEARCH RETURN
options, SEARCHRES ($), MODSEQ, and bad syntax."""
import base64

import pytest

from test_imap_fetch_helpers import imap_env  # noqa: F401  (fixture)
from test_imap_fetch_helpers import esearch, expand, search_nums, simple_message

ZH = "中文".encode()


def gbk_message():
    return (b"From: =?GBK?B?" + base64.b64encode("张三".encode("gbk")) +
            b"?= <zhang@example.cn>\r\n"
            b"To: li@example.cn\r\n"
            b"Subject: =?GB2312?B?" + base64.b64encode("会议通知".encode("gb2312")) + b"?=\r\n"
            b"Date: Mon, 11 Mar 2024 10:00:00 +0800\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=GBK\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n"
            b"\r\n" + "这是一封中文邮件。".encode("gbk") + b"\r\n")


def big5_message():
    body = base64.b64encode("繁體中文測試".encode("big5"))
    return (b"From: chen@example.tw\r\n"
            b"To: lin@example.tw\r\n"
            b"Subject: Big5 test\r\n"
            b"Date: Tue, 12 Mar 2024 10:00:00 +0800\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=b5\r\n"
            b"\r\n"
            b"--b5\r\n"
            b"Content-Type: text/plain; charset=big5\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"\r\n" + body + b"\r\n"
            b"--b5--\r\n")


@pytest.fixture
def box(imap_env):
    """INBOX with five messages (UIDs 1..5), flags as below."""
    c = imap_env.connect()
    msgs = [
        simple_message("Lunch plans", "Shall we meet at noon?", frm="Alice <alice@example.com>",
                       to="bob@example.com", date="Sun, 10 Mar 2024 09:00:00 +0000",
                       extra=b"X-Custom: Hello World\r\n"),
        gbk_message(),
        big5_message(),
        simple_message("Grüße", "x" * 5000,
                       frm="dave@example.org", date="Wed, 13 Mar 2024 10:00:00 +0000"),
        simple_message("plain", "München liegt in Bayern", frm="eve@example.org",
                       to="bob@example.com", date="Thu, 14 Mar 2024 10:00:00 +0000",
                       extra=b"Cc: wang@example.cn\r\nContent-Type: text/plain; charset=utf-8\r\n"),
    ]
    for m in msgs:
        c.append("INBOX", m)
    c.ok("SELECT INBOX")
    c.ok("STORE 1 +FLAGS (\\Seen \\Answered)")
    c.ok("STORE 2 +FLAGS (\\Flagged $Work)")
    c.ok("STORE 3 +FLAGS (\\Deleted \\Seen $Work $Junk)")
    c.ok("STORE 4 +FLAGS (\\Draft)")
    yield c
    c.close()


def search(c, crit):
    u, st, tx = c.cmd("SEARCH " + crit)
    assert st == "OK", (crit, st, tx)
    return search_nums(u)


def search_lit(c, prefix, text, suffix=""):
    """A SEARCH whose last string is sent as a literal (UTF-8 bytes)."""
    u, st, tx = c.literal_cmd(("SEARCH " + prefix).rstrip().encode(), text, suffix.encode())
    assert st == "OK", (prefix, st, tx)
    return search_nums(u)


@pytest.mark.parametrize("crit,expect", [
    ("ALL", [1, 2, 3, 4, 5]),
    ("SEEN", [1, 3]),
    ("UNSEEN", [2, 4, 5]),
    ("ANSWERED", [1]),
    ("UNANSWERED", [2, 3, 4, 5]),
    ("FLAGGED", [2]),
    ("UNFLAGGED", [1, 3, 4, 5]),
    ("DELETED", [3]),
    ("UNDELETED", [1, 2, 4, 5]),
    ("DRAFT", [4]),
    ("UNDRAFT", [1, 2, 3, 5]),
    ("KEYWORD $Work", [2, 3]),
    ("KEYWORD $work", [2, 3]),
    ("UNKEYWORD $Junk", [1, 2, 4, 5]),
    ("2:4", [2, 3, 4]),
    ("*", [5]),
    ("UID 1,3:4", [1, 3, 4]),
    ("UID 4:*", [4, 5]),
    ("LARGER 1000", [4]),
    ("FROM alice", [1]),
    ("FROM ALICE@EXAMPLE.COM", [1]),
    ("TO bob@example.com", [1, 5]),
    ("CC wang", [5]),
    ("BCC wang", []),
    ("SUBJECT lunch", [1]),
    ("SUBJECT \"big5 TEST\"", [3]),
    ("HEADER X-Custom world", [1]),
    ("HEADER X-Custom \"\"", [1]),
    ("BODY noon", [1]),
    ("TEXT noon", [1]),
    ("TEXT \"Lunch plans\"", [1]),
    ("BODY \"Lunch plans\"", []),
    ("SENTON 11-Mar-2024", [2]),
    ("SENTBEFORE 12-Mar-2024", [1, 2]),
    ("SENTSINCE 13-Mar-2024", [4, 5]),
    ("NOT SEEN", [2, 4, 5]),
    ("OR DRAFT DELETED", [3, 4]),
    ("(SEEN UNDELETED)", [1]),
    ("OR (SEEN DELETED) FLAGGED", [2, 3]),
    ("SEEN NOT KEYWORD $Junk", [1]),
    ("NEW", []),
    ("OLD", [1, 2, 3, 4, 5]),
    ("RECENT", []),
])
def test_keys(box, crit, expect):
    assert search(box, crit) == expect


def test_sizes(box):
    sizes = {n: int(d["RFC822.SIZE"]) for n, d in box.fetch("FETCH 1:* RFC822.SIZE").items()}
    for limit in sorted(sizes.values()):
        assert search(box, "SMALLER %d" % limit) == [n for n in sorted(sizes)
                                                     if sizes[n] < limit]
        assert search(box, "LARGER %d" % limit) == [n for n in sorted(sizes) if sizes[n] > limit]


def test_internal_date_keys(box):
    # Appended just now: internal dates are today.
    assert search(box, "SINCE 1-Jan-2000") == [1, 2, 3, 4, 5]
    assert search(box, "BEFORE 1-Jan-2000") == []
    assert search(box, "ON 1-Jan-2000") == []
    assert search(box, "YOUNGER 3600") == [1, 2, 3, 4, 5]
    assert search(box, "OLDER 3600") == []


def test_uid_search_returns_uids(box):
    box.ok("EXPUNGE")   # message 3 (\Deleted) goes: MSNs and UIDs now differ
    u, st, tx = box.cmd("UID SEARCH ALL")
    assert search_nums(u) == [1, 2, 4, 5]
    assert search(box, "ALL") == [1, 2, 3, 4]
    u, st, tx = box.cmd("UID SEARCH DRAFT")
    assert search_nums(u) == [4]


def test_chinese_utf8_finds_gbk_and_big5(box):
    assert search_lit(box, "CHARSET UTF-8 BODY ", ZH) == [2, 3]
    assert search_lit(box, "CHARSET UTF-8 TEXT ", "测试".encode()) == []
    assert search_lit(box, "CHARSET UTF-8 TEXT ", "測試".encode()) == [3]
    assert search_lit(box, "CHARSET UTF-8 SUBJECT ", "会议".encode()) == [2]
    assert search_lit(box, "CHARSET UTF-8 FROM ", "张三".encode()) == [2]
    # Without CHARSET (IMAP4rev1 clients do this) UTF-8 still works.
    assert search_lit(box, "BODY ", ZH) == [2, 3]


def test_case_insensitive_non_ascii(box):
    assert search_lit(box, "CHARSET UTF-8 BODY ", "MÜNCHEN".encode()) == [5]
    assert search_lit(box, "CHARSET UTF-8 SUBJECT ", "grüsse".encode()) == []
    assert search_lit(box, "CHARSET UTF-8 SUBJECT ", "GRÜ".encode()) == [4]


def test_charset_rules(box):
    assert search(box, "CHARSET US-ASCII SEEN") == [1, 3]
    assert search(box, "CHARSET utf-8 SEEN") == [1, 3]
    u, st, tx = box.cmd("SEARCH CHARSET KOI8-R SEEN")
    assert st == "NO" and tx.startswith("[BADCHARSET (UTF-8 US-ASCII)]"), tx


def test_esearch_return(box):
    u, st, tx = box.cmd("SEARCH RETURN (MIN MAX COUNT ALL) UNDELETED")
    assert st == "OK"
    assert u[0].startswith(b'* ESEARCH (TAG "')
    d = esearch(u)
    assert d["MIN"] == "1" and d["MAX"] == "5" and d["COUNT"] == "4"
    assert expand(d["ALL"]) == [1, 2, 4, 5]
    u, st, tx = box.cmd("UID SEARCH RETURN (COUNT) SEEN")
    d = esearch(u)
    assert d.get("UID") and d["COUNT"] == "2"
    # Nothing matched: COUNT 0, no MIN/MAX/ALL (RFC 4731 3.1).
    u, st, tx = box.cmd("SEARCH RETURN (MIN MAX ALL COUNT) KEYWORD $None")
    d = esearch(u)
    assert d == {"COUNT": "0"}
    # RETURN () is RETURN (ALL).
    u, st, tx = box.cmd("SEARCH RETURN () SEEN")
    assert expand(esearch(u)["ALL"]) == [1, 3]


def test_esearch_tag_is_the_commands(box):
    u, st, tx = box.cmd("SEARCH RETURN (COUNT) ALL", tag="xyz7")
    assert u[0] == b'* ESEARCH (TAG "xyz7") COUNT 5'


def test_searchres_save_and_use(box):
    u, st, tx = box.cmd("SEARCH RETURN (SAVE) KEYWORD $Work")
    assert st == "OK"
    # SAVE alone: no ESEARCH response (RFC 5182 2.1).
    assert not any(r.startswith(b"* ESEARCH") for r in u), u
    r = box.fetch("FETCH $ (UID)")
    assert sorted(r) == [2, 3]
    assert search(box, "$ SEEN") == [3]
    u, st, tx = box.cmd("UID SEARCH UID $")
    assert search_nums(u) == [2, 3]
    box.ok("STORE $ +FLAGS (\\Answered)")
    assert search(box, "ANSWERED") == [1, 2, 3]
    # SAVE with MIN only saves only the minimum.
    box.ok("SEARCH RETURN (SAVE MIN) UNDELETED")
    assert search(box, "$") == [1]
    # A failed SEARCH ... SAVE empties $.
    u, st, tx = box.cmd("SEARCH RETURN (SAVE) NOSUCHKEY")
    assert st == "BAD"
    assert search(box, "$") == []


def test_modseq(box):
    u, tx = box.ok("FETCH 1:* (MODSEQ)")
    u, st, tx = box.cmd("SEARCH MODSEQ 1")
    assert st == "OK"
    line = [r for r in u if r.startswith(b"* SEARCH")][0]
    assert line.endswith(b")") and b"(MODSEQ " in line
    before = int(line.rsplit(b"(MODSEQ ", 1)[1][:-1])
    box.ok("STORE 5 +FLAGS (\\Flagged)")
    assert search(box, "MODSEQ %d" % (before + 1)) == [5]
    u, st, tx = box.cmd("SEARCH RETURN (COUNT) MODSEQ %d" % (before + 1))
    d = esearch(u)
    assert d["COUNT"] == "1" and int(d["MODSEQ"]) > before


@pytest.mark.parametrize("crit,why", [
    ("", "Missing search"),
    ("FOO", "Unknown search key"),
    ("BEFORE 32-Jan-2024", "date"),
    ("BEFORE yesterday", "date"),
    ("LARGER x", "LARGER"),
    ("UID x", None),
    ("0", None),
    ("NOT", "Missing search key"),
    ("OR SEEN", "Missing search key"),
    ("HEADER Subject", "HEADER"),
    ("RETURN (BOGUS) ALL", "RETURN"),
    ("OLDER 0", "OLDER"),
    ("(SEEN", None),
])
def test_bad_syntax(box, crit, why):
    u, st, tx = box.cmd(("SEARCH " + crit).rstrip())
    assert st == "BAD", (crit, st, tx)
    if why:
        assert why.lower() in tx.lower(), (crit, tx)


def test_big_mailbox_body_search_runs_async(imap_env):
    """A body search over many messages (run on the thread pool) answers
    correctly, and the connection keeps its order afterwards."""
    c = imap_env.connect()
    c.ok("CREATE Many")
    for i in range(60):
        c.append("Many", simple_message("m%d" % i, "needle%d haystack" % (i % 7)))
    c.ok("SELECT Many")
    c.send(b"s1 SEARCH BODY needle3\r\ns2 SEARCH SUBJECT m59\r\n")
    u1, st1, _ = c.wait("s1")
    u2, st2, _ = c.wait("s2")
    assert st1 == st2 == "OK"
    assert search_nums(u1) == [i + 1 for i in range(60) if i % 7 == 3]
    assert search_nums(u2) == [60]
    c.close()


def test_imap4rev2_answers_with_esearch(box):
    """RFC 9051 6.4.4: an IMAP4rev2 client always gets ESEARCH."""
    box.ok("ENABLE IMAP4rev2")
    box.ok("SELECT INBOX")
    u, st, tx = box.cmd("SEARCH SEEN", tag="r2")
    assert u == [b'* ESEARCH (TAG "r2") ALL 1,3'], u
    u, st, tx = box.cmd("UID SEARCH KEYWORD $None", tag="r3")
    assert u == [b'* ESEARCH (TAG "r3") UID'], u
