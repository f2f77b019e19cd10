"""Real clients against roostd: mbsync (isync) syncing a mailbox both ways
(new mail down, local flags, new messages and deletions up), and curl
fetching and searching messages over imap:// and imaps://."""
import os
import shutil
import subprocess

import pytest

from test_imap_fetch_helpers import imap_env  # noqa: F401  (fixture)
from test_imap_fetch_helpers import simple_message

MBSYNC = shutil.which("mbsync")
CURL = shutil.which("curl")


def maildir_files(path):
    out = {}
    for sub in ("cur", "new"):
        d = os.path.join(path, sub)
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                out[os.path.join(sub, name)] = f.read()
    return out


def norm(data):
    """A message as mbsync keeps it locally (LF line ends, its X-TUID header)
    and as delivery stored it (Return-Path, Delivered-To) compared by
    content: those headers dropped, CRLF made LF."""
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    drop = (b"x-tuid:", b"return-path:", b"delivered-to:")
    return b"\n".join(ln for ln in lines if not ln.lower().startswith(drop))


def info_flags(name):
    """Maildir flags from a file name ("...:2,FS" -> "FS")."""
    return name.rsplit(":2,", 1)[1] if ":2," in name else ""


@pytest.mark.skipif(MBSYNC is None, reason="mbsync (isync) is not installed")
def test_mbsync_both_ways(imap_env, tmp_path):
    c = imap_env.connect()
    c.ok("CREATE Projects")
    for i in range(3):
        imap_env.deliver(simple_message("down %d" % i, "body %d" % i))
    c.append("Projects", simple_message("project", "plan"))
    c.ok("SELECT INBOX")
    c.ok("STORE 2 +FLAGS (\\Flagged)")

    local = tmp_path / "mail"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        "IMAPAccount roost\n"
        "Host 127.0.0.1\n"
        "Port %d\n"
        "User %s\n"
        "Pass \"%s\"\n"
        "SSLType None\n"
        "AuthMechs LOGIN\n"
        "\n"
        "IMAPStore remote\n"
        "Account roost\n"
        "\n"
        "MaildirStore local\n"
        "Path %s/\n"
        "Inbox %s/INBOX\n"
        "SubFolders Verbatim\n"
        "\n"
        "Channel sync\n"
        "Far :remote:\n"
        "Near :local:\n"
        "Patterns INBOX Projects\n"
        "Create Both\n"
        "Expunge Both\n"
        "SyncState *\n"
        "Sync All\n" % (imap_env.imap_port, imap_env.user, imap_env.password, local, local))

    def mbsync():
        p = subprocess.run([MBSYNC, "-c", str(rc), "-a"], capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, (p.stdout, p.stderr)

    mbsync()
    inbox = {n: norm(d) for n, d in maildir_files(local / "INBOX").items()}
    down = [norm(simple_message("down %d" % i, "body %d" % i)) for i in range(3)]
    assert sorted(inbox.values()) == sorted(down)
    flagged = [n for n, data in inbox.items() if "F" in info_flags(n)]
    assert len(flagged) == 1 and inbox[flagged[0]] == down[1]
    assert [norm(d) for d in maildir_files(local / "Projects").values()] == [
        norm(simple_message("project", "plan"))]

    # Local changes: read "down 0", delete "down 2", write a new message.
    for name, data in inbox.items():
        path = local / "INBOX" / name
        base = str(path).split(":2,")[0]
        if data == down[0]:
            os.rename(path, base.replace("/new/", "/cur/") + ":2," +
                      "".join(sorted(info_flags(name) + "S")))
        elif data == down[2]:
            os.rename(path, base.replace("/new/", "/cur/") + ":2," +
                      "".join(sorted(info_flags(name) + "T")))
    up = simple_message("up", "written offline")
    (local / "INBOX" / "new" / "1700000000.up.localhost").write_bytes(up)
    mbsync()

    c.ok("SELECT INBOX")
    r = c.fetch("FETCH 1:* (FLAGS BODY.PEEK[])")
    by_body = {norm(d["BODY[]"]): d["FLAGS"] for d in r.values()}
    assert set(by_body) == {down[0], down[1], norm(up)}
    assert "\\Seen" in by_body[down[0]]
    assert "\\Flagged" in by_body[down[1]]

    # And the other way again: a server-side change reaches the maildir.
    c.ok("STORE 1:* +FLAGS (\\Answered)")
    mbsync()
    assert all("R" in info_flags(n) for n in maildir_files(local / "INBOX"))
    c.close()


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
@pytest.mark.parametrize("tls", [False, True])
def test_curl_fetch(imap_env, tls):
    msg = simple_message("for curl", "Hello from roost\r\nsecond line")
    c = imap_env.connect()
    c.append("INBOX", simple_message("first", "x"))
    c.append("INBOX", msg)
    c.close()
    url = "%s://127.0.0.1:%d/INBOX" % ("imaps" if tls else "imap",
                                       imap_env.imaps_port if tls else imap_env.imap_port)
    user = "%s:%s" % (imap_env.user, imap_env.password)
    base = [CURL, "-sS", "--max-time", "60", "--user", user] + (["-k"] if tls else [])
    p = subprocess.run(base + [url + "/;UID=2"], capture_output=True, timeout=90)
    assert p.returncode == 0, p.stderr
    assert p.stdout == msg
    # A section and a search, as curl spells them.
    p = subprocess.run(base + [url + "/;UID=2/;SECTION=TEXT"], capture_output=True, timeout=90)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"Hello from roost\r\nsecond line\r\n"
    p = subprocess.run(base + [url + "?SUBJECT%20curl"], capture_output=True, timeout=90)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == b"* SEARCH 2"
