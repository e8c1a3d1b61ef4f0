#!/bin/bash
# bench: macvlan + host-local against the reference plugins
# bench-args: -n "10 100 1000" -V 100
# bench-quick-args: -n "5" -V 10
#
# ADD/DEL latency, VERSION latency and peak memory of berth's macvlan (with host-local, and
# without IPAM: the link alone) against the reference plugins, interleaved call by call in one
# run, for N containers each on one master.  Prints a markdown section (bench/README.md).
#
#   bench/macvlan.sh [-n "10 100 1000"] [-V VERSION_RUNS]
#
# Implementations:
#   berth            macvlan, host-local run in-process (our sibling host-local)
#   berth exec-IPAM  BERTH_NO_BUILTIN_DELEGATE=1: host-local exec'd, as the reference does
#   reference        /usr/lib/cni/macvlan + host-local (containernetworking-plugins)
# and, in a second table, macvlan without IPAM (L2 only), berth against the reference.
#
# Runs as root.  The master is a veth in a throwaway "host" netns where the driver (and so the
# plugins) run; N container netns per implementation; all removed at exit.  BERTH_BUILD
# (default build/) holds ours, REF_CNI (default /usr/lib/cni) the reference.  The driver is
# tests/helpers/berth-cni-bench.c (fork+exec+wait4 per call); a failed call stops the run.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
REF=${REF_CNI:-/usr/lib/cni}
NS_LIST="10 100 1000"
VRUNS=100
while getopts n:V:h o; do
	case $o in
	n) NS_LIST=$OPTARG ;;
	V) VRUNS=$OPTARG ;;
	*) sed -n '2,22p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
DRIVER=$BUILD/tests/helpers/berth-cni-bench
for f in "$DRIVER" "$BUILD/cni/macvlan" "$BUILD/cni/host-local" "$REF/macvlan" "$REF/host-local"; do
	[ -x "$f" ] || { echo "missing $f (run make)" >&2; exit 1; }
done

T=$(printf '%04x' $(( $$ & 0xffff )))
HOSTNS=bmh$T
MASTER=bmm$T
WORK=$(mktemp -d /tmp/berth-bench-macvlan.XXXXXX)
cleanup() {
	rm -f /run/netns/bm$T-* 2>/dev/null
	ip netns del "$HOSTNS" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$HOSTNS"
ip -n "$HOSTNS" link set lo up
ip -n "$HOSTNS" link add "$MASTER" type veth peer name bmp$T
ip -n "$HOSTNS" link set "$MASTER" up
ip -n "$HOSTNS" link set bmp$T up

conf() { # conf FILE NAME SUBNET DATADIR [noipam]
	if [ "${5:-}" = noipam ]; then
		printf '{"cniVersion":"1.0.0","name":"%s","type":"macvlan","master":"%s"}\n' "$2" "$MASTER" >"$1"
	else
		printf '{"cniVersion":"1.0.0","name":"%s","type":"macvlan","master":"%s","ipam":{"type":"host-local","ranges":[[{"subnet":"%s"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"%s"}}\n' \
			"$2" "$MASTER" "$3" "$4" >"$1"
	fi
}

declare -A NAME=([ours]="berth" [exec]="berth exec-IPAM" [ref]="reference" [l2ours]="berth" [l2ref]="reference")
declare -A RES
drive() { # drive KEY N IMPL-ARGS...
	local key=$1 n=$2 d=$WORK/$1-$2 out
	shift 2
	if ! out=$(ip netns exec "$HOSTNS" "$DRIVER" -n "$n" -V "$VRUNS" -t "bm$T" "$@" 2>"$WORK/err"); then
		echo "berth-cni-bench failed ($key, N=$n):" >&2
		cat "$WORK/err" >&2
		printf '%s\n' "$out" >&2
		exit 1
	fi
	while read -r impl verb cnt medv p95 max rss; do
		case $impl in ours | exec | ref | l2ours | l2ref) RES[$n,$impl,$verb]="$medv $p95 $rss" ;; esac
	done <<<"$out"
}
for n in $NS_LIST; do
	d=$WORK/$n; mkdir -p "$d"
	conf "$d/ours.json" "bmo$T" 10.240.0.0/16 "$d/data-ours"
	conf "$d/exec.json" "bmx$T" 10.242.0.0/16 "$d/data-exec"
	conf "$d/ref.json" "bmr$T" 10.241.0.0/16 "$d/data-ref"
	conf "$d/l2.json" "bml$T" - - noipam
	drive ipam "$n" -i "ours,$BUILD/cni/macvlan,$d/ours.json,$BUILD/cni" \
		-i "exec,$BUILD/cni/macvlan,$d/exec.json,$BUILD/cni,BERTH_NO_BUILTIN_DELEGATE=1" \
		-i "ref,$REF/macvlan,$d/ref.json,$REF"
	drive l2 "$n" -i "l2ours,$BUILD/cni/macvlan,$d/l2.json,$BUILD/cni" \
		-i "l2ref,$REF/macvlan,$d/l2.json,$REF"
done

r() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
f() { awk -v a="$1" 'BEGIN { printf (a < 10 ? "%.2f" : "%.1f"), a }'; }
cmd="bench/macvlan.sh -n \"$NS_LIST\" -V $VRUNS"
echo "## macvlan: berth against the reference plugins"
echo
echo "Command: \`$cmd\` (as root).  Medians (and p95) in ms per call, each call one"
echo "fork+exec+wait4 of the plugin, N containers each on one master (a veth in a throwaway netns);"
echo "\"x ref\" divides by the reference's median in the same run.  Peak RSS is wait4's ru_maxrss"
echo "over ADD and DEL (it includes an exec'd host-local).  Implementations: **berth** (host-local"
echo "in-process); **berth exec-IPAM** (BERTH_NO_BUILTIN_DELEGATE=1: host-local exec'd, as the"
echo "reference does); **reference** (containernetworking-plugins in $REF).  \"L2 only\": no IPAM."
table() { # table TITLE REF IMPLS...
	local title=$1 rf=$2 i n
	shift 2
	echo
	echo "### $title"
	echo
	echo "| N | implementation | ADD ms (p95) | ADD x ref | DEL ms (p95) | DEL x ref | VERSION ms | VERSION x ref | peak RSS KiB | RSS x ref |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	for n in $NS_LIST; do
		read -r ra _ rra <<<"${RES[$n,$rf,ADD]}"; read -r rd _ rrd <<<"${RES[$n,$rf,DEL]}"
		read -r rv _ <<<"${RES[$n,$rf,VERSION]}"
		rrss=$(( rra > rrd ? rra : rrd ))
		for i in "$@"; do
			read -r a ap ars <<<"${RES[$n,$i,ADD]}"; read -r d dp drs <<<"${RES[$n,$i,DEL]}"
			read -r v _ <<<"${RES[$n,$i,VERSION]}"
			rss=$(( ars > drs ? ars : drs ))
			printf '| %s | %s | %s (%s) | %s | %s (%s) | %s | %s | %s | %s | %s |\n' "$n" "$title: ${NAME[$i]}" \
				"$(f "$a")" "$(f "$ap")" "$(r "$a" "$ra")" "$(f "$d")" "$(f "$dp")" "$(r "$d" "$rd")" \
				"$(f "$v")" "$(r "$v" "$rv")" "$rss" "$(r "$rss" "$rrss")"
		done
	done
}
table "macvlan + host-local" ref ours exec ref
table "macvlan L2 only" l2ref l2ours l2ref
