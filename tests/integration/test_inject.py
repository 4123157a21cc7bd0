"""sandmail-inject, the sendmail command: the real program against a real
queue (spawned per call, or the service's socket), called the way cron,
PHP's mail() and mutt call sendmail."""
import os
import pwd
import re
import socket
import subprocess

import pytest

from conftest import BUILD, prog, wait_for
from queueutil import (check_consistent, qinit, queue_dir, start_service,
                       write_conf)

INJECT = prog("sandmail-inject")


@pytest.fixture
def conf(tmp_path):
    c = write_conf(tmp_path, bindir=BUILD, inject_domain="inj.example")
    qinit(c)
    return c


def inject(conf, args, data, **kw):
    return subprocess.run([INJECT, "-C", conf] + args, input=data,
                          capture_output=True, timeout=60, **kw)


def only_message(conf):
    envs = check_consistent(conf)
    assert len(envs) == 1, envs
    (qid, env), = envs.items()
    with open(os.path.join(queue_dir(conf), "mess", qid), "rb") as f:
        return qid, env, f.read()


def rcpts(env):
    return [r[0] for r in env["rcpts"]]


def headers(msg):
    return msg.split(b"\n\n", 1)[0] + b"\n"


def test_arguments_spawned_queue(conf):
    r = inject(conf, ["-f", "sender@x.example", "-F", "Joe Q. User", "-v",
                      "a@example.org", "Bee <b@example.net>, c"],
               b"Subject: s\r\n\r\nbody\r\n.\r\nnot this\r\n")
    assert r.returncode == 0, r.stderr
    qid, env, msg = only_message(conf)
    assert qid.encode() in r.stderr            # -v says the queue ID
    assert env["sender"] == "sender@x.example"
    assert rcpts(env) == ["a@example.org", "b@example.net", "c@inj.example"]
    assert env["proto"] == "local" and env["client"] == ""
    assert msg.startswith(b"Received: (sandmail-inject invoked by uid ")
    assert b"\r" not in msg                     # line ends made LF
    h = headers(msg)
    assert b"Subject: s\n" in h
    assert b'From: "Joe Q. User" <sender@x.example>\n' in h
    assert re.search(rb"\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d "
                     rb"[+-]\d{4}\n", h)
    assert re.search(rb"\nMessage-ID: <\d{14}\.[0-9a-f]+@test\.example>\n", h)
    assert msg.endswith(b"\n\nbody\n")          # the lone dot ended it


def test_t_php_style(conf):
    """sendmail -t -i: recipients from To/Cc/Bcc (display names, groups,
    comments, folded lines), Bcc gone, a lone dot kept."""
    data = (b"To: \"Doe, John\" <jd@example.org>, plain@example.org\n"
            b"Cc: team: x@example.com, Y <y@example.com>;,\n"
            b"  z@example.com (a comment)\n"
            b"Bcc: hidden@example.net, jd@example.org\n"
            b"From: site@example.org\n"
            b"Subject: contact form\n"
            b"\n"
            b"line\n.\nafter the dot\n")
    r = inject(conf, ["-t", "-i"], data)
    assert r.returncode == 0, r.stderr
    _, env, msg = only_message(conf)
    assert rcpts(env) == ["jd@example.org", "plain@example.org",
                          "x@example.com", "y@example.com", "z@example.com",
                          "hidden@example.net"]     # once each
    assert b"hidden" not in msg and b"Bcc" not in msg
    assert b"From: site@example.org\n" in msg
    assert msg.count(b"From: ") == 1            # not added twice
    assert msg.endswith(b"\n\nline\n.\nafter the dot\n")
    user = pwd.getpwuid(os.getuid()).pw_name
    assert env["sender"] == f"{user}@inj.example"


def test_mutt_style(conf):
    r = inject(conf, ["-oem", "-oi", "--", "m1@example.org",
                      "m2@example.org"],
               b"From: me@example.org\nTo: m1@example.org\n"
               b"Message-ID: <mine@example.org>\nDate: Mon, 1 Jan 2024 "
               b"00:00:00 +0000\n\nhi\n")
    assert r.returncode == 0, r.stderr
    _, env, msg = only_message(conf)
    assert rcpts(env) == ["m1@example.org", "m2@example.org"]
    assert msg.count(b"Message-ID") == 1 and msg.count(b"Date:") == 1


def test_cron_style(conf):
    """Debian cron: sendmail -FCronDaemon -i -B8BITMIME -oem root"""
    r = inject(conf, ["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"],
               "Subject: Cron <root@host> run-parts\n\nausgef\u00fchrt\n"
               .encode())
    assert r.returncode == 0, r.stderr
    _, env, msg = only_message(conf)
    assert rcpts(env) == ["root@inj.example"]
    user = pwd.getpwuid(os.getuid()).pw_name
    assert f"From: CronDaemon <{user}@inj.example>\n".encode() in msg
    assert env["flags"] & 2                     # 8BITMIME


def test_null_sender_and_headerless(conf):
    r = inject(conf, ["-f", "<>", "r@example.org"], b"no headers at all\n")
    assert r.returncode == 0, r.stderr
    _, env, msg = only_message(conf)
    assert env["sender"] == ""
    assert msg.endswith(b"\n\nno headers at all\n")
    assert b"\nFrom: " in msg


def test_socket_service(conf, procs, tmp_path):
    log = open(tmp_path / "queue.log", "wb")
    start_service(procs, conf, log=log)
    r = inject(conf, ["-v", "s@example.org"], b"Subject: via socket\n\nx\n")
    assert r.returncode == 0, r.stderr
    qid = re.search(rb"queued as (\w+)", r.stderr).group(1)
    log.flush()
    with open(tmp_path / "queue.log", "rb") as f:
        assert b"event=queued id=" + qid in f.read()
    # -q: a flush through the same service, which pokes the trigger
    # (here we stand in for sandmail-send, the FIFO's reader)
    fifo = os.open(os.path.join(queue_dir(conf), "lock", "trigger"),
                   os.O_RDONLY | os.O_NONBLOCK)
    try:
        r = inject(conf, ["-q"], b"")
        assert r.returncode == 0, r.stderr
        assert os.read(fifo, 100).startswith(b"F\0")
        r = inject(conf, ["-qRexample.org"], b"")
        assert r.returncode == 0, r.stderr
        assert os.read(fifo, 100) == b"F\x0bexample.org"
    finally:
        os.close(fifo)


LONG = b"X-Long: " + b"x" * (1100 * 1024) + b"\n\n"


@pytest.mark.parametrize("args,data,code", [
    ([], b"Subject: x\n\n", 64),                        # no recipients
    (["-t"], b"Subject: no to\n\nx\n", 64),             # none in headers
    (["-Z", "a@example.org"], b"", 64),                 # unknown option
    (["-bd"], b"", 64),                                 # no daemon mode
    (["a b@example.org"], b"x\n", 67),                  # bad address
    (["-t"], b"To: \"unterminated@example.org\n\nx\n", 65),
    (["a@example.org"], "LONG", 65),                    # header over 1 MiB
], ids=["norcpt", "t-norcpt", "badopt", "bd", "badaddr", "badto", "long"])
def test_exit_codes(conf, args, data, code):
    r = inject(conf, args, LONG if data == "LONG" else data)
    assert r.returncode == code, r.stderr
    assert check_consistent(conf) == {}         # nothing queued


def test_too_many_recipients(tmp_path):
    c = write_conf(tmp_path, bindir=BUILD, max_recipients=2)
    qinit(c)
    r = inject(c, ["a@example.org", "b@example.org", "c@example.org"], b"x\n")
    assert r.returncode == 65, r.stderr
    assert check_consistent(c) == {}


def test_queue_unreachable(tmp_path):
    c = write_conf(tmp_path, bindir=str(tmp_path / "nowhere"))
    qinit(c)
    r = inject(c, ["a@example.org"], b"x\n")
    assert r.returncode == 75, r.stderr         # EX_TEMPFAIL


def test_mailq_name_and_bp(conf, tmp_path):
    link = tmp_path / "mailq"
    os.symlink(INJECT, link)
    inject(conf, ["q@example.org"], b"Subject: listed\n\nx\n")
    qid = list(check_consistent(conf))[0]
    for argv in ([str(link), "-C", conf], [INJECT, "-C", conf, "-bp"]):
        r = subprocess.run(argv, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert qid.encode() in r.stdout


def test_bs_speaks_smtp(conf, procs):
    """-bs: smtpd on our stdin/stdout; a client that waits its turn.
    smtpd hands mail to the queue service (or to queue_program)."""
    start_service(procs, conf)
    p = subprocess.Popen([INJECT, "-C", conf, "-bs"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline().startswith(b"220 ")
        p.stdin.write(b"EHLO me\r\n")
        p.stdin.flush()
        line = p.stdout.readline()
        while line.startswith(b"250-"):
            line = p.stdout.readline()
        assert line.startswith(b"250 "), line
        # a local user may send anywhere: no relay refusal (item 5)
        p.stdin.write(b"MAIL FROM:<me@inj.example>\r\n"
                      b"RCPT TO:<someone@example.net>\r\nRSET\r\n")
        p.stdin.flush()
        assert p.stdout.readline().startswith(b"250 2.1.0")
        assert p.stdout.readline().startswith(b"250 2.1.5")
        assert p.stdout.readline().startswith(b"250 2.0.0")
        p.stdin.write(b"QUIT\r\n")
        p.stdin.close()
        assert p.stdout.readline().startswith(b"221 ")
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def bs_script(rcpt, subject="piped"):
    """The SMTP a script pipes into sendmail -bs, written for printf."""
    return ("EHLO x\\r\\nMAIL FROM:<me@inj.example>\\r\\n"
            f"RCPT TO:<{rcpt}>\\r\\nDATA\\r\\nSubject: {subject}\\r\\n"
            "\\r\\nhi\\r\\n.\\r\\nQUIT\\r\\n")


def piped_bs(conf, script):
    """printf '...' | sendmail -bs, as a shell script writes it: every
    byte is in the pipe before smtpd greets."""
    return subprocess.run(["sh", "-c", 'printf "$1" | "$2" -C "$3" -bs',
                           "sh", script, INJECT, conf],
                          capture_output=True, timeout=60)


def test_bs_piped_is_local_submission(conf, procs):
    """Issue 19, item 5: -bs is a local user's submission: a script's
    piped input is no early talker, a remote recipient is no relay
    attempt, and the user is recorded as for -t."""
    start_service(procs, conf)
    r = piped_bs(conf, bs_script("someone@example.net"))
    assert r.returncode == 0, r.stderr
    codes = [ln[:4] for ln in r.stdout.decode().split("\r\n") if ln]
    assert codes[0] == "220 " and codes[-1] == "221 ", r.stdout
    assert "554 " not in codes, r.stdout
    assert b"250 2.0.0 Ok: queued as " in r.stdout
    qid, env, msg = only_message(conf)
    assert rcpts(env) == ["someone@example.net"]
    assert env["sender"] == "me@inj.example"
    assert env["proto"] == "local" and env["client"] == ""
    first = msg.split(b"\n\t")[0]
    assert first == (b"Received: from x (sandmail-inject -bs invoked by "
                     b"uid %d)" % os.getuid())
    assert b"Subject: piped\n\nhi\n" in msg
    assert b"mode=local" in r.stderr and b"relay=yes" in r.stderr


def test_smtpd_local_mode_never_on_network(conf):
    """smtpd's local mode (what -bs runs) refuses a network client: a
    tcpserver line with -m local must not make an open relay."""
    smtpd = prog("sandmail-smtpd")
    r = subprocess.run([smtpd, "-c", conf, "-m", "local"], input=b"",
                       env=dict(os.environ, TCPREMOTEIP="192.0.2.1"),
                       capture_output=True, timeout=60)
    assert r.returncode == 111 and b"not for a network" in r.stderr
    r = subprocess.run([smtpd, "-c", conf, "-l", "127.0.0.1:1/local"],
                       capture_output=True, timeout=60)
    assert r.returncode != 0 and b"local" in r.stderr
    r = subprocess.run([smtpd, "-c", conf, "-m", "local", "-l",
                        "127.0.0.1:1"], capture_output=True, timeout=60)
    assert r.returncode != 0 and b"usage" in r.stderr
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    c = socket.create_connection(ls.getsockname())
    s, _ = ls.accept()
    r = subprocess.run([smtpd, "-c", conf, "-m", "local"], stdin=s,
                       stdout=s, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 111 and b"not for a network" in r.stderr
    for x in (c, s, ls):
        x.close()


@pytest.mark.usefixtures("dnsmasq_installed")
def test_bs_relays_to_next_hop(procs, tmp_path):
    """The whole way: a piped sendmail -bs to a remote recipient, routed
    by the routes table to a test server on loopback."""
    from remoteutil import SMTPServer
    from test_remote_e2e import make_system
    s = make_system(procs, tmp_path,
                    routes=lambda port: f"far.test [127.0.0.2]:{port}\n")
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.far.test")
    try:
        r = piped_bs(s.conf, bs_script("someone@far.test", "far"))
        assert r.returncode == 0, r.stderr
        assert b"250 2.0.0 Ok: queued as " in r.stdout, r.stdout
        done = wait_for(lambda: mx.done(), timeout=60, what="delivery")
        assert done[0].rcpts[0].split()[1] == "TO:<someone@far.test>"
        assert done[0].mail.startswith("MAIL FROM:<me@inj.example>")
        assert done[0].data.startswith(
            b"Received: from x (sandmail-inject -bs invoked by uid %d)"
            % os.getuid())
    finally:
        procs.stop(s.start_proc)
        s.start_logfile.close()
        mx.close()
