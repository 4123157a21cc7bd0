"""sandmail-smtpd's reusable session workers: on port 25 (no AUTH) a
forked worker serves up to smtpd_max_use sessions, one after another,
taking each connection from the listener over its socket pair.  These
tests read the pid= and use= of the connect lines to see which worker
served which session."""
import os
import re
import signal
import smtplib
import socket
import subprocess
import time

from conftest import alive, proc_status, prog, wait_for
import queueutil
import smtpdutil
import tlsutil

CONNECT = re.compile(r"event=connect ip=\S+ port=(\d+) .* pid=(\d+) use=(\d+)")


def connects(srv):
    """[(pid, use)] of every connect line so far, in order."""
    return [(int(m.group(2)), int(m.group(3)))
            for m in CONNECT.finditer(srv.logtext())]


def send_one(srv, subject="reuse"):
    c = srv.client()
    assert c.code("EHLO client.test") == 250
    assert c.code("MAIL FROM:<a@b.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    c.send(f"Subject: {subject}\r\n\r\nhello\r\n.\r\n")
    code = c.reply()[0]
    c.code("QUIT")
    c.close()
    return code


def sent(srv):
    """send_one, False when refused or cut (a place not yet freed)."""
    try:
        return send_one(srv) == 250
    except (AssertionError, EOFError, OSError):
        return False


def settled(srv, lost=0):
    """Every session so far has ended and its worker waits (or is gone)."""
    smtpdutil.wait_idle(srv.proc.pid, srv.log, lost)



def test_same_worker_serves_successive_connections(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path)
    settled(srv)
    for i in range(4):
        assert send_one(srv, f"n{i}") == 250
        settled(srv)
    seen = connects(srv)
    assert len(seen) == 5                       # the probe, then 4
    pids = {p for p, _ in seen}
    assert len(pids) == 1, seen
    assert [u for _, u in seen] == [1, 2, 3, 4, 5]
    assert srv.count() == 4
    # the worker keeps its sandbox between sessions
    st = proc_status(seen[0][0])
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"


def test_reconnect_on_the_221_finds_the_worker_idle(tmp_path, procs):
    """A client that connects again the moment it reads the 221 (as
    smtp-source and batching MTAs do) is served by the same worker: the
    worker says it is idle before its 221 goes out, so the listener does
    not fork another for the new connection."""
    srv = smtpdutil.Smtpd(procs, tmp_path)
    settled(srv)
    for _ in range(60):		# under smtpd_max_use (100)
        c = srv.client()
        assert c.code("EHLO client.test") == 250
        assert c.code("QUIT") == 221
        c.close()
    settled(srv)
    seen = connects(srv)
    assert len(seen) == 61
    assert len({p for p, _ in seen}) == 1, seen


def test_a_burst_of_reconnections_forks_no_more_workers_than_sessions(
        tmp_path, procs):
    """smtp-source's 30 sessions, each connecting again the moment it
    reads the 221.  The listener takes new connections in batches; a
    worker that said idle while it was busy with one is read before it
    forks for the next, so there are never more workers than sessions
    at once (it forked 64-111 for 50 sessions before).  Nor is one
    refused at max_per_ip while its last session's worker has already
    said idle (smtp-source stops at a 421 banner)."""
    srv = smtpdutil.Smtpd(procs, tmp_path, max_per_ip=30)
    settled(srv)
    subprocess.run(["smtp-source", "-s", "30", "-m", "300",
                    "-f", "a@b.test", "-t", "alice@example.test",
                    f"127.0.0.1:{srv.port}"], check=True, timeout=120,
                   stdout=subprocess.DEVNULL)
    settled(srv)
    seen = connects(srv)
    assert len(seen) == 301 and srv.count() == 300
    assert len({p for p, _ in seen}) <= 30, seen


def test_max_use_starts_a_new_worker(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path, smtpd_max_use=2)
    settled(srv)
    for i in range(3):
        assert send_one(srv, f"n{i}") == 250
        settled(srv)
    seen = connects(srv)
    assert [u for _, u in seen] == [1, 2, 1, 2], seen
    assert seen[0][0] == seen[1][0] != seen[2][0] == seen[3][0]
    # the first worker went after its second session
    wait_for(lambda: not alive(seen[0][0]), what="the used-up worker")


def test_max_use_1_is_a_process_per_connection(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path, smtpd_max_use=1)
    settled(srv)
    for i in range(2):
        assert send_one(srv, f"n{i}") == 250
        settled(srv)
    seen = connects(srv)
    assert len({p for p, _ in seen}) == 3 and {u for _, u in seen} == {1}
    wait_for(lambda: not smtpdutil.children(srv.proc.pid),
             what="no worker left")


def test_idle_timeout_ends_a_worker(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path, smtpd_idle_worker=1)
    settled(srv)
    first = connects(srv)[0][0]
    wait_for(lambda: not alive(first), what="the idle worker to exit")
    assert send_one(srv) == 250
    last = connects(srv)[-1]
    assert last[0] != first and last[1] == 1


def connect_from(srv, src):
    """A client from address src, and its first reply."""
    c = smtpdutil.Client.__new__(smtpdutil.Client)
    c.s = socket.socket()
    c.s.settimeout(20)
    c.s.bind((src, 0))
    c.s.connect(("127.0.0.1", srv.port))
    c.buf = b""
    return c, c.reply()


def test_per_ip_limit_with_reused_workers(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path, max_per_ip=1, max_connections=5)
    settled(srv)
    a, (code, _) = connect_from(srv, "127.0.0.1")
    assert code == 220
    b, (code, lines) = connect_from(srv, "127.0.0.1")
    assert code == 421 and lines[0].startswith("421 4.7.0"), lines
    b.close()
    c, (code, _) = connect_from(srv, "127.0.0.2")
    assert code == 220
    # a had the probe's worker: a reused worker still counts its client
    assert connects(srv)[1][0] == connects(srv)[0][0]
    a.close()
    c.close()
    settled(srv)
    d, (code, _) = connect_from(srv, "127.0.0.1")
    assert code == 220
    d.close()
    assert "reason=max_per_ip" in srv.logtext()


def test_killed_busy_worker_frees_its_place(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path, max_per_ip=1)
    settled(srv)
    c = srv.client()
    assert c.code("EHLO client.test") == 250
    pid = connects(srv)[-1][0]
    os.kill(pid, signal.SIGKILL)
    assert c.closed()
    # the listener reaps it; its client address counts no more
    wait_for(lambda: sent(srv), what="a session after the kill")
    settled(srv, lost=1)
    for i in range(3):
        assert send_one(srv, f"after{i}") == 250
        settled(srv, lost=1)
    assert pid not in [p for p, _ in connects(srv)[-3:]]


def test_queue_restart_gives_no_stuck_451(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path)
    settled(srv)
    assert send_one(srv) == 250
    settled(srv)
    pid = connects(srv)[-1][0]
    procs.stop(srv.queue)
    srv.queue = queueutil.start_service(procs, srv.conf, srv.qlog)
    # a worker keeps its queue connection for its next session, but it
    # watches it while idle and polls it before a MAIL takes it: the
    # stopped queue's EOF closes that connection (not the worker), and
    # the next MAIL asks for a new one, never a 451
    for i in range(3):
        assert send_one(srv, f"restarted{i}") == 250
        settled(srv)
    assert srv.count() == 4
    assert {p for p, _ in connects(srv)[-3:]} == {pid}


def relay_code(srv):
    c = srv.client()
    c.code("EHLO client.test")
    c.code("MAIL FROM:<a@b.test>")
    code = c.code("RCPT TO:<x@foreign.test>")
    c.code("QUIT")
    c.close()
    return code


def test_table_change_reaches_the_next_connection(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path)
    settled(srv)
    assert relay_code(srv) == 554
    settled(srv)
    old = connects(srv)[-1][0]
    with open(os.path.join(srv.dir, "relayclients"), "w") as f:
        f.write("127.0.0.1 relay\n")
    subprocess.run([prog("sandmail-cdb"), "-d", srv.dir, "relayclients"],
                   check=True)
    wait_for(lambda: "event=reload why=changed" in srv.logtext(),
             what="the reload")
    assert relay_code(srv) == 250           # no HUP, the very next one
    assert connects(srv)[-1][0] != old
    wait_for(lambda: not alive(old), what="the old worker to go")


def test_no_state_leaks_into_the_next_session(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path,
                          tables={"relayclients": "127.0.0.1 relay\n"})
    settled(srv)
    c = srv.client()
    assert c.code("EHLO first.test") == 250
    assert c.code("MAIL FROM:<leak@b.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    c.close()                                   # abrupt: no QUIT
    settled(srv)
    c = srv.client()
    assert c.code("MAIL FROM:<a@b.test>") == 503     # not greeted yet
    assert c.code("HELO second.test") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 503
    assert c.code("MAIL FROM:<a@b.test>") == 250
    assert c.code("RCPT TO:<bob@example.test>") == 250
    assert c.code("DATA") == 354
    c.send("Subject: clean\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250
    c.code("QUIT")
    c.close()
    seen = connects(srv)
    assert seen[-1][0] == seen[-2][0] and seen[-1][1] == seen[-2][1] + 1
    (env, body), = srv.messages().values()
    assert env["helo"] == "second.test"
    assert env["sender"] == "a@b.test"
    assert [r[0] for r in env["rcpts"]] == ["bob@example.test"]
    assert env["proto"] == "SMTP"               # HELO, not the EHLO before


def test_tls_state_not_carried_over(tmp_path, procs):
    cert, key = tlsutil.make_cert(str(tmp_path))
    srv = smtpdutil.Smtpd(procs, tmp_path, tls_cert=cert, tls_key=key)
    settled(srv)
    ctx = tlsutil.client_context(cert)
    s = smtplib.SMTP("127.0.0.1", srv.port, timeout=20)
    s.ehlo("tls.test")
    s.starttls(context=ctx)
    assert s.ehlo("tls.test")[0] == 250
    assert s.docmd("MAIL FROM:<a@b.test>")[0] == 250
    s.close()                                   # abrupt, inside TLS
    settled(srv)
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=20) as s:
        s.ehlo("plain.test")
        assert s.has_extn("starttls")           # not "TLS already active"
        s.sendmail("a@b.test", ["alice@example.test"],
                   b"Subject: plain\r\n\r\nx\r\n")
    seen = connects(srv)
    assert seen[-1][0] == seen[-2][0], seen
    (env, body), = srv.messages().values()
    assert env["helo"] == "plain.test"
    assert env["proto"] == "ESMTP"              # not ESMTPS


def test_submission_sessions_never_reused(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path, listen=False)
    srv.start(extra=["-m", "submission"])
    settled(srv)
    for _ in range(3):
        c = srv.client()
        assert c.code("EHLO client.test") == 250
        c.code("QUIT")
        c.close()
        settled(srv)
    seen = connects(srv)
    assert len({p for p, _ in seen}) == 4 and {u for _, u in seen} == {1}
    assert "mode=submission" in srv.logtext()
    wait_for(lambda: not smtpdutil.children(srv.proc.pid),
             what="every submission process gone")


def test_sigterm_with_idle_workers_exits(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path, smtpd_idle_worker=600)
    settled(srv)
    assert send_one(srv) == 250
    settled(srv)
    workers = smtpdutil.children(srv.proc.pid)
    assert workers
    os.kill(srv.proc.pid, signal.SIGTERM)
    assert srv.proc.wait(20) == 0
    # long before their idle timeout: the listener closed their pairs
    wait_for(lambda: not any(alive(p) for p in workers),
             what="the idle workers to exit")


def queue_sockets(srv):
    """The socket inodes the queue service holds (its listening socket and
    a connection per client)."""
    d = f"/proc/{srv.queue.pid}/fd"
    out = set()
    for fd in os.listdir(d):
        try:
            t = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        if t.startswith("socket:"):
            out.add(t)
    return out


def test_worker_keeps_its_queue_connection_for_the_next_session(tmp_path,
                                                                  procs):
    """A worker keeps the queue connection of a session that queued mail
    for the next session it serves (a connection, an accept and a greeting
    fewer per message): seen from the queue service, the next session's
    MAIL finds the same connection, not a new one.  It goes after a
    second without a session or a second of a session's silence before
    its MAIL, so a slow machine may make a new one: any two successive
    sessions sharing it is enough."""
    srv = smtpdutil.Smtpd(procs, tmp_path)
    settled(srv)
    base = queue_sockets(srv)
    seen = []
    for i in range(6):
        c = srv.client()
        assert c.code("EHLO client.test") == 250
        assert c.code("MAIL FROM:<a@b.test>") == 250
        seen.append(queue_sockets(srv) - base)
        assert c.code("RCPT TO:<alice@example.test>") == 250
        assert c.code("DATA") == 354
        c.send(f"Subject: k{i}\r\n\r\nhello\r\n.\r\n")
        assert c.reply()[0] == 250
        c.code("QUIT")
        c.close()
        settled(srv)
    assert len({p for p, _ in connects(srv)}) == 1
    assert srv.count() == 6
    assert any(len(seen[i]) == 1 and seen[i] == seen[i + 1]
               for i in range(len(seen) - 1)), seen


def test_kept_queue_connection_goes_when_the_next_client_idles(tmp_path,
                                                                procs):
    """The kept connection holds one of the queue's client slots; a client
    that connects and sends nothing must not keep it from others (port 25
    sessions take a slot only at MAIL, test_exhaust.py).  One slot: a
    worker queues a message and keeps the connection, the next client it
    serves stays silent, and a client served by a second worker still
    queues its message (the kept connection went after that silence)
    rather than waiting smtpd_queue_wait for a slot and hearing 451."""
    srv = smtpdutil.Smtpd(procs, tmp_path, queue_max_clients=1)
    settled(srv)
    assert send_one(srv, "first") == 250
    settled(srv)
    silent = srv.client()		# the idle worker, holding the slot
    assert silent.greeting[0] == 220
    assert send_one(srv, "second") == 250	# a second worker
    # the silent client is still served, with a connection of its own
    assert silent.code("HELO x.test") == 250
    assert silent.code("MAIL FROM:<>") == 250
    silent.close()
    assert len({p for p, _ in connects(srv)}) == 2


def tls_worker_kept(tmp_path, procs, **conf):
    """An smtpd with STARTTLS whose worker has queued one message and so
    keeps its queue connection: (srv, cert)."""
    cert, key = tlsutil.make_cert(str(tmp_path))
    srv = smtpdutil.Smtpd(procs, tmp_path, tls_cert=cert, tls_key=key,
                          **conf)
    settled(srv)
    assert send_one(srv, "first") == 250
    settled(srv)
    return srv, cert


def test_kept_starttls_handshake_has_its_own_deadline(tmp_path, procs):
    """With a kept queue connection the wait for the first handshake
    bytes after STARTTLS runs under the session's deadline layer (its
    silence bound): that wait has the whole smtpd_timeout, not what the
    STARTTLS line left of its own.  smtpd_timeout 3: the line takes
    2.1 s to come whole (a byte every 0.3 s, so the kept bound never
    fires before it), the handshake begins 1.3 s after the 220 (past
    both the kept bound and the 0.9 s the line left) and succeeds."""
    srv, cert = tls_worker_kept(tmp_path, procs, smtpd_timeout=3)
    c = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
    f = c.makefile("rb")

    def reply():
        while True:
            ln = f.readline()
            assert ln, "closed"
            if ln[3:4] != b"-":
                return ln

    assert reply().startswith(b"220")
    c.sendall(b"EHLO tls.test\r\n")
    assert reply().startswith(b"250")
    # a byte every 0.3 s: never the kept bound's second of silence
    for b in (b"S", b"T", b"A", b"R", b"T", b"T", b"L"):
        c.sendall(b)
        time.sleep(0.3)
    c.sendall(b"S\r\n")
    assert reply().startswith(b"220")
    time.sleep(1.3)
    t = tlsutil.client_context(cert).wrap_socket(
        c, server_hostname="localhost")
    t.sendall(b"EHLO tls.test\r\n")
    assert t.recv(4096).startswith(b"250")
    t.close()


def test_kept_queue_connection_goes_at_starttls(tmp_path, procs):
    """The kept connection's silence bound lives in the session's
    deadline layer, so it holds for TLS reads too: one queue slot, a
    worker queues a message and keeps it, its next client says STARTTLS,
    EHLO and then nothing, and a client of a second worker still queues
    its message (the kept connection went after that silence)."""
    srv, cert = tls_worker_kept(tmp_path, procs, queue_max_clients=1)
    s = smtplib.SMTP("127.0.0.1", srv.port, timeout=20)
    s.ehlo("tls.test")
    s.starttls(context=tlsutil.client_context(cert))
    assert s.ehlo("tls.test")[0] == 250		# then silent, in TLS
    assert send_one(srv, "second") == 250	# a second worker
    s.close()
    assert len({p for p, _ in connects(srv)}) == 2
