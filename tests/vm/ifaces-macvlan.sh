#!/bin/bash
# vm-modules: macvlan
# Runs INSIDE the VM (tests/integration/47-ifaces-vm.sh, or tests/vm/dm-vm.sh directly):
#   bash tests/vm/ifaces-macvlan.sh CNI_DIR REF_DIR FAULT_DIR
# macvlan on a stock Debian kernel: the master is a veth in a "host" netns of our own (the plugin
# runs there through ip netns exec), a peer netns on its other end; ADD with host-local for every
# mode, kernel state read back (ip's text output: jq is slow under TCG), pings between two
# containers and to the peer, CHECK, DEL, bad input, DEL without the netns; the same ADD through
# the reference for mode and MTU; a crash between create and rename cleaned up by DEL.
# Prints TAP ("ok N - ...", "# ...") and ends with the plan.
CNI=$1
REF=${2:--}
FAULT=${3:--}
source "$(dirname "${BASH_SOURCE[0]}")/lib-ifaces.bash"
H=vmh; P=vmp; C1=vmc1; C2=vmc2; D=/tmp/mvvm.$$
cleanup() { for x in $H $P $C1 $C2 vmgone; do ip netns del $x 2>/dev/null; done; rm -rf $D; }
trap cleanup EXIT
cleanup; mkdir -p $D
for x in $H $P $C1 $C2; do ip netns add $x; ip -n $x link set lo up; done
ip -n $H link add vmm type veth peer name eth0 netns $P
ip -n $H link set vmm up; ip -n $P link set eth0 up
ip -n $P addr add 10.44.0.1/24 dev eth0
cni() { # PLUGIN_DIR CMD ID NS [IFNAME] < conf
	ip netns exec $H env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID="$3" CNI_NETNS="/run/netns/$4" \
		CNI_IFNAME="${5:-eth0}" CNI_PATH="$1" ${BERTH_FAULT:+BERTH_FAULT="$BERTH_FAULT"} "$1/macvlan" 2>/dev/null
}
conf() { # EXTRA (a JSON fragment starting with a comma, or empty) [DATADIR]
	echo "{\"cniVersion\":\"1.0.0\",\"name\":\"vmn\",\"type\":\"macvlan\",\"master\":\"${MASTERNAME:-vmm}\"$1,\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"${2:-$D/ipam}\",\"ranges\":[[{\"subnet\":\"10.44.0.0/24\",\"rangeStart\":\"10.44.0.10\"}]]}}"
}
kind() { ip -n "$1" -d -o link show "${2:-eth0}" 2>/dev/null | sed -n 's/.* \(macvlan mode [a-z]*\) .*/\1/p'; }
mtu() { ip -n "$1" -o link show "${2:-eth0}" 2>/dev/null | sed -n 's/.* mtu \([0-9]*\) .*/\1/p'; }
addr4() { ip -n "$1" -o -4 addr show dev "${2:-eth0}" scope global 2>/dev/null | awk '{print $4}'; }
nlinks() { ip -n "$1" -o link show 2>/dev/null | grep -vc ': lo:'; }
held() { ls $D/ipam/vmn 2>/dev/null | grep -c '^10\.'; }

for mode in bridge private vepa passthru; do
	out=$(conf ",\"mode\":\"$mode\",\"mtu\":1400" | cni "$CNI" ADD m$mode $C1); ok $? "$mode: ADD"
	is "$(kind $C1)" "macvlan mode $mode" "$mode: kernel kind and mode"
	is "$(mtu $C1)" 1400 "$mode: mtu"
	case $(addr4 $C1) in 10.44.0.*/24) ok 0 "$mode: address" ;; *) ok 1 "$mode: address"; echo "# $out" ;; esac
	chk=$(conf ",\"mode\":\"$mode\",\"mtu\":1400" | sed "s|}\$|,\"prevResult\":$(echo $out | tr -d '\n')}|")
	echo "$chk" | cni "$CNI" CHECK m$mode $C1 >/dev/null; ok $? "$mode: CHECK"
	conf ",\"mode\":\"$mode\"" | cni "$CNI" DEL m$mode $C1 >/dev/null; ok $? "$mode: DEL"
	is "$(nlinks $C1):$(held)" "0:0" "$mode: nothing left"
done

conf "" | cni "$CNI" ADD p1 $C1 >/dev/null; ok $? "container 1 ADD"
conf "" | cni "$CNI" ADD p2 $C2 >/dev/null; ok $? "container 2 ADD"
a2=$(addr4 $C2); a2=${a2%/24}
ip netns exec $C1 ping -c1 -W3 "$a2" >/dev/null 2>&1; ok $? "ping container 1 -> container 2"
ip netns exec $C2 ping -c1 -W3 10.44.0.1 >/dev/null 2>&1; ok $? "ping container 2 -> the peer on the master's network"
conf "" | cni "$CNI" DEL p1 $C1 >/dev/null; ok $? "container 1 DEL"
conf "" | cni "$CNI" DEL p2 $C2 >/dev/null; ok $? "container 2 DEL"
conf "" | cni "$CNI" DEL p2 $C2 >/dev/null; ok $? "DEL again"

for bad in ',"mode":"nope"' ',"mtu":9000' nxvm ',"mac":"zz"'; do
	MASTERNAME=
	what=$bad
	[ "$bad" = nxvm ] && { MASTERNAME=nxvm; bad=; what="master nxvm"; }
	out=$(conf "$bad" | cni "$CNI" ADD bad $C1); rc=$?
	case "$rc:$out" in 1:*'"code": 7'*) ok 0 "bad $what: code 7" ;; *) ok 1 "bad $what: code 7"; echo "# $rc $(echo $out)" ;; esac
	out=$(conf "$bad" | cni "$CNI" DEL bad $C1); rc=$?; ok $rc "bad $what: DEL"; [ $rc = 0 ] || echo "# $(echo $out)"
	is "$(nlinks $C1):$(held):$(nlinks $H)" "0:0:1" "bad $what: nothing changed"
done
MASTERNAME=

ip netns add vmgone
conf "" | cni "$CNI" ADD g vmgone >/dev/null; ok $? "ADD into a netns about to go"
ip netns del vmgone
conf "" | cni "$CNI" DEL g vmgone >/dev/null; ok $? "DEL without the netns"
is "$(held)" 0 "address released"

if [ "$REF" != - ] && [ -x "$REF/macvlan" ]; then
	for impl in "$CNI" "$REF"; do
		conf ',"mode":"vepa","mtu":1300' $D/ipam-$n | cni "$impl" ADD r $C1 >/dev/null; ok $? "$impl: ADD vepa mtu 1300"
		echo "$(kind $C1) $(mtu $C1)" >>$D/cmp
		conf ',"mode":"vepa","mtu":1300' $D/ipam-$n | cni "$impl" DEL r $C1 >/dev/null
	done
	is "$(sort -u $D/cmp | wc -l):$(head -1 $D/cmp)" "1:macvlan mode vepa 1300" "same kernel state as the reference"
else
	echo "# no reference plugins: differential part not run"
fi

if [ "$FAULT" != - ] && [ -x "$FAULT/macvlan" ]; then
	conf "" | BERTH_FAULT=macvlan:sublink-after-create cni "$FAULT" ADD f $C1 >/dev/null; rc=$?
	is "$rc" 137 "FAULT build: ADD killed between create and rename"
	[ "$(nlinks $C1)" -ge 1 ]; ok $? "... leaving the link under its temporary name"
	conf "" | cni "$FAULT" DEL f $C1 >/dev/null; ok $? "DEL after the crash"
	is "$(nlinks $C1):$(held)" "0:0" "nothing left after the crash and DEL"
else
	echo "# no FAULT=1 build: crash part not run"
fi
echo "1..$n"
