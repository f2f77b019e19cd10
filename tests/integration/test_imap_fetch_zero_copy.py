"""FETCH of the stored octets (BODY[], BINARY[], partial BODY[]<o.n>, TEXT)
of large messages: on a plaintext connection, ranges without NUL octets are
sent as file segments (sendfile), with NULs copied and replaced by 0x80;
over TLS and COMPRESS everything is copied. The octets must be the same in
every case, at the edges of the 256 KiB read size too."""
import zlib

import pytest

from test_imap_fetch_helpers import imap_env  # noqa: F401  (fixture)
from test_imap_fetch_helpers import parse_fetch

READ = 256 * 1024  # cmd-fetch.c reads and sends the file in pieces of this size


def lines(n, seed):
    """n octets of CRLF lines (n >= 2)."""
    out = []
    i = 0
    while n > 0:
        k = min(76, n - 2)
        if n - (k + 2) == 1:
            k -= 1
        out.append(bytes(65 + (seed + i + j) % 26 for j in range(k)) + b"\r\n")
        n -= k + 2
        i += 1
    return b"".join(out)


def message(size, seed, nul_at=()):
    """size octets; NULs at the given offsets. A NUL must not replace a CR
    or LF (a bare CR or LF would be stored as CRLF): the header is padded
    until every offset falls on a letter."""
    for pad in range(80):
        head = (b"Subject: big %d %s\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                % (seed, b"x" * pad))
        m = bytearray(head + lines(size - len(head), seed))
        if all(m[p] not in b"\r\n" for p in nul_at):
            break
    for p in nul_at:
        m[p] = 0
    assert len(m) == size and all(m[p] == 0 for p in nul_at)
    return bytes(m)


def append8(c, msg):
    """APPEND as literal8 (RFC 3516), so NUL octets are allowed."""
    c.n += 1
    tag = "t%d" % c.n
    c.send(tag.encode() + b" APPEND INBOX ~{%d}\r\n" % len(msg))
    assert c.read_line().startswith(b"+")
    c.send(msg + b"\r\n")
    u, st, tx = c.wait(tag)
    assert st == "OK", tx


MSGS = [
    message(64 * 1024 - 1, 1),            # just below the zero-copy size
    message(64 * 1024, 2),                # exactly at it
    message(READ, 3),                     # exactly one read
    message(READ + 1, 4),                 # one octet into the second
    message(3 * READ + 12345, 5),         # several reads, no NUL
    # NULs: in the first read only, at the very edges of reads, and late.
    message(2 * READ + 100, 6, nul_at=(100, READ - 1, READ, 2 * READ + 97)),
    message(3 * READ, 7, nul_at=(2 * READ + 5,)),
]


@pytest.mark.parametrize("mode", ["plain", "tls", "compress"])
def test_large_stored_octets_byte_exact(imap_env, mode):
    c = imap_env.connect(tls=mode == "tls")
    for m in MSGS:
        append8(c, m)
    if mode == "compress":
        c.ok("COMPRESS DEFLATE")
        c.sock = DeflateSocket(c.sock)
    c.ok("SELECT INBOX")
    for n, m in enumerate(MSGS, 1):
        d = c.fetch("FETCH %d (BODY.PEEK[] BINARY.PEEK[] BODY.PEEK[TEXT])" % n)[n]
        assert d["BODY[]"] == m.replace(b"\x00", b"\x80"), n
        assert d["BINARY[]"] == m, n
        text = m[m.index(b"\r\n\r\n") + 4:]
        assert d["BODY[TEXT]"] == text.replace(b"\x00", b"\x80"), n
        # Partial ranges that start and end inside reads and at their edges.
        for start, count in ((1, READ), (READ - 3, 7), (70000, 2 * READ), (READ, len(m))):
            part = c.fetch("FETCH %d BODY.PEEK[]<%d.%d>" % (n, start, count))[n]
            key = [k for k in part if k.startswith("BODY[]")][0]
            assert part[key] == m[start:start + count].replace(b"\x00", b"\x80"), (n, start)
    c.close()


class DeflateSocket:
    """The client side of COMPRESS=DEFLATE (RFC 4978) over a socket: what
    the Imap helper reads and writes goes through raw DEFLATE."""

    def __init__(self, sock):
        self.sock = sock
        self.inflate = zlib.decompressobj(-15)
        self.deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)

    def sendall(self, data):
        self.sock.sendall(self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH))

    def send(self, data):
        self.sendall(data)
        return len(data)

    def recv(self, n):
        while True:
            raw = self.sock.recv(n)
            if not raw:
                return b""
            out = self.inflate.decompress(raw)
            if out:
                return out

    def close(self):
        self.sock.close()
