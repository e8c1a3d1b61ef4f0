#!/bin/bash
# time-limit: 1000 (the VM times out at 900 s: that is reported as a failure first)
# The vrf plugin.  This host's kernel has no VRF: here, bad input for every option (checked
# before any kernel work), STATUS answering 50, and an ADD that fails cleanly; the rest
# (every spec version, a second interface, table, conflicts, DEL without interface or netns,
# ping bound to the VRF, crash injection with the FAULT=1 build, and a differential run against
# the reference plugin) runs inside the tests/vm/dm-vm.sh VM (stock Debian kernel, -m vrf)
# through tests/vm/vrf-inner.sh, whose TAP lines are relayed.
source "$(dirname "$0")/../lib.sh"
need_root
VRF=$CNI_BIN/vrf
[ -x "$VRF" ] || skip_all "vrf not built"
VM=$BERTH_SRC/tests/vm/dm-vm.sh
INNER=$BERTH_SRC/tests/vm/vrf-inner.sh
FB=${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}

ns=vh$T
mknetns "$ns"
ip -n "$ns" link add eth0 type veth peer name p0
conf() { echo "{\"cniVersion\":\"1.0.0\",\"name\":\"vn\",\"type\":\"vrf\"$1,\"prevResult\":{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/run/netns/$ns\"}],\"ips\":[{\"address\":\"10.20.0.2/24\",\"interface\":0}]}}"; }
bad() { # DESC CODE MSG-REGEX CONFIG
	local out rc
	out=$(cni "$VRF" ADD c1 "/run/netns/$ns" eth0 <<<"$4"); rc=$?
	if [ $rc -eq 1 ] && [ "$(jget "$out" .code)" = "$2" ] && jget "$out" .msg | grep -Eq "$3"; then
		ok 0 "bad input: $1"
	else
		ok 1 "bad input: $1"; diag "rc=$rc $out"
	fi
}
bad "vrfname missing" 7 'configuration is expected to have a valid vrf name' "$(conf '')"
bad "vrfname empty" 7 'configuration is expected to have a valid vrf name' "$(conf ',"vrfname":""')"
bad "vrfname not a string" 7 'vrfname' "$(conf ',"vrfname":5')"
bad "vrfname too long" 7 'is not a valid interface name' "$(conf ',"vrfname":"averyveryverylongname"')"
bad "vrfname with a slash" 7 'is not a valid interface name' "$(conf ',"vrfname":"a/b"')"
bad "table a string" 7 'table must be a routing table number' "$(conf ',"vrfname":"red","table":"5"')"
bad "table negative" 7 'table must be a routing table number' "$(conf ',"vrfname":"red","table":-1')"
bad "table over 32 bits" 7 'table must be a routing table number' "$(conf ',"vrfname":"red","table":4294967296')"
bad "prevResult missing" 7 'missing prevResult from earlier plugin' '{"cniVersion":"1.0.0","name":"vn","type":"vrf","vrfname":"red"}'
bad "malformed prevResult" 6 'prevResult' "$(conf ',"vrfname":"red"' | jq -c '.prevResult.ips[0].address = "x"')"
bad "no VRF in this kernel" 999 'could not add VRF red: .*Unknown device type' "$(conf ',"vrfname":"red"')"
is "$(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | tr '\n' ' ')" "eth0 lo p0 " "the failed ADDs left the netns as it was"
out=$(cni "$VRF" STATUS "" "" "" <<<'{"cniVersion":"1.1.0","name":"vn","type":"vrf","vrfname":"red"}'); rc=$?
[ $rc -eq 1 ] && [ "$(jget "$out" .code)" = 50 ] && jget "$out" .msg | grep -q 'cannot create a VRF'
ok $? "STATUS on a kernel without VRF: code 50"
cni "$VRF" DEL c1 "/run/netns/$ns" eth0 <<<"$(conf '')" >/dev/null; ok $? "DEL without vrfname succeeds"
cni "$VRF" DEL c1 "/run/netns/$ns" eth0 <<<"$(conf ',"vrfname":"red"')" >/dev/null; ok $? "DEL of a VRF that does not exist succeeds"

if ! command -v qemu-system-x86_64 >/dev/null; then
	ok 1 "qemu-system-x86_64 missing: the VM part cannot run (scripts/deps.sh test)"
	done_testing; exit
fi
FAULT_DIR=-; [ "${SANITIZE:-}" != 1 ] && [ -x "$FB/cni/vrf" ] && FAULT_DIR=$FB/cni
[ "${SANITIZE:-}" = 1 ] && FAULT_DIR=sanitize
[ "${SANITIZE:-}" != 1 ] && [ "$FAULT_DIR" = - ] && ok 1 "$FB/cni/vrf missing: make FAULT=1"
REF=-; [ -x "$REF_CNI/vrf" ] && REF=$REF_CNI/vrf
files=(-f "$CNI_BIN"); [ "$FAULT_DIR" != - ] && [ "$FAULT_DIR" != sanitize ] && files+=(-f "$FAULT_DIR"); [ "$REF" != - ] && files+=(-f "$REF")
log=$(mktemp); defer "rm -f $log"
DM_VM_QUIET=1 DM_VM_TIMEOUT=${DM_VM_TIMEOUT:-900} "$VM" -m veth -m vrf -t ip -t bash -t ping -t sort "${files[@]}" \
	-- "$INNER" "$CNI_BIN" "$FAULT_DIR" "$REF" >"$log" 2>&1
rc=$?
n=0
while IFS= read -r line; do
	case $line in
	"ok "*"# SKIP "*) n=$((n + 1)); skip "vm: ${line#*# SKIP }" ;;
	"ok "*) n=$((n + 1)); ok 0 "vm: ${line#ok * - }" ;;
	"not ok "*) n=$((n + 1)); ok 1 "vm: ${line#not ok * - }" ;;
	"#"*) echo "$line" ;;
	esac
done < <(tr -d '\r' <"$log")
want=$(tr -d '\r' <"$log" | sed -n 's/^1\.\.\([0-9]*\)$/\1/p' | tail -1)
if [ -z "$want" ] || [ "$n" -ne "$want" ] || [ "$n" -eq 0 ]; then
	ok 1 "VM ran the whole plan (rc=$rc, $n results, plan ${want:-missing})"
	tail -20 "$log" | sed 's/^/#   /'
fi
done_testing
