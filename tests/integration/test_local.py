"""sandmail-lspawn and sandmail-local, driven as send drives them: LJOB
datagrams with the message fd over a SOCK_SEQPACKET pair (localutil)."""
import os
import shutil
import signal
import socket
import subprocess
import uuid

import pytest

import localutil as lu
from conftest import proc_status, prog, wait_for

ROOT = os.geteuid() == 0


@pytest.fixture
def env(procs):
    d = lu.make_dir()
    md_parent = os.path.join(d, "home")
    os.mkdir(md_parent)
    lu.own_dir(md_parent)

    class Env:
        dir = d
        home = md_parent
        maildir = os.path.join(md_parent, "Maildir")
        log = os.path.join(d, "lspawn.log")

        def start(self, **conf):
            path = lu.write_conf(d, **conf)
            return lu.Lspawn(procs, path, log=self.log)

        def msg(self, data, name=None):
            p = os.path.join(d, name or f"msg-{uuid.uuid4().hex}")
            with open(p, "wb") as f:
                f.write(data)
            return p
    yield Env()
    shutil.rmtree(d, ignore_errors=True)


MSG = (b"Received: from client by test.example; Mon, 1 Jan 2024 00:00:00 "
       b"+0000\nFrom: a@example.org\nTo: u@example.org\nSubject: bytes "
       b"\xc3\xa9\xff\n\nline one\n\n.\n..dots\nDelivered-To: u@example.org"
       b"\nbinary \x00\x01\x7f\x80 bytes\r\nno newline at the end")


def test_delivery_byte_for_byte(env):
    ls = env.start()
    st, text = ls.deliver(env.msg(MSG), "u@example.org", env.maildir + "/",
                          sender="s@example.org")
    assert st == "K", text
    assert text.startswith("delivered: new/")
    got = lu.read_new(env.maildir)
    assert got == [lu.expected(MSG, "s@example.org", "u@example.org")]
    name = lu.maildir_files(env.maildir)[0]
    assert name.endswith(".test.example") and "P" in name and "R" in name
    assert lu.maildir_files(env.maildir, "tmp") == []
    assert ls.close() == 0


def test_null_sender_and_empty_message(env):
    ls = env.start()
    st, text = ls.deliver(env.msg(b""), "u@example.org", env.maildir + "/",
                          sender="")
    assert st == "K", text
    assert lu.read_new(env.maildir) == [
        b"Return-Path: <>\nDelivered-To: u@example.org\n"]
    ls.close()


def test_hostname_encoding_in_name(env):
    ls = env.start(hostname="a/b:c")
    st, text = ls.deliver(env.msg(b"x\n"), "u@example.org",
                          env.maildir + "/")
    assert st == "K", text
    assert lu.maildir_files(env.maildir)[0].endswith(".a\\057b\\072c")
    ls.close()


@pytest.mark.parametrize("header,loop", [
    (b"Delivered-To: u@example.org\n", True),
    (b"delivered-to: U@Example.ORG\n", True),
    (b"Delivered-To:\n  u@example.org\n", True),
    (b"Delivered-To: <u@example.org>\n", True),
    (b"Delivered-To: other@example.org\n", False),
    (b"X-Delivered-To: u@example.org\n", False),
    (b"Subject: x\n\nDelivered-To: u@example.org\n", False),
])
def test_loop_check(env, header, loop):
    ls = env.start()
    msg = b"From: a@example.org\n" + header + b"\nbody\n"
    st, text = ls.deliver(env.msg(msg), "u@example.org", env.maildir + "/")
    if loop:
        assert st == "X", text
        assert "loop" in text
        assert lu.maildir_files(env.maildir) == []
        assert lu.maildir_files(env.maildir, "tmp") == []
    else:
        assert st == "K", text
        assert len(lu.read_new(env.maildir)) == 1
    ls.close()


def test_concurrent_deliveries_one_maildir(env):
    ls = env.start()
    n = 50
    msgs = {}
    for i in range(n):
        body = f"Subject: {i}\n\nmessage number {i}\n".encode() * (i + 1)
        j = ls.send(env.msg(body), "u@example.org", env.maildir + "/",
                    qid=f"Q{i}")
        msgs[j] = body
    for j in msgs:
        st, text = ls.result(j)
        assert st == "K", text
    got = sorted(lu.read_new(env.maildir))
    want = sorted(lu.expected(b, "sender@example.org", "u@example.org")
                  for b in msgs.values())
    assert got == want
    assert len(set(lu.maildir_files(env.maildir))) == n
    assert ls.close() == 0


def test_one_open_file_shared_by_jobs(env):
    """send may hand the same open file to several jobs at once: the
    offset is shared, so local must not depend on it (pread)."""
    ls = env.start()
    body = b"Subject: shared\n\n" + b"0123456789abcdef\n" * 20000
    fd = os.open(env.msg(body), os.O_RDONLY)
    os.lseek(fd, 12345, os.SEEK_SET)
    ids = [ls.send(None, "u@example.org", env.maildir + "/", fd=fd)
           for _ in range(8)]
    os.close(fd)
    for j in ids:
        st, text = ls.result(j)
        assert st == "K", text
    want = lu.expected(body, "sender@example.org", "u@example.org")
    assert lu.read_new(env.maildir) == [want] * 8
    ls.close()


def test_kill_9_mid_delivery_leaves_nothing_in_new(env):
    big = os.path.join(env.dir, "sparse")
    with open(big, "wb") as f:
        f.truncate(4 << 30)		# 4 GiB of holes: slow enough to kill
    ls = env.start()
    j = ls.send(big, "u@example.org", env.maildir + "/")
    tmp = os.path.join(env.maildir, "tmp")

    def writing():
        if not os.path.isdir(tmp):
            return False
        return any(os.path.getsize(os.path.join(tmp, f)) > 0
                   for f in os.listdir(tmp))
    wait_for(writing, what="a partial file in tmp/")
    kids = lu.lspawn_children(ls.proc.pid)
    assert len(kids) == 1
    # both sandboxed: lspawn's filter, and local's own on top of it
    st = proc_status(kids[0])
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
    assert st.get("Seccomp_filters", "2") == "2"
    assert st["Uid"].split()[0] == str(lu.test_ids()[0])
    ls_st = proc_status(ls.proc.pid)
    assert ls_st["Seccomp"] == "2" and ls_st["NoNewPrivs"] == "1"
    os.kill(kids[0], signal.SIGKILL)
    st, text = ls.result(j)
    assert st == "Z"
    assert "signal 9" in text
    assert lu.maildir_files(env.maildir) == []
    # the next delivery to the same maildir works
    st, text = ls.deliver(env.msg(b"after\n"), "u@example.org",
                          env.maildir + "/")
    assert st == "K", text
    assert len(lu.maildir_files(env.maildir)) == 1
    ls.close()


def test_uid_refused(env):
    ls = env.start()
    m = env.msg(b"x\n")
    st, text = ls.deliver(m, "u@example.org", env.maildir + "/", uid=0, gid=0)
    assert st == "Z" and "root" in text
    if ROOT:
        st, text = ls.deliver(m, "u@example.org", env.maildir + "/",
                              uid=70000, gid=70000)
        assert st == "Z" and "local_uid" in text
        st, text = ls.deliver(m, "u@example.org", env.maildir + "/",
                              uid=999, gid=999)
        assert st == "Z" and "local_uid" in text
    else:
        st, text = ls.deliver(m, "u@example.org", env.maildir + "/",
                              uid=os.getuid() + 1)
        assert st == "Z" and "own uid" in text
    assert lu.maildir_files(env.maildir) == []
    ls.close()


@pytest.mark.skipif(not ROOT, reason="needs root to run lspawn as a plain "
                    "user (single-uid mode is tested directly when not root)")
def test_single_uid_mode(env, procs):
    """lspawn started as a plain user delivers as that user only."""
    conf = lu.write_conf(env.dir)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    p = procs.start(["setpriv", f"--reuid={lu.ROOT_TEST_UID}",
                     f"--regid={lu.ROOT_TEST_GID}", "--clear-groups",
                     prog("sandmail-lspawn"), "-c", conf], stdin=b)
    b.close()
    ls = lu.Lspawn.__new__(lu.Lspawn)
    ls.sock, ls.proc, ls.next_id, ls.results = a, p, 1, {}
    m = env.msg(b"single\n")
    st, text = ls.deliver(m, "u@example.org", env.maildir + "/",
                          uid=lu.ROOT_TEST_UID + 1, gid=lu.ROOT_TEST_GID)
    assert st == "Z" and "own uid" in text
    st, text = ls.deliver(m, "u@example.org", env.maildir + "/")
    assert st == "K", text
    assert len(lu.read_new(env.maildir)) == 1
    assert ls.close() == 0


def test_bad_jobs(env):
    ls = env.start()
    # no descriptor
    st, text = ls.deliver(None, "u@example.org", env.maildir + "/")
    assert st == "Z" and "no message" in text
    # a pipe is not a regular file
    r, w = os.pipe()
    st, text = ls.deliver(None, "u@example.org", env.maildir + "/", fd=r)
    os.close(r)
    os.close(w)
    assert st == "Z" and "regular" in text
    m = env.msg(b"x\n")
    for dest in ["relative/Maildir/", env.maildir, env.dir + "/../x/", ""]:
        st, text = ls.deliver(m, "u@example.org", dest)
        assert st == "Z", (dest, text)
    # a maildir that cannot be created: temporary
    st, text = ls.deliver(m, "u@example.org", "/proc/nonexistent/a/b/c/")
    assert st == "Z" and "maildir" in text
    assert lu.maildir_files(env.maildir) == []
    ls.close()


def test_protocol_garbage_ends_lspawn(env):
    ls = env.start()
    ls.sock.send(b"L\x00\x00")
    assert ls.proc.wait(30) == 111


def test_two_descriptors_end_lspawn(env):
    ls = env.start()
    m = env.msg(b"x\n")
    fds = [os.open(m, os.O_RDONLY), os.open(m, os.O_RDONLY)]
    job = lu.ljob_encode(1, "Q", "s@x", "u@example.org", env.maildir + "/",
                         *lu.test_ids())
    socket.send_fds(ls.sock, [job], fds)
    for fd in fds:
        os.close(fd)
    assert ls.proc.wait(30) == 111
    assert lu.maildir_files(env.maildir) == []


def test_report_text_is_bounded(env):
    ls = env.start(local_allow_programs="yes")
    st, text = ls.deliver(env.msg(b"x\n"), "u@example.org",
                          "|head -c 100000 /dev/zero | tr '\\0' a; "
                          "printf '\\001\\n\\n'; exit 111")
    assert st == "Z"
    assert len(text.encode()) <= 4096 and set(text) <= {"a", " "}, text[:80]
    ls.close()


def test_eof_waits_for_deliveries(env):
    ls = env.start()
    ids = [ls.send(env.msg(b"m%d\n" % i), "u@example.org", env.maildir + "/")
           for i in range(5)]
    ls.sock.shutdown(socket.SHUT_WR)
    for j in ids:
        assert ls.result(j)[0] == "K"
    assert ls.proc.wait(30) == 0
    assert len(lu.maildir_files(env.maildir)) == 5


def test_children_limit_is_backpressure(env):
    ls = env.start(lspawn_children=2)
    ids = [ls.send(env.msg(b"n%d\n" % i), "u@example.org", env.maildir + "/")
           for i in range(12)]
    for j in ids:
        st, text = ls.result(j)
        assert st == "K", text
    assert len(lu.maildir_files(env.maildir)) == 12
    assert ls.close() == 0


def test_sigterm_finishes_deliveries_under_way(env):
    ls = env.start(local_allow_programs="yes")
    j = ls.send(env.msg(b"x\n"), "u@example.org",
                "|read line; sleep 1; echo slept well")
    wait_for(lambda: lu.lspawn_children(ls.proc.pid), what="a delivery")
    os.kill(ls.proc.pid, signal.SIGTERM)
    st, text = ls.result(j)
    assert (st, text) == ("K", "slept well")
    assert ls.proc.wait(30) == 0
    ls.sock.close()
    # idle, with the allow-list filter (no programs): exits 0 at once
    ls = env.start()
    assert ls.deliver(env.msg(b"y\n"), "u@example.org",
                      env.maildir + "/")[0] == "K"
    os.kill(ls.proc.pid, signal.SIGTERM)
    assert ls.proc.wait(30) == 0
    ls.sock.close()


def test_program_delivery_off(env):
    ls = env.start()
    out = os.path.join(env.home, "out")
    st, text = ls.deliver(env.msg(b"x\n"), "u@example.org", f"|cat > {out}")
    assert st == "X" and "not allowed" in text
    assert not os.path.exists(out)
    ls.close()


def test_program_delivery_on(env):
    ls = env.start(local_allow_programs="yes")
    out = os.path.join(env.home, "out")
    envf = os.path.join(env.home, "env")
    msg = b"Subject: prog\n\nbody\n"
    cmd = (f'|cat > {out}; echo "$SENDER|$RECIPIENT|$QID|$(id -u)" > {envf}; '
           'echo all good')
    st, text = ls.deliver(env.msg(msg), "u@example.org", cmd,
                          sender="s@example.org", qid="Q42")
    assert st == "K", text
    with open(out, "rb") as f:
        assert f.read() == msg
    with open(envf) as f:
        uid = lu.test_ids()[0]
        assert f.read().strip() == f"s@example.org|u@example.org|Q42|{uid}"
    for cmd, want, words in [("|echo no such user; exit 100", "X",
                              "no such user"),
                             ("|echo try later; exit 111", "Z", "try later"),
                             ("|exit 3", "Z", "3"),
                             ("|kill -9 $$", "Z", "signal")]:
        st, text = ls.deliver(env.msg(msg), "u@example.org", cmd)
        assert st == want, (cmd, text)
        assert words in text, (cmd, text)
    # the loop check also guards programs
    loop = b"Delivered-To: u@example.org\n\nx\n"
    st, text = ls.deliver(env.msg(loop), "u@example.org", f"|cat > {out}2")
    assert st == "X" and "loop" in text
    assert not os.path.exists(out + "2")
    ls.close()


def test_program_timeout(env):
    ls = env.start(local_allow_programs="yes", local_timeout="1s")
    st, text = ls.deliver(env.msg(b"x\n"), "u@example.org",
                          "|exec sleep 60")
    assert st == "Z" and "timed out" in text, text
    ls.close()


def test_maildir_parents_created(env):
    ls = env.start()
    m = env.msg(b"x\n")
    # a virtual mailbox: domain and user directories made on the way
    vm = os.path.join(env.home, "vmail", "example.org", "alice")
    st, text = ls.deliver(m, "alice@example.org", vm + "/")
    assert st == "K", text
    for p in [os.path.join(env.home, "vmail"), vm, vm + "/new"]:
        assert os.stat(p).st_mode & 0o777 == 0o700, p
    # but not without end
    deep = os.path.join(env.home, "a", "b", "c", "d", "e")
    st, text = ls.deliver(m, "alice@example.org", deep + "/")
    assert st == "Z" and "maildir" in text, text
    assert not os.path.exists(os.path.join(env.home, "a"))
    ls.close()


@pytest.mark.skipif(not ROOT, reason="mounting a small tmpfs needs root")
def test_disk_full_is_temporary_and_leaves_nothing(env):
    mnt = os.path.join(env.dir, "small")
    os.mkdir(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700",
                    "tmpfs", mnt], check=True)
    try:
        lu.own_dir(mnt)
        md = os.path.join(mnt, "Maildir")
        ls = env.start()
        big = env.msg(b"Subject: big\n\n" + (b"x" * 79 + b"\n") * 8192)
        st, text = ls.deliver(big, "u@example.org", md + "/")
        assert st == "Z", text
        assert "full" in text
        assert lu.maildir_files(md) == []
        assert lu.maildir_files(md, "tmp") == []
        st, text = ls.deliver(env.msg(b"small\n"), "u@example.org", md + "/")
        assert st == "K", text
        ls.close()
    finally:
        subprocess.run(["umount", mnt], check=True)


@pytest.fixture
def two_users(env):
    if not ROOT:
        pytest.skip("creating real users needs root")
    users = []
    try:
        for i in range(2):
            name = f"smt{uuid.uuid4().hex[:8]}"
            home = os.path.join(env.dir, name)
            subprocess.run(["useradd", "-m", "-d", home, "-s",
                            "/usr/sbin/nologin", "-K", "UID_MIN=20000",
                            "-K", "UID_MAX=29999", name], check=True,
                           capture_output=True)
            import pwd
            pw = pwd.getpwnam(name)
            users.append((name, pw.pw_uid, pw.pw_gid, home))
        yield users
    finally:
        for u in users:
            subprocess.run(["userdel", "-r", u[0]], capture_output=True)


def test_maildir_ownership_two_users(env, two_users):
    ls = env.start()
    m = env.msg(b"Subject: owned\n\nx\n")
    for name, uid, gid, home in two_users:
        st, text = ls.deliver(m, f"{name}@example.org", home + "/Maildir/",
                              uid=uid, gid=gid)
        assert st == "K", text
        for sub in ["", "tmp", "new", "cur"]:
            s = os.stat(os.path.join(home, "Maildir", sub))
            assert (s.st_uid, s.st_gid) == (uid, gid), sub
            assert s.st_mode & 0o777 == 0o700, sub
        f = os.path.join(home, "Maildir", "new",
                         lu.maildir_files(home + "/Maildir")[0])
        s = os.stat(f)
        assert (s.st_uid, s.st_gid) == (uid, gid)
        assert s.st_mode & 0o777 == 0o600
    # one user's delivery cannot write into the other's home
    (n1, u1, g1, h1), (n2, u2, g2, h2) = two_users
    os.chmod(h2, 0o700)
    st, text = ls.deliver(m, f"{n2}@example.org", h2 + "/Other/",
                          uid=u1, gid=g1)
    assert st == "Z" and "Permission denied" in text
    assert not os.path.exists(h2 + "/Other")
    ls.close()


@pytest.mark.parametrize("exec_local", [False, True])
def test_child_in_place_or_exec(env, exec_local):
    """By default the delivery runs in lspawn's forked child without exec;
    lspawn_exec yes execs sandmail-local.  Either way the child holds only
    fds 0-2 (the message, the report pipe, the log), runs as the
    recipient under two filters, and delivers the same bytes."""
    big = os.path.join(env.dir, "sparse")
    with open(big, "wb") as f:
        f.truncate(4 << 30)		# slow enough to look at the child
    ls = env.start(lspawn_exec="yes" if exec_local else "no")
    j = ls.send(big, "u@example.org", env.maildir + "/")
    tmp = os.path.join(env.maildir, "tmp")
    wait_for(lambda: os.path.isdir(tmp) and any(
        os.path.getsize(os.path.join(tmp, f)) > 0 for f in os.listdir(tmp)),
        what="a partial file in tmp/")
    kids = lu.lspawn_children(ls.proc.pid)
    assert len(kids) == 1
    exe = os.readlink(f"/proc/{kids[0]}/exe")
    want = "sandmail-local" if exec_local else "sandmail-lspawn"
    assert os.path.basename(exe) == want, exe
    fds = sorted(int(x) for x in os.listdir(f"/proc/{kids[0]}/fd"))
    # 0-2, and the maildir's descriptors opened by the delivery itself
    for fd in fds[3:]:
        target = os.readlink(f"/proc/{kids[0]}/fd/{fd}")
        assert target.startswith(env.maildir), (fd, target)
    st = proc_status(kids[0])
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
    assert st["Uid"].split()[0] == str(lu.test_ids()[0])
    os.kill(kids[0], signal.SIGKILL)
    assert ls.result(j)[0] == "Z"
    st, text = ls.deliver(env.msg(MSG), "u@example.org", env.maildir + "/",
                          sender="s@example.org")
    assert st == "K", text
    assert lu.read_new(env.maildir) == [
        lu.expected(MSG, "s@example.org", "u@example.org")]
    assert ls.close() == 0


def test_lspawn_looks_up_the_recipient_itself(env):
    """local_lookup: lspawn takes uid, gid and maildir from its own lookup
    of the job's recipient, not from send (issue 20 item 1).  A /path is
    delivered only when it is a target of the recipient's alias."""
    uid, gid = lu.test_ids()
    etc = os.path.join(env.dir, "etc")
    os.mkdir(etc)
    arch = os.path.join(env.dir, "arch")
    os.mkdir(arch)
    if ROOT:
        os.chown(arch, 65534, 65534)
    tables = {"domains": "test.example local\n",
              "localusers": f"alice {uid}:{gid}:{env.home}\n",
              "aliases": f"archive@test.example {arch}/Maildir/\n"}
    for name, text in tables.items():
        with open(os.path.join(etc, name), "w") as f:
            f.write(text)
    subprocess.run([prog("sandmail-cdb"), "-d", etc] + list(tables),
                   check=True)
    ls = env.start(local_lookup="yes", tables=etc, local_uid_max=65534,
                   user_alias="nobody", user_vmail="nobody")
    evil = os.path.join(env.dir, "evil")
    # send claims another maildir and uid: lspawn delivers to alice's
    st, text = ls.deliver(env.msg(MSG), "alice@test.example",
                          evil + "/Maildir/", uid=uid + 1, gid=gid + 1)
    assert st == "K", text
    assert len(lu.read_new(env.maildir)) == 1
    assert not os.path.exists(evil)
    st, text = ls.deliver(env.msg(MSG), "Alice+x@TEST.example",
                          env.maildir + "/")
    assert st == "K", text
    assert len(lu.read_new(env.maildir)) == 2
    # an alias's /path target: as user_alias
    st, text = ls.deliver(env.msg(MSG), "archive@test.example",
                          arch + "/Maildir/")
    assert st == "K", text
    assert len(lu.read_new(arch + "/Maildir")) == 1
    if ROOT:
        assert os.stat(arch + "/Maildir").st_uid == 65534
    # a path the alias does not name, unknown and foreign recipients
    for rcpt, dest in (("archive@test.example", evil + "/Maildir/"),
                       ("nosuch@test.example", evil + "/Maildir/"),
                       ("x@remote.example", evil + "/Maildir/")):
        st, text = ls.deliver(env.msg(MSG), rcpt, dest)
        assert st != "K", (rcpt, text)
    assert not os.path.exists(evil)
    # a user added since: lspawn maps the new table at once (under its
    # filter) rather than refuse what send, already up to date, asks
    bob = os.path.join(env.dir, "bob")
    os.mkdir(bob)
    lu.own_dir(bob)
    with open(os.path.join(etc, "localusers"), "a") as f:
        f.write(f"bob {uid}:{gid}:{bob}\n")
    subprocess.run([prog("sandmail-cdb"), "-d", etc, "localusers"],
                   check=True)
    st, text = ls.deliver(env.msg(MSG), "bob@test.example", bob + "/Maildir/")
    assert st == "K", text
    assert len(lu.read_new(bob + "/Maildir")) == 1
    assert ls.close() == 0
    with open(env.log, "rb") as f:
        assert b'op="own lookup"' in f.read()
