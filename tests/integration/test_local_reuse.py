"""sandmail-lspawn's reusable maildir workers: one worker per (uid, gid,
maildir), reused for later jobs of the same key, bounded by lspawn_max_use
and lspawn_idle, killed at local_timeout, and never shared between keys.
The worker that delivered a job is the `worker=` key of lspawn's
`event=result` line (and of `event=worker_start` / `worker_exit`)."""
import os
import re
import shutil
import signal
import uuid

import pytest

import localutil as lu
from conftest import alive, proc_status, wait_for

ROOT = os.geteuid() == 0

MSG = (b"Received: from client by test.example; Mon, 1 Jan 2024 00:00:00 "
       b"+0000\nFrom: a@example.org\nSubject: reuse \xc3\xa9\xff\n\nline one"
       b"\n\n.\n..dots\nDelivered-To: u@example.org\nbinary \x00\x01\x7f"
       b"\x80\r\nno newline at the end")


@pytest.fixture
def env(procs):
    d = lu.make_dir("sandmail-reuse-")
    home = os.path.join(d, "home")
    os.mkdir(home)
    lu.own_dir(home)

    class Env:
        dir = d
        maildir = os.path.join(home, "Maildir")
        log = os.path.join(d, "lspawn.log")

        def __init__(self):
            self.home = home

        def start(self, **conf):
            return lu.Lspawn(procs, lu.write_conf(d, **conf), log=self.log)

        def msg(self, data):
            p = os.path.join(d, f"msg-{uuid.uuid4().hex}")
            with open(p, "wb") as f:
                f.write(data)
            return p

        def lines(self, event):
            with open(self.log, errors="replace") as f:
                return [ln for ln in f if f"event={event} " in ln]

        def worker_of(self, job_id):
            """The worker= pid of job job_id's result line (the last
            one: an earlier lspawn of the test had its own job 1), or
            None."""
            for ln in reversed(self.lines("result")):
                if re.search(rf"\bjob={job_id}\b", ln):
                    m = re.search(r"\bworker=(\d+)", ln)
                    return int(m.group(1)) if m else None
            raise KeyError(f"no result line for job {job_id}")
    yield Env()
    shutil.rmtree(d, ignore_errors=True)


def deliver(env, ls, data=b"x\n", md=None, **kw):
    """One job; (status, text, worker pid)."""
    j = ls.send(env.msg(data), "u@example.org", (md or env.maildir) + "/",
                **kw)
    st, text = ls.result(j)
    return st, text, env.worker_of(j)



def holds(pid, path):
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                return True
        except FileNotFoundError:
            pass
    return False


def test_successive_deliveries_reuse_one_worker(env):
    ls = env.start()
    pids = []
    for i in range(5):
        st, text, pid = deliver(env, ls, MSG, sender=f"s{i}@example.org")
        assert st == "K", text
        pids.append(pid)
    assert pids[0] is not None and set(pids) == {pids[0]}
    assert len(env.lines("worker_start")) == 1
    # the same bytes as a fresh delivery: Return-Path, Delivered-To, body
    got = lu.read_new(env.maildir)
    assert sorted(got) == sorted(lu.expected(MSG, f"s{i}@example.org",
                                             "u@example.org")
                                 for i in range(5))
    # one process, one counter: P<pid> and Q1..Q5 in the names
    names = lu.maildir_files(env.maildir)
    assert {re.search(r"P(\d+)Q", n).group(1) for n in names} == \
        {str(pids[0])}
    assert sorted(int(re.search(r"Q(\d+)R", n).group(1)) for n in names) \
        == [1, 2, 3, 4, 5]
    assert lu.maildir_files(env.maildir, "tmp") == []
    assert ls.close() == 0
    assert not alive(pids[0])


def test_idle_worker_is_confined(env):
    """Between jobs a worker holds its socket, the log and the maildir's
    descriptors, runs as the recipient, under both filters."""
    ls = env.start()
    st, text, pid = deliver(env, ls)
    assert st == "K", text
    assert lu.lspawn_children(ls.proc.pid) == [pid]
    s = proc_status(pid)
    assert s["Seccomp"] == "2" and s["NoNewPrivs"] == "1"
    assert s.get("Seccomp_filters", "2") == "2"
    assert s["Uid"].split() == [str(lu.test_ids()[0])] * 4
    assert s["Gid"].split() == [str(lu.test_ids()[1])] * 4
    # the worker closes the first message (fd 0) just after its result
    wait_for(lambda: not os.path.exists(f"/proc/{pid}/fd/0"),
             what="the first message closed")
    fds = sorted(int(x) for x in os.listdir(f"/proc/{pid}/fd"))
    assert 0 not in fds and fds[:2] == [1, 2]
    assert os.readlink(f"/proc/{pid}/fd/1").startswith("socket:")
    for fd in fds[2:]:
        assert os.readlink(f"/proc/{pid}/fd/{fd}").startswith(env.maildir)
    ls.close()


def test_two_maildirs_never_share_a_worker(env):
    ls = env.start()
    other = os.path.join(env.home, "Other")
    seen = {env.maildir: set(), other: set()}
    for i in range(6):
        md = env.maildir if i % 2 == 0 else other
        st, text, pid = deliver(env, ls, b"m%d\n" % i, md=md)
        assert st == "K", text
        seen[md].add(pid)
    assert len(seen[env.maildir]) == 1 and len(seen[other]) == 1
    assert not seen[env.maildir] & seen[other]
    assert len(lu.maildir_files(env.maildir)) == 3
    assert len(lu.maildir_files(other)) == 3
    ls.close()


@pytest.mark.skipif(not ROOT, reason="two uids need root")
def test_two_uids_never_share_a_worker(env):
    uid, gid = lu.test_ids()
    ls = env.start()
    st, text, p1 = deliver(env, ls)
    assert st == "K", text
    # the same maildir path, another uid: a worker of its own, which the
    # first uid's 0700 maildir keeps out
    st, text, p2 = deliver(env, ls, uid=uid + 1, gid=gid + 1)
    assert st == "Z" and "Permission denied" in text, text
    assert p2 is not None and p2 != p1
    # another gid alone is another key too
    st, text, p3 = deliver(env, ls, gid=gid + 1)
    assert p3 not in (None, p1)
    # a maildir of the second uid's own
    md2 = os.path.join(env.dir, "home2")
    os.mkdir(md2)
    os.chown(md2, uid + 1, gid + 1)
    st, text, p4 = deliver(env, ls, md=md2 + "/Maildir", uid=uid + 1,
                           gid=gid + 1)
    assert st == "K", text
    assert p4 not in (p1, p2, p3)
    assert proc_status(p4)["Uid"].split()[0] == str(uid + 1)
    assert os.stat(os.path.join(md2, "Maildir", "new",
                                lu.maildir_files(md2 + "/Maildir")[0])
                   ).st_uid == uid + 1
    # and the first uid's worker is still the one for its key
    st, text, p5 = deliver(env, ls)
    assert st == "K" and p5 == p1, text
    ls.close()


def test_max_use_bounds_reuse(env):
    ls = env.start(lspawn_max_use=2)
    pids = []
    for i in range(5):
        st, text, pid = deliver(env, ls)
        assert st == "K", text
        pids.append(pid)
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
    assert len(set(pids)) == 3
    # the used-up workers are gone
    wait_for(lambda: not alive(pids[0]) and not alive(pids[2]),
             what="used-up workers to exit")
    ls.close()


def test_max_use_1_is_one_process_per_delivery(env):
    ls = env.start(lspawn_max_use=1)
    pids = [deliver(env, ls)[2] for _ in range(4)]
    assert len(set(pids)) == 4
    assert len(lu.maildir_files(env.maildir)) == 4
    ls.close()


def test_idle_worker_exits(env):
    ls = env.start(lspawn_idle="1s")
    st, text, pid = deliver(env, ls)
    assert st == "K", text
    wait_for(lambda: not alive(pid), timeout=30, what="the idle worker")
    wait_for(lambda: [ln for ln in env.lines("worker_exit")
                      if f"worker={pid} " in ln], what="worker_exit line")
    # lspawn itself lives on, and the next job gets a new worker
    st, text, pid2 = deliver(env, ls)
    assert st == "K" and pid2 != pid, text
    assert ls.close() == 0


def test_kill_9_of_a_reused_worker_mid_delivery(env):
    ls = env.start()
    st, text, pid = deliver(env, ls, b"first\n")
    assert st == "K", text
    big = os.path.join(env.dir, "sparse")
    with open(big, "wb") as f:
        f.truncate(4 << 30)		# 4 GiB of holes: slow enough to kill
    j = ls.send(big, "u@example.org", env.maildir + "/")
    tmp = os.path.join(env.maildir, "tmp")
    wait_for(lambda: any(os.path.getsize(os.path.join(tmp, f)) > 0
                         for f in os.listdir(tmp)),
             what="a partial file in tmp/")
    assert lu.lspawn_children(ls.proc.pid) == [pid]	# the same worker
    os.kill(pid, signal.SIGKILL)
    st, text = ls.result(j)
    assert st == "Z" and "signal 9" in text, text
    # nothing half-written in new/: only the first message
    assert lu.read_new(env.maildir) == [
        lu.expected(b"first\n", "sender@example.org", "u@example.org")]
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.unlink(big)


def test_worker_dying_with_a_job_queued_then_retry(env):
    """A worker killed while a job waits for it: a temporary failure,
    nothing in new/, and the retry (as send makes it) delivers."""
    ls = env.start()
    st, text, pid = deliver(env, ls, b"first\n")
    assert st == "K", text
    os.kill(pid, signal.SIGSTOP)
    m = env.msg(MSG)
    j = ls.send(m, "u@example.org", env.maildir + "/", qid="QRETRY")
    # lspawn holds the message until the job is answered
    wait_for(lambda: holds(ls.proc.pid, m), what="the job handed over")
    os.kill(pid, signal.SIGKILL)
    st, text = ls.result(j)
    assert st == "Z" and "signal 9" in text, text
    assert len(lu.maildir_files(env.maildir)) == 1
    j = ls.send(m, "u@example.org", env.maildir + "/", qid="QRETRY")
    st, text = ls.result(j)
    assert st == "K", text
    assert env.worker_of(j) != pid
    assert sorted(lu.read_new(env.maildir)) == sorted([
        lu.expected(b"first\n", "sender@example.org", "u@example.org"),
        lu.expected(MSG, "sender@example.org", "u@example.org")])
    assert ls.close() == 0


def deliver_ok(env, ls, data):
    """A delivery that must succeed, given a few tries: with a short
    local_timeout a slow disk may make one overrun (a Z, as it should)."""
    for _ in range(5):
        st, text, pid = deliver(env, ls, data)
        if st == "K":
            return pid
        assert "timeout" in text, text
    raise AssertionError("five deliveries in a row overran local_timeout")


def test_stuck_worker_is_killed_at_the_deadline(env):
    ls = env.start(local_timeout="2s")
    pid = deliver_ok(env, ls, b"first\n")
    os.kill(pid, signal.SIGSTOP)	# stuck: it never answers
    j = ls.send(env.msg(b"stuck\n"), "u@example.org", env.maildir + "/")
    st, text = ls.result(j)
    assert st == "Z" and "timeout" in text, text
    assert not alive(pid)
    pid2 = deliver_ok(env, ls, b"again\n")
    assert pid2 != pid
    got = lu.read_new(env.maildir)
    assert lu.expected(b"stuck\n", "sender@example.org", "u@example.org") \
        not in got
    assert lu.expected(b"again\n", "sender@example.org", "u@example.org") \
        in got
    assert ls.close() == 0


def test_moved_maildir_gets_a_fresh_worker(env):
    """A worker holds its maildir open: when the path names another
    directory now, the job goes to a new worker, not to the old place."""
    ls = env.start()
    st, text, pid = deliver(env, ls, b"one\n")
    assert st == "K", text
    os.rename(env.maildir, env.maildir + ".old")
    st, text, pid2 = deliver(env, ls, b"two\n")
    assert st == "K", text
    assert pid2 != pid
    assert len(lu.maildir_files(env.maildir + ".old")) == 1
    assert lu.read_new(env.maildir) == [
        lu.expected(b"two\n", "sender@example.org", "u@example.org")]
    assert ls.close() == 0


def test_unique_names_across_many_deliveries(env):
    n = 250
    ls = env.start(lspawn_max_use=1000)
    pids = set()
    bodies = []
    for i in range(n):
        body = b"Subject: %d\n\nnumber %d\n" % (i, i)
        bodies.append(body)
        st, text, pid = deliver(env, ls, body)
        assert st == "K", text
        pids.add(pid)
    assert len(pids) == 1
    names = lu.maildir_files(env.maildir)
    assert len(names) == len(set(names)) == n
    assert sorted(lu.read_new(env.maildir)) == sorted(
        lu.expected(b, "sender@example.org", "u@example.org")
        for b in bodies)
    assert ls.close() == 0


def test_at_the_limit_an_idle_worker_makes_room(env):
    ls = env.start(lspawn_children=1)
    other = os.path.join(env.home, "Other")
    st, text, p1 = deliver(env, ls)
    assert st == "K", text
    st, text, p2 = deliver(env, ls, md=other)
    assert st == "K" and p2 != p1, text
    assert not alive(p1)
    st, text, p3 = deliver(env, ls)
    assert st == "K" and p3 not in (p1, p2), text
    assert ls.close() == 0


@pytest.mark.parametrize("conf,dest", [
    ({"lspawn_exec": "yes"}, None),
    ({"local_allow_programs": "yes"}, "|cat > /dev/null; echo piped"),
])
def test_exec_and_programs_keep_a_process_per_delivery(env, conf, dest):
    ls = env.start(**conf)
    for i in range(3):
        j = ls.send(env.msg(b"p%d\n" % i), "u@example.org",
                    dest or env.maildir + "/")
        st, text = ls.result(j)
        assert st == "K", text
        assert env.worker_of(j) is None
    assert env.lines("worker_start") == []
    if dest is None:
        assert len(lu.maildir_files(env.maildir)) == 3
    assert ls.close() == 0


def test_sigterm_and_eof_end_the_workers(env):
    other = os.path.join(env.home, "Other")
    for stop in ("term", "eof"):
        ls = env.start()
        pids = set()
        for md in (env.maildir, other):
            st, text, pid = deliver(env, ls, md=md)
            assert st == "K", text
            pids.add(pid)
        assert len(pids) == 2 and all(alive(p) for p in pids), \
            (pids, lu.lspawn_children(ls.proc.pid))
        if stop == "term":
            os.kill(ls.proc.pid, signal.SIGTERM)
            assert ls.proc.wait(30) == 0
            ls.sock.close()
        else:
            assert ls.close() == 0
        assert not any(alive(p) for p in pids)
