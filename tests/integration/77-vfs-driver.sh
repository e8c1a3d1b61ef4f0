#!/bin/bash
# The vfs storage driver.  The conformance suite four times: on this host's /tmp (plain
# copies), on btrfs (reflinks), on btrfs with reflinks off, and with its root on an overlay
# mount (where the overlay driver cannot work: what vfs is for).  Then the copy itself, read
# back: every entry kind with owners, modes, xattrs (ACLs, capabilities), hardlinks, times to
# the nanosecond and holes; the copy's data shared with the parent on btrfs (btrfs filesystem
# du) and not with reflinks off; the same copy by the walker alone and by four threads
# (copy_threads); reflink "always" where it cannot work; size always 12; the MOUNT semantics.
# Every mount stays in a private mount namespace of this test.
if [ -z "${BERTH_VFS_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	BERTH_VFS_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib-storage.bash"
need_root
DRV=$STOR_BIN/vfs
[ -x "$DRV" ] && [ -x "$STOR_TREE" ] || skip_all "build first"
W=$(mktemp -d /tmp/berth-vfs.$T.XXXXXX)
defer "rm -rf $W"
j() { "$STOR_TREE" get "$1"; }

stor_conformance "vfs on $(stat -f -c %T "$W")" "$DRV"

HAVE_BTRFS=0
if grep -qw btrfs /proc/filesystems && command -v mkfs.btrfs >/dev/null && mkbtrfs "$W/b" 1G; then
	HAVE_BTRFS=1
	stor_conf "$W/b.json" "$W/b/conf" "$W/b-run"
	stor_conformance "vfs on btrfs (reflinks)" "$DRV" "$W/b.json"
	is "$(sdrv vfs "$W/b.json" STATUS | j capabilities.reflink)" true "vfs on btrfs reports reflinks"
	stor_conf "$W/bn.json" "$W/b/conf-never" "$W/bn-run" '{"reflink":"never"}'
	stor_conformance "vfs on btrfs, reflink never" "$DRV" "$W/bn.json"
else
	ok 1 "a btrfs for the reflink cases (btrfs in the kernel, mkfs.btrfs)"
fi

mkdir -p "$W/ovl/l" "$W/ovl/u" "$W/ovl/w" "$W/ovl/m"
mount -t overlay overlay -o "lowerdir=$W/ovl/l,upperdir=$W/ovl/u,workdir=$W/ovl/w" "$W/ovl/m"
defer "umount -R -l $W/ovl/m"
stor_conf "$W/ovl.json" "$W/ovl/m/root" "$W/ovl-run"
stor_conformance "vfs with its root on overlayfs" "$DRV" "$W/ovl.json"
is "$(sdrv overlay "$W/ovl.json" INIT | j code)" 13 "there, the overlay driver refuses (13)"

# ---- the copy, read back ----
# tree DIR: every path with type, mode, owner, size, blocks, link count and mtime to the
# nanosecond (atimes move as soon as anything reads the parent)
tree() { (cd "$1" && find . -printf '%P %y %m %U:%G %s %b %T@ %n\n' | sort); }
copy_case() { # copy_case NAME CONFIG
	local name=$1 conf=$2 P Q
	sdrv vfs "$conf" INIT >/dev/null
	sdrv vfs "$conf" CREATE '{"id":"src"}' >/dev/null
	P=$(sdrv vfs "$conf" MOUNT '{"id":"src"}' | j path)
	"$STOR_TREE" fill "$P"
	# more than the suite's fill: holes, a socket, ACLs, a deep path, hardlinked special files
	truncate -s 64M "$P/sparse" && printf data | dd of="$P/sparse" bs=1 seek=$((32 << 20)) conv=notrunc 2>/dev/null
	python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$P/sock"
	mkdir -p "$P/acl/sub" && setfacl -m u:1234:rwx "$P/acl/sub" && setfacl -d -m g:55:r-x "$P/acl"
	ok $? "$name: ACLs set on the source (setfacl, from acl)"
	mkdir -p "$P/$(printf 'd/%.0s' {1..60})" && echo deep >"$P/$(printf 'd/%.0s' {1..60})f"
	ln "$P/fifo" "$P/fifo-link" && ln -s target "$P/sym" && ln "$P/sym" "$P/sym-link"
	"$STOR_TREE" big "$P/bigdata" 8
	chmod 0 "$P/empty" && touch -d @1234567890.123456789 "$P/acl"
	sdrv vfs "$conf" UNMOUNT '{"id":"src"}' >/dev/null
	check "$name: CREATE a child (the copy)" -- sdrv vfs "$conf" CREATE '{"id":"copy","parent":"src"}'
	Q=$(sdrv vfs "$conf" MOUNT '{"id":"copy"}' | j path)
	is "$("$STOR_TREE" manifest "$Q")" "$("$STOR_TREE" manifest "$P")" \
		"$name: the copy's manifest (owners, modes, xattrs, hardlinks, devices, content) is the parent's"
	is "$(tree "$Q")" "$(tree "$P")" "$name: every entry's mtime (ns), size, blocks (holes kept) and link count"
	is "$(getfacl -p "$Q/acl" 2>/dev/null)" "$(getfacl -p "$P/acl" 2>/dev/null | sed "s|$P|$Q|")" "$name: ACLs (default ones included)"
	is "$(stat -c %F "$Q/sock")" socket "$name: the socket is a socket"
	is "$(sdrv vfs "$conf" CHANGES '{"id":"copy"}' | j changes)" "[]" "$name: no change between the copy and its parent"
	sdrv vfs "$conf" UNMOUNT '{"id":"copy"}' >/dev/null
	COPY=$Q
}
stor_conf "$W/t.json" "$W/t/root" "$W/t-run"
copy_case "$(stat -f -c %T "$W") (plain copy)" "$W/t.json"
is "$(sdrv vfs "$W/t.json" STATUS | j capabilities.reflink)" false "no reflinks on $(stat -f -c %T "$W")"
# the walker alone, and four threads (whatever the CPUs): the same copy
stor_conf "$W/t1.json" "$W/t/one" "$W/t1-run" '{"copy_threads":1}'
copy_case "$(stat -f -c %T "$W") (plain copy, copy_threads 1)" "$W/t1.json"
stor_conf "$W/t4.json" "$W/t/four" "$W/t4-run" '{"copy_threads":4}'
# their stores' roots are bind mounts of themselves (as containers/storage makes them) until
# CLEANUP: left mounted, `rm -rf $W` could not remove them
defer 'for c in t t1 t4; do sdrv vfs "$W/$c.json" CLEANUP >/dev/null 2>&1; done'
copy_case "$(stat -f -c %T "$W") (plain copy, copy_threads 4)" "$W/t4.json"
if [ "$HAVE_BTRFS" = 1 ]; then
	# Exclusive bytes: what the copy holds that nothing else shares
	excl() { btrfs filesystem sync "$1" && btrfs filesystem du -s --raw "$1" | awk 'NR == 2 {print $2}'; }
	stor_conf "$W/br.json" "$W/b/reflink" "$W/br-run"
	copy_case "btrfs (reflinks)" "$W/br.json"
	e=$(excl "$COPY")
	[ "$e" -lt $((1 << 20)) ]; ok $? "btrfs (reflinks): the copy's 8 MiB of data are shared with the parent (exclusive $e bytes)"
	stor_conf "$W/bp.json" "$W/b/plain" "$W/bp-run" '{"reflink":"never"}'
	copy_case "btrfs (reflink never)" "$W/bp.json"
	e=$(excl "$COPY")
	[ "$e" -ge $((8 << 20)) ]; ok $? "btrfs (reflink never): the copy holds its data itself (exclusive $e bytes)"
	sdrv vfs "$W/br.json" CLEANUP >/dev/null
	sdrv vfs "$W/bp.json" CLEANUP >/dev/null
fi

# ---- options ----
stor_conf "$W/always.json" "$W/t/always" "$W/always-run" '{"reflink":"always"}'
out=$(sdrv vfs "$W/always.json" INIT)
is "$(j code <<<"$out")" 12 "reflink always where the filesystem cannot share extents: code 12"
stor_conf "$W/bad.json" "$W/t/bad" "$W/bad-run" '{"reflink":"sometimes"}'
is "$(sdrv vfs "$W/bad.json" INIT | j code)" 7 "a bad reflink value is code 7"
out=$(sdrv vfs "$W/t.json" CREATE '{"id":"sized","size":"16M"}')
is "$(j code <<<"$out")" 12 "CREATE with a size: code 12 (vfs uses no quotas)"
grep -q "on any filesystem" <<<"$out"; ok $? "the message says no filesystem helps: $(j msg <<<"$out")"
is "$(sdrv vfs "$W/t.json" EXISTS '{"id":"sized"}' | j exists)" false "nothing was created"
stor_conf "$W/bad.json" "$W/t/bad" "$W/bad-run" '{"copy_threads":5}'
is "$(sdrv vfs "$W/bad.json" INIT | j code)" 7 "copy_threads above 4 is code 7"

# ---- a copy that fails in a copying thread: a full filesystem ----
mkdir "$W/full" && mount -t tmpfs -o size=1200k tmpfs "$W/full"
defer "umount -l $W/full"
stor_conf "$W/full.json" "$W/full/root" "$W/full-run" '{"copy_threads":4}'
sdrv vfs "$W/full.json" INIT >/dev/null
sdrv vfs "$W/full.json" CREATE '{"id":"big"}' >/dev/null
P=$(sdrv vfs "$W/full.json" MOUNT '{"id":"big"}' | j path)
for i in $(seq 40); do head -c 20480 /dev/urandom >"$P/f$i"; done
sdrv vfs "$W/full.json" UNMOUNT '{"id":"big"}' >/dev/null
out=$(sdrv vfs "$W/full.json" CREATE '{"id":"nospace","parent":"big"}')
is "$(j code <<<"$out")" 14 "a copy that runs out of space: code 14 ($(j msg <<<"$out"))"
is "$(sdrv vfs "$W/full.json" EXISTS '{"id":"nospace"}' | j exists)" false "no layer is left"
is "$(ls -A "$W/full/root/staging")" "" "nor anything in staging/"
sdrv vfs "$W/full.json" CLEANUP >/dev/null

# ---- MOUNT: the layer's own directory ----
C=$W/t.json
out=$(sdrv vfs "$C" MOUNT '{"id":"src"}')
P=$(j path <<<"$out")
is "$P" "$W/t/root/layers/src/fs" "MOUNT hands out the layer's directory"
! grep -q " $P " /proc/self/mountinfo; ok $? "and mounts nothing"
is "$(j mounts.0.type <<<"$out"):$(j mounts.0.options.1 <<<"$out")" "bind:rw" "its mounts entry: a bind, rw"
is "$(sdrv vfs "$C" METADATA '{"id":"src"}' | j refs)" 1 "one reference"
sdrv vfs "$C" UNMOUNT '{"id":"src"}' >/dev/null
P=$(sdrv vfs "$C" MOUNT '{"id":"src","ro":true}' | j path)
grep " $P " /proc/self/mountinfo | grep -q ' ro[, ]'; ok $? "a read-only MOUNT binds the directory read-only"
(: >"$P/probe") 2>/dev/null; ok $((! $?)) "writes fail through it"
sdrv vfs "$C" UNMOUNT '{"id":"src"}' >/dev/null
! grep -q " $P " /proc/self/mountinfo; ok $? "gone at 0 references"
# MOUNTS: a bind of the layer's directory for the caller to make
out=$(sdrv vfs "$C" MOUNTS '{"id":"src"}')
is "$(jq -c .mounts <<<"$out")" "[{\"type\":\"bind\",\"source\":\"$W/t/root/layers/src/fs\",\"options\":[\"rbind\",\"rw\"]}]" \
	"MOUNTS: a read-write bind of the layer's directory"
is "$(sdrv vfs "$C" MOUNTS '{"id":"src","ro":true}' | jq -c .mounts[0].options)" '["rbind","ro"]' "MOUNTS ro: rbind, ro"
is "$(sdrv vfs "$C" METADATA '{"id":"src"}' | j refs)" 0 "MOUNTS took no reference"
is "$(sdrv vfs "$C" RELEASE '{"id":"src"}' | j released)" false "RELEASE: nothing was activated"
check "CLEANUP" -- sdrv vfs "$C" CLEANUP
done_testing
