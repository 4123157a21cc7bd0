"""The maildir delivery's barriers by file system (local/deliver.c): on a
journaled one (ext4 with its journal, XFS) the file's data are written
out first (sync_file_range), then it is linked into new/ and its fsync
and new/'s are submitted together (one io_submit: one journal commit);
on ext4 without a journal the file is fsynced before the link and new/
after it, in turn, as before.  Each on a loop-mounted image of its own,
lspawn run under strace; the delivered bytes are checked in every case.
Needs root, losetup and the mkfs tools (else skipped)."""
import os
import shutil
import subprocess

import pytest

import localutil as lu

MSG = (b"From: a@example.org\nTo: u@example.org\nSubject: j\n\n" +
       b"line\n" * 2000)

KINDS = {
    # kind: (mkfs argv, image MiB, one barrier expected, mount options)
    "ext4": (["mkfs.ext4", "-q", "-F"], 64, True, "loop"),
    "ext4-nojournal": (["mkfs.ext4", "-q", "-F", "-O", "^has_journal"], 64,
                       False, "loop"),
    # its commit record is written without a cache flush first: a commit
    # does not make the earlier data durable (lib/fsprobe.c); the kernel
    # takes async commits only outside data=ordered
    "ext4-async-commit": (["mkfs.ext4", "-q", "-F"], 64, False,
                          "loop,journal_async_commit,data=writeback"),
    "xfs": (["mkfs.xfs", "-q", "-f"], 320, True, "loop"),
}


@pytest.fixture(params=sorted(KINDS))
def fs(request, procs):
    kind = request.param
    mkfs, mib, one, opts = KINDS[kind]
    if os.geteuid() != 0:
        pytest.skip("mounts a loop image: needs root")
    for tool in (mkfs[0], "losetup", "strace"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found")
    d = lu.make_dir()
    img = os.path.join(d, "fs.img")
    mnt = os.path.join(d, "mnt")
    os.mkdir(mnt)
    with open(img, "wb") as f:
        f.truncate(mib << 20)
    subprocess.run(mkfs + [img], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    r = subprocess.run(["mount", "-o", opts, img, mnt],
                       stderr=subprocess.PIPE)
    if r.returncode != 0:
        shutil.rmtree(d, ignore_errors=True)
        pytest.skip(f"cannot mount {kind}: {r.stderr.decode().strip()}")
    try:
        home = os.path.join(mnt, "home")
        os.mkdir(home)
        lu.own_dir(home)
        yield kind, d, home, one
    finally:
        procs.stop_all()
        subprocess.run(["umount", mnt])
        shutil.rmtree(d, ignore_errors=True)


def syscalls(trace, name):
    """The lines of strace's output for one call (with -f: 'PID call(')."""
    with open(trace) as f:
        return [ln for ln in f if f" {name}(" in ln or ln.startswith(name)]


def test_barriers_by_file_system(fs, procs):
    kind, d, home, one = fs
    conf = lu.write_conf(d)
    trace = os.path.join(d, "strace.out")
    msg = os.path.join(d, "msg")
    with open(msg, "wb") as f:
        f.write(MSG)
    # lspawn under strace: the delivery child is traced with it (-f)
    ls = lu.Lspawn(procs, conf, wrap=[
        "strace", "-f", "-qq", "-o", trace, "-e",
        "trace=fsync,fdatasync,io_submit,sync_file_range,linkat"])
    md = os.path.join(home, "Maildir")
    for i in range(3):
        st, text = ls.deliver(msg, "u@example.org", md + "/",
                              sender="s@example.org")
        assert st == "K", (kind, text)
    assert ls.close() == 0
    got = lu.read_new(md)
    assert got == [lu.expected(MSG, "s@example.org", "u@example.org")] * 3
    assert lu.maildir_files(md, "tmp") == []
    links = syscalls(trace, "linkat")
    submits = [ln for ln in syscalls(trace, "io_submit") if "= 2" in ln]
    ranges = syscalls(trace, "sync_file_range")
    fsyncs = syscalls(trace, "fsync")
    assert len(links) == 3, links
    if one:
        # written out, linked, then the file's fsync and new/'s at once
        assert len(submits) == 3 and len(ranges) == 3, (submits, ranges)
        # the maildir made at the first delivery: its own fsync
        assert len(fsyncs) <= 1, fsyncs
    else:
        assert submits == [] and ranges == [], (submits, ranges)
        assert len(fsyncs) >= 6, fsyncs
