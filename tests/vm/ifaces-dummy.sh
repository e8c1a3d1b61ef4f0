#!/bin/bash
# vm-modules: dummy
# The dummy plugin on a kernel that has dummy links (run in the VM by
# tests/integration/47-ifaces-vm.sh as `bash ifaces-dummy.sh CNI_DIR REF_DIR FAULT_DIR`):
# ADD in several spec versions (link kind, up, addresses, routes, the result's MAC), CHECK,
# DEL (twice, after the netns is gone), a name already taken, the undo of a failed ADD (link
# and IPAM reservation gone), STATUS, and crash injection with the FAULT=1 build.  Debian's
# reference plugins (1.1.1) have no dummy: there is no differential part.  No jq (slow here).
CNI_DIR=$1 REF_DIR=$2 FAULT_DIR=$3
P=$CNI_DIR/dummy
source "$(dirname "${BASH_SOURCE[0]}")/lib-ifaces.bash"
DATA=/tmp/dummy-ipam
NET=dn
cni() { # PLUGIN CMD NS IFNAME < conf (CNI_PATH: the plugin's own directory, for its IPAM)
	env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID=c1 CNI_NETNS="${3:+/run/netns/$3}" \
		CNI_IFNAME="$4" CNI_PATH="${1%/*}" ${BERTH_FAULT:+BERTH_FAULT="$BERTH_FAULT"} \
		${BERTH_FAULT_LOG:+BERTH_FAULT_LOG="$BERTH_FAULT_LOG"} "$1" 2>/dev/null
}
HL="{\"type\":\"host-local\",\"dataDir\":\"$DATA\",\"ranges\":[[{\"subnet\":\"10.42.0.0/24\",\"gateway\":\"10.42.0.1\"}],[{\"subnet\":\"fd42::/64\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"192.0.2.0/24\",\"gw\":\"10.42.0.9\"}]}"
conf() { # VERSION IPAM [EXTRA (a JSON fragment starting with a comma)]
	echo "{\"cniVersion\":\"$1\",\"name\":\"$NET\",\"type\":\"dummy\",\"ipam\":$2${3:-}}"
}
reserved() { ls "$DATA/$NET" 2>/dev/null | grep -c '^[0-9a-f]*[.:]'; }
addrs() { ip -n "$1" -o addr show dev "$2" scope global 2>/dev/null | awk '{print $4}' | sort | tr '\n' ' '; }
routes() { ip -n "$1" -4 route show dev "$2" 2>/dev/null | sed 's/ *$//' | sort | tr '\n' ';'; }
haslink() { ip -n "$1" link show "$2" >/dev/null 2>&1 && echo yes || echo no; }

# ---- ADD, CHECK, DEL in several spec versions ----
i=0
for v in 0.2.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	i=$((i + 1)); ns=dv$i
	rm -rf "$DATA" # host-local goes round robin: a fresh store gives the first addresses
	ip netns add "$ns"; ip -n "$ns" link set lo up
	out=$(cni "$P" ADD "$ns" net1 <<<"$(conf "$v" "$HL")"); rc=$?
	is "$rc" 0 "$v: ADD succeeds"
	case $out in *"\"cniVersion\": \"$v\""*) ok 0 "$v: the result is in $v" ;; *) ok 1 "$v: the result is in $v"; echo "# $out" | head -20 ;; esac
	is "$(ip -n "$ns" -d -o link show net1 | grep -c ' dummy ')" 1 "$v: net1 is a dummy link"
	is "$(ip -n "$ns" -o link show net1 | grep -c '<[^>]*UP')" 1 "$v: net1 is up"
	is "$(addrs "$ns" net1)" "10.42.0.2/24 fd42::2/64 " "$v: the IPAM's addresses are on net1"
	is "$(routes "$ns" net1)" "10.42.0.0/24 proto kernel scope link src 10.42.0.2;192.0.2.0/24 via 10.42.0.9;default via 10.42.0.1;" \
		"$v: the IPAM's routes, the default through the gateway"
	is "$(reserved)" 2 "$v: the IPAM reserved one address per family"
	if [ "$v" != 0.2.0 ]; then
		mac=$(ip -n "$ns" -o link show net1 | sed -n 's/.*link\/ether \([0-9a-f:]*\) .*/\1/p')
		case $out in *"\"mac\": \"$mac\""*"\"sandbox\": \"/run/netns/$ns\""*) ok 0 "$v: the result names net1's MAC and the netns" ;;
		*) ok 1 "$v: the result names net1's MAC and the netns"; echo "# mac $mac"; echo "$out" | sed 's/^/# /' | head -20 ;; esac
	fi
	if [ "$v" = 0.4.0 ] || [ "$v" = 1.0.0 ] || [ "$v" = 1.1.0 ]; then
		cni "$P" CHECK "$ns" net1 <<<"$(conf "$v" "$HL" ",\"prevResult\":$out")" >/dev/null
		ok $? "$v: CHECK passes"
		ip -n "$ns" addr del 10.42.0.2/24 dev net1
		o=$(cni "$P" CHECK "$ns" net1 <<<"$(conf "$v" "$HL" ",\"prevResult\":$out")"); rc=$?
		case "$rc $o" in "1 "*"Failed to match addr 10.42.0.2/24 on interface net1"*) ok 0 "$v: CHECK notices a missing address" ;;
		*) ok 1 "$v: CHECK notices a missing address"; echo "# $rc $o" ;; esac
		ip -n "$ns" link set net1 down
		o=$(cni "$P" CHECK "$ns" net1 <<<"$(conf "$v" "$HL" ",\"prevResult\":$out")"); rc=$?
		case "$rc $o" in "1 "*"Interface net1 is down"*) ok 0 "$v: CHECK notices the link down" ;;
		*) ok 1 "$v: CHECK notices the link down"; echo "# $rc $o" ;; esac
	fi
	cni "$P" DEL "$ns" net1 <<<"$(conf "$v" "$HL")" >/dev/null; ok $? "$v: DEL succeeds"
	is "$(haslink "$ns" net1):$(reserved)" "no:0" "$v: DEL removed the link and released the addresses"
	cni "$P" DEL "$ns" net1 <<<"$(conf "$v" "$HL")" >/dev/null; ok $? "$v: DEL again succeeds"
	ip netns del "$ns"
done

# ---- a name taken, failed ADDs undone ----
ns=dx; ip netns add $ns
rm -rf "$DATA"
cni "$P" ADD $ns net1 <<<"$(conf 1.0.0 "$HL")" >/dev/null; ok $? "ADD net1"
o=$(cni "$P" ADD $ns net1 <<<"$(conf 1.0.0 "$HL")"); rc=$?
case "$rc $o" in "1 "*"failed to create dummy"*"exists"*) ok 0 "a second ADD of net1 fails: name taken" ;; *) ok 1 "a second ADD of net1 fails: name taken"; echo "# $rc $o" ;; esac
is "$(haslink $ns net1):$(addrs $ns net1):$(reserved)" "yes:10.42.0.2/24 fd42::2/64 :2" "... and leaves the first one as it was"
cni "$P" DEL $ns net1 <<<"$(conf 1.0.0 "$HL")" >/dev/null
BADRT="{\"type\":\"host-local\",\"dataDir\":\"$DATA\",\"ranges\":[[{\"subnet\":\"10.42.0.0/24\"}]],\"routes\":[{\"dst\":\"198.51.100.0/24\",\"gw\":\"203.0.113.1\"}]}"
o=$(cni "$P" ADD $ns net2 <<<"$(conf 1.0.0 "$BADRT")"); rc=$?
case "$rc $o" in "1 "*"failed to add route"*) ok 0 "ADD with a route the kernel refuses fails" ;; *) ok 1 "ADD with a route the kernel refuses fails"; echo "# $rc $o" ;; esac
is "$(haslink $ns net2):$(reserved)" "no:0" "... and undid the link and the IPAM reservation"
o=$(cni "$P" ADD $ns net3 <<<"$(conf 1.0.0 '{"type":"static"}')"); rc=$?
case "$rc $o" in "1 "*"IPAM plugin returned missing IP config"*) ok 0 "ADD whose IPAM gives no IP fails" ;; *) ok 1 "ADD whose IPAM gives no IP fails"; echo "# $rc $o" ;; esac
is "$(haslink $ns net3)" no "... and deleted the link"
cni "$P" ADD $ns net4 <<<"$(conf 1.0.0 '{"type":"static","addresses":[{"address":"10.43.0.5/24"}]}')" >/dev/null
is "$(addrs $ns net4)" "10.43.0.5/24 " "static IPAM: ADD gives the configured address"
ip netns del $ns
cni "$P" DEL $ns net4 <<<"$(conf 1.0.0 '{"type":"static","addresses":[{"address":"10.43.0.5/24"}]}')" >/dev/null
ok $? "DEL after the netns is gone succeeds"
cni "$P" STATUS "" "" <<<"$(conf 1.1.0 "$HL")" >/dev/null; ok $? "STATUS: ready on a kernel with dummy"

# ---- crash injection (the FAULT=1 build): kill ADD at each point, DEL leaves nothing ----
if [ "$FAULT_DIR" != - ] && [ -x "$FAULT_DIR/dummy" ]; then
	ns=df; ip netns add $ns
	rm -f /tmp/dummypoints
	BERTH_FAULT='*' BERTH_FAULT_LOG=/tmp/dummypoints cni "$FAULT_DIR/dummy" ADD $ns net1 <<<"$(conf 1.0.0 "$HL")" >/dev/null
	ok $? "ADD with fault points recorded"
	cni "$FAULT_DIR/dummy" DEL $ns net1 <<<"$(conf 1.0.0 "$HL")" >/dev/null
	for pt in $(grep '^dummy:dummy-[a-z-]*$' /tmp/dummypoints | sort -u); do
		# a subshell, so that bash's "Killed" report goes to /dev/null too
		(BERTH_FAULT=$pt cni "$FAULT_DIR/dummy" ADD $ns net1 <<<"$(conf 1.0.0 "$HL")" >/dev/null) 2>/dev/null
		is $? 137 "kill at $pt: ADD killed"
		cni "$FAULT_DIR/dummy" DEL $ns net1 <<<"$(conf 1.0.0 "$HL")" >/dev/null; ok $? "kill at $pt: DEL succeeds"
		is "$(haslink $ns net1):$(reserved)" "no:0" "kill at $pt: no link, no reservation left"
	done
	is "$(grep '^dummy:dummy-' /tmp/dummypoints | sort -u | tr '\n' ' ')" "dummy:dummy-after-ipam dummy:dummy-after-link dummy:dummy-before-result " \
		"the ADD path passes every point"
	ip netns del $ns
else
	ok 1 "the FAULT=1 build's dummy is missing ($FAULT_DIR)"
fi
rm -rf "$DATA"
echo "1..$n"
