#!/bin/bash
# sanitize: no (needs the FAULT=1 build; scripts/test.sh runs it in the plain tier only)
# Crash injection through `berth storage import` (issue 7): for every fault point an OCI
# import of a two-layer image passes, in the core (berth) and in the overlay driver, SIGKILL
# there; the next import of the same layout must succeed and leave exactly the image's two
# layers, each with the core's verified record, the right content, and nothing else (no
# staging leftover, rmi empties the driver).  And a layer whose import was killed between
# APPLY_DIFF and the digest check is not trusted later: a corrupted blob is still refused.
if [ -z "${BERTH_STICRASH_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	BERTH_STICRASH_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/../lib.sh"
need_root
FB=${BERTH_FAULT_BUILD:-$BERTH_SRC/build-fault}
[ "${SANITIZE:-}" = 1 ] && skip_all "crash injection runs in the plain tier (FAULT=1 build)"
grep -qw overlay /proc/filesystems || skip_all "no overlay filesystem"
[ -x "$FB/bin/berth" ] || { echo "not ok 1 - $FB missing: make FAULT=1"; echo 1..1; exit 1; }
BERTH=$FB/bin/berth

W=$(mktemp -d /tmp/berth-sticrash.$T.XXXXXX)
defer "rm -rf $W"
defer "echo '{\"root\":\"$W/root/overlay\",\"runRoot\":\"$W/run/overlay\"}' | STOR_COMMAND=CLEANUP $FB/storage/overlay >/dev/null"
export BERTH_STORAGE_CONFIG=$W/storage.json BERTH_STORAGE_PATH=$FB/storage
printf '{"driver":"overlay","root":"%s/root","runRoot":"%s/run"}\n' "$W" "$W" >"$W/storage.json"

# A two-layer image: plain tar, then gzip with a whiteout.
mkdir -p "$W/l1/etc" "$W/l1/bin" "$W/l2/etc"
echo payload-one >"$W/l1/etc/one"; echo doomed >"$W/l1/etc/doomed"; echo x >"$W/l1/bin/x"
touch "$W/l2/etc/.wh.doomed"; echo two >"$W/l2/etc/two"
tar --numeric-owner -C "$W/l1" -cf "$W/l1.tar" .
tar --numeric-owner -C "$W/l2" -czf "$W/l2.tar.gz" .
oci() { # oci DIR
	local d=$1 l1 l2 d2 cfg man
	mkdir -p "$d/blobs/sha256"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$d/oci-layout"
	l1=$(sha256sum "$W/l1.tar" | cut -d' ' -f1); cp "$W/l1.tar" "$d/blobs/sha256/$l1"
	l2=$(sha256sum "$W/l2.tar.gz" | cut -d' ' -f1); cp "$W/l2.tar.gz" "$d/blobs/sha256/$l2"
	L1BLOB=$d/blobs/sha256/$l1
	d2=$(gzip -dc "$W/l2.tar.gz" | sha256sum | cut -d' ' -f1)
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}}' "$l1" "$d2" >"$W/cfg"
	cfg=$(sha256sum "$W/cfg" | cut -d' ' -f1); cp "$W/cfg" "$d/blobs/sha256/$cfg"
	printf '{"schemaVersion":2,"config":{"digest":"sha256:%s","size":%d},"layers":[{"digest":"sha256:%s","size":%d},{"digest":"sha256:%s","size":%d}]}' \
		"$cfg" "$(stat -c %s "$W/cfg")" "$l1" "$(stat -c %s "$W/l1.tar")" "$l2" "$(stat -c %s "$W/l2.tar.gz")" >"$W/man"
	man=$(sha256sum "$W/man" | cut -d' ' -f1); cp "$W/man" "$d/blobs/sha256/$man"
	printf '{"schemaVersion":2,"manifests":[{"digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"img"}}]}' \
		"$man" "$(stat -c %s "$W/man")" >"$d/index.json"
}
oci "$W/oci"

# the image is complete and correct, then goes without a trace
verify() { # WHAT
	local what=$1 ls m recs
	ls=$($BERTH storage --json ls)
	is "$(jq -c '[.images[].name]' <<<"$ls")" '["img"]' "$what: the image is registered"
	is "$(jq '.layers | length' <<<"$ls")" 2 "$what: the driver has exactly its 2 layers"
	recs=$(for f in "$W"/root/core/layers/*.json; do jq -r '.digest' "$f"; done 2>/dev/null | sort | tr '\n' ' ')
	is "$recs" "$(jq -r '.layers[].digest' "$W/man" | sort | tr '\n' ' ')" "$what: both layers have a verified record"
	$BERTH storage create img --name c$T >/dev/null 2>&1
	m=$($BERTH storage mount c$T 2>/dev/null)
	is "$(cd "$m" 2>/dev/null && find etc bin -type f | sort | tr '\n' ' ')" "bin/x etc/one etc/two " "$what: the rootfs is right"
	$BERTH storage rm --force c$T >/dev/null 2>&1
	$BERTH storage rmi img >/dev/null 2>&1
	is "$($BERTH storage --json ls | jq -c '[.images, .layers, .containers] | map(length)')" '[0,0,0]' "$what: rmi leaves nothing"
	is "$(ls -A "$W/root/overlay/staging" "$W/root/core/layers" 2>&1 | grep -v ':$' | grep -c .)" 0 "$what: no staging entry or layer record left"
}

export BERTH_FAULT='*' BERTH_FAULT_LOG=$W/points
$BERTH storage import "$W/oci" >/dev/null
ok $? "import with fault points recorded"
unset BERTH_FAULT BERTH_FAULT_LOG
verify "plain import"
# PROG:NAME#N, the N-th pass in one process.  The driver is a process per call, so only its
# #1 points can be aimed at (at the first layer's calls; 98-storage-crash covers every
# driver point); the core passes its points once per layer.
points=$(awk '{n[$0]++; print $0 "#" n[$0]}' "$W/points" | grep -vE '^overlay:.*#([2-9]|[0-9]{2,})$')
for want in berth:core-import-after-apply#1 berth:core-import-after-apply#2 \
	berth:core-import-before-image#1 overlay:ovl-create-before-rename#1 \
	overlay:ovl-apply-after-incomplete#1; do
	grep -qx "$want" <<<"$points"; ok $? "point $want is on the import path"
done

for p in $points; do
	(BERTH_FAULT=$p $BERTH storage import "$W/oci" >/dev/null 2>&1; exit $?) 2>/dev/null
	rc=$?
	[ $rc -ne 0 ]; ok $? "import killed at $p (rc $rc)"
	check "killed at $p: the next import succeeds" -- $BERTH storage import "$W/oci"
	verify "killed at $p"
done
diag "import crash matrix: $(wc -w <<<"$points") points"

# Killed after APPLY_DIFF of a corrupted blob, before the digest check: the layer must not be
# adopted by the next import as "already present".
oci "$W/bad"
# one byte of a file's data (not of a header): the tar still applies, only the digest differs
off=$(grep -abo payload-one "$L1BLOB" | head -1 | cut -d: -f1)
printf 'X' | dd of="$L1BLOB" bs=1 seek="$off" conv=notrunc 2>/dev/null
(BERTH_FAULT=berth:core-import-after-apply#1 $BERTH storage import --name bad "$W/bad" >/dev/null 2>&1; exit $?) 2>/dev/null
is "$($BERTH storage --json ls | jq '.layers | length')" 1 "killed before the digest check: the unverified layer is in the driver"
out=$($BERTH storage import --name bad "$W/bad" 2>&1)
ok $((! $?)) "re-import of the corrupted layout after the kill fails"
grep -q "digest mismatch" <<<"$out"; ok $? "with digest mismatch"
is "$($BERTH storage --json ls | jq -c '[.images, .layers] | map(length)')" '[0,0]' "no image and no layer left"
done_testing
