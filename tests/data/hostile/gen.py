#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generate the hostile layer archives of tests/data/hostile/ and their MANIFEST.

Every archive tries to write outside the layer root, or is malformed.  The tests apply each
into <W>/root with <W>/outside beside it (and, in the root-only integration test, a private
tmpfs on /mnt holding /mnt/root and /mnt/outside, so absolute targets below are real).
MANIFEST lines: NAME EXPECTED_CODE TOOL_FLAGS('-' for none) DESCRIPTION
Run: python3 tests/data/hostile/gen.py [OUTDIR]   (default: this directory)
"""
import gzip
import io
import os
import sys
import tarfile

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
MTIME = 1700000000
manifest = []


def info(name, type_=tarfile.REGTYPE, size=0, mode=0o644, linkname="", pax=None, dev=(0, 0)):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.size = size
    ti.mode = mode
    ti.mtime = MTIME
    ti.linkname = linkname
    ti.uid = ti.gid = 0
    ti.devmajor, ti.devminor = dev
    if pax:
        ti.pax_headers = dict(pax)
    return ti


def build(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def reg(name, data=b"pwned\n", **kw):
    return (info(name, size=len(data), **kw), data)


def d(name):
    return (info(name, tarfile.DIRTYPE, mode=0o755), None)


def sym(name, target):
    return (info(name, tarfile.SYMTYPE, mode=0o777, linkname=target), None)


def hard(name, target):
    return (info(name, tarfile.LNKTYPE, linkname=target), None)


def emit(name, code, flags, desc, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    manifest.append("%s %d %s %s" % (name, code, flags or "-", desc))


# -- names
emit("dotdot.tar", 15, None, "'../outside/pwned'", build([reg("../outside/pwned")]))
emit("dotdot-nested.tar", 15, None, "'a/../../outside/pwned' after a legit entry",
     build([d("a"), reg("a/ok"), reg("a/../../outside/pwned")]))
emit("dotdot-dot.tar", 15, None, "'./../outside/pwned'", build([reg("./../outside/pwned")]))
emit("absolute.tar", 15, None, "'/mnt/outside/pwned'", build([reg("/mnt/outside/pwned")]))
emit("absolute-pax.tar", 15, None, "ustar name harmless, PAX path absolute",
     build([reg("harmless", pax={"path": "/mnt/outside/pwned"})]))
emit("dotdot-gnu-longname.tar", 15, None, "'..' hidden in a GNU long name",
     build([reg("x/" * 60 + "../" * 61 + "outside/pwned")], fmt=tarfile.GNU_FORMAT))
emit("long-name.tar", 15, None, "a 8 KiB PAX path",
     build([reg("a" * 8192, pax={"path": "a/" * 4096})]))

# -- symlinks
emit("symlink-write-through.tar", 15, None, "symlink to ../outside then a file below it",
     build([sym("l", "../outside"), reg("l/pwned")]))
emit("symlink-abs-write-through.tar", 15, None, "symlink to /mnt/outside then a file below it",
     build([sym("l", "/mnt/outside"), reg("l/pwned")]))
emit("symlink-dir-write-through.tar", 15, None, "symlink to ../outside then a dir below it",
     build([sym("l", "../outside"), d("l/sub"), reg("l/sub/pwned")]))
emit("symlink-chain.tar", 15, None, "a -> b, b -> ../outside, file below a",
     build([sym("b", "../outside"), sym("a", "b"), reg("a/pwned")]))
emit("symlink-loop.tar", 15, None, "a -> b, b -> a, file below a",
     build([sym("a", "b"), sym("b", "a"), reg("a/x")]))
emit("symlink-self-loop.tar", 15, None, "a -> a, file below a",
     build([sym("a", "a"), reg("a/x")]))

# -- hardlinks
emit("hardlink-outside.tar", 15, None, "hardlink to ../outside/file",
     build([hard("h", "../outside/file")]))
emit("hardlink-absolute.tar", 15, None, "hardlink to /mnt/outside/file",
     build([hard("h", "/mnt/outside/file")]))
emit("hardlink-via-symlink.tar", 15, None, "symlink to ../outside, hardlink to l/file",
     build([sym("l", "../outside"), hard("h", "l/file")]))
emit("hardlink-to-dir.tar", 15, None, "hardlink to a directory",
     build([d("dir"), hard("h", "dir")]))
emit("hardlink-to-root.tar", 15, None, "hardlink to '.'", build([hard("h", ".")]))

# -- devices (the tests pass -D: refuse devices)
emit("device-char.tar", 15, "-D", "char device 1/1 (/dev/mem)",
     build([(info("mem", tarfile.CHRTYPE, mode=0o666, dev=(1, 1)), None)]))
emit("device-block.tar", 15, "-D", "block device 8/0 (/dev/sda)",
     build([(info("sda", tarfile.BLKTYPE, mode=0o666, dev=(8, 0)), None)]))

# -- whiteouts
emit("whiteout-dotdot.tar", 15, "-wdelete", "'.wh...' (whiteout of '..')",
     build([reg(".wh...", b"")]))
emit("whiteout-dot.tar", 15, "-wdelete", "'sub/.wh..' (whiteout of '.')",
     build([d("sub"), reg("sub/.wh..", b"")]))
emit("whiteout-dotdot-overlay.tar", 15, None, "'.wh...' in overlay mode",
     build([reg(".wh...", b"")]))
emit("whiteout-via-symlink.tar", 15, "-wdelete", "symlink to ../outside then l/.wh.file",
     build([sym("l", "../outside"), reg("l/.wh.file", b"")]))
emit("opaque-via-symlink.tar", 15, "-wdelete", "symlink to ../outside then l/.wh..wh..opq",
     build([sym("l", "../outside"), reg("l/.wh..wh..opq", b"")]))
emit("whiteout-parent-path.tar", 15, "-wdelete", "'../outside/.wh.file'",
     build([reg("../outside/.wh.file", b"")]))

# -- tricky but legal: must succeed (code 0) and still leave the outside alone
emit("symlink-then-file.tar", 0, None, "symlink to ../outside/file, then a file of that name",
     build([sym("l", "../outside/file"), reg("l", b"inside\n")]))
emit("symlink-then-dir.tar", 0, None, "symlink to ../outside, then a dir of that name and a file",
     build([sym("l", "../outside"), d("l"), reg("l/x")]))
emit("hardlink-to-symlink.tar", 0, None, "hardlink to a symlink that points outside",
     build([sym("l", "../outside/file"), hard("h", "l")]))
emit("dir-then-symlink.tar", 0, None, "dir 0777, then a symlink to ../outside replacing it "
     "(the deferred chmod must not follow)",
     build([(info("d", tarfile.DIRTYPE, mode=0o4777), None), sym("d", "../outside")]))

# -- malformed
good = build([d("a"), reg("a/big", b"x" * 100000)])
emit("truncated-data.tar", 6, None, "cut in the middle of a file's data", good[:20000])
emit("truncated-header.tar", 6, None, "cut in the middle of a header", good[:512 + 256])
hdr = bytearray(build([reg("file")])[:512])
hdr[148:156] = b"0000000\0"  # wrong checksum
emit("bad-checksum.tar", 6, None, "header checksum wrong", bytes(hdr) + b"\0" * 1024)
emit("not-a-tar.tar", 6, None, "random bytes", bytes((i * 7919) & 0xFF for i in range(4096)))
# a 2 MiB PAX record (over libarchive's 1 MiB cap); gzip keeps the file small
emit("huge-pax-header.tar.gz", 6, None, "2 MiB PAX extended header, gzipped",
     gzip.compress(build([reg("file", pax={"comment": "A" * (2 << 20)})]), mtime=0))
emit("huge-gnu-longname.tar.gz", 6, None, "2 MiB GNU long name, gzipped",
     gzip.compress(build([reg("n" * (2 << 20))], fmt=tarfile.GNU_FORMAT), mtime=0))

with open(os.path.join(OUT, "MANIFEST"), "w") as f:
    f.write("\n".join(manifest) + "\n")
print("%d archives in %s" % (len(manifest), OUT))
