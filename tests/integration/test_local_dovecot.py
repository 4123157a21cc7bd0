"""Interop: messages delivered by sandmail-lspawn/sandmail-local are read
by Debian's Dovecot over IMAP (imaplib): the same bytes, flags that
persist as maildir info (cur/NAME:2,S), new mail seen after NOOP."""
import imaplib
import os
import shutil

import pytest

import dovecotutil
import localutil as lu



@pytest.fixture(autouse=True)
def dovecot_installed():
    if not dovecotutil.available():
        pytest.fail("dovecot is not installed (dovecot-imapd, scripts/deps)",
                    pytrace=False)

USER, PASS = "alice", "s3cret-pw"
RCPT = "alice@example.org"


@pytest.fixture
def setup(procs):
    d = lu.make_dir("sandmail-dovecot-")
    home_base = os.path.join(d, "home")
    home = os.path.join(home_base, USER)
    os.makedirs(home)
    os.chmod(home_base, 0o755)
    lu.own_dir(home)
    uid, gid = lu.test_ids()
    dv = dovecotutil.start(procs, d, {USER: PASS}, uid, gid, home_base)
    ls = lu.Lspawn(procs, lu.write_conf(d), log=os.path.join(d, "ls.log"))
    yield d, home + "/Maildir", dv, ls
    ls.close()
    shutil.rmtree(d, ignore_errors=True)


def deliver(d, ls, md, data, name):
    p = os.path.join(d, name)
    with open(p, "wb") as f:
        f.write(data)
    st, text = ls.deliver(p, RCPT, md + "/", sender="bob@example.net")
    assert st == "K", text
    return lu.expected(data, "bob@example.net", RCPT)


def crlf_to_lf(b):
    return b.replace(b"\r\n", b"\n")


def fetch_body(imap, n):
    typ, data = imap.fetch(str(n), "(BODY.PEEK[])")
    assert typ == "OK", data
    return data[0][1]


M1 = (b"From: Bob <bob@example.net>\nTo: alice@example.org\n"
      b"Subject: =?utf-8?q?caf=C3=A9?=\nMessage-ID: <1@example.net>\n\n"
      b"Hello Alice,\n\n8-bit: \xc3\xa9t\xc3\xa9\n.\n..\nBye.\n")
M2 = (b"From: Bob <bob@example.net>\nTo: alice@example.org\n"
      b"Subject: second\n\nsecond message\n")


def test_dovecot_reads_our_maildir(setup):
    d, md, dv, ls = setup
    want1 = deliver(d, ls, md, M1, "m1")
    imap = imaplib.IMAP4("127.0.0.1", dv.imap_port)
    try:
        imap.login(USER, PASS)
        typ, data = imap.select("INBOX")
        assert typ == "OK" and data[0] == b"1", dv.log_text()
        # the same bytes, Dovecot's CRLF apart
        assert crlf_to_lf(fetch_body(imap, 1)) == want1
        # flags persist as maildir info on the file
        typ, _ = imap.store("1", "+FLAGS", "(\\Seen \\Flagged)")
        assert typ == "OK"
        cur = lu.maildir_files(md, "cur")
        assert len(cur) == 1 and cur[0].endswith(":2,FS"), cur
        assert lu.maildir_files(md, "new") == []
        # a second delivery during the session shows after NOOP
        want2 = deliver(d, ls, md, M2, "m2")
        typ, _ = imap.noop()
        assert typ == "OK"
        typ, data = imap.search(None, "ALL")
        assert data[0].split() == [b"1", b"2"]
        assert crlf_to_lf(fetch_body(imap, 2)) == want2
        typ, data = imap.fetch("1:2", "(FLAGS)")
        assert b"\\Seen" in data[0] and b"\\Flagged" in data[0], data
        assert b"\\Seen" not in data[1] and b"\\Flagged" not in data[1]
        imap.logout()
    finally:
        try:
            imap.shutdown()
        except OSError:
            pass
    # a new session still sees the flags (they live in the file name)
    imap = imaplib.IMAP4("127.0.0.1", dv.imap_port)
    imap.login(USER, PASS)
    imap.select("INBOX", readonly=True)
    typ, data = imap.fetch("1", "(FLAGS)")
    assert b"\\Seen" in data[0] and b"\\Flagged" in data[0]
    imap.logout()


def test_dovecot_pop3_reads_our_maildir(procs):
    import poplib
    d = lu.make_dir("sandmail-dovecot-")
    try:
        home_base = os.path.join(d, "home")
        home = os.path.join(home_base, USER)
        os.makedirs(home)
        os.chmod(home_base, 0o755)
        lu.own_dir(home)
        uid, gid = lu.test_ids()
        dv = dovecotutil.start(procs, d, {USER: PASS}, uid, gid, home_base,
                               protocols=("pop3",))
        ls = lu.Lspawn(procs, lu.write_conf(d))
        md = home + "/Maildir"
        want = [deliver(d, ls, md, m, f"m{i}") for i, m in enumerate([M1, M2])]
        ls.close()
        pop = poplib.POP3("127.0.0.1", dv.pop3_port)
        pop.user(USER)
        pop.pass_(PASS)
        assert pop.stat()[0] == 2
        for i, w in enumerate(want, 1):
            _, lines, _ = pop.retr(i)
            # poplib strips line ends and dot-stuffing
            assert b"\n".join(lines) + b"\n" == w
        pop.dele(1)
        pop.quit()
        assert len(lu.maildir_files(md, "new") + lu.maildir_files(md, "cur")) \
            == 1
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_dovecot_sees_maildirplusplus_folder(setup):
    d, md, dv, ls = setup
    # the first delivery goes straight into a folder: the parent is made
    # a maildir too, and the folder is marked as one
    p = os.path.join(d, "m-folder")
    with open(p, "wb") as f:
        f.write(M2)
    st, text = ls.deliver(p, RCPT, md + "/.Lists/", sender="bob@example.net")
    assert st == "K", text
    want = lu.expected(M2, "bob@example.net", RCPT)
    assert os.path.exists(os.path.join(md, ".Lists", "maildirfolder"))
    for sub in ("tmp", "new", "cur"):
        assert os.path.isdir(os.path.join(md, sub)), sub
    imap = imaplib.IMAP4("127.0.0.1", dv.imap_port)
    imap.login(USER, PASS)
    typ, data = imap.list()
    assert typ == "OK" and any(x.endswith(b"Lists") for x in data), data
    typ, data = imap.select("INBOX")
    assert typ == "OK" and data[0] == b"0", data
    typ, data = imap.select("Lists")
    assert typ == "OK" and data[0] == b"1", data
    assert crlf_to_lf(fetch_body(imap, 1)) == want
    imap.logout()
