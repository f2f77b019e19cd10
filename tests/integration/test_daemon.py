"""roostd as a daemon: listeners over plain and implicit TLS, STARTTLS (and
that plaintext pipelined after it is thrown away), connection limits, the
pre-login timeout, logging, privilege drop, SIGTERM with goodbyes, SIGHUP
reloading a renewed certificate, and bad configs rejected with file:line:
key. The protocols themselves are tested in their own files."""
import os
import pwd
import signal
import socket
import ssl
import subprocess
import time
import warnings

import pytest

from conftest import BUILD, RUN_USER, make_cert, shared_tmpdir


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Client:
    """A line-oriented client over a socket (plain or TLS)."""

    def __init__(self, port, tls=False, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            self.sock = tls_ctx().wrap_socket(self.sock)
        self.buf = b""

    def starttls(self):
        assert self.buf == b"", "unread data before TLS"
        self.sock = tls_ctx().wrap_socket(self.sock)

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("connection closed; unread: %r" % self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def until_tagged(self, tag):
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + " "):
                return lines

    def at_eof(self):
        """True if the server closed the connection (after any unread lines)."""
        try:
            while True:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def test_greetings_plain_and_implicit_tls(roostd):
    d = roostd()
    c = Client(d.ports["imap"])
    assert c.line().startswith("* OK")
    c.close()
    c = Client(d.ports["imaps"], tls=True)
    assert c.line().startswith("* OK")
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    c.close()
    c = Client(d.ports["pop3"])
    assert c.line().startswith("+OK")
    c.close()
    c = Client(d.ports["pop3s"], tls=True)
    assert c.line().startswith("+OK")
    c.close()
    c = Client(d.ports["lmtp"])
    assert c.line().startswith("220 ")
    c.close()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(d.lmtp_socket)
    assert s.recv(4096).startswith(b"220 ")
    s.close()


def test_tls_below_1_2_refused(roostd):
    d = roostd()
    ctx = tls_ctx()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    c = Client(d.ports["imaps"])
    # The server answers the TLS 1.1 ClientHello with a protocol_version alert.
    with pytest.raises(ssl.SSLError, match="ALERT_PROTOCOL_VERSION"):
        c.sock = ctx.wrap_socket(c.sock)
    c.close()


def test_imap_starttls_discards_pipelined_plaintext(roostd):
    d = roostd()
    c = Client(d.ports["imap"])
    assert c.line().startswith("* OK")
    # CVE-2011-0411: "b" rides in the same packet as STARTTLS; it must not
    # be executed after the switch as if it had come through TLS.
    c.send("a STARTTLS\r\nb CAPABILITY\r\n")
    lines = c.until_tagged("a")
    assert lines[-1].startswith("a OK"), lines
    c.starttls()
    c.send("c NOOP\r\n")
    lines = c.until_tagged("c")
    assert lines[-1].startswith("c OK"), lines
    assert not any(l.startswith("b ") for l in lines), lines
    c.send("d LOGOUT\r\n")
    assert any(l.startswith("* BYE") for l in c.until_tagged("d"))
    c.close()
    log = d.wait_log("event=tls")
    assert "version=TLSv1." in log


def test_pop3_stls_upgrade(roostd):
    d = roostd()
    c = Client(d.ports["pop3"])
    assert c.line().startswith("+OK")
    c.send("STLS\r\n")
    assert c.line().startswith("+OK")
    c.starttls()
    c.send("CAPA\r\n")
    assert c.line().startswith("+OK")
    c.close()


def test_per_ip_limit(roostd):
    d = roostd("max_connections_per_ip = 3\n")
    held = [Client(d.ports["imap"]) for _ in range(3)]
    for c in held:
        assert c.line().startswith("* OK")
    extra = Client(d.ports["imap"])
    assert extra.line().startswith("* BYE")
    assert extra.at_eof()
    extra = Client(d.ports["pop3"])
    assert extra.line().startswith("-ERR")
    assert extra.at_eof()
    log = d.wait_log("limit=max_connections_per_ip")
    assert "event=limit" in log
    held[0].close()
    deadline = time.time() + 5
    while True:  # the slot frees once the server saw the close
        c = Client(d.ports["imap"])
        line = c.line()
        c.close()
        if line.startswith("* OK") or time.time() > deadline:
            break
        time.sleep(0.1)
    assert line.startswith("* OK")
    for c in held[1:]:
        c.close()


def test_max_connections(roostd):
    d = roostd("max_connections = 2\n")
    held = [Client(d.ports["imap"]) for _ in range(2)]
    for c in held:
        assert c.line().startswith("* OK")
    lmtp = Client(d.ports["lmtp"])
    assert lmtp.line().startswith("421 ")
    imaps = Client(d.ports["imaps"], timeout=5)
    with pytest.raises((ssl.SSLError, ConnectionResetError, EOFError, OSError)):
        # Implicit TLS: just closed, no handshake.
        imaps.sock = tls_ctx().wrap_socket(imaps.sock)
        imaps.line()
    d.wait_log("limit=max_connections")
    for c in held:
        c.close()


def test_preauth_timeout(roostd):
    d = roostd("preauth_timeout = 1\n")
    c = Client(d.ports["imap"])
    assert c.line().startswith("* OK")
    start = time.time()
    assert c.at_eof()
    assert time.time() - start < 8
    log = d.wait_log("event=timeout")
    assert "proto=imap" in log


def test_sigterm_says_bye_and_exits_0(roostd):
    d = roostd()
    imap = Client(d.ports["imap"])
    assert imap.line().startswith("* OK")
    pop = Client(d.ports["pop3"])
    assert pop.line().startswith("+OK")
    d.signal(signal.SIGTERM)
    assert imap.line().startswith("* BYE")
    assert imap.at_eof()
    assert pop.at_eof()
    assert d.proc.wait(15) == 0
    log = d.log_text()
    assert "event=shutdown" in log and "event=stopped" in log
    # Nothing listens any more.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", d.ports["imap"]), timeout=2)


def peer_cert(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with tls_ctx().wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def test_sighup_reloads_renewed_certificate(roostd):
    certdir = shared_tmpdir("roost-renew-")
    cert, key = make_cert(certdir, "live", cn="old.example.test")
    d = roostd(start=False)
    d.cert, d.key = cert, key
    d.write_config()
    d.start()
    old = peer_cert(d.ports["imaps"])
    held = Client(d.ports["imaps"], tls=True)
    assert held.line().startswith("* OK")
    new_cert, new_key = make_cert(certdir, "next", cn="new.example.test")
    os.replace(new_cert, cert)
    os.replace(new_key, key)
    d.reload()
    assert "status=applied" in d.log_text() and "tls=reloaded" in d.log_text()
    new = peer_cert(d.ports["imaps"])
    assert new != old
    # The connection made before the reload goes on with the old context.
    held.send("a NOOP\r\n")
    assert held.until_tagged("a")[-1].startswith("a OK")
    held.close()


def test_sighup_with_broken_config_keeps_running(roostd):
    d = roostd()
    with open(d.conf, "a") as f:
        f.write("[imap]\nmax_line = tiny\n")
    d.reload()
    log = d.log_text()
    assert "status=rejected" in log and "max_line" in log
    c = Client(d.ports["imap"])
    assert c.line().startswith("* OK")
    c.close()


def test_sighup_reports_what_needs_restart(roostd):
    d = roostd()
    d.write_config("max_connections_per_ip = 7\n")
    text = open(d.conf).read().replace("workers = 2", "workers = 3")
    with open(d.conf, "w") as f:
        f.write(text)
    d.reload()
    log = d.log_text()
    assert "max_connections_per_ip=7" in log
    assert "changed=max_connections_per_ip " in log
    assert "needs_restart=workers" in log


def run_roostd(conf, *args):
    env = dict(os.environ)
    env.pop("ROOST_CONFIG", None)
    return subprocess.run([os.path.join(BUILD, "roostd"), "-c", conf, *args], capture_output=True,
                          text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)


def test_bad_config_names_file_line_key(tmp_path):
    conf = tmp_path / "roost.conf"
    conf.write_text("data_dir = /tmp/x\nworkers = lots\n")
    p = run_roostd(str(conf))
    assert p.returncode == 78
    assert "%s:2: workers:" % conf in p.stderr
    conf.write_text("[listener]\nprotocol = imaps\nport = 993\n")
    p = run_roostd(str(conf), "-t")
    assert p.returncode == 78
    assert "%s:1: listener: protocol imaps needs [tls] cert and key" % conf in p.stderr
    conf.write_text("[tls]\ncert = /nonexistent/cert.pem\nkey = /nonexistent/key.pem\n"
                    "[listener]\nprotocol = imaps\nport = 993\n")
    p = run_roostd(str(conf), "-t")
    assert p.returncode == 78
    assert "cert: cannot load /nonexistent/cert.pem" in p.stderr
    p = run_roostd(str(tmp_path / "missing.conf"))
    assert p.returncode == 78 and "cannot open" in p.stderr


def test_config_test_mode(roostd):
    d = roostd(start=False)
    p = run_roostd(d.conf, "-t")
    assert p.returncode == 0, p.stderr
    assert "configuration is valid" in p.stdout


def test_busy_port_is_reported(roostd):
    d = roostd()
    other = roostd(start=False)
    other.ports["imap"] = d.ports["imap"]
    other.write_config()
    p = run_roostd(other.conf)
    assert p.returncode != 0
    assert "listener" in p.stderr and "cannot listen" in p.stderr


def test_log_lines_carry_session_fields(roostd):
    d = roostd()
    c = Client(d.ports["imap"])
    assert c.line().startswith("* OK")
    c.send("a LOGOUT\r\n")
    c.until_tagged("a")
    c.close()
    # The start-up probes connected too: look for the IMAP session that
    # sent LOGOUT (it has bytes in).
    deadline = time.time() + 10
    while True:
        lines = [l for l in d.log_text().splitlines()
                 if "event=disconnect" in l and "proto=imap" in l and "bytes_in=0 " not in l]
        if lines or time.time() > deadline:
            break
        time.sleep(0.05)
    assert lines, d.log_text()
    line = lines[0]
    log = d.log_text()
    for field in ("session=", "remote=127.0.0.1", "proto=imap", "reason=", "bytes_in=",
                  "bytes_out="):
        assert field in line, line
    assert any("event=connect" in l and "proto=imap" in l for l in log.splitlines())


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")
def test_drops_privileges_to_config_user(roostd):
    d = roostd()
    uid = pwd.getpwnam(RUN_USER).pw_uid
    with open("/proc/%d/status" % d.proc.pid) as f:
        status = f.read()
    uids = [l for l in status.splitlines() if l.startswith("Uid:")][0].split()[1:]
    assert all(int(u) == uid for u in uids), uids
    assert os.stat(d.data_dir).st_uid == uid


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_refuses_to_run_as_root_without_user(roostd):
    d = roostd(start=False)
    text = open(d.conf).read().replace("user = %s" % RUN_USER, "user =")
    with open(d.conf, "w") as f:
        f.write(text)
    p = run_roostd(d.conf)
    assert p.returncode == 78
    assert "never runs protocol code as root" in p.stderr


def test_example_config_is_valid(tls_cert):
    """roost.conf.example passes roostd -t once its certificate exists."""
    from conftest import REPO
    text = open(os.path.join(REPO, "roost.conf.example")).read()
    text = text.replace("/etc/roost/cert.pem", tls_cert[0]).replace("/etc/roost/key.pem",
                                                                     tls_cert[1])
    d = shared_tmpdir("roost-example-")
    conf = os.path.join(d, "roost.conf")
    with open(conf, "w") as f:
        f.write(text)
    p = run_roostd(conf, "-t")
    assert p.returncode == 0, p.stderr
    assert "(5 listeners)" in p.stdout


@pytest.mark.skipif("san" in os.path.basename(os.path.normpath(BUILD)),
                    reason="sanitizer builds use far more memory per allocation")
def test_idle_connections_cost_little_memory(roostd):
    """An idle connection (greeted, not logged in) costs well under 20 KiB
    of daemon memory, over plain TCP and over TLS."""
    d = roostd("max_connections_per_ip = 1000\n")

    def rss_kib():
        with open("/proc/%d/status" % d.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])

    n = 200
    for proto, tls in (("imap", False), ("imaps", True)):
        time.sleep(0.3)
        before = rss_kib()
        conns = [Client(d.ports[proto], tls=tls) for _ in range(n)]
        for c in conns:
            assert c.line().startswith("* OK")
        time.sleep(0.3)
        per_conn = (rss_kib() - before) / n
        for c in conns:
            c.close()
        assert per_conn < 20, "%s: %.1f KiB per idle connection" % (proto, per_conn)


def listen_backlog(port):
    """The accept backlog of the TCP socket listening on 127.0.0.1:port, as
    ss reports it (the Send-Q column of a listening socket)."""
    out = subprocess.run(["ss", "-ltnH", "sport = :%d" % port], capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[2])  # State Recv-Q Send-Q(=backlog) ...


def test_listeners_take_a_burst_of_connections(roostd):
    # The kernel completes handshakes up to the backlog before roostd
    # accepts them; libevent's default of 128 dropped the last ACKs of a
    # burst of 400 clients, who then waited for a greeting forever.
    d = roostd("max_connections_per_ip = 2000\n")
    for proto in ("imap", "pop3", "lmtp", "imaps"):
        assert listen_backlog(d.ports[proto]) >= 1024, proto
    socks = [socket.create_connection(("127.0.0.1", d.ports["imap"])) for _ in range(600)]
    try:
        for s in socks:
            s.settimeout(20)
        for s in socks:
            assert s.recv(64).startswith(b"* OK")
    finally:
        for s in socks:
            s.close()
