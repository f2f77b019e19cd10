"""The `roost` admin CLI: every account command, good and bad input, exact
exit codes and messages, --json parsed with json.loads, and SASL exchanges
(PLAIN, LOGIN, SCRAM-SHA-256 with a client written here with hashlib/hmac)
through `roost auth sasl`, which drives the same mechanisms the protocols
use."""
import base64
import hashlib
import hmac
import json
import os
import re
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ROOST_BUILD", os.path.join(REPO, "build"))
ROOST = os.path.join(BUILD, "roost")

EX_OK, EX_USAGE, EX_DATAERR, EX_NOUSER = 0, 64, 65, 67
EX_CANTCREAT, EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = 73, 75, 77, 78


class Cli:
    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.conf = tmp_path / "roost.conf"
        # user = (empty): never drop privileges in tests, whoever runs them.
        self.conf.write_text(
            "data_dir = %s\n"
            "user =\n"
            "[auth]\n"
            "default_domain = example.com\n"
            "password_scheme = sha512-crypt\n"
            "[account]\n"
            "quota_bytes = 1G\n" % (tmp_path / "data"))

    def run(self, *args, input=None, env=None):
        e = dict(os.environ)
        e.pop("ROOST_CONFIG", None)
        if env:
            e.update(env)
        p = subprocess.run([ROOST, "-c", str(self.conf), *args], input=input,
                           capture_output=True, text=True, env=e, timeout=60,
                           stdin=None if input is not None else subprocess.DEVNULL)
        return p

    def ok(self, *args, input=None):
        p = self.run(*args, input=input)
        assert p.returncode == EX_OK, (args, p.returncode, p.stdout, p.stderr)
        return p

    def json(self, *args, input=None):
        return json.loads(self.ok(*args, "--json", input=input).stdout)

    def fails(self, code, message, *args, input=None):
        p = self.run(*args, input=input)
        assert p.returncode == code, (args, p.returncode, p.stdout, p.stderr)
        first = p.stderr.splitlines()[0] if p.stderr else ""
        assert first == message, (first, p.stderr)
        return p


@pytest.fixture
def request_cleanup():
    todo = []
    yield todo
    for fn in todo:
        fn()


@pytest.fixture
def cli(tmp_path):
    c = Cli(tmp_path)
    c.ok("domain", "add", "example.com")
    return c


def add_user(cli, addr, pw="pw-" + "x" * 8):
    return cli.ok("user", "add", addr, "--password-stdin", input=pw + "\n")


# --- global usage -------------------------------------------------------

def test_no_command_is_usage(tmp_path):
    c = Cli(tmp_path)
    p = c.run()
    assert p.returncode == EX_USAGE
    assert p.stderr.startswith("usage: roost [-c CONFIG] COMMAND")


def test_unknown_command(tmp_path):
    Cli(tmp_path).fails(EX_USAGE, "roost: unknown command 'frobnicate'", "frobnicate")


def test_unknown_global_option(tmp_path):
    p = subprocess.run([ROOST, "--bogus"], capture_output=True, text=True)
    assert p.returncode == EX_USAGE
    assert p.stderr.splitlines()[0] == "roost: unknown option '--bogus'"


def test_help_lists_commands(tmp_path):
    p = Cli(tmp_path).ok("help")
    for cmd in ("user add", "alias add", "domain add", "app-password add"):
        assert "roost " + cmd in p.stdout
    p = Cli(tmp_path).ok("help", "domain")
    assert p.stdout.startswith("usage: roost domain add DOMAIN")
    p = Cli(tmp_path).ok("user", "add", "--help")
    assert p.stdout.startswith("usage: roost user add ADDRESS")


def test_accounts_db_is_private(cli):
    import stat
    mode = stat.S_IMODE(os.stat(cli.dir / "data" / "accounts.db").st_mode)
    assert mode == 0o600, oct(mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_root_drops_to_configured_user(tmp_path, request_cleanup):
    import pwd
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody'")
    import pathlib
    import shutil
    import tempfile
    # pytest's tmp_path lives under a root-only directory: use one in /tmp.
    base = pathlib.Path(tempfile.mkdtemp(prefix="roost-cli-drop-", dir="/tmp"))
    request_cleanup.append(lambda: shutil.rmtree(base, ignore_errors=True))
    os.chmod(base, 0o777)
    conf = tmp_path / "drop.conf"
    conf.write_text("data_dir = %s\nuser = nobody\n" % (base / "data"))
    p = subprocess.run([ROOST, "-c", str(conf), "domain", "add", "example.com"],
                       capture_output=True, text=True)
    assert p.returncode == EX_OK, p.stderr
    st = os.stat(base / "data" / "accounts.db")
    assert (st.st_uid, st.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    conf.write_text("data_dir = %s\nuser = no-such-user-here\n" % (base / "data"))
    p = subprocess.run([ROOST, "-c", str(conf), "domain", "list"], capture_output=True,
                       text=True)
    assert p.returncode == EX_CONFIG
    assert p.stderr.startswith("roost: cannot switch to user 'no-such-user-here': ")


def test_missing_config(tmp_path):
    p = subprocess.run([ROOST, "-c", str(tmp_path / "nope.conf"), "user", "list"],
                       capture_output=True, text=True)
    assert p.returncode == EX_CONFIG
    assert "nope.conf" in p.stderr


def test_config_from_environment(tmp_path):
    c = Cli(tmp_path)
    p = subprocess.run([ROOST, "domain", "add", "env.example"], capture_output=True, text=True,
                       env=dict(os.environ, ROOST_CONFIG=str(c.conf)))
    assert p.returncode == EX_OK, p.stderr
    assert "env.example" in c.ok("domain", "list").stdout


# --- domains ------------------------------------------------------------

def test_domain_commands(cli):
    cli.fails(EX_CANTCREAT, "roost: domain add: domain example.com already exists",
              "domain", "add", "EXAMPLE.com")
    cli.fails(EX_DATAERR, "roost: domain add: invalid domain 'bad..com': empty label in domain",
              "domain", "add", "bad..com")
    cli.fails(EX_USAGE, "roost: domain add: missing domain", "domain", "add")
    cli.fails(EX_USAGE, "roost: domain: unknown subcommand 'rm'", "domain", "rm", "x.org")
    assert cli.json("domain", "add", "例子.中国") == {"added": "例子.中国"}
    doms = cli.json("domain", "list")
    assert [d["domain"] for d in doms] == ["example.com", "例子.中国"]
    assert doms[0]["accounts"] == 0 and doms[0]["aliases"] == 0
    add_user(cli, "a@example.com")
    cli.fails(EX_DATAERR, "roost: domain del: domain example.com still has 1 account(s) and "
              "0 alias(es); delete them first", "domain", "del", "example.com")
    cli.fails(EX_NOUSER, "roost: domain del: domain nowhere.net does not exist",
              "domain", "del", "nowhere.net")
    assert cli.json("domain", "del", "例子.中国") == {"deleted": "例子.中国"}
    assert [d["domain"] for d in cli.json("domain", "list")] == ["example.com"]


# --- users --------------------------------------------------------------

def test_user_add_and_errors(cli):
    p = add_user(cli, "Bob@Example.com")
    assert re.fullmatch(r"created bob@example\.com \(id \d+, store u\d+\)\n", p.stdout)
    cli.fails(EX_CANTCREAT, "roost: user add: bob@example.com already exists",
              "user", "add", "bob@example.com", "--password-stdin", input="x\n")
    cli.fails(EX_NOUSER, "roost: user add: domain nowhere.org does not exist "
              "(add it with: roost domain add nowhere.org)",
              "user", "add", "bob@nowhere.org", "--password-stdin", input="x\n")
    cli.fails(EX_DATAERR, "roost: user add: invalid address 'bo b@example.com': "
              "character ' ' not allowed in local part",
              "user", "add", "bo b@example.com", "--password-stdin", input="x\n")
    cli.fails(EX_DATAERR, "roost: user add: invalid address '@example.com': empty local part",
              "user", "add", "@example.com", "--password-stdin", input="x\n")
    cli.fails(EX_USAGE, "roost: user add: missing address", "user", "add")
    cli.fails(EX_USAGE, "roost: user add: too many arguments", "user", "add", "a@example.com",
              "b@example.com")
    cli.fails(EX_USAGE, "roost: user add: unknown option '--password'", "user", "add",
              "c@example.com", "--password", "secret")
    cli.fails(EX_USAGE, "roost: user: missing subcommand", "user")
    cli.fails(EX_USAGE, "roost: user: unknown subcommand 'create'", "user", "create", "x")
    # No terminal and no --password-stdin: refuse (passwords never on argv).
    cli.fails(EX_USAGE, "roost: user add: no terminal to ask for the password; use "
              "--password-stdin", "user", "add", "carol@example.com")
    cli.fails(EX_DATAERR, "roost: user add: no password on standard input",
              "user", "add", "carol@example.com", "--password-stdin", input="")
    cli.fails(EX_DATAERR, "roost: user add: empty password refused",
              "user", "add", "carol@example.com", "--password-stdin", input="\n")
    # Default domain for a bare local part.
    a = cli.json("user", "add", "dave", "--password-stdin", input="davepw\n")
    assert a["address"] == "dave@example.com"
    assert a["user_key"] == "u%d" % a["id"]
    assert a["quota_bytes"] == 1 << 30       # from [account] quota_bytes
    assert a["password_scheme"] == "sha512-crypt"
    assert a["imap"] is True and a["pop3"] is True and a["state"] == "active"


def run_with_tty(cli, args, answers):
    """Runs roost with a pseudo-terminal as its controlling terminal and
    answers its password prompts one at a time (an answer typed before its
    prompt would be flushed when echo is turned off). Returns (exit code,
    everything shown)."""
    import pty
    import select
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(ROOST, [ROOST, "-c", str(cli.conf), *args])
    shown = b""

    def read_some():
        r, _, _ = select.select([fd], [], [], 20)
        if not r:
            raise TimeoutError(shown)
        try:
            return os.read(fd, 1024)
        except OSError:         # EIO: the child closed the terminal
            return b""

    for k, answer in enumerate(answers):
        while shown.count(b"Password") <= k or not shown.endswith(b": "):
            chunk = read_some()
            if not chunk:
                break
            shown += chunk
        os.write(fd, answer.encode() + b"\n")
    while True:
        chunk = read_some()
        if not chunk:
            break
        shown += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode()


def test_password_prompt_on_terminal(cli):
    code, shown = run_with_tty(cli, ["user", "add", "tty@example.com"], ["s3cret", "s3cret"])
    assert code == EX_OK, shown
    assert "Password: " in shown and "Password (again): " in shown
    assert "s3cret" not in shown            # no echo
    assert cli.run("auth", "test", "tty", "--password-stdin",
                   input="s3cret\n").returncode == EX_OK
    code, shown = run_with_tty(cli, ["user", "passwd", "tty"], ["one", "two"])
    assert code == EX_DATAERR
    assert "roost: user passwd: the passwords do not match" in shown
    code, shown = run_with_tty(cli, ["auth", "test", "tty"], ["s3cret"])
    assert code == EX_OK and "OK tty@example.com" in shown


def test_user_add_imported_hash(cli):
    # openssl passwd -6 -salt saltsalt pencil
    h = ("$6$saltsalt$rD9fW1BwIrjB90WCgCTdIQc3phTBhf04I6Iw/XlgKD9E9aEbzqGZipjiFxGo/"
         "4wWXDA6jV6/vZO.kKdDSfUJb0")
    a = cli.json("user", "add", "imp@example.com", "--password-hash", h)
    assert a["password_scheme"] == "sha512-crypt"
    assert cli.run("auth", "test", "imp@example.com", "--password-stdin",
                   input="pencil\n").returncode == EX_OK
    assert cli.run("auth", "test", "imp@example.com", "--password-stdin",
                   input="Pencil\n").returncode == EX_NOPERM
    cli.fails(EX_DATAERR, "roost: user add: unsupported password hash (expected $y$, $6$, $5$, "
              "$2y$ or $2b$)", "user", "add", "imp2@example.com", "--password-hash",
              "{PLAIN}pencil")
    cli.fails(EX_DATAERR, "roost: user add: malformed password hash",
              "user", "add", "imp2@example.com", "--password-hash", "$6$")
    cli.fails(EX_USAGE, "roost: user add: --password-hash and --password-stdin exclude each "
              "other", "user", "add", "imp2@example.com", "--password-hash", h,
              "--password-stdin")


def test_user_list_show(cli):
    add_user(cli, "zed@example.com")
    add_user(cli, "amy@example.com")
    cli.ok("domain", "add", "other.org")
    add_user(cli, "max@other.org")
    users = cli.json("user", "list")
    assert [u["address"] for u in users] == ["amy@example.com", "max@other.org",
                                              "zed@example.com"]
    assert [u["address"] for u in cli.json("user", "list", "other.org")] == ["max@other.org"]
    assert cli.json("user", "list", "empty.net") == []
    text = cli.ok("user", "list").stdout.splitlines()
    assert text[0].split()[:3] == ["ADDRESS", "STATE", "IMAP"]
    assert text[1].split()[:2] == ["amy@example.com", "active"]
    cli.ok("alias", "add", "ceo@example.com", "amy@example.com")
    s = cli.json("user", "show", "AMY@example.com")
    assert s["address"] == "amy@example.com"
    assert s["aliases"] == ["ceo@example.com"]
    assert s["app_passwords"] == 0
    assert s["bytes_used"] == 0 and s["messages_used"] == 0
    assert s["pop3_dele"] == "default" and s["pop3_offer_days"] is None
    out = cli.ok("user", "show", "amy").stdout
    assert "address:              amy@example.com" in out
    assert "aliases:              ceo@example.com" in out
    cli.fails(EX_NOUSER, "roost: user show: ghost@example.com does not exist",
              "user", "show", "ghost@example.com")
    cli.fails(EX_USAGE, "roost: user show: missing address", "user", "show")
    cli.fails(EX_USAGE, "roost: user list: too many arguments", "user", "list", "a", "b")


def test_user_set(cli):
    add_user(cli, "erin@example.com")
    a = cli.json("user", "set", "erin@example.com", "imap=off", "pop3=on", "quota=10G",
                 "quota_messages=5000", "require_app_password=yes", "pop3_dele=keep",
                 "pop3_offer_days=30", "state=disabled")
    assert a["imap"] is False and a["pop3"] is True
    assert a["quota_bytes"] == 10 << 30 and a["quota_messages"] == 5000
    assert a["require_app_password"] is True
    assert a["pop3_dele"] == "keep" and a["pop3_offer_days"] == 30
    assert a["state"] == "disabled"
    a = cli.json("user", "set", "erin", "pop3_dele=default", "pop3_offer_days=default",
                 "quota=unlimited", "state=active")
    assert a["pop3_dele"] == "default" and a["pop3_offer_days"] is None
    assert a["quota_bytes"] == 0 and a["state"] == "active"
    assert cli.ok("user", "set", "erin", "imap=on").stdout == "updated erin@example.com\n"

    cli.fails(EX_DATAERR, "roost: user set: imap: expected on or off, got 'maybe'",
              "user", "set", "erin", "imap=maybe")
    cli.fails(EX_DATAERR, "roost: user set: quota: '10Q' is not a size (e.g. 500M, 10G, "
              "unlimited)", "user", "set", "erin", "quota=10Q")
    cli.fails(EX_DATAERR, "roost: user set: state: expected active or disabled, got 'gone'",
              "user", "set", "erin", "state=gone")
    cli.fails(EX_DATAERR, "roost: user set: pop3_dele: expected expunge, keep, trash or "
              "default, got 'shred'", "user", "set", "erin", "pop3_dele=shred")
    cli.fails(EX_DATAERR, "roost: user set: pop3_offer_days: expected 0..36500 or default, "
              "got '-3'", "user", "set", "erin", "pop3_offer_days=-3")
    cli.fails(EX_DATAERR, "roost: user set: unknown setting 'colour' (known: imap, pop3, "
              "state, quota, quota_messages, require_app_password, pop3_dele, "
              "pop3_offer_days)", "user", "set", "erin", "colour=red")
    cli.fails(EX_DATAERR, "roost: user set: 'imap' is not key=value", "user", "set", "erin",
              "imap")
    # A refused batch changes nothing.
    cli.fails(EX_DATAERR, "roost: user set: quota: 'x' is not a size (e.g. 500M, 10G, "
              "unlimited)", "user", "set", "erin", "imap=off", "quota=x")
    assert cli.json("user", "show", "erin")["imap"] is True
    cli.fails(EX_NOUSER, "roost: user set: ghost does not exist", "user", "set", "ghost",
              "imap=off")
    cli.fails(EX_USAGE, "roost: user set: missing key=value settings", "user", "set", "erin")


def test_user_passwd(cli):
    add_user(cli, "fay@example.com", "oldpass")
    assert cli.ok("user", "passwd", "fay", "--password-stdin",
                  input="newpass\n").stdout == "password of fay@example.com changed\n"
    assert cli.run("auth", "test", "fay", "--password-stdin",
                   input="newpass\n").returncode == EX_OK
    assert cli.run("auth", "test", "fay", "--password-stdin",
                   input="oldpass\n").returncode == EX_NOPERM
    cli.fails(EX_NOUSER, "roost: user passwd: ghost@example.com does not exist",
              "user", "passwd", "ghost@example.com", "--password-stdin", input="x\n")
    assert cli.json("user", "passwd", "fay", "--password-stdin", input="third\n") == {
        "password_changed": "fay@example.com"}
    cli.fails(EX_USAGE, "roost: user passwd: no terminal to ask for the password; use "
              "--password-stdin", "user", "passwd", "fay")


def test_user_rename_and_del(cli):
    add_user(cli, "gus@example.com", "guspw")
    cli.ok("domain", "add", "new.org")
    before = cli.json("user", "show", "gus@example.com")
    cli.ok("alias", "add", "g@example.com", "gus@example.com")
    assert cli.ok("user", "rename", "gus@example.com",
                  "Gus@New.org").stdout == "renamed gus@example.com to gus@new.org\n"
    after = cli.json("user", "show", "gus@new.org")
    assert after["id"] == before["id"] and after["user_key"] == before["user_key"]
    assert after["aliases"] == ["g@example.com"]
    assert cli.run("auth", "test", "g@example.com", "--password-stdin",
                   input="guspw\n").stdout.startswith("OK gus@new.org")
    cli.fails(EX_NOUSER, "roost: user rename: gus@example.com does not exist",
              "user", "rename", "gus@example.com", "x@example.com")
    cli.fails(EX_NOUSER, "roost: user rename: domain nowhere.net does not exist",
              "user", "rename", "gus@new.org", "gus@nowhere.net")
    add_user(cli, "taken@new.org")
    cli.fails(EX_CANTCREAT, "roost: user rename: taken@new.org already exists",
              "user", "rename", "gus@new.org", "taken@new.org")
    assert cli.json("user", "rename", "gus@new.org", "gus2@new.org")["id"] == before["id"]
    cli.ok("user", "rename", "gus2@new.org", "gus@new.org")
    cli.fails(EX_USAGE, "roost: user rename: need the address and the new address",
              "user", "rename", "gus@new.org")

    p = cli.ok("user", "del", "gus@new.org")
    assert p.stdout == ("deleted gus@new.org (its mail is kept in store %s; use --purge to "
                        "delete it)\n" % before["user_key"])
    cli.fails(EX_NOUSER, "roost: user del: gus@new.org does not exist", "user", "del",
              "gus@new.org")
    # Its alias went with it.
    assert cli.json("alias", "list") == []
    d = cli.json("user", "del", "taken@new.org", "--purge")
    assert d["deleted"] == "taken@new.org" and d["mail_deleted"] is True
    # Ids are never reused.
    again = cli.json("user", "add", "gus@new.org", "--password-stdin", input="x\n")
    assert again["id"] > before["id"]


# --- aliases ------------------------------------------------------------

def test_alias_commands(cli):
    add_user(cli, "hal@example.com")
    cli.ok("domain", "add", "example.org")
    assert cli.json("alias", "add", "Postmaster@Example.com", "hal") == {
        "alias": "postmaster@example.com", "target": "hal@example.com"}
    assert cli.ok("alias", "add", "abuse@example.org", "postmaster@example.com").stdout == \
        "added alias abuse@example.org -> hal@example.com\n"
    cli.fails(EX_CANTCREAT, "roost: alias add: alias postmaster@example.com already exists",
              "alias", "add", "postmaster@example.com", "hal@example.com")
    cli.fails(EX_CANTCREAT, "roost: alias add: hal@example.com already exists as an account",
              "alias", "add", "hal@example.com", "hal@example.com")
    cli.fails(EX_NOUSER, "roost: alias add: ghost@example.com does not exist",
              "alias", "add", "x@example.com", "ghost@example.com")
    cli.fails(EX_NOUSER, "roost: alias add: domain nowhere.net does not exist",
              "alias", "add", "x@nowhere.net", "hal@example.com")
    cli.fails(EX_DATAERR, "roost: alias add: invalid address 'x y@example.com': character ' ' "
              "not allowed in local part", "alias", "add", "x y@example.com", "hal")
    cli.fails(EX_USAGE, "roost: alias add: need the alias and the target account",
              "alias", "add", "x@example.com")
    lst = cli.json("alias", "list")
    assert [(a["alias"], a["target"]) for a in lst] == [
        ("abuse@example.org", "hal@example.com"), ("postmaster@example.com", "hal@example.com")]
    assert len(cli.json("alias", "list", "hal")) == 2
    cli.fails(EX_NOUSER, "roost: alias list: ghost does not exist", "alias", "list", "ghost")
    assert cli.ok("alias", "del", "abuse@example.org").stdout == \
        "deleted alias abuse@example.org\n"
    cli.ok("alias", "add", "abuse@example.org", "hal")
    assert cli.json("alias", "del", "Abuse@example.org") == {"deleted": "abuse@example.org"}
    cli.fails(EX_NOUSER, "roost: alias del: alias abuse@example.org does not exist",
              "alias", "del", "abuse@example.org")
    cli.fails(EX_NOUSER, "roost: user del: postmaster@example.com is an alias of "
              "hal@example.com, not an account (roost alias del postmaster@example.com)",
              "user", "del", "postmaster@example.com")
    # A user cannot be created over an alias.
    cli.fails(EX_CANTCREAT, "roost: user add: postmaster@example.com already exists as an alias",
              "user", "add", "postmaster@example.com", "--password-stdin", input="x\n")


# --- app passwords -------------------------------------------------------

def test_app_password_lifecycle(cli):
    add_user(cli, "ivy@example.com", "ivy-account-pw")
    p = cli.ok("app-password", "add", "ivy@example.com", "Thunderbird 笔记本")
    m = re.search(r"^    ([a-z]{4}) ([a-z]{4}) ([a-z]{4}) ([a-z]{4})$", p.stdout, re.M)
    assert m, p.stdout
    code1 = "".join(m.groups())
    assert "shown only this once" in p.stdout
    j = cli.json("app-password", "add", "ivy", "phone")
    assert re.fullmatch(r"[a-z]{16}", j["code"])
    assert j["code_formatted"] == " ".join(j["code"][i:i + 4] for i in range(0, 16, 4))
    assert j["address"] == "ivy@example.com" and j["label"] == "phone"

    lst = cli.json("app-password", "list", "ivy")
    assert [a["label"] for a in lst] == ["Thunderbird 笔记本", "phone"]
    assert lst[0]["last_used"] is None

    # With or without spaces, any case; IMAP and POP3 but not the web page.
    for code, proto in ((code1, "imap"), (j["code_formatted"], "pop3"),
                        (code1.upper(), "smtp")):
        r = cli.run("auth", "test", "ivy", "--protocol", proto, "--password-stdin", "--json",
                    input=code + "\n")
        assert r.returncode == EX_OK, r.stdout
        assert json.loads(r.stdout)["app_password_id"] is not None
    r = cli.run("auth", "test", "ivy", "--protocol", "web", "--password-stdin",
                input=code1 + "\n")
    assert r.returncode == EX_NOPERM
    lst = cli.json("app-password", "list", "ivy")
    assert lst[0]["last_protocol"] == "smtp" and lst[0]["last_ip"] == "cli"
    assert lst[0]["last_used"] is not None

    # require_app_password: the account password no longer works for mail.
    cli.ok("user", "set", "ivy", "require_app_password=yes")
    r = cli.run("auth", "test", "ivy", "--password-stdin", input="ivy-account-pw\n")
    assert r.returncode == EX_NOPERM
    assert r.stdout == ("NO app-password-required: this account requires an app password for "
                        "mail clients; create one in your account settings\n")
    assert cli.run("auth", "test", "ivy", "--protocol", "web", "--password-stdin",
                   input="ivy-account-pw\n").returncode == EX_OK

    # Revoke.
    first_id = lst[0]["id"]
    assert cli.ok("app-password", "revoke", "ivy", str(first_id)).stdout == \
        "revoked app password %d of ivy@example.com\n" % first_id
    assert cli.run("auth", "test", "ivy", "--password-stdin",
                   input=code1 + "\n").returncode == EX_NOPERM
    cli.fails(EX_NOUSER, "roost: app-password revoke: ivy@example.com has no app password "
              "with id %d" % first_id, "app-password", "revoke", "ivy", str(first_id))
    second_id = lst[1]["id"]
    assert cli.json("app-password", "revoke", "ivy", str(second_id)) == {
        "revoked": second_id, "address": "ivy@example.com"}
    cli.fails(EX_USAGE, "roost: app-password revoke: 'abc' is not an id (see app-password list)",
              "app-password", "revoke", "ivy", "abc")
    cli.fails(EX_NOUSER, "roost: app-password add: ghost does not exist",
              "app-password", "add", "ghost", "x")
    cli.fails(EX_NOUSER, "roost: app-password list: ghost does not exist",
              "app-password", "list", "ghost")
    cli.fails(EX_DATAERR, "roost: app-password add: label must be 1 to 64 bytes",
              "app-password", "add", "ivy", "")
    cli.fails(EX_USAGE, "roost: app-password add: too many arguments (quote a label with "
              "spaces)", "app-password", "add", "ivy", "my", "phone")
    assert len(cli.json("app-password", "list", "ivy")) == 0
    # Labels with quotes, backslashes and CJK survive JSON; controls and bad UTF-8 do not.
    tricky = 'say "hi" \\ 你好'
    assert cli.json("app-password", "add", "ivy", tricky)["label"] == tricky
    assert cli.json("app-password", "list", "ivy")[0]["label"] == tricky
    cli.fails(EX_DATAERR, "roost: app-password add: label contains a control character",
              "app-password", "add", "ivy", "tab\there")


def test_switches_and_state_via_auth_test(cli):
    add_user(cli, "jo@example.com", "jopw")
    cli.ok("user", "set", "jo", "imap=off")
    r = cli.run("auth", "test", "jo", "--password-stdin", "--json", input="jopw\n")
    assert r.returncode == EX_NOPERM
    assert json.loads(r.stdout) == {
        "status": "protocol-disabled",
        "message": "IMAP is turned off for this account; turn it on in your account settings"}
    # The switch is only revealed with the right password.
    r = cli.run("auth", "test", "jo", "--password-stdin", "--json", input="wrong\n")
    assert json.loads(r.stdout)["status"] == "failed"
    assert "ip=cli user=jo@example.com proto=imap reason=failed" in r.stderr
    assert "wrong" not in r.stderr
    assert cli.run("auth", "test", "jo", "--protocol", "pop3", "--password-stdin",
                   input="jopw\n").returncode == EX_OK
    cli.ok("user", "set", "jo", "state=disabled")
    r = cli.run("auth", "test", "jo", "--protocol", "pop3", "--password-stdin", "--json",
                input="jopw\n")
    assert json.loads(r.stdout)["status"] == "account-disabled"
    # Unknown users fail exactly like wrong passwords.
    r = cli.run("auth", "test", "nobody", "--password-stdin", "--json", input="jopw\n")
    assert json.loads(r.stdout) == {"status": "failed", "message": "authentication failed"}


# --- SASL through `roost auth sasl` ----------------------------------------

class Sasl:
    """Drives `roost auth sasl MECH`: '+ <b64>' challenges, one b64 line back."""

    def __init__(self, cli, mech, proto="imap"):
        self.p = subprocess.Popen([ROOST, "-c", str(cli.conf), "auth", "sasl", mech,
                                   "--protocol", proto],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)

    def send(self, data):
        line = base64.b64encode(data).decode() if data is not None else ""
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline()
        if out.startswith("+ "):
            return base64.b64decode(out[2:].strip(), validate=True)
        self.final = out.strip()
        self.p.stdin.close()
        self.code = self.p.wait(timeout=30)
        return None


def test_sasl_plain_and_login(cli):
    add_user(cli, "kim@example.com", "kimpw")
    s = Sasl(cli, "PLAIN")
    assert s.send(b"\0kim@example.com\0kimpw") is None
    assert (s.final, s.code) == ("OK kim@example.com", 0)
    s = Sasl(cli, "PLAIN")
    assert s.send(b"admin@example.com\0kim@example.com\0kimpw") is None
    assert s.final.startswith("NO failed: authorization identity must be empty")
    assert s.code == EX_NOPERM
    s = Sasl(cli, "PLAIN")
    assert s.send(None) == b""            # no initial response: empty challenge
    assert s.send(b"kim\0kim\0kimpw") is None
    assert s.final == "OK kim@example.com"
    s = Sasl(cli, "PLAIN")
    assert s.send(b"kim\0kimpw") is None
    assert (s.final, s.code) == ("NO invalid PLAIN response", EX_DATAERR)

    s = Sasl(cli, "LOGIN")
    assert s.send(None) == b"Username:"
    assert s.send(b"kim") == b"Password:"
    assert s.send(b"kimpw") is None
    assert s.final == "OK kim@example.com"


def scram_client(cli, user, password, gs2=b"n,,", proto="imap"):
    """RFC 5802 / RFC 7677 client with hashlib and hmac."""
    s = Sasl(cli, "SCRAM-SHA-256", proto)
    cnonce = base64.b64encode(os.urandom(18)).decode()
    bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), cnonce)
    first = s.send(gs2 + bare.encode())
    if first is None:
        return s, False
    attrs = dict(a.split("=", 1) for a in first.decode().split(","))
    assert attrs["r"].startswith(cnonce) and len(attrs["r"]) > len(cnonce)
    salt = base64.b64decode(attrs["s"])
    iters = int(attrs["i"])
    assert iters == 4096
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iters)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    without_proof = "c=%s,r=%s" % (base64.b64encode(gs2).decode(), attrs["r"])
    auth_message = ",".join([bare, first.decode(), without_proof]).encode()
    sig = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    final = s.send(("%s,p=%s" % (without_proof, base64.b64encode(proof).decode())).encode())
    verified = False
    if final is not None:
        expect = hmac.new(server_key, auth_message, hashlib.sha256).digest()
        verified = final == b"v=" + base64.b64encode(expect)
        assert s.send(b"") is None
    return s, verified


def test_sasl_scram_sha256(cli):
    add_user(cli, "lee@example.com", "lee pässword")
    s, verified = scram_client(cli, "lee@example.com", "lee pässword")
    assert verified and s.final == "OK lee@example.com" and s.code == 0
    s, verified = scram_client(cli, "lee", "lee pässword", gs2=b"y,,")
    assert verified and s.final == "OK lee@example.com"
    s, verified = scram_client(cli, "lee", "wrong")
    assert not verified and s.final == "NO failed: authentication failed"
    s, verified = scram_client(cli, "ghost@example.com", "x")
    assert s.final == "NO failed: authentication failed"
    # Channel binding is not offered: 'p' is refused.
    s, _ = scram_client(cli, "lee", "lee pässword", gs2=b"p=tls-unique,,")
    assert s.final.startswith("NO SCRAM channel binding is not supported")
    # App passwords work over SCRAM too, typed either way.
    code = cli.json("app-password", "add", "lee", "mbsync")["code"]
    spaced = " ".join(code[i:i + 4] for i in range(0, 16, 4))
    for pw in (code, spaced):
        s, verified = scram_client(cli, "lee@example.com", pw)
        assert verified and s.final.startswith("OK lee@example.com (app password")
    # ... and require_app_password refuses the account password.
    cli.ok("user", "set", "lee", "require_app_password=yes")
    s, _ = scram_client(cli, "lee", "lee pässword")
    assert s.final.startswith("NO app-password-required:")
    s, verified = scram_client(cli, "lee", code)
    assert verified
