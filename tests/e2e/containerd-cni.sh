#!/bin/bash
# e2e: berth's CNI plugins under containerd 1.6 (`ctr run --cni`, go-cni), unchanged.
# The conf dir and the plugin dir are the ones go-cni reads (/etc/cni/net.d, /usr/lib/cni),
# bind-mounted in containerd's private mount namespace (lib-containerd.bash): only our plugins
# are there.  Two networks, one after the other (go-cni uses the first conflist of the dir):
#   1. a conflist of bridge + host-local + portmap + firewall + tuning + loopback (cniVersion 1.0.0)
#   2. the embedded network `berth` exactly as `berth net show berth --json` prints it
#      (bridge berth0 on 10.213.0.0/24; "cniVersion": "1.0.0" with "cniVersions": ["1.0.0",
#      "1.1.0"]: libcni 1.1 in containerd 1.6 fails a 1.1.0 result with "unsupported CNI result
#      version"; fixed names and /var/lib/cni/networks/berth: run under the suite lock)
# For each: two containers (the built-in overlayfs snapshotter, so that this test needs no
# berth-snapshotter) ping each other, the gateway and the host; after `ctr task kill` the
# foreground `ctr run` DELs (with CNI_NETNS empty: the task is gone by then) and no veth,
# address, cache entry or nft element is left.  (ctr passes no capability args: portMappings
# cannot be exercised through it.)
source "$(dirname "$0")/../integration/lib-core.bash"
source "$(dirname "$0")/lib-containerd.bash"
ctrd_have || skip_all "containerd, ctr, runc or containerd-shim-runc-v2 not installed"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
core_setup
for p in bridge host-local portmap firewall tuning loopback; do
	[ -x "$CNI_BIN/$p" ] || { echo "Bail out! $CNI_BIN/$p missing"; exit 1; }
done
export BERTH_NFT_STATE_DIR=$D/nft

check "build the OCI image (busybox, 2 layers, a whiteout)" -- bash "$BERTH_SRC/tests/e2e/mk-oci-image.sh" -n "localhost/bb$T:1" "$D/image.tar"
# (not through check: that runs its command in a subshell, and these start background processes)
ctrd_start; ok $? "containerd starts (private root, state, socket, config)"
defer "ctr images rm localhost/bb$T:1"
check "ctr images import" -- ctr images import --base-name "localhost/bb$T" "$D/image.tar"
IMG=localhost/bb$T:1

# reservations DIR: host-local's address files that name one of our containers
reservations() { grep -l -- "-[ab]$T" "$1"/[0-9]* 2>/dev/null | wc -l; }

# net_cycle NET BRIDGE GW IPAMDIR: two containers on the conflist in $CT/net.d
net_cycle() {
	local net=$1 br=$2 gw=$3 ipam=$4 a=a$T b=b$T ipa ipb left n
	ctr_run_bg "$a" overlayfs "$IMG"; ok $? "[$net] ctr run --cni a"
	ctr_run_bg "$b" overlayfs "$IMG"; ok $? "[$net] ctr run --cni b"
	ipa=$(ctr_ip "$a")
	ipb=$(ctr_ip "$b")
	diag "[$net] a=$ipa b=$ipb gateway $gw"
	ok "$([ -n "$ipa" ] && [ -n "$ipb" ] && [ "$ipa" != "$ipb" ]; echo $?)" "[$net] both have an address on eth0"
	is "$(cexec "$a" ip -4 route show default | awk '{print $3}')" "$gw" "[$net] a's default route is the gateway"
	check "[$net] a pings b" -- cexec "$a" ping -c1 -W5 "$ipb"
	check "[$net] b pings a" -- cexec "$b" ping -c1 -W5 "$ipa"
	check "[$net] a pings the gateway" -- cexec "$a" ping -c1 -W5 "$gw"
	check "[$net] the host (its netns) pings b" -- ip netns exec "$H" ping -c1 -W5 "$ipb"
	is "$(cexec "$a" cat /sys/class/net/lo/operstate 2>/dev/null | tr -d '\r')" unknown "[$net] loopback is up in a"
	is "$(ip -n "$H" -o link show master "$br" | wc -l)" 2 "[$net] two veths on $br"
	is "$(reservations "$ipam")" 2 "[$net] two host-local reservations"
	is "$(ls /var/lib/cni/results 2>/dev/null | grep -c "^$net-$CTR_NS-[ab]$T-eth0\$")" 2 "[$net] go-cni cached both results"
	if ip netns exec "$H" nft list table inet berth >/dev/null 2>&1; then
		ok "$([ -n "$ipa" ] && ip netns exec "$H" nft list table inet berth | grep -qw "$ipa"; echo $?)" "[$net] firewall elements for a in nft"
	else
		ok 1 "[$net] no nft table inet berth in the host netns"
	fi
	ctr_stop_bg "$a"; ok $? "[$net] ctr task kill a; its ctr run tears down and exits 0"
	ctr_stop_bg "$b"; ok $? "[$net] ctr task kill b; its ctr run tears down and exits 0"
	is "$(ctr containers ls -q | grep -c "$T")" 0 "[$net] containers removed (--rm)"
	left=""
	[ "$(ip -n "$H" -o link show master "$br" 2>/dev/null | wc -l)" -eq 0 ] || left+=" veth"
	[ "$(reservations "$ipam")" -eq 0 ] || left+=" ip"
	[ "$(ls /var/lib/cni/results 2>/dev/null | grep -c "^$net-$CTR_NS-[ab]$T-eth0\$")" -eq 0 ] || left+=" cache"
	if ip netns exec "$H" nft list table inet berth >/dev/null 2>&1; then
		n=$(ip netns exec "$H" nft -j list table inet berth | jq '[.nftables[] | .set? | select(. != null) | (.elem // []) | length] | add // 0')
		[ "$n" -eq 0 ] || left+=" nft($n)"
	fi
	is "$left" "" "[$net] nothing left: no veth, reservation, cache entry, nft element"
}

# 1. our own conflist, every plugin of the chain
NET=ct$T
BR=ct$T
cat >"$CT/net.d/10-$NET.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$NET",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BR", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$D/ipam",
        "ranges": [[{ "subnet": "$SUBNET.0/24", "gateway": "$SUBNET.1" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "firewall" },
    { "type": "tuning", "sysctl": { "net.ipv4.conf.eth0.rp_filter": "2" } },
    { "type": "loopback" }
  ]
}
JSON
net_cycle "$NET" "$BR" "$SUBNET.1" "$D/ipam/$NET"
rm -f "$CT/net.d/10-$NET.conflist"

# 2. the embedded network, as berth prints it, unchanged
"$BERTH_BIN" --config-dir "$D/empty" net show berth --json | jq .config >"$CT/net.d/10-berth.conflist"
# cniVersion 1.0.0 for libcni 1.1 (containerd 1.6 knows no 1.1.0 result), cniVersions for berth
is "$(jq -r '[.name, .cniVersion, (.cniVersions | join(",")), .plugins[0].bridge] | join(" ")' "$CT/net.d/10-berth.conflist")" \
	"berth 1.0.0 1.0.0,1.1.0 berth0" "the embedded network written as a conflist"
net_cycle berth berth0 10.213.0.1 /var/lib/cni/networks/berth
done_testing
