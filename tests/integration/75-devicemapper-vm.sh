#!/bin/bash
# The devicemapper driver on a real kernel device-mapper: boots the dm-vm once (the host kernel
# has no device-mapper) and runs tests/vm/devicemapper-inner.sh inside it, which prints TAP:
# bad configs, layers on brd block devices, deferred removal/deletion, crash recovery and GC,
# restart, pool nearly full, the berth storage CLI as a client, the crash-injection matrix
# (FAULT=1 driver), then the shared storage conformance suite, each case a check here.  A VM
# that does not boot, or that times out, is a failure.
# time-limit: 2000
source "$(dirname "$0")/../lib.sh"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed"
[ -x "$BERTH_BUILD/storage/devicemapper" ] || skip_all "driver not built"
for t in jq thin_dump resize2fs; do
	command -v "$t" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$t" >/dev/null ||
		skip_all "$t not installed on the host (copied into the VM)"
done
BERTH_SRC=$(cd "$BERTH_SRC" && pwd)
BERTH_BUILD=$(cd "$BERTH_BUILD" && pwd)
export BERTH_SRC BERTH_BUILD
export DM_VM_RAMDISKS=${DM_VM_RAMDISKS:-4} DM_VM_RAMDISK_MB=${DM_VM_RAMDISK_MB:-256}
export DM_VM_QUIET=${DM_VM_QUIET:-1} DM_VM_MEM=${DM_VM_MEM:-1536} DM_VM_TIMEOUT=${DM_VM_TIMEOUT:-1800}
xfs=()
if PATH=$PATH:/usr/sbin:/sbin command -v mkfs.xfs >/dev/null; then xfs=(-m xfs -t mkfs.xfs -t xfs_growfs); fi
# The crash matrix runs the FAULT=1 driver (make FAULT=1; `make check` builds it).  Without
# it the matrix fails inside the VM, except in the sanitizer tier, which has no FAULT build.
BERTH_FAULT_BUILD=${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}
fault=()
[ -x "$BERTH_FAULT_BUILD/storage/devicemapper" ] && fault=(-f "$BERTH_FAULT_BUILD/storage/devicemapper")
export BERTH_FAULT_BUILD SANITIZE=${SANITIZE:-}
# the berth CLI, when built, drives the devicemapper driver as a real client would
cli=()
[ -x "$BERTH_BUILD/bin/berth" ] && cli=(-f "$BERTH_BUILD/bin/berth")
LOG=$(mktemp /tmp/berth-dm-vm.$T.XXXXXX)
defer "rm -f $LOG"
"$BERTH_SRC/tests/vm/dm-vm.sh" -t jq -t resize2fs -t tar -t gzip "${xfs[@]}" \
	-f "$BERTH_BUILD/storage/devicemapper" -f "$BERTH_BUILD/tests/helpers/stor-tree" "${cli[@]}" \
	-f "$BERTH_SRC/tests" "${fault[@]}" \
	-e BERTH_SRC -e BERTH_BUILD -e BERTH_FAULT_BUILD -e SANITIZE \
	-e BERTH_LOG_LEVEL="${BERTH_LOG_LEVEL:-error}" \
	-- "$BERTH_SRC/tests/vm/devicemapper-inner.sh" >"$LOG" 2>&1
rc=$?
relay_tap vm "$LOG" "$rc"
[ $rc -eq 124 ] && diag "the VM timed out after ${DM_VM_TIMEOUT}s"
[ $rc -eq 125 ] && { diag "the VM did not start or reported no status:"; sed 's/^/#   /' "$LOG" | tail -20; }
done_testing
