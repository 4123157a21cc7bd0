"""LMTP delivery (RFC 2033) into Debian's Dovecot (dovecot-lmtpd,
dovecot-sieve) through the whole system: smtpd -> queue -> send ->
rspawn's worker -> Dovecot's LMTP on its UNIX socket (opened by rspawn's
connector, lmtp_socket) or on a TCP port.  One transaction for several
recipients, Sieve filing, quota failures per recipient beside a delivery
that succeeds, and Dovecot down: deferred, then delivered."""
import os
import re
import shutil
import smtplib

import pytest

import dovecotutil
import localutil as lu
from conftest import wait_for
from test_remote_e2e import make_system

pytestmark = pytest.mark.usefixtures("dnsmasq_installed")


@pytest.fixture(autouse=True)
def dovecot_lmtpd_installed():
    if (not dovecotutil.available() or
            not os.path.exists("/usr/lib/dovecot/lmtp")):
        pytest.fail("dovecot-lmtpd is not installed (scripts/deps)",
                    pytrace=False)

USERS = ("alice", "bob", "carol", "dave")
SIEVE = b"""require ["fileinto", "mailbox"];
if header :contains "subject" "[list]" {
  fileinto :create "Lists";
  stop;
}
"""
VACATION = b"""require ["vacation"];
vacation :days 1 :addresses ["dave@lmtp.test"] :subject "away"
  "I am away.";
"""
# Dovecot sends Sieve's replies with this "sendmail": one file each
SENDMAIL = """#!/bin/sh
f=$(mktemp {out}/reply.XXXXXX)
{{ echo "ARGS: $*"; cat; }} > "$f"
"""


def msg(subject, to="alice@lmtp.test"):
    return (f"From: sender <a@sender.test>\r\nTo: {to}\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '.')}"
            f"@sender.test>\r\n\r\nbody of {subject}\r\n").encode()


def submit(s, rcpts, data, sender="a@sender.test"):
    with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
        c.sendmail(sender, rcpts, data)


def found(md, needle, folder=""):
    """Files of the maildir folder ("" INBOX, or "Lists") holding needle."""
    d = os.path.join(md, "." + folder) if folder else md
    out = []
    for sub in ("new", "cur"):
        for n in lu.maildir_files(d, sub):
            with open(os.path.join(d, sub, n), "rb") as f:
                if needle in f.read():
                    out.append(n)
    return out


def wait(s, pred, what, timeout=60):
    """wait_for, with sandmail's and Dovecot's logs as they are then."""
    try:
        return wait_for(pred, timeout=timeout, what=what)
    except TimeoutError as e:
        raise TimeoutError(f"{e}\n--- sandmail:\n{log(s)}\n--- dovecot:\n"
                           f"{s.dv.log_text()}") from None


def log(s):
    with open(s.start_log, "rb") as f:
        return f.read().decode(errors="replace")


def deliveries(s, rcpt):
    """The status letters of rcpt's delivery log lines, in order."""
    return re.findall(r"event=delivery .*rcpt=" + re.escape(rcpt) +
                      r" status=(\w)", log(s))


@pytest.fixture
def lmtp(procs, tmp_path):
    d = lu.make_dir("sandmail-lmtp-")
    home_base = os.path.join(d, "home")
    os.makedirs(home_base)
    os.chmod(home_base, 0o755)
    homes = {}
    for u in USERS:
        homes[u] = os.path.join(home_base, u)
        os.makedirs(homes[u])
        lu.own_dir(homes[u])
    # alice files list mail with her own Sieve script
    sieve = os.path.join(homes["alice"], ".dovecot.sieve")
    with open(sieve, "wb") as f:
        f.write(SIEVE)
    if os.geteuid() == 0:
        os.chown(sieve, *lu.test_ids())
    # dave is away: a vacation script
    vac = os.path.join(homes["dave"], ".dovecot.sieve")
    with open(vac, "wb") as f:
        f.write(VACATION)
    replies = os.path.join(d, "replies")
    os.makedirs(replies)
    lu.own_dir(replies)
    sendmail = os.path.join(d, "sendmail")
    with open(sendmail, "w") as f:
        f.write(SENDMAIL.format(out=replies))
    os.chmod(sendmail, 0o755)
    if os.geteuid() == 0:
        os.chown(vac, *lu.test_ids())
    uid, gid = lu.test_ids()
    dv = dovecotutil.start(
        procs, d, {u: "pw-" + u for u in USERS}, uid, gid, home_base,
        protocols=("lmtp",),
        # carol's quota is smaller than any message
        user_extra={"carol": "userdb_quota_rule=*:storage=10B"},
        extra="""
mail_plugins = $mail_plugins quota
protocol lmtp {
  mail_plugins = $mail_plugins sieve
}
sendmail_path = {sendmail}
plugin {
  quota = maildir:User quota
  sieve = file:~/sieve;active=~/.dovecot.sieve
}
""".replace("{sendmail}", sendmail))
    sock = dv.lmtp_socket
    s = make_system(
        procs, tmp_path,
        routes=lambda port: (f"lmtp.test lmtp:unix:{sock}\n"
                             f"tcp.test lmtp:[127.0.0.1]:{dv.lmtp_port}\n"),
        conf={"lmtp_socket": sock},
        # one user of a virtual domain over LMTP, not to a maildir
        tables={"virtual": "carol@virt.test /var/vmail/carol/\n"
                f"alice@virt.test lmtp:unix:{sock}\n"})
    s.dv = dv
    s.replies = replies
    s.md = {u: os.path.join(homes[u], "Maildir") for u in USERS}
    yield s
    procs.stop(s.start_proc)
    s.start_logfile.close()
    shutil.rmtree(d, ignore_errors=True)


def test_two_users_one_transaction(lmtp):
    s = lmtp
    submit(s, ["alice@lmtp.test", "bob@lmtp.test"], msg("two users"))
    for u in ("alice", "bob"):
        wait(s, lambda: found(s.md[u], b"body of two users"),
             f"{u}'s delivery")
    # one job, so one transaction on one connection, for both
    starts = re.findall(r"start .*kind=remote dest=route:lmtp:unix:\S+",
                        log(s))
    assert len(starts) == 1, log(s)
    # each recipient has its own reply after the data (RFC 2033 4.2)
    for u in ("alice", "bob"):
        wait(s, lambda: deliveries(s, f"{u}@lmtp.test"), "the log line")
        assert deliveries(s, f"{u}@lmtp.test") == ["K"]
        line = [x for x in log(s).splitlines() if "event=delivery" in x
                and f"rcpt={u}@lmtp.test" in x][0]
        assert f"250 2.0.0 <{u}@lmtp.test>" in line, line


def test_virtual_user_over_lmtp(lmtp):
    s = lmtp
    # a virtual user whose entry says lmtp:, and a routed domain's user
    # on the same socket: one destination, one transaction
    submit(s, ["alice@virt.test", "bob@lmtp.test"], msg("virtual user"))
    wait(s, lambda: found(s.md["alice"], b"body of virtual user"),
         "alice's delivery")
    wait(s, lambda: found(s.md["bob"], b"body of virtual user"),
         "bob's delivery")
    wait(s, lambda: deliveries(s, "alice@virt.test") == ["K"] and
         deliveries(s, "bob@lmtp.test") == ["K"], "the log lines")
    starts = re.findall(r"start .*kind=remote dest=route:lmtp:unix:\S+",
                        log(s))
    assert len(starts) == 1, log(s)


def test_tcp_and_sieve_fileinto(lmtp):
    s = lmtp
    submit(s, ["alice@tcp.test"], msg("[list] news"))
    submit(s, ["alice@tcp.test"], msg("plain note"))
    wait(s, lambda: found(s.md["alice"], b"body of [list] news", "Lists"),
         "Sieve's fileinto")
    wait(s, lambda: found(s.md["alice"], b"body of plain note"),
         "INBOX delivery")
    assert found(s.md["alice"], b"body of [list] news") == []
    wait(s, lambda: log(s).count("mta=127.0.0.1[127.0.0.1]") >= 2,
         "the TCP deliveries' log lines")


def test_over_quota_mixed_results(lmtp):
    s = lmtp
    submit(s, ["carol@lmtp.test", "bob@lmtp.test"], msg("quota test"))
    wait(s, lambda: found(s.md["bob"], b"body of quota test"),
         "bob's delivery")
    st = wait(s, lambda: deliveries(s, "carol@lmtp.test"), "carol's result")
    # Dovecot's own reply for carol, not one for the whole transaction
    line = [x for x in log(s).splitlines() if "event=delivery" in x and
            "rcpt=carol@lmtp.test" in x][0]
    assert st[0] in ("X", "Z"), line
    assert re.search(r"[45]52 [45]\.2\.2 .*[Qq]uota", line), line
    wait(s, lambda: deliveries(s, "bob@lmtp.test"), "bob's log line")
    assert deliveries(s, "bob@lmtp.test") == ["K"]
    assert found(s.md["carol"], b"body of quota test") == []


def test_dovecot_down_deferred_then_delivered(lmtp):
    s = lmtp
    s.dv.stop()
    submit(s, ["bob@lmtp.test"], msg("while down"))
    wait(s, lambda: "Z" in deliveries(s, "bob@lmtp.test"), "a deferral")
    assert found(s.md["bob"], b"body of while down") == []
    s.dv.restart()
    wait(s, lambda: found(s.md["bob"], b"body of while down"),
         "delivery after restart", timeout=90)
    wait(s, lambda: deliveries(s, "bob@lmtp.test")[-1] == "K",
         "bob's log line")


def vacation_replies(s):
    out = []
    for n in sorted(os.listdir(s.replies)):
        with open(os.path.join(s.replies, n), "rb") as f:
            out.append(f.read())
    return out


def test_vacation_answers_once(lmtp):
    s = lmtp
    # Sieve's vacation sees our envelope sender (MAIL FROM) and the
    # recipient of the LMTP transaction; it answers the first message
    # from a sender and not the second (:days 1)
    submit(s, ["dave@lmtp.test"], msg("first", to="dave@lmtp.test"))
    wait(s, lambda: found(s.md["dave"], b"body of first"), "the first")
    wait(s, lambda: vacation_replies(s), "the vacation reply")
    submit(s, ["dave@lmtp.test"], msg("second", to="dave@lmtp.test"))
    wait(s, lambda: found(s.md["dave"], b"body of second"), "the second")
    wait(s, lambda: deliveries(s, "dave@lmtp.test") == ["K", "K"],
         "both deliveries logged")
    # the second delivery is complete (Sieve ran before the 250)
    r = vacation_replies(s)
    assert len(r) == 1, r
    assert b"a@sender.test" in r[0] and b"I am away." in r[0], r[0]
    assert re.search(rb"(?mi)^To: .*a@sender\.test", r[0]), r[0]
