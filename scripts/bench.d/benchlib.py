"""What the end-to-end benchmarks share (scripts/bench.d/e2e, relay,
flushcost, table): the CPU time of a system's processes, the flushes and
KiB written of a block device, the file systems the bench makes in a
loop-mounted image, the noisy neighbour, the latency of one durable
commit, and running oneself in a private mount namespace.

A library, not a benchmark: it is not executable, and scripts/bench runs
only the executables of scripts/bench.d.  Settings it reads: BENCH_DIR
(/var/tmp: where the images, and the runs on the host file system, go).
"""
import atexit
import os
import re
import signal
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.environ.get("BENCH_DIR", "/var/tmp")
HZ = os.sysconf("SC_CLK_TCK")
FS_KINDS = ("host", "ext4", "xfs")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing on port {port}")


def stop_group(p):
    """SIGTERM p's process group, SIGKILL it if it is not gone in 30 s"""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        except ProcessLookupError:
            pass


def unshared(argv0):
    """Run this benchmark again in a private mount namespace (unshare -m)
    unless it already is in one: the bench's mounts are then seen by no
    one else and gone with it.  Needs root."""
    if os.environ.get("BENCH_UNSHARED") == "1":
        return
    os.environ["BENCH_UNSHARED"] = "1"
    os.execvp("unshare", ["unshare", "-m", "--propagation", "private",
                          sys.executable, os.path.abspath(argv0)] +
              sys.argv[1:])


def fs_list(text):
    """the file systems of --fs=LIST or BENCH_FS: host, ext4, xfs"""
    kinds = text.replace(",", " ").split()
    for k in kinds:
        if k not in FS_KINDS:
            sys.exit(f"bench: unknown file system {k} (host, ext4, xfs)")
    return kinds


# --- CPU: a cgroup, else the /proc process tree ---------------------------

class Cpu:
    """The CPU time of the processes started through preexec()."""

    def __init__(self, name):
        self.dir = self.kind = None
        self.roots = []
        v2 = "/sys/fs/cgroup/cgroup.controllers"
        cands = [("v2", "/sys/fs/cgroup")] if os.path.exists(v2) else []
        cands.append(("v1", "/sys/fs/cgroup/cpuacct"))
        for kind, base in cands:
            d = os.path.join(base, f"sandmail-bench-{name}-{os.getpid()}")
            try:
                os.mkdir(d)
            except OSError:
                continue
            self.dir, self.kind = d, kind
            break

    def preexec(self):
        if self.dir is not None:
            with open(os.path.join(self.dir, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def add_root(self, pid):
        self.roots.append(pid)

    def how(self):
        return f"cgroup {self.kind}" if self.dir else "/proc tree"

    def seconds(self):
        if self.kind == "v2":
            with open(os.path.join(self.dir, "cpu.stat")) as f:
                for line in f:
                    k, v = line.split()
                    if k == "usage_usec":
                        return int(v) / 1e6
        if self.kind == "v1":
            with open(os.path.join(self.dir, "cpuacct.usage")) as f:
                return int(f.read()) / 1e9
        return sum(tree_ticks(p) for p in self.roots) / HZ

    def close(self):
        if self.dir is None:
            return
        parent = os.path.dirname(self.dir)
        for _ in range(100):
            try:
                with open(os.path.join(self.dir, "cgroup.procs")) as f:
                    pids = f.read().split()
                for p in pids:
                    with open(os.path.join(parent, "cgroup.procs"),
                              "w") as f:
                        f.write(p)
                os.rmdir(self.dir)
                return
            except OSError:
                time.sleep(0.1)


def proc_children(pid):
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def tree_ticks(pid):
    """utime+stime+cutime+cstime of pid and of its live descendants."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return 0
    fields = st[st.rindex(")") + 2:].split()
    own = sum(int(x) for x in fields[11:15])
    return own + sum(tree_ticks(c) for c in proc_children(pid))


# --- disk flushes -----------------------------------------------------------

def disk_of(path):
    st = os.stat(path)
    maj, mnr = os.major(st.st_dev), os.minor(st.st_dev)
    sysd = f"/sys/dev/block/{maj}:{mnr}"
    if not os.path.exists(sysd):
        return None
    real = os.path.realpath(sysd)
    if os.path.exists(os.path.join(real, "partition")):
        real = os.path.dirname(real)
    return os.path.basename(real)


def flushes(disk):
    """(flush requests completed, KiB written) of the disk"""
    if disk is None:
        return (0, 0)
    with open("/proc/diskstats") as f:
        for line in f:
            x = line.split()
            # fields (Documentation/admin-guide/iostats.rst): x[9]
            # sectors written, x[18] flush requests completed (x[17],
            # read here before, is the time spent discarding)
            if x[2] == disk:
                return (int(x[18]) if len(x) >= 20 else 0,
                        int(x[9]) / 2)
    return (0, 0)


# --- file systems of the bench's own, and the noisy neighbour --------------

# Each run's directory is removed only when the whole benchmark ends: on
# an ext4 without a journal every file made in the next minutes must
# first step past the inodes freed in the last one (recently_deleted()),
# so one run's clean-up would tax the next run's deliveries.
SPENT = []


def cleanup():
    for d in SPENT:
        shutil.rmtree(d, ignore_errors=True)
    SPENT.clear()


atexit.register(cleanup)	# also for benchmarks that import a runner


class Fs:
    """BENCH_DIR itself (host), or a file system made in an image file on
    a loop device and mounted on a directory of BENCH_DIR: a sparse 2 GiB
    image, a loop device with direct I/O, the tools' defaults (ext4:
    journaled, mounted data=ordered; inode tables and journal initialised
    at mkfs, so no lazy init writes in the runs).  Mount it only in a
    private mount namespace (unshared())."""

    def __init__(self, kind):
        self.kind, self.loop, self.img, self.mnt = kind, None, None, None
        if kind == "host":
            self.dir = BENCH_DIR
            return
        if kind not in ("ext4", "xfs"):
            sys.exit(f"bench: unknown file system {kind} (host, ext4, xfs)")
        fd, self.img = tempfile.mkstemp(prefix="sandmail-bench-",
                                        suffix=f".{kind}", dir=BENCH_DIR)
        os.ftruncate(fd, 2 << 30)
        os.close(fd)
        try:
            self.loop = subprocess.run(
                ["losetup", "--direct-io=on", "--show", "-f", self.img],
                check=True, capture_output=True, text=True).stdout.strip()
            mkfs = (["mkfs.ext4", "-q", "-F", "-E",
                     "lazy_itable_init=0,lazy_journal_init=0"]
                    if kind == "ext4" else ["mkfs.xfs", "-q", "-f"])
            subprocess.run(mkfs + [self.loop], check=True,
                           stdout=subprocess.DEVNULL)
            self.mnt = tempfile.mkdtemp(prefix=f"sandmail-bench-{kind}-",
                                        dir=BENCH_DIR)
            subprocess.run(["mount", self.loop, self.mnt], check=True)
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            self.close()
            sys.exit(f"bench: cannot make the {kind} file system: {e}")
        os.chmod(self.mnt, 0o755)
        self.dir = self.mnt

    def disk(self):
        """the device whose diskstats count this file system's writes"""
        return disk_of(self.dir)

    def describe(self):
        if self.kind == "host":
            st = os.statvfs(self.dir)
            return (f"host: {self.dir} on {disk_of(self.dir)} "
                    f"({mount_type(self.dir)}, {st.f_bsize}-byte blocks)")
        return (f"{self.kind} on {self.loop} (image in {BENCH_DIR}, "
                f"loop direct I/O; {mount_opts(self.dir)})")

    def close(self):
        if self.mnt is not None:
            cleanup()	# the runs' directories are on it
            subprocess.run(["umount", self.mnt])
            os.rmdir(self.mnt)
        if self.loop:
            subprocess.run(["losetup", "-d", self.loop])
        if self.img:
            os.unlink(self.img)
        self.mnt = self.loop = self.img = None


def mount_entry(path):
    """the /proc/self/mounts line of the file system holding path"""
    best = None
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        for line in f:
            x = line.split()
            mp = x[1].replace("\\040", " ")
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and \
                    (best is None or len(mp) > len(best[1])):
                best = x
    return best


def mount_type(path):
    e = mount_entry(path)
    return e[2] if e else "?"


def mount_opts(path):
    e = mount_entry(path)
    return f"{e[2]} {e[3]}" if e else "?"


class Noise:
    """The neighbour: ~256 MiB rewritten every second, never synced."""

    def __init__(self, d):
        # a name of its own: other benchmarks may run in the same dir
        self.file = os.path.join(d, f"sandmail-bench-noise-{os.getpid()}")
        dd = (f"dd if=/dev/zero of={self.file} bs=1M count=256 "
              f"conv=notrunc status=none")
        subprocess.run(dd, shell=True, check=True)	# dirty from the start
        self.p = subprocess.Popen(["sh", "-c", f"while :; do {dd}; "
                                   f"sleep 1; done"],
                                  start_new_session=True)

    def stop(self):
        stop_group(self.p)
        os.unlink(self.file)


NOISE_TEXT = ("a neighbour keeps ~256 MiB dirty (dd every second, no "
              "fsync) during every run")


# --- the latency of one durable commit ---------------------------------------

def commit_ms(d, n=100, size=1024):
    """Milliseconds of one durable commit on the file system of d: a new
    file of size bytes written and fsynced (its data, inode and the
    journal entry naming it), n times, one after the other; returns
    (median, lowest, highest).  Each 250 needs at least one such commit,
    in sandmail and in Postfix alike, so one SMTP session (concurrency
    1) cannot get more than 1000 / median messages per second."""
    work = tempfile.mkdtemp(prefix="sandmail-bench-commit-", dir=d)
    data = b"x" * size
    ms = []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            fd = os.open(os.path.join(work, str(i)),
                         os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.write(fd, data)
            os.fsync(fd)
            ms.append((time.perf_counter() - t0) * 1000)
            os.close(fd)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return statistics.median(ms), min(ms), max(ms)


def commit_line(d, noise):
    """The commit latency of d's file system and the rate bound it sets at
    concurrency 1, as one line; with noise, also with the neighbour
    writing.  Returns (line, {"idle": ms, "noise": ms or None})."""
    os.sync()
    idle = commit_ms(d)
    out = {"idle": idle[0], "noise": None}
    text = (f"one commit (1 KiB written + fsync, median of 100): "
            f"{idle[0]:.2f} ms ({idle[1]:.2f}-{idle[2]:.2f}), so at "
            f"concurrency 1 at most {1000 / idle[0]:.0f} msg/s")
    if noise:
        nz = Noise(d)
        try:
            time.sleep(1)
            busy = commit_ms(d)
        finally:
            nz.stop()
        out["noise"] = busy[0]
        text += (f"; with the neighbour: {busy[0]:.2f} ms "
                 f"({busy[1]:.2f}-{busy[2]:.2f}), at most "
                 f"{1000 / busy[0]:.0f} msg/s")
    return text, out


# --- a private Postfix instance ---------------------------------------------

def postfix_master_cf(port):
    """the system's master.cf with smtpd on 127.0.0.1:port and postlog"""
    with open("/etc/postfix/master.cf") as f:
        master = f.read()
    master = re.sub(r"^smtp\s+inet.*$",
                    f"127.0.0.1:{port} inet n - n - - smtpd",
                    master, flags=re.M)
    if "postlog" not in master:
        master += ("postlog   unix-dgram n  -       n       -       1"
                   "       postlogd\n")
    return master


def postfix_aged(etc):
    """Postfix waits (in 300 ms steps, ~2 s) while a configuration file
    looks just written; those in etc were, but are complete"""
    old = time.time() - 60
    for name in os.listdir(etc):
        os.utime(os.path.join(etc, name), (old, old))


_SPOOL = []	# the template queue directory, made once per process


def postfix_spool(spool):
    """Make spool, a new Postfix queue directory with every subdirectory
    Postfix wants, owners and modes as postfix check makes them, and a
    quick-start file, so that postfix start skips its checks (2 to 5 s a
    run here): a copy of a template that postfix check made once."""
    if not _SPOOL:
        t = tempfile.mkdtemp(prefix="sandmail-bench-spool-")
        atexit.register(shutil.rmtree, t, True)
        etc = os.path.join(t, "etc")
        os.makedirs(etc)
        os.makedirs(os.path.join(t, "spool"))
        os.makedirs(os.path.join(t, "data"))
        shutil.chown(os.path.join(t, "data"), "postfix")
        with open(os.path.join(etc, "main.cf"), "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {t}/spool
data_directory = {t}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = {t}/maillog
maillog_file_prefixes = /tmp, /var, /dev/stdout
""")
        with open(os.path.join(etc, "master.cf"), "w") as f:
            f.write(postfix_master_cf(free_port()))
        postfix_aged(etc)
        subprocess.run(["postfix", "-c", etc, "check"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _SPOOL.append(os.path.join(t, "spool"))
    subprocess.run(["cp", "-a", _SPOOL[0], spool], check=True)
    open(os.path.join(spool, "quick-start"), "w").close()


def postfix_start(etc, spool, cpu):
    """Start the Postfix whose main.cf and master.cf are in etc and whose
    queue_directory is spool, in cpu's cgroup (the master daemonizes: it
    stays in the cgroup, not in a process tree).  Make spool with
    postfix_spool() first.
    Returns the master's pid, or None and the error's text."""
    postfix_aged(etc)
    r = subprocess.run(["postfix", "-c", etc, "start"],
                       capture_output=True, text=True,
                       preexec_fn=cpu.preexec)
    if r.returncode != 0:
        return None, r.stderr[-500:]
    with open(os.path.join(spool, "pid", "master.pid")) as f:
        pid = int(f.read().split()[0])
    cpu.add_root(pid)
    return pid, ""


def postfix_stop(etc, pid):
    """postfix stop, then wait (30 s at most) until its master has exited:
    its pid file stays behind, so the process itself is what to wait for"""
    subprocess.run(["postfix", "-c", etc, "stop"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 30
    while pid and time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
