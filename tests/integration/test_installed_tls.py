"""DANE and REQUIRETLS through the installed services (installed.py):
sandmail-start's resolve (user_resolve) asks a validating unbound (the
signed zone good.test of test_dane.py) with dns_dnssec on, rspawn
(user_remote) checks the TLSA records with remote_tls dane; mail relayed
by the installed port-25 service goes to mx1.good.test DANE-verified, a
REQUIRETLS message to a next hop that does not offer REQUIRETLS bounces
(5.7.30) and never reaches it, and one to a next hop that offers it
goes with the parameter.  sandmail-tlspolicy, an admin's tool, shows the
same route as root, and as a user who cannot read the tables it says so
instead of a wrong answer."""
import os
import shutil

import pytest

from conftest import wait_for
from remoteutil import SMTPServer
from test_dane import ADDR, dns, server_ctx  # noqa: F401

CONF = "/etc/sandmail/sandmail.conf"
KEYS = ("nameserver", "mx_port", "dns_dnssec", "remote_tls")


def configure(inst, saved, **kw):
    """saved sandmail.conf without the lines of kw's keys, then kw (some
    keys repeat: nameserver)."""
    keep = [ln for ln in saved.splitlines(True)
            if ln.split(None, 1)[:1] not in ([k] for k in kw)]
    with open(inst.path(CONF), "w") as f:
        f.write("".join(keep) + "".join(f"{k} {v}\n" for k, v in kw.items()))


@pytest.fixture(scope="module")
def tools():
    for p in ("unbound", "ldns-signzone", "ldns-keygen"):
        if shutil.which(p) is None:
            pytest.fail(f"{p} is missing (scripts/deps)")


@pytest.fixture(scope="module")
def dane(tools, installed, dns):  # noqa: F811
    """The installed sandmail-start with the validating unbound and
    remote_tls dane; mx1.good.test's server; all put back at the end."""
    inst = installed
    with open(inst.path(CONF)) as f:
        saved = f.read()
    mx = SMTPServer(ADDR[1], dns["port"], "mx1.good.test")
    mx.tls_ctx = server_ctx(dns)
    try:
        configure(inst, saved, nameserver=dns["ns"], mx_port=dns["port"],
                  dns_dnssec="yes", remote_tls="dane")
        inst.restart("sandmail-start")
        yield mx
    finally:
        with open(inst.path(CONF), "w") as f:
            f.write(saved)
        inst.restart("sandmail-start")
        mx.close()


def relay(inst, rcpt, token, requiretls=False):
    msg = (f"From: alice@localhost\r\nTo: {rcpt}\r\nSubject: {token}\r\n"
           f"\r\n{token}\r\n")
    with inst.smtp() as c:
        c.starttls(context=inst.tls_context())
        c.ehlo()
        if requiretls:
            assert c.has_extn("requiretls")
        c.sendmail("alice@localhost", [rcpt], msg,
                   mail_options=["REQUIRETLS"] if requiretls else [])


def delivered(mx, token):
    return wait_for(lambda: [t for t in mx.done()
                             if token.encode() in t.data],
                    timeout=60, what=f"{token} at mx1")[0]


def start_line(inst, *needles):
    def find():
        for ln in inst.log("sandmail-start").splitlines():
            if all(n in ln for n in needles):
                return ln
        return None
    try:
        return wait_for(find, timeout=60, what=" ".join(needles))
    except TimeoutError as e:
        raise AssertionError(f"{e}\n{inst.logs(tail=60)}")


def test_dane_verified_delivery(installed, dane):
    relay(installed, "dane1@ok.good.test", "inst-dane-ee")
    t = delivered(dane, "inst-dane-ee")
    assert t.tls
    ln = start_line(installed, "event=delivery", "rcpt=dane1@ok.good.test")
    assert "status=K" in ln and "tls=dane-verified" in ln, ln
    ln = start_line(installed, "event=route", "domain=ok.good.test")
    assert "mx=secure" in ln and "dane=S" in ln, ln


def test_requiretls_refused_then_carried(installed, dane):
    n = len(dane.commands)
    relay(installed, "rtls1@ok.good.test", "inst-rtls-refused",
          requiretls=True)
    ln = start_line(installed, "event=bounced", "to=rtls1@ok.good.test")
    assert "5.7.30" in ln and "does not offer REQUIRETLS" in ln, ln
    assert not any(b"inst-rtls-refused" in t.data for t in dane.done())
    assert not any(c.upper().startswith("MAIL") and "REQUIRETLS" in
                   c.upper() for c in dane.commands[n:])
    # the bounce reaches the sender (a local user)
    installed.wait_mail(installed.maildir("alice"), "rtls1@ok.good.test")
    dane.ehlo.append("REQUIRETLS")
    try:
        relay(installed, "rtls2@ok.good.test", "inst-rtls-carried",
              requiretls=True)
        t = delivered(dane, "inst-rtls-carried")
        assert t.tls and "REQUIRETLS" in t.mail.upper().split()
    finally:
        dane.ehlo.remove("REQUIRETLS")


def test_requiretls_to_an_address_literal_bounces(installed, dane):
    """RFC 8689 4.2.1 in the installed layout: a literal has no name to
    match, so REQUIRETLS mail to one bounces (5.7.30) though the host
    there offers REQUIRETLS; nothing reaches it."""
    dane.ehlo.append("REQUIRETLS")
    n = len(dane.commands)
    rcpt = f"rtls3@[{ADDR[1]}]"
    try:
        relay(installed, rcpt, "inst-rtls-literal", requiretls=True)
        ln = start_line(installed, "event=bounced", f"to={rcpt}")
    finally:
        dane.ehlo.remove("REQUIRETLS")
    assert "5.7.30" in ln and "address literal" in ln, ln
    assert dane.commands[n:] == [], dane.commands[n:]
    installed.wait_mail(installed.maildir("alice"), rcpt)


def tlspolicy(inst, user=None):
    env = {k: v for k, v in os.environ.items() if k != "SANDMAIL_CONF"}
    return inst.run([inst.sbin("sandmail-tlspolicy"), "ok.good.test"],
                    user=user, check=False, env=env)


def test_tlspolicy_as_root_and_as_a_user(installed, dane):
    r = tlspolicy(installed)
    out = r.stdout.decode()
    assert r.returncode == 0, r
    assert "route: (none: the MX hosts of the domain)" in out, out
    assert "mx: DNSSEC-secure" in out, out
    assert "mx host: mx1.good.test pref 10: secure TLSA records" in out, out
    assert "requiretls: possible" in out, out
    # routes.cdb is root:sandmails 0640: a user cannot know the route,
    # and must not be told there is none
    r = tlspolicy(installed, user="bob")
    assert r.returncode == 111, r
    assert b"route:" not in r.stdout, r
    assert b"routes.cdb" in r.stderr and b"Permission denied" in r.stderr, r
