"""Start Debian's Dovecot (dovecot-imapd, dovecot-pop3d) on loopback
ports with a configuration written by the test, for interop tests: our
maildirs read through Dovecot's IMAP or POP3.

    dv = dovecotutil.start(procs, d, users={"alice": "secret"},
                           uid=41234, gid=41234, home_base=d + "/home",
                           protocols=("imap", "pop3"))
    imaplib.IMAP4("127.0.0.1", dv.imap_port)

Passwords: passwd-file with {PLAIN}; users: userdb static with one
uid/gid and home=<home_base>/<user>; mail in ~/Maildir (override with
mail_location).  Logs go to <d>/dovecot/dovecot.log.

LMTP (dovecot-lmtpd): protocols=("lmtp",) listens on the UNIX socket
dv.lmtp_socket (mode 0666) and on 127.0.0.1:dv.lmtp_port; an address's
domain is cut off (auth_username_format %Ln), so alice@any.test is alice.
user_extra={"bob": "userdb_quota_rule=*:storage=1K"} gives users extra
userdb fields (the userdb is then the passwd-file); extra= is appended
to dovecot.conf (plugins, Sieve, quota).  dv.restart() starts it again
after dv.stop(), on the same sockets.
"""
import os
import grp
import pwd
import shutil

from conftest import free_port, wait_port

DOVECOT = "/usr/sbin/dovecot"


def available():
    return shutil.which("dovecot") is not None or os.path.exists(DOVECOT)


class Dovecot:
    def __init__(self, proc, dir, imap_port, pop3_port, log):
        self.proc = proc
        self.dir = dir
        self.imap_port = imap_port
        self.pop3_port = pop3_port
        self.log = log
        self.lmtp_port = 0
        self.lmtp_socket = None
        self.procs = None
        self.argv = None

    def stop(self):
        self.procs.stop(self.proc)

    def restart(self):
        with open(os.path.join(self.dir, "stderr"), "ab") as err:
            self.proc = self.procs.start(self.argv, stdout=err, stderr=err)
        _wait(self)

    def _ports(self):
        return [p for p in (self.imap_port, self.pop3_port, self.lmtp_port)
                if p]

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""


def _wait(dv):
    try:
        for port in dv._ports():
            wait_port(port, timeout=20)
    except TimeoutError:
        raise RuntimeError("dovecot did not start:\n" + dv.log_text() +
                           open(os.path.join(dv.dir, "stderr")).read())


def start(procs, d, users, uid, gid, home_base, protocols=("imap",),
          mail_location="maildir:~/Maildir", user_extra=None, extra=""):
    base = os.path.join(d, "dovecot")
    os.makedirs(base, exist_ok=True)
    os.chmod(base, 0o755)
    imap_port = free_port() if "imap" in protocols else 0
    pop3_port = free_port() if "pop3" in protocols else 0
    lmtp_port = free_port() if "lmtp" in protocols else 0
    log = os.path.join(base, "dovecot.log")
    passwd = os.path.join(base, "passwd")
    with open(passwd, "w") as f:
        for name, pw in users.items():
            if user_extra is None:
                f.write(f"{name}:{{PLAIN}}{pw}::::::\n")
            else:
                f.write(f"{name}:{{PLAIN}}{pw}:{uid}:{gid}::"
                        f"{home_base}/{name}::"
                        f"{user_extra.get(name, '')}\n")
    if user_extra is None:
        userdb = f"""driver = static
  args = uid={uid} gid={gid} home={home_base}/%u"""
    else:
        userdb = f"""driver = passwd-file
  args = {passwd}"""
    lmtp = ""
    if lmtp_port:
        lmtp = f"""
auth_username_format = %Ln
postmaster_address = postmaster@dovecot.test
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
"""
    if os.geteuid() == 0:
        login_user, internal_user, internal_group = \
            "dovenull", "dovecot", "dovecot"
    else:
        login_user = internal_user = pwd.getpwuid(os.getuid()).pw_name
        internal_group = grp.getgrgid(os.getgid()).gr_name
    conf = os.path.join(base, "dovecot.conf")
    with open(conf, "w") as f:
        f.write(f"""\
base_dir = {base}/run
state_dir = {base}/state
log_path = {log}
info_log_path = {log}
instance_name = sandmail-test-{os.getpid()}-{imap_port}-{pop3_port}
protocols = {" ".join(protocols)}
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = 1
mail_location = {mail_location}
mail_fsync = always
passdb {{
  driver = passwd-file
  args = {passwd}
}}
userdb {{
  {userdb}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""" + lmtp + extra)
    argv = [DOVECOT, "-F", "-c", conf]
    with open(os.path.join(base, "stderr"), "wb") as err:
        p = procs.start(argv, stdout=err, stderr=err)
    dv = Dovecot(p, base, imap_port, pop3_port, log)
    dv.procs, dv.argv = procs, argv
    dv.lmtp_port = lmtp_port
    if lmtp_port:
        dv.lmtp_socket = os.path.join(base, "run", "lmtp")
    _wait(dv)
    return dv

