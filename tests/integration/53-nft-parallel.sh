#!/bin/bash
# Many portmap ADDs at once on a host where berth's tables do not exist yet: every call must
# succeed (the first ones race to create the tables; exactly one creation wins), no rule may be
# duplicated, and every mapping is an element.  Then as many parallel DELs leave nothing.
source "$(dirname "$0")/../lib.sh"
need_root
command -v nft >/dev/null || skip_all "nft not installed"
PM=$CNI_BIN/portmap
[ -x "$PM" ] || skip_all "portmap not built"
N=32
H=pph$T C=ppc$T TBL=berth_t$T
STATE=$(mktemp -d); defer "rm -rf $STATE"
mknetns "$H"; mknetns "$C"

conf() {
	printf '{"cniVersion":"1.0.0","name":"pp%s","type":"portmap","runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"udp"}]},"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/%s"}],"ips":[{"address":"10.66.%d.%d/16","interface":0}]}}' \
		"$T" $((20000 + $1)) "$C" $(($1 / 200)) $(($1 % 200 + 2))
}
run() { # run CMD I
	conf "$2" | ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND=$1 CNI_CONTAINERID=p$2 \
		CNI_NETNS=/run/netns/$C CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" BERTH_NFT_TABLE=$TBL \
		BERTH_NFT_STATE_DIR=$STATE "$PM" >"$STATE/out.$1.$2"
	echo $? >"$STATE/rc.$1.$2"
}
for ((i = 0; i < N; i++)); do run ADD $i & done
wait
fails=$(cat "$STATE"/rc.ADD.* | grep -vc '^0$')
is "$fails" 0 "$N parallel ADDs on a fresh host all succeed"
[ "$fails" -eq 0 ] || cat "$STATE"/out.ADD.* | grep -m3 msg | sed 's/^/# /'
is "$(ip netns exec "$H" nft -j list table inet $TBL | jq '[.nftables[] | select(.rule)] | length')" 29 \
	"the rules exist exactly once"
is "$(ip netns exec "$H" nft -j list map inet $TBL pm4_any | jq '.nftables[1].map.elem | length')" $N \
	"one element per container"
for ((i = 0; i < N; i++)); do run DEL $i & done
wait
is "$(cat "$STATE"/rc.DEL.* | grep -vc '^0$')" 0 "$N parallel DELs succeed"
is "$(ip netns exec "$H" nft -j list ruleset | jq '[.nftables[] | (.set // .map // empty) | .elem // [] | .[]] | length')" 0 \
	"no element left"
done_testing
