"""The whole path: an SMTP client -> sandmail-smtpd -> queue -> send ->
sandmail-resolve (dnsmasq) -> sandmail-rspawn -> the MX host (a server of
ours on 127.0.0.2, Postfix's smtp-sink on 127.0.0.3); and our remote into
our own smtpd."""
import os
import shutil
import smtplib
import subprocess
import tempfile

import pytest

from conftest import need, prog, wait_for, wait_port
from dnsutil import start_dnsmasq
from remoteutil import Rspawn, SMTPServer, common_port, write_conf
from smtpdutil import Smtpd
from test_remote import MSG

pytestmark = pytest.mark.usefixtures("dnsmasq_installed")


def make_system(procs, tmp_path, routes=None, conf=None, tables=None,
                dns_extra=(), verify=False):
    """smtpd + queue + sandmail-start (send, resolve, lspawn, rspawn),
    dnsmasq serving dest.test (MX mx.dest.test = 127.0.0.2) and
    sink.test (MX sink.test = 127.0.0.3).  routes(port) -> routes table;
    conf: more sandmail.conf settings; tables: more tables; dns_extra:
    more dnsmasq options; verify: smtpd_verify on, with that dnsmasq."""
    port = common_port(["127.0.0.2", "127.0.0.3"])
    dns = start_dnsmasq(procs, str(tmp_path), [
        "--local-ttl=60",
        "--mx-host=dest.test,mx.dest.test,10",
        "--host-record=mx.dest.test,127.0.0.2",
        "--mx-host=sink.test,mx.sink.test,10",
        "--host-record=mx.sink.test,127.0.0.3",
        "--mx-host=nullmx.test,.,0",
    ] + list(dns_extra))
    extra = {"nameserver": f"127.0.0.1:{dns}", "mx_port": port,
             "bindir": os.path.dirname(prog("sandmail-send")),
             "dns_timeout": 2, "remote_timeout_command": 10,
             "retry_first": 1, "retry_max": 2, "empty_dir":
             os.path.join(str(tmp_path), "empty")}
    if os.geteuid() == 0:
        extra.update(user_resolve="nobody", user_remote="nobody",
                     user_vmail="nobody", user_alias="nobody")
    if verify:
        extra.update(smtpd_verify="yes",
                     smtpd_verify_nameserver=f"127.0.0.1:{dns}")
    extra.update(conf or {})
    tabs = {"relayclients": "127.0.0.0/8 relay\n"}
    tabs.update(tables or {})
    if routes is not None:
        tabs["routes"] = routes(port)
    s = Smtpd(procs, tmp_path, tables=tabs, **extra)
    log = open(os.path.join(str(tmp_path), "start.log"), "wb")
    start = procs.start([prog("sandmail-start"), "-c", s.conf], stderr=log)
    s.start_log = os.path.join(str(tmp_path), "start.log")
    s.mx_port = port
    s.start_proc = start
    s.start_logfile = log
    return s


@pytest.fixture
def system(procs, tmp_path):
    s = make_system(procs, tmp_path)
    yield s
    procs.stop(s.start_proc)
    s.start_logfile.close()


def submit(s, rcpts, body=MSG, sender="a@sender.test"):
    with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
        c.sendmail(sender, rcpts, body.replace(b"\n", b"\r\n"))


def test_message_reaches_mx_host(system):
    mx = SMTPServer("127.0.0.2", system.mx_port, "mx.dest.test")
    try:
        submit(system, ["b@dest.test", "c@dest.test"])
        done = wait_for(lambda: mx.done(), timeout=60, what="delivery")
        t = done[0]
        assert sorted(x.split()[1] for x in t.rcpts) == [
            "TO:<b@dest.test>", "TO:<c@dest.test>"]
        assert t.mail.startswith("MAIL FROM:<a@sender.test>")
        assert t.data.startswith(b"Received: ")
        assert b"\r\nSubject: hi\r\n" in t.data
        # byte for byte after our Received: line (dots unstuffed by mx)
        assert t.data.endswith(MSG.replace(b"\n", b"\r\n"))
    finally:
        mx.close()


def test_message_reaches_smtp_sink(system, request):
    need("smtp-sink", "postfix")
    # smtp-sink writes as nobody: a directory nobody can reach (pytest's
    # tmp_path is 0700 root's)
    dump = tempfile.mkdtemp(prefix="sandmail-sink-")
    os.chmod(dump, 0o777)
    request.addfinalizer(lambda: shutil.rmtree(dump, ignore_errors=True))
    argv = ["smtp-sink", "-d", dump + "/", f"127.0.0.3:{system.mx_port}",
            "10"]
    if os.geteuid() == 0:
        argv[1:1] = ["-u", "nobody"]
    system.procs.start(argv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    # listening before the delivery tries it (a refused connection
    # would be a deferral), however slowly smtp-sink starts
    wait_port(system.mx_port, host="127.0.0.3")
    submit(system, ["x@sink.test"], body=MSG.replace(b"hi", b"to the sink"))
    def dumped():
        # smtp-sink may still be writing the file: wait for the whole
        for name in os.listdir(dump):
            with open(os.path.join(dump, name), "rb") as f:
                b = f.read()
            if b"last line" in b:
                return b
        return None
    got = wait_for(dumped, timeout=60, what="sink dump")
    assert b"Subject: to the sink" in got
    assert b"x@sink.test" in got


def test_null_mx_bounces_to_sender(system):
    # the bounce goes to the sender's domain: dest.test's MX gets it
    mx = SMTPServer("127.0.0.2", system.mx_port, "mx.dest.test")
    try:
        submit(system, ["u@nullmx.test"], sender="back@dest.test")
        done = wait_for(lambda: mx.done(), timeout=60, what="bounce")
        t = done[0]
        assert t.mail.startswith("MAIL FROM:<>")
        assert "TO:<back@dest.test>" in t.rcpts[0]
        assert b"accepts no mail" in t.data
    finally:
        mx.close()


def test_remote_into_our_smtpd(procs, tmp_path):
    (tmp_path / "in").mkdir()
    s = Smtpd(procs, tmp_path / "in")
    conf = write_conf(str(tmp_path), s.port)
    r = Rspawn(procs, conf, str(tmp_path))
    try:
        res = r.deliver(MSG, ["alice@example.test", "nobody@example.test"],
                        [("ours", ["127.0.0.1"], s.port)])
        assert res["rcpts"][0][0] == "K", res
        assert res["rcpts"][1][0] == "X", res
        assert "550" in res["rcpts"][1][1]
        msgs = wait_for(lambda: s.messages(), timeout=20, what="queued")
        (env, body), = msgs.values()
        # smtpd stored LF line ends again, dots unstuffed, our Received first
        assert body.endswith(MSG.split(b"\n\n", 1)[1])
        assert b"\r\n" not in body
    finally:
        assert r.close() == 0


def test_routes_table_wins_over_mx(procs, tmp_path):
    s = make_system(procs, tmp_path,
                    routes=lambda port: f"dest.test [127.0.0.3]:{port}\n")
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    smart = SMTPServer("127.0.0.3", s.mx_port, "smarthost.test")
    try:
        submit(s, ["r@dest.test"])
        done = wait_for(lambda: smart.done(), timeout=60, what="delivery")
        assert "TO:<r@dest.test>" in done[0].rcpts[0]
        assert mx.done() == [] and mx.connections == 0
    finally:
        procs.stop(s.start_proc)
        s.start_logfile.close()
        mx.close()
        smart.close()


def test_4xx_defers_then_succeeds(system):
    mx = SMTPServer("127.0.0.2", system.mx_port, "mx.dest.test")
    tries = []

    def rcpt(addr):
        tries.append(addr)
        return "451 4.7.1 greylisted, come back" if len(tries) == 1 \
            else "250 2.1.5 ok"
    mx.rcpt = rcpt
    try:
        submit(system, ["grey@dest.test"])
        done = wait_for(lambda: mx.done(), timeout=60, what="retry")
        assert "TO:<grey@dest.test>" in done[0].rcpts[0]
        assert len(tries) >= 2
        with open(system.start_log) as f:
            assert "greylisted" in f.read()      # the deferral is logged
    finally:
        mx.close()


def test_5xx_text_reaches_the_bounce(system):
    mx = SMTPServer("127.0.0.2", system.mx_port, "mx.dest.test")
    mx.rcpt = lambda a: ("550 5.1.1 <bad@dest.test>: no such user here"
                         if a == "bad@dest.test" else "250 2.1.5 ok")
    try:
        submit(system, ["bad@dest.test"], sender="back@dest.test")
        done = wait_for(lambda: [t for t in mx.done()
                                 if t.mail.startswith("MAIL FROM:<>")],
                        timeout=60, what="bounce")
        assert "TO:<back@dest.test>" in done[0].rcpts[0]
        assert b"no such user here" in done[0].data
        assert b"mx.dest.test[127.0.0.2]" in done[0].data
    finally:
        mx.close()


@pytest.mark.parametrize("key,rcpt", [
    ("[192.0.2.1]", "r@[192.0.2.1]"),
    # another spelling of the same address finds the key
    ("[IPv6:2001:DB8::1]", "r@[IPv6:2001:db8:0:0::1]")])
def test_routes_address_literal_key(procs, tmp_path, key, rcpt):
    # sandmail-tables(5): a literal is looked up as itself; so mail to
    # an address nobody can reach from here goes where routes says
    s = make_system(procs, tmp_path,
                    routes=lambda port: f"{key} [127.0.0.3]:{port}\n")
    smart = SMTPServer("127.0.0.3", s.mx_port, "smarthost.test")
    try:
        submit(s, [rcpt])
        done = wait_for(lambda: smart.done(), timeout=60, what="delivery")
        assert f"TO:<{rcpt}>" in done[0].rcpts[0]
    finally:
        procs.stop(s.start_proc)
        s.start_logfile.close()
        smart.close()
