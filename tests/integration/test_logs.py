"""The delivery log an admin reads: one line per attempt of each
recipient (sent, deferred, bounced, expired) checked field by field,
smtpd's refusals with their stage, and sandmail-logsum's counts over the
logs a run made."""
import re
import subprocess
import time

import sendutil as su
import smtpdutil
from conftest import prog, wait_for

TOKEN = re.compile(r'([A-Za-z_]\w*)=("(?:[^"\\]|\\.)*"|[^ ]*)')


def fields(line):
    out = {}
    for k, v in TOKEN.findall(line):
        if v.startswith('"'):
            v = re.sub(r'\\x([0-9a-f]{2})|\\(.)',
                       lambda m: chr(int(m[1], 16)) if m[1] else m[2],
                       v[1:-1])
        out[k] = v
    return out


def send_lines(s, status=None):
    out = []
    for ln in s.logtext().decode().splitlines():
        f = fields(ln)
        if f.get("prog") == "send" and "status" in f and \
                (status is None or f["status"] == status):
            out.append(f)
    return out


def logsum(*files):
    r = subprocess.run([prog("sandmail-logsum"), *files],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    tot = {}
    for ln in r.stdout.split("\n\n")[0].splitlines()[1:]:
        k, v = ln.rsplit(None, 1)
        tot[k.strip()] = int(v)
    return tot, r.stdout


def test_delivery_lines(procs, tmp_path):
    def rpol(j, r):
        if r.startswith("later@"):
            return ("Z", "mx[192.0.2.1] said: 451 4.7.1 greylisted")
        if r.startswith("bad@"):
            return ("X", "mx[192.0.2.1] said: 550 5.1.1 no such user")
        if r.startswith("old@"):
            return ("Z", "connect to mx[192.0.2.1]:25: Connection refused")
        return ("K", "mx[192.0.2.1] said: 250 2.0.0 Ok")
    conf = su.setup(tmp_path, su.TABLES, retry_first="1h", retry_max="4h")
    s = su.Send(procs, conf, rpolicy=rpol).start()
    m1 = su.inject(conf, "ann@far.example",
                   ["team@test.example", "ok@r.example", "later@r.example",
                    "bad@r.example"])
    old = int(time.time()) - 10 * 86400
    m2 = su.inject(conf, "ann@far.example", ["old@r.example"], arrival=old)
    # 4 attempts of m1's, 1 of m2's, then the two reports (bad, expired)
    wait_for(lambda: len(send_lines(s)) >= 8, what="result lines")
    by = {(f["id"], f["to"]): f for f in send_lines(s)}

    f = by[(m1, "alice@test.example")]
    assert f["event"] == "delivered" and f["status"] == "sent"
    assert f["orig_to"] == "team@test.example"
    assert f["relay"] == "local" and f["dsn"] == "2.0.0"
    assert f["dest"] == "/home/alice/Maildir/"
    assert by[(m1, "bob@test.example")]["orig_to"] == "team@test.example"
    for k in ("delay", "delay_in"):
        assert re.fullmatch(r"\d+", f[k]) and int(f[k]) < 60
    assert re.fullmatch(r"\d+\.\d{3}", f["delay_out"])

    f = by[(m1, "ok@r.example")]
    assert (f["status"], f["dsn"], f["orig_to"], f["relay"]) == (
        "sent", "2.0.0", "ok@r.example", "mx1.remote.example")
    assert f["text"] == "mx[192.0.2.1] said: 250 2.0.0 Ok"

    f = by[(m1, "later@r.example")]
    assert (f["event"], f["status"], f["dsn"]) == (
        "deferred", "deferred", "4.7.1")
    assert f["text"] == "mx[192.0.2.1] said: 451 4.7.1 greylisted"

    f = by[(m1, "bad@r.example")]
    assert (f["event"], f["status"], f["dsn"]) == (
        "bounced", "bounced", "5.1.1")

    f = by[(m2, "old@r.example")]
    assert (f["event"], f["status"], f["dsn"]) == (
        "bounced", "expired", "4.4.7")
    assert int(f["delay"]) >= 10 * 86400
    assert f["text"].endswith("Connection refused")

    wait_for(lambda: len([f for f in send_lines(s, "sent")
                          if f["to"] == "ann@far.example"]) == 2,
             what="two reports")

    tot, out = logsum(s.log)
    assert tot["delivered"] == 5        # alice, bob, ok, two reports
    assert tot["deferred"] == 1 and tot["bounced"] == 1
    assert tot["expired"] == 1 and tot["rejected"] == 0
    assert "greylisted" in out.split("Deferral reasons")[1]
    assert "550 5.1.1 no such user" in out.split("Bounce reasons")[1]
    # stdin works as a file
    with open(s.log) as f:
        lines = f.read().splitlines()
    r = subprocess.run([prog("sandmail-logsum")], input="\n".join(lines),
                       capture_output=True, text=True)
    assert r.stdout == out
    # by hour, from the logger's stamps: svlogd -tt, ISO 8601, TAI64N
    t = 1796612645          # 2026-12-07 03:04:05 UTC
    tai = "@%016x%08x" % ((1 << 62) + t + 37, 0)
    stamps = ["2026-12-07_02:59:59.12345 ", "2026-12-07T03:00:00Z ",
              tai + " "]
    text = "\n".join(stamps[i % 3] + ln for i, ln in enumerate(lines))
    r = subprocess.run([prog("sandmail-logsum")], input=text,
                       capture_output=True, text=True)
    rows = {}
    for ln in r.stdout.split("Per hour (UTC)\n")[1].split("\n\n")[0] \
            .splitlines()[1:]:
        p = ln.split()
        rows[p[0] + " " + p[1]] = sum(map(int, p[2:]))
    assert set(rows) == {"2026-12-07 02", "2026-12-07 03"}
    assert sum(rows.values()) == 8
    n02 = sum(1 for i, ln in enumerate(lines) if i % 3 == 0 and
              "status=" in ln)
    assert rows["2026-12-07 02"] == n02


def test_refusals_and_logsum(procs, tmp_path):
    d = smtpdutil.Smtpd(procs, tmp_path)
    c = d.client()
    assert c.code("EHLO client.test") == 250
    assert c.code("MAIL FROM:<x@sender.test>") == 250
    assert c.code("RCPT TO:<nosuch@example.test>") == 550
    assert c.code("RCPT TO:<a@elsewhere.test>") == 554
    assert c.code("RCPT TO:<alice@example.test>") == 250
    assert c.code("DATA") == 354
    c.send("Subject: hi\r\n\r\nbody\r\n.\r\n")
    assert c.reply()[0] == 250
    assert c.code("QUIT") == 221
    c.close()
    wait_for(lambda: "event=accept" in d.logtext(), what="accept")
    refs = [fields(ln) for ln in d.logtext().splitlines()
            if "event=refuse" in ln]
    assert len(refs) == 2
    for f, why in zip(refs, ("unknown user", "relaying denied")):
        assert f["stage"] == "RCPT" and f["ip"] == "127.0.0.1"
        assert f["from"] == "x@sender.test" and f["helo"] == "client.test"
        assert f["reason"] == why
    assert refs[0]["reply"].startswith("550 5.1.1 <nosuch@example.test>")
    d.qlog.flush()
    tot, out = logsum(d.log, d.qlog.name)
    assert tot["received"] == 1 and tot["rejected"] == 2
    rej = out.split("Rejections (stage: reason)")[1]
    assert "1  RCPT: unknown user" in rej
    assert "1  RCPT: relaying denied" in rej
    assert "1  x@sender.test" in out.split("Senders")[1]
