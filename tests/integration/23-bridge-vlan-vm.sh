#!/bin/bash
# bridge VLAN cases (vlan, vlanTrunk, preserveDefaultVlan, the <bridge>.<vlan> gateway) need
# bridge VLAN filtering and 802.1q, which this host kernel lacks: run them inside the
# tests/vm/dm-vm.sh VM (stock Debian kernel) and relay its TAP lines.
source "$(dirname "$0")/../lib.sh"
need_root
VM=$BERTH_SRC/tests/vm/dm-vm.sh
INNER=$BERTH_SRC/tests/vm/bridge-vlan-inner.sh
[ -x "$CNI_BIN/bridge" ] || skip_all "bridge not built"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed"
IPAM=$CNI_BIN; [ -x "$CNI_BIN/host-local" ] || IPAM=$REF_CNI
log=$(mktemp); defer "rm -f $log"
DM_VM_QUIET=1 DM_VM_TIMEOUT=${DM_VM_TIMEOUT:-900} "$VM" -m bridge -m veth -m 8021q \
	-t ip -t bridge -t jq -t bash -f "$CNI_BIN" -f "$IPAM" -- "$INNER" "$CNI_BIN" "$IPAM" >"$log" 2>&1
rc=$?
n=0
while IFS= read -r line; do
	case $line in
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
