"""Runs inside `unshare -m --propagation private` (started by installed.py):
makes this mount namespace's private /etc, /home and /var/spool, runs
the installed scripts/setup, adds the test users and tables, copies the
installed runit service directories, then execs runsvdir.  The host's
own /etc, /home and /var/spool are never written: each is a bind mount
of a directory under the scratch directory (SCRATCH/ns/etc is a copy of
the host's /etc, so useradd's rename of /etc/passwd stays in the copy).

    python3 installed_ns.py SCRATCH PARAMS.json

PARAMS: prefix, ports {smtp, submission, smtps, pop3, pop3s}, dns_port,
mx_port, conf (extra sandmail.conf lines), users {name: password}.
On success it writes SCRATCH/ready.json (the users' ids) and becomes
runsvdir; on failure it says why on stderr and exits 1."""
import json
import os
import pwd
import shutil
import subprocess
import sys

SERVICES = {"sandmail-queue": None, "sandmail-start": None,
            "sandmail-auth": None,
            "sandmail-smtpd": "smtp", "sandmail-submission": "submission",
            "sandmail-smtps": "smtps", "sandmail-pop3d": "pop3",
            "sandmail-pop3s": "pop3s", "sandmail-metrics": None}


def sh(*argv, **kw):
    kw.setdefault("check", True)
    r = subprocess.run(list(argv), capture_output=True, text=True,
                       input=kw.pop("input", None), check=False)
    if kw["check"] and r.returncode != 0:
        sys.stderr.write(f"installed_ns: {' '.join(argv)}: exit "
                         f"{r.returncode}\n{r.stdout}{r.stderr}")
        sys.exit(1)
    return r


def private_dirs(scratch):
    """/etc (a copy), /home and /var/spool (empty), bind-mounted."""
    ns = os.path.join(scratch, "ns")
    etc = os.path.join(ns, "etc")
    os.makedirs(ns, mode=0o755)
    sh("cp", "-a", "/etc", etc)
    sh("mount", "--bind", etc, "/etc")
    for d in ("home", "spool"):
        os.makedirs(os.path.join(ns, d), mode=0o755)
    sh("mount", "--bind", os.path.join(ns, "home"), "/home")
    sh("mount", "--bind", os.path.join(ns, "spool"), "/var/spool")


def add_users(users):
    for name in users:
        sh("useradd", "--create-home", "--home-dir", f"/home/{name}",
           "--shell", "/bin/sh", name)


def owned_dir(path, user):
    pw = pwd.getpwnam(user)
    os.makedirs(path, mode=0o755, exist_ok=True)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def tables(etc, prefix, users):
    """The test site's tables: a virtual domain, a /path alias, the
    submission senders, every user's password."""
    def add(name, text):
        with open(os.path.join(etc, name), "a") as f:
            f.write(text)
    add("domains", "virt.test virtual\n")
    add("virtual", "info@virt.test /var/spool/vhosts/virt.test/info/\n")
    add("aliases", "archive@localhost /var/spool/archive/Maildir/\n"
        "away@localhost away@dest.test\n")
    add("senders", "".join(f"{u} {u}@localhost\n" for u in users))
    cdb = os.path.join(prefix, "sbin", "sandmail-cdb")
    sh(cdb, "all")
    for u, pw in users.items():
        sh(os.path.join(prefix, "sbin", "sandmail-passwd"), u,
           input=pw + "\n")


def services(scratch, prefix, ports):
    """The installed runit directories, with SBIN and LISTEN set."""
    svdir = os.path.join(scratch, "service")
    os.makedirs(svdir)
    src = os.path.join(prefix, "libexec", "sandmail", "runit")
    for name, port in SERVICES.items():
        dst = os.path.join(svdir, name)
        shutil.copytree(os.path.join(src, name), dst, symlinks=True)
        with open(os.path.join(dst, "conf"), "a") as f:
            f.write(f'SBIN="{prefix}/sbin"\n')
            if port is not None:
                f.write(f'LISTEN="127.0.0.1:{ports[port]}"\n')
        if os.path.exists(os.path.join(dst, "down")):
            os.unlink(os.path.join(dst, "down"))
    return svdir


def main():
    scratch, params = sys.argv[1], json.load(open(sys.argv[2]))
    prefix = params["prefix"]
    setup = os.path.join(prefix, "libexec", "sandmail", "setup")
    private_dirs(scratch)
    out = sh(setup, "--prefix", prefix).stdout
    add_users(params["users"])
    # twice: idempotent, and localusers compiled again from the new users
    out += sh(setup, "--prefix", prefix).stdout
    etc = "/etc/sandmail"
    with open(os.path.join(etc, "sandmail.conf"), "a") as f:
        f.write("\n# installed.py\n" + params["conf"])
    owned_dir("/var/spool/vhosts", "vmail")
    owned_dir("/var/spool/archive", "nobody")
    owned_dir("/var/spool/sandmail-metrics", "nobody")   # metrics_file's
    tables(etc, prefix, params["users"])
    svdir = services(scratch, prefix, params["ports"])
    ids = {u: list(pwd.getpwnam(u)[2:4]) for u in
           list(params["users"]) + ["sandmaild", "sandmailq", "sandmails",
                                    "sandmailr", "sandmaila", "sandmailm",
                                    "vmail",
                                    "nobody"]}
    with open(os.path.join(scratch, "setup.out"), "w") as f:
        f.write(out)
    tmp = os.path.join(scratch, "ready.json.tmp")
    with open(tmp, "w") as f:
        json.dump({"ids": ids, "svdir": svdir}, f)
    os.rename(tmp, os.path.join(scratch, "ready.json"))
    sys.stdout.flush()
    os.execvp("runsvdir", ["runsvdir", "-P", svdir])


if __name__ == "__main__":
    main()
