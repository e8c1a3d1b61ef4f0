#!/bin/bash
# sanitize: no (needs the FAULT=1 build; scripts/test.sh runs it in the plain tier only)
# Crash injection for bandwidth and sbr (FAULT=1 build, common/fault.c): kill the plugin at
# every point its ADD passes, then DEL as the runtime would and prove that nothing is left
# (bandwidth: no qdisc on the host veth, no ifb; sbr: no rule); kill DEL half-way and prove that
# the retried DEL finishes the job.  Runs in throwaway netns.  (vrf's run in the VM:
# tests/vm/vrf-inner.sh.)
source "$(dirname "$0")/lib-bw.bash"
FB=${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}
[ "${SANITIZE:-}" = 1 ] && skip_all "crash injection runs in the plain tier (FAULT=1 build)"
[ -x "$FB/cni/bandwidth" ] || { echo "not ok 1 - $FB/cni/bandwidth missing: make FAULT=1"; echo 1..1; exit 1; }
BW=$FB/cni/bandwidth
bw_setup
NET=bwc$T
X='{"ingressRate":8000000,"ingressBurst":80000,"egressRate":16000000,"egressBurst":160000}'
c=kc$T; hv=kh$T; mkpair "$c" "$hv"
cfg=$(bwconf 1.0.0 "$c" "$hv" "$X" "$NET")
clean() { is "$(kstate "$hv")" "## $hv
## ifbs" "$1"; }

BERTH_FAULT='*' BERTH_FAULT_LOG=$BWTMP/points bwcall "$BW" ADD enum "$c" <<<"$cfg" >/dev/null
ok $? "ADD with fault points recorded"
bwcall "$BW" DEL enum "$c" <<<"$cfg" >/dev/null
clean "a plain ADD + DEL leaves nothing"
points=$(awk '{n[$0]++; print $0 "#" n[$0]}' "$BWTMP/points")
for want in bandwidth-after-ingress-tbf bandwidth-after-ifb bandwidth-after-ingress-qdisc \
	bandwidth-after-redirect bandwidth-after-egress-tbf; do
	grep -q "^bandwidth:$want#1$" <<<"$points"; ok $? "point $want is on the ADD path"
done
n=0
for p in $points; do
	n=$((n + 1))
	BERTH_FAULT=$p bwcall "$BW" ADD "k$n" "$c" <<<"$cfg" >/dev/null 2>&1
	rc=$?
	[ $rc -eq 137 ]; ok $? "kill at $p: ADD killed (rc $rc)"
	[ -n "$(kstate "$hv" | grep -v '^##')" ]; ok $? "kill at $p: something was left half-done"
	bwcall "$BW" DEL "k$n" "$c" <<<"$cfg" >/dev/null; ok $? "kill at $p: DEL succeeds"
	clean "kill at $p: nothing left"
done
bwcall "$BW" ADD kdel "$c" <<<"$cfg" >/dev/null; ok $? "ADD for the DEL-side kill"
BERTH_FAULT=bandwidth:bandwidth-del-after-ifb bwcall "$BW" DEL kdel "$c" <<<"$cfg" >/dev/null 2>&1
[ $? -ne 0 ]; ok $? "DEL killed after removing the ifb fails"
[ -n "$(qd "$hv" | grep -v noqueue)" ]; ok $? "... with the host veth's qdiscs still there"
bwcall "$BW" DEL kdel "$c" <<<"$cfg" >/dev/null; ok $? "the retried DEL succeeds"
clean "the retried DEL leaves nothing"

# ---- sbr ----
SBR=$FB/cni/sbr
[ -x "$SBR" ] || { ok 1 "$SBR missing: make FAULT=1"; done_testing; exit; }
s=ks$T
mknetns "$s"
sreset() { # eth0 as the main plugin left it, every table but main and local emptied
	ip -n "$s" link del eth0 2>/dev/null
	ip -n "$s" link add eth0 type veth peer name p0
	ip -n "$s" link set eth0 up; ip -n "$s" link set p0 up
	ip -n "$s" addr add 10.31.0.5/24 dev eth0; ip -n "$s" addr add 10.31.1.5/24 dev eth0
	ip -n "$s" route add default via 10.31.0.1
}
sreset
scfg='{"cniVersion":"1.0.0","name":"sk","type":"sbr","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.31.0.5/24","gateway":"10.31.0.1","interface":0},{"address":"10.31.1.5/24","gateway":"10.31.1.1","interface":0}]}}'
sb() { (env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID=k CNI_NETNS="/run/netns/$s" \
	CNI_IFNAME=eth0 CNI_PATH=/x ${BERTH_FAULT:+BERTH_FAULT="$BERTH_FAULT"} \
	${BERTH_FAULT_LOG:+BERTH_FAULT_LOG="$BERTH_FAULT_LOG"} "$SBR" <<<"$scfg" >/dev/null 2>&1; r=$?; exit $r) 2>/dev/null; }
srules() { ip -n "$s" rule | grep -c 'from 10.31'; }
BERTH_FAULT='*' BERTH_FAULT_LOG=$BWTMP/spoints sb ADD; ok $? "sbr: ADD with fault points recorded"
is "$(srules)" 2 "sbr: two rules"
sb DEL; is "$(srules)" 0 "sbr: a plain DEL removes them"
sreset
spoints=$(awk '{n[$0]++; print $0 "#" n[$0]}' "$BWTMP/spoints")
for want in sbr:sbr-after-rule#1 sbr:sbr-after-rule#2 sbr:sbr-after-table#1 sbr:sbr-after-table#2; do
	grep -qx "$want" <<<"$spoints"; ok $? "sbr: point $want is on the ADD path"
done
for p in $spoints; do
	BERTH_FAULT=$p sb ADD; is $? 137 "sbr: kill at $p: ADD killed"
	sb DEL; ok $? "sbr: kill at $p: DEL succeeds"
	is "$(srules)" 0 "sbr: kill at $p: no rule left"
	sreset
done
sb ADD; ok $? "sbr: ADD for the DEL-side kill"
BERTH_FAULT=sbr:sbr-del-after-rule sb DEL; is $? 137 "sbr: DEL killed after its first rule"
is "$(srules)" 1 "sbr: ... one rule still there"
sb DEL; ok $? "sbr: the retried DEL succeeds"
is "$(srules)" 0 "sbr: the retried DEL leaves no rule"
done_testing
