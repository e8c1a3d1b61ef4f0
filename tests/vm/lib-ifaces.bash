# shellcheck shell=bash
# For the tests/vm/ifaces-*.sh parts (sourced; they run inside the VM with bash, ip and busybox):
# TAP output, and for the sublink plugins (ipvlan, vlan) their shared checks.
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
is() { if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "#   got '$1', want '$2'"; fi; }
has() { case $1 in *"$2"*) ok 0 "$3" ;; *) ok 1 "$3"; echo "#   '$2' not in: $(echo "$1" | tr '\n' ' ' | cut -c1-400)" ;; esac; }

# ---- ipvlan and vlan: the plugin in the VM's own netns, the container in netns NS ----
cni() { # PLUGIN CMD NS [IFNAME [ID]] < conf
	env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID="${5:-c1}" CNI_NETNS="/run/netns/$3" \
		CNI_IFNAME="${4:-eth0}" CNI_PATH="$(dirname "$1")" ${BERTH_FAULT:+BERTH_FAULT="$BERTH_FAULT"} "$1" 2>/dev/null
}
links() { ip -n "$1" -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | tr '\n' ' '; }
kstate() { # NS IF: kind/mode or id/mtu, addresses, routes (ifindexes and MACs stripped)
	ip -n "$1" -d -o link show "$2" 2>/dev/null | sed 's/^[0-9]*: //; s/@[^:]*:/:/; s/link\/ether [^ ]* brd [^ ]*//; s/ numtxqueues.*//; s/ promiscuity [0-9]*//; s/ state [A-Z]* / /'
	ip -n "$1" -o addr show dev "$2" 2>/dev/null | awk '{print $3, $4}' | grep -v '^inet6 fe80'
	ip -n "$1" route show 2>/dev/null
}

# sublink_differential KIND PLUGIN REF_DIR CASE...: each CASE "VERSION|EXTRA" through the reference
# and through PLUGIN (zconf VERSION DATADIR EXTRA, from the part, makes the config): the same exit
# statuses, result, kernel state after ADD and links after DEL.
sublink_differential() {
	local kind=$1 p=$2 ref=$3 c v x ro rr rs rd rl oo orc os od ol
	shift 3
	if [ "$ref" = - ] || [ ! -x "$ref/$kind" ]; then
		ok 1 "the reference plugin is missing ($ref/$kind)"
		return
	fi
	for c in "$@"; do
		v=${c%%|*} x=${c#*|}
		ip netns add Z
		ro=$(cni "$ref/$kind" ADD Z <<<"$(zconf "$v" zr "$x")"); rr=$?; rs=$(kstate Z eth0)
		cni "$ref/$kind" DEL Z <<<"$(zconf "$v" zr "$x")" >/dev/null; rd=$?; rl=$(links Z)
		oo=$(cni "$p" ADD Z <<<"$(zconf "$v" zo "$x")"); orc=$?; os=$(kstate Z eth0)
		cni "$p" DEL Z <<<"$(zconf "$v" zo "$x")" >/dev/null; od=$?; ol=$(links Z)
		is "$orc $od" "$rr $rd" "reference $v$x: same exit statuses for ADD and DEL"
		is "$oo" "$ro" "reference $v: same result"
		is "$os" "$rs" "reference $v: same kernel state after ADD"
		is "$ol" "$rl" "reference $v: same links after DEL"
		ip netns del Z
	done
}

# sublink_crash KIND PLUGIN FAULT_DIR: the FAULT=1 build killed at each sublink point of ADD (kconf,
# from the part, makes the config; ips_held k counts its reservations): DEL cleans up, ADD works
# again.
sublink_crash() {
	local kind=$1 p=$2 fd=$3 f rc
	[ "$fd" != - ] && [ -x "$fd/$kind" ] || return 0
	for f in sublink-after-create sublink-after-rename sublink-after-ipam sublink-before-result; do
		ip netns add K
		(BERTH_FAULT=$kind:$f cni "$fd/$kind" ADD K <<<"$(kconf)" >/dev/null) 2>/dev/null; rc=$?
		is "$rc" 137 "crash at $f: the ADD is killed"
		cni "$p" DEL K <<<"$(kconf)" >/dev/null; ok $? "crash at $f: DEL succeeds"
		is "$(links K) $(ips_held k)" "lo  0" "crash at $f: DEL left no link and no address"
		cni "$p" ADD K <<<"$(kconf)" >/dev/null; ok $? "crash at $f: ADD works again"
		cni "$p" DEL K <<<"$(kconf)" >/dev/null
		ip netns del K
	done
}
