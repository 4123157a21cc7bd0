"""MTA-STS enforce and TLS reporting through the installed services
(installed.py): sandmail-sts (user_sts, chrooted into its cache) fetches
enf.test's policy from an HTTPS server of the test's own, its
certificate from a test CA the admin put in /etc/sandmail/tls; send
takes mail relayed by the installed port-25 service to the listed MX
only, rspawn (user_remote) verifies that MX's certificate with
tls_ca_file; at the end of a short tlsrpt_period the TLS report (RFC
8460) goes by mail, queued by send, to the _smtp._tls record's rua."""
import os
import shutil


from conftest import free_port, wait_for
from dnsutil import start_dnsmasq
from remoteutil import SMTPServer, server_tls_ctx
from stsutil import PolicyServer, make_ca, make_cert, policy
from test_installed import send25
from test_sts_e2e import report_of

CONF = "/etc/sandmail/sandmail.conf"
CA = "/etc/sandmail/tls/ststest-ca.pem"
CACHE = "/var/lib/sandmail/sts"
ADDR = "127.0.0.4"


def test_enforce_delivery_and_tls_report(installed, procs, tmp_path):
    inst = installed
    tmp = str(tmp_path)
    ca, cakey = make_ca(tmp)
    web_cert, web_key = make_cert(tmp, ca, cakey, "web", ["mta-sts.enf.test"])
    mx_cert, mx_key = make_cert(tmp, ca, cakey, "mx", ["mx.enf.test"])
    shutil.copy(ca, inst.path(CA))
    os.chmod(inst.path(CA), 0o644)
    web_port = free_port()
    web = PolicyServer(web_port, web_cert, web_key)
    web.behave["enf"] = policy("enforce", ["mx.enf.test"])
    mx = SMTPServer(ADDR, inst.mx_port, "mx.enf.test")
    mx.tls_ctx = server_tls_ctx(mx_cert, mx_key)
    dns = start_dnsmasq(procs, tmp, [
        "--local-ttl=60",
        "--mx-host=enf.test,mx.enf.test,10",
        f"--host-record=mx.enf.test,{ADDR}",
        "--host-record=mta-sts.enf.test,127.0.0.1",
        "--txt-record=_mta-sts.enf.test,v=STSv1; id=1",
        "--txt-record=_smtp._tls.enf.test,v=TLSRPTv1;rua=mailto:"
        "tls@dest.test",
        "--mx-host=dest.test,mx.dest.test,10",
        "--host-record=mx.dest.test,127.0.0.2"])
    with open(inst.path(CONF)) as f:
        saved = f.read()
    keep = [ln for ln in saved.splitlines(True)
            if ln.split(None, 1)[:1] != ["nameserver"]]
    log0 = len(inst.log("sandmail-start"))
    try:
        with open(inst.path(CONF), "w") as f:
            f.write("".join(keep) + "".join(f"{k} {v}\n" for k, v in {
                "nameserver": f"127.0.0.1:{dns}", "mta_sts": "yes",
                "mta_sts_ca_file": CA, "mta_sts_port": web_port,
                "mta_sts_fetch_timeout": 5, "tls_ca_file": CA,
                "tlsrpt_period": 3}.items()))
        inst.restart("sandmail-start")
        wait_for(lambda: "prog=sts event=ready" in
                 inst.log("sandmail-start")[log0:], timeout=30,
                 what="sandmail-sts ready")
        send25(inst, "b@enf.test", "inst-sts-enforce")
        try:
            t = wait_for(lambda: [t for t in mx.done()
                                  if b"inst-sts-enforce" in t.data],
                         timeout=60, what="the enforce delivery")[0]
        except TimeoutError as e:
            raise AssertionError(f"{e}\n{inst.stall_report()}")
        assert t.tls and "STARTTLS" in mx.commands
        lg = inst.wait_log("sandmail-start", "domain=enf.test mode=enforce",
                           since=log0)
        assert "domain=enf.test mode=enforce" in lg, lg
        assert any(h == "mta-sts.enf.test" for h, _ in web.requests), \
            web.requests
        # the period's report, queued by send, to the rua at dest.test
        try:
            r = wait_for(lambda: [t for t in inst.mx.done()
                                  if any("tls@dest.test" in x
                                         for x in t.rcpts)],
                         timeout=60, what="the TLS report")[0]
        except TimeoutError as e:
            raise AssertionError(f"{e}\n{inst.logs(tail=60)}")
        m, js = report_of(r)
        pol = js["policies"][0]
        assert pol["policy"]["policy-domain"] == "enf.test", js
        assert pol["summary"]["total-successful-session-count"] >= 1, js
    finally:
        with open(inst.path(CONF), "w") as f:
            f.write(saved)
        inst.restart("sandmail-start")
        for n in os.listdir(inst.path(CACHE)):
            p = os.path.join(inst.path(CACHE), n)
            if os.path.isfile(p):
                os.unlink(p)
        os.unlink(inst.path(CA))
        web.close()
        mx.close()
