#!/bin/sh
# Storage driver conformance suite (docs/storage-protocol.md), TAP output.
#
#   run.sh DRIVER_PATH [config.json]
#
# config.json is the driver's static config ({"driver","root","runRoot","options"}); without
# it the suite uses a fresh root under $TMPDIR (for btrfs, on a btrfs it makes on a loop file
# when $TMPDIR is not on btrfs: mkfs.btrfs from btrfs-progs).  POSIX shell only (busybox/dash
# are enough: the devicemapper driver runs this inside a VM); the helper stor-tree
# (tests/helpers) stands in for jq, setfattr and GNU tar.  Needs root.
#
# Environment:
#   STOR_TREE                path of the stor-tree helper (default $BERTH_BUILD/tests/helpers/)
#   STOR_CONF_SMALL_CONFIG   a config whose backing store holds less than 8 MiB (code 14);
#                            for overlay and vfs the suite makes one on a small tmpfs itself,
#                            for btrfs on a small btrfs nearly filled
#   STOR_CONF_WRONGFS_CONFIG a config on a backing store the driver must refuse (code 13);
#                            the suite makes one itself for overlay (an overlay mount), btrfs
#                            (a tmpfs) and vfs (a read-only filesystem)
#   STOR_CONF_BIG_MIB        size of the file used for the kill -9 test (default 8)
set -u

DRV=${1:?usage: run.sh DRIVER_PATH [config.json]}
CONF_IN=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)

# Every mount this suite makes stays in a private mount namespace of its own.
if [ -z "${STOR_CONF_NS:-}" ] && unshare -m --propagation private true 2>/dev/null; then
	STOR_CONF_NS=1 exec unshare -m --propagation private "$0" "$@"
fi

BUILD=${BERTH_BUILD:-$HERE/../../build}
TREE=${STOR_TREE:-$BUILD/tests/helpers/stor-tree}
[ -x "$TREE" ] || { echo "1..0 # SKIP stor-tree helper not found at $TREE"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }
case $DRV in /*) ;; *) DRV=$(pwd)/$DRV ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/stor-conf.XXXXXX")
# mkbtrfs DIR SIZE [mkfs options]: a btrfs of its own on a loop file, mounted at DIR (made
# with mkfs.btrfs, in tests only; the mount stays in this suite's mount namespace)
mkbtrfs() {
	_d=$1 _sz=$2
	shift 2
	mkdir -p "$_d" && truncate -s "$_sz" "$_d.img" && mkfs.btrfs -q "$@" "$_d.img" >/dev/null 2>&1 &&
		mount -o loop "$_d.img" "$_d"
}
DRIVER_NAME=$(printf '' | STOR_COMMAND=VERSION "$DRV" 2>/dev/null | "$TREE" get driver 2>/dev/null)
if [ -n "$CONF_IN" ]; then
	CONF=$CONF_IN
else
	CONF=$WORK/config.json
	STORE=$WORK
	# the btrfs driver needs a root on btrfs: without a config, the suite makes one
	if [ "$DRIVER_NAME" = btrfs ] && [ "$(stat -f -c %T "$WORK")" != btrfs ]; then
		STORE=$WORK/btrfs
		mkbtrfs "$STORE" 512M || echo "# could not make a btrfs filesystem (mkfs.btrfs from btrfs-progs, loop devices)"
	fi
	printf '{"root":"%s/root","runRoot":"%s/run","options":{}}\n' "$STORE" "$WORK" >"$CONF"
fi
ROOT=$("$TREE" get root <"$CONF")

N=0
FAILED=0
ok() { # ok STATUS DESCRIPTION
	N=$((N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $N - $2"
	else
		FAILED=$((FAILED + 1))
		echo "not ok $N - $2"
	fi
}
is() { # is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then ok 0 "$3"; else
		ok 1 "$3"
		echo "#   got '$1', want '$2'" | head -5
	fi
}
skip() { # skip DESCRIPTION REASON: a check that cannot run with this driver/config (never a pass)
	N=$((N + 1))
	echo "ok $N - $1 # SKIP $2"
}
diag() { echo "# $*"; }

# call VERB [ARGS_JSON] [CONFIG]: runs the driver; sets OUT (stdout) and RC.
call() {
	_req=$("$TREE" request "${3:-$CONF}" "${2:-{\}}") || { OUT=; RC=99; return; }
	OUT=$(printf '%s' "$_req" | STOR_COMMAND=$1 "$DRV" 2>"$WORK/stderr")
	RC=$?
	if [ -n "${STOR_CONF_VERBOSE:-}" ]; then diag "$1 $2 -> $RC $OUT"; fi
}
get() { printf '%s' "$OUT" | "$TREE" get "$1" 2>/dev/null; }
code() { if [ "$RC" -eq 0 ]; then echo 0; else get code; fi; }
# expect_code WANT DESCRIPTION: after call
expect() {
	_c=$(code)
	is "$_c" "$1" "$2"
	[ "$_c" = "$1" ] || diag "output: $OUT $(head -c 400 "$WORK/stderr")"
}
# tardiff A B: when two tars differ, show where (for the log)
tardiff() {
	cmp -s "$1" "$2" && return 0
	diag "$(cmp "$1" "$2" 2>&1)"
	if command -v tar >/dev/null 2>&1; then
		tar -tvf "$1" >"$WORK/ta" 2>&1; tar -tvf "$2" >"$WORK/tb" 2>&1
		diff "$WORK/ta" "$WORK/tb" 2>&1 | head -20 | sed 's/^/# /'
	fi
	_off=$(cmp "$1" "$2" 2>/dev/null | sed -n 's/.*byte \([0-9]*\).*/\1/p')
	[ -n "$_off" ] && dd if="$1" bs=512 skip=$(((_off - 1) / 512)) count=1 2>/dev/null | od -c | head -12 | sed 's/^/# a: /'
	[ -n "$_off" ] && dd if="$2" bs=512 skip=$(((_off - 1) / 512)) count=1 2>/dev/null | od -c | head -12 | sed 's/^/# b: /'
	return 0
}
mnt() { # mnt ID [extra args]: MOUNT, path in MP
	call MOUNT "{\"id\":\"$1\"${2:-}}"
	MP=$(get path)
}

cleanup() {
	call CLEANUP
	# a kill9 watcher still blocked opening the FIFO gets a writer, sees EOF and exits
	if [ -p "$WORK/fifo" ]; then exec 5<>"$WORK/fifo"; exec 5>&-; fi
	# whatever the driver left mounted under our work dir
	grep " $WORK" /proc/self/mountinfo 2>/dev/null | awk '{print $5}' | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- protocol basics -----------------------------------------------------------------------
OUT=$(printf '' | STOR_COMMAND=VERSION "$DRV")
RC=$?
is "$RC" 0 "VERSION succeeds with empty stdin"
case $(get supportedVersions) in *'"1.0.0"'*) ok 0 "VERSION lists 1.0.0" ;; *) ok 1 "VERSION lists 1.0.0" ;; esac
DRIVER_NAME=$(get driver)
diag "driver $DRIVER_NAME $(get driverVersion)"

OUT=$(printf '{}' | env -u STOR_COMMAND "$DRV" 2>/dev/null); RC=$?
expect 4 "missing STOR_COMMAND is code 4"
OUT=$(printf '{}' | STOR_COMMAND=FROB "$DRV" 2>/dev/null); RC=$?
expect 4 "unknown verb is code 4"
OUT=$(printf '{"root": [1,' | STOR_COMMAND=LIST "$DRV" 2>/dev/null); RC=$?
expect 6 "malformed stdin is code 6"
OUT=$(printf '{"protocolVersion":"9.9.9","root":"/x"}' | STOR_COMMAND=LIST "$DRV" 2>/dev/null); RC=$?
expect 1 "unsupported protocolVersion is code 1"
OUT=$(printf '{"protocolVersion":"1.0.0"}' | STOR_COMMAND=LIST "$DRV" 2>/dev/null); RC=$?
expect 7 "missing root is code 7"
"$TREE" with-option "$CONF" no_such_option_xyz true >"$WORK/badopt.json"
call LIST '{}' "$WORK/badopt.json"
expect 2 "unknown driver option is code 2"
case $OUT in *no_such_option_xyz*) ok 0 "the error names the option" ;; *) ok 1 "the error names the option" ;; esac

call INIT
expect 0 "INIT"
CAPS=$(get capabilities)
diag "capabilities $CAPS"
QUOTA=$(get capabilities.quota.size)
LAYERDIR=$(get capabilities.mountIsLayerDir)
call INIT
expect 0 "INIT again (idempotent)"
call STATUS
expect 0 "STATUS"

# ---- layers and round trips ----------------------------------------------------------------
call CREATE '{"id":"src"}'
expect 0 "CREATE base layer"
mnt src
expect 0 "MOUNT base layer"
"$TREE" fill "$MP"
ok $? "populate base layer through its mount"
call UNMOUNT '{"id":"src"}'
call DIFF '{"id":"src","stream":{"fd":3}}' 3>"$WORK/t1.tar"
expect 0 "DIFF base layer"
[ -s "$WORK/t1.tar" ]
ok $? "DIFF wrote a tar"

call CREATE '{"id":"l1"}'
call APPLY_DIFF '{"id":"l1","stream":{"fd":3}}' 3<"$WORK/t1.tar"
expect 0 "APPLY_DIFF the base diff into a new layer"
[ "$(get size)" -gt 1000000 ] 2>/dev/null
ok $? "APPLY_DIFF reports the layer size ($(get size))"
call DIFF '{"id":"l1","stream":{"fd":3}}' 3>"$WORK/t1b.tar"
cmp -s "$WORK/t1.tar" "$WORK/t1b.tar"
ok $? "DIFF of the applied layer is byte-for-byte the applied tar"
tardiff "$WORK/t1.tar" "$WORK/t1b.tar"

mnt src
M_SRC=$("$TREE" manifest "$MP")
mnt l1
M_L1=$("$TREE" manifest "$MP")
is "$M_L1" "$M_SRC" "applied layer has the same tree (owners, modes, xattrs, links, devices)"
case $M_L1 in *security.capability*) ok 0 "file capability survived" ;; *) ok 1 "file capability survived" ;; esac
call UNMOUNT '{"id":"src"}'
call UNMOUNT '{"id":"l1"}'

call CREATE '{"id":"src2","parent":"src"}'
expect 0 "CREATE child layer"
mnt src2
"$TREE" change "$MP"
ok $? "change files through the child's mount (delete, opaque dir, chown, xattr)"
M_SRC2=$("$TREE" manifest "$MP")
[ ! -e "$MP/gone" ]
ok $? "deleted file is gone in the child's view"
call UNMOUNT '{"id":"src2"}'
call DIFF '{"id":"src2","stream":{"fd":3}}' 3>"$WORK/t2.tar"
expect 0 "DIFF child layer"
call CHANGES '{"id":"src2"}'
expect 0 "CHANGES child layer"
C_SRC2=$(get changes)
case $C_SRC2 in *'"/gone","kind":"deleted"'*) ok 0 "CHANGES reports the deletion" ;; *) ok 1 "CHANGES reports the deletion"; diag "$C_SRC2" ;; esac
case $C_SRC2 in *'"/newdir","kind":"added"'*) ok 0 "CHANGES reports an addition" ;; *) ok 1 "CHANGES reports an addition" ;; esac
case $C_SRC2 in *'"/changeme","kind":"modified"'*) ok 0 "CHANGES reports a modification" ;; *) ok 1 "CHANGES reports a modification" ;; esac
call DIFF_SIZE '{"id":"src2"}'
S_SRC2=$(get size)

call CREATE '{"id":"l2","parent":"l1"}'
call APPLY_DIFF '{"id":"l2","stream":{"fd":3}}' 3<"$WORK/t2.tar"
expect 0 "APPLY_DIFF the child diff (whiteouts, opaque dir)"
mnt l2
M_L2=$("$TREE" manifest "$MP")
is "$M_L2" "$M_SRC2" "child chain view equals the original child view"
call UNMOUNT '{"id":"l2"}'
call DIFF '{"id":"l2","stream":{"fd":3}}' 3>"$WORK/t2b.tar"
cmp -s "$WORK/t2.tar" "$WORK/t2b.tar"
ok $? "child DIFF round trip is byte-for-byte"
tardiff "$WORK/t2.tar" "$WORK/t2b.tar"
call CHANGES '{"id":"l2"}'
is "$(get changes)" "$C_SRC2" "CHANGES of the applied child equal the original's"
call DIFF_SIZE '{"id":"l2"}'
is "$(get size)" "$S_SRC2" "DIFF_SIZE equal"
call USAGE '{"id":"l2"}'
expect 0 "USAGE"
[ "$(get inodes)" -gt 0 ] 2>/dev/null
ok $? "USAGE counts inodes"
call METADATA '{"id":"l2"}'
expect 0 "METADATA"

# ---- mounts ---------------------------------------------------------------------------------
mnt l2
is "$(get refs)" 1 "first MOUNT: 1 reference"
P1=$MP
mnt l2
is "$(get refs)" 2 "second MOUNT from another process: 2 references"
is "$MP" "$P1" "same path"
call UNMOUNT '{"id":"l2"}'
is "$(get refs)" 1 "UNMOUNT: 1 reference left"
[ -f "$P1/etc/passwd" ]
ok $? "still mounted while referenced"
call UNMOUNT '{"id":"l2"}'
is "$(get refs)" 0 "UNMOUNT: 0 references"
if [ "$LAYERDIR" = true ]; then
	# MOUNT hands out the layer's own directory (btrfs, vfs): nothing is mounted there
	call METADATA '{"id":"l2"}'
	[ "$(get mounted)" = false ] && [ "$(get refs)" = 0 ] && ! grep -q " $P1 " /proc/self/mountinfo
	ok $? "unmounted at 0 references (the layer's own directory: METADATA mounted false, refs 0, no mount)"
else
	[ ! -e "$P1/etc/passwd" ]
	ok $? "unmounted at 0 references"
fi
call UNMOUNT '{"id":"l2"}'
expect 0 "UNMOUNT of an unmounted layer succeeds"

mnt l1 ',"ro":true'
expect 0 "read-only MOUNT"
if [ "$RC" -eq 0 ]; then
	( : >"$MP/ro-probe" ) 2>/dev/null
	[ $? -ne 0 ]
	ok $? "ro mount refuses writes"
	call UNMOUNT '{"id":"l1"}'
else
	ok 1 "ro mount refuses writes (no read-only mount)"
fi

# dm_active /dev/mapper/NAME: the kernel has a device-mapper device of that name (sysfs; the
# node under /dev/mapper may outlive a deferred removal when no udev runs)
dm_active() {
	for _n in /sys/block/dm-*/dm/name; do
		[ -r "$_n" ] && [ "$(cat "$_n")" = "${1##*/}" ] && return 0
	done
	return 1
}

# ---- mount specs: MOUNTS and RELEASE (the caller mounts, as containerd does) ---------------
call MOUNTS '{"id":"nosuch"}'
expect 3 "MOUNTS of an unknown layer is code 3"
call MOUNTS '{"id":"../evil"}'
expect 7 "MOUNTS with an invalid id is code 7"
call MOUNTS '{}'
expect 7 "MOUNTS without id is code 7"
call MOUNTS '{"id":"l2","ro":true}'
expect 0 "MOUNTS ro of a child layer"
SPEC_RO=$OUT
SPECS=$(get mounts)
[ -n "$(get mounts.0.type)" ] && [ -n "$(get mounts.0.source)" ] &&
	case $(get mounts.0.options) in '['*) true ;; *) false ;; esac
ok $? "MOUNTS: each mount has a type, a source and an options array"
call MOUNTS '{"id":"l2","ro":true}'
is "$(get mounts)" "$SPECS" "MOUNTS twice gives the same specs"
call UNMOUNT '{"id":"l2"}'
is "$(get refs)" 0 "MOUNTS took no MOUNT reference"
mkdir -p "$WORK/spec"
printf '%s' "$SPEC_RO" | "$TREE" mount-specs "$WORK/spec" 2>"$WORK/spec.err"
ok $? "the ro specs mount (by the caller)"
[ -s "$WORK/spec.err" ] && diag "$(cat "$WORK/spec.err")"
is "$("$TREE" manifest "$WORK/spec")" "$M_SRC2" "ro specs show the layer's tree (its content on its parent's)"
[ ! -e "$WORK/spec/gone" ]
ok $? "ro specs: the file the layer deleted is absent"
( : >"$WORK/spec/ro-probe" ) 2>/dev/null
[ $? -ne 0 ]
ok $? "ro specs refuse writes"
umount "$WORK/spec"
call CREATE '{"id":"spec","parent":"l2"}'
call MOUNTS '{"id":"spec"}'
expect 0 "MOUNTS of a new child layer"
SPEC_RW=$OUT
SPEC_ACT=$(get activated)
SPEC_SRC=$(get mounts.0.source)
printf '%s' "$SPEC_RW" | "$TREE" mount-specs "$WORK/spec" 2>"$WORK/spec.err"
ok $? "the rw specs mount"
is "$("$TREE" manifest "$WORK/spec")" "$M_SRC2" "rw specs of a new child show its parent's tree"
echo spec >"$WORK/spec/specfile"
ok $? "a write through the rw specs"
if [ "$SPEC_ACT" = true ]; then
	[ -b "$SPEC_SRC" ]
	ok $? "activated: the source device exists"
fi
umount "$WORK/spec"
call RELEASE '{"id":"spec"}'
expect 0 "RELEASE after MOUNTS"
if [ "$SPEC_ACT" = true ]; then
	is "$(get released)" true "RELEASE reports released"
	! dm_active "$SPEC_SRC"
	ok $? "RELEASE deactivated the device"
fi
call CHANGES '{"id":"spec"}'
case $(get changes) in *'"/specfile","kind":"added"'*) ok 0 "the write landed in the layer (CHANGES)" ;; *) ok 1 "the write landed in the layer (CHANGES)"; diag "$(get changes)" ;; esac
call MOUNTS '{"id":"spec","ro":true}'
printf '%s' "$OUT" | "$TREE" mount-specs "$WORK/spec" 2>"$WORK/spec.err"
ok $? "ro specs of the written layer mount"
is "$(cat "$WORK/spec/specfile" 2>/dev/null)" spec "ro specs show the layer's own file"
if [ "$SPEC_ACT" = true ]; then
	# the caller still has the device mounted: REMOVE refuses (10), or, with deferred
	# removal configured, removes the layer and lets the kernel drop the device at close
	call REMOVE '{"id":"spec"}'
	case $(code):$(get deferred) in
	10:*)
		ok 0 "REMOVE while the caller has the specs mounted is code 10"
		call EXISTS '{"id":"spec"}'
		is "$(get exists)" true "and the layer stays"
		umount "$WORK/spec"
		;;
	0:true)
		ok 0 "REMOVE while the caller has the specs mounted is deferred (deferred_removal)"
		call EXISTS '{"id":"spec"}'
		is "$(get exists)" false "and the layer is gone"
		umount "$WORK/spec"
		! dm_active "$SPEC_SRC"
		ok $? "the device goes at the caller's unmount"
		;;
	*)
		ok 1 "REMOVE while the caller has the specs mounted: code 10 or deferred (got $(code) $OUT)"
		umount "$WORK/spec"
		;;
	esac
else
	umount "$WORK/spec"
fi
# CREATE with args.mounts answers MOUNTS' specs in the same call (the snapshotter's Prepare)
call CREATE '{"id":"cm","parent":"l2","mounts":{}}'
expect 0 "CREATE with args.mounts"
CM=$(get mounts)
call MOUNTS '{"id":"cm"}'
is "$CM" "$(get mounts)" "CREATE's mounts are MOUNTS' (read-write)"
call CREATE '{"id":"cmro","parent":"l2","mounts":{"ro":true}}'
CM=$(get mounts)
call MOUNTS '{"id":"cmro","ro":true}'
is "$CM" "$(get mounts)" "CREATE's mounts are MOUNTS' (ro)"
call RELEASE '{"id":"cm"}'
call RELEASE '{"id":"cmro"}'
call REMOVE '{"id":"cm"}'
expect 0 "REMOVE of a layer made with args.mounts"
call REMOVE '{"id":"cmro"}'
call CREATE '{"id":"cmbad","mounts":true}'
expect 7 "CREATE with args.mounts not an object is code 7"
call EXISTS '{"id":"cmbad"}'
is "$(get exists)" false "and makes no layer"
call RELEASE '{"id":"l1"}'
expect 0 "RELEASE of a layer never activated"
call RELEASE '{"id":"nosuch"}'
expect 0 "RELEASE of a missing layer succeeds"
call RELEASE '{"id":"../evil"}'
expect 7 "RELEASE with an invalid id is code 7"
call REMOVE '{"id":"spec"}'
expect 0 "REMOVE after MOUNTS, unmount and RELEASE"

# ---- removal --------------------------------------------------------------------------------
call REMOVE '{"id":"l1"}'
expect 9 "REMOVE of a layer with children is code 9"
mnt l2
call REMOVE '{"id":"l2"}'
expect 10 "REMOVE of a mounted layer is code 10"
call UNMOUNT '{"id":"l2"}'
call REMOVE '{"id":"l2"}'
expect 0 "REMOVE"
call REMOVE '{"id":"l2"}'
expect 0 "REMOVE again succeeds"
call EXISTS '{"id":"l2"}'
is "$(get exists)" false "EXISTS false after REMOVE"
call EXISTS '{"id":"l1"}'
is "$(get exists)" true "EXISTS true for the parent"
call UNMOUNT '{"id":"l2"}'
expect 0 "UNMOUNT of a removed layer succeeds"

# ---- errors ---------------------------------------------------------------------------------
call MOUNT '{"id":"nosuch"}'
expect 3 "MOUNT of an unknown layer is code 3"
call CREATE '{"id":"orphan","parent":"nosuch"}'
expect 3 "CREATE with an unknown parent is code 3"
call CREATE '{"id":"l1"}'
expect 8 "CREATE of an existing id is code 8"
call CREATE '{"id":"../evil"}'
expect 7 "CREATE with an invalid id is code 7"
call CREATE '{}'
expect 7 "CREATE without id is code 7"
call APPLY_DIFF '{"id":"l1","stream":{"fd":3}}' 3<"$WORK/t1.tar"
expect 8 "APPLY_DIFF into a layer that has content is code 8"
call CREATE '{"id":"ns"}'
call APPLY_DIFF '{"id":"ns"}'
expect 7 "APPLY_DIFF without a stream is code 7"
call APPLY_DIFF "{\"id\":\"ns\",\"stream\":{\"path\":\"$WORK/no/such/file.tar\"}}"
expect 5 "APPLY_DIFF from an unreadable path is code 5"

"$TREE" evil-tar "$WORK/evil.tar" "../../escaped"
call CREATE '{"id":"evil"}'
call APPLY_DIFF "{\"id\":\"evil\",\"stream\":{\"path\":\"$WORK/evil.tar\"}}"
expect 15 "APPLY_DIFF of a tar climbing out with .. is code 15"
[ -z "$(find "$WORK" -name escaped 2>/dev/null)" ]
ok $? "nothing written outside the layer"
call EXISTS '{"id":"evil"}'
is "$(get exists)" false "the failed layer is gone"

head -c 3000 /dev/urandom >"$WORK/garbage.tar" 2>/dev/null || dd if=/dev/urandom of="$WORK/garbage.tar" bs=1000 count=3 2>/dev/null
call CREATE '{"id":"garbage"}'
call APPLY_DIFF "{\"id\":\"garbage\",\"stream\":{\"path\":\"$WORK/garbage.tar\"}}"
expect 6 "APPLY_DIFF of garbage is code 6"
call EXISTS '{"id":"garbage"}'
is "$(get exists)" false "the failed layer is gone"

call CREATE '{"id":"other"}'
call DIFF '{"id":"src2","parent":"other","stream":{"fd":3}}' 3>/dev/null
case $(code) in 0 | 12) ok 0 "DIFF against a non-parent: done or code 12 ($(code))" ;; *) ok 1 "DIFF against a non-parent ($(code))" ;; esac

call CREATE '{"id":"q1","size":"16M"}'
if [ "$QUOTA" = true ]; then
	expect 0 "CREATE with a size limit (quota supported)"
	mnt q1
	"$TREE" big "$MP/fits" 8 2>/dev/null
	ok $? "8 MiB fit in a 16M layer"
	"$TREE" big "$MP/toobig" 32 2>/dev/null
	[ $? -ne 0 ]
	ok $? "32 MiB do not fit in a 16M layer"
	call UNMOUNT '{"id":"q1"}'
else
	expect 12 "CREATE with a size limit where quota is unsupported is code 12"
fi

if [ "$DRIVER_NAME" = overlay ]; then
	# 2^24 TiB is 2^64 bytes: it must not wrap around to 0 ("no limit")
	call CREATE '{"id":"qwrap","size":"16777216T"}'
	expect 7 "overlay: a size that overflows 64 bits is code 7"
fi

# ---- crash in the middle of APPLY_DIFF -------------------------------------------------------
BIG=${STOR_CONF_BIG_MIB:-8}
call CREATE '{"id":"bigsrc"}'
mnt bigsrc
"$TREE" big "$MP/big" "$BIG"
call UNMOUNT '{"id":"bigsrc"}'
call DIFF '{"id":"bigsrc","stream":{"fd":3}}' 3>"$WORK/big.tar"

# kill9 ID RECOVERY_VERB: start APPLY_DIFF from a FIFO, feed part of the tar, kill -9.
# Every helper started in the background here has its stdin, stdout and stderr away from the
# caller's (a caller reading our output through a pipe must see EOF when we exit), and is
# killed and reaped (wait) before kill9 returns.
kill9() {
	rm -f "$WORK/fifo" "$WORK/written"
	mkfifo "$WORK/fifo"
	call CREATE "{\"id\":\"$1\"}"
	_req=$("$TREE" request "$CONF" "{\"id\":\"$1\",\"stream\":{\"path\":\"$WORK/fifo\"}}")
	printf '%s' "$_req" 2>/dev/null | STOR_COMMAND=APPLY_DIFF "$DRV" >/dev/null 2>&1 &
	_pid=$!
	# The writer opens the FIFO (that waits until the driver opens it for reading), writes
	# 2 MiB, more than a pipe holds, so that the driver has read and written at least 1 MiB,
	# says so, and keeps the FIFO open until it is killed.  If the driver dies before opening
	# the FIFO, the writer stays blocked in open(2) and is killed below: nothing waits forever.
	( head -c 2097152 "$WORK/big.tar" && : >"$WORK/written" && exec sleep 3600 ) \
		>"$WORK/fifo" 2>/dev/null </dev/null &
	_writer=$!
	_i=0
	while [ ! -e "$WORK/written" ] && kill -0 "$_pid" 2>/dev/null && [ "$_i" -lt 3000 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	[ -e "$WORK/written" ]
	ok $? "the driver is reading the stream (2 MiB written into the FIFO)"
	# a call that would wait for the busy apply fails fast with code 11
	call CREATE '{"id":"waiter","noWait":true}'
	expect 11 "a noWait call while APPLY_DIFF holds the store is code 11"
	call EXISTS "{\"id\":\"$1\"}"
	is "$(get exists)" false "a layer being applied is not visible"
	kill -9 "$_pid" 2>/dev/null
	wait "$_pid" 2>/dev/null
	kill -9 "$_writer" 2>/dev/null
	wait "$_writer" 2>/dev/null
	call EXISTS "{\"id\":\"$1\"}"
	is "$(get exists)" false "killed mid-APPLY_DIFF: the layer is not visible"
	call "$2"
	expect 0 "$2 after the crash"
	call LIST
	case $(get ids) in *"\"$1\""*) ok 1 "$2 removed the partial layer" ;; *) ok 0 "$2 removed the partial layer" ;; esac
	call CREATE "{\"id\":\"$1\"}"
	expect 0 "the id can be created again"
	call APPLY_DIFF "{\"id\":\"$1\",\"stream\":{\"fd\":3}}" 3<"$WORK/big.tar"
	expect 0 "and applied completely"
	call REMOVE "{\"id\":\"$1\"}"
}
kill9 crash1 INIT
kill9 crash2 GC
case $DRIVER_NAME in overlay | btrfs | vfs)
	[ -z "$(ls -A "$ROOT/staging" 2>/dev/null)" ]
	ok $? "$DRIVER_NAME: no staging leftovers"
esac

# ---- concurrency ----------------------------------------------------------------------------
# PAR layers of one image at once: each process chain CREATEs its own id on a shared parent,
# APPLY_DIFFs the same tar and MOUNTs it; then every tree and every DIFF is compared.
PAR=${STOR_CONF_PAR:-16}
call CREATE '{"id":"parbase"}'
expect 0 "CREATE the shared parent"
pids=
i=0
while [ "$i" -lt "$PAR" ]; do
	i=$((i + 1))
	(
		_c=$("$TREE" request "$CONF" "{\"id\":\"par$i\",\"parent\":\"parbase\"}")
		_a=$("$TREE" request "$CONF" "{\"id\":\"par$i\",\"stream\":{\"fd\":3}}")
		_m=$("$TREE" request "$CONF" "{\"id\":\"par$i\"}")
		printf '%s' "$_c" | STOR_COMMAND=CREATE "$DRV" >"$WORK/par$i.out" 2>&1 &&
			printf '%s' "$_a" | STOR_COMMAND=APPLY_DIFF "$DRV" >>"$WORK/par$i.out" 2>&1 3<"$WORK/t1.tar" &&
			printf '%s' "$_m" | STOR_COMMAND=MOUNT "$DRV" >"$WORK/par$i.mnt" 2>>"$WORK/par$i.out"
	) </dev/null >/dev/null 2>&1 &
	pids="$pids $!"
done
fails=0
for p in $pids; do wait "$p" || fails=$((fails + 1)); done
is "$fails" 0 "$PAR concurrent CREATE+APPLY_DIFF+MOUNT chains on one parent succeed"
[ "$fails" -eq 0 ] || diag "$(cat "$WORK"/par*.out | grep code | head -3)"
same=0
paths=
i=0
while [ "$i" -lt "$PAR" ]; do
	i=$((i + 1))
	P=$("$TREE" get path <"$WORK/par$i.mnt")
	case " $paths " in *" $P "*) same=$((same + 100)) ;; esac
	paths="$paths $P"
	[ -n "$P" ] && [ "$("$TREE" manifest "$P")" = "$M_SRC" ] || same=$((same + 1))
done
is "$same" 0 "every concurrently applied layer has its own mount and the right tree"
pids=
i=0
while [ "$i" -lt "$PAR" ]; do
	i=$((i + 1))
	(
		_r=$("$TREE" request "$CONF" "{\"id\":\"par$i\"}")
		_d=$("$TREE" request "$CONF" "{\"id\":\"par$i\",\"stream\":{\"fd\":3}}")
		printf '%s' "$_r" | STOR_COMMAND=UNMOUNT "$DRV" >/dev/null 2>&1 &&
			printf '%s' "$_d" | STOR_COMMAND=DIFF "$DRV" >/dev/null 2>&1 3>"$WORK/par$i.tar"
	) </dev/null >/dev/null 2>&1 &
	pids="$pids $!"
done
fails=0
for p in $pids; do wait "$p" || fails=$((fails + 1)); done
is "$fails" 0 "$PAR concurrent UNMOUNT+DIFF chains succeed"
same=0
i=0
while [ "$i" -lt "$PAR" ]; do
	i=$((i + 1))
	cmp -s "$WORK/par$i.tar" "$WORK/t1.tar" || same=$((same + 1))
done
is "$same" 0 "every concurrent DIFF is byte-for-byte the applied tar"
pids=
i=0
while [ "$i" -lt "$PAR" ]; do
	i=$((i + 1))
	_r=$("$TREE" request "$CONF" "{\"id\":\"par$i\"}")
	( printf '%s' "$_r" | STOR_COMMAND=REMOVE "$DRV" ) </dev/null >/dev/null 2>&1 &
	pids="$pids $!"
done
fails=0
for p in $pids; do wait "$p" || fails=$((fails + 1)); done
is "$fails" 0 "$PAR concurrent REMOVEs of siblings succeed"
call REMOVE '{"id":"parbase"}'
expect 0 "the shared parent has no children left and goes"
call LIST
case $(get ids) in *'"par'*) ok 1 "no par layer is left" ;; *) ok 0 "no par layer is left" ;; esac

# ---- listing, cleanup, gc -------------------------------------------------------------------
call CREATE '{"id":"x1"}'
call CREATE '{"id":"x2","parent":"x1"}'
call CREATE '{"id":"x3","parent":"x2"}'
call LIST
IDS=$(get ids)
pos() { printf '%s' "$IDS" | tr ',' '\n' | grep -n "\"$1\"" | cut -d: -f1; }
[ "$(pos x3)" -lt "$(pos x2)" ] && [ "$(pos x2)" -lt "$(pos x1)" ]
ok $? "LIST is in safe removal order (children first)"

mnt x3
P=$MP
call CLEANUP
expect 0 "CLEANUP"
grep -q " $P " /proc/self/mountinfo
[ $? -ne 0 ]
ok $? "CLEANUP unmounted everything"
call CLEANUP
expect 0 "CLEANUP again (idempotent)"
call INIT

call GC '{"keep":["x2"]}'
expect 0 "GC with a keep list"
call LIST
IDS=$(get ids)
is "$IDS" '["x2","x1"]' "GC kept x2 and its parent, removed the rest"

# ---- backing store ----------------------------------------------------------------------------
SMALL=${STOR_CONF_SMALL_CONFIG:-}
WRONG=${STOR_CONF_WRONGFS_CONFIG:-}
# Without configs from the caller, the suite makes the stores of the drivers it knows:
#   code 14: overlay and vfs on a 4 MiB tmpfs; btrfs on a 24 MiB btrfs (mixed block groups)
#            that a filler file leaves with ~4 MiB free
#   code 13: overlay on an overlay mount; btrfs on a tmpfs; vfs on a read-only filesystem
if [ -z "$SMALL" ]; then
	case $DRIVER_NAME in
	overlay | vfs)
		mkdir -p "$WORK/small" && mount -t tmpfs -o size=4m tmpfs "$WORK/small" ;;
	btrfs)
		mkbtrfs "$WORK/small" 24M --mixed &&
			"$TREE" big "$WORK/small/filler" $(($(stat -f -c '%a * %S / 1048576' "$WORK/small") - 4)) ;;
	esac
	[ -d "$WORK/small" ] &&
		printf '{"root":"%s/small/root","runRoot":"%s/small-run"}\n' "$WORK" "$WORK" >"$WORK/small.json" &&
		SMALL=$WORK/small.json
	# building it is part of the test for these drivers: when that fails, the check fails
	_built=$?
	case $DRIVER_NAME in overlay | vfs | btrfs) ok $_built "$DRIVER_NAME: a small store for the no-space case" ;; esac
fi
if [ -z "$WRONG" ]; then
	case $DRIVER_NAME in
	overlay)
		mkdir -p "$WORK/ovl/l" "$WORK/ovl/u" "$WORK/ovl/w" "$WORK/ovl/m" &&
			mount -t overlay overlay -o "lowerdir=$WORK/ovl/l,upperdir=$WORK/ovl/u,workdir=$WORK/ovl/w" "$WORK/ovl/m" &&
			WRONGROOT=$WORK/ovl/m/root ;;
	btrfs)
		mkdir -p "$WORK/notbtrfs" && mount -t tmpfs -o size=4m tmpfs "$WORK/notbtrfs" &&
			WRONGROOT=$WORK/notbtrfs/root ;;
	vfs)
		mkdir -p "$WORK/rofs" && mount -t tmpfs -o size=4m tmpfs "$WORK/rofs" && mkdir "$WORK/rofs/root" &&
			mount -o remount,ro "$WORK/rofs" && WRONGROOT=$WORK/rofs/root ;;
	esac
	[ -n "${WRONGROOT:-}" ] &&
		printf '{"root":"%s","runRoot":"%s/wrong-run"}\n' "$WRONGROOT" "$WORK" >"$WORK/wrong.json" &&
		WRONG=$WORK/wrong.json
	_built=$?
	case $DRIVER_NAME in overlay | vfs | btrfs) ok $_built "$DRIVER_NAME: a wrong backing filesystem for the code-13 case" ;; esac
fi
if [ -n "$SMALL" ]; then
	call INIT '{}' "$SMALL"
	call CREATE '{"id":"full"}' "$SMALL"
	call APPLY_DIFF '{"id":"full","stream":{"fd":3}}' "$SMALL" 3<"$WORK/big.tar"
	expect 14 "APPLY_DIFF beyond the space of the store is code 14"
	call EXISTS '{"id":"full"}' "$SMALL"
	is "$(get exists)" false "the failed layer is gone"
	call LIST '{}' "$SMALL"
	case $(get ids) in *'"full"'*) ok 1 "the failed layer is not in LIST" ;; *) ok 0 "the failed layer is not in LIST" ;; esac
	if [ -z "${STOR_CONF_SMALL_CONFIG:-}" ]; then
		case $DRIVER_NAME in
		overlay)
			[ ! -e "$WORK/small/root/full" ] && [ -z "$(ls -A "$WORK/small/root/staging" 2>/dev/null)" ]
			ok $? "overlay: no layer dir and no staging leftover after the failed apply" ;;
		btrfs | vfs)
			[ ! -e "$WORK/small/root/layers/full" ] && [ -z "$(ls -A "$WORK/small/root/staging" 2>/dev/null)" ]
			ok $? "$DRIVER_NAME: no layer dir and no staging leftover after the failed apply" ;;
		esac
	fi
	# the store keeps working: a small layer fits and applies
	call CREATE '{"id":"tiny"}'
	mnt tiny
	echo tiny >"$MP/tiny" 2>/dev/null
	call UNMOUNT '{"id":"tiny"}'
	call DIFF '{"id":"tiny","stream":{"fd":3}}' 3>"$WORK/tiny.tar"
	call REMOVE '{"id":"tiny"}'
	call CREATE '{"id":"small-ok"}' "$SMALL"
	call APPLY_DIFF '{"id":"small-ok","stream":{"fd":3}}' "$SMALL" 3<"$WORK/tiny.tar"
	expect 0 "after the failure, a small layer applies in the same store"
	call EXISTS '{"id":"small-ok"}' "$SMALL"
	is "$(get exists)" true "and exists"
	call REMOVE '{"id":"small-ok"}' "$SMALL"
	call CLEANUP '{}' "$SMALL"
else
	skip "APPLY_DIFF beyond the space of the store is code 14" "no small store (set STOR_CONF_SMALL_CONFIG)"
fi
if [ -n "$WRONG" ]; then
	call INIT '{}' "$WRONG"
	expect 13 "INIT on an unusable backing filesystem is code 13"
else
	skip "INIT on an unusable backing filesystem is code 13" "no wrong backing store (set STOR_CONF_WRONGFS_CONFIG)"
fi

echo "1..$N"
[ "$FAILED" -eq 0 ]
