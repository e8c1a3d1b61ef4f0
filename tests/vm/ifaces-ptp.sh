#!/bin/bash
# ptp on a stock Debian kernel: runs INSIDE the VM of tests/integration/47-ifaces-vm.sh as
# `bash ifaces-ptp.sh CNI_DIR REF_DIR FAULT_DIR` (REF_DIR / FAULT_DIR "-" when absent).
# A short ADD/CHECK/DEL of two containers in a "host" netns, pings through the host, the
# kernel state read back with ip's text output (jq is slow under TCG); the container routes
# compared with the reference's; one crash at a fault point then DEL.  Prints TAP.
CNI=$1 REF=$2 FAULT=$3
H=vh$$ D=/tmp/ptpvm$$
source "$(dirname "${BASH_SOURCE[0]}")/lib-ifaces.bash"
cleanup() { for x in $H c1$$ c2$$ c3$$; do ip netns del "$x" 2>/dev/null; done; rm -rf "$D"; }
trap cleanup EXIT
conf() { # DATADIR [EXTRA ,"k":v...]
	echo "{\"cniVersion\":\"1.0.0\",\"name\":\"vp\",\"type\":\"ptp\",\"mtu\":1400$2,\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"$1\",\"ranges\":[[{\"subnet\":\"10.66.0.0/24\"}],[{\"subnet\":\"fd66::/64\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}}"
}
hc() { # PLUGIN_DIR CMD ID NS < conf
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID="$3" \
		CNI_NETNS="/run/netns/$4" CNI_IFNAME=eth0 CNI_PATH="$1" ${BERTH_FAULT:+BERTH_FAULT="$BERTH_FAULT"} \
		"$1/ptp" 2>/dev/null
}
hstate() {
	ip netns exec "$H" ls /sys/class/net | sort | tr '\n' ' '
	ip -n "$H" route show | tr '\n' ';'; ls "$D/vp" 2>/dev/null | grep -c '^[0-9]'
}
croutes() { ip -n "$1" -4 route show | sed 's/ *$//' | sort | sed "s/$2/IP/g" | tr '\n' ';'; }

ip netns add "$H"; ip -n "$H" link set lo up
ip netns add c1$$; ip netns add c2$$
EMPTY=$(hstate)
c=$(conf "$D")
r1=$(hc "$CNI" ADD c1 c1$$ <<<"$c"); ok $? "ADD c1"
r2=$(hc "$CNI" ADD c2 c2$$ <<<"$c"); ok $? "ADD c2"
ip1=$(echo "$r1" | sed -n 's/.*"address": "\(10\.66\.0\.[0-9]*\)\/24".*/\1/p')
ip2=$(echo "$r2" | sed -n 's/.*"address": "\(10\.66\.0\.[0-9]*\)\/24".*/\1/p')
hv1=$(echo "$r1" | grep -o -m1 'veth[0-9a-f]\{8\}')
[ -n "$ip1" ] && [ -n "$ip2" ] && [ "$ip1" != "$ip2" ]; ok $? "two distinct addresses ($ip1, $ip2)"
is "$(ip -n "$H" -o addr show dev "$hv1" scope global | awk '{print $4}' | tr '\n' ' ')" "10.66.0.1/32 fd66::1/128 " \
	"gateway /32 and /128 on the host veth"
is "$(ip -n "$H" route show "$ip1" | sed 's/ *$//')" "$ip1 dev $hv1 scope host" "host route to c1"
is "$(ip netns exec "$H" cat "/sys/class/net/$hv1/mtu")" 1400 "host veth mtu"
is "$(croutes c1$$ "$ip1")" "10.66.0.0/24 via 10.66.0.1 dev eth0 src IP;10.66.0.1 dev eth0 scope link src IP;default via 10.66.0.1 dev eth0;" \
	"container routes through the gateway"
ip netns exec c1$$ ping -c1 -W3 10.66.0.1 >/dev/null 2>&1; ok $? "c1 pings the gateway"
ip netns exec c1$$ ping -c1 -W3 "$ip2" >/dev/null 2>&1; ok $? "c1 pings c2 through the host"
ip netns exec "$H" ping -c1 -W3 "$ip1" >/dev/null 2>&1; ok $? "the host pings c1"
chk="${c%\}},\"prevResult\":$r1}"
hc "$CNI" CHECK c1 c1$$ <<<"$chk" >/dev/null; ok $? "CHECK c1 passes"
ip -n c1$$ route del default
hc "$CNI" CHECK c1 c1$$ <<<"$chk" >/dev/null; [ $? -ne 0 ]; ok $? "CHECK fails without the default route"
hc "$CNI" DEL c1 c1$$ <<<"$c" >/dev/null; ok $? "DEL c1"
hc "$CNI" DEL c2 c2$$ <<<"$c" >/dev/null; ok $? "DEL c2"
hc "$CNI" DEL c2 c2$$ <<<"$c" >/dev/null; ok $? "DEL c2 again"
is "$(hstate)" "$EMPTY" "nothing left in the host"

if [ "$REF" != - ] && [ -x "$REF/ptp" ]; then
	rm -rf "$D"
	r=$(hc "$REF" ADD c1 c1$$ <<<"$c"); ok $? "reference ADD"
	ip=$(echo "$r" | sed -n 's/.*"address": "\(10\.66\.0\.[0-9]*\)\/24".*/\1/p')
	ref_routes=$(croutes c1$$ "$ip")
	hc "$REF" DEL c1 c1$$ <<<"$c" >/dev/null; ok $? "reference DEL"
	rm -rf "$D"
	r=$(hc "$CNI" ADD c1 c1$$ <<<"$c"); ok $? "ADD again"
	ip=$(echo "$r" | sed -n 's/.*"address": "\(10\.66\.0\.[0-9]*\)\/24".*/\1/p')
	is "$(croutes c1$$ "$ip")" "$ref_routes" "container routes as the reference's"
	hc "$CNI" DEL c1 c1$$ <<<"$c" >/dev/null; ok $? "DEL"
	is "$(hstate)" "$EMPTY" "nothing left after the reference and ours"
fi

if [ "$FAULT" != - ] && [ -x "$FAULT/ptp" ]; then
	ip netns add c3$$
	(BERTH_FAULT=ptp:ptp-after-container hc "$FAULT" ADD c3 c3$$ <<<"$c" >/dev/null) 2>/dev/null
	is $? 137 "FAULT build: ADD killed after the container side"
	hc "$FAULT" DEL c3 c3$$ <<<"$c" >/dev/null; ok $? "DEL after the crash"
	is "$(hstate)" "$EMPTY" "nothing left after the crash and DEL"
fi
echo "1..$n"
