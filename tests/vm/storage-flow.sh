#!/bin/bash
# One image flow through the berth storage CLI, the same on every driver:
#   storage-flow.sh BERTH CONFIG OCI_LAYOUT OUT_DIR
# import the OCI layout (ref flow:1), create c1, mount it (the image's tree: OUT/m1), make a
# container's changes in it (OUT/m2), diff (OUT/c1.tar), commit it (flow:2), create c2 from
# that and mount it (OUT/m3), diff c2 (OUT/c2.tar: nothing changed); a second container c3
# that empties a directory and refills it (the opaque-directory case: OUT/c3.tar, committed
# as flow:3, whose container c4 is OUT/m4); then rm, rmi, gc and the layers left (OUT/left).
# OUT/ids: the committed layers' ids (sha256 chain ids of the diffs).  Every tree listing is
# `stor-tree manifest` (STOR_TREE).  Times the container changed are set to a fixed instant, so
# that diffs compare byte for byte between drivers and runs.  Prints "# step" lines, ends
# with "flow: done" or "flow: FAILED at STEP"; exit status accordingly.  Runs on the host
# (tests/integration/78-storage-flow.sh) and inside the dm VM (storage-flow-inner.sh).
set -u
BERTH=$1 CONF=$2 OCI=$3 OUT=$4
TREE=${STOR_TREE:?STOR_TREE: the stor-tree helper}
export BERTH_STORAGE_CONFIG=$CONF
mkdir -p "$OUT"
step() { echo "# $*"; STEP=$*; }
fail() { echo "flow: FAILED at $STEP${1:+: $1}"; exit 1; }
b() { "$BERTH" storage "$@" 2>"$OUT/stderr" || fail "$(tail -3 "$OUT/stderr")"; }
FIXED=1700000000

step "info"
b --json info >"$OUT/info.json"
step "import the OCI layout"
b import "$OCI" >/dev/null
step "create c1"
b create flow:1 --name c1 >/dev/null
step "mount c1"
P=$(b mount c1)
"$TREE" manifest "$P" >"$OUT/m1" || fail
step "change c1 (write, append, delete, remove a dir, chmod, chown, xattr, links, fifo)"
: >"$OUT/stamp"
sleep 1 # the stamp's second is over: everything changed from now on is newer
(
	set -e
	cd "$P"
	echo new >etc/newfile && chmod 0640 etc/newfile && chown 5:5 etc/newfile
	echo changed >>etc/hostname
	rm etc/passwd-link
	rm -r usr/lib/olddir
	mkdir -p srv/data/deep && echo x >srv/data/deep/f && ln srv/data/deep/f srv/data/hl
	chmod 0700 bin/ping
	setfattr -n user.added -v yes etc/hostname
	ln -sfn /nowhere bin/sh
	mkfifo srv/pipe
	find . -newer "$OUT/stamp" -exec touch -h -d @$FIXED {} +
) || fail "the container's changes"
"$TREE" manifest "$P" >"$OUT/m2" || fail
step "diff c1"
b diff c1 -o "$OUT/c1.tar"
step "commit c1 as flow:2"
b --json commit c1 flow:2 >"$OUT/commit2.json"
step "create and mount c2 from flow:2"
b create flow:2 --name c2 >/dev/null
P2=$(b mount c2)
"$TREE" manifest "$P2" >"$OUT/m3" || fail
step "diff c2"
b diff c2 -o "$OUT/c2.tar"
step "c3: empty a directory and refill it, commit as flow:3, c4 from it"
b create flow:1 --name c3 >/dev/null
P3=$(b mount c3)
: >"$OUT/stamp"
sleep 1
(
	set -e
	cd "$P3"
	rm -rf etc/conf.d && mkdir etc/conf.d && echo b >etc/conf.d/b.conf
	find . -newer "$OUT/stamp" -exec touch -h -d @$FIXED {} +
) || fail "c3's changes"
b diff c3 -o "$OUT/c3.tar"
b --json commit c3 flow:3 >"$OUT/commit3.json"
b create flow:3 --name c4 >/dev/null
"$TREE" manifest "$(b mount c4)" >"$OUT/m4" || fail
"$TREE" get layer <"$OUT/commit2.json" >"$OUT/ids"
"$TREE" get layer <"$OUT/commit3.json" >>"$OUT/ids"
step "rm, rmi, gc"
b rm --force c1 c2 c3 c4
b rmi flow:3 flow:2 flow:1
b gc >/dev/null
b --json ls | "$TREE" get layers >"$OUT/left"
echo "flow: done"
