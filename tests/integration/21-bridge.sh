#!/bin/bash
# bridge: every option and every spec version through the real binary in throwaway netns,
# reading the kernel back and sending packets; bad input leaves the host as it was; DEL with
# the netns gone; the podman samples as fixtures.
source "$(dirname "$0")/../lib.sh"
need_root
keep_host_nft
BR=$CNI_BIN/bridge
[ -x "$BR" ] || skip_all "bridge not built"
# Our host-local when it is built, else the reference one.
if [ -x "$CNI_BIN/host-local" ]; then export CNI_PATH=$CNI_BIN; else export CNI_PATH=$REF_CNI; fi
[ -x "$CNI_PATH/host-local" ] || skip_all "no host-local IPAM"
diag "IPAM from $CNI_PATH"

DATA=$(mktemp -d /tmp/bridge-test.XXXXXX); defer "rm -rf $DATA"
mystate() { { host_state; ip -br addr show 2>/dev/null | awk '{print $1, $3, $4, $5}'; } | grep -- "$T"; }
# Unique /24s for this run: 10.A.B.0/24 with A from $T, B per case.
A=$(( (0x${T:0:2} % 100) + 100 ))
n_case=0
subnet() { n_case=$((n_case + 1)); echo "10.$A.$(( (0x${T:2:2} + n_case * 7) % 250 )).0/24"; }
ipam_count() { ls "$DATA/$1" 2>/dev/null | grep -cE '^[0-9a-f.:]+$'; }

# conf VERSION NAME BRIDGE SUBNET [EXTRA-JSON]: a bridge config with host-local on SUBNET
conf() {
	jq -nc --arg v "$1" --arg n "$2" --arg b "$3" --arg s "$4" --arg d "$DATA" --argjson x "${5:-{\}}" \
		'{cniVersion:$v, name:$n, type:"bridge", bridge:$b, isGateway:true,
		  ipam:{type:"host-local", dataDir:$d, ranges:[[{subnet:$s}]], routes:[{dst:"0.0.0.0/0"}]}} * $x'
}
link_json() { if [ -n "${2:-}" ]; then ip -n "$2" -j -d link show "$1"; else ip -j -d link show "$1"; fi 2>/dev/null | jq -c '.[0]'; }
brname=br$T

# ---- every spec version: ADD, kernel state, packets, CHECK, DEL ---------------------------
for v in 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	vv=${v//./}
	a=ba$T$vv; b=bb$T$vv; net=bn$T$vv; br=b$T$vv; sn=$(subnet)
	mknetns "$a"; mknetns "$b"
	defer "ip link del $br"
	c=$(conf "$v" "$net" "$br" "$sn")
	out=$(cni "$BR" ADD ca$T "/run/netns/$a" eth0 <<<"$c"); rc=$?
	is "$rc" 0 "$v: ADD exits 0"
	[ $rc -eq 0 ] || diag "$out"
	is "$(jq -r .cniVersion <<<"$out")" "$v" "$v: result version"
	is "$(jq -r '[.interfaces[].name] | length' <<<"$out")" 3 "$v: three interfaces"
	is "$(jq -r '.interfaces[0].name' <<<"$out")" "$br" "$v: interfaces[0] is the bridge"
	hv=$(jq -r '.interfaces[1].name' <<<"$out")
	[[ $hv =~ ^veth[0-9a-f]{8}$ ]]; ok $? "$v: host veth named veth+8 hex ($hv)"
	is "$(jq -c '.interfaces[2] | [.name, .sandbox]' <<<"$out")" "[\"eth0\",\"/run/netns/$a\"]" "$v: interfaces[2] is eth0 in the sandbox"
	is "$(jq -r '.interfaces[0].mac' <<<"$out")" "$(link_json "$br" | jq -r .address)" "$v: bridge mac matches the kernel"
	is "$(jq -r '.interfaces[1].mac' <<<"$out")" "$(link_json "$hv" | jq -r .address)" "$v: host veth mac matches the kernel"
	is "$(jq -r '.interfaces[2].mac' <<<"$out")" "$(link_json eth0 "$a" | jq -r .address)" "$v: container mac matches the kernel"
	gw=${sn%.0/24}.1
	is "$(jq -c '.ips[0] | [.interface, .gateway]' <<<"$out")" "[2,\"$gw\"]" "$v: ips[0] on interface 2 with gateway $gw"
	case $v in 0.3.*|0.4.0) want=4 ;; *) want=null ;; esac
	is "$(jq -r '.ips[0].version' <<<"$out")" "$want" "$v: ips[0].version"
	ipa=$(jq -r '.ips[0].address' <<<"$out")
	is "$(ip -n "$a" -j addr show eth0 | jq -r '.[0].addr_info[] | select(.family=="inet") | "\(.local)/\(.prefixlen)"')" "$ipa" "$v: eth0 has $ipa"
	is "$(ip -n "$a" -j route show default | jq -r '.[0].gateway')" "$gw" "$v: default route via the gateway"
	is "$(link_json "$hv" | jq -r .master)" "$br" "$v: host veth is a port of $br"
	is "$(link_json "$br" | jq -r .linkinfo.info_kind)" bridge "$v: $br is a bridge"
	is "$(ip -j addr show "$br" | jq -r '.[0].addr_info[] | select(.family=="inet") | "\(.local)/\(.prefixlen)"')" "$gw/24" "$v: gateway address on the bridge"
	is "$(cat /proc/sys/net/ipv4/ip_forward)" 1 "$v: ip_forward on"
	is "$(ip netns exec "$a" cat /proc/sys/net/ipv6/conf/eth0/accept_dad)" 0 "$v: accept_dad=0 in the container"
	is "$(ip netns exec "$a" cat /proc/sys/net/ipv4/conf/eth0/arp_notify)" 1 "$v: arp_notify=1 in the container"
	is "$(link_json eth0 "$a" | jq -r .operstate)" UP "$v: eth0 is UP"

	outb=$(cni "$BR" ADD cb$T "/run/netns/$b" eth0 <<<"$c"); rc=$?
	is "$rc" 0 "$v: second container ADD"
	ipb=$(jq -r '.ips[0].address' <<<"$outb"); ipb=${ipb%/*}
	check "$v: container -> gateway ping" -- ip netns exec "$a" ping -c1 -W2 "$gw"
	check "$v: container -> container ping" -- ip netns exec "$a" ping -c1 -W2 "$ipb"
	is "$(ipam_count "$net")" 2 "$v: two IPAM reservations"

	if [ "$vv" -ge 040 ]; then
		cc=$(jq -c --argjson p "$out" '. + {prevResult: $p}' <<<"$c")
		cni "$BR" CHECK ca$T "/run/netns/$a" eth0 <<<"$cc" >/dev/null
		ok $? "$v: CHECK passes"
		ip -n "$a" route del default
		r=$(cni "$BR" CHECK ca$T "/run/netns/$a" eth0 <<<"$cc"); rc=$?
		is "$rc" 1 "$v: CHECK fails without the default route"
		ip -n "$a" route add default via "$gw"
		ip link set "$hv" nomaster
		r=$(cni "$BR" CHECK ca$T "/run/netns/$a" eth0 <<<"$cc"); rc=$?
		is "$rc" 1 "$v: CHECK fails when the veth left the bridge"
		ip link set "$hv" master "$br"
		ip -n "$a" addr del "$ipa" dev eth0
		r=$(cni "$BR" CHECK ca$T "/run/netns/$a" eth0 <<<"$cc"); rc=$?
		is "$rc" 1 "$v: CHECK fails without the address"
		ip -n "$a" addr add "$ipa" dev eth0
	fi

	cni "$BR" DEL ca$T "/run/netns/$a" eth0 <<<"$c" >/dev/null
	ok $? "$v: DEL exits 0"
	ip -n "$a" link show eth0 >/dev/null 2>&1; is $? 1 "$v: eth0 gone after DEL"
	ip link show "$hv" >/dev/null 2>&1; is $? 1 "$v: host veth gone after DEL"
	is "$(ipam_count "$net")" 1 "$v: IPAM reservation released"
	cni "$BR" DEL ca$T "/run/netns/$a" eth0 <<<"$c" >/dev/null
	ok $? "$v: second DEL exits 0"
	hvb=$(jq -r '.interfaces[1].name' <<<"$outb")
	ip netns del "$b"
	cni "$BR" DEL cb$T "/run/netns/$b" eth0 <<<"$c" >/dev/null
	ok $? "$v: DEL with the netns deleted exits 0"
	is "$(ipam_count "$net")" 0 "$v: its reservation released too"
	ip link show "$hvb" >/dev/null 2>&1; is $? 1 "$v: its host veth went with the netns"
	ip netns del "$a"; ip link del "$br"
done

# ---- options (1.0.0) ----------------------------------------------------------------------
v=1.0.0
ns=bo$T; mknetns "$ns"
# add_opt NAME EXTRA [CNI_ARGS]: ADD into $ns with a fresh bridge; sets $out $hv $br $net
add_opt() {
	br=o$T$1; net=on$T$1; sn=$(subnet); defer "ip link del $br"
	c=$(conf "$v" "$net" "$br" "$sn" "$2")
	out=$(cni "$BR" ADD co$T "/run/netns/$ns" eth0 "${3:-}" <<<"$c"); rc=$?
	is "$rc" 0 "$1: ADD exits 0"; [ $rc -eq 0 ] || diag "$out"
	hv=$(jq -r '.interfaces[1].name' <<<"$out")
}
del_opt() {
	cni "$BR" DEL co$T "/run/netns/$ns" eth0 "${1:-}" <<<"$c" >/dev/null; ok $? "DEL after $br"
	ip link del "$br" 2>/dev/null
}

add_opt hp '{"hairpinMode":true}'
is "$(bridge -j -d link show dev "$hv" | jq -r '.[0].hairpin')" true "hairpinMode: hairpin on the port"
del_opt
add_opt nohp '{}'
is "$(bridge -j -d link show dev "$hv" | jq -r '.[0].hairpin')" false "default: hairpin off"
is "$(bridge -j -d link show dev "$hv" | jq -r '.[0].isolated')" false "default: port not isolated"
is "$(link_json "$br" | jq -r '.flags | index("PROMISC") != null')" false "default: bridge not promiscuous"
del_opt
add_opt pr '{"promiscMode":true}'
is "$(link_json "$br" | jq -r '.flags | index("PROMISC") != null')" true "promiscMode: bridge promiscuous"
del_opt
add_opt iso '{"portIsolation":true}'
is "$(bridge -j -d link show dev "$hv" | jq -r '.[0].isolated')" true "portIsolation: port isolated"
del_opt
add_opt mtu '{"mtu":1400}'
is "$(link_json eth0 "$ns" | jq -r .mtu)" 1400 "mtu: container side 1400"
is "$(link_json "$hv" | jq -r .mtu)" 1400 "mtu: host side 1400"
is "$(link_json "$br" | jq -r .mtu)" 1400 "mtu: new bridge 1400"
del_opt
add_opt mac1 '{"runtimeConfig":{"mac":"02:00:00:aa:bb:01"},"args":{"cni":{"mac":"02:00:00:aa:bb:02"}}}' "IgnoreUnknown=1;MAC=02:00:00:aa:bb:03"
is "$(link_json eth0 "$ns" | jq -r .address)" 02:00:00:aa:bb:01 "mac: runtimeConfig.mac wins"
is "$(jq -r '.interfaces[2].mac' <<<"$out")" 02:00:00:aa:bb:01 "mac: in the result"
del_opt "IgnoreUnknown=1;MAC=02:00:00:aa:bb:03"
# IgnoreUnknown: host-local, like the reference, refuses a MAC= it does not know
add_opt mac2 '{"args":{"cni":{"mac":"02:00:00:aa:bb:02"}}}' "IgnoreUnknown=1;MAC=02:00:00:aa:bb:03"
is "$(link_json eth0 "$ns" | jq -r .address)" 02:00:00:aa:bb:02 "mac: args.cni.mac over CNI_ARGS"
del_opt "IgnoreUnknown=1;MAC=02:00:00:aa:bb:03"
add_opt mac3 '{}' "IgnoreUnknown=1;MAC=02:00:00:aa:bb:03"
is "$(link_json eth0 "$ns" | jq -r .address)" 02:00:00:aa:bb:03 "mac: CNI_ARGS MAC="
del_opt "IgnoreUnknown=1;MAC=02:00:00:aa:bb:03"
add_opt dgw '{"isGateway":false,"isDefaultGateway":true,"ipam":{"routes":[]}}'
is "$(ip -n "$ns" -j route show default | jq -r '.[0].gateway')" "${sn%.0/24}.1" "isDefaultGateway: default route added"
is "$(jq -c '.routes' <<<"$out")" "[{\"dst\":\"0.0.0.0/0\",\"gw\":\"${sn%.0/24}.1\"}]" "isDefaultGateway: route in the result"
is "$(ip -j addr show "$br" | jq -r '[.[0].addr_info[] | select(.family=="inet")] | length')" 1 "isDefaultGateway implies isGateway"
del_opt
add_opt dad '{"enabledad":true}'
is "$(ip netns exec "$ns" cat /proc/sys/net/ipv6/conf/eth0/accept_dad)" 1 "enabledad: accept_dad=1"
del_opt
# enabledad with IPv6: ADD returns once DAD is over (no tentative address left)
br=o${T}d6; net=on${T}d6; defer "ip link del $br"
c=$(jq -nc --arg b "$br" --arg n "$net" --arg s6 "fd${T:0:2}:${T:2:4}:1::/64" --arg d "$DATA" \
	'{cniVersion:"1.0.0",name:$n,type:"bridge",bridge:$b,isGateway:true,enabledad:true,
	  ipam:{type:"host-local",dataDir:$d,ranges:[[{subnet:$s6}]]}}')
out=$(cni "$BR" ADD co$T "/run/netns/$ns" eth0 <<<"$c"); is $? 0 "enabledad v6: ADD"
is "$(ip -n "$ns" -j addr show eth0 | jq -r '[.[0].addr_info[] | select(.tentative == true)] | length')" 0 "enabledad v6: no tentative address when ADD returns"
del_opt
add_opt nogw '{"isGateway":false}'
is "$(ip -j addr show "$br" | jq -r '[.[0].addr_info[] | select(.family=="inet")] | length')" 0 "isGateway false: no address on the bridge"
del_opt
add_opt masq '{"ipMasq":true,"macspoofchk":true,"ipMasqBackend":"nftables"}'
# in this test's own tables (keep_host_nft): the address masqueraded, the MAC pinned to the port
ip4=$(jget "$out" '.ips[0].address' | cut -d/ -f1)
nelems() { nft -j list set "$1" "$BERTH_NFT_TABLE" "$2" 2>/dev/null | jq -c '[.nftables[].set.elem // empty | .[]] | length'; }
is "$(nft -j list set inet "$BERTH_NFT_TABLE" masq4 | jq -r '.nftables[].set.elem // empty | .[] | .elem.val // .')" "$ip4" "ipMasq: the address in masq4"
is "$(nelems bridge mac_ok)" 1 "macspoofchk: one MAC pinned"
del_opt
is "$(nelems inet masq4)$(nelems bridge mac_ok)" 00 "ipMasq, macspoofchk: DEL removes the elements"
add_opt dns '{"dns":{"nameservers":["10.9.9.9"],"search":["example.test"]}}'
is "$(jq -c .dns <<<"$out")" '{"nameservers":["10.9.9.9"],"search":["example.test"]}' "dns from the config in the result"
del_opt
# L2 only: no IPAM
br=o${T}l2; defer "ip link del $br"
c="{\"cniVersion\":\"$v\",\"name\":\"l2$T\",\"type\":\"bridge\",\"bridge\":\"$br\"}"
out=$(cni "$BR" ADD co$T "/run/netns/$ns" eth0 <<<"$c"); is $? 0 "L2 only: ADD"
is "$(jq -c '[(.interfaces | length), (.ips // [] | length)]' <<<"$out")" "[3,0]" "L2 only: three interfaces, no ips"
is "$(link_json eth0 "$ns" | jq -r '.flags | index("UP") != null')" true "L2 only: eth0 up"
cni "$BR" DEL co$T "/run/netns/$ns" eth0 <<<"$c" >/dev/null; ok $? "L2 only: DEL"
c="{\"cniVersion\":\"$v\",\"name\":\"l2$T\",\"type\":\"bridge\",\"bridge\":\"$br\",\"disableContainerInterface\":true}"
out=$(cni "$BR" ADD co$T "/run/netns/$ns" eth0 <<<"$c"); is $? 0 "disableContainerInterface: ADD"
is "$(link_json eth0 "$ns" | jq -r '.flags | index("UP") != null')" false "disableContainerInterface: eth0 left down"
cni "$BR" DEL co$T "/run/netns/$ns" eth0 <<<"$c" >/dev/null; ok $? "disableContainerInterface: DEL"
ip link del "$br"

# dual stack
br=o${T}6; net=on${T}6; defer "ip link del $br"; sn=$(subnet)
v6=fd${T:0:2}:${T:2:4}::/64
c=$(jq -nc --arg b "$br" --arg n "$net" --arg s "$sn" --arg s6 "$v6" --arg d "$DATA" \
	'{cniVersion:"1.0.0",name:$n,type:"bridge",bridge:$b,isGateway:true,isDefaultGateway:true,
	  ipam:{type:"host-local",dataDir:$d,ranges:[[{subnet:$s}],[{subnet:$s6}]]}}')
out=$(cni "$BR" ADD co$T "/run/netns/$ns" eth0 <<<"$c"); is $? 0 "dual stack: ADD"
is "$(jq -r '.ips | length' <<<"$out")" 2 "dual stack: two ips"
is "$(jq -r '[.routes[].dst] | sort | join(",")' <<<"$out")" "0.0.0.0/0,::/0" "dual stack: default route per family"
a6=$(jq -r '.ips[1].address' <<<"$out")
is "$(ip -n "$ns" -j addr show eth0 | jq -r ".[0].addr_info[] | select(.local==\"${a6%/*}\") | (.tentative // false)")" false "dual stack: v6 address not tentative (no DAD)"
gw6=$(jq -r '.ips[1].gateway' <<<"$out")
check "dual stack: ping6 the gateway" -- ip netns exec "$ns" ping -6 -c1 -W2 "$gw6"
is "$(ip -n "$ns" -j -6 route show default | jq -r '.[0].gateway')" "$gw6" "dual stack: v6 default route"
is "$(cat /proc/sys/net/ipv6/conf/all/forwarding)" 1 "dual stack: v6 forwarding on"
del_opt

# forceAddress
br=o${T}fa; net=on${T}fa; defer "ip link del $br"; sn=$(subnet)
ip link add "$br" type bridge; ip addr add 192.0.2.1/24 dev "$br"
c=$(conf "$v" "$net" "$br" "$sn")
before=$(mystate)
out=$(cni "$BR" ADD co$T "/run/netns/$ns" eth0 <<<"$c"); rc=$?
is "$rc" 1 "bridge with another address: ADD fails"
case $(jq -r .msg <<<"$out") in *"already has an IP address"*) ok 0 "... saying so" ;; *) ok 1 "... saying so"; diag "$out" ;; esac
is "$(mystate)" "$before" "... host links and addresses unchanged"
ip -n "$ns" link show eth0 >/dev/null 2>&1; is $? 1 "... no eth0 left in the container"
is "$(ipam_count "$net")" 0 "... IPAM reservation released"
c=$(conf "$v" "$net" "$br" "$sn" '{"forceAddress":true}')
out=$(cni "$BR" ADD co$T "/run/netns/$ns" eth0 <<<"$c"); is $? 0 "forceAddress: ADD"
is "$(ip -j addr show "$br" | jq -r '[.[0].addr_info[] | select(.family=="inet") | .local] | join(",")')" "${sn%.0/24}.1" "forceAddress: address replaced"
del_opt

# ---- bad input: right code, host unchanged ---------------------------------------------
# After every refused ADD the runtime calls DEL, and retries it until it succeeds: DEL (twice)
# with the same input must succeed and leave the host, the container and the IPAM as they were.
ctrstate() { ip -n "$ns" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort; }
bad() { # bad DESC WANT-CODE CONF [IFNAME] [CNI_ARGS]
	local before after out rc cbefore i
	before=$(mystate); cbefore=$(ctrstate); local nb; nb=$(ipam_count bad$T)
	out=$(cni "$BR" ADD cx$T "/run/netns/$ns" "${4:-eth0}" "${5:-}" <<<"$3"); rc=$?
	if [ "$2" = "*" ]; then
		is "$rc/$(jq -r '.msg | length > 0' <<<"$out" 2>/dev/null)" "1/true" "$1: exit 1 with a message"
	else
		is "$rc/$(jq -r .code <<<"$out" 2>/dev/null)" "1/$2" "$1: exit 1, code $2"
	fi
	after=$(mystate)
	is "$after" "$before" "$1: host unchanged"
	is "$(ipam_count bad$T)" "$nb" "$1: no IPAM reservation left"
	for i in 1 2; do
		out=$(cni "$BR" DEL cx$T "/run/netns/$ns" "${4:-eth0}" "${5:-}" <<<"$3" 2>/dev/null)
		is "$?" 0 "$1: DEL $i after the refused ADD succeeds${out:+ ($out)}"
	done
	is "$(mystate)" "$before" "$1: host unchanged after the DELs"
	is "$(ctrstate)" "$cbefore" "$1: the container's interfaces unchanged after the DELs"
	is "$(ipam_count bad$T)" "$nb" "$1: IPAM unchanged after the DELs"
}
bbr=x$T; defer "ip link del $bbr"
sn=$(subnet)
bad "hairpin with promisc" 7 "$(conf $v bad$T $bbr $sn '{"hairpinMode":true,"promiscMode":true}')"
bad "vlan 4095" 7 "$(conf $v bad$T $bbr $sn '{"vlan":4095}')"
bad "vlan -1" 7 "$(conf $v bad$T $bbr $sn '{"vlan":-1}')"
bad "trunk minID > maxID" 7 "$(conf $v bad$T $bbr $sn '{"vlanTrunk":[{"minID":20,"maxID":10}]}')"
bad "trunk minID without maxID" 7 "$(conf $v bad$T $bbr $sn '{"vlanTrunk":[{"minID":20}]}')"
bad "trunk id 0" 7 "$(conf $v bad$T $bbr $sn '{"vlanTrunk":[{"id":0}]}')"
bad "ipam with disableContainerInterface" 7 "$(conf $v bad$T $bbr $sn '{"disableContainerInterface":true}')"
bad "mtu as a string" 7 "$(conf $v bad$T $bbr $sn '{"mtu":"big"}')"
bad "bad runtimeConfig mac" 7 "$(conf $v bad$T $bbr $sn '{"runtimeConfig":{"mac":"zz"}}')"
bad "bad CNI_ARGS MAC" 4 "$(conf $v bad$T $bbr $sn)" eth0 "IgnoreUnknown=1;MAC=nope"
bad "unknown CNI_ARGS key" 4 "$(conf $v bad$T $bbr $sn)" eth0 "FOO=1"
bad "bridge name too long" 7 "$(conf $v bad$T br0123456789abcdef $sn)"
bad "missing IPAM plugin" "*" "$(conf $v bad$T $bbr $sn '{"ipam":{"type":"nosuchipam"}}')"
bad "IPAM subnet invalid" "*" "$(conf $v bad$T $bbr 10.0.0.0/33)"
ip -n "$ns" link add eth7 type veth peer name eth8
bad "ifname already in the container" 999 "$(conf $v bad$T $bbr $sn)" eth7
ip -n "$ns" link del eth7
# DEL after an ADD that found the name taken by an interface that is not a veth: left alone
ip -n "$ns" link add eth7 type bridge
bad "ifname taken by a bridge in the container" 999 "$(conf $v bad$T $bbr $sn)" eth7
cni "$BR" DEL cx$T "/run/netns/$ns" eth7 <<<"$(conf $v bad$T $bbr $sn)" >/dev/null
ok $? "DEL after that failed ADD exits 0"
is "$(ip -n "$ns" -j -d link show eth7 | jq -r '.[0].linkinfo.info_kind')" bridge "and leaves the container's own eth7"
ip -n "$ns" link del eth7
# a link with the bridge's name that is not a bridge
ip link add "$bbr" type veth peer name y$T; defer "ip link del y$T"
bad "bridge name taken by a veth" 999 "$(conf $v bad$T $bbr $sn)"
ip link del "$bbr"
# DEL with a config that ADD refuses still removes what an earlier ADD (of the config as it was)
# made: the veth pair, the address reservation, the masquerade and MAC-check elements.  Also with
# the elements' state files gone (DEL then finds them in the kernel by their owner comment).
for lost in keep lose; do
	c=$(conf $v bdl$T $bbr $sn '{"ipMasq":true,"macspoofchk":true}')
	out=$(cni "$BR" ADD cd$T "/run/netns/$ns" eth0 <<<"$c"); is $? 0 "refused-config DEL ($lost state): the ADD before"
	hv=$(jget "$out" '.interfaces[1].name')
	[ "$lost" = lose ] && rm -rf "${BERTH_NFT_STATE_DIR:?}"/*
	cbad=$(jq -c '. + {hairpinMode:true, promiscMode:true, vlan:9999, ipMasq:"yes", mtu:"big"}' <<<"$c")
	out=$(cni "$BR" ADD cd2$T "/run/netns/$ns" eth1 <<<"$cbad"); is "$?/$(jget "$out" .code)" 1/7 "refused-config DEL ($lost state): ADD refuses the changed config"
	for i in 1 2; do
		cni "$BR" DEL cd$T "/run/netns/$ns" eth0 <<<"$cbad" >/dev/null; ok $? "refused-config DEL ($lost state): DEL $i with it succeeds"
	done
	ip -n "$ns" link show eth0 >/dev/null 2>&1; is $? 1 "refused-config DEL ($lost state): the container's eth0 is gone"
	ip link show "$hv" >/dev/null 2>&1; is $? 1 "refused-config DEL ($lost state): the host veth is gone"
	is "$(ipam_count bdl$T)" 0 "refused-config DEL ($lost state): the address is released"
	is "$(nelems inet masq4)$(nelems bridge mac_ok)" 00 "refused-config DEL ($lost state): masquerade and MAC-check elements removed"
done
ip link del "$bbr"

# IPAM exhausted: a /30 has one usable address after the gateway
sn30=10.$A.251.0/30
c=$(conf $v bad$T $bbr $sn30)
out=$(cni "$BR" ADD cy$T "/run/netns/$ns" eth0 <<<"$c"); is $? 0 "/30: first ADD takes the only address"
ns2=bo2$T; mknetns "$ns2"
before=$(mystate)
out2=$(cni "$BR" ADD cz$T "/run/netns/$ns2" eth0 <<<"$c"); rc=$?
is "$rc" 1 "/30: second ADD fails (range exhausted)"
is "$(mystate)" "$before" "/30: host unchanged after the failed ADD (veth removed)"
ip -n "$ns2" link show eth0 >/dev/null 2>&1; is $? 1 "/30: nothing left in the second container"
cni "$BR" DEL cy$T "/run/netns/$ns" eth0 <<<"$c" >/dev/null; ok $? "/30: DEL"
ip link del "$bbr"
# A failed ADD on a bridge it created removes the bridge too.
before=$(mystate)
out=$(cni "$BR" ADD cx$T "/run/netns/$ns" eth0 <<<"$(conf $v bad$T $bbr $sn '{"ipam":{"type":"nosuchipam"}}')")
ip link show "$bbr" >/dev/null 2>&1; is $? 1 "failed ADD removed the bridge it created"

# ---- podman fixtures -------------------------------------------------------------------
S=$BERTH_SRC/tests/data/podman-bridge
if [ -f "$S/pzb-ADD-bridge.stdin.json" ]; then
	pbr=pz$T; pnet=pz$T; sn=$(subnet); defer "ip link del $pbr"
	c=$(jq -c --arg b "$pbr" --arg n "$pnet" --arg s "$sn" --arg g "${sn%.0/24}.1" --arg d "$DATA" \
		'.bridge=$b | .name=$n | .ipam.ranges[0][0].subnet=$s | .ipam.ranges[0][0].gateway=$g | .ipam.dataDir=$d' \
		"$S/pzb-ADD-bridge.stdin.json")
	args=$(grep ^CNI_ARGS= "$S/pzb-ADD-bridge.env" | cut -d= -f2-)
	pns=pzn$T; mknetns "$pns"
	out=$(cni "$BR" ADD 3d91b755cce1$T "/run/netns/$pns" eth0 "$args" <<<"$c"); rc=$?
	is "$rc" 0 "podman pzb ADD exits 0"
	shape='def s: if type=="object" then with_entries(.value |= s) elif type=="array" then map(s) else type end; s'
	is "$(jq -c "$shape" <<<"$out")" "$(jq -c "$shape" "$S/pzb-ADD-bridge.stdout.json")" "podman pzb: result has the reference shape"
	is "$(jq -c '[.cniVersion, .ips[0].version, .ips[0].interface, .routes]' <<<"$out")" \
		"$(jq -c '[.cniVersion, .ips[0].version, .ips[0].interface, .routes]' "$S/pzb-ADD-bridge.stdout.json")" \
		"podman pzb: version, ips[].version, interface index and routes as the reference"
	is "$(bridge -j -d link show dev "$(jq -r '.interfaces[1].name' <<<"$out")" 2>/dev/null | jq -r '.[0].hairpin')" true "podman pzb: hairpin on"
	cc=$(jq -c --argjson p "$out" '. + {prevResult: $p}' <<<"$c")
	cni "$BR" CHECK 3d91b755cce1$T "/run/netns/$pns" eth0 "$args" <<<"$cc" >/dev/null; ok $? "podman pzb: CHECK"
	cni "$BR" DEL 3d91b755cce1$T "/run/netns/$pns" eth0 "$args" <<<"$cc" >/dev/null; ok $? "podman pzb: DEL with prevResult"
	is "$(ipam_count "$pnet")" 0 "podman pzb: reservation released"
	# static IP and MAC as podman passes them
	args=$(grep ^CNI_ARGS= "$S/static-ip-mac-ADD-bridge.env" | cut -d= -f2- | sed "s/IP=10.198.0.50/IP=${sn%.0/24}.50/")
	out=$(cni "$BR" ADD 4c8dc96fcc94$T "/run/netns/$pns" eth0 "$args" <<<"$c"); rc=$?
	is "$rc" 0 "podman static ip+mac ADD"
	is "$(jq -r '.ips[0].address' <<<"$out")" "${sn%.0/24}.50/24" "podman static ip+mac: the requested IP"
	is "$(link_json eth0 "$pns" | jq -r .address)" 02:42:0a:c6:00:32 "podman static ip+mac: the requested MAC"
	cni "$BR" DEL 4c8dc96fcc94$T "/run/netns/$pns" eth0 "$args" <<<"$c" >/dev/null; ok $? "podman static ip+mac: DEL"
else
	ok 1 "podman fixtures in $S"
fi

# ---- GC: host veths and IPAM reservations of attachments that are not valid -------------
gbr=g$T; gnet=gn$T; defer "ip link del $gbr"
c=$(conf 1.1.0 "$gnet" "$gbr" "$(subnet)")
mknetns g1$T; mknetns g2$T
o1=$(cni "$BR" ADD gc1$T /run/netns/g1$T eth0 <<<"$c"); o2=$(cni "$BR" ADD gc2$T /run/netns/g2$T eth0 <<<"$c")
h1=$(jq -r '.interfaces[1].name' <<<"$o1"); h2=$(jq -r '.interfaces[1].name' <<<"$o2")
is "$(link_json "$h1" | jq -r .ifalias)" "berth bridge $gnet gc1$T eth0" "host veth records its owner (ifalias)"
gcc=$(jq -c --arg id gc2$T '. + {"cni.dev/valid-attachments": [{containerID: $id, ifname: "eth0"}]}' <<<"$c")
cni "$BR" GC "" "" "" <<<"$gcc" >/dev/null; ok $? "GC exits 0"
ip link show "$h1" >/dev/null 2>&1; is $? 1 "GC removed the veth of the attachment that is not valid"
ip -n g1$T link show eth0 >/dev/null 2>&1; is $? 1 "... and its container end"
ip link show "$h2" >/dev/null 2>&1; is $? 0 "GC kept the valid attachment's veth"
if [ "$CNI_PATH" = "$CNI_BIN" ]; then # the reference host-local has no GC
	is "$(ipam_count "$gnet")" 1 "GC released the IPAM reservation of the other"
fi
cni "$BR" DEL gc2$T /run/netns/g2$T eth0 <<<"$c" >/dev/null; ok $? "DEL the valid one"

# ---- DEL returns once the veth pair is unlisted (the kernel's RCU wait goes on in a child) --
# Right after each DEL: no eth0 in the container, no host veth, no bridge port, and an ADD of
# the same name in the same netns succeeds (it would fail with "exists" if DEL had returned
# before the kernel unlisted the pair).
ns=br2$T; mknetns "$ns"
c=$(conf 1.0.0 rd$T rd$T "$(subnet)")
fails=0
for i in 1 2 3 4 5 6 7 8; do
	out=$(cni "$BR" ADD rd$T "/run/netns/$ns" eth0 <<<"$c") || { fails=$((fails + 1)); continue; }
	hv=$(jget "$out" '.interfaces[1].name')
	cni "$BR" DEL rd$T "/run/netns/$ns" eth0 <<<"$c" >/dev/null || fails=$((fails + 1))
	ip -n "$ns" link show eth0 >/dev/null 2>&1 && fails=$((fails + 1))
	ip link show "$hv" >/dev/null 2>&1 && fails=$((fails + 1))
	[ -z "$(ls /sys/class/net/rd$T/brif/)" ] || fails=$((fails + 1))
done
is "$fails" 0 "8 x ADD, DEL: after each DEL the pair and the bridge port are gone, the next ADD reuses eth0"
ip link del rd$T

# ---- STATUS and GC delegate to IPAM ---------------------------------------------------------
c=$(conf 1.1.0 st$T $bbr $(subnet))
cni "$BR" STATUS "" "" "" <<<"$c" >/dev/null; ok $? "STATUS succeeds with a working IPAM"
out=$(cni "$BR" STATUS "" "" "" <<<"$(jq -c '.ipam.type="nosuchipam"' <<<"$c")"); rc=$?
is "$rc" 1 "STATUS fails when the IPAM plugin is missing"
# with ipMasq/macspoofchk the nft tables must be usable too
cm=$(jq -c '. + {ipMasq:true, macspoofchk:true}' <<<"$c")
cni "$BR" STATUS "" "" "" <<<"$cm" >/dev/null; ok $? "STATUS with ipMasq and macspoofchk: ready"
out=$(env -i PATH="$PATH" CNI_COMMAND=STATUS CNI_PATH="$CNI_BIN" BERTH_NFT_TABLE="$BERTH_NFT_TABLE" \
	BERTH_NFT_STATE_DIR="$BERTH_NFT_STATE_DIR" setpriv --reuid=65534 --regid=65534 --clear-groups "$BR" <<<"$cm")
is "$?/$(jget "$out" .code)" 1/50 "STATUS with ipMasq where nf_tables cannot be used: not ready, code 50"
done_testing
