"""One send per queue in the installed layout (installed.py): a second
sandmail-start on the installed queue, as runsv would start one while a
killed start's send still finishes, starts its helpers under their own
users, but its send waits on lock/trigger (event=wait) and reads nothing
of the queue until the service's send has ended; then it recovers and
delivers.  The original test (test_send_layout.py) runs one user's
queue; here the lock is taken by sandmails on the queue setup made."""
import signal
import subprocess
import time

from conftest import wait_for
from test_installed_crash import uid_of
from test_pop3 import comm

CONF = "/etc/sandmail/sandmail.conf"


def test_installed_one_send_per_queue(installed, procs, tmp_path):
    inst = installed
    path = tmp_path / "start2.log"
    log = open(path, "w")
    # nsenter execs sandmail-start itself (no --fork): p is its process
    p = procs.start(["nsenter", "-t", str(inst.ns.pid), "-m", "--",
                     inst.sbin("sandmail-start"), "-c", CONF],
                    stdout=log, stderr=subprocess.STDOUT)

    def text():
        return open(path).read()
    try:
        wait_for(lambda: "prog=send event=wait" in text(), timeout=30,
                 what="the second send to wait")
        time.sleep(0.5)
        assert "event=recovered" not in text(), text()
        # the service's send still delivers meanwhile
        with inst.smtp() as c:
            c.sendmail("carol@example.org", ["alice@localhost"],
                       "Subject: lock-1\r\n\r\nsend-lock-first\r\n")
        inst.wait_mail(inst.maildir("alice"), "send-lock-first")
        assert "event=recovered" not in text(), text()
        # the service's start (and its send) stopped: ours goes on
        r = inst.sv("stop", "sandmail-start")
        assert r.returncode == 0, r.stdout + r.stderr
        wait_for(lambda: "prog=send event=recovered" in text(),
                 timeout=60, what="the second send to start")
        with inst.smtp() as c:
            c.sendmail("carol@example.org", ["alice@localhost"],
                       "Subject: lock-2\r\n\r\nsend-lock-second\r\n")
        inst.wait_mail(inst.maildir("alice"), "send-lock-second")
        # ours is the only send of the namespace, and it runs as sandmails
        sends = [q for q in inst.in_ns() if comm(q) == "sandmail-send"]
        assert len(sends) == 1, sends
        assert uid_of(sends[0]) == inst.ids["sandmails"][0]
    finally:
        procs.stop(p, signal.SIGTERM, timeout=30)
        log.close()
        inst.sv("start", "sandmail-start")
        inst.wait_up("sandmail-start")

