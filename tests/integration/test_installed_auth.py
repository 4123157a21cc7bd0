"""DKIM signing, ARC sealing and DMARC reports in the installed layout
(installed.py), the way doc/deliverability.md tells an admin to set them
up: `sandmail-dkim keygen` as root into setup's /etc/sandmail/dkimkeys
(root:sandmailk), the key table /etc/sandmail/dkim, arc_domain, and
smtpd_verify for the installed port-25 service; sandmail-start then runs
sandmail-sign as user_sign (sandmailk), the only reader of the key.

  - a message from outside (dest.test: SPF -all, DMARC p=none with a
    rua=) to an alias that forwards it (away@localhost -> away@dest.test)
    leaves sealed (ARC, judged by dkimpy's arc_verify) with the SRS
    sender setup's srs.secret gives;
  - sandmail-dmarcrep, run as root as its man page's cron example does
    on the port-25 service's svlogd lines, mails dest.test's aggregate
    report through sandmail-inject; send has it DKIM-signed by
    mail.test's key (dkimpy verifies it) on its way to the rua;
  - with dmarc_policy reject, a p=reject domain's message that a list
    changed (DMARC fails) is taken when it carries a valid ARC chain of
    a sealer in arc_trusted_sealers, whose keys smtpd fetches through
    the installed resolver path; the same chain of another sealer is
    refused (550 5.7.1)."""
import email
import gzip
import os
import re
import shutil
import smtplib
import time

import pytest

import dnsutil
from conftest import wait_for
from test_installed import _cmd

DKIM = "/etc/sandmail/dkim"
KEYS = "/etc/sandmail/dkimkeys"
REC = "v=DMARC1; p=none; rua=mailto:agg@dest.test"


def dkimpy():
    try:
        import dkim
    except ImportError:
        pytest.fail("python3-dkim is missing (scripts/deps)")
    return dkim


@pytest.fixture(scope="module")
def signing(installed, tmp_path_factory):
    inst = installed
    dkim = dkimpy()
    from conftest import Procs
    procs = Procs()
    d = str(tmp_path_factory.mktemp("auth"))
    extra = os.path.join(d, "dmarc.conf")
    with open(extra, "w") as f:
        f.write(f'txt-record=_dmarc.dest.test,"{REC}"\n')
    # the ARC override's domains: upstream.test (p=reject, SPF without
    # us) signs, forwarder.test (trusted) and other.test seal
    from test_arc_seal import keygen, txt_option
    kd = os.path.join(d, "arckeys")
    os.makedirs(kd)
    arc = {n: keygen(kd, n, "s1") for n in ("upstream.test",
                                            "forwarder.test", "other.test")}
    arcdns = [txt_option(f"s1._domainkey.{n}", k[1]) for n, k in arc.items()]
    arcdns += ["--txt-record=upstream.test,v=spf1 ip4:192.0.2.1 -all",
               "--txt-record=_dmarc.upstream.test,v=DMARC1; p=reject"]
    log0 = len(inst.log("sandmail-smtpd"))
    # relay clients are not checked: loopback must not be one here
    with inst.outside_site(restart=(("sandmail-start", None),
                                    ("sandmail-smtpd", "smtp"))):
        try:
            dport = dnsutil.start_dnsmasq(procs, d, [
                f"--conf-file={extra}", "--txt-record=dest.test,v=spf1 -all"]
                + arcdns)
            # the admin's steps (doc/deliverability.md), as root
            inst.run([inst.sbin("sandmail-dkim"), "keygen", "-k", KEYS,
                      "mail.test", "s1", "rsa"])
            with open(inst.path(f"{KEYS}/mail.test.s1.txt")) as f:
                txt = f.read().strip()
            with open(inst.path(DKIM), "w") as f:
                f.write("mail.test s1 dkimkeys/mail.test.s1.key\n")
            inst.conf(smtpd_verify="yes",
                      smtpd_verify_nameserver=f"127.0.0.1:{dport}",
                      arc_domain="mail.test", dmarc_policy="reject",
                      arc_trusted_sealers="forwarder.test")
            inst.restart("sandmail-start")
            inst.restart("sandmail-smtpd", "smtp")
            yield {"txt": txt, "dkim": dkim, "log0": log0, "dir": d,
                   "arc": {n: open(k[0], "rb").read()
                           for n, k in arc.items()}}
        finally:
            # the keys go before the services start again without them
            for p in (DKIM, f"{KEYS}/mail.test.s1.key",
                      f"{KEYS}/mail.test.s1.txt"):
                try:
                    os.unlink(inst.path(p))
                except FileNotFoundError:
                    pass
            procs.stop_all()


def dnsfunc(signing):
    def f(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        if name.rstrip(".") == "s1._domainkey.mail.test":
            return signing["txt"].encode()    # keygen's .txt: the value
        return None
    return f


def arrived(inst, what, pred):
    try:
        return wait_for(lambda: [t for t in inst.mx.done() if pred(t)],
                        timeout=60, what=what)[0]
    except TimeoutError as e:
        raise AssertionError(f"{e}\n{inst.stall_report()}")


def test_key_and_signer_as_setup_intends(installed, signing):
    inst = installed
    st = os.stat(inst.path(f"{KEYS}/mail.test.s1.key"))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (
        0, inst.ids["sandmailk"][1], 0o640), st
    want = str(inst.ids["sandmailk"][0])

    def signer_uid():
        """sandmail-sign's uids once it dropped root (it reads the keys
        first, then writes its greeting as user_sign)"""
        for p in inst.pids("sandmail-start")[1:]:
            if _cmd(p).split(" ")[0].endswith("sandmail-sign"):
                try:
                    with open(f"/proc/{p}/status") as f:
                        uid = [ln.split()[1:] for ln in f
                               if ln.startswith("Uid:")][0]
                except OSError:
                    continue
                if set(uid) == {want}:
                    return uid
        return None
    try:
        wait_for(signer_uid, timeout=60, what="sandmail-sign as sandmailk")
    except TimeoutError as e:
        raise AssertionError(f"{e}\n{inst.processes()}\n"
                             f"{inst.log('sandmail-start')[-2000:]}")


def test_forward_is_sealed_with_srs(installed, signing):
    inst = installed
    dkim = signing["dkim"]
    msg = ("From: boss@dest.test\r\nTo: away@localhost\r\n"
           "Subject: inst-arc\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
           "Message-ID: <inst-arc@dest.test>\r\n\r\ninst-arc-forward\r\n")
    with inst.smtp() as c:
        c.sendmail("boss@dest.test", ["away@localhost"], msg)
    t = arrived(inst, "the sealed forward",
                lambda t: b"inst-arc-forward" in t.data)
    head = t.data.split(b"\r\n\r\n")[0]
    assert t.data.startswith(b"ARC-Seal: i=1; a=rsa-sha256;"), head
    assert b"d=mail.test" in head and b"cv=none" in head, head
    cv, results, why = dkim.arc_verify(t.data, dnsfunc=dnsfunc(signing))
    assert cv == dkim.CV_Pass, why
    frm = t.mail.split()[1][len("FROM:<"):].split(">")[0]
    assert frm.startswith("SRS0=") and frm.endswith("@mail.test"), frm


def test_dmarcrep_report_is_signed(installed, signing):
    inst = installed
    dkim = signing["dkim"]
    # a message of dest.test's (SPF -all, no signature: DMARC fails)
    msg = ("From: boss@dest.test\r\nTo: alice@localhost\r\n"
           "Subject: inst-dmarcrep\r\n\r\ninst-dmarcrep\r\n")
    with inst.smtp() as c:
        c.sendmail("boss@dest.test", ["alice@localhost"], msg)
    inst.wait_mail(inst.maildir("alice"), "inst-dmarcrep")
    # this module's lines of the port-25 service's svlogd log (the
    # shared log holds other modules' domains too); svlogd may write
    # smtpd's line after the delivery it preceded was seen

    def verify_lines():
        return [ln for ln in inst.log("sandmail-smtpd")[signing["log0"]:]
                .splitlines(True) if "event=verify" in ln and
                "from_domain=dest.test" in ln]
    try:
        wait_for(verify_lines, timeout=30, what="smtpd's event=verify line")
    except TimeoutError:
        pass
    lines = verify_lines()
    assert lines
    os.makedirs(inst.path("/var/spool/authtest"), exist_ok=True)
    with open(inst.path("/var/spool/authtest/current"), "w") as f:
        f.writelines(lines)
    env = {k: v for k, v in os.environ.items() if k != "SANDMAIL_CONF"}
    # svlogd's time stamps put the lines in the period: the last hour
    now = int(time.time())
    r = inst.run([inst.sbin("sandmail-dmarcrep"), "-b", str(now - 3600),
                  "-e", str(now + 60), "/var/spool/authtest/current"],
                 env=env)
    assert r.returncode == 0, r
    t = arrived(inst, "the DMARC report",
                lambda t: any("agg@dest.test" in x for x in t.rcpts))
    m = email.message_from_bytes(t.data)
    assert m["Subject"].startswith("Report Domain: dest.test Submitter: ")
    assert m["From"].endswith("postmaster@mail.test") or \
        "postmaster@mail.test" in m["From"], m["From"]
    part = [p for p in m.walk()
            if p.get_content_type() == "application/gzip"][0]
    assert b"<domain>dest.test</domain>" in gzip.decompress(
        part.get_payload(decode=True))
    assert b"DKIM-Signature:" in t.data.split(b"\r\n\r\n")[0], t.data[:800]
    assert dkim.verify(t.data, dnsfunc=dnsfunc(signing)), t.data[:800]
    shutil.rmtree(inst.path("/var/spool/authtest"), ignore_errors=True)


def test_trusted_sealer_overrides_dmarc_reject(installed, signing):
    from test_arc_seal import PASSED, forwarded
    inst = installed
    good = forwarded(signing["arc"], b"forwarder.test", PASSED)
    untrusted = forwarded(signing["arc"], b"other.test", PASSED)
    with inst.smtp() as c:
        c.sendmail("a@upstream.test", ["alice@localhost"], good)
        with pytest.raises(smtplib.SMTPDataError) as e:
            c.sendmail("a@upstream.test", ["alice@localhost"], untrusted)
    assert e.value.smtp_code == 550, e.value
    assert e.value.smtp_error.startswith(b"5.7.1"), e.value
    got = inst.wait_mail(inst.maildir("alice"), "the list's footer")
    head = re.sub(rb"\r?\n[ \t]+", b" ", got.split(b"\n\n")[0])
    assert b"arc=pass (chain valid, 1 sets, newest d=forwarder.test)" in \
        head, head
    assert b"policy.override=trusted_forwarder" in head, head


def test_check_passes_with_signing_on(installed, signing):
    """sandmail-check on the site as the admin set it up: the key named
    in the key table is found, mode 640; nothing fails."""
    from test_installed_check import check
    r = check(installed)
    out = r.stdout.decode()
    assert r.returncode == 0 and "FAIL" not in out, out
    assert "dkimkeys/mail.test.s1.key: mode 640" in out, out
