#!/bin/bash
# A Multus-style pod: two networks attached to one container netns by separate plugin calls
# with the same container ID, as Multus delegates them: the primary, berth's bridge with
# host-local on eth0, and a secondary, macvlan with static IPAM on net1.  Two such pods: both
# interfaces of each, their addresses and routes, pings between the pods on both networks,
# CHECK of both attachments, and DEL of both (in reverse order, as Multus does) leaving nothing:
# no link in the pods, no host veth, no macvlan, no host-local reservation.
source "$(dirname "$0")/../lib.sh"
need_root
BR=$CNI_BIN/bridge
MV=$CNI_BIN/macvlan
for p in bridge host-local macvlan static; do
	[ -x "$CNI_BIN/$p" ] || skip_all "$p not built"
done

BRN=mb$T   # the primary network's bridge
LOW=ml$T   # the secondary network's lower device: a veth in the host netns (its peer ml$T-p)
DATA=$(mktemp -d /tmp/berth-multus.XXXXXX)
defer "rm -rf $DATA"
defer "ip link del $BRN"
ip link add "$LOW" type veth peer name "${LOW}p" || { ok 1 "create the macvlan lower device"; done_testing; exit; }
defer "ip link del $LOW"
ip link set "$LOW" up; ip link set "${LOW}p" up

PRIMARY=$(jq -nc --arg br "$BRN" --arg d "$DATA" '{cniVersion:"1.0.0", name:"pod-net", type:"bridge",
	bridge:$br, isGateway:true, isDefaultGateway:true,
	ipam:{type:"host-local", dataDir:$d, ranges:[[{subnet:"10.50.0.0/24"}]]}}')
secondary() { # ADDRESS
	jq -nc --arg low "$LOW" --arg a "$1" '{cniVersion:"1.0.0", name:"sec-net", type:"macvlan",
		master:$low, mode:"bridge",
		ipam:{type:"static", addresses:[{address:$a, gateway:"10.51.0.1"}],
		      routes:[{dst:"10.52.0.0/16", gw:"10.51.0.1"}]}}'
}
call() { # PLUGIN CMD POD IFNAME < conf: stdout in $OUT, exit status in $rc
	OUT=$(cni "$1" "$2" "id-$3" "/run/netns/$3$T" "$4" 2>/dev/null)
	rc=$?
}
withprev() { jq -c --argjson p "$2" '. + {prevResult:$p}' <<<"$1"; }

declare -A R0 R1 NET1
for pod in pa pb; do
	mknetns "$pod$T"
	[ $pod = pa ] && NET1[$pod]=10.51.0.5/24 || NET1[$pod]=10.51.0.6/24
	call "$BR" ADD $pod eth0 <<<"$PRIMARY"; R0[$pod]=$OUT
	is "$rc" 0 "$pod: primary ADD (bridge + host-local) on eth0"
	call "$MV" ADD $pod net1 <<<"$(secondary "${NET1[$pod]}")"; R1[$pod]=$OUT
	is "$rc" 0 "$pod: secondary ADD (macvlan + static) on net1"
	[ "$rc" -eq 0 ] || diag "$OUT"
done

for pod in pa pb; do
	ns=$pod$T
	is "$(ip -n "$ns" -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | tr '\n' ' ')" "eth0 lo net1 " \
		"$pod: the pod has eth0 and net1"
	is "$(ip -n "$ns" -d -j link show eth0 | jq -r '.[0].linkinfo.info_kind')" veth "$pod: eth0 is a veth"
	is "$(ip -n "$ns" -d -j link show net1 | jq -r '.[0].linkinfo.info_kind + " " + .[0].linkinfo.info_data.mode')" \
		"macvlan bridge" "$pod: net1 is a macvlan in bridge mode"
	eth0_addr=$(jq -r '.ips[0].address' <<<"${R0[$pod]}")
	is "$(ip -n "$ns" -j -4 addr show dev eth0 | jq -r '.[0].addr_info[] | "\(.local)/\(.prefixlen)"')" "$eth0_addr" \
		"$pod: eth0 holds the host-local address of its result ($eth0_addr)"
	case $eth0_addr in 10.50.0.*/24) ok 0 "$pod: ... from the primary's range" ;; *) ok 1 "$pod: ... from the primary's range" ;; esac
	is "$(ip -n "$ns" -j -4 addr show dev net1 | jq -r '.[0].addr_info[] | "\(.local)/\(.prefixlen)"')" "${NET1[$pod]}" \
		"$pod: net1 holds the static address"
	is "$(jq -c '[.interfaces[] | select(.sandbox != null) | .name]' <<<"${R0[$pod]}"):$(jq -c '[.interfaces[] | select(.sandbox != null) | .name]' <<<"${R1[$pod]}")" \
		'["eth0"]:["net1"]' "$pod: each result names its own container interface"
	is "$(jq -c '[.ips[].address]' <<<"${R1[$pod]}"):$(jq -c '[.routes[].dst]' <<<"${R1[$pod]}")" \
		"[\"${NET1[$pod]}\"]:[\"10.52.0.0/16\"]" "$pod: the secondary's result carries static's address and route"
	is "$(ip -n "$ns" -4 route show default)" "default via 10.50.0.1 dev eth0 " "$pod: the default route goes through the primary"
	is "$(ip -n "$ns" -4 route show 10.52.0.0/16)" "10.52.0.0/16 via 10.51.0.1 dev net1 " \
		"$pod: static's route goes through net1, via its gateway"
	is "$(ip -n "$ns" -4 route show dev net1 proto kernel | awk '{print $1}')" "10.51.0.0/24" "$pod: net1's subnet route"
done

a0=$(jq -r '.ips[0].address' <<<"${R0[pb]}"); a0=${a0%/*}
ip netns exec "pa$T" ping -c1 -W5 "$a0" >/dev/null; ok $? "ping pa -> pb on the primary network ($a0, through the bridge)"
ip netns exec "pa$T" ping -c1 -W5 -I net1 10.51.0.6 >/dev/null; ok $? "ping pa -> pb on the secondary network (10.51.0.6, macvlan bridge mode)"
ip netns exec "pb$T" ping -c1 -W5 -I net1 10.51.0.5 >/dev/null; ok $? "ping pb -> pa on the secondary network"

for pod in pa pb; do
	call "$BR" CHECK $pod eth0 <<<"$(withprev "$PRIMARY" "${R0[$pod]}")"; is "$rc" 0 "$pod: CHECK of the primary passes"
	[ "$rc" -eq 0 ] || diag "$OUT"
	call "$MV" CHECK $pod net1 <<<"$(withprev "$(secondary "${NET1[$pod]}")" "${R1[$pod]}")"; is "$rc" 0 "$pod: CHECK of the secondary passes"
	[ "$rc" -eq 0 ] || diag "$OUT"
done

# DEL in reverse order, as Multus does; twice, as runtimes retry
for pod in pa pb; do
	for i in 1 2; do
		call "$MV" DEL $pod net1 <<<"$(withprev "$(secondary "${NET1[$pod]}")" "${R1[$pod]}")"; is "$rc" 0 "$pod: DEL of the secondary ($i)"
		call "$BR" DEL $pod eth0 <<<"$(withprev "$PRIMARY" "${R0[$pod]}")"; is "$rc" 0 "$pod: DEL of the primary ($i)"
	done
	is "$(ip -n "$pod$T" -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | tr '\n' ' ')" "lo " "$pod: only lo left in the pod"
done
is "$(ip -o link show master "$BRN" 2>/dev/null | wc -l)" 0 "no host veth left on the bridge"
is "$(ip -d -j link show 2>/dev/null | jq --arg l "$LOW" '[.[] | select(.linkinfo.info_kind == "macvlan" and .link == $l)] | length')" 0 \
	"no macvlan of the lower device left in the host"
is "$(ls "$DATA/pod-net" 2>/dev/null | grep -c '^10\.')" 0 "no host-local reservation left"
done_testing
