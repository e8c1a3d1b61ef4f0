#!/bin/bash
# The sbr plugin inside throwaway container netns: every spec version (rules and tables read
# back), CHECK, DEL (also without the interface and without the netns), `table`, `gateways`,
# `addSourceHints`, rollback of a failed ADD, bad input for every option, two interfaces of one
# container at once, STATUS, a real packet test (a strict rp_filter router drops replies that
# leave through the wrong interface; sbr makes them leave through the right one), and a
# differential run against the reference plugin (kernel state after ADD and after DEL).
source "$(dirname "$0")/../lib.sh"
need_root
SBR=$CNI_BIN/sbr
REF=$REF_CNI/sbr
[ -x "$SBR" ] || skip_all "sbr not built"

# mkctr NS: eth0 (10.11.0.5/24, fd00:11::5/64, default via 10.11.0.1, 192.0.2.0/24 via .9)
# and eth1 (10.12.0.5/24), both veths into the same netns
mkctr() {
	ip netns del "$1" 2>/dev/null
	mknetns "$1" >/dev/null 2>&1 || ip netns add "$1"
	ip -n "$1" link set lo up
	ip -n "$1" link add eth0 type veth peer name peer0
	ip -n "$1" link add eth1 type veth peer name peer1
	for l in eth0 peer0 eth1 peer1; do ip -n "$1" link set "$l" up; done
	ip -n "$1" addr add 10.11.0.5/24 dev eth0
	ip -n "$1" addr add fd00:11::5/64 dev eth0 nodad
	ip -n "$1" addr add 10.12.0.5/24 dev eth1
	ip -n "$1" route add default via 10.11.0.1 dev eth0
	ip -n "$1" route add 192.0.2.0/24 via 10.11.0.9 dev eth0
}
# prev VERSION NS: eth0 with both addresses, eth1 with its own
prev() {
	case $1 in
	0.1.0 | 0.2.0) echo "{\"cniVersion\":\"$1\",\"ip4\":{\"ip\":\"10.11.0.5/24\",\"gateway\":\"10.11.0.1\"},\"ip6\":{\"ip\":\"fd00:11::5/64\",\"gateway\":\"fd00:11::1\"}}" ;;
	0.3.0 | 0.3.1 | 0.4.0) echo "{\"cniVersion\":\"$1\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/run/netns/$2\"},{\"name\":\"eth1\",\"sandbox\":\"/run/netns/$2\"}],\"ips\":[{\"version\":\"4\",\"address\":\"10.11.0.5/24\",\"gateway\":\"10.11.0.1\",\"interface\":0},{\"version\":\"6\",\"address\":\"fd00:11::5/64\",\"gateway\":\"fd00:11::1\",\"interface\":0},{\"version\":\"4\",\"address\":\"10.12.0.5/24\",\"gateway\":\"10.12.0.1\",\"interface\":1}]}" ;;
	*) echo "{\"cniVersion\":\"$1\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/run/netns/$2\"},{\"name\":\"eth1\",\"sandbox\":\"/run/netns/$2\"}],\"ips\":[{\"address\":\"10.11.0.5/24\",\"gateway\":\"10.11.0.1\",\"interface\":0},{\"address\":\"fd00:11::5/64\",\"gateway\":\"fd00:11::1\",\"interface\":0},{\"address\":\"10.12.0.5/24\",\"gateway\":\"10.12.0.1\",\"interface\":1}]}" ;;
	esac
}
conf() { # VERSION NS [EXTRA-JSON]
	jq -nc --arg v "$1" --argjson p "$(prev "$1" "$2")" --argjson x "${3:-{\}}" \
		'{cniVersion:$v, name:"sbr", type:"sbr", prevResult:$p} + $x'
}
sbr() { # PLUGIN CMD NS [IFNAME] < conf
	env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID=c1 CNI_NETNS="/run/netns/$3" \
		CNI_IFNAME="${4:-eth0}" CNI_PATH="$CNI_BIN" BERTH_LOG_LEVEL=warn "$1" 2>/dev/null
}
# state NS: rules and the routes of every table, both families
state() {
	{ ip -n "$1" -j -4 rule; ip -n "$1" -j -6 rule; } | jq -c '.[] | {priority, src, srclen, table}'
	for t in main 100 101 102 103 200; do
		for f in -4 -6; do
			ip -n "$1" -j $f route show table $t 2>/dev/null |
				jq -c --arg t "$t" '.[]? | {t: $t, dst, gateway, dev, protocol, scope, prefsrc, metric}' 2>/dev/null
		done
	done
}

# ---- every spec version ----
n=0
for v in 0.1.0 0.2.0 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	n=$((n + 1)); ns=sb$n$T
	mkctr "$ns"
	before=$(state "$ns")
	out=$(sbr "$SBR" ADD "$ns" <<<"$(conf "$v" "$ns")"); rc=$?
	is "$rc" 0 "$v: ADD succeeds"
	is "$(jq -cS 'del(.dns)' <<<"$out")" "$(prev "$v" "$ns" | jq -cS .)" "$v: the result is prevResult"
	is "$(ip -n "$ns" -4 rule show table 100)" "32765:	from 10.11.0.5 lookup 100" "$v: rule from 10.11.0.5 to table 100"
	is "$(ip -n "$ns" -6 rule show table 101)" "32765:	from fd00:11::5 lookup 101" "$v: rule from fd00:11::5 to table 101"
	is "$(ip -n "$ns" -4 route show table 100 | sort)" "10.11.0.0/24 dev eth0 proto kernel scope link src 10.11.0.5 
192.0.2.0/24 via 10.11.0.9 dev eth0 
default via 10.11.0.1 dev eth0 " "$v: table 100: the default route and eth0's IPv4 routes"
	is "$(ip -n "$ns" -6 route show table 101 | grep -c 'default via fd00:11::1 dev eth0')" 1 "$v: table 101: the IPv6 default route"
	is "$(ip -n "$ns" -4 route show dev eth0)" "" "$v: eth0's routes left the main table"
	is "$(ip -n "$ns" -4 route show dev eth1)" "10.12.0.0/24 proto kernel scope link src 10.12.0.5 " "$v: eth1 untouched"
	is "$(ip -n "$ns" rule | grep -c 10.12.0.5)" 0 "$v: no rule for eth1's address"
	if [ "$v" != 0.1.0 ] && [ "$v" != 0.2.0 ] && [ "$v" != 0.3.0 ] && [ "$v" != 0.3.1 ]; then
		sbr "$SBR" CHECK "$ns" <<<"$(conf "$v" "$ns")" >/dev/null; ok $? "$v: CHECK passes"
		ip -n "$ns" route del default via 10.11.0.1 table 100
		o=$(sbr "$SBR" CHECK "$ns" <<<"$(conf "$v" "$ns")"); rc=$?
		[ $rc -ne 0 ] && jget "$o" .msg | grep -q 'no default route via 10.11.0.1'; ok $? "$v: CHECK notices the missing default route"
		ip -n "$ns" rule del from 10.11.0.5 table 100
		o=$(sbr "$SBR" CHECK "$ns" <<<"$(conf "$v" "$ns")"); rc=$?
		[ $rc -ne 0 ] && jget "$o" .msg | grep -q 'no rule from 10.11.0.5'; ok $? "$v: CHECK notices the missing rule"
		ip -n "$ns" rule add from 10.11.0.5 table 100 pref 32765
	fi
	sbr "$SBR" DEL "$ns" <<<"$(conf "$v" "$ns")" >/dev/null; ok $? "$v: DEL succeeds"
	is "$(ip -n "$ns" rule | grep -c 'lookup 10[01]')" 0 "$v: DEL removed the rules"
	sbr "$SBR" DEL "$ns" <<<"$(conf "$v" "$ns")" >/dev/null; ok $? "$v: second DEL succeeds"
	[ "$v" = 1.1.0 ] && { sbr "$SBR" STATUS "" "" <<<'{"cniVersion":"1.1.0","name":"sbr","type":"sbr"}' >/dev/null; ok $? "1.1.0: STATUS: the kernel has policy routing"; }
	ip netns del "$ns"
done

# ---- options ----
ns=sbo$T
mkctr "$ns"
sbr "$SBR" ADD "$ns" <<<"$(conf 1.0.0 "$ns" '{"table":200}')" >/dev/null; ok $? "table: ADD"
is "$({ ip -n "$ns" -4 rule show table 200; ip -n "$ns" -6 rule show table 200; } | tr '\t' ' ')" "32765: from 10.11.0.5 lookup 200
32765: from fd00:11::5 lookup 200" "table: a rule per address to the configured table"
is "$(ip -n "$ns" -4 route show dev eth0 | wc -l)" 3 "table: the main table is left alone"
sbr "$SBR" CHECK "$ns" <<<"$(conf 1.0.0 "$ns" '{"table":200}')" >/dev/null; ok $? "table: CHECK"
ip -n "$ns" rule add from 10.11.0.5 table 300 pref 100
sbr "$SBR" DEL "$ns" <<<"$(conf 1.0.0 "$ns" '{"table":200}')" >/dev/null; ok $? "table: DEL"
is "$(ip -n "$ns" rule | grep -c 'lookup 200'):$(ip -n "$ns" rule | grep -c 'lookup 300')" "0:1" "table: DEL removes the rules to its table only"
ip netns del "$ns"

mkctr "$ns"
sbr "$SBR" ADD "$ns" <<<"$(conf 1.0.0 "$ns" '{"gateways":["10.11.0.254","fd00:11::fe"]}')" >/dev/null; ok $? "gateways: ADD"
is "$(ip -n "$ns" -4 route show table 100 default)" "default via 10.11.0.254 dev eth0 " "gateways: the IPv4 default route uses the static gateway"
is "$(ip -n "$ns" -6 route show table 101 default | cut -d' ' -f1-5)" "default via fd00:11::fe dev eth0" "gateways: the IPv6 default route too"
sbr "$SBR" DEL "$ns" <<<"$(conf 1.0.0 "$ns" '{"gateways":["10.11.0.254","fd00:11::fe"]}')" >/dev/null
ip netns del "$ns"

mkctr "$ns"
sbr "$SBR" ADD "$ns" <<<"$(conf 1.0.0 "$ns" '{"addSourceHints":true}')" >/dev/null; ok $? "addSourceHints: ADD"
is "$(ip -n "$ns" -4 route show dev eth0)" "10.11.0.0/24 scope link src 10.11.0.5 " "addSourceHints: the subnet route stays in main with the source hint, the others leave"
is "$(ip -n "$ns" -4 route show table 100 | wc -l)" 3 "addSourceHints: table 100 as without"
sbr "$SBR" DEL "$ns" <<<"$(conf 1.0.0 "$ns" '{"addSourceHints":true}')" >/dev/null
ip netns del "$ns"

# ---- a failed ADD leaves the netns as it was ----
mkctr "$ns"
before=$(state "$ns")
o=$(sbr "$SBR" ADD "$ns" <<<"$(conf 1.0.0 "$ns" '{"gateways":["10.99.0.1"]}')"); rc=$?
[ $rc -ne 0 ] && jget "$o" .msg | grep -q 'Failed to add default route to 10.99.0.1'; ok $? "a gateway that is not on the link: ADD fails"
is "$(state "$ns")" "$before" "... and the rule it had added is gone again"
ip -n "$ns" rule add from 10.11.0.5 table 100 pref 32765
o=$(sbr "$SBR" ADD "$ns" <<<"$(conf 1.0.0 "$ns")"); rc=$?
is "$rc" 0 "a table referenced by a rule is skipped"
is "$(ip -n "$ns" -4 rule show table 101)" "32764:	from 10.11.0.5 lookup 101" "... the address gets table 101"
ip netns del "$ns"

# ---- bad input ----
mkctr "$ns"
before=$(state "$ns")
bad() { # DESC CODE MSG-REGEX CONFIG [IFNAME]
	local out rc
	out=$(sbr "$SBR" ADD "$ns" "${5:-eth0}" <<<"$4"); rc=$?
	if [ $rc -eq 1 ] && [ "$(jget "$out" .code)" = "$2" ] && jget "$out" .msg | grep -Eq "$3"; then
		ok 0 "bad input: $1"
	else
		ok 1 "bad input: $1"; diag "rc=$rc $out"
	fi
}
bad "table a string" 7 'table must be a routing table number' "$(conf 1.0.0 "$ns" '{"table":"100"}')"
bad "table 0" 7 'table must be a routing table number' "$(conf 1.0.0 "$ns" '{"table":0}')"
bad "table negative" 7 'table must be a routing table number' "$(conf 1.0.0 "$ns" '{"table":-5}')"
bad "table over 32 bits" 7 'table must be a routing table number' "$(conf 1.0.0 "$ns" '{"table":4294967296}')"
bad "gateways not an array" 7 'gateways' "$(conf 1.0.0 "$ns" '{"gateways":"10.11.0.1"}')"
bad "three gateways" 7 'cannot contain more than 2 entries' "$(conf 1.0.0 "$ns" '{"gateways":["10.11.0.1","fd00::1","10.11.0.2"]}')"
bad "a gateway that is no address" 7 'invalid static gateway IP address: 10.11.0' "$(conf 1.0.0 "$ns" '{"gateways":["10.11.0"]}')"
bad "a gateway that is no string" 7 'invalid static gateway IP address' "$(conf 1.0.0 "$ns" '{"gateways":[17]}')"
bad "two IPv4 gateways" 7 'multiple IPv4 addresses: 10.11.0.1 and 10.11.0.2' "$(conf 1.0.0 "$ns" '{"gateways":["10.11.0.1","10.11.0.2"]}')"
bad "addSourceHints not a boolean" 7 'addSourceHints' "$(conf 1.0.0 "$ns" '{"addSourceHints":"yes"}')"
bad "prevResult missing" 7 'must be called as chained plugin' '{"cniVersion":"1.0.0","name":"sbr","type":"sbr"}'
bad "prevResult without addresses" 7 'No IP addresses supplied on interface: eth0' \
	"$(conf 1.0.0 "$ns" | jq -c '.prevResult.ips = []')"
bad "interface missing" 999 'Cannot find network interface nosuch0' "$(conf 1.0.0 "$ns" | jq -c '.prevResult.interfaces[0].name = "nosuch0"')" nosuch0
bad "malformed prevResult" 6 'prevResult' "$(conf 1.0.0 "$ns" | jq -c '.prevResult.ips[0].gateway = "x"')"
is "$(state "$ns")" "$before" "netns unchanged after the bad inputs"
o=$(sbr "$SBR" DEL "$ns" <<<"$(conf 1.0.0 "$ns" '{"table":"x"}')"); is $? 0 "DEL with a config ADD refuses succeeds"

# ---- DEL without the interface, without the netns ----
sbr "$SBR" ADD "$ns" <<<"$(conf 1.0.0 "$ns")" >/dev/null; ok $? "ADD before the interface goes"
ip -n "$ns" link del eth0
sbr "$SBR" DEL "$ns" <<<"$(conf 1.0.0 "$ns")" >/dev/null; ok $? "DEL without the interface succeeds"
is "$(ip -n "$ns" rule | grep -c 'lookup 10[01]')" 0 "... and removed the rules of prevResult's addresses"
ip netns del "$ns"
sbr "$SBR" DEL "$ns" <<<"$(conf 1.0.0 "$ns")" >/dev/null; ok $? "DEL without the netns succeeds"

# ---- two interfaces of one container at once: one table each ----
ns=sbp$T; mkctr "$ns"
c1=$(conf 1.0.0 "$ns" | jq -c '.prevResult.ips |= map(select(.address | startswith("10.")))')
sbr "$SBR" ADD "$ns" eth0 <<<"$c1" >/dev/null & p1=$!
sbr "$SBR" ADD "$ns" eth1 <<<"$c1" >/dev/null & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
is "$r1:$r2" "0:0" "two ADDs on one container at once succeed"
is "$(ip -n "$ns" -4 rule | grep -E 'lookup 10[0-9]' | awk '{print $NF}' | sort | tr '\n' ' ')" "100 101 " "... with a table each"
ip netns del "$ns"

# ---- packets: replies from eth1's address leave through eth1 ----
# R routes between the container's two subnets and a client X; rp_filter=1 on R drops a reply
# from 10.12.0.5 that arrives on its 10.11 side.
ns=sbt$T R=sbr$T X=sbx$T
mkctr "$ns"; mknetns "$R"; mknetns "$X"
ip -n "$ns" link del peer0; ip -n "$ns" link del peer1
ip -n "$ns" link del eth0 2>/dev/null; ip -n "$ns" link del eth1 2>/dev/null
ip -n "$R" link add r0 type veth peer name eth0 netns "$ns"
ip -n "$R" link add r1 type veth peer name eth1 netns "$ns"
ip -n "$R" link add rx type veth peer name x0 netns "$X"
for l in r0 r1 rx; do ip -n "$R" link set "$l" up; done
ip -n "$ns" link set eth0 up; ip -n "$ns" link set eth1 up; ip -n "$X" link set x0 up
ip -n "$R" addr add 10.11.0.1/24 dev r0; ip -n "$R" addr add 10.12.0.1/24 dev r1; ip -n "$R" addr add 10.13.0.1/24 dev rx
ip -n "$ns" addr add 10.11.0.5/24 dev eth0; ip -n "$ns" addr add 10.12.0.5/24 dev eth1
ip -n "$ns" route add default via 10.11.0.1 dev eth0
ip -n "$X" addr add 10.13.0.2/24 dev x0; ip -n "$X" route add default via 10.13.0.1
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.r0.rp_filter=1
ip netns exec "$X" ping -c1 -W2 10.11.0.5 >/dev/null 2>&1; ok $? "packets: X reaches eth0's address"
ip netns exec "$X" ping -c1 -W2 10.12.0.5 >/dev/null 2>&1; is $? 1 "packets: without sbr the reply for eth1's address leaves through eth0 and is dropped"
pc=$(conf 1.0.0 "$ns" | jq -c '.prevResult.ips |= map(select(.address == "10.12.0.5/24"))')
sbr "$SBR" ADD "$ns" eth1 <<<"$pc" >/dev/null; ok $? "packets: sbr ADD on eth1"
ip netns exec "$X" ping -c1 -W2 10.12.0.5 >/dev/null 2>&1; ok $? "packets: with sbr the reply leaves through eth1 and arrives"
ip netns exec "$X" ping -c1 -W2 10.11.0.5 >/dev/null 2>&1; ok $? "packets: eth0's address still answers"
sbr "$SBR" DEL "$ns" eth1 <<<"$pc" >/dev/null; ok $? "packets: sbr DEL"
ip netns exec "$X" ping -c1 -W2 10.12.0.5 >/dev/null 2>&1; is $? 1 "packets: after DEL the reply takes the main table again"

# ---- differential against the reference ----
if [ -x "$REF" ]; then
	ns=sbd$T
	run() { # PLUGIN VERSION CONFIG-FILTER [IFNAME] [SETUP-CMD]
		mkctr "$ns"
		[ -n "${5:-}" ] && eval "$5"
		sbr "$1" ADD "$ns" "${4:-eth0}" <<<"$(conf "$2" "$ns" | jq -c "$3")" | jq -cS .; echo "rc=${PIPESTATUS[0]}"
		state "$ns"
		echo "## after DEL"
		sbr "$1" DEL "$ns" "${4:-eth0}" <<<"$(conf "$2" "$ns" | jq -c "$3")"; echo "rc=$?"
		state "$ns"
		ip netns del "$ns"
	}
	compare() { # DESC VERSION FILTER [IFNAME] [SETUP]
		local ref ours
		ref=$(run "$REF" "$2" "$3" "${4:-}" "${5:-}" 2>/dev/null); ours=$(run "$SBR" "$2" "$3" "${4:-}" "${5:-}" 2>/dev/null)
		if [ "$ref" = "$ours" ]; then ok 0 "differential $2 $1: same result and kernel state"
		else ok 1 "differential $2 $1: same result and kernel state"; diff <(echo "$ref") <(echo "$ours") | sed 's/^/#   /' | head -20; fi
		case $ours in *'"table":"10'*) ;; *) ok 1 "differential $2 $1: our side made a table"; esac
	}
	for v in 0.3.0 0.3.1 0.4.0 1.0.0; do
		compare "dual stack on eth0" "$v" .
	done
	compare "eth1" 1.0.0 . eth1
	compare "no gateway" 1.0.0 '.prevResult.ips |= map(del(.gateway))'
	compare "two addresses in one subnet" 1.0.0 '.prevResult.ips += [{"address":"10.11.0.6/24","gateway":"10.11.0.1","interface":0}]' eth0 \
		'ip -n "$ns" addr add 10.11.0.6/24 dev eth0'
	compare "addresses naming no interface" 1.0.0 '.prevResult.ips |= map(select(.address | startswith("10.12") | not) | del(.interface))'
	compare "table 100 taken by a rule" 1.0.0 . eth0 'ip -n "$ns" rule add from 10.99.0.1 table 100'
	compare "0.2.0 result" 0.2.0 .
else
	ok 1 "reference sbr plugin missing at $REF"
fi
done_testing
