#!/bin/bash
# time-limit: 1000 (the VM times out at 900 s: that is reported as a failure first)
# containerd + berth-snapshotter on the devicemapper driver, inside the dm VM (the host kernel
# has no device-mapper): tests/vm/containerd-dm.sh runs tests/e2e/containerd.sh there with a
# thin pool on brd ramdisks.  containerd, ctr, runc and the shim are copied in from the host.
# The image is built here (the VM has no `file`).  The exit status is the VM's test status.
source "$(dirname "$0")/../lib.sh"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed"
for t in containerd ctr runc containerd-shim-runc-v2 sqlite3 jq thin_dump nsenter unshare ip; do
	command -v "$t" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$t" >/dev/null ||
		skip_all "$t not installed on the host (copied into the VM)"
done
for f in bin/berth-snapshotter bin/berth storage/devicemapper; do
	[ -x "$BERTH_BUILD/$f" ] || { echo "Bail out! $BERTH_BUILD/$f not built"; exit 1; }
done
BERTH_SRC=$(cd "$BERTH_SRC" && pwd)
BERTH_BUILD=$(cd "$BERTH_BUILD" && pwd)
W=$(mktemp -d /tmp/berth-ctrd-vm.XXXXXX)
trap 'rm -rf "$W"' EXIT # (also on a kill: trap 'exit 130' TERM from lib.sh)
bash "$BERTH_SRC/tests/e2e/mk-oci-image.sh" -n localhost/bbvm:1 "$W/image.tar" ||
	{ echo "Bail out! cannot build the image"; exit 1; }
export BERTH_SRC BERTH_BUILD E2E_IMAGE=$W/image.tar E2E_IMAGE_NAME=localhost/bbvm:1
export DM_VM_RAMDISKS=${DM_VM_RAMDISKS:-2} DM_VM_RAMDISK_MB=${DM_VM_RAMDISK_MB:-256}
export DM_VM_QUIET=${DM_VM_QUIET:-1} DM_VM_MEM=${DM_VM_MEM:-2048} DM_VM_TIMEOUT=${DM_VM_TIMEOUT:-900}
"$BERTH_SRC/tests/vm/dm-vm.sh" -t containerd -t ctr -t runc -t containerd-shim-runc-v2 \
	-t sqlite3 -t jq -t ip -t nsenter -t unshare -t mountpoint -t thin_dump -t tar -t mount -t umount \
	-f "$BERTH_BUILD/bin/berth-snapshotter" -f "$BERTH_BUILD/bin/berth" \
	-f "$BERTH_BUILD/storage/devicemapper" -f "$BERTH_SRC/tests" -f "$W" \
	-e BERTH_SRC -e BERTH_BUILD -e E2E_IMAGE -e E2E_IMAGE_NAME \
	-e BERTH_LOG_LEVEL="${BERTH_LOG_LEVEL:-error}" \
	-- "$BERTH_SRC/tests/vm/containerd-dm.sh"
exit $?
