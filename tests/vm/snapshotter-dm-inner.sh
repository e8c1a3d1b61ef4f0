#!/bin/bash
# Runs INSIDE the dm-vm (tests/vm/dm-vm.sh) as root: berth-snapshotter on the devicemapper driver
# (a thin pool on brd ramdisks /dev/ram0 + /dev/ram1), driven through its socket by snap-client
# as containerd drives it: Prepare/View return ext4 thin devices, the test mounts the specs,
# Commit deactivates, Remove refuses a device still mounted and then deletes it, a restart keeps
# active devices usable, Cleanup and the final removals leave no thin device.  TAP on stdout.
source "$BERTH_SRC/tests/lib.sh"
SNAP=$BERTH_BUILD/bin/berth-snapshotter
SC=$BERTH_BUILD/tests/helpers/snap-client
TREE=$BERTH_BUILD/tests/helpers/stor-tree
W=$(mktemp -d /tmp/snapdm.XXXXXX)
SOCK=$W/sock/s.sock
printf '{"driver":"devicemapper","root":"%s/storage","runRoot":"%s/run","options":{"devicemapper":{"data_device":"/dev/ram1","metadata_device":"/dev/ram0","base_size":"128M","require_udev_sync":false}}}\n' \
	"$W" "$W" >"$W/storage.json"
PID=
start() {
	BERTH_STORAGE_PATH=$BERTH_BUILD/storage BERTH_LOG_LEVEL=info "$SNAP" --address "$SOCK" \
		--storage-config "$W/storage.json" >>"$W/log" 2>&1 &
	PID=$!
	for _i in $(seq 1 300); do
		SNAP_CLIENT_TIMEOUT=5 "$SC" "$SOCK" list >/dev/null 2>&1 && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.2
	done
	diag "$(tail -5 "$W/log")"
	return 1
}
stop() { kill -TERM "$PID"; wait "$PID"; RC_STOP=$?; PID=; }
defer 'kill -KILL $PID 2>/dev/null'
sc() { OUT=$("$SC" "$SOCK" "$@" 2>&1); RC=$?; }
get() { printf '%s' "$OUT" | "$TREE" get "$1" 2>/dev/null; }
mnt() { sc mounts "$1" && mkdir -p "$2" && printf '%s' "$OUT" | "$TREE" mount-specs "$2"; }
active() { dmsetup info "${1##*/}" >/dev/null 2>&1; }
thin_count() { dmsetup ls 2>/dev/null | grep -v pool | grep -c "^berth-" ; }

start
ok $? "the daemon starts on devicemapper"
grep -q "storage driver devicemapper" "$W/log"
ok $? "the storage config selected devicemapper"
base_devs=$(thin_count)

sc prepare base-a
is "$RC" 0 "Prepare"
is "$(get mounts.0.type)" ext4 "the mount is an ext4 filesystem"
DEV=$(get mounts.0.source)
case $DEV in /dev/mapper/*) ok 0 "on a device-mapper device ($DEV)" ;; *) ok 1 "on a device-mapper device ($DEV)" ;; esac
active "$DEV"
ok $? "Prepare activated the thin device"
mnt base-a "$W/m"
ok $? "the specs mount"
echo base >"$W/m/base" && mkdir "$W/m/dir"
ok $? "write into the active snapshot"
umount "$W/m"
sc commit base base-a
is "$RC" 0 "Commit"
! active "$DEV"
ok $? "Commit deactivated the device (as containerd's devmapper snapshotter does)"
sc mounts base
is "$RC" 9 "Mounts of the committed snapshot is FailedPrecondition"

sc prepare c1 base
D1=$(get mounts.0.source)
mnt c1 "$W/c1"
is "$(cat "$W/c1/base")" base "a child snapshot shows its parent's file"
echo mine >"$W/c1/mine" && rm "$W/c1/base"
sc view v1 base
is "$(get mounts.0.options)" '["ro"]' "a view's mount is read-only"
mnt v1 "$W/v1"
is "$(cat "$W/v1/base")" base "the view shows the committed tree"
[ ! -e "$W/v1/mine" ]
ok $? "and nothing of the active child"
( : >"$W/v1/x" ) 2>/dev/null
[ $? -ne 0 ]
ok $? "the view refuses writes"
sc usage c1
[ "$(get size)" -gt 0 ] 2>/dev/null
ok $? "Usage of the active snapshot ($(get size) bytes)"

# deferred removal is the driver's default: Remove of a device still mounted succeeds and the
# kernel drops the device at its last close; with deferred_removal off it is FailedPrecondition
sc remove c1
is "$RC" 0 "Remove while the device is mounted succeeds (deferred removal)"
sc stat c1
is "$RC" 5 "the snapshot is gone"
active "$D1"
ok $? "its device stays while mounted"
umount "$W/c1"
! active "$D1"
ok $? "and goes at the unmount"
echo '{"driver":"devicemapper","root":"'"$W"'/storage","runRoot":"'"$W"'/run","options":{"devicemapper":{"data_device":"/dev/ram1","metadata_device":"/dev/ram0","base_size":"128M","require_udev_sync":false,"deferred_removal":false,"deferred_deletion":false}}}' >"$W/storage.json"
stop
start
ok $? "restart with deferred_removal off"
sc prepare c3 base
D3=$(get mounts.0.source)
mnt c3 "$W/c3"
sc remove c3
is "$RC" 9 "then Remove while the device is mounted is FailedPrecondition"
sc stat c3
is "$RC" 0 "and the snapshot stays"
umount "$W/c3"
sc remove c3
is "$RC" 0 "Remove once unmounted"
! active "$D3"
ok $? "the device is gone"

# a restart keeps what an active snapshot needs
sc prepare c2 base
D2=$(get mounts.0.source)
stop
is "$RC_STOP" 0 "SIGTERM: exit 0"
active "$D2"
ok $? "the active snapshot's device stays active across the daemon's exit (containerd may hold it)"
start
ok $? "the daemon restarts"
mnt c2 "$W/c2"
is "$(cat "$W/c2/base" 2>/dev/null)" base "Mounts after the restart: the snapshot mounts and shows its parent"
umount "$W/c2"
umount "$W/v1"

for k in c2 v1 base; do sc remove $k; [ "$RC" = 0 ] || break; done
is "$RC" 0 "remove everything, children first"
sc cleanup
is "$RC" 0 "Cleanup"
is "$(thin_count)" "$base_devs" "no thin device of a snapshot is left active"
sc list
is "$(get infos)" "[]" "List is empty"
stop
is "$RC_STOP" 0 "the daemon stops"
done_testing
