"""remote_tls and tls_policy through the whole system (issue 19, item 8):
each policy against servers with and without STARTTLS and with a
certificate that does or does not name the MX host, the global default
and a per-domain entry that overrides it.

Two MX hosts, one port (test_remote_e2e.make_system): mx.dest.test
(127.0.0.2) for dest.test and mx.sink.test (127.0.0.3) for sink.test.
send used to write "may" into every job without a tls_policy entry, so
remote_tls was never read: none still used STARTTLS, encrypt and verify
sent in clear text or to a server whose certificate did not match."""
import os
import subprocess

import pytest

from conftest import BUILD, wait_for
from remoteutil import SMTPServer, make_ca, server_tls_ctx
from test_remote_e2e import make_system, submit

pytestmark = pytest.mark.usefixtures("dnsmasq_installed")


@pytest.fixture
def certs(tmp_path):
    """A CA bundle trusting two test CAs; a certificate for each MX host
    name and one for a name no MX has."""
    out = {}
    bundle = []
    for name in ("mx.dest.test", "mx.sink.test", "elsewhere.test"):
        d = tmp_path / ("ca-" + name)
        d.mkdir()
        cafile, cert, key = make_ca(str(d), [name])
        out[name] = (cert, key)
        with open(cafile) as f:
            bundle.append(f.read())
    path = tmp_path / "cabundle.pem"
    path.write_text("".join(bundle))
    out["ca"] = str(path)
    return out


@pytest.fixture
def run(procs, tmp_path, certs, request):
    """run(remote_tls, tls_policy=None) -> the system, with dest and sink
    servers (no STARTTLS until a test sets tls_ctx) made before send
    starts."""
    made = []

    def start(remote_tls, tls_policy=None):
        conf = {"tls_ca_file": certs["ca"]}
        if remote_tls is not None:
            conf["remote_tls"] = remote_tls
        tables = {"tls_policy": tls_policy} if tls_policy else {}
        s = make_system(procs, tmp_path, conf=conf, tables=tables)
        s.dest = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
        s.sink = SMTPServer("127.0.0.3", s.mx_port, "mx.sink.test")
        made.append(s)
        return s
    yield start
    for s in made:
        procs.stop(s.start_proc)
        s.start_logfile.close()
        s.dest.close()
        s.sink.close()


def tls_for(certs, name):
    return server_tls_ctx(*certs[name])


def delivered(srv, rcpt):
    return [t for t in srv.done() if any(rcpt in r for r in t.rcpts)]


def wait_delivered(srv, rcpt):
    return wait_for(lambda: delivered(srv, rcpt), timeout=60,
                    what=f"delivery to {rcpt}")[0]


def log(s):
    with open(s.start_log, errors="replace") as f:
        return f.read()


def wait_deferred(s, rcpt):
    """The log line of send's deferral of rcpt (send logs each one)."""
    def line():
        for ln in log(s).splitlines():
            if "event=deferred" in ln and f"to={rcpt}" in ln:
                return ln
        return None
    return wait_for(line, timeout=60, what=f"deferral of {rcpt}")


def test_none_never_starts_tls(run, certs):
    s = run("none")
    s.dest.tls_ctx = tls_for(certs, "mx.dest.test")
    submit(s, ["a@dest.test"])
    t = wait_delivered(s.dest, "a@dest.test")
    assert not t.tls
    assert not any(c.startswith("STARTTLS") for c in s.dest.commands)


def test_may_is_opportunistic_and_unverified(run, certs):
    s = run("may")
    # a certificate for another name: may takes it (encrypted, unverified)
    s.dest.tls_ctx = tls_for(certs, "elsewhere.test")
    submit(s, ["a@dest.test", "b@sink.test"])
    assert wait_delivered(s.dest, "a@dest.test").tls
    # no STARTTLS offered: delivered in clear text
    assert not wait_delivered(s.sink, "b@sink.test").tls


def test_encrypt_requires_tls_but_not_a_matching_name(run, certs):
    s = run("encrypt")
    s.dest.tls_ctx = tls_for(certs, "elsewhere.test")
    submit(s, ["a@dest.test", "b@sink.test"])
    assert wait_delivered(s.dest, "a@dest.test").tls
    ln = wait_deferred(s, "b@sink.test")
    assert "4.7.4" in ln and "does not offer STARTTLS" in ln
    assert s.sink.done() == []
    assert not any(c.startswith("MAIL") for c in s.sink.commands)


def test_verify_requires_a_matching_certificate(run, certs):
    s = run("verify")
    s.dest.tls_ctx = tls_for(certs, "elsewhere.test")   # wrong name
    s.sink.tls_ctx = tls_for(certs, "mx.sink.test")
    submit(s, ["a@dest.test", "b@sink.test"])
    assert wait_delivered(s.sink, "b@sink.test").tls
    ln = wait_deferred(s, "a@dest.test")
    assert "4.7.5" in ln and "TLS with mx.dest.test[127.0.0.2]" in ln
    assert s.dest.done() == []
    assert not any(c.startswith("MAIL") for c in s.dest.commands)


def test_verify_refuses_a_server_without_starttls(run, certs):
    s = run("verify")
    submit(s, ["a@dest.test"])
    assert "4.7.4" in wait_deferred(s, "a@dest.test")
    assert s.dest.done() == []


def test_default_is_may(run, certs):
    s = run(None)
    s.dest.tls_ctx = tls_for(certs, "elsewhere.test")
    submit(s, ["a@dest.test", "b@sink.test"])
    assert wait_delivered(s.dest, "a@dest.test").tls
    assert not wait_delivered(s.sink, "b@sink.test").tls


def test_tls_policy_entry_overrides_remote_tls(run, certs):
    # the default would refuse both; the entries say otherwise per domain
    s = run("verify", "dest.test none\nsink.test may\n")
    s.dest.tls_ctx = tls_for(certs, "elsewhere.test")
    submit(s, ["a@dest.test", "b@sink.test"])
    assert not wait_delivered(s.dest, "a@dest.test").tls
    assert not wait_delivered(s.sink, "b@sink.test").tls


def test_tls_policy_entry_stricter_than_remote_tls(run, certs):
    s = run("none", "sink.test encrypt\n")
    s.dest.tls_ctx = tls_for(certs, "mx.dest.test")
    submit(s, ["a@dest.test", "b@sink.test"])
    assert not wait_delivered(s.dest, "a@dest.test").tls
    assert "4.7.4" in wait_deferred(s, "b@sink.test")
    assert s.sink.done() == []


def test_bad_remote_tls_stops_everything(tmp_path):
    """A misspelt remote_tls stops every program at start with file:line
    (the key registry), so mail never leaves under a policy nobody
    asked for; rspawn's own check stays behind it."""
    conf = tmp_path / "sandmail.conf"
    conf.write_text(f"queue {tmp_path}/queue\nremote_tls verfy\n")
    r = subprocess.run([os.path.join(BUILD, "sandmail-queue"), "-i", "-c",
                        str(conf)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 111
    assert f"{conf}:2:" in r.stderr and "remote_tls" in r.stderr
