#!/bin/bash
# The reference's backend keys, every value it accepts, served by nftables: bridge's
# ipMasqBackend, portmap's backend (with conditions in iptables syntax, which that backend
# implies, translated; conflicts refused as the reference refuses them) and firewall's backend
# (any value; firewalld itself is tested in 55-firewalld.sh).  Real packets through a throwaway
# host netns H: masquerade to an outside host O, port mappings from O.
source "$(dirname "$0")/../lib.sh"
need_root
for p in bridge host-local portmap firewall; do [ -x "$CNI_BIN/$p" ] || skip_all "$p not built"; done
ECHO=$BERTH_BUILD/tests/helpers/nftecho
H=bkh$T C=bkc$T O=bko$T
STATE=$(mktemp -d); defer "rm -rf $STATE"
inH() { ip netns exec "$H" "$@"; }
plug() { # PLUGIN CMD ID NETNS < conf: run in H, its nft table and state its own
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID="$3" CNI_NETNS="$4" \
		CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" BERTH_NFT_STATE_DIR="$STATE/nft" \
		BERTH_FIREWALLD_STATE_DIR="$STATE/fwd" DBUS_SYSTEM_BUS_ADDRESS="unix:path=$STATE/nobus" \
		"$CNI_BIN/$1"
}
elems() { inH nft -j list set inet berth "$1" 2>/dev/null | jq -r '[.nftables[].set.elem[]?] | length'; }
wait_listen() { for _ in $(seq 100); do [ -n "$(ip netns exec "$1" ss -Hlnt "sport = :$2")" ] && return; sleep 0.05; done; }
mknetns "$H"; mknetns "$C"; mknetns "$O"
inH sysctl -qw net.ipv4.ip_forward=1
inH ip link add out0 type veth peer name eth0 netns "$O"
inH ip link set out0 up; inH ip addr add 192.0.2.1/24 dev out0
ip -n "$O" link set eth0 up; ip -n "$O" addr add 192.0.2.2/24 dev eth0
ip netns exec "$O" "$ECHO" serve tcp 9700 & defer "kill $!"
wait_listen "$O" 9700
# O has no route to the containers: only a masquerade lets a container talk to it

# ---- bridge ipMasqBackend ----
bconf() { # VERSION EXTRA-JSON
	jq -nc --arg v "$1" --arg d "$STATE/ipam" --argjson x "$2" \
		'{cniVersion:$v, name:"bk", type:"bridge", bridge:"bkbr", isGateway:true, ipMasq:true,
		  ipam:{type:"host-local", dataDir:$d, ranges:[[{subnet:"10.79.0.0/24"}]], routes:[{dst:"0.0.0.0/0"}]}} * $x'
}
for v in 0.3.1 0.4.0 1.0.0 1.1.0; do
	for b in nftables iptables none; do
		x='{}'; [ $b != none ] && x="{\"ipMasqBackend\":\"$b\"}"
		out=$(plug bridge ADD m$v "/run/netns/$C" <<<"$(bconf $v "$x")"); rc=$?
		is "$rc" 0 "$v ipMasqBackend $b: ADD"
		is "$(ip netns exec "$C" "$ECHO" ask tcp 192.0.2.2 9700 2>/dev/null)" 192.0.2.1 "$v ipMasqBackend $b: the container reaches O, masqueraded to the host's address"
		plug bridge DEL m$v "/run/netns/$C" <<<"$(bconf $v "$x")" >/dev/null; ok $? "$v ipMasqBackend $b: DEL"
		is "$(elems masq4)" 0 "$v ipMasqBackend $b: DEL removed the masquerade"
	done
done
o=$(plug bridge ADD mb "/run/netns/$C" <<<"$(bconf 1.0.0 '{"ipMasqBackend":"bogus"}')"); rc=$?
[ $rc -eq 1 ] && [ "$(jget "$o" .code)" = 7 ] && jget "$o" .msg | grep -q "ipMasqBackend: unknown backend 'bogus'"
ok $? "ipMasqBackend bogus with ipMasq: code 7, as the reference refuses it"
is "$(ip -n "$C" -o link show eth0 2>/dev/null)" "" "... and nothing is left in the container"
o=$(plug bridge ADD mf "/run/netns/$C" <<<"$(bconf 1.0.0 '{"ipMasq":false,"ipMasqBackend":"bogus"}')"); rc=$?
is "$rc" 0 "ipMasqBackend bogus without ipMasq: accepted, as the reference ignores it then"
plug bridge DEL mf "/run/netns/$C" <<<"$(bconf 1.0.0 '{"ipMasq":false,"ipMasqBackend":"bogus"}')" >/dev/null
o=$(plug bridge ADD mn "/run/netns/$C" <<<"$(bconf 1.0.0 '{"ipMasqBackend":5}')"); rc=$?
[ $rc -eq 1 ] && [ "$(jget "$o" .code)" = 7 ]; ok $? "ipMasqBackend not a string: code 7"

# ---- portmap backend and conditions ----
# a container on the bridge, its address in prevResult; O maps through H's 192.0.2.1
out=$(plug bridge ADD pmc "/run/netns/$C" <<<"$(bconf 1.0.0 '{"ipMasq":false}')")
ip netns exec "$C" "$ECHO" serve tcp 80 & defer "kill $!"
wait_listen "$C" 80
CIP=$(jq -r '.ips[0].address' <<<"$out")
pconf() { # VERSION PORT EXTRA-KEYS
	jq -nc --arg v "$1" --argjson p "$2" --argjson x "${3:-{\}}" --argjson prev "$out" \
		'{cniVersion:$v, name:"bkpm", type:"portmap", capabilities:{portMappings:true},
		  runtimeConfig:{portMappings:[{hostPort:$p, containerPort:80, protocol:"tcp"}]},
		  prevResult:($prev | .cniVersion = $v)} + $x'
}
from_o() { ip netns exec "$O" "$ECHO" ask tcp 192.0.2.1 "$1" 2>/dev/null; }
from_host() { inH "$ECHO" ask tcp 127.0.0.1 "$1" >/dev/null 2>&1 && echo mapped || echo no; }
port=9800
pm_case() { # DESC VERSION EXTRA WANT-FROM-O(mapped|no) [WANT-FROM-HOST]
	local c rc got
	port=$((port + 1))
	c=$(pconf "$2" $port "$3")
	plug portmap ADD "p$port" "/run/netns/$C" <<<"$c" >/dev/null; rc=$?
	is "$rc" 0 "portmap $1 ($2): ADD"
	got=no; [ "$(from_o $port)" = 192.0.2.2 ] && got=mapped
	is "$got" "$4" "portmap $1 ($2): from the outside host: $4"
	[ -n "${5:-}" ] && is "$(from_host $port)" "$5" "portmap $1 ($2): from the host's 127.0.0.1: $5"
	plug portmap DEL "p$port" "/run/netns/$C" <<<"$c" >/dev/null; ok $? "portmap $1 ($2): DEL"
}
for v in 0.3.1 0.4.0 1.0.0 1.1.0; do
	pm_case "backend nftables" $v '{"backend":"nftables"}' mapped
	pm_case "backend iptables" $v '{"backend":"iptables"}' mapped
	pm_case "no backend" $v '{}' mapped
done
pm_case "iptables conditions -s, no backend" 1.0.0 '{"conditionsV4":["-s","192.0.2.0/24"]}' mapped no
pm_case "iptables conditions ! -s" 1.0.0 '{"conditionsV4":["!","-s","192.0.2.0/24"]}' no mapped
pm_case "iptables conditions, backend iptables, one string" 1.0.0 '{"backend":"iptables","conditionsV4":["-s 192.0.2.0/24"]}' mapped no
pm_case "iptables conditions -i with a + prefix" 1.0.0 '{"conditionsV4":["-i","out+"]}' mapped no
pm_case "iptables conditions -d and a comment" 1.0.0 '{"conditionsV4":["-m","comment","--comment","\"from O\"","--destination","192.0.2.1"]}' mapped no
pm_case "iptables conditions -m mark (no packet carries it)" 1.0.0 '{"conditionsV4":["-m","mark","--mark","0x5/0xffffffff"]}' no no
is "$(inH nft list table inet berth | grep -c 'meta mark 0x00000005')" 4 "-m mark --mark became 'meta mark 0x5' in the two DNAT rules of prerouting and of output"
pbad() { # DESC MSG-REGEX EXTRA
	local o rc
	o=$(plug portmap ADD pbad "/run/netns/$C" <<<"$(pconf 1.0.0 9899 "$3")"); rc=$?
	if [ $rc -eq 1 ] && [ "$(jget "$o" .code)" = 7 ] && jget "$o" .msg | grep -Eq "$2"; then ok 0 "portmap refuses $1"
	else ok 1 "portmap refuses $1"; diag "rc=$rc $o"; fi
}
pbad 'backend ""' "unknown backend ''" '{"backend":""}'
pbad 'backend ebpf' "unknown backend 'ebpf'" '{"backend":"ebpf"}'
pbad 'iptables conditions with backend nftables' 'nftables backend was requested but configuration contains iptables-specific options \[conditionsV4\]' \
	'{"backend":"nftables","conditionsV4":["-s","192.0.2.0/24"]}'
pbad 'externalSetMarkChain with backend nftables' 'nftables backend was requested but configuration contains iptables-specific options \[externalSetMarkChain\]' \
	'{"backend":"nftables","externalSetMarkChain":"KUBE-MARK-MASQ"}'
pbad 'nft conditions with backend iptables' 'iptables backend was requested but configuration contains nftables-specific options \[conditionsV4\]' \
	'{"backend":"iptables","conditionsV4":["ip","saddr","192.0.2.0/24"]}'
pbad 'an iptables match without an nft counterpart' "the iptables match '-m conntrack' has no counterpart" \
	'{"conditionsV4":["-m","conntrack","--ctstate","NEW"]}'
pbad 'a mark with a mask' "a mark with a mask" '{"conditionsV4":["-m","mark","--mark","0x5/0xff"]}'
pbad 'a dangling !' "'!' negates nothing" '{"conditionsV4":["-s","192.0.2.0/24","!"]}'
pbad 'an option without a value' "'-s' without a value" '{"conditionsV4":["-s"]}'
pm_case "externalSetMarkChain with backend iptables (iptables-only: nothing to do)" 1.0.0 '{"backend":"iptables","externalSetMarkChain":"KUBE-MARK-MASQ"}' mapped

# ---- firewall backend: any value ----
fconf() { # VERSION EXTRA
	jq -nc --arg v "$1" --argjson x "$2" --argjson prev "$out" \
		'{cniVersion:$v, name:"bkfw", type:"firewall", prevResult:($prev | .cniVersion = $v)} + $x'
}
for v in 0.4.0 1.0.0 1.1.0; do
	for b in none iptables nftables firewalld-typo ""; do
		x='{}'; [ "$b" != none ] && x="{\"backend\":\"$b\"}"
		plug firewall ADD f1 "/run/netns/$C" <<<"$(fconf $v "$x")" >/dev/null; rc=$?
		is "$rc" 0 "firewall $v backend '$b': accepted"
		is "$(elems fw4)" 1 "firewall $v backend '$b': the container's address is in berth's forward accept set"
		[ "$v" != 0.3.1 ] && { plug firewall CHECK f1 "/run/netns/$C" <<<"$(fconf $v "$x")" >/dev/null; ok $? "firewall $v backend '$b': CHECK"; }
		plug firewall DEL f1 "/run/netns/$C" <<<"$(fconf $v "$x")" >/dev/null; ok $? "firewall $v backend '$b': DEL"
		is "$(elems fw4)" 0 "firewall $v backend '$b': DEL removed it"
	done
done
o=$(plug firewall ADD f2 "/run/netns/$C" <<<"$(fconf 1.0.0 '{"backend":"firewalld"}')"); rc=$?
[ $rc -eq 1 ] && jget "$o" .msg | grep -q 'backend firewalld: firewalld'; ok $? "firewall backend firewalld without firewalld: ADD fails, naming it, as the reference's does"
is "$(elems fw4)" 0 "... and its nftables element is rolled back"
plug firewall DEL f2 "/run/netns/$C" <<<"$(fconf 1.0.0 '{"backend":"firewalld"}')" >/dev/null; ok $? "... DEL succeeds"
o=$(plug firewall ADD f3 "/run/netns/$C" <<<"$(fconf 1.0.0 '{"firewalldZone":7}')"); rc=$?
[ $rc -eq 1 ] && [ "$(jget "$o" .code)" = 7 ] && jget "$o" .msg | grep -q firewalldZone; ok $? "firewalldZone not a string: code 7"
o=$(plug firewall ADD f3 "/run/netns/$C" <<<"$(fconf 1.0.0 '{"backend":["x"]}')"); rc=$?
[ $rc -eq 1 ] && [ "$(jget "$o" .code)" = 7 ] && jget "$o" .msg | grep -q backend; ok $? "backend not a string: code 7"
plug bridge DEL pmc "/run/netns/$C" <<<"$(bconf 1.0.0 '{"ipMasq":false}')" >/dev/null
done_testing
