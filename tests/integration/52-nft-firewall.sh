#!/bin/bash
# firewall on nftables: ingressPolicy open / same-bridge / isolated between two bridge networks,
# with real packets, IPv4 and IPv6.  H plays the host inside a throwaway netns.
source "$(dirname "$0")/../lib.sh"
need_root
command -v nft >/dev/null || skip_all "nft not installed"
FW=$CNI_BIN/firewall
ECHO=$BERTH_BUILD/tests/helpers/nftecho
[ -x "$FW" ] && [ -x "$ECHO" ] || skip_all "firewall or nftecho not built"

H=fwh$T A1=fwa1$T A2=fwa2$T B1=fwb1$T
TBL=berth_t$T
STATE=$(mktemp -d); defer "rm -rf $STATE"
# wait_listen NETNS tcp|udp PORT: until the echo server is bound (no fixed sleep)
wait_listen() {
	local i f=-t
	[ "$2" = udp ] && f=-u
	for ((i = 0; i < 600; i++)); do
		[ -n "$(ip netns exec "$1" ss -Hln $f "sport = :$3")" ] && return 0
		sleep 0.05
	done
	return 1
}
inH() { ip netns exec "$H" "$@"; }
fw() { # fw CMD ID IFNAME < conf
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
		CNI_NETNS="/run/netns/$2" CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" BERTH_NFT_TABLE=$TBL \
		BERTH_NFT_STATE_DIR=$STATE "$FW"
}
dump() {
	for f in inet bridge; do
		inH nft -j list table $f "$TBL" 2>/dev/null |
			jq -S -c '[.nftables[] | select(.map or .set) | (.map // .set) | {name, elem}]'
	done
}

mknetns "$H"
inH sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
declare -A NET IP4 IP6 BRIDGE
n=0
for br in A B; do
	inH ip link add br$br type bridge
	inH ip link set br$br up
	sub=$([ $br = A ] && echo 81 || echo 82)
	inH ip addr add 10.$sub.0.1/24 dev br$br
	inH ip addr add fd$sub::1/64 dev br$br nodad
done
for c in A1 A2 B1; do
	ns=${!c}; br=${c:0:1}; sub=$([ $br = A ] && echo 81 || echo 82); n=$((n + 1))
	mknetns "$ns"
	inH ip link add vf$n type veth peer name eth0 netns "$ns"
	inH ip link set vf$n master br$br up
	ip -n "$ns" link set eth0 up
	ip -n "$ns" addr add 10.$sub.0.1$n/24 dev eth0
	ip -n "$ns" addr add fd$sub::1$n/64 dev eth0 nodad
	ip -n "$ns" route add default via 10.$sub.0.1
	ip -n "$ns" -6 route add default via fd$sub::1
	IP4[$c]=10.$sub.0.1$n IP6[$c]=fd$sub::1$n BRIDGE[$c]=br$br NET[$c]=fw$br$T PORT[$n]=vf$n
	ip netns exec "$ns" "$ECHO" serve tcp 80 & defer "kill $!"
done
for c in A1 A2 B1; do wait_listen "${!c}" tcp 80; done

conf() { # conf CONTAINER POLICY
	local c=$1 n=${1:1}
	[ "$c" = B1 ] && n=3
	printf '{"cniVersion":"1.0.0","name":"%s","type":"firewall","ingressPolicy":"%s","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"%s"},{"name":"vf%s"},{"name":"eth0","sandbox":"/run/netns/x"}],"ips":[{"address":"%s/24","interface":2},{"address":"%s/64","interface":2}]}}' \
		"${NET[$c]}" "$2" "${BRIDGE[$c]}" "$n" "${IP4[$c]}" "${IP6[$c]}"
}
reach() { # reach FROM TO [6]: 0 if FROM's connection to TO:80 gets an answer
	local dst=${IP4[$2]}
	[ "${3:-}" = 6 ] && dst=${IP6[$2]}
	ip netns exec "${!1}" "$ECHO" ask tcp "$dst" 80 >/dev/null 2>&1
}
expect() { # expect yes|no FROM TO [6] DESC
	reach "$2" "$3" "${4:-}"; local rc=$?
	if [ "$1" = yes ]; then ok $rc "$5"; else ok $((! rc)) "$5"; fi
}

# a first ADD/DEL creates our tables (isolated: both of them); the baseline is taken after it
conf A1 isolated | fw ADD "$A1" >/dev/null && conf A1 isolated | fw DEL "$A1" >/dev/null
before=$(dump)

for pol in open same-bridge isolated; do
	for c in A1 A2 B1; do
		conf $c $pol | fw ADD "${!c}" >/dev/null
		ok $? "$pol: ADD $c"
	done
	x=$([ $pol = open ] && echo yes || echo no)
	expect "$x" A1 B1 "" "$pol: A1 -> B1 (other network) $x"
	expect "$x" B1 A1 "" "$pol: B1 -> A1 (other network) $x"
	expect "$x" A1 B1 6 "$pol: A1 -> B1 over IPv6 $x"
	y=$([ $pol = isolated ] && echo no || echo yes)
	expect "$y" A1 A2 "" "$pol: A1 -> A2 (same bridge) $y"
	expect "$y" A2 A1 6 "$pol: A2 -> A1 over IPv6 (same bridge) $y"
	ip netns exec "$A1" "$ECHO" ask tcp 10.81.0.1 80 2>&1 | grep -q refused
	ok $? "$pol: A1 still reaches the host (connection refused by the host itself)"
	is "$(inH nft -j list set inet $TBL fw4 | jq '.nftables[1].set.elem | length')" 3 \
		"$pol: three addresses accepted in forward"
	conf A1 $pol | jq -c '.' | fw CHECK "$A1" >/dev/null
	ok $? "$pol: CHECK A1"
	for c in A1 A2 B1; do
		conf $c $pol | fw DEL "${!c}" >/dev/null
	done
	is "$(dump)" "$before" "$pol: state after DEL == state before ADD"
done

# an isolated network next to an open one: only isolated networks are cut off from each other
conf A1 same-bridge | fw ADD "$A1" >/dev/null
conf B1 open | fw ADD "$B1" >/dev/null
expect yes A1 B1 "" "same-bridge A and open B still talk"
conf A1 same-bridge | fw DEL "$A1" >/dev/null
conf B1 open | fw DEL "$B1" >/dev/null

out=$(conf A1 bogus | fw ADD "$A1"); rc=$?
is "$(jq -r .code <<<"$out")" 7 "unknown ingressPolicy -> code 7"
case $(jq -r .msg <<<"$out") in *ingressPolicy*) ok 0 "... naming ingressPolicy" ;;
*) ok 1 "... naming ingressPolicy"; diag "$out" ;; esac
is "$(dump)" "$before" "... nothing applied"
for i in 1 2; do
	conf A1 bogus | fw DEL "$A1" >/dev/null
	ok $? "DEL $i with the refused config succeeds"
done
is "$(dump)" "$before" "... and the DELs changed nothing"
conf A1 open | fw DEL "$A1" >/dev/null
ok $? "DEL of something never added succeeds"

# STATUS: nf_tables usable, our inet and bridge tables there or creatable; nothing created
S=fws$T; mknetns "$S"
st() { ip netns exec "$S" env -i PATH="$PATH" CNI_COMMAND=STATUS CNI_PATH="$CNI_BIN" BERTH_NFT_TABLE=$TBL \
	BERTH_NFT_STATE_DIR=$STATE "$@" "$FW" <<<"{\"cniVersion\":\"1.1.0\",\"name\":\"fw$T\",\"type\":\"firewall\"}"; }
out=$(st); is "$?:$out" "0:" "STATUS in a netns without our tables: ready"
is "$(ip netns exec "$S" nft list ruleset | wc -l)" 0 "... and STATUS created nothing there"
ip netns exec "$S" nft add table bridge "$TBL"
out=$(st); is "$?/$(jget "$out" .code)" 1/50 "a bridge table of our name without our sets: not ready, code 50"
ip netns exec "$S" nft delete table bridge "$TBL"
out=$(st setpriv --reuid=65534 --regid=65534 --clear-groups); is "$?/$(jget "$out" .code)" 1/50 "without CAP_NET_ADMIN: not ready, code 50"
out=$(ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND=STATUS CNI_PATH="$CNI_BIN" BERTH_NFT_TABLE=$TBL BERTH_NFT_STATE_DIR=$STATE "$FW" \
	<<<"{\"cniVersion\":\"1.1.0\",\"name\":\"fw$T\",\"type\":\"firewall\"}"); is "$?:$out" "0:" "STATUS where our tables are in use: ready"

done_testing
