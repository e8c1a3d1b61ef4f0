#!/bin/bash
# bench: dhcp IPAM (berth-dhcp) against the reference plugin and daemon, with dnsmasq
# bench-args: -r 21 -n 32
# bench-quick-args: -r 3 -n 4
#
# ADD (a whole DISCOVER/OFFER/REQUEST/ACK through the daemon) and DEL (DHCPRELEASE) latency of
# the dhcp IPAM plugin: berth's plugin + berth-dhcp against the reference (/usr/lib/cni/dhcp and
# its `dhcp daemon`), both served by one dnsmasq in a netns of its own; then the daemons' resident
# memory while each holds N leases.  Prints a markdown section (the contract of bench/README.md).
#
#   bench/dhcp.sh [-r ROUNDS] [-n LEASES]
#
# Runs as root.  A throwaway "host" netns holds a bridge; dnsmasq's netns and one container netns
# per lease hang on it by veths; nothing is created in the host's own netns.  Each round ADDs and
# DELs one container with ours, then with the reference (interleaved, so load drifting on a
# shared machine hits both alike).  Each call is timed around its fork+exec.  A call that fails
# stops the run with an error: it is never a sample.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD:-$SRC/build}
REF=${REF_CNI:-/usr/lib/cni}
ROUNDS=21
N=32
while getopts r:n:h o; do
	case $o in
	r) ROUNDS=$OPTARG ;;
	n) N=$OPTARG ;;
	*) sed -n '2,17p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
for f in "$BUILD/cni/dhcp" "$BUILD/bin/berth-dhcp" "$REF/dhcp"; do
	[ -x "$f" ] || { echo "missing $f (run make)" >&2; exit 1; }
done
command -v dnsmasq >/dev/null || { echo "needs dnsmasq (dnsmasq-base)" >&2; exit 1; }

T=$(printf '%04x' $(( $$ & 0xffff )))
H=dbh$T S=dbs$T
WORK=$(mktemp -d /tmp/berth-dhcpbench.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -f "$WORK/rm.batch" ] && ip -batch "$WORK/rm.batch" 2>/dev/null || true
	ip netns del "$H" 2>/dev/null || true
	ip netns del "$S" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$H"
ip netns add "$S"
ip -n "$H" link add br0 type bridge
ip -n "$H" link set br0 up
ip link add eth0 netns "$S" type veth peer name up0 netns "$H"
ip -n "$H" link set up0 master br0 up
ip -n "$S" addr add 10.78.0.1/16 dev eth0
ip -n "$S" link set eth0 up
ip netns exec "$S" dnsmasq --keep-in-foreground --no-resolv --no-hosts --port=0 --no-ping \
	--interface=eth0 --bind-interfaces --dhcp-range=10.78.0.10,10.78.250.250,255.255.0.0,1h \
	--dhcp-leasefile="$WORK/leases" --pid-file= --dhcp-option=3,10.78.0.1 --log-facility=/dev/null &
PIDS+=($!)
mkdir -m 0700 "$WORK/ours" "$WORK/ref"
"$BUILD/bin/berth-dhcp" --socket "$WORK/ours/dhcp.sock" --state "$WORK/state" 2>"$WORK/ours.log" &
PIDS+=($!)
OURS_PID=$!
"$REF/dhcp" daemon -socketpath "$WORK/ref/dhcp.sock" >"$WORK/ref.log" 2>&1 &
PIDS+=($!)
REF_PID=$!
for s in ours ref; do
	for _ in $(seq 50); do [ -S "$WORK/$s/dhcp.sock" ] && break; sleep 0.1; done
	[ -S "$WORK/$s/dhcp.sock" ] || { echo "the $s daemon did not start" >&2; exit 1; }
done

# containers: ctr 0 for the rounds, 1..N for the memory figure
for ((i = 0; i <= N; i++)); do
	echo "netns add dbc$i$T"
	echo "link add eth0 netns dbc$i$T type veth peer name v$i netns $H"
done >"$WORK/mk.batch"
for ((i = 0; i <= N; i++)); do echo "netns del dbc$i$T"; done >"$WORK/rm.batch"
for ((i = 0; i <= N; i++)); do echo "link set v$i master br0 up"; done >"$WORK/up.batch"
ip -batch "$WORK/mk.batch"
ip -n "$H" -batch "$WORK/up.batch"

conf() { printf '{"cniVersion":"1.0.0","name":"bench","type":"dhcp","ipam":{"type":"dhcp","daemonSocketPath":"%s"}}' "$WORK/$1/dhcp.sock"; }
plugin() { if [ "$1" = ours ]; then echo "$BUILD/cni/dhcp"; else echo "$REF/dhcp"; fi; }
call() { # call IMPL CMD I
	env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID="c$3" CNI_NETNS="/run/netns/dbc$3$T" \
		CNI_IFNAME=eth0 CNI_PATH="$BUILD/cni" "$(plugin "$1")" <<<"$(conf "$1")" >"$WORK/out" 2>&1 ||
		{ echo "# $1 $2 c$3 failed: $(head -c 300 "$WORK/out")" >&2; return 1; }
}
timed() { # timed FILE IMPL CMD I
	local t0 t1
	t0=$EPOCHREALTIME
	call "$2" "$3" "$4" || exit 1
	t1=$EPOCHREALTIME
	echo "$t0 $t1" >>"$1"
}
median() { awk '{print ($2-$1)*1000}' "$1" | sort -g |
	awk '{v[NR]=$1} END{printf "%.1f", (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

echo "# $ROUNDS rounds" >&2
for ((r = 0; r < ROUNDS; r++)); do
	for impl in ours ref; do
		timed "$WORK/$impl.add" "$impl" ADD 0
		timed "$WORK/$impl.del" "$impl" DEL 0
	done
done
echo "# $N leases each" >&2
declare -A RSS0 RSS1
RSS0[ours]=$(rss_kb "$OURS_PID") RSS0[ref]=$(rss_kb "$REF_PID")
for impl in ours ref; do
	for ((i = 1; i <= N; i++)); do call "$impl" ADD "$i" || exit 1; done
	if [ "$impl" = ours ]; then RSS1[ours]=$(rss_kb "$OURS_PID"); else RSS1[ref]=$(rss_kb "$REF_PID"); fi
	for ((i = 1; i <= N; i++)); do call "$impl" DEL "$i" || exit 1; done
done

cat <<EOF
## dhcp IPAM: berth-dhcp against the reference daemon

\`bench/dhcp.sh -r $ROUNDS -n $N\`: latency of the dhcp IPAM plugin's ADD (a whole
DISCOVER/OFFER/REQUEST/ACK with dnsmasq through the daemon) and DEL (DHCPRELEASE), milliseconds,
median of $ROUNDS calls each, ours and the reference interleaved call by call; \`x ref\` = ours /
reference. Then each daemon's resident memory (VmRSS, KiB) idle and while it holds $N leases.

| dhcp call | berth ms | reference ms | x ref |
| --- | --- | --- | --- |
EOF
for c in add del; do
	o=$(median "$WORK/ours.$c") f=$(median "$WORK/ref.$c")
	printf '| dhcp %s (median of %d) | %s | %s | %s |\n' "${c^^}" "$ROUNDS" "$o" "$f" \
		"$(awk -v a="$o" -v b="$f" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
done
cat <<EOF

| dhcp daemon RSS | berth KiB | reference KiB |
| --- | --- | --- |
| idle | ${RSS0[ours]} | ${RSS0[ref]} |
| holding $N leases | ${RSS1[ours]} | ${RSS1[ref]} |
EOF
