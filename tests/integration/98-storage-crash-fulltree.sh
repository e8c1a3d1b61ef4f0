#!/bin/bash
# sanitize: no (needs the FAULT=1 build; scripts/test.sh runs it in the plain tier only)
# Crash injection for the btrfs and vfs storage drivers (the FAULT=1 build SIGKILLs a driver
# at a chosen BERTH_FAULT_POINT, common/fault.c), as 98-storage-crash.sh does for overlay.
# For every point that CREATE (a child of a shared base: a snapshot for btrfs, a copy for vfs,
# killed after every entry it copies), APPLY_DIFF and REMOVE pass: kill there, run the
# recovery the protocol promises (INIT, GC or REMOVE, in turn), and prove that no partial
# layer is visible (EXISTS, LIST, METADATA), that the store on disk is exactly what it was
# before the call (files, and for btrfs the subvolumes, read back with btrfs-progs), and that
# the same id is then created, applied and mounted with byte-identical content.  On btrfs with
# quotas, a REMOVE killed after the delete leaves its qgroup to the next GC.
# Every mount stays in a private mount namespace of this test.
if [ -z "${BERTH_FTCRASH_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	BERTH_FTCRASH_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib-storage.bash"
need_root
FB=${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}
[ "${SANITIZE:-}" = 1 ] && skip_all "crash injection runs in the plain tier (FAULT=1 build)"
for d in btrfs vfs; do
	[ -x "$FB/storage/$d" ] || { echo "not ok 1 - $FB/storage/$d missing: make FAULT=1"; echo 1..1; exit 1; }
done
W=$(mktemp -d /tmp/berth-ftcrash.$T.XXXXXX)
defer "rm -rf $W"

# crash_matrix DRIVER STOREDIR: the whole matrix against one driver
crash_matrix() {
	local name=$1 store=$2
	local R=$store/root RUN=$W/$name-run CONF=$W/$name.json DRV=$FB/storage/$name
	local P_CREATE P_APPLY P_REMOVE WANT M i id rec p rc before n n_entries
	stor_conf "$CONF" "$R" "$RUN"
	drv() { "$STOR_TREE" request "$CONF" "$2" | STOR_COMMAND=$1 "$DRV" 2>>"$W/stderr"; }
	exists() { drv EXISTS "{\"id\":\"$1\"}" | "$STOR_TREE" get exists; }
	# What the store holds: every path under root but the content of layer trees, the run
	# dir's refcounts, our mounts, and for btrfs every subvolume of the filesystem.
	store_state() {
		(cd "$R" && find . -path './layers/*/fs/*' -prune -o -print | sort)
		(cd "$RUN" 2>/dev/null && find . -path ./locks -prune -o -print | sort)
		awk -v r="$R/" 'index($5, r) == 1 {print "mount " $5}' /proc/self/mountinfo
		[ "$name" = btrfs ] && btrfs subvolume list "$store" | awk '{print "subvolume " $NF}' | sort
		return 0
	}
	check "$name: INIT" -- drv INIT '{}'
	# the base every test layer is built on, and the content each one gets
	drv CREATE '{"id":"base"}' >/dev/null
	M=$(drv MOUNT '{"id":"base"}' | "$STOR_TREE" get path)
	mkdir -p "$M/etc" "$M/usr/bin" && echo base >"$M/etc/os-release" && echo sh >"$M/usr/bin/sh"
	ln -s sh "$M/usr/bin/ash" && echo conf >"$M/etc/conf"
	drv UNMOUNT '{"id":"base"}' >/dev/null
	drv CREATE '{"id":"src","parent":"base"}' >/dev/null
	M=$(drv MOUNT '{"id":"src"}' | "$STOR_TREE" get path)
	mkdir -p "$M/app/lib" "$M/app/data"
	for i in 1 2 3 4 5 6; do echo "file $i" >"$M/app/lib/f$i"; done
	"$STOR_TREE" big "$M/app/data/blob" 2
	ln -s lib/f1 "$M/app/link" && ln "$M/app/lib/f2" "$M/app/hard" && chmod 4755 "$M/app/lib/f3"
	rm "$M/etc/os-release" && echo src >"$M/etc/hostname"
	drv UNMOUNT '{"id":"src"}' >/dev/null
	drv DIFF '{"id":"src","stream":{"fd":3}}' 3>"$W/$name-src.tar" >/dev/null
	ok $? "$name: DIFF of the source layer"
	M=$(drv MOUNT '{"id":"src"}' | "$STOR_TREE" get path)
	WANT=$("$STOR_TREE" manifest "$M")
	drv UNMOUNT '{"id":"src"}' >/dev/null
	check "$name: REMOVE the source layer" -- drv REMOVE '{"id":"src"}'
	n_entries=$(tar -tf "$W/$name-src.tar" | wc -l)

	# the points each verb passes (PROG:NAME#N, the N-th pass of NAME)
	points() { # VERB ARGS [TAR]
		rm -f "$W/points"
		if [ -n "${3:-}" ]; then
			BERTH_FAULT='*' BERTH_FAULT_LOG=$W/points drv "$1" "$2" 3<"$3" >/dev/null
		else
			BERTH_FAULT='*' BERTH_FAULT_LOG=$W/points drv "$1" "$2" >/dev/null
		fi
		awk '{n[$0]++; print $0 "#" n[$0]}' "$W/points"
	}
	P_CREATE=$(points CREATE '{"id":"enum","parent":"base"}')
	P_APPLY=$(points APPLY_DIFF '{"id":"enum","stream":{"fd":3}}' "$W/$name-src.tar")
	P_REMOVE=$(points REMOVE '{"id":"enum"}')
	is "$(exists enum)" false "$name: enumeration layer removed"
	for p in create-after-incomplete create-after-tree create-before-rename create-after-rename \
		create-before-complete; do
		grep -qx "$name:$name-$p#1" <<<"$P_CREATE"; ok $? "$name: point $name-$p is on the CREATE path"
	done
	if [ "$name" = vfs ]; then
		is "$(grep -c "vfs:vfs-copy-entry" <<<"$P_CREATE")" "$(cd "$R/layers/base/fs" && find . -mindepth 1 | wc -l)" \
			"vfs: CREATE passes a point after each entry it copies"
	fi
	for p in "$name-apply-after-incomplete" archive-apply-entry archive-apply-before-dirs \
		"$name-apply-before-complete"; do
		grep -qx "$name:$p#1" <<<"$P_APPLY"; ok $? "$name: point $p is on the APPLY_DIFF path"
	done
	[ "$name" = btrfs ] && { grep -qx "btrfs:btrfs-sealed#1" <<<"$P_APPLY"; ok $? "btrfs: point btrfs-sealed (read-only once filled) is on the APPLY_DIFF path"; }
	is "$(grep -c archive-apply-entry <<<"$P_APPLY")" "$n_entries" \
		"$name: APPLY_DIFF passes a point after each of the $n_entries tar entries"
	grep -qx "$name:$name-remove-after-rename#1" <<<"$P_REMOVE"
	ok $? "$name: point $name-remove-after-rename is on the REMOVE path"

	verify_rebuild() { # ID WHAT: the id builds and applies correctly now, then goes again
		local vid=$1 what=$2 m
		drv CREATE "{\"id\":\"$vid\",\"parent\":\"base\"}" >/dev/null &&
			drv APPLY_DIFF "{\"id\":\"$vid\",\"stream\":{\"fd\":3}}" 3<"$W/$name-src.tar" >/dev/null
		ok $? "$what: the same id is created and applied again"
		m=$(drv MOUNT "{\"id\":\"$vid\"}" | "$STOR_TREE" get path)
		is "$("$STOR_TREE" manifest "$m" 2>&1)" "$WANT" "$what: its content is byte-identical"
		drv UNMOUNT "{\"id\":\"$vid\"}" >/dev/null
		drv REMOVE "{\"id\":\"$vid\"}" >/dev/null
	}
	after_crash() { # ID WHAT BEFORE RECOVERY
		local aid=$1 what=$2 abefore=$3 arec=$4
		is "$(exists "$aid")" false "$what: the partial layer is invisible (EXISTS)"
		case $arec in
		REMOVE) drv REMOVE "{\"id\":\"$aid\"}" >/dev/null ;;
		*) drv "$arec" '{}' >/dev/null ;;
		esac
		ok $? "$what: $arec succeeds"
		! drv LIST '{}' | grep -q "\"$aid\""
		ok $? "$what: not in LIST after $arec"
		is "$(drv METADATA "{\"id\":\"$aid\"}" | "$STOR_TREE" get code)" 3 "$what: METADATA says unknown layer (3)"
		is "$(store_state)" "$abefore" "$what: the store on disk is as before the call"
		verify_rebuild "$aid" "$what"
	}
	local RECOVERY=(INIT GC REMOVE)
	i=0
	for p in $P_CREATE; do
		i=$((i + 1)) id=c$i rec=${RECOVERY[i % 3]}
		before=$(store_state)
		(BERTH_FAULT=$p drv CREATE "{\"id\":\"$id\",\"parent\":\"base\"}" >/dev/null) 2>/dev/null
		rc=$?
		[ $rc -ne 0 ]; ok $? "$name: CREATE killed at $p (rc $rc)"
		after_crash "$id" "$name: CREATE killed at $p" "$before" "$rec"
	done
	for p in $P_APPLY; do
		i=$((i + 1)) id=a$i rec=${RECOVERY[i % 3]}
		before=$(store_state)
		drv CREATE "{\"id\":\"$id\",\"parent\":\"base\"}" >/dev/null
		(BERTH_FAULT=$p drv APPLY_DIFF "{\"id\":\"$id\",\"stream\":{\"fd\":3}}" 3<"$W/$name-src.tar" >/dev/null) 2>/dev/null
		rc=$?
		[ $rc -ne 0 ]; ok $? "$name: APPLY_DIFF killed at $p (rc $rc)"
		after_crash "$id" "$name: APPLY_DIFF killed at $p" "$before" "$rec"
	done
	# REMOVE killed: the layer is still there (before the rename) or not, never half; a second
	# REMOVE finishes, INIT clears what a kill after the rename left in staging/
	for p in $P_REMOVE; do
		i=$((i + 1)) id=r$i
		before=$(store_state)
		drv CREATE "{\"id\":\"$id\",\"parent\":\"base\"}" >/dev/null
		drv APPLY_DIFF "{\"id\":\"$id\",\"stream\":{\"fd\":3}}" 3<"$W/$name-src.tar" >/dev/null
		(BERTH_FAULT=$p drv REMOVE "{\"id\":\"$id\"}" >/dev/null) 2>/dev/null
		rc=$?
		[ $rc -ne 0 ]; ok $? "$name: REMOVE killed at $p (rc $rc)"
		check "$name: REMOVE killed at $p: REMOVE again" -- drv REMOVE "{\"id\":\"$id\"}"
		check "$name: REMOVE killed at $p: INIT" -- drv INIT '{}'
		is "$(exists "$id")" false "$name: REMOVE killed at $p: gone"
		is "$(store_state)" "$before" "$name: REMOVE killed at $p: the store on disk is as before"
		verify_rebuild "$id" "$name: REMOVE killed at $p"
	done
	n=$(wc -w <<<"$P_CREATE $P_APPLY $P_REMOVE")
	diag "$name crash matrix: $(wc -w <<<"$P_CREATE") CREATE + $(wc -w <<<"$P_APPLY") APPLY_DIFF + $(wc -w <<<"$P_REMOVE") REMOVE points = $n kills"
	[ "$n" -ge 15 ]; ok $? "$name: at least 15 kill points exercised ($n)"
	is "$(drv LIST '{}' | "$STOR_TREE" get ids)" '["base"]' "$name: only the base layer is left"
	check "$name: CLEANUP" -- drv CLEANUP '{}'
}

if grep -qw btrfs /proc/filesystems && command -v mkfs.btrfs >/dev/null && mkbtrfs "$W/b" 512M; then
	crash_matrix btrfs "$W/b"
else
	ok 1 "a btrfs filesystem for the btrfs matrix (btrfs in the kernel, mkfs.btrfs)"
fi
# btrfs with quotas: a REMOVE killed between the subvolume's delete and its qgroup's destroy
# leaves the id in a marker in staging/; the next GC destroys the qgroup
if [ -d "$W/b" ] && mkbtrfs "$W/q" 512M && btrfs quota enable "$W/q"; then
	stor_conf "$W/q.json" "$W/q/root" "$W/q-run"
	qdrv() { "$STOR_TREE" request "$W/q.json" "$2" | STOR_COMMAND=$1 "$FB/storage/btrfs" 2>>"$W/stderr"; }
	qdrv INIT '{}' >/dev/null
	qdrv CREATE '{"id":"q1"}' >/dev/null
	qid=$(qdrv METADATA '{"id":"q1"}' | "$STOR_TREE" get subvolumeId)
	qgroup_of() { btrfs qgroup show --raw "$W/q" | awk -v q="0/$1" '$1 == q {print "present"}'; }
	(BERTH_FAULT=btrfs:btrfs-remove-deleted#1 qdrv REMOVE '{"id":"q1"}' >/dev/null) 2>/dev/null
	rc=$?
	[ $rc -ne 0 ]; ok $? "btrfs with quotas: REMOVE killed after the delete (rc $rc)"
	ls "$W/q/root/staging"/*/fs.qgroup >/dev/null 2>&1
	ok $? "btrfs with quotas: the qgroup id waits in a marker in staging/"
	check "btrfs with quotas: GC after the kill" -- qdrv GC '{}'
	is "$(qgroup_of "$qid")" "" "btrfs with quotas: GC destroyed the qgroup 0/$qid of the killed REMOVE"
	is "$(ls -A "$W/q/root/staging")" "" "btrfs with quotas: staging/ is empty"
	uuid=$(btrfs filesystem show "$W/q" | awk '/uuid:/ {print $NF; exit}')
	is "$(cat "/sys/fs/btrfs/$uuid/qgroups/inconsistent")" 0 "btrfs with quotas: the qgroup numbers are consistent"
	check "btrfs with quotas: CLEANUP" -- qdrv CLEANUP '{}'
else
	ok 1 "a btrfs with quotas for the qgroup kill"
fi
mkdir -p "$W/v"
crash_matrix vfs "$W/v"
done_testing
