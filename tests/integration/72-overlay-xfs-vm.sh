#!/bin/bash
# The overlay driver on XFS with project quotas (size limits) and on XFS without d_type.
# This machine's kernel has neither XFS nor its quota support, so it runs inside the VM of
# tests/vm/dm-vm.sh (stock Debian kernel).  A VM that does not boot or times out is a failure.
# time-limit: 1100
source "$(dirname "$0")/../lib.sh"
need_root
VM=$BERTH_SRC/tests/vm/dm-vm.sh
command -v qemu-system-x86_64 >/dev/null || skip_all "no qemu-system-x86_64"
command -v mkfs.xfs >/dev/null || skip_all "no mkfs.xfs on the host to copy into the VM"
[ -n "${BERTH_SKIP_VM:-}" ] && skip_all "BERTH_SKIP_VM set"

DRV=$STOR_BIN/overlay
TREE=$BERTH_BUILD/tests/helpers/stor-tree
SUITE=$BERTH_SRC/tests/storage-conformance/run.sh
LOG=$(mktemp /tmp/berth-xfs-vm.$T.XXXXXX)
defer "rm -f $LOG"

# A loaded host sometimes makes the guest kernel panic at boot (timer checks): one retry.
for append in "${DM_VM_APPEND:-}" "${DM_VM_APPEND:-} noapic"; do
	DM_VM_QUIET=1 DM_VM_RAMDISK_MB=${DM_VM_RAMDISK_MB:-512} DM_VM_MEM=${DM_VM_MEM:-1536} \
		DM_VM_TIMEOUT=${DM_VM_TIMEOUT:-500} DM_VM_APPEND=$append \
		"$VM" -m xfs -m overlay -t mkfs.xfs -f "$DRV" -f "$TREE" -f "$SUITE" \
		-f "$BERTH_SRC/tests/vm/overlay-xfs.sh" \
		-- /bin/sh "$BERTH_SRC/tests/vm/overlay-xfs.sh" "$DRV" "$TREE" "$SUITE" >"$LOG" 2>&1
	rc=$?
	[ $rc -eq 125 ] || break
	diag "VM failed to start (status 125), retrying with '$append noapic'"
done
# every conformance case inside the VM is a check of this file
relay_tap "vm xfs" "$LOG" "$rc"
[ $rc -eq 124 ] && diag "the VM timed out"
[ $rc -eq 125 ] && { diag "the VM did not start or reported no status:"; sed 's/^/#   /' "$LOG" | tail -20; }
grep -q '^ok [0-9]* - CREATE with a size limit (quota supported)' "$LOG"
ok $? "XFS pquota: INIT reports size quota and CREATE with a size works"
grep -q '^ok [0-9]* - 32 MiB do not fit in a 16M layer' "$LOG"
ok $? "XFS pquota: a 16M layer refuses 32 MiB"
grep '^ok .*INIT on XFS ftype=0' "$LOG" | grep -vq '# SKIP' 
ok $? "XFS without d_type refused with code 13"
done_testing
