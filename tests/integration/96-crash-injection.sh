#!/bin/bash
# sanitize: no (needs the FAULT=1 build; scripts/test.sh runs it in the plain tier only)
# Crash injection (issue 7): the FAULT=1 build kills a process with SIGKILL at a chosen point of
# ADD (common/fault.c).  For every point that a full ADD of bridge(+host-local, ipMasq) ->
# portmap -> firewall -> tuning through `berth net add` passes, kill there, then run
# `berth net del` and `berth net gc`, and prove that nothing of that container is left: no veth,
# no bridge port, no address reservation, no cache entry, no nft element, no tuning backup.
# Runs inside a throwaway "host" netns (lib-core.bash), so the nft tables are the test's own.
source "$(dirname "$0")/lib-core.bash"
FB=${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}
[ "${SANITIZE:-}" = 1 ] && skip_all "crash injection runs in the plain tier (FAULT=1 build)"
[ -x "$FB/bin/berth" ] || { echo "not ok 1 - $FB missing: make FAULT=1"; echo 1..1; exit 1; }
BERTH_BIN=$FB/bin/berth
PLUGIN_PATH=$FB/cni
core_setup
TUNING_DIR=$D/tuning
write_conflist 1.0.0 ', {"type":"portmap","capabilities":{"portMappings":true}}, {"type":"firewall"},
	{"type":"tuning","dataDir":"'"$TUNING_DIR"'","mtu":1400,"sysctl":{"net.ipv4.conf.IFNAME.arp_filter":"1"}}'

# What belongs to a container, as seen from the host netns; empty when nothing is left.
leftovers() { # ID
	local id=$1
	ip -n "$H" -o link show type veth 2>/dev/null | awk -F': ' '{print "veth " $2}'
	ip -n "$H" -o link show master "$BR" 2>/dev/null | awk -F': ' '{print "port " $2}'
	ip -n "$C" -o link show eth0 2>/dev/null | awk -F': ' '{print "container " $2}'
	# grep -r over host-local's whole data dir, .berth (index, spares) included
	grep -rl -- "$id" "$D/ipam" 2>/dev/null | sed 's/^/ipam /'
	ls "$D/cache/results" 2>/dev/null | grep -- "$id" | sed 's/^/cache /'
	ls "$TUNING_DIR" 2>/dev/null | grep -- "$id" | sed 's/^/tuning /'
	ip netns exec "$H" nft -j list ruleset 2>/dev/null |
		jq -r '.nftables[] | (.set // .map // empty) | select((.elem // []) | length > 0) |
			"nft \(.family) \(.table) \(.name): \(.elem | length) element(s)"'
}

# Enumerate the points one ADD passes (the second ADD: the first also creates the bridge and the
# nft tables, which later ADDs find in place).
check "first ADD" -- berth net add "$NET" --container first$T --netns "/run/netns/$C"
check "first DEL" -- berth net del "$NET" --container first$T --netns "/run/netns/$C"
export BERTH_FAULT='*' BERTH_FAULT_LOG=$D/points
out=$(berth net add "$NET" --container enum$T --netns "/run/netns/$C" --publish 18080:80 --json)
ok $? "ADD with fault points recorded"
unset BERTH_FAULT BERTH_FAULT_LOG
check "DEL of the enumeration container" -- berth net del "$NET" --container enum$T --netns "/run/netns/$C"
is "$(leftovers enum$T)" "" "a plain ADD + DEL leaves nothing"

# PROG:NAME#N for the N-th pass of NAME in PROG (each plugin is a process of its own).
points=$(awk '{n[$0]++; print $0 "#" n[$0]}' "$D/points")
n_points=$(wc -l <<<"$points")
[ "$n_points" -ge 10 ]; ok $? "at least 10 crash points passed during ADD ($n_points)"
# (bridge runs its sibling host-local in its own process: its point is bridge's)
for want in bridge:bridge-after-veth bridge:bridge-after-ipam bridge:host-local-after-reserve \
	bridge:host-local-spare-filled bridge:nft-before-send portmap:nft-before-send firewall:nft-before-send \
	tuning:tuning-after-backup berth:core-before-cache; do
	grep -q "^$want#1$" <<<"$points"; ok $? "point $want is on the ADD path"
done

i=0
for p in $points; do
	i=$((i + 1)); id=crash$i$T
	BERTH_FAULT=$p berth net add "$NET" --container "$id" --netns "/run/netns/$C" \
		--publish 18080:80 --json >/dev/null 2>&1
	rc=$?
	[ $rc -ne 0 ]; ok $? "kill at $p: ADD fails (rc $rc)"
	# the runtime's DEL after a failed ADD, with the netns it knows
	berth net del "$NET" --container "$id" --netns "/run/netns/$C" >/dev/null 2>"$D/del.err"
	ok $? "kill at $p: DEL succeeds afterwards"
	[ $? -eq 0 ] || sed 's/^/#   /' "$D/del.err"
	berth net gc "$NET" >/dev/null 2>&1
	ok $? "kill at $p: GC succeeds"
	left=$(leftovers "$id")
	is "$left" "" "kill at $p: nothing of the container is left"
done

# DEL returns once the kernel has unlisted the veth pair, which a child process asks for: killed
# before it asks, DEL must fail with the pair still there (not report success early), and the
# runtime's retry removes it.
check "ADD for the DEL-side kill" -- berth net add "$NET" --container delkill$T --netns "/run/netns/$C"
BERTH_FAULT=bridge:link-del-child berth net del "$NET" --container delkill$T --netns "/run/netns/$C" \
	>/dev/null 2>&1
[ $? -ne 0 ]; ok $? "DEL whose link-deleting child is killed fails"
ip -n "$C" link show eth0 >/dev/null 2>&1; ok $? "and the container's eth0 is still there"
check "DEL again" -- berth net del "$NET" --container delkill$T --netns "/run/netns/$C"
is "$(leftovers delkill$T)" "" "the retried DEL leaves nothing"

# A runtime that lost its state: the cache entry is gone and no DEL ever comes.  GC (with the
# cache's now empty valid set) must find every resource by its recorded owner: the host veth
# (alias), the address (host-local), the masquerade, port-mapping and firewall elements.
# GC reaches the plugins from cniVersion 1.1.0 on (libcni), so the list is 1.1.0 here.
write_conflist 1.1.0 ', {"type":"portmap","capabilities":{"portMappings":true}}, {"type":"firewall"},
	{"type":"tuning","dataDir":"'"$TUNING_DIR"'","mtu":1400,"sysctl":{"net.ipv4.conf.IFNAME.arp_filter":"1"}}'
out=$(berth net add "$NET" --container lost$T --netns "/run/netns/$C" --publish 18081:80 --json)
ok $? "ADD of a container whose runtime state will be lost"
rm -f "$D/cache/results/$NET-lost$T-eth0"
[ -n "$(leftovers lost$T)" ]; ok $? "its resources exist before GC"
check "GC without a cache entry" -- berth net gc "$NET"
is "$(leftovers lost$T | grep -v '^container ')" "" "GC removed everything of the lost container"

# And the chain still works after all of that.
out=$(berth net add "$NET" --container after$T --netns "/run/netns/$C" --json)
ok $? "a clean ADD after the crashes"
check "the container reaches its gateway" -- ip netns exec "$C" ping -c1 -W5 "$SUBNET.1"
check "DEL" -- berth net del "$NET" --container after$T --netns "/run/netns/$C"
is "$(leftovers after$T)" "" "nothing left at the end"

done_testing
