#!/bin/bash
# berth net add/check/del: a bridge + portmap + firewall chain (plus two recording plugins)
# in a throwaway host netns, for each spec version: prevResult chaining, capability args only
# for plugins that declare them, the libcni result cache, a published port answering, DEL in
# reverse from the cache leaving nothing behind.
source "$(dirname "$0")/lib-core.bash"
core_setup
command -v socat >/dev/null || skip_all "needs socat"
mkrecorder rec-a
mkrecorder rec-b

PORT=18080
ip netns exec "$C" socat TCP-LISTEN:8080,reuseaddr,fork SYSTEM:"echo hello-$T" &
defer "kill $!"

for ver in 0.3.1 0.4.0 1.0.0 1.1.0; do
	rm -f "$D"/rec/*
	fw=',{"type":"firewall"}'
	[ "$ver" = 0.3.1 ] && fw='' # the reference firewall starts at 0.4.0
	write_conflist "$ver" ',{"type":"rec-a"},{"type":"portmap","capabilities":{"portMappings":true}},{"type":"rec-b","capabilities":{"portMappings":true,"bandwidth":true}}'"$fw"
	ID=ctr-$ver-$T
	out=$(berth net add "$NET" --container "$ID" --netns "/run/netns/$C" \
		--publish "127.0.0.1:$PORT:8080" --args "IgnoreUnknown=1;K8S_POD_NAME=p$T" \
		--cap 'bandwidth={"ingressRate":8000,"ingressBurst":800}' --cap 'aliases={"x":["y"]}' --json)
	ok $? "$ver: net add succeeds"
	addr=$(jget "$out" '.ips[0].address')
	is "$(jget "$out" .cniVersion)" "$ver" "$ver: result in the list's version"
	is "$(ip -n "$C" -j addr show eth0 | jq -r '.[0].addr_info[] | select(.family=="inet") | "\(.local)/\(.prefixlen)"')" \
		"$addr" "$ver: eth0 in the container has the result's address ($addr)"
	is "$(ip -n "$C" -j route show default | jq -r '.[0].gateway')" "$SUBNET.1" "$ver: default route via the gateway"
	check "$ver: container pings its gateway" -- ip netns exec "$C" ping -c1 -W5 "$SUBNET.1"

	a=$(rec_files ADD | grep rec-a); b=$(rec_files ADD | grep rec-b)
	is "$(jq -r '.prevResult.ips[0].address' "$a")" "$addr" "$ver: rec-a got the bridge result as prevResult"
	is "$(jq -r 'has("runtimeConfig")' "$a")" false "$ver: no runtimeConfig for a plugin without capabilities"
	is "$(jq -c '.runtimeConfig' "$b")" "{\"portMappings\":[{\"hostPort\":$PORT,\"containerPort\":8080,\"protocol\":\"tcp\",\"hostIP\":\"127.0.0.1\"}],\"bandwidth\":{\"ingressRate\":8000,\"ingressBurst\":800}}" \
		"$ver: runtimeConfig holds only the declared capabilities that were given (--publish, --cap bandwidth; not aliases)"
	is "$(jq -r '.name + " " + .cniVersion' "$b")" "$NET $ver" "$ver: name and cniVersion injected"

	cf=$D/cache/results/$NET-$ID-eth0
	is "$(stat -c %a "$cf" 2>/dev/null)" 600 "$ver: cache entry written, mode 0600"
	is "$(jq -r .kind "$cf")" cniCacheV1 "$ver: cache kind cniCacheV1"
	check "$ver: cached config is the conflist byte for byte" -- cmp <(jq -r .config "$cf" | base64 -d) "$D/net.d/10-$NET.conflist"
	is "$(jq -c .result "$cf")" "$(jq -c . <<<"$out")" "$ver: cached result is the chain's final result"
	is "$(jq -c .cniArgs "$cf")" "[[\"IgnoreUnknown\",\"1\"],[\"K8S_POD_NAME\",\"p$T\"]]" "$ver: cniArgs cached as pairs"

	got=""
	for _ in $(seq 300); do
		got=$(ip netns exec "$H" socat -T2 - "TCP:127.0.0.1:$PORT" </dev/null 2>/dev/null) && [ -n "$got" ] && break
		sleep 0.1
	done
	is "$got" "hello-$T" "$ver: published port 127.0.0.1:$PORT answers from the container"

	if [ "$ver" = 0.3.1 ]; then
		berth net check "$NET" --container "$ID" >/dev/null 2>&1
		is $? 1 "$ver: CHECK refused before 0.4.0"
	elif [ -x "$CNI_BIN/portmap" ]; then
		check "$ver: net check passes" -- berth net check "$NET" --container "$ID"
	else
		skip "$ver: CHECK: the reference portmap 1.1.1 fails CHECK on IPv4-only (fixed in 1.9.0)"
	fi

	rm -f "$D"/rec/*
	check "$ver: net del succeeds" -- berth net del "$NET" --container "$ID"
	order=$(rec_order DEL)
	is "$order" "rec-b rec-a " "$ver: DEL runs in reverse order"
	b=$(rec_files DEL | grep rec-b)
	if [ "$ver" = 0.3.1 ]; then
		is "$(jq -r 'has("prevResult")' "$b")" false "$ver: no prevResult on DEL before 0.4.0"
	else
		is "$(jq -c .prevResult "$b")" "$(jq -c . <<<"$out")" "$ver: DEL prevResult is the cached result"
	fi
	is "$(jq -r '.runtimeConfig.portMappings[0].hostPort' "$b")" "$PORT" "$ver: DEL gets the cached capability args"
	ok "$([ ! -e "$cf" ]; echo $?)" "$ver: cache entry removed"
	ok "$([ ! -e "$D/ipam/$NET/${addr%/*}" ]; echo $?)" "$ver: IP reservation released"
	is "$(ip -n "$H" -o link show master "$BR" | wc -l)" 0 "$ver: no veth left on the bridge"
	ok "$(ip -n "$C" link show eth0 >/dev/null 2>&1; [ $? -ne 0 ]; echo $?)" "$ver: eth0 gone from the container"
done

# A single plugin .conf (no list) is a network too, up-converted to a one-plugin list.
rm -f "$D/net.d"/*
cat >"$D/net.d/50-single.conf" <<JSON
{ "cniVersion": "1.0.0", "name": "one$T", "type": "bridge", "bridge": "$BR",
  "ipam": { "type": "host-local", "dataDir": "$D/ipam", "ranges": [[{ "subnet": "$SUBNET.0/24" }]] } }
JSON
out=$(berth net add "one$T" --container single$T --netns "/run/netns/$C" --json)
ok $? ".conf: net add succeeds"
addr=$(jget "$out" '.ips[0].address')
is "$(ip -n "$C" -j addr show eth0 | jq -r '.[0].addr_info[] | select(.family=="inet") | "\(.local)/\(.prefixlen)"')" \
	"$addr" ".conf: eth0 has the result's address ($addr)"
cf=$D/cache/results/one$T-single$T-eth0
is "$(jq -r .config "$cf" | base64 -d | jq -c '[.name, .cniVersion, [.plugins[].type]]')" "[\"one$T\",\"1.0.0\",[\"bridge\"]]" \
	".conf: cached as a one-plugin list"
check ".conf: net del" -- berth net del "one$T" --container single$T
ok "$([ ! -e "$cf" ] && [ ! -e "$D/ipam/one$T/${addr%/*}" ]; echo $?)" ".conf: cache entry and address gone"
done_testing
