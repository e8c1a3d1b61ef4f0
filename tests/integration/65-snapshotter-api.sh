#!/bin/bash
# berth-snapshotter, the snapshots API as containerd uses it (overlay driver, a daemon of our
# own, the snap-client helper instead of containerd).  The behaviours containerd's own
# snapshotter test suite checks (snapshots/testsuite: Basic, Stat, Transitivity, View, Update,
# Remove, Walk with filters, layer file updates, deletes, chown, permissions, rename, read-only
# views, 128 layers), ported as shell checks; the mounts are mounted from the specs the
# daemon returns, as containerd mounts them.
source "$(dirname "$0")/lib-snap.bash"

snap_start
ok $? "daemon starts and listens"

# ---- Basic: prepare, write through the mounts, commit, child, view ----------------------------
sc prepare p-1 -l containerd.io/gc.root=basic
expect_code 0 "Prepare without a parent"
is "$(jq -r '.mounts[0].type' <<<"$OUT")" bind "a parentless active snapshot is a bind mount"
mnt p-1 "$W/m1"
ok $? "mount the Prepare specs"
echo foo >"$W/m1/foo" && mkdir -p "$W/m1/a/b" && echo c >"$W/m1/a/c" && chmod 0700 "$W/m1/a"
ok $? "write files through the mount"
umount "$W/m1"
sc commit c-1 p-1 -l containerd.io/gc.root=basic
expect_code 0 "Commit"
sc stat p-1
expect_code 5 "the active key is gone after Commit (NotFound)"
sc stat c-1
is "$(jq -r .info.kind <<<"$OUT")" committed "Stat: committed"
sc prepare p-2 c-1
expect_code 0 "Prepare on the committed snapshot"
is "$(jq -r '.mounts[0].type' <<<"$OUT")" overlay "a child is an overlay mount"
mnt p-2 "$W/m2"
is "$(cat "$W/m2/foo")" foo "the child sees its parent's file"
is "$(stat -c %a "$W/m2/a")" 700 "and its parent's modes"
echo bar >"$W/m2/bar" && rm -rf "$W/m2/a/b" && echo changed >"$W/m2/foo"
umount "$W/m2"
sc commit c-2 p-2
expect_code 0 "Commit the child"
sc view v-1 c-2
expect_code 0 "View of the child"
mnt v-1 "$W/m3"
ok $? "mount the View specs"
is "$(cat "$W/m3/foo") $(cat "$W/m3/bar")" "changed bar" "the view shows the child's changes"
[ ! -e "$W/m3/a/b" ] && [ -e "$W/m3/a/c" ]
ok $? "and the directory the child removed is absent, its sibling present"
( : >"$W/m3/new" ) 2>/dev/null
[ $? -ne 0 ]
ok $? "ViewReadonly: a view refuses writes"
umount "$W/m3"
sc stat c-2
is "$(jq -r '.info.parent' <<<"$OUT")" c-1 "Stat: the committed child's parent is c-1"
sc stat v-1
is "$(jq -r '[.info.kind,.info.parent] | join(" ")' <<<"$OUT")" "view c-2" "Stat of a view: kind view, parent"
sc mounts c-2
expect_code 9 "Mounts of a committed snapshot is FailedPrecondition"

# ---- Stat of an active snapshot ---------------------------------------------------------------
sc prepare stat-a
sc stat stat-a
is "$(jq -r '[.info.name,.info.kind,.info.parent] | join(",")' <<<"$OUT")" "stat-a,active," "StatActive: name, kind, no parent"
is "$(jq -r '.info.created == .info.updated' <<<"$OUT")" true "StatActive: created == updated"

# ---- Transitivity: a grandchild sees both layers ----------------------------------------------
sc prepare t-a
mnt t-a "$W/t" && echo 1 >"$W/t/one" && umount "$W/t"
sc commit t-ca t-a
sc prepare t-b t-ca
mnt t-b "$W/t" && echo 2 >"$W/t/two" && umount "$W/t"
sc commit t-cb t-b
sc prepare t-c t-cb
mnt t-c "$W/t"
is "$(cat "$W/t/one" "$W/t/two" | tr '\n' ' ')" "1 2 " "Transitivity: the grandchild sees both ancestors' files"
umount "$W/t"

# ---- Prepare/View failing ---------------------------------------------------------------------
sc view t-c t-cb
expect_code 6 "View with a key in use is AlreadyExists"
sc prepare t-c t-cb
expect_code 6 "Prepare with a key in use is AlreadyExists"
sc view v-missing nosuch
expect_code 5 "View of a missing parent is NotFound"
sc prepare p-on-active t-c
expect_code 3 "Prepare on an active snapshot is InvalidArgument (the parent must be committed)"
sc prepare p-on-view v-1
expect_code 3 "Prepare on a view is InvalidArgument"

# ---- Update ---------------------------------------------------------------------------------
sc prepare u-a
sc stat u-a
created=$(jq -r .info.created <<<"$OUT")
sc update u-a -l l1=v1 -l l2=v2 -l l3=v3 -l containerd.io/gc.root=r
expect_code 0 "Update without a mask"
is "$(jq -c .info.labels <<<"$OUT")" '{"containerd.io/gc.root":"r","l1":"v1","l2":"v2","l3":"v3"}' "all labels replaced"
is "$(jq -r .info.created <<<"$OUT")" "$created" "created is unchanged"
[ "$(jq -r .info.updated <<<"$OUT")" -gt "$created" ]
ok $? "updated moves on"
sc update u-a -l l1=updated -l l4=v4 -p labels.l1 -p labels.l2
is "$(jq -c .info.labels <<<"$OUT")" '{"containerd.io/gc.root":"r","l1":"updated","l3":"v3"}' "labels.l1 set, labels.l2 (absent in the request) removed, l4 not in the mask ignored"
sc update u-a -l l4=v4 -l containerd.io/gc.root=r -p labels
is "$(jq -c .info.labels <<<"$OUT")" '{"containerd.io/gc.root":"r","l4":"v4"}' "the path \"labels\" replaces them all"
sc update u-a -l x=y -p parent
expect_code 3 "an immutable field path is InvalidArgument"
sc stat u-a
is "$(jq -c .info.labels <<<"$OUT")" '{"containerd.io/gc.root":"r","l4":"v4"}' "and changes nothing"
sc update nosuch -l a=b
expect_code 5 "Update of a missing snapshot is NotFound"
sc update u-a -l empty=
is "$(jq -c .info.labels <<<"$OUT")" '{}' "a label with an empty value is not kept (as containerd)"
sc commit u-c u-a -l only=commit
sc stat u-c
is "$(jq -c .info.labels <<<"$OUT")" '{"only":"commit"}' "Commit replaces the labels, it does not inherit them"

# ---- Remove ---------------------------------------------------------------------------------
sc prepare r-a
sc commit r-c r-a
sc prepare reuse-1 r-c
sc remove reuse-1
expect_code 0 "Remove an active snapshot"
sc view reuse-1 r-c
expect_code 0 "its key can be used again (for a view)"
sc remove reuse-1
expect_code 0 "Remove the view"
sc prepare reuse-1 r-c
expect_code 0 "and again for an active snapshot"
sc remove r-c
expect_code 9 "Remove of a snapshot with a child is FailedPrecondition"
sc stat r-c
expect_code 0 "and it stays"
sc remove reuse-1
sc remove r-c
expect_code 0 "Remove the parent once its child is gone"
sc remove r-c
expect_code 5 "Remove again is NotFound"

# ---- RemoveIntermediateSnapshot -------------------------------------------------------------
sc prepare i-base-a
sc commit i-base i-base-a
sc prepare i-mid-a i-base
sc commit i-mid i-mid-a
sc prepare i-top i-mid
sc remove i-mid
expect_code 9 "Remove of an intermediate snapshot is FailedPrecondition"
sc remove i-top && sc remove i-mid && sc remove i-base
expect_code 0 "top-down removal succeeds"
for k in i-top i-mid i-base; do sc stat $k; [ "$RC" = 5 ] || break; done
expect_code 5 "and none of the three is left"

# ---- Walk (List with filters), the matrix of containerd's checkWalk ------------------------------
GR=containerd.io/gc.root=check-walk
sc prepare a-np -l $GR
sc prepare p-tmp -l $GR && sc commit p p-tmp -l $GR
sc prepare a p -l $GR
sc view v p -l $GR
sc prepare p-wl-tmp -l $GR && sc commit p-wl p-wl-tmp -l l=1 -l $GR
sc prepare a-wl p-wl -l l=2 -l $GR
sc view v-wl p-wl -l l=3 -l $GR
sc prepare a-np-wl -l l=2 -l $GR
walk() { # walk "EXPECTED SORTED NAMES" FILTER...
	local want=$1; shift
	local args=()
	for f in "$@"; do args+=(-f "$f"); done
	sc list "${args[@]}"
	is "$(jq -r '[.infos[].name] | sort | join(" ")' <<<"$OUT")" "$want" "List filter $*"
}
walk "a a-np a-np-wl a-wl p p-wl v v-wl" 'labels."containerd.io/gc.root"==check-walk'
walk "a a-np a-np-wl a-wl" 'kind==active,labels."containerd.io/gc.root"==check-walk'
walk "v v-wl" 'kind==view,labels."containerd.io/gc.root"==check-walk'
walk "p p-wl" 'kind==committed,labels."containerd.io/gc.root"==check-walk'
walk "a-np-wl p" 'name==p' 'name==a-np-wl'
walk "a-wl" 'name==a-wl,labels.l'
walk "a v" 'parent==p'
walk "a a-wl v v-wl" 'parent!="",labels."containerd.io/gc.root"==check-walk'
walk "a-np-wl a-wl p-wl v-wl" 'labels.l'
walk "a-np-wl a-wl" 'labels.l==2'
walk "a-np-wl a-wl" 'name~=/^a-.*wl$/'
sc list -f 'name=='
expect_code 3 "a filter without a value is InvalidArgument"
sc list -f 'kind==active,'
expect_code 3 "a dangling ',' is InvalidArgument"
sc list -f 'name~=/(/'
expect_code 3 "a regular expression that does not compile is InvalidArgument"

# ---- StatInWalk: every listed snapshot stats the same -----------------------------------------
sc list
all=$OUT
bad=0
for name in $(jq -r '.infos[].name' <<<"$all"); do
	sc stat "$name"
	[ "$(jq -c .info <<<"$OUT")" = "$(jq -c --arg n "$name" '.infos[] | select(.name == $n)' <<<"$all")" ] || bad=$((bad + 1))
done
is "$bad" 0 "StatInWalk: Stat of each listed snapshot equals its List entry"

# ---- files across layers: update, remove dir, chown, permissions on commit, move, rename -------
sc prepare f-a
mnt f-a "$W/f"
mkdir -p "$W/f/d/sub" "$W/f/perm" && echo old >"$W/f/file" && echo m >"$W/f/d/movable"
echo r >"$W/f/renamed-from" && chown 1234:5678 "$W/f/file" && chmod 0711 "$W/f/perm"
umount "$W/f"
sc commit f-c f-a
sc prepare f-b f-c
mnt f-b "$W/f"
echo new >"$W/f/file"
rm -rf "$W/f/d/sub"
mv "$W/f/d/movable" "$W/f/moved"
mv "$W/f/renamed-from" "$W/f/renamed-to"
chown 42:43 "$W/f/perm"
umount "$W/f"
sc commit f-c2 f-b
sc view f-v f-c2
mnt f-v "$W/f"
is "$(cat "$W/f/file")" new "LayerFileupdate: the upper layer's content wins"
[ ! -e "$W/f/d/sub" ] && [ -d "$W/f/d" ]
ok $? "RemoveDirectoryInLowerLayer: the removed directory is gone, its parent stays"
is "$(stat -c %u:%g "$W/f/file")" 1234:5678 "Chown: ownership from the lower layer survives a content change"
is "$(stat -c '%a %u:%g' "$W/f/perm")" "711 42:43" "DirectoryPermissionOnCommit: mode and the new owner after commit"
[ ! -e "$W/f/d/movable" ] && [ "$(cat "$W/f/moved")" = m ]
ok $? "MoveFileFromLowerLayer"
[ ! -e "$W/f/renamed-from" ] && [ "$(cat "$W/f/renamed-to")" = r ]
ok $? "Rename"
umount "$W/f"

# ---- RootPermission ---------------------------------------------------------------------------
sc prepare root-perm
mnt root-perm "$W/rp"
is "$(stat -c %a "$W/rp")" 755 "RootPermission: a new snapshot's root is 0755"
umount "$W/rp"

# ---- Usage ------------------------------------------------------------------------------------
sc prepare us-a
mnt us-a "$W/us"
head -c 1048576 /dev/urandom >"$W/us/blob"
umount "$W/us"
sc usage us-a
act=$(jq -r .size <<<"$OUT")
[ "$act" -ge 1048576 ]
ok $? "Usage of an active snapshot counts what was written ($act bytes)"
sc stat us-a
drv_usage=$(drv USAGE '{"id":"snap-'"$(sqlite3 "$W/storage/containerd/metadata.db" "select id from snapshots where key='us-a'")"'"}' | jq -r .size)
is "$act" "$drv_usage" "and equals the driver's USAGE of its layer"
sc commit us-c us-a
sc usage us-c
is "$(jq -r .size <<<"$OUT")" "$act" "Usage of the committed snapshot is the size at commit"

# ---- keys: '/' and more are fine, they never become paths ----------------------------------------
sc prepare 'default/12/extract-123 sha256:abc/../../etc'
expect_code 0 "a key with '/', '..' and spaces is accepted"
[ ! -e "$W/etc" ] && ! ls "$DROOT" | grep -q 'etc\|sha256'
ok $? "and no path was made from it (layers are snap-<n>)"
long=$(head -c 4096 /dev/zero | tr '\0' k)
sc prepare "$long"
expect_code 0 "a 4096-byte key is accepted"
sc stat "$long"
is "$(jq -r '.info.name | length' <<<"$OUT")" 4096 "and stats back whole"
sc prepare "${long}k"
expect_code 3 "a 4097-byte key is InvalidArgument"
sc prepare 'ключ/✓'
expect_code 0 "a UTF-8 key"

# ---- List streams in batches of 100 -------------------------------------------------------------
sc parallel 150 prepare "many-%d"
expect_code 0 "150 Prepares at once"
sc list -f 'name~=^many-'
is "$(jq -r '.infos | length' <<<"$OUT")" 150 "List returns all 150"
is "$(jq -r '.messages' <<<"$OUT")" 2 "in two stream messages (100 + 50)"
sc parallel 150 remove "many-%d"
expect_code 0 "150 Removes at once"

# ---- 128 layers -------------------------------------------------------------------------------
parent=
ok128=0
for i in $(seq 1 128); do
	sc prepare "l128-a$i" $parent || break
	mnt "l128-a$i" "$W/l" || break
	echo "$i" >"$W/l/f$i"
	echo "$i" >"$W/l/top"
	umount "$W/l"
	sc commit "l128-$i" "l128-a$i" || break
	parent=l128-$i
	ok128=$i
done
is "$ok128" 128 "128 layers committed one on another"
sc view l128-view l128-128
mnt l128-view "$W/l"
is "$(ls "$W/l" | grep -c '^f')" 128 "128LayersMount: the view shows a file of every layer"
is "$(cat "$W/l/top")" 128 "and the top layer's version of a file changed in every layer"
umount "$W/l"

# ---- the store agrees with the metadata ---------------------------------------------------------
sc list
meta=$(jq -r '.infos | length' <<<"$OUT")
is "$(layers | wc -l)" "$meta" "the driver holds exactly one layer per snapshot ($meta)"
sc cleanup
expect_code 0 "Cleanup with nothing to clean"
is "$(layers | wc -l)" "$meta" "and keeps every layer a snapshot uses"

snap_stop
is "$SNAP_RC" 0 "SIGTERM: the daemon exits 0"
[ ! -e "$SOCK" ]
ok $? "and removes its socket"
done_testing
