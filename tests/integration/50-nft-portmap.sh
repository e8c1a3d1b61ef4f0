#!/bin/bash
# portmap on nftables, with real packets.  Everything happens inside throwaway netns: H plays
# the host (bridge, our nft table), C1/C2 are containers on H's bridge, O is an outside host
# on a link to H.  IPv4 and IPv6.
source "$(dirname "$0")/../lib.sh"
need_root
command -v nft >/dev/null || skip_all "nft not installed"
PM=$CNI_BIN/portmap
ECHO=$BERTH_BUILD/tests/helpers/nftecho
[ -x "$PM" ] && [ -x "$ECHO" ] || skip_all "portmap or nftecho not built"

H=pmh$T C1=pmc1$T C2=pmc2$T O=pmo$T
TBL=berth_t$T
STATE=$(mktemp -d); defer "rm -rf $STATE"
export BERTH_NFT_TABLE=$TBL BERTH_NFT_STATE_DIR=$STATE
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

# pm CMD ID NETNS IFNAME < conf: the plugin, run in H (the host), with our table/state env
pm() {
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
		CNI_NETNS="$3" CNI_IFNAME="$4" CNI_PATH="$CNI_BIN" BERTH_NFT_TABLE=$TBL \
		BERTH_NFT_STATE_DIR=$STATE "$PM"
}
# canonical dump of our table without counters (they move with traffic)
dump() { inH nft -j list table inet "$TBL" 2>/dev/null |
	jq -S -c '[.nftables[] | select(.map or .set) | (.map // .set) | {name, elem}]'; }
relems() { inH nft -j list table inet "$TBL" | jq '[.nftables[] | select(.rule)] | length'; }

mknetns "$H"; mknetns "$C1"; mknetns "$C2"; mknetns "$O"
inH sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
inH ip link add br0 type bridge
inH ip link set br0 up
inH ip addr add 10.77.0.1/24 dev br0
inH ip addr add fd77::1/64 dev br0 nodad
for i in 1 2; do
	c=C$i; c=${!c}
	inH ip link add vh$i type veth peer name eth0 netns "$c"
	inH ip link set vh$i master br0 up
	inH ip link set vh$i type bridge_slave hairpin on
	ip -n "$c" link set eth0 up
	ip -n "$c" addr add 10.77.0.1$i/24 dev eth0
	ip -n "$c" addr add fd77::1$i/64 dev eth0 nodad
	ip -n "$c" route add default via 10.77.0.1
	ip -n "$c" -6 route add default via fd77::1
done
inH ip link add out0 type veth peer name eth0 netns "$O"
inH ip link set out0 up
inH ip addr add 192.0.2.1/24 dev out0
inH ip addr add fd99::1/64 dev out0 nodad
ip -n "$O" link set eth0 up
ip -n "$O" addr add 192.0.2.2/24 dev eth0
ip -n "$O" addr add fd99::2/64 dev eth0 nodad
# O has no route to the containers' subnets: only DNAT (and masquerade) can make them talk

for c in "$C1" "$C2"; do
	for p in tcp udp; do
		ip netns exec "$c" "$ECHO" serve $p 80 & defer "kill $!"
	done
done
for c in "$C1" "$C2"; do
	for p in tcp udp; do
		wait_listen "$c" $p 80
	done
done

prev() { # prev N: prevResult of container N (bridge, host veth, container iface)
	printf '{"cniVersion":"1.0.0","interfaces":[{"name":"br0"},{"name":"vh%s"},{"name":"eth0","sandbox":"/run/netns/x"}],"ips":[{"address":"10.77.0.1%s/24","gateway":"10.77.0.1","interface":2},{"address":"fd77::1%s/64","gateway":"fd77::1","interface":2}]}' "$1" "$1" "$1"
}
conf() { # conf N MAPPINGS-JSON [EXTRA-KEYS]
	printf '{"cniVersion":"1.0.0","name":"pmnet%s","type":"portmap","capabilities":{"portMappings":true}%s,"runtimeConfig":{"portMappings":%s},"prevResult":%s}' \
		"$T" "${3:+,$3}" "$2" "$(prev "$1")"
}
MAP1='[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":8053,"containerPort":80,"protocol":"udp"}]'

# another table in H must come through untouched
inH nft add table inet other$T
inH nft add chain inet other$T c '{ type filter hook forward priority 10; policy accept; }'
inH nft add rule inet other$T c ip saddr 198.51.100.0/24 counter
other_before=$(inH nft list table inet other$T)

# conntrack: a UDP flow from O that reaches H before the mapping exists leaves a stale entry
ip netns exec "$O" "$ECHO" ask udp 192.0.2.1 8053 192.0.2.2 40053 >/dev/null 2>&1

out=$(conf 1 "$MAP1" | pm ADD ctr1 /run/netns/$C1 eth0); rc=$?
is "$rc" 0 "ADD ctr1 (tcp 8080, udp 8053) succeeds"
is "$(jq -r '.ips | length' <<<"$out")" 2 "ADD passes prevResult through"
rules1=$(relems)
is "$(inH nft -j list map inet $TBL pm4_any | jq '[.nftables[].map.elem // [] | .[]] | length')" 2 \
	"two elements in the IPv4 any-address map"

# real packets
is "$(ip netns exec "$O" "$ECHO" ask tcp 192.0.2.1 8080)" 192.0.2.2 \
	"outside -> host:8080 reaches ctr1, source address preserved"
is "$(ip netns exec "$O" "$ECHO" ask tcp fd99::1 8080)" fd99::2 "the same over IPv6"
is "$(ip netns exec "$O" "$ECHO" ask udp 192.0.2.1 8053 192.0.2.2 40053)" 192.0.2.2 \
	"UDP 8053 from the flow that existed before ADD (conntrack flushed on ADD)"
is "$(ip netns exec "$O" "$ECHO" ask udp fd99::1 8053)" fd99::2 "UDP over IPv6"
is "$(inH "$ECHO" ask tcp 127.0.0.1 8080)" 10.77.0.1 \
	"host 127.0.0.1:8080 reaches ctr1, masqueraded to the bridge address (route_localnet)"
is "$(inH cat /proc/sys/net/ipv4/conf/br0/route_localnet)" 1 "route_localnet set on the bridge"
is "$(inH "$ECHO" ask tcp 192.0.2.1 8080)" 192.0.2.1 "host's own address:8080 from the host"
is "$(ip netns exec "$C1" "$ECHO" ask tcp 192.0.2.1 8080)" 10.77.0.1 \
	"hairpin: ctr1 reaches its own host port (masqueraded)"
is "$(ip netns exec "$C2" "$ECHO" ask tcp 192.0.2.1 8080)" 10.77.0.1 \
	"ctr2 on the same bridge reaches ctr1's host port"
is "$(ip netns exec "$C1" "$ECHO" ask tcp fd99::1 8080)" fd77::1 "hairpin over IPv6"

# a second container: specific hostIP, a range, sctp; rules do not grow
MAP2='[{"hostPort":9000,"containerPort":80,"protocol":"tcp","hostIP":"192.0.2.1"},{"hostPort":9100,"containerPort":9100,"protocol":"tcp","range":3},{"hostPort":9200,"containerPort":80,"protocol":"sctp"}]'
snap1=$(dump)
out=$(conf 2 "$MAP2" | pm ADD ctr2 /run/netns/$C2 eth0); rc=$?
is "$rc" 0 "ADD ctr2 (hostIP, range of 3, sctp)"
is "$(relems)" "$rules1" "no rule added per container"
is "$(inH nft -j list map inet $TBL pm4_ip | jq -c '[.nftables[].map.elem // [] | .[]] | length')" 1 \
	"hostIP mapping lands in the per-address map"
is "$(ip netns exec "$O" "$ECHO" ask tcp 192.0.2.1 9000)" 192.0.2.2 "hostIP 192.0.2.1:9000 reaches ctr2"
ip netns exec "$O" "$ECHO" ask tcp fd99::1 9000 >/dev/null 2>&1
ok $((! $?)) "an IPv4 hostIP is not mapped on IPv6"
is "$(inH nft -j list map inet $TBL pm4_any | jq -c '[.nftables[].map.elem[]? | .[0] | (.elem.val // .) | .concat[1]] | sort | map(tostring) | join(",")')" \
	'"8053,8080,9100,9101,9102,9200"' "a range of 3 is three elements"

# conflicts: same hostPort/proto/hostIP as ctr1 -> error naming both, nothing applied
before=$(dump)
out=$(conf 2 '[{"hostPort":9300,"containerPort":80},{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]' |
	pm ADD ctr3 /run/netns/$C2 eth1); rc=$?
is "$rc" 1 "ADD of a taken hostPort fails"
is "$(jq -r .code <<<"$out")" 7 "... with code 7"
msg=$(jq -r .msg <<<"$out")
case $msg in *portMappings\[1\]*ctr1*ctr3*) ok 0 "... naming the key and both containers" ;;
*) ok 1 "... naming the key and both containers"; diag "$msg" ;; esac
is "$(dump)" "$before" "nothing half-applied (9300 not mapped either)"

# ... and the runtime's DEL after it (twice, same input) succeeds and leaves the table alone
bad() { # bad DESC WANT-CODE WANT-KEY MAPPINGS [EXTRA]
	local out i
	out=$(conf 2 "$4" "${5:-}" | pm ADD ctrbad /run/netns/$C2 eth9)
	is "$(jq -r .code <<<"$out")" "$2" "bad input: $1 -> code $2"
	case $(jq -r .msg <<<"$out") in *"$3"*) ok 0 "bad input: $1 names $3" ;;
	*) ok 1 "bad input: $1 names $3"; diag "$out" ;; esac
	is "$(dump)" "$before" "bad input: $1 leaves the table unchanged"
	for i in 1 2; do
		out=$(conf 2 "$4" "${5:-}" | pm DEL ctrbad /run/netns/$C2 eth9)
		is "$?" 0 "bad input: $1: DEL $i after the refused ADD succeeds${out:+ ($out)}"
	done
	is "$(dump)" "$before" "bad input: $1: the table unchanged after the DELs"
}
bad "hostPort 70000" 7 hostPort '[{"hostPort":70000,"containerPort":80}]'
bad "containerPort 0" 7 containerPort '[{"hostPort":80,"containerPort":0}]'
bad "protocol icmp" 7 protocol '[{"hostPort":81,"containerPort":80,"protocol":"icmp"}]'
bad "hostIP 1.2.3" 7 hostIP '[{"hostPort":81,"containerPort":80,"hostIP":"1.2.3"}]'
bad "range past 65535" 7 range '[{"hostPort":65535,"containerPort":80,"range":2}]'
bad "duplicate mapping in one call" 7 'portMappings[1]' '[{"hostPort":82,"containerPort":80},{"hostPort":82,"containerPort":81}]'
bad "unparsable nft conditions" 7 conditionsV4 '[{"hostPort":83,"containerPort":80}]' '"conditionsV4":["tcp","dport","80"]'
bad "iptables conditions without an nft counterpart" 7 conditionsV4 '[{"hostPort":83,"containerPort":80}]' '"conditionsV4":["-m","conntrack","--ctstate","NEW"]'
bad "IPv6 match in conditionsV4" 7 conditionsV4 '[{"hostPort":83,"containerPort":80}]' '"conditionsV4":["ip6 saddr fd00::/8"]'
bad "backend" 7 backend '[{"hostPort":84,"containerPort":80}]' '"backend":"ebpf"'

# CHECK
conf 1 "$MAP1" | pm CHECK ctr1 /run/netns/$C1 eth0 >/dev/null
ok $? "CHECK ctr1 passes"
inH nft delete element inet $TBL pm4_any '{ tcp . 8080 }'
out=$(conf 1 "$MAP1" | pm CHECK ctr1 /run/netns/$C1 eth0); rc=$?
is "$rc" 1 "CHECK fails when an element was removed behind our back"

# re-apply after someone removed our table (what `nft flush ruleset` does to it)
inH nft delete table inet $TBL
ip netns exec "$O" "$ECHO" ask tcp 192.0.2.1 8080 >/dev/null 2>&1
ok $((! $?)) "mapping gone with the table"
inH env BERTH_NFT_TABLE=$TBL BERTH_NFT_STATE_DIR=$STATE "$PM" --reapply >/dev/null
ok $? "portmap --reapply"
is "$(ip netns exec "$O" "$ECHO" ask tcp 192.0.2.1 8080)" 192.0.2.2 "mapping works again after reapply"
conf 1 "$MAP1" | pm CHECK ctr1 /run/netns/$C1 eth0 >/dev/null
ok $? "CHECK passes after reapply"

# DEL: back to the state before ctr2's ADD; idempotent; no netns needed
conf 2 "$MAP2" | pm DEL ctr2 /run/netns/$C2 eth0 >/dev/null
ok $? "DEL ctr2"
is "$(dump)" "$snap1" "state after DEL == state before ADD"
conf 2 "$MAP2" | pm DEL ctr2 "" eth0 >/dev/null
ok $? "DEL again, without a netns"
ip netns exec "$O" "$ECHO" ask tcp 192.0.2.1 9000 >/dev/null 2>&1
ok $((! $?)) "ctr2's port is closed after DEL"

# STATUS: nf_tables usable, and our table with its maps and sets there or creatable; it changes
# nothing (the setup batch is checked by the kernel, not committed)
S=pms$T; mknetns "$S"
st() { ip netns exec "$S" env -i PATH="$PATH" CNI_COMMAND=STATUS CNI_PATH="$CNI_BIN" BERTH_NFT_TABLE=$TBL \
	BERTH_NFT_STATE_DIR=$STATE "$@" "$PM" <<<"{\"cniVersion\":\"1.1.0\",\"name\":\"pmnet$T\",\"type\":\"portmap\"}"; }
out=$(st); is "$?:$out" "0:" "STATUS in a netns without our table: ready"
is "$(ip netns exec "$S" nft list ruleset | wc -l)" 0 "... and STATUS created nothing there"
out=$(st setpriv --reuid=65534 --regid=65534 --clear-groups); rc=$?
is "$rc/$(jget "$out" .code)" 1/50 "STATUS where nf_tables cannot be used (no CAP_NET_ADMIN): not ready, code 50"
case $(jget "$out" .msg) in *nf_tables*) ok 0 "... saying so" ;; *) ok 1 "... saying so"; diag "$out" ;; esac
ip netns exec "$S" nft add table inet "$TBL"
out=$(st); is "$?/$(jget "$out" .code)" 1/50 "a table of our name without our sets: not ready, code 50"
ip netns exec "$S" nft delete table inet "$TBL"
out=$(st); is "$?:$out" "0:" "STATUS once the stray table is gone: ready again"
out=$(printf '{"cniVersion":"1.1.0","name":"pmnet%s","type":"portmap"}' "$T" | pm STATUS "" "" ""); is "$?:$out" "0:" "STATUS where our tables are in use: ready"

# GC: ctr2 again, then GC with only ctr1 valid
conf 2 "$MAP2" | pm ADD ctr2 /run/netns/$C2 eth0 >/dev/null
printf '{"cniVersion":"1.1.0","name":"pmnet%s","type":"portmap","cni.dev/valid-attachments":[{"containerID":"ctr1","ifname":"eth0"}]}' "$T" |
	pm GC "" "" "" >/dev/null
ok $? "GC"
is "$(dump)" "$snap1" "GC removed exactly ctr2's elements"
is "$(ls "$STATE/$TBL/portmap" | wc -l)" 1 "GC removed ctr2's state file"

# every spec version: the result comes back in the version asked for, CHECK from 0.4.0
for v in 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	pr=$(prev 2 | jq -c --arg v "$v" '.cniVersion = $v | if ($v | startswith("0.")) then .ips |= map(. + {version: (if (.address | contains(":")) then "6" else "4" end)}) else . end')
	c=$(conf 2 '[{"hostPort":9500,"containerPort":80}]' | jq -c --arg v "$v" --argjson p "$pr" '.cniVersion = $v | .prevResult = $p')
	out=$(pm ADD ctrv /run/netns/$C2 eth0 <<<"$c"); rc=$?
	is "$rc/$(jq -r .cniVersion <<<"$out")" "0/$v" "$v: ADD answers in $v"
	is "$(ip netns exec "$O" "$ECHO" ask tcp 192.0.2.1 9500)" 192.0.2.2 "$v: the mapping works"
	case $v in 0.3.*) ;; *)
		pm CHECK ctrv /run/netns/$C2 eth0 <<<"$c" >/dev/null
		ok $? "$v: CHECK" ;;
	esac
	pm DEL ctrv /run/netns/$C2 eth0 <<<"$c" >/dev/null
	ok $? "$v: DEL"
done
is "$(dump)" "$snap1" "versions loop leaves no element behind"

# conditionsV4/V6: matches shared by every container of a network, in their own maps
CND='"conditionsV4":["ip","saddr","192.0.2.0/24"],"conditionsV6":["ip6 saddr fd99::/64","iifname","out*"]'
rules_before=$(relems)
out=$(conf 2 '[{"hostPort":9600,"containerPort":80}]' "$CND" | pm ADD ctrc /run/netns/$C2 eth0); rc=$?
is "$rc" 0 "ADD with conditionsV4/V6"
is "$(ip netns exec "$O" "$ECHO" ask tcp 192.0.2.1 9600)" 192.0.2.2 "a source that matches conditionsV4 is mapped"
is "$(ip netns exec "$O" "$ECHO" ask tcp fd99::1 9600)" fd99::2 "a source that matches conditionsV6 is mapped"
inH "$ECHO" ask tcp 127.0.0.1 9600 >/dev/null 2>&1
ok $((! $?)) "a source outside conditionsV4 (the host's 127.0.0.1) is not"
rules_c=$(relems)
is "$rules_c" $((rules_before + 8)) "one list of conditions adds 2 rules per nat chain and family, once"
inH nft delete table inet $TBL
inH env BERTH_NFT_TABLE=$TBL BERTH_NFT_STATE_DIR=$STATE "$PM" --reapply >/dev/null
is "$(ip netns exec "$O" "$ECHO" ask tcp 192.0.2.1 9600)" 192.0.2.2 "conditional mapping survives a reapply"
conf 2 '[{"hostPort":9600,"containerPort":80}]' "$CND" | pm DEL ctrc /run/netns/$C2 eth0 >/dev/null
ip netns exec "$O" "$ECHO" ask tcp 192.0.2.1 9600 >/dev/null 2>&1
ok $((! $?)) "DEL unmaps the conditional port"
out=$(conf 2 '[{"hostPort":9601,"containerPort":80}]' "$CND" | pm ADD ctrc2 /run/netns/$C2 eth0); rc=$?
is "$rc/$(relems)" "0/$rules_c" "the next container with the same conditions adds no rule"
is "$(ip netns exec "$O" "$ECHO" ask tcp 192.0.2.1 9601)" 192.0.2.2 "... and is mapped"
conf 2 '[{"hostPort":9601,"containerPort":80}]' "$CND" | pm DEL ctrc2 /run/netns/$C2 eth0 >/dev/null

# conntrack on DEL: a UDP flow that was DNATed to ctr1 must not stick to it after DEL
is "$(ip netns exec "$O" "$ECHO" ask udp 192.0.2.1 8053 192.0.2.2 40054)" 192.0.2.2 "UDP flow to ctr1 before DEL"
conf 1 "$MAP1" | pm DEL ctr1 /run/netns/$C1 eth0 >/dev/null
ok $? "DEL ctr1"
ip netns exec "$O" "$ECHO" ask udp 192.0.2.1 8053 192.0.2.2 40054 >/dev/null 2>&1
ok $((! $?)) "after DEL the same UDP flow no longer reaches ctr1 (conntrack flushed on DEL)"
is "$(dump | jq '[.[].elem // [] | .[]] | length')" 0 "no elements left (also in the conditional maps)"
is "$(inH nft list table inet other$T)" "$other_before" "the other table is untouched"

# DEL run with another state directory than ADD (a runtime whose cleanup process has another
# environment): the elements are found by their owner comment
conf 1 "$MAP1" | pm ADD ctr1 /run/netns/$C1 eth0 >/dev/null
ok $? "ADD ctr1 again"
STATE2=$(mktemp -d); defer "rm -rf $STATE2"
conf 1 "$MAP1" | STATE=$STATE2 pm DEL ctr1 /run/netns/$C1 eth0 >/dev/null
ok $? "DEL with a state directory that knows nothing of ctr1"
is "$(dump | jq '[.[].elem // [] | .[]] | length')" 0 "its elements are gone all the same"

done_testing
