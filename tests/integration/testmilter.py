"""A milter of the tests' own (python3-milter), on 127.0.0.1:PORT (argv[1]).

What it does is chosen by the envelope and the message, so one milter
serves every case of test_milter.py:
  sender hang@...     never answers MAIL (the client's time-out)
  sender crash@...    exits in MAIL (EOF mid-transaction)
  rcpt reject@...     550 5.7.1 with a custom text (setreply)
  rcpt tempfail@...   TEMPFAIL
  Subject: discard    DISCARD at end of message
  Subject: quarantine end of message: quarantine, ACCEPT
  Subject: rewrite    end of message: replace the body, delete X-Remove,
                      change the sender, add bob, delete alice, ACCEPT
  body with GTUBE     554 5.7.1 at end of message
  otherwise           end of message: add header X-Milter-Test, insert
                      X-First at 1, change Subject, ACCEPT
It writes the macros it saw to stderr (the test reads them)."""
import os
import sys
import time

import Milter


class TestMilter(Milter.Base):
    def __init__(self):
        self.text = b""
        self.subject = ""

    def log(self, *a):
        print(*a, file=sys.stderr, flush=True)

    @Milter.noreply
    def connect(self, hostname, family, hostaddr):
        self.log("connect", hostname, hostaddr,
                 self.getsymval("{client_addr}"), self.getsymval("j"))
        return Milter.CONTINUE

    def envfrom(self, f, *params):
        self.log("mail", f, self.getsymval("{mail_addr}"),
                 self.getsymval("i"))
        if f.startswith("<hang@"):
            time.sleep(3600)
        if f.startswith("<crash@"):
            os._exit(1)
        return Milter.CONTINUE

    def envrcpt(self, to, *params):
        self.log("rcpt", to, self.getsymval("{rcpt_addr}"))
        if to.startswith("<reject@"):
            self.setreply("550", "5.7.1", "no such luck here")
            return Milter.REJECT
        if to.startswith("<tempfail@"):
            return Milter.TEMPFAIL
        return Milter.CONTINUE

    def header(self, name, value):
        self.log("header", name, value)
        if name.lower() == "subject":
            self.subject = value
        return Milter.CONTINUE

    def body(self, chunk):
        self.text += chunk
        return Milter.CONTINUE

    def eom(self):
        if self.subject == "discard":
            return Milter.DISCARD
        if self.subject == "quarantine":
            self.quarantine("held by the test milter")
            return Milter.ACCEPT
        if self.subject == "rewrite":
            self.replacebody(b"new body\r\nsecond line\r\n")
            self.chgheader("X-Remove", 1, "")
            self.chgfrom("<changed@remote.test>")
            self.addrcpt("<bob@example.test>")
            self.delrcpt("<alice@example.test>")
            return Milter.ACCEPT
        if b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST" \
                in self.text:
            self.setreply("554", "5.7.1", "GTUBE seen")
            return Milter.REJECT
        self.addheader("X-Milter-Test", "passed")
        self.addheader("X-First", "yes", 1)
        self.chgheader("Subject", 1, "changed")
        self.log("body", len(self.text), self.text.count(b"\r\n"))
        return Milter.ACCEPT


if __name__ == "__main__":
    Milter.factory = TestMilter
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.CHGBODY |
                     Milter.CHGFROM | Milter.ADDRCPT | Milter.DELRCPT |
                     Milter.QUARANTINE)
    Milter.runmilter("testmilter", f"inet:{sys.argv[1]}@127.0.0.1", 600)
