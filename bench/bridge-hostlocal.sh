#!/bin/bash
# bench: bridge + host-local and host-local alone against the reference plugins
# bench-args: -n "10 100 1000" -V 100
# bench-quick-args: -n "5" -V 10
#
# ADD/DEL latency, VERSION latency and peak memory of berth's plugins against the reference
# plugins, interleaved in one run, for N containers each.  Prints a markdown section (the
# contract of bench/README.md).
#
#   bench/bridge-hostlocal.sh [-n "10 100 1000"] [-V VERSION_RUNS] [-m bridge|host-local|both] [-4]
#
# bridge mode runs, interleaved call by call against the same reference:
#   berth            the default: bridge runs its sibling host-local in-process, and DEL returns
#                    once the kernel has unlisted the veth pair (the kernel's RCU wait goes on in
#                    a child process)
#   berth sync-DEL   BERTH_LINK_SYNC_DEL=1 BERTH_NFT_SYNC_CLOSE=1: DEL waits for the kernel to
#                    finish deleting the pair and for nf_tables' socket release
#   berth exec-IPAM  BERTH_NO_BUILTIN_DELEGATE=1: bridge execs host-local, as the reference does
#   netlink part     no plugin, no exec: the netlink requests of a veth bridge plugin alone
#                    (create the pair, enslave, both ends up; DEL until unlisted), sent from the
#                    driver, without IPAM, addresses, routes or sysctls
#   reference        /usr/lib/cni/bridge + host-local (containernetworking-plugins)
# host-local mode: host-local alone, berth against the reference.
#
# -4: IPv6 off in the "host" and every container netns, which takes the kernel's flooding of
# each new port's IPv6 autoconfiguration traffic to all other bridge ports out of the figures.
#
# Runs as root.  Everything happens inside a throwaway "host" netns (bridges, veths) and N
# container netns per implementation, all removed at exit.  BERTH_BUILD (default build/) holds
# ours, REF_CNI (default /usr/lib/cni) the reference.  The driver is
# tests/helpers/berth-cni-bench.c (fork+exec+wait4 per call, CLOCK_MONOTONIC, ru_maxrss); a call
# that fails stops the run with an error, it is never a sample.
set -euo pipefail
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
	*) sed -n '2,32p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
DRIVER=$BUILD/tests/helpers/berth-cni-bench
for f in "$DRIVER" "$BUILD/cni/host-local" "$REF/host-local"; do
	[ -x "$f" ] || { echo "missing $f (run make)" >&2; exit 1; }
done
if [ "$MODE" != host-local ]; then
	for f in "$BUILD/cni/bridge" "$REF/bridge"; do
		[ -x "$f" ] || { echo "missing $f" >&2; exit 1; }
	done
fi

T=$(printf '%04x' $(( $$ & 0xffff )))
HOSTNS=bbh$T
WORK=$(mktemp -d /tmp/berth-bench.XXXXXX)
cleanup() {
	# The driver removes its namespaces; if it was killed, its files are left in /run/netns
	# (the mounts lived in ip-netns-exec's mount namespace and are gone with it).
	rm -f /run/netns/bb$T-* 2>/dev/null
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

# the implementations by driver label, in table order; the reference goes last (ratios)
declare -A NAME=([ours]="berth" [sync]="berth sync-DEL" [exec]="berth exec-IPAM"
	[netlink]="netlink part" [ref]="reference")
declare -A RES
run_mode() { # run_mode bridge|host-local N
	local m=$1 n=$2 d=$WORK/$1-$2 out impls
	mkdir -p "$d"
	conf "$d/ours.json" "bo$T" "$m" "bo$T" 10.240.0.0/16 "$d/data-ours"
	conf "$d/ref.json" "br$T" "$m" "br$T" 10.241.0.0/16 "$d/data-ref"
	impls=(-i "ours,$BUILD/cni/$m,$d/ours.json,$BUILD/cni")
	if [ "$m" = bridge ]; then
		conf "$d/sync.json" "bs$T" "$m" "bs$T" 10.242.0.0/16 "$d/data-sync"
		conf "$d/exec.json" "bx$T" "$m" "bx$T" 10.243.0.0/16 "$d/data-exec"
		impls+=(-i "sync,$BUILD/cni/$m,$d/sync.json,$BUILD/cni,BERTH_LINK_SYNC_DEL=1,BERTH_NFT_SYNC_CLOSE=1"
			-i "exec,$BUILD/cni/$m,$d/exec.json,$BUILD/cni,BERTH_NO_BUILTIN_DELEGATE=1" -k)
	fi
	impls+=(-i "ref,$REF/$m,$d/ref.json,$REF")
	if ! out=$(ip netns exec "$HOSTNS" "$DRIVER" -n "$n" -V "$VRUNS" -t "bb$T" $V4 "${impls[@]}" 2>"$d/err"); then
		echo "berth-cni-bench failed ($m, N=$n):" >&2
		cat "$d/err" >&2
		printf '%s\n' "$out" >&2
		exit 1
	fi
	printf '%s\n' "$out" >"$d/raw"
	while read -r impl verb cnt medv p95 max rss; do
		case $impl in ours | sync | exec | netlink | ref) RES[$m,$n,$impl,$verb]="$medv $p95 $rss" ;; esac
	done <<<"$out"
}

modes=$MODE; [ "$MODE" = both ] && modes="bridge host-local"
cmd="bench/bridge-hostlocal.sh -n \"$NS_LIST\" -V $VRUNS -m $MODE${V4:+ $V4}"
for m in $modes; do
	for n in $NS_LIST; do run_mode "$m" "$n"; done
done

r() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
f() { awk -v a="$1" 'BEGIN { printf (a < 10 ? "%.2f" : "%.1f"), a }'; }
echo "## bridge + host-local, host-local: berth against the reference plugins"
echo
echo "Command: \`$cmd\` (as root).  Medians (and p95) in ms per call, each call one"
echo "fork+exec+wait4 of the plugin; \"x ref\" divides by the reference's median in the same run."
echo "Peak RSS is wait4's ru_maxrss over ADD and DEL (for bridge it includes an exec'd host-local)."
echo "Implementations: **berth** (default: host-local in-process, DEL returns once the veth pair is"
echo "unlisted and the kernel's RCU wait goes on in a child); **berth sync-DEL**"
echo "(BERTH_LINK_SYNC_DEL=1 BERTH_NFT_SYNC_CLOSE=1: DEL waits for the kernel); **berth exec-IPAM**"
echo "(BERTH_NO_BUILTIN_DELEGATE=1: host-local exec'd, as the reference always does); **netlink part**"
echo "(the link requests alone, sent in-process: no exec, no IPAM, addresses, routes or sysctls);"
echo "**reference** (containernetworking-plugins in $REF)."
[ -n "$V4" ] && echo "IPv6 is off in every netns (-4)."
for m in $modes; do
	echo
	if [ "$m" = bridge ]; then
		echo "### bridge + host-local"
		impls="ours sync exec netlink ref"
	else
		echo "### host-local alone"
		impls="ours ref"
	fi
	echo
	echo "| N | implementation | ADD ms (p95) | ADD x ref | DEL ms (p95) | DEL x ref | VERSION ms | VERSION x ref | peak RSS KiB | RSS x ref |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	for n in $NS_LIST; do
		read -r ra _ rra <<<"${RES[$m,$n,ref,ADD]}"; read -r rd _ rrd <<<"${RES[$m,$n,ref,DEL]}"
		read -r rv _ <<<"${RES[$m,$n,ref,VERSION]}"
		rrss=$(( rra > rrd ? rra : rrd ))
		for i in $impls; do
			read -r a ap ars <<<"${RES[$m,$n,$i,ADD]}"; read -r d dp drs <<<"${RES[$m,$n,$i,DEL]}"
			if [ "$i" = netlink ]; then
				v=- vr=- rss=- rssr=-
			else
				read -r v _ <<<"${RES[$m,$n,$i,VERSION]}"
				vr=$(r "$v" "$rv"); v=$(f "$v")
				rss=$(( ars > drs ? ars : drs )); rssr=$(r "$rss" "$rrss")
			fi
			printf '| %s | %s | %s (%s) | %s | %s (%s) | %s | %s | %s | %s | %s |\n' "$n" "${NAME[$i]}" \
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
		for i in $impls; do
			read -r a1 _ <<<"${RES[$m,$first,$i,ADD]}"; read -r a2 _ <<<"${RES[$m,$last,$i,ADD]}"
			read -r d1 _ <<<"${RES[$m,$first,$i,DEL]}"; read -r d2 _ <<<"${RES[$m,$last,$i,DEL]}"
			printf '| %s | %sx | %sx |\n' "${NAME[$i]}" "$(r "$a2" "$a1")" "$(r "$d2" "$d1")"
		done
	fi
done
