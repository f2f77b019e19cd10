"""The account settings page and client auto-configuration, against a real
roostd with `http` and `https` listeners (added through the fixture's
`extra` config text)."""
import http.client
import imaplib
import poplib
import re
import socket
import ssl
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

from conftest import free_port

ADDR = "alice@example.test"
PASSWORD = "correct horse battery"


def web_daemon(roostd, extra=""):
    """A roostd with http and https listeners and the account ADDR. The two
    ports are picked apart from the fixture's own, and a port taken by
    another process in the meantime means another try."""
    for attempt in range(5):
        d = roostd(start=False)
        taken = set(d.ports.values())
        http_port = https_port = 0
        while http_port in taken or https_port in taken or http_port == https_port:
            http_port, https_port = free_port(), free_port()
        d.write_config("hostname = mail.example.test\n" + extra +
                       "[listener]\nprotocol = http\naddress = 127.0.0.1\nport = %d\n"
                       "[listener]\nprotocol = https\naddress = 127.0.0.1\nport = %d\n"
                       % (http_port, https_port))
        d.ports["http"], d.ports["https"] = http_port, https_port
        try:
            d.start()
        except RuntimeError as e:
            if "Address already in use" not in str(e) or attempt == 4:
                raise
            d.expect_failure = True
            continue
        d.add_user(ADDR, PASSWORD)
        return d


class Browser:
    """A tiny cookie-keeping client over one keep-alive connection."""

    def __init__(self, d, tls=False, lang=None):
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.conn = http.client.HTTPSConnection("127.0.0.1", d.ports["https"], timeout=20,
                                                    context=ctx)
        else:
            self.conn = http.client.HTTPConnection("127.0.0.1", d.ports["http"], timeout=20)
        self.cookies = {}
        self.lang = lang

    def request(self, method, path, form=None, headers=None, body=None):
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        if self.lang:
            h["Accept-Language"] = self.lang
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        for v in r.headers.get_all("Set-Cookie") or []:
            name, _, rest = v.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in v:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return r, data.decode("utf-8")

    def login(self, address=ADDR, password=PASSWORD):
        return self.request("POST", "/login", form={"address": address, "password": password})

    def csrf(self, page):
        m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
        assert m, page
        return m.group(1)


def test_security_headers_and_login_form(roostd):
    d = web_daemon(roostd)
    b = Browser(d)
    r, page = b.request("GET", "/")
    assert r.status == 200
    assert r.getheader("Content-Type") == "text/html; charset=utf-8"
    assert "default-src 'self'" in r.getheader("Content-Security-Policy")
    assert r.getheader("X-Frame-Options") == "DENY"
    assert r.getheader("Referrer-Policy") == "no-referrer"
    assert r.getheader("Strict-Transport-Security") is None
    assert int(r.getheader("Content-Length")) == len(page.encode())
    assert 'action="/login"' in page and "http://" not in page.replace(
        "http://www.apple.com", "")
    # The style sheet is served from here; nothing external.
    r, css = b.request("GET", "/style.css")
    assert r.status == 200 and r.getheader("Content-Type").startswith("text/css")
    r, icon = b.request("GET", "/favicon.svg")
    assert r.status == 200 and r.getheader("Content-Type") == "image/svg+xml"
    assert icon.startswith("<svg")
    # Over TLS: HSTS.
    t = Browser(d, tls=True)
    r, _ = t.request("GET", "/")
    assert r.status == 200
    assert r.getheader("Strict-Transport-Security").startswith("max-age=")


def test_login_wrong_then_right(roostd):
    d = web_daemon(roostd, extra="[auth]\nfail_delay_ms = 300\n")
    b = Browser(d)
    t0 = time.time()
    r, page = b.login(password="wrong")
    assert r.status == 403
    assert time.time() - t0 >= 0.25  # the failure delay is honoured
    assert "roost_session" not in b.cookies
    assert "Wrong email address or password" in page
    r, page = b.login()
    assert r.status == 303 and r.getheader("Location") == "/"
    cookie = [v for v in r.headers.get_all("Set-Cookie") if v.startswith("roost_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert re.match(r"roost_session=[0-9a-f]{64};", cookie)
    r, page = b.request("GET", "/")
    assert r.status == 200
    assert ADDR in page and "IMAP" in page and "POP3" in page
    # Sign out: the session is gone on the server too.
    old = dict(b.cookies)
    r, _ = b.request("POST", "/logout", form={"csrf": b.csrf(page)})
    assert r.status == 303 and "roost_session" not in b.cookies
    b.cookies = old
    r, page = b.request("GET", "/")
    assert 'action="/login"' in page


def test_app_password_refused_for_the_page(roostd):
    d = web_daemon(roostd)
    out = d.cli("app-password", "add", ADDR, "cli", "--json").stdout.decode()
    code = re.search(r'"code": "([a-z]{16})"', out).group(1)
    b = Browser(d)
    r, _ = b.login(password=code)
    assert r.status == 403 and "roost_session" not in b.cookies


def test_https_cookie_is_secure(roostd):
    d = web_daemon(roostd)
    b = Browser(d, tls=True)
    r, _ = b.login()
    assert r.status == 303
    cookie = [v for v in r.headers.get_all("Set-Cookie") if v.startswith("roost_session=")][0]
    assert "Secure" in cookie


def test_csrf_and_cross_site_refused(roostd):
    d = web_daemon(roostd)
    b = Browser(d)
    b.login()
    r, page = b.request("GET", "/")
    token = b.csrf(page)
    r, _ = b.request("POST", "/settings", form={"imap": "off"})
    assert r.status == 403
    r, _ = b.request("POST", "/settings", form={"imap": "off", "csrf": "0" * 64})
    assert r.status == 403
    r, _ = b.request("POST", "/settings", form={"imap": "off", "csrf": token},
                     headers={"Origin": "http://evil.example"})
    assert r.status == 403
    r, _ = b.request("POST", "/settings", form={"imap": "off", "csrf": token},
                     headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status == 403
    assert "imap:                 on" in d.cli("user", "show", ADDR).stdout.decode()
    # A browser posting this page's own form sends "Origin: null" (the page's
    # Referrer-Policy is no-referrer) or its own origin: both work.
    host = "127.0.0.1:%d" % d.ports["http"]
    for origin in ("null", "http://" + host):
        r, _ = b.request("POST", "/settings", form={"imap": "on", "csrf": token},
                         headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"})
        assert r.status == 303, origin
    # Not signed in: back to the sign-in form, nothing changed.
    anon = Browser(d)
    r, _ = anon.request("POST", "/settings", form={"imap": "off", "csrf": token})
    assert r.status == 303
    assert "imap:                 on" in d.cli("user", "show", ADDR).stdout.decode()


def imap_login(d, user, password):
    m = imaplib.IMAP4("127.0.0.1", d.ports["imap"])
    try:
        m.login(user, password)
        m.logout()
        return "OK"
    except imaplib.IMAP4.error as e:
        try:
            m.shutdown()
        except OSError:
            pass
        return str(e)


def test_imap_switch(roostd):
    d = web_daemon(roostd)
    b = Browser(d)
    b.login()
    _, page = b.request("GET", "/")
    r, _ = b.request("POST", "/settings", form={"imap": "off", "csrf": b.csrf(page)})
    assert r.status == 303 and r.getheader("Location") == "/?saved=1"
    r, page = b.request("GET", "/?saved=1")
    assert "Your settings were saved" in page
    assert re.search(r'id="svc-imap">.*?class="off"', page, re.S)
    res = imap_login(d, ADDR, PASSWORD)
    assert "[UNAVAILABLE]" in res and "turned off" in res
    r, _ = b.request("POST", "/settings", form={"imap": "on", "csrf": b.csrf(page)})
    assert r.status == 303
    assert imap_login(d, ADDR, PASSWORD) == "OK"


def test_pop3_policy_and_require_app_password(roostd):
    d = web_daemon(roostd)
    b = Browser(d)
    b.login()
    _, page = b.request("GET", "/")
    tok = b.csrf(page)
    r, _ = b.request("POST", "/settings", form={"pop3_dele": "trash", "pop3_offer": "days",
                                                  "pop3_days": "14", "csrf": tok})
    assert r.status == 303
    out = d.cli("user", "show", ADDR).stdout.decode()
    assert "dele=trash" in out and "last 14 days" in out
    r, _ = b.request("POST", "/settings", form={"pop3_dele": "bogus", "csrf": tok})
    assert r.status == 400
    r, _ = b.request("POST", "/settings", form={"pop3_offer": "days", "pop3_days": "0",
                                                  "csrf": tok})
    assert r.status == 400
    r, _ = b.request("POST", "/settings", form={"require_app_password": "yes", "csrf": tok})
    assert r.status == 303
    assert "require_app_password: yes" in d.cli("user", "show", ADDR).stdout.decode()
    assert "app password" in imap_login(d, ADDR, PASSWORD)
    # The page itself still takes the account password.
    b2 = Browser(d)
    r, _ = b2.login()
    assert r.status == 303


def test_app_password_lifecycle(roostd):
    d = web_daemon(roostd)
    b = Browser(d)
    b.login()
    _, page = b.request("GET", "/")
    r, page = b.request("POST", "/app-passwords", form={"label": "手机 <K-9>",
                                                         "csrf": b.csrf(page)})
    assert r.status == 200
    m = re.search(r'<span class="code">([a-z]{4}) ([a-z]{4}) ([a-z]{4}) ([a-z]{4})</span>', page)
    assert m, page
    code = "".join(m.groups())
    assert "手机 &lt;K-9&gt;" in page  # escaped
    assert "<K-9>" not in page
    # Shown once: a reload does not show it again.
    _, again = b.request("GET", "/")
    assert code not in again.replace(" ", "") and 'class="code"' not in again
    # IMAP and POP3 log in with it.
    assert imap_login(d, ADDR, m.group(0)[len('<span class="code">'):-len("</span>")]) == "OK"
    p = poplib.POP3("127.0.0.1", d.ports["pop3"])
    p.user(ADDR)
    p.pass_(code)
    p.quit()
    # The list shows its last use.
    _, page = b.request("GET", "/")
    row = re.search(r"<tr><td>手机 &lt;K-9&gt;</td>.*?</tr>", page, re.S).group(0)
    assert "pop3" in row and "127.0.0.1" in row
    app_id = re.search(r'name="id" value="(\d+)"', row).group(1)
    r, _ = b.request("POST", "/app-passwords/revoke", form={"id": app_id, "csrf": b.csrf(page)})
    assert r.status == 303 and r.getheader("Location") == "/?revoked=1"
    assert "authentication failed" in imap_login(d, ADDR, code).lower()
    r, page = b.request("GET", "/?revoked=1")
    assert "You have no app passwords yet" in page
    # Revoking an unknown id is an error, not a crash.
    r, _ = b.request("POST", "/app-passwords/revoke", form={"id": "999", "csrf": b.csrf(page)})
    assert r.status == 404


def test_chinese_page(roostd):
    d = web_daemon(roostd)
    b = Browser(d, lang="zh-CN,zh;q=0.9,en;q=0.8")
    r, page = b.request("GET", "/")
    assert '<html lang="zh-CN">' in page and "邮箱地址" in page and "登录" in page
    b.login()
    _, page = b.request("GET", "/")
    for s in ("POP3/IMAP/SMTP服务", "IMAP服务", "已开启", "授权码", "生成授权码", "收信服务器",
              "端口", "退出"):
        assert s in page, s
    # The switch link to English, remembered in a cookie.
    assert 'href="/?lang=en"' in page
    _, page = b.request("GET", "/?lang=en")
    assert "App passwords" in page and b.cookies.get("roost_lang") == "en"
    _, page = b.request("GET", "/")
    assert "App passwords" in page
    # English browsers get English.
    e = Browser(d, lang="en-US,en;q=0.9")
    _, page = e.request("GET", "/")
    assert '<html lang="en">' in page and "Email address" in page


def test_server_settings_on_page(roostd):
    d = web_daemon(roostd)
    b = Browser(d)
    b.login()
    _, page = b.request("GET", "/")
    box = re.search(r'<section id="servers">.*?</section>', page, re.S).group(0)
    assert "mail.example.test" in box
    for port in (d.ports["imaps"], d.ports["imap"], d.ports["pop3s"], d.ports["pop3"], 587):
        assert "<td>%d</td>" % port in box
    assert "STARTTLS" in box and "SSL/TLS" in box


def test_thunderbird_autoconfig(roostd):
    d = web_daemon(roostd)
    b = Browser(d)
    for path in ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"):
        r, text = b.request("GET", path + "?emailaddress=" + urllib.parse.quote(ADDR))
        assert r.status == 200 and r.getheader("Content-Type").startswith("application/xml")
        root = ET.fromstring(text.encode())
        prov = root.find("emailProvider")
        assert prov.get("id") == "example.test" and prov.find("domain").text == "example.test"
        servers = [(s.get("type"), s.find("hostname").text, int(s.find("port").text),
                    s.find("socketType").text, s.find("username").text)
                   for s in prov.findall("incomingServer")]
        assert servers[0] == ("imap", "mail.example.test", d.ports["imaps"], "SSL",
                              "%EMAILADDRESS%")
        assert ("imap", "mail.example.test", d.ports["imap"], "STARTTLS",
                "%EMAILADDRESS%") in servers
        assert ("pop3", "mail.example.test", d.ports["pop3s"], "SSL", "%EMAILADDRESS%") in servers
        out = prov.find("outgoingServer")
        assert out.find("port").text == "587" and out.find("socketType").text == "STARTTLS"
    r, _ = b.request("GET", "/mail/config-v1.1.xml?emailaddress=bob%40elsewhere.test")
    assert r.status == 404
    r, _ = b.request("GET", "/mail/config-v1.1.xml")
    assert r.status == 400


def test_outlook_autodiscover(roostd):
    d = web_daemon(roostd)
    b = Browser(d)
    req = ('<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="http://schemas.'
           'microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request>'
           '<EMailAddress>%s</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft'
           '.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>'
           '</Request></Autodiscover>' % ADDR.upper())
    r, text = b.request("POST", "/Autodiscover/Autodiscover.xml", body=req.encode(),
                        headers={"Content-Type": "text/xml"})
    assert r.status == 200
    ns = {"a": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
    root = ET.fromstring(text.encode())
    protos = {p.find("a:Type", ns).text: p for p in root.findall(".//a:Protocol", ns)}
    assert set(protos) == {"IMAP", "POP3", "SMTP"}
    imap = protos["IMAP"]
    assert imap.find("a:Server", ns).text == "mail.example.test"
    assert int(imap.find("a:Port", ns).text) == d.ports["imaps"]
    assert imap.find("a:SSL", ns).text == "on" and imap.find("a:SPA", ns).text == "off"
    assert imap.find("a:LoginName", ns).text == ADDR
    assert int(protos["POP3"].find("a:Port", ns).text) == d.ports["pop3s"]
    # Garbage and unknown domains get the POX error.
    for body in (b"<x/>", req.replace(ADDR.upper(), "a@nowhere.test").encode(),
                 b"<!DOCTYPE x [<!ENTITY e 'x'>]><EMailAddress>&e;</EMailAddress>"):
        r, text = b.request("POST", "/autodiscover/autodiscover.xml", body=body)
        assert r.status == 200 and "<ErrorCode>600</ErrorCode>" in text
        ET.fromstring(text.encode())
    r, _ = b.request("GET", "/autodiscover/autodiscover.xml")
    assert r.status == 405 and r.getheader("Allow") == "POST"


def test_apple_mobileconfig(roostd):
    import plistlib
    d = web_daemon(roostd)
    b = Browser(d)
    r, text = b.request("GET", "/apple/mobileconfig?emailaddress=" + urllib.parse.quote(ADDR))
    assert r.status == 200
    assert r.getheader("Content-Type") == "application/x-apple-aspen-config"
    pl = plistlib.loads(text.encode())
    assert pl["PayloadType"] == "Configuration"
    acct = pl["PayloadContent"][0]
    assert acct["PayloadType"] == "com.apple.mail.managed"
    assert acct["EmailAccountType"] == "EmailTypeIMAP"
    assert acct["IncomingMailServerHostName"] == "mail.example.test"
    assert acct["IncomingMailServerPortNumber"] == d.ports["imaps"]
    assert acct["IncomingMailServerUseSSL"] is True
    assert acct["IncomingMailServerUsername"] == ADDR
    assert acct["OutgoingMailServerPortNumber"] == 587
    assert re.match(r"^[0-9A-F-]{36}$", acct["PayloadUUID"])


def raw(d, data, read_all=True):
    s = socket.create_connection(("127.0.0.1", d.ports["http"]), timeout=10)
    s.sendall(data)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        out += chunk
        if not read_all:
            break
    s.close()
    return out


def test_protocol_errors(roostd):
    d = web_daemon(roostd)
    assert raw(d, b"POST /login HTTP/1.1\r\nHost: h\r\n\r\n").startswith(
        b"HTTP/1.1 411 Length Required\r\n")
    assert raw(d, b"POST /login HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"0\r\n\r\n").startswith(b"HTTP/1.1 411 ")
    assert raw(d, b"POST /login HTTP/1.1\r\nHost: h\r\nContent-Length: 99999\r\n\r\n"
               ).startswith(b"HTTP/1.1 413 ")
    assert raw(d, b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 9000 + b"\r\n\r\n").startswith(
        b"HTTP/1.1 431 ")
    assert raw(d, b"GET / HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw(d, b"GET / HTTP/3.0\r\nHost: h\r\n\r\n").startswith(b"HTTP/1.1 505 ")
    assert raw(d, b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n").startswith(b"HTTP/1.1 501 ")
    assert raw(d, b"GET /nope HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").startswith(
        b"HTTP/1.1 404 ")
    # Errors close the connection; the daemon carries on.
    assert b"Connection: close" in raw(d, b"\x00\x01\x02\r\n\r\n")


def test_pipelining_and_keep_alive(roostd):
    d = web_daemon(roostd)
    one = b"GET /style.css HTTP/1.1\r\nHost: h\r\n\r\n"
    out = raw(d, one * 3 + b"GET /style.css HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200 OK\r\n") == 4
    # HEAD: the headers of GET without the body.
    out = raw(d, b"HEAD /style.css HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert b"Content-Length: " in head and body == b""
    # Byte by byte.
    s = socket.create_connection(("127.0.0.1", d.ports["http"]), timeout=10)
    for c in b"GET /style.css HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n":
        s.send(bytes([c]))
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")


def test_lockout_answers_429(roostd):
    d = web_daemon(roostd, extra="[auth]\nfail_delay_ms = 0\nmax_failures = 2\n"
                                 "lockout_seconds = 60\n")
    b = Browser(d)
    for _ in range(2):
        r, _ = b.login(password="wrong")
        assert r.status == 403
    # Locked: even the right password is refused, with the time to wait.
    r, page = b.login()
    assert r.status == 429 and "Too many failed sign-ins" in page
    assert "roost_session" not in b.cookies
    assert "event=web-login-failed" in d.log_text()


def test_quota_and_disabled_account(roostd):
    d = web_daemon(roostd)
    d.cli("user", "set", ADDR, "quota=10M", "quota_messages=500")
    b = Browser(d)
    b.login()
    _, page = b.request("GET", "/")
    assert "of 10.0 MiB used" in page and "At most 500 messages" in page
    zh = Browser(d, lang="zh")
    zh.login()
    _, page = zh.request("GET", "/")
    assert "存储空间：已使用" in page
    # Disabling the account ends its sessions at the next request.
    d.cli("user", "set", ADDR, "state=disabled")
    r, page = b.request("GET", "/")
    assert r.status == 303
    r, page = b.request("GET", "/")
    assert 'action="/login"' in page


def test_requests_survive_sigterm_cleanly(roostd):
    d = web_daemon(roostd)
    s = socket.create_connection(("127.0.0.1", d.ports["http"]), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n")  # half a request
    time.sleep(0.2)
    assert d.stop() == 0
    s.close()


def recv_until(s, needle, limit=10):
    data = b""
    deadline = time.time() + limit
    while needle not in data and time.time() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_expect_100_continue(roostd):
    d = web_daemon(roostd)
    body = ('<Autodiscover><Request><EMailAddress>%s</EMailAddress></Request></Autodiscover>'
            % ADDR).encode()
    s = socket.create_connection(("127.0.0.1", d.ports["http"]), timeout=10)
    s.sendall(b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: h\r\n"
              b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
    interim = recv_until(s, b"\r\n\r\n")
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    s.sendall(body)
    final = recv_until(s, b"</Autodiscover>")
    assert final.startswith(b"HTTP/1.1 200 OK\r\n") and b"<Type>IMAP</Type>" in final
    s.close()
    assert raw(d, b"POST /login HTTP/1.1\r\nHost: h\r\nExpect: magic\r\nContent-Length: 1\r\n"
                  b"\r\nx").startswith(b"HTTP/1.1 417 ")


def test_http10_keep_alive(roostd):
    d = web_daemon(roostd)
    s = socket.create_connection(("127.0.0.1", d.ports["http"]), timeout=10)
    s.sendall(b"GET /favicon.svg HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    first = recv_until(s, b"</svg>\n")
    assert b"Connection: keep-alive\r\n" in first
    s.sendall(b"GET /favicon.svg HTTP/1.0\r\n\r\n")
    second = recv_until(s, b"</svg>\n")
    assert b"Connection: close\r\n" in second
    assert s.recv(100) == b""  # closed after a plain 1.0 request
    s.close()


def test_timeouts(roostd):
    d = web_daemon(roostd, extra="preauth_timeout = 2\n")
    # Half a request, then silence: 408, then the connection closes.
    s = socket.create_connection(("127.0.0.1", d.ports["http"]), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n")
    t0 = time.time()
    data = recv_until(s, b"took too long")
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert 1.5 < time.time() - t0 < 8
    assert s.recv(100) == b""
    s.close()
    # An idle keep-alive connection just closes.
    s = socket.create_connection(("127.0.0.1", d.ports["http"]), timeout=10)
    s.sendall(b"GET /favicon.svg HTTP/1.1\r\nHost: h\r\n\r\n")
    recv_until(s, b"</svg>\n")
    assert recv_until(s, b"never") == b""
    s.close()


def test_change_password(roostd):
    d = web_daemon(roostd, extra="[auth]\nfail_delay_ms = 200\n")
    out = d.cli("app-password", "add", ADDR, "phone", "--json").stdout.decode()
    code = re.search(r'"code": "([a-z]{16})"', out).group(1)
    other = Browser(d)
    other.login()
    b = Browser(d)
    b.login()
    _, page = b.request("GET", "/")
    assert 'action="/password"' in page
    tok = b.csrf(page)
    new = "a much better secret"
    # Wrong current password: refused after the delay, nothing changed.
    t0 = time.time()
    r, page = b.request("POST", "/password", form={"csrf": tok, "current": "nope", "new": new,
                                                   "repeat": new})
    assert r.status == 403 and "current password is wrong" in page
    assert time.time() - t0 >= 0.15
    r, page = b.request("POST", "/password", form={"csrf": tok, "current": PASSWORD,
                                                   "new": new, "repeat": new + "x"})
    assert r.status == 400 and "differ" in page
    r, page = b.request("POST", "/password", form={"csrf": tok, "current": PASSWORD,
                                                   "new": "short", "repeat": "short"})
    assert r.status == 400 and "too short" in page
    assert imap_login(d, ADDR, PASSWORD) == "OK"
    # Without the CSRF token: refused.
    r, _ = b.request("POST", "/password", form={"current": PASSWORD, "new": new, "repeat": new})
    assert r.status == 403
    old_cookie = b.cookies["roost_session"]
    r, _ = b.request("POST", "/password", form={"csrf": tok, "current": PASSWORD, "new": new,
                                                "repeat": new})
    assert r.status == 303 and r.getheader("Location") == "/?password=1"
    assert b.cookies["roost_session"] != old_cookie
    r, page = b.request("GET", "/?password=1")
    assert "Your password was changed" in page
    # The other browser is signed out; mail logins use the new password; the
    # app password still works.
    _, page = other.request("GET", "/")
    assert 'action="/login"' in page
    assert imap_login(d, ADDR, new) == "OK"
    assert "authentication failed" in imap_login(d, ADDR, PASSWORD).lower()
    assert imap_login(d, ADDR, code) == "OK"
    # A new password set by the administrator ends the page's sessions too.
    time.sleep(1.1)
    d.cli("user", "passwd", ADDR, "--password-stdin", input="admin set this one\n")
    r, page = b.request("GET", "/")
    assert r.status == 303
    _, page = b.request("GET", "/")
    assert 'action="/login"' in page
