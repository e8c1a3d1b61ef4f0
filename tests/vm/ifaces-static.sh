#!/bin/bash
# vm-modules: dummy
# The static IPAM plugin in the VM (run by tests/integration/47-ifaces-vm.sh as
# `bash ifaces-static.sh CNI_DIR REF_DIR FAULT_DIR`): its output byte for byte the reference's
# for a few configs, and static as the IPAM of a real interface (our dummy plugin): the
# addresses, the gateway-less route through the address's gateway, DEL.  No jq (slow here).
CNI_DIR=$1 REF_DIR=$2
S=$CNI_DIR/static
source "$(dirname "${BASH_SOURCE[0]}")/lib-ifaces.bash"
cni() { # PLUGIN CMD NS IFNAME [CNI_ARGS] < conf
	env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID=c1 CNI_NETNS="${3:+/run/netns/$3}" \
		CNI_IFNAME="$4" CNI_ARGS="${5:-}" CNI_PATH="$CNI_DIR" "$1" 2>/dev/null
}
ip netns add st1
IPAM='{"type":"static","addresses":[{"address":"10.44.0.5/24","gateway":"10.44.0.1"},{"address":"fd44::5/64","gateway":"fd44::1"}],"routes":[{"dst":"0.0.0.0/0"},{"dst":"192.0.2.0/24","gw":"10.44.0.9"}],"dns":{"nameservers":["10.44.0.53"]}}'
if [ "$REF_DIR" != - ] && [ -x "$REF_DIR/static" ]; then
	for v in 0.2.0 0.4.0 1.0.0; do
		c="{\"cniVersion\":\"$v\",\"name\":\"sn\",\"ipam\":$IPAM}"
		is "$(cni "$S" ADD st1 eth0 <<<"$c")" "$(cni "$REF_DIR/static" ADD st1 eth0 <<<"$c")" "$v: the same output as the reference"
		# 0.2.0 refuses a second IPv4 address: code 1 here, 999 there (docs/static.md)
		[ $v = 0.2.0 ] && continue
		is "$(cni "$S" ADD st1 eth0 'IP=10.45.0.5/24;GATEWAY=10.45.0.1' <<<"$c")" \
			"$(cni "$REF_DIR/static" ADD st1 eth0 'IP=10.45.0.5/24;GATEWAY=10.45.0.1' <<<"$c")" \
			"$v: with CNI_ARGS IP and GATEWAY, the same output as the reference"
	done
else
	ok 1 "the reference static plugin is missing ($REF_DIR)"
fi
c="{\"cniVersion\":\"1.0.0\",\"name\":\"sn\",\"type\":\"dummy\",\"ipam\":$IPAM}"
cni "$CNI_DIR/dummy" ADD st1 net1 <<<"$c" >/dev/null; ok $? "dummy with static IPAM: ADD"
is "$(ip -n st1 -o addr show dev net1 scope global | awk '{print $4}' | sort | tr '\n' ' ')" "10.44.0.5/24 fd44::5/64 " \
	"the static addresses are on net1"
is "$(ip -n st1 -4 route show dev net1 | sed 's/ *$//' | sort | tr '\n' ';')" \
	"10.44.0.0/24 proto kernel scope link src 10.44.0.5;192.0.2.0/24 via 10.44.0.9;default via 10.44.0.1;" \
	"the static routes, the default through the address's gateway"
is "$(ip -n st1 -6 route show default | awk '{print $3}')" "" "no IPv6 default route (none configured)"
cni "$CNI_DIR/dummy" DEL st1 net1 <<<"$c" >/dev/null; ok $? "DEL"
ip -n st1 link show net1 >/dev/null 2>&1; is $? 1 "net1 is gone"
ip netns del st1
echo "1..$n"
