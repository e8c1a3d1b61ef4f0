#!/bin/bash
# portmap ADD/DEL cost with K containers already mapped: berth's nftables portmap against the
# reference (/usr/lib/cni/portmap, iptables backend), side by side in one run, and the number
# of nft rules before and after mapping K containers.
#
#   bench/portmap.sh [-k "10 100 1000"] [-r ROUNDS]
#
# Runs as root.  Each K gets its own throwaway "host" netns (the real host's iptables/nft state
# is never touched; everything goes away at exit), where K containers are mapped with each
# implementation (one host port each).  Then, ROUNDS times, a new container is ADDed and DELeted
# in every K's netns, first with ours, then (a second phase) with the reference; rounds interleave
# the K values, so that load drifting on a shared machine hits every K alike.
# Each call is timed around its fork+exec (nsenter + the plugin; the same overhead for both).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
REF=${REF_CNI:-/usr/lib/cni}
KS="10 100 1000"
ROUNDS=21
while getopts k:r:h o; do
	case $o in
	k) KS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	*) sed -n '2,14p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
for f in "$BUILD/cni/portmap" "$REF/portmap"; do
	[ -x "$f" ] || { echo "missing $f (run make)" >&2; exit 1; }
done
command -v iptables >/dev/null || { echo "the reference needs iptables (apt-get install iptables)" >&2; exit 1; }
command -v nft >/dev/null && command -v jq >/dev/null && command -v nsenter >/dev/null ||
	{ echo "needs nft, jq and nsenter" >&2; exit 1; }

T=$(printf '%04x' $(( $$ & 0xffff )))
C=pmbc$T
WORK=$(mktemp -d /tmp/berth-pmbench.XXXXXX)
cleanup() {
	for K in $KS; do ip netns del "pmbh$T-$K" 2>/dev/null || true; done
	ip netns del "$C" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$C"

conf() { # conf NAME IP HOSTPORT
	printf '{"cniVersion":"0.4.0","name":"%s","type":"portmap","capabilities":{"portMappings":true},"runtimeConfig":{"portMappings":[{"hostPort":%s,"containerPort":80,"protocol":"tcp"}]},"prevResult":{"cniVersion":"0.4.0","interfaces":[{"name":"br0"},{"name":"eth0","sandbox":"/run/netns/%s"}],"ips":[{"version":"4","address":"%s/16","interface":1}]}}' \
		"$1" "$3" "$C" "$2"
}
ip_of() { printf '10.90.%d.%d' $(( $1 / 250 )) $(( $1 % 250 + 2 )); }
call() { # call K PLUGIN CNI_PATH CMD ID < conf
	nsenter --net=/run/netns/pmbh$T-$1 env -i PATH="$PATH" CNI_COMMAND="$4" CNI_CONTAINERID="$5" \
		CNI_NETNS=/run/netns/$C CNI_IFNAME=eth0 CNI_PATH="$3" \
		BERTH_NFT_STATE_DIR="$WORK/state-$1" "$2" >/dev/null
}
# timed FILE K PLUGIN CNI_PATH CMD ID < conf: appends milliseconds to FILE
timed() {
	local t0 t1
	t0=$EPOCHREALTIME
	call "$2" "$3" "$4" "$5" "$6" || { echo "# $3 $5 $6 (K=$2) failed" >&2; return 1; }
	t1=$EPOCHREALTIME
	echo "$t0 $t1" >>"$1"
}
median() { awk '{print ($2-$1)*1000}' "$1" | sort -g |
	awk '{v[NR]=$1} END{printf "%.2f", (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
rules() { # rules K [TABLE-ARGS]: number of nft rules in K's netns (whole ruleset by default)
	local k=$1; shift
	nsenter --net=/run/netns/pmbh$T-$k nft -j list ${@:-ruleset} 2>/dev/null |
		jq '[.nftables[] | select(.rule)] | length'
}

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# ours=$BUILD/cni/portmap ref=$REF/portmap ($(iptables -V))"
echo "# command: $0 -k \"$KS\" -r $ROUNDS"
declare -A R0 RO RR
for K in $KS; do
	H=pmbh$T-$K
	ip netns add "$H"
	ip -n "$H" link set lo up
	ip -n "$H" link add br0 type bridge
	ip -n "$H" addr add 10.90.0.1/16 dev br0
	ip -n "$H" link set br0 up
	R0[$K]=$(rules "$K")
	for ((i = 0; i < K; i++)); do
		conf pmo "$(ip_of $i)" $((10000 + i)) | call "$K" "$BUILD/cni/portmap" "$BUILD/cni" ADD o$i
		conf pmr "$(ip_of $i)" $((10000 + i)) | call "$K" "$REF/portmap" "$REF" ADD r$i
	done
	RO[$K]=$(rules "$K" table inet berth)
	RR[$K]=$(( $(rules "$K") - RO[$K] ))
	echo "# K=$K mapped with both"
done
ks=($KS)
# Two timed phases, ours then the reference, each interleaving the K values round by round: the
# reference's big iptables-nft transactions leave kernel work behind (RCU callbacks, deferred
# frees) that would otherwise land on whichever call follows them.
phase() { # phase o|r
	local j x K ip hp c
	for ((j = 0; j < ROUNDS; j++)); do
		for ((x = 0; x < ${#ks[@]}; x++)); do
			K=${ks[$(( (x + j) % ${#ks[@]} ))]}
			ip=$(ip_of $((K + j))) hp=$((30000 + j))
			if [ "$1" = o ]; then
				c=$(conf pmo "$ip" $hp)
				timed "$WORK/oa.$K" "$K" "$BUILD/cni/portmap" "$BUILD/cni" ADD ox$j <<<"$c"
				timed "$WORK/od.$K" "$K" "$BUILD/cni/portmap" "$BUILD/cni" DEL ox$j <<<"$c"
			else
				c=$(conf pmr "$ip" $hp)
				timed "$WORK/ra.$K" "$K" "$REF/portmap" "$REF" ADD rx$j <<<"$c"
				timed "$WORK/rd.$K" "$K" "$REF/portmap" "$REF" DEL rx$j <<<"$c"
			fi
		done
	done
}
phase o
phase r

printf '%6s %10s %10s %10s %10s %9s %9s %12s %12s\n' K ours_add ours_del ref_add ref_del \
	ref/ours+ ref/ours- ours_rules ref_rules
declare -A OA OD
for K in $KS; do
	OA[$K]=$(median "$WORK/oa.$K") OD[$K]=$(median "$WORK/od.$K")
	ra=$(median "$WORK/ra.$K") rd=$(median "$WORK/rd.$K")
	printf '%6s %10s %10s %10s %10s %9.1f %9.1f %12s %12s\n' "$K" "${OA[$K]}" "${OD[$K]}" "$ra" "$rd" \
		"$(awk -v a="$ra" -v b="${OA[$K]}" 'BEGIN{print a/b}')" \
		"$(awk -v a="$rd" -v b="${OD[$K]}" 'BEGIN{print a/b}')" \
		"${R0[$K]}->${RO[$K]}" "0->${RR[$K]}"
done
echo "# medians in ms per call (nsenter+fork+exec included); rules: nft rules before -> after mapping K containers"
first=${ks[0]} last=${ks[$(( ${#ks[@]} - 1 ))]}
if [ "$first" != "$last" ]; then
	printf '# ours: ADD at K=%s is %.2fx the cost at K=%s, DEL %.2fx (target <= 1.2)\n' "$last" \
		"$(awk -v a="${OA[$last]}" -v b="${OA[$first]}" 'BEGIN{print a/b}')" "$first" \
		"$(awk -v a="${OD[$last]}" -v b="${OD[$first]}" 'BEGIN{print a/b}')"
fi
