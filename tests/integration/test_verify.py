"""Inbound SPF, DKIM and DMARC on port 25 (smtpd/verify.c): messages
signed by dkimpy and by OpenDKIM (opendkim-testmsg) are judged pass, the
same with a changed body fail, and the broken ones the issue lists (a
signed header changed, expired, another key, a revoked key, l=) are
judged permerror or fail with their reason; SPF records, DKIM keys and
DMARC policies are served by a real dnsmasq on loopback; SPF results are
compared with Mail::SPF (Debian's libmail-spf-perl), an independent
implementation; the Authentication-Results field is read back from the
queue."""
import base64
import os
import re
import subprocess

import pytest

import dnsutil
from conftest import need, need_module
from e2eutil import rsa_key
from smtpdutil import Client, Smtpd

dkim = need_module("dkim", "python3-dkim")

HOST = "test.example"   # the hostname queueutil writes: our authserv-id
RCPT = "alice@example.test"


def chunks(s, n=200):
    return [s[i:i + n] for i in range(0, len(s), n)]


def txt(name, text):
    """a dnsmasq TXT record, long texts as several strings"""
    return "--txt-record=" + ",".join([name] + chunks(text))


def ed_key():
    nacl = need_module("nacl.signing", "python3-nacl")
    sk = nacl.SigningKey.generate()
    return (base64.b64encode(bytes(sk)),
            "v=DKIM1; k=ed25519; p=" +
            base64.b64encode(bytes(sk.verify_key)).decode())


SPF = {
    "pass.test": "v=spf1 ip4:127.0.0.1 -all",
    "fail.test": "v=spf1 ip4:192.0.2.1 -all",
    "soft.test": "v=spf1 ip4:192.0.2.1 ~all",
    "neutral.test": "v=spf1 ?all",
    "perm.test": "v=spf1 ip4:300.1.1.1 -all",
    "inc.test": "v=spf1 include:pass.test -all",
    "amx.test": "v=spf1 a:host.amx.test mx -all",
    "macro.test": "v=spf1 exists:%{l}.%{i}.ok.macro.test -all",
    "redir.test": "v=spf1 redirect=pass.test",
    # 11 lookups: one over RFC 7208's limit
    "limit.test": "v=spf1 " + " ".join(f"a:a{i}.limit.test"
                                       for i in range(10)) +
                  " include:pass.test -all",
    # 10 lookups: at the limit, still evaluated
    "tenth.test": "v=spf1 " + " ".join(f"a:a{i}.limit.test"
                                       for i in range(9)) +
                  " include:pass.test -all",
    "helo.test": "v=spf1 ip4:127.0.0.1 -all",
    "big.test": "v=spf1 ip4:127.0.0.1 -all",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("verifykeys"))
    rk, rtxt = rsa_key(d)
    ek, etxt = ed_key()
    ok, otxt = opendkim_key(d)
    return dict(dir=d, rsa=rk, rtxt=rtxt, ed=ek, etxt=etxt, od=ok,
                otxt=otxt)


def opendkim_key(d):
    need("opendkim-genkey", "opendkim-tools")
    subprocess.run(["opendkim-genkey", "-b", "2048", "-d", "od.test", "-s",
                    "od", "-D", d], check=True, capture_output=True)
    rec = open(os.path.join(d, "od.txt")).read()
    # od._domainkey IN TXT ( "v=DKIM1; h=sha256; k=rsa; " "p=..." "..." )
    text = "".join(re.findall(r'"([^"]*)"', rec))
    return os.path.join(d, "od.private"), text


def records(w):
    recs = [txt(k, v) for k, v in SPF.items()]
    recs += [f"--host-record=a{i}.limit.test,10.9.9.{i}" for i in range(10)]
    recs += ["--host-record=host.amx.test,192.0.2.77",
             "--mx-host=amx.test,mx.amx.test,10",
             "--host-record=mx.amx.test,127.0.0.1",
             "--host-record=alice.127.0.0.1.ok.macro.test,127.0.0.2",
             txt("r1._domainkey.signed.test", w["rtxt"]),
             txt("e1._domainkey.signed.test", w["etxt"]),
             txt("r1._domainkey.sub.org.test", w["rtxt"]),
             txt("od._domainkey.od.test", w["otxt"]),
             # another key than the signer's, and a revoked one (p=
             # empty, RFC 6376 3.6.1), for each signer's domain
             txt("w1._domainkey.signed.test", w["otxt"]),
             txt("rv._domainkey.signed.test", "v=DKIM1; k=rsa; p="),
             txt("wr._domainkey.od.test", w["rtxt"]),
             txt("rv._domainkey.od.test", "v=DKIM1; k=rsa; p="),
             txt("_dmarc.signed.test", "v=DMARC1; p=reject"),
             txt("_dmarc.od.test", "v=DMARC1; p=reject"),
             txt("_dmarc.strict.test", "v=DMARC1; p=reject; aspf=s"),
             txt("_dmarc.rej.test", "v=DMARC1; p=reject"),
             txt("rej.test", "v=spf1 ip4:192.0.2.1 -all"),
             # (a ',' would start another string here: the record would
             # read "...!10mhttps://...", a malformed size)
             txt("_dmarc.quar.test", "v=DMARC1; p=quarantine; "
                 "rua=mailto:agg@quar.test!10m"),
             txt("_dmarc.org.test", "v=DMARC1; p=reject; adkim=r"),
             txt("_dmarc.sorg.test", "v=DMARC1; p=none; sp=reject"),
             txt("_dmarc.pct0.test", "v=DMARC1; p=reject; pct=0")]
    # big.test has more TXT records than a UDP answer holds (1232 bytes)
    recs += [txt("big.test", f"site-verification-{i}=" + "x" * 180)
             for i in range(8)]
    return recs


def verifying(procs, tmp_path, w, **conf):
    dport = dnsutil.start_dnsmasq(procs, str(tmp_path), records(w))
    kw = dict(smtpd_verify="yes",
              smtpd_verify_nameserver=f"127.0.0.1:{dport}")
    kw.update(conf)
    sm = Smtpd(procs, tmp_path, **kw)
    sm.dport = dport
    return sm


def send(sm, sender, msg, helo="helo.test"):
    """one message over SMTP; (code of the end of DATA, the text stored
    in the queue or None)"""
    before = set(sm.messages())
    c = Client(sm.port)
    assert c.code(f"EHLO {helo}") == 250
    code, lines = c.cmd(f"MAIL FROM:<{sender}>")
    if code != 250:
        c.close()
        return code, lines
    assert c.code(f"RCPT TO:<{RCPT}>") == 250
    assert c.code("DATA") == 354
    if not msg.endswith(b"\r\n"):
        msg += b"\r\n"
    c.send(msg.replace(b"\r\n.", b"\r\n..") + b".\r\n")
    code, lines = c.reply()
    c.cmd("QUIT")
    c.close()
    new = [m for i, m in sm.messages().items() if i not in before]
    return code, (new[0][1] if new else lines)


def ar_of(stored):
    """the Authentication-Results field at the top, unfolded"""
    m = re.match(rb"(Authentication-Results:.*?\n)(?![ \t])", stored,
                 re.S)
    assert m, stored[:300]
    return re.sub(rb"\n[ \t]+", b" ", m.group(1)).decode()


def message(frm="someone@pass.test", body=b"Hello.\r\n", extra=b""):
    return (b"From: " + frm.encode() + b"\r\nTo: <alice@example.test>\r\n"
            b"Subject: test\r\nDate: Mon, 7 Dec 2026 05:00:00 +0000\r\n"
            b"Message-ID: <x1@pass.test>\r\n" + extra + b"\r\n" + body)


def mail_spf(perl_port, ip, sender, helo):
    """Mail::SPF's result for the same question, over the same dnsmasq"""
    script = r'''
use Mail::SPF; use Net::DNS::Resolver;
my ($port, $ip, $sender, $helo) = @ARGV;
my $r = Net::DNS::Resolver->new(nameservers => ['127.0.0.1'],
    port => $port, recurse => 1);
my $s = Mail::SPF::Server->new(dns_resolver => $r);
my $q = Mail::SPF::Request->new(scope => 'mfrom', identity => $sender,
    ip_address => $ip, helo_identity => $helo);
print $s->process($q)->code, "\n";
'''
    r = subprocess.run(["perl", "-e", script, str(perl_port), ip, sender,
                        helo], capture_output=True, timeout=60)
    if r.returncode != 0 and b"Can't locate" in r.stderr:
        pytest.fail("Mail::SPF is not installed (libmail-spf-perl, "
                    "scripts/deps)", pytrace=False)
    return r.stdout.decode().strip()


SPF_CASES = [
    ("u@pass.test", "pass"), ("u@fail.test", "fail"),
    ("u@soft.test", "softfail"), ("u@neutral.test", "neutral"),
    ("u@perm.test", "permerror"), ("u@inc.test", "pass"),
    ("u@amx.test", "pass"), ("alice@macro.test", "pass"),
    ("bob@macro.test", "fail"), ("u@redir.test", "pass"),
    ("u@limit.test", "permerror"), ("u@tenth.test", "pass"),
    ("u@nothing.test", "none"),
]


def test_spf_results_match_mail_spf(procs, tmp_path, world):
    sm = verifying(procs, tmp_path, world)
    for sender, want in SPF_CASES:
        code, stored = send(sm, sender, message())
        assert code == 250, (sender, stored)
        ar = ar_of(stored)
        assert ar.startswith(f"Authentication-Results: {HOST};"), ar
        assert f"spf={want} " in ar and \
            f"smtp.mailfrom={sender}" in ar, (sender, ar)
        # the HELO identity is checked too
        assert "spf=pass (matched) smtp.helo=helo.test" in ar, ar
        assert mail_spf(sm.dport, "127.0.0.1", sender, "helo.test") == \
            want, sender
    log = sm.logtext()
    assert "event=verify" in log and "spf=softfail" in log


def test_null_sender_uses_helo(procs, tmp_path, world):
    sm = verifying(procs, tmp_path, world)
    code, stored = send(sm, "", message(), helo="fail.test")
    assert code == 250
    assert "spf=fail (matched) smtp.mailfrom=postmaster@fail.test" in \
        ar_of(stored)


def test_spf_policy_reject(procs, tmp_path, world):
    sm = verifying(procs, tmp_path, world, spf_policy="reject")
    code, lines = send(sm, "u@fail.test", message())
    assert code == 550 and "5.7.23" in lines[0], lines
    code, stored = send(sm, "u@soft.test", message())
    assert code == 250, stored      # only -all refuses


def dkimpy_sign(msg, w, domain="signed.test", alg=b"rsa-sha256",
                canon=b"relaxed"):
    key, sel = (w["rsa"], b"r1") if alg == b"rsa-sha256" else \
        (w["ed"], b"e1")
    if isinstance(key, str):
        key = open(key, "rb").read()
    return dkim.sign(msg, sel, domain.encode(), key,
                     canonicalize=(canon, canon), signature_algorithm=alg,
                     include_headers=[b"from", b"to", b"subject", b"date"])


def opendkim_sign(msg, w, tmp, selector="od", conf=""):
    """OpenDKIM's milter as the signer, in its test mode (-t): it prints
    the field it would insert; conf: more opendkim.conf lines"""
    d = os.path.join(tmp, "odk")
    os.makedirs(d, mode=0o700, exist_ok=True)
    cf, mf = os.path.join(d, "od.conf"), os.path.join(d, "m.eml")
    with open(cf, "w") as f:
        f.write(f"Domain od.test\nSelector {selector}\n"
                f"KeyFile {w['od']}\n"
                "Mode s\nSignatureAlgorithm rsa-sha256\n"
                "Canonicalization relaxed/relaxed\nSyslog no\n"
                "RequireSafeKeys no\n" + conf)
    with open(mf, "wb") as f:
        f.write(msg.replace(b"\r\n", b"\n"))
    r = subprocess.run(["opendkim", "-x", cf, "-vvv", "-t", mf],
                       capture_output=True, timeout=60)
    m = re.search(rb"hname='DKIM-Signature' hvalue='([^']*)'", r.stdout)
    assert r.returncode == 0 and m, r.stdout + r.stderr
    return b"DKIM-Signature: " + m.group(1).replace(b"\n", b"\r\n") + \
        b"\r\n" + msg


def opendkim_testmsg_sign(msg, w, tmp):
    """opendkim-testmsg signs with rsa-sha1 only"""
    r = subprocess.run(["opendkim-testmsg", "-d", "od.test", "-s", "od",
                        "-k", w["od"], "-t", tmp, "-C"], input=msg,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert b"a=rsa-sha1" in r.stdout
    return r.stdout


def test_dkim_signed_by_dkimpy_and_opendkim(procs, tmp_path, world):
    sm = verifying(procs, tmp_path, world)
    body = b"Some text.\r\n\r\nA second paragraph, with  spaces \r\n"
    m = message("a@signed.test", body)
    for alg in (b"rsa-sha256", b"ed25519-sha256"):
        for canon in (b"relaxed", b"simple"):
            signed = dkimpy_sign(m, world, alg=alg, canon=canon) + m
            code, stored = send(sm, "a@signed.test", signed)
            assert code == 250
            ar = ar_of(stored)
            assert "dkim=pass (good) header.d=signed.test" in ar, (alg, ar)
            assert "dmarc=pass" in ar and "header.from=signed.test" in ar
            # the body changed on the way: fail, and DMARC p=reject fails
            bad = signed.replace(b"second", b"2nd")
            code, stored = send(sm, "a@signed.test", bad)
            assert code == 250
            ar = ar_of(stored)
            assert "dkim=fail (body hash mismatch)" in ar, ar
            # SPF of signed.test: none; DKIM fails: DMARC fails
            assert "dmarc=fail (p=reject dis=reject)" in ar, ar
    # both algorithms at once, one good and one broken
    both = dkimpy_sign(m, world, alg=b"ed25519-sha256") + \
        dkimpy_sign(m, world).replace(b"b=", b"b=AAAA", 1) + m
    code, stored = send(sm, "a@signed.test", both)
    ar = ar_of(stored)
    assert ar.count("dkim=") == 2 and "dkim=pass" in ar and \
        "dkim=fail" in ar, ar
    # OpenDKIM as the signer
    om = message("b@od.test", body)
    signed = opendkim_sign(om, world, str(tmp_path))
    code, stored = send(sm, "b@od.test", signed)
    assert code == 250
    ar = ar_of(stored)
    assert "dkim=pass (good) header.d=od.test header.s=od" in ar, ar
    assert "dmarc=pass" in ar
    code, stored = send(sm, "b@od.test", signed.replace(b"second",
                                                         b"third"))
    assert "dkim=fail" in ar_of(stored)
    # rsa-sha1 (what opendkim-testmsg makes) is no longer valid: RFC 8301
    signed = opendkim_testmsg_sign(om, world, str(tmp_path))
    code, stored = send(sm, "b@od.test", signed)
    assert "dkim=permerror (algorithm) header.d=od.test" in ar_of(stored)


class TimedDKIM(dkim.DKIM):
    """dkimpy's signer with t= and x= of our choosing (dkim.sign has no
    expiry): the tags go into the field before it is signed"""
    t = x = None

    def gen_header(self, fields, *a, **kw):
        fields = [(k, self.t if k == b"t" else v) for k, v in fields]
        fields.insert(-1, (b"x", self.x))
        return super().gen_header(fields, *a, **kw)


def dkimpy_variant(msg, w, selector=b"r1", length=False, t=None, x=None):
    """a dkimpy rsa-sha256 signature by signed.test's r1 key, filed in
    the DNS under selector; l= when length, t= and x= when given"""
    d = TimedDKIM(msg) if x is not None else dkim.DKIM(msg)
    d.t, d.x = t, x
    return d.sign(selector, b"signed.test", open(w["rsa"], "rb").read(),
                  canonicalize=(b"relaxed", b"relaxed"),
                  include_headers=[b"from", b"to", b"subject", b"date"],
                  length=length)


REJECTED = "dmarc=fail (p=reject dis=reject) header.from="


def judged(sm, sender, msg, want, frm):
    """the message through port 25: taken (dmarc_policy none), its
    one DKIM result exactly want, DMARC of From's p=reject domain failed"""
    code, stored = send(sm, sender, msg)
    assert code == 250, stored
    ar = ar_of(stored)
    assert ar.count("dkim=") == 1 and want in ar, (want, ar)
    assert REJECTED + frm in ar, ar
    return ar


def test_dkim_broken_signatures_judged(procs, tmp_path, world):
    """dkimpy's and OpenDKIM's signatures in the cases issue 21 lists:
    a signed header changed, expired (x= past), a key in the DNS that is
    not the signer's, a revoked key (p= empty), and l= (refused: a body
    length lets anyone append text).  Each is judged, exactly, and the
    From domain's DMARC (p=reject, SPF none) fails with it; the same
    signature made good passes, so the failure is the variant's."""
    sm = verifying(procs, tmp_path, world)
    m = message("a@signed.test", b"Signed text.\r\n")
    dns = dnsfunc_for(world)
    good = dkimpy_variant(m, world) + m
    code, stored = send(sm, "a@signed.test", good)
    assert "dkim=pass (good) header.d=signed.test header.s=r1" in \
        ar_of(stored) and "dmarc=pass" in ar_of(stored), ar_of(stored)
    # a signed header changed on the way (the body is intact)
    changed = good.replace(b"Subject: test", b"Subject: test!")
    assert changed != good and not dkim.verify(changed, dnsfunc=dns)
    judged(sm, "a@signed.test", changed, "dkim=fail (signature mismatch) "
           "header.d=signed.test header.s=r1", "signed.test")
    # an unsigned header added is no change
    code, stored = send(sm, "a@signed.test", good.replace(
        b"Subject:", b"X-Added: yes\r\nSubject:"))
    assert "dkim=pass (good)" in ar_of(stored)
    # x= in the past (t= before it, as RFC 6376 3.5 wants); x= ahead passes
    old = dkimpy_variant(m, world, t=b"1600000000", x=b"1600086400") + m
    assert b" x=1600086400;" in old
    assert not dkim.verify(old, dnsfunc=dns)
    judged(sm, "a@signed.test", old, "dkim=permerror (expired) "
           "header.d=signed.test header.s=r1", "signed.test")
    ahead = dkimpy_variant(m, world, t=b"1600000000", x=b"4102444800") + m
    code, stored = send(sm, "a@signed.test", ahead)
    assert "dkim=pass (good) header.d=signed.test" in ar_of(stored)
    # the DNS holds another key at the selector: the signature fails
    wrong = dkimpy_variant(m, world, selector=b"w1") + m
    judged(sm, "a@signed.test", wrong, "dkim=fail (signature mismatch) "
           "header.d=signed.test header.s=w1", "signed.test")
    # the key revoked: p= empty
    revoked = dkimpy_variant(m, world, selector=b"rv") + m
    judged(sm, "a@signed.test", revoked, "dkim=permerror (key revoked) "
           "header.d=signed.test header.s=rv", "signed.test")
    # l=: refused as it is, and with text appended after the signed
    # length, which dkimpy itself passes: never pass
    ml = dkimpy_variant(m, world, length=True) + m
    assert b" l=14;" in ml and dkim.verify(ml, dnsfunc=dns)
    judged(sm, "a@signed.test", ml, "dkim=permerror (l= not accepted) "
           "header.d=signed.test header.s=r1", "signed.test")
    appended = ml + b"Click here: http://forged.test/\r\n"
    assert dkim.verify(appended, dnsfunc=dns)
    judged(sm, "a@signed.test", appended, "dkim=permerror (l= not "
           "accepted) header.d=signed.test header.s=r1", "signed.test")
    # OpenDKIM as the signer: a header changed, another key, revoked, l=
    om = message("b@od.test", b"Signed text.\r\n")
    signed = opendkim_sign(om, world, str(tmp_path))
    code, stored = send(sm, "b@od.test", signed)
    assert "dkim=pass (good) header.d=od.test header.s=od" in \
        ar_of(stored), ar_of(stored)
    judged(sm, "b@od.test", signed.replace(b"Subject: test",
           b"Subject: test!"), "dkim=fail (signature mismatch) "
           "header.d=od.test header.s=od", "od.test")
    judged(sm, "b@od.test", opendkim_sign(om, world, str(tmp_path), "wr"),
           "dkim=fail (signature mismatch) header.d=od.test header.s=wr",
           "od.test")
    judged(sm, "b@od.test", opendkim_sign(om, world, str(tmp_path), "rv"),
           "dkim=permerror (key revoked) header.d=od.test header.s=rv",
           "od.test")
    # MaximumSignedBytes makes OpenDKIM add l= (its BodyLengthDB for all)
    ol = opendkim_sign(om, world, str(tmp_path),
                       conf="MaximumSignedBytes 1000000\n")
    assert re.search(rb";\s*l=14;", ol), ol[:600]
    for bad in (ol, ol + b"Click here: http://forged.test/\r\n"):
        judged(sm, "b@od.test", bad, "dkim=permerror (l= not accepted) "
               "header.d=od.test header.s=od", "od.test")
    # SignatureTTL makes OpenDKIM add x= (its t= plus the TTL): expired
    # once the clock has passed it (RFC 6376 3.5: MUST NOT be considered
    # valid).  A TTL of one second, and the clock waited for, not timed;
    # a long TTL passes.
    import time
    from conftest import wait_for
    ox = opendkim_sign(om, world, str(tmp_path), conf="SignatureTTL 1\n")
    t = int(re.search(rb"[;\s]t=(\d+);", ox).group(1))
    x = int(re.search(rb"[;\s]x=(\d+);", ox).group(1))
    assert x == t + 1, ox[:600]
    wait_for(lambda: time.time() > x + 1, timeout=30,
             what="the clock past x=")
    judged(sm, "b@od.test", ox, "dkim=permerror (expired) "
           "header.d=od.test header.s=od", "od.test")
    oy = opendkim_sign(om, world, str(tmp_path),
                       conf="SignatureTTL 86400\n")
    assert re.search(rb"[;\s]x=\d+;", oy), oy[:600]
    code, stored = send(sm, "b@od.test", oy)
    assert "dkim=pass (good) header.d=od.test header.s=od" in \
        ar_of(stored), ar_of(stored)
    # with dmarc_policy reject, each of them is refused
    (tmp_path / "rej").mkdir()
    sr = Smtpd(procs, tmp_path / "rej", smtpd_verify="yes",
               smtpd_verify_nameserver=f"127.0.0.1:{sm.dport}",
               dmarc_policy="reject")
    for bad in (changed, old, wrong, revoked, appended):
        code, lines = send(sr, "a@signed.test", bad)
        assert code == 550 and lines[0].startswith("550 5.7.1"), lines
    code, stored = send(sr, "a@signed.test", good)
    assert code == 250
    assert sr.count() == 1


def test_dmarc_policies(procs, tmp_path, world):
    sm = verifying(procs, tmp_path, world, dmarc_policy="reject")
    # forged From of a p=reject domain, SPF fails, no signature: 550
    code, lines = send(sm, "x@rej.test", message("ceo@rej.test"))
    assert code == 550 and lines[0].startswith("550 5.7.1"), lines
    assert sm.count() == 0
    # SPF passes for the envelope but it is not aligned with From
    code, lines = send(sm, "x@pass.test", message("ceo@rej.test"))
    assert code == 550
    # aligned SPF: pass
    code, stored = send(sm, "x@pass.test", message("boss@pass.test"))
    assert code == 250 and "dmarc=none" in ar_of(stored)
    # p=quarantine: kept, marked
    code, stored = send(sm, "x@fail.test", message("a@quar.test"))
    assert code == 250
    assert b"\nX-Sandmail-Quarantine: dmarc=fail policy=quarantine\n" in \
        stored
    # pct=0: outside the sample, reject becomes quarantine
    code, stored = send(sm, "x@fail.test", message("a@pct0.test"))
    assert code == 250 and "dis=quarantine" in ar_of(stored)
    # relaxed alignment through the organizational domain (PSL): a
    # signature of sub.org.test passes for From org.test
    m = message("a@org.test")
    signed = dkimpy_sign(m, world, domain="sub.org.test") + m
    code, stored = send(sm, "x@fail.test", signed)
    assert code == 250 and "dmarc=pass" in ar_of(stored), stored[:400]
    # sp= for a subdomain without its own record
    code, lines = send(sm, "x@fail.test", message("a@x.sorg.test"))
    assert code == 550, lines
    code, stored = send(sm, "x@fail.test", message("a@sorg.test"))
    assert code == 250 and "p=none" in ar_of(stored)
    assert "reason=\"dmarc reject\"" in sm.logtext() or \
        "reason=dmarc" in sm.logtext()
    # each message's line has what an aggregate report's row needs
    lines = [x for x in sm.logtext().splitlines() if "event=verify" in x]
    assert " from_domain=rej.test " in lines[0] and \
        " dmarc_domain=rej.test " in lines[0] and \
        " aligned=none applied=reject" in lines[0], lines[0]
    assert " spf=pass " in lines[1] and " spf_domain=pass.test " in \
        lines[1] and " aligned=none applied=reject" in lines[1], lines[1]
    assert " dmarc=none " in lines[2] and " applied=none" in lines[2], \
        lines[2]
    assert " dmarc_domain=quar.test " in lines[3] and \
        " applied=quarantine" in lines[3], lines[3]
    # the rua with its size limit in bytes, for sandmail-dmarcrep
    assert lines[3].endswith(' published="p=quarantine,sp=quarantine,'
                             'pct=100,adkim=r,aspf=r,fo=0" '
                             'rua=agg@quar.test!10485760'), \
        lines[3]
    assert " dkim_d=sub.org.test:pass " in lines[5] and \
        " dmarc_domain=org.test aligned=dkim applied=none" in lines[5], \
        lines[5]


def test_dmarc_policy_none_only_marks(procs, tmp_path, world):
    sm = verifying(procs, tmp_path, world)
    code, stored = send(sm, "x@rej.test", message("ceo@rej.test"))
    assert code == 250
    ar = ar_of(stored)
    assert "spf=fail" in ar and "dmarc=fail (p=reject dis=reject)" in ar
    assert b"X-Sandmail-Quarantine" not in stored


def arc_hop(msg, w, srv, domain="signed.test", alg=b"rsa-sha256"):
    """one forwarding hop: its Authentication-Results, then dkimpy's ARC
    set over the message"""
    seen = b"; arc=pass" if b"ARC-Seal:" in msg else b""
    msg = b"Authentication-Results: " + srv + b"; spf=pass " \
        b"smtp.mailfrom=a@signed.test" + seen + b"\r\n" + msg
    key, sel = (w["rsa"], b"r1") if alg == b"rsa-sha256" else \
        (w["ed"], b"e1")
    if isinstance(key, str):
        key = open(key, "rb").read()
    sig = dkim.arc_sign(msg, sel, domain.encode(), key, srv,
                        signature_algorithm=alg)
    return b"".join(sig) + msg


def test_arc_chains_from_dkimpy(procs, tmp_path, world):
    sm = verifying(procs, tmp_path, world)
    m = message("a@elsewhere.test", b"Forwarded text.\r\n")
    one = arc_hop(m, world, b"relay1.test")
    two = arc_hop(one, world, b"relay2.test")
    # dkimpy itself judges them valid
    for msg in (one, two):
        cv, _, why = dkim.arc_verify(msg, dnsfunc=dnsfunc_for(world))
        assert cv == dkim.CV_Pass, why
    code, stored = send(sm, "a@fail.test", one)
    assert code == 250
    assert "arc=pass (chain valid, 1 sets, newest d=signed.test)" in \
        ar_of(stored), ar_of(stored)
    code, stored = send(sm, "a@fail.test", two)
    assert "arc=pass (chain valid, 2 sets" in ar_of(stored)
    # the body changed after the last hop: its message signature fails
    code, stored = send(sm, "a@fail.test",
                        two.replace(b"Forwarded", b"Altered"))
    assert "arc=fail (message signature)" in ar_of(stored)
    # a seal of the first hop changed: the chain fails
    bad = two.replace(b"ARC-Authentication-Results: i=1; relay1.test;",
                      b"ARC-Authentication-Results: i=1; relay9.test;")
    assert bad != two
    code, stored = send(sm, "a@fail.test", bad)
    assert "arc=fail (seal)" in ar_of(stored)
    # a set missing
    cut = re.sub(rb"ARC-Seal: i=1;.*?\r\n(?![ \t])", b"", two, flags=re.S)
    code, stored = send(sm, "a@fail.test", cut)
    assert "arc=fail (incomplete set)" in ar_of(stored)
    code, stored = send(sm, "a@fail.test", m)
    assert "arc=none" in ar_of(stored)
    assert "arc=pass" in sm.logtext()


def dnsfunc_for(w):
    recs = {"r1._domainkey.signed.test.": w["rtxt"].encode(),
            "e1._domainkey.signed.test.": w["etxt"].encode()}

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        return recs.get(name)
    return dnsfunc


def test_long_answer_asked_again_over_tcp(procs, tmp_path, world):
    sm = verifying(procs, tmp_path, world)
    code, stored = send(sm, "u@big.test", message())
    assert code == 250
    assert "spf=pass (matched) smtp.mailfrom=u@big.test" in ar_of(stored)


def test_silent_name_server(procs, tmp_path, world):
    """a name server that never answers: temporary errors, recorded; the
    mail is taken (nothing refused by default), or deferred with 451 when
    the admin refuses SPF failures"""
    import socket
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        port = silent.getsockname()[1]
        sm = Smtpd(procs, tmp_path, smtpd_verify="yes",
                   smtpd_verify_nameserver=f"127.0.0.1:{port}",
                   smtpd_verify_timeout=1)
        m = message("a@signed.test")
        signed = dkimpy_sign(m, world, alg=b"ed25519-sha256") + m
        code, stored = send(sm, "a@signed.test", signed)
        assert code == 250
        ar = ar_of(stored)
        assert "spf=temperror" in ar and "dkim=temperror (key lookup " \
            "failed)" in ar and "dmarc=temperror" in ar, ar
        (tmp_path / "r").mkdir()
        sm2 = Smtpd(procs, tmp_path / "r", smtpd_verify="yes",
                    smtpd_verify_nameserver=f"127.0.0.1:{port}",
                    smtpd_verify_timeout=1, spf_policy="reject")
        code, lines = send(sm2, "a@signed.test", signed)
        assert code == 451 and "4.7.24" in lines[0], lines
    finally:
        silent.close()


def test_bdat_is_held_and_checked(procs, tmp_path, world):
    sm = verifying(procs, tmp_path, world)
    m = message("a@signed.test", b"Chunked text.\r\n")
    signed = dkimpy_sign(m, world, alg=b"ed25519-sha256") + m
    c = Client(sm.port)
    assert c.code("EHLO helo.test") == 250
    assert c.code("MAIL FROM:<a@signed.test>") == 250
    assert c.code(f"RCPT TO:<{RCPT}>") == 250
    half = len(signed) // 2
    c.send(f"BDAT {half}\r\n".encode() + signed[:half])
    assert c.reply()[0] == 250
    c.send(f"BDAT {len(signed) - half} LAST\r\n".encode() + signed[half:])
    assert c.reply()[0] == 250
    c.close()
    (stored,) = [m for _, m in sm.messages().values()]
    ar = ar_of(stored)
    assert "dkim=pass (good) header.d=signed.test header.s=e1" in ar, ar
    assert stored.endswith(b"Chunked text.\n")


def test_forged_results_removed(procs, tmp_path, world):
    sm = verifying(procs, tmp_path, world)
    forged = (b"Authentication-Results: " + HOST.encode() +
              b"; dkim=pass\r\n header.d=bank.test\r\n"
              b"Authentication-Results: other.example; spf=pass\r\n")
    code, stored = send(sm, "u@pass.test", message(extra=forged))
    assert code == 250
    assert stored.count(b"Authentication-Results: " + HOST.encode()) == 1
    assert b"bank.test" not in stored
    assert b"Authentication-Results: other.example; spf=pass\n" in stored
    # ours is the first field, above our Received:
    assert stored.startswith(b"Authentication-Results: " + HOST.encode())
    assert b"\nReceived: from helo.test" in stored


def test_relay_clients_and_off_are_not_checked(procs, tmp_path, world):
    sm = verifying(procs, tmp_path, world,
                   smtpd_verify_timeout=5)
    (tmp_path / "relay").mkdir()
    (tmp_path / "off").mkdir()
    sm2 = Smtpd(procs, tmp_path / "relay",
                tables={"relayclients": "127.0.0.1 relay\n"},
                smtpd_verify="yes",
                smtpd_verify_nameserver=f"127.0.0.1:{sm.dport}")
    code, stored = send(sm2, "u@fail.test", message())
    assert code == 250 and b"Authentication-Results" not in stored
    sm3 = Smtpd(procs, tmp_path / "off")
    code, stored = send(sm3, "u@fail.test", message())
    assert code == 250 and b"Authentication-Results" not in stored


def test_checks_and_a_milter_together(procs, tmp_path, world):
    """smtpd_verify and a milter on one listener (as root: its confined
    listener connects to both the checks' name server and the milter):
    our Authentication-Results comes first, the forged one is gone before
    the milter sees the text, the milter's changes are in what the queue
    holds, and the envelope's size is that of the stored text."""
    from test_smtpd_milter import start_milter
    mport = start_milter(procs, tmp_path)
    sm = verifying(procs, tmp_path, world,
                   smtpd_milter=f"inet:127.0.0.1:{mport}")
    forged = (b"Authentication-Results: " + HOST.encode() +
              b"; dkim=pass header.d=bank.test\r\n")
    code, stored = send(sm, "u@pass.test", message(extra=forged))
    assert code == 250, stored
    assert stored.startswith(b"Authentication-Results: " + HOST.encode())
    assert "spf=pass" in ar_of(stored)
    assert b"bank.test" not in stored
    assert b"\nSubject: changed\n" in stored, stored
    assert b"\nX-Milter-Test: passed\n" in stored, stored
    envs = {len(t): e for e, t in sm.messages().values()}
    assert list(envs) == [len(stored)]
    assert envs[len(stored)]["size"] == len(stored)
    # the milter saw the client's fields, the forged one already removed
    log = open(tmp_path / "milter.log").read()
    assert "header Subject test" in log, log
    assert "bank.test" not in log, log


def test_one_field_with_iprev(procs, tmp_path, world):
    """smtpd_iprev and the mail checks on: one Authentication-Results
    field of ours, at the top, with the iprev result among its methods
    (RFC 8601 allows several fields, but readers look at the first)."""
    dport = dnsutil.start_dnsmasq(procs, str(tmp_path), records(world))
    sm = Smtpd(procs, tmp_path, smtpd_verify="yes",
               smtpd_verify_nameserver=f"127.0.0.1:{dport}",
               smtpd_iprev="yes",
               smtpd_dnsbl_nameserver=f"127.0.0.1:{dport}")
    code, stored = send(sm, "u@pass.test", message())
    assert code == 250, stored
    assert stored.count(b"Authentication-Results: " + HOST.encode()) == 1
    ar = ar_of(stored)
    assert "spf=pass" in ar and "iprev=" in ar, ar
    assert "policy.iprev=127.0.0.1" in ar, ar
