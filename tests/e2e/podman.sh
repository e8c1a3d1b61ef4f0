#!/bin/bash
# e2e: podman 4 (CNI backend) runs two containers on a network of our plugins
# (cni_plugin_dirs: our plugin dir only):
# they ping each other, a published port answers on 127.0.0.1, berth reads podman's result
# cache, and removal leaves no veth, IP file, cache entry or nft element behind.
# Host side in a throwaway netns; podman in a private mount ns with the cgroup hybrid fix,
# cgroups disabled, vfs storage under a temp dir; the image is busybox-static imported.
source "$(dirname "$0")/../integration/lib-core.bash"
source "$(dirname "$0")/lib-podman.bash"
command -v podman >/dev/null || skip_all "podman not installed"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
core_setup
OURS=${BERTH_PLUGIN_DIR:-$CNI_BIN}

NET=pz$T
BR=pz$T
cat >"$D/net.d/$NET.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "$NET",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BR", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$D/ipam",
        "routes": [{ "dst": "0.0.0.0/0" }],
        "ranges": [[{ "subnet": "$SUBNET.0/24", "gateway": "$SUBNET.1" }]]
      },
      "capabilities": { "ips": true }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "firewall", "backend": "" },
    { "type": "tuning" }
  ]
}
JSON
# berth net check/gc take a per-network lock file beside the cache
defer "rm -f /var/lib/cni/berth-locks/$NET"
podman_setup "$OURS" bridge
for p in bridge host-local portmap firewall tuning; do
	[ -x "$OURS/$p" ] || { echo "Bail out! $OURS/$p missing"; exit 1; }
done
is "$(pod network ls --format '{{.Name}}' | grep -c "^$NET\$")" 1 "podman accepts the network (every plugin passed VERSION)"

run() { # NAME ARGS...: detached container serving hello-NAME on port 80
	local name=$1; shift
	pod run -d --name "$name" --network "$NET" --cap-add NET_RAW "$@" "localhost/bb$T:latest" \
		sh -c "echo hello-$name >/tmp/index.html; exec httpd -f -p 80 -h /tmp" </dev/null >/dev/null 2>"$D/$name.err" ||
		{ cat "$D/$name.err"; return 1; }
}
check "podman run a" -- run a$T -p 127.0.0.1:18082:80
check "podman run b" -- run b$T
ipa=$(pod inspect a$T --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}")
ipb=$(pod inspect b$T --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}")
ida=$(pod inspect a$T --format '{{.Id}}')
diag "a=$ipa b=$ipb"
check "a pings b" -- pod exec a$T ping -c1 -W5 "$ipb"
check "b pings a" -- pod exec b$T ping -c1 -W5 "$ipa"
get() { printf 'GET / HTTP/1.0\r\n\r\n' | nsenter --net="/run/netns/$H" socat -T5 - "TCP:$1:$2" 2>/dev/null | tail -1; }
body=""
for _ in $(seq 300); do body=$(get 127.0.0.1 18082); [ -n "$body" ] && break; sleep 0.1; done
is "$body" "hello-a$T" "published port 127.0.0.1:18082 answers from a"
body=$(pod exec b$T wget -q -O- "http://$ipa/" 2>/dev/null)
is "$body" "hello-a$T" "b reaches a's httpd"

# podman's libcni cache, read by berth
pc=/var/lib/cni/results/$NET-$ida-eth0
is "$(jq -r .kind "$pc" 2>/dev/null)" cniCacheV1 "podman wrote a libcni cache entry"
# berth where podman runs (its netns files are mounted in the holder's mount namespace)
bpod() { nsenter -t "$HOLDER" -m -n "$BERTH_BIN" --config-dir "$D/net.d" --cache-dir /var/lib/cni "$@"; }
out=$(bpod net show "$NET" --json)
is "$(jget "$out" '[.attachments[].result.ips[0].address | split("/")[0]] | sort | join(" ")')" \
	"$(printf '%s\n' "$ipa" "$ipb" | sort | tr '\n' ' ' | sed 's/ $//')" "berth net show lists podman's two attachments"
j=$(bpod inspect "${ida:0:12}" --json)
is "$(jget "$j" '.networks[0].container.addresses[0]')" "$ipa/24" "berth inspect reads a's interface through podman's cache"
is "$(jget "$j" '.networks[0].host.master')" "$BR" "and finds its bridge port"
check "berth net check of a's attachment from podman's cache entry" -- bpod net check "$NET" --container "$ida"

# A container whose netns vanished without a DEL (podman's state lost): podman 4's cache
# entry records no netns, berth net gc judges it by the result's sandbox and DELs it.
check "podman run c" -- run c$T
idc=$(pod inspect c$T --format '{{.Id}}')
pcc=/var/lib/cni/results/$NET-$idc-eth0
ipc=$(jq -r '.result.ips[0].address' "$pcc"); ipc=${ipc%/*}
sbc=$(jq -r '.result.interfaces[] | select(.name == "eth0") | .sandbox' "$pcc")
is "$(jq -r 'has("netns")' "$pcc"):${sbc%/*}" "false:/run/netns" "c's entry has no netns, its sandbox is under /run/netns"
nsenter -t "$HOLDER" -m sh -c "umount '$sbc' && rm -f '$sbc'"
out=$(bpod net gc "$NET" --json)
is "$(jget "$out" '.[0].deleted')" 1 "berth net gc deletes c's attachment (its sandbox is gone)"
left=""
[ -e "$pcc" ] && left+=" cache"
[ -e "$D/ipam/$NET/$ipc" ] && left+=" ip"
ip netns exec "$H" nft list ruleset 2>/dev/null | grep -qw "$ipc" && left+=" nft"
[ "$(ip netns exec "$H" ls "/sys/class/net/$BR/brif" | wc -l)" -eq 2 ] || left+=" veth"
is "$left" "" "c's cache entry, address $ipc, host veth and nft elements are gone"
ok "$([ -e "$pc" ] && [ -n "$(ls "$D/ipam/$NET" | grep -x "$ipa")" ]; echo $?)" "a's entry and address are kept"
check "a still reaches b after the gc" -- pod exec a$T ping -c1 -W5 "$ipb"
check "podman rm -f c" -- pod rm -f -t0 c$T

check "podman rm -f a b" -- pod rm -f -t0 a$T b$T
left=""
[ -e "$pc" ] && left+=" cache"
[ "$(ls /var/lib/cni/results 2>/dev/null | grep -c "^$NET-")" -eq 0 ] || left+=" cache-b"
[ "$(ls "$D/ipam/$NET" 2>/dev/null | grep -c '^10\.')" -eq 0 ] || left+=" ip"
[ "$(ip -n "$H" -o link show master "$BR" 2>/dev/null | wc -l)" -eq 0 ] || left+=" veth"
if ip netns exec "$H" nft list table inet berth >/dev/null 2>&1; then
	n=$(ip netns exec "$H" nft -j list table inet berth | jq '[.nftables[] | .set? | select(. != null) | (.elem // []) | length] | add // 0')
	[ "$n" -eq 0 ] || left+=" nft($n)"
fi
is "$left" "" "removal leaves no veth, IP file, cache entry or nft element"
done_testing
