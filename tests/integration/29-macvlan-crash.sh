#!/bin/bash
# sanitize: no (needs the FAULT=1 build; scripts/test.sh runs it in the plain tier only)
# Crash injection for macvlan (FAULT=1 build, common/fault.c): kill the plugin at every point
# its ADD passes (its own, net/sublink's between create and rename, host-local's in-process),
# then DEL as the runtime would and prove that nothing is left: no link in the container (not
# even one under its temporary name), no address reserved; then the same ADD works.  The
# master is a veth in a "host" netns of the test's own, where the plugin runs.
# time-limit: 300
source "$(dirname "$0")/../lib.sh"
need_root
FB=${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}
[ "${SANITIZE:-}" = 1 ] && skip_all "crash injection runs in the plain tier (FAULT=1 build)"
[ -x "$FB/cni/macvlan" ] && [ -x "$FB/cni/host-local" ] ||
	{ echo "not ok 1 - $FB/cni/macvlan missing: make FAULT=1"; echo 1..1; exit 1; }
MV=$FB/cni/macvlan
D=$(mktemp -d /tmp/macvlan-crash.XXXXXX); defer "rm -rf $D"
H=kh$T; C=kc$T; M=km$T
mknetns "$H"; mknetns "$C"
ip -n "$H" link add "$M" type veth peer name kp$T
ip -n "$H" link set "$M" up; ip -n "$H" link set kp$T up
cfg=$(jq -nc --arg m "$M" --arg d "$D/ipam" '{cniVersion:"1.0.0", name:"kn", type:"macvlan", master:$m,
	ipam:{type:"host-local", dataDir:$d, ranges:[[{subnet:"10.33.0.0/24"}]], routes:[{dst:"0.0.0.0/0"}]}}')
mv() { # mv COMMAND ID [VAR=VALUE...] < config
	local cmd=$1 id=$2
	shift 2
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" \
		CNI_NETNS="/run/netns/$C" CNI_IFNAME=eth0 CNI_PATH="$FB/cni" BERTH_LOG_LEVEL=error "$@" "$MV"
}
kstate() {
	ip -n "$C" -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -v '^lo$'
	ls "$D/ipam/kn" 2>/dev/null | grep -E '^[0-9a-f.:]+$'
}
clean() { is "$(kstate)" "" "$1"; }

mv ADD enum BERTH_FAULT='*' BERTH_FAULT_LOG="$D/points" <<<"$cfg" >/dev/null
ok $? "ADD with fault points recorded"
mv DEL enum <<<"$cfg" >/dev/null
clean "a plain ADD + DEL leaves nothing"
points=$(awk '{n[$0]++; print $0 "#" n[$0]}' "$D/points")
diag "points: $(echo $points)"
for want in sublink-after-create macvlan-after-link macvlan-after-ipam macvlan-before-result; do
	grep -q "^macvlan:$want#1$" <<<"$points"; ok $? "point $want is on the ADD path"
done
n=0
for p in $points; do
	n=$((n + 1))
	mv ADD "k$n" BERTH_FAULT="$p" <<<"$cfg" >/dev/null 2>&1
	rc=$?
	is "$rc" 137 "kill at $p: ADD killed"
	mv DEL "k$n" <<<"$cfg" >/dev/null; ok $? "kill at $p: DEL succeeds"
	clean "kill at $p: nothing left"
done
[ "$n" -ge 4 ]; ok $? "at least 4 points exercised ($n)"
out=$(mv ADD again <<<"$cfg"); ok $? "ADD after the crashes works"
is "$(jq -r '.interfaces[0].name' <<<"$out")" eth0 "... and made eth0"
mv DEL again <<<"$cfg" >/dev/null; ok $? "its DEL"
clean "nothing left at the end"
done_testing
