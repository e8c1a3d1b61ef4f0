#!/bin/bash
# berth net gc: a container whose netns vanished without a DEL (a leaked attachment) is
# DELeted from its cache entry, releasing its address; live ones are kept; on 1.1.0 lists
# each plugin then gets GC with cni.dev/valid-attachments.
source "$(dirname "$0")/lib-core.bash"
core_setup
C2=bd$T
mknetns "$C2"

write_conflist 1.0.0
out1=$(berth net add "$NET" --container live$T --netns "/run/netns/$C" --json)
ok $? "ADD of the live container"
out2=$(berth net add "$NET" --container gone$T --netns "/run/netns/$C2" --json)
ok $? "ADD of the container that will leak"
ip1=$(jget "$out1" '.ips[0].address'); ip1=${ip1%/*}
ip2=$(jget "$out2" '.ips[0].address'); ip2=${ip2%/*}
# The container's process lives on in its netns, but the runtime lost it: the netns path is
# gone, nobody runs DEL.
proc_in "$C2"
HOLD=$PID
ip netns del "$C2"
ok "$([ -e "$D/ipam/$NET/$ip2" ]; echo $?)" "the dead container's address $ip2 is still reserved (leak)"

out=$(berth net gc "$NET" --json)
ok $? "net gc succeeds"
is "$(jget "$out" '.[0].deleted')" 1 "one stale attachment deleted"
ok "$([ ! -e "$D/ipam/$NET/$ip2" ]; echo $?)" "leaked address $ip2 released"
ok "$([ ! -e "$D/cache/results/$NET-gone$T-eth0" ]; echo $?)" "leaked cache entry removed"
is "$(ip netns exec "$H" ls "/sys/class/net/$BR/brif" | wc -l)" 1 "the lost container's host veth is removed from the bridge (found by its owner alias)"
ok "$([ -e "$D/ipam/$NET/$ip1" ]; echo $?)" "live address $ip1 kept"
ok "$([ -e "$D/cache/results/$NET-live$T-eth0" ]; echo $?)" "live cache entry kept"
check "live container still reaches its gateway" -- ip netns exec "$C" ping -c1 -W5 "$SUBNET.1"
check "DEL of the live container" -- berth net del "$NET" --container live$T

# podman 4's libcni records no "netns" in its entries: the container interface's sandbox in the
# result names it, and an entry whose sandbox is gone is as stale as one whose netns is.
C3=be$T
mknetns "$C3"
C4=bf$T
mknetns "$C4"
out3=$(berth net add "$NET" --container pgone$T --netns "/run/netns/$C3" --json)
ok $? "ADD of a podman-4-style container that will leak"
out4=$(berth net add "$NET" --container plive$T --netns "/run/netns/$C4" --json)
ok $? "ADD of a live podman-4-style container"
ip3=$(jget "$out3" '.ips[0].address'); ip3=${ip3%/*}
ip4=$(jget "$out4" '.ips[0].address'); ip4=${ip4%/*}
for id in pgone$T plive$T; do
	f=$D/cache/results/$NET-$id-eth0
	jq -c 'del(.netns)' "$f" >"$f.new" && chmod 600 "$f.new" && mv "$f.new" "$f"
done
is "$(jq -r '[has("netns"), (.result.interfaces[] | select(.name == "eth0") | .sandbox)] | join(" ")' \
	"$D/cache/results/$NET-pgone$T-eth0")" "false /run/netns/$C3" "entries as podman 4 writes them: no netns, the sandbox in the result"
ip netns del "$C3"
out=$(berth net gc "$NET" --json)
ok $? "net gc succeeds"
is "$(jget "$out" '.[0].deleted')" 1 "the entry whose sandbox is gone is deleted"
ok "$([ ! -e "$D/cache/results/$NET-pgone$T-eth0" ] && [ ! -e "$D/ipam/$NET/$ip3" ]; echo $?)" \
	"its cache entry is gone and its address $ip3 released"
ok "$([ -e "$D/cache/results/$NET-plive$T-eth0" ] && [ -e "$D/ipam/$NET/$ip4" ]; echo $?)" \
	"the entry whose sandbox exists is kept, with its address $ip4"
# the OCI hook records /proc/<pid>/ns/net; once that pid is reused by a process in berth's own
# netns (the host's), the path exists but names no container: stale
C5=bg$T
mknetns "$C5"
check "ADD of a container attached by pid" -- berth net add "$NET" --container pid$T --netns "/run/netns/$C5"
proc_in "$H"
HP=$PID
f=$D/cache/results/$NET-pid$T-eth0
jq -c --arg ns "/proc/$HP/ns/net" '.netns = $ns' "$f" >"$f.new" && chmod 600 "$f.new" && mv "$f.new" "$f"
out=$(berth net gc "$NET" --json)
is "$(jget "$out" '.[0].deleted')" 1 "an entry whose netns path is now berth's own netns is stale"
ok "$([ ! -e "$f" ]; echo $?)" "its cache entry is gone"
# an entry with neither a netns nor a sandbox gives no way to tell: it is kept
f=$D/cache/results/$NET-plive$T-eth0
jq -c 'del(.result.interfaces[].sandbox)' "$f" >"$f.new" && chmod 600 "$f.new" && mv "$f.new" "$f"
ip netns del "$C4"
out=$(berth net gc "$NET" --json)
is "$(jget "$out" '.[0].deleted')" 0 "an entry with neither netns nor sandbox is kept"
check "explicit DEL of it" -- berth net del "$NET" --container plive$T
ok "$([ ! -e "$D/ipam/$NET/$ip4" ]; echo $?)" "address $ip4 released"

# 1.1.0: GC reaches the plugins with the valid set.
mkrecorder rec-a
cat >"$D/net.d/20-gc.conflist" <<JSON
{"cniVersion":"1.1.0","name":"gc$T","plugins":[{"type":"rec-a"}]}
JSON
for id in keep$T drop$T; do
	check "ADD $id on the 1.1.0 list" -- berth net add gc$T --container $id --netns "/run/netns/$C"
done
rm -f "$D"/rec/*
check "net gc --valid keep$T:eth0" -- berth net gc gc$T --valid keep$T:eth0
is "$(rec_order DEL)" "rec-a " "the attachment outside the valid set got a DEL"
is "$(grep ^CNI_CONTAINERID= "$D"/rec/*-DEL-rec-a.env)" "CNI_CONTAINERID=drop$T" "for the right container"
gc=$(rec_files GC)
is "$(jq -c '.["cni.dev/valid-attachments"]' "$gc")" "[{\"containerID\":\"keep$T\",\"ifname\":\"eth0\"}]" \
	"the plugin got GC with cni.dev/valid-attachments"
is "$(jq -c '.["cni.dev/attachments"]' "$gc")" "[{\"containerID\":\"keep$T\",\"ifname\":\"eth0\"}]" \
	"and the legacy cni.dev/attachments key"
ok "$([ ! -e "$D/cache/results/gc$T-drop$T-eth0" ] && [ -e "$D/cache/results/gc$T-keep$T-eth0" ]; echo $?)" \
	"cache: dropped entry gone, valid entry kept"
echo '{"cniVersion":"1.1.0","name":"gc2'$T'","disableGC":true,"plugins":[{"type":"rec-a"}]}' >"$D/net.d/30-gc.conflist"
rm -f "$D"/rec/*
check "net gc on a disableGC list" -- berth net gc gc2$T
is "$(rec_files GC | wc -l)" 0 "disableGC: no GC call"
done_testing
