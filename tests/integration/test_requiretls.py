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


def test_insecure_mx_bounces_even_with_verified_tls(system, dns):
    """RFC 8689 4.2.1: the MX lookup itself must be DNSSEC-secure (or
    the host listed by an enforced MTA-STS policy).  plain.test is
    unsigned; mx5 offers REQUIRETLS and a certificate the CA file
    verifies: the TLS would do, the route does not."""
    s = system(conf=dict(tls_conf(dns), tls_ca_file=dns["chain"]),
               servers=(5,))
    s.mx[5].ehlo.append("REQUIRETLS")
    send_requiretls(s, "a@plain.test")
    ln = wait_line(s, "event=bounced", "to=a@plain.test")
    assert "5.7.30 REQUIRETLS" in ln and "DNSSEC-secure MX" in ln
    assert s.mx[5].connections == 0


def test_address_literal_bounces(system, dns):
    """RFC 8689 4.2.1: the next hop's certificate must match the MX
    host's name (or the domain's) as a DNS-ID; a recipient's address
    literal has no name, and no MX lookup that DNSSEC or MTA-STS could
    vouch for.  REQUIRETLS mail to one bounces at once (5.7.30),
    nothing connected to, though the host there offers REQUIRETLS and a
    certificate the CA file verifies; a routes entry would have been
    the administrator's choice, the literal is the sender's."""
    s = system(conf=dict(tls_conf(dns), tls_ca_file=dns["chain"]),
               servers=(5,))
    s.mx[5].ehlo.append("REQUIRETLS")
    rcpt = f"a@[{ADDR[5]}]"
    send_requiretls(s, rcpt)
    ln = wait_line(s, "event=bounced", rcpt)
    assert "5.7.30 REQUIRETLS" in ln and "address literal" in ln, ln
    assert s.mx[5].connections == 0


def test_rspawn_requiretls_needs_a_secure_route(procs, tmp_path):
    """rspawn alone, one verifiable host offering REQUIRETLS: the job's
    MX state decides.  A host of an insecure MX set is refused (5.7.30,
    not even connected to) unless the job is under an enforced MTA-STS
    policy (tls mta-sts); a secure MX set or a routes entry will do."""
    from remoteutil import Rspawn, common_port, make_ca, write_conf
    ca, cert, key = make_ca(str(tmp_path), ["mx.example.test"])
    port = common_port(["127.0.84.3"])
    srv = SMTPServer("127.0.84.3", port, "mx.example.test")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.tls_ctx = ctx
    srv.ehlo.append("REQUIRETLS")
    conf = write_conf(str(tmp_path), port, f"tls_ca_file {ca}\n")
    r = Rspawn(procs, conf, str(tmp_path))

    def host(mx):
        return ("mx.example.test", ["127.0.84.3"], 0, "N", [], mx)
    try:
        res = r.deliver(MSG, ["a@example.test"], [host("I")],
                        flags=ENV_REQUIRETLS)
        assert res["rcpts"][0][0] == "X", res
        assert "5.7.30" in res["rcpts"][0][1]
        assert "DNSSEC-secure MX" in res["rcpts"][0][1]
        assert srv.connections == 0
        for who, mx, tls in (("b", "I", "mta-sts"), ("c", "S", ""),
                             ("d", "R", "")):
            res = r.deliver(MSG, [f"{who}@example.test"], [host(mx)],
                            flags=ENV_REQUIRETLS, tls=tls)
            assert res["rcpts"][0][0] == "K", (who, res)
        # without REQUIRETLS the insecure MX set is as good as ever
        res = r.deliver(MSG, ["e@example.test"], [host("I")])
        assert res["rcpts"][0][0] == "K", res
    finally:
        assert r.close() == 0, r.log()
        srv.close()
    assert sorted(t.rcpts[0] for t in srv.done()) == [
        f"RCPT TO:<{w}@example.test>" for w in "bcde"]


def test_bounce_of_requiretls_mail_goes_with_requiretls(system, dns):
    """RFC 8689 5: the report on REQUIRETLS mail is sent with REQUIRETLS
    itself, and as if RET=HDRS had been given: the original's headers,
    never its body, even when the sender asked for RET=FULL.  The mail
    to plain.test bounces (an insecure MX set); the report goes to the
    sender at ok.good.test, whose mx1 is DANE-secure and offers
    REQUIRETLS."""
    s = system(conf=tls_conf(dns), servers=(1, 5))
    s.mx[1].ehlo.append("REQUIRETLS")
    with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
        c.starttls(context=client_ctx())
        c.ehlo()
        c.sendmail("a@ok.good.test", ["x@plain.test"],
                   MSG.replace(b"\n", b"\r\n"),
                   mail_options=["REQUIRETLS", "RET=FULL"])
    wait_line(s, "event=bounced", "to=x@plain.test")
    t = wait_delivered(s.mx[1], "a@ok.good.test")
    assert t.tls
    words = t.mail.upper().split()
    assert words[1] == "FROM:<>" and "REQUIRETLS" in words, t.mail
    assert not any(w.startswith("RET=") for w in words), t.mail
    assert b"Subject: hi" in t.data and b"text/rfc822-headers" in t.data
    assert b"line one" not in t.data and b"message/rfc822" not in t.data
    assert s.mx[5].connections == 0
