#!/bin/bash
# e2e: crun runs a real container (busybox httpd) whose network comes from `berth oci-hook`
# (createRuntime attaches, poststop detaches).  Everything host-side lives in a throwaway
# "host" netns; crun runs in a private mount namespace with the cgroup v1/v2 hybrid fix.
# PLUGIN_PATH selects the plugins (default: ours, then the reference ones).
source "$(dirname "$0")/../integration/lib-core.bash"
command -v crun >/dev/null || skip_all "crun not installed"
BUSYBOX=$(command -v busybox || echo /bin/busybox)
[ -x "$BUSYBOX" ] && file -L "$BUSYBOX" 2>/dev/null | grep -q "statically linked" ||
	{ [ -x /bin/busybox ] || skip_all "busybox-static not installed"; BUSYBOX=/bin/busybox; }
core_setup
export BERTH_NFT_STATE_DIR=$D/nft

write_conflist 1.0.0 ',{"type":"portmap","capabilities":{"portMappings":true}},{"type":"firewall"},{"type":"tuning"},{"type":"loopback"}'
ID=crun$T
B=$D/bundle
R=$B/rootfs
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/etc"
cp "$BUSYBOX" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done

# crun in the host netns of the test, in a private mount ns where /sys/fs/cgroup is not hybrid
crun_() {
	nsenter --net="/run/netns/$H" unshare -m sh -c \
		'mount --make-rprivate /sys/fs/cgroup 2>/dev/null; umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --root "$0" "$@"' \
		"$D/crun" "$@"
}
if ! (cd "$B" && crun spec); then
	ok 1 "crun spec writes a bundle config"
	done_testing
	exit 1
fi
hookargs="[\"berth\",\"oci-hook\",\"--config-dir\",\"$D/net.d\",\"--cache-dir\",\"$D/cache\",\"--plugin-path\",\"$PLUGIN_PATH\""
jq --arg berth "$BERTH_BIN" --arg net "$NET" --arg t "$T" \
	--argjson cr "$hookargs,\"createRuntime\"]" --argjson ps "$hookargs,\"poststop\"]" \
	--arg nftdir "$D/nft" '
	.process.terminal = false |
	.process.args = ["sh", "-c", "echo hello-\($t) >/tmp/index.html; exec httpd -f -p 80 -h /tmp"] |
	del(.process.rlimits) |
	.root.readonly = false |
	.annotations = {"org.berth.networks": $net, "org.berth.publish": "127.0.0.1:18081:80"} |
	.hooks = {
	  "createRuntime": [{"path": $berth, "args": $cr, "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "BERTH_NFT_STATE_DIR=\($nftdir)"]}],
	  "poststop": [{"path": $berth, "args": $ps, "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "BERTH_NFT_STATE_DIR=\($nftdir)"]}]
	}' "$B/config.json" >"$B/config.json.new" && mv "$B/config.json.new" "$B/config.json"
defer "crun_ delete -f $ID"

# the container must not inherit our stdout, or the caller waits for it forever
crun_run() { crun_ run -d --bundle "$B" "$ID" </dev/null >"$D/crun.out" 2>&1 || { cat "$D/crun.out"; return 1; }; }
check "crun run -d with the oci-hook" -- crun_run
st=$(crun_ state "$ID")
is "$(jq -r .status <<<"$st")" running "container running"
PID=$(jq -r .pid <<<"$st")
cf=$D/cache/results/$NET-$ID-eth0
is "$(jq -r .netns "$cf" 2>/dev/null)" "/proc/$PID/ns/net" "attached to the container's netns by the hook"
CIP=$(jq -r '.result.ips[0].address' "$cf" 2>/dev/null); CIP=${CIP%/*}
is "$(nsenter -t "$PID" -n ip -o -4 addr show eth0 | awk '{print $4}')" "$CIP/24" "eth0 inside the container has $CIP"
is "$(crun_ exec "$ID" ip -o -4 addr show eth0 | awk '{print $4}')" "$CIP/24" "the container sees it too (crun exec)"
check "the host pings the container" -- nsenter --net="/run/netns/$H" ping -c1 -W5 "$CIP"
get() { # URL host port: HTTP GET through socat, body only
	printf 'GET / HTTP/1.0\r\n\r\n' | nsenter --net="/run/netns/$H" socat -T5 - "TCP:$1:$2" 2>/dev/null | tail -1
}
body=""
for _ in $(seq 300); do body=$(get "$CIP" 80); [ -n "$body" ] && break; sleep 0.1; done
is "$body" "hello-$T" "httpd in the container answers on $CIP:80"
is "$(get 127.0.0.1 18081)" "hello-$T" "published port 127.0.0.1:18081 answers"
check "berth inspect sees the container" -- berth inspect "$ID"

check "crun kill" -- crun_ kill "$ID" KILL
for _ in $(seq 600); do [ "$(crun_ state "$ID" 2>/dev/null | jq -r .status)" = stopped ] && break; sleep 0.05; done
check "crun delete (poststop hook)" -- crun_ delete "$ID"
ok "$([ ! -e "$cf" ]; echo $?)" "cache entry removed by poststop"
is "$(ls "$D/ipam/$NET" 2>/dev/null | grep -c '^10\.')" 0 "address released"
is "$(ip -n "$H" -o link show master "$BR" | wc -l)" 0 "no veth left on the bridge"
if ip netns exec "$H" nft list table inet berth >/dev/null 2>&1; then
	is "$(ip netns exec "$H" nft -j list table inet berth | jq '[.nftables[] | .set? | select(. != null) | (.elem // []) | length] | add // 0')" 0 "no nft element left in our sets"
	is "$(ip netns exec "$H" nft list table inet berth | grep -c "$CIP")" 0 "no nft mention of $CIP left"
fi
done_testing
