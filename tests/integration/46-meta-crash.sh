#!/bin/bash
# Crash injection for bandwidth (FAULT=1 build, common/fault.c): kill the plugin at every point
# its ADD passes, then DEL as the runtime would and prove that nothing is left (no qdisc on the
# host veth, no ifb); kill DEL after it removed the ifb and prove that the retried DEL finishes
# the job.  Runs in a throwaway host netns.
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
done_testing
