#!/bin/bash
# The tuning plugin: sysctls, MAC, MTU, promisc, allmulti, txqlen applied inside a throwaway netns
# and read back from the kernel; previous values saved on ADD and restored on DEL; CHECK; bad
# input; DEL without netns; GC; and a differential run against the reference plugin (results
# byte for byte, kernel state, and its saved file read by the other implementation).
source "$(dirname "$0")/../lib.sh"
need_root
TUN=$CNI_BIN/tuning
REF=$REF_CNI/tuning
[ -x "$TUN" ] || skip_all "tuning not built"

tmp=$(mktemp -d /tmp/berth-tuning.XXXXXX)
defer "rm -rf $tmp"

# mkctr NS: a netns holding a veth pair eth0/peer0 (nothing on the host side)
mkctr() {
	mknetns "$1" || return 1
	ip -n "$1" link add eth0 type veth peer name peer0 || return 1
	ip -n "$1" link set eth0 up
	ip -n "$1" link set peer0 up
}
linkj() { ip -n "$1" -j -d link show "$2" | jq -c '.[0]'; }
lget() { jq -r "$2" <<<"$(linkj "$1" eth0)"; }
sysctl_in() { ip netns exec "$1" cat "/proc/sys/$2"; }

# conf VERSION NETNS [EXTRA-JSON]: a tuning config with a prevResult as bridge would give it
conf() {
	local v=$1 ns=$2 extra=${3:-}
	local prev
	if [ "$v" = 0.4.0 ] || [ "$v" = 0.3.1 ]; then
		prev="{\"cniVersion\":\"$v\",\"interfaces\":[{\"name\":\"br0\",\"mac\":\"36:4c:b4:1a:f5:3e\"},{\"name\":\"eth0\",\"mac\":\"6a:7c:ab:50:66:2a\",\"sandbox\":\"/run/netns/$ns\"}],\"ips\":[{\"version\":\"4\",\"interface\":1,\"address\":\"10.198.0.13/24\",\"gateway\":\"10.198.0.1\"}],\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dns\":{}}"
	else
		prev="{\"cniVersion\":\"$v\",\"interfaces\":[{\"name\":\"br0\",\"mac\":\"36:4c:b4:1a:f5:3e\"},{\"name\":\"eth0\",\"mac\":\"6a:7c:ab:50:66:2a\",\"sandbox\":\"/run/netns/$ns\"}],\"ips\":[{\"interface\":1,\"address\":\"10.198.0.13/24\",\"gateway\":\"10.198.0.1\"}],\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dns\":{}}"
	fi
	echo "{\"cniVersion\":\"$v\",\"name\":\"tun$T\",\"type\":\"tuning\",\"dataDir\":\"$tmp/data\"$extra,\"prevResult\":$prev}"
}

# the reference (v1.1.1) predates txQLen: the differential run leaves it out
DIFF=',"sysctl":{"net.ipv4.conf.IFNAME.arp_ignore":"2","net.core.somaxconn":"1234"},"mac":"02:42:0a:c6:00:32","mtu":1400,"promisc":true,"allmulti":true'
FULL=',"sysctl":{"net.ipv4.conf.IFNAME.arp_ignore":"2","net.core.somaxconn":"1234"},"mac":"02:42:0a:c6:00:32","mtu":1400,"promisc":true,"allmulti":true,"txQLen":2000'

n=0
for v in 0.4.0 1.0.0 1.1.0; do
	n=$((n + 1))
	ns=btun$n$T
	mkctr "$ns"
	orig_mac=$(lget "$ns" .address)
	orig_mtu=$(lget "$ns" .mtu)
	orig_q=$(lget "$ns" .txqlen)
	orig_ign=$(sysctl_in "$ns" net/ipv4/conf/eth0/arp_ignore)
	orig_som=$(sysctl_in "$ns" net/core/somaxconn)
	cfg=$(conf "$v" "$ns" "$FULL")

	out=$(cni "$TUN" ADD c$n "/run/netns/$ns" eth0 <<<"$cfg"); rc=$?
	is "$rc" 0 "$v: ADD succeeds"
	is "$(jget "$out" .cniVersion)" "$v" "$v: result in the config's version"
	is "$(jget "$out" '.interfaces[1].mac')" 02:42:0a:c6:00:32 "$v: result carries the new MAC"
	is "$(jget "$out" '.interfaces[0].mac')" 36:4c:b4:1a:f5:3e "$v: other interfaces untouched"
	is "$(jget "$out" '.ips[0].address')" 10.198.0.13/24 "$v: prevResult passed through"
	is "$(lget "$ns" .address)" 02:42:0a:c6:00:32 "$v: kernel MAC"
	is "$(lget "$ns" .mtu)" 1400 "$v: kernel MTU"
	is "$(lget "$ns" .txqlen)" 2000 "$v: kernel txqlen"
	is "$(lget "$ns" '.flags | index("PROMISC") != null')" true "$v: kernel promisc"
	is "$(lget "$ns" '.flags | index("ALLMULTI") != null')" true "$v: kernel allmulti"
	is "$(sysctl_in "$ns" net/ipv4/conf/eth0/arp_ignore)" 2 "$v: IFNAME sysctl written in the netns"
	is "$(sysctl_in "$ns" net/core/somaxconn)" 1234 "$v: netns-wide sysctl written in the netns"
	[ "$(cat /proc/sys/net/core/somaxconn)" != 1234 ]; ok $? "$v: host somaxconn not changed"
	f=$tmp/data/c${n}_eth0.json
	is "$(jq -c '{mac,promisc,mtu,allmulti,txQLen}' "$f" 2>/dev/null)" \
		"{\"mac\":\"$orig_mac\",\"promisc\":false,\"mtu\":$orig_mtu,\"allmulti\":false,\"txQLen\":$orig_q}" \
		"$v: previous values saved in dataDir/<id>_<ifname>.json"

	cni "$TUN" CHECK c$n "/run/netns/$ns" eth0 <<<"$(conf "$v" "$ns" "$FULL")" >/dev/null
	ok $? "$v: CHECK passes"
	ip -n "$ns" link set eth0 mtu 1300
	out=$(cni "$TUN" CHECK c$n "/run/netns/$ns" eth0 <<<"$cfg"); rc=$?
	[ $rc -ne 0 ] && jget "$out" .msg | grep -q "MTU of eth0 is 1400, current value is 1300"
	ok $? "$v: CHECK notices a changed MTU"
	ip -n "$ns" link set eth0 mtu 1400
	ip netns exec "$ns" sh -c 'echo 0 > /proc/sys/net/ipv4/conf/eth0/arp_ignore'
	out=$(cni "$TUN" CHECK c$n "/run/netns/$ns" eth0 <<<"$cfg"); rc=$?
	[ $rc -ne 0 ] && jget "$out" .msg | grep -q arp_ignore
	ok $? "$v: CHECK notices a changed sysctl"

	cni "$TUN" DEL c$n "/run/netns/$ns" eth0 <<<"$cfg" >/dev/null
	ok $? "$v: DEL succeeds"
	is "$(lget "$ns" .address)" "$orig_mac" "$v: DEL restores MAC"
	is "$(lget "$ns" .mtu)" "$orig_mtu" "$v: DEL restores MTU"
	is "$(lget "$ns" .txqlen)" "$orig_q" "$v: DEL restores txqlen"
	is "$(lget "$ns" '.flags | (index("PROMISC") != null) or (index("ALLMULTI") != null)')" false \
		"$v: DEL restores promisc and allmulti"
	is "$(sysctl_in "$ns" net/ipv4/conf/eth0/arp_ignore)" "$orig_ign" "$v: DEL restores IFNAME sysctl"
	is "$(sysctl_in "$ns" net/core/somaxconn)" "$orig_som" "$v: DEL restores netns sysctl"
	[ ! -e "$f" ]; ok $? "$v: DEL removes the saved file"
	cni "$TUN" DEL c$n "/run/netns/$ns" eth0 <<<"$cfg" >/dev/null
	ok $? "$v: second DEL succeeds"
done

# ---- bad input: right code, message naming the problem, nothing changed ----
ns=btunb$T
mkctr "$ns"
before=$(linkj "$ns" eth0)
# After each refused ADD, the runtime's DEL (twice, same input) succeeds and changes nothing; only
# stdin our JSON parser refuses (code 6) may fail it, with its error.
bad() { # bad DESC WANT-CODE WANT-MSG-REGEX CONFIG [CNI_ARGS]
	local out rc i lbefore sbefore
	lbefore=$(linkj "$ns" eth0); sbefore=$(sysctl_in "$ns" net/core/somaxconn)
	out=$(cni "$TUN" ADD cb "/run/netns/$ns" eth0 "${5:-}" <<<"$4"); rc=$?
	if [ $rc -eq 1 ] && [ "$(jget "$out" .code)" = "$2" ] && jget "$out" .msg | grep -Eq "$3"; then
		ok 0 "bad input: $1"
	else
		ok 1 "bad input: $1"; diag "rc=$rc $out"
	fi
	for i in 1 2; do
		out=$(cni "$TUN" DEL cb "/run/netns/$ns" eth0 "${5:-}" <<<"$4" 2>/dev/null); rc=$?
		if [ "$2" = 6 ]; then
			is "$rc/$(jget "$out" .code)" 1/6 "bad input: $1: DEL $i refuses the same unparsable stdin (code 6)"
		else
			is "$rc" 0 "bad input: $1: DEL $i after the refused ADD succeeds${out:+ ($out)}"
		fi
	done
	is "$(linkj "$ns" eth0)/$(sysctl_in "$ns" net/core/somaxconn)" "$lbefore/$sbefore" \
		"bad input: $1: link and sysctl unchanged after the DELs"
}
bad "sysctl outside net" 7 'invalid net sysctl key: "kernel.hostname"' \
	"$(conf 1.0.0 "$ns" ',"mtu":1300,"sysctl":{"kernel.hostname":"x"}')"
bad "sysctl escaping net with .." 7 'invalid net sysctl key' \
	"$(conf 1.0.0 "$ns" ',"sysctl":{"net/../kernel/hostname":"x"}')"
bad "duplicate sysctl key" 6 'duplicate object key near .*net.core.somaxconn' \
	"$(conf 1.0.0 "$ns" ',"sysctl":{"net.core.somaxconn":"1","net.core.somaxconn":"2"}')"
bad "bad MAC" 7 'invalid MAC address "02:42:zz:00:00:01"' "$(conf 1.0.0 "$ns" ',"mac":"02:42:zz:00:00:01"')"
bad "mtu not a number" 7 'mtu must be' "$(conf 1.0.0 "$ns" ',"mtu":"1400"')"
bad "prevResult missing" 7 'prevResult missing' \
	'{"cniVersion":"1.0.0","name":"x","type":"tuning","mtu":1300}'
bad "unknown CNI_ARGS" 4 'unknown args \["FOO=1"\]' "$(conf 1.0.0 "$ns" ',"mtu":1300')" "FOO=1"
bad "sysctl that does not exist" 999 'nonexistent' \
	"$(conf 1.0.0 "$ns" ',"sysctl":{"net.core.somaxconn":"999","net.ipv4.nonexistent":"1"}')"
is "$(sysctl_in "$ns" net/core/somaxconn)" "$orig_som" "failed ADD rolled back the sysctl it had written"
out=$(cni "$TUN" ADD cb "/run/netns/$ns" nosuch0 <<<"$(conf 1.0.0 "$ns" ',"mtu":1300,"sysctl":{"net.core.somaxconn":"77"}')"); rc=$?
[ $rc -eq 1 ] && jget "$out" .msg | grep -q nosuch0; ok $? "bad input: missing interface named in the error"
is "$(sysctl_in "$ns" net/core/somaxconn)" "$orig_som" "missing interface: no sysctl written"
echo 'net\.ipv4\.conf\.IFNAME\..*' >"$tmp/allow"
# lib.sh's cni() clears the environment: pass the allowlist path explicitly
acni() { env -i BERTH_TUNING_ALLOWLIST="$tmp/allow" CNI_COMMAND=ADD CNI_CONTAINERID="$1" \
	CNI_NETNS="/run/netns/$ns" CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" "$TUN"; }
out=$(acni cb <<<"$(conf 1.0.0 "$ns" ',"sysctl":{"net.core.somaxconn":"5"}')"); rc=$?
[ $rc -eq 1 ] && [ "$(jget "$out" .code)" = 7 ] && jget "$out" .msg | grep -q 'Sysctl net.core.somaxconn is not allowed'
ok $? "bad input: sysctl not in the allowlist"
out=$(acni ca <<<"$(conf 1.0.0 "$ns" ',"sysctl":{"net.ipv4.conf.IFNAME.arp_ignore":"1"}')")
is "$(sysctl_in "$ns" net/ipv4/conf/eth0/arp_ignore)" 1 "allowlisted sysctl is written"
cni "$TUN" DEL ca "/run/netns/$ns" eth0 <<<"$(conf 1.0.0 "$ns")" >/dev/null
is "$(jq -c 'del(.operstate)' <<<"$(linkj "$ns" eth0)")" "$(jq -c 'del(.operstate)' <<<"$before")" \
	"link unchanged after the bad inputs"
ls "$tmp/data"/cb_* >/dev/null 2>&1; [ $? -ne 0 ]; ok $? "no saved file left by failed ADDs"
cni "$TUN" DEL cb "/run/netns/$ns" eth0 "FOO=1" <<<"$(conf 1.0.0 "$ns" ',"mac":"02:42:zz:00:00:01","sysctl":{"kernel.x":"1"}')" >/dev/null
ok $? "DEL succeeds on a config its ADD refused"

# args.cni and runtimeConfig override the config, CNI_ARGS MAC is the lowest
out=$(cni "$TUN" ADD co "/run/netns/$ns" eth0 "IgnoreUnknown=1;K8S_POD_NAME=x;MAC=02:00:00:00:00:01" \
	<<<"$(conf 1.0.0 "$ns" ',"mtu":1300,"args":{"cni":{"mtu":1350}}')")
is "$(lget "$ns" .mtu)" 1350 "args.cni.mtu overrides mtu"
is "$(lget "$ns" .address)" 02:00:00:00:00:01 "CNI_ARGS MAC applied"
cni "$TUN" DEL co "/run/netns/$ns" eth0 <<<"$(conf 1.0.0 "$ns")" >/dev/null
out=$(cni "$TUN" ADD co "/run/netns/$ns" eth0 "IgnoreUnknown=1;MAC=02:00:00:00:00:01" \
	<<<"$(conf 1.0.0 "$ns" ',"runtimeConfig":{"mac":"02:00:00:00:00:02"}')")
is "$(lget "$ns" .address)" 02:00:00:00:00:02 "runtimeConfig.mac beats CNI_ARGS MAC"
cni "$TUN" DEL co "/run/netns/$ns" eth0 <<<"$(conf 1.0.0 "$ns")" >/dev/null
is "$(lget "$ns" .address)" "$(jq -r .address <<<"$before")" "MAC restored"

# ---- DEL when the netns is gone, GC ----
ns2=btung$T
mkctr "$ns2"
cni "$TUN" ADD cg1 "/run/netns/$ns2" eth0 <<<"$(conf 1.1.0 "$ns2" ',"mtu":1300')" >/dev/null
ip netns del "$ns2"
cni "$TUN" DEL cg1 "/run/netns/$ns2" eth0 <<<"$(conf 1.1.0 "$ns2" ',"mtu":1300')" >/dev/null
ok $? "DEL with the netns gone succeeds"
[ ! -e "$tmp/data/cg1_eth0.json" ]; ok $? "DEL with the netns gone removes the saved file"
for c in cg2 cg3; do
	cni "$TUN" ADD $c "/run/netns/$ns" eth0 <<<"$(conf 1.1.0 "$ns" ',"txQLen":500')" >/dev/null
done
echo '{"mac":"02:00:00:00:00:09"}' >"$tmp/data/other_eth0.json" # the reference's, no network
gc="{\"cniVersion\":\"1.1.0\",\"name\":\"tun$T\",\"type\":\"tuning\",\"dataDir\":\"$tmp/data\",\"cni.dev/valid-attachments\":[{\"containerID\":\"cg3\",\"ifname\":\"eth0\"}]}"
env -i CNI_COMMAND=GC CNI_PATH="$CNI_BIN" "$TUN" <<<"$gc" >/dev/null
ok $? "GC succeeds"
[ ! -e "$tmp/data/cg2_eth0.json" ] && [ -e "$tmp/data/cg3_eth0.json" ] && [ -e "$tmp/data/other_eth0.json" ]
ok $? "GC removes only this network's stale files"

# ---- STATUS: the config is valid and ADD can save the previous values ----
stconf() { printf '{"cniVersion":"1.1.0","name":"tun%s","type":"tuning","dataDir":"%s"%s}' "$T" "$1" "${2:-}"; }
env -i CNI_COMMAND=STATUS CNI_PATH="$CNI_BIN" "$TUN" <<<"$(stconf "$tmp/data")" >/dev/null
ok $? "STATUS with a writable dataDir: ready"
env -i CNI_COMMAND=STATUS CNI_PATH="$CNI_BIN" "$TUN" <<<"$(stconf "$tmp/not/yet/there")" >/dev/null
ok $? "STATUS with a dataDir that ADD can create: ready"
[ ! -e "$tmp/not" ]; ok $? "... and STATUS did not create it"
: >"$tmp/afile"
out=$(env -i CNI_COMMAND=STATUS CNI_PATH="$CNI_BIN" "$TUN" <<<"$(stconf "$tmp/afile/sub")"); rc=$?
is "$rc/$(jget "$out" .code)" 1/50 "STATUS with a dataDir under a regular file: not ready, code 50"
out=$(env -i CNI_COMMAND=STATUS CNI_PATH="$CNI_BIN" "$TUN" <<<"$(stconf "$tmp/data" ',"mtu":"big"')"); rc=$?
is "$rc/$(jget "$out" .code)" 1/7 "STATUS with an invalid config: code 7"

# ---- differential: the reference plugin on the same input ----
if [ -x "$REF" ]; then
	for v in 0.4.0 1.0.0; do
		n=$((n + 1))
		a=btda$n$T b=btdb$n$T
		mkctr "$a"; mkctr "$b"
		# identical MACs to start from, so the saved files can be compared
		ip -n "$b" link set eth0 address "$(lget "$a" .address)"
		cfga=$(conf "$v" same "$DIFF"); cfgb=${cfga//$tmp\/data/$tmp\/ref}
		ours=$(cni "$TUN" ADD d$n "/run/netns/$a" eth0 "IgnoreUnknown=1;K8S_POD_NAME=p" <<<"$cfga")
		theirs=$(cni "$REF" ADD d$n "/run/netns/$b" eth0 "IgnoreUnknown=1;K8S_POD_NAME=p" <<<"$cfgb")
		is "$ours" "$theirs" "$v: differential: result identical byte for byte"
		is "$(linkj "$a" eth0 | jq -c '{address,mtu,txqlen,flags,promiscuity,allmulti}')" \
			"$(linkj "$b" eth0 | jq -c '{address,mtu,txqlen,flags,promiscuity,allmulti}')" \
			"$v: differential: same link state"
		is "$(sysctl_in "$a" net/ipv4/conf/eth0/arp_ignore),$(sysctl_in "$a" net/core/somaxconn)" \
			"$(sysctl_in "$b" net/ipv4/conf/eth0/arp_ignore),$(sysctl_in "$b" net/core/somaxconn)" \
			"$v: differential: same sysctls"
		is "$(jq -S -c 'del(.["berth.sysctl"], .["berth.network"])' "$tmp/data/d${n}_eth0.json")" \
			"$(jq -S -c . "$tmp/ref/d${n}_eth0.json")" "$v: differential: same saved values"
		# each implementation's DEL reads the other's saved file
		cp "$tmp/ref/d${n}_eth0.json" "$tmp/swap.json"
		cp "$tmp/data/d${n}_eth0.json" "$tmp/ref/d${n}_eth0.json"
		cp "$tmp/swap.json" "$tmp/data/d${n}_eth0.json"
		cni "$TUN" DEL d$n "/run/netns/$a" eth0 <<<"$cfga" >/dev/null
		cni "$REF" DEL d$n "/run/netns/$b" eth0 <<<"$cfgb" >/dev/null
		is "$(linkj "$a" eth0 | jq -c '{address,mtu,txqlen,promiscuity,allmulti}')" \
			"$(linkj "$b" eth0 | jq -c '{address,mtu,txqlen,promiscuity,allmulti}')" \
			"$v: differential: DEL of each restores from the other's file"
		is "$(lget "$a" .mtu)" 1500 "$v: restored MTU"
		# error on the same bad input: both fail
		cni "$REF" ADD e$n "/run/netns/$b" eth0 <<<"$(conf "$v" same ',"sysctl":{"kernel.hostname":"x"}')" >/dev/null
		r1=$?
		cni "$TUN" ADD e$n "/run/netns/$a" eth0 <<<"$(conf "$v" same ',"sysctl":{"kernel.hostname":"x"}')" >/dev/null
		is "$?" "$r1" "$v: differential: both refuse a non-net sysctl"
	done
else
	skip "reference tuning not installed"
fi

done_testing
