#!/bin/bash
# berth oci-hook with OCI state documents as a runtime passes them: createRuntime attaches the
# networks named in org.berth.networks to /proc/<pid>/ns/net (annotations from the state or
# from the bundle's config.json), poststop detaches them after the process is gone, and a
# failure on the second network undoes the first.
source "$(dirname "$0")/lib-core.bash"
core_setup
write_conflist 1.0.0
NET2=m$T
sed -e "s/\"$NET\"/\"$NET2\"/" -e "s/$BR/bs$T/" -e "s/10\.251\./10.252./g" -e "s|$D/ipam|$D/ipam2|" -e 's|"dst": "0.0.0.0/0"|"dst": "10.99.0.0/16"|' \
	"$D/net.d/10-$NET.conflist" >"$D/net.d/20-$NET2.conflist"

ctr_start
ID=hk$T
state() { # STATUS ANNOTATIONS-JSON
	printf '{"ociVersion":"1.0.2","id":"%s","status":"%s","pid":%s,"bundle":"%s","annotations":%s}' \
		"$ID" "$1" "$PID" "$D/bundle" "$2"
}
hook() { berth oci-hook "$@"; }
in_ctr() { nsenter -t "$PID" -n "$@"; } # the container's netns dies with its process

check "createRuntime attaches two networks" -- hook createRuntime <<<"$(state created "{\"org.berth.networks\":\"$NET,$NET2:net1\"}")"
is "$(in_ctr ip -o -4 addr show eth0 | awk '{print $4}')" "$SUBNET.2/24" "eth0 on $NET"
is "$(in_ctr ip -o -4 addr show net1 | awk '{print $4}')" "10.252.$SUBNET_OCTET.2/24" "net1 on $NET2 (interface name from the annotation)"
is "$(jq -r .netns "$D/cache/results/$NET-$ID-eth0")" "/proc/$PID/ns/net" "attached to /proc/<pid>/ns/net"
check "container reaches both gateways" -- in_ctr sh -c "ping -c1 -W5 $SUBNET.1 && ping -c1 -W5 10.252.$SUBNET_OCTET.1"

kill "$PID"; wait "$PID" 2>/dev/null
check "poststop detaches" -- hook poststop <<<"$(state stopped "{\"org.berth.networks\":\"$NET,$NET2:net1\"}")"
is "$(ls "$D/cache/results" | wc -l)" 0 "cache entries removed"
is "$(ls "$D/ipam/$NET" "$D/ipam2/$NET2" | grep -c '^10\.')" 0 "addresses released"
is "$(ip -n "$H" -o link show master "$BR" | wc -l)$(ip -n "$H" -o link show master "bs$T" | wc -l)" 00 "no veth left on either bridge"

# annotations from the bundle's config.json; the phase from the status
ctr_start
mkdir -p "$D/bundle"
jq -n --arg n "$NET" '{ociVersion:"1.0.2",annotations:{"org.berth.networks":$n,"org.berth.publish":"8081:80/udp",
	"org.berth.capabilities":({bandwidth:{ingressRate:8000},aliases:{x:["y"]}} | tojson)}}' >"$D/bundle/config.json"
check "createRuntime (phase from the status) with annotations from config.json" -- hook <<<"$(state created null)"
is "$(jq -c .capabilityArgs "$D/cache/results/$NET-$ID-eth0")" '{"bandwidth":{"ingressRate":8000},"aliases":{"x":["y"]},"portMappings":[{"hostPort":8081,"containerPort":80,"protocol":"udp"}]}' \
	"org.berth.publish became portMappings, org.berth.capabilities the others"
kill "$PID"; wait "$PID" 2>/dev/null
check "poststop (phase from the status)" -- hook <<<"$(state stopped null)"
is "$(ls "$D/cache/results" | wc -l)" 0 "detached"

# the conflist is removed while the container runs: poststop detaches with the config the
# cache entry carries, as `berth net del` does
ctr_start
check "createRuntime" -- hook createRuntime <<<"$(state created "{\"org.berth.networks\":\"$NET\"}")"
mv "$D/net.d/10-$NET.conflist" "$D/saved.conflist"
kill "$PID"; wait "$PID" 2>/dev/null
check "poststop after the conflist was removed" -- hook poststop <<<"$(state stopped "{\"org.berth.networks\":\"$NET\"}")"
is "$(ls "$D/cache/results" | wc -l)$(ls "$D/ipam/$NET" | grep -c '^10\.')" 00 "detached from the cached config: no cache entry, no address"
mv "$D/saved.conflist" "$D/net.d/10-$NET.conflist"

ctr_start
echo '{}' >"$D/bundle/config.json"

# no annotation: nothing to do
check "a container without the annotation is left alone" -- hook createRuntime <<<"$(state created '{"x":"y"}')"
check "(also without any annotations)" -- hook createRuntime <<<"$(state created null)"
is "$(in_ctr ip -o link show | grep -c eth0)" 0 "no interface added"

# the second network fails: the first is undone
echo '{"cniVersion":"1.0.0","name":"broken'$T'","plugins":[{"type":"nosuch"}]}' >"$D/net.d/30-broken.conflist"
err=$(hook createRuntime <<<"$(state created "{\"org.berth.networks\":\"$NET,broken$T\"}")" 2>&1)
is $? 1 "createRuntime fails when one network cannot attach"
grep -q "plugin nosuch" <<<"$err"; ok $? "the error names the plugin: $err"
is "$(in_ctr ip -o link show | grep -c eth0)" 0 "the first network was undone"
is "$(ls "$D/cache/results" | wc -l)" 0 "no cache entries"
err=$(hook createRuntime <<<'{"id":"x"' 2>&1); is $? 1 "bad state JSON refused"
err=$(hook createRuntime <<<"$(state created "{\"org.berth.networks\":\"$NET\",\"org.berth.capabilities\":\"[1]\"}")" 2>&1)
is $? 1 "an org.berth.capabilities that is not a JSON object is refused"
grep -q "annotation org.berth.capabilities: must be a JSON object" <<<"$err"; ok $? "naming the annotation: $err"
is "$(in_ctr ip -o link show | grep -c eth0)" 0 "and nothing was attached"
# a process in the hook's own netns (H: a container sharing the host's, or not yet unshared)
proc_in "$H"
HPID=$PID
links_before=$(ip -n "$H" -o link show | wc -l)
err=$(hook createRuntime <<<"$(PID=$HPID state created "{\"org.berth.networks\":\"$NET\"}")" 2>&1)
grep -q "oci-hook: process $HPID is in the hook.s own network namespace" <<<"$err"; ok $? "a process in the hook's own netns is refused: $err"
is "$(ip -n "$H" -o link show | wc -l)" "$links_before" "and nothing was attached"
done_testing
