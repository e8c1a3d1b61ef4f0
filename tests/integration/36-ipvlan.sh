#!/bin/bash
# The ipvlan plugin on this host, whose kernel has no ipvlan: bad input for every option (a CNI
# error with the spec's code, nothing left behind), an ADD that fails cleanly because the kernel
# lacks the link type (no link, no IPAM reservation left), DEL (twice, after refused ADDs, without the
# netns), STATUS (code 50 here), GC and VERSION.  The plugin runs inside a netns of its own
# ("host" side, master veth m0) so the real host is never touched.  Everything that needs the
# kernel's ipvlan runs in the VM: tests/vm/ifaces-ipvlan.sh (through 47-ifaces-vm.sh).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib-subif.bash"
need_root
subif_setup ipvlan 10.77.0.0/24
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
subif_del_status_gc '"master":"m0"' '"master":5,"mode":"l9"' '"mode":"x"'
done_testing
