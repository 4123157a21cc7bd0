"""scripts/setup into a scratch root (DESTDIR) twice: the second run changes
nothing (a tree listing with modes, owners, contents and mtimes compared),
and sandmail-check passes on the result and notices a stale table."""
import base64
import os
import shutil
import subprocess
import time

import pytest

from conftest import BUILD, ROOT
from runutil import scratch, tree

SETUP = os.path.join(ROOT, "scripts", "setup")
CHECK = os.path.join(ROOT, "scripts", "sandmail-check")


@pytest.fixture
def destdir():
    d = scratch("sandmail-setup.")
    # the scratch root's own accounts: setup builds localusers from them
    # (not from /etc/passwd, which other tests may change meanwhile)
    os.makedirs(os.path.join(d, "etc"))
    with open(os.path.join(d, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n"
                "alice:x:1001:1001:Alice:/home/alice:/bin/sh\n")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run_setup(d, *args):
    env = dict(os.environ, DESTDIR=d)
    return subprocess.run([SETUP, "--bindir", BUILD] + list(args), env=env,
                          capture_output=True, text=True, timeout=120)


def check(d, *args):
    return subprocess.run([CHECK, "--root", d, "--sbin", BUILD,
                           "--no-ports"] + list(args),
                          capture_output=True, text=True, timeout=60)


def test_setup_twice_changes_nothing(destdir):
    r = run_setup(destdir)
    assert r.returncode == 0, r.stdout + r.stderr
    etc = os.path.join(destdir, "etc", "sandmail")
    q = os.path.join(destdir, "var", "spool", "sandmail")
    for t in ("domains", "aliases", "relayclients", "routes", "relay_auth",
              "users"):
        assert os.path.isfile(os.path.join(etc, t)), t
        assert os.path.isfile(os.path.join(etc, t + ".cdb")), t
    assert os.path.isfile(os.path.join(etc, "localusers.cdb"))
    out = subprocess.run([os.path.join(BUILD, "sandmail-cdb"), "-d", etc,
                          "-q", "localusers", "alice"],
                         capture_output=True, text=True)
    assert out.stdout.startswith("1001:1001:/home/alice"), out
    for sub in ("tmp", "mess", "todo", "info", "local", "remote",
                "bounce", "lock"):
        assert os.path.isdir(os.path.join(q, sub)), sub
    # no system user is made under DESTDIR, it says so instead
    assert "would create system user sandmailq" in r.stdout
    # the default sandmail.conf lists keys, commented, by program
    conf = open(os.path.join(etc, "sandmail.conf")).read()
    for key in ("#max_message_size 35m", "#queue_lifetime 5d",
                "#smtpd_timeout 300", "#local_uid_min 1000"):
        assert key in conf, key
    assert os.stat(os.path.join(etc, "users")).st_mode & 0o777 == 0o640
    # smart-host credentials: their own table, secret like users
    assert os.stat(os.path.join(etc, "relay_auth")).st_mode & 0o777 == 0o640
    assert os.stat(os.path.join(etc, "relay_auth.cdb")).st_mode & 0o777 \
        == 0o640
    assert os.stat(os.path.join(etc, "tls", "key.pem")).st_mode & 0o777 \
        == 0o600

    before = tree(destdir)
    time.sleep(1.1)                 # an mtime that changes would show
    r = run_setup(destdir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "nothing to do" in r.stdout
    assert tree(destdir) == before

    r = check(destdir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 failed" in r.stdout
    assert "domains.cdb: compiled, up to date" in r.stdout


def test_setup_dkim_keys_closed(destdir):
    """The DKIM keys: a directory only root and the signer's group read,
    and key files made 0640 (a key anyone could read is fixed)."""
    r = run_setup(destdir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "would create system user sandmailk" in r.stdout
    keys = os.path.join(destdir, "etc", "sandmail", "dkimkeys")
    assert os.stat(keys).st_mode & 0o777 == 0o750
    r = subprocess.run([os.path.join(BUILD, "sandmail-dkim"), "keygen",
                        "-k", keys, "example.org", "ed", "ed25519"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    k = os.path.join(keys, "example.org.ed.key")
    assert os.stat(k).st_mode & 0o777 == 0o640
    with open(os.path.join(destdir, "etc", "sandmail", "dkim"), "w") as f:
        f.write("example.org ed dkimkeys/example.org.ed.key\n")
    os.chmod(k, 0o644)
    r = check(destdir)
    assert "others may read the key" in r.stdout, r.stdout
    r = run_setup(destdir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.stat(k).st_mode & 0o777 == 0o640
    r = check(destdir)
    assert "example.org.ed.key: mode 640" in r.stdout, r.stdout
    assert "0 failed" in r.stdout, r.stdout


def test_check_finds_problems(destdir):
    assert run_setup(destdir).returncode == 0
    etc = os.path.join(destdir, "etc", "sandmail")
    # a table edited but not compiled
    with open(os.path.join(etc, "domains"), "a") as f:
        f.write("example.org local\n")
    past = time.time() - 60          # the .cdb is older than the edit
    os.utime(os.path.join(etc, "domains.cdb"), (past, past))
    # a queue directory with the wrong mode
    os.chmod(os.path.join(destdir, "var", "spool", "sandmail", "todo"), 0o777)
    r = check(destdir)
    assert r.returncode == 1, r.stdout
    assert "domains: changed since domains.cdb was made" in r.stdout
    assert "todo: mode 777, want 2770" in r.stdout
    # setup puts both right again (and keeps the edit)
    r = run_setup(destdir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "compiled /etc/sandmail/domains.cdb" in r.stdout
    r = check(destdir)
    assert r.returncode == 0, r.stdout
    out = subprocess.run([os.path.join(BUILD, "sandmail-cdb"), "-d", etc,
                          "-q", "domains", "example.org"],
                         capture_output=True, text=True)
    assert out.stdout.strip() == "local"


def test_check_ports(destdir):
    """The port check fails when nothing listens, passes when it does."""
    import socket
    assert run_setup(destdir).returncode == 0
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = subprocess.run([CHECK, "--root", destdir, "--sbin", BUILD,
                            "--ports", str(port)],
                           capture_output=True, text=True, timeout=60)
        assert f"ok    port {port}: listening" in r.stdout, r.stdout
    finally:
        s.close()
    r = subprocess.run([CHECK, "--root", destdir, "--sbin", BUILD,
                        "--ports", str(port)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and f"port {port}: nothing listens" in r.stdout


def test_setup_dry_run(destdir):
    r = run_setup(destdir, "-n")
    assert r.returncode == 0, r.stderr
    assert "would" in r.stdout
    assert sorted(os.listdir(destdir)) == ["etc"]
    assert os.listdir(os.path.join(destdir, "etc")) == ["passwd"]


def test_install_then_setup(destdir):
    """make install into the scratch root (programs, sandmail-check,
    sendmail links, man pages, setup, service dirs), then the installed
    setup and sandmail-check on that tree."""
    args = ["make", "-s", "install", f"DESTDIR={destdir}", "SENDMAIL_LINKS=1"]
    if os.path.basename(BUILD) == "build-asan":
        args.append("SANITIZE=1")
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    usr = os.path.join(destdir, "usr", "local")
    sbin = os.path.join(usr, "sbin")
    for p in ("sandmail-smtpd", "sandmail-queue", "sandmail-inject",
              "sandmail-check"):
        assert os.access(os.path.join(sbin, p), os.X_OK), p
    assert os.readlink(os.path.join(sbin, "sendmail")) == \
        "/usr/local/sbin/sandmail-inject"
    assert os.readlink(os.path.join(usr, "bin", "mailq")) == \
        "/usr/local/sbin/sandmail-inject"
    man = os.path.join(usr, "share", "man")
    for p in ("man5/sandmail.conf.5", "man7/sandmail.7",
              "man8/sandmail-inject.8", "man8/sandmail-check.8"):
        assert os.path.isfile(os.path.join(man, p)), p
    lib = os.path.join(usr, "libexec", "sandmail")
    assert os.access(os.path.join(lib, "runit", "sandmail-smtpd", "run"),
                     os.X_OK)
    assert os.path.isfile(os.path.join(lib, "systemd",
                                       "sandmail-smtpd.service"))
    r = subprocess.run([os.path.join(lib, "setup")],
                       env=dict(os.environ, DESTDIR=destdir),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([os.path.join(sbin, "sandmail-check"), "--root",
                        destdir, "--no-ports"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout
    assert f"ok    {sbin}/sandmail-smtpd" in r.stdout


def test_setup_makes_the_srs_secret(destdir):
    """The SRS secret: random, one line, 0640 (group: send's), kept as it
    is on a second run, and its mode fixed if someone opened it."""
    r = run_setup(destdir)
    assert r.returncode == 0, r.stdout + r.stderr
    f = os.path.join(destdir, "etc", "sandmail", "srs.secret")
    assert os.stat(f).st_mode & 0o777 == 0o640
    with open(f, "rb") as fh:
        first = fh.read()
    assert first.endswith(b"\n") and first.count(b"\n") == 1
    assert len(base64.b64decode(first.strip())) == 32
    os.chmod(f, 0o644)
    with open(os.path.join(destdir, "etc", "sandmail", "sandmail.conf"),
              "a") as c:
        c.write("srs_domain example.org\n")
    r = check(destdir)
    assert "others may read the SRS secret" in r.stdout, r.stdout
    r = run_setup(destdir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.stat(f).st_mode & 0o777 == 0o640
    assert open(f, "rb").read() == first
    r = check(destdir)
    assert "srs.secret: mode 640" in r.stdout, r.stdout
