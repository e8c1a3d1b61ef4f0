#!/bin/bash
# sanitize: no (needs the FAULT=1 build; scripts/test.sh runs it in the plain tier only)
# Crash injection for the overlay storage driver (issue 7).  The FAULT=1 build SIGKILLs the
# driver at a chosen BERTH_FAULT_POINT (common/fault.c).  For every point that CREATE (on a
# shared parent), APPLY_DIFF and REMOVE pass: kill there, run the recovery the protocol
# promises (INIT, GC or REMOVE, in turn), and prove that no partial layer is visible (EXISTS,
# LIST, METADATA), that the store on disk is exactly what it was before the call (no layer
# dir, staging entry, l/ link, child marker or mount left), and that the same id can then be
# created, applied and mounted with byte-identical content.
# Every mount stays in a private mount namespace of this test.
if [ -z "${BERTH_STCRASH_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	BERTH_STCRASH_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/../lib.sh"
need_root
FB=${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}
[ "${SANITIZE:-}" = 1 ] && skip_all "crash injection runs in the plain tier (FAULT=1 build)"
grep -qw overlay /proc/filesystems || skip_all "no overlay filesystem"
[ -x "$FB/storage/overlay" ] || { echo "not ok 1 - $FB missing: make FAULT=1"; echo 1..1; exit 1; }
DRV=$FB/storage/overlay
TREE=$BERTH_BUILD/tests/helpers/stor-tree
W=$(mktemp -d /tmp/berth-stcrash.$T.XXXXXX)
R=$W/root
CONF=$W/conf.json
printf '{"root":"%s","runRoot":"%s/run","options":{}}\n' "$R" "$W" >"$CONF"
# unmount everything of ours (merged dirs first, then the private root bind), then delete
cleanup_mounts() {
	awk -v r="$W/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
}
defer "rm -rf $W"
defer cleanup_mounts

# drv VERB ARGS_JSON: the driver's stdout; its status
drv() { "$TREE" request "$CONF" "$2" | STOR_COMMAND=$1 "$DRV" 2>>"$W/stderr"; }
exists() { drv EXISTS "{\"id\":\"$1\"}" | jq -r .exists; }
# What the store holds, as files: everything under root except the content of layer dirs
# (diff/work), the random l/ names resolved to their targets, the run dir's mount refcounts.
# Per-layer lock files under run/locks are not state (flock only) and stay by design.
store_state() {
	(cd "$R" && find . -path './*/diff/*' -prune -o -path './*/work/*' -prune -o \
		-path './l/*' -prune -o -print | sort)
	for l in "$R"/l/*; do [ -L "$l" ] && echo "l -> $(readlink "$l")"; done | sort
	(cd "$W/run" 2>/dev/null && find . -path ./locks -prune -o -print | sort)
	awk -v r="$R/" 'index($5, r) == 1 {print "mount " $5}' /proc/self/mountinfo
}

check "INIT" -- drv INIT '{}'
# The layer every test layer is built on, and the content each one gets.
drv CREATE '{"id":"base"}' >/dev/null
M=$(drv MOUNT '{"id":"base"}' | jq -r .path)
mkdir -p "$M/etc" "$M/usr/bin" && echo base >"$M/etc/os-release" && echo sh >"$M/usr/bin/sh"
drv UNMOUNT '{"id":"base"}' >/dev/null
drv CREATE '{"id":"src","parent":"base"}' >/dev/null
M=$(drv MOUNT '{"id":"src"}' | jq -r .path)
mkdir -p "$M/app/lib" "$M/app/data"
for i in 1 2 3 4 5 6; do echo "file $i" >"$M/app/lib/f$i"; done
"$TREE" big "$M/app/data/blob" 2
ln -s lib/f1 "$M/app/link" && ln "$M/app/lib/f2" "$M/app/hard" && chmod 4755 "$M/app/lib/f3"
rm "$M/etc/os-release" && echo "src" >"$M/etc/hostname"
drv UNMOUNT '{"id":"src"}' >/dev/null
drv DIFF '{"id":"src","stream":{"fd":3}}' 3>"$W/src.tar" >/dev/null
ok $? "DIFF of the source layer"
M=$(drv MOUNT '{"id":"src"}' | jq -r .path)
WANT=$("$TREE" manifest "$M")
drv UNMOUNT '{"id":"src"}' >/dev/null
check "REMOVE the source layer" -- drv REMOVE '{"id":"src"}'
n_entries=$(tar -tf "$W/src.tar" | wc -l)

# Enumerate the points each verb passes (PROG:NAME#N, the N-th pass of NAME).
points() { # VERB ARGS [STDIN-TAR]
	rm -f "$W/points"
	if [ -n "${3:-}" ]; then
		BERTH_FAULT='*' BERTH_FAULT_LOG=$W/points drv "$1" "$2" 3<"$3" >/dev/null
	else
		BERTH_FAULT='*' BERTH_FAULT_LOG=$W/points drv "$1" "$2" >/dev/null
	fi
	awk '{n[$0]++; print $0 "#" n[$0]}' "$W/points"
}
P_CREATE=$(points CREATE '{"id":"enum","parent":"base"}')
P_APPLY=$(points APPLY_DIFF '{"id":"enum","stream":{"fd":3}}' "$W/src.tar")
P_REMOVE=$(points REMOVE '{"id":"enum"}')
is "$(exists enum)" false "enumeration layer removed"
for want in overlay:ovl-create-after-incomplete overlay:ovl-create-before-lower \
	overlay:ovl-create-before-rename overlay:ovl-create-after-rename \
	overlay:ovl-create-after-link overlay:ovl-create-before-complete; do
	grep -qx "$want#1" <<<"$P_CREATE"; ok $? "point $want is on the CREATE path"
done
for want in overlay:ovl-apply-after-incomplete overlay:archive-apply-entry \
	overlay:archive-apply-before-dirs overlay:ovl-apply-before-complete; do
	grep -qx "$want#1" <<<"$P_APPLY"; ok $? "point $want is on the APPLY_DIFF path"
done
is "$(grep -c archive-apply-entry <<<"$P_APPLY")" "$n_entries" \
	"APPLY_DIFF passes a point after each of the $n_entries tar entries"
grep -qx "overlay:ovl-remove-after-rename#1" <<<"$P_REMOVE"
ok $? "point ovl-remove-after-rename is on the REMOVE path"

# verify ID WHAT: the id builds and applies correctly now, then goes again
verify_rebuild() {
	local id=$1 what=$2 m
	drv CREATE "{\"id\":\"$id\",\"parent\":\"base\"}" >/dev/null &&
		drv APPLY_DIFF "{\"id\":\"$id\",\"stream\":{\"fd\":3}}" 3<"$W/src.tar" >/dev/null
	ok $? "$what: the same id is created and applied again"
	m=$(drv MOUNT "{\"id\":\"$id\"}" | jq -r .path)
	is "$("$TREE" manifest "$m" 2>&1)" "$WANT" "$what: its content is byte-identical"
	drv UNMOUNT "{\"id\":\"$id\"}" >/dev/null
	drv REMOVE "{\"id\":\"$id\"}" >/dev/null
}
# after_crash ID WHAT BEFORE RECOVERY: nothing of ID visible or on disk after RECOVERY
after_crash() {
	local id=$1 what=$2 before=$3 rec=$4 out
	is "$(exists "$id")" false "$what: the partial layer is invisible (EXISTS)"
	case $rec in
	REMOVE) out=$(drv REMOVE "{\"id\":\"$id\"}") ;;
	*) out=$(drv "$rec" '{}') ;;
	esac
	ok $? "$what: $rec succeeds"
	drv LIST '{}' | jq -e --arg id "$id" '(.ids | index($id)) == null and
		([.layers[].id] | index($id)) == null' >/dev/null
	ok $? "$what: not in LIST after $rec"
	[ "$(drv METADATA "{\"id\":\"$id\"}" | jq -r .code)" = 3 ]
	ok $? "$what: METADATA says unknown layer (3)"
	is "$(store_state)" "$before" "$what: the store on disk is as before the call"
	verify_rebuild "$id" "$what"
}

RECOVERY=(INIT GC REMOVE)
i=0
for p in $P_CREATE; do
	i=$((i + 1)); id=c$i; rec=${RECOVERY[i % 3]}
	before=$(store_state)
	(BERTH_FAULT=$p drv CREATE "{\"id\":\"$id\",\"parent\":\"base\"}" >/dev/null) 2>/dev/null
	rc=$?
	[ $rc -ne 0 ]; ok $? "CREATE killed at $p (rc $rc)"
	after_crash "$id" "CREATE killed at $p" "$before" "$rec"
done
for p in $P_APPLY; do
	i=$((i + 1)); id=a$i; rec=${RECOVERY[i % 3]}
	before=$(store_state)
	drv CREATE "{\"id\":\"$id\",\"parent\":\"base\"}" >/dev/null
	(BERTH_FAULT=$p drv APPLY_DIFF "{\"id\":\"$id\",\"stream\":{\"fd\":3}}" 3<"$W/src.tar" >/dev/null) 2>/dev/null
	rc=$?
	[ $rc -ne 0 ]; ok $? "APPLY_DIFF killed at $p (rc $rc)"
	after_crash "$id" "APPLY_DIFF killed at $p" "$before" "$rec"
done
# REMOVE killed: the layer may still be there (before the rename) or not, never half; a
# second REMOVE finishes, and INIT clears the staging/ junk of a kill after the rename.
for p in $P_REMOVE; do
	i=$((i + 1)); id=r$i
	before=$(store_state)
	drv CREATE "{\"id\":\"$id\",\"parent\":\"base\"}" >/dev/null
	drv APPLY_DIFF "{\"id\":\"$id\",\"stream\":{\"fd\":3}}" 3<"$W/src.tar" >/dev/null
	(BERTH_FAULT=$p drv REMOVE "{\"id\":\"$id\"}" >/dev/null) 2>/dev/null
	rc=$?
	[ $rc -ne 0 ]; ok $? "REMOVE killed at $p (rc $rc)"
	check "REMOVE killed at $p: REMOVE again" -- drv REMOVE "{\"id\":\"$id\"}"
	check "REMOVE killed at $p: INIT" -- drv INIT '{}'
	is "$(exists "$id")" false "REMOVE killed at $p: gone"
	is "$(store_state)" "$before" "REMOVE killed at $p: the store on disk is as before"
	verify_rebuild "$id" "REMOVE killed at $p"
done
n=$(wc -w <<<"$P_CREATE $P_APPLY $P_REMOVE")
diag "crash matrix: $(wc -w <<<"$P_CREATE") CREATE + $(wc -w <<<"$P_APPLY") APPLY_DIFF + $(wc -w <<<"$P_REMOVE") REMOVE points = $n kills"
[ "$n" -ge 15 ]; ok $? "at least 15 kill points exercised ($n)"

# The parent was never disturbed.
is "$(drv LIST '{}' | jq -c .ids)" '["base"]' "only the base layer is left"
check "CLEANUP" -- drv CLEANUP '{}'
done_testing
