#!/bin/bash
# vm-modules: veth 8021q
# The vlan plugin inside the stock-kernel VM (this host's kernel has no 802.1q).
# bash tests/vm/ifaces-vlan.sh CNI_DIR REF_DIR FAULT_DIR (REF_DIR/FAULT_DIR may be "-").
# The plugin runs in the VM's own netns (the "host": master vlm0, whose veth peer p0 in netns N carries the
# VLANs' other ends: p0.100 10.31.0.1/24, p0.200 10.32.0.1/24, N routes between them).  Every
# spec version: ADD/CHECK/DEL with the kernel state read back (vlan id, mtu); ping to N and,
# routed by N, between containers on two VLANs; dns; linkInContainer; rollback after IPAM; DEL
# without the netns; 64 parallel ADDs (one VLAN each) then DELs; a differential run against the
# reference; crash injection.  Prints TAP.
D=$1 REF=$2 FD=$3
P=$D/vlan
source "$(dirname "${BASH_SOURCE[0]}")/lib-ifaces.bash"
# conf VERSION DATADIR VLAN NET EXTRA: host-local on 10.NET.0.0/24 (from .10), default route via .1
conf() {
	echo "{\"cniVersion\":\"$1\",\"name\":\"vln\",\"type\":\"vlan\",\"master\":\"vlm0\",\"vlanId\":$3$5,\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.$4.0.0/24\",\"rangeStart\":\"10.$4.0.10\",\"gateway\":\"10.$4.0.1\",\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dataDir\":\"/tmp/ipam-$2\"}}"
}
ips_held() { ls "/tmp/ipam-$1/vln" 2>/dev/null | grep -c '^10\.'; }

ip netns add N
ip link set lo up; ip -n N link set lo up
ip link add vlm0 type veth peer name p0 netns N
ip link set vlm0 up; ip -n N link set p0 up
for v in 100 200; do
	ip -n N link add link p0 name p0.$v type vlan id $v; ip -n N link set p0.$v up
done
ip -n N addr add 10.31.0.1/24 dev p0.100; ip -n N addr add 10.32.0.1/24 dev p0.200
ip netns exec N sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
M0=$(ip -o link show vlm0 | cut -d: -f1)

# ---- every spec version ----
i=0
for v in 0.1.0 0.2.0 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	i=$((i + 1)); ns=v$i; ip netns add $ns
	out=$(cni "$P" ADD $ns <<<"$(conf $v v 100 31)"); rc=$?
	is "$rc" 0 "$v: ADD succeeds"
	has "$out" "\"cniVersion\": \"$v\"" "$v: result in $v"
	has "$out" "10.31.0.1" "$v: result has the address and gateway"
	k=$(ip -n $ns -d -o link show eth0)
	has "$k" "vlan protocol 802.1Q id 100 " "$v: eth0 is a vlan with id 100"
	has "$k" "eth0@if$M0:" "$v: on master m0"
	has "$(ip -n $ns -o addr show dev eth0)" "inet 10.31.0.1" "$v: eth0 has its address"
	ip netns exec $ns ping -c1 -W2 10.31.0.1 >/dev/null 2>&1; ok $? "$v: eth0 reaches the VLAN's other end"
	if [ $v = 0.4.0 ] || [ $v = 1.0.0 ] || [ $v = 1.1.0 ]; then
		c=$(conf $v v 100 31 | sed "s|}}\$|},\"prevResult\":$(echo "$out" | tr -d '\n')}|")
		cni "$P" CHECK $ns <<<"$c" >/dev/null; ok $? "$v: CHECK passes"
		o=$(cni "$P" CHECK $ns <<<"$(echo "$c" | sed 's/"vlanId":100/"vlanId":101/')"); rc=$?
		has "$rc $o" "has VLAN ID 100, the config 101" "$v: CHECK notices another VLAN id"
		o=$(cni "$P" CHECK $ns <<<"$(echo "$c" | sed 's/"vlanId":100/"vlanId":100,"mtu":1400/')"); rc=$?
		has "$rc $o" "configured MTU of eth0 is 1400, current value is 1500" "$v: CHECK notices another mtu"
	fi
	cni "$P" DEL $ns <<<"$(conf $v v 100 31)" >/dev/null; ok $? "$v: DEL succeeds"
	is "$(links $ns)" "lo " "$v: eth0 is gone"
	cni "$P" DEL $ns <<<"$(conf $v v 100 31)" >/dev/null; ok $? "$v: second DEL succeeds"
	ip netns del $ns
done
is "$(ips_held v)" 0 "every address went back to IPAM"

# ---- mtu, dns, STATUS ----
ip netns add M
out=$(cni "$P" ADD M <<<"$(conf 1.0.0 m 100 31 ',"mtu":1400,"dns":{"nameservers":["10.1.1.1"],"search":["example.org"]}')"); rc=$?
is "$rc" 0 "mtu 1400 and dns: ADD succeeds"
has "$(ip -n M -d -o link show eth0)" "mtu 1400 " "mtu 1400 read back"
has "$(echo "$out" | tr -d ' \n')" '"dns":{"nameservers":["10.1.1.1"],"search":["example.org"]}' "the config's dns is in the result"
cni "$P" DEL M <<<"$(conf 1.0.0 m 100 31)" >/dev/null; ok $? "mtu: DEL succeeds"
ip netns del M
cni "$P" STATUS "" <<<"$(conf 1.1.0 m 100 31)" >/dev/null; ok $? "STATUS: the kernel can create vlan links, m0 exists"
o=$(cni "$P" STATUS "" <<<"$(conf 1.1.0 m 100 31 | sed 's/"vlm0"/"nosuch0"/')"); has "$o" '"code": 50' "STATUS: a master that does not exist is code 50"

# ---- containers on two VLANs: ping each other (routed by N) ----
ip netns add A; ip netns add B
cni "$P" ADD A eth0 a <<<"$(conf 1.0.0 p 100 31)" >/dev/null; ra=$?
cni "$P" ADD B eth0 b <<<"$(conf 1.0.0 p2 200 32)" >/dev/null; rb=$?
is "$ra $rb" "0 0" "two containers on VLANs 100 and 200: both ADDs succeed"
has "$(ip -n B -d -o link show eth0)" "id 200 " "container B's eth0 is on VLAN 200"
ipb=$(ip -n B -o -4 addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
ip netns exec A ping -c1 -W2 "$ipb" >/dev/null 2>&1; ok $? "container A (VLAN 100) pings container B (VLAN 200, $ipb)"
o=$(cni "$P" ADD B eth1 b2 <<<"$(conf 1.0.0 p2 200 32)"); rc=$?
has "$rc $o" "failed to create vlan" "a second link of VLAN 200 on m0 is refused by the kernel"
is "$(links B) $(ips_held p2)" "eth0 lo  1" "and that ADD left no link and no address"
cni "$P" DEL A eth0 a <<<"$(conf 1.0.0 p 100 31)" >/dev/null; ra=$?
cni "$P" DEL B eth0 b <<<"$(conf 1.0.0 p2 200 32)" >/dev/null; rb=$?
is "$ra $rb $(links A)$(links B)$(ips_held p)$(ips_held p2)" "0 0 lo lo 00" "two containers: both DELs succeed, links and addresses gone"

# ---- linkInContainer ----
ip netns add L
ip -n L link add lm0 type veth peer name lp0 netns N; ip -n L link set lm0 up; ip -n N link set lp0 up
c=$(conf 1.0.0 l 100 31 ',"linkInContainer":true' | sed 's/"vlm0"/"lm0"/')
cni "$P" ADD L <<<"$c" >/dev/null; ok $? "linkInContainer: ADD succeeds"
has "$(ip -n L -d -o link show eth0)" "eth0@lm0:" "linkInContainer: eth0 sits on the container's lm0"
cni "$P" DEL L <<<"$c" >/dev/null; ok $? "linkInContainer: DEL succeeds"
is "$(links L)" "lm0 lo " "linkInContainer: eth0 is gone, lm0 stays"

# ---- a failure after IPAM undoes everything; DEL without the netns ----
ip netns add F
c=$(conf 1.0.0 f 300 33 | sed 's|"routes":\[{"dst":"0.0.0.0/0"}\]|"routes":[{"dst":"192.0.2.0/24","gw":"10.99.0.1"}]|')
o=$(cni "$P" ADD F <<<"$c"); rc=$?
has "$rc $o" "failed to add route" "an unreachable route gateway fails the ADD"
is "$(links F)" "lo " "the failed ADD left no link"
is "$(ips_held f)" 0 "the failed ADD released its address"
ip netns add G
cni "$P" ADD G <<<"$(conf 1.0.0 g 300 33)" >/dev/null
ip netns del G
cni "$P" DEL G <<<"$(conf 1.0.0 g 300 33)" >/dev/null; ok $? "DEL after the netns is gone succeeds"
is "$(ips_held g)" 0 "and releases the address"
cni "$P" DEL G <<<"$(conf 1.0.0 g 300 33 | sed 's/"vlm0"/"gone0"/')" >/dev/null; ok $? "DEL with a master that is gone succeeds"

# ---- parallel ADDs then DELs (one VLAN each: the kernel allows one link per id and master) ----
NP=${IFACES_PARALLEL:-16} # 64 takes minutes under TCG on a loaded host; IFACES_PARALLEL=64 for the full run
for j in $(seq 1 $NP); do ip netns add q$j; done
for j in $(seq 1 $NP); do cni "$P" ADD q$j eth0 q$j <<<"$(conf 1.0.0 q $((1000 + j)) 40)" >/dev/null & done; wait
good=0; for j in $(seq 1 $NP); do ip -n q$j -d -o link show eth0 2>/dev/null | grep -q "id $((1000 + j)) " && ip -n q$j -o -4 addr show dev eth0 | grep -q 'inet 10.40' && good=$((good + 1)); done
is "$good" "$NP" "$NP parallel ADDs: every container has its VLAN and an address"
is "$(for j in $(seq 1 $NP); do ip -n q$j -o -4 addr show dev eth0 2>/dev/null | awk '{print $4}'; done | sort -u | wc -l)" "$NP" "$NP parallel ADDs: no address twice"
for j in $(seq 1 $NP); do cni "$P" DEL q$j eth0 q$j <<<"$(conf 1.0.0 q $((1000 + j)) 40)" >/dev/null & done; wait
left=0; for j in $(seq 1 $NP); do [ "$(links q$j)" = "lo " ] || left=$((left + 1)); ip netns del q$j; done
is "$left" 0 "$NP parallel DELs: every eth0 is gone"
is "$(ips_held q)" 0 "$NP parallel DELs: every address released"

# ---- differential against the reference plugin, crash injection (tests/vm/lib-ifaces.bash) ----
zconf() { conf "$1" "$2" 100 31 "$3"; } # VERSION DATADIR EXTRA
kconf() { conf 1.0.0 k 400 34; }
sublink_differential vlan "$P" "$REF" "1.0.0|,\"mtu\":1400" "0.3.1|" "0.4.0|,\"dns\":{\"nameservers\":[\"10.1.1.1\"]}"
sublink_crash vlan "$P" "$FD"

for x in A B L F N; do ip netns del $x 2>/dev/null; done
ip link del vlm0 2>/dev/null; rm -rf /tmp/ipam-*
echo "1..$n"
