#!/bin/bash
# Runs INSIDE the dm-vm (tests/vm/dm-vm.sh) as root, on a real kernel device-mapper: the
# devicemapper driver's own cases, the crash-injection matrix (devicemapper-crash.sh, with the
# FAULT=1 driver at $BERTH_FAULT_BUILD/storage/devicemapper), then the shared storage
# conformance suite.  TAP on stdout.
# Needs: BERTH_BUILD (the driver at $BERTH_BUILD/storage/devicemapper), BERTH_SRC; brd ramdisks
# /dev/ram0 (pool metadata), /dev/ram1 (pool data), /dev/ram2, /dev/ram3 (bad-config cases).
source "$BERTH_SRC/tests/lib.sh"
set -o pipefail
DRV=$BERTH_BUILD/storage/devicemapper
W=$(mktemp -d /tmp/dmtest.XXXXXX)
export BERTH_LOG_LEVEL=${BERTH_LOG_LEVEL:-error}

# drv ROOT OPTIONS-JSON VERB [ARGS-JSON]: run one verb; stdout = the result JSON.  The request
# is built with printf, not jq: under TCG every process start costs ~0.5 s (roots and ids here
# need no escaping).
drv() {
	local root=$1 opts=$2 verb=$3 args=${4:-'{}'}
	printf '{"protocolVersion":"1.0.0","driver":"devicemapper","root":"%s","runRoot":"%s-run","options":%s,"args":%s}' \
		"$root" "$root" "$opts" "$args" | STOR_COMMAND=$verb "$DRV"
}
# jget KEY[.KEY|.N] <JSON: one value, strings raw (the stor-tree helper: jq costs ~1.7 s a start
# under TCG, this ~0.1 s)
TREE=$BERTH_BUILD/tests/helpers/stor-tree
jget() { "$TREE" get "$1"; }
# code RESULT-JSON: the error code, 0 for a result without one, parse-error for no JSON at all
code() {
	if [[ $1 =~ \"code\":([0-9]+) ]]; then echo "${BASH_REMATCH[1]}"
	elif [[ $1 == '{"'*'}' ]]; then echo 0
	else echo parse-error; fi
}

# thin device ids in the pool, from a metadata snapshot (read back from the kernel's metadata)
thin_ids() { # POOL METADATA-DEV
	dmsetup message "$1" 0 reserve_metadata_snap >/dev/null || return 1
	thin_dump --metadata-snap "$2" 2>/dev/null | sed -n 's/.*<device dev_id="\([0-9]*\)".*/\1/p' | sort -n | tr '\n' ' '
	dmsetup message "$1" 0 release_metadata_snap >/dev/null
}

mounted() { grep -q " $1 " /proc/mounts; }

mktar() { # OUT DIR: a tar of DIR's contents
	tar -C "$2" -cf "$1" .
}

OPTS='{"data_device":"/dev/ram1","metadata_device":"/dev/ram0","base_size":"512M","require_udev_sync":false}'
R=$W/root

# ------------------------------------------------------------------ bad configuration
dm_before=$(dmsetup ls | sort)
loops_before=$(ls /sys/block | grep -c '^loop' || true)
bad() { # DESC WANT-CODE OPTIONS
	local root=$W/bad$_tap_n out
	out=$(drv "$root" "$3" INIT)
	is "$(code "$out")" "$2" "bad config: $1 -> code $2"
	[ "$(code "$out")" = "$2" ] || diag "$out"
	ok "$([ ! -e "$root" ] && [ "$(dmsetup ls | sort)" = "$dm_before" ]; echo $?)" "bad config: $1 -> nothing created"
}
bad "data device missing" 7 '{"data_device":"/dev/nonexistent","metadata_device":"/dev/ram0","require_udev_sync":false}'
bad "data device not a block device" 7 '{"data_device":"/etc/passwd","metadata_device":"/dev/ram0","require_udev_sync":false}'
mkfs.ext4 -q -F /dev/ram2 && mkdir -p $W/inuse && mount /dev/ram2 $W/inuse
bad "data device in use (mounted)" 10 '{"data_device":"/dev/ram2","metadata_device":"/dev/ram0","require_udev_sync":false}'
bad "metadata device in use (mounted)" 10 '{"data_device":"/dev/ram3","metadata_device":"/dev/ram2","require_udev_sync":false}'
bad "metadata device missing" 7 '{"data_device":"/dev/ram1","metadata_device":"/dev/nonexistent","require_udev_sync":false}'
umount $W/inuse
bad "invalid base size" 7 '{"data_device":"/dev/ram1","metadata_device":"/dev/ram0","base_size":"12Q","require_udev_sync":false}'
bad "base size too small" 7 '{"data_device":"/dev/ram1","metadata_device":"/dev/ram0","base_size":"1M","require_udev_sync":false}'
bad "missing thin pool" 7 '{"pool_name":"no-such-pool","require_udev_sync":false}'
bad "no pool source at all" 7 '{"require_udev_sync":false}'
bad "udev sync required but unavailable" 12 '{"data_device":"/dev/ram1","metadata_device":"/dev/ram0"}'
hdr=$(head -c 8192 /dev/ram2 | md5sum)
bad "metadata device not empty" 7 '{"data_device":"/dev/ram3","metadata_device":"/dev/ram2","require_udev_sync":false}'
is "$(head -c 8192 /dev/ram2 | md5sum)" "$hdr" "bad config: the non-empty metadata device was not written"
# an admin-made pool with 64 KiB blocks, configured as 128 KiB
dd if=/dev/zero of=/dev/ram3 bs=4096 count=1 2>/dev/null
dmsetup create "adm$T" --table "0 $(blockdev --getsz /dev/ram2) thin-pool /dev/ram3 /dev/ram2 128 0" 2>/dev/null ||
	dmsetup create "adm$T" --table "0 $(( $(blockdev --getsz /dev/ram2) / 128 * 128 )) thin-pool /dev/ram3 /dev/ram2 128 0"
dm_before=$(dmsetup ls | sort)
bad "existing pool with the wrong block size" 7 "{\"pool_name\":\"adm$T\",\"block_size\":\"128K\",\"require_udev_sync\":false}"
dmsetup create "lin$T" --table "0 8192 zero"
dm_before=$(dmsetup ls | sort)
bad "pool_name names a device that is not a thin-pool" 13 "{\"pool_name\":\"lin$T\",\"require_udev_sync\":false}"
bad "unknown option" 2 '{"data_device":"/dev/ram1","metadata_device":"/dev/ram0","bogus":1,"require_udev_sync":false}'
# the admin's pool already holds thin devices 1 and 2 (as an LVM thin pool would): the driver
# takes other ids and never touches those two
dmsetup message "adm$T" 0 "create_thin 1" && dmsetup message "adm$T" 0 "create_thin 2"
AO="{\"pool_name\":\"adm$T\",\"require_udev_sync\":false,\"base_size\":\"64M\"}"
out=$(drv "$W/admroot" "$AO" INIT)
is "$(jget poolOwned <<<"$out")" false "existing pool with thin devices 1 and 2 adopted (not owned)" || diag "$out"
is "$(code "$(drv "$W/admroot" "$AO" CREATE '{"id":"a1"}')")" 0 "CREATE in the existing pool"
drv "$W/admroot" "$AO" GC >/dev/null
is "$(thin_ids "adm$T" /dev/ram3)" "1 2 3 4 " "existing pool: the admin's devices 1 and 2 untouched, ours are 3 (base) and 4"
drv "$W/admroot" "$AO" REMOVE '{"id":"a1"}' >/dev/null
drv "$W/admroot" "$AO" CLEANUP >/dev/null
ok "$(dmsetup info "adm$T" >/dev/null 2>&1; echo $?)" "CLEANUP leaves a pool it does not own"
is "$(thin_ids "adm$T" /dev/ram3)" "1 2 3 " "existing pool: REMOVE deleted only our layer's device"
dmsetup remove "adm$T"
dm_before=$(dmsetup ls | sort)
ok "$([ "$(ls /sys/block | grep -c '^loop' || true)" = "$loops_before" ]; echo $?)" "bad configs attached no loop device"

# ------------------------------------------------------------------ layers on block devices
out=$(drv "$R" "$OPTS" INIT)
is "$(code "$out")" 0 "INIT on data+metadata block devices"
POOL=$(jget pool <<<"$out")
ok "$(dmsetup status "$POOL" | grep -q ' thin-pool '; echo $?)" "pool $POOL is a live thin-pool"
ok "$(dmsetup table "$POOL" | grep -q 'error_if_no_space'; echo $?)" "pool errors (not hangs) when full"
is "$(thin_ids "$POOL" /dev/ram0)" "1 " "pool holds only the base device"
is "$(code "$(drv "$R" "$OPTS" INIT)")" 0 "INIT again is idempotent"
st=$(drv "$R" "$OPTS" STATUS)
ok "$(jq -e '.dataTotal > 0 and .metadataTotal > 0 and .health == "ok" and .minFreeSpacePercent == 10 and (.pairs|length) > 5' <<<"$st" >/dev/null; echo $?)" "STATUS reports pool usage and thresholds"
read -r _ _ _ _ meta data _ <<<"$(dmsetup status "$POOL")"
is "$(jq -r '"\(.dataTotal) \(.dataUsed) \(.metadataTotal) \(.metadataUsed) \(.lowSpaceThreshold)"' <<<"$st")" \
	"$((${data#*/} * 65536)) $((${data%/*} * 65536)) $((${meta#*/} * 4096)) $((${meta%/*} * 4096)) $((${data#*/} * 65536 * 10 / 100))" \
	"STATUS usage and low-space threshold match the kernel's pool status ($data data, $meta metadata blocks)"
read -r _ _ _ _ _ bs lw _ <<<"$(dmsetup table "$POOL")"
is "$bs $lw" "128 $((${data#*/} * 10 / 100))" "pool's low water mark is min_free_space of its data blocks"

mkdir -p $W/t1/etc $W/t1/bin $W/t2
echo one >$W/t1/etc/hostname
echo gone >$W/t1/etc/old
head -c 300000 /dev/urandom >$W/t1/bin/blob
ln -s ../etc/hostname $W/t1/bin/link
mktar $W/l1.tar $W/t1
mkdir -p $W/t2/etc && echo two >$W/t2/etc/new && touch $W/t2/etc/.wh.old
mktar $W/l2.tar $W/t2

is "$(code "$(drv "$R" "$OPTS" CREATE '{"id":"l1"}')")" 0 "CREATE l1 (snapshot of the base)"
is "$(code "$(drv "$R" "$OPTS" CREATE '{"id":"l1"}')")" 8 "CREATE l1 again -> exists (8)"
is "$(code "$(drv "$R" "$OPTS" CREATE '{"id":"x","parent":"nope"}')")" 3 "CREATE on a missing parent -> 3"
out=$(drv "$R" "$OPTS" APPLY_DIFF "{\"id\":\"l1\",\"stream\":{\"path\":\"$W/l1.tar\"}}")
ok "$([ "$(jget size <<<"$out")" -ge 300000 ]; echo $?)" "APPLY_DIFF l1 reports its size" || diag "$out"
is "$(code "$(drv "$R" "$OPTS" CREATE '{"id":"l2","parent":"l1"}')")" 0 "CREATE l2 on l1"
out=$(drv "$R" "$OPTS" APPLY_DIFF "{\"id\":\"l2\",\"stream\":{\"path\":\"$W/l2.tar\"}}")
is "$(code "$out")" 0 "APPLY_DIFF l2 with a whiteout"
is "$(code "$(drv "$R" "$OPTS" CREATE '{"id":"c1","parent":"l2"}')")" 0 "CREATE container c1 on l2"
out=$(drv "$R" "$OPTS" MOUNT '{"id":"c1"}')
M=$(jget path <<<"$out")
ok "$(mounted "$M"; echo $?)" "MOUNT c1 mounts at $M"
dev=$(jget mounts.0.source <<<"$out")
ok "$(grep -q "^$dev $M ext4" /proc/mounts; echo $?)" "c1 is its own thin device with ext4 ($dev)"
is "$(cat "$M/etc/hostname" 2>&1)" one "l1's file visible through c1"
is "$(cat "$M/etc/new" 2>&1)" two "l2's file visible through c1"
ok "$([ ! -e "$M/etc/old" ]; echo $?)" "l2's whiteout deleted l1's file"
ok "$(cmp -s "$M/bin/blob" "$W/t1/bin/blob"; echo $?)" "300 KB blob intact"
is "$(readlink "$M/bin/link")" ../etc/hostname "symlink intact"
ok "$([ ! -e "$M/lost+found" ]; echo $?)" "no lost+found in a rootfs"
echo written >"$M/etc/container-file"
out=$(drv "$R" "$OPTS" MOUNT '{"id":"c1"}')
is "$(jget path <<<"$out")" "$M" "second MOUNT returns the same path"
is "$(drv "$R" "$OPTS" UNMOUNT '{"id":"c1"}' | jget refs)" 1 "UNMOUNT drops one reference"
ok "$(mounted "$M"; echo $?)" "still mounted with one reference"
is "$(code "$(drv "$R" "$OPTS" REMOVE '{"id":"c1"}')")" 10 "REMOVE of a mounted layer -> busy (10)"
is "$(drv "$R" "$OPTS" UNMOUNT '{"id":"c1"}' | jget refs)" 0 "last UNMOUNT"
ok "$(! mounted "$M" && ! dmsetup info "${dev#/dev/mapper/}" >/dev/null 2>&1; echo $?)" "unmounted and deactivated"
is "$(code "$(drv "$R" "$OPTS" UNMOUNT '{"id":"c1"}')")" 0 "UNMOUNT when not mounted succeeds"

out=$(drv "$R" "$OPTS" CHANGES '{"id":"c1"}')
is "$(jq -c '[.changes[] | select(.path|test("container-file")) | .kind]' <<<"$out")" '["added"]' "CHANGES c1: container-file added"
out=$(drv "$R" "$OPTS" CHANGES '{"id":"l2"}')
is "$(jq -c '[.changes[] | select(.path|test("old")) | .kind]' <<<"$out")" '["deleted"]' "CHANGES l2: etc/old deleted"
is "$(jq -c '[.changes[] | select(.path|test("new")) | .kind]' <<<"$out")" '["added"]' "CHANGES l2: etc/new added"
out=$(drv "$R" "$OPTS" DIFF "{\"id\":\"l2\",\"stream\":{\"path\":\"$W/d2.tar\"}}")
is "$(code "$out")" 0 "DIFF l2"
tar -tf $W/d2.tar | sed 's|^\./||' | sort >$W/d2.list
ok "$(grep -qx 'etc/.wh.old' $W/d2.list && grep -qx 'etc/new' $W/d2.list && ! grep -q blob $W/d2.list; echo $?)" \
	"DIFF l2 carries the whiteout and the new file, not l1's files"
ds=$(drv "$R" "$OPTS" DIFF_SIZE '{"id":"l2"}' | jget size)
is "$ds" 4 "DIFF_SIZE l2 = 4 bytes (etc/new)"
out=$(drv "$R" "$OPTS" USAGE '{"id":"l1"}')
ok "$([ "$(jget size <<<"$out")" -gt 0 ] && [ "$(jget inodes <<<"$out")" -gt 0 ]; echo $?)" "USAGE l1 (mapped bytes, inodes)"
out=$(drv "$R" "$OPTS" METADATA '{"id":"l2"}')
ok "$([ "$(jget DeviceId <<<"$out")" -gt 1 ] && [ "$(jget DeviceSize <<<"$out")|$(jget Parent <<<"$out")" = 536870912\|l1 ]; echo $?)" "METADATA l2"
is "$(drv "$R" "$OPTS" LIST | jget ids)" '["c1","l2","l1"]' "LIST in safe removal order"
is "$(drv "$R" "$OPTS" EXISTS '{"id":"l2"}' | jget exists)" true "EXISTS l2"
is "$(code "$(drv "$R" "$OPTS" REMOVE '{"id":"l1"}')")" 9 "REMOVE l1 with children -> 9"

# a parent mounted (active) while it is snapshotted: the origin is suspended for create_snap
out=$(drv "$R" "$OPTS" MOUNT '{"id":"l2"}'); M2=$(jget path <<<"$out")
is "$(code "$(drv "$R" "$OPTS" CREATE '{"id":"c2","parent":"l2"}')")" 0 "CREATE c2 while its parent is mounted"
ok "$(touch "$M2/etc/after-snap"; echo $?)" "parent resumed and writable after the snapshot"
drv "$R" "$OPTS" UNMOUNT '{"id":"l2"}' >/dev/null
M3=$(drv "$R" "$OPTS" MOUNT '{"id":"c2"}' | jget path)
ok "$([ -e "$M3/etc/new" ] && [ ! -e "$M3/etc/after-snap" ]; echo $?)" "c2 sees l2 as it was at snapshot time"
drv "$R" "$OPTS" UNMOUNT '{"id":"c2"}' >/dev/null

# growth: a container with a larger size than its parent gets a grown filesystem
is "$(code "$(drv "$R" "$OPTS" CREATE '{"id":"big","parent":"l2","size":"1G"}')")" 0 "CREATE with size 1G (grows the fs)"
Mb=$(drv "$R" "$OPTS" MOUNT '{"id":"big"}' | jget path)
sz=$(df -kP "$Mb" | awk 'NR==2 {print $2}')
ok "$([ "$sz" -gt 700000 ]; echo $?)" "big's filesystem is ~1G ($sz KiB)"
drv "$R" "$OPTS" UNMOUNT '{"id":"big"}' >/dev/null
is "$(code "$(drv "$R" "$OPTS" REMOVE '{"id":"big"}')")" 0 "REMOVE big"

# ------------------------------------------------------------------ busy device: deferred removal + deletion
out=$(drv "$R" "$OPTS" MOUNT '{"id":"c2"}')
dev=$(jget mounts.0.source <<<"$out")
devid=$(drv "$R" "$OPTS" METADATA '{"id":"c2"}' | jget DeviceId)
exec 7<"$dev" # someone else holds the device (as a mount leaked into another namespace would)
drv "$R" "$OPTS" UNMOUNT '{"id":"c2"}' >/dev/null
out=$(drv "$R" "$OPTS" REMOVE '{"id":"c2"}')
is "$(jget deferred <<<"$out")" true "REMOVE of a busy device is deferred"
is "$(drv "$R" "$OPTS" EXISTS '{"id":"c2"}' | jget exists)" false "deferred layer no longer exists for the protocol"
is "$(code "$(drv "$R" "$OPTS" CREATE '{"id":"c2","parent":"l2"}')")" 0 "its id can be reused at once"
ok "$(thin_ids "$POOL" /dev/ram0 | grep -qw "$devid"; echo $?)" "thin device $devid still in the pool while held"
out=$(drv "$R" "$OPTS" GC)
ok "$([[ $(jget pending <<<"$out") == *\"thin:$devid\"* ]]; echo $?)" "GC reports it pending while held"
exec 7<&-
ok "$(! dmsetup info "${dev#/dev/mapper/}" >/dev/null 2>&1; echo $?)" "kernel removed the device on last close"
out=$(drv "$R" "$OPTS" GC)
ok "$([[ $(jget removed <<<"$out") == *\"thin:$devid\"* ]]; echo $?)" "GC finished the deferred deletion"
ok "$(! thin_ids "$POOL" /dev/ram0 | grep -qw "$devid"; echo $?)" "thin device $devid gone from the pool"
# a REMOVE killed after recording the deferral, before unlinking the metadata: rolled forward
drv "$R" "$OPTS" CREATE '{"id":"c4","parent":"l2"}' >/dev/null
dev=$(drv "$R" "$OPTS" MOUNT '{"id":"c4"}' | jget mounts.0.source)
devid=$(drv "$R" "$OPTS" METADATA '{"id":"c4"}' | jget DeviceId)
exec 7<"$dev"
drv "$R" "$OPTS" UNMOUNT '{"id":"c4"}' >/dev/null
BERTH_DM_CRASH=remove-after-record drv "$R" "$OPTS" REMOVE '{"id":"c4"}' >/dev/null 2>&1
is "$(drv "$R" "$OPTS" EXISTS '{"id":"c4"}' | jget exists)" false "REMOVE killed after recording its deferral: the layer is gone (rolled forward)"
exec 7<&-
out=$(drv "$R" "$OPTS" GC)
ok "$([[ $(jget removed <<<"$out") == *\"thin:$devid\"* ]]; echo $?)" "GC deleted its thin device $devid once released" || diag "$out"
is "$(code "$(drv "$R" "$OPTS" MOUNT '{"id":"c4"}')")" 3 "MOUNT of the removed layer -> unknown (3)"
ok "$(! thin_ids "$POOL" /dev/ram0 | grep -qw "$devid"; echo $?)" "thin device $devid gone from the pool"

# ------------------------------------------------------------------ crash between pool message and metadata
ids_before=$(thin_ids "$POOL" /dev/ram0)
BERTH_DM_CRASH=after-message drv "$R" "$OPTS" CREATE '{"id":"c3","parent":"l2"}' >/dev/null 2>&1
ok "$([ -n "$(ls "$R/journal")" ]; echo $?)" "crash left an open transaction in the journal"
ok "$([ "$(thin_ids "$POOL" /dev/ram0)" != "$ids_before" ]; echo $?)" "crash left a thin device without metadata"
is "$(code "$(drv "$R" "$OPTS" INIT)")" 0 "INIT after the crash"
is "$(thin_ids "$POOL" /dev/ram0)" "$ids_before" "journal recovery deleted the half-made device"
ok "$([ -z "$(ls "$R/journal")" ]; echo $?)" "journal empty"
is "$(drv "$R" "$OPTS" EXISTS '{"id":"c3"}' | jget exists)" false "c3 does not exist"
# the same crash, and the journal lost too: only GC's probe of the id range can find the leak
BERTH_DM_CRASH=after-message drv "$R" "$OPTS" CREATE '{"id":"c3","parent":"l2"}' >/dev/null 2>&1
rm -f "$R"/journal/*
leaked=
for i in $(thin_ids "$POOL" /dev/ram0); do case " $ids_before " in *" $i "*) ;; *) leaked=$i ;; esac; done
ok "$([ -n "$leaked" ]; echo $?)" "leaked thin device $leaked"
out=$(drv "$R" "$OPTS" GC)
ok "$([[ $(jget removed <<<"$out") == *\"thin:$leaked\"* ]]; echo $?)" "GC reclaimed leaked thin device $leaked"
is "$(thin_ids "$POOL" /dev/ram0)" "$ids_before" "pool back to its devices"
is "$(code "$(drv "$R" "$OPTS" CREATE '{"id":"c3","parent":"l2"}')")" 0 "CREATE c3 after recovery"

# ------------------------------------------------------------------ restart: pool down, INIT brings it back
is "$(code "$(drv "$R" "$OPTS" CLEANUP)")" 0 "CLEANUP"
ok "$(! dmsetup info "$POOL" >/dev/null 2>&1; echo $?)" "CLEANUP deactivated the owned pool"
is "$(code "$(drv "$R" "$OPTS" INIT)")" 0 "INIT reactivates the pool from the same devices"
M=$(drv "$R" "$OPTS" MOUNT '{"id":"c1"}' | jget path)
is "$(cat "$M/etc/container-file" 2>&1)" written "data survived the restart (not wiped)"
drv "$R" "$OPTS" UNMOUNT '{"id":"c1"}' >/dev/null

# ------------------------------------------------------------------ GC with keep
out=$(drv "$R" "$OPTS" GC '{"keep":["l1","l2","c1"]}')
ok "$([[ $(jget removed <<<"$out") == *'"c2"'* && $(jget removed <<<"$out") == *'"c3"'* ]]; echo $?)" "GC keep: removes layers not kept"
is "$(drv "$R" "$OPTS" LIST | jget ids)" '["c1","l2","l1"]' "kept layers remain"
for id in c1 l2 l1; do drv "$R" "$OPTS" REMOVE "{\"id\":\"$id\"}" >/dev/null; done
is "$(thin_ids "$POOL" /dev/ram0)" "1 " "all layers removed: only the base is left"
is "$(code "$(drv "$R" "$OPTS" REMOVE '{"id":"l1"}')")" 0 "REMOVE of a missing layer succeeds"

# ------------------------------------------------------------------ base size grown in the config
GOPTS=${OPTS/512M/768M}
is "$(code "$(drv "$R" "$GOPTS" INIT)")" 0 "INIT with base_size raised to 768M"
is "$(drv "$R" "$GOPTS" STATUS | jget baseSize)" 805306368 "STATUS baseSize 768M"
drv "$R" "$GOPTS" CREATE '{"id":"g1"}' >/dev/null
Mg=$(drv "$R" "$GOPTS" MOUNT '{"id":"g1"}' | jget path)
sz=$(df -kP "$Mg" | awk 'NR==2 {print $2}')
ok "$([ "$sz" -gt 600000 ]; echo $?)" "a new layer on the grown base has a ~768M filesystem ($sz KiB)"
drv "$R" "$GOPTS" UNMOUNT '{"id":"g1"}' >/dev/null
drv "$R" "$GOPTS" REMOVE '{"id":"g1"}' >/dev/null
is "$(code "$(drv "$R" "$OPTS" INIT)")" 7 "base_size lowered back to 512M -> invalid config (7)"
drv "$R" "$GOPTS" CLEANUP >/dev/null

# ------------------------------------------------------------------ pool nearly full (loop files)
LR=$W/loop
LOPTS='{"allow_loopback":true,"loop_data_size":"128M","loop_metadata_size":"8M","base_size":"256M","min_free_space":20,"require_udev_sync":false}'
out=$(drv "$LR" "$LOPTS" INIT)
is "$(code "$out")" 0 "INIT with loop files (allow_loopback)"
LPOOL=$(jget pool <<<"$out")
ok "$(dmsetup deps "$LPOOL" | grep -q '(7, '; echo $?)" "pool sits on loop devices"
drv "$LR" "$LOPTS" CREATE '{"id":"fill"}' >/dev/null
FM=$(drv "$LR" "$LOPTS" MOUNT '{"id":"fill"}' | jget path)
dd if=/dev/urandom of="$FM/big" bs=1M count=112 2>/dev/null; sync
drv "$LR" "$LOPTS" UNMOUNT '{"id":"fill"}' >/dev/null
st=$(drv "$LR" "$LOPTS" STATUS)
is "$(jget health <<<"$st")" low_space "STATUS health low_space ($(jget dataUsed <<<"$st")/$(jget dataTotal <<<"$st"))"
out=$(drv "$LR" "$LOPTS" CREATE '{"id":"more"}')
is "$(code "$out")" 14 "CREATE on a nearly full pool -> no space (14)"
is "$(drv "$LR" "$LOPTS" EXISTS '{"id":"more"}' | jget exists)" false "nothing created"
drv "$LR" "$LOPTS" REMOVE '{"id":"fill"}' >/dev/null
is "$(code "$(drv "$LR" "$LOPTS" CREATE '{"id":"more"}')")" 0 "space returned to the pool after REMOVE"
echo kept >"$(drv "$LR" "$LOPTS" MOUNT '{"id":"more"}' | jget path)/kept"
drv "$LR" "$LOPTS" UNMOUNT '{"id":"more"}' >/dev/null
drv "$LR" "$LOPTS" CLEANUP >/dev/null
# the loop devices detach asynchronously (autoclear): wait for that, not for a fixed time
loop_released() { ! dmsetup info "$LPOOL" >/dev/null 2>&1 && ! losetup -a 2>/dev/null | grep -q "$LR"; }
wait_for 60 loop_released
ok $? "CLEANUP released pool and loop devices"
# a restart (reboot: no pool, no loop device) reattaches the same files, keeping the data
is "$(code "$(drv "$LR" "$LOPTS" INIT)")" 0 "INIT after CLEANUP reattaches the loop files"
is "$(cat "$(drv "$LR" "$LOPTS" MOUNT '{"id":"more"}' | jget path)/kept" 2>&1)" kept "a layer's data survived on the loop files"
drv "$LR" "$LOPTS" UNMOUNT '{"id":"more"}' >/dev/null
drv "$LR" "$LOPTS" REMOVE '{"id":"more"}' >/dev/null
drv "$LR" "$LOPTS" CLEANUP >/dev/null
wait_for 60 loop_released
ok $? "CLEANUP released pool and loop devices again"

# ------------------------------------------------------------------ xfs (nouuid: every snapshot shares the UUID)
if grep -qw xfs /proc/filesystems && command -v mkfs.xfs >/dev/null; then
	XR=$W/xfs
	XOPTS='{"allow_loopback":true,"loop_data_size":"256M","loop_metadata_size":"8M","base_size":"512M","fs":"xfs","require_udev_sync":false}'
	is "$(code "$(drv "$XR" "$XOPTS" INIT)")" 0 "INIT with fs=xfs"
	drv "$XR" "$XOPTS" CREATE '{"id":"x1"}' >/dev/null
	drv "$XR" "$XOPTS" APPLY_DIFF "{\"id\":\"x1\",\"stream\":{\"path\":\"$W/l1.tar\"}}" >/dev/null
	drv "$XR" "$XOPTS" CREATE '{"id":"x2","parent":"x1"}' >/dev/null
	XM1=$(drv "$XR" "$XOPTS" MOUNT '{"id":"x1"}' | jget path)
	XM2=$(drv "$XR" "$XOPTS" MOUNT '{"id":"x2"}' | jget path)
	ok "$(grep -q " $XM2 xfs .*nouuid" /proc/mounts && cmp -s "$XM2/bin/blob" "$W/t1/bin/blob"; echo $?)" \
		"xfs parent and snapshot mounted together (nouuid), content intact"
	drv "$XR" "$XOPTS" UNMOUNT '{"id":"x2"}' >/dev/null
	drv "$XR" "$XOPTS" UNMOUNT '{"id":"x1"}' >/dev/null
	drv "$XR" "$XOPTS" CLEANUP >/dev/null
else
	skip "xfs not available in the VM"
fi

# ------------------------------------------------------------------ a real client: the berth storage CLI
BERTH=$BERTH_BUILD/bin/berth
if [ -x "$BERTH" ]; then
	CW2=$W/cli
	mkdir -p "$CW2/l1/etc" "$CW2/l1/bin" "$CW2/l2/etc"
	echo hello >"$CW2/l1/etc/motd"; echo doomed >"$CW2/l1/etc/deleteme"
	head -c 100000 /dev/urandom >"$CW2/l1/bin/blob"
	touch "$CW2/l2/etc/.wh.deleteme"; echo added >"$CW2/l2/etc/added"
	tar -C "$CW2/l1" -cf "$CW2/l1.tar" . && tar -C "$CW2/l2" -czf "$CW2/l2.tar.gz" .
	printf '{"driver":"devicemapper","root":"%s/root","runRoot":"%s/run","options":{"devicemapper":%s}}\n' "$CW2" "$CW2" \
		'{"data_device":"/dev/ram1","metadata_device":"/dev/ram0","base_size":"256M","force_wipe":true,"require_udev_sync":false}' >"$CW2/storage.json"
	export BERTH_STORAGE_CONFIG=$CW2/storage.json BERTH_STORAGE_PATH=$BERTH_BUILD/storage
	info=$("$BERTH" storage --json info 2>&1)
	is "$(jget driver <<<"$info")" devicemapper "berth storage info: driver devicemapper" || diag "$info"
	out=$("$BERTH" storage import --name img "$CW2/l1.tar" "$CW2/l2.tar.gz" 2>&1)
	ok $? "berth storage import of two layer tars (tar, tar.gz)" || diag "$out"
	out=$("$BERTH" storage create img --name k1 2>&1)
	ok $? "berth storage create k1" || diag "$out"
	P=$("$BERTH" storage mount k1 2>&1)
	ok "$(grep -q "^/dev/mapper/[^ ]* $P ext4" /proc/mounts && [ "$(cat "$P/etc/motd")" = hello ] &&
		[ ! -e "$P/etc/deleteme" ] && [ "$(cat "$P/etc/added")" = added ] && cmp -s "$P/bin/blob" "$CW2/l1/bin/blob"; echo $?)" \
		"berth storage mount: a thin device with both layers, the whiteout applied ($P)"
	echo mine >"$P/etc/mine"
	"$BERTH" storage diff k1 -o "$CW2/k1.tar" 2>&1
	is "$(tar -tf "$CW2/k1.tar" | sed 's|^\./||' | grep -v '/$' | sort | tr '\n' ' ')" "etc/mine " "berth storage diff: the container's writable layer"
	out=$("$BERTH" storage rm --force k1 2>&1 && "$BERTH" storage rmi img 2>&1 && "$BERTH" storage gc 2>&1)
	ok $? "berth storage rm, rmi, gc" || diag "$out"
	st=$(printf '{"protocolVersion":"1.0.0","driver":"devicemapper","root":"%s","runRoot":"%s","options":%s,"args":{}}' \
		"$CW2/root/devicemapper" "$CW2/run/devicemapper" '{"data_device":"/dev/ram1","metadata_device":"/dev/ram0","base_size":"256M","force_wipe":true,"require_udev_sync":false}' |
		STOR_COMMAND=LIST "$DRV")
	is "$(jget ids <<<"$st")" "[]" "no layer left in the store"
	printf '{"protocolVersion":"1.0.0","driver":"devicemapper","root":"%s","runRoot":"%s","options":%s,"args":{}}' \
		"$CW2/root/devicemapper" "$CW2/run/devicemapper" '{"data_device":"/dev/ram1","metadata_device":"/dev/ram0","base_size":"256M","force_wipe":true,"require_udev_sync":false}' |
		STOR_COMMAND=CLEANUP "$DRV" >/dev/null
	unset BERTH_STORAGE_CONFIG BERTH_STORAGE_PATH
else
	skip "berth CLI not built"
fi

# ------------------------------------------------------------------ crash injection (FAULT=1 driver)
source "$BERTH_SRC/tests/vm/devicemapper-crash.sh"

# ------------------------------------------------------------------ the shared conformance suite
CONF=$BERTH_SRC/tests/storage-conformance/run.sh
if [ -f "$CONF" ]; then
	CR=$W/conf
	mkdir -p "$CR"
	# the block-device pool again (its old metadata is ours: force_wipe)
	jq -cn --arg r "$CR/root" --argjson o "$OPTS" \
		'{driver:"devicemapper",root:$r,runRoot:($r+"-run"),options:($o + {force_wipe:true})}' >"$CR/config.json"
	# a backing store the driver must refuse (code 13): a device-mapper device that is not a
	# thin-pool (the zero device made for the bad-config case)
	jq -cn --arg r "$CR/wrong" --arg p "lin$T" \
		'{driver:"devicemapper",root:$r,runRoot:($r+"-run"),options:{pool_name:$p,require_udev_sync:false}}' >"$CR/wrong.json"
	# a store too small for the 40 MiB layer (code 14): a 32M base on a loop-file pool
	jq -cn --arg r "$CR/small" \
		'{driver:"devicemapper",root:$r,runRoot:($r+"-run"),options:{allow_loopback:true,loop_data_size:"64M",loop_metadata_size:"4M",base_size:"32M",require_udev_sync:false}}' >"$CR/small.json"
	echo "# storage conformance suite against devicemapper"
	STOR_TREE=$BERTH_BUILD/tests/helpers/stor-tree STOR_CONF_SMALL_CONFIG=$CR/small.json STOR_CONF_BIG_MIB=40 \
		STOR_CONF_WRONGFS_CONFIG=$CR/wrong.json \
		sh "$CONF" "$DRV" "$CR/config.json" >"$W/conf.tap" 2>&1 </dev/null
	rc=$?
	# every case a check of its own
	relay_tap "conformance" "$W/conf.tap" "$rc"
	is "$(grep -c '^ok.*# SKIP' "$W/conf.tap")" 0 "no conformance case skipped on devicemapper"
	dmsetup remove "lin$T"
else
	ok 1 "the storage conformance suite is in the VM ($CONF)"
fi

done_testing
