#!/bin/bash
# The firewall plugin's `backend: firewalld` (and the default, which uses firewalld when it
# runs) against a real firewalld from Debian.  firewalld runs in the test's own "host" netns
# (so that whatever it programs, or probes, stays there: the machine's own tables are compared
# before and after), with its nftables backend, on a private dbus-daemon; no systemd.
# Chains run through `berth net add`: bridge, then firewall.  Real packets: a container
# connecting to a service of the host and to a host outside through it, which firewalld's own
# table rejects unless the container's address is a source of its trusted zone.
source "$(dirname "$0")/lib-core.bash"
PLUGIN_PATH=$CNI_BIN
for p in bridge host-local firewall; do [ -x "$CNI_BIN/$p" ] || skip_all "$p not built"; done
for t in firewalld firewall-cmd dbus-daemon; do
	command -v $t >/dev/null || { echo "not ok 1 - $t missing (scripts/deps.sh test)"; echo 1..1; exit 1; }
done
ECHO=$BERTH_BUILD/tests/helpers/nftecho
core_setup
host_tables() { nft list tables 2>/dev/null | sort; }
host_before=$(host_tables)

# ---- a private system bus and firewalld in the host netns ----
mkdir -p "$D/bus" "$D/fwetc" "$D/fwd"
cp -a /etc/firewalld/. "$D/fwetc/"
# its own table only: the nftables backend, one transaction per change, all of its runtime
# state flushed on reload, its table removed when it exits
sed -i -e 's/^FirewallBackend=.*/FirewallBackend=nftables/' -e 's/^IndividualCalls=.*/IndividualCalls=no/' \
	-e 's/^FlushAllOnReload=.*/FlushAllOnReload=yes/' -e 's/^CleanupOnExit=.*/CleanupOnExit=yes/' \
	"$D/fwetc/firewalld.conf"
cat >"$D/bus/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$D/bus/socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$D/bus/socket BERTH_FIREWALLD_STATE_DIR=$D/fwd
dbus-daemon --config-file="$D/bus/bus.conf" --nofork --nopidfile >"$D/bus/log" 2>&1 &
BUSPID=$!
defer "kill $BUSPID"
for _ in $(seq 50); do [ -S "$D/bus/socket" ] && break; sleep 0.1; done
fwcmd() { ip netns exec "$H" firewall-cmd "$@" 2>&1; }
start_firewalld() {
	ip netns exec "$H" firewalld --nofork --nopid --system-config "$D/fwetc" --log-target file \
		--log-file "$D/firewalld.log" >>"$D/firewalld.out" 2>&1 &
	FWPID=$!
	defer "kill $FWPID"
	for _ in $(seq 60); do [ "$(fwcmd --state)" = running ] && return 0; sleep 0.5; done
	return 1
}
stop_firewalld() { kill "$FWPID"; wait "$FWPID" 2>/dev/null; }
start_firewalld; ok $? "firewalld runs in the test's host netns on a private bus"
is "$(ip netns exec "$H" nft list tables | grep -c 'inet firewalld')" 1 "firewalld made its table inet firewalld there"

# ---- the network: host H; containers on bridges; an outside host O behind H ----
O=bo$T
mknetns "$O"
ip -n "$H" link add fwo$T type veth peer name eth0 netns "$O"
ip -n "$H" addr add 10.202.0.1/24 dev fwo$T; ip -n "$H" link set fwo$T up
ip -n "$O" addr add 10.202.0.2/24 dev eth0; ip -n "$O" link set eth0 up
ip -n "$O" route add default via 10.202.0.1
ip netns exec "$O" "$ECHO" serve tcp 9991 & defer "kill $!"
# the outside interface is in firewalld's dmz zone: forwarding into it needs a zone that allows it
fwcmd --zone=dmz --change-interface=fwo$T >/dev/null
# conflist NAME BRIDGE OCTET VERSION FIREWALL-JSON (empty: bridge only)
conflist() {
	cat >"$D/net.d/$1.conflist" <<JSON
{ "cniVersion": "$4", "name": "$1", "plugins": [
  { "type": "bridge", "bridge": "$2", "isGateway": true,
    "ipam": { "type": "host-local", "dataDir": "$D/ipam", "ranges": [[{ "subnet": "10.203.$3.0/24" }]],
              "routes": [{ "dst": "0.0.0.0/0" }] } }${5:+, $5} ] }
JSON
}
# reach CONTAINER-NETNS OCTET: "host" when the host's service answers, "out" when O's does
reach() {
	local r=""
	ip netns exec "$1" "$ECHO" ask tcp "10.203.$2.1" 9990 >/dev/null 2>&1 && r=host
	ip netns exec "$1" "$ECHO" ask tcp 10.202.0.2 9991 >/dev/null 2>&1 && r="$r${r:+ }out"
	echo "${r:-none}"
}
ip netns exec "$H" "$ECHO" serve tcp 9990 & defer "kill $!"
sources() { fwcmd --zone=trusted --list-sources; }
ip_of() { jq -r '.ips[0].address | split("/")[0]' <<<"$1"; }

# control: the bridge alone, firewalld rejects both
conflist nf$T nb$T 10 1.0.0 ""
mknetns c0$T
out=$(berth net add nf$T --container c0 --netns /run/netns/c0$T --json); ok $? "control: bridge only"
is "$(reach c0$T 10)" none "control: firewalld rejects the container's connections (host service and forward)"
berth net del nf$T --container c0 --netns /run/netns/c0$T >/dev/null

# ---- backend firewalld, every version the firewall plugin speaks ----
n=0
for v in 0.4.0 1.0.0 1.1.0; do
	n=$((n + 1)); c=cf$n$T
	conflist fw$n$T fb$n$T $((20 + n)) "$v" '{ "type": "firewall", "backend": "firewalld" }'
	mknetns "$c"
	out=$(berth net add fw$n$T --container "$c" --netns "/run/netns/$c" --json); rc=$?
	is "$rc" 0 "$v: ADD bridge + firewall (backend firewalld)"
	a=$(ip_of "$out")
	is "$(sources)" "$a/32" "$v: the container's address is a source of firewalld's trusted zone"
	is "$(reach "$c" $((20 + n)))" "host out" "$v: the container reaches the host's service and the outside host"
	is "$(ip netns exec "$H" nft list tables | sort | tr '\n' ' ')" "table inet berth table inet firewalld " \
		"$v: berth's tables beside firewalld's"
	is "$(ip netns exec "$H" nft -j list set inet berth fw4 | jq -r '[.nftables[].set.elem[]?] | length')" 1 "$v: berth's own element is there too"
	check "$v: CHECK" -- berth net check fw$n$T --container "$c"
	fwcmd --zone=trusted --remove-source="$a/32" >/dev/null
	o=$(berth net check fw$n$T --container "$c" 2>&1); rc=$?
	[ $rc -ne 0 ] && grep -q "failed to find the address $a/32 in trusted zone" <<<"$o"; ok $? "$v: CHECK notices the source is gone"
	fwcmd --zone=trusted --add-source="$a/32" >/dev/null
	check "$v: DEL" -- berth net del fw$n$T --container "$c" --netns "/run/netns/$c"
	is "$(sources)" "" "$v: DEL removed the source"
	is "$(ls "$D/fwd/fw$n$T" 2>/dev/null)" "" "$v: and its record"
	is "$(ip netns exec "$H" nft -j list set inet berth fw4 | jq -r '[.nftables[].set.elem[]?] | length')" 0 "$v: and berth's element"
	check "$v: second DEL" -- berth net del fw$n$T --container "$c" --netns "/run/netns/$c"
done

# ---- zone, reload, reapply ----
conflist fz$T fz$T 30 1.0.0 '{ "type": "firewall", "backend": "firewalld", "firewalldZone": "internal" }'
mknetns cz$T
out=$(berth net add fz$T --container cz --netns /run/netns/cz$T --json); ok $? "firewalldZone internal: ADD"
is "$(fwcmd --zone=internal --list-sources)" "$(ip_of "$out")/32" "firewalldZone: the source is in zone internal"
berth net del fz$T --container cz --netns /run/netns/cz$T >/dev/null
is "$(fwcmd --zone=internal --list-sources)" "" "firewalldZone: DEL removes it from there"

conflist fr$T fr$T 31 1.1.0 '{ "type": "firewall", "backend": "firewalld" }'
mknetns cr$T
out=$(berth net add fr$T --container cr --netns /run/netns/cr$T --json); ok $? "reload: ADD"
a=$(ip_of "$out")
berth_before=$(ip netns exec "$H" nft list table inet berth)
check "firewall-cmd --reload" -- fwcmd --reload
is "$(ip netns exec "$H" nft list table inet berth)" "$berth_before" "a firewalld reload leaves berth's table as it was"
is "$(sources)" "" "the reload dropped firewalld's runtime sources"
is "$(reach cr$T 31)" none "so the container is rejected again"
o=$(ip netns exec "$H" env BERTH_NFT_STATE_DIR="$BERTH_NFT_STATE_DIR" "$CNI_BIN/firewall" --reapply); ok $? "firewall --reapply"
is "$(jq -c . <<<"$o")" '{"reapplied":1,"firewalldSources":1}' "... put the recorded source back"
is "$(sources)" "$a/32" "... into the trusted zone"
is "$(reach cr$T 31)" "host out" "and the container gets through again"
# the same through the CLI: `berth net reapply` also puts back what a reload dropped
check "firewall-cmd --reload (again)" -- fwcmd --reload
is "$(sources)" "" "the second reload dropped the source again"
o=$(berth net reapply --json); ok $? "berth net reapply"
is "$(jq -c .firewalldSources <<<"$o")" 1 "... reports the firewalld source it added back"
is "$(sources)" "$a/32" "... which is in the trusted zone again"
is "$(reach cr$T 31)" "host out" "and the container gets through after berth net reapply"

# ---- GC: a container the runtime lost ----
rm -f "$D/cache/results/fr$T-cr-eth0"
check "GC" -- berth net gc fr$T
is "$(sources)" "" "GC removed the lost container's source"

# ---- the default backend uses firewalld when it runs; "iptables" does not ----
conflist fa$T fa$T 32 1.0.0 '{ "type": "firewall" }'
mknetns ca$T
out=$(berth net add fa$T --container ca --netns /run/netns/ca$T --json); ok $? "no backend: ADD"
is "$(sources)" "$(ip_of "$out")/32" "no backend and firewalld running: the source is added, as the reference does"
is "$(reach ca$T 32)" "host out" "no backend: the container gets through"
berth net del fa$T --container ca --netns /run/netns/ca$T >/dev/null
conflist fn$T fn$T 33 1.0.0 '{ "type": "firewall", "backend": "nftables" }'
mknetns cn$T
out=$(berth net add fn$T --container cn --netns /run/netns/cn$T --json); ok $? "backend nftables (unknown to the reference: its default): ADD"
is "$(sources)" "$(ip_of "$out")/32" "backend nftables: firewalld running, so the source is added"
berth net del fn$T --container cn --netns /run/netns/cn$T >/dev/null
conflist fi$T fi$T 34 1.0.0 '{ "type": "firewall", "backend": "iptables" }'
mknetns ci$T
out=$(berth net add fi$T --container ci --netns /run/netns/ci$T --json); ok $? "backend iptables: ADD"
is "$(sources)" "" "backend iptables: firewalld is not asked"
is "$(reach ci$T 34)" none "backend iptables: firewalld rejects the container, as with the reference's iptables backend"
berth net del fi$T --container ci --netns /run/netns/ci$T >/dev/null

# ---- the reference's firewalld backend leaves the same sources ----
if [ -x "$REF_CNI/firewall" ]; then
	prev='{"cniVersion":"1.0.0","interfaces":[{"name":"rb0"},{"name":"veth0"},{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.203.40.5/24","interface":2},{"address":"fd03::5/64","interface":2}]}'
	fc() { ip netns exec "$H" env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" BERTH_FIREWALLD_STATE_DIR="$D/fwd" \
		BERTH_NFT_STATE_DIR="$BERTH_NFT_STATE_DIR" CNI_COMMAND=$2 CNI_CONTAINERID=x1 CNI_IFNAME=eth0 \
		CNI_NETNS=/run/netns/ci$T CNI_PATH=/x "$1" <<<"{\"cniVersion\":\"1.0.0\",\"name\":\"fx$T\",\"type\":\"firewall\",\"backend\":\"firewalld\",\"prevResult\":$prev}" >/dev/null 2>&1; }
	fc "$REF_CNI/firewall" ADD; ref=$(sources | tr ' ' '\n' | sort | tr '\n' ' ')
	fc "$REF_CNI/firewall" DEL; ref_after=$(sources)
	fc "$CNI_BIN/firewall" ADD; ours=$(sources | tr ' ' '\n' | sort | tr '\n' ' ')
	fc "$CNI_BIN/firewall" DEL; ours_after=$(sources)
	is "$ours" "$ref" "same trusted-zone sources as the reference's firewalld backend ($ref)"
	is "$ours_after|$ref_after" "|" "both DELs remove them"
else
	ok 1 "reference firewall plugin missing"
fi

# ---- firewalld stops: its table goes, berth's stays; DEL still works ----
conflist fs$T fs$T 35 1.0.0 '{ "type": "firewall", "backend": "firewalld" }'
mknetns cs$T
berth net add fs$T --container cs --netns /run/netns/cs$T >/dev/null; ok $? "ADD before firewalld stops"
stop_firewalld
is "$(ip netns exec "$H" nft list tables | grep -E 'inet (berth|firewalld)$')" "table inet berth" "firewalld stopped: its table is gone, berth's is there"
is "$(reach cs$T 35)" "host out" "and nothing rejects the container any more"
check "DEL after firewalld stopped" -- berth net del fs$T --container cs --netns /run/netns/cs$T
is "$(ls "$D/fwd/fs$T" 2>/dev/null)" "" "DEL dropped the record of the sources firewalld took with it"
conflist fs$T fs$T 35 1.0.0 '{ "type": "firewall", "backend": "firewalld" }'
o=$(berth net add fs$T --container cs --netns /run/netns/cs$T 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q 'firewalld' <<<"$o"; ok $? "backend firewalld without firewalld: ADD fails, naming firewalld"
is "$(ip netns exec "$H" nft -j list set inet berth fw4 | jq -r '[.nftables[].set.elem[]?] | length')" 0 "... and leaves no element of its own"
is "$(host_tables)" "$host_before" "the machine's own nftables tables are as before"
done_testing
