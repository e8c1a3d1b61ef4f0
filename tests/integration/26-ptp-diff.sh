#!/bin/bash
# Differential: the same config and environment through our ptp (+ our host-local) and the
# reference /usr/lib/cni/ptp + host-local, one after the other, each with a fresh "host" netns
# and container netns of the same names; the result JSON (MACs and the random veth name aside),
# CHECK's exit status and the kernel state they leave after ADD and after DEL (links,
# addresses, routes on both sides, forwarding sysctls, IPAM files) must be the same.  The
# masquerade is compared by what it does (an outside netns without a route back answers),
# not by its rules (iptables chains there, nft set elements here).
source "$(dirname "$0")/../lib.sh"
need_root
keep_host_nft
PTP=$CNI_BIN/ptp
[ -x "$PTP" ] || skip_all "ptp not built"
[ -x "$REF_CNI/ptp" ] && [ -x "$REF_CNI/host-local" ] || skip_all "no reference plugins in $REF_CNI"

DATA=$(mktemp -d /tmp/ptp-diff.XXXXXX); defer "rm -rf $DATA"
H=dh$T; C=dc$T; O=do$T; NET=dn$T
defer "ip netns del $H"; defer "ip netns del $C"; defer "ip netns del $O"
A=$(( (0x${T:0:2} % 100) + 100 )); B=$(( 0x${T:2:2} % 200 + 20 ))
SN=10.$A.$B.0/24; P4=10.$A.$B; SN6=fd${T:0:2}:${T:2:4}::/64

norm_result() {
	jq -S '(.interfaces // []) |= map(
	         (if (.mac // "" | test("^([0-9a-f]{2}:){5}[0-9a-f]{2}$")) then .mac = "MAC" else . end)
	       | (if (.name | test("^veth[0-9a-f]{8}$")) then .name = "VETH" else . end))'
}
STATE_JQ='
def r: select((.dst // "") | startswith("fe80") | not)
	| {dst, gateway, dev: ((.dev // "") | if test("^veth[0-9a-f]{8}$") then "VETH" else . end),
	   protocol, scope, metric, prefsrc};
. as [$hl, $ha, $h4, $h6, $cl, $ca, $c4, $c6, $lo]
| "## host veth", ($hl[0] // {} | {mtu, flags, kind: .linkinfo.info_kind, txqlen}),
  ([$ha[0].addr_info // [] | .[] | select(.scope == "global") | {family, local, prefixlen}] | sort_by(.local)),
  "## host routes", ([($h4 + $h6)[] | r] | sort | .[]),
  "## container eth0", ($cl[0] // {} | {mtu, flags, kind: .linkinfo.info_kind, txqlen}),
  ([$ca[0].addr_info // [] | .[] | select(.scope == "global") | {family, local, prefixlen, broadcast}] | sort_by(.local)),
  "## container routes",
  ([($c4 + $c6)[] | select((.type // "unicast") == "unicast" and (.table // "main") == "main") | r] | sort | .[]),
  "## container lo", ($lo[0].flags)'
state() { # state HOSTVETH: everything an ADD touches, normalised (one jq: it is the slow part)
	local hv=$1
	echo "## host links"; ip netns exec "$H" ls /sys/class/net | sed 's/^veth[0-9a-f]\{8\}$/VETH/' | sort
	echo "## host sysctls"
	ip netns exec "$H" cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding | tr '\n' ' '; echo
	{
		if [ -n "$hv" ]; then
			ip -n "$H" -j -d link show "$hv" 2>/dev/null || echo '[]'
			ip -n "$H" -j addr show "$hv" 2>/dev/null || echo '[]'
		else
			echo '[] []'
		fi
		ip -n "$H" -j -4 route show table main; ip -n "$H" -j -6 route show table main
		ip -n "$C" -j -d link show eth0 2>/dev/null || echo '[]'
		ip -n "$C" -j addr show eth0 2>/dev/null || echo '[]'
		ip -n "$C" -j -4 route show table all; ip -n "$C" -j -6 route show table all
		ip -n "$C" -j link show lo
	} | jq -sc "$STATE_JQ"
}

# run IMPL EXTRA VERSION [CNI_ARGS]: fresh netns and IPAM dir; ADD, state, CHECK, DEL, state
run() {
	local impl=$1 x=$2 v=$3 args=${4:-} plugin path c out hv
	if [ "$impl" = ref ]; then plugin=$REF_CNI/ptp; path=$REF_CNI; else plugin=$PTP; path=$CNI_BIN; fi
	rm -rf "${DATA:?}/$impl"; ip netns del "$H" 2>/dev/null; ip netns del "$C" 2>/dev/null
	ip netns add "$H"; ip netns add "$C"; ip -n "$H" link set lo up
	c=$(jq -nc --arg v "$v" --arg n "$NET" --arg s "$SN" --arg d "$DATA/$impl" --argjson x "$x" \
		'{cniVersion:$v, name:$n, type:"ptp",
		  ipam:{type:"host-local", dataDir:$d, ranges:[[{subnet:$s}]], routes:[{dst:"0.0.0.0/0"}]}} * $x')
	hc() { ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID=c$T \
		CNI_NETNS="/run/netns/$C" CNI_IFNAME=eth0 CNI_ARGS="$args" CNI_PATH="$path" \
		BERTH_NFT_TABLE="$BERTH_NFT_TABLE" BERTH_NFT_STATE_DIR="$BERTH_NFT_STATE_DIR" "$plugin"; }
	out=$(hc ADD <<<"$c")
	echo "rc=$?"
	norm_result <<<"$out"
	hv=$(grep -o -m1 'veth[0-9a-f]\{8\}' <<<"$out")
	state "$hv"
	if [ "$(printf '%s\n' "$v" 0.4.0 | sort -V | head -1)" = 0.4.0 ]; then
		hc CHECK < <(jq -c --argjson p "$out" '. + {prevResult: $p}' <<<"$c") >/dev/null
		echo "check rc=$?"
	fi
	echo "## after DEL"
	hc DEL <<<"$c" >/dev/null
	echo "rc=$?"
	state ""
	ls "$DATA/$impl/$NET" 2>/dev/null | grep -cE '^[0-9a-f.:]+$'
	hc DEL <<<"$c" >/dev/null
	echo "second DEL rc=$?"
}

compare() { # compare DESC EXTRA VERSION [CNI_ARGS]
	local ref ours
	ref=$(run ref "$2" "$3" "${4:-}" 2>&1)
	ours=$(run ours "$2" "$3" "${4:-}" 2>&1)
	if [ -n "${REF_CHECK_FAILS:-}" ]; then
		# the reference's CHECK fails here (see docs/ptp.md); ours must pass
		is "$(grep '^check rc=' <<<"$ref")/$(grep '^check rc=' <<<"$ours")" "check rc=1/check rc=0" \
			"$1 ($3): the reference's CHECK fails, ours passes"
		ours=$(sed 's/^check rc=0$/check rc=1/' <<<"$ours")
	fi
	if [ "$ref" = "$ours" ]; then
		ok 0 "$1 ($3): same result and kernel state"
	else
		ok 1 "$1 ($3): same result and kernel state"
		diff <(echo "$ref") <(echo "$ours") | sed 's/^/#   /' | head -30
	fi
	# The comparison must be able to fail: our side really produced an interface.
	case $ours in *'"kind":"veth"'*) ;; *) ok 1 "$1 ($3): our ADD produced eth0"; echo "$ours" | sed 's/^/#   /' | head ;; esac
}

for v in 0.1.0 0.4.0 1.0.0; do
	compare "defaults" '{}' "$v"
done
v=1.0.0
compare "mtu 1400" '{"mtu":1400}' $v
compare "ipMasq" '{"ipMasq":true}' $v
compare "dns" '{"dns":{"nameservers":["10.1.1.1"],"domain":"x.test","search":["a.test"],"options":["ndots:2"]}}' $v
compare "dual stack" "{\"ipam\":{\"routes\":[{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"::/0\"}],\"ranges\":[[{\"subnet\":\"$SN\"}],[{\"subnet\":\"$SN6\"}]]}}" $v
REF_CHECK_FAILS=1 compare "routes with a gateway" '{"ipam":{"routes":[{"dst":"192.0.2.0/24"},{"dst":"198.51.100.0/24","gw":"'"$P4"'.9"}]}}' $v
compare "explicit gateway" '{"ipam":{"ranges":[[{"subnet":"'"$SN"'","gateway":"'"$P4"'.254"}]]}}' $v
compare "runtimeConfig ips" '{"capabilities":{"ips":true},"runtimeConfig":{"ips":["'"$P4"'.77/24"]}}' $v
compare "CNI_ARGS IP" '{}' $v "IgnoreUnknown=1;IP=$P4.78"

# The masquerade, by what it does: an outside netns with no route back to the containers
# answers only when the source was rewritten.  Both implementations, the same outcome.
masq_run() { # IMPL EXTRA: prints whether the outside ping got its answer
	local impl=$1 x=$2 plugin path c
	if [ "$impl" = ref ]; then plugin=$REF_CNI/ptp; path=$REF_CNI; else plugin=$PTP; path=$CNI_BIN; fi
	rm -rf "${DATA:?}/$impl"; ip netns del "$H" 2>/dev/null; ip netns del "$C" 2>/dev/null; ip netns del "$O" 2>/dev/null
	ip netns add "$H"; ip netns add "$C"; ip netns add "$O"; ip -n "$H" link set lo up
	ip -n "$H" link add xo$T type veth peer name eth9 netns "$O"
	ip -n "$H" addr add 192.0.2.1/24 dev xo$T; ip -n "$H" link set xo$T up
	ip -n "$O" addr add 192.0.2.9/24 dev eth9; ip -n "$O" link set eth9 up
	c=$(jq -nc --arg n "$NET" --arg s "$SN" --arg d "$DATA/$impl" --argjson x "$x" \
		'{cniVersion:"1.0.0", name:$n, type:"ptp",
		  ipam:{type:"host-local", dataDir:$d, ranges:[[{subnet:$s}]], routes:[{dst:"0.0.0.0/0"}]}} * $x')
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND=ADD CNI_CONTAINERID=c$T CNI_NETNS="/run/netns/$C" \
		CNI_IFNAME=eth0 CNI_PATH="$path" BERTH_NFT_TABLE="$BERTH_NFT_TABLE" \
		BERTH_NFT_STATE_DIR="$BERTH_NFT_STATE_DIR" "$plugin" <<<"$c" >/dev/null || echo "ADD failed"
	ip netns exec "$C" ping -c1 -W1 192.0.2.9 >/dev/null 2>&1 && echo answered || echo "no answer"
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND=DEL CNI_CONTAINERID=c$T CNI_NETNS="/run/netns/$C" \
		CNI_IFNAME=eth0 CNI_PATH="$path" BERTH_NFT_TABLE="$BERTH_NFT_TABLE" \
		BERTH_NFT_STATE_DIR="$BERTH_NFT_STATE_DIR" "$plugin" <<<"$c" >/dev/null || echo "DEL failed"
	ip netns del "$O"
}
for x in '{"ipMasq":true}' '{"ipMasq":false}'; do
	ref=$(masq_run ref "$x"); ours=$(masq_run ours "$x")
	is "$ours" "$ref" "$x: the outside host answers exactly when it does with the reference ($ref)"
done
done_testing
