"""Scripted IMAP conversations: tests/integration/imap-scripts/*.imap, one
"send this, expect that" file per case, run against a real roostd.

Format, one directive per line:
    # comment                       ignored
    C: <text>                       sent with CRLF ({user} and {password} filled in)
    S: <pattern>                    the next response line must match
    C2: / S2:                       the same on a second connection
An S: line after a C2: step (or S2: after C:) waits for an unsolicited
response on that connection without sending anything (IDLE pushes).
The pattern is an fnmatch glob ("*" any text, "?" one character, "[" must
be written "[[]"). Before each C: line every S: line of the previous
command must have been matched; when a C: line starts with a tag, the
responses up to that tag's tagged line are compared with the S: lines
that follow it, one to one, in order."""
import fnmatch
import glob
import os
import re

import pytest

from test_imap_core_client import PW, USER, Client

SCRIPTS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "imap-scripts", "*.imap")))


def parse(path):
    steps = []  # (conn, send_text, [patterns])
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            kind, _, rest = line.partition(": ")
            if kind in ("C", "C2"):
                rest = rest.replace("{user}", USER).replace("{password}", PW)
                steps.append((kind[1:] or "1", rest, [], n))
            elif kind in ("S", "S2"):
                conn = kind[1:] or "1"
                if not steps or steps[-1][0] != conn:
                    # an unsolicited response on the other connection
                    steps.append((conn, None, [], n))
                steps[-1][2].append(rest)
            else:
                raise AssertionError("%s:%d: bad line %r" % (path, n, line))
    return steps


@pytest.mark.parametrize("script", SCRIPTS, ids=[os.path.basename(s) for s in SCRIPTS])
def test_script(roostd, script):
    d = roostd()
    d.add_user(USER, PW)
    conns = {}
    tags = {}  # connection -> (tag of the command being sent, line ends in a literal)
    try:
        for conn, text, patterns, lineno in parse(script):
            c = conns.get(conn)
            if c is None:
                c = conns[conn] = Client(d.ports["imap"])
            if text is None:
                tag = ""  # just wait for the responses
            else:
                c.send(text.encode() + b"\r\n")
                prev_tag, continues = tags.get(conn, (None, False))
                # a line after one ending in a literal header continues it
                # (so does IDLE's DONE)
                tag = prev_tag if continues or text == "DONE" else text.split(" ", 1)[0]
                # the next line continues this command after a LITERAL+
                # literal, or after a synchronizing one the server accepted
                # with "+" (a refused literal ends the command)
                continues = (re.search(r"\{\d+\+\}$", text) is not None or
                             (re.search(r"\{\d+\}$", text) is not None and
                              bool(patterns) and patterns[-1].startswith("+")))
                tags[conn] = (tag, continues)
            got = []
            while len(got) < len(patterns):
                got.append(c.line().decode("utf-8", "replace"))
            for want, have in zip(patterns, got):
                assert fnmatch.fnmatchcase(have, want), (
                    "%s:%d: expected %r, got %r (all: %r)" % (os.path.basename(script), lineno,
                                                              want, have, got))
            # a tagged command must be complete: its tagged line was expected
            if tag and patterns and not patterns[-1].startswith("+") and tag.isalnum():
                assert got[-1].startswith(tag + " "), (script, lineno, got)
            assert c.pending(0.05) == [], (script, lineno)
    finally:
        for c in conns.values():
            c.close()
