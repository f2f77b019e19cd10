"""APPEND (flags, internal date, APPENDUID, TRYCREATE, TOOBIG, MULTIAPPEND,
literal8) and IDLE (pushes from another session and from an LMTP delivery
within 100 ms, keep-alive), plus curl's imap:// against a real roostd."""
import os
import re
import smtplib
import subprocess
import time

import pytest

from test_imap_core_client import PW, USER, Client, append, core, message, wait_for  # noqa: F401


def test_append_flags_date_appenduid(core):
    c = core.connect()
    msg = message("dated")
    tag = c.tag()
    c.send('%s APPEND INBOX (\\Seen $Work) " 7-Feb-1994 21:52:25 -0800" {%d}\r\n'
           % (tag, len(msg)))
    assert c.line().startswith(b"+ ")
    c.send(msg + b"\r\n")
    u, t = c.read_tagged(tag)
    m = re.search(rb"\[APPENDUID (\d+) 1\] APPEND completed", t)
    assert m, t
    c.ok("SELECT INBOX")
    u, t = c.ok("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
    assert b"FLAGS (\\Seen $Work)" in u[0]
    assert b'INTERNALDATE " 7-Feb-1994 21:52:25 -0800"' in u[0]
    assert (b"RFC822.SIZE %d" % len(msg)) in u[0]
    assert u[0].endswith(msg + b")")


def test_append_lf_only_is_stored_with_crlf(core):
    c = core.connect()
    msg = b"Subject: lf\n\nline one\nline two\n"
    tag = c.tag()
    c.send(b"%s APPEND INBOX {%d+}\r\n%s\r\n" % (tag.encode(), len(msg), msg))
    u, t = c.read_tagged(tag)
    assert b"APPENDUID" in t
    c.ok("SELECT INBOX")
    u, t = c.ok("FETCH 1 BODY.PEEK[]")
    assert u[0].endswith(msg.replace(b"\n", b"\r\n") + b")")


def test_append_errors(core):
    c = core.connect()
    tag = c.tag()
    c.send("%s APPEND NoSuchBox {10}\r\n" % tag)
    line = c.line()  # refused before the literal is sent
    assert line == tag.encode() + b" NO [TRYCREATE] No such mailbox", line
    c.send("%s APPEND INBOX (\\Bogus) {5+}\r\nhello\r\n" % c.tag())
    assert b"BAD" in c.line()
    c.send('%s APPEND INBOX "not a date" {5+}\r\nhello\r\n' % c.tag())
    assert b"BAD" in c.line()
    c.send("%s APPEND INBOX {0+}\r\n\r\n" % c.tag())
    assert b" NO " in c.line()
    # NUL needs literal8
    c.send(b"%s APPEND INBOX {5+}\r\na\0b\r\n\r\n" % c.tag().encode())
    line = c.line()
    assert b" NO " in line and b"literal8" in line, line
    c.bad("APPEND INBOX \"just a string\"")
    u, t = c.ok("STATUS INBOX (MESSAGES)")
    assert u == [b"* STATUS INBOX (MESSAGES 0)"]


def test_append_literal8(core):
    c = core.connect()
    msg = b"Subject: bin\r\nContent-Type: application/octet-stream\r\n\r\n\0\1\2\r\n"
    tag = c.tag()
    c.send(b"%s APPEND INBOX ~{%d+}\r\n%s\r\n" % (tag.encode(), len(msg), msg))
    u, t = c.read_tagged(tag)
    assert b"APPENDUID" in t, t


def test_append_toobig(roostd):
    d = roostd(extra="[imap]\nappend_limit = 2048\n")
    d.add_user(USER, PW)
    c = Client(d.ports["imap"])
    c.login()
    u, t = c.ok("CAPABILITY")
    assert b"APPENDLIMIT=2048" in u[0]
    tag = c.tag()
    c.send("%s APPEND INBOX {4000}\r\n" % tag)
    line = c.line()
    assert line.startswith(tag.encode() + b" NO [TOOBIG]"), line
    tag = c.tag()
    c.send("%s APPEND INBOX {4000+}\r\n" % tag + "x" * 4000 + "\r\n")
    line = c.line()
    assert line.startswith(tag.encode() + b" BAD [TOOBIG]"), line
    u, t = c.ok("NOOP")
    assert u == []
    append(c, "INBOX", message("small"))


def test_multiappend(core):
    c = core.connect()
    m1, m2, m3 = message("a"), message("b"), message("c")
    tag = c.tag()
    c.send(b"%s APPEND INBOX (\\Seen) {%d+}\r\n%s {%d+}\r\n%s (\\Flagged) {%d+}\r\n%s\r\n"
           % (tag.encode(), len(m1), m1, len(m2), m2, len(m3), m3))
    u, t = c.read_tagged(tag)
    assert re.search(rb"\[APPENDUID \d+ 1:3\]", t), t
    c.ok("SELECT INBOX")
    u, t = c.ok("FETCH 1:3 FLAGS")
    assert [x.split(b"FLAGS ")[1] for x in u] == [b"(\\Seen))", b"())", b"(\\Flagged))"]


def test_append_to_selected_mailbox_announces_exists(core):
    c = core.connect()
    c.ok("SELECT INBOX")
    tag = c.tag()
    msg = message("self")
    c.send(b"%s APPEND INBOX {%d+}\r\n%s\r\n" % (tag.encode(), len(msg), msg))
    u, t = c.read_tagged(tag)
    assert u == [b"* 1 EXISTS"], u


def test_idle_push_from_other_session(core):
    c = core.connect()
    c.ok("SELECT INBOX")
    c.send("i1 IDLE\r\n")
    assert c.line() == b"+ idling"
    o = core.connect()
    o.ok("SELECT INBOX")
    t0 = time.time()
    append(o, "INBOX", message("pushed"))
    line, _ = wait_for(c, lambda x: x.endswith(b"EXISTS"))
    assert line == b"* 1 EXISTS"
    assert time.time() - t0 < 1.0
    t0 = time.time()
    o.ok("STORE 1 +FLAGS (\\Flagged)")
    line, secs = wait_for(c, lambda x: b"FETCH" in x)
    assert line == b"* 1 FETCH (UID 1 FLAGS (\\Flagged))"
    assert time.time() - t0 < 0.1 + 0.05, time.time() - t0
    o.ok("STORE 1 +FLAGS (\\Deleted)")
    o.ok("EXPUNGE")
    line, _ = wait_for(c, lambda x: x.endswith(b"EXPUNGE"))
    assert line == b"* 1 EXPUNGE"
    c.send("DONE\r\n")
    u, t = c.read_tagged("i1")
    assert t == b"i1 OK IDLE terminated"
    c.ok("NOOP")


def test_idle_push_from_lmtp_delivery(core):
    c = core.connect()
    c.ok("SELECT INBOX")
    c.send("i1 IDLE\r\n")
    assert c.line() == b"+ idling"
    lmtp = smtplib.LMTP(core.d.lmtp_socket)
    t0 = time.time()
    lmtp.sendmail("sender@example.org", [USER], message("via lmtp"))
    t_ack = time.time()
    line, _ = wait_for(c, lambda x: x.endswith(b"EXISTS"))
    pushed = time.time()
    assert line == b"* 1 EXISTS"
    assert pushed - t_ack < 0.1, (pushed - t_ack, t_ack - t0)
    lmtp.quit()
    c.send("DONE\r\n")
    c.read_tagged("i1")


def test_idle_bad_continuation_and_keepalive(roostd):
    d = roostd(extra="[imap]\nidle_keepalive = 10\n")
    d.add_user(USER, PW)
    c = Client(d.ports["imap"])
    c.login()
    c.send("i1 IDLE\r\n")
    assert c.line() == b"+ idling"
    line, secs = wait_for(c, lambda x: True, timeout=15)
    assert line == b"* OK Still here" and secs > 8
    c.send("NOT-DONE\r\n")
    u, t = c.read_tagged("i1")
    assert t.startswith(b"i1 BAD")
    c.ok("NOOP")


def test_curl_list_and_fetch(core):
    curl = "/usr/bin/curl"
    c = core.connect()
    c.ok("CREATE Archive/2024")
    msg = message("for curl", "curl body line")
    append(c, "INBOX", msg)
    url = "imap://127.0.0.1:%d/" % core.port
    base = [curl, "-s", "--user", "%s:%s" % (USER, PW)]
    r = subprocess.run(base + [url], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert b'* LIST (\\HasNoChildren) "/" INBOX' in r.stdout
    assert b'"/" Archive/2024' in r.stdout
    r = subprocess.run(base + [url + "INBOX/;UID=1"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == msg
    r = subprocess.run(base + ["-X", "EXAMINE INBOX", url], capture_output=True, timeout=30)
    assert r.returncode == 0 and b"1 EXISTS" in r.stdout, r


def test_append_overquota(core):
    core.d.cli("user", "set", USER, "quota=1K")
    c = core.connect()
    append(c, "INBOX", message("fits"))
    big = message("big", "x" * 2000)
    tag = c.tag()
    c.send("%s APPEND INBOX {%d}\r\n" % (tag, len(big)))
    assert c.line().startswith(b"+ ")
    c.send(big + b"\r\n")
    u, t = c.read_tagged(tag)
    assert t.startswith(tag.encode() + b" NO [OVERQUOTA]"), t
    u, t = c.ok("STATUS INBOX (MESSAGES)")
    assert u == [b"* STATUS INBOX (MESSAGES 1)"]


def test_idle_push_from_cli_delivery_and_pop3(core):
    """Another process (roost deliver) and a POP3 session change the
    mailbox: the IDLE session hears of both."""
    import poplib
    c = core.connect()
    c.ok("SELECT INBOX")
    c.send("i1 IDLE\r\n")
    assert c.line() == b"+ idling"
    core.d.cli("deliver", "-u", USER, input=message("from the cli"))
    t_done = time.time()
    line, _ = wait_for(c, lambda x: x.endswith(b"EXISTS"))
    assert line == b"* 1 EXISTS"
    assert time.time() - t_done < 0.1 + 0.05
    p = poplib.POP3("127.0.0.1", core.d.ports["pop3"])
    p.user(USER)
    p.pass_(PW)
    p.dele(1)
    p.quit()
    line, _ = wait_for(c, lambda x: x.endswith(b"EXPUNGE") or b"FETCH" in x)
    assert line in (b"* 1 EXPUNGE", b"* 1 FETCH (UID 1 FLAGS (\\Seen))"), line
    c.send("DONE\r\n")
    c.read_tagged("i1")


def test_append_utf8_data_extension(core):
    """RFC 6855 4: APPEND ... UTF8 (~{n}) for messages with UTF-8 headers."""
    c = core.connect()
    c.ok("ENABLE UTF8=ACCEPT")
    msg = "Subject: 你好\r\nFrom: 张三 <z@example.com>\r\n\r\n正文\r\n".encode()
    tag = c.tag()
    c.send(b"%s APPEND INBOX (\\Seen) UTF8 (~{%d+}\r\n%s)\r\n" % (tag.encode(), len(msg), msg))
    u, t = c.read_tagged(tag)
    assert b"[APPENDUID" in t, t
    c.ok("SELECT INBOX")
    u, t = c.ok("FETCH 1 (FLAGS BODY.PEEK[])")
    assert u[0].endswith(msg + b")") and b"\\Seen" in u[0]
    # a plain literal in a list is not a message
    tag = c.tag()
    c.send(b"%s APPEND INBOX UTF8 ({%d+}\r\n%s)\r\n" % (tag.encode(), len(msg), msg))
    line = c.line()
    assert line.startswith(tag.encode() + b" BAD"), line
    c.ok("NOOP")


def test_append_large_message_streamed(core):
    """A 12 MB message: streamed to disk as it arrives (the daemon's memory
    grows by far less than the message), stored byte for byte."""
    c = core.connect()
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/0123456789\r\n"
    msg = b"Subject: big\r\n\r\n" + line * (12 * 1024 * 1024 // len(line))

    def rss_kib():
        with open("/proc/%d/status" % core.d.proc.pid) as f:
            for x in f:
                if x.startswith("VmRSS:"):
                    return int(x.split()[1])

    before = rss_kib()
    v, uid = append(c, "INBOX", msg)
    grown = rss_kib() - before
    c.ok("SELECT INBOX")
    u, t = c.ok("FETCH 1 (RFC822.SIZE)")
    assert u == [b"* 1 FETCH (RFC822.SIZE %d)" % len(msg)]
    u, t = c.ok("FETCH 1 BODY.PEEK[]<6000000.100>")
    assert u[0].endswith(msg[6000000:6000100] + b")")
    import conftest
    with open(os.path.join(conftest.BUILD, "roostd"), "rb") as f:
        if b"__asan_init" not in f.read():
            assert grown < 4 * 1024, grown


def test_append_literal_plus_in_separate_writes_is_not_held_by_delayed_acks(core):
    # APPEND with a non-synchronizing literal sent as command line, literal
    # and final CRLF in three writes: with Nagle on, each small write waits
    # for the ACK of the one before, and an interactive connection's ACKs
    # are delayed up to 40 ms unless the server acknowledges at once.
    c = core.connect()
    msg = message("nagle", "short body\r\n")
    times = []
    for i in range(7):
        tag = "N%d" % i
        t0 = time.monotonic()
        c.sock.send(b"%s APPEND INBOX {%d+}\r\n" % (tag.encode(), len(msg)))
        c.sock.send(msg)
        c.sock.send(b"\r\n")
        line, _ = wait_for(c, lambda s, t=tag: s.startswith(t.encode() + b" "))
        assert line.startswith(tag.encode() + b" OK"), line
        times.append((time.monotonic() - t0) * 1000)
    times.sort()
    assert times[3] < 30, times
