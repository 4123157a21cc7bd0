"""DKIM with real verifiers and signers: what sandmail-dkim signs (RSA and
Ed25519, a varied corpus) verifies with dkimpy and with OpenDKIM; what
dkimpy signs, sandmail-dkim verify accepts, and rejects once changed; and
the whole path: a message relayed through sandmail arrives at a test MX
with signatures dkimpy and OpenDKIM verify, made by sandmail-sign."""
import base64
import os
import re
import smtplib
import stat
import subprocess

import pytest

from conftest import need, need_module, prog, wait_for

dkim = need_module("dkim", "python3-dkim")

DOMAIN = "example.org"

CORPUS = {
    "plain": b"From: A <a@example.org>\nTo: b@example.net\n"
             b"Subject: hello\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
             b"Message-ID: <1@example.org>\n\nline one\nline two\n",
    "mime8bit": b"From: a@example.org\nTo: b@example.net\nSubject: mime\n"
                b"MIME-Version: 1.0\nContent-Type: multipart/mixed; "
                b"boundary=\"XX\"\n\n--XX\nContent-Type: text/plain; "
                b"charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
                b"caf\xc3\xa9 \xe2\x82\xac  \t \n--XX\nContent-Type: "
                b"application/octet-stream\nContent-Transfer-Encoding: "
                b"base64\n\nAAECAw==\n--XX--\n",
    "folded": b"From: a@example.org\nTo: one@example.net,\n two@example.net"
              b",\n\tthree@example.net\nSubject: " + b"word " * 20 +
              b"\n  " + b"more " * 30 + b"\n\tend\nX-Long: " +
              b"x" * 900 + b"\n\nbody\n",
    "empty_body": b"From: a@example.org\nTo: b@example.net\nSubject: e\n\n",
    "no_newline": b"From: a@example.org\nTo: b@example.net\nSubject: n\n\n"
                  b"no final newline",
    "trailing_blank": b"From: a@example.org\nSubject: t\n\ntext  \n\n \n"
                      b"\t\n\n",
    "utf8_header": b"From: =?utf-8?q?J=C3=B6rg?= <a@example.org>\n"
                   b"Subject: gr\xc3\xbc\xc3\x9fe\nTo: b@example.net\n\nx\n",
    "dots": b"From: a@example.org\nSubject: d\n\n.\n..x\nFrom me\n.\n",
    "crlf": b"From: a@example.org\r\nTo: b@example.net\r\nSubject: c\r\n"
            b"\r\nline  one \r\n\r\n\r\n",
    "dup_to": b"From: a@example.org\nTo: x@example.net\nTo: y@example.net"
              b"\nCc: z@example.net\nReply-To: r@example.org\n\nx\n",
}


def run(args, inp=None, check=True):
    r = subprocess.run([prog("sandmail-dkim")] + args, input=inp,
                       capture_output=True, timeout=60)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("dkimkeys"))
    out = {}
    for sel, alg in (("r1", "rsa"), ("e1", "ed25519")):
        r = run(["keygen", "-k", d, DOMAIN, sel, alg])
        txt = open(os.path.join(d, f"{DOMAIN}.{sel}.txt")).read().strip()
        out[sel] = dict(key=os.path.join(d, f"{DOMAIN}.{sel}.key"),
                        txt=txt, zone=r.stdout.decode())
    out["dir"] = d
    return out


def dnsfunc_for(keys):
    recs = {f"{s}._domainkey.{DOMAIN}.": keys[s]["txt"].encode()
            for s in ("r1", "e1")}

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        return recs.get(name)
    return dnsfunc


def dkimpy_results(msg, keys):
    """dkimpy's verdict on every DKIM-Signature of msg, top down."""
    d = dkim.DKIM(msg)
    n = sum(1 for h in d.headers if h[0].lower() == b"dkim-signature")
    return [d.verify(idx=i, dnsfunc=dnsfunc_for(keys)) for i in range(n)]


def opendkim_results(msg, keys, tmp):
    """OpenDKIM's (opendkim -t, test keys from a file) Authentication-
    Results, as {selector: result}."""
    need("opendkim")
    kf = os.path.join(tmp, "testkeys")
    with open(kf, "w") as f:
        for s in ("r1", "e1"):
            f.write(f"{s}._domainkey.{DOMAIN} {keys[s]['txt']}\n")
    cf = os.path.join(tmp, "opendkim.conf")
    with open(cf, "w") as f:
        f.write(f"TestPublicKeys {kf}\nSyslog no\nMode v\n"
                "AlwaysAddARHeader yes\n")
    mf = os.path.join(tmp, "msg.eml")
    with open(mf, "wb") as f:
        # opendkim -t reads a message without its final line end as
        # unsigned; SMTP always adds one, and both canonical bodies
        # (3.4.3, 3.4.4) end in CRLF anyway
        f.write(msg if msg.endswith(b"\n") else msg + b"\n")
    r = subprocess.run(["opendkim", "-x", cf, "-vvv", "-t", mf],
                       capture_output=True, timeout=60)
    out = (r.stdout + r.stderr).decode(errors="replace")
    res = {}
    for m in re.finditer(r"dkim=(\w+)[^;]*?header\.s=(\w+)", out):
        res[m.group(2)] = m.group(1)
    return res


def sign(msg, keys, *sels):
    args = ["sign", "-d", DOMAIN]
    for s in sels:
        args += ["-s", s, "-k", keys[s]["key"]]
    return run(args, msg).stdout


def test_keygen_modes_and_record(keys):
    for s, k in (("r1", "rsa"), ("e1", "ed25519")):
        st = os.stat(keys[s]["key"])
        assert stat.S_IMODE(st.st_mode) == 0o640
        assert keys[s]["txt"].startswith(f"v=DKIM1; k={k}; p=")
        assert keys[s]["zone"].startswith(f"{s}._domainkey.{DOMAIN}. IN TXT")
    # the RSA key is 2048 bits (RFC 8301)
    r = subprocess.run(["openssl", "pkey", "-in", keys["r1"]["key"],
                        "-noout", "-text"], capture_output=True, text=True)
    assert "2048 bit" in r.stdout
    # never replaces a key in use
    r = run(["keygen", "-k", keys["dir"], DOMAIN, "r1", "rsa"], check=False)
    assert r.returncode != 0


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_verifies_with_dkimpy_and_opendkim(name, keys, tmp_path):
    msg = CORPUS[name]
    signed = sign(msg, keys, "r1", "e1")
    assert signed.endswith(msg)
    assert dkimpy_results(signed, keys) == [True, True]
    assert opendkim_results(signed, keys, str(tmp_path)) == {
        "r1": "pass", "e1": "pass"}
    # our own verifier agrees, and names each signature's key
    r = run(["verify", "-r", keys["e1"]["txt"]], signed)
    assert b"dkim=pass d=example.org s=e1" in r.stdout


def test_oversigned_header_cannot_be_added(keys):
    signed = sign(CORPUS["plain"], keys, "e1")
    h = signed.split(b"\n\tb=")[0]
    assert b"from:from:" in h and b"subject:subject" in h
    # an added second Subject breaks the signature
    forged = signed.replace(b"Subject: hello\n",
                            b"Subject: hello\nSubject: forged\n")
    assert dkimpy_results(forged, keys) == [False]
    r = run(["verify", "-r", keys["e1"]["txt"]], forged, check=False)
    assert r.returncode == 100


def test_simple_canonicalization(keys):
    signed = run(["sign", "-d", DOMAIN, "-c", "simple", "-s", "r1", "-k",
                  keys["r1"]["key"]], CORPUS["trailing_blank"]).stdout
    assert b"c=simple/simple" in signed
    assert dkimpy_results(signed, keys) == [True]


def test_short_rsa_key_refused(tmp_path):
    k = os.path.join(str(tmp_path), "short.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:1024", "-out", k], check=True,
                   capture_output=True)
    r = run(["sign", "-d", DOMAIN, "-s", "x", "-k", k], CORPUS["plain"],
            check=False)
    assert r.returncode == 100


def dkimpy_keys(tmp):
    """An RSA key (PEM) and an Ed25519 key for dkimpy, with their
    records."""
    rk = os.path.join(tmp, "rsa.pem")
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", rk,
                    "2048"], check=True, capture_output=True)
    pub = subprocess.run(["openssl", "rsa", "-in", rk, "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True).stdout
    nacl = need_module("nacl.signing", "python3-nacl")
    sk = nacl.SigningKey.generate()
    return (open(rk, "rb").read(),
            "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode(),
            base64.b64encode(bytes(sk)),
            "v=DKIM1; k=ed25519; p=" +
            base64.b64encode(bytes(sk.verify_key)).decode())


@pytest.mark.parametrize("canon", [b"relaxed", b"simple"])
def test_verify_accepts_dkimpy_and_rejects_changes(canon, tmp_path):
    rsa, rtxt, ed, etxt = dkimpy_keys(str(tmp_path))
    for name in ("plain", "mime8bit", "folded", "empty_body"):
        msg = CORPUS[name]
        for alg, key, txt in ((b"rsa-sha256", rsa, rtxt),
                              (b"ed25519-sha256", ed, etxt)):
            sig = dkim.sign(msg, b"s", DOMAIN.encode(), key,
                            canonicalize=(canon, canon),
                            signature_algorithm=alg,
                            include_headers=[b"from", b"to", b"subject"])
            good = sig + msg
            r = run(["verify", "-r", txt], good, check=False)
            assert r.returncode == 0, (name, alg, r.stdout)
            body = good + b"appended\n"
            r = run(["verify", "-r", txt], body, check=False)
            assert r.returncode == 100 and b"body hash" in r.stdout
            hdr = good.replace(b"To: ", b"To: x", 1) if b"To: " in good \
                else good.replace(b"From: ", b"From: x", 1)
            r = run(["verify", "-r", txt], hdr, check=False)
            assert r.returncode == 100 and b"signature mismatch" in r.stdout
            # the wrong key
            r = run(["verify", "-r", etxt if txt == rtxt else rtxt], good,
                    check=False)
            assert r.returncode == 100
    # a revoked key (p= empty) is an error, not a pass
    r = run(["verify", "-r", "v=DKIM1; p="], CORPUS["plain"], check=False)
    assert r.returncode == 100


# ---- the whole path: smtpd -> queue -> send + sandmail-sign -> MX ----

@pytest.fixture
def signing_system(procs, tmp_path, keys):
    need("dnsmasq", "dnsmasq-base")
    from test_remote_e2e import make_system
    with open(os.path.join(str(tmp_path), "dkim"), "w") as f:
        f.write("# domain selector keyfile\n"
                f"{DOMAIN} r1 {keys['r1']['key']}\n"
                f"Example.ORG e1 {keys['e1']['key']}\n")
    conf = {"user_sign": "nobody"} if os.geteuid() == 0 else {}
    s = make_system(procs, tmp_path, conf=conf)
    yield s
    procs.stop(s.start_proc)
    s.start_logfile.close()


def test_relayed_mail_arrives_signed(signing_system, keys, tmp_path):
    from remoteutil import SMTPServer
    s = signing_system
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    try:
        msgs = [CORPUS["plain"], CORPUS["mime8bit"], CORPUS["no_newline"]]
        for m in msgs:
            with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
                c.sendmail("a@example.org", ["b@dest.test"],
                           m.replace(b"\r\n", b"\n").replace(b"\n",
                                                             b"\r\n"))
        done = wait_for(lambda: len(mx.done()) >= len(msgs) and mx.done(),
                        timeout=60, what="deliveries")
        for t in done:
            assert t.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
            assert b"\r\nDKIM-Signature: v=1; a=ed25519-sha256;" in t.data
            assert dkimpy_results(t.data, keys) == [True, True]
            assert opendkim_results(t.data, keys, str(tmp_path)) == {
                "r1": "pass", "e1": "pass"}
    finally:
        mx.close()
    log = open(s.start_log, "rb").read()
    assert b"prog=sign" in log and b"event=ready" in log


def test_foreign_from_is_not_signed(signing_system):
    from remoteutil import SMTPServer
    s = signing_system
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    try:
        with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
            c.sendmail("a@other.test", ["b@dest.test"],
                       b"From: a@other.test\r\nSubject: x\r\n\r\nx\r\n")
        t = wait_for(lambda: mx.done(), timeout=60, what="delivery")[0]
        assert b"DKIM-Signature" not in t.data
    finally:
        mx.close()


def test_records_for_the_domain(keys):
    out = run(["records", "-k", keys["dir"], DOMAIN]).stdout.decode()
    assert f'{DOMAIN}. IN TXT "v=spf1 mx -all"' in out
    assert f"_dmarc.{DOMAIN}. IN TXT \"v=DMARC1; p=none;" in out
    for s in ("r1", "e1"):
        line = [x for x in out.splitlines()
                if x.startswith(f"{s}._domainkey.{DOMAIN}. IN TXT")][0]
        # the strings joined are the key's record
        assert "".join(re.findall(r'"([^"]*)"', line)) == keys[s]["txt"]


def test_submission_with_auth_arrives_signed(procs, tmp_path, keys):
    """Mail relayed through submission (STARTTLS, AUTH PLAIN; no relay
    clients at all) reaches the MX host signed; dkimpy verifies it."""
    need("dnsmasq", "dnsmasq-base")
    from dnsutil import start_dnsmasq
    from remoteutil import SMTPServer, common_port
    from test_smtpd_tls import TlsSmtpd
    port = common_port(["127.0.0.2"])
    dns = start_dnsmasq(procs, str(tmp_path), [
        "--local-ttl=60", "--mx-host=dest.test,mx.dest.test,10",
        "--mx-host=elsewhere.test,mx.dest.test,10",
        "--host-record=mx.dest.test,127.0.0.2"])
    with open(os.path.join(str(tmp_path), "dkim"), "w") as f:
        f.write(f"{DOMAIN} r1 {keys['r1']['key']}\n"
                f"{DOMAIN} e1 {keys['e1']['key']}\n")
    conf = {"nameserver": f"127.0.0.1:{dns}", "mx_port": port,
            "dns_timeout": 2, "retry_first": 1, "retry_max": 2,
            "empty_dir": os.path.join(str(tmp_path), "empty")}
    if os.geteuid() == 0:
        conf.update(user_resolve="nobody", user_remote="nobody",
                    user_vmail="nobody", user_alias="nobody",
                    user_sign="nobody")
    t = TlsSmtpd(procs, tmp_path, **conf)
    log = open(os.path.join(str(tmp_path), "start.log"), "wb")
    start = procs.start([prog("sandmail-start"), "-c", t.conf], stderr=log)
    mx = SMTPServer("127.0.0.2", port, "mx.dest.test")
    try:
        c = t.starttls(t.sub)
        t.login(c)
        c.sendmail("alice@example.test", ["b@dest.test"],
                   CORPUS["mime8bit"].replace(b"\n", b"\r\n"))
        c.quit()
        got = wait_for(lambda: mx.done(), timeout=60, what="delivery")[0]
        assert dkimpy_results(got.data, keys) == [True, True]
        assert opendkim_results(got.data, keys, str(tmp_path)) == {
            "r1": "pass", "e1": "pass"}
        # the same From: from an unauthenticated client on port 25, to
        # an alias that forwards to another domain: not ours to sign
        with smtplib.SMTP("127.0.0.1", t.smtp, timeout=20) as c:
            c.sendmail("x@outside.test", ["fwd@example.test"],
                       CORPUS["plain"].replace(b"\n", b"\r\n"))
        fwd = wait_for(lambda: len(mx.done()) == 2 and mx.done()[1],
                       timeout=60, what="forwarded delivery")
        assert b"Subject: hello" in fwd.data
        assert b"DKIM-Signature" not in fwd.data
    finally:
        mx.close()
        procs.stop(start)
        log.close()


def test_sendmail_injection_arrives_signed(signing_system, keys):
    """Mail from sendmail on this host (proto local) is signed too."""
    from remoteutil import SMTPServer
    s = signing_system
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    try:
        r = subprocess.run([prog("sandmail-inject"), "-C", s.conf, "-f",
                            "a@example.org", "b@dest.test"],
                           input=CORPUS["folded"], capture_output=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        got = wait_for(lambda: mx.done(), timeout=60, what="delivery")[0]
        assert dkimpy_results(got.data, keys) == [True, True]
    finally:
        mx.close()


def test_downgraded_mail_goes_unsigned(signing_system, keys):
    """8-bit mail to a server without 8BITMIME is converted to 7 bit on
    the way, which the signatures would not cover: it goes without
    them (and the 7-bit peer still gets it); 7-bit mail stays signed."""
    from remoteutil import SMTPServer
    s = signing_system
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    mx.ehlo = [e for e in mx.ehlo if e != "8BITMIME"]
    try:
        for m in (CORPUS["mime8bit"], CORPUS["plain"]):
            with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
                c.sendmail("a@example.org", ["b@dest.test"],
                           m.replace(b"\n", b"\r\n"),
                           mail_options=["BODY=8BITMIME"])
        done = wait_for(lambda: len(mx.done()) == 2 and mx.done(),
                        timeout=60, what="deliveries")
        by = {b"Subject: mime" in t.data: t for t in done}
        assert b"Content-Transfer-Encoding: quoted-printable" in \
            by[True].data
        assert b"DKIM-Signature" not in by[True].data
        assert dkimpy_results(by[False].data, keys) == [True, True], by[False].data[:300]
    finally:
        mx.close()


def test_injected_cr_never_breaks_a_signature(signing_system, keys):
    """sendmail input with CR LF line ends and a line ending in CR: what
    arrives is either signed and verifies, or not signed at all."""
    from remoteutil import SMTPServer
    s = signing_system
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    try:
        for m in (CORPUS["crlf"], CORPUS["plain"] + b"odd line\r\r\n"):
            r = subprocess.run([prog("sandmail-inject"), "-C", s.conf, "-f",
                                "a@example.org", "b@dest.test"], input=m,
                               capture_output=True, timeout=60)
            assert r.returncode == 0, r.stderr
        done = wait_for(lambda: len(mx.done()) == 2 and mx.done(),
                        timeout=60, what="deliveries")
        for t in done:
            if b"DKIM-Signature" in t.data:
                assert dkimpy_results(t.data, keys) == [True, True]
    finally:
        mx.close()


def test_verify_refuses_length_and_expired(tmp_path, keys):
    """l= lets anyone append to a signed body: refused, not passed (a
    dkimpy signature with l=); an x= in the past is expired."""
    rsa, rtxt, ed, etxt = dkimpy_keys(str(tmp_path))
    msg = CORPUS["plain"]
    sig = dkim.sign(msg, b"s", DOMAIN.encode(), ed,
                    canonicalize=(b"relaxed", b"relaxed"),
                    signature_algorithm=b"ed25519-sha256", length=True)
    assert b"l=" in sig
    r = run(["verify", "-r", etxt], sig + msg + b"appended\n", check=False)
    assert r.returncode == 100 and b"l= not accepted" in r.stdout
    # dkimpy cannot set x=; expiry is checked before the signature, so
    # an x= in the past added to one of ours is enough
    signed = sign(msg, keys, "e1")
    bad = signed.replace(b"s=e1;", b"s=e1; x=1000000000;", 1)
    r = run(["verify", "-r", keys["e1"]["txt"]], bad, check=False)
    assert r.returncode == 100 and b"expired" in r.stdout


def test_long_lines_never_break_a_signature(signing_system, keys):
    """A body line over 998 octets is re-encoded or broken by rspawn's
    worker on the way: the message goes unsigned rather than with
    signatures that cannot verify."""
    from remoteutil import SMTPServer
    s = signing_system
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    try:
        m = CORPUS["plain"] + b"y" * 1200 + b"\n"
        r = subprocess.run([prog("sandmail-inject"), "-C", s.conf, "-f",
                            "a@example.org", "b@dest.test"], input=m,
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        t = wait_for(lambda: mx.done(), timeout=60, what="delivery")[0]
        if b"DKIM-Signature" in t.data:
            assert dkimpy_results(t.data, keys) == [True, True]
    finally:
        mx.close()
