#!/bin/bash
# berth inspect: per attachment both interface ends, addresses, routes, MAC, bridge, ports and
# nft elements, as read back from the kernel; JSON, tree and DOT agree with `ip`.
source "$(dirname "$0")/lib-core.bash"
core_setup
export BERTH_NFT_STATE_DIR=$D/nft
write_conflist 1.0.0 ',{"type":"portmap","capabilities":{"portMappings":true}}'
ID=insp$T
check "ADD" -- berth net add "$NET" --container $ID --netns "/run/netns/$C" --publish 127.0.0.1:8080:80/tcp

j=$(berth inspect $ID --json)
ok $? "inspect --json"
ctr_mac=$(ip -n "$C" -j link show eth0 | jq -r '.[0].address')
peer=$(ip -n "$C" -j link show eth0 | jq -r '.[0].link_index')
host_if=$(ip -n "$H" -j link show | jq -r ".[] | select(.ifindex==$peer) | .ifname")
is "$(jget "$j" '.networks[0].container.mac')" "$ctr_mac" "container end MAC matches the kernel"
is "$(jget "$j" '.networks[0].container.addresses[0]')" "$SUBNET.2/24" "container end address"
is "$(jget "$j" '.networks[0].container.routes[] | select(.dst=="default") | .gw')" "$SUBNET.1" "default route"
is "$(jget "$j" '.networks[0].host.name')" "$host_if" "host end is the veth peer ($host_if)"
is "$(jget "$j" '.networks[0].host.master')" "$BR" "host end is a port of the bridge"
is "$(jget "$j" '.networks[0].bridge.addresses[0]')" "$SUBNET.1/24" "bridge carries the gateway address"
is "$(jget "$j" '.networks[0].portMappings[0].hostPort')" 8080 "port mapping listed"
is "$(jget "$j" '[.networks[0].nft[] | select(.present | not)] | length')" 0 "every recorded nft element is in the kernel"
diag "nft elements: $(jget "$j" '[.networks[0].nft[] | .set + " " + .key] | join(", ")')"
n_el=$(jget "$j" '.networks[0].nft | length')
# portmap records its mappings as nft elements: none recorded is a failure, not a reason to skip
ok "$([ "${n_el:-0}" -gt 0 ]; echo $?)" "inspect lists the attachment's nft elements ($n_el)"
if [ "${n_el:-0}" -gt 0 ]; then
	# someone wipes our table (a firewall reload): inspect notices, reapply rebuilds it
	ip netns exec "$H" nft delete table inet berth
	is "$(berth inspect $ID --json | jq '[.networks[0].nft[] | select(.present | not)] | length')" "$n_el" \
		"after the table is deleted inspect reports all $n_el elements missing"
	check "net reapply" -- berth net reapply
	is "$(berth inspect $ID --json | jq '[.networks[0].nft[] | select(.present | not)] | length')" 0 \
		"after reapply every element is back"
else
	ok 1 "after the table is deleted inspect reports the elements missing (none to check)"
	ok 1 "net reapply (not run)"
	ok 1 "after reapply every element is back (not run)"
fi

t=$(berth inspect "${ID:0:6}")
ok $? "inspect by unique ID prefix (tree)"
grep -q "container end eth0 (veth)  mac $ctr_mac" <<<"$t"; ok $? "tree shows the container end"
grep -q "host end $host_if (veth).*master $BR" <<<"$t"; ok $? "tree shows the host end"
grep -q "port 127.0.0.1:8080/tcp -> 80" <<<"$t"; ok $? "tree shows the port"

berth inspect $ID --dot >"$D/g.dot"
ok $? "inspect --dot"
grep -q "digraph berth" "$D/g.dot"; ok $? "DOT output"
if command -v dot >/dev/null; then
	check "graphviz renders it" -- dot -Tsvg -o "$D/g.svg" "$D/g.dot"
	grep -q "$host_if" "$D/g.svg"; ok $? "the picture names the veth"
	grep -q "route default via $SUBNET.1" "$D/g.svg"; ok $? "and the container's default route"
else
	skip "graphviz renders it: graphviz not installed"; skip "the picture names the veth: graphviz not installed"
	skip "and the container's default route: graphviz not installed"
fi

e=$(berth inspect nosuch$T 2>&1); is $? 1 "unknown container fails"
grep -q "no container \"nosuch$T\"" <<<"$e"; ok $? "clear error: $e"

# a recorded /proc/<pid>/ns/net whose pid is now a process of the host's netns: inspect must
# not show the host's interfaces as the container's
proc_in "$H"
HP=$PID
f=$D/cache/results/$NET-$ID-eth0
cp "$f" "$D/entry.saved"
jq -c --arg ns "/proc/$HP/ns/net" '.netns = $ns' "$D/entry.saved" >"$f"
j=$(berth inspect $ID --json)
is "$(jget "$j" '[.networks[0].netnsAlive, .networks[0].container] | tostring')" '[false,null]' \
	"a netns path that now names the host's netns is shown as gone"
cp "$D/entry.saved" "$f"

check "DEL" -- berth net del "$NET" --container $ID
e=$(berth inspect $ID 2>&1); is $? 1 "a detached container is no longer known"
done_testing
