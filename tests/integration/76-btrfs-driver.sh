#!/bin/bash
# The btrfs storage driver.  The conformance suite three times: on a btrfs the suite makes
# itself, with quotas enabled (the size cases run), and with the naive diff.  Then what only
# btrfs has, read back with btrfs-progs (tests only): layers are subvolumes, a child a snapshot
# of its parent (parent UUID), image layers read-only once filled or once a child exists,
# container layers writable, qgroup limits, INIT 13 off btrfs, subvolumes made inside a
# container removed with it; the TREE_SEARCH diff compared with the full comparison over
# random changes (CHANGES, DIFF bytes, DIFF_SIZE), and its fallback when the parent changed.
# Every mount stays in a private mount namespace of this test.
if [ -z "${BERTH_BTRFS_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	BERTH_BTRFS_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib-storage.bash"
need_root
grep -qw btrfs /proc/filesystems || skip_all "no btrfs in this kernel"
command -v mkfs.btrfs >/dev/null || skip_all "mkfs.btrfs missing (btrfs-progs: scripts/deps.sh)"
DRV=$STOR_BIN/btrfs
[ -x "$DRV" ] && [ -x "$STOR_TREE" ] || skip_all "build first"
W=$(mktemp -d /tmp/berth-btrfs.$T.XXXXXX)
defer "rm -rf $W"

stor_conformance "btrfs" "$DRV"

mkbtrfs "$W/q" 512M || { ok 1 "make a btrfs with quotas"; done_testing; exit; }
btrfs quota enable "$W/q"
stor_conf "$W/q.json" "$W/q/root" "$W/q-run"
stor_conformance "btrfs with quotas" "$DRV" "$W/q.json"

mkbtrfs "$W/b" 1G || { ok 1 "make a btrfs"; done_testing; exit; }
stor_conf "$W/naive.json" "$W/b/naive" "$W/naive-run" '{"force_naive_diff":true}'
stor_conformance "btrfs naive diff" "$DRV" "$W/naive.json"

R=$W/b/root
C=$W/c.json
N=$W/n.json # the same store, the full comparison
stor_conf "$C" "$R" "$W/run"
stor_conf "$N" "$R" "$W/run" '{"force_naive_diff":true}'
d() { sdrv btrfs "$C" "$@"; }
dn() { sdrv btrfs "$N" "$@"; }
j() { "$STOR_TREE" get "$1"; }
defer "sdrv btrfs $C CLEANUP"
check "INIT" -- d INIT

# ---- off btrfs ----
mkdir -p "$W/t" && mount -t tmpfs -o size=16m "berth-btrfs-$T" "$W/t"
defer "umount -l $W/t"
stor_conf "$W/t.json" "$W/t/deep/root" "$W/t-run"
out=$(sdrv btrfs "$W/t.json" INIT)
is "$(j code <<<"$out")" 13 "INIT with a root on tmpfs is code 13"
grep -q tmpfs <<<"$out"; ok $? "the error says the root is on tmpfs ($(j msg <<<"$out"))"
[ ! -e "$W/t/deep" ]; ok $? "nothing was created off btrfs"
is "$(sdrv btrfs "$W/t.json" CREATE '{"id":"x"}' | j code)" 13 "every verb answers 13 there"

# ---- layers are subvolumes ----
uuid() { btrfs subvolume show "$1" 2>/dev/null | awk '$1 == "UUID:" {print $2}'; }
puuid() { btrfs subvolume show "$1" 2>/dev/null | awk '$1 == "Parent" && $2 == "UUID:" {print $3}'; }
ro() { btrfs property get -ts "$1" ro 2>/dev/null; }
d CREATE '{"id":"base"}' >/dev/null
out=$(d MOUNT '{"id":"base"}')
P=$(j path <<<"$out")
is "$P" "$R/layers/base/fs" "MOUNT hands out the layer's own directory"
btrfs subvolume show "$P" >/dev/null 2>&1; ok $? "a base layer is a subvolume"
! grep -q " $P " /proc/self/mountinfo; ok $? "a read-write MOUNT mounts nothing"
"$STOR_TREE" fill "$P"
d UNMOUNT '{"id":"base"}' >/dev/null
is "$(ro "$P")" "ro=false" "a base layer is writable while nothing is built on it"
d DIFF '{"id":"base","stream":{"fd":3}}' 3>"$W/base.tar" >/dev/null
d CREATE '{"id":"img"}' >/dev/null
is "$(ro "$R/layers/img/fs")" "ro=false" "a fresh image layer is writable"
check "APPLY_DIFF into it" -- d APPLY_DIFF '{"id":"img","stream":{"fd":3}}' 3<"$W/base.tar"
is "$(ro "$R/layers/img/fs")" "ro=true" "once filled, an image layer is a read-only subvolume"
d CREATE '{"id":"ctr","parent":"img","rw":true}' >/dev/null
is "$(puuid "$R/layers/ctr/fs")" "$(uuid "$R/layers/img/fs")" "a child is a snapshot of its parent (parent UUID)"
is "$(ro "$R/layers/ctr/fs")" "ro=false" "a container layer (rw) is a writable snapshot"
d CREATE '{"id":"child","parent":"base"}' >/dev/null
is "$(ro "$R/layers/base/fs")" "ro=true" "a layer becomes read-only once a child is made from it"
is "$(d METADATA '{"id":"base"}' | j readOnly)" true "METADATA says so"

# ro MOUNT of a writable layer: a read-only bind on itself, gone at the last UNMOUNT
P=$(d MOUNT '{"id":"ctr","ro":true}' | j path)
grep " $P " /proc/self/mountinfo | grep -q ' ro[, ]'; ok $? "read-only MOUNT of a writable layer binds it read-only"
(: >"$P/probe") 2>/dev/null; ok $((! $?)) "writes fail through it"
is "$(d MOUNT '{"id":"ctr"}' | j code)" 10 "a read-write MOUNT meanwhile is code 10"
d UNMOUNT '{"id":"ctr"}' >/dev/null
! grep -q " $P " /proc/self/mountinfo; ok $? "the bind is gone at 0 references"
: >"$P/probe"; ok $? "and the layer is writable again"
rm -f "$P/probe"

# MOUNTS: the subvolume by id, for a caller (containerd) to mount itself
out=$(d MOUNTS '{"id":"ctr"}')
sid=$(d METADATA '{"id":"ctr"}' | j subvolumeId)
is "$(j mounts.0.type <<<"$out"):$(j mounts.0.source <<<"$out")" "btrfs:$(awk -v m="$W/b" '$2 == m {print $1}' /proc/mounts)" \
	"MOUNTS: a btrfs mount of the filesystem's device"
is "$(jq -r '.mounts[0].options | join(",")' <<<"$out")" "subvolid=$sid,subvol=/root/layers/ctr/fs,rw" \
	"MOUNTS: the layer's subvolume by id and path, read-write"
is "$(j activated <<<"$out")" false "MOUNTS activates nothing"
mkdir -p "$W/spec"
mount -t btrfs -o "$(jq -r '.mounts[0].options | join(",")' <<<"$out")" "$(j mounts.0.source <<<"$out")" "$W/spec"
ok $? "the specs mount"
is "$("$STOR_TREE" manifest "$W/spec")" "$("$STOR_TREE" manifest "$R/layers/ctr/fs")" "they show the layer's tree"
echo via-specs >"$W/spec/via-specs" && umount "$W/spec"
is "$(cat "$R/layers/ctr/fs/via-specs")" via-specs "a write through them lands in the layer"
is "$(d MOUNTS '{"id":"img"}' | jq -r '.mounts[0].options[-1]')" ro "MOUNTS of a read-only layer: ro"
is "$(d MOUNTS '{"id":"ctr","ro":true}' | jq -r '.mounts[0].options[-1]')" ro "MOUNTS ro: ro"
is "$(d RELEASE '{"id":"ctr"}' | j released)" false "RELEASE: nothing was activated"

# subvolumes a container makes inside its rootfs go with it
P=$(d MOUNT '{"id":"ctr"}' | j path)
btrfs subvolume create "$P/nested" >/dev/null && btrfs subvolume create "$P/nested/deeper" >/dev/null
d UNMOUNT '{"id":"ctr"}' >/dev/null
check "REMOVE of a layer holding subvolumes" -- d REMOVE '{"id":"ctr"}'
btrfs subvolume list "$W/b" | grep -q 'layers/ctr\|nested'; ok $((! $?)) "no subvolume of it is left"

# ---- qgroup limits ----
QC=$W/qc.json
stor_conf "$QC" "$W/q/sized" "$W/qs-run"
sdrv btrfs "$QC" INIT >/dev/null
check "CREATE with size 16M (quotas on)" -- sdrv btrfs "$QC" CREATE '{"id":"lim","size":"16M"}'
id=$(sdrv btrfs "$QC" METADATA '{"id":"lim"}' | j subvolumeId)
is "$(btrfs qgroup show -re --raw "$W/q" | awk -v q="0/$id" '$1 == q {print $5}')" 16777216 \
	"the layer's qgroup has a 16 MiB exclusive limit (btrfs qgroup show)"
is "$(sdrv btrfs "$QC" CREATE '{"id":"lim2","size":"12Q"}' | j code)" 7 "a bad size is code 7"
P=$(sdrv btrfs "$QC" MOUNT '{"id":"lim"}' | j path)
"$STOR_TREE" big "$P/a" 12; ok $? "12 MiB fit"
"$STOR_TREE" big "$P/b" 12 2>/dev/null; ok $((! $?)) "12 more do not (EDQUOT)"
rm -f "$P/b"
is "$(sdrv btrfs "$QC" USAGE '{"id":"lim"}' | j source)" qgroup "USAGE reads the qgroup"
u=$(sdrv btrfs "$QC" USAGE '{"id":"lim"}' | j size)
[ "$u" -ge $((12 << 20)) ] && [ "$u" -lt $((14 << 20)) ]; ok $? "USAGE: the layer's exclusive bytes ($u)"
sdrv btrfs "$QC" UNMOUNT '{"id":"lim"}' >/dev/null
# a removed layer's qgroup goes with it (read back with btrfs-progs, at once after the call)
qgroup_of() { btrfs qgroup show --raw "$W/q" | awk -v q="0/$1" '$1 == q {print "present"}'; }
check "REMOVE of the sized layer" -- sdrv btrfs "$QC" REMOVE '{"id":"lim"}'
is "$(qgroup_of "$id")" "" "REMOVE destroyed its qgroup 0/$id"
sdrv btrfs "$QC" CREATE '{"id":"gcme","size":"8M"}' >/dev/null
id=$(sdrv btrfs "$QC" METADATA '{"id":"gcme"}' | j subvolumeId)
is "$(qgroup_of "$id")" present "a new layer has its qgroup 0/$id"
is "$(sdrv btrfs "$QC" GC '{"keep":[]}' | jq -c .removed)" '["gcme"]' "GC removes the unkept layer"
is "$(qgroup_of "$id")" "" "GC destroyed its qgroup 0/$id"
is "$(btrfs qgroup show "$W/q" | grep -c '<stale>')" 0 \
	"no stale qgroup on the quota filesystem (INIT probes, conformance, REMOVE, GC)"
uuid=$(btrfs filesystem show "$W/q" | awk '/uuid:/ {print $NF; exit}')
is "$(cat "/sys/fs/btrfs/$uuid/qgroups/inconsistent")" 0 \
	"the qgroup numbers are still consistent (no qgroup was destroyed holding bytes)"
sdrv btrfs "$QC" CLEANUP >/dev/null

# ---- the TREE_SEARCH diff against the full comparison ----
# populate DIR N: N directories of files, symlinks, hardlinks across directories, xattrs
populate() {
	local dir=$1 n=$2 i k
	for ((i = 0; i < n; i++)); do
		mkdir -p "$dir/d$i/sub"
		for ((k = 0; k < 12; k++)); do echo "d$i f$k" >"$dir/d$i/f$k"; done
		echo "deep $i" >"$dir/d$i/sub/g"
		ln -s "../d$(((i + 1) % n))/f0" "$dir/d$i/sym"
		[ "$i" -gt 0 ] && ln "$dir/d0/f$((i % 12))" "$dir/d$i/hl"
		setfattr -n user.tag -v "t$i" "$dir/d$i/f1" 2>/dev/null || true
	done
}
# mutate DIR: one random change (of 14 kinds) somewhere in the tree
mutate() {
	local dir=$1 i=$((RANDOM % 16)) k=$((RANDOM % 12))
	local f=$dir/d$i/f$k
	case $((RANDOM % 14)) in
	0) [ -f "$f" ] && echo more >>"$f" ;;
	1) [ -e "$f" ] && chmod 0$((RANDOM % 8))$((RANDOM % 8))0 "$f" ;;
	2) [ -e "$f" ] && chown $((RANDOM % 5)):$((RANDOM % 5)) "$f" ;;
	3) [ -e "$f" ] && setfattr -n user.r -v "$RANDOM" "$f" 2>/dev/null ;;
	4) [ -e "$dir/d$i/f1" ] && setfattr -x user.tag "$dir/d$i/f1" 2>/dev/null ;;
	5) rm -f "$f" ;;
	6) echo "new $RANDOM" >"$dir/d$i/new$RANDOM" ;;
	7) [ -e "$f" ] && ln -f "$f" "$dir/d$(((i + 3) % 16))/link$RANDOM" ;;
	8) [ -e "$f" ] && mv "$f" "$dir/d$(((i + 5) % 16))/moved$RANDOM" ;;
	9) [ -d "$dir/d$i/sub" ] && rm -rf "$dir/d$i/sub" ;;
	10) mkdir -p "$dir/d$i/nd$RANDOM/x" ;;
	11) [ -e "$f" ] && : >"$f" ;;
	12) [ -e "$f" ] && touch -h -d @$((1000000000 + RANDOM)) "$f" ;;
	13) [ -d "$dir/d$i" ] && [ -d "$dir/d$(((i + 7) % 16))" ] && mv "$dir/d$i" "$dir/d$(((i + 7) % 16))/sub-moved$RANDOM" ;;
	esac
	return 0
}
# compare ID WHAT: CHANGES, DIFF bytes and DIFF_SIZE of the fast path against the full one
compare() {
	local id=$1 what=$2 fast naive
	fast=$(d CHANGES "{\"id\":\"$id\"}")
	naive=$(dn CHANGES "{\"id\":\"$id\"}")
	is "$(j naive <<<"$fast"):$(j naive <<<"$naive")" "false:true" "$what: the fast path ran (and the reference did not)"
	is "$(j changes <<<"$fast")" "$(j changes <<<"$naive")" "$what: CHANGES equal ($(j changes <<<"$fast" | grep -o '"path"' | wc -l) changes)"
	d DIFF "{\"id\":\"$id\",\"stream\":{\"fd\":3}}" 3>"$W/fast.tar" >/dev/null
	dn DIFF "{\"id\":\"$id\",\"stream\":{\"fd\":3}}" 3>"$W/naive.tar" >/dev/null
	cmp -s "$W/fast.tar" "$W/naive.tar"; ok $? "$what: DIFF byte for byte ($(stat -c %s "$W/fast.tar") bytes)"
	is "$(d DIFF_SIZE "{\"id\":\"$id\"}" | j size)" "$(dn DIFF_SIZE "{\"id\":\"$id\"}" | j size)" "$what: DIFF_SIZE equal"
}
command -v setfattr >/dev/null || diag "setfattr missing: the xattr mutations do nothing"
d CREATE '{"id":"r0"}' >/dev/null
P=$(d MOUNT '{"id":"r0"}' | j path)
populate "$P" 16
d UNMOUNT '{"id":"r0"}' >/dev/null
RANDOM=16
prev=r0
for round in 1 2 3 4 5 6; do
	# rounds 1-3 change children of r0 (siblings), 4-6 a chain (each on the previous)
	parent=$([ "$round" -le 3 ] && echo r0 || echo "$prev")
	d CREATE "{\"id\":\"r$round\",\"parent\":\"$parent\"}" >/dev/null
	P=$(d MOUNT "{\"id\":\"r$round\"}" | j path)
	for ((m = 0; m < round * 6; m++)); do mutate "$P"; done
	d UNMOUNT "{\"id\":\"r$round\"}" >/dev/null
	compare "r$round" "round $round ($((round * 6)) random changes on $parent)"
	prev=r$round
done
# no change at all: nothing to export
d CREATE '{"id":"same","parent":"r0"}' >/dev/null
compare same "an unchanged snapshot"
is "$(d CHANGES '{"id":"same"}' | j changes)" "[]" "an unchanged snapshot has no changes"

# The parent changed after the snapshot (a writable parent): the full comparison answers.
d CREATE '{"id":"wp","rw":true}' >/dev/null
P=$(d MOUNT '{"id":"wp"}' | j path)
populate "$P" 4
d CREATE '{"id":"wc","parent":"wp"}' >/dev/null
echo later >"$P/d0/f0" && rm "$P/d1/f1"
d UNMOUNT '{"id":"wp"}' >/dev/null
out=$(d CHANGES '{"id":"wc"}')
is "$(j naive <<<"$out")" true "a snapshot of a parent that changed since: the full comparison"
is "$(j changes <<<"$out")" '[{"path":"/d0","kind":"modified"},{"path":"/d0/f0","kind":"modified"},{"path":"/d1","kind":"modified"},{"path":"/d1/f1","kind":"added"}]' \
	"it reports the child against the parent as it is now"

# ---- a 100-layer chain ----
prev=
for ((i = 1; i <= 100; i++)); do
	d CREATE "{\"id\":\"c$i\"${prev:+,\"parent\":\"$prev\"}}" >/dev/null || break
	P=$(d MOUNT "{\"id\":\"c$i\"}" | j path)
	echo "$i" >"$P/f$i"
	[ "$i" = 50 ] && rm "$P/f10"
	d UNMOUNT "{\"id\":\"c$i\"}" >/dev/null
	prev=c$i
done
is "$i" 101 "a chain of 100 layers"
is "$(d METADATA '{"id":"c100"}' | j depth)" 100 "depth 100"
P=$(d MOUNT '{"id":"c100"}' | j path)
n=0
for ((i = 1; i <= 100; i++)); do [ "$(cat "$P/f$i" 2>/dev/null)" = "$i" ] && n=$((n + 1)); done
is "$n" 99 "the top layer holds every layer's file but the one deleted at layer 50"
d UNMOUNT '{"id":"c100"}' >/dev/null
is "$(d CHANGES '{"id":"c100"}' | j changes)" '[{"path":"/f100","kind":"added"}]' "CHANGES of the top layer: its own file"

# ---- everything goes ----
check "GC with an empty keep list" -- d GC '{"keep":[]}'
is "$(d LIST | j ids)" "[]" "no layer left"
is "$(btrfs subvolume list "$W/b" | grep -c "root/")" 0 "no subvolume left under the driver's root"
done_testing
