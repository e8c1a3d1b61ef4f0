#!/bin/bash
# bench: containerd 1.6: berth-snapshotter (overlay driver) against containerd's built-in overlayfs snapshotter
# bench-args: -s 320 -f 4000 -r 7 -n 40
# bench-quick-args: -s 8 -f 100 -r 1 -n 5
#
#   sudo bench/containerd-snapshotter.sh [-s IMAGE_MIB] [-f FILES_PER_LAYER] [-r ROUNDS] [-n PREPARES]
#                                         [-F "ext4 tmp"]
#
# -F: the filesystems under both snapshotters and containerd's content store, one whole run
# (and one table) each.  ext4: a fresh ext4 made with mkfs.ext4's defaults (so with a journal,
# as on a stock host) on a sparse loop file in BENCH_DIR (default /var/tmp).  tmp: /tmp as it
# is.  (On a machine whose /tmp is an ext4 without a journal, as on the one RESULTS.md names,
# its inode allocator skips every inode deleted in the last 5 s (5 min while its table block is
# dirty), fs/ext4/ialloc.c recently_deleted(): after an unpack's layers are removed, each new
# inode costs a scan, and a snapshotter that makes more inodes per snapshot pays more.)
# One private containerd (tests/e2e/lib-containerd.bash: own root, state, socket, config, in a
# private mount namespace) with both snapshotters; the image is generated offline
# (tests/e2e/mk-oci-image.sh -b IMAGE_MIB: busybox + whiteouts + two layers of IMAGE_MIB/2 MiB of
# random data in FILES_PER_LAYER files each, uncompressed tar layers so that gzip does not hide
# the snapshotters) and imported once without unpacking.  Then, in ROUNDS rounds, alternating
# which snapshotter goes first:
#   - unpack: `ctr snapshots --snapshotter S unpack <manifest>` (containerd applies every layer
#     into the mounts S returns), timed as a whole; the snapshots are removed between rounds,
#     and the next unpack starts once containerd's garbage collection has deleted them from
#     both stores (it runs after `ctr snapshots rm` returns) and `sync` has flushed;
#   - Prepare+Mounts: PREPARES container snapshots on the image's top layer through
#     containerd's snapshots service (tests/helpers/ctrd-snap-bench: one gRPC client, the
#     path of a container start), the time from sending Prepare to receiving the Mounts reply.
# Finally 64 Prepare+Mounts at once (64 threads) per snapshotter, with the daemon's peak RSS
# (VmHWM, reset through /proc/PID/clear_refs just before) under that load.
set -euo pipefail
shopt -s inherit_errexit
SRC=$(cd "$(dirname "$0")/.." && pwd)
export BERTH_BUILD=${BERTH_BUILD:-$SRC/build} BERTH_SRC=$SRC
SIZE=320
FILES=4000
ROUNDS=5
N=40
FS="ext4 tmp"
PART=
while getopts s:f:r:n:F:P:h o; do
	case $o in
	s) SIZE=$OPTARG ;;
	f) FILES=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	n) N=$OPTARG ;;
	F) FS=$OPTARG ;;
	P) PART=$OPTARG ;; # (internal) one filesystem's part: its index
	*) sed -n '5,30p' "$0" >&2; exit 2 ;;
	esac
done
for f in $FS; do case $f in ext4 | tmp) ;; *) echo "-F: ext4 or tmp" >&2; exit 2 ;; esac; done
if [ -z "$PART" ]; then
	# the title once, then each filesystem's whole run in a process of its own
	echo "## containerd: berth-snapshotter against the built-in overlayfs snapshotter"
	i=0
	for f in $FS; do
		i=$((i + 1))
		echo
		bash "$0" -s "$SIZE" -f "$FILES" -r "$ROUNDS" -n "$N" -F "$f" -P "$i" || exit 1
	done
	exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
SNAPD=$BERTH_BUILD/bin/berth-snapshotter
# the commit measured: read before anything runs (a commit made meanwhile is not the one built)
commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$SRC" diff --quiet HEAD 2>/dev/null || commit+=" (with uncommitted changes)"
HELPER=$BERTH_BUILD/tests/helpers/ctrd-snap-bench
SNAPCLIENT=$BERTH_BUILD/tests/helpers/snap-client
for f in "$SNAPD" "$HELPER" "$SNAPCLIENT" "$BERTH_BUILD/storage/overlay"; do
	[ -x "$f" ] || { echo "missing $f (make all)" >&2; exit 1; }
done
# lib.sh/lib-core.bash: throwaway names, cleanup traps; lib-containerd.bash: the containerd
source "$SRC/tests/integration/lib-core.bash" >/dev/null
source "$SRC/tests/e2e/lib-containerd.bash"
set -e
ctrd_have || { echo "containerd, ctr or runc missing (scripts/deps.sh)" >&2; exit 1; }
core_setup >&2
CTRD_LOG_LEVEL=warn
IMG=localhost/bench$T:1

# the filesystem: containerd's root and state ($D/ctrd) and berth's store ($D/snap) on it
mkdir -p "$D/ctrd" "$D/snap"
if [ "$FS" = ext4 ]; then
	FSIMG=$(mktemp "${BENCH_DIR:-/var/tmp}/berth-bench-ctrd.XXXXXX")
	defer "rm -f $FSIMG"
	truncate -s $((SIZE * 10 + 4096))M "$FSIMG"
	mkfs.ext4 -q -F "$FSIMG"
	mkdir "$D/fs"
	mount -o loop "$FSIMG" "$D/fs"
	defer "umount -l $D/fs"
	mkdir "$D/fs/ctrd" "$D/fs/snap"
	for x in ctrd snap; do mount --bind "$D/fs/$x" "$D/$x" && defer "umount -l $D/$x"; done
fi
fsdev=$(findmnt -n -o SOURCE --target "$D/snap")
fsdev=${fsdev%%\[*} # a bind mount: /dev/loopN[/snap]
fsdesc="$(findmnt -n -o FSTYPE --target "$D/snap") on $fsdev"
[ "$FS" = tmp ] && fsdesc="/tmp: $fsdesc"
[ "$FS" = ext4 ] && fsdesc+=" (a loop file in ${BENCH_DIR:-/var/tmp}, made by mkfs.ext4 with its defaults)"
if [ -d "/proc/fs/jbd2/${fsdev#/dev/}-8" ]; then fsdesc+=", with a journal"; else fsdesc+=", without a journal"; fi

say() { echo "containerd-snapshotter: $*" >&2; }
say "generating a $SIZE MiB image ($FILES files per big layer)"
bash "$SRC/tests/e2e/mk-oci-image.sh" -u -n "$IMG" -b "$SIZE" -f "$FILES" "$D/image.tar"

SR=$D/snap
chmod 0700 "$SR"
printf '{"driver":"overlay","root":"%s/store","runRoot":"%s/run","options":{"overlay":{}}}\n' "$SR" "$SR" >"$SR/storage.json"
SOCK=$SR/sock/berth.sock
# a second daemon with a store of its own on the same filesystem, which containerd does not
# know, for the "straight to berth" calls: containerd's garbage collection removes from its
# proxy snapshotter every snapshot its own metadata does not name, so calls straight to the
# first daemon would race it
SR2=$SR/direct
mkdir -m 0700 "$SR2"
printf '{"driver":"overlay","root":"%s/store","runRoot":"%s/run","options":{"overlay":{}}}\n' "$SR2" "$SR2" >"$SR2/storage.json"
SOCK2=$SR2/sock/berth.sock
ctrd_holder >&2
snapd_start() { # snapd_start STATEDIR SOCKET: a berth-snapshotter in the holder's namespaces, its pid in SNAPD_PID
	nsenter -t "$HOLDER" -m -n env BERTH_STORAGE_PATH="$BERTH_BUILD/storage" "$SNAPD" --address "$2" \
		--storage-config "$1/storage.json" --log-level warn </dev/null >>"$1/daemon.log" 2>&1 &
	SNAPD_PID=$!
	defer "kill $SNAPD_PID; wait $SNAPD_PID"
	for _ in $(seq 200); do [ -S "$2" ] && break; sleep 0.05; done
	[ -S "$2" ] || { cat "$1/daemon.log" >&2; exit 1; }
}
snapd_start "$SR2" "$SOCK2"
snapd_start "$SR" "$SOCK"
ctrd_start "
[proxy_plugins]
  [proxy_plugins.berth]
    type = \"snapshot\"
    address = \"$SOCK\"" >&2
ctr images import --no-unpack --base-name "localhost/bench$T" "$D/image.tar" >/dev/null
MANIFEST=$(ctr images ls | awk -v i="$IMG" '$1 == i {print $3}')
[ -n "$MANIFEST" ] || { echo "image not imported" >&2; exit 1; }
# bytes of the image's blobs (the uncompressed layer tars; config and manifest are < 2 KiB)
LAYER_BYTES=$(tar -tvf "$D/image.tar" | awk '$6 ~ /blobs\/sha256\/./ {s += $3} END {print s}')

now() { date +%s%N; }
top_of() { # the committed snapshot no other names as parent
	ctr snapshots --snapshotter "$1" ls | tail -n +2 | awk 'NF == 2 {k[$1] = 1} NF == 3 {k[$1] = 1; p[$2] = 1} END {for (x in k) if (!(x in p)) print x}'
}
chain_rm() { # remove every snapshot of S, children first
	local s=$1 t x out
	while t=$(top_of "$s") && [ -n "$t" ]; do
		for x in $t; do
			# containerd's garbage collector, woken by each removal, may remove the now
			# unreferenced parents first: NotFound is fine here
			out=$(ctr snapshots --snapshotter "$s" rm "$x" 2>&1) || grep -q 'not found' <<<"$out" ||
				{ echo "$out" >&2; return 1; }
		done
	done
	quiesce "$s"
}
# quiesce S: containerd removes a snapshotter's layers in its garbage collection, after `ctr
# snapshots rm` has returned; wait until S's store holds no layer any more (berth: the overlay
# driver's snap-* dirs; overlayfs: its snapshots/ dir), so that no deletion runs while the next
# unpack is timed, then flush the page cache's dirty data
quiesce() {
	local i dir=$CT/root/io.containerd.snapshotter.v1.overlayfs/snapshots
	[ "$1" = berth ] && dir=$SR/store/containerd/overlay
	for ((i = 0; i < 1200; i++)); do
		[ -z "$(ls "$dir" 2>/dev/null | grep -v '^[a-z]*$')" ] && break
		sleep 0.1
	done
	sync
}
declare -A UNPACK PM
PMD=
unpack_once() { # S: unpack the image into S, print ns
	local t0 t1
	chain_rm "$1"
	t0=$(now)
	# (unpack reads its own --snapshotter flag, not the one of `ctr snapshots`)
	ctr snapshots --snapshotter "$1" unpack --snapshotter "$1" "$MANIFEST" >/dev/null
	t1=$(now)
	echo $((t1 - t0))
}
for ((r = 0; r < ROUNDS; r++)); do
	if ((r % 2)); then order="overlayfs berth"; else order="berth overlayfs"; fi
	for s in $order; do
		UNPACK[$s]+="$(unpack_once "$s") "
		say "round $((r + 1)): unpack $s done"
	done
done
# the second daemon's chain: as many committed (empty) layers as the image has
depth=$(ctr snapshots --snapshotter berth ls | tail -n +2 | grep -c Committed)
for ((i = 1; i <= depth; i++)); do
	p=()
	((i > 1)) && p=("chain$((i - 1))")
	nsenter -t "$HOLDER" -m -n "$SNAPCLIENT" "$SOCK2" prepare "chain$i-active" "${p[@]}" >/dev/null
	nsenter -t "$HOLDER" -m -n "$SNAPCLIENT" "$SOCK2" commit "chain$i" "chain$i-active" >/dev/null
done
for ((r = 0; r < ROUNDS; r++)); do
	if ((r % 2)); then order="overlayfs berth"; else order="berth overlayfs"; fi
	for s in $order; do
		say "round $((r + 1)): Prepare+Mounts through containerd, $s"
		PM[$s]+="$(nsenter -t "$HOLDER" -m -n "$HELPER" "$CT/containerd.sock" "$CTR_NS" "$s" "$(top_of "$s")" "$N" | tr '\n' ' ')"
	done
	# the same client straight on a berth-snapshotter's socket, containerd left out: what of
	# berth's time is its own (the daemon, its metadata, the driver process)
	say "round $((r + 1)): Prepare+Mounts straight to berth"
	PMD+="$(nsenter -t "$HOLDER" -m -n "$HELPER" "$SOCK2" "$CTR_NS" berth "chain$depth" "$N" | tr '\n' ' ')"
done
# 64 parallel Prepare+Mounts; the daemon's peak RSS over exactly that burst
rss_idle=$(awk '/^VmRSS/ {print $2}' "/proc/$SNAPD_PID/status")
echo 5 >"/proc/$SNAPD_PID/clear_refs"
PAR_B=$(nsenter -t "$HOLDER" -m -n "$HELPER" "$CT/containerd.sock" "$CTR_NS" berth "$(top_of berth)" 64 64 | tr '\n' ' ')
rss_peak=$(awk '/^VmHWM/ {print $2}' "/proc/$SNAPD_PID/status")
PAR_O=$(nsenter -t "$HOLDER" -m -n "$HELPER" "$CT/containerd.sock" "$CTR_NS" overlayfs "$(top_of overlayfs)" 64 64 | tr '\n' ' ')
threads=$(awk '/^Threads/ {print $2}' "/proc/$SNAPD_PID/status")
chain_rm berth
chain_rm overlayfs
ctr images rm --sync "$IMG" >/dev/null

# stats NS-LIST: "median p95 max" in ms
stats() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {
	p = int(NR * 0.95 + 0.5); if (p < 1) p = 1
	printf "%.2f %.2f %.2f %d", a[int((NR + 1) / 2)] / 1e6, a[p] / 1e6, a[NR] / 1e6, NR }'; }
read -r ub _ _ un <<<"$(stats "${UNPACK[berth]}")"
read -r uo _ _ _ <<<"$(stats "${UNPACK[overlayfs]}")"
mib=$(awk -v b="$LAYER_BYTES" 'BEGIN {printf "%.1f", b / 1048576}')
tp() { awk -v b="$LAYER_BYTES" -v ms="$1" 'BEGIN {printf "%.0f", b / 1048576 / (ms / 1000)}'; }
read -r pb pb95 pbmax pn <<<"$(stats "${PM[berth]}")"
read -r po po95 pomax _ <<<"$(stats "${PM[overlayfs]}")"
read -r pd pd95 _ _ <<<"$(stats "$PMD")"
read -r qb qb95 qbmax qn <<<"$(stats "$PAR_B")"
read -r qo qo95 qomax _ <<<"$(stats "$PAR_O")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)

cat <<EOF
### On $fsdesc

Measured $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, kernel $(uname -r), $(nproc) x $cpu,
load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; containerd $(containerd --version | awk '{print $3}').
Command: \`bench/containerd-snapshotter.sh -s $SIZE -f $FILES -r $ROUNDS -n $N\` (this part: \`-F $FS\`).
EOF
[ "$PART" = 1 ] && cat <<EOF
One private containerd with both snapshotters, berth-snapshotter on the overlay driver; its
layers, containerd's root and content store on one filesystem (the heading names it; each
filesystem is a whole run of its own). berth-snapshotter keeps one driver process for CREATE
started ahead (waiting for its request on stdin), so a Prepare does not wait for the driver's
exec; every layer operation is still one driver process. The image: $mib MiB of uncompressed tar layers
(busybox + whiteout layer + two layers of $FILES files of random data each). **unpack**: \`ctr
snapshots unpack\` of the whole image, containerd applying every layer into the mounts the
snapshotter returns; median of $un per snapshotter, rounds alternating which goes first;
throughput = layer MiB / median time; ratio = berth throughput / overlayfs throughput.
**Prepare+Mounts**: one gRPC client (tests/helpers/ctrd-snap-bench) asking containerd's
snapshots service for a container snapshot on the image's top layer, from sending Prepare to
receiving the Mounts reply; $pn calls per snapshotter; ratio = berth / overlayfs. **straight
to berth**: the same client and calls on the socket of a second berth-snapshotter, which
containerd does not know (its garbage collection would remove snapshots it did not make), with
a store of its own on the same filesystem and a chain of $depth empty committed layers as deep as
the image (in each round after the two through containerd): the part of berth's time spent in
the daemon, its metadata and the one driver process a Prepare runs. **64 at
once**: 64 threads each doing one Prepare+Mounts together. **RSS**: the daemon's VmHWM over the
64-at-once burst (reset by /proc/PID/clear_refs just before); the driver processes it forks
(one per layer operation) are not in it.
EOF
cat <<EOF

| measure | berth | overlayfs (built-in) | berth / overlayfs |
| --- | --- | --- | --- |
| unpack $mib MiB, median (ms) | $ub | $uo | $(ratio "$ub" "$uo") |
| unpack throughput (MiB/s) | $(tp "$ub") | $(tp "$uo") | $(ratio "$uo" "$ub") |
| Prepare+Mounts median (ms) | $pb | $po | $(ratio "$pb" "$po") |
| Prepare+Mounts p95 (ms) | $pb95 | $po95 | $(ratio "$pb95" "$po95") |
| Prepare+Mounts max (ms) | $pbmax | $pomax | $(ratio "$pbmax" "$pomax") |
| Prepare+Mounts straight to berth, median (ms) | $pd | | |
| Prepare+Mounts straight to berth, p95 (ms) | $pd95 | | |
| 64 at once, median per call (ms) | $qb | $qo | $(ratio "$qb" "$qo") |
| 64 at once, p95 per call (ms) | $qb95 | $qo95 | $(ratio "$qb95" "$qo95") |
| daemon RSS idle (KiB) | $rss_idle | (inside containerd) | |
| daemon peak RSS, 64 at once (KiB) | $rss_peak | (inside containerd) | |
| daemon threads | $threads | | |

EOF
[ "$PART" = 1 ] && cat <<EOF

Targets (issue 13): unpack throughput ratio >= 0.9; Prepare+Mounts median ratio <= 2;
daemon RSS under 64 parallel Prepares <= 10240 KiB.
EOF
exit 0
