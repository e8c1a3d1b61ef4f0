#!/bin/bash
# bridge VLAN cases (vlan, vlanTrunk, preserveDefaultVlan, the <bridge>.<vlan> gateway) need
# bridge VLAN filtering and 802.1q, which this host kernel lacks: run them inside the
# tests/vm/dm-vm.sh VM (stock Debian kernel) and relay its TAP lines.  A VM that does not boot
# or times out is a failure.
# time-limit: 700
source "$(dirname "$0")/../lib.sh"
need_root
VM=$BERTH_SRC/tests/vm/dm-vm.sh
INNER=$BERTH_SRC/tests/vm/bridge-vlan-inner.sh
[ -x "$CNI_BIN/bridge" ] || skip_all "bridge not built"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed"
IPAM=$CNI_BIN; [ -x "$CNI_BIN/host-local" ] || IPAM=$REF_CNI
log=$(mktemp); defer "rm -f $log"
DM_VM_QUIET=1 DM_VM_TIMEOUT=${DM_VM_TIMEOUT:-600} "$VM" -m bridge -m veth -m 8021q \
	-t ip -t bridge -t jq -t bash -f "$CNI_BIN" -f "$IPAM" -- "$INNER" "$CNI_BIN" "$IPAM" >"$log" 2>&1
rc=$?
tr -d '\r' <"$log" >"$log.tap"; defer "rm -f $log.tap"
relay_tap vm "$log.tap" "$rc"
[ $rc -eq 124 ] && diag "the VM timed out"
[ $rc -eq 125 ] && { diag "the VM did not start or reported no status:"; sed 's/^/#   /' "$log" | tail -20; }
done_testing
