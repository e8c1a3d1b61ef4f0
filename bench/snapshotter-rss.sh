#!/bin/bash
# berth-snapshotter memory: the daemon's resident set (VmRSS, and its anonymous and file-backed
# parts) while it serves waves of N parallel Prepares on the overlay driver, sampled every
# 10 ms during each wave; then the same after the Removes.  The issue's target: RSS at most
# 10 MiB under 64 parallel Prepares, and flat from wave to wave.
#
#   bench/snapshotter-rss.sh [-n PARALLEL] [-w WAVES] [-j WORKERS]
#
# Runs as root in a private mount namespace; the daemon, its root and socket live in a temp
# dir.  Prints one line per wave and a summary; figures in KiB.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
N=64
WAVES=5
WORKERS=
while getopts n:w:j:h o; do
	case $o in
	n) N=$OPTARG ;;
	w) WAVES=$OPTARG ;;
	j) WORKERS=$OPTARG ;;
	*) sed -n '2,11p' "$0"; exit 2 ;;
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
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; umount -R "$W/storage/containerd/overlay" 2>/dev/null; rm -rf "$W"' EXIT
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

$SC prepare base-a >/dev/null && $SC commit base base-a >/dev/null
echo "# berth-snapshotter RSS, $N parallel Prepares per wave, $(nproc) CPUs, $(uname -r), $(date -u +%F)"
echo "# idle after start: VmRSS $(st VmRSS) KiB (anon $(st RssAnon), file $(st RssFile))"
peak=0
first=
for w in $(seq 1 "$WAVES"); do
	$SC parallel "$N" prepare "w$w-%d" base >"$W/out" &
	load=$!
	read -r max anon file < <(sample $load)
	wait $load
	okn=$(sed -n 's/.*"ok":\([0-9]*\).*/\1/p' "$W/out")
	after=$(st VmRSS)
	$SC parallel "$N" remove "w$w-%d" >/dev/null
	echo "wave $w: $okn/$N Prepares ok; VmRSS during the wave max $max KiB (anon $anon, file $file), after $after KiB, after the Removes $(st VmRSS) KiB"
	[ "$max" -gt "$peak" ] && peak=$max
	[ -n "$first" ] || first=$after
done
echo "# peak VmRSS under $N parallel Prepares: $peak KiB ($(awk -v k="$peak" 'BEGIN{printf "%.1f", k/1024}') MiB); after wave 1 $first KiB, after wave $WAVES $(st VmRSS) KiB; VmHWM since exec $(st VmHWM) KiB (includes loading the libraries, before the daemon gives those pages back)"
