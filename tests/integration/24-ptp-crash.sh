#!/bin/bash
# sanitize: no (needs the FAULT=1 build; scripts/test.sh runs it in the plain tier only)
# Crash injection for ptp (FAULT=1 build, common/fault.c): SIGKILL the plugin at every fault
# point its ADD passes (its own and the in-process host-local's, the nft transaction's), then
# DEL and GC as the runtime would, and prove that nothing is left: no veth, no host route or
# gateway address, no masquerade element, no reserved address.  Then the same for DEL's own
# points: the retried DEL finishes the job.  The "host" is a netns of its own.
source "$(dirname "$0")/../lib.sh"
need_root
FB=${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}
[ "${SANITIZE:-}" = 1 ] && skip_all "crash injection runs in the plain tier (FAULT=1 build)"
[ -x "$FB/cni/ptp" ] || { echo "not ok 1 - $FB/cni/ptp missing: make FAULT=1"; echo 1..1; exit 1; }
keep_host_nft
H=kh$T; C=kc$T; mknetns "$H"; mknetns "$C"
DATA=$(mktemp -d /tmp/ptp-crash.XXXXXX); defer "rm -rf $DATA"
NET=kn$T
A=$(( (0x${T:0:2} % 100) + 100 )); B=$(( 0x${T:2:2} % 200 + 20 ))
c=$(jq -nc --arg n "$NET" --arg s "10.$A.$B.0/24" --arg s6 "fd${T:0:2}:${T:2:4}::/64" --arg d "$DATA" \
	'{cniVersion:"1.1.0", name:$n, type:"ptp", ipMasq:true,
	  ipam:{type:"host-local", dataDir:$d, ranges:[[{subnet:$s}],[{subnet:$s6}]], routes:[{dst:"0.0.0.0/0"}]}}')
gc=$(jq -c '. + {"cni.dev/valid-attachments": []}' <<<"$c")

# kcni CMD ID [BERTH_FAULT]: the FAULT build's ptp in the host netns
kcni() {
	ip netns exec "$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
		CNI_NETNS="/run/netns/$C" CNI_IFNAME=eth0 CNI_PATH="$FB/cni" BERTH_LOG_LEVEL=error \
		BERTH_NFT_TABLE="$BERTH_NFT_TABLE" BERTH_NFT_STATE_DIR="$BERTH_NFT_STATE_DIR" \
		${3:+BERTH_FAULT="$3"} ${BERTH_FAULT_LOG:+BERTH_FAULT_LOG="$BERTH_FAULT_LOG"} "$FB/cni/ptp"
}
kstate() {
	ip netns exec "$H" ls /sys/class/net | sort
	ip netns exec "$C" ls /sys/class/net | sort
	ip -n "$H" -4 route show; ip -n "$H" -6 route show | grep -v '^fe80'
	ip netns exec "$H" nft -j list table inet "$BERTH_NFT_TABLE" 2>/dev/null |
		jq -c '.nftables[] | select(.set) | .set | select(.elem) | {name, elem}'
	ls "$DATA/$NET" 2>/dev/null | grep -E '^[0-9a-f.:]+$'
}
EMPTY=$(kstate)

BERTH_FAULT_LOG=$DATA/points kcni ADD enum '*' <<<"$c" >/dev/null; ok $? "ADD with fault points recorded"
BERTH_FAULT_LOG=$DATA/dpoints kcni DEL enum '*' <<<"$c" >/dev/null; ok $? "DEL with fault points recorded"
is "$(kstate)" "$EMPTY" "a plain ADD + DEL leaves nothing"
points=$(awk '{n[$0]++; print $0 "#" n[$0]}' "$DATA/points")
for want in ptp-after-ipam ptp-after-veth ptp-after-container ptp-after-masq ptp-before-result; do
	grep -q "^ptp:$want#1$" <<<"$points"; ok $? "point $want is on the ADD path"
done
diag "ADD passes $(wc -w <<<"$points") points: $(tr '\n' ' ' <<<"$points")"
n=0
for p in $points; do
	n=$((n + 1))
	# the path the points were recorded on: the first ADD also creates berth's nft table
	ip netns exec "$H" nft delete table inet "$BERTH_NFT_TABLE" 2>/dev/null
	kcni ADD "k$n" "$p" <<<"$c" >/dev/null 2>&1
	is $? 137 "kill at $p: ADD killed"
	kcni DEL "k$n" <<<"$c" >/dev/null; ok $? "kill at $p: DEL succeeds"
	kcni GC "" <<<"$gc" >/dev/null; ok $? "kill at $p: GC succeeds"
	is "$(kstate)" "$EMPTY" "kill at $p: nothing left"
done
# GC alone cleans up what a killed ADD left (the runtime lost the attachment)
kcni ADD gconly ptp:ptp-after-masq <<<"$c" >/dev/null 2>&1; is $? 137 "ADD killed after the masquerade"
kcni GC "" <<<"$gc" >/dev/null; ok $? "GC alone succeeds"
ip netns exec "$C" ls /sys/class/net | grep -q eth0; [ $? -ne 0 ]; ok $? "GC alone removed the veth"
is "$(kstate)" "$EMPTY" "GC alone leaves nothing"
# DEL's own points: the retried DEL finishes the job
dpoints=$(awk '{n[$0]++; print $0 "#" n[$0]}' "$DATA/dpoints")
diag "DEL passes: $(tr '\n' ' ' <<<"$dpoints")"
for p in $dpoints; do
	kcni ADD kd <<<"$c" >/dev/null; ok $? "ADD for the DEL-side kill at $p"
	# killed, or (link-del-child) its child killed before the kernel unlisted the pair: DEL
	# must fail then, not report success early
	kcni DEL kd "$p" <<<"$c" >/dev/null 2>&1; [ $? -ne 0 ]; ok $? "DEL killed at $p fails"
	kcni DEL kd <<<"$c" >/dev/null; ok $? "kill at $p: the retried DEL succeeds"
	is "$(kstate)" "$EMPTY" "kill at $p: the retried DEL leaves nothing"
done
done_testing
