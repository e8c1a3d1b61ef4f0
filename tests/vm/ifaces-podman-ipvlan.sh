#!/bin/bash
# vm-modules: veth ipvlan
# vm-tools: podman conmon crun
# vm-files: /etc/containers/policy.json /usr/share/containers
# Runs INSIDE the VM (tests/integration/47-ifaces-vm.sh, or tests/vm/dm-vm.sh directly):
#   bash tests/vm/ifaces-podman-ipvlan.sh CNI_DIR REF_DIR FAULT_DIR
# e2e with a real client (this host's kernel has no ipvlan): podman 4 (CNI backend,
# cni_plugin_dirs = CNI_DIR only, vfs storage, crun, cgroups disabled) creates an ipvlan network
# on a parent veth of our own whose other end is in a peer netns holding the parent network's
# first address; an image made here from the static busybox (podman import); two containers on
# the network ping each other and the peer; podman rm and network rm leave no ipvlan link, no
# netns and no host-local reservation.  Podman 4.3 refuses `-o parent=` for ipvlan ("unsupported
# network option parent": its CLI maps parent to the network's interface for macvlan only) and
# writes "master": "": the plugin then takes the interface of the default route, which this
# script points at the parent.  A podman that accepts the option gets it.  Prints TAP.
CNI=$1
source "$(dirname "${BASH_SOURCE[0]}")/lib-ifaces.bash"
# check NAME CMD...: the command succeeds (its output shown as diagnostics when it does not)
check() {
	local name=$1 out rc; shift
	out=$("$@" 2>&1); rc=$?
	ok $rc "$name"
	[ $rc -eq 0 ] || echo "$out" | tail -5 | sed 's/^/#   /'
	return $rc
}
W=/tmp/podipv.$$ PARENT=pipv0 PEER=pipvp NET=pipvnet SUB=10.44.0
cg=
cleanup() {
	podman rm -af -t0 >/dev/null 2>&1
	podman network rm -f $NET >/dev/null 2>&1
	ip route del default dev $PARENT 2>/dev/null
	ip link del $PARENT 2>/dev/null
	ip netns del $PEER 2>/dev/null
	rm -rf "$W" /var/lib/cni/networks/$NET
	[ -z "$cg" ] || umount /sys/fs/cgroup 2>/dev/null
}
trap cleanup EXIT
if ! command -v podman >/dev/null; then
	ok 1 "podman is in the VM (vm-tools)"
	echo "1..$n"; exit 1
fi
# crun insists on a cgroup file system on /sys/fs/cgroup even with cgroups disabled ("crun:
# invalid file system type on '/sys/fs/cgroup'")
if ! grep -q ' /sys/fs/cgroup ' /proc/mounts; then mount -t cgroup2 none /sys/fs/cgroup && cg=1; fi
mkdir -p $W/net.d $W/tmp $W/rootfs/bin $W/rootfs/tmp $W/rootfs/etc
# no_pivot_root: the VM's root is the initramfs, which pivot_root cannot leave ("crun: pivot_root:
# Invalid argument" without it)
cat >$W/containers.conf <<TOML
[containers]
cgroups = "disabled"
default_ulimits = ["nofile=1024:1024"]
[network]
network_backend = "cni"
cni_plugin_dirs = ["$CNI"]
network_config_dir = "$W/net.d"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "crun"
no_pivot_root = true
tmp_dir = "$W/tmp"
TOML
cat >$W/storage.conf <<TOML
[storage]
driver = "vfs"
graphroot = "$W/graph"
runroot = "$W/run"
TOML
export CONTAINERS_CONF=$W/containers.conf CONTAINERS_STORAGE_CONF=$W/storage.conf
echo "# $(podman --version)"

nl0=$(ip -o link show type ipvlan | wc -l) nn0=$(ls /run/netns 2>/dev/null | wc -l)
ip netns add $PEER
ip link add $PARENT type veth peer name eth0 netns $PEER
ip link set $PARENT up; ip -n $PEER link set eth0 up; ip -n $PEER link set lo up
ip -n $PEER addr add $SUB.1/24 dev eth0
ip route add default dev $PARENT

cp "$(command -v busybox)" $W/rootfs/bin/busybox
for a in sh ping sleep; do ln -s busybox $W/rootfs/bin/$a; done
tar -C $W/rootfs -cf $W/rootfs.tar .
check "podman import busybox" podman import $W/rootfs.tar localhost/bbipv:latest

out=$(podman network create -d ipvlan -o parent=$PARENT --subnet $SUB.0/24 --gateway $SUB.1 \
	--ip-range $SUB.64/26 $NET 2>&1); rc=$?
want=$PARENT
case $rc:$out in
*"unsupported network option parent"*)
	echo "# this podman refuses -o parent= for ipvlan ($out): the default route's interface is the master"
	want=
	out=$(podman network create -d ipvlan --subnet $SUB.0/24 --gateway $SUB.1 --ip-range $SUB.64/26 $NET 2>&1); rc=$?
	;;
esac
ok $rc "podman network create -d ipvlan"; [ $rc -eq 0 ] || echo "#   $out"
conf=$W/net.d/$NET.conflist
c=$(tr -d ' \n' <$conf 2>/dev/null)
case $c in *'"plugins":[{"type":"ipvlan","master":"'$want'",'*) ok 0 "podman wrote an ipvlan conflist, master \"$want\"" ;;
*) ok 1 "podman wrote an ipvlan conflist, master \"$want\""; echo "#   $(echo "$c" | cut -c1-300)" ;; esac

run() { podman run -d --name "$1" --network $NET --cap-add NET_RAW localhost/bbipv:latest sleep 3600; }
check "podman run a" run a
check "podman run b" run b
ipa=$(podman inspect a --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" 2>/dev/null)
ipb=$(podman inspect b --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" 2>/dev/null)
echo "# a=$ipa b=$ipb"
case $ipa in $SUB.*) [ "$ipa" != "$ipb" ] ;; *) false ;; esac; ok $? "two distinct addresses of the network"
sk=$(podman inspect a --format '{{.NetworkSettings.SandboxKey}}' 2>/dev/null)
info=$(ip netns exec "${sk##*/}" ip -d -o link show eth0 2>/dev/null)
case $info in *"ipvlan  mode l2 "*) ok 0 "a's eth0 is an ipvlan in mode l2" ;;
*) ok 1 "a's eth0 is an ipvlan in mode l2"; echo "#   $sk: $info" ;; esac
is "$(sed -n 's/^[0-9]*: eth0@if\([0-9]*\):.*/\1/p' <<<"$info")" \
	"$(ip -o link show $PARENT | cut -d: -f1)" "a's eth0 sits on our parent"
[ -e "/var/lib/cni/networks/$NET/.berth" ]; ok $? "the addresses come from our host-local (its .berth state)"
check "a pings b" podman exec a ping -c1 -W5 "$ipb"
check "b pings a" podman exec b ping -c1 -W5 "$ipa"
check "a pings the peer on the parent's network" podman exec a ping -c1 -W5 $SUB.1
check "b pings the peer on the parent's network" podman exec b ping -c1 -W5 $SUB.1
check "the peer pings a" ip netns exec $PEER ping -c1 -W5 "$ipa"

check "podman rm -f a b" podman rm -f -t0 a b
is "$(ls /var/lib/cni/networks/$NET 2>/dev/null | grep -c '^10\.')" 0 "removal leaves no host-local reservation"
is "$(ip -o link show type ipvlan | wc -l) $(ls /run/netns | grep -vc "^$PEER\$")" "$nl0 $nn0" "removal leaves no ipvlan link and no netns"
check "podman network rm" podman network rm -f $NET
[ ! -e $conf ]; ok $? "the conflist is gone"
echo "1..$n"
