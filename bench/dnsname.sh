#!/bin/bash
# bench: dnsname (container names through dnsmasq) against the containers/dnsname reference
# bench-args: -n 100
# bench-quick-args: -n 3
#
# For N containers joining one network (each implementation its own network and bridge, both in
# one throwaway "host" netns), interleaved call by call: the dnsname ADD latency, the time from
# the start of ADD until the network's dnsmasq answers a DNS question for the new name with its
# address (what a peer container waits for), and the DEL latency.  Medians and p95 over the N
# containers, in ms, and ours / the reference's medians.
#
#   bench/dnsname.sh [-n N]      (N <= 200)
#
# The reference is containers/dnsname (Debian golang-github-containernetworking-plugin-dnsname,
# /usr/lib/cni/dnsname, or REF_DNSNAME); both run the same Debian dnsmasq.  The peer is the
# driver (tests/helpers/dnsname-bench.c) in the host netns asking the gateway over UDP, a new
# question as soon as an answer lacks the address.  The first ADD of each starts its dnsmasq.
# A failed call stops the run: never a sample.  A name that does not resolve within 2 s of the
# ADD's return is counted as lost, not as a sample.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
REF=${REF_DNSNAME:-${REF_CNI:-/usr/lib/cni}/dnsname}
N=100
while getopts n:h o; do
	case $o in
	n) N=$OPTARG ;;
	*) sed -n '2,18p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
[ "$N" -ge 1 ] && [ "$N" -le 200 ] || { echo "N must be 1..200" >&2; exit 2; }
DRIVER=$BUILD/tests/helpers/dnsname-bench
for f in "$DRIVER" "$BUILD/cni/dnsname" "$REF"; do
	[ -x "$f" ] || { echo "missing $f (make all; scripts/deps.sh test)" >&2; exit 1; }
done
command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || { echo "dnsmasq missing (dnsmasq-base)" >&2; exit 1; }

T=$(printf '%04x' $(( $$ & 0xffff )))
H=bdh$T
C=bdc$T
WORK=$(mktemp -d /tmp/berth-bench-dnsname.XXXXXX)
OCT=$(( (0x$T % 100) + 100 ))
cleanup() {
	local p
	for p in $(cat "$WORK"/ours/*/pidfile "$WORK"/xdg/containers/cni/dnsname/*/pidfile 2>/dev/null); do
		kill "$p" 2>/dev/null || true
	done
	ip netns del "$H" 2>/dev/null || true
	ip netns del "$C" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$H"
ip netns add "$C"
ip -n "$H" link set lo up
# impl LABEL: its bridge, subnet, plugin and environment
declare -A BRIDGE SUB PLUG ENVS
BRIDGE[ours]=bdo$T SUB[ours]=10.254.$OCT PLUG[ours]=$BUILD/cni/dnsname
BRIDGE[ref]=bdr$T SUB[ref]=10.254.$((OCT + 1)) PLUG[ref]=$REF
ENVS[ours]="BERTH_DNSNAME_DIR=$WORK/ours"
ENVS[ref]="XDG_RUNTIME_DIR=$WORK/xdg"
mkdir -p "$WORK/ours" "$WORK/xdg"
for i in ours ref; do
	ip -n "$H" link add "${BRIDGE[$i]}" type bridge
	ip -n "$H" addr add "${SUB[$i]}.1/24" dev "${BRIDGE[$i]}"
	ip -n "$H" link set "${BRIDGE[$i]}" up
done

conf() { # IMPL K: the dnsname config of container K (prevResult as bridge would give it)
	local i=$1 k=$2
	printf '{"cniVersion":"1.0.0","name":"%s","type":"dnsname","domainName":"dns.podman","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"%s"},{"name":"eth0","sandbox":"/run/netns/%s"}],"ips":[{"address":"%s.%d/24","gateway":"%s.1","interface":1}]}}\n' \
		"${BRIDGE[$i]}" "${BRIDGE[$i]}" "$C" "${SUB[$i]}" $((k + 9)) "${SUB[$i]}"
}
call() { # IMPL VERB K ARGS...: the driver in the host netns
	local i=$1 verb=$2 k=$3
	shift 3
	conf "$i" "$k" >"$WORK/conf-$i-$k"
	# shellcheck disable=SC2086
	nsenter --net="/run/netns/$H" env ${ENVS[$i]} CNI_COMMAND="$verb" CNI_CONTAINERID="c$k-$T" \
		CNI_NETNS="/run/netns/$C" CNI_IFNAME=eth0 CNI_PATH=/nonexistent \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME=n$k-$T" \
		"$DRIVER" "$(tr A-Z a-z <<<"$verb")" "${PLUG[$i]}" "$WORK/conf-$i-$k" "$@"
}

for ((k = 1; k <= N; k++)); do
	order="ours ref"; [ $((k % 2)) -eq 0 ] && order="ref ours"
	for i in $order; do
		out=$(call "$i" ADD "$k" "${SUB[$i]}.1" "n$k-$T.dns.podman" "${SUB[$i]}.$((k + 9))")
		echo "$out" >>"$WORK/add-$i"
	done
	echo "ADD $k/$N" >&2
done
for ((k = 1; k <= N; k++)); do
	order="ours ref"; [ $((k % 2)) -eq 0 ] && order="ref ours"
	for i in $order; do
		call "$i" DEL "$k" >>"$WORK/del-$i"
	done
done
# both stopped their dnsmasq with the last DEL
for f in "$WORK"/ours/*/pidfile; do
	[ -e "$f" ] && { echo "ours left $f after the last DEL" >&2; exit 1; }
done

stat() { # FILE COLUMN -> "median p95"
	awk -v c="$2" '$c != "-" {print $c}' "$1" | sort -g | awk '{v[NR] = $1} END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		p = v[int(NR * 0.95 + 0.999)]; if (p == "") p = v[NR]
		printf "%.2f %.2f", m, p }'
}
r() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "## dnsname: container names through dnsmasq, berth against containers/dnsname"
echo
echo "\`bench/dnsname.sh -n $N\`: $N containers join one network per implementation (a bridge with"
echo "its gateway in a throwaway host netns), calls interleaved.  **ADD** and **DEL**: the dnsname"
echo "plugin call (fork+exec+wait).  **resolvable**: from the start of ADD until the network's"
echo "dnsmasq answers a question for the new name (\`NAME.dns.podman\`, type A) with its address, asked"
echo "from the host netns over UDP again as soon as an answer lacks it: what a peer waits for."
echo "Milliseconds, median and p95 over the $N containers; the first ADD of each starts its dnsmasq."
echo "\"x ref\" = berth's median / the reference's median in the same run.  Reference: containers/dnsname"
echo "(\`$REF\`); both run Debian's dnsmasq.  **lost**: names not resolvable 2 s after their ADD"
echo "returned (not samples of \"resolvable\")."
echo
echo "| dnsname, N=$N | ADD median ms | ADD p95 ms | resolvable median ms | resolvable p95 ms | DEL median ms | DEL p95 ms | lost |"
echo "|---|---|---|---|---|---|---|---|"
for i in ours ref; do
	read -r am ap <<<"$(stat "$WORK/add-$i" 1)"
	read -r rm_ rp <<<"$(stat "$WORK/add-$i" 2)"
	read -r dm dp <<<"$(stat "$WORK/del-$i" 1)"
	printf -v "AM_$i" %s "$am"; printf -v "RM_$i" %s "$rm_"; printf -v "DM_$i" %s "$dm"
	label=berth; [ $i = ref ] && label=reference
	echo "| $label | $am | $ap | $rm_ | $rp | $dm | $dp | $(awk '$2 == "-"' "$WORK/add-$i" | wc -l) of $N |"
done
echo "| berth x ref | $(r "$AM_ours" "$AM_ref") | | $(r "$RM_ours" "$RM_ref") | | $(r "$DM_ours" "$DM_ref") | | |"
