#!/bin/bash
# Concurrency (issue 7): 64 ADDs at once on one network (bridge + host-local + portmap +
# firewall through `berth net add`), then 64 DELs at once.  Every call succeeds, no address is
# handed out twice, every container has its nft elements (masquerade, port mapping, firewall),
# every container reaches the gateway, and the state after the DELs equals the state before.
source "$(dirname "$0")/lib-core.bash"
PLUGIN_PATH=$CNI_BIN
for p in bridge host-local portmap firewall; do
	[ -x "$CNI_BIN/$p" ] || skip_all "$p not built"
done
core_setup
N=${N_PARALLEL:-64}
write_conflist 1.0.0 ', {"type":"portmap","capabilities":{"portMappings":true}}, {"type":"firewall"}'

nft_elems() { ip netns exec "$H" nft -j list ruleset 2>/dev/null |
	jq -r '[.nftables[] | (.set // .map // empty) | (.elem // []) | length] | add // 0'; }
state() {
	ip -n "$H" -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -v "^$BR$" | sort
	ls "$D/ipam/$NET" 2>/dev/null | grep -E '^[0-9]' | sort
	ls "$D/cache/results" 2>/dev/null | sort
	echo "nft elements: $(nft_elems)"
}

# The bridge and tables exist after a first container; compare against that.
check "first ADD creates the bridge and tables" -- berth net add "$NET" --container seed$T --netns "/run/netns/$C"
check "first DEL" -- berth net del "$NET" --container seed$T --netns "/run/netns/$C"
before=$(state)

for i in $(seq 1 $N); do mknetns "p$i$T" >/dev/null; done
for i in $(seq 1 $N); do
	berth net add "$NET" --container "par$i$T" --netns "/run/netns/p$i$T" \
		--publish $((20000 + i)):80 --json >"$D/add.$i" 2>"$D/add.$i.err" &
done
fails=0
for job in $(jobs -p); do wait "$job" || fails=$((fails + 1)); done
is "$fails" 0 "$N parallel ADDs all succeed"
for i in $(seq 1 $N); do [ -s "$D/add.$i.err" ] && { diag "ADD $i: $(head -c 300 "$D/add.$i.err")"; break; }; done

addrs=$(cat "$D"/add.[0-9]* 2>/dev/null | jq -r '.ips[0].address' 2>/dev/null | sort)
is "$(wc -l <<<"$addrs")" "$N" "$N addresses returned"
is "$(uniq -d <<<"$addrs")" "" "no address handed out twice"
is "$(ls "$D/ipam/$NET" | grep -cE '^[0-9]')" "$N" "$N reservations on disk"
is "$(ip -n "$H" -o link show master "$BR" | wc -l)" "$N" "$N ports on the bridge"
elems=$(nft_elems)
[ "$elems" -ge $((N * 3)) ]; ok $? "at least 3 nft elements per container ($elems for $N)"
for i in 1 $((N / 2)) $N; do
	check "container $i reaches the gateway" -- ip netns exec "p$i$T" ping -c1 -W5 "$SUBNET.1"
done

for i in $(seq 1 $N); do
	berth net del "$NET" --container "par$i$T" --netns "/run/netns/p$i$T" >/dev/null 2>"$D/del.$i.err" &
done
fails=0
for job in $(jobs -p); do wait "$job" || fails=$((fails + 1)); done
is "$fails" 0 "$N parallel DELs all succeed"
is "$(state)" "$before" "state after the DELs equals the state before the ADDs"

done_testing
