#!/bin/bash
# bench: devicemapper against overlay in the dm VM
# bench-args: 5 64
# bench-quick-args: 1 4
#
# Prints a markdown section (the contract of bench/README.md).
# devicemapper vs overlay, side by side in one dm-vm boot (the host kernel has no device-mapper):
#  1. container rootfs creation: CREATE (snapshot of an image layer) + MOUNT, N times per driver;
#  2. APPLY_DIFF throughput of the same tar (mixed small and large files) into a fresh layer.
# devicemapper's pool sits on two brd ramdisks; overlay's root on ext4 on a third one.
# Each figure is the median over the runs; every call is a separate driver process, as a real
# client makes it.  Under TCG (no KVM) a process start costs seconds, so the figures are only
# comparable with each other, inside the same run.
#   bench/devicemapper-vm.sh [RUNS=5] [TAR_MB=64]
# Env: BERTH_BUILD (default ./build); DM_VM_* as for tests/vm/dm-vm.sh.
# Every driver call's exit status and answer are checked, in the VM too: a failed call stops
# the run, it is never a sample.
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
set -euo pipefail
shopt -s inherit_errexit
B=$BERTH_BUILD; RUNS=$BENCH_RUNS; TAR=$BENCH_TAR
now() { local t=$EPOCHREALTIME; echo "${t/./}"; } # microseconds
drv() { # DRIVER ROOT OPTS VERB ARGS (the request built by printf: a jq process inside the timed
	# region would cost as much as the driver's own start under TCG); fails the run when the
	# driver fails
	# (no command substitution: that would add a fork to the timed region)
	local out= rc=0
	printf '{"protocolVersion":"1.0.0","driver":"%s","root":"%s","runRoot":"%s-run","options":%s,"args":%s}' \
		"$1" "$2" "$2" "$3" "$5" | STOR_COMMAND=$4 "$B/storage/$1" >/tmp/drv.out || rc=$?
	read -r -d '' out </tmp/drv.out || true
	if [ "$rc" -ne 0 ] || [[ $out == *'"code"'* ]]; then
		echo "BENCH-FAILED $1 $4 $5 (status $rc): $out" >&2
		exit 1
	fi
	printf '%s\n' "$out"
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
# machine-readable lines for the host side: BENCH <driver> <rootfs_us> <noop_us> <apply_us>
echo "BENCH tar $tar_bytes $RUNS"
for d in devicemapper overlay; do
	echo "BENCH $d $(median </tmp/rootfs.$d) $(median </tmp/noop.$d) $(median </tmp/apply.$d)"
done
INNER
chmod +x "$W/inner.sh"
DM_VM_QUIET=${DM_VM_QUIET:-1} DM_VM_RAMDISKS=3 DM_VM_RAMDISK_MB=${DM_VM_RAMDISK_MB:-512} DM_VM_MEM=${DM_VM_MEM:-2560} \
	DM_VM_TIMEOUT=${DM_VM_TIMEOUT:-3600} BERTH_BUILD=$BUILD BENCH_RUNS=$RUNS BENCH_TAR=$W/layer.tar \
	"$SRC/tests/vm/dm-vm.sh" -m overlay -t jq -t resize2fs -f "$BUILD/storage/devicemapper" \
	-f "$BUILD/storage/overlay" -f "$W/layer.tar" -e BERTH_BUILD -e BENCH_RUNS -e BENCH_TAR \
	-e BERTH_LOG_LEVEL=error -- "$W/inner.sh" >"$W/vm.log" 2>&1 ||
	{ echo "the VM run failed:" >&2; grep -E 'BENCH-FAILED|error|dm-vm' "$W/vm.log" | tail -20 >&2; exit 1; }
read -r _ _ tar_bytes runs < <(grep '^BENCH tar ' "$W/vm.log")
read -r _ _ r_dm n_dm a_dm < <(grep '^BENCH devicemapper ' "$W/vm.log")
read -r _ _ r_ov n_ov a_ov < <(grep '^BENCH overlay ' "$W/vm.log")
[ -n "${a_ov:-}" ] && [ -n "${a_dm:-}" ] || { echo "no figures in the VM's output" >&2; tail -20 "$W/vm.log" >&2; exit 1; }
ms() { awk -v u="$1" 'BEGIN {printf "%.0f", u / 1000}'; }
mibs() { awk -v b="$tar_bytes" -v us="$1" 'BEGIN {printf "%.1f", b / 1048576 / (us / 1000000)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
cat <<EOF
## devicemapper against overlay (in the dm VM)

Command: \`bench/devicemapper-vm.sh $RUNS $TAR_MB\` (as root).  Both drivers in one boot of
tests/vm/dm-vm.sh (Debian's kernel under qemu; TCG when /dev/kvm is not usable, so a process start
costs hundreds of ms and the figures compare the drivers with each other only); devicemapper's
pool on two brd ramdisks, overlay on ext4 on a third.  Medians of $runs rounds, the drivers taking
turns; every call a driver process.  The tar: $((tar_bytes / 1048576)) MiB (half the bytes in 0.5-32
KiB files, half in 4-8 MiB files).  "one call" is an EXISTS call: process start and store open.

| driver | rootfs CREATE + MOUNT ms | one call ms | APPLY_DIFF ms | APPLY_DIFF MiB/s |
| --- | --- | --- | --- | --- |
| devicemapper | $(ms "$r_dm") | $(ms "$n_dm") | $(ms "$a_dm") | $(mibs "$a_dm") |
| overlay | $(ms "$r_ov") | $(ms "$n_ov") | $(ms "$a_ov") | $(mibs "$a_ov") |

devicemapper / overlay: rootfs time $(ratio "$r_dm" "$r_ov")x, APPLY_DIFF throughput $(ratio "$a_ov" "$a_dm")x.
EOF
