#!/bin/bash
# The overlay driver on XFS with project quotas (size limits) and on XFS without d_type.
# This machine's kernel has neither XFS nor its quota support, so it runs inside the VM of
# tests/vm/dm-vm.sh (stock Debian kernel): skipped when the VM cannot start.
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
		DM_VM_TIMEOUT=${DM_VM_TIMEOUT:-900} DM_VM_APPEND=$append \
		"$VM" -m xfs -m overlay -t mkfs.xfs -f "$DRV" -f "$TREE" -f "$SUITE" \
		-f "$BERTH_SRC/tests/vm/overlay-xfs.sh" \
		-- /bin/sh "$BERTH_SRC/tests/vm/overlay-xfs.sh" "$DRV" "$TREE" "$SUITE" >"$LOG" 2>&1
	rc=$?
	[ $rc -eq 125 ] || break
	diag "VM failed to start (status 125), retrying with '$append noapic'"
done
if [ $rc -eq 124 ] || [ $rc -eq 125 ]; then
	sed 's/^/# /' "$LOG" | tail -20
	skip_all "the VM did not run (status $rc)"
fi
sed -n 's/^\(not ok\|ok\)/# vm: \1/p; s/^# /# vm: # /p' "$LOG" | grep -v '^# vm: # vm' | head -200
grep -q '^ok [0-9]* - CREATE with a size limit (quota supported)' "$LOG"
ok $? "XFS pquota: INIT reports size quota and CREATE with a size works"
grep -q '^ok [0-9]* - 32 MiB do not fit in a 16M layer' "$LOG"
ok $? "XFS pquota: a 16M layer refuses 32 MiB"
grep -q '^ok .*INIT on XFS ftype=0' "$LOG"
ok $? "XFS without d_type refused with code 13"
ok $rc "the whole conformance suite passes on XFS with pquota (VM status $rc)"
done_testing
