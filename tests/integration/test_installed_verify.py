"""Inbound SPF, DKIM and DMARC in the installed layout (installed.py):
smtpd_verify on for the installed port-25 service, the records served by
a dnsmasq of the test's own (the same ones test_verify.py serves), so the
checks run under the installed listener's confinement and a session's
uid; the Authentication-Results field is read in the delivered mail, and
a DMARC p=reject forgery is refused at the end of DATA."""
import re
import smtplib

import pytest

import dnsutil
from test_verify import dkimpy_sign, message, records, world  # noqa: F401



def ar(m):
    """the Authentication-Results field of a delivered message, unfolded"""
    f = re.search(rb"^(Authentication-Results:.*?\n)(?![ \t])", m,
                  re.S | re.M)
    assert f, m[:400]
    return re.sub(rb"\n[ \t]+", b" ", f.group(1)).decode()


def deliver(inst, sender, msg, token):
    with inst.smtp() as c:
        c.sendmail(sender, ["alice@localhost"], msg)
    return ar(inst.wait_mail(inst.maildir("alice"), token))


def test_installed_verify(installed, procs, tmp_path, world):  # noqa: F811
    inst = installed
    dport = dnsutil.start_dnsmasq(procs, str(tmp_path), records(world))
    # relay clients are not checked: loopback must not be one here
    with inst.outside_site():
        inst.conf(smtpd_verify="yes",
                  smtpd_verify_nameserver=f"127.0.0.1:{dport}",
                  dmarc_policy="reject")
        inst.restart("sandmail-smtpd", "smtp")
        # SPF: pass.test allows 127.0.0.1
        a = deliver(inst, "u@pass.test",
                    message("u@pass.test", b"verify-spf\r\n"), "verify-spf")
        assert a.startswith("Authentication-Results: mail.test;"), a
        assert "spf=pass" in a and "smtp.mailfrom=u@pass.test" in a, a
        assert "dmarc=none" in a, a
        # DKIM by dkimpy, aligned with From: DMARC passes
        m = message("a@signed.test", b"verify-dkim\r\n")
        a = deliver(inst, "a@signed.test", dkimpy_sign(m, world) + m,
                    "verify-dkim")
        assert "dkim=pass (good) header.d=signed.test" in a, a
        assert "dmarc=pass" in a and "header.from=signed.test" in a, a
        # the same signature over a changed body: DKIM fails, DMARC
        # p=reject: refused at the end of DATA, nothing delivered
        bad = (dkimpy_sign(m, world) + m).replace(b"verify-dkim",
                                                  b"verify-bad")
        with pytest.raises(smtplib.SMTPDataError) as e:
            with inst.smtp() as c:
                c.sendmail("a@signed.test", ["alice@localhost"], bad)
        assert e.value.smtp_code == 550, e.value
        # a forged From of a p=reject domain, SPF failing: refused too
        with pytest.raises(smtplib.SMTPDataError) as e:
            with inst.smtp() as c:
                c.sendmail("x@rej.test", ["alice@localhost"],
                           message("ceo@rej.test", b"verify-forged\r\n"))
        assert e.value.smtp_code == 550, e.value
        assert not any(b"verify-bad" in x or b"verify-forged" in x
                       for x in inst.mail(inst.maildir("alice")))
        # svlogd may write smtpd's line after the reply that followed it
        assert "event=verify" in inst.wait_log("sandmail-smtpd",
                                               "event=verify")
