#!/bin/bash
# time-limit: 240
# The host-device plugin, run inside a "host" netns of its own (ip netns exec), so the real host
# is never touched: veth devices made there are moved into container netns.  Every spec version
# (kernel state read back after ADD/CHECK/DEL: moved, renamed, addresses; after DEL the name,
# addresses, route, alias and up state back on the host), a ping through the moved device, the
# selectors (device, hwaddr, kernelpath; pciBusID/deviceID refused here: no PCI NICs), bad
# input for every option with its error code and the host unchanged (DEL twice after each),
# DEL after the container netns died (the kernel's return of a physical link simulated; a
# virtual link dies with it), GC, and a differential run against the reference plugin (results
# and kernel state after ADD and DEL, and each one's DEL undoing the other's ADD).
source "$(dirname "$0")/../lib.sh"
need_root
HD=$CNI_BIN/host-device
REF=$REF_CNI/host-device
[ -x "$HD" ] || skip_all "host-device not built"

H=hh$T
mknetns "$H"
TMP=$(mktemp -d /tmp/berth-hd.XXXXXX)
defer "rm -rf $TMP"
SD=$TMP/state
CPATH=$CNI_BIN:$REF_CNI

# hd PLUGIN CMD ID NETNS IFNAME [CNI_ARGS] < config: run PLUGIN in the host netns $H
hd() {
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID="$3" \
		CNI_NETNS="$4" CNI_IFNAME="$5" CNI_ARGS="${6:-}" CNI_PATH="$CPATH" \
		BERTH_HOSTDEV_STATE_DIR="$SD" BERTH_LOG_LEVEL=error "$1"
}
# mkdev NAME PEER N: a veth NAME (10.$N.0.2/24, route 10.$N.128.0/17 via .1, alias "orig$N")
# and its PEER (10.$N.0.1/24) in $H, both up
mkdev() {
	ip -n "$H" link add "$1" type veth peer name "$2"
	ip -n "$H" addr add "10.$3.0.2/24" dev "$1"
	ip -n "$H" addr add "10.$3.0.1/24" dev "$2"
	ip -n "$H" link set "$1" alias "orig$3"
	ip -n "$H" link set "$1" up
	ip -n "$H" link set "$2" up
	ip -n "$H" route add "10.$3.128.0/17" via "10.$3.0.1" dev "$1"
}
mkctr() { ip netns del "$1" 2>/dev/null; mknetns "$1"; }
# hoststate: the host netns' links (name, alias, up), addresses and routes, sorted
hoststate() {
	{
		ip -n "$H" -j link show | jq -r '.[] | "\(.ifname) \(.ifalias // "-") \(.flags | index("UP") != null)"'
		ip -n "$H" -j addr show | jq -r '.[] | .ifname as $n | .addr_info[] | select(.scope != "link") | "\($n) \(.local)/\(.prefixlen)"'
		ip -n "$H" route show | sed 's/ *$//'
	} | sort
}
conf() { # VERSION NAME SELECTOR-JSON [EXTRA-JSON]
	jq -nc --arg v "$1" --arg n "$2" --argjson s "$3" --argjson x "${4:-{\}}" \
		'{cniVersion:$v, name:$n, type:"host-device"} + $s + $x'
}
ipam() { # N HOSTBYTE: host-local IPAM handing out 10.N.0.HOSTBYTE/24 only
	echo "{\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"$TMP/ipam\",\"ranges\":[[{\"subnet\":\"10.$1.0.0/24\",\"rangeStart\":\"10.$1.0.$2\",\"rangeEnd\":\"10.$1.0.$2\",\"gateway\":\"10.$1.0.1\"}]],\"routes\":[{\"dst\":\"10.$1.64.0/18\"}]}}"
}
sipam() { # N HOSTBYTE: static IPAM 10.N.0.HOSTBYTE/24 (the reference has no 1.1.0)
	echo "{\"ipam\":{\"type\":\"static\",\"addresses\":[{\"address\":\"10.$1.0.$2/24\",\"gateway\":\"10.$1.0.1\"}],\"routes\":[{\"dst\":\"10.$1.64.0/18\"}]}}"
}
code() { jq -r '.code // empty' <<<"$1" 2>/dev/null; }

# ---- every spec version -------------------------------------------------------------------
d=ad$T p=ap$T
mkdev "$d" "$p" 41
before=$(hoststate)
i=0
for v in 0.1.0 0.2.0 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	i=$((i + 1))
	c=hc$T$i
	mkctr "$c"
	cfg=$(conf "$v" hdn$T '{"device":"'"$d"'"}' "$(ipam 41 5)")
	out=$(hd "$HD" ADD id$i "/run/netns/$c" eth0 <<<"$cfg")
	ok $? "$v: ADD"
	ip -n "$c" link show eth0 >/dev/null 2>&1; ok $? "$v: the device is eth0 in the container"
	! ip -n "$H" link show "$d" >/dev/null 2>&1; ok $? "$v: ... and gone from the host"
	is "$(ip -n "$c" -j link show eth0 | jq -r '.[0].ifalias')" "$d" "$v: its alias holds the host name"
	is "$(ip -n "$c" -j addr show eth0 | jq -r '.[0].addr_info[] | select(.family=="inet") | "\(.local)/\(.prefixlen)"')" \
		10.41.0.5/24 "$v: the IPAM address is on it"
	ip -n "$c" route show 10.41.64.0/18 | grep -q "via 10.41.0.1 dev eth0"; ok $? "$v: the IPAM route via the gateway"
	case $v in
	0.1.0 | 0.2.0) is "$(jq -r .ip4.ip <<<"$out")" 10.41.0.5/24 "$v: result ip4" ;;
	*)
		is "$(jq -r '.interfaces[0].name + " " + .interfaces[0].sandbox + " " + .interfaces[0].mac' <<<"$out")" \
			"eth0 /run/netns/$c $(ip -n "$c" -j link show eth0 | jq -r '.[0].address')" "$v: result interface"
		;;
	esac
	if [ "$i" = 1 ]; then
		ip netns exec "$c" ping -c1 -W2 10.41.0.1 >/dev/null; ok $? "$v: ping from the container through the moved device"
	fi
	case $v in 0.4.0 | 1.0.0 | 1.1.0)
		chk=$(jq -c --argjson p "$out" '. + {prevResult:$p}' <<<"$cfg")
		hd "$HD" CHECK id$i "/run/netns/$c" eth0 <<<"$chk" >/dev/null; ok $? "$v: CHECK"
		ip -n "$c" addr del 10.41.0.5/24 dev eth0
		out2=$(hd "$HD" CHECK id$i "/run/netns/$c" eth0 <<<"$chk")
		[ $? -ne 0 ] && grep -q 10.41.0.5 <<<"$out2"; ok $? "$v: CHECK fails once the address is gone"
		ip -n "$c" addr add 10.41.0.5/24 dev eth0
		;;
	esac
	hd "$HD" DEL id$i "/run/netns/$c" eth0 <<<"$cfg" >/dev/null; ok $? "$v: DEL"
	is "$(hoststate)" "$before" "$v: DEL put name, alias, up state, addresses and route back"
	! ip -n "$c" link show eth0 >/dev/null 2>&1; ok $? "$v: nothing left in the container"
	is "$(ls "$SD/hdn$T" 2>/dev/null)" "" "$v: no state file left"
	hd "$HD" DEL id$i "/run/netns/$c" eth0 <<<"$cfg" >/dev/null; ok $? "$v: DEL again"
	ip netns del "$c"
done

# ---- selectors ------------------------------------------------------------------------------
c=hs$T
mkctr "$c"
mac=$(ip -n "$H" -j link show "$d" | jq -r '.[0].address')
for sel in "{\"hwaddr\":\"$mac\"}" "{\"hwaddr\":\"${mac^^}\"}" '{"kernelpath":"/sys/devices/virtual"}' \
	"{\"device\":\"$d\",\"hwaddr\":\"$mac\"}"; do
	cfg=$(conf 1.0.0 hdn$T "$sel")
	hd "$HD" ADD s1 "/run/netns/$c" net1 <<<"$cfg" >/dev/null; ok $? "$sel: ADD"
	is "$(ip -n "$c" -j link show net1 2>/dev/null | jq -r '.[0].address')" "$mac" "$sel: the device moved as net1"
	hd "$HD" DEL s1 "/run/netns/$c" net1 <<<"$cfg" >/dev/null; ok $? "$sel: DEL"
	is "$(hoststate)" "$before" "$sel: host as before"
done

# ---- bad input ------------------------------------------------------------------------------
d2=bd$T p2=bp$T
mkdev "$d2" "$p2" 42
mac2=$(ip -n "$H" -j link show "$d2" | jq -r '.[0].address')
before=$(hoststate)
bad() { # WANT-CODE DESCRIPTION CONFIG [IFNAME]
	local out
	out=$(hd "$HD" ADD bad "/run/netns/$c" "${4:-eth0}" <<<"$3")
	[ $? -ne 0 ] && [ "$(code "$out")" = "$1" ]; ok $? "$2: refused with code $1 ($(jq -r .msg <<<"$out" 2>/dev/null | head -c 120))"
	is "$(hoststate)" "$before" "$2: host unchanged"
	hd "$HD" DEL bad "/run/netns/$c" "${4:-eth0}" <<<"$3" >/dev/null &&
		hd "$HD" DEL bad "/run/netns/$c" "${4:-eth0}" <<<"$3" >/dev/null
	ok $? "$2: DEL twice succeeds"
	is "$(hoststate)" "$before" "$2: host unchanged after the DELs"
}
bad 7 "no selector" "$(conf 1.0.0 hdn$T '{}')"
bad 7 "a device that does not exist" "$(conf 1.0.0 hdn$T '{"device":"nx'"$T"'"}')"
bad 7 "a device name that is no interface name" "$(conf 1.0.0 hdn$T '{"device":"a/b"}')"
bad 7 "device lo" "$(conf 1.0.0 hdn$T '{"device":"lo"}')"
bad 7 "conflicting selectors (device and hwaddr of another link)" "$(conf 1.0.0 hdn$T "{\"device\":\"$d\",\"hwaddr\":\"$mac2\"}")"
bad 7 "a malformed hwaddr" "$(conf 1.0.0 hdn$T '{"hwaddr":"02:00:zz:00:00:01"}')"
bad 7 "an hwaddr no link has" "$(conf 1.0.0 hdn$T '{"hwaddr":"02:00:5e:10:20:30"}')"
bad 7 "a relative kernelpath" "$(conf 1.0.0 hdn$T '{"kernelpath":"devices/virtual"}')"
bad 7 "a kernelpath outside /sys/devices" "$(conf 1.0.0 hdn$T '{"kernelpath":"/sys/class"}')"
bad 7 "a kernelpath with .." "$(conf 1.0.0 hdn$T '{"kernelpath":"/sys/devices/../class"}')"
bad 7 "a kernelpath without net/" "$(conf 1.0.0 hdn$T '{"kernelpath":"/sys/devices/system"}')"
bad 7 "a pciBusID that is not there" "$(conf 1.0.0 hdn$T '{"pciBusID":"0000:ee:1f.7"}')"
bad 7 "a runtimeConfig.deviceID that is not there" "$(conf 1.0.0 hdn$T '{"device":"'"$d"'","runtimeConfig":{"deviceID":"0000:ee:1f.7"}}')"
bad 7 "device of the wrong type" "$(conf 1.0.0 hdn$T '{"device":5}')"
bad 7 "an ipam type with a slash" "$(conf 1.0.0 hdn$T '{"device":"'"$d"'"}' '{"ipam":{"type":"../x"}}')"
bad 7 "an IPAM plugin that is not installed (device moved back)" "$(conf 1.0.0 hdn$T '{"device":"'"$d"'"}' '{"ipam":{"type":"nx'"$T"'"}}')"
bad 7 "IPAM that refuses its config (device moved back)" "$(conf 1.0.0 hdn$T '{"device":"'"$d"'"}' '{"ipam":{"type":"host-local"}}')"
bad 999 "an address IPAM gives that the kernel refuses (device moved back)" \
	"$(conf 1.0.0 hdn$T '{"device":"'"$d"'"}' '{"ipam":{"type":"static","addresses":[{"address":"10.41.0.5/24"}],"routes":[{"dst":"10.43.0.0/16","gw":"10.99.0.1"}]}}')"
ip -n "$c" link add eth0 type veth peer name cp0
bad 999 "CNI_IFNAME taken in the container" "$(conf 1.0.0 hdn$T '{"device":"'"$d"'"}')"
ip -n "$c" link show eth0 >/dev/null 2>&1; ok $? "... and the container's own eth0 is still there after the DELs"
ip -n "$c" link del eth0
# a device already moved into another container
c2=ho$T
mkctr "$c2"
cfg=$(conf 1.0.0 hdn$T '{"device":"'"$d"'"}')
hd "$HD" ADD first "/run/netns/$c2" eth0 <<<"$cfg" >/dev/null; ok $? "ADD into a first container"
b2=$(hoststate)
out=$(hd "$HD" ADD second "/run/netns/$c" eth0 <<<"$cfg")
[ $? -ne 0 ] && [ "$(code "$out")" = 7 ] && grep -q "first" <<<"$out"; ok $? "the same device for a second container: refused, code 7, naming the holder"
hd "$HD" DEL second "/run/netns/$c" eth0 <<<"$cfg" >/dev/null && hd "$HD" DEL second "/run/netns/$c" eth0 <<<"$cfg" >/dev/null
ok $? "DEL twice of the refused attachment"
ip -n "$c2" link show eth0 >/dev/null 2>&1 && [ "$(hoststate)" = "$b2" ]; ok $? "... left the first container's device where it is"
hd "$HD" DEL first "/run/netns/$c2" eth0 <<<"$cfg" >/dev/null; ok $? "DEL of the first"
is "$(hoststate)" "$before" "host as before"

# ---- DEL after the netns is gone ------------------------------------------------------------
hd "$HD" ADD gone "/run/netns/$c2" eth0 <<<"$cfg" >/dev/null; ok $? "netns gone: ADD"
# what the kernel does to a physical link when its netns dies: back to the initial netns,
# down, renamed dev<ifindex> when its name is taken (here by the host's own eth0)
idx=$(ip -n "$c2" -j link show eth0 | jq -r '.[0].ifindex')
ip -n "$H" link add eth0 type veth peer name ep$T
ip -n "$c2" link set eth0 down
ip -n "$c2" link set eth0 netns "$H" name "dev$idx"
ip -n "$H" link del eth0
ip netns del "$c2"
hd "$HD" DEL gone "/run/netns/$c2" eth0 <<<"$cfg" >/dev/null; ok $? "netns gone: DEL"
is "$(hoststate)" "$before" "netns gone: the returned link has its name, addresses and route back"
hd "$HD" DEL gone "/run/netns/$c2" eth0 <<<"$cfg" >/dev/null; ok $? "netns gone: DEL again"
# a virtual link dies with its netns
mkctr "$c2"
hd "$HD" ADD vgone "/run/netns/$c2" eth0 <<<"$cfg" >/dev/null; ok $? "netns gone (veth dies with it): ADD"
ip netns del "$c2"
hd "$HD" DEL vgone "/run/netns/$c2" eth0 <<<"$cfg" >/dev/null; ok $? "netns gone (veth dies with it): DEL"
is "$(ls "$SD/hdn$T" 2>/dev/null)" "" "netns gone: no state file left"
# the kernel tears a deleted netns down asynchronously: the veth's peer $p leaves the host netns
# only then (under load, after the next command), and its name is reused just below
gone_p() { ! ip -n "$H" link show "$p" >/dev/null 2>&1; }
wait_for 60 gone_p; ok $? "netns gone: the veth's peer went with it"
mkdev "$d" "$p" 41

# ---- GC and STATUS --------------------------------------------------------------------------
before=$(hoststate)
cfg=$(conf 1.1.0 hdn$T '{"device":"'"$d"'"}')
hd "$HD" ADD gc1 "/run/netns/$c" eth0 <<<"$cfg" >/dev/null; ok $? "GC: ADD"
gcfg=$(jq -c '. + {"cni.dev/valid-attachments":[{"containerID":"other","ifname":"eth0"}]}' <<<"$cfg")
hd "$HD" GC "" "" "" <<<"$gcfg" >/dev/null; ok $? "GC with the attachment not valid"
is "$(hoststate)" "$before" "GC brought the device back"
hd "$HD" ADD gc2 "/run/netns/$c" eth0 <<<"$cfg" >/dev/null
gcfg=$(jq -c '. + {"cni.dev/valid-attachments":[{"containerID":"gc2","ifname":"eth0"}]}' <<<"$cfg")
hd "$HD" GC "" "" "" <<<"$gcfg" >/dev/null
ip -n "$c" link show eth0 >/dev/null 2>&1; ok $? "GC leaves a valid attachment alone"
hd "$HD" DEL gc2 "/run/netns/$c" eth0 <<<"$cfg" >/dev/null
# a bridge port comes back into its bridge, with its MTU
ip -n "$H" link add hbr$T type bridge
ip -n "$H" link set "$d" master hbr$T
ip -n "$H" link set "$d" mtu 1400
hd "$HD" ADD brp "/run/netns/$c" eth0 <<<"$cfg" >/dev/null; ok $? "a bridge port: ADD"
ip -n "$c" link set eth0 mtu 1300
hd "$HD" DEL brp "/run/netns/$c" eth0 <<<"$cfg" >/dev/null; ok $? "a bridge port: DEL"
is "$(ip -n "$H" -j link show "$d" | jq -r '.[0] | "\(.master) \(.mtu)"')" "hbr$T 1400" "a bridge port: back in its bridge, with its MTU"
ip -n "$H" link del hbr$T
ip -n "$H" link set "$d" mtu 1500
hd "$HD" STATUS "" "" "" <<<"$cfg" >/dev/null; ok $? "STATUS"
is "$(hd "$HD" VERSION "" "" "" <<<"$cfg" | jq -c .supportedVersions)" \
	'["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]' "VERSION"

# ---- differential against the reference plugin ----------------------------------------------
if [ ! -x "$REF" ]; then
	skip "reference host-device not installed"
else
	cr=hr$T cb=hb$T
	mkctr "$cr"
	mkctr "$cb"
	norm() { jq -S 'del(.interfaces[]?.mac) | del(.interfaces[]?.sandbox)' <<<"$1"; }
	kstate() { # NS: eth0 as the container sees it
		ip -n "$1" -j addr show eth0 | jq -c '.[0] | {ifname, ifalias, up: (.flags | index("UP") != null), a: [.addr_info[] | select(.scope != "link") | "\(.local)/\(.prefixlen)"]}'
		ip -n "$1" route show | sed 's/ *$//' | sort
	}
	for v in 0.3.1 1.0.0; do
		cfg_r=$(conf "$v" hdr$T '{"device":"'"$d2"'"}' "$(sipam 42 5)")
		cfg_b=$(conf "$v" hdr$T '{"device":"'"$d"'"}' "$(sipam 42 5)")
		out_r=$(hd "$REF" ADD dr "/run/netns/$cr" eth0 <<<"$cfg_r")
		ok $? "diff $v: reference ADD"
		out_b=$(hd "$HD" ADD db "/run/netns/$cb" eth0 <<<"$cfg_b")
		ok $? "diff $v: berth ADD"
		is "$(norm "$out_b")" "$(norm "$out_r")" "diff $v: same result (MAC, sandbox aside)"
		is "$(kstate "$cb" | sed "s/$d/DEV/")" "$(kstate "$cr" | sed "s/$d2/DEV/")" "diff $v: same container state after ADD"
		hd "$REF" DEL dr "/run/netns/$cr" eth0 <<<"$cfg_r" >/dev/null; ok $? "diff $v: reference DEL"
		hd "$HD" DEL db "/run/netns/$cb" eth0 <<<"$cfg_b" >/dev/null; ok $? "diff $v: berth DEL"
		ip -n "$H" link show "$d2" >/dev/null && ip -n "$H" link show "$d" >/dev/null; ok $? "diff $v: both devices back on the host under their names"
		# the reference leaves the device down, without addresses, alias still set: put back
		ip -n "$H" -j addr show "$d2" | jq -e '.[0].addr_info | map(select(.family=="inet")) | length == 0' >/dev/null
		ok $? "diff $v: (the reference's DEL leaves the addresses off, as documented)"
		ip -n "$H" link del "$d2"
		mkdev "$d2" "$p2" 42
	done
	is "$(hoststate)" "$before" "diff: berth's side of the host as before"
	# each DEL undoes the other's ADD
	cfg=$(conf 1.0.0 hdx$T '{"device":"'"$d"'"}')
	hd "$REF" ADD x1 "/run/netns/$cr" eth0 <<<"$cfg" >/dev/null; ok $? "reference ADD, then berth DEL"
	hd "$HD" DEL x1 "/run/netns/$cr" eth0 <<<"$cfg" >/dev/null; ok $? "... berth DEL succeeds"
	ip -n "$H" link show "$d" >/dev/null 2>&1 && ! ip -n "$cr" link show eth0 >/dev/null 2>&1
	ok $? "... the device is back on the host under its name (from the alias)"
	ip -n "$H" link del "$d"; mkdev "$d" "$p" 41
	hd "$HD" ADD x2 "/run/netns/$cr" eth0 <<<"$cfg" >/dev/null; ok $? "berth ADD, then reference DEL"
	hd "$REF" DEL x2 "/run/netns/$cr" eth0 <<<"$cfg" >/dev/null; ok $? "... reference DEL succeeds"
	ip -n "$H" link show "$d" >/dev/null 2>&1; ok $? "... the device is back on the host under its name"
	hd "$HD" DEL x2 "/run/netns/$cr" eth0 <<<"$cfg" >/dev/null; ok $? "... and berth's DEL after it restores the rest"
	is "$(hoststate)" "$before" "... host as before"
fi
done_testing
