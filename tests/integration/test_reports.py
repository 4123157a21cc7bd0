"""What the delivery reports say (issue 19, items 3, 4 and 9): the RFC
3463 status of resolve's failures (null MX 5.1.10, NXDOMAIN 5.1.2),
"relayed" after a hand-off to a next hop without DSN and no report of
ours when the next hop took the DSN request (RFC 3461 5.2.2, RFC 3464
2.3.3), and success reports that do not show maildir file names."""
import smtplib

import pytest

import sendutil as su
from conftest import wait_for
from remoteutil import SMTPServer
from test_remote import MSG
from test_remote_e2e import make_system
from test_send import empty, start

NOTIFY_SUCCESS = 1


# --- with send's fake peers (sendutil) ---

def test_local_success_report_names_no_file(procs, tmp_path):
    conf, s = start(procs, tmp_path, lpolicy=lambda j: (
        "K", "delivered: new/1795410122.M607427P18199Q1R90da83.vm"))
    su.inject(conf, "x@remote.example",
              [("alice@test.example", NOTIFY_SUCCESS, "")])
    wait_for(lambda: empty(conf) and su.reports(s), what="report")
    (to, body), = su.reports(s)
    _, parts, _ = su.parse_dsn(body)
    groups = su.status_groups(parts[1])
    assert groups[1]["Action"] == "delivered"
    assert groups[1]["Status"] == "2.0.0"
    assert "new/" not in body and ".vm" not in body
    assert "delivered: delivered" not in body
    assert "<alice@test.example>: delivered: 2.0.0 stored in the mailbox" \
        in parts[0]
    assert "Diagnostic-Code" not in groups[1]
    # the log still names the file, for the administrator
    assert b"new/1795410122.M607427P18199Q1R90da83.vm" in s.logtext()


def test_local_failures_carry_codes(procs, tmp_path):
    # local's own reasons carry their code; a program's words get X.3.0
    texts = {"alice": "5.4.6 mail loop: a Delivered-To line names this "
                      "recipient",
             "bob": "no such mailbox, says the program"}
    conf, s = start(procs, tmp_path, lpolicy=lambda j: (
        "X", texts[j["rcpt"].split("@")[0]]))
    su.inject(conf, "x@remote.example",
              ["alice@test.example", "bob@test.example"])
    wait_for(lambda: empty(conf) and su.reports(s), what="bounce")
    (to, body), = su.reports(s)
    _, parts, _ = su.parse_dsn(body)
    st = {g["Final-Recipient"]: g["Status"]
          for g in su.status_groups(parts[1])[1:]}
    assert st == {"rfc822; alice@test.example": "5.4.6",
                  "rfc822; bob@test.example": "5.3.0"}


def test_relayed_without_dsn_reported_as_relayed(procs, tmp_path):
    conf, s = start(procs, tmp_path,
                    rpolicy=lambda j, r: ("K", "mx[192.0.2.1] said: 250 "
                                          "2.0.0 queued"))
    su.inject(conf, "alice@test.example",
              [("r@remote.example", NOTIFY_SUCCESS, "")])
    wait_for(lambda: empty(conf) and su.reports(s), what="report")
    (to, body), = su.reports(s)
    assert to == "alice@test.example"
    _, parts, _ = su.parse_dsn(body)
    groups = su.status_groups(parts[1])
    assert groups[1]["Action"] == "relayed"
    assert groups[1]["Status"] == "2.0.0"


def test_dsn_passed_on_no_report_of_ours(procs, tmp_path):
    conf, s = start(procs, tmp_path,
                    rpolicy=lambda j, r: ("P", "mx[192.0.2.1] said: 250 "
                                          "2.0.0 queued"))
    su.inject(conf, "alice@test.example",
              [("r@remote.example", NOTIFY_SUCCESS, "")])
    wait_for(lambda: empty(conf), what="queue empty")
    # a report would have been queued before the message left the queue
    assert [j["rcpts"][0][0] for j in s.rjobs()] == ["r@remote.example"]
    assert su.reports(s) == []
    assert b"event=delivered" in s.logtext()


# --- the whole system: resolve's answers, real rspawn, our MX servers ---

pytestmark_e2e = pytest.mark.usefixtures("dnsmasq_installed")


@pytest.fixture
def system(procs, tmp_path):
    s = make_system(procs, tmp_path)
    s.dest = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    s.sink = SMTPServer("127.0.0.3", s.mx_port, "mx.sink.test")
    yield s
    procs.stop(s.start_proc)
    s.start_logfile.close()
    s.dest.close()
    s.sink.close()


def submit(s, rcpts, sender, rcpt_options=()):
    with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
        c.ehlo("client.test")
        c.mail(sender)
        for r in rcpts:
            code, msg = c.rcpt(r, list(rcpt_options))
            assert code == 250, (r, code, msg)
        code, _ = c.data(MSG.replace(b"\n", b"\r\n"))
        assert code == 250


def reports_to(srv):
    return [t for t in srv.done() if t.mail.startswith("MAIL FROM:<>")]


def groups_of(data):
    _, parts, _ = su.parse_dsn(data.replace(b"\r\n", b"\n").decode())
    return su.status_groups(parts[1])


def queue_empty(s):
    return empty(s.conf)


@pytestmark_e2e
def test_resolve_failures_get_their_status_codes(system):
    submit(system, ["u@nullmx.test", "v@nosuch.test"], "back@sink.test")
    t = wait_for(lambda: reports_to(system.sink), timeout=60,
                 what="bounce")[0]
    st = {g["Final-Recipient"]: g for g in groups_of(t.data)[1:]}
    assert st["rfc822; u@nullmx.test"]["Status"] == "5.1.10"
    assert st["rfc822; v@nosuch.test"]["Status"] == "5.1.2"
    assert "accepts no mail" in st["rfc822; u@nullmx.test"][
        "Diagnostic-Code"]


@pytestmark_e2e
def test_next_hop_without_dsn_relayed(system):
    system.dest.ehlo = ["PIPELINING", "8BITMIME"]       # no DSN
    submit(system, ["a@dest.test"], "back@sink.test",
           ["NOTIFY=SUCCESS"])
    t = wait_for(lambda: reports_to(system.sink), timeout=60,
                 what="success report")[0]
    g = groups_of(t.data)[1]
    assert g["Action"] == "relayed"
    assert g["Status"] == "2.0.0"
    assert g["Remote-MTA"] == "dns; mx.dest.test[127.0.0.2]"
    assert "NOTIFY" not in system.dest.done()[0].rcpts[0]


@pytestmark_e2e
def test_next_hop_with_dsn_gets_the_request_we_send_nothing(system):
    submit(system, ["a@dest.test"], "back@sink.test",
           ["NOTIFY=SUCCESS"])
    t = wait_for(lambda: system.dest.done(), timeout=60,
                 what="delivery")[0]
    assert "NOTIFY=SUCCESS" in t.rcpts[0]
    # our report, if any, would be queued before the message leaves
    wait_for(lambda: queue_empty(system), timeout=60, what="queue empty")
    assert reports_to(system.sink) == []
    assert reports_to(system.dest) == []
