#!/bin/bash
# berth-snapshotter on the overlay driver, through its gRPC socket (the snap-client helper):
#  1. latency of each RPC: RUNS calls one after the other on one connection, median/min/max;
#  2. memory: the daemon's resident set (VmRSS, its anonymous and file-backed parts) while it
#     serves waves of N parallel Prepares, sampled every 10 ms, and after each wave.  The
#     issue's target: RSS at most 10 MiB under 64 parallel Prepares, flat from wave to wave.
# The comparison with containerd's built-in overlayfs snapshotter is bench/containerd-*.sh.
#
#   bench/snapshotter.sh [-n PARALLEL] [-w WAVES] [-j WORKERS] [-r RUNS]
#
# Runs as root in a private mount namespace; the daemon, its root and socket live in a temp
# dir.  Prints one line per wave and a summary; figures in KiB.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
N=64
WAVES=5
WORKERS=
RUNS=30
while getopts n:w:j:r:h o; do
	case $o in
	n) N=$OPTARG ;;
	w) WAVES=$OPTARG ;;
	j) WORKERS=$OPTARG ;;
	r) RUNS=$OPTARG ;;
	*) sed -n '2,13p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
for b in bin/berth-snapshotter tests/helpers/snap-client storage/overlay; do
	[ -x "$BUILD/$b" ] || { echo "missing $BUILD/$b (run make)" >&2; exit 1; }
done
if [ -z "${BERTH_BENCH_NS:-}" ]; then
	BERTH_BENCH_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

W=$(mktemp -d "${TMPDIR:-/var/tmp}/berth-bench-snap.XXXXXX")
SOCK=$W/sock/s.sock
SC="$BUILD/tests/helpers/snap-client $SOCK"
printf '{"driver":"overlay","root":"%s/storage","runRoot":"%s/run"}\n' "$W" "$W" >"$W/storage.json"
BERTH_STORAGE_PATH=$BUILD/storage "$BUILD/bin/berth-snapshotter" --address "$SOCK" \
	--storage-config "$W/storage.json" ${WORKERS:+--workers "$WORKERS"} 2>"$W/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; umount -R "$W/storage/containerd/overlay" 2>/dev/null || true; rm -rf "$W"' EXIT
for _ in $(seq 1 100); do $SC list >/dev/null 2>&1 && break; sleep 0.1; done

st() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$PID/status"; }
# sample PID_OF_LOAD: the highest VmRSS (and its parts) seen while the load runs
sample() {
	local max=0 anon=0 file=0 r
	while kill -0 "$1" 2>/dev/null; do
		r=$(st VmRSS)
		if [ "$r" -gt "$max" ]; then max=$r anon=$(st RssAnon) file=$(st RssFile); fi
		sleep 0.01
	done
	echo "$max $anon $file"
}

started=$(st VmRSS)
$SC prepare base-a >/dev/null && $SC commit base base-a >/dev/null
echo "# bench/snapshotter.sh -n $N -w $WAVES -r $RUNS${WORKERS:+ -j $WORKERS}: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%F %H:%M') UTC, commit $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)"
echo "# latency per call, ms (median min max over $RUNS calls on one connection)"
lat() { # lat NAME CMD ARGS
	local name=$1
	shift
	$SC repeat "$RUNS" "$@" | sed -n "s/.*\"median_ms\":\([0-9.]*\).*\"min_ms\":\([0-9.]*\).*\"max_ms\":\([0-9.]*\).*/\1 \2 \3/p" |
		awk -v n="$name" '{printf "%-28s %8.2f %8.2f %8.2f\n", n, $1, $2, $3}'
}
lat "Prepare (on a parent)" prepare "lat-%d" base
lat "Mounts" mounts "lat-%d"
lat "Stat" stat "lat-%d"
lat "Commit" commit "latc-%d" "lat-%d"
lat "View" view "latv-%d" "latc-%d"
lat "Usage (committed, first)" usage "latc-%d"
lat "Usage (committed, stored)" usage "latc-%d"
lat "Remove (view)" remove "latv-%d"
lat "Remove (committed)" remove "latc-%d"
$SC list >/dev/null
echo "# memory, $N parallel Prepares per wave"
echo "# after start (one List answered): VmRSS $started KiB; after the latency calls: VmRSS $(st VmRSS) KiB (anon $(st RssAnon), file $(st RssFile))"
peak=0
first=
for w in $(seq 1 "$WAVES"); do
	$SC parallel "$N" prepare "w$w-%d" base >"$W/out" &
	load=$!
	read -r max anon file < <(sample $load)
	wait $load || true
	okn=$(sed -n 's/.*"ok":\([0-9]*\).*/\1/p' "$W/out")
	grep -q '"failed":0' "$W/out" || echo "# wave $w: $(cat "$W/out")"
	after=$(st VmRSS)
	$SC parallel "$N" remove "w$w-%d" >"$W/rm.out" || echo "# wave $w: Removes failed: $(cat "$W/rm.out")"
	echo "wave $w: $okn/$N Prepares ok; VmRSS during the wave max $max KiB (anon $anon, file $file), after $after KiB, after the Removes $(st VmRSS) KiB"
	[ "$max" -gt "$peak" ] && peak=$max
	[ -n "$first" ] || first=$after
done
echo "# peak VmRSS under $N parallel Prepares: $peak KiB ($(awk -v k="$peak" 'BEGIN{printf "%.1f", k/1024}') MiB); after wave 1 $first KiB, after wave $WAVES $(st VmRSS) KiB; VmHWM since exec $(st VmHWM) KiB (includes loading the libraries, before the daemon gives those pages back)"
