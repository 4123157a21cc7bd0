"""sandmail-smtpd: how it runs.  Under tcpserver and as its own listener,
the session's sandbox, the connection limits, table reloads, SIGTERM, a
spawned queue, and real clients (smtplib, swaks)."""
import os
import signal
import smtplib
import socket
import subprocess

import pytest

from conftest import (free_port, proc_status, prog, tmpfs_at, wait_for,
                      wait_port)
import smtpdutil


def session_child(srv):
    kids = wait_for(lambda: smtpdutil.children(srv.proc.pid),
                    what="a session child")
    return kids[0]


def test_session_is_sandboxed(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path)
    smtpdutil.wait_idle(srv.proc.pid, srv.log)
    c = srv.client()
    assert c.code("EHLO client.test") == 250
    pid = session_child(srv)
    st = proc_status(pid)
    assert st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == "1"
    if os.geteuid() == 0:
        nobody = int(subprocess.run(["id", "-u", "nobody"], check=True,
                                    capture_output=True).stdout)
        assert st["Uid"].split() == [str(nobody)] * 4
    # the listener never reads a client; it keeps its tables (it maps
    # them again when they change) under its own deny-list filter and
    # Landlock (smtpd/lsbx.c; test_contain.py's smtpd-listener role),
    # in a sanitizer build too (its runtime's ptrace and /proc left)
    assert proc_status(srv.proc.pid)["Seccomp"] == "2"
    assert c.code("QUIT") == 221


def test_tcpserver_mode(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path, listen=False)
    port = free_port()
    with open(srv.log, "ab") as lg:
        ts = procs.start(["tcpserver", "-q", "-H", "-R", "-l", "localhost",
                          "127.0.0.1", str(port), prog("sandmail-smtpd"),
                          "-c", srv.conf], stderr=lg)
    wait_port(port)
    smtpdutil.wait_idle(ts.pid, srv.log)
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
        assert s.ehlo("ucspi.test")[0] == 250
        kid = wait_for(lambda: smtpdutil.children(ts.pid),
                       what="smtpd under tcpserver")[0]
        st = proc_status(kid)
        assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
        s.sendmail("x@b.test", ["alice@example.test"],
                   b"Subject: via tcpserver\r\n\r\nhello\r\n")
    msgs = srv.messages()
    assert len(msgs) == 1
    env, body = list(msgs.values())[0]
    assert env["client"] == "127.0.0.1" and env["helo"] == "ucspi.test"
    assert body.endswith(b"Subject: via tcpserver\n\nhello\n")
    assert "event=connect ip=127.0.0.1 port=" in srv.logtext()


def test_swaks_conversation(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path)
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{srv.port}",
                        "--to", "alice@example.test", "--from", "s@b.test",
                        "--helo", "swaks.test", "--pipeline",
                        "--timeout", "20"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "queued as" in r.stdout
    assert len(srv.messages()) == 1
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{srv.port}",
                        "--to", "x@foreign.test", "--from", "s@b.test",
                        "--timeout", "20"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "554 5.7.1" in r.stdout
    assert len(srv.messages()) == 1


def connect_from(srv, src):
    s = socket.socket()
    s.settimeout(20)
    s.bind((src, 0))
    s.connect(("127.0.0.1", srv.port))
    f = s.makefile("rb")
    return s, f.readline().decode()


def test_connection_limits(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path, max_per_ip=2, max_connections=3)
    # the start-up probe's session must be over before we count
    smtpdutil.wait_idle(srv.proc.pid, srv.log)
    held = []
    for src in ("127.0.0.1", "127.0.0.1"):
        s, line = connect_from(srv, src)
        assert line.startswith("220 "), line
        held.append(s)
    s, line = connect_from(srv, "127.0.0.1")
    assert line.startswith("421 4.7.0"), line
    s.close()
    s, line = connect_from(srv, "127.0.0.2")
    assert line.startswith("220 "), line
    held.append(s)
    s, line = connect_from(srv, "127.0.0.3")
    assert line.startswith("421 4.7.0"), line
    s.close()
    # a session that ends frees its place
    held.pop(0).close()
    wait_for(lambda: connect_from(srv, "127.0.0.3")[1].startswith("220"),
             what="a freed slot")
    for s in held:
        s.close()
    assert "reason=max_per_ip" in srv.logtext()
    assert "reason=max_connections" in srv.logtext()


def relay_ok(srv):
    c = srv.client()
    c.code("EHLO client.test")
    c.code("MAIL FROM:<a@b.test>")
    code = c.code("RCPT TO:<x@foreign.test>")
    c.close()
    return code == 250


def test_tables_reloaded_when_changed_and_on_hup(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path)
    assert not relay_ok(srv)
    with open(os.path.join(srv.dir, "relayclients"), "w") as f:
        f.write("127.0.0.1 relay\n")
    subprocess.run([prog("sandmail-cdb"), "-d", srv.dir, "relayclients"],
                   check=True)
    wait_for(lambda: relay_ok(srv), what="the new relayclients table")
    assert "event=reload why=changed" in srv.logtext()
    os.kill(srv.proc.pid, signal.SIGHUP)
    wait_for(lambda: "event=reload why=hup" in srv.logtext(),
             what="reload on HUP")
    assert relay_ok(srv)


def test_sigterm_lets_sessions_finish(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path)
    c = srv.client()
    assert c.code("EHLO client.test") == 250
    os.kill(srv.proc.pid, signal.SIGTERM)
    assert srv.proc.wait(20) == 0
    # the listener is gone; the session goes on to the end
    assert c.code("MAIL FROM:<a@b.test>") == 250
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    c.send("Subject: after TERM\r\n\r\nstill here\r\n.\r\n")
    assert c.reply()[0] == 250
    assert c.code("QUIT") == 221
    assert len(srv.messages()) == 1
    try:
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    assert refused


def test_session_time_limit(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path, smtpd_session_limit=1)
    c = srv.client(greet=False)
    lines = []
    try:                        # keep quiet: the whole-session limit ends it
        while True:
            lines.append(c.line())
    except EOFError:
        pass
    assert lines[-1].startswith("421 4.4.2"), lines
    assert "Session time limit" in lines[-1]


def test_queue_unavailable_451_at_mail(tmp_path, procs):
    """The queue connection is made at the first MAIL, not before the
    greeting: with no queue, the client is greeted and MAIL answered
    451 4.3.0 (the session goes on)."""
    srv = smtpdutil.Smtpd(procs, tmp_path)
    procs.stop(srv.queue)
    os.unlink(srv.qdir("lock/queue.sock"))
    c = srv.client()
    assert c.greeting[0] == 220
    assert c.code("EHLO client.test") == 250
    assert c.cmd("MAIL FROM:<a@b.test>")[1][0].startswith("451 4.3.0")
    assert c.code("QUIT") == 221


def _refusing_queue(path, ready, stop, why, status):
    """A queue service that greets and answers every M with Z: why, and
    its status code."""
    import struct

    def rec(t, *fields):
        body = t + b"".join(struct.pack(">I", len(f)) + f for f in fields)
        return struct.pack(">I", len(body)) + body
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    # the smtpd listener connects as user_smtpd, as to the real one's
    os.chmod(path, 0o666)
    ls.listen(8)
    ls.settimeout(0.2)
    ready.set()
    conns = []
    while not stop.is_set():
        try:
            c, _ = ls.accept()
            c.sendall(rec(b"V", b"sandmail-queue 1"))
            c.settimeout(0.05)
            conns.append(c)
        except socket.timeout:
            pass
        for c in conns:
            try:
                got = c.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                got = b""
            # a whole M record is 5 bytes: 00 00 00 01 'M'
            for _ in range(got.count(b"\0\0\0\x01M")):
                c.sendall(rec(b"Z", b"queue: cannot create the "
                              b"message file: " + why.encode(), status))
    for c in conns:
        c.close()
    ls.close()


@pytest.mark.parametrize("why,status,want", [
    ("Read-only file system", b"4.3.0", "451 4.3.0 Queue unavailable"),
    ("No space left on device", b"4.3.1", "452 4.3.1 Insufficient system"),
])
def test_queue_refusing_a_message_gives_451_after_the_text(
        tmp_path, procs, why, status, want):
    """The 354 goes out before the queue has answered M; a queue that
    then refuses (here: a fake one that says Z to every M) gets the
    client's text read to its end and a 451 (452 when the queue's status
    says its file system is full), and the session goes on."""
    import threading
    srv = smtpdutil.Smtpd(procs, tmp_path)
    procs.stop(srv.queue)
    os.unlink(srv.qdir("lock/queue.sock"))
    ready, stop = threading.Event(), threading.Event()
    t = threading.Thread(target=_refusing_queue,
                         args=(srv.qdir("lock/queue.sock"), ready, stop,
                               why, status))
    t.start()
    try:
        ready.wait(10)
        c = srv.client()
        assert c.code("EHLO client.test") == 250
        for _ in range(2):
            assert c.code("MAIL FROM:<a@b.test>") == 250
            assert c.code("RCPT TO:<alice@example.test>") == 250
            assert c.code("DATA") == 354
            c.send("Subject: refused\r\n\r\n" + "x" * 5000 + "\r\n.\r\n")
            code, lines = c.reply()
            assert lines[0].startswith(want), lines
        assert c.code("NOOP") == 250
        assert c.code("QUIT") == 221
        assert why in srv.logtext()
    finally:
        stop.set()
        t.join()


def test_queue_program_spawned_without_service(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path, listen=False,
                          queue_program=prog("sandmail-queue"))
    procs.stop(srv.queue)
    os.unlink(srv.qdir("lock/queue.sock"))
    srv.start()
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=20) as s:
        s.sendmail("x@b.test", ["bob@example.test"],
                   b"Subject: spawned\r\n\r\nhi\r\n")
    assert len(srv.messages()) == 1


def test_queue_failure_gives_451(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path)
    a = srv.client()
    b = srv.client()
    for c in (a, b):
        assert c.code("EHLO client.test") == 250
        assert c.code("MAIL FROM:<a@b.test>") == 250
        assert c.code("RCPT TO:<alice@example.test>") == 250
    assert a.code("DATA") == 354
    a.send("Subject: doomed\r\n\r\n" + "x" * 1000 + "\r\n")
    procs.stop(srv.queue)          # the queue goes away under both
    a.send("more\r\n.\r\n")
    assert a.reply()[1][0].startswith("451 4.3.0")
    assert b.cmd("DATA")[1][0].startswith("451 4.3.0")
    assert a.code("QUIT") == 221 and b.code("QUIT") == 221
    assert srv.count() == 0
    assert "reason=\"queue" in srv.logtext()


def test_ipv6_and_several_listeners(tmp_path, procs):
    srv = smtpdutil.Smtpd(procs, tmp_path, listen=False)
    p4, p6 = free_port(), free_port("::1")
    with open(srv.log, "ab") as lg:
        srv.proc = procs.start([prog("sandmail-smtpd"), "-c", srv.conf,
                                "-l", f"127.0.0.1:{p4}", "-l",
                                f"[::1]:{p6}"], stderr=lg)
    wait_port(p4)
    wait_port(p6, host="::1")
    for host, port in (("::1", p6), ("127.0.0.1", p4)):
        with smtplib.SMTP(host, port, timeout=20) as s:
            s.sendmail("x@b.test", ["bob@example.test"],
                       f"Subject: over {host}\r\n\r\nhi\r\n".encode())
    msgs = sorted(srv.messages().values(), key=lambda m: m[0]["client"])
    assert [m[0]["client"] for m in msgs] == ["127.0.0.1", "::1"]
    assert b"(rDNS unknown [IPv6:::1])" in msgs[1][1]


def test_full_queue_disk_gives_452(tmp_path, procs):
    """The real queue service on a file system that fills up: smtpd
    answers the message it could not commit 452 4.3.1 (RFC 5321 4.2.5,
    from the queue's status code, not its text), the queue holds nothing
    half-written, and when space returns the same session is taken."""
    with tmpfs_at(os.path.join(str(tmp_path), "queue"), "1m", procs):
        srv = smtpdutil.Smtpd(procs, tmp_path, max_message_size="4m")
        c = srv.client()
        assert c.code("EHLO client.test") == 250
        text = "Subject: big\r\n\r\n" + ("x" * 998 + "\r\n") * 200 + ".\r\n"
        replies = []
        for _ in range(20):
            assert c.code("MAIL FROM:<a@b.test>") == 250
            assert c.code("RCPT TO:<alice@example.test>") == 250
            assert c.code("DATA") == 354
            c.send(text)
            code, lines = c.reply()
            replies.append(lines[0])
            if code != 250:
                break
        assert replies[-1].startswith("452 4.3.1 "), replies
        assert all(r.startswith("250 ") for r in replies[:-1]), replies
        assert len(replies) > 1, replies
        # nothing half-written: tmp/ holds no message, mess/ pairs todo/
        assert [n for n in os.listdir(srv.qdir("tmp"))
                if not n.startswith("re.")] == []
        assert sorted(os.listdir(srv.qdir("mess"))) == \
            sorted(os.listdir(srv.qdir("todo")))
        assert len(srv.messages()) == len(replies) - 1
        # space returns (as send would free it): the session goes on
        for i in os.listdir(srv.qdir("todo")):
            os.unlink(srv.qdir(f"todo/{i}"))
            os.unlink(srv.qdir(f"mess/{i}"))
        assert c.code("MAIL FROM:<a@b.test>") == 250
        assert c.code("RCPT TO:<alice@example.test>") == 250
        assert c.code("DATA") == 354
        c.send(text)
        assert c.reply()[0] == 250
        assert c.code("QUIT") == 221
