#!/bin/bash
# Disk full through the CLI (issue 7): `berth storage import` onto a store on a 4 MiB tmpfs,
# where the second layer of the image does not fit.  The import fails with the driver's "no
# space" (code 14), no image is registered, the layer that failed is gone from the driver and
# from disk (no layer dir, no staging entry), and the store keeps working: a small image
# imports and mounts afterwards.  (The driver-level checks are in the conformance suite.)
if [ -z "${BERTH_STFULL_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	BERTH_STFULL_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/../lib.sh"
need_root
grep -qw overlay /proc/filesystems || skip_all "no overlay filesystem"
BERTH=$BERTH_BUILD/bin/berth
[ -x "$BERTH" ] || skip_all "no berth CLI in this build"

W=$(mktemp -d /tmp/berth-stfull.$T.XXXXXX)
mkdir -p "$W/small" "$W/src"
mount -t tmpfs -o size=4m tmpfs "$W/small" || skip_all "cannot mount a tmpfs"
R=$W/small/root
defer "rm -rf $W"
defer "umount -l $W/small"
defer "echo '{\"root\":\"$R/overlay\",\"runRoot\":\"$W/small/run/overlay\"}' | STOR_COMMAND=CLEANUP $STOR_BIN/overlay >/dev/null"
export BERTH_STORAGE_CONFIG=$W/storage.json BERTH_STORAGE_PATH=$STOR_BIN
printf '{"driver":"overlay","root":"%s","runRoot":"%s/small/run"}\n' "$R" "$W" >"$W/storage.json"

# Layer 1: a few small files.  Layer 2: 8 MiB that do not compress, twice the store.
mkdir -p "$W/src/l1/etc" "$W/src/l2/data" "$W/src/l3/etc"
echo one >"$W/src/l1/etc/one"
head -c 8388608 /dev/urandom >"$W/src/l2/data/big"
echo three >"$W/src/l3/etc/three"
for l in l1 l2 l3; do tar --numeric-owner -C "$W/src/$l" -cf "$W/$l.tar" .; done

out=$($BERTH storage import --name toobig "$W/l1.tar" "$W/l2.tar" 2>&1)
rc=$?
[ $rc -ne 0 ]; ok $? "import of an image larger than the store fails (rc $rc)"
grep -qiE 'space|code 14' <<<"$out"; ok $? "the error says no space: $(head -c 200 <<<"$out")"
ls=$($BERTH storage --json ls)
is "$(jq -c '[.images[].name]' <<<"$ls")" '[]' "no image registered"
drv_ids=$("$BERTH_BUILD/tests/helpers/stor-tree" request <(printf '{"root":"%s/overlay","runRoot":"%s/small/run/overlay"}' "$R" "$W") '{}' |
	STOR_COMMAND=LIST "$STOR_BIN/overlay" | jq -r '.ids | length')
is "$(jq '.layers | length' <<<"$ls")" "$drv_ids" "the core and the driver agree on the layers"
[ "$drv_ids" -le 1 ]; ok $? "at most the first (complete) layer is left in the driver ($drv_ids)"
left=$(cd "$R/overlay" && ls -A | grep -vxE 'l|staging|\.lock|quota-projid' |
	while read -r d; do [ -e "$d/incomplete" ] && echo "incomplete $d"; done)
is "$left" "" "no incomplete layer dir on disk"
is "$(ls -A "$R/overlay/staging")" "" "no staging leftover"
used=$(df -k --output=used "$W/small" | tail -1)
[ "$used" -lt 1024 ]; ok $? "the space of the failed layer is free again (${used} KiB used)"

check "a small image imports into the same store" -- $BERTH storage import --name small "$W/l1.tar" "$W/l3.tar"
is "$($BERTH storage --json ls | jq -r '[.images[].name] | join(",")')" small "the small image is registered"
check "a container rootfs on it" -- $BERTH storage create small --name c1$T
m=$($BERTH storage --json mount c1$T | jq -r .path)
is "$(cat "$m/etc/one" "$m/etc/three" 2>&1 | tr '\n' ' ')" "one three " "its files are there"
$BERTH storage rm --force c1$T >/dev/null 2>&1
done_testing
