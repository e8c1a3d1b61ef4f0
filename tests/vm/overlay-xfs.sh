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
# the suite's checks, then ours, under one plan
STOR_TREE=$TREE sh "$SUITE" "$DRV" /tmp/xfs.json >/tmp/suite.tap 2>&1 </dev/null
rc=$?
grep -v '^1\.\.' /tmp/suite.tap
n=$(grep -cE '^(not )?ok ' /tmp/suite.tap)
n=$((n + 1))
# V4 XFS without d_type: overlay would show whiteouts as files; the driver must refuse it.
if mkfs.xfs -f -q -m crc=0 -n ftype=0 /dev/ram1 2>/dev/null && mount -t xfs /dev/ram1 /mnt/noftype 2>/dev/null; then
	out=$(printf '{"root":"/mnt/noftype/root","runRoot":"/run/ovl-noftype"}' | STOR_COMMAND=INIT "$DRV")
	case $out in
	*'"code":13'*) echo "ok $n - INIT on XFS ftype=0 (no d_type) is code 13" ;;
	*) echo "not ok $n - INIT on XFS ftype=0 (no d_type) is code 13: $out"; rc=1 ;;
	esac
	umount /mnt/noftype
else
	echo "ok $n - INIT on XFS ftype=0 (no d_type) is code 13 # SKIP this mkfs.xfs/kernel cannot make or mount a V4 XFS without ftype"
fi
echo "1..$n"
umount /mnt/x
exit $rc
