#!/bin/bash
# Differential: the same config and environment through our macvlan (+ our host-local when
# built) and the reference /usr/lib/cni/macvlan + host-local, one after the other on the same
# names and subnet, option by option; the result JSON (random MACs aside) and the kernel state
# after ADD and after DEL (the container link, its addresses, routes and sysctls, the master)
# must be the same.  So must the error codes for refused input.  The master is a veth in a
# netns of our own, where the plugins run (ip netns exec).
# time-limit: 300
source "$(dirname "$0")/../lib.sh"
need_root
MV=$CNI_BIN/macvlan
[ -x "$MV" ] || skip_all "macvlan not built"
[ -x "$REF_CNI/macvlan" ] && [ -x "$REF_CNI/host-local" ] || skip_all "no reference plugins in $REF_CNI"
OURS_PATH=$CNI_BIN; [ -x "$CNI_BIN/host-local" ] || OURS_PATH=$REF_CNI
diag "our IPAM from $OURS_PATH"

DATA=$(mktemp -d /tmp/macvlan-diff.XXXXXX); defer "rm -rf $DATA"
H=dh$T; P=dp$T; ns=dc$T; M=dm$T; net=dn$T
mknetns "$H"; mknetns "$P"
defer "ip netns del $ns"
A=$(( (0x${T:0:2} % 100) + 100 )); B=$(( 0x${T:2:2} % 200 + 20 ))
sn=10.$A.$B.0/24; sn6=fd${T:0:2}:${T:2:4}:${T:0:4}::/64
ip -n "$H" link add "$M" mtu 1500 type veth peer name eth0 netns "$P"
ip -n "$H" link set "$M" up; ip -n "$P" link set eth0 up
ip -n "$H" addr add "${sn%.0/24}.254/24" dev "$M"
ip -n "$H" route add default via "${sn%.0/24}.1"

norm_result() {
	jq -S 'if .code then {refused: true} else (.interfaces // []) |= map(if (.mac // "" | test("^([0-9a-f]{2}:){5}[0-9a-f]{2}$")) and (.mac | startswith("02:00:00:") | not) then .mac = "MAC" else . end) end'
}
state() {
	echo "## container eth0"
	ip -n "$ns" -j -d link show eth0 2>/dev/null | jq -c '.[0] | {mtu, flags, kind: .linkinfo.info_kind, mode: .linkinfo.info_data.mode,
		mac: (if (.address|startswith("02:00:00:")) then .address else "random" end), link_index}'
	ip -n "$ns" -j addr show eth0 2>/dev/null | jq -c '[.[0].addr_info[] | select(.scope=="global") | {family, local, prefixlen, broadcast}] | sort_by(.local)'
	echo "## container routes"
	{ ip -n "$ns" -j -4 route show table all; ip -n "$ns" -j -6 route show table all; } 2>/dev/null |
		jq -c '.[] | select((.type // "unicast") == "unicast" and (.table // "main") == "main" and ((.dst // "") | startswith("fe80") | not)) | {dst, gateway, dev, protocol, scope, metric}' | sort
	echo "## container sysctls"
	# (not ndisc_notify: upstream sets it since after v1.1.1, as we do for IPv6 addresses)
	for k in ipv4/conf/eth0/arp_notify ipv6/conf/eth0/disable_ipv6; do
		printf '%s=%s\n' "$k" "$(ip netns exec "$ns" cat /proc/sys/net/$k 2>/dev/null)"
	done
	echo "## master"
	ip -n "$H" -j -d link show "$M" 2>/dev/null | jq -c '.[0] | {mtu, flags, promiscuity}'
	ip -n "$H" -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | tr '\n' ' '; echo
}

# run IMPL EXTRA VERSION [CNI_ARGS] [error]: fresh container netns and IPAM dir; ADD, state,
# DEL, state.  For refused input only the ADD: the reference's DEL (v1.1.1) fails for a config
# its ADD refuses, ours succeeds (tests/integration/27-macvlan.sh checks it).
run() {
	local impl=$1 x=$2 v=$3 args=${4:-} mode=${5:-} plugin path c out
	if [ "$impl" = ref ]; then plugin=$REF_CNI/macvlan; path=$REF_CNI; else plugin=$MV; path=$OURS_PATH; fi
	rm -rf "${DATA:?}/$impl"; ip netns del "$ns" 2>/dev/null
	ip netns add "$ns"; ip -n "$ns" link set lo up
	c=$(jq -nc --arg v "$v" --arg n "$net" --arg m "$M" --arg s "$sn" --arg d "$DATA/$impl" --argjson x "$x" \
		'{cniVersion:$v, name:$n, type:"macvlan", master:$m,
		  ipam:{type:"host-local", dataDir:$d, ranges:[[{subnet:$s}]], routes:[{dst:"0.0.0.0/0"}]}} * $x | with_entries(select(.value != null))')
	out=$(ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND=ADD CNI_CONTAINERID=c$T CNI_NETNS="/run/netns/$ns" \
		CNI_IFNAME=eth0 CNI_ARGS="$args" CNI_PATH="$path" "$plugin" <<<"$c" 2>/dev/null)
	echo "rc=$?"
	norm_result <<<"$out" | jq -S 'if .code then {refused: true} else . end'
	state
	[ "$mode" = error ] && { ip netns del "$ns"; return; }
	echo "## after DEL"
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND=DEL CNI_CONTAINERID=c$T CNI_NETNS="/run/netns/$ns" \
		CNI_IFNAME=eth0 CNI_ARGS="$args" CNI_PATH="$path" "$plugin" <<<"$c" 2>/dev/null
	echo "rc=$?"
	state
	ls "$DATA/$impl/$net" 2>/dev/null | grep -cE '^[0-9a-f.:]+$'
	ip netns del "$ns"
}

compare() { # compare DESC EXTRA VERSION [CNI_ARGS] [WANT-IFACE]
	local ref ours
	# (stderr aside: iproute2 may print "Peer netns reference is invalid" for a netns that
	# is being torn down)
	ref=$(run ref "$2" "$3" "${4:-}" "${5:-}" 2>/dev/null)
	ours=$(run ours "$2" "$3" "${4:-}" "${5:-}" 2>/dev/null)
	if [ "$ref" = "$ours" ]; then
		ok 0 "$1 ($3): same result and kernel state"
	else
		ok 1 "$1 ($3): same result and kernel state"
		diff <(echo "$ref") <(echo "$ours") | sed 's/^/#   /' | head -30
	fi
	# The comparison must be able to fail: our side really produced (or refused) something.
	case ${5:-iface} in
	iface) case $ours in *'"name": "eth0"'*) ;; *) ok 1 "$1 ($3): our ADD produced eth0"; echo "$ours" | sed 's/^/#   /' | head ;; esac ;;
	error) case $ours in *'"refused": true'*) ;; *) ok 1 "$1 ($3): our ADD refused it"; echo "$ours" | sed 's/^/#   /' | head ;; esac ;;
	esac
}

for v in 0.3.0 1.0.0; do
	compare "defaults" '{}' "$v"
done
v=1.0.0
compare "mode private" '{"mode":"private"}' $v
compare "mode vepa" '{"mode":"vepa"}' $v
compare "mode passthru" '{"mode":"passthru"}' $v
compare "mtu 1400" '{"mtu":1400}' $v
compare "mac" '{"mac":"02:00:00:11:22:33"}' $v
compare "runtimeConfig mac" '{"mac":"02:00:00:11:22:33","runtimeConfig":{"mac":"02:00:00:11:22:55"}}' $v
compare "CNI_ARGS MAC" '{"mac":"02:00:00:11:22:33"}' $v "IgnoreUnknown=1;MAC=02:00:00:11:22:44"
compare "no master (default route)" '{"master":null}' $v
compare "no IPAM" '{"ipam":null}' $v
compare "dns" '{"dns":{"nameservers":["10.1.1.1"],"domain":"x.test","search":["a.test"],"options":["ndots:2"]}}' $v
compare "dual stack" "{\"ipam\":{\"routes\":[],\"ranges\":[[{\"subnet\":\"$sn\"}],[{\"subnet\":\"$sn6\"}]]}}" $v
compare "route with gateway" '{"ipam":{"routes":[{"dst":"192.0.2.0/24"},{"dst":"198.51.100.0/24","gw":"'"${sn%.0/24}"'.9"}]}}' $v
# refused input (the other bad cases are in 27-macvlan.sh): refused by both, same state
# (nothing); the codes differ on purpose (the reference answers 999 for everything, we 7 for a
# config error: docs/macvlan.md)
compare "bad mode" '{"mode":"vxlan"}' $v "" error
compare "mtu above the master's" '{"mtu":9000}' $v "" error
compare "missing master" "{\"master\":\"nx$T\"}" $v "" error
done_testing
