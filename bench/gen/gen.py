#!/usr/bin/python3
"""gen.py - realistic test messages with a fixed seed, as a corpus file.

    gen.py --count N [--seed S] [--max-size BYTES] --out FILE

The corpus (read by bench/build/loadgen and bench/bench.py) is the line
"ROOSTCORPUS 1", then per message a line with its length in bytes and the
message itself (RFC 5322, CRLF line ends). The same seed gives the same
bytes on every machine (random.Random, no other source of entropy).

The mix, per message:
  - 45% plain text (UTF-8, some quoted-printable), 20% multipart/alternative
    (text + HTML), 20% replies (Re:, In-Reply-To, References, quoted text),
    15% multipart/mixed with an attachment (PDF, JPEG or ZIP, base64);
  - subjects: 60% ASCII, 25% UTF-8 Chinese (RFC 2047 B), 15% GBK Chinese
    (RFC 2047 B with charset GBK); 10% of the text bodies are in GBK;
  - sizes: text bodies log-normal around 3 KB (so most mail is 2-10 KB),
    attachments log-normal around 120 KB with a tail of several MB, every
    message at least 1 KB and at most --max-size (default 6 MiB);
  - search targets: 1 message in 1,000 has the word "zebracorn" in its
    Subject (for UID SEARCH HEADER Subject), 1 in 100 has "quokka" in its
    text body (for SEARCH BODY). Nothing else contains them.
Uses only the Python standard library."""
import argparse
import base64
import math
import random
import sys

WORDS = ("the quarterly report meeting schedule project budget review draft final please "
         "attached find below thanks regards update team client proposal contract invoice "
         "delivery status server backup release notes agenda minutes action items follow "
         "question answer approval deadline friday monday office travel expense policy "
         "customer support ticket issue resolved pending urgent lunch weekend photos family "
         "holiday conference slides presentation design feedback changes version document "
         "shared folder access password reset account security notice newsletter offer").split()
ZH = ("会议 通知 项目 预算 报告 请查收 附件 谢谢 周五 下午 客户 合同 发票 审批 进度 更新 "
      "服务器 备份 发布 问题 已解决 紧急 午餐 周末 照片 家人 假期 文档 共享 密码 安全 "
      "你好 大家 今天 明天 安排 确认 回复 时间 地点 计划 总结 季度 销售 市场").split()
FIRST = "alice bob carol dave erin frank grace heidi ivan judy mallory oscar peggy trent victor wendy".split()
ZH_NAMES = "张伟 王芳 李娜 刘洋 陈静 杨磊 赵敏 黄勇".split()
DOMAINS = "example.com example.org example.net mail.example.cn corp.example.test".split()
ATTACH = (("report.pdf", "application/pdf"), ("photo.jpg", "image/jpeg"),
          ("archive.zip", "application/zip"), ("合同.pdf", "application/pdf"))


def b_word(text, charset):
    data = text.encode("gbk" if charset == "GBK" else "utf-8")
    return "=?%s?B?%s?=" % (charset, base64.b64encode(data).decode())


def lognormal_size(rng, median, sigma):
    return int(math.exp(rng.gauss(math.log(median), sigma)))


def sentence(rng, zh=False):
    if zh:
        return "".join(rng.choice(ZH) for _ in range(rng.randint(6, 16))) + "。"
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
    return " ".join(words).capitalize() + "."


def text_body(rng, size, zh=False, needle=False):
    lines, total = [], 0
    while total < size:
        line = " ".join(sentence(rng, zh) for _ in range(rng.randint(1, 3)))
        lines.append(line)
        total += len(line.encode()) + 2
        if rng.random() < 0.15:
            lines.append("")
    if needle:
        lines.insert(rng.randrange(len(lines) + 1), "We saw a quokka near the office today.")
    return lines


def wrap(lines, width=76):
    """Folds long lines at spaces (RFC 5322 2.1.1 recommends 78)."""
    out = []
    for line in lines:
        while len(line) > width and " " in line[:width]:
            cut = line.rfind(" ", 0, width)
            out.append(line[:cut])
            line = line[cut + 1:]
        out.append(line)
    return out


def address(rng):
    if rng.random() < 0.2:
        name = b_word(rng.choice(ZH_NAMES), "UTF-8")
    else:
        name = rng.choice(FIRST).capitalize() + " " + rng.choice(FIRST).capitalize()
    return '%s <%s@%s>' % (name, rng.choice(FIRST), rng.choice(DOMAINS))


def subject(rng, needle):
    r = rng.random()
    if r < 0.6:
        s = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7))).capitalize()
        if needle:
            s += " zebracorn"
        return s
    zh = "".join(rng.choice(ZH) for _ in range(rng.randint(2, 6)))
    text = b_word(zh, "UTF-8" if r < 0.85 else "GBK")
    return text + (" zebracorn" if needle else "")


def encode_text(rng, lines, gbk):
    """(headers, body lines) for a text/plain part."""
    if gbk:
        data = "\r\n".join(lines).encode("gbk", "replace")
        b64 = base64.encodebytes(data).decode().rstrip("\n").split("\n")
        return (["Content-Type: text/plain; charset=GBK",
                 "Content-Transfer-Encoding: base64"], b64)
    body = wrap(lines)
    if any(ord(ch) > 127 for line in body for ch in line):
        return (["Content-Type: text/plain; charset=UTF-8", "Content-Transfer-Encoding: 8bit"],
                body)
    return (["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit"],
            body)


def message(rng, n, max_size):
    kind = rng.random()
    needle_subject = n % 1000 == 7
    needle_body = n % 100 == 3
    zh = rng.random() < 0.3
    gbk = rng.random() < 0.1
    size = max(600, min(lognormal_size(rng, 3000, 0.9), max_size))
    day = 1 + n % 28
    hdr = [
        "Return-Path: <%s@%s>" % (rng.choice(FIRST), rng.choice(DOMAINS)),
        "Received: from mx.example.net (mx.example.net [192.0.2.%d]) by mail.example.test "
        "with ESMTPS id %08X; Mon, %d Jun 2025 %02d:%02d:%02d +0000" % (
            rng.randint(1, 254), rng.getrandbits(32), day, n % 24, n % 60, (n * 7) % 60),
        "Date: Mon, %d Jun 2025 %02d:%02d:%02d +0800" % (day, n % 24, n % 60, (n * 7) % 60),
        "From: " + address(rng),
        "To: " + ", ".join(address(rng) for _ in range(rng.randint(1, 3))),
        "Message-ID: <%d.%08x@bench.example.test>" % (n, rng.getrandbits(32)),
        "MIME-Version: 1.0",
    ]
    if rng.random() < 0.3:
        hdr.append("Cc: " + address(rng))
    subj = subject(rng, needle_subject)
    lines = text_body(rng, size, zh, needle_body)
    if kind < 0.45:
        h, body = encode_text(rng, lines, gbk)
        hdr += ["Subject: " + subj] + h
    elif kind < 0.65:
        boundary = "alt-%016x" % rng.getrandbits(64)
        h, text = encode_text(rng, lines, False)
        html = ["<html><body>"] + ["<p>%s</p>" % line for line in wrap(lines)] + ["</body></html>"]
        hdr += ["Subject: " + subj,
                'Content-Type: multipart/alternative; boundary="%s"' % boundary]
        body = (["This is a multi-part message in MIME format.", "--" + boundary] + h + [""] +
                text + ["--" + boundary, "Content-Type: text/html; charset=UTF-8",
                        "Content-Transfer-Encoding: 8bit", ""] + html + ["--" + boundary + "--"])
    elif kind < 0.85:
        ref = "<%d.%08x@bench.example.test>" % (max(0, n - rng.randint(1, 50)), rng.getrandbits(32))
        h, _ = encode_text(rng, lines, False)
        quoted = ["> " + line for line in wrap(text_body(rng, size // 2, zh))]
        hdr += ["Subject: Re: " + subj, "In-Reply-To: " + ref, "References: " + ref] + h
        body = wrap(lines) + ["", "On Mon, %d Jun 2025, someone wrote:" % day] + quoted
    else:
        boundary = "mix-%016x" % rng.getrandbits(64)
        name, ctype = rng.choice(ATTACH)
        att_size = max(2000, min(lognormal_size(rng, 120000, 1.3), max_size - size - 2000))
        att = base64.encodebytes(rng.randbytes(max(1, att_size * 3 // 4))).decode()
        h, text = encode_text(rng, lines, gbk)
        fname = name if name.isascii() else "=?UTF-8?B?%s?=" % base64.b64encode(name.encode()).decode()
        hdr += ["Subject: " + subj, 'Content-Type: multipart/mixed; boundary="%s"' % boundary]
        body = (["--" + boundary] + h + [""] + text +
                ["--" + boundary, 'Content-Type: %s; name="%s"' % (ctype, fname),
                 "Content-Transfer-Encoding: base64",
                 'Content-Disposition: attachment; filename="%s"' % fname, ""] +
                att.rstrip("\n").split("\n") + ["--" + boundary + "--"])
    data = ("\r\n".join(hdr) + "\r\n\r\n" + "\r\n".join(body) + "\r\n").encode("utf-8")
    if len(data) < 1024:
        pad = ("\r\n".join(wrap(text_body(rng, 1024 - len(data), False))) + "\r\n").encode()
        data += pad
    if len(data) > max_size:
        # Cut at a line end; a truncated attachment stays valid base64 lines.
        cut = data.rfind(b"\r\n", 0, max_size - 2)
        data = data[:cut + 2]
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=20250601)
    ap.add_argument("--max-size", type=int, default=6 * 1024 * 1024)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.count <= 0 or args.max_size < 4096:
        ap.error("--count must be positive and --max-size at least 4096")
    rng = random.Random(args.seed)
    total = 0
    with open(args.out + ".tmp", "wb") as f:
        f.write(b"ROOSTCORPUS 1\n")
        for n in range(args.count):
            data = message(rng, n, args.max_size)
            f.write(b"%d\n" % len(data))
            f.write(data)
            total += len(data)
    import os
    os.replace(args.out + ".tmp", args.out)
    print("gen.py: %d messages, %d bytes (mean %d) -> %s" % (
        args.count, total, total // args.count, args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
