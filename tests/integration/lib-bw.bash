# shellcheck shell=bash
# Helpers for the bandwidth tests: a throwaway "host" netns $H (the plugin runs there, so the
# ifb links and qdiscs never touch the real host) and container netns joined to it by a veth.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

BW=${BW:-$CNI_BIN/bandwidth}
REF_BW=$REF_CNI/bandwidth

bw_setup() {
	need_root
	[ -x "$BW" ] || skip_all "bandwidth not built"
	H=bwh$T
	mknetns "$H" || skip_all "cannot create a netns"
	BWTMP=$(mktemp -d /tmp/berth-bw.XXXXXX)
	defer "rm -rf $BWTMP"
}

# mkpair NAME HOSTIF [ADDR-OCTET]: container netns NAME with eth0, whose peer HOSTIF is in $H;
# with an octet, 10.97.<octet>.1/24 on HOSTIF and .2 on eth0.
mkpair() {
	local c=$1 hv=$2 o=${3:-}
	mknetns "$c" || return 1
	ip -n "$H" link add "$hv" type veth peer name eth0 netns "$c" || return 1
	ip -n "$H" link set "$hv" up
	ip -n "$c" link set eth0 up
	if [ -n "$o" ]; then
		ip -n "$H" addr add "10.97.$o.1/24" dev "$hv"
		ip -n "$c" addr add "10.97.$o.2/24" dev eth0
	fi
}

# prev VERSION NS HOSTIF: a prevResult as bridge would give it (0.1.0/0.2.0: no interfaces)
prev() {
	local v=$1 c=$2 hv=$3
	case $v in
	0.1.0 | 0.2.0) echo "{\"cniVersion\":\"$v\",\"ip4\":{\"ip\":\"10.97.0.2/24\",\"gateway\":\"10.97.0.1\"},\"dns\":{}}" ;;
	0.3.0 | 0.3.1 | 0.4.0) echo "{\"cniVersion\":\"$v\",\"interfaces\":[{\"name\":\"br0\",\"mac\":\"36:4c:b4:1a:f5:3e\"},{\"name\":\"$hv\",\"mac\":\"36:4c:b4:1a:f5:3f\"},{\"name\":\"eth0\",\"mac\":\"6a:7c:ab:50:66:2a\",\"sandbox\":\"/run/netns/$c\"}],\"ips\":[{\"version\":\"4\",\"interface\":2,\"address\":\"10.97.0.2/24\",\"gateway\":\"10.97.0.1\"}],\"dns\":{}}" ;;
	*) echo "{\"cniVersion\":\"$v\",\"interfaces\":[{\"name\":\"br0\",\"mac\":\"36:4c:b4:1a:f5:3e\"},{\"name\":\"$hv\",\"mac\":\"36:4c:b4:1a:f5:3f\"},{\"name\":\"eth0\",\"mac\":\"6a:7c:ab:50:66:2a\",\"sandbox\":\"/run/netns/$c\"}],\"ips\":[{\"interface\":2,\"address\":\"10.97.0.2/24\",\"gateway\":\"10.97.0.1\"}],\"dns\":{}}" ;;
	esac
}

# bwconf VERSION NS HOSTIF EXTRA-JSON [NETWORK]: a bandwidth config chained after that prevResult
bwconf() {
	jq -nc --arg v "$1" --arg n "${5:-bw$T}" --argjson p "$(prev "$1" "$2" "$3")" --argjson x "$4" \
		'{cniVersion:$v, name:$n, type:"bandwidth", prevResult:$p} + $x'
}

# bwcall PLUGIN CMD ID NS [IFNAME] < config: the plugin run in $H (NS may be a path)
bwcall() {
	local p=$1 cmd=$2 id=$3 ns=$4 ifn=${5:-eth0}
	case $ns in /*) ;; *) ns=/run/netns/$ns ;; esac
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" CNI_NETNS="$ns" \
		CNI_IFNAME="$ifn" CNI_PATH="$CNI_BIN:$REF_CNI" BERTH_LOG_LEVEL="${BERTH_LOG_LEVEL:-warn}" \
		${BERTH_FAULT:+BERTH_FAULT="$BERTH_FAULT"} ${BERTH_FAULT_LOG:+BERTH_FAULT_LOG="$BERTH_FAULT_LOG"} "$p"
}

# ver_ge A B: spec version A >= B
ver_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$2" ]; }

# ifbname NETWORK ID: the reference's ifb name
ifbname() { printf 'bwp%s' "$(printf '%s' "$1$2" | sha512sum | cut -c1-12)"; }

# qd DEV: the qdiscs of DEV in $H as "kind handle parent rate burst lat" lines (tc -j)
qd() {
	ip netns exec "$H" tc -j qdisc show dev "$1" 2>/dev/null | jq -r '.[] |
		"\(.kind) \(.handle) \(if .root then "root" else .parent end) \(.options.rate // "-") \(.options.burst // "-") \(.options.lat // "-")"'
}
# redirects DEV: the filters on DEV's ingress qdisc as "kind proto pref flowid match -> targets"
# (the reference's filter carries the same redirect twice, once "stolen" and once "pass": the
# distinct targets are what counts)
redirects() {
	ip netns exec "$H" tc -j filter show dev "$1" ingress 2>/dev/null | jq -r '.[] |
		select(.options.match != null or .options.actions != null) |
		"\(.kind) \(.protocol) \(.pref) \(.options.flowid // "-") match \(.options.match.value // "-")/\(.options.match.mask // "-") -> \([.options.actions[]? | "\(.kind):\(.direction // "-"):\(.mirred_action // "-"):\(.to_dev // "-")"] | unique | join(","))"'
}
# actions DEV: every action on DEV's ingress filters, "kind/control" (ours: one, stolen)
actions() {
	ip netns exec "$H" tc -j filter show dev "$1" ingress 2>/dev/null |
		jq -r '[.[] | .options.actions[]? | "\(.kind)/\(.control_action.type)"] | join(" ")'
}
# ifbs: the ifb links of $H
ifbs() { ip -n "$H" -j -d link show type ifb 2>/dev/null | jq -r '.[].ifname' | sort; }
# kstate DEV...: everything bandwidth leaves on these links and every ifb in $H
kstate() {
	local d
	for d in "$@"; do echo "## $d"; qd "$d" | grep -v '^noqueue 0: root' ; redirects "$d"; done
	echo "## ifbs"; ifbs
}
