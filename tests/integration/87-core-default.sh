#!/bin/bash
# The embedded default network (used when the config dir defines none), STATUS on a 1.1.0
# list, and GC reaching the plugins: an address leaked without any cache entry is released by
# host-local's GC because it is not in the valid set.
source "$(dirname "$0")/lib-core.bash"
core_setup

out=$(berth net ls --json)
is "$(jget "$out" '[.[].name] | join(",")')" berth "an empty config dir lists the embedded network"
show=$(berth net show berth --json)
is "$(jget "$show" .source)" "<embedded>" "it is the embedded one"
is "$(jget "$show" '[.config.plugins[].type] | join(",")')" "bridge,portmap,firewall,loopback" "bridge(+host-local), portmap, firewall, loopback"
subnet=$(jget "$show" '.config.plugins[0].ipam.ranges[0][0].subnet')
is "$subnet" 10.213.0.0/24 "subnet $subnet"
python3 - "$subnet" <<'PY'
import ipaddress, sys
n = ipaddress.ip_network(sys.argv[1])
sys.exit(any(n.overlaps(ipaddress.ip_network(x)) for x in ("10.88.0.0/16", "172.17.0.0/16")))
PY
ok $? "it overlaps neither podman's 10.88.0.0/16 nor Docker's 172.17.0.0/16"

if [ -x "$CNI_BIN/bridge" ] && [ -x "$CNI_BIN/firewall" ] && [ -x "$CNI_BIN/portmap" ]; then
	# on the embedded network, inside the throwaway host netns, with the default plugin path
	# (no --plugin-path, no CNI_PATH): the plugins beside berth, then the libexec dir, then
	# /opt/cni/bin
	bb() { ip netns exec "$H" env -u CNI_PATH BERTH_NFT_STATE_DIR="$D/nft" "$BERTH_BIN" --config-dir "$D/net.d" \
		--cache-dir "$D/cache" "$@"; }
	pp=$(bb version --json | jq -r .pluginPath)
	case $pp in "$(cd "$CNI_BIN" && pwd -P)":*:/opt/cni/bin) ok 0 "default plugin path: $pp" ;;
	*) ok 1 "default plugin path: '$pp' (want $CNI_BIN:...:/opt/cni/bin)" ;; esac
	# installed under some PREFIX: PREFIX/bin/berth finds PREFIX/libexec/berth/cni
	mkdir -p "$D/inst/bin" "$D/inst/libexec/berth/cni"
	cp "$BERTH_BIN" "$D/inst/bin/berth"
	pp=$(env -u CNI_PATH "$D/inst/bin/berth" version --json | jq -r .pluginPath)
	case $pp in "$D/inst/libexec/berth/cni":*) ok 0 "installed: $pp" ;;
	*) ok 1 "installed: '$pp' (want $D/inst/libexec/berth/cni first)" ;; esac
	out=$(bb net add --container def$T --netns "/run/netns/$C" --publish 18083:80 --json)
	ok $? "net add without a network name uses the default"
	a=$(jget "$out" '.ips[0].address')
	case $a in 10.213.0.*) ok 0 "address $a in 10.213.0.0/24" ;; *) ok 1 "address '$a' in 10.213.0.0/24" ;; esac
	is "$(ip -n "$H" -j link show master berth0 | jq length)" 1 "one port on bridge berth0"
	is "$(ip -n "$C" -j link show lo | jq -r '.[0].operstate')" UNKNOWN "loopback up in the container"
	check "container pings the gateway" -- ip netns exec "$C" ping -c1 -W5 10.213.0.1
	check "net del" -- bb net del --container def$T
	is "$(ip -n "$H" -j link show master berth0 | jq length)" 0 "bridge port gone"
	# --ip and --mac become the ips and mac capabilities the embedded bridge declares
	check "net add --ip --mac" -- bb net add --container fix$T --netns "/run/netns/$C" --ip 10.213.0.77 --mac 02:42:0a:d5:00:4d
	is "$(ip -n "$C" -j addr show eth0 | jq -r '.[0].address + " " + (.[0].addr_info[] | select(.family=="inet") | .local)')" \
		"02:42:0a:d5:00:4d 10.213.0.77" "the container got the requested MAC and address"
	check "net del" -- bb net del --container fix$T
else
	skip "our bridge/portmap/firewall are not built"
fi

# STATUS: 1.1.0 lists ask every plugin; a plugin's code 50 is reported
mkrecorder rec-a
cat >"$D/plugins/notready" <<'SH'
#!/bin/bash
cat >/dev/null
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]}' ;;
STATUS) echo '{"code":50,"msg":"address pool exhausted"}'; exit 1 ;;
esac
SH
chmod +x "$D/plugins/notready"
echo '{"cniVersion":"1.1.0","name":"st'$T'","plugins":[{"type":"rec-a"}]}' >"$D/net.d/10-st.conflist"
echo '{"cniVersion":"1.1.0","name":"nr'$T'","plugins":[{"type":"rec-a"},{"type":"notready"}]}' >"$D/net.d/20-nr.conflist"
check "net status of a ready 1.1.0 list" -- berth net status st$T
is "$(rec_order STATUS)" "rec-a " "the plugin got STATUS"
out=$(berth net status nr$T --json 2>/dev/null); rc=$?
is "$rc/$(jget "$out" .code)/$(jget "$out" .ready)/$(jget "$out" .network)" "1/50/false/nr$T" \
	"a plugin answering code 50 makes the network not ready (--json: ready false, the plugin's code)"
grep -q "address pool exhausted" <<<"$(berth net status nr$T 2>&1)"; ok $? "with the plugin's message"
echo '{"cniVersion":"1.0.0","name":"old'$T'","plugins":[{"type":"notready"}]}' >"$D/net.d/30-old.conflist"
check "before 1.1.0 there is no STATUS: ready" -- berth net status old$T

# GC on the plugins: a leaked reservation without a cache entry
if [ "$(echo '{"cniVersion":"1.1.0"}' | CNI_COMMAND=VERSION "$CNI_BIN/host-local" 2>/dev/null | jq -r '.supportedVersions | index("1.1.0") != null')" = true ]; then
	write_conflist 1.1.0
	out=$(berth net add "$NET" --container leak$T --netns "/run/netns/$C" --json)
	ip=$(jget "$out" '.ips[0].address'); ip=${ip%/*}
	rm "$D/cache/results/$NET-leak$T-eth0" # the runtime lost track of it
	ok "$([ -e "$D/ipam/$NET/$ip" ]; echo $?)" "address $ip reserved with no cache entry (leak)"
	check "net gc" -- berth net gc "$NET"
	ok "$([ ! -e "$D/ipam/$NET/$ip" ]; echo $?)" "host-local's GC released $ip (not in the valid set)"
else
	skip "host-local without 1.1.0 GC"; skip "host-local without 1.1.0 GC"; skip "host-local without 1.1.0 GC"
fi
done_testing
