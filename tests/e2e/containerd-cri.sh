#!/bin/bash
# e2e: berth's CNI plugins under containerd 1.6's CRI plugin (the path of Kubernetes: kubelet ->
# CRI -> go-cni -> the plugins), with pod sandboxes run through the CRI runtime service by
# tests/helpers/cri-client (no kubelet, no crictl: Debian has neither).  The CRI plugin is
# configured as a cluster would be: bin_dir = our plugin dir, conf_dir = a conflist of
# bridge + host-local, portmap and bandwidth (capabilities, which the CRI plugin fills from the
# pod's port mappings and its kubernetes.io/*-bandwidth annotations; `ctr` cannot pass them),
# firewall; the sandbox ("pause") image is built offline and imported into the k8s.io namespace;
# the CRI's snapshotter is berth-snapshotter (overlay driver), as a node would configure it.
# (restrict_oom_score_adj: this machine refuses the sandbox's -998, as in a user namespace.)
# Two pods: each has its address, they ping each other and the gateway, a TCP connection
# through the pod's host port reaches a listener in it, its host veth is shaped; StopPodSandbox
# DELs (no veth, reservation, nft element or qdisc left), RemovePodSandbox forgets the pod.
source "$(dirname "$0")/../integration/lib-core.bash"
source "$(dirname "$0")/lib-containerd.bash"
ctrd_have || skip_all "containerd, ctr, runc or containerd-shim-runc-v2 not installed"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
CRI=$BERTH_BUILD/tests/helpers/cri-client
SNAPD=$BERTH_BUILD/bin/berth-snapshotter
for b in "$CRI" "$SNAPD" "$STOR_BIN/overlay"; do [ -x "$b" ] || { echo "Bail out! $b not built"; exit 1; }; done
core_setup
for p in bridge host-local portmap bandwidth firewall loopback; do
	[ -x "$CNI_BIN/$p" ] || { echo "Bail out! $CNI_BIN/$p missing"; exit 1; }
done
export BERTH_NFT_STATE_DIR=$D/nft
CTR_NS=k8s.io # the CRI plugin's namespace
PAUSE=localhost/pause$T:1
HP=$((20000 + 0x$T % 20000)) # the host port of pod a's mapping

check "build the sandbox image (busybox, Cmd sleep)" -- \
	bash "$BERTH_SRC/tests/e2e/mk-oci-image.sh" -n "$PAUSE" -c '["/bin/sleep","3600"]' "$D/pause.tar"
ctrd_holder
SR=$D/snap
mkdir -p "$SR" && chmod 0700 "$SR"
printf '{"driver":"overlay","root":"%s/store","runRoot":"%s/run","options":{"overlay":{}}}\n' "$SR" "$SR" >"$SR/storage.json"
SOCK=$SR/sock/berth.sock
defer snapd_stop
snapd_start; ok $? "berth-snapshotter starts (overlay)"
cat >"$CT/net.d/10-$NET.conflist" <<JSON
{
  "cniVersion": "1.0.0", "name": "$NET",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BR", "isGateway": true, "ipMasq": true,
      "ipam": {
        "type": "host-local", "dataDir": "$D/ipam",
        "ranges": [[{ "subnet": "$SUBNET.0/24", "gateway": "$SUBNET.1" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "bandwidth", "capabilities": { "bandwidth": true } },
    { "type": "firewall" }
  ]
}
JSON
CTRD_CRI=1 ctrd_start "
[proxy_plugins]
  [proxy_plugins.berth]
    type = \"snapshot\"
    address = \"$SOCK\"
[plugins.\"io.containerd.grpc.v1.cri\"]
  sandbox_image = \"$PAUSE\"
  stream_server_address = \"127.0.0.1\"
  stream_server_port = \"0\"
  enable_selinux = false
  restrict_oom_score_adj = true
  [plugins.\"io.containerd.grpc.v1.cri\".containerd]
    snapshotter = \"berth\"
    default_runtime_name = \"runc\"
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]
      runtime_type = \"io.containerd.runc.v2\"
  [plugins.\"io.containerd.grpc.v1.cri\".cni]
    bin_dir = \"$CNI_BIN\"
    conf_dir = \"$CT/net.d\"
    max_conf_num = 1"
ok $? "containerd starts with its CRI plugin (bin_dir = berth's plugins, snapshotter berth)"
cri() { in_ns "$CRI" "$CT/containerd.sock" "$@"; }
defer "ctr images rm $PAUSE"
check "ctr -n k8s.io images import --snapshotter berth (the sandbox image)" -- \
	ctr images import --snapshotter berth --base-name "${PAUSE%:*}" "$D/pause.tar"
snaps() { ctr snapshots --snapshotter berth ls | tail -n +2 | awk '{print $NF}' | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' '; }
is "$(snaps)" "Committed=2 " "the image unpacked into berth: two committed snapshots"
is "$(cri version | jq -r '"\(.runtime_name) \(.runtime_api_version)"')" "containerd v1" "CRI Version: containerd, runtime API v1"

# pods: "NAME ID" lines, for the cleanup (stop + remove whatever this test ran)
pods=$D/pods
: >"$pods"
defer "while read -r n id; do $CRI $CT/containerd.sock stop \$id; $CRI $CT/containerd.sock remove \$id; done <$pods"
run_pod() { # NAME [ARGS...]: RunPodSandbox; the id in $ID
	local out
	out=$(cri run "$1" "uid-$1" default "${@:2}") || {
		echo "# $out"
		grep -i 'level=error' "$CT/containerd.log" | tail -5 | sed 's/^/#   /'
		return 1
	}
	ID=$(jq -r .id <<<"$out")
	echo "$1 $ID" >>"$pods"
}
netns_of() { cri status "$1" | jq -r '.info.info.runtimeSpec.linux.namespaces[] | select(.type == "network") | .path'; }
in_pod() { local p=$1; shift; in_ns nsenter --net="$p" "$@"; }
reservations() { grep -l -- "$1" "$D/ipam/$NET"/[0-9]* 2>/dev/null | wc -l; }
host_veth_of() { # the host-side veth whose peer is eth0 in netns path $1
	local idx
	idx=$(in_pod "$1" cat /sys/class/net/eth0/iflink)
	ip -n "$H" -o link show 2>/dev/null | awk -F': ' -v i="$idx" '$1 == i {print $2}' | cut -d@ -f1
}

ID=
run_pod a$T -p "$HP:8080" -a kubernetes.io/ingress-bandwidth=8M -a kubernetes.io/egress-bandwidth=8M
ok $? "RunPodSandbox a (a host port, bandwidth annotations)"; A=$ID
[ -n "$A" ] || { echo "Bail out! no pod a"; exit 1; }
run_pod b$T; ok $? "RunPodSandbox b"; B=$ID
sa=$(cri status "$A"); sb=$(cri status "$B")
ipa=$(jq -r .ip <<<"$sa"); ipb=$(jq -r .ip <<<"$sb")
diag "a=$ipa b=$ipb"
is "$(jq -r .state <<<"$sa") $(jq -r .state <<<"$sb")" "ready ready" "PodSandboxStatus: both ready"
ok "$([[ $ipa == $SUBNET.* ]] && [[ $ipb == $SUBNET.* ]] && [ "$ipa" != "$ipb" ]; echo $?)" \
	"PodSandboxStatus: both have an address of the network's range, not the same"
na=$(netns_of "$A"); nb=$(netns_of "$B")
ok "$([ -n "$na" ] && [ -n "$nb" ] && [ "$na" != "$nb" ]; echo $?)" "each pod has its network namespace ($na, $nb)"
is "$(in_pod "$na" ip -4 -o addr show eth0 | awk '{print $4}')" "$ipa/24" "a's eth0 has the address the CRI reports"
is "$(in_pod "$na" ip -4 route show default | awk '{print $3}')" "$SUBNET.1" "a's default route is the gateway"
is "$(in_pod "$na" cat /sys/class/net/lo/operstate)" unknown "loopback is up in a (the CRI plugin's own lo network, our loopback)"
check "a pings b" -- in_pod "$na" ping -c1 -W5 "$ipb"
check "b pings the gateway" -- in_pod "$nb" ping -c1 -W5 "$SUBNET.1"
is "$(ip -n "$H" -o link show master "$BR" 2>/dev/null | wc -l)" 2 "two veths on $BR"
is "$(reservations "$A") $(reservations "$B")" "1 1" "one host-local reservation per pod (by sandbox id)"
va=$(host_veth_of "$na")
ok "$(tc -n "$H" -j qdisc show dev "$va" | jq -e 'any(.[]; .kind == "tbf")' >/dev/null; echo $?)" \
	"a's host veth $va is shaped (tbf, from the CRI's bandwidth annotations)"
ok "$(ip netns exec "$H" nft list table inet berth 2>/dev/null | grep -q "$ipa . $HP\|$HP . $ipa\|$ipa.*$HP\|$HP.*$ipa"; echo $?)" \
	"nft: the port mapping $HP -> $ipa:8080 is in berth's table"
# TCP through the host port: a listener in a, a client in the host netns
in_pod "$na" busybox nc -l -p 8080 -e /bin/echo hello-through-hostport >/dev/null 2>&1 &
lpid=$!
defer "kill $lpid"
listening() { in_pod "$na" cat /proc/net/tcp | grep -q ':1F90 00000000:0000 0A'; } # 8080, LISTEN
wait_for 10 listening
is "$(ip netns exec "$H" busybox nc -w 5 "$SUBNET.1" "$HP" </dev/null 2>/dev/null | tr -d '\r')" hello-through-hostport \
	"TCP to the gateway's host port $HP reaches the listener in a (portmap through the CRI)"
kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null

# StopPodSandbox: CNI DEL
cri stop "$A" >/dev/null; ok $? "StopPodSandbox a"
cri stop "$B" >/dev/null; ok $? "StopPodSandbox b"
is "$(ip -n "$H" -o link show master "$BR" 2>/dev/null | wc -l)" 0 "no veth left on $BR"
is "$(reservations "$A") $(reservations "$B")" "0 0" "no host-local reservation left"
ok "$(! ip netns exec "$H" nft list table inet berth 2>/dev/null | grep -q "$ipa\|$ipb"; echo $?)" "no nft element names a or b"
is "$(cri status "$A" | jq -r .state)" notready "PodSandboxStatus after stop: notready"
cri remove "$A" >/dev/null; ok $? "RemovePodSandbox a"
cri remove "$B" >/dev/null; ok $? "RemovePodSandbox b"
: >"$pods"
is "$(cri status "$A" | jq -r .code)" 5 "PodSandboxStatus of a removed pod: NotFound"
is "$(ctr containers ls -q | wc -l)" 0 "containerd keeps no sandbox container"
is "$(snaps)" "Committed=2 " "berth holds the image's two layers and no sandbox snapshot"
is "$(in_ns grep " $SR/store/containerd/overlay/" /proc/self/mounts)" "" "nothing is mounted below the driver's root (no container rootfs left)"
snapd_stop >"$D/snapd-stop.out" 2>&1; ok $? "berth-snapshotter drains and exits 0 on SIGTERM"
is "$(ls /var/lib/cni/results 2>/dev/null | grep -c -- "$NET-")" 0 "go-cni's result cache holds nothing of the network"
done_testing
