"""Every man page in doc/ renders: `man -l` with groff's warnings on prints
nothing on stderr, and `mandoc -T lint` finds no error.  The pages of the
"running it for real" work are held to mandoc's warnings too, and
sandmail.conf(5) must name every key the default configuration lists."""
import glob
import os
import re
import subprocess

import pytest

from conftest import ROOT, need

PAGES = sorted(glob.glob(os.path.join(ROOT, "doc", "*.[1-8]")))
STRICT = ("sandmail.conf.5", "sandmail-inject.8", "sandmail-check.8",
          "sandmail-conf.8",
          "sandmail.7")


def name(p):
    return os.path.basename(p)


def test_there_are_pages():
    have = {name(p) for p in PAGES}
    for p in STRICT:
        assert p in have, p


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_man_renders(page):
    need("man", "man-db")
    r = subprocess.run(["man", "--warnings", "-l", page],
                       env=dict(os.environ, MANWIDTH="80", MANPAGER="cat",
                                PAGER="cat"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    assert "NAME" in r.stdout and len(r.stdout.splitlines()) > 10


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_mandoc_lint(page):
    need("mandoc")
    level = "warning" if name(page) in STRICT else "error"
    r = subprocess.run(["mandoc", "-T", "lint", "-W", level, page],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert out == "", out


def test_conf_page_has_every_key():
    """Each key of scripts/setup's default sandmail.conf is in
    sandmail.conf(5)."""
    with open(os.path.join(ROOT, "scripts", "setup")) as f:
        setup = f.read()
    block = setup.split("sandmail.conf\" 0644 <<EOF", 1)[1].split("\nEOF", 1)[0]
    keys = set()
    for line in block.splitlines():
        m = re.match(r"#?([a-z][a-z0-9_]+)(\s|$)", line)
        if m and not line.startswith("# "):
            keys.add(m.group(1))
    assert len(keys) > 60, keys
    page = subprocess.run(["mandoc", "-T", "ascii",
                           os.path.join(ROOT, "doc", "sandmail.conf.5")],
                          capture_output=True, text=True).stdout
    page = re.sub(r".\x08", "", page)
    missing = sorted(k for k in keys if k not in page)
    assert missing == [], missing
