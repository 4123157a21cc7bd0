"""REQUIRETLS (RFC 8689, issue 23) through two sandmail instances: the
sender's client asks for it at A's smtpd (only inside TLS), A's queue
keeps it, A relays over DANE-verified TLS to B (a second sandmail smtpd
on mx1.good.test's address), which offers REQUIRETLS and queues the
message with it; a next hop that does not offer it, or whose
certificate nothing verifies, gets nothing and the sender a 5.7.30
bounce; "TLS-Required: No" sets DANE aside.  The DNS is test_dane's:
unbound validating a zone signed with ldns-signzone."""
import os
import smtplib
import socket
import ssl

from conftest import prog, wait_for
from remoteutil import SMTPServer
from smtpdutil import Smtpd
from test_dane import (ADDR, dns, log, server_ctx, system,  # noqa: F401
                       wait_delivered, wait_line)
from test_remote import MSG

ENV_REQUIRETLS = 0x10


def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def send_requiretls(s, rcpt, body=MSG, requiretls=True):
    with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
        c.starttls(context=client_ctx())
        c.ehlo()
        assert c.has_extn("requiretls")
        c.sendmail("a@sender.test", [rcpt], body.replace(b"\n", b"\r\n"),
                   mail_options=["REQUIRETLS"] if requiretls else [])


def tls_conf(dns):
    return {"tls_cert": dns["chain"], "tls_key": dns["key"]}


def start_b(procs, tmp_path, dns):
    """Sandmail B: a queue and an smtpd with TLS on mx1.good.test's
    address and the MX port (no send: what it queued stays to be read)."""
    d = tmp_path / "b"
    d.mkdir()
    b = Smtpd(procs, d, listen=False,
              tables={"relayclients": "127.0.0.0/8 relay\n"}, **tls_conf(dns))
    with open(b.log, "ab") as lg:
        b.proc = procs.start([prog("sandmail-smtpd"), "-c", b.conf, "-l",
                              f"{ADDR[1]}:{dns['port']}"], stderr=lg)

    def up():
        try:
            socket.create_connection((ADDR[1], dns["port"]), 1).close()
            return True
        except OSError:
            return False
    wait_for(up, timeout=20, what="sandmail B's smtpd")
    return b


def test_offered_only_inside_tls(system, dns):
    s = system(conf=tls_conf(dns), servers=())
    with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
        c.ehlo()
        assert not c.has_extn("requiretls")
        code, _ = c.docmd("MAIL FROM:<a@sender.test> REQUIRETLS")
        assert code == 555
        c.starttls(context=client_ctx())
        c.ehlo()
        assert c.has_extn("requiretls")
        code, _ = c.docmd("MAIL FROM:<a@sender.test> REQUIRETLS=YES")
        assert code == 501
        code, _ = c.docmd("MAIL FROM:<a@sender.test> REQUIRETLS")
        assert code == 250


def test_end_to_end_through_two_instances(system, dns, procs, tmp_path):
    b = start_b(procs, tmp_path, dns)
    a = system(conf=tls_conf(dns), servers=())
    send_requiretls(a, "z@ok.good.test")
    ln = wait_line(a, "event=delivery", "rcpt=z@ok.good.test",
                   what="A's delivery")
    assert "status=K" in ln and "tls=dane-verified" in ln
    msgs = wait_for(lambda: b.messages(), timeout=30, what="B's queue")
    (env, body), = msgs.values()
    assert env["flags"] & ENV_REQUIRETLS
    assert env["rcpts"][0][0] == "z@ok.good.test"
    assert env["sender"] == "a@sender.test"


def test_next_hop_without_requiretls_bounces(system, dns):
    s = system(conf=tls_conf(dns), servers=(1,))   # ours: no REQUIRETLS
    send_requiretls(s, "a@ok.good.test")
    ln = wait_line(s, "event=bounced", "to=a@ok.good.test")
    assert "5.7.30" in ln and "does not offer REQUIRETLS" in ln
    assert s.mx[1].done() == []
    assert not any(c.startswith("MAIL") for c in s.mx[1].commands)


def test_unverified_next_hop_bounces(system, dns):
    """plain.test is unsigned (no DANE) and rspawn has no CA that
    signed mx5's certificate: under may it would go; not with
    REQUIRETLS."""
    s = system(conf=tls_conf(dns), servers=(5,))
    s.mx[5].ehlo.append("REQUIRETLS")
    send_requiretls(s, "a@plain.test")
    ln = wait_line(s, "event=bounced", "to=a@plain.test")
    assert "5.7.30 REQUIRETLS" in ln
    assert s.mx[5].done() == []


def test_requiretls_mail_goes_with_the_parameter(system, dns):
    s = system(conf=tls_conf(dns), servers=(1,))
    s.mx[1].ehlo.append("REQUIRETLS")
    send_requiretls(s, "a@ok.good.test")
    t = wait_delivered(s.mx[1], "a@ok.good.test")
    assert t.tls and "REQUIRETLS" in t.mail.upper().split()


def test_tls_required_no_sets_dane_aside(system, dns):
    """wrong.good.test's TLSA records do not match: deferred
    (test_dane); with TLS-Required: No the sender takes the risk."""
    s = system(servers=(2,))
    body = b"TLS-Required: No\n" + MSG
    with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
        c.sendmail("a@sender.test", ["a@wrong.good.test"],
                   body.replace(b"\n", b"\r\n"))
    assert wait_delivered(s.mx[2], "a@wrong.good.test").tls
    assert "tls=unverified" in wait_line(s, "event=delivery",
                                         "rcpt=a@wrong.good.test")
    assert "event=tls_required_no" in log(s)
