#!/bin/bash
# bench: host-device ADD and DEL against the reference
# bench-args: -r 31
# bench-quick-args: -r 3
#
# host-device ADD/DEL latency: a veth of a throwaway "host" netns moved into a throwaway
# container netns and back, berth's host-device against the reference
# (/usr/lib/cni/host-device), interleaved call by call (which goes first alternates).  No IPAM:
# the move itself.  Prints a markdown section (the contract of bench/README.md).
#
#   bench/host-device.sh [-r ROUNDS]
#
# Runs as root.  Each call is timed around its fork+exec (nsenter + the plugin; the same overhead
# for both).  berth's DEL also restores the device's address and up state (the reference leaves
# it down without addresses), so each round re-adds the reference's device address to keep the
# two starting states alike (not timed).
set -euo pipefail
shopt -s inherit_errexit
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
REF=${REF_CNI:-/usr/lib/cni}
ROUNDS=31
while getopts r:h o; do
	case $o in
	r) ROUNDS=$OPTARG ;;
	*) sed -n '2,18p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
for f in "$BUILD/cni/host-device" "$REF/host-device"; do
	[ -x "$f" ] || { echo "missing $f (run make)" >&2; exit 1; }
done
command -v nsenter >/dev/null || { echo "needs nsenter" >&2; exit 1; }

T=$(printf '%04x' $(( $$ & 0xffff )))
H=hdbh$T C=hdbc$T
WORK=$(mktemp -d /tmp/berth-hdbench.XXXXXX)
cleanup() { ip netns del "$H" 2>/dev/null || true; ip netns del "$C" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$H"
ip netns add "$C"
for who in o r; do
	ip -n "$H" link add "d$who" type veth peer name "p$who"
	ip -n "$H" addr add "10.97.$([ $who = o ] && echo 1 || echo 2).2/24" dev "d$who"
	ip -n "$H" link set "d$who" up
	ip -n "$H" link set "p$who" up
done
conf() { printf '{"cniVersion":"1.0.0","name":"hdb%s","type":"host-device","device":"d%s"}' "$1" "$1"; }
call() { # PLUGIN CMD ID < conf
	nsenter --net="/run/netns/$H" env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID="$3" \
		CNI_NETNS="/run/netns/$C" CNI_IFNAME=eth0 CNI_PATH="$(dirname "$1")" \
		BERTH_HOSTDEV_STATE_DIR="$WORK/state" "$1" >"$WORK/out" ||
		{ echo "# $1 $2 $3 failed: $(head -c 300 "$WORK/out")" >&2; return 1; }
}
timed() { # FILE PLUGIN CMD ID < conf
	local t0 t1
	t0=$EPOCHREALTIME
	call "$2" "$3" "$4"
	t1=$EPOCHREALTIME
	echo "$t0 $t1" >>"$1"
}
median() { awk '{print ($2-$1)*1000}' "$1" | sort -g |
	awk '{v[NR]=$1} END{printf "%.2f", (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
one() { # o|r J
	local c
	c=$(conf "$1")
	if [ "$1" = o ]; then
		timed "$WORK/oa" "$BUILD/cni/host-device" ADD "o$2" <<<"$c"
		timed "$WORK/od" "$BUILD/cni/host-device" DEL "o$2" <<<"$c"
	else
		timed "$WORK/ra" "$REF/host-device" ADD "r$2" <<<"$c"
		timed "$WORK/rd" "$REF/host-device" DEL "r$2" <<<"$c"
		ip -n "$H" link set dr up
		ip -n "$H" addr add 10.97.2.2/24 dev dr
	fi
}
started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((j = 0; j < ROUNDS; j++)); do
	if ((j % 2)); then one r "$j"; one o "$j"; else one o "$j"; one r "$j"; fi
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
r() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
OA=$(median "$WORK/oa") OD=$(median "$WORK/od") RA=$(median "$WORK/ra") RD=$(median "$WORK/rd")
echo "## host-device: berth against the reference"
echo
echo "Command: \`bench/host-device.sh -r $ROUNDS\` (as root), $started, commit $commit,"
echo "kernel $(uname -r), $(nproc) CPUs, load average $load0 before and $load1 after."
echo "Medians over $ROUNDS rounds (berth and reference interleaved call by call), in ms per call,"
echo "nsenter+fork+exec included for both; \"x ref\" divides by the reference's median.  ADD moves a"
echo "veth of a throwaway host netns into a container netns as eth0 (no IPAM), DEL moves it back."
echo "**berth**: $BUILD/cni/host-device (renames inside the container netns, a temporary netns only when a name is taken; writes and removes its state"
echo "file, restores address and up state on DEL); **reference**: $REF/host-device"
echo "(containernetworking-plugins $(dpkg-query -W -f='${Version}' containernetworking-plugins 2>/dev/null || echo '?');"
echo "renames inside the container netns, restores nothing)."
echo
echo "| implementation | ADD ms | ADD x ref | DEL ms | DEL x ref |"
echo "| --- | --- | --- | --- | --- |"
printf '| host-device berth | %s | %s | %s | %s |\n' "$OA" "$(r "$OA" "$RA")" "$OD" "$(r "$OD" "$RD")"
printf '| host-device reference | %s | 1.00 | %s | 1.00 |\n' "$RA" "$RD"
