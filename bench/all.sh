#!/bin/bash
# Runs every benchmark and writes bench/RESULTS.md: the machine (date, commit, kernel, CPU,
# memory, load), the exact commands, and every figure each benchmark printed.
#
#   sudo bench/all.sh                 every benchmark, its full arguments -> bench/RESULTS.md
#   sudo bench/all.sh NAME...         only these (bench/NAME.sh)     -> stdout, unless -o
#   sudo bench/all.sh -q              every benchmark with its quick arguments (a smoke run that
#                                     checks they work; the figures mean nothing) -> stdout
#   sudo bench/all.sh -u NAME...      run these and update their rows and sections in
#                                     bench/RESULTS.md, keeping every other benchmark's
#   -o FILE                           write there instead
#
# Each row of RESULTS.md's command table names the commit and the time of its own run, and each
# benchmark's section starts with a "<!-- bench: NAME -->" line, so that -u can replace it.
# A benchmark is any bench/*.sh that declares itself with a "# bench: TITLE" line; see
# bench/README.md for the contract (markdown section on stdout, exit status, arguments).
# The benchmarks run one after another, never in parallel.  all.sh builds first (make all).
# Exit status: 0 when every benchmark succeeded; RESULTS.md records a failed one as FAILED.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC"
QUICK=
OUT=
UPDATE=
while getopts quo:h o; do
	case $o in
	q) QUICK=1 ;;
	u) UPDATE=1 ;;
	o) OUT=$OPTARG ;;
	*) sed -n '2,16p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "$(id -u)" -eq 0 ] || { echo "bench/all.sh: needs root" >&2; exit 1; }
if [ -z "$OUT" ] && [ -z "$QUICK" ] && [ $# -eq 0 ]; then OUT=$SRC/bench/RESULTS.md; fi
RES=$SRC/bench/RESULTS.md
if [ -n "$UPDATE" ]; then
	[ $# -gt 0 ] && [ -z "$QUICK" ] || { echo "bench/all.sh: -u needs benchmark names and no -q" >&2; exit 2; }
	[ -f "$RES" ] || { echo "bench/all.sh: -u: no $RES to update" >&2; exit 2; }
	OUT=${OUT:-$RES}
fi

# the benchmarks: bench/*.sh with a "# bench:" line among their first 10 lines
declare -a NAMES
if [ $# -gt 0 ]; then
	for n in "$@"; do
		n=${n%.sh}; n=${n#bench/}
		[ -f "bench/$n.sh" ] && head -n 10 "bench/$n.sh" | grep -q '^# bench:' ||
			{ echo "bench/all.sh: bench/$n.sh is not a benchmark (no '# bench:' line)" >&2; exit 2; }
		NAMES+=("$n")
	done
else
	for f in bench/*.sh; do
		[ "$f" = bench/all.sh ] && continue
		head -n 10 "$f" | grep -q '^# bench:' && NAMES+=("$(basename "$f" .sh)")
	done
fi
[ ${#NAMES[@]} -gt 0 ] || { echo "bench/all.sh: no benchmark found" >&2; exit 1; }
field() { head -n 10 "bench/$1.sh" | sed -n "s/^# $2: *//p" | head -1; }

WORK=$(mktemp -d /tmp/berth-bench-all.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "bench/all.sh: make all" >&2
make -j"$(nproc)" all >"$WORK/make.log" 2>&1 || { tail -30 "$WORK/make.log" >&2; echo "bench/all.sh: build failed" >&2; exit 1; }

started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load0=$(load)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- . ':!bench/RESULTS.md' 2>/dev/null || commit="$commit (with uncommitted changes)"
failed=0
for n in "${NAMES[@]}"; do
	if [ -n "$QUICK" ]; then args=$(field "$n" bench-quick-args); else args=$(field "$n" bench-args); fi
	eval "set -- $args"
	cmd="bench/$n.sh${args:+ $args}"
	echo "bench/all.sh: $cmd" >&2
	l0=$(load)
	at=$(date -u '+%Y-%m-%d %H:%M')
	t0=$(date +%s)
	BERTH_BUILD=$SRC/build bash "bench/$n.sh" "$@" >"$WORK/$n.md" 2>"$WORK/$n.err"
	rc=$?
	t1=$(date +%s)
	l1=$(load)
	status=ok
	if [ "$rc" -ne 0 ] || ! grep -q '^## ' "$WORK/$n.md"; then
		status="FAILED (status $rc)"
		failed=$((failed + 1))
		{
			echo "## $(field "$n" bench) -- FAILED"
			echo
			echo "\`$cmd\` exited with status $rc.  The end of its stderr:"
			echo
			echo '```'
			tail -n 30 "$WORK/$n.err"
			echo '```'
		} >"$WORK/$n.md"
		echo "bench/all.sh: $n failed (status $rc)" >&2
		tail -n 10 "$WORK/$n.err" >&2
	fi
	echo "| \`$cmd\` | $commit | $at | $status | $((t1 - t0)) | $l0 | $l1 |" >"$WORK/$n.row"
	{ echo "<!-- bench: $n -->"; cat "$WORK/$n.md"; } >"$WORK/$n.sec"

done
ended=$(date -u '+%Y-%m-%d %H:%M:%S UTC')

# -u: the benchmarks already in RESULTS.md that were not re-run keep their row and section
ALL=("${NAMES[@]}")
if [ -n "$UPDATE" ]; then
	mapfile -t OLD < <(sed -n 's/^<!-- bench: \(.*\) -->$/\1/p' "$RES")
	for n in "${OLD[@]}"; do
		[ -f "$WORK/$n.row" ] && continue
		grep -F "| \`bench/$n.sh" "$RES" | head -1 >"$WORK/$n.row"
		awk -v n="$n" '/^<!-- bench: / { on = ($0 == "<!-- bench: " n " -->") } on' "$RES" |
			sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' >"$WORK/$n.sec"
	done
	ALL=("${OLD[@]}")
	for n in "${NAMES[@]}"; do [[ " ${OLD[*]} " == *" $n "* ]] || ALL+=("$n"); done
fi

cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1)
virt=$(systemd-detect-virt 2>/dev/null) || virt=
if [ -z "$virt" ] || [ "$virt" = none ]; then
	if grep -qw hypervisor /proc/cpuinfo; then virt="virtual machine"; else virt=; fi
fi
{
	echo "# Benchmark results"
	echo
	echo "Written by \`bench/all.sh${QUICK:+ -q}\`; every figure in README.md and docs/ quotes a row of this file."
	[ -n "$QUICK" ] && echo "**Quick arguments (a smoke run): these figures mean nothing.**"
	echo
	echo "| | |"
	echo "| --- | --- |"
	echo "| last run | $started to $ended$([ -n "$UPDATE" ] && echo " (only ${NAMES[*]}; the other rows keep their own commit and time)") |"
	echo "| kernel | $(uname -srm) |"
	echo "| CPU | $(nproc) x ${cpu:-unknown}${virt:+ ($virt)} |"
	echo "| memory | $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) |"
	echo "| reference plugins | $(dpkg-query -W -f='containernetworking-plugins ${Version}' containernetworking-plugins 2>/dev/null || echo unknown) |"
	echo "| GNU tar | $(tar --version 2>/dev/null | head -1) |"
	echo
	echo "The machine may be shared: the load average before and after each benchmark is in the table."
	echo "Each benchmark measures the reference in the same run, interleaved with berth."
	echo
	echo "| command | commit | started (UTC) | status | seconds | load before | load after |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	for n in "${ALL[@]}"; do cat "$WORK/$n.row"; done
	for n in "${ALL[@]}"; do
		echo
		cat "$WORK/$n.sec"
	done
} >"$WORK/RESULTS.md"
if [ -n "$OUT" ]; then
	cp "$WORK/RESULTS.md" "$OUT"
	echo "bench/all.sh: wrote $OUT" >&2
else
	cat "$WORK/RESULTS.md"
fi
[ "$failed" -eq 0 ]
