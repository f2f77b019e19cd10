"""Shared fixtures for the integration tests: a real roostd on free loopback
ports, the `roost` CLI on the same config, users with passwords.

    def test_x(roostd):
        d = roostd()                       # imap, imaps, pop3, pop3s, lmtp + LMTP socket
        d.add_user("a@example.test", "pw")
        s = socket.create_connection(("127.0.0.1", d.ports["imap"]))

    def test_y(roostd):
        d = roostd(extra="max_connections_per_ip = 3\\n")   # config text appended

`extra` is appended at the end of the config, so it may open sections
([auth], [imap], ...); global keys must come first in it, before any
section header (the ini file allows a section to appear twice).

Root: CI and dev machines run the tests as root. roostd then drops to the
system user `roost` (created here if missing), so every directory it needs
is made with mkdtemp under /tmp and chmod 0755 (pytest's tmp_path lives
below a 0700 directory the `roost` user cannot traverse).

Teardown stops roostd with SIGTERM and fails the test unless it exits 0
and printed nothing from AddressSanitizer/UBSan (for `make SAN=1 test`,
ROOST_BUILD points at build-san)."""
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ROOST_BUILD", os.path.join(REPO, "build"))
RUN_USER = "roost"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")


# Ports for the daemons under test come from below the kernel's ephemeral
# range (32768 and up by default), so a client socket of another test cannot
# take one between our check and roostd's bind; each pytest-xdist worker
# draws from its own slice, so parallel workers never hand out the same port.
PORT_BASE, PORT_SLICE = 20000, 1500
_handed_out = set()


def free_port():
    """A loopback TCP port that is free right now and not handed out before
    by this test process."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    lo = PORT_BASE + (index % 8) * PORT_SLICE
    for _ in range(PORT_SLICE):
        port = random.randrange(lo, lo + PORT_SLICE)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        if len(_handed_out) > PORT_SLICE // 2:
            _handed_out.clear()  # long runs: ports of stopped daemons are free again
        return port
    raise RuntimeError("no free port in %d-%d" % (lo, lo + PORT_SLICE - 1))


def ensure_run_user():
    """As root, make sure the unprivileged `roost` user exists."""
    if os.geteuid() != 0:
        return
    # Parallel test workers (pytest -n) may race to create it: retry
    # until it exists (useradd fails if another one won or holds the lock).
    for _ in range(50):
        try:
            pwd.getpwnam(RUN_USER)
            return
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                            "/nonexistent", "--shell", "/usr/sbin/nologin", RUN_USER],
                           capture_output=True)
        time.sleep(0.1)
    pwd.getpwnam(RUN_USER)


def shared_tmpdir(prefix):
    """A fresh directory the `roost` user can traverse (0755)."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d


def make_cert(directory, name="cert", cn="localhost"):
    """A self-signed certificate and key (both 0644: roostd re-reads them
    after dropping privileges when it gets SIGHUP)."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=" + cn, "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o644)
    return cert, key


def sanitizer_report(text):
    for marker in SANITIZER_MARKERS:
        if marker in text:
            return text
    return None


@pytest.fixture(scope="session")
def build_dir():
    return BUILD


@pytest.fixture(scope="session")
def tls_cert():
    """(cert_path, key_path): one self-signed localhost certificate per run."""
    d = shared_tmpdir("roost-cert-")
    pair = make_cert(d)
    yield pair
    shutil.rmtree(d, ignore_errors=True)


class Roostd:
    """One roostd process with its own directory, config and data dir.

    Attributes: dir, conf (config path), data_dir, ports {"imap", "imaps",
    "pop3", "pop3s", "lmtp"}, lmtp_socket (UNIX socket path), proc, log
    (path of its stderr/stdout)."""

    PROTOS = ("imap", "imaps", "pop3", "pop3s", "lmtp")

    def __init__(self, cert, extra="", env=None):
        ensure_run_user()
        self.dir = shared_tmpdir("roost-test-")
        self.data_dir = os.path.join(self.dir, "data")
        self.conf = os.path.join(self.dir, "roost.conf")
        self.log = os.path.join(self.dir, "roostd.log")
        self.lmtp_socket = os.path.join(self.dir, "lmtp.sock")
        self.cert, self.key = cert
        self.ports = {p: free_port() for p in self.PROTOS}
        self.env = dict(os.environ)
        self.env.pop("ROOST_CONFIG", None)
        if env:
            self.env.update(env)
        self.proc = None
        self.write_config(extra)

    def config_text(self, extra=""):
        text = ("data_dir = %s\nuser = %s\nworkers = 2\nlog_level = debug\n"
                "shutdown_grace = 3\n" % (self.data_dir, RUN_USER))
        # Global keys of `extra` must precede the first section header.
        glob, _, rest = extra.partition("\n[")
        if extra.startswith("["):
            glob, rest = "", extra[1:]
        text += glob + ("\n" if glob and not glob.endswith("\n") else "")
        text += "[tls]\ncert = %s\nkey = %s\n" % (self.cert, self.key)
        text += "[auth]\npassword_scheme = sha512-crypt\n"
        for proto in self.PROTOS:
            text += ("[listener]\nprotocol = %s\naddress = 127.0.0.1\nport = %d\n"
                     % (proto, self.ports[proto]))
        text += "[listener]\nprotocol = lmtp\npath = %s\n" % self.lmtp_socket
        if rest:
            text += "[" + rest + ("\n" if not rest.endswith("\n") else "")
        return text

    def write_config(self, extra=""):
        self.extra = extra  # kept for a restart on new ports
        with open(self.conf, "w") as f:
            f.write(self.config_text(extra))
        os.chmod(self.conf, 0o644)

    def start(self, timeout=20, attempts=3):
        """Starts roostd and waits until it serves. Should one of its ports
        have been taken meanwhile by something outside the tests, it picks
        new ports and tries again."""
        for attempt in range(attempts):
            try:
                return self.start_once(timeout)
            except RuntimeError:
                in_use = "Address already in use" in self.log_text()
                if not in_use or self.proc.poll() is None or attempt == attempts - 1:
                    raise
                self.logf.close()
                self.ports = {p: free_port() for p in self.PROTOS}
                self.write_config(self.extra)

    def start_once(self, timeout):
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen([os.path.join(BUILD, "roostd"), "-c", self.conf],
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env)
        deadline = time.time() + timeout
        pending = set(self.PROTOS)
        # Ports accept as soon as they are bound; roostd serves (and handles
        # signals) once it logged event=ready.
        while pending or not os.path.exists(self.lmtp_socket) or \
                "event=ready" not in self.log_text():
            for proto in list(pending):
                try:
                    socket.create_connection(("127.0.0.1", self.ports[proto]), timeout=1).close()
                    pending.discard(proto)
                except OSError:
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError("roostd exited with %d:\n%s" % (self.proc.returncode,
                                                                  self.log_text()))
            if time.time() > deadline:
                raise RuntimeError("roostd did not listen on %s:\n%s" % (sorted(pending),
                                                                         self.log_text()))
            time.sleep(0.05)
        # The probes above count against the connection limits until the
        # daemon has seen them close: wait for that, so a test starts from
        # an idle daemon.
        while True:
            text = self.log_text()
            if text.count("event=connect ") <= text.count("event=disconnect "):
                break
            if time.time() > deadline:
                raise RuntimeError("roostd did not close the probe connections:\n" + text)
            time.sleep(0.05)
        return self

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, needle, timeout=10):
        """Waits until the log contains needle; returns the log."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.log_text()
            if needle in text:
                return text
            time.sleep(0.05)
        raise AssertionError("log never showed %r:\n%s" % (needle, self.log_text()))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self):
        """SIGHUP, then waits for the reload to be logged."""
        before = self.log_text().count("event=reload")
        self.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while self.log_text().count("event=reload") <= before:
            if time.time() > deadline:
                raise AssertionError("no reload logged:\n" + self.log_text())
            time.sleep(0.05)

    def stop(self, timeout=20):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.logf.close()
                return None
        self.logf.close()
        return self.proc.returncode

    def cli(self, *args, input=None, check=True):
        """Runs `roost -c CONF args...`; returns the CompletedProcess (bytes).
        With check, asserts exit 0."""
        if isinstance(input, str):
            input = input.encode()
        p = subprocess.run([os.path.join(BUILD, "roost"), "-c", self.conf, *args], input=input,
                           capture_output=True, timeout=60, env=self.env,
                           stdin=None if input is not None else subprocess.DEVNULL)
        report = sanitizer_report(p.stderr.decode("utf-8", "replace"))
        assert report is None, "sanitizer report from roost %s:\n%s" % (" ".join(args), report)
        if check:
            assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
        return p

    def add_user(self, address, password):
        """Creates the account (and its domain if needed) with a password."""
        domain = address.rsplit("@", 1)[1]
        p = self.cli("domain", "add", domain, check=False)
        assert p.returncode in (0, 73), p.stderr  # 73: the domain exists
        self.cli("user", "add", address, "--password-stdin", input=password + "\n")

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def roostd(tls_cert):
    """Factory: roostd(extra="", start=True, env=None) -> Roostd. Every daemon
    made is stopped at teardown, which asserts a clean exit 0 and no
    sanitizer report."""
    made = []

    def factory(extra="", start=True, env=None):
        d = Roostd(tls_cert, extra=extra, env=env)
        made.append(d)
        if start:
            d.start()
        return d

    yield factory
    problems = []
    for d in made:
        rc = d.stop()
        text = d.log_text()
        if d.proc is not None and rc != 0 and not getattr(d, "expect_failure", False):
            problems.append("roostd exited with %r:\n%s" % (rc, text[-4000:]))
        report = sanitizer_report(text)
        if report:
            problems.append("sanitizer report from roostd:\n" + report[-8000:])
    for d in made:
        if not problems:
            d.cleanup()
    assert not problems, "\n\n".join(problems)


@pytest.fixture
def roost_cli(roostd):
    """A started roostd and a function running the CLI against its config."""
    d = roostd()
    return d.cli


@pytest.fixture
def make_user():
    """make_user(daemon, address, password): account with a password, via CLI."""
    def make(daemon, address, password):
        daemon.add_user(address, password)
        return address
    return make
