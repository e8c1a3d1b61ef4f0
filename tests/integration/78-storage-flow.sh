#!/bin/bash
# The same image flow on all four storage drivers, compared byte for byte.  A three-layer OCI
# image (tar, tar.gz, tar.xz: owners, modes, setuid, capabilities, xattrs, hardlinks, symlinks,
# a device, a FIFO, long names; whiteouts and an opaque directory) goes through the berth
# storage CLI (tests/vm/storage-flow.sh: import, create, mount, container changes, diff,
# commit, create from the commit, rm, rmi, gc) on overlay, btrfs (a loop btrfs), vfs (plain
# copies) and vfs on btrfs (reflinks) here, and on devicemapper inside the dm VM (a thin pool;
# tests/vm/storage-flow-inner.sh sends the artifacts back).  Then: every tree listing (the
# image, the changed container, the container of the commit) is the same on every driver;
# the container's diff is the same bytes on every driver, and so are the committed layer's
# id; a directory emptied and refilled is exported as an opaque directory by overlay and as
# one whiteout per entry by the others (both OCI), and committing either gives the same tree.
if [ -z "${BERTH_FLOW_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	BERTH_FLOW_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib-storage.bash"
need_root
BERTH=$BERTH_BUILD/bin/berth
[ -x "$BERTH" ] && [ -x "$STOR_TREE" ] || skip_all "build first"
for t in python3 setfattr; do command -v $t >/dev/null || skip_all "$t missing (scripts/deps.sh)"; done
W=$(mktemp -d /tmp/berth-flow.$T.XXXXXX)
defer "rm -rf $W"
export BERTH_STORAGE_PATH=$STOR_BIN STOR_TREE

# ---- the image ----
python3 - "$W/img" <<'PY'
import gzip, hashlib, io, json, lzma, os, sys, tarfile
out = sys.argv[1]
os.makedirs(out + "/oci/blobs/sha256")
T = 1600000000

def data(seed, n):
    h, b = hashlib.sha256(seed.encode()).digest(), bytearray()
    while len(b) < n:
        h = hashlib.sha256(h).digest()
        b += h
    return bytes(b[:n])

def layer(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            name, kind = e[0], e[1]
            ti = tarfile.TarInfo(name)
            ti.mtime, ti.uid, ti.gid = T, e[3] if len(e) > 3 else 0, e[4] if len(e) > 4 else 0
            ti.mode = e[2]
            extra = e[5] if len(e) > 5 else {}
            body = None
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "file":
                body = extra.pop("data", b"")
                ti.size = len(body)
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, extra.pop("target")
            elif kind == "hard":
                ti.type, ti.linkname = tarfile.LNKTYPE, extra.pop("target")
            elif kind == "chr":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in extra.items()}
            t.addfile(ti, io.BytesIO(body) if body is not None else None)
    return buf.getvalue()

cap = "\x01\x00\x00\x02\x00\x04\x00\x00" + "\x00" * 12
long = "usr/share/" + "l" * 90 + "/" + "n" * 120
l1 = layer([
    ("bin", "dir", 0o755), ("etc", "dir", 0o755), ("etc/conf.d", "dir", 0o750, 0, 10),
    ("usr", "dir", 0o755), ("usr/lib", "dir", 0o755), ("usr/lib/olddir", "dir", 0o755),
    ("usr/share", "dir", 0o755), ("usr/share/" + "l" * 90, "dir", 0o755),
    ("var", "dir", 0o755), ("var/empty", "dir", 0o700), ("var/lib", "dir", 0o755),
    ("var/lib/gone", "dir", 0o755), ("var/lib/gone/dir", "dir", 0o755), ("tmp", "dir", 0o1777),
    ("home", "dir", 0o755), ("home/user", "dir", 0o700, 1000, 1000), ("dev", "dir", 0o755),
    ("run", "dir", 0o755), ("srv", "dir", 0o755),
    ("bin/busyish", "file", 0o755, 0, 0, {"data": data("busy", 40000)}),
    ("bin/hl", "hard", 0o755, 0, 0, {"target": "bin/busyish"}),
    ("bin/sh", "sym", 0o777, 0, 0, {"target": "busyish"}),
    ("bin/suid", "file", 0o4755, 0, 0, {"data": b"#!/bin/sh\n"}),
    ("bin/sgid", "file", 0o2755, 0, 50, {"data": b"#!/bin/sh\n"}),
    ("bin/ping", "file", 0o755, 0, 0, {"data": data("ping", 3000), "security.capability": cap}),
    ("etc/passwd", "file", 0o644, 0, 0, {"data": b"root:x:0:0::/root:/bin/sh\n", "user.one": "1"}),
    ("etc/passwd-link", "hard", 0o644, 0, 0, {"target": "etc/passwd"}),
    ("etc/hostname", "file", 0o644, 0, 0, {"data": b"flow\n"}),
    ("etc/doomed", "file", 0o644, 0, 0, {"data": b"bye\n"}),
    ("etc/conf.d/a.conf", "file", 0o640, 0, 10, {"data": b"a=1\n"}),
    ("usr/lib/big.so", "file", 0o644, 0, 0, {"data": data("big", 300000)}),
    ("usr/lib/libc.so", "sym", 0o777, 0, 0, {"target": "big.so"}),
    ("usr/lib/olddir/x", "file", 0o644, 0, 0, {"data": b"x\n"}),
    ("usr/lib/olddir/y", "file", 0o644, 0, 0, {"data": b"y\n"}),
    (long, "file", 0o644, 0, 0, {"data": b"long\n"}),
    ("var/lib/gone/dir/file", "file", 0o644, 0, 0, {"data": b"g\n"}),
    ("home/user/.profile", "file", 0o600, 1000, 1000, {"data": b"PS1=$\n"}),
    ("abs", "sym", 0o777, 0, 0, {"target": "/etc/passwd"}),
    ("dev/null", "chr", 0o666), ("run/fifo", "fifo", 0o644),
])
l2 = layer([
    ("etc", "dir", 0o755), ("etc/hostname", "file", 0o644, 0, 0, {"data": b"flow two\n"}),
    ("etc/.wh.doomed", "file", 0o644), ("usr", "dir", 0o755), ("usr/lib", "dir", 0o755),
    ("usr/lib/olddir", "dir", 0o711), ("usr/lib/olddir/.wh..wh..opq", "file", 0o644),
    ("usr/lib/olddir/new", "file", 0o644, 0, 0, {"data": b"new\n"}),
    ("var", "dir", 0o755), ("var/lib", "dir", 0o755), ("var/lib/.wh.gone", "file", 0o644),
    ("opt", "dir", 0o755), ("opt/app", "dir", 0o755),
    ("opt/app/run.sh", "file", 0o755, 0, 0, {"data": b"#!/bin/sh\necho run\n"}),
    ("etc/passwd", "file", 0o600, 0, 0, {"data": b"root:x:0:0::/root:/bin/sh\n", "user.one": "2"}),
])
l3 = layer([
    ("home", "dir", 0o755), ("home/user", "dir", 0o700, 1000, 1000),
    ("home/user/.profile", "file", 0o640, 2000, 2000, {"data": b"PS1=$\n"}),
    ("srv", "dir", 0o755), ("srv/t", "file", 0o644, 0, 0, {"data": b"t\n", "trusted.x": "y"}),
])
blobs, diffs = [], []
for raw, comp, mt in ((l1, None, "tar"), (l2, "gz", "tar+gzip"), (l3, "xz", "tar+xz")):
    blob = raw if comp is None else (gzip.compress(raw, mtime=0) if comp == "gz" else lzma.compress(raw))
    h = hashlib.sha256(blob).hexdigest()
    open(f"{out}/oci/blobs/sha256/{h}", "wb").write(blob)
    blobs.append({"mediaType": "application/vnd.oci.image.layer.v1." + mt, "digest": "sha256:" + h, "size": len(blob)})
    diffs.append("sha256:" + hashlib.sha256(raw).hexdigest())
def put(obj):
    b = json.dumps(obj, sort_keys=True).encode()
    h = hashlib.sha256(b).hexdigest()
    open(f"{out}/oci/blobs/sha256/{h}", "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
cfg = put({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diffs}})
man = put({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": dict(cfg, mediaType="application/vnd.oci.image.config.v1+json"), "layers": blobs})
open(f"{out}/oci/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
json.dump({"schemaVersion": 2, "manifests": [dict(man, mediaType="application/vnd.oci.image.manifest.v1+json",
           annotations={"org.opencontainers.image.ref.name": "flow:1"})]}, open(f"{out}/oci/index.json", "w"))
PY
ok $? "a three-layer OCI image (tar, tar.gz, tar.xz)"

# flow NAME CONFIG: the flow on the host, artifacts in $W/out-NAME
flow() {
	local name=$1 conf=$2 out rc
	out=$(bash "$BERTH_SRC/tests/vm/storage-flow.sh" "$BERTH" "$conf" "$W/img/oci" "$W/out-$name" 2>&1)
	rc=$?
	ok $rc "$name: the image flow (import, create, mount, change, diff, commit, create, rm, rmi, gc)"
	[ $rc -eq 0 ] || printf '%s\n' "$out" | tail -5 | sed 's/^/#   /'
}
core_conf() { # NAME DRIVER ROOT [DRIVER_OPTIONS_JSON]
	printf '{"driver":"%s","root":"%s","runRoot":"%s/run-%s","options":{"%s":%s}}\n' \
		"$2" "$3" "$W" "$1" "$2" "${4:-{\}}" >"$W/$1.json"
	defer "echo '{\"root\":\"$3/$2\",\"runRoot\":\"$W/run-$1/$2\"}' | STOR_COMMAND=CLEANUP $STOR_BIN/$2"
}
DRIVERS=()
core_conf overlay overlay "$W/overlay"
flow overlay "$W/overlay.json" && DRIVERS+=(overlay)
core_conf vfs vfs "$W/vfs"
flow vfs "$W/vfs.json" && DRIVERS+=(vfs)
if grep -qw btrfs /proc/filesystems && command -v mkfs.btrfs >/dev/null && mkbtrfs "$W/b" 1G; then
	core_conf btrfs btrfs "$W/b/btrfs"
	flow btrfs "$W/btrfs.json" && DRIVERS+=(btrfs)
	core_conf vfs-reflink vfs "$W/b/vfs"
	flow vfs-reflink "$W/vfs-reflink.json" && DRIVERS+=(vfs-reflink)
	is "$(jq -r .capabilities.reflink "$W/out-vfs-reflink/info.json")" true "vfs on btrfs copies with reflinks"
else
	ok 1 "a btrfs filesystem for btrfs and vfs with reflinks (btrfs in the kernel, mkfs.btrfs)"
fi

# devicemapper: the same flow inside the dm VM, the artifacts sent back base64 on its console
if command -v qemu-system-x86_64 >/dev/null && [ -x "$STOR_BIN/devicemapper" ]; then
	BERTH_SRC=$(cd "$BERTH_SRC" && pwd) BERTH_BUILD=$(cd "$BERTH_BUILD" && pwd) FLOW_OCI=$W/img/oci \
		DM_VM_RAMDISKS=2 DM_VM_RAMDISK_MB=256 DM_VM_QUIET=1 DM_VM_MEM=${DM_VM_MEM:-1024} \
		DM_VM_TIMEOUT=${DM_VM_TIMEOUT:-1200} \
		"$BERTH_SRC/tests/vm/dm-vm.sh" -t setfattr -t find -t touch -t base64 \
		-f "$BERTH_BUILD/bin/berth" -f "$STOR_BIN/devicemapper" -f "$STOR_TREE" \
		-f "$BERTH_SRC/tests/vm" -f "$W/img/oci" \
		-e BERTH_SRC -e BERTH_BUILD -e FLOW_OCI -e BERTH_LOG_LEVEL=error \
		-- "$BERTH_SRC/tests/vm/storage-flow-inner.sh" >"$W/dm.log" 2>&1
	rc=$?
	mkdir -p "$W/out-devicemapper"
	awk -v d="$W/out-devicemapper" '
		/^BEGIN-ARTIFACT / { f = d "/" $2 ".b64"; printf "" > f; next }
		/^END-ARTIFACT/ { close(f); f = ""; next }
		f { print >> f }' "$W/dm.log"
	for f in "$W"/out-devicemapper/*.b64; do [ -e "$f" ] && base64 -d <"$f" >"${f%.b64}" && rm "$f"; done
	ok $rc "devicemapper (in the dm VM): the image flow (exit $rc)"
	if [ $rc -eq 0 ]; then DRIVERS+=(devicemapper); else grep -v '^[A-Za-z0-9+/=]*$' "$W/dm.log" | tail -15 | sed 's/^/#   /'; fi
else
	ok 1 "devicemapper: the dm VM (qemu-system-x86_64) and the devicemapper driver"
fi

# ---- every driver against vfs, byte for byte ----
# Trees compare as they are.  Diffs: the drivers that apply whiteouts by deleting (btrfs, vfs,
# devicemapper) write a whiteout with time 0; overlay keeps the whiteout device's own time, the
# instant the container deleted the file (as Docker's overlay2 does).  So overlay's diff is
# compared once its whiteouts' mtime fields are zeroed (and shown to differ in nothing else).
wh_mtime0() { # IN OUT: the tar with every .wh.* entry's ustar mtime set to 0
	python3 - "$1" "$2" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
off = 0
while off + 512 <= len(b):
    h = b[off:off + 512]
    if not any(h):
        break
    name = (h[345:500].rstrip(b"\0") + b"/" if h[345] else b"") + h[0:100].rstrip(b"\0")
    size = int(h[124:136].strip(b"\0 ") or b"0", 8)
    if name.split(b"/")[-1].startswith(b".wh.") and h[156:157] in (b"0", b"\0"):
        b[off + 136:off + 147] = b"00000000000"  # keep the field terminator the writer used
        b[off + 148:off + 156] = b"        "
        b[off + 148:off + 156] = b"%06o\0 " % sum(b[off:off + 512])
    off += 512 + (size + 511) // 512 * 512
open(sys.argv[2], "wb").write(b)
PY
}
REF=vfs
R=$W/out-$REF
diag "drivers that ran the flow: ${DRIVERS[*]}"
is "${#DRIVERS[@]}" 5 "the flow ran on all four drivers (and vfs twice)"
is "$(tar -tf "$R/c1.tar" | sort | tr '\n' ' ')" \
	"bin/ bin/ping bin/sh etc/ etc/.wh.passwd-link etc/hostname etc/newfile srv/ srv/data/ srv/data/deep/ srv/data/deep/f srv/data/hl srv/pipe usr/ usr/lib/ usr/lib/.wh.olddir " \
	"$REF: the container's diff holds its changes and nothing else"
! cmp -s "$R/m1" "$R/m2"; ok $? "$REF: the container's changes show in its tree"
cmp -s "$R/m2" "$R/m3"; ok $? "$REF: the committed image's container has the changed tree"
is "$(tar -tf "$R/c2.tar" | wc -l)" 0 "$REF: a container of the committed image has no changes"
for dr in "${DRIVERS[@]}"; do
	O=$W/out-$dr
	is "$(jq -r .driver "$O/info.json")" "${dr%-reflink}" "$dr: berth storage info names the driver"
	is "$(cat "$O/left")" "[]" "$dr: rm, rmi and gc leave no layer"
	[ "$dr" = "$REF" ] && continue
	for m in m1 m2 m3 m4; do
		if cmp -s "$R/$m" "$O/$m"; then ok 0 "$dr: tree $m is $REF's, byte for byte ($(wc -l <"$O/$m") entries)"; else
			ok 1 "$dr: tree $m is $REF's, byte for byte"
			diff "$R/$m" "$O/$m" | head -8 | sed 's/^/#   /'
		fi
	done
	if [ "$dr" = overlay ]; then
		tar --full-time -tvf "$O/c1.tar" | grep -q ' 1970-01-01 00:00:00 etc/.wh.passwd-link$'
		ok $((! $?)) "overlay: its whiteouts keep the time of the deletion"
		wh_mtime0 "$O/c1.tar" "$W/overlay-c1-wh0.tar"
		cmp -s "$R/c1.tar" "$W/overlay-c1-wh0.tar"
		ok $? "overlay: the exported diff c1.tar is $REF's, byte for byte, but for the whiteouts' mtime"
		cmp -s "$R/c2.tar" "$O/c2.tar"; ok $? "overlay: the exported diff c2.tar is $REF's, byte for byte"
		continue
	fi
	for t in c1.tar c2.tar c3.tar; do
		cmp -s "$R/$t" "$O/$t"; ok $? "$dr: the exported diff $t is $REF's, byte for byte ($(stat -c %s "$O/$t") bytes)"
	done
	is "$(cat "$O/ids" | tr '\n' ' ')" "$(cat "$R/ids" | tr '\n' ' ')" "$dr: the committed layers have $REF's ids"
done
# the emptied and refilled directory: overlay exports it opaque, the others entry by entry;
# committing either gives the same tree (m4 above)
tar -tf "$R/c3.tar" | grep -qx 'etc/conf.d/.wh.a.conf'; ok $? "$REF: the refilled directory is exported as a whiteout per entry"
if [ -d "$W/out-overlay" ]; then
	tar -tf "$W/out-overlay/c3.tar" | grep -qx 'etc/conf.d/.wh..wh..opq'; ok $? "overlay: the refilled directory is exported opaque"
fi
done_testing
