#!/bin/bash
# sanitize: no (needs the FAULT=1 build; scripts/test.sh runs it in the plain tier only)
# time-limit: 180
# Crash injection for host-device and tap (FAULT=1 build, common/fault.c): kill the plugin at
# every point its ADD passes, then DEL as the runtime would, and prove that all is as before
# (host-device: the device back on the host under its name with its addresses, route, alias and
# up state, no state file; tap: no tap; both: no IPAM reservation left); kill DEL half-way and
# prove that the retried DEL finishes the job.  host-device runs in a "host" netns of its own.
source "$(dirname "$0")/../lib.sh"
need_root
FB=${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}
[ "${SANITIZE:-}" = 1 ] && skip_all "crash injection runs in the plain tier (FAULT=1 build)"
for p in host-device tap host-local; do
	[ -x "$FB/cni/$p" ] || { echo "not ok 1 - $FB/cni/$p missing: make FAULT=1"; echo 1..1; exit 1; }
done
TMP=$(mktemp -d /tmp/berth-hdcrash.XXXXXX)
defer "rm -rf $TMP"

# ---- host-device ----------------------------------------------------------------------------
H=kh$T c=kc$T d=kd$T p=kp$T
mknetns "$H"
mknetns "$c"
ip -n "$H" link add "$d" type veth peer name "$p"
ip -n "$H" addr add 10.61.0.2/24 dev "$d"
ip -n "$H" addr add 10.61.0.1/24 dev "$p"
ip -n "$H" link set "$d" alias orig61
ip -n "$H" link set "$d" up
ip -n "$H" link set "$p" up
ip -n "$H" route add 10.61.128.0/17 via 10.61.0.1 dev "$d"
hoststate() {
	{
		ip -n "$H" -j link show | jq -r '.[] | "\(.ifname) \(.ifalias // "-") \(.flags | index("UP") != null)"'
		ip -n "$H" -j addr show | jq -r '.[] | .ifname as $n | .addr_info[] | select(.scope != "link") | "\($n) \(.local)/\(.prefixlen)"'
		ip -n "$H" route show | sed 's/ *$//'
		ip -n "$c" -br link show | awk '{print "ctr " $1}'
		ls "$TMP/state/hk$T" 2>/dev/null
		ls "$TMP/ipam/hk$T" 2>/dev/null | grep '^10\.'
	} | sort
}
cfg='{"cniVersion":"1.0.0","name":"hk'$T'","type":"host-device","device":"'$d'","ipam":{"type":"host-local","dataDir":"'$TMP/ipam'","ranges":[[{"subnet":"10.61.0.0/24","rangeStart":"10.61.0.5","rangeEnd":"10.61.0.9"}]]}}'
hd() { # CMD ID (a subshell: no "Killed" notice from bash)
	(ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
		CNI_NETNS="/run/netns/$c" CNI_IFNAME=eth0 CNI_PATH="$FB/cni" \
		BERTH_HOSTDEV_STATE_DIR="$TMP/state" BERTH_LOG_LEVEL=error \
		${BERTH_FAULT:+BERTH_FAULT="$BERTH_FAULT"} ${BERTH_FAULT_LOG:+BERTH_FAULT_LOG="$BERTH_FAULT_LOG"} \
		"$FB/cni/host-device" <<<"$cfg" >/dev/null 2>&1; r=$?; exit $r) 2>/dev/null
}
before=$(hoststate)
BERTH_FAULT='*' BERTH_FAULT_LOG=$TMP/hpoints hd ADD enum; ok $? "host-device: ADD with fault points recorded"
hd DEL enum; ok $? "host-device: DEL"
is "$(hoststate)" "$before" "host-device: a plain ADD + DEL leaves all as before"
points=$(grep '^host-device:' "$TMP/hpoints" | awk '{n[$0]++; print $0 "#" n[$0]}')
for want in host-device-after-state host-device-after-move host-device-after-ipam host-device-before-result; do
	grep -q "^host-device:$want#1$" <<<"$points"; ok $? "host-device: point $want is on the ADD path"
done
n=0
for pt in $points; do
	n=$((n + 1))
	BERTH_FAULT=$pt hd ADD k$n; is $? 137 "host-device: kill at $pt: ADD killed"
	hd DEL k$n; ok $? "host-device: kill at $pt: DEL succeeds"
	is "$(hoststate)" "$before" "host-device: kill at $pt: all as before"
done
hd ADD kdel; ok $? "host-device: ADD for the DEL-side kill"
BERTH_FAULT=host-device:host-device-del-after-move hd DEL kdel; is $? 137 "host-device: DEL killed after moving the device out"
hd DEL kdel; ok $? "host-device: the retried DEL succeeds"
is "$(hoststate)" "$before" "host-device: the retried DEL restored everything"

# ---- tap ------------------------------------------------------------------------------------
tcfg='{"cniVersion":"1.0.0","name":"tk'$T'","type":"tap","multiQueue":true,"ipam":{"type":"host-local","dataDir":"'$TMP/ipam'","ranges":[[{"subnet":"10.62.0.0/24"}]]}}'
tp() { # CMD ID
	(env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS="/run/netns/$c" \
		CNI_IFNAME=tap0 CNI_PATH="$FB/cni" BERTH_LOG_LEVEL=error \
		${BERTH_FAULT:+BERTH_FAULT="$BERTH_FAULT"} ${BERTH_FAULT_LOG:+BERTH_FAULT_LOG="$BERTH_FAULT_LOG"} \
		"$FB/cni/tap" <<<"$tcfg" >/dev/null 2>&1; r=$?; exit $r) 2>/dev/null
}
tstate() { ip -n "$c" -br link show | awk '{print $1}'; ls "$TMP/ipam/tk$T" 2>/dev/null | grep '^10\.'; }
tbefore=$(tstate)
BERTH_FAULT='*' BERTH_FAULT_LOG=$TMP/tpoints tp ADD enum; ok $? "tap: ADD with fault points recorded"
tp DEL enum; ok $? "tap: DEL"
is "$(tstate)" "$tbefore" "tap: a plain ADD + DEL leaves nothing"
tpoints=$(grep '^tap:' "$TMP/tpoints" | awk '{n[$0]++; print $0 "#" n[$0]}')
for want in tap-after-create tap-after-ipam tap-before-persist; do
	grep -q "^tap:$want#1$" <<<"$tpoints"; ok $? "tap: point $want is on the ADD path"
done
n=0
for pt in $tpoints; do
	n=$((n + 1))
	BERTH_FAULT=$pt tp ADD k$n; is $? 137 "tap: kill at $pt: ADD killed"
	! ip -n "$c" link show tap0 >/dev/null 2>&1; ok $? "tap: kill at $pt: no tap left even before DEL (never made persistent)"
	tp DEL k$n; ok $? "tap: kill at $pt: DEL succeeds"
	is "$(tstate)" "$tbefore" "tap: kill at $pt: nothing left"
done
tp ADD kdel; ok $? "tap: ADD for the DEL-side kill"
BERTH_FAULT=tap:tap-del-after-link tp DEL kdel; is $? 137 "tap: DEL killed after deleting the tap"
tp DEL kdel; ok $? "tap: the retried DEL succeeds"
is "$(tstate)" "$tbefore" "tap: the retried DEL released the address"
done_testing
