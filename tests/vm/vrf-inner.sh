#!/bin/bash
# Runs INSIDE the dm-vm.sh VM (a stock Debian kernel with the vrf module), started by
# tests/integration/44-vrf-vm.sh.  $1 = directory with our vrf, $2 = the FAULT=1 build's vrf
# directory (or "-"), $3 = the reference plugin (or "-").  Prints TAP lines; the host side
# relays them.  jq costs seconds per start under TCG: state is read with ip's text output.
P=$1/vrf
FP=$2
REF=$3
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
is() { if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "#   got '$1', want '$2'"; fi; }
cni() { # PLUGIN CMD NS [IFNAME] < conf
	env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID=c1 CNI_NETNS="/run/netns/$3" \
		CNI_IFNAME="${4:-eth0}" CNI_PATH=/nonexistent ${BERTH_FAULT:+BERTH_FAULT="$BERTH_FAULT"} \
		${BERTH_FAULT_LOG:+BERTH_FAULT_LOG="$BERTH_FAULT_LOG"} "$1" 2>/dev/null
}
prev() { # VERSION NS
	case $1 in
	0.1.0 | 0.2.0) echo "{\"cniVersion\":\"$1\",\"ip4\":{\"ip\":\"10.20.0.2/24\",\"gateway\":\"10.20.0.1\"}}" ;;
	*) echo "{\"cniVersion\":\"$1\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/run/netns/$2\"}],\"ips\":[{\"address\":\"10.20.0.2/24\",\"gateway\":\"10.20.0.1\",\"interface\":0}]}" ;;
	esac
}
conf() { # VERSION NS EXTRA (a JSON fragment starting with a comma, or empty)
	echo "{\"cniVersion\":\"$1\",\"name\":\"vn\",\"type\":\"vrf\"$3,\"prevResult\":$(prev "$1" "$2")}"
}
# mkctr NS: eth0 <-> p0 in netns P$NS; 10.20.0.2/24 + fd20::2/64 on eth0, default via 10.20.0.1
mkctr() {
	ip netns add "$1"; ip netns add "P$1"
	ip -n "$1" link set lo up; ip -n "P$1" link set lo up
	ip -n "$1" link add eth0 type veth peer name p0 netns "P$1"
	ip -n "$1" link set eth0 up; ip -n "P$1" link set p0 up
	ip -n "$1" addr add 10.20.0.2/24 dev eth0
	ip -n "$1" addr add fd20::2/64 dev eth0 nodad
	ip -n "P$1" addr add 10.20.0.1/24 dev p0
	ip -n "P$1" addr add fd20::1/64 dev p0 nodad
	ip -n "$1" route add default via 10.20.0.1 dev eth0
	ip -n "$1" route add 192.0.2.0/24 via 10.20.0.1 dev eth0
}
rmctr() { ip netns del "$1" 2>/dev/null; ip netns del "P$1" 2>/dev/null; }
master() { ip -n "$1" -o link show "$2" 2>/dev/null | sed -n 's/.* master \([^ ]*\) .*/\1/p'; }
vrftable() { ip -n "$1" -d -o link show "$2" 2>/dev/null | sed -n 's/.* vrf table \([0-9]*\) .*/\1/p'; }
addrs() { ip -n "$1" -o addr show dev "$2" scope global 2>/dev/null | awk '{print $4}' | sort | tr '\n' ' '; }
vroutes() { # NS TABLE: unicast routes of the table (no local/broadcast), normalised
	{ ip -n "$1" -4 route show table "$2"; ip -n "$1" -6 route show table "$2"; } 2>/dev/null |
		grep -vE '^(local|broadcast|multicast|anycast) ' | sed 's/ *$//; s/ expires [^ ]*//' | sort | tr '\n' ';'
}

WANT_ROUTES="10.20.0.0/24 dev eth0 proto kernel scope link src 10.20.0.2;192.0.2.0/24 via 10.20.0.1 dev eth0;default via 10.20.0.1 dev eth0;fd20::/64 dev eth0 proto kernel metric 256 pref medium;fe80::/64 dev eth0 proto kernel metric 256 pref medium;"

# ---- every spec version ----
i=0
for v in 0.1.0 0.2.0 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
	i=$((i + 1)); ns=v$i
	mkctr "$ns"
	out=$(cni "$P" ADD "$ns" <<<"$(conf "$v" "$ns" ',"vrfname":"red"')"); rc=$?
	is "$rc" 0 "$v: ADD succeeds"
	case $out in *"\"cniVersion\": \"$v\""*"10.20.0.2/24"*) ok 0 "$v: result is prevResult in $v" ;; *) ok 1 "$v: result is prevResult in $v"; echo "# $out" ;; esac
	is "$(vrftable "$ns" red)" 1 "$v: VRF red created with the first free table, 1"
	is "$(ip -n "$ns" -o link show red | grep -c 'state UP')" 1 "$v: VRF red is up"
	is "$(master "$ns" eth0)" red "$v: eth0 is in VRF red"
	is "$(addrs "$ns" eth0)" "10.20.0.2/24 fd20::2/64 " "$v: eth0 keeps its IPv4 address and has its IPv6 address back"
	is "$(vroutes "$ns" 1)" "$WANT_ROUTES" "$v: eth0's routes are in the VRF's table, the default route included"
	is "$(ip -n "$ns" route show dev eth0)" "" "$v: and none is left in the main table"
	ip netns exec "$ns" ping -c1 -W2 -I red 10.20.0.1 >/dev/null 2>&1; ok $? "$v: a ping bound to the VRF reaches the peer"
	ip netns exec "$ns" ping -c1 -W1 10.20.0.1 >/dev/null 2>&1; is $? 2 "$v: a ping outside the VRF has no route"
	if [ "$v" = 0.4.0 ] || [ "$v" = 1.0.0 ] || [ "$v" = 1.1.0 ]; then
		cni "$P" CHECK "$ns" <<<"$(conf "$v" "$ns" ',"vrfname":"red"')" >/dev/null; ok $? "$v: CHECK passes"
		cni "$P" CHECK "$ns" <<<"$(conf "$v" "$ns" ',"vrfname":"red","table":7')" >/dev/null; is $? 1 "$v: CHECK notices another table"
		ip -n "$ns" link set eth0 nomaster
		o=$(cni "$P" CHECK "$ns" <<<"$(conf "$v" "$ns" ',"vrfname":"red"')"); rc=$?
		case "$rc $o" in "1 "*"failed to find eth0 associated to vrf red"*) ok 0 "$v: CHECK notices eth0 left the VRF" ;; *) ok 1 "$v: CHECK notices eth0 left the VRF"; echo "# $o" ;; esac
		ip -n "$ns" link set eth0 master red
	fi
	cni "$P" DEL "$ns" <<<"$(conf "$v" "$ns" ',"vrfname":"red"')" >/dev/null; ok $? "$v: DEL succeeds"
	is "$(master "$ns" eth0)" "" "$v: eth0 left the VRF"
	ip -n "$ns" link show red >/dev/null 2>&1; is $? 1 "$v: the VRF of its last user is deleted"
	cni "$P" DEL "$ns" <<<"$(conf "$v" "$ns" ',"vrfname":"red"')" >/dev/null; ok $? "$v: second DEL succeeds"
	if [ "$v" = 1.1.0 ]; then
		cni "$P" STATUS "" "" <<<'{"cniVersion":"1.1.0","name":"vn","type":"vrf","vrfname":"red"}' >/dev/null
		ok $? "1.1.0: STATUS: this kernel can create a VRF"
	fi
	rmctr "$ns"
done

# ---- two interfaces, one VRF; the table option; conflicts ----
ns=vm; mkctr "$ns"
ip -n "$ns" link add eth1 type veth peer name q1; ip -n "$ns" link set eth1 up; ip -n "$ns" link set q1 up
ip -n "$ns" addr add 10.21.0.2/24 dev eth1
cni "$P" ADD "$ns" <<<"$(conf 1.0.0 "$ns" ',"vrfname":"blue","table":42')" >/dev/null; ok $? "table 42: ADD eth0"
is "$(vrftable "$ns" blue)" 42 "table 42: VRF blue uses table 42"
cni "$P" ADD "$ns" eth1 <<<"$(conf 1.0.0 "$ns" ',"vrfname":"blue"')" >/dev/null; ok $? "a second interface joins the existing VRF"
is "$(master "$ns" eth1)" blue "... eth1 is in VRF blue"
o=$(cni "$P" ADD "$ns" q1 <<<"$(conf 1.0.0 "$ns" ',"vrfname":"blue","table":43')"); rc=$?
case "$rc $o" in "1 "*"VRF blue already exist with different routing table 42"*) ok 0 "another table for an existing VRF is refused" ;; *) ok 1 "another table for an existing VRF is refused"; echo "# $o" ;; esac
is "$(master "$ns" q1)" "" "... and q1 is left alone"
o=$(cni "$P" ADD "$ns" q1 <<<"$(conf 1.0.0 "$ns" ',"vrfname":"eth0"')"); rc=$?
case "$rc $o" in "1 "*"Netlink eth0 is not a VRF"*) ok 0 "a vrfname naming a link that is no VRF is refused" ;; *) ok 1 "a vrfname naming a link that is no VRF is refused"; echo "# $o" ;; esac
o=$(cni "$P" ADD "$ns" eth1 <<<"$(conf 1.0.0 "$ns" ',"vrfname":"green"')"); rc=$?
case "$rc $o" in "1 "*"interface eth1 has already a master set: blue"*) ok 0 "an interface already in a VRF is refused" ;; *) ok 1 "an interface already in a VRF is refused"; echo "# $o" ;; esac
ip -n "$ns" link show green >/dev/null 2>&1; is $? 1 "... and no VRF green was created for it"
o=$(cni "$P" ADD "$ns" nosuch0 <<<"$(conf 1.0.0 "$ns" ',"vrfname":"green"')"); rc=$?
case "$rc $o" in "1 "*"could not get link by name nosuch0"*) ok 0 "a missing interface is refused" ;; *) ok 1 "a missing interface is refused"; echo "# $o" ;; esac
ip -n "$ns" link show green >/dev/null 2>&1; is $? 1 "... without creating the VRF"
cni "$P" DEL "$ns" <<<"$(conf 1.0.0 "$ns" ',"vrfname":"blue"')" >/dev/null; ok $? "DEL eth0"
ip -n "$ns" link show blue >/dev/null 2>&1; ok $? "the VRF stays while eth1 uses it"
cni "$P" DEL "$ns" eth1 <<<"$(conf 1.0.0 "$ns" ',"vrfname":"blue"')" >/dev/null; ok $? "DEL eth1"
ip -n "$ns" link show blue >/dev/null 2>&1; is $? 1 "the VRF goes with its last user"
cni "$P" ADD "$ns" <<<"$(conf 1.0.0 "$ns" ',"vrfname":"red"')" >/dev/null
cni "$P" ADD "$ns" eth1 <<<"$(conf 1.0.0 "$ns" ',"vrfname":"red2"')" >/dev/null
is "$(vrftable "$ns" red):$(vrftable "$ns" red2)" "1:2" "a second VRF gets the next free table"
ip -n "$ns" link del eth0
cni "$P" DEL "$ns" <<<"$(conf 1.0.0 "$ns" ',"vrfname":"red"')" >/dev/null; ok $? "DEL after the interface is gone"
ip -n "$ns" link show red >/dev/null 2>&1; is $? 1 "... deletes the VRF that has no user left"
cni "$P" DEL "$ns" eth1 <<<"$(conf 1.0.0 "$ns" ',"vrfname":"red2"')" >/dev/null
rmctr "$ns"
cni "$P" DEL "$ns" <<<"$(conf 1.0.0 "$ns" ',"vrfname":"red"')" >/dev/null; ok $? "DEL after the netns is gone"

# ---- crash injection (the FAULT=1 build): kill ADD at each point, DEL leaves nothing ----
if [ "$FP" != - ] && [ -x "$FP/vrf" ]; then
	ns=vf; mkctr "$ns"
	BERTH_FAULT='*' BERTH_FAULT_LOG=/tmp/vrfpoints cni "$FP/vrf" ADD "$ns" <<<"$(conf 1.0.0 "$ns" ',"vrfname":"red"')" >/dev/null
	ok $? "ADD with fault points recorded"
	cni "$FP/vrf" DEL "$ns" <<<"$(conf 1.0.0 "$ns" ',"vrfname":"red"')" >/dev/null
	for pt in $(sort -u /tmp/vrfpoints); do
		BERTH_FAULT=$pt cni "$FP/vrf" ADD "$ns" <<<"$(conf 1.0.0 "$ns" ',"vrfname":"red"')" >/dev/null
		is $? 137 "kill at $pt: ADD killed"
		cni "$FP/vrf" DEL "$ns" <<<"$(conf 1.0.0 "$ns" ',"vrfname":"red"')" >/dev/null; ok $? "kill at $pt: DEL succeeds"
		ip -n "$ns" link show red >/dev/null 2>&1; is $? 1 "kill at $pt: no VRF left"
		is "$(master "$ns" eth0)" "" "kill at $pt: eth0 has no master"
	done
	is "$(sort -u /tmp/vrfpoints | tr '\n' ' ')" "vrf:vrf-after-create vrf:vrf-after-enslave vrf:vrf-after-routes " "the ADD path passes every point"
	rmctr "$ns"
elif [ "$FP" = sanitize ]; then
	n=$((n + 1)); echo "ok $n # SKIP crash injection runs in the plain tier (FAULT=1 build)"
else
	ok 1 "the FAULT=1 build's vrf is missing"
fi

# ---- differential against the reference ----
if [ "$REF" != - ] && [ -x "$REF" ]; then
	run() { # PLUGIN EXTRA [SETUP]
		mkctr vd
		[ -n "${3:-}" ] && eval "$3"
		cni "$1" ADD vd <<<"$(conf 1.0.0 vd "$2")" | tr -d ' \n'; echo " rc=$?"
		echo "master=$(master vd eth0) table=$(vrftable vd red) up=$(ip -n vd -o link show red | grep -c 'state UP')"
		echo "addrs=$(addrs vd eth0)"
		echo "vrf=$(vroutes vd 1)"
		echo "main=$(vroutes vd main)"
		cni "$1" DEL vd <<<"$(conf 1.0.0 vd "$2")"; echo "del rc=$?"
		echo "after: master=$(master vd eth0) vrf=$(ip -n vd link show red 2>/dev/null | wc -l)"
		rmctr vd
	}
	compare() { # DESC EXTRA [SETUP]
		ref=$(run "$REF" "$2" "${3:-}"); ours=$(run "$P" "$2" "${3:-}")
		if [ "$ref" = "$ours" ]; then ok 0 "differential $1: same result and kernel state"
		else ok 1 "differential $1: same result and kernel state"; diff <(echo "$ref") <(echo "$ours") | sed 's/^/#   /'; fi
	}
	nodefault='ip -n vd route del default; ip -n vd route del 192.0.2.0/24'
	compare "connected routes only" ',"vrfname":"red"' "$nodefault"
	compare "table 1 given" ',"vrfname":"red","table":1' "$nodefault"
	compare "IPv4 only" ',"vrfname":"red"' "$nodefault; ip -n vd addr del fd20::2/64 dev eth0"
	# the reference of Debian 12 (1.1.1) predates moving the interface's other routes into the
	# VRF: the kernel drops them on enslavement; upstream (and berth) keep them
	ref=$(run "$REF" ',"vrfname":"red"'); ours=$(run "$P" ',"vrfname":"red"')
	case $ref in *"vrf="*"default via"*) ok 1 "reference 1.1.1 loses the default route on enslavement (documented difference)" ;; *) ok 0 "reference 1.1.1 loses the default route on enslavement (documented difference)" ;; esac
	case $ours in *"vrf="*"default via 10.20.0.1 dev eth0"*) ok 0 "berth moves it into the VRF's table, as upstream does" ;; *) ok 1 "berth moves it into the VRF's table, as upstream does" ;; esac
else
	ok 1 "the reference vrf plugin is missing"
fi
echo "1..$n"
