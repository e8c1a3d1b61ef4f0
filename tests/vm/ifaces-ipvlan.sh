#!/bin/bash
# vm-modules: veth ipvlan
# The ipvlan plugin inside the stock-kernel VM (this host's kernel has no ipvlan).
# bash tests/vm/ifaces-ipvlan.sh CNI_DIR REF_DIR FAULT_DIR (REF_DIR/FAULT_DIR may be "-").
# The plugin runs in the VM's own netns (the "host": master ipvm0, whose veth peer p0 in netns N is the
# master's network, 10.30.0.1/24).  Every spec version: ADD/CHECK/DEL with the kernel state
# read back; modes and mtu; ping between containers and to N; chained without IPAM; master of
# the default route; linkInContainer; rollback after IPAM; DEL without the netns; 64 parallel
# ADDs then DELs; a differential run against the reference; crash injection.  Prints TAP.
D=$1 REF=$2 FD=$3
P=$D/ipvlan
U=$$
source "$(dirname "${BASH_SOURCE[0]}")/lib-ifaces.bash"
# conf VERSION DATADIR EXTRA: host-local on 10.30.0.0/24 (from .10), default route via .1
conf() {
	echo "{\"cniVersion\":\"$1\",\"name\":\"ipv\",\"type\":\"ipvlan\"$3,\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.30.0.0/24\",\"rangeStart\":\"10.30.0.10\",\"gateway\":\"10.30.0.1\",\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dataDir\":\"/tmp/ipam-$2\"}}"
}
ips_held() { ls "/tmp/ipam-$1/ipv" 2>/dev/null | grep -c '^10\.'; }

ip netns add N
ip link set lo up; ip -n N link set lo up
ip link add ipvm0 type veth peer name p0 netns N
ip link set ipvm0 up; ip -n N link set p0 up
ip -n N addr add 10.30.0.1/24 dev p0
M0=$(ip -o link show ipvm0 | cut -d: -f1)

# ---- every spec version ----
i=0
for v in 0.1.0 0.2.0 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	i=$((i + 1)); ns=v$i; ip netns add $ns
	out=$(cni "$P" ADD $ns <<<"$(conf $v v ',"master":"ipvm0"')"); rc=$?
	is "$rc" 0 "$v: ADD succeeds"
	has "$out" "\"cniVersion\": \"$v\"" "$v: result in $v"
	has "$out" "10.30.0.1" "$v: result has the address and gateway"
	k=$(ip -n $ns -d -o link show eth0)
	has "$k" "ipvlan  mode l2" "$v: eth0 is an ipvlan in mode l2"
	has "$k" "eth0@if$M0:" "$v: on master m0"
	has "$(ip -n $ns -o addr show dev eth0)" "inet 10.30.0.1" "$v: eth0 has its address"
	has "$(ip -n $ns route show default)" "default via 10.30.0.1 dev eth0" "$v: default route via the gateway"
	if [ $v = 0.4.0 ] || [ $v = 1.0.0 ] || [ $v = 1.1.0 ]; then
		c=$(conf $v v ',"master":"ipvm0"' | sed "s|}}\$|},\"prevResult\":$(echo "$out" | tr -d '\n')}|")
		cni "$P" CHECK $ns <<<"$c" >/dev/null; ok $? "$v: CHECK passes"
		o=$(cni "$P" CHECK $ns <<<"$(echo "$c" | sed 's/"type":"ipvlan"/"type":"ipvlan","mode":"l3"/')"); rc=$?
		has "$rc $o" "Container IPVlan mode l2 does not match expected value: l3" "$v: CHECK notices another mode"
		ip -n $ns addr flush dev eth0
		o=$(cni "$P" CHECK $ns <<<"$c"); rc=$?
		has "$rc $o" "not found in the container" "$v: CHECK notices the missing address"
	fi
	cni "$P" DEL $ns <<<"$(conf $v v)" >/dev/null; ok $? "$v: DEL succeeds"
	is "$(links $ns)" "lo " "$v: eth0 is gone"
	cni "$P" DEL $ns <<<"$(conf $v v)" >/dev/null; ok $? "$v: second DEL succeeds"
	ip netns del $ns
done
is "$(ips_held v)" 0 "every address went back to IPAM"

# ---- modes and mtu; STATUS ----
for m in l3 l3s; do
	ip netns add m$m
	out=$(cni "$P" ADD m$m <<<"$(conf 1.0.0 m ",\"master\":\"ipvm0\",\"mode\":\"$m\",\"mtu\":1400")"); rc=$?
	is "$rc" 0 "mode $m, mtu 1400: ADD succeeds"
	k=$(ip -n m$m -d -o link show eth0)
	has "$k" "ipvlan  mode $m " "mode $m read back"
	has "$k" "mtu 1400 " "mtu 1400 read back"
	cni "$P" DEL m$m <<<"$(conf 1.0.0 m ",\"master\":\"ipvm0\",\"mode\":\"$m\"")" >/dev/null; ok $? "mode $m: DEL succeeds"
	ip netns del m$m
done
cni "$P" STATUS "" <<<"$(conf 1.1.0 m ',"master":"ipvm0"')" >/dev/null; ok $? "STATUS: the kernel can create ipvlan links, m0 exists"
o=$(cni "$P" STATUS "" <<<"$(conf 1.1.0 m ',"master":"nosuch0"')"); has "$o" '"code": 50' "STATUS: a master that does not exist is code 50"

# ---- two containers: ping each other and the master's network ----
ip netns add A; ip netns add B
oa=$(cni "$P" ADD A eth0 a <<<"$(conf 1.0.0 p ',"master":"ipvm0"')"); ra=$?
ob=$(cni "$P" ADD B eth0 b <<<"$(conf 1.0.0 p ',"master":"ipvm0"')"); rb=$?
is "$ra $rb" "0 0" "two containers: both ADDs succeed"
ipb=$(ip -n B -o -4 addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
ip netns exec A ping -c1 -W2 "$ipb" >/dev/null 2>&1; ok $? "container A pings container B ($ipb)"
ip netns exec A ping -c1 -W2 10.30.0.1 >/dev/null 2>&1; ok $? "container A pings the master's network (10.30.0.1)"
cni "$P" DEL A eth0 a <<<"$(conf 1.0.0 p ',"master":"ipvm0"')" >/dev/null; ra=$?
cni "$P" DEL B eth0 b <<<"$(conf 1.0.0 p ',"master":"ipvm0"')" >/dev/null; rb=$?
is "$ra $rb $(links A)$(links B)$(ips_held p)" "0 0 lo lo 0" "two containers: both DELs succeed, links and addresses gone"

# ---- chained without IPAM: master and addresses from prevResult ----
ip netns add X
c="{\"cniVersion\":\"1.0.0\",\"name\":\"ipv\",\"type\":\"ipvlan\",\"prevResult\":{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"ipvm0\"}],\"ips\":[{\"address\":\"10.30.0.200/24\",\"gateway\":\"10.30.0.1\",\"interface\":0}],\"routes\":[{\"dst\":\"192.0.2.0/24\"}]}}"
out=$(cni "$P" ADD X <<<"$c"); rc=$?
is "$rc" 0 "chained without IPAM: ADD succeeds"
has "$(ip -n X -d -o link show eth0)" "eth0@if$M0:" "chained: the master is prevResult's interface m0"
has "$(ip -n X -o addr show dev eth0)" "inet 10.30.0.200/24" "chained: prevResult's address is on eth0"
has "$(ip -n X route show 192.0.2.0/24)" "192.0.2.0/24 via 10.30.0.1 dev eth0" "chained: prevResult's route, via the gateway"
has "$(echo "$out" | tr -d ' \n')" '"interfaces":[{"name":"eth0"' "chained: the result's interfaces are eth0 only"
has "$(echo "$out" | tr -d ' \n')" '"interface":0,"address":"10.30.0.200/24"' "chained: the address belongs to eth0"
ip netns exec X ping -c1 -W2 10.30.0.1 >/dev/null 2>&1; ok $? "chained: eth0 reaches the master's network"
cni "$P" DEL X <<<"$c" >/dev/null; ok $? "chained: DEL succeeds"
is "$(links X)" "lo " "chained: eth0 is gone"

# ---- master: the default route's interface; linkInContainer ----
ip addr add 10.30.0.254/24 dev ipvm0; ip route add default via 10.30.0.1
ip netns add R
out=$(cni "$P" ADD R <<<"$(conf 1.0.0 r '')"); ok $? "no master: ADD succeeds"
has "$(ip -n R -d -o link show eth0)" "eth0@if$M0:" "no master: the default route's interface m0 is the master"
c=$(conf 1.0.0 r '' | sed "s|}}\$|},\"prevResult\":$(echo "$out" | tr -d '\n')}|")
o=$(cni "$P" CHECK R <<<"$c"); ok $? "no master: CHECK passes (the default route's interface is eth0's parent)"
# the default route moves to another interface: eth0 is no longer on the master ADD would take
ip link add ipvm1 type veth peer name p1 netns N; ip link set ipvm1 up; ip -n N link set p1 up
ip addr add 10.31.0.254/24 dev ipvm1; ip route replace default via 10.31.0.1 dev ipvm1
o=$(cni "$P" CHECK R <<<"$c"); rc=$?
has "$rc $o" "Error: Container interface eth0 is not on master ipvm1" "no master, the default route on ipvm1: CHECK fails"
ip route del default
o=$(cni "$P" CHECK R <<<"$c"); rc=$?
has "$rc $o" "no default route interface found" "no master, no default route: CHECK fails"
ip link del ipvm1
cni "$P" DEL R <<<"$(conf 1.0.0 r '')" >/dev/null; ok $? "no master: DEL succeeds"
ip addr del 10.30.0.254/24 dev ipvm0
ip netns add L
ip -n L link add lm0 type veth peer name lp0 netns N; ip -n L link set lm0 up; ip -n N link set lp0 up
out=$(cni "$P" ADD L <<<"$(conf 1.0.0 l ',"master":"lm0","linkInContainer":true')"); ok $? "linkInContainer: ADD succeeds"
has "$(ip -n L -d -o link show eth0)" "eth0@lm0:" "linkInContainer: eth0 sits on the container's lm0"
c=$(conf 1.0.0 l ',"master":"lm0","linkInContainer":true' | sed "s|}}\$|},\"prevResult\":$(echo "$out" | tr -d '\n')}|")
cni "$P" CHECK L <<<"$c" >/dev/null; ok $? "linkInContainer: CHECK passes (the parent is in the container)"
o=$(cni "$P" CHECK L <<<"${c/\"linkInContainer\":true/\"linkInContainer\":false}"); rc=$?
has "$rc $o" "failed to lookup master" "linkInContainer false: CHECK looks for lm0 on the host and fails"
cni "$P" DEL L <<<"$(conf 1.0.0 l ',"master":"lm0","linkInContainer":true')" >/dev/null; ok $? "linkInContainer: DEL succeeds"
is "$(links L)" "lm0 lo " "linkInContainer: eth0 is gone, lm0 stays"

# ---- a failure after IPAM undoes everything; DEL without the netns ----
ip netns add F
c=$(conf 1.0.0 f ',"master":"ipvm0"' | sed 's|"routes":\[{"dst":"0.0.0.0/0"}\]|"routes":[{"dst":"192.0.2.0/24","gw":"10.99.0.1"}]|')
o=$(cni "$P" ADD F <<<"$c"); rc=$?
has "$rc $o" "failed to add route" "an unreachable route gateway fails the ADD"
is "$(links F)" "lo " "the failed ADD left no link"
is "$(ips_held f)" 0 "the failed ADD released its address"
ip netns add G
cni "$P" ADD G <<<"$(conf 1.0.0 g ',"master":"ipvm0"')" >/dev/null
ip netns del G
cni "$P" DEL G <<<"$(conf 1.0.0 g ',"master":"ipvm0"')" >/dev/null; ok $? "DEL after the netns is gone succeeds"
is "$(ips_held g)" 0 "and releases the address"

# ---- parallel ADDs then DELs ----
NP=${IFACES_PARALLEL:-16} # 64 takes minutes under TCG on a loaded host; IFACES_PARALLEL=64 for the full run
for j in $(seq 1 $NP); do ip netns add q$j; done
for j in $(seq 1 $NP); do cni "$P" ADD q$j eth0 q$j <<<"$(conf 1.0.0 q ',"master":"ipvm0"')" >/dev/null & done; wait
good=0; for j in $(seq 1 $NP); do ip -n q$j -o -4 addr show dev eth0 2>/dev/null | grep -q 'inet 10.30' && good=$((good + 1)); done
is "$good" "$NP" "$NP parallel ADDs: every container has its ipvlan and an address"
is "$(for j in $(seq 1 $NP); do ip -n q$j -o -4 addr show dev eth0 2>/dev/null | awk '{print $4}'; done | sort -u | wc -l)" "$NP" "$NP parallel ADDs: no address twice"
for j in $(seq 1 $NP); do cni "$P" DEL q$j eth0 q$j <<<"$(conf 1.0.0 q ',"master":"ipvm0"')" >/dev/null & done; wait
left=0; for j in $(seq 1 $NP); do [ "$(links q$j)" = "lo " ] || left=$((left + 1)); ip netns del q$j; done
is "$left" 0 "$NP parallel DELs: every eth0 is gone"
is "$(ips_held q)" 0 "$NP parallel DELs: every address released"

# ---- differential against the reference plugin, crash injection (tests/vm/lib-ifaces.bash) ----
zconf() { conf "$1" "$2" "$3"; } # VERSION DATADIR EXTRA
kconf() { conf 1.0.0 k ',"master":"ipvm0"'; }
sublink_differential ipvlan "$P" "$REF" "1.0.0|,\"master\":\"ipvm0\",\"mode\":\"l3\",\"mtu\":1400" "0.3.1|,\"master\":\"ipvm0\"" "0.4.0|,\"master\":\"ipvm0\",\"dns\":{\"nameservers\":[\"10.1.1.1\"]}"
sublink_crash ipvlan "$P" "$FD"

for x in A B X R L F N; do ip netns del $x 2>/dev/null; done
ip link del ipvm0 2>/dev/null; rm -rf /tmp/ipam-*
echo "1..$n"
