"""DANE for SMTP (RFC 7672, issue 23) through the whole system, with a
real validating resolver: unbound on loopback with a trust anchor for the
zone good.test, which a second unbound serves authoritatively, signed
with ldns-signzone; plain.test is served unsigned (insecure).  The MX
hosts are our own SMTP servers on 127.0.83.x, all on one port (mx_port,
which the TLSA names carry: _PORT._tcp.mxN.good.test).

    ok.good.test      mx1  3 1 1 <the server's key>     delivered
    wrong.good.test   mx2  3 1 1 <another key>          deferred (4.7.5)
    notls.good.test   mx3  3 1 1 <the server's key>     no STARTTLS: 4.7.4
    bogus.good.test   mx4  TLSA altered after signing   deferred (4.7.5)
    bogusmx.good.test      MX altered after signing     deferred (4.4.3)
    ta.good.test      mx6  2 0 1 <the test CA>          delivered
    implicit.good.test     no MX (secure denial), TLSA  delivered
    cname.good.test   alias1 CNAME mx1: mx1's key; another at alias1
                                                    delivered (mx1's)
    cname2.good.test  alias2 CNAME mx7: no TLSA at mx7; the key at
                      alias2                        delivered (alias2's)
    cname3.good.test  alias3 CNAME mx8: 2 0 1 <the test CA> at mx8; the
                      certificate names only mx8    delivered (RFC 7672
                                                    3.2.2: both names)
    cname4.good.test  alias4 CNAME mx9: the same record at mx9; the
                      certificate names only mx8    deferred (4.7.5)
    nexthop.good.test mx10 2 0 1 <the test CA>; the certificate names
                      only nexthop.good.test        delivered (3.2.2)
    plain.test        mx5  unsigned                     normal policy
"""
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile

import pytest

from conftest import need, prog, wait_for
from dnsutil import query_packet, udp_free_port
from remoteutil import SMTPServer, common_port, make_ca
from smtpdutil import Smtpd
from stsutil import make_ca as make_ca_only, make_cert
from test_remote import MSG
from test_remote_e2e import submit



@pytest.fixture(autouse=True)
def validator_installed():
    need("unbound")
    need("ldns-signzone", "ldnsutils")

ADDR = {n: f"127.0.83.{n}" for n in range(1, 9)}


def sh(argv, cwd):
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def spki_sha256(cert):
    """The SHA-256 of the certificate's SubjectPublicKeyInfo (3 1 1)."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-noout",
                          "-pubkey"], check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                         input=pub, check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def cert_sha256(cert):
    """The SHA-256 of the whole certificate, DER (x 0 1)."""
    with open(cert) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def good_zone(port, key, ca):
    other = "00" * 32
    return f"""$ORIGIN good.test.
$TTL 300
@ IN SOA ns.good.test. hostmaster.good.test. 1 3600 600 86400 300
@ IN NS ns.good.test.
ns IN A 127.0.0.1
ok IN MX 10 mx1
mx1 IN A {ADDR[1]}
_{port}._tcp.mx1 IN TLSA 3 1 1 {key}
_{port}._tcp.mx1 IN TLSA 1 1 1 {other}
wrong IN MX 10 mx2
mx2 IN A {ADDR[2]}
_{port}._tcp.mx2 IN TLSA 3 1 1 {other}
notls IN MX 10 mx3
mx3 IN A {ADDR[3]}
_{port}._tcp.mx3 IN TLSA 3 1 1 {key}
bogus IN MX 10 mx4
mx4 IN A {ADDR[4]}
_{port}._tcp.mx4 IN TLSA 3 1 1 {key}
bogusmx IN MX 10 mx1
ta IN MX 10 mx6
mx6 IN A {ADDR[6]}
_{port}._tcp.mx6 IN TLSA 2 0 1 {ca}
implicit IN A {ADDR[1]}
_{port}._tcp.implicit IN TLSA 3 1 1 {key}
cname IN MX 10 alias1
alias1 IN CNAME mx1
_{port}._tcp.alias1 IN TLSA 3 1 1 {other}
cname2 IN MX 10 alias2
alias2 IN CNAME mx7
mx7 IN A {ADDR[1]}
_{port}._tcp.alias2 IN TLSA 3 1 1 {key}
cname3 IN MX 10 alias3
alias3 IN CNAME mx8
mx8 IN A {ADDR[7]}
_{port}._tcp.mx8 IN TLSA 2 0 1 {ca}
cname4 IN MX 10 alias4
alias4 IN CNAME mx9
mx9 IN A {ADDR[8]}
_{port}._tcp.mx9 IN TLSA 2 0 1 {ca}
nexthop IN MX 10 mx10
mx10 IN A {ADDR[8]}
_{port}._tcp.mx10 IN TLSA 2 0 1 {ca}
"""


PLAIN_ZONE = f"""$ORIGIN plain.test.
$TTL 300
@ IN SOA ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 300
@ IN NS ns.plain.test.
ns IN A 127.0.0.1
@ IN MX 10 mx5
mx5 IN A {ADDR[5]}
"""


def tamper(path, port):
    """Change two signed records after signing: their RRSIGs no longer
    match, so the validator calls them bogus (SERVFAIL)."""
    out = []
    with open(path) as f:
        for ln in f:
            f_ = ln.split()
            if (len(f_) > 4 and f_[0] == f"_{port}._tcp.mx4.good.test."
                    and f_[3] == "TLSA"):
                f_[-1] = "ff" + f_[-1][2:]
                ln = "\t".join(f_) + "\n"
            elif (len(f_) > 4 and f_[0] == "bogusmx.good.test." and
                    f_[3] == "MX"):
                f_[-1] = "mx6.good.test."
                ln = "\t".join(f_) + "\n"
            out.append(ln)
    with open(path, "w") as f:
        f.writelines(out)


def unbound_conf(d, name, port, body):
    path = os.path.join(d, name + ".conf")
    with open(path, "w") as f:
        f.write(f"""server:
  interface: 127.0.0.1@{port}
  port: {port}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{d}"
  pidfile: "{d}/{name}.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  local-zone: "test." nodefault
{body}""")
    return path


def answers(port, name, qtype):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        try:
            s.sendto(query_packet(0x4242, name, qtype), ("127.0.0.1", port))
            return s.recvfrom(4096)[0]
        except OSError:
            return None


@pytest.fixture(scope="module")
def dns():
    """The zones, both unbounds, the certificates; torn down at the end."""
    d = tempfile.mkdtemp(prefix="sandmail-dane.")
    port = common_port(list(ADDR.values()))
    ca, ca_key = make_ca_only(d, "sandmail test CA")
    cert, key = make_cert(d, ca, ca_key, "srv", [
        "mx1.good.test", "mx2.good.test", "mx3.good.test", "mx4.good.test",
        "mx5.plain.test", "mx6.good.test"])
    # a certificate for the CNAME-expanded name mx8 alone (DANE-TA)
    cert8, key8 = make_cert(d, ca, ca_key, "srv8", ["mx8.good.test"])
    # and one for the next-hop domain nexthop.good.test alone
    certnh, keynh = make_cert(d, ca, ca_key, "srvnh", ["nexthop.good.test"])
    chain, chain8 = os.path.join(d, "chain.pem"), os.path.join(d, "chain8.pem")
    chainnh = os.path.join(d, "chainnh.pem")
    for path, c_ in ((chain, cert), (chain8, cert8), (chainnh, certnh)):
        with open(path, "w") as f, open(c_) as c, open(ca) as a:
            f.write(c.read() + a.read())
    with open(os.path.join(d, "good.test"), "w") as f:
        f.write(good_zone(port, spki_sha256(cert), cert_sha256(ca)))
    with open(os.path.join(d, "plain.test"), "w") as f:
        f.write(PLAIN_ZONE)
    ksk = sh(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", "good.test"], d)
    zsk = sh(["ldns-keygen", "-a", "ECDSAP256SHA256", "good.test"], d)
    sh(["ldns-signzone", "good.test", zsk, ksk], d)
    tamper(os.path.join(d, "good.test.signed"), port)
    auth_port, val_port = udp_free_port(), udp_free_port()
    while val_port == auth_port:
        val_port = udp_free_port()
    auth = unbound_conf(d, "auth", auth_port, f"""auth-zone:
  name: "good.test."
  zonefile: "{d}/good.test.signed"
  for-downstream: yes
  for-upstream: no
auth-zone:
  name: "plain.test."
  zonefile: "{d}/plain.test"
  for-downstream: yes
  for-upstream: no
""")
    val = unbound_conf(d, "val", val_port, f"""  do-not-query-localhost: no
  trust-anchor-file: "{d}/{ksk}.key"
  module-config: "validator iterator"
  val-log-level: 2
  qname-minimisation: no
stub-zone:
  name: "good.test."
  stub-addr: 127.0.0.1@{auth_port}
stub-zone:
  name: "plain.test."
  stub-addr: 127.0.0.1@{auth_port}
""")
    ps = []
    for name, conf in (("auth", auth), ("val", val)):
        log = open(os.path.join(d, name + ".log"), "w")
        ps.append(subprocess.Popen(["unbound", "-d", "-c", conf],
                                   stdout=log, stderr=subprocess.STDOUT))
    wait_for(lambda: answers(val_port, "ok.good.test", 15), timeout=20,
             what="unbound")
    yield {"dir": d, "port": port, "ns": f"127.0.0.1:{val_port}",
           "chain": chain, "key": key, "cert": cert,
           "chain8": chain8, "key8": key8, "chainnh": chainnh,
           "keynh": keynh}
    for p in ps:
        p.terminate()
        p.wait(10)
    shutil.rmtree(d, ignore_errors=True)


def server_ctx(dns):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(dns["chain"], dns["key"])
    return ctx


@pytest.fixture
def system(procs, tmp_path, dns):
    """system(conf, tables) -> smtpd + queue + sandmail-start with the
    validating unbound as its name server and remote_tls dane."""
    made = []

    def start(conf=None, tables=None, servers=(1,)):
        extra = {"nameserver": dns["ns"], "dns_dnssec": "yes",
                 "remote_tls": "dane", "mx_port": dns["port"],
                 "bindir": os.path.dirname(prog("sandmail-send")),
                 "dns_timeout": 2, "remote_timeout_command": 10,
                 "retry_first": 1, "retry_max": 2,
                 "empty_dir": os.path.join(str(tmp_path), "empty")}
        if os.geteuid() == 0:
            extra.update(user_resolve="nobody", user_remote="nobody",
                         user_vmail="nobody", user_alias="nobody")
        extra.update(conf or {})
        tabs = {"relayclients": "127.0.0.0/8 relay\n"}
        tabs.update(tables or {})
        s = Smtpd(procs, tmp_path, tables=tabs, **extra)
        s.start_log = os.path.join(str(tmp_path), "start.log")
        s.start_logfile = open(s.start_log, "wb")
        s.start_proc = procs.start([prog("sandmail-start"), "-c", s.conf],
                                   stderr=s.start_logfile)
        s.mx = {}
        for n in servers:
            s.mx[n] = SMTPServer(ADDR[n], dns["port"], f"mx{n}.good.test")
            s.mx[n].tls_ctx = server_ctx(dns)
        made.append(s)
        return s
    yield start
    for s in made:
        procs.stop(s.start_proc)
        s.start_logfile.close()
        for m in s.mx.values():
            m.close()


def log(s):
    with open(s.start_log, errors="replace") as f:
        return f.read()


def wait_line(s, *needles, what="log line"):
    def line():
        for ln in log(s).splitlines():
            if all(n in ln for n in needles):
                return ln
        return None
    return wait_for(line, timeout=60, what=what)


def wait_delivered(srv, rcpt):
    return wait_for(lambda: [t for t in srv.done()
                             if any(rcpt in r for r in t.rcpts)],
                    timeout=60, what=f"delivery to {rcpt}")[0]


def test_matching_dane_ee_is_delivered_and_logged(system):
    s = system(servers=(1,))
    submit(s, ["a@ok.good.test"])
    assert wait_delivered(s.mx[1], "a@ok.good.test").tls
    ln = wait_line(s, "event=delivery", "rcpt=a@ok.good.test",
                   what="rspawn's delivery line")
    assert "status=K" in ln and "tls=dane-verified" in ln
    assert "event=tls" in log(s) and "verify=dane-verified" in log(s)
    # the resolver asked for the TLSA records with DNSSEC OK and got AD
    ln = wait_line(s, "event=route", "domain=ok.good.test")
    assert "mx=secure" in ln and "dane=S" in ln


def test_dane_ta_is_delivered(system):
    s = system(servers=(6,))
    submit(s, ["a@ta.good.test"])
    assert wait_delivered(s.mx[6], "a@ta.good.test").tls
    assert "tls=dane-verified" in wait_line(
        s, "event=delivery", "rcpt=a@ta.good.test")


def test_implicit_mx_uses_the_domains_own_tlsa(system):
    """No MX, proven by NSEC: the domain is its own host (RFC 5321 5.1)
    and its own TLSA base name (RFC 7672 2.2.2)."""
    s = system(servers=(1,))
    submit(s, ["a@implicit.good.test"])
    assert wait_delivered(s.mx[1], "a@implicit.good.test").tls
    assert "tls=dane-verified" in wait_line(
        s, "event=delivery", "rcpt=a@implicit.good.test")
    ln = wait_line(s, "event=route", "domain=implicit.good.test")
    assert "mx=secure" in ln and "dane=S" in ln


def test_tlsa_of_the_cname_expanded_name_first(system):
    """RFC 7672 2.2.3: the MX host alias1 is a CNAME of mx1; the TLSA
    records of the expanded name (mx1's, matching) count, not the
    alias's own (not matching)."""
    s = system(servers=(1,))
    submit(s, ["a@cname.good.test"])
    assert wait_delivered(s.mx[1], "a@cname.good.test").tls
    assert "tls=dane-verified" in wait_line(
        s, "event=delivery", "rcpt=a@cname.good.test")
    ln = wait_line(s, "event=route", "domain=cname.good.test")
    assert "mx=secure" in ln and "dane=S" in ln


def test_tlsa_of_the_alias_when_the_expanded_name_has_none(system):
    """alias2 is a CNAME of mx7, which has no TLSA records (secure
    denial): the alias's own records count."""
    s = system(servers=(1,))
    submit(s, ["a@cname2.good.test"])
    assert wait_delivered(s.mx[1], "a@cname2.good.test").tls
    assert "tls=dane-verified" in wait_line(
        s, "event=delivery", "rcpt=a@cname2.good.test")


def mx8_ctx(dns):
    """A server certificate naming mx8.good.test only."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(dns["chain8"], dns["key8"])
    return ctx


def test_dane_ta_accepts_the_cname_expanded_name(system, dns):
    """RFC 7672 3.2.2: alias3 is a CNAME of mx8, whose DANE-TA record
    counts; the certificate names mx8 alone, not the MX host name
    alias3: a reference identifier too, as the records came from it.
    It is the TLSA base domain, so the client names it in SNI (RFC 7672
    8.1)."""
    s = system(servers=(7,))
    ctx, sni = mx8_ctx(dns), []
    ctx.sni_callback = lambda sock, name, c: sni.append(name)
    s.mx[7].tls_ctx = ctx
    submit(s, ["a@cname3.good.test"])
    assert wait_delivered(s.mx[7], "a@cname3.good.test").tls
    ln = wait_line(s, "event=delivery", "rcpt=a@cname3.good.test")
    assert "status=K" in ln and "tls=dane-verified" in ln
    assert sni and set(sni) == {"mx8.good.test"}


def test_dane_ta_refuses_a_certificate_naming_neither(system, dns):
    """alias4 is a CNAME of mx9 (the same DANE-TA record); the
    certificate, of the right CA, names mx8 only: neither the MX host
    name nor the name the records came from."""
    s = system(servers=(8,))
    s.mx[8].tls_ctx = mx8_ctx(dns)
    submit(s, ["a@cname4.good.test"])
    ln = wait_line(s, "event=deferred", "to=a@cname4.good.test")
    assert "4.7.5" in ln and "DANE verification failed" in ln
    assert s.mx[8].done() == []
    assert not any(c.startswith("MAIL") for c in s.mx[8].commands)


def test_dane_ta_accepts_the_next_hop_domain(system, dns):
    """RFC 7672 3.2.2: with a secure MX set the recipients' domain is a
    reference identifier too: the certificate of mx10 names only
    nexthop.good.test."""
    s = system(servers=(8,))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(dns["chainnh"], dns["keynh"])
    s.mx[8].tls_ctx = ctx
    submit(s, ["a@nexthop.good.test"])
    assert wait_delivered(s.mx[8], "a@nexthop.good.test").tls
    ln = wait_line(s, "event=delivery", "rcpt=a@nexthop.good.test")
    assert "status=K" in ln and "tls=dane-verified" in ln


def test_wrong_certificate_is_deferred(system):
    s = system(servers=(2,))
    submit(s, ["a@wrong.good.test"])
    ln = wait_line(s, "event=deferred", "to=a@wrong.good.test")
    assert "4.7.5" in ln and "DANE verification failed" in ln
    assert s.mx[2].done() == []
    assert not any(c.startswith("MAIL") for c in s.mx[2].commands)


def test_no_starttls_is_deferred(system):
    s = system(servers=(3,))
    s.mx[3].tls_ctx = None
    submit(s, ["a@notls.good.test"])
    ln = wait_line(s, "event=deferred", "to=a@notls.good.test")
    assert "4.7.4" in ln and "DANE" in ln and "STARTTLS" in ln
    assert s.mx[3].done() == []


def test_bogus_tlsa_is_deferred_without_connecting(system):
    s = system(servers=(4,))
    submit(s, ["a@bogus.good.test"])
    ln = wait_line(s, "event=deferred", "to=a@bogus.good.test")
    assert "4.7.5" in ln and "TLSA lookup for mx4.good.test failed" in ln
    assert "dane=B" in wait_line(s, "event=route", "domain=bogus.good.test")
    assert s.mx[4].connections == 0


def test_bogus_mx_is_deferred(system):
    s = system(servers=(1, 6))
    submit(s, ["a@bogusmx.good.test"])
    ln = wait_line(s, "event=deferred", "to=a@bogusmx.good.test")
    assert "4.4.3" in ln and "SERVFAIL" in ln
    assert s.mx[1].connections == 0 and s.mx[6].connections == 0


def test_unsigned_domain_gets_the_normal_policy(system):
    s = system(servers=(5,))
    submit(s, ["a@plain.test"])
    assert wait_delivered(s.mx[5], "a@plain.test").tls
    assert "tls=unverified" in wait_line(s, "event=delivery",
                                         "rcpt=a@plain.test")
    ln = wait_line(s, "event=route", "domain=plain.test")
    assert "mx=insecure" in ln and "dane=N" in ln


def test_dane_only_refuses_an_unsigned_domain(system):
    s = system(tables={"tls_policy": "plain.test dane-only\n"},
               servers=(5, 1))
    submit(s, ["a@plain.test", "b@ok.good.test"])
    assert wait_delivered(s.mx[1], "b@ok.good.test").tls
    ln = wait_line(s, "event=deferred", "to=a@plain.test")
    assert "4.7.4" in ln and "dane-only" in ln
    assert s.mx[5].connections == 0


def test_ad_is_not_trusted_without_dns_dnssec(system):
    """The same resolver, but the admin has not said it validates: no
    TLSA is asked, and the wrong key does not stop the mail (dane falls
    back to may)."""
    s = system(conf={"dns_dnssec": "no"}, servers=(2,))
    submit(s, ["a@wrong.good.test"])
    assert wait_delivered(s.mx[2], "a@wrong.good.test").tls
    assert "tls=unverified" in wait_line(s, "event=delivery",
                                         "rcpt=a@wrong.good.test")


# --- rspawn alone: the DANE state as the job carries it -------------------

def test_rspawn_tlsa_only_for_mx_port(procs, tmp_path):
    """The TLSA records resolve found are those of mx_port; a route to
    another port (a routes entry host:port) gets none under dane: there
    the wrong record does not defer, on mx_port it does."""
    from remoteutil import Rspawn, write_conf
    ca, cert, key = make_ca(str(tmp_path), ["mx.example.test"])
    port, other = common_port(["127.0.84.1"]), None
    while other is None or other == port:
        other = common_port(["127.0.84.1"])
    servers = [SMTPServer("127.0.84.1", p, "mx.example.test")
               for p in (port, other)]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    for srv in servers:
        srv.tls_ctx = ctx
    conf = write_conf(str(tmp_path), port, f"tls_ca_file {ca}\n")
    r = Rspawn(procs, conf, str(tmp_path))
    wrong = ["3 1 1 " + "00" * 32]
    right = ["3 1 1 " + spki_sha256(cert)]
    try:
        res = r.deliver(MSG, ["a@example.test"], [
            ("mx.example.test", ["127.0.84.1"], other, "S", wrong)],
            tls="dane")
        assert res["rcpts"][0][0] == "K"
        res = r.deliver(MSG, ["b@example.test"], [
            ("mx.example.test", ["127.0.84.1"], 0, "S", wrong)],
            tls="dane")
        assert res["rcpts"][0][0] == "Z"
        assert "DANE verification failed" in res["rcpts"][0][1]
        res = r.deliver(MSG, ["c@example.test"], [
            ("mx.example.test", ["127.0.84.1"], 0, "S", right)],
            tls="dane-only")
        assert res["rcpts"][0][0] == "K"
    finally:
        assert r.close() == 0, r.log()
        for srv in servers:
            srv.close()
    assert "tls=dane-verified" in r.log()


def test_tls_policy_dane_for_one_domain(system):
    """remote_tls may, and a tls_policy entry dane for one domain: that
    domain gets DANE all the same (the wrong key defers it)."""
    s = system(conf={"remote_tls": "may"},
               tables={"tls_policy": "wrong.good.test dane\n"},
               servers=(2,))
    submit(s, ["a@wrong.good.test"])
    ln = wait_line(s, "event=deferred", "to=a@wrong.good.test")
    assert "4.7.5" in ln and "DANE verification failed" in ln
    assert s.mx[2].done() == []


def test_rspawn_dane_wins_over_mta_sts(procs, tmp_path):
    """RFC 8461 2: a job of a domain whose MTA-STS policy enforces
    (tls mta-sts, what send gives it) is checked by DANE where the host
    has secure TLSA records and remote_tls allows DANE, and by PKIX
    where it has none.  The MX certificate is from a CA tls_ca_file does
    not name: PKIX fails, the TLSA record matches."""
    from remoteutil import Rspawn, write_conf
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.mkdir()
    theirs.mkdir()
    _, cert, key = make_ca(str(theirs), ["mx.example.test"])
    ca, _, _ = make_ca(str(mine), ["unused.test"])
    port = common_port(["127.0.84.2"])
    srv = SMTPServer("127.0.84.2", port, "mx.example.test")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.tls_ctx = ctx
    right = ["3 1 1 " + spki_sha256(cert)]
    wrong = ["3 1 1 " + "00" * 32]
    host = ("mx.example.test", ["127.0.84.2"], 0)
    logs = []
    try:
        for rt, cases in (
                ("dane", [("a", "S", right, "K", None),
                          ("b", "S", wrong, "Z", "DANE verification"),
                          ("c", "N", [], "Z", "4.7.5 TLS with")]),
                ("may", [("d", "S", right, "Z", "4.7.5 TLS with")])):
            # (the policy send gave such jobs before: verify, PKIX only,
            # as the admin's tls_policy verify still is)
            cases += [("e", "S", right, "Z", "4.7.5 TLS with", "verify")]
            d = tmp_path / rt
            d.mkdir()
            conf = write_conf(str(d), port, f"tls_ca_file {ca}\n"
                              f"remote_tls {rt}\n")
            r = Rspawn(procs, conf, str(d))
            try:
                for who, st, recs, want, text, *tls in cases:
                    res = r.deliver(MSG, [f"{who}@example.test"],
                                    [host + (st, recs)],
                                    tls=(tls or ["mta-sts"])[0])
                    assert res["rcpts"][0][0] == want, (who, res)
                    if text is not None:
                        assert text in res["rcpts"][0][1], (who, res)
            finally:
                assert r.close() == 0, r.log()
                logs.append(r.log())
    finally:
        srv.close()
    assert [m.rcpts for m in srv.done()] == [["RCPT TO:<a@example.test>"]]
    assert "tls=dane-verified" in logs[0]
    assert "DANE instead of the policy's PKIX check" in logs[0]
    assert "dane-verified" not in logs[1]


# --- sandmail-tlspolicy: what applies to a domain, and why ---------------

def tlspolicy(s, domain):
    return subprocess.run([prog("sandmail-tlspolicy"), "-c", s.conf,
                           domain], check=True, capture_output=True,
                          text=True, timeout=60).stdout


def test_tlspolicy_tool_says_what_applies(system, dns):
    s = system(tables={"tls_policy": "wrong.good.test verify\n",
                       "routes": "routed.good.test relay.good.test:2525\n"},
               servers=())
    out = tlspolicy(s, "OK.good.test")
    assert "domain: ok.good.test\n" in out
    assert "tls_policy: (no entry: remote_tls applies)" in out
    assert "remote_tls: dane" in out
    assert "mx: DNSSEC-secure" in out
    assert ("mx host: mx1.good.test pref 10: secure TLSA records, 1 "
            "usable (first: 3 1 1 ") in out
    assert "next delivery: remote_tls dane (DANE for the hosts" in out
    assert "requiretls: possible" in out
    assert "mta-sts: off" in out
    out = tlspolicy(s, "plain.test")
    assert "mx: not DNSSEC-secure" in out
    assert "mx host: mx5.plain.test pref 10: no DANE" in out
    assert "requiretls: REQUIRETLS mail bounces (5.7.30)" in out
    out = tlspolicy(s, "bogus.good.test")
    assert f"TLSA lookup of _{dns['port']}._tcp.mx4.good.test failed" in out
    assert "mx4.good.test is not used" in out
    out = tlspolicy(s, "wrong.good.test")
    assert "tls_policy: verify" in out
    assert "next delivery: tls_policy verify" in out
    out = tlspolicy(s, "routed.good.test")
    assert "route: relay.good.test:2525" in out
    assert "next delivery: to the route relay.good.test:2525 under dane" \
        in out
    assert "requiretls: possible (a route" in out


def test_tlspolicy_tool_follows_the_cname(system, dns):
    """The tool finds the TLSA records where resolve does (RFC 7672
    2.2.3): at the CNAME-expanded name first, the alias's own when that
    has none; and it says which name they came from."""
    s = system(servers=())
    port = dns["port"]
    out = tlspolicy(s, "cname.good.test")
    assert ("mx host: alias1.good.test pref 10: secure TLSA records, 1 "
            f"usable (first: 3 1 1 {spki_sha256(dns['cert'])[:34]}...) "
            f"at _{port}._tcp.mx1.good.test (the CNAME-expanded name "
            "mx1.good.test") in out
    out = tlspolicy(s, "cname2.good.test")
    assert ("mx host: alias2.good.test pref 10: secure TLSA records, 1 "
            f"usable (first: 3 1 1 {spki_sha256(dns['cert'])[:34]}...) "
            f"at _{port}._tcp.alias2.good.test (the alias's own: none "
            "at the expanded name mx7.good.test)") in out
    out = tlspolicy(s, "ok.good.test")
    assert f"at _{port}._tcp.mx1.good.test\n" in out
