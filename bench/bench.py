#!/usr/bin/python3
"""bench.py - Roost side by side with Dovecot on loopback (issue #7).

    bench/run.sh [--quick] [--scenario NAME[,NAME...]] [--rounds N] [...]

Starts Roost (a snapshot of build/roostd and build/roost, its own config and
data under --state) and a Dovecot peer (../shared/peers/dovecot.sh relative
to the repository), gives both the same users with the same yescrypt hash
and the same generated messages (both through LMTP, driven by
bench/build/loadgen), then runs every scenario A B A B (--rounds rounds,
Roost first) while a sampler thread reads the servers' CPU time and memory
(RSS and PSS summed over all their processes, /proc/<pid>/smaps_rollup).
Prints a table of Roost/Dovecot ratios of the per-round medians and writes
results.json, ratios.dat and chart.png (gnuplot) into bench/results/<time>/.

Scenarios (names for --scenario):
  mixed     imaptest-like IMAP mix at 10, 50, 200 clients (quick: 10, 50)
  idle      N logged-in IMAP connections in IDLE (plaintext and TLS) over
            several loadgen processes and 127.0.0.x sources: memory growth
            per connection, then LMTP delivery to all their users and the
            latency until every connection saw EXISTS
  login     login storm over implicit TLS: connect + TLS + LOGIN + LOGOUT
  pop3      STAT, LIST, RETR of every message of a 10,000-message maildrop
  lmtp      LMTP delivery at 1 and 8 connections (messages/s)
  bigmbox   SELECT, FETCH 1:* (UID FLAGS), UID SEARCH HEADER Subject, SEARCH
            BODY on one big mailbox (--big-count, default 100,000)
  coldstart time from exec to the first IMAP greeting with 10,000 users, and
            the memory then

Uses only the Python standard library. Every loop is bounded: loadgen runs
have durations or counts and hard timeouts, every wait has a deadline."""
import argparse
import ctypes
import ctypes.util
import json
import queue
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
LOADGEN = os.path.join(BENCH, "build", "loadgen")
GEN = os.path.join(BENCH, "gen", "gen.py")
PEER_SCRIPT = os.path.normpath(os.path.join(REPO, "..", "shared", "peers", "dovecot.sh"))
PASSWORD = "bench-pass-7"
DOMAIN = "example.test"
CLK_TCK = os.sysconf("SC_CLK_TCK")
RUN_USER = "roost"

# User numbers (user<N>, user<N>@example.test) of each scenario.
MIXED_USERS = (1, 200)
IDLE_USERS = (201, 300)      # idle and login storm
POP3_USER = 301
BIG_USER = 302
LMTP_USERS = (303, 310)
TOTAL_USERS = 310
COLD_USERS = 10000


def log(*args):
    print("[%s]" % time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def die(msg):
    print("bench.py: " + msg, file=sys.stderr)
    sys.exit(1)


def yescrypt_hash(password):
    """A yescrypt hash of password from libxcrypt (the scheme Roost uses by
    default), so Roost and Dovecot verify the very same hash."""
    lc = ctypes.CDLL(ctypes.util.find_library("crypt"))
    lc.crypt_gensalt.restype = ctypes.c_char_p
    lc.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lc.crypt.restype = ctypes.c_char_p
    lc.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lc.crypt_gensalt(b"$y$", 0, None, 0)
    h = lc.crypt(password.encode(), salt)
    if not salt or not h or not h.startswith(b"$y$"):
        die("libcrypt cannot make a yescrypt hash")
    return h.decode()


# ---- /proc sampling ----

def proc_children_map():
    """pid -> ppid for every process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(")") + 2:].split()
        out[int(name)] = int(fields[1])
    return out


def process_tree(root):
    """root and all its descendants."""
    if root is None:
        return []
    kids = {}
    for pid, ppid in proc_children_map().items():
        kids.setdefault(ppid, []).append(pid)
    tree, todo = [], [root]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(kids.get(p, []))
    return tree


def cpu_seconds(pids, root):
    """utime+stime of pids, plus the reaped children's time of root."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
        if pid == root:
            total += int(fields[13]) + int(fields[14])
    return total / CLK_TCK


def memory_kib(pids):
    """(RSS, PSS) in KiB summed over pids, from smaps_rollup."""
    rss = pss = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


class Sampler(threading.Thread):
    """Samples a server's memory while a measurement runs (every 0.5 s, or
    twice the time a sweep takes when there are thousands of processes)."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server = server
        self.samples = []
        self.halt = threading.Event()

    def sample(self):
        pids = self.server.pids()
        rss, pss = memory_kib(pids)
        self.samples.append((time.monotonic(), rss, pss, len(pids)))

    def run(self):
        while not self.halt.is_set():
            t = time.monotonic()
            self.sample()
            self.halt.wait(max(0.5, 2 * (time.monotonic() - t)))

    def stop(self):
        self.halt.set()
        self.join(timeout=120)
        self.sample()
        rss = [s[1] for s in self.samples]
        pss = [s[2] for s in self.samples]
        return {"rss_start_kib": rss[0], "rss_end_kib": rss[-1], "rss_peak_kib": max(rss),
                "pss_start_kib": pss[0], "pss_end_kib": pss[-1], "pss_peak_kib": max(pss),
                "processes_peak": max(s[3] for s in self.samples), "samples": len(rss)}


def measured(server, fn):
    """Runs fn() with CPU and memory sampling of server; returns fn's dict
    extended with server_cpu_s and the memory figures."""
    pids = server.pids()
    root = server.root_pid()
    cpu0 = cpu_seconds(pids, root)
    sampler = Sampler(server)
    sampler.sample()
    sampler.start()
    t0 = time.monotonic()
    try:
        result = fn()
    finally:
        mem = sampler.stop()
    result["wall_s"] = time.monotonic() - t0
    result["server_cpu_s"] = cpu_seconds(server.pids(), root) - cpu0
    result.update(mem)
    return result


# ---- servers ----

def wait_port(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def first_greeting(port, timeout):
    """Polls until a connection is accepted and greeted; True on success."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(512).startswith(b"* OK"):
                    return True
        except OSError:
            pass
        time.sleep(0.002)
    return False


class Roost:
    name = "roost"

    def __init__(self, state, bindir, cert, key, users, port_base=31000):
        self.dir = state
        self.bindir = bindir
        self.cert, self.key = cert, key
        self.users = users
        self.data = os.path.join(state, "data")
        self.conf = os.path.join(state, "roost.conf")
        self.ports = {"imap": port_base + 143, "imaps": port_base + 993, "pop3": port_base + 110,
                      "pop3s": port_base + 995, "lmtp": port_base + 24}
        self.proc = None
        self.logf = None

    def write_config(self):
        os.makedirs(self.data, exist_ok=True)
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.data, RUN_USER, RUN_USER)
        os.chmod(self.data, 0o700)
        user = RUN_USER if os.geteuid() == 0 else ""
        text = ("# Written by bench/bench.py: Roost for benchmarks, loopback only.\n"
                "data_dir = %s\nuser = %s\nhostname = localhost\nlog_level = warn\n"
                "max_connections = 20000\nmax_connections_per_ip = 20000\n"
                "[tls]\ncert = %s\nkey = %s\n"
                "[auth]\ndefault_domain = %s\nmax_sessions_per_user = 20000\n"
                % (self.data, user, self.cert, self.key, DOMAIN))
        for proto, port in self.ports.items():
            text += "[listener]\nprotocol = %s\naddress = 127.0.0.1\nport = %d\n" % (proto, port)
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o644)

    def cli(self, *args, check=True):
        p = subprocess.run([os.path.join(self.bindir, "roost"), "-c", self.conf, *args],
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
        if check and p.returncode != 0:
            die("roost %s failed (%d): %s" % (" ".join(args), p.returncode,
                                              p.stderr.decode(errors="replace")))
        return p

    def create_users(self, count, pwhash):
        marker = os.path.join(self.dir, "users-%d.done" % count)
        if os.path.exists(marker):
            return
        self.cli("domain", "add", DOMAIN, check=False)
        log("roost: creating %d users with the CLI" % count)
        # Four CLIs at a time; each is a short-lived process.
        cmds = [[os.path.join(self.bindir, "roost"), "-c", self.conf, "user", "add",
                 "user%d@%s" % (i, DOMAIN), "--password-hash", pwhash] for i in range(1, count + 1)]
        running = []
        for cmd in cmds:
            while len(running) >= 4:
                p = running.pop(0)
                if p.wait(timeout=120) not in (0, 73):
                    die("roost user add failed: %s" % p.stderr.read().decode(errors="replace"))
            running.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        for p in running:
            if p.wait(timeout=120) not in (0, 73):
                die("roost user add failed: %s" % p.stderr.read().decode(errors="replace"))
        open(marker, "w").close()

    def start(self, timeout=60):
        self.write_config()
        self.logf = open(os.path.join(self.dir, "roostd.log"), "ab")
        self.t_exec = time.monotonic()
        self.proc = subprocess.Popen([os.path.join(self.bindir, "roostd"), "-c", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        for port in self.ports.values():
            if not wait_port(port, timeout):
                self.stop()
                die("roostd did not listen on %d; see %s/roostd.log" % (port, self.dir))

    def start_cold(self, timeout=60):
        """Starts and returns the seconds until the first IMAP greeting."""
        self.write_config()
        self.logf = open(os.path.join(self.dir, "roostd.log"), "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([os.path.join(self.bindir, "roostd"), "-c", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        if not first_greeting(self.ports["imap"], timeout):
            self.stop()
            die("roostd gave no IMAP greeting within %d s" % timeout)
        return time.monotonic() - t0

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.logf.close()

    def root_pid(self):
        return self.proc.pid if self.proc else None

    def pids(self):
        return process_tree(self.root_pid())

    def lmtp_rcpt_fmt(self):
        return "user%d@" + DOMAIN


class Dovecot:
    name = "dovecot"

    def __init__(self, state, users, pwhash, fsync, fmt, port_base=30000):
        self.dir = state
        self.env = dict(os.environ, PEER_DIR=state, PEER_USERS=str(users), PEER_PASS=PASSWORD,
                        PEER_SCHEME="HASH", PEER_HASH=pwhash, PEER_FSYNC=fsync, PEER_FORMAT=fmt,
                        PEER_PORT_BASE=str(port_base))
        self.ports = {"imap": port_base + 143, "imaps": port_base + 993, "pop3": port_base + 110,
                      "pop3s": port_base + 995, "lmtp": port_base + 24}

    def script(self, cmd, check=True):
        p = subprocess.run(["bash", PEER_SCRIPT, cmd], env=self.env, capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=900)
        if check and p.returncode != 0:
            die("dovecot.sh %s failed: %s%s" % (cmd, p.stdout.decode(errors="replace"),
                                              p.stderr.decode(errors="replace")))
        return p.stdout.decode()

    def wipe(self):
        self.script("wipe", check=False)

    def start(self):
        self.script("start")

    def start_cold(self, timeout=60):
        """Starts the already configured peer (dovecot -c CONF, as
        dovecot.sh does) and returns the seconds until the first IMAP
        greeting."""
        conf = os.path.join(self.dir, "dovecot.conf")
        if not os.path.exists(conf):
            self.script("start")
            self.script("stop")
        t0 = time.monotonic()
        # dovecot forks into the background: its output goes to the log
        # file, not to a pipe the daemon would keep open.
        with open(os.path.join(self.dir, "log", "start.log"), "ab") as logf:
            subprocess.run(["dovecot", "-c", conf], stdin=subprocess.DEVNULL, stdout=logf,
                           stderr=subprocess.STDOUT, check=True, timeout=60)
        if not first_greeting(self.ports["imap"], timeout):
            die("Dovecot gave no IMAP greeting within %d s" % timeout)
        return time.monotonic() - t0

    def stop(self):
        self.script("stop", check=False)

    def root_pid(self):
        try:
            with open(os.path.join(self.dir, "run", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def pids(self):
        return process_tree(self.root_pid())

    def lmtp_rcpt_fmt(self):
        return "user%d@" + DOMAIN


# ---- loadgen ----

def loadgen(args, timeout):
    """Runs loadgen to completion; returns its JSON result."""
    p = subprocess.run([LOADGEN, *[str(a) for a in args]], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    if p.returncode != 0:
        die("loadgen %s failed (%d): %s" % (" ".join(map(str, args)), p.returncode,
                                            p.stderr.decode(errors="replace")[-2000:]))
    err = p.stderr.decode(errors="replace").strip()
    if err:
        log("loadgen said: " + err[-800:])
    return json.loads(p.stdout)


def read_corpus(path):
    """The messages of a corpus file (gen.py's format), as a list of bytes."""
    out = []
    with open(path, "rb") as f:
        if f.readline().strip() != b"ROOSTCORPUS 1":
            die("%s is not a corpus file" % path)
        while True:
            line = f.readline()
            if not line:
                break
            n = int(line)
            out.append(f.read(n))
            if len(out[-1]) != n:
                die("%s is truncated" % path)
    return out


def write_big_maildir(corpus, count, path):
    """A Maildir of count messages (the corpus repeated in order), for
    loading a mailbox too big to deliver one message at a time in the time
    a run has. Names start with a sequence number so both servers see the
    same order; mtimes (the received date both servers read) step by one
    second. Made once and reused (a marker file records the count)."""
    marker = os.path.join(path, "complete-%d" % count)
    if os.path.exists(marker):
        return path
    shutil.rmtree(path, ignore_errors=True)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub))
    msgs = read_corpus(corpus)
    log("writing a Maildir of %d messages -> %s" % (count, path))
    t0 = 1700000000
    for i in range(count):
        name = os.path.join(path, "cur", "%010d.bench.localhost:2," % (i + 1))
        with open(name, "wb") as f:
            f.write(msgs[i % len(msgs)])
        os.chmod(name, 0o644)
        os.utime(name, (t0 + i, t0 + i))
    open(marker, "w").close()
    return path


def load_big_maildir(server, src, user):
    """Puts the Maildir src into user's INBOX: Roost with `roost import`,
    Dovecot by hard-linking the files into its maildir (it indexes them at
    the first SELECT, which the bigmbox scenario does unmeasured)."""
    if isinstance(server, Roost):
        p = subprocess.run([os.path.join(server.bindir, "roost"), "-c", server.conf, "import",
                            "maildir", src, "user%d@%s" % (user, DOMAIN)],
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=100000)
        if p.returncode != 0:
            die("roost import failed (%d): %s" % (p.returncode, p.stderr.decode(errors="replace")))
        return
    home = os.path.join(server.dir, "mail", "user%d" % user)
    md = os.path.join(home, "Maildir")
    st = os.stat(os.path.join(server.dir, "mail"))
    for d in (home, md, os.path.join(md, "cur"), os.path.join(md, "new"), os.path.join(md, "tmp")):
        os.makedirs(d, exist_ok=True)
        os.chown(d, st.st_uid, st.st_gid)
    cur = os.path.join(src, "cur")
    for name in sorted(os.listdir(cur)):
        os.link(os.path.join(cur, name), os.path.join(md, "cur", name))


def wait_idle(server, quiet_s=5, limit_s=1800):
    """wait_all_idle for one server."""
    return wait_all_idle([server], quiet_s, limit_s)


def pipe_lines(pipe, q):
    """Puts every line of pipe on q, then "" at its end."""
    for line in pipe:
        q.put(line)
    q.put("")


def wait_all_idle(servers, quiet_s=3, limit_s=300):
    """Waits until every server used under 2% of one core for quiet_s
    seconds in a row (or limit_s passed); returns the seconds waited.
    quiet_s is longer than the 2 s Roost's search indexer waits after the
    last delivery before it starts."""
    t0 = time.monotonic()
    quiet_since = None
    prev = [cpu_seconds(s.pids(), s.root_pid()) for s in servers]
    while time.monotonic() - t0 < limit_s:
        time.sleep(1)
        cur = [cpu_seconds(s.pids(), s.root_pid()) for s in servers]
        if all(c - p < 0.02 for c, p in zip(cur, prev)):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= quiet_s:
                break
        else:
            quiet_since = None
        prev = cur
    return time.monotonic() - t0


def deliver(server, corpus, first_user, users, messages, clients=8):
    """Delivers messages (corpus order, user first_user + i % users) by LMTP."""
    r = loadgen(["--mode", "lmtp", "--port", server.ports["lmtp"], "--clients", clients,
                 "--messages", messages, "--corpus", corpus, "--users", users,
                 "--user-offset", first_user - 1, "--user-fmt", server.lmtp_rcpt_fmt(),
                 "--duration", 100000], timeout=100000)
    if r["delivered"] != messages:
        die("%s: only %d of %d messages delivered while loading (errors %d)" % (
            server.name, r["delivered"], messages, r["protocol_errors"]))
    return r


def all_commands_p99(r):
    """p99 over the protocol commands (the worst per-command p99, which
    bounds the p99 of the mix)."""
    skip = {"CONNECT", "SESSION", "MESSAGE"}
    return max(v["p99_ms"] for k, v in r["latency"].items() if k not in skip)


# ---- scenarios ----

class Bench:
    def __init__(self, args, roost, dovecot, corpus, big_corpus):
        self.a = args
        self.servers = [roost, dovecot]
        self.corpus = corpus
        self.big_corpus = big_corpus
        self.results = {}      # scenario -> server -> [round dicts]

    def record(self, scenario, server, r):
        self.results.setdefault(scenario, {}).setdefault(server.name, []).append(r)
        brief = {k: v for k, v in r.items() if k != "latency" and not isinstance(v, (list, dict))}
        log("%s %s: %s" % (scenario, server.name, json.dumps(brief)[:600]))

    def rounds(self, scenario, fn):
        for rnd in range(self.a.rounds):
            for srv in self.servers:
                # Every measured run starts with both servers quiet: work
                # left behind by the run before (Roost indexes delivered
                # mail for SEARCH in the background; Dovecot finishes its
                # index updates) is charged to neither server's next run.
                waited = wait_all_idle(self.servers)
                if waited > 10:
                    log("%s: waited %.0f s for both servers to be idle" % (scenario, waited))
                r = fn(srv)
                r["round"] = rnd + 1
                self.record(scenario, srv, r)

    def scale(self, quick, full):
        return quick if self.a.quick else full

    def mixed(self):
        for clients in self.scale((10, 50), (10, 50, 200)):
            def run(srv, clients=clients):
                r = measured(srv, lambda: loadgen([
                    "--mode", "imap-mixed", "--port", srv.ports["imap"], "--clients", clients,
                    "--duration", self.a.duration, "--users", min(clients, 200),
                    "--user-offset", MIXED_USERS[0] - 1, "--pass", PASSWORD,
                    "--corpus", self.corpus], timeout=self.a.duration + 300))
                r["p99_all_ms"] = all_commands_p99(r)
                return r
            self.rounds("mixed-%d" % clients, run)

    def idle(self):
        n = self.a.idle_count
        procs = max(2, -(-n // 4000))
        for tls in [m == "tls" for m in self.a.idle_modes.split(",")]:
            def run(srv, tls=tls):
                # A fresh server: Dovecot keeps idle imap processes for a
                # while after their clients leave, which would hide growth.
                srv.stop()
                srv.start()
                time.sleep(2)
                return self.idle_once(srv, n, procs, tls)
            self.rounds("idle-%s" % ("tls" if tls else "plain"), run)

    def idle_once(self, srv, n, procs, tls):
        before = memory_kib(srv.pids())
        cpu0 = cpu_seconds(srv.pids(), srv.root_pid())
        port = srv.ports["imaps" if tls else "imap"]
        per = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
        users = IDLE_USERS[1] - IDLE_USERS[0] + 1
        gens = []
        t0 = time.monotonic()
        for i, count in enumerate(per):
            cmd = [LOADGEN, "--mode", "idle", "--port", str(port), "--clients", str(count),
                   "--source", "127.0.0.%d" % (2 + i), "--users", str(users),
                   "--user-offset", str(IDLE_USERS[0] - 1), "--pass", PASSWORD,
                   "--ramp", "100", "--min-mem-mb", "2048"] + (["--tls"] if tls else [])
            gens.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True, bufsize=1))
        ready = failed = 0
        deadline = time.monotonic() + 120 + n * 0.1
        for g in gens:
            # loadgen prints "READY <n> failed=<m>" on stderr once settled;
            # read by a thread so that a loadgen that never settles cannot
            # hold the run past the deadline.
            lines = queue.Queue()
            threading.Thread(target=pipe_lines, args=(g.stderr, lines), daemon=True).start()
            while True:
                try:
                    line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    line = None
                if line is None or time.monotonic() > deadline:
                    for x in gens:
                        x.kill()
                    die("idle connections did not settle in time")
                if not line:
                    die("idle loadgen exited early")
                if line.startswith("READY"):
                    parts = line.split()
                    ready += int(parts[1])
                    failed += int(parts[2].split("=")[1])
                    break
                log("idle loadgen: " + line.strip())
        setup_s = time.monotonic() - t0
        time.sleep(3)
        after = memory_kib(srv.pids())
        # One message to one user (its connections are a 1/100 of all),
        # then one message to every idle user in a single transaction.
        one, one_ack = self.idle_delivery(srv, gens, [IDLE_USERS[0]], IDLE_USERS[0])
        time.sleep(1)
        lat, all_ack = self.idle_delivery(srv, gens, range(IDLE_USERS[0], IDLE_USERS[1] + 1), 0)
        cpu1 = cpu_seconds(srv.pids(), srv.root_pid())
        for g in gens:
            try:
                g.stdin.write("quit\n")
                g.stdin.close()
            except OSError:
                pass
        for g in gens:
            try:
                g.wait(60)
            except subprocess.TimeoutExpired:
                g.kill()
        lat.sort()
        one.sort()

        def pct(xs, q):
            return xs[min(len(xs) - 1, int(q * len(xs)))] / 1000.0 if xs else None
        return {"connections": ready, "failed": failed, "tls": tls, "setup_s": setup_s,
                "rss_before_kib": before[0], "rss_after_kib": after[0],
                "pss_before_kib": before[1], "pss_after_kib": after[1],
                "rss_per_conn_kib": (after[0] - before[0]) / max(1, ready),
                "pss_per_conn_kib": (after[1] - before[1]) / max(1, ready),
                "one_user_conns": len(one), "one_user_ack_ms": one_ack * 1000,
                "one_user_exists_p50_ms": pct(one, 0.5),
                "one_user_exists_max_ms": one[-1] / 1000.0 if one else None,
                "all_ack_ms": all_ack * 1000, "exists_seen": len(lat),
                "exists_missing": ready - len(lat), "exists_p50_ms": pct(lat, 0.5),
                "exists_p99_ms": pct(lat, 0.99), "exists_max_ms": lat[-1] / 1000.0 if lat else None,
                "server_cpu_s": cpu1 - cpu0}

    def idle_delivery(self, srv, gens, users, report_user):
        """One LMTP transaction to users; T0 is taken just before the final
        dot. Returns (EXISTS latency of every connection of report_user, or
        of all connections if 0, in us; seconds until the last 250)."""
        s = socket.create_connection(("127.0.0.1", srv.ports["lmtp"]), timeout=60)
        f = s.makefile("rb")

        def reply():
            while True:
                line = f.readline()
                if not line:
                    die("%s: LMTP closed during the IDLE delivery" % srv.name)
                if line[3:4] != b"-":
                    return line

        reply()
        s.sendall(b"LHLO bench.test\r\n")
        reply()
        s.sendall(b"MAIL FROM:<bench@bench.test>\r\n")
        reply()
        for u in users:
            s.sendall(b"RCPT TO:<user%d@%s>\r\n" % (u, DOMAIN.encode()))
            line = reply()
            if not line.startswith(b"250"):
                die("%s: RCPT refused: %r" % (srv.name, line))
        s.sendall(b"DATA\r\n")
        reply()
        s.sendall(b"From: bench@bench.test\r\nSubject: wake up\r\n\r\nNew mail for IDLE.\r\n")
        t0 = time.monotonic_ns()
        s.sendall(b".\r\n")
        for _ in users:
            line = reply()
            if not line.startswith(b"250"):
                log("%s: delivery reply %r" % (srv.name, line))
        ack_s = (time.monotonic_ns() - t0) / 1e9
        s.sendall(b"QUIT\r\n")
        s.close()
        lat = []
        for g in gens:
            g.stdin.write("report %d 40000 %d\n" % (t0, report_user))
            g.stdin.flush()
        for g in gens:
            line = g.stdout.readline()
            if not line:
                die("idle loadgen gave no report")
            lat += json.loads(line)["lat_us"]
        return lat, ack_s

    def login(self):
        def run(srv):
            users = IDLE_USERS[1] - IDLE_USERS[0] + 1
            return measured(srv, lambda: loadgen([
                "--mode", "login", "--port", srv.ports["imaps"], "--tls", "--clients",
                self.a.login_clients, "--duration", self.a.duration, "--users", users,
                "--user-offset", IDLE_USERS[0] - 1, "--pass", PASSWORD],
                timeout=self.a.duration + 300))
        self.rounds("login-tls", run)

    def pop3(self):
        def run(srv):
            r = measured(srv, lambda: loadgen([
                "--mode", "pop3", "--port", srv.ports["pop3"], "--users", 1,
                "--user-offset", POP3_USER - 1, "--pass", PASSWORD], timeout=3600))
            r["retrieved"] = r["latency"].get("RETR", {}).get("count", 0)
            r["pss_growth_kib"] = r["pss_peak_kib"] - r["pss_start_kib"]
            return r
        self.rounds("pop3", run)

    def lmtp(self):
        for clients, count in ((1, self.a.lmtp_messages // 4), (8, self.a.lmtp_messages)):
            def run(srv, clients=clients, count=count):
                users = LMTP_USERS[1] - LMTP_USERS[0] + 1
                return measured(srv, lambda: loadgen([
                    "--mode", "lmtp", "--port", srv.ports["lmtp"], "--clients", clients,
                    "--messages", count, "--corpus", self.corpus, "--users", users,
                    "--user-offset", LMTP_USERS[0] - 1, "--user-fmt", srv.lmtp_rcpt_fmt(),
                    "--duration", 3600], timeout=4000))
            self.rounds("lmtp-%d" % clients, run)

    def bigmbox(self):
        def run(srv):
            r = measured(srv, lambda: loadgen([
                "--mode", "bigmbox", "--port", srv.ports["imap"], "--users", 1,
                "--user-offset", BIG_USER - 1, "--pass", PASSWORD, "--header-name", "Subject",
                "--header-value", "zebracorn", "--body-word", "quokka"], timeout=3600))
            for k, name in (("SELECT", "select_ms"), ("FETCH_UID_FLAGS_ALL", "fetch_all_ms"),
                            ("UID_SEARCH_HEADER", "search_header_ms"),
                            ("SEARCH_BODY", "search_body_ms")):
                r[name] = r["latency"].get(k, {}).get("max_ms")
            return r
        # A first, unmeasured pass lets both servers build their caches and
        # indexes (Dovecot indexes a maildir at first SELECT, Roost's search
        # index is built in the background after delivery and by SEARCH);
        # then each server is left until it is idle, so no round measures
        # indexing that is still going on.
        for srv in self.servers:
            loadgen(["--mode", "bigmbox", "--port", srv.ports["imap"], "--users", 1,
                     "--user-offset", BIG_USER - 1, "--pass", PASSWORD, "--header-value",
                     "zebracorn", "--body-word", "quokka"], timeout=3600)
        for srv in self.servers:
            waited = wait_idle(srv)
            log("%s: idle after %.0f s" % (srv.name, waited))
        self.rounds("bigmbox", run)

    def coldstart(self, cold_roost, cold_dovecot):
        def run(srv):
            srv.stop()
            time.sleep(1)
            # Drop the page cache so "cold" means cold for both.
            subprocess.run(["sync"])
            try:
                with open("/proc/sys/vm/drop_caches", "w") as f:
                    f.write("3\n")
            except OSError:
                pass
            secs = srv.start_cold()
            time.sleep(1)
            rss, pss = memory_kib(srv.pids())
            srv.stop()
            return {"first_greeting_s": secs, "rss_kib": rss, "pss_kib": pss,
                    "processes": None}
        for rnd in range(self.a.rounds):
            for srv in (cold_roost, cold_dovecot):
                r = run(srv)
                r["round"] = rnd + 1
                self.record("coldstart", srv, r)


# Per scenario: (metric, label, higher is better, target ratio Roost/Dovecot or None,
# absolute target for Roost or None)
METRICS = {
    "mixed-10": [("commands_per_s", "cmd/s", True, 1.5, None), ("p99_all_ms", "worst p99 ms", False, 1.0, None)],
    "mixed-50": [("commands_per_s", "cmd/s", True, 1.5, None), ("p99_all_ms", "worst p99 ms", False, 1.0, None)],
    "mixed-200": [("commands_per_s", "cmd/s", True, 1.5, None), ("p99_all_ms", "worst p99 ms", False, 1.0, None)],
    "idle-plain": [("rss_per_conn_kib", "RSS KiB/conn", False, None, 20), ("pss_per_conn_kib", "PSS KiB/conn", False, None, 20),
                   ("one_user_exists_max_ms", "1 rcpt: EXISTS max ms", False, None, 100),
                   ("exists_max_ms", "100 rcpt: EXISTS max ms", False, None, None)],
    "idle-tls": [("rss_per_conn_kib", "RSS KiB/conn", False, None, 40), ("pss_per_conn_kib", "PSS KiB/conn", False, None, 40),
                 ("one_user_exists_max_ms", "1 rcpt: EXISTS max ms", False, None, 100),
                 ("exists_max_ms", "100 rcpt: EXISTS max ms", False, None, None)],
    "login-tls": [("sessions_per_s", "logins/s", True, 2.0, None)],
    "pop3": [("retr_bytes_per_s", "RETR bytes/s", True, 1.5, None), ("pss_growth_kib", "PSS growth KiB", False, None, None)],
    "lmtp-1": [("delivered_per_s", "msg/s", True, 2.0, None)],
    "lmtp-8": [("delivered_per_s", "msg/s", True, 2.0, None)],
    "bigmbox": [("select_ms", "SELECT ms", False, 1.0, None), ("fetch_all_ms", "FETCH 1:* ms", False, 1.0, None),
                ("search_header_ms", "UID SEARCH HEADER ms", False, 1.0, None),
                ("search_body_ms", "SEARCH BODY ms", False, 0.1, None)],
    "coldstart": [("first_greeting_s", "first greeting s", False, None, 1.0), ("pss_kib", "PSS KiB", False, None, None)],
}


def summarize(results):
    rows = []
    for scenario, per in results.items():
        for key, label, higher, target, absolute in METRICS.get(scenario, []):
            vals = {}
            for name in ("roost", "dovecot"):
                xs = [r.get(key) for r in per.get(name, []) if r.get(key) is not None]
                vals[name] = statistics.median(xs) if xs else None
            ratio = None
            if vals["roost"] is not None and vals["dovecot"]:
                ratio = vals["roost"] / vals["dovecot"]
            verdict = ""
            if target is not None and ratio is not None:
                ok = ratio >= target if higher else ratio <= target
                verdict = ("meets" if ok else "MISSES") + " %s%g" % (">=" if higher else "<=", target)
            if absolute is not None and vals["roost"] is not None:
                ok = vals["roost"] <= absolute
                verdict += (" " if verdict else "") + ("meets" if ok else "MISSES") + " <=%g" % absolute
            rows.append({"scenario": scenario, "metric": key, "label": label, "roost": vals["roost"],
                         "dovecot": vals["dovecot"], "ratio": ratio, "higher_is_better": higher,
                         "verdict": verdict, "rounds": len(per.get("roost", []))})
    return rows


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.3f" % v


def print_table(rows, out):
    head = "%-11s %-22s %14s %14s %9s  %s" % ("scenario", "metric", "roost", "dovecot",
                                               "R/D", "target")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append("%-11s %-22s %14s %14s %9s  %s" % (
            r["scenario"], r["label"], fmt(r["roost"]), fmt(r["dovecot"]),
            "%.2f" % r["ratio"] if r["ratio"] is not None else "-", r["verdict"]))
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(out, "table.txt"), "w") as f:
        f.write(text + "\n")


def chart(rows, out):
    """ratios.dat and chart.png: Roost/Dovecot per metric, oriented so that
    above 1 is better for Roost (lower-is-better metrics are inverted)."""
    dat = os.path.join(out, "ratios.dat")
    with open(dat, "w") as f:
        for r in rows:
            if r["ratio"] is None or r["ratio"] <= 0:
                continue
            adv = r["ratio"] if r["higher_is_better"] else 1.0 / r["ratio"]
            f.write('"%s %s" %g\n' % (r["scenario"], r["label"], adv))
    if shutil.which("gnuplot") is None:
        log("gnuplot missing: no chart.png")
        return
    script = """set terminal pngcairo size 1400,700 noenhanced
set output '%s'
set title 'Roost advantage over Dovecot (>1: Roost better; median of rounds)'
set style fill solid 0.6
set boxwidth 0.7
set logscale y 2
set xtics rotate by -40 font ',9'
set ylabel 'advantage (x)'
set grid ytics
plot '%s' using 0:2:xtic(1) with boxes notitle, 1 with lines lw 2 title 'parity'
""" % (os.path.join(out, "chart.png"), dat)
    p = subprocess.run(["gnuplot"], input=script.encode(), capture_output=True)
    if p.returncode != 0:
        # pngcairo may be missing from gnuplot-nox builds; plain png works.
        script = script.replace("pngcairo", "png")
        subprocess.run(["gnuplot"], input=script.encode(), capture_output=True)


def corpus_file(cache, count, max_size, seed=20250601):
    path = os.path.join(cache, "corpus-%d-%d-%d" % (count, max_size, seed))
    if not os.path.exists(path):
        log("generating %d messages -> %s" % (count, path))
        subprocess.run(["/usr/bin/python3", GEN, "--count", str(count), "--max-size",
                        str(max_size), "--seed", str(seed), "--out", path], check=True)
    return path


def make_cert(directory):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o644)
    return cert, key


def main():
    ap = argparse.ArgumentParser(description="Roost vs Dovecot benchmarks (bench/run.sh)")
    ap.add_argument("--quick", action="store_true", help="scaled-down counts (a few minutes)")
    ap.add_argument("--scenario", default="all",
                    help="comma list of: mixed idle login pop3 lmtp bigmbox coldstart (default all)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--duration", type=float, help="seconds per timed run (quick 5, full 20)")
    ap.add_argument("--idle-count", type=int, help="IDLE connections (quick 1000, full 15000)")
    ap.add_argument("--idle-modes", default="plain,tls",
                    help="idle scenario variants: plain, tls or plain,tls (default)")
    ap.add_argument("--pop3-count", type=int, help="POP3 maildrop size (quick 1000, full 10000)")
    ap.add_argument("--big-count", type=int, help="big mailbox size (quick 5000, full 100000)")
    ap.add_argument("--big-load", choices=("lmtp", "maildir"),
                    help="how the big mailbox is filled: lmtp (one delivery per message) or maildir "
                         "(roost import / files linked into Dovecot's maildir; default for "
                         "--big-count above 200000)")
    ap.add_argument("--mixed-messages", type=int, help="messages per mixed user (quick 20, full 50)")
    ap.add_argument("--lmtp-messages", type=int, help="LMTP messages at 8 connections; a quarter at 1 (quick 400, full 4000)")
    ap.add_argument("--login-clients", type=int, default=20)
    ap.add_argument("--peer-fsync", default="optimized", choices=("optimized", "always"),
                    help="Dovecot's mail_fsync (never is refused: acknowledged mail must be durable)")
    ap.add_argument("--peer-format", default="maildir", choices=("maildir", "sdbox", "mdbox"))
    ap.add_argument("--state", default="/var/tmp/roost-bench", help="server state (needs room)")
    ap.add_argument("--out", help="result folder (default bench/results/<time>)")
    ap.add_argument("--keep", action="store_true", help="leave both servers' data after the run")
    a = ap.parse_args()
    q = a.quick
    a.duration = a.duration or (5 if q else 20)
    a.idle_count = a.idle_count or (1000 if q else 15000)
    a.pop3_count = a.pop3_count or (1000 if q else 10000)
    a.big_count = a.big_count or (5000 if q else 100000)
    a.big_load = a.big_load or ("maildir" if a.big_count > 200000 else "lmtp")
    a.mixed_messages = a.mixed_messages or (20 if q else 50)
    a.lmtp_messages = a.lmtp_messages or (400 if q else 4000)
    if not set(a.idle_modes.split(",")) <= {"plain", "tls"}:
        die("--idle-modes takes plain, tls or plain,tls")
    if a.rounds < 1:
        die("--rounds must be at least 1")
    known = ["mixed", "idle", "login", "pop3", "lmtp", "bigmbox", "coldstart"]
    scenarios = known if a.scenario == "all" else a.scenario.split(",")
    for s in scenarios:
        if s not in known:
            die("unknown scenario %s (known: %s)" % (s, " ".join(known)))
    if not os.path.exists(PEER_SCRIPT):
        die("the Dovecot peer script is missing: %s (expected at ../shared/peers/dovecot.sh "
            "relative to the repository)" % PEER_SCRIPT)
    for b in ("roostd", "roost"):
        if not os.access(os.path.join(REPO, "build", b), os.X_OK):
            die("build/%s is missing: run make first" % b)
    if not os.access(LOADGEN, os.X_OK):
        die("%s is missing: run make -C bench/loadgen" % LOADGEN)

    out = a.out or os.path.join(BENCH, "results", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    os.makedirs(a.state, exist_ok=True)
    os.chmod(a.state, 0o755)
    cache = os.path.join(BENCH, "results", "corpus")
    os.makedirs(cache, exist_ok=True)

    # Others rebuild build/ while we run: benchmark a snapshot of it.
    bindir = os.path.join(out, "bin")
    os.makedirs(bindir, exist_ok=True)
    for b in ("roostd", "roost"):
        shutil.copy2(os.path.join(REPO, "build", b), os.path.join(bindir, b))
    os.chmod(out, 0o755)
    os.chmod(bindir, 0o755)
    commit = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()

    # Dovecot's IDLE uses inotify, one instance per imap process; the
    # default of 128 per user would push it to 30 s polling beyond 128
    # connections. Raising the limit only helps the peer.
    try:
        with open("/proc/sys/fs/inotify/max_user_instances") as f:
            if int(f.read()) < 32768:
                with open("/proc/sys/fs/inotify/max_user_instances", "w") as w:
                    w.write("32768\n")
    except OSError as e:
        log("could not raise fs.inotify.max_user_instances: %s" % e)

    pwhash = yescrypt_hash(PASSWORD)
    corpus = corpus_file(cache, 10000, 6 * 1024 * 1024)
    big_corpus = corpus_file(cache, 20000, 64 * 1024)
    big_maildir = None
    if "bigmbox" in scenarios and a.big_load == "maildir":
        big_maildir = write_big_maildir(big_corpus, a.big_count,
                                        os.path.join(a.state, "maildir-%d" % a.big_count))
    state = os.path.join(a.state, "main")
    shutil.rmtree(state, ignore_errors=True)
    os.makedirs(state)
    cert, key = make_cert(a.state)
    roost = Roost(os.path.join(state, "roost"), bindir, cert, key, TOTAL_USERS)
    os.makedirs(roost.dir, exist_ok=True)
    dovecot = Dovecot(os.path.join(state, "roost-peer-dovecot"), TOTAL_USERS, pwhash,
                      a.peer_fsync, a.peer_format)
    meta = {"commit": commit, "args": vars(a), "machine": {
        "cpus": os.cpu_count(), "mem_kib": int(open("/proc/meminfo").readline().split()[1]),
        "kernel": os.uname().release}, "password_hash": "yescrypt (same hash on both)",
        "roost_fsync": "always (every acknowledged message is fsynced; not configurable)",
        "dovecot_fsync": a.peer_fsync, "dovecot_format": a.peer_format}
    bench = Bench(a, roost, dovecot, corpus, big_corpus)
    try:
        needs_servers = [s for s in scenarios if s != "coldstart"]
        if needs_servers:
            roost.write_config()
            roost.create_users(TOTAL_USERS, pwhash)
            roost.start()
            dovecot.wipe()
            dovecot.start()
            meta["dovecot_version"] = subprocess.run(["dovecot", "--version"], capture_output=True,
                                                     text=True).stdout.strip()
            for srv in (roost, dovecot):
                t = time.monotonic()
                if "mixed" in scenarios:
                    deliver(srv, corpus, MIXED_USERS[0], MIXED_USERS[1] - MIXED_USERS[0] + 1,
                            (MIXED_USERS[1] - MIXED_USERS[0] + 1) * a.mixed_messages)
                if "pop3" in scenarios:
                    deliver(srv, corpus, POP3_USER, 1, a.pop3_count)
                if "bigmbox" in scenarios and a.big_load == "lmtp":
                    deliver(srv, big_corpus, BIG_USER, 1, a.big_count)
                elif "bigmbox" in scenarios:
                    load_big_maildir(srv, big_maildir, BIG_USER)
                log("%s: loaded in %.1f s" % (srv.name, time.monotonic() - t))
            # Loading leaves gigabytes of dirty pages; their write-back
            # would slow the first measured fsyncs of whichever server
            # comes first. Flush them before measuring.
            subprocess.run(["sync"], timeout=600)
            time.sleep(3)
        for s in scenarios:
            if s == "coldstart":
                continue
            log("scenario %s" % s)
            getattr(bench, s)()
        if "coldstart" in scenarios:
            roost.stop()
            dovecot.stop()
            cold_dir = os.path.join(a.state, "cold")
            os.makedirs(cold_dir, exist_ok=True)
            cold_roost = Roost(cold_dir, bindir, cert, key, COLD_USERS)
            cold_roost.write_config()
            cold_roost.create_users(COLD_USERS, pwhash)
            cold_dovecot = Dovecot(os.path.join(a.state, "cold-roost-peer-dovecot"), COLD_USERS,
                                   pwhash, a.peer_fsync, a.peer_format)
            cold_dovecot.script("start")
            cold_dovecot.stop()
            bench.coldstart(cold_roost, cold_dovecot)
    finally:
        roost.stop()
        dovecot.stop()
        if not a.keep:
            dovecot.wipe()
            shutil.rmtree(state, ignore_errors=True)
        # Whatever finished is kept, even when a later scenario failed.
        report(bench, meta, out)


def report(bench, meta, out):
    rows = summarize(bench.results)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"meta": meta, "summary": rows, "runs": bench.results}, f, indent=1)
    print_table(rows, out)
    chart(rows, out)
    log("results in %s" % out)


if __name__ == "__main__":
    main()
