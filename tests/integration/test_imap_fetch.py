"""FETCH against a real roostd: every data item and section form on a nested
multipart message, compared byte for byte with slices of the original;
partials; BINARY and BINARY.SIZE; implicit \\Seen; UID FETCH; CONDSTORE
MODSEQ and CHANGEDSINCE; a body larger than the output buffer; bad
sequence sets and bad syntax (BAD with a reason)."""
import base64
import re

import pytest

from test_imap_fetch_helpers import imap_env  # noqa: F401  (fixture)
from test_imap_fetch_helpers import (HEADER, IN1, IN1_MIME, IN2, IN2_MIME, INNER_BODY,
                                     INNER_HEADER, NESTED, P1, P1_DECODED, P1_MIME, P2,
                                     P2_DATA, P2_MIME, P3, P3_MIME, P4, P41, P41_MIME, TEXT,
                                     parse_fetch, simple_message)


@pytest.fixture
def box(imap_env):
    """A session with INBOX selected holding [NESTED, simple, simple]."""
    c = imap_env.connect()
    c.append("INBOX", NESTED)
    c.append("INBOX", simple_message("second", "two"))
    c.append("INBOX", simple_message("third", "three"))
    c.ok("SELECT INBOX")
    yield c
    c.close()


SECTIONS = [
    ("BODY[]", NESTED),
    ("BODY[HEADER]", HEADER),
    ("BODY[TEXT]", TEXT),
    ("BODY[1]", P1),
    ("BODY[1.MIME]", P1_MIME),
    ("BODY[2]", P2),
    ("BODY[2.MIME]", P2_MIME),
    ("BODY[3]", P3),
    ("BODY[3.MIME]", P3_MIME),
    ("BODY[3.HEADER]", INNER_HEADER),
    ("BODY[3.TEXT]", INNER_BODY),
    ("BODY[3.1]", IN1),
    ("BODY[3.1.MIME]", IN1_MIME),
    ("BODY[3.2]", IN2),
    ("BODY[3.2.MIME]", IN2_MIME),
    ("BODY[4]", P4),
    ("BODY[4.1]", P41),
    ("BODY[4.1.MIME]", P41_MIME),
]


@pytest.mark.parametrize("section,expect", SECTIONS, ids=[s for s, _ in SECTIONS])
def test_sections_byte_exact(box, section, expect):
    peek = section.replace("BODY[", "BODY.PEEK[", 1)
    r = box.fetch("FETCH 1 (%s)" % peek)
    assert r[1][section] == expect


def test_all_sections_in_one_fetch(box):
    items = " ".join(s.replace("BODY[", "BODY.PEEK[", 1) for s, _ in SECTIONS)
    r = box.fetch("FETCH 1 (%s)" % items)[1]
    for s, expect in SECTIONS:
        assert r[s] == expect, s


def test_header_fields(box):
    r = box.fetch("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT to)])")[1]
    assert r["BODY[HEADER.FIELDS (SUBJECT TO)]"] == (
        b"To: Bob <bob@example.com>\r\n"
        b"Subject: Nested test\r\n folded subject line\r\n\r\n")
    r = box.fetch("FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (From To Cc Subject Date Message-ID"
                  " MIME-Version)])")[1]
    assert r["BODY[HEADER.FIELDS.NOT (FROM TO CC SUBJECT DATE MESSAGE-ID MIME-VERSION)]"] == (
        b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n")
    r = box.fetch("FETCH 1 (BODY.PEEK[3.HEADER.FIELDS (subject)])")[1]
    assert r["BODY[3.HEADER.FIELDS (SUBJECT)]"] == b"Subject: Inner message\r\n\r\n"
    # A field nobody has: just the blank line.
    r = box.fetch("FETCH 1 (BODY.PEEK[HEADER.FIELDS (X-NONE)])")[1]
    assert r["BODY[HEADER.FIELDS (X-NONE)]"] == b"\r\n"


def test_header_fields_response_name_exact(box):
    u, tx = box.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert u[0].startswith(b"* 1 FETCH (BODY[HEADER.FIELDS (Subject)] {")


def test_header_fields_quoted_and_literal_names(imap_env):
    """RFC 9051 9: header-fld-name = astring, so a field name may be quoted
    or a literal (synchronizing or not). The response names the item with
    the field names as astrings, in the case the client wrote them."""
    c = imap_env.connect()
    msg = (b"From: a@example.com\r\nX-A: first\r\nSubject: quoted names\r\n"
           b"X-B: second\r\n\r\nbody\r\n")
    c.append("INBOX", msg)
    c.ok("SELECT INBOX")
    want = b"X-A: first\r\nSubject: quoted names\r\n\r\n"
    u, _ = c.ok('FETCH 1 (BODY.PEEK[HEADER.FIELDS ("X-A" Subject)])')
    assert u == [b"* 1 FETCH (BODY[HEADER.FIELDS (X-A Subject)] {%d}\r\n%s)"
                 % (len(want), want)]
    # A synchronizing literal: "+" after its size, then the rest.
    c.n += 1
    tag = "t%d" % c.n
    c.send(tag.encode() + b" FETCH 1 (BODY.PEEK[HEADER.FIELDS ({3}\r\n")
    assert c.read_line().startswith(b"+")
    c.send(b"X-A Subject)])\r\n")
    u, st, tx = c.wait(tag)
    assert st == "OK", tx
    assert u == [b"* 1 FETCH (BODY[HEADER.FIELDS (X-A Subject)] {%d}\r\n%s)"
                 % (len(want), want)]
    # LITERAL+ and a quoted name that needs quoting in the answer too.
    want = b"X-B: second\r\n\r\n"
    u, st, tx = c.cmd(b'FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT ({4+}\r\nx-a1 "X-A" FROM'
                      b' "Subject")]')
    assert st == "OK", tx
    assert u == [b"* 1 FETCH (BODY[HEADER.FIELDS.NOT (x-a1 X-A FROM Subject)] {%d}\r\n%s)"
                 % (len(want), want)]
    # Not a field name: a quoted string may not hold a colon, a literal
    # not a line break; the connection goes on.
    u, st, tx = c.cmd('FETCH 1 BODY.PEEK[HEADER.FIELDS ("X-A:")]')
    assert st == "BAD", tx
    u, st, tx = c.cmd(b"FETCH 1 BODY.PEEK[HEADER.FIELDS ({4+}\r\nX\r\nA)]")
    assert st == "BAD" and "section literal" in tx, tx
    c.ok("NOOP")
    c.close()


def test_partials(box):
    r = box.fetch("FETCH 1 (BODY.PEEK[]<0.10> BODY.PEEK[TEXT]<5.7> BODY.PEEK[3.1]<6.1000>)")[1]
    assert r["BODY[]<0>"] == NESTED[:10]
    assert r["BODY[TEXT]<5>"] == TEXT[5:12]
    assert r["BODY[3.1]<6>"] == IN1[6:]
    # Beyond the end: an empty string, still named with its origin.
    r = box.fetch("FETCH 1 (BODY.PEEK[1]<100000.5>)")[1]
    assert r["BODY[1]<100000>"] == b""
    # RFC 9051 6.4.5: BODY[]<0.2048> of a smaller message is BODY[]<0>.
    r = box.fetch("FETCH 2 (BODY.PEEK[]<0.1000000>)")[2]
    assert r["BODY[]<0>"] == simple_message("second", "two")
    # Partial of a header subset is taken after subsetting.
    r = box.fetch("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)]<2.5>)")[1]
    assert r["BODY[HEADER.FIELDS (SUBJECT)]<2>"] == b"bject"


def test_rfc822_items(box):
    r = box.fetch("FETCH 2 (RFC822.HEADER RFC822.SIZE)")[2]
    msg = simple_message("second", "two")
    hdr = msg[:msg.index(b"\r\n\r\n") + 4]
    assert r["RFC822.HEADER"] == hdr
    assert int(r["RFC822.SIZE"]) == len(msg)
    # RFC822.HEADER is a peek.
    assert "\\Seen" not in box.fetch("FETCH 2 FLAGS")[2]["FLAGS"]
    r = box.fetch("FETCH 2 (RFC822.TEXT)")[2]
    assert r["RFC822.TEXT"] == msg[len(hdr):]
    assert "\\Seen" in r["FLAGS"]
    r = box.fetch("FETCH 3 RFC822")[3]
    assert r["RFC822"] == simple_message("third", "three")


def test_binary(box):
    r = box.fetch("FETCH 1 (BINARY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[1] BINARY.SIZE[2]"
                  " BINARY.PEEK[3.1] BINARY.PEEK[4.1])")[1]
    assert r["BINARY[1]"] == P1_DECODED
    assert r["BINARY[2]"] == P2_DATA
    assert int(r["BINARY.SIZE[1]"]) == len(P1_DECODED)
    assert int(r["BINARY.SIZE[2]"]) == len(P2_DATA)
    assert r["BINARY[3.1]"] == IN1
    assert r["BINARY[4.1]"] == base64.b64decode(P41)
    r = box.fetch("FETCH 1 (BINARY.PEEK[2]<250.10>)")[1]
    assert r["BINARY[2]<250>"] == P2_DATA[250:260]


def test_binary_literal8_for_nul(box):
    u, _ = box.ok("FETCH 1 (BINARY.PEEK[2])")
    assert b"BINARY[2] ~{%d}\r\n" % len(P2_DATA) in u[0]
    u, _ = box.ok("FETCH 1 (BINARY.PEEK[1])")
    assert b"BINARY[1] {%d}\r\n" % len(P1_DECODED) in u[0]


def test_binary_unknown_cte_and_non_leaf(box):
    u, st, tx = box.cmd("FETCH 1 (BINARY.PEEK[4.2])")
    assert st == "NO" and tx.startswith("[UNKNOWN-CTE]"), (st, tx)
    u, st, tx = box.cmd("FETCH 1 (BINARY.PEEK[3])")
    assert st == "NO", (st, tx)
    # BODY[] of the same part is fine.
    assert box.fetch("FETCH 1 (BODY.PEEK[4.2])")[1]["BODY[4.2]"] == b"???"


def test_nonexistent_parts_are_nil(box):
    r = box.fetch("FETCH 1 (BODY.PEEK[9] BODY.PEEK[1.HEADER] BODY.PEEK[3.9])")[1]
    assert r["BODY[9]"] is None
    assert r["BODY[1.HEADER]"] is None
    assert r["BODY[3.9]"] is None
    # A non-multipart message has exactly part 1, its body.
    r = box.fetch("FETCH 2 (BODY.PEEK[1] BODY.PEEK[2])")[2]
    assert r["BODY[1]"] == b"two\r\n"
    assert r["BODY[2]"] is None


def test_static_items(box):
    r = box.fetch("FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE)")[1]
    assert int(r["RFC822.SIZE"]) == len(NESTED)
    assert re.match(rb"^[ \d]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}$", r["INTERNALDATE"])
    env = r["ENVELOPE"]
    assert env[0] == b"Sun, 10 Mar 2024 09:00:00 +0000"
    assert env[1] == b"Nested test folded subject line"
    assert env[2][0][2:] == [b"alice", b"example.com"]
    assert env[9] == b"<nested@example.com>"
    bs = r["BODYSTRUCTURE"]
    # (part1 part2 message/rfc822 multipart/related) "mixed" ...
    assert [p[0].upper() if isinstance(p[0], bytes) else b"MULTI" for p in bs[:4]] == [
        b"TEXT", b"APPLICATION", b"MESSAGE", b"MULTI"]
    assert bs[4].upper() == b"MIXED"
    assert r["BODY"][4].upper() == b"MIXED"


def test_macros(box):
    r = box.fetch("FETCH 2 ALL")[2]
    assert set(r) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"}
    r = box.fetch("FETCH 2 FAST")[2]
    assert set(r) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE"}
    r = box.fetch("FETCH 2 FULL")[2]
    assert set(r) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"}


def test_implicit_seen(box):
    r = box.fetch("FETCH 1 (BODY[1])")[1]
    # The FLAGS changed by the fetch are reported with it.
    assert "\\Seen" in r["FLAGS"]
    assert "\\Seen" in box.fetch("FETCH 1 FLAGS")[1]["FLAGS"]
    box.fetch("FETCH 2 (BINARY[1])")
    assert "\\Seen" in box.fetch("FETCH 2 FLAGS")[2]["FLAGS"]
    box.fetch("FETCH 3 (BODY.PEEK[] BINARY.PEEK[1])")
    assert "\\Seen" not in box.fetch("FETCH 3 FLAGS")[3]["FLAGS"]


def test_examine_never_sets_seen(box):
    box.ok("EXAMINE INBOX")
    box.fetch("FETCH 1:* (BODY[])")
    assert all("\\Seen" not in d["FLAGS"] for d in box.fetch("FETCH 1:* FLAGS").values())


def test_uid_fetch(box):
    uids = {n: int(d["UID"]) for n, d in box.fetch("FETCH 1:* UID").items()}
    r = box.fetch("UID FETCH %d:* FLAGS" % uids[2])
    assert set(r) == {2, 3}
    # UID is always in UID FETCH responses.
    assert int(r[2]["UID"]) == uids[2]
    # Non-existent UIDs are ignored, no error.
    assert box.fetch("UID FETCH 999999 FLAGS") == {}
    # n:* with n above the last UID still names the last message.
    r = box.fetch("UID FETCH 999999:* FLAGS")
    assert set(r) == {3}


def test_sequence_set_forms(box):
    assert set(box.fetch("FETCH *:2 UID")) == {2, 3}
    assert set(box.fetch("FETCH 3,1,1 UID")) == {1, 3}
    assert set(box.fetch("FETCH 1:* UID")) == {1, 2, 3}


@pytest.mark.parametrize("cmd,why", [
    ("FETCH 4 FLAGS", "out of range"),
    ("FETCH 0 FLAGS", "Invalid sequence set"),
    ("FETCH 1:x FLAGS", "Invalid sequence set"),
    ("FETCH 1 (FLAGS", None),
    ("FETCH 1 NOSUCH", "Unknown FETCH item"),
    ("FETCH 1 BODY[1.0]", None),
    ("FETCH 1 BODY[MIME]", "MIME needs a part number"),
    ("FETCH 1 BODY[]<1>", "partial"),
    ("FETCH 1 (ALL)", "Unknown FETCH item"),
    ("FETCH 1 FLAGS (VANISHED)", "VANISHED"),
    ("FETCH 1", None),
])
def test_bad_syntax(box, cmd, why):
    u, st, tx = box.cmd(cmd)
    assert st == "BAD", (cmd, st, tx)
    if why:
        assert why.lower() in tx.lower(), (cmd, tx)


def test_empty_mailbox_star_is_bad(imap_env):
    c = imap_env.connect()
    c.ok("CREATE Empty")
    c.ok("SELECT Empty")
    u, st, tx = c.cmd("FETCH 1:* FLAGS")
    assert st == "BAD", tx
    # UID FETCH on an empty mailbox is fine: nothing matches.
    assert c.fetch("UID FETCH 1:* FLAGS") == {}
    c.close()


def test_condstore_modseq(box):
    r = box.fetch("FETCH 1:* (MODSEQ)")
    ms = {n: int(d["MODSEQ"][0]) for n, d in r.items()}
    assert all(v > 0 for v in ms.values())
    box.ok("STORE 2 +FLAGS (\\Flagged)")
    r = box.fetch("FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d)" % max(ms[1], ms[3]))
    assert set(r) == {2}
    assert int(r[2]["MODSEQ"][0]) > ms[2]
    assert "\\Flagged" in r[2]["FLAGS"]


def test_big_body_streams_exactly(imap_env):
    """A body much larger than the connection's output buffer arrives
    complete and exact (streamed in chunks, resumed on drain)."""
    c = imap_env.connect()
    c.ok("CREATE Big")
    line = b"".join(b"%07d abcdefghijklmnopqrstuvwxyz0123456789\r\n" % i for i in range(100000))
    msg = simple_message("big", "x") + line
    c.append("Big", msg)
    c.ok("SELECT Big")
    r = c.fetch("FETCH 1 (BODY.PEEK[] BODY.PEEK[TEXT]<1000.2000000>)")[1]
    assert r["BODY[]"] == msg
    text = msg[msg.index(b"\r\n\r\n") + 4:]
    assert r["BODY[TEXT]<1000>"] == text[1000:1000 + 2000000]
    # The connection is still in step afterwards.
    c.ok("NOOP")
    c.close()


def test_pipelined_fetches_keep_order(box):
    box.send(b"p1 FETCH 1 BODY.PEEK[]\r\np2 FETCH 2 BODY.PEEK[]\r\np3 NOOP\r\n")
    u1, st1, _ = box.wait("p1")
    u2, st2, _ = box.wait("p2")
    u3, st3, _ = box.wait("p3")
    assert (st1, st2, st3) == ("OK", "OK", "OK")
    assert parse_fetch(u1[0])[1]["BODY[]"] == NESTED
    assert parse_fetch(u2[0])[1]["BODY[]"] == simple_message("second", "two")


def test_client_vanishes_mid_stream(imap_env):
    """A client that closes while a large body (or a body search on the
    thread pool) is in progress: the server frees the command (file
    descriptors, buffers; checked under ASan at teardown) and serves on."""
    c = imap_env.connect()
    c.ok("CREATE Big")
    big = simple_message("big", "y") + b"z" * (8 * 1024 * 1024) + b"\r\n"
    c.append("Big", big)
    c.ok("SELECT Big")
    c.send(b"f1 FETCH 1 BODY.PEEK[]\r\n")
    c.close()
    c = imap_env.connect()
    c.ok("SELECT Big")
    c.send(b"s1 SEARCH BODY needle\r\n")
    c.close()
    c = imap_env.connect()
    c.ok("SELECT Big")
    r = c.fetch("FETCH 1 (RFC822.SIZE BODY.PEEK[]<0.20>)")[1]
    assert int(r["RFC822.SIZE"]) == len(big)
    assert r["BODY[]<0>"] == big[:20]
    c.close()


def test_many_messages_fetched_in_turns(imap_env):
    """FETCH 1:* of structure items over more messages than one event-loop
    turn answers: every message once, in order, then the next command."""
    c = imap_env.connect()
    c.ok("CREATE Many")
    for i in range(150):
        c.append("Many", simple_message("m%03d" % i, "b%d" % i))
    c.ok("SELECT Many")
    c.send(b"f1 FETCH 1:* (UID ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\nf2 NOOP\r\n")
    u, st, tx = c.wait("f1")
    assert st == "OK", tx
    got = [parse_fetch(r) for r in u]
    assert [n for n, _ in got] == list(range(1, 151))
    assert [d["ENVELOPE"][1] for _, d in got] == [b"m%03d" % i for i in range(150)]
    assert c.wait("f2")[1] == "OK"
    c.close()


def test_nul_octets_from_a_literal8_append(imap_env):
    """A message APPENDed as literal8 with NUL octets (RFC 3516): BODY[]
    literals cannot carry NUL (RFC 9051 4.3), so NULs come as 0x80 with
    the length unchanged; BINARY[] sends the stored octets as literal8."""
    c = imap_env.connect()
    msg = (b"Subject: nul\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: binary\r\n\r\nab\x00cd\x00\r\n")
    c.n += 1
    tag = "t%d" % c.n
    c.send(tag.encode() + b" APPEND INBOX ~{%d}\r\n" % len(msg))
    assert c.read_line().startswith(b"+")
    c.send(msg + b"\r\n")
    u, st, tx = c.wait(tag)
    assert st == "OK", tx
    c.ok("SELECT INBOX")
    u, _ = c.ok("FETCH 1 (BODY.PEEK[] BINARY.PEEK[] BINARY.PEEK[1])")
    _, d = parse_fetch(u[0])
    assert d["BODY[]"] == msg.replace(b"\x00", b"\x80")
    assert d["BINARY[]"] == msg
    assert d["BINARY[1]"] == b"ab\x00cd\x00\r\n"
    assert b"BINARY[] ~{%d}" % len(msg) in u[0]
    c.close()


def test_big_body_over_tls(imap_env):
    """The streamed body arrives exact over implicit TLS too."""
    c = imap_env.connect(tls=True)
    c.ok("CREATE Big")
    msg = simple_message("big tls", "x") + bytes(range(32, 127)) * 40000 + b"\r\n"
    c.append("Big", msg)
    c.ok("SELECT Big")
    r = c.fetch("FETCH 1 (BODY.PEEK[] BODY.PEEK[]<1000000.10>)")[1]
    assert r["BODY[]"] == msg
    assert r["BODY[]<1000000>"] == msg[1000000:1000010]
    c.close()
