#!/bin/bash
# bench: ptp + host-local against the reference plugins
# bench-args: -n "10 100 1000" -V 100
# bench-quick-args: -n "5" -V 10
#
# ptp ADD/DEL latency, VERSION latency and peak memory of berth's ptp against the reference
# ptp, interleaved call by call in one run, for N containers each.  Prints a markdown section
# (the contract of bench/README.md).
#
#   bench/ptp.sh [-n "10 100 1000"] [-V VERSION_RUNS] [-M]
#
# Implementations:
#   berth            the default: ptp runs its sibling host-local in-process, and DEL returns once
#                    the kernel has unlisted the veth pair (the RCU wait goes on in a child)
#   berth sync-DEL   BERTH_LINK_SYNC_DEL=1 BERTH_NFT_SYNC_CLOSE=1: DEL waits for the kernel
#   netlink part     no plugin, no exec: the link requests of a veth plugin alone (the driver's
#                    -k: create the pair into the container netns, enslave the host end to a
#                    bridge, both ends up; DEL until unlisted); ptp does not enslave, so this is
#                    a little more than ptp's own link work, and none of its IPAM, addresses,
#                    routes or sysctls
#   reference        /usr/lib/cni/ptp + host-local (containernetworking-plugins)
# -M: ipMasq on (berth: nft set elements; the reference: an iptables chain per container).
#
# Runs as root.  Everything happens inside a throwaway "host" netns and N container netns per
# implementation, all removed at exit.  BERTH_BUILD (default build/) holds ours, REF_CNI
# (default /usr/lib/cni) the reference.  The driver is tests/helpers/berth-cni-bench.c
# (fork+exec+wait4 per call, CLOCK_MONOTONIC, ru_maxrss); a call that fails stops the run with
# an error, it is never a sample.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
REF=${REF_CNI:-/usr/lib/cni}
NS_LIST="10 100 1000"
VRUNS=200
MASQ=false
while getopts n:V:Mh o; do
	case $o in
	n) NS_LIST=$OPTARG ;;
	V) VRUNS=$OPTARG ;;
	M) MASQ=true ;;
	*) sed -n '2,28p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
DRIVER=$BUILD/tests/helpers/berth-cni-bench
for f in "$DRIVER" "$BUILD/cni/ptp" "$BUILD/cni/host-local" "$REF/ptp" "$REF/host-local"; do
	[ -x "$f" ] || { echo "missing $f (run make)" >&2; exit 1; }
done

T=$(printf '%04x' $(( $$ & 0xffff )))
HOSTNS=bph$T
WORK=$(mktemp -d /tmp/berth-bench.XXXXXX)
cleanup() {
	# The driver removes its namespaces; if it was killed, its files are left in /run/netns.
	rm -f /run/netns/bp$T-* 2>/dev/null
	ip netns del "$HOSTNS" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$HOSTNS"
ip -n "$HOSTNS" link set lo up

conf() { # conf FILE NAME SUBNET DATADIR
	printf '{"cniVersion":"1.0.0","name":"%s","type":"ptp","ipMasq":%s,"ipam":{"type":"host-local","ranges":[[{"subnet":"%s"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"%s"}}\n' \
		"$2" "$MASQ" "$3" "$4" >"$1"
}

declare -A NAME=([ours]="berth" [sync]="berth sync-DEL" [netlink]="netlink part" [ref]="reference")
declare -A RES
run_n() { # run_n N
	local n=$1 d=$WORK/$1 out
	mkdir -p "$d"
	conf "$d/ours.json" "po$T" 10.240.0.0/16 "$d/data-ours"
	conf "$d/sync.json" "ps$T" 10.242.0.0/16 "$d/data-sync"
	conf "$d/ref.json" "pr$T" 10.241.0.0/16 "$d/data-ref"
	if ! out=$(ip netns exec "$HOSTNS" env BERTH_NFT_TABLE="bp$T" BERTH_NFT_STATE_DIR="$WORK/nft" \
		"$DRIVER" -n "$n" -V "$VRUNS" -t "bp$T" \
		-i "ours,$BUILD/cni/ptp,$d/ours.json,$BUILD/cni" \
		-i "sync,$BUILD/cni/ptp,$d/sync.json,$BUILD/cni,BERTH_LINK_SYNC_DEL=1,BERTH_NFT_SYNC_CLOSE=1" \
		-k -i "ref,$REF/ptp,$d/ref.json,$REF" 2>"$d/err"); then
		echo "berth-cni-bench failed (N=$n):" >&2
		cat "$d/err" >&2
		printf '%s\n' "$out" >&2
		exit 1
	fi
	printf '%s\n' "$out" >"$d/raw"
	while read -r impl verb cnt medv p95 max rss; do
		case $impl in ours | sync | netlink | ref) RES[$n,$impl,$verb]="$medv $p95 $rss" ;; esac
	done <<<"$out"
	[ -n "${RES[$n,ref,ADD]:-}" ] && [ -n "${RES[$n,ours,DEL]:-}" ] ||
		{ echo "berth-cni-bench printed no figures (N=$n)" >&2; printf '%s\n' "$out" >&2; exit 1; }
}

cmd="bench/ptp.sh -n \"$NS_LIST\" -V $VRUNS"
[ "$MASQ" = true ] && cmd="$cmd -M"
for n in $NS_LIST; do run_n "$n"; done

r() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
f() { awk -v a="$1" 'BEGIN { printf (a < 10 ? "%.2f" : "%.1f"), a }'; }
echo "## ptp + host-local: berth against the reference plugins"
echo
echo "Command: \`$cmd\` (as root).  Medians (and p95) in ms per call, each call one"
echo "fork+exec+wait4 of the plugin, N containers on one network (ipMasq $MASQ); \"x ref\" divides by"
echo "the reference's median in the same run.  Peak RSS is wait4's ru_maxrss over ADD and DEL."
echo "Implementations: **berth** (default: host-local in-process, DEL returns once the veth pair is"
echo "unlisted and the kernel's RCU wait goes on in a child); **berth sync-DEL**"
echo "(BERTH_LINK_SYNC_DEL=1 BERTH_NFT_SYNC_CLOSE=1: DEL waits for the kernel); **netlink part**"
echo "(the kernel floor of the link work, sent in-process: create the veth pair into the container,"
echo "enslave the host end to a bridge, which ptp does not do, both ends up; no exec, IPAM,"
echo "addresses, routes or sysctls); **reference** (containernetworking-plugins in $REF)."
echo
echo "| N | implementation | ADD ms (p95) | ADD x ref | DEL ms (p95) | DEL x ref | VERSION ms | VERSION x ref | peak RSS KiB | RSS x ref |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n in $NS_LIST; do
	read -r ra _ rra <<<"${RES[$n,ref,ADD]}"; read -r rd _ rrd <<<"${RES[$n,ref,DEL]}"
	read -r rv _ <<<"${RES[$n,ref,VERSION]}"
	rrss=$(( rra > rrd ? rra : rrd ))
	for i in ours sync netlink ref; do
		read -r a ap ars <<<"${RES[$n,$i,ADD]}"; read -r d dp drs <<<"${RES[$n,$i,DEL]}"
		if [ "$i" = netlink ]; then
			v=- vr=- rss=- rssr=-
		else
			read -r v _ <<<"${RES[$n,$i,VERSION]}"
			vr=$(r "$v" "$rv"); v=$(f "$v")
			rss=$(( ars > drs ? ars : drs )); rssr=$(r "$rss" "$rrss")
		fi
		printf '| %s | ptp %s | %s (%s) | %s | %s (%s) | %s | %s | %s | %s | %s |\n' "$n" "${NAME[$i]}" \
			"$(f "$a")" "$(f "$ap")" "$(r "$a" "$ra")" "$(f "$d")" "$(f "$dp")" "$(r "$d" "$rd")" \
			"$v" "$vr" "$rss" "$rssr"
	done
done
first=${NS_LIST%% *}; last=${NS_LIST##* }
if [ "$first" != "$last" ]; then
	echo
	echo "Growth from N=$first to N=$last (median at N=$last / median at N=$first):"
	echo
	echo "| implementation | ADD | DEL |"
	echo "| --- | --- | --- |"
	for i in ours sync netlink ref; do
		read -r a1 _ <<<"${RES[$first,$i,ADD]}"; read -r a2 _ <<<"${RES[$last,$i,ADD]}"
		read -r d1 _ <<<"${RES[$first,$i,DEL]}"; read -r d2 _ <<<"${RES[$last,$i,DEL]}"
		printf '| ptp %s | %sx | %sx |\n' "${NAME[$i]}" "$(r "$a2" "$a1")" "$(r "$d2" "$d1")"
	done
fi
