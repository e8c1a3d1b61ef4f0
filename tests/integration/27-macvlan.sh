#!/bin/bash
# macvlan: every option and every spec version through the real binary.  The master is a veth
# in a "host" netns of our own (the plugin runs there through ip netns exec, so the real host is
# never touched); its other end is in a peer netns holding an address of the parent's network.
# Kernel state read back after ADD/CHECK/DEL, pings between two containers and to the peer,
# bad input (CNI error with the right code, nothing changed, DEL twice), DEL without the netns,
# 64 parallel ADDs on one master.
# time-limit: 300
source "$(dirname "$0")/../lib.sh"
need_root
MV=$CNI_BIN/macvlan
[ -x "$MV" ] || skip_all "macvlan not built"
if [ -x "$CNI_BIN/host-local" ]; then IPAM_PATH=$CNI_BIN; else IPAM_PATH=$REF_CNI; fi
[ -x "$IPAM_PATH/host-local" ] || skip_all "no host-local IPAM"
diag "IPAM from $IPAM_PATH"

DATA=$(mktemp -d /tmp/macvlan-test.XXXXXX); defer "rm -rf $DATA"
H=mh$T; P=mp$T; C1=mc1$T; C2=mc2$T
M=mv$T # the master, in $H
mknetns "$H"; mknetns "$P"; mknetns "$C1"; mknetns "$C2"
A=$(( (0x${T:0:2} % 100) + 100 )); B=$(( 0x${T:2:2} % 200 + 20 ))
SN=10.$A.$B; SN6=fd${T:0:2}:${T:2:4}:${T:0:4}
ip -n "$H" link add "$M" mtu 1500 type veth peer name eth0 netns "$P"
ip -n "$H" link set "$M" up; ip -n "$P" link set eth0 up
ip -n "$P" addr add "$SN.1/24" dev eth0
ip -n "$P" addr add "$SN6::1/64" dev eth0 nodad
# the default route of $H leads out of the master: the default master
ip -n "$H" addr add "$SN.254/24" dev "$M"
ip -n "$H" route add default via "$SN.1"

# mv COMMAND ID NETNS IFNAME [CNI_ARGS] < config: the plugin in $H
mv() {
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS="$3" \
		CNI_IFNAME="$4" CNI_ARGS="${5:-}" CNI_PATH="$IPAM_PATH" BERTH_LOG_LEVEL=error "$MV"
}
conf() { # conf VERSION [EXTRA-JSON]
	jq -nc --arg v "$1" --arg n "mvn$T" --arg m "$M" --arg s "$SN.0/24" --arg d "$DATA" --argjson x "${2:-{\}}" \
		'{cniVersion:$v, name:$n, type:"macvlan", master:$m,
		  ipam:{type:"host-local", dataDir:$d, ranges:[[{subnet:$s, rangeStart:($s|sub("0/24";"10"))}]],
			routes:[{dst:"0.0.0.0/0"}]}} * $x'
}
ipam_count() { ls "$DATA/mvn$T" 2>/dev/null | grep -cE '^[0-9a-f.:]+$'; }
linfo() { ip -n "$1" -j -d link show "${2:-eth0}" 2>/dev/null | jq -c '.[0]'; }
state() { # everything an ADD may touch
	for n in "$H" "$P" "$C1" "$C2"; do
		echo "## $n"; ip -n "$n" -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | sort
		ip -n "$n" -o addr show | awk '{print $2, $4}' | sort
	done
	ls "$DATA/mvn$T" 2>/dev/null | grep -E '^[0-9a-f.:]+$'
}
before=$(state)

# ---- VERSION ----
out=$(mv VERSION x "" eth0 <<<'{"cniVersion":"1.1.0"}')
is "$(jq -c .supportedVersions <<<"$out")" '["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]' "VERSION lists 0.1.0 .. 1.1.0"

# ---- every spec version: ADD, kernel, CHECK, DEL ----
for v in 0.1.0 0.2.0 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	c=$(conf $v)
	out=$(mv ADD v$T "/run/netns/$C1" eth0 <<<"$c"); rc=$?
	ok $rc "$v: ADD"
	case $v in
	0.1.0|0.2.0) addr=$(jq -r '.ip4.ip' <<<"$out") ;;
	*) addr=$(jq -r '.ips[0].address' <<<"$out")
	   is "$(jq -c '[.interfaces[0].name, .interfaces[0].sandbox, .ips[0].interface]' <<<"$out")" \
		"[\"eth0\",\"/run/netns/$C1\",0]" "$v: result interface, sandbox, interface index" ;;
	esac
	[[ $addr == "$SN".*/24 ]]; ok $? "$v: result address $addr in the subnet"
	l=$(linfo "$C1")
	is "$(jq -r '[.linkinfo.info_kind, .linkinfo.info_data.mode, (.flags|index("UP")|type)] | join(",")' <<<"$l")" "macvlan,bridge,number" "$v: kernel: macvlan, mode bridge, up"
	is "$(ip -n "$C1" -j addr show eth0 | jq -r '[.[0].addr_info[]|select(.family=="inet")|"\(.local)/\(.prefixlen)"]|join(",")')" "$addr" "$v: kernel: address"
	is "$(ip -n "$C1" -j route show default | jq -r '.[0].gateway')" "$SN.1" "$v: kernel: default route via the IPAM gateway"
	if [[ $v == 0.4.0 || $v == 1.* ]]; then
		cc=$(jq -c --argjson p "$out" '. + {prevResult:$p}' <<<"$c")
		mv CHECK v$T "/run/netns/$C1" eth0 <<<"$cc" >/dev/null; ok $? "$v: CHECK"
	fi
	mv DEL v$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null; ok $? "$v: DEL"
	is "$(ip -n "$C1" -o link show 2>/dev/null | grep -c eth0)" 0 "$v: link gone after DEL"
	is "$(ipam_count)" 0 "$v: address released"
done

# ---- options, read back ----
c=$(conf 1.0.0 '{"mode":"private","mtu":1400,"mac":"02:11:22:33:44:55","bcqueuelen":2000}')
out=$(mv ADD o$T "/run/netns/$C1" eth0 <<<"$c"); ok $? "mode private, mtu, mac, bcqueuelen: ADD"
l=$(linfo "$C1")
is "$(jq -r '[.linkinfo.info_data.mode, .mtu, .address, .linkinfo.info_data.bcqueuelen] | join(",")' <<<"$l")" \
	"private,1400,02:11:22:33:44:55,2000" "kernel: mode, mtu, mac, bcqueuelen"
is "$(jq -r '.interfaces[0].mac' <<<"$out")" "02:11:22:33:44:55" "result carries the MAC"
cc=$(jq -c --argjson p "$out" '. + {prevResult:$p}' <<<"$c")
mv CHECK o$T "/run/netns/$C1" eth0 <<<"$cc" >/dev/null; ok $? "CHECK with the options"
out2=$(mv CHECK o$T "/run/netns/$C1" eth0 <<<"$(jq -c '.mode="vepa"' <<<"$cc")"); rc=$?
ok $((rc == 0)) "CHECK fails when the mode differs"
is "$(jq -r .msg <<<"$out2")" "container macvlan mode private does not match expected value: vepa" "CHECK names the modes"
out2=$(mv CHECK o$T "/run/netns/$C1" eth0 <<<"$(jq -c '.prevResult.interfaces[0].mac="02:00:00:00:00:01"' <<<"$cc")"); rc=$?
ok $((rc == 0)) "CHECK fails when the MAC differs"
ip -n "$C1" addr flush dev eth0 scope global
out2=$(mv CHECK o$T "/run/netns/$C1" eth0 <<<"$cc"); rc=$?
ok $((rc == 0)) "CHECK fails when the address is gone"
mv DEL o$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null; ok $? "DEL"

for mode in vepa passthru bridge; do
	c=$(conf 1.0.0 "{\"mode\":\"$mode\"}")
	mv ADD m$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null; ok $? "mode $mode: ADD"
	is "$(linfo "$C1" | jq -r .linkinfo.info_data.mode)" "$mode" "mode $mode: kernel"
	mv DEL m$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null; ok $? "mode $mode: DEL"
done

c=$(conf 1.0.0 '{"mac":"02:11:22:33:44:55","runtimeConfig":{"mac":"02:aa:bb:cc:dd:01"}}')
mv ADD r$T "/run/netns/$C1" eth0 "IgnoreUnknown=1;MAC=02:aa:bb:cc:dd:02" <<<"$c" >/dev/null; ok $? "runtimeConfig mac: ADD"
is "$(linfo "$C1" | jq -r .address)" "02:aa:bb:cc:dd:01" "runtimeConfig.mac wins over CNI_ARGS and mac"
mv DEL r$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null
c=$(conf 1.0.0 '{"mac":"02:11:22:33:44:55"}')
mv ADD r$T "/run/netns/$C1" eth0 "IgnoreUnknown=1;MAC=02:aa:bb:cc:dd:02" <<<"$c" >/dev/null; ok $? "CNI_ARGS MAC: ADD"
is "$(linfo "$C1" | jq -r .address)" "02:aa:bb:cc:dd:02" "CNI_ARGS MAC wins over mac"
mv DEL r$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null

# default master: the interface of $H's default route
c=$(conf 1.0.0 | jq -c 'del(.master)')
mv ADD d$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null; ok $? "no master: ADD"
is "$(ip -n "$C1" -j -d link show eth0 2>/dev/null | jq -r '.[0].link_index')" "$(ip -n "$H" -j link show "$M" | jq -r '.[0].ifindex')" "no master: on the default route's interface"
mv DEL d$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null

# without IPAM: the link only, up
c=$(conf 1.0.0 | jq -c 'del(.ipam)')
out=$(mv ADD l$T "/run/netns/$C1" eth0 <<<"$c"); ok $? "no IPAM: ADD"
is "$(jq -c '[(.ips // [] | length), .interfaces[0].name]' <<<"$out")" '[0,"eth0"]' "no IPAM: interface, no IPs"
is "$(linfo "$C1" | jq -r '(.flags|index("UP")) != null')" true "no IPAM: link up"
is "$(ip -n "$C1" -j addr show eth0 | jq '[.[0].addr_info[]|select(.scope=="global")]|length')" 0 "no IPAM: no address"
mv DEL l$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null; ok $? "no IPAM: DEL"

# DNS from the config
c=$(conf 1.0.0 '{"dns":{"nameservers":["10.9.9.9"],"domain":"x.test","search":["a.test"]}}')
out=$(mv ADD n$T "/run/netns/$C1" eth0 <<<"$c")
is "$(jq -c .dns <<<"$out")" '{"nameservers":["10.9.9.9"],"domain":"x.test","search":["a.test"]}' "dns in the result"
mv DEL n$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null

# linkInContainer: the master is a veth inside the container's netns
ip -n "$C2" link add lm$T type veth peer name lp$T; ip -n "$C2" link set lm$T up
c=$(conf 1.0.0 "{\"master\":\"lm$T\",\"linkInContainer\":true}")
out=$(mv ADD k$T "/run/netns/$C2" eth1 <<<"$c"); ok $? "linkInContainer: ADD"
is "$(ip -n "$C2" -j -d link show eth1 2>/dev/null | jq -r '[.[0].linkinfo.info_kind, .[0].link] | join(",")')" "macvlan,lm$T" "linkInContainer: macvlan on the container's own master"
cc=$(jq -c --argjson p "$out" '. + {prevResult:$p}' <<<"$c")
mv CHECK k$T "/run/netns/$C2" eth1 <<<"$cc" >/dev/null; ok $? "linkInContainer: CHECK"
mv DEL k$T "/run/netns/$C2" eth1 <<<"$c" >/dev/null; ok $? "linkInContainer: DEL"
is "$(ip -n "$C2" -o link show 2>/dev/null | grep -c eth1)" 0 "linkInContainer: link gone"
out=$(mv ADD k$T "/run/netns/$C1" eth1 <<<"$c"); rc=$?
is "$rc:$(jq -r .code <<<"$out")" "1:7" "linkInContainer: master missing in that container is code 7"
ip -n "$C2" link del lm$T

# ---- packets: two containers on one master, and the peer on the parent's network ----
c=$(conf 1.0.0 | jq -c '.ipam.ranges[0] += [] | .ipam.ranges += [[{subnet:"'"$SN6"'::/64"}]]')
o1=$(mv ADD p1$T "/run/netns/$C1" eth0 <<<"$c"); ok $? "container 1 ADD (dual stack)"
o2=$(mv ADD p2$T "/run/netns/$C2" eth0 <<<"$c"); ok $? "container 2 ADD"
a2=$(jq -r '.ips[0].address|split("/")[0]' <<<"$o2"); a26=$(jq -r '.ips[1].address|split("/")[0]' <<<"$o2")
ip netns exec "$C1" ping -c1 -W2 "$a2" >/dev/null; ok $? "ping container 1 -> container 2 ($a2)"
ip netns exec "$C1" ping -c1 -W2 "$a26" >/dev/null; ok $? "ping6 container 1 -> container 2 ($a26)"
ip netns exec "$C2" ping -c1 -W2 "$SN.1" >/dev/null; ok $? "ping container 2 -> peer on the parent's network"
ip netns exec "$C2" ping -c1 -W2 "$SN6::1" >/dev/null; ok $? "ping6 container 2 -> peer"
mv DEL p1$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null; ok $? "container 1 DEL"
mv DEL p2$T "/run/netns/$C2" eth0 <<<"$c" >/dev/null; ok $? "container 2 DEL"
mv DEL p2$T "/run/netns/$C2" eth0 <<<"$c" >/dev/null; ok $? "DEL again"

# ---- STATUS, GC ----
c=$(conf 1.1.0)
mv STATUS "" "" "" <<<"$c" >/dev/null; ok $? "STATUS"
out=$(mv STATUS "" "" "" <<<"$(jq -c '.master="nx'$T'"' <<<"$c")"); rc=$?
is "$rc:$(jq -r .code <<<"$out")" "1:50" "STATUS with a missing master is code 50"
mv ADD g$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null
is "$(ipam_count)" 1 "GC: one address held"
mv GC "" "" "" <<<"$(jq -c '. + {"cni.dev/valid-attachments":[]}' <<<"$c")" >/dev/null; ok $? "GC"
is "$(ipam_count)" 0 "GC released the address of an attachment that is not valid"
mv DEL g$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null

# ---- DEL without the netns ----
ip netns add gone$T
mv ADD x$T "/run/netns/gone$T" eth0 <<<"$c" >/dev/null; ok $? "ADD into a netns about to go"
ip netns del gone$T
mv DEL x$T "/run/netns/gone$T" eth0 <<<"$c" >/dev/null; ok $? "DEL after the netns is gone"
is "$(ipam_count)" 0 "DEL without netns released the address"
mv DEL x$T "" eth0 <<<"$c" >/dev/null; ok $? "DEL with no CNI_NETNS"

# ---- a link this attachment did not make is left alone ----
ip -n "$C1" link add eth0 type veth peer name other$T
out=$(mv ADD y$T "/run/netns/$C1" eth0 <<<"$c"); rc=$?
ok $((rc == 0)) "ADD refused when eth0 exists in the container"
mv DEL y$T "/run/netns/$C1" eth0 <<<"$c" >/dev/null; ok $? "DEL after that"
is "$(ip -n "$C1" -o link show 2>/dev/null | grep -c 'eth0@')" 1 "the container's own eth0 is left"
ip -n "$C1" link del eth0
is "$(ipam_count)" 0 "nothing reserved"

# ---- bad input: code, nothing changed, DEL twice ----
is "$(state)" "$before" "state back to the start"
bad() { # bad DESC WANT-CODE EXTRA-JSON [CNI_ARGS]
	local c out rc
	c=$(conf 1.0.0 "$3")
	out=$(mv ADD b$T "/run/netns/$C1" eth0 "${4:-}" <<<"$c"); rc=$?
	is "$rc:$(jq -r .code <<<"$out" 2>/dev/null)" "1:$2" "bad $1: code $2 ($(jq -r .msg <<<"$out" 2>/dev/null | head -c 80))"
	is "$(state)" "$before" "bad $1: nothing changed"
	mv DEL b$T "/run/netns/$C1" eth0 "${4:-}" <<<"$c" >/dev/null && mv DEL b$T "/run/netns/$C1" eth0 "${4:-}" <<<"$c" >/dev/null
	ok $? "bad $1: DEL twice"
	is "$(state)" "$before" "bad $1: nothing changed by DEL"
}
bad "master type" 7 '{"master":5}'
bad "master missing" 7 "{\"master\":\"nx$T\"}"
bad "mode" 7 '{"mode":"vxlan"}'
bad "mode type" 7 '{"mode":1}'
bad "mtu type" 7 '{"mtu":"1400"}'
bad "mtu negative" 7 '{"mtu":-1}'
bad "mtu above master" 7 '{"mtu":9000}'
bad "mac" 7 '{"mac":"not-a-mac"}'
bad "mac type" 7 '{"mac":true}'
bad "mac multicast" 7 '{"mac":"01:00:5e:00:00:01"}'
bad "runtimeConfig mac" 7 '{"runtimeConfig":{"mac":"zz:zz"}}'
bad "CNI_ARGS MAC" 4 '{}' "IgnoreUnknown=1;MAC=bogus"
bad "CNI_ARGS unknown key" 4 '{}' "FOO=bar"
bad "linkInContainer type" 7 '{"linkInContainer":"maybe"}'
bad "bcqueuelen type" 7 '{"bcqueuelen":"x"}'
bad "bcqueuelen negative" 7 '{"bcqueuelen":-5}'
bad "ipam type" 7 '{"ipam":{"type":"../x"}}'
bad "ipam missing plugin" 7 '{"ipam":{"type":"nx'$T'"}}'
bad "ipam bad range" 7 '{"ipam":{"ranges":[[{"subnet":"bogus"}]]}}'
bad "dns type" 7 '{"dns":"x"}'
out=$(mv ADD b$T "/run/netns/nx$T" eth0 <<<"$(conf 1.0.0)"); rc=$?
is "$rc:$(jq -r .code <<<"$out")" "1:4" "bad netns: code 4"
is "$(state)" "$before" "bad netns: nothing changed"

# ---- 64 parallel ADDs on one master ----
c=$(conf 1.0.0 | jq -c '.ipam.ranges[0][0].rangeStart = null | del(.ipam.ranges[0][0].rangeStart)')
pids=()
for i in $(seq 1 64); do ip netns add par$i$T; done
defer "for i in \$(seq 1 64); do ip netns del par\${i}$T 2>/dev/null; done"
for i in $(seq 1 64); do
	mv ADD par$i "/run/netns/par$i$T" eth0 <<<"$c" >"$DATA/out.$i" 2>&1 &
	pids+=($!)
done
fails=0; for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
is "$fails" 0 "64 parallel ADDs: all succeed"
is "$(cat "$DATA"/out.* | jq -r '.ips[0].address' 2>/dev/null | sort -u | grep -c .)" 64 "64 parallel ADDs: 64 distinct addresses"
n=0; for i in $(seq 1 64); do [ "$(ip -n par$i$T -j -d link show eth0 2>/dev/null | jq -r '.[0].linkinfo.info_kind')" = macvlan ] && n=$((n + 1)); done
is "$n" 64 "64 parallel ADDs: 64 macvlans"
pids=()
for i in $(seq 1 64); do mv DEL par$i "/run/netns/par$i$T" eth0 <<<"$c" >/dev/null 2>&1 & pids+=($!); done
fails=0; for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
is "$fails" 0 "64 parallel DELs: all succeed"
n=0; for i in $(seq 1 64); do ip -n par$i$T link show eth0 >/dev/null 2>&1 && n=$((n + 1)); ip netns del par$i$T; done
is "$n" 0 "64 parallel DELs: no link left"
is "$(ipam_count)" 0 "64 parallel DELs: no address left"
is "$(state)" "$before" "state back to the start"
done_testing
