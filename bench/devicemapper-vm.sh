#!/bin/bash
# devicemapper vs overlay, side by side in one dm-vm boot (the host kernel has no device-mapper):
#  1. container rootfs creation: CREATE (snapshot of an image layer) + MOUNT, N times per driver;
#  2. APPLY_DIFF throughput of the same tar (mixed small and large files) into a fresh layer.
# devicemapper's pool sits on two brd ramdisks; overlay's root on ext4 on a third one.
# Each figure is the median over the runs; every call is a separate driver process, as a real
# client makes it.  Under TCG (no KVM) a process start costs seconds, so the figures are only
# comparable with each other, inside the same run.
#   bench/devicemapper-vm.sh [RUNS=5] [TAR_MB=64]
# Env: BERTH_BUILD (default ./build); DM_VM_* as for tests/vm/dm-vm.sh.
set -eu -o pipefail
RUNS=${1:-5}
TAR_MB=${2:-64}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${BERTH_BUILD:-$SRC/build}" && pwd)
for b in storage/devicemapper storage/overlay; do
	[ -x "$BUILD/$b" ] || { echo "build first: make (missing $BUILD/$b)" >&2; exit 1; }
done
W=$(mktemp -d /tmp/dm-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT

# the layer tar, built on the host: half the bytes in 0.5-32 KiB files, half in 4-8 MiB files
python3 - "$W/tree" "$TAR_MB" <<'PY'
import os, random, sys
root, mb = sys.argv[1], int(sys.argv[2])
random.seed(7)
blob = os.urandom(8 << 20)
small = large = mb << 19
i = 0
while small > 0:
    d = os.path.join(root, "usr", "d%02d" % (i % 23), "s%02d" % (i % 61))
    os.makedirs(d, exist_ok=True)
    n = random.choice([512, 2048, 4096, 8192, 32768])
    open(os.path.join(d, "f%06d" % i), "wb").write(blob[:n])
    small -= n; i += 1
while large > 0:
    n = random.randrange(4 << 20, 8 << 20)
    os.makedirs(os.path.join(root, "big"), exist_ok=True)
    open(os.path.join(root, "big", "b%03d" % i), "wb").write(blob[:n])
    large -= n; i += 1
PY
tar -C "$W/tree" -cf "$W/layer.tar" .
rm -rf "$W/tree"

cat >"$W/inner.sh" <<'INNER'
#!/bin/bash
set -u
B=$BERTH_BUILD; RUNS=$BENCH_RUNS; TAR=$BENCH_TAR
now() { local t=$EPOCHREALTIME; echo "${t/./}"; } # microseconds
drv() { # DRIVER ROOT OPTS VERB ARGS (the request built by printf: a jq process inside the timed
	# region would cost as much as the driver's own start under TCG)
	printf '{"protocolVersion":"1.0.0","driver":"%s","root":"%s","runRoot":"%s-run","options":%s,"args":%s}' \
		"$1" "$2" "$2" "$3" "$5" | STOR_COMMAND=$4 "$B/storage/$1"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
# overlay on ext4 on a ramdisk like the pool's, so both drivers write to the same kind of device
mkfs.ext4 -q -F /dev/ram2 && mkdir -p /tmp/ovl && mount /dev/ram2 /tmp/ovl
DMO='{"data_device":"/dev/ram1","metadata_device":"/dev/ram0","base_size":"1G","require_udev_sync":false}'
OVO='{}'
tar_bytes=$(stat -c %s "$TAR")
root_of() { if [ $1 = devicemapper ]; then R=/tmp/dmroot O=$DMO; else R=/tmp/ovl/root O=$OVO; fi; }
for d in devicemapper overlay; do
	root_of $d
	out=$(drv $d $R "$O" INIT '{}') || { echo "INIT $d failed: $out"; exit 1; }
	drv $d $R "$O" CREATE '{"id":"img"}' >/dev/null
	out=$(drv $d $R "$O" APPLY_DIFF "{\"id\":\"img\",\"stream\":{\"path\":\"$TAR\"}}")
	case $out in *'"code"'*) echo "APPLY_DIFF $d: $out"; exit 1 ;; esac
	: >/tmp/apply.$d; : >/tmp/rootfs.$d; : >/tmp/noop.$d
done
# the drivers take turns in every round, so both see the same load on the host
for i in $(seq 1 $RUNS); do
	for d in devicemapper overlay; do
		root_of $d
		# process start and store open alone, for scale (subtracted below)
		t0=$(now); drv $d $R "$O" EXISTS '{"id":"img"}' >/dev/null; t1=$(now)
		echo $((t1 - t0)) >>/tmp/noop.$d
		# rootfs: snapshot of the image + mount
		t0=$(now)
		drv $d $R "$O" CREATE "{\"id\":\"c$i\",\"parent\":\"img\"}" >/dev/null
		out=$(drv $d $R "$O" MOUNT "{\"id\":\"c$i\"}")
		t1=$(now)
		p=$(jq -r .path <<<"$out")
		[ -f "$p/usr/d00/s00/f000000" ] || { echo "rootfs $d: content missing at $p ($out)"; exit 1; }
		echo $((t1 - t0)) >>/tmp/rootfs.$d
		# APPLY_DIFF into a fresh layer
		drv $d $R "$O" CREATE "{\"id\":\"a$i\"}" >/dev/null
		sync; echo 3 >/proc/sys/vm/drop_caches
		t0=$(now)
		out=$(drv $d $R "$O" APPLY_DIFF "{\"id\":\"a$i\",\"stream\":{\"path\":\"$TAR\"}}")
		t1=$(now)
		case $out in *'"code"'*) echo "APPLY_DIFF $d: $out"; exit 1 ;; esac
		echo $((t1 - t0)) >>/tmp/apply.$d
		drv $d $R "$O" REMOVE "{\"id\":\"a$i\"}" >/dev/null
	done
done
for d in devicemapper overlay; do
	root_of $d
	for i in $(seq 1 $RUNS); do
		drv $d $R "$O" UNMOUNT "{\"id\":\"c$i\"}" >/dev/null
		drv $d $R "$O" REMOVE "{\"id\":\"c$i\"}" >/dev/null
	done
	drv $d $R "$O" CLEANUP '{}' >/dev/null
done
echo "BENCH tar: $((tar_bytes / 1048576)) MiB, $RUNS runs per figure, medians"
mibs() { awk -v b=$tar_bytes -v us=$1 'BEGIN {printf "%.1f", b / 1048576 / (us / 1000000)}'; }
for d in devicemapper overlay; do
	a=$(median </tmp/apply.$d); r=$(median </tmp/rootfs.$d); n=$(median </tmp/noop.$d)
	an=$((a - n)); [ $an -gt 0 ] || an=1
	rn=$((r - 2 * n)); [ $rn -gt 0 ] || rn=1
	echo "BENCH $d: rootfs CREATE+MOUNT $((r / 1000)) ms (2 driver calls; $((rn / 1000)) ms without the process starts); APPLY_DIFF $((a / 1000)) ms = $(mibs $a) MiB/s ($(mibs $an) MiB/s without the process start); one EXISTS call $((n / 1000)) ms"
	eval "R_$d=$r A_$d=$an RN_$d=$rn"
done
echo "BENCH ratio rootfs time devicemapper/overlay: $(awk -v a=$R_devicemapper -v b=$R_overlay 'BEGIN {printf "%.2f", a/b}') ($(awk -v a=$RN_devicemapper -v b=$RN_overlay 'BEGIN {printf "%.2f", a/b}') without the process starts)"
echo "BENCH ratio APPLY_DIFF throughput devicemapper/overlay: $(awk -v a=$A_devicemapper -v b=$A_overlay 'BEGIN {printf "%.2f", b/a}')"
INNER
chmod +x "$W/inner.sh"
DM_VM_QUIET=${DM_VM_QUIET:-1} DM_VM_RAMDISKS=3 DM_VM_RAMDISK_MB=${DM_VM_RAMDISK_MB:-512} DM_VM_MEM=${DM_VM_MEM:-2560} \
	DM_VM_TIMEOUT=${DM_VM_TIMEOUT:-3600} BERTH_BUILD=$BUILD BENCH_RUNS=$RUNS BENCH_TAR=$W/layer.tar \
	"$SRC/tests/vm/dm-vm.sh" -m overlay -t jq -t resize2fs -f "$BUILD/storage/devicemapper" \
	-f "$BUILD/storage/overlay" -f "$W/layer.tar" -e BERTH_BUILD -e BENCH_RUNS -e BENCH_TAR \
	-e BERTH_LOG_LEVEL=error -- "$W/inner.sh" | grep -E '^BENCH|failed|missing|code'
