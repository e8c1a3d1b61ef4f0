# shellcheck shell=bash
# For 36-ipvlan and 37-vlan (after tests/lib.sh): the plugin on this host, whose kernel has no
# ipvlan or 802.1q, so every ADD that gets as far as the kernel fails there.
#
# subif_setup KIND SUBNET: $P the plugin, netns $H (the "host", with a veth m0/m1 as the master)
# and $C (the container), $D the host-local store, state() and $before (both netns' links and the
# store), run CMD < conf (the plugin in $H; NETNS overrides CNI_NETNS), $IPAM a host-local on
# SUBNET, conf EXTRA (a KIND config, version $V or 1.0.0), bad DESC CODE MSG-REGEX CONFIG (an
# ADD that fails with that code and message).
subif_setup() {
	KIND=$1
	P=$CNI_BIN/$KIND
	[ -x "$P" ] || skip_all "$KIND not built"
	command -v jq >/dev/null || skip_all "jq missing"
	H=${KIND:0:1}h$T C=${KIND:0:1}c$T D=/tmp/berth-$KIND-$T
	mknetns "$H"; mknetns "$C"
	defer "rm -rf $D"
	ip -n "$H" link add m0 type veth peer name m1 && ip -n "$H" link set m0 up
	before=$(state)
	IPAM="\"ipam\":{\"type\":\"host-local\",\"subnet\":\"$2\",\"dataDir\":\"$D\"}"
}
state() { { ip -n "$H" -o link show; ip -n "$C" -o link show; ls -A "$D/n1" 2>/dev/null; } | sed 's/^[0-9]*: //; s/ qlen.*//' | sort; }
run() { # CMD < conf: the plugin in netns H
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID=c1 CNI_NETNS="${NETNS-/run/netns/$C}" \
		CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" "$P"
}
conf() { echo "{\"cniVersion\":\"${V:-1.0.0}\",\"name\":\"n1\",\"type\":\"$KIND\"$1}"; }
bad() { # DESC CODE MSG-REGEX CONFIG
	local out rc
	out=$(run ADD <<<"$4"); rc=$?
	if [ $rc -eq 1 ] && [ "$(jget "$out" .code)" = "$2" ] && jget "$out" .msg | grep -Eq "$3"; then
		ok 0 "bad input: $1"
	else
		ok 1 "bad input: $1"; diag "rc=$rc $out"
	fi
}

# subif_del_status_gc GOOD REFUSED BADSTATUS: after the refused and failed ADDs: the host is as
# before; DEL (twice, of a config ADD refuses, without the netns, without CNI_NETNS, with a
# foreign eth0 in the container) succeeds and leaves the host as before; STATUS answers 50 (no
# such link kind here) and 7 for a bad config; GC and VERSION.  GOOD, REFUSED and BADSTATUS are
# config fragments: a usable one, one ADD refuses, one STATUS refuses.
subif_del_status_gc() {
	local good=$1 refused=$2 badstatus=$3 out rc
	is "$(state)" "$before" "the refused and failed ADDs left both netns and the IPAM store as they were"
	run DEL <<<"$(conf ",$good,$IPAM")" >/dev/null; ok $? "DEL after the failed ADDs succeeds"
	run DEL <<<"$(conf ",$good,$IPAM")" >/dev/null; ok $? "a second DEL succeeds"
	run DEL <<<"$(conf ",$refused,$IPAM")" >/dev/null; ok $? "DEL of a config ADD refuses succeeds"
	NETNS=/run/netns/gone$T run DEL <<<"$(conf ",$good,$IPAM")" >/dev/null; ok $? "DEL without the netns succeeds"
	NETNS= run DEL <<<"$(conf ",$good,$IPAM")" >/dev/null; ok $? "DEL without CNI_NETNS succeeds"
	# a link of the name that is not of KIND is not ours: DEL leaves it
	ip -n "$C" link add eth0 type veth peer name e1
	run DEL <<<"$(conf ",$good,$IPAM")" >/dev/null; ok $? "DEL with a veth called eth0 in the container succeeds"
	ip -n "$C" link show eth0 >/dev/null 2>&1; ok $? "and leaves that veth alone"
	bad "ADD when eth0 is taken" 999 'already exists' "$(conf ",$good,$IPAM")"
	ip -n "$C" link del eth0
	is "$(state)" "$before" "host unchanged after DELs"
	out=$(V=1.1.0 run STATUS <<<"$(V=1.1.0 conf ",\"master\":\"m0\",$IPAM")"); rc=$?
	[ $rc -eq 1 ] && [ "$(jget "$out" .code)" = 50 ] && jget "$out" .msg | grep -q "cannot create links of kind $KIND"
	ok $? "STATUS on a kernel without $KIND: code 50"; [ $rc -eq 1 ] || diag "$out"
	out=$(V=1.1.0 run STATUS <<<"$(V=1.1.0 conf ",$badstatus")"); rc=$?
	[ $rc -eq 1 ] && [ "$(jget "$out" .code)" = 7 ]; ok $? "STATUS of a bad config: code 7"
	V=1.1.0 run GC <<<"$(V=1.1.0 conf ",\"master\":\"m0\",$IPAM,\"cni.dev/valid-attachments\":[]")" >/dev/null; ok $? "GC succeeds"
	out=$(run VERSION <<<'{"cniVersion":"1.1.0"}')
	is "$(jget "$out" '.supportedVersions|join(",")')" "0.1.0,0.2.0,0.3.0,0.3.1,0.4.0,1.0.0,1.1.0" "VERSION lists 0.1.0 to 1.1.0"
	is "$(state)" "$before" "host unchanged at the end"
}
