"""Least privilege, proven: each process's own sandbox entry, then an
attacker with code execution in it (testtools/probe.c).

sandmail-probe sets itself up exactly as the program does, by calling the
program's own function (queue_sandbox, send_sandbox, lspawn's
lfork_start + lspawn_sandbox, the forker's lfork_enter, a worker's
lfork_become + lwork_enter, resolve_sandbox), then tries to read a
root-only file, create, rename, link or remove files outside its
directory (by an absolute path, by a path relative to its own directory
descriptor and by "../"), make a directory, connect anywhere over TCP or
UDP, change uid, ptrace a process of its own kind, write another user's
maildir, exec.  Every attempt must fail: an errno or SIGSYS.  The rows
of doc/design.md's process table are checked here, role by role.

As root (CI) every role runs under its real uid (nobody here: the host's
users are not ours to change) and the worker as a test uid; as a plain
user the uid parts are skipped with a reason."""
import os
import shutil
import socket
import subprocess
import tempfile

import pytest

import localutil as lu
from conftest import free_port, proc_status, prog, wait_for

ROOT = os.geteuid() == 0
UID = lu.ROOT_TEST_UID

FILE_ATTACKS = ["read-secret", "read-out", "create-abs", "create-dirfd-abs",
                "create-dotdot", "create-root", "unlink-root", "mkdir-out",
                "rename-out", "link-out", "unlink-out", "maildir"]
OTHER_ATTACKS = ["connect", "udp", "setuid-root", "setuid-other", "ptrace",
                 "clone-ns", "exec"]
ALL = FILE_ATTACKS + OTHER_ATTACKS


def _sanitized():
    r = subprocess.run([prog("sandmail-probe"), "-S"], capture_output=True,
                       text=True)
    return r.stdout.strip() == "sanitize yes"


# A SANITIZE=1 build's base filter lets the sanitizer runtime open files,
# ptrace and clone with any flags (lib/sbx.c): no role is checked for a
# new namespace there, and the roles whose filter alone keeps them from
# files (no Landlock: lspawn, an smtpd session, rspawn, the auth service
# and its workers, the SRS check service) are not checked
# for those attacks.  Release builds never carry those calls.
SANITIZED = _sanitized()
ASAN_ALLOWS = {"read-secret", "read-out", "read-users", "create-abs",
               "create-dirfd-abs",
               "create-dotdot", "create-root", "maildir", "ptrace"}


def checked(role, attacks):
    if not SANITIZED:
        return attacks
    # clone with any flags (LeakSanitizer's tracer) for every role
    attacks = [a for a in attacks if a != "clone-ns"]
    if role in ("lspawn", "smtpd", "rspawn", "remote-worker", "auth",
                "auth-worker", "srs"):
        return [a for a in attacks if a not in ASAN_ALLOWS]
    return attacks


@pytest.fixture
def scene():
    """A scratch world: a queue, a root-only secret, a world-writable
    directory outside (so that only the sandbox can stop a write there),
    a root-owned one, another user's (world-writable) maildir, a TCP
    listener to reach."""
    d = tempfile.mkdtemp(prefix="sandmail-contain-")
    os.chmod(d, 0o755)
    p = lambda *a: os.path.join(d, *a)
    for sub in ["out", "rootdir", "tables", "home", "empty",
                "other/Maildir/new", "other/Maildir/tmp",
                "other/Maildir/cur"]:
        os.makedirs(p(sub), exist_ok=True)
    for sub in ["out", "other/Maildir", "other/Maildir/new",
                "other/Maildir/tmp"]:
        os.chmod(p(sub), 0o777)
    with open(p("out", "victim"), "w") as f:
        f.write("victim\n")
    os.chmod(p("out", "victim"), 0o666)
    with open(p("rootdir", "keep"), "w") as f:
        f.write("keep\n")
    with open(p("secret"), "w") as f:
        f.write("secret\n")
    os.chmod(p("secret"), 0o600)
    for sub in ["new", "cur", "tmp"]:
        os.makedirs(p("home", "Maildir", sub))
        os.makedirs(p("home", "Maildir2", sub))
    if ROOT:
        for r, ds, fs in os.walk(p("home")):
            os.chown(r, UID, UID)
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(16)
    user = "nobody" if ROOT else None
    conf = {"queue": p("queue"), "tables": p("tables"),
            "bindir": os.path.dirname(prog("sandmail-local")),
            "empty_dir": p("empty"),
            "nameserver": f"127.0.0.1:{free_port()}"}
    if user:
        conf.update(user_queue=user, user_send=user, user_resolve=user,
                    user_lspawn=user, user_pop3d=user, user_smtpd=user,
                    user_remote=user, user_auth=user, user_srs=user)
    with open(p("sandmail.conf"), "w") as f:
        for k, v in conf.items():
            f.write(f"{k} {v}\n")
    subprocess.run([prog("sandmail-queue"), "-i", "-c", p("sandmail.conf")],
                   check=True, capture_output=True)
    yield {"dir": d, "conf": p("sandmail.conf"),
           "addr": "127.0.0.1:%d" % lsn.getsockname()[1]}
    lsn.close()
    shutil.rmtree(d, ignore_errors=True)


def probe(scene, role, attacks, *extra):
    d = scene["dir"]
    argv = [prog("sandmail-probe"), "-c", scene["conf"],
            "-s", os.path.join(d, "secret"), "-o", os.path.join(d, "out"),
            "-r", os.path.join(d, "rootdir"),
            "-m", os.path.join(d, "other", "Maildir"),
            "-a", scene["addr"], *extra, role, *attacks]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    got = {}
    for line in r.stdout.splitlines():
        name, what = line.split(" ", 1)
        got[name] = what
    assert sorted(got) == sorted(attacks), (r.stdout, r.stderr)
    if any(v.startswith("error") for v in got.values()):
        print(r.stderr)
    return got


def assert_blocked(got, attacks):
    leaks = {a: got[a] for a in attacks if not got[a].startswith("blocked")}
    assert not leaks, leaks


def assert_untouched(scene):
    d = scene["dir"]
    assert sorted(os.listdir(os.path.join(d, "out"))) == ["victim"]
    assert os.listdir(os.path.join(d, "rootdir")) == ["keep"]
    assert os.listdir(os.path.join(d, "other", "Maildir", "new")) == []


@pytest.mark.parametrize("role", ["queue", "send", "resolve", "lspawn"])
def test_role_contains_an_attacker(scene, role):
    """queue and send: Landlock keeps every path in the queue (send: and
    its tables, read-only), whatever descriptor or "../" a call names;
    resolve: no file, connect only to its name servers; lspawn, root:
    no file call, no uid change, no fork, no exec."""
    got = probe(scene, role, checked(role, ALL))
    assert_blocked(got, checked(role, ALL))
    assert_untouched(scene)


def test_queue_filter_alone_let_abs_paths_through(scene):
    """The hole Landlock closes: the queue's filter lets openat name its
    directory's descriptor with any path, so without Landlock an absolute
    path or "../" would leave the queue.  The probe's answers are errno
    values (EACCES from Landlock), not SIGSYS from the filter."""
    got = probe(scene, "queue", ["create-dirfd-abs", "create-dotdot",
                                 "unlink-out"])
    assert got == {"create-dirfd-abs": "blocked EACCES",
                   "create-dotdot": "blocked EACCES",
                   "unlink-out": "blocked EACCES"}


@pytest.mark.skipif(not ROOT, reason="the worker's uid drop needs root")
def test_worker_contains_an_attacker(scene):
    """A maildir worker, as lspawn's forker makes it: the forker's
    filter, the recipient's uid with no capability, Landlock on its
    maildir, its own filter.  It can write its own maildir only."""
    md = os.path.join(scene["dir"], "home", "Maildir") + "/"
    attacks = checked("worker", ALL)
    got = probe(scene, "worker", attacks, "-u", str(UID), "-g", str(UID),
                "-d", md)
    assert_blocked(got, attacks)
    # openat on its tmp/ descriptor with the delivery's own flags passes
    # the filter; only Landlock stops the path from leaving the maildir
    assert got["create-dirfd-abs"] == "blocked EACCES"
    assert got["create-dotdot"] == "blocked EACCES"
    assert_untouched(scene)


@pytest.mark.skipif(not ROOT, reason="the forker's identity needs root")
def test_forker_holds_no_root(scene):
    """lspawn's forker keeps of root only CAP_SETUID and CAP_SETGID, as
    user_lspawn: it cannot read or write what only root may, cannot
    become root (setuid and setresuid below local_uid_min are not in
    its filter), and has no network, no ptrace, no exec of its own.  What
    it can do is its job: become a recipient (setuid-other, uid 4242)."""
    attacks = ["read-secret", "create-root", "unlink-root", "setuid-root",
               "connect", "udp", "ptrace", "exec", "setgid-system",
               "setgroups-system"]
    got = probe(scene, "lfork", attacks + ["setuid-other"])
    assert_blocked(got, attacks)
    assert got["setuid-other"] == "SUCCEEDED"
    assert os.listdir(os.path.join(scene["dir"], "rootdir")) == ["keep"]


@pytest.mark.skipif(not ROOT, reason="lspawn is root only when started so")
def test_running_lspawn_and_forker_identities(tmp_path, procs):
    """The running lspawn and its forker as /proc shows them: neither is
    root.  lspawn is user_lspawn with CAP_KILL (its workers run as other
    users) and CAP_DAC_READ_SEARCH (its tables, under Landlock); the
    forker user_lspawn with CAP_SETUID and CAP_SETGID; both filtered."""
    ls = lu.Lspawn(procs, lu.write_conf(str(tmp_path), user_lspawn="nobody"))
    try:
        wait_for(lambda: lu.lspawn_forker(ls.proc.pid), what="the forker")
        f = lu.lspawn_forker(ls.proc.pid)
        wait_for(lambda: proc_status(f)["Seccomp"] == "2",
                 what="the forker's filter")
        st = proc_status(f)
        assert st["Uid"].split() == ["65534"] * 4
        assert int(st["CapEff"], 16) == (1 << 6) | (1 << 7)
        assert int(st["CapPrm"], 16) == (1 << 6) | (1 << 7)
        assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
        wait_for(lambda: proc_status(ls.proc.pid)["Seccomp"] == "2",
                 what="lspawn's filter")
        mine = proc_status(ls.proc.pid)
        assert mine["Uid"].split() == ["65534"] * 4
        assert int(mine["CapEff"], 16) == (1 << 5) | (1 << 2)
        assert int(mine["CapBnd"], 16) == (1 << 5) | (1 << 2)
    finally:
        ls.close()


def test_pop3_mailbox_contains_an_attacker(scene):
    """A pop3d session after login: the mailbox owner (no capability
    left, as root), Landlock on that maildir, its filter: nothing
    outside the maildir, no other maildir, no network, no uid."""
    md = os.path.join(scene["dir"], "home", "Maildir") + "/"
    ids = ["-u", str(UID), "-g", str(UID)] if ROOT else \
        ["-u", str(os.getuid()), "-g", str(os.getgid())]
    md2 = os.path.join(scene["dir"], "home", "Maildir2") + "/"
    attacks = checked("pop3-mailbox", ALL)
    got = probe(scene, "pop3-mailbox", attacks, "-d", md, "-D", md2, *ids)
    assert_blocked(got, attacks)
    assert_untouched(scene)


@pytest.mark.skipif(not ROOT, reason="the monitor's identity needs root")
def test_pop3_monitor_holds_no_root(scene):
    """A pop3d connection's monitor (it reads the login process's
    records): user_pop3d with only CAP_SETUID and CAP_SETGID, so it can
    neither read nor write what only root may, nor become root; it can
    become a mailbox owner, which is its job."""
    attacks = ["read-secret", "create-root", "unlink-root", "setuid-root",
               "connect", "udp", "ptrace", "exec", "setgid-system",
               "setgroups-system"]
    got = probe(scene, "pop3-monitor", attacks + ["setuid-other"])
    assert_blocked(got, attacks)
    assert got["setuid-other"] == "SUCCEEDED"
    assert os.listdir(os.path.join(scene["dir"], "rootdir")) == ["keep"]


def test_smtpd_session_contains_an_attacker(scene):
    """An smtpd session as its listener forks it: no file, no socket, no
    uid, no exec; and the listener's generation page, which the session
    reads to learn that the tables changed, cannot be made writable
    again (it used to be mprotected read-only: one mprotect undid it)."""
    attacks = checked("smtpd", ALL + ["genpage"])
    got = probe(scene, "smtpd", attacks)
    assert_blocked(got, attacks)
    assert got["genpage"] == "blocked EACCES"
    assert_untouched(scene)


def _fds_with(pid, target):
    out = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    out.append(int(fd))
            except OSError:
                pass
    except OSError:
        pass
    return out


def test_supervisor_fds_do_not_reach_sessions(procs, tmp_path):
    """A descriptor the supervisor leaves open (not close-on-exec) is
    closed by the smtpd listener at its start: it reaches neither a
    session nor anything a session execs."""
    import smtpdutil
    r, w = os.pipe()
    os.set_inheritable(w, True)
    target = os.readlink(f"/proc/self/fd/{w}")
    s = smtpdutil.Smtpd(procs, tmp_path, listen=False)
    port = free_port()
    with open(s.log, "ab") as lg:
        p = procs.start([prog("sandmail-smtpd"), "-c", s.conf, "-l",
                         f"127.0.0.1:{port}"], stderr=lg, pass_fds=(w,))
    os.close(w)
    from conftest import wait_port
    wait_port(port)
    c = smtpdutil.Client(port)
    kids = wait_for(lambda: smtpdutil.children(p.pid), what="a session")
    assert _fds_with(p.pid, target) == []
    for k in kids:
        assert _fds_with(k, target) == []
    c.close()
    os.close(r)


def users_table(scene, mode):
    """The scene's users table (one login), mode as asked: 0644 any user
    may read it, 0600 only root (a scratch layout's table)."""
    t = os.path.join(scene["dir"], "tables")
    with open(os.path.join(t, "users"), "w") as f:
        f.write("alice $argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA\n")
    r = subprocess.run([prog("sandmail-cdb"), "-c", scene["conf"], "users"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    os.chmod(os.path.join(t, "users.cdb"), mode)


AUTH_ATTACKS = ALL + ["read-users"]


@pytest.mark.parametrize("role", ["auth", "auth-worker"])
def test_auth_contains_an_attacker(scene, role):
    """sandmail-auth -s (the users table mapped before, its one socket)
    and its argon2 workers: user_auth with no capability, no file call at
    all (not even the users table again: only the opener may), no
    socket, no uid change, no ptrace, no exec."""
    users_table(scene, 0o644)
    attacks = checked(role, AUTH_ATTACKS)
    got = probe(scene, role, attacks)
    assert_blocked(got, attacks)
    assert_untouched(scene)


@pytest.mark.parametrize("mode", [0o644, 0o600])
def test_auth_opener_reads_the_users_table_only(scene, mode):
    """The auth service's table opener: it may open the users table
    (its job), nothing else: no other file (Landlock keeps it to the
    table's directory, read only), no file made, no network, no uid, no
    exec.  As root it is user_auth: with no capability when user_auth
    may read the table (the installed root:sandmaila 0640), and with
    CAP_DAC_READ_SEARCH alone, confined to the tables directory, when
    only root may (a scratch layout's 0600 table)."""
    users_table(scene, mode)
    attacks = checked("auth-opener", ALL)
    got = probe(scene, "auth-opener", attacks + ["read-users"])
    assert_blocked(got, attacks)
    # as root with a 0600 table, only CAP_DAC_READ_SEARCH reads it (the
    # running service's test checks that it is the one capability left)
    assert got["read-users"] == "SUCCEEDED"
    if ROOT:
        # that capability would read the secret too: Landlock stops it
        assert got["read-secret"] == "blocked EACCES"
    assert_untouched(scene)


@pytest.mark.skipif(not ROOT, reason="the drop to user_auth needs root")
def test_running_auth_service_holds_no_root(procs, tmp_path):
    """Every process of a running sandmail-auth -s started as root is
    user_auth, the table opener too (it used to keep root).  Here the
    table sits in a 0700 scratch directory only root may search, so the
    opener keeps CAP_DAC_READ_SEARCH alone, says so in the log, and still
    opens the table again after sandmail-passwd replaced it."""
    import test_exhaust as tx
    import smtpdutil
    site = tx.Site(procs, tmp_path, auth_workers=1)
    assert os.stat(str(tmp_path)).st_mode & 0o777 == 0o700
    top = site.s.auth.pid
    # this service's processes only (an installed layout of the same
    # test run has its own)
    wait_for(lambda: len(smtpdutil.children(top)) == 2,
             what="service, worker and opener")
    ps = [top] + smtpdutil.children(top)
    caps = []
    for p in ps:
        wait_for(lambda: proc_status(p)["Seccomp"] == "2",
                 what="the filter")
        st = proc_status(p)
        assert st["Uid"].split() == ["65534"] * 4, (p, st["Uid"])
        caps.append(int(st["CapEff"], 16))
    assert sorted(caps) == [0, 0, 1 << 2]
    assert "opener keeps CAP_DAC_READ_SEARCH" in site.s.authlog()
    # the opener still does its job: a new password takes effect
    r = subprocess.run([prog("sandmail-passwd"), "-c", site.conf, "alice"],
                       input=b"new pass\n", capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    _, sub = site.listen("submission")
    c = tx.connect(sub)
    c.reply()
    c.cmd("EHLO client.test")
    assert c.code(tx.plain("alice", "new pass")) == 235
    c.close()


@pytest.fixture
def strangers(scene):
    """What a root process may reach and no other: a root-owned 0600
    UNIX socket (as a docker or init socket is) and a process of another
    user (the test uid) to signal."""
    d = scene["dir"]
    path = os.path.join(d, "root.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o600)
    srv.listen(16)
    other = subprocess.Popen(["sleep", "600"], user=UID, group=UID)
    yield ["-U", path, "-k", str(other.pid)]
    other.kill()
    other.wait()
    srv.close()


LISTENER_ATTACKS = ALL + ["connect-unix", "signal-root", "signal-other"]


# what a pop3d listener's children must keep, so it keeps it too: any
# uid but root (the mailbox owner) and, as that user, reading, creating,
# renaming and removing files wherever that user may (a maildir may be
# anywhere): a world-readable or world-writable place is reached
POP3_LISTENER_KEEPS = {"read-out", "create-abs", "create-dirfd-abs",
                       "create-dotdot", "rename-out", "unlink-out",
                       "maildir", "setuid-other"}

# each listener role: the attacks it must stop, and the answers of those
# that root's DAC would allow (only the confinement stops them).  pop3d's
# keeps what its children need; with CAP_SETGID it could take a system
# group (shadow) or add it as a supplementary one: groups below
# local_gid_min and any supplementary group are refused (both SUCCEEDED
# before)
LISTENER_EXACT = {"read-secret": "blocked EACCES",
                  "connect-unix": "blocked EACCES",
                  "signal-root": "blocked EPERM",
                  "signal-other": "blocked EPERM",
                  "setuid-root": "blocked EPERM"}
LISTENER_ROLES = {
    "smtpd-listener": (LISTENER_ATTACKS, LISTENER_EXACT),
    "pop3-listener": (
        [a for a in LISTENER_ATTACKS if a not in POP3_LISTENER_KEEPS] +
        ["setgid-system", "setgroups-system"],
        dict(LISTENER_EXACT, **{"unlink-root": "blocked EACCES"})),
}


@pytest.mark.skipif(not ROOT, reason="root's powers are taken away as root")
@pytest.mark.parametrize("role", sorted(LISTENER_ROLES))
def test_listener_contains_an_attacker(scene, strangers, role):
    """A listener after its set-up, started as root as installed.  The
    smtpd listener (smtpd/lsbx.c) is user_smtpd now, keeping
    CAP_DAC_READ_SEARCH only; Landlock lets it read only its tables and
    TLS files, make no TCP connection but to a policy service, signal no
    process outside its own (its sessions); its deny-list filter stops
    every file change, exec, ptrace, new namespace, addressed UDP and any
    uid but user_smtpd's.  The pop3d listener (pop3d/lsbx.c) is
    user_pop3d with CAP_SETUID and CAP_SETGID alone; Landlock: no exec,
    no TCP, no signal outside its own; its deny-list: no link, mkdir,
    chmod, ptrace, namespace, exec, bind, uid 0.  Before, as root, both
    reached a root-only UNIX socket and signalled init and another
    user's process (pop3d's: every attack here SUCCEEDED)."""
    attacks, exact = LISTENER_ROLES[role]
    got = probe(scene, role, attacks, *strangers)
    assert_blocked(got, attacks)
    for a, want in exact.items():
        assert got[a] == want, (a, got[a])
    assert got["create-root"].startswith("blocked")
    assert_untouched(scene)


@pytest.mark.skipif(not ROOT, reason="the listener drops root only as root")
def test_running_smtpd_listener_is_filtered(procs, tmp_path):
    """A running smtpd listener started as root is user_smtpd with
    CAP_DAC_READ_SEARCH alone (bounding set included), filtered (Seccomp
    2), and still serves: a session greets and takes a message."""
    import smtpdutil
    s = smtpdutil.Smtpd(procs, tmp_path)
    # it listens before it confines itself: the port opens a moment early
    wait_for(lambda: proc_status(s.proc.pid)["Seccomp"] == "2",
             what="the listener's filter")
    st = proc_status(s.proc.pid)
    assert st["Uid"].split() != ["0"] * 4
    assert "0" not in st["Uid"].split()
    assert int(st["CapEff"], 16) == 1 << 2      # CAP_DAC_READ_SEARCH
    assert int(st["CapPrm"], 16) == 1 << 2
    assert int(st["CapBnd"], 16) == 1 << 2
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
    c = s.client()
    assert c.code("EHLO client.test") == 250
    assert c.code("MAIL FROM:<a@b.test>") == 250
    assert c.code("RCPT TO:<someone@localhost>") in (250, 550)
    c.close()


@pytest.mark.parametrize("role", ["rspawn", "remote-worker"])
def test_rspawn_contains_an_attacker(scene, role):
    """sandmail-rspawn and its workers (chrooted to an empty directory as
    root): no file, no uid, no ptrace, no exec, no new namespace (clone
    takes fork's flags only).  TCP to any address is their job (the MX
    hosts of any domain), so the probe's connect reaches the listener."""
    attacks = checked(role, [a for a in ALL if a != "connect"])
    # a worker sets TCP_NODELAY on its connection (remote/smtp.c) and
    # may set no other socket option (rspawn forks it under the same
    # rules, rspawn_sbx.c)
    sockopt = ["sockopt-cork", "sockopt-mark"]
    got = probe(scene, role,
                attacks + sockopt + ["connect", "sockopt-nodelay"])
    assert_blocked(got, attacks + sockopt)
    assert got["connect"] == "SUCCEEDED"
    assert got["sockopt-nodelay"] == "SUCCEEDED", got
    assert_untouched(scene)


def test_srs_contains_an_attacker(scene):
    """sandmail-srs, which holds the SRS secret and reads smtpd's
    sessions' requests (chrooted to an empty directory and user_srs as
    root): no file, no socket and no connect (only accept4 on its one
    listening socket), no uid change, no ptrace, no exec, no new
    namespace."""
    attacks = checked("srs", ALL)
    got = probe(scene, "srs", attacks)
    assert_blocked(got, attacks)
    assert_untouched(scene)


def test_sts_contains_an_attacker(scene):
    """sandmail-sts (chrooted into its cache as root): Landlock keeps every
    path beneath the cache directory, whatever descriptor or "../" a call
    names, and TCP connect to mta_sts_port only (the listener here is on
    another port); no sendto with an address, no uid, no ptrace, no exec,
    no new namespace."""
    d = scene["dir"]
    cache = os.path.join(d, "sts")
    os.mkdir(cache, 0o700)
    with open(scene["conf"], "a") as f:
        f.write(f"mta_sts_cache {cache}\nmta_sts_port {free_port()}\n")
        if ROOT:
            f.write("user_sts nobody\n")
    if ROOT:
        os.chown(cache, 65534, 65534)
    attacks = checked("sts", ALL)
    got = probe(scene, "sts", attacks)
    assert_blocked(got, attacks)
    assert_untouched(scene)
