#!/bin/sh
# Runs inside the dm-vm.sh VM (stock Debian kernel with XFS and quota support):
# the storage conformance suite for overlay on XFS mounted with pquota (size quotas),
# and INIT refusing an XFS without d_type (ftype=0).
#   overlay-xfs.sh DRIVER STOR_TREE SUITE
set -u
DRV=$1
TREE=$2
SUITE=$3
mkdir -p /mnt/x /mnt/noftype
mkfs.xfs -f -q /dev/ram0 || { echo "Bail out! mkfs.xfs failed"; exit 1; }
mount -t xfs -o pquota /dev/ram0 /mnt/x || { echo "Bail out! mount -o pquota failed"; exit 1; }
printf '{"root":"/mnt/x/root","runRoot":"/run/ovl-xfs"}\n' >/tmp/xfs.json
STOR_TREE=$TREE sh "$SUITE" "$DRV" /tmp/xfs.json
rc=$?
# V4 XFS without d_type: overlay would show whiteouts as files; the driver must refuse it.
if mkfs.xfs -f -q -m crc=0 -n ftype=0 /dev/ram1 2>/dev/null && mount -t xfs /dev/ram1 /mnt/noftype 2>/dev/null; then
	out=$(printf '{"root":"/mnt/noftype/root","runRoot":"/run/ovl-noftype"}' | STOR_COMMAND=INIT "$DRV")
	case $out in
	*'"code":13'*) echo "ok - INIT on XFS ftype=0 (no d_type) is code 13" ;;
	*) echo "not ok - INIT on XFS ftype=0 (no d_type) is code 13: $out"; rc=1 ;;
	esac
	umount /mnt/noftype
else
	echo "ok # SKIP this mkfs.xfs/kernel cannot make or mount a V4 XFS without ftype"
fi
umount /mnt/x
exit $rc
