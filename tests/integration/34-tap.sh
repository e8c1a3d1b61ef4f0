#!/bin/bash
# time-limit: 240
# The tap plugin in throwaway container netns: every spec version (the tap read back with
# `ip -d -j link`: tun type tap, multi_queue, persist, owner, group, MTU, MAC, alias; addresses
# and routes; CHECK; DEL), a frame leaving through the tap to a reader attached as a VM monitor
# would (tests/helpers/tapio), L2 only (no IPAM), `bridge`, the MAC from CNI_ARGS and
# runtimeConfig, bad input for every option with its error code and the container unchanged
# (DEL twice after each), a name already taken by another link or by another tap (never
# attached to), DEL leaving links that are not its own, DEL after the netns is gone, STATUS, GC.
# No reference binary to diff against: Debian's 1.1.1 has no tap plugin (docs/tap.md compares
# with upstream's source).
source "$(dirname "$0")/../lib.sh"
need_root
TAP=$CNI_BIN/tap
TAPIO=$BERTH_BUILD/tests/helpers/tapio
[ -x "$TAP" ] || skip_all "tap not built"

TMP=$(mktemp -d /tmp/berth-tap.XXXXXX)
defer "rm -rf $TMP"
tp() { # CMD ID NETNS IFNAME [CNI_ARGS] < config
	env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS="$3" CNI_IFNAME="$4" \
		CNI_ARGS="${5:-}" CNI_PATH="$CNI_BIN" BERTH_LOG_LEVEL=error "$TAP"
}
conf() { # VERSION [EXTRA-JSON]
	jq -nc --arg v "$1" --argjson x "${2:-{\}}" '{cniVersion:$v, name:"tpn", type:"tap"} + $x'
}
ipam() { # N: host-local 10.N.0.0/24, route 10.N.64.0/18
	echo "{\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"$TMP/ipam\",\"ranges\":[[{\"subnet\":\"10.$1.0.0/24\",\"gateway\":\"10.$1.0.1\"}]],\"routes\":[{\"dst\":\"10.$1.64.0/18\"}]}}"
}
code() { jq -r '.code // empty' <<<"$1" 2>/dev/null; }
tapinfo() { # NS IFNAME
	ip -n "$1" -d -j link show "$2" | jq -c '.[0] | {kind: .linkinfo.info_kind, type: .linkinfo.info_data.type, mq: .linkinfo.info_data.multi_queue, persist: .linkinfo.info_data.persist, user: .linkinfo.info_data.user, group: .linkinfo.info_data.group, mtu, address, ifalias, up: (.flags | index("UP") != null)}'
}
links() { ip -n "$1" -d -j link show | jq -c '[.[] | {ifname, kind: .linkinfo.info_kind, ifalias, master}]'; }

c=tc$T
mknetns "$c"
X='{"multiQueue":true,"owner":4242,"group":4343,"mtu":1400,"mac":"02:11:22:33:44:55"}'
i=0
for v in 0.1.0 0.2.0 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	i=$((i + 1))
	cfg=$(jq -c --argjson i "$(ipam 51)" '. + $i' <<<"$(conf "$v" "$X")")
	out=$(tp ADD id$i "/run/netns/$c" tap0 <<<"$cfg")
	ok $? "$v: ADD"
	is "$(tapinfo "$c" tap0)" \
		"{\"kind\":\"tun\",\"type\":\"tap\",\"mq\":true,\"persist\":true,\"user\":4242,\"group\":4343,\"mtu\":1400,\"address\":\"02:11:22:33:44:55\",\"ifalias\":\"berth tap tpn id$i tap0\",\"up\":true}" \
		"$v: a persistent multi-queue tap, owner, group, MTU, MAC, up"
	addr=$(ip -n "$c" -j addr show tap0 | jq -r '.[0].addr_info[] | select(.family=="inet") | "\(.local)/\(.prefixlen)"')
	[[ $addr == 10.51.0.*/24 ]]; ok $? "$v: an IPAM address on it ($addr)"
	ip -n "$c" route show 10.51.64.0/18 | grep -q "via 10.51.0.1 dev tap0"; ok $? "$v: the IPAM route"
	case $v in
	0.1.0 | 0.2.0) is "$(jq -r .ip4.ip <<<"$out")" "$addr" "$v: result ip4" ;;
	*) is "$(jq -c '[.interfaces[0].name, .interfaces[0].mac, .interfaces[0].sandbox, .ips[0].address, .ips[0].interface]' <<<"$out")" \
		"[\"tap0\",\"02:11:22:33:44:55\",\"/run/netns/$c\",\"$addr\",0]" "$v: result" ;;
	esac
	if [ "$i" = 1 ] && [ -x "$TAPIO" ]; then
		ip netns exec "$c" "$TAPIO" tap0 mq 0806 >"$TMP/frame" 2>"$TMP/tapio.err" &
		pid=$!
		wait_for 5 sh -c "ip -n $c link show tap0 | grep -q LOWER_UP"
		ip netns exec "$c" ping -c1 -W1 10.51.0.77 >/dev/null 2>&1
		wait "$pid"
		is "$(cat "$TMP/frame")" "0806 02:11:22:33:44:55 ff:ff:ff:ff:ff:ff" "$v: an ARP request leaves through the tap to its reader"
	fi
	case $v in 0.4.0 | 1.0.0 | 1.1.0)
		chk=$(jq -c --argjson p "$out" '. + {prevResult:$p}' <<<"$cfg")
		tp CHECK id$i "/run/netns/$c" tap0 <<<"$chk" >/dev/null; ok $? "$v: CHECK"
		ip -n "$c" link set tap0 mtu 1300
		out2=$(tp CHECK id$i "/run/netns/$c" tap0 <<<"$chk")
		[ $? -ne 0 ] && grep -q MTU <<<"$out2"; ok $? "$v: CHECK fails once the MTU changed"
		ip -n "$c" link set tap0 mtu 1400
		;;
	esac
	tp DEL id$i "/run/netns/$c" tap0 <<<"$cfg" >/dev/null; ok $? "$v: DEL"
	! ip -n "$c" link show tap0 >/dev/null 2>&1; ok $? "$v: the tap is gone"
	is "$(ls "$TMP/ipam/tpn" | grep -c '^10\.')" 0 "$v: its address released"
	tp DEL id$i "/run/netns/$c" tap0 <<<"$cfg" >/dev/null; ok $? "$v: DEL again"
done

# ---- L2 only, bridge, MAC sources -------------------------------------------------------------
base=$(links "$c")
cfg=$(conf 1.0.0)
out=$(tp ADD l2 "/run/netns/$c" net1 <<<"$cfg"); ok $? "no IPAM: ADD"
is "$(tapinfo "$c" net1 | jq -c '[.type, .mq, .user, .group, .up]')" '["tap",false,null,null,true]' "no IPAM: a single-queue tap without owner or group, up"
is "$(ip -n "$c" -j addr show net1 | jq '[.[0].addr_info[] | select(.family=="inet")] | length')" 0 "no IPAM: no address"
is "$(jq -c '[(.interfaces | length), ((.ips // []) | length)]' <<<"$out")" '[1,0]' "no IPAM: one interface, no IPs in the result"
tp DEL l2 "/run/netns/$c" net1 <<<"$cfg" >/dev/null; ok $? "no IPAM: DEL"
ip -n "$c" link add br$T type bridge
ip -n "$c" link set br$T up
cfg=$(conf 1.0.0 "{\"bridge\":\"br$T\"}")
tp ADD brp "/run/netns/$c" net1 <<<"$cfg" >/dev/null; ok $? "bridge: ADD"
is "$(ip -n "$c" -j link show net1 | jq -r '.[0].master')" "br$T" "bridge: the tap is a port of the bridge"
chk=$(jq -c --argjson p "$(tp ADD brp "/run/netns/$c" net2 <<<"$cfg")" '. + {prevResult:$p}' <<<"$cfg")
ip -n "$c" link set net2 nomaster
out=$(tp CHECK brp "/run/netns/$c" net2 <<<"$chk")
[ $? -ne 0 ] && grep -q "not a port" <<<"$out"; ok $? "bridge: CHECK fails once the tap left the bridge"
tp DEL brp "/run/netns/$c" net2 <<<"$cfg" >/dev/null
tp DEL brp "/run/netns/$c" net1 <<<"$cfg" >/dev/null; ok $? "bridge: DEL"
ip -n "$c" link show br$T >/dev/null 2>&1; ok $? "bridge: the bridge stays"
base=$(links "$c")
cfg=$(conf 1.0.0 '{"mac":"02:00:00:00:00:01"}')
tp ADD m1 "/run/netns/$c" net1 "IgnoreUnknown=1;MAC=02:00:00:00:00:02;FOO=bar" <<<"$cfg" >/dev/null
is "$(tapinfo "$c" net1 | jq -r .address)" 02:00:00:00:00:02 "CNI_ARGS MAC beats the config's mac"
tp DEL m1 "/run/netns/$c" net1 <<<"$cfg" >/dev/null
cfg=$(conf 1.0.0 '{"mac":"02:00:00:00:00:01","runtimeConfig":{"mac":"02:00:00:00:00:03"}}')
tp ADD m2 "/run/netns/$c" net1 "MAC=02:00:00:00:00:02" <<<"$cfg" >/dev/null
is "$(tapinfo "$c" net1 | jq -r .address)" 02:00:00:00:00:03 "runtimeConfig.mac beats CNI_ARGS MAC"
tp DEL m2 "/run/netns/$c" net1 <<<"$cfg" >/dev/null
is "$(links "$c")" "$base" "MAC cases left nothing"

# ---- bad input ------------------------------------------------------------------------------
bad() { # WANT-CODE DESCRIPTION CONFIG [CNI_ARGS]
	local out
	out=$(tp ADD bad "/run/netns/$c" tap0 "${4:-}" <<<"$3")
	[ $? -ne 0 ] && [ "$(code "$out")" = "$1" ]; ok $? "$2: refused with code $1 ($(jq -r .msg <<<"$out" 2>/dev/null | head -c 100))"
	is "$(links "$c")" "$base" "$2: container unchanged"
	tp DEL bad "/run/netns/$c" tap0 "${4:-}" <<<"$3" >/dev/null && tp DEL bad "/run/netns/$c" tap0 "${4:-}" <<<"$3" >/dev/null
	ok $? "$2: DEL twice succeeds"
	is "$(links "$c")" "$base" "$2: container unchanged after the DELs"
}
bad 7 "mtu 10" "$(conf 1.0.0 '{"mtu":10}')"
bad 7 "mtu 70000" "$(conf 1.0.0 '{"mtu":70000}')"
bad 7 "mtu as a string" "$(conf 1.0.0 '{"mtu":"1400"}')"
bad 7 "a malformed mac" "$(conf 1.0.0 '{"mac":"02:11:22:33:44"}')"
bad 7 "a multicast mac" "$(conf 1.0.0 '{"mac":"01:00:5e:00:00:01"}')"
bad 7 "a malformed runtimeConfig.mac" "$(conf 1.0.0 '{"runtimeConfig":{"mac":"zz"}}')"
bad 4 "a malformed CNI_ARGS MAC" "$(conf 1.0.0)" "MAC=zz"
bad 4 "an unknown CNI_ARGS key" "$(conf 1.0.0)" "FOO=bar"
bad 7 "multiQueue not a boolean" "$(conf 1.0.0 '{"multiQueue":"yes"}')"
bad 7 "owner -1" "$(conf 1.0.0 '{"owner":-1}')"
bad 7 "owner 4294967295" "$(conf 1.0.0 '{"owner":4294967295}')"
bad 7 "owner as a name" "$(conf 1.0.0 '{"owner":"root"}')"
bad 7 "group -5" "$(conf 1.0.0 '{"group":-5}')"
bad 7 "a bridge name that is no interface name" "$(conf 1.0.0 '{"bridge":"a/b"}')"
bad 7 "a bridge that does not exist" "$(conf 1.0.0 '{"bridge":"nx'"$T"'"}')"
bad 7 "a bridge that is not a bridge" "$(conf 1.0.0 '{"bridge":"lo"}')"
bad 2 "selinuxContext" "$(conf 1.0.0 '{"selinuxContext":"system_u:system_r:svirt_t:s0"}')"
bad 7 "an ipam type with a slash" "$(conf 1.0.0 '{"ipam":{"type":"../x"}}')"
bad 7 "an IPAM plugin that is not installed (tap removed)" "$(conf 1.0.0 '{"ipam":{"type":"nx'"$T"'"}}')"
bad 7 "IPAM that refuses its config (tap removed)" "$(conf 1.0.0 '{"ipam":{"type":"host-local"}}')"
bad 999 "a route the kernel refuses (tap removed, address released)" \
	"$(conf 1.0.0 '{"ipam":{"type":"host-local","dataDir":"'"$TMP/ipam"'","ranges":[[{"subnet":"10.52.0.0/24"}]],"routes":[{"dst":"10.53.0.0/16","gw":"10.99.0.1"}]}}')"
is "$(ls "$TMP/ipam/tpn" | grep -c '^10\.52')" 0 "... the failed ADD released its address"
ip -n "$c" link add tap0 type veth peer name tpeer
base=$(links "$c")
bad 999 "CNI_IFNAME taken by a veth" "$(conf 1.0.0)"
ip -n "$c" link del tap0
ip -n "$c" tuntap add dev tap0 mode tap
base=$(links "$c")
bad 999 "CNI_IFNAME taken by another tap (never attached to)" "$(conf 1.0.0 '{"mtu":1300}')"
is "$(ip -n "$c" -j link show tap0 | jq -r '.[0].mtu')" 1500 "... that tap left as it was"
ip -n "$c" link del tap0
# DEL leaves a tap that another attachment recorded as its own
cfg=$(conf 1.0.0)
tp ADD owner1 "/run/netns/$c" tap0 <<<"$cfg" >/dev/null
tp DEL owner2 "/run/netns/$c" tap0 <<<"$cfg" >/dev/null; ok $? "DEL of another attachment succeeds"
ip -n "$c" link show tap0 >/dev/null 2>&1; ok $? "... and leaves this attachment's tap alone"
tp DEL owner1 "/run/netns/$c" tap0 <<<"$cfg" >/dev/null

# ---- netns gone, STATUS, GC -------------------------------------------------------------------
c2=tg$T
mknetns "$c2"
cfg=$(jq -c --argjson i "$(ipam 54)" '. + $i' <<<"$(conf 1.1.0)")
tp ADD gone "/run/netns/$c2" tap0 <<<"$cfg" >/dev/null; ok $? "netns gone: ADD"
ip netns del "$c2"
tp DEL gone "/run/netns/$c2" tap0 <<<"$cfg" >/dev/null; ok $? "netns gone: DEL"
is "$(ls "$TMP/ipam/tpn" | grep -c '^10\.54')" 0 "netns gone: the address released"
tp DEL gone "" tap0 <<<"$cfg" >/dev/null; ok $? "DEL without CNI_NETNS"
tp STATUS "" "" "" <<<"$cfg" >/dev/null; ok $? "STATUS"
tp ADD gc1 "/run/netns/$c" tap0 <<<"$cfg" >/dev/null
gcfg=$(jq -c '. + {"cni.dev/valid-attachments":[]}' <<<"$cfg")
tp GC "" "" "" <<<"$gcfg" >/dev/null; ok $? "GC"
is "$(ls "$TMP/ipam/tpn" | grep -c '^10\.54')" 0 "GC released the address of the attachment it was not told about"
tp DEL gc1 "/run/netns/$c" tap0 <<<"$cfg" >/dev/null
is "$(tp VERSION "" "" "" <<<"$cfg" | jq -c .supportedVersions)" \
	'["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]' "VERSION"
done_testing
