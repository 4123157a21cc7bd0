"""The crash test (test_crash.py) in the installed layout: separate
users, the set-uid queue, the runit services of installed.py.  Clients
send small messages to carol@localhost on port 25 while a killer thread
kill -9's, at random moments, smtpd sessions, the smtpd listener, the
queue service, send, lspawn and sandmail-start; runsv starts again what
died, as it would on a real machine.  Clients retry whatever got no 250.
Then every message that got a 250 must be in carol's maildir (a
duplicate is allowed, a loss is not) and the queue must drain.

CRASH_SEED replays the kill schedule; 200 messages (100 under ASan),
INSTALLED_CRASH_MESSAGES overrides, and more as long as the killer has
not killed every kind once, then until KILLS kills in all or 20 times
as many accepted."""
import os
import random
import signal
import threading
import time

from conftest import BUILD, wait_for
from crashutil import ACTIVE, client, cmdline, files_in, tokens

ASAN = "build-asan" in BUILD
N = int(os.environ.get("INSTALLED_CRASH_MESSAGES", "100" if ASAN else "200"))
CLIENTS = 4
KILLS = 15
KINDS = ("session", "smtpd", "queue", "send", "lspawn", "start")


def uid_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def victims(inst, what):
    """The pids a kill of this kind may hit right now."""
    if what == "session":
        # smtpd's sessions, also those of a listener killed earlier
        # (reparented, still serving the clients' connections): every
        # sandmail-smtpd of the namespace not running as root
        smtpd = inst.sbin("sandmail-smtpd")
        return [p for p in inst.in_ns()
                if cmdline(p).startswith(smtpd + " ") and uid_of(p) != 0]
    if what == "smtpd":
        return inst.pids("sandmail-smtpd")[:1]
    if what == "queue":
        return inst.pids("sandmail-queue")[:1]
    if what == "start":
        return inst.pids("sandmail-start")[:1]
    prog = "sandmail-" + what
    return [p for p in inst.pids("sandmail-start")[1:]
            if cmdline(p).split(" ")[0].endswith(prog)]


class Killer(threading.Thread):
    def __init__(self, inst, rng, stop):
        super().__init__(daemon=True)
        self.inst, self.rng, self.stop = inst, rng, stop
        self.kills = dict.fromkeys(KINDS, 0)
        self.plan = list(KINDS)
        self.rng.shuffle(self.plan)
        self.error = None

    def one(self):
        what = self.plan.pop() if self.plan else self.rng.choice(
            ["session"] * 3 + list(KINDS[1:]))
        pids = victims(self.inst, what)
        if pids:
            try:
                os.kill(self.rng.choice(pids), signal.SIGKILL)
                self.kills[what] += 1
                return
            except ProcessLookupError:
                pass
        if self.kills[what] == 0:
            self.plan.insert(0, what)    # not there now: later

    def run(self):
        try:
            while not self.stop.wait(self.rng.uniform(0.05, 0.4)):
                self.one()
        except Exception as e:  # noqa: BLE001 -- reported by the test
            self.error = e


def test_crash_installed(installed):
    inst = installed
    seed = int(os.environ.get("CRASH_SEED", str(time.time_ns() % 10**9)))
    print(f"installed crash test: seed {seed}, {N} messages")
    rng = random.Random(seed)
    work = list(range(N))
    rng.shuffle(work)
    accepted, stats = [], {"retries": 0}
    stop = threading.Event()
    killer = Killer(inst, random.Random(rng.random()), stop)
    deadline = time.monotonic() + (400 if ASAN else 200)
    extra = iter(range(N, 10**6))
    lock = threading.Lock()

    def more():
        # mail flows until every kind has been killed once (a kind may
        # have no process for a while: being restarted), then until
        # KILLS in all or 20 * N accepted; the deadline bounds both
        with lock:
            if killer.plan or (sum(killer.kills.values()) < KILLS and
                               len(accepted) < 20 * N):
                return next(extra)
            return None
    threads = [threading.Thread(target=client, args=(
        inst.port["smtp"], "icrash", "c@example.org", "carol@localhost", work,
        accepted, stats, deadline, more))
               for _ in range(CLIENTS)]
    killer.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    killer.join(60)
    assert killer.error is None, killer.error
    print(f"kills: {killer.kills}; client retries: {stats['retries']}; "
          f"accepted {len(accepted)}")
    assert len(accepted) >= N, "clients gave up before every message " \
        "was accepted"
    # runsv has started everything again: the queue drains (waited for
    # before the kills are judged, so that a test after this one never
    # starts with this one's mail still being delivered)
    for svc in ("sandmail-queue", "sandmail-start", "sandmail-smtpd"):
        inst.wait_up(svc)
    q = inst.path("/var/spool/sandmail")
    maildir = inst.maildir("carol")

    def done():
        got = tokens(inst.mail(maildir), "icrash")
        return not (set(accepted) - set(got)) and all(
            not files_in(os.path.join(q, d)) for d in ACTIVE)
    try:
        wait_for(done, timeout=300 if ASAN else 120, step=0.2,
                 what="every accepted message delivered")
    except TimeoutError:
        pass
    got = tokens(inst.mail(maildir), "icrash")
    missing = sorted(set(accepted) - set(got))
    dups = {t: c for t, c in got.items() if c > 1}
    print(f"delivered {len(got)} distinct; duplicates: {len(dups)}")
    left = {d: files_in(os.path.join(q, d)) for d in ACTIVE}
    assert not missing, f"{len(missing)} accepted messages lost: " \
        f"{missing[:20]}\n{inst.logs()}"
    assert all(killer.kills.values()), killer.kills
    assert not any(left.values()), f"queue not empty: {left}"
    # one send on the queue: none left over from a killed sandmail-start
    # (an old one may still be finishing for term_wait, 10 s here)
    def sends():
        return [p for p in inst.in_ns()
                if cmdline(p).split(" ")[0].endswith("sandmail-send")]
    try:
        wait_for(lambda: len(sends()) == 1, timeout=30, what="one send")
    except TimeoutError:
        pass
    assert len(sends()) == 1, [cmdline(p) for p in sends()]
    # and mail still flows afterwards
    with inst.smtp() as c:
        c.sendmail("c@example.org", ["carol@localhost"],
                   b"Subject: after-the-crashes\r\n\r\nhi\r\n")
    inst.wait_mail(maildir, "after-the-crashes", timeout=60)
