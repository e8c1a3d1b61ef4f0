#!/bin/bash
# vm-modules: tun
# tap inside the ifaces VM (stock Debian kernel), run as
#   bash tests/vm/ifaces-tap.sh CNI_DIR REF_DIR FAULT_DIR
# (REF_DIR is unused: Debian's 1.1.1 has no tap plugin; FAULT_DIR may be "-").  A multi-queue
# tap with owner, group, MTU and MAC in a container netns, read back with `ip -d`; DEL; DEL
# after the netns died; a kill before the tap is made persistent leaves no tap.  Prints TAP.
P=$1/tap
FB=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib-ifaces.bash"
cni() { # PLUGIN CMD ID NS < conf
	(env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID="$3" CNI_NETNS="/run/netns/$4" \
		CNI_IFNAME=tap0 CNI_PATH="$(dirname "$1")" \
		${BERTH_FAULT:+BERTH_FAULT="$BERTH_FAULT"} "$1" 2>/dev/null; r=$?; exit $r) 2>/dev/null
}
[ -c /dev/net/tun ] || { mkdir -p /dev/net; mknod /dev/net/tun c 10 200; }
conf='{"cniVersion":"1.1.0","name":"tv","type":"tap","multiQueue":true,"owner":4242,"group":4343,"mtu":1400,"mac":"02:70:00:00:00:01","ipam":{"type":"host-local","dataDir":"/tmp/tapvm-ipam","ranges":[[{"subnet":"10.72.0.0/24"}]]}}'
ip netns add tc1
cni "$P" ADD a tc1 <<<"$conf" >/dev/null; ok $? "ADD"
d=$(ip -n tc1 -d -o link show tap0 2>/dev/null)
for w in "mtu 1400" "02:70:00:00:00:01" "tun type tap" "multi_queue" "persist on" "user 4242" "group 4343"; do
	case $d in *"$w"*) ok 0 "the tap has $w" ;; *) ok 1 "the tap has $w"; echo "# $d" ;; esac
done
ip -n tc1 -o addr show dev tap0 | grep -q '10.72.0.'; ok $? "the IPAM address is on it"
cni "$P" DEL a tc1 <<<"$conf" >/dev/null; ok $? "DEL"
! ip -n tc1 link show tap0 >/dev/null 2>&1; ok $? "the tap is gone"
cni "$P" ADD b tc1 <<<"$conf" >/dev/null; ok $? "ADD before the netns dies"
ip netns del tc1
cni "$P" DEL b tc1 <<<"$conf" >/dev/null; ok $? "DEL after the netns died"
is "$(ls /tmp/tapvm-ipam/tv 2>/dev/null | grep -c '^10\.')" 0 "no address left reserved"
if [ "$FB" != - ] && [ -x "$FB/tap" ]; then
	ip netns add tc1
	BERTH_FAULT=tap-before-persist cni "$FB/tap" ADD k tc1 <<<"$conf" >/dev/null; is $? 137 "FAULT build: ADD killed before persist"
	! ip -n tc1 link show tap0 >/dev/null 2>&1; ok $? "FAULT build: no tap left"
	cni "$FB/tap" DEL k tc1 <<<"$conf" >/dev/null; ok $? "FAULT build: DEL"
	ip netns del tc1
fi
rm -rf /tmp/tapvm-ipam
echo "1..$n"
