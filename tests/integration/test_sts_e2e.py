"""MTA-STS on the whole outbound path: an SMTP client -> smtpd -> queue
-> send, which asks sandmail-sts (policies from an HTTPS server of the
test's own, its certificate from a test CA made here) and
sandmail-resolve (dnsmasq) -> rspawn -> MX hosts of ours with STARTTLS
on 127.0.0.2-5."""
import os
import shutil
import smtplib
import time

import pytest

from conftest import free_port, prog, wait_for
from dnsutil import start_dnsmasq
from remoteutil import SMTPServer, common_port, server_tls_ctx
from smtpdutil import Smtpd
from stsutil import PolicyServer, make_ca, make_cert, policy

pytestmark = pytest.mark.skipif(shutil.which("dnsmasq") is None,
                                reason="dnsmasq not installed")

MSG = b"From: a@sender.test\nSubject: sts\n\nhello\n"
# domain label -> the address of its MX host mx.LABEL.test
MX = {"enf": "127.0.0.2", "notin": "127.0.0.3", "cert": "127.0.0.4",
      "testing": "127.0.0.5"}


class System:
    pass


def start_set(s):
    log = open(s.start_log, "ab")
    s.start_proc = s.procs.start([prog("sandmail-start"), "-c", s.smtpd.conf],
                                 stderr=log)
    log.close()


def stop_set(s):
    s.procs.stop(s.start_proc)


def startlog(s):
    with open(s.start_log, "rb") as f:
        return f.read().decode("utf-8", "replace")


@pytest.fixture
def system(procs, tmp_path):
    s = System()
    s.procs = procs
    tmp = str(tmp_path)
    s.ca, cakey = make_ca(tmp)
    web_cert, web_key = make_cert(tmp, s.ca, cakey, "web",
                                  [f"mta-sts.{d}.test" for d in MX])
    # every MX host's certificate is from our CA but cert.test's
    other = os.path.join(tmp, "other")
    os.mkdir(other)
    ca2, ca2key = make_ca(other, "a CA nobody trusts")
    s.mx_port = common_port(list(MX.values()))
    s.mx = {}
    for d, addr in MX.items():
        if d == "cert":
            c, k = make_cert(other, ca2, ca2key, "mx", [f"mx.{d}.test"])
        else:
            c, k = make_cert(tmp, s.ca, cakey, f"mx-{d}", [f"mx.{d}.test"])
        srv = SMTPServer(addr, s.mx_port, f"mx.{d}.test")
        srv.tls_ctx = server_tls_ctx(c, k)
        s.mx[d] = srv
    recs = ["--local-ttl=0"]
    for d, addr in MX.items():
        recs += [f"--mx-host={d}.test,mx.{d}.test,10",
                 f"--host-record=mx.{d}.test,{addr}",
                 f"--host-record=mta-sts.{d}.test,127.0.0.1",
                 f"--txt-record=_mta-sts.{d}.test,v=STSv1; id=1"]
    dns = start_dnsmasq(procs, tmp, recs)
    s.web_port = free_port()
    s.web = PolicyServer(s.web_port, web_cert, web_key)
    s.web.behave.update({
        "enf": policy("enforce", ["mx.enf.test"]),
        "notin": policy("enforce", ["mx.elsewhere.test", "*.notin.test.x"]),
        "cert": policy("enforce", ["*.cert.test"]),
        "testing": policy("testing", ["elsewhere.testing.test"]),
    })
    cache = os.path.join(tmp, "sts")
    os.mkdir(cache, 0o700)
    conf = {"nameserver": f"127.0.0.1:{dns}", "mx_port": s.mx_port,
            "bindir": os.path.dirname(prog("sandmail-send")),
            "dns_timeout": 2, "remote_timeout_command": 10,
            "retry_first": 1, "retry_max": 2,
            "empty_dir": os.path.join(tmp, "empty"),
            "mta_sts": "yes", "mta_sts_cache": cache,
            "mta_sts_ca_file": s.ca, "mta_sts_port": s.web_port,
            "mta_sts_fetch_timeout": 5, "tls_ca_file": s.ca}
    if os.geteuid() == 0:
        conf.update(user_resolve="nobody", user_remote="nobody",
                    user_vmail="nobody", user_alias="nobody",
                    user_sts="nobody")
        os.chown(cache, 65534, 65534)
    s.smtpd = Smtpd(procs, tmp_path, tables={
        "relayclients": "127.0.0.0/8 relay\n"}, **conf)
    s.start_log = os.path.join(tmp, "start.log")
    start_set(s)
    yield s
    stop_set(s)
    s.web.close()
    for m in s.mx.values():
        m.close()


def submit(s, rcpts):
    with smtplib.SMTP("127.0.0.1", s.smtpd.port, timeout=20) as c:
        c.sendmail("a@sender.test", rcpts, MSG.replace(b"\n", b"\r\n"))


def test_enforce_with_matching_mx_is_delivered_over_tls(system):
    submit(system, ["b@enf.test"])
    t = wait_for(lambda: system.mx["enf"].done(), timeout=60,
                 what="delivery")[0]
    assert "TO:<b@enf.test>" in t.rcpts[0]
    assert "STARTTLS" in system.mx["enf"].commands
    assert "mode=enforce" in startlog(system)


def test_mx_not_in_policy_is_deferred(system):
    submit(system, ["b@notin.test"])
    wait_for(lambda: "lists none of its MX hosts" in startlog(system),
             timeout=60, what="the deferral")
    assert "mx=mx.notin.test" in startlog(system)
    assert system.mx["notin"].connections == 0
    assert system.smtpd.count() == 1        # still queued


def test_untrusted_certificate_is_deferred(system):
    submit(system, ["b@cert.test"])
    wait_for(lambda: "TLS with mx.cert.test" in startlog(system),
             timeout=60, what="the TLS failure")
    assert system.mx["cert"].done() == []
    assert system.smtpd.count() == 1


def test_testing_mode_delivers_and_logs(system):
    submit(system, ["b@testing.test"])
    wait_for(lambda: system.mx["testing"].done(), timeout=60,
             what="delivery")
    log = startlog(system)
    assert "mode=testing" in log
    assert "testing: used all the same" in log


def test_policy_cached_across_restart(system):
    submit(system, ["b@enf.test"])
    wait_for(lambda: system.mx["enf"].done(), timeout=60, what="delivery")
    stop_set(system)
    # the policy server forgets the policy; the cache must not
    system.web.behave["enf"] = "404"
    system.web.behave["notin"] = "404"
    n = len(system.web.requests)
    start_set(system)
    submit(system, ["c@enf.test"])
    wait_for(lambda: len(system.mx["enf"].done()) == 2, timeout=60,
             what="second delivery")
    log = startlog(system)
    assert "domain=enf.test mode=enforce why=\"cached" in log, log
    assert len(system.web.requests) == n     # not fetched again
