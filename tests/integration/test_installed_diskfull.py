"""The disk-full tests (test_queue.py::test_disk_full and
test_local.py::test_disk_full_is_temporary_and_leaves_nothing) in the
installed layout of installed.py, as an admin's server meets them:

- the queue's file system fills: /var/spool/sandmail becomes a small
  tmpfs (the services that hold it stopped, the tree copied with its
  owners and modes, the services started again), delivery is held (a
  backlog) and big messages come in on port 25 until smtpd answers
  452 4.3.1; nothing is half-written, no service dies, and every
  message answered 250 is delivered exactly once when delivery runs
  again, on the still full file system; then new mail flows, also a
  message bigger than the room the retired files (tmp/re.*) leave;
- a user's maildir file system fills: /home/bob becomes a small tmpfs
  owned by bob as his home was; a message bigger than it is deferred
  (send's delivery line in sandmail-start's log says so), leaves no
  file in new/ or tmp/, alice still gets her mail; once the space
  returns (a remount, larger), sandmail-flush delivers it, exactly once.

Each test puts the fixture back as it found it (the queue on its own
file system, drained; bob's home unmounted; sandmail.conf)."""
import os
import smtplib

import pytest

from conftest import wait_for
from crashutil import ACTIVE, files_in, tokens

Q = "/var/spool/sandmail"
# every service with a file or socket under the queue directory, in the
# order they start (the queue first: the others connect to it)
HOLDERS = (("sandmail-queue", None), ("sandmail-start", None),
           ("sandmail-auth", None), ("sandmail-smtpd", "smtp"),
           ("sandmail-submission", "submission"), ("sandmail-smtps", "smtps"),
           ("sandmail-pop3d", "pop3"), ("sandmail-pop3s", "pop3s"))
BIG = 256 * 1024


def big_message(tok, rcpt, size=BIG):
    line = b"x" * 78 + b"\r\n"
    head = (f"From: d@example.org\r\nTo: {rcpt}\r\nMessage-ID: <{tok}@test>"
            f"\r\nSubject: {tok}\r\n\r\n").encode()
    return head + line * (size // len(line))


def send(inst, smtp, tok, rcpt, size=BIG):
    """(code, text) of the answer to the whole transaction."""
    try:
        smtp.sendmail("d@example.org", [rcpt], big_message(tok, rcpt, size))
        return 250, b""
    except smtplib.SMTPDataError as e:
        return e.smtp_code, e.smtp_error
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients[rcpt]
        return code, text


def stat_of(inst, p):
    st = os.stat(inst.path(p))
    return st.st_uid, st.st_gid, st.st_mode


def fstype(inst, p):
    return inst.run(["stat", "-f", "-c", "%T", p]).stdout.decode().strip()


def pids_of(inst, services):
    return {s: inst.pids(s)[:1] for s in services}


def queue_drained(inst):
    q = inst.path(Q)
    return all(not files_in(os.path.join(q, d)) for d in ACTIVE)


def names(inst, sub):
    return sorted(os.listdir(inst.path(os.path.join(Q, sub))))


def half_written(inst):
    """tmp/'s files but the retired ones kept for reuse (doc/design.md,
    Files written again: rm.* and re.* of the queue, fs.* of send)"""
    return [n for n in names(inst, "tmp")
            if not n.startswith(("rm.", "re.", "fs."))]


def stop_holders(inst):
    for svc, _ in reversed(HOLDERS):
        r = inst.sv("down", svc)
        assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: not any(inst.pids(s) for s, _ in HOLDERS), timeout=60,
             what="the queue's services down")


def start_holders(inst, skip=()):
    for svc, port in HOLDERS:
        if svc in skip:
            continue
        r = inst.sv("up", svc)
        assert r.returncode == 0, r.stdout + r.stderr
        inst.wait_up(svc, port)


@pytest.mark.parametrize("reuse", ["no", "yes"])
def test_queue_fs_full(installed, reuse):
    """Once as installed (queue_reuse auto, the default: no on this
    tmpfs), once with queue_reuse yes: then finished messages' files
    stay in tmp/ (re.*)
    and the queue must give their space back when the disk is full."""
    inst = installed
    pre = f"qfull{reuse}"      # this run's messages, not the other's
    under = os.path.join(inst.scratch, "ns", "spool", "sandmail")
    conf = inst.path("/etc/sandmail/sandmail.conf")
    with open(conf) as f:
        saved = f.read()
    maildir = inst.maildir("alice")
    # start from a drained queue: what is queued now is another test's
    wait_for(lambda: queue_drained(inst), timeout=120,
             what="the queue drained before the test")
    top = stat_of(inst, Q)
    stop_holders(inst)
    mounted = False
    try:
        inst.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700",
                  "tmpfs", Q])
        mounted = True
        # the tree with its owners and modes, but not the retired files
        # kept for reuse (tmp/re.*, rm.*, fs.*: no message's, and there
        # may be more of them than the small file system holds)
        retired = [n for n in os.listdir(os.path.join(under, "tmp"))
                   if n.startswith(("re.", "rm.", "fs."))]
        print(f"{len(retired)} retired files not copied")
        inst.run(["sh", "-c", 'tar -C "$1" --exclude="./tmp/re.*" '
                  '--exclude="./tmp/rm.*" --exclude="./tmp/fs.*" -cf - . | '
                  'tar -C "$2" -xpf -', "sh", under, Q])
        assert fstype(inst, Q) == "tmpfs"
        assert stat_of(inst, Q) == top
        if reuse == "yes":
            inst.conf(queue_reuse="yes")
        # delivery held: the queue fills as behind a backlog
        start_holders(inst, skip=("sandmail-start",))
        # a killed queue's orphans (mess/ID without todo/ID, and the
        # tmp/ID.env of a commit it was killed in: the crash test's, which
        # send removes after a day) are not this test's
        orphans = set(names(inst, "mess")) - set(names(inst, "todo"))
        left = set(half_written(inst))
        watched = ("sandmail-queue", "sandmail-smtpd", "sandmail-auth")
        before = pids_of(inst, watched)
        accepted, answers = [], []
        with inst.smtp() as c:
            for i in range(40):
                tok = f"{pre}-{i:03d}-{os.getpid()}"
                code, text = send(inst, c, tok, "alice@localhost")
                answers.append((code, text))
                if code == 250:
                    accepted.append(tok)
                else:
                    break
            # still full: a temporary failure again, on the same session
            again = send(inst, c, f"{pre}-again-{os.getpid()}",
                         "alice@localhost")
        refused = answers[-1]
        print(f"accepted {len(accepted)}, then {refused}")
        assert refused[0] // 100 == 4, answers
        assert refused[0] == 452 and refused[1].startswith(b"4.3.1 "), \
            (refused, again, inst.log("sandmail-smtpd")[-2000:],
             inst.log("sandmail-queue")[-2000:])
        assert again[0] == refused[0] and again[1][:6] == refused[1][:6], \
            again
        assert len(accepted) >= 2, answers
        # nothing half-written: no file in tmp/, and each accepted
        # message's files are whole (mess/ and todo/ pair up)
        q = inst.path(Q)
        assert sorted(set(half_written(inst)) - left) == []
        assert sorted(set(names(inst, "mess")) - orphans) == \
            names(inst, "todo")
        assert len(names(inst, "todo")) == len(accepted)
        # no service died or was restarted
        assert pids_of(inst, watched) == before
        # delivery runs again on the still full file system: every
        # accepted message delivered once, none of the refused ones
        start_holders(inst)

        def delivered():
            got = tokens(inst.mail(maildir), pre)
            return not (set(accepted) - set(got)) and queue_drained(inst)
        try:
            wait_for(delivered, timeout=180, step=0.2,
                     what="every accepted message delivered")
        except TimeoutError:
            pass
        got = tokens(inst.mail(maildir), pre)
        missing = sorted(set(accepted) - set(got))
        assert not missing, f"lost: {missing}\n{inst.logs()}"
        dups = {t: n for t, n in got.items() if n > 1}
        assert not dups, dups
        assert set(got) == set(accepted), set(got) - set(accepted)
        assert queue_drained(inst), {d: files_in(os.path.join(q, d))
                                     for d in ACTIVE}
        assert sorted(set(half_written(inst)) - left) == []
        assert pids_of(inst, watched) == before
        # the space is back: new mail accepted and delivered; with
        # reuse, a message bigger than what the retired files (tmp/re.*)
        # leave free: the queue gives their space back
        st = os.statvfs(q)
        retired = [n for n in names(inst, "tmp") if n.startswith("re.")]
        if reuse == "no":
            assert retired == []
        else:
            assert retired
            assert st.f_bavail * st.f_frsize < 1536 * 1024, "room " \
                "enough without the retired files' space: this checks " \
                "nothing"
        with inst.smtp() as c:
            code, text = send(inst, c, f"{pre}-after-{os.getpid()}",
                              "alice@localhost", size=1536 * 1024)
            assert code == 250, text
        inst.wait_mail(maildir, f"{pre}-after-{os.getpid()}", timeout=120)
        wait_for(lambda: queue_drained(inst), timeout=120,
                 what="the queue drained")
    finally:
        stop_holders(inst)
        with open(conf, "w") as f:
            f.write(saved)
        if mounted:
            inst.run(["umount", Q])
        start_holders(inst)
    assert fstype(inst, Q) != "tmpfs"
    with inst.smtp() as c:
        c.sendmail("d@example.org", ["alice@localhost"],
                   f"Subject: {pre}-back-{os.getpid()}\r\n\r\nhi\r\n")
    inst.wait_mail(maildir, f"{pre}-back-{os.getpid()}", timeout=120)


def queue_id(inst, smtp, sender, rcpt, data):
    """The queue ID of a message smtp sends (its 250 says it)."""
    smtp.ehlo_or_helo_if_needed()
    code, text = smtp.mail(sender)
    assert code == 250, text
    code, text = smtp.rcpt(rcpt)
    assert code == 250, text
    code, text = smtp.data(data)
    assert code == 250, text
    return text.split()[-1].decode()


def test_maildir_fs_full(installed):
    inst = installed
    home = "/home/bob"
    maildir = inst.maildir("bob")
    uid, gid, mode = stat_of(inst, home)
    tag = f"mfull-{os.getpid()}"
    conf = inst.path("/etc/sandmail/sandmail.conf")
    with open(conf) as f:
        saved = f.read()
    mounted = False
    try:
        # retries an hour apart: only sandmail-flush tries again soon
        inst.conf(retry_first="1h", retry_max="1h")
        inst.restart("sandmail-start")
        inst.run(["mount", "-t", "tmpfs", "-o",
                  f"size=256k,mode={mode & 0o7777:o},uid={uid},gid={gid}",
                  "tmpfs", home])
        mounted = True
        assert fstype(inst, home) == "tmpfs"
        assert stat_of(inst, home) == (uid, gid, mode)
        before = pids_of(inst, ("sandmail-start", "sandmail-queue",
                                "sandmail-smtpd"))
        since = len(inst.log("sandmail-start"))
        with inst.smtp() as c:
            qid = queue_id(inst, c, "d@example.org", "bob@localhost",
                           big_message(f"{tag}-big", "bob@localhost",
                                       size=512 * 1024))
            c.sendmail("d@example.org", ["alice@localhost"],
                       f"Subject: {tag}-alice\r\n\r\nhi\r\n")
        # other users still get their mail
        inst.wait_mail(inst.maildir("alice"), f"{tag}-alice", timeout=120)
        # the big one is deferred (a temporary failure), leaving nothing.
        # Its first line (event=new, the split) comes before any result,
        # and svlogd may write a line after what followed it happened:
        # wait for a result line of it, not for any line naming it
        line = f"id={qid}"

        def result():
            lg = inst.log("sandmail-start")[since:]
            return lg if any(line in ln and "status=" in ln
                             for ln in lg.splitlines()) else None
        try:
            log = wait_for(result, timeout=120, what=f"a result of {qid}")
        except TimeoutError:
            log = inst.log("sandmail-start")[since:]
        lines = [ln for ln in log.splitlines() if line in ln]
        assert any("status=deferred" in ln and "dsn=4.3.1" in ln
                   for ln in lines), \
            "\n".join(lines) or log[-3000:]
        assert not any("status=sent" in ln or "status=bounced" in ln
                       for ln in lines), lines
        for sub in ("new", "cur", "tmp"):
            assert os.listdir(inst.path(f"{maildir}{sub}")) == [], sub
        # still queued, deferred
        out = inst.run([inst.sbin("sandmail-mailq")]).stdout.decode()
        assert qid in out, out
        # the space returns: sandmail-flush delivers it now, once
        inst.run(["mount", "-o", "remount,size=4m", home])
        inst.run([inst.sbin("sandmail-flush")])
        got = inst.wait_mail(maildir, f"{tag}-big", timeout=120)
        assert got.count(b"x" * 78 + b"\n") == 512 * 1024 // 80   # whole
        wait_for(lambda: queue_drained(inst), timeout=120,
                 what="the queue drained")
        assert tokens(inst.mail(maildir), "mfull") == {f"{tag}-big": 1}
        assert os.listdir(inst.path(f"{maildir}tmp")) == []
        # send's line of the delivery goes through svlogd, which may
        # write it after the queue was seen drained: wait for it, then
        # count (a second one would be a second delivery)

        def sent():
            return sum(1 for ln in inst.log("sandmail-start")[since:]
                       .splitlines() if line in ln and "status=sent" in ln)
        try:
            wait_for(sent, timeout=30, what=f"{qid}'s status=sent line")
        except TimeoutError:
            pass
        log = inst.log("sandmail-start")[since:]
        assert sent() == 1, log[-3000:]
        assert pids_of(inst, ("sandmail-start", "sandmail-queue",
                              "sandmail-smtpd")) == before
    finally:
        # sandmail-start first: its lspawn's workers may be in bob's home
        with open(conf, "w") as f:
            f.write(saved)
        inst.restart("sandmail-start")
        if mounted:
            inst.run(["umount", home])
