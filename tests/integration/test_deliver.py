"""`roost deliver` (local delivery agent): sysexits codes, the added header
fields, folders, and that IDLE sessions of a running roostd see the new
message."""
import imaplib
import re
import select
import socket
import time

import pytest

USER = "lda@example.test"
PASS = "secret-pw"
MSG = b"From: a@example.org\nSubject: via deliver\n\nHello\n.dot line\n"


@pytest.fixture
def d(roostd):
    daemon = roostd()
    daemon.add_user(USER, PASS)
    return daemon


def fetch_all(d, mailbox="INBOX"):
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    m.login(USER, PASS)
    assert m.select('"%s"' % mailbox, readonly=True)[0] == "OK"
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
    m.logout()
    return [item[1] for item in data if isinstance(item, tuple)]


def test_deliver_adds_headers_and_normalises_line_ends(d):
    p = d.cli("deliver", "-u", USER, "-f", "sender@example.org", input=MSG)
    assert p.returncode == 0
    stored = fetch_all(d)
    assert stored == [b"Return-Path: <sender@example.org>\r\nDelivered-To: <%s>\r\n" % USER.encode()
                      + MSG.replace(b"\n", b"\r\n")]


def test_deliver_mbox_from_line_gives_the_sender(d):
    d.cli("deliver", "-u", USER, input=b"From bounce@example.org Thu Nov 26 13:40:43 2026\n" + MSG)
    stored = fetch_all(d)[0]
    assert stored.startswith(b"Return-Path: <bounce@example.org>\r\nDelivered-To: <")
    assert b"From bounce@" not in stored


def test_deliver_exit_codes(d):
    assert d.cli("deliver", input=MSG, check=False).returncode == 64
    assert d.cli("deliver", "-u", USER, "-x", input=MSG, check=False).returncode == 64
    p = d.cli("deliver", "-u", "nobody@example.test", input=MSG, check=False)
    assert p.returncode == 67 and b"no such user" in p.stderr
    assert d.cli("deliver", "-u", USER, input=b"", check=False).returncode == 65
    assert d.cli("deliver", "-u", USER, input=b"Subject: x\n\na\x00b\n",
                 check=False).returncode == 65
    d.cli("deliver", "-u", USER, input=MSG)
    d.cli("user", "set", USER, "quota=10")
    p = d.cli("deliver", "-u", USER, input=MSG, check=False)
    assert p.returncode == 73 and b"over quota" in p.stderr
    d.cli("user", "set", USER, "quota=unlimited", "state=disabled")
    assert d.cli("deliver", "-u", USER, input=MSG, check=False).returncode == 69
    d.cli("user", "set", USER, "state=active")
    assert len(fetch_all(d)) == 1


def test_deliver_folder_option_and_plus_address(d):
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    m.login(USER, PASS)
    m.create("Work")
    m.logout()
    d.cli("deliver", "-u", USER, "-m", "Work", input=MSG)
    d.cli("deliver", "-d", "lda+Work@example.test", input=MSG)  # dovecot-lda's -d
    d.cli("deliver", "-u", USER, "-m", "Missing", input=MSG)
    assert len(fetch_all(d, "Work")) == 2
    assert len(fetch_all(d)) == 1


def test_idle_session_sees_the_delivery(d):
    s = socket.create_connection(("127.0.0.1", d.ports["imap"]), timeout=10)
    f = s.makefile("rb")

    def send(line):
        s.sendall(line.encode() + b"\r\n")

    def until(prefix):
        while True:
            line = f.readline()
            assert line, "connection closed"
            if line.startswith(prefix):
                return line

    until(b"* OK")
    send("a LOGIN %s %s" % (USER, PASS))
    until(b"a OK")
    send("b SELECT INBOX")
    until(b"b OK")
    send("c IDLE")
    until(b"+ ")
    start = time.time()
    d.cli("deliver", "-u", USER, input=MSG)
    r, _, _ = select.select([s], [], [], 5)
    assert r, "no untagged response within 5 s of the delivery"
    line = until(b"* ")
    assert re.match(rb"\* 1 EXISTS", line), line
    assert time.time() - start < 5
    send("DONE")
    until(b"c OK")
    s.close()
