#!/bin/bash
# Differential: the same config and environment through our bridge (+ our host-local when
# built) and the reference /usr/lib/cni/bridge + host-local, one after the other on the same
# names and subnet; the result JSON (MACs and the random veth name aside) and the kernel state
# they leave (addresses, routes, bridge and port attributes, sysctls) must be the same.
source "$(dirname "$0")/../lib.sh"
need_root
keep_host_nft
BR=$CNI_BIN/bridge
[ -x "$BR" ] || skip_all "bridge not built"
[ -x "$REF_CNI/bridge" ] && [ -x "$REF_CNI/host-local" ] || skip_all "no reference plugins in $REF_CNI"
OURS_PATH=$CNI_BIN; [ -x "$CNI_BIN/host-local" ] || OURS_PATH=$REF_CNI
diag "our IPAM from $OURS_PATH"

DATA=$(mktemp -d /tmp/bridge-diff.XXXXXX); defer "rm -rf $DATA"
ns=d$T; br=d$T; net=dn$T
defer "ip netns del $ns"; defer "ip link del $br"
A=$(( (0x${T:0:2} % 100) + 100 )); B=$(( 0x${T:2:2} % 200 + 20 ))
sn=10.$A.$B.0/24; sn6=fd${T:0:2}:${T:2:4}:${T:0:4}::/64

norm_result() {
	jq -S '(.interfaces // []) |= map(
	         (if (.mac // "" | test("^([0-9a-f]{2}:){5}[0-9a-f]{2}$")) then .mac = "MAC" else . end)
	       | (if (.name | test("^veth[0-9a-f]{8}$")) then .name = "VETH" else . end))'
}
sysctls() { # in the container
	# (not keep_addr_on_down: upstream sets it for IPv6 since v1.7, the reference here is older)
	for k in ipv6/conf/eth0/accept_dad ipv4/conf/eth0/arp_notify \
		 ipv6/conf/eth0/disable_ipv6 ipv6/conf/lo/disable_ipv6; do
		printf '%s=%s\n' "$k" "$(ip netns exec "$ns" cat /proc/sys/net/$k 2>/dev/null)"
	done
}
state() { # STATE OF EVERYTHING ONE ADD TOUCHES, normalised
	local hv=$1
	echo "## container eth0"
	ip -n "$ns" -j -d link show eth0 2>/dev/null | jq -c '.[0] | {mtu, flags, kind: .linkinfo.info_kind, txqlen}'
	ip -n "$ns" -j addr show eth0 2>/dev/null | jq -c '[.[0].addr_info[] | select(.scope=="global") | {family, local, prefixlen, broadcast}] | sort_by(.local)'
	echo "## container routes"
	{ ip -n "$ns" -j -4 route show table all; ip -n "$ns" -j -6 route show table all; } 2>/dev/null |
		jq -c '.[] | select((.type // "unicast") == "unicast" and (.table // "main") == "main" and ((.dst // "") | startswith("fe80") | not)) | {dst, gateway, dev, protocol, scope, metric}' | sort
	echo "## container sysctls"; sysctls
	echo "## bridge"
	ip -j -d link show "$br" 2>/dev/null | jq -c '.[0] | {mtu, flags, kind: .linkinfo.info_kind, vlan_filtering: .linkinfo.info_data.vlan_filtering}'
	ip -j addr show "$br" 2>/dev/null | jq -c '[.[0].addr_info[] | select(.scope=="global") | {family, local, prefixlen, broadcast}] | sort_by(.local)'
	echo "## host veth"
	if [ -n "$hv" ]; then
		ip -j -d link show "$hv" 2>/dev/null | jq -c '.[0] | {mtu, master, kind: .linkinfo.info_kind, txqlen}'
		bridge -j -d link show dev "$hv" 2>/dev/null | jq -c '.[0] | {hairpin, isolated, guard, learning, flood}'
	fi
	echo "## host"; echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
}

# run IMPL EXTRA VERSION [CNI_ARGS]: fresh netns, bridge and IPAM dir; ADD, state, DEL, state
run() {
	local impl=$1 x=$2 v=$3 args=${4:-} plugin path c out hv
	if [ "$impl" = ref ]; then plugin=$REF_CNI/bridge; path=$REF_CNI; else plugin=$BR; path=$OURS_PATH; fi
	rm -rf "${DATA:?}/$impl"; ip netns del "$ns" 2>/dev/null; ip link del "$br" 2>/dev/null
	ip netns add "$ns"; ip -n "$ns" link set lo up
	c=$(jq -nc --arg v "$v" --arg n "$net" --arg b "$br" --arg s "$sn" --arg d "$DATA/$impl" --argjson x "$x" \
		'{cniVersion:$v, name:$n, type:"bridge", bridge:$b, isGateway:true,
		  ipam:{type:"host-local", dataDir:$d, ranges:[[{subnet:$s}]], routes:[{dst:"0.0.0.0/0"}]}} * $x')
	out=$(CNI_PATH=$path cni "$plugin" ADD c$T "/run/netns/$ns" eth0 "$args" <<<"$c")
	echo "rc=$?"
	norm_result <<<"$out"
	hv=$(jq -r '.interfaces[1].name // empty' <<<"$out" 2>/dev/null)
	state "$hv"
	echo "## after DEL"
	CNI_PATH=$path cni "$plugin" DEL c$T "/run/netns/$ns" eth0 "$args" <<<"$c"
	echo "rc=$?"
	state ""
	ls "$DATA/$impl/$net" 2>/dev/null | grep -cE '^[0-9a-f.:]+$'
	ip netns del "$ns"; ip link del "$br" 2>/dev/null
}

compare() { # compare DESC EXTRA VERSION [CNI_ARGS]
	local ref ours
	ref=$(run ref "$2" "$3" "${4:-}" 2>&1)
	ours=$(run ours "$2" "$3" "${4:-}" 2>&1)
	if [ "$ref" = "$ours" ]; then
		ok 0 "$1 ($3): same result and kernel state"
	else
		ok 1 "$1 ($3): same result and kernel state"
		diff <(echo "$ref") <(echo "$ours") | sed 's/^/#   /' | head -30
	fi
	# The comparison must be able to fail: our side really produced an interface.
	case $ours in *'"name": "eth0"'*) ;; *) ok 1 "$1 ($3): our ADD produced eth0"; echo "$ours" | sed 's/^/#   /' | head ;; esac
}

for v in 0.3.0 0.3.1 0.4.0 1.0.0; do
	compare "defaults" '{}' "$v"
done
v=1.0.0
compare "hairpinMode" '{"hairpinMode":true}' $v
compare "promiscMode" '{"promiscMode":true}' $v
compare "mtu 1400" '{"mtu":1400}' $v
compare "isDefaultGateway without IPAM routes" '{"isDefaultGateway":true,"ipam":{"routes":[]}}' $v
compare "isGateway false" '{"isGateway":false}' $v
compare "runtimeConfig mac" '{"runtimeConfig":{"mac":"02:00:00:11:22:33"}}' $v
compare "CNI_ARGS MAC" '{}' $v "IgnoreUnknown=1;MAC=02:00:00:11:22:44"
compare "enabledad" '{"enabledad":true}' $v
compare "dns" '{"dns":{"nameservers":["10.1.1.1"],"domain":"x.test","search":["a.test"],"options":["ndots:2"]}}' $v
compare "L2 only" '{"ipam":null}' $v
compare "dual stack" "{\"isDefaultGateway\":true,\"ipam\":{\"routes\":[],\"ranges\":[[{\"subnet\":\"$sn\"}],[{\"subnet\":\"$sn6\"}]]}}" $v
compare "route attributes" '{"ipam":{"routes":[{"dst":"192.0.2.0/24"},{"dst":"198.51.100.0/24","gw":"'"${sn%.0/24}"'.9"}]}}' $v
done_testing
