"""Crash safety of LMTP delivery: a thread delivers continuously while
roostd is killed with SIGKILL at random moments, a few times (about 20 s in
all). After each restart, every message that got its "250" must be in the
store exactly once and byte for byte, nothing else may be there except
messages whose reply never arrived (each at most once and intact), and
`roost fsck` must find no damage (leftover temp files of the killed
deliveries are expected and removed)."""
import imaplib
import json
import random
import re
import signal
import socket
import threading
import time

USER = "crash@example.test"
PASS = "secret-pw"


def make_message(n, rnd):
    # Sizes from tiny to a few hundred KiB, so kills land in every phase.
    size = rnd.choice([50, 2000, 40000, 300000])
    body = "".join("line %d of message %d %s\r\n" % (i, n, "x" * 40)
                   for i in range(max(1, size // 60)))
    return ("From: load@example.org\r\nSubject: crash %d\r\nMessage-ID: <crash-%d@test>\r\n\r\n"
            % (n, n) + body).encode()


class Deliverer(threading.Thread):
    """Delivers messages over raw LMTP until the connection dies."""

    def __init__(self, port, first, rnd):
        super().__init__(daemon=True)
        self.port, self.n, self.rnd = port, first, rnd
        self.acked = {}     # n -> message bytes (got 250)
        self.unknown = {}   # n -> message bytes (sent, no final reply)

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            f = s.makefile("rb")

            def reply():
                while True:
                    line = f.readline()
                    if not line:
                        raise EOFError
                    if line[3:4] != b"-":
                        return line

            reply()
            s.sendall(b"LHLO crash\r\n")
            reply()
            while True:
                n = self.n
                self.n += 1
                data = make_message(n, self.rnd)
                s.sendall(b"MAIL FROM:<load@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                          % USER.encode())
                assert reply().startswith(b"250")
                assert reply().startswith(b"250")
                assert reply().startswith(b"354")
                self.unknown[n] = data
                stuffed = re.sub(rb"(?m)^\.", b"..", data)
                s.sendall(stuffed + b".\r\n")
                r = reply()
                assert r.startswith(b"250 2.0.0"), r
                self.acked[n] = self.unknown.pop(n)
        except (OSError, EOFError):
            return


def stored_messages(d):
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    m.login(USER, PASS)
    m.select("INBOX", readonly=True)
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
    m.logout()
    return [item[1] for item in data if isinstance(item, tuple)]


def test_sigkill_during_deliveries_loses_nothing_acknowledged(roostd):
    rnd = random.Random(20261126)
    d = roostd()
    d.add_user(USER, PASS)
    acked, unknown = {}, {}
    next_n = 0
    kills = 0
    deadline = time.time() + 20
    while kills < 5 and time.time() < deadline:
        t = Deliverer(d.ports["lmtp"], next_n, rnd)
        t.start()
        time.sleep(rnd.uniform(0.3, 2.0))
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        d.logf.close()
        kills += 1
        t.join(10)
        assert not t.is_alive()
        acked.update(t.acked)
        unknown.update(t.unknown)
        next_n = t.n
        d.start()
    assert kills >= 3
    print("kills=%d acked=%d unknown=%d" % (kills, len(acked), len(unknown)))
    assert len(acked) > 5, "too few deliveries to mean anything"

    header = b"Return-Path: <load@example.org>\r\nDelivered-To: <%s>\r\n" % USER.encode()
    counts = {}
    for body in stored_messages(d):
        assert body.startswith(header), body[:200]
        n = int(re.search(rb"Message-ID: <crash-(\d+)@test>", body).group(1))
        original = acked.get(n, unknown.get(n))
        assert original is not None, "a message that was never sent: %d" % n
        assert body == header + original, "message %d is corrupt" % n
        counts[n] = counts.get(n, 0) + 1
    assert all(c == 1 for c in counts.values()), "duplicates: %r" % counts
    missing = sorted(set(acked) - set(counts))
    assert not missing, "acknowledged but lost: %r" % missing

    p = d.cli("fsck", USER, "--json", check=False)
    assert p.returncode == 0, (p.stdout, p.stderr)
    report = json.loads(p.stdout)[0]
    assert report["missing_files"] == 0 and report["wrong_size"] == 0, report
    assert report["counters_fixed"] == 0 and report["blobs_fixed"] == 0, report
    # A second run finds nothing at all to do.
    report = json.loads(d.cli("fsck", USER, "--json").stdout)[0]
    assert all(v == 0 for k, v in report.items() if k not in ("user", "problems")), report
