#!/bin/bash
# bench: overlay, btrfs and vfs on one btrfs filesystem, vfs on XFS with reflinks too
# bench-args: -s 200 -r 3 -n 20
# bench-quick-args: -s 8 -r 1 -n 2
# overlay, btrfs and vfs side by side, in one run, every store on one btrfs filesystem (a loop
# file, in BENCH_DIR): prints a markdown section (date, commit, kernel, CPU, load, command,
# every row) for bench/all.sh.
#
#   bench/storage-drivers.sh [-s APPLY_MB] [-r RUNS] [-n CONTAINERS]
#
#  1. layer apply: one tar of APPLY_MB (1 MiB and 16 KiB files in 100 directories) extracted by
#     GNU tar -xf and applied by each driver's APPLY_DIFF (CREATE untimed), MB/s and the ratio
#     to tar; then vfs's copy of that layer (CREATE of a child) with reflinks and plain, and
#     GNU cp -a of the same tree with --reflink=always and =never (what the filesystem allows);
#     and vfs's copy, reflinks and plain, of a layer that is all data (APPLY_MB files of 1 MiB);
#  2. a container rootfs: CREATE (rw, on the image's top layer) + MOUNT, on a 10-layer and a
#     100-layer image (each layer 2 files of 256 KiB and 20 of 4 KiB; every tenth deletes a
#     file of an earlier one); vfs with reflinks and with plain copies: the same store, the
#     container's CREATE called with "reflink":"never" (so the image itself is built once);
#  3. disk used by the images and by CONTAINERS (default 20) containers of the 10-layer image
#     (btrfs filesystem usage, after a sync);
#  4. DIFF of a container that rewrote 40 files and deleted 5 on the 100-layer image: btrfs
#     from transaction ids (TREE_SEARCH) and from the full comparison, vfs, overlay native;
#  5. vfs again on XFS made with reflink=1 (a second loop file): the copy of the apply layer
#     and the container rootfs on both images, with reflinks and plain.
# vfs rows run with its default copy_threads (one copying thread per CPU) and with
# copy_threads 1 (the walker alone), on the same store.
# Every time is the median of RUNS (default 3) calls of the driver executable (a fork+exec
# each, as the core runs it; the CREATE+MOUNT row is two calls).  A failed call fails the run.
# Root, btrfs-progs (mkfs.btrfs), xfsprogs (mkfs.xfs), python3; runs in a private mount
# namespace.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
APPLY_MB=200
RUNS=3
NCTR=20
ARGS="$*"
while getopts s:r:n:h o; do
	case $o in
	s) APPLY_MB=$OPTARG ;;
	r) RUNS=$OPTARG ;;
	n) NCTR=$OPTARG ;;
	*) sed -n '2,28p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
for d in overlay btrfs vfs; do [ -x "$BUILD/storage/$d" ] || { echo "missing $BUILD/storage/$d (make)" >&2; exit 1; }; done
for t in mkfs.btrfs mkfs.xfs python3 tar; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 1; }; done
if [ -z "${BERTH_BENCH_NS:-}" ]; then
	BERTH_BENCH_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

B=$(mktemp -d "${BENCH_DIR:-/dev/shm}/berth-bench-drivers.XXXXXX")
cleanup() {
	for s in "${STORES[@]:-}"; do [ -n "$s" ] && store_call "$s" CLEANUP '{}' >/dev/null 2>&1 || true; done
	umount -R -l "$B/fs" 2>/dev/null || true
	umount -R -l "$B/xfs" 2>/dev/null || true
	rm -rf "$B"
}
trap cleanup EXIT
# room for APPLY_MB x (tar + 3 drivers) x RUNS, three 60 MiB images (vfs's reflinked copies
# repeat the metadata of every layer below), NCTR plain copies of the 6 MiB image
truncate -s $(((APPLY_MB * 4 * RUNS + 1500 + NCTR * 10 + 1024) * 2))M "$B/fs.img"
mkfs.btrfs -q "$B/fs.img" >/dev/null
mkdir "$B/fs"
mount -o loop "$B/fs.img" "$B/fs"
F=$B/fs
# XFS with reflinks, for vfs: the apply layer, its copies one at a time, two images
truncate -s $(((APPLY_MB * 3 + 1500) * 2))M "$B/xfs.img"
mkfs.xfs -q -m reflink=1 "$B/xfs.img"
mkdir "$B/xfs"
mount -o loop "$B/xfs.img" "$B/xfs"
X=$B/xfs

# ---- the data ----
python3 - "$B" "$APPLY_MB" <<'PY'
import io, os, sys, tarfile
out, mb = sys.argv[1], int(sys.argv[2])
rnd = open("/dev/urandom", "rb")
def add(t, name, size=None):
    ti = tarfile.TarInfo(name)
    ti.mtime = 1600000000
    if size is None:
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        t.addfile(ti)
    else:
        ti.size, ti.mode = size, 0o644
        t.addfile(ti, io.BytesIO(rnd.read(size)))
# the apply tar: 60% in 1 MiB files, 40% in 16 KiB files, 100 directories
with tarfile.open(out + "/apply.tar", "w", format=tarfile.PAX_FORMAT) as t:
    for d in range(100):
        add(t, "d%d" % d)
    for i in range(mb * 6 // 10):
        add(t, "d%d/big%d" % (i % 100, i), 1 << 20)
    for i in range(mb * 4 // 10 * 64):
        add(t, "d%d/small%d" % (i % 100, i), 16 << 10)
# the data tar: APPLY_MB files of 1 MiB in 10 directories (a layer of libraries, models, data)
with tarfile.open(out + "/data.tar", "w", format=tarfile.PAX_FORMAT) as t:
    for d in range(10):
        add(t, "d%d" % d)
    for i in range(mb):
        add(t, "d%d/blob%d" % (i % 10, i), 1 << 20)
# image layers: 2 files of 256 KiB and 20 of 4 KiB in a directory of their own; every tenth
# deletes one of an earlier layer
for l in range(1, 101):
    with tarfile.open(out + "/layer%d.tar" % l, "w", format=tarfile.PAX_FORMAT) as t:
        add(t, "l%d" % l)
        for i in range(20):
            add(t, "l%d/f%d" % (l, i), 4 << 10)
        for i in range(2):
            add(t, "l%d/lib%d.so" % (l, i), 256 << 10)
        if l % 10 == 0:
            ti = tarfile.TarInfo("l%d/.wh.f0" % (l - 5))
            ti.mtime = 1600000000
            t.addfile(ti, io.BytesIO(b""))
PY
APPLY_ENTRIES=$(tar -tf "$B/apply.tar" | wc -l)
APPLY_BYTES=$(stat -c %s "$B/apply.tar")

# ---- calls ----
# a store: NAME -> driver and config
declare -A SDRV SCONF
STORES=()
store() { # store NAME DRIVER OPTIONS [FILESYSTEM]
	SDRV[$1]=$2
	SCONF[$1]=$(printf '{"protocolVersion":"1.0.0","root":"%s/%s","runRoot":"%s/run-%s","options":%s' \
		"${4:-$F}" "$1" "$B" "$1" "$3")
	STORES+=("$1")
	store_call "$1" INIT '{}' >/dev/null
}
alias_store() { # alias_store NAME STORE OPTIONS: the same store, other options
	SDRV[$1]=${SDRV[$2]}
	SCONF[$1]=$(sed "s/\"options\":.*/\"options\":$3/" <<<"${SCONF[$2]}")
}
store_call() { # store_call NAME VERB ARGS [< stdin for fd 3 via caller]
	printf '%s,"args":%s}' "${SCONF[$1]}" "$3" | STOR_COMMAND=$2 "$BUILD/storage/${SDRV[$1]}"
}
must() { # must CMD...: run, fail the benchmark (with the driver's answer) if it fails
	local out
	if ! out=$("$@" 2>&1); then echo "benchmark call failed: $* -> $out" >&2; exit 1; fi
}
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { awk -v n="$1" 'BEGIN {printf "%.1f", n / 1e6}'; }
used() { # bytes used on the filesystem, once deleted subvolumes are cleaned and committed
	btrfs subvolume sync "$F" >/dev/null
	btrfs filesystem sync "$F" >/dev/null
	btrfs filesystem usage -b "$F" 2>/dev/null | awk '$1 == "Used:" {print $2; exit}'
}
mib() { awk -v n="$1" 'BEGIN {printf "%.1f", n / 1048576}'; }

store overlay overlay '{}'
store btrfs btrfs '{}'
store vfs vfs '{}'

store vfs-xfs vfs '{}' "$X"

# the vfs stores again, copying without reflinks, and with the walker alone
alias_store vfs-plain vfs '{"reflink":"never"}'
alias_store vfs-1 vfs '{"copy_threads":1}'
alias_store vfs-plain-1 vfs '{"reflink":"never","copy_threads":1}'
alias_store vfs-xfs-plain vfs-xfs '{"reflink":"never"}'
alias_store vfs-xfs-1 vfs-xfs '{"copy_threads":1}'
alias_store vfs-xfs-plain-1 vfs-xfs '{"reflink":"never","copy_threads":1}'
VFS_VARIANTS="vfs vfs-plain vfs-1 vfs-plain-1 vfs-xfs vfs-xfs-plain vfs-xfs-1 vfs-xfs-plain-1"

# ---- 1. layer apply ----
declare -A APPLY
for ((r = 1; r <= RUNS; r++)); do
	sync
	mkdir "$F/tar-$r"
	t0=$(now); must tar -xf "$B/apply.tar" -C "$F/tar-$r"; t1=$(now)
	APPLY[tar]+="$((t1 - t0)) "
	for s in overlay btrfs vfs; do
		must store_call "$s" CREATE "{\"id\":\"apply$r\"}"
		sync
		t0=$(now)
		must store_call "$s" APPLY_DIFF "{\"id\":\"apply$r\",\"stream\":{\"fd\":3}}" 3<"$B/apply.tar"
		t1=$(now)
		APPLY[$s]+="$((t1 - t0)) "
	done
done
rm -rf "$F"/tar-*
# the same layer in the XFS store (untimed)
for ((r = 1; r <= RUNS; r++)); do
	must store_call vfs-xfs CREATE "{\"id\":\"apply$r\"}"
	must store_call vfs-xfs APPLY_DIFF "{\"id\":\"apply$r\",\"stream\":{\"fd\":3}}" 3<"$B/apply.tar"
done
# vfs: a child of the applied layer, a copy of APPLY_MB, with reflinks and with plain copies
declare -A COPY
for ((r = 1; r <= RUNS; r++)); do
	for s in $VFS_VARIANTS; do
		sync
		t0=$(now)
		must store_call "$s" CREATE "{\"id\":\"copy$r\",\"parent\":\"apply$r\",\"rw\":true}"
		t1=$(now)
		COPY[$s]+="$((t1 - t0)) "
		must store_call "$s" REMOVE "{\"id\":\"copy$r\"}"
	done
	# GNU cp on the same trees, with and without reflinks: what the filesystem allows
	for fs in btrfs xfs; do
		src=$F/vfs/layers/apply$r/fs
		[ "$fs" = xfs ] && src=$X/vfs-xfs/layers/apply$r/fs
		for m in always never; do
			sync
			t0=$(now)
			must cp -a --reflink=$m "$src" "$src.cp"
			t1=$(now)
			COPY[cp-$fs-$m]+="$((t1 - t0)) "
			rm -rf "$src.cp"
		done
	done
done
for s in overlay btrfs vfs vfs-xfs; do for ((r = 1; r <= RUNS; r++)); do must store_call "$s" REMOVE "{\"id\":\"apply$r\"}"; done; done
# vfs: the same copies of a layer that is all data (the data tar), reflinks and plain
DATA_ENTRIES=$(tar -tf "$B/data.tar" | wc -l)
DATA_BYTES=$(stat -c %s "$B/data.tar")
for s in vfs vfs-xfs; do
	must store_call "$s" CREATE '{"id":"data"}'
	must store_call "$s" APPLY_DIFF '{"id":"data","stream":{"fd":3}}' 3<"$B/data.tar"
	for ((r = 1; r <= RUNS; r++)); do
		for v in "" -plain; do
			sync
			t0=$(now)
			must store_call "$s$v" CREATE "{\"id\":\"dcopy$r\",\"parent\":\"data\",\"rw\":true}"
			t1=$(now)
			COPY[data-$s$v]+="$((t1 - t0)) "
			must store_call "$s$v" REMOVE "{\"id\":\"dcopy$r\"}"
		done
	done
	must store_call "$s" REMOVE '{"id":"data"}'
done

# ---- 2. images of 10 and 100 layers ----
declare -A IMG10 IMG100
for s in overlay btrfs vfs vfs-xfs; do
	prev=
	before=$(used)
	for ((l = 1; l <= 100; l++)); do
		must store_call "$s" CREATE "{\"id\":\"i$l\"${prev:+,\"parent\":\"$prev\"}}"
		must store_call "$s" APPLY_DIFF "{\"id\":\"i$l\",\"stream\":{\"fd\":3}}" 3<"$B/layer$l.tar"
		prev=i$l
		[ "$s" != vfs-xfs ] && [ "$l" = 10 ] && IMG10[$s]=$(($(used) - before))
		[ "$s" != vfs-xfs ] && [ "$l" = 100 ] && IMG100[$s]=$(($(used) - before))
	done
done
declare -A ROOTFS
for n in 10 100; do
	for ((r = 1; r <= RUNS; r++)); do
		for s in overlay btrfs $VFS_VARIANTS; do
			sync
			t0=$(now)
			must store_call "$s" CREATE "{\"id\":\"c$n-$r\",\"parent\":\"i$n\",\"rw\":true}"
			must store_call "$s" MOUNT "{\"id\":\"c$n-$r\"}"
			t1=$(now)
			ROOTFS[$s-$n]+="$((t1 - t0)) "
			must store_call "$s" UNMOUNT "{\"id\":\"c$n-$r\"}"
			must store_call "$s" REMOVE "{\"id\":\"c$n-$r\"}"
		done
	done
done

# ---- 3. disk used by NCTR containers of the 10-layer image ----
declare -A DISK
for s in overlay btrfs vfs vfs-plain; do
	before=$(used)
	for ((c = 1; c <= NCTR; c++)); do
		must store_call "$s" CREATE "{\"id\":\"u$c\",\"parent\":\"i10\",\"rw\":true}"
		must store_call "$s" MOUNT "{\"id\":\"u$c\"}"
	done
	DISK[$s]=$(($(used) - before))
	for ((c = 1; c <= NCTR; c++)); do
		must store_call "$s" UNMOUNT "{\"id\":\"u$c\"}"
		must store_call "$s" REMOVE "{\"id\":\"u$c\"}"
	done
done

# ---- 4. DIFF of a container on the 100-layer image ----
# the btrfs store again, compared in full
SDRV[btrfs-naive]=btrfs
SCONF[btrfs-naive]=$(printf '{"protocolVersion":"1.0.0","root":"%s/btrfs","runRoot":"%s/run-btrfs","options":{"force_naive_diff":true}' "$F" "$B")
declare -A DIFF
for s in overlay btrfs vfs; do
	must store_call "$s" CREATE '{"id":"dc","parent":"i100","rw":true}'
	P=$(store_call "$s" MOUNT '{"id":"dc"}' | sed -n 's/.*"path":"\([^"]*\)".*/\1/p')
	for ((i = 0; i < 20; i++)); do echo "changed $i" >"$P/l50/f$i" && echo "changed $i" >"$P/l51/f$i"; done
	rm -f "$P"/l60/f1 "$P"/l60/f2 "$P"/l61/f1 "$P"/l62/f1 "$P"/l63/f1
	must store_call "$s" UNMOUNT '{"id":"dc"}'
done
sync
for ((r = 1; r <= RUNS; r++)); do
	for s in overlay btrfs btrfs-naive vfs; do
		t0=$(now)
		must store_call "$s" DIFF '{"id":"dc","stream":{"fd":3}}' 3>"$B/diff-$s.tar"
		t1=$(now)
		DIFF[$s]+="$((t1 - t0)) "
	done
done
cmp -s "$B/diff-btrfs.tar" "$B/diff-btrfs-naive.tar" || { echo "btrfs: fast and naive DIFF differ" >&2; exit 1; }

# ---- report ----
med() { tr ' ' '\n' | grep . | median; }
mbs() { awk -v b="$APPLY_BYTES" -v n="$1" 'BEGIN {printf "%.0f", b / 1048576 / (n / 1e9)}'; }
tarm=$(echo "${APPLY[tar]}" | med)
echo "## Storage drivers: overlay, btrfs, vfs on one btrfs, vfs on XFS too (bench/storage-drivers.sh)"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$SRC" diff --quiet 2>/dev/null || echo ' (uncommitted changes)')"
echo "- kernel: $(uname -r); CPU: $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- command: \`bench/storage-drivers.sh${ARGS:+ $ARGS}\` (APPLY_MB=$APPLY_MB, RUNS=$RUNS, CONTAINERS=$NCTR)"
echo "- every store on one btrfs of $(($(stat -c %s "$B/fs.img") >> 20)) MiB on a loop file in ${BENCH_DIR:-/dev/shm} (vfs also on an XFS of $(($(stat -c %s "$B/xfs.img") >> 20)) MiB made with reflink=1, a loop file beside it); times are medians of $RUNS, each call a fork+exec of the driver"
echo
echo "### Layer apply: $(mib "$APPLY_BYTES") MiB tar, $APPLY_ENTRIES entries"
echo
echo "| extractor | median s | MiB/s | time vs GNU tar |"
echo "| --- | --- | --- | --- |"
printf '| GNU tar -xf | %.3f | %s | 1.00 |\n' "$(awk -v n="$tarm" 'BEGIN {print n/1e9}')" "$(mbs "$tarm")"
for s in overlay btrfs vfs; do
	m=$(echo "${APPLY[$s]}" | med)
	printf '| %s APPLY_DIFF | %.3f | %s | %.2f |\n' "$s" "$(awk -v n="$m" 'BEGIN {print n/1e9}')" "$(mbs "$m")" \
		"$(awk -v a="$m" -v b="$tarm" 'BEGIN {print a/b}')"
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b / a}'; }
vlabel() { # the row name of a vfs variant
	case $1 in
	*-plain-1) echo "plain copy, copy_threads 1" ;;
	*-plain) echo "plain copy" ;;
	*-1) echo "reflinks (FICLONE), copy_threads 1" ;;
	*) echo "reflinks (FICLONE)" ;;
	esac
}
for fs in btrfs xfs; do
	pre=vfs
	[ "$fs" = xfs ] && pre=vfs-xfs
	echo "### vfs on $fs: CREATE of a child of that layer (a copy of $(mib "$APPLY_BYTES") MiB, $APPLY_ENTRIES entries)"
	echo
	echo "| $fs copy | median ms |"
	echo "| --- | --- |"
	for v in "" -plain -1 -plain-1; do
		printf '| %s %s | %s |\n' "$fs" "$(vlabel "$pre$v")" "$(ms "$(echo "${COPY[$pre$v]}" | med)")"
	done
	for t in "" -1; do
		a=$(echo "${COPY[$pre$t]}" | med) b=$(echo "${COPY[$pre-plain$t]}" | med)
		printf '| %s plain / reflinks%s | %s |\n' "$fs" "${t:+, copy_threads 1}" "$(ratio "$a" "$b")"
	done
	for m in always never; do
		printf '| %s: GNU cp -a --reflink=%s, the same tree | %s |\n' "$fs" "$m" "$(ms "$(echo "${COPY[cp-$fs-$m]}" | med)")"
	done
	a=$(echo "${COPY[cp-$fs-always]}" | med) b=$(echo "${COPY[cp-$fs-never]}" | med)
	printf '| %s: GNU cp, never / always | %s |\n' "$fs" "$(ratio "$a" "$b")"
	echo
	echo "### vfs on $fs: CREATE of a child of a data layer (a copy of $(mib "$DATA_BYTES") MiB, $DATA_ENTRIES entries, files of 1 MiB)"
	echo
	echo "| $fs copy, data layer | median ms |"
	echo "| --- | --- |"
	for v in "" -plain; do
		printf '| %s %s | %s |\n' "$fs" "$(vlabel "$pre$v")" "$(ms "$(echo "${COPY[data-$pre$v]}" | med)")"
	done
	a=$(echo "${COPY[data-$pre]}" | med) b=$(echo "${COPY[data-$pre-plain]}" | med)
	printf '| %s plain / reflinks | %s |\n' "$fs" "$(ratio "$a" "$b")"
	echo
done
echo "### Container rootfs: CREATE (rw) + MOUNT on the image's top layer"
echo
echo "| driver | 10 layers (6 MiB) ms | 100 layers (59 MiB) ms | 100 / 10 |"
echo "| --- | --- | --- | --- |"
for s in overlay btrfs $VFS_VARIANTS; do
	a=$(echo "${ROOTFS[$s-10]}" | med) b=$(echo "${ROOTFS[$s-100]}" | med)
	label=$s
	case $s in vfs-xfs*) label="vfs on xfs: $(vlabel "$s")" ;; vfs*) label="vfs on btrfs: $(vlabel "$s")" ;; esac
	printf '| %s | %s | %s | %.1f |\n' "$label" "$(ms "$a")" "$(ms "$b")" "$(awk -v a="$a" -v b="$b" 'BEGIN {print b/a}')"
done
for pre in vfs vfs-xfs; do
	for t in "" -1; do
		a=$(echo "${ROOTFS[$pre$t-10]}" | med) b=$(echo "${ROOTFS[$pre-plain$t-10]}" | med)
		c=$(echo "${ROOTFS[$pre$t-100]}" | med) d=$(echo "${ROOTFS[$pre-plain$t-100]}" | med)
		fs=btrfs
		[ "$pre" = vfs-xfs ] && fs=xfs
		printf '| vfs on %s plain copy / reflinks%s | %s | %s | |\n' "$fs" "${t:+, copy_threads 1}" \
			"$(ratio "$a" "$b")" "$(ratio "$c" "$d")"
	done
done
echo
echo "### Disk used: the images, and $NCTR containers of the 10-layer image (created and mounted, nothing written)"
echo
echo "| driver | 10-layer image MiB | 100-layer image MiB | $NCTR containers of the 10-layer image MiB |"
echo "| --- | --- | --- | --- |"
for s in overlay btrfs vfs vfs-plain; do
	label=$s
	[ "$s" = vfs ] && label="vfs on btrfs (reflinks)"
	[ "$s" = vfs-plain ] && label="vfs on btrfs (plain copy)"
	if [ "$s" = vfs-plain ]; then
		printf '| %s | (the same image) | (the same image) | %s |\n' "$label" "$(mib "${DISK[$s]}")"
	else
		printf '| %s | %s | %s | %s |\n' "$label" "$(mib "${IMG10[$s]}")" "$(mib "${IMG100[$s]}")" "$(mib "${DISK[$s]}")"
	fi
done
echo
echo "### DIFF of a container on the 100-layer image (40 files rewritten, 5 deleted; $(tar -tf "$B/diff-btrfs.tar" | wc -l) entries)"
echo
echo "| driver | median ms |"
echo "| --- | --- |"
for s in overlay btrfs btrfs-naive vfs; do
	label=$s
	[ "$s" = overlay ] && label="overlay (native: the upper dir)"
	[ "$s" = btrfs ] && label="btrfs (transaction ids, TREE_SEARCH)"
	[ "$s" = btrfs-naive ] && label="btrfs (full comparison, force_naive_diff)"
	[ "$s" = vfs ] && label="vfs (full comparison)"
	printf '| %s | %s |\n' "$label" "$(ms "$(echo "${DIFF[$s]}" | med)")"
done
