#!/bin/bash
# time-limit: 1300 (the VM times out at 1200 s: that is reported as a failure first)
# berth-snapshotter on the devicemapper driver, on a real kernel device-mapper: boots the dm-vm
# (the host kernel has no device-mapper) with the daemon, the driver and snap-client, and runs
# tests/vm/snapshotter-dm-inner.sh there (TAP).  The exit status is the VM's test status.
source "$(dirname "$0")/../lib.sh"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed"
for b in bin/berth-snapshotter storage/devicemapper tests/helpers/snap-client tests/helpers/stor-tree; do
	[ -x "$BERTH_BUILD/$b" ] || skip_all "$b not built"
done
BERTH_SRC=$(cd "$BERTH_SRC" && pwd)
BERTH_BUILD=$(cd "$BERTH_BUILD" && pwd)
export BERTH_SRC BERTH_BUILD
export DM_VM_RAMDISKS=${DM_VM_RAMDISKS:-2} DM_VM_RAMDISK_MB=${DM_VM_RAMDISK_MB:-256}
export DM_VM_QUIET=${DM_VM_QUIET:-1} DM_VM_MEM=${DM_VM_MEM:-1024} DM_VM_TIMEOUT=${DM_VM_TIMEOUT:-1200}
trap - EXIT
exec "$BERTH_SRC/tests/vm/dm-vm.sh" -t resize2fs \
	-f "$BERTH_BUILD/bin/berth-snapshotter" -f "$BERTH_BUILD/storage/devicemapper" \
	-f "$BERTH_BUILD/tests/helpers/snap-client" -f "$BERTH_BUILD/tests/helpers/stor-tree" \
	-f "$BERTH_SRC/tests" \
	-e BERTH_SRC -e BERTH_BUILD -e BERTH_LOG_LEVEL="${BERTH_LOG_LEVEL:-error}" \
	-- "$BERTH_SRC/tests/vm/snapshotter-dm-inner.sh"
