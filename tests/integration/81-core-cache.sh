#!/bin/bash
# The result cache interoperates with libcni's: entries podman wrote are listed and drive a
# DEL (prevResult, capability args, CNI_ARGS all from the entry, the network config too when
# the conflist is gone); a corrupt entry is reported, does not block a DEL, and is removed;
# a second ADD of the same attachment is refused.
source "$(dirname "$0")/lib-core.bash"
core_setup
SAMPLES=$SHARED/samples/podman/var-lib-cni/results
[ -d "$SAMPLES" ] || SAMPLES=$BERTH_SRC/tests/data/podman-results
[ -d "$SAMPLES" ] || skip_all "no podman cache samples"

mkdir -p "$D/cache/results"
cp "$SAMPLES"/* "$D/cache/results/"
chmod 600 "$D/cache/results"/*
A=38acfff2295bf2f9229ae82b289c65d114a68c6b326810184c733fea1fefca80
B=89c50b29b5fae8801659ffc8aad44b166f25de7ad46a62ca936ec49c2bb700f5

out=$(berth net show pze2e --json)
ok $? "net show of a network known only from podman's cache"
is "$(jget "$out" '.attachments | length')" 2 "both podman attachments listed"
is "$(jget "$out" "[.attachments[] | .result.ips[0].address] | sort | join(\",\")")" "10.198.0.3/24,10.198.0.4/24" \
	"their addresses read from the cached results"
is "$(jget "$out" ".attachments[] | select(.containerId==\"$A\") | .capabilityArgs.portMappings[0].hostPort")" 18080 \
	"capability args read"
is "$(jget "$out" '[.config.plugins[].type] | join(",")')" "bridge,portmap,firewall,tuning" \
	"the base64 config decodes to podman's conflist"

# DEL of podman's attachment with recording stand-ins for its four plugins.
FAKE=$D/fake
for p in bridge portmap firewall tuning; do mkrecorder $p "$FAKE"; done
fake_berth() {
	ip netns exec "$H" "$BERTH_BIN" --config-dir "$D/net.d" --cache-dir "$D/cache" --plugin-path "$FAKE" "$@"
}
check "net del of podman's attachment" -- fake_berth net del pze2e --container $A
is "$(rec_order DEL)" "tuning firewall portmap bridge " "DEL in reverse order of the cached config"
pm=$(rec_files DEL | grep portmap)
is "$(jq -c .prevResult "$pm")" "$(jq -c .result "$SAMPLES/pze2e-$A-eth0")" "prevResult is podman's cached result"
is "$(jq -c .runtimeConfig "$pm")" '{"portMappings":[{"hostPort":18080,"containerPort":80,"protocol":"tcp","hostIP":"127.0.0.1"}]}' \
	"portmap gets podman's cached portMappings"
is "$(grep ^CNI_ARGS= "${pm%.json}.env")" "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=pze2e-b-23360" "CNI_ARGS rebuilt from cniArgs"
is "$(grep ^CNI_CONTAINERID= "${pm%.json}.env")" "CNI_CONTAINERID=$A" "container ID passed"
ok "$([ ! -e "$D/cache/results/pze2e-$A-eth0" ]; echo $?)" "podman's entry removed after the DEL"
ok "$([ -e "$D/cache/results/pze2e-$B-eth0" ]; echo $?)" "the other entry is untouched"

# A corrupt entry.
echo '{"kind":"cniCacheV1","containerId":' >"$D/cache/results/pze2e-bad-eth0"
out=$(fake_berth net show pze2e 2>&1)
grep -q "1 unreadable cache entry skipped" <<<"$out"
ok $? "net show reports the corrupt entry"
# the network exists only in the cache: give CHECK and DEL a config dir that has it
cp "$D/net.d" "$D/net2.d" -r
jq -r .config "$SAMPLES/pze2e-$B-eth0" | base64 -d >"$D/net2.d/pze2e.conflist"
rm -f "$D"/rec/*
err=$(ip netns exec "$H" "$BERTH_BIN" --config-dir "$D/net2.d" --cache-dir "$D/cache" --plugin-path "$FAKE" net check pze2e --container bad 2>&1)
is "$?" 1 "CHECK with a corrupt entry fails"
grep -q "pze2e-bad-eth0: corrupt cache entry" <<<"$err"
ok $? "the error names the file: $err"
check "DEL with a corrupt entry still runs the plugins" -- \
	ip netns exec "$H" "$BERTH_BIN" --config-dir "$D/net2.d" --cache-dir "$D/cache" --plugin-path "$FAKE" net del pze2e --container bad
is "$(rec_order DEL)" "tuning firewall portmap bridge " "all four plugins got the DEL"
is "$(jq -r 'has("prevResult")' "$(rec_files DEL | grep bridge)")" false "without a prevResult"
ok "$([ ! -e "$D/cache/results/pze2e-bad-eth0" ]; echo $?)" "the corrupt entry is removed"

# An entry that is valid JSON but whose result is not a result is as corrupt.
jq -c '.containerId = "badres" | .result.ips[0].address = "nonsense"' "$SAMPLES/pze2e-$B-eth0" \
	>"$D/cache/results/pze2e-badres-eth0"
rm -f "$D"/rec/*
err=$(ip netns exec "$H" "$BERTH_BIN" --config-dir "$D/net2.d" --cache-dir "$D/cache" --plugin-path "$FAKE" net check pze2e --container badres 2>&1)
is "$?" 1 "CHECK with an invalid cached result fails"
grep -q "pze2e-badres-eth0: corrupt cache entry: result: .*invalid CIDR address: nonsense" <<<"$err"
ok $? "the error names the file and the field: $err"
check "DEL with an invalid cached result still runs the plugins" -- \
	ip netns exec "$H" "$BERTH_BIN" --config-dir "$D/net2.d" --cache-dir "$D/cache" --plugin-path "$FAKE" net del pze2e --container badres
is "$(rec_order DEL)" "tuning firewall portmap bridge " "all four plugins got that DEL"
is "$(jq -r 'has("prevResult")' "$(rec_files DEL | grep bridge)")" false "without the invalid prevResult"
ok "$([ ! -e "$D/cache/results/pze2e-badres-eth0" ]; echo $?)" "the entry is removed"

# The list moved to 1.0.0 since podman cached B's 0.4.0 result: DEL gets it converted.
sed -i 's/"cniVersion": "0.4.0"/"cniVersion": "1.0.0"/' "$D/net2.d/pze2e.conflist"
rm -f "$D"/rec/*
check "DEL of B with the list now at 1.0.0" -- \
	ip netns exec "$H" "$BERTH_BIN" --config-dir "$D/net2.d" --cache-dir "$D/cache" --plugin-path "$FAKE" net del pze2e --container $B
br=$(rec_files DEL | grep bridge)
is "$(jq -c '[.cniVersion, .prevResult.cniVersion, .prevResult.ips[0].address, (.prevResult.ips[0] | has("version"))]' "$br")" \
	'["1.0.0","1.0.0","10.198.0.3/24",false]' "the cached 0.4.0 result arrives converted to 1.0.0"

# Double ADD.
write_conflist 1.0.0
check "first ADD" -- berth net add "$NET" --container dup$T --netns "/run/netns/$C" \
	--args "IgnoreUnknown=1;K8S_POD_NAME=dup" --publish 18090:80
# our entry has podman's keys in podman's order (libcni's struct order), plus libcni 1.2's netns
is "$(jq -c 'keys_unsorted - ["netns"]' "$D/cache/results/$NET-dup$T-eth0")" \
	"$(jq -c 'keys_unsorted' "$SAMPLES/pze2e-$A-eth0")" "our entry's keys are podman's, in its order"
err=$(berth net add "$NET" --container dup$T --netns "/run/netns/$C" 2>&1)
is $? 1 "second ADD of the same attachment refused"
grep -q "already attached" <<<"$err"
ok $? "with a clear message: $err"
is "$(ip -n "$C" -o -4 addr show eth0 | wc -l)" 1 "still one address on eth0"
check "DEL" -- berth net del "$NET" --container dup$T
done_testing
