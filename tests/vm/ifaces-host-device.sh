#!/bin/bash
# vm-modules: dummy
# host-device inside the ifaces VM (stock Debian kernel), run as
#   bash tests/vm/ifaces-host-device.sh CNI_DIR REF_DIR FAULT_DIR
# (REF_DIR/FAULT_DIR may be "-").  A dummy link of the VM's own netns goes into a container and
# back: address, route and up state restored; DEL after the netns died (a dummy dies with it);
# the reference's ADD undone by our DEL; a kill after the move, then DEL.  Prints TAP.
P=$1/host-device
REF=$2
FB=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib-ifaces.bash"
ST=/tmp/hdvm-state
cni() { # PLUGIN CMD ID NS < conf
	(env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID="$3" CNI_NETNS="/run/netns/$4" \
		CNI_IFNAME=eth0 CNI_PATH="$(dirname "$1")" BERTH_HOSTDEV_STATE_DIR=$ST \
		${BERTH_FAULT:+BERTH_FAULT="$BERTH_FAULT"} "$1" 2>/dev/null; r=$?; exit $r) 2>/dev/null
}
mkdev() { ip link add hdv0 type dummy; ip addr add 10.70.0.2/24 dev hdv0; ip link set hdv0 up; ip route add 10.71.0.0/16 via 10.70.0.1 dev hdv0; }
state() { ip -o link show hdv0 2>/dev/null | grep -o 'state [A-Z]*\|,UP'; ip -o addr show dev hdv0 scope global 2>/dev/null | awk '{print $4}'; ip route show dev hdv0 2>/dev/null; }
conf='{"cniVersion":"1.0.0","name":"hv","type":"host-device","device":"hdv0","ipam":{"type":"host-local","dataDir":"/tmp/hdvm-ipam","ranges":[[{"subnet":"10.70.0.0/24","rangeStart":"10.70.0.5","rangeEnd":"10.70.0.5"}]]}}'
mkdev
want=$(state)
ip netns add hc1
out=$(cni "$P" ADD a hc1 <<<"$conf"); ok $? "ADD"
ip -n hc1 -o addr show dev eth0 | grep -q '10.70.0.5/24'; ok $? "the dummy is eth0 in the container, with the IPAM address"
! ip link show hdv0 >/dev/null 2>&1; ok $? "... and gone from the VM's netns"
cni "$P" DEL a hc1 <<<"$conf" >/dev/null; ok $? "DEL"
is "$(state)" "$want" "DEL restored the name, up state, address and route"
cni "$P" DEL a hc1 <<<"$conf" >/dev/null; ok $? "DEL again"
cni "$P" ADD b hc1 <<<"$conf" >/dev/null; ok $? "ADD before the netns dies"
ip netns del hc1
cni "$P" DEL b hc1 <<<"$conf" >/dev/null; ok $? "DEL after the netns died (the dummy died with it)"
is "$(ls $ST/hv 2>/dev/null)" "" "no state file left"
mkdev
ip netns add hc1
if [ "$REF" != - ] && [ -x "$REF/host-device" ]; then
	c2='{"cniVersion":"1.0.0","name":"hr","type":"host-device","device":"hdv0"}'
	env -i PATH="$PATH" CNI_COMMAND=ADD CNI_CONTAINERID=r CNI_NETNS=/run/netns/hc1 CNI_IFNAME=eth0 CNI_PATH="$REF" "$REF/host-device" <<<"$c2" >/dev/null 2>&1
	ok $? "reference ADD"
	cni "$P" DEL r hc1 <<<"$c2" >/dev/null; ok $? "our DEL of the reference's ADD"
	ip link show hdv0 >/dev/null 2>&1; ok $? "... brought the dummy back under its name"
	ip link del hdv0; mkdev
fi
if [ "$FB" != - ] && [ -x "$FB/host-device" ]; then
	BERTH_FAULT=host-device-after-move cni "$FB/host-device" ADD k hc1 <<<"$conf" >/dev/null; is $? 137 "FAULT build: ADD killed after the move"
	cni "$FB/host-device" DEL k hc1 <<<"$conf" >/dev/null; ok $? "FAULT build: DEL"
	is "$(state)" "$want" "FAULT build: all restored"
fi
ip netns del hc1; ip link del hdv0 2>/dev/null; rm -rf $ST /tmp/hdvm-ipam
echo "1..$n"
