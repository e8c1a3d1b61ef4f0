#!/bin/bash
# sanitize: no (valgrind cannot run ASan binaries; scripts/test.sh runs it in the plain tier only)
# Plugin runs under valgrind (memcheck): every ADD, CHECK and DEL of a bridge + host-local +
# portmap + tuning + loopback chain, and the error paths, must finish with no memory error and no
# definite leak.  Not in the sanitizer tier (valgrind and ASan do not mix).  Runs the binaries
# of the FAULT=1 build (dynamically linked everywhere, fault points inert unless BERTH_FAULT is
# set): memcheck cannot follow the heap of a statically linked binary.
source "$(dirname "$0")/../lib.sh"
need_root
[ "${SANITIZE:-}" = 1 ] && skip_all "ASan build: valgrind smoke runs in the plain tier"
[ -x "${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}/cni/bridge" ] || { echo "not ok 1 - build-fault/ missing: make FAULT=1"; echo 1..1; exit 1; }
command -v valgrind >/dev/null || skip_all "valgrind not installed"
CNI_BIN=${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}/cni
for p in bridge host-local portmap tuning loopback; do
	[ -x "$CNI_BIN/$p" ] || skip_all "$p not built"
done

export CNI_PATH=$CNI_BIN
DATA=$(mktemp -d /tmp/berth-vg.XXXXXX); defer "rm -rf $DATA"
VG=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
	--show-leak-kinds=definite --trace-children=yes --child-silent-after-fork=yes)
ns=vg$T; br=vgb$T; net=vgn$T
mknetns "$ns"
defer "ip link del $br"
export BERTH_NFT_TABLE=berthvg$T
defer "nft delete table inet berthvg$T; nft delete table ip berthvg$T; nft delete table ip6 berthvg$T"

A=$(( (0x${T:0:2} % 50) + 150 ))
subnet=10.$A.$(( 0x${T:2:2} % 250 )).0/24
conf=$(jq -nc --arg n "$net" --arg b "$br" --arg s "$subnet" --arg d "$DATA" \
	'{cniVersion:"1.0.0", name:$n, type:"bridge", bridge:$b, isGateway:true,
	  ipam:{type:"host-local", dataDir:$d, ranges:[[{subnet:$s}]], routes:[{dst:"0.0.0.0/0"}]}}')

# vgrun DESC EXPECTED-RC PLUGIN COMMAND STDIN-JSON: the plugin's stdout lands in $DATA/out
vgrun() {
	local desc=$1 want=$2 plugin=$3 cmd=$4 input=$5 rc
	env -i PATH="$PATH" CNI_COMMAND="$cmd" CNI_CONTAINERID=vg$T CNI_NETNS=/run/netns/$ns \
		CNI_IFNAME=eth0 CNI_PATH="$CNI_PATH" BERTH_NFT_TABLE="$BERTH_NFT_TABLE" BERTH_NFT_STATE_DIR="$DATA/nft" \
		"${VG[@]}" "$CNI_BIN/$plugin" <<<"$input" >"$DATA/out" 2>"$DATA/vg.err"; rc=$?
	is "$rc" "$want" "valgrind: $desc"
	[ "$rc" = "$want" ] || sed 's/^/#   /' "$DATA/vg.err" "$DATA/out" | head -30
}

vgrun "bridge ADD (with host-local)" 0 bridge ADD "$conf"
res=$(cat "$DATA/out")
prev() { jq -c --argjson p "$res" '. + {prevResult: $p}' <<<"$1"; }
pm=$(jq -nc --arg n "$net" --argjson p "$res" '{cniVersion:"1.0.0", name:$n, type:"portmap",
	runtimeConfig:{portMappings:[{hostPort:18000,containerPort:80,protocol:"tcp"}]}, prevResult:$p}')
tu=$(jq -nc --arg n "$net" --argjson p "$res" '{cniVersion:"1.0.0", name:$n, type:"tuning",
	sysctl:{"net.ipv4.conf.IFNAME.arp_filter":"1"}, mtu:1400, prevResult:$p}')
lo=$(jq -nc --arg n "$net" '{cniVersion:"1.0.0", name:$n, type:"loopback"}')
vgrun "portmap ADD" 0 portmap ADD "$pm"
vgrun "tuning ADD" 0 tuning ADD "$tu"
vgrun "loopback ADD" 0 loopback ADD "$lo"
vgrun "bridge CHECK" 0 bridge CHECK "$(prev "$conf")"
vgrun "portmap CHECK" 0 portmap CHECK "$pm"
vgrun "host-local ADD of a taken IP fails cleanly" 1 host-local ADD \
	"$(jq -c --arg ip "$(jq -r '.ips[0].address' <<<"$res" | cut -d/ -f1)" '. + {args:{cni:{ips:[$ip]}}}' <<<"$conf")"
vgrun "bridge ADD with bad JSON" 1 bridge ADD '{"cniVersion":"1.0.0",'
vgrun "bridge ADD with an invalid range" 1 bridge ADD "$(jq -c '.ipam.ranges[0][0].subnet="10.0.0.0/40"' <<<"$conf")"
vgrun "portmap ADD with an invalid port" 1 portmap ADD "$(jq -c '.runtimeConfig.portMappings[0].hostPort=70000' <<<"$pm")"
vgrun "tuning DEL" 0 tuning DEL "$tu"
vgrun "portmap DEL" 0 portmap DEL "$pm"
vgrun "loopback DEL" 0 loopback DEL "$lo"
vgrun "bridge DEL" 0 bridge DEL "$(prev "$conf")"
vgrun "bridge DEL again (idempotent)" 0 bridge DEL "$(prev "$conf")"
for p in bridge host-local portmap tuning loopback; do
	out=$(echo '{"cniVersion":"1.0.0"}' | env -i CNI_COMMAND=VERSION "${VG[@]}" "$CNI_BIN/$p" 2>&1); rc=$?
	is "$rc" 0 "valgrind: $p VERSION"
done

done_testing
