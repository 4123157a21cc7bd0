"""Helpers for the "running it for real" tests: make run (scripts/run),
scripts/setup, the runit services, sandmail-inject.  Generic process
helpers live in conftest.py; these know our scripts and trees."""
import os
import signal
import stat
import subprocess
import time

from conftest import BUILD, ROOT, free_port, wait_for

SCRIPTS = os.path.join(ROOT, "scripts")


def pids_with(text):
    """PIDs of the processes whose command line contains text."""
    out = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ")
        except OSError:
            continue
        if text.encode() in cmd:
            out.append(int(d))
    return out


def kill_all(text):
    """SIGKILL whatever a failed test left running with text in its
    command line (text is always a temp dir of that test)."""
    for p in pids_with(text):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def scratch(prefix="sandmail-run."):
    """A temp dir under /tmp that `nobody` can reach (as root, make run's
    daemons and mailbox are nobody's; pytest's own tmp dirs are 0700)."""
    import tempfile
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o711)
    return d


def mailbox_user():
    """The name scripts/run gives the invoking user's mailbox."""
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


def maildir_files(maildir, sub="new"):
    d = os.path.join(maildir, sub)
    try:
        return sorted(os.path.join(d, f) for f in os.listdir(d))
    except FileNotFoundError:
        return []


def wait_mail(maildir, n, timeout=30, what="mail"):
    """Wait until maildir/new holds at least n messages; return them."""
    return wait_for(lambda: (lambda fs: fs if len(fs) >= n else None)(
        maildir_files(maildir)), timeout=timeout, what=what)


def find_mail(maildir, needle, timeout=30):
    """The bytes of the first message in maildir/new containing needle."""
    def look():
        for f in maildir_files(maildir):
            with open(f, "rb") as fh:
                b = fh.read()
            if needle in b:
                return b
        return None
    return wait_for(look, timeout=timeout, what=f"mail with {needle!r}")


def _default_sigint():
    # A test runner may have SIGINT ignored; an ignored signal stays
    # ignored across exec and bash could not trap it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class RunSystem:
    """scripts/run (make run) in a temp dir, on free ports."""

    def __init__(self, tmp, build=BUILD):
        self.tmp = str(tmp)
        self.dir = os.path.join(self.tmp, "run")
        self.build = build
        self.ports = {k: free_port() for k in
                      ("smtp", "submission", "smtps", "pop3", "pop3s",
                                "remote")}
        self.out_path = os.path.join(self.tmp, "run.out")
        self.proc = None
        self.out = None
        self.extra_env = {}

    def env(self):
        e = dict(os.environ)
        e.update(RUN_DIR=self.dir,
                 RUN_SMTP_PORT=str(self.ports["smtp"]),
                 RUN_SUBMISSION_PORT=str(self.ports["submission"]),
                 RUN_SMTPS_PORT=str(self.ports["smtps"]),
                 RUN_POP3_PORT=str(self.ports["pop3"]),
                 RUN_POP3S_PORT=str(self.ports["pop3s"]),
                 RUN_REMOTE_PORT=str(self.ports["remote"]))
        e.update(self.extra_env)
        e.pop("SANDMAIL_CONF", None)
        return e

    def start(self, argv=None):
        self.out = open(self.out_path, "wb")
        argv = argv or [os.path.join(SCRIPTS, "run"), self.build]
        self.proc = subprocess.Popen(
            argv, cwd=self.tmp, env=self.env(), stdin=subprocess.DEVNULL,
            stdout=self.out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_default_sigint)
        return self

    def output(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_ready(self, timeout=60):
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("scripts/run exited %s:\n%s" % (
                    self.proc.returncode, self.output()))
            return "event=ready" in self.output()
        wait_for(ready, timeout=timeout, what="make run to be ready")

    @property
    def conf(self):
        return os.path.join(self.dir, "etc", "sandmail.conf")

    @property
    def maildir(self):
        return os.path.join(self.dir, "home", mailbox_user(), "Maildir")

    def password(self):
        with open(os.path.join(self.dir, "etc", "password")) as f:
            return f.read().strip()

    def stop(self, sig=signal.SIGINT, timeout=30):
        """Signal the script alone (as a terminal's Ctrl-C reaches it:
        the children are in sessions of their own); its exit status."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.out:
            self.out.close()
            self.out = None
        return self.proc.returncode

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.stop(signal.SIGTERM)
        kill_all(self.dir)


def tree(root):
    """Every path under root with its type, mode, owner and, for files,
    size and contents' hash: a listing to compare before and after."""
    import hashlib
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            p = os.path.join(d, name)
            st = os.lstat(p)
            line = "%s %o %d:%d" % (os.path.relpath(p, root),
                                    st.st_mode, st.st_uid, st.st_gid)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    line += " " + hashlib.sha256(f.read()).hexdigest()
                line += " mtime=%d" % st.st_mtime_ns
            elif stat.S_ISLNK(st.st_mode):
                line += " -> " + os.readlink(p)
            out.append(line)
    return out


def describe(pid):
    """"pid state ppid cmdline" of a process, for a failure message."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"{pid} (gone)"
    v = st[st.rindex(")") + 2:].split()
    extra = ""
    for what in ("wchan", "syscall"):
        try:
            with open(f"/proc/{pid}/{what}") as f:
                extra += f" {what}={f.read().split(' ')[0].strip()}"
        except OSError:
            pass
    return f"{pid} {v[0]} ppid={v[1]}{extra} {cmd.strip()}"


def wait_gone(text, timeout=15):
    """Wait until no process has text in its command line."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        left = pids_with(text)
        if not left:
            return []
        time.sleep(0.05)
    return pids_with(text)


def system_conf(d, build=BUILD):
    """A whole-system sandmail.conf in d (queue, tables, a mailbox for
    the invoking user at d/home/USER/Maildir), as scripts/run makes it;
    as root the daemons run as nobody.  Returns (conf path, maildir)."""
    import pwd
    etc = os.path.join(d, "etc")
    home = os.path.join(d, "home", mailbox_user())
    os.makedirs(etc, exist_ok=True)
    os.makedirs(home, exist_ok=True)
    root = os.getuid() == 0
    if root:
        nb = pwd.getpwnam("nobody")
        uid, gid = nb.pw_uid, nb.pw_gid
        os.chown(home, uid, gid)
    else:
        uid, gid = os.getuid(), os.getgid()
    conf = os.path.join(etc, "sandmail.conf")
    cert = os.path.join(etc, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", os.path.join(etc, "key.pem"), "-out", cert],
                   check=True, capture_output=True)
    lines = [f"hostname test.example", f"queue {d}/queue", f"tables {etc}",
             f"bindir {build}", "smtpd_timeout 30", "inject_domain localhost",
             f"tls_cert {cert}", f"tls_key {etc}/key.pem"]
    if root:
        lines += [f"user_{u} nobody" for u in
                  ("smtpd", "queue", "send", "resolve", "remote", "auth",
                   "pop3d", "vmail")]
        lines += ["local_uid_min 1", f"local_uid_max {uid}"]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    tables = {
        "domains": "localhost local\n",
        "localusers": f"{mailbox_user()} {uid}:{gid}:{home}\n",
        "relayclients": "127.0.0.0/8 relay\n",
    }
    for name, text in tables.items():
        with open(os.path.join(etc, name), "w") as f:
            f.write(text)
    subprocess.run([os.path.join(build, "sandmail-cdb"), "-c", conf, "all"],
                   check=True)
    subprocess.run([os.path.join(build, "sandmail-queue"), "-i", "-c", conf],
                   check=True, stderr=subprocess.DEVNULL)
    return conf, os.path.join(home, "Maildir")
