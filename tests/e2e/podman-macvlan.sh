#!/bin/bash
# e2e: podman 4 (CNI backend, cni_plugin_dirs: our plugin dir only) creates a macvlan network
# with `podman network create -d macvlan -o parent=MASTER --subnet ...` and runs two containers
# on it: they ping each other and a peer on the parent's network; removal leaves no address.
# The parent is a veth of our own in a throwaway "host" netns (podman runs in that netns, so it
# sees the parent there; the host's interfaces are never used); its other end is in a peer netns
# holding the parent network's first address.  Podman in a private mount ns as in podman.sh.
source "$(dirname "$0")/../integration/lib-core.bash"
source "$(dirname "$0")/lib-podman.bash"
command -v podman >/dev/null || skip_all "podman not installed"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
core_setup
OURS=${BERTH_PLUGIN_DIR:-$CNI_BIN}
for p in macvlan host-local; do
	[ -x "$OURS/$p" ] || { echo "Bail out! $OURS/$p missing"; exit 1; }
done
NET=pm$T
MASTER=pmm$T
PEER=pmp$T
mknetns "$PEER"
ip -n "$H" link add "$MASTER" type veth peer name eth0 netns "$PEER"
ip -n "$H" link set "$MASTER" up; ip -n "$PEER" link set eth0 up
ip -n "$PEER" addr add "$SUBNET.1/24" dev eth0

podman_setup "$OURS"
check "podman network create -d macvlan -o parent=$MASTER" -- \
	pod network create -d macvlan -o parent="$MASTER" --subnet "$SUBNET.0/24" --gateway "$SUBNET.1" \
	--ip-range "$SUBNET.64/26" "$NET"
conf=$D/net.d/$NET.conflist
is "$(jq -r '.plugins[0] | "\(.type) \(.master)"' "$conf" 2>/dev/null)" "macvlan $MASTER" "podman wrote a macvlan conflist on our parent"
ipamdir=$(jq -r '.plugins[0].ipam.dataDir // "/var/lib/cni/networks"' "$conf")
run() { # NAME
	pod run -d --name "$1" --network "$NET" --cap-add NET_RAW "localhost/bb$T:latest" sleep 3600 \
		</dev/null >/dev/null 2>"$D/$1.err" || { cat "$D/$1.err"; return 1; }
}
check "podman run a" -- run a$T
check "podman run b" -- run b$T
ipa=$(pod inspect a$T --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}")
ipb=$(pod inspect b$T --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}")
diag "a=$ipa b=$ipb"
[ -n "$ipa" ] && [ "$ipa" != "$ipb" ]; ok $? "two distinct addresses"
sk=$(pod inspect a$T --format '{{.NetworkSettings.SandboxKey}}')
mvinfo=$(nsenter -t "$HOLDER" -m nsenter --net="$sk" ip -d -o link show eth0 2>/dev/null)
case $mvinfo in *"macvlan mode bridge"*) ok 0 "a's eth0 is a macvlan in bridge mode" ;;
*) ok 1 "a's eth0 is a macvlan in bridge mode"; diag "$sk: $mvinfo" ;; esac
is "$(sed -n 's/^[0-9]*: eth0@if\([0-9]*\):.*/\1/p' <<<"$mvinfo")" \
	"$(ip -n "$H" -j link show "$MASTER" | jq -r '.[0].ifindex')" "a's eth0 sits on our parent"
check "a pings b" -- pod exec a$T ping -c1 -W5 "$ipb"
check "b pings a" -- pod exec b$T ping -c1 -W5 "$ipa"
check "a pings the peer on the parent's network" -- pod exec a$T ping -c1 -W5 "$SUBNET.1"
check "the peer pings b" -- ip netns exec "$PEER" ping -c1 -W5 "$ipb"
check "podman rm -f a b" -- pod rm -f -t0 a$T b$T
is "$(ls "$ipamdir/$NET" 2>/dev/null | grep -c '^10\.')" 0 "removal leaves no address reserved"
is "$(ip -n "$H" -o link show 2>/dev/null | grep -vc ": lo:\|$MASTER")" 0 "nothing left in the host netns but the parent"
check "podman network rm" -- pod network rm -f "$NET"
rm -rf "${ipamdir:?}/$NET"
done_testing
