"""sandmail-send with fake lspawn/rspawn/resolve: routing, expansion,
results, retries, reports (sendutil.py has the harness)."""
import threading

import os
import shutil
import subprocess
import tempfile

import sendutil as su
from conftest import prog, wait_for


def start(procs, tmp_path, lpolicy=None, rpolicy=None, answers=None,
          tables=None, tables_dir=None, **conf):
    conf = su.setup(tmp_path, tables if tables is not None else su.TABLES,
                    tables_dir, **conf)
    s = su.Send(procs, conf, lpolicy, rpolicy, answers).start()
    return conf, s


def empty(conf):
    return all(not su.queued(conf, d) for d in
               ("todo", "info", "local", "remote", "bounce", "mess"))


def test_local_and_remote(procs, tmp_path):
    conf, s = start(procs, tmp_path)
    mid = su.inject(conf, "sender@remote.example",
                    ["alice@test.example", "carol@virt.example",
                     "x@remote.example", "y@remote.example",
                     "z@other.example"])
    wait_for(lambda: empty(conf), what="queue empty")
    loc = {j["rcpt"]: j for j in s.local_done()}
    assert set(loc) == {"alice@test.example", "carol@virt.example"}
    assert loc["alice@test.example"]["dest"] == "/home/alice/Maildir/"
    assert loc["alice@test.example"]["uid"] == 1001
    assert loc["alice@test.example"]["gid"] == 1001
    assert loc["carol@virt.example"]["dest"] == \
        "/var/vmail/virt.example/carol/"
    assert loc["alice@test.example"]["qid"] == mid
    assert loc["alice@test.example"]["sender"] == "sender@remote.example"
    assert b"body of " + mid.encode() in loc["alice@test.example"]["data"]
    byrcpt = {tuple(r[0] for r in j["rcpts"]): j for j in s.rjobs()}
    # one job per domain: both remote.example recipients together
    assert set(byrcpt) == {("x@remote.example", "y@remote.example"),
                           ("z@other.example",)}
    j = byrcpt[("x@remote.example", "y@remote.example")]
    assert j["hosts"] == [{"name": "mx.remote.example", "pref": 10,
                           "port": 0, "addrs": ["127.0.0.1"],
                           "dane": "N", "tlsa": [], "mx": "I",
                           "tlsa_name": ""}]
    assert j["tls"] == "" and j["sender"] == "sender@remote.example"
    assert b"body of " + mid.encode() in j["data"]
    assert sorted(s.resolve[0].asked) == ["other.example", "remote.example"]
    assert su.reports(s) == []


def test_aliases_extensions(procs, tmp_path):
    conf, s = start(procs, tmp_path)
    su.inject(conf, "s@remote.example",
              ["all@test.example", "alice-news@test.example",
               "eve@test.example", "prog@test.example",
               "Alice+x@TEST.example"])
    wait_for(lambda: empty(conf), what="queue empty")
    got = sorted((j["rcpt"], j["dest"]) for j in s.local_done())
    # all -> team -> alice, bob; dave remote; eve -> eve's box + bob (once)
    assert got == [
        ("Alice+x@TEST.example", "/home/alice/Maildir/"),
        ("alice-news@test.example", "/home/alice/Maildir/"),
        ("alice@test.example", "/home/alice/Maildir/"),
        ("bob@test.example", "/home/bob/Maildir/"),
        ("eve@test.example", "/home/eve/Maildir/"),
        ("prog@test.example", "|/usr/bin/true"),
    ]
    assert [r for _, r in s.remote_done()] == ["dave@remote.example"]
    assert su.reports(s) == []


def test_dane_state_goes_from_resolve_to_rspawn(procs, tmp_path):
    """send copies each host's DANE state and TLSA records (RFC 7672)
    from resolve's answer into the job untouched, host by host."""
    rec = "3 1 1 " + "ab" * 32
    answers = {"remote.example": ("K", "", [
        ("mx1.remote.example", 10, 0, ["127.0.0.1"], "S", [rec]),
        ("mx2.remote.example", 20, 0, ["127.0.0.2"], "B", []),
        ("mx3.remote.example", 30, 0, ["127.0.0.3"], "U", [])])}
    conf, s = start(procs, tmp_path, answers=answers)
    su.inject(conf, "s@test.example", ["x@remote.example"])
    wait_for(lambda: empty(conf), what="queue empty")
    (j,) = s.rjobs()
    assert [(h["name"], h["dane"], h["tlsa"]) for h in j["hosts"]] == [
        ("mx1.remote.example", "S", [rec]),
        ("mx2.remote.example", "B", []),
        ("mx3.remote.example", "U", [])]


def test_routes_tls_auth(procs, tmp_path):
    tables = dict(su.TABLES)
    tables["routes"] = ("routed.example [127.0.0.1]:2525\n"
                        ".sub.example relay.example:587\n")
    tables["relay_auth"] = "Relay.example:587 u:p\n"
    tables["tls_policy"] = "routed.example verify\n"
    conf, s = start(procs, tmp_path, tables=tables)
    su.inject(conf, "s@test.example",
              ["a@routed.example", "b@x.sub.example"])
    wait_for(lambda: empty(conf), what="queue empty")
    jobs = {j["rcpts"][0][0]: j for j in s.rjobs()}
    a = jobs["a@routed.example"]
    assert a["hosts"] == [{"name": "127.0.0.1", "pref": 0, "port": 2525,
                           "addrs": ["127.0.0.1"], "dane": "N",
                           "tlsa": [], "mx": "R", "tlsa_name": ""}]
    assert a["tls"] == "verify" and a["auth_user"] == ""
    b = jobs["b@x.sub.example"]
    assert b["auth_user"] == "u" and b["auth_pass"] == "p"
    # no tls_policy entry: no policy in the job, rspawn applies remote_tls
    assert b["tls"] == ""
    assert b["hosts"][0]["port"] == 587
    assert s.resolve[0].asked == ["relay.example"]


def parse_report(body):
    hdrs, parts, _ = su.parse_dsn(body)
    return hdrs, parts, su.status_groups(parts[1])


def test_unknown_user_bounce_fields(procs, tmp_path):
    conf, s = start(procs, tmp_path)
    mid = su.inject(conf, "alice@test.example",
                    [("nosuch@test.example", 0, "rfc822;nosuch+40x@a"),
                     "bob@test.example"], envid="ENV+2B1", ret=2)
    wait_for(lambda: empty(conf) and su.reports(s), what="bounce")
    (to, body), = su.reports(s)
    assert to == "alice@test.example"
    hdrs, parts, groups = parse_report(body)
    assert hdrs["from"].startswith("MAILER-DAEMON@mx.test.example")
    assert hdrs["to"] == "alice@test.example"
    assert hdrs["subject"] == "Undelivered Mail Returned to Sender"
    assert hdrs["auto-submitted"] == "auto-replied"
    assert "multipart/report" in hdrs["content-type"]
    assert "report-type=delivery-status" in hdrs["content-type"]
    assert "text/plain" in parts[0]
    assert "<nosuch@test.example>: failed: 5.1.1 unknown user" in parts[0]
    assert "message/delivery-status" in parts[1]
    msg, rc = groups
    assert msg["Reporting-MTA"] == "dns; mx.test.example"
    assert msg["Original-Envelope-Id"] == "ENV+1"
    assert msg["X-Sandmail-Queue-ID"] == mid
    assert "Arrival-Date" in msg
    assert rc["Final-Recipient"] == "rfc822; nosuch@test.example"
    assert rc["Original-Recipient"] == "rfc822;nosuch@x@a"
    assert rc["Action"] == "failed"
    assert rc["Status"] == "5.1.1"
    assert rc["Diagnostic-Code"] == "x-unix; 5.1.1 unknown user"
    assert "Remote-MTA" not in rc
    assert "text/rfc822-headers" in parts[2]
    assert f"Subject: test {mid}" in parts[2]
    assert "body of" not in parts[2]
    # the report itself: null sender, ENV_BOUNCE, delivered to alice
    bj = [j for j in s.ljobs() if j["sender"] == ""][0]
    assert bj["dest"] == "/home/alice/Maildir/"


def test_remote_failure_full(procs, tmp_path):
    def rpol(j, r):
        if r.startswith("bad"):
            return ("X", "550 5.1.1 <bad@remote.example>: no such user")
        return ("K", "250 ok")
    conf, s = start(procs, tmp_path, rpolicy=rpol)
    mid = su.inject(conf, "alice@test.example",
                    ["bad@remote.example", "good@remote.example"], ret=1)
    wait_for(lambda: empty(conf) and su.reports(s), what="bounce")
    (to, body), = su.reports(s)
    hdrs, parts, groups = parse_report(body)
    rc = groups[1]
    assert len(groups) == 2
    assert rc["Final-Recipient"] == "rfc822; bad@remote.example"
    assert rc["Status"] == "5.1.1"
    assert rc["Remote-MTA"] == "dns; mx1.remote.example"
    assert rc["Diagnostic-Code"] == \
        "smtp; 550 5.1.1 <bad@remote.example>: no such user"
    assert "message/rfc822" in parts[2]
    assert f"body of {mid}" in parts[2]        # RET=FULL
    assert "no such user" in parts[0]


def test_retry_then_success(procs, tmp_path):
    seen = {}

    def lpol(j):
        seen[j["rcpt"]] = seen.get(j["rcpt"], 0) + 1
        if seen[j["rcpt"]] < 3:
            return ("Z", "4.2.2 mailbox full")
        return ("K", "ok")
    conf, s = start(procs, tmp_path, lpolicy=lpol)
    su.inject(conf, "x@remote.example", ["bob@test.example"])
    wait_for(lambda: empty(conf), timeout=30, what="queue empty")
    assert seen["bob@test.example"] == 3
    assert su.reports(s) == []
    assert s.logtext().count(b"event=deferred") == 2


def test_lifetime_expiry(procs, tmp_path):
    conf, s = start(procs, tmp_path,
                    rpolicy=lambda j, r: ("Z", "451 4.3.0 try later"),
                    queue_lifetime=3)
    su.inject(conf, "alice@test.example", ["gone@remote.example"])
    wait_for(lambda: empty(conf) and su.reports(s), timeout=30,
             what="expiry bounce")
    (to, body), = su.reports(s)
    _, parts, groups = parse_report(body)
    rc = groups[1]
    assert rc["Action"] == "failed"
    assert rc["Status"] == "4.4.7"
    assert "delivery time expired" in rc["Diagnostic-Code"]
    assert "451 4.3.0 try later" in rc["Diagnostic-Code"]
    assert len(s.rjobs()) >= 2


def test_notify_success_never(procs, tmp_path):
    conf, s = start(procs, tmp_path,
                    lpolicy=lambda j: ("X", "5.2.1 disabled")
                    if j["rcpt"].startswith("bob") else ("K", "ok"))
    su.inject(conf, "x@remote.example",
              [("alice@test.example", 1, ""),      # SUCCESS
               ("bob@test.example", 8, ""),        # NEVER
               ("nosuch@test.example", 8, ""),     # NEVER, unknown
               ("nosuch2@test.example", 1, "")])   # SUCCESS only
    wait_for(lambda: empty(conf) and su.reports(s), what="report")
    wait_for(lambda: empty(conf), what="queue empty")
    (to, body), = su.reports(s)
    assert to == "x@remote.example"
    hdrs, parts, groups = parse_report(body)
    assert hdrs["subject"] == "Successful Mail Delivery Report"
    assert len(groups) == 2
    assert groups[1]["Action"] == "delivered"
    assert groups[1]["Status"] == "2.0.0"
    assert groups[1]["Final-Recipient"] == "rfc822; alice@test.example"
    assert "bob" not in body.split("--")[0] or True
    assert "bob@test.example" not in parts[1]
    assert "nosuch" not in body


def test_notify_delay(procs, tmp_path):
    n = {"k": 0}

    def rpol(j, r):
        n["k"] += 1
        return ("Z", "421 4.7.0 slow down") if n["k"] < 3 else ("K", "250")
    conf, s = start(procs, tmp_path, rpolicy=rpol, delay_warning=1)
    su.inject(conf, "alice@test.example", [("r@remote.example", 6, "")])
    wait_for(lambda: empty(conf) and su.reports(s), timeout=30,
             what="delay notice")
    (to, body), = su.reports(s)
    hdrs, parts, groups = parse_report(body)
    assert hdrs["subject"] == "Delayed Mail (still being retried)"
    assert groups[1]["Action"] == "delayed"
    assert groups[1]["Status"] == "4.7.0"
    assert "Will-Retry-Until" in groups[1]
    assert su.reports(s)[0][0] == "alice@test.example"
    assert ("r@remote.example") in [r for _, r in s.remote_done()]


def test_null_sender_double_bounce(procs, tmp_path):
    conf, s = start(procs, tmp_path,
                    rpolicy=lambda j, r: ("X", "550 5.1.1 no"))
    su.inject(conf, "", ["who@remote.example"], flags=4)
    wait_for(lambda: empty(conf) and su.reports(s), what="double bounce")
    (to, body), = su.reports(s)
    assert to == "postmaster@mx.test.example"
    # a double bounce that fails is dropped
    conf2, s2 = start(procs, tmp_path / "b",
                      lpolicy=lambda j: ("X", "5.2.2 full"))
    su.inject(conf2, "", ["postmaster@mx.test.example"], flags=4)
    wait_for(lambda: b"double_bounce_dropped" in s2.logtext(),
             what="dropped")
    wait_for(lambda: empty(conf2), what="queue empty")


def test_flush_makes_deferred_due(procs, tmp_path):
    n = {"k": 0}

    def rpol(j, r):
        n["k"] += 1
        return ("Z", "450 later") if n["k"] == 1 else ("K", "250")
    conf, s = start(procs, tmp_path, rpolicy=rpol, retry_first="1h",
                    retry_max="4h")
    su.inject(conf, "alice@test.example", ["r@remote.example"])
    wait_for(lambda: b"event=deferred" in s.logtext(), what="deferral")
    assert not empty(conf)
    su.flush(conf, "remote.example")
    wait_for(lambda: empty(conf), timeout=15, what="flushed delivery")
    assert n["k"] == 2


def test_signals(procs, tmp_path, request):
    """HUP reopens the tables, ALRM runs the queue now, TERM waits for the
    deliveries in flight and exits 0."""
    n = {"k": 0}
    release = {"go": False}

    def rpol(j, r):
        n["k"] += 1
        return ("Z", "450 later") if n["k"] == 1 else ("K", "250")
    # tables where send, no longer root, may open them again
    td = tempfile.mkdtemp(prefix="sendtbl")
    request.addfinalizer(lambda: shutil.rmtree(td, ignore_errors=True))
    os.chmod(td, 0o755)
    conf, s = start(procs, tmp_path, rpolicy=rpol, retry_first="1h",
                    retry_max="4h", tables_dir=td)
    # HUP: a new user appears in localusers
    su.inject(conf, "alice@test.example", ["zed@test.example"])
    wait_for(lambda: su.reports(s), what="unknown-user bounce")
    with open(os.path.join(td, "localusers"), "a") as f:
        f.write("zed 1005:1005:/home/zed\n")
    subprocess.run([prog("sandmail-cdb"), "-d", td, "localusers"],
                   check=True)
    os.chmod(os.path.join(td, "localusers.cdb"), 0o644)
    s.p.send_signal(1)
    wait_for(lambda: b"event=reload" in s.logtext(), what="reload")
    su.inject(conf, "s@remote.example", ["zed@test.example"])
    wait_for(lambda: [j for j in s.local_done()
                      if j["rcpt"] == "zed@test.example"], what="zed")
    # ALRM: a deferred delivery is tried now
    su.inject(conf, "alice@test.example", ["r@remote.example"])
    wait_for(lambda: b"event=deferred" in s.logtext(), what="deferral")
    s.p.send_signal(14)
    wait_for(lambda: empty(conf), timeout=15, what="delivery after ALRM")
    assert n["k"] == 2
    # TERM: a job in flight is waited for (here: answered late, then exit)
    s.lspawn[0].policy = lambda j: None if not release["go"] else ("K", "")
    su.inject(conf, "s@remote.example", ["bob@test.example"])
    wait_for(lambda: [j for j in s.ljobs() if j["rcpt"] ==
                      "bob@test.example"], what="job in flight")
    s.p.send_signal(15)
    wait_for(lambda: b"event=stopping" in s.logtext(), what="stopping")
    assert s.p.poll() is None
    # term_wait (5 s in the test conf) bounds the wait
    assert s.p.wait(20) == 0
    assert b"event=stop" in s.logtext()


def test_owner_alias(procs, tmp_path):
    """list has owner-list: its deliveries go out with that sender and its
    failures are reported to it (then expanded: bob), not to the sender."""
    conf, s = start(procs, tmp_path)
    su.inject(conf, "x@remote.example", ["list@test.example"])
    wait_for(lambda: empty(conf) and su.reports(s), what="owner report")
    wait_for(lambda: empty(conf), what="queue empty")
    alice = [j for j in s.local_done() if j["rcpt"] == "alice@test.example"]
    assert alice[0]["sender"] == "owner-list@test.example"
    ext = [j for j in s.rjobs() if j["rcpts"][0][0] == "ext@remote.example"]
    assert ext[0]["sender"] == "owner-list@test.example"
    (to, body), = su.reports(s)
    assert to == "bob@test.example"
    hdrs, parts, groups = parse_report(body)
    assert hdrs["to"] == "owner-list@test.example"
    assert groups[1]["Final-Recipient"] == "rfc822; nosuch@test.example"
    # nothing went back to the message's sender
    assert not [j for j in s.rjobs() if j["sender"] == "" and
                j["rcpts"][0][0] == "x@remote.example"]


def test_address_literal(procs, tmp_path):
    conf, s = start(procs, tmp_path)
    su.inject(conf, "alice@test.example", ["u@[127.0.0.1]", "v@[IPv6:::1]"])
    wait_for(lambda: empty(conf), what="queue empty")
    hosts = sorted(j["hosts"][0]["addrs"][0] for j in s.rjobs())
    assert hosts == ["127.0.0.1", "::1"]
    assert s.resolve[0].asked == []
