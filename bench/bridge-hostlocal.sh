#!/bin/bash
# bridge + host-local ADD/DEL latency, VERSION latency and peak memory: berth's plugins against
# the reference plugins, interleaved in one run, for N containers each.
#
#   bench/bridge-hostlocal.sh [-n "10 100 1000"] [-V VERSION_RUNS] [-m bridge|host-local|both] [-4]
#
# In bridge mode the driver also measures "kernel": the netlink requests any veth bridge plugin
# must make (create the pair, enslave, both ends up; DEL until unlisted), sent in-process with no
# exec and no IPAM, i.e. the kernel's floor under both implementations.
#
# -4: IPv6 off in the "host" and every container netns, which takes the kernel's flooding of
# each new port's IPv6 autoconfiguration traffic to all other bridge ports out of the figures.
#
# Runs as root.  Everything happens inside a throwaway "host" netns (bridges, veths) and N
# container netns per implementation, all removed at exit.  BERTH_BUILD (default build/) holds
# ours, REF_CNI (default /usr/lib/cni) the reference.  The driver is
# tests/helpers/berth-cni-bench.c (fork+exec+wait4 per call, CLOCK_MONOTONIC, ru_maxrss).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
REF=${REF_CNI:-/usr/lib/cni}
NS_LIST="10 100 1000"
VRUNS=200
MODE=both
V4=
while getopts n:V:m:4h o; do
	case $o in
	4) V4=-4 ;;
	n) NS_LIST=$OPTARG ;;
	V) VRUNS=$OPTARG ;;
	m) MODE=$OPTARG ;;
	*) sed -n '2,17p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
DRIVER=$BUILD/tests/helpers/berth-cni-bench
for f in "$DRIVER" "$BUILD/cni/host-local" "$REF/host-local"; do
	[ -x "$f" ] || { echo "missing $f (run make)" >&2; exit 1; }
done
if [ "$MODE" != host-local ] && { [ ! -x "$BUILD/cni/bridge" ] || [ ! -x "$REF/bridge" ]; }; then
	echo "# no bridge plugin: benchmarking host-local alone" >&2
	MODE=host-local
fi

T=$(printf '%04x' $(( $$ & 0xffff )))
HOSTNS=bbh$T
WORK=$(mktemp -d /tmp/berth-bench.XXXXXX)
cleanup() {
	# The driver removes its namespaces; if it was killed, its files are left in /run/netns
	# (the mounts lived in ip-netns-exec's mount namespace and are gone with it).
	rm -f /run/netns/bb$T-ours-* /run/netns/bb$T-ref-* 2>/dev/null
	ip netns del "$HOSTNS" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$HOSTNS"
[ -n "$V4" ] && ip netns exec "$HOSTNS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$HOSTNS" link set lo up

# conf FILE NAME TYPE BRIDGE SUBNET DATADIR
conf() {
	if [ "$3" = bridge ]; then
		printf '{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"%s","isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","ranges":[[{"subnet":"%s"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"%s"}}\n' \
			"$2" "$4" "$5" "$6" >"$1"
	else
		printf '{"cniVersion":"1.0.0","name":"%s","type":"host-local","ipam":{"type":"host-local","ranges":[[{"subnet":"%s"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"%s"}}\n' \
			"$2" "$5" "$6" >"$1"
	fi
}

declare -A RES
run_mode() { # run_mode bridge|host-local N
	local m=$1 n=$2 d=$WORK/$1-$2 out
	mkdir -p "$d"
	conf "$d/ours.json" "bo$T" "$m" "bo$T" 10.240.0.0/16 "$d/data-ours"
	conf "$d/ref.json" "br$T" "$m" "br$T" 10.241.0.0/16 "$d/data-ref"
	local k=; [ "$m" = bridge ] && k=-k
	out=$(ip netns exec "$HOSTNS" "$DRIVER" -n "$n" -V "$VRUNS" -t "bb$T" $V4 $k \
		-i "ours,$BUILD/cni/$m,$d/ours.json,$BUILD/cni" \
		-i "ref,$REF/$m,$d/ref.json,$REF")
	echo "## $m, N=$n"
	echo "$out"
	echo
	while read -r impl verb cnt medv p95 max rss; do
		case $impl in ours|ref|kernel) RES[$m,$n,$impl,$verb]="$medv $p95 $rss" ;; esac
	done <<<"$out"
}

modes=$MODE; [ "$MODE" = both ] && modes="bridge host-local"
echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs; ours=$BUILD/cni ref=$REF"
echo "# command: $0 -n \"$NS_LIST\" -V $VRUNS -m $MODE $V4"
echo
for m in $modes; do
	for n in $NS_LIST; do run_mode "$m" "$n"; done
done

f() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
echo "## summary (targets: ADD/DEL median <= 0.1 x reference; N=max within 1.2 x N=min; peak RSS <= 0.25 x reference)"
first=${NS_LIST%% *}; last=${NS_LIST##* }
for m in $modes; do
	for n in $NS_LIST; do
		read -r oa _ ora <<<"${RES[$m,$n,ours,ADD]}"; read -r ra _ rra <<<"${RES[$m,$n,ref,ADD]}"
		read -r od _ ord <<<"${RES[$m,$n,ours,DEL]}"; read -r rd _ rrd <<<"${RES[$m,$n,ref,DEL]}"
		orss=$(( ora > ord ? ora : ord )); rrss=$(( rra > rrd ? rra : rrd ))
		printf '%-10s N=%-5s ADD ours %.3f ms ref %.3f ms ratio %s | DEL ours %.3f ms ref %.3f ms ratio %s | peak RSS ours %s KiB ref %s KiB ratio %s\n' \
			"$m" "$n" "$oa" "$ra" "$(f "$oa" "$ra")" "$od" "$rd" "$(f "$od" "$rd")" "$orss" "$rrss" "$(f "$orss" "$rrss")"
	done
	if [ "$m" = bridge ]; then
		for n in $NS_LIST; do
			read -r ka _ <<<"${RES[$m,$n,kernel,ADD]}"; read -r ra _ <<<"${RES[$m,$n,ref,ADD]}"
			read -r kd _ <<<"${RES[$m,$n,kernel,DEL]}"; read -r rd _ <<<"${RES[$m,$n,ref,DEL]}"
			printf '%-10s N=%-5s kernel floor (netlink requests alone, no exec): ADD %.3f ms = %s x ref, DEL %.3f ms = %s x ref\n' \
				"$m" "$n" "$ka" "$(f "$ka" "$ra")" "$kd" "$(f "$kd" "$rd")"
		done
	fi
	if [ "$first" != "$last" ]; then
		read -r a1 _ <<<"${RES[$m,$first,ours,ADD]}"; read -r a2 _ <<<"${RES[$m,$last,ours,ADD]}"
		read -r d1 _ <<<"${RES[$m,$first,ours,DEL]}"; read -r d2 _ <<<"${RES[$m,$last,ours,DEL]}"
		printf '%-10s ours N=%s vs N=%s: ADD %s x, DEL %s x\n' "$m" "$last" "$first" "$(f "$a2" "$a1")" "$(f "$d2" "$d1")"
	fi
	read -r ov _ <<<"${RES[$m,$last,ours,VERSION]}"; read -r rv _ <<<"${RES[$m,$last,ref,VERSION]}"
	printf '%-10s VERSION median ours %.3f ms ref %.3f ms ratio %s\n' "$m" "$ov" "$rv" "$(f "$ov" "$rv")"
done
