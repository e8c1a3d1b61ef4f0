#!/bin/bash
# portmap ADD/DEL cost with K containers already mapped: berth's nftables portmap against the
# reference (/usr/lib/cni/portmap, iptables backend), side by side in one run, and the number
# of nft rules before and after mapping K containers.
#
#   bench/portmap.sh [-k "10 100 1000"] [-r ROUNDS]
#
# Runs as root.  Each K gets a fresh throwaway "host" netns (so iptables/nft state of the real
# host is never touched and everything goes away at exit).  In it, K containers are mapped
# with each implementation (one host port each), then ROUNDS times a new container is ADDed
# and DELeted with each, the order alternating per round; each call is timed around its
# fork+exec (bash EPOCHREALTIME, the same overhead for both).  Prints medians and ratios.
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
	*) sed -n '2,13p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
for f in "$BUILD/cni/portmap" "$REF/portmap"; do
	[ -x "$f" ] || { echo "missing $f (run make)" >&2; exit 1; }
done
command -v iptables >/dev/null || { echo "the reference needs iptables (apt-get install iptables)" >&2; exit 1; }
command -v nft >/dev/null && command -v jq >/dev/null || { echo "needs nft and jq" >&2; exit 1; }

conf() { # conf NAME IP HOSTPORT
	printf '{"cniVersion":"0.4.0","name":"%s","type":"portmap","capabilities":{"portMappings":true},"runtimeConfig":{"portMappings":[{"hostPort":%s,"containerPort":80,"protocol":"tcp"}]},"prevResult":{"cniVersion":"0.4.0","interfaces":[{"name":"br0"},{"name":"eth0","sandbox":"/run/netns/%s"}],"ips":[{"version":"4","address":"%s/16","interface":1}]}}' \
		"$1" "$3" "$C" "$2"
}
ip_of() { printf '10.90.%d.%d' $(( $1 / 250 )) $(( $1 % 250 + 2 )); }

call() { # call PLUGIN CNI_PATH CMD ID < conf (we already run inside H)
	env -i PATH="$PATH" CNI_COMMAND="$3" CNI_CONTAINERID="$4" \
		CNI_NETNS=/run/netns/$C CNI_IFNAME=eth0 CNI_PATH="$2" BERTH_NFT_STATE_DIR="$STATE" \
		"$1" >/dev/null
}
timed() { # timed VAR PLUGIN CNI_PATH CMD ID < conf: appends milliseconds to array VAR
	local t0 t1
	t0=$EPOCHREALTIME
	call "$2" "$3" "$4" "$5" || { echo "# $2 $4 $5 failed" >&2; return 1; }
	t1=$EPOCHREALTIME
	eval "$1+=(\$(awk -v a=$t0 -v b=$t1 'BEGIN{printf \"%.3f\", (b-a)*1000}'))"
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }


# ---- inside the host netns: map K containers with each, then time ROUNDS ADD/DEL of each ----
if [ -n "${PMB_INNER:-}" ]; then
	K=$PMB_K ROUNDS=$PMB_ROUNDS C=$PMB_C STATE=$PMB_STATE
	ours0=$(nft -j list ruleset | jq '[.nftables[] | select(.rule)] | length')
	for ((i = 0; i < K; i++)); do
		conf pmo "$(ip_of $i)" $((10000 + i)) | call "$BUILD/cni/portmap" "$BUILD/cni" ADD o$i
		conf pmr "$(ip_of $i)" $((10000 + i)) | call "$REF/portmap" "$REF" ADD r$i
	done
	# rules in our table vs everything else (the reference's iptables-nft tables)
	ours_rules=$(nft -j list table inet berth | jq '[.nftables[] | select(.rule)] | length')
	all_rules=$(nft -j list ruleset | jq '[.nftables[] | select(.rule)] | length')
	ref_rules=$((all_rules - ours_rules))
	oa=() od=() ra=() rd=()
	for ((j = 0; j < ROUNDS; j++)); do
		ip=$(ip_of $((K + j))) hp=$((30000 + j))
		if ((j % 2)); then
			timed ra "$REF/portmap" "$REF" ADD rx$j <<<"$(conf pmr "$ip" $hp)"
			timed oa "$BUILD/cni/portmap" "$BUILD/cni" ADD ox$j <<<"$(conf pmo "$ip" $hp)"
			timed rd "$REF/portmap" "$REF" DEL rx$j <<<"$(conf pmr "$ip" $hp)"
			timed od "$BUILD/cni/portmap" "$BUILD/cni" DEL ox$j <<<"$(conf pmo "$ip" $hp)"
		else
			timed oa "$BUILD/cni/portmap" "$BUILD/cni" ADD ox$j <<<"$(conf pmo "$ip" $hp)"
			timed ra "$REF/portmap" "$REF" ADD rx$j <<<"$(conf pmr "$ip" $hp)"
			timed od "$BUILD/cni/portmap" "$BUILD/cni" DEL ox$j <<<"$(conf pmo "$ip" $hp)"
			timed rd "$REF/portmap" "$REF" DEL rx$j <<<"$(conf pmr "$ip" $hp)"
		fi
	done
	echo "$(median "${oa[@]}") $(median "${od[@]}") $(median "${ra[@]}") $(median "${rd[@]}") $ours0 $ours_rules $ref_rules"
	exit 0
fi

T=$(printf '%04x' $(( $$ & 0xffff )))
H=pmbh$T C=pmbc$T
STATE=$(mktemp -d /tmp/berth-pmbench.XXXXXX)
cleanup() { ip netns del "$H" 2>/dev/null || true; ip netns del "$C" 2>/dev/null || true; rm -rf "$STATE"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$C"

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs; ours=$BUILD/cni/portmap ref=$REF/portmap ($(iptables -V))"
echo "# command: $0 -k \"$KS\" -r $ROUNDS"
printf '%6s %10s %10s %10s %10s %9s %9s %14s %14s\n' K ours_add ours_del ref_add ref_del \
	ref/ours+ ref/ours- "ours_rules" "ref_rules"
declare -A OA OD
for K in $KS; do
	rm -rf "${STATE:?}"/*
	ip netns del "$H" 2>/dev/null || true
	ip netns add "$H"
	ip -n "$H" link set lo up
	ip -n "$H" link add br0 type bridge
	ip -n "$H" addr add 10.90.0.1/16 dev br0
	ip -n "$H" link set br0 up
	ip netns exec "$H" sysctl -qw net.ipv4.ip_forward=1
	row=$(ip netns exec "$H" env PMB_INNER=1 PMB_K=$K PMB_ROUNDS=$ROUNDS PMB_C=$C PMB_STATE=$STATE \
		BERTH_BUILD="$BUILD" REF_CNI="$REF" bash "$0")
	read -r ma md mra mrd ours0 ours_rules ref_rules <<<"$row"
	OA[$K]=$ma OD[$K]=$md
	printf '%6s %10s %10s %10s %10s %9.1f %9.1f %14s %14s\n' "$K" "$ma" "$md" "$mra" "$mrd" \
		"$(awk -v a="$mra" -v b="$ma" 'BEGIN{print a/b}')" "$(awk -v a="$mrd" -v b="$md" 'BEGIN{print a/b}')" \
		"$ours0->$ours_rules" "0->$ref_rules"
done
echo "# medians in ms per call (fork+exec included); rules: nft rules in the netns before -> after mapping K containers"
first=${KS%% *} last=${KS##* }
if [ "$first" != "$last" ]; then
	printf '# ours: ADD at K=%s is %.2fx the cost at K=%s, DEL %.2fx (target <= 1.2)\n' "$last" \
		"$(awk -v a="${OA[$last]}" -v b="${OA[$first]}" 'BEGIN{print a/b}')" "$first" \
		"$(awk -v a="${OD[$last]}" -v b="${OD[$first]}" 'BEGIN{print a/b}')"
fi
