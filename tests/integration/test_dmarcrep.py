"""DMARC aggregate reports (RFC 7489 7.2): smtpd checks mail for a domain
whose record asks for reports (rua= in its own organization, and one in
another that publishes the external destination record), and for a
domain whose rua= is elsewhere without that record; sandmail-dmarcrep
turns the event=verify lines into gzipped XML reports and mails them:
they arrive at the MXs of the first (every rua= address the mail fits,
more than two; not one whose "!size" it exceeds), the XML is valid
against the RFC's appendix C schema (xmllint), rows counted, and the
second's report is not sent.  The period is the lines' own time stamps,
not the files'."""
import email
import gzip
import os
import smtplib
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import need, prog, wait_for

REC = ("v=DMARC1; p=quarantine; pct=100; fo=1; "
       "rua=mailto:agg@dest.test!10m,mailto:ext@sink.test,"
       "mailto:agg2@dest.test,mailto:small@dest.test!1k")
XSD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                   "rfc7489-aggregate.xsd")
REC2 = "v=DMARC1; p=none; rua=mailto:x@dest.test"


@pytest.fixture
def system(procs, tmp_path):
    from e2eutil import running_system
    # a file: on dnsmasq's command line a comma would start another
    # string and quotes would be text
    extra = os.path.join(str(tmp_path), "dmarc.conf")
    with open(extra, "w") as f:
        f.write(f'txt-record=_dmarc.dest.test,"{REC}"\n'
                f'txt-record=_dmarc.sink.test,"{REC2}"\n')
    with running_system(procs, tmp_path, verify=True, dns_extra=[
            f"--conf-file={extra}", "--txt-record=dest.test,v=spf1 -all",
            "--txt-record=sink.test,v=spf1 -all",
            "--txt-record=dest.test._report._dmarc.sink.test,v=DMARC1"],
            tables={"relayclients": ""}) as s:
        yield s


def msg(frm, subj):
    return (f"From: {frm}\r\nTo: alice@example.test\r\nSubject: {subj}\r\n"
            f"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nx\r\n").encode()


def test_report_is_mailed_and_well_formed(system):
    from remoteutil import SMTPServer
    s = system
    for frm in ("boss@dest.test",) * 3 + ("boss@sink.test",):
        with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
            # SPF -all, no signature: DMARC fails
            c.sendmail(frm.replace("boss", "x"), ["alice@example.test"],
                       msg(frm, "forged"))
    log = open(s.log, "rb").read().decode()
    assert log.count("event=verify") == 4 and "applied=none" in log
    # -n: the XML alone (dest.test's lines: one report)
    one = os.path.join(os.path.dirname(s.log), "dest.log")
    with open(one, "w") as f:
        f.writelines(x for x in log.splitlines(True)
                     if "from_domain=dest.test" in x)
    xml = report_xml(s.conf, one, "100", "200")
    root = ET.fromstring(xml)
    check_xml(root)
    valid(xml)
    # the same from an IPv6 client: the schema's pattern for it has no
    # "::", so the report writes all eight groups
    six = os.path.join(os.path.dirname(s.log), "six.log")
    with open(six, "w") as f:
        f.writelines(x.replace("ip=127.0.0.1", "ip=2001:db8::25")
                     for x in log.splitlines(True)
                     if "from_domain=dest.test" in x)
    xml = report_xml(s.conf, six, "100", "200")
    assert b"<source_ip>2001:db8:0:0:0:0:0:25</source_ip>" in xml, xml
    valid(xml)
    mx = SMTPServer("127.0.0.2", s.mx_port, "mx.dest.test")
    ext = SMTPServer("127.0.0.3", s.mx_port, "mx.sink.test")
    try:
        r = subprocess.run([prog("sandmail-dmarcrep"), "-c", s.conf,
                            "-b", "100", "-e", "200", s.log],
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        err = r.stderr.decode()
        # sink.test's rua is at dest.test, another organization, which
        # has no sink.test._report._dmarc.dest.test record
        assert "event=skip domain=sink.test rua=x@dest.test" in err, err
        # 1k is less than the report's mail: that address gets none
        assert "event=skip domain=dest.test rua=small@dest.test why=" \
            "\"report larger than the address's limit\"" in err, err
        t = wait_for(lambda: mx.done(), timeout=60, what="the report")[0]
        u = wait_for(lambda: ext.done(), timeout=60,
                     what="the external report")[0]
    finally:
        mx.close()
        ext.close()
    assert sorted(r.split()[1] for r in t.rcpts) == [
        "TO:<agg2@dest.test>", "TO:<agg@dest.test>"]
    assert [r.split()[1] for r in u.rcpts] == ["TO:<ext@sink.test>"]
    assert len(mx.done()) == 1      # no report of sink.test
    for d in (t.data, u.data):
        m = email.message_from_bytes(d)
        assert m["Subject"].startswith(
            "Report Domain: dest.test Submitter: ")
        part = [p for p in m.walk()
                if p.get_content_type() == "application/gzip"][0]
        assert part.get_filename().endswith("!dest.test!100!200.xml.gz")
        x = gzip.decompress(part.get_payload(decode=True))
        check_xml(ET.fromstring(x))
        valid(x)


def report_xml(conf, log, beg, end):
    """sandmail-dmarcrep -n: the XML of log's lines from beg to end"""
    r = subprocess.run([prog("sandmail-dmarcrep"), "-c", conf, "-n", "-b",
                        beg, "-e", end, log], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def valid(xml):
    """xmllint: the report against RFC 7489 appendix C's schema"""
    need("xmllint", "libxml2-utils")
    r = subprocess.run(["xmllint", "--noout", "--schema", XSD, "-"],
                       input=xml, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()


def check_xml(root):
    assert root.tag == "feedback"
    assert root.find("version").text == "1.0"
    md = root.find("report_metadata")
    assert md.find("org_name").text and md.find("report_id").text
    assert md.find("date_range/begin").text == "100"
    assert md.find("date_range/end").text == "200"
    pp = root.find("policy_published")
    assert [(c.tag, c.text) for c in pp] == [
        ("domain", "dest.test"), ("adkim", "r"), ("aspf", "r"),
        ("p", "quarantine"), ("sp", "quarantine"), ("pct", "100"),
        ("fo", "1")]
    recs = root.findall("record")
    assert len(recs) == 1
    row = recs[0].find("row")
    assert row.find("source_ip").text == "127.0.0.1"
    assert row.find("count").text == "3"
    pe = row.find("policy_evaluated")
    assert [(c.tag, c.text) for c in pe] == [
        ("disposition", "none"), ("dkim", "fail"), ("spf", "fail")]
    assert recs[0].find("identifiers/header_from").text == "dest.test"
    assert recs[0].find("identifiers/envelope_from").text == "dest.test"
    spf = recs[0].find("auth_results/spf")
    assert [(c.tag, c.text) for c in spf] == [
        ("domain", "dest.test"), ("scope", "mfrom"), ("result", "fail")]


def test_hostile_values_stay_text(tmp_path):
    """The log's values come from outside (signatures' d=, From
    domains): whatever they hold, the XML parses and says them as text;
    lines of other programs, other events, without a record, or of a
    451 are not counted."""
    conf = os.path.join(str(tmp_path), "sandmail.conf")
    with open(conf, "w") as f:
        f.write("hostname rep<&>.test\n")
    base = ('prog=smtpd event=verify id=X ip=192.0.2.1 spf=fail '
            'dkim=fail arc=none dmarc=fail from_domain="a&b<c>.test" '
            'policy=reject spf_domain="s\'q.test" '
            'dkim_d="x<y>:fail,\\"q\\":pass,nocolon" '
            'dmarc_domain="a&b<c>.test" aligned=none applied=reject '
            'published="p=reject,sp=none,pct=50,adkim=s,aspf=r" '
            'rua=""\n')
    log = os.path.join(str(tmp_path), "log")
    with open(log, "w") as f:
        f.write(base * 2)
        f.write(base.replace("prog=smtpd", "prog=send"))
        f.write(base.replace("event=verify", "event=accept"))
        f.write(base.replace("applied=reject", "applied=tempfail"))
        f.write(base.replace('published="p=reject,sp=none,pct=50,adkim=s,'
                             'aspf=r"', 'published=""'))
        f.write("garbage without fields\n\n")
    xml = report_xml(conf, log, "1", "2")
    root = ET.fromstring(xml)
    assert root.find("report_metadata/org_name").text == "rep<&>.test"
    pp = root.find("policy_published")
    assert [(c.tag, c.text) for c in pp] == [
        ("domain", "a&b<c>.test"), ("adkim", "s"), ("aspf", "r"),
        ("p", "reject"), ("sp", "none"), ("pct", "50"), ("fo", "0")]
    recs = root.findall("record")
    assert len(recs) == 1 and recs[0].find("row/count").text == "2"
    assert recs[0].find("identifiers/header_from").text == "a&b<c>.test"
    dk = [(d.find("domain").text, d.find("result").text)
          for d in recs[0].findall("auth_results/dkim")]
    assert dk == [("x<y>", "fail"), ('"q"', "pass")]
    assert recs[0].find("auth_results/spf/domain").text == "s'q.test"
    # a usage error is 100
    r = subprocess.run([prog("sandmail-dmarcrep"), "-b", "2", "-e", "1",
                        log], capture_output=True, timeout=30)
    assert r.returncode == 100


def test_period_is_the_lines_time_not_the_files(tmp_path):
    """A log file rotated at any hour holds lines of two days: the lines
    whose logger's time stamp (svlogd -tt, ISO 8601, TAI64N) is outside
    -b..-e are not counted; lines without one are (the files given are
    all that can tell), and the run says how many of each."""
    conf = os.path.join(str(tmp_path), "sandmail.conf")
    with open(conf, "w") as f:
        f.write("hostname rep.test\n")
    line = ('prog=smtpd event=verify id=X ip=192.0.2.1 spf=fail '
            'dkim=none arc=none dmarc=fail from_domain=a.test '
            'policy=reject spf_domain=a.test dkim_d="" '
            'dmarc_domain=a.test aligned=none applied=reject '
            'published="p=reject,sp=none,pct=100,adkim=r,aspf=r,fo=0" '
            'rua=""\n')
    # the day 2026-12-06 UTC: 1796515200 .. 1796601599
    beg, end = 1796515200, 1796601599
    log = os.path.join(str(tmp_path), "current")
    with open(log, "w") as f:
        f.write("2026-12-05_23:59:59.99999 " + line)      # the day before
        f.write("2026-12-06_00:00:00.00001 " + line)      # in
        f.write("2026-12-06T12:30:00Z " + line)           # in
        f.write("2026-12-06 23:59:59 " + line)            # in
        f.write("@400000006b15f72a1a2b3c4d " + line)      # 2026-12-07
        f.write("2026-12-07_00:00:00.5 " + line)          # the day after
        f.write("2026-13-06_00:00:00.5 " + line)          # no date: counted
        f.write(line)                                     # no stamp: counted
    r = subprocess.run([prog("sandmail-dmarcrep"), "-c", conf, "-n", "-b",
                        str(beg), "-e", str(end), log],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    xml = r.stdout
    root = ET.fromstring(xml)
    assert [x.find("row/count").text for x in root.findall("record")] == [
        "5"], xml
    err = r.stderr.decode()
    assert "event=period outside=3 unstamped=2" in err, err
    valid(xml)


def test_d_with_separators_is_one_domain(tmp_path):
    """smtpd logs each signature as d:result in a comma-separated list;
    a d= from outside may itself hold ',' or ':' (smtpd escapes them,
    and '%', as %2C %3A %25): each signature stays one <dkim>, with its
    d= as it was."""
    conf = os.path.join(str(tmp_path), "sandmail.conf")
    with open(conf, "w") as f:
        f.write("hostname rep.test\n")
    line = ('prog=smtpd event=verify id=X ip=192.0.2.1 spf=fail '
            'dkim=fail arc=none dmarc=fail from_domain=a.test '
            'policy=reject spf_domain=a.test '
            'dkim_d="a%2Cb%3Ac.test:fail,x%25y%3A.test:permerror,'
            'a.test:pass" dmarc_domain=a.test aligned=none '
            'applied=reject published="p=reject,sp=none,pct=100,adkim=r,'
            'aspf=r" rua=""\n')
    log = os.path.join(str(tmp_path), "log")
    with open(log, "w") as f:
        f.write(line)
    xml = report_xml(conf, log, "1", "2")
    root = ET.fromstring(xml)
    dk = [(d.find("domain").text, d.find("result").text)
          for d in root.findall("record/auth_results/dkim")]
    assert dk == [("a,b:c.test", "fail"), ("x%y:.test", "permerror"),
                  ("a.test", "pass")]
    valid(xml)


def test_smtpd_escapes_separators_in_d(system):
    """End to end: a signature whose d= holds ',' and ':' (no key can be
    found for it) is logged by smtpd as one entry, and reported as one
    <dkim> with that d=."""
    s = system
    sig = ("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; "
           "d=x,y:z.dest.test; s=s1; h=from; bh=AAAA; b=AAAA\r\n")
    with smtplib.SMTP("127.0.0.1", s.port, timeout=20) as c:
        c.sendmail("x@dest.test", ["alice@example.test"],
                   sig.encode() + msg("boss@dest.test", "odd d="))
    log = open(s.log, "rb").read().decode()
    line = [x for x in log.splitlines() if "event=verify" in x]
    assert len(line) == 1, log
    assert 'dkim_d=x%2Cy%3Az.dest.test:' in line[0], line[0]
    xml = report_xml(s.conf, s.log, "1", "2")
    dk = [d.find("domain").text
          for d in ET.fromstring(xml).findall(
              "record/auth_results/dkim")]
    assert dk == ["x,y:z.dest.test"], xml
    valid(xml)
