"""sandmail-metrics in the installed layout (issue 24): started by its
runit service as root, it runs as user_metrics (nobody), follows the
services' svlogd logs, reads send's lock/send.stats (written by send as
sandmails), writes its textfile and answers on loopback; its counters
move with the mail a test sends: local deliveries, a remote bounce, a
refusal at RCPT, a TLS session in."""
import os

from conftest import wait_for
from crashutil import files_in
from test_metrics import http_get, strict_parse, val

MSG = "From: carol@example.org\r\nSubject: metrics {n}\r\n\r\nhi\r\n"


def scrape(inst):
    head, body = http_get(inst.port["metrics"])
    assert head.startswith("HTTP/1.0 200 OK"), head
    return strict_parse(body)


def test_installed_metrics(installed):
    inst = installed
    inst.wait_up("sandmail-metrics", port="metrics")
    # as nobody, sandboxed
    pid = inst.pids("sandmail-metrics")[0]
    with open(f"/proc/{pid}/status") as f:
        st = f.read()
    uid = [ln.split()[1:] for ln in st.splitlines()
           if ln.startswith("Uid:")][0]
    assert set(uid) == {str(inst.ids["nobody"][0])}
    assert "Seccomp:\t2" in st
    # the fixture is shared: mail of an earlier test (the crash test's
    # thousands) may still be being delivered, and would be counted
    # here; start when no message waits to be split or delivered locally
    # (mail deferred to remote hosts may stay: it is not counted below)
    q = inst.path("/var/spool/sandmail")
    wait_for(lambda: not any(files_in(os.path.join(q, d))
                             for d in ("todo", "local", "bounce")),
             timeout=300, what="no local delivery left before the baseline")
    before = scrape(inst)
    n = 3
    with inst.smtp() as c:
        c.starttls(context=inst.tls_context())
        c.ehlo("client.test")
        for i in range(n):
            c.sendmail("", ["alice@localhost"], MSG.format(n=i))
        c.sendmail("", ["nobody-here@bounce.test"], MSG.format(n="b"))
        c.mail("")
        code, _ = c.rcpt("no-such-user@localhost")
        c.rset()
    assert code == 550

    def moved():
        m = scrape(inst)

        def d(name, **lab):
            return val(m, name, **lab) - val(before, name, **lab)
        # every counter checked below: each service's line reaches its
        # own svlogd log in its own time, smtpd's may come after send's
        return (d("sandmail_deliveries_total", kind="local",
                  status="sent") >= n and
                d("sandmail_deliveries_total", kind="remote",
                  status="bounced") >= 1 and
                d("sandmail_smtpd_accepted_total") >= n + 1 and
                d("sandmail_queued_total") >= n + 1 and
                d("sandmail_smtpd_rejected_total", stage="RCPT",
                  reason="unknown user") >= 1 and
                d("sandmail_tls_sessions_total", direction="in",
                  version="TLSv1.3") >= 1) and d
    d = wait_for(moved, timeout=60, what="the deliveries counted")
    assert d("sandmail_deliveries_total", kind="local", status="sent") == n
    assert d("sandmail_deliveries_total", kind="remote",
             status="bounced") == 1
    assert d("sandmail_smtpd_accepted_total") == n + 1
    assert d("sandmail_queued_total") == n + 1
    assert d("sandmail_smtpd_rejected_total", stage="RCPT",
             reason="unknown user") == 1
    assert d("sandmail_tls_sessions_total", direction="in",
             version="TLSv1.3") == 1

    def gauges():
        g = scrape(inst)
        return "sandmail_send_stats_age_seconds" in {k[0] for k in g} and \
            val(g, "sandmail_send_stats_age_seconds") < 30 and g
    g = wait_for(gauges, timeout=30, what="send's stats")
    assert ("sandmail_queue_messages", frozenset({("queue", "info")})) in g
    # the textfile, as node_exporter would read it
    path = inst.path("/var/spool/sandmail-metrics/sandmail.prom")
    # (written every metrics_interval: the one there now may be from
    # before the deliveries just counted)

    def textfile():
        if not os.path.exists(path):
            return None
        t = strict_parse(open(path).read())
        return val(t, "sandmail_deliveries_total", kind="local",
                   status="sent") >= n and t
    wait_for(textfile, timeout=30, what="the textfile")
    assert os.stat(path).st_uid == inst.ids["nobody"][0]
