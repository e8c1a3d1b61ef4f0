#!/bin/bash
# bench: bandwidth with N containers shaped, against the reference
# bench-args: -n "10 100 1000" -r 21
# bench-quick-args: -n "3" -r 3
#
# bandwidth ADD/DEL cost with N containers already shaped (ingress and egress: a tbf on each
# host veth, an ifb each): berth's bandwidth against the reference (/usr/lib/cni/bandwidth),
# side by side in one run.  Prints a markdown section (the contract of bench/README.md).
#
#   bench/bandwidth.sh [-n "10 100 1000"] [-r ROUNDS]
#
# Runs as root.  Each N gets its own throwaway "host" netns and one "container" netns holding
# the container ends of its veth pairs (eth0 ... as CNI_IFNAME e<i>); N containers are shaped
# with each implementation (N ifbs each, 2N tbfs).  Then, ROUNDS times, a new container is ADDed
# and DELeted in every N's netns with berth and with the reference (which goes first alternates),
# each on a veth pair of its own made beforehand (the reference's DEL leaves its qdiscs on the
# host veth); rounds interleave the N values so that load drifting on a shared machine hits
# every N and both implementations alike.  Each call is timed around its fork+exec (nsenter + the plugin; the same
# overhead for both).
set -euo pipefail
shopt -s inherit_errexit
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
REF=${REF_CNI:-/usr/lib/cni}
NS="10 100 1000"
ROUNDS=21
while getopts n:r:h o; do
	case $o in
	n) NS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	*) sed -n '2,20p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
for f in "$BUILD/cni/bandwidth" "$REF/bandwidth"; do
	[ -x "$f" ] || { echo "missing $f (run make)" >&2; exit 1; }
done
command -v nsenter >/dev/null || { echo "needs nsenter" >&2; exit 1; }

T=$(printf '%04x' $(( $$ & 0xffff )))
WORK=$(mktemp -d /tmp/berth-bwbench.XXXXXX)
cleanup() {
	for N in $NS; do
		ip netns del "bwbh$T-$N" 2>/dev/null || true
		ip netns del "bwbc$T-$N" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

X='"ingressRate":100000000,"ingressBurst":1000000,"egressRate":50000000,"egressBurst":500000'
conf() { # conf NETWORK N IFNAME HOSTIF
	printf '{"cniVersion":"1.0.0","name":"%s","type":"bandwidth",%s,"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"%s"},{"name":"%s","sandbox":"/run/netns/bwbc%s-%s"}],"ips":[{"address":"10.98.0.2/16","interface":1}]}}' \
		"$1" "$X" "$4" "$3" "$T" "$2"
}
call() { # call N PLUGIN CMD ID IFNAME < conf
	nsenter --net=/run/netns/bwbh$T-$1 env -i PATH="$PATH" CNI_COMMAND="$3" CNI_CONTAINERID="$4" \
		CNI_NETNS=/run/netns/bwbc$T-$1 CNI_IFNAME="$5" CNI_PATH="$(dirname "$2")" "$2" >"$WORK/out" ||
		{ echo "# $2 $3 $4 (N=$1) failed: $(head -c 300 "$WORK/out")" >&2; return 1; }
}
# timed FILE N PLUGIN CMD ID IFNAME < conf: appends the call's start and end to FILE
timed() {
	local t0 t1
	t0=$EPOCHREALTIME
	call "$2" "$3" "$4" "$5" "$6"
	t1=$EPOCHREALTIME
	echo "$t0 $t1" >>"$1"
}
median() { awk '{print ($2-$1)*1000}' "$1" | sort -g |
	awk '{v[NR]=$1} END{printf "%.2f", (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
pair() { # pair N HOSTIF IFNAME
	ip -n "bwbh$T-$1" link add "$2" type veth peer name "$3" netns "bwbc$T-$1"
	ip -n "bwbh$T-$1" link set "$2" up
	ip -n "bwbc$T-$1" link set "$3" up
}

started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for N in $NS; do
	ip netns add "bwbh$T-$N"
	ip netns add "bwbc$T-$N"
	ip -n "bwbh$T-$N" link set lo up
	for ((i = 0; i < N; i++)); do
		pair "$N" "ho$i" "eo$i"
		conf bwo "$N" "eo$i" "ho$i" | call "$N" "$BUILD/cni/bandwidth" ADD "o$i" "eo$i"
		pair "$N" "hr$i" "er$i"
		conf bwr "$N" "er$i" "hr$i" | call "$N" "$REF/bandwidth" ADD "r$i" "er$i"
	done
	for ((j = 0; j < ROUNDS; j++)); do
		pair "$N" "xo$j" "xeo$j"
		pair "$N" "xr$j" "xer$j"
	done
	echo "# N=$N shaped with both" >&2
done
ifbs=$(for N in $NS; do ip -n "bwbh$T-$N" -o link show type ifb | wc -l; done | tr '\n' ' ')

ns=($NS)
# Rounds interleave the N values and the two implementations (which goes first alternates), so
# that load drifting on a shared machine and the kernel work a DEL leaves behind (RCU callbacks)
# hit both alike.
one() { # one o|r N J
	local c
	if [ "$1" = o ]; then
		c=$(conf bwo "$2" "xeo$3" "xo$3")
		timed "$WORK/oa.$2" "$2" "$BUILD/cni/bandwidth" ADD "ox$3" "xeo$3" <<<"$c"
		timed "$WORK/od.$2" "$2" "$BUILD/cni/bandwidth" DEL "ox$3" "xeo$3" <<<"$c"
	else
		c=$(conf bwr "$2" "xer$3" "xr$3")
		timed "$WORK/ra.$2" "$2" "$REF/bandwidth" ADD "rx$3" "xer$3" <<<"$c"
		timed "$WORK/rd.$2" "$2" "$REF/bandwidth" DEL "rx$3" "xer$3" <<<"$c"
	fi
}
for ((j = 0; j < ROUNDS; j++)); do
	for ((x = 0; x < ${#ns[@]}; x++)); do
		N=${ns[$(( (x + j) % ${#ns[@]} ))]}
		if (( (j + x) % 2 )); then one r "$N" "$j"; one o "$N" "$j"; else one o "$N" "$j"; one r "$N" "$j"; fi
	done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

r() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "## bandwidth: berth against the reference, N containers shaped"
echo
echo "Command: \`bench/bandwidth.sh -n \"$NS\" -r $ROUNDS\` (as root), $started, commit $commit,"
echo "kernel $(uname -r), $(nproc) CPUs, load average $load0 before and $load1 after."
echo "Medians over $ROUNDS rounds (berth and reference interleaved call by call), in ms per call,"
echo "nsenter+fork+exec included for both; \"x ref\""
echo "divides by the reference's median at the same N.  Each call shapes both directions (a tbf on"
echo "the host veth; an ingress qdisc, a u32+mirred redirect and an ifb with its tbf).  Before the"
echo "timed calls each N's host netns holds N containers shaped by each implementation (ifbs per"
echo "netns: $ifbs).  **berth**: $BUILD/cni/bandwidth; **reference**: $REF/bandwidth"
echo "(containernetworking-plugins $(dpkg-query -W -f='${Version}' containernetworking-plugins 2>/dev/null || echo '?'))."
echo "The reference's DEL removes only the ifb; berth's DEL also removes the qdiscs on the host veth."
echo
echo "| N | implementation | ADD ms | ADD x ref | DEL ms | DEL x ref |"
echo "| --- | --- | --- | --- | --- | --- |"
declare -A OA OD RA RD
for N in $NS; do
	OA[$N]=$(median "$WORK/oa.$N") OD[$N]=$(median "$WORK/od.$N")
	RA[$N]=$(median "$WORK/ra.$N") RD[$N]=$(median "$WORK/rd.$N")
	printf '| %s | berth | %s | %s | %s | %s |\n' "$N" "${OA[$N]}" "$(r "${OA[$N]}" "${RA[$N]}")" \
		"${OD[$N]}" "$(r "${OD[$N]}" "${RD[$N]}")"
	printf '| %s | reference | %s | 1.00 | %s | 1.00 |\n' "$N" "${RA[$N]}" "${RD[$N]}"
done
first=${ns[0]} last=${ns[$(( ${#ns[@]} - 1 ))]}
if [ "$first" != "$last" ]; then
	echo
	printf 'Growth from N=%s to N=%s: berth ADD %sx, DEL %sx; reference ADD %sx, DEL %sx.\n' "$first" "$last" \
		"$(r "${OA[$last]}" "${OA[$first]}")" "$(r "${OD[$last]}" "${OD[$first]}")" \
		"$(r "${RA[$last]}" "${RA[$first]}")" "$(r "${RD[$last]}" "${RD[$first]}")"
fi
