"""What the two crash tests (test_crash.py: the one-user system;
test_installed_crash.py: the installed layout) share: the messages and
their tokens, the clients that retry until a 250, and the queue's files.
Each test keeps its own killer, since what there is to kill differs."""
import os
import smtplib
import time

ACTIVE = ("todo", "info", "local", "remote", "bounce")


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def message(prefix, i, sender, rcpt):
    """(token, bytes): a small message whose Message-ID is the token."""
    tok = f"{prefix}-{i:05d}-{os.getpid()}"
    return tok, (f"From: {sender}\r\nTo: {rcpt}\r\n"
                 f"Message-ID: <{tok}@test>\r\nSubject: {tok}\r\n\r\n"
                 f"body {tok}\r\n").encode()


def client(port, prefix, sender, rcpt, work, accepted, stats, deadline,
           more):
    """Send the messages of work (their numbers) to 127.0.0.1:port, each
    until it gets a 250 (then its token goes into accepted); when work is
    empty, more() gives extra numbers, None when enough."""
    smtp = None
    while time.monotonic() < deadline:
        try:
            i = work.pop()
        except IndexError:
            i = more()
            if i is None:
                break
        tok, body = message(prefix, i, sender, rcpt)
        while time.monotonic() < deadline:
            try:
                if smtp is None:
                    smtp = smtplib.SMTP("127.0.0.1", port, timeout=15)
                smtp.sendmail(sender, [rcpt], body)
                accepted.append(tok)
                break
            except (smtplib.SMTPException, OSError):
                stats["retries"] += 1
                try:
                    if smtp is not None:
                        smtp.close()
                except OSError:
                    pass
                smtp = None
                time.sleep(0.05)
    if smtp is not None:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass


def tokens(messages, prefix):
    """{token: how many of messages (bytes each) carry it}"""
    out = {}
    needle = f"Message-ID: <{prefix}-".encode()
    for m in messages:
        a = m.find(needle)
        if a >= 0:
            tok = m[a + 13:m.index(b"@", a)].decode()
            out[tok] = out.get(tok, 0) + 1
    return out


def maildir_messages(maildir):
    """The bytes of every message in maildir's new/ and cur/."""
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if not os.path.isdir(d):
            continue
        for n in os.listdir(d):
            try:
                with open(os.path.join(d, n), "rb") as f:
                    yield f.read()
            except FileNotFoundError:
                pass


def files_in(d):
    out = []
    for root, _, names in os.walk(d):
        out += [os.path.join(root, n) for n in names]
    return out
