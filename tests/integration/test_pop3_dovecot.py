"""sandmail-pop3d against real deliveries and a real second reader: a
message delivered by sandmail-lspawn/sandmail-local is read back through
our POP3 byte for byte, and Debian's Dovecot (IMAP) and our POP3 agree on
the same maildir: the same messages and bytes, UIDLs that survive
Dovecot's renames, and deletions made by either seen by the other."""
import imaplib
import os

import pytest

import dovecotutil
import localutil as lu
from pop3util import Pop3Site, connect, crlf, owner_ids



@pytest.fixture(autouse=True)
def dovecot_installed():
    if not dovecotutil.available():
        pytest.fail("dovecot is not installed (dovecot-imapd, scripts/deps)",
                    pytrace=False)

RCPT = "alice@example.org"
SENDER = "bob@example.net"
M1 = (b"From: Bob <bob@example.net>\nTo: alice@example.org\n"
      b"Subject: one\n\nHello,\n.\n..two\n.dot\n8-bit: \xc3\xa9t\xc3\xa9\n"
      b"Bye.\n")
M2 = b"From: bob@example.net\nSubject: two\n\nsecond\n"
M3 = b"From: bob@example.net\nSubject: three\n\nthird\n"


@pytest.fixture
def setup(procs):
    site = Pop3Site(procs)
    lsdir = os.path.join(site.dir, "lspawn")
    os.makedirs(lsdir)
    ls = lu.Lspawn(procs, lu.write_conf(lsdir),
                   log=os.path.join(lsdir, "ls.log"))
    yield site, ls
    ls.close()
    procs.stop_all()
    site.cleanup()


def deliver(site, ls, data, name):
    p = os.path.join(site.dir, name)
    with open(p, "wb") as f:
        f.write(data)
    st, text = ls.deliver(p, RCPT, site.maildir() + "/", sender=SENDER)
    assert st == "K", text
    return lu.expected(data, SENDER, RCPT)


def retr_bytes(p, n):
    resp, lines, _ = p.retr(n)
    return b"\r\n".join(lines) + b"\r\n"


def test_local_delivery_read_back_exact(setup):
    site, ls = setup
    want = deliver(site, ls, M1, "m1")
    port = site.start()
    p = connect(port)
    assert p.stat() == (1, len(crlf(want)))
    assert retr_bytes(p, 1) == crlf(want)
    p.quit()


def imap_login(dv):
    imap = imaplib.IMAP4("127.0.0.1", dv.imap_port)
    imap.login("alice", "secret")
    return imap


def imap_bodies(imap):
    typ, data = imap.select("INBOX")
    assert typ == "OK"
    n = int(data[0])
    out = []
    for i in range(1, n + 1):
        typ, d = imap.fetch(str(i), "(BODY.PEEK[])")
        assert typ == "OK"
        out.append(d[0][1])
    return out


def test_dovecot_and_pop3_agree(setup, procs):
    site, ls = setup
    want = [deliver(site, ls, m, f"m{i}") for i, m in enumerate((M1, M2, M3))]
    uid, gid = owner_ids()
    dv = dovecotutil.start(procs, site.dir, {"alice": "secret"}, uid, gid,
                           os.path.join(site.dir, "home"))
    port = site.start()

    # our view before Dovecot has touched the maildir
    p = connect(port)
    uidl_before = sorted(p.uidl()[1])
    ours = [retr_bytes(p, i) for i in (1, 2, 3)]
    p.quit()        # UPDATE: new/ -> cur/ with ":2,S"
    assert sorted(ours) == sorted(crlf(w) for w in want)

    # Dovecot reads the same bytes (it moves nothing back)
    imap = imap_login(dv)
    theirs = imap_bodies(imap)
    assert sorted(theirs) == sorted(ours)
    # Dovecot changes flags (renames cur/NAME:2,S -> cur/NAME:2,FS)
    typ, _ = imap.store("1:*", "+FLAGS", "(\\Flagged)")
    assert typ == "OK"
    imap.close()
    assert all(n.endswith(":2,FS") for n in site.files()["cur"])

    # UIDLs did not change with Dovecot's renames
    p = connect(port)
    assert sorted(p.uidl()[1]) == uidl_before
    # delete the message Dovecot shows first, through POP3
    idx = ours.index(theirs[0]) + 1
    p.dele(idx)
    p.quit()
    imap.select("INBOX")
    theirs2 = imap_bodies(imap)
    assert sorted(theirs2) == sorted(theirs[1:])

    # delete one through IMAP; POP3's next session no longer has it
    imap.select("INBOX")
    imap.store("1", "+FLAGS", "(\\Deleted)")
    imap.expunge()
    gone = theirs2[0]
    imap.logout()
    p = connect(port)
    left = [retr_bytes(p, i) for i in range(1, p.stat()[0] + 1)]
    p.quit()
    assert left == [b for b in theirs2 if b != gone]
    assert len(left) == 1


def test_dovecot_renames_during_session(setup, procs):
    """Dovecot moves new/ -> cur/ while a POP3 session is open: RETR and
    DELE still find the message by its base name."""
    site, ls = setup
    want = deliver(site, ls, M2, "m2")
    uid, gid = owner_ids()
    dv = dovecotutil.start(procs, site.dir, {"alice": "secret"}, uid, gid,
                           os.path.join(site.dir, "home"))
    port = site.start()
    p = connect(port)
    assert site.files()["new"] != []
    imap = imap_login(dv)
    imap.select("INBOX")        # Dovecot takes the message to cur/
    imap.store("1", "+FLAGS", "(\\Seen)")
    imap.close()
    imap.logout()
    assert site.files()["new"] == []
    assert retr_bytes(p, 1) == crlf(want)
    p.dele(1)
    p.quit()
    assert site.files() == {"new": [], "cur": []}


def test_concurrent_delivery_nothing_lost_or_twice(setup):
    """sandmail-local delivers while POP3 sessions fetch and delete: every
    message is fetched exactly once."""
    import threading
    site, ls = setup
    port = site.start()
    n = 30
    sent = [b"Subject: m%d\n\nbody %d\n" % (i, i) for i in range(n)]
    err = []

    def deliverer():
        try:
            for i, m in enumerate(sent):
                deliver(site, ls, m, f"c{i}")
        except Exception as e:      # reported by the main thread
            err.append(e)
    t = threading.Thread(target=deliverer)
    t.start()
    got = []
    try:
        while t.is_alive() or len(got) < n:
            p = connect(port)
            count = p.stat()[0]
            for i in range(1, count + 1):
                got.append(retr_bytes(p, i))
                p.dele(i)
            p.quit()
            if not t.is_alive() and count == 0:
                break
    finally:
        t.join()
    assert not err
    want = sorted(crlf(lu.expected(m, SENDER, RCPT)) for m in sent)
    assert sorted(got) == want
    assert site.files() == {"new": [], "cur": []}
