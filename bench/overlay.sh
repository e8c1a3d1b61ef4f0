#!/bin/bash
# bench: overlay driver DIFF/CHANGES and deep-chain MOUNT
# bench-args: -f 20000 -b 16 -r 5 -d 500
# bench-quick-args: -f 500 -b 1 -r 2 -d 20
#
# overlay driver: native against naive DIFF of the same layer, and MOUNT time of a 500-layer
# chain with the new mount API against mount(2) (fd-number lowers), in one run.  Prints a
# markdown section (the contract of bench/README.md).
#
#   bench/overlay.sh [-f FILES] [-b BIG_MIB] [-r RUNS] [-d DEPTH]
#
# The layer: FILES small files plus 8 files of BIG_MIB MiB in a base layer; the measured child
# layer rewrites a tenth of them, deletes a tenth, adds FILES/10 and replaces one directory.
# Every figure is the median of RUNS driver calls (each a fork+exec of the driver, as the core
# runs it).  Runs as root in a private mount namespace; everything lives in a temp dir.  Every
# driver call's exit status is checked: a failed call stops the run, it is never a sample.
set -euo pipefail
shopt -s inherit_errexit
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
DRV=$BUILD/storage/overlay
FILES=20000
BIG=16
RUNS=5
DEPTH=500
while getopts f:b:r:d:h o; do
	case $o in
	f) FILES=$OPTARG ;;
	b) BIG=$OPTARG ;;
	r) RUNS=$OPTARG ;;
	d) DEPTH=$OPTARG ;;
	*) sed -n '2,15p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
[ -x "$DRV" ] || { echo "missing $DRV (run make)" >&2; exit 1; }
if [ -z "${BERTH_BENCH_NS:-}" ]; then
	BERTH_BENCH_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

W=$(mktemp -d "${TMPDIR:-/var/tmp}/berth-bench-ovl.XXXXXX")
trap 'rm -rf "$W"' EXIT
conf() { # conf NAME OPTIONS
	printf '{"protocolVersion":"1.0.0","root":"%s/%s","runRoot":"%s/%s-run","options":%s' \
		"$W" "$1" "$W" "$1" "$2"
}
call() { # call VERB CONF ARGS: fails (with the driver's answer on stderr) when the driver does
	local out
	out=$(printf '%s,"args":%s}' "$2" "$3" | STOR_COMMAND=$1 "$DRV") ||
		{ echo "driver $1 $3 failed: $out" >&2; return 1; }
	printf '%s\n' "$out"
}
now() { date +%s%N; }
# median of the numbers on stdin (nanoseconds) printed in ms
median_ms() { sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1e6}'; }
# timeit RUNS COMMAND...: prints the median wall time in ms
timeit() {
	local n=$1 i t0 t1
	shift
	for ((i = 0; i < n; i++)); do
		t0=$(now)
		"$@" >/dev/null || { echo "failed: $*" >&2; exit 1; }
		t1=$(now)
		echo $((t1 - t0))
	done | median_ms
}

# ---- native vs naive diff --------------------------------------------------------------------
C=$(conf diff '{}')
call INIT "$C" '{}' >/dev/null
call CREATE "$C" '{"id":"base"}' >/dev/null
D=$W/diff/base/diff
mkdir -p "$D/big"
for ((d = 0; d < 100; d++)); do
	mkdir -p "$D/d$d"
	for ((i = d; i < FILES; i += 100)); do printf 'file %d %0200d\n' "$i" "$i" >"$D/d$d/f$i"; done
done
for ((i = 0; i < 8; i++)); do head -c $((BIG << 20)) /dev/urandom >"$D/big/b$i"; done
call CREATE "$C" '{"id":"top","parent":"base"}' >/dev/null
M=$(call MOUNT "$C" '{"id":"top"}' | sed -n 's/.*"path":"\([^"]*\)".*/\1/p')
for ((i = 0; i < FILES; i += 10)); do printf 'changed %d\n' "$i" >"$M/d$((i % 100))/f$i"; done
for ((i = 5; i < FILES; i += 10)); do rm -f "$M/d$((i % 100))/f$i"; done
mkdir -p "$M/new"
for ((i = 0; i < FILES / 10; i++)); do printf 'new %d\n' "$i" >"$M/new/n$i"; done
rm -rf "$M/d7" && mkdir "$M/d7" && echo opaque >"$M/d7/only"
head -c $((BIG << 20)) /dev/urandom >"$M/big/b0"
call UNMOUNT "$C" '{"id":"top"}' >/dev/null
sync

CN=$(conf diff '{"force_naive_diff":true}')
native_diff() { call DIFF "$C" '{"id":"top","stream":{"fd":3}}' 3>"$W/native.tar"; }
naive_diff() { call DIFF "$CN" '{"id":"top","stream":{"fd":3}}' 3>"$W/naive.tar"; }
native_changes() { call CHANGES "$C" '{"id":"top"}'; }
naive_changes() { call CHANGES "$CN" '{"id":"top"}'; }
# interleaved so that cache state favours neither
t_native=$(timeit "$RUNS" native_diff)
t_naive=$(timeit "$RUNS" naive_diff)
c_native=$(timeit "$RUNS" native_changes)
c_naive=$(timeit "$RUNS" naive_changes)
sz=$(stat -c %s "$W/native.tar")
szn=$(stat -c %s "$W/naive.tar")
nent=$(tar -tf "$W/native.tar" | wc -l)

# ---- 500-layer chain mount --------------------------------------------------------------------
chain() { # chain API: prints "mount_ms mount_ro_ms"
	local api=$1 c prev= i
	c=$(conf "chain-$api" "{\"mount_api\":\"$api\"}")
	call INIT "$c" '{}' >/dev/null
	for ((i = 1; i <= DEPTH; i++)); do
		call CREATE "$c" "{\"id\":\"c$i\"${prev:+,\"parent\":\"$prev\"}}" >/dev/null
		echo "$i" >"$W/chain-$api/c$i/diff/f$i"
		prev=c$i
	done
	mount_cycle() {
		call MOUNT "$c" "{\"id\":\"c$DEPTH\"$1}" >/dev/null &&
			[ "$(cat "$W/chain-$api/c$DEPTH/merged/f1")" = 1 ] &&
			call UNMOUNT "$c" "{\"id\":\"c$DEPTH\"}" >/dev/null
	}
	echo "$(timeit "$RUNS" mount_cycle '') $(timeit "$RUNS" mount_cycle ',"ro":true')"
	call CLEANUP "$c" '{}' >/dev/null
}
one() { # a 1-layer mount cycle for reference
	local c
	c=$(conf one '{}')
	call INIT "$c" '{}' >/dev/null
	call CREATE "$c" '{"id":"x"}' >/dev/null
	cyc() { call MOUNT "$c" '{"id":"x"}' >/dev/null && call UNMOUNT "$c" '{"id":"x"}' >/dev/null; }
	timeit "$RUNS" cyc
	call CLEANUP "$c" '{}' >/dev/null
}
read -r m_new m_new_ro <<<"$(chain new)"
read -r m_leg m_leg_ro <<<"$(chain legacy)"
m_one=$(one)
call CLEANUP "$C" '{}' >/dev/null

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a/b}'; }
cat <<EOF
## overlay driver: native against naive diff, deep chains

Command: \`bench/overlay.sh -f $FILES -b $BIG -r $RUNS -d $DEPTH\` (as root), on $(stat -f -c %T "$W")
under ${TMPDIR:-/var/tmp}.  Medians of $RUNS driver calls (each a fork+exec of the driver, as the core
runs it), in ms.  The layer: $FILES small files and 8 x $BIG MiB in the base; the child rewrites
$((FILES / 10)), deletes $((FILES / 10)), adds $((FILES / 10)) and replaces one directory (opaque);
its DIFF has $nent entries ($sz bytes native, $szn naive).  **native**: the upper directory read
directly; **naive**: the two trees compared (force_naive_diff).

| operation | native ms | naive ms | naive / native |
| --- | --- | --- | --- |
| DIFF | $t_native | $t_naive | $(ratio "$t_naive" "$t_native")x |
| CHANGES | $c_native | $c_naive | $(ratio "$c_naive" "$c_native")x |

MOUNT of a $DEPTH-layer chain, a read through it, and UNMOUNT (two driver calls), in ms:

| mount API | read-write | read-only |
| --- | --- | --- |
| new mount API (lowerdir+) | $m_new | $m_new_ro |
| mount(2), fd-number lowers | $m_leg | $m_leg_ro |
| 1-layer chain, new API | $m_one | - |
EOF
