"""ARC sealing (RFC 8617): a message smtpd verified (smtpd_verify) that an
alias forwards to another domain leaves with an ARC set (ARC-Seal,
ARC-Message-Signature, ARC-Authentication-Results) signed by
sandmail-sign with arc_domain's key.  dkimpy's arc_verify, an independent
implementation, judges the chain: our set alone (i=1, cv=none), and ours
on top of a set dkimpy's arc_sign made upstream (i=2, cv=pass); and a
second sandmail, verifying, finds the chain of the first valid."""
import os
import re
import smtplib
import subprocess

import pytest

from conftest import need, need_module, prog, wait_for

dkim = need_module("dkim", "python3-dkim")

MSG = (b"From: A <a@sender.test>\r\nTo: fwd@example.test\r\n"
       b"Subject: sealed\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
       b"Message-ID: <arc1@sender.test>\r\n\r\nline one\r\nline two\r\n")


def keygen(d, domain, sel):
    subprocess.run([prog("sandmail-dkim"), "keygen", "-k", d, domain, sel,
                    "rsa"], check=True, capture_output=True, timeout=60)
    txt = open(os.path.join(d, f"{domain}.{sel}.txt")).read().strip()
    return os.path.join(d, f"{domain}.{sel}.key"), txt


def txt_option(name, txt):
    """dnsmasq: each comma starts another string of the record (a key is
    longer than one string's 255 bytes); quotes would be taken as text"""
    chunks = [txt[i:i + 200] for i in range(0, len(txt), 200)]
    return f"--txt-record={name}," + ",".join(chunks)


def arc_keys(tmp_path, upstream=True, **conf):
    """example.test's key a1 (in the dkim table, for sandmail-sign) and
    upstream.test's u1 (dkimpy's, upstream's), in tmp_path/keys;
    (ours, up or None, the sandmail.conf settings with conf)"""
    from e2eutil import signing_conf
    d = str(tmp_path)
    kd = os.path.join(d, "keys")
    os.makedirs(kd)
    ours = keygen(kd, "example.test", "a1")
    up = keygen(kd, "upstream.test", "u1") if upstream else None
    return ours, up, signing_conf(d, f"example.test a1 {ours[0]}\n",
                                  **conf)


@pytest.fixture
def arc_system(procs, tmp_path):
    from e2eutil import running_system
    ours, up, conf = arc_keys(tmp_path, arc_domain="example.test")
    with running_system(procs, tmp_path, conf=conf, verify=True, dns_extra=[
            txt_option("a1._domainkey.example.test", ours[1]),
            txt_option("u1._domainkey.upstream.test", up[1])],
            tables={"aliases": "fwd@example.test b@dest.test\n",
                    "relayclients": ""}) as s:
        s.records = {b"a1._domainkey.example.test.": ours[1].encode(),
                     b"u1._domainkey.upstream.test.": up[1].encode()}
        s.upkey = open(up[0], "rb").read()
        yield s


def relay(s, msg):
    from remoteutil import SMTPServer
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    try:
        with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
            c.sendmail("a@sender.test", ["fwd@example.test"], msg)
        return wait_for(lambda: mx.done(), timeout=60,
                        what="the forward")[0].data
    finally:
        mx.close()


def verdict(s, data):
    def dnsfunc(name, timeout=5):
        if isinstance(name, str):
            name = name.encode()
        return s.records.get(name if name.endswith(b".") else name + b".")
    return dkim.arc_verify(data, dnsfunc=dnsfunc)


def test_verified_forward_is_sealed(arc_system):
    data = relay(arc_system, MSG)
    assert data.startswith(b"ARC-Seal: i=1; a=rsa-sha256;")
    assert b"cv=none" in data.split(b"\r\n\r\n")[0]
    # the AAR carries our Authentication-Results' value
    assert b"\r\nARC-Authentication-Results: i=1; test.example;" in data
    cv, results, why = verdict(arc_system, data)
    assert cv == dkim.CV_Pass, why
    assert len(results) == 1
    log = open(arc_system.start_log, "rb").read()
    assert b"event=arc" in log and b"sealed=yes" in log


def test_upstream_chain_is_extended(arc_system):
    upstream = (b"Authentication-Results: upstream.test; spf=pass "
                b"smtp.mailfrom=a@sender.test\r\n" + MSG)
    fields = dkim.arc_sign(upstream, b"u1", b"upstream.test",
                           arc_system.upkey, b"upstream.test")
    signed = b"".join(fields) + upstream
    cv, _, why = verdict(arc_system, signed)
    assert cv == dkim.CV_Pass, why        # dkimpy's own chain, as sent
    data = relay(arc_system, signed)
    head = data.split(b"\r\n\r\n")[0]
    assert data.startswith(b"ARC-Seal: i=2; a=rsa-sha256;")
    assert b"cv=pass" in head, head.decode()
    cv, results, why = verdict(arc_system, data)
    assert cv == dkim.CV_Pass, why
    assert len(results) == 2


def test_unsealable_chain_is_forwarded_unsealed(arc_system):
    """A chain that arrives too big to be sealed over (its ARC fields,
    the seal's input, past arc_seal's 1 MiB) can never be sealed: the
    forward goes without our set, at once, instead of being deferred
    as if sandmail-sign had failed until it expires and bounces."""
    junk = b"".join(b"\r\n\t" + b"A" * 900 for _ in range(64))
    sets = b""
    for i in range(20, 0, -1):
        sets += (b"ARC-Seal: i=%d; a=rsa-sha256; cv=%s; d=up.test; "
                 b"s=s; b=%s\r\n" % (i, b"none" if i == 1 else b"pass",
                                       junk) +
                 b"ARC-Message-Signature: i=%d; a=rsa-sha256; d=up.test; "
                 b"s=s; h=from; bh=x; b=x\r\n" % i +
                 b"ARC-Authentication-Results: i=%d; up.test; none\r\n"
                 % i)
    try:
        data = relay(arc_system, sets + MSG)
    except TimeoutError:
        log = open(arc_system.start_log, "rb").read()
        raise AssertionError([l for l in log.splitlines()
                              if b"arc" in l or b"warn" in l])
    assert not data.startswith(b"ARC-Seal: i=21"), data[:200]
    assert b"line two" in data


def test_unverified_forward_is_not_sealed(arc_system):
    """Mail smtpd did not check (here: from sendmail, which is never
    checked, and whose envelope cannot claim a check: unclaim) is
    forwarded without a seal: we vouch only for what we verified."""
    from remoteutil import SMTPServer
    s = arc_system
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    try:
        p = subprocess.run([prog("sandmail-inject"), "-f", "a@sender.test",
                            "fwd@example.test"], input=MSG,
                           capture_output=True, timeout=30,
                           env=dict(os.environ, SANDMAIL_CONF=s.conf))
        assert p.returncode == 0, p.stderr
        data = wait_for(lambda: mx.done(), timeout=60,
                        what="the relay")[0].data
        assert b"ARC-Seal" not in data
    finally:
        mx.close()


def test_arc_domain_without_key_is_said(procs, tmp_path):
    """An arc_domain with no rsa key in the dkim table seals nothing;
    send says so when it starts instead of staying silent."""
    from e2eutil import running_system
    _, _, conf = arc_keys(tmp_path, upstream=False, arc_domain="nokey.test")
    with running_system(procs, tmp_path, conf=conf, verify=True) as s:
        wait_for(lambda: b"no rsa key for arc_domain" in
                 open(s.start_log, "rb").read(), timeout=30,
                 what="send's warning")


def test_second_sandmail_verifies_the_chain(procs, tmp_path):
    """Two sandmails on loopback: A (smtpd_verify, arc_domain with its
    key, SRS) takes a message dkimpy signed for upstream.test, whose SPF
    does not list A's client, and its alias forwards it over SMTP to B
    (smtpd_verify, its own name).  B finds A's ARC set valid through the
    DNS (arc=pass, 1 set, d=example.test), reads in it what A saw
    (spf=fail, dkim=pass), finds the signature still good, and the SRS
    sender passes SPF as example.test's."""
    from dnsutil import start_dnsmasq
    from e2eutil import running_system
    from smtpdutil import Smtpd
    d = str(tmp_path)
    secret = os.path.join(d, "srs.secret")
    ours, up, conf = arc_keys(tmp_path, arc_domain="example.test",
                              srs_domain="example.test", srs_secret=secret)
    with open(secret, "wb") as f:
        f.write(b"a secret of test_arc_seal, 32 bytes or more\n")
    os.chmod(secret, 0o600)
    recs = [txt_option("a1._domainkey.example.test", ours[1]),
            txt_option("u1._domainkey.upstream.test", up[1]),
            "--txt-record=upstream.test,v=spf1 ip4:192.0.2.1 -all",
            "--txt-record=example.test,v=spf1 ip4:127.0.0.1 -all",
            "--txt-record=_dmarc.upstream.test,v=DMARC1; p=reject"]
    bdir = os.path.join(d, "b")
    os.makedirs(bdir)
    bdns = start_dnsmasq(procs, bdir, recs)
    b = Smtpd(procs, bdir, smtpd_verify="yes",
              smtpd_verify_nameserver=f"127.0.0.1:{bdns}",
              smtpd_authserv_id="mx.dest.test",
              tables={"domains": "dest.test local\n",
                      "localusers": "b 1000:1000:/home/b\n",
                      "aliases": ""})
    with running_system(
            procs, tmp_path, conf=conf, verify=True, dns_extra=recs,
            routes=lambda port: f"dest.test [127.0.0.1]:{b.port}\n",
            tables={"aliases": "fwd@example.test b@dest.test\n",
                    "relayclients": ""}) as a:
        msg = MSG.replace(b"a@sender.test", b"a@upstream.test")
        signed = dkim.sign(msg, b"u1", b"upstream.test",
                           open(up[0], "rb").read(),
                           canonicalize=(b"relaxed", b"relaxed")) + msg
        with smtplib.SMTP("127.0.0.1", a.port, timeout=20) as c:
            c.sendmail("a@upstream.test", ["fwd@example.test"], signed)
        (env, data), = wait_for(lambda: b.messages(), timeout=60,
                                what="the forward at B").values()
    head = data.split(b"\n\n")[0].decode()
    unfolded = re.sub(r"\n[ \t]+", " ", head)
    ours_b = unfolded.split("\n")[0]
    assert ours_b.startswith("Authentication-Results: mx.dest.test;"), head
    assert "arc=pass (chain valid, 1 sets, newest d=example.test)" in \
        ours_b, ours_b
    assert "dkim=pass (good) header.d=upstream.test header.s=u1" in ours_b
    assert "dmarc=pass" in ours_b, ours_b
    # the SRS sender, example.test's, passes SPF at B
    assert env["sender"].startswith("SRS0=") and \
        env["sender"].endswith("@example.test"), env
    assert "spf=pass (matched) smtp.mailfrom=SRS0=" in ours_b, ours_b
    # A's set, i=1 with cv=none, says what A found
    aar = [x for x in unfolded.split("\n")
           if x.startswith("ARC-Authentication-Results: i=1; test.example;")]
    assert len(aar) == 1, head
    assert "spf=fail" in aar[0] and "smtp.mailfrom=a@upstream.test" in \
        aar[0] and "dkim=pass (good) header.d=upstream.test" in aar[0], aar
    assert re.search(r"\nARC-Seal: i=1; a=rsa-sha256;[^\n]* cv=none;"
                     r"[^\n]* d=example.test;", "\n" + unfolded), head
    assert "ARC-Seal: i=2" not in head
    # B's verify line has it too
    assert " arc=pass " in b.logtext(), b.logtext()


def override_system(procs, tmp_path, trusted):
    """smtpd_verify with dmarc_policy reject and arc_trusted_sealers
    trusted, DNS for upstream.test (SPF without us, DMARC p=reject) and
    for the sealers' keys; returns (smtpd, {name: key}, records)"""
    need("dnsmasq")
    from dnsutil import start_dnsmasq
    from smtpdutil import Smtpd
    d = str(tmp_path)
    kd = os.path.join(d, "keys")
    os.makedirs(kd)
    keys = {n: keygen(kd, n, "s1") for n in ("upstream.test",
                                             "forwarder.test",
                                             "other.test")}
    recs = [txt_option(f"s1._domainkey.{n}", k[1]) for n, k in keys.items()]
    recs += ["--txt-record=upstream.test,v=spf1 ip4:192.0.2.1 -all",
             "--txt-record=_dmarc.upstream.test,v=DMARC1; p=reject; "
             "rua=mailto:agg@upstream.test"]
    dns = start_dnsmasq(procs, d, recs)
    s = Smtpd(procs, tmp_path, smtpd_verify="yes",
              smtpd_verify_nameserver=f"127.0.0.1:{dns}",
              dmarc_policy="reject", arc_trusted_sealers=trusted)
    return s, {n: open(k[0], "rb").read() for n, k in keys.items()}


def forwarded(keys, sealer, aar):
    """A message of upstream.test, DKIM-signed, whose body a list changed
    after the signature (so DKIM fails here, and SPF does: DMARC fails),
    sealed by sealer with an ARC set whose AAR says aar"""
    msg = MSG.replace(b"a@sender.test", b"a@upstream.test")
    signed = dkim.sign(msg, b"s1", b"upstream.test", keys["upstream.test"],
                       canonicalize=(b"relaxed", b"relaxed")) + msg
    changed = signed + b"-- \r\nthe list's footer\r\n"
    seen = b"Authentication-Results: " + sealer + b"; " + aar + b"\r\n" + \
        changed
    fields = dkim.arc_sign(seen, b"s1", sealer, keys[sealer.decode()],
                           sealer)
    return b"".join(fields) + changed


PASSED = (b"dkim=pass header.d=upstream.test header.s=s1; "
          b"spf=fail smtp.mailfrom=a@upstream.test; "
          b"dmarc=pass header.from=upstream.test")


def test_trusted_sealer_overrides_dmarc_reject(procs, tmp_path):
    """RFC 7489's trusted_forwarder: a p=reject domain's message fails
    DMARC here (a list changed it, so its DKIM signature broke, and SPF
    does not list the list's host), but it carries a valid ARC chain
    whose newest sealer is in arc_trusted_sealers and whose AAR says DKIM
    and DMARC passed when the list got it: taken (250), our field says
    dmarc=fail with the override, the log line too, and the DMARC
    aggregate report gives the reason.  The same chain from a sealer not
    trusted, or a trusted one whose AAR says nothing passed, is refused
    (550 5.7.1), as is the message without any chain."""
    s, keys = override_system(procs, tmp_path, "forwarder.test, x.test")
    good = forwarded(keys, b"forwarder.test", PASSED)
    untrusted = forwarded(keys, b"other.test", PASSED)
    failed = forwarded(keys, b"forwarder.test",
                       b"dkim=fail header.d=upstream.test; "
                       b"dmarc=fail header.from=upstream.test")
    bare = good[good.index(b"DKIM-Signature:"):]
    with smtplib.SMTP("127.0.0.1", s.port, timeout=30) as c:
        c.sendmail("a@upstream.test", ["alice@example.test"], good)
        for m in (untrusted, failed, bare):
            with pytest.raises(smtplib.SMTPDataError) as e:
                c.sendmail("a@upstream.test", ["alice@example.test"], m)
            assert e.value.smtp_code == 550, e.value
            assert e.value.smtp_error.startswith(b"5.7.1"), e.value
    (env, data), = s.messages().values()
    head = re.sub(r"\n[ \t]+", " ", data.split(b"\n\n")[0].decode())
    ours = head.split("\n")[0]
    assert "arc=pass (chain valid, 1 sets, newest d=forwarder.test)" in \
        ours, ours
    assert "dmarc=fail (p=reject dis=none, override trusted_forwarder: " \
        "arc=pass as[1].d=forwarder.test dmarc=pass) " \
        "header.from=upstream.test policy.override=trusted_forwarder" in \
        ours, ours
    log = s.logtext()
    line = [x for x in log.splitlines() if "event=verify" in x and
            "override=" in x]
    assert len(line) == 1, log
    assert "applied=none" in line[0] and "policy=reject" in line[0]
    assert log.count("applied=reject") == 3, log
    logf = os.path.join(str(tmp_path), "verify.log")
    with open(logf, "w") as f:
        f.write(log)
    r = subprocess.run([prog("sandmail-dmarcrep"), "-c", s.conf, "-n",
                        "-b", "100", "-e", "200", logf],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    import xml.etree.ElementTree as ET
    rows = {rec.find("row/policy_evaluated/disposition").text:
            rec.find("row/policy_evaluated")
            for rec in ET.fromstring(r.stdout).findall("record")}
    assert sorted(rows) == ["none", "reject"], r.stdout
    why = rows["none"].find("reason")
    assert why.find("type").text == "trusted_forwarder"
    assert why.find("comment").text == \
        "arc=pass as[1].d=forwarder.test dmarc=pass"
    assert rows["reject"].find("reason") is None
