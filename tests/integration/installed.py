"""The installed layout as a pytest fixture: `make install` into a scratch
prefix, then (in a private mount namespace, installed_ns.py) the
installed `setup`, real separate users and groups, the installed runit
service directories under runsvdir, listening on loopback ports.  The
host's /etc, /home and /var/spool are never changed: inside the
namespace they are bind mounts of directories under the scratch
directory.  Needs root (CI is root); otherwise the tests using it skip.

Fixture `installed` (session scope: one system for every test module
that asks, set up in about 10 s; a test that breaks something must put
it back).  It is imported into conftest.py, so any test module can ask
for it.  Attributes and helpers:

    inst.port[name]               loopback ports: "smtp" (25), "submission",
                                  "smtps", "pop3" (STLS), "pop3s"
    inst.mx, inst.bad             remoteutil.SMTPServer on 127.0.0.2 and
                                  127.0.0.3 port inst.mx_port: the MX of
                                  dest.test, and of bounce.test (550 to
                                  every RCPT); dnsmasq on inst.dns_port
    inst.prefix, inst.sbin(name)  the install prefix (a host path), its sbin
    inst.users                    {"alice"|"bob"|"carol": "secret"}: system
                                  users with /home/NAME, users-table
                                  passwords, senders NAME@localhost; carol
                                  is the crash test's (keep her maildir
                                  to it)
    inst.ids[user]                [uid, gid] in the namespace (also for
                                  sandmaild sandmailq sandmails sandmailr
                                  sandmaila sandmailm sandmailk vmail
                                  nobody)
    site                          hostname mail.test; domains localhost
                                  (local), virt.test (virtual:
                                  info@virt.test); alias
                                  archive@localhost -> /var/spool/archive/
                                  Maildir/ (delivered as nobody)
    inst.path("/etc/sandmail/x")  the host path of a namespace path
                                  (/proc/PID/root/...): read, chmod, chown
    inst.run(argv, user=None, input=None, check=True, env=None)
                                  run in the namespace (nsenter); as user:
                                  setpriv with its uid, gid and groups
    inst.in_ns()                  pids of every process in the namespace
    inst.conf(key=value, ...)     append lines to sandmail.conf (restart or
                                  hup the services that must see them)
    inst.maildir(user), inst.vmaildir(addr)   namespace maildir paths
    inst.mail(maildir)            [bytes] of its new/ and cur/ messages
    inst.wait_mail(maildir, needle, timeout=30)
                                  the message containing needle (on a
                                  timeout: AssertionError with the logs)
    inst.smtp(port="smtp")        a connected smtplib.SMTP
    inst.tls_context()            an ssl context that verifies nothing
                                  (setup made a self-signed certificate)
    inst.sv(cmd, service)         `sv -w 30 CMD` on a service directory
    inst.wait_up(service, port=None)   its process up (and port open)
    inst.restart(service, port=None)   sv restart, the old process gone
    inst.pids(service)            the service's process and descendants
    inst.log(service), inst.logs()     svlogd log text (one / all tails)

Services: sandmail-queue, sandmail-start, sandmail-smtpd,
sandmail-submission, sandmail-smtps, sandmail-pop3d, sandmail-pop3s,
sandmail-metrics (inst.port["metrics"], loopback HTTP; its textfile
/var/spool/sandmail-metrics/sandmail.prom; it follows the services'
svlogd logs).

INSTALLED_KEEP=1 keeps the scratch directory (logs, the namespace's
/etc, /home and /var/spool under SCRATCH/ns) for a look afterwards.
"""
import contextlib
import json
import os
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import BUILD, ROOT, free_port, wait_for, wait_port
from dnsutil import start_dnsmasq
from remoteutil import SMTPServer, common_port

NEEDS = ("unshare", "nsenter", "setpriv", "runsvdir", "sv", "useradd",
         "dnsmasq", "openssl")
SERVICES = ("sandmail-queue", "sandmail-start", "sandmail-auth",
            "sandmail-smtpd", "sandmail-submission", "sandmail-smtps", "sandmail-pop3d",
            "sandmail-pop3s", "sandmail-metrics")
USERS = {"alice": "secret", "bob": "secret", "carol": "secret"}
NSPY = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                    "installed_ns.py")


def skip_reason():
    if os.geteuid() != 0:
        return ("the installed layout needs root (users, set-uid bits, a "
                "private mount namespace); CI runs make check as root")
    missing = [n for n in NEEDS if shutil.which(n) is None]
    if missing:
        return "missing: " + " ".join(missing) + " (scripts/deps)"
    return None


def make_install_argv(prefix):
    """make install of the build under test (build/ or build-asan/)."""
    argv = ["make", "-C", ROOT, "--no-print-directory", "install",
            f"PREFIX={prefix}", "DESTDIR="]
    if os.path.basename(BUILD) == "build-asan":
        argv.append("SANITIZE=1")
    return argv


def make_env():
    """The environment without the outer make's (make check runs pytest
    under make: its jobserver descriptors are not ours)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}


def make_install(prefix):
    r = subprocess.run(make_install_argv(prefix), capture_output=True,
                       text=True, env=make_env())
    if r.returncode != 0:
        raise RuntimeError("make install failed:\n" + r.stdout + r.stderr)


class Installed:
    def __init__(self, procs):
        self.procs = procs
        self.users = dict(USERS)
        self.scratch = tempfile.mkdtemp(prefix="sandmail-inst.")
        os.chmod(self.scratch, 0o755)   # the set-uid queue is under it
        self.prefix = os.path.join(self.scratch, "prefix")
        self.port = {n: free_port() for n in
                     ("smtp", "submission", "smtps", "pop3", "pop3s",
                      "metrics")}
        self.mx_port = common_port(["127.0.0.2", "127.0.0.3"])
        self.ns = None
        self.mx = None
        self.bad = None

    def start(self):
        make_install(self.prefix)
        self.dns_port = start_dnsmasq(self.procs, self.scratch, [
            "--local-ttl=60",
            "--mx-host=dest.test,mx.dest.test,10",
            "--host-record=mx.dest.test,127.0.0.2",
            "--mx-host=bounce.test,mx.bounce.test,10",
            "--host-record=mx.bounce.test,127.0.0.3"])
        self.mx = SMTPServer("127.0.0.2", self.mx_port, "mx.dest.test")
        self.bad = SMTPServer("127.0.0.3", self.mx_port, "mx.bounce.test")
        self.bad.rcpt = lambda addr: "550 5.1.1 no such user here"
        conf = "".join(f"{k} {v}\n" for k, v in {
            "hostname": "mail.test",
            "nameserver": f"127.0.0.1:{self.dns_port}",
            "mx_port": self.mx_port, "dns_timeout": 2,
            "retry_first": 1, "retry_max": 2,
            "remote_timeout_command": 10, "smtpd_timeout": 30,
            "passwd_opslimit": 1, "passwd_memlimit": "64k",
            "auth_fail_delay": "10ms", "term_wait": 10,
            "metrics_interval": 1, "srs_domain": "mail.test",
            "metrics_file": "/var/spool/sandmail-metrics/sandmail.prom",
            "metrics_listen": f"127.0.0.1:{self.port['metrics']}"}.items())
        # sandmail-metrics follows the svlogd logs of the services whose
        # lines it counts
        conf += "".join(
            f"metrics_log {self.scratch}/service/{n}/log/main/current\n"
            for n in ("sandmail-queue", "sandmail-start", "sandmail-smtpd",
                      "sandmail-submission", "sandmail-smtps",
                      "sandmail-pop3d", "sandmail-pop3s"))
        params = {"prefix": self.prefix, "ports": self.port,
                  "dns_port": self.dns_port, "mx_port": self.mx_port,
                  "conf": conf, "users": self.users}
        pfile = os.path.join(self.scratch, "params.json")
        with open(pfile, "w") as f:
            json.dump(params, f)
        self.nslog = os.path.join(self.scratch, "ns.log")
        log = open(self.nslog, "w")
        env = dict(os.environ)
        env.pop("SANDMAIL_CONF", None)
        if os.path.basename(BUILD) == "build-asan":
            # No LeakSanitizer under runsv: `sv down` sends TERM, then
            # CONT.  A daemon that exits at once runs LSan's leak check,
            # whose tracer attaches with a SIGSTOP and waits for it; a
            # CONT that comes after the attach discards that pending
            # SIGSTOP, and tracer and daemon then wait for each other for
            # ever (seen: an smtpd listener spinning in sched_yield, its
            # tracer in wait4, no signal pending).  Leaks are still
            # checked in every other test, which stops daemons with TERM
            # alone; ASan and UBSan stay on here.
            opts = env.get("ASAN_OPTIONS", "")
            env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + \
                "detect_leaks=0"
        self.ns = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", sys.executable, NSPY,
             self.scratch, pfile], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, env=env)
        log.close()
        ready = os.path.join(self.scratch, "ready.json")
        end = time.monotonic() + 120
        while not os.path.exists(ready):
            if self.ns.poll() is not None or time.monotonic() > end:
                raise RuntimeError("installed layout did not come up:\n" +
                                   open(self.nslog).read())
            time.sleep(0.05)
        info = json.load(open(ready))
        self.ids = info["ids"]
        self.svdir = info["svdir"]
        self.mntns = os.readlink(f"/proc/{self.ns.pid}/ns/mnt")
        for p in self.port.values():
            wait_port(p, timeout=60)

    # --- the namespace -----------------------------------------------------
    def path(self, p):
        """The host path of namespace path p (through /proc/PID/root)."""
        return f"/proc/{self.ns.pid}/root{p}"

    def run(self, argv, user=None, input=None, check=True, timeout=60,
            env=None):
        pre = ["nsenter", "-t", str(self.ns.pid), "-m", "--"]
        if user is not None:
            pre += ["setpriv", "--reuid", user, "--regid", user,
                    "--init-groups", "--"]
        r = subprocess.run(pre + list(argv), input=input,
                           capture_output=True, timeout=timeout, env=env,
                           cwd="/")
        if check and r.returncode != 0:
            raise AssertionError(f"{argv} as {user or 'root'}: exit "
                                 f"{r.returncode}\n{r.stdout!r}\n"
                                 f"{r.stderr!r}")
        return r

    def sbin(self, name):
        return os.path.join(self.prefix, "sbin", name)

    def conf(self, **kw):
        with open(self.path("/etc/sandmail/sandmail.conf"), "a") as f:
            for k, v in kw.items():
                f.write(f"{k} {v}\n")

    @contextlib.contextmanager
    def outside_site(self, restart=(("sandmail-smtpd", "smtp"),)):
        """Loopback is no relay client (relayclients: 127.0.0.9 only), so
        port 25 checks the tests' mail as it checks the Internet's; on the
        way out sandmail.conf (what the test added with conf()) and
        relayclients are put back and the services in restart (service,
        port) restarted.  Yields sandmail.conf's text as it was."""
        conf = self.path("/etc/sandmail/sandmail.conf")
        relay = self.path("/etc/sandmail/relayclients")
        cdb = [self.sbin("sandmail-cdb"), "-d", "/etc/sandmail",
               "relayclients"]
        with open(conf) as f:
            saved = f.read()
        with open(relay) as f:
            saved_relay = f.read()
        try:
            with open(relay, "w") as f:
                f.write("127.0.0.9 relay\n")
            self.run(cdb)
            yield saved
        finally:
            with open(conf, "w") as f:
                f.write(saved)
            with open(relay, "w") as f:
                f.write(saved_relay)
            self.run(cdb)
            for svc, port in restart:
                self.restart(svc, port)

    def in_ns(self):
        """Pids of every process in the namespace."""
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    if os.readlink(f"/proc/{d}/ns/mnt") == self.mntns:
                        out.append(int(d))
                except OSError:
                    pass
        return out

    # --- mail ----------------------------------------------------------
    def maildir(self, user):
        return f"/home/{user}/Maildir/"

    def vmaildir(self, addr):
        local, dom = addr.split("@")
        return f"/var/spool/vhosts/{dom}/{local}/"

    def mail(self, maildir):
        out = []
        for sub in ("new", "cur"):
            d = self.path(os.path.join(maildir, sub))
            try:
                names = sorted(os.listdir(d))
            except FileNotFoundError:
                continue
            for n in names:
                try:
                    with open(os.path.join(d, n), "rb") as f:
                        out.append(f.read())
                except FileNotFoundError:
                    pass
        return out

    def wait_mail(self, maildir, needle, timeout=30):
        if isinstance(needle, str):
            needle = needle.encode()

        def found():
            for m in self.mail(maildir):
                if needle in m:
                    return m
            return None
        try:
            return wait_for(found, timeout=timeout, step=0.05,
                            what=f"{needle!r} in {maildir}")
        except TimeoutError as e:
            raise AssertionError(f"{e}\n--- logs ---\n{self.logs()}")

    def smtp(self, port="smtp"):
        return smtplib.SMTP("127.0.0.1", self.port[port], timeout=30)

    @staticmethod
    def tls_context():
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    # --- runit ---------------------------------------------------------
    def sv(self, cmd, service):
        return subprocess.run(["sv", "-w", "30", cmd,
                               os.path.join(self.svdir, service)],
                              capture_output=True, text=True, timeout=60)

    def log(self, service):
        p = os.path.join(self.svdir, service, "log", "main", "current")
        try:
            with open(p, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, service, needle, since=0, timeout=30):
        """The service's log from offset since, once needle is in it: a
        program's line goes through svlogd, which may write it after the
        reply that followed it reached the test.  On a timeout, the log
        as it is (the caller's assert says what is missing)."""
        try:
            return wait_for(lambda: needle in self.log(service)[since:] and
                            self.log(service)[since:], timeout=timeout,
                            what=f"{needle!r} in {service}'s log")
        except TimeoutError:
            return self.log(service)[since:]

    def logs(self, tail=30):
        out = []
        for s in SERVICES:
            lines = self.log(s).splitlines()[-tail:]
            out.append(f"== {s}\n" + "\n".join(lines))
        return "\n".join(out)

    def processes(self):
        """Every process of the namespace: pid, parent, uid, state, the
        kernel function it waits in, and its command line (for a failure
        message that must say who is stuck where)."""
        out = []
        for p in sorted(self.in_ns()):
            st = {}
            try:
                with open(f"/proc/{p}/status") as f:
                    for ln in f:
                        k, _, v = ln.partition(":")
                        st[k] = v.split()
                with open(f"/proc/{p}/wchan") as f:
                    wchan = f.read().strip() or "-"
            except OSError:
                continue
            out.append(f"{p} ppid={st.get('PPid', ['?'])[0]} "
                       f"uid={st.get('Uid', ['?'])[0]} "
                       f"state={st.get('State', ['?'])[0]} wchan={wchan} "
                       f"{self._cmd(p)}")
        return "\n".join(out)

    def stall_report(self):
        """What a test needs to say when a delivery to the test MX did not
        happen in time (issue 18's open bug: the first remote job after
        a restart of sandmail-start, now and then, only in CI): this
        process's threads, the test MX's view, the sockets on its port,
        the namespace's processes and the logs."""
        return stall_report(self.mx, self.mx_port) + \
            f"\n== processes\n{self.processes()}\n{self.logs(tail=60)}"

    def pids(self, service):
        """The service's process and all its descendants."""
        try:
            with open(os.path.join(self.svdir, service, "supervise",
                                   "pid")) as f:
                top = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return []
        if not top:
            return []
        out, todo = [], [top]
        while todo:
            p = todo.pop()
            out.append(p)
            try:
                with open(f"/proc/{p}/task/{p}/children") as f:
                    todo += [int(x) for x in f.read().split()]
            except OSError:
                pass
        return out

    def restart(self, service, port=None):
        """sv restart, then wait for the old process to be gone and the
        new one up (and its port open): right after `sv restart` the
        old listener may still hold the port, and a client reach it."""
        from conftest import alive
        old = self.pids(service)[:1]
        r = self.sv("restart", service)
        assert r.returncode == 0, r.stdout + r.stderr
        if old:
            wait_for(lambda: not alive(old[0]), timeout=30,
                     what=f"the old {service} to end")
        self.wait_up(service, port)

    def wait_up(self, service, port=None):
        wait_for(lambda: self.pids(service), timeout=30,
                 what=f"{service} up")
        if port is not None:
            wait_port(self.port[port], timeout=30)

    @staticmethod
    def _cmd(pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return "?"

    # --- the end -------------------------------------------------------
    def stop(self):
        if self.ns is not None and self.ns.poll() is None:
            os.kill(self.ns.pid, 1)     # runsvdir: TERM to every runsv
            try:
                self.ns.wait(30)
            except subprocess.TimeoutExpired:
                pass
            try:
                wait_for(lambda: not self.in_ns(), timeout=30,
                         what="the namespace's processes to end")
            except TimeoutError:
                left = self.in_ns()
                print("installed.py: still running 30 s after runsvdir's "
                      "stop, killed: " + "; ".join(
                          f"{p} {self._cmd(p)}" for p in left))
                for p in left:
                    try:
                        os.kill(p, 9)
                    except ProcessLookupError:
                        pass
            if self.ns.poll() is None:
                self.ns.kill()
                self.ns.wait()
        for s in (self.mx, self.bad):
            if s is not None:
                s.close()
        if os.environ.get("INSTALLED_KEEP"):
            print(f"installed.py: kept {self.scratch}")
        else:
            shutil.rmtree(self.scratch, ignore_errors=True)


def stall_report(mx, port):
    """The test process's threads, the test MX (remoteutil.SMTPServer)
    and the TCP sockets on its port, as text."""
    import sys
    import traceback
    ss = subprocess.run(["ss", "-tanp"], capture_output=True,
                        text=True).stdout
    conns = "\n".join(ln for ln in ss.splitlines() if f":{port}" in ln)
    stacks = "\n".join(
        f"-- thread {tid}\n" + "".join(traceback.format_stack(fr)[-4:])
        for tid, fr in sys._current_frames().items())
    return (f"== this process's threads\n{stacks}\n"
            f"MX connections={mx.connections} last commands="
            f"{mx.commands[-10:]}\n== sockets on the MX port\n{conns}")


@pytest.fixture(scope="session")
def installed():
    why = skip_reason()
    if why and os.geteuid() != 0:
        pytest.skip(why)
    if why:         # a program missing: scripts/deps installs them
        pytest.fail(why, pytrace=False)
    from conftest import Procs
    procs = Procs()
    inst = Installed(procs)
    try:
        inst.start()
        yield inst
    finally:
        inst.stop()
        procs.stop_all()
