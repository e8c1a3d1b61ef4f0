#!/bin/bash
# e2e: podman 4 (CNI backend) with a network of our plugins bridge + host-local + dnsname
# (cni_plugin_dirs: our plugin dir only): two containers resolve each other by name and by
# network alias through the resolv.conf podman writes for them from the network, and removal
# stops the network's dnsmasq.  Host side in a throwaway netns, podman in a private mount ns
# (as tests/e2e/podman.sh); dnsname's state in /run/berth/dnsname/<this run's network>/.
source "$(dirname "$0")/../integration/lib-core.bash"
source "$(dirname "$0")/lib-podman.bash"
command -v podman >/dev/null || skip_all "podman not installed"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
core_setup
OURS=${BERTH_PLUGIN_DIR:-$CNI_BIN}
for p in bridge host-local dnsname; do
	[ -x "$OURS/$p" ] || { echo "Bail out! $OURS/$p missing"; exit 1; }
done
NET=pd$T
BR=pd$T
# The default state dir: podman's network teardown may run in its cleanup process (started by
# conmon), whose environment is not ours, so a BERTH_DNSNAME_DIR of the test would not reach
# every DEL.  The network's own directory is unique to this run and removed at exit.
BERTH_DNSNAME_DIR=/run/berth/dnsname
defer "rm -rf $BERTH_DNSNAME_DIR/$NET; rmdir $BERTH_DNSNAME_DIR 2>/dev/null"
defer "kill \$(cat $BERTH_DNSNAME_DIR/$NET/pidfile 2>/dev/null) 2>/dev/null"

cat >"$D/net.d/$NET.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "$NET",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BR", "isGateway": true,
      "ipam": {
        "type": "host-local", "dataDir": "$D/ipam",
        "routes": [{ "dst": "0.0.0.0/0" }],
        "ranges": [[{ "subnet": "$SUBNET.0/24", "gateway": "$SUBNET.1" }]]
      }
    },
    { "type": "dnsname", "domainName": "dns.podman", "capabilities": { "aliases": true } }
  ]
}
JSON
# berth net check/gc take a per-network lock file beside the cache
defer "rm -f /var/lib/cni/berth-locks/$NET"
podman_setup "$OURS" bridge
is "$(pod network ls --format '{{.Name}} {{.DNSEnabled}}' | grep "^$NET ")" "$NET true" "podman sees the network with DNS enabled (its dnsname plugin)"

run() { # NAME ARGS...
	local name=$1; shift
	pod run -d --name "$name" --network "$NET" "$@" "localhost/bb$T:latest" sleep 3600 \
		</dev/null >/dev/null 2>"$D/$name.err" || { cat "$D/$name.err"; return 1; }
}
check "podman run a (network alias web)" -- run a$T --network-alias "web$T"
check "podman run b" -- run b$T
ipa=$(pod inspect a$T --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}")
ipb=$(pod inspect b$T --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}")
diag "a=$ipa b=$ipb"
rc=$(pod exec b$T cat /etc/resolv.conf)
diag "b's resolv.conf: $(tr '\n' ';' <<<"$rc")"
ok "$(grep -qx "nameserver $SUBNET.1" <<<"$rc"; echo $?)" "podman put the gateway (our dnsmasq) into b's resolv.conf"
ok "$(grep -q "^search.*dns.podman" <<<"$rc"; echo $?)" "and the search domain dns.podman"
# busybox nslookup reads the container's own resolv.conf (no server given)
lookup() { pod exec "$1" nslookup "$2" 2>/dev/null | awk '/^Address:? /{a=$NF} END{print a}' | sed 's/#53$//'; }
is "$(lookup b$T a$T)" "$ipa" "b resolves a by its container name"
is "$(lookup a$T b$T)" "$ipb" "a resolves b by its container name"
is "$(lookup b$T web$T)" "$ipa" "b resolves a by its network alias"
is "$(lookup b$T a$T.dns.podman)" "$ipa" "b resolves a.dns.podman"
check "b pings a by name" -- pod exec b$T ping -c1 -W5 "a$T"
ok "$([ -n "$(cat "$BERTH_DNSNAME_DIR/$NET/pidfile" 2>/dev/null)" ]; echo $?)" "one dnsmasq runs for the network"
pid=$(cat "$BERTH_DNSNAME_DIR/$NET/pidfile" 2>/dev/null)

check "podman rm -f a" -- pod rm -f -t0 a$T
# podman's network teardown may finish in its cleanup process after rm returns
gone() { ! grep -qs "\"$1\"" "$BERTH_DNSNAME_DIR/$NET/records.json"; }
wait_for 30 gone "a$T"
got=$(lookup b$T a$T.dns.podman)
is "$got" "" "after a's removal b no longer resolves a"
[ -z "$got" ] || diag "records: $(cat "$BERTH_DNSNAME_DIR/$NET/records.json" 2>&1)"
check "podman rm -f b" -- pod rm -f -t0 b$T
alive() { [ -n "$1" ] && [ -e "/proc/$1" ] && ! awk '{exit !($3 == "Z" || $3 == "X")}' "/proc/$1/stat" 2>/dev/null; }
wait_for 30 test ! -e "$BERTH_DNSNAME_DIR/$NET"
ok "$( ! alive "$pid" && [ ! -e "$BERTH_DNSNAME_DIR/$NET" ]; echo $?)" "removing the last container stopped dnsmasq and removed its state"
if alive "$pid" || [ -e "$BERTH_DNSNAME_DIR/$NET" ]; then
	diag "dnsmasq $pid: $(cat /proc/$pid/stat 2>&1 | cut -c1-60); state: $(ls -la "$BERTH_DNSNAME_DIR/$NET" 2>&1 | tr '\n' ';')"
	diag "records: $(cat "$BERTH_DNSNAME_DIR/$NET/records.json" 2>&1)"
fi
done_testing
