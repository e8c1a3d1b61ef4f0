#!/bin/bash
# ptp: a veth pair per container, the gateway as /32 (/128) on the host end, a host route per
# container address, every container route through the gateway, ipMasq as nft set elements.
# The "host" is a netns of its own (so are its nftables and sysctls): ADD/CHECK/DEL for every
# spec version with the kernel state read back, pings container<->host, container<->container
# and out through the masquerade; GC and STATUS; bad input for every option (CNI error, host
# unchanged, DEL twice leaves nothing); 64 parallel ADDs then DELs.
source "$(dirname "$0")/../lib.sh"
need_root
keep_host_nft
PTP=$CNI_BIN/ptp
[ -x "$PTP" ] || skip_all "ptp not built"
[ -x "$CNI_BIN/host-local" ] || skip_all "host-local not built"

H=pth$T; mknetns "$H"
DATA=$(mktemp -d /tmp/ptp-test.XXXXXX); defer "rm -rf $DATA"
NET=pn$T
A=$(( (0x${T:0:2} % 100) + 100 )); B=$(( 0x${T:2:2} % 200 + 20 ))
SN=10.$A.$B.0/24; P4=10.$A.$B; G6=$(printf %x "0x${T:2:4}") # as ip prints it: no leading zeros
SN6=fd${T:0:2}:$G6::/64; P6=fd${T:0:2}:$G6::

# hcni CMD ID NETNS IFNAME [CNI_ARGS] < config: the plugin run in the host netns
hcni() {
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS="$3" \
		CNI_IFNAME="$4" CNI_ARGS="${5:-}" CNI_PATH="$CNI_BIN:$REF_CNI" BERTH_LOG_LEVEL=error BERTH_NFT_TABLE="$BERTH_NFT_TABLE" \
		BERTH_NFT_STATE_DIR="$BERTH_NFT_STATE_DIR" "${PLUGIN:-$PTP}"
}
conf() { # conf VERSION [EXTRA-JSON]
	jq -nc --arg v "$1" --arg n "$NET" --arg s "$SN" --arg s6 "$SN6" --arg d "$DATA" \
		--argjson x "${2:-{\}}" \
		'{cniVersion:$v, name:$n, type:"ptp", ipMasq:true, mtu:1400,
		  ipam:{type:"host-local", dataDir:$d, ranges:[[{subnet:$s}],[{subnet:$s6}]],
			routes:[{dst:"0.0.0.0/0"},{dst:"::/0"}]}} * $x'
}
hstate() { # everything in the host netns an attachment can leave, and the IPAM files
	ip netns exec "$H" ls /sys/class/net | sort
	ip -n "$H" -4 route show; ip -n "$H" -6 route show | grep -v '^fe80'
	ip -n "$H" -br addr show | grep -v '^lo ' | awk '{$2 = ""; print}' | sed 's/ fe80[^ ]*//' | sort
	ip netns exec "$H" nft -j list table inet "$BERTH_NFT_TABLE" 2>/dev/null |
		jq -c '.nftables[] | select(.set) | .set | select(.elem) | {name, elem}'
	ls "$DATA/$NET" 2>/dev/null | grep -E '^[0-9a-f.:]+$'
}
withprev() { jq -c --argjson p "$1" '. + {prevResult: $p}'; }

EMPTY=$(hstate)

# ---- ADD / CHECK / DEL for each spec version -------------------------------------------
for v in 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	C=pc$T; mknetns "$C"
	c=$(conf "$v")
	out=$(hcni ADD v$T "/run/netns/$C" eth0 <<<"$c"); rc=$?
	ok $rc "$v: ADD succeeds"
	is "$(jq -r '.cniVersion' <<<"$out")" "$v" "$v: result in the config's version"
	is "$(jq -c '[.interfaces[] | .sandbox // "host"]' <<<"$out")" "[\"host\",\"/run/netns/$C\"]" \
		"$v: host veth then the container's eth0"
	jq -e --arg a "$P4." --arg b "$P6" '[.ips[] | .address] | length == 2 and (.[0] | startswith($a))
		and (.[0] | endswith("/24")) and (.[1] | startswith($b)) and (.[1] | endswith("/64"))' <<<"$out" >/dev/null
	ok $? "$v: an address of each range"
	is "$(jq -c '[.ips[] | .interface]' <<<"$out")" "[1,1]" "$v: addresses on interface 1"
	if [ "$v" != 0.3.0 ] && [ "$v" != 0.3.1 ]; then
		hcni CHECK v$T "/run/netns/$C" eth0 < <(withprev "$out" <<<"$c") >/dev/null
		ok $? "$v: CHECK passes"
	fi
	hcni DEL v$T "/run/netns/$C" eth0 <<<"$c" >/dev/null; ok $? "$v: DEL succeeds"
	is "$(hstate)" "$EMPTY" "$v: nothing left in the host"
	ip netns del "$C"
done

# ---- kernel state after ADD --------------------------------------------------------------
C1=p1$T; C2=p2$T; mknetns "$C1"; mknetns "$C2"
c=$(conf 1.0.0)
r1=$(hcni ADD c1$T "/run/netns/$C1" eth0 <<<"$c"); ok $? "ADD c1"
r2=$(hcni ADD c2$T "/run/netns/$C2" eth0 <<<"$c"); ok $? "ADD c2"
hv1=$(jq -r '.interfaces[0].name' <<<"$r1"); ip1=$(jq -r '.ips[0].address | split("/")[0]' <<<"$r1")
ip61=$(jq -r '.ips[1].address | split("/")[0]' <<<"$r1"); ip2=$(jq -r '.ips[0].address | split("/")[0]' <<<"$r2")
ip62=$(jq -r '.ips[1].address | split("/")[0]' <<<"$r2")
L=$(ip -n "$H" -j -d link show "$hv1")
is "$(jq -r '.[0].linkinfo.info_kind' <<<"$L")" veth "host end is a veth"
is "$(jq -r '.[0].ifalias' <<<"$L")" "berth ptp $NET c1$T eth0" "host end carries its owner"
is "$(jq -r '.[0].mtu' <<<"$L")" 1400 "host end mtu 1400"
is "$(jq -r '.[0].operstate' <<<"$L")" UP "host end up"
is "$(jq -r '.[0].mtu' <<<"$(ip -n "$C1" -j link show eth0)")" 1400 "container end mtu 1400"
is "$(jq -r '.[0].mac' <<<"$r1" 2>/dev/null; jq -r '.interfaces[1].mac' <<<"$r1")" \
	"$(jq -r '.interfaces[1].mac' <<<"$r1")" "result MAC is read"
is "$(ip -n "$C1" -j link show eth0 | jq -r '.[0].address')" "$(jq -r '.interfaces[1].mac' <<<"$r1")" \
	"container MAC as in the result"
is "$(ip -n "$H" -j addr show "$hv1" | jq -c '[.[0].addr_info[] | select(.scope=="global") | "\(.local)/\(.prefixlen)"]')" \
	"[\"$P4.1/32\",\"${P6}1/128\"]" "gateway /32 and /128 on the host end"
is "$(ip -n "$H" -j route show "$ip1/32" | jq -c '[.[] | {dev, scope}]')" "[{\"dev\":\"$hv1\",\"scope\":\"host\"}]" \
	"host route to the container address, scope host"
is "$(ip -n "$H" -j -6 route show "$ip61/128" | jq -r '.[0].dev')" "$hv1" "IPv6 host route"
is "$(ip -n "$C1" -j addr show eth0 | jq -c '[.[0].addr_info[] | select(.scope=="global") | "\(.local)/\(.prefixlen)"]')" \
	"[\"$ip1/24\",\"$ip61/64\"]" "container addresses with the IPAM prefix"
is "$(ip -n "$C1" -4 route show | sort)" "$(printf '%s\n' "$P4.0/24 via $P4.1 dev eth0 src $ip1 " \
	"$P4.1 dev eth0 scope link src $ip1 " "default via $P4.1 dev eth0 " | sort)" \
	"container IPv4 routes: gateway /32 link, subnet and default via the gateway, no prefix route"
is "$(ip -n "$C1" -6 route show | grep -v '^fe80' | sed 's/ pref medium//' | sort)" \
	"$(printf '%s\n' "${P6}1 dev eth0 src $ip61 metric 1024" "${P6}/64 via ${P6}1 dev eth0 src $ip61 metric 1024" \
	"default via ${P6}1 dev eth0 metric 1024" | sort)" "container IPv6 routes the same way"
is "$(ip netns exec "$H" cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding | tr '\n' ' ')" \
	"1 1 " "forwarding on in the host"
is "$(ip netns exec "$H" nft -j list set inet "$BERTH_NFT_TABLE" masq4 | jq -c '[.nftables[1].set.elem[] | .elem.val] | sort')" \
	"$(jq -nc --arg a "$ip1" --arg b "$ip2" '[$a,$b] | sort')" "masquerade elements: both containers"
is "$(ip netns exec "$H" nft list set inet "$BERTH_NFT_TABLE" masq4_net | grep -c "$ip1 . $SN")" 1 \
	"own-subnet skip element for c1 ($ip1 . $SN)"
is "$(ip netns exec "$H" nft list set inet "$BERTH_NFT_TABLE" masq6_net | grep -c "$ip61 . $SN6")" 1 \
	"own-subnet skip element for c1's IPv6 address"

# ---- packets -----------------------------------------------------------------------------
masq_pkts() {
	ip netns exec "$H" nft list chain inet "$BERTH_NFT_TABLE" postrouting | grep 'saddr @masq' |
		grep -o 'packets [0-9]*' | awk '{s += $2} END {print s + 0}'
}
check "c1 pings the host (gateway)" -- ip netns exec "$C1" ping -c1 -W2 "$P4.1"
check "the host pings c1" -- ip netns exec "$H" ping -c1 -W2 "$ip1"
check "c1 pings c2 through the host" -- ip netns exec "$C1" ping -c1 -W2 "$ip2"
# (up to 5 echoes: the first may go while the addresses are still in DAD)
check "c2 pings c1 over IPv6" -- ip netns exec "$C2" ping -6 -c5 -i0.2 -w5 "$ip61"
is "$(masq_pkts)" 0 "container to container is not masqueraded (own subnet)"
# an outside network behind the host: it has no route to the containers, so only masquerade
# makes the reply come back
O=po$T; mknetns "$O"
ip -n "$H" link add xo$T type veth peer name eth9 netns "$O"
ip -n "$H" addr add 192.0.2.1/24 dev xo$T; ip -n "$H" link set xo$T up
ip -n "$O" addr add 192.0.2.9/24 dev eth9; ip -n "$O" link set eth9 up
check "c1 reaches an outside address through the masquerade" -- ip netns exec "$C1" ping -c1 -W2 192.0.2.9
[ "$(masq_pkts)" -gt 0 ]; ok $? "the masquerade rule counted it"
ip -n "$H" link del xo$T

# ---- CHECK catches what is missing -----------------------------------------------------------
hcni CHECK c1$T "/run/netns/$C1" eth0 < <(withprev "$r1" <<<"$c") >/dev/null; ok $? "CHECK c1 passes"
ip -n "$H" route del "$ip1/32" dev "$hv1"
out=$(hcni CHECK c1$T "/run/netns/$C1" eth0 < <(withprev "$r1" <<<"$c")); rc=$?
[ $rc -ne 0 ] && grep -q 'host route' <<<"$out"; ok $? "CHECK fails without the host route"
ip -n "$H" route add "$ip1/32" dev "$hv1" scope host
ip -n "$C1" route del default
hcni CHECK c1$T "/run/netns/$C1" eth0 < <(withprev "$r1" <<<"$c") >/dev/null
[ $? -ne 0 ]; ok $? "CHECK fails without the default route"
ip -n "$C1" route add default via "$P4.1"
ip netns exec "$H" nft delete element inet "$BERTH_NFT_TABLE" masq4 "{ $ip1 }"
hcni CHECK c1$T "/run/netns/$C1" eth0 < <(withprev "$r1" <<<"$c") >/dev/null
[ $? -ne 0 ]; ok $? "CHECK fails without the masquerade element"
ip netns exec "$H" nft add element inet "$BERTH_NFT_TABLE" masq4 "{ $ip1 comment \"berth masq $NET c1$T eth0\" }"
out=$(hcni CHECK c1$T "/run/netns/$C1" eth0 < <(withprev "$r1" <<<"$c" | jq -c '.prevResult.interfaces[1].sandbox = "/x"'))
[ $? -ne 0 ] && grep -q "doesn't match configured netns" <<<"$out"; ok $? "CHECK with another sandbox fails as the reference"
hcni CHECK c1$T "/run/netns/$C1" eth0 <<<"$c" | grep -q '"code": 7'; ok $? "CHECK without prevResult is code 7"

# ---- STATUS, GC, DEL ---------------------------------------------------------------------------
hcni STATUS "" "" "" < <(conf 1.1.0) >/dev/null; ok $? "STATUS succeeds"
hcni VERSION "" "" "" <<<"$c" | jq -e '.supportedVersions | index("1.1.0") and index("0.1.0")' >/dev/null
ok $? "VERSION lists 0.1.0 .. 1.1.0"
# GC: only c1 is valid; c2's veth, masquerade elements and address go
hcni GC "" "" "" < <(conf 1.1.0 "{\"cni.dev/valid-attachments\":[{\"containerID\":\"c1$T\",\"ifname\":\"eth0\"}]}") >/dev/null
ok $? "GC succeeds"
ip -n "$C2" link show eth0 >/dev/null 2>&1; [ $? -ne 0 ]; ok $? "GC removed c2's veth"
ip -n "$H" link show "$hv1" >/dev/null 2>&1; ok $? "GC kept c1's"
ip netns exec "$H" nft list set inet "$BERTH_NFT_TABLE" masq4 | grep -q "$ip2"; [ $? -ne 0 ]; ok $? "GC removed c2's masquerade element"
[ ! -e "$DATA/$NET/$ip2" ] && [ -e "$DATA/$NET/$ip1" ]; ok $? "GC released c2's address only"
hcni DEL c2$T "/run/netns/$C2" eth0 <<<"$c" >/dev/null; ok $? "DEL of the GC'd c2 succeeds"
# DEL once the netns is gone
ip netns del "$C1"
hcni DEL c1$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null; ok $? "DEL after the netns is gone"
hcni DEL c1$T "" eth0 <<<"$c" >/dev/null; ok $? "DEL without a netns"
is "$(hstate)" "$EMPTY" "nothing left after DEL"

# DEL while the netns lives on but its path is gone: the host end found by owner
C3=p3$T; mknetns "$C3"
r3=$(hcni ADD c3$T "/run/netns/$C3" eth0 <<<"$c"); ok $? "ADD c3"
hv3=$(jq -r '.interfaces[0].name' <<<"$r3")
# a second bind mount keeps the netns alive once its /run/netns path is gone
touch "$DATA/keep3"; mount --bind "/run/netns/$C3" "$DATA/keep3"; defer "umount $DATA/keep3"
ip netns del "$C3"
hcni DEL c3$T "/run/netns/$C3" eth0 <<<"$c" >/dev/null; ok $? "DEL with the netns path gone"
ip -n "$H" link show "$hv3" >/dev/null 2>&1; [ $? -ne 0 ]; ok $? "... removed the host end of the live netns"
umount "$DATA/keep3"
is "$(hstate)" "$EMPTY" "nothing left"

# ---- bad input -------------------------------------------------------------------------------
C=pb$T; mknetns "$C"
bad() { # bad DESC CODE CONFIG [NETNS] [IFNAME]
	local out rc ns=${4:-/run/netns/$C} ifn=${5:-eth0}
	out=$(hcni ADD b$T "$ns" "$ifn" <<<"$3"); rc=$?
	[ $rc -ne 0 ] && [ "$(jq -r .code <<<"$out" 2>/dev/null)" = "$2" ]
	ok $? "$1: ADD fails with code $2"
	[ $rc -ne 0 ] && [ "$(jq -r .code <<<"$out" 2>/dev/null)" = "$2" ] || echo "#   $out" | head -3
	is "$(hstate)" "$EMPTY" "$1: host unchanged"
	hcni DEL b$T "$ns" "$ifn" <<<"$3" >/dev/null && hcni DEL b$T "$ns" "$ifn" <<<"$3" >/dev/null
	ok $? "$1: DEL twice succeeds"
	is "$(hstate)" "$EMPTY" "$1: nothing left after DEL"
}
bad "ipMasq a string" 7 "$(conf 1.0.0 '{"ipMasq":"yes"}')"
bad "ipMasqBackend unknown" 7 "$(conf 1.0.0 '{"ipMasqBackend":"pf"}')"
bad "ipMasqBackend a number" 7 "$(conf 1.0.0 '{"ipMasqBackend":1}')"
bad "mtu a string" 7 "$(conf 1.0.0 '{"mtu":"1400"}')"
bad "mtu negative" 7 "$(conf 1.0.0 '{"mtu":-1}')"
bad "mtu below 68" 7 "$(conf 1.0.0 '{"mtu":10}')"
bad "mtu above 65535" 7 "$(conf 1.0.0 '{"mtu":70000}')"
bad "mtu fractional" 7 "$(conf 1.0.0 '{"mtu":1400.5}')"
bad "ipam missing" 7 "$(conf 1.0.0 | jq -c 'del(.ipam)')"
bad "ipam a string" 7 "$(conf 1.0.0 '{"ipam":"host-local"}')"
bad "ipam.type a number" 7 "$(conf 1.0.0 '{"ipam":{"type":5}}')"
bad "ipam.type a path" 7 "$(conf 1.0.0 '{"ipam":{"type":"../x"}}')"
bad "ipam bad subnet" 7 "$(conf 1.0.0 '{"ipam":{"ranges":[[{"subnet":"10.1.2.3/99"}]]}}')"
bad "dns not an object" 7 "$(conf 1.0.0 '{"dns":"8.8.8.8"}')"
bad "dns nameservers not a list" 7 "$(conf 1.0.0 '{"dns":{"nameservers":"1.1.1.1"}}')"
bad "unknown cniVersion" 1 "$(conf 9.9.9)"
bad "netns that does not exist" 4 "$(conf 1.0.0)" /run/netns/nope$T
[ -x "$REF_CNI/static" ] || { ok 1 "no $REF_CNI/static"; }
bad "IPAM result without gateway" 999 "$(conf 1.0.0 "{\"ipam\":{\"type\":\"static\",\"addresses\":[{\"address\":\"$P4.7/24\"}]}}" | jq -c 'del(.ipam.ranges, .ipam.routes, .ipam.dataDir)')"
ip -n "$C" link add eth0 type veth peer name eth1
bad "eth0 taken in the container" 999 "$(conf 1.0.0)"
ip -n "$C" link show eth0 >/dev/null 2>&1; ok $? "DEL left the container's own eth0 alone"
ip -n "$C" link del eth0
# IPAM exhausted: a /30 has one address after the gateway
small=$(conf 1.0.0 "{\"ipam\":{\"ranges\":[[{\"subnet\":\"$P4.0/30\"}]],\"routes\":[]}}")
hcni ADD x1$T "/run/netns/$C" eth0 <<<"$small" >/dev/null; ok $? "ADD takes the one address of a /30"
C4=p4$T; mknetns "$C4"
before=$(hstate)
out=$(hcni ADD x2$T "/run/netns/$C4" eth0 <<<"$small"); rc=$?
[ $rc -ne 0 ] && jq -e '.code' <<<"$out" >/dev/null; ok $? "ADD on an exhausted range fails with a CNI error"
is "$(hstate)" "$before" "exhausted: host unchanged"
hcni DEL x2$T "/run/netns/$C4" eth0 <<<"$small" >/dev/null && hcni DEL x2$T "/run/netns/$C4" eth0 <<<"$small" >/dev/null
ok $? "exhausted: DEL twice succeeds"
hcni DEL x1$T "/run/netns/$C" eth0 <<<"$small" >/dev/null; ok $? "DEL the /30 container"
is "$(hstate)" "$EMPTY" "nothing left"

# ---- 64 parallel ADDs, then DELs ---------------------------------------------------------------
N=64
for i in $(seq 1 $N); do ip netns add "pp$i$T"; done
defer "for i in \$(seq 1 $N); do ip netns del pp\${i}$T; done"
c=$(conf 1.0.0 '{"ipam":{"ranges":[[{"subnet":"'"$SN"'"}]],"routes":[]}}')
PD=$(mktemp -d /tmp/ptp-par.XXXXXX); defer "rm -rf $PD"
for i in $(seq 1 $N); do
	( hcni ADD par$i$T "/run/netns/pp$i$T" eth0 <<<"$c" >"$PD/$i.out"; echo $? >"$PD/$i.rc" ) &
done
wait
is "$(cat "$PD"/*.rc | sort -u)" 0 "$N parallel ADDs all succeed"
is "$(cat "$PD"/*.out | jq -r '.ips[0].address' | sort -u | wc -l)" $N "$N distinct addresses"
is "$(ip netns exec "$H" ls /sys/class/net | grep -c '^veth')" $N "$N host veths"
is "$(ip -n "$H" -4 route show | grep -c 'scope host')" $N "$N host routes"
for i in $(seq 1 $N); do
	( hcni DEL par$i$T "/run/netns/pp$i$T" eth0 <<<"$c" >/dev/null; echo $? >"$PD/$i.rc" ) &
done
wait
is "$(cat "$PD"/*.rc | sort -u)" 0 "$N parallel DELs all succeed"
is "$(hstate)" "$EMPTY" "nothing left after the parallel DELs"
done_testing
