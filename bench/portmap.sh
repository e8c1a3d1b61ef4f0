#!/bin/bash
# bench: portmap with K containers mapped against the reference
# bench-args: -k "10 100 1000" -r 21
# bench-quick-args: -k "5" -r 3
#
# portmap ADD/DEL cost with K containers already mapped: berth's nftables portmap against the
# reference (/usr/lib/cni/portmap, iptables backend), side by side in one run, and the number
# of nft rules before and after mapping K containers.  Prints a markdown section (the contract
# of bench/README.md).
#
# berth runs twice: by default (DEL returns before nf_tables has released the transaction: the
# last close of the nfnetlink socket, which waits for it, happens in a short-lived grandchild)
# and with BERTH_LINK_SYNC_DEL=1 BERTH_NFT_SYNC_CLOSE=1 ("sync-DEL": DEL returns after it).
#
#   bench/portmap.sh [-k "10 100 1000"] [-r ROUNDS]
#
# Runs as root.  Each K gets its own throwaway "host" netns (the real host's iptables/nft state
# is never touched; everything goes away at exit), where K containers are mapped with each
# implementation (one host port each).  Then, ROUNDS times, a new container is ADDed and DELeted
# in every K's netns, first with ours, then (a second phase) with the reference; rounds interleave
# the K values, so that load drifting on a shared machine hits every K alike.
# Each call is timed around its fork+exec (nsenter + the plugin; the same overhead for both).
# A call that fails stops the run with an error: it is never a sample.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
REF=${REF_CNI:-/usr/lib/cni}
KS="10 100 1000"
ROUNDS=21
while getopts k:r:h o; do
	case $o in
	k) KS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	*) sed -n '2,23p' "$0"; exit 2 ;;
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
PHASE_ENV=() # extra environment of the plugin in the current phase
call() { # call K PLUGIN CNI_PATH CMD ID < conf
	nsenter --net=/run/netns/pmbh$T-$1 env -i PATH="$PATH" CNI_COMMAND="$4" CNI_CONTAINERID="$5" \
		CNI_NETNS=/run/netns/$C CNI_IFNAME=eth0 CNI_PATH="$3" \
		BERTH_NFT_STATE_DIR="$WORK/state-$1" "${PHASE_ENV[@]}" "$2" >"$WORK/out" 2>&1 ||
		{ echo "# $2 $4 $5 (K=$1) failed: $(head -c 300 "$WORK/out")" >&2; return 1; }
}
# timed FILE K PLUGIN CNI_PATH CMD ID < conf: appends milliseconds to FILE
timed() {
	local t0 t1
	t0=$EPOCHREALTIME
	call "$2" "$3" "$4" "$5" "$6" || exit 1
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
		conf pmo "$(ip_of $i)" $((10000 + i)) | call "$K" "$BUILD/cni/portmap" "$BUILD/cni" ADD o$i || exit 1
		conf pmr "$(ip_of $i)" $((10000 + i)) | call "$K" "$REF/portmap" "$REF" ADD r$i || exit 1
	done
	RO[$K]=$(rules "$K" table inet berth)
	RR[$K]=$(( $(rules "$K") - RO[$K] ))
	echo "# K=$K mapped with both" >&2
done
ks=($KS)
# Two timed phases, ours then the reference, each interleaving the K values round by round: the
# reference's big iptables-nft transactions leave kernel work behind (RCU callbacks, deferred
# frees) that would otherwise land on whichever call follows them.
phase() { # phase o|s|r: ours by default, ours with sync DEL, the reference
	local j x K ip hp c
	PHASE_ENV=()
	[ "$1" = s ] && PHASE_ENV=(BERTH_LINK_SYNC_DEL=1 BERTH_NFT_SYNC_CLOSE=1)
	for ((j = 0; j < ROUNDS; j++)); do
		for ((x = 0; x < ${#ks[@]}; x++)); do
			K=${ks[$(( (x + j) % ${#ks[@]} ))]}
			ip=$(ip_of $((K + j))) hp=$((30000 + j))
			if [ "$1" = r ]; then
				c=$(conf pmr "$ip" $hp)
				timed "$WORK/ra.$K" "$K" "$REF/portmap" "$REF" ADD rx$j <<<"$c"
				timed "$WORK/rd.$K" "$K" "$REF/portmap" "$REF" DEL rx$j <<<"$c"
			else
				c=$(conf pmo "$ip" $hp)
				timed "$WORK/$1a.$K" "$K" "$BUILD/cni/portmap" "$BUILD/cni" ADD $1x$j <<<"$c"
				timed "$WORK/$1d.$K" "$K" "$BUILD/cni/portmap" "$BUILD/cni" DEL $1x$j <<<"$c"
			fi
		done
	done
}
phase o
phase s
phase r

r() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "## portmap: berth (nftables) against the reference (iptables), K containers mapped"
echo
echo "Command: \`bench/portmap.sh -k \"$KS\" -r $ROUNDS\` (as root).  Medians over $ROUNDS rounds, in ms per"
echo "call, nsenter+fork+exec included for all; \"x ref\" divides by the reference's median at the"
echo "same K.  **berth**: the default (DEL returns before nf_tables releases the transaction; the"
echo "last close of the nfnetlink socket happens in a grandchild); **berth sync-DEL**:"
echo "BERTH_LINK_SYNC_DEL=1 BERTH_NFT_SYNC_CLOSE=1 (DEL returns after it); **reference**:"
echo "$REF/portmap, $(iptables -V).  Rules: nft rules in the host netns before -> after mapping K"
echo "containers (berth's live in its own table; the reference's are counted over the whole ruleset)."
echo
echo "| K | implementation | ADD ms | ADD x ref | DEL ms | DEL x ref | nft rules |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
declare -A OA OD
for K in $KS; do
	ra=$(median "$WORK/ra.$K") rd=$(median "$WORK/rd.$K")
	OA[$K]=$(median "$WORK/oa.$K") OD[$K]=$(median "$WORK/od.$K")
	sa=$(median "$WORK/sa.$K") sd=$(median "$WORK/sd.$K")
	printf '| %s | berth | %s | %s | %s | %s | %s |\n' "$K" "${OA[$K]}" "$(r "${OA[$K]}" "$ra")" \
		"${OD[$K]}" "$(r "${OD[$K]}" "$rd")" "${R0[$K]} -> ${RO[$K]}"
	printf '| %s | berth sync-DEL | %s | %s | %s | %s | %s |\n' "$K" "$sa" "$(r "$sa" "$ra")" \
		"$sd" "$(r "$sd" "$rd")" "${R0[$K]} -> ${RO[$K]}"
	printf '| %s | reference | %s | 1.00 | %s | 1.00 | 0 -> %s |\n' "$K" "$ra" "$rd" "${RR[$K]}"
done
first=${ks[0]} last=${ks[$(( ${#ks[@]} - 1 ))]}
if [ "$first" != "$last" ]; then
	echo
	printf 'Growth from K=%s to K=%s: berth ADD %sx, DEL %sx; reference ADD %sx, DEL %sx.\n' "$first" "$last" \
		"$(r "${OA[$last]}" "${OA[$first]}")" "$(r "${OD[$last]}" "${OD[$first]}")" \
		"$(r "$(median "$WORK/ra.$last")" "$(median "$WORK/ra.$first")")" \
		"$(r "$(median "$WORK/rd.$last")" "$(median "$WORK/rd.$first")")"
fi
