#!/bin/bash
# The ipvlan plugin on this host, whose kernel has no ipvlan: bad input for every option (a CNI
# error with the spec's code, nothing left behind), an ADD that fails cleanly because the kernel
# lacks the link type (no link, no IPAM reservation left), DEL (twice, after refused ADDs, without the
# netns), STATUS (code 50 here), GC and VERSION.  The plugin runs inside a netns of its own
# ("host" side, master veth m0) so the real host is never touched.  Everything that needs the
# kernel's ipvlan runs in the VM: tests/vm/ifaces-ipvlan.sh (through 47-ifaces-vm.sh).
source "$(dirname "$0")/../lib.sh"
need_root
P=$CNI_BIN/ipvlan
[ -x "$P" ] || skip_all "ipvlan not built"
command -v jq >/dev/null || skip_all "jq missing"
H=ih$T C=ic$T D=/tmp/berth-ipvlan-$T
mknetns "$H"; mknetns "$C"
defer "rm -rf $D"
ip -n "$H" link add m0 type veth peer name m1 && ip -n "$H" link set m0 up
state() { { ip -n "$H" -o link show; ip -n "$C" -o link show; ls -A "$D/n1" 2>/dev/null; } | sed 's/^[0-9]*: //; s/ qlen.*//' | sort; }
before=$(state)
run() { # CMD [VERSION-CONFIG...] < conf: the plugin in netns H
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID=c1 CNI_NETNS="${NETNS-/run/netns/$C}" \
		CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" "$P"
}
IPAM="\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.77.0.0/24\",\"dataDir\":\"$D\"}"
conf() { echo "{\"cniVersion\":\"${V:-1.0.0}\",\"name\":\"n1\",\"type\":\"ipvlan\"$1}"; }
bad() { # DESC CODE MSG-REGEX CONFIG
	local out rc
	out=$(run ADD <<<"$4"); rc=$?
	if [ $rc -eq 1 ] && [ "$(jget "$out" .code)" = "$2" ] && jget "$out" .msg | grep -Eq "$3"; then
		ok 0 "bad input: $1"
	else
		ok 1 "bad input: $1"; diag "rc=$rc $out"
	fi
}
bad "master not a string" 7 'master' "$(conf ",\"master\":5,$IPAM")"
bad "master too long" 7 'not a valid interface name' "$(conf ",\"master\":\"averyveryverylongname\",$IPAM")"
bad "master that does not exist" 7 'failed to lookup master "nosuch0"' "$(conf ",\"master\":\"nosuch0\",$IPAM")"
bad "no master and no default route" 7 'no default route interface found' "$(conf ",$IPAM")"
bad "mode not a string" 7 'mode' "$(conf ",\"master\":\"m0\",\"mode\":2,$IPAM")"
bad "unknown mode" 7 'unknown ipvlan mode: "l4"' "$(conf ",\"master\":\"m0\",\"mode\":\"l4\",$IPAM")"
bad "mtu a string" 7 'mtu' "$(conf ",\"master\":\"m0\",\"mtu\":\"1400\",$IPAM")"
bad "mtu negative" 7 'invalid MTU -1' "$(conf ",\"master\":\"m0\",\"mtu\":-1,$IPAM")"
bad "linkInContainer not a boolean" 7 'linkInContainer' "$(conf ",\"master\":\"m0\",\"linkInContainer\":5,$IPAM")"
bad "ipam not an object" 7 'ipam' "$(conf ",\"master\":\"m0\",\"ipam\":5")"
bad "ipam.type not a string" 7 'type' "$(conf ",\"master\":\"m0\",\"ipam\":{\"type\":5}")"
bad "no ipam and no prevResult" 7 'ipam: "type" is required' "$(conf ",\"master\":\"m0\"")"
bad "dns not an object" 7 'dns' "$(conf ",\"master\":\"m0\",\"dns\":5,$IPAM")"
bad "chained: prevResult with two interfaces and no master" 7 'PrevResult lacks a single named interface' \
	"$(conf ',"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"a"},{"name":"b"}],"ips":[{"address":"10.1.0.2/24"}]}')"
bad "chained: prevResult's interface is not here" 7 'failed to lookup master "nosuch1"' \
	"$(conf ',"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"nosuch1"}],"ips":[{"address":"10.1.0.2/24"}]}')"
bad "malformed prevResult" 6 'prevResult|address' \
	"$(conf ',"master":"m0","prevResult":{"cniVersion":"1.0.0","ips":[{"address":"x"}]}')"
for v in 0.1.0 0.2.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	V=$v bad "$v: no ipvlan in this kernel: the ADD fails" 999 'failed to create ipvlan: .*Unknown device type' \
		"$(V=$v conf ",\"master\":\"m0\",\"mode\":\"l3\",$IPAM")"
done
bad "chained without IPAM, no ipvlan in this kernel" 999 'failed to create ipvlan' \
	"$(conf ',"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"m0"}],"ips":[{"address":"10.1.0.2/24"}]}')"
is "$(state)" "$before" "the refused and failed ADDs left both netns and the IPAM store as they were"
run DEL <<<"$(conf ",\"master\":\"m0\",$IPAM")" >/dev/null; ok $? "DEL after the failed ADDs succeeds"
run DEL <<<"$(conf ",\"master\":\"m0\",$IPAM")" >/dev/null; ok $? "a second DEL succeeds"
run DEL <<<"$(conf ",\"master\":5,\"mode\":\"l9\",$IPAM")" >/dev/null; ok $? "DEL of a config ADD refuses succeeds"
NETNS=/run/netns/gone$T run DEL <<<"$(conf ",\"master\":\"m0\",$IPAM")" >/dev/null; ok $? "DEL without the netns succeeds"
NETNS= run DEL <<<"$(conf ",\"master\":\"m0\",$IPAM")" >/dev/null; ok $? "DEL without CNI_NETNS succeeds"
# a link of the name that is not an ipvlan is not ours: DEL leaves it
ip -n "$C" link add eth0 type veth peer name e1
run DEL <<<"$(conf ",\"master\":\"m0\",$IPAM")" >/dev/null; ok $? "DEL with a veth called eth0 in the container succeeds"
ip -n "$C" link show eth0 >/dev/null 2>&1; ok $? "and leaves that veth alone"
bad "ADD when eth0 is taken" 999 'already exists' "$(conf ",\"master\":\"m0\",$IPAM")"
ip -n "$C" link del eth0
is "$(state)" "$before" "host unchanged after DELs"
out=$(V=1.1.0 run STATUS <<<"$(V=1.1.0 conf ",\"master\":\"m0\",$IPAM")"); rc=$?
[ $rc -eq 1 ] && [ "$(jget "$out" .code)" = 50 ] && jget "$out" .msg | grep -q 'cannot create links of kind ipvlan'
ok $? "STATUS on a kernel without ipvlan: code 50"; [ $rc -eq 1 ] || diag "$out"
out=$(V=1.1.0 run STATUS <<<"$(V=1.1.0 conf ",\"mode\":\"x\"")"); rc=$?
[ $rc -eq 1 ] && [ "$(jget "$out" .code)" = 7 ]; ok $? "STATUS of a bad config: code 7"
V=1.1.0 run GC <<<"$(V=1.1.0 conf ",\"master\":\"m0\",$IPAM,\"cni.dev/valid-attachments\":[]")" >/dev/null; ok $? "GC succeeds"
out=$(run VERSION <<<'{"cniVersion":"1.1.0"}')
is "$(jget "$out" '.supportedVersions|join(",")')" "0.1.0,0.2.0,0.3.0,0.3.1,0.4.0,1.0.0,1.1.0" "VERSION lists 0.1.0 to 1.1.0"
is "$(state)" "$before" "host unchanged at the end"
done_testing
