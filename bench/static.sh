#!/bin/bash
# bench: static IPAM against the reference
# bench-args: -r 201
# bench-quick-args: -r 5
#
# The static IPAM plugin's ADD (two addresses, two routes, dns; the config's own addresses, and
# with runtimeConfig.ips replacing them) and VERSION: berth's static against the reference
# (/usr/lib/cni/static), side by side in one run.  Prints a markdown section (the contract of
# bench/README.md).
#
#   bench/static.sh [-r ROUNDS]
#
# Runs as root (a throwaway netns is CNI_NETNS).  Each round calls every case once with each
# implementation, which one goes first alternating, so that load drifting on a shared machine
# hits both alike.  Each call is timed around its fork+exec (the same overhead for both).
set -euo pipefail
shopt -s inherit_errexit
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
REF=${REF_CNI:-/usr/lib/cni}
ROUNDS=201
while getopts r:h o; do
	case $o in
	r) ROUNDS=$OPTARG ;;
	*) sed -n '2,15p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
for f in "$BUILD/cni/static" "$REF/static"; do
	[ -x "$f" ] || { echo "missing $f (run make)" >&2; exit 1; }
done

T=$(printf '%04x' $(( $$ & 0xffff )))
NSN=stb$T
WORK=$(mktemp -d /tmp/berth-staticbench.XXXXXX)
cleanup() {
	ip netns del "$NSN" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NSN"

IPAM='"ipam":{"type":"static","addresses":[{"address":"10.60.0.5/24","gateway":"10.60.0.1"},{"address":"fd60::5/64","gateway":"fd60::1"}],"routes":[{"dst":"0.0.0.0/0"},{"dst":"192.0.2.0/24","gw":"10.60.0.9"}],"dns":{"nameservers":["10.60.0.53"],"search":["example.test"]}}'
echo "{\"cniVersion\":\"1.0.0\",\"name\":\"sb\",\"type\":\"macvlan\",$IPAM}" >"$WORK/add.json"
echo "{\"cniVersion\":\"1.0.0\",\"name\":\"sb\",\"type\":\"macvlan\",\"runtimeConfig\":{\"ips\":[\"10.61.0.5/24\"]},$IPAM}" >"$WORK/rc.json"
echo '{"cniVersion":"1.0.0"}' >"$WORK/version.json"

call() { # PLUGIN CMD CASE
	env -i CNI_COMMAND="$2" CNI_CONTAINERID=c1 CNI_NETNS="/run/netns/$NSN" CNI_IFNAME=eth0 \
		CNI_PATH="$(dirname "$1")" "$1" <"$WORK/$3.json" >"$WORK/out" ||
		{ echo "# $1 $2 $3 failed: $(head -c 300 "$WORK/out")" >&2; return 1; }
}
timed() { # FILE PLUGIN CMD CASE
	local t0 t1
	t0=$EPOCHREALTIME
	call "$2" "$3" "$4"
	t1=$EPOCHREALTIME
	echo "$t0 $t1" >>"$1"
}
median() { awk '{print ($2-$1)*1000}' "$1" | sort -g |
	awk '{v[NR]=$1} END{printf "%.2f", (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < ROUNDS; r++)); do
	for c in add:ADD rc:ADD version:VERSION; do
		case=${c%%:*} cmd=${c#*:}
		if ((r % 2)); then
			timed "$WORK/t-berth-$case" "$BUILD/cni/static" "$cmd" "$case"
			timed "$WORK/t-ref-$case" "$REF/static" "$cmd" "$case"
		else
			timed "$WORK/t-ref-$case" "$REF/static" "$cmd" "$case"
			timed "$WORK/t-berth-$case" "$BUILD/cni/static" "$cmd" "$case"
		fi
	done
	((r % 50)) || echo "round $r/$ROUNDS" >&2
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

echo "## static IPAM"
echo
echo "\`bench/static.sh -r $ROUNDS\` (started $started, load $load0 -> $load1): latency of one"
echo "plugin call in ms, fork+exec included, median of $ROUNDS calls per row; berth's static"
echo "(\`${BUILD#"$SRC"/}/cni/static\`) and the reference (\`$REF/static\`) interleaved call by call."
echo "ADD: cniVersion 1.0.0, two addresses with gateways, two routes, dns; \"runtimeConfig.ips\":"
echo "the same with runtimeConfig.ips replacing the addresses. \`x ref\` = berth / reference."
echo
echo "| static call | berth ms | reference ms | x ref |"
echo "| --- | --- | --- | --- |"
for c in add:"ADD, config addresses" rc:"ADD, runtimeConfig.ips" version:VERSION; do
	case=${c%%:*} name=${c#*:}
	b=$(median "$WORK/t-berth-$case") f=$(median "$WORK/t-ref-$case")
	echo "| static $name (median of $ROUNDS) | $b | $f | $(awk -v b="$b" -v f="$f" 'BEGIN{printf "%.2f", b/f}') |"
done
