"""LMTP (RFC 2033) against a real roostd: capabilities, per-recipient
replies, pipelining, refusals (unknown user, quota, disabled account, bad
syntax, over-long lines, bad sequence, size limits), the UNIX socket, plus
addressing, and that what was stored reads back byte for byte over IMAP
with the added Return-Path/Delivered-To fields."""
import imaplib
import os
import re
import smtplib
import socket
import time

import pytest

USER = "rcpt@example.test"
USER2 = "other@example.test"
PASS = "secret-pw"


class Lmtp:
    """A raw LMTP client: send bytes, read reply lines."""

    def __init__(self, port=None, path=None):
        if path:
            self.s = socket.socket(socket.AF_UNIX)
            self.s.connect(path)
        else:
            self.s = socket.create_connection(("127.0.0.1", port))
        self.s.settimeout(10)
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed; got %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def reply(self):
        """A whole (possibly multi-line) reply as a list of lines."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return lines

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def close(self):
        self.s.close()


def message(subject, body="Hello.\r\n"):
    return ("From: sender@example.org\r\nTo: %s\r\nSubject: %s\r\n"
            "Message-ID: <%s@example.org>\r\n\r\n%s" % (USER, subject, subject.replace(" ", "."),
                                                          body))


def imap_fetch_all(d, user, mailbox="INBOX"):
    """[(uid, flags, body bytes)] of a mailbox, over IMAP."""
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    m.login(user, PASS)
    typ, _ = m.select('"%s"' % mailbox, readonly=True)
    assert typ == "OK"
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
    m.logout()
    out = []
    for item in data:
        if isinstance(item, tuple):
            uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
            flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode()
            out.append((uid, flags, item[1]))
    return out


@pytest.fixture
def d(roostd):
    daemon = roostd()
    daemon.add_user(USER, PASS)
    daemon.add_user(USER2, PASS)
    return daemon


def test_greeting_and_lhlo_capabilities(d):
    c = Lmtp(d.ports["lmtp"])
    assert c.greeting[0].startswith("220 ")
    r = c.cmd("LHLO mta.example.org")
    assert r[0].startswith("250-")
    caps = [line[4:] for line in r[1:]]
    assert "PIPELINING" in caps
    assert "ENHANCEDSTATUSCODES" in caps
    assert "8BITMIME" in caps
    assert any(re.fullmatch(r"SIZE \d+", cap) for cap in caps)
    assert r[-1].startswith("250 ")
    assert c.cmd("NOOP")[0].startswith("250 2.0.0")
    assert c.cmd("RSET")[0].startswith("250 2.0.0")
    assert c.cmd("VRFY x@y")[0].startswith("252 ")
    assert c.cmd("HELO x")[0].startswith("500 5.5.1")
    assert c.cmd("EHLO x")[0].startswith("500 5.5.1")
    assert c.cmd("XYZZY")[0].startswith("500 5.5.2")
    assert c.cmd("QUIT")[0].startswith("221 2.0.0")
    c.close()


def test_single_recipient_reads_back_byte_for_byte(d):
    msg = message("readback", "Line one\r\n.starts with a dot\r\n..two dots\r\n\r\nend\r\n")
    with smtplib.LMTP("127.0.0.1", d.ports["lmtp"]) as lmtp:
        lmtp.ehlo("mta.example.org")
        code, _ = lmtp.mail("sender@example.org")
        assert code == 250
        code, _ = lmtp.rcpt(USER)
        assert code == 250
        code, text = lmtp.data(msg.encode())
        assert code == 250
        assert re.fullmatch(r"2\.0\.0 <%s> Saved as UID \d+" % re.escape(USER), text.decode())
    stored = imap_fetch_all(d, USER)
    assert len(stored) == 1
    expected = ("Return-Path: <sender@example.org>\r\nDelivered-To: <%s>\r\n" % USER + msg).encode()
    assert stored[0][2] == expected
    uid = int(text.decode().rsplit(" ", 1)[1])
    assert stored[0][0] == uid


def test_multiple_recipients_get_replies_in_rcpt_order(d):
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    assert c.cmd("MAIL FROM:<>")[0].startswith("250 2.1.0")
    assert c.cmd("RCPT TO:<%s>" % USER)[0].startswith("250 2.1.5")
    assert c.cmd("RCPT TO:<nobody@example.test>")[0] == \
        "550 5.1.1 <nobody@example.test>: no such user"
    assert c.cmd("RCPT TO:<%s>" % USER2)[0].startswith("250 2.1.5")
    assert c.cmd("DATA")[0].startswith("354 ")
    c.send(message("two rcpts") + ".\r\n")
    first, second = c.reply(), c.reply()
    assert re.fullmatch(r"250 2\.0\.0 <%s> Saved as UID \d+" % re.escape(USER), first[0])
    assert re.fullmatch(r"250 2\.0\.0 <%s> Saved as UID \d+" % re.escape(USER2), second[0])
    assert c.cmd("QUIT")[0].startswith("221")
    a = imap_fetch_all(d, USER)
    b = imap_fetch_all(d, USER2)
    assert a[0][2].startswith(b"Return-Path: <>\r\nDelivered-To: <%s>\r\n" % USER.encode())
    assert b[0][2].startswith(b"Return-Path: <>\r\nDelivered-To: <%s>\r\n" % USER2.encode())
    assert a[0][2].split(b"\r\n", 2)[2] == b[0][2].split(b"\r\n", 2)[2]


def test_pipelining_everything_in_one_write(d):
    c = Lmtp(d.ports["lmtp"])
    batch = ("LHLO mta\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<%s>\r\n"
             "RCPT TO:<ghost@example.test>\r\nRCPT TO:<%s>\r\nDATA\r\n%s.\r\n"
             "MAIL FROM:<s2@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n%s.\r\nQUIT\r\n"
             % (USER, USER2, message("pipe one"), USER, message("pipe two")))
    c.send(batch)
    replies = [c.reply() for _ in range(13)]
    codes = [r[-1][:3] for r in replies]
    assert codes == ["250", "250", "250", "550", "250", "354", "250", "250",
                     "250", "250", "354", "250", "221"], replies
    assert len(imap_fetch_all(d, USER)) == 2
    assert len(imap_fetch_all(d, USER2)) == 1


def test_pipelining_byte_by_byte(d):
    c = Lmtp(d.ports["lmtp"])
    text = ("LHLO mta\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n%s.\r\nNOOP\r\n"
            % (USER, message("slow", "a\r\n.\r\n".replace(".\r\n", "..\r\n"))))
    for ch in text.encode():
        c.send(bytes([ch]))
    codes = [c.reply()[-1][:3] for _ in range(6)]
    assert codes == ["250", "250", "250", "354", "250", "250"]
    body = imap_fetch_all(d, USER)[0][2]
    assert body.endswith(b"a\r\n.\r\n")


def test_bad_addresses_and_parameters(d):
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    assert c.cmd("MAIL FROM:<no-domain>")[0].startswith("501 5.5.4")
    assert c.cmd("MAIL FROM:sender@example.org")[0].startswith("501 5.5.4")
    assert c.cmd("MAIL FROM:<a@b> FOO=1")[0].startswith("555 5.5.4")
    assert c.cmd("MAIL FROM:<a@b> BODY=BINARYMIME")[0].startswith("501 5.5.4")
    assert c.cmd("MAIL FROM:<a@b> SIZE=abc")[0].startswith("501 5.5.4")
    assert c.cmd("MAIL FROM:<a@b> BODY=8BITMIME SIZE=100")[0].startswith("250")
    assert c.cmd("MAIL FROM:<c@d>")[0].startswith("503 5.5.1")
    assert c.cmd("RCPT TO:<bad@@example.test>")[0].startswith("501 5.5.4")
    assert c.cmd("RCPT TO:<>")[0].startswith("501 5.5.4")
    assert c.cmd("RCPT TO:<%s" % USER)[0].startswith("501 5.5.4")
    assert c.cmd("RCPT TO <%s>" % USER)[0].startswith("501 5.5.4")
    assert c.cmd("RCPT TO:<%s>" % USER)[0].startswith("250")
    assert c.cmd("DATA extra")[0].startswith("501 5.5.4")
    c.close()


def test_bad_sequence(d):
    c = Lmtp(d.ports["lmtp"])
    assert c.cmd("MAIL FROM:<a@b>")[0].startswith("503 5.5.1")  # before LHLO
    c.cmd("LHLO mta")
    assert c.cmd("DATA")[0].startswith("503 5.5.1")
    assert c.cmd("RCPT TO:<%s>" % USER)[0].startswith("503 5.5.1")
    c.cmd("MAIL FROM:<a@b>")
    assert c.cmd("DATA")[0].startswith("503 5.5.1")  # no RCPT
    assert c.cmd("RCPT TO:<nobody@example.test>")[0].startswith("550")
    assert c.cmd("DATA")[0].startswith("503 5.5.1")  # no successful RCPT
    assert c.cmd("NOOP")[0].startswith("250")
    c.close()


def test_over_long_lines_keep_the_connection(d):
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    assert c.cmd("NOOP " + "x" * 600)[0].startswith("500 5.5.2")
    assert c.cmd("RCPT TO:<" + "a" * 2000 + "@example.test>")[0].startswith("500 5.5.2")
    # 510 octets plus CRLF is exactly the limit.
    assert c.cmd("NOOP " + "y" * 505)[0].startswith("250")
    assert c.cmd("NOOP")[0].startswith("250")
    # Long text lines in DATA are accepted (RFC 5321 4.5.3.1 asks for no limits).
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<%s>" % USER)
    c.cmd("DATA")
    long_line = "z" * 5000
    c.send(message("long", long_line + "\r\n") + ".\r\n")
    assert c.reply()[0].startswith("250 2.0.0")
    assert imap_fetch_all(d, USER)[0][2].endswith(long_line.encode() + b"\r\n")


def test_message_too_large(roostd):
    d = roostd(extra="[lmtp]\nmax_message_size = 2K\n")
    d.add_user(USER, PASS)
    c = Lmtp(d.ports["lmtp"])
    r = c.cmd("LHLO mta")
    assert "SIZE 2048" in [line[4:] for line in r]
    assert c.cmd("MAIL FROM:<a@b> SIZE=5000")[0].startswith("552 5.3.4")
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<%s>" % USER)
    c.cmd("DATA")
    c.send(message("big", "0123456789" * 400 + "\r\n") + ".\r\n")
    assert c.reply()[0].startswith("552 5.3.4 <%s>" % USER)
    # The connection goes on, and nothing was stored.
    assert c.cmd("NOOP")[0].startswith("250")
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<%s>" % USER)
    c.cmd("DATA")
    c.send(message("small") + ".\r\n")
    assert c.reply()[0].startswith("250 2.0.0")
    stored = imap_fetch_all(d, USER)
    assert len(stored) == 1 and b"Subject: small" in stored[0][2]


def test_too_many_recipients(roostd):
    d = roostd(extra="[lmtp]\nmax_recipients = 2\n")
    d.add_user(USER, PASS)
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    c.cmd("MAIL FROM:<a@b>")
    assert c.cmd("RCPT TO:<%s>" % USER)[0].startswith("250")
    assert c.cmd("RCPT TO:<%s>" % USER)[0].startswith("250")
    assert c.cmd("RCPT TO:<%s>" % USER)[0].startswith("452 4.5.3")
    c.cmd("DATA")
    c.send(message("dup") + ".\r\n")
    assert c.reply()[0].startswith("250")
    assert c.reply()[0].startswith("250")
    assert c.cmd("NOOP")[0].startswith("250")


def test_unknown_user_and_disabled_account_and_quota(d):
    with smtplib.LMTP("127.0.0.1", d.ports["lmtp"]) as lmtp:
        lmtp.ehlo("mta")
        lmtp.mail("a@example.org")
        code, text = lmtp.rcpt("ghost@example.test")
        assert (code, text.decode()) == (550, "5.1.1 <ghost@example.test>: no such user")
    d.cli("user", "set", USER2, "state=disabled")
    with smtplib.LMTP("127.0.0.1", d.ports["lmtp"]) as lmtp:
        lmtp.ehlo("mta")
        lmtp.mail("a@example.org")
        code, text = lmtp.rcpt(USER2)
        assert code == 550 and text.decode().startswith("5.2.1 <%s>" % USER2)
    # Over quota: one message stored, then a quota below the usage.
    with smtplib.LMTP("127.0.0.1", d.ports["lmtp"]) as lmtp:
        assert lmtp.sendmail("a@example.org", [USER], message("fills")) == {}
    d.cli("user", "set", USER, "quota=10")
    with smtplib.LMTP("127.0.0.1", d.ports["lmtp"]) as lmtp:
        lmtp.ehlo("mta")
        lmtp.mail("a@example.org")
        code, text = lmtp.rcpt(USER)
        assert code == 552 and text.decode().startswith("5.2.2 <%s>" % USER)


def test_unix_socket(d):
    lmtp = smtplib.LMTP(d.lmtp_socket)
    assert lmtp.sendmail("a@example.org", [USER], message("via socket")) == {}
    lmtp.quit()
    assert b"Subject: via socket" in imap_fetch_all(d, USER)[0][2]


def test_plus_addressing_into_existing_folder(d):
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    m.login(USER, PASS)
    assert m.create("Lists")[0] == "OK"
    m.logout()
    local, domain = USER.split("@")
    with smtplib.LMTP("127.0.0.1", d.ports["lmtp"]) as lmtp:
        assert lmtp.sendmail("a@b.example", ["%s+Lists@%s" % (local, domain)],
                             message("to lists")) == {}
        assert lmtp.sendmail("a@b.example", ["%s+NoSuchFolder@%s" % (local, domain)],
                             message("to inbox")) == {}
    lists = imap_fetch_all(d, USER, "Lists")
    inbox = imap_fetch_all(d, USER)
    assert len(lists) == 1 and b"Subject: to lists" in lists[0][2]
    assert b"Delivered-To: <%s+Lists@%s>" % (local.encode(), domain.encode()) in lists[0][2]
    assert len(inbox) == 1 and b"Subject: to inbox" in inbox[0][2]


def test_bare_lf_stored_as_crlf_and_nul_refused(d):
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<%s>" % USER)
    c.cmd("DATA")
    c.send(b"Subject: lf\n\nline1\nline2\n.\n")
    assert c.reply()[0].startswith("250 2.0.0")
    stored = imap_fetch_all(d, USER)[0][2]
    assert stored.endswith(b"Subject: lf\r\n\r\nline1\r\nline2\r\n")
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<%s>" % USER)
    c.cmd("DATA")
    c.send(b"Subject: nul\r\n\r\na\x00b\r\n.\r\n")
    assert c.reply()[0].startswith("554 5.6.0 <%s>" % USER)
    assert c.cmd("NOOP")[0].startswith("250")
    assert len(imap_fetch_all(d, USER)) == 1


def test_delivery_is_logged_without_contents(d):
    with smtplib.LMTP("127.0.0.1", d.ports["lmtp"]) as lmtp:
        lmtp.sendmail("a@example.org", [USER], message("secret-subject-xyz"))
    log = d.wait_log("event=lmtp-deliver")
    line = [l for l in log.splitlines() if "event=lmtp-deliver" in l][0]
    for key in ("from=a@example.org", "to=%s" % USER, "size=", "uid=", "ms="):
        assert key in line, line
    assert "secret-subject-xyz" not in log


def test_rset_drops_the_transaction(d):
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<%s>" % USER)
    assert c.cmd("RSET")[0].startswith("250")
    assert c.cmd("DATA")[0].startswith("503")
    c.close()
    time.sleep(0.1)
    assert imap_fetch_all(d, USER) == []


def test_starttls_then_deliver(d):
    import ssl
    c = Lmtp(d.ports["lmtp"])
    caps = [line[4:] for line in c.cmd("LHLO mta")]
    assert "STARTTLS" in caps
    # Pipelined input after STARTTLS is discarded (RFC 3207 4.2, CVE-2011-0411).
    c.send("STARTTLS\r\nNOOP\r\n")
    assert c.reply()[0].startswith("220 2.0.0")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c.s = ctx.wrap_socket(c.s)
    c.buf = b""
    assert c.cmd("MAIL FROM:<a@b>")[0].startswith("503 5.5.1")  # LHLO again first
    caps = [line[4:] for line in c.cmd("LHLO mta")]
    assert "STARTTLS" not in caps
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<%s>" % USER)
    c.cmd("DATA")
    c.send(message("over tls") + ".\r\n")
    assert c.reply()[0].startswith("250 2.0.0")
    assert c.cmd("STARTTLS")[0].startswith("503")
    c.close()


def test_disconnect_during_data_leaves_nothing(d):
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<%s>" % USER)
    c.cmd("RCPT TO:<%s>" % USER2)
    c.cmd("DATA")
    c.send(message("cut", "x" * 100000 + "\r\n"))
    time.sleep(0.2)
    c.close()
    # Nothing stored, and the partial copies' temp files are gone.
    deadline = time.time() + 5
    import os
    tmp_dirs = []
    for root, dirs, files in os.walk(os.path.join(d.data_dir, "users")):
        if os.path.basename(root) == "tmp":
            tmp_dirs.append(root)
    assert tmp_dirs
    while time.time() < deadline and any(os.listdir(t) for t in tmp_dirs):
        time.sleep(0.05)
    assert not any(os.listdir(t) for t in tmp_dirs)
    assert imap_fetch_all(d, USER) == [] and imap_fetch_all(d, USER2) == []


def test_hundred_recipients_one_message(d):
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    c.cmd("MAIL FROM:<a@b>")
    for i in range(100):
        assert c.cmd("RCPT TO:<%s>" % (USER if i % 2 == 0 else USER2))[0].startswith("250")
    assert c.cmd("RCPT TO:<%s>" % USER)[0].startswith("452 4.5.3")
    c.cmd("DATA")
    c.send(message("hundred") + ".\r\n")
    uids = []
    for i in range(100):
        line = c.reply()[0]
        want = USER if i % 2 == 0 else USER2
        m = re.fullmatch(r"250 2\.0\.0 <%s> Saved as UID (\d+)" % re.escape(want), line)
        assert m, line
        uids.append(int(m.group(1)))
    assert uids[0::2] == list(range(1, 51)) and uids[1::2] == list(range(1, 51))
    assert len(imap_fetch_all(d, USER)) == 50
    p = d.cli("fsck", USER)
    assert p.returncode == 0


def test_chunking_bdat(d):
    c = Lmtp(d.ports["lmtp"])
    assert "CHUNKING" in [line[4:] for line in c.cmd("LHLO mta")]
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<%s>" % USER)
    c.cmd("RCPT TO:<%s>" % USER2)
    part1 = b"Subject: chunks\r\n\r\n.line with a dot\r\n"
    part2 = b"\r\n.\r\nbare lf\nend\r\n"  # no unstuffing; CRLF split over the chunks
    c.send(b"BDAT %d\r\n" % (len(part1) - 1) + part1[:-1])
    assert c.reply()[0] == "250 2.0.0 %d octets received" % (len(part1) - 1)
    assert c.cmd("MAIL FROM:<x@y>")[0].startswith("503 5.5.1")  # inside the message
    c.send(b"BDAT %d LAST\r\n" % (len(part2) + 1) + b"\n" + part2)
    first, second = c.reply(), c.reply()
    assert first[0].startswith("250 2.0.0 <%s> Saved as UID" % USER)
    assert second[0].startswith("250 2.0.0 <%s> Saved as UID" % USER2)
    stored = imap_fetch_all(d, USER)[0][2]
    assert stored.split(b"\r\n", 2)[2] == part1 + part2.replace(b"lf\n", b"lf\r\n")
    # DATA cannot follow BDAT; BDAT 0 LAST ends a message.
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<%s>" % USER)
    c.send(b"BDAT 3\r\nabc")
    assert c.reply()[0].startswith("250")
    assert c.cmd("DATA")[0].startswith("503 5.5.1")
    c.send(b"BDAT 0 LAST\r\n")
    assert c.reply()[0].startswith("250 2.0.0 <%s>" % USER)
    assert imap_fetch_all(d, USER)[1][2].endswith(b">\r\nabc")


def test_bdat_refused_chunk_is_still_read(d):
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    # No transaction: the chunk's bytes (which look like commands) are
    # read and dropped, then 503.
    c.send(b"BDAT 6 LAST\r\nQUIT\r\n")
    assert c.reply()[0].startswith("503 5.5.1")
    assert c.cmd("NOOP")[0].startswith("250")
    c.cmd("MAIL FROM:<a@b>")
    assert c.cmd("RCPT TO:<ghost@example.test>")[0].startswith("550")
    c.send(b"BDAT 4 LAST\r\nNOOP")
    assert c.reply()[0].startswith("503 5.5.1")
    assert c.cmd("BDAT x")[0].startswith("501 5.5.4")
    assert c.cmd("RSET")[0].startswith("250")
    # Pipelined, byte by byte.
    text = (b"MAIL FROM:<a@b>\r\nRCPT TO:<%s>\r\nBDAT 5\r\nHello"
            b"BDAT 7 LAST\r\n world\nNOOP\r\n" % USER.encode())
    for ch in text:
        c.send(bytes([ch]))
    codes = [c.reply()[0][:3] for _ in range(5)]
    assert codes == ["250", "250", "250", "250", "250"]
    assert imap_fetch_all(d, USER)[0][2].endswith(b">\r\nHello world\r\n")


def test_bdat_message_too_large(roostd):
    d = roostd(extra="[lmtp]\nmax_message_size = 2K\n")
    d.add_user(USER, PASS)
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<%s>" % USER)
    c.send(b"BDAT 3000\r\n" + b"x" * 3000)
    assert c.reply()[0].startswith("250")
    c.send(b"BDAT 10 LAST\r\n" + b"y" * 10)
    assert c.reply()[0].startswith("552 5.3.4 <%s>" % USER)
    assert c.cmd("NOOP")[0].startswith("250")
    assert imap_fetch_all(d, USER) == []


def test_many_unknown_recipients_do_not_count(roostd):
    d = roostd(extra="[lmtp]\nmax_recipients = 2\n")
    d.add_user(USER, PASS)
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    c.cmd("MAIL FROM:<a@b>")
    # Pipelined: 300 unknown recipients, then two good ones (the limit
    # counts accepted recipients only), then the message.
    batch = "".join("RCPT TO:<ghost%d@example.test>\r\n" % i for i in range(300))
    batch += "RCPT TO:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n%s.\r\n" % (USER, USER, message("after ghosts"))
    c.send(batch)
    codes = [c.reply()[0][:3] for _ in range(304)]
    assert codes == ["550"] * 300 + ["250", "250", "354", "250"]
    assert c.reply()[0].startswith("250 2.0.0 <%s>" % USER)
    assert len(imap_fetch_all(d, USER)) == 2


def test_plus_address_into_chinese_folder_and_gbk_body(d):
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    m.login(USER, PASS)
    assert m.create("&XfJT0ZAB-")[0] == "OK"  # 已发送
    m.logout()
    local, domain = USER.split("@")
    body = "你好，世界".encode("gbk") + b"\r\n"
    msg = (b"Subject: =?GBK?B?xOO6ww==?=\r\nContent-Type: text/plain; charset=GBK\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body)
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    c.cmd("MAIL FROM:<a@b> BODY=8BITMIME")
    rcpt = "%s+已发送@%s" % (local, domain)
    assert c.cmd("RCPT TO:<%s>" % rcpt)[0].startswith("250")
    c.cmd("DATA")
    c.send(msg + b".\r\n")
    assert c.reply()[0].startswith("250 2.0.0")
    stored = imap_fetch_all(d, USER, "&XfJT0ZAB-")
    assert len(stored) == 1
    assert stored[0][2] == ("Return-Path: <a@b>\r\nDelivered-To: <%s>\r\n" % rcpt).encode() + msg


def test_concurrent_connections_to_one_user(d):
    import threading
    results = []

    def worker(k):
        with smtplib.LMTP("127.0.0.1", d.ports["lmtp"]) as lmtp:
            for i in range(25):
                refused = lmtp.sendmail("a@example.org", [USER], message("c%d-%d" % (k, i)))
                results.append(refused)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 100 and all(r == {} for r in results)
    stored = imap_fetch_all(d, USER)
    assert sorted(uid for uid, _, _ in stored) == list(range(1, 101))
    subjects = sorted(re.search(rb"Subject: (c\d+-\d+)", body).group(1) for _, _, body in stored)
    assert subjects == sorted(b"c%d-%d" % (k, i) for k in range(4) for i in range(25))
    assert d.cli("fsck", USER).returncode == 0


def store_dbs_open(d):
    """The store.db files roostd has open (its parked or referenced users)."""
    fd_dir = "/proc/%d/fd" % d.proc.pid
    out = set()
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.endswith("/store.db"):
            out.add(target)
    return out


def lmtp_deliver(c, subject):
    """One pipelined transaction on an open Lmtp; returns the UID saved."""
    c.send("MAIL FROM:<s@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n" % USER)
    assert c.reply()[0].startswith("250")
    assert c.reply()[0].startswith("250")
    assert c.reply()[0].startswith("354")
    c.send(message(subject) + ".\r\n")
    final = c.reply()[0]
    m = re.fullmatch(r"250 2\.0\.0 <%s> Saved as UID (\d+)" % re.escape(USER), final)
    assert m, final
    return int(m.group(1))


def test_store_kept_open_between_deliveries_then_closed_when_idle(d):
    """The recipient's store stays open (parked) after a delivery, sees what
    another process (roost deliver) committed meanwhile, is closed after a
    few idle seconds, and is opened again by the next delivery."""
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    assert lmtp_deliver(c, "parked one") == 1
    assert len(store_dbs_open(d)) == 1
    d.cli("deliver", "-u", USER, input=message("by the cli").encode())
    assert lmtp_deliver(c, "parked three") == 3
    stored = imap_fetch_all(d, USER)
    assert [uid for uid, _, _ in stored] == [1, 2, 3]
    for (_, _, body), subject in zip(stored, ("parked one", "by the cli", "parked three")):
        assert body.endswith(message(subject).encode())
    deadline = time.monotonic() + 15
    while store_dbs_open(d) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store_dbs_open(d) == set()
    assert lmtp_deliver(c, "reopened four") == 4
    c.cmd("QUIT")
    c.close()
    assert [uid for uid, _, _ in imap_fetch_all(d, USER)] == [1, 2, 3, 4]
    assert d.cli("fsck", USER).returncode == 0


def upload_ms(sock, reader, chunks):
    """Sends chunks in separate writes (Nagle left on, as in most clients),
    then waits for the reply reader() returns; the time in ms."""
    t0 = time.monotonic()
    for chunk in chunks:
        sock.send(chunk)
    reader()
    return (time.monotonic() - t0) * 1000


def test_data_end_in_its_own_write_is_not_held_by_delayed_acks(d):
    # A client that sends the final "." in a write of its own has Nagle's
    # algorithm hold it until the body is acknowledged; an LMTP session's
    # ACKs are delayed (up to 40 ms) unless the server acknowledges the
    # upload at once. Every such delivery used to take 40-45 ms instead of
    # about one.
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    times = []
    for i in range(7):
        c.send("MAIL FROM:<s@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n" % USER)
        assert [c.reply()[0][:3] for _ in range(3)] == ["250", "250", "354"]
        body = message("nagle %d" % i, "x" * 70 + "\r\n").encode()
        times.append(upload_ms(c.s, lambda: c.reply(), [body, b".\r\n"]))
    c.cmd("QUIT")
    c.close()
    times.sort()
    assert times[3] < 30, times
    assert len(imap_fetch_all(d, USER)) == 7


def big_body(size):
    """size bytes of CRLF lines, with lines that start with "." (stuffed on
    the wire) at many offsets, so some fall on read and buffer edges."""
    lines, total, i = [], 0, 0
    while total < size:
        if i % 97 == 0:
            line = "." * (1 + i % 3) + "dot line %d\r\n" % i
        else:
            line = "line %d %s\r\n" % (i, "abcdefghij" * (i % 9))
        lines.append(line)
        total += len(line)
        i += 1
    return "".join(lines)


def test_multi_megabyte_message_to_two_recipients_reads_back_byte_for_byte(d):
    # Sent in one write: the socket holds far more than one read's worth
    # at a time, so the server reads the upload in large pieces.
    body = big_body(6 * 1024 * 1024)
    msg = message("bulk", body)
    stuffed = re.sub(r"(?m)^\.", "..", msg)
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    assert c.cmd("MAIL FROM:<sender@example.org>")[0].startswith("250")
    assert c.cmd("RCPT TO:<%s>" % USER)[0].startswith("250")
    assert c.cmd("RCPT TO:<%s>" % USER2)[0].startswith("250")
    assert c.cmd("DATA")[0].startswith("354")
    c.send(stuffed + ".\r\n")
    assert c.reply()[0].startswith("250 2.0.0 <%s>" % USER)
    assert c.reply()[0].startswith("250 2.0.0 <%s>" % USER2)
    # The connection goes on with the next transaction.
    assert c.cmd("MAIL FROM:<sender@example.org>")[0].startswith("250")
    assert c.cmd("RCPT TO:<%s>" % USER)[0].startswith("250")
    assert c.cmd("DATA")[0].startswith("354")
    c.send(message("after") + ".\r\n")
    assert c.reply()[0].startswith("250 2.0.0")
    c.close()
    for user in (USER, USER2):
        stored = imap_fetch_all(d, user)
        expected = ("Return-Path: <sender@example.org>\r\nDelivered-To: <%s>\r\n" % user +
                    msg).encode()
        assert stored[0][2] == expected
    assert len(imap_fetch_all(d, USER)) == 2


def test_disconnect_in_the_middle_of_megabytes_leaves_nothing(d):
    c = Lmtp(d.ports["lmtp"])
    c.cmd("LHLO mta")
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<%s>" % USER)
    c.cmd("DATA")
    c.send(message("cut", big_body(3 * 1024 * 1024)))
    c.close()
    deadline = time.time() + 10
    tmp = os.path.join(d.data_dir, "users")
    tmp_dirs = [root for root, _, _ in os.walk(tmp) if os.path.basename(root) == "tmp"]
    while time.time() < deadline and any(os.listdir(t) for t in tmp_dirs):
        time.sleep(0.05)
    assert not any(os.listdir(t) for t in tmp_dirs)
    assert imap_fetch_all(d, USER) == []
    # The server still takes mail.
    with smtplib.LMTP("127.0.0.1", d.ports["lmtp"]) as lmtp:
        lmtp.ehlo("mta")
        lmtp.sendmail("a@b", [USER], message("next").encode())
    assert len(imap_fetch_all(d, USER)) == 1
