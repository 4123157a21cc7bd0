"""sandmail-metrics (issue 24): the counters move as mail flows through
make run's whole system (sent, bounced, deferred, refused at RCPT), the
queue gauges follow what waits, the textfile and the HTTP answer parse
as the Prometheus text format (a strict parser here, and
prometheus_client's), and the HTTP endpoint is loopback only."""
import os
import re
import shutil
import smtplib
import socket
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import free_port, prog, wait_for, wait_port

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"({NAME})(\{{(?:{LABEL})(?:,{LABEL})*\}})? "
                    r"(-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?|[+-]Inf|NaN)$")
COMMENT = re.compile(rf"# (HELP|TYPE) ({NAME}) (.*)$")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def strict_parse(text):
    """The exposition format 0.0.4, strictly: every line a HELP, a TYPE
    or a sample; a family's TYPE before its samples and only once; a
    sample's name its family's (with _bucket/_sum/_count for a
    histogram); no sample twice; ends with a newline.  Returns
    {(name, frozenset(labels)): value}."""
    assert text.endswith("\n")
    types, seen, out = {}, set(), {}
    for ln in text[:-1].split("\n"):
        m = COMMENT.match(ln)
        if m:
            kind, name, rest = m.groups()
            if kind == "TYPE":
                assert rest in TYPES, ln
                assert name not in types, f"second TYPE: {ln}"
                assert name not in seen, f"TYPE after samples: {ln}"
                types[name] = rest
            continue
        m = SAMPLE.match(ln)
        assert m, f"not a sample line: {ln!r}"
        name, labels, value = m.groups()
        fam = name
        if name not in types:
            fam = re.sub(r"_(bucket|sum|count)$", "", name)
            assert types.get(fam) == "histogram", f"untyped: {ln}"
        seen.add(fam)
        lab = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|'
                                   r'\\.)*)"', labels or ""))
        key = (name, lab)
        assert key not in out, f"twice: {ln}"
        out[key] = float(value)
    # and the reference parser agrees on every sample
    n = 0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            assert out[(s.name, frozenset(s.labels.items()))] == s.value
            n += 1
    assert n == len(out)
    return out


def val(m, name, **labels):
    return m.get((name, frozenset(labels.items())), 0.0)


def http_get(port, path="/metrics", host="127.0.0.1"):
    with socket.create_connection((host, port), timeout=10) as c:
        c.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode(), body.decode()


@pytest.fixture
def runsys():
    from remoteutil import SMTPServer
    from runutil import RunSystem, scratch

    tmp = scratch()
    s = RunSystem(tmp)
    mx = SMTPServer("127.0.0.1", s.ports["remote"], "mx.metrics.test")

    def rcpt(a):
        if a.startswith("bad@"):
            return "550 5.1.1 no such user here"
        if a.startswith("later@"):
            return "451 4.3.0 try later"
        return "250 2.1.5 ok"
    mx.rcpt = rcpt
    os.makedirs(os.path.join(s.dir, "etc"))
    # make run starts sandmail-metrics on its log (scripts/run); the
    # test adds the HTTP endpoint and a short interval
    s.metrics_port = free_port()
    s.prom = os.path.join(s.dir, "metrics", "sandmail.prom")
    with open(os.path.join(s.dir, "etc", "sandmail.conf.local"), "w") as f:
        f.write("metrics_interval 1\n"
                f"metrics_listen 127.0.0.1:{s.metrics_port}\n")
    s.mx = mx
    try:
        s.start()
        s.wait_ready()
        wait_port(s.metrics_port)
        yield s
    finally:
        s.cleanup()
        mx.close()
        shutil.rmtree(tmp, ignore_errors=True)


def scrape(s):
    head, body = http_get(s.metrics_port)
    assert head.startswith("HTTP/1.0 200 OK"), head
    assert "Content-Type: text/plain; version=0.0.4" in head
    return strict_parse(body)


def smtp(s):
    c = smtplib.SMTP("127.0.0.1", s.ports["smtp"], timeout=30)
    c.ehlo("client.metrics.test")
    return c


def test_counters_follow_the_mail(runsys):
    s = runsys
    before = scrape(s)
    n = 5
    c = smtp(s)
    for i in range(n):
        c.sendmail("alice@src.test", [f"ok{i}@far.test"],
                   f"Subject: m{i}\r\n\r\nhello\r\n")
    # the bounce's report goes to alice@src.test: one more remote sent
    c.sendmail("alice@src.test", ["bad@far.test"], "Subject: b\r\n\r\nx\r\n")
    c.sendmail("", ["later@far.test"], "Subject: l\r\n\r\nx\r\n")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        c.sendmail("alice@src.test", ["nosuchuser@localhost"],
                   "Subject: r\r\n\r\nx\r\n")
    c.quit()

    def moved():
        m = scrape(s)
        d = lambda name, **lab: val(m, name, **lab) - val(before, name, **lab)
        ok = (d("sandmail_deliveries_total", kind="remote",
                status="sent") == n + 1 and
              d("sandmail_deliveries_total", kind="remote",
                status="bounced") == 1 and
              d("sandmail_deliveries_total", kind="remote",
                status="deferred") >= 1)
        return ok and (m, d)
    m, d = wait_for(moved, timeout=60, what="the deliveries counted")
    assert d("sandmail_smtpd_accepted_total") == n + 2
    # (the report is send's own, not the queue service's)
    assert d("sandmail_queued_total") == n + 2
    assert d("sandmail_smtpd_connections_total") == 1
    assert d("sandmail_smtpd_rejected_total", stage="RCPT",
             reason="unknown user") == 1
    assert d("sandmail_delivery_delay_seconds_count") == n + 1
    assert d("sandmail_delivery_delay_seconds_bucket", le="+Inf") == n + 1
    assert d("sandmail_deliveries_total", kind="local", status="sent") == 0
    # relay= names the port that answered (host[addr]:port)
    with open(os.path.join(s.dir, "log", "sandmail.log")) as f:
        log = f.read()
    relay = f"relay=127.0.0.1[127.0.0.1]:{s.ports['remote']} "
    assert log.count(relay) >= n + 3
    # what send knows: the deferred one waits in info/; nothing in flight
    # once it is deferred (the gauges come every metrics_interval)

    def gauges():
        g = scrape(s)
        return val(g, "sandmail_queue_messages", queue="info") == 1 and \
            val(g, "sandmail_queue_messages", queue="todo") == 0 and \
            val(g, "sandmail_deliveries_active", kind="remote") == 0 and g
    g = wait_for(gauges, timeout=30, what="the queue gauges")
    assert val(g, "sandmail_queue_messages", queue="hold") == 0
    assert 0 <= val(g, "sandmail_queue_oldest_age_seconds") < 600
    assert val(g, "sandmail_send_stats_age_seconds") < 30
    # the oldest comes from send's index (the envelope's arrival), not
    # from a stat of every message file each interval: a mess/ file's
    # time moved back changes nothing
    q = os.path.join(s.dir, "queue")
    path = os.path.join(q, "lock", "send.stats")

    def stats():
        with open(path) as f:
            return dict(ln.split() for ln in f.read().splitlines())
    first = stats()
    assert int(first["oldest"]) > 1000, first
    for n_ in os.listdir(os.path.join(q, "mess")):
        os.utime(os.path.join(q, "mess", n_), (1000, 1000))
    later = wait_for(lambda: (lambda t: int(t["time"]) > int(first["time"])
                              + 1 and t)(stats()),
                     timeout=30, what="send.stats written again")
    assert later["oldest"] == first["oldest"], (first, later)
    # the textfile says the same, written by a rename every second

    def textfile():
        try:
            with open(s.prom) as f:
                t = strict_parse(f.read())
        except FileNotFoundError:
            return None
        return val(t, "sandmail_deliveries_total", kind="remote",
                   status="sent") == val(m, "sandmail_deliveries_total",
                                         kind="remote", status="sent") and t
    wait_for(textfile, timeout=30, what="the textfile")
    mode = os.stat(s.prom).st_mode & 0o777
    assert mode == 0o644


def test_auth_failures_and_tls(runsys):
    """A wrong password over SMTP (submission, after STARTTLS) and over
    POP3: one auth failure each, and one TLS session in."""
    import base64
    import poplib
    import ssl
    s = runsys
    before = scrape(s)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    c = smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=30)
    c.starttls(context=ctx)
    c.ehlo("client.metrics.test")
    code, _ = c.docmd("AUTH", "PLAIN " + base64.b64encode(
        b"\0nosuch\0wrong").decode())
    assert code == 535
    c.quit()
    p = poplib.POP3("127.0.0.1", s.ports["pop3"], timeout=30)
    p.user("nosuch")
    with pytest.raises(poplib.error_proto):
        p.pass_("wrong")
    p.quit()

    def moved():
        m = scrape(s)

        def d(name, **lab):
            return val(m, name, **lab) - val(before, name, **lab)
        return d("sandmail_auth_failures_total", service="pop3") == 1 and d
    d = wait_for(moved, timeout=30, what="the pop3 auth failure")
    assert d("sandmail_auth_failures_total", service="smtp") == 1
    assert d("sandmail_smtpd_rejected_total", stage="AUTH",
             reason="auth failed") == 1
    assert sum(d("sandmail_tls_sessions_total", direction="in", version=v)
               for v in ("TLSv1.2", "TLSv1.3")) == 1


def test_http_answers_only_metrics(runsys):
    head, _ = http_get(runsys.metrics_port, "/other")
    assert head.startswith("HTTP/1.0 404")
    head, body = http_get(runsys.metrics_port, "/")
    assert head.startswith("HTTP/1.0 200")
    strict_parse(body)


def test_listen_loopback_only(tmp_path):
    """metrics_listen on a non-loopback address: refused at start;
    on 127.0.0.1 it is bound to that address only."""
    conf = tmp_path / "sandmail.conf"
    q = tmp_path / "q"
    (q / "lock").mkdir(parents=True)
    port = free_port()
    conf.write_text(f"queue {q}\nmetrics_listen 0.0.0.0:{port}\n")
    r = subprocess.run([prog("sandmail-metrics"), "-c", str(conf)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 100
    assert "not a loopback address" in r.stderr
    for bad in ("[::]", "10.0.0.1", "127.0.0.1x", "[::ffff:10.0.0.1]"):
        conf.write_text(f"queue {q}\nmetrics_listen {bad}:{port}\n")
        r = subprocess.run([prog("sandmail-metrics"), "-c", str(conf)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 100, bad
        assert "not a loopback address" in r.stderr, bad
    conf.write_text(f"queue {q}\n")
    r = subprocess.run([prog("sandmail-metrics"), "-c", str(conf)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 100 and "neither metrics_file" in r.stderr
    conf.write_text(f"queue {q}\nmetrics_listen 127.0.0.1:{port}\n")
    p = subprocess.Popen([prog("sandmail-metrics"), "-c", str(conf)],
                         stderr=subprocess.PIPE)
    try:
        wait_port(port)
        with open("/proc/net/tcp") as f:
            mine = [ln.split() for ln in f.read().splitlines()[1:]
                    if ln.split()[1].endswith(f":{port:04X}") and
                    ln.split()[3] == "0A"]
        assert [x[1] for x in mine] == [f"0100007F:{port:04X}"]
        strict_parse(http_get(port)[1])
    finally:
        p.terminate()
        p.wait(timeout=10)


def test_dashboard_names_real_metrics():
    """doc/grafana-dashboard.json asks only for families sandmail-metrics
    writes (-1: once, to stdout), the queue gauges included."""
    import json
    from conftest import ROOT
    from runutil import scratch
    tmp = scratch()     # nobody (user_metrics, when root) reads it
    try:
        q = os.path.join(tmp, "q")
        os.makedirs(os.path.join(q, "lock"), mode=0o755)
        with open(os.path.join(q, "lock", "send.stats"), "w") as f:
            f.write("todo 0\ninfo 2\nbounce 0\nhold 1\noldest 1\n"
                    "active_local 0\nactive_remote 1\ntime 5\n")
        conf = os.path.join(tmp, "sandmail.conf")
        with open(conf, "w") as f:
            f.write(f"queue {q}\n")
        r = subprocess.run([prog("sandmail-metrics"), "-1", "-c", conf],
                           capture_output=True, text=True, timeout=30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert r.returncode == 0, r.stderr
    strict_parse(r.stdout)
    have = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", r.stdout, re.M):
        have.add(name)
        if kind == "histogram":
            have |= {name + "_bucket", name + "_sum", name + "_count"}
    assert "sandmail_queue_messages" in have
    with open(os.path.join(ROOT, "doc", "grafana-dashboard.json")) as f:
        dash = json.load(f)
    want = set()
    for p in dash["panels"]:
        for t in p["targets"]:
            want |= set(re.findall(r"sandmail_[a-z_]+", t["expr"]))
    assert want and want <= have, want - have


def test_follows_rotation_and_truncation():
    """A log renamed away (svlogd's rotation) is read to its end and the
    new file from its start; a truncated one from its start; a line is
    counted once it ends, never twice."""
    from runutil import scratch
    tmp = scratch()
    port = free_port()
    log = os.path.join(tmp, "current")
    line = "prog=smtpd event=accept id=X from=a nrcpt=1\n"

    def write(path, text, mode="a"):
        with open(path, mode) as f:
            f.write(text)
        os.chmod(path, 0o644)
    try:
        os.makedirs(os.path.join(tmp, "q", "lock"))
        conf = os.path.join(tmp, "sandmail.conf")
        write(conf, f"queue {tmp}/q\nmetrics_log {log}\n"
              f"metrics_listen 127.0.0.1:{port}\n", "w")
        write(log, line * 2 + "prog=smtpd event=acc")   # half a line
        p = subprocess.Popen([prog("sandmail-metrics"), "-c", conf],
                             stderr=subprocess.PIPE)
        try:
            wait_port(port)

            def accepted():
                return val(strict_parse(http_get(port)[1]),
                           "sandmail_smtpd_accepted_total")
            assert accepted() == 2
            write(log, "ept id=Y\n")                # the line ends
            assert accepted() == 3
            os.rename(log, os.path.join(tmp, "@4000.s"))
            write(os.path.join(tmp, "@4000.s"), line)   # late, old file
            write(log, line * 4)
            assert accepted() == 8
            write(log, line, "w")                   # truncated: 1 line
            assert accepted() == 9
        finally:
            p.terminate()
            _, err = p.communicate(timeout=10)
        # a clean stop: no sanitizer report (SANITIZE=1 builds)
        assert p.returncode == 0, err
        assert b"Sanitizer" not in err, err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
