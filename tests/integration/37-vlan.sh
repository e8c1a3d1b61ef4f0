#!/bin/bash
# The vlan plugin on this host, whose kernel has no 802.1q: bad input for every option (a CNI
# error with the spec's code, nothing left behind), an ADD that fails cleanly because the kernel
# lacks the link type (no link, no IPAM reservation left), DEL (twice, after refused ADDs, without the
# netns), STATUS (code 50 here), GC and VERSION.  The plugin runs inside a netns of its own
# ("host" side, master veth m0) so the real host is never touched.  Everything that needs the
# kernel's vlan runs in the VM: tests/vm/ifaces-vlan.sh (through 47-ifaces-vm.sh).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib-subif.bash"
need_root
subif_setup vlan 10.78.0.0/24
bad "master missing" 7 '"master" field is required' "$(conf ",\"vlanId\":5,$IPAM")"
bad "master empty" 7 '"master" field is required' "$(conf ",\"master\":\"\",\"vlanId\":5,$IPAM")"
bad "master not a string" 7 'master' "$(conf ",\"master\":5,\"vlanId\":5,$IPAM")"
bad "master too long" 7 'not a valid interface name' "$(conf ",\"master\":\"averyveryverylongname\",\"vlanId\":5,$IPAM")"
bad "master that does not exist" 7 'failed to lookup master "nosuch0"' "$(conf ",\"master\":\"nosuch0\",\"vlanId\":5,$IPAM")"
bad "linkInContainer: master not in the container" 7 'failed to lookup master "m0"' "$(conf ",\"master\":\"m0\",\"vlanId\":5,\"linkInContainer\":true,$IPAM")"
bad "vlanId a string" 7 'vlanId' "$(conf ",\"master\":\"m0\",\"vlanId\":\"5\",$IPAM")"
bad "vlanId a fraction" 7 'vlanId' "$(conf ",\"master\":\"m0\",\"vlanId\":5.5,$IPAM")"
bad "vlanId -1" 7 'invalid VLAN ID -1 \(must be between 0 and 4094' "$(conf ",\"master\":\"m0\",\"vlanId\":-1,$IPAM")"
bad "vlanId 4095" 7 'invalid VLAN ID 4095' "$(conf ",\"master\":\"m0\",\"vlanId\":4095,$IPAM")"
bad "vlanId 70000" 7 'invalid VLAN ID 70000' "$(conf ",\"master\":\"m0\",\"vlanId\":70000,$IPAM")"
bad "mtu a string" 7 'mtu' "$(conf ",\"master\":\"m0\",\"vlanId\":5,\"mtu\":\"1400\",$IPAM")"
bad "mtu negative" 7 'invalid MTU -1' "$(conf ",\"master\":\"m0\",\"vlanId\":5,\"mtu\":-1,$IPAM")"
bad "mtu above the master's" 7 'invalid MTU 1501, must be \[0, master MTU\(1500\)\]' "$(conf ",\"master\":\"m0\",\"vlanId\":5,\"mtu\":1501,$IPAM")"
bad "linkInContainer not a boolean" 7 'linkInContainer' "$(conf ",\"master\":\"m0\",\"vlanId\":5,\"linkInContainer\":5,$IPAM")"
bad "ipam missing" 7 'ipam: "type" is required' "$(conf ",\"master\":\"m0\",\"vlanId\":5")"
bad "ipam not an object" 7 'ipam' "$(conf ",\"master\":\"m0\",\"vlanId\":5,\"ipam\":5")"
bad "ipam.type not a string" 7 'type' "$(conf ",\"master\":\"m0\",\"vlanId\":5,\"ipam\":{\"type\":5}")"
bad "dns not an object" 7 'dns' "$(conf ",\"master\":\"m0\",\"vlanId\":5,\"dns\":5,$IPAM")"
bad "dns.nameservers not a list" 7 'dns' "$(conf ",\"master\":\"m0\",\"vlanId\":5,\"dns\":{\"nameservers\":5},$IPAM")"
for v in 0.1.0 0.2.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	V=$v bad "$v: no 802.1q in this kernel: the ADD fails" 999 'failed to create vlan: .*Unknown device type' \
		"$(V=$v conf ",\"master\":\"m0\",\"vlanId\":5,$IPAM")"
done
subif_del_status_gc '"master":"m0","vlanId":5' '"master":5,"vlanId":9999' '"vlanId":-3'
done_testing
