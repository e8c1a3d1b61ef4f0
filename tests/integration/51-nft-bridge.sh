#!/bin/bash
# bridge ipMasq and macspoofchk on nftables, with real packets.  H plays the host (inside a
# throwaway netns, so the nft tables are private), C1 is a container, O an outside host.
source "$(dirname "$0")/../lib.sh"
need_root
command -v nft >/dev/null || skip_all "nft not installed"
BR=$CNI_BIN/bridge
ECHO=$BERTH_BUILD/tests/helpers/nftecho
[ -x "$BR" ] && [ -x "$CNI_BIN/host-local" ] && [ -x "$ECHO" ] || skip_all "bridge/host-local/nftecho not built"

H=bmh$T C1=bmc$T O=bmo$T
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
plug() { # plug CMD ID NETNS < conf
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
		CNI_NETNS="$3" CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" BERTH_NFT_TABLE=$TBL \
		BERTH_NFT_STATE_DIR=$STATE "$BR"
}
dump() {
	for f in inet bridge; do
		inH nft -j list table $f "$TBL" 2>/dev/null |
			jq -S -c '[.nftables[] | select(.map or .set) | (.map // .set) | {name, elem}]'
	done
}

mknetns "$H"; mknetns "$C1"; mknetns "$O"
inH ip link add out0 type veth peer name eth0 netns "$O"
inH ip link set out0 up
inH ip addr add 192.0.2.1/24 dev out0
inH ip addr add fd99::1/64 dev out0 nodad
ip -n "$O" link set eth0 up
ip -n "$O" addr add 192.0.2.2/24 dev eth0
ip -n "$O" addr add fd99::2/64 dev eth0 nodad
ip netns exec "$O" "$ECHO" serve tcp 80 & defer "kill $!"
ip netns exec "$H" "$ECHO" serve tcp 81 & defer "kill $!"
wait_listen "$O" tcp 80
wait_listen "$H" tcp 81

conf() { # conf [EXTRA-KEYS]
	printf '{"cniVersion":"1.0.0","name":"bm%s","type":"bridge","bridge":"bm%s","isGateway":true,"ipMasq":true,"macspoofchk":true%s,"ipam":{"type":"host-local","dataDir":"%s/ipam","ranges":[[{"subnet":"10.78.0.0/24"}],[{"subnet":"fd78::/64"}]],"routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"}]}}' \
		"$T" "$T" "${1:+,$1}" "$STATE"
}

# the tables exist once a first container came and went; take the baseline then
conf | plug ADD warm /run/netns/$C1 >/dev/null && conf | plug DEL warm /run/netns/$C1 >/dev/null
before=$(dump)

out=$(conf | plug ADD ctr1 /run/netns/$C1); rc=$?
is "$rc" 0 "bridge ADD with ipMasq and macspoofchk"
ip4=$(jq -r '.ips[] | select(.address | contains(".")) | .address | sub("/.*";"")' <<<"$out")
ip6=$(jq -r '.ips[] | select(.address | contains(":")) | .address | sub("/.*";"")' <<<"$out")
is "$(inH nft -j list set inet $TBL masq4 | jq -r '.nftables[1].set.elem[0].elem.val')" "$ip4" \
	"the container address is a masquerade set element"
is "$(ip netns exec "$C1" "$ECHO" ask tcp 192.0.2.2 80)" 192.0.2.1 \
	"outside host sees the host's address (masquerade)"
is "$(ip netns exec "$C1" "$ECHO" ask tcp fd99::2 80)" fd99::1 "the same over IPv6"
is "$(ip netns exec "$C1" "$ECHO" ask tcp 10.78.0.1 81)" "$ip4" \
	"traffic to its own subnet keeps the container address"

conf | jq -c --argjson p "$out" '.prevResult = $p' | plug CHECK ctr1 /run/netns/$C1
ok $? "CHECK passes"
inH nft delete element inet $TBL masq4 "{ $ip4 }"
conf | jq -c --argjson p "$out" '.prevResult = $p' | plug CHECK ctr1 /run/netns/$C1 >/dev/null
ok $((! $?)) "CHECK fails when the masquerade element is gone"
inH nft add element inet $TBL masq4 "{ $ip4 comment \"berth masq bm$T ctr1 eth0\" }"

# macspoofchk: frames with another source MAC die at the bridge
mac=$(ip -n "$C1" -j link show eth0 | jq -r '.[0].address')
ip -n "$C1" link set eth0 address 02:00:5e:10:00:99
ip netns exec "$C1" "$ECHO" ask tcp 10.78.0.1 81 >/dev/null 2>&1
ok $((! $?)) "macspoofchk drops frames with a spoofed source MAC"
ip -n "$C1" link set eth0 address "$mac"
is "$(ip netns exec "$C1" "$ECHO" ask tcp 10.78.0.1 81)" "$ip4" "the real MAC passes again"

conf | plug DEL ctr1 /run/netns/$C1 >/dev/null
ok $? "DEL"
is "$(dump)" "$before" "state after DEL == state before ADD (inet and bridge tables)"
conf | plug DEL ctr1 "" >/dev/null
ok $? "DEL again without a netns"

# backends
out=$(conf '"ipMasqBackend":"iptables"' | plug ADD ctr2 /run/netns/$C1); rc=$?
is "$rc" 0 "ipMasqBackend iptables is served by nftables"
conf | plug DEL ctr2 /run/netns/$C1 >/dev/null
out=$(conf '"ipMasqBackend":"bogus"' | plug ADD ctr3 /run/netns/$C1); rc=$?
is "$(jq -r .code <<<"$out")" 7 "unknown ipMasqBackend -> code 7"
case $(jq -r .msg <<<"$out") in *ipMasqBackend*) ok 0 "... naming ipMasqBackend" ;;
*) ok 1 "... naming ipMasqBackend"; diag "$out" ;; esac
is "$(dump)" "$before" "... and nothing applied"
for i in 1 2; do
	conf '"ipMasqBackend":"bogus"' | plug DEL ctr3 /run/netns/$C1 >/dev/null
	ok $? "DEL $i after the refused ADD succeeds"
done
is "$(dump)" "$before" "... and the DELs changed nothing"

# GC: an attachment that is not valid loses its elements
conf | plug ADD ctr4 /run/netns/$C1 >/dev/null
printf '{"cniVersion":"1.1.0","name":"bm%s","type":"bridge","bridge":"bm%s","ipMasq":true,"ipam":{"type":"host-local","dataDir":"%s/ipam","ranges":[[{"subnet":"10.78.0.0/24"}]]},"cni.dev/valid-attachments":[]}' "$T" "$T" "$STATE" |
	plug GC "" "" >/dev/null
ok $? "GC"
is "$(dump)" "$before" "GC removed the stale attachment's elements"

done_testing
